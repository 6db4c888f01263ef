/* e2e: secrets from Azure Key Vault (DESIGN.md "Secrets from Azure Key Vault") with
 * --root against the fake IMDS identity endpoint and the fake Key Vault (HTTPS, test
 * CA, host 127.0.0.1 allowed exactly by key_vault.host_suffixes): a bootstrap with all
 * three secrets in the vault, a role assignment still propagating (403 for ~2 s), 429
 * honoured, a missing secret, a vault host outside the allowed suffixes, a value that
 * breaks the literal's rule, a reboot in the middle, refresh (no change, a new push
 * token version, the vault unreachable, no references), and the canary scan over
 * everything, the managed identity token included. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "e2e.h"
#include "msi.h"
#include "netfake.h"
#include "testutil.h"

static E2e e;

#define LOG_FILE "/var/log/user-data.log"
#define STATE_FILE "/var/lib/vsensor-init/state.json"
#define KEPT "/var/lib/vsensor-init/custom-data"
#define VERSION_A "0000000000000000000000000000000a"
#define VERSION_B "0000000000000000000000000000000b"
#define VERSION_C "0000000000000000000000000000000c"
#define VERSION_2 "22222222222222222222222222222222"
#define P_UPDATE "/secrets/vsensor-update-key"
#define P_PUSH "/secrets/vsensor-push-token"
#define P_HMAC "/secrets/vsensor-hmac"
#define TOKEN_BODY "{\"access_token\":\"" CANARY_MSI_TOKEN "\",\"expires_on\":\"1700003600\"," \
                   "\"resource\":\"https://vault.azure.net\",\"token_type\":\"Bearer\"}"
/* The fake Key Vault is this host; an exact entry allows it and nothing else. */
#define KV_CONFIG(deadline) "key_vault:\n  deadline: " #deadline "\n  ca_file: /test-ca.pem\n" \
                            "  host_suffixes: [127.0.0.1]\n"

#define CALL_REGISTER "set_pushtoken.sh " CANARY_PUSH_TOKEN " dt-master.example.com:443\n"
#define CALL_REGISTER_2 "set_pushtoken.sh " CANARY_PUSH_TOKEN_2 " dt-master.example.com:443\n"

#define RUN(...) e2e_run(&e, (const char *[]){__VA_ARGS__, NULL})

static char *secret_body(const char *path, const char *value, const char *version) {
        char *b = NULL;
        ck_assert_int_ge(asprintf_safe(&b, "{\"value\":\"%s\",\"id\":\"%s%s/%s\",\"attributes\":{\"enabled\":true},"
                                           "\"tags\":{}}", value, e.https_url, path, version), 0);
        return b;
}

static void serve_secret(const char *path, const char *value, const char *version) {
        _cleanup_free_ char *body = secret_body(path, value, version);
        FakeResponse r = {.body = body, .content_type = "application/json; charset=utf-8", .bearer = CANARY_MSI_TOKEN};
        ck_assert_int_eq(fake_server_route(e.fake, "GET", path, &r, 1), 0);
}

/* The fake Azure plus a vault holding the three canary secrets. */
static void setup_vault(const char *extra_config, const char *provisioning) {
        e2e_setup(&e, &(E2eOptions){.extra_config = extra_config, .provisioning = provisioning});
        ck_assert_int_eq(fake_server_route(e.fake, "GET", MSI_TOKEN_PATH,
                                           &(FakeResponse){.body = TOKEN_BODY, .content_type = "application/json"}, 1),
                         0);
        serve_secret(P_UPDATE, CANARY_UPDATE_KEY, VERSION_A);
        serve_secret(P_PUSH, CANARY_PUSH_TOKEN, VERSION_B);
        serve_secret(P_HMAC, CANARY_HMAC_TOKEN, VERSION_C);
}

/* The custom data with references to the fake vault (update_key host overridable). */
static char *kv_custom_data(const char *update_key_url) {
        char *s = NULL;
        ck_assert_int_ge(asprintf_safe(&s,
                                       "vsensor:\n"
                                       "  update_key:\n"
                                       "    key_vault: %s" P_UPDATE "\n"
                                       "  master:\n"
                                       "    host: dt-master.example.com\n"
                                       "    push_token:\n"
                                       "      key_vault: %s" P_PUSH "\n"
                                       "  ossensor:\n"
                                       "    hmac_token:\n"
                                       "      key_vault: %s" P_HMAC "\n"
                                       "  pcap:\n"
                                       "    storage_account: mystorageacct\n"
                                       "    container: darktrace-vsensor-quickstart-pcaps\n",
                                       update_key_url ? update_key_url : e.https_url, e.https_url, e.https_url),
                         0);
        return s;
}

static const char *kv_file(void) {
        _cleanup_free_ char *cd = kv_custom_data(NULL);
        return e2e_write_file(&e, "custom-data.yaml", cd);
}

static json_t *requests_for(const char *path) {
        json_t *all = fake_server_requests(e.fake), *out = json_array(), *r;
        size_t i;
        json_array_foreach(all, i, r) {
                if (streq(json_string_value(json_object_get(r, "path")), path)) json_array_append(out, r);
        }
        json_decref(all);
        return out;
}

/* Every Key Vault and token request so far, one line each, the token redacted: what
 * the closing note of issue 12 lists. */
static void print_vault_requests(const char *title) {
        json_t *all = fake_server_requests(e.fake), *r;
        size_t i;
        printf("%s:\n", title);
        json_array_foreach(all, i, r) {
                const char *path = json_string_value(json_object_get(r, "path"));
                if (!streq(path, MSI_TOKEN_PATH) && strncmp(path, "/secrets/", 9) != 0) continue;
                json_t *h = json_object_get(r, "headers"), *v;
                printf("  %s %s://%s%s?%s\n", json_string_value(json_object_get(r, "method")),
                       json_is_true(json_object_get(r, "tls")) ? "https" : "http",
                       json_string_value(json_object_get(h, "host")), path, json_string_value(json_object_get(r, "query")));
                const char *name;
                json_object_foreach(h, name, v) {
                        const char *val = json_string_value(v);
                        if (streq(name, "authorization"))
                                val = streq(val, "Bearer " CANARY_MSI_TOKEN) ? "Bearer (the IMDS token, redacted)"
                                                                             : "Bearer (another value, redacted)";
                        printf("      %s: %s\n", name, val);
                }
        }
        json_decref(all);
}

static char *status_json(void) {
        ck_assert_int_eq(RUN("status", "--json"), 0);
        return strdup(e.out);
}

/* The kept custom data holds the references, never a value; nothing else on disk
 * holds one either (e2e_assert_no_secrets skips the kept copy: check it here). */
static void assert_nothing_on_disk(void) {
        _cleanup_free_ char *kept = e2e_read(&e, KEPT);
        ck_assert_ptr_nonnull(kept);
        ck_assert_contains(kept, "key_vault: ");
        for (size_t i = 0; canary_values[i]; i++)
                ck_assert_msg(!strstr(kept, canary_values[i]), "canary #%zu in the kept custom data", i);
        e2e_assert_no_secrets(&e);
}

/* ---- the bootstrap ---- */

START_TEST(test_bootstrap_from_vault) {
        setup_vault(KV_CONFIG(10), NULL);
        const char *cd = kv_file();
        ck_assert_int_eq(RUN("validate", cd), 0);
        ck_assert_msg(RUN("--custom-data", cd) == 0, "exit %d\n%s", e.exit_code, e.err);
        _cleanup_free_ char *calls = e2e_helper_calls(&e);
        ck_assert_str_eq(calls, e2e_custom_data_calls);
        ck_assert(e2e_exists(&e, "/etc/darktrace/.user-data-success"));

        /* One token, then each secret once, with the token as bearer, api-version 7.4. */
        ck_assert_uint_eq(e2e_count(&e, "GET", MSI_TOKEN_PATH), 1);
        const char *paths[] = {P_UPDATE, P_PUSH, P_HMAC};
        for (size_t i = 0; i < 3; i++) {
                json_t *rs = requests_for(paths[i]);
                ck_assert_uint_eq(json_array_size(rs), 1);
                json_t *r = json_array_get(rs, 0), *h = json_object_get(r, "headers");
                ck_assert(json_is_true(json_object_get(r, "tls")));
                ck_assert_str_eq(json_string_value(json_object_get(r, "query")), "api-version=7.4");
                ck_assert_str_eq(json_string_value(json_object_get(h, "authorization")), "Bearer " CANARY_MSI_TOKEN);
                json_decref(rs);
        }
        json_t *tok = requests_for(MSI_TOKEN_PATH);
        ck_assert_str_eq(json_string_value(json_object_get(json_array_get(tok, 0), "query")),
                         "api-version=2018-02-01&resource=https%3A%2F%2Fvault.azure.net");
        ck_assert_str_eq(json_string_value(json_object_get(json_object_get(json_array_get(tok, 0), "headers"), "metadata")),
                         "true");
        json_decref(tok);
        print_vault_requests("requests recorded for one bootstrap");

        /* The applied versions, in state and in status (never the values). */
        _cleanup_free_ char *st = status_json();
        ck_assert_contains(st, "\"secrets\": [{\"key\": \"vsensor.update_key\", \"version\": \"" VERSION_A "\"");
        ck_assert_contains(st, "{\"key\": \"vsensor.master.push_token\", \"version\": \"" VERSION_B "\"");
        ck_assert_contains(st, "{\"key\": \"vsensor.ossensor.hmac_token\", \"version\": \"" VERSION_C "\"");
        ck_assert_int_eq(RUN("status"), 0);
        ck_assert_contains(e.out, "KEY VAULT SECRET");
        ck_assert_contains(e.out, "vsensor.master.push_token    " VERSION_B);

        /* What load took with three references against the fakes. */
        _cleanup_free_ char *log = e2e_read(&e, LOG_FILE);
        const char *line = strstr(log, "3 secrets read from Key Vault in ");
        ck_assert_ptr_nonnull(line);
        printf("load: %.*s\n", (int)(strchr(line, '\n') - line), line);
        const char *ld = strstr(log, " load: done: ");
        ck_assert_ptr_nonnull(ld);
        printf("load step: %.*s\n", (int)(strchr(ld, '\n') - ld), ld);
        ck_assert_contains(log, "vsensor.master.push_token: from Key Vault 127.0.0.1, secret vsensor-push-token, version "
                                VERSION_B);

        ck_assert_int_eq(RUN("show-config"), 0);
        ck_assert_contains(e.out, "push_token: { key_vault: https://127.0.0.1:");
        assert_nothing_on_disk();
}
END_TEST

/* The role assignment has not reached the vault yet: 403 for ~2 s, then the secret. */
START_TEST(test_403_while_role_propagates) {
        setup_vault(KV_CONFIG(15), NULL);
        static const char forbidden[] = "{\"error\":{\"code\":\"Forbidden\",\"message\":\"Caller is not authorized to "
                                        "perform action on resource.\",\"innererror\":{\"code\":\"ForbiddenByRbac\"}}}";
        _cleanup_free_ char *body = secret_body(P_UPDATE, CANARY_UPDATE_KEY, VERSION_A);
        FakeResponse rs[] = {{.status = 403, .body = forbidden, .for_ms = 2000, .bearer = CANARY_MSI_TOKEN},
                             {.body = body, .bearer = CANARY_MSI_TOKEN}};
        ck_assert_int_eq(fake_server_route(e.fake, "GET", P_UPDATE, rs, 2), 0);
        int64_t t0 = now_monotonic_ms();
        ck_assert_msg(RUN("--custom-data", kv_file()) == 0, "exit %d\n%s", e.exit_code, e.err);
        int64_t took = now_monotonic_ms() - t0;
        ck_assert_int_ge(took, 2000);
        ck_assert_uint_ge(e2e_count(&e, "GET", P_UPDATE), 3);
        ck_assert_contains(e.err, "Key Vault 127.0.0.1, secret vsensor-update-key: try 1 failed (HTTP 403 (Forbidden, "
                                  "ForbiddenByRbac))");
        _cleanup_free_ char *calls = e2e_helper_calls(&e);
        ck_assert_str_eq(calls, e2e_custom_data_calls);
        printf("403 for 2 s: bootstrap in %lld ms, %zu tries of the update key\n", (long long)took,
               e2e_count(&e, "GET", P_UPDATE));
        assert_nothing_on_disk();
}
END_TEST

/* Access never granted: exit 69 at the deadline, naming vault, secret, last answer and the fix. */
START_TEST(test_403_until_deadline) {
        setup_vault(KV_CONFIG(4), "agent");
        static const char forbidden[] = "{\"error\":{\"code\":\"Forbidden\",\"innererror\":{\"code\":\"ForbiddenByRbac\"}}}";
        ck_assert_int_eq(fake_server_route(e.fake, "GET", P_PUSH,
                                           &(FakeResponse){.status = 403, .body = forbidden, .bearer = CANARY_MSI_TOKEN}, 1),
                         0);
        _cleanup_free_ char *cd = kv_custom_data(NULL);
        e2e_serve_userdata(&e, cd);
        ck_assert_int_eq(RUN("run"), 69);
        ck_assert_contains(e.err, "vsensor.master.push_token: Key Vault 127.0.0.1 refused access to secret "
                                  "vsensor-push-token for 4 s (last: HTTP 403 (Forbidden, ForbiddenByRbac)); grant the "
                                  "scale set's identity 'Key Vault Secrets User' on vault 127");
        _cleanup_free_ char *calls = e2e_helper_calls(&e);
        ck_assert_str_eq(calls, "");
        /* OS provisioning went on; Azure hears why. */
        json_t *hs = requests_for("/machine");
        json_t *post = NULL, *r;
        size_t i;
        json_array_foreach(hs, i, r) if (streq(json_string_value(json_object_get(r, "method")), "POST")) post = r;
        ck_assert_ptr_nonnull(post);
        const char *body = json_string_value(json_object_get(post, "body"));
        ck_assert_contains(body, "<SubStatus>ProvisioningFailed</SubStatus>");
        ck_assert_contains(body, "vsensor.master.push_token: Key Vault 127.0.0.1 refused access");
        ck_assert_contains(body, "Key Vault Secrets User");
        json_decref(hs);
        e2e_assert_no_secrets(&e);
}
END_TEST

START_TEST(test_429_retry_after_honoured) {
        setup_vault(KV_CONFIG(10), NULL);
        _cleanup_free_ char *body = secret_body(P_HMAC, CANARY_HMAC_TOKEN, VERSION_C);
        FakeResponse rs[] = {{.status = 429, .headers = "Retry-After: 1\n", .body = "{\"error\":{\"code\":\"Throttled\"}}"},
                             {.body = body, .bearer = CANARY_MSI_TOKEN}};
        ck_assert_int_eq(fake_server_route(e.fake, "GET", P_HMAC, rs, 2), 0);
        ck_assert_msg(RUN("--custom-data", kv_file()) == 0, "exit %d\n%s", e.exit_code, e.err);
        json_t *hm = requests_for(P_HMAC);
        ck_assert_uint_eq(json_array_size(hm), 2);
        json_int_t gap = json_integer_value(json_object_get(json_array_get(hm, 1), "time_ms")) -
                         json_integer_value(json_object_get(json_array_get(hm, 0), "time_ms"));
        ck_assert_int_ge(gap, 1000);
        ck_assert_int_lt(gap, 2500);
        json_decref(hm);
        e2e_assert_no_secrets(&e);
}
END_TEST

/* 401 with an expired token: a new token, then the secret. */
START_TEST(test_401_new_token) {
        setup_vault(KV_CONFIG(10), NULL);
        static const char tok2[] = "{\"access_token\":\"" CANARY_MSI_TOKEN_2 "\",\"expires_on\":\"1700007200\"}";
        FakeResponse toks[] = {{.body = TOKEN_BODY}, {.body = tok2}};
        ck_assert_int_eq(fake_server_route(e.fake, "GET", MSI_TOKEN_PATH, toks, 2), 0);
        /* The vault takes only the second token for the push token. */
        _cleanup_free_ char *body = secret_body(P_PUSH, CANARY_PUSH_TOKEN, VERSION_B);
        ck_assert_int_eq(fake_server_route(e.fake, "GET", P_PUSH, &(FakeResponse){.body = body, .bearer = CANARY_MSI_TOKEN_2}, 1), 0);
        _cleanup_free_ char *b2 = secret_body(P_HMAC, CANARY_HMAC_TOKEN, VERSION_C);
        ck_assert_int_eq(fake_server_route(e.fake, "GET", P_HMAC, &(FakeResponse){.body = b2, .bearer = CANARY_MSI_TOKEN_2}, 1), 0);
        ck_assert_msg(RUN("--custom-data", kv_file()) == 0, "exit %d\n%s", e.exit_code, e.err);
        ck_assert_uint_eq(e2e_count(&e, "GET", MSI_TOKEN_PATH), 2);
        ck_assert_uint_eq(e2e_count(&e, "GET", P_PUSH), 2);
        ck_assert_uint_eq(e2e_count(&e, "GET", P_HMAC), 1);
        e2e_assert_no_secrets(&e);
}
END_TEST

/* ---- configuration errors: exit 65, named ---- */

START_TEST(test_missing_secret) {
        setup_vault(KV_CONFIG(10), "agent");
        static const char nf[] = "{\"error\":{\"code\":\"SecretNotFound\",\"message\":\"A secret with (name/id) "
                                 "vsensor-push-token was not found in this key vault.\"}}";
        ck_assert_int_eq(fake_server_route(e.fake, "GET", P_PUSH,
                                           &(FakeResponse){.status = 404, .body = nf, .bearer = CANARY_MSI_TOKEN}, 1), 0);
        _cleanup_free_ char *cd = kv_custom_data(NULL);
        e2e_serve_userdata(&e, cd);
        ck_assert_int_eq(RUN("run"), 65);
        ck_assert_uint_eq(e2e_count(&e, "GET", P_PUSH), 1);
        ck_assert_contains(e.err, "vsensor.master.push_token: secret vsensor-push-token not found in Key Vault 127.0.0.1 "
                                  "(HTTP 404 (SecretNotFound), https://127.0.0.1:");
        ck_assert_contains(e.err, "create it or correct the reference");
        _cleanup_free_ char *calls = e2e_helper_calls(&e);
        ck_assert_str_eq(calls, "");
        json_t *hs = requests_for("/machine");
        const char *body = json_string_value(json_object_get(json_array_get(hs, json_array_size(hs) - 1), "body"));
        ck_assert_contains(body, "<SubStatus>ProvisioningFailed</SubStatus>");
        ck_assert_contains(body, "secret vsensor-push-token not found in Key Vault 127.0.0.1");
        json_decref(hs);
        _cleanup_free_ char *st = status_json();
        ck_assert_contains(st, "{\"name\": \"load\", \"state\": \"failed\"");
        e2e_assert_no_secrets(&e);
}
END_TEST

/* localhost reaches the fake vault, but only 127.0.0.1 is allowed: refused offline. */
START_TEST(test_host_not_allowed) {
        setup_vault(KV_CONFIG(10), NULL);
        char url[128];
        snprintf(url, sizeof url, "https://localhost:%u", fake_server_port(e.fake, true));
        _cleanup_free_ char *text = kv_custom_data(url);
        const char *cd = e2e_write_file(&e, "custom-data.yaml", text);
        ck_assert_int_eq(RUN("validate", cd), 65);
        char expect[512];
        snprintf(expect, sizeof expect, "%s:3:16: vsensor.update_key.key_vault: expected https://HOST[:PORT]/secrets/"
                 "NAME[/VERSION] (got \"%s" P_UPDATE "\": the host localhost is not a Key Vault host allowed by "
                 "key_vault.host_suffixes (127.0.0.1))\n", cd, url);
        ck_assert_str_eq(e.err, expect);
        ck_assert_int_eq(RUN("--custom-data", cd), 65);
        ck_assert_contains(e.err, "the host localhost is not a Key Vault host allowed");
        ck_assert_uint_eq(e2e_count(&e, "GET", MSI_TOKEN_PATH), 0);
        ck_assert_uint_eq(e2e_count(&e, "GET", P_UPDATE) + e2e_count(&e, "GET", P_PUSH) + e2e_count(&e, "GET", P_HMAC), 0);
        /* Without key_vault.host_suffixes the defaults (the public clouds) apply: 127.0.0.1 is refused too. */
        _cleanup_free_ char *ok = kv_custom_data(NULL);
        char okfile[512], plain[512];
        snprintf(okfile, sizeof okfile, "%s", e2e_write_file(&e, "custom-data.yaml", ok));
        ck_assert_int_eq(RUN("validate", okfile), 0);
        snprintf(plain, sizeof plain, "%s", e2e_write_file(&e, "plain-config.yaml", "provisioning: none\n"));
        ck_assert_int_eq(RUN("--config", plain, "validate", okfile), 65);
        ck_assert_contains(e.err, "the host 127.0.0.1 is not a Key Vault host allowed by key_vault.host_suffixes "
                                  "(.vault.azure.net, .vault.azure.cn, .vault.usgovcloudapi.net, .vault.microsoftazure.de)");
        e2e_assert_no_secrets(&e);
}
END_TEST

START_TEST(test_value_breaks_rule) {
        setup_vault(KV_CONFIG(10), NULL);
        serve_secret(P_HMAC, CANARY_BAD_HMAC, VERSION_C);
        const char *cd = kv_file();
        ck_assert_int_eq(RUN("--custom-data", cd), 65);
        char expect[512];
        snprintf(expect, sizeof expect, "%s:10:18: vsensor.ossensor.hmac_token: the value from Key Vault (%s" P_HMAC
                 ") is not valid: 6 to 62 letters or digits (got 20 characters, not all letters or digits)", cd,
                 e.https_url);
        ck_assert_contains(e.err, expect);
        _cleanup_free_ char *calls = e2e_helper_calls(&e);
        ck_assert_str_eq(calls, "");
        _cleanup_free_ char *log = e2e_read(&e, LOG_FILE);
        ck_assert_contains(log, "is not valid: 6 to 62 letters or digits");
        e2e_assert_no_secrets(&e);
}
END_TEST

/* ---- a reboot in the middle ---- */

START_TEST(test_reboot_resumes_and_fetches_again) {
        setup_vault(KV_CONFIG(10), NULL);
        /* The hmac helper fails both tries: the run stops after register, as a reboot would. */
        e2e_put(&e, "/fake/fail/set_ossensor_hmac.sh", "2\n", 0644);
        ck_assert_int_eq(RUN("--custom-data", kv_file()), 75);
        ck_assert_uint_eq(e2e_count(&e, "GET", P_HMAC), 1);
        assert_nothing_on_disk();

        /* The next boot: the kept custom data (references only) is read again. */
        ck_assert_msg(RUN("run") == 0, "exit %d\n%s", e.exit_code, e.err);
        ck_assert_uint_eq(e2e_count(&e, "GET", MSI_TOKEN_PATH), 2);
        ck_assert_uint_eq(e2e_count(&e, "GET", P_UPDATE), 2);
        ck_assert_uint_eq(e2e_count(&e, "GET", P_PUSH), 2);
        ck_assert_uint_eq(e2e_count(&e, "GET", P_HMAC), 2);
        _cleanup_free_ char *calls = e2e_helper_calls(&e);
        ck_assert_str_eq(calls, CALL_REGISTER
                         "set_ossensor_hmac.sh " CANARY_HMAC_TOKEN "\n"
                         "set_ossensor_hmac.sh " CANARY_HMAC_TOKEN "\n"
                         "set_ossensor_hmac.sh " CANARY_HMAC_TOKEN "\n"
                         "set_pcap_azure_container.sh mystorageacct darktrace-vsensor-quickstart-pcaps\n"
                         "set_ossensor_loadbalancer_direct.sh 1\nset_ephemeral.sh 1\n");
        /* A no-op boot afterwards reads nothing from the vault. */
        ck_assert_int_eq(RUN("run"), 0);
        ck_assert_uint_eq(e2e_count(&e, "GET", MSI_TOKEN_PATH), 2);
        assert_nothing_on_disk();
}
END_TEST

/* Killed (power lost) while load waits for the vault: nothing is on disk but the
 * references; the next boot fetches again and completes. */
START_TEST(test_killed_during_fetch) {
        setup_vault(KV_CONFIG(20), NULL);
        static const char forbidden[] = "{\"error\":{\"code\":\"Forbidden\"}}";
        ck_assert_int_eq(fake_server_route(e.fake, "GET", P_HMAC,
                                           &(FakeResponse){.status = 403, .body = forbidden, .bearer = CANARY_MSI_TOKEN}, 1),
                         0);
        pid_t pid = e2e_start(&e, (const char *[]){"--custom-data", kv_file(), NULL});
        for (int i = 0; i < 200 && e2e_count(&e, "GET", P_HMAC) < 2; i++) sleep_ms(25);
        ck_assert_uint_ge(e2e_count(&e, "GET", P_HMAC), 2);
        ck_assert_int_eq(kill(pid, SIGKILL), 0);
        ck_assert_int_eq(e2e_wait(&e, pid), 128 + SIGKILL);
        assert_nothing_on_disk();
        _cleanup_free_ char *calls0 = e2e_helper_calls(&e);
        ck_assert_str_eq(calls0, "");

        serve_secret(P_HMAC, CANARY_HMAC_TOKEN, VERSION_C);
        ck_assert_msg(RUN("run") == 0, "exit %d\n%s", e.exit_code, e.err);
        ck_assert_uint_eq(e2e_count(&e, "GET", MSI_TOKEN_PATH), 2);
        ck_assert_uint_eq(e2e_count(&e, "GET", P_UPDATE), 2);
        _cleanup_free_ char *calls = e2e_helper_calls(&e);
        ck_assert_str_eq(calls, e2e_custom_data_calls);
        assert_nothing_on_disk();
}
END_TEST

/* ---- refresh ---- */

static void bootstrap(void) {
        setup_vault(KV_CONFIG(4), NULL);
        ck_assert_msg(RUN("--custom-data", kv_file()) == 0, "exit %d\n%s", e.exit_code, e.err);
}

static int64_t mtime_ns(const char *path) {
        _cleanup_free_ char *p = path_under_root(e.root, path);
        struct stat st;
        ck_assert_int_eq(stat(p, &st), 0);
        return (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
}

START_TEST(test_refresh_no_change) {
        bootstrap();
        _cleanup_free_ char *state0 = e2e_read(&e, STATE_FILE);
        _cleanup_free_ char *log0 = e2e_read(&e, LOG_FILE);
        int64_t m0 = mtime_ns(STATE_FILE);
        size_t tok0 = e2e_count(&e, "GET", MSI_TOKEN_PATH);

        ck_assert_msg(RUN("refresh") == 0, "exit %d\n%s", e.exit_code, e.err);
        ck_assert_contains(e.err, "every Key Vault secret is at its applied version: nothing to do");
        ck_assert_uint_eq(e2e_count(&e, "GET", MSI_TOKEN_PATH), tok0 + 1);
        ck_assert_uint_eq(e2e_count(&e, "GET", P_PUSH), 2);
        _cleanup_free_ char *calls = e2e_helper_calls(&e);
        ck_assert_str_eq(calls, e2e_custom_data_calls);
        /* No write: state and log are as they were. */
        _cleanup_free_ char *state1 = e2e_read(&e, STATE_FILE);
        _cleanup_free_ char *log1 = e2e_read(&e, LOG_FILE);
        ck_assert_str_eq(state1, state0);
        ck_assert_str_eq(log1, log0);
        ck_assert_int_eq(mtime_ns(STATE_FILE), m0);
        e2e_assert_no_secrets(&e);
}
END_TEST

START_TEST(test_refresh_new_push_token_version) {
        bootstrap();
        serve_secret(P_PUSH, CANARY_PUSH_TOKEN_2, VERSION_2);
        ck_assert_msg(RUN("refresh") == 0, "exit %d\n%s", e.exit_code, e.err);
        _cleanup_free_ char *calls = e2e_helper_calls(&e);
        ck_assert_str_eq(calls + strlen(e2e_custom_data_calls), CALL_REGISTER_2);
        ck_assert_contains(e.err, "vsensor.master.push_token: new version " VERSION_2 " in Key Vault (applied: " VERSION_B ")");
        _cleanup_free_ char *st = status_json();
        ck_assert_contains(st, "{\"key\": \"vsensor.master.push_token\", \"version\": \"" VERSION_2 "\"");
        ck_assert_contains(st, "{\"key\": \"vsensor.ossensor.hmac_token\", \"version\": \"" VERSION_C "\"");
        _cleanup_free_ char *log = e2e_read(&e, LOG_FILE);
        ck_assert_contains(log, "re-applied with version " VERSION_2);

        /* Once applied, the next refresh has nothing to do. */
        ck_assert_int_eq(RUN("refresh"), 0);
        _cleanup_free_ char *calls2 = e2e_helper_calls(&e);
        ck_assert_str_eq(calls2, calls);

        /* A new update key is logged and kept for the next install; no helper runs. */
        serve_secret(P_UPDATE, CANARY_UPDATE_KEY, VERSION_2);
        ck_assert_int_eq(RUN("refresh"), 0);
        ck_assert_contains(e.err, "vsensor.update_key: kept for the next install");
        _cleanup_free_ char *calls3 = e2e_helper_calls(&e);
        ck_assert_str_eq(calls3, calls);
        _cleanup_free_ char *st2 = status_json();
        ck_assert_contains(st2, "{\"key\": \"vsensor.update_key\", \"version\": \"" VERSION_2 "\"");
        assert_nothing_on_disk();
}
END_TEST

START_TEST(test_refresh_vault_unreachable) {
        bootstrap();
        _cleanup_free_ char *state0 = e2e_read(&e, STATE_FILE);
        /* The connection drops on every try, for longer than key_vault.deadline (4 s). */
        ck_assert_int_eq(fake_server_route(e.fake, "GET", P_UPDATE, &(FakeResponse){.reset = true}, 1), 0);
        ck_assert_int_eq(RUN("refresh"), 69);
        ck_assert_contains(e.err, "refresh failed: vsensor.update_key: Key Vault 127.0.0.1 did not give secret "
                                  "vsensor-update-key within 4 s");
        ck_assert_contains(e.err, "the applied secrets stay as they are; the next refresh tries again");
        _cleanup_free_ char *calls = e2e_helper_calls(&e);
        ck_assert_str_eq(calls, e2e_custom_data_calls);
        _cleanup_free_ char *state1 = e2e_read(&e, STATE_FILE);
        ck_assert_str_eq(state1, state0);

        /* The next timer run: the vault is back with a new push token. */
        serve_secret(P_UPDATE, CANARY_UPDATE_KEY, VERSION_A);
        serve_secret(P_PUSH, CANARY_PUSH_TOKEN_2, VERSION_2);
        ck_assert_msg(RUN("refresh") == 0, "exit %d\n%s", e.exit_code, e.err);
        _cleanup_free_ char *calls2 = e2e_helper_calls(&e);
        ck_assert_str_eq(calls2 + strlen(e2e_custom_data_calls), CALL_REGISTER_2);
        assert_nothing_on_disk();
}
END_TEST

/* A vault the network does not let through: the fetch's error carries preflight's
 * key_vault check of that vault (DESIGN "Diagnosis"), in the log and in what Azure hears. */
START_TEST(test_unreachable_vault_is_diagnosed) {
        setup_vault("key_vault:\n  deadline: 2\n  ca_file: /test-ca.pem\n  host_suffixes: [127.0.0.1]\n"
                    "preflight: { timeout: 1, on_failure: true }\n",
                    "agent");
        char vault[64];
        snprintf(vault, sizeof vault, "https://127.0.0.1:%u", netfake_refused_port());
        _cleanup_free_ char *cd = kv_custom_data(vault);
        e2e_serve_userdata(&e, cd);
        ck_assert_int_eq(RUN("run"), 69);
        ck_assert_contains(e.err, "vsensor.update_key: Key Vault 127.0.0.1 did not give secret vsensor-update-key");
        ck_assert_contains(e.err, "; preflight key_vault (");
        ck_assert_contains(e.err, "connection refused");
        _cleanup_free_ char *log = e2e_read(&e, LOG_FILE);
        ck_assert_contains(log, "; preflight key_vault (");
        json_t *hs = requests_for("/machine");
        json_t *post = NULL, *r;
        size_t i;
        json_array_foreach(hs, i, r) if (streq(json_string_value(json_object_get(r, "method")), "POST")) post = r;
        ck_assert_ptr_nonnull(post);
        ck_assert_contains(json_string_value(json_object_get(post, "body")), "preflight key_vault (");
        json_decref(hs);
        e2e_assert_no_secrets(&e);
}
END_TEST

START_TEST(test_refresh_without_references) {
        e2e_setup(&e, &(E2eOptions){.extra_config = KV_CONFIG(2)});
        /* Not bootstrapped yet (an image build): nothing kept, nothing to do. */
        ck_assert_int_eq(RUN("refresh"), 0);
        ck_assert_contains(e.err, "nothing to refresh");
        const char *cd = e2e_write_file(&e, "custom-data.yaml", e2e_custom_data);
        ck_assert_int_eq(RUN("--custom-data", cd), 0);
        _cleanup_free_ char *state0 = e2e_read(&e, STATE_FILE);
        int64_t t0 = now_monotonic_ms();
        ck_assert_int_eq(RUN("refresh"), 0);
        ck_assert_int_lt(now_monotonic_ms() - t0, 2000);
        ck_assert_contains(e.err, "the custom data has no Key Vault references: nothing to refresh");
        ck_assert_uint_eq(e2e_count(&e, "GET", MSI_TOKEN_PATH), 0);
        _cleanup_free_ char *state1 = e2e_read(&e, STATE_FILE);
        ck_assert_str_eq(state1, state0);
        ck_assert_ptr_null(strstr(state1, "\"secrets\""));
        e2e_assert_no_secrets(&e);
}
END_TEST

static void teardown(void) {
        e2e_teardown(&e);
}

int main(void) {
        Suite *s = suite_create("e2e-keyvault");
        TCase *tc = tcase_create("keyvault");
        tcase_add_checked_fixture(tc, NULL, teardown);
        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, test_bootstrap_from_vault);
        tcase_add_test(tc, test_403_while_role_propagates);
        tcase_add_test(tc, test_403_until_deadline);
        tcase_add_test(tc, test_429_retry_after_honoured);
        tcase_add_test(tc, test_401_new_token);
        tcase_add_test(tc, test_missing_secret);
        tcase_add_test(tc, test_host_not_allowed);
        tcase_add_test(tc, test_value_breaks_rule);
        tcase_add_test(tc, test_reboot_resumes_and_fetches_again);
        tcase_add_test(tc, test_killed_during_fetch);
        tcase_add_test(tc, test_refresh_no_change);
        tcase_add_test(tc, test_refresh_new_push_token_version);
        tcase_add_test(tc, test_refresh_vault_unreachable);
        tcase_add_test(tc, test_refresh_without_references);
        tcase_add_test(tc, test_unreachable_vault_is_diagnosed);
        suite_add_tcase(s, tc);
        return tu_run_suite(s);
}
