#include "aptlock.h"

#include <fcntl.h>

#include "util.h"

#define APTLOCK_PROBE_INTERVAL_MS 25

/* lock-frontend first: modern apt takes it before the others and holds it longest. */
const char *const aptlock_paths[] = {
        "/var/lib/dpkg/lock-frontend",
        "/var/lib/dpkg/lock",
        "/var/lib/apt/lists/lock",
        "/var/cache/apt/archives/lock",
        NULL,
};

/* Returns 1 and the holder's pid (0 when unknown) if a lock conflicts with a write lock
 * on the whole file, 0 if none does, -errno otherwise. */
static int probe_fd(int fd, pid_t *ret_pid) {
        struct flock fl = {
                .l_type = F_WRLCK,
                .l_whence = SEEK_SET,
                .l_start = 0,
                .l_len = 0,
                .l_pid = 0, /* F_OFD_GETLK requires 0 */
        };
        /* An OFD probe sees both POSIX record locks (dpkg) and OFD locks (newer apt), also
         * ones held by this process. Kernels before 3.15 lack it: fall back to F_GETLK. */
        if (fcntl(fd, F_OFD_GETLK, &fl) < 0) {
                if (errno != EINVAL) return -errno;
                fl = (struct flock){.l_type = F_WRLCK, .l_whence = SEEK_SET};
                if (fcntl(fd, F_GETLK, &fl) < 0) return -errno;
        }
        if (fl.l_type == F_UNLCK) return 0;
        /* OFD locks belong to no process and report -1. */
        *ret_pid = fl.l_pid > 0 ? fl.l_pid : 0;
        return 1;
}

int aptlock_probe(const char *root, AptLockHolder *ret) {
        for (size_t i = 0; aptlock_paths[i]; i++) {
                _cleanup_free_ char *p = path_under_root(root, aptlock_paths[i]);
                if (!p) return -ENOMEM;
                /* O_NONBLOCK: a FIFO planted at a lock path must not hang the agent. */
                _cleanup_close_ int fd = open(p, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
                if (fd < 0) {
                        if (errno == ENOENT) continue; /* no lock file, nobody can hold it */
                        return -errno;
                }
                pid_t pid = 0;
                int r = probe_fd(fd, &pid);
                if (r < 0) return r;
                if (r > 0) {
                        if (ret) *ret = (AptLockHolder){.path = aptlock_paths[i], .pid = pid};
                        return 1;
                }
        }
        return 0;
}

int aptlock_wait(const char *root, int64_t deadline_ms, AptLockWaitFn fn, void *userdata,
                 AptLockHolder *ret_holder) {
        int64_t end = now_monotonic_ms() + (deadline_ms > 0 ? deadline_ms : 0);
        AptLockHolder last = {};
        for (;;) {
                AptLockHolder h = {};
                int r = aptlock_probe(root, &h);
                if (r < 0) return r;
                if (r == 0) return 0;
                if (h.path != last.path || h.pid != last.pid) {
                        last = h;
                        if (fn) fn(userdata, &h);
                }
                int64_t left = end - now_monotonic_ms();
                if (left <= 0) {
                        if (ret_holder) *ret_holder = h;
                        return -ETIMEDOUT;
                }
                sleep_ms(left < APTLOCK_PROBE_INTERVAL_MS ? left : APTLOCK_PROBE_INTERVAL_MS);
        }
}
