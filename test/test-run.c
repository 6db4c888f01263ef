#include <check.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "canary.h"
#include "run.h"
#include "secret.h"
#include "testutil.h"
#include "util.h"

/* Lines a child printed, per stream, in order. */
typedef struct Capture {
        char **out;
        char **err;
} Capture;

static void on_line(void *userdata, const char *stream, const char *line) {
        Capture *c = userdata;
        if (streq(stream, "stdout"))
                ck_assert_int_eq(strv_push(&c->out, line), 0);
        else if (streq(stream, "stderr"))
                ck_assert_int_eq(strv_push(&c->err, line), 0);
        else
                ck_abort_msg("unknown stream %s", stream);
}

static void capture_free(Capture *c) {
        strv_free(c->out);
        strv_free(c->err);
        *c = (Capture){0};
}

static int run_sh(const char *script, int timeout_ms, Capture *c, RunResult *res) {
        const char *argv[] = {"/bin/sh", "-c", script, NULL};
        RunOptions o = {.argv = argv, .timeout_ms = timeout_ms, .on_line = on_line, .userdata = c,
                        .kill_grace_ms = 200};
        return run_command(&o, res);
}

static void assert_lines(char **got, const char *const *want) {
        size_t n = strv_length(got), m = 0;
        while (want[m]) m++;
        for (size_t i = 0; i < n && i < m; i++) ck_assert_str_eq(got[i], want[i]);
        ck_assert_uint_eq(n, m);
}

/* A process that is gone or a zombie waiting for its reaper. */
static bool process_dead(pid_t pid) {
        for (int i = 0; i < 100; i++) {
                char path[64];
                snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
                _cleanup_free_ char *stat = NULL;
                if (read_file_capped(path, 4096, &stat, NULL) < 0) return true;
                const char *p = strrchr(stat, ')');
                if (p && p[1] == ' ' && (p[2] == 'Z' || p[2] == 'X')) return true;
                sleep_ms(10);
        }
        return false;
}

START_TEST(test_exit_codes) {
        Capture c = {0};
        RunResult r = {.exit_code = -1};
        ck_assert_int_eq(run_sh("exit 0", 0, &c, &r), 0);
        ck_assert(!r.signaled && !r.timed_out);
        ck_assert_int_eq(r.exit_code, 0);
        ck_assert_int_gt(r.pid, 0);
        ck_assert_int_eq(run_sh("exit 3", 0, &c, &r), 0);
        ck_assert(!r.signaled && !r.timed_out);
        ck_assert_int_eq(r.exit_code, 3);
        char buf[64];
        ck_assert_str_eq(run_result_describe(&r, 0, buf, sizeof buf), "exited with status 3");
        ck_assert_ptr_null(c.out);
        ck_assert_ptr_null(c.err);
}
END_TEST

START_TEST(test_signal) {
        Capture c = {0};
        RunResult r = {0};
        ck_assert_int_eq(run_sh("kill -9 $$", 0, &c, &r), 0);
        ck_assert(r.signaled);
        ck_assert(!r.timed_out);
        ck_assert_int_eq(r.signal, SIGKILL);
        char buf[64];
        ck_assert_str_eq(run_result_describe(&r, 0, buf, sizeof buf), "killed by signal 9 (KILL)");
}
END_TEST

START_TEST(test_describe_timeout) {
        RunResult r = {.timed_out = true, .signaled = true, .signal = SIGTERM};
        char buf[64];
        ck_assert_str_eq(run_result_describe(&r, 600000, buf, sizeof buf), "timed out after 600 s");
        ck_assert_str_eq(run_result_describe(&r, 1500, buf, sizeof buf), "timed out after 1500 ms");
}
END_TEST

START_TEST(test_line_capture) {
        Capture c = {0};
        RunResult r = {0};
        ck_assert_int_eq(run_sh("echo out1; echo err1 >&2; echo; echo out2; echo err2 >&2; printf 'last'; "
                                "printf 'errlast' >&2",
                                0, &c, &r),
                         0);
        ck_assert_int_eq(r.exit_code, 0);
        assert_lines(c.out, (const char *const[]){"out1", "", "out2", "last", NULL});
        assert_lines(c.err, (const char *const[]){"err1", "err2", "errlast", NULL});
        capture_free(&c);

        /* No callback: output is drained and discarded, the child does not block. */
        const char *argv[] = {"/bin/sh", "-c", "head -c 1000000 /dev/zero; exit 4", NULL};
        RunOptions o = {.argv = argv, .timeout_ms = 5000};
        ck_assert_int_eq(run_command(&o, &r), 0);
        ck_assert(!r.timed_out);
        ck_assert_int_eq(r.exit_code, 4);
}
END_TEST

START_TEST(test_long_lines_split) {
        Capture c = {0};
        RunResult r = {0};
        /* 10000 bytes without newline, then a line of exactly 4096, then a short one. */
        ck_assert_int_eq(run_sh("head -c 10000 /dev/zero | tr '\\0' a; echo; "
                                "head -c 4096 /dev/zero | tr '\\0' b; echo; echo end",
                                0, &c, &r),
                         0);
        ck_assert_uint_eq(strv_length(c.out), 5);
        ck_assert_uint_eq(strlen(c.out[0]), 4096);
        ck_assert_uint_eq(strlen(c.out[1]), 4096);
        ck_assert_uint_eq(strlen(c.out[2]), 10000 - 2 * 4096);
        ck_assert_uint_eq(strspn(c.out[0], "a"), 4096);
        ck_assert_uint_eq(strspn(c.out[2], "a"), 10000 - 2 * 4096);
        ck_assert_uint_eq(strlen(c.out[3]), 4096);
        ck_assert_uint_eq(strspn(c.out[3], "b"), 4096);
        ck_assert_str_eq(c.out[4], "end");
        ck_assert_ptr_null(c.out[5]);
        capture_free(&c);
}
END_TEST

/* A secret that crosses the 4096-byte cut of a long line stays whole in one piece,
 * so redacting each piece (as the log does) hides it. */
START_TEST(test_long_line_cut_keeps_secrets_whole) {
        static const char *const secrets[] = {CANARY_HMAC_TOKEN, CANARY_UPDATE_KEY, CANARY_PUSH_SECRET};
        for (size_t k = 0; k < ELEMENTSOF(secrets); k++)
                ck_assert_int_eq(secret_register_value(secrets[k], strlen(secrets[k])), 0);
        const char *canary = secrets[_i % ELEMENTSOF(secrets)];
        /* The secret starts 1..len-1 bytes before the cut. */
        size_t before = 1 + (size_t)_i / ELEMENTSOF(secrets) % (strlen(canary) - 1);
        char script[256];
        snprintf(script, sizeof script, "head -c %zu /dev/zero | tr '\\0' a; printf '%%s' '%s'; echo; echo end",
                 4096 - before, canary);
        Capture c = {0};
        RunResult r = {0};
        ck_assert_int_eq(run_sh(script, 0, &c, &r), 0);
        ck_assert_uint_eq(strv_length(c.out), 3);
        /* Nothing lost: the pieces together are the line. */
        _cleanup_free_ char *joined = strjoin(c.out[0], c.out[1], NULL);
        ck_assert_uint_eq(strlen(joined), 4096 - before + strlen(canary));
        ck_assert_str_eq(c.out[2], "end");
        for (size_t i = 0; c.out[i]; i++) {
                ck_assert_uint_le(strlen(c.out[i]), 4096);
                _cleanup_free_ char *red = secret_redact(c.out[i]);
                /* No fragment of the canary survives redaction of its piece. */
                ck_assert_msg(!strstr(red, "Secret") && !strstr(red, "Canary") && !strstr(red, "Sekr1t") &&
                                      !strstr(red, "77") && !strstr(red, "42") && !strstr(red, "ue9"),
                              "piece %zu leaks part of canary %zu after redaction", i, _i % ELEMENTSOF(secrets));
        }
        ck_assert_int_eq(secret_contains_any(c.out[1], strlen(c.out[1])), 1);
        capture_free(&c);
        secret_registry_clear();
}
END_TEST

START_TEST(test_environment) {
        Capture c = {0};
        RunResult r = {0};
        setenv("VSENSOR_TEST_LEAK", "leak", 1);
        const char *argv[] = {"/usr/bin/env", NULL};
        RunOptions o = {.argv = argv, .on_line = on_line, .userdata = &c};
        ck_assert_int_eq(run_command(&o, &r), 0);
        ck_assert_int_eq(r.exit_code, 0);
        assert_lines(c.out, (const char *const[]){"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8", NULL});
        capture_free(&c);

        const char *envp[] = {"HOME=/root", "VSENSOR_INIT_ROOT=/tmp/x", NULL};
        o.envp = envp;
        ck_assert_int_eq(run_command(&o, &r), 0);
        assert_lines(c.out, envp);
        capture_free(&c);
}
END_TEST

START_TEST(test_cwd) {
        _cleanup_free_ char *dir = strjoin(tu_base, "/cwd", NULL);
        ck_assert_int_eq(mkdir(dir, 0700), 0);
        Capture c = {0};
        RunResult r = {0};
        const char *argv[] = {"/bin/pwd", "-P", NULL};
        RunOptions o = {.argv = argv, .on_line = on_line, .userdata = &c};
        ck_assert_int_eq(run_command(&o, &r), 0);
        assert_lines(c.out, (const char *const[]){"/", NULL});
        capture_free(&c);

        o.cwd = dir;
        ck_assert_int_eq(run_command(&o, &r), 0);
        _cleanup_free_ char *real = realpath(dir, NULL);
        assert_lines(c.out, (const char *const[]){real, NULL});
        capture_free(&c);

        ck_assert_int_eq(rmdir(dir), 0);
        ck_assert_int_eq(run_command(&o, &r), -ENOENT);
}
END_TEST

START_TEST(test_stdin_devnull) {
        Capture c = {0};
        RunResult r = {0};
        /* cat must see EOF at once, not hang on our stdin. */
        ck_assert_int_eq(run_sh("readlink /proc/self/fd/0; cat; echo done", 5000, &c, &r), 0);
        ck_assert(!r.timed_out);
        assert_lines(c.out, (const char *const[]){"/dev/null", "done", NULL});
        capture_free(&c);
}
END_TEST

START_TEST(test_no_fd_leak) {
        /* An fd opened without O_CLOEXEC must not reach the child. */
        int leak = open("/dev/null", O_RDONLY);
        ck_assert_int_ge(leak, 3);
        int leak2 = dup2(leak, 100);
        ck_assert_int_eq(leak2, 100);
        Capture c = {0};
        RunResult r = {0};
        const char *argv[] = {"/bin/ls", "/proc/self/fd", NULL};
        RunOptions o = {.argv = argv, .on_line = on_line, .userdata = &c};
        ck_assert_int_eq(run_command(&o, &r), 0);
        ck_assert_int_eq(r.exit_code, 0);
        /* 0-2 and the directory ls itself opened to list. */
        assert_lines(c.out, (const char *const[]){"0", "1", "2", "3", NULL});
        capture_free(&c);
        close(leak);
        close(leak2);
}
END_TEST

START_TEST(test_exec_failure) {
        RunResult r = {.exit_code = 99};
        const char *missing[] = {"/nonexistent/helper", NULL};
        RunOptions o = {.argv = missing};
        ck_assert_int_eq(run_command(&o, &r), -ENOENT);
        ck_assert_int_eq(r.exit_code, 99);  /* untouched on failure */

        _cleanup_free_ char *path = strjoin(tu_base, "/not-executable", NULL);
        ck_assert_int_eq(write_file_atomic(path, "#!/bin/sh\nexit 0\n", 17, 0644), 0);
        const char *noexec[] = {path, NULL};
        o.argv = noexec;
        ck_assert_int_eq(run_command(&o, &r), -EACCES);
        ck_assert_int_eq(chmod(path, 0755), 0);
        ck_assert_int_eq(run_command(&o, &r), 0);
        ck_assert_int_eq(r.exit_code, 0);
        unlink(path);

        const char *relative[] = {"sh", "-c", "exit 0", NULL};
        o.argv = relative;
        ck_assert_int_eq(run_command(&o, &r), -EINVAL);
}
END_TEST

START_TEST(test_own_process_group) {
        Capture c = {0};
        RunResult r = {0};
        ck_assert_int_eq(run_sh("cat /proc/$$/stat", 0, &c, &r), 0);
        ck_assert_uint_eq(strv_length(c.out), 1);
        const char *p = strrchr(c.out[0], ')');
        ck_assert_ptr_nonnull(p);
        char state;
        long ppid, pgrp;
        ck_assert_int_eq(sscanf(p + 2, "%c %ld %ld", &state, &ppid, &pgrp), 3);
        ck_assert_int_eq(pgrp, r.pid);
        ck_assert_int_eq(ppid, getpid());
        capture_free(&c);
}
END_TEST

START_TEST(test_signals_reset) {
        /* Ignored and blocked in the parent; the child must start with defaults. */
        signal(SIGTERM, SIG_IGN);
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, SIGTERM);
        sigprocmask(SIG_BLOCK, &set, NULL);
        Capture c = {0};
        RunResult r = {0};
        ck_assert_int_eq(run_sh("kill -TERM $$; exit 0", 5000, &c, &r), 0);
        ck_assert(r.signaled);
        ck_assert_int_eq(r.signal, SIGTERM);
        sigprocmask(SIG_UNBLOCK, &set, NULL);
        signal(SIGTERM, SIG_DFL);
}
END_TEST

START_TEST(test_timeout_kills_group) {
        Capture c = {0};
        RunResult r = {0};
        int64_t t0 = now_monotonic_ms();
        ck_assert_int_eq(run_sh("sleep 100 & echo $!; sleep 100", 300, &c, &r), 0);
        int64_t took = now_monotonic_ms() - t0;
        ck_assert(r.timed_out);
        ck_assert(r.signaled);
        ck_assert_int_eq(r.signal, SIGTERM);
        ck_assert_int_ge(took, 300);
        ck_assert_int_lt(took, 3000);
        ck_assert_uint_eq(strv_length(c.out), 1);
        pid_t grandchild = (pid_t)atol(c.out[0]);
        ck_assert_int_gt(grandchild, 1);
        ck_assert_msg(process_dead(grandchild), "grandchild %ld survived", (long)grandchild);
        char buf[64];
        ck_assert_str_eq(run_result_describe(&r, 300, buf, sizeof buf), "timed out after 300 ms");
        capture_free(&c);
}
END_TEST

START_TEST(test_timeout_sigterm_ignored) {
        /* The group ignores SIGTERM: SIGKILL follows after kill_grace_ms (200). */
        Capture c = {0};
        RunResult r = {0};
        int64_t t0 = now_monotonic_ms();
        ck_assert_int_eq(run_sh("trap '' TERM; sleep 100 & echo $!; sleep 100", 300, &c, &r), 0);
        int64_t took = now_monotonic_ms() - t0;
        ck_assert(r.timed_out);
        ck_assert(r.signaled);
        ck_assert_int_eq(r.signal, SIGKILL);
        ck_assert_int_ge(took, 500);
        ck_assert_int_lt(took, 3000);
        ck_assert_uint_eq(strv_length(c.out), 1);
        ck_assert(process_dead((pid_t)atol(c.out[0])));
        capture_free(&c);
}
END_TEST

START_TEST(test_daemon_holding_stdout) {
        /* The child exits at once, leaving a background process with our pipes: we
         * return within the 2 s drain bound (no timeout set) and it is killed. */
        Capture c = {0};
        RunResult r = {0};
        int64_t t0 = now_monotonic_ms();
        ck_assert_int_eq(run_sh("sleep 100 & echo $!; exit 5", 0, &c, &r), 0);
        int64_t took = now_monotonic_ms() - t0;
        ck_assert(!r.timed_out);
        ck_assert(!r.signaled);
        ck_assert_int_eq(r.exit_code, 5);
        ck_assert_int_lt(took, 4000);
        ck_assert_uint_eq(strv_length(c.out), 1);
        ck_assert(process_dead((pid_t)atol(c.out[0])));
        capture_free(&c);
}
END_TEST

START_TEST(test_daemon_left_group) {
        /* A daemon that left our process group cannot be killed through it, but it
         * still must not hold run_command beyond the bound. */
        Capture c = {0};
        RunResult r = {0};
        int64_t t0 = now_monotonic_ms();
        ck_assert_int_eq(run_sh("setsid sleep 100 & echo $!; exit 0", 0, &c, &r), 0);
        int64_t took = now_monotonic_ms() - t0;
        ck_assert_int_eq(r.exit_code, 0);
        ck_assert_int_lt(took, 4000);
        ck_assert_uint_eq(strv_length(c.out), 1);
        pid_t d = (pid_t)atol(c.out[0]);
        ck_assert_int_gt(d, 1);
        kill(d, SIGKILL);
        capture_free(&c);
}
END_TEST

START_TEST(test_background_finishing_output_kept) {
        /* A grandchild that finishes writing soon after the child exits is still read. */
        Capture c = {0};
        RunResult r = {0};
        ck_assert_int_eq(run_sh("(sleep 0.3; echo late) & echo early", 0, &c, &r), 0);
        assert_lines(c.out, (const char *const[]){"early", "late", NULL});
        capture_free(&c);
}
END_TEST

static Suite *run_suite(void) {
        Suite *s = suite_create("run");
        TCase *tc = tcase_create("core");
        tcase_set_timeout(tc, 10);
        tcase_add_unchecked_fixture(tc, tu_base_setup, tu_base_teardown);
        tcase_add_test(tc, test_exit_codes);
        tcase_add_test(tc, test_signal);
        tcase_add_test(tc, test_describe_timeout);
        tcase_add_test(tc, test_line_capture);
        tcase_add_test(tc, test_long_lines_split);
        tcase_add_loop_test(tc, test_long_line_cut_keeps_secrets_whole, 0, 30);
        tcase_add_test(tc, test_environment);
        tcase_add_test(tc, test_cwd);
        tcase_add_test(tc, test_stdin_devnull);
        tcase_add_test(tc, test_no_fd_leak);
        tcase_add_test(tc, test_exec_failure);
        tcase_add_test(tc, test_own_process_group);
        tcase_add_test(tc, test_signals_reset);
        tcase_add_test(tc, test_timeout_kills_group);
        tcase_add_test(tc, test_timeout_sigterm_ignored);
        tcase_add_test(tc, test_daemon_holding_stdout);
        tcase_add_test(tc, test_daemon_left_group);
        tcase_add_test(tc, test_background_finishing_output_kept);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return tu_run_suite(run_suite());
}
