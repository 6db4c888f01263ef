/* e2e: a vSensor's life after the helpers — the verify step (health endpoint until 200
 * or the deadline, exit 75 and a resume at verify, Ready waits for it in late mode, a
 * non-loopback URL refused before any step) and `vsensor-init watch` (Scheduled Events:
 * this instance's Terminate or Preempt drained and approved once, other instances'
 * events never, Freeze/Reboot/Redeploy logged once, a hanging drain killed at its
 * deadline, IMDS down then back, a restart mid-drain, SIGTERM), against the fake
 * server's Scheduled Events route replaying the fixtures of test/data/scheduledevents/. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "e2e.h"
#include "kvp.h"
#include "schedevents.h"
#include "testutil.h"

static E2e e;
static FakeServer *health;   /* the vSensor's health endpoint, self-signed (untrusted) */

#define LOG_FILE "/var/log/user-data.log"
#define KVP_POOL "/var/lib/hyperv/.kvp_pool_1"
#define WATCH_STATE "/var/lib/vsensor-init/scheduled-events.json"
#define INSTANCE "vsensor-vmss_3"          /* compute.name of test/data/imds/instance.json */
#define TERMINATE_ID "f020ba2e-3bc0-4c40-a10b-86575a9eabd5"
#define FREEZE_ID "5b2b8cf4-3f4e-4bb8-9a6f-0c1e2d3f4a01"
#define DRAIN "/usr/local/sbin/vsensor-drain"

#define RUN(...) e2e_run(&e, (const char *[]){__VA_ARGS__, NULL})

static void teardown(void) {
        fake_server_stop(health);
        health = NULL;
        e2e_teardown(&e);
}

static void append_config(const char *text) {
        FILE *f = fopen(e.config, "ae");
        ck_assert_ptr_nonnull(f);
        fputs(text, f);
        fclose(f);
}

static size_t count_of(const char *haystack, const char *needle) {
        size_t n = 0;
        for (const char *p = haystack; p && (p = strstr(p, needle)); p += strlen(needle)) n++;
        return n;
}

/* ---- verify ---- */

/* A health endpoint with a certificate the agent does not trust: verify must not care. */
static char *start_health(const FakeResponse *r, size_t n) {
        const char *certs = getenv("CERTS") ? getenv("CERTS") : "build/test/certs";
        char cert[512], key[512];
        snprintf(cert, sizeof cert, "%s/untrusted.pem", certs);
        snprintf(key, sizeof key, "%s/untrusted-key.pem", certs);
        health = fake_server_start(&(FakeServerOptions){.cert_file = cert, .key_file = key});
        ck_assert_ptr_nonnull(health);
        ck_assert_int_eq(fake_server_route(health, "GET", "/healthcheck", r, n), 0);
        _cleanup_free_ char *base = fake_server_url(health, true);
        char *url = strjoin(base, "/healthcheck", NULL);
        ck_assert_ptr_nonnull(url);
        return url;
}

static void verify_config(const char *url, int deadline) {
        char text[512];
        snprintf(text, sizeof text, "verify: { url: \"%s\", deadline: %d }\n", url, deadline);
        append_config(text);
}

static json_t *step_record(const char *step) {
        ck_assert_int_eq(RUN("status", "--json"), 0);
        json_t *st = json_loads(e.out, 0, NULL);
        ck_assert_msg(st != NULL, "status --json is not JSON: %s", e.out);
        json_t *found = NULL, *r;
        size_t i;
        json_array_foreach(json_object_get(st, "steps"), i, r)
                if (streq(json_string_value(json_object_get(r, "name")), step)) found = json_incref(r);
        json_decref(st);
        ck_assert_ptr_nonnull(found);
        return found;
}

START_TEST(verify_succeeds_after_failures) {
        e2e_setup(&e, NULL);
        e2e_serve_userdata(&e, e2e_custom_data);
        FakeResponse r[] = {{.status = 503, .body = "starting", .times = 2}, {.status = 200, .body = "ok"}};
        _cleanup_free_ char *url = start_health(r, ELEMENTSOF(r));
        verify_config(url, 20);
        ck_assert_int_eq(RUN("run"), 0);
        ck_assert_uint_eq(fake_server_count(health, "GET", "/healthcheck"), 3);
        _cleanup_free_ char *log = e2e_read(&e, LOG_FILE);
        ck_assert_contains(log, "verify: ");
        ck_assert_contains(log, "HTTP 503: starting (try 1)");
        ck_assert_contains(log, "answered 200 after 3 tries");
        /* Every 2 s: three tries take at least 4 s. */
        json_t *reqs = fake_server_requests(health);
        int64_t t0 = json_integer_value(json_object_get(json_array_get(reqs, 0), "time_ms"));
        int64_t t2 = json_integer_value(json_object_get(json_array_get(reqs, 2), "time_ms"));
        json_decref(reqs);
        ck_assert_int_ge(t2 - t0, 3900);
        json_t *rec = step_record("verify");
        ck_assert_str_eq(json_string_value(json_object_get(rec, "state")), "done");
        ck_assert_int_eq(json_integer_value(json_object_get(rec, "attempts")), 1);
        json_decref(rec);
        ck_assert(e2e_exists(&e, "/etc/darktrace/.user-data-success"));
        e2e_assert_no_secrets(&e);
}
END_TEST

START_TEST(verify_times_out_with_75_and_the_rerun_resumes_at_verify) {
        e2e_setup(&e, NULL);
        e2e_serve_userdata(&e, e2e_custom_data);
        FakeResponse down = {.status = 502, .body = "bad gateway"};
        _cleanup_free_ char *url = start_health(&down, 1);
        verify_config(url, 3);
        ck_assert_int_eq(RUN("run"), 75);
        ck_assert_contains(e.err, url);
        ck_assert_contains(e.err, "last answer: HTTP 502: bad gateway");
        ck_assert(!e2e_exists(&e, "/etc/darktrace/.user-data-success"));
        json_t *rec = step_record("verify");
        ck_assert_str_eq(json_string_value(json_object_get(rec, "state")), "failed");
        ck_assert_int_eq(json_integer_value(json_object_get(rec, "attempts")), 1);
        ck_assert_contains(json_string_value(json_object_get(rec, "error")), "did not answer 200 within 3 s (2 tries)");
        ck_assert_contains(json_string_value(json_object_get(rec, "error")), "last answer: HTTP 502");
        json_decref(rec);
        ck_assert_int_eq(RUN("status"), 0);
        ck_assert_contains(e.out, "verify");
        ck_assert_contains(e.out, "last answer: HTTP 502");

        /* The vSensor comes up: the next run checks verify again, and nothing before it. */
        _cleanup_free_ char *calls = e2e_helper_calls(&e);
        size_t installs = e2e_count(&e, "GET", "/install");
        ck_assert_int_eq(fake_server_route(health, "GET", "/healthcheck", &(FakeResponse){.status = 200}, 1), 0);
        ck_assert_int_eq(RUN("run"), 0);
        _cleanup_free_ char *calls2 = e2e_helper_calls(&e);
        ck_assert_str_eq(calls2, calls);
        ck_assert_uint_eq(e2e_count(&e, "GET", "/install"), installs);
        rec = step_record("verify");
        ck_assert_str_eq(json_string_value(json_object_get(rec, "state")), "done");
        ck_assert_int_eq(json_integer_value(json_object_get(rec, "attempts")), 2);
        json_decref(rec);
        rec = step_record("register");
        ck_assert_int_eq(json_integer_value(json_object_get(rec, "attempts")), 1);
        json_decref(rec);
        ck_assert(e2e_exists(&e, "/etc/darktrace/.user-data-success"));
        e2e_assert_no_secrets(&e);
}
END_TEST

START_TEST(late_ready_waits_for_verify) {
        e2e_setup(&e, &(E2eOptions){.provisioning = "agent", .report_ready = "late"});
        e2e_serve_userdata(&e, e2e_custom_data);
        FakeResponse r[] = {{.status = 503, .times = 1}, {.status = 200}};
        _cleanup_free_ char *url = start_health(r, ELEMENTSOF(r));
        verify_config(url, 20);
        ck_assert_int_eq(RUN("run"), 0);
        /* One health report, Ready, sent after the 200. */
        json_t *reqs = fake_server_requests(e.fake);
        json_t *hr = fake_server_requests(health);
        int64_t ok_at = json_integer_value(json_object_get(json_array_get(hr, 1), "time_ms"));
        size_t i, reports = 0;
        json_t *q;
        json_array_foreach(reqs, i, q) {
                if (!streq(json_string_value(json_object_get(q, "method")), "POST") ||
                    !streq(json_string_value(json_object_get(q, "path")), "/machine"))
                        continue;
                reports++;
                ck_assert_contains(json_string_value(json_object_get(q, "body")), "<State>Ready</State>");
                ck_assert_int_ge(json_integer_value(json_object_get(q, "time_ms")), ok_at);
        }
        json_decref(reqs);
        json_decref(hr);
        ck_assert_uint_eq(reports, 1);
}
END_TEST

START_TEST(late_ready_never_reports_ready_when_verify_fails) {
        e2e_setup(&e, &(E2eOptions){.provisioning = "agent", .report_ready = "late"});
        e2e_serve_userdata(&e, e2e_custom_data);
        _cleanup_free_ char *url = start_health(&(FakeResponse){.status = 503}, 1);
        verify_config(url, 2);
        ck_assert_int_eq(RUN("run"), 75);
        json_t *reqs = fake_server_requests(e.fake);
        size_t i, reports = 0;
        json_t *q;
        json_array_foreach(reqs, i, q) {
                if (!streq(json_string_value(json_object_get(q, "path")), "/machine") ||
                    !streq(json_string_value(json_object_get(q, "method")), "POST"))
                        continue;
                reports++;
                const char *body = json_string_value(json_object_get(q, "body"));
                ck_assert_contains(body, "<State>NotReady</State>");
                ck_assert_contains(body, "step verify failed");
                ck_assert_not_contains(body, "<State>Ready</State>");
        }
        json_decref(reqs);
        ck_assert_uint_eq(reports, 1);
}
END_TEST

static const char *const bad_verify_urls[] = {
        "https://10.0.0.4/healthcheck", "https://localhost/healthcheck", "https://127.0.0.1.example.com/",
        "https://user@127.0.0.1/", "ftp://127.0.0.1/",
};

START_TEST(verify_url_not_loopback_is_refused_before_any_step) {
        e2e_setup(&e, NULL);
        e2e_serve_userdata(&e, e2e_custom_data);
        verify_config(bad_verify_urls[_i], 10);
        ck_assert_int_eq(RUN("run"), 65);
        ck_assert_contains(e.err, "verify.url: expected \"\" or an http:// or https:// URL whose host is a loopback address");
        ck_assert(!e2e_exists(&e, LOG_FILE));
        ck_assert(!e2e_exists(&e, "/var/lib/vsensor-init/state.json"));
        ck_assert_uint_eq(e2e_count(&e, "GET", "/metadata/instance"), 0);
}
END_TEST

START_TEST(verify_url_empty_skips_the_step) {
        e2e_setup(&e, NULL);
        e2e_serve_userdata(&e, e2e_custom_data);
        ck_assert_int_eq(RUN("run"), 0);
        json_t *rec = step_record("verify");
        ck_assert_str_eq(json_string_value(json_object_get(rec, "state")), "skipped");
        json_decref(rec);
}
END_TEST

/* ---- watch ---- */

/* A fixture with this instance's name for "vmss_vm1" and NotBefore "+not_before_s"
 * (when > 0); a new string. */
static char *fixture(const char *name, int not_before_s) {
        char rel[128];
        snprintf(rel, sizeof rel, "scheduledevents/%s", name);
        _cleanup_free_ char *text = tu_read_data(rel, NULL);
        json_t *doc = json_loads(text, 0, NULL);
        ck_assert_ptr_nonnull(doc);
        size_t i, j;
        json_t *ev, *res;
        json_array_foreach(json_object_get(doc, "Events"), i, ev) {
                json_array_foreach(json_object_get(ev, "Resources"), j, res)
                        if (streq(json_string_value(res), "vmss_vm1")) json_array_set_new(json_object_get(ev, "Resources"), j, json_string(INSTANCE));
                if (not_before_s > 0 && *json_string_value(json_object_get(ev, "NotBefore"))) {
                        char nb[32];
                        snprintf(nb, sizeof nb, "+%d", not_before_s);
                        json_object_set_new(ev, "NotBefore", json_string(nb));
                }
        }
        char *out = json_dumps(doc, JSON_COMPACT);
        json_decref(doc);
        return out;
}

static void serve(const FakeEventsStep *steps, size_t n) {
        ck_assert_int_eq(fake_server_scheduled_events(e.fake, steps, n), 0);
}

static void serve_fixture(const char *name, int not_before_s) {
        _cleanup_free_ char *doc = fixture(name, not_before_s);
        serve(&(FakeEventsStep){.document = doc}, 1);
}

/* The drain command: records "start REALTIME_MS" and "end REALTIME_MS" (and its pid and
 * arguments) in /drain.log under the root, sleeping seconds in between. */
static void put_drain(const char *name, const char *sleep_s) {
        char script[1024];
        snprintf(script, sizeof script,
                 "#!/bin/sh\n"
                 "log=\"$VSENSOR_INIT_ROOT/drain.log\"\n"
                 "echo \"start $(date +%%s%%3N) pid=$$ args=$*\" >>\"$log\"\n"
                 "echo \"draining the vSensor ($*)\"\n"
                 "cat %s/leak.txt 2>/dev/null\n"   /* a secret, when the test put one there */
                 "sleep %s\n"
                 "echo \"end $(date +%%s%%3N)\" >>\"$log\"\n",
                 e.dir, sleep_s);
        e2e_put(&e, name, script, 0755);
}

static void watch_config(const char *drain_commands, int drain_deadline) {
        char text[1024];
        snprintf(text, sizeof text,
                 "scheduled_events:\n  enabled: true\n  poll_interval: 0.2\n  drain_deadline: %d\n  drain_commands: %s\n",
                 drain_deadline, drain_commands);
        append_config(text);
}

static pid_t start_watch(void) {
        e.die_with_test = true;   /* a failed assertion must not leave a watcher behind */
        return e2e_start(&e, (const char *[]){"watch", NULL});
}

static int stop_watch(pid_t pid) {
        ck_assert_int_eq(kill(pid, SIGTERM), 0);
        return e2e_wait(&e, pid);
}

static size_t approvals(void) {
        json_t *a = fake_server_approvals(e.fake);
        size_t n = json_array_size(a);
        json_decref(a);
        return n;
}

/* Waits until the fake has seen n approvals, at most ms. */
static bool wait_approvals(size_t n, int ms) {
        for (int64_t end = now_monotonic_ms() + ms; now_monotonic_ms() < end; sleep_ms(20))
                if (approvals() >= n) return true;
        return approvals() >= n;
}

static size_t polls(void) {
        return e2e_count(&e, "GET", "/metadata/scheduledevents");
}

static void wait_polls(size_t n, int ms) {
        for (int64_t end = now_monotonic_ms() + ms; now_monotonic_ms() < end && polls() < n;) sleep_ms(20);
        ck_assert_uint_ge(polls(), n);
}

static int64_t drain_time(const char *log, const char *word, int nth) {
        const char *p = log;
        for (int i = 0; p && i <= nth; i++) {
                p = strstr(p, word);
                if (p && i < nth) p += strlen(word);
        }
        ck_assert_msg(p != NULL, "no %s #%d in drain.log:\n%s", word, nth, log ? log : "(none)");
        return strtoll(p + strlen(word) + 1, NULL, 10);
}

START_TEST(own_terminate_is_drained_then_approved_once) {
        e2e_setup(&e, NULL);
        /* A bootstrapped instance: the kept custom data holds the secrets, and the drain
         * command prints one. */
        e2e_put(&e, "/var/lib/vsensor-init/custom-data", e2e_custom_data, 0600);
        e2e_write_file(&e, "leak.txt", "token " CANARY_PUSH_TOKEN "\n");
        serve_fixture("terminate-scheduled.json", 30);
        put_drain(DRAIN, "0.3");
        watch_config("[[\"" DRAIN "\", \"--reason\", \"scale-in\"]]", 20);
        pid_t pid = start_watch();
        ck_assert(wait_approvals(1, 8000));
        size_t seen = polls();
        wait_polls(seen + 5, 5000);   /* later polls approve nothing more */
        ck_assert_int_eq(stop_watch(pid), 0);

        json_t *a = fake_server_approvals(e.fake);
        ck_assert_uint_eq(json_array_size(a), 1);
        json_t *ap = json_array_get(a, 0);
        const char *body = json_string_value(json_object_get(ap, "body"));
        ck_assert_str_eq(body, "{\"StartRequests\":[{\"EventId\":\"" TERMINATE_ID "\"}]}");
        ck_assert_int_eq(json_integer_value(json_object_get(ap, "status")), 200);
        int64_t approved_at = json_integer_value(json_object_get(ap, "realtime_ms"));

        /* The drain ran once, with its arguments, and ended before the approval; the
         * approval came before NotBefore (30 s after the first poll). */
        _cleanup_free_ char *drain = e2e_read(&e, "/drain.log");
        ck_assert_uint_eq(count_of(drain, "start "), 1);
        ck_assert_contains(drain, "args=--reason scale-in");
        int64_t drain_start = drain_time(drain, "start", 0), drain_end = drain_time(drain, "end", 0);
        ck_assert_int_le(drain_end, approved_at);
        json_t *reqs = fake_server_requests(e.fake);
        size_t i;
        json_t *q;
        int64_t first_poll_mono = -1;
        json_array_foreach(reqs, i, q) {
                if (!streq(json_string_value(json_object_get(q, "path")), "/metadata/scheduledevents")) continue;
                ck_assert_str_eq(json_string_value(json_object_get(json_object_get(q, "headers"), "metadata")), "true");
                ck_assert_str_eq(json_string_value(json_object_get(q, "query")), "api-version=2020-07-01");
                if (first_poll_mono < 0) first_poll_mono = json_integer_value(json_object_get(q, "time_ms"));
        }
        json_decref(reqs);
        int64_t approved_mono = json_integer_value(json_object_get(ap, "time_ms"));
        ck_assert_int_lt(approved_mono - first_poll_mono, 30000);
        json_decref(a);

        /* The log, the KVP record (provisioning: none does not stop it), the state. */
        _cleanup_free_ char *log = e2e_read(&e, LOG_FILE);
        ck_assert_uint_eq(count_of(log, "scheduled event " TERMINATE_ID ": Terminate of this instance"), 1);
        ck_assert_contains(log, "vsensor-drain[stdout]: draining the vSensor (--reason scale-in)");
        ck_assert_contains(log, "vsensor-drain[stdout]: token (hidden)");
        ck_assert_contains(log, "drain ended after");
        ck_assert_uint_eq(count_of(log, "approved scheduled event " TERMINATE_ID), 1);
        _cleanup_free_ char *pool = path_under_root(e.root, KVP_POOL);
        char **keys = NULL, **values = NULL;
        size_t n = 0;
        ck_assert_int_eq(kvp_read_all(pool, &keys, &values, &n), 0);
        ck_assert_uint_eq(n, 1);
        ck_assert_str_eq(keys[0], "SCHEDULED_EVENT");
        ck_assert_msg(strncmp(values[0], "type=Terminate|event_id=" TERMINATE_ID "|not_before=", 69) == 0, "%s", values[0]);
        int64_t nb_ms = 0;
        ck_assert_int_eq(schedevents_parse_time(strstr(values[0], "not_before=") + 11, &nb_ms), 0);
        ck_assert_int_lt(approved_at, nb_ms);
        strv_free(keys);
        strv_free(values);

        ck_assert_int_eq(RUN("status"), 0);
        ck_assert_contains(e.out, "Watcher: instance " INSTANCE);
        ck_assert_contains(e.out, TERMINATE_ID);
        ck_assert_int_eq(e2e_mode(&e, WATCH_STATE), 0600);
        ck_assert_int_eq(RUN("status", "--json"), 0);
        json_t *st = json_loads(e.out, 0, NULL);
        json_t *ev = json_array_get(json_object_get(json_object_get(st, "watch"), "events"), 0);
        ck_assert_str_eq(json_string_value(json_object_get(ev, "id")), TERMINATE_ID);
        ck_assert_str_eq(json_string_value(json_object_get(ev, "drain_result")), "done");
        ck_assert_ptr_nonnull(json_string_value(json_object_get(ev, "approved")));
        char first_seen[40];
        snprintf(first_seen, sizeof first_seen, "%s", json_string_value(json_object_get(ev, "first_seen")));
        /* Saved on every change and at least once a minute: not at each poll. */
        ck_assert_int_ge(json_integer_value(json_object_get(json_object_get(st, "watch"), "polls")), 1);
        ck_assert_ptr_nonnull(json_string_value(json_object_get(json_object_get(st, "watch"), "last_poll")));
        json_decref(st);

        /* The timeline, for the record. */
        char nb[40], ap_s[40], ds[40], de[40];
        format_rfc3339(nb_ms, nb, sizeof nb);
        format_rfc3339(approved_at, ap_s, sizeof ap_s);
        format_rfc3339(drain_start, ds, sizeof ds);
        format_rfc3339(drain_end, de, sizeof de);
        fprintf(stderr, "timeline: first seen %s, drain start %s, drain end %s, approval POST %s, NotBefore %s\n",
                first_seen, ds, de, ap_s, nb);
        fprintf(stderr, "approval body: %s\n", "{\"StartRequests\":[{\"EventId\":\"" TERMINATE_ID "\"}]}");
        e2e_assert_no_secrets(&e);
}
END_TEST

START_TEST(preempt_is_drained_and_approved) {
        e2e_setup(&e, NULL);
        serve_fixture("preempt-scheduled.json", 30);
        put_drain(DRAIN, "0");
        watch_config("[[\"" DRAIN "\"]]", 10);
        pid_t pid = start_watch();
        ck_assert(wait_approvals(1, 8000));
        wait_polls(polls() + 2, 5000);   /* the approval's log line is written after the POST */
        ck_assert_int_eq(stop_watch(pid), 0);
        json_t *a = fake_server_approvals(e.fake);
        ck_assert_str_eq(json_string_value(json_object_get(json_array_get(a, 0), "body")),
                         "{\"StartRequests\":[{\"EventId\":\"3e1d5c7b-9a2f-4e6d-8b1c-0a2b4c6d8e05\"}]}");
        json_decref(a);
        _cleanup_free_ char *drain = e2e_read(&e, "/drain.log");
        ck_assert_uint_eq(count_of(drain, "start "), 1);
}
END_TEST

START_TEST(another_instances_terminate_is_never_approved) {
        e2e_setup(&e, NULL);
        serve_fixture("terminate-other-instance.json", 30);
        put_drain(DRAIN, "0");
        watch_config("[[\"" DRAIN "\"]]", 10);
        pid_t pid = start_watch();
        wait_polls(8, 8000);
        ck_assert_int_eq(stop_watch(pid), 0);
        ck_assert_uint_eq(approvals(), 0);
        ck_assert(!e2e_exists(&e, "/drain.log"));
        _cleanup_free_ char *log = e2e_read(&e, LOG_FILE);
        ck_assert_uint_eq(count_of(log, "Terminate for other resources, not this instance"), 1);
        ck_assert(!e2e_exists(&e, KVP_POOL));
}
END_TEST

START_TEST(two_events_in_one_document) {
        e2e_setup(&e, NULL);
        serve_fixture("two-events.json", 30);
        put_drain(DRAIN, "0");
        watch_config("[[\"" DRAIN "\"]]", 10);
        pid_t pid = start_watch();
        ck_assert(wait_approvals(1, 8000));
        size_t seen = polls();
        wait_polls(seen + 5, 5000);
        ck_assert_int_eq(stop_watch(pid), 0);
        json_t *a = fake_server_approvals(e.fake);
        ck_assert_uint_eq(json_array_size(a), 1);
        ck_assert_str_eq(json_string_value(json_object_get(json_array_get(a, 0), "body")),
                         "{\"StartRequests\":[{\"EventId\":\"" TERMINATE_ID "\"}]}");
        json_decref(a);
        _cleanup_free_ char *log = e2e_read(&e, LOG_FILE);
        ck_assert_uint_eq(count_of(log, "scheduled event " FREEZE_ID ": Freeze of this instance"), 1);
        ck_assert_uint_eq(count_of(log, "left to its NotBefore"), 1);
        _cleanup_free_ char *drain = e2e_read(&e, "/drain.log");
        ck_assert_uint_eq(count_of(drain, "start "), 1);
}
END_TEST

static const char *const logged_only[][2] = {
        {"live-migration-scheduled.json", "Freeze"},
        {"user-reboot-scheduled.json", "Reboot"},
        {"redeploy-scheduled.json", "Redeploy"},
};

START_TEST(freeze_reboot_redeploy_are_logged_once_not_approved) {
        e2e_setup(&e, NULL);
        serve_fixture(logged_only[_i][0], 30);
        put_drain(DRAIN, "0");
        watch_config("[[\"" DRAIN "\"]]", 10);
        pid_t pid = start_watch();
        wait_polls(8, 8000);
        ck_assert_int_eq(stop_watch(pid), 0);
        ck_assert_uint_eq(approvals(), 0);
        ck_assert(!e2e_exists(&e, "/drain.log"));
        _cleanup_free_ char *log = e2e_read(&e, LOG_FILE);
        char needle[128];
        snprintf(needle, sizeof needle, ": %s of this instance (Scheduled), not before ", logged_only[_i][1]);
        ck_assert_uint_eq(count_of(log, needle), 1);
        ck_assert_uint_eq(count_of(log, "left to its NotBefore"), 1);
}
END_TEST

START_TEST(hanging_drain_is_killed_at_the_deadline_and_approval_still_sent) {
        e2e_setup(&e, NULL);
        serve_fixture("terminate-scheduled.json", 60);
        put_drain(DRAIN, "60");
        put_drain("/usr/local/sbin/second-drain", "0");
        watch_config("[[\"" DRAIN "\"], [\"/usr/local/sbin/second-drain\"]]", 2);
        pid_t pid = start_watch();
        ck_assert(wait_approvals(1, 10000));
        wait_polls(polls() + 2, 5000);
        ck_assert_int_eq(stop_watch(pid), 0);
        json_t *a = fake_server_approvals(e.fake);
        int64_t approved_at = json_integer_value(json_object_get(json_array_get(a, 0), "realtime_ms"));
        json_decref(a);
        /* The first was killed (SIGTERM 1 s before the deadline, SIGKILL at it); the
         * second ran in what was left, and the approval went out at the deadline. */
        _cleanup_free_ char *drain = e2e_read(&e, "/drain.log");
        ck_assert_uint_eq(count_of(drain, "start "), 2);
        ck_assert_uint_eq(count_of(drain, "end "), 1);
        int64_t started = drain_time(drain, "start", 0);
        ck_assert_int_le(drain_time(drain, "end", 0), approved_at);
        ck_assert_int_ge(approved_at - started, 1500);
        ck_assert_int_le(approved_at - started, 3500);
        /* Killed: its pid is gone. */
        const char *p = strstr(drain, "pid=");
        ck_assert_ptr_nonnull(p);
        pid_t child = (pid_t)strtol(p + 4, NULL, 10);
        ck_assert_int_lt(kill(child, 0), 0);
        _cleanup_free_ char *log = e2e_read(&e, LOG_FILE);
        ck_assert_contains(log, "vsensor-drain killed at the drain deadline");
        ck_assert_contains(log, "1 of 2 failed (last: vsensor-drain killed at the drain deadline");
        ck_assert_contains(log, "approved scheduled event " TERMINATE_ID);
}
END_TEST

START_TEST(imds_down_for_3_s_then_back) {
        e2e_setup(&e, NULL);
        _cleanup_free_ char *doc = fixture("terminate-scheduled.json", 60);
        FakeEventsStep steps[] = {{.status = 503, .duration_ms = 1500}, {.status = 0, .duration_ms = 1500},
                                  {.document = doc}};
        serve(steps, ELEMENTSOF(steps));
        put_drain(DRAIN, "0");
        watch_config("[[\"" DRAIN "\"]]", 10);
        pid_t pid = start_watch();
        ck_assert(wait_approvals(1, 15000));
        wait_polls(polls() + 2, 5000);
        ck_assert_int_eq(stop_watch(pid), 0);

        /* Backoff: the gaps between polls double from 0.4 s while IMDS fails, at most 5 s;
         * polling went on and the event was handled once IMDS answered. */
        json_t *reqs = fake_server_requests(e.fake);
        int64_t times[64];
        size_t n = 0, i;
        json_t *q;
        json_array_foreach(reqs, i, q)
                if (streq(json_string_value(json_object_get(q, "path")), "/metadata/scheduledevents") &&
                    streq(json_string_value(json_object_get(q, "method")), "GET") && n < ELEMENTSOF(times))
                        times[n++] = json_integer_value(json_object_get(q, "time_ms"));
        json_decref(reqs);
        ck_assert_uint_ge(n, 4);
        ck_assert_uint_le(n, 12);
        int64_t g1 = times[1] - times[0], g2 = times[2] - times[1], g3 = times[3] - times[2];
        ck_assert_msg(g1 >= 350 && g2 >= 750 && g3 >= 1500, "gaps %lld %lld %lld ms", (long long)g1, (long long)g2,
                      (long long)g3);
        for (size_t k = 1; k < n; k++) ck_assert_int_le(times[k] - times[k - 1], 5500);
        _cleanup_free_ char *log = e2e_read(&e, LOG_FILE);
        ck_assert_contains(log, "scheduled events: HTTP 503");
        ck_assert_contains(log, "scheduled events answer again");
}
END_TEST

START_TEST(restart_mid_drain_approves_without_draining_again) {
        e2e_setup(&e, NULL);
        serve_fixture("terminate-scheduled.json", 60);
        put_drain(DRAIN, "30");
        watch_config("[[\"" DRAIN "\"]]", 40);
        pid_t pid = start_watch();
        for (int64_t end = now_monotonic_ms() + 8000; now_monotonic_ms() < end && !e2e_exists(&e, "/drain.log");)
                sleep_ms(20);
        ck_assert(e2e_exists(&e, "/drain.log"));
        /* SIGTERM mid-drain ends the watcher at once, exit 0, the drain with it. */
        int64_t t = now_monotonic_ms();
        ck_assert_int_eq(stop_watch(pid), 0);
        ck_assert_int_lt(now_monotonic_ms() - t, 1000);
        ck_assert_uint_eq(approvals(), 0);

        pid = start_watch();
        ck_assert(wait_approvals(1, 8000));
        size_t seen = polls();
        wait_polls(seen + 3, 5000);
        ck_assert_int_eq(stop_watch(pid), 0);
        ck_assert_uint_eq(approvals(), 1);
        _cleanup_free_ char *drain = e2e_read(&e, "/drain.log");
        ck_assert_uint_eq(count_of(drain, "start "), 1);
        _cleanup_free_ char *log = e2e_read(&e, LOG_FILE);
        ck_assert_contains(log, "not draining twice, approving");
        ck_assert_uint_eq(count_of(log, "scheduled event " TERMINATE_ID ": Terminate of this instance"), 1);

        /* A third watcher finds it all done: no drain, no approval. */
        pid = start_watch();
        wait_polls(polls() + 3, 5000);
        ck_assert_int_eq(stop_watch(pid), 0);
        ck_assert_uint_eq(approvals(), 1);
}
END_TEST

START_TEST(sigterm_and_sigint_end_the_watcher_at_once) {
        e2e_setup(&e, NULL);
        serve_fixture("empty.json", 0);
        watch_config("[]", 10);
        for (int sig = 0; sig < 2; sig++) {
                pid_t pid = start_watch();
                wait_polls(polls() + 2, 5000);
                int64_t t = now_monotonic_ms();
                ck_assert_int_eq(kill(pid, sig == 0 ? SIGTERM : SIGINT), 0);
                ck_assert_int_eq(e2e_wait(&e, pid), 0);
                ck_assert_int_lt(now_monotonic_ms() - t, 1000);
        }
        /* While it waits for IMDS's instance document too. */
        ck_assert_int_eq(fake_server_route(e.fake, "GET", "/metadata/instance", &(FakeResponse){.hang = true}, 1), 0);
        pid_t pid = start_watch();
        sleep_ms(300);
        int64_t t = now_monotonic_ms();
        ck_assert_int_eq(stop_watch(pid), 0);
        ck_assert_int_lt(now_monotonic_ms() - t, 1000);
}
END_TEST

START_TEST(second_watcher_exits_75_and_disabled_watcher_exits_0) {
        e2e_setup(&e, NULL);
        serve_fixture("empty.json", 0);
        ck_assert_int_eq(RUN("watch"), 0);
        _cleanup_free_ char *log = e2e_read(&e, LOG_FILE);
        ck_assert_contains(log, "scheduled_events.enabled is false");
        ck_assert_uint_eq(polls(), 0);
        watch_config("[]", 10);
        pid_t pid = start_watch();
        wait_polls(1, 5000);
        ck_assert_int_eq(RUN("watch"), 75);
        ck_assert_contains(e.err, "another vsensor-init watch is running");
        ck_assert_int_eq(stop_watch(pid), 0);
}
END_TEST

START_TEST(bad_drain_commands_are_refused_at_config_read) {
        e2e_setup(&e, NULL);
        watch_config("[[\"relative/drain\"]]", 10);
        ck_assert_int_eq(RUN("watch"), 65);
        ck_assert_contains(e.err, "scheduled_events.drain_commands[0][0]: expected an absolute path (got \"relative/drain\")");
}
END_TEST

static Suite *suite(void) {
        Suite *s = suite_create("e2e-lifecycle");
        TCase *tc = tcase_create("verify");
        tcase_set_timeout(tc, 30);
        tcase_add_checked_fixture(tc, NULL, teardown);
        tcase_add_test(tc, verify_succeeds_after_failures);
        tcase_add_test(tc, verify_times_out_with_75_and_the_rerun_resumes_at_verify);
        tcase_add_test(tc, late_ready_waits_for_verify);
        tcase_add_test(tc, late_ready_never_reports_ready_when_verify_fails);
        tcase_add_loop_test(tc, verify_url_not_loopback_is_refused_before_any_step, 0, (int)ELEMENTSOF(bad_verify_urls));
        tcase_add_test(tc, verify_url_empty_skips_the_step);
        suite_add_tcase(s, tc);

        tc = tcase_create("watch");
        tcase_set_timeout(tc, 30);
        tcase_add_checked_fixture(tc, NULL, teardown);
        tcase_add_test(tc, own_terminate_is_drained_then_approved_once);
        tcase_add_test(tc, preempt_is_drained_and_approved);
        tcase_add_test(tc, another_instances_terminate_is_never_approved);
        tcase_add_test(tc, two_events_in_one_document);
        tcase_add_loop_test(tc, freeze_reboot_redeploy_are_logged_once_not_approved, 0, (int)ELEMENTSOF(logged_only));
        tcase_add_test(tc, hanging_drain_is_killed_at_the_deadline_and_approval_still_sent);
        tcase_add_test(tc, imds_down_for_3_s_then_back);
        tcase_add_test(tc, restart_mid_drain_approves_without_draining_again);
        tcase_add_test(tc, sigterm_and_sigint_end_the_watcher_at_once);
        tcase_add_test(tc, second_watcher_exits_75_and_disabled_watcher_exits_0);
        tcase_add_test(tc, bad_drain_commands_are_refused_at_config_read);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return tu_run_suite(suite());
}
