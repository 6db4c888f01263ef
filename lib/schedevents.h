/* schedevents: Azure Scheduled Events (IMDS /metadata/scheduledevents) — parse the
 * document, fetch it once, approve one event, and the watcher's record of the events it
 * has handled ({state_dir}/scheduled-events.json), so a restarted watcher never drains
 * twice. The document (api-version 2020-07-01):
 *   {"DocumentIncarnation": 2, "Events": [{"EventId": "…", "EventStatus": "Scheduled",
 *    "EventType": "Terminate", "ResourceType": "VirtualMachine", "Resources": ["vmss_vm1"],
 *    "EventSource": "Platform", "NotBefore": "Mon, 19 Sep 2016 18:29:47 GMT",
 *    "Description": "…", "DurationInSeconds": -1}]}
 * Approval: POST the same URL with {"StartRequests": [{"EventId": "…"}]}. Both with
 * "Metadata: true", never through a proxy. No retries here: the watcher polls. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "util.h"

#define SCHEDEVENTS_PATH "/metadata/scheduledevents?api-version=2020-07-01"
#define SCHEDEVENTS_MAX_BODY (1024u * 1024)
#define SCHEDEVENTS_MAX_EVENTS 64
#define SCHEDEVENTS_MAX_RESOURCES 1000

typedef struct SchedEvent {
        char *id;             /* EventId: 1..128 of [A-Za-z0-9._-] (a GUID in practice) */
        char *type;           /* EventType: Freeze, Reboot, Redeploy, Preempt, Terminate, ... */
        char *status;         /* EventStatus: Scheduled, Started ("" when absent) */
        char *source;         /* EventSource ("" when absent) */
        char *not_before;     /* NotBefore as sent ("" when absent or empty) */
        int64_t not_before_ms;/* NotBefore as UTC ms, -1 when empty or not a known form */
        char **resources;     /* Resources, NULL-terminated */
} SchedEvent;

typedef struct SchedDocument {
        int64_t incarnation;  /* DocumentIncarnation, -1 when absent */
        SchedEvent *events;
        size_t n_events;
        size_t n_invalid;     /* events left out because a field failed validation */
} SchedDocument;

/* Parses a document; numbers may arrive as strings. An event with an invalid EventId,
 * EventType or Resources is left out (counted in n_invalid), the rest kept. Returns 0,
 * or -EBADMSG with a message in err (the document is not the expected JSON). */
int schedevents_parse(const char *json, size_t len, SchedDocument **ret, char *err, size_t errsize);
SchedDocument *schedevents_free(SchedDocument *d);
DEFINE_TRIVIAL_CLEANUP_FUNC(SchedDocument *, schedevents_free);

/* Whether the event names this instance in Resources (case-insensitive, as Azure
 * treats resource names). */
bool schedevent_is_for(const SchedEvent *e, const char *instance_name);
/* Terminate or Preempt: the instance is about to be deleted. */
bool schedevent_is_termination(const SchedEvent *e);
/* Not yet started: Scheduled (or no status at all). */
bool schedevent_is_scheduled(const SchedEvent *e);

/* NotBefore: RFC 1123 ("Mon, 19 Sep 2016 18:29:47 GMT", what Azure sends) or RFC 3339
 * UTC ("2016-09-19T18:29:47Z", optionally with fractional seconds, what the mock server
 * sends). Returns 0 with UTC milliseconds, or -EINVAL. */
int schedevents_parse_time(const char *s, int64_t *ret_ms);

/* {"StartRequests":[{"EventId":"ID"}]}: a new string, NULL on OOM or an invalid id. */
char *schedevents_approval_body(const char *event_id);

typedef struct SchedClient {
        const char *base_url;     /* the IMDS base URL, e.g. http://169.254.169.254 */
        long timeout_ms;          /* per request; 0: 5000 */
} SchedClient;

/* One GET. Returns 0 with the parsed document; -EBADMSG (malformed 200 body),
 * -EPROTO (another status: *ret_status holds it), or a transport -errno; err says what. */
int schedevents_fetch(const SchedClient *c, SchedDocument **ret, long *ret_status, char *err, size_t errsize);
/* One POST approving event_id alone. Returns 0 on a 2xx, -EPROTO with *ret_status for
 * another status, or a transport -errno; err says what. */
int schedevents_approve(const SchedClient *c, const char *event_id, long *ret_status, char *err, size_t errsize);

/* ---- what the watcher handled: {state_dir}/scheduled-events.json (0600) ----
 *   {"version": 1, "instance": "…", "polls": 12, "last_poll": "RFC 3339",
 *    "last_result": "ok: 0 events", "events": [{"id": "…", "type": "Terminate",
 *    "not_before": "…", "mine": true, "first_seen": "…", "drain_started": "…",
 *    "drain_ended": "…", "drain_result": "done", "approved": "…", "approval": "HTTP 200"}]}
 * Unset times are null. */
typedef struct SchedRecord {
        char *id, *type, *not_before;
        bool mine;                /* for this instance */
        char *first_seen;         /* RFC 3339 */
        char *drain_started;      /* NULL: not (yet) drained; set before the first command runs */
        char *drain_ended;
        char *drain_result;       /* "done", "1 of 2 failed", "deadline passed", "none configured", ... */
        char *approved;           /* NULL: not (yet) approved */
        char *approval;           /* last answer to the approval ("HTTP 200", "connection refused") */
} SchedRecord;

typedef struct SchedState {
        char *instance;           /* compute.name the watcher found */
        int64_t polls;
        char *last_poll;          /* RFC 3339 of the last poll */
        char *last_result;        /* "ok: N events" or the error */
        SchedRecord *records;
        size_t n_records;
} SchedState;

/* Loads path; a missing file gives an empty state (returns 0). -EBADMSG when it does
 * not parse. Capped at 1 MiB. */
int schedstate_load(const char *path, SchedState **ret);
/* Writes atomically, 0600 (directory 0700). Keeps the newest SCHEDSTATE_MAX_RECORDS. */
int schedstate_save(const SchedState *s, const char *path);
#define SCHEDSTATE_MAX_RECORDS 64
SchedState *schedstate_new(void);
SchedState *schedstate_free(SchedState *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(SchedState *, schedstate_free);
/* Borrowed; NULL when id was never seen. */
SchedRecord *schedstate_find(SchedState *s, const char *id);
/* Adds a record for e (first_seen = now) and returns it (borrowed), NULL on OOM. */
SchedRecord *schedstate_add(SchedState *s, const SchedEvent *e, bool mine);
/* Replaces *field with a copy of value (NULL clears). */
int schedstate_set(char **field, const char *value);
/* Sets *field to the current time (RFC 3339). */
int schedstate_stamp(char **field);
