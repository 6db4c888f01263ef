/* test-problem: the problem list — "FILE:LINE:COLUMN: message" format, order,
 * per-problem file names, and that no secret value survives in a message. */
#include <check.h>

#include "canary.h"
#include "problem.h"
#include "secret.h"
#include "testutil.h"

START_TEST(test_format_and_order) {
        Problems p;
        ck_assert_int_eq(problems_init(&p, "custom-data.yaml"), 0);
        ck_assert_int_eq(problems_add(&p, 3, 7, "vsensor.master.port: expected %s", "an integer"), 0);
        ck_assert_int_eq(problems_add(&p, 1, 1, "second, although earlier in the file"), 0);
        ck_assert_int_eq(problems_add(&p, 0, 0, "no position"), 0);
        ck_assert_int_eq(problems_add(&p, 12, 0, "line only"), 0);
        ck_assert_uint_eq(p.n, 4);
        ck_assert_uint_eq(p.items[0].line, 3);
        ck_assert_uint_eq(p.items[0].column, 7);

        _cleanup_free_ char *text = tu_problems_text(&p);
        ck_assert_str_eq(text,
                         "custom-data.yaml:3:7: vsensor.master.port: expected an integer\n"
                         "custom-data.yaml:1:1: second, although earlier in the file\n"
                         "custom-data.yaml: no position\n"
                         "custom-data.yaml:12: line only\n");
        _cleanup_free_ char *first = problems_first(&p);
        ck_assert_str_eq(first, "custom-data.yaml:3:7: vsensor.master.port: expected an integer");
        problems_done(&p);
        ck_assert_uint_eq(p.n, 0);
        ck_assert_ptr_null(p.items);
        ck_assert_ptr_null(p.file);
}
END_TEST

START_TEST(test_set_file_applies_to_later_problems) {
        Problems p;
        ck_assert_int_eq(problems_init(&p, "/etc/vsensor-init/config.yaml"), 0);
        ck_assert_int_eq(problems_add(&p, 2, 3, "a"), 0);
        ck_assert_int_eq(problems_set_file(&p, "/etc/vsensor-init/config.d/10-x.yaml"), 0);
        ck_assert_int_eq(problems_add(&p, 4, 5, "b"), 0);
        ck_assert_str_eq(p.file, "/etc/vsensor-init/config.d/10-x.yaml");
        _cleanup_free_ char *text = tu_problems_text(&p);
        ck_assert_str_eq(text,
                         "/etc/vsensor-init/config.yaml:2:3: a\n"
                         "/etc/vsensor-init/config.d/10-x.yaml:4:5: b\n");
        problems_done(&p);
}
END_TEST

START_TEST(test_no_file) {
        Problems p;
        ck_assert_int_eq(problems_init(&p, NULL), 0);
        ck_assert_int_eq(problems_add(&p, 4, 2, "x"), 0);
        ck_assert_int_eq(problems_add(&p, 0, 0, "y"), 0);
        _cleanup_free_ char *text = tu_problems_text(&p);
        ck_assert_str_eq(text, "4:2: x\ny\n");
        problems_done(&p);
}
END_TEST

START_TEST(test_empty) {
        Problems p;
        ck_assert_int_eq(problems_init(&p, "<stdin>"), 0);
        ck_assert_ptr_null(problems_first(&p));
        _cleanup_free_ char *text = tu_problems_text(&p);
        ck_assert_str_eq(text, "");
        problems_done(&p);
        problems_done(&p);   /* twice is harmless */
}
END_TEST

START_TEST(test_many_and_long) {
        Problems p;
        ck_assert_int_eq(problems_init(&p, "f"), 0);
        for (unsigned i = 1; i <= 100; i++) ck_assert_int_eq(problems_add(&p, i, 1, "problem %u", i), 0);
        ck_assert_uint_eq(p.n, 100);
        for (unsigned i = 0; i < 100; i++) ck_assert_uint_eq(p.items[i].line, i + 1);
        ck_assert_str_eq(p.items[99].message, "problem 100");

        /* A message longer than the cap is cut, not overflowed. */
        _cleanup_free_ char *huge = malloc(10000);
        memset(huge, 'm', 9999);
        huge[9999] = 0;
        ck_assert_int_eq(problems_add(&p, 1, 1, "%s", huge), 0);
        ck_assert_uint_lt(strlen(p.items[100].message), 2048);
        ck_assert_uint_gt(strlen(p.items[100].message), 100);
        problems_done(&p);

        /* A hostile input cannot grow the list without bound. */
        ck_assert_int_eq(problems_init(&p, "f"), 0);
        for (unsigned i = 0; i < 5000; i++) ck_assert_int_eq(problems_add(&p, 1, 1, "x"), 0);
        ck_assert_uint_le(p.n, 1000);
        problems_done(&p);
}
END_TEST

START_TEST(test_secret_never_in_message) {
        /* Callers must not pass secrets; if one slips through it is redacted. */
        secret_registry_clear();
        Secret *s = secret_new_str(CANARY_HMAC_TOKEN);
        ck_assert_ptr_nonnull(s);
        Problems p;
        ck_assert_int_eq(problems_init(&p, "f"), 0);
        ck_assert_int_eq(problems_add(&p, 1, 2, "bad value %s here", secret_reveal(s)), 0);
        ck_assert_str_eq(p.items[0].message, "bad value (hidden) here");
        _cleanup_free_ char *first = problems_first(&p);
        ck_assert_str_eq(first, "f:1:2: bad value (hidden) here");
        problems_done(&p);
        secret_free(s);
        secret_registry_clear();
}
END_TEST

static Suite *problem_suite(void) {
        Suite *s = suite_create("problem");
        TCase *tc = tcase_create("core");
        tcase_add_test(tc, test_format_and_order);
        tcase_add_test(tc, test_set_file_applies_to_later_problems);
        tcase_add_test(tc, test_no_file);
        tcase_add_test(tc, test_empty);
        tcase_add_test(tc, test_many_and_long);
        tcase_add_test(tc, test_secret_never_in_message);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return tu_run_suite(problem_suite());
}
