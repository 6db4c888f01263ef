/* e2e: the vSensor bootstrap with --root against the fake Azure server: what the
 * custom data makes the helpers do, where the custom data comes from, failures and
 * resumes, repair, invalid documents, apt locks, TLS, a second run, and the small
 * commands. provisioning: none throughout (another suite covers provisioning). */
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "base64.h"
#include "e2e.h"
#include "testutil.h"

static E2e e;

#define LOG_FILE "/var/log/user-data.log"
#define STATE_DIR "/var/lib/vsensor-init"
#define SUCCESS_MARKER "/etc/darktrace/.user-data-success"
#define INSTALLED_MARKER "/etc/darktrace/config.cfg"
#define AUTO_UPGRADES "/etc/apt/apt.conf.d/20auto-upgrades"

/* Lines 1-8 of every document: the required keys, canary secrets. */
#define CD_HEAD                                                  \
        "vsensor:\n"                                             \
        "  update_key: \"" CANARY_UPDATE_KEY "\"\n"              \
        "  master:\n"                                            \
        "    host: dt-master.example.com\n"                      \
        "    port: 443\n"                                        \
        "    push_token: \"" CANARY_PUSH_TOKEN "\"\n"            \
        "  ossensor:\n"                                          \
        "    hmac_token: \"" CANARY_HMAC_TOKEN "\"\n"
#define CD_PCAP                                                  \
        "  pcap:\n"                                              \
        "    storage_account: mystorageacct\n"                   \
        "    container: darktrace-vsensor-quickstart-pcaps\n"

#define CALL_REGISTER "set_pushtoken.sh " CANARY_PUSH_TOKEN " dt-master.example.com:443\n"
#define CALL_HMAC "set_ossensor_hmac.sh " CANARY_HMAC_TOKEN "\n"
#define CALL_PCAP "set_pcap_azure_container.sh mystorageacct darktrace-vsensor-quickstart-pcaps\n"
#define CALL_NETWORK "set_ossensor_loadbalancer_direct.sh 1\n"
#define CALL_EPHEMERAL "set_ephemeral.sh 1\n"
#define CALLS_DEFAULT CALL_REGISTER CALL_HMAC CALL_PCAP CALL_NETWORK CALL_EPHEMERAL

#define RUN(...) e2e_run(&e, (const char *[]){__VA_ARGS__, NULL})

static char *read_log(void) {
        return e2e_read(&e, LOG_FILE);
}

static const char *custom_data_file(const char *text) {
        return e2e_write_file(&e, "custom-data.yaml", text);
}

/* Runs `status --json` and returns the record of one step (new reference). */
static json_t *status_of(const char *step) {
        ck_assert_int_eq(RUN("status", "--json"), 0);
        json_error_t jerr;
        json_t *st = json_loads(e.out, 0, &jerr);
        ck_assert_msg(st != NULL, "status --json is not JSON: %s", e.out);
        json_t *found = NULL, *r;
        size_t i;
        json_array_foreach(json_object_get(st, "steps"), i, r)
                if (streq(json_string_value(json_object_get(r, "name")), step)) found = json_incref(r);
        json_decref(st);
        ck_assert_msg(found != NULL, "status --json has no step %s", step);
        return found;
}

static void assert_step(const char *step, const char *state, int attempts, const char *error_contains) {
        json_t *r = status_of(step);
        const char *got = json_string_value(json_object_get(r, "state"));
        ck_assert_msg(got && streq(got, state), "step %s is %s, expected %s", step, got ? got : "?", state);
        if (attempts >= 0) ck_assert_int_eq(json_integer_value(json_object_get(r, "attempts")), attempts);
        json_t *err = json_object_get(r, "error");
        if (error_contains)
                ck_assert_contains(json_string_value(err), error_contains);
        else
                ck_assert_msg(json_is_null(err), "step %s has an error: %s", step, json_string_value(err));
        json_decref(r);
}

/* Nothing a vSensor step would change was changed. */
static void assert_machine_untouched(void) {
        _cleanup_free_ char *calls = e2e_helper_calls(&e);
        ck_assert_str_eq(calls, "");
        ck_assert_uint_eq(e2e_count(&e, "GET", "/install"), 0);
        ck_assert(!e2e_exists(&e, SUCCESS_MARKER));
        ck_assert(!e2e_exists(&e, INSTALLED_MARKER));
        ck_assert(!e2e_exists(&e, AUTO_UPGRADES));
}

/* --- what the custom data makes the helpers do --- */

START_TEST(private_link_sets_proxy_access_for_nat_ip_and_probe) {
        e2e_setup(&e, NULL);
        e2e_serve_userdata(&e, CD_HEAD CD_PCAP
                           "  private_link:\n"
                           "    enabled: true\n"
                           "    nat_ip: 10.0.2.6\n");
        ck_assert_int_eq(RUN("run"), 0);
        _cleanup_free_ char *calls = e2e_helper_calls(&e);
        ck_assert_str_eq(calls, CALL_REGISTER CALL_HMAC CALL_PCAP
                         "set_ossensor_loadbalancer_direct.sh 0\n"
                         "set_tcp_proxy_access.sh 10.0.2.6/32\n"
                         "set_tcp_proxy_access.sh 168.63.129.16/32\n" CALL_EPHEMERAL);
        assert_step("network", "done", 1, NULL);
        e2e_assert_no_secrets(&e);
}
END_TEST

START_TEST(no_pcap_key_turns_pcap_storage_off) {
        e2e_setup(&e, NULL);
        e2e_serve_userdata(&e, CD_HEAD);
        ck_assert_int_eq(RUN("run"), 0);
        _cleanup_free_ char *calls = e2e_helper_calls(&e);
        ck_assert_str_eq(calls, CALL_REGISTER CALL_HMAC "set_pcap_size.sh 0\n" CALL_NETWORK CALL_EPHEMERAL);
        ck_assert_not_contains(calls, "set_pcap_azure_container.sh");
        _cleanup_free_ char *log = read_log();
        ck_assert_contains(log, "PCAP off");
        e2e_assert_no_secrets(&e);
}
END_TEST

START_TEST(proxy_is_passed_to_register_and_logged_without_password) {
        e2e_setup(&e, NULL);
        e2e_serve_userdata(&e, "vsensor:\n"
                               "  update_key: \"" CANARY_UPDATE_KEY "\"\n"
                               "  master:\n"
                               "    host: dt-master.example.com\n"
                               "    push_token: \"" CANARY_PUSH_TOKEN "\"\n"
                               "    proxy: \"" CANARY_PROXY_URL "\"\n"
                               "  ossensor:\n"
                               "    hmac_token: \"" CANARY_HMAC_TOKEN "\"\n" CD_PCAP);
        ck_assert_int_eq(RUN("run"), 0);
        _cleanup_free_ char *calls = e2e_helper_calls(&e);
        ck_assert_str_eq(calls, "set_pushtoken.sh " CANARY_PUSH_TOKEN " dt-master.example.com:443 " CANARY_PROXY_URL "\n"
                         CALL_HMAC CALL_PCAP CALL_NETWORK CALL_EPHEMERAL);
        /* The operator sees which proxy, not its password. */
        _cleanup_free_ char *log = read_log();
        ck_assert_contains(log, "http://proxyuser:(hidden)@127.0.0.1:3128");
        ck_assert_not_contains(log, CANARY_PROXY_PW);
        e2e_assert_no_secrets(&e);
}
END_TEST

START_TEST(ipv6_master_quoted_port_and_false_switches) {
        e2e_setup(&e, NULL);
        /* An image setting os_updates: false must leave alone. */
        e2e_put(&e, "/etc/apt/apt.conf.d/10periodic", "APT::Periodic::Enable \"0\";\n", 0644);
        e2e_serve_userdata(&e, "vsensor:\n"
                               "  update_key: \"" CANARY_UPDATE_KEY "\"\n"
                               "  master:\n"
                               "    host: \"2001:db8::1\"\n"
                               "    port: \"8443\"\n"
                               "    push_token: \"" CANARY_PUSH_TOKEN "\"\n"
                               "  ossensor:\n"
                               "    hmac_token: \"" CANARY_HMAC_TOKEN "\"\n" CD_PCAP
                               "  ephemeral: false\n"
                               "  os_updates: False\n");
        ck_assert_int_eq(RUN("run"), 0);
        _cleanup_free_ char *calls = e2e_helper_calls(&e);
        ck_assert_str_eq(calls, "set_pushtoken.sh " CANARY_PUSH_TOKEN " [2001:db8::1]:8443\n" CALL_HMAC CALL_PCAP CALL_NETWORK);
        ck_assert(!e2e_exists(&e, AUTO_UPGRADES));
        _cleanup_free_ char *periodic = e2e_read(&e, "/etc/apt/apt.conf.d/10periodic");
        ck_assert_str_eq(periodic, "APT::Periodic::Enable \"0\";\n");
        assert_step("ephemeral", "skipped", 1, NULL);
        assert_step("os-updates", "skipped", 1, NULL);
        assert_step("finish", "done", 1, NULL);
        ck_assert(e2e_exists(&e, SUCCESS_MARKER));
        e2e_assert_no_secrets(&e);
}
END_TEST

/* --- where the custom data comes from --- */

START_TEST(custom_data_option_file_wins_without_asking_imds) {
        e2e_setup(&e, NULL);
        e2e_serve_userdata(&e, "#cloud-config\n"); /* would fail if it were used */
        const char *file = custom_data_file(CD_HEAD);
        ck_assert_int_eq(RUN("run", "--custom-data", file), 0);
        ck_assert_uint_eq(e2e_count(&e, "GET", "/metadata/instance/compute/userData"), 0);
        _cleanup_free_ char *calls = e2e_helper_calls(&e);
        ck_assert_str_eq(calls, CALL_REGISTER CALL_HMAC "set_pcap_size.sh 0\n" CALL_NETWORK CALL_EPHEMERAL);
        _cleanup_free_ char *log = read_log();
        char needle[600];
        snprintf(needle, sizeof needle, "custom data from %s is valid", file);
        ck_assert_contains(log, needle);
        /* Kept for resumes and repair, 0600, byte for byte. */
        _cleanup_free_ char *kept = e2e_read(&e, STATE_DIR "/custom-data");
        ck_assert_str_eq(kept, CD_HEAD);
        ck_assert_int_eq(e2e_mode(&e, STATE_DIR "/custom-data"), 0600);
        e2e_assert_no_secrets(&e);
}
END_TEST

START_TEST(custom_data_from_stdin) {
        e2e_setup(&e, NULL);
        ck_assert_int_eq(e2e_run_stdin(&e, (const char *[]){"run", "--custom-data", "-", NULL}, CD_HEAD CD_PCAP), 0);
        ck_assert_uint_eq(e2e_count(&e, "GET", "/metadata/instance/compute/userData"), 0);
        _cleanup_free_ char *calls = e2e_helper_calls(&e);
        ck_assert_str_eq(calls, CALLS_DEFAULT);
        _cleanup_free_ char *log = read_log();
        ck_assert_contains(log, "custom data from <stdin> is valid");
        _cleanup_free_ char *kept = e2e_read(&e, STATE_DIR "/custom-data");
        ck_assert_str_eq(kept, CD_HEAD CD_PCAP);
        e2e_assert_no_secrets(&e);
}
END_TEST

/* waagent leaves CustomData base64 (the default) or decoded (Provisioning.DecodeCustomData). */
START_TEST(custom_data_from_waagent) {
        bool base64 = _i == 0;
        e2e_setup(&e, NULL);
        _cleanup_free_ char *b64 = base64_encode(CD_HEAD CD_PCAP, strlen(CD_HEAD CD_PCAP));
        e2e_put(&e, "/var/lib/waagent/CustomData", base64 ? b64 : CD_HEAD CD_PCAP, 0600);
        ck_assert_int_eq(RUN("run"), 0);
        ck_assert_uint_eq(e2e_count(&e, "GET", "/metadata/instance/compute/userData"), 0);
        _cleanup_free_ char *calls = e2e_helper_calls(&e);
        ck_assert_str_eq(calls, CALLS_DEFAULT);
        _cleanup_free_ char *log = read_log();
        ck_assert_contains(log, "/var/lib/waagent/CustomData is valid");
        _cleanup_free_ char *kept = e2e_read(&e, STATE_DIR "/custom-data");
        ck_assert_str_eq(kept, CD_HEAD CD_PCAP);
        /* The test put the secrets there (waagent's file, not the agent's): the scan is
         * for what the agent wrote. */
        _cleanup_free_ char *waagent = path_under_root(e.root, "/var/lib/waagent/CustomData");
        ck_assert_int_eq(unlink(waagent), 0);
        e2e_assert_no_secrets(&e);
}
END_TEST

START_TEST(no_custom_data_anywhere_exits_65_naming_the_places) {
        e2e_setup(&e, NULL); /* the harness serves an empty userData */
        ck_assert_int_eq(RUN("run"), 65);
        ck_assert_contains(e.err, "no custom data found; looked in:");
        ck_assert_contains(e.err, STATE_DIR "/custom-data");
        ck_assert_contains(e.err, "ovf_media: /media/ovf");
        ck_assert_contains(e.err, "/var/lib/waagent/CustomData");
        ck_assert_contains(e.err, "IMDS userData");
        ck_assert_uint_eq(e2e_count(&e, "GET", "/metadata/instance/compute/userData"), 1);
        _cleanup_free_ char *log = read_log();
        ck_assert_contains(log, "no custom data found");
        assert_machine_untouched();
        assert_step("load", "failed", 1, "no custom data found");
        e2e_assert_no_secrets(&e);
}
END_TEST

START_TEST(kept_custom_data_is_used_after_a_failure_when_userdata_is_gone) {
        e2e_setup(&e, NULL);
        e2e_serve_userdata(&e, e2e_custom_data);
        e2e_put(&e, "/fake/fail/set_ossensor_hmac.sh", "2\n", 0644);
        ck_assert_int_eq(RUN("run"), 75);
        size_t userdata = e2e_count(&e, "GET", "/metadata/instance/compute/userData");
        ck_assert_uint_eq(userdata, 1);

        /* IMDS no longer has it (userData changed, or served empty). */
        ck_assert_int_eq(fake_server_route(e.fake, "GET", "/metadata/instance/compute/userData",
                                           &(FakeResponse){.status = 404}, 1), 0);
        ck_assert_int_eq(RUN("run"), 0);
        ck_assert_uint_eq(e2e_count(&e, "GET", "/metadata/instance/compute/userData"), userdata);
        _cleanup_free_ char *log = read_log();
        ck_assert_contains(log, "(kept from the first run) is valid");
        _cleanup_free_ char *calls = e2e_helper_calls(&e);
        ck_assert_str_eq(calls, CALL_REGISTER CALL_HMAC CALL_HMAC CALL_HMAC CALL_PCAP CALL_NETWORK CALL_EPHEMERAL);
        e2e_assert_no_secrets(&e);
}
END_TEST

/* --- failures and resumes --- */

static const struct {
        const char *step, *helper;
        const char *before, *call, *after; /* helper calls before, of, and after the step */
} failing[] = {
        {"register", "set_pushtoken.sh", "", CALL_REGISTER, CALL_HMAC CALL_PCAP CALL_NETWORK CALL_EPHEMERAL},
        {"hmac", "set_ossensor_hmac.sh", CALL_REGISTER, CALL_HMAC, CALL_PCAP CALL_NETWORK CALL_EPHEMERAL},
        {"pcap", "set_pcap_azure_container.sh", CALL_REGISTER CALL_HMAC, CALL_PCAP, CALL_NETWORK CALL_EPHEMERAL},
        {"network", "set_ossensor_loadbalancer_direct.sh", CALL_REGISTER CALL_HMAC CALL_PCAP, CALL_NETWORK, CALL_EPHEMERAL},
        {"ephemeral", "set_ephemeral.sh", CALL_REGISTER CALL_HMAC CALL_PCAP CALL_NETWORK, CALL_EPHEMERAL, ""},
};

START_TEST(failing_step_stops_with_75_and_rerun_resumes_there) {
        const char *step = failing[_i].step, *helper = failing[_i].helper;
        e2e_setup(&e, NULL);
        e2e_serve_userdata(&e, e2e_custom_data);
        char fail[256];
        snprintf(fail, sizeof fail, "/fake/fail/%s", helper);
        e2e_put(&e, fail, "2\n", 0644); /* both tries of helpers.attempts: 2 */

        ck_assert_int_eq(RUN("run"), 75);
        _cleanup_free_ char *calls1 = e2e_helper_calls(&e);
        _cleanup_free_ char *want1 = strjoin(failing[_i].before, failing[_i].call, failing[_i].call);
        ck_assert_str_eq(calls1, want1);
        char needle[300];
        snprintf(needle, sizeof needle, "the run stopped at step %s", step);
        ck_assert_contains(e.err, needle);
        ck_assert(!e2e_exists(&e, SUCCESS_MARKER));
        snprintf(needle, sizeof needle, "%s exited with status 1 after 2 tries", helper);
        assert_step(step, "failed", 1, needle);
        assert_step("install", "done", 1, NULL);
        assert_step("finish", "pending", 0, NULL);

        /* Also in the human form of status. */
        ck_assert_int_eq(RUN("status"), 0);
        ck_assert_contains(e.out, needle);

        _cleanup_free_ char *p = path_under_root(e.root, fail);
        ck_assert_int_eq(unlink(p), 0);
        ck_assert_int_eq(RUN("run"), 0);
        _cleanup_free_ char *calls2 = e2e_helper_calls(&e);
        _cleanup_free_ char *want2 = strjoin(want1, failing[_i].call, failing[_i].after);
        ck_assert_str_eq(calls2, want2);
        ck_assert_uint_eq(e2e_count(&e, "GET", "/install"), 1);
        assert_step(step, "done", 2, NULL);
        assert_step("register", "done", streq(step, "register") ? 2 : 1, NULL);
        ck_assert(e2e_exists(&e, SUCCESS_MARKER));
        e2e_assert_no_secrets(&e);
}
END_TEST

START_TEST(helper_failing_once_is_retried_within_the_run) {
        e2e_setup(&e, NULL);
        e2e_serve_userdata(&e, e2e_custom_data);
        e2e_put(&e, "/fake/fail/set_ossensor_hmac.sh", "1\n", 0644);
        ck_assert_int_eq(RUN("run"), 0);
        _cleanup_free_ char *calls = e2e_helper_calls(&e);
        ck_assert_str_eq(calls, CALL_REGISTER CALL_HMAC CALL_HMAC CALL_PCAP CALL_NETWORK CALL_EPHEMERAL);
        _cleanup_free_ char *log = read_log();
        ck_assert_contains(log, "set_ossensor_hmac.sh exited with status 1 (try 1 of 2)");
        assert_step("hmac", "done", 1, NULL);
        e2e_assert_no_secrets(&e);
}
END_TEST

START_TEST(wrong_update_key_fails_install_and_fixed_custom_data_reinstalls) {
        e2e_setup(&e, NULL);
        static const char wrong_key[] = "WrongUpd8Key:NotTheValue1";
        const char *bad = custom_data_file("vsensor:\n"
                                           "  update_key: \"WrongUpd8Key:NotTheValue1\"\n"
                                           "  master:\n"
                                           "    host: dt-master.example.com\n"
                                           "    push_token: \"" CANARY_PUSH_TOKEN "\"\n"
                                           "  ossensor:\n"
                                           "    hmac_token: \"" CANARY_HMAC_TOKEN "\"\n" CD_PCAP);
        ck_assert_int_eq(RUN("run", "--custom-data", bad), 75);
        ck_assert_contains(e.err, "the installer exited with status 3");
        ck_assert_contains(e.err, "check the update key");
        assert_step("install", "failed", 1, "check the update key");
        ck_assert(!e2e_exists(&e, INSTALLED_MARKER));
        _cleanup_free_ char *calls1 = e2e_helper_calls(&e);
        ck_assert_str_eq(calls1, "");
        /* The installer printed the key it was given: the log has it redacted. */
        _cleanup_free_ char *log = read_log();
        ck_assert_contains(log, "was rejected by packages.darktrace.com");
        ck_assert_not_contains(log, wrong_key);
        ck_assert_not_contains(e.err, wrong_key);
        ck_assert_int_eq(e2e_mode(&e, STATE_DIR), 0700);

        const char *good = custom_data_file(e2e_custom_data);
        ck_assert_int_eq(RUN("run", "--custom-data", good), 0);
        ck_assert_uint_eq(e2e_count(&e, "GET", "/install"), 2);
        _cleanup_free_ char *calls2 = e2e_helper_calls(&e);
        ck_assert_str_eq(calls2, CALLS_DEFAULT);
        assert_step("install", "done", 2, NULL);
        /* The good document replaced the kept one. */
        _cleanup_free_ char *kept = e2e_read(&e, STATE_DIR "/custom-data");
        ck_assert_str_eq(kept, e2e_custom_data);
        e2e_assert_no_secrets(&e);
}
END_TEST

START_TEST(installer_download_failing_past_deadline_exits_69) {
        e2e_setup(&e, &(E2eOptions){.installer_deadline = 2});
        e2e_serve_userdata(&e, e2e_custom_data);
        ck_assert_int_eq(fake_server_route(e.fake, "GET", "/install", &(FakeResponse){.status = 500}, 1), 0);
        ck_assert_int_eq(RUN("run"), 69);
        ck_assert_msg(e.wall_ms < 2000 + 4000, "took %.0f ms with a 2 s deadline", e.wall_ms);
        ck_assert_uint_ge(e2e_count(&e, "GET", "/install"), 2); /* retried */
        ck_assert_contains(e.err, "no complete download within 2 s");
        ck_assert_contains(e.err, "(last: HTTP 500)");
        assert_step("install", "failed", 1, "no complete download within 2 s");
        ck_assert(!e2e_exists(&e, INSTALLED_MARKER));
        ck_assert(!e2e_exists(&e, SUCCESS_MARKER));
        _cleanup_free_ char *calls = e2e_helper_calls(&e);
        ck_assert_str_eq(calls, "");
        e2e_assert_no_secrets(&e);
}
END_TEST

/* --- repair --- */

START_TEST(repair_reruns_vsensor_steps_but_not_an_installed_vsensor) {
        e2e_setup(&e, NULL);
        e2e_serve_userdata(&e, e2e_custom_data);
        ck_assert_int_eq(RUN("run"), 0);
        ck_assert_uint_eq(e2e_count(&e, "GET", "/install"), 1);

        ck_assert_int_eq(RUN("repair"), 0);
        _cleanup_free_ char *calls = e2e_helper_calls(&e);
        ck_assert_str_eq(calls, CALLS_DEFAULT CALLS_DEFAULT);
        ck_assert_uint_eq(e2e_count(&e, "GET", "/install"), 0 + 1);
        assert_step("install", "skipped", 2, NULL);
        assert_step("register", "done", 2, NULL);
        _cleanup_free_ char *log = read_log();
        ck_assert_contains(log, "already installed");

        /* The vSensor is gone: repair installs it again. */
        _cleanup_free_ char *cfg = path_under_root(e.root, INSTALLED_MARKER);
        ck_assert_int_eq(unlink(cfg), 0);
        ck_assert_int_eq(RUN("repair"), 0);
        ck_assert_uint_eq(e2e_count(&e, "GET", "/install"), 2);
        ck_assert(e2e_exists(&e, INSTALLED_MARKER));
        _cleanup_free_ char *calls3 = e2e_helper_calls(&e);
        ck_assert_str_eq(calls3, CALLS_DEFAULT CALLS_DEFAULT CALLS_DEFAULT);
        assert_step("install", "done", 3, NULL);
        e2e_assert_no_secrets(&e);
}
END_TEST

/* --- invalid documents --- */

static const struct {
        const char *name, *doc;
        const char *key;   /* what stderr must name */
        int line;          /* the line it must name; 0: the whole document */
        const char *hint;  /* more stderr must say, or NULL */
} bad_docs[] = {
        {"hmac too short",
         "vsensor:\n"
         "  update_key: \"" CANARY_UPDATE_KEY "\"\n"
         "  master:\n"
         "    host: dt-master.example.com\n"
         "    port: 443\n"
         "    push_token: \"" CANARY_PUSH_TOKEN "\"\n"
         "  ossensor:\n"
         "    hmac_token: \"abc12\"\n",
         "vsensor.ossensor.hmac_token", 8, "(got 5 characters)"},
        {"hmac with a dash (the canary must not be echoed)",
         "vsensor:\n"
         "  update_key: \"" CANARY_UPDATE_KEY "\"\n"
         "  master:\n"
         "    host: dt-master.example.com\n"
         "    port: 443\n"
         "    push_token: \"" CANARY_PUSH_TOKEN "\"\n"
         "  ossensor:\n"
         "    hmac_token: \"" CANARY_HMAC_TOKEN "-x\"\n",
         "vsensor.ossensor.hmac_token", 8, "not all letters or digits"},
        {"unknown key", CD_HEAD "  colour: blue\n", "vsensor.colour: unknown key", 9, NULL},
        {"port 70000",
         "vsensor:\n"
         "  update_key: \"" CANARY_UPDATE_KEY "\"\n"
         "  master:\n"
         "    host: dt-master.example.com\n"
         "    port: 70000\n"
         "    push_token: \"" CANARY_PUSH_TOKEN "\"\n"
         "  ossensor:\n"
         "    hmac_token: \"" CANARY_HMAC_TOKEN "\"\n",
         "vsensor.master.port", 5, "1..65535"},
        {"yes as a boolean", CD_HEAD "  ephemeral: yes\n", "vsensor.ephemeral", 9, "use true or false"},
        {"missing push_token",
         "vsensor:\n"
         "  update_key: \"" CANARY_UPDATE_KEY "\"\n"
         "  master:\n"
         "    host: dt-master.example.com\n"
         "  ossensor:\n"
         "    hmac_token: \"" CANARY_HMAC_TOKEN "\"\n",
         "vsensor.master.push_token", 3, "required key is missing"},
        {"cloud-config", "#cloud-config\npackages: [curl]\n", "#cloud-config is not supported", 1, NULL},
        {"empty", "", "custom data is empty", 0, NULL},
};

START_TEST(invalid_custom_data_exits_65_and_changes_nothing) {
        e2e_setup(&e, NULL);
        const char *file = custom_data_file(bad_docs[_i].doc);
        ck_assert_int_eq(RUN("run", "--custom-data", file), 65);
        ck_assert_contains(e.err, bad_docs[_i].key);
        if (bad_docs[_i].hint) ck_assert_contains(e.err, bad_docs[_i].hint);
        char where[600];
        if (bad_docs[_i].line > 0)
                snprintf(where, sizeof where, "%s:%d:", file, bad_docs[_i].line);
        else
                snprintf(where, sizeof where, "%s: %s", file, bad_docs[_i].key);
        ck_assert_contains(e.err, where);
        ck_assert_not_contains(e.err, "line 0");
        ck_assert_not_contains(e.err, ":0:0:");
        ck_assert_contains(e.err, "no vSensor step ran");
        _cleanup_free_ char *log = read_log();
        ck_assert_contains(log, bad_docs[_i].key);
        assert_machine_untouched();
        assert_step("load", "failed", 1, "invalid custom data");
        assert_step("wait-apt", "pending", 0, NULL);
        e2e_assert_no_secrets(&e);
}
END_TEST

START_TEST(validate_reports_file_line_column_and_ok) {
        e2e_setup(&e, NULL);
        /* Port on line 5, value at column 11. */
        const char *file = custom_data_file(bad_docs[3].doc);
        ck_assert_int_eq(RUN("validate", file), 65);
        char want[600];
        snprintf(want, sizeof want, "%s:5:11: vsensor.master.port", file);
        ck_assert_msg(strncmp(e.err, want, strlen(want)) == 0, "expected \"%s\" at the start of:\n%s", want, e.err);
        ck_assert_str_eq(e.out, "");

        file = custom_data_file(e2e_custom_data);
        ck_assert_int_eq(RUN("validate", file), 0);
        snprintf(want, sizeof want, "%s: ok\n", file);
        ck_assert_str_eq(e.out, want);

        ck_assert_int_eq(e2e_run_stdin(&e, (const char *[]){"validate", "-", NULL}, e2e_custom_data), 0);
        ck_assert_str_eq(e.out, "<stdin>: ok\n");
        ck_assert_int_eq(e2e_run_stdin(&e, (const char *[]){"validate", "-", NULL}, bad_docs[1].doc), 65);
        ck_assert_contains(e.err, "<stdin>:8:");
        ck_assert_contains(e.err, "vsensor.ossensor.hmac_token");

        /* Offline and without side effects: nothing asked, nothing written. */
        ck_assert_uint_eq(e2e_count(&e, "GET", "/metadata/instance"), 0);
        ck_assert(!e2e_exists(&e, STATE_DIR));
        ck_assert(!e2e_exists(&e, LOG_FILE));
        e2e_assert_no_secrets(&e);
}
END_TEST

/* --- apt locks --- */

/* A child that holds a dpkg-style write lock on lock-frontend for hold_ms (-1: until
 * killed). Returns its pid once the lock is held. */
static pid_t hold_apt_lock(int hold_ms) {
        e2e_put(&e, "/var/lib/dpkg/lock-frontend", "", 0640);
        _cleanup_free_ char *path = path_under_root(e.root, "/var/lib/dpkg/lock-frontend");
        int pipefd[2];
        ck_assert_int_eq(pipe2(pipefd, O_CLOEXEC), 0);
        pid_t pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                int fd = open(path, O_RDWR | O_CLOEXEC);
                struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
                if (fd < 0 || fcntl(fd, F_SETLK, &fl) < 0) _exit(1);
                (void)!write(pipefd[1], "x", 1);
                if (hold_ms < 0)
                        for (;;) pause();
                sleep_ms(hold_ms);
                _exit(0);
        }
        close(pipefd[1]);
        char c;
        ck_assert_int_eq(read(pipefd[0], &c, 1), 1);
        close(pipefd[0]);
        return pid;
}

START_TEST(apt_lock_held_then_released_is_waited_for) {
        e2e_setup(&e, NULL);
        e2e_serve_userdata(&e, e2e_custom_data);
        pid_t holder = hold_apt_lock(1500);
        ck_assert_int_eq(RUN("run"), 0);
        ck_assert_msg(e.wall_ms >= 1000, "did not wait for the lock (%.0f ms)", e.wall_ms);
        char needle[200];
        snprintf(needle, sizeof needle, "waiting for /var/lib/dpkg/lock-frontend, held by pid %ld", (long)holder);
        _cleanup_free_ char *log = read_log();
        ck_assert_contains(log, needle);
        int status;
        ck_assert_int_eq(waitpid(holder, &status, 0), holder);
        ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        _cleanup_free_ char *calls = e2e_helper_calls(&e);
        ck_assert_str_eq(calls, CALLS_DEFAULT);
        e2e_assert_no_secrets(&e);
}
END_TEST

START_TEST(apt_lock_held_past_deadline_exits_75_naming_the_lock) {
        e2e_setup(&e, &(E2eOptions){.extra_config = "apt_lock_deadline: 1\n"});
        e2e_serve_userdata(&e, e2e_custom_data);
        pid_t holder = hold_apt_lock(-1);
        ck_assert_int_eq(RUN("run"), 75);
        kill(holder, SIGKILL);
        waitpid(holder, NULL, 0);
        ck_assert_msg(e.wall_ms < 1000 + 3000, "took %.0f ms with a 1 s deadline", e.wall_ms);
        char needle[200];
        snprintf(needle, sizeof needle, "/var/lib/dpkg/lock-frontend was still held by pid %ld after 1 s", (long)holder);
        ck_assert_contains(e.err, needle);
        assert_step("wait-apt", "failed", 1, needle);
        assert_machine_untouched();
        e2e_assert_no_secrets(&e);
}
END_TEST

/* --- TLS --- */

START_TEST(untrusted_cdn_certificate_exits_69_without_running_installer) {
        e2e_setup(&e, &(E2eOptions){.untrusted_cdn = true, .installer_deadline = 2});
        e2e_serve_userdata(&e, e2e_custom_data);
        ck_assert_int_eq(RUN("run"), 69);
        ck_assert_msg(e.wall_ms < 2000 + 4000, "took %.0f ms with a 2 s deadline", e.wall_ms);
        /* The log names the check that failed, as curl words it, and the last error
         * stands alone (no status of a response that never came). */
        _cleanup_free_ char *log = read_log();
        ck_assert_contains(log, "SSL certificate problem");
        ck_assert_contains(e.err, "no complete download within 2 s (last: SSL certificate problem");
        assert_step("install", "failed", 1, "certificate)");
        /* The handshake failed: no request reached the handler. */
        ck_assert_uint_eq(e2e_count(&e, "GET", "/install"), 0);
        assert_machine_untouched();
        e2e_assert_no_secrets(&e);
}
END_TEST

/* --- a second run --- */

START_TEST(second_concurrent_run_exits_75_at_once) {
        e2e_setup(&e, NULL);
        e2e_serve_userdata(&e, e2e_custom_data);
        /* The first run holds the lock while IMDS is slow to answer. */
        _cleanup_free_ char *instance = tu_read_data("imds/instance.json", NULL);
        ck_assert_int_eq(fake_server_route(e.fake, "GET", "/metadata/instance",
                                           &(FakeResponse){.body = instance, .content_type = "application/json",
                                                           .delay_ms = 2500},
                                           1),
                         0);
        pid_t first = e2e_start(&e, (const char *[]){"run", NULL});
        int64_t until = now_monotonic_ms() + 10000;
        while (e2e_count(&e, "GET", "/metadata/instance") == 0 && now_monotonic_ms() < until) sleep_ms(20);
        ck_assert_uint_eq(e2e_count(&e, "GET", "/metadata/instance"), 1);

        ck_assert_int_eq(RUN("run"), 75);
        ck_assert_msg(e.wall_ms < 1000, "the second run waited %.0f ms", e.wall_ms);
        char needle[100];
        snprintf(needle, sizeof needle, "another vsensor-init run (pid %ld)", (long)first);
        ck_assert_contains(e.err, needle);
        /* It asked nothing and ran nothing. */
        ck_assert_uint_eq(e2e_count(&e, "GET", "/metadata/instance"), 1);
        ck_assert_uint_eq(e2e_count(&e, "GET", "/metadata/instance/compute/userData"), 1);

        /* repair and clean respect the lock too. */
        ck_assert_int_eq(RUN("clean"), 75);
        ck_assert(e2e_exists(&e, STATE_DIR "/custom-data"));

        ck_assert_int_eq(e2e_wait(&e, first), 0);
        _cleanup_free_ char *calls = e2e_helper_calls(&e);
        ck_assert_str_eq(calls, CALLS_DEFAULT);
        ck_assert(e2e_exists(&e, SUCCESS_MARKER));
        e2e_assert_no_secrets(&e);
}
END_TEST

/* --- show-config, clean, version, usage --- */

START_TEST(show_config_hides_every_secret) {
        e2e_setup(&e, NULL);
        const char *file = custom_data_file("vsensor:\n"
                                            "  update_key: \"" CANARY_UPDATE_KEY "\"\n"
                                            "  master:\n"
                                            "    host: dt-master.example.com\n"
                                            "    push_token: \"" CANARY_PUSH_TOKEN "\"\n"
                                            "    proxy: \"" CANARY_PROXY_URL "\"\n"
                                            "  ossensor:\n"
                                            "    hmac_token: \"" CANARY_HMAC_TOKEN "\"\n");
        ck_assert_int_eq(RUN("show-config", "--custom-data", file), 0);
        ck_assert_contains(e.out, "update_key: \"(hidden)\"");
        ck_assert_contains(e.out, "push_token: \"(hidden)\"");
        ck_assert_contains(e.out, "hmac_token: \"(hidden)\"");
        ck_assert_contains(e.out, "proxy: http://proxyuser:(hidden)@127.0.0.1:3128");
        ck_assert_contains(e.out, "host: dt-master.example.com");
        ck_assert_contains(e.out, "installer: { url: https://127.0.0.1:");
        /* No side effects. */
        ck_assert(!e2e_exists(&e, STATE_DIR));
        ck_assert(!e2e_exists(&e, LOG_FILE));

        /* After a run it shows the kept custom data, hidden the same way. */
        e2e_serve_userdata(&e, e2e_custom_data);
        ck_assert_int_eq(RUN("run"), 0);
        ck_assert_int_eq(RUN("show-config"), 0);
        ck_assert_contains(e.out, "update_key: \"(hidden)\"");
        ck_assert_contains(e.out, "storage_account: mystorageacct");
        e2e_assert_no_secrets(&e);
}
END_TEST

START_TEST(clean_removes_the_agents_own_files) {
        e2e_setup(&e, NULL);
        e2e_serve_userdata(&e, e2e_custom_data);
        ck_assert_int_eq(RUN("run"), 0);
        /* provisioning: none writes no "provisioned": put one as a provisioning run would. */
        e2e_put(&e, STATE_DIR "/provisioned", E2E_VM_ID "\n", 0600);
        static const char *const own[] = {STATE_DIR "/state.json", STATE_DIR "/custom-data",
                                          STATE_DIR "/provisioned", SUCCESS_MARKER, LOG_FILE};
        for (size_t i = 0; i < ELEMENTSOF(own); i++) ck_assert_msg(e2e_exists(&e, own[i]), "%s missing", own[i]);

        ck_assert_int_eq(RUN("clean"), 0);
        for (size_t i = 0; i < ELEMENTSOF(own); i++) ck_assert_msg(!e2e_exists(&e, own[i]), "%s still there", own[i]);
        /* The vSensor itself and the OS settings are not the agent's own files. */
        ck_assert(e2e_exists(&e, INSTALLED_MARKER));
        ck_assert(e2e_exists(&e, AUTO_UPGRADES));

        /* A clean image boots into a full first run. */
        ck_assert_int_eq(RUN("run"), 0);
        ck_assert_uint_eq(e2e_count(&e, "GET", "/metadata/instance/compute/userData"), 2);
        e2e_assert_no_secrets(&e);
}
END_TEST

START_TEST(version_and_unknown_command) {
        e2e_setup(&e, NULL);
        ck_assert_int_eq(RUN("version"), 0);
        ck_assert_msg(strncmp(e.out, "vsensor-init ", 13) == 0 && e.out[13] >= '0' && e.out[13] <= '9',
                      "version printed: %s", e.out);
        ck_assert_ptr_nonnull(strchr(e.out, '\n'));

        ck_assert_int_eq(RUN("frobnicate"), 64);
        ck_assert_contains(e.err, "unknown command 'frobnicate'");
        ck_assert_int_eq(RUN("run", "--no-such-option"), 64);
        ck_assert_int_eq(RUN("status", "--all"), 64);
        ck_assert(!e2e_exists(&e, STATE_DIR));
        e2e_assert_no_secrets(&e);
}
END_TEST

static void teardown(void) {
        e2e_teardown(&e);
}

static Suite *suite(void) {
        Suite *s = suite_create("e2e-vsensor");
        TCase *tc = tcase_create("vsensor");
        tcase_set_timeout(tc, 30);
        tcase_add_checked_fixture(tc, NULL, teardown);
        tcase_add_test(tc, private_link_sets_proxy_access_for_nat_ip_and_probe);
        tcase_add_test(tc, no_pcap_key_turns_pcap_storage_off);
        tcase_add_test(tc, proxy_is_passed_to_register_and_logged_without_password);
        tcase_add_test(tc, ipv6_master_quoted_port_and_false_switches);
        tcase_add_test(tc, custom_data_option_file_wins_without_asking_imds);
        tcase_add_test(tc, custom_data_from_stdin);
        tcase_add_loop_test(tc, custom_data_from_waagent, 0, 2);
        tcase_add_test(tc, no_custom_data_anywhere_exits_65_naming_the_places);
        tcase_add_test(tc, kept_custom_data_is_used_after_a_failure_when_userdata_is_gone);
        tcase_add_loop_test(tc, failing_step_stops_with_75_and_rerun_resumes_there, 0, (int)ELEMENTSOF(failing));
        tcase_add_test(tc, helper_failing_once_is_retried_within_the_run);
        tcase_add_test(tc, wrong_update_key_fails_install_and_fixed_custom_data_reinstalls);
        tcase_add_test(tc, installer_download_failing_past_deadline_exits_69);
        tcase_add_test(tc, repair_reruns_vsensor_steps_but_not_an_installed_vsensor);
        tcase_add_loop_test(tc, invalid_custom_data_exits_65_and_changes_nothing, 0, (int)ELEMENTSOF(bad_docs));
        tcase_add_test(tc, validate_reports_file_line_column_and_ok);
        tcase_add_test(tc, apt_lock_held_then_released_is_waited_for);
        tcase_add_test(tc, apt_lock_held_past_deadline_exits_75_naming_the_lock);
        tcase_add_test(tc, untrusted_cdn_certificate_exits_69_without_running_installer);
        tcase_add_test(tc, second_concurrent_run_exits_75_at_once);
        tcase_add_test(tc, show_config_hides_every_secret);
        tcase_add_test(tc, clean_removes_the_agents_own_files);
        tcase_add_test(tc, version_and_unknown_command);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return tu_run_suite(suite());
}
