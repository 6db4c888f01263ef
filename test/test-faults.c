/* test-faults: the fault matrix. Every remote endpoint the agent talks to (IMDS
 * instance, IMDS userData, wireserver goal state and health, installer download) meets
 * every fault an operator will meet — error statuses, refused and hanging connections,
 * bodies cut short, reset or over the cap, malformed documents, bad certificates —
 * through the same library calls the agent makes. Each row says whether the client
 * retries and succeeds once the fault clears, or fails with which error, and how long
 * it may take; the runner asserts all of it, plus the requests the server saw.
 *
 * Faults come from the in-process fake server (test/fake/fake-server.h), except a reset
 * mid-body, which needs a raw socket server (below) that sends half a body and an RST.
 * FAULTS_TIME_SCALE (default 1; 12 under valgrind) stretches deadlines and bounds. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "base64.h"
#include "fake-server.h"
#include "http.h"
#include "imds.h"
#include "retry.h"
#include "testutil.h"
#include "util.h"
#include "wireserver.h"

#define FIXTURE_VMID "6f1c1a8e-9a4b-4a51-8c5e-2a0d3f4b5c6d"
#define FIXTURE_CONTAINER "c6d5526c-5ac2-4200-b6e2-56f2b70c5ab2"
#define USERDATA_TEXT "vsensor:\n  ephemeral: true\n"
#define INSTALLER_MAX_SIZE (64u * 1024 * 1024)   /* agent/step-install.c */

typedef enum Endpoint {
        EP_INSTANCE,    /* imds_fetch_instance: GET /metadata/instance */
        EP_USERDATA,    /* imds_fetch_userdata: GET /metadata/instance/compute/userData */
        EP_GOALSTATE,   /* wireserver_report: GET /machine/?comp=goalstate */
        EP_HEALTH,      /* wireserver_report: POST /machine?comp=health */
        EP_INSTALLER,   /* retry_http with out_fd, as agent/step-install.c: GET https://.../install */
        _EP_MAX,
} Endpoint;

static const struct {
        const char *name, *method, *path;
} endpoints[_EP_MAX] = {
        [EP_INSTANCE] = {"IMDS instance", "GET", "/metadata/instance"},
        [EP_USERDATA] = {"IMDS userData", "GET", "/metadata/instance/compute/userData"},
        [EP_GOALSTATE] = {"wireserver goal state", "GET", "/machine/"},
        [EP_HEALTH] = {"wireserver health", "POST", "/machine"},
        [EP_INSTALLER] = {"installer download", "GET", "/install"},
};

typedef enum Fault {
        F_STATUS,      /* HTTP status .arg (Retry-After: .retry_after when > 0) */
        F_REFUSED,     /* nothing listens; with .times > 0 a server starts there later */
        F_HANG,        /* accepts, reads the request, never answers */
        F_TRUNCATED,   /* announces the full Content-Length, sends part, closes */
        F_RESET,       /* sends half the body, then an RST (raw server) */
        F_TOO_LARGE,   /* a body one byte over the endpoint's cap */
        F_MALFORMED,   /* 200 with a document that does not parse */
        F_TLS,         /* the HTTPS listener presents certificate .cert */
} Fault;

#define PERSISTS (-1)

typedef struct Case {
        Endpoint ep;
        Fault fault;
        int arg;                /* F_STATUS: the status */
        int retry_after;        /* F_STATUS: Retry-After seconds, 0: none */
        const char *cert;       /* F_TLS: "untrusted", "expired", "wronghost" */
        int times;              /* the fault answers this many requests, then clears; PERSISTS: never clears */
        int want_rc;            /* 0 or -errno */
        const char *want_msg;   /* substring of the error message; NULL: not checked */
        int want_tries;         /* requests on the faulty route; -1: not checked */
        int min_ms;             /* lower bound on the time taken (Retry-After honoured) */
        int max_ms;             /* upper bound; 0: the deadline (plus slack when failing at it) */
} Case;

/* Rows by outcome. T: tries, so a fault seen N times then cleared shows N + 1. */
#define OK(ep, f, a, n)               {ep, f, a, 0, NULL, n, 0, NULL, (n) + 1, 0, 0}
#define OK_ANY(ep, f, a, n)           {ep, f, a, 0, NULL, n, 0, NULL, -1, 0, 0}
#define OK_RA(ep, a, ra, n)           {ep, F_STATUS, a, ra, NULL, n, 0, NULL, (n) + 1, (ra) * 1000 * (n), 0}
#define FAIL_NOW(ep, f, a, rc, msg)   {ep, f, a, 0, NULL, PERSISTS, rc, msg, 1, 0, 1000}
#define FAIL_DEADLINE(ep, f, a, msg)  {ep, f, a, 0, NULL, PERSISTS, -ETIMEDOUT, msg, -1, 0, 0}
#define FAIL_TLS(cert, msg)           {EP_INSTALLER, F_TLS, 0, 0, cert, PERSISTS, -ETIMEDOUT, msg, -1, 0, 0}

static const Case cases[] = {
        /* IMDS instance: 404, 410, 429 and 5xx are retried (Azure's guidance); 400 and 403 are final. */
        FAIL_NOW(EP_INSTANCE, F_STATUS, 400, -EREMOTEIO, "HTTP 400"),
        FAIL_NOW(EP_INSTANCE, F_STATUS, 403, -EREMOTEIO, "HTTP 403"),
        OK(EP_INSTANCE, F_STATUS, 404, 2),
        OK(EP_INSTANCE, F_STATUS, 410, 2),
        OK(EP_INSTANCE, F_STATUS, 429, 2),
        OK_RA(EP_INSTANCE, 429, 1, 1),
        OK(EP_INSTANCE, F_STATUS, 500, 2),
        OK(EP_INSTANCE, F_STATUS, 502, 2),
        OK(EP_INSTANCE, F_STATUS, 503, 2),
        OK(EP_INSTANCE, F_STATUS, 504, 2),
        FAIL_DEADLINE(EP_INSTANCE, F_STATUS, 503, "HTTP 503"),
        /* A Retry-After past the deadline: the wait is clamped to the deadline and one
         * last try happens there (DESIGN: retried until the deadline), never later. */
        {EP_INSTANCE, F_STATUS, 429, 3600, NULL, PERSISTS, -ETIMEDOUT, "HTTP 429", 2, 0, 0},
        OK_ANY(EP_INSTANCE, F_REFUSED, 0, 1),
        FAIL_DEADLINE(EP_INSTANCE, F_REFUSED, 0, "connect"),
        FAIL_DEADLINE(EP_INSTANCE, F_HANG, 0, "timed out"),
        OK(EP_INSTANCE, F_TRUNCATED, 0, 2),
        OK(EP_INSTANCE, F_RESET, 0, 2),
        FAIL_DEADLINE(EP_INSTANCE, F_RESET, 0, "reset"),
        FAIL_NOW(EP_INSTANCE, F_TOO_LARGE, 0, -EFBIG, "larger than 4194304 bytes"),
        FAIL_NOW(EP_INSTANCE, F_MALFORMED, 0, -EBADMSG, "invalid JSON at line 1"),

        /* IMDS userData: the same client; its own cap and decoding. */
        FAIL_NOW(EP_USERDATA, F_STATUS, 400, -EREMOTEIO, "HTTP 400"),
        FAIL_NOW(EP_USERDATA, F_STATUS, 403, -EREMOTEIO, "HTTP 403"),
        OK(EP_USERDATA, F_STATUS, 404, 2),
        OK(EP_USERDATA, F_STATUS, 410, 2),
        OK(EP_USERDATA, F_STATUS, 429, 2),
        OK_RA(EP_USERDATA, 429, 1, 1),
        OK(EP_USERDATA, F_STATUS, 500, 2),
        OK(EP_USERDATA, F_STATUS, 502, 2),
        OK(EP_USERDATA, F_STATUS, 503, 2),
        OK(EP_USERDATA, F_STATUS, 504, 2),
        FAIL_DEADLINE(EP_USERDATA, F_STATUS, 500, "HTTP 500"),
        OK_ANY(EP_USERDATA, F_REFUSED, 0, 1),
        FAIL_DEADLINE(EP_USERDATA, F_REFUSED, 0, "connect"),
        FAIL_DEADLINE(EP_USERDATA, F_HANG, 0, "timed out"),
        OK(EP_USERDATA, F_TRUNCATED, 0, 2),
        OK(EP_USERDATA, F_RESET, 0, 2),
        FAIL_NOW(EP_USERDATA, F_TOO_LARGE, 0, -EFBIG, "larger than 131072 bytes"),
        FAIL_NOW(EP_USERDATA, F_MALFORMED, 0, -EBADMSG, "userData is not base64"),

        /* Wireserver goal state: everything is retried until the deadline. */
        OK(EP_GOALSTATE, F_STATUS, 400, 2),
        OK(EP_GOALSTATE, F_STATUS, 403, 2),
        OK(EP_GOALSTATE, F_STATUS, 404, 2),
        OK(EP_GOALSTATE, F_STATUS, 410, 2),
        OK(EP_GOALSTATE, F_STATUS, 429, 2),
        OK_RA(EP_GOALSTATE, 429, 1, 1),
        OK(EP_GOALSTATE, F_STATUS, 500, 2),
        OK(EP_GOALSTATE, F_STATUS, 502, 2),
        OK(EP_GOALSTATE, F_STATUS, 503, 2),
        OK(EP_GOALSTATE, F_STATUS, 504, 2),
        FAIL_DEADLINE(EP_GOALSTATE, F_STATUS, 503, "goal state: HTTP 503"),
        FAIL_DEADLINE(EP_GOALSTATE, F_STATUS, 403, "goal state: HTTP 403"),
        OK_ANY(EP_GOALSTATE, F_REFUSED, 0, 1),
        FAIL_DEADLINE(EP_GOALSTATE, F_REFUSED, 0, "goal state: connection"),
        FAIL_DEADLINE(EP_GOALSTATE, F_HANG, 0, "goal state: "),
        OK(EP_GOALSTATE, F_TRUNCATED, 0, 2),
        OK(EP_GOALSTATE, F_RESET, 0, 2),
        OK(EP_GOALSTATE, F_TOO_LARGE, 0, 2),
        FAIL_DEADLINE(EP_GOALSTATE, F_TOO_LARGE, 0, "goal state: response too large"),
        OK(EP_GOALSTATE, F_MALFORMED, 0, 2),
        FAIL_DEADLINE(EP_GOALSTATE, F_MALFORMED, 0, "no element found"),

        /* Wireserver health: success is 200/201/202, everything else is retried. */
        OK(EP_HEALTH, F_STATUS, 400, 2),
        OK(EP_HEALTH, F_STATUS, 403, 2),
        OK(EP_HEALTH, F_STATUS, 404, 2),
        OK(EP_HEALTH, F_STATUS, 410, 2),
        OK(EP_HEALTH, F_STATUS, 429, 2),
        OK_RA(EP_HEALTH, 429, 1, 1),
        OK(EP_HEALTH, F_STATUS, 500, 2),
        OK(EP_HEALTH, F_STATUS, 502, 2),
        OK(EP_HEALTH, F_STATUS, 503, 2),
        OK(EP_HEALTH, F_STATUS, 504, 2),
        FAIL_DEADLINE(EP_HEALTH, F_STATUS, 500, "health: HTTP 500"),
        FAIL_DEADLINE(EP_HEALTH, F_HANG, 0, "health: "),
        OK(EP_HEALTH, F_TRUNCATED, 0, 2),
        OK(EP_HEALTH, F_RESET, 0, 2),
        OK(EP_HEALTH, F_TOO_LARGE, 0, 2),

        /* Installer download (HTTPS, CDN policy: 408, 429, 5xx and transport errors retried;
         * other statuses are final). Backoff starts at 1 s here, so faults clear after one. */
        FAIL_NOW(EP_INSTALLER, F_STATUS, 400, -EBADMSG, NULL),
        FAIL_NOW(EP_INSTALLER, F_STATUS, 403, -EBADMSG, NULL),
        FAIL_NOW(EP_INSTALLER, F_STATUS, 404, -EBADMSG, NULL),
        FAIL_NOW(EP_INSTALLER, F_STATUS, 410, -EBADMSG, NULL),
        OK(EP_INSTALLER, F_STATUS, 429, 1),
        OK_RA(EP_INSTALLER, 429, 1, 1),
        OK(EP_INSTALLER, F_STATUS, 500, 1),
        OK(EP_INSTALLER, F_STATUS, 502, 1),
        OK(EP_INSTALLER, F_STATUS, 503, 1),
        OK(EP_INSTALLER, F_STATUS, 504, 1),
        FAIL_DEADLINE(EP_INSTALLER, F_STATUS, 503, "HTTP 503"),
        FAIL_DEADLINE(EP_INSTALLER, F_REFUSED, 0, "connect"),
        FAIL_DEADLINE(EP_INSTALLER, F_HANG, 0, "timed out"),
        OK(EP_INSTALLER, F_TRUNCATED, 0, 1),
        OK(EP_INSTALLER, F_RESET, 0, 1),
        FAIL_NOW(EP_INSTALLER, F_TOO_LARGE, 0, -EFBIG, "larger than 67108864 bytes"),
        FAIL_TLS("untrusted", "certificate"),
        FAIL_TLS("expired", "expired"),
        FAIL_TLS("wronghost", "127.0.0.1"),
};

/* ---- fixtures and settings ------------------------------------------------------ */

static char certs_dir[PATH_MAX];
static char *instance_json, *goalstate_xml, *installer_sh, *userdata_b64;
static int time_scale = 1;

static char *slurp(const char *rel) {
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/%s", tu_top(), rel);
        char *data = NULL;
        if (read_file_capped(path, 4 * 1024 * 1024, &data, NULL) < 0) {
                fprintf(stderr, "test-faults: cannot read %s\n", path);
                exit(1);
        }
        return data;
}

/* The deadline given to the client: long enough for N retries to clear, short when
 * the row fails at it. */
static int64_t deadline_ms(const Case *k) {
        int64_t d = k->times == PERSISTS ? (k->ep == EP_INSTALLER ? 1500 : 1000) : 3000;
        return d * time_scale;
}

/* The healthy answer of each endpoint. */
static FakeResponse healthy(Endpoint ep) {
        switch (ep) {
        case EP_INSTANCE:  return (FakeResponse){.body = instance_json, .content_type = "application/json"};
        case EP_USERDATA:  return (FakeResponse){.body = userdata_b64, .content_type = "text/plain"};
        case EP_GOALSTATE: return (FakeResponse){.body = goalstate_xml, .content_type = "text/xml"};
        case EP_HEALTH:    return (FakeResponse){.status = 200};
        default:           return (FakeResponse){.body = installer_sh};
        }
}

static size_t cap_of(Endpoint ep) {
        switch (ep) {
        case EP_INSTANCE:  return IMDS_MAX_BODY;
        case EP_USERDATA:  return 128u * 1024;        /* lib/imds.c IMDS_USERDATA_BODY_MAX */
        case EP_GOALSTATE: return 1024u * 1024;       /* lib/wireserver.c GOALSTATE_MAX_SIZE */
        case EP_HEALTH:    return 64u * 1024;         /* lib/wireserver.c HEALTH_RESPONSE_MAX */
        default:           return INSTALLER_MAX_SIZE;
        }
}

static const char *malformed(Endpoint ep) {
        switch (ep) {
        case EP_INSTANCE:  return "{\"compute\": {\"vmId\": \"6f1c1a8e\", ";
        case EP_USERDATA:  return "this is *not* base64!";
        default:           return "<GoalState><Incarnation>1</Incarnation><Container>";
        }
}

static void route_all_healthy(FakeServer *s) {
        for (int ep = 0; ep < _EP_MAX; ep++) {
                FakeResponse r = healthy((Endpoint)ep);
                ck_assert_int_eq(fake_server_route(s, endpoints[ep].method, endpoints[ep].path, &r, 1), 0);
        }
}

static FakeServer *start_fake(const char *leaf, unsigned port) {
        char cert[PATH_MAX + 32], key[PATH_MAX + 32];
        snprintf(cert, sizeof cert, "%s/%s.pem", certs_dir, leaf);
        snprintf(key, sizeof key, "%s/%s-key.pem", certs_dir, leaf);
        FakeServer *s = fake_server_start(&(FakeServerOptions){.cert_file = cert, .key_file = key, .port = port});
        ck_assert_ptr_nonnull(s);
        route_all_healthy(s);
        return s;
}

/* A port nothing listens on: bound, then closed. */
static unsigned closed_port(void) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        ck_assert_int_ge(fd, 0);
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t len = sizeof sa;
        ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
        ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
        close(fd);
        return ntohs(sa.sin_port);
}

/* ---- a raw server for resets mid-body ------------------------------------------- */

typedef struct Raw {
        int fd;
        unsigned port;
        pthread_t thread;
        Endpoint ep;           /* the faulty route */
        int resets;            /* resets left; PERSISTS: forever */
        int hits;              /* requests on the faulty route */
        volatile int stop;
} Raw;

/* Reads one request (head and Content-Length body); returns the endpoint it names or -1. */
static int raw_read_request(int c) {
        char buf[16384];
        size_t n = 0;
        char *end = NULL;
        while (!end) {
                if (n >= sizeof buf - 1) return -1;
                struct pollfd p = {.fd = c, .events = POLLIN};
                if (poll(&p, 1, 5000) <= 0) return -1;
                ssize_t k = read(c, buf + n, sizeof buf - 1 - n);
                if (k <= 0) return -1;
                n += (size_t)k;
                buf[n] = 0;
                end = strstr(buf, "\r\n\r\n");
        }
        size_t want = 0;
        const char *cl = strcasestr(buf, "\r\nContent-Length:");
        if (cl && cl < end) want = strtoul(cl + 17, NULL, 10);
        size_t have = n - (size_t)(end + 4 - buf);
        while (have < want) {
                char sink[4096];
                ssize_t k = read(c, sink, sizeof sink);
                if (k <= 0) return -1;
                have += (size_t)k;
        }
        for (int ep = 0; ep < _EP_MAX; ep++) {
                size_t ml = strlen(endpoints[ep].method), pl = strlen(endpoints[ep].path);
                const char *p = buf + ml + 1;
                if (strncmp(buf, endpoints[ep].method, ml) == 0 && buf[ml] == ' ' && strncmp(p, endpoints[ep].path, pl) == 0 &&
                    (p[pl] == ' ' || p[pl] == '?'))
                        return ep;
        }
        return -1;
}

static void raw_send(int c, const char *data, size_t len) {
        while (len > 0) {
                ssize_t k = send(c, data, len, MSG_NOSIGNAL);
                if (k <= 0) return;
                data += k;
                len -= (size_t)k;
        }
}

static void *raw_main(void *arg) {
        Raw *r = arg;
        while (!r->stop) {
                struct pollfd p = {.fd = r->fd, .events = POLLIN};
                if (poll(&p, 1, 50) <= 0) continue;
                int c = accept4(r->fd, NULL, NULL, SOCK_CLOEXEC);
                if (c < 0) continue;
                int ep = raw_read_request(c);
                char head[256];
                if (ep < 0) {
                        static const char nf[] = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
                        raw_send(c, nf, sizeof nf - 1);
                        close(c);
                        continue;
                }
                FakeResponse h = healthy((Endpoint)ep);
                const char *body = h.body ? h.body : "";
                size_t len = strlen(body);
                if (ep == (int)r->ep) r->hits++;
                if (ep == (int)r->ep && r->resets != 0) {
                        if (r->resets > 0) r->resets--;
                        /* Half of the body (or of a padding body for the empty health answer),
                         * then close with SO_LINGER 0: the peer gets an RST, not a FIN. */
                        const char *part = len > 0 ? body : "xxxxxxxxxxxxxxxxxxxx";
                        size_t total = len > 0 ? len : 20;
                        int hn = snprintf(head, sizeof head, "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n", total);
                        raw_send(c, head, (size_t)hn);
                        raw_send(c, part, total / 2);
                        struct linger lg = {.l_onoff = 1, .l_linger = 0};
                        setsockopt(c, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
                        close(c);
                        continue;
                }
                int hn = snprintf(head, sizeof head, "HTTP/1.1 %d OK\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
                                  h.status ? h.status : 200, len);
                raw_send(c, head, (size_t)hn);
                raw_send(c, body, len);
                shutdown(c, SHUT_WR);
                char sink[256];
                struct pollfd q = {.fd = c, .events = POLLIN};
                while (poll(&q, 1, 1000) > 0 && read(c, sink, sizeof sink) > 0) {}
                close(c);
        }
        return NULL;
}

static void raw_start(Raw *r, Endpoint ep, int resets) {
        *r = (Raw){.ep = ep, .resets = resets};
        r->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        ck_assert_int_ge(r->fd, 0);
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t len = sizeof sa;
        ck_assert_int_eq(bind(r->fd, (struct sockaddr *)&sa, sizeof sa), 0);
        ck_assert_int_eq(listen(r->fd, 16), 0);
        ck_assert_int_eq(getsockname(r->fd, (struct sockaddr *)&sa, &len), 0);
        r->port = ntohs(sa.sin_port);
        ck_assert_int_eq(pthread_create(&r->thread, NULL, raw_main, r), 0);
}

static void raw_stop(Raw *r) {
        r->stop = 1;
        pthread_join(r->thread, NULL);
        close(r->fd);
}

/* ---- a server that starts late (connection refused, then cleared) --------------- */

typedef struct Late {
        pthread_t thread;
        unsigned port;
        int delay_ms;
        FakeServer *server;
} Late;

static void *late_main(void *arg) {
        Late *l = arg;
        sleep_ms(l->delay_ms);
        l->server = start_fake("server", l->port);
        return NULL;
}

/* ---- the runner ------------------------------------------------------------------- */

typedef struct Outcome {
        int rc;
        char msg[512];
        int retries;           /* notify calls */
        int64_t ms;
} Outcome;

static void count_retry(void *userdata, int attempt, const char *what, int64_t delay_ms) {
        Outcome *o = userdata;
        o->retries++;
}

static void call_endpoint(const Case *k, const char *base, Outcome *o) {
        int64_t deadline = deadline_ms(k);
        int64_t t0 = now_monotonic_ms();
        switch (k->ep) {
        case EP_INSTANCE: {
                ImdsClient c = {.base_url = base, .deadline_ms = deadline, .notify = count_retry, .userdata = o};
                _cleanup_(imds_instance_freep) ImdsInstance *inst = NULL;
                o->rc = imds_fetch_instance(&c, &inst, o->msg, sizeof o->msg);
                if (o->rc == 0) ck_assert_str_eq(inst->vm_id, FIXTURE_VMID);
                break;
        }
        case EP_USERDATA: {
                ImdsClient c = {.base_url = base, .deadline_ms = deadline, .notify = count_retry, .userdata = o};
                _cleanup_free_ char *data = NULL;
                size_t len = 0;
                o->rc = imds_fetch_userdata(&c, &data, &len, o->msg, sizeof o->msg);
                if (o->rc == 0) {
                        ck_assert_uint_eq(len, strlen(USERDATA_TEXT));
                        ck_assert_int_eq(memcmp(data, USERDATA_TEXT, len), 0);
                }
                break;
        }
        case EP_GOALSTATE:
        case EP_HEALTH: {
                WireserverClient c = {.base_url = base, .deadline_ms = deadline, .agent_name = "vsensor-init/test",
                                      .notify = count_retry, .userdata = o};
                _cleanup_free_ char *body = NULL;
                o->rc = wireserver_report(&c, true, NULL, &body, o->msg, sizeof o->msg);
                if (o->rc == 0) {
                        ck_assert_ptr_nonnull(strstr(body, "<State>Ready</State>"));
                        ck_assert_ptr_nonnull(strstr(body, FIXTURE_CONTAINER));
                }
                break;
        }
        default: {
                /* The request and policy of agent/step-install.c, with a short deadline. */
                char ca[PATH_MAX + 16], url[256], file[] = "/tmp/test-faults-installer.XXXXXX";
                snprintf(ca, sizeof ca, "%s/ca.pem", certs_dir);
                snprintf(url, sizeof url, "%s/install", base);
                _cleanup_close_ int fd = mkostemp(file, O_CLOEXEC);
                ck_assert_int_ge(fd, 0);
                unlink(file);
                HttpRequest req = {
                        .url = url,
                        .max_body = INSTALLER_MAX_SIZE,
                        .connect_timeout_ms = 10000,
                        .total_timeout_ms = 600000,
                        .ca_file = ca,
                        .out_fd = fd,
                };
                RetryPolicy policy = {.deadline_ms = deadline, .base_ms = 1000, .max_ms = 30000,
                                      .status_retryable = retry_status_default};
                HttpResponse resp = {0};
                o->rc = retry_http(&req, &policy, count_retry, o, &resp);
                if (o->rc < 0 && resp.message[0])
                        snprintf(o->msg, sizeof o->msg, "%s", resp.message);
                else if (o->rc < 0)
                        snprintf(o->msg, sizeof o->msg, "HTTP %ld", resp.status);
                if (o->rc == -EBADMSG) ck_assert_int_eq(resp.status, k->arg);
                if (o->rc == 0) {
                        /* The file holds exactly one whole copy: a failed try's bytes were dropped. */
                        size_t want = strlen(installer_sh);
                        ck_assert_uint_eq(resp.body_len, want);
                        _cleanup_free_ char *got = malloc(want + 1);
                        ck_assert_int_eq(pread(fd, got, want + 1, 0), (ssize_t)want);
                        ck_assert_int_eq(memcmp(got, installer_sh, want), 0);
                }
                http_response_clear(&resp);
                break;
        }
        }
        o->ms = now_monotonic_ms() - t0;
}

START_TEST(fault_matrix) {
        const Case *k = &cases[_i];
        const char *ep_path = endpoints[k->ep].path;
        bool https = k->ep == EP_INSTALLER;
        FakeServer *s = NULL;
        Raw raw = {.fd = -1};
        Late late = {0};
        char base[128];
        Outcome o = {0};

        if (k->fault == F_RESET) {
                raw_start(&raw, k->ep, k->times);
                snprintf(base, sizeof base, "http://127.0.0.1:%u", raw.port);
        } else if (k->fault == F_REFUSED) {
                unsigned port = closed_port();
                snprintf(base, sizeof base, "%s://127.0.0.1:%u", https ? "https" : "http", port);
                if (k->times != PERSISTS) {
                        ck_assert(!https);   /* the fake's HTTPS port cannot be chosen */
                        late = (Late){.port = port, .delay_ms = 400 * time_scale};
                        ck_assert_int_eq(pthread_create(&late.thread, NULL, late_main, &late), 0);
                }
        } else {
                s = start_fake(k->fault == F_TLS ? k->cert : "server", 0);
                _cleanup_free_ char *u = fake_server_url(s, https);
                snprintf(base, sizeof base, "%s", u);
                FakeResponse bad = {.times = k->times == PERSISTS ? 1 : k->times};
                char headers[64];
                switch (k->fault) {
                case F_STATUS:
                        bad.status = k->arg;
                        bad.body = "fault\n";
                        if (k->retry_after > 0) {
                                snprintf(headers, sizeof headers, "Retry-After: %d\n", k->retry_after);
                                bad.headers = headers;
                        }
                        break;
                case F_HANG:
                        bad.hang = true;
                        break;
                case F_TRUNCATED:
                        bad = healthy(k->ep);
                        bad.times = k->times == PERSISTS ? 1 : k->times;
                        if (!bad.body) bad.body = "a health answer the client never reads";
                        bad.truncate_at = (long)strlen(bad.body) / 2;
                        break;
                case F_TOO_LARGE:
                        bad.body_repeat_size = cap_of(k->ep) + 1;
                        break;
                case F_MALFORMED:
                        bad.body = malformed(k->ep);
                        break;
                default:
                        break;
                }
                FakeResponse script[2] = {bad, healthy(k->ep)};
                if (k->fault != F_TLS)
                        ck_assert_int_eq(fake_server_route(s, endpoints[k->ep].method, ep_path, script,
                                                           k->times == PERSISTS ? 1 : 2), 0);
        }

        call_endpoint(k, base, &o);

        size_t tries = 0;
        if (late.thread) {
                pthread_join(late.thread, NULL);
                ck_assert_ptr_nonnull(late.server);
                tries = fake_server_count(late.server, endpoints[k->ep].method, ep_path);
                fake_server_stop(late.server);
        }
        if (raw.fd >= 0) {
                raw_stop(&raw);
                tries = (size_t)raw.hits;
        }
        if (s) {
                tries = fake_server_count(s, endpoints[k->ep].method, ep_path);
                fake_server_stop(s);
        }

        int64_t deadline = deadline_ms(k);
        int64_t max = k->max_ms > 0 ? (int64_t)k->max_ms * time_scale
                    : k->want_rc == 0 ? deadline : deadline + 1000 * time_scale;
        printf("fault %-22s %-10s %4d %-9s %-9s -> rc %d, %d retries, %lld ms%s%s\n", endpoints[k->ep].name,
               k->fault == F_STATUS ? "status" : k->fault == F_REFUSED ? "refused" : k->fault == F_HANG ? "hang"
               : k->fault == F_TRUNCATED ? "truncated" : k->fault == F_RESET ? "reset" : k->fault == F_TOO_LARGE ? "too-large"
               : k->fault == F_MALFORMED ? "malformed" : "tls",
               k->arg, k->retry_after > 0 ? "+RA" : k->cert ? k->cert : "", k->times == PERSISTS ? "persists" : "clears", o.rc, o.retries, (long long)o.ms,
               o.msg[0] ? ": " : "", o.msg);

        ck_assert_msg(o.rc == k->want_rc, "row %d (%s): rc %d (%s), want %d", _i, endpoints[k->ep].name, o.rc,
                      strerror(-o.rc), k->want_rc);
        if (k->want_msg)
                ck_assert_msg(strcasestr(o.msg, k->want_msg), "row %d: message \"%s\" lacks \"%s\"", _i, o.msg, k->want_msg);
        if (k->want_rc != 0) ck_assert_msg(o.msg[0], "row %d: no error message", _i);
        if (k->want_tries >= 0)
                ck_assert_msg(tries == (size_t)k->want_tries, "row %d: %zu requests, want %d", _i, tries, k->want_tries);
        ck_assert_msg(o.ms <= max, "row %d: took %lld ms, at most %lld", _i, (long long)o.ms, (long long)max);
        ck_assert_msg(o.ms >= k->min_ms, "row %d: took %lld ms, Retry-After wanted %d", _i, (long long)o.ms, k->min_ms);
        /* A fault that clears was retried; one that fails at the deadline was retried too
         * unless the first try used the whole budget. */
        if (k->want_rc == 0) ck_assert_msg(o.retries >= 1, "row %d: succeeded without a retry", _i);
        if (k->want_tries == 1 && k->want_rc != -ETIMEDOUT) ck_assert_int_eq(o.retries, 0);
}
END_TEST

static Suite *faults_suite(void) {
        Suite *s = suite_create("faults");
        TCase *tc = tcase_create("matrix");
        tcase_set_timeout(tc, 20.0 * time_scale);
        tcase_add_loop_test(tc, fault_matrix, 0, (int)ELEMENTSOF(cases));
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        const char *certs = getenv("CERTS");
        snprintf(certs_dir, sizeof certs_dir, "%s", certs && *certs ? certs : "build/test/certs");
        char probe[PATH_MAX + 16];
        snprintf(probe, sizeof probe, "%s/expired.pem", certs_dir);
        if (access(probe, R_OK) < 0) {
                fprintf(stderr, "test-faults: no test certificates in %s (set CERTS; make builds them)\n", certs_dir);
                return 1;
        }
        const char *scale = getenv("FAULTS_TIME_SCALE"), *preload = getenv("LD_PRELOAD");
        if (scale && atoi(scale) > 0)
                time_scale = atoi(scale);
        else if (preload && strstr(preload, "vgpreload"))
                time_scale = 12;  /* valgrind (suites side by side) */

        instance_json = slurp("test/data/imds/instance.json");
        goalstate_xml = slurp("test/data/wireserver/goalstate.xml");
        installer_sh = slurp("test/fake/installer.sh");
        userdata_b64 = base64_encode(USERDATA_TEXT, strlen(USERDATA_TEXT));
        if (http_global_init() < 0) return 1;

        int status = tu_run_suite(faults_suite());
        http_global_cleanup();
        free(instance_json);
        free(goalstate_xml);
        free(installer_sh);
        free(userdata_b64);
        return status;
}
