/* aptlock: wait until no process holds the dpkg/apt locks, probing them the way
 * dpkg does (fcntl write locks): /var/lib/dpkg/lock-frontend, /var/lib/dpkg/lock,
 * /var/lib/apt/lists/lock, /var/cache/apt/archives/lock (all under root).
 * Probes every 25 ms so it proceeds within 100 ms of the release; no fixed sleeps. */
#pragma once

#include <stdint.h>
#include <sys/types.h>

extern const char *const aptlock_paths[];   /* the four paths, NULL-terminated */

typedef struct AptLockHolder {
        const char *path;    /* which lock (one of aptlock_paths) */
        pid_t pid;           /* holder as fcntl F_GETLK reports it, 0 if unknown */
} AptLockHolder;

/* Probes once. Returns 0 when all are free (missing lock files count as free),
 * 1 when one is held (ret filled with the first held), -errno on other errors. */
int aptlock_probe(const char *root, AptLockHolder *ret);

/* Called when the holder changes (first seen held, or a different lock/pid), so the
 * caller can log "waiting for /var/lib/dpkg/lock-frontend held by pid 123". */
typedef void (*AptLockWaitFn)(void *userdata, const AptLockHolder *holder);

/* Waits until all locks are free or deadline_ms (a duration) passes: returns 0,
 * or -ETIMEDOUT (ret_holder then tells who still held it). */
int aptlock_wait(const char *root, int64_t deadline_ms, AptLockWaitFn fn, void *userdata,
                 AptLockHolder *ret_holder);
