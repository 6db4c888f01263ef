/* msi: managed identity tokens from IMDS, with the IMDS retry rules plus 400
 * "Identity not found" (see msi.h). */
#include "msi.h"

#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>

#include "util.h"

#define MSI_MAX_BODY (64u * 1024)
#define MSI_CONNECT_TIMEOUT_MS 2000
#define MSI_TRY_TIMEOUT_MS 10000
#define MSI_TOKEN_MAX (16u * 1024)


bool msi_identity_not_found(const char *body, size_t len) {
        /* {"error":"invalid_request","error_description":"Identity not found"} */
        return body && memmem(body, len, "Identity not found", strlen("Identity not found"));
}

/* A bearer token travels in an HTTP header: only the characters of a JWT (and of
 * base64) may get that far, never a CR or LF. */
static bool valid_token(const char *s, size_t len) {
        if (len == 0 || len > MSI_TOKEN_MAX) return false;
        for (size_t i = 0; i < len; i++) {
                char ch = s[i];
                bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
                          ch == '.' || ch == '-' || ch == '_' || ch == '+' || ch == '/' || ch == '=' || ch == '~';
                if (!ok) return false;
        }
        return true;
}

int msi_parse_token(const char *body, size_t len, Secret **ret_token, int64_t *ret_expires_on, char *err,
                    size_t errsize) {
        json_error_t jerr;
        errbuf_printf(err, errsize, "%s", "");
        _cleanup_(json_decrefp) json_t *root = json_loadb(body ? body : "", len, JSON_REJECT_DUPLICATES, &jerr);
        if (!root || !json_is_object(root)) {
                errbuf_printf(err, errsize, "the token answer is not a JSON object");
                return -EBADMSG;
        }
        json_t *tok = json_object_get(root, "access_token");
        if (!json_is_string(tok)) {
                errbuf_printf(err, errsize, "the token answer has no access_token");
                return -EBADMSG;
        }
        const char *s = json_string_value(tok);
        size_t n = json_string_length(tok);
        /* Registered at once, even when refused below: it must not reach a log. */
        Secret *t = secret_new(s, n);
        if (!t) return -ENOMEM;
        if (strlen(s) != n || !valid_token(s, n)) {
                secret_free(t);
                (void)secret_register_value(s, n);
                errbuf_printf(err, errsize, "the access_token is not a bearer token (%zu characters)", n);
                return -EBADMSG;
        }
        int64_t exp = 0;
        json_t *e = json_object_get(root, "expires_on");
        if (json_is_integer(e))
                exp = (int64_t)json_integer_value(e);
        else if (json_is_string(e)) {
                char *end = NULL;
                long long v = strtoll(json_string_value(e), &end, 10);
                if (end && *end == 0 && v > 0) exp = (int64_t)v;
        }
        *ret_token = t;
        if (ret_expires_on) *ret_expires_on = exp;
        return 0;
}

static char *token_url(const MsiClient *c) {
        const char *base = c->imds_url;
        size_t l = strlen(base);
        while (l > 0 && base[l - 1] == '/') l--;
        char *resource = curl_easy_escape(NULL, c->resource ? c->resource : MSI_RESOURCE_KEY_VAULT, 0);
        if (!resource) return NULL;
        char *cid = isempty(c->client_id) ? NULL : curl_easy_escape(NULL, c->client_id, 0);
        if (!isempty(c->client_id) && !cid) {
                curl_free(resource);
                return NULL;
        }
        char *u = NULL;
        int r = asprintf_safe(&u, "%.*s%s?api-version=%s&resource=%s%s%s", (int)l, base, MSI_TOKEN_PATH,
                              MSI_API_VERSION, resource, cid ? "&client_id=" : "", cid ? cid : "");
        curl_free(resource);
        curl_free(cid);
        return r < 0 ? NULL : u;
}

/* Which answers retrying can fix (msi.h). */
static bool retryable(const HttpResponse *resp) {
        if (resp->status == 400) return msi_identity_not_found(resp->body, resp->body_len);
        return retry_status_imds(resp->status);
}

/* "HTTP 400 (Identity not found)": IMDS's error_description, which names no secret. */
static void describe(const HttpResponse *resp, char *buf, size_t size) {
        char desc[160] = "";
        if (resp->body && resp->body_len) {
                json_error_t jerr;
                _cleanup_(json_decrefp) json_t *root = json_loadb(resp->body, resp->body_len, 0, &jerr);
                const char *d = json_string_value(json_object_get(root, "error_description"));
                if (!d) d = json_string_value(json_object_get(root, "error"));
                if (d) {
                        size_t j = 0;
                        for (size_t i = 0; d[i] && j < sizeof desc - 1; i++)
                                desc[j++] = (unsigned char)d[i] < 0x20 ? ' ' : d[i];
                        desc[j] = 0;
                }
        }
        if (desc[0])
                snprintf(buf, size, "HTTP %ld (%s)", resp->status, desc);
        else
                snprintf(buf, size, "HTTP %ld", resp->status);
}

int msi_fetch_token(const MsiClient *c, Secret **ret_token, int64_t *ret_expires_on, char *last_error,
                    size_t errsize) {
        static const char *const headers[] = {"Metadata: true", NULL};
        char what[256] = "";
        int r;

        errbuf_printf(last_error, errsize, "%s", "");
        if (!c || isempty(c->imds_url) || !ret_token) return -EINVAL;
        _cleanup_free_ char *url = token_url(c);
        if (!url) return -ENOMEM;

        const RetryPolicy policy = {
                .deadline_ms = c->deadline_ms,
                .base_ms = 100,
                .max_ms = 1000,
        };
        Retry retry;
        retry_init(&retry, &policy);
        for (;;) {
                int64_t remaining = retry_remaining_ms(&retry);
                if (remaining <= 0 && retry.attempt > 0) break;
                HttpRequest req = {
                        .url = url,
                        .headers = headers,
                        .max_body = MSI_MAX_BODY,
                        .connect_timeout_ms = MSI_CONNECT_TIMEOUT_MS,
                        .total_timeout_ms = retry_try_timeout_ms(remaining, MSI_TRY_TIMEOUT_MS),
                        .no_proxy = true,
                        .out_fd = -1,
                };
                HttpResponse resp = {0};
                r = http_perform(&req, &resp);
                long retry_after = resp.retry_after_s;
                if (r >= 0 && resp.status >= 200 && resp.status <= 299) {
                        r = msi_parse_token(resp.body, resp.body_len, ret_token, ret_expires_on, last_error, errsize);
                        /* The body holds the token. */
                        if (resp.body) wipe(resp.body, resp.body_len);
                        http_response_clear(&resp);
                        return r;
                }
                if (r >= 0) {
                        describe(&resp, what, sizeof what);
                        bool again = retryable(&resp);
                        http_response_clear(&resp);
                        if (!again) {
                                errbuf_printf(last_error, errsize, "%s", what);
                                return -EACCES;
                        }
                } else {
                        /* A last try cut short by the deadline says less than the answer
                         * before it ("HTTP 400 (Identity not found)"): keep that one. */
                        if (resp.error == HTTP_ERR_TIMEOUT && req.total_timeout_ms < MSI_TRY_TIMEOUT_MS &&
                            retry.attempt > 0 && what[0]) {
                                http_response_clear(&resp);
                                break;
                        }
                        snprintf(what, sizeof what, "%s", resp.message[0] ? resp.message : http_error_to_string(resp.error));
                        http_response_clear(&resp);
                        if (resp.error == HTTP_ERR_TOO_LARGE || resp.error == HTTP_ERR_OTHER ||
                            resp.error == HTTP_ERR_WRITE) {
                                errbuf_printf(last_error, errsize, "%s", what);
                                return r;
                        }
                }
                int64_t delay = retry_next_delay(&retry, retry_after);
                if (delay < 0) break;
                if (c->notify) c->notify(c->userdata, retry.attempt, what, delay);
                sleep_ms(delay);
        }
        errbuf_printf(last_error, errsize, "%s", what[0] ? what : "no answer");
        return -ETIMEDOUT;
}
