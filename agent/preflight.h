/* preflight: what the network blocks (DESIGN.md "Diagnosis: vsensor-init preflight").
 * The `preflight` command runs every check at once; a step that failed for a network
 * reason runs its endpoint's check and carries the result in its error; a retry loop
 * that has seen only connection timeouts for preflight.timeout x 3 warns at once. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "context.h"
#include "http.h"

/* `vsensor-init preflight [--json]`: one line per check (--json: an array of
 * {"check","target","ok","detail","ms"}); EX_OK when all pass, EX_UNAVAILABLE when
 * one fails. The custom data (master, PCAP account, Key Vault references) comes from
 * --custom-data, else the copy the first run kept; without either, the checks that
 * need it are skipped with the reason. */
int cmd_preflight(Context *c);

/* Runs one check now ("imds", "wireserver", "cdn", "master", "apt", "blob"), bounded
 * by preflight.timeout, with the run's custom data (c->custom_data), and writes
 * "preflight CHECK (TARGET): DETAIL" into buf — the first failing target, else the
 * first. Returns 1 when it failed (the network is the likely cause), 0 when it
 * passed, -ENOENT when it does not apply here (buf says why), -ENOMEM. */
int preflight_diagnose(Context *c, const char *check, char *buf, size_t size);

/* The key_vault check for one vault, for a Key Vault fetch that failed: vault is the
 * secret's URI ("https://HOST[:PORT]/secrets/...") or "HOST[:PORT]"; ca_file (under
 * --root already, or NULL) adds a trust anchor. Same contract as preflight_diagnose. */
int preflight_diagnose_key_vault(Context *c, const char *vault, const char *ca_file, char *buf, size_t size);

/* For a step that just failed (c->error set): runs check and appends "; DIAGNOSIS" to
 * c->error, which the failure line, state (`status`), the KVP report and the health
 * description then carry. Nothing is appended when the check does not apply, or with
 * preflight.on_failure: false (networks where an unplanned connection raises alarms). */
void preflight_annotate_failure(Context *c, const char *check);
/* The same for a Key Vault fetch that failed for a network reason (after its
 * step_fail): vault and ca_file as for preflight_diagnose_key_vault. */
void preflight_annotate_key_vault_failure(Context *c, const char *vault, const char *ca_file);

/* The early warning (also off with preflight.on_failure: false), as a RetryPolicy observer: set .observe = preflight_watch_observe
 * and .observe_userdata = &watch. Once every failed try so far was a connection
 * timeout (no byte of an answer) and preflight.timeout x 3 have passed since
 * preflight_watch_init, the check runs and its result is logged as a warning, once. */
typedef struct PreflightWatch {
        Context *c;
        const char *check;      /* "cdn", "master", ... or "key_vault" with vault set */
        const char *vault;      /* key_vault: the secret's URI (set it after preflight_watch_init) */
        const char *ca_file;    /* key_vault: extra trust anchor, may be NULL */
        const char *what;       /* "the installer download", for the warning */
        int64_t start_ms;
        bool only_timeouts;
        bool warned;
} PreflightWatch;

void preflight_watch_init(PreflightWatch *w, Context *c, const char *check, const char *what);
void preflight_watch_observe(void *userdata, const HttpResponse *resp);
