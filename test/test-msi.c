/* msi: managed identity tokens from the fake IMDS — the request sent, the retry rules
 * (404, 410, 429, 5xx, 400 "Identity not found"), and the token kept secret. */
#include <check.h>
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "canary.h"
#include "fake-server.h"
#include "http.h"
#include "msi.h"
#include "secret.h"
#include "testutil.h"
#include "util.h"

#define TOKEN_BODY "{\"access_token\":\"" CANARY_MSI_TOKEN "\",\"expires_on\":\"1700003600\"," \
                   "\"resource\":\"https://vault.azure.net\",\"token_type\":\"Bearer\"}"
#define NOT_FOUND_BODY "{\"error\":\"invalid_request\",\"error_description\":\"Identity not found\"}"

static FakeServer *server;
static char *base_url;

static void setup(void) {
        ck_assert_int_eq(http_global_init(), 0);
        server = fake_server_start(&(FakeServerOptions){0});
        ck_assert_ptr_nonnull(server);
        base_url = fake_server_url(server, false);
}

static void teardown(void) {
        fake_server_stop(server);
        free(base_url);
        secret_registry_clear();
        http_global_cleanup();
}

static void route(const FakeResponse *r, size_t n) {
        ck_assert_int_eq(fake_server_route(server, "GET", MSI_TOKEN_PATH, r, n), 0);
}

START_TEST(test_request_system_assigned) {
        route((FakeResponse[]){{.body = TOKEN_BODY}}, 1);
        MsiClient c = {.imds_url = base_url, .deadline_ms = 5000};
        _cleanup_secret_ Secret *t = NULL;
        int64_t exp = 0;
        char err[256] = "junk";
        ck_assert_int_eq(msi_fetch_token(&c, &t, &exp, err, sizeof err), 0);
        ck_assert_str_eq(secret_reveal(t), CANARY_MSI_TOKEN);
        ck_assert_int_eq(exp, 1700003600);
        ck_assert_str_eq(err, "");

        json_auto_t *reqs = fake_server_requests(server);
        ck_assert_uint_eq(json_array_size(reqs), 1);
        json_t *q = json_array_get(reqs, 0);
        ck_assert_str_eq(json_string_value(json_object_get(q, "path")), MSI_TOKEN_PATH);
        ck_assert_str_eq(json_string_value(json_object_get(q, "query")),
                         "api-version=2018-02-01&resource=https%3A%2F%2Fvault.azure.net");
        json_t *h = json_object_get(q, "headers");
        ck_assert_str_eq(json_string_value(json_object_get(h, "metadata")), "true");
        ck_assert_ptr_null(json_object_get(h, "x-forwarded-for"));
        ck_assert_ptr_null(json_object_get(h, "authorization"));
        /* Registered for redaction. */
        _cleanup_free_ char *red = secret_redact("Bearer " CANARY_MSI_TOKEN);
        ck_assert_str_eq(red, "Bearer " SECRET_HIDDEN);
}
END_TEST

START_TEST(test_request_user_assigned) {
        route((FakeResponse[]){{.body = TOKEN_BODY}}, 1);
        MsiClient c = {.imds_url = base_url, .client_id = "6f1c1a8e-9a4b-4a51-8c5e-2a0d3f4b5c6d", .deadline_ms = 5000};
        _cleanup_secret_ Secret *t = NULL;
        ck_assert_int_eq(msi_fetch_token(&c, &t, NULL, NULL, 0), 0);
        json_auto_t *reqs = fake_server_requests(server);
        ck_assert_str_eq(json_string_value(json_object_get(json_array_get(reqs, 0), "query")),
                         "api-version=2018-02-01&resource=https%3A%2F%2Fvault.azure.net"
                         "&client_id=6f1c1a8e-9a4b-4a51-8c5e-2a0d3f4b5c6d");
}
END_TEST

/* Every answer IMDS gives while the identity is being set up, then the token. */
START_TEST(test_retries_until_ready) {
        route((FakeResponse[]){{.status = 410, .times = 2},
                               {.status = 404},
                               {.status = 400, .body = NOT_FOUND_BODY},
                               {.status = 429, .headers = "Retry-After: 0\n"},
                               {.status = 500},
                               {.status = 503},
                               {.reset = true},
                               {.body = TOKEN_BODY}},
              8);
        MsiClient c = {.imds_url = base_url, .deadline_ms = 20000};
        _cleanup_secret_ Secret *t = NULL;
        ck_assert_int_eq(msi_fetch_token(&c, &t, NULL, NULL, 0), 0);
        ck_assert_str_eq(secret_reveal(t), CANARY_MSI_TOKEN);
        ck_assert_uint_eq(fake_server_count(server, "GET", MSI_TOKEN_PATH), 9);
}
END_TEST

START_TEST(test_other_400_not_retried) {
        route((FakeResponse[]){{.status = 400, .body = "{\"error\":\"invalid_request\",\"error_description\":"
                                                       "\"Required query variable 'resource' is missing\"}"}},
              1);
        MsiClient c = {.imds_url = base_url, .deadline_ms = 5000};
        Secret *t = NULL;
        char err[256] = "";
        ck_assert_int_eq(msi_fetch_token(&c, &t, NULL, err, sizeof err), -EACCES);
        ck_assert_ptr_null(t);
        ck_assert_str_eq(err, "HTTP 400 (Required query variable 'resource' is missing)");
        ck_assert_uint_eq(fake_server_count(server, "GET", MSI_TOKEN_PATH), 1);
}
END_TEST

START_TEST(test_deadline_names_last_answer) {
        route((FakeResponse[]){{.status = 400, .body = NOT_FOUND_BODY}}, 1);
        MsiClient c = {.imds_url = base_url, .deadline_ms = 600};
        Secret *t = NULL;
        char err[256] = "";
        int64_t t0 = now_monotonic_ms();
        ck_assert_int_eq(msi_fetch_token(&c, &t, NULL, err, sizeof err), -ETIMEDOUT);
        ck_assert_int_lt(now_monotonic_ms() - t0, 2000);
        ck_assert_str_eq(err, "HTTP 400 (Identity not found)");
        ck_assert_uint_ge(fake_server_count(server, "GET", MSI_TOKEN_PATH), 2);
}
END_TEST

/* The last try hangs until the deadline clips its timeout: the error is still the
 * identity's last answer, not "timed out after N milliseconds". */
START_TEST(test_last_try_cut_short_keeps_last_answer) {
        route((FakeResponse[]){{.status = 400, .body = NOT_FOUND_BODY}, {.hang = true}}, 2);
        MsiClient c = {.imds_url = base_url, .deadline_ms = 1200};
        Secret *t = NULL;
        char err[256] = "";
        int64_t t0 = now_monotonic_ms();
        ck_assert_int_eq(msi_fetch_token(&c, &t, NULL, err, sizeof err), -ETIMEDOUT);
        ck_assert_int_lt(now_monotonic_ms() - t0, 1200 + 500);
        ck_assert_ptr_null(t);
        ck_assert_str_eq(err, "HTTP 400 (Identity not found)");
        ck_assert_uint_eq(fake_server_count(server, "GET", MSI_TOKEN_PATH), 2);
}
END_TEST

START_TEST(test_connection_refused_until_deadline) {
        MsiClient c = {.imds_url = "http://127.0.0.1:1", .deadline_ms = 400};
        Secret *t = NULL;
        char err[256] = "";
        ck_assert_int_eq(msi_fetch_token(&c, &t, NULL, err, sizeof err), -ETIMEDOUT);
        ck_assert_msg(err[0], "no last error");
}
END_TEST

static const char *const bad_bodies[] = {
        "not json",
        "{\"token_type\":\"Bearer\"}",
        "{\"access_token\":42}",
        "{\"access_token\":\"\"}",
        /* A CR/LF would end the Authorization header and start another. */
        "{\"access_token\":\"CanaryMsiToken5Secret\\r\\nX-Evil: 1\"}",
};

START_TEST(test_bad_body_not_retried) {
        route((FakeResponse[]){{.body = bad_bodies[_i]}}, 1);
        MsiClient c = {.imds_url = base_url, .deadline_ms = 5000};
        Secret *t = NULL;
        char err[256] = "";
        ck_assert_int_eq(msi_fetch_token(&c, &t, NULL, err, sizeof err), -EBADMSG);
        ck_assert_ptr_null(t);
        ck_assert_ptr_null(strstr(err, "CanaryMsiToken5Secret"));
        ck_assert_uint_eq(fake_server_count(server, "GET", MSI_TOKEN_PATH), 1);
}
END_TEST

START_TEST(test_numeric_expires_on) {
        Secret *t = NULL;
        int64_t exp = 0;
        const char body[] = "{\"access_token\":\"" CANARY_MSI_TOKEN "\",\"expires_on\":1700000000}";
        ck_assert_int_eq(msi_parse_token(body, strlen(body), &t, &exp, NULL, 0), 0);
        ck_assert_int_eq(exp, 1700000000);
        secret_free(t);
}
END_TEST

int main(void) {
        Suite *s = suite_create("msi");
        TCase *tc = tcase_create("token");
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 30);
        tcase_add_test(tc, test_request_system_assigned);
        tcase_add_test(tc, test_request_user_assigned);
        tcase_add_test(tc, test_retries_until_ready);
        tcase_add_test(tc, test_other_400_not_retried);
        tcase_add_test(tc, test_deadline_names_last_answer);
        tcase_add_test(tc, test_last_try_cut_short_keeps_last_answer);
        tcase_add_test(tc, test_connection_refused_until_deadline);
        tcase_add_loop_test(tc, test_bad_body_not_retried, 0, (int)ELEMENTSOF(bad_bodies));
        tcase_add_test(tc, test_numeric_expires_on);
        suite_add_tcase(s, tc);
        return tu_run_suite(s);
}
