/* test-schedevents: Scheduled Events documents (the fixtures of test/data/scheduledevents/,
 * from Azure-Samples/scheduled-events-mock-server, and hostile variants), NotBefore in
 * both forms, the approval body, one fetch and one approval against the fake server
 * (Metadata: true, no proxy), and the watcher's state file. */
#include <check.h>
#include <sys/stat.h>

#include "fake-server.h"
#include "http.h"
#include "schedevents.h"
#include "testutil.h"

static SchedDocument *parse(const char *text) {
        SchedDocument *d = NULL;
        char err[200] = "";
        int r = schedevents_parse(text, strlen(text), &d, err, sizeof err);
        ck_assert_msg(r == 0, "parse failed: %s", err);
        return d;
}

static SchedDocument *parse_fixture(const char *name) {
        char rel[128];
        snprintf(rel, sizeof rel, "scheduledevents/%s", name);
        _cleanup_free_ char *text = tu_read_data(rel, NULL);
        return parse(text);
}

static const struct {
        const char *file, *type, *status;
        size_t n;
        bool termination;
} fixtures[] = {
        {"empty.json", NULL, NULL, 0, false},
        {"live-migration-scheduled.json", "Freeze", "Scheduled", 1, false},
        {"live-migration-started.json", "Freeze", "Started", 1, false},
        {"user-reboot-scheduled.json", "Reboot", "Scheduled", 1, false},
        {"redeploy-scheduled.json", "Redeploy", "Scheduled", 1, false},
        {"terminate-scheduled.json", "Terminate", "Scheduled", 1, true},
        {"preempt-scheduled.json", "Preempt", "Scheduled", 1, true},
        {"terminate-other-instance.json", "Terminate", "Scheduled", 1, true},
        {"two-events.json", "Freeze", "Scheduled", 2, false},
};

START_TEST(test_fixtures) {
        _cleanup_(schedevents_freep) SchedDocument *d = parse_fixture(fixtures[_i].file);
        ck_assert_uint_eq(d->n_events, fixtures[_i].n);
        ck_assert_uint_eq(d->n_invalid, 0);
        ck_assert_int_ge(d->incarnation, 1);
        if (d->n_events == 0) return;
        SchedEvent *e = &d->events[0];
        ck_assert_str_eq(e->type, fixtures[_i].type);
        ck_assert_str_eq(e->status, fixtures[_i].status);
        ck_assert(schedevent_is_termination(e) == fixtures[_i].termination);
        ck_assert(schedevent_is_scheduled(e) == streq(fixtures[_i].status, "Scheduled"));
        /* Both NotBefore forms: 2025-11-05 20:15:00 UTC. */
        if (*e->not_before) ck_assert_int_eq(e->not_before_ms, 1762373700000LL);
        else ck_assert_int_eq(e->not_before_ms, -1);
        bool other = streq(fixtures[_i].file, "terminate-other-instance.json");
        ck_assert(schedevent_is_for(e, "vmss_vm1") == !other);
        ck_assert(schedevent_is_for(e, "VMSS_VM1") == !other);
        ck_assert(!schedevent_is_for(e, "vmss_vm"));
        ck_assert(!schedevent_is_for(e, ""));
}
END_TEST

START_TEST(test_two_events_keep_order_and_resources) {
        _cleanup_(schedevents_freep) SchedDocument *d = parse_fixture("two-events.json");
        ck_assert_str_eq(d->events[0].id, "5b2b8cf4-3f4e-4bb8-9a6f-0c1e2d3f4a01");
        ck_assert_str_eq(d->events[1].id, "f020ba2e-3bc0-4c40-a10b-86575a9eabd5");
        ck_assert_uint_eq(strv_length(d->events[0].resources), 2);
        ck_assert(schedevent_is_for(&d->events[0], "vmss_vm2"));
        ck_assert(!schedevent_is_for(&d->events[1], "vmss_vm2"));
        ck_assert(schedevent_is_termination(&d->events[1]));
}
END_TEST

START_TEST(test_strings_for_numbers_and_missing_members) {
        _cleanup_(schedevents_freep) SchedDocument *d =
                parse("{\"DocumentIncarnation\": \"7\", \"Events\": [{\"EventId\": \"a-1\", \"EventType\": \"Terminate\"}]}");
        ck_assert_int_eq(d->incarnation, 7);
        ck_assert_uint_eq(d->n_events, 1);
        ck_assert_str_eq(d->events[0].status, "");
        ck_assert(schedevent_is_scheduled(&d->events[0]));
        ck_assert_int_eq(d->events[0].not_before_ms, -1);
        ck_assert_ptr_null(d->events[0].resources[0]);
        _cleanup_(schedevents_freep) SchedDocument *none = parse("{}");
        ck_assert_uint_eq(none->n_events, 0);
        ck_assert_int_eq(none->incarnation, -1);
}
END_TEST

/* Events with a field that could inject into a log line, the KVP record or the
 * approval body are left out; the rest of the document stands. */
static const char *const bad_events[] = {
        "{\"EventId\": \"a b\", \"EventType\": \"Terminate\"}",
        "{\"EventId\": \"a|b\", \"EventType\": \"Terminate\"}",
        "{\"EventId\": \"a\\\"b\", \"EventType\": \"Terminate\"}",
        "{\"EventId\": \"\", \"EventType\": \"Terminate\"}",
        "{\"EventId\": 5, \"EventType\": \"Terminate\"}",
        "{\"EventType\": \"Terminate\"}",
        "{\"EventId\": \"a\", \"EventType\": \"Term inate\"}",
        "{\"EventId\": \"a\", \"EventType\": \"Terminate\", \"Resources\": \"vm\"}",
        "{\"EventId\": \"a\", \"EventType\": \"Terminate\", \"Resources\": [5]}",
        "{\"EventId\": \"a\", \"EventType\": \"Terminate\", \"Resources\": [\"vm\\nx\"]}",
        "{\"EventId\": \"a\", \"EventType\": \"Terminate\", \"NotBefore\": \"x|y\"}",
        "{\"EventId\": \"a\", \"EventType\": \"Terminate\", \"NotBefore\": \"a\\u0007b\"}",
        "{\"EventId\": \"a\", \"EventType\": \"Terminate\", \"EventStatus\": 1}",
        "\"Terminate\"",
};

START_TEST(test_bad_event_left_out) {
        char doc[512];
        snprintf(doc, sizeof doc, "{\"Events\": [%s, {\"EventId\": \"ok-1\", \"EventType\": \"Freeze\"}]}", bad_events[_i]);
        _cleanup_(schedevents_freep) SchedDocument *d = parse(doc);
        ck_assert_uint_eq(d->n_invalid, 1);
        ck_assert_uint_eq(d->n_events, 1);
        ck_assert_str_eq(d->events[0].id, "ok-1");
}
END_TEST

static const char *const bad_documents[] = {
        "", "not json", "[]", "{\"Events\": {}}", "{\"Events\": []} trailing", "{\"Events\": [], \"Events\": []}",
};

START_TEST(test_bad_document) {
        SchedDocument *d = NULL;
        char err[200] = "";
        ck_assert_int_eq(schedevents_parse(bad_documents[_i], strlen(bad_documents[_i]), &d, err, sizeof err), -EBADMSG);
        ck_assert_ptr_null(d);
        ck_assert_str_ne(err, "");
}
END_TEST

START_TEST(test_too_many_events) {
        char *doc = strdup("{\"Events\": [");
        for (int i = 0; i <= SCHEDEVENTS_MAX_EVENTS; i++) {
                char *n = NULL;
                ck_assert_int_ge(asprintf_safe(&n, "%s%s{\"EventId\": \"e%d\", \"EventType\": \"Freeze\"}", doc,
                                               i ? "," : "", i), 0);
                free(doc);
                doc = n;
        }
        char *n = strjoin(doc, "]}", NULL);
        free(doc);
        SchedDocument *d = NULL;
        ck_assert_int_eq(schedevents_parse(n, strlen(n), &d, NULL, 0), -EBADMSG);
        free(n);
}
END_TEST

static const struct {
        const char *text;
        int64_t ms;
} times[] = {
        {"Mon, 19 Sep 2016 18:29:47 GMT", 1474309787000LL},
        {"2016-09-19T18:29:47Z", 1474309787000LL},
        {"2016-09-19T18:29:47.25Z", 1474309787250LL},
        {"2016-09-19T18:29:47+00:00", 1474309787000LL},
        {"", -1},
        {"yesterday", -1},
        {"2016-09-19T18:29:47", -1},
        {"2016-09-19T18:29:47+02:00", -1},
        {"Mon, 19 Sep 2016 18:29:47 PST", -1},
        {"2016-09-19T18:29:47.Z", -1},
};

START_TEST(test_parse_time) {
        int64_t ms = -1;
        int r = schedevents_parse_time(times[_i].text, &ms);
        if (times[_i].ms < 0)
                ck_assert_msg(r == -EINVAL, "%s parsed as %lld", times[_i].text, (long long)ms);
        else {
                ck_assert_int_eq(r, 0);
                ck_assert_int_eq(ms, times[_i].ms);
        }
}
END_TEST

START_TEST(test_approval_body) {
        _cleanup_free_ char *b = schedevents_approval_body("f020ba2e-3bc0-4c40-a10b-86575a9eabd5");
        ck_assert_str_eq(b, "{\"StartRequests\":[{\"EventId\":\"f020ba2e-3bc0-4c40-a10b-86575a9eabd5\"}]}");
        ck_assert_ptr_null(schedevents_approval_body("a\"},{\"EventId\":\"b"));
        ck_assert_ptr_null(schedevents_approval_body(""));
        ck_assert_ptr_null(schedevents_approval_body(NULL));
}
END_TEST

START_TEST(test_fetch_and_approve_against_the_fake) {
        /* A proxy in the environment must not be used (IMDS is link-local). */
        setenv("http_proxy", "http://127.0.0.1:9", 1);
        setenv("HTTP_PROXY", "http://127.0.0.1:9", 1);
        FakeServer *s = fake_server_start(NULL);
        ck_assert_ptr_nonnull(s);
        _cleanup_free_ char *doc = tu_read_data("scheduledevents/terminate-scheduled.json", NULL);
        FakeEventsStep steps[] = {{.status = 503, .duration_ms = 100000}};
        ck_assert_int_eq(fake_server_scheduled_events(s, steps, 1), 0);
        _cleanup_free_ char *base = fake_server_url(s, false);
        SchedClient c = {.base_url = base, .timeout_ms = 5000};
        SchedDocument *d = NULL;
        long status = 0;
        char err[200];
        ck_assert_int_eq(schedevents_fetch(&c, &d, &status, err, sizeof err), -EPROTO);
        ck_assert_int_eq(status, 503);
        ck_assert_str_eq(err, "HTTP 503");

        ck_assert_int_eq(fake_server_scheduled_events(s, &(FakeEventsStep){.document = doc}, 1), 0);
        ck_assert_int_eq(schedevents_fetch(&c, &d, &status, err, sizeof err), 0);
        ck_assert_uint_eq(d->n_events, 1);
        ck_assert_int_eq(schedevents_approve(&c, d->events[0].id, &status, err, sizeof err), 0);
        ck_assert_int_eq(status, 200);
        schedevents_free(d);
        /* Approved: served as Started, NotBefore "". */
        ck_assert_int_eq(schedevents_fetch(&c, &d, &status, err, sizeof err), 0);
        ck_assert_str_eq(d->events[0].status, "Started");
        ck_assert_str_eq(d->events[0].not_before, "");
        ck_assert(!schedevent_is_scheduled(&d->events[0]));
        schedevents_free(d);
        /* An id not in the document: 400, nothing approved. */
        ck_assert_int_eq(schedevents_approve(&c, "not-there", &status, err, sizeof err), -EPROTO);
        ck_assert_int_eq(status, 400);

        json_t *reqs = fake_server_requests(s);
        size_t i;
        json_t *q;
        json_array_foreach(reqs, i, q) {
                ck_assert_str_eq(json_string_value(json_object_get(q, "path")), "/metadata/scheduledevents");
                ck_assert_str_eq(json_string_value(json_object_get(q, "query")), "api-version=2020-07-01");
                ck_assert_str_eq(json_string_value(json_object_get(json_object_get(q, "headers"), "metadata")), "true");
        }
        ck_assert_uint_eq(json_array_size(reqs), 5);
        json_decref(reqs);
        json_t *a = fake_server_approvals(s);
        ck_assert_uint_eq(json_array_size(a), 2);
        ck_assert_str_eq(json_string_value(json_object_get(json_array_get(a, 0), "body")),
                         "{\"StartRequests\":[{\"EventId\":\"f020ba2e-3bc0-4c40-a10b-86575a9eabd5\"}]}");
        json_decref(a);
        fake_server_stop(s);
        unsetenv("http_proxy");
        unsetenv("HTTP_PROXY");
}
END_TEST

START_TEST(test_fake_steps_by_time_and_not_before) {
        FakeServer *s = fake_server_start(NULL);
        ck_assert_ptr_nonnull(s);
        FakeEventsStep steps[] = {
                {.document = "{\"DocumentIncarnation\": 1, \"Events\": []}", .duration_ms = 300},
                {.document = "{\"DocumentIncarnation\": 2, \"Events\": [{\"EventId\": \"x-1\", \"EventType\": "
                             "\"Terminate\", \"NotBefore\": \"+60\", \"Resources\": [\"vm\"]}]}"},
        };
        ck_assert_int_eq(fake_server_scheduled_events(s, steps, 2), 0);
        _cleanup_free_ char *base = fake_server_url(s, false);
        SchedClient c = {.base_url = base};
        SchedDocument *d = NULL;
        ck_assert_int_eq(schedevents_fetch(&c, &d, NULL, NULL, 0), 0);
        ck_assert_uint_eq(d->n_events, 0);
        schedevents_free(d);
        sleep_ms(350);
        int64_t now = now_realtime_ms();
        ck_assert_int_eq(schedevents_fetch(&c, &d, NULL, NULL, 0), 0);
        ck_assert_uint_eq(d->n_events, 1);
        ck_assert_int_eq(d->incarnation, 2);
        ck_assert_int_ge(d->events[0].not_before_ms, now + 58000);
        ck_assert_int_le(d->events[0].not_before_ms, now + 61000);
        ck_assert_msg(strstr(d->events[0].not_before, " GMT"), "%s", d->events[0].not_before);
        schedevents_free(d);
        fake_server_stop(s);
}
END_TEST

START_TEST(test_state_round_trip) {
        _cleanup_free_ char *path = tu_tmp_path("state/scheduled-events.json");
        SchedState *s = NULL;
        ck_assert_int_eq(schedstate_load(path, &s), 0);   /* missing: empty */
        ck_assert_uint_eq(s->n_records, 0);
        _cleanup_(schedevents_freep) SchedDocument *d = parse_fixture("two-events.json");
        SchedRecord *r = schedstate_add(s, &d->events[1], true);
        ck_assert_ptr_nonnull(r);
        ck_assert_int_eq(schedstate_stamp(&r->drain_started), 0);
        ck_assert_int_eq(schedstate_set(&r->drain_result, "done"), 0);
        ck_assert_ptr_nonnull(schedstate_add(s, &d->events[0], false));
        ck_assert_int_eq(schedstate_set(&s->instance, "vmss_vm1"), 0);
        s->polls = 42;
        ck_assert_int_eq(schedstate_save(s, path), 0);
        struct stat st;
        ck_assert_int_eq(stat(path, &st), 0);
        ck_assert_int_eq(st.st_mode & 0777, 0600);
        _cleanup_free_ char *dir = path_dirname(path);
        ck_assert_int_eq(stat(dir, &st), 0);
        ck_assert_int_eq(st.st_mode & 0777, 0700);
        schedstate_free(s);

        ck_assert_int_eq(schedstate_load(path, &s), 0);
        ck_assert_uint_eq(s->n_records, 2);
        ck_assert_int_eq(s->polls, 42);
        ck_assert_str_eq(s->instance, "vmss_vm1");
        r = schedstate_find(s, "f020ba2e-3bc0-4c40-a10b-86575a9eabd5");
        ck_assert_ptr_nonnull(r);
        ck_assert(r->mine);
        ck_assert_ptr_nonnull(r->drain_started);
        ck_assert_ptr_null(r->drain_ended);
        ck_assert_ptr_null(r->approved);
        ck_assert_str_eq(r->drain_result, "done");
        ck_assert_str_eq(r->type, "Terminate");
        ck_assert(!schedstate_find(s, "5b2b8cf4-3f4e-4bb8-9a6f-0c1e2d3f4a01")->mine);
        ck_assert_ptr_null(schedstate_find(s, "nope"));

        /* Bounded: only the newest records are kept. */
        for (int i = 0; i < SCHEDSTATE_MAX_RECORDS + 10; i++) {
                char id[32];
                snprintf(id, sizeof id, "extra-%d", i);
                SchedEvent e = {.id = id, .type = (char *)"Freeze", .not_before = (char *)""};
                ck_assert_ptr_nonnull(schedstate_add(s, &e, false));
        }
        ck_assert_int_eq(schedstate_save(s, path), 0);
        schedstate_free(s);
        ck_assert_int_eq(schedstate_load(path, &s), 0);
        ck_assert_uint_eq(s->n_records, SCHEDSTATE_MAX_RECORDS);
        ck_assert_ptr_nonnull(schedstate_find(s, "extra-73"));
        schedstate_free(s);
}
END_TEST

START_TEST(test_state_corrupt) {
        _cleanup_free_ char *path = tu_tmp_path("scheduled-events.json");
        static const char *const bad[] = {"{", "[]", "{\"version\": 2}", "{\"events\": [{\"id\": \"a b\"}]}",
                                          "{\"events\": [{\"id\": \"a\"}, {\"id\": \"a\"}]}", "{\"polls\": \"x\"}"};
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                ck_assert_int_eq(write_file_atomic(path, bad[i], strlen(bad[i]), 0600), 0);
                SchedState *s = NULL;
                ck_assert_msg(schedstate_load(path, &s) == -EBADMSG, "%s", bad[i]);
        }
}
END_TEST

static Suite *suite(void) {
        Suite *s = suite_create("schedevents");
        TCase *tc = tcase_create("core");
        tu_add_tmpdir_fixtures(tc);
        tcase_add_loop_test(tc, test_fixtures, 0, (int)ELEMENTSOF(fixtures));
        tcase_add_test(tc, test_two_events_keep_order_and_resources);
        tcase_add_test(tc, test_strings_for_numbers_and_missing_members);
        tcase_add_loop_test(tc, test_bad_event_left_out, 0, (int)ELEMENTSOF(bad_events));
        tcase_add_loop_test(tc, test_bad_document, 0, (int)ELEMENTSOF(bad_documents));
        tcase_add_test(tc, test_too_many_events);
        tcase_add_loop_test(tc, test_parse_time, 0, (int)ELEMENTSOF(times));
        tcase_add_test(tc, test_approval_body);
        tcase_add_test(tc, test_fetch_and_approve_against_the_fake);
        tcase_add_test(tc, test_fake_steps_by_time_and_not_before);
        tcase_add_test(tc, test_state_round_trip);
        tcase_add_test(tc, test_state_corrupt);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        http_global_init();
        int r = tu_run_suite(suite());
        http_global_cleanup();
        return r;
}
