/* e2e: the whole bootstrap with --root against the fake Azure server. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "e2e.h"
#include "testutil.h"

static E2e e;

START_TEST(happy_path_from_userdata) {
        e2e_setup(&e, NULL);
        e2e_serve_userdata(&e, e2e_custom_data);
        ck_assert_int_eq(e2e_run(&e, (const char *[]){"run", NULL}), 0);

        _cleanup_free_ char *calls = e2e_helper_calls(&e);
        ck_assert_str_eq(calls, e2e_custom_data_calls);
        ck_assert(e2e_exists(&e, "/etc/darktrace/.user-data-success"));
        ck_assert_int_eq(e2e_mode(&e, "/var/log/user-data.log"), 0600);
        ck_assert_int_eq(e2e_mode(&e, "/var/lib/vsensor-init/state.json"), 0600);
        ck_assert_int_eq(e2e_mode(&e, "/var/lib/vsensor-init/custom-data"), 0600);
        ck_assert_int_eq(e2e_mode(&e, "/var/lib/vsensor-init"), 0700);
        _cleanup_free_ char *upgrades = e2e_read(&e, "/etc/apt/apt.conf.d/20auto-upgrades");
        ck_assert_contains(upgrades, "APT::Periodic::Update-Package-Lists \"1\";");
        ck_assert_contains(upgrades, "APT::Periodic::Unattended-Upgrade \"1\";");

        /* The log names every step, and the installer's own output (which prints the
         * update key) reached it redacted. */
        _cleanup_free_ char *log = e2e_read(&e, "/var/log/user-data.log");
        static const char *const steps[] = {"load", "metadata", "wait-apt", "install", "register", "hmac",
                                            "pcap", "network", "ephemeral", "os-updates", "finish"};
        for (size_t i = 0; i < sizeof steps / sizeof *steps; i++) {
                char needle[64];
                snprintf(needle, sizeof needle, " %s: ", steps[i]);
                ck_assert_contains(log, needle);
        }
        ck_assert_contains(log, "using update key (hidden)");
        ck_assert_contains(log, "set_pushtoken.sh (hidden) dt-master.example.com:443");

        /* IMDS was asked with Metadata: true; the installer was fetched once. */
        ck_assert_uint_eq(e2e_count(&e, "GET", "/metadata/instance"), 1);
        ck_assert_uint_eq(e2e_count(&e, "GET", "/install"), 1);
        json_t *reqs = fake_server_requests(e.fake);
        size_t i;
        json_t *r;
        json_array_foreach(reqs, i, r) {
                const char *path = json_string_value(json_object_get(r, "path"));
                if (strncmp(path, "/metadata/", 10) != 0) continue;
                json_t *h = json_object_get(r, "headers");
                ck_assert_str_eq(json_string_value(json_object_get(h, "metadata")), "true");
                ck_assert_ptr_null(json_object_get(h, "x-forwarded-for"));
        }
        json_decref(reqs);

        /* status --json */
        ck_assert_int_eq(e2e_run(&e, (const char *[]){"status", "--json", NULL}), 0);
        json_error_t jerr;
        json_t *st = json_loads(e.out, 0, &jerr);
        ck_assert_ptr_nonnull(st);
        ck_assert_str_eq(json_string_value(json_object_get(st, "vm_id")), E2E_VM_ID);
        json_t *arr = json_object_get(st, "steps");
        json_array_foreach(arr, i, r) {
                const char *name = json_string_value(json_object_get(r, "name"));
                const char *state = json_string_value(json_object_get(r, "state"));
                /* verify: the harness's configuration has no verify.url (test-e2e-lifecycle
                 * covers it). */
                if (!strcmp(name, "provision") || !strcmp(name, "report-ready") || !strcmp(name, "host-keys") ||
                    !strcmp(name, "verify"))
                        ck_assert_str_eq(state, "skipped");
                else
                        ck_assert_msg(!strcmp(state, "done"), "step %s is %s", name, state);
                ck_assert(json_is_null(json_object_get(r, "error")));
        }
        json_decref(st);
        e2e_assert_no_secrets(&e);
        e2e_teardown(&e);
}
END_TEST

START_TEST(rerun_is_a_noop) {
        e2e_setup(&e, NULL);
        e2e_serve_userdata(&e, e2e_custom_data);
        ck_assert_int_eq(e2e_run(&e, (const char *[]){"run", NULL}), 0);
        size_t requests = e2e_count(&e, "GET", "/metadata/instance") + e2e_count(&e, "GET", "/install") +
                          e2e_count(&e, "GET", "/metadata/instance/compute/userData");
        _cleanup_free_ char *log1 = e2e_read(&e, "/var/log/user-data.log");
        _cleanup_free_ char *state1 = e2e_read(&e, "/var/lib/vsensor-init/state.json");

        ck_assert_int_eq(e2e_run(&e, (const char *[]){"run", NULL}), 0);
        size_t after = e2e_count(&e, "GET", "/metadata/instance") + e2e_count(&e, "GET", "/install") +
                       e2e_count(&e, "GET", "/metadata/instance/compute/userData");
        ck_assert_uint_eq(after, requests);
        _cleanup_free_ char *calls = e2e_helper_calls(&e);
        ck_assert_str_eq(calls, e2e_custom_data_calls);
        _cleanup_free_ char *log2 = e2e_read(&e, "/var/log/user-data.log");
        _cleanup_free_ char *state2 = e2e_read(&e, "/var/lib/vsensor-init/state.json");
        ck_assert_str_eq(state1, state2);
        /* One line more, saying so. */
        ck_assert_uint_eq(strncmp(log1, log2, strlen(log1)), 0);
        const char *added = log2 + strlen(log1);
        ck_assert_contains(added, "already configured");
        ck_assert_ptr_eq(strchr(added, '\n'), added + strlen(added) - 1);
        e2e_assert_no_secrets(&e);
        e2e_teardown(&e);
}
END_TEST

static Suite *suite(void) {
        Suite *s = suite_create("e2e-bootstrap");
        TCase *tc = tcase_create("bootstrap");
        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, happy_path_from_userdata);
        tcase_add_test(tc, rerun_is_a_noop);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return tu_run_suite(suite());
}
