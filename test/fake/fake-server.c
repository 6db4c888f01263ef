#include "fake-server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base64.h"
#include "util.h"

#define REQUEST_BODY_MAX (16u * 1024 * 1024)
#define BODY_FILE_MAX (256u * 1024 * 1024)
#define SCENARIO_MAX (16u * 1024 * 1024)
#define CERT_MAX (1024 * 1024)

typedef struct Entry {
        int status;
        char *body;
        size_t body_len;
        size_t repeat;
        char *content_type;
        char *headers;
        char *basic_auth;   /* "Basic BASE64" expected in Authorization; NULL: open */
        int delay_ms;
        long truncate_at;
        bool reset, hang;
        int times;
        int rate, rate_status, retry_after;
        int date_offset_s;
        /* Rate limiting state, under the server lock: admitted per window, next turn. */
        int64_t window0_ms, next_turn_us;
        unsigned *window_used;
        size_t n_windows;
        /* Key Vault (issue 12): a timed entry, and the bearer token it requires. */
        int for_ms;
        int64_t first_ms;   /* when it first answered; 0: not yet */
        char *bearer;       /* "Bearer TOKEN"; NULL: open */
} Entry;

/* Routes are never freed before fake_server_stop: a replaced route stays in the
 * list (shadowed by the newer one) because a handler thread may still use it. */
typedef struct Route {
        struct Route *next;
        char *method, *path;
        Entry *entries;
        size_t n;
        size_t served;
        size_t cursor, cursor_used;   /* route_next_timed */
} Route;

typedef struct Listener {
        FakeServer *server;
        struct MHD_Daemon *daemon;
        unsigned port;
        bool tls;
} Listener;

/* The Scheduled Events script (fake_server_scheduled_events), under the server lock. */
typedef struct EventsStep {
        json_t *document;      /* NULL: answer status */
        int status;
        int duration_ms;
} EventsStep;

typedef struct Events {
        EventsStep *steps;
        size_t n, current;
        int64_t step_start_ms;       /* monotonic, 0 until the first request */
        int64_t step_start_real_ms;  /* the same moment on the wall clock, for NotBefore "+N" */
        json_t *approved;            /* {EventId: true} */
        json_t *approvals;           /* every POST */
} Events;

struct FakeServer {
        pthread_mutex_t lock;
        Events *events;
        pthread_cond_t cond;   /* signalled when stopping, wakes delays and hangs */
        bool stopping;
        Listener http, https;
        Route *routes;
        json_t *requests;
        FILE *record;
        char *cert, *key;
        struct in_addr address;   /* where the listeners bind */
        char url_host[INET_ADDRSTRLEN];
};

/* One HTTP request on a connection, created by the URI log callback. */
typedef struct Req {
        char *uri;             /* raw, with the query string */
        bool headers_seen;
        char *body;
        size_t len, cap;
} Req;

static json_t *json_bytes(const char *p, size_t n) {
        json_t *j = json_stringn(p ? p : "", p ? n : 0);
        if (j) return j;
        /* Not UTF-8: keep the ASCII and mark the rest, tests compare ASCII anyway. */
        _cleanup_free_ char *copy = malloc(n + 1);
        if (!copy) return NULL;
        for (size_t i = 0; i < n; i++) copy[i] = (unsigned char)p[i] < 0x80 ? p[i] : '?';
        return json_stringn(copy, n);
}

static void entry_free_contents(Entry *e) {
        free(e->body);
        free(e->content_type);
        free(e->headers);
        free(e->basic_auth);
        free(e->bearer);
}

static void route_free(Route *r) {
        if (!r) return;
        for (size_t i = 0; i < r->n; i++) entry_free_contents(&r->entries[i]);
        free(r->entries);
        free(r->method);
        free(r->path);
        free(r);
}

/* ---- request handling ---- */

static void *uri_log(void *cls, const char *uri, struct MHD_Connection *con) {
        Req *q = calloc(1, sizeof *q);
        if (q) q->uri = strdup(uri ? uri : "");
        return q;
}

static void request_completed(void *cls, struct MHD_Connection *con, void **con_cls,
                              enum MHD_RequestTerminationCode toe) {
        Req *q = *con_cls;
        if (!q) return;
        free(q->uri);
        free(q->body);
        free(q);
        *con_cls = NULL;
}

static enum MHD_Result add_header_cb(void *cls, enum MHD_ValueKind kind, const char *key, const char *value) {
        json_t *headers = cls;
        if (!key) return MHD_YES;
        _cleanup_free_ char *name = strdup(key);
        if (!name) return MHD_YES;
        for (char *c = name; *c; c++)
                if (*c >= 'A' && *c <= 'Z') *c = (char)(*c - 'A' + 'a');
        const char *v = value ? value : "";
        json_t *old = json_object_get(headers, name);
        if (old) {
                _cleanup_free_ char *joined = strjoin(json_string_value(old), ", ", v);
                if (joined) json_object_set_new(headers, name, json_bytes(joined, strlen(joined)));
        } else
                json_object_set_new(headers, name, json_bytes(v, strlen(v)));
        return MHD_YES;
}

static void record_request(Listener *l, struct MHD_Connection *con, const char *url, const char *method, Req *q) {
        FakeServer *s = l->server;
        const char *query = "";
        if (q->uri) {
                const char *qm = strchr(q->uri, '?');
                if (qm) query = qm + 1;
        }
        json_t *headers = json_object();
        if (headers) MHD_get_connection_values(con, MHD_HEADER_KIND, add_header_cb, headers);
        json_t *o = json_pack("{s:s, s:s, s:s, s:o*, s:o*, s:I, s:b}",
                              "method", method, "path", url, "query", query,
                              "headers", headers, "body", json_bytes(q->body, q->len),
                              "time_ms", (json_int_t)now_monotonic_ms(), "tls", l->tls);
        if (!o) return;

        pthread_mutex_lock(&s->lock);
        if (s->record) {
                char *line = json_dumps(o, JSON_COMPACT);
                if (line) {
                        fputs(line, s->record);
                        fputc('\n', s->record);
                        fflush(s->record);
                        free(line);
                }
        }
        json_array_append_new(s->requests, o);
        pthread_mutex_unlock(&s->lock);
}

/* Picks the entry for the next request on method+path; NULL: unrouted. The entry
 * stays valid until fake_server_stop. Called with the lock held. */
/* A route with a timed entry (for_ms) walks its entries by time for those and by
 * count for the others, with a cursor instead of the total count. */
static Entry *route_next_timed(Route *r) {
        int64_t now = now_monotonic_ms();
        for (;;) {
                size_t i = r->cursor;
                Entry *e = &r->entries[i];
                if (i == r->n - 1) return e;
                if (e->for_ms > 0) {
                        if (e->first_ms == 0) e->first_ms = now;
                        if (now - e->first_ms < e->for_ms) return e;
                } else {
                        size_t times = e->times > 0 ? (size_t)e->times : 1;
                        if (r->cursor_used < times) {
                                r->cursor_used++;
                                return e;
                        }
                }
                r->cursor++;
                r->cursor_used = 0;
        }
}

static bool route_has_timed(const Route *r) {
        for (size_t i = 0; i < r->n; i++)
                if (r->entries[i].for_ms > 0) return true;
        return false;
}

static Entry *route_next(FakeServer *s, const char *method, const char *path) {
        for (Route *r = s->routes; r; r = r->next) {
                if (!streq(r->method, method) || !streq(r->path, path)) continue;
                if (route_has_timed(r)) return route_next_timed(r);
                size_t k = r->served++;
                for (size_t i = 0; i < r->n; i++) {
                        size_t times = r->entries[i].times > 0 ? (size_t)r->entries[i].times : 1;
                        if (k < times || i == r->n - 1) return &r->entries[i];
                        k -= times;
                }
        }
        return NULL;
}

#define RATE_WINDOWS_MAX 3600u

/* Whether a rate-limited entry admits a request now; else *ret_retry_after is the
 * Retry-After to send (-1: none). Called with the lock held. */
static bool rate_admit(Entry *e, int *ret_retry_after) {
        int64_t now = now_monotonic_ms();
        *ret_retry_after = -1;
        if (!e->window_used) {
                e->window_used = calloc(RATE_WINDOWS_MAX, sizeof *e->window_used);
                if (!e->window_used) return true;
                e->window0_ms = now;
        }
        size_t w = (size_t)((now - e->window0_ms) / 1000);
        if (w >= RATE_WINDOWS_MAX) w = RATE_WINDOWS_MAX - 1;
        if (e->window_used[w] < (unsigned)e->rate) {
                e->window_used[w]++;
                return true;
        }
        if (e->retry_after > 0) {
                *ret_retry_after = e->retry_after;
        } else if (e->retry_after < 0) {
                /* The callers sent away earlier come back C per second after this
                 * window: tell this one when its turn comes. */
                int64_t window_end_us = (e->window0_ms + (int64_t)(w + 1) * 1000) * 1000;
                int64_t now_us = now * 1000;
                if (e->next_turn_us < window_end_us) e->next_turn_us = window_end_us;
                *ret_retry_after = (int)((e->next_turn_us - now_us + 999999) / 1000000);
                e->next_turn_us += 1000000 / e->rate;
        }
        return false;
}

/* Waits ms (or forever when ms < 0); returns false when the server is stopping. */
static bool wait_unless_stopping(FakeServer *s, int ms) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        if (ms > 0) {
                until.tv_sec += ms / 1000;
                until.tv_nsec += (long)(ms % 1000) * 1000000;
                if (until.tv_nsec >= 1000000000) {
                        until.tv_sec++;
                        until.tv_nsec -= 1000000000;
                }
        }
        pthread_mutex_lock(&s->lock);
        while (!s->stopping) {
                if (ms < 0)
                        pthread_cond_wait(&s->cond, &s->lock);
                else if (pthread_cond_timedwait(&s->cond, &s->lock, &until) == ETIMEDOUT)
                        break;
        }
        bool ok = !s->stopping;
        pthread_mutex_unlock(&s->lock);
        return ok;
}

typedef struct Reader {
        const char *body;      /* NULL: repeat 'x' */
        size_t total;
        long truncate_at;      /* > 0: stop with an error after this many bytes */
} Reader;

static ssize_t reader_cb(void *cls, uint64_t pos, char *buf, size_t max) {
        Reader *rd = cls;
        if (rd->truncate_at > 0 && pos >= (uint64_t)rd->truncate_at) return MHD_CONTENT_READER_END_WITH_ERROR;
        if (pos >= rd->total) return MHD_CONTENT_READER_END_OF_STREAM;
        size_t n = rd->total - (size_t)pos;
        if (rd->truncate_at > 0 && (uint64_t)rd->truncate_at - pos < n) n = (size_t)((uint64_t)rd->truncate_at - pos);
        if (n > max) n = max;
        if (rd->body)
                memcpy(buf, rd->body + pos, n);
        else
                memset(buf, 'x', n);
        return (ssize_t)n;
}

static void add_extra_headers(struct MHD_Response *resp, const char *lines) {
        for (const char *p = lines; p && *p;) {
                const char *eol = strchr(p, '\n');
                size_t n = eol ? (size_t)(eol - p) : strlen(p);
                _cleanup_free_ char *line = strndup(p, n);
                p += n + (eol ? 1 : 0);
                if (!line) continue;
                size_t l = strlen(line);
                while (l > 0 && (line[l - 1] == '\r' || line[l - 1] == ' ')) line[--l] = 0;
                char *colon = strchr(line, ':');
                if (!colon) continue;
                *colon = 0;
                const char *v = colon + 1;
                while (*v == ' ' || *v == '\t') v++;
                MHD_add_response_header(resp, line, v);
        }
}

static enum MHD_Result answer(struct MHD_Connection *con, const Entry *e) {
        struct MHD_Response *resp;
        size_t total = e->repeat > 0 ? e->repeat : e->body_len;

        if (e->repeat > 0 || e->truncate_at > 0) {
                Reader *rd = malloc(sizeof *rd);
                if (!rd) return MHD_NO;
                *rd = (Reader){.body = e->repeat > 0 ? NULL : e->body, .total = total, .truncate_at = e->truncate_at};
                resp = MHD_create_response_from_callback(total, 64 * 1024, reader_cb, rd, free);
                if (!resp) {
                        free(rd);
                        return MHD_NO;
                }
        } else {
                resp = MHD_create_response_from_buffer(e->body_len, e->body ? e->body : (char *)"",
                                                       MHD_RESPMEM_MUST_COPY);
                if (!resp) return MHD_NO;
        }
        if (e->content_type) MHD_add_response_header(resp, "Content-Type", e->content_type);
        add_extra_headers(resp, e->headers);
        if (e->date_offset_s != 0) {
                /* libmicrohttpd sends its own Date only when the response has none. */
                time_t t = time(NULL) + e->date_offset_s;
                struct tm tm;
                char date[64];
                if (gmtime_r(&t, &tm) && strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm) > 0)
                        MHD_add_response_header(resp, "Date", date);
        }
        enum MHD_Result ok = MHD_queue_response(con, e->status > 0 ? (unsigned)e->status : 200u, resp);
        MHD_destroy_response(resp);
        return ok;
}

/* ---- Scheduled Events ---- */

static void events_free(Events *ev) {
        if (!ev) return;
        for (size_t i = 0; i < ev->n; i++) json_decref(ev->steps[i].document);
        free(ev->steps);
        json_decref(ev->approved);
        json_decref(ev->approvals);
        free(ev);
}

/* The step being served now; called with the lock held. */
static EventsStep *events_step(Events *ev) {
        int64_t now = now_monotonic_ms();
        if (ev->step_start_ms == 0) {
                ev->step_start_ms = now;
                ev->step_start_real_ms = now_realtime_ms();
        }
        while (ev->current + 1 < ev->n && ev->steps[ev->current].duration_ms > 0 &&
               now - ev->step_start_ms >= ev->steps[ev->current].duration_ms) {
                int d = ev->steps[ev->current].duration_ms;
                ev->step_start_ms += d;
                ev->step_start_real_ms += d;
                ev->current++;
        }
        return &ev->steps[ev->current];
}

static void rfc1123(int64_t real_ms, char *buf, size_t size) {
        time_t t = (time_t)(real_ms / 1000);
        struct tm tm;
        gmtime_r(&t, &tm);
        static const char *const days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
        static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                             "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
        snprintf(buf, size, "%s, %02d %s %04d %02d:%02d:%02d GMT", days[tm.tm_wday], tm.tm_mday, months[tm.tm_mon],
                 tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* The document as served now: NotBefore "+N" resolved, approved events Started. Called
 * with the lock held; returns a new string. */
static char *events_render(Events *ev, const EventsStep *st) {
        json_t *doc = json_deep_copy(st->document);
        if (!doc) return NULL;
        json_t *events = json_object_get(doc, "Events");
        size_t i, approved = 0;
        json_t *e;
        json_array_foreach(events, i, e) {
                const char *nb = json_string_value(json_object_get(e, "NotBefore"));
                if (nb && nb[0] == '+') {
                        char when[64];
                        rfc1123(ev->step_start_real_ms + strtoll(nb + 1, NULL, 10) * 1000, when, sizeof when);
                        json_object_set_new(e, "NotBefore", json_string(when));
                }
                const char *id = json_string_value(json_object_get(e, "EventId"));
                if (id && json_object_get(ev->approved, id)) {
                        json_object_set_new(e, "EventStatus", json_string("Started"));
                        json_object_set_new(e, "NotBefore", json_string(""));
                        approved++;
                }
        }
        json_t *inc = json_object_get(doc, "DocumentIncarnation");
        if (json_is_integer(inc)) json_object_set_new(doc, "DocumentIncarnation",
                                                      json_integer(json_integer_value(inc) + (json_int_t)approved));
        char *text = json_dumps(doc, JSON_COMPACT);
        json_decref(doc);
        return text;
}

/* Whether body is {"StartRequests":[{"EventId":ID}...]} naming only events of st; fills ids. */
static bool events_valid_approval(const EventsStep *st, const char *body, size_t len, json_t *ids) {
        json_t *root = json_loadb(body ? body : "", len, 0, NULL);
        json_t *list = json_object_get(root, "StartRequests");
        bool ok = st->document && json_is_array(list) && json_array_size(list) > 0;
        size_t i, j;
        json_t *r, *e;
        json_array_foreach(list, i, r) {
                const char *id = json_string_value(json_object_get(r, "EventId"));
                bool found = false;
                json_array_foreach(json_object_get(st->document, "Events"), j, e)
                        if (id && streq_ptr(json_string_value(json_object_get(e, "EventId")), id)) found = true;
                if (!found) ok = false;
                else json_array_append_new(ids, json_string(id));
        }
        json_decref(root);
        return ok;
}

static enum MHD_Result scheduled_events_answer(FakeServer *s, struct MHD_Connection *con, const char *method, Req *q) {
        Entry out = {.status = 200, .content_type = (char *)"application/json"};
        _cleanup_free_ char *text = NULL;
        bool reset = false;
        pthread_mutex_lock(&s->lock);
        Events *ev = s->events;
        EventsStep *st = events_step(ev);
        if (streq(method, "POST")) {
                json_t *ids = json_array();
                bool ok = events_valid_approval(st, q->body, q->len, ids);
                size_t i;
                json_t *id;
                if (ok) json_array_foreach(ids, i, id) json_object_set_new(ev->approved, json_string_value(id), json_true());
                else json_array_clear(ids);
                out.status = ok ? 200 : 400;
                json_array_append_new(ev->approvals,
                                      json_pack("{s:o, s:i, s:I, s:I, s:o}", "body", json_bytes(q->body, q->len),
                                                "status", out.status, "time_ms", (json_int_t)now_monotonic_ms(),
                                                "realtime_ms", (json_int_t)now_realtime_ms(), "event_ids", ids));
                text = strdup("");
        } else if (!st->document) {
                reset = st->status == 0;
                out.status = st->status;
                text = strdup("IMDS is not answering (scripted)\n");
                out.content_type = (char *)"text/plain";
        } else
                text = events_render(ev, st);
        pthread_mutex_unlock(&s->lock);
        if (reset || !text) return MHD_NO;
        out.body = text;
        out.body_len = strlen(text);
        return answer(con, &out);
}

int fake_server_scheduled_events(FakeServer *s, const FakeEventsStep *steps, size_t n) {
        if (!s || !steps || n == 0) return -EINVAL;
        Events *ev = calloc(1, sizeof *ev);
        if (!ev) return -ENOMEM;
        ev->steps = calloc(n, sizeof *ev->steps);
        ev->approved = json_object();
        ev->approvals = json_array();
        ev->n = n;
        if (!ev->steps || !ev->approved || !ev->approvals) {
                events_free(ev);
                return -ENOMEM;
        }
        for (size_t i = 0; i < n; i++) {
                ev->steps[i].status = steps[i].status;
                ev->steps[i].duration_ms = steps[i].duration_ms;
                if (!steps[i].document) continue;
                ev->steps[i].document = json_loads(steps[i].document, JSON_REJECT_DUPLICATES, NULL);
                if (!json_is_object(ev->steps[i].document)) {
                        events_free(ev);
                        return -EINVAL;
                }
        }
        /* Handlers use the script only under the lock, so a replaced one can go at once. */
        pthread_mutex_lock(&s->lock);
        Events *old = s->events;
        s->events = ev;
        pthread_mutex_unlock(&s->lock);
        events_free(old);
        return 0;
}

json_t *fake_server_approvals(FakeServer *s) {
        pthread_mutex_lock(&s->lock);
        json_t *copy = s->events ? json_deep_copy(s->events->approvals) : json_array();
        pthread_mutex_unlock(&s->lock);
        return copy;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *con, const char *url, const char *method,
                               const char *version, const char *upload, size_t *upload_size, void **con_cls) {
        Listener *l = cls;
        FakeServer *s = l->server;
        Req *q = *con_cls;

        if (!q) return MHD_NO;   /* the URI callback ran out of memory */
        if (!q->headers_seen) {
                q->headers_seen = true;
                return MHD_YES;
        }
        if (*upload_size > 0) {
                size_t n = *upload_size;
                if (n > REQUEST_BODY_MAX - q->len) return MHD_NO;
                if (q->len + n + 1 > q->cap) {
                        size_t ncap = q->cap ? q->cap : 4096;
                        while (ncap < q->len + n + 1) ncap *= 2;
                        char *nb = realloc(q->body, ncap);
                        if (!nb) return MHD_NO;
                        q->body = nb;
                        q->cap = ncap;
                }
                memcpy(q->body + q->len, upload, n);
                q->len += n;
                q->body[q->len] = 0;
                *upload_size = 0;
                return MHD_YES;
        }

        record_request(l, con, url, method, q);

        if (streq(url, "/metadata/scheduledevents")) {
                pthread_mutex_lock(&s->lock);
                bool scripted = s->events != NULL;
                pthread_mutex_unlock(&s->lock);
                if (scripted) return scheduled_events_answer(s, con, method, q);
        }

        int retry_after = -1;
        bool admitted = true;
        pthread_mutex_lock(&s->lock);
        Entry *e = route_next(s, method, url);
        if (e && e->rate > 0) admitted = rate_admit(e, &retry_after);
        pthread_mutex_unlock(&s->lock);
        if (!admitted) {
                char headers[48] = "";
                if (retry_after >= 0) snprintf(headers, sizeof headers, "Retry-After: %d\n", retry_after);
                const Entry limited = {.status = e->rate_status > 0 ? e->rate_status : 429,
                                       .body = (char *)"rate limited\n", .body_len = 13,
                                       .content_type = (char *)"text/plain", .headers = headers};
                return answer(con, &limited);
        }

        if (e && e->basic_auth) {
                const char *auth = MHD_lookup_connection_value(con, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
                if (!auth || !streq(auth, e->basic_auth)) {
                        static const Entry unauthorized = {.status = 401, .body = (char *)"unauthorized\n", .body_len = 13,
                                                           .content_type = (char *)"text/plain",
                                                           .headers = (char *)"WWW-Authenticate: Basic realm=\"fake\"\n"};
                        return answer(con, &unauthorized);
                }
        }
        if (e && e->bearer) {
                /* Key Vault's answer to a missing, expired or wrong token. */
                const char *auth = MHD_lookup_connection_value(con, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
                if (!auth || !streq(auth, e->bearer)) {
                        static const char body[] = "{\"error\":{\"code\":\"Unauthorized\",\"message\":"
                                                   "\"AKV10032: Invalid issuer or token expired.\"}}";
                        static const Entry unauthorized = {
                                .status = 401, .body = (char *)body, .body_len = sizeof body - 1,
                                .content_type = (char *)"application/json",
                                .headers = (char *)"WWW-Authenticate: Bearer authorization=\"https://login.windows.net/"
                                                   "00000000-0000-0000-0000-000000000000\", resource=\"https://vault.azure.net\"\n"};
                        return answer(con, &unauthorized);
                }
        }
        if (!e) {
                static const Entry not_found = {.status = 404, .body = (char *)"not found\n", .body_len = 10,
                                                .content_type = (char *)"text/plain"};
                return answer(con, &not_found);
        }
        if (e->hang) {
                wait_unless_stopping(s, -1);
                return MHD_NO;
        }
        if (e->delay_ms > 0 && !wait_unless_stopping(s, e->delay_ms)) return MHD_NO;
        if (e->reset) return MHD_NO;
        return answer(con, e);
}

/* ---- lifecycle ---- */

static int listener_start(FakeServer *s, Listener *l, bool tls, unsigned port) {
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr = s->address};
        unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION;

        l->server = s;
        l->tls = tls;
        if (tls)
                l->daemon = MHD_start_daemon(flags | MHD_USE_TLS, 0, NULL, NULL, handler, l,
                                             MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
                                             MHD_OPTION_URI_LOG_CALLBACK, uri_log, NULL,
                                             MHD_OPTION_NOTIFY_COMPLETED, request_completed, NULL,
                                             MHD_OPTION_HTTPS_MEM_CERT, s->cert,
                                             MHD_OPTION_HTTPS_MEM_KEY, s->key,
                                             MHD_OPTION_END);
        else
                l->daemon = MHD_start_daemon(flags, 0, NULL, NULL, handler, l,
                                             MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
                                             MHD_OPTION_URI_LOG_CALLBACK, uri_log, NULL,
                                             MHD_OPTION_NOTIFY_COMPLETED, request_completed, NULL,
                                             MHD_OPTION_END);
        if (!l->daemon) return -EADDRNOTAVAIL;
        const union MHD_DaemonInfo *info = MHD_get_daemon_info(l->daemon, MHD_DAEMON_INFO_BIND_PORT);
        if (!info || info->port == 0) return -EADDRNOTAVAIL;
        l->port = info->port;
        return 0;
}

FakeServer *fake_server_start(const FakeServerOptions *o) {
        FakeServerOptions none = {0};
        if (!o) o = &none;
        if (!o->cert_file != !o->key_file) return NULL;

        FakeServer *s = calloc(1, sizeof *s);
        if (!s) return NULL;
        pthread_mutex_init(&s->lock, NULL);
        pthread_cond_init(&s->cond, NULL);
        s->requests = json_array();
        if (!s->requests) goto fail;

        if (o->record_file) {
                s->record = fopen(o->record_file, "ae");
                if (!s->record) goto fail;
        }
        /* Tests of the default Azure addresses bind those (in a private network namespace). */
        if (inet_pton(AF_INET, o->bind_address ? o->bind_address : "127.0.0.1", &s->address) != 1 || o->port > 65535)
                goto fail;
        if (s->address.s_addr == htonl(INADDR_ANY))
                snprintf(s->url_host, sizeof s->url_host, "127.0.0.1");
        else
                inet_ntop(AF_INET, &s->address, s->url_host, sizeof s->url_host);
        if (listener_start(s, &s->http, false, o->port) < 0) goto fail;
        if (o->cert_file) {
                if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) goto fail;
                if (read_file_capped(o->cert_file, CERT_MAX, &s->cert, NULL) < 0) goto fail;
                if (read_file_capped(o->key_file, CERT_MAX, &s->key, NULL) < 0) goto fail;
                if (listener_start(s, &s->https, true, 0) < 0) goto fail;
        }
        return s;
fail:
        fake_server_stop(s);
        return NULL;
}

unsigned fake_server_port(FakeServer *s, bool https) { return https ? s->https.port : s->http.port; }

char *fake_server_url(FakeServer *s, bool https) {
        char *u = NULL;
        if (asprintf_safe(&u, "%s://%s:%u", https ? "https" : "http", s->url_host, fake_server_port(s, https)) < 0)
                return NULL;
        return u;
}

static int entry_copy(Entry *d, const FakeResponse *r) {
        *d = (Entry){.status = r->status, .repeat = r->body_repeat_size, .delay_ms = r->delay_ms,
                     .truncate_at = r->truncate_at, .reset = r->reset, .hang = r->hang, .times = r->times,
                     .rate = r->rate_limit_per_s, .rate_status = r->rate_limited_status,
                     .retry_after = r->retry_after_s, .date_offset_s = r->date_offset_s, .for_ms = r->for_ms};
        const char *body = r->body ? r->body : "";
        d->body_len = r->body_len > 0 ? r->body_len : strlen(body);
        d->body = malloc(d->body_len + 1);
        if (!d->body) return -ENOMEM;
        memcpy(d->body, body, d->body_len);
        d->body[d->body_len] = 0;
        if (r->content_type && !(d->content_type = strdup(r->content_type))) return -ENOMEM;
        if (r->headers && !(d->headers = strdup(r->headers))) return -ENOMEM;
        if (r->basic_auth) {
                _cleanup_free_ char *b64 = base64_encode(r->basic_auth, strlen(r->basic_auth));
                if (!b64 || !(d->basic_auth = strjoin("Basic ", b64, NULL))) return -ENOMEM;
        }
        if (r->bearer && !(d->bearer = strjoin("Bearer ", r->bearer, NULL))) return -ENOMEM;
        return 0;
}

int fake_server_route(FakeServer *s, const char *method, const char *path, const FakeResponse *r, size_t n) {
        if (!s || !method || !path || !r || n == 0) return -EINVAL;
        Route *route = calloc(1, sizeof *route);
        if (!route) return -ENOMEM;
        route->method = strdup(method);
        route->path = strdup(path);
        route->entries = calloc(n, sizeof(Entry));
        if (!route->method || !route->path || !route->entries) {
                route_free(route);
                return -ENOMEM;
        }
        for (size_t i = 0; i < n; i++) {
                route->n = i + 1;
                if (entry_copy(&route->entries[i], &r[i]) < 0) {
                        route_free(route);
                        return -ENOMEM;
                }
        }
        pthread_mutex_lock(&s->lock);
        route->next = s->routes;   /* shadows an earlier route for the same method+path */
        s->routes = route;
        pthread_mutex_unlock(&s->lock);
        return 0;
}

static int scenario_response(const char *dir, json_t *jr, FakeResponse *fr, char **ret_body, char **ret_headers) {
        json_error_t err;
        const char *body = NULL, *body_file = NULL, *content_type = NULL, *basic_auth = NULL, *bearer = NULL;
        json_t *headers = NULL;
        int status = 0, delay_ms = 0, times = 0, reset = 0, hang = 0, date_offset_s = 0, for_ms = 0;
        json_int_t truncate_at = 0, repeat = 0;

        if (json_unpack_ex(jr, &err, JSON_STRICT, "{s?i, s?s, s?s, s?o, s?i, s?I, s?b, s?b, s?I, s?s, s?i, s?s, s?i, s?i, s?s}",
                           "status", &status, "body", &body, "body_file", &body_file, "headers", &headers,
                           "delay_ms", &delay_ms, "truncate_at", &truncate_at, "reset", &reset, "hang", &hang,
                           "body_repeat_size", &repeat, "content_type", &content_type, "times", &times,
                           "basic_auth", &basic_auth, "date_offset_s", &date_offset_s, "for_ms", &for_ms, "bearer", &bearer) < 0)
                return -EINVAL;
        if (truncate_at < 0 || repeat < 0 || delay_ms < 0 || times < 0 || for_ms < 0) return -EINVAL;

        *fr = (FakeResponse){.status = status, .body = body, .content_type = content_type, .delay_ms = delay_ms,
                             .truncate_at = (long)truncate_at, .reset = reset, .hang = hang,
                             .body_repeat_size = (size_t)repeat, .times = times, .basic_auth = basic_auth,
                             .date_offset_s = date_offset_s, .for_ms = for_ms, .bearer = bearer};
        if (body && body_file) return -EINVAL;
        if (body_file) {
                _cleanup_free_ char *p = body_file[0] == '/' ? strdup(body_file) : strjoin(dir, "/", body_file);
                if (!p) return -ENOMEM;
                size_t len = 0;
                int r = read_file_capped(p, BODY_FILE_MAX, ret_body, &len);
                if (r < 0) return r;
                fr->body = *ret_body;
                fr->body_len = len;
        }
        if (headers) {
                const char *name;
                json_t *v;
                if (!json_is_object(headers)) return -EINVAL;
                json_object_foreach(headers, name, v) {
                        if (!json_is_string(v)) return -EINVAL;
                        char *line = NULL;
                        if (asprintf_safe(&line, "%s%s: %s\n", *ret_headers ? *ret_headers : "", name,
                                          json_string_value(v)) < 0)
                                return -ENOMEM;
                        free(*ret_headers);
                        *ret_headers = line;
                }
                fr->headers = *ret_headers;
        }
        return 0;
}

/* "scheduled_events": [{"document_file": F | "document": {...} | "status": N, "duration_ms": MS}] */
static int scenario_scheduled_events(FakeServer *s, const char *dir, json_t *list) {
        size_t n = json_array_size(list);
        if (!json_is_array(list) || n == 0) return -EINVAL;
        FakeEventsStep *steps = calloc(n, sizeof *steps);
        char **texts = calloc(n, sizeof *texts);
        int r = steps && texts ? 0 : -ENOMEM;
        for (size_t i = 0; r >= 0 && i < n; i++) {
                json_error_t err;
                const char *file = NULL;
                json_t *doc = NULL;
                int status = 0, duration = 0;
                if (json_unpack_ex(json_array_get(list, i), &err, JSON_STRICT, "{s?s, s?o, s?i, s?i}", "document_file",
                                   &file, "document", &doc, "status", &status, "duration_ms", &duration) < 0 ||
                    (file && doc) || duration < 0) {
                        r = -EINVAL;
                        break;
                }
                if (file) {
                        _cleanup_free_ char *p = file[0] == '/' ? strdup(file) : strjoin(dir, "/", file);
                        r = p ? read_file_capped(p, BODY_FILE_MAX, &texts[i], NULL) : -ENOMEM;
                } else if (doc) {
                        texts[i] = json_dumps(doc, JSON_COMPACT);
                        if (!texts[i]) r = -ENOMEM;
                }
                steps[i] = (FakeEventsStep){.document = texts[i], .status = status, .duration_ms = duration};
        }
        if (r >= 0) r = fake_server_scheduled_events(s, steps, n);
        for (size_t i = 0; texts && i < n; i++) free(texts[i]);
        free(texts);
        free(steps);
        return r;
}

int fake_server_load_scenario(FakeServer *s, const char *path) {
        json_error_t err;
        json_t *routes = NULL;
        int r;

        _cleanup_free_ char *dir = path_dirname(path);
        if (!dir) return -ENOMEM;
        json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &err);
        if (!root) return -EINVAL;
        json_t *sched = NULL;
        if (json_unpack_ex(root, &err, JSON_STRICT, "{s:o, s?o}", "routes", &routes, "scheduled_events", &sched) < 0 ||
            !json_is_array(routes) || (sched && scenario_scheduled_events(s, dir, sched) < 0)) {
                json_decref(root);
                return -EINVAL;
        }
        size_t i;
        json_t *jroute;
        r = 0;
        json_array_foreach(routes, i, jroute) {
                const char *method = NULL, *rpath = NULL;
                json_t *responses = NULL;
                if (json_unpack_ex(jroute, &err, JSON_STRICT, "{s:s, s:s, s:o}", "method", &method, "path", &rpath,
                                   "responses", &responses) < 0 ||
                    !json_is_array(responses) || json_array_size(responses) == 0) {
                        r = -EINVAL;
                        break;
                }
                size_t n = json_array_size(responses);
                FakeResponse *frs = calloc(n, sizeof *frs);
                char **bodies = calloc(n, sizeof(char *)), **headers = calloc(n, sizeof(char *));
                if (!frs || !bodies || !headers) r = -ENOMEM;
                for (size_t j = 0; r >= 0 && j < n; j++)
                        r = scenario_response(dir, json_array_get(responses, j), &frs[j], &bodies[j], &headers[j]);
                if (r >= 0) r = fake_server_route(s, method, rpath, frs, n);
                for (size_t j = 0; bodies && headers && j < n; j++) {
                        free(bodies[j]);
                        free(headers[j]);
                }
                free(frs);
                free(bodies);
                free(headers);
                if (r < 0) break;
        }
        json_decref(root);
        return r;
}

size_t fake_server_count(FakeServer *s, const char *method, const char *path) {
        size_t n = 0, i;
        json_t *o;
        pthread_mutex_lock(&s->lock);
        json_array_foreach(s->requests, i, o) {
                const char *m = json_string_value(json_object_get(o, "method"));
                const char *p = json_string_value(json_object_get(o, "path"));
                if (streq_ptr(m, method) && streq_ptr(p, path)) n++;
        }
        pthread_mutex_unlock(&s->lock);
        return n;
}

json_t *fake_server_requests(FakeServer *s) {
        pthread_mutex_lock(&s->lock);
        json_t *copy = json_deep_copy(s->requests);
        pthread_mutex_unlock(&s->lock);
        return copy;
}

void fake_server_stop(FakeServer *s) {
        if (!s) return;
        pthread_mutex_lock(&s->lock);
        s->stopping = true;
        pthread_cond_broadcast(&s->cond);
        pthread_mutex_unlock(&s->lock);

        if (s->https.daemon) MHD_stop_daemon(s->https.daemon);
        if (s->http.daemon) MHD_stop_daemon(s->http.daemon);

        while (s->routes) {
                Route *next = s->routes->next;
                route_free(s->routes);
                s->routes = next;
        }
        json_decref(s->requests);
        events_free(s->events);
        if (s->record) fclose(s->record);
        if (s->key) wipe(s->key, strlen(s->key));
        free(s->key);
        free(s->cert);
        pthread_cond_destroy(&s->cond);
        pthread_mutex_destroy(&s->lock);
        free(s);
}
