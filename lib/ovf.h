/* ovf: the ovf-env.xml Azure puts on the provisioning media (CD-ROM): host name,
 * admin user, SSH keys and the base64 CustomData. Elements are matched by namespace
 * URI http://schemas.microsoft.com/windowsazure, never by prefix. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#define OVF_NAMESPACE "http://schemas.microsoft.com/windowsazure"
#define OVF_MAX_SIZE (256u * 1024u)
#define OVF_CUSTOM_DATA_MAX (64u * 1024u)

typedef struct OvfEnv {
        char *hostname;                       /* HostName, NULL if absent */
        char *username;                       /* UserName, NULL if absent */
        bool has_password;                    /* a UserPassword element was present */
        bool disable_ssh_password_auth;       /* DisableSshPasswordAuthentication (true/false any case); false when absent */
        char **ssh_public_keys;               /* SSH/PublicKeys/PublicKey/Value (key text), NULL-terminated, never NULL */
        char **ssh_public_key_paths;          /* .../PublicKey/Path, same order, "" when absent */
        char *custom_data;                    /* decoded CustomData (base64, 64 KiB decoded cap), NULL if absent */
        size_t custom_data_len;
        /* Why CustomData is unusable ("ovf-env.xml:7: CustomData is not base64 (at
         * character 11)"), NULL when it is fine or absent. Invalid custom data, but the
         * rest of the document still serves (DESIGN, Field rules). */
        char *custom_data_error;
        bool password_nonempty;               /* UserPassword holds text (never kept) */
        bool preprovisioned_vm;               /* PlatformSettings/PreprovisionedVm is true (any case) */
} OvfEnv;

/* Parses with expat using XML_ParserCreateNS(NULL, ' ') so elements are matched by namespace
 * URI http://schemas.microsoft.com/windowsazure (never by prefix): any prefix, default
 * namespace, or none of the right URI => wrong elements are ignored. Cap 256 KiB input.
 * Returns 0, -EBADMSG with err ("ovf-env.xml:LINE: ...") when malformed, when there is
 * no LinuxProvisioningConfigurationSet or when DisableSshPasswordAuthentication is not
 * true/false, -EFBIG when the input is too big. CustomData that is not base64 or over
 * 64 KiB decoded does not fail the document: custom_data_error says why. Refuses
 * DOCTYPE/entity declarations (parser stopped) to avoid entity expansion attacks. The
 * password text is never kept. */
int ovf_parse(const char *xml, size_t len, OvfEnv **ret, char *err, size_t errsize);
OvfEnv *ovf_env_free(OvfEnv *e);   /* wipes custom_data; accepts NULL, returns NULL */

/* Returns a copy of the document with the text of every UserPassword and CustomData
 * element removed, for the copy kept at 0600 (DESIGN.md: the custom data has exactly one
 * copy, {state_dir}/custom-data). Works for any prefix or namespace (such an element in
 * another namespace is emptied too: harmless, and safer);
 * ret is NUL-terminated. Returns 0, -EBADMSG when the document cannot be parsed,
 * -EFBIG over the cap, -ENOMEM. */
int ovf_strip_secrets(const char *xml, size_t len, char **ret, size_t *ret_len);

/* Reads {dir}/ovf-env.xml (dir already under --root) and parses it. -ENOENT when absent. */
int ovf_read_dir(const char *dir, OvfEnv **ret, char *err, size_t errsize);
