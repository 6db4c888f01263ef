/* secrets: the Key Vault references of the custom data, for load and refresh — fetch
 * every referenced secret with the scale set's managed identity, check each value
 * with its literal's rule, and record which version a step applied. */
#pragma once

#include "context.h"
#include "keyvault.h"

/* Fetches every reference of d (load: c->custom_data) within key_vault.deadline and
 * sets the secrets; the fetched versions go to c->secret_versions. source names the
 * custom data in problems (FILE:LINE:COLUMN of the reference). Returns 0, or -1 with
 * *ret_exit (65: not found, refused, or a value breaking the rule; 69: the vault or
 * IMDS stayed unavailable, access never granted) and a one-line message in msg that
 * names the key, the vault and what to fix, never a value. Every problem is logged. */
int secrets_resolve(Context *c, CustomData *d, const char *source, int *ret_exit, char *msg, size_t msgsize);

/* Records in c->state that the step using secret id applied the version load fetched
 * (nothing for a literal). Returns 0 or -ENOMEM. */
int secrets_record_applied(Context *c, CustomDataSecret id);

/* Issue 16 (preflight, "diagnosed failures"): when a Key Vault fetch failed for a
 * network reason (f->network: connect, timeout, TLS), the run's error, the log and
 * the KVP/health description carry the key_vault check's result for the vault host.
 * This is where that result comes from: a new string such as "connect timed out: NSG
 * outbound rule, NAT gateway or route table?", or NULL when there is none (today). */
char *secrets_network_diagnosis(Context *c, const KeyVaultRef *ref, const KeyVaultFailure *f);
