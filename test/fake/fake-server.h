/* fake-server: an in-process fake of the Azure endpoints (IMDS, wireserver, download
 * CDN) on libmicrohttpd, for tests and the standalone fake-azure binary. Requests are
 * answered from scripted routes and recorded so tests can assert what was sent. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>

typedef struct FakeServer FakeServer;
typedef struct FakeServerOptions {
        const char *cert_file, *key_file;  /* PEM; NULL: no HTTPS listener */
        const char *record_file;           /* append every request as one JSON line; NULL: none */
        const char *bind_address;          /* IPv4 literal to listen on; NULL: 127.0.0.1 ("0.0.0.0": all) */
        unsigned port;                     /* HTTP port; 0: any free one (HTTPS always takes a free one) */
} FakeServerOptions;
typedef struct FakeResponse {
        int status;                 /* 0 => 200 */
        const char *body;           /* NULL => "" */
        size_t body_len;            /* 0 => strlen(body) */
        size_t body_repeat_size;    /* > 0: body is this many bytes of 'x' (big downloads) */
        const char *content_type;   /* NULL => none */
        const char *headers;        /* extra "Name: value\n" lines, may be NULL */
        int delay_ms;               /* wait before answering */
        long truncate_at;           /* > 0: announce full Content-Length, send this many body bytes, then close */
        bool reset;                 /* close the connection without any response */
        bool hang;                  /* accept and never answer (until fake_server_stop) */
        int times;                  /* requests this entry answers before the next; 0 => 1; the last entry repeats forever */
        const char *basic_auth;     /* "user:password": 401 (WWW-Authenticate: Basic) unless the request carries it; NULL: open */
        /* A rate-limited CDN: > 0 admits this many requests per second (one-second windows
         * from the first request) and answers the rest with rate_limited_status (0 => 429)
         * and Retry-After: retry_after_s when > 0; -1: the seconds until this caller's turn
         * if the callers sent away before it come back C per second (a server that spreads
         * its callers). */
        int rate_limit_per_s;
        int rate_limited_status;
        int retry_after_s;
        /* != 0: the answer's Date header is this many seconds off the real clock (a
         * CDN seen from a machine whose clock is wrong; preflight's clock check). */
        int date_offset_s;
        /* Key Vault (issue 12). for_ms > 0: the entry answers every request for this many ms
         * from the first one it answers, then the next entry takes over (a role assignment
         * that takes time to reach the vault); times is ignored then. */
        int for_ms;
        /* "TOKEN": 401 (WWW-Authenticate: Bearer, a Key Vault error body) unless the request
         * carries "Authorization: Bearer TOKEN"; NULL: open. */
        const char *bearer;
} FakeResponse;
FakeServer *fake_server_start(const FakeServerOptions *o);   /* binds bind_address (127.0.0.1) port 0 (HTTP, and HTTPS when cert) */
unsigned fake_server_port(FakeServer *s, bool https);
char *fake_server_url(FakeServer *s, bool https);            /* "http://ADDRESS:PORT" (127.0.0.1 for 0.0.0.0), new string */
/* Scripts method+path (path without query string; exact match) -> responses (copied). Replaces an earlier route. */
int fake_server_route(FakeServer *s, const char *method, const char *path, const FakeResponse *r, size_t n);
/* Loads routes from a JSON scenario file (and, with "scheduled_events": [{"document_file": "relative/to/scenario/dir" or
 * "document": {...} or "status": 503, "duration_ms": 0}], the Scheduled Events script): {"routes":[{"method":"GET","path":"/x","responses":[{"status":503,"times":2},{"status":200,"body":"...","body_file":"relative/to/scenario/dir","headers":{"Retry-After":"1"},"delay_ms":0,"truncate_at":0,"reset":false,"hang":false,"body_repeat_size":0,"content_type":"...","basic_auth":"user:password","date_offset_s":600,"for_ms":0,"bearer":"TOKEN"}]}]} */
int fake_server_load_scenario(FakeServer *s, const char *path);
size_t fake_server_count(FakeServer *s, const char *method, const char *path);   /* requests seen */
/* time_ms is now_monotonic_ms() when the request had fully arrived. */
/* New reference: JSON array of {"method","path","query","headers":{lowercased name: value},"body","time_ms","tls":bool} */
json_t *fake_server_requests(FakeServer *s);
void fake_server_stop(FakeServer *s);   /* accepts NULL; wakes hanging handlers and joins */

/* ---- Scheduled Events (IMDS /metadata/scheduledevents, shapes of
 * Azure-Samples/scheduled-events-mock-server; fixtures in test/data/scheduledevents/) ---- */
typedef struct FakeEventsStep {
        const char *document;   /* a Scheduled Events document (JSON); NULL: answer `status` instead */
        int status;             /* with document NULL: this HTTP status; 0: close the connection unanswered */
        int duration_ms;        /* the step lasts this long from its first request; 0 (and the last step): forever */
} FakeEventsStep;
/* Scripts GET /metadata/scheduledevents: the steps in turn, each from its first request
 * on (replaces an earlier script). In a document, a NotBefore "+N" is served as the time
 * N seconds after the step's first request, in Azure's RFC 1123 form, the same on every
 * poll. An approved event is served from then on with EventStatus "Started" and
 * NotBefore "" and DocumentIncarnation goes up, as Azure and the mock server do.
 * POST answers 200 to {"StartRequests":[{"EventId":"ID"},...]} when every ID is an
 * event of the step being served, else 400 with nothing approved. Returns 0 or -errno. */
int fake_server_scheduled_events(FakeServer *s, const FakeEventsStep *steps, size_t n);
/* New reference: every POST to the route, in order: [{"body","status","time_ms",
 * "realtime_ms","event_ids":[...]}] (event_ids: those it approved). */
json_t *fake_server_approvals(FakeServer *s);
