/* customdata: the deployment-level input (DESIGN.md, "Custom data"). A YAML document
 * whose every key, type and value is validated, errors naming the key, line and
 * column; or a legacy "#!" user-data script; "#cloud-config" is refused. */
#pragma once

#include <stdbool.h>
#include "keyvault.h"
#include "problem.h"
#include "secret.h"

#define CUSTOMDATA_MAX (64 * 1024)

typedef enum CustomDataKind {
        CUSTOMDATA_VSENSOR,   /* the YAML document */
        CUSTOMDATA_SCRIPT,    /* legacy "#!" user-data script */
} CustomDataKind;

/* The secrets that may come from Key Vault (DESIGN.md "Secrets from Azure Key Vault"). */
typedef enum CustomDataSecret {
        CUSTOMDATA_SECRET_UPDATE_KEY,
        CUSTOMDATA_SECRET_PUSH_TOKEN,
        CUSTOMDATA_SECRET_HMAC_TOKEN,
        _CUSTOMDATA_SECRET_MAX,
} CustomDataSecret;

/* A secret given as {key_vault: URI}: where it is and where the reference was written. */
typedef struct CustomDataRef {
        KeyVaultRef ref;            /* ref.uri NULL: the secret is a literal (or absent) */
        unsigned line, column;      /* of the URI in the document */
} CustomDataRef;

typedef struct CustomData {
        CustomDataKind kind;
        /* CUSTOMDATA_SCRIPT */
        char *script;
        size_t script_len;
        /* CUSTOMDATA_VSENSOR */
        Secret *update_key;
        char *master_host;          /* FQDN, IPv4 or IPv6 literal (without brackets) */
        unsigned master_port;       /* default 443 */
        Secret *push_token;
        Secret *proxy;              /* full URL (may hold a password); NULL if absent */
        char *proxy_display;        /* the URL with any password replaced by "(hidden)" */
        Secret *hmac_token;
        bool pcap_enabled;
        char *pcap_storage_account;
        char *pcap_container;
        bool private_link;
        char *private_link_nat_ip;  /* IPv4, set when private_link */
        bool ephemeral;             /* default true */
        bool os_updates;            /* default true */
        /* Key Vault references: the Secret above stays NULL until customdata_set_secret(). */
        CustomDataRef refs[_CUSTOMDATA_SECRET_MAX];
        char *managed_identity_client_id;   /* vsensor.managed_identity.client_id, lower case; NULL */
} CustomData;

typedef struct CustomDataOptions {
        /* Hosts a Key Vault reference may name (config key_vault.host_suffixes);
         * NULL: keyvault_default_host_suffixes. */
        const char *const *key_vault_host_suffixes;
} CustomDataOptions;

/* Parses and validates a decoded custom data document. filename is used in
 * problems only. On success returns 0 and *ret. On invalid input returns -EINVAL
 * with every problem found appended to problems (and *ret untouched). Empty
 * input is a problem ("custom data is empty"). Secrets are created (and thereby
 * registered for redaction) as soon as they are read, even when other keys are
 * invalid; messages never contain a secret value.
 * Rules (messages name the dotted key, e.g. "vsensor.master.push_token: ..."):
 *  - unknown keys, wrong types (mapping vs scalar), duplicate keys are errors;
 *  - required: vsensor.update_key, vsensor.master.host, vsensor.master.push_token,
 *    vsensor.ossensor.hmac_token;
 *  - patterns and lengths as in DESIGN.md; port integer or quoted integer 1..65535;
 *  - booleans true/false in any case, quoted or not; yes/no/on/off refused with a
 *    hint ("use true or false"); anything else refused;
 *  - pcap: both storage_account and container required when pcap is present;
 *  - private_link.enabled true requires nat_ip (IPv4); nat_ip without enabled: true
 *    is accepted but unused;
 *  - "#cloud-config" first line: refused, message says cloud-config is not supported
 *    and what format is expected. */
int customdata_parse(const char *data, size_t len, const char *filename, CustomData **ret,
                     Problems *problems);
/* customdata_parse with options (NULL: the defaults). A secret may also be a mapping
 * {key_vault: URI}: the URI is checked offline (keyvault_parse_ref with the allowed
 * host suffixes) and kept in refs[]; the secret itself is left NULL. Problems name
 * "vsensor.update_key.key_vault" etc. vsensor.managed_identity: {client_id: UUID} is
 * optional. */
int customdata_parse_with(const char *data, size_t len, const char *filename, const CustomDataOptions *o,
                          CustomData **ret, Problems *problems);
/* "vsensor.update_key", "vsensor.master.push_token", "vsensor.ossensor.hmac_token". */
const char *customdata_secret_key(CustomDataSecret s);
/* How many secrets are Key Vault references. */
size_t customdata_n_refs(const CustomData *c);
/* Sets secret s to a value fetched from Key Vault after checking it with the literal's
 * rule. The value becomes a Secret (registered for redaction, and its halves as a
 * literal's are) before it is checked. On a bad value returns -EINVAL and appends one
 * problem at the reference's position: "KEY: the value from Key Vault (URI) is not
 * valid: ..." that never repeats the value. Returns -ENOMEM on OOM. */
int customdata_set_secret(CustomData *c, CustomDataSecret s, const char *value, size_t len, Problems *problems);
CustomData *customdata_free(CustomData *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(CustomData *, customdata_free);

/* "HOST:PORT", with brackets around an IPv6 host ("[2001:db8::1]:443"). */
char *customdata_master_address(const CustomData *c);
