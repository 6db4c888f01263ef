/* wireserver: goal state parsing, the <Health> body, and the report loop. */
#include "wireserver.h"

#include <errno.h>
#include <expat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "retry.h"
#include "utf8.h"
#include "util.h"
#include "xmlutil.h"

#define GOALSTATE_MAX_SIZE (1024u * 1024u)
#define GOALSTATE_FIELD_MAX 1024u
#define HEALTH_RESPONSE_MAX (64u * 1024u)
#define DESCRIPTION_MAX_CHARS 512u
#define WIRESERVER_VERSION_HEADER "x-ms-version: 2012-11-30"

enum {
        FIELD_NONE = -1,
        FIELD_INCARNATION,
        FIELD_CONTAINER_ID,
        FIELD_INSTANCE_ID,
        _FIELD_MAX,
};

static const char *const field_paths[_FIELD_MAX] = {
        [FIELD_INCARNATION] = "GoalState/Incarnation",
        [FIELD_CONTAINER_ID] = "GoalState/Container/ContainerId",
        [FIELD_INSTANCE_ID] = "GoalState/Container/RoleInstanceList/RoleInstance/InstanceId",
};

typedef struct GsParser {
        XmlCtx x;                 /* first: xml_refuse_dtd's handlers find it */
        XmlPath path;             /* "GoalState/Container/ContainerId" */
        unsigned depth;           /* elements open */
        int field;                /* field being captured, FIELD_NONE if none */
        unsigned field_depth;
        XmlText text;
        char *values[_FIELD_MAX];
} GsParser;

static void XMLCALL gs_start(void *userdata, const XML_Char *name, const XML_Char **attrs) {
        GsParser *p = userdata;

        p->depth++;
        xml_path_push(&p->path, name);
        if (p->path.overflow > 0 || p->field != FIELD_NONE)
                return;
        for (int i = 0; i < _FIELD_MAX; i++)
                if (streq(p->path.path, field_paths[i]) && !p->values[i]) {
                        /* First occurrence wins: the first RoleInstance is ours. */
                        p->field = i;
                        p->field_depth = p->depth;
                        xml_text_reset(&p->text, GOALSTATE_FIELD_MAX);
                        break;
                }
}

static void XMLCALL gs_end(void *userdata, const XML_Char *name) {
        GsParser *p = userdata;

        if (p->field != FIELD_NONE && p->depth == p->field_depth) {
                p->values[p->field] = xml_strdup_trimmed(p->text.data ? p->text.data : "", p->text.len);
                if (!p->values[p->field])
                        xml_fail(&p->x, -ENOMEM, "out of memory");
                p->field = FIELD_NONE;
        }
        xml_path_pop(&p->path);
        p->depth--;
}

static void XMLCALL gs_text(void *userdata, const XML_Char *s, int len) {
        GsParser *p = userdata;

        if (p->field == FIELD_NONE || p->depth != p->field_depth || len <= 0)
                return;
        int r = xml_text_append(&p->text, s, (size_t)len);
        if (r == -EFBIG)
                xml_fail(&p->x, -EBADMSG, "field longer than 1 KiB");
        else if (r < 0)
                xml_fail(&p->x, r, "out of memory");
}

GoalState *goalstate_free(GoalState *g) {
        if (!g)
                return NULL;
        free(g->incarnation);
        free(g->container_id);
        free(g->instance_id);
        free(g);
        return NULL;
}

DEFINE_TRIVIAL_CLEANUP_FUNC(GoalState *, goalstate_free);

int goalstate_parse(const char *xml, size_t len, GoalState **ret, char *err, size_t errsize) {
        static const char *const field_names[_FIELD_MAX] = {
                [FIELD_INCARNATION] = "Incarnation",
                [FIELD_CONTAINER_ID] = "ContainerId",
                [FIELD_INSTANCE_ID] = "InstanceId",
        };
        _cleanup_free_ GsParser *p = NULL;
        int r = 0;

        if (!xml || !ret)
                return -EINVAL;
        if (len > GOALSTATE_MAX_SIZE) {
                if (err && errsize > 0)
                        snprintf(err, errsize, "goal state larger than 1 MiB");
                return -EFBIG;
        }

        p = calloc(1, sizeof *p);
        if (!p)
                return -ENOMEM;
        p->field = FIELD_NONE;
        p->x.parser = XML_ParserCreate(NULL);
        if (!p->x.parser)
                return -ENOMEM;
        XML_SetUserData(p->x.parser, p);
        XML_SetElementHandler(p->x.parser, gs_start, gs_end);
        XML_SetCharacterDataHandler(p->x.parser, gs_text);
        xml_refuse_dtd(p->x.parser);

        r = xml_parse(&p->x, xml, len);
        if (r < 0) {
                if (err && errsize > 0)
                        snprintf(err, errsize, "goal state:%lu: %s", xml_line(&p->x), xml_error_message(&p->x));
        } else
                for (int i = 0; i < _FIELD_MAX; i++)
                        if (isempty(p->values[i])) {
                                r = -EBADMSG;
                                if (err && errsize > 0)
                                        snprintf(err, errsize, "goal state: no %s", field_names[i]);
                                break;
                        }
        XML_ParserFree(p->x.parser);
        xml_text_done(&p->text);

        if (r < 0) {
                for (int i = 0; i < _FIELD_MAX; i++)
                        free(p->values[i]);
                return r;
        }

        GoalState *g = calloc(1, sizeof *g);
        if (!g) {
                for (int i = 0; i < _FIELD_MAX; i++)
                        free(p->values[i]);
                return -ENOMEM;
        }
        g->incarnation = p->values[FIELD_INCARNATION];
        g->container_id = p->values[FIELD_CONTAINER_ID];
        g->instance_id = p->values[FIELD_INSTANCE_ID];
        *ret = g;
        return 0;
}

/* A growable string with a hard cap, so a body can never grow without bound. */
typedef struct Buf {
        char *data;
        size_t len, cap;
        bool failed;
} Buf;

static void buf_add(Buf *b, const char *s, size_t n) {
        if (b->failed)
                return;
        if (b->len + n + 1 > b->cap) {
                size_t ncap = b->cap ? b->cap : 1024;
                while (ncap < b->len + n + 1)
                        ncap *= 2;
                char *nd = realloc(b->data, ncap);
                if (!nd) {
                        b->failed = true;
                        return;
                }
                b->data = nd;
                b->cap = ncap;
        }
        memcpy(b->data + b->len, s, n);
        b->len += n;
        b->data[b->len] = 0;
}

static void buf_adds(Buf *b, const char *s) {
        buf_add(b, s, strlen(s));
}

static void buf_add_escaped(Buf *b, const char *s, size_t n) {
        for (size_t i = 0; i < n; i++)
                switch (s[i]) {
                case '&': buf_adds(b, "&amp;"); break;
                case '<': buf_adds(b, "&lt;"); break;
                case '>': buf_adds(b, "&gt;"); break;
                case '"': buf_adds(b, "&quot;"); break;
                case '\'': buf_adds(b, "&apos;"); break;
                default: buf_add(b, s + i, 1); break;
                }
}

/* Appends the description: at most 512 characters counted before escaping, control
 * characters as spaces, and invalid UTF-8 bytes as '?' so the body stays well-formed. */
static void buf_add_description(Buf *b, const char *desc) {
        const unsigned char *s = (const unsigned char *)desc;
        size_t n = strlen(desc), i = 0;

        for (unsigned chars = 0; i < n && chars < DESCRIPTION_MAX_CHARS; chars++) {
                size_t l = utf8_sequence_length(s + i, n - i);
                if (l == 0) {
                        buf_adds(b, "?");
                        i++;
                } else if (l == 1 && (s[i] < 0x20 || s[i] == 0x7F)) {
                        buf_adds(b, " ");
                        i++;
                } else {
                        buf_add_escaped(b, desc + i, l);
                        i += l;
                }
        }
}

char *wireserver_health_body(const GoalState *g, bool ready, const char *description) {
        Buf b = {0};

        if (!g || !g->incarnation || !g->container_id || !g->instance_id)
                return NULL;

        buf_adds(&b, "<?xml version=\"1.0\" encoding=\"utf-8\"?>"
                     "<Health xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\""
                     " xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\">"
                     "<GoalStateIncarnation>");
        buf_add_escaped(&b, g->incarnation, strlen(g->incarnation));
        buf_adds(&b, "</GoalStateIncarnation><Container><ContainerId>");
        buf_add_escaped(&b, g->container_id, strlen(g->container_id));
        buf_adds(&b, "</ContainerId><RoleInstanceList><Role><InstanceId>");
        buf_add_escaped(&b, g->instance_id, strlen(g->instance_id));
        buf_adds(&b, "</InstanceId><Health><State>");
        if (ready)
                buf_adds(&b, "Ready</State>");
        else {
                buf_adds(&b, "NotReady</State><Details><SubStatus>ProvisioningFailed</SubStatus>"
                             "<Description>");
                buf_add_description(&b, description ? description : "");
                buf_adds(&b, "</Description></Details>");
        }
        buf_adds(&b, "</Health></Role></RoleInstanceList></Container></Health>");

        if (b.failed) {
                free(b.data);
                return NULL;
        }
        return b.data;
}

/* What went wrong with one try, for notify and last_error. */
static void describe_outcome(char *buf, size_t size, const char *what, int r,
                             const HttpResponse *resp) {
        if (r < 0)
                snprintf(buf, size, "%s: %s%s%s", what, http_error_to_string(resp->error),
                         resp->message[0] ? ": " : "", resp->message);
        else
                snprintf(buf, size, "%s: HTTP %ld", what, resp->status);
}

#define WIRESERVER_TRY_TIMEOUT_MS 30000

/* Total timeout for the next request: clipped to the budget left; the first try
 * always happens (as in retry_http). 0 means no time is left. */
static long try_timeout(const Retry *retry) {
        int64_t remaining = retry_remaining_ms(retry);
        if (remaining <= 0)
                return retry->attempt == 0 ? WIRESERVER_TRY_TIMEOUT_MS : 0;
        return remaining < WIRESERVER_TRY_TIMEOUT_MS ? (long)remaining : WIRESERVER_TRY_TIMEOUT_MS;
}

/* A try that timed out only because the deadline clipped its timeout says nothing
 * about the wireserver; the outcome of the try before it ("health: HTTP 500") does,
 * and is what the caller reports (as retry_http does). */
static bool cut_short_by_deadline(const Retry *retry, const HttpRequest *req, int r, const HttpResponse *resp) {
        return retry->attempt > 0 && r < 0 && resp->error == HTTP_ERR_TIMEOUT &&
               req->total_timeout_ms < WIRESERVER_TRY_TIMEOUT_MS;
}

int wireserver_report(const WireserverClient *c, bool ready, const char *description,
                      char **ret_body, char *last_error, size_t errsize) {
        _cleanup_free_ char *base = NULL, *goal_url = NULL, *health_url = NULL, *agent = NULL;
        _cleanup_(goalstate_freep) GoalState *goal = NULL;
        char what[512] = "no attempt made";
        RetryPolicy policy = {
                .deadline_ms = c ? c->deadline_ms : 0,
                .base_ms = 250,
                .max_ms = 5000,
                .status_retryable = retry_status_any,
        };
        Retry retry;

        if (!c || isempty(c->base_url))
                return -EINVAL;

        const char *name = isempty(c->agent_name) ? "vsensor-init" : c->agent_name;
        for (const char *s = name; *s; s++)
                if ((unsigned char)*s < 0x20 || *s == 0x7F)
                        return -EINVAL;   /* would split the header */

        base = strdup(c->base_url);
        if (!base)
                return -ENOMEM;
        for (size_t n = strlen(base); n > 0 && base[n - 1] == '/'; n--)
                base[n - 1] = 0;
        goal_url = strjoin(base, "/machine/?comp=goalstate", NULL);
        health_url = strjoin(base, "/machine?comp=health", NULL);
        agent = strjoin("x-ms-agent-name: ", name, NULL);
        if (!goal_url || !health_url || !agent)
                return -ENOMEM;

        const char *const get_headers[] = { WIRESERVER_VERSION_HEADER, agent, NULL };
        const char *const post_headers[] = {
                "Content-Type: text/xml;charset=utf-8", WIRESERVER_VERSION_HEADER, agent, NULL,
        };

        retry_init(&retry, &policy);
        for (;;) {
                long retry_after = -1;

                if (try_timeout(&retry) <= 0)
                        break;

                if (!goal) {
                        HttpResponse resp = {0};
                        HttpRequest req = {
                                .method = "GET",
                                .url = goal_url,
                                .headers = get_headers,
                                .max_body = GOALSTATE_MAX_SIZE,
                                .total_timeout_ms = try_timeout(&retry),
                                .no_proxy = true,
                                .out_fd = -1,
                        };
                        int r = http_perform(&req, &resp);
                        if (cut_short_by_deadline(&retry, &req, r, &resp)) {
                                http_response_clear(&resp);
                                break;
                        }
                        if (r >= 0 && resp.status == 200) {
                                char perr[256] = "";
                                r = goalstate_parse(resp.body ? resp.body : "", resp.body_len,
                                                    &goal, perr, sizeof perr);
                                if (r == -ENOMEM) {
                                        http_response_clear(&resp);
                                        return r;
                                }
                                if (r < 0)
                                        snprintf(what, sizeof what, "%s", perr);
                        } else
                                describe_outcome(what, sizeof what, "goal state", r, &resp);
                        retry_after = resp.retry_after_s;
                        http_response_clear(&resp);
                }

                if (goal) {
                        _cleanup_free_ char *body = wireserver_health_body(goal, ready, description);
                        if (!body)
                                return -ENOMEM;

                        HttpResponse resp = {0};
                        HttpRequest req = {
                                .method = "POST",
                                .url = health_url,
                                .headers = post_headers,
                                .body = body,
                                .body_len = strlen(body),
                                .max_body = HEALTH_RESPONSE_MAX,
                                .total_timeout_ms = try_timeout(&retry),
                                .no_proxy = true,
                                .out_fd = -1,
                        };
                        if (req.total_timeout_ms <= 0) {
                                /* The previous try's outcome, if there was one, says more. */
                                if (retry.attempt == 0)
                                        snprintf(what, sizeof what, "health: deadline passed after the goal state");
                                break;
                        }
                        int r = http_perform(&req, &resp);
                        if (cut_short_by_deadline(&retry, &req, r, &resp)) {
                                http_response_clear(&resp);
                                break;
                        }
                        if (r >= 0 && (resp.status == 200 || resp.status == 201 || resp.status == 202)) {
                                http_response_clear(&resp);
                                if (ret_body)
                                        *ret_body = TAKE_PTR(body);
                                return 0;
                        }
                        describe_outcome(what, sizeof what, "health", r, &resp);
                        /* An error status may mean the incarnation moved on: the next
                         * post must carry the current goal state. */
                        if (r >= 0 && resp.status >= 400)
                                goal = goalstate_free(goal);
                        retry_after = resp.retry_after_s;
                        http_response_clear(&resp);
                }

                int64_t delay = retry_next_delay(&retry, retry_after);
                if (delay < 0)
                        break;
                if (c->notify)
                        c->notify(c->userdata, retry.attempt, what, delay);
                sleep_ms(delay);
        }

        errbuf_printf(last_error, errsize, "%s", what);
        return -ETIMEDOUT;
}
