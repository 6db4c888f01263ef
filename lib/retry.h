/* retry: bounded retries with exponential backoff and full jitter until a deadline.
 * Retry-After from the server is honoured as a lower bound on the next wait (capped
 * by the deadline). Which outcomes are retryable is per endpoint. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include "http.h"

typedef struct RetryPolicy {
        int64_t deadline_ms;     /* total budget from the first try, in ms; <= 0: none
                                  * (then max_attempts must bound it, else no retries) */
        int64_t base_ms;         /* first backoff ceiling (e.g. 250) */
        int64_t max_ms;          /* cap of the backoff ceiling (e.g. 1000 for IMDS) */
        int max_attempts;        /* 0: unlimited (the deadline bounds it) */
        /* Which HTTP statuses are retryable; NULL: 408, 429 and 5xx. */
        bool (*status_retryable)(long status);
        /* Optional: sees each failed try's outcome (transport error or retryable
         * status) as soon as it is known, before any wait — e.g. to notice early that
         * every failure so far is a connection timeout (preflight's early warning). */
        void (*observe)(void *userdata, const HttpResponse *resp);
        void *observe_userdata;
} RetryPolicy;

typedef struct Retry {
        const RetryPolicy *policy;
        int64_t start_ms;        /* monotonic */
        int attempt;             /* tries made so far */
} Retry;

void retry_init(Retry *r, const RetryPolicy *p);
/* The next wait in ms: full jitter, uniform in [0, min(max, base * 2^(attempt-1))]; when
 * the server sent Retry-After (retry_after_s >= 0), that many seconds plus a spread
 * uniform in [0, min(ceiling, 500)] ms instead. A wait that would overshoot the
 * deadline is cut to end there (one last try). Returns -1 when no try fits before the
 * deadline any more (or max_attempts tries were made): stop retrying. Increments attempt. */
int64_t retry_next_delay(Retry *r, long retry_after_s);
int64_t retry_remaining_ms(const Retry *r);
/* A try's total timeout: per_try_ms, or the budget left (remaining_ms, from
 * retry_remaining_ms) when that is shorter. For every loop that clips its tries to the
 * deadline: retry_http, and msi and keyvault, which call http_perform themselves. The
 * try was cut short by the deadline exactly when the result is below per_try_ms. */
long retry_try_timeout_ms(int64_t remaining_ms, long per_try_ms);

/* IMDS: 404, 410, 429 and 5xx are retryable (DESIGN.md, Azure facts). */
bool retry_status_imds(long status);
/* Everything but 2xx is retryable (wireserver). */
bool retry_status_any(long status);
/* 408, 429, 5xx (download CDN). */
bool retry_status_default(long status);

/* Called before each wait so the caller can log it: attempt number, what failed
 * ("HTTP 503", "connection refused", "TLS: certificate verify failed"), the wait. */
typedef void (*RetryNotifyFn)(void *userdata, int attempt, const char *what, int64_t delay_ms);

/* Performs req until it returns a 2xx, a non-retryable status, or the deadline
 * passes. Transport errors (connect, timeout, TLS, truncated) are retryable; a
 * body over the cap is not. Each try's total timeout is clipped to the remaining
 * budget. With out_fd, the fd is truncated and rewound before every try.
 * Returns 0 with a 2xx response in ret; -EBADMSG with ret holding a non-retryable
 * status; -ETIMEDOUT (deadline passed; ret holds the last outcome, message set);
 * or another -errno from http_perform for non-retryable transport errors. */
int retry_http(const HttpRequest *req, const RetryPolicy *p, RetryNotifyFn notify,
               void *userdata, HttpResponse *ret);
