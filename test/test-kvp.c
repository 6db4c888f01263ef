#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "kvp.h"
#include "testutil.h"
#include "util.h"

static char dir[64];
static char pool[512];

static void setup(void) {
        tu_mkdtemp(dir, sizeof dir, "/tmp/test-kvp-XXXXXX");
        /* The directory does not exist yet: kvp_append must create it. */
        snprintf(pool, sizeof pool, "%s/var/lib/hyperv/.kvp_pool_1", dir);
}

static void teardown(void) {
        tu_rm_rf(dir);
}

static char *read_pool(size_t *len) {
        char *data = NULL;
        ck_assert_int_eq(read_file_capped(pool, 16 * 1024 * 1024, &data, len), 0);
        return data;
}

static bool all_zero(const char *p, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (p[i]) return false;
        return true;
}

START_TEST(test_exact_bytes_and_mode) {
        mode_t old = umask(077);
        ck_assert_int_eq(kvp_append(pool, "PROVISIONING_REPORT", "result=success|vm_id=x"), 0);
        umask(old);

        struct stat st;
        ck_assert_int_eq(stat(pool, &st), 0);
        ck_assert_int_eq(st.st_mode & 07777, 0644);
        ck_assert_int_eq(st.st_size, 2560);

        size_t len = 0;
        _cleanup_free_ char *data = read_pool(&len);
        ck_assert_uint_eq(len, KVP_RECORD_SIZE);
        ck_assert_uint_eq(KVP_RECORD_SIZE, 2560);
        ck_assert_mem_eq(data, "PROVISIONING_REPORT", 19);
        ck_assert(all_zero(data + 19, 512 - 19));
        ck_assert_mem_eq(data + 512, "result=success|vm_id=x", 22);
        ck_assert(all_zero(data + 512 + 22, 2048 - 22));
}
END_TEST

START_TEST(test_two_appends_two_records) {
        ck_assert_int_eq(kvp_append(pool, "A", "first"), 0);
        ck_assert_int_eq(kvp_append(pool, "B", "second"), 0);

        struct stat st;
        ck_assert_int_eq(stat(pool, &st), 0);
        ck_assert_int_eq(st.st_size, 2 * 2560);

        _cleanup_strv_free_ char **keys = NULL, **values = NULL;
        size_t n = 0;
        ck_assert_int_eq(kvp_read_all(pool, &keys, &values, &n), 0);
        ck_assert_uint_eq(n, 2);
        ck_assert_str_eq(keys[0], "A");
        ck_assert_str_eq(values[0], "first");
        ck_assert_str_eq(keys[1], "B");
        ck_assert_str_eq(values[1], "second");
        ck_assert_ptr_null(keys[2]);
        ck_assert_ptr_null(values[2]);
}
END_TEST

START_TEST(test_value_truncated_key_checked) {
        char big[3000];
        memset(big, 'v', sizeof big - 1);
        big[sizeof big - 1] = 0;
        ck_assert_int_eq(kvp_append(pool, "K", big), 0);

        size_t len = 0;
        _cleanup_free_ char *data = read_pool(&len);
        ck_assert_uint_eq(len, 2560);
        ck_assert_mem_eq(data + 512, big, 2047);
        ck_assert_int_eq(data[2559], 0);

        char longkey[600];
        memset(longkey, 'k', sizeof longkey - 1);
        longkey[sizeof longkey - 1] = 0;
        ck_assert_int_eq(kvp_append(pool, longkey, "v"), -EINVAL);
        longkey[512] = 0;       /* 512 bytes leave no room for the NUL */
        ck_assert_int_eq(kvp_append(pool, longkey, "v"), -EINVAL);
        longkey[511] = 0;       /* 511 fits */
        ck_assert_int_eq(kvp_append(pool, longkey, NULL), 0);
        ck_assert_int_eq(kvp_append(pool, "", "v"), -EINVAL);

        _cleanup_strv_free_ char **keys = NULL, **values = NULL;
        size_t n = 0;
        ck_assert_int_eq(kvp_read_all(pool, &keys, &values, &n), 0);
        ck_assert_uint_eq(n, 2);
        ck_assert_uint_eq(strlen(values[0]), 2047);
        ck_assert_str_eq(keys[1], longkey);
        ck_assert_str_eq(values[1], "");
}
END_TEST

#define N_CHILDREN 8
#define M_RECORDS 40

START_TEST(test_concurrent_appends_never_interleave) {
        /* Create the pool first so the children only race on appends. */
        ck_assert_int_eq(kvp_append(pool, "start", "x"), 0);
        pid_t pids[N_CHILDREN];
        for (int c = 0; c < N_CHILDREN; c++) {
                pids[c] = fork();
                ck_assert_int_ge(pids[c], 0);
                if (pids[c] == 0) {
                        char key[32], value[2048];
                        snprintf(key, sizeof key, "child-%d", c);
                        for (int m = 0; m < M_RECORDS; m++) {
                                /* A long value of one letter per child: any interleaving of
                                 * two writes shows up as a mixed value. */
                                memset(value, 'a' + c, sizeof value - 1);
                                value[sizeof value - 1] = 0;
                                int k = snprintf(value, 16, "%03d:", m);
                                value[k] = (char) ('a' + c);
                                if (kvp_append(pool, key, value) < 0) _exit(1);
                        }
                        _exit(0);
                }
        }
        for (int c = 0; c < N_CHILDREN; c++) {
                int status = 0;
                ck_assert_int_eq(waitpid(pids[c], &status, 0), pids[c]);
                ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        }

        _cleanup_strv_free_ char **keys = NULL, **values = NULL;
        size_t n = 0;
        ck_assert_int_eq(kvp_read_all(pool, &keys, &values, &n), 0);
        ck_assert_uint_eq(n, 1 + N_CHILDREN * M_RECORDS);

        struct stat st;
        ck_assert_int_eq(stat(pool, &st), 0);
        ck_assert_int_eq(st.st_size, (off_t) n * 2560);

        int next_seq[N_CHILDREN] = {0};
        for (size_t i = 1; i < n; i++) {
                int c = -1, m = -1;
                ck_assert_int_eq(sscanf(keys[i], "child-%d", &c), 1);
                ck_assert(c >= 0 && c < N_CHILDREN);
                ck_assert_uint_eq(strlen(values[i]), 2047);
                ck_assert_int_eq(sscanf(values[i], "%d:", &m), 1);
                /* Each child's records appear whole and in its own order. */
                ck_assert_int_eq(m, next_seq[c]);
                next_seq[c]++;
                /* One assertion per record, not per byte: each Check assertion writes a
                 * mark point, and 650,000 of them took minutes under valgrind. */
                size_t j = 4;
                while (j < 2047 && values[i][j] == 'a' + c) j++;
                ck_assert_msg(j == 2047, "record %zu (child %d): byte %zu is '%c'", i, c, j, values[i][j]);
        }
        for (int c = 0; c < N_CHILDREN; c++) ck_assert_int_eq(next_seq[c], M_RECORDS);
}
END_TEST

/* The lock is what keeps kvp_append from writing while cloud-init (flock) or
 * hv_kvp_daemon (POSIX record lock) holds the pool: hold each, and the append waits. */
START_TEST(test_append_waits_for_lock) {
        ck_assert_int_eq(kvp_append(pool, "first", "1"), 0);
        int fd = open(pool, O_RDWR | O_CLOEXEC);
        ck_assert_int_ge(fd, 0);
        if (_i == 0)
                ck_assert_int_eq(flock(fd, LOCK_EX), 0);
        else {
                struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
                ck_assert_int_eq(fcntl(fd, F_SETLK, &fl), 0);
        }

        pid_t pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                /* The inherited fd shares the flock: drop it so only the parent holds it. */
                close(fd);
                _exit(kvp_append(pool, "second", "2") < 0 ? 1 : 0);
        }

        sleep_ms(300);
        struct stat st;
        ck_assert_int_eq(stat(pool, &st), 0);
        ck_assert_int_eq(st.st_size, 2560);     /* still waiting */
        int status = 0;
        ck_assert_int_eq(waitpid(pid, &status, WNOHANG), 0);

        close(fd);      /* drops either lock */
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        ck_assert_int_eq(stat(pool, &st), 0);
        ck_assert_int_eq(st.st_size, 2 * 2560);
}
END_TEST

START_TEST(test_truncate_if_stale) {
        int64_t now_s = now_realtime_ms() / 1000;

        /* Missing pool: nothing to do. */
        ck_assert_int_eq(kvp_truncate_if_stale(pool, now_s), 0);

        ck_assert_int_eq(kvp_append(pool, "PROVISIONING_REPORT", "old boot"), 0);

        /* Written after boot: kept. */
        ck_assert_int_eq(kvp_truncate_if_stale(pool, now_s - 100), 0);
        struct stat st;
        ck_assert_int_eq(stat(pool, &st), 0);
        ck_assert_int_eq(st.st_size, 2560);

        /* Backdated to before boot: truncated, mode kept. */
        struct timespec ts[2] = {{.tv_sec = now_s - 1000}, {.tv_sec = now_s - 1000}};
        ck_assert_int_eq(utimensat(AT_FDCWD, pool, ts, 0), 0);
        ck_assert_int_eq(kvp_truncate_if_stale(pool, now_s - 100), 1);
        ck_assert_int_eq(stat(pool, &st), 0);
        ck_assert_int_eq(st.st_size, 0);
        ck_assert_int_eq(st.st_mode & 07777, 0644);

        /* Once per boot: the truncation itself made it current. */
        ck_assert_int_eq(kvp_truncate_if_stale(pool, now_s - 100), 0);

        /* Appends after truncation start a fresh pool. */
        ck_assert_int_eq(kvp_append(pool, "PROVISIONING_REPORT", "this boot"), 0);
        _cleanup_strv_free_ char **keys = NULL, **values = NULL;
        size_t n = 0;
        ck_assert_int_eq(kvp_read_all(pool, &keys, &values, &n), 0);
        ck_assert_uint_eq(n, 1);
        ck_assert_str_eq(values[0], "this boot");
}
END_TEST

START_TEST(test_read_missing_and_partial) {
        _cleanup_strv_free_ char **keys = NULL, **values = NULL;
        size_t n = 99;
        ck_assert_int_eq(kvp_read_all(pool, &keys, &values, &n), 0);
        ck_assert_uint_eq(n, 0);
        ck_assert_ptr_null(keys[0]);
        ck_assert_ptr_null(values[0]);

        /* A trailing partial record (a writer mid-append) is ignored. */
        ck_assert_int_eq(kvp_append(pool, "A", "1"), 0);
        int fd = open(pool, O_WRONLY | O_APPEND | O_CLOEXEC);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(write_all(fd, "B\0\0\0", 4), 0);
        close(fd);
        _cleanup_strv_free_ char **k2 = NULL, **v2 = NULL;
        ck_assert_int_eq(kvp_read_all(pool, &k2, &v2, &n), 0);
        ck_assert_uint_eq(n, 1);
        ck_assert_str_eq(k2[0], "A");
}
END_TEST

START_TEST(test_report_format) {
        /* 1700000000123 ms = 2023-11-14T22:13:20.123Z */
        _cleanup_free_ char *ok = kvp_provisioning_report(true, "ignored", "0.1.0",
                                                          "6f1c1a8e-9a4b-4a51-8c5e-2a0d3f4b5c6d", 1700000000123);
        ck_assert_ptr_nonnull(ok);
        ck_assert_str_eq(ok, "result=success|agent=vsensor-init/0.1.0|vm_id=6f1c1a8e-9a4b-4a51-8c5e-2a0d3f4b5c6d"
                             "|timestamp=2023-11-14T22:13:20.123Z");

        _cleanup_free_ char *err = kvp_provisioning_report(false, "custom data: a|b\nline 3", "0.1.0",
                                                           "6f1c1a8e-9a4b-4a51-8c5e-2a0d3f4b5c6d", 1700000000123);
        ck_assert_ptr_nonnull(err);
        ck_assert_str_eq(err, "result=error|reason=custom data: a b line 3|agent=vsensor-init/0.1.0"
                              "|vm_id=6f1c1a8e-9a4b-4a51-8c5e-2a0d3f4b5c6d|timestamp=2023-11-14T22:13:20.123Z");

        /* A huge reason is cut so the trailing fields survive the 2047-byte value. */
        char reason[5000];
        memset(reason, 'r', sizeof reason - 1);
        reason[sizeof reason - 1] = 0;
        _cleanup_free_ char *big = kvp_provisioning_report(false, reason, "0.1.0", "id", 0);
        ck_assert_ptr_nonnull(big);
        ck_assert_uint_lt(strlen(big), KVP_VALUE_SIZE);
        const char *tail = "|agent=vsensor-init/0.1.0|vm_id=id|timestamp=1970-01-01T00:00:00.000Z";
        ck_assert_str_eq(big + strlen(big) - strlen(tail), tail);

        _cleanup_free_ char *noid = kvp_provisioning_report(false, NULL, "0.1.0", NULL, 0);
        ck_assert_str_eq(noid, "result=error|reason=|agent=vsensor-init/0.1.0|vm_id=|timestamp=1970-01-01T00:00:00.000Z");
}
END_TEST

START_TEST(test_boot_time) {
        int64_t bt = 0;
        ck_assert_int_eq(kvp_boot_time(&bt), 0);
        ck_assert_int_gt(bt, 1000000000);
        ck_assert_int_le(bt, now_realtime_ms() / 1000);
}
END_TEST

static Suite *kvp_suite(void) {
        Suite *s = suite_create("kvp");
        TCase *tc = tcase_create("core");
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 30);
        tcase_add_test(tc, test_exact_bytes_and_mode);
        tcase_add_test(tc, test_two_appends_two_records);
        tcase_add_test(tc, test_value_truncated_key_checked);
        tcase_add_test(tc, test_concurrent_appends_never_interleave);
        tcase_add_loop_test(tc, test_append_waits_for_lock, 0, 2);
        tcase_add_test(tc, test_truncate_if_stale);
        tcase_add_test(tc, test_read_missing_and_partial);
        tcase_add_test(tc, test_report_format);
        tcase_add_test(tc, test_boot_time);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return tu_run_suite(kvp_suite());
}
