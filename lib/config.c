/* config: the agent configuration (DESIGN.md "Agent configuration"). */
#include <dirent.h>
#include <limits.h>
#include <stddef.h>

#include "config.h"
#include "http.h"
#include "keyvault.h"
#include "yamlnode.h"

#define CONFIG_MAX (64 * 1024)
#define SECONDS_MAX 86400
#define ATTEMPTS_MAX 20
#define URL_MAX 2048

static const char *const provisioning_mode_table[_PROVISIONING_MAX] = {
        [PROVISIONING_AUTO] = "auto",
        [PROVISIONING_AGENT] = "agent",
        [PROVISIONING_WAAGENT] = "waagent",
        [PROVISIONING_NONE] = "none",
};

static const char *const report_ready_mode_table[_REPORT_READY_MAX] = {
        [REPORT_READY_EARLY] = "early",
        [REPORT_READY_LATE] = "late",
};

static int table_lookup(const char *const *table, size_t n, const char *s) {
        if (!s) return -EINVAL;
        for (size_t i = 0; i < n; i++)
                if (table[i] && streq(table[i], s)) return (int)i;
        return -EINVAL;
}

const char *provisioning_mode_to_string(ProvisioningMode m) {
        return m >= 0 && m < _PROVISIONING_MAX ? provisioning_mode_table[m] : NULL;
}
ProvisioningMode provisioning_mode_from_string(const char *s) {
        return (ProvisioningMode)table_lookup(provisioning_mode_table, _PROVISIONING_MAX, s);
}
const char *report_ready_mode_to_string(ReportReadyMode m) {
        return m >= 0 && m < _REPORT_READY_MAX ? report_ready_mode_table[m] : NULL;
}
ReportReadyMode report_ready_mode_from_string(const char *s) {
        return (ReportReadyMode)table_lookup(report_ready_mode_table, _REPORT_READY_MAX, s);
}

/* --- the schema: one row per key, so defaults, copies and checks cannot drift --- */

typedef enum FieldKind {
        FIELD_PROVISIONING,
        FIELD_REPORT_READY,
        FIELD_URL,
        FIELD_PATH,
        FIELD_PATH_OR_EMPTY,   /* installer.ca_file: "" means the system trust store only */
        FIELD_PATH_OR_AUTO,    /* paths.ovf_media */
        FIELD_SECONDS,
        FIELD_ATTEMPTS,
        FIELD_HTTPS_URL,       /* installer.url: what it serves runs as root */
        FIELD_HOST,            /* a DNS name: preflight.blob_suffix */
        FIELD_LOOPBACK_URL_OR_EMPTY,  /* verify.url */
        FIELD_BOOL,                   /* true/false, a bool member */
        FIELD_INTERVAL_MS,            /* scheduled_events.poll_interval: seconds, stored in ms */
} FieldKind;

typedef struct Field {
        const char *section;   /* NULL: top level */
        const char *key;
        FieldKind kind;
        size_t offset;
        const char *default_string;
        int default_int;
} Field;

#define STR(sec, k, kind, member, def) { sec, k, kind, offsetof(Config, member), def, 0 }
#define INT(sec, k, kind, member, def) { sec, k, kind, offsetof(Config, member), NULL, def }

static const Field fields[] = {
        INT(NULL, "provisioning", FIELD_PROVISIONING, provisioning, PROVISIONING_AUTO),
        INT(NULL, "report_ready", FIELD_REPORT_READY, report_ready, REPORT_READY_EARLY),
        STR("imds", "url", FIELD_URL, imds_url, "http://169.254.169.254"),
        INT("imds", "deadline", FIELD_SECONDS, imds_deadline, 300),
        STR("wireserver", "url", FIELD_URL, wireserver_url, "http://168.63.129.16"),
        INT("wireserver", "deadline", FIELD_SECONDS, wireserver_deadline, 1200),
        STR("installer", "url", FIELD_HTTPS_URL, installer_url, "https://packages-cdn.darktrace.com/install"),
        STR("installer", "ca_file", FIELD_PATH_OR_EMPTY, installer_ca_file, ""),
        INT("installer", "deadline", FIELD_SECONDS, installer_deadline, 1800),
        INT(NULL, "apt_lock_deadline", FIELD_SECONDS, apt_lock_deadline, 900),
        INT("helpers", "attempts", FIELD_ATTEMPTS, helper_attempts, 3),
        INT("helpers", "timeout", FIELD_SECONDS, helper_timeout, 600),
        STR("paths", "helpers_dir", FIELD_PATH, helpers_dir, "/usr/sbin"),
        STR("paths", "log_file", FIELD_PATH, log_file, "/var/log/user-data.log"),
        STR("paths", "state_dir", FIELD_PATH, state_dir, "/var/lib/vsensor-init"),
        STR("paths", "success_marker", FIELD_PATH, success_marker, "/etc/darktrace/.user-data-success"),
        STR("paths", "installed_marker", FIELD_PATH, installed_marker, "/etc/darktrace/config.cfg"),
        STR("paths", "ovf_media", FIELD_PATH_OR_AUTO, ovf_media, "auto"),
        STR("paths", "waagent_dir", FIELD_PATH, waagent_dir, "/var/lib/waagent"),
        STR("paths", "kvp_pool", FIELD_PATH, kvp_pool, "/var/lib/hyperv/.kvp_pool_1"),
        INT("preflight", "timeout", FIELD_SECONDS, preflight_timeout, 5),
        STR("preflight", "blob_suffix", FIELD_HOST, preflight_blob_suffix, "blob.core.windows.net"),
        INT("preflight", "on_failure", FIELD_BOOL, preflight_on_failure, 1),
        INT("key_vault", "deadline", FIELD_SECONDS, key_vault_deadline, 900),
        STR("key_vault", "ca_file", FIELD_PATH_OR_EMPTY, key_vault_ca_file, ""),
        /* lifecycle: verify and watch */
        STR("verify", "url", FIELD_LOOPBACK_URL_OR_EMPTY, verify_url, ""),
        INT("verify", "deadline", FIELD_SECONDS, verify_deadline, 480),
        INT("scheduled_events", "enabled", FIELD_BOOL, scheduled_events_enabled, 0),
        INT("scheduled_events", "poll_interval", FIELD_INTERVAL_MS, scheduled_events_poll_ms, 1000),
        INT("scheduled_events", "drain_deadline", FIELD_SECONDS, drain_deadline, 240),
        /* scheduled_events.drain_commands is a list of lists: apply_drain_commands() */
};

static const char *const top_keys[] = { "provisioning", "report_ready", "imds", "wireserver", "installer",
                                        "apt_lock_deadline", "helpers", "paths", "preflight", "key_vault",
                                        "verify", "scheduled_events", NULL };
static const char *const sections[] = { "imds", "wireserver", "installer", "helpers", "paths", "preflight",
                                        "key_vault", "verify", "scheduled_events" };
/* Keys of a section that are not in fields[] (parsed by a function of their own). */
static const char *const extra_section_keys[][2] = { {"key_vault", "host_suffixes"},
                                                     {"scheduled_events", "drain_commands"} };

static bool field_is_string(const Field *f) { return f->default_string != NULL; }
static char **field_string(Config *c, const Field *f) { return (char **)((char *)c + f->offset); }
static int *field_int(Config *c, const Field *f) { return (int *)((char *)c + f->offset); }
static bool *field_bool(Config *c, const Field *f) { return (bool *)((char *)c + f->offset); }

/* --- scheduled_events.drain_commands: a list of argv lists --- */

#define DRAIN_COMMANDS_MAX 16
#define DRAIN_ARGS_MAX 32

static void drain_commands_free(char ***v) {
        if (!v) return;
        for (char ***a = v; *a; a++) strv_free(*a);
        free(v);
}

static int drain_commands_copy(char ***src, char ****ret) {
        *ret = NULL;
        if (!src) return 0;
        size_t n = 0;
        while (src[n]) n++;
        char ***d = calloc(n + 1, sizeof *d);
        if (!d) return -ENOMEM;
        for (size_t i = 0; i < n; i++)
                for (char **a = src[i]; *a; a++)
                        if (strv_push(&d[i], *a) < 0) {
                                drain_commands_free(d);
                                return -ENOMEM;
                        }
        *ret = d;
        return 0;
}

size_t config_drain_commands_count(const Config *c) {
        size_t n = 0;
        while (c && c->drain_commands && c->drain_commands[n]) n++;
        return n;
}

/* --- key_vault.host_suffixes: the one list-valued setting --- */

#define HOST_SUFFIXES_MAX 32
#define HOST_SUFFIX_LEN_MAX 253

static int suffixes_copy(char ***ret, const char *const *from) {
        char **v = calloc(1, sizeof(char *));
        if (!v) return -ENOMEM;
        for (const char *const *s = from; s && *s; s++)
                if (strv_push(&v, *s) < 0) {
                        strv_free(v);
                        return -ENOMEM;
                }
        *ret = v;
        return 0;
}

/* A host name ("127.0.0.1", matched exactly) or a suffix starting with '.'. */
static bool valid_suffix(const char *s, size_t len) {
        if (len == 0 || len > HOST_SUFFIX_LEN_MAX || strlen(s) != len) return false;
        if (len == 1 || s[len - 1] == '.' || strstr(s, "..")) return false;
        for (size_t i = 0; i < len; i++) {
                char ch = s[i];
                if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-' ||
                      ch == '.'))
                        return false;
        }
        return true;
}

static int apply_host_suffixes(Config *c, YamlDoc *doc, const yaml_node_t *n, Problems *p) {
        static const char path[] = "key_vault.host_suffixes";
        if (n->type != YAML_SEQUENCE_NODE)
                return yamlnode_problem(p, n, path, "expected a list of host names or suffixes starting with '.' (got %s)",
                                        yamlnode_kind(n));
        size_t count = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
        if (count > HOST_SUFFIXES_MAX)
                return yamlnode_problem(p, n, path, "at most %d entries (got %zu)", HOST_SUFFIXES_MAX, count);
        _cleanup_(strv_freep) char **v = calloc(1, sizeof(char *));
        if (!v) return -ENOMEM;
        bool bad = false;
        for (size_t i = 0; i < count; i++) {
                yaml_node_t *item = yaml_document_get_node(&doc->document, n->data.sequence.items.start[i]);
                char ipath[64];
                snprintf(ipath, sizeof ipath, "%s[%zu]", path, i);
                const char *s;
                size_t len;
                int r = yamlnode_string(item, ipath, "a host name or a suffix starting with '.'", p, &s, &len);
                if (r == -EINVAL) {
                        bad = true;
                        continue;
                }
                if (r < 0) return r;
                if (!valid_suffix(s, len)) {
                        char echo[YAMLNODE_ECHO_SIZE];
                        r = yamlnode_problem(p, item, ipath, "expected a host name or a suffix starting with '.' "
                                             "(got \"%s\")", yamlnode_echo(s, len, echo, sizeof echo));
                        if (r < 0) return r;
                        bad = true;
                        continue;
                }
                _cleanup_free_ char *lower = strndup(s, len);
                if (!lower) return -ENOMEM;
                for (char *q = lower; *q; q++)
                        if (*q >= 'A' && *q <= 'Z') *q = (char)(*q - 'A' + 'a');
                if (strv_push(&v, lower) < 0) return -ENOMEM;
        }
        if (bad) return 0;
        strv_free(c->key_vault_host_suffixes);
        c->key_vault_host_suffixes = TAKE_PTR(v);
        return 0;
}

void config_done(Config *c) {
        if (!c) return;
        c->key_vault_host_suffixes = (strv_free(c->key_vault_host_suffixes), NULL);
        drain_commands_free(c->drain_commands);
        c->drain_commands = NULL;
        for (size_t i = 0; i < ELEMENTSOF(fields); i++)
                if (field_is_string(&fields[i])) {
                        char **s = field_string(c, &fields[i]);
                        free(*s);
                        *s = NULL;
                }
}

int config_init_defaults(Config *c) {
        Config n = {};
        for (size_t i = 0; i < ELEMENTSOF(fields); i++) {
                const Field *f = &fields[i];
                if (field_is_string(f)) {
                        char *s = strdup(f->default_string);
                        if (!s) {
                                config_done(&n);
                                return -ENOMEM;
                        }
                        *field_string(&n, f) = s;
                } else if (f->kind == FIELD_BOOL)
                        *field_bool(&n, f) = f->default_int != 0;
                else
                        *field_int(&n, f) = f->default_int;
        }
        if (suffixes_copy(&n.key_vault_host_suffixes, keyvault_default_host_suffixes) < 0) {
                config_done(&n);
                return -ENOMEM;
        }
        *c = n;
        return 0;
}

static int config_copy(Config *dst, Config *src) {
        Config n = *src;
        for (size_t i = 0; i < ELEMENTSOF(fields); i++)
                if (field_is_string(&fields[i])) *field_string(&n, &fields[i]) = NULL;
        n.key_vault_host_suffixes = NULL;
        if (src->key_vault_host_suffixes &&
            suffixes_copy(&n.key_vault_host_suffixes, (const char *const *)src->key_vault_host_suffixes) < 0)
                return -ENOMEM;
        if (drain_commands_copy(src->drain_commands, &n.drain_commands) < 0) return -ENOMEM;
        for (size_t i = 0; i < ELEMENTSOF(fields); i++) {
                const Field *f = &fields[i];
                if (!field_is_string(f)) continue;
                const char *s = *field_string(src, f);
                if (!s) continue;
                char *d = strdup(s);
                if (!d) {
                        config_done(&n);
                        return -ENOMEM;
                }
                *field_string(&n, f) = d;
        }
        *dst = n;
        return 0;
}

/* --- checks --- */

static bool has_control(const char *s, size_t len) {
        for (size_t i = 0; i < len; i++)
                if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) return true;
        return false;
}

static bool valid_url(const char *s, size_t len) {
        size_t skip;
        if (strncmp(s, "http://", 7) == 0)
                skip = 7;
        else if (strncmp(s, "https://", 8) == 0)
                skip = 8;
        else
                return false;
        if (len <= skip || len > URL_MAX || has_control(s, len)) return false;
        for (size_t i = 0; i < len; i++)
                if (s[i] == ' ') return false;
        return s[skip] != '/';
}

static bool valid_path(const char *s, size_t len) {
        return len > 0 && len < PATH_MAX && s[0] == '/' && !has_control(s, len);
}

/* A DNS name of letters, digits, '-' and '.', no empty label, optionally ":PORT" (a
 * Private Link proxy, tests): it becomes part of a URL. */
static bool valid_host(const char *s, size_t len) {
        const char *colon = memchr(s, ':', len);
        if (colon) {
                size_t plen = len - (size_t)(colon - s) - 1;
                unsigned long port = 0;
                if (plen == 0 || plen > 5 || colon[1] == '0') return false;
                for (size_t i = 1; i <= plen; i++) {
                        if (colon[i] < '0' || colon[i] > '9') return false;
                        port = port * 10 + (unsigned long)(colon[i] - '0');
                }
                if (port > 65535) return false;
                len = (size_t)(colon - s);
        }
        if (len == 0 || len > 253 || s[0] == '.' || s[len - 1] == '.' || s[0] == '-') return false;
        for (size_t i = 0; i < len; i++) {
                char ch = s[i];
                bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-' ||
                          (ch == '.' && s[i + 1] != '.');
                if (!ok) return false;
        }
        return true;
}

static const char *field_expected(const Field *f) {
        switch (f->kind) {
        case FIELD_PROVISIONING:
                return "one of auto, agent, waagent, none";
        case FIELD_REPORT_READY:
                return "one of early, late";
        case FIELD_URL:
                return "an http:// or https:// URL";
        case FIELD_HTTPS_URL:
                return "an https:// URL: the installer runs as root, only TLS authenticates it";
        case FIELD_PATH:
                return "an absolute path";
        case FIELD_PATH_OR_EMPTY:
                return "\"\" or an absolute path";
        case FIELD_PATH_OR_AUTO:
                return "auto or an absolute path";
        case FIELD_HOST:
                return "a host name (letters, digits, '-' and '.'), optionally with :PORT";
        case FIELD_LOOPBACK_URL_OR_EMPTY:
                return "\"\" or an http:// or https:// URL whose host is a loopback address (127.0.0.0/8 or [::1])";
        default:
                return "a value";
        }
}

/* poll_interval: seconds, with up to three decimals ("0.05" for benchmarks), 0.001..3600. */
static int apply_interval_ms(Config *c, const Field *f, const yaml_node_t *n, const char *path, Problems *p) {
        static const char what[] = "seconds from 0.001 to 3600 (at most three decimals)";
        const char *s;
        size_t len;
        int r = yamlnode_string(n, path, what, p, &s, &len);
        if (r == -EINVAL) return 0;
        if (r < 0) return r;
        long long whole = 0, frac = 0;
        size_t i = 0, digits = 0, decimals = 0;
        bool ok = len > 0 && len <= 12;
        for (; ok && i < len && s[i] >= '0' && s[i] <= '9'; i++, digits++) whole = whole * 10 + (s[i] - '0');
        if (ok && i < len && s[i] == '.') {
                for (i++; i < len && s[i] >= '0' && s[i] <= '9'; i++, decimals++) frac = frac * 10 + (s[i] - '0');
                ok = decimals >= 1 && decimals <= 3;
        }
        ok = ok && i == len && digits >= 1 && !(digits > 1 && s[0] == '0');
        while (ok && decimals < 3) {
                frac *= 10;
                decimals++;
        }
        long long ms = whole * 1000 + frac;
        if (!ok || ms < 1 || ms > 3600 * 1000) {
                char echo[YAMLNODE_ECHO_SIZE];
                r = yamlnode_problem(p, n, path, "expected %s (got \"%s\")", what, yamlnode_echo(s, len, echo, sizeof echo));
                return r < 0 ? r : 0;
        }
        *field_int(c, f) = (int)ms;
        return 0;
}

/* drain_commands: a list of non-empty lists of strings, argv[0] an absolute path.
 * Returns 0 (problems may have been added) or -ENOMEM. */
static int apply_drain_commands(Config *c, YamlDoc *doc, const yaml_node_t *list, Problems *p) {
        static const char path[] = "scheduled_events.drain_commands";
        if (yamlnode_is_null(list)) {
                drain_commands_free(c->drain_commands);
                c->drain_commands = NULL;
                return 0;
        }
        if (list->type != YAML_SEQUENCE_NODE)
                return yamlnode_problem(p, list, path, "expected a list of commands, each a list of strings "
                                        "such as [\"/usr/sbin/darktrace-drain\"] (got %s)", yamlnode_kind(list));
        size_t n = (size_t)(list->data.sequence.items.top - list->data.sequence.items.start);
        if (n > DRAIN_COMMANDS_MAX)
                return yamlnode_problem(p, list, path, "at most %d commands (got %zu)", DRAIN_COMMANDS_MAX, n);
        char ***v = calloc(n + 1, sizeof *v);
        if (!v) return -ENOMEM;
        int r = 0;
        bool bad = false;
        for (size_t i = 0; i < n && r >= 0; i++) {
                yaml_node_t *cmd = yaml_document_get_node(&doc->document, list->data.sequence.items.start[i]);
                char where[64];
                snprintf(where, sizeof where, "%s[%zu]", path, i);
                size_t m = cmd && cmd->type == YAML_SEQUENCE_NODE
                                   ? (size_t)(cmd->data.sequence.items.top - cmd->data.sequence.items.start) : 0;
                if (!cmd || cmd->type != YAML_SEQUENCE_NODE || m == 0 || m > DRAIN_ARGS_MAX) {
                        r = yamlnode_problem(p, cmd, where, "expected a list of 1 to %d strings, the program "
                                             "first (got %s)", DRAIN_ARGS_MAX,
                                             !cmd ? "nothing" : cmd->type != YAML_SEQUENCE_NODE ? yamlnode_kind(cmd)
                                             : m == 0 ? "an empty list" : "too many");
                        bad = true;
                        continue;
                }
                for (size_t j = 0; j < m && r >= 0; j++) {
                        yaml_node_t *a = yaml_document_get_node(&doc->document, cmd->data.sequence.items.start[j]);
                        char at[80];
                        snprintf(at, sizeof at, "%s[%zu]", where, j);
                        const char *s;
                        size_t len;
                        r = yamlnode_string(a, at, j == 0 ? "an absolute path" : "a string", p, &s, &len);
                        if (r == -EINVAL) {
                                r = 0;
                                bad = true;
                                continue;
                        }
                        if (r < 0) break;
                        if (has_control(s, len) || (j == 0 && !valid_path(s, len))) {
                                char echo[YAMLNODE_ECHO_SIZE];
                                r = yamlnode_problem(p, a, at, "expected %s (got \"%s\")",
                                                     j == 0 ? "an absolute path" : "a string without control characters",
                                                     yamlnode_echo(s, len, echo, sizeof echo));
                                bad = true;
                                continue;
                        }
                        _cleanup_free_ char *copy = strndup(s, len);
                        if (!copy || strv_push(&v[i], copy) < 0) r = -ENOMEM;
                }
        }
        if (r < 0 || bad) {
                /* A bad command leaves a NULL hole: free every slot, not up to the first NULL. */
                for (size_t i = 0; i < n; i++) strv_free(v[i]);
                free(v);
                return r < 0 ? r : 0;
        }
        drain_commands_free(c->drain_commands);
        c->drain_commands = v;
        return 0;
}

/* Checks one value and applies it to c. Returns 0 (a problem may have been added)
 * or -ENOMEM. */
static int apply_field(Config *c, const Field *f, const yaml_node_t *n, const char *path, Problems *p) {
        const char *what = field_expected(f);
        const char *s;
        size_t len;
        int r;

        if (f->kind == FIELD_SECONDS || f->kind == FIELD_ATTEMPTS) {
                unsigned v;
                r = yamlnode_uint(n, path, 1, f->kind == FIELD_SECONDS ? SECONDS_MAX : ATTEMPTS_MAX, p, &v);
                if (r == -EINVAL) return 0;
                if (r < 0) return r;
                *field_int(c, f) = (int)v;
                return 0;
        }

        if (f->kind == FIELD_BOOL) {
                bool b;
                r = yamlnode_bool(n, path, p, &b);
                if (r == -EINVAL) return 0;
                if (r < 0) return r;
                *field_bool(c, f) = b;
                return 0;
        }
        if (f->kind == FIELD_INTERVAL_MS) return apply_interval_ms(c, f, n, path, p);

        /* ca_file and verify.url: "" is a value of its own, so an empty scalar is not
         * "no value" there. */
        if ((f->kind == FIELD_PATH_OR_EMPTY || f->kind == FIELD_LOOPBACK_URL_OR_EMPTY) && yamlnode_scalar(n, &len) &&
            len == 0) {
                s = "";
        } else {
                r = yamlnode_string(n, path, what, p, &s, &len);
                if (r == -EINVAL) return 0;
                if (r < 0) return r;
        }

        bool ok;
        int e = 0;
        switch (f->kind) {
        case FIELD_PROVISIONING:
                ok = (e = provisioning_mode_from_string(s)) >= 0;
                break;
        case FIELD_REPORT_READY:
                ok = (e = report_ready_mode_from_string(s)) >= 0;
                break;
        case FIELD_URL:
                ok = valid_url(s, len);
                break;
        case FIELD_HTTPS_URL:
                ok = strncmp(s, "https://", 8) == 0 && valid_url(s, len);
                break;
        case FIELD_PATH:
                ok = valid_path(s, len);
                break;
        case FIELD_PATH_OR_EMPTY:
                ok = len == 0 || valid_path(s, len);
                break;
        case FIELD_PATH_OR_AUTO:
                ok = streq(s, "auto") || valid_path(s, len);
                break;
        case FIELD_HOST:
                ok = valid_host(s, len);
                break;
        case FIELD_LOOPBACK_URL_OR_EMPTY:
                /* Its certificate is not verified: only a loopback host makes that safe. */
                ok = len == 0 || (valid_url(s, len) && http_url_is_loopback(s));
                break;
        default:
                ok = false;
        }
        if (!ok) {
                char echo[YAMLNODE_ECHO_SIZE];
                return yamlnode_problem(p, n, path, "expected %s (got \"%s\")", what,
                                        yamlnode_echo(s, len, echo, sizeof echo));
        }

        if (!field_is_string(f)) {
                *field_int(c, f) = e;
                return 0;
        }
        char *d = strndup(s, len);
        if (!d) return -ENOMEM;
        char **slot = field_string(c, f);
        free(*slot);
        *slot = d;
        return 0;
}

static int apply_document(Config *c, YamlDoc *doc, Problems *p) {
        yaml_node_t *root = yamlnode_root(doc);
        int r;

        /* An empty file, or one with only comments, sets nothing. */
        if (!root) return 0;
        if (root->type != YAML_MAPPING_NODE)
                return yamlnode_problem(p, root, "", "expected a mapping of settings (got %s)", yamlnode_kind(root));
        r = yamlnode_check_mapping(doc, root, "", top_keys, p);
        if (r < 0) return r;

        for (size_t i = 0; i < ELEMENTSOF(sections); i++) {
                yaml_node_t *m = yamlnode_get(doc, root, sections[i], NULL);
                /* "paths:" with every key commented out is an empty section. */
                if (!m || yamlnode_is_null(m)) continue;
                const char *keys[16];
                size_t n = 0;
                for (size_t j = 0; j < ELEMENTSOF(fields) && n + 1 < ELEMENTSOF(keys); j++)
                        if (streq_ptr(fields[j].section, sections[i])) keys[n++] = fields[j].key;
                for (size_t j = 0; j < ELEMENTSOF(extra_section_keys) && n + 1 < ELEMENTSOF(keys); j++)
                        if (streq(extra_section_keys[j][0], sections[i])) keys[n++] = extra_section_keys[j][1];
                keys[n] = NULL;
                r = yamlnode_check_mapping(doc, m, sections[i], keys, p);
                if (r == -ENOMEM) return r;
        }

        for (size_t i = 0; i < ELEMENTSOF(fields); i++) {
                const Field *f = &fields[i];
                yaml_node_t *v;
                if (f->section) {
                        yaml_node_t *m = yamlnode_get(doc, root, f->section, NULL);
                        v = yamlnode_get(doc, m, f->key, NULL);
                } else
                        v = yamlnode_get(doc, root, f->key, NULL);
                if (!v) continue;
                _cleanup_free_ char *path = f->section ? yamlnode_path(f->section, f->key) : strdup(f->key);
                if (!path) return -ENOMEM;
                r = apply_field(c, f, v, path, p);
                if (r < 0) return r;
        }

        yaml_node_t *kv = yamlnode_get(doc, root, "key_vault", NULL);
        yaml_node_t *hs = kv && !yamlnode_is_null(kv) ? yamlnode_get(doc, kv, "host_suffixes", NULL) : NULL;
        if (hs) {
                r = apply_host_suffixes(c, doc, hs, p);
                if (r < 0) return r;
        }
        yaml_node_t *se = yamlnode_get(doc, root, "scheduled_events", NULL);
        yaml_node_t *dc = se && se->type == YAML_MAPPING_NODE ? yamlnode_get(doc, se, "drain_commands", NULL) : NULL;
        if (dc) {
                r = apply_drain_commands(c, doc, dc, p);
                if (r < 0) return r;
        }
        return 0;
}

int config_load_string(Config *c, const char *data, size_t len, Problems *problems) {
        _cleanup_(yamlnode_freep) YamlDoc *doc = NULL;
        size_t start = problems->n;
        int r;

        r = yamlnode_load(data, len, CONFIG_MAX, "configuration", problems, &doc);
        if (r < 0) return r;

        /* Applied to a copy: a file with a problem changes nothing. */
        Config n;
        r = config_copy(&n, c);
        if (r < 0) return r;
        r = apply_document(&n, doc, problems);
        if (r >= 0 && problems->n > start) r = -EINVAL;
        if (r < 0) {
                config_done(&n);
                yamlnode_sort_problems(problems, start);
                return r;
        }
        config_done(c);
        *c = n;
        return 0;
}

static int load_file(Config *c, const char *path, bool missing_ok, Problems *problems) {
        _cleanup_free_ char *data = NULL;
        size_t len;
        int r;

        r = read_file_capped(path, CONFIG_MAX, &data, &len);
        if (r == -ENOENT && missing_ok) return 0;
        int k = problems_set_file(problems, path);
        if (k < 0) return k;
        if (r == -EFBIG) {
                r = problems_add(problems, 0, 0, "configuration is larger than %d bytes", CONFIG_MAX);
                return r < 0 ? r : -EINVAL;
        }
        if (r < 0) {
                k = problems_add(problems, 0, 0, "cannot read the configuration: %s", strerror(-r));
                return k < 0 ? k : r;
        }
        return config_load_string(c, data, len, problems);
}

int config_load_file(Config *c, const char *path, Problems *problems) {
        return load_file(c, path, false, problems);
}

static int filter_yaml(const struct dirent *de) {
        size_t len = strlen(de->d_name);
        return de->d_name[0] != '.' && len > strlen(".yaml") && streq(de->d_name + len - strlen(".yaml"), ".yaml");
}

int config_load_defaults_files(Config *c, const char *path, const char *dropin_dir, Problems *problems) {
        int ret = 0, r;

        if (path) {
                r = load_file(c, path, true, problems);
                if (r == -ENOMEM) return r;
                if (r < 0 && ret == 0) ret = r;
        }
        if (!dropin_dir) return ret;

        struct dirent **list = NULL;
        int n = scandir(dropin_dir, &list, filter_yaml, alphasort);
        if (n < 0) {
                r = -errno;
                if (r == -ENOENT) return ret;
                int k = problems_set_file(problems, dropin_dir);
                if (k >= 0) k = problems_add(problems, 0, 0, "cannot read the directory: %s", strerror(-r));
                if (k < 0) return k;
                return ret < 0 ? ret : r;
        }
        for (int i = 0; i < n; i++) {
                _cleanup_free_ char *file = strjoin(dropin_dir, "/", list[i]->d_name);
                if (!file)
                        r = -ENOMEM;
                else
                        r = load_file(c, file, true, problems);
                if (r < 0 && ret == 0) ret = r;
        }
        for (int i = 0; i < n; i++) free(list[i]);
        free(list);
        return ret;
}
