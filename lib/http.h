/* http: one HTTP(S) request on libcurl with the house rules: explicit connect and
 * total timeouts, a body size cap, no redirects, http/https only, TLS peer and host
 * verification always on (ca_file adds a trust anchor to the system bundle, nothing
 * turns verification off), CURLOPT_NOSIGNAL, and never the verbose option (it would
 * print headers, i.e. secrets). */
#pragma once

#include <stdbool.h>
#include <stddef.h>

typedef enum HttpError {
        HTTP_OK = 0,          /* a response arrived (any status) */
        HTTP_ERR_CONNECT,     /* refused, unreachable, DNS */
        HTTP_ERR_TIMEOUT,     /* connect or total timeout */
        HTTP_ERR_TLS,         /* handshake or verification failure */
        HTTP_ERR_TRUNCATED,   /* connection closed or reset mid-body */
        HTTP_ERR_TOO_LARGE,   /* body over max_body */
        HTTP_ERR_WRITE,       /* could not write the body to out_fd */
        HTTP_ERR_OTHER,
        _HTTP_ERR_MAX,
} HttpError;

typedef struct HttpRequest {
        const char *method;          /* "GET" (default when NULL) or "POST" */
        const char *url;
        const char *const *headers;  /* "Name: value" strings, NULL-terminated; may be NULL */
        const char *body;            /* POST body */
        size_t body_len;
        size_t max_body;             /* cap on the response body; required (> 0) */
        long connect_timeout_ms;     /* 0: 5000 */
        long total_timeout_ms;       /* 0: 30000 */
        bool no_proxy;               /* IMDS and the wireserver: never through a proxy */
        const char *ca_file;         /* extra trust anchor (PEM), NULL or "" for none */
        int out_fd;                  /* >= 0: stream the body to this fd (not kept in memory) */
        /* The vSensor's own health endpoint (verify step) has a self-signed certificate:
         * skip peer and host verification for this request only. Refused (-EINVAL)
         * unless the URL's host is a loopback address (http_url_is_loopback), so nothing
         * that leaves the machine is ever unverified; nothing secret may be sent with it. */
        bool tls_unverified_loopback;
} HttpRequest;

typedef struct HttpResponse {
        HttpError error;
        long status;                 /* HTTP status, 0 when no response */
        char *body;                  /* NUL-terminated (NULL when out_fd was used) */
        size_t body_len;             /* bytes received (also with out_fd) */
        long retry_after_s;          /* Retry-After seconds (delta or HTTP date), -1 if absent */
        char message[256];           /* why it failed, for logs: curl's text, never headers */
} HttpResponse;

/* Performs the request. Returns 0 when a response arrived (check ->status), or a
 * negative errno for transport failures with ret->error and ret->message set:
 * -ECONNREFUSED (connect), -ETIMEDOUT, -EPROTO (TLS), -EPIPE (truncated),
 * -EFBIG (too large), -EIO (write/other). ret is always initialised. */
int http_perform(const HttpRequest *req, HttpResponse *ret);
/* Frees the body; accepts a zeroed response. */
void http_response_clear(HttpResponse *r);

const char *http_error_to_string(HttpError e);

/* Whether url is http(s)://HOST[:PORT][/...] with HOST a loopback address literal:
 * 127.0.0.0/8 in dotted-quad form or [::1]. Names (localhost) and userinfo are not
 * accepted: what they reach depends on the resolver. */
bool http_url_is_loopback(const char *url);

/* Global libcurl init/cleanup; call once from main. */
int http_global_init(void);
void http_global_cleanup(void);
