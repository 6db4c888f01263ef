/* test-scriptsecrets: values of a legacy user-data script that look like the documented
 * secrets are registered for redaction before it runs (its `bash -x` trace prints them). */
#include <check.h>
#include <string.h>

#include "canary.h"
#include "scriptsecrets.h"
#include "secret.h"
#include "testutil.h"
#include "util.h"

static void assert_redacted(const char *in, const char *want) {
        _cleanup_free_ char *got = secret_redact(in);
        ck_assert_ptr_nonnull(got);
        ck_assert_str_eq(got, want);
}

static int scan(const char *script) {
        secret_registry_clear();
        return script_secrets_register(script, strlen(script));
}

/* Darktrace's own script shape: literals in variables, passed to the installer and
 * the helpers; bash -x prints each command with the values expanded. */
START_TEST(test_darktrace_style_script) {
        static const char script[] =
                "#!/bin/bash -x\n"
                "UPDATEKEY=\"" CANARY_UPDATE_KEY "\"\n"
                "PUSHTOKEN='" CANARY_PUSH_TOKEN "'\n"
                "HMAC=" CANARY_HMAC_TOKEN "\n"
                "PROXY=\"" CANARY_PROXY_URL "\"\n"
                "wget -O - https://packages-cdn.darktrace.com/install | bash -s -- --updateKey \"$UPDATEKEY\"\n"
                "/usr/sbin/set_pushtoken.sh \"$PUSHTOKEN\" dt-master.example.com:443 \"${PROXY}\"\n"
                "/usr/sbin/set_ossensor_hmac.sh $HMAC   # the osSensor token\n";
        ck_assert_int_gt(scan(script), 0);
        assert_redacted("+ bash -s -- --updateKey " CANARY_UPDATE_KEY, "+ bash -s -- --updateKey (hidden)");
        assert_redacted("half Sekr1tValue9 and CanaryUpd8Key", "half (hidden) and (hidden)");
        assert_redacted("+ set_pushtoken.sh " CANARY_PUSH_TOKEN " dt-master.example.com:443 " CANARY_PROXY_URL,
                        "+ set_pushtoken.sh (hidden) dt-master.example.com:443 http://proxyuser:(hidden)@127.0.0.1:3128");
        assert_redacted("token " CANARY_PUSH_SECRET ", proxy pw " CANARY_PROXY_PW, "token (hidden), proxy pw (hidden)");
        assert_redacted("+ set_ossensor_hmac.sh " CANARY_HMAC_TOKEN, "+ set_ossensor_hmac.sh (hidden)");
        /* Hosts, ports and URLs stay readable. */
        assert_redacted("dt-master.example.com:443 10.0.0.5:3128 https://packages-cdn.darktrace.com/install",
                        "dt-master.example.com:443 10.0.0.5:3128 https://packages-cdn.darktrace.com/install");
        secret_registry_clear();
}
END_TEST

/* Literal arguments, --updateKey=X, and token-shaped words anywhere. */
START_TEST(test_literals_and_formats) {
        ck_assert_int_gt(scan("#!/bin/sh\n"
                              "bash /tmp/install.sh --updateKey=ab12:cd34\n"
                              "set_pushtoken.sh name-1:abcde12345 host:443; set_ossensor_hmac.sh 'abcdef123'\n"
                              "echo key is x9%2E.q:zz.7 # a comment with name-2:fghij67890 is skipped\n"),
                         0);
        assert_redacted("ab12:cd34 ab12 cd34 abcde12345 abcdef123 x9%2E.q:zz.7",
                        "(hidden) (hidden) (hidden) (hidden) (hidden) (hidden)");
        assert_redacted("name-2:fghij67890", "name-2:fghij67890");
        secret_registry_clear();
}
END_TEST

/* Nothing token-like: nothing registered, the log is untouched. */
START_TEST(test_plain_script) {
        ck_assert_int_eq(scan("#!/bin/bash\napt-get install -y curl\necho done: 10.0.0.1:8080\n"), 0);
        assert_redacted("apt-get install -y curl", "apt-get install -y curl");
        ck_assert_int_eq(script_secrets_register(NULL, 0), 0);
        /* An unterminated quote and an over-long word do not run past the text. */
        static char big[70000];
        memset(big, 'a', sizeof big - 1);
        big[0] = '"';
        ck_assert_int_ge(scan(big), 0);
        secret_registry_clear();
}
END_TEST

static Suite *suite(void) {
        Suite *s = suite_create("scriptsecrets");
        TCase *tc = tcase_create("core");
        tcase_add_test(tc, test_darktrace_style_script);
        tcase_add_test(tc, test_literals_and_formats);
        tcase_add_test(tc, test_plain_script);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return tu_run_suite(suite());
}
