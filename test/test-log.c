#include <check.h>
#include <fcntl.h>
#include <regex.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <systemd/sd-journal.h>

#include "canary.h"
#include "log.h"
#include "secret.h"
#include "testutil.h"
#include "util.h"

/* Each test has its own tu_tmpdir (testutil's fixtures). */
static char *logfile;     /* tu_tmpdir/sub/dir/user-data.log */
static char *errfile;     /* where fd 2 goes during a test */
static int saved_stderr = -1;

/* The journal entries log.c sends, captured: sd-journal.h turns sd_journal_sendv()
 * into sd_journal_sendv_with_location(), and this definition of it comes before
 * libsystemd's at link time, so nothing reaches the host's journal and the test sees
 * every field log.c chose (not the CODE_* ones). Each entry is its fields joined by
 * "\n". */
#define JOURNAL_MAX 64
static char *journal_entries[JOURNAL_MAX];
static size_t journal_count;

int sd_journal_sendv_with_location(const char *file, const char *line, const char *func,
                                   const struct iovec *iov, int n) {
        (void)file, (void)line, (void)func;
        if (journal_count >= JOURNAL_MAX) return -ENOBUFS;
        size_t size = 1;
        for (int i = 0; i < n; i++) size += iov[i].iov_len + 1;
        char *e = calloc(1, size);
        if (!e) return -ENOMEM;
        for (int i = 0; i < n; i++) {
                strncat(e, iov[i].iov_base, iov[i].iov_len);
                if (i + 1 < n) strncat(e, "\n", 2);
        }
        journal_entries[journal_count++] = e;
        return 0;
}

static void journal_clear(void) {
        for (size_t i = 0; i < journal_count; i++) free(journal_entries[i]);
        journal_count = 0;
}

/* Whether entry i has the field line exactly ("NAME=VALUE"). */
static bool journal_has(size_t i, const char *field) {
        ck_assert_uint_lt(i, journal_count);
        size_t l = strlen(field);
        for (const char *p = journal_entries[i]; p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
                if (strncmp(p, field, l) == 0 && (p[l] == '\n' || p[l] == 0)) return true;
        return false;
}

static void setup(void) {
        tu_tmpdir_setup();
        ck_assert_int_ge(asprintf_safe(&logfile, "%s/sub/dir/user-data.log", tu_tmpdir), 0);
        ck_assert_int_ge(asprintf_safe(&errfile, "%s/stderr", tu_tmpdir), 0);
        /* Capture stderr in a file so the tests can read what the console got. */
        fflush(stderr);
        saved_stderr = dup(STDERR_FILENO);
        int fd = open(errfile, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_ge(dup2(fd, STDERR_FILENO), 0);
        close(fd);
        unsetenv("JOURNAL_STREAM");
        secret_registry_clear();
        log_set_step(NULL);
}

static void teardown(void) {
        log_close();
        journal_clear();
        secret_registry_clear();
        if (saved_stderr >= 0) {
                dup2(saved_stderr, STDERR_FILENO);
                close(saved_stderr);
                saved_stderr = -1;
        }
        tu_tmpdir_teardown();
        free(logfile);
        free(errfile);
        logfile = errfile = NULL;
}

static char *slurp(const char *path) {
        char *s = NULL;
        int r = read_file_capped(path, 1 << 20, &s, NULL);
        if (r == -ENOENT) return strdup("");
        ck_assert_int_eq(r, 0);
        return s;
}

static void open_log(LogLevel console) {
        LogOptions o = {.file = logfile, .console_level = console, .journal = false};
        ck_assert_int_eq(log_open(&o), 0);
}

static size_t count_lines(const char *s) {
        size_t n = 0;
        for (; *s; s++)
                if (*s == '\n') n++;
        return n;
}

START_TEST(test_modes) {
        mode_t old = umask(0);
        open_log(LOG_LEVEL_INFO);
        log_info("hello");
        log_close();

        struct stat st;
        _cleanup_free_ char *dir = path_dirname(logfile);
        ck_assert_int_eq(stat(dir, &st), 0);
        ck_assert_uint_eq(st.st_mode & 07777, 0700);
        ck_assert_int_eq(stat(logfile, &st), 0);
        ck_assert_uint_eq(st.st_mode & 07777, 0600);

        /* A pre-existing 0644 file is re-moded and appended to, not truncated. */
        ck_assert_int_eq(chmod(logfile, 0644), 0);
        open_log(LOG_LEVEL_INFO);
        ck_assert_int_eq(stat(logfile, &st), 0);
        ck_assert_uint_eq(st.st_mode & 07777, 0600);
        log_info("again");
        log_close();
        umask(old);

        _cleanup_free_ char *text = slurp(logfile);
        ck_assert_uint_eq(count_lines(text), 2);
        ck_assert_ptr_nonnull(strstr(text, "-: hello\n"));
        ck_assert_ptr_nonnull(strstr(text, "-: again\n"));
}
END_TEST

START_TEST(test_symlink_refused) {
        _cleanup_free_ char *dir = path_dirname(logfile);
        ck_assert_int_eq(mkdir_p(dir, 0700), 0);
        _cleanup_free_ char *target = strjoin(tu_tmpdir, "/target", NULL);
        ck_assert_int_eq(symlink(target, logfile), 0);
        LogOptions o = {.file = logfile, .console_level = LOG_LEVEL_INFO};
        ck_assert_int_eq(log_open(&o), -ELOOP);
        /* Console logging still works. */
        log_info("still here");
        _cleanup_free_ char *err = slurp(errfile);
        ck_assert_str_eq(err, "-: still here\n");
        ck_assert_int_eq(access(target, F_OK), -1);
}
END_TEST

/* A FIFO at the log path: log_open neither blocks (no reader) nor writes to it. */
START_TEST(test_fifo_refused) {
        _cleanup_free_ char *dir = path_dirname(logfile);
        ck_assert_int_eq(mkdir_p(dir, 0700), 0);
        ck_assert_int_eq(mkfifo(logfile, 0600), 0);
        LogOptions o = {.file = logfile, .console_level = LOG_LEVEL_INFO};
        int64_t t0 = now_monotonic_ms();
        ck_assert_int_eq(log_open(&o), -ENXIO);
        ck_assert_int_lt(now_monotonic_ms() - t0, 1000);
        /* With a reader there, the open succeeds but the FIFO is still refused. */
        int rd = open(logfile, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
        ck_assert_int_ge(rd, 0);
        ck_assert_int_eq(log_open(&o), -ENXIO);
        char buf[16];
        ck_assert_int_le(read(rd, buf, sizeof buf), 0);
        close(rd);
}
END_TEST

/* A hard link at the log path (to a file the agent does not own, e.g. /etc/shadow):
 * refused, the other name untouched. */
START_TEST(test_hardlink_refused) {
        _cleanup_free_ char *dir = path_dirname(logfile);
        ck_assert_int_eq(mkdir_p(dir, 0700), 0);
        _cleanup_free_ char *other = strjoin(tu_tmpdir, "/shadow", NULL);
        int fd = open(other, O_WRONLY | O_CREAT | O_CLOEXEC, 0640);
        ck_assert_int_ge(fd, 0);
        close(fd);
        ck_assert_int_eq(link(other, logfile), 0);
        LogOptions o = {.file = logfile, .console_level = LOG_LEVEL_INFO};
        ck_assert_int_eq(log_open(&o), -EMLINK);
        log_info("not in the file");
        struct stat st;
        ck_assert_int_eq(stat(other, &st), 0);
        ck_assert_int_eq(st.st_size, 0);
        ck_assert_uint_eq(st.st_mode & 07777, 0640);
}
END_TEST

/* A log file owned by another user: not appended to, not re-moded. */
START_TEST(test_other_owner_refused) {
        if (geteuid() != 0) {
                printf("test_other_owner_refused: skipped: needs root (chown)\n");
                return;
        }
        _cleanup_free_ char *dir = path_dirname(logfile);
        ck_assert_int_eq(mkdir_p(dir, 0700), 0);
        int fd = open(logfile, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        ck_assert_int_ge(fd, 0);
        close(fd);
        ck_assert_int_eq(chown(logfile, 65534, 65534), 0);
        LogOptions o = {.file = logfile, .console_level = LOG_LEVEL_INFO};
        ck_assert_int_eq(log_open(&o), -EPERM);
        log_info("not in the file");
        struct stat st;
        ck_assert_int_eq(stat(logfile, &st), 0);
        ck_assert_int_eq(st.st_size, 0);
        ck_assert_uint_eq(st.st_mode & 07777, 0644);
}
END_TEST

/* Under a root, a symlinked directory on the way is not followed out of it. */
START_TEST(test_root_dir_symlink_refused) {
        _cleanup_free_ char *root = strjoin(tu_tmpdir, "/root", NULL);
        _cleanup_free_ char *outside = strjoin(tu_tmpdir, "/outside", NULL);
        _cleanup_free_ char *var = strjoin(root, "/var", NULL);
        _cleanup_free_ char *link = strjoin(root, "/var/log", NULL);
        ck_assert_int_eq(mkdir_p(var, 0755), 0);
        ck_assert_int_eq(mkdir(outside, 0755), 0);
        ck_assert_int_eq(symlink(outside, link), 0);
        LogOptions o = {.root = root, .file = "/var/log/user-data.log", .console_level = LOG_LEVEL_INFO};
        ck_assert_int_eq(log_open(&o), -ELOOP);
        ck_assert_int_eq(tu_count_entries(outside), 0);
        /* The same path without the link works, the directory made 0700. */
        ck_assert_int_eq(unlink(link), 0);
        ck_assert_int_eq(log_open(&o), 0);
        log_info("inside");
        log_close();
        _cleanup_free_ char *file = strjoin(root, "/var/log/user-data.log", NULL);
        _cleanup_free_ char *text = slurp(file);
        ck_assert_ptr_nonnull(strstr(text, "-: inside\n"));
        struct stat st;
        ck_assert_int_eq(stat(link, &st), 0);
        ck_assert_uint_eq(st.st_mode & 07777, 0700);
}
END_TEST

START_TEST(test_line_format) {
        open_log(LOG_LEVEL_DEBUG);
        log_set_step("metadata");
        ck_assert_str_eq(log_get_step(), "metadata");
        log_error("boom %d", 42);
        log_warning("careful");
        log_notice("noted");
        log_info("plain");
        log_debug("details");
        log_result("done", "took %d ms", 12);
        log_set_step(NULL);
        ck_assert_str_eq(log_get_step(), "-");
        log_info("no step");

        _cleanup_free_ char *text = slurp(logfile);
        char pat[512];
        snprintf(pat, sizeof pat,
                 "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z vsensor-init\\[%ld\\] "
                 "metadata: error: boom 42\n"
                 "[0-9TZ:.-]{24} vsensor-init\\[%ld\\] metadata: warning: careful\n"
                 "[0-9TZ:.-]{24} vsensor-init\\[%ld\\] metadata: noted\n"
                 "[0-9TZ:.-]{24} vsensor-init\\[%ld\\] metadata: plain\n"
                 "[0-9TZ:.-]{24} vsensor-init\\[%ld\\] metadata: debug: details\n"
                 "[0-9TZ:.-]{24} vsensor-init\\[%ld\\] metadata: done: took 12 ms\n"
                 "[0-9TZ:.-]{24} vsensor-init\\[%ld\\] -: no step\n$",
                 (long)getpid(), (long)getpid(), (long)getpid(), (long)getpid(), (long)getpid(),
                 (long)getpid(), (long)getpid());
        regex_t re;
        ck_assert_int_eq(regcomp(&re, pat, REG_EXTENDED | REG_NOSUB), 0);
        int m = regexec(&re, text, 0, NULL, 0);
        regfree(&re);
        ck_assert_msg(m == 0, "log text does not match:\n%s", text);

        /* The console has the same lines without timestamp and pid. */
        _cleanup_free_ char *err = slurp(errfile);
        ck_assert_str_eq(err,
                         "metadata: error: boom 42\n"
                         "metadata: warning: careful\n"
                         "metadata: noted\n"
                         "metadata: plain\n"
                         "metadata: debug: details\n"
                         "metadata: done: took 12 ms\n"
                         "-: no step\n");
}
END_TEST

START_TEST(test_timestamp_is_now_utc) {
        open_log(LOG_LEVEL_INFO);
        char before[32];
        format_rfc3339(now_realtime_ms(), before, sizeof before);
        log_info("x");
        _cleanup_free_ char *text = slurp(logfile);
        /* Same date and hour/minute as just before (unless the minute rolled over). */
        ck_assert_msg(strncmp(text, before, 16) == 0 || strncmp(text, before, 13) == 0,
                      "%s vs %s", text, before);
        ck_assert_int_eq(text[23], 'Z');
}
END_TEST

START_TEST(test_secrets_never_written) {
        _cleanup_secret_ Secret *key = secret_new_str(CANARY_UPDATE_KEY);
        _cleanup_secret_ Secret *tok = secret_new_str(CANARY_PUSH_TOKEN);
        /* As the config loader does: the secret half of the push token on its own. */
        _cleanup_secret_ Secret *tok_secret = secret_new_str(CANARY_PUSH_SECRET);
        _cleanup_secret_ Secret *hmac = secret_new_str(CANARY_HMAC_TOKEN);
        ck_assert_int_eq(secret_register_value(CANARY_PROXY_PW, strlen(CANARY_PROXY_PW)), 0);
        LogOptions o = {.file = logfile, .console_level = LOG_LEVEL_DEBUG, .journal = true};
        ck_assert_int_eq(log_open(&o), 0);
        log_set_step("install");

        log_info("running installer --updateKey %s", secret_reveal(key));
        log_error("token %s and proxy %s", secret_reveal(tok), CANARY_PROXY_URL);
        log_debug("hmac=%s", secret_reveal(hmac));
        log_result("failed", "helper said %s", CANARY_PUSH_SECRET "x" CANARY_HMAC_TOKEN);
        log_child_line("installer", "stdout", "using key " CANARY_UPDATE_KEY);
        log_child_line("set_pushtoken.sh", "stderr", CANARY_PUSH_TOKEN);
        /* A secret cut by the size cap must not leak its start either. */
        _cleanup_free_ char *big = malloc(9000);
        memset(big, 'a', 9000 - 1);
        big[8999] = 0;
        memcpy(big + 8180, CANARY_HMAC_TOKEN, strlen(CANARY_HMAC_TOKEN));
        log_info("%s", big);
        log_error_errno(-ENOENT, "key %s: %m", secret_reveal(key));

        _cleanup_free_ char *text = slurp(logfile);
        _cleanup_free_ char *err = slurp(errfile);
        for (const char *const *c = canary_values; *c; c++) {
                ck_assert_msg(!strstr(text, *c), "log file holds %s", *c);
                ck_assert_msg(!strstr(err, *c), "stderr holds %s", *c);
        }
        ck_assert_msg(!strstr(text, "CanaryH") && !strstr(err, "CanaryH"), "part of a secret leaked");
        ck_assert_uint_gt(journal_count, 0);
        for (size_t i = 0; i < journal_count; i++) {
                for (const char *const *c = canary_values; *c; c++)
                        ck_assert_msg(!strstr(journal_entries[i], *c), "journal holds %s", *c);
                ck_assert_msg(!strstr(journal_entries[i], "CanaryH"), "part of a secret in the journal");
        }
        ck_assert_ptr_nonnull(strstr(text, "install: running installer --updateKey (hidden)\n"));
        ck_assert_ptr_nonnull(strstr(text, "install: error: token (hidden) and proxy http://proxyuser:(hidden)@127.0.0.1:3128\n"));
        ck_assert_ptr_nonnull(strstr(text, "install: failed: helper said (hidden)x(hidden)\n"));
        ck_assert_ptr_nonnull(strstr(text, "install: installer[stdout]: using key (hidden)\n"));
        ck_assert_ptr_nonnull(strstr(text, "install: set_pushtoken.sh[stderr]: (hidden)\n"));
        ck_assert_ptr_nonnull(strstr(text, "install: error: key (hidden): No such file or directory\n"));
        ck_assert_ptr_nonnull(strstr(err, "install: set_pushtoken.sh[stderr]: (hidden)\n"));
}
END_TEST

START_TEST(test_child_line_is_not_a_format) {
        open_log(LOG_LEVEL_INFO);
        log_set_step("register");
        log_child_line("helper", "stdout", "100%s done %n %d");
        log_child_line(NULL, "stderr", NULL);
        _cleanup_free_ char *err = slurp(errfile);
        ck_assert_str_eq(err, "register: helper[stdout]: 100%s done %n %d\nregister: child[stderr]: \n");
}
END_TEST

START_TEST(test_newlines_flattened) {
        open_log(LOG_LEVEL_INFO);
        log_set_step("load");
        log_info("first\nsecond\r\nthird\x1b[31mred\n\n");
        log_child_line("c", "stdout", "a\nb");
        _cleanup_free_ char *text = slurp(logfile);
        ck_assert_uint_eq(count_lines(text), 2);
        ck_assert_ptr_nonnull(strstr(text, " load: first / second / third [31mred\n"));
        ck_assert_ptr_nonnull(strstr(text, " load: c[stdout]: a / b\n"));
        _cleanup_free_ char *err = slurp(errfile);
        ck_assert_str_eq(err, "load: first / second / third [31mred\nload: c[stdout]: a / b\n");
}
END_TEST

START_TEST(test_truncation) {
        open_log(LOG_LEVEL_INFO);
        size_t n = 100000;
        _cleanup_free_ char *big = malloc(n + 1);
        memset(big, 'x', n);
        big[n] = 0;
        /* A 3-byte UTF-8 character straddling the cut must not be split. */
        memcpy(big + 8190, "\xe2\x82\xac", 3);
        log_info("%s", big);
        log_info("after");
        _cleanup_free_ char *err = slurp(errfile);
        ck_assert_uint_eq(count_lines(err), 2);
        const char *nl = strchr(err, '\n');
        size_t len = (size_t)(nl - err);
        /* "-: " + 8190 x + "…" */
        ck_assert_uint_eq(len, 3 + 8190 + 3);
        ck_assert_int_eq(memcmp(nl - 3, "\xe2\x80\xa6", 3), 0);
        ck_assert_str_eq(nl + 1, "-: after\n");

        _cleanup_free_ char *text = slurp(logfile);
        ck_assert_uint_eq(count_lines(text), 2);
        ck_assert_ptr_nonnull(strstr(text, "xxx\xe2\x80\xa6\n"));
}
END_TEST

START_TEST(test_console_level) {
        open_log(LOG_LEVEL_WARNING);
        log_set_step("s");
        log_error("e");
        log_warning("w");
        log_notice("n");
        log_info("i");
        log_debug("d");
        log_result("done", "ok");
        log_result("failed", "bad");
        _cleanup_free_ char *err = slurp(errfile);
        ck_assert_str_eq(err, "s: error: e\ns: warning: w\ns: failed: bad\n");
        /* The file has everything but debug (debug only with -v). */
        _cleanup_free_ char *text = slurp(logfile);
        ck_assert_uint_eq(count_lines(text), 6);
        ck_assert_ptr_null(strstr(text, "debug"));
        ck_assert_ptr_nonnull(strstr(text, " s: n\n"));
        ck_assert_ptr_nonnull(strstr(text, " s: done: ok\n"));
}
END_TEST

START_TEST(test_no_file) {
        LogOptions o = {.file = NULL, .console_level = LOG_LEVEL_INFO};
        ck_assert_int_eq(log_open(&o), 0);
        log_info("console only");
        _cleanup_free_ char *err = slurp(errfile);
        ck_assert_str_eq(err, "-: console only\n");
}
END_TEST

START_TEST(test_error_errno) {
        open_log(LOG_LEVEL_INFO);
        errno = EBUSY;
        ck_assert_int_eq(log_error_errno(-EACCES, "open %s: %m", "/x"), -EACCES);
        ck_assert_int_eq(errno, EBUSY);  /* logging leaves errno alone */
        ck_assert_int_eq(log_error_errno(ENOENT, "stat: %m"), -ENOENT);
        _cleanup_free_ char *err = slurp(errfile);
        ck_assert_str_eq(err, "-: error: open /x: Permission denied\n-: error: stat: No such file or directory\n");
}
END_TEST

START_TEST(test_journal_stream_suppresses_console) {
        struct stat st;
        ck_assert_int_eq(fstat(STDERR_FILENO, &st), 0);
        char v[64];
        snprintf(v, sizeof v, "%llu:%llu", (unsigned long long)st.st_dev, (unsigned long long)st.st_ino);
        setenv("JOURNAL_STREAM", v, 1);

        /* Journal on and stderr is the journal: the journal entry replaces the line. */
        LogOptions o = {.file = logfile, .console_level = LOG_LEVEL_INFO, .journal = true};
        ck_assert_int_eq(log_open(&o), 0);
        log_info("via journal");
        /* Journal off: stderr is the only way to the journal, so keep it. */
        o.journal = false;
        ck_assert_int_eq(log_open(&o), 0);
        log_info("via stderr");
        /* JOURNAL_STREAM for some other file: console as usual. */
        setenv("JOURNAL_STREAM", "1:2", 1);
        o.journal = true;
        ck_assert_int_eq(log_open(&o), 0);
        log_info("other stream");
        unsetenv("JOURNAL_STREAM");

        _cleanup_free_ char *err = slurp(errfile);
        ck_assert_str_eq(err, "-: via stderr\n-: other stream\n");
        _cleanup_free_ char *text = slurp(logfile);
        ck_assert_uint_eq(count_lines(text), 3);
}
END_TEST

/* The journal entry names the agent and a syslog facility, so rsyslog and the Azure
 * Monitor agent's syslog collection (packaging/azure's data collection rule) file it
 * as daemon.<level> from vsensor-init, not under the default user facility. */
START_TEST(test_journal_fields) {
        LogOptions o = {.file = NULL, .console_level = LOG_LEVEL_INFO, .journal = true};
        ck_assert_int_eq(log_open(&o), 0);
        log_set_step("register");
        log_warning("master slow");
        log_result("done", "registered");
        ck_assert_uint_eq(journal_count, 2);
        for (size_t i = 0; i < 2; i++) {
                ck_assert(journal_has(i, "SYSLOG_IDENTIFIER=vsensor-init"));
                ck_assert(journal_has(i, "SYSLOG_FACILITY=3"));  /* LOG_DAEMON >> 3 */
                ck_assert(journal_has(i, "VSENSOR_INIT_STEP=register"));
        }
        ck_assert(journal_has(0, "MESSAGE=register: warning: master slow"));
        ck_assert(journal_has(0, "PRIORITY=4"));
        ck_assert(journal_has(1, "MESSAGE=register: done: registered"));
        ck_assert(journal_has(1, "VSENSOR_INIT_RESULT=done"));
        ck_assert(journal_has(1, "PRIORITY=5"));
}
END_TEST

START_TEST(test_reopen) {
        open_log(LOG_LEVEL_INFO);
        log_info("one");
        _cleanup_free_ char *other = strjoin(tu_tmpdir, "/other.log", NULL);
        LogOptions o = {.file = other, .console_level = LOG_LEVEL_INFO};
        ck_assert_int_eq(log_open(&o), 0);
        log_info("two");
        _cleanup_free_ char *a = slurp(logfile), *b = slurp(other);
        ck_assert_uint_eq(count_lines(a), 1);
        ck_assert_uint_eq(count_lines(b), 1);
        ck_assert_ptr_nonnull(strstr(b, "-: two\n"));
}
END_TEST

/* --- structured journal fields (log_msg_fields), through the capture above --- */

START_TEST(test_journal_event_fields) {
        _cleanup_secret_ Secret *tok = secret_new_str(CANARY_PUSH_TOKEN);
        LogOptions o = {.file = logfile, .console_level = LOG_LEVEL_WARNING, .journal = true};
        ck_assert_int_eq(log_open(&o), 0);
        log_set_step("watch");
        const char *const fields[] = {"EVENT_ID=f020ba2e", "EVENT_TYPE=Terminate",
                                      "NOT_BEFORE=Mon, 19 Sep 2016 18:29:47 GMT", "LEAK=" CANARY_PUSH_TOKEN, NULL};
        journal_clear();
        log_msg_fields(LOG_LEVEL_NOTICE, fields, "scheduled event %s", "f020ba2e");
        ck_assert_uint_eq(journal_count, 1);
        ck_assert(journal_has(0, "EVENT_ID=f020ba2e"));
        ck_assert(journal_has(0, "EVENT_TYPE=Terminate"));
        ck_assert(journal_has(0, "NOT_BEFORE=Mon, 19 Sep 2016 18:29:47 GMT"));
        ck_assert(journal_has(0, "MESSAGE=watch: scheduled event f020ba2e"));
        ck_assert(journal_has(0, "VSENSOR_INIT_STEP=watch"));
        ck_assert(journal_has(0, "LEAK=(hidden)"));
        ck_assert_ptr_null(strstr(journal_entries[0], CANARY_PUSH_SECRET));
        /* The next line carries no event fields; the file has the message only. */
        log_notice("plain");
        ck_assert_uint_eq(journal_count, 2);
        ck_assert_ptr_null(strstr(journal_entries[1], "EVENT_ID="));
        _cleanup_free_ char *text = slurp(logfile);
        ck_assert_ptr_nonnull(strstr(text, "watch: scheduled event f020ba2e\n"));
        ck_assert_ptr_null(strstr(text, "EVENT_ID"));
}
END_TEST

static Suite *log_suite(void) {
        Suite *s = suite_create("log");
        TCase *tc = tcase_create("core");
        tcase_add_unchecked_fixture(tc, tu_base_setup, tu_base_teardown);
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, test_modes);
        tcase_add_test(tc, test_symlink_refused);
        tcase_add_test(tc, test_fifo_refused);
        tcase_add_test(tc, test_hardlink_refused);
        tcase_add_test(tc, test_other_owner_refused);
        tcase_add_test(tc, test_root_dir_symlink_refused);
        tcase_add_test(tc, test_line_format);
        tcase_add_test(tc, test_timestamp_is_now_utc);
        tcase_add_test(tc, test_secrets_never_written);
        tcase_add_test(tc, test_child_line_is_not_a_format);
        tcase_add_test(tc, test_newlines_flattened);
        tcase_add_test(tc, test_truncation);
        tcase_add_test(tc, test_console_level);
        tcase_add_test(tc, test_no_file);
        tcase_add_test(tc, test_error_errno);
        tcase_add_test(tc, test_journal_stream_suppresses_console);
        tcase_add_test(tc, test_journal_fields);
        tcase_add_test(tc, test_reopen);
        tcase_add_test(tc, test_journal_event_fields);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return tu_run_suite(log_suite());
}
