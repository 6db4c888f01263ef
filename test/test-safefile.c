/* safefile: no symlink followed anywhere on the way (middle, end, dangling), no `..`
 * escape, a FIFO never blocks and is refused, a hard link and a file of another user
 * are refused, writes are atomic with the exact mode and owner. Each case runs twice:
 * with openat2 (loop 0) and with the O_NOFOLLOW walk (loop 1). */
#include <check.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "safefile.h"
#include "testutil.h"
#include "util.h"

/* An unprivileged uid for the owner cases (run as root only). */
#define OTHER_UID 65534

static char root[160], outside[160];

static void setup(void) {
        tu_tmpdir_setup();
        snprintf(root, sizeof root, "%s/root", tu_tmpdir);
        snprintf(outside, sizeof outside, "%s/outside", tu_tmpdir);
        ck_assert_int_eq(mkdir(root, 0755), 0);
        ck_assert_int_eq(mkdir(outside, 0755), 0);
}

static void put(const char *dir, const char *name, const char *text, mode_t mode) {
        char p[300];
        snprintf(p, sizeof p, "%s/%s", dir, name);
        int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(write_all(fd, text, strlen(text)), 0);
        close(fd);
}

static char *slurp(const char *dir, const char *name) {
        char p[300];
        snprintf(p, sizeof p, "%s/%s", dir, name);
        char *s = NULL;
        return read_file_capped(p, 1 << 20, &s, NULL) < 0 ? NULL : s;
}

static void link_in(const char *target, const char *dir, const char *name) {
        char p[300];
        snprintf(p, sizeof p, "%s/%s", dir, name);
        ck_assert_int_eq(symlink(target, p), 0);
}

START_TEST(test_plain_open_and_read) {
        safe_force_walk(_i == 1);
        char sub[200];
        snprintf(sub, sizeof sub, "%s/etc", root);
        ck_assert_int_eq(mkdir(sub, 0755), 0);
        put(sub, "hostname", "vm1\n", 0644);
        _cleanup_free_ char *s = NULL;
        size_t n = 0;
        ck_assert_int_eq(safe_read(root, "/etc/hostname", 1024, SAFE_NO_OWNER, &s, &n), 0);
        ck_assert_str_eq(s, "vm1\n");
        ck_assert_uint_eq(n, 4);
        /* Repeated and trailing slashes and "." are harmless. */
        int fd = safe_open(root, "//etc/./hostname", O_RDONLY, 0);
        ck_assert_int_ge(fd, 0);
        close(fd);
        fd = safe_open(root, "/", O_RDONLY | O_DIRECTORY, 0);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(safe_check(fd, SAFE_DIRECTORY, SAFE_NO_OWNER), 0);
        close(fd);
        ck_assert_int_eq(safe_read(root, "/etc/missing", 1024, SAFE_NO_OWNER, &s, NULL), -ENOENT);
        ck_assert_int_eq(safe_read(root, "/etc/hostname", 2, SAFE_NO_OWNER, &s, NULL), -EFBIG);
        ck_assert_int_eq(safe_open(root, "etc/hostname", O_RDONLY, 0), -EINVAL);
}
END_TEST

/* ROOT/home/u/.ssh -> OUTSIDE: nothing under OUTSIDE is read, created or changed. */
START_TEST(test_symlink_in_the_middle) {
        safe_force_walk(_i == 1);
        char home[200];
        snprintf(home, sizeof home, "%s/home", root);
        ck_assert_int_eq(mkdir(home, 0755), 0);
        link_in(outside, home, ".ssh");
        put(outside, "authorized_keys", "outside\n", 0644);
        _cleanup_free_ char *s = NULL;
        ck_assert_int_eq(safe_read(root, "/home/.ssh/authorized_keys", 1024, SAFE_NO_OWNER, &s, NULL), -ELOOP);
        ck_assert_int_eq(safe_open(root, "/home/.ssh/new", O_WRONLY | O_CREAT, 0600), -ELOOP);
        ck_assert_int_eq(safe_write(root, "/home/.ssh/authorized_keys", "x\n", 2, 0600, SAFE_NO_OWNER, SAFE_NO_GROUP), -ELOOP);
        ck_assert_int_eq(safe_mkdirat(AT_FDCWD, "/nope/..", 0700, SAFE_NO_OWNER, SAFE_NO_GROUP, false), -EXDEV);
        int rfd = safe_root_open(root);
        ck_assert_int_ge(rfd, 0);
        ck_assert_int_eq(safe_mkdirat(rfd, "/home/.ssh/sub", 0700, SAFE_NO_OWNER, SAFE_NO_GROUP, true), -ELOOP);
        ck_assert_int_eq(safe_mkdirat(rfd, "/home/.ssh", 0700, SAFE_NO_OWNER, SAFE_NO_GROUP, true), -ELOOP);
        close(rfd);
        /* A symlinked directory high up the path is refused the same way. */
        link_in(outside, root, "etc");
        ck_assert_int_eq(safe_open(root, "/etc/authorized_keys", O_RDONLY, 0), -ELOOP);

        _cleanup_free_ char *o = slurp(outside, "authorized_keys");
        ck_assert_str_eq(o, "outside\n");
        ck_assert_int_eq(tu_count_entries(outside), 1);
        struct stat st;
        ck_assert_int_eq(stat(outside, &st), 0);
        ck_assert_uint_eq(st.st_mode & 07777, 0755);
}
END_TEST

/* ROOT/f -> OUTSIDE/f and a dangling ROOT/d -> OUTSIDE/new. */
START_TEST(test_symlink_at_the_end) {
        safe_force_walk(_i == 1);
        char target[300], dangling[300];
        snprintf(target, sizeof target, "%s/f", outside);
        snprintf(dangling, sizeof dangling, "%s/new", outside);
        put(outside, "f", "outside\n", 0644);
        link_in(target, root, "f");
        link_in(dangling, root, "d");
        ck_assert_int_eq(safe_open(root, "/f", O_RDONLY, 0), -ELOOP);
        ck_assert_int_eq(safe_open(root, "/f", O_WRONLY | O_APPEND | O_CREAT, 0600), -ELOOP);
        ck_assert_int_eq(safe_open(root, "/d", O_WRONLY | O_CREAT, 0600), -ELOOP);
        ck_assert_int_eq(safe_open(root, "/f", O_RDONLY | O_DIRECTORY, 0), -ELOOP);
        /* An atomic write replaces the link itself; its target is untouched. */
        ck_assert_int_eq(safe_write(root, "/f", "inside\n", 7, 0600, SAFE_NO_OWNER, SAFE_NO_GROUP), 0);
        _cleanup_free_ char *o = slurp(outside, "f");
        ck_assert_str_eq(o, "outside\n");
        _cleanup_free_ char *i = slurp(root, "f");
        ck_assert_str_eq(i, "inside\n");
        ck_assert_int_eq(access(dangling, F_OK), -1);
}
END_TEST

static const char *const dotdot_paths[] = {"/..", "/../outside/f", "/etc/../../outside/f", "/a/b/..", "/..//x"};

START_TEST(test_dotdot_refused) {
        safe_force_walk(false);
        put(outside, "f", "outside\n", 0644);
        for (int walk = 0; walk < 2; walk++) {
                safe_force_walk(walk);
                const char *p = dotdot_paths[_i];
                ck_assert_int_eq(safe_open(root, p, O_RDONLY, 0), -EXDEV);
                ck_assert_int_eq(safe_write(root, p, "x", 1, 0600, SAFE_NO_OWNER, SAFE_NO_GROUP), -EXDEV);
                int rfd = safe_root_open(root);
                ck_assert_int_eq(safe_mkdirat(rfd, p, 0700, SAFE_NO_OWNER, SAFE_NO_GROUP, false), -EXDEV);
                close(rfd);
        }
        _cleanup_free_ char *o = slurp(outside, "f");
        ck_assert_str_eq(o, "outside\n");
        ck_assert_int_eq(tu_count_entries(outside), 1);
        /* A name with dots that is not ".." is a name. */
        put(root, "..x", "dots\n", 0644);
        int fd = safe_open(root, "/..x", O_RDONLY, 0);
        ck_assert_int_ge(fd, 0);
        close(fd);
}
END_TEST

/* A FIFO opened for writing without a reader, or for reading: no blocking, refused. */
START_TEST(test_fifo) {
        safe_force_walk(_i == 1);
        char p[300];
        snprintf(p, sizeof p, "%s/log", root);
        ck_assert_int_eq(mkfifo(p, 0600), 0);
        int64_t t0 = now_monotonic_ms();
        ck_assert_int_eq(safe_open(root, "/log", O_WRONLY | O_APPEND | O_CREAT, 0600), -ENXIO);
        _cleanup_free_ char *s = NULL;
        ck_assert_int_eq(safe_read(root, "/log", 1024, SAFE_NO_OWNER, &s, NULL), -ENXIO);
        int fd = safe_open(root, "/log", O_RDONLY, 0);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(safe_check(fd, SAFE_REGULAR, SAFE_NO_OWNER), -ENXIO);
        /* O_NONBLOCK was only for the open. */
        ck_assert_int_eq(fcntl(fd, F_GETFL) & O_NONBLOCK, 0);
        close(fd);
        ck_assert_int_lt(now_monotonic_ms() - t0, 1000);
        ck_assert_str_eq(safe_strerror(-ENXIO), "not a regular file (a FIFO, socket or device)");
}
END_TEST

START_TEST(test_hardlink) {
        safe_force_walk(_i == 1);
        put(outside, "shadow", "root:secret\n", 0600);
        char a[300], b[300];
        snprintf(a, sizeof a, "%s/shadow", outside);
        snprintf(b, sizeof b, "%s/authorized_keys", root);
        ck_assert_int_eq(link(a, b), 0);
        _cleanup_free_ char *s = NULL;
        ck_assert_int_eq(safe_read(root, "/authorized_keys", 1024, SAFE_NO_OWNER, &s, NULL), -EMLINK);
        ck_assert_ptr_null(s);
        int fd = safe_open(root, "/authorized_keys", O_WRONLY | O_APPEND, 0);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(safe_check(fd, SAFE_REGULAR | SAFE_ONE_LINK, SAFE_NO_OWNER), -EMLINK);
        ck_assert_int_eq(safe_check(fd, SAFE_REGULAR, SAFE_NO_OWNER), 0);
        close(fd);
        /* Writing replaces the name: the other link keeps its content. */
        ck_assert_int_eq(safe_write(root, "/authorized_keys", "k\n", 2, 0600, SAFE_NO_OWNER, SAFE_NO_GROUP), 0);
        _cleanup_free_ char *o = slurp(outside, "shadow");
        ck_assert_str_eq(o, "root:secret\n");
}
END_TEST

START_TEST(test_wrong_owner) {
        safe_force_walk(_i == 1);
        if (geteuid() != 0) {
                printf("test_wrong_owner: skipped: needs root (chown)\n");
                return;
        }
        put(root, "log", "theirs\n", 0644);
        char p[300];
        snprintf(p, sizeof p, "%s/log", root);
        ck_assert_int_eq(chown(p, OTHER_UID, OTHER_UID), 0);
        int fd = safe_open(root, "/log", O_WRONLY | O_APPEND, 0);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(safe_check(fd, SAFE_REGULAR | SAFE_OWNED, SAFE_NO_OWNER), -EPERM);
        ck_assert_int_eq(safe_check(fd, SAFE_REGULAR | SAFE_OWNED, OTHER_UID), 0);
        ck_assert_int_eq(safe_check(fd, SAFE_DIRECTORY, SAFE_NO_OWNER), -ENOTDIR);
        close(fd);
        _cleanup_free_ char *s = NULL;
        ck_assert_int_eq(safe_read(root, "/log", 1024, 1234, &s, NULL), -EPERM);
        ck_assert_int_eq(safe_read(root, "/log", 1024, OTHER_UID, &s, NULL), 0);
        ck_assert_str_eq(s, "theirs\n");
}
END_TEST

/* mkdir -p with exact modes whatever the umask; owner and mode on the last one. */
START_TEST(test_mkdir_and_write) {
        safe_force_walk(_i == 1);
        mode_t old = umask(077);
        int rfd = safe_root_open(root);
        ck_assert_int_ge(rfd, 0);
        bool as_root = geteuid() == 0;
        uid_t uid = as_root ? OTHER_UID : SAFE_NO_OWNER;
        gid_t gid = as_root ? OTHER_UID : SAFE_NO_GROUP;
        int dfd = safe_mkdirat(rfd, "/home/u/.ssh", 0755, uid, gid, true);
        ck_assert_int_ge(dfd, 0);
        umask(old);
        char p[300];
        struct stat st;
        snprintf(p, sizeof p, "%s/home/u", root);
        ck_assert_int_eq(stat(p, &st), 0);
        ck_assert_uint_eq(st.st_mode & 07777, 0755);
        ck_assert_uint_eq(st.st_uid, geteuid());
        snprintf(p, sizeof p, "%s/home/u/.ssh", root);
        ck_assert_int_eq(stat(p, &st), 0);
        ck_assert_uint_eq(st.st_mode & 07777, 0755);
        if (as_root) ck_assert_uint_eq(st.st_uid, OTHER_UID);
        /* An existing directory: enforce sets mode (and owner) again. */
        ck_assert_int_eq(chmod(p, 0777), 0);
        int d2 = safe_mkdirat(rfd, "/home/u/.ssh", 0700, uid, gid, true);
        ck_assert_int_ge(d2, 0);
        close(d2);
        ck_assert_int_eq(stat(p, &st), 0);
        ck_assert_uint_eq(st.st_mode & 07777, 0700);
        /* Without enforce an existing directory is left alone. */
        ck_assert_int_eq(chmod(p, 0711), 0);
        d2 = safe_mkdirat(rfd, "/home/u/.ssh", 0700, SAFE_NO_OWNER, SAFE_NO_GROUP, false);
        ck_assert_int_ge(d2, 0);
        close(d2);
        ck_assert_int_eq(stat(p, &st), 0);
        ck_assert_uint_eq(st.st_mode & 07777, 0711);

        ck_assert_int_eq(safe_write_at(dfd, "authorized_keys", "key\n", 4, 0600, uid, gid), 0);
        ck_assert_int_eq(safe_write_at(dfd, "authorized_keys", "key2\n", 5, 0644, uid, gid), 0);
        ck_assert_int_eq(tu_count_entries(p), 1);
        snprintf(p, sizeof p, "%s/home/u/.ssh/authorized_keys", root);
        ck_assert_int_eq(stat(p, &st), 0);
        ck_assert_uint_eq(st.st_mode & 07777, 0644);
        if (as_root) ck_assert_uint_eq(st.st_uid, OTHER_UID);
        _cleanup_free_ char *s = NULL;
        ck_assert_int_eq(read_file_capped(p, 100, &s, NULL), 0);
        ck_assert_str_eq(s, "key2\n");
        /* A directory at the name is not replaced; bad names are refused. */
        ck_assert_int_eq(mkdirat(dfd, "dir", 0700), 0);
        ck_assert_int_eq(safe_write_at(dfd, "dir", "x", 1, 0600, SAFE_NO_OWNER, SAFE_NO_GROUP), -EISDIR);
        ck_assert_int_eq(safe_write_at(dfd, "a/b", "x", 1, 0600, SAFE_NO_OWNER, SAFE_NO_GROUP), -EINVAL);
        ck_assert_int_eq(safe_write_at(dfd, "..", "x", 1, 0600, SAFE_NO_OWNER, SAFE_NO_GROUP), -EINVAL);
        /* A file in the way of mkdir. */
        put(root, "file", "", 0644);
        ck_assert_int_eq(safe_mkdirat(rfd, "/file/sub", 0700, SAFE_NO_OWNER, SAFE_NO_GROUP, false), -ENOTDIR);
        close(dfd);
        close(rfd);
}
END_TEST

/* The live system is the root "/" with the same rules. */
START_TEST(test_live_root_same_rules) {
        safe_force_walk(_i == 1);
        link_in(outside, root, "ssh");
        put(outside, "k", "outside\n", 0644);
        char p[300];
        snprintf(p, sizeof p, "%s/ssh/k", root);
        ck_assert_int_eq(safe_open(NULL, p, O_RDONLY, 0), -ELOOP);
        ck_assert_int_eq(safe_open("/", p, O_RDONLY, 0), -ELOOP);
        ck_assert_int_eq(safe_write("", p, "x", 1, 0600, SAFE_NO_OWNER, SAFE_NO_GROUP), -ELOOP);
        _cleanup_free_ char *o = slurp(outside, "k");
        ck_assert_str_eq(o, "outside\n");
        snprintf(p, sizeof p, "%s/k", outside);
        int fd = safe_open(NULL, p, O_RDONLY, 0);
        ck_assert_int_ge(fd, 0);
        close(fd);
}
END_TEST

START_TEST(test_strerror) {
        ck_assert_str_eq(safe_strerror(-ELOOP), "a symbolic link is on the way (not followed)");
        ck_assert_str_eq(safe_strerror(-EMLINK), "a file with more than one hard link");
        ck_assert_str_eq(safe_strerror(-EPERM), "owned by another user");
        ck_assert_str_eq(safe_strerror(-ENOENT), strerror(ENOENT));
}
END_TEST

static Suite *safefile_suite(void) {
        Suite *s = suite_create("safefile");
        TCase *tc = tcase_create("core");
        tcase_add_unchecked_fixture(tc, tu_base_setup, tu_base_teardown);
        tcase_add_checked_fixture(tc, setup, tu_tmpdir_teardown);
        tcase_set_timeout(tc, 10);
        tcase_add_loop_test(tc, test_plain_open_and_read, 0, 2);
        tcase_add_loop_test(tc, test_symlink_in_the_middle, 0, 2);
        tcase_add_loop_test(tc, test_symlink_at_the_end, 0, 2);
        tcase_add_loop_test(tc, test_dotdot_refused, 0, (int)ELEMENTSOF(dotdot_paths));
        tcase_add_loop_test(tc, test_fifo, 0, 2);
        tcase_add_loop_test(tc, test_hardlink, 0, 2);
        tcase_add_loop_test(tc, test_wrong_owner, 0, 2);
        tcase_add_loop_test(tc, test_mkdir_and_write, 0, 2);
        tcase_add_loop_test(tc, test_live_root_same_rules, 0, 2);
        tcase_add_test(tc, test_strerror);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return tu_run_suite(safefile_suite());
}
