/* customdata: parse and validate the deployment-level custom data (DESIGN.md). */
#include <arpa/inet.h>
#include <strings.h>
#include <netinet/in.h>

#include "customdata.h"
#include "vmid.h"
#include "yamlnode.h"

#define UPDATE_KEY_MAX 256
#define HOSTNAME_MAX 253
#define DEFAULT_PORT 443

/* Restores the caller's Problems file when customdata_parse() returns. */
typedef struct FileSwap {
        Problems *problems;
        char *saved;
        bool active;
} FileSwap;

static void file_swap_restore(FileSwap *s) {
        if (s->active) {
                /* Handing the saved string back cannot fail, unlike problems_set_file(). */
                free(s->problems->file);
                s->problems->file = s->saved;
        }
}

CustomData *customdata_free(CustomData *c) {
        if (!c) return NULL;
        if (c->script) {
                /* A legacy script may hold secrets of its own. */
                wipe(c->script, c->script_len);
                free(c->script);
        }
        secret_free(c->update_key);
        free(c->master_host);
        secret_free(c->push_token);
        secret_free(c->proxy);
        free(c->proxy_display);
        secret_free(c->hmac_token);
        free(c->pcap_storage_account);
        free(c->pcap_container);
        free(c->private_link_nat_ip);
        for (size_t i = 0; i < ELEMENTSOF(c->refs); i++) keyvault_ref_done(&c->refs[i].ref);
        free(c->managed_identity_client_id);
        free(c);
        return NULL;
}

char *customdata_master_address(const CustomData *c) {
        char *s = NULL;
        if (!c || !c->master_host) return NULL;
        bool v6 = strchr(c->master_host, ':');
        if (asprintf_safe(&s, "%s%s%s:%u", v6 ? "[" : "", c->master_host, v6 ? "]" : "", c->master_port) < 0)
                return NULL;
        return s;
}

/* --- patterns, written by hand (DESIGN.md "Custom data") --- */

static bool is_alnum(char ch) {
        return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9');
}
static bool is_lower_alnum(char ch) {
        return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9');
}
static bool is_update_key_char(char ch) { return is_alnum(ch) || ch == '%' || ch == '.'; }
static bool is_push_name_char(char ch) { return is_alnum(ch) || ch == '-'; }

static bool all_chars(const char *s, size_t len, bool (*ok)(char)) {
        for (size_t i = 0; i < len; i++)
                if (!ok(s[i])) return false;
        return true;
}

static bool valid_label(const char *s, size_t len) {
        if (len < 1 || len > 63 || s[0] == '-' || s[len - 1] == '-') return false;
        for (size_t i = 0; i < len; i++)
                if (!is_alnum(s[i]) && s[i] != '-') return false;
        return true;
}

/* FQDN: labels of 1-63 letters, digits and '-', not starting or ending with '-',
 * at most 253 characters without the optional trailing dot. */
static bool valid_hostname(const char *s, size_t len) {
        if (len > 0 && s[len - 1] == '.') len--;
        if (len == 0 || len > HOSTNAME_MAX) return false;
        size_t start = 0;
        for (size_t i = 0; i <= len; i++) {
                if (i < len && s[i] != '.') continue;
                if (!valid_label(s + start, i - start)) return false;
                start = i + 1;
        }
        return true;
}

static bool digits_and_dots(const char *s, size_t len) {
        for (size_t i = 0; i < len; i++)
                if (!(s[i] >= '0' && s[i] <= '9') && s[i] != '.') return false;
        return true;
}

static bool valid_ipv4(const char *s) {
        struct in_addr a;
        return inet_pton(AF_INET, s, &a) == 1;
}

/* Returns the host to store (IPv6 without brackets, FQDN without a trailing dot),
 * or NULL with *ret_invalid set when the value is not a host. */
static char *normalize_host(const char *s, size_t len, bool *ret_invalid) {
        struct in6_addr a6;
        *ret_invalid = true;

        if (len >= 2 && s[0] == '[' && s[len - 1] == ']') {
                _cleanup_free_ char *inner = strndup(s + 1, len - 2);
                if (!inner) goto oom;
                if (inet_pton(AF_INET6, inner, &a6) != 1) return NULL;
                *ret_invalid = false;
                return TAKE_PTR(inner);
        }
        if (memchr(s, ':', len)) {
                if (inet_pton(AF_INET6, s, &a6) != 1) return NULL;
                *ret_invalid = false;
                return strndup(s, len);
        }
        /* All digits and dots is an IPv4 address or nothing: "999.1.1.1" is no host name. */
        if (digits_and_dots(s, len)) {
                if (!valid_ipv4(s)) return NULL;
                *ret_invalid = false;
                return strndup(s, len);
        }
        if (!valid_hostname(s, len)) return NULL;
        *ret_invalid = false;
        /* A trailing dot breaks TLS name checks and the helpers' own parsing. */
        return strndup(s, len > 0 && s[len - 1] == '.' ? len - 1 : len);
oom:
        *ret_invalid = false;
        return NULL;
}

static bool valid_storage_account(const char *s, size_t len) {
        return len >= 3 && len <= 24 && all_chars(s, len, is_lower_alnum);
}

/* Azure container names: 3-63 of [a-z0-9-], starting with a letter or digit, no
 * "--", not ending with '-'. */
static bool valid_container(const char *s, size_t len) {
        if (len < 3 || len > 63 || !is_lower_alnum(s[0]) || s[len - 1] == '-') return false;
        for (size_t i = 0; i < len; i++) {
                if (!is_lower_alnum(s[i]) && s[i] != '-') return false;
                if (s[i] == '-' && i + 1 < len && s[i + 1] == '-') return false;
        }
        return true;
}

/* --- reading the document --- */

typedef struct Ctx {
        YamlDoc *doc;
        Problems *p;
        CustomData *c;
        const CustomDataOptions *o;
} Ctx;

static int missing(Ctx *x, const yaml_node_t *at, const char *path) {
        return yamlnode_problem(x->p, at, path, "required key is missing");
}

/* The halves of the "name:secret" tokens travel alone too (a helper may print only
 * the secret half): hide each part of four characters or more. */
static int register_parts(const char *s, size_t len) {
        for (const char *part = s, *end = s + len; part < end;) {
                const char *colon = memchr(part, ':', (size_t)(end - part));
                size_t plen = (size_t)((colon ? colon : end) - part);
                if (colon && plen > 0 && secret_register_value(part, plen) < 0) return -ENOMEM;
                if (!colon && part != s && plen > 0 && secret_register_value(part, plen) < 0) return -ENOMEM;
                part = colon ? colon + 1 : end;
        }
        return 0;
}

/* Any scalar value of a secret key becomes a Secret at once, valid or not, so that it
 * is registered for redaction before anything can print it. */
static int read_secret(Ctx *x, const yaml_node_t *n, const char *path, const char *what, Secret **ret) {
        const char *s;
        size_t len;
        int r = yamlnode_string(n, path, what, x->p, &s, &len);
        if (r < 0) return r;
        Secret *sec = secret_new(s, len);
        if (!sec) return -ENOMEM;
        secret_free(*ret);
        *ret = sec;
        /* The halves of the "name:secret" tokens travel alone too (a helper may print
         * only the secret half): hide each part, however short (lib/secret hides parts
         * under four characters only as whole tokens). The proxy URL has its own rule
         * (its password). */
        if (ret == &x->c->proxy) return 0;
        return register_parts(s, len);
}

/* The literal rules, as the text after "KEY: " (never repeating the value): each returns
 * 0 when s is valid, else 1 with msg set. Shared by literals and Key Vault values. */
static int update_key_problem(const char *s, size_t len, char *msg, size_t size) {
        const char *colon = memchr(s, ':', len);
        const char *why = NULL;
        if (len > UPDATE_KEY_MAX)
                why = "";
        else if (!colon)
                why = " with no ':'";
        else if (colon == s || colon == s + len - 1)
                why = " with an empty part";
        else if (!all_chars(s, (size_t)(colon - s), is_update_key_char) ||
                 !all_chars(colon + 1, len - (size_t)(colon - s) - 1, is_update_key_char))
                why = " with a character other than letters, digits, '%', '.' and one ':'";
        if (!why) return 0;
        snprintf(msg, size, "expected KEY:SECRET of letters, digits, '%%' and '.', at most %d characters "
                 "(got %zu characters%s)", UPDATE_KEY_MAX, len, why);
        return 1;
}

static int push_token_problem(const char *s, size_t len, char *msg, size_t size) {
        const char *colon = memchr(s, ':', len);
        char why[96] = "";
        if (!colon)
                snprintf(why, sizeof why, "no ':'");
        else {
                size_t nl = (size_t)(colon - s), sl = len - nl - 1;
                if (nl < 4 || nl > 64)
                        snprintf(why, sizeof why, "a NAME of %zu characters", nl);
                else if (!all_chars(s, nl, is_push_name_char))
                        snprintf(why, sizeof why, "a NAME with a character other than letters, digits and '-'");
                else if (sl < 5 || sl > 63)
                        snprintf(why, sizeof why, "a SECRET of %zu characters", sl);
                else if (!all_chars(colon + 1, sl, is_alnum))
                        snprintf(why, sizeof why, "a SECRET with a character other than letters and digits");
        }
        if (!why[0]) return 0;
        snprintf(msg, size, "expected NAME:SECRET, NAME 4 to 64 letters, digits or '-', SECRET 5 to 63 letters "
                 "or digits (got %zu characters with %s)", len, why);
        return 1;
}

static int hmac_problem(const char *s, size_t len, char *msg, size_t size) {
        if (len < 6 || len > 62) {
                snprintf(msg, size, "6 to 62 letters or digits (got %zu characters)", len);
                return 1;
        }
        if (!all_chars(s, len, is_alnum)) {
                snprintf(msg, size, "6 to 62 letters or digits (got %zu characters, not all letters or digits)", len);
                return 1;
        }
        return 0;
}

/* One row per secret that may come from Key Vault. */
static const struct {
        const char *path, *what;
        size_t offset;
        int (*problem)(const char *s, size_t len, char *msg, size_t size);
} secret_rules[_CUSTOMDATA_SECRET_MAX] = {
        [CUSTOMDATA_SECRET_UPDATE_KEY] = {"vsensor.update_key", "an update key", offsetof(CustomData, update_key),
                                          update_key_problem},
        [CUSTOMDATA_SECRET_PUSH_TOKEN] = {"vsensor.master.push_token", "a push token", offsetof(CustomData, push_token),
                                          push_token_problem},
        [CUSTOMDATA_SECRET_HMAC_TOKEN] = {"vsensor.ossensor.hmac_token", "6 to 62 letters or digits",
                                          offsetof(CustomData, hmac_token), hmac_problem},
};

static Secret **secret_slot(CustomData *c, CustomDataSecret id) {
        return (Secret **)((char *)c + secret_rules[id].offset);
}

const char *customdata_secret_key(CustomDataSecret s) {
        return s >= 0 && s < _CUSTOMDATA_SECRET_MAX ? secret_rules[s].path : NULL;
}

size_t customdata_n_refs(const CustomData *c) {
        size_t n = 0;
        for (size_t i = 0; c && i < ELEMENTSOF(c->refs); i++)
                if (c->refs[i].ref.uri) n++;
        return n;
}

/* {key_vault: URI}: checked offline, kept in refs[id]. Returns < 0 only on OOM. */
static int read_reference(Ctx *x, const yaml_node_t *n, CustomDataSecret id) {
        static const char *const keys[] = {"key_vault", NULL};
        const char *path = secret_rules[id].path;
        if (!yamlnode_get(x->doc, n, "key_vault", NULL))
                return yamlnode_problem(x->p, n, path, "expected %s or {key_vault: SECRET_URI} (got a mapping "
                                        "without key_vault)", secret_rules[id].what);
        int r = yamlnode_check_mapping(x->doc, n, path, keys, x->p);
        if (r == -EINVAL) return 0;
        if (r < 0) return r;
        _cleanup_free_ char *kpath = yamlnode_path(path, "key_vault");
        if (!kpath) return -ENOMEM;
        yaml_node_t *v = yamlnode_get(x->doc, n, "key_vault", NULL);
        if (!v) return yamlnode_problem(x->p, n, kpath, "required key is missing");
        const char *s;
        size_t len;
        r = yamlnode_string(v, kpath, "a Key Vault secret URI", x->p, &s, &len);
        if (r < 0) return r == -EINVAL ? 0 : r;
        KeyVaultRef ref = {0};
        char why[768];
        r = keyvault_parse_ref(s, len, x->o ? x->o->key_vault_host_suffixes : NULL, &ref, why, sizeof why);
        if (r == -ENOMEM) return r;
        if (r < 0) {
                char echo[YAMLNODE_ECHO_SIZE];
                return yamlnode_problem(x->p, v, kpath, "expected https://HOST[:PORT]/secrets/NAME[/VERSION] "
                                        "(got \"%s\": %s)", yamlnode_echo(s, len, echo, sizeof echo), why);
        }
        CustomDataRef *slot = &x->c->refs[id];
        keyvault_ref_done(&slot->ref);
        slot->ref = ref;
        slot->line = yamlnode_line(v);
        slot->column = yamlnode_column(v);
        return 0;
}

/* A secret key: a literal checked by its rule, or a Key Vault reference. */
static int check_secret(Ctx *x, const yaml_node_t *n, CustomDataSecret id) {
        if (n->type == YAML_MAPPING_NODE) return read_reference(x, n, id);
        Secret **slot = secret_slot(x->c, id);
        int r = read_secret(x, n, secret_rules[id].path, secret_rules[id].what, slot);
        if (r < 0) return r == -EINVAL ? 0 : r;
        char msg[512];
        if (!secret_rules[id].problem(secret_reveal(*slot), secret_len(*slot), msg, sizeof msg)) return 0;
        return yamlnode_problem(x->p, n, secret_rules[id].path, "%s", msg);
}

int customdata_set_secret(CustomData *c, CustomDataSecret id, const char *value, size_t len, Problems *problems) {
        if (!c || id < 0 || id >= _CUSTOMDATA_SECRET_MAX || !value) return -EINVAL;
        Secret *sec = secret_new(value, len);
        if (!sec) return -ENOMEM;
        int r = register_parts(value, len);
        if (r < 0) {
                secret_free(sec);
                return r;
        }
        char msg[512];
        bool bad = strlen(value) != len;
        if (bad) snprintf(msg, sizeof msg, "it holds a NUL character");
        if (bad || secret_rules[id].problem(value, len, msg, sizeof msg)) {
                /* The value stays registered: it may still be in a buffer somewhere. */
                (void)secret_register_value(value, len);
                secret_free(sec);
                const CustomDataRef *ref = &c->refs[id];
                r = problems_add(problems, ref->line, ref->column, "%s: the value from Key Vault (%s) is not valid: %s",
                                 secret_rules[id].path, ref->ref.uri ? ref->ref.uri : "?", msg);
                return r < 0 ? r : -EINVAL;
        }
        Secret **slot = secret_slot(c, id);
        secret_free(*slot);
        *slot = sec;
        return 0;
}

/* Matches ^http://(USER:PASSWORD@)?HOST:PORT$ with PORT 1..65535 (the regex's .+ parts
 * are non-empty and free of spaces and control characters). Returns NULL on a match,
 * with *ret_user (after "http://") and *ret_at (the '@', NULL without credentials);
 * else what is wrong, in words that never repeat the value. */
static const char *proxy_split(const char *s, size_t len, const char **ret_user, const char **ret_at) {
        static const char scheme[] = "http://";
        const size_t sl = strlen(scheme);

        for (size_t i = 0; i < len; i++)
                if ((unsigned char)s[i] <= ' ' || s[i] == 0x7f) return "a space or control character";
        if (len < sl || strncmp(s, scheme, sl) != 0)
                return strncasecmp(s, "https://", 8) == 0 ? "https://, which is not supported" : "no http://";

        const char *rest = s + sl, *end = s + len;
        const char *colon = memrchr(rest, ':', (size_t)(end - rest));
        size_t digits = colon ? (size_t)(end - colon - 1) : 0;
        if (digits == 0) return "no :PORT at the end";
        unsigned long port = 0;
        for (size_t i = 0; i < digits; i++) {
                char ch = colon[1 + i];
                if (ch < '0' || ch > '9') return "no :PORT at the end";
                if (port <= 65535) port = port * 10 + (unsigned long)(ch - '0');
        }
        if (port < 1 || port > 65535) return "a port outside 1..65535";

        /* The last '@' ends the credentials: a password may contain '@', a host cannot. */
        const char *at = memrchr(rest, '@', (size_t)(colon - rest));
        if ((at ? at + 1 : rest) == colon) return "no HOST";
        if (at) {
                const char *uc = memchr(rest, ':', (size_t)(at - rest));
                if (!uc || uc == rest || uc + 1 == at) return "a user part that is not USER:PASSWORD";
        }
        *ret_user = rest;
        *ret_at = at;
        return NULL;
}

/* The URL is a Secret; the display form hides the password, which is registered for
 * redaction on its own (it shows up without the URL in proxy error messages). */
static int check_proxy(Ctx *x, const yaml_node_t *n) {
        const char *path = "vsensor.master.proxy";
        size_t len;
        const char *raw = yamlnode_scalar(n, &len);
        int r;

        /* ARM templates render an unset parameter as "": no proxy. */
        if (yamlnode_is_null(n) || (raw && len == 0)) return 0;
        r = read_secret(x, n, path, "http://[USER:PASSWORD@]HOST:PORT", &x->c->proxy);
        if (r < 0) return r == -EINVAL ? 0 : r;

        const char *s = secret_reveal(x->c->proxy), *user = NULL, *at = NULL;
        len = secret_len(x->c->proxy);
        const char *why = proxy_split(s, len, &user, &at);
        if (why)
                return yamlnode_problem(x->p, n, path, "expected http://[USER:PASSWORD@]HOST:PORT (got %zu characters "
                                        "with %s)", len, why);

        _cleanup_free_ char *display = NULL;
        if (at) {
                const char *uc = memchr(user, ':', (size_t)(at - user));
                r = secret_register_value(uc + 1, (size_t)(at - uc - 1));
                if (r < 0) return r;
                r = asprintf_safe(&display, "http://%.*s:" SECRET_HIDDEN "%s", (int)(uc - user), user, at);
        } else
                r = asprintf_safe(&display, "%s", s);
        if (r < 0) return r;
        free(x->c->proxy_display);
        x->c->proxy_display = TAKE_PTR(display);
        return 0;
}

/* A non-secret string value checked by valid(); the message echoes it. */
static int read_plain(Ctx *x, const yaml_node_t *n, const char *path, const char *what,
                      bool (*valid)(const char *, size_t), char **ret) {
        const char *s;
        size_t len;
        int r = yamlnode_string(n, path, what, x->p, &s, &len);
        if (r < 0) return r == -EINVAL ? 0 : r;
        if (!valid(s, len)) {
                char echo[YAMLNODE_ECHO_SIZE];
                return yamlnode_problem(x->p, n, path, "expected %s (got \"%s\")", what,
                                        yamlnode_echo(s, len, echo, sizeof echo));
        }
        char *v = strndup(s, len);
        if (!v) return -ENOMEM;
        free(*ret);
        *ret = v;
        return 0;
}

static bool valid_ipv4_len(const char *s, size_t len) {
        return strlen(s) == len && valid_ipv4(s);
}

static int check_host(Ctx *x, const yaml_node_t *n) {
        const char *path = "vsensor.master.host", *what = "a host name, an IPv4 address or an IPv6 address";
        const char *s;
        size_t len;
        bool invalid;
        int r = yamlnode_string(n, path, what, x->p, &s, &len);
        if (r < 0) return r == -EINVAL ? 0 : r;

        char *h = normalize_host(s, len, &invalid);
        if (!h && !invalid) return -ENOMEM;
        if (!h) {
                char echo[YAMLNODE_ECHO_SIZE];
                return yamlnode_problem(x->p, n, path, "expected %s (got \"%s\")", what,
                                        yamlnode_echo(s, len, echo, sizeof echo));
        }
        free(x->c->master_host);
        x->c->master_host = h;
        return 0;
}

/* Reads a boolean; a problem leaves the default. Returns < 0 only on OOM. */
static int read_bool(Ctx *x, const yaml_node_t *n, const char *path, bool *ret) {
        int r = yamlnode_bool(n, path, x->p, ret);
        return r == -EINVAL ? 0 : r;
}

static int check_master(Ctx *x, const yaml_node_t *key, const yaml_node_t *m) {
        static const char *const keys[] = { "host", "port", "push_token", "proxy", NULL };
        yaml_node_t *v;
        int r;

        r = yamlnode_check_mapping(x->doc, m, "vsensor.master", keys, x->p);
        if (r == -EINVAL) {
                /* Said once for the section; the required keys inside are implied. */
                return 0;
        }
        if (r < 0) return r;

        v = yamlnode_get(x->doc, m, "host", NULL);
        r = v ? check_host(x, v) : missing(x, key, "vsensor.master.host");
        if (r < 0) return r;

        if ((v = yamlnode_get(x->doc, m, "port", NULL))) {
                unsigned port;
                r = yamlnode_uint(v, "vsensor.master.port", 1, 65535, x->p, &port);
                if (r >= 0) x->c->master_port = port;
                else if (r != -EINVAL) return r;
        }

        v = yamlnode_get(x->doc, m, "push_token", NULL);
        r = v ? check_secret(x, v, CUSTOMDATA_SECRET_PUSH_TOKEN) : missing(x, key, "vsensor.master.push_token");
        if (r < 0) return r;

        if ((v = yamlnode_get(x->doc, m, "proxy", NULL))) {
                r = check_proxy(x, v);
                if (r < 0) return r;
        }
        return 0;
}

static int check_ossensor(Ctx *x, const yaml_node_t *key, const yaml_node_t *m) {
        static const char *const keys[] = { "hmac_token", NULL };
        int r = yamlnode_check_mapping(x->doc, m, "vsensor.ossensor", keys, x->p);
        if (r == -EINVAL) return 0;
        if (r < 0) return r;
        yaml_node_t *v = yamlnode_get(x->doc, m, "hmac_token", NULL);
        return v ? check_secret(x, v, CUSTOMDATA_SECRET_HMAC_TOKEN) : missing(x, key, "vsensor.ossensor.hmac_token");
}

static int check_pcap(Ctx *x, const yaml_node_t *key, const yaml_node_t *m) {
        static const char *const keys[] = { "storage_account", "container", NULL };
        yaml_node_t *v;
        int r = yamlnode_check_mapping(x->doc, m, "vsensor.pcap", keys, x->p);
        if (r == -EINVAL) return 0;
        if (r < 0) return r;
        x->c->pcap_enabled = true;

        v = yamlnode_get(x->doc, m, "storage_account", NULL);
        r = v ? read_plain(x, v, "vsensor.pcap.storage_account", "3 to 24 lowercase letters and digits",
                           valid_storage_account, &x->c->pcap_storage_account)
              : missing(x, key, "vsensor.pcap.storage_account");
        if (r < 0) return r;

        v = yamlnode_get(x->doc, m, "container", NULL);
        return v ? read_plain(x, v, "vsensor.pcap.container",
                              "3 to 63 lowercase letters, digits and '-', starting with a letter or digit, "
                              "without \"--\" or a trailing '-'",
                              valid_container, &x->c->pcap_container)
                 : missing(x, key, "vsensor.pcap.container");
}

static int check_private_link(Ctx *x, const yaml_node_t *key, const yaml_node_t *m) {
        static const char *const keys[] = { "enabled", "nat_ip", NULL };
        _cleanup_free_ char *nat_ip = NULL;
        yaml_node_t *v;
        bool enabled = false;
        int r = yamlnode_check_mapping(x->doc, m, "vsensor.private_link", keys, x->p);
        if (r == -EINVAL) return 0;
        if (r < 0) return r;

        if ((v = yamlnode_get(x->doc, m, "enabled", NULL))) {
                r = read_bool(x, v, "vsensor.private_link.enabled", &enabled);
                if (r < 0) return r;
        }
        if ((v = yamlnode_get(x->doc, m, "nat_ip", NULL))) {
                r = read_plain(x, v, "vsensor.private_link.nat_ip", "an IPv4 address", valid_ipv4_len, &nat_ip);
                if (r < 0) return r;
        } else if (enabled) {
                r = yamlnode_problem(x->p, key, "vsensor.private_link.nat_ip",
                                     "required key is missing (vsensor.private_link.enabled is true)");
                if (r < 0) return r;
        }
        x->c->private_link = enabled;
        /* nat_ip without enabled: true is accepted but unused. */
        if (enabled) x->c->private_link_nat_ip = TAKE_PTR(nat_ip);
        return 0;
}

/* vsensor.managed_identity: {client_id: UUID}, the user-assigned identity whose tokens
 * read the Key Vault references. */
static int check_managed_identity(Ctx *x, const yaml_node_t *key, const yaml_node_t *m) {
        static const char *const keys[] = { "client_id", NULL };
        const char *path = "vsensor.managed_identity.client_id";
        int r = yamlnode_check_mapping(x->doc, m, "vsensor.managed_identity", keys, x->p);
        if (r == -EINVAL) return 0;
        if (r < 0) return r;
        yaml_node_t *v = yamlnode_get(x->doc, m, "client_id", NULL);
        if (!v) return missing(x, key, path);
        const char *s;
        size_t len;
        r = yamlnode_string(v, path, "a client id (UUID)", x->p, &s, &len);
        if (r < 0) return r == -EINVAL ? 0 : r;
        _cleanup_free_ char *id = strndup(s, len);
        if (!id) return -ENOMEM;
        if (strlen(id) != len || !vmid_is_valid(id)) {
                char echo[YAMLNODE_ECHO_SIZE];
                return yamlnode_problem(x->p, v, path, "expected a client id (UUID) (got \"%s\")",
                                        yamlnode_echo(s, len, echo, sizeof echo));
        }
        for (char *q = id; *q; q++)
                if (*q >= 'A' && *q <= 'F') *q = (char)(*q - 'A' + 'a');
        free(x->c->managed_identity_client_id);
        x->c->managed_identity_client_id = TAKE_PTR(id);
        return 0;
}

static int check_vsensor(Ctx *x, const yaml_node_t *key, const yaml_node_t *m) {
        static const char *const keys[] = { "update_key", "master", "ossensor", "pcap", "private_link",
                                            "ephemeral", "os_updates", "managed_identity", NULL };
        yaml_node_t *v, *k;
        int r = yamlnode_check_mapping(x->doc, m, "vsensor", keys, x->p);
        if (r == -EINVAL) return 0;
        if (r < 0) return r;

        v = yamlnode_get(x->doc, m, "update_key", NULL);
        r = v ? check_secret(x, v, CUSTOMDATA_SECRET_UPDATE_KEY) : missing(x, key, "vsensor.update_key");
        if (r < 0) return r;

        if ((v = yamlnode_get(x->doc, m, "master", &k)))
                r = check_master(x, k, v);
        else {
                r = missing(x, key, "vsensor.master.host");
                if (r >= 0) r = missing(x, key, "vsensor.master.push_token");
        }
        if (r < 0) return r;

        if ((v = yamlnode_get(x->doc, m, "ossensor", &k)))
                r = check_ossensor(x, k, v);
        else
                r = missing(x, key, "vsensor.ossensor.hmac_token");
        if (r < 0) return r;

        if ((v = yamlnode_get(x->doc, m, "pcap", &k))) {
                r = check_pcap(x, k, v);
                if (r < 0) return r;
        }
        if ((v = yamlnode_get(x->doc, m, "private_link", &k))) {
                r = check_private_link(x, k, v);
                if (r < 0) return r;
        }
        if ((v = yamlnode_get(x->doc, m, "ephemeral", NULL))) {
                r = read_bool(x, v, "vsensor.ephemeral", &x->c->ephemeral);
                if (r < 0) return r;
        }
        if ((v = yamlnode_get(x->doc, m, "os_updates", NULL))) {
                r = read_bool(x, v, "vsensor.os_updates", &x->c->os_updates);
                if (r < 0) return r;
        }
        if ((v = yamlnode_get(x->doc, m, "managed_identity", &k))) {
                r = check_managed_identity(x, k, v);
                if (r < 0) return r;
        }
        return 0;
}

static int parse_document(const char *data, size_t len, const CustomDataOptions *o, CustomData *c, Problems *p) {
        _cleanup_(yamlnode_freep) YamlDoc *doc = NULL;
        int r = yamlnode_load(data, len, CUSTOMDATA_MAX, "custom data", p, &doc);
        if (r < 0) return r;

        yaml_node_t *root = yamlnode_root(doc);
        if (!root) return problems_add(p, 0, 0, "custom data is empty");
        if (root->type != YAML_MAPPING_NODE)
                return yamlnode_problem(p, root, "", "expected a mapping with the key \"vsensor\" at the top (got %s)",
                                        yamlnode_kind(root));

        Ctx x = { .doc = doc, .p = p, .c = c, .o = o };
        static const char *const keys[] = { "vsensor", NULL };
        r = yamlnode_check_mapping(doc, root, "", keys, p);
        if (r < 0) return r;
        yaml_node_t *k, *v = yamlnode_get(doc, root, "vsensor", &k);
        if (!v) return missing(&x, root, "vsensor");
        return check_vsensor(&x, k, v);
}

static bool is_blank(char ch) { return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n'; }

/* Line number of the first non-empty line when it is "#cloud-config", else 0. */
static unsigned cloud_config_line(const char *data, size_t len) {
        unsigned line = 1;
        size_t i = 0;
        for (;;) {
                size_t start = i;
                while (i < len && data[i] != '\n') i++;
                size_t end = i;
                while (end > start && is_blank(data[end - 1])) end--;
                size_t b = start;
                while (b < end && is_blank(data[b])) b++;
                if (b < end) {
                        const char *tag = "#cloud-config";
                        return end - b == strlen(tag) && memcmp(data + b, tag, strlen(tag)) == 0 ? line : 0;
                }
                if (i >= len) return 0;
                i++;
                line++;
        }
}

/* Values that were read as secrets stay registered for redaction after a failed
 * parse frees them: they may still appear in a copy of the input or a log. */
static void register_secrets(const CustomData *c) {
        const Secret *const all[] = { c->update_key, c->push_token, c->hmac_token, c->proxy };
        for (size_t i = 0; i < ELEMENTSOF(all); i++)
                if (all[i]) (void) secret_register_value(secret_reveal(all[i]), secret_len(all[i]));
}

int customdata_parse(const char *data, size_t len, const char *filename, CustomData **ret,
                     Problems *problems) {
        return customdata_parse_with(data, len, filename, NULL, ret, problems);
}

int customdata_parse_with(const char *data, size_t len, const char *filename, const CustomDataOptions *o,
                          CustomData **ret, Problems *problems) {
        _cleanup_(file_swap_restore) FileSwap swap = { .problems = problems };
        size_t start = problems->n;
        int r;

        if (filename) {
                _cleanup_free_ char *f = strdup(filename);
                if (!f) return -ENOMEM;
                swap.saved = TAKE_PTR(problems->file);
                problems->file = TAKE_PTR(f);
                swap.active = true;
        }

        if (len > CUSTOMDATA_MAX) {
                r = problems_add(problems, 0, 0, "custom data is larger than %d bytes", CUSTOMDATA_MAX);
                return r < 0 ? r : -EINVAL;
        }

        _cleanup_(customdata_freep) CustomData *c = calloc(1, sizeof *c);
        if (!c) return -ENOMEM;

        if (len >= 2 && data[0] == '#' && data[1] == '!') {
                c->kind = CUSTOMDATA_SCRIPT;
                c->script = malloc(len + 1);
                if (!c->script) return -ENOMEM;
                memcpy(c->script, data, len);
                c->script[len] = 0;
                c->script_len = len;
                *ret = TAKE_PTR(c);
                return 0;
        }

        size_t b = 0;
        while (b < len && is_blank(data[b])) b++;
        if (b == len) {
                r = problems_add(problems, 0, 0, "custom data is empty");
                return r < 0 ? r : -EINVAL;
        }
        unsigned cc = cloud_config_line(data, len);
        if (cc > 0) {
                r = problems_add(problems, cc, 1,
                                 "#cloud-config is not supported: the custom data must be a YAML document that "
                                 "starts with \"vsensor:\" (or a script starting with \"#!\")");
                return r < 0 ? r : -EINVAL;
        }

        *c = (CustomData) {
                .kind = CUSTOMDATA_VSENSOR,
                .master_port = DEFAULT_PORT,
                .ephemeral = true,
                .os_updates = true,
        };
        r = parse_document(data, len, o, c, problems);
        if (r == -ENOMEM) return r;
        if (problems->n > start || r < 0) {
                register_secrets(c);
                yamlnode_sort_problems(problems, start);
                return -EINVAL;
        }
        *ret = TAKE_PTR(c);
        return 0;
}
