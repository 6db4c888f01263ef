/* e2e: a custom data that starts with "#!" is a legacy user-data script. It replaces
 * the vSensor steps, runs once with its output in the log, and a failure is retried by
 * the next run like any step. */
#include <stdlib.h>
#include <string.h>

#include "e2e.h"
#include "testutil.h"

static E2e e;

/* Counts its runs in the root, prints a line to each stream, fails while
 * fake/legacy-fail exists. */
static const char legacy_script[] =
        "#!/bin/sh -e\n"
        "echo run >> \"$VSENSOR_INIT_ROOT/fake/legacy-runs\"\n"
        "echo \"legacy user-data: configuring the old way\"\n"
        "echo \"legacy user-data: a warning on stderr\" >&2\n"
        "if [ -e \"$VSENSOR_INIT_ROOT/fake/legacy-fail\" ]; then echo 'legacy user-data: failing' >&2; exit 4; fi\n";

static const char *const run_args[] = {"run", NULL};

static char *legacy_state(void) {
        ck_assert_int_eq(e2e_run(&e, (const char *[]){"status", NULL}), 0);
        return strdup(e.out);
}

START_TEST(legacy_script_runs_once_instead_of_the_vsensor_steps) {
        e2e_setup(&e, NULL);
        e2e_serve_userdata(&e, legacy_script);
        ck_assert_msg(e2e_run(&e, run_args) == 0, "exit %d\n%s", e.exit_code, e.err);

        _cleanup_free_ char *runs = e2e_read(&e, "/fake/legacy-runs");
        ck_assert_str_eq(runs, "run\n");
        _cleanup_free_ char *log = e2e_read(&e, "/var/log/user-data.log");
        ck_assert_contains(log, "user-data[stdout]: legacy user-data: configuring the old way");
        ck_assert_contains(log, "user-data[stderr]: legacy user-data: a warning on stderr");
        ck_assert_contains(log, "is a legacy user-data script");
        /* No vSensor step, no installer; the success marker all the same. */
        _cleanup_free_ char *calls = e2e_helper_calls(&e);
        ck_assert_str_eq(calls, "");
        ck_assert_uint_eq(e2e_count(&e, "GET", "/install"), 0);
        ck_assert(e2e_exists(&e, "/etc/darktrace/.user-data-success"));
        _cleanup_free_ char *status = legacy_state();
        ck_assert_contains(status, "legacy-script  done");
        ck_assert_not_contains(status, "install");

        /* A reboot does not run it again. */
        ck_assert_int_eq(e2e_run(&e, run_args), 0);
        _cleanup_free_ char *runs2 = e2e_read(&e, "/fake/legacy-runs");
        ck_assert_str_eq(runs2, "run\n");
        e2e_teardown(&e);
}
END_TEST

START_TEST(failing_legacy_script_exits_75_and_the_next_run_retries_it) {
        e2e_setup(&e, NULL);
        e2e_serve_userdata(&e, legacy_script);
        e2e_put(&e, "/fake/legacy-fail", "", 0644);
        ck_assert_int_eq(e2e_run(&e, run_args), 75);
        ck_assert_contains(e.err, "the legacy user-data script exited with status 4");
        ck_assert(!e2e_exists(&e, "/etc/darktrace/.user-data-success"));
        _cleanup_free_ char *status = legacy_state();
        ck_assert_contains(status, "legacy-script  failed");

        _cleanup_free_ char *fail = strjoin(e.root, "/fake/legacy-fail", NULL);
        ck_assert_int_eq(unlink(fail), 0);
        ck_assert_int_eq(e2e_run(&e, run_args), 0);
        _cleanup_free_ char *runs = e2e_read(&e, "/fake/legacy-runs");
        ck_assert_str_eq(runs, "run\nrun\n");
        ck_assert(e2e_exists(&e, "/etc/darktrace/.user-data-success"));
        e2e_teardown(&e);
}
END_TEST

/* Darktrace's old script shape under `bash -x`: the trace prints each command with its
 * secrets. Every value in the script's text that looks like one is hidden in the log,
 * and the log says the trace may still show what the script computes. */
static const char traced_script[] =
        "#!/bin/bash -x\n"
        "set_pushtoken.sh() { echo \"registering with $2\"; }\n"
        "set_ossensor_hmac.sh() { echo \"hmac set ($1)\"; }\n"
        "install() { echo \"installing with key $2, half ${2#*:}\"; }\n"
        "UPDATEKEY=\"" CANARY_UPDATE_KEY "\"\n"
        "PROXY='" CANARY_PROXY_URL "'\n"
        "install --updateKey \"$UPDATEKEY\"\n"
        "set_pushtoken.sh " CANARY_PUSH_TOKEN " dt-master.example.com:443 \"$PROXY\"\n"
        "set_ossensor_hmac.sh '" CANARY_HMAC_TOKEN "'\n"
        "echo \"secret half " CANARY_PUSH_SECRET ", proxy password " CANARY_PROXY_PW "\"\n";

START_TEST(traced_legacy_script_secrets_are_hidden) {
        e2e_setup(&e, NULL);
        e2e_serve_userdata(&e, traced_script);
        ck_assert_msg(e2e_run(&e, run_args) == 0, "exit %d\n%s", e.exit_code, e.err);
        _cleanup_free_ char *log = e2e_read(&e, "/var/log/user-data.log");
        /* The trace and the output ran and were logged, with the values hidden. */
        ck_assert_contains(log, "user-data[stderr]: + install --updateKey (hidden)");
        ck_assert_contains(log, "user-data[stdout]: installing with key (hidden), half (hidden)");
        ck_assert_contains(log, "user-data[stderr]: + set_pushtoken.sh (hidden) dt-master.example.com:443 "
                                "http://proxyuser:(hidden)@127.0.0.1:3128");
        ck_assert_contains(log, "user-data[stdout]: hmac set ((hidden))");
        ck_assert_contains(log, "secret half (hidden), proxy password (hidden)");
        ck_assert_contains(log, "values in it that look like secrets are hidden in the log");
        ck_assert_contains(log, "the legacy user-data script traces its commands (-x)");
        e2e_assert_no_secrets(&e);
        e2e_teardown(&e);
}
END_TEST

static Suite *suite(void) {
        Suite *s = suite_create("e2e-legacy");
        TCase *tc = tcase_create("legacy");
        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, legacy_script_runs_once_instead_of_the_vsensor_steps);
        tcase_add_test(tc, failing_legacy_script_exits_75_and_the_next_run_retries_it);
        tcase_add_test(tc, traced_legacy_script_secrets_are_hidden);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return tu_run_suite(suite());
}
