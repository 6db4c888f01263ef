#include "log.h"

#include <fcntl.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <syslog.h>
#include <systemd/sd-journal.h>

#include "safefile.h"
#include "secret.h"

/* A message is cut to this many bytes (after redaction, so a secret can never be
 * cut in half and escape it) and ends with "…" when it was longer. */
#define LOG_MESSAGE_MAX 8192
/* Formatting itself is capped too: nobody logs a megabyte on purpose. */
#define LOG_FORMAT_MAX (1024 * 1024)
#define ELLIPSIS "\xe2\x80\xa6"

/* The journal entry's syslog facility, beside SYSLOG_IDENTIFIER=vsensor-init: rsyslog
 * and the Azure Monitor agent's syslog collection (packaging/azure's data collection
 * rule) file the agent's lines as daemon.<priority>; without it they would fall under
 * the default user facility. The journal wants the facility number, LOG_DAEMON >> 3. */
#define JOURNAL_FACILITY "SYSLOG_FACILITY=3"
_Static_assert(LOG_DAEMON >> 3 == 3, "JOURNAL_FACILITY is LOG_DAEMON");

static int log_fd = -EBADF;
static LogLevel console_level = LOG_LEVEL_INFO;
static bool journal_enabled;
static const char *current_step;

static int console_fd = -EBADF;
/* Extra journal fields of the line being emitted (log_msg_fields), NULL otherwise. */
static const char *const *extra_fields;
#define EXTRA_FIELDS_MAX 8
/* The first failure to write the log file (-errno, e.g. -ENOSPC), 0 when none. */
static int log_file_errno;

void log_close(void) {
        if (log_fd >= 0) close(log_fd);
        log_fd = -EBADF;
        if (console_fd >= 0) close(console_fd);
        console_fd = -EBADF;
}

/* The log is opened under the root with lib/safefile's rules: no symlink on the way,
 * and what is there must be a regular file with one link that this process owns —
 * not a FIFO (the run would block on it), not a hard link or another user's file
 * (the agent would append to a file it does not own). */
static int open_log_file(const char *root, const char *path) {
        _cleanup_free_ char *dir = path_dirname(path);
        if (!dir) return -ENOMEM;
        _cleanup_close_ int rootfd = safe_root_open(root);
        if (rootfd < 0) return rootfd;
        _cleanup_close_ int dfd = safe_openat(rootfd, dir, O_RDONLY | O_DIRECTORY, 0);
        if (dfd == -ENOENT) dfd = safe_mkdirat(rootfd, dir, 0700, SAFE_NO_OWNER, SAFE_NO_GROUP, false);
        if (dfd < 0) return dfd;

        _cleanup_close_ int fd = safe_openat(rootfd, path, O_WRONLY | O_APPEND | O_CREAT, 0600);
        if (fd < 0) return fd;
        int r = safe_check(fd, SAFE_REGULAR | SAFE_ONE_LINK | SAFE_OWNED, SAFE_NO_OWNER);
        if (r < 0) return r;
        struct stat st;
        if (fstat(fd, &st) < 0) return -errno;
        /* An existing file keeps its mode on open(); the log may hold redacted but
         * still sensitive details, so it is 0600 whatever it was before. */
        if ((st.st_mode & 07777) != 0600 && fchmod(fd, 0600) < 0) return -errno;
        return TAKE_FD(fd);
}

/* stderr connected to the journal (systemd sets JOURNAL_STREAM=dev:ino for it):
 * the journal entry already carries the line, so writing it to stderr would
 * duplicate it. */
static bool stderr_is_journal(void) {
        const char *e = getenv("JOURNAL_STREAM");
        if (isempty(e)) return false;
        unsigned long long dev, ino;
        if (sscanf(e, "%llu:%llu", &dev, &ino) != 2) return false;
        struct stat st;
        if (fstat(STDERR_FILENO, &st) < 0) return false;
        return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

/* Under systemd with StandardOutput=journal+console, stderr is the journal stream:
 * the structured journal entry replaces the stderr line, and the console (serial, where
 * an operator watches a failed boot) gets the line directly. */
int log_open(const LogOptions *o) {
        log_close();
        console_level = o ? o->console_level : LOG_LEVEL_INFO;
        journal_enabled = o && o->journal;
        if (journal_enabled && stderr_is_journal())
                console_fd = open("/dev/console", O_WRONLY | O_NOCTTY | O_CLOEXEC | O_NONBLOCK);
        log_file_errno = 0;
        if (!o || !o->file) return 0;

        int fd = open_log_file(o->root, o->file);
        if (fd < 0) return fd;
        log_fd = fd;
        return 0;
}

void log_set_step(const char *step) {
        current_step = step;
}

const char *log_get_step(void) {
        return current_step ? current_step : "-";
}

static const char *level_label(LogLevel level) {
        switch (level) {
        case LOG_LEVEL_ERROR:   return "error: ";
        case LOG_LEVEL_WARNING: return "warning: ";
        case LOG_LEVEL_DEBUG:   return "debug: ";
        default:                return "";
        }
}

static int level_priority(LogLevel level) {
        switch (level) {
        case LOG_LEVEL_ERROR:   return LOG_ERR;
        case LOG_LEVEL_WARNING: return LOG_WARNING;
        case LOG_LEVEL_NOTICE:  return LOG_NOTICE;
        case LOG_LEVEL_DEBUG:   return LOG_DEBUG;
        default:                return LOG_INFO;
        }
}

/* One call is one line: newlines become " / ", other control characters (escape
 * sequences from child output) become spaces, trailing newlines are dropped.
 * Then the result is cut at LOG_MESSAGE_MAX on a UTF-8 boundary. */
static char *flatten_and_cap(const char *s) {
        size_t n = strlen(s);
        while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r')) n--;

        size_t cap = LOG_MESSAGE_MAX + sizeof(ELLIPSIS);
        char *out = malloc(cap);
        if (!out) return NULL;
        size_t o = 0;
        bool cut = false;
        for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char)s[i];
                const char *rep = NULL;
                char one[2] = {(char)c, 0};
                if (c == '\r' && i + 1 < n && s[i + 1] == '\n') continue;
                if (c == '\n') rep = " / ";
                else if ((c < 0x20 && c != '\t') || c == 0x7f) rep = " ";
                else rep = one;
                size_t l = strlen(rep);
                if (o + l > LOG_MESSAGE_MAX) {
                        cut = true;
                        break;
                }
                memcpy(out + o, rep, l);
                o += l;
        }
        if (cut) {
                /* Do not leave half a UTF-8 sequence before the ellipsis. */
                size_t k = o;
                while (k > 0 && ((unsigned char)out[k - 1] & 0xc0) == 0x80) k--;
                if (k > 0 && ((unsigned char)out[k - 1] & 0x80)) {
                        unsigned char lead = (unsigned char)out[k - 1];
                        size_t want = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
                        if (o - (k - 1) < want) o = k - 1;
                }
                memcpy(out + o, ELLIPSIS, sizeof(ELLIPSIS) - 1);
                o += sizeof(ELLIPSIS) - 1;
        }
        out[o] = 0;
        return out;
}

/* Formats, then redacts before anything else touches the text (the cut to
 * LOG_MESSAGE_MAX comes after redaction). err is errno for %m. */
static char *format_message(const char *fmt, va_list ap, int err) _printf_(1, 0);
static char *format_message(const char *fmt, va_list ap, int err) {
        va_list aq;
        va_copy(aq, ap);
        errno = err;
        int n = vsnprintf(NULL, 0, fmt, aq);
        va_end(aq);
        if (n < 0) return NULL;
        size_t size = (size_t)n + 1 > LOG_FORMAT_MAX ? LOG_FORMAT_MAX : (size_t)n + 1;
        _cleanup_free_ char *raw = malloc(size);
        if (!raw) return NULL;
        errno = err;
        vsnprintf(raw, size, fmt, ap);

        _cleanup_free_ char *redacted = secret_redact(raw);
        wipe(raw, size);
        if (!redacted) return NULL;
        return flatten_and_cap(redacted);
}

static int write_line(int fd, const char *a, const char *b, const char *c, const char *d, const char *e) {
        /* One write() per line: with O_APPEND, lines from concurrent writers never
         * interleave. */
        _cleanup_free_ char *line = NULL;
        if (asprintf_safe(&line, "%s%s%s%s%s\n", a, b, c, d, e) < 0) return -ENOMEM;
        return write_all(fd, line, strlen(line));
}

int log_file_error(void) {
        return log_file_errno;
}

/* importance: filtering and journal priority; label: the "<level>: " text (empty
 * for results, whose word says it all). */
static void emit(LogLevel importance, const char *label, const char *result, const char *msg) {
        const char *step = log_get_step();
        bool verbose = console_level >= LOG_LEVEL_DEBUG;

        if (importance == LOG_LEVEL_DEBUG && !verbose) return;

        if (log_fd >= 0) {
                char ts[32], head[96];
                format_rfc3339(now_realtime_ms(), ts, sizeof ts);
                snprintf(head, sizeof head, "%s vsensor-init[%ld] ", ts, (long)getpid());
                int r = write_line(log_fd, head, step, ": ", label, msg);
                if (r < 0 && log_file_errno == 0) log_file_errno = r;
        }

        if (journal_enabled) {
                _cleanup_free_ char *m = NULL, *p = NULL, *s = NULL, *r = NULL;
                if (asprintf_safe(&m, "MESSAGE=%s: %s%s", step, label, msg) >= 0 &&
                    asprintf_safe(&p, "PRIORITY=%d", level_priority(importance)) >= 0 &&
                    asprintf_safe(&s, "VSENSOR_INIT_STEP=%s", step) >= 0 &&
                    (!result || asprintf_safe(&r, "VSENSOR_INIT_RESULT=%s", result) >= 0)) {
                        struct iovec iov[6 + EXTRA_FIELDS_MAX];
                        char *extra[EXTRA_FIELDS_MAX] = {0};
                        size_t n = 0;
                        for (size_t i = 0; extra_fields && extra_fields[i] && i < EXTRA_FIELDS_MAX; i++) {
                                extra[i] = secret_redact(extra_fields[i]);
                                if (extra[i]) iov[n++] = (struct iovec){extra[i], strlen(extra[i])};
                        }
                        iov[n++] = (struct iovec){m, strlen(m)};
                        iov[n++] = (struct iovec){p, strlen(p)};
                        iov[n++] = (struct iovec){(char *)"SYSLOG_IDENTIFIER=vsensor-init",
                                                  strlen("SYSLOG_IDENTIFIER=vsensor-init")};
                        iov[n++] = (struct iovec){(char *)JOURNAL_FACILITY, strlen(JOURNAL_FACILITY)};
                        iov[n++] = (struct iovec){s, strlen(s)};
                        if (r) iov[n++] = (struct iovec){r, strlen(r)};
                        (void)sd_journal_sendv(iov, (int)n);
                        for (size_t i = 0; i < EXTRA_FIELDS_MAX; i++) free(extra[i]);
                }
        }

        if (importance <= console_level) {
                if (console_fd >= 0)
                        write_line(console_fd, "vsensor-init: ", step, ": ", label, msg);
                else if (!(journal_enabled && stderr_is_journal()))
                        write_line(STDERR_FILENO, step, ": ", label, msg, "");
        }
}

/* err is the errno %m shows; the caller's errno is left as it was. */
static void log_msgv(LogLevel level, const char *label, const char *result, int err, const char *fmt, va_list ap)
        _printf_(5, 0);
static void log_msgv(LogLevel level, const char *label, const char *result, int err, const char *fmt, va_list ap) {
        int saved = errno;
        _cleanup_free_ char *msg = format_message(fmt, ap, err);
        if (msg) emit(level, label, result, msg);
        errno = saved;
}

void log_msg(LogLevel level, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        log_msgv(level, level_label(level), NULL, errno, fmt, ap);
        va_end(ap);
}

void log_result(const char *result, const char *fmt, ...) {
        int err = errno;
        if (isempty(result)) result = "-";
        /* A failure must reach the console even with -q. */
        LogLevel importance = streq(result, "failed") ? LOG_LEVEL_ERROR : LOG_LEVEL_NOTICE;
        _cleanup_free_ char *label = strjoin(result, ": ", NULL);
        if (!label) return;
        va_list ap;
        va_start(ap, fmt);
        log_msgv(importance, label, result, err, fmt, ap);
        va_end(ap);
}

void log_child_line(const char *child, const char *stream, const char *line) {
        _cleanup_free_ char *label = NULL;
        if (asprintf_safe(&label, "%s[%s]: ", isempty(child) ? "child" : child,
                          isempty(stream) ? "?" : stream) < 0)
                return;
        /* The line goes through redaction as a plain argument, never as a format. */
        log_msg(LOG_LEVEL_INFO, "%s%s", label, line ? line : "");
}

void log_msg_fields(LogLevel level, const char *const *fields, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        extra_fields = fields;
        log_msgv(level, level_label(level), NULL, errno, fmt, ap);
        extra_fields = NULL;
        va_end(ap);
}

int log_error_errno(int r, const char *fmt, ...) {
        int e = r < 0 ? -r : r;
        va_list ap;
        va_start(ap, fmt);
        /* %m shows r, so callers can write "Failed to open '%s': %m". */
        log_msgv(LOG_LEVEL_ERROR, level_label(LOG_LEVEL_ERROR), NULL, e, fmt, ap);
        va_end(ap);
        return -e;
}
