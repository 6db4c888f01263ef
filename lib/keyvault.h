/* keyvault: Azure Key Vault secret references and the client that reads them
 * (DESIGN.md "Secrets from Azure Key Vault").
 *
 * A reference is a secret identifier https://HOST[:PORT]/secrets/NAME[/VERSION] whose
 * HOST ends with one of the allowed suffixes (an entry without a leading dot must equal
 * the host). The client GETs URI?api-version=7.4 with "Authorization: Bearer TOKEN"
 * (a managed identity token from lib/msi), TLS always verified (ca_file adds a trust
 * anchor). 401 takes a new token; 403 (role assignments take minutes to reach the
 * vault), 429 (Retry-After), 5xx and transport errors are retried until the deadline;
 * 404 and 400 are answers about the reference itself and are not retried. The value
 * is a Secret; its version is the last segment of the answer's "id". */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "http.h"
#include "msi.h"
#include "retry.h"
#include "secret.h"

#define KEYVAULT_API_VERSION "7.4"
#define KEYVAULT_URI_MAX 1024
#define KEYVAULT_NAME_MAX 127
#define KEYVAULT_VERSION_LEN 32

/* Default key_vault.host_suffixes: the public, China, US Government and Germany clouds. */
extern const char *const keyvault_default_host_suffixes[];

typedef struct KeyVaultRef {
        char *uri;          /* as given (normalised: nothing else is accepted) */
        char *host;         /* lower case, without the port */
        unsigned port;      /* 443 when absent */
        char *name;
        char *version;      /* NULL when the reference follows the latest version */
} KeyVaultRef;

/* Checks uri offline. suffixes: NULL-terminated; NULL: the defaults. Returns 0 with
 * *ret filled (free with keyvault_ref_done), -EINVAL with why (words, never more of the
 * URI than the part at fault) or -ENOMEM. */
int keyvault_parse_ref(const char *uri, size_t len, const char *const *suffixes, KeyVaultRef *ret, char *why,
                       size_t whysize);
void keyvault_ref_done(KeyVaultRef *r);
/* Whether host matches one entry of suffixes (NULL: the defaults), case-insensitively. */
bool keyvault_host_allowed(const char *host, const char *const *suffixes);

typedef struct KeyVaultClient {
        const MsiClient *msi;         /* where tokens come from; its deadline is clipped to ours */
        const char *ca_file;          /* extra trust anchor, NULL or "" for none */
        int64_t deadline_ms;          /* budget from the first request of this client */
        RetryNotifyFn notify;         /* may be NULL */
        void *userdata;
        /* Private: the cached token and when the budget started. */
        Secret *token;
        int64_t start_ms;
} KeyVaultClient;

/* What the last answer was when a fetch failed (for the agent's message). */
typedef struct KeyVaultFailure {
        long status;                  /* last HTTP status from the vault, 0: none */
        bool token;                   /* the last failure was getting a token from IMDS */
        bool network;                 /* the last failure was a transport error (connect,
                                       * timeout, TLS): a diagnosis of the path helps */
        char code[64];                /* Key Vault's error code ("Forbidden", "SecretNotFound") */
        char inner_code[64];          /* its innererror code ("ForbiddenByRbac"), may be "" */
        char last[512];               /* one line: "HTTP 403 (Forbidden, ForbiddenByRbac)" */
} KeyVaultFailure;

/* Reads one secret. Returns 0 with *ret_value (a new Secret, registered for
 * redaction) and *ret_version (new string; may be NULL when the id has none);
 * -ENOENT (404: no such secret or version), -EINVAL (400), -ETIMEDOUT (deadline;
 * failure->last says the last answer, failure->status 403 means access was never
 * granted), -EBADMSG (a 200 without a usable value), or another -errno. */
int keyvault_get_secret(KeyVaultClient *c, const KeyVaultRef *ref, Secret **ret_value, char **ret_version,
                        KeyVaultFailure *failure);
/* Frees the cached token. */
void keyvault_client_done(KeyVaultClient *c);

/* The version in a secret id (".../secrets/NAME/VERSION"): a new string, or NULL. */
char *keyvault_version_from_id(const char *id);
