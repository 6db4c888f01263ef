/* bench-watch: the idle cost of `vsensor-init watch` (issue 13; docs/PERFORMANCE.md):
 * its CPU per hour of polling and its private memory, against the in-process fake IMDS
 * on 127.0.0.1 serving an empty Scheduled Events document. The watcher polls at a fast
 * interval (scheduled_events.poll_interval accepts fractions of a second for this) for
 * --polls polls; CPU is utime+stime from /proc/PID/stat between poll 100 (after start-up)
 * and the last, extrapolated to one hour at 1 poll/s; memory is Private_Clean +
 * Private_Dirty of /proc/PID/smaps_rollup at poll 100 and at the last poll (growth).
 * Baseline, side by side: a shell loop running curl once per poll, as an operator would
 * write it (`while sleep 1; do curl -s -H Metadata:true URL; done`), measured the same
 * way over --baseline-polls polls (its CPU includes every curl it starts).
 *
 *   bench-watch [--polls N] [--baseline-polls N] [--interval SECONDS] [--json FILE]
 *
 * Needs VSENSOR_INIT and TOP, as `make bench` sets them. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fake-server.h"
#include "testutil.h"
#include "util.h"

#define WARMUP_POLLS 100
#define TARGET_CPU_S_PER_HOUR 2.0
#define TARGET_PRIVATE_KIB 2048
/* "No growth": the heap moves by a page or three either way between samples (seen: -12
 * to +8 KiB over 10 000 and 30 000 polls); a leak of 4 bytes a poll would be 39 KiB. */
#define GROWTH_TOLERANCE_KIB 32

static const char *env_or(const char *name, const char *fallback) {
        const char *v = getenv(name);
        return v && *v ? v : fallback;
}

_Noreturn static void die(const char *what) {
        fprintf(stderr, "bench-watch: %s: %s\n", what, strerror(errno));
        exit(1);
}

/* utime + stime of pid and its reaped children, in ms (fields 14-17 of /proc/PID/stat). */
static double cpu_ms(pid_t pid) {
        char path[64], buf[2048];
        snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
        FILE *f = fopen(path, "re");
        if (!f) return -1;
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[n] = 0;
        char *p = strrchr(buf, ')');
        if (!p) return -1;
        unsigned long long v[20] = {0};
        /* After ")": state is field 3; utime 14, stime 15, cutime 16, cstime 17. */
        int k = sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %llu %llu", &v[0], &v[1], &v[2],
                       &v[3]);
        if (k != 4) return -1;
        return (double)(v[0] + v[1] + v[2] + v[3]) * 1000.0 / (double)sysconf(_SC_CLK_TCK);
}

/* Private_Clean + Private_Dirty (KiB), and Rss, of /proc/PID/smaps_rollup. */
static long private_kib(pid_t pid, long *ret_rss) {
        char path[64], line[256];
        snprintf(path, sizeof path, "/proc/%ld/smaps_rollup", (long)pid);
        FILE *f = fopen(path, "re");
        if (!f) return -1;
        long total = 0, v;
        if (ret_rss) *ret_rss = 0;
        while (fgets(line, sizeof line, f)) {
                if (sscanf(line, "Private_Clean: %ld kB", &v) == 1 || sscanf(line, "Private_Dirty: %ld kB", &v) == 1)
                        total += v;
                else if (ret_rss && sscanf(line, "Rss: %ld kB", &v) == 1)
                        *ret_rss = v;
        }
        fclose(f);
        return total;
}

typedef struct Sample {
        double cpu_ms;
        long private_kib, rss_kib;
        size_t polls;
        int64_t t_ms;
} Sample;

static Sample sample(FakeServer *s, pid_t pid) {
        Sample x = {.cpu_ms = cpu_ms(pid), .polls = fake_server_count(s, "GET", "/metadata/scheduledevents"),
                    .t_ms = now_monotonic_ms()};
        x.private_kib = private_kib(pid, &x.rss_kib);
        return x;
}

static void wait_for_polls(FakeServer *s, size_t n, pid_t pid, int64_t timeout_ms) {
        int64_t end = now_monotonic_ms() + timeout_ms;
        while (fake_server_count(s, "GET", "/metadata/scheduledevents") < n) {
                int status;
                if (waitpid(pid, &status, WNOHANG) == pid) {
                        fprintf(stderr, "bench-watch: the poller exited early (status %d)\n", status);
                        exit(1);
                }
                if (now_monotonic_ms() > end) {
                        fprintf(stderr, "bench-watch: only %zu polls of %zu\n",
                                fake_server_count(s, "GET", "/metadata/scheduledevents"), n);
                        exit(1);
                }
                sleep_ms(5);
        }
}

static pid_t spawn(const char *const *argv) {
        pid_t pid = fork();
        if (pid < 0) die("fork");
        if (pid == 0) {
                static const char *const env[] = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8", NULL};
                int null = open("/dev/null", O_RDWR);
                if (null >= 0) {
                        dup2(null, 0);
                        dup2(null, 1);
                }
                execve(argv[0], (char *const *)argv, (char *const *)env);
                _exit(127);
        }
        return pid;
}

static void stop(pid_t pid) {
        kill(pid, SIGTERM);
        int status;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
}

/* One poller measured between poll WARMUP_POLLS and poll n. */
static void measure(FakeServer *s, pid_t pid, size_t base, size_t n, Sample *ret_a, Sample *ret_b) {
        wait_for_polls(s, base + WARMUP_POLLS, pid, 120000);
        *ret_a = sample(s, pid);
        wait_for_polls(s, base + WARMUP_POLLS + n, pid, 3600000);
        *ret_b = sample(s, pid);
        stop(pid);
}

int main(int argc, char **argv) {
        static const struct option opts[] = {
                {"polls", required_argument, NULL, 'n'},
                {"baseline-polls", required_argument, NULL, 'b'},
                {"interval", required_argument, NULL, 'i'},
                {"json", required_argument, NULL, 'j'},
                {0},
        };
        size_t polls = 10000, baseline_polls = 500;
        const char *interval = "0.001", *json_path = NULL;
        int c;
        while ((c = getopt_long(argc, argv, "", opts, NULL)) >= 0) {
                switch (c) {
                case 'n': polls = strtoul(optarg, NULL, 10); break;
                case 'b': baseline_polls = strtoul(optarg, NULL, 10); break;
                case 'i': interval = optarg; break;
                case 'j': json_path = optarg; break;
                default:
                        fputs("usage: bench-watch [--polls N] [--baseline-polls N] [--interval SECONDS] [--json FILE]\n",
                              stderr);
                        return 64;
                }
        }
        if (polls < 100 || baseline_polls < 10) {
                fputs("bench-watch: --polls >= 100 and --baseline-polls >= 10\n", stderr);
                return 64;
        }
        const char *bin = env_or("VSENSOR_INIT", "build/vsensor-init");
        const char *top = env_or("TOP", ".");

        FakeServer *s = fake_server_start(NULL);
        if (!s) die("fake server");
        char path[512];
        snprintf(path, sizeof path, "%s/test/data/imds/instance.json", top);
        _cleanup_free_ char *instance = NULL, *events = NULL;
        if (read_file_capped(path, 1 << 20, &instance, NULL) < 0) die(path);
        snprintf(path, sizeof path, "%s/test/data/scheduledevents/empty.json", top);
        if (read_file_capped(path, 1 << 20, &events, NULL) < 0) die(path);
        fake_server_route(s, "GET", "/metadata/instance", &(FakeResponse){.body = instance}, 1);
        fake_server_scheduled_events(s, &(FakeEventsStep){.document = events}, 1);
        _cleanup_free_ char *url = fake_server_url(s, false);

        char dir[] = "/tmp/bench-watch.XXXXXX";
        if (!mkdtemp(dir)) die("mkdtemp");
        char root[64], config[64];
        snprintf(root, sizeof root, "%s/root", dir);
        snprintf(config, sizeof config, "%s/config.yaml", dir);
        mkdir(root, 0755);
        FILE *f = fopen(config, "we");
        if (!f) die(config);
        fprintf(f, "provisioning: none\nimds: { url: \"%s\", deadline: 10 }\n"
                   "scheduled_events: { enabled: true, poll_interval: %s }\n", url, interval);
        fclose(f);

        /* The watcher. */
        const char *wargv[] = {bin, "--root", root, "--config", config, "-q", "watch", NULL};
        Sample wa, wb;
        measure(s, spawn(wargv), 0, polls, &wa, &wb);
        size_t wn = wb.polls - wa.polls;
        double w_per_poll = (wb.cpu_ms - wa.cpu_ms) / (double)wn;

        /* The baseline: a shell loop with curl, without the sleep (the same polls, sooner). */
        size_t before = fake_server_count(s, "GET", "/metadata/scheduledevents");
        char loop[1024];
        snprintf(loop, sizeof loop,
                 "while :; do curl -s -H Metadata:true '%s/metadata/scheduledevents?api-version=2020-07-01' >/dev/null; done",
                 url);
        const char *bargv[] = {"/bin/sh", "-c", loop, NULL};
        Sample ba, bb;
        measure(s, spawn(bargv), before, baseline_polls, &ba, &bb);
        size_t bn = bb.polls - ba.polls;
        double b_per_poll = (bb.cpu_ms - ba.cpu_ms) / (double)bn;

        double w_hour = w_per_poll * 3600 / 1000, b_hour = b_per_poll * 3600 / 1000;
        long growth = wb.private_kib - wa.private_kib;
        printf("\nvsensor-init watch, idle cost (empty Scheduled Events document from the fake IMDS on 127.0.0.1)\n");
        printf("  %-34s %20s %20s %10s\n", "", "vsensor-init watch", "sh + curl loop", "target");
        printf("  %-34s %20zu %20zu %10s\n", "polls measured", wn, bn, "");
        printf("  %-34s %17.3f ms %17.3f ms %10s\n", "CPU per poll", w_per_poll, b_per_poll, "");
        printf("  %-34s %18.2f s %18.2f s %10s\n", "CPU per hour at 1 poll/s", w_hour, b_hour, "<= 2 s");
        printf("  %-34s %16ld KiB %16ld KiB %10s\n", "private memory after 100 polls", wa.private_kib, ba.private_kib, "");
        printf("  %-34s %16ld KiB %16ld KiB %10s\n", "private memory at the last poll", wb.private_kib, bb.private_kib,
               "<= 2048 KiB");
        printf("  %-34s %+16ld KiB %20s %10s\n", "growth over the measured polls", growth, "", "<= 32 KiB");
        printf("  %-34s %16ld KiB %16ld KiB %10s\n", "RSS at the last poll", wb.rss_kib, bb.rss_kib, "");
        printf("  (watcher at poll_interval %s s: %zu polls in %.1f s; the shell's figures are its own process, its\n"
               "   curls' CPU counted as it reaps them; its memory is the shell's alone, each curl's comes and goes)\n",
               interval, wn, (double)(wb.t_ms - wa.t_ms) / 1000.0);
        bool ok = w_hour <= TARGET_CPU_S_PER_HOUR && wb.private_kib <= TARGET_PRIVATE_KIB && growth <= GROWTH_TOLERANCE_KIB;
        printf("  verdict: %s\n", ok ? "within the targets" : "OUTSIDE the targets");
        fflush(stdout);

        if (json_path) {
                json_t *j = json_pack("{s:{s:I, s:f, s:f, s:I, s:I, s:I, s:I}, s:{s:I, s:f, s:f, s:I, s:I}, s:b}",
                                      "watch", "polls", (json_int_t)wn, "cpu_ms_per_poll", w_per_poll,
                                      "cpu_s_per_hour_at_1hz", w_hour, "private_kib_start", (json_int_t)wa.private_kib,
                                      "private_kib_end", (json_int_t)wb.private_kib, "growth_kib", (json_int_t)growth,
                                      "rss_kib_end", (json_int_t)wb.rss_kib, "baseline", "polls", (json_int_t)bn,
                                      "cpu_ms_per_poll", b_per_poll, "cpu_s_per_hour_at_1hz", b_hour,
                                      "private_kib", (json_int_t)bb.private_kib, "rss_kib", (json_int_t)bb.rss_kib,
                                      "within_targets", ok);
                if (!j || json_dump_file(j, json_path, JSON_INDENT(2)) < 0) fprintf(stderr, "cannot write %s\n", json_path);
                json_decref(j);
        }
        fake_server_stop(s);
        tu_rm_rf(dir);
        return ok ? 0 : 1;
}
