/* e2e: the peers' own documents (WALinuxAgent, cloud-init, azure-init fixtures in
 * test/data/peers, provenance in SOURCES) run through the real binary under --root
 * against the fake Azure server. test/data/peers/EXPECTED says, per case, what the
 * agent must do with them: exit code, admin user, hostname, authorized_keys, sshd
 * drop-in, health report with the goal state's ids, KVP records, log lines; and where
 * this project decides differently from the peer, what the peer does and why.
 *
 * Each case is PASS or FAIL, and any failed case fails the suite; the summary counts
 * them. useradd --root needs root: without it every case skips, saying so. */
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "e2e.h"
#include "kvp.h"
#include "testutil.h"

#define PEERS "peers"
#define STATE_DIR "/var/lib/vsensor-init"
#define LOG_FILE "/var/log/user-data.log"
#define KVP_POOL "/var/lib/hyperv/.kvp_pool_1"
#define SUDOERS "/etc/sudoers.d/90-vsensor-init-users"
#define SSHD_DIR "/etc/ssh/sshd_config.d"
#define SSHD_DROPIN_NAME "00-vsensor-init.conf"
#define SSHD_DROPIN SSHD_DIR "/" SSHD_DROPIN_NAME
#define DEFAULT_GOAL_STATE "goalstate/wala-goal_state.xml"
#define DEFAULT_OVF_IMDS "imds/wala-valid.json"
/* Custom data when the case's documents carry none: a legacy script needs no
 * installer, and its line in the log proves the run went to the end. */
#define LEGACY_SCRIPT "#!/bin/sh\necho peers-case-ran\n"
#define LEGACY_MARK "peers-case-ran"
#define PLACEHOLDER_HOST_KEY "(a host key of an earlier boot)\n"

/* ---- The manifest --------------------------------------------------------------- */

typedef struct Field {
        char *name;  /* "log" */
        char *value;
} Field;

typedef struct Case {
        char *name;
        unsigned line;
        Field *fields;
        size_t n_fields;
} Case;

typedef struct Named {
        char *name;
        char *value;    /* key: the authorized_keys line; goal state: "INC CID IID" */
} Named;

static Case *cases;
static size_t n_cases;
static Named *keys, *goal_states;
static size_t n_keys, n_goal_states;
static char results_path[] = "/tmp/test-e2e-peers-results.XXXXXX";

static const char *const known_fields[] = {
        "ovf", "imds", "gs", "userdata", "imds_deadline", "ws_deadline",
        "exit", "user", "host", "keys", "sshd", "health", "report", "kvp",
        "log", "nolog", "err", "secret", "userdata_gets", "imds_gets",
        "peer", "why", NULL,
};
static const char *const required_fields[] = {"exit", "user", "host", "keys", "sshd", "health", "kvp", NULL};

static bool in_list(const char *const *list, const char *s) {
        for (; *list; list++)
                if (streq(*list, s)) return true;
        return false;
}

/* Next token of line: bare, or name="quoted value" (\" and \\ escaped). NULL at the end. */
static char *next_token(char **cursor) {
        char *p = *cursor;
        while (*p == ' ' || *p == '\t') p++;
        if (!*p) return NULL;
        char *out = p, *w = p;
        bool quoted = false;
        for (; *p; p++) {
                if (quoted && *p == '\\' && (p[1] == '"' || p[1] == '\\')) {
                        *w++ = *++p;
                        continue;
                }
                if (*p == '"') {
                        quoted = !quoted;
                        continue;
                }
                if (!quoted && (*p == ' ' || *p == '\t')) {
                        p++;
                        break;
                }
                *w++ = *p;
        }
        *w = 0;
        *cursor = p;
        return out;
}

static void manifest_die(unsigned line, const char *what) {
        fprintf(stderr, "test/data/peers/EXPECTED:%u: %s\n", line, what);
        exit(EXIT_FAILURE);
}

static void push_named(Named **list, size_t *n, const char *name, const char *value) {
        Named *nl = reallocarray(*list, *n + 1, sizeof **list);
        if (!nl) abort();
        *list = nl;
        nl[*n].name = strdup(name);
        nl[*n].value = strdup(value);
        if (!nl[*n].name || !nl[*n].value) abort();
        (*n)++;
}

static void parse_case(char *rest, unsigned line) {
        char *name = next_token(&rest);
        if (!name) manifest_die(line, "case without a name");
        Case c = {.name = strdup(name), .line = line};
        for (char *t; (t = next_token(&rest));) {
                char *eq = strchr(t, '=');
                if (!eq) manifest_die(line, "expected name=value");
                *eq = 0;
                if (!in_list(known_fields, t)) {
                        char what[160];
                        snprintf(what, sizeof what, "unknown field \"%.100s\" (the fields are listed at the top)", t);
                        manifest_die(line, what);
                }
                Field *nf = reallocarray(c.fields, c.n_fields + 1, sizeof *nf);
                if (!nf) abort();
                c.fields = nf;
                nf[c.n_fields++] = (Field){strdup(t), strdup(eq + 1)};
        }
        for (const char *const *r = required_fields; *r; r++) {
                bool have = false;
                for (size_t i = 0; i < c.n_fields; i++) have = have || streq(c.fields[i].name, *r);
                if (!have) manifest_die(line, "a case states exit, user, host, keys, sshd, health and kvp");
        }
        bool report = false, no_health = false;
        for (size_t i = 0; i < c.n_fields; i++) {
                report = report || streq(c.fields[i].name, "report");
                no_health = no_health || (streq(c.fields[i].name, "health") && streq(c.fields[i].value, "none"));
        }
        if (report && no_health) manifest_die(line, "report= needs a health report (health=none)");
        Case *nc = reallocarray(cases, n_cases + 1, sizeof *nc);
        if (!nc) abort();
        cases = nc;
        cases[n_cases++] = c;
}

static void manifest_load(void) {
        _cleanup_free_ char *path = tu_data_path(PEERS "/EXPECTED");
        _cleanup_free_ char *text = NULL;
        if (!path || read_file_capped(path, TU_READ_MAX, &text, NULL) < 0) {
                fprintf(stderr, "cannot read %s\n", path ? path : "EXPECTED");
                exit(EXIT_FAILURE);
        }
        unsigned line = 0;
        for (char *l = text, *next; l && *l; l = next) {
                line++;
                next = strchr(l, '\n');
                if (next) *next++ = 0;
                if (*l == '#' || *l == 0) continue;
                char *rest = l;
                char *word = next_token(&rest);
                if (streq(word, "case"))
                        parse_case(rest, line);
                else if (streq(word, "key") || streq(word, "goalstate")) {
                        char *name = next_token(&rest);
                        while (rest && (*rest == ' ' || *rest == '\t')) rest++;
                        if (!name || !rest || !*rest) manifest_die(line, "expected a name and a value");
                        if (streq(word, "key"))
                                push_named(&keys, &n_keys, name, rest);
                        else
                                push_named(&goal_states, &n_goal_states, name, rest);
                } else
                        manifest_die(line, "expected case, key or goalstate");
        }
}

static const char *named_get(const Named *list, size_t n, const char *name) {
        for (size_t i = 0; i < n; i++)
                if (streq(list[i].name, name)) return list[i].value;
        return NULL;
}

static const char *field(const Case *c, const char *name) {
        for (size_t i = 0; i < c->n_fields; i++)
                if (streq(c->fields[i].name, name)) return c->fields[i].value;
        return NULL;
}

/* ---- One case's checks ---------------------------------------------------------- */

static E2e e;

typedef struct Outcome {
        char *failures; /* one indented line per failed check; NULL: the case passed */
        char *notes;
} Outcome;

static void append(char **buf, const char *fmt, va_list ap) _printf_(2, 0);
static void append(char **buf, const char *fmt, va_list ap) {
        char line[2048];
        vsnprintf(line, sizeof line, fmt, ap);
        char *n = NULL;
        ck_assert_int_ge(asprintf_safe(&n, "%s    %s\n", *buf ? *buf : "", line), 0);
        free(*buf);
        *buf = n;
}

/* Records a failed check: the case fails, and all its failures are printed. */
static void flunk(Outcome *o, const char *fmt, ...) _printf_(2, 3);
static void flunk(Outcome *o, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        append(&o->failures, fmt, ap);
        va_end(ap);
}

static void note(Outcome *o, const char *fmt, ...) _printf_(2, 3);
static void note(Outcome *o, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        append(&o->notes, fmt, ap);
        va_end(ap);
}

static char *peer_file(const char *rel) {
        _cleanup_free_ char *p = strjoin(PEERS "/", rel, NULL);
        ck_assert_ptr_nonnull(p);
        return tu_read_data(p, NULL);
}

/* Sets "deadline: N" of one section of the harness's configuration. */
static void config_deadline(const char *section, const char *seconds) {
        _cleanup_free_ char *cfg = NULL;
        ck_assert_int_ge(read_file_capped(e.config, 65536, &cfg, NULL), 0);
        char *s = strstr(cfg, section);
        ck_assert_ptr_nonnull(s);
        char *d = strstr(s, "deadline: ");
        ck_assert_ptr_nonnull(d);
        char *end = d + strlen("deadline: ");
        *d = 0;
        end += strspn(end, "0123456789");
        _cleanup_free_ char *n = NULL;
        ck_assert_int_ge(asprintf_safe(&n, "%sdeadline: %s%s", cfg, seconds, end), 0);
        ck_assert_int_eq(write_file_atomic(e.config, n, strlen(n), 0600), 0);
}

/* Serves the IMDS answer: a document as it is, or an azure-init response script
 * {"responses": [{"status_code", "response"}...]} replayed in order (the last one
 * repeats; its "delay"s are left out: they only slow azure-init's own tests). */
static void serve_imds(const char *doc) {
        json_t *root = json_loads(doc, 0, NULL);
        json_t *script = json_object_get(root, "responses");
        if (!json_is_array(script)) {
                ck_assert_int_eq(fake_server_route(e.fake, "GET", "/metadata/instance",
                                                   &(FakeResponse){.body = doc, .content_type = "application/json"}, 1), 0);
                json_decref(root);
                return;
        }
        size_t n = json_array_size(script), i;
        ck_assert_uint_gt(n, 0);
        FakeResponse *r = calloc(n, sizeof *r);
        char **bodies = calloc(n, sizeof *bodies);
        ck_assert(r && bodies);
        json_t *item;
        json_array_foreach(script, i, item) {
                bodies[i] = json_dumps(json_object_get(item, "response"), JSON_COMPACT);
                ck_assert_ptr_nonnull(bodies[i]);
                r[i] = (FakeResponse){.status = (int)json_integer_value(json_object_get(item, "status_code")),
                                      .body = bodies[i], .content_type = "application/json"};
        }
        ck_assert_int_eq(fake_server_route(e.fake, "GET", "/metadata/instance", r, n), 0);
        for (i = 0; i < n; i++) free(bodies[i]);
        free(bodies);
        free(r);
        json_decref(root);
}

/* compute.userData of the instance document (base64, served as it is), "" when none. */
static void serve_doc_userdata(const char *doc) {
        json_t *root = json_loads(doc, 0, NULL);
        json_t *compute = json_object_get(root, "compute");
        json_t *script = json_object_get(root, "responses");
        if (json_is_array(script))
                compute = json_object_get(json_object_get(json_array_get(script, json_array_size(script) - 1), "response"),
                                          "compute");
        const char *ud = json_string_value(json_object_get(compute, "userData"));
        ck_assert_int_eq(fake_server_route(e.fake, "GET", "/metadata/instance/compute/userData",
                                           &(FakeResponse){.body = ud ? ud : ""}, 1), 0);
        json_decref(root);
}

static bool passwd_has_user(const char *passwd, const char *user) {
        char prefix[128];
        snprintf(prefix, sizeof prefix, "\n%s:", user);
        return passwd && (strncmp(passwd, prefix + 1, strlen(prefix) - 1) == 0 || strstr(passwd, prefix));
}

/* Lines of /etc/passwd that are not root's. */
static size_t passwd_others(const char *passwd) {
        size_t n = 0;
        for (const char *l = passwd; l && *l;) {
                if (strncmp(l, "root:", 5) != 0) n++;
                l = strchr(l, '\n');
                if (l) l++;
        }
        return n;
}

static void check_user_and_keys(const Case *c, Outcome *o) {
        const char *user = field(c, "user"), *want_keys = field(c, "keys");
        _cleanup_free_ char *passwd = e2e_read(&e, "/etc/passwd");
        if (streq(user, "-")) {
                if (passwd_others(passwd) != 0) flunk(o, "no admin user expected; /etc/passwd:\n%s", passwd);
                if (e2e_exists(&e, SUDOERS)) flunk(o, "no admin user expected, but %s exists", SUDOERS);
                return;
        }
        if (!passwd_has_user(passwd, user)) {
                flunk(o, "admin user %s not in /etc/passwd:\n%s", user, passwd ? passwd : "(none)");
                return;
        }
        _cleanup_free_ char *sudoers = e2e_read(&e, SUDOERS);
        char line[160];
        snprintf(line, sizeof line, "\n%s ALL=(ALL) NOPASSWD:ALL\n", user);
        if (!sudoers || !strstr(sudoers, line)) flunk(o, "%s does not give %s sudo: %s", SUDOERS, user, sudoers ? sudoers : "(none)");

        char path[256];
        snprintf(path, sizeof path, "/home/%s/.ssh/authorized_keys", user);
        _cleanup_free_ char *got = e2e_read(&e, path);
        _cleanup_free_ char *want = strdup("");
        ck_assert_ptr_nonnull(want);
        if (!streq(want_keys, "-")) {
                _cleanup_free_ char *list = strdup(want_keys);
                ck_assert_ptr_nonnull(list);
                for (char *save = NULL, *k = strtok_r(list, ",", &save); k; k = strtok_r(NULL, ",", &save)) {
                        const char *text = named_get(keys, n_keys, k);
                        ck_assert_msg(text != NULL, "case %s: no key named %s in EXPECTED", c->name, k);
                        char *n = strjoin(want, text, "\n");
                        ck_assert_ptr_nonnull(n);
                        free(want);
                        want = n;
                }
        }
        if (!streq(got ? got : "", want))
                flunk(o, "%s is:\n%s\n    expected:\n%s", path, got ? got : "(missing)", *want ? want : "(no key)");
        else if (got)
                ck_assert_int_eq(e2e_mode(&e, path), 0600);
}

static void check_host(const Case *c, Outcome *o) {
        const char *host = field(c, "host");
        _cleanup_free_ char *got = e2e_read(&e, "/etc/hostname");
        if (streq(host, "-")) {
                if (got) flunk(o, "/etc/hostname written (%s) where none was expected", got);
                return;
        }
        _cleanup_free_ char *want = strjoin(host, "\n", NULL);
        if (!streq(got ? got : "(missing)", want))
                flunk(o, "/etc/hostname is \"%.*s\", expected \"%s\"", got ? (int)strcspn(got, "\n") : 9,
                      got ? got : "(missing)", host);
}

static bool dropin_says_no(const char *path) {
        _cleanup_free_ char *d = e2e_read(&e, path);
        return d && strstr(d, "\nPasswordAuthentication no\n");
}

/* sshd=yes: the drop-in says PasswordAuthentication no and is the only file of
 * sshd_config.d; sshd=no: sshd_config.d holds no file at all. */
static void check_sshd(const Case *c, Outcome *o) {
        bool want = streq(field(c, "sshd"), "yes");
        if (want && !dropin_says_no(SSHD_DROPIN)) flunk(o, "no %s saying PasswordAuthentication no", SSHD_DROPIN);
        _cleanup_free_ char *dir = path_under_root(e.root, SSHD_DIR);
        ck_assert_ptr_nonnull(dir);
        DIR *d = opendir(dir);
        if (!d) return;
        for (struct dirent *de; (de = readdir(d));) {
                if (streq(de->d_name, ".") || streq(de->d_name, "..")) continue;
                if (want && streq(de->d_name, SSHD_DROPIN_NAME)) continue;
                flunk(o, "%s/%s exists%s", SSHD_DIR, de->d_name,
                      want ? " besides the drop-in" : " where passwords were not turned off");
        }
        closedir(d);
}

static void check_health(const Case *c, Outcome *o) {
        const char *want = field(c, "health");
        const char *gs = field(c, "gs") ? field(c, "gs") : DEFAULT_GOAL_STATE;
        json_t *all = fake_server_requests(e.fake), *r;
        ck_assert_ptr_nonnull(all);
        size_t i, posts = 0;
        const char *body = NULL;
        json_array_foreach(all, i, r) {
                if (!streq(json_string_value(json_object_get(r, "method")), "POST") ||
                    !streq(json_string_value(json_object_get(r, "path")), "/machine"))
                        continue;
                posts++;
                body = json_string_value(json_object_get(r, "body"));
        }
        if (streq(want, "none")) {
                if (posts != 0) flunk(o, "%zu health reports, expected none", posts);
                json_decref(all);
                return;
        }
        if (posts != 1) {
                flunk(o, "%zu health reports, expected one (%s)", posts, want);
                json_decref(all);
                return;
        }
        const char *ids = named_get(goal_states, n_goal_states, gs);
        ck_assert_msg(ids != NULL, "case %s: goal state %s has no goalstate line in EXPECTED", c->name, gs);
        char inc[64], cid[160], iid[160], tag[256];
        ck_assert_int_eq(sscanf(ids, "%63s %159s %159s", inc, cid, iid), 3);
        snprintf(tag, sizeof tag, "<State>%s</State>", want);
        if (!strstr(body, tag)) flunk(o, "health body without %s:\n%s", tag, body);
        if (streq(want, "NotReady") && !strstr(body, "<SubStatus>ProvisioningFailed</SubStatus>"))
                flunk(o, "NotReady without ProvisioningFailed:\n%s", body);
        snprintf(tag, sizeof tag, "<GoalStateIncarnation>%s</GoalStateIncarnation>", inc);
        if (!strstr(body, tag)) flunk(o, "health body without %s:\n%s", tag, body);
        snprintf(tag, sizeof tag, "<ContainerId>%s</ContainerId>", cid);
        if (!strstr(body, tag)) flunk(o, "health body without %s:\n%s", tag, body);
        snprintf(tag, sizeof tag, "<InstanceId>%s</InstanceId>", iid);
        if (!strstr(body, tag)) flunk(o, "health body without %s:\n%s", tag, body);
        for (size_t f = 0; f < c->n_fields; f++)
                if (streq(c->fields[f].name, "report") && !strstr(body, c->fields[f].value))
                        flunk(o, "health body does not say \"%s\":\n%s", c->fields[f].value, body);
        json_decref(all);
}

static void check_kvp(const Case *c, Outcome *o) {
        const char *want = field(c, "kvp");
        _cleanup_free_ char *pool = path_under_root(e.root, KVP_POOL);
        char **k = NULL, **v = NULL;
        size_t n = 0;
        if (access(pool, F_OK) == 0) ck_assert_int_eq(kvp_read_all(pool, &k, &v, &n), 0);
        _cleanup_free_ char *got = strdup("");
        for (size_t i = 0; i < n; i++) {
                char result[32] = "?";
                if (strncmp(v[i], "result=", 7) == 0) snprintf(result, sizeof result, "%.*s", (int)strcspn(v[i] + 7, "|"), v[i] + 7);
                if (!streq(k[i], "PROVISIONING_REPORT")) flunk(o, "KVP key %s", k[i]);
                if (!strstr(v[i], "|vm_id=" E2E_VM_ID "|")) flunk(o, "KVP record without the DMI VM id: %s", v[i]);
                char *nx = strjoin(got, i ? "," : "", result);
                free(got);
                got = nx;
        }
        if (!streq(got, streq(want, "-") ? "" : want)) flunk(o, "KVP results \"%s\", expected \"%s\"", got, want);
        strv_free(k);
        strv_free(v);
}

static const char *scan_root, *scan_needle;
static char scan_hit[512];

static int scan_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        if (flag != FTW_F || !S_ISREG(st->st_mode)) return 0;
        const char *rel = path + strlen(scan_root);
        if (strncmp(rel, "/media/ovf/", 11) == 0) return 0; /* the input itself */
        _cleanup_free_ char *data = NULL;
        size_t len = 0;
        if (read_file_capped(path, TU_READ_MAX, &data, &len) < 0) return 0;
        if (memmem(data, len, scan_needle, strlen(scan_needle))) {
                snprintf(scan_hit, sizeof scan_hit, "%s", rel);
                return 1;
        }
        return 0;
}

static void check_secret(const char *secret, Outcome *o) {
        if (e.out && strstr(e.out, secret)) flunk(o, "the password appeared on stdout");
        if (e.err && strstr(e.err, secret)) flunk(o, "the password appeared on stderr");
        scan_root = e.root;
        scan_needle = secret;
        scan_hit[0] = 0;
        nftw(e.root, scan_entry, 32, FTW_PHYS);
        if (scan_hit[0]) flunk(o, "the password is in %s", scan_hit);
}

static void check_texts(const Case *c, Outcome *o) {
        _cleanup_free_ char *log = e2e_read(&e, LOG_FILE);
        bool own_userdata = field(c, "userdata") && streq(field(c, "userdata"), "doc");
        if (e.exit_code == 0 && !own_userdata && (!log || !strstr(log, LEGACY_MARK)))
                flunk(o, "exit 0 but the custom data (a legacy script) did not run");
        for (size_t i = 0; i < c->n_fields; i++) {
                const Field *f = &c->fields[i];
                if (streq(f->name, "log") && (!log || !strstr(log, f->value)))
                        flunk(o, "the log does not say \"%s\"", f->value);
                else if (streq(f->name, "nolog") && log && strstr(log, f->value))
                        flunk(o, "the log says \"%s\"", f->value);
                else if (streq(f->name, "err") && (!e.err || !strstr(e.err, f->value)))
                        flunk(o, "stderr does not say \"%s\"", f->value);
                else if (streq(f->name, "secret"))
                        check_secret(f->value, o);
                else if (streq(f->name, "userdata_gets")) {
                        size_t n = e2e_count(&e, "GET", "/metadata/instance/compute/userData");
                        if (n != strtoul(f->value, NULL, 10)) flunk(o, "%zu GETs of IMDS userData, expected %s", n, f->value);
                } else if (streq(f->name, "imds_gets")) {
                        size_t n = e2e_count(&e, "GET", "/metadata/instance");
                        if (n < strtoul(f->value, NULL, 10)) flunk(o, "%zu GETs of the IMDS instance, expected at least %s", n, f->value);
                }
        }
}

/* One line per case for the summary main() prints (Check forks each test). */
static void record(const char *status, const Case *c) {
        int fd = open(results_path, O_WRONLY | O_APPEND | O_CLOEXEC);
        if (fd < 0) return;
        char line[1024];
        int n = snprintf(line, sizeof line, "%s %s\n", status, c->name);
        if (n > 0) (void)!write(fd, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
        close(fd);
}

START_TEST(peer_case) {
        const Case *c = &cases[_i];
        if (geteuid() != 0) {
                printf("peers: %s: skipped: needs root (useradd --root)\n", c->name);
                record("NOROOT", c);
                return;
        }
        const char *ovf = field(c, "ovf");
        const char *imds = field(c, "imds");
        bool ovf_case = ovf && !streq(ovf, "-");
        if (!imds) imds = ovf_case ? DEFAULT_OVF_IMDS : NULL;
        ck_assert_msg(imds != NULL, "case %s names no IMDS answer", c->name);
        const char *gs = field(c, "gs") ? field(c, "gs") : DEFAULT_GOAL_STATE;

        e2e_setup(&e, &(E2eOptions){.provisioning = "agent"});
        if (field(c, "imds_deadline")) config_deadline("imds: {", field(c, "imds_deadline"));
        if (field(c, "ws_deadline")) config_deadline("wireserver: {", field(c, "ws_deadline"));
        /* This VM id's host keys exist already: ssh-keygen -A costs 2 s of CPU a run,
         * and host keys are not what the peers' documents are about. */
        e2e_put(&e, STATE_DIR "/provisioned", E2E_VM_ID "\n", 0600);
        static const char *const host_keys[] = {"rsa", "ecdsa", "ed25519"};
        for (size_t i = 0; i < ELEMENTSOF(host_keys); i++) {
                char p[128];
                snprintf(p, sizeof p, "/etc/ssh/ssh_host_%s_key", host_keys[i]);
                e2e_put(&e, p, PLACEHOLDER_HOST_KEY, 0600);
                snprintf(p, sizeof p, "/etc/ssh/ssh_host_%s_key.pub", host_keys[i]);
                e2e_put(&e, p, PLACEHOLDER_HOST_KEY, 0644);
        }
        if (ovf_case) {
                _cleanup_free_ char *doc = peer_file(ovf);
                e2e_put(&e, "/media/ovf/ovf-env.xml", doc, 0644);
        }
        _cleanup_free_ char *imds_doc = peer_file(imds);
        serve_imds(imds_doc);
        if (field(c, "userdata") && streq(field(c, "userdata"), "doc"))
                serve_doc_userdata(imds_doc);
        else
                e2e_serve_userdata(&e, LEGACY_SCRIPT);
        _cleanup_free_ char *gs_doc = peer_file(gs);
        ck_assert_int_eq(fake_server_route(e.fake, "GET", "/machine/",
                                           &(FakeResponse){.body = gs_doc, .content_type = "text/xml"}, 1), 0);

        e2e_run(&e, (const char *[]){"run", NULL});

        Outcome o = {0};
        int want_exit = atoi(field(c, "exit"));
        if (e.exit_code != want_exit) {
                _cleanup_free_ char *log = e2e_read(&e, LOG_FILE);
                flunk(&o, "exit %d, expected %d; stderr:\n%s\n    log:\n%s", e.exit_code, want_exit, e.err ? e.err : "",
                     log ? log : "(none)");
        }
        check_user_and_keys(c, &o);
        check_host(c, &o);
        check_sshd(c, &o);
        check_health(c, &o);
        check_kvp(c, &o);
        check_texts(c, &o);
        e2e_assert_no_secrets(&e);

        /* Not a check (host keys are test-e2e-provisioning's), but each regeneration
         * costs 2 s of CPU: say so when the agent's rule for it changes. */
        _cleanup_free_ char *host_key = e2e_read(&e, "/etc/ssh/ssh_host_ed25519_key");
        if (!streq_ptr(host_key, PLACEHOLDER_HOST_KEY))
                note(&o, "the host keys were regenerated although this VM id was provisioned: slow (ssh-keygen -A)");
        if (field(c, "peer"))
                note(&o, "differs from the peer: %s; because %s", field(c, "peer"), field(c, "why") ? field(c, "why") : "?");
        bool failed = o.failures != NULL;
        printf("peers: %s: %s (%.0f ms)\n", c->name, failed ? "FAIL" : "PASS", e.wall_ms);
        if (o.notes) printf("%s", o.notes);
        if (failed) printf("%s", o.failures);
        record(failed ? "FAIL" : "PASS", c);
        fflush(stdout); /* a failed assertion ends this (forked) test at once */
        _cleanup_free_ char *msg = o.failures;
        free(o.notes);
        ck_assert_msg(!failed, "case %s (EXPECTED line %u):\n%s", c->name, c->line, msg);
}
END_TEST

static void teardown(void) {
        e2e_teardown(&e);
        memset(&e, 0, sizeof e);
}

/* The summary: how many passed, and which failed. A case that ended without a
 * line (a crash, a timeout) is counted as neither: the counts then fall short. */
static void summary(void) {
        _cleanup_free_ char *text = NULL;
        if (read_file_capped(results_path, TU_READ_MAX, &text, NULL) < 0) return;
        size_t pass = 0, fail_n = 0, noroot = 0;
        for (const char *l = text; l && *l;) {
                if (strncmp(l, "PASS ", 5) == 0) pass++;
                else if (strncmp(l, "FAIL ", 5) == 0) fail_n++;
                else if (strncmp(l, "NOROOT ", 7) == 0) noroot++;
                l = strchr(l, '\n');
                if (l) l++;
        }
        printf("peers: %zu cases: %zu pass, %zu fail%s\n", n_cases, pass, fail_n,
               noroot ? "; not run: needs root" : "");
        for (const char *l = text; fail_n && l && *l;) {
                const char *end = strchr(l, '\n');
                if (strncmp(l, "FAIL ", 5) == 0) printf("peers:   %.*s\n", (int)(end ? end - l : (long)strlen(l)), l);
                l = end ? end + 1 : NULL;
        }
}

int main(void) {
        manifest_load();
        int fd = mkstemp(results_path);
        if (fd < 0) return EXIT_FAILURE;
        close(fd);
        Suite *s = suite_create("e2e-peers");
        TCase *tc = tcase_create("peers");
        tcase_set_timeout(tc, 30);
        tcase_add_checked_fixture(tc, NULL, teardown);
        tcase_add_loop_test(tc, peer_case, 0, (int)n_cases);
        suite_add_tcase(s, tc);
        printf("peers: %zu cases from test/data/peers/EXPECTED\n", n_cases);
        int r = tu_run_suite(s);
        summary();
        unlink(results_path);
        return r;
}
