#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "canary.h"
#include "secret.h"
#include "testutil.h"
#include "util.h"

static void setup(void) { secret_registry_clear(); }
static void teardown(void) { secret_registry_clear(); }

static void assert_redacted(const char *in, const char *want) {
        _cleanup_free_ char *out = secret_redact(in);
        ck_assert_ptr_nonnull(out);
        ck_assert_str_eq(out, want);
}

START_TEST(test_reveal_and_len) {
        _cleanup_secret_ Secret *s = secret_new_str(CANARY_HMAC_TOKEN);
        ck_assert_ptr_nonnull(s);
        ck_assert_str_eq(secret_reveal(s), CANARY_HMAC_TOKEN);
        ck_assert_uint_eq(secret_len(s), strlen(CANARY_HMAC_TOKEN));
        /* A copy: changing the source does not change the secret. */
        char buf[] = "abcdef";
        _cleanup_secret_ Secret *t = secret_new(buf, 3);
        buf[0] = 'X';
        ck_assert_str_eq(secret_reveal(t), "abc");
        ck_assert_uint_eq(secret_len(t), 3);
        ck_assert_ptr_null(secret_free(NULL));
}
END_TEST

START_TEST(test_redact_several) {
        _cleanup_secret_ Secret *a = secret_new_str(CANARY_HMAC_TOKEN);
        _cleanup_secret_ Secret *b = secret_new_str(CANARY_PROXY_PW);
        assert_redacted("hmac=" CANARY_HMAC_TOKEN " pw=" CANARY_PROXY_PW " end",
                        "hmac=(hidden) pw=(hidden) end");
        assert_redacted("nothing secret here", "nothing secret here");
        assert_redacted("", "");
}
END_TEST

START_TEST(test_redact_nested_longest_wins) {
        /* The update key contains "Sekr1tValue9"; the push token contains the push secret. */
        _cleanup_secret_ Secret *inner = secret_new_str("Sekr1tValue9");
        _cleanup_secret_ Secret *outer = secret_new_str(CANARY_UPDATE_KEY);
        _cleanup_secret_ Secret *ps = secret_new_str(CANARY_PUSH_SECRET);
        _cleanup_secret_ Secret *pt = secret_new_str(CANARY_PUSH_TOKEN);
        assert_redacted("key " CANARY_UPDATE_KEY " alone Sekr1tValue9.",
                        "key (hidden) alone (hidden).");
        assert_redacted("token " CANARY_PUSH_TOKEN "!", "token (hidden)!");
        assert_redacted("secret " CANARY_PUSH_SECRET "!", "secret (hidden)!");
        /* Same start: the shorter one registered first must not win. */
        _cleanup_secret_ Secret *shorter = secret_new_str("abcd");
        _cleanup_secret_ Secret *longer = secret_new_str("abcdefgh");
        assert_redacted("<abcdefgh> <abcd>", "<(hidden)> <(hidden)>");
}
END_TEST

START_TEST(test_redact_overlapping) {
        /* Overlapping values: no fragment of either may remain. */
        _cleanup_secret_ Secret *a = secret_new_str("abcdef");
        _cleanup_secret_ Secret *b = secret_new_str("xyzabc");
        assert_redacted("-xyzabcdef-", "-(hidden)-");
        assert_redacted("-abcdefxyzabc-", "-(hidden)(hidden)-");
        /* A replacement is not scanned again even if it would match. */
        _cleanup_secret_ Secret *h = secret_new_str("hidden");
        assert_redacted("abcdef hidden", "(hidden) (hidden)");
}
END_TEST

START_TEST(test_redact_edges_and_many) {
        _cleanup_secret_ Secret *s = secret_new_str(CANARY_HMAC_TOKEN);
        assert_redacted(CANARY_HMAC_TOKEN, "(hidden)");
        assert_redacted(CANARY_HMAC_TOKEN "x", "(hidden)x");
        assert_redacted("x" CANARY_HMAC_TOKEN, "x(hidden)");
        assert_redacted(CANARY_HMAC_TOKEN CANARY_HMAC_TOKEN, "(hidden)(hidden)");
        /* Prefix of a secret only: not redacted. */
        assert_redacted("CanaryHmac0Secret7", "CanaryHmac0Secret7");

        size_t n = 1000, l = strlen(CANARY_HMAC_TOKEN) + 1;
        _cleanup_free_ char *in = malloc(n * l + 1), *want = malloc(n * 9 + 1);
        ck_assert_ptr_nonnull(in);
        ck_assert_ptr_nonnull(want);
        for (size_t i = 0; i < n; i++) {
                memcpy(in + i * l, CANARY_HMAC_TOKEN " ", l);
                memcpy(want + i * 9, "(hidden) ", 9);
        }
        in[n * l] = 0;
        want[n * 9] = 0;
        assert_redacted(in, want);
}
END_TEST

START_TEST(test_free_unregisters) {
        Secret *s = secret_new_str(CANARY_PROXY_PW);
        assert_redacted("pw " CANARY_PROXY_PW, "pw (hidden)");
        s = secret_free(s);
        ck_assert_ptr_null(s);
        assert_redacted("pw " CANARY_PROXY_PW, "pw " CANARY_PROXY_PW);
}
END_TEST

START_TEST(test_duplicates) {
        /* The same value created twice stays hidden until both are freed. */
        Secret *a = secret_new_str(CANARY_PROXY_PW);
        Secret *b = secret_new_str(CANARY_PROXY_PW);
        a = secret_free(a);
        assert_redacted(CANARY_PROXY_PW, "(hidden)");
        b = secret_free(b);
        assert_redacted(CANARY_PROXY_PW, CANARY_PROXY_PW);
}
END_TEST

START_TEST(test_short_values_hidden_as_whole_tokens) {
        /* Values under four characters are registered too, but hide only where they
         * stand alone: "ab" is a secret in "key=ab", not in "about". */
        _cleanup_secret_ Secret *s = secret_new_str("ab");
        ck_assert_ptr_nonnull(s);
        ck_assert_str_eq(secret_reveal(s), "ab");
        ck_assert_int_eq(secret_register_value("x", 1), 0);
        assert_redacted("ab x abc", "(hidden) (hidden) abc");
        assert_redacted("about xab, taxi", "about xab, taxi");
        assert_redacted("key=ab;pw:x@host -p ab", "key=(hidden);pw:(hidden)@host -p (hidden)");
        assert_redacted("ab", "(hidden)");
        ck_assert_int_ne(secret_contains_any("ab x", 4), 0);
        ck_assert_int_ne(secret_contains_any("u:x@h", 5), 0);
        ck_assert_int_eq(secret_contains_any("about taxi", 10), 0);
        /* A longer value that contains a short one wins where both match. */
        _cleanup_secret_ Secret *three = secret_new_str("abc");
        assert_redacted("ab x abc abcd", "(hidden) (hidden) (hidden) abcd");
        _cleanup_secret_ Secret *four = secret_new_str("abcd");
        assert_redacted("xabcdx", "x(hidden)x");
        /* The empty value hides nothing. */
        ck_assert_int_eq(secret_register_value("", 0), 0);
        assert_redacted("", "");
        secret_registry_clear();
}
END_TEST

START_TEST(test_partial_suffix) {
        ck_assert_int_eq(secret_register_value(CANARY_HMAC_TOKEN, strlen(CANARY_HMAC_TOKEN)), 0);
        ck_assert_int_eq(secret_register_value("ab", 2), 0);
        ck_assert_uint_eq(secret_partial_suffix("xxxx", 4), 0);
        ck_assert_uint_eq(secret_partial_suffix("xxxxCan", 7), 3);
        ck_assert_uint_eq(secret_partial_suffix("xxxxCanaryHmac0Secret7", 22), 18);
        /* A whole value at the end is no partial one. */
        ck_assert_uint_eq(secret_partial_suffix("xx" CANARY_HMAC_TOKEN, strlen(CANARY_HMAC_TOKEN) + 2), 0);
        ck_assert_uint_eq(secret_partial_suffix("xxa", 3), 1);
        ck_assert_uint_eq(secret_partial_suffix("C", 1), 1);
        ck_assert_uint_eq(secret_partial_suffix("", 0), 0);
        secret_registry_clear();
}
END_TEST

START_TEST(test_register_value_and_clear) {
        ck_assert_int_eq(secret_register_value(CANARY_PROXY_PW "TAIL", strlen(CANARY_PROXY_PW)), 0);
        assert_redacted(CANARY_PROXY_URL, "http://proxyuser:(hidden)@127.0.0.1:3128");
        secret_registry_clear();
        assert_redacted(CANARY_PROXY_URL, CANARY_PROXY_URL);
}
END_TEST

START_TEST(test_contains_any) {
        _cleanup_secret_ Secret *s = secret_new_str(CANARY_HMAC_TOKEN);
        const char *t = "abc " CANARY_HMAC_TOKEN " def";
        ck_assert_int_ne(secret_contains_any(t, strlen(t)), 0);
        ck_assert_int_eq(secret_contains_any(t, 10), 0);  /* length is honoured */
        ck_assert_int_eq(secret_contains_any("(hidden)", 8), 0);
        /* Works on buffers that are not NUL-terminated and hold NULs. */
        char bin[64] = {0};
        memcpy(bin + 20, CANARY_HMAC_TOKEN, strlen(CANARY_HMAC_TOKEN));
        ck_assert_int_ne(secret_contains_any(bin, sizeof bin), 0);
}
END_TEST

START_TEST(test_many_values) {
        Secret *s[40];
        char v[32];
        for (int i = 0; i < 40; i++) {
                snprintf(v, sizeof v, "value-%02d-secret", i);
                s[i] = secret_new_str(v);
                ck_assert_ptr_nonnull(s[i]);
        }
        assert_redacted("a value-07-secret b value-39-secret c value-40-secret",
                        "a (hidden) b (hidden) c value-40-secret");
        for (int i = 0; i < 40; i++) s[i] = secret_free(s[i]);
        assert_redacted("a value-07-secret", "a value-07-secret");
}
END_TEST

static Suite *secret_suite(void) {
        Suite *s = suite_create("secret");
        TCase *tc = tcase_create("core");
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, test_reveal_and_len);
        tcase_add_test(tc, test_redact_several);
        tcase_add_test(tc, test_redact_nested_longest_wins);
        tcase_add_test(tc, test_redact_overlapping);
        tcase_add_test(tc, test_redact_edges_and_many);
        tcase_add_test(tc, test_free_unregisters);
        tcase_add_test(tc, test_duplicates);
        tcase_add_test(tc, test_short_values_hidden_as_whole_tokens);
        tcase_add_test(tc, test_partial_suffix);
        tcase_add_test(tc, test_register_value_and_clear);
        tcase_add_test(tc, test_contains_any);
        tcase_add_test(tc, test_many_values);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return tu_run_suite(secret_suite());
}
