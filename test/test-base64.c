#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "testutil.h"
#include "util.h"

/* RFC 4648 section 10 test vectors. */
static const struct {
        const char *plain;
        const char *encoded;
} vectors[] = {
        {"", ""},
        {"f", "Zg=="},
        {"fo", "Zm8="},
        {"foo", "Zm9v"},
        {"foob", "Zm9vYg=="},
        {"fooba", "Zm9vYmE="},
        {"foobar", "Zm9vYmFy"},
};

START_TEST(test_rfc4648_decode) {
        const char *enc = vectors[_i].encoded, *plain = vectors[_i].plain;
        _cleanup_free_ char *out = NULL;
        size_t len = 99;
        ck_assert_int_eq(base64_decode(enc, strlen(enc), 1024, &out, &len, NULL), 0);
        ck_assert_uint_eq(len, strlen(plain));
        ck_assert_mem_eq(out, plain, len);
        ck_assert_int_eq(out[len], 0);
}
END_TEST

START_TEST(test_rfc4648_encode) {
        _cleanup_free_ char *out = base64_encode(vectors[_i].plain, strlen(vectors[_i].plain));
        ck_assert_ptr_nonnull(out);
        ck_assert_str_eq(out, vectors[_i].encoded);
}
END_TEST

START_TEST(test_whitespace_skipped) {
        const char *in = "  Zm9v\r\nYmFy\n\tZm9v YmE=\n";
        _cleanup_free_ char *out = NULL;
        size_t len = 0;
        ck_assert_int_eq(base64_decode(in, strlen(in), 1024, &out, &len, NULL), 0);
        ck_assert_uint_eq(len, 11);
        ck_assert_mem_eq(out, "foobarfooba", 11);

        /* Whitespace only decodes to nothing. */
        _cleanup_free_ char *empty = NULL;
        ck_assert_int_eq(base64_decode(" \r\n\t", 4, 1024, &empty, &len, NULL), 0);
        ck_assert_uint_eq(len, 0);
        ck_assert_str_eq(empty, "");
}
END_TEST

static const struct {
        const char *in;
        size_t bad_offset;
} bad_inputs[] = {
        {"Zm9v!mFy", 4},        /* not in the alphabet */
        {"Zm9v\nYm-y", 7},      /* base64url is not accepted */
        {"Zm9v\0YmFy", 4},      /* NUL inside the length */
        {"Zm9vY", 5},           /* length not a multiple of 4: offset is the end */
        {"Zm9vYmE", 7},
        {"=m9v", 0},            /* padding at the start of a quantum */
        {"Z===", 1},            /* three pad characters */
        {"Zg==Zm9v", 4},        /* data after padding */
        {"Zm=v", 3},            /* data after padding inside the quantum */
        {"Zm9v====", 4},        /* a whole quantum of padding */
        {"Zg=", 3},             /* truncated padding */
        {"Zm9v\x80", 4},        /* high byte */
};

START_TEST(test_bad_input) {
        const char *in = bad_inputs[_i].in;
        size_t len = _i == 2 ? 9 : strlen(in);
        char *out = (char *) 0x1;
        size_t out_len = 1234, bad = 9999;
        ck_assert_int_eq(base64_decode(in, len, 1024, &out, &out_len, &bad), -EINVAL);
        ck_assert_uint_eq(bad, bad_inputs[_i].bad_offset);
        /* ret_* untouched on failure */
        ck_assert_ptr_eq(out, (char *) 0x1);
        ck_assert_uint_eq(out_len, 1234);
        /* The offset is optional. */
        ck_assert_int_eq(base64_decode(in, len, 1024, &out, &out_len, NULL), -EINVAL);
}
END_TEST

START_TEST(test_cap) {
        _cleanup_free_ char *out = NULL;
        size_t len = 0;
        /* "foobar" is 6 bytes: a cap of 5 is too small, 6 is enough. */
        ck_assert_int_eq(base64_decode("Zm9vYmFy", 8, 5, &out, &len, NULL), -EFBIG);
        ck_assert_ptr_null(out);
        ck_assert_int_eq(base64_decode("Zm9vYmFy", 8, 6, &out, &len, NULL), 0);
        ck_assert_uint_eq(len, 6);
        /* Padding counts: "Zm9vYg==" is 4 bytes. */
        free(TAKE_PTR(out));
        ck_assert_int_eq(base64_decode("Zm9vYg==", 8, 4, &out, &len, NULL), 0);
        ck_assert_uint_eq(len, 4);
}
END_TEST

START_TEST(test_round_trip_random) {
        for (size_t n = 0; n < 300; n++) {
                _cleanup_free_ unsigned char *data = malloc(n + 1);
                ck_assert_ptr_nonnull(data);
                for (size_t i = 0; i < n; i++) data[i] = (unsigned char) random_below(256);
                _cleanup_free_ char *enc = base64_encode(data, n);
                ck_assert_ptr_nonnull(enc);
                ck_assert_uint_eq(strlen(enc), (n + 2) / 3 * 4);

                _cleanup_free_ char *dec = NULL;
                size_t len = 0;
                ck_assert_int_eq(base64_decode(enc, strlen(enc), n, &dec, &len, NULL), 0);
                ck_assert_uint_eq(len, n);
                if (n > 0) ck_assert_mem_eq(dec, data, n);
                ck_assert_int_eq(dec[n], 0);
        }
}
END_TEST

START_TEST(test_all_byte_values) {
        unsigned char data[256];
        for (int i = 0; i < 256; i++) data[i] = (unsigned char) i;
        _cleanup_free_ char *enc = base64_encode(data, sizeof data);
        ck_assert_ptr_nonnull(enc);
        /* Known prefix/suffix of the encoding of 0x00..0xff. */
        ck_assert(strncmp(enc, "AAECAwQFBgcICQoLDA0ODxAR", 24) == 0);
        ck_assert_str_eq(enc + strlen(enc) - 8, "/P3+/w==");
        _cleanup_free_ char *dec = NULL;
        size_t len = 0;
        ck_assert_int_eq(base64_decode(enc, strlen(enc), 256, &dec, &len, NULL), 0);
        ck_assert_uint_eq(len, 256);
        ck_assert_mem_eq(dec, data, 256);
}
END_TEST

static Suite *base64_suite(void) {
        Suite *s = suite_create("base64");
        TCase *tc = tcase_create("core");
        tcase_add_loop_test(tc, test_rfc4648_decode, 0, (int) ELEMENTSOF(vectors));
        tcase_add_loop_test(tc, test_rfc4648_encode, 0, (int) ELEMENTSOF(vectors));
        tcase_add_test(tc, test_whitespace_skipped);
        tcase_add_loop_test(tc, test_bad_input, 0, (int) ELEMENTSOF(bad_inputs));
        tcase_add_test(tc, test_cap);
        tcase_add_test(tc, test_round_trip_random);
        tcase_add_test(tc, test_all_byte_values);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return tu_run_suite(base64_suite());
}
