/* log: every line the agent writes, to /var/log/user-data.log (append, 0600,
 * RFC 3339 UTC timestamps, step name on every line), to the journal (structured
 * fields VSENSOR_INIT_STEP= and VSENSOR_INIT_RESULT=) and to the console (stderr).
 * Every message passes through secret_redact() before it goes anywhere.
 *
 * Line format in the file and on the console:
 *   2026-11-28T00:04:10.123Z vsensor-init[1234] <step>: <level>: <message>
 * where <level> is omitted for info ("info" lines are the common case). */
#pragma once

#include <stdbool.h>
#include "util.h"

typedef enum LogLevel {
        LOG_LEVEL_ERROR,
        LOG_LEVEL_WARNING,
        LOG_LEVEL_NOTICE,
        LOG_LEVEL_INFO,
        LOG_LEVEL_DEBUG,
} LogLevel;

typedef struct LogOptions {
        const char *file;        /* NULL: no log file */
        const char *root;        /* --root: file is taken inside it (lib/safefile rules:
                                  * no symlink, no ".."); NULL: the live system "/" */
        LogLevel console_level;  /* lines at or above this importance go to stderr */
        bool journal;            /* send structured entries to the journal */
} LogOptions;

/* Opens the log file (creating its directory 0700 and the file 0600; an existing
 * file is re-moded to 0600). Safe to call again to reopen with new options.
 * Returns -errno when the file cannot be opened; console logging still works. */
int log_open(const LogOptions *o);
void log_close(void);
/* The first error writing the log file since log_open (-errno, e.g. -ENOSPC), or 0:
 * lines still reach the journal and the console, the caller decides what it means. */
int log_file_error(void);

/* Sets the step name on every following line ("-" when NULL). Borrowed pointer:
 * pass string literals or the step table's names. */
void log_set_step(const char *step);
const char *log_get_step(void);

void log_msg(LogLevel level, const char *fmt, ...) _printf_(2, 3);
/* Records the outcome of a step: one line "<step>: <result>: <detail>" and a journal
 * entry carrying VSENSOR_INIT_RESULT=<result> (done, failed, skipped). */
void log_result(const char *result, const char *fmt, ...) _printf_(2, 3);
/* One line of output captured from a child (stream "stdout" or "stderr"); redacted
 * like everything else, logged at info with the child's name as prefix. */
void log_child_line(const char *child, const char *stream, const char *line);

/* Like log_msg, with extra structured journal fields: "NAME=value" strings,
 * NULL-terminated (e.g. "EVENT_ID=...", "EVENT_TYPE=Terminate"). NAME is upper case
 * letters, digits and '_'; the values are redacted like the message. The file and
 * console lines carry the message only. */
void log_msg_fields(LogLevel level, const char *const *fields, const char *fmt, ...) _printf_(3, 4);

/* Logs and returns the negative errno (r may be positive; it is negated). */
int log_error_errno(int r, const char *fmt, ...) _printf_(2, 3);

#define log_error(...)   log_msg(LOG_LEVEL_ERROR, __VA_ARGS__)
#define log_warning(...) log_msg(LOG_LEVEL_WARNING, __VA_ARGS__)
#define log_notice(...)  log_msg(LOG_LEVEL_NOTICE, __VA_ARGS__)
#define log_info(...)    log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(...)   log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__)
