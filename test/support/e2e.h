/* e2e: runs the real vsensor-init binary with --root against the in-process fake
 * Azure server, and gives tests what they assert on: exit code, output, files under
 * the root, the requests the fake server saw, and the helpers' argv. */
#pragma once

#include <check.h>
#include <jansson.h>
#include <stdbool.h>

#include "canary.h"
#include "fake-server.h"
#include "util.h"

#define E2E_VM_ID "6f1c1a8e-9a4b-4a51-8c5e-2a0d3f4b5c6d"

typedef struct E2e {
        char dir[256];        /* temp dir holding root/ and the test's own files */
        char root[300];       /* the --root */
        char config[300];     /* config.yaml (outside the root, passed with --config) */
        FakeServer *fake;
        char *http_url, *https_url;
        int exit_code;
        char *out, *err;      /* output of the last run */
        double wall_ms;       /* of the last run */
        const char *const *extra_env; /* "NAME=value" strings added to the agent's minimal
                                       * environment by the next runs (e.g. LD_PRELOAD of
                                       * a fault shim); NULL-terminated, may be NULL */
        bool die_with_test;           /* agents started from now get PR_SET_PDEATHSIG(SIGKILL):
                                       * a long-running one (watch) never outlives a test
                                       * that failed before stopping it */
} E2e;

typedef struct E2eOptions {
        const char *provisioning;   /* "none" (default), "agent", "auto", "waagent" */
        const char *report_ready;   /* NULL: early */
        const char *extra_config;   /* appended to config.yaml; a top-level key it sets
                                     * (apt_lock_deadline:, helpers:, paths: ...) replaces
                                     * the harness's line */
        int installer_deadline;     /* seconds; 0: 10 */
        bool untrusted_cdn;         /* the CDN presents a certificate from another CA */
        bool gen1;                  /* no /sys/firmware/efi: DMI uuid is byte-swapped */
} E2eOptions;

/* Makes the temp root (DMI id, passwd/group/shadow, fake helper source, expected
 * update key hash), starts the fake server with IMDS, wireserver and installer routes,
 * and writes the configuration. */
void e2e_setup(E2e *e, const E2eOptions *o);
void e2e_teardown(E2e *e);

/* The default custom data: every key, canary secrets. */
extern const char e2e_custom_data[];
/* The helpers' calls one run with e2e_custom_data makes, as e2e_helper_calls gives them. */
extern const char e2e_custom_data_calls[];
/* Writes text to a file outside the root (returns its path, static per call site
 * until the next call with the same name) — e.g. a --custom-data file. */
const char *e2e_write_file(E2e *e, const char *name, const char *text);
/* Serves text as IMDS userData (base64-encoded by the harness). */
void e2e_serve_userdata(E2e *e, const char *text);

/* Runs build/vsensor-init --root ROOT --config CONFIG ARGS...; returns the exit code. */
int e2e_run(E2e *e, const char *const *args);
/* Same, started in the background; returns the pid (e2e_wait collects it). */
pid_t e2e_start(E2e *e, const char *const *args);
int e2e_wait(E2e *e, pid_t pid);
/* Same as e2e_run, with text on its stdin (--custom-data -, validate -). */
int e2e_run_stdin(E2e *e, const char *const *args, const char *text);

/* A file under the root: contents (NULL if missing), mode. */
char *e2e_read(E2e *e, const char *path);
bool e2e_exists(E2e *e, const char *path);
int e2e_mode(E2e *e, const char *path);
/* Writes a file under the root (directories made). */
void e2e_put(E2e *e, const char *path, const char *text, int mode);

/* The helpers' calls, one "NAME ARG..." per line ("" when none). */
char *e2e_helper_calls(E2e *e);
/* Requests the fake server saw for method+path. */
size_t e2e_count(E2e *e, const char *method, const char *path);

/* Fails the test when any canary secret is in the output of any run so far or in any
 * file under the root other than the kept custom data and the fake helpers' record. */
void e2e_assert_no_secrets(E2e *e);

/* Asserts that haystack contains needle, printing both when not. */
#define ck_assert_contains(haystack, needle)                                                      \
        do {                                                                                      \
                const char *_h = (haystack), *_n = (needle);                                      \
                ck_assert_msg(_h && strstr(_h, _n), "expected to find \"%s\" in:\n%s", _n, _h ? _h : "(null)"); \
        } while (0)
#define ck_assert_not_contains(haystack, needle)                                                  \
        do {                                                                                      \
                const char *_h = (haystack), *_n = (needle);                                      \
                ck_assert_msg(!_h || !strstr(_h, _n), "did not expect \"%s\" in:\n%s", _n, _h);   \
        } while (0)
