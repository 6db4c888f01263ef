/* verify: the vSensor answers its health endpoint (DESIGN.md "Health of the vSensor").
 * A helper can exit 0 and the vSensor still not come up; Azure's load balancer would
 * only notice ten minutes later. GET verify.url every 2 s until a 200 or the deadline.
 * The host is a loopback address (checked when the configuration is read), so the
 * vSensor's self-signed certificate is not verified, and nothing secret is sent. */
#include "http.h"
#include "log.h"
#include "notify.h"
#include "steps.h"

#define VERIFY_INTERVAL_MS 2000
#define VERIFY_MAX_BODY (64 * 1024)
#define VERIFY_CONNECT_TIMEOUT_MS 2000
#define VERIFY_TRY_TIMEOUT_MS 5000
/* How much of a non-200 body the last answer quotes. */
#define VERIFY_BODY_QUOTE 80

/* "HTTP 503: <start of body>" or the transport error, one printable line. */
static void describe_answer(const HttpResponse *res, int r, char *buf, size_t size) {
        if (r < 0) {
                snprintf(buf, size, "%s (%s)", http_error_to_string(res->error), res->message);
                return;
        }
        char quote[VERIFY_BODY_QUOTE + 4] = "";
        size_t q = 0;
        for (size_t i = 0; res->body && i < res->body_len && q < VERIFY_BODY_QUOTE; i++) {
                unsigned char ch = (unsigned char)res->body[i];
                quote[q++] = ch >= 0x20 && ch < 0x7f ? (char)ch : ' ';
        }
        while (q > 0 && quote[q - 1] == ' ') q--;
        quote[q] = 0;
        if (res->body_len > VERIFY_BODY_QUOTE && q > 0) snprintf(quote + q, sizeof quote - q, "...");
        if (q > 0)
                snprintf(buf, size, "HTTP %ld: %s", res->status, quote);
        else
                snprintf(buf, size, "HTTP %ld", res->status);
}

int step_verify(Context *c) {
        const char *url = c->config.verify_url;
        if (isempty(url)) {
                log_info("verify.url is empty: not waiting for the vSensor's health endpoint");
                return STEP_RESULT_SKIPPED;
        }
        notify_extend_timeout(c->config.verify_deadline);
        int64_t start = now_monotonic_ms();
        int64_t deadline = start + (int64_t)c->config.verify_deadline * 1000;
        char last[400] = "no answer yet", previous[400] = "";
        int tries = 0;

        log_info("waiting up to %d s for %s to answer 200", c->config.verify_deadline, url);
        for (;;) {
                int64_t try_start = now_monotonic_ms();
                int64_t left = deadline - try_start;
                HttpRequest req = {
                        .url = url,
                        .max_body = VERIFY_MAX_BODY,
                        .connect_timeout_ms = VERIFY_CONNECT_TIMEOUT_MS,
                        .total_timeout_ms = left < VERIFY_TRY_TIMEOUT_MS ? (left > 100 ? (long)left : 100)
                                                                         : VERIFY_TRY_TIMEOUT_MS,
                        .no_proxy = true,
                        .tls_unverified_loopback = true,
                        .out_fd = -1,
                };
                HttpResponse res;
                int r = http_perform(&req, &res);
                tries++;
                if (r == -EINVAL) {
                        http_response_clear(&res);
                        return step_fail(c, EX_SOFTWARE, "cannot check %s: %s", url, res.message);
                }
                if (r >= 0 && res.status == 200) {
                        http_response_clear(&res);
                        log_info("%s answered 200 after %d %s (%lld ms)", url, tries, tries == 1 ? "try" : "tries",
                                 (long long)(now_monotonic_ms() - start));
                        return STEP_RESULT_DONE;
                }
                describe_answer(&res, r, last, sizeof last);
                http_response_clear(&res);
                /* A vSensor coming up answers the same thing many times: log changes only. */
                if (!streq(last, previous)) {
                        log_info("%s: %s (try %d); trying again every %d s", url, last, tries, VERIFY_INTERVAL_MS / 1000);
                        snprintf(previous, sizeof previous, "%s", last);
                }
                int64_t next = try_start + VERIFY_INTERVAL_MS;
                if (next >= deadline) break;
                int64_t now = now_monotonic_ms();
                if (next > now) sleep_ms(next - now);
        }
        return step_fail(c, EX_TEMPFAIL,
                         "the vSensor's health endpoint %s did not answer 200 within %d s (%d tries); last answer: %s; "
                         "the next run checks it again",
                         url, c->config.verify_deadline, tries, last);
}
