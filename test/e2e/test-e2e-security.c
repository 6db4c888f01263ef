/* e2e: process-level protections of the agent (issue 10, security findings): it is
 * not dumpable, a closed output pipe does not kill a run, `status` never prints raw
 * control bytes from metadata, and a legacy `bash -x` script's secrets are hidden. */
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <ftw.h>
#include <grp.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "e2e.h"
#include "testutil.h"

static E2e e;

static const char *const run_args[] = {"run", NULL};

/* Whether the agent is dumpable shows in who owns its /proc/PID files: the kernel
 * gives them to root when it is not. So the agent runs as an unprivileged user (when
 * the tests run as root) and its child, the legacy script, looks at its parent. The
 * core file limit shows in /proc/PID/limits. */
static const char dumpable_script[] =
        "#!/bin/sh\n"
        "echo \"agent uid $(id -u), its /proc owned by $(stat -c %u /proc/$PPID/status)\"\n"
        "grep '^Max core file size' /proc/$PPID/limits | tr -s ' '\n";

#define UNPRIVILEGED_UID 65534

static int chown_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        return lchown(path, UNPRIVILEGED_UID, UNPRIVILEGED_UID) < 0 ? -1 : 0;
}

/* Runs `run` as UNPRIVILEGED_UID when root (the whole test dir is given to it), else
 * as ourselves. Returns the exit code; the output is in the log. */
static int run_unprivileged(void) {
        const char *bin = getenv("VSENSOR_INIT") ? getenv("VSENSOR_INIT") : "build/vsensor-init";
        bool root = geteuid() == 0;
        /* The build tree may sit where that user cannot reach it (a checkout in /root):
         * it runs a copy of the agent from the test dir it is given. */
        char copy[sizeof e.dir + 32];
        if (root) {
                size_t len = 0;
                _cleanup_free_ char *image = tu_read_file(bin, &len);
                ck_assert_ptr_nonnull(image);
                snprintf(copy, sizeof copy, "%s/vsensor-init", e.dir);
                ck_assert_int_eq(write_file_atomic(copy, image, len, 0755), 0);
                bin = copy;
        }
        const char *argv[] = {bin, "--root", e.root, "--config", e.config, "run", NULL};
        if (root) ck_assert_int_eq(nftw(e.dir, chown_entry, 32, FTW_PHYS), 0);
        pid_t pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                int fd = open("/dev/null", O_RDWR);
                if (fd < 0) _exit(127);
                dup2(fd, 0);
                dup2(fd, 1);
                dup2(fd, 2);
                if (root && (setgroups(0, NULL) < 0 || setgid(UNPRIVILEGED_UID) < 0 || setuid(UNPRIVILEGED_UID) < 0))
                        _exit(126);
                static const char *const env[] = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8", NULL};
                execve(bin, (char *const *)argv, (char *const *)env);
                _exit(127);
        }
        int status;
        while (waitpid(pid, &status, 0) < 0) ck_assert_int_eq(errno, EINTR);
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

START_TEST(agent_is_not_dumpable_and_makes_no_core_files) {
        /* Under check-valgrind the agent is a wrapper that writes valgrind's log where
         * the unprivileged user may not. */
        if (getenv("VSENSOR_INIT_REAL")) {
                printf("%s: skipped under valgrind\n", tcase_name());
                return;
        }
        e2e_setup(&e, NULL);
        e2e_serve_userdata(&e, dumpable_script);
        int code = run_unprivileged();
        _cleanup_free_ char *log = e2e_read(&e, "/var/log/user-data.log");
        ck_assert_msg(code == 0, "exit %d\n%s", code, log ? log : "(no log)");
        char want[128];
        snprintf(want, sizeof want, "user-data[stdout]: agent uid %u, its /proc owned by 0",
                 geteuid() == 0 ? UNPRIVILEGED_UID : (unsigned)geteuid());
        ck_assert_contains(log, want);
        ck_assert_contains(log, "user-data[stdout]: Max core file size 0 0 bytes");
        e2e_teardown(&e);
}
END_TEST

/* Runs the agent with stdout and stderr on a pipe nobody reads any more, as
 * `vsensor-init repair 2>&1 | head -n 0` does; SIGPIPE at its default action, as a
 * shell leaves it. Returns the wait status. */
static int run_into_closed_pipe(const char *const *args) {
        const char *bin = getenv("VSENSOR_INIT") ? getenv("VSENSOR_INIT") : "build/vsensor-init";
        const char *argv[16] = {bin, "--root", e.root, "--config", e.config};
        size_t n = 5;
        for (const char *const *a = args; *a && n < 15; a++) argv[n++] = *a;
        argv[n] = NULL;
        int p[2];
        ck_assert_int_eq(pipe(p), 0);
        close(p[0]);
        pid_t pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                signal(SIGPIPE, SIG_DFL);
                sigset_t none;
                sigemptyset(&none);
                sigprocmask(SIG_SETMASK, &none, NULL);
                int in = open("/dev/null", O_RDONLY);
                if (in < 0) _exit(127);
                dup2(in, 0);
                dup2(p[1], 1);
                dup2(p[1], 2);
                static const char *const env[] = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8", NULL};
                execve(bin, (char *const *)argv, (char *const *)env);
                _exit(127);
        }
        close(p[1]);
        int status;
        while (waitpid(pid, &status, 0) < 0) ck_assert_int_eq(errno, EINTR);
        return status;
}

START_TEST(closed_output_pipe_does_not_kill_the_run) {
        e2e_setup(&e, NULL);
        e2e_serve_userdata(&e, e2e_custom_data);
        int status = run_into_closed_pipe(run_args);
        ck_assert_msg(!WIFSIGNALED(status), "killed by signal %d", WTERMSIG(status));
        ck_assert_int_eq(WEXITSTATUS(status), 0);
        /* The whole bootstrap ran and the log has every line. */
        _cleanup_free_ char *calls = e2e_helper_calls(&e);
        ck_assert_str_eq(calls, e2e_custom_data_calls);
        _cleanup_free_ char *log = e2e_read(&e, "/var/log/user-data.log");
        ck_assert_contains(log, "vSensor bootstrap complete");

        /* repair and status the same. */
        status = run_into_closed_pipe((const char *[]){"repair", NULL});
        ck_assert_msg(!WIFSIGNALED(status), "repair killed by signal %d", WTERMSIG(status));
        ck_assert_int_eq(WEXITSTATUS(status), 0);
        status = run_into_closed_pipe((const char *[]){"status", NULL});
        ck_assert_msg(!WIFSIGNALED(status), "status killed by signal %d", WTERMSIG(status));
        e2e_assert_no_secrets(&e);
        e2e_teardown(&e);
}
END_TEST

/* Returns a copy of text with the first `from` replaced by `to`. */
static char *replace(const char *text, const char *from, const char *to) {
        const char *at = strstr(text, from);
        ck_assert_ptr_nonnull(at);
        char *out = NULL;
        ck_assert_int_ge(asprintf_safe(&out, "%.*s%s%s", (int)(at - text), text, to, at + strlen(from)), 0);
        return out;
}

/* status prints what the state holds, and errors quote metadata: ESC sequences and
 * newlines show as escapes, never reach the terminal; --json stays valid JSON. */
START_TEST(status_escapes_control_characters) {
        e2e_setup(&e, NULL);
        e2e_put(&e, "/var/lib/vsensor-init/state.json",
                "{\"version\": 1, \"vm_id\": \"\\u001b]0;owned\\u0007" E2E_VM_ID "\", \"boot_id\": null,"
                " \"steps\": [{\"name\": \"provision\", \"state\": \"failed\", \"attempts\": 1,"
                " \"error\": \"hostname \\\"x\\u001b[2J\\nFAKE LINE\\u009b31m\\\" is bad\", \"updated\": null}]}\n",
                0600);
        ck_assert_int_eq(e2e_run(&e, (const char *[]){"status", NULL}), 0);
        ck_assert_msg(!strchr(e.out, '\x1b') && !strchr(e.out, '\x07') && !strstr(e.out, "\xc2\x9b"),
                      "raw control characters in:\n%s", e.out);
        ck_assert_contains(e.out, "VM id: \\e]0;owned\\x07" E2E_VM_ID "\n");
        ck_assert_contains(e.out, "hostname \"x\\e[2J\\nFAKE LINE\\u009B31m\" is bad\n");
        ck_assert_not_contains(e.out, "\nFAKE LINE");

        ck_assert_int_eq(e2e_run(&e, (const char *[]){"status", "--json", NULL}), 0);
        ck_assert_msg(!strchr(e.out, '\x1b') && !strchr(e.out, '\x07'), "raw control characters in:\n%s", e.out);
        json_error_t jerr;
        json_t *root = json_loads(e.out, 0, &jerr);
        ck_assert_msg(root != NULL, "not JSON: %s\n%s", jerr.text, e.out);
        ck_assert_str_eq(json_string_value(json_object_get(root, "vm_id")), "\x1b]0;owned\x07" E2E_VM_ID);
        json_decref(root);
        e2e_teardown(&e);
}
END_TEST

/* A host name whose echo ("%.64s") is cut inside a UTF-8 character: the state is still
 * written and the real error (exit 65, the host name) is what the run and status say,
 * not "cannot write state.json" (73). */
START_TEST(error_cut_inside_utf8_is_kept) {
        e2e_setup(&e, &(E2eOptions){.provisioning = "agent"});
        e2e_serve_userdata(&e, e2e_custom_data);
        char host[128] = "a";
        for (int i = 0; i < 40; i++) strncat(host, "\xc3\xa9", sizeof host - strlen(host) - 1);
        _cleanup_free_ char *instance = tu_read_top("test/data/imds/instance.json", NULL);
        ck_assert_ptr_nonnull(instance);
        _cleanup_free_ char *bad = replace(instance, "vsensor000003", host);
        ck_assert_int_eq(fake_server_route(e.fake, "GET", "/metadata/instance",
                                           &(FakeResponse){.body = bad, .content_type = "application/json"}, 1), 0);
        ck_assert_int_eq(e2e_run(&e, run_args), 65);
        ck_assert_contains(e.err, "is not a valid host name");
        ck_assert_not_contains(e.err, "state.json");
        ck_assert_int_eq(e2e_run(&e, (const char *[]){"status", NULL}), 0);
        ck_assert_contains(e.out, "provision      failed");
        ck_assert_contains(e.out, "is not a valid host name");
        e2e_teardown(&e);
}
END_TEST

static Suite *suite(void) {
        Suite *s = suite_create("e2e-security");
        TCase *tc = tcase_create("process");
        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, agent_is_not_dumpable_and_makes_no_core_files);
        tcase_add_test(tc, closed_output_pipe_does_not_kill_the_run);
        tcase_add_test(tc, status_escapes_control_characters);
        tcase_add_test(tc, error_cut_inside_utf8_is_kept);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return tu_run_suite(suite());
}
