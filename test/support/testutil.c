#include "testutil.h"

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

int tu_run_suite(Suite *s) {
        SRunner *sr = srunner_create(s);
        srunner_run_all(sr, CK_ENV);
        int failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

static int rm_entry(const char *path, const struct stat *st, int type, struct FTW *ftw) {
        return remove(path);
}

void tu_rm_rf(const char *path) {
        nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

void tu_mkdtemp(char *buf, size_t size, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(buf, size, fmt, ap);
        va_end(ap);
        ck_assert_msg(n >= 0 && (size_t)n < size, "temp dir template too long: %s", fmt);
        ck_assert_ptr_nonnull(mkdtemp(buf));
}

char tu_base[64];
char tu_tmpdir[96];

void tu_base_setup(void) {
        tu_mkdtemp(tu_base, sizeof tu_base, "/tmp/%s-XXXXXX", program_invocation_short_name);
}

void tu_base_teardown(void) {
        tu_rm_rf(tu_base);
}

void tu_tmpdir_setup(void) {
        tu_mkdtemp(tu_tmpdir, sizeof tu_tmpdir, "%s/t-XXXXXX", tu_base);
}

void tu_tmpdir_teardown(void) {
        tu_rm_rf(tu_tmpdir);
}

void tu_add_tmpdir_fixtures(TCase *tc) {
        tcase_add_unchecked_fixture(tc, tu_base_setup, tu_base_teardown);
        tcase_add_checked_fixture(tc, tu_tmpdir_setup, tu_tmpdir_teardown);
}

char *tu_tmp_path(const char *name) {
        char *p = strjoin(tu_tmpdir, "/", name);
        ck_assert_ptr_nonnull(p);
        return p;
}

int tu_count_entries(const char *dir) {
        DIR *d = opendir(dir);
        ck_assert_ptr_nonnull(d);
        int n = 0;
        struct dirent *de;
        while ((de = readdir(d)))
                if (!streq(de->d_name, ".") && !streq(de->d_name, "..")) n++;
        closedir(d);
        return n;
}

const char *tu_top(void) {
        const char *top = getenv("TOP");
        return top && *top ? top : ".";
}

char *tu_data_path(const char *rel) {
        char *s = NULL;
        if (asprintf_safe(&s, "%s/test/data/%s", tu_top(), rel) < 0) return NULL;
        return s;
}

char *tu_read_file(const char *path, size_t *ret_len) {
        char *data = NULL;
        int r = read_file_capped(path, TU_READ_MAX, &data, ret_len);
        ck_assert_msg(r >= 0, "cannot read %s: %s", path, strerror(-r));
        return data;
}

char *tu_read_top(const char *rel, size_t *ret_len) {
        _cleanup_free_ char *path = strjoin(tu_top(), "/", rel);
        ck_assert_ptr_nonnull(path);
        return tu_read_file(path, ret_len);
}

static int name_cmp(const void *a, const void *b) {
        return strcmp(*(char *const *)a, *(char *const *)b);
}

size_t tu_list_cases(const char *rel, char **names, size_t max) {
        _cleanup_free_ char *dir = tu_data_path(rel);
        DIR *d = dir ? opendir(dir) : NULL;
        size_t n = 0;
        if (!d) return 0;
        struct dirent *de;
        while ((de = readdir(d)) && n < max) {
                if (de->d_name[0] == '.') continue;
                if (names) names[n] = strdup(de->d_name);
                n++;
        }
        closedir(d);
        if (names) qsort(names, n, sizeof *names, name_cmp);
        return n;
}

void tu_free_cases(char **names, size_t n) {
        for (size_t i = 0; i < n; i++) free(names[i]);
}

char *tu_read_data(const char *rel, size_t *ret_len) {
        _cleanup_free_ char *path = tu_data_path(rel);
        ck_assert_ptr_nonnull(path);
        return tu_read_file(path, ret_len);
}

char *tu_read_case(const char *rel, const char *name, const char *file, size_t *ret_len) {
        _cleanup_free_ char *path = NULL;
        ck_assert_int_ge(asprintf_safe(&path, "%s/test/data/%s/%s/%s", tu_top(), rel, name, file), 0);
        return tu_read_file(path, ret_len);
}

char *tu_problems_text(const Problems *p) {
        char *buf = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&buf, &size);
        ck_assert_ptr_nonnull(f);
        problems_print(p, f);
        fclose(f);
        return buf;
}

void test_skip(const char *name, const char *fmt, ...) {
        /* START_TEST(x) names the function x_fn (Check 0.13 and later), x before. */
        size_t n = strlen(name);
        if (n > 3 && streq(name + n - 3, "_fn")) n -= 3;
        char cause[512];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(cause, sizeof cause, fmt, ap);
        va_end(ap);
        /* One write of the whole line: the suites' output is interleaved with Check's. */
        fflush(stdout);
        printf("SKIP %.*s: %s\n", (int)n, name, cause);
        fflush(stdout);
}
