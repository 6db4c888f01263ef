/* account: the admin user name rule (Field rules), login.defs' UID range, passwd. */
#include <check.h>
#include <sys/stat.h>

#include "account.h"
#include "testutil.h"

static const char *const accepted[] = {
        "azureuser", "AzureUser", "ADMIN", "ops.team", "svc_vsensor", "a-b-c", "_x", "u1", "a", "1a", "Ab.9_-z",
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", /* 64 */
};

START_TEST(test_accepted) {
        ck_assert_msg(account_name_problem(accepted[_i]) == NULL, "%s: %s", accepted[_i], account_name_problem(accepted[_i]));
}
END_TEST

static const struct {
        const char *name, *problem;
} refused[] = {
        {"", "it is empty"},
        {"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "it is longer than 64 characters"},
        {"-rf", "it starts with '-'"},
        {"a:b", "it holds ':'"},
        {"a/b", "it holds '/'"},
        {"../etc", "it holds '/'"},
        {"a b", "it holds whitespace"},
        {"a\tb", "it holds control characters"},
        {"a\nroot", "it holds control characters"},
        {"a\x1b[0m", "it holds control characters"},
        {"user.", "it ends with '.'"},
        {"..", "it ends with '.'"},
        {"1000", "it is all digits (tools would take it for a uid)"},
        {"a$", "it holds a character other than letters, digits, '.', '_' and '-'"},
        {"us\xc3\xa9r", "it holds a character other than letters, digits, '.', '_' and '-'"},
        {"a@b", "it holds a character other than letters, digits, '.', '_' and '-'"},
};

START_TEST(test_refused) {
        const char *p = account_name_problem(refused[_i].name);
        ck_assert_ptr_nonnull(p);
        ck_assert_str_eq(p, refused[_i].problem);
}
END_TEST

static void put(const char *root, const char *path, const char *text) {
        _cleanup_free_ char *p = path_under_root(root, path);
        _cleanup_free_ char *d = path_dirname(p);
        ck_assert_int_eq(mkdir_p(d, 0755), 0);
        ck_assert_int_eq(write_file_atomic(p, text, strlen(text), 0644), 0);
}

START_TEST(test_uid_range) {
        uid_t lo, hi;
        account_uid_range(tu_tmpdir, &lo, &hi);
        ck_assert_uint_eq(lo, 1000);
        ck_assert_uint_eq(hi, 60000);
        put(tu_tmpdir, "/etc/login.defs", "# UID_MIN 5\nMAIL_DIR /var/mail\n  UID_MIN\t\t 500\nUID_MAX 30000\nSYS_UID_MIN 100\n");
        account_uid_range(tu_tmpdir, &lo, &hi);
        ck_assert_uint_eq(lo, 500);
        ck_assert_uint_eq(hi, 30000);
}
END_TEST

START_TEST(test_lookup) {
        put(tu_tmpdir, "/etc/passwd",
            "root:x:0:0:root:/root:/bin/bash\n"
            "daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"
            "azureuser:x:1000:1000:vSensor admin:/home/azureuser:/bin/bash\n"
            "broken:x:abc:1::/home/broken:/bin/sh\n");
        Account a = {0};
        ck_assert_int_eq(account_lookup(tu_tmpdir, "azureuser", &a), 0);
        ck_assert_uint_eq(a.uid, 1000);
        ck_assert_uint_eq(a.gid, 1000);
        ck_assert_str_eq(a.home, "/home/azureuser");
        free(a.home);
        ck_assert_int_eq(account_lookup(tu_tmpdir, "daemon", &a), 0);
        ck_assert_uint_eq(a.uid, 1);
        free(a.home);
        ck_assert_int_eq(account_lookup(tu_tmpdir, "azure", &a), -ENOENT);
        ck_assert_int_eq(account_lookup(tu_tmpdir, "broken", &a), -EBADMSG);
}
END_TEST

static Suite *account_suite(void) {
        Suite *s = suite_create("account");
        TCase *tc = tcase_create("core");
        tu_add_tmpdir_fixtures(tc);
        tcase_add_loop_test(tc, test_accepted, 0, (int)ELEMENTSOF(accepted));
        tcase_add_loop_test(tc, test_refused, 0, (int)ELEMENTSOF(refused));
        tcase_add_test(tc, test_uid_range);
        tcase_add_test(tc, test_lookup);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return tu_run_suite(account_suite());
}
