/* msi: managed identity access tokens from IMDS (DESIGN.md "Secrets from Azure Key
 * Vault"). GET {imds}/metadata/identity/oauth2/token?api-version=2018-02-01&resource=R
 * [&client_id=ID] with "Metadata: true", never through a proxy, no redirects. 404, 410
 * (about 70 s on a new VM), 429, 5xx, transport errors and 400 "Identity not found"
 * (an identity assigned a moment ago) are retried until the deadline. The token is a
 * Secret: registered for redaction the moment it is read, wiped on free. */
#pragma once

#include <stdint.h>

#include "retry.h"
#include "secret.h"

#define MSI_TOKEN_PATH "/metadata/identity/oauth2/token"
#define MSI_API_VERSION "2018-02-01"
#define MSI_RESOURCE_KEY_VAULT "https://vault.azure.net"

typedef struct MsiClient {
        const char *imds_url;         /* e.g. http://169.254.169.254 */
        const char *resource;         /* NULL: MSI_RESOURCE_KEY_VAULT */
        const char *client_id;        /* user-assigned identity; NULL or "": system-assigned */
        int64_t deadline_ms;          /* the whole retry budget */
        RetryNotifyFn notify;         /* may be NULL */
        void *userdata;
} MsiClient;

/* Gets a token. Returns 0 with *ret_token (a new Secret) and *ret_expires_on (Unix
 * seconds, 0 when IMDS did not say; may be NULL); -ETIMEDOUT when the deadline passed
 * (last_error says what the last answer was); -EACCES for a 4xx that retrying cannot
 * fix (400 other than "Identity not found", 403); -EBADMSG for a 200 without a usable
 * access_token; or another -errno. last_error never holds the token. */
int msi_fetch_token(const MsiClient *c, Secret **ret_token, int64_t *ret_expires_on, char *last_error,
                    size_t errsize);

/* Parses a token response body. Same returns as above for the 200 case (tests). */
int msi_parse_token(const char *body, size_t len, Secret **ret_token, int64_t *ret_expires_on, char *err,
                    size_t errsize);

/* Whether a 400 answer is IMDS saying the identity is not (yet) there. */
bool msi_identity_not_found(const char *body, size_t len);
