/* bench: the figures of docs/PERFORMANCE.md. Runs the real vsensor-init (and the
 * baseline user-data script) against the in-process fake Azure server on 127.0.0.1
 * with provisioning: none, the bench installer and trivial helpers, each run in a
 * fresh --root; measures wall time (clock_gettime), CPU time (rusage of the whole
 * process tree: this program is a child subreaper and reaps every descendant) and
 * peak RSS (the tree's largest process from wait4(), and the top process's own VmHWM
 * read at its exit through PTRACE_O_TRACEEXIT).
 *
 *   bench [--runs N] [--json FILE]                 bootstrap, no-op, latency, download
 *   bench fleet [--n N] [--rate C] [--retry-after S|-1] [--json FILE]
 *
 * Needs TOP (source tree), VSENSOR_INIT and CERTS, as `make bench` sets them. */
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "canary.h"
#include "fake-server.h"
#include "util.h"

#define MIB (1024.0 * 1024.0)

typedef struct Bench {
        const char *top, *bin, *certs;
        char work[128];
        FakeServer *fake;
        char *http_url, *https_url;
        char *instance, *helper, *ovf, *ca, *installer;
        unsigned serial;   /* for fresh root names */
        json_t *json, *targets;
        FILE *table;
} Bench;

typedef struct Run {
        double wall_ms, cpu_ms;
        long tree_rss_kb, own_hwm_kb, own_anon_kb;
        int status;        /* exit code, or 128 + signal */
} Run;

_Noreturn static void die(const char *fmt, ...) _printf_(1, 2);
static void die(const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        fputs("bench: ", stderr);
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
        va_end(ap);
        exit(1);
}

static double mono_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static double real_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static char *slurp(const char *path, size_t *ret_len) {
        char *data = NULL;
        int r = read_file_capped(path, 256u * 1024 * 1024, &data, ret_len);
        if (r < 0) die("cannot read %s: %s", path, strerror(-r));
        return data;
}

static char *src(const Bench *b, const char *rel) {
        char *p = strjoin(b->top, "/", rel);
        if (!p) die("out of memory");
        return p;
}

static void put(const char *root, const char *path, const char *data, size_t len, mode_t mode) {
        _cleanup_free_ char *p = path_under_root(root, path);
        _cleanup_free_ char *d = p ? path_dirname(p) : NULL;
        if (!d || mkdir_p(d, 0755) < 0 || write_file_atomic(p, data, len, mode) < 0)
                die("cannot write %s under %s", path, root);
}

static void put_str(const char *root, const char *path, const char *text, mode_t mode) {
        put(root, path, text, strlen(text), mode);
}

/* ---- statistics ---- */

static int cmp_double(const void *a, const void *b) {
        double x = *(const double *)a, y = *(const double *)b;
        return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of n values (sorted in place). */
static double pct(double *v, size_t n, double p) {
        if (n == 0) return NAN;
        qsort(v, n, sizeof *v, cmp_double);
        size_t k = (size_t)ceil(p / 100.0 * (double)n);
        return v[k > 0 ? k - 1 : 0];
}

static double median(double *v, size_t n) {
        if (n == 0) return NAN;
        qsort(v, n, sizeof *v, cmp_double);
        return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void target(Bench *b, const char *name, double value, double limit, bool at_least, const char *unit) {
        bool met = at_least ? value >= limit : value <= limit;
        json_object_set_new(b->targets, name, json_pack("{s:f, s:f, s:s, s:b}", "value", value, "limit", limit,
                                                        "unit", unit, "met", met));
        fprintf(b->table, "  target %-32s %10.2f %-4s %s %8.2f  %s\n", name, value, unit, at_least ? ">=" : "<=",
                limit, met ? "met" : "MISSED");
}

/* ---- running and measuring ---- */

/* VmHWM (peak resident, shared library pages included) and RssAnon (private memory
 * at exit, i.e. what the process allocated) of a stopped process. */
static long read_hwm_kb(pid_t pid, long *ret_anon_kb) {
        char path[64], line[256];
        long kb = -1;
        snprintf(path, sizeof path, "/proc/%ld/status", (long)pid);
        FILE *f = fopen(path, "re");
        if (!f) return -1;
        while (fgets(line, sizeof line, f))
                if (sscanf(line, "VmHWM: %ld kB", &kb) != 1) sscanf(line, "RssAnon: %ld kB", ret_anon_kb);
        fclose(f);
        return kb;
}

static pid_t spawn(char *const argv[], char *const envp[], const char *out, bool trace) {
        pid_t pid = fork();
        if (pid < 0) die("fork: %m");
        if (pid == 0) {
                int in = open("/dev/null", O_RDONLY | O_CLOEXEC);
                int o = open(out ? out : "/dev/null", O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
                if (in < 0 || o < 0 || dup2(in, 0) < 0 || dup2(o, 1) < 0 || dup2(o, 2) < 0) _exit(127);
                if (trace && ptrace(PTRACE_TRACEME, 0, NULL, NULL) < 0) _exit(127);
                execve(argv[0], argv, envp);
                _exit(127);
        }
        return pid;
}

static int exit_code(int st) { return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st); }

/* Runs argv to completion and everything it left behind (we are a subreaper). */
static Run measure(char *const argv[], char *const envp[], const char *out, bool trace) {
        struct rusage before, after, ru;
        Run run = {.own_hwm_kb = -1};
        int st;

        getrusage(RUSAGE_CHILDREN, &before);
        double t0 = mono_ms();
        pid_t pid = spawn(argv, envp, out, trace);
        if (trace) {
                /* Stopped at its execve: ask for a stop at its exit, where VmHWM is final. */
                if (waitpid(pid, &st, 0) != pid || !WIFSTOPPED(st)) die("traced child did not stop");
                ptrace(PTRACE_SETOPTIONS, pid, NULL, (void *)(long)(PTRACE_O_TRACEEXIT | PTRACE_O_EXITKILL));
                ptrace(PTRACE_CONT, pid, NULL, NULL);
        }
        for (;;) {
                if (wait4(pid, &st, 0, &ru) != pid) die("wait4: %m");
                if (!WIFSTOPPED(st)) break;
                if (st >> 8 == (SIGTRAP | (PTRACE_EVENT_EXIT << 8))) {
                        run.own_hwm_kb = read_hwm_kb(pid, &run.own_anon_kb);
                        ptrace(PTRACE_CONT, pid, NULL, NULL);
                } else
                        ptrace(PTRACE_CONT, pid, NULL, (void *)(long)WSTOPSIG(st));
        }
        run.wall_ms = mono_ms() - t0;
        while (waitpid(-1, NULL, 0) > 0) {}   /* orphans (tee of the script) */
        getrusage(RUSAGE_CHILDREN, &after);
        run.cpu_ms = (double)(after.ru_utime.tv_sec - before.ru_utime.tv_sec + after.ru_stime.tv_sec -
                              before.ru_stime.tv_sec) * 1e3 +
                     (double)(after.ru_utime.tv_usec - before.ru_utime.tv_usec + after.ru_stime.tv_usec -
                              before.ru_stime.tv_usec) / 1e3;
        run.tree_rss_kb = ru.ru_maxrss;
        run.status = exit_code(st);
        return run;
}

/* ---- the bench environment ---- */

static void write_config(const Bench *b, const char *dir, int installer_deadline) {
        char path[256], text[1024];
        snprintf(path, sizeof path, "%s/config.yaml", dir);
        int n = snprintf(text, sizeof text,
                         "provisioning: none\n"
                         "imds: { url: \"%s\", deadline: 60 }\n"
                         "wireserver: { url: \"%s\", deadline: 60 }\n"
                         "installer: { url: \"%s/install\", ca_file: /test-ca.pem, deadline: %d }\n"
                         "apt_lock_deadline: 60\n"
                         "helpers: { attempts: 3, timeout: 60 }\n"
                         "paths:\n  ovf_media: /media/ovf\n",
                         b->http_url, b->http_url, b->https_url, installer_deadline);
        if (write_file_atomic(path, text, (size_t)n, 0600) < 0) die("cannot write %s", path);
}

/* A fresh instance: DMI id, the OVF media with the custom data, the image's helpers
 * and apt lock files, the test CA; dir/root and dir/config.yaml. */
static void make_instance(Bench *b, char *dir, size_t size, int installer_deadline) {
        snprintf(dir, size, "%s/i%05u", b->work, b->serial++);
        _cleanup_free_ char *root = strjoin(dir, "/root", NULL);
        if (!root || mkdir_p(root, 0755) < 0) die("cannot make %s", dir);
        put_str(root, "/sys/class/dmi/id/product_uuid", "6F1C1A8E-9A4B-4A51-8C5E-2A0D3F4B5C6D\n", 0444);
        put_str(root, "/sys/firmware/efi/efivars/.keep", "", 0644);
        put_str(root, "/media/ovf/ovf-env.xml", b->ovf, 0644);
        put_str(root, "/test-ca.pem", b->ca, 0644);
        static const char *const helpers[] = {
                "set_pushtoken.sh", "set_ossensor_hmac.sh", "set_pcap_azure_container.sh", "set_pcap_size.sh",
                "set_ossensor_loadbalancer_direct.sh", "set_tcp_proxy_access.sh", "set_ephemeral.sh",
        };
        for (size_t i = 0; i < ELEMENTSOF(helpers); i++) {
                char p[128];
                snprintf(p, sizeof p, "/usr/sbin/%s", helpers[i]);
                put_str(root, p, b->helper, 0755);
        }
        static const char *const locks[] = {"/var/lib/dpkg/lock-frontend", "/var/lib/dpkg/lock",
                                             "/var/lib/apt/lists/lock", "/var/cache/apt/archives/lock"};
        for (size_t i = 0; i < ELEMENTSOF(locks); i++) put_str(root, locks[i], "", 0640);
        put_str(root, "/etc/darktrace/.keep", "", 0644);
        put_str(root, "/etc/apt/apt.conf.d/.keep", "", 0644);
        put_str(root, "/var/log/.keep", "", 0644);
        put_str(root, "/var/tmp/.keep", "", 0644);
        put_str(root, "/bench/.keep", "", 0644);
        write_config(b, dir, installer_deadline);
}

static char *const agent_env[] = {"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", NULL};

typedef struct Argv {
        char *v[8];
        char buf[3][512];
} Argv;

static void agent_argv(const Bench *b, const char *dir, const char *command, Argv *a) {
        snprintf(a->buf[0], sizeof a->buf[0], "%s/root", dir);
        snprintf(a->buf[1], sizeof a->buf[1], "%s/config.yaml", dir);
        char **v = a->v;
        *v++ = (char *)b->bin;
        if (!streq(command, "version")) {
                *v++ = (char *)"--root";
                *v++ = a->buf[0];
                *v++ = (char *)"--config";
                *v++ = a->buf[1];
        }
        *v++ = (char *)command;
        *v = NULL;
}

static Run run_agent(Bench *b, const char *dir, const char *command, bool trace) {
        Argv a;
        char out[512];
        agent_argv(b, dir, command, &a);
        snprintf(out, sizeof out, "%s/agent.out", dir);
        return measure(a.v, agent_env, out, trace);
}

static Run run_script(Bench *b, const char *dir, bool trace) {
        char env[10][512], out[512];
        _cleanup_free_ char *script = src(b, "bench/baseline-userdata.sh");
        snprintf(env[0], sizeof env[0], "%s", agent_env[0]);
        snprintf(env[1], sizeof env[1], "VSENSOR_INIT_ROOT=%s/root", dir);
        snprintf(env[2], sizeof env[2], "IMDS_URL=%s", b->http_url);
        snprintf(env[3], sizeof env[3], "CDN_URL=%s", b->https_url);
        snprintf(env[4], sizeof env[4], "CA_FILE=%s/root/test-ca.pem", dir);
        snprintf(env[5], sizeof env[5], "UPDATE_KEY=%s", CANARY_UPDATE_KEY);
        snprintf(env[6], sizeof env[6], "PUSH_TOKEN=%s", CANARY_PUSH_TOKEN);
        snprintf(env[7], sizeof env[7], "HMAC_TOKEN=%s", CANARY_HMAC_TOKEN);
        snprintf(env[8], sizeof env[8], "MASTER=dt-master.example.com");
        char *envp[] = {env[0], env[1], env[2], env[3], env[4], env[5], env[6], env[7], env[8], NULL};
        char *argv[] = {(char *)"/bin/bash", script, NULL};
        snprintf(out, sizeof out, "%s/script.out", dir);
        return measure(argv, envp, out, trace);
}

static bool file_exists_under(const char *dir, const char *path) {
        char p[512];
        snprintf(p, sizeof p, "%s/root%s", dir, path);
        return access(p, F_OK) == 0;
}

/* Realtime ms of the first log line containing needle; NAN when none. */
static double log_time(const char *dir, const char *needle) {
        char p[512], line[2048];
        snprintf(p, sizeof p, "%s/root/var/log/user-data.log", dir);
        FILE *f = fopen(p, "re");
        if (!f) return NAN;
        double t = NAN;
        while (fgets(line, sizeof line, f)) {
                if (!strstr(line, needle)) continue;
                struct tm tm = {0};
                int ms = 0;
                if (sscanf(line, "%d-%d-%dT%d:%d:%d.%dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min,
                           &tm.tm_sec, &ms) == 7) {
                        tm.tm_year -= 1900;
                        tm.tm_mon -= 1;
                        t = (double)timegm(&tm) * 1e3 + ms;
                }
                break;
        }
        fclose(f);
        return t;
}

/* Adds, for every "installer download: try N failed (...); retrying in D ms" line, the
 * time of the retry it announces (realtime ms + D) to hist, per second from origin. */
static void log_retries(const char *dir, double origin, long *hist, int seconds) {
        char p[512], line[2048];
        snprintf(p, sizeof p, "%s/root/var/log/user-data.log", dir);
        FILE *f = fopen(p, "re");
        if (!f) return;
        while (fgets(line, sizeof line, f)) {
                const char *r = strstr(line, "retrying in ");
                if (!strstr(line, "installer download: try ") || !r) continue;
                struct tm tm = {0};
                int ms = 0;
                if (sscanf(line, "%d-%d-%dT%d:%d:%d.%dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min,
                           &tm.tm_sec, &ms) != 7)
                        continue;
                tm.tm_year -= 1900;
                tm.tm_mon -= 1;
                double t = (double)timegm(&tm) * 1e3 + ms + strtod(r + strlen("retrying in "), NULL) - origin;
                long sec = (long)(t / 1000);
                hist[sec < 0 ? 0 : sec > seconds ? seconds : sec]++;
        }
        fclose(f);
}

static long log_number_after(const char *dir, const char *needle) {
        char p[512], line[2048];
        snprintf(p, sizeof p, "%s/root/var/log/user-data.log", dir);
        FILE *f = fopen(p, "re");
        long v = -1;
        if (!f) return -1;
        while (fgets(line, sizeof line, f)) {
                char *s = strstr(line, needle);
                if (s) {
                        v = strtol(s + strlen(needle), NULL, 10);
                        break;
                }
        }
        fclose(f);
        return v;
}

static double installer_start_ms(const char *dir) {
        char p[512];
        snprintf(p, sizeof p, "%s/root/bench/installer-start", dir);
        _cleanup_free_ char *s = NULL;
        if (read_file_capped(p, 128, &s, NULL) < 0) return NAN;
        return strtod(s, NULL) * 1e3;   /* bash's $EPOCHREALTIME: seconds.microseconds */
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) { return remove(path); }
static void rm_rf(const char *dir) { if (getenv("BENCH_KEEP")) return; nftw(dir, rm_entry, 32, FTW_DEPTH | FTW_PHYS); }

static void route_instance(Bench *b, int status) {
        FakeResponse r = {.status = status, .body = status == 200 ? b->instance : "busy",
                          .content_type = "application/json"};
        if (fake_server_route(b->fake, "GET", "/metadata/instance", &r, 1) < 0) die("route");
}

static void route_installer(Bench *b, size_t size, int rate, int retry_after) {
        size_t len = strlen(b->installer);
        _cleanup_free_ char *body = NULL;
        if (size > len) {
                /* The script exits before bash reads the padding: one long comment line. */
                body = malloc(size + 1);
                if (!body) die("out of memory");
                memcpy(body, b->installer, len);
                body[len] = '#';
                memset(body + len + 1, 'x', size - len - 2);
                body[size - 1] = '\n';
                body[size] = 0;
        }
        FakeResponse r = {.body = body ? body : b->installer, .body_len = body ? size : len,
                          .rate_limit_per_s = rate, .retry_after_s = retry_after};
        if (fake_server_route(b->fake, "GET", "/install", &r, 1) < 0) die("route");
}

static void bench_setup(Bench *b) {
        b->top = getenv("TOP") ? getenv("TOP") : ".";
        b->bin = getenv("VSENSOR_INIT") ? getenv("VSENSOR_INIT") : "build/vsensor-init";
        b->certs = getenv("CERTS") ? getenv("CERTS") : "build/test/certs";
        if (access(b->bin, X_OK) < 0) die("no agent at %s (run me through make bench)", b->bin);
        /* BENCH_TMPDIR=/dev/shm takes the disk (fsync) out of the figures. */
        const char *tmp = getenv("BENCH_TMPDIR");
        snprintf(b->work, sizeof b->work, "%s/vsensor-bench.XXXXXX", tmp && *tmp ? tmp : "/tmp");
        if (!mkdtemp(b->work)) die("mkdtemp: %m");

        _cleanup_free_ char *p1 = src(b, "test/data/imds/instance.json"), *p2 = src(b, "bench/helper.sh"),
                            *p3 = src(b, "test/data/ovf/azure.xml"), *p4 = src(b, "bench/installer.sh");
        _cleanup_free_ char *p5 = strjoin(b->certs, "/ca.pem", NULL), *cert = strjoin(b->certs, "/server.pem", NULL),
                            *key = strjoin(b->certs, "/server-key.pem", NULL);
        b->instance = slurp(p1, NULL);
        b->helper = slurp(p2, NULL);
        b->ovf = slurp(p3, NULL);
        b->installer = slurp(p4, NULL);
        b->ca = slurp(p5, NULL);

        b->fake = fake_server_start(&(FakeServerOptions){.cert_file = cert, .key_file = key});
        if (!b->fake) die("cannot start the fake server");
        b->http_url = fake_server_url(b->fake, false);
        b->https_url = fake_server_url(b->fake, true);
        route_instance(b, 200);
        route_installer(b, 0, 0, 0);

        prctl(PR_SET_CHILD_SUBREAPER, 1);
        b->json = json_object();
        b->targets = json_object();
        b->table = stdout;
}

static void bench_teardown(Bench *b) {
        fake_server_stop(b->fake);
        if (!getenv("BENCH_KEEP")) rm_rf(b->work);
}

static json_t *machine(void) {
        struct utsname u;
        uname(&u);
        char model[256] = "?", line[512];
        FILE *f = fopen("/proc/cpuinfo", "re");
        while (f && fgets(line, sizeof line, f)) {
                char *c = strchr(line, ':');
                if (strncmp(line, "model name", 10) == 0 && c) {
                        snprintf(model, sizeof model, "%s", c + 2);
                        model[strcspn(model, "\n")] = 0;
                        break;
                }
        }
        if (f) fclose(f);
        long mem = sysconf(_SC_PHYS_PAGES) * (sysconf(_SC_PAGESIZE) / 1024) / 1024;
        return json_pack("{s:s, s:i, s:I, s:s}", "cpu", model, "cpus", (int)sysconf(_SC_NPROCESSORS_ONLN),
                         "memory_mib", (json_int_t)mem, "kernel", u.release);
}

/* ---- sections ---- */

static json_t *summary(const char *who, Run *runs, size_t n, FILE *t) {
        double *wall = calloc(5 * n, sizeof *wall), *cpu = wall + n, *tree = cpu + n, *own = tree + n, *anon = own + n;
        if (!wall) die("out of memory");
        for (size_t i = 0; i < n; i++) {
                wall[i] = runs[i].wall_ms;
                cpu[i] = runs[i].cpu_ms;
                tree[i] = (double)runs[i].tree_rss_kb / 1024;
                own[i] = (double)runs[i].own_hwm_kb / 1024;
                anon[i] = (double)runs[i].own_anon_kb / 1024;
        }
        double mw = median(wall, n), p95w = pct(wall, n, 95), mc = median(cpu, n), mt = median(tree, n),
               maxt = pct(tree, n, 100), mo = median(own, n), maxo = pct(own, n, 100), maxa = pct(anon, n, 100);
        fprintf(t, "  %-8s %10.1f %10.1f %10.1f %12.2f %12.2f %12.2f %12.2f\n", who, mw, p95w, mc, mo, maxo, maxa, maxt);
        free(wall);
        return json_pack("{s:i, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f}", "runs", (int)n, "wall_ms_median", mw, "wall_ms_p95",
                         p95w, "cpu_ms_median", mc, "own_rss_mib_median", mo, "own_rss_mib_max", maxo,
                         "own_anon_mib_max", maxa,
                         "tree_rss_mib_median", mt, "tree_rss_mib_max", maxt);
}

static void section_bootstrap(Bench *b, int runs) {
        Run *agent = calloc((size_t)runs, sizeof *agent), *script = calloc((size_t)runs, sizeof *script);
        if (!agent || !script) die("out of memory");
        /* One untimed run of each warms the page cache and the server. */
        for (int i = -1; i < runs; i++) {
                char da[256], ds[256];
                make_instance(b, da, sizeof da, 60);
                make_instance(b, ds, sizeof ds, 60);
                Run ra, rs;
                if (i % 2) {
                        ra = run_agent(b, da, "run", true);
                        rs = run_script(b, ds, true);
                } else {
                        rs = run_script(b, ds, true);
                        ra = run_agent(b, da, "run", true);
                }
                if (ra.status != 0 || !file_exists_under(da, "/etc/darktrace/.user-data-success"))
                        die("agent run failed (exit %d): see %s/agent.out (BENCH_KEEP=1 keeps it)", ra.status, da);
                if (rs.status != 0 || !file_exists_under(ds, "/etc/darktrace/.user-data-success"))
                        die("baseline script failed (exit %d): see %s/script.out", rs.status, ds);
                if (i >= 0) {
                        agent[i] = ra;
                        script[i] = rs;
                }
                rm_rf(da);
                rm_rf(ds);
        }
        FILE *t = b->table;
        fprintf(t, "\nFull bootstrap (provisioning: none, instant installer, trivial helpers), %d runs each, alternated\n", runs);
        fprintf(t, "  %-8s %10s %10s %10s %12s %12s %12s %12s\n", "", "wall p50", "wall p95", "CPU p50", "own RSS p50",
                "own RSS max", "own anon max", "tree RSS max");
        fprintf(t, "  %-8s %10s %10s %10s %12s %12s %12s %12s\n", "", "ms", "ms", "ms", "MiB", "MiB", "MiB", "MiB");
        json_t *ja = summary("agent", agent, (size_t)runs, t);
        json_t *js = summary("script", script, (size_t)runs, t);
        double rw = json_real_value(json_object_get(ja, "wall_ms_median")) / json_real_value(json_object_get(js, "wall_ms_median"));
        double rc = json_real_value(json_object_get(ja, "cpu_ms_median")) / json_real_value(json_object_get(js, "cpu_ms_median"));
        fprintf(t, "  %-8s %10.2f %10s %10.2f\n", "ratio", rw, "", rc);
        json_object_set_new(b->json, "bootstrap", json_pack("{s:o, s:o, s:f, s:f}", "agent", ja, "script", js,
                                                            "ratio_wall", rw, "ratio_cpu", rc));
        target(b, "bootstrap wall agent/script", rw, 0.5, false, "x");
        target(b, "bootstrap CPU agent/script", rc, 0.5, false, "x");
        target(b, "bootstrap agent peak RSS (own)",
               json_real_value(json_object_get(ja, "own_rss_mib_max")), 5.0, false, "MiB");
        target(b, "bootstrap agent private memory", json_real_value(json_object_get(ja, "own_anon_mib_max")), 5.0, false,
               "MiB");
        free(agent);
        free(script);
}

static void section_noop(Bench *b, int runs) {
        char d[256];
        make_instance(b, d, sizeof d, 60);
        Run first = run_agent(b, d, "run", false);
        if (first.status != 0) die("agent run failed (exit %d): see %s/agent.out", first.status, d);
        double *noop = calloc((size_t)runs, sizeof *noop), *ver = calloc((size_t)runs, sizeof *ver);
        if (!noop || !ver) die("out of memory");
        for (int i = -1; i < runs; i++) {
                Run rn = {0}, rv = {0};
                if (i % 2) {
                        rn = run_agent(b, d, "run", false);
                        rv = run_agent(b, d, "version", false);
                } else {
                        rv = run_agent(b, d, "version", false);
                        rn = run_agent(b, d, "run", false);
                }
                if (rn.status != 0 || rv.status != 0) die("no-op run or version failed: see %s/agent.out", d);
                if (i >= 0) {
                        noop[i] = rn.wall_ms;
                        ver[i] = rv.wall_ms;
                }
        }
        double mn = median(noop, (size_t)runs), mv = median(ver, (size_t)runs);
        fprintf(b->table, "\nNo-op rerun (already bootstrapped), %d runs each, alternated\n", runs);
        fprintf(b->table, "  run (no-op) wall p50 %.2f ms   version wall p50 %.2f ms   ratio %.2f\n", mn, mv, mn / mv);
        json_object_set_new(b->json, "noop", json_pack("{s:i, s:f, s:f, s:f}", "runs", runs, "noop_wall_ms_median", mn,
                                                       "version_wall_ms_median", mv, "ratio", mn / mv));
        target(b, "no-op wall / version wall", mn / mv, 1.5, false, "x");
        free(noop);
        free(ver);
        rm_rf(d);
}

static json_t *latency_json(double *v, size_t n) {
        double p50 = pct(v, n, 50), p95 = pct(v, n, 95), mx = pct(v, n, 100), mn = pct(v, n, 0);
        return json_pack("{s:i, s:f, s:f, s:f, s:f}", "n", (int)n, "min_ms", mn, "p50_ms", p50, "p95_ms", p95, "max_ms", mx);
}

static void section_lock(Bench *b, int runs) {
        double *lat = calloc((size_t)runs, sizeof *lat);
        if (!lat) die("out of memory");
        for (int i = 0; i < runs; i++) {
                char d[256], lock[512];
                make_instance(b, d, sizeof d, 60);
                snprintf(lock, sizeof lock, "%s/root/var/lib/dpkg/lock-frontend", d);
                int fd = open(lock, O_RDWR | O_CLOEXEC);
                struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
                if (fd < 0 || fcntl(fd, F_SETLK, &fl) < 0) die("cannot lock %s: %m", lock);
                Argv a;
                char out[512];
                agent_argv(b, d, "run", &a);
                snprintf(out, sizeof out, "%s/agent.out", d);
                pid_t pid = spawn(a.v, agent_env, out, false);
                /* Released once the agent waits, at a random phase of its probe interval. */
                for (int k = 0; k < 3000 && isnan(log_time(d, "waiting for")); k++) sleep_ms(5);
                sleep_ms(50 + (int64_t)random_below(50));
                double released = real_ms();
                close(fd);
                int st;
                if (waitpid(pid, &st, 0) != pid || exit_code(st) != 0) die("agent run failed: see %s/agent.out", d);
                if (isnan(log_time(d, "waiting for"))) die("the agent did not wait for the lock: see %s", d);
                lat[i] = installer_start_ms(d) - released;
                rm_rf(d);
        }
        json_t *j = latency_json(lat, (size_t)runs);
        fprintf(b->table, "\nReaction: dpkg lock released -> installer started, %d runs\n", runs);
        fprintf(b->table, "  min %.1f ms  p50 %.1f ms  p95 %.1f ms  max %.1f ms\n", json_real_value(json_object_get(j, "min_ms")),
                json_real_value(json_object_get(j, "p50_ms")), json_real_value(json_object_get(j, "p95_ms")),
                json_real_value(json_object_get(j, "max_ms")));
        json_object_set_new(b->json, "lock_release_to_installer", j);
        target(b, "lock release -> installer p95", json_real_value(json_object_get(j, "p95_ms")), 100, false, "ms");
        free(lat);
}

/* IMDS answers 503 for 5 s, then the instance: several agents per round, each with
 * its own retry timing, finish the metadata step some time after the switch. */
static void section_imds(Bench *b, int rounds, int per_round) {
        size_t n = (size_t)(rounds * per_round), k = 0;
        double *lat = calloc(n, sizeof *lat);
        char (*dirs)[256] = calloc((size_t)per_round, sizeof *dirs);
        pid_t *pids = calloc((size_t)per_round, sizeof *pids);
        if (!lat || !dirs || !pids) die("out of memory");
        for (int r = 0; r < rounds; r++) {
                route_instance(b, 503);
                for (int i = 0; i < per_round; i++) {
                        Argv a;
                        char out[512];
                        make_instance(b, dirs[i], sizeof dirs[i], 60);
                        agent_argv(b, dirs[i], "run", &a);
                        snprintf(out, sizeof out, "%s/agent.out", dirs[i]);
                        pids[i] = spawn(a.v, agent_env, out, false);
                }
                sleep_ms(5000);
                route_instance(b, 200);
                double back = real_ms();
                for (int i = 0; i < per_round; i++) {
                        int st;
                        if (waitpid(pids[i], &st, 0) != pids[i] || exit_code(st) != 0)
                                die("agent run failed: see %s/agent.out", dirs[i]);
                        double done = log_time(dirs[i], "metadata: done");
                        if (isnan(done)) die("no 'metadata: done' in %s's log", dirs[i]);
                        lat[k++] = done - back;
                        rm_rf(dirs[i]);
                }
        }
        json_t *j = latency_json(lat, n);
        fprintf(b->table, "\nReaction: IMDS answers again after a 5 s outage (HTTP 503) -> metadata step done, %zu agents\n", n);
        fprintf(b->table, "  min %.0f ms  p50 %.0f ms  p95 %.0f ms  max %.0f ms   (log timestamps: 1 ms resolution)\n",
                json_real_value(json_object_get(j, "min_ms")), json_real_value(json_object_get(j, "p50_ms")),
                json_real_value(json_object_get(j, "p95_ms")), json_real_value(json_object_get(j, "max_ms")));
        json_object_set_new(b->json, "imds_back_to_metadata_done", j);
        target(b, "IMDS back -> metadata done p95", json_real_value(json_object_get(j, "p95_ms")), 1500, false, "ms");
        free(lat);
        free(dirs);
        free(pids);
}

typedef struct Dl {
        double mbps;     /* MB/s, 10^6 bytes */
        double rss_mib;  /* the downloading process's own peak */
} Dl;

static Dl download_agent(Bench *b, size_t size) {
        char d[256];
        make_instance(b, d, sizeof d, 600);
        Run r = run_agent(b, d, "run", true);
        if (r.status != 0) die("agent run failed: see %s/agent.out", d);
        long ms = log_number_after(d, " bytes in ");
        long bytes = log_number_after(d, "downloaded the installer: ");
        if (ms < 0 || bytes != (long)size) die("no download figures in %s's log", d);
        rm_rf(d);
        return (Dl){.mbps = (double)size / 1e6 / ((double)(ms > 0 ? ms : 1) / 1e3), .rss_mib = (double)r.own_hwm_kb / 1024};
}

static Dl download_curl(Bench *b, size_t size) {
        char d[256], ca[512], file[512], url[256], out[512];
        make_instance(b, d, sizeof d, 600);
        snprintf(ca, sizeof ca, "%s/root/test-ca.pem", d);
        snprintf(file, sizeof file, "%s/root/var/tmp/install.sh", d);
        snprintf(url, sizeof url, "%s/install", b->https_url);
        snprintf(out, sizeof out, "%s/curl.out", d);
        char *argv[] = {(char *)"/usr/bin/curl", (char *)"-sS", (char *)"-f", (char *)"--cacert", ca, (char *)"-o", file,
                        (char *)"-w", (char *)"%{time_total} %{size_download}\n", url, NULL};
        Run r = measure(argv, agent_env, out, false);
        _cleanup_free_ char *text = NULL;
        double secs = 0, bytes = 0;
        if (r.status != 0 || read_file_capped(out, 4096, &text, NULL) < 0 || sscanf(text, "%lf %lf", &secs, &bytes) != 2 ||
            (size_t)bytes != size)
                die("curl failed: see %s", out);
        rm_rf(d);
        return (Dl){.mbps = (double)size / 1e6 / secs, .rss_mib = (double)r.tree_rss_kb / 1024};
}

static void section_download(Bench *b, int runs) {
        static const size_t sizes[] = {5u * 1000 * 1000, 50u * 1000 * 1000};
        json_t *j = json_object();
        double agent_rss[2] = {0}, ratio50 = 0;
        fprintf(b->table, "\nDownload of the installer over HTTPS from the fake CDN (agent: the full run, figures from its log;\n"
                          "curl -o: its own time_total), %d runs each, alternated\n", runs);
        fprintf(b->table, "  %-6s %14s %14s %8s %14s %14s\n", "size", "agent MB/s", "curl MB/s", "ratio", "agent RSS MiB",
                "curl RSS MiB");
        for (size_t s = 0; s < ELEMENTSOF(sizes); s++) {
                route_installer(b, sizes[s], 0, 0);
                double *am = calloc(4 * (size_t)runs, sizeof *am), *cm = am + runs, *ar = cm + runs, *cr = ar + runs;
                if (!am) die("out of memory");
                for (int i = 0; i < runs; i++) {
                        Dl a, c;
                        if (i % 2) {
                                a = download_agent(b, sizes[s]);
                                c = download_curl(b, sizes[s]);
                        } else {
                                c = download_curl(b, sizes[s]);
                                a = download_agent(b, sizes[s]);
                        }
                        am[i] = a.mbps;
                        cm[i] = c.mbps;
                        ar[i] = a.rss_mib;
                        cr[i] = c.rss_mib;
                }
                double a50 = median(am, (size_t)runs), c50 = median(cm, (size_t)runs), arm = pct(ar, (size_t)runs, 100),
                       crm = pct(cr, (size_t)runs, 100);
                fprintf(b->table, "  %4zu MB %14.1f %14.1f %8.2f %14.2f %14.2f\n", sizes[s] / 1000000, a50, c50, a50 / c50,
                        arm, crm);
                char key[32];
                snprintf(key, sizeof key, "%zu_MB", sizes[s] / 1000000);
                json_object_set_new(j, key, json_pack("{s:i, s:f, s:f, s:f, s:f, s:f}", "runs", runs, "agent_MB_s_median", a50,
                                                      "curl_MB_s_median", c50, "ratio", a50 / c50, "agent_rss_mib_max", arm,
                                                      "curl_rss_mib_max", crm));
                free(am);
                agent_rss[s] = arm;
                ratio50 = a50 / c50;
        }
        route_installer(b, 0, 0, 0);
        json_object_set_new(b->json, "download", j);
        target(b, "download 50 MB agent/curl throughput", ratio50, 0.8, true, "x");
        target(b, "agent RSS growth 5 MB -> 50 MB", agent_rss[1] - agent_rss[0], 1.0, false, "MiB");
}

/* ---- fleet ---- */

static void fleet(Bench *b, int n, int rate, int retry_after) {
        struct rlimit rl;
        if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
                rl.rlim_cur = rl.rlim_max;
                setrlimit(RLIMIT_NOFILE, &rl);
        }
        route_installer(b, 0, rate, retry_after);
        char (*dirs)[256] = calloc((size_t)n, sizeof *dirs);
        pid_t *pids = calloc((size_t)n, sizeof *pids);
        double *end = calloc((size_t)n, sizeof *end);
        if (!dirs || !pids || !end) die("out of memory");
        for (int i = 0; i < n; i++) make_instance(b, dirs[i], sizeof dirs[i], 1800);

        /* Starts spread evenly over one second, like a scale-out's instances booting. */
        json_t *before = fake_server_requests(b->fake);
        size_t skip = json_array_size(before);
        json_decref(before);
        double t0 = mono_ms(), r0 = real_ms();
        int64_t t0_server = now_monotonic_ms();
        for (int i = 0; i < n; i++) {
                double at = t0 + 1000.0 * i / n;
                while (mono_ms() < at) sleep_ms(1);
                Argv a;
                char out[512];
                agent_argv(b, dirs[i], "run", &a);
                snprintf(out, sizeof out, "%s/agent.out", dirs[i]);
                pids[i] = spawn(a.v, agent_env, out, false);
        }
        int failed = 0;
        for (int left = n; left > 0; left--) {
                int st;
                pid_t p = waitpid(-1, &st, 0);
                if (p < 0) die("waitpid: %m");
                for (int i = 0; i < n; i++)
                        if (pids[i] == p) {
                                end[i] = mono_ms() - t0;
                                if (exit_code(st) != 0) {
                                        failed++;
                                        fprintf(stderr, "bench: agent %d exited %d: see %s/agent.out\n", i, exit_code(st), dirs[i]);
                                }
                        }
        }
        double makespan = pct(end, (size_t)n, 100);

        /* The CDN's view, from the first /install request: requests from the server's
         * record, downloads from each agent's log (realtime, converted). */
        json_t *reqs = fake_server_requests(b->fake);
        size_t total = 0, idx;
        json_t *o;
        int64_t first = INT64_MAX;
        json_array_foreach(reqs, idx, o) {
                if (idx < skip || !streq(json_string_value(json_object_get(o, "path")), "/install")) continue;
                int64_t tm = json_integer_value(json_object_get(o, "time_ms"));
                if (tm < first) first = tm;
        }
        double first_rel = first == INT64_MAX ? 0 : (double)(first - t0_server);
        double *dl = calloc((size_t)n, sizeof *dl);
        size_t ndl = 0;
        for (int i = 0; i < n; i++) {
                double t = log_time(dirs[i], "downloaded the installer");
                if (!isnan(t)) dl[ndl++] = t - r0 - first_rel;
        }
        int seconds = (int)ceil(makespan / 1000) + 1;
        long *hist = calloc((size_t)seconds + 1, sizeof *hist), *admit = calloc((size_t)seconds + 1, sizeof *admit),
             *retries = calloc((size_t)seconds + 1, sizeof *retries);
        for (int i = 0; i < n; i++) log_retries(dirs[i], r0 + first_rel, retries, seconds);
        json_array_foreach(reqs, idx, o) {
                if (idx < skip || !streq(json_string_value(json_object_get(o, "path")), "/install")) continue;
                total++;
                long s = (long)((json_integer_value(json_object_get(o, "time_ms")) - first) / 1000);
                hist[s < 0 ? 0 : s > seconds ? seconds : s]++;
        }
        json_decref(reqs);
        for (size_t i = 0; i < ndl; i++) {
                long s = (long)(dl[i] / 1000);
                admit[s < 0 ? 0 : s > seconds ? seconds : s]++;
        }
        double ideal = (double)n / rate * 1000;
        double dl_makespan = pct(dl, ndl, 100);
        double per_agent = (double)total / n;
        long peak_retry = 0;
        for (int s = 0; s <= seconds; s++)
                if (retries[s] > peak_retry) peak_retry = retries[s];

        FILE *t = b->table;
        fprintf(t, "\nFleet: %d agents started within 1 s; /install admits %d/s, beyond that 429 with Retry-After: %s\n", n, rate,
                retry_after < 0 ? "the time to its turn" : retry_after > 0 ? "fixed" : "none");
        if (retry_after > 0) fprintf(t, "  (Retry-After: %d)\n", retry_after);
        fprintf(t, "  first /install request %.1f s after the first start (agents booting on this machine's %d CPUs)\n",
                first_rel / 1000, (int)sysconf(_SC_NPROCESSORS_ONLN));
        fprintf(t, "  ideal N/C %.1f s; last download done %.1f s after the first request (%.2fx); last agent done %.1f s "
                   "after the first start; failed %d\n",
                ideal / 1000, dl_makespan / 1000, dl_makespan / ideal, makespan / 1000, failed);
        fprintf(t, "  /install requests %zu = %.2f per agent\n", total, per_agent);
        double e50 = pct(end, (size_t)n, 50), e90 = pct(end, (size_t)n, 90), e99 = pct(end, (size_t)n, 99);
        fprintf(t, "  agent completion time after the first start: p50 %.1f s  p90 %.1f s  p99 %.1f s  max %.1f s\n", e50 / 1000, e90 / 1000, e99 / 1000,
                makespan / 1000);
        fprintf(t, "  second (from the first request)  requests  of which retries  downloads done\n");
        json_t *jh = json_array();
        for (int s = 0; s <= seconds; s++) {
                if (hist[s] == 0 && admit[s] == 0 && retries[s] == 0 && s > 0) continue;
                char bar[81];
                long w = hist[s] * 60 / (n > 60 ? n : 60);
                if (w > 80) w = 80;
                memset(bar, '#', (size_t)w);
                bar[w] = 0;
                fprintf(t, "  %6d %26ld %18ld %15ld  %s\n", s, hist[s], retries[s], admit[s], bar);
                json_array_append_new(jh, json_pack("{s:i, s:I, s:I, s:I}", "second", s, "requests", (json_int_t)hist[s],
                                                    "retries", (json_int_t)retries[s], "downloads_done",
                                                    (json_int_t)admit[s]));
        }
        json_object_set_new(b->json, "fleet",
                            json_pack("{s:f, s:i, s:i, s:i, s:f, s:f, s:f, s:f, s:f, s:I, s:i, s:{s:f, s:f, s:f, s:f}, s:I, s:o}", "first_request_s", first_rel / 1000,
                                      "agents", n, "rate_per_s", rate, "retry_after_s", retry_after, "ideal_s", ideal / 1000,
                                      "last_download_s", dl_makespan / 1000, "last_done_s", makespan / 1000,
                                      "makespan_ratio", dl_makespan / ideal, "requests_per_agent", per_agent,
                                      "requests", (json_int_t)total, "failed", failed, "completion_s", "p50", e50 / 1000, "p90",
                                      e90 / 1000, "p99", e99 / 1000, "max", makespan / 1000, "peak_retries_per_s",
                                      (json_int_t)peak_retry, "histogram", jh));
        target(b, "fleet makespan / ideal", dl_makespan / ideal, 1.25, false, "x");
        target(b, "fleet requests per agent", per_agent, 2.0, false, "req");
        /* A synchronised wave: many retries in the same second, beyond what the CDN admits. */
        target(b, "fleet peak retries per s / C", (double)peak_retry / rate, 2.0, false, "x");
        if (failed) fprintf(t, "  %d agents failed\n", failed);
        for (int i = 0; i < n; i++) rm_rf(dirs[i]);
        free(dirs);
        free(pids);
        free(end);
        free(dl);
        free(hist);
        free(admit);
        free(retries);
}

static void write_json(Bench *b, const char *path) {
        json_object_set_new(b->json, "machine", machine());
        json_object_set(b->json, "targets", b->targets);
        if (path) {
                _cleanup_free_ char *d = path_dirname(path);
                if (!d || mkdir_p(d, 0755) < 0 || json_dump_file(b->json, path, JSON_INDENT(2) | JSON_SORT_KEYS) < 0)
                        die("cannot write %s", path);
                fprintf(b->table, "\n(written to %s)\n", path);
        }
}

int main(int argc, char **argv) {
        static const struct option opts[] = {
                {"runs", required_argument, NULL, 'r'}, {"json", required_argument, NULL, 'j'},
                {"n", required_argument, NULL, 'n'},    {"rate", required_argument, NULL, 'c'},
                {"retry-after", required_argument, NULL, 'a'}, {"only", required_argument, NULL, 'o'},
                {0},
        };
        int runs = 30, n = 200, rate = 20, retry_after = -1, c;
        const char *json = NULL, *only = NULL;
        while ((c = getopt_long(argc, argv, "", opts, NULL)) >= 0) {
                switch (c) {
                case 'r': runs = atoi(optarg); break;
                case 'j': json = optarg; break;
                case 'n': n = atoi(optarg); break;
                case 'c': rate = atoi(optarg); break;
                case 'a': retry_after = atoi(optarg); break;
                case 'o': only = optarg; break;
                default:
                        fputs("usage: bench [--runs N] [--only SECTION] [--json FILE]\n"
                              "       bench fleet [--n N] [--rate C] [--retry-after S|-1] [--json FILE]\n", stderr);
                        return 64;
                }
        }
        bool is_fleet = optind < argc && streq(argv[optind], "fleet");
        if (runs < 2 || n < 1 || rate < 1) die("bad numbers");
        /* Dies with make; the agents die with the fake server's answers missing. */
        signal(SIGPIPE, SIG_IGN);

        Bench b = {0};
        bench_setup(&b);
        json_t *m = machine();
        fprintf(b.table, "vsensor-init bench: %s, %d CPUs, %s MiB, Linux %s\n",
                json_string_value(json_object_get(m, "cpu")), (int)json_integer_value(json_object_get(m, "cpus")),
                json_dumps(json_object_get(m, "memory_mib"), JSON_ENCODE_ANY), json_string_value(json_object_get(m, "kernel")));
        json_decref(m);
        if (is_fleet)
                fleet(&b, n, rate, retry_after);
        else {
                if (!only || streq(only, "bootstrap")) section_bootstrap(&b, runs);
                if (!only || streq(only, "noop")) section_noop(&b, runs);
                if (!only || streq(only, "lock")) section_lock(&b, runs < 20 ? 20 : runs);
                if (!only || streq(only, "imds")) section_imds(&b, 3, 10);
                if (!only || streq(only, "download")) section_download(&b, 5);
        }
        write_json(&b, json);
        bench_teardown(&b);
        return 0;
}
