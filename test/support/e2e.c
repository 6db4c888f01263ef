#include "e2e.h"

#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "base64.h"
#include "testutil.h"
#include "util.h"

/* sha256 of CANARY_UPDATE_KEY: the fake installer accepts only that key. */
#define CANARY_UPDATE_KEY_SHA256 "cc36369175021d5890425eb09a2f375cf8a1d5ca5d67d6f7b61117edb65dba70"

const char e2e_custom_data[] =
        "vsensor:\n"
        "  update_key: \"" CANARY_UPDATE_KEY "\"\n"
        "  master:\n"
        "    host: dt-master.example.com\n"
        "    port: 443\n"
        "    push_token: \"" CANARY_PUSH_TOKEN "\"\n"
        "  ossensor:\n"
        "    hmac_token: \"" CANARY_HMAC_TOKEN "\"\n"
        "  pcap:\n"
        "    storage_account: mystorageacct\n"
        "    container: darktrace-vsensor-quickstart-pcaps\n"
        "  ephemeral: true\n"
        "  os_updates: true\n";

const char e2e_custom_data_calls[] =
        "set_pushtoken.sh " CANARY_PUSH_TOKEN " dt-master.example.com:443\n"
        "set_ossensor_hmac.sh " CANARY_HMAC_TOKEN "\n"
        "set_pcap_azure_container.sh mystorageacct darktrace-vsensor-quickstart-pcaps\n"
        "set_ossensor_loadbalancer_direct.sh 1\n"
        "set_ephemeral.sh 1\n";

static char *all_output; /* every run's stdout and stderr, for the secret scan */

static const char *env_or(const char *name, const char *fallback) {
        const char *v = getenv(name);
        return v && *v ? v : fallback;
}

static char *slurp(const char *path) {
        char *data = NULL;
        if (read_file_capped(path, 64 * 1024 * 1024, &data, NULL) < 0) return NULL;
        return data;
}

static char *under(E2e *e, const char *path) {
        char *p = path_under_root(e->root, path);
        ck_assert_ptr_nonnull(p);
        return p;
}

void e2e_put(E2e *e, const char *path, const char *text, int mode) {
        _cleanup_free_ char *p = under(e, path);
        _cleanup_free_ char *d = path_dirname(p);
        ck_assert_int_eq(mkdir_p(d, 0755), 0);
        ck_assert_int_eq(write_file_atomic(p, text, strlen(text), (mode_t)mode), 0);
}

static void copy_in(E2e *e, const char *from, const char *to, int mode) {
        _cleanup_free_ char *data = slurp(from);
        ck_assert_msg(data != NULL, "cannot read %s", from);
        e2e_put(e, to, data, mode);
}

const char *e2e_write_file(E2e *e, const char *name, const char *text) {
        static char path[512];
        snprintf(path, sizeof path, "%s/%s", e->dir, name);
        ck_assert_int_eq(write_file_atomic(path, text, strlen(text), 0600), 0);
        return path;
}

void e2e_serve_userdata(E2e *e, const char *text) {
        _cleanup_free_ char *b64 = base64_encode(text, strlen(text));
        FakeResponse r = {.status = 200, .body = b64};
        ck_assert_int_eq(fake_server_route(e->fake, "GET", "/metadata/instance/compute/userData", &r, 1), 0);
}

/* Whether extra_config sets this top-level key itself: its line then replaces the
 * harness's (YAML refuses a duplicate key). */
static bool extra_sets(const E2eOptions *o, const char *key) {
        size_t n = strlen(key);
        for (const char *l = o->extra_config; l && *l;) {
                if (strncmp(l, key, n) == 0 && l[n] == ':') return true;
                l = strchr(l, '\n');
                if (l) l++;
        }
        return false;
}

static void write_config(E2e *e, const E2eOptions *o) {
        FILE *f = fopen(e->config, "we");
        ck_assert_ptr_nonnull(f);
        if (!extra_sets(o, "provisioning")) fprintf(f, "provisioning: %s\n", o->provisioning ? o->provisioning : "none");
        if (!extra_sets(o, "report_ready")) fprintf(f, "report_ready: %s\n", o->report_ready ? o->report_ready : "early");
        /* The URLs are known only now: tests change these sections' numbers through
         * the options, not through extra_config. */
        fprintf(f, "imds: { url: \"%s\", deadline: 5 }\n", e->http_url);
        fprintf(f, "wireserver: { url: \"%s\", deadline: 5 }\n", e->http_url);
        fprintf(f, "installer: { url: \"%s/install\", ca_file: /test-ca.pem, deadline: %d }\n", e->https_url,
                o->installer_deadline > 0 ? o->installer_deadline : 10);
        if (!extra_sets(o, "apt_lock_deadline")) fputs("apt_lock_deadline: 5\n", f);
        if (!extra_sets(o, "helpers")) fputs("helpers: { attempts: 2, timeout: 10 }\n", f);
        if (!extra_sets(o, "paths")) fputs("paths:\n  ovf_media: /media/ovf\n", f);
        /* The default custom data names real hosts (dt-master.example.com, a storage
         * account): no diagnosis probes them. Preflight's own tests set this section. */
        if (!extra_sets(o, "preflight")) fputs("preflight: { on_failure: false }\n", f);
        if (o->extra_config) fputs(o->extra_config, f);
        fclose(f);
}

void e2e_setup(E2e *e, const E2eOptions *opts) {
        E2eOptions none = {0};
        const E2eOptions *o = opts ? opts : &none;
        memset(e, 0, sizeof *e);
        const char *top = env_or("TOP", ".");
        const char *certs = env_or("CERTS", "build/test/certs");

        snprintf(e->dir, sizeof e->dir, "/tmp/vsensor-e2e.XXXXXX");
        ck_assert_ptr_nonnull(mkdtemp(e->dir));
        snprintf(e->root, sizeof e->root, "%s/root", e->dir);
        snprintf(e->config, sizeof e->config, "%s/config.yaml", e->dir);
        ck_assert_int_eq(mkdir(e->root, 0755), 0);

        /* The machine: DMI id (upper case as firmware has it), EFI on Gen2. */
        e2e_put(e, "/sys/class/dmi/id/product_uuid",
                o->gen1 ? "8E1A1C6F-4B9A-514A-8C5E-2A0D3F4B5C6D\n" : "6F1C1A8E-9A4B-4A51-8C5E-2A0D3F4B5C6D\n", 0444);
        if (!o->gen1) e2e_put(e, "/sys/firmware/efi/efivars/.keep", "", 0644);
        e2e_put(e, "/etc/passwd", "root:x:0:0:root:/root:/bin/bash\n", 0644);
        e2e_put(e, "/etc/group", "root:x:0:\nsudo:x:27:\n", 0644);
        e2e_put(e, "/etc/shadow", "root:*:19000:0:99999:7:::\n", 0640);
        e2e_put(e, "/etc/gshadow", "root:*::\nsudo:*::\n", 0640);
        if (access("/etc/login.defs", R_OK) == 0) copy_in(e, "/etc/login.defs", "/etc/login.defs", 0644);
        e2e_put(e, "/etc/skel/.profile", "# skel\n", 0644);

        /* The fake vSensor's pieces: helper source and the key the installer accepts. */
        char path[512];
        snprintf(path, sizeof path, "%s/test/fake/helper.sh", top);
        copy_in(e, path, "/fake/helper.sh", 0755);
        e2e_put(e, "/fake/expected-key.sha256", CANARY_UPDATE_KEY_SHA256 "\n", 0644);
        e2e_put(e, "/fake/helpers.argv", "", 0644);
        snprintf(path, sizeof path, "%s/ca.pem", certs);
        copy_in(e, path, "/test-ca.pem", 0644);

        char cert[512], key[512];
        snprintf(cert, sizeof cert, "%s/%s.pem", certs, o->untrusted_cdn ? "untrusted" : "server");
        snprintf(key, sizeof key, "%s/%s-key.pem", certs, o->untrusted_cdn ? "untrusted" : "server");
        e->fake = fake_server_start(&(FakeServerOptions){.cert_file = cert, .key_file = key});
        ck_assert_ptr_nonnull(e->fake);
        e->http_url = fake_server_url(e->fake, false);
        e->https_url = fake_server_url(e->fake, true);

        snprintf(path, sizeof path, "%s/test/data/imds/instance.json", top);
        _cleanup_free_ char *instance = slurp(path);
        ck_assert_ptr_nonnull(instance);
        snprintf(path, sizeof path, "%s/test/data/wireserver/goalstate.xml", top);
        _cleanup_free_ char *goal_state = slurp(path);
        ck_assert_ptr_nonnull(goal_state);
        snprintf(path, sizeof path, "%s/test/fake/installer.sh", top);
        _cleanup_free_ char *installer = slurp(path);
        ck_assert_ptr_nonnull(installer);
        ck_assert_int_eq(fake_server_route(e->fake, "GET", "/metadata/instance",
                                           &(FakeResponse){.body = instance, .content_type = "application/json"}, 1), 0);
        ck_assert_int_eq(fake_server_route(e->fake, "GET", "/metadata/instance/compute/userData",
                                           &(FakeResponse){.body = ""}, 1), 0);
        ck_assert_int_eq(fake_server_route(e->fake, "GET", "/machine/",
                                           &(FakeResponse){.body = goal_state, .content_type = "text/xml"}, 1), 0);
        ck_assert_int_eq(fake_server_route(e->fake, "POST", "/machine", &(FakeResponse){.status = 200}, 1), 0);
        ck_assert_int_eq(fake_server_route(e->fake, "GET", "/install", &(FakeResponse){.body = installer}, 1), 0);
        write_config(e, o);
}

void e2e_teardown(E2e *e) {
        fake_server_stop(e->fake);
        free(e->http_url);
        free(e->https_url);
        free(e->out);
        free(e->err);
        if (!getenv("E2E_KEEP")) tu_rm_rf(e->dir);
}

/* Each run's output goes to files named by its pid: runs started side by side (a
 * second concurrent run) keep their output apart. */
static void output_paths(E2e *e, pid_t pid, char *out, size_t out_size, char *err, size_t err_size) {
        snprintf(out, out_size, "%s/stdout.%ld", e->dir, (long)pid);
        snprintf(err, err_size, "%s/stderr.%ld", e->dir, (long)pid);
}

static pid_t start(E2e *e, const char *const *args, const char *stdin_path) {
        const char *bin = env_or("VSENSOR_INIT", "build/vsensor-init");
        const char *argv[32] = {bin, "--root", e->root, "--config", e->config};
        size_t n = 5;
        for (const char *const *a = args; a && *a && n < 31; a++) argv[n++] = *a;
        argv[n] = NULL;
        pid_t parent = getpid();
        pid_t pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                if (e->die_with_test && (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)) _exit(127);
                char out[320], err[320];
                output_paths(e, getpid(), out, sizeof out, err, sizeof err);
                int o = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
                int er = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0600);
                int in = open(stdin_path ? stdin_path : "/dev/null", O_RDONLY);
                if (o < 0 || er < 0 || in < 0) _exit(127);
                dup2(in, 0);
                dup2(o, 1);
                dup2(er, 2);
                const char *env[32] = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8"};
                size_t k = 2;
                for (const char *const *x = e->extra_env; x && *x && k < 31; x++) env[k++] = *x;
                env[k] = NULL;
                execve(bin, (char *const *)argv, (char *const *)env);
                _exit(127);
        }
        return pid;
}

pid_t e2e_start(E2e *e, const char *const *args) {
        return start(e, args, NULL);
}

int e2e_run_stdin(E2e *e, const char *const *args, const char *text) {
        char in[320];
        snprintf(in, sizeof in, "%s/stdin", e->dir);
        ck_assert_int_eq(write_file_atomic(in, text, strlen(text), 0600), 0);
        int64_t t0 = now_monotonic_ms();
        int r = e2e_wait(e, start(e, args, in));
        e->wall_ms = (double)(now_monotonic_ms() - t0);
        unlink(in);
        return r;
}

static void append_output(const char *text) {
        if (!text) return;
        char *n = strjoin(all_output ? all_output : "", text, NULL);
        free(all_output);
        all_output = n;
}

int e2e_wait(E2e *e, pid_t pid) {
        int status;
        while (waitpid(pid, &status, 0) < 0) ck_assert_int_eq(errno, EINTR);
        char out[320], err[320];
        output_paths(e, pid, out, sizeof out, err, sizeof err);
        free(e->out);
        free(e->err);
        e->out = slurp(out);
        e->err = slurp(err);
        unlink(out);
        unlink(err);
        append_output(e->out);
        append_output(e->err);
        e->exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        return e->exit_code;
}

int e2e_run(E2e *e, const char *const *args) {
        int64_t start = now_monotonic_ms();
        int r = e2e_wait(e, e2e_start(e, args));
        e->wall_ms = (double)(now_monotonic_ms() - start);
        return r;
}

char *e2e_read(E2e *e, const char *path) {
        _cleanup_free_ char *p = under(e, path);
        return slurp(p);
}

bool e2e_exists(E2e *e, const char *path) {
        _cleanup_free_ char *p = under(e, path);
        return access(p, F_OK) == 0;
}

int e2e_mode(E2e *e, const char *path) {
        _cleanup_free_ char *p = under(e, path);
        struct stat st;
        if (stat(p, &st) < 0) return -1;
        return (int)(st.st_mode & 07777);
}

char *e2e_helper_calls(E2e *e) {
        char *s = e2e_read(e, "/fake/helpers.argv");
        return s ? s : strdup("");
}

size_t e2e_count(E2e *e, const char *method, const char *path) {
        return fake_server_count(e->fake, method, path);
}

static const char *scan_root;
static int scan_found = -1;
static char scan_file[1024];

static int scan_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        if (flag != FTW_F || !S_ISREG(st->st_mode)) return 0;
        const char *rel = path + strlen(scan_root);
        /* The one file that holds secrets by design, and the fake vSensor's own record. */
        if (streq(rel, "/var/lib/vsensor-init/custom-data") || streq(rel, "/fake/helpers.argv")) return 0;
        _cleanup_free_ char *data = slurp(path);
        if (!data) return 0;
        for (size_t i = 0; canary_values[i]; i++)
                if (memmem(data, strlen(data), canary_values[i], strlen(canary_values[i]))) {
                        scan_found = (int)i;
                        snprintf(scan_file, sizeof scan_file, "%s", rel);
                        return 1;
                }
        return 0;
}

void e2e_assert_no_secrets(E2e *e) {
        /* Messages name the canary by number: the test output must not hold it either. */
        for (size_t i = 0; canary_values[i]; i++)
                ck_assert_msg(!all_output || !strstr(all_output, canary_values[i]),
                              "canary secret #%zu appeared in the agent's output", i);
        scan_root = e->root;
        scan_found = -1;
        nftw(e->root, scan_entry, 32, FTW_PHYS);
        ck_assert_msg(scan_found < 0, "canary secret #%d found in %s", scan_found, scan_file);
}
