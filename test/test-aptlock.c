/* aptlock: probing the dpkg/apt locks under a temporary root, with lock holders in
 * forked children (F_GETLK does not see this process's own POSIX locks). */
#include <check.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "aptlock.h"
#include "testutil.h"
#include "util.h"

/* The temporary root of each test. */
static char *const root = tu_tmpdir;

/* Creates root + path (and its directory), returns the full path. */
static char *make_lock_file(const char *path) {
        char *full = path_under_root(root, path);
        ck_assert_ptr_nonnull(full);
        _cleanup_free_ char *dir = path_dirname(full);
        ck_assert_int_eq(mkdir_p(dir, 0755), 0);
        int fd = open(full, O_WRONLY | O_CREAT | O_CLOEXEC, 0640);
        ck_assert_int_ge(fd, 0);
        close(fd);
        return full;
}

static void make_all_lock_files(void) {
        for (size_t i = 0; aptlock_paths[i]; i++) free(make_lock_file(aptlock_paths[i]));
}

typedef enum LockKind { LOCK_POSIX, LOCK_OFD, LOCK_POSIX_READ } LockKind;

typedef struct Holder {
        pid_t pid;
        int ctl;      /* write: a release delay in ms (int64_t) */
        int result;   /* read: the monotonic ms just before the release (int64_t) */
} Holder;

/* Forks a child that locks root+path, and on a message on ctl waits the given delay,
 * releases the lock and reports when. */
static Holder spawn_holder(const char *path, LockKind kind) {
        /* No heap memory live across fork(): valgrind reports what a child holds at
         * _exit() as lost. */
        char full[256];
        snprintf(full, sizeof full, "%s%s", root, path);
        int ready[2], ctl[2];
        ck_assert_int_eq(pipe2(ready, O_CLOEXEC), 0);
        ck_assert_int_eq(pipe2(ctl, O_CLOEXEC), 0);
        pid_t pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                prctl(PR_SET_PDEATHSIG, SIGKILL);
                /* Drop inherited ends of other holders' pipes, or they never see EOF. */
                for (int i = 3; i < 1024; i++)
                        if (i != ready[1] && i != ctl[0]) close(i);
                int fd = open(full, O_RDWR | O_CLOEXEC);
                if (fd < 0) _exit(2);
                struct flock fl = {
                        .l_type = kind == LOCK_POSIX_READ ? F_RDLCK : F_WRLCK,
                        .l_whence = SEEK_SET,
                };
                if (fcntl(fd, kind == LOCK_OFD ? F_OFD_SETLK : F_SETLK, &fl) < 0) _exit(3);
                int64_t t = 0;
                if (write(ready[1], &t, sizeof t) != sizeof t) _exit(4);
                int64_t delay = 0;
                if (read(ctl[0], &delay, sizeof delay) == sizeof delay) sleep_ms(delay);
                t = now_monotonic_ms();
                fl.l_type = F_UNLCK;
                if (fcntl(fd, kind == LOCK_OFD ? F_OFD_SETLK : F_SETLK, &fl) < 0) _exit(5);
                if (write(ready[1], &t, sizeof t) != sizeof t) _exit(6);
                /* Stay alive: the release, not the exit, must be what is noticed. */
                while (read(ctl[0], &delay, sizeof delay) > 0) {}
                _exit(0);
        }
        close(ready[1]);
        close(ctl[0]);
        int64_t t = -1;
        ck_assert_int_eq(read(ready[0], &t, sizeof t), sizeof t);
        ck_assert_int_eq(t, 0);
        return (Holder){.pid = pid, .ctl = ctl[1], .result = ready[0]};
}

static void holder_release(Holder *h, int64_t delay_ms) {
        ck_assert_int_eq(write(h->ctl, &delay_ms, sizeof delay_ms), sizeof delay_ms);
}

static int64_t holder_released_at(Holder *h) {
        int64_t t = -1;
        ck_assert_int_eq(read(h->result, &t, sizeof t), sizeof t);
        return t;
}

static void holder_finish(Holder *h) {
        close(h->ctl);
        close(h->result);
        int status;
        ck_assert_int_eq(waitpid(h->pid, &status, 0), h->pid);
        ck_assert(WIFEXITED(status));
        ck_assert_int_eq(WEXITSTATUS(status), 0);
}

START_TEST(test_paths) {
        ck_assert_str_eq(aptlock_paths[0], "/var/lib/dpkg/lock-frontend");
        ck_assert_str_eq(aptlock_paths[1], "/var/lib/dpkg/lock");
        ck_assert_str_eq(aptlock_paths[2], "/var/lib/apt/lists/lock");
        ck_assert_str_eq(aptlock_paths[3], "/var/cache/apt/archives/lock");
        ck_assert_ptr_null(aptlock_paths[4]);
}
END_TEST

START_TEST(test_free_when_missing) {
        AptLockHolder h = {.path = "untouched", .pid = 42};
        ck_assert_int_eq(aptlock_probe(root, &h), 0);
        ck_assert_str_eq(h.path, "untouched");
        ck_assert_int_eq(h.pid, 42);
        ck_assert_int_eq(aptlock_wait(root, 1000, NULL, NULL, &h), 0);
}
END_TEST

START_TEST(test_free_when_unlocked) {
        make_all_lock_files();
        ck_assert_int_eq(aptlock_probe(root, NULL), 0);
        int64_t t0 = now_monotonic_ms();
        ck_assert_int_eq(aptlock_wait(root, 5000, NULL, NULL, NULL), 0);
        ck_assert_int_lt(now_monotonic_ms() - t0, 20); /* no sleep when free */
}
END_TEST

/* Each of the four paths, with a POSIX write lock, an OFD lock and a POSIX read lock. */
START_TEST(test_each_path_held) {
        size_t i = (size_t)_i % 4;
        LockKind kind = (LockKind)(_i / 4);
        make_all_lock_files();
        Holder h = spawn_holder(aptlock_paths[i], kind);

        AptLockHolder got = {};
        ck_assert_int_eq(aptlock_probe(root, &got), 1);
        ck_assert_ptr_eq(got.path, aptlock_paths[i]);
        /* OFD locks belong to no process: unknown pid is 0. */
        ck_assert_int_eq(got.pid, kind == LOCK_OFD ? 0 : h.pid);

        holder_release(&h, 0);
        holder_released_at(&h);
        ck_assert_int_eq(aptlock_probe(root, &got), 0);
        holder_finish(&h);
}
END_TEST

START_TEST(test_first_held_in_order) {
        make_all_lock_files();
        Holder lists = spawn_holder("/var/lib/apt/lists/lock", LOCK_POSIX);
        Holder dpkg = spawn_holder("/var/lib/dpkg/lock", LOCK_POSIX);
        AptLockHolder got = {};
        ck_assert_int_eq(aptlock_probe(root, &got), 1);
        ck_assert_str_eq(got.path, "/var/lib/dpkg/lock");
        ck_assert_int_eq(got.pid, dpkg.pid);
        holder_release(&dpkg, 0);
        holder_released_at(&dpkg);
        ck_assert_int_eq(aptlock_probe(root, &got), 1);
        ck_assert_str_eq(got.path, "/var/lib/apt/lists/lock");
        ck_assert_int_eq(got.pid, lists.pid);
        holder_release(&lists, 0);
        holder_released_at(&lists);
        holder_finish(&dpkg);
        holder_finish(&lists);
}
END_TEST

typedef struct Seen {
        int n;
        AptLockHolder h[8];
} Seen;

static void record(void *userdata, const AptLockHolder *holder) {
        Seen *s = userdata;
        if (s->n < (int)ELEMENTSOF(s->h)) s->h[s->n] = *holder;
        s->n++;
}

static void check_wait_returns_soon_after_release(LockKind kind) {
        make_all_lock_files();
        Holder h = spawn_holder("/var/lib/dpkg/lock-frontend", kind);
        Seen seen = {};
        AptLockHolder got = {.path = "untouched"};

        holder_release(&h, 300);
        int64_t t0 = now_monotonic_ms();
        ck_assert_int_eq(aptlock_wait(root, 10000, record, &seen, &got), 0);
        int64_t done = now_monotonic_ms();
        int64_t released = holder_released_at(&h);

        ck_assert_int_ge(released - t0, 250); /* it really waited */
        ck_assert_int_ge(done, released);
        ck_assert_msg(done - released <= 100, "returned %lld ms after the release",
                      (long long)(done - released));
        /* Told once, about the holder. */
        ck_assert_int_eq(seen.n, 1);
        ck_assert_str_eq(seen.h[0].path, "/var/lib/dpkg/lock-frontend");
        ck_assert_int_eq(seen.h[0].pid, kind == LOCK_OFD ? 0 : h.pid);
        ck_assert_str_eq(got.path, "untouched");
        holder_finish(&h);
}

START_TEST(test_wait_release_posix) { check_wait_returns_soon_after_release(LOCK_POSIX); }
END_TEST

START_TEST(test_wait_release_ofd) { check_wait_returns_soon_after_release(LOCK_OFD); }
END_TEST

START_TEST(test_wait_holder_change) {
        make_all_lock_files();
        Holder front = spawn_holder("/var/lib/dpkg/lock-frontend", LOCK_POSIX);
        Holder archives = spawn_holder("/var/cache/apt/archives/lock", LOCK_POSIX);
        Seen seen = {};
        holder_release(&front, 150);
        holder_release(&archives, 400);
        ck_assert_int_eq(aptlock_wait(root, 10000, record, &seen, NULL), 0);
        int64_t done = now_monotonic_ms();
        int64_t released = holder_released_at(&archives);
        holder_released_at(&front);
        ck_assert_int_ge(done, released);
        ck_assert_int_le(done - released, 100);
        ck_assert_int_eq(seen.n, 2);
        ck_assert_str_eq(seen.h[0].path, "/var/lib/dpkg/lock-frontend");
        ck_assert_int_eq(seen.h[0].pid, front.pid);
        ck_assert_str_eq(seen.h[1].path, "/var/cache/apt/archives/lock");
        ck_assert_int_eq(seen.h[1].pid, archives.pid);
        holder_finish(&front);
        holder_finish(&archives);
}
END_TEST

START_TEST(test_wait_deadline) {
        make_all_lock_files();
        Holder h = spawn_holder("/var/lib/apt/lists/lock", LOCK_POSIX);
        Seen seen = {};
        AptLockHolder got = {};
        int64_t t0 = now_monotonic_ms();
        ck_assert_int_eq(aptlock_wait(root, 200, record, &seen, &got), -ETIMEDOUT);
        int64_t took = now_monotonic_ms() - t0;
        ck_assert_int_ge(took, 200);
        ck_assert_int_lt(took, 200 + 100);
        ck_assert_str_eq(got.path, "/var/lib/apt/lists/lock");
        ck_assert_int_eq(got.pid, h.pid);
        ck_assert_int_eq(seen.n, 1); /* the same holder is reported once */

        /* A zero deadline probes once. */
        got = (AptLockHolder){};
        ck_assert_int_eq(aptlock_wait(root, 0, NULL, NULL, &got), -ETIMEDOUT);
        ck_assert_int_eq(got.pid, h.pid);

        holder_release(&h, 0);
        holder_released_at(&h);
        ck_assert_int_eq(aptlock_wait(root, 0, NULL, NULL, NULL), 0);
        holder_finish(&h);
}
END_TEST

START_TEST(test_root_trailing_slash) {
        AptLockHolder got = {};
        /* A trailing slash on the root is the same root. */
        make_all_lock_files();
        Holder h = spawn_holder("/var/lib/dpkg/lock", LOCK_POSIX);
        char slashed[128];
        snprintf(slashed, sizeof slashed, "%s/", root);
        ck_assert_int_eq(aptlock_probe(slashed, &got), 1);
        ck_assert_int_eq(got.pid, h.pid);
        holder_release(&h, 0);
        holder_released_at(&h);
        holder_finish(&h);
}
END_TEST

START_TEST(test_fifo_does_not_hang) {
        _cleanup_free_ char *p = path_under_root(root, "/var/lib/dpkg/lock-frontend");
        _cleanup_free_ char *dir = path_dirname(p);
        ck_assert_int_eq(mkdir_p(dir, 0755), 0);
        ck_assert_int_eq(mkfifo(p, 0600), 0);
        /* Returns (free or an error) instead of blocking in open(). */
        int r = aptlock_probe(root, NULL);
        ck_assert_int_le(r, 1);
}
END_TEST

static Suite *aptlock_suite(void) {
        Suite *s = suite_create("aptlock");
        TCase *tc = tcase_create("core");
        tu_add_tmpdir_fixtures(tc);
        tcase_set_timeout(tc, 20);
        tcase_add_test(tc, test_paths);
        tcase_add_test(tc, test_free_when_missing);
        tcase_add_test(tc, test_free_when_unlocked);
        tcase_add_loop_test(tc, test_each_path_held, 0, 12);
        tcase_add_test(tc, test_first_held_in_order);
        tcase_add_test(tc, test_wait_release_posix);
        tcase_add_test(tc, test_wait_release_ofd);
        tcase_add_test(tc, test_wait_holder_change);
        tcase_add_test(tc, test_wait_deadline);
        tcase_add_test(tc, test_root_trailing_slash);
        tcase_add_test(tc, test_fifo_does_not_hang);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return tu_run_suite(aptlock_suite());
}
