/* wireserver: reporting health (Ready / NotReady) to the Azure fabric at
 * 168.63.129.16, the way cloud-init's azure.py and waagent do: fetch the goal state
 * for its incarnation and ids, then POST a <Health> document. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "retry.h"

typedef struct GoalState {
        char *incarnation;     /* <Incarnation> */
        char *container_id;    /* <Container><ContainerId> */
        char *instance_id;     /* <Container><RoleInstanceList><RoleInstance><InstanceId> (first) */
} GoalState;

/* Parses goal state XML with expat; caps: 1 MiB input, 1 KiB per field. Returns 0,
 * -EBADMSG with message (expat's error and line) when malformed or a field is missing,
 * -EFBIG when the input is over the cap. */
int goalstate_parse(const char *xml, size_t len, GoalState **ret, char *err, size_t errsize);
GoalState *goalstate_free(GoalState *g);

/* Builds the health body (new string, NULL on OOM). ready true:
 * <?xml version="1.0" encoding="utf-8"?><Health xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xsd="http://www.w3.org/2001/XMLSchema"><GoalStateIncarnation>INC</GoalStateIncarnation><Container><ContainerId>CID</ContainerId><RoleInstanceList><Role><InstanceId>IID</InstanceId><Health><State>Ready</State></Health></Role></RoleInstanceList></Container></Health>
 * ready false: State NotReady plus <Details><SubStatus>ProvisioningFailed</SubStatus><Description>DESC</Description></Details>
 * inside <Health> after <State>. DESC is truncated to 512 characters (whole UTF-8 chars) BEFORE
 * XML escaping (&amp; &lt; &gt; &quot; &apos;), control characters replaced by spaces.
 * Goal state values are XML-escaped too. description NULL is treated as "". */
char *wireserver_health_body(const GoalState *g, bool ready, const char *description);

typedef struct WireserverClient {
        const char *base_url;      /* http://168.63.129.16 */
        int64_t deadline_ms;       /* total budget (1200 s in production) */
        const char *agent_name;    /* x-ms-agent-name value, e.g. "vsensor-init/0.1.0" */
        RetryNotifyFn notify; void *userdata;
} WireserverClient;

/* GET {base}/machine/?comp=goalstate with x-ms-version: 2012-11-30 and x-ms-agent-name,
 * then POST {base}/machine?comp=health with Content-Type: text/xml;charset=utf-8,
 * x-ms-version, x-ms-agent-name and the body. Success 200/201/202. Everything else (any
 * status, transport errors, an unparsable goal state) is retried until the deadline, with
 * backoff base 250 ms, max 5000 ms (a fresh goal state is fetched before each health post
 * retry whose failure might mean the incarnation changed, i.e. after a 4xx/5xx). No proxy.
 * Returns 0, or -ETIMEDOUT with last_error set. ret_body (may be NULL) gets the body sent
 * (the last one, on success only). */
int wireserver_report(const WireserverClient *c, bool ready, const char *description,
                      char **ret_body, char *last_error, size_t errsize);
