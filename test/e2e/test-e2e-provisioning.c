/* e2e: Azure provisioning with --root against the fake Azure server — the admin user,
 * SSH, hostname, host keys, the KVP report and the wireserver health report, in every
 * provisioning mode, with failures and reruns. useradd --root needs root: the tests
 * that provision skip (saying so) when not run as root. */
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <pthread.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>

#include "base64.h"
#include "e2e.h"
#include "kvp.h"
#include "testutil.h"

#define CONTAINER_ID "c6d5526c-5ac2-4200-b6e2-56f2b70c5ab2"
#define INSTANCE_ID "vsensor-vmss_3.0"
#define IMDS_KEY "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeKeyForTests vsensor-test"
#define SUDOERS "/etc/sudoers.d/90-vsensor-init-users"
#define SSHD_DROPIN "/etc/ssh/sshd_config.d/00-vsensor-init.conf"
#define KVP_POOL "/var/lib/hyperv/.kvp_pool_1"
#define STATE_DIR "/var/lib/vsensor-init"
#define LOG_FILE "/var/log/user-data.log"
#define HOST_KEY "/etc/ssh/ssh_host_ed25519_key"

static E2e e;

static const char *const run_args[] = {"run", NULL};

/* What every provisioning test needs: root (useradd --root) and ssh-keygen (the step
 * makes the host keys). Without them the test is skipped, saying which is missing. */
static bool need_root_for(const char *test) {
        if (geteuid() != 0) {
                test_skip(test, "needs root (useradd --root)");
                return false;
        }
        if (access("/usr/bin/ssh-keygen", X_OK) < 0) {
                test_skip(test, "ssh-keygen (openssh-client) not installed");
                return false;
        }
        return true;
}
#define need_root() need_root_for(__func__)

/* Count of non-overlapping occurrences of needle. */
static size_t count_of(const char *haystack, const char *needle) {
        size_t n = 0;
        for (const char *p = haystack ? strstr(haystack, needle) : NULL; p; p = strstr(p + strlen(needle), needle)) n++;
        return n;
}

/* Replaces the one occurrence of `from` in the configuration (e2e_setup writes every
 * section once; appending a section again would be a duplicate key). */
static void config_replace(const char *from, const char *to) {
        _cleanup_free_ char *cfg = NULL;
        ck_assert_int_ge(read_file_capped(e.config, 1024 * 1024, &cfg, NULL), 0);
        char *at = strstr(cfg, from);
        ck_assert_msg(at != NULL, "\"%s\" not in the configuration:\n%s", from, cfg);
        *at = 0;
        _cleanup_free_ char *n = NULL;
        ck_assert_int_ge(asprintf_safe(&n, "%s%s%s", cfg, to, at + strlen(from)), 0);
        ck_assert_int_eq(write_file_atomic(e.config, n, strlen(n), 0600), 0);
}

/* The requests the fake server saw for method+path, in order (new reference). */
static json_t *requests_for(const char *method, const char *path) {
        json_t *all = fake_server_requests(e.fake), *out = json_array(), *r;
        size_t i;
        ck_assert_ptr_nonnull(all);
        json_array_foreach(all, i, r) {
                if (streq(json_string_value(json_object_get(r, "method")), method) &&
                    streq(json_string_value(json_object_get(r, "path")), path))
                        json_array_append(out, r);
        }
        json_decref(all);
        return out;
}

static const char *req_header(json_t *r, const char *name) {
        return json_string_value(json_object_get(json_object_get(r, "headers"), name));
}

static const char *req_body(json_t *r) { return json_string_value(json_object_get(r, "body")); }

/* The state of each step from `status --json`, as "name=state " pairs. */
static char *step_states(void) {
        ck_assert_int_eq(e2e_run(&e, (const char *[]){"status", "--json", NULL}), 0);
        json_error_t jerr;
        json_t *st = json_loads(e.out, 0, &jerr);
        ck_assert_msg(st != NULL, "status --json: %s\n%s", jerr.text, e.out);
        char *s = strdup("");
        size_t i;
        json_t *r;
        json_array_foreach(json_object_get(st, "steps"), i, r) {
                char *n = NULL;
                ck_assert_int_ge(asprintf_safe(&n, "%s%s=%s ", s, json_string_value(json_object_get(r, "name")),
                                               json_string_value(json_object_get(r, "state"))), 0);
                free(s);
                s = n;
        }
        json_decref(st);
        return s;
}

static void kvp_read(char ***keys, char ***values, size_t *n) {
        _cleanup_free_ char *pool = path_under_root(e.root, KVP_POOL);
        ck_assert_int_eq(kvp_read_all(pool, keys, values, n), 0);
}

static size_t kvp_count(void) {
        char **keys = NULL, **values = NULL;
        size_t n = 0;
        kvp_read(&keys, &values, &n);
        strv_free(keys);
        strv_free(values);
        return n;
}

static void print_hex(const char *label, const unsigned char *p, size_t n) {
        printf("%s:", label);
        for (size_t i = 0; i < n; i++) printf(" %02x", p[i]);
        printf("\n");
}

static char *file_under_root(const char *path) {
        char *p = path_under_root(e.root, path);
        ck_assert_ptr_nonnull(p);
        return p;
}

static void assert_owner(const char *path, uid_t uid, gid_t gid) {
        _cleanup_free_ char *p = file_under_root(path);
        struct stat st;
        ck_assert_int_eq(stat(p, &st), 0);
        ck_assert_uint_eq(st.st_uid, uid);
        ck_assert_uint_eq(st.st_gid, gid);
}

/* uid and gid of user from ROOT/etc/passwd, and its home. */
static void passwd_entry(const char *user, uid_t *uid, gid_t *gid, char *home, size_t homesize) {
        _cleanup_free_ char *passwd = e2e_read(&e, "/etc/passwd");
        char prefix[64];
        snprintf(prefix, sizeof prefix, "\n%s:", user);
        const char *line = strstr(passwd, prefix);
        ck_assert_msg(line != NULL, "%s not in /etc/passwd:\n%s", user, passwd);
        unsigned u = 0, g = 0;
        char h[256] = "";
        ck_assert_int_eq(sscanf(line + strlen(prefix), "%*[^:]:%u:%u:%*[^:]:%255[^:]:", &u, &g, h), 3);
        *uid = u;
        *gid = g;
        snprintf(home, homesize, "%s", h);
}

/* Everything scenario 1 expects of a provisioned instance. */
static void assert_provisioned(const char *hostname, const char *vm_id) {
        uid_t uid;
        gid_t gid;
        char home[256], path[512];
        passwd_entry("azureuser", &uid, &gid, home, sizeof home);
        ck_assert_str_eq(home, "/home/azureuser");
        ck_assert_uint_ne(uid, 0);
        struct stat st;
        _cleanup_free_ char *homedir = file_under_root(home);
        ck_assert_int_eq(stat(homedir, &st), 0);
        ck_assert(S_ISDIR(st.st_mode));
        assert_owner(home, uid, gid);

        _cleanup_free_ char *sudoers = e2e_read(&e, SUDOERS);
        ck_assert_contains(sudoers, "\nazureuser ALL=(ALL) NOPASSWD:ALL\n");
        ck_assert_int_eq(e2e_mode(&e, SUDOERS), 0440);

        snprintf(path, sizeof path, "%s/.ssh/authorized_keys", home);
        _cleanup_free_ char *keys = e2e_read(&e, path);
        ck_assert_str_eq(keys, IMDS_KEY "\n");
        ck_assert_int_eq(e2e_mode(&e, path), 0600);
        assert_owner(path, uid, gid);
        snprintf(path, sizeof path, "%s/.ssh", home);
        ck_assert_int_eq(e2e_mode(&e, path), 0700);
        assert_owner(path, uid, gid);

        _cleanup_free_ char *sshd = e2e_read(&e, SSHD_DROPIN);
        ck_assert_contains(sshd, "\nPasswordAuthentication no\n");

        _cleanup_free_ char *host = e2e_read(&e, "/etc/hostname");
        char want[80];
        snprintf(want, sizeof want, "%s\n", hostname);
        ck_assert_str_eq(host, want);

        ck_assert(e2e_exists(&e, HOST_KEY));
        ck_assert(e2e_exists(&e, HOST_KEY ".pub"));
        ck_assert_int_eq(e2e_mode(&e, HOST_KEY), 0600);

        _cleanup_free_ char *provisioned = e2e_read(&e, STATE_DIR "/provisioned");
        snprintf(want, sizeof want, "%s\n", vm_id);
        ck_assert_str_eq(provisioned, want);
        ck_assert_int_eq(e2e_mode(&e, STATE_DIR "/provisioned"), 0600);
}

/* 1. provisioning: agent on a Gen2 VM. */
START_TEST(provision_gen2) {
        if (!need_root()) return;
        e2e_setup(&e, &(E2eOptions){.provisioning = "agent"});
        e2e_serve_userdata(&e, e2e_custom_data);
        ck_assert_msg(e2e_run(&e, run_args) == 0, "exit %d\n%s", e.exit_code, e.err);

        assert_provisioned("vsensor000003", E2E_VM_ID);
        _cleanup_free_ char *calls = e2e_helper_calls(&e);
        ck_assert_str_eq(calls, e2e_custom_data_calls);
        _cleanup_free_ char *states = step_states();
        ck_assert_contains(states, "provision=done report-ready=done ");

        /* KVP: exactly one 2560-byte record, as the host's KVP daemon reads it. */
        char **keys = NULL, **values = NULL;
        size_t n = 0;
        kvp_read(&keys, &values, &n);
        ck_assert_uint_eq(n, 1);
        ck_assert_str_eq(keys[0], "PROVISIONING_REPORT");
        ck_assert_uint_eq(strncmp(values[0], "result=success|agent=vsensor-init/", 34), 0);
        ck_assert_contains(values[0], "|vm_id=" E2E_VM_ID "|");
        ck_assert_contains(values[0], "|timestamp=");
        _cleanup_free_ char *pool = file_under_root(KVP_POOL);
        _cleanup_free_ char *raw = NULL;
        size_t rawlen = 0;
        ck_assert_int_ge(read_file_capped(pool, 1024 * 1024, &raw, &rawlen), 0);
        ck_assert_uint_eq(rawlen, KVP_RECORD_SIZE);
        ck_assert_int_eq(memcmp(raw, "PROVISIONING_REPORT", 19), 0);
        size_t i = 19;
        while (i < KVP_KEY_SIZE && raw[i] == 0) i++;
        ck_assert_msg(i == KVP_KEY_SIZE, "key byte %zu is not zero", i);
        size_t vlen = strlen(values[0]);
        ck_assert_int_eq(memcmp(raw + KVP_KEY_SIZE, values[0], vlen), 0);
        i = KVP_KEY_SIZE + vlen;
        while (i < KVP_RECORD_SIZE && raw[i] == 0) i++;
        ck_assert_msg(i == KVP_RECORD_SIZE, "value byte %zu is not zero", i - KVP_KEY_SIZE);
        print_hex("KVP key, first 32 bytes", (const unsigned char *)raw, 32);
        print_hex("KVP value, first 32 bytes", (const unsigned char *)raw + KVP_KEY_SIZE, 32);
        printf("KVP value: %s\n", values[0]);
        strv_free(keys);
        strv_free(values);

        /* The goal state, then one health report, both with the protocol headers. */
        json_t *gs = requests_for("GET", "/machine/");
        ck_assert_uint_eq(json_array_size(gs), 1);
        json_t *g = json_array_get(gs, 0);
        ck_assert_str_eq(json_string_value(json_object_get(g, "query")), "comp=goalstate");
        ck_assert_str_eq(req_header(g, "x-ms-version"), "2012-11-30");
        ck_assert_contains(req_header(g, "x-ms-agent-name"), "vsensor-init/");
        json_decref(gs);

        json_t *hs = requests_for("POST", "/machine");
        ck_assert_uint_eq(json_array_size(hs), 1);
        json_t *h = json_array_get(hs, 0);
        ck_assert_str_eq(json_string_value(json_object_get(h, "query")), "comp=health");
        ck_assert_str_eq(req_header(h, "content-type"), "text/xml;charset=utf-8");
        ck_assert_str_eq(req_header(h, "x-ms-version"), "2012-11-30");
        ck_assert_contains(req_header(h, "x-ms-agent-name"), "vsensor-init/");
        const char *body = req_body(h);
        ck_assert_contains(body, "<GoalStateIncarnation>7</GoalStateIncarnation>");
        ck_assert_contains(body, "<ContainerId>" CONTAINER_ID "</ContainerId>");
        ck_assert_contains(body, "<InstanceId>" INSTANCE_ID "</InstanceId>");
        ck_assert_contains(body, "<State>Ready</State>");
        ck_assert_not_contains(body, "NotReady");
        printf("health body (Ready):\n%s\n", body);
        json_decref(hs);

        /* The KVP record was on disk before the wireserver heard anything. */
        _cleanup_free_ char *log = e2e_read(&e, LOG_FILE);
        ck_assert_contains(log, "reported ready to Azure");
        ck_assert_contains(log, "created admin user azureuser");
        e2e_assert_no_secrets(&e);
}
END_TEST

/* 2. Gen1: the DMI uuid's first three fields are byte-swapped. */
START_TEST(provision_gen1) {
        if (!need_root()) return;
        e2e_setup(&e, &(E2eOptions){.provisioning = "agent", .gen1 = true});
        e2e_serve_userdata(&e, e2e_custom_data);
        ck_assert_msg(e2e_run(&e, run_args) == 0, "exit %d\n%s", e.exit_code, e.err);
        _cleanup_free_ char *provisioned = e2e_read(&e, STATE_DIR "/provisioned");
        ck_assert_str_eq(provisioned, E2E_VM_ID "\n");
        char **keys = NULL, **values = NULL;
        size_t n = 0;
        kvp_read(&keys, &values, &n);
        ck_assert_uint_eq(n, 1);
        ck_assert_contains(values[0], "|vm_id=" E2E_VM_ID "|");
        strv_free(keys);
        strv_free(values);
        ck_assert_int_eq(e2e_run(&e, (const char *[]){"status", "--json", NULL}), 0);
        ck_assert_contains(e.out, "\"vm_id\": \"" E2E_VM_ID "\"");
        e2e_assert_no_secrets(&e);
}
END_TEST

/* No DMI product_uuid: the VM id is IMDS compute.vmId, in lower case; a rerun after
 * the reboot does not provision or report again. */
START_TEST(vm_id_from_imds) {
        if (!need_root()) return;
        e2e_setup(&e, &(E2eOptions){.provisioning = "agent"});
        _cleanup_free_ char *uuid = file_under_root("/sys/class/dmi/id/product_uuid");
        ck_assert_int_eq(unlink(uuid), 0);
        e2e_serve_userdata(&e, e2e_custom_data);
        if (e2e_run(&e, run_args) != 0) {
                _cleanup_free_ char *log = e2e_read(&e, LOG_FILE);
                ck_abort_msg("exit %d in %s\n%s\nlog:\n%s", e.exit_code, e.dir, e.err, log);
        }
        _cleanup_free_ char *provisioned = e2e_read(&e, STATE_DIR "/provisioned");
        ck_assert_str_eq(provisioned, E2E_VM_ID "\n");
        ck_assert_uint_eq(kvp_count(), 1);
        ck_assert_uint_eq(e2e_count(&e, "POST", "/machine"), 1);
        _cleanup_free_ char *key1 = e2e_read(&e, HOST_KEY);

        ck_assert_msg(e2e_run(&e, run_args) == 0, "exit %d\n%s", e.exit_code, e.err);
        ck_assert_uint_eq(kvp_count(), 1);
        ck_assert_uint_eq(e2e_count(&e, "POST", "/machine"), 1);
        _cleanup_free_ char *key2 = e2e_read(&e, HOST_KEY);
        ck_assert_str_eq(key1, key2);
        _cleanup_free_ char *calls = e2e_helper_calls(&e);
        ck_assert_str_eq(calls, e2e_custom_data_calls);
        e2e_assert_no_secrets(&e);
}
END_TEST

/* 3. Invalid custom data: OS provisioning goes on, Azure hears why, no helper runs. */
static void bad_custom_data(const char *custom_data, const char *key, const char *not_in_body) {
        e2e_setup(&e, &(E2eOptions){.provisioning = "agent"});
        e2e_serve_userdata(&e, custom_data);
        ck_assert_int_eq(e2e_run(&e, run_args), 65);

        assert_provisioned("vsensor000003", E2E_VM_ID);
        _cleanup_free_ char *calls = e2e_helper_calls(&e);
        ck_assert_str_eq(calls, "");
        ck_assert(!e2e_exists(&e, "/etc/darktrace/.user-data-success"));

        json_t *hs = requests_for("POST", "/machine");
        ck_assert_uint_eq(json_array_size(hs), 1);
        const char *body = req_body(json_array_get(hs, 0));
        ck_assert_contains(body, "<State>NotReady</State>");
        ck_assert_contains(body, "<SubStatus>ProvisioningFailed</SubStatus>");
        ck_assert_contains(body, "<Description>");
        const char *desc = strstr(body, "<Description>");
        ck_assert_contains(desc, key);
        ck_assert_ptr_nonnull(strstr(desc, "</Description>"));
        for (size_t i = 0; canary_values[i]; i++)
                ck_assert_msg(!strstr(body, canary_values[i]), "canary #%zu in the health body", i);
        if (not_in_body) ck_assert_not_contains(body, not_in_body);
        printf("health body (%s):\n%s\n", key, body);
        json_decref(hs);

        char **keys = NULL, **values = NULL;
        size_t n = 0;
        kvp_read(&keys, &values, &n);
        ck_assert_uint_eq(n, 1);
        ck_assert_str_eq(keys[0], "PROVISIONING_REPORT");
        ck_assert_uint_eq(strncmp(values[0], "result=error|reason=", 20), 0);
        ck_assert_contains(values[0], key);
        ck_assert_contains(values[0], "|vm_id=" E2E_VM_ID "|");
        printf("KVP value: %s\n", values[0]);
        strv_free(keys);
        strv_free(values);

        _cleanup_free_ char *states = step_states();
        ck_assert_contains(states, "provision=done ");
        ck_assert_contains(states, "install=pending ");
        ck_assert_contains(states, "register=pending ");
        e2e_assert_no_secrets(&e);
}

START_TEST(bad_custom_data_unknown_key) {
        if (!need_root()) return;
        /* The key's name reaches Azure XML-escaped (and the KVP record as it is). */
        _cleanup_free_ char *cd = strjoin(e2e_custom_data, "  colour<&>: blue\n", NULL);
        ck_assert_ptr_nonnull(cd);
        bad_custom_data(cd, "colour", NULL);
        json_t *hs = requests_for("POST", "/machine");
        const char *body = req_body(json_array_get(hs, 0));
        ck_assert_contains(body, "colour&lt;&amp;&gt;");
        ck_assert_not_contains(body, "colour<");
        json_decref(hs);
        char **keys = NULL, **values = NULL;
        size_t n = 0;
        kvp_read(&keys, &values, &n);
        ck_assert_contains(values[0], "colour<&>");
        strv_free(keys);
        strv_free(values);
}
END_TEST

START_TEST(bad_custom_data_short_hmac) {
        if (!need_root()) return;
        static const char cd[] =
                "vsensor:\n"
                "  update_key: \"" CANARY_UPDATE_KEY "\"\n"
                "  master:\n"
                "    host: dt-master.example.com\n"
                "    push_token: \"" CANARY_PUSH_TOKEN "\"\n"
                "  ossensor:\n"
                "    hmac_token: \"Shrt5\"\n";
        bad_custom_data(cd, "hmac_token", "Shrt5");
}
END_TEST

/* 4. The wireserver fails for a while: retried until it takes the report. */
START_TEST(wireserver_retries) {
        if (!need_root()) return;
        e2e_setup(&e, &(E2eOptions){.provisioning = "agent"});
        e2e_serve_userdata(&e, e2e_custom_data);
        _cleanup_free_ char *goal_state = tu_read_top("test/data/wireserver/goalstate.xml", NULL);
        ck_assert_int_eq(fake_server_route(e.fake, "GET", "/machine/",
                                           (FakeResponse[]){{.status = 500}, {.body = goal_state, .content_type = "text/xml"}}, 2), 0);
        ck_assert_int_eq(fake_server_route(e.fake, "POST", "/machine",
                                           (FakeResponse[]){{.status = 503, .times = 2}, {.status = 200}}, 2), 0);
        ck_assert_msg(e2e_run(&e, run_args) == 0, "exit %d\n%s", e.exit_code, e.err);
        ck_assert_uint_eq(e2e_count(&e, "POST", "/machine"), 3);
        ck_assert_uint_ge(e2e_count(&e, "GET", "/machine/"), 2);
        json_t *hs = requests_for("POST", "/machine");
        size_t i;
        json_t *h;
        json_array_foreach(hs, i, h) {
                ck_assert_contains(req_body(h), "<State>Ready</State>");
                ck_assert_contains(req_body(h), "<GoalStateIncarnation>7</GoalStateIncarnation>");
        }
        json_decref(hs);
        ck_assert_uint_eq(kvp_count(), 1);
        _cleanup_free_ char *states = step_states();
        ck_assert_contains(states, "report-ready=done ");
        e2e_assert_no_secrets(&e);
}
END_TEST

/* 5a. A run after a reboot does not report again: the instance is reported once. */
START_TEST(rerun_reports_once) {
        if (!need_root()) return;
        e2e_setup(&e, &(E2eOptions){.provisioning = "agent"});
        e2e_serve_userdata(&e, e2e_custom_data);
        /* The first run stops at register (a helper fails every try). */
        e2e_put(&e, "/fake/fail/set_pushtoken.sh", "2\n", 0644);
        ck_assert_int_eq(e2e_run(&e, run_args), 75);
        ck_assert_uint_eq(e2e_count(&e, "POST", "/machine"), 1);
        ck_assert_uint_eq(kvp_count(), 1);
        /* Reported ready already: a vSensor step failing is not a provisioning failure. */
        json_t *hs = requests_for("POST", "/machine");
        ck_assert_contains(req_body(json_array_get(hs, 0)), "<State>Ready</State>");
        json_decref(hs);
        _cleanup_free_ char *key1 = e2e_read(&e, HOST_KEY);
        ck_assert_ptr_nonnull(key1);

        /* The reboot: resumes at register, no second report, no new keys. */
        ck_assert_msg(e2e_run(&e, run_args) == 0, "exit %d\n%s", e.exit_code, e.err);
        ck_assert_uint_eq(e2e_count(&e, "POST", "/machine"), 1);
        ck_assert_uint_eq(e2e_count(&e, "GET", "/machine/"), 1);
        ck_assert_uint_eq(kvp_count(), 1);
        _cleanup_free_ char *key2 = e2e_read(&e, HOST_KEY);
        ck_assert_str_eq(key1, key2);

        /* And a no-op run after that. */
        ck_assert_int_eq(e2e_run(&e, run_args), 0);
        ck_assert_uint_eq(e2e_count(&e, "POST", "/machine"), 1);
        ck_assert_uint_eq(kvp_count(), 1);
        _cleanup_free_ char *log = e2e_read(&e, LOG_FILE);
        ck_assert_uint_eq(count_of(log, "created admin user azureuser"), 1);
        ck_assert_uint_eq(count_of(log, "reported ready to Azure"), 1);
        e2e_assert_no_secrets(&e);
}
END_TEST

/* 5b. The ready report fails at the deadline; the next run reports, and only that. */
START_TEST(ready_report_fails_then_recovers) {
        if (!need_root()) return;
        e2e_setup(&e, &(E2eOptions){.provisioning = "agent"});
        _cleanup_free_ char *cfg = NULL;
        ck_assert_int_ge(read_file_capped(e.config, 65536, &cfg, NULL), 0);
        /* wireserver: { url: "http://127.0.0.1:PORT", deadline: 5 } => deadline: 2 */
        char *ws = strstr(cfg, "wireserver: {");
        ck_assert_ptr_nonnull(ws);
        char *dl = strstr(ws, "deadline: 5 }");
        ck_assert_ptr_nonnull(dl);
        dl[10] = '2';
        ck_assert_int_eq(write_file_atomic(e.config, cfg, strlen(cfg), 0600), 0);
        e2e_serve_userdata(&e, e2e_custom_data);
        ck_assert_int_eq(fake_server_route(e.fake, "POST", "/machine", &(FakeResponse){.status = 503}, 1), 0);

        int64_t start = now_monotonic_ms();
        ck_assert_int_eq(e2e_run(&e, run_args), 69);
        int64_t took = now_monotonic_ms() - start;
        ck_assert_msg(took < 15000, "the failed run took %lld ms", (long long)took);
        ck_assert_uint_ge(e2e_count(&e, "POST", "/machine"), 1);
        _cleanup_free_ char *states = step_states();
        /* The host keys are made all the same: sshd starts once the unit has failed. */
        ck_assert_contains(states, "provision=done report-ready=failed host-keys=done ");
        ck_assert_contains(states, "install=pending ");
        _cleanup_free_ char *calls = e2e_helper_calls(&e);
        ck_assert_str_eq(calls, "");
        _cleanup_free_ char *key1 = e2e_read(&e, HOST_KEY);
        ck_assert_ptr_nonnull(key1);
        _cleanup_free_ char *log1 = e2e_read(&e, LOG_FILE);
        ck_assert_contains(log1, "did not take the ready report");
        /* The ready report's record, then the failure's (tried too, in case the
         * wireserver came back). */
        char **keys = NULL, **values = NULL;
        size_t kvp1 = 0;
        kvp_read(&keys, &values, &kvp1);
        ck_assert_uint_eq(kvp1, 2);
        ck_assert_uint_eq(strncmp(values[0], "result=success|", 15), 0);
        ck_assert_uint_eq(strncmp(values[1], "result=error|reason=", 20), 0);
        ck_assert_contains(values[1], "step report-ready failed");
        strv_free(keys);
        strv_free(values);

        /* The wireserver recovers: the rerun reports ready once, provisions nothing. */
        ck_assert_int_eq(fake_server_route(e.fake, "POST", "/machine", &(FakeResponse){.status = 200}, 1), 0);
        size_t posts = e2e_count(&e, "POST", "/machine");
        ck_assert_msg(e2e_run(&e, run_args) == 0, "exit %d\n%s", e.exit_code, e.err);
        ck_assert_uint_eq(e2e_count(&e, "POST", "/machine"), posts + 1);
        json_t *hs = requests_for("POST", "/machine");
        ck_assert_contains(req_body(json_array_get(hs, posts)), "<State>Ready</State>");
        json_decref(hs);
        ck_assert_uint_eq(kvp_count(), kvp1 + 1);
        _cleanup_free_ char *key2 = e2e_read(&e, HOST_KEY);
        ck_assert_str_eq(key1, key2);
        _cleanup_free_ char *log2 = e2e_read(&e, LOG_FILE);
        ck_assert_uint_eq(count_of(log2, "useradd"), count_of(log1, "useradd"));
        ck_assert_uint_eq(count_of(log2, "created admin user"), 1);
        ck_assert_uint_eq(count_of(log2, "new SSH host keys generated"), 1);
        _cleanup_free_ char *calls2 = e2e_helper_calls(&e);
        ck_assert_str_eq(calls2, e2e_custom_data_calls);
        free(states);
        states = step_states();
        ck_assert_contains(states, "provision=done report-ready=done ");
        e2e_assert_no_secrets(&e);
}
END_TEST

/* 6. A captured image boots as a new VM: everything is done again for it. */
START_TEST(new_vm_id_provisions_again) {
        if (!need_root()) return;
        e2e_setup(&e, &(E2eOptions){.provisioning = "agent"});
        e2e_serve_userdata(&e, e2e_custom_data);
        ck_assert_msg(e2e_run(&e, run_args) == 0, "exit %d\n%s", e.exit_code, e.err);
        _cleanup_free_ char *key1 = e2e_read(&e, HOST_KEY);
        ck_assert_ptr_nonnull(key1);

        /* The new VM has its own custom data (another master). */
        static const char new_vm[] = "0d9b7c55-3e1f-4c2a-9d8e-7f6a5b4c3d2e";
        e2e_put(&e, "/sys/class/dmi/id/product_uuid", "0D9B7C55-3E1F-4C2A-9D8E-7F6A5B4C3D2E\n", 0444);
        _cleanup_free_ char *cd2 = strdup(e2e_custom_data);
        char *host = strstr(cd2, "dt-master.example.com");
        ck_assert_ptr_nonnull(host);
        memcpy(host, "dt-other1", 9);
        e2e_serve_userdata(&e, cd2);

        ck_assert_msg(e2e_run(&e, run_args) == 0, "exit %d\n%s", e.exit_code, e.err);
        _cleanup_free_ char *key2 = e2e_read(&e, HOST_KEY);
        ck_assert_ptr_nonnull(key2);
        ck_assert_str_ne(key1, key2);
        _cleanup_free_ char *provisioned = e2e_read(&e, STATE_DIR "/provisioned");
        char want[64];
        snprintf(want, sizeof want, "%s\n", new_vm);
        ck_assert_str_eq(provisioned, want);
        ck_assert_uint_eq(e2e_count(&e, "POST", "/machine"), 2);

        char **keys = NULL, **values = NULL;
        size_t n = 0;
        kvp_read(&keys, &values, &n);
        ck_assert_uint_eq(n, 2);
        ck_assert_contains(values[0], "|vm_id=" E2E_VM_ID "|");
        char vm[80];
        snprintf(vm, sizeof vm, "|vm_id=%s|", new_vm);
        ck_assert_contains(values[1], vm);
        strv_free(keys);
        strv_free(values);

        /* Every vSensor step ran again, with the new VM's custom data. */
        _cleanup_free_ char *calls = e2e_helper_calls(&e);
        ck_assert_uint_eq(count_of(calls, "set_ephemeral.sh 1\n"), 2);
        ck_assert_contains(calls, "set_pushtoken.sh " CANARY_PUSH_TOKEN " dt-other1.example.com:443\n");
        _cleanup_free_ char *log = e2e_read(&e, LOG_FILE);
        ck_assert_contains(log, "new VM id 0d9b7c55-3e1f-4c2a-9d8e-7f6a5b4c3d2e");
        ck_assert_uint_eq(count_of(log, "new SSH host keys generated"), 2);
        ck_assert_uint_eq(count_of(log, "reported ready to Azure"), 2);
        ck_assert_contains(log, "admin user azureuser exists");
        e2e_assert_no_secrets(&e);
}
END_TEST

/* 7. Modes where this agent does not provision: no KVP, no wireserver. */
static void assert_not_provisioned(void) {
        ck_assert_msg(e2e_run(&e, run_args) == 0, "exit %d\n%s", e.exit_code, e.err);
        ck_assert(!e2e_exists(&e, KVP_POOL));
        ck_assert_uint_eq(e2e_count(&e, "GET", "/machine/"), 0);
        ck_assert_uint_eq(e2e_count(&e, "POST", "/machine"), 0);
        ck_assert_uint_eq(e2e_count(&e, "GET", "/metadata/instance"), 1);
        ck_assert(!e2e_exists(&e, "/etc/hostname"));
        ck_assert(!e2e_exists(&e, SUDOERS));
        ck_assert(!e2e_exists(&e, STATE_DIR "/provisioned"));
        _cleanup_free_ char *passwd = e2e_read(&e, "/etc/passwd");
        ck_assert_not_contains(passwd, "azureuser");
        _cleanup_free_ char *calls = e2e_helper_calls(&e);
        ck_assert_str_eq(calls, e2e_custom_data_calls);
        _cleanup_free_ char *states = step_states();
        ck_assert_contains(states, "provision=skipped report-ready=skipped ");
        ck_assert_contains(states, "finish=done ");
        e2e_assert_no_secrets(&e);
}

START_TEST(mode_none) {
        e2e_setup(&e, &(E2eOptions){.provisioning = "none"});
        e2e_serve_userdata(&e, e2e_custom_data);
        assert_not_provisioned();
}
END_TEST

START_TEST(mode_auto_after_waagent) {
        e2e_setup(&e, &(E2eOptions){.provisioning = "auto"});
        e2e_serve_userdata(&e, e2e_custom_data);
        e2e_put(&e, "/var/lib/waagent/provisioned", "", 0644);
        assert_not_provisioned();
}
END_TEST

START_TEST(mode_auto_provisions) {
        if (!need_root()) return;
        e2e_setup(&e, &(E2eOptions){.provisioning = "auto"});
        e2e_serve_userdata(&e, e2e_custom_data);
        /* The image carries a KVP pool written before this boot: reports don't pile up. */
        char stale[KVP_RECORD_SIZE * 2 + 1];
        memset(stale, 'x', sizeof stale - 1);
        stale[sizeof stale - 1] = 0;
        e2e_put(&e, KVP_POOL, stale, 0644);
        _cleanup_free_ char *pool = file_under_root(KVP_POOL);
        ck_assert_int_eq(utimensat(AT_FDCWD, pool, (struct timespec[]){{.tv_sec = 946684800}, {.tv_sec = 946684800}}, 0), 0);
        ck_assert_uint_eq(kvp_count(), 2);

        ck_assert_msg(e2e_run(&e, run_args) == 0, "exit %d\n%s", e.exit_code, e.err);
        assert_provisioned("vsensor000003", E2E_VM_ID);
        char **keys = NULL, **values = NULL;
        size_t n = 0;
        kvp_read(&keys, &values, &n);
        ck_assert_uint_eq(n, 1);
        ck_assert_str_eq(keys[0], "PROVISIONING_REPORT");
        ck_assert_uint_eq(strncmp(values[0], "result=success|", 15), 0);
        strv_free(keys);
        strv_free(values);
        ck_assert_uint_eq(e2e_count(&e, "POST", "/machine"), 1);
        e2e_assert_no_secrets(&e);
}
END_TEST

/* waagent provisions and reports; the agent waits for waagent's "provisioned" file
 * (telling systemd it is ready first, so waagent ordered after it can start), then takes
 * the custom data waagent left. */
START_TEST(mode_waagent) {
        e2e_setup(&e, &(E2eOptions){.provisioning = "waagent"});
        /* waagent keeps it base64-encoded (unless told to decode it). */
        _cleanup_free_ char *yaml = tu_read_top("test/data/ovf/custom-data.yaml", NULL);
        _cleanup_free_ char *b64 = base64_encode(yaml, strlen(yaml));
        e2e_put(&e, "/var/lib/waagent/CustomData", b64, 0600);
        pid_t pid = e2e_start(&e, run_args);
        sleep_ms(800);
        /* Still waiting: nothing past load has run. */
        _cleanup_free_ char *early = e2e_helper_calls(&e);
        ck_assert_str_eq(early, "");
        e2e_put(&e, "/var/lib/waagent/provisioned", "", 0644);
        ck_assert_msg(e2e_wait(&e, pid) == 0, "exit %d\n%s", e.exit_code, e.err);
        ck_assert(!e2e_exists(&e, KVP_POOL));
        ck_assert_uint_eq(e2e_count(&e, "POST", "/machine"), 0);
        ck_assert_uint_eq(e2e_count(&e, "GET", "/machine/"), 0);
        ck_assert_uint_eq(e2e_count(&e, "GET", "/metadata/instance/compute/userData"), 0);
        ck_assert(!e2e_exists(&e, "/etc/hostname"));
        _cleanup_free_ char *log = e2e_read(&e, LOG_FILE);
        ck_assert_contains(log, "/var/lib/waagent/CustomData");
        ck_assert_contains(log, "waiting for waagent to provision the instance");
        _cleanup_free_ char *calls = e2e_helper_calls(&e);
        ck_assert_contains(calls, "set_pushtoken.sh " CANARY_PUSH_TOKEN " dt-master.example.com:443\n");
        ck_assert_contains(calls, "set_pcap_size.sh 0\n");
        _cleanup_free_ char *states = step_states();
        ck_assert_contains(states, "provision=skipped report-ready=skipped ");
        e2e_assert_no_secrets(&e);
}
END_TEST

/* waagent never provisions: the wait ends at the wireserver deadline (5 s in the
 * harness) with 69 and a message naming the file it waited for. */
START_TEST(mode_waagent_never_provisions) {
        e2e_setup(&e, &(E2eOptions){.provisioning = "waagent"});
        ck_assert_int_eq(e2e_run(&e, run_args), 69);
        ck_assert_contains(e.err, "waagent did not provision the instance within 5 s");
        ck_assert_contains(e.err, "/var/lib/waagent/provisioned");
        _cleanup_free_ char *calls = e2e_helper_calls(&e);
        ck_assert_str_eq(calls, "");
        e2e_assert_no_secrets(&e);
}
END_TEST

/* Index of the first line of the log holding needle (-1 when none). */
static long line_of(const char *log, const char *needle) {
        const char *p = strstr(log, needle);
        if (!p) return -1;
        long n = 0;
        for (const char *q = log; q < p; q++) n += *q == '\n';
        return n;
}

/* report_ready: late — Azure hears "ready" once the vSensor is configured. */
START_TEST(report_ready_late) {
        if (!need_root()) return;
        e2e_setup(&e, &(E2eOptions){.provisioning = "agent", .report_ready = "late"});
        e2e_serve_userdata(&e, e2e_custom_data);
        int64_t start = now_monotonic_ms();
        ck_assert_msg(e2e_run(&e, run_args) == 0, "exit %d\n%s", e.exit_code, e.err);
        ck_assert_uint_eq(e2e_count(&e, "POST", "/machine"), 1);
        ck_assert_uint_eq(kvp_count(), 1);
        _cleanup_free_ char *calls = e2e_helper_calls(&e);
        ck_assert_str_eq(calls, e2e_custom_data_calls);

        _cleanup_free_ char *log = e2e_read(&e, LOG_FILE);
        long ready = line_of(log, "reported ready to Azure");
        long ephemeral = line_of(log, "set_ephemeral.sh: applying");
        long upgrades = line_of(log, "os-updates: done");
        ck_assert_int_ge(ephemeral, 0);
        ck_assert_int_ge(upgrades, 0);
        ck_assert_msg(ready > ephemeral && ready > upgrades, "ready at line %ld, helpers up to %ld/%ld:\n%s", ready,
                      ephemeral, upgrades, log);
        /* The fake server's clock agrees: the report came late in the run. */
        json_t *hs = requests_for("POST", "/machine");
        json_t *installs = requests_for("GET", "/install");
        ck_assert_uint_eq(json_array_size(installs), 1);
        ck_assert_int_gt(json_integer_value(json_object_get(json_array_get(hs, 0), "time_ms")),
                         json_integer_value(json_object_get(json_array_get(installs, 0), "time_ms")));
        ck_assert_int_gt(json_integer_value(json_object_get(json_array_get(hs, 0), "time_ms")), start);
        ck_assert_contains(req_body(json_array_get(hs, 0)), "<State>Ready</State>");
        json_decref(hs);
        json_decref(installs);
        _cleanup_free_ char *states = step_states();
        ck_assert_contains(states, "finish=done");
        e2e_assert_no_secrets(&e);
}
END_TEST

/* report_ready: late and a vSensor step fails: Azure hears which. */
START_TEST(report_ready_late_step_failure) {
        if (!need_root()) return;
        e2e_setup(&e, &(E2eOptions){.provisioning = "agent", .report_ready = "late"});
        e2e_serve_userdata(&e, e2e_custom_data);
        e2e_put(&e, "/fake/fail/set_ossensor_hmac.sh", "2\n", 0644);
        ck_assert_int_eq(e2e_run(&e, run_args), 75);
        json_t *hs = requests_for("POST", "/machine");
        ck_assert_uint_eq(json_array_size(hs), 1);
        const char *body = req_body(json_array_get(hs, 0));
        ck_assert_contains(body, "<State>NotReady</State>");
        ck_assert_contains(body, "<SubStatus>ProvisioningFailed</SubStatus>");
        ck_assert_contains(body, "step hmac failed");
        for (size_t i = 0; canary_values[i]; i++)
                ck_assert_msg(!strstr(body, canary_values[i]), "canary #%zu in the health body", i);
        printf("health body (late, hmac failed):\n%s\n", body);
        json_decref(hs);
        char **keys = NULL, **values = NULL;
        size_t n = 0;
        kvp_read(&keys, &values, &n);
        ck_assert_uint_eq(n, 1);
        ck_assert_uint_eq(strncmp(values[0], "result=error|reason=", 20), 0);
        ck_assert_contains(values[0], "step hmac failed");
        strv_free(keys);
        strv_free(values);

        /* Fixed: the rerun resumes at hmac and reports ready at the end. */
        ck_assert_msg(e2e_run(&e, run_args) == 0, "exit %d\n%s", e.exit_code, e.err);
        hs = requests_for("POST", "/machine");
        ck_assert_uint_eq(json_array_size(hs), 2);
        ck_assert_contains(req_body(json_array_get(hs, 1)), "<State>Ready</State>");
        json_decref(hs);
        ck_assert_uint_eq(kvp_count(), 2);
        e2e_assert_no_secrets(&e);
}
END_TEST

/* 8. ovf-env.xml from the provisioning media (a directory under --root). */
START_TEST(ovf_media_directory) {
        if (!need_root()) return;
        e2e_setup(&e, &(E2eOptions){.provisioning = "agent"});
        _cleanup_free_ char *ovf = tu_read_top("test/data/ovf/azure.xml", NULL);
        e2e_put(&e, "/media/ovf/ovf-env.xml", ovf, 0644);
        _cleanup_free_ char *instance = tu_read_top("test/data/imds/instance-no-osprofile.json", NULL);
        ck_assert_int_eq(fake_server_route(e.fake, "GET", "/metadata/instance",
                                           &(FakeResponse){.body = instance, .content_type = "application/json"}, 1), 0);
        ck_assert_msg(e2e_run(&e, run_args) == 0, "exit %d\n%s", e.exit_code, e.err);

        /* The custom data came from the media; IMDS userData was not needed. */
        ck_assert_uint_eq(e2e_count(&e, "GET", "/metadata/instance/compute/userData"), 0);
        _cleanup_free_ char *log = e2e_read(&e, LOG_FILE);
        ck_assert_contains(log, "custom data from the provisioning media (ovf-env.xml) is valid");
        _cleanup_free_ char *calls = e2e_helper_calls(&e);
        ck_assert_str_eq(calls, "set_pushtoken.sh " CANARY_PUSH_TOKEN " dt-master.example.com:443\n"
                                "set_ossensor_hmac.sh " CANARY_HMAC_TOKEN "\n"
                                "set_pcap_size.sh 0\n"
                                "set_ossensor_loadbalancer_direct.sh 1\n"
                                "set_ephemeral.sh 1\n");

        /* The copy kept holds neither the password nor the custom data. */
        ck_assert_int_eq(e2e_mode(&e, STATE_DIR "/ovf-env.xml"), 0600);
        _cleanup_free_ char *kept = e2e_read(&e, STATE_DIR "/ovf-env.xml");
        ck_assert_contains(kept, "vsensor-vmss000001");
        ck_assert_not_contains(kept, "Fixture-Passw0rd");
        ck_assert_not_contains(kept, "Passw0rd");
        ck_assert_not_contains(kept, "dnNlbnNvcjo");
        ck_assert_contains(kept, "CustomData");

        /* No osProfile in IMDS: hostname, user and keys from the OVF. */
        _cleanup_free_ char *host = e2e_read(&e, "/etc/hostname");
        ck_assert_str_eq(host, "vsensor-vmss000001\n");
        uid_t uid;
        gid_t gid;
        char home[256];
        passwd_entry("azureuser", &uid, &gid, home, sizeof home);
        _cleanup_free_ char *keys = e2e_read(&e, "/home/azureuser/.ssh/authorized_keys");
        ck_assert_contains(keys, "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7fixturekey1== azureuser@example\n");
        ck_assert_contains(keys, "\nssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFixtureKey2 ops@example\n");
        assert_owner("/home/azureuser/.ssh/authorized_keys", uid, gid);
        _cleanup_free_ char *sshd = e2e_read(&e, SSHD_DROPIN);
        ck_assert_contains(sshd, "\nPasswordAuthentication no\n");
        _cleanup_free_ char *sudoers = e2e_read(&e, SUDOERS);
        ck_assert_contains(sudoers, "\nazureuser ALL=(ALL) NOPASSWD:ALL\n");
        ck_assert_uint_eq(e2e_count(&e, "POST", "/machine"), 1);

        /* The media gone (ejected), a rerun after reboot still has what it needs. */
        _cleanup_free_ char *media = file_under_root("/media/ovf/ovf-env.xml");
        ck_assert_int_eq(unlink(media), 0);
        _cleanup_free_ char *marker = file_under_root("/etc/darktrace/.user-data-success");
        ck_assert_int_eq(unlink(marker), 0);
        ck_assert_msg(e2e_run(&e, run_args) == 0, "exit %d\n%s", e.exit_code, e.err);
        ck_assert(e2e_exists(&e, "/etc/darktrace/.user-data-success"));
        ck_assert_uint_eq(e2e_count(&e, "POST", "/machine"), 1);
        e2e_assert_no_secrets(&e);
}
END_TEST

/* Under --root, ovf_media naming a block device is never mounted. (No ISO is built:
 * neither genisoimage nor xorriso is needed for this.) */
START_TEST(ovf_media_block_device_not_mounted) {
        if (!need_root()) return;
        e2e_setup(&e, &(E2eOptions){.provisioning = "agent"});
        config_replace("ovf_media: /media/ovf", "ovf_media: /dev/sr9");
        _cleanup_free_ char *devdir = file_under_root("/dev");
        ck_assert_int_eq(mkdir(devdir, 0755), 0);
        _cleanup_free_ char *dev = file_under_root("/dev/sr9");
        /* A loop device number nothing uses: were it opened, nothing would happen. */
        if (mknod(dev, S_IFBLK | 0600, makedev(7, 250)) < 0) {
                TEST_SKIP("cannot make a block device node: %m");
                return;
        }
        e2e_serve_userdata(&e, e2e_custom_data);
        ck_assert_msg(e2e_run(&e, run_args) == 0, "exit %d\n%s", e.exit_code, e.err);
        _cleanup_free_ char *log = e2e_read(&e, LOG_FILE);
        ck_assert_not_contains(log, "provisioning media:");
        ck_assert_not_contains(log, "cannot read the provisioning media");
        ck_assert_contains(log, "custom data from IMDS userData is valid");
        ck_assert(!e2e_exists(&e, STATE_DIR "/ovf-env.xml"));
        struct stat st;
        ck_assert_int_eq(stat(dev, &st), 0);
        ck_assert(S_ISBLK(st.st_mode));
        ck_assert_uint_eq(e2e_count(&e, "POST", "/machine"), 1);
        e2e_assert_no_secrets(&e);
}
END_TEST

/* 9. The default URLs (169.254.169.254, 168.63.129.16) in a private network
 * namespace where the fake server listens on port 80 of those addresses. */
static const char *const ip_paths[] = {"/sbin/ip", "/usr/sbin/ip", "/bin/ip", "/usr/bin/ip"};

/* The ip program (iproute2), NULL when it is not installed. */
static const char *find_ip(void) {
        for (size_t i = 0; i < ELEMENTSOF(ip_paths); i++)
                if (access(ip_paths[i], X_OK) == 0) return ip_paths[i];
        return NULL;
}

static int run_ip(const char *const *args) {
        const char *ip = find_ip();
        if (!ip) return 127;
        pid_t pid = fork();
        if (pid < 0) return -errno;
        if (pid == 0) {
                int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
                if (null >= 0) dup2(null, 1);
                static char *const env[] = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL};
                execve(ip, (char *const *)args, env);
                _exit(127);
        }
        int status;
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR) return -errno;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

#define NS_SKIP 77

/* The child: no Check assertions (a failure must not unwind into the runner's copy).
 * When the namespace cannot be made it writes the cause to result_file and returns
 * NS_SKIP; a failure after that is a failure. */
static int netns_child(const char *result_file) {
        if (unshare(CLONE_NEWNET) < 0) {
                char cause[200];
                int n = snprintf(cause, sizeof cause, "no private network namespace: unshare(CLONE_NEWNET): %m");
                return write_file_atomic(result_file, cause, (size_t)n, 0600) < 0 ? 2 : NS_SKIP;
        }
        if (run_ip((const char *[]){"ip", "link", "set", "lo", "up", NULL}) != 0 ||
            run_ip((const char *[]){"ip", "addr", "add", "169.254.169.254/32", "dev", "lo", NULL}) != 0 ||
            run_ip((const char *[]){"ip", "addr", "add", "168.63.129.16/32", "dev", "lo", NULL}) != 0) {
                fprintf(stderr, "ip: cannot set up lo in the private network namespace\n");
                return 2;
        }
        FakeServer *s = fake_server_start(&(FakeServerOptions){.bind_address = "0.0.0.0", .port = 80});
        if (!s) {
                fprintf(stderr, "cannot start the fake server on port 80\n");
                return 2;
        }
        _cleanup_free_ char *instance = tu_read_top("test/data/imds/instance.json", NULL);
        _cleanup_free_ char *goal_state = tu_read_top("test/data/wireserver/goalstate.xml", NULL);
        fake_server_route(s, "GET", "/metadata/instance", &(FakeResponse){.body = instance}, 1);
        fake_server_route(s, "GET", "/metadata/instance/compute/userData", &(FakeResponse){.body = ""}, 1);
        fake_server_route(s, "GET", "/machine/", &(FakeResponse){.body = goal_state, .content_type = "text/xml"}, 1);
        fake_server_route(s, "POST", "/machine", &(FakeResponse){.status = 200}, 1);

        /* No URL in the configuration: the defaults. A legacy script as custom data, so
         * no installer download is needed in here. */
        static const char config[] = "provisioning: agent\n"
                                     "imds: { deadline: 5 }\n"
                                     "wireserver: { deadline: 5 }\n"
                                     "apt_lock_deadline: 5\n"
                                     "paths:\n"
                                     "  ovf_media: /media/ovf\n";
        if (write_file_atomic(e.config, config, strlen(config), 0600) < 0) return 2;
        char script[400];
        snprintf(script, sizeof script, "%s/legacy.sh", e.dir);
        static const char legacy[] = "#!/bin/sh\necho legacy script ran\n";
        if (write_file_atomic(script, legacy, strlen(legacy), 0600) < 0) return 2;
        int rc = e2e_run(&e, (const char *[]){"run", "--custom-data", script, NULL});
        json_t *res = json_pack("{s:i, s:i, s:i, s:i, s:s, s:s, s:s, s:s}", "exit", rc, "imds",
                                (int)fake_server_count(s, "GET", "/metadata/instance"), "goalstate",
                                (int)fake_server_count(s, "GET", "/machine/"), "health",
                                (int)fake_server_count(s, "POST", "/machine"), "stderr", e.err ? e.err : "", "body", "",
                "imds_host", "", "wireserver_host", "");
        json_t *reqs = fake_server_requests(s);
        size_t i;
        json_t *r;
        json_array_foreach(reqs, i, r) {
                const char *path = json_string_value(json_object_get(r, "path"));
                json_t *host = json_object_get(json_object_get(r, "headers"), "host");
                if (streq(json_string_value(json_object_get(r, "method")), "POST")) {
                        json_object_set(res, "body", json_object_get(r, "body"));
                        json_object_set(res, "wireserver_host", host);
                }
                if (streq(path, "/metadata/instance")) json_object_set(res, "imds_host", host);
        }
        json_decref(reqs);
        fake_server_stop(s);
        int w = json_dump_file(res, result_file, 0);
        json_decref(res);
        return w == 0 ? 0 : 2;
}

START_TEST(default_urls_in_netns) {
        if (!need_root()) return;
        if (!find_ip()) {
                TEST_SKIP("ip (iproute2) not installed");
                return;
        }
        e2e_setup(&e, &(E2eOptions){.provisioning = "agent"});
        char result[400];
        snprintf(result, sizeof result, "%s/netns-result.json", e.dir);
        fflush(stdout);
        fflush(stderr);
        pid_t pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) _exit(netns_child(result));
        int status;
        while (waitpid(pid, &status, 0) < 0) ck_assert_int_eq(errno, EINTR);
        ck_assert(WIFEXITED(status));
        if (WEXITSTATUS(status) == NS_SKIP) {
                _cleanup_free_ char *cause = tu_read_file(result, NULL);
                TEST_SKIP("%s", cause);
                return;
        }
        ck_assert_int_eq(WEXITSTATUS(status), 0);
        json_error_t jerr;
        json_t *res = json_load_file(result, 0, &jerr);
        ck_assert_ptr_nonnull(res);
        ck_assert_msg(json_integer_value(json_object_get(res, "exit")) == 0, "exit %lld\n%s",
                      json_integer_value(json_object_get(res, "exit")), json_string_value(json_object_get(res, "stderr")));
        ck_assert_int_eq(json_integer_value(json_object_get(res, "imds")), 1);
        ck_assert_int_ge(json_integer_value(json_object_get(res, "goalstate")), 1);
        ck_assert_int_eq(json_integer_value(json_object_get(res, "health")), 1);
        ck_assert_contains(json_string_value(json_object_get(res, "body")), "<State>Ready</State>");
        ck_assert_contains(json_string_value(json_object_get(res, "body")), "<ContainerId>" CONTAINER_ID "</ContainerId>");
        /* Each went to its own address (both are on lo, the server listens on all). */
        ck_assert_str_eq(json_string_value(json_object_get(res, "imds_host")), "169.254.169.254");
        ck_assert_str_eq(json_string_value(json_object_get(res, "wireserver_host")), "168.63.129.16");
        json_decref(res);
        /* The parent's fake server (127.0.0.1, another namespace) heard nothing. */
        ck_assert_uint_eq(e2e_count(&e, "POST", "/machine"), 0);
        ck_assert_uint_eq(kvp_count(), 1);
        _cleanup_free_ char *log = e2e_read(&e, LOG_FILE);
        ck_assert_contains(log, "legacy script ran");
        ck_assert_contains(log, "reported ready to Azure");
        e2e_assert_no_secrets(&e);
}
END_TEST

/* ---- File-system hardening and the Field rules for user, keys and sshd (issue 10) ---- */

/* Serves IMDS instance.json with osProfile.adminUsername and publicKeys replaced
 * (user NULL: unchanged; keys NULL: unchanged, else a NULL-terminated list). */
static void serve_instance(const char *user, const char *const *keys) {
        _cleanup_free_ char *text = tu_read_top("test/data/imds/instance.json", NULL);
        json_error_t jerr;
        json_t *doc = json_loads(text, 0, &jerr);
        ck_assert_ptr_nonnull(doc);
        json_t *compute = json_object_get(doc, "compute");
        if (user) json_object_set_new(json_object_get(compute, "osProfile"), "adminUsername", json_string(user));
        if (keys) {
                json_t *arr = json_array();
                for (const char *const *k = keys; *k; k++)
                        json_array_append_new(arr, json_pack("{s:s, s:s}", "keyData", *k, "path", "/home/x/.ssh/authorized_keys"));
                json_object_set_new(compute, "publicKeys", arr);
        }
        char *body = json_dumps(doc, 0);
        json_decref(doc);
        ck_assert_int_eq(fake_server_route(e.fake, "GET", "/metadata/instance",
                                           &(FakeResponse){.body = body, .content_type = "application/json"}, 1), 0);
        free(body);
}

/* An existing admin account in the root (uid 1000), its home made by the test. */
static void put_account(const char *user, unsigned uid) {
        _cleanup_free_ char *passwd = e2e_read(&e, "/etc/passwd");
        _cleanup_free_ char *group = e2e_read(&e, "/etc/group");
        char *p = NULL, *g = NULL;
        ck_assert_int_ge(asprintf_safe(&p, "%s%s:x:%u:%u::/home/%s:/bin/bash\n", passwd, user, uid, uid, user), 0);
        ck_assert_int_ge(asprintf_safe(&g, "%s%s:x:%u:\n", group, user, uid), 0);
        e2e_put(&e, "/etc/passwd", p, 0644);
        e2e_put(&e, "/etc/group", g, 0644);
        free(p);
        free(g);
        char home[128];
        snprintf(home, sizeof home, "/home/%s/.profile", user);
        e2e_put(&e, home, "", 0644);
}

static char *outside_dir(void) {
        char *d = NULL;
        ck_assert_int_ge(asprintf_safe(&d, "%s/outside", e.dir), 0);
        ck_assert_int_eq(mkdir(d, 0755), 0);
        return d;
}

static void put_outside(const char *dir, const char *name, const char *text) {
        _cleanup_free_ char *p = strjoin(dir, "/", name);
        ck_assert_int_eq(write_file_atomic(p, text, strlen(text), 0644), 0);
}

/* Every file under dir is still as the test left it: name=content lines. */
static char *dir_listing(const char *dir) {
        char *out = strdup("");
        DIR *d = opendir(dir);
        ck_assert_ptr_nonnull(d);
        struct dirent *de;
        while ((de = readdir(d))) {
                if (de->d_name[0] == '.') continue;
                _cleanup_free_ char *p = strjoin(dir, "/", de->d_name);
                _cleanup_free_ char *c = NULL;
                struct stat st;
                ck_assert_int_eq(lstat(p, &st), 0);
                if (S_ISREG(st.st_mode)) ck_assert_int_ge(read_file_capped(p, 1 << 20, &c, NULL), 0);
                char *n = NULL;
                ck_assert_int_ge(asprintf_safe(&n, "%s%s(%o,%u)=%s;", out, de->d_name, (unsigned)(st.st_mode & 07777),
                                               (unsigned)st.st_uid, c ? c : "?"), 0);
                free(out);
                out = n;
        }
        closedir(d);
        return out;
}

/* A .ssh symlink in the admin's home pointing out of the root: nothing outside is
 * written, chowned or chmodded; the run fails with 73 and says why. */
START_TEST(ssh_symlink_escape) {
        if (!need_root()) return;
        e2e_setup(&e, &(E2eOptions){.provisioning = "agent"});
        e2e_serve_userdata(&e, e2e_custom_data);
        put_account("azureuser", 1000);
        _cleanup_free_ char *out = outside_dir();
        put_outside(out, "authorized_keys", "outside\n");
        _cleanup_free_ char *link = file_under_root("/home/azureuser/.ssh");
        ck_assert_int_eq(symlink(out, link), 0);
        _cleanup_free_ char *before = dir_listing(out);
        struct stat st0, st1;
        ck_assert_int_eq(stat(out, &st0), 0);

        ck_assert_int_eq(e2e_run(&e, run_args), 73);
        ck_assert_contains(e.err, "/home/azureuser/.ssh");
        ck_assert_contains(e.err, "a symbolic link is on the way (not followed)");
        _cleanup_free_ char *after = dir_listing(out);
        ck_assert_str_eq(after, before);
        ck_assert_int_eq(stat(out, &st1), 0);
        ck_assert_uint_eq(st1.st_mode, st0.st_mode);
        ck_assert_uint_eq(st1.st_uid, st0.st_uid);
        _cleanup_free_ char *states = step_states();
        ck_assert_contains(states, "provision=failed ");
}
END_TEST

/* /etc/ssh a symlink out of the root: the drop-in and host keys are not written
 * there, the keys there are not deleted. */
START_TEST(etc_ssh_symlink_escape) {
        if (!need_root()) return;
        e2e_setup(&e, &(E2eOptions){.provisioning = "agent"});
        e2e_serve_userdata(&e, e2e_custom_data);
        _cleanup_free_ char *out = outside_dir();
        put_outside(out, "ssh_host_ed25519_key", "OLD KEY\n");
        put_outside(out, "sshd_config", "Include /etc/ssh/sshd_config.d/*.conf\n");
        _cleanup_free_ char *link = file_under_root("/etc/ssh");
        ck_assert_int_eq(symlink(out, link), 0);
        _cleanup_free_ char *before = dir_listing(out);

        ck_assert_int_eq(e2e_run(&e, run_args), 73);
        ck_assert_contains(e.err, "/etc/ssh");
        ck_assert_contains(e.err, "a symbolic link is on the way (not followed)");
        _cleanup_free_ char *after = dir_listing(out);
        ck_assert_str_eq(after, before);
        _cleanup_free_ char *states = step_states();
        ck_assert_contains(states, "provision=failed ");
}
END_TEST

#define KEY_RSA "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7fixturekey1=="
#define KEY_ED2 "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFixtureKey2"

/* IMDS keys win over the OVF's; a wrapped key is joined; options, text and two keys
 * in one are dropped with the reason; duplicates by type and key. */
START_TEST(ssh_key_rules) {
        if (!need_root()) return;
        e2e_setup(&e, &(E2eOptions){.provisioning = "agent"});
        _cleanup_free_ char *ovf = tu_read_top("test/data/ovf/azure.xml", NULL);
        e2e_put(&e, "/media/ovf/ovf-env.xml", ovf, 0644);
        static const char *const keys[] = {
                IMDS_KEY,
                "ssh-rsa AAAAB3NzaC1yc2EAAAADAQAB\r\nAAABAQC7fixturekey1== wrapped@example",
                "command=\"/bin/sh\" " KEY_ED2 " evil",
                "not a key at all",
                KEY_ED2 " a\n" IMDS_KEY,
                "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeKeyForTests another-comment",
                NULL,
        };
        serve_instance(NULL, keys);
        put_account("azureuser", 1000);
        /* Present already: a substring of the IMDS key (not a duplicate of it). */
        e2e_put(&e, "/home/azureuser/.ssh/authorized_keys", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI short\n", 0600);
        _cleanup_free_ char *home = file_under_root("/home/azureuser/.ssh/authorized_keys");
        ck_assert_int_eq(chown(home, 1000, 1000), 0);

        ck_assert_msg(e2e_run(&e, run_args) == 0, "exit %d\n%s", e.exit_code, e.err);
        _cleanup_free_ char *ak = e2e_read(&e, "/home/azureuser/.ssh/authorized_keys");
        ck_assert_str_eq(ak, "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI short\n"
                             IMDS_KEY "\n"
                             KEY_RSA " wrapped@example\n");
        ck_assert_not_contains(ak, "ops@example");
        _cleanup_free_ char *log = e2e_read(&e, LOG_FILE);
        ck_assert_contains(log, "SSH key 3 from IMDS dropped: it starts with options (such as command= or from=), which are not accepted");
        ck_assert_contains(log, "SSH key 4 from IMDS dropped: it does not start with a known SSH key type");
        ck_assert_contains(log, "SSH key 5 from IMDS dropped: it holds more than one line");
        ck_assert_contains(log, "IMDS gave SSH keys: the 2 key(s) of ovf-env.xml are not used");
        ck_assert_contains(log, "2 SSH key(s) added to /home/azureuser/.ssh/authorized_keys");
        ck_assert_not_contains(log, "/bin/sh");
        ck_assert_int_eq(e2e_mode(&e, "/home/azureuser/.ssh/authorized_keys"), 0600);
        assert_owner("/home/azureuser/.ssh/authorized_keys", 1000, 1000);
        assert_owner("/home/azureuser/.ssh", 1000, 1000);
        ck_assert_int_eq(e2e_mode(&e, "/home/azureuser/.ssh"), 0700);
}
END_TEST

/* No IMDS keys: the OVF's serve. */
START_TEST(ssh_keys_from_ovf_only_without_imds_keys) {
        if (!need_root()) return;
        e2e_setup(&e, &(E2eOptions){.provisioning = "agent"});
        _cleanup_free_ char *ovf = tu_read_top("test/data/ovf/azure.xml", NULL);
        e2e_put(&e, "/media/ovf/ovf-env.xml", ovf, 0644);
        static const char *const none[] = {NULL};
        serve_instance(NULL, none);
        ck_assert_msg(e2e_run(&e, run_args) == 0, "exit %d\n%s", e.exit_code, e.err);
        _cleanup_free_ char *ak = e2e_read(&e, "/home/azureuser/.ssh/authorized_keys");
        ck_assert_str_eq(ak, KEY_RSA " azureuser@example\n" KEY_ED2 " ops@example\n");
}
END_TEST

/* An authorized_keys over the 1 MiB read cap is refused with a clear error, not
 * rewritten (the next runs would fail reading it), and left as it was. */
START_TEST(authorized_keys_over_cap) {
        if (!need_root()) return;
        e2e_setup(&e, &(E2eOptions){.provisioning = "agent"});
        e2e_serve_userdata(&e, e2e_custom_data);
        put_account("azureuser", 1000);
        size_t big = 1024 * 1024 + 10;
        char *text = malloc(big + 1);
        ck_assert_ptr_nonnull(text);
        memset(text, '#', big);
        text[big - 1] = '\n';
        text[big] = 0;
        e2e_put(&e, "/home/azureuser/.ssh/authorized_keys", text, 0600);
        ck_assert_int_eq(e2e_run(&e, run_args), 73);
        ck_assert_contains(e.err, "/home/azureuser/.ssh/authorized_keys is larger than 1 MiB");
        _cleanup_free_ char *ak = e2e_read(&e, "/home/azureuser/.ssh/authorized_keys");
        ck_assert_str_eq(ak, text);
        free(text);
        /* Again: the same clear error, not an internal one. */
        ck_assert_int_eq(e2e_run(&e, run_args), 73);
}
END_TEST

/* Field rules: names Azure and useradd accept are taken. */
START_TEST(user_name_accepted) {
        if (!need_root()) return;
        static const char *const names[] = {"Azure.Admin", "ops_team-01", "A123456789b123456789c123456789d1"};
        e2e_setup(&e, &(E2eOptions){.provisioning = "agent"});
        e2e_serve_userdata(&e, e2e_custom_data);
        serve_instance(names[_i], NULL);
        ck_assert_msg(e2e_run(&e, run_args) == 0, "exit %d\n%s", e.exit_code, e.err);
        uid_t uid;
        gid_t gid;
        char home[256], path[400];
        passwd_entry(names[_i], &uid, &gid, home, sizeof home);
        ck_assert_uint_ge(uid, 1000);
        _cleanup_free_ char *sudoers = e2e_read(&e, SUDOERS);
        snprintf(path, sizeof path, "\n%s ALL=(ALL) NOPASSWD:ALL\n", names[_i]);
        ck_assert_contains(sudoers, path);
        snprintf(path, sizeof path, "%s/.ssh/authorized_keys", home);
        _cleanup_free_ char *keys = e2e_read(&e, path);
        ck_assert_str_eq(keys, IMDS_KEY "\n");
}
END_TEST

/* Refused: system accounts and names outside the rule; 65, naming the source; no
 * account made, no sudoers line. */
static const struct {
        const char *name, *why;
} bad_names[] = {
        {"root", "is a system account (uid 0, below UID_MIN 1000)"},
        {"daemon", "is a system account (uid 1, below UID_MIN 1000)"},
        {"nobody", "is a system account (uid 65534, above UID_MAX 60000)"},
        {"-oops", "it starts with '-'"},
        {"user.", "it ends with '.'"},
        {"a:b", "it holds ':'"},
        {"a b", "it holds whitespace"},
        {"evil\nroot", "it holds control characters"},
};

START_TEST(user_name_refused) {
        if (!need_root()) return;
        e2e_setup(&e, &(E2eOptions){.provisioning = "agent"});
        e2e_serve_userdata(&e, e2e_custom_data);
        e2e_put(&e, "/etc/passwd",
                "root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"
                "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n", 0644);
        serve_instance(bad_names[_i].name, NULL);
        ck_assert_int_eq(e2e_run(&e, run_args), 65);
        ck_assert_contains(e.err, "from IMDS");
        ck_assert_contains(e.err, bad_names[_i].why);
        ck_assert(!e2e_exists(&e, SUDOERS));
        ck_assert(!e2e_exists(&e, "/root/.ssh/authorized_keys"));
        _cleanup_free_ char *passwd = e2e_read(&e, "/etc/passwd");
        ck_assert_uint_eq(count_of(passwd, "\n"), 3);
        /* The name's bytes are not echoed raw (a newline would forge a log line). */
        _cleanup_free_ char *log = e2e_read(&e, LOG_FILE);
        ck_assert_not_contains(log, "evil\nroot");
}
END_TEST

/* 33..64 characters pass the Field rules; Debian 12's useradd takes at most 32 even
 * with --badname: 65, saying so, nothing made. */
START_TEST(user_name_longer_than_useradd_takes) {
        if (!need_root()) return;
        e2e_setup(&e, &(E2eOptions){.provisioning = "agent"});
        e2e_serve_userdata(&e, e2e_custom_data);
        serve_instance("a123456789b123456789c123456789d123456789", NULL);
        int rc = e2e_run(&e, run_args);
        if (rc == 0) {
                printf("%s: this useradd takes 40 characters\n", tcase_name());
                return;
        }
        ck_assert_int_eq(rc, 65);
        ck_assert_contains(e.err, "admin user name \"a123456789b123456789c123456789d123456789\" from IMDS: this image's "
                                  "useradd does not take it (exited with status 3); it takes at most 32 characters");
        ck_assert(!e2e_exists(&e, SUDOERS));
}
END_TEST

/* The name from ovf-env.xml (IMDS without osProfile) is named as such. */
START_TEST(user_name_refused_from_ovf) {
        if (!need_root()) return;
        e2e_setup(&e, &(E2eOptions){.provisioning = "agent"});
        _cleanup_free_ char *ovf = tu_read_top("test/data/ovf/azure.xml", NULL);
        char *at = strstr(ovf, "azureuser</wa:UserName>");
        ck_assert_ptr_nonnull(at);
        memcpy(at, "root     ", 9);
        e2e_put(&e, "/media/ovf/ovf-env.xml", ovf, 0644);
        _cleanup_free_ char *instance = tu_read_top("test/data/imds/instance-no-osprofile.json", NULL);
        ck_assert_int_eq(fake_server_route(e.fake, "GET", "/metadata/instance",
                                           &(FakeResponse){.body = instance, .content_type = "application/json"}, 1), 0);
        ck_assert_int_eq(e2e_run(&e, run_args), 65);
        ck_assert_contains(e.err, "admin user name \"root\" from ovf-env.xml is a system account (uid 0, below UID_MIN 1000)");
}
END_TEST

static bool keygen_mounted;

/* A private mount namespace where /usr/bin/ssh-keygen is the script given (mode
 * 0644: "not installed"). False when the kernel does not let the test do it. With
 * CK_FORK=no the runner stays in that namespace; teardown takes the mount away. */
static bool fake_keygen(const char *script, mode_t mode) {
        if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
                printf("%s: skipped: no mount namespace (%m)\n", tcase_name());
                return false;
        }
        char p[400];
        snprintf(p, sizeof p, "%s/ssh-keygen", e.dir);
        ck_assert_int_eq(write_file_atomic(p, script, strlen(script), mode), 0);
        ck_assert_msg(mount(p, "/usr/bin/ssh-keygen", NULL, MS_BIND, NULL) == 0, "bind mount: %m");
        keygen_mounted = true;
        return true;
}

static void real_keygen(void) {
        ck_assert_int_eq(umount("/usr/bin/ssh-keygen"), 0);
        keygen_mounted = false;
}

/* The path to Ready (issue 15): the health report goes before ssh-keygen runs, and
 * READY=1 (which lets sshd start: Before=ssh.service, Type=notify) only once the new
 * keys are in. A thread reads the agent's notifications on a NOTIFY_SOCKET as they
 * come and looks at the fake server and the root at that moment; ssh-keygen is a
 * script that takes 1 s, so a READY=1 sent before it would find no key. */
typedef struct NotifyWatch {
        int fd;
        volatile bool stop;
        char events[2048];
} NotifyWatch;

static void *notify_watch(void *arg) {
        NotifyWatch *w = arg;
        while (!w->stop) {
                char buf[1024];
                ssize_t n = recv(w->fd, buf, sizeof buf - 1, 0);
                if (n <= 0) continue; /* SO_RCVTIMEO: look at stop again */
                buf[n] = 0;
                char ev[200] = "";
                bool key = e2e_exists(&e, HOST_KEY);
                if (strncmp(buf, "STATUS=host-keys:", 17) == 0)
                        snprintf(ev, sizeof ev, "host-keys(posts=%zu,key=%d) ", e2e_count(&e, "POST", "/machine"), key);
                else if (strstr(buf, "READY=1"))
                        snprintf(ev, sizeof ev, "READY(key=%d) ", key);
                else if (strncmp(buf, "STATUS=", 7) == 0)
                        snprintf(ev, sizeof ev, "%.*s ", (int)strcspn(buf + 7, ":"), buf + 7);
                size_t l = strlen(w->events);
                snprintf(w->events + l, sizeof w->events - l, "%s", ev);
        }
        return NULL;
}

START_TEST(host_keys_after_ready_report) {
        if (!need_root()) return;
        e2e_setup(&e, &(E2eOptions){.provisioning = "agent"});
        e2e_serve_userdata(&e, e2e_custom_data);
        if (!fake_keygen("#!/bin/sh\n# -A -f PREFIX, as the agent calls it: slow, then complete keys\nsleep 1\n"
                         "d=\"$3/etc/ssh\"; mkdir -p \"$d\"\n"
                         "for t in rsa ecdsa ed25519; do echo \"FAKE $t\" > \"$d/ssh_host_${t}_key\"; "
                         "echo \"FAKE $t PUB\" > \"$d/ssh_host_${t}_key.pub\"; done\n",
                         0755))
                return;
        NotifyWatch w = {.fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)};
        ck_assert_int_ge(w.fd, 0);
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        ck_assert_uint_lt(strlen(e.dir) + 8, sizeof sa.sun_path);
        memcpy(sa.sun_path, e.dir, strlen(e.dir));
        memcpy(sa.sun_path + strlen(e.dir), "/notify", 8);
        ck_assert_msg(bind(w.fd, (struct sockaddr *)&sa, sizeof sa) == 0, "bind %s: %m", sa.sun_path);
        struct timeval tv = {.tv_usec = 50000};
        ck_assert_int_eq(setsockopt(w.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv), 0);
        char env[300];
        snprintf(env, sizeof env, "NOTIFY_SOCKET=%s", sa.sun_path);
        const char *const extra[] = {env, NULL};
        e.extra_env = extra;
        pthread_t t;
        ck_assert_int_eq(pthread_create(&t, NULL, notify_watch, &w), 0);
        int rc = e2e_run(&e, run_args);
        w.stop = true;
        pthread_join(t, NULL);
        close(w.fd);
        e.extra_env = NULL;
        real_keygen();
        ck_assert_msg(rc == 0, "exit %d\n%s", rc, e.err);
        printf("notifications: %s\n", w.events);
        /* host-keys starts after the one health report and before any key exists;
         * READY=1 comes once, after the keys, and before the vSensor steps. */
        ck_assert_contains(w.events, "report-ready host-keys(posts=1,key=0) READY(key=1) wait-apt ");
        ck_assert_uint_eq(count_of(w.events, "READY"), 1);
        _cleanup_free_ char *k = e2e_read(&e, HOST_KEY);
        ck_assert_str_eq(k, "FAKE ed25519\n");
        _cleanup_free_ char *states = step_states();
        ck_assert_contains(states, "provision=done report-ready=done host-keys=done wait-apt=done ");
        /* The log says so in that order too. */
        _cleanup_free_ char *log = e2e_read(&e, LOG_FILE);
        const char *ready = strstr(log, "reported ready to Azure"), *keys = strstr(log, "new SSH host keys generated");
        ck_assert_ptr_nonnull(ready);
        ck_assert_ptr_nonnull(keys);
        ck_assert_msg(ready < keys, "the host keys were logged before the ready report:\n%s", log);
}
END_TEST


/* ssh-keygen exits 0 leaving empty key files (a full disk): the old keys stay,
 * the step fails with 73 and is not recorded done, and the next run makes them. */
START_TEST(host_keys_swapped_only_when_complete) {
        if (!need_root()) return;
        e2e_setup(&e, &(E2eOptions){.provisioning = "agent"});
        e2e_serve_userdata(&e, e2e_custom_data);
        e2e_put(&e, HOST_KEY, "OLD PRIVATE\n", 0600);
        e2e_put(&e, HOST_KEY ".pub", "OLD PUBLIC\n", 0644);
        e2e_put(&e, "/etc/ssh/ssh_host_dsa_key", "OLD DSA\n", 0600);
        if (!fake_keygen("#!/bin/sh\n# -A -f PREFIX, as the agent calls it; writes empty files\n"
                         "d=\"$3/etc/ssh\"; mkdir -p \"$d\"\n"
                         "for t in rsa ecdsa ed25519; do : > \"$d/ssh_host_${t}_key\"; : > \"$d/ssh_host_${t}_key.pub\"; done\n"
                         "exit 0\n", 0755))
                return;
        ck_assert_int_eq(e2e_run(&e, run_args), 73);
        real_keygen();
        ck_assert_contains(e.err, "ssh-keygen exited 0 but ssh_host_rsa_key is empty");
        _cleanup_free_ char *k = e2e_read(&e, HOST_KEY);
        ck_assert_str_eq(k, "OLD PRIVATE\n");
        _cleanup_free_ char *pub = e2e_read(&e, HOST_KEY ".pub");
        ck_assert_str_eq(pub, "OLD PUBLIC\n");
        ck_assert(e2e_exists(&e, "/etc/ssh/ssh_host_dsa_key"));
        ck_assert(!e2e_exists(&e, STATE_DIR "/provisioned"));
        _cleanup_free_ char *states = step_states();
        ck_assert_contains(states, "provision=done report-ready=done host-keys=failed ");
        /* Nothing of the attempt is left beside the keys. */
        _cleanup_free_ char *sshdir = file_under_root("/etc/ssh");
        ck_assert_int_eq(tu_count_entries(sshdir), 4); /* ed25519 pair, dsa, sshd_config.d */

        ck_assert_msg(e2e_run(&e, run_args) == 0, "exit %d\n%s", e.exit_code, e.err);
        _cleanup_free_ char *k2 = e2e_read(&e, HOST_KEY);
        ck_assert_contains(k2, "PRIVATE KEY");
        for (size_t i = 0; i < 3; i++) {
                static const char *const t[] = {"rsa", "ecdsa", "ed25519"};
                char p[128];
                snprintf(p, sizeof p, "/etc/ssh/ssh_host_%s_key", t[i]);
                ck_assert_int_eq(e2e_mode(&e, p), 0600);
                _cleanup_free_ char *kp = file_under_root(p);
                struct stat st;
                ck_assert_int_eq(stat(kp, &st), 0);
                ck_assert_int_gt(st.st_size, 0);
                strcat(p, ".pub");
                ck_assert_int_eq(e2e_mode(&e, p), 0644);
        }
        /* The captured image's other key is gone once the new ones are in. */
        ck_assert(!e2e_exists(&e, "/etc/ssh/ssh_host_dsa_key"));
        ck_assert_int_eq(tu_count_entries(sshdir), 7);
}
END_TEST

/* ssh-keygen missing while sshd is installed: 70, naming the package. */
START_TEST(host_keys_keygen_missing) {
        if (!need_root()) return;
        e2e_setup(&e, &(E2eOptions){.provisioning = "agent"});
        e2e_serve_userdata(&e, e2e_custom_data);
        e2e_put(&e, "/etc/ssh/sshd_config", "Include /etc/ssh/sshd_config.d/*.conf\n", 0644);
        if (!fake_keygen("", 0644)) return;
        ck_assert_int_eq(e2e_run(&e, run_args), 70);
        ck_assert_contains(e.err, "ssh-keygen is not installed but sshd is: install openssh-client");
        _cleanup_free_ char *states = step_states();
        ck_assert_contains(states, "provision=done report-ready=done host-keys=failed ");
        /* No sshd in the image either: a warning, provisioning goes on. */
        _cleanup_free_ char *cfg = file_under_root("/etc/ssh/sshd_config");
        ck_assert_int_eq(unlink(cfg), 0);
        ck_assert_msg(e2e_run(&e, run_args) == 0, "exit %d\n%s", e.exit_code, e.err);
        real_keygen();
        _cleanup_free_ char *log = e2e_read(&e, LOG_FILE);
        ck_assert_contains(log, "ssh-keygen is not installed: SSH host keys not regenerated");
}
END_TEST

/* sshd reads a PasswordAuthentication before ours that says yes: 70, naming the file;
 * one that agrees, or none, is fine; the drop-in of older versions is removed. */
START_TEST(sshd_password_conflict) {
        if (!need_root()) return;
        e2e_setup(&e, &(E2eOptions){.provisioning = "agent"});
        e2e_serve_userdata(&e, e2e_custom_data);
        e2e_put(&e, "/etc/ssh/sshd_config", "Include /etc/ssh/sshd_config.d/*.conf\nPasswordAuthentication no\n", 0644);
        e2e_put(&e, "/etc/ssh/sshd_config.d/00-aaa.conf", "# image\nPasswordAuthentication yes\n", 0644);
        e2e_put(&e, "/etc/ssh/sshd_config.d/50-vsensor-init.conf", "PasswordAuthentication no\n", 0644);
        ck_assert_int_eq(e2e_run(&e, run_args), 70);
        ck_assert_contains(e.err, "/etc/ssh/sshd_config.d/00-aaa.conf:2 sets PasswordAuthentication yes before "
                                  "/etc/ssh/sshd_config.d/00-vsensor-init.conf");
        _cleanup_free_ char *states = step_states();
        ck_assert_contains(states, "provision=failed ");

        e2e_put(&e, "/etc/ssh/sshd_config.d/00-aaa.conf", "PasswordAuthentication no\n", 0644);
        ck_assert_msg(e2e_run(&e, run_args) == 0, "exit %d\n%s", e.exit_code, e.err);
        ck_assert(!e2e_exists(&e, "/etc/ssh/sshd_config.d/50-vsensor-init.conf"));
        _cleanup_free_ char *sshd = e2e_read(&e, SSHD_DROPIN);
        ck_assert_contains(sshd, "\nPasswordAuthentication no\n");
        ck_assert_int_eq(e2e_mode(&e, SSHD_DROPIN), 0644);
}
END_TEST

/* sshd_config that does not read the drop-in directory: our "no" would be ignored. */
START_TEST(sshd_dropin_not_included) {
        if (!need_root()) return;
        e2e_setup(&e, &(E2eOptions){.provisioning = "agent"});
        e2e_serve_userdata(&e, e2e_custom_data);
        e2e_put(&e, "/etc/ssh/sshd_config", "Port 22\n", 0644);
        ck_assert_int_eq(e2e_run(&e, run_args), 70);
        ck_assert_contains(e.err, "sshd does not read " "/etc/ssh/sshd_config.d/00-vsensor-init.conf");
}
END_TEST

/* A state directory other users can write: refused (73), nothing run. */
START_TEST(state_dir_world_writable) {
        e2e_setup(&e, &(E2eOptions){.provisioning = "none"});
        e2e_serve_userdata(&e, e2e_custom_data);
        e2e_put(&e, STATE_DIR "/custom-data", "#!/bin/sh\nid\n", 0600);
        _cleanup_free_ char *dir = file_under_root(STATE_DIR);
        ck_assert_int_eq(chmod(dir, 0777), 0);
        ck_assert_int_eq(e2e_run(&e, run_args), 73);
        ck_assert_contains(e.err, "is writable by other users: refusing to use it");
        _cleanup_free_ char *calls = e2e_helper_calls(&e);
        ck_assert_str_eq(calls, "");
        ck_assert_int_eq(e2e_mode(&e, STATE_DIR), 0777);
        /* 0755 (readable by others) is tightened to 0700. */
        ck_assert_int_eq(chmod(dir, 0755), 0);
        _cleanup_free_ char *kept = strjoin(dir, "/custom-data", NULL);
        ck_assert_int_eq(unlink(kept), 0);
        ck_assert_msg(e2e_run(&e, run_args) == 0, "exit %d\n%s", e.exit_code, e.err);
        ck_assert_int_eq(e2e_mode(&e, STATE_DIR), 0700);
}
END_TEST

/* A FIFO at the log path: the run does not block, it exits 73 at once. */
START_TEST(log_path_fifo) {
        e2e_setup(&e, &(E2eOptions){.provisioning = "none"});
        e2e_serve_userdata(&e, e2e_custom_data);
        e2e_put(&e, "/var/log/.keep", "", 0644);
        _cleanup_free_ char *log = file_under_root(LOG_FILE);
        ck_assert_int_eq(mkfifo(log, 0600), 0);
        ck_assert_int_eq(e2e_run(&e, run_args), 73);
        ck_assert_contains(e.err, "cannot open the log file");
        ck_assert_contains(e.err, "not a regular file (a FIFO, socket or device)");
        ck_assert_double_lt(e.wall_ms, 5000);
}
END_TEST

static void teardown(void) {
        if (keygen_mounted && umount2("/usr/bin/ssh-keygen", MNT_DETACH) == 0) keygen_mounted = false;
        e2e_teardown(&e);
        memset(&e, 0, sizeof e); /* a skipped test (CK_FORK=no) must not free it again */
}

static Suite *suite(void) {
        Suite *s = suite_create("e2e-provisioning");
        TCase *tc = tcase_create("provisioning");
        tcase_set_timeout(tc, 60);
        tcase_add_checked_fixture(tc, NULL, teardown);
        tcase_add_test(tc, provision_gen2);
        tcase_add_test(tc, provision_gen1);
        tcase_add_test(tc, vm_id_from_imds);
        tcase_add_test(tc, bad_custom_data_unknown_key);
        tcase_add_test(tc, bad_custom_data_short_hmac);
        tcase_add_test(tc, wireserver_retries);
        tcase_add_test(tc, rerun_reports_once);
        tcase_add_test(tc, ready_report_fails_then_recovers);
        tcase_add_test(tc, new_vm_id_provisions_again);
        tcase_add_test(tc, mode_none);
        tcase_add_test(tc, mode_auto_after_waagent);
        tcase_add_test(tc, mode_auto_provisions);
        tcase_add_test(tc, mode_waagent);
        tcase_add_test(tc, mode_waagent_never_provisions);
        tcase_add_test(tc, report_ready_late);
        tcase_add_test(tc, report_ready_late_step_failure);
        tcase_add_test(tc, ovf_media_directory);
        tcase_add_test(tc, ovf_media_block_device_not_mounted);
        tcase_add_test(tc, default_urls_in_netns);
        tcase_add_test(tc, ssh_symlink_escape);
        tcase_add_test(tc, etc_ssh_symlink_escape);
        tcase_add_test(tc, ssh_key_rules);
        tcase_add_test(tc, ssh_keys_from_ovf_only_without_imds_keys);
        tcase_add_test(tc, authorized_keys_over_cap);
        tcase_add_loop_test(tc, user_name_accepted, 0, 3);
        tcase_add_loop_test(tc, user_name_refused, 0, (int)ELEMENTSOF(bad_names));
        tcase_add_test(tc, user_name_refused_from_ovf);
        tcase_add_test(tc, user_name_longer_than_useradd_takes);
        tcase_add_test(tc, host_keys_swapped_only_when_complete);
        tcase_add_test(tc, host_keys_keygen_missing);
        tcase_add_test(tc, host_keys_after_ready_report);
        tcase_add_test(tc, sshd_password_conflict);
        tcase_add_test(tc, sshd_dropin_not_included);
        tcase_add_test(tc, state_dir_world_writable);
        tcase_add_test(tc, log_path_fifo);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return tu_run_suite(suite());
}
