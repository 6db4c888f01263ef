/* preflight: the checks of DESIGN.md's "Diagnosis" table as a plan of probes (lib/probe)
 * run on one thread each, so the whole command takes about one preflight.timeout
 * however many endpoints hang; the clock check reads the Date the CDN (else IMDS)
 * answered with. Nothing secret is sent: no token, no update key, and a proxy's
 * credentials reach only that proxy. */
#include "preflight.h"

#include <dirent.h>
#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <strings.h>
#include <time.h>

#include "log.h"
#include "probe.h"
#include "secret.h"
#include "yamlnode.h"

#define JOBS_MAX 48
#define APT_HOSTS_MAX 16
#define VAULTS_MAX 8
#define SOURCES_FILE_MAX (1024 * 1024)
/* TLS refuses certificates outside their validity; 5 minutes is what DESIGN allows. */
#define CLOCK_SKEW_MAX_S 300
#define IMDS_PATH "/metadata/instance"
#define IMDS_QUERY "?api-version=2021-02-01"
#define APT_SOURCES "/etc/apt/sources.list"
#define APT_SOURCES_DIR "/etc/apt/sources.list.d"

typedef struct Result {
        const char *check;
        char target[320];
        bool ok, skipped;
        char detail[512];
        int64_t ms;
} Result;

typedef struct Job {
        Result res;
        bool probe;               /* has a request to run */
        ProbeRequest req;
        char *url, *host, *ca;    /* owned parts of req */
        bool master;              /* a master's own certificate is rarely publicly trusted */
        ProbeResult out;
        time_t answered;          /* wall clock when the probe ended (the clock check) */
        pthread_t thread;
        bool started;
} Job;

typedef struct Plan {
        Job jobs[JOBS_MAX];
        size_t n;
        long timeout_ms;
        char **seen;              /* "check host:port" already planned */
} Plan;

static void plan_init(Plan *p, const Context *c) {
        memset(p, 0, sizeof *p);
        p->timeout_ms = (long)c->config.preflight_timeout * 1000;
}

static void plan_done(Plan *p) {
        for (size_t i = 0; i < p->n; i++) {
                free(p->jobs[i].url);
                free(p->jobs[i].host);
                free(p->jobs[i].ca);
        }
        strv_free(p->seen);
        p->n = 0;
        p->seen = NULL;
}

static Job *plan_add(Plan *p, const char *check) {
        if (p->n == JOBS_MAX) return NULL;
        Job *j = &p->jobs[p->n++];
        memset(j, 0, sizeof *j);
        j->res.check = check;
        return j;
}

static void job_target(Job *j, const char *fmt, ...) _printf_(2, 3);
static void job_target(Job *j, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(j->res.target, sizeof j->res.target, fmt, ap);
        va_end(ap);
}

static void job_skip(Job *j, const char *fmt, ...) _printf_(2, 3);
static void job_skip(Job *j, const char *fmt, ...) {
        char why[400];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why, sizeof why, fmt, ap);
        va_end(ap);
        j->res.ok = j->res.skipped = true;
        snprintf(j->res.detail, sizeof j->res.detail, "skipped: %s", why);
        if (!j->res.target[0]) snprintf(j->res.target, sizeof j->res.target, "-");
}

static void job_fail(Job *j, const char *fmt, ...) _printf_(2, 3);
static void job_fail(Job *j, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(j->res.detail, sizeof j->res.detail, fmt, ap);
        va_end(ap);
        j->res.ok = false;
}

/* "host:port", with brackets around an IPv6 literal. */
static void host_port(char *buf, size_t size, const char *host, unsigned port) {
        bool v6 = strchr(host, ':') != NULL;
        snprintf(buf, size, "%s%s%s:%u", v6 ? "[" : "", host, v6 ? "]" : "", port);
}

/* A connect or TLS probe of host:port; false when the plan is full or the pair
 * was planned already for this check. */
static Job *plan_endpoint(Plan *p, const char *check, ProbeKind kind, const char *host, unsigned port) {
        char hp[300], key[320];
        host_port(hp, sizeof hp, host, port);
        snprintf(key, sizeof key, "%s %s", check, hp);
        for (char **s = p->seen; s && *s; s++)
                if (streq(*s, key)) return NULL;
        if (strv_push(&p->seen, key) < 0) return NULL;
        Job *j = plan_add(p, check);
        if (!j) return NULL;
        job_target(j, "%s", hp);
        if (!probe_host_valid(host)) {
                job_fail(j, "not a host name or address");
                return j;
        }
        j->host = strdup(host);
        if (!j->host) {
                job_fail(j, "out of memory");
                return j;
        }
        j->probe = true;
        j->req = (ProbeRequest){.kind = kind, .host = j->host, .port = port, .no_proxy = true,
                                .timeout_ms = p->timeout_ms};
        return j;
}

/* --- the checks --- */

static void plan_imds(Plan *p, const Context *c) {
        Job *j = plan_add(p, "imds");
        if (!j) return;
        job_target(j, "%s" IMDS_PATH, c->config.imds_url);
        if (asprintf_safe(&j->url, "%s" IMDS_PATH IMDS_QUERY, c->config.imds_url) < 0) {
                j->url = NULL;
                job_fail(j, "out of memory");
                return;
        }
        static const char *const headers[] = {"Metadata: true", NULL};
        j->probe = true;
        j->req = (ProbeRequest){.kind = PROBE_HTTP, .url = j->url, .headers = headers, .no_proxy = true,
                                .timeout_ms = p->timeout_ms};
}

static void plan_wireserver(Plan *p, const Context *c) {
        if (c->config.provisioning == PROVISIONING_NONE) {
                Job *j = plan_add(p, "wireserver");
                if (j) job_skip(j, "provisioning: none (the agent never talks to the wireserver)");
                return;
        }
        _cleanup_free_ char *host = NULL;
        unsigned port = 0;
        if (probe_parse_url(c->config.wireserver_url, &host, &port, NULL) < 0) {
                Job *j = plan_add(p, "wireserver");
                if (j) {
                        job_target(j, "%s", c->config.wireserver_url);
                        job_fail(j, "not a usable URL");
                }
                return;
        }
        plan_endpoint(p, "wireserver", PROBE_TCP, host, port);
}

static void plan_cdn(Plan *p, const Context *c) {
        Job *j = plan_add(p, "cdn");
        if (!j) return;
        job_target(j, "%s", c->config.installer_url);
        j->url = strdup(c->config.installer_url);
        j->ca = isempty(c->config.installer_ca_file) ? NULL : context_path(c, c->config.installer_ca_file);
        if (!j->url || (!isempty(c->config.installer_ca_file) && !j->ca)) {
                job_fail(j, "out of memory");
                return;
        }
        /* The download's own path: libcurl's default proxy handling, as lib/http. */
        j->probe = true;
        j->req = (ProbeRequest){.kind = PROBE_HTTP, .url = j->url, .ca_file = j->ca, .timeout_ms = p->timeout_ms};
}

/* The image's extra trust anchor (installer.ca_file, e.g. a TLS-inspecting proxy's CA)
 * for the other TLS endpoints the agent checks. */
static void plan_extra_anchor(Job *j, const Context *c) {
        if (!j || !j->probe || isempty(c->config.installer_ca_file)) return;
        j->ca = context_path(c, c->config.installer_ca_file);
        j->req.ca_file = j->ca;
}

static void with_proxy(Job *j, const CustomData *d) {
        if (!j || !j->probe || !d->proxy) return;
        j->req.proxy = secret_reveal(d->proxy);
        j->req.no_proxy = false;
        size_t n = strlen(j->res.target);
        snprintf(j->res.target + n, sizeof j->res.target - n, " via %s", d->proxy_display);
}

#define NO_CUSTOM_DATA "no custom data (give --custom-data FILE, or run after the first boot kept it)"

static void plan_master(Plan *p, const CustomData *d, const char *why) {
        if (!d || d->kind != CUSTOMDATA_VSENSOR) {
                Job *j = plan_add(p, "master");
                if (j) job_skip(j, "%s", d ? "legacy user-data script: no master in the custom data" : why);
                return;
        }
        Job *j = plan_endpoint(p, "master", PROBE_TLS, d->master_host, d->master_port);
        if (!j) return;
        j->master = true;
        with_proxy(j, d);
}

static void plan_blob(Plan *p, const Context *c, const CustomData *d, const char *why) {
        if (!d || d->kind != CUSTOMDATA_VSENSOR || !d->pcap_enabled) {
                Job *j = plan_add(p, "blob");
                if (j)
                        job_skip(j, "%s", !d ? why
                                          : d->kind != CUSTOMDATA_VSENSOR ? "legacy user-data script: no PCAP account"
                                                                          : "PCAP storage is off in the custom data");
                return;
        }
        /* blob_suffix may carry :PORT (config.c checked it). */
        const char *suffix = c->config.preflight_blob_suffix;
        const char *colon = strchr(suffix, ':');
        unsigned port = colon ? (unsigned)strtoul(colon + 1, NULL, 10) : 443;
        _cleanup_free_ char *host = NULL;
        if (asprintf_safe(&host, "%s.%.*s", d->pcap_storage_account, colon ? (int)(colon - suffix) : (int)strlen(suffix),
                          suffix) < 0)
                return;
        Job *j = plan_endpoint(p, "blob", PROBE_TLS, host, port);
        plan_extra_anchor(j, c);
        with_proxy(j, d);
}

static int plan_vault(Plan *p, const char *vault, const char *ca_file) {
        /* ca_file NULL: the system store alone. */
        _cleanup_free_ char *url = strstr(vault, "://") ? strdup(vault) : strjoin("https://", vault, NULL);
        _cleanup_free_ char *host = NULL;
        unsigned port = 0;
        bool https = false;
        if (!url) return -ENOMEM;
        if (probe_parse_url(url, &host, &port, &https) < 0 || !https) {
                Job *j = plan_add(p, "key_vault");
                if (j) {
                        job_target(j, "%.300s", vault);
                        job_fail(j, "not an https:// Key Vault URI");
                }
                return 0;
        }
        Job *j = plan_endpoint(p, "key_vault", PROBE_TLS, host, port);
        if (j && j->probe && ca_file) {
                j->ca = strdup(ca_file);
                j->req.ca_file = j->ca;
        }
        return 0;
}

/* --- apt sources: one-line (.list) and deb822 (.sources) --- */

static void apt_add_uri(Plan *p, const char *uri, size_t len, size_t *n_hosts) {
        _cleanup_free_ char *u = strndup(uri, len), *host = NULL;
        unsigned port = 0;
        /* Only what needs the network: http and https (not file:, cdrom:, mirror+...). */
        if (!u || probe_parse_url(u, &host, &port, NULL) < 0) return;
        if (*n_hosts >= APT_HOSTS_MAX) return;
        if (plan_endpoint(p, "apt", PROBE_TCP, host, port)) (*n_hosts)++;
}

static void apt_parse_list(Plan *p, char *text, size_t *n_hosts) {
        for (char *line = text, *next; line; line = next) {
                next = strchr(line, '\n');
                if (next) *next++ = 0;
                char *hash = strchr(line, '#');
                if (hash) *hash = 0;
                char *s = line + strspn(line, " \t");
                size_t kw = strcspn(s, " \t");
                if (!((kw == 3 && strncmp(s, "deb", 3) == 0) || (kw == 7 && strncmp(s, "deb-src", 7) == 0))) continue;
                s += kw;
                s += strspn(s, " \t");
                if (*s == '[') {
                        char *close = strchr(s, ']');
                        if (!close) continue;
                        s = close + 1;
                        s += strspn(s, " \t");
                }
                apt_add_uri(p, s, strcspn(s, " \t\r"), n_hosts);
        }
}

static void apt_flush_paragraph(Plan *p, char **uris, bool enabled, size_t *n_hosts) {
        for (char **u = uris; enabled && u && *u; u++) apt_add_uri(p, *u, strlen(*u), n_hosts);
}

static void apt_add_tokens(char ***uris, const char *v) {
        while (*v) {
                v += strspn(v, " \t\r");
                size_t n = strcspn(v, " \t\r");
                if (n == 0) break;
                _cleanup_free_ char *t = strndup(v, n);
                if (t) strv_push(uris, t);
                v += n;
        }
}

static void apt_parse_sources(Plan *p, char *text, size_t *n_hosts) {
        _cleanup_strv_free_ char **uris = NULL;
        bool enabled = true, in_uris = false;
        for (char *line = text, *next; line; line = next) {
                next = strchr(line, '\n');
                if (next) *next++ = 0;
                if (line[0] == '#') continue;
                if (line[strspn(line, " \t\r")] == 0) {
                        apt_flush_paragraph(p, uris, enabled, n_hosts);
                        strv_free(uris);
                        uris = NULL;
                        enabled = true;
                        in_uris = false;
                        continue;
                }
                if (line[0] == ' ' || line[0] == '\t') {
                        if (in_uris) apt_add_tokens(&uris, line);
                        continue;
                }
                char *colon = strchr(line, ':');
                if (!colon) continue;
                *colon = 0;
                const char *v = colon + 1;
                in_uris = strcasecmp(line, "URIs") == 0;
                if (in_uris) apt_add_tokens(&uris, v);
                else if (strcasecmp(line, "Enabled") == 0) {
                        v += strspn(v, " \t");
                        enabled = strncasecmp(v, "no", 2) != 0;
                }
        }
        apt_flush_paragraph(p, uris, enabled, n_hosts);
}

static void apt_read(Plan *p, const char *path, bool deb822, size_t *n_hosts, size_t *n_files) {
        _cleanup_free_ char *text = NULL;
        if (read_file_capped(path, SOURCES_FILE_MAX, &text, NULL) < 0) return;
        (*n_files)++;
        if (deb822)
                apt_parse_sources(p, text, n_hosts);
        else
                apt_parse_list(p, text, n_hosts);
}

static bool ends_with(const char *s, const char *suffix) {
        size_t a = strlen(s), b = strlen(suffix);
        return a > b && streq(s + a - b, suffix);
}

static void plan_apt(Plan *p, const Context *c) {
        size_t n_hosts = 0, n_files = 0;
        _cleanup_free_ char *list = context_path(c, APT_SOURCES);
        _cleanup_free_ char *dir = context_path(c, APT_SOURCES_DIR);
        if (!list || !dir) return;
        apt_read(p, list, false, &n_hosts, &n_files);
        struct dirent **names = NULL;
        int n = scandir(dir, &names, NULL, alphasort);
        for (int i = 0; i < n; i++) {
                const char *name = names[i]->d_name;
                bool l = ends_with(name, ".list"), s = ends_with(name, ".sources");
                if (name[0] != '.' && (l || s)) {
                        _cleanup_free_ char *path = strjoin(dir, "/", name);
                        if (path) apt_read(p, path, s, &n_hosts, &n_files);
                }
                free(names[i]);
        }
        free(names);
        if (n_hosts == 0) {
                Job *j = plan_add(p, "apt");
                if (j) job_skip(j, "no http(s) source in %s or %s/*.list, *.sources", APT_SOURCES, APT_SOURCES_DIR);
        }
}

/* --- Key Vault references, found without the full custom data rules --- */

/* Every `key_vault: https://...` value anywhere in the document: only the vault hosts
 * matter here, so a document that fails validation still gets its vaults checked. */
static void scan_vaults(YamlDoc *d, yaml_node_t *n, char ***hosts, int depth) {
        if (!n || depth > YAMLNODE_MAX_DEPTH) return;
        if (n->type == YAML_SEQUENCE_NODE) {
                for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++)
                        scan_vaults(d, yaml_document_get_node(&d->document, *it), hosts, depth + 1);
                return;
        }
        if (n->type != YAML_MAPPING_NODE) return;
        for (yaml_node_pair_t *pr = n->data.mapping.pairs.start; pr < n->data.mapping.pairs.top; pr++) {
                yaml_node_t *k = yaml_document_get_node(&d->document, pr->key);
                yaml_node_t *v = yaml_document_get_node(&d->document, pr->value);
                size_t klen = 0, vlen = 0;
                const char *ks = yamlnode_scalar(k, &klen), *vs = yamlnode_scalar(v, &vlen);
                if (ks && klen == 9 && memcmp(ks, "key_vault", 9) == 0 && vs && vlen > 8 && vlen < 2048 &&
                    strlen(vs) == vlen && strv_length(*hosts) < VAULTS_MAX) {
                        bool dup = false;
                        for (char **h = *hosts; h && *h; h++) dup = dup || streq(*h, vs);
                        if (!dup) strv_push(hosts, vs);
                } else
                        scan_vaults(d, v, hosts, depth + 1);
        }
}

static void plan_vaults_from(Plan *p, const Context *c, const char *raw, size_t len, const char *why) {
        _cleanup_strv_free_ char **refs = NULL;
        if (raw) {
                Problems problems;
                if (problems_init(&problems, "custom data") >= 0) {
                        _cleanup_(yamlnode_freep) YamlDoc *doc = NULL;
                        if (yamlnode_load(raw, len, CUSTOMDATA_MAX, "custom data", &problems, &doc) >= 0)
                                scan_vaults(doc, yamlnode_root(doc), &refs, 0);
                        problems_done(&problems);
                }
        }
        if (!refs) {
                Job *j = plan_add(p, "key_vault");
                if (j) job_skip(j, "%s", raw ? "no Key Vault reference in the custom data" : why);
                return;
        }
        /* The vault's extra trust anchor, as the fetch itself uses it. */
        _cleanup_free_ char *ca = isempty(c->config.key_vault_ca_file) ? NULL : context_path(c, c->config.key_vault_ca_file);
        for (char **r = refs; *r; r++) plan_vault(p, *r, ca);
}

/* --- running --- */

static void job_probe(Job *j) {
        probe_run(&j->req, &j->out);
        j->answered = time(NULL);
}

static void *job_main(void *arg) {
        job_probe(arg);
        return NULL;
}

static void job_finish(Job *j) {
        char d[400];
        j->res.ms = j->out.ms;
        probe_describe(&j->out, d, sizeof d);
        j->res.ok = j->out.cause == PROBE_OK;
        if (j->master && (j->out.cause == PROBE_TLS_UNTRUSTED || j->out.cause == PROBE_TLS_WRONG_HOST)) {
                /* The handshake got as far as the certificate: the path is open. */
                j->res.ok = true;
                snprintf(j->res.detail, sizeof j->res.detail,
                         "ok (reached its TLS certificate; %s here, as usual for a master's own)",
                         probe_cause_to_string(j->out.cause));
                return;
        }
        snprintf(j->res.detail, sizeof j->res.detail, "%s", d);
}

static void plan_run(Plan *p) {
        for (size_t i = 0; i < p->n; i++) {
                Job *j = &p->jobs[i];
                if (j->probe) j->started = pthread_create(&j->thread, NULL, job_main, j) == 0;
        }
        for (size_t i = 0; i < p->n; i++) {
                Job *j = &p->jobs[i];
                if (!j->probe) continue;
                if (j->started)
                        pthread_join(j->thread, NULL);
                else
                        job_probe(j);   /* no thread to be had: in turn */
                job_finish(j);
        }
}

static Job *plan_find(Plan *p, const char *check) {
        for (size_t i = 0; i < p->n; i++)
                if (streq(p->jobs[i].res.check, check)) return &p->jobs[i];
        return NULL;
}

/* The clock against the Date of the CDN's answer, else of IMDS's (plain HTTP, so
 * readable even when the clock makes every certificate look invalid). */
static void plan_clock(Plan *p) {
        Job *cdn = plan_find(p, "cdn"), *imds = plan_find(p, "imds");
        Job *src = cdn && cdn->probe && cdn->out.date >= 0 ? cdn : imds && imds->probe && imds->out.date >= 0 ? imds : NULL;
        Job *j = plan_add(p, "clock");
        if (!j) return;
        if (!src) {
                job_skip(j, "no Date header from the CDN or IMDS to compare with");
                return;
        }
        job_target(j, "Date of %s", src->res.target);
        long long skew = (long long)src->answered - (long long)src->out.date;
        long long abs_skew = skew < 0 ? -skew : skew;
        if (abs_skew > CLOCK_SKEW_MAX_S)
                job_fail(j, "local clock %lld s %s: time synchronisation (chrony, NTP blocked by an NSG)?", abs_skew,
                         skew < 0 ? "behind" : "ahead");
        else
                snprintf(j->res.detail, sizeof j->res.detail, "ok (%lld s apart)", abs_skew);
        j->res.ok = abs_skew <= CLOCK_SKEW_MAX_S;
}

/* --- the command --- */

static int read_stdin(char **ret, size_t *ret_len) {
        size_t cap = CUSTOMDATA_MAX + 1, len = 0;
        char *data = malloc(cap + 1);
        if (!data) return -ENOMEM;
        for (;;) {
                ssize_t n = read(STDIN_FILENO, data + len, cap - len);
                if (n < 0 && errno == EINTR) continue;
                if (n < 0) {
                        free(data);
                        return -errno;
                }
                if (n == 0) break;
                len += (size_t)n;
                if (len == cap) {
                        wipe(data, len);
                        free(data);
                        return -EFBIG;
                }
        }
        data[len] = 0;
        *ret = data;
        *ret_len = len;
        return 0;
}

/* The custom data preflight reads: --custom-data, else the kept copy. No discovery:
 * preflight never mounts the provisioning media, and the first run keeps a copy. */
static int load_custom_data(Context *c, char **ret_raw, size_t *ret_len, char *why, size_t why_size) {
        _cleanup_free_ char *kept = context_state_file(c, KEPT_CUSTOM_DATA_FILE);
        const char *file = c->opts->custom_data ? c->opts->custom_data : kept;
        if (!file) return -ENOMEM;
        int r = streq(file, "-") ? read_stdin(ret_raw, ret_len) : read_file_capped(file, CUSTOMDATA_MAX, ret_raw, ret_len);
        if (r == -ENOENT && !c->opts->custom_data) {
                snprintf(why, why_size, "%s", NO_CUSTOM_DATA);
                return r;
        }
        if (r < 0) {
                snprintf(why, why_size, "cannot read the custom data %s: %s", file,
                         r == -EFBIG ? "larger than 64 KiB" : strerror(-r));
                return r;
        }
        Problems problems;
        if (problems_init(&problems, file) < 0) return -ENOMEM;
        r = customdata_parse(*ret_raw, *ret_len, file, &c->custom_data, &problems);
        problems_done(&problems);
        if (r < 0)
                snprintf(why, why_size, "the custom data %s is not valid (see 'vsensor-init validate %s')", file,
                         streq(file, "-") ? "-" : file);
        return 0;
}

static void print_results(const Context *c, Plan *p) {
        if (c->opts->json) {
                json_t *arr = json_array();
                for (size_t i = 0; arr && i < p->n; i++) {
                        const Result *r = &p->jobs[i].res;
                        json_array_append_new(arr, json_pack("{s:s, s:s, s:b, s:s, s:I}", "check", r->check, "target",
                                                             r->target, "ok", r->ok, "detail", r->detail, "ms",
                                                             (json_int_t)r->ms));
                }
                _cleanup_free_ char *out = arr ? json_dumps(arr, JSON_PRESERVE_ORDER) : NULL;
                json_decref(arr);
                _cleanup_free_ char *clean = out ? secret_redact(out) : NULL;
                if (clean) puts(clean);
                return;
        }
        for (size_t i = 0; i < p->n; i++) {
                const Result *r = &p->jobs[i].res;
                char line[1200];
                if (r->skipped)
                        snprintf(line, sizeof line, "%-4s  %-10s  %s", "skip", r->check, r->detail + strlen("skipped: "));
                else
                        snprintf(line, sizeof line, "%-4s  %-10s  %s: %s (%lld ms)", r->ok ? "ok" : "FAIL", r->check,
                                 r->target, r->detail, (long long)r->ms);
                _cleanup_free_ char *clean = secret_redact(line);
                puts(clean ? clean : "(out of memory)");
        }
}

int cmd_preflight(Context *c) {
        _cleanup_free_ char *raw = NULL;
        size_t len = 0;
        char why[512] = "";
        int r = load_custom_data(c, &raw, &len, why, sizeof why);
        if (r == -ENOMEM) return EX_SOFTWARE;
        const char *no_cd = why[0] ? why : NULL;

        Plan *p = malloc(sizeof *p);
        if (!p) return EX_SOFTWARE;
        plan_init(p, c);
        plan_imds(p, c);
        plan_wireserver(p, c);
        plan_cdn(p, c);
        plan_master(p, c->custom_data, no_cd);
        plan_apt(p, c);
        plan_blob(p, c, c->custom_data, no_cd);
        plan_vaults_from(p, c, raw, len, no_cd);
        if (raw) wipe(raw, len);
        plan_run(p);
        plan_clock(p);

        print_results(c, p);
        size_t failed = 0;
        char names[256] = "";
        for (size_t i = 0; i < p->n; i++) {
                if (p->jobs[i].res.ok) continue;
                size_t n = strlen(names);
                if (!strstr(names, p->jobs[i].res.check))
                        snprintf(names + n, sizeof names - n, "%s%s", n ? ", " : "", p->jobs[i].res.check);
                failed++;
        }
        if (!c->opts->json) {
                if (failed)
                        printf("preflight: %zu of %zu checks failed (%s)\n", failed, p->n, names);
                else
                        printf("preflight: all %zu checks passed\n", p->n);
        }
        plan_done(p);
        free(p);
        return failed ? EX_UNAVAILABLE : EX_OK;
}

/* --- diagnosis of a failed step --- */

static int diagnose_plan(Plan *p, const char *check, char *buf, size_t size) {
        plan_run(p);
        Job *pick = NULL;
        for (size_t i = 0; i < p->n && !pick; i++)
                if (!p->jobs[i].res.ok) pick = &p->jobs[i];
        if (!pick && p->n > 0) pick = &p->jobs[0];
        if (!pick) {
                snprintf(buf, size, "preflight %s: nothing to check", check);
                return -ENOENT;
        }
        _cleanup_free_ char *clean = NULL;
        char line[1024];
        snprintf(line, sizeof line, "preflight %s (%s): %s", check, pick->res.target, pick->res.detail);
        clean = secret_redact(line);
        snprintf(buf, size, "%s", clean ? clean : "preflight: out of memory");
        if (pick->res.skipped) return -ENOENT;
        return pick->res.ok ? 0 : 1;
}

int preflight_diagnose(Context *c, const char *check, char *buf, size_t size) {
        Plan *p = malloc(sizeof *p);
        if (!p) return -ENOMEM;
        plan_init(p, c);
        const char *why = "no custom data";
        if (streq(check, "imds"))
                plan_imds(p, c);
        else if (streq(check, "wireserver"))
                plan_wireserver(p, c);
        else if (streq(check, "cdn"))
                plan_cdn(p, c);
        else if (streq(check, "master"))
                plan_master(p, c->custom_data, why);
        else if (streq(check, "apt"))
                plan_apt(p, c);
        else if (streq(check, "blob"))
                plan_blob(p, c, c->custom_data, why);
        int r = diagnose_plan(p, check, buf, size);
        plan_done(p);
        free(p);
        return r;
}

int preflight_diagnose_key_vault(Context *c, const char *vault, const char *ca_file, char *buf, size_t size) {
        Plan *p = malloc(sizeof *p);
        if (!p) return -ENOMEM;
        plan_init(p, c);
        int r = plan_vault(p, vault, ca_file);
        if (r >= 0) r = diagnose_plan(p, "key_vault", buf, size);
        plan_done(p);
        free(p);
        return r;
}

static void append_to_error(Context *c, const char *d) {
        _cleanup_free_ char *joined = NULL;
        if (asprintf_safe(&joined, "%s; %s", c->error ? c->error : "failed", d) < 0) return;
        free(c->error);
        c->error = secret_redact(joined);
}

void preflight_annotate_failure(Context *c, const char *check) {
        if (!c->config.preflight_on_failure) return;
        char d[768];
        if (preflight_diagnose(c, check, d, sizeof d) >= 0) append_to_error(c, d);
}

void preflight_annotate_key_vault_failure(Context *c, const char *vault, const char *ca_file) {
        if (!c->config.preflight_on_failure) return;
        char d[768];
        if (preflight_diagnose_key_vault(c, vault, ca_file, d, sizeof d) >= 0) append_to_error(c, d);
}

void preflight_watch_init(PreflightWatch *w, Context *c, const char *check, const char *what) {
        *w = (PreflightWatch){.c = c, .check = check, .what = what, .start_ms = now_monotonic_ms(),
                              .only_timeouts = true};
}

void preflight_watch_observe(void *userdata, const HttpResponse *resp) {
        PreflightWatch *w = userdata;
        if (!w->c->config.preflight_on_failure) return;
        /* A connection timeout: no answer at all, not a slow transfer of one. */
        bool timeout = resp->error == HTTP_ERR_TIMEOUT && resp->status == 0 && resp->body_len == 0;
        if (!timeout) w->only_timeouts = false;
        if (!w->only_timeouts || w->warned) return;
        int64_t waited = now_monotonic_ms() - w->start_ms;
        if (waited < (int64_t)w->c->config.preflight_timeout * 3000) return;
        w->warned = true;
        char d[768];
        int r = w->vault ? preflight_diagnose_key_vault(w->c, w->vault, w->ca_file, d, sizeof d)
                         : preflight_diagnose(w->c, w->check, d, sizeof d);
        if (r < 0) return;
        log_warning("%s has seen only connection timeouts for %lld s (it keeps trying until its deadline): %s",
                    w->what, (long long)(waited / 1000), d);
}
