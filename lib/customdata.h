/* customdata: the deployment-level input (DESIGN.md, "Custom data"). A YAML document
 * whose every key, type and value is validated, errors naming the key, line and
 * column; or a legacy "#!" user-data script; "#cloud-config" is refused. */
#pragma once

#include <stdbool.h>
#include "problem.h"
#include "secret.h"

#define CUSTOMDATA_MAX (64 * 1024)

typedef enum CustomDataKind {
        CUSTOMDATA_VSENSOR,   /* the YAML document */
        CUSTOMDATA_SCRIPT,    /* legacy "#!" user-data script */
} CustomDataKind;

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
} CustomData;

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
CustomData *customdata_free(CustomData *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(CustomData *, customdata_free);

/* "HOST:PORT", with brackets around an IPv6 host ("[2001:db8::1]:443"). */
char *customdata_master_address(const CustomData *c);
