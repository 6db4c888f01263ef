/* run: start a child with an argv array (never a shell), a minimal environment,
 * its own process group, stdout/stderr captured line by line, and a timeout that
 * kills the whole group. */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

/* Called for each complete line (without the newline; a final unterminated line is
 * delivered too; lines over 4096 bytes are split, never inside a value registered
 * with lib/secret, so each piece can be redacted alone). stream is "stdout" or "stderr". */
typedef void (*RunLineFn)(void *userdata, const char *stream, const char *line);

typedef struct RunOptions {
        const char *const *argv;    /* argv[0] is an absolute path; exec'd directly */
        const char *const *envp;    /* NULL: PATH=/usr/sbin:/usr/bin:/sbin:/bin, LANG=C.UTF-8 */
        const char *cwd;            /* NULL: "/" */
        int timeout_ms;             /* <= 0: no timeout */
        RunLineFn on_line;          /* NULL: output discarded */
        void *userdata;
        int kill_grace_ms;          /* after SIGTERM on timeout, SIGKILL after this; 0: 5000 */
} RunOptions;

typedef struct RunResult {
        int exit_code;   /* valid when !signaled && !timed_out */
        int signal;      /* the signal that ended it, when signaled */
        bool signaled;
        bool timed_out;  /* the group was sent SIGTERM, then SIGKILL after 5 s */
        pid_t pid;
} RunResult;

/* Runs the child to completion. Returns 0 when the child ran (whatever its exit
 * status, see ret), -errno when it could not be started (-ENOENT, -EACCES...).
 * The child gets PR_SET_PDEATHSIG(SIGKILL), stdin from /dev/null, all other fds
 * closed, and its own process group; on timeout the whole group is killed. */
int run_command(const RunOptions *o, RunResult *ret);

/* Describes a result for a log line: "exited with status 3", "killed by signal 9
 * (KILL)", "timed out after 600 s". Writes into buf. */
const char *run_result_describe(const RunResult *r, int timeout_ms, char *buf, size_t size);
