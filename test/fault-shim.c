/* fault-shim: an LD_PRELOAD library that makes the agent crash or run out of disk at
 * exact points, for the crash-consistency tests (test/e2e/test-e2e-crash.c). Inert
 * unless one of its variables is set. Children of the agent get a minimal
 * environment without LD_PRELOAD, so only the agent itself is affected.
 *
 *   FAULT_RENAME_PATH=S        only renames (rename, renameat) whose new path contains S count (default: all)
 *   FAULT_KILL_AT_RENAME=N     SIGKILL just before the Nth counted rename()
 *   FAULT_KILL_AFTER_RENAME=N  SIGKILL just after the Nth counted rename() succeeded
 *   FAULT_WRITE_PATH=S         only write()s to a file whose path contains S count
 *   FAULT_KILL_AT_WRITE=N      the Nth counted write() writes half its bytes, then SIGKILL
 *   FAULT_ENOSPC_WRITE_PATH=S  write() to a file whose path contains S fails with ENOSPC;
 *   FAULT_ENOSPC_PARTIAL=1     ... except that the first such write() writes half its
 *                              bytes (what a filling disk does), then ENOSPC
 *   FAULT_TRACE=FILE           append "rename NEWPATH" / "write PATH" for counted calls */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Exported symbols must have prototypes under -Wmissing-prototypes. */
int rename(const char *from, const char *to);
int renameat(int olddirfd, const char *from, int newdirfd, const char *to);
ssize_t write(int fd, const void *buf, size_t count);

static const char *rename_path, *write_path, *enospc_path, *trace_file;
static long kill_at_rename, kill_after_rename, kill_at_write;
static bool enospc_partial, enospc_partial_done;
static long renames, writes;

static long env_long(const char *name) {
        const char *v = getenv(name);
        return v && *v ? strtol(v, NULL, 10) : 0;
}

static const char *env_str(const char *name) {
        const char *v = getenv(name);
        return v && *v ? v : NULL;
}

__attribute__((constructor)) static void fault_init(void) {
        rename_path = env_str("FAULT_RENAME_PATH");
        write_path = env_str("FAULT_WRITE_PATH");
        enospc_path = env_str("FAULT_ENOSPC_WRITE_PATH");
        trace_file = env_str("FAULT_TRACE");
        kill_at_rename = env_long("FAULT_KILL_AT_RENAME");
        kill_after_rename = env_long("FAULT_KILL_AFTER_RENAME");
        kill_at_write = env_long("FAULT_KILL_AT_WRITE");
        enospc_partial = env_long("FAULT_ENOSPC_PARTIAL") > 0;
}

/* Raw syscalls: our own write() must not recurse into the shim. */
static ssize_t raw_write(int fd, const void *buf, size_t count) {
        return syscall(SYS_write, fd, buf, count);
}

static void trace(const char *what, const char *path) {
        if (!trace_file) return;
        int fd = (int)syscall(SYS_openat, AT_FDCWD, trace_file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
        if (fd < 0) return;
        char line[PATH_MAX + 32];
        int n = snprintf(line, sizeof line, "%s %s\n", what, path);
        if (n > 0) (void)raw_write(fd, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
        close(fd);
}

static void die(void) {
        kill(getpid(), SIGKILL);
        for (;;) pause();
}

int rename(const char *from, const char *to) {
        static int (*real_rename)(const char *, const char *);
        if (!real_rename) real_rename = (int (*)(const char *, const char *))dlsym(RTLD_NEXT, "rename");
        bool counted = to && (!rename_path || strstr(to, rename_path));
        if (counted) {
                renames++;
                trace("rename", to);
                if (kill_at_rename > 0 && renames == kill_at_rename) die();
        }
        int r = real_rename(from, to);
        if (counted && r == 0 && kill_after_rename > 0 && renames == kill_after_rename) die();
        return r;
}

/* The path of fd, or "" (sockets, pipes and unreadable links never match). */
static void fd_path(int fd, char *buf, size_t size) {
        char link[64];
        snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
        ssize_t n = readlink(link, buf, size - 1);
        buf[n > 0 ? (size_t)n : 0] = 0;
        if (buf[0] != '/') buf[0] = 0;
}

/* lib/safefile renames within a directory fd: the same counting, on the full path. */
int renameat(int olddirfd, const char *from, int newdirfd, const char *to) {
        static int (*real_renameat)(int, const char *, int, const char *);
        if (!real_renameat) real_renameat = (int (*)(int, const char *, int, const char *))dlsym(RTLD_NEXT, "renameat");
        char full[2 * PATH_MAX + 2] = "";
        if (to && (to[0] == '/' || newdirfd == AT_FDCWD))
                snprintf(full, sizeof full, "%s", to);
        else if (to) {
                char dir[PATH_MAX];
                fd_path(newdirfd, dir, sizeof dir);
                snprintf(full, sizeof full, "%s/%s", dir, to);
        }
        bool counted = to && (!rename_path || strstr(full, rename_path));
        if (counted) {
                renames++;
                trace("rename", full);
                if (kill_at_rename > 0 && renames == kill_at_rename) die();
        }
        int r = real_renameat(olddirfd, from, newdirfd, to);
        if (counted && r == 0 && kill_after_rename > 0 && renames == kill_after_rename) die();
        return r;
}

ssize_t write(int fd, const void *buf, size_t count) {
        if (!write_path && !enospc_path) return raw_write(fd, buf, count);
        char path[PATH_MAX];
        fd_path(fd, path, sizeof path);
        if (path[0] && enospc_path && strstr(path, enospc_path)) {
                if (enospc_partial && !enospc_partial_done && count > 1) {
                        enospc_partial_done = true;
                        return raw_write(fd, buf, count / 2);
                }
                errno = ENOSPC;
                return -1;
        }
        if (path[0] && write_path && strstr(path, write_path)) {
                writes++;
                trace("write", path);
                if (kill_at_write > 0 && writes == kill_at_write) {
                        /* A torn write: what a crash or power loss mid-write leaves. */
                        if (count > 1) (void)raw_write(fd, buf, count / 2);
                        die();
                }
        }
        return raw_write(fd, buf, count);
}
