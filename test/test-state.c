/* state: state.json round trip, strict loading, atomic 0600 saves, the run lock. */
#include <check.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "state.h"
#include "testutil.h"
#include "util.h"

static void put_file(const char *path, const char *content) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(write_all(fd, content, strlen(content)), 0);
        close(fd);
}

START_TEST(test_step_state_strings) {
        ck_assert_str_eq(step_state_to_string(STEP_PENDING), "pending");
        ck_assert_str_eq(step_state_to_string(STEP_DONE), "done");
        ck_assert_str_eq(step_state_to_string(STEP_FAILED), "failed");
        ck_assert_str_eq(step_state_to_string(STEP_SKIPPED), "skipped");
        ck_assert_ptr_null(step_state_to_string(_STEP_STATE_MAX));
        ck_assert_ptr_null(step_state_to_string(_STEP_STATE_INVALID));
        ck_assert_int_eq(step_state_from_string("pending"), STEP_PENDING);
        ck_assert_int_eq(step_state_from_string("done"), STEP_DONE);
        ck_assert_int_eq(step_state_from_string("failed"), STEP_FAILED);
        ck_assert_int_eq(step_state_from_string("skipped"), STEP_SKIPPED);
        ck_assert_int_eq(step_state_from_string("Done"), -EINVAL);
        ck_assert_int_eq(step_state_from_string(""), -EINVAL);
        ck_assert_int_eq(step_state_from_string(NULL), -EINVAL);
}
END_TEST

START_TEST(test_set_get_attempts) {
        _cleanup_(state_freep) State *s = state_new();
        ck_assert_ptr_nonnull(s);
        ck_assert_int_eq(state_get(s, "install"), STEP_PENDING);
        ck_assert_ptr_null(state_find(s, "install"));

        ck_assert_int_eq(state_count_attempt(s, "install"), 0);
        StepRecord *r = state_find(s, "install");
        ck_assert_ptr_nonnull(r);
        ck_assert_int_eq(r->state, STEP_PENDING);
        ck_assert_int_eq(r->attempts, 1);
        ck_assert_ptr_nonnull(r->updated);

        ck_assert_int_eq(state_set(s, "install", STEP_FAILED, "exit 3"), 0);
        r = state_find(s, "install");
        ck_assert_int_eq(r->attempts, 1); /* state_set leaves attempts alone */
        ck_assert_str_eq(r->error, "exit 3");
        /* "2026-11-28T00:04:10.123Z" */
        ck_assert_uint_eq(strlen(r->updated), 24);
        ck_assert_int_eq(r->updated[23], 'Z');

        ck_assert_int_eq(state_count_attempt(s, "install"), 0);
        ck_assert_int_eq(state_set(s, "install", STEP_DONE, NULL), 0);
        r = state_find(s, "install");
        ck_assert_int_eq(r->attempts, 2);
        ck_assert_ptr_null(r->error);
        ck_assert_int_eq(state_get(s, "install"), STEP_DONE);
        ck_assert_uint_eq(s->n_steps, 1);

        ck_assert_int_eq(state_set(s, "x", (StepState)_STEP_STATE_MAX, NULL), -EINVAL);
        ck_assert_int_eq(state_set(s, "", STEP_DONE, NULL), -EINVAL);
        ck_assert_uint_eq(s->n_steps, 1);
}
END_TEST

START_TEST(test_round_trip) {
        _cleanup_free_ char *path = tu_tmp_path("state/state.json");
        _cleanup_(state_freep) State *s = state_new();
        ck_assert_int_eq(state_set_vm_id(s, "vm-123"), 0);
        s->boot_id = strdup("boot-abc");
        ck_assert_int_eq(state_count_attempt(s, "install"), 0);
        ck_assert_int_eq(state_set(s, "install", STEP_DONE, NULL), 0);
        ck_assert_int_eq(state_set(s, "register", STEP_FAILED, "HTTP 503 \"quoted\"\n"), 0);
        ck_assert_int_eq(state_set(s, "hmac", STEP_SKIPPED, NULL), 0);
        ck_assert_int_eq(state_save(s, path), 0);

        _cleanup_(state_freep) State *l = NULL;
        ck_assert_int_eq(state_load(path, &l), 0);
        ck_assert_str_eq(l->vm_id, "vm-123");
        ck_assert_str_eq(l->boot_id, "boot-abc");
        ck_assert_uint_eq(l->n_steps, 3);
        for (size_t i = 0; i < 3; i++) {
                ck_assert_str_eq(l->steps[i].name, s->steps[i].name);
                ck_assert_int_eq(l->steps[i].state, s->steps[i].state);
                ck_assert_int_eq(l->steps[i].attempts, s->steps[i].attempts);
                ck_assert(streq_ptr(l->steps[i].error, s->steps[i].error));
                ck_assert_str_eq(l->steps[i].updated, s->steps[i].updated);
        }
        ck_assert_int_eq(l->steps[0].attempts, 1);
        ck_assert_str_eq(l->steps[1].error, "HTTP 503 \"quoted\"\n");
        ck_assert_ptr_null(l->steps[2].error);

        /* Saving what was loaded gives the same bytes. */
        _cleanup_free_ char *first = tu_read_file(path, NULL);
        ck_assert_int_eq(state_save(l, path), 0);
        _cleanup_free_ char *second = tu_read_file(path, NULL);
        ck_assert_str_eq(first, second);
}
END_TEST

START_TEST(test_exact_format) {
        _cleanup_free_ char *path = tu_tmp_path("state.json");
        _cleanup_(state_freep) State *s = state_new();
        ck_assert_int_eq(state_set_vm_id(s, "vm-1"), 0);
        ck_assert_int_eq(state_set(s, "install", STEP_DONE, NULL), 0);
        free(s->steps[0].updated);
        s->steps[0].updated = strdup("2026-11-28T00:04:10.123Z");
        s->steps[0].attempts = 1;
        ck_assert_int_eq(state_save(s, path), 0);
        _cleanup_free_ char *got = tu_read_file(path, NULL);
        ck_assert_str_eq(got,
                         "{\n"
                         "  \"version\": 1,\n"
                         "  \"vm_id\": \"vm-1\",\n"
                         "  \"boot_id\": null,\n"
                         "  \"steps\": [\n"
                         "    {\n"
                         "      \"name\": \"install\",\n"
                         "      \"state\": \"done\",\n"
                         "      \"attempts\": 1,\n"
                         "      \"error\": null,\n"
                         "      \"updated\": \"2026-11-28T00:04:10.123Z\"\n"
                         "    }\n"
                         "  ]\n"
                         "}\n");
}
END_TEST

START_TEST(test_order_kept) {
        _cleanup_free_ char *path = tu_tmp_path("state.json");
        static const char *const names[] = {"wait-apt", "install", "register", "hmac", "a-last"};
        _cleanup_(state_freep) State *s = state_new();
        for (size_t i = 0; i < ELEMENTSOF(names); i++)
                ck_assert_int_eq(state_set(s, names[i], STEP_PENDING, NULL), 0);
        /* Updating an early step does not move it. */
        ck_assert_int_eq(state_set(s, "wait-apt", STEP_DONE, NULL), 0);
        ck_assert_int_eq(state_count_attempt(s, "install"), 0);
        ck_assert_int_eq(state_save(s, path), 0);

        _cleanup_(state_freep) State *l = NULL;
        ck_assert_int_eq(state_load(path, &l), 0);
        ck_assert_uint_eq(l->n_steps, ELEMENTSOF(names));
        for (size_t i = 0; i < ELEMENTSOF(names); i++) ck_assert_str_eq(l->steps[i].name, names[i]);

        /* And the file keeps the order the file had, not an alphabetical one. */
        put_file(path, "{\"version\":1,\"steps\":[{\"name\":\"zz\",\"state\":\"done\"},"
                       "{\"name\":\"aa\",\"state\":\"failed\",\"attempts\":4}]}");
        _cleanup_(state_freep) State *m = NULL;
        ck_assert_int_eq(state_load(path, &m), 0);
        ck_assert_uint_eq(m->n_steps, 2);
        ck_assert_str_eq(m->steps[0].name, "zz");
        ck_assert_str_eq(m->steps[1].name, "aa");
        ck_assert_int_eq(m->steps[1].attempts, 4);
        ck_assert_int_eq(m->steps[0].attempts, 0);
        ck_assert_ptr_null(m->vm_id);
}
END_TEST

START_TEST(test_missing_file) {
        _cleanup_free_ char *path = tu_tmp_path("nope/state.json");
        _cleanup_(state_freep) State *l = NULL;
        ck_assert_int_eq(state_load(path, &l), 0);
        ck_assert_ptr_nonnull(l);
        ck_assert_ptr_null(l->vm_id);
        ck_assert_ptr_null(l->boot_id);
        ck_assert_uint_eq(l->n_steps, 0);
        ck_assert_int_eq(state_get(l, "install"), STEP_PENDING);
        /* Loading creates nothing. */
        ck_assert_int_eq(tu_count_entries(tu_tmpdir), 0);
}
END_TEST

static const char *const bad_docs[] = {
        "",
        "{",
        "not json",
        "[]",
        "\"str\"",
        "{\"version\": 2, \"steps\": []}",
        "{\"version\": \"1\"}",
        "{\"vm_id\": 5}",
        "{\"boot_id\": []}",
        "{\"steps\": {}}",
        "{\"steps\": [1]}",
        "{\"steps\": [{\"state\": \"done\"}]}",
        "{\"steps\": [{\"name\": \"\", \"state\": \"done\"}]}",
        "{\"steps\": [{\"name\": 7, \"state\": \"done\"}]}",
        "{\"steps\": [{\"name\": \"install\"}]}",
        "{\"steps\": [{\"name\": \"install\", \"state\": \"finished\"}]}",
        "{\"steps\": [{\"name\": \"install\", \"state\": \"done\", \"attempts\": \"1\"}]}",
        "{\"steps\": [{\"name\": \"install\", \"state\": \"done\", \"attempts\": -1}]}",
        "{\"steps\": [{\"name\": \"install\", \"state\": \"done\", \"attempts\": 1.5}]}",
        "{\"steps\": [{\"name\": \"install\", \"state\": \"done\", \"attempts\": 99999999999}]}",
        "{\"steps\": [{\"name\": \"install\", \"state\": \"done\", \"error\": 1}]}",
        "{\"steps\": [{\"name\": \"install\", \"state\": \"done\", \"updated\": true}]}",
        "{\"steps\": [{\"name\": \"a\", \"state\": \"done\"}, {\"name\": \"a\", \"state\": \"done\"}]}",
        "{\"vm_id\": \"a\", \"vm_id\": \"b\"}",
        "{\"vm_id\": \"a\"} trailing",
};

START_TEST(test_corrupt_file) {
        _cleanup_free_ char *path = tu_tmp_path("state.json");
        const char *doc = bad_docs[_i];
        put_file(path, doc);
        State *l = (State *)0x1;
        ck_assert_msg(state_load(path, &l) == -EBADMSG, "accepted: %s", doc);
        ck_assert_ptr_eq(l, (State *)0x1); /* ret untouched on failure */
        /* The file is not replaced or removed. */
        _cleanup_free_ char *after = tu_read_file(path, NULL);
        ck_assert_str_eq(after, doc);
        ck_assert_int_eq(tu_count_entries(tu_tmpdir), 1);
}
END_TEST

START_TEST(test_unknown_fields_ignored) {
        _cleanup_free_ char *path = tu_tmp_path("state.json");
        put_file(path, "{\"version\": 1, \"future\": {\"x\": [1]}, \"vm_id\": null, "
                       "\"steps\": [{\"name\": \"install\", \"state\": \"skipped\", \"extra\": 1, "
                       "\"error\": null, \"updated\": null}]}");
        _cleanup_(state_freep) State *l = NULL;
        ck_assert_int_eq(state_load(path, &l), 0);
        ck_assert_ptr_null(l->vm_id);
        ck_assert_uint_eq(l->n_steps, 1);
        ck_assert_int_eq(state_get(l, "install"), STEP_SKIPPED);
        ck_assert_ptr_null(l->steps[0].updated);
}
END_TEST

START_TEST(test_size_cap) {
        _cleanup_free_ char *path = tu_tmp_path("state.json");
        size_t n = 1024 * 1024 + 1;
        _cleanup_free_ char *big = malloc(n + 1);
        memset(big, ' ', n);
        big[0] = '{';
        big[n - 1] = '}';
        big[n] = 0;
        put_file(path, big);
        _cleanup_(state_freep) State *l = NULL;
        ck_assert_int_eq(state_load(path, &l), -EFBIG);
        /* Exactly 1 MiB is accepted. */
        big[n - 2] = '}';
        big[n - 1] = 0;
        put_file(path, big);
        ck_assert_int_eq(state_load(path, &l), 0);
}
END_TEST

static void check_mode_under_umask(mode_t mask) {
        _cleanup_free_ char *dir = tu_tmp_path("d");
        _cleanup_free_ char *path = tu_tmp_path("d/state.json");
        mode_t old = umask(mask);
        _cleanup_(state_freep) State *s = state_new();
        ck_assert_int_eq(state_set(s, "install", STEP_DONE, NULL), 0);
        ck_assert_int_eq(state_save(s, path), 0);
        /* Again, now replacing an existing file. */
        ck_assert_int_eq(state_save(s, path), 0);
        umask(old);
        struct stat st;
        ck_assert_int_eq(stat(path, &st), 0);
        ck_assert_int_eq(st.st_mode & 07777, 0600);
        ck_assert(S_ISREG(st.st_mode));
        ck_assert_int_eq(stat(dir, &st), 0);
        ck_assert_int_eq(st.st_mode & 07777, 0700);
        /* No temp file left behind. */
        ck_assert_int_eq(tu_count_entries(dir), 1);
}

START_TEST(test_mode_umask_022) { check_mode_under_umask(022); }
END_TEST

START_TEST(test_mode_umask_000) { check_mode_under_umask(0); }
END_TEST

START_TEST(test_save_fails_parent_is_file) {
        _cleanup_free_ char *file = tu_tmp_path("file");
        _cleanup_free_ char *path = tu_tmp_path("file/state.json");
        put_file(file, "x");
        _cleanup_(state_freep) State *s = state_new();
        ck_assert_int_eq(state_set(s, "install", STEP_DONE, NULL), 0);
        ck_assert_int_lt(state_save(s, path), 0);
        _cleanup_free_ char *after = tu_read_file(file, NULL);
        ck_assert_str_eq(after, "x");
        ck_assert_int_eq(tu_count_entries(tu_tmpdir), 1);
}
END_TEST

/* A save that cannot write the directory fails and leaves the old file as it was. Root
 * ignores permissions, so as root the save runs in a child that drops to nobody. */
START_TEST(test_save_fails_readonly_dir_keeps_old) {
        /* Stack buffers only: valgrind reports heap memory a forked child holds at
         * _exit() as lost. */
        char dir[256], path[256], before[4096];
        snprintf(dir, sizeof dir, "%s/ro", tu_tmpdir);
        snprintf(path, sizeof path, "%s/ro/state.json", tu_tmpdir);
        State *old = state_new();
        ck_assert_int_eq(state_set_vm_id(old, "vm-old"), 0);
        ck_assert_int_eq(state_set(old, "install", STEP_FAILED, "old"), 0);
        ck_assert_int_eq(state_save(old, path), 0);
        old = state_free(old);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        ck_assert_int_ge(fd, 0);
        ssize_t n = read(fd, before, sizeof before - 1);
        ck_assert_int_gt(n, 0);
        before[n] = 0;
        close(fd);

        bool root = geteuid() == 0;
        const uid_t nobody = 65534;
        if (root) {
                ck_assert_int_eq(chmod(tu_base, 0711), 0);
                ck_assert_int_eq(chmod(tu_tmpdir, 0711), 0);
                ck_assert_int_eq(chown(dir, nobody, nobody), 0);
                ck_assert_int_eq(chown(path, nobody, nobody), 0);
        }
        ck_assert_int_eq(chmod(dir, 0500), 0);
        pid_t pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                if (root && (setgroups(0, NULL) < 0 || setresgid(nobody, nobody, nobody) < 0 ||
                             setresuid(nobody, nobody, nobody) < 0))
                        _exit(10);
                State *s = state_new();
                if (!s || state_set_vm_id(s, "vm-new") < 0 || state_set(s, "install", STEP_DONE, NULL) < 0)
                        _exit(11);
                int r = state_save(s, path);
                state_free(s);
                _exit(r == -EACCES ? 0 : 12);
        }
        int status;
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert(WIFEXITED(status));
        ck_assert_int_eq(WEXITSTATUS(status), 0);

        ck_assert_int_eq(chmod(dir, 0700), 0);
        _cleanup_free_ char *after = tu_read_file(path, NULL);
        ck_assert_str_eq(after, before);
        ck_assert_int_eq(tu_count_entries(dir), 1);
        _cleanup_(state_freep) State *l = NULL;
        ck_assert_int_eq(state_load(path, &l), 0);
        ck_assert_str_eq(l->vm_id, "vm-old");
}
END_TEST

START_TEST(test_reset) {
        _cleanup_free_ char *path = tu_tmp_path("state.json");
        _cleanup_(state_freep) State *s = state_new();
        ck_assert_int_eq(state_set_vm_id(s, "vm-old"), 0);
        ck_assert_int_eq(state_set(s, "install", STEP_DONE, NULL), 0);
        ck_assert_int_eq(state_count_attempt(s, "register"), 0);
        ck_assert_int_eq(state_reset(s, "vm-new"), 0);
        ck_assert_str_eq(s->vm_id, "vm-new");
        ck_assert_uint_eq(s->n_steps, 0);
        ck_assert_ptr_null(state_find(s, "install"));
        ck_assert_int_eq(state_get(s, "install"), STEP_PENDING);
        /* Usable after a reset. */
        ck_assert_int_eq(state_count_attempt(s, "install"), 0);
        ck_assert_int_eq(state_find(s, "install")->attempts, 1);
        ck_assert_int_eq(state_save(s, path), 0);
        _cleanup_(state_freep) State *l = NULL;
        ck_assert_int_eq(state_load(path, &l), 0);
        ck_assert_str_eq(l->vm_id, "vm-new");
        ck_assert_uint_eq(l->n_steps, 1);
        ck_assert_int_eq(l->steps[0].attempts, 1);

        ck_assert_int_eq(state_reset(s, NULL), 0);
        ck_assert_ptr_null(s->vm_id);
}
END_TEST

/* Forks a child that takes the run lock, reports on a pipe and holds the lock until
 * ctl is closed. */
static pid_t spawn_lock_holder(const char *dir, int *ret_ctl) {
        int ready[2], ctl[2];
        ck_assert_int_eq(pipe2(ready, O_CLOEXEC), 0);
        ck_assert_int_eq(pipe2(ctl, O_CLOEXEC), 0);
        pid_t pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                prctl(PR_SET_PDEATHSIG, SIGKILL);
                close(ready[0]);
                close(ctl[1]);
                pid_t holder = 0;
                int fd = state_lock(dir, &holder);
                char c = fd >= 0 ? 'L' : 'E';
                if (write(ready[1], &c, 1) != 1) _exit(2);
                char buf;
                while (read(ctl[0], &buf, 1) > 0) {}
                _exit(0);
        }
        close(ready[1]);
        close(ctl[0]);
        char c = 0;
        ck_assert_int_eq(read(ready[0], &c, 1), 1);
        ck_assert_int_eq(c, 'L');
        close(ready[0]);
        *ret_ctl = ctl[1];
        return pid;
}

START_TEST(test_lock) {
        /* Stack buffers: no heap memory live across the fork. */
        char dir[256], lockfile[256];
        snprintf(dir, sizeof dir, "%s/var/lib/vsensor-init", tu_tmpdir);
        snprintf(lockfile, sizeof lockfile, "%s/var/lib/vsensor-init/lock", tu_tmpdir);
        mode_t old = umask(0);

        int ctl;
        pid_t child = spawn_lock_holder(dir, &ctl);

        struct stat st;
        ck_assert_int_eq(stat(dir, &st), 0);
        ck_assert_int_eq(st.st_mode & 07777, 0700);
        ck_assert_int_eq(stat(lockfile, &st), 0);
        ck_assert_int_eq(st.st_mode & 07777, 0600);

        pid_t holder = -1;
        ck_assert_int_eq(state_lock(dir, &holder), -EWOULDBLOCK);
        ck_assert_int_eq(holder, child);
        /* NULL holder pointer is fine. */
        ck_assert_int_eq(state_lock(dir, NULL), -EWOULDBLOCK);

        /* Released when the holder exits. */
        close(ctl);
        int status;
        ck_assert_int_eq(waitpid(child, &status, 0), child);
        ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);

        holder = -1;
        int fd = state_lock(dir, &holder);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(holder, -1); /* not written on success */
        ck_assert_int_eq(fcntl(fd, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
        /* The file now names us, for the next run's message. */
        _cleanup_free_ char *content = tu_read_file(lockfile, NULL);
        char expect[32];
        snprintf(expect, sizeof expect, "%ld\n", (long)getpid());
        ck_assert_str_eq(content, expect);

        /* A second open file description in the same process is refused too. */
        ck_assert_int_eq(state_lock(dir, &holder), -EWOULDBLOCK);
        ck_assert_int_eq(holder, getpid());
        close(fd);
        fd = state_lock(dir, NULL);
        ck_assert_int_ge(fd, 0);
        close(fd);
        umask(old);
}
END_TEST

START_TEST(test_lock_dir_is_file) {
        _cleanup_free_ char *file = tu_tmp_path("f");
        put_file(file, "");
        ck_assert_int_lt(state_lock(file, NULL), 0);
}
END_TEST

/* An error cut inside a UTF-8 character ("%.64s" of a host name) or holding bytes
 * that are not UTF-8 still saves: the bad bytes are kept as \xNN text, and the real
 * error is not lost to "cannot write state.json". */
START_TEST(test_error_not_utf8_still_saves) {
        _cleanup_free_ char *path = tu_tmp_path("state.json");
        _cleanup_(state_freep) State *s = state_new();
        ck_assert_int_eq(state_set(s, "provision", STEP_FAILED, "hostname \"a\xc3\xa9\xc3\" from IMDS \xff"), 0);
        ck_assert_int_eq(state_save(s, path), 0);
        _cleanup_(state_freep) State *l = NULL;
        ck_assert_int_eq(state_load(path, &l), 0);
        ck_assert_str_eq(l->steps[0].error, "hostname \"a\xc3\xa9\\xC3\" from IMDS \\xFF");
}
END_TEST

/* A pre-existing state directory: one with read bits for others is tightened to 0700;
 * one writable by others or owned by another user is refused (the kept custom data
 * in it may have been swapped, and `repair` would run it as root); a symlink on the
 * way under the root is not followed. */
START_TEST(test_lock_dir_checked) {
        char root[200], dir[256], outside[200], lnk[256];
        snprintf(root, sizeof root, "%s/root", tu_tmpdir);
        snprintf(dir, sizeof dir, "%s/var/lib/vsensor-init", root);
        ck_assert_int_eq(mkdir_p(dir, 0755), 0);
        ck_assert_int_eq(chmod(dir, 0755), 0);
        int fd = state_lock_at(root, "/var/lib/vsensor-init", NULL);
        ck_assert_int_ge(fd, 0);
        close(fd);
        struct stat st;
        ck_assert_int_eq(stat(dir, &st), 0);
        ck_assert_uint_eq(st.st_mode & 07777, 0700);

        ck_assert_int_eq(chmod(dir, 0777), 0);
        ck_assert_int_eq(state_lock_at(root, "/var/lib/vsensor-init", NULL), -EACCES);
        ck_assert_int_eq(state_lock(dir, NULL), -EACCES);
        ck_assert_int_eq(stat(dir, &st), 0);
        ck_assert_uint_eq(st.st_mode & 07777, 0777);
        ck_assert_int_eq(chmod(dir, 0730), 0);
        ck_assert_int_eq(state_lock_at(root, "/var/lib/vsensor-init", NULL), -EACCES);
        ck_assert_int_eq(chmod(dir, 0700), 0);

        if (geteuid() == 0) {
                ck_assert_int_eq(chown(dir, 65534, 65534), 0);
                ck_assert_int_eq(state_lock_at(root, "/var/lib/vsensor-init", NULL), -EPERM);
                ck_assert_int_eq(chown(dir, 0, 0), 0);
        } else
                printf("test_lock_dir_checked: owner case skipped: needs root (chown)\n");

        /* ROOT/var/lib -> OUTSIDE: nothing is made outside the root. */
        snprintf(outside, sizeof outside, "%s/outside", tu_tmpdir);
        snprintf(lnk, sizeof lnk, "%s/var/lib", root);
        ck_assert_int_eq(mkdir(outside, 0755), 0);
        tu_rm_rf(lnk);
        ck_assert_int_eq(symlink(outside, lnk), 0);
        ck_assert_int_eq(state_lock_at(root, "/var/lib/vsensor-init", NULL), -ELOOP);
        ck_assert_int_eq(tu_count_entries(outside), 0);
}
END_TEST

/* ---- Key Vault secret versions (issue 12) ---- */

START_TEST(test_secret_versions_round_trip) {
        _cleanup_free_ char *path = tu_tmp_path("state/state.json");
        _cleanup_(state_freep) State *s = state_new();
        ck_assert_ptr_null(state_get_secret_version(s, "vsensor.master.push_token"));
        ck_assert_int_eq(state_set_secret_version(s, "vsensor.master.push_token", "aaaa"), 0);
        ck_assert_int_eq(state_set_secret_version(s, "vsensor.ossensor.hmac_token", "bbbb"), 0);
        ck_assert_int_eq(state_set_secret_version(s, "vsensor.master.push_token", "cccc"), 0);
        ck_assert_uint_eq(s->n_secrets, 2);
        ck_assert_int_eq(state_set_secret_version(s, "x", ""), -EINVAL);
        ck_assert_int_eq(state_save(s, path), 0);

        _cleanup_free_ char *text = tu_read_file(path, NULL);
        ck_assert_ptr_nonnull(strstr(text, "\"secrets\": [\n    {\n      \"key\": \"vsensor.master.push_token\",\n"
                                           "      \"version\": \"cccc\",\n"));
        _cleanup_(state_freep) State *l = NULL;
        ck_assert_int_eq(state_load(path, &l), 0);
        ck_assert_str_eq(state_get_secret_version(l, "vsensor.master.push_token"), "cccc");
        ck_assert_str_eq(state_get_secret_version(l, "vsensor.ossensor.hmac_token"), "bbbb");
        ck_assert_str_eq(l->secrets[0].updated, s->secrets[0].updated);

        /* A new VM starts without them. */
        ck_assert_int_eq(state_reset(l, "vm-2"), 0);
        ck_assert_uint_eq(l->n_secrets, 0);
        ck_assert_ptr_null(state_get_secret_version(l, "vsensor.master.push_token"));
}
END_TEST

START_TEST(test_secret_versions_absent_and_bad) {
        _cleanup_free_ char *path = tu_tmp_path("state.json");
        _cleanup_(state_freep) State *s = state_new();
        ck_assert_int_eq(state_set(s, "load", STEP_DONE, NULL), 0);
        ck_assert_int_eq(state_save(s, path), 0);
        _cleanup_free_ char *text = tu_read_file(path, NULL);
        /* Without Key Vault secrets the file is what it always was. */
        ck_assert_ptr_null(strstr(text, "secrets"));

        static const char dup[] = "{\"version\":1,\"steps\":[],\"secrets\":[{\"key\":\"a\",\"version\":\"1\"},"
                                  "{\"key\":\"a\",\"version\":\"2\"}]}";
        ck_assert_int_eq(write_file_atomic(path, dup, strlen(dup), 0600), 0);
        State *l = NULL;
        ck_assert_int_eq(state_load(path, &l), -EBADMSG);
        static const char notarray[] = "{\"version\":1,\"secrets\":{}}";
        ck_assert_int_eq(write_file_atomic(path, notarray, strlen(notarray), 0600), 0);
        ck_assert_int_eq(state_load(path, &l), -EBADMSG);
}
END_TEST

static Suite *state_suite(void) {
        Suite *s = suite_create("state");
        TCase *tc = tcase_create("core");
        tu_add_tmpdir_fixtures(tc);
        tcase_add_test(tc, test_step_state_strings);
        tcase_add_test(tc, test_set_get_attempts);
        tcase_add_test(tc, test_round_trip);
        tcase_add_test(tc, test_exact_format);
        tcase_add_test(tc, test_order_kept);
        tcase_add_test(tc, test_missing_file);
        tcase_add_loop_test(tc, test_corrupt_file, 0, (int)ELEMENTSOF(bad_docs));
        tcase_add_test(tc, test_unknown_fields_ignored);
        tcase_add_test(tc, test_size_cap);
        tcase_add_test(tc, test_mode_umask_022);
        tcase_add_test(tc, test_mode_umask_000);
        tcase_add_test(tc, test_save_fails_parent_is_file);
        tcase_add_test(tc, test_save_fails_readonly_dir_keeps_old);
        tcase_add_test(tc, test_reset);
        tcase_add_test(tc, test_lock);
        tcase_add_test(tc, test_lock_dir_is_file);
        tcase_add_test(tc, test_error_not_utf8_still_saves);
        tcase_add_test(tc, test_lock_dir_checked);
        tcase_add_test(tc, test_secret_versions_round_trip);
        tcase_add_test(tc, test_secret_versions_absent_and_bad);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return tu_run_suite(state_suite());
}
