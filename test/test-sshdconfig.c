/* sshdconfig: the first PasswordAuthentication sshd reads — sshd_config, its
 * Includes in place and in lexical order, relative Includes under /etc/ssh, Match
 * ending the global section. */
#include <check.h>
#include <sys/stat.h>

#include "sshdconfig.h"
#include "testutil.h"

static void put(const char *path, const char *text) {
        _cleanup_free_ char *p = path_under_root(tu_tmpdir, path);
        _cleanup_free_ char *d = path_dirname(p);
        ck_assert_int_eq(mkdir_p(d, 0755), 0);
        ck_assert_int_eq(write_file_atomic(p, text, strlen(text), 0644), 0);
}

#define DEBIAN_TOP "# Debian\nInclude /etc/ssh/sshd_config.d/*.conf\n\nKbdInteractiveAuthentication no\n"

START_TEST(test_debian_order) {
        put("/etc/ssh/sshd_config", DEBIAN_TOP "#PasswordAuthentication yes\nPasswordAuthentication yes\n");
        put("/etc/ssh/sshd_config.d/50-cloud-init.conf", "PasswordAuthentication yes\n");
        put("/etc/ssh/sshd_config.d/00-vsensor-init.conf", "# ours\nPasswordAuthentication no\n");
        put("/etc/ssh/sshd_config.d/README", "PasswordAuthentication yes\n");
        SshdSetting s = {0};
        ck_assert_int_eq(sshdconfig_find(tu_tmpdir, "PasswordAuthentication", &s, NULL), 1);
        ck_assert_str_eq(s.file, "/etc/ssh/sshd_config.d/00-vsensor-init.conf");
        ck_assert_uint_eq(s.line, 2);
        ck_assert_str_eq(s.value, "no");
        sshd_setting_done(&s);

        /* An earlier drop-in wins over ours. */
        put("/etc/ssh/sshd_config.d/00-aaa.conf", "  passwordauthentication=yes\n");
        ck_assert_int_eq(sshdconfig_find(tu_tmpdir, "PasswordAuthentication", &s, NULL), 1);
        ck_assert_str_eq(s.file, "/etc/ssh/sshd_config.d/00-aaa.conf");
        ck_assert_str_eq(s.value, "yes");
        sshd_setting_done(&s);
}
END_TEST

START_TEST(test_before_include_and_match) {
        put("/etc/ssh/sshd_config", "PasswordAuthentication yes\r\n" DEBIAN_TOP);
        put("/etc/ssh/sshd_config.d/00-vsensor-init.conf", "PasswordAuthentication no\n");
        SshdSetting s = {0};
        ck_assert_int_eq(sshdconfig_find(tu_tmpdir, "PasswordAuthentication", &s, NULL), 1);
        ck_assert_str_eq(s.file, "/etc/ssh/sshd_config");
        ck_assert_uint_eq(s.line, 1);
        ck_assert_str_eq(s.value, "yes");
        sshd_setting_done(&s);

        /* Match ends the global section: what follows is not the global value. */
        put("/etc/ssh/sshd_config", "Match User bob\n  PasswordAuthentication yes\nInclude sshd_config.d/*.conf\n");
        ck_assert_int_eq(sshdconfig_find(tu_tmpdir, "PasswordAuthentication", &s, NULL), 0);

        /* A relative Include is under /etc/ssh; no Include: our drop-in is not read. */
        put("/etc/ssh/sshd_config", "Include sshd_config.d/*.conf other.conf\n");
        ck_assert_int_eq(sshdconfig_find(tu_tmpdir, "PasswordAuthentication", &s, NULL), 1);
        ck_assert_str_eq(s.file, "/etc/ssh/sshd_config.d/00-vsensor-init.conf");
        sshd_setting_done(&s);
        put("/etc/ssh/sshd_config", "Port 22\n");
        ck_assert_int_eq(sshdconfig_find(tu_tmpdir, "PasswordAuthentication", &s, NULL), 0);
}
END_TEST

START_TEST(test_missing_and_loops) {
        SshdSetting s = {0};
        ck_assert_int_eq(sshdconfig_find(tu_tmpdir, "PasswordAuthentication", &s, NULL), -ENOENT);
        put("/etc/ssh/sshd_config", "Include /etc/ssh/sshd_config\n");
        char *bad = NULL;
        ck_assert_int_eq(sshdconfig_find(tu_tmpdir, "PasswordAuthentication", &s, &bad), -ELOOP);
        free(bad);
        /* A symlinked drop-in is not followed (it could point out of the root). */
        put("/etc/ssh/sshd_config", DEBIAN_TOP);
        put("/outside.conf", "PasswordAuthentication yes\n");
        _cleanup_free_ char *d = path_under_root(tu_tmpdir, "/etc/ssh/sshd_config.d");
        _cleanup_free_ char *l = path_under_root(tu_tmpdir, "/etc/ssh/sshd_config.d/10-x.conf");
        _cleanup_free_ char *t = path_under_root(tu_tmpdir, "/outside.conf");
        ck_assert_int_eq(mkdir_p(d, 0755), 0);
        ck_assert_int_eq(symlink(t, l), 0);
        bad = NULL;
        ck_assert_int_eq(sshdconfig_find(tu_tmpdir, "PasswordAuthentication", &s, &bad), -ELOOP);
        ck_assert_str_eq(bad, "/etc/ssh/sshd_config.d/10-x.conf");
        free(bad);
}
END_TEST

static Suite *sshdconfig_suite(void) {
        Suite *s = suite_create("sshdconfig");
        TCase *tc = tcase_create("core");
        tu_add_tmpdir_fixtures(tc);
        tcase_add_test(tc, test_debian_order);
        tcase_add_test(tc, test_before_include_and_match);
        tcase_add_test(tc, test_missing_and_loops);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return tu_run_suite(sshdconfig_suite());
}
