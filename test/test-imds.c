#include <check.h>
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "util.h"

#include "base64.h"
#include "fake-server.h"
#include "http.h"
#include "imds.h"

#define FIXTURE_VMID "6f1c1a8e-9a4b-4a51-8c5e-2a0d3f4b5c6d"
#define INSTANCE_ROUTE "/metadata/instance"
#define USERDATA_ROUTE "/metadata/instance/compute/userData"

static char *load_fixture(const char *name, size_t *len) {
        _cleanup_free_ char *rel = strjoin("imds/", name, NULL);
        ck_assert_ptr_nonnull(rel);
        return tu_read_data(rel, len);
}

static ImdsInstance *parse_fixture_ok(const char *name) {
        size_t len = 0;
        _cleanup_free_ char *json = load_fixture(name, &len);
        ImdsInstance *i = NULL;
        char err[256] = "junk";
        ck_assert_msg(imds_parse_instance(json, len, &i, err, sizeof err) == 0, "%s: %s", name, err);
        ck_assert_ptr_nonnull(i);
        return i;
}

/* ---- parsing ---------------------------------------------------------------- */

START_TEST(test_parse_fixture) {
        _cleanup_(imds_instance_freep) ImdsInstance *i = parse_fixture_ok("instance.json");
        /* The fixture has vmId in upper case: it comes out lower case. */
        ck_assert_str_eq(i->vm_id, FIXTURE_VMID);
        ck_assert_str_eq(i->name, "vsensor-vmss_3");
        ck_assert_str_eq(i->computer_name, "vsensor000003");
        ck_assert_str_eq(i->admin_username, "azureuser");
        ck_assert(i->disable_password_authentication);
        ck_assert_uint_eq(i->n_public_keys, 1);
        ck_assert_str_eq(i->public_keys[0].key_data,
                         "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeKeyForTests vsensor-test");
        ck_assert_str_eq(i->public_keys[0].path, "/home/azureuser/.ssh/authorized_keys");
        ck_assert_str_eq(i->location, "westeurope");
        ck_assert_str_eq(i->resource_group, "rg-vsensors");
        ck_assert_str_eq(i->subscription_id, "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d");
        ck_assert_str_eq(i->vm_scale_set_name, "vsensor-vmss");
        ck_assert_str_eq(i->vm_size, "Standard_D4s_v5");
        ck_assert_str_eq(i->zone, "1");
        ck_assert_str_eq(i->private_ipv4, "10.0.2.4");
}
END_TEST

START_TEST(test_parse_primitives) {
        _cleanup_(imds_instance_freep) ImdsInstance *i = parse_fixture_ok("instance-primitives.json");
        ck_assert_str_eq(i->vm_id, FIXTURE_VMID);
        ck_assert(i->disable_password_authentication);
        ck_assert_str_eq(i->computer_name, "vsensor000003");
}
END_TEST

START_TEST(test_parse_no_osprofile) {
        _cleanup_(imds_instance_freep) ImdsInstance *i = parse_fixture_ok("instance-no-osprofile.json");
        ck_assert_ptr_null(i->computer_name);
        ck_assert_ptr_null(i->admin_username);
        ck_assert(!i->disable_password_authentication);
        ck_assert_uint_eq(i->n_public_keys, 0);
        ck_assert_ptr_null(i->public_keys);
        ck_assert_str_eq(i->vm_id, FIXTURE_VMID);
        ck_assert_str_eq(i->private_ipv4, "10.0.2.4");
}
END_TEST

START_TEST(test_parse_wrong_type_fixture) {
        size_t len = 0;
        _cleanup_free_ char *json = load_fixture("instance-wrong-type.json", &len);
        ImdsInstance *i = (ImdsInstance *) 0x1;
        char err[256] = "";
        ck_assert_int_eq(imds_parse_instance(json, len, &i, err, sizeof err), -EBADMSG);
        ck_assert_str_eq(err, "compute.osProfile: expected an object");
        ck_assert_ptr_eq(i, (ImdsInstance *) 0x1);
}
END_TEST

static const struct {
        const char *json;
        bool expected;
} bools[] = {
        {"{\"compute\":{\"osProfile\":{\"disablePasswordAuthentication\":true}}}", true},
        {"{\"compute\":{\"osProfile\":{\"disablePasswordAuthentication\":false}}}", false},
        {"{\"compute\":{\"osProfile\":{\"disablePasswordAuthentication\":\"true\"}}}", true},
        {"{\"compute\":{\"osProfile\":{\"disablePasswordAuthentication\":\"TRUE\"}}}", true},
        {"{\"compute\":{\"osProfile\":{\"disablePasswordAuthentication\":\"True\"}}}", true},
        {"{\"compute\":{\"osProfile\":{\"disablePasswordAuthentication\":\"False\"}}}", false},
        {"{\"compute\":{\"osProfile\":{\"disablePasswordAuthentication\":\"false\"}}}", false},
        {"{\"compute\":{\"osProfile\":{\"disablePasswordAuthentication\":null}}}", false},
        {"{\"compute\":{\"osProfile\":{}}}", false},
};

START_TEST(test_parse_booleans) {
        _cleanup_(imds_instance_freep) ImdsInstance *i = NULL;
        char err[256];
        ck_assert_int_eq(imds_parse_instance(bools[_i].json, strlen(bools[_i].json), &i, err, sizeof err), 0);
        ck_assert_int_eq(i->disable_password_authentication, bools[_i].expected);
}
END_TEST

static const struct {
        const char *json;
        const char *message;
} wrong[] = {
        {"[]", "the document is not a JSON object"},
        {"{\"compute\":3}", "compute: expected an object"},
        {"{\"compute\":{\"name\":\"a\\u0000b\"}}", NULL},   /* jansson refuses NUL */
        {"{\"compute\":{\"osProfile\":{\"disablePasswordAuthentication\":\"yes\"}}}",
         "compute.osProfile.disablePasswordAuthentication: expected true or false"},
        {"{\"compute\":{\"osProfile\":{\"disablePasswordAuthentication\":1}}}",
         "compute.osProfile.disablePasswordAuthentication: expected true or false"},
        {"{\"compute\":{\"osProfile\":{\"computerName\":[]}}}", "compute.osProfile.computerName: expected a string"},
        {"{\"compute\":{\"publicKeys\":{}}}", "compute.publicKeys: expected an array"},
        {"{\"compute\":{\"publicKeys\":[\"ssh-rsa AAAA\"]}}", "compute.publicKeys[0]: expected an object"},
        {"{\"compute\":{\"publicKeys\":[{\"keyData\":\"ssh-rsa A\"},{\"keyData\":7}]}}",
         "compute.publicKeys[1].keyData: expected a string"},
        {"{\"compute\":{\"publicKeys\":[{\"path\":\"/x\"}]}}", "compute.publicKeys[0].keyData: missing"},
        {"{\"compute\":{\"publicKeys\":[{\"keyData\":\"k\",\"path\":false}]}}",
         "compute.publicKeys[0].path: expected a string"},
        {"{\"compute\":{\"name\":\"a\",\"name\":\"b\"}}", NULL},   /* duplicates are refused */
};

START_TEST(test_parse_wrong_types) {
        ImdsInstance *i = (ImdsInstance *) 0x1;
        char err[256] = "";
        ck_assert_int_eq(imds_parse_instance(wrong[_i].json, strlen(wrong[_i].json), &i, err, sizeof err), -EBADMSG);
        ck_assert_ptr_eq(i, (ImdsInstance *) 0x1);
        if (wrong[_i].message)
                ck_assert_str_eq(err, wrong[_i].message);
        else
                ck_assert_msg(strncmp(err, "invalid JSON at line 1 column ", 30) == 0, "got '%s'", err);
}
END_TEST

/* Malformed optional fields do not sink the document (DESIGN, Field rules): they are
 * left out and named in ->ignored; what provisioning needs is kept. */
static const struct {
        const char *json;
        const char *ignored;
} malformed_optional[] = {
        {"{\"compute\":{\"vmId\":5,\"osProfile\":{\"computerName\":\"h\"}}}", "compute.vmId: expected a string"},
        {"{\"compute\":{\"zone\":1,\"osProfile\":{\"computerName\":\"h\"}}}", "compute.zone: expected a string"},
        {"{\"compute\":{\"vmId\":\"not-a-uuid\",\"osProfile\":{\"computerName\":\"h\"}}}", "compute.vmId: not a UUID"},
        {"{\"compute\":{\"name\":{},\"location\":[],\"vmSize\":true,\"osProfile\":{\"computerName\":\"h\"}}}",
         "compute.name: expected a string; compute.location: expected a string; compute.vmSize: expected a string"},
        {"{\"compute\":{\"osProfile\":{\"computerName\":\"h\"}},\"network\":[]}", "network: expected an object"},
        {"{\"compute\":{\"osProfile\":{\"computerName\":\"h\"}},\"network\":{\"interface\":{}}}",
         "network.interface: expected an array"},
        {"{\"compute\":{\"osProfile\":{\"computerName\":\"h\"}},"
         "\"network\":{\"interface\":[{\"ipv4\":{\"ipAddress\":[{\"privateIpAddress\":10}]}}]}}",
         "network.interface[0].ipv4.ipAddress[0].privateIpAddress: expected a string"},
};

START_TEST(test_parse_malformed_optional_ignored) {
        _cleanup_(imds_instance_freep) ImdsInstance *i = NULL;
        char err[256] = "";
        const char *json = malformed_optional[_i].json;
        ck_assert_msg(imds_parse_instance(json, strlen(json), &i, err, sizeof err) == 0, "%s: %s", json, err);
        ck_assert_ptr_nonnull(i->ignored);
        ck_assert_str_eq(i->ignored, malformed_optional[_i].ignored);
        ck_assert_str_eq(i->computer_name, "h");
        ck_assert_ptr_null(i->vm_id);
        ck_assert_ptr_null(i->zone);
        ck_assert_ptr_null(i->private_ipv4);
}
END_TEST

START_TEST(test_parse_syntax_error_position) {
        const char *json = "{\n  \"compute\": {\n    \"name\": x\n  }\n}";
        ImdsInstance *i = NULL;
        char err[256] = "";
        ck_assert_int_eq(imds_parse_instance(json, strlen(json), &i, err, sizeof err), -EBADMSG);
        ck_assert_msg(strncmp(err, "invalid JSON at line 3 column 13: ", 34) == 0, "got '%s'", err);

        const char *json2 = "{\"compute\": }";
        ck_assert_int_eq(imds_parse_instance(json2, strlen(json2), &i, err, sizeof err), -EBADMSG);
        ck_assert_msg(strncmp(err, "invalid JSON at line 1 column 13: ", 34) == 0, "got '%s'", err);

        /* A tiny error buffer is not overrun, and NULL is allowed. */
        char small[8];
        ck_assert_int_eq(imds_parse_instance(json2, strlen(json2), &i, small, sizeof small), -EBADMSG);
        ck_assert_str_eq(small, "invalid");
        ck_assert_int_eq(imds_parse_instance(json2, strlen(json2), &i, NULL, 0), -EBADMSG);
        ck_assert_int_eq(imds_parse_instance("", 0, &i, NULL, 0), -EBADMSG);
}
END_TEST

START_TEST(test_parse_empty_strings_and_key_trim) {
        const char *json = "{\"compute\":{\"zone\":\"\",\"vmScaleSetName\":\"\",\"vmId\":null,"
                           "\"publicKeys\":[{\"keyData\":\"ssh-rsa AAAA x\\r\\n\",\"path\":\"\"}]},"
                           "\"network\":{\"interface\":[]}}";
        _cleanup_(imds_instance_freep) ImdsInstance *i = NULL;
        char err[256];
        ck_assert_int_eq(imds_parse_instance(json, strlen(json), &i, err, sizeof err), 0);
        ck_assert_ptr_null(i->zone);
        ck_assert_ptr_null(i->vm_scale_set_name);
        ck_assert_ptr_null(i->vm_id);
        ck_assert_ptr_null(i->private_ipv4);
        ck_assert_uint_eq(i->n_public_keys, 1);
        ck_assert_str_eq(i->public_keys[0].key_data, "ssh-rsa AAAA x");
        ck_assert_ptr_null(i->public_keys[0].path);
}
END_TEST

/* ---- fetching against the fake server ---------------------------------------- */

static FakeServer *server;
static char *base_url;

static void fetch_setup(void) {
        ck_assert_int_eq(http_global_init(), 0);
        server = fake_server_start(&(FakeServerOptions){0});
        ck_assert_ptr_nonnull(server);
        base_url = fake_server_url(server, false);
        ck_assert_ptr_nonnull(base_url);
}

static void fetch_teardown(void) {
        fake_server_stop(server);
        server = NULL;
        free(base_url);
        base_url = NULL;
        http_global_cleanup();
}

typedef struct Notes {
        int count;
        char what[8][64];
} Notes;

static void record_notify(void *userdata, int attempt, const char *what, int64_t delay_ms) {
        Notes *n = userdata;
        if (n->count < 8) snprintf(n->what[n->count], sizeof n->what[0], "%s", what);
        n->count++;
}

static void assert_imds_request(json_t *req, const char *path, const char *query) {
        ck_assert_str_eq(json_string_value(json_object_get(req, "method")), "GET");
        ck_assert_str_eq(json_string_value(json_object_get(req, "path")), path);
        ck_assert_str_eq(json_string_value(json_object_get(req, "query")), query);
        json_t *headers = json_object_get(req, "headers");
        ck_assert_ptr_nonnull(json_object_get(headers, "metadata"));
        ck_assert_str_eq(json_string_value(json_object_get(headers, "metadata")), "true");
        ck_assert_ptr_null(json_object_get(headers, "x-forwarded-for"));
}

START_TEST(test_fetch_retries_then_succeeds) {
        size_t len = 0;
        _cleanup_free_ char *json = load_fixture("instance.json", &len);
        const FakeResponse responses[] = {
                {.status = 503}, {.status = 404}, {.status = 410}, {.status = 429},
                {.status = 200, .body = json, .content_type = "application/json"},
        };
        ck_assert_int_eq(fake_server_route(server, "GET", INSTANCE_ROUTE, responses, ELEMENTSOF(responses)), 0);

        Notes notes = {0};
        ImdsClient c = {.base_url = base_url, .deadline_ms = 20000, .notify = record_notify, .userdata = &notes};
        _cleanup_(imds_instance_freep) ImdsInstance *i = NULL;
        char err[256] = "junk";
        ck_assert_int_eq(imds_fetch_instance(&c, &i, err, sizeof err), 0);
        ck_assert_str_eq(i->vm_id, FIXTURE_VMID);
        ck_assert_str_eq(i->computer_name, "vsensor000003");
        ck_assert_str_eq(err, "");

        ck_assert_int_eq(notes.count, 4);
        ck_assert_str_eq(notes.what[0], "HTTP 503");
        ck_assert_str_eq(notes.what[1], "HTTP 404");
        ck_assert_str_eq(notes.what[2], "HTTP 410");
        ck_assert_str_eq(notes.what[3], "HTTP 429");

        ck_assert_uint_eq(fake_server_count(server, "GET", INSTANCE_ROUTE), 5);
        json_auto_t *reqs = fake_server_requests(server);
        ck_assert_uint_eq(json_array_size(reqs), 5);
        size_t k;
        json_t *req;
        json_array_foreach(reqs, k, req) assert_imds_request(req, INSTANCE_ROUTE, "api-version=2021-02-01");
}
END_TEST

START_TEST(test_fetch_trailing_slash_base) {
        const char *json = "{\"compute\":{\"vmId\":\"" FIXTURE_VMID "\"}}";
        ck_assert_int_eq(fake_server_route(server, "GET", INSTANCE_ROUTE, &(FakeResponse){.status = 200, .body = json}, 1), 0);
        _cleanup_free_ char *url = strjoin(base_url, "/", NULL);
        ImdsClient c = {.base_url = url, .deadline_ms = 5000};
        _cleanup_(imds_instance_freep) ImdsInstance *i = NULL;
        ck_assert_int_eq(imds_fetch_instance(&c, &i, NULL, 0), 0);
        ck_assert_str_eq(i->vm_id, FIXTURE_VMID);
        json_auto_t *reqs = fake_server_requests(server);
        assert_imds_request(json_array_get(reqs, 0), INSTANCE_ROUTE, "api-version=2021-02-01");
}
END_TEST

START_TEST(test_fetch_400_fails_at_once) {
        ck_assert_int_eq(fake_server_route(server, "GET", INSTANCE_ROUTE,
                                           (FakeResponse[]){{.status = 400, .body = "{\"error\":\"bad request\"}"}}, 1), 0);
        ImdsClient c = {.base_url = base_url, .deadline_ms = 20000};
        ImdsInstance *i = (ImdsInstance *) 0x1;
        char err[256] = "";
        int64_t t0 = now_monotonic_ms();
        ck_assert_int_eq(imds_fetch_instance(&c, &i, err, sizeof err), -EREMOTEIO);
        ck_assert_int_lt(now_monotonic_ms() - t0, 2000);
        ck_assert_str_eq(err, "HTTP 400");
        ck_assert_ptr_eq(i, (ImdsInstance *) 0x1);
        ck_assert_uint_eq(fake_server_count(server, "GET", INSTANCE_ROUTE), 1);
}
END_TEST

START_TEST(test_fetch_deadline) {
        ck_assert_int_eq(fake_server_route(server, "GET", INSTANCE_ROUTE, (FakeResponse[]){{.status = 503}}, 1), 0);
        ImdsClient c = {.base_url = base_url, .deadline_ms = 1500};
        ImdsInstance *i = (ImdsInstance *) 0x1;
        char err[256] = "";
        int64_t t0 = now_monotonic_ms();
        ck_assert_int_eq(imds_fetch_instance(&c, &i, err, sizeof err), -ETIMEDOUT);
        int64_t elapsed = now_monotonic_ms() - t0;
        ck_assert_int_lt(elapsed, 3000);
        ck_assert_str_eq(err, "HTTP 503");
        ck_assert_ptr_eq(i, (ImdsInstance *) 0x1);
        /* It did retry: several tries inside 1.5 s with a 100 ms first backoff. */
        ck_assert_uint_ge(fake_server_count(server, "GET", INSTANCE_ROUTE), 2);
}
END_TEST

START_TEST(test_fetch_connection_refused) {
        /* A port nothing listens on: the fake server's own, after it stopped. */
        fake_server_stop(server);
        server = NULL;
        ImdsClient c = {.base_url = base_url, .deadline_ms = 800};
        ImdsInstance *i = NULL;
        char err[256] = "";
        ck_assert_int_eq(imds_fetch_instance(&c, &i, err, sizeof err), -ETIMEDOUT);
        ck_assert_msg(strlen(err) > 0, "last_error must say why");
        ck_assert_msg(strstr(err, "HTTP") == NULL, "got '%s'", err);
}
END_TEST

START_TEST(test_fetch_malformed_json) {
        ck_assert_int_eq(fake_server_route(server, "GET", INSTANCE_ROUTE,
                                           (FakeResponse[]){{.status = 200, .body = "{\"compute\": {"}}, 1), 0);
        ImdsClient c = {.base_url = base_url, .deadline_ms = 20000};
        ImdsInstance *i = (ImdsInstance *) 0x1;
        char err[256] = "";
        ck_assert_int_eq(imds_fetch_instance(&c, &i, err, sizeof err), -EBADMSG);
        ck_assert_msg(strncmp(err, "invalid JSON at line 1 column ", 30) == 0, "got '%s'", err);
        ck_assert_ptr_eq(i, (ImdsInstance *) 0x1);
        /* A 200 that does not parse is not retried. */
        ck_assert_uint_eq(fake_server_count(server, "GET", INSTANCE_ROUTE), 1);
}
END_TEST

START_TEST(test_fetch_userdata) {
        const char *plain = "vsensor:\n  ephemeral: true\n";
        _cleanup_free_ char *enc = base64_encode(plain, strlen(plain));
        /* IMDS may wrap it; line breaks are skipped. */
        _cleanup_free_ char *body = strjoin(enc, "\n", NULL);
        const FakeResponse responses[] = {{.status = 503}, {.status = 200, .body = body}};
        ck_assert_int_eq(fake_server_route(server, "GET", USERDATA_ROUTE, responses, 2), 0);

        ImdsClient c = {.base_url = base_url, .deadline_ms = 20000};
        _cleanup_free_ char *data = NULL;
        size_t len = 0;
        char err[256] = "junk";
        ck_assert_int_eq(imds_fetch_userdata(&c, &data, &len, err, sizeof err), 0);
        ck_assert_uint_eq(len, strlen(plain));
        ck_assert_str_eq(data, plain);
        ck_assert_str_eq(err, "");

        json_auto_t *reqs = fake_server_requests(server);
        ck_assert_uint_eq(json_array_size(reqs), 2);
        assert_imds_request(json_array_get(reqs, 1), USERDATA_ROUTE, "api-version=2021-01-01&format=text");
}
END_TEST

START_TEST(test_fetch_userdata_empty) {
        ck_assert_int_eq(fake_server_route(server, "GET", USERDATA_ROUTE, (FakeResponse[]){{.status = 200, .body = ""}}, 1), 0);
        ImdsClient c = {.base_url = base_url, .deadline_ms = 20000};
        char *data = (char *) 0x1;
        size_t len = 77;
        ck_assert_int_eq(imds_fetch_userdata(&c, &data, &len, NULL, 0), -ENOENT);
        ck_assert_ptr_eq(data, (char *) 0x1);
        ck_assert_uint_eq(len, 77);
}
END_TEST

START_TEST(test_fetch_userdata_invalid) {
        ck_assert_int_eq(fake_server_route(server, "GET", USERDATA_ROUTE,
                                           (FakeResponse[]){{.status = 200, .body = "dnNl!bnNvcg=="}}, 1), 0);
        ImdsClient c = {.base_url = base_url, .deadline_ms = 20000};
        char *data = (char *) 0x1;
        size_t len = 0;
        char err[256] = "";
        ck_assert_int_eq(imds_fetch_userdata(&c, &data, &len, err, sizeof err), -EBADMSG);
        ck_assert_str_eq(err, "userData is not base64 (offset 4)");
        ck_assert_ptr_eq(data, (char *) 0x1);
        ck_assert_uint_eq(fake_server_count(server, "GET", USERDATA_ROUTE), 1);
}
END_TEST

START_TEST(test_fetch_userdata_too_big) {
        size_t n = 64 * 1024 + 1;
        _cleanup_free_ char *plain = malloc(n);
        ck_assert_ptr_nonnull(plain);
        memset(plain, 'a', n);
        _cleanup_free_ char *enc = base64_encode(plain, n);
        ck_assert_int_eq(fake_server_route(server, "GET", USERDATA_ROUTE, (FakeResponse[]){{.status = 200, .body = enc}}, 1), 0);
        ImdsClient c = {.base_url = base_url, .deadline_ms = 20000};
        char *data = NULL;
        size_t len = 0;
        ck_assert_int_eq(imds_fetch_userdata(&c, &data, &len, NULL, 0), -EFBIG);

        /* Exactly 64 KiB is fine. */
        _cleanup_free_ char *enc2 = base64_encode(plain, n - 1);
        ck_assert_int_eq(fake_server_route(server, "GET", USERDATA_ROUTE, (FakeResponse[]){{.status = 200, .body = enc2}}, 1), 0);
        _cleanup_free_ char *data2 = NULL;
        ck_assert_int_eq(imds_fetch_userdata(&c, &data2, &len, NULL, 0), 0);
        ck_assert_uint_eq(len, n - 1);
}
END_TEST

static Suite *imds_suite(void) {
        Suite *s = suite_create("imds");
        TCase *tc = tcase_create("parse");
        tcase_add_test(tc, test_parse_fixture);
        tcase_add_test(tc, test_parse_primitives);
        tcase_add_test(tc, test_parse_no_osprofile);
        tcase_add_test(tc, test_parse_wrong_type_fixture);
        tcase_add_loop_test(tc, test_parse_booleans, 0, (int) ELEMENTSOF(bools));
        tcase_add_loop_test(tc, test_parse_wrong_types, 0, (int) ELEMENTSOF(wrong));
        tcase_add_loop_test(tc, test_parse_malformed_optional_ignored, 0, (int)ELEMENTSOF(malformed_optional));
        tcase_add_test(tc, test_parse_syntax_error_position);
        tcase_add_test(tc, test_parse_empty_strings_and_key_trim);
        suite_add_tcase(s, tc);

        tc = tcase_create("fetch");
        tcase_add_checked_fixture(tc, fetch_setup, fetch_teardown);
        tcase_set_timeout(tc, 30);
        tcase_add_test(tc, test_fetch_retries_then_succeeds);
        tcase_add_test(tc, test_fetch_trailing_slash_base);
        tcase_add_test(tc, test_fetch_400_fails_at_once);
        tcase_add_test(tc, test_fetch_deadline);
        tcase_add_test(tc, test_fetch_connection_refused);
        tcase_add_test(tc, test_fetch_malformed_json);
        tcase_add_test(tc, test_fetch_userdata);
        tcase_add_test(tc, test_fetch_userdata_empty);
        tcase_add_test(tc, test_fetch_userdata_invalid);
        tcase_add_test(tc, test_fetch_userdata_too_big);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return tu_run_suite(imds_suite());
}
