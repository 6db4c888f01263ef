#include "retry.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>

#include "util.h"

/* Caps the Retry-After we accept so seconds * 1000 cannot overflow. */
#define RETRY_AFTER_CAP_S (INT64_C(24) * 3600)
/* How far past the server's Retry-After a caller may come back. */
#define RETRY_AFTER_SPREAD_MS INT64_C(500)
/* The least time worth starting a try with. */
#define RETRY_MIN_TRY_MS INT64_C(20)

void retry_init(Retry *r, const RetryPolicy *p) {
        *r = (Retry){.policy = p, .start_ms = now_monotonic_ms(), .attempt = 0};
}

static bool has_deadline(const RetryPolicy *p) { return p->deadline_ms > 0; }

int64_t retry_remaining_ms(const Retry *r) {
        const RetryPolicy *p = r->policy;
        if (!has_deadline(p)) return p->max_attempts > 0 ? INT64_MAX : 0;
        int64_t left = r->start_ms + p->deadline_ms - now_monotonic_ms();
        return left > 0 ? left : 0;
}

long retry_try_timeout_ms(int64_t remaining_ms, long per_try_ms) {
        return remaining_ms > 0 && remaining_ms < per_try_ms ? (long)remaining_ms : per_try_ms;
}

/* Whether a try can still start after waiting delay ms: a retry announced to the caller
 * must happen, so leave a little room for sleeping late. */
static bool fits_before_deadline(const Retry *r, int64_t delay) {
        const RetryPolicy *p = r->policy;
        return !has_deadline(p) || now_monotonic_ms() + delay + RETRY_MIN_TRY_MS <= r->start_ms + p->deadline_ms;
}

int64_t retry_next_delay(Retry *r, long retry_after_s) {
        const RetryPolicy *p = r->policy;

        r->attempt++;
        /* Neither bound set would retry forever: treat it as no budget. */
        if (!has_deadline(p) && p->max_attempts <= 0) return -1;
        if (p->max_attempts > 0 && r->attempt >= p->max_attempts) return -1;

        int64_t base = p->base_ms > 0 ? p->base_ms : 1;
        int64_t max = p->max_ms > 0 ? p->max_ms : base;
        int64_t ceiling = base;
        for (int i = 1; i < r->attempt && ceiling < max; i++)
                ceiling = ceiling > INT64_MAX / 2 ? INT64_MAX / 2 : ceiling * 2;
        if (ceiling > max) ceiling = max;

        int64_t delay = (int64_t)random_below((uint64_t)ceiling + 1);
        if (retry_after_s >= 0) {
                /* The server said when to come back: come back then, spread over at most a
                 * half second so the callers it sent away together do not return together. Our
                 * own (longer) backoff ceiling would only make the caller late. */
                int64_t ra = retry_after_s > RETRY_AFTER_CAP_S ? RETRY_AFTER_CAP_S : (int64_t)retry_after_s;
                int64_t spread = ceiling < RETRY_AFTER_SPREAD_MS ? ceiling : RETRY_AFTER_SPREAD_MS;
                delay = ra * 1000 + (int64_t)random_below((uint64_t)spread + 1);
                if (!fits_before_deadline(r, delay)) delay = ra * 1000;
        }
        if (fits_before_deadline(r, delay)) return delay;
        /* DESIGN: retried until the deadline. A wait that would overshoot it is cut to
         * end there, so one last try still happens; only when not even a try fits is
         * the budget spent. After that last try nothing is left (> 0 keeps a try that
         * took under a millisecond from earning another one). */
        int64_t last = r->start_ms + p->deadline_ms - RETRY_MIN_TRY_MS - now_monotonic_ms();
        return last > 0 ? last : -1;
}

bool retry_status_imds(long status) {
        return status == 404 || status == 410 || status == 429 || (status >= 500 && status <= 599);
}

bool retry_status_any(long status) { return !(status >= 200 && status <= 299); }

bool retry_status_default(long status) {
        return status == 408 || status == 429 || (status >= 500 && status <= 599);
}

static bool transport_retryable(HttpError e) {
        return e == HTTP_ERR_CONNECT || e == HTTP_ERR_TIMEOUT || e == HTTP_ERR_TLS || e == HTTP_ERR_TRUNCATED;
}

static void response_move(HttpResponse *dst, HttpResponse *src) {
        http_response_clear(dst);
        *dst = *src;
        *src = (HttpResponse){.retry_after_s = -1};
}

int retry_http(const HttpRequest *req, const RetryPolicy *p, RetryNotifyFn notify,
               void *userdata, HttpResponse *ret) {
        bool (*retryable)(long) = p->status_retryable ? p->status_retryable : retry_status_default;
        long per_try = req->total_timeout_ms > 0 ? req->total_timeout_ms : 30000;
        char what[sizeof ret->message] = "";
        /* The outcome before the current try: a last try cut short by the deadline
         * says less about the endpoint than the one before it ("HTTP 503"). */
        _cleanup_(http_response_clear) HttpResponse prev = {.retry_after_s = -1};
        Retry r;
        int k;

        *ret = (HttpResponse){.retry_after_s = -1};
        retry_init(&r, p);

        for (;;) {
                int64_t remaining = retry_remaining_ms(&r);
                /* The first try always happens, even with a policy without bounds. */
                if (remaining <= 0 && r.attempt > 0) {
                        snprintf(ret->message, sizeof ret->message, "%s", what);
                        return -ETIMEDOUT;
                }

                HttpRequest try = *req;
                try.total_timeout_ms = retry_try_timeout_ms(remaining, per_try);
                bool clipped = try.total_timeout_ms < per_try;
                if (try.out_fd >= 0) {
                        /* A failed try may have written part of the body. */
                        if (ftruncate(try.out_fd, 0) < 0 || lseek(try.out_fd, 0, SEEK_SET) < 0) {
                                k = -errno;
                                http_response_clear(ret);
                                *ret = (HttpResponse){.error = HTTP_ERR_WRITE, .retry_after_s = -1};
                                snprintf(ret->message, sizeof ret->message, "cannot truncate the output file: %s",
                                         strerror(-k));
                                return k;
                        }
                }

                response_move(&prev, ret);
                k = http_perform(&try, ret);
                if (p->observe && (k < 0 || !(ret->status >= 200 && ret->status <= 299)))
                        p->observe(p->observe_userdata, ret);

                if (k >= 0) {
                        if (ret->status >= 200 && ret->status <= 299) return 0;
                        if (!retryable(ret->status)) return -EBADMSG;
                        snprintf(what, sizeof what, "HTTP %ld", ret->status);
                } else {
                        if (!transport_retryable(ret->error)) return k;
                        if (ret->error == HTTP_ERR_TIMEOUT && clipped && r.attempt > 0) {
                                response_move(ret, &prev);
                                snprintf(ret->message, sizeof ret->message, "%s", what);
                                return -ETIMEDOUT;
                        }
                        snprintf(what, sizeof what, "%s", ret->message[0] ? ret->message
                                                                           : http_error_to_string(ret->error));
                }

                int64_t delay = retry_next_delay(&r, ret->retry_after_s);
                if (delay < 0) {
                        snprintf(ret->message, sizeof ret->message, "%s", what);
                        return -ETIMEDOUT;
                }
                if (notify) notify(userdata, r.attempt, what, delay);
                sleep_ms(delay);
        }
}
