/* util: paths under --root, capped reads, atomic writes with exact modes, mkdir -p,
 * string arrays, timestamps and bounded random numbers. */
#include <check.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <sys/stat.h>

#include "testutil.h"
#include "util.h"

static void put_bytes(const char *path, size_t n, char fill) {
        _cleanup_free_ char *buf = malloc(n ? n : 1);
        ck_assert_ptr_nonnull(buf);
        memset(buf, fill, n);
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(write_all(fd, buf, n), 0);
        close(fd);
}

static mode_t mode_of(const char *path) {
        struct stat st;
        ck_assert_int_eq(lstat(path, &st), 0);
        return st.st_mode & 07777;
}

/* ---- paths ---- */

static void check_under_root(const char *root, const char *path, const char *expect) {
        _cleanup_free_ char *p = path_under_root(root, path);
        ck_assert_ptr_nonnull(p);
        ck_assert_str_eq(p, expect);
}

START_TEST(test_path_under_root) {
        check_under_root(NULL, "/etc/x", "/etc/x");
        check_under_root("", "/etc/x", "/etc/x");
        check_under_root("/", "/etc/x", "/etc/x");
        check_under_root("/tmp/r", "/etc/x", "/tmp/r/etc/x");
        check_under_root("/tmp/r/", "/etc/x", "/tmp/r/etc/x");
        check_under_root("/tmp/r//", "/etc/x", "/tmp/r/etc/x");
        check_under_root("/tmp/r", "/", "/tmp/r/");
        check_under_root("relative", "/var/lib/dpkg/lock", "relative/var/lib/dpkg/lock");
        /* Relative paths are taken as given (command-line paths). */
        check_under_root("/tmp/r", "etc/x", "etc/x");
}
END_TEST

static void check_dirname(const char *path, const char *expect) {
        _cleanup_free_ char *p = path_dirname(path);
        ck_assert_ptr_nonnull(p);
        ck_assert_str_eq(p, expect);
}

START_TEST(test_path_dirname) {
        check_dirname("/a/b", "/a");
        check_dirname("/a/b/c.json", "/a/b");
        check_dirname("/a", "/");
        check_dirname("/", "/");
        check_dirname("a/b", "a");
        check_dirname("a", ".");
}
END_TEST

/* ---- read_file_capped ---- */

START_TEST(test_read_capped_sizes) {
        /* Around the 4 KiB initial buffer, its doubling, and small caps. */
        static const size_t sizes[] = {1, 10, 4095, 4096, 4097, 8192, 8193, 100000};
        _cleanup_free_ char *path = tu_tmp_path("f");
        for (size_t i = 0; i < ELEMENTSOF(sizes); i++) {
                size_t n = sizes[i];
                put_bytes(path, n, 'a');

                char *buf = NULL;
                size_t len = 0;
                ck_assert_int_eq(read_file_capped(path, n, &buf, &len), 0); /* cap exact */
                ck_assert_uint_eq(len, n);
                ck_assert_uint_eq(strlen(buf), n);
                ck_assert_int_eq(buf[n - 1], 'a');
                free(buf);

                ck_assert_int_eq(read_file_capped(path, n + 1, &buf, &len), 0);
                ck_assert_uint_eq(len, n);
                free(buf);

                char *untouched = (char *)0x1;
                size_t ulen = 77;
                ck_assert_int_eq(read_file_capped(path, n - 1, &untouched, &ulen), -EFBIG);
                ck_assert_ptr_eq(untouched, (char *)0x1);
                ck_assert_uint_eq(ulen, 77);
        }
}
END_TEST

START_TEST(test_read_capped_empty_missing) {
        _cleanup_free_ char *path = tu_tmp_path("empty");
        put_bytes(path, 0, 0);
        _cleanup_free_ char *buf = NULL;
        size_t len = 99;
        ck_assert_int_eq(read_file_capped(path, 0, &buf, &len), 0);
        ck_assert_uint_eq(len, 0);
        ck_assert_str_eq(buf, "");
        free(TAKE_PTR(buf));

        /* ret_len may be NULL. */
        put_bytes(path, 3, 'z');
        ck_assert_int_eq(read_file_capped(path, 3, &buf, NULL), 0);
        ck_assert_str_eq(buf, "zzz");
        ck_assert_int_eq(read_file_capped(path, 0, &buf, NULL), -EFBIG);

        _cleanup_free_ char *missing = tu_tmp_path("missing");
        char *m = NULL;
        ck_assert_int_eq(read_file_capped(missing, 100, &m, NULL), -ENOENT);
        ck_assert_ptr_null(m);
}
END_TEST

/* A caller with no meaningful cap passes SIZE_MAX; max + 1 must not wrap to 0. */
START_TEST(test_read_capped_size_max) {
        _cleanup_free_ char *path = tu_tmp_path("f");
        put_bytes(path, 10000, 'q');
        _cleanup_free_ char *buf = NULL;
        size_t len = 0;
        ck_assert_int_eq(read_file_capped(path, SIZE_MAX, &buf, &len), 0);
        ck_assert_uint_eq(len, 10000);
        ck_assert_uint_eq(strlen(buf), 10000);
}
END_TEST

/* ---- write_file_atomic ---- */

static void check_write_mode(mode_t mask, mode_t mode) {
        _cleanup_free_ char *path = tu_tmp_path("out");
        mode_t old = umask(mask);
        static const char data[] = "first\0with nul";
        ck_assert_int_eq(write_file_atomic(path, data, sizeof data, mode), 0);
        ck_assert_int_eq(mode_of(path), mode);
        /* Replacing an existing file with a different mode gives the new mode. */
        ck_assert_int_eq(chmod(path, 0666), 0);
        ck_assert_int_eq(write_file_atomic(path, "second", 6, mode), 0);
        umask(old);
        ck_assert_int_eq(mode_of(path), mode);
        _cleanup_free_ char *buf = NULL;
        size_t len = 0;
        ck_assert_int_eq(read_file_capped(path, 100, &buf, &len), 0);
        ck_assert_uint_eq(len, 6);
        ck_assert_str_eq(buf, "second");
        ck_assert_int_eq(tu_count_entries(tu_tmpdir), 1); /* no temp file left */
}

START_TEST(test_write_atomic_umask_077) {
        check_write_mode(077, 0644);
}
END_TEST

START_TEST(test_write_atomic_umask_000) {
        check_write_mode(0, 0600);
}
END_TEST

START_TEST(test_write_atomic_content) {
        _cleanup_free_ char *path = tu_tmp_path("bin");
        unsigned char data[300];
        for (size_t i = 0; i < sizeof data; i++) data[i] = (unsigned char)(i * 7);
        ck_assert_int_eq(write_file_atomic(path, data, sizeof data, 0600), 0);
        _cleanup_free_ char *buf = NULL;
        size_t len = 0;
        ck_assert_int_eq(read_file_capped(path, sizeof data, &buf, &len), 0);
        ck_assert_uint_eq(len, sizeof data);
        ck_assert_mem_eq(buf, data, sizeof data);
        /* An empty write gives an empty file. */
        ck_assert_int_eq(write_file_atomic(path, "", 0, 0600), 0);
        free(TAKE_PTR(buf));
        ck_assert_int_eq(read_file_capped(path, 10, &buf, &len), 0);
        ck_assert_uint_eq(len, 0);
        ck_assert_int_eq(tu_count_entries(tu_tmpdir), 1);
}
END_TEST

START_TEST(test_write_atomic_dir_missing) {
        _cleanup_free_ char *path = tu_tmp_path("nodir/out");
        ck_assert_int_eq(write_file_atomic(path, "x", 1, 0600), -ENOENT);
        ck_assert_int_eq(tu_count_entries(tu_tmpdir), 0);
}
END_TEST

START_TEST(test_write_atomic_target_is_dir) {
        /* rename onto a directory fails: the temp file is removed, the directory stays. */
        _cleanup_free_ char *path = tu_tmp_path("d");
        ck_assert_int_eq(mkdir(path, 0700), 0);
        ck_assert_int_lt(write_file_atomic(path, "x", 1, 0600), 0);
        struct stat st;
        ck_assert_int_eq(stat(path, &st), 0);
        ck_assert(S_ISDIR(st.st_mode));
        ck_assert_int_eq(tu_count_entries(tu_tmpdir), 1);
}
END_TEST

/* ---- mkdir_p ---- */

START_TEST(test_mkdir_p_modes) {
        mode_t old = umask(022);
        _cleanup_free_ char *existing = tu_tmp_path("keep");
        ck_assert_int_eq(mkdir(existing, 0755), 0);
        _cleanup_free_ char *deep = tu_tmp_path("keep/a/b/c");
        ck_assert_int_eq(mkdir_p(deep, 0700), 0);
        _cleanup_free_ char *a = tu_tmp_path("keep/a"), *b = tu_tmp_path("keep/a/b");
        ck_assert_int_eq(mode_of(existing), 0755); /* existing ones are left alone */
        ck_assert_int_eq(mode_of(a), 0700);
        ck_assert_int_eq(mode_of(b), 0700);
        ck_assert_int_eq(mode_of(deep), 0700);
        /* Again: nothing to do, still success, modes unchanged. */
        ck_assert_int_eq(mkdir_p(deep, 0755), 0);
        ck_assert_int_eq(mode_of(deep), 0700);
        /* Trailing slash and doubled slashes. */
        _cleanup_free_ char *slashed = tu_tmp_path("x//y/");
        ck_assert_int_eq(mkdir_p(slashed, 0750), 0);
        _cleanup_free_ char *y = tu_tmp_path("x/y");
        ck_assert_int_eq(mode_of(y), 0750);
        umask(old);
}
END_TEST

START_TEST(test_mkdir_p_file_in_the_way) {
        _cleanup_free_ char *file = tu_tmp_path("file");
        put_bytes(file, 1, 'x');
        _cleanup_free_ char *below = tu_tmp_path("file/sub");
        ck_assert_int_eq(mkdir_p(below, 0700), -ENOTDIR);
        /* The last component being a regular file is not a directory either. */
        ck_assert_int_lt(mkdir_p(file, 0700), 0);
}
END_TEST

START_TEST(test_mkdir_p_empty) {
        ck_assert_int_eq(mkdir_p("", 0700), -ENOENT);
}
END_TEST

/* ---- strings ---- */

START_TEST(test_strv) {
        _cleanup_strv_free_ char **v = NULL;
        ck_assert_uint_eq(strv_length(v), 0);
        char word[] = "one";
        ck_assert_int_eq(strv_push(&v, word), 0);
        ck_assert_ptr_ne(v[0], word); /* copied */
        word[0] = 'X';
        ck_assert_int_eq(strv_push(&v, "two"), 0);
        ck_assert_int_eq(strv_push(&v, ""), 0);
        ck_assert_uint_eq(strv_length(v), 3);
        ck_assert_str_eq(v[0], "one");
        ck_assert_str_eq(v[1], "two");
        ck_assert_str_eq(v[2], "");
        ck_assert_ptr_null(v[3]);
        strv_free(NULL);
}
END_TEST

START_TEST(test_strjoin_asprintf) {
        _cleanup_free_ char *a = strjoin("a", NULL, "c");
        ck_assert_str_eq(a, "ac");
        _cleanup_free_ char *b = strjoin("/x", "/", "y");
        ck_assert_str_eq(b, "/x/y");
        _cleanup_free_ char *c = NULL;
        ck_assert_int_eq(asprintf_safe(&c, "%s=%d", "n", 42), 4);
        ck_assert_str_eq(c, "n=42");
        ck_assert(streq_ptr(NULL, NULL));
        ck_assert(!streq_ptr("a", NULL));
        ck_assert(isempty(NULL) && isempty("") && !isempty("x"));
}
END_TEST

/* ---- time and randomness ---- */

START_TEST(test_format_rfc3339) {
        char buf[32];
        format_rfc3339(1795824250123LL, buf, sizeof buf);
        ck_assert_str_eq(buf, "2026-11-28T00:04:10.123Z");
        format_rfc3339(0, buf, sizeof buf);
        ck_assert_str_eq(buf, "1970-01-01T00:00:00.000Z");
        format_rfc3339(951782400999LL, buf, sizeof buf);
        ck_assert_str_eq(buf, "2000-02-29T00:00:00.999Z");
        /* A short buffer is truncated, never overrun. */
        char small[11];
        memset(small, 'X', sizeof small);
        format_rfc3339(1795824250123LL, small, sizeof small);
        ck_assert_str_eq(small, "2026-11-28");
}
END_TEST

START_TEST(test_clocks_and_sleep) {
        int64_t t0 = now_monotonic_ms();
        sleep_ms(30);
        int64_t t1 = now_monotonic_ms();
        ck_assert_int_ge(t1 - t0, 30);
        ck_assert_int_lt(t1 - t0, 1000);
        sleep_ms(0);
        sleep_ms(-5);
        ck_assert_int_lt(now_monotonic_ms() - t1, 20);
        /* Realtime is after 2020. */
        ck_assert_int_gt(now_realtime_ms(), 1577836800000LL);
}
END_TEST

START_TEST(test_random_below) {
        ck_assert_uint_eq(random_below(0), 0);
        ck_assert_uint_eq(random_below(1), 0);
        int seen[10] = {};
        for (int i = 0; i < 5000; i++) {
                uint64_t v = random_below(10);
                ck_assert_uint_lt(v, 10);
                seen[v]++;
        }
        /* Each value appears (expected 500 each; < 350 is astronomically unlikely). */
        for (int i = 0; i < 10; i++) ck_assert_int_gt(seen[i], 350);
        uint64_t big = (UINT64_MAX / 3) * 2 + 1;
        bool high = false;
        for (int i = 0; i < 200; i++) {
                uint64_t v = random_below(big);
                ck_assert_uint_lt(v, big);
                if (v > big / 2) high = true;
        }
        ck_assert(high);
}
END_TEST

START_TEST(test_wipe_write_all) {
        char secret[] = "CanaryHmac0Secret77";
        wipe(secret, sizeof secret);
        for (size_t i = 0; i < sizeof secret; i++) ck_assert_int_eq(secret[i], 0);
        wipe(NULL, 10);

        int p[2];
        ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
        ck_assert_int_eq(write_all(p[1], "hello", 5), 0);
        char buf[8] = {};
        ck_assert_int_eq(read(p[0], buf, sizeof buf), 5);
        ck_assert_str_eq(buf, "hello");
        close(p[0]);
        /* Writing to a pipe with no reader fails with -EPIPE (SIGPIPE ignored here). */
        signal(SIGPIPE, SIG_IGN);
        ck_assert_int_eq(write_all(p[1], "x", 1), -EPIPE);
        close(p[1]);
}
END_TEST

static Suite *util_suite(void) {
        Suite *s = suite_create("util");
        TCase *tc = tcase_create("core");
        tu_add_tmpdir_fixtures(tc);
        tcase_add_test(tc, test_path_under_root);
        tcase_add_test(tc, test_path_dirname);
        tcase_add_test(tc, test_read_capped_sizes);
        tcase_add_test(tc, test_read_capped_empty_missing);
        tcase_add_test(tc, test_read_capped_size_max);
        tcase_add_test(tc, test_write_atomic_umask_077);
        tcase_add_test(tc, test_write_atomic_umask_000);
        tcase_add_test(tc, test_write_atomic_content);
        tcase_add_test(tc, test_write_atomic_dir_missing);
        tcase_add_test(tc, test_write_atomic_target_is_dir);
        tcase_add_test(tc, test_mkdir_p_modes);
        tcase_add_test(tc, test_mkdir_p_file_in_the_way);
        tcase_add_test(tc, test_mkdir_p_empty);
        tcase_add_test(tc, test_strv);
        tcase_add_test(tc, test_strjoin_asprintf);
        tcase_add_test(tc, test_format_rfc3339);
        tcase_add_test(tc, test_clocks_and_sleep);
        tcase_add_test(tc, test_random_below);
        tcase_add_test(tc, test_wipe_write_all);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return tu_run_suite(util_suite());
}
