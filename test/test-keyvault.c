/* keyvault: references checked offline (form, allowed hosts), and the secret client
 * against the fake Key Vault over HTTPS with the test CA — the request sent (api
 * version, bearer token), 401 → new token, 403 until the deadline, 429 with
 * Retry-After, 404/400 not retried, the value a secret and the version from "id". */
#include <check.h>
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "canary.h"
#include "fake-server.h"
#include "http.h"
#include "keyvault.h"
#include "msi.h"
#include "secret.h"
#include "testutil.h"
#include "util.h"

#define VERSION1 "0123456789abcdef0123456789abcdef"
#define TOKEN_BODY(t) "{\"access_token\":\"" t "\",\"expires_on\":\"1700003600\",\"token_type\":\"Bearer\"}"
#define SECRET_PATH "/secrets/vsensor-push-token"

/* ---- references ---------------------------------------------------------------- */

static const struct {
        const char *uri;
        const char *host, *name, *version;
        unsigned port;
} good[] = {
        {"https://dt-vault.vault.azure.net/secrets/vsensor-update-key", "dt-vault.vault.azure.net",
         "vsensor-update-key", NULL, 443},
        {"https://dt-vault.vault.azure.net/secrets/vsensor-push-token/" VERSION1, "dt-vault.vault.azure.net",
         "vsensor-push-token", VERSION1, 443},
        {"https://DT-Vault.Vault.Azure.Net:8443/secrets/x", "dt-vault.vault.azure.net", "x", NULL, 8443},
        {"https://v1.vault.azure.cn/secrets/a-b", "v1.vault.azure.cn", "a-b", NULL, 443},
        {"https://v1.vault.usgovcloudapi.net/secrets/a", "v1.vault.usgovcloudapi.net", "a", NULL, 443},
        {"https://v1.vault.microsoftazure.de/secrets/a", "v1.vault.microsoftazure.de", "a", NULL, 443},
};

START_TEST(test_ref_good) {
        KeyVaultRef r = {0};
        char why[256] = "junk";
        ck_assert_msg(keyvault_parse_ref(good[_i].uri, strlen(good[_i].uri), NULL, &r, why, sizeof why) == 0, "%s: %s",
                      good[_i].uri, why);
        ck_assert_str_eq(r.uri, good[_i].uri);
        ck_assert_str_eq(r.host, good[_i].host);
        ck_assert_str_eq(r.name, good[_i].name);
        if (good[_i].version)
                ck_assert_str_eq(r.version, good[_i].version);
        else
                ck_assert_ptr_null(r.version);
        ck_assert_uint_eq(r.port, good[_i].port);
        keyvault_ref_done(&r);
}
END_TEST

static const struct {
        const char *uri, *why;
} bad[] = {
        {"http://dt-vault.vault.azure.net/secrets/a", "not https://"},
        {"https://dt-vault.vault.azure.net.evil.example/secrets/a", "is not a Key Vault host allowed"},
        {"https://vault.azure.net/secrets/a", "is not a Key Vault host allowed"},
        {"https://dt-vault.evilvault.azure.net.example/secrets/a", "is not a Key Vault host allowed"},
        {"https://127.0.0.1/secrets/a", "is not a Key Vault host allowed"},
        {"https://user@dt-vault.vault.azure.net/secrets/a", "user information"},
        {"https://dt-vault.vault.azure.net:0/secrets/a", "port"},
        {"https://dt-vault.vault.azure.net:99999/secrets/a", "port"},
        {"https://dt-vault.vault.azure.net/keys/a", "a path other than /secrets/NAME[/VERSION]"},
        {"https://dt-vault.vault.azure.net/secrets/", "a secret NAME of 0 characters"},
        {"https://dt-vault.vault.azure.net/secrets/a_b", "a secret NAME with a character"},
        {"https://dt-vault.vault.azure.net/secrets/a/123", "a VERSION that is not 32 hexadecimal digits"},
        {"https://dt-vault.vault.azure.net/secrets/a/" VERSION1 "/x", "a VERSION that is not 32"},
        {"https://dt-vault.vault.azure.net/secrets/a?x=1", "a secret NAME with a character"},
        {"https://dt-vault.vault.azure.net/secrets/a b", "a space or control character"},
        {"https://-bad.vault.azure.net/secrets/a", "no valid host name"},
        {"", "empty"},
};

START_TEST(test_ref_bad) {
        KeyVaultRef r = {0};
        char why[256] = "";
        ck_assert_int_eq(keyvault_parse_ref(bad[_i].uri, strlen(bad[_i].uri), NULL, &r, why, sizeof why), -EINVAL);
        ck_assert_msg(strstr(why, bad[_i].why), "%s: got '%s', expected '%s'", bad[_i].uri, why, bad[_i].why);
        ck_assert_ptr_null(r.uri);
}
END_TEST

START_TEST(test_ref_suffixes) {
        static const char *const exact[] = {"127.0.0.1", ".vault.example", NULL};
        KeyVaultRef r = {0};
        char why[256] = "";
        const char *u = "https://127.0.0.1:4443/secrets/a";
        ck_assert_int_eq(keyvault_parse_ref(u, strlen(u), exact, &r, why, sizeof why), 0);
        ck_assert_str_eq(r.host, "127.0.0.1");
        ck_assert_uint_eq(r.port, 4443);
        keyvault_ref_done(&r);
        /* An entry without a leading dot matches exactly, nothing around it. */
        ck_assert(!keyvault_host_allowed("x127.0.0.1", exact));
        ck_assert(keyvault_host_allowed("a.vault.example", exact));
        ck_assert(!keyvault_host_allowed("vault.example", exact));
        /* The configured list replaces the default. */
        u = "https://dt.vault.azure.net/secrets/a";
        ck_assert_int_eq(keyvault_parse_ref(u, strlen(u), exact, &r, why, sizeof why), -EINVAL);
        ck_assert_str_eq(why, "the host dt.vault.azure.net is not a Key Vault host allowed by key_vault.host_suffixes "
                              "(127.0.0.1, .vault.example)");
}
END_TEST

START_TEST(test_version_from_id) {
        _cleanup_free_ char *v = keyvault_version_from_id("https://v.vault.azure.net/secrets/n/" VERSION1);
        ck_assert_str_eq(v, VERSION1);
        ck_assert_ptr_null(keyvault_version_from_id("https://v.vault.azure.net/secrets/n"));
        ck_assert_ptr_null(keyvault_version_from_id("https://v.vault.azure.net/secrets/n/"));
        ck_assert_ptr_null(keyvault_version_from_id("https://v.vault.azure.net/secrets/n/a\"b"));
        ck_assert_ptr_null(keyvault_version_from_id(NULL));
}
END_TEST

/* ---- the client ---------------------------------------------------------------- */

static FakeServer *server;
static char *http_url, *https_url, *ca_file;
static const char *const allowed[] = {"127.0.0.1", NULL};

static void setup(void) {
        const char *certs = getenv("CERTS") && *getenv("CERTS") ? getenv("CERTS") : "build/test/certs";
        _cleanup_free_ char *cert = strjoin(certs, "/server.pem", NULL);
        _cleanup_free_ char *key = strjoin(certs, "/server-key.pem", NULL);
        ca_file = strjoin(certs, "/ca.pem", NULL);
        ck_assert_int_eq(http_global_init(), 0);
        server = fake_server_start(&(FakeServerOptions){.cert_file = cert, .key_file = key});
        ck_assert_ptr_nonnull(server);
        http_url = fake_server_url(server, false);
        https_url = fake_server_url(server, true);
}

static void teardown(void) {
        fake_server_stop(server);
        free(http_url);
        free(https_url);
        free(ca_file);
        secret_registry_clear();
        http_global_cleanup();
}

static void route_token(const FakeResponse *r, size_t n) {
        ck_assert_int_eq(fake_server_route(server, "GET", MSI_TOKEN_PATH, r, n), 0);
}
static void route_secret(const FakeResponse *r, size_t n) {
        ck_assert_int_eq(fake_server_route(server, "GET", SECRET_PATH, r, n), 0);
}

static char *secret_body(const char *value, const char *version) {
        char *b = NULL;
        ck_assert_int_ge(asprintf_safe(&b, "{\"value\":\"%s\",\"id\":\"%s" SECRET_PATH "/%s\",\"attributes\":"
                                           "{\"enabled\":true}}", value, https_url, version), 0);
        return b;
}

static void ref_for(KeyVaultRef *r, const char *suffix) {
        _cleanup_free_ char *u = strjoin(https_url, SECRET_PATH, suffix);
        char why[256] = "";
        ck_assert_msg(keyvault_parse_ref(u, strlen(u), allowed, r, why, sizeof why) == 0, "%s", why);
}

typedef struct Fixture {
        MsiClient msi;
        KeyVaultClient kv;
        KeyVaultRef ref;
        Secret *value;
        char *version;
        KeyVaultFailure f;
} Fixture;

static void fixture(Fixture *x, int64_t deadline_ms) {
        *x = (Fixture){0};
        x->msi = (MsiClient){.imds_url = http_url, .deadline_ms = deadline_ms};
        x->kv = (KeyVaultClient){.msi = &x->msi, .ca_file = ca_file, .deadline_ms = deadline_ms};
        ref_for(&x->ref, NULL);
}

static void fixture_done(Fixture *x) {
        secret_free(x->value);
        free(x->version);
        keyvault_ref_done(&x->ref);
        keyvault_client_done(&x->kv);
}

static int get(Fixture *x) {
        return keyvault_get_secret(&x->kv, &x->ref, &x->value, &x->version, &x->f);
}

START_TEST(test_get_request_and_value) {
        _cleanup_free_ char *body = secret_body(CANARY_PUSH_TOKEN, VERSION1);
        route_token((FakeResponse[]){{.body = TOKEN_BODY(CANARY_MSI_TOKEN)}}, 1);
        route_secret((FakeResponse[]){{.body = body, .bearer = CANARY_MSI_TOKEN, .content_type = "application/json"}}, 1);
        Fixture x;
        fixture(&x, 10000);
        ck_assert_int_eq(get(&x), 0);
        ck_assert_str_eq(secret_reveal(x.value), CANARY_PUSH_TOKEN);
        ck_assert_str_eq(x.version, VERSION1);

        json_auto_t *reqs = fake_server_requests(server);
        ck_assert_uint_eq(json_array_size(reqs), 2);
        json_t *tok = json_array_get(reqs, 0), *sec = json_array_get(reqs, 1);
        ck_assert_str_eq(json_string_value(json_object_get(tok, "path")), MSI_TOKEN_PATH);
        ck_assert(!json_is_true(json_object_get(tok, "tls")));
        ck_assert_str_eq(json_string_value(json_object_get(sec, "path")), SECRET_PATH);
        ck_assert_str_eq(json_string_value(json_object_get(sec, "query")), "api-version=7.4");
        ck_assert(json_is_true(json_object_get(sec, "tls")));
        json_t *h = json_object_get(sec, "headers");
        ck_assert_str_eq(json_string_value(json_object_get(h, "authorization")), "Bearer " CANARY_MSI_TOKEN);
        /* Key Vault is not IMDS: no Metadata header goes there. */
        ck_assert_ptr_null(json_object_get(h, "metadata"));

        /* A second secret with the same client reuses the token. */
        secret_free(x.value);
        free(x.version);
        x.value = NULL;
        x.version = NULL;
        ck_assert_int_eq(get(&x), 0);
        ck_assert_uint_eq(fake_server_count(server, "GET", MSI_TOKEN_PATH), 1);
        ck_assert_uint_eq(fake_server_count(server, "GET", SECRET_PATH), 2);
        _cleanup_free_ char *red = secret_redact(CANARY_PUSH_TOKEN " " CANARY_MSI_TOKEN);
        ck_assert_str_eq(red, SECRET_HIDDEN " " SECRET_HIDDEN);
        fixture_done(&x);
}
END_TEST

START_TEST(test_401_takes_a_new_token) {
        _cleanup_free_ char *body = secret_body(CANARY_HMAC_TOKEN, VERSION1);
        route_token((FakeResponse[]){{.body = TOKEN_BODY(CANARY_MSI_TOKEN)}, {.body = TOKEN_BODY(CANARY_MSI_TOKEN_2)}}, 2);
        route_secret((FakeResponse[]){{.body = body, .bearer = CANARY_MSI_TOKEN_2}}, 1);
        Fixture x;
        fixture(&x, 10000);
        ck_assert_int_eq(get(&x), 0);
        ck_assert_str_eq(secret_reveal(x.value), CANARY_HMAC_TOKEN);
        ck_assert_uint_eq(fake_server_count(server, "GET", MSI_TOKEN_PATH), 2);
        json_auto_t *reqs = fake_server_requests(server);
        ck_assert_uint_eq(json_array_size(reqs), 4);
        ck_assert_str_eq(json_string_value(json_object_get(json_object_get(json_array_get(reqs, 3), "headers"),
                                                           "authorization")), "Bearer " CANARY_MSI_TOKEN_2);
        fixture_done(&x);
}
END_TEST

START_TEST(test_403_retried_until_granted) {
        _cleanup_free_ char *body = secret_body(CANARY_HMAC_TOKEN, VERSION1);
        static const char forbidden[] = "{\"error\":{\"code\":\"Forbidden\",\"message\":\"Caller is not authorized\","
                                        "\"innererror\":{\"code\":\"ForbiddenByRbac\"}}}";
        route_token((FakeResponse[]){{.body = TOKEN_BODY(CANARY_MSI_TOKEN)}}, 1);
        route_secret((FakeResponse[]){{.status = 403, .body = forbidden, .for_ms = 800}, {.body = body}}, 2);
        Fixture x;
        fixture(&x, 10000);
        int64_t t0 = now_monotonic_ms();
        ck_assert_int_eq(get(&x), 0);
        ck_assert_int_ge(now_monotonic_ms() - t0, 800);
        ck_assert_uint_ge(fake_server_count(server, "GET", SECRET_PATH), 3);
        ck_assert_uint_eq(fake_server_count(server, "GET", MSI_TOKEN_PATH), 1);
        fixture_done(&x);
}
END_TEST

START_TEST(test_403_deadline) {
        static const char forbidden[] = "{\"error\":{\"code\":\"Forbidden\",\"innererror\":{\"code\":\"ForbiddenByRbac\"}}}";
        route_token((FakeResponse[]){{.body = TOKEN_BODY(CANARY_MSI_TOKEN)}}, 1);
        route_secret((FakeResponse[]){{.status = 403, .body = forbidden}}, 1);
        Fixture x;
        fixture(&x, 700);
        ck_assert_int_eq(get(&x), -ETIMEDOUT);
        ck_assert_int_eq(x.f.status, 403);
        ck_assert_str_eq(x.f.code, "Forbidden");
        ck_assert_str_eq(x.f.inner_code, "ForbiddenByRbac");
        ck_assert_str_eq(x.f.last, "HTTP 403 (Forbidden, ForbiddenByRbac)");
        ck_assert(!x.f.token);
        ck_assert_ptr_null(x.value);
        fixture_done(&x);
}
END_TEST

/* The last try, cut short by the deadline, does not hide the answer before it. */
START_TEST(test_deadline_keeps_last_answer) {
        static const char forbidden[] = "{\"error\":{\"code\":\"Forbidden\",\"innererror\":{\"code\":\"ForbiddenByRbac\"}}}";
        route_token((FakeResponse[]){{.body = TOKEN_BODY(CANARY_MSI_TOKEN)}}, 1);
        route_secret((FakeResponse[]){{.status = 403, .body = forbidden}, {.hang = true}}, 2);
        Fixture x;
        fixture(&x, 800);
        ck_assert_int_eq(get(&x), -ETIMEDOUT);
        ck_assert_str_eq(x.f.last, "HTTP 403 (Forbidden, ForbiddenByRbac)");
        ck_assert_int_eq(x.f.status, 403);
        fixture_done(&x);
}
END_TEST

START_TEST(test_429_retry_after) {
        _cleanup_free_ char *body = secret_body(CANARY_HMAC_TOKEN, VERSION1);
        route_token((FakeResponse[]){{.body = TOKEN_BODY(CANARY_MSI_TOKEN)}}, 1);
        route_secret((FakeResponse[]){{.status = 429, .headers = "Retry-After: 1\n"}, {.body = body}}, 2);
        Fixture x;
        fixture(&x, 10000);
        ck_assert_int_eq(get(&x), 0);
        json_auto_t *reqs = fake_server_requests(server);
        ck_assert_uint_eq(json_array_size(reqs), 3);
        json_int_t gap = json_integer_value(json_object_get(json_array_get(reqs, 2), "time_ms")) -
                         json_integer_value(json_object_get(json_array_get(reqs, 1), "time_ms"));
        ck_assert_int_ge(gap, 1000);
        fixture_done(&x);
}
END_TEST

START_TEST(test_5xx_and_reset_retried) {
        _cleanup_free_ char *body = secret_body(CANARY_HMAC_TOKEN, VERSION1);
        route_token((FakeResponse[]){{.body = TOKEN_BODY(CANARY_MSI_TOKEN)}}, 1);
        route_secret((FakeResponse[]){{.status = 503}, {.reset = true}, {.status = 500}, {.body = body}}, 4);
        Fixture x;
        fixture(&x, 10000);
        ck_assert_int_eq(get(&x), 0);
        ck_assert_uint_eq(fake_server_count(server, "GET", SECRET_PATH), 4);
        fixture_done(&x);
}
END_TEST

START_TEST(test_404_and_400_not_retried) {
        static const char nf[] = "{\"error\":{\"code\":\"SecretNotFound\",\"message\":\"A secret with (name/id) x was not found\"}}";
        route_token((FakeResponse[]){{.body = TOKEN_BODY(CANARY_MSI_TOKEN)}}, 1);
        route_secret((FakeResponse[]){{.status = 404, .body = nf}, {.status = 400, .body = "{\"error\":{\"code\":\"BadParameter\"}}"}}, 2);
        Fixture x;
        fixture(&x, 10000);
        ck_assert_int_eq(get(&x), -ENOENT);
        ck_assert_str_eq(x.f.last, "HTTP 404 (SecretNotFound)");
        ck_assert_int_eq(get(&x), -EINVAL);
        ck_assert_str_eq(x.f.last, "HTTP 400 (BadParameter)");
        ck_assert_uint_eq(fake_server_count(server, "GET", SECRET_PATH), 2);
        fixture_done(&x);
}
END_TEST

START_TEST(test_token_failure_named) {
        route_token((FakeResponse[]){{.status = 400, .body = "{\"error\":\"invalid_request\","
                                                             "\"error_description\":\"Identity not found\"}"}}, 1);
        Fixture x;
        fixture(&x, 500);
        ck_assert_int_eq(get(&x), -ETIMEDOUT);
        ck_assert(x.f.token);
        ck_assert_str_eq(x.f.last, "managed identity token from IMDS: HTTP 400 (Identity not found)");
        ck_assert_uint_eq(fake_server_count(server, "GET", SECRET_PATH), 0);
        fixture_done(&x);
}
END_TEST

START_TEST(test_untrusted_vault_is_a_network_failure) {
        route_token((FakeResponse[]){{.body = TOKEN_BODY(CANARY_MSI_TOKEN)}}, 1);
        Fixture x;
        fixture(&x, 500);
        x.kv.ca_file = NULL;   /* the test CA is not in the system store */
        ck_assert_int_eq(get(&x), -ETIMEDOUT);
        ck_assert(x.f.network);
        ck_assert_int_eq(x.f.status, 0);
        /* The token never went to a server it could not verify. */
        ck_assert_uint_eq(fake_server_count(server, "GET", SECRET_PATH), 0);
        fixture_done(&x);
}
END_TEST

START_TEST(test_bad_value_body) {
        route_token((FakeResponse[]){{.body = TOKEN_BODY(CANARY_MSI_TOKEN)}}, 1);
        route_secret((FakeResponse[]){{.body = "{\"id\":\"x\"}"}}, 1);
        Fixture x;
        fixture(&x, 5000);
        ck_assert_int_eq(get(&x), -EBADMSG);
        ck_assert_ptr_null(x.value);
        ck_assert_uint_eq(fake_server_count(server, "GET", SECRET_PATH), 1);
        fixture_done(&x);
}
END_TEST

int main(void) {
        Suite *s = suite_create("keyvault");
        TCase *tc = tcase_create("ref");
        tcase_add_loop_test(tc, test_ref_good, 0, (int)ELEMENTSOF(good));
        tcase_add_loop_test(tc, test_ref_bad, 0, (int)ELEMENTSOF(bad));
        tcase_add_test(tc, test_ref_suffixes);
        tcase_add_test(tc, test_version_from_id);
        suite_add_tcase(s, tc);

        tc = tcase_create("client");
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 30);
        tcase_add_test(tc, test_get_request_and_value);
        tcase_add_test(tc, test_401_takes_a_new_token);
        tcase_add_test(tc, test_403_retried_until_granted);
        tcase_add_test(tc, test_403_deadline);
        tcase_add_test(tc, test_deadline_keeps_last_answer);
        tcase_add_test(tc, test_429_retry_after);
        tcase_add_test(tc, test_5xx_and_reset_retried);
        tcase_add_test(tc, test_404_and_400_not_retried);
        tcase_add_test(tc, test_token_failure_named);
        tcase_add_test(tc, test_untrusted_vault_is_a_network_failure);
        tcase_add_test(tc, test_bad_value_body);
        suite_add_tcase(s, tc);
        return tu_run_suite(s);
}
