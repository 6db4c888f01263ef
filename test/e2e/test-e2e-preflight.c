/* e2e: `vsensor-init preflight` against the fake Azure server and netfake's broken
 * networks (every target overridden to 127.0.0.1 through the configuration, the
 * custom data and the apt sources under --root), and the diagnosed failures of a
 * run: the install download's error, log, status and KVP record carry the cdn check,
 * a helper's failure the master/blob check, and connection timeouts warn early. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "e2e.h"
#include "kvp.h"
#include "netfake.h"
#include "testutil.h"

#define KVP_POOL "/var/lib/hyperv/.kvp_pool_1"
#define LOG_FILE "/var/log/user-data.log"
/* The bound every check gets here (preflight.timeout), and what the whole command may
 * take beyond it (DESIGN: all checks at once). */
#define TIMEOUT_S 1
#define SLACK_MS 1000

static E2e e;

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

static unsigned https_port(void) { return fake_server_port(e.fake, true); }
static unsigned http_port(void) { return fake_server_port(e.fake, false); }

/* The harness, with preflight's section and the apt sources of the image: one-line
 * and deb822, a disabled paragraph and a cdrom entry that are not checked. */
static void setup(const char *provisioning, const char *report_ready, int installer_deadline, const char *preflight) {
        char extra[512];
        /* The vaults are the fake server too: their check trusts key_vault.ca_file. */
        snprintf(extra, sizeof extra, "preflight: { timeout: %d, blob_suffix: \"blob.localhost:%s\"%s }\n"
                 "key_vault: { ca_file: /test-ca.pem, host_suffixes: [127.0.0.1] }\n", TIMEOUT_S,
                 "PORT", preflight ? preflight : ", on_failure: false");
        e2e_setup(&e, &(E2eOptions){.provisioning = provisioning, .report_ready = report_ready,
                                    .installer_deadline = installer_deadline, .extra_config = extra});
        char port[32];
        snprintf(port, sizeof port, "blob.localhost:%u", https_port());
        config_replace("blob.localhost:PORT", port);
        char text[512];
        snprintf(text, sizeof text,
                 "# the image's mirror\n"
                 "deb [arch=amd64 signed-by=/usr/share/keyrings/x.gpg] http://127.0.0.1:%u/debian bookworm main\n"
                 "deb cdrom:[Debian 12]/ bookworm main\n",
                 http_port());
        e2e_put(&e, "/etc/apt/sources.list", text, 0644);
        snprintf(text, sizeof text,
                 "Types: deb\nURIs: http://localhost:%u/debian-security\nSuites: bookworm-security\n\n"
                 "Types: deb\nURIs: http://127.0.0.1:9/disabled\nEnabled: no\n",
                 http_port());
        e2e_put(&e, "/etc/apt/sources.list.d/debian.sources", text, 0644);
}

/* Custom data whose master is the fake's HTTPS port, optionally through a proxy, with PCAP on. */
static const char *custom_data(const char *name, const char *host, unsigned port, const char *proxy) {
        char text[1024];
        snprintf(text, sizeof text,
                 "vsensor:\n"
                 "  update_key: \"" CANARY_UPDATE_KEY "\"\n"
                 "  master:\n"
                 "    host: %s\n"
                 "    port: %u\n"
                 "%s%s%s"
                 "    push_token: \"" CANARY_PUSH_TOKEN "\"\n"
                 "  ossensor:\n"
                 "    hmac_token: \"" CANARY_HMAC_TOKEN "\"\n"
                 "  pcap:\n"
                 "    storage_account: mystorageacct\n"
                 "    container: darktrace-vsensor-quickstart-pcaps\n",
                 host, port, proxy ? "    proxy: \"" : "", proxy ? proxy : "", proxy ? "\"\n" : "");
        return e2e_write_file(&e, name, text);
}

/* The output line of one check ("ok    imds        ..."), or NULL. */
static char *line_of(const char *out, const char *state, const char *check) {
        char head[64];
        snprintf(head, sizeof head, "%-4s  %-10s  ", state, check);
        for (const char *l = out; l && *l;) {
                const char *eol = strchr(l, '\n');
                size_t n = eol ? (size_t)(eol - l) : strlen(l);
                if (strncmp(l, head, strlen(head)) == 0) return strndup(l, n);
                l = eol ? eol + 1 : NULL;
        }
        return NULL;
}

static void assert_line(const char *state, const char *check, const char *text) {
        _cleanup_free_ char *l = line_of(e.out, state, check);
        ck_assert_msg(l != NULL, "no \"%s %s\" line in:\n%s", state, check, e.out);
        ck_assert_msg(strstr(l, text), "\"%s\" not in \"%s\"", text, l);
}

static const char *req_header(json_t *r, const char *name) {
        return json_string_value(json_object_get(json_object_get(r, "headers"), name));
}

/* What the fake server received holds no secret, and no token went anywhere. */
static void assert_requests_hold_no_secret(void) {
        json_t *all = fake_server_requests(e.fake);
        _cleanup_free_ char *dump = json_dumps(all, 0);
        for (size_t i = 0; canary_values[i]; i++)
                ck_assert_msg(!strstr(dump, canary_values[i]), "canary #%zu sent to the fake server", i);
        size_t i;
        json_t *r;
        json_array_foreach(all, i, r) ck_assert_ptr_null(req_header(r, "authorization"));
        json_decref(all);
}

START_TEST(healthy_environment_passes) {
        setup("agent", NULL, 0, NULL);
        NetFake *proxy = netfake_start(NETFAKE_PROXY, 0);
        ck_assert_ptr_nonnull(proxy);
        char purl[128];
        snprintf(purl, sizeof purl, "http://proxyuser:" CANARY_PROXY_PW "@127.0.0.1:%u", netfake_port(proxy));
        const char *cd = custom_data("cd.yaml", "127.0.0.1", https_port(), purl);

        ck_assert_msg(e2e_run(&e, (const char *[]){"--custom-data", cd, "preflight", NULL}) == 0, "exit %d\n%s\n%s",
                      e.exit_code, e.out, e.err);
        printf("preflight, healthy fake environment:\n%s", e.out);
        assert_line("ok", "imds", "/metadata/instance: ok (HTTP 200)");
        assert_line("ok", "wireserver", "127.0.0.1:");
        assert_line("ok", "cdn", "/install: ok (HTTP 200)");
        assert_line("ok", "master", "via http://proxyuser:(hidden)@127.0.0.1:");
        assert_line("ok", "blob", "mystorageacct.blob.localhost:");
        assert_line("ok", "clock", "s apart");
        assert_line("skip", "key_vault", "no Key Vault reference in the custom data");
        /* Both apt sources files, each host once; the disabled and cdrom entries not at all. */
        char want[64];
        snprintf(want, sizeof want, "127.0.0.1:%u: ok", http_port());
        assert_line("ok", "apt", want);
        ck_assert_contains(e.out, "localhost:");
        ck_assert_not_contains(e.out, "127.0.0.1:9:");
        ck_assert_not_contains(e.out, "cdrom");
        ck_assert_contains(e.out, "preflight: all 9 checks passed");

        /* IMDS asked like IMDS wants; the master only through the proxy's CONNECT, with
         * the proxy's credentials for the proxy alone. */
        json_t *all = fake_server_requests(e.fake);
        size_t i, imds = 0;
        json_t *r;
        json_array_foreach(all, i, r) {
                if (!streq(json_string_value(json_object_get(r, "path")), "/metadata/instance")) continue;
                ck_assert_str_eq(req_header(r, "metadata"), "true");
                imds++;
        }
        ck_assert_uint_eq(imds, 1);
        json_decref(all);
        _cleanup_free_ char *heads = netfake_proxy_heads(proxy);
        snprintf(want, sizeof want, "CONNECT 127.0.0.1:%u HTTP/1.1", https_port());
        ck_assert_contains(heads, want);
        ck_assert_contains(heads, "CONNECT mystorageacct.blob.localhost:");
        ck_assert_contains(heads, "Proxy-Authorization: Basic ");
        ck_assert_not_contains(heads, CANARY_PUSH_SECRET);
        assert_requests_hold_no_secret();

        /* --json: the same checks as objects of five keys. */
        ck_assert_int_eq(e2e_run(&e, (const char *[]){"--custom-data", cd, "preflight", "--json", NULL}), 0);
        json_error_t jerr;
        json_t *arr = json_loads(e.out, 0, &jerr);
        ck_assert_msg(json_is_array(arr), "%s\n%s", jerr.text, e.out);
        ck_assert_uint_eq(json_array_size(arr), 9);
        json_array_foreach(arr, i, r) {
                ck_assert_uint_eq(json_object_size(r), 5);
                ck_assert(json_is_string(json_object_get(r, "check")));
                ck_assert(json_is_string(json_object_get(r, "target")));
                ck_assert(json_is_true(json_object_get(r, "ok")));
                ck_assert(json_is_string(json_object_get(r, "detail")));
                ck_assert(json_is_integer(json_object_get(r, "ms")));
        }
        ck_assert_str_eq(json_string_value(json_object_get(json_array_get(arr, 0), "check")), "imds");
        json_decref(arr);
        netfake_stop(proxy);
        e2e_assert_no_secrets(&e);
        e2e_teardown(&e);
}
END_TEST

/* Everything hangs, drops or refuses: each check fails with its cause and culprit, and
 * all of them together take one timeout, not one each. */
START_TEST(blocked_environment_fails_each_check_within_the_timeout) {
        setup("agent", NULL, 0, NULL);
        NetFake *blackhole = netfake_start(NETFAKE_BLACKHOLE, 0), *silent = netfake_start(NETFAKE_SILENT, 0);
        NetFake *proxy = netfake_start(NETFAKE_PROXY, 403);
        ck_assert(blackhole && silent && proxy);
        unsigned refused = netfake_refused_port();
        char v[256];
        /* Each section the harness wrote, pointed at a broken port. */
        char from[128], to[128];
        snprintf(from, sizeof from, "imds: { url: \"%s\"", e.http_url);
        snprintf(to, sizeof to, "imds: { url: \"http://127.0.0.1:%u\"", netfake_port(silent));
        config_replace(from, to);
        snprintf(from, sizeof from, "wireserver: { url: \"%s\"", e.http_url);
        snprintf(to, sizeof to, "wireserver: { url: \"http://127.0.0.1:%u\"", refused);
        config_replace(from, to);
        snprintf(from, sizeof from, "installer: { url: \"%s/install\"", e.https_url);
        snprintf(to, sizeof to, "installer: { url: \"https://127.0.0.1:%u/install\"", netfake_port(blackhole));
        config_replace(from, to);
        snprintf(v, sizeof v, "deb http://127.0.0.1:%u/debian bookworm main\n", refused);
        e2e_put(&e, "/etc/apt/sources.list", v, 0644);
        e2e_put(&e, "/etc/apt/sources.list.d/debian.sources", "", 0644);
        char purl[128];
        snprintf(purl, sizeof purl, "http://proxyuser:" CANARY_PROXY_PW "@127.0.0.1:%u", netfake_port(proxy));
        const char *cd = custom_data("cd.yaml", "127.0.0.1", https_port(), purl);

        ck_assert_int_eq(e2e_run(&e, (const char *[]){"--custom-data", cd, "preflight", NULL}), 69);
        printf("preflight, blocked environment (%.0f ms):\n%s", e.wall_ms, e.out);
        ck_assert_msg(e.wall_ms < TIMEOUT_S * 1000 + SLACK_MS, "took %.0f ms", e.wall_ms);
        assert_line("FAIL", "imds", "connected, then no answer: firewall or TLS inspection in the path");
        assert_line("FAIL", "wireserver", "connection refused: nothing listening on that port, or a firewall rejecting?");
        assert_line("FAIL", "cdn", "connect timed out: NSG outbound rule, NAT gateway or route table?");
        assert_line("FAIL", "master", "proxy refused CONNECT (HTTP 403)");
        assert_line("FAIL", "blob", "proxy refused CONNECT (HTTP 403)");
        assert_line("FAIL", "apt", "connection refused");
        assert_line("skip", "clock", "no Date header from the CDN or IMDS");
        ck_assert_contains(e.out, "preflight: 6 of 8 checks failed (imds, wireserver, cdn, master, apt, blob)");
        ck_assert_not_contains(e.out, CANARY_PROXY_PW);

        /* --json says the same, ok false. */
        ck_assert_int_eq(e2e_run(&e, (const char *[]){"--custom-data", cd, "preflight", "--json", NULL}), 69);
        json_t *arr = json_loads(e.out, 0, NULL);
        ck_assert(json_is_array(arr));
        size_t i, failed = 0;
        json_t *r;
        json_array_foreach(arr, i, r) {
                if (json_is_false(json_object_get(r, "ok"))) failed++;
                ck_assert_int_le(json_integer_value(json_object_get(r, "ms")), TIMEOUT_S * 1000 + SLACK_MS);
        }
        ck_assert_uint_eq(failed, 6);
        json_decref(arr);
        netfake_stop(blackhole);
        netfake_stop(silent);
        netfake_stop(proxy);
        e2e_assert_no_secrets(&e);
        e2e_teardown(&e);
}
END_TEST

/* TLS and time: a CDN whose certificate is not yet valid, a vault whose certificate
 * expired, a master whose name does not resolve, a clock 10 minutes off the CDN. */
START_TEST(certificates_names_and_clock) {
        setup("none", NULL, 0, NULL);
        char cert[512], key[512];
        const char *certs = getenv("CERTS") ? getenv("CERTS") : "build/test/certs";
        snprintf(cert, sizeof cert, "%s/notyet.pem", certs);
        snprintf(key, sizeof key, "%s/notyet-key.pem", certs);
        FakeServer *notyet = fake_server_start(&(FakeServerOptions){.cert_file = cert, .key_file = key});
        snprintf(cert, sizeof cert, "%s/expired.pem", certs);
        snprintf(key, sizeof key, "%s/expired-key.pem", certs);
        FakeServer *expired = fake_server_start(&(FakeServerOptions){.cert_file = cert, .key_file = key});
        ck_assert(notyet && expired);
        /* Key Vault references: the vault hosts come from them (the push token's
         * version is malformed on purpose: the vaults are checked all the same). */
        char text[1024];
        snprintf(text, sizeof text,
                 "vsensor:\n"
                 "  update_key:\n"
                 "    key_vault: https://127.0.0.1:%u/secrets/vsensor-update-key\n"
                 "  master:\n"
                 "    host: dt-master.preflight-test.invalid\n"
                 "    push_token:\n"
                 "      key_vault: https://127.0.0.1:%u/secrets/vsensor-push-token/0123456789abcdef\n"
                 "  ossensor:\n"
                 "    hmac_token:\n"
                 "      key_vault: https://127.0.0.1:%u/secrets/vsensor-hmac\n",
                 fake_server_port(expired, true), fake_server_port(expired, true), https_port());
        const char *refs = e2e_write_file(&e, "refs.yaml", text);

        /* The CDN's certificate is not yet valid; its clock check falls back to IMDS. */
        char from[128], to[128];
        snprintf(from, sizeof from, "installer: { url: \"%s/install\"", e.https_url);
        snprintf(to, sizeof to, "installer: { url: \"https://127.0.0.1:%u/install\"", fake_server_port(notyet, true));
        config_replace(from, to);
        ck_assert_int_eq(e2e_run(&e, (const char *[]){"--custom-data", refs, "preflight", NULL}), 69);
        printf("preflight, certificates:\n%s", e.out);
        fflush(stdout);
        assert_line("FAIL", "cdn", "certificate not yet valid: clock?");
        assert_line("skip", "wireserver", "provisioning: none");
        /* Two references name one vault: one line for it. */
        assert_line("FAIL", "key_vault", "certificate expired: clock");
        ck_assert_ptr_eq(strstr(strstr(e.out, "\nFAIL  key_vault") + 1, "\nFAIL  key_vault"), NULL);
        /* The vault with a good certificate (the image's extra anchor) passes. */
        char want[64];
        snprintf(want, sizeof want, "127.0.0.1:%u: ok", https_port());
        assert_line("ok", "key_vault", want);
        assert_line("ok", "clock", "Date of http://127.0.0.1:");

        /* A CDN whose Date is 10 minutes ahead: the local clock is behind. */
        ck_assert_int_eq(fake_server_route(e.fake, "GET", "/install", &(FakeResponse){.body = "#!/bin/sh\n", .date_offset_s = 600}, 1), 0);
        config_replace(to, from);
        const char *cd = custom_data("cd.yaml", "dt-master.preflight-test.invalid", 443, NULL);
        ck_assert_int_eq(e2e_run(&e, (const char *[]){"--custom-data", cd, "preflight", NULL}), 69);
        printf("preflight, clock and DNS:\n%s", e.out);
        assert_line("ok", "cdn", "ok (HTTP 200)");
        assert_line("FAIL", "clock", "local clock 600 s behind: time synchronisation");
        _cleanup_free_ char *master = line_of(e.out, "FAIL", "master");
        ck_assert_msg(master && (strstr(master, "name does not resolve: DNS?") || strstr(master, "name lookup timed out")),
                      "%s", e.out);
        fake_server_stop(notyet);
        fake_server_stop(expired);
        e2e_assert_no_secrets(&e);
        e2e_teardown(&e);
}
END_TEST

START_TEST(without_custom_data_the_checks_that_need_it_are_skipped) {
        setup("none", NULL, 0, NULL);
        ck_assert_int_eq(e2e_run(&e, (const char *[]){"preflight", NULL}), 0);
        assert_line("skip", "master", "no custom data (give --custom-data FILE, or run after the first boot kept it)");
        assert_line("skip", "blob", "no custom data");
        assert_line("skip", "key_vault", "no custom data");
        assert_line("ok", "cdn", "ok (HTTP 200)");
        /* After a run, the kept custom data is the source. */
        e2e_serve_userdata(&e, e2e_custom_data);
        ck_assert_int_eq(e2e_run(&e, (const char *[]){"run", NULL}), 0);
        const char *cd = custom_data("cd.yaml", "127.0.0.1", https_port(), NULL);
        _cleanup_free_ char *text = NULL;
        ck_assert_int_ge(read_file_capped(cd, 65536, &text, NULL), 0);
        e2e_put(&e, "/var/lib/vsensor-init/custom-data", text, 0600);
        ck_assert_int_eq(e2e_run(&e, (const char *[]){"preflight", NULL}), 0);
        assert_line("ok", "master", "127.0.0.1:");
        /* Invalid custom data: the reason names validate. */
        const char *bad = e2e_write_file(&e, "bad.yaml", "vsensor:\n  nonsense: 1\n");
        ck_assert_int_eq(e2e_run(&e, (const char *[]){"--custom-data", bad, "preflight", NULL}), 0);
        assert_line("skip", "master", "is not valid (see 'vsensor-init validate");
        /* --json is preflight's and status's only. */
        ck_assert_int_eq(e2e_run(&e, (const char *[]){"show-config", "--json", NULL}), 64);
        e2e_assert_no_secrets(&e);
        e2e_teardown(&e);
}
END_TEST

static void kvp_values(char ***values, size_t *n) {
        _cleanup_free_ char *pool = path_under_root(e.root, KVP_POOL);
        char **keys = NULL;
        ck_assert_int_eq(kvp_read_all(pool, &keys, values, n), 0);
        strv_free(keys);
}

/* The installer download cannot connect: the step's error, the log, status, the KVP
 * record and the health description carry the cdn check's cause and culprit. */
START_TEST(install_failure_carries_the_cdn_diagnosis) {
        bool root = geteuid() == 0;
        /* Reporting the failure to Azure needs provisioning by the agent (useradd --root). */
        setup(root ? "agent" : "none", root ? "late" : NULL, 3, ", on_failure: true");
        NetFake *blackhole = netfake_start(NETFAKE_BLACKHOLE, 0);
        ck_assert_ptr_nonnull(blackhole);
        char from[128], to[128];
        snprintf(from, sizeof from, "installer: { url: \"%s/install\"", e.https_url);
        snprintf(to, sizeof to, "installer: { url: \"https://127.0.0.1:%u/install\"", netfake_port(blackhole));
        config_replace(from, to);
        const char *cd = custom_data("cd.yaml", "127.0.0.1", https_port(), NULL);
        _cleanup_free_ char *text = NULL;
        ck_assert_int_ge(read_file_capped(cd, 65536, &text, NULL), 0);
        e2e_serve_userdata(&e, text);

        ck_assert_int_eq(e2e_run(&e, (const char *[]){"run", NULL}), 69);
        char diag[128];
        snprintf(diag, sizeof diag, "preflight cdn (https://127.0.0.1:%u/install): connect timed out: ", netfake_port(blackhole));
        static const char culprit[] = "connect timed out: NSG outbound rule, NAT gateway or route table?";
        ck_assert_contains(e.err, diag);
        ck_assert_contains(e.err, culprit);
        ck_assert_contains(e.err, "run 'vsensor-init preflight' to see what the network blocks");
        _cleanup_free_ char *log = e2e_read(&e, LOG_FILE);
        ck_assert_contains(log, diag);

        ck_assert_int_eq(e2e_run(&e, (const char *[]){"status", "--json", NULL}), 0);
        json_t *st = json_loads(e.out, 0, NULL);
        ck_assert_ptr_nonnull(st);
        size_t i;
        json_t *s;
        const char *err = NULL;
        json_array_foreach(json_object_get(st, "steps"), i, s)
                if (streq(json_string_value(json_object_get(s, "name")), "install"))
                        err = json_string_value(json_object_get(s, "error"));
        ck_assert_contains(err, diag);
        ck_assert_contains(err, culprit);
        json_decref(st);

        if (root) {
                char **values = NULL;
                size_t n = 0;
                kvp_values(&values, &n);
                ck_assert_uint_eq(n, 1);
                printf("KVP PROVISIONING_REPORT of the diagnosed install failure:\n%s\n", values[0]);
                ck_assert_uint_eq(strncmp(values[0], "result=error|reason=", 20), 0);
                ck_assert_contains(values[0], "step install failed");
                ck_assert_contains(values[0], diag);
                ck_assert_contains(values[0], culprit);
                strv_free(values);
                json_t *all = fake_server_requests(e.fake);
                const char *body = NULL;
                json_array_foreach(all, i, s)
                        if (streq(json_string_value(json_object_get(s, "method")), "POST"))
                                body = json_string_value(json_object_get(s, "body"));
                ck_assert_contains(body, "<SubStatus>ProvisioningFailed</SubStatus>");
                ck_assert_contains(body, culprit);
                json_decref(all);
        } else
                printf("%s: KVP part skipped: needs root (useradd --root)\n", tcase_name());
        netfake_stop(blackhole);
        e2e_assert_no_secrets(&e);
        e2e_teardown(&e);
}
END_TEST

/* Only connection timeouts for preflight.timeout x 3: a warning with the diagnosis
 * comes long before the download's deadline (60 s here). */
START_TEST(connection_timeouts_warn_early) {
        setup("none", NULL, 60, ", on_failure: true");
        NetFake *blackhole = netfake_start(NETFAKE_BLACKHOLE, 0);
        ck_assert_ptr_nonnull(blackhole);
        char from[128], to[128];
        snprintf(from, sizeof from, "installer: { url: \"%s/install\"", e.https_url);
        snprintf(to, sizeof to, "installer: { url: \"https://127.0.0.1:%u/install\"", netfake_port(blackhole));
        config_replace(from, to);
        const char *cd = custom_data("cd.yaml", "127.0.0.1", https_port(), NULL);
        _cleanup_free_ char *text = NULL;
        ck_assert_int_ge(read_file_capped(cd, 65536, &text, NULL), 0);
        e2e_serve_userdata(&e, text);
        int64_t t0 = now_monotonic_ms();
        pid_t pid = e2e_start(&e, (const char *[]){"run", NULL});
        _cleanup_free_ char *log = NULL;
        bool seen = false;
        /* One try's connect timeout is 10 s: the first failure is the first chance. */
        while (!seen && now_monotonic_ms() - t0 < 25000) {
                sleep_ms(200);
                free(log);
                log = e2e_read(&e, LOG_FILE);
                seen = log && strstr(log, "has seen only connection timeouts");
        }
        int64_t after = now_monotonic_ms() - t0;
        kill(pid, SIGKILL);
        e2e_wait(&e, pid);
        ck_assert_msg(seen, "no early warning in:\n%s", log ? log : "(no log)");
        printf("early warning after %lld ms (deadline 60 s)\n", (long long)after);
        ck_assert_int_lt(after, 20000);
        ck_assert_contains(log, "warning");
        ck_assert_contains(log, "the installer download has seen only connection timeouts for ");
        ck_assert_contains(log, "connect timed out: NSG outbound rule, NAT gateway or route table?");
        netfake_stop(blackhole);
        e2e_assert_no_secrets(&e);
        e2e_teardown(&e);
}
END_TEST

/* A helper that fails: register's error carries the master check, pcap's the blob check. */
START_TEST(helper_failures_carry_master_and_blob_checks) {
        setup("none", NULL, 0, ", on_failure: true");
        unsigned refused = netfake_refused_port();
        const char *cd = custom_data("cd.yaml", "127.0.0.1", refused, NULL);
        _cleanup_free_ char *text = NULL;
        ck_assert_int_ge(read_file_capped(cd, 65536, &text, NULL), 0);
        e2e_serve_userdata(&e, text);
        e2e_put(&e, "/fake/fail/set_pushtoken.sh", "2\n", 0644);
        ck_assert_int_eq(e2e_run(&e, (const char *[]){"run", NULL}), 75);
        char want[128];
        snprintf(want, sizeof want, "; preflight master (127.0.0.1:%u): connection refused: nothing listening", refused);
        ck_assert_contains(e.err, want);
        ck_assert_int_eq(e2e_run(&e, (const char *[]){"status", NULL}), 0);
        ck_assert_contains(e.out, want);

        /* Register passes now; pcap fails and its storage endpoint answers: the check says so. */
        e2e_put(&e, "/fake/fail/set_pcap_azure_container.sh", "2\n", 0644);
        ck_assert_int_eq(e2e_run(&e, (const char *[]){"run", NULL}), 75);
        snprintf(want, sizeof want, "; preflight blob (mystorageacct.blob.localhost:%u): ok", https_port());
        ck_assert_contains(e.err, want);
        /* 75 is not 69: no preflight hint for a helper's own failure. */
        ck_assert_not_contains(e.err, "run 'vsensor-init preflight'");
        e2e_assert_no_secrets(&e);
        e2e_teardown(&e);
}
END_TEST

static Suite *suite(void) {
        Suite *s = suite_create("e2e-preflight");
        TCase *tc = tcase_create("preflight");
        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, healthy_environment_passes);
        tcase_add_test(tc, blocked_environment_fails_each_check_within_the_timeout);
        tcase_add_test(tc, certificates_names_and_clock);
        tcase_add_test(tc, without_custom_data_the_checks_that_need_it_are_skipped);
        tcase_add_test(tc, install_failure_carries_the_cdn_diagnosis);
        tcase_add_test(tc, connection_timeouts_warn_early);
        tcase_add_test(tc, helper_failures_carry_master_and_blob_checks);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return tu_run_suite(suite());
}
