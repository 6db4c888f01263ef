#include "util.h"

#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>

void strv_free(char **v) {
        if (!v) return;
        for (char **i = v; *i; i++) free(*i);
        free(v);
}

size_t strv_length(char *const *v) {
        size_t n = 0;
        if (v)
                while (v[n]) n++;
        return n;
}

int strv_push(char ***v, const char *s) {
        size_t n = strv_length(*v);
        char *copy = strdup(s);
        if (!copy) return -ENOMEM;
        char **nv = realloc(*v, (n + 2) * sizeof(char *));
        if (!nv) {
                free(copy);
                return -ENOMEM;
        }
        nv[n] = copy;
        nv[n + 1] = NULL;
        *v = nv;
        return 0;
}

char *strjoin(const char *a, const char *b, const char *c) {
        size_t la = strlen(a), lb = b ? strlen(b) : 0, lc = c ? strlen(c) : 0;
        char *r = malloc(la + lb + lc + 1);
        if (!r) return NULL;
        memcpy(r, a, la);
        if (lb) memcpy(r + la, b, lb);
        if (lc) memcpy(r + la + lb, c, lc);
        r[la + lb + lc] = 0;
        return r;
}

int asprintf_safe(char **ret, const char *fmt, ...) {
        va_list ap;
        char *s = NULL;
        va_start(ap, fmt);
        int r = vasprintf(&s, fmt, ap);
        va_end(ap);
        if (r < 0) return -ENOMEM;
        *ret = s;
        return r;
}

void errbuf_printf(char *err, size_t errsize, const char *fmt, ...) {
        va_list ap;
        if (!err || errsize == 0) return;
        va_start(ap, fmt);
        vsnprintf(err, errsize, fmt, ap);
        va_end(ap);
}

char *path_under_root(const char *root, const char *path) {
        if (isempty(root) || streq(root, "/") || path[0] != '/') return strdup(path);
        size_t lr = strlen(root);
        while (lr > 1 && root[lr - 1] == '/') lr--;
        char *r = malloc(lr + strlen(path) + 1);
        if (!r) return NULL;
        memcpy(r, root, lr);
        memcpy(r + lr, path, strlen(path) + 1);
        return r;
}

char *path_dirname(const char *path) {
        const char *slash = strrchr(path, '/');
        if (!slash) return strdup(".");
        if (slash == path) return strdup("/");
        return strndup(path, (size_t)(slash - path));
}

int read_fd_capped(int fd, size_t max, char **ret, size_t *ret_len) {
        /* No file is that large; keeps max + 1 and cap * 2 from wrapping. */
        if (max > SIZE_MAX / 4) max = SIZE_MAX / 4;
        size_t cap = 4096, len = 0;
        _cleanup_free_ char *buf = malloc(cap + 1);
        if (!buf) return -ENOMEM;
        for (;;) {
                if (len == cap) {
                        if (cap > max) {
                                wipe(buf, len);
                                return -EFBIG;
                        }
                        size_t ncap = cap * 2 > max + 1 ? max + 1 : cap * 2;
                        /* Not realloc: it could leave a copy of secret bytes behind. */
                        char *nb = malloc(ncap + 1);
                        if (!nb) return -ENOMEM;
                        memcpy(nb, buf, len);
                        wipe(buf, len);
                        free(buf);
                        buf = nb;
                        cap = ncap;
                }
                ssize_t n = read(fd, buf + len, cap - len);
                if (n < 0) {
                        if (errno == EINTR) continue;
                        int r = -errno;
                        wipe(buf, len); /* the file may hold secrets */
                        return r;
                }
                if (n == 0) break;
                len += (size_t)n;
                if (len > max) {
                        wipe(buf, len);
                        return -EFBIG;
                }
        }
        buf[len] = 0;
        if (ret_len) *ret_len = len;
        *ret = TAKE_PTR(buf);
        return 0;
}

int read_file_capped(const char *path, size_t max, char **ret, size_t *ret_len) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0) return -errno;
        return read_fd_capped(fd, max, ret, ret_len);
}

int write_all(int fd, const void *data, size_t len) {
        const char *p = data;
        while (len > 0) {
                ssize_t n = write(fd, p, len);
                if (n < 0) {
                        if (errno == EINTR) continue;
                        return -errno;
                }
                p += n;
                len -= (size_t)n;
        }
        return 0;
}

static int fsync_dir_of(const char *path) {
        _cleanup_free_ char *dir = path_dirname(path);
        if (!dir) return -ENOMEM;
        _cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0) return -errno;
        if (fsync(dfd) < 0) return -errno;
        return 0;
}

int write_file_atomic(const char *path, const void *data, size_t len, mode_t mode) {
        _cleanup_free_ char *tmp = NULL;
        int r = asprintf_safe(&tmp, "%s.tmp.%ld", path, (long)getpid());
        if (r < 0) return r;
        _cleanup_close_ int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
        if (fd < 0) return -errno;
        /* open() honours the umask; the mode must be exact (0600 for secrets). */
        if (fchmod(fd, mode) < 0) r = -errno;
        if (r >= 0) r = write_all(fd, data, len);
        if (r >= 0 && fsync(fd) < 0) r = -errno;
        if (r >= 0 && close(TAKE_FD(fd)) < 0) r = -errno;
        if (r >= 0 && rename(tmp, path) < 0) r = -errno;
        if (r < 0) {
                unlink(tmp);
                return r;
        }
        return fsync_dir_of(path);
}

int mkdir_p(const char *path, mode_t mode) {
        if (isempty(path)) return -ENOENT;
        _cleanup_free_ char *p = strdup(path);
        if (!p) return -ENOMEM;
        for (char *s = p + 1; *s; s++) {
                if (*s != '/') continue;
                *s = 0;
                if (mkdir(p, mode) < 0 && errno != EEXIST) return -errno;
                *s = '/';
        }
        if (mkdir(p, mode) < 0) {
                if (errno != EEXIST) return -errno;
                struct stat st;
                if (stat(p, &st) < 0) return -errno;
                if (!S_ISDIR(st.st_mode)) return -ENOTDIR;
        }
        return 0;
}

static int64_t clock_ms(clockid_t id) {
        struct timespec ts;
        clock_gettime(id, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t now_monotonic_ms(void) { return clock_ms(CLOCK_MONOTONIC); }
int64_t now_realtime_ms(void) { return clock_ms(CLOCK_REALTIME); }

void format_rfc3339(int64_t ms, char *buf, size_t size) {
        time_t t = (time_t)(ms / 1000);
        struct tm tm;
        gmtime_r(&t, &tm);
        char base[24];
        strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
        snprintf(buf, size, "%s.%03dZ", base, (int)(ms % 1000));
}

void sleep_ms(int64_t ms) {
        if (ms <= 0) return;
        struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};
        while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {}
}

uint64_t random_below(uint64_t bound) {
        if (bound <= 1) return 0;
        uint64_t limit = UINT64_MAX - UINT64_MAX % bound, v;
        do {
                if (getrandom(&v, sizeof v, 0) != sizeof v) v = (uint64_t)now_monotonic_ms() * 6364136223846793005ULL;
        } while (v >= limit);
        return v % bound;
}

void wipe(void *p, size_t len) {
        if (p) explicit_bzero(p, len);
}
