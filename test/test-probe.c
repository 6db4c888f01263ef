/* test-probe: probe_run against the fake server (good, expired, not-yet-valid,
 * untrusted and wrong-host certificates) and netfake's broken networks (silent
 * listener, dropped SYNs, refused port, refusing and tunnelling proxies), each cause
 * asserted with its culprit, each failure bounded by the probe's timeout. */
#include <check.h>
#include <limits.h>
#include <time.h>

#include "canary.h"
#include "fake-server.h"
#include "http.h"
#include "netfake.h"
#include "probe.h"
#include "testutil.h"
#include "util.h"

/* Small enough to keep the suite fast; valgrind (make check-valgrind) makes the first
 * TLS handshake take seconds, so it gets more. */
static bool under_valgrind(void) {
        const char *p = getenv("LD_PRELOAD");
        return p && strstr(p, "vgpreload");
}
#define TIMEOUT_MS (under_valgrind() ? 8000 : 1500)
/* How far past its timeout a probe may end (thread start, OpenSSL set-up, cleanup). */
#define SLACK_MS (under_valgrind() ? 8000 : 1000)

static char certs_dir[PATH_MAX];

static char *cert_path(const char *name) {
        char *p = strjoin(certs_dir, "/", name);
        ck_assert_ptr_nonnull(p);
        return p;
}

static FakeServer *start(const char *leaf) {
        char name[64];
        snprintf(name, sizeof name, "%s.pem", leaf);
        _cleanup_free_ char *cert = cert_path(name);
        snprintf(name, sizeof name, "%s-key.pem", leaf);
        _cleanup_free_ char *key = cert_path(name);
        FakeServer *s = fake_server_start(&(FakeServerOptions){.cert_file = cert, .key_file = key});
        ck_assert_ptr_nonnull(s);
        return s;
}

static ProbeResult run(ProbeKind kind, const char *host, unsigned port, const char *ca, const char *proxy) {
        ProbeResult r;
        ProbeRequest q = {.kind = kind, .host = host, .port = port, .ca_file = ca, .proxy = proxy,
                          .no_proxy = !proxy, .timeout_ms = TIMEOUT_MS};
        ck_assert_int_eq(probe_run(&q, &r), 0);
        ck_assert_int_le(r.ms, TIMEOUT_MS + SLACK_MS);
        return r;
}

static void assert_cause(const ProbeResult *r, ProbeCause want, const char *text) {
        char d[512];
        probe_describe(r, d, sizeof d);
        ck_assert_msg(r->cause == want, "cause %s (%s), want %s; %s", probe_cause_to_string(r->cause), r->message,
                      probe_cause_to_string(want), d);
        ck_assert_msg(strstr(d, text), "\"%s\" not in \"%s\"", text, d);
}

START_TEST(tcp_ok) {
        FakeServer *s = start("server");
        ProbeResult r = run(PROBE_TCP, "127.0.0.1", fake_server_port(s, false), NULL, NULL);
        assert_cause(&r, PROBE_OK, "ok");
        /* Connect only: nothing reached the server as a request. */
        json_t *reqs = fake_server_requests(s);
        ck_assert_uint_eq(json_array_size(reqs), 0);
        json_decref(reqs);
        fake_server_stop(s);
}
END_TEST

START_TEST(tcp_refused) {
        ProbeResult r = run(PROBE_TCP, "127.0.0.1", netfake_refused_port(), NULL, NULL);
        assert_cause(&r, PROBE_REFUSED, "connection refused: nothing listening");
        ck_assert_int_eq(r.os_errno, ECONNREFUSED);
}
END_TEST

START_TEST(tcp_connect_timeout) {
        NetFake *f = netfake_start(NETFAKE_BLACKHOLE, 0);
        ck_assert_ptr_nonnull(f);
        int64_t t0 = now_monotonic_ms();
        ProbeResult r = run(PROBE_TCP, "127.0.0.1", netfake_port(f), NULL, NULL);
        assert_cause(&r, PROBE_CONNECT_TIMEOUT, "connect timed out: NSG outbound rule, NAT gateway or route table?");
        /* It waited for its timeout, not less: the SYN was dropped, not refused. */
        ck_assert_int_ge(now_monotonic_ms() - t0, TIMEOUT_MS - 100);
        netfake_stop(f);
}
END_TEST

START_TEST(dns_does_not_resolve) {
        /* .invalid never resolves (RFC 6761); a resolver that does not answer is a timeout. */
        ProbeResult r = run(PROBE_TLS, "preflight-test.invalid", 443, NULL, NULL);
        ck_assert_msg(r.cause == PROBE_DNS || r.cause == PROBE_DNS_TIMEOUT, "cause %s: %s",
                      probe_cause_to_string(r.cause), r.message);
        if (r.cause == PROBE_DNS) assert_cause(&r, PROBE_DNS, "name does not resolve: DNS?");
}
END_TEST

START_TEST(tls_ok_with_ca_file) {
        FakeServer *s = start("server");
        _cleanup_free_ char *ca = cert_path("ca.pem");
        ProbeResult r = run(PROBE_TLS, "127.0.0.1", fake_server_port(s, true), ca, NULL);
        assert_cause(&r, PROBE_OK, "ok");
        fake_server_stop(s);
}
END_TEST

static const struct {
        const char *leaf;
        bool ca;
        ProbeCause cause;
        const char *text;
} bad_tls[] = {
        {"expired", true, PROBE_TLS_EXPIRED, "certificate expired: clock"},
        {"notyet", true, PROBE_TLS_NOT_YET_VALID, "certificate not yet valid: clock?"},
        {"untrusted", true, PROBE_TLS_UNTRUSTED, "certificate not trusted: TLS-inspecting firewall"},
        {"server", false, PROBE_TLS_UNTRUSTED, "certificate not trusted"},   /* the test CA is not in the system store */
        {"wronghost", true, PROBE_TLS_WRONG_HOST, "certificate for another host"},
};

START_TEST(tls_bad_certificates) {
        FakeServer *s = start(bad_tls[_i].leaf);
        _cleanup_free_ char *ca = bad_tls[_i].ca ? cert_path("ca.pem") : NULL;
        ProbeResult r = run(PROBE_TLS, "127.0.0.1", fake_server_port(s, true), ca, NULL);
        assert_cause(&r, bad_tls[_i].cause, bad_tls[_i].text);
        fake_server_stop(s);
}
END_TEST

START_TEST(tls_silent_listener) {
        NetFake *f = netfake_start(NETFAKE_SILENT, 0);
        ck_assert_ptr_nonnull(f);
        ProbeResult r = run(PROBE_TLS, "127.0.0.1", netfake_port(f), NULL, NULL);
        assert_cause(&r, PROBE_NO_ANSWER, "connected, then no answer");
        /* Plain TCP to the same listener passes: it accepts. */
        r = run(PROBE_TCP, "127.0.0.1", netfake_port(f), NULL, NULL);
        assert_cause(&r, PROBE_OK, "ok");
        netfake_stop(f);
}
END_TEST

START_TEST(proxy_refuses_connect) {
        FakeServer *s = start("server");
        NetFake *p = netfake_start(NETFAKE_PROXY, 403);
        ck_assert_ptr_nonnull(p);
        _cleanup_free_ char *ca = cert_path("ca.pem"), *proxy = NULL;
        ck_assert_int_ge(asprintf_safe(&proxy, "http://proxyuser:" CANARY_PROXY_PW "@127.0.0.1:%u", netfake_port(p)), 0);
        ProbeResult r = run(PROBE_TLS, "127.0.0.1", fake_server_port(s, true), ca, proxy);
        assert_cause(&r, PROBE_PROXY_REFUSED, "proxy refused CONNECT (HTTP 403)");
        ck_assert_int_eq(r.status, 403);
        /* The proxy heard the CONNECT with its credentials; the endpoint heard nothing. */
        _cleanup_free_ char *heads = netfake_proxy_heads(p);
        char want[64];
        snprintf(want, sizeof want, "CONNECT 127.0.0.1:%u HTTP/1.1", fake_server_port(s, true));
        ck_assert_msg(strstr(heads, want), "%s", heads);
        ck_assert_msg(strstr(heads, "Proxy-Authorization: Basic "), "%s", heads);
        ck_assert_ptr_null(strstr(r.message, CANARY_PROXY_PW));
        json_t *reqs = fake_server_requests(s);
        ck_assert_uint_eq(json_array_size(reqs), 0);
        json_decref(reqs);
        netfake_stop(p);
        fake_server_stop(s);
}
END_TEST

START_TEST(proxy_wants_credentials) {
        NetFake *p = netfake_start(NETFAKE_PROXY, 407);
        ck_assert_ptr_nonnull(p);
        _cleanup_free_ char *proxy = NULL;
        ck_assert_int_ge(asprintf_safe(&proxy, "http://127.0.0.1:%u", netfake_port(p)), 0);
        ProbeResult r = run(PROBE_TCP, "127.0.0.1", 443, NULL, proxy);
        assert_cause(&r, PROBE_PROXY_REFUSED, "(HTTP 407): proxy user and password?");
        netfake_stop(p);
}
END_TEST

START_TEST(proxy_tunnels) {
        FakeServer *s = start("server");
        NetFake *p = netfake_start(NETFAKE_PROXY, 0);
        ck_assert_ptr_nonnull(p);
        _cleanup_free_ char *ca = cert_path("ca.pem"), *proxy = NULL;
        ck_assert_int_ge(asprintf_safe(&proxy, "http://127.0.0.1:%u", netfake_port(p)), 0);
        ProbeResult r = run(PROBE_TLS, "127.0.0.1", fake_server_port(s, true), ca, proxy);
        assert_cause(&r, PROBE_OK, "ok");
        /* Through the tunnel the certificate is still verified end to end. */
        fake_server_stop(s);
        s = start("expired");
        r = run(PROBE_TLS, "127.0.0.1", fake_server_port(s, true), ca, proxy);
        assert_cause(&r, PROBE_TLS_EXPIRED, "certificate expired");
        netfake_stop(p);
        fake_server_stop(s);
}
END_TEST

START_TEST(proxy_unreachable) {
        _cleanup_free_ char *proxy = NULL;
        ck_assert_int_ge(asprintf_safe(&proxy, "http://127.0.0.1:%u", netfake_refused_port()), 0);
        ProbeResult r = run(PROBE_TLS, "127.0.0.1", 443, NULL, proxy);
        assert_cause(&r, PROBE_PROXY_UNREACHABLE, "cannot connect to the proxy");
}
END_TEST

static ProbeResult run_http(const char *url, const char *ca) {
        ProbeResult r;
        static const char *const headers[] = {"Metadata: true", NULL};
        ProbeRequest q = {.kind = PROBE_HTTP, .url = url, .headers = headers, .ca_file = ca, .no_proxy = true,
                          .timeout_ms = TIMEOUT_MS};
        ck_assert_int_eq(probe_run(&q, &r), 0);
        ck_assert_int_le(r.ms, TIMEOUT_MS + SLACK_MS);
        return r;
}

START_TEST(http_answer_date_and_headers) {
        FakeServer *s = start("server");
        /* A big body: the probe stops after the headers instead of downloading it. */
        ck_assert_int_eq(fake_server_route(s, "GET", "/install",
                                           &(FakeResponse){.body_repeat_size = 256u * 1024 * 1024, .date_offset_s = 600}, 1), 0);
        _cleanup_free_ char *base = fake_server_url(s, true), *ca = cert_path("ca.pem");
        _cleanup_free_ char *url = strjoin(base, "/install", NULL);
        ProbeResult r = run_http(url, ca);
        assert_cause(&r, PROBE_OK, "ok (HTTP 200)");
        time_t now = time(NULL);
        ck_assert_msg(r.date >= now + 590 && r.date <= now + 610, "date %lld, now %lld", (long long)r.date, (long long)now);
        json_t *reqs = fake_server_requests(s);
        ck_assert_uint_eq(json_array_size(reqs), 1);
        json_t *h = json_object_get(json_array_get(reqs, 0), "headers");
        ck_assert_str_eq(json_string_value(json_object_get(h, "metadata")), "true");
        ck_assert_ptr_null(json_object_get(h, "authorization"));
        json_decref(reqs);
        fake_server_stop(s);
}
END_TEST

START_TEST(http_status_and_silence) {
        FakeServer *s = start("server");
        ck_assert_int_eq(fake_server_route(s, "GET", "/denied", &(FakeResponse){.status = 403}, 1), 0);
        ck_assert_int_eq(fake_server_route(s, "GET", "/hang", &(FakeResponse){.hang = true}, 1), 0);
        _cleanup_free_ char *base = fake_server_url(s, false);
        _cleanup_free_ char *denied = strjoin(base, "/denied", NULL), *hang = strjoin(base, "/hang", NULL);
        ProbeResult r = run_http(denied, NULL);
        assert_cause(&r, PROBE_HTTP_STATUS, "HTTP 403: access rules");
        ck_assert_int_eq(r.status, 403);
        ck_assert_int_ne(r.date, -1);   /* libmicrohttpd's own Date */
        r = run_http(hang, NULL);
        assert_cause(&r, PROBE_NO_ANSWER, "connected, then no answer");
        fake_server_stop(s);
}
END_TEST

START_TEST(invalid_requests) {
        ProbeResult r;
        static const char *const hosts[] = {"", "-x", "a b", "a/b", "a@b", "[::1]", "x\ny", NULL};
        for (size_t i = 0; hosts[i]; i++) {
                ck_assert_msg(!probe_host_valid(hosts[i]), "%s", hosts[i]);
                ck_assert_int_eq(probe_run(&(ProbeRequest){.kind = PROBE_TLS, .host = hosts[i], .port = 443,
                                                           .timeout_ms = 100}, &r), -EINVAL);
        }
        ck_assert(probe_host_valid("dt-master.example.com"));
        ck_assert(probe_host_valid("2001:db8::1"));
        ck_assert(probe_host_valid("10.0.0.5"));
        ck_assert_int_eq(probe_run(&(ProbeRequest){.kind = PROBE_TCP, .host = "x", .port = 0, .timeout_ms = 100}, &r),
                         -EINVAL);
        ck_assert_int_eq(probe_run(&(ProbeRequest){.kind = PROBE_HTTP, .url = "ftp://x/", .timeout_ms = 100}, &r),
                         -EINVAL);
        ck_assert_int_eq(probe_run(&(ProbeRequest){.kind = PROBE_TCP, .host = "x", .port = 1}, &r), -EINVAL);
}
END_TEST

START_TEST(parse_url) {
        char *host = NULL;
        unsigned port = 0;
        bool https = false;
        ck_assert_int_eq(probe_parse_url("https://dt-vault.vault.azure.net/secrets/x/1", &host, &port, &https), 0);
        ck_assert_str_eq(host, "dt-vault.vault.azure.net");
        ck_assert_uint_eq(port, 443);
        ck_assert(https);
        free(host);
        ck_assert_int_eq(probe_parse_url("http://[2001:db8::1]:8080/debian", &host, &port, &https), 0);
        ck_assert_str_eq(host, "2001:db8::1");
        ck_assert_uint_eq(port, 8080);
        ck_assert(!https);
        free(host);
        ck_assert_int_eq(probe_parse_url("http://168.63.129.16", &host, &port, NULL), 0);
        ck_assert_str_eq(host, "168.63.129.16");
        ck_assert_uint_eq(port, 80);
        free(host);
        static const char *const bad[] = {"", "ftp://x/", "file:///etc", "http://", "https://a b/", "cdrom:[x]/", NULL};
        for (size_t i = 0; bad[i]; i++) ck_assert_msg(probe_parse_url(bad[i], &host, &port, NULL) < 0, "%s", bad[i]);
}
END_TEST

START_TEST(every_cause_has_text_and_culprit) {
        for (int c = 0; c < _PROBE_CAUSE_MAX; c++) {
                ck_assert_ptr_nonnull(probe_cause_to_string((ProbeCause)c));
                ck_assert_ptr_nonnull(probe_cause_culprit((ProbeCause)c));
                if (c != PROBE_OK) ck_assert_ptr_nonnull(strchr(probe_cause_culprit((ProbeCause)c), '?'));
        }
        ck_assert_ptr_null(probe_cause_to_string(_PROBE_CAUSE_MAX));
}
END_TEST

static Suite *probe_suite(void) {
        Suite *s = suite_create("probe");
        TCase *tc = tcase_create("core");
        tcase_set_timeout(tc, 30);
        tcase_add_test(tc, tcp_ok);
        tcase_add_test(tc, tcp_refused);
        tcase_add_test(tc, tcp_connect_timeout);
        tcase_add_test(tc, dns_does_not_resolve);
        tcase_add_test(tc, tls_ok_with_ca_file);
        tcase_add_loop_test(tc, tls_bad_certificates, 0, (int)ELEMENTSOF(bad_tls));
        tcase_add_test(tc, tls_silent_listener);
        tcase_add_test(tc, proxy_refuses_connect);
        tcase_add_test(tc, proxy_wants_credentials);
        tcase_add_test(tc, proxy_tunnels);
        tcase_add_test(tc, proxy_unreachable);
        tcase_add_test(tc, http_answer_date_and_headers);
        tcase_add_test(tc, http_status_and_silence);
        tcase_add_test(tc, invalid_requests);
        tcase_add_test(tc, parse_url);
        tcase_add_test(tc, every_cause_has_text_and_culprit);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        const char *env = getenv("CERTS");
        snprintf(certs_dir, sizeof certs_dir, "%s", env && *env ? env : "build/test/certs");
        if (http_global_init() < 0) return 1;
        int r = tu_run_suite(probe_suite());
        http_global_cleanup();
        return r;
}
