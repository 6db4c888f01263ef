/* test-http: http_perform against the fake server (HTTP and HTTPS with the test PKI)
 * and a raw socket server where the fake cannot misbehave enough. */
#include <check.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "canary.h"
#include "fake-server.h"
#include "http.h"
#include "testutil.h"
#include "util.h"

/* Handshakes are slow under valgrind; the default 5 s connect timeout is not a test subject here. */
#define TLS_CONNECT_MS 20000

static char tmp_dir[PATH_MAX];
static char certs_dir[PATH_MAX + 16];

static char *cert_path(const char *name) {
        char *p = strjoin(certs_dir, "/", name);
        ck_assert_ptr_nonnull(p);
        return p;
}

/* Starts a fake server with HTTPS serving the named leaf ("server", "untrusted", ...). */
static FakeServer *start(const char *leaf) {
        _cleanup_free_ char *cert = NULL, *key = NULL;
        FakeServerOptions o = {0};
        if (leaf) {
                char name[64];
                cert = (snprintf(name, sizeof name, "%s.pem", leaf), cert_path(name));
                key = (snprintf(name, sizeof name, "%s-key.pem", leaf), cert_path(name));
                o.cert_file = cert;
                o.key_file = key;
        }
        FakeServer *s = fake_server_start(&o);
        ck_assert_ptr_nonnull(s);
        return s;
}

static char *url_of(FakeServer *s, bool https, const char *path) {
        _cleanup_free_ char *base = fake_server_url(s, https);
        ck_assert_ptr_nonnull(base);
        char *u = strjoin(base, path, NULL);
        ck_assert_ptr_nonnull(u);
        return u;
}

static void route1(FakeServer *s, const char *method, const char *path, const FakeResponse *r) {
        ck_assert_int_eq(fake_server_route(s, method, path, r, 1), 0);
}

/* A port nothing listens on: bound, then closed. */
static unsigned closed_port(void) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        ck_assert_int_ge(fd, 0);
        struct sockaddr_in sa = {.sin_family = AF_INET};
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof sa;
        ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
        ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
        close(fd);
        return ntohs(sa.sin_port);
}

START_TEST(test_get_200_body_with_nul) {
        FakeServer *s = start(NULL);
        route1(s, "GET", "/a", &(FakeResponse){.body = "hello\0world", .body_len = 11, .content_type = "text/plain"});
        _cleanup_free_ char *url = url_of(s, false, "/a?x=1");
        HttpResponse r;
        int k = http_perform(&(HttpRequest){.url = url, .max_body = 64, .out_fd = -1}, &r);
        ck_assert_int_eq(k, 0);
        ck_assert_int_eq(r.error, HTTP_OK);
        ck_assert_int_eq(r.status, 200);
        ck_assert_uint_eq(r.body_len, 11);
        ck_assert_mem_eq(r.body, "hello\0world", 12);
        ck_assert_int_eq(r.retry_after_s, -1);
        ck_assert_uint_eq(fake_server_count(s, "GET", "/a"), 1);
        http_response_clear(&r);
        ck_assert_ptr_null(r.body);
        http_response_clear(&r);   /* twice is fine */
        fake_server_stop(s);
}
END_TEST

START_TEST(test_body_exactly_at_cap) {
        FakeServer *s = start(NULL);
        route1(s, "GET", "/a", &(FakeResponse){.body_repeat_size = 1000});
        _cleanup_free_ char *url = url_of(s, false, "/a");
        HttpResponse r;
        ck_assert_int_eq(http_perform(&(HttpRequest){.url = url, .max_body = 1000, .out_fd = -1}, &r), 0);
        ck_assert_uint_eq(r.body_len, 1000);
        ck_assert_int_eq(r.body[999], 'x');
        ck_assert_int_eq(r.body[1000], 0);
        http_response_clear(&r);
        fake_server_stop(s);
}
END_TEST

START_TEST(test_empty_body_is_empty_string) {
        FakeServer *s = start(NULL);
        route1(s, "GET", "/a", &(FakeResponse){.status = 204});
        _cleanup_free_ char *url = url_of(s, false, "/a");
        HttpResponse r;
        ck_assert_int_eq(http_perform(&(HttpRequest){.url = url, .max_body = 10, .out_fd = -1}, &r), 0);
        ck_assert_int_eq(r.status, 204);
        ck_assert_ptr_nonnull(r.body);
        ck_assert_str_eq(r.body, "");
        ck_assert_uint_eq(r.body_len, 0);
        http_response_clear(&r);
        fake_server_stop(s);
}
END_TEST

START_TEST(test_cap_exceeded_content_length) {
        FakeServer *s = start(NULL);
        route1(s, "GET", "/big", &(FakeResponse){.body_repeat_size = 5000});
        _cleanup_free_ char *url = url_of(s, false, "/big");
        HttpResponse r;
        int k = http_perform(&(HttpRequest){.url = url, .max_body = 1000, .out_fd = -1}, &r);
        ck_assert_int_eq(k, -EFBIG);
        ck_assert_int_eq(r.error, HTTP_ERR_TOO_LARGE);
        ck_assert_ptr_null(r.body);
        ck_assert_ptr_nonnull(strstr(r.message, "1000"));
        fake_server_stop(s);
}
END_TEST

/* A server that sends no Content-Length, so only the write callback can enforce the cap. */
typedef struct Raw {
        int fd;
        size_t n;
} Raw;

static void *raw_serve(void *p) {
        Raw *raw = p;
        int c = accept4(raw->fd, NULL, NULL, SOCK_CLOEXEC);
        if (c < 0) return NULL;
        char buf[4096];
        (void)!recv(c, buf, sizeof buf, 0);
        static const char hdr[] = "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n";
        bool ok = send(c, hdr, sizeof hdr - 1, MSG_NOSIGNAL) > 0;
        memset(buf, 'y', sizeof buf);
        for (size_t sent = 0; ok && sent < raw->n; sent += sizeof buf)
                ok = send(c, buf, sizeof buf, MSG_NOSIGNAL) > 0;
        close(c);
        return NULL;
}

START_TEST(test_cap_exceeded_streamed) {
        Raw raw = {.n = 64 * 1024};
        raw.fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_in sa = {.sin_family = AF_INET};
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof sa;
        ck_assert_int_eq(bind(raw.fd, (struct sockaddr *)&sa, sizeof sa), 0);
        ck_assert_int_eq(listen(raw.fd, 1), 0);
        ck_assert_int_eq(getsockname(raw.fd, (struct sockaddr *)&sa, &len), 0);
        pthread_t t;
        ck_assert_int_eq(pthread_create(&t, NULL, raw_serve, &raw), 0);

        char url[64];
        snprintf(url, sizeof url, "http://127.0.0.1:%u/", ntohs(sa.sin_port));
        HttpResponse r;
        int k = http_perform(&(HttpRequest){.url = url, .max_body = 10000, .out_fd = -1}, &r);
        ck_assert_int_eq(k, -EFBIG);
        ck_assert_int_eq(r.error, HTTP_ERR_TOO_LARGE);
        ck_assert_uint_le(r.body_len, 10000);
        pthread_join(t, NULL);
        close(raw.fd);
}
END_TEST

START_TEST(test_truncated) {
        FakeServer *s = start(NULL);
        route1(s, "GET", "/t", &(FakeResponse){.body = "0123456789", .truncate_at = 4});
        _cleanup_free_ char *url = url_of(s, false, "/t");
        HttpResponse r;
        int k = http_perform(&(HttpRequest){.url = url, .max_body = 100, .out_fd = -1}, &r);
        ck_assert_int_eq(k, -EPIPE);
        ck_assert_int_eq(r.error, HTTP_ERR_TRUNCATED);
        ck_assert_int_eq(r.status, 0);
        ck_assert_ptr_null(r.body);
        fake_server_stop(s);
}
END_TEST

START_TEST(test_reset) {
        FakeServer *s = start(NULL);
        route1(s, "GET", "/r", &(FakeResponse){.reset = true});
        _cleanup_free_ char *url = url_of(s, false, "/r");
        HttpResponse r;
        int k = http_perform(&(HttpRequest){.url = url, .max_body = 100, .out_fd = -1}, &r);
        ck_assert_int_eq(k, -EPIPE);
        ck_assert_int_eq(r.error, HTTP_ERR_TRUNCATED);
        ck_assert_str_ne(r.message, "");
        ck_assert_uint_eq(fake_server_count(s, "GET", "/r"), 1);
        fake_server_stop(s);
}
END_TEST

START_TEST(test_connection_refused) {
        char url[64];
        snprintf(url, sizeof url, "http://127.0.0.1:%u/x", closed_port());
        HttpResponse r;
        int k = http_perform(&(HttpRequest){.url = url, .max_body = 100, .out_fd = -1}, &r);
        ck_assert_int_eq(k, -ECONNREFUSED);
        ck_assert_int_eq(r.error, HTTP_ERR_CONNECT);
        ck_assert_int_eq(r.status, 0);
        ck_assert_int_eq(r.retry_after_s, -1);
        ck_assert_str_ne(r.message, "");
}
END_TEST

START_TEST(test_total_timeout_on_hang) {
        FakeServer *s = start(NULL);
        route1(s, "GET", "/hang", &(FakeResponse){.hang = true});
        _cleanup_free_ char *url = url_of(s, false, "/hang");
        HttpResponse r;
        int64_t t0 = now_monotonic_ms();
        int k = http_perform(&(HttpRequest){.url = url, .max_body = 100, .total_timeout_ms = 300, .out_fd = -1}, &r);
        int64_t took = now_monotonic_ms() - t0;
        ck_assert_int_eq(k, -ETIMEDOUT);
        ck_assert_int_eq(r.error, HTTP_ERR_TIMEOUT);
        ck_assert_int_ge(took, 250);
        ck_assert_int_lt(took, 2000);
        fake_server_stop(s);
}
END_TEST

static long retry_after_for(const char *header_lines) {
        FakeServer *s = start(NULL);
        route1(s, "GET", "/ra", &(FakeResponse){.status = 503, .headers = header_lines});
        _cleanup_free_ char *url = url_of(s, false, "/ra");
        HttpResponse r;
        ck_assert_int_eq(http_perform(&(HttpRequest){.url = url, .max_body = 100, .out_fd = -1}, &r), 0);
        ck_assert_int_eq(r.status, 503);
        http_response_clear(&r);
        fake_server_stop(s);
        return r.retry_after_s;
}

START_TEST(test_retry_after_delta) {
        ck_assert_int_eq(retry_after_for("Retry-After: 7\n"), 7);
        ck_assert_int_eq(retry_after_for("retry-after: 0\n"), 0);
        ck_assert_int_eq(retry_after_for("X-Other: 1\n"), -1);
        ck_assert_int_eq(retry_after_for("Retry-After: soon\n"), -1);
        ck_assert_int_eq(retry_after_for("Retry-After: 12abc\n"), -1);
}
END_TEST

START_TEST(test_retry_after_date) {
        char line[128], date[64];
        time_t t = time(NULL) + 120;
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
        snprintf(line, sizeof line, "Retry-After: %s\n", date);
        long ra = retry_after_for(line);
        ck_assert_int_ge(ra, 115);
        ck_assert_int_le(ra, 120);

        /* A date in the past means "now". */
        ck_assert_int_eq(retry_after_for("Retry-After: Wed, 21 Oct 2015 07:28:00 GMT\n"), 0);
}
END_TEST

START_TEST(test_headers_sent) {
        FakeServer *s = start(NULL);
        route1(s, "GET", "/metadata/instance", &(FakeResponse){.body = "{}"});
        _cleanup_free_ char *url = url_of(s, false, "/metadata/instance?api-version=2021-02-01");
        const char *const headers[] = {"Metadata: true", "Authorization: Bearer " CANARY_PUSH_SECRET, NULL};
        HttpResponse r;
        ck_assert_int_eq(http_perform(&(HttpRequest){.url = url, .headers = headers, .max_body = 100,
                                                     .no_proxy = true, .out_fd = -1},
                                      &r),
                         0);
        ck_assert_int_eq(r.status, 200);
        http_response_clear(&r);

        json_t *reqs = fake_server_requests(s);
        ck_assert_uint_eq(json_array_size(reqs), 1);
        json_t *q = json_array_get(reqs, 0);
        ck_assert_str_eq(json_string_value(json_object_get(q, "method")), "GET");
        ck_assert_str_eq(json_string_value(json_object_get(q, "path")), "/metadata/instance");
        ck_assert_str_eq(json_string_value(json_object_get(q, "query")), "api-version=2021-02-01");
        json_t *h = json_object_get(q, "headers");
        ck_assert_str_eq(json_string_value(json_object_get(h, "metadata")), "true");
        ck_assert_str_eq(json_string_value(json_object_get(h, "authorization")), "Bearer " CANARY_PUSH_SECRET);
        ck_assert_ptr_null(json_object_get(h, "x-forwarded-for"));
        ck_assert(json_is_false(json_object_get(q, "tls")));
        json_decref(reqs);
        fake_server_stop(s);
}
END_TEST

START_TEST(test_post_body_recorded) {
        FakeServer *s = start(NULL);
        route1(s, "POST", "/machine", &(FakeResponse){.status = 201});
        _cleanup_free_ char *url = url_of(s, false, "/machine?comp=health");
        const char body[] = "<Health><State>Ready</State></Health>";
        const char *const headers[] = {"Content-Type: text/xml;charset=utf-8", NULL};
        HttpResponse r;
        ck_assert_int_eq(http_perform(&(HttpRequest){.method = "POST", .url = url, .headers = headers,
                                                     .body = body, .body_len = sizeof body - 1,
                                                     .max_body = 100, .out_fd = -1},
                                      &r),
                         0);
        ck_assert_int_eq(r.status, 201);
        http_response_clear(&r);

        json_t *reqs = fake_server_requests(s);
        json_t *q = json_array_get(reqs, 0);
        ck_assert_str_eq(json_string_value(json_object_get(q, "method")), "POST");
        ck_assert_str_eq(json_string_value(json_object_get(q, "body")), body);
        json_t *h = json_object_get(q, "headers");
        ck_assert_str_eq(json_string_value(json_object_get(h, "content-type")), "text/xml;charset=utf-8");
        ck_assert_str_eq(json_string_value(json_object_get(h, "content-length")), "37");
        ck_assert_ptr_null(json_object_get(h, "expect"));
        json_decref(reqs);
        fake_server_stop(s);
}
END_TEST

START_TEST(test_unsupported_method) {
        HttpResponse r;
        ck_assert_int_eq(http_perform(&(HttpRequest){.method = "DELETE", .url = "http://127.0.0.1:1/",
                                                     .max_body = 1, .out_fd = -1},
                                      &r),
                         -EINVAL);
        ck_assert_int_eq(r.error, HTTP_ERR_OTHER);
        ck_assert_int_eq(http_perform(&(HttpRequest){.url = "http://127.0.0.1:1/", .out_fd = -1}, &r), -EINVAL);
}
END_TEST

START_TEST(test_other_protocols_refused) {
        _cleanup_free_ char *p = strjoin(certs_dir, "/ca.pem", NULL);
        _cleanup_free_ char *url = strjoin("file://", p, NULL);
        HttpResponse r;
        int k = http_perform(&(HttpRequest){.url = url, .max_body = 100000, .out_fd = -1}, &r);
        ck_assert_int_eq(k, -EIO);
        ck_assert_int_eq(r.error, HTTP_ERR_OTHER);
        ck_assert_ptr_null(r.body);
}
END_TEST

START_TEST(test_no_redirect) {
        FakeServer *s = start(NULL);
        route1(s, "GET", "/from", &(FakeResponse){.status = 302, .headers = "Location: /to\n"});
        route1(s, "GET", "/to", &(FakeResponse){.body = "followed"});
        _cleanup_free_ char *url = url_of(s, false, "/from");
        HttpResponse r;
        ck_assert_int_eq(http_perform(&(HttpRequest){.url = url, .max_body = 100, .out_fd = -1}, &r), 0);
        ck_assert_int_eq(r.status, 302);
        ck_assert_uint_eq(fake_server_count(s, "GET", "/from"), 1);
        ck_assert_uint_eq(fake_server_count(s, "GET", "/to"), 0);
        http_response_clear(&r);
        fake_server_stop(s);
}
END_TEST

START_TEST(test_https_with_ca_file) {
        FakeServer *s = start("server");
        route1(s, "GET", "/install", &(FakeResponse){.body = "#!/bin/bash\n"});
        _cleanup_free_ char *url = url_of(s, true, "/install");
        _cleanup_free_ char *ca = cert_path("ca.pem");
        HttpResponse r;
        int k = http_perform(&(HttpRequest){.url = url, .max_body = 100, .ca_file = ca,
                                            .connect_timeout_ms = TLS_CONNECT_MS, .out_fd = -1},
                             &r);
        ck_assert_msg(k == 0, "k=%d message=%s", k, r.message);
        ck_assert_int_eq(r.status, 200);
        ck_assert_str_eq(r.body, "#!/bin/bash\n");
        http_response_clear(&r);
        json_t *reqs = fake_server_requests(s);
        ck_assert(json_is_true(json_object_get(json_array_get(reqs, 0), "tls")));
        json_decref(reqs);
        fake_server_stop(s);
}
END_TEST

START_TEST(test_https_without_ca_file) {
        FakeServer *s = start("server");
        route1(s, "GET", "/install", &(FakeResponse){.body = "x"});
        _cleanup_free_ char *url = url_of(s, true, "/install");
        const char *const headers[] = {"Authorization: Bearer " CANARY_PUSH_TOKEN, NULL};
        HttpResponse r;
        int k = http_perform(&(HttpRequest){.url = url, .headers = headers, .max_body = 100, .ca_file = "",
                                            .connect_timeout_ms = TLS_CONNECT_MS, .out_fd = -1},
                             &r);
        ck_assert_int_eq(k, -EPROTO);
        ck_assert_int_eq(r.error, HTTP_ERR_TLS);
        ck_assert_msg(strstr(r.message, "certificate"), "message: %s", r.message);
        for (const char *const *c = canary_values; *c; c++) ck_assert_ptr_null(strstr(r.message, *c));
        ck_assert_uint_eq(fake_server_count(s, "GET", "/install"), 0);
        fake_server_stop(s);
}
END_TEST

static const struct {
        const char *leaf, *expect;
} bad_certs[] = {
        {"untrusted", "unable to get local issuer certificate"},
        {"expired", "certificate has expired"},
        {"wronghost", "no alternative certificate subject name"},
};

START_TEST(test_https_bad_certs) {
        FakeServer *s = start(bad_certs[_i].leaf);
        route1(s, "GET", "/install", &(FakeResponse){.body = "x"});
        _cleanup_free_ char *url = url_of(s, true, "/install");
        _cleanup_free_ char *ca = cert_path("ca.pem");
        HttpResponse r;
        int k = http_perform(&(HttpRequest){.url = url, .max_body = 100, .ca_file = ca,
                                            .connect_timeout_ms = TLS_CONNECT_MS, .out_fd = -1},
                             &r);
        ck_assert_int_eq(k, -EPROTO);
        ck_assert_int_eq(r.error, HTTP_ERR_TLS);
        ck_assert_msg(strstr(r.message, bad_certs[_i].expect), "%s: message: %s", bad_certs[_i].leaf, r.message);
        ck_assert_uint_eq(fake_server_count(s, "GET", "/install"), 0);
        fake_server_stop(s);
}
END_TEST

START_TEST(test_missing_ca_file) {
        _cleanup_free_ char *ca = strjoin(tmp_dir, "/no-such-ca.pem", NULL);
        HttpResponse r;
        int k = http_perform(&(HttpRequest){.url = "https://127.0.0.1:1/", .max_body = 100, .ca_file = ca,
                                            .out_fd = -1},
                             &r);
        ck_assert_int_eq(k, -ENOENT);
        ck_assert_ptr_nonnull(strstr(r.message, ca));
}
END_TEST

START_TEST(test_out_fd_streaming) {
        FakeServer *s = start(NULL);
        route1(s, "GET", "/dl", &(FakeResponse){.body_repeat_size = 300000});
        _cleanup_free_ char *url = url_of(s, false, "/dl");
        _cleanup_free_ char *path = strjoin(tmp_dir, "/download", NULL);
        _cleanup_close_ int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        ck_assert_int_ge(fd, 0);
        HttpResponse r;
        ck_assert_int_eq(http_perform(&(HttpRequest){.url = url, .max_body = 300000, .out_fd = fd}, &r), 0);
        ck_assert_int_eq(r.status, 200);
        ck_assert_ptr_null(r.body);
        ck_assert_uint_eq(r.body_len, 300000);
        struct stat st;
        ck_assert_int_eq(fstat(fd, &st), 0);
        ck_assert_int_eq(st.st_size, 300000);
        _cleanup_free_ char *data = NULL;
        size_t len = 0;
        ck_assert_int_eq(read_file_capped(path, 400000, &data, &len), 0);
        ck_assert_uint_eq(len, 300000);
        ck_assert_uint_eq(strspn(data, "x"), 300000);

        /* The cap applies to streaming too. */
        ck_assert_int_eq(http_perform(&(HttpRequest){.url = url, .max_body = 1000, .out_fd = fd}, &r), -EFBIG);
        ck_assert_int_eq(r.error, HTTP_ERR_TOO_LARGE);
        unlink(path);
        fake_server_stop(s);
}
END_TEST

START_TEST(test_out_fd_write_error) {
        FakeServer *s = start(NULL);
        route1(s, "GET", "/dl", &(FakeResponse){.body = "abc"});
        _cleanup_free_ char *url = url_of(s, false, "/dl");
        _cleanup_close_ int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);   /* writes fail: EBADF */
        HttpResponse r;
        ck_assert_int_eq(http_perform(&(HttpRequest){.url = url, .max_body = 100, .out_fd = fd}, &r), -EIO);
        ck_assert_int_eq(r.error, HTTP_ERR_WRITE);
        fake_server_stop(s);
}
END_TEST

START_TEST(test_no_proxy) {
        FakeServer *s = start(NULL);
        route1(s, "GET", "/m", &(FakeResponse){.body = "direct"});
        _cleanup_free_ char *url = url_of(s, false, "/m");
        char proxy[64];
        snprintf(proxy, sizeof proxy, "http://127.0.0.1:%u", closed_port());
        unsetenv("no_proxy");
        unsetenv("NO_PROXY");
        setenv("http_proxy", proxy, 1);
        HttpResponse r;
        /* Without no_proxy the environment's (dead) proxy is used... */
        ck_assert_int_eq(http_perform(&(HttpRequest){.url = url, .max_body = 100, .out_fd = -1}, &r), -ECONNREFUSED);
        /* ...with it the request goes direct. */
        ck_assert_int_eq(http_perform(&(HttpRequest){.url = url, .max_body = 100, .no_proxy = true, .out_fd = -1}, &r),
                         0);
        ck_assert_str_eq(r.body, "direct");
        http_response_clear(&r);
        unsetenv("http_proxy");
        fake_server_stop(s);
}
END_TEST

/* The scenario file and the record file are what the e2e tests and fake-azure use. */
START_TEST(test_fake_scenario_and_record) {
        _cleanup_free_ char *scenario = strjoin(tmp_dir, "/scenario.json", NULL);
        _cleanup_free_ char *body = strjoin(tmp_dir, "/body.txt", NULL);
        _cleanup_free_ char *record = strjoin(tmp_dir, "/record.jsonl", NULL);
        static const char json[] =
                "{\"routes\":[{\"method\":\"GET\",\"path\":\"/x\",\"responses\":["
                "{\"status\":503,\"times\":2,\"headers\":{\"Retry-After\":\"3\"}},"
                "{\"status\":200,\"body_file\":\"body.txt\",\"content_type\":\"text/plain\"}]}]}";
        ck_assert_int_eq(write_file_atomic(scenario, json, sizeof json - 1, 0600), 0);
        ck_assert_int_eq(write_file_atomic(body, "from file", 9, 0600), 0);

        FakeServer *s = fake_server_start(&(FakeServerOptions){.record_file = record});
        ck_assert_ptr_nonnull(s);
        ck_assert_int_eq(fake_server_load_scenario(s, scenario), 0);
        _cleanup_free_ char *url = url_of(s, false, "/x?q=1");
        HttpResponse r;
        for (int i = 0; i < 2; i++) {
                ck_assert_int_eq(http_perform(&(HttpRequest){.url = url, .max_body = 100, .out_fd = -1}, &r), 0);
                ck_assert_int_eq(r.status, 503);
                ck_assert_int_eq(r.retry_after_s, 3);
                http_response_clear(&r);
        }
        for (int i = 0; i < 2; i++) {   /* the last entry repeats */
                ck_assert_int_eq(http_perform(&(HttpRequest){.url = url, .max_body = 100, .out_fd = -1}, &r), 0);
                ck_assert_int_eq(r.status, 200);
                ck_assert_str_eq(r.body, "from file");
                http_response_clear(&r);
        }
        _cleanup_free_ char *other = url_of(s, false, "/unrouted");
        ck_assert_int_eq(http_perform(&(HttpRequest){.url = other, .max_body = 100, .out_fd = -1}, &r), 0);
        ck_assert_int_eq(r.status, 404);
        http_response_clear(&r);

        /* The record file is complete while the server runs: one JSON line per request. */
        _cleanup_free_ char *lines = NULL;
        ck_assert_int_eq(read_file_capped(record, 1 << 20, &lines, NULL), 0);
        int n = 0;
        for (char *line = lines, *nl; (nl = strchr(line, '\n')); line = nl + 1, n++) {
                json_t *o = json_loadb(line, (size_t)(nl - line), 0, NULL);
                ck_assert_ptr_nonnull(o);
                ck_assert_str_eq(json_string_value(json_object_get(o, "path")), n < 4 ? "/x" : "/unrouted");
                if (n < 4) ck_assert_str_eq(json_string_value(json_object_get(o, "query")), "q=1");
                json_decref(o);
        }
        ck_assert_int_eq(n, 5);
        ck_assert_uint_eq(fake_server_count(s, "GET", "/x"), 4);

        /* Unknown keys are refused, so a typo in a scenario cannot pass silently. */
        static const char bad[] = "{\"routes\":[{\"method\":\"GET\",\"path\":\"/y\","
                                  "\"responses\":[{\"stauts\":500}]}]}";
        ck_assert_int_eq(write_file_atomic(scenario, bad, sizeof bad - 1, 0600), 0);
        ck_assert_int_eq(fake_server_load_scenario(s, scenario), -EINVAL);
        fake_server_stop(s);
        unlink(scenario);
        unlink(body);
        unlink(record);
}
END_TEST

START_TEST(test_error_strings) {
        for (int e = 0; e < _HTTP_ERR_MAX; e++) ck_assert_ptr_nonnull(http_error_to_string((HttpError)e));
        ck_assert_ptr_null(http_error_to_string(_HTTP_ERR_MAX));
        ck_assert_str_eq(http_error_to_string(HTTP_ERR_TLS), "TLS failure");
}
END_TEST

/* --- lifecycle: unverified TLS for the vSensor's loopback health endpoint only --- */

static const struct {
        const char *url;
        bool loopback;
} loopback_urls[] = {
        {"https://127.0.0.1/healthcheck", true}, {"http://127.0.0.1:8080/x", true}, {"https://127.255.0.9", true},
        {"HTTPS://127.0.0.1/", true}, {"https://[::1]:443/healthcheck", true}, {"https://[::1]", true},
        {"https://10.0.0.4/healthcheck", false}, {"https://localhost/healthcheck", false},
        {"https://127.0.0.1.example.com/", false}, {"https://user@127.0.0.1/", false}, {"https://127.1/", false},
        {"https://0177.0.0.1/", false}, {"https://[::2]/", false}, {"https://[::ffff:10.0.0.1]/", false},
        {"https://127.0.0.1:0/", false}, {"https://127.0.0.1:65536/", false}, {"https://127.0.0.1:/", false},
        {"ftp://127.0.0.1/", false}, {"127.0.0.1", false}, {"https://", false}, {"https://[::1/", false},
};

START_TEST(test_url_is_loopback) {
        ck_assert_msg(http_url_is_loopback(loopback_urls[_i].url) == loopback_urls[_i].loopback, "%s",
                      loopback_urls[_i].url);
}
END_TEST

START_TEST(test_unverified_tls_only_for_loopback) {
        /* A self-signed (untrusted) certificate on 127.0.0.1: verified, it fails; with
         * the option, it answers. */
        FakeServer *s = start("untrusted");
        route1(s, "GET", "/healthcheck", &(FakeResponse){.body = "ok"});
        _cleanup_free_ char *url = url_of(s, true, "/healthcheck");
        HttpResponse r;
        ck_assert_int_eq(http_perform(&(HttpRequest){.url = url, .max_body = 100, .out_fd = -1,
                                                     .connect_timeout_ms = TLS_CONNECT_MS},
                                      &r),
                         -EPROTO);
        ck_assert_int_eq(http_perform(&(HttpRequest){.url = url, .max_body = 100, .out_fd = -1,
                                                     .connect_timeout_ms = TLS_CONNECT_MS,
                                                     .tls_unverified_loopback = true},
                                      &r),
                         0);
        ck_assert_int_eq(r.status, 200);
        ck_assert_str_eq(r.body, "ok");
        http_response_clear(&r);
        ck_assert_uint_eq(fake_server_count(s, "GET", "/healthcheck"), 1);
        fake_server_stop(s);

        /* Any other host: refused before a connection is made. */
        ck_assert_int_eq(http_perform(&(HttpRequest){.url = "https://192.0.2.1/healthcheck", .max_body = 100,
                                                     .out_fd = -1, .tls_unverified_loopback = true},
                                      &r),
                         -EINVAL);
        ck_assert_str_eq(r.message, "unverified TLS is only for loopback addresses");
}
END_TEST

static int run_make_certs(const char *dir) {
        pid_t pid = fork();
        if (pid < 0) return -errno;
        if (pid == 0) {
                execlp("sh", "sh", "test/fake/make-certs.sh", dir, (char *)NULL);
                _exit(127);
        }
        int status;
        if (waitpid(pid, &status, 0) < 0) return -errno;
        return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -EIO;
}

static Suite *http_suite(void) {
        Suite *s = suite_create("http");
        TCase *tc = tcase_create("core");
        tcase_set_timeout(tc, 20);
        tcase_add_test(tc, test_get_200_body_with_nul);
        tcase_add_test(tc, test_body_exactly_at_cap);
        tcase_add_test(tc, test_empty_body_is_empty_string);
        tcase_add_test(tc, test_cap_exceeded_content_length);
        tcase_add_test(tc, test_cap_exceeded_streamed);
        tcase_add_test(tc, test_truncated);
        tcase_add_test(tc, test_reset);
        tcase_add_test(tc, test_connection_refused);
        tcase_add_test(tc, test_total_timeout_on_hang);
        tcase_add_test(tc, test_retry_after_delta);
        tcase_add_test(tc, test_retry_after_date);
        tcase_add_test(tc, test_headers_sent);
        tcase_add_test(tc, test_post_body_recorded);
        tcase_add_test(tc, test_unsupported_method);
        tcase_add_test(tc, test_other_protocols_refused);
        tcase_add_test(tc, test_no_redirect);
        tcase_add_test(tc, test_https_with_ca_file);
        tcase_add_test(tc, test_https_without_ca_file);
        tcase_add_loop_test(tc, test_https_bad_certs, 0, (int)ELEMENTSOF(bad_certs));
        tcase_add_test(tc, test_missing_ca_file);
        tcase_add_test(tc, test_out_fd_streaming);
        tcase_add_test(tc, test_out_fd_write_error);
        tcase_add_test(tc, test_no_proxy);
        tcase_add_test(tc, test_fake_scenario_and_record);
        tcase_add_test(tc, test_error_strings);
        tcase_add_loop_test(tc, test_url_is_loopback, 0, (int)ELEMENTSOF(loopback_urls));
        tcase_add_test(tc, test_unverified_tls_only_for_loopback);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        snprintf(tmp_dir, sizeof tmp_dir, "%s/test-http.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
        if (!mkdtemp(tmp_dir)) {
                perror("mkdtemp");
                return 1;
        }
        const char *env = getenv("CERTS");
        char probe[PATH_MAX];
        snprintf(probe, sizeof probe, "%s/ca.pem", env ? env : "");
        if (env && access(probe, R_OK) == 0)
                snprintf(certs_dir, sizeof certs_dir, "%s", env);
        else {
                snprintf(certs_dir, sizeof certs_dir, "%s/certs", tmp_dir);
                if (run_make_certs(certs_dir) < 0) {
                        fprintf(stderr, "test-http: make-certs.sh failed (run from the repository top)\n");
                        tu_rm_rf(tmp_dir);
                        return 1;
                }
        }
        if (http_global_init() < 0) return 1;

        int status = tu_run_suite(http_suite());
        http_global_cleanup();
        tu_rm_rf(tmp_dir);
        return status;
}
