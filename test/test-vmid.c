#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "testutil.h"
#include "util.h"
#include "vmid.h"

static char root[64];

static void setup(void) {
        tu_mkdtemp(root, sizeof root, "/tmp/test-vmid-XXXXXX");
        char dmi[512];
        snprintf(dmi, sizeof dmi, "%s/sys/class/dmi/id", root);
        ck_assert_int_eq(mkdir_p(dmi, 0755), 0);
}

static void teardown(void) {
        tu_rm_rf(root);
}

static void write_uuid(const char *content) {
        char path[512];
        snprintf(path, sizeof path, "%s/sys/class/dmi/id/product_uuid", root);
        ck_assert_int_eq(write_file_atomic(path, content, strlen(content), 0400), 0);
}

static void make_efi(void) {
        char path[512];
        snprintf(path, sizeof path, "%s/sys/firmware/efi", root);
        ck_assert_int_eq(mkdir_p(path, 0755), 0);
}

START_TEST(test_gen2_keeps_order_lowercases) {
        make_efi();
        write_uuid("6F1C1A8E-9A4B-4A51-8C5E-2A0D3F4B5C6D\n");
        _cleanup_free_ char *id = NULL;
        ck_assert_int_eq(vmid_read(root, &id), 0);
        ck_assert_str_eq(id, "6f1c1a8e-9a4b-4a51-8c5e-2a0d3f4b5c6d");
}
END_TEST

START_TEST(test_gen1_swaps) {
        write_uuid("8E1A1C6F-4B9A-514A-8C5E-2A0D3F4B5C6D\n");
        _cleanup_free_ char *id = NULL;
        ck_assert_int_eq(vmid_read(root, &id), 0);
        ck_assert_str_eq(id, "6f1c1a8e-9a4b-4a51-8c5e-2a0d3f4b5c6d");
}
END_TEST

START_TEST(test_efi_file_not_dir_is_gen1) {
        char path[512];
        snprintf(path, sizeof path, "%s/sys/firmware", root);
        ck_assert_int_eq(mkdir_p(path, 0755), 0);
        snprintf(path, sizeof path, "%s/sys/firmware/efi", root);
        ck_assert_int_eq(write_file_atomic(path, "x", 1, 0644), 0);
        write_uuid("12345678-1234-5678-9abc-def012345678");
        _cleanup_free_ char *id = NULL;
        ck_assert_int_eq(vmid_read(root, &id), 0);
        ck_assert_str_eq(id, "78563412-3412-7856-9abc-def012345678");
}
END_TEST

START_TEST(test_swap) {
        _cleanup_free_ char *a = NULL, *b = NULL;
        ck_assert_int_eq(vmid_swap_gen1("78563412-3412-7856-9ABC-DEF012345678", &a), 0);
        ck_assert_str_eq(a, "12345678-1234-5678-9abc-def012345678");
        /* The swap is its own inverse. */
        ck_assert_int_eq(vmid_swap_gen1(a, &b), 0);
        ck_assert_str_eq(b, "78563412-3412-7856-9abc-def012345678");

        char *untouched = (char *) 0x1;
        ck_assert_int_eq(vmid_swap_gen1("not-a-uuid", &untouched), -EINVAL);
        ck_assert_ptr_eq(untouched, (char *) 0x1);
}
END_TEST

static const char *const invalid_contents[] = {
        "",
        "\n",
        "Not Settable\n",
        "6f1c1a8e-9a4b-4a51-8c5e-2a0d3f4b5c6\n",        /* one digit short */
        "6f1c1a8e-9a4b-4a51-8c5e-2a0d3f4b5c6d0\n",      /* one digit long */
        "6f1c1a8e9a4b-4a51-8c5e-2a0d3f4b5c6d0\n",       /* dash moved */
        "6f1c1a8g-9a4b-4a51-8c5e-2a0d3f4b5c6d\n",       /* not hex */
        "6f1c1a8e-9a4b-4a51-8c5e-2a0d3f4b5c6d\nx",      /* trailing junk */
        " 6f1c1a8e-9a4b-4a51-8c5e-2a0d3f4b5c6d\n",      /* leading space */
};

START_TEST(test_invalid_content) {
        make_efi();
        write_uuid(invalid_contents[_i]);
        char *id = (char *) 0x1;
        ck_assert_int_eq(vmid_read(root, &id), -EBADMSG);
        ck_assert_ptr_eq(id, (char *) 0x1);
}
END_TEST

START_TEST(test_nul_in_content) {
        make_efi();
        char path[512];
        snprintf(path, sizeof path, "%s/sys/class/dmi/id/product_uuid", root);
        ck_assert_int_eq(write_file_atomic(path, "6f1c1a8e-9a4b-4a51-8c5e-2a0d3f4b5c6d\0\n", 38, 0644), 0);
        _cleanup_free_ char *id = NULL;
        ck_assert_int_eq(vmid_read(root, &id), -EBADMSG);
}
END_TEST

START_TEST(test_oversized_content) {
        char big[4096];
        memset(big, 'a', sizeof big - 1);
        big[sizeof big - 1] = 0;
        write_uuid(big);
        _cleanup_free_ char *id = NULL;
        ck_assert_int_eq(vmid_read(root, &id), -EBADMSG);
}
END_TEST

START_TEST(test_missing) {
        make_efi();
        char *id = (char *) 0x1;
        ck_assert_int_eq(vmid_read(root, &id), -ENOENT);
        ck_assert_ptr_eq(id, (char *) 0x1);
}
END_TEST

START_TEST(test_is_valid) {
        ck_assert(vmid_is_valid("6f1c1a8e-9a4b-4a51-8c5e-2a0d3f4b5c6d"));
        ck_assert(vmid_is_valid("6F1C1A8E-9A4B-4A51-8C5E-2A0D3F4B5C6D"));
        ck_assert(!vmid_is_valid(NULL));
        ck_assert(!vmid_is_valid(""));
        ck_assert(!vmid_is_valid("6f1c1a8e-9a4b-4a51-8c5e-2a0d3f4b5c6d "));
        ck_assert(!vmid_is_valid("6f1c1a8e-9a4b-4a51-8c5e_2a0d3f4b5c6d"));
        ck_assert(!vmid_is_valid("6f1c1a8e-9a4b-4a51-8c5e-2a0d3f4b5c6"));
        ck_assert(!vmid_is_valid("{6f1c1a8e-9a4b-4a51-8c5e-2a0d3f4b5c6d}"));
}
END_TEST

static Suite *vmid_suite(void) {
        Suite *s = suite_create("vmid");
        TCase *tc = tcase_create("core");
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, test_gen2_keeps_order_lowercases);
        tcase_add_test(tc, test_gen1_swaps);
        tcase_add_test(tc, test_efi_file_not_dir_is_gen1);
        tcase_add_test(tc, test_swap);
        tcase_add_loop_test(tc, test_invalid_content, 0, (int) ELEMENTSOF(invalid_contents));
        tcase_add_test(tc, test_nul_in_content);
        tcase_add_test(tc, test_oversized_content);
        tcase_add_test(tc, test_missing);
        tcase_add_test(tc, test_is_valid);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return tu_run_suite(vmid_suite());
}
