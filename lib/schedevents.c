/* schedevents: Azure Scheduled Events documents, their fetch and approval, and the
 * watcher's record of what it handled (see schedevents.h). */
#include "schedevents.h"

#include <jansson.h>
#include <limits.h>
#include <strings.h>
#include <time.h>

#include "http.h"

#define STATE_FILE_MAX (1024 * 1024)
#define STATE_VERSION 1
#define ID_MAX 128
#define TYPE_MAX 32
#define RESOURCE_MAX 256
#define TEXT_MAX 256
#define DEFAULT_TIMEOUT_MS 5000

static inline void schedevents_json_decrefp(json_t **p) {
        if (*p) json_decref(*p);
}
#define _cleanup_json_ _cleanup_(schedevents_json_decrefp)

/* ---- the document ---- */

static bool valid_chars(const char *s, size_t max, const char *extra) {
        size_t n = s ? strlen(s) : 0;
        if (n == 0 || n > max) return false;
        for (size_t i = 0; i < n; i++) {
                char c = s[i];
                bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                          (extra && strchr(extra, c));
                if (!ok) return false;
        }
        return true;
}

/* Printable text without the KVP separator, for values that reach logs and KVP. */
static bool valid_text(const char *s, size_t max) {
        size_t n = strlen(s);
        if (n > max) return false;
        for (size_t i = 0; i < n; i++)
                if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f || s[i] == '|') return false;
        return true;
}

static void event_done(SchedEvent *e) {
        free(e->id);
        free(e->type);
        free(e->status);
        free(e->source);
        free(e->not_before);
        strv_free(e->resources);
        *e = (SchedEvent){};
}

SchedDocument *schedevents_free(SchedDocument *d) {
        if (!d) return NULL;
        for (size_t i = 0; i < d->n_events; i++) event_done(&d->events[i]);
        free(d->events);
        free(d);
        return NULL;
}

/* A string member (absent or null: ""); -EINVAL for another type or bad text. */
static int member_text(json_t *o, const char *key, size_t max, char **ret) {
        json_t *v = json_object_get(o, key);
        const char *s = "";
        if (v && !json_is_null(v)) {
                if (!json_is_string(v)) return -EINVAL;
                s = json_string_value(v);
                if (strlen(s) != json_string_length(v) || !valid_text(s, max)) return -EINVAL;
        }
        char *d = strdup(s);
        if (!d) return -ENOMEM;
        *ret = d;
        return 0;
}

static int parse_event(json_t *o, SchedEvent *e) {
        if (!json_is_object(o)) return -EINVAL;
        int r;
        if ((r = member_text(o, "EventId", ID_MAX, &e->id)) < 0) return r;
        if (!valid_chars(e->id, ID_MAX, "._-")) return -EINVAL;
        if ((r = member_text(o, "EventType", TYPE_MAX, &e->type)) < 0) return r;
        if (!valid_chars(e->type, TYPE_MAX, NULL)) return -EINVAL;
        if ((r = member_text(o, "EventStatus", TYPE_MAX, &e->status)) < 0) return r;
        if (*e->status && !valid_chars(e->status, TYPE_MAX, NULL)) return -EINVAL;
        if ((r = member_text(o, "EventSource", TYPE_MAX, &e->source)) < 0) return r;
        if ((r = member_text(o, "NotBefore", TEXT_MAX, &e->not_before)) < 0) return r;
        e->not_before_ms = -1;
        if (*e->not_before) (void)schedevents_parse_time(e->not_before, &e->not_before_ms);

        json_t *res = json_object_get(o, "Resources");
        if (res && !json_is_null(res) && !json_is_array(res)) return -EINVAL;
        if (json_array_size(res) > SCHEDEVENTS_MAX_RESOURCES) return -EINVAL;
        e->resources = calloc(1, sizeof(char *));
        if (!e->resources) return -ENOMEM;
        size_t i;
        json_t *v;
        json_array_foreach(res, i, v) {
                if (!json_is_string(v)) return -EINVAL;
                const char *s = json_string_value(v);
                if (strlen(s) != json_string_length(v) || !*s || !valid_text(s, RESOURCE_MAX)) return -EINVAL;
                if (strv_push(&e->resources, s) < 0) return -ENOMEM;
        }
        return 0;
}

int schedevents_parse(const char *json, size_t len, SchedDocument **ret, char *err, size_t errsize) {
        json_error_t jerr;
        _cleanup_json_ json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
        if (!root) {
                errbuf_printf(err, errsize, "not JSON: %d:%d: %s", jerr.line, jerr.column, jerr.text);
                return -EBADMSG;
        }
        if (!json_is_object(root)) {
                errbuf_printf(err, errsize, "not a JSON object");
                return -EBADMSG;
        }
        _cleanup_(schedevents_freep) SchedDocument *d = calloc(1, sizeof *d);
        if (!d) return -ENOMEM;
        d->incarnation = -1;
        json_t *inc = json_object_get(root, "DocumentIncarnation");
        if (json_is_integer(inc))
                d->incarnation = json_integer_value(inc);
        else if (json_is_string(inc)) {
                char *end = NULL;
                errno = 0;
                long long v = strtoll(json_string_value(inc), &end, 10);
                if (errno == 0 && end && *end == 0 && end != json_string_value(inc)) d->incarnation = v;
        }
        json_t *events = json_object_get(root, "Events");
        if (events && !json_is_null(events) && !json_is_array(events)) {
                errbuf_printf(err, errsize, "Events is not a list");
                return -EBADMSG;
        }
        size_t n = json_array_size(events);
        if (n > SCHEDEVENTS_MAX_EVENTS) {
                errbuf_printf(err, errsize, "more than %d events", SCHEDEVENTS_MAX_EVENTS);
                return -EBADMSG;
        }
        d->events = calloc(n ? n : 1, sizeof(SchedEvent));
        if (!d->events) return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                SchedEvent e = {};
                int r = parse_event(json_array_get(events, i), &e);
                if (r == -ENOMEM) {
                        event_done(&e);
                        return r;
                }
                if (r < 0) {
                        event_done(&e);
                        d->n_invalid++;
                        continue;
                }
                d->events[d->n_events++] = e;
        }
        *ret = TAKE_PTR(d);
        return 0;
}

bool schedevent_is_for(const SchedEvent *e, const char *instance_name) {
        if (!e || isempty(instance_name)) return false;
        for (char **r = e->resources; r && *r; r++)
                if (strcasecmp(*r, instance_name) == 0) return true;
        return false;
}

bool schedevent_is_termination(const SchedEvent *e) {
        return e && (strcasecmp(e->type, "Terminate") == 0 || strcasecmp(e->type, "Preempt") == 0);
}

bool schedevent_is_scheduled(const SchedEvent *e) {
        return e && (isempty(e->status) || strcasecmp(e->status, "Scheduled") == 0);
}

int schedevents_parse_time(const char *s, int64_t *ret_ms) {
        if (isempty(s)) return -EINVAL;
        struct tm tm = {};
        const char *end;
        int64_t ms = 0;
        /* strptime's names are the C locale's: the agent never calls setlocale(). */
        if ((end = strptime(s, "%a, %d %b %Y %H:%M:%S GMT", &tm)) && *end == 0) {
                /* RFC 1123, as Azure sends it */
        } else {
                tm = (struct tm){};
                end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
                if (!end) return -EINVAL;
                if (*end == '.') {
                        int digits = 0;
                        for (end++; *end >= '0' && *end <= '9'; end++, digits++)
                                if (digits < 3) ms = ms * 10 + (*end - '0');
                        if (digits == 0) return -EINVAL;
                        for (; digits < 3; digits++) ms *= 10;
                }
                if (!(end[0] == 'Z' && end[1] == 0) && strcmp(end, "+00:00") != 0) return -EINVAL;
        }
        time_t t = timegm(&tm);
        if (t == (time_t)-1 || t < 0) return -EINVAL;
        *ret_ms = (int64_t)t * 1000 + ms;
        return 0;
}

char *schedevents_approval_body(const char *event_id) {
        if (!valid_chars(event_id, ID_MAX, "._-")) return NULL;
        _cleanup_json_ json_t *o = json_pack("{s:[{s:s}]}", "StartRequests", "EventId", event_id);
        return o ? json_dumps(o, JSON_COMPACT) : NULL;
}

/* ---- fetch and approve ---- */

static const char *const metadata_headers[] = {"Metadata: true", NULL};

static int request(const SchedClient *c, const char *body, HttpResponse *res, char *err, size_t errsize) {
        _cleanup_free_ char *url = strjoin(c->base_url, SCHEDEVENTS_PATH, NULL);
        if (!url) return -ENOMEM;
        HttpRequest req = {
                .method = body ? "POST" : "GET",
                .url = url,
                .headers = metadata_headers,
                .body = body,
                .body_len = body ? strlen(body) : 0,
                .max_body = SCHEDEVENTS_MAX_BODY,
                .connect_timeout_ms = c->timeout_ms > 0 ? c->timeout_ms : DEFAULT_TIMEOUT_MS,
                .total_timeout_ms = c->timeout_ms > 0 ? c->timeout_ms : DEFAULT_TIMEOUT_MS,
                .no_proxy = true,
                .out_fd = -1,
        };
        int r = http_perform(&req, res);
        if (r < 0) errbuf_printf(err, errsize, "%s (%s)", http_error_to_string(res->error), res->message);
        return r;
}

int schedevents_fetch(const SchedClient *c, SchedDocument **ret, long *ret_status, char *err, size_t errsize) {
        HttpResponse res;
        int r = request(c, NULL, &res, err, errsize);
        if (ret_status) *ret_status = res.status;
        if (r < 0) return r;
        if (res.status != 200) {
                errbuf_printf(err, errsize, "HTTP %ld", res.status);
                http_response_clear(&res);
                return -EPROTO;
        }
        char perr[200] = "";
        r = schedevents_parse(res.body, res.body_len, ret, perr, sizeof perr);
        http_response_clear(&res);
        if (r < 0) errbuf_printf(err, errsize, "HTTP 200 with a malformed document: %s", perr);
        return r;
}

int schedevents_approve(const SchedClient *c, const char *event_id, long *ret_status, char *err, size_t errsize) {
        _cleanup_free_ char *body = schedevents_approval_body(event_id);
        if (!body) return -EINVAL;
        HttpResponse res;
        int r = request(c, body, &res, err, errsize);
        if (ret_status) *ret_status = res.status;
        http_response_clear(&res);
        if (r < 0) return r;
        errbuf_printf(err, errsize, "HTTP %ld", res.status);
        return res.status >= 200 && res.status < 300 ? 0 : -EPROTO;
}

/* ---- the watcher's record ---- */

static void record_done(SchedRecord *r) {
        free(r->id);
        free(r->type);
        free(r->not_before);
        free(r->first_seen);
        free(r->drain_started);
        free(r->drain_ended);
        free(r->drain_result);
        free(r->approved);
        free(r->approval);
        *r = (SchedRecord){};
}

SchedState *schedstate_new(void) {
        return calloc(1, sizeof(SchedState));
}

SchedState *schedstate_free(SchedState *s) {
        if (!s) return NULL;
        for (size_t i = 0; i < s->n_records; i++) record_done(&s->records[i]);
        free(s->records);
        free(s->instance);
        free(s->last_poll);
        free(s->last_result);
        free(s);
        return NULL;
}

SchedRecord *schedstate_find(SchedState *s, const char *id) {
        for (size_t i = 0; s && id && i < s->n_records; i++)
                if (streq(s->records[i].id, id)) return &s->records[i];
        return NULL;
}

int schedstate_set(char **field, const char *value) {
        char *d = NULL;
        if (value && !(d = strdup(value))) return -ENOMEM;
        free(*field);
        *field = d;
        return 0;
}

int schedstate_stamp(char **field) {
        char ts[40];
        format_rfc3339(now_realtime_ms(), ts, sizeof ts);
        return schedstate_set(field, ts);
}

static SchedRecord *append_record(SchedState *s) {
        SchedRecord *n = realloc(s->records, (s->n_records + 1) * sizeof *n);
        if (!n) return NULL;
        s->records = n;
        SchedRecord *r = &s->records[s->n_records++];
        *r = (SchedRecord){};
        return r;
}

SchedRecord *schedstate_add(SchedState *s, const SchedEvent *e, bool mine) {
        SchedRecord *r = append_record(s);
        if (!r) return NULL;
        r->mine = mine;
        if (schedstate_set(&r->id, e->id) < 0 || schedstate_set(&r->type, e->type) < 0 ||
            schedstate_set(&r->not_before, e->not_before) < 0 || schedstate_stamp(&r->first_seen) < 0) {
                record_done(r);
                s->n_records--;
                return NULL;
        }
        return r;
}

static int opt_string(json_t *o, const char *key, char **ret) {
        json_t *v = json_object_get(o, key);
        *ret = NULL;
        if (!v || json_is_null(v)) return 0;
        if (!json_is_string(v)) return -EBADMSG;
        return schedstate_set(ret, json_string_value(v));
}

static int parse_record(SchedState *s, json_t *o) {
        if (!json_is_object(o)) return -EBADMSG;
        json_t *id = json_object_get(o, "id");
        if (!json_is_string(id) || !valid_chars(json_string_value(id), ID_MAX, "._-")) return -EBADMSG;
        if (schedstate_find(s, json_string_value(id))) return -EBADMSG;
        SchedRecord *r = append_record(s);
        if (!r) return -ENOMEM;
        r->mine = json_is_true(json_object_get(o, "mine"));
        int k = 0;
        if (k >= 0) k = opt_string(o, "id", &r->id);
        if (k >= 0) k = opt_string(o, "type", &r->type);
        if (k >= 0) k = opt_string(o, "not_before", &r->not_before);
        if (k >= 0) k = opt_string(o, "first_seen", &r->first_seen);
        if (k >= 0) k = opt_string(o, "drain_started", &r->drain_started);
        if (k >= 0) k = opt_string(o, "drain_ended", &r->drain_ended);
        if (k >= 0) k = opt_string(o, "drain_result", &r->drain_result);
        if (k >= 0) k = opt_string(o, "approved", &r->approved);
        if (k >= 0) k = opt_string(o, "approval", &r->approval);
        return k;
}

int schedstate_load(const char *path, SchedState **ret) {
        _cleanup_(schedstate_freep) SchedState *s = schedstate_new();
        if (!s) return -ENOMEM;
        _cleanup_free_ char *buf = NULL;
        size_t len = 0;
        int r = read_file_capped(path, STATE_FILE_MAX, &buf, &len);
        if (r == -ENOENT) {
                *ret = TAKE_PTR(s);
                return 0;
        }
        if (r < 0) return r;
        json_error_t jerr;
        _cleanup_json_ json_t *root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
        if (!json_is_object(root)) return -EBADMSG;
        json_t *version = json_object_get(root, "version");
        if (version && (!json_is_integer(version) || json_integer_value(version) != STATE_VERSION)) return -EBADMSG;
        if ((r = opt_string(root, "instance", &s->instance)) < 0) return r;
        if ((r = opt_string(root, "last_poll", &s->last_poll)) < 0) return r;
        if ((r = opt_string(root, "last_result", &s->last_result)) < 0) return r;
        json_t *polls = json_object_get(root, "polls");
        if (polls && !json_is_integer(polls)) return -EBADMSG;
        s->polls = polls ? json_integer_value(polls) : 0;
        json_t *events = json_object_get(root, "events");
        if (events && !json_is_null(events)) {
                if (!json_is_array(events)) return -EBADMSG;
                size_t i;
                json_t *o;
                json_array_foreach(events, i, o) {
                        r = parse_record(s, o);
                        if (r < 0) return r;
                }
        }
        *ret = TAKE_PTR(s);
        return 0;
}

static json_t *str_or_null(const char *s) {
        return s ? json_string(s) : json_null();
}

int schedstate_save(const SchedState *s, const char *path) {
        if (!s || isempty(path)) return -EINVAL;
        _cleanup_json_ json_t *events = json_array();
        if (!events) return -ENOMEM;
        size_t first = s->n_records > SCHEDSTATE_MAX_RECORDS ? s->n_records - SCHEDSTATE_MAX_RECORDS : 0;
        for (size_t i = first; i < s->n_records; i++) {
                const SchedRecord *r = &s->records[i];
                json_t *o = json_pack("{s:s, s:o, s:o, s:b, s:o, s:o, s:o, s:o, s:o, s:o}", "id", r->id, "type",
                                      str_or_null(r->type), "not_before", str_or_null(r->not_before), "mine", r->mine,
                                      "first_seen", str_or_null(r->first_seen), "drain_started",
                                      str_or_null(r->drain_started), "drain_ended", str_or_null(r->drain_ended),
                                      "drain_result", str_or_null(r->drain_result), "approved",
                                      str_or_null(r->approved), "approval", str_or_null(r->approval));
                if (!o || json_array_append_new(events, o) < 0) return -EINVAL;
        }
        _cleanup_json_ json_t *root = json_pack("{s:i, s:o, s:I, s:o, s:o, s:O}", "version", STATE_VERSION, "instance",
                                                str_or_null(s->instance), "polls", (json_int_t)s->polls, "last_poll",
                                                str_or_null(s->last_poll), "last_result",
                                                str_or_null(s->last_result), "events", events);
        if (!root) return -EINVAL;
        _cleanup_free_ char *text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        if (!text) return -ENOMEM;
        _cleanup_free_ char *dir = path_dirname(path);
        if (!dir) return -ENOMEM;
        int r = mkdir_p(dir, 0700);
        if (r < 0) return r;
        size_t n = strlen(text);
        text[n] = '\n'; /* json_dumps leaves room for the NUL only: rewrite it as the newline */
        return write_file_atomic(path, text, n + 1, 0600);
}
