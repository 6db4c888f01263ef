/* test-utf8: validity, safe cuts and escaping of untrusted text. */
#include <check.h>
#include <string.h>

#include "testutil.h"
#include "utf8.h"
#include "util.h"

static void assert_escape(const char *in, size_t n, unsigned flags, const char *want) {
        _cleanup_free_ char *got = utf8_escape(in, n, flags);
        ck_assert_ptr_nonnull(got);
        ck_assert_str_eq(got, want);
}

START_TEST(test_sequence_length) {
        ck_assert_uint_eq(utf8_sequence_length((const unsigned char *)"a", 1), 1);
        ck_assert_uint_eq(utf8_sequence_length((const unsigned char *)"\xc3\xa9", 2), 2);
        ck_assert_uint_eq(utf8_sequence_length((const unsigned char *)"\xe2\x80\xa6", 3), 3);
        ck_assert_uint_eq(utf8_sequence_length((const unsigned char *)"\xf0\x9f\x98\x80", 4), 4);
        ck_assert_uint_eq(utf8_sequence_length((const unsigned char *)"\xc3", 1), 0);          /* cut */
        ck_assert_uint_eq(utf8_sequence_length((const unsigned char *)"\xc0\xaf", 2), 0);      /* overlong */
        ck_assert_uint_eq(utf8_sequence_length((const unsigned char *)"\xed\xa0\x80", 3), 0);  /* surrogate */
        ck_assert_uint_eq(utf8_sequence_length((const unsigned char *)"\xf4\x90\x80\x80", 4), 0);
        ck_assert_uint_eq(utf8_sequence_length((const unsigned char *)"\x80", 1), 0);
}
END_TEST

START_TEST(test_cut) {
        const char *s = "a\xc3\xa9\xe2\x80\xa6z";   /* a é … z: 1+2+3+1 bytes */
        size_t n = strlen(s);
        static const size_t want[] = {0, 1, 1, 3, 3, 3, 6, 7, 7};
        for (size_t max = 0; max < ELEMENTSOF(want); max++)
                ck_assert_msg(utf8_cut(s, n, max) == want[max], "max %zu: got %zu", max, utf8_cut(s, n, max));
        /* Not UTF-8 at all: any cut is as good as another. */
        ck_assert_uint_eq(utf8_cut("\x80\x80\x80\x80\x80\x80", 6, 5), 5);
}
END_TEST

START_TEST(test_escape_invalid_only) {
        assert_escape("plain", 5, 0, "plain");
        assert_escape("caf\xc3\xa9", 5, 0, "caf\xc3\xa9");
        assert_escape("half \xc3", 6, 0, "half \\xC3");
        assert_escape("\xff\xfe ok", 5, 0, "\\xFF\\xFE ok");
        /* Controls stay (JSON escapes them itself). */
        assert_escape("a\nb\x1b", 4, 0, "a\nb\x1b");
        assert_escape(NULL, 0, 0, "");
}
END_TEST

START_TEST(test_escape_controls) {
        assert_escape("red \x1b[31mX\x1b[0m\n", 15, UTF8_ESCAPE_CONTROLS, "red \\e[31mX\\e[0m\\n");
        assert_escape("t\ta\rb\x07\x7f\\", 8, UTF8_ESCAPE_CONTROLS, "t\\ta\\rb\\x07\\x7F\\\\");
        /* C1 CSI (U+009B) acts like ESC [ on many terminals. */
        assert_escape("\xc2\x9b" "2J", 4, UTF8_ESCAPE_CONTROLS, "\\u009B2J");
        assert_escape("\xc2\xa0nbsp \xc3\xa9", 9, UTF8_ESCAPE_CONTROLS, "\xc2\xa0nbsp \xc3\xa9");
        assert_escape("bad \xc3", 5, UTF8_ESCAPE_CONTROLS, "bad \\xC3");
        /* An embedded NUL is a control character too. */
        assert_escape("a\0b", 3, UTF8_ESCAPE_CONTROLS, "a\\x00b");
}
END_TEST

static Suite *suite(void) {
        Suite *s = suite_create("utf8");
        TCase *tc = tcase_create("core");
        tcase_add_test(tc, test_sequence_length);
        tcase_add_test(tc, test_cut);
        tcase_add_test(tc, test_escape_invalid_only);
        tcase_add_test(tc, test_escape_controls);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return tu_run_suite(suite());
}
