/* util: small helpers every module shares — scope cleanup, paths under --root,
 * capped reads and atomic writes. Functions return >= 0 on success, -errno on failure. */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#define _unused_ __attribute__((unused))
#define _printf_(a, b) __attribute__((format(printf, a, b)))
#define _warn_unused_ __attribute__((warn_unused_result))

#define ELEMENTSOF(x) (sizeof(x) / sizeof((x)[0]))

static inline void freep(void *p) { free(*(void **)p); }
static inline void closep(int *fd) {
        if (*fd >= 0) {
                int saved = errno;
                close(*fd);
                errno = saved;
        }
}
static inline void fclosep(FILE **f) { if (*f) fclose(*f); }
/* Frees a NULL-terminated array of strings. */
void strv_free(char **v);
static inline void strv_freep(char ***v) { strv_free(*v); }

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _cleanup_free_ _cleanup_(freep)
#define _cleanup_close_ _cleanup_(closep)
#define _cleanup_fclose_ _cleanup_(fclosep)
#define _cleanup_strv_free_ _cleanup_(strv_freep)

/* Hands a pointer out of a cleanup scope: returns it and sets the variable to NULL. */
#define TAKE_PTR(p) ({ __typeof__(p) _tmp = (p); (p) = NULL; _tmp; })
#define TAKE_FD(fd) ({ int _tmp = (fd); (fd) = -EBADF; _tmp; })

/* Generates a cleanup function for a type with a NULL-accepting destructor. */
#define DEFINE_TRIVIAL_CLEANUP_FUNC(type, func)           \
        static inline void func##p(type *p) {             \
                if (*p) func(*p);                         \
        }

static inline bool streq(const char *a, const char *b) { return strcmp(a, b) == 0; }
static inline bool streq_ptr(const char *a, const char *b) {
        if (!a || !b) return a == b;
        return strcmp(a, b) == 0;
}
static inline bool isempty(const char *s) { return !s || !*s; }

/* strdup/malloc that abort on OOM would hide failures: these return NULL like libc. */
char *strjoin(const char *a, const char *b, const char *c);   /* any of b, c may be NULL */
int asprintf_safe(char **ret, const char *fmt, ...) _printf_(2, 3);
/* Formats into a caller's optional error buffer: nothing when err is NULL or errsize 0. */
void errbuf_printf(char *err, size_t errsize, const char *fmt, ...) _printf_(3, 4);
/* Appends one element (copied) to a NULL-terminated string array. */
int strv_push(char ***v, const char *s);
size_t strv_length(char *const *v);

/* Joins --root and an absolute path: ("/tmp/r", "/etc/x") -> "/tmp/r/etc/x".
 * root NULL or "" or "/" returns a copy of path. */
char *path_under_root(const char *root, const char *path);
/* Returns a newly allocated parent directory of path ("/a/b" -> "/a"). */
char *path_dirname(const char *path);

/* Reads a whole file into a NUL-terminated buffer; -EFBIG when larger than max. */
int read_file_capped(const char *path, size_t max, char **ret, size_t *ret_len);
/* Same on an opened fd, from its current offset: the one capped read loop, also behind
 * safe_read (lib/safefile). Every buffer it drops is wiped (the bytes may be secrets). */
int read_fd_capped(int fd, size_t max, char **ret, size_t *ret_len);
/* Writes data to path atomically: temp file in the same directory (mode), fsync,
 * rename, fsync the directory; the temp file is unlinked on any failure. */
int write_file_atomic(const char *path, const void *data, size_t len, mode_t mode);
/* mkdir -p with mode for every directory created (existing ones are left alone). */
int mkdir_p(const char *path, mode_t mode);
/* Loops over short writes and EINTR. */
int write_all(int fd, const void *data, size_t len);

/* Milliseconds on CLOCK_MONOTONIC / CLOCK_REALTIME (UTC). */
int64_t now_monotonic_ms(void);
int64_t now_realtime_ms(void);
/* RFC 3339 UTC with milliseconds: "2026-11-28T00:04:10.123Z"; buf >= 32 bytes. */
void format_rfc3339(int64_t realtime_ms, char *buf, size_t size);
/* Sleeps, restarting on EINTR. */
void sleep_ms(int64_t ms);
/* Uniformly distributed random number in [0, bound) from getrandom(). */
uint64_t random_below(uint64_t bound);

/* Wipes memory in a way the compiler may not remove. */
void wipe(void *p, size_t len);
