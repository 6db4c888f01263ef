/* test-retry: backoff arithmetic, status predicates and retry_http against the fake server. */
#include <check.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "fake-server.h"
#include "retry.h"
#include "testutil.h"
#include "util.h"

static char tmp_dir[PATH_MAX];

/* ---- retry_next_delay ---- */

START_TEST(test_full_jitter_bounds) {
        static const RetryPolicy p = {.deadline_ms = INT64_C(1) << 40, .base_ms = 100, .max_ms = 800};
        static const int64_t ceilings[] = {100, 200, 400, 800, 800, 800, 800};
        enum { SAMPLES = 2000 };

        for (size_t a = 0; a < ELEMENTSOF(ceilings); a++) {
                /* Checked after the loop: each Check assertion writes a mark point, and
                 * 42,000 of them slowed this suite to a minute under valgrind. */
                int64_t lo = INT64_MAX, hi = -1;
                int bad_attempt = 0;
                for (int i = 0; i < SAMPLES; i++) {
                        Retry r;
                        retry_init(&r, &p);
                        r.attempt = (int)a;   /* a tries made: the next delay is for try a+1 */
                        int64_t d = retry_next_delay(&r, -1);
                        if (r.attempt != (int)a + 1) bad_attempt++;
                        if (d < lo) lo = d;
                        if (d > hi) hi = d;
                }
                ck_assert_int_eq(bad_attempt, 0);
                ck_assert_int_ge(lo, 0);
                ck_assert_int_le(hi, ceilings[a]);
                /* Full jitter: the whole range [0, ceiling] is used. */
                ck_assert_int_le(lo, ceilings[a] / 10);
                ck_assert_int_ge(hi, ceilings[a] * 9 / 10);
        }
}
END_TEST

START_TEST(test_ceiling_no_overflow) {
        static const RetryPolicy p = {.deadline_ms = INT64_C(1) << 40, .base_ms = 1000, .max_ms = 5000};
        Retry r;
        retry_init(&r, &p);
        r.attempt = 200;
        int64_t d = retry_next_delay(&r, -1);
        ck_assert_int_ge(d, 0);
        ck_assert_int_le(d, 5000);
}
END_TEST

START_TEST(test_retry_after_is_lower_bound) {
        static const RetryPolicy small = {.deadline_ms = 60000, .base_ms = 100, .max_ms = 100};
        Retry r;
        retry_init(&r, &small);
        int64_t d = retry_next_delay(&r, 2);
        ck_assert_int_ge(d, 2000);
        ck_assert_int_le(d, 2100);                         /* spread capped by the ceiling */
        ck_assert_int_le(retry_next_delay(&r, 0), 100);   /* 0: no extra wait */

        /* A long backoff ceiling does not make the caller come back late: Retry-After
         * plus at most half a second, and spread (not all at the same instant). */
        static const RetryPolicy big = {.deadline_ms = 60000, .base_ms = 5000, .max_ms = 5000};
        int64_t lo = INT64_MAX, hi = 0;
        for (int i = 0; i < 200; i++) {
                retry_init(&r, &big);
                d = retry_next_delay(&r, 1);
                lo = d < lo ? d : lo;
                hi = d > hi ? d : hi;
        }
        ck_assert_int_ge(lo, 1000);
        ck_assert_int_le(hi, 1500);
        ck_assert_int_gt(hi - lo, 250);
}
END_TEST

START_TEST(test_deadline_stops) {
        static const RetryPolicy p = {.deadline_ms = 1000, .base_ms = 10, .max_ms = 10};
        Retry r;
        retry_init(&r, &p);
        ck_assert_int_ge(retry_next_delay(&r, -1), 0);
        /* A Retry-After beyond the deadline: wait until just before the deadline for
         * one last try, never past it. */
        int64_t d = retry_next_delay(&r, 2);
        ck_assert_int_ge(d, 900);
        ck_assert_int_le(d, 1000);

        static const RetryPolicy tiny = {.deadline_ms = 50, .base_ms = 10, .max_ms = 10};
        retry_init(&r, &tiny);
        ck_assert_int_gt(retry_remaining_ms(&r), 0);
        ck_assert_int_le(retry_remaining_ms(&r), 50);
        sleep_ms(60);
        ck_assert_int_eq(retry_remaining_ms(&r), 0);
        ck_assert_int_eq(retry_next_delay(&r, -1), -1);
}
END_TEST

/* A backoff ceiling longer than what is left of the deadline: the wait is clamped to
 * the deadline, the loop does not give up early (DESIGN: retried until the deadline). */
START_TEST(test_backoff_clamped_to_deadline) {
        static const RetryPolicy p = {.deadline_ms = 1000, .base_ms = 5000, .max_ms = 5000};
        int64_t lo = INT64_MAX, hi = -1;
        for (int i = 0; i < 200; i++) {
                Retry r;
                retry_init(&r, &p);
                int64_t d = retry_next_delay(&r, -1);
                lo = d < lo ? d : lo;
                hi = d > hi ? d : hi;
        }
        ck_assert_int_ge(lo, 0);
        ck_assert_int_le(hi, 1000);
        /* Once the deadline is (almost) reached, no try fits: stop. */
        static const RetryPolicy tiny = {.deadline_ms = 30, .base_ms = 5000, .max_ms = 5000};
        Retry r;
        retry_init(&r, &tiny);
        sleep_ms(15);
        ck_assert_int_eq(retry_next_delay(&r, -1), -1);
}
END_TEST

START_TEST(test_max_attempts) {
        static const RetryPolicy p = {.deadline_ms = 60000, .base_ms = 1, .max_ms = 1, .max_attempts = 3};
        Retry r;
        retry_init(&r, &p);
        ck_assert_int_ge(retry_next_delay(&r, -1), 0);   /* after try 1 */
        ck_assert_int_ge(retry_next_delay(&r, -1), 0);   /* after try 2 */
        ck_assert_int_eq(retry_next_delay(&r, -1), -1);  /* 3 tries made */

        /* Attempts alone bound it when there is no deadline. */
        static const RetryPolicy q = {.base_ms = 1, .max_ms = 1, .max_attempts = 2};
        retry_init(&r, &q);
        ck_assert_int_eq(retry_remaining_ms(&r), INT64_MAX);
        ck_assert_int_ge(retry_next_delay(&r, -1), 0);
        ck_assert_int_eq(retry_next_delay(&r, -1), -1);

        /* Neither bound: no retries at all. */
        static const RetryPolicy none = {.base_ms = 1, .max_ms = 1};
        retry_init(&r, &none);
        ck_assert_int_eq(retry_next_delay(&r, -1), -1);
}
END_TEST

/* ---- status predicates ---- */

static const struct {
        long status;
        bool imds, any, def;
} statuses[] = {
        {200, false, false, false}, {201, false, false, false}, {204, false, false, false},
        {301, false, true, false},  {400, false, true, false},  {401, false, true, false},
        {403, false, true, false},  {404, true, true, false},   {408, false, true, true},
        {410, true, true, false},   {429, true, true, true},    {500, true, true, true},
        {502, true, true, true},    {503, true, true, true},    {599, true, true, true},
        {600, false, true, false},
};

START_TEST(test_status_tables) {
        ck_assert_msg(retry_status_imds(statuses[_i].status) == statuses[_i].imds, "imds %ld", statuses[_i].status);
        ck_assert_msg(retry_status_any(statuses[_i].status) == statuses[_i].any, "any %ld", statuses[_i].status);
        ck_assert_msg(retry_status_default(statuses[_i].status) == statuses[_i].def, "default %ld",
                      statuses[_i].status);
}
END_TEST

/* ---- retry_http ---- */

typedef struct Notes {
        int calls;
        int attempts[64];
        char what[64][256];
        int64_t delays[64];
} Notes;

static void note(void *userdata, int attempt, const char *what, int64_t delay_ms) {
        Notes *n = userdata;
        if (n->calls < 64) {
                n->attempts[n->calls] = attempt;
                snprintf(n->what[n->calls], sizeof n->what[0], "%s", what);
                n->delays[n->calls] = delay_ms;
        }
        n->calls++;
}

static FakeServer *start(void) {
        FakeServer *s = fake_server_start(&(FakeServerOptions){0});
        ck_assert_ptr_nonnull(s);
        return s;
}

static char *url_of(FakeServer *s, const char *path) {
        _cleanup_free_ char *base = fake_server_url(s, false);
        ck_assert_ptr_nonnull(base);
        char *u = strjoin(base, path, NULL);
        ck_assert_ptr_nonnull(u);
        return u;
}

START_TEST(test_503_503_200) {
        FakeServer *s = start();
        const FakeResponse rs[] = {{.status = 503, .times = 2}, {.status = 200, .body = "{\"ok\":1}"}};
        ck_assert_int_eq(fake_server_route(s, "GET", "/m", rs, 2), 0);
        _cleanup_free_ char *url = url_of(s, "/m");
        static const RetryPolicy p = {.deadline_ms = 5000, .base_ms = 10, .max_ms = 20,
                                      .status_retryable = retry_status_imds};
        Notes n = {0};
        HttpResponse r;
        int k = retry_http(&(HttpRequest){.url = url, .max_body = 100, .out_fd = -1}, &p, note, &n, &r);
        ck_assert_int_eq(k, 0);
        ck_assert_int_eq(r.status, 200);
        ck_assert_str_eq(r.body, "{\"ok\":1}");
        ck_assert_uint_eq(fake_server_count(s, "GET", "/m"), 3);
        ck_assert_int_eq(n.calls, 2);
        ck_assert_int_eq(n.attempts[0], 1);
        ck_assert_int_eq(n.attempts[1], 2);
        ck_assert_str_eq(n.what[0], "HTTP 503");
        ck_assert_int_le(n.delays[0], 10);
        ck_assert_int_le(n.delays[1], 20);
        http_response_clear(&r);
        fake_server_stop(s);
}
END_TEST

START_TEST(test_non_retryable_status) {
        FakeServer *s = start();
        ck_assert_int_eq(fake_server_route(s, "GET", "/m", &(FakeResponse){.status = 400, .body = "bad"}, 1), 0);
        _cleanup_free_ char *url = url_of(s, "/m");
        static const RetryPolicy p = {.deadline_ms = 5000, .base_ms = 10, .max_ms = 20,
                                      .status_retryable = retry_status_imds};
        Notes n = {0};
        HttpResponse r;
        int k = retry_http(&(HttpRequest){.url = url, .max_body = 100, .out_fd = -1}, &p, note, &n, &r);
        ck_assert_int_eq(k, -EBADMSG);
        ck_assert_int_eq(r.status, 400);
        ck_assert_str_eq(r.body, "bad");
        ck_assert_uint_eq(fake_server_count(s, "GET", "/m"), 1);
        ck_assert_int_eq(n.calls, 0);
        http_response_clear(&r);
        fake_server_stop(s);
}
END_TEST

START_TEST(test_default_predicate) {
        /* NULL status_retryable: 404 is not retryable by default (it is for IMDS). */
        FakeServer *s = start();
        const FakeResponse rs[] = {{.status = 429}, {.status = 404}};
        ck_assert_int_eq(fake_server_route(s, "GET", "/m", rs, 2), 0);
        _cleanup_free_ char *url = url_of(s, "/m");
        static const RetryPolicy p = {.deadline_ms = 5000, .base_ms = 5, .max_ms = 5};
        HttpResponse r;
        ck_assert_int_eq(retry_http(&(HttpRequest){.url = url, .max_body = 100, .out_fd = -1}, &p, NULL, NULL, &r),
                         -EBADMSG);
        ck_assert_int_eq(r.status, 404);
        ck_assert_uint_eq(fake_server_count(s, "GET", "/m"), 2);
        http_response_clear(&r);
        fake_server_stop(s);
}
END_TEST

START_TEST(test_deadline_503_forever) {
        FakeServer *s = start();
        ck_assert_int_eq(fake_server_route(s, "GET", "/m", &(FakeResponse){.status = 503, .body = "busy"}, 1), 0);
        _cleanup_free_ char *url = url_of(s, "/m");
        static const RetryPolicy p = {.deadline_ms = 600, .base_ms = 10, .max_ms = 50,
                                      .status_retryable = retry_status_imds};
        Notes n = {0};
        HttpResponse r;
        int64_t t0 = now_monotonic_ms();
        int k = retry_http(&(HttpRequest){.url = url, .max_body = 100, .out_fd = -1}, &p, note, &n, &r);
        int64_t took = now_monotonic_ms() - t0;
        ck_assert_int_eq(k, -ETIMEDOUT);
        ck_assert_int_le(took, 600 + 300);
        ck_assert_int_ge(took, 500);   /* it used most of the budget */
        ck_assert_int_eq(r.status, 503);
        ck_assert_str_eq(r.body, "busy");
        ck_assert_str_eq(r.message, "HTTP 503");
        size_t count = fake_server_count(s, "GET", "/m");
        ck_assert_uint_ge(count, 5);
        ck_assert_uint_eq((size_t)n.calls, count - 1);
        http_response_clear(&r);
        fake_server_stop(s);
}
END_TEST

START_TEST(test_retry_after_honoured) {
        FakeServer *s = start();
        const FakeResponse rs[] = {{.status = 503, .headers = "Retry-After: 1\n"}, {.status = 200, .body = "ok"}};
        ck_assert_int_eq(fake_server_route(s, "GET", "/m", rs, 2), 0);
        _cleanup_free_ char *url = url_of(s, "/m");
        static const RetryPolicy p = {.deadline_ms = 5000, .base_ms = 1, .max_ms = 1};
        Notes n = {0};
        HttpResponse r;
        int64_t t0 = now_monotonic_ms();
        int k = retry_http(&(HttpRequest){.url = url, .max_body = 100, .out_fd = -1}, &p, note, &n, &r);
        int64_t took = now_monotonic_ms() - t0;
        ck_assert_int_eq(k, 0);
        ck_assert_int_ge(took, 1000);
        ck_assert_int_eq(n.calls, 1);
        ck_assert_int_ge(n.delays[0], 1000);
        ck_assert_int_le(n.delays[0], 1001);   /* spread capped by this policy's 1 ms ceiling */
        http_response_clear(&r);

        /* Retry-After beyond the deadline: one last try just before the deadline,
         * never a sleep past it. */
        const FakeResponse late[] = {{.status = 503, .headers = "Retry-After: 30\n"}};
        ck_assert_int_eq(fake_server_route(s, "GET", "/late", late, 1), 0);
        _cleanup_free_ char *url2 = url_of(s, "/late");
        static const RetryPolicy shortp = {.deadline_ms = 800, .base_ms = 1, .max_ms = 1};
        t0 = now_monotonic_ms();
        k = retry_http(&(HttpRequest){.url = url2, .max_body = 100, .out_fd = -1}, &shortp, note, &n, &r);
        took = now_monotonic_ms() - t0;
        ck_assert_int_eq(k, -ETIMEDOUT);
        ck_assert_int_ge(took, 700);
        ck_assert_int_lt(took, 1300);
        ck_assert_uint_eq(fake_server_count(s, "GET", "/late"), 2);
        http_response_clear(&r);
        fake_server_stop(s);
}
END_TEST

START_TEST(test_transport_errors_retried) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_in sa = {.sin_family = AF_INET};
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof sa;
        ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
        ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
        close(fd);
        char url[64];
        snprintf(url, sizeof url, "http://127.0.0.1:%u/", ntohs(sa.sin_port));

        static const RetryPolicy p = {.deadline_ms = 300, .base_ms = 10, .max_ms = 20};
        Notes n = {0};
        HttpResponse r;
        int k = retry_http(&(HttpRequest){.url = url, .max_body = 100, .out_fd = -1}, &p, note, &n, &r);
        ck_assert_int_eq(k, -ETIMEDOUT);
        ck_assert_int_eq(r.error, HTTP_ERR_CONNECT);
        ck_assert_int_ge(n.calls, 3);
        ck_assert_str_ne(r.message, "");
        ck_assert_ptr_nonnull(strstr(n.what[0], "Failed to connect to 127.0.0.1"));
}
END_TEST

typedef struct Seen {
        int n;
        HttpError errors[8];
        long statuses[8];
} Seen;

static void observe(void *userdata, const HttpResponse *resp) {
        Seen *s = userdata;
        if (s->n < 8) {
                s->errors[s->n] = resp->error;
                s->statuses[s->n] = resp->status;
        }
        s->n++;
}

/* observe sees every failed try (a status and a timeout alike), and not the success. */
START_TEST(test_observe_sees_each_failed_try) {
        FakeServer *s = start();
        const FakeResponse rs[] = {{.status = 503}, {.delay_ms = 400, .times = 1}, {.status = 200, .body = "ok"}};
        ck_assert_int_eq(fake_server_route(s, "GET", "/m", rs, 3), 0);
        _cleanup_free_ char *url = url_of(s, "/m");
        Seen seen = {0};
        RetryPolicy p = {.deadline_ms = 5000, .base_ms = 10, .max_ms = 20, .observe = observe, .observe_userdata = &seen};
        HttpResponse r;
        int k = retry_http(&(HttpRequest){.url = url, .max_body = 100, .total_timeout_ms = 200, .out_fd = -1}, &p, NULL,
                           NULL, &r);
        ck_assert_int_eq(k, 0);
        ck_assert_int_eq(seen.n, 2);
        ck_assert_int_eq(seen.errors[0], HTTP_OK);
        ck_assert_int_eq(seen.statuses[0], 503);
        ck_assert_int_eq(seen.errors[1], HTTP_ERR_TIMEOUT);
        ck_assert_int_eq(seen.statuses[1], 0);
        http_response_clear(&r);
        fake_server_stop(s);
}
END_TEST

START_TEST(test_each_try_clipped_to_budget) {
        FakeServer *s = start();
        ck_assert_int_eq(fake_server_route(s, "GET", "/hang", &(FakeResponse){.hang = true}, 1), 0);
        _cleanup_free_ char *url = url_of(s, "/hang");
        static const RetryPolicy p = {.deadline_ms = 500, .base_ms = 10, .max_ms = 10};
        HttpResponse r;
        int64_t t0 = now_monotonic_ms();
        int k = retry_http(&(HttpRequest){.url = url, .max_body = 100, .total_timeout_ms = 30000, .out_fd = -1}, &p,
                           NULL, NULL, &r);
        int64_t took = now_monotonic_ms() - t0;
        ck_assert_int_eq(k, -ETIMEDOUT);
        ck_assert_int_eq(r.error, HTTP_ERR_TIMEOUT);
        ck_assert_int_lt(took, 1500);
        fake_server_stop(s);
}
END_TEST

START_TEST(test_too_large_not_retried) {
        FakeServer *s = start();
        ck_assert_int_eq(fake_server_route(s, "GET", "/big", &(FakeResponse){.body_repeat_size = 100}, 1), 0);
        _cleanup_free_ char *url = url_of(s, "/big");
        static const RetryPolicy p = {.deadline_ms = 5000, .base_ms = 10, .max_ms = 10};
        Notes n = {0};
        HttpResponse r;
        int k = retry_http(&(HttpRequest){.url = url, .max_body = 10, .out_fd = -1}, &p, note, &n, &r);
        ck_assert_int_eq(k, -EFBIG);
        ck_assert_int_eq(r.error, HTTP_ERR_TOO_LARGE);
        ck_assert_uint_eq(fake_server_count(s, "GET", "/big"), 1);
        ck_assert_int_eq(n.calls, 0);
        fake_server_stop(s);
}
END_TEST

START_TEST(test_out_fd_rewound_between_tries) {
        FakeServer *s = start();
        const FakeResponse rs[] = {{.body = "AAAAAAAAAA", .truncate_at = 5}, {.status = 200, .body = "BB"}};
        ck_assert_int_eq(fake_server_route(s, "GET", "/dl", rs, 2), 0);
        _cleanup_free_ char *url = url_of(s, "/dl");
        _cleanup_free_ char *path = strjoin(tmp_dir, "/dl", NULL);
        _cleanup_close_ int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(write_all(fd, "stale content", 13), 0);
        static const RetryPolicy p = {.deadline_ms = 5000, .base_ms = 10, .max_ms = 10};
        Notes n = {0};
        HttpResponse r;
        int k = retry_http(&(HttpRequest){.url = url, .max_body = 100, .out_fd = fd}, &p, note, &n, &r);
        ck_assert_int_eq(k, 0);
        ck_assert_int_eq(n.calls, 1);
        ck_assert_uint_eq(fake_server_count(s, "GET", "/dl"), 2);
        _cleanup_free_ char *data = NULL;
        size_t len = 0;
        ck_assert_int_eq(read_file_capped(path, 100, &data, &len), 0);
        ck_assert_uint_eq(len, 2);
        ck_assert_str_eq(data, "BB");
        unlink(path);
        fake_server_stop(s);
}
END_TEST

static Suite *retry_suite(void) {
        Suite *s = suite_create("retry");
        TCase *tc = tcase_create("delay");
        tcase_add_test(tc, test_full_jitter_bounds);
        tcase_add_test(tc, test_ceiling_no_overflow);
        tcase_add_test(tc, test_retry_after_is_lower_bound);
        tcase_add_test(tc, test_deadline_stops);
        tcase_add_test(tc, test_max_attempts);
        tcase_add_test(tc, test_backoff_clamped_to_deadline);
        tcase_add_loop_test(tc, test_status_tables, 0, (int)ELEMENTSOF(statuses));
        suite_add_tcase(s, tc);

        tc = tcase_create("http");
        tcase_set_timeout(tc, 20);
        tcase_add_test(tc, test_503_503_200);
        tcase_add_test(tc, test_non_retryable_status);
        tcase_add_test(tc, test_default_predicate);
        tcase_add_test(tc, test_deadline_503_forever);
        tcase_add_test(tc, test_retry_after_honoured);
        tcase_add_test(tc, test_transport_errors_retried);
        tcase_add_test(tc, test_each_try_clipped_to_budget);
        tcase_add_test(tc, test_observe_sees_each_failed_try);
        tcase_add_test(tc, test_too_large_not_retried);
        tcase_add_test(tc, test_out_fd_rewound_between_tries);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        snprintf(tmp_dir, sizeof tmp_dir, "%s/test-retry.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
        if (!mkdtemp(tmp_dir)) {
                perror("mkdtemp");
                return 1;
        }
        if (http_global_init() < 0) return 1;
        int status = tu_run_suite(retry_suite());
        http_global_cleanup();
        tu_rm_rf(tmp_dir);
        return status;
}
