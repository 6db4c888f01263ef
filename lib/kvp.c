#include "kvp.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sys/file.h>
#include <sys/stat.h>

#include "util.h"

/* A pool of 16 MiB is 6553 records: far beyond what any agent writes; more is garbage. */
#define KVP_POOL_MAX (16u * 1024 * 1024)
/* The reason is cut so agent, vm_id and timestamp always fit in the 2047 value bytes. */
#define KVP_REASON_MAX 1024

static const char *strempty_kvp(const char *s) {
        return s ? s : "";
}

/* cloud-init's KVP reporter locks the pool with flock(), hv_kvp_daemon with a POSIX
 * record lock; on Linux the two do not exclude each other, so take both. OFD locks
 * conflict with classic POSIX locks and belong to this fd, not the process. */
static int kvp_lock(int fd, bool exclusive) {
        while (flock(fd, exclusive ? LOCK_EX : LOCK_SH) < 0)
                if (errno != EINTR) return -errno;
        struct flock fl = {
                .l_type = exclusive ? F_WRLCK : F_RDLCK,
                .l_whence = SEEK_SET,
        };
        while (fcntl(fd, F_OFD_SETLKW, &fl) < 0)
                if (errno != EINTR) return -errno;
        return 0;
}

static int kvp_open_for_append(const char *pool_path) {
        int fd = open(pool_path, O_WRONLY | O_APPEND | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0644);
        if (fd >= 0) {
                /* New pool: exactly 0644 whatever the umask, like hv_kvp_daemon's. */
                if (fchmod(fd, 0644) < 0) {
                        int r = -errno;
                        close(fd);
                        return r;
                }
                return fd;
        }
        if (errno != EEXIST) return -errno;
        fd = open(pool_path, O_WRONLY | O_APPEND | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
        return fd < 0 ? -errno : fd;
}

int kvp_append(const char *pool_path, const char *key, const char *value) {
        char record[KVP_RECORD_SIZE] = {0};
        int r;

        if (isempty(pool_path) || isempty(key)) return -EINVAL;
        size_t klen = strlen(key);
        if (klen >= KVP_KEY_SIZE) return -EINVAL;
        size_t vlen = value ? strnlen(value, KVP_VALUE_SIZE - 1) : 0;
        memcpy(record, key, klen);
        if (vlen > 0) memcpy(record + KVP_KEY_SIZE, value, vlen);

        _cleanup_free_ char *dir = path_dirname(pool_path);
        if (!dir) return -ENOMEM;
        r = mkdir_p(dir, 0755);
        if (r < 0) return r;

        _cleanup_close_ int fd = kvp_open_for_append(pool_path);
        if (fd < 0) return fd;
        r = kvp_lock(fd, true);
        if (r < 0) return r;
        /* A record torn by a crash or a full disk would shift every later one: cut it off
         * (under the lock no writer is mid-append), and undo our own partial write. */
        struct stat st;
        if (fstat(fd, &st) < 0) return -errno;
        off_t whole = st.st_size - st.st_size % KVP_RECORD_SIZE;
        if (whole != st.st_size && ftruncate(fd, whole) < 0) return -errno;
        /* O_APPEND plus the lock: each record lands whole at the end, never interleaved. */
        r = write_all(fd, record, sizeof record);
        if (r < 0) {
                if (ftruncate(fd, whole) < 0) { /* nothing more to undo with */ }
                return r;
        }
        if (fsync(fd) < 0) return -errno;
        /* close() drops both locks. */
        return 0;
}

int kvp_truncate_if_stale(const char *pool_path, int64_t boot_time_s) {
        struct stat st;
        int r;

        if (isempty(pool_path)) return -EINVAL;
        _cleanup_close_ int fd = open(pool_path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
        if (fd < 0) return errno == ENOENT ? 0 : -errno;
        r = kvp_lock(fd, true);
        if (r < 0) return r;
        /* Checked under the lock: a writer of this boot may have appended meanwhile. */
        if (fstat(fd, &st) < 0) return -errno;
        if (!S_ISREG(st.st_mode)) return -EBADF;
        if ((int64_t) st.st_mtim.tv_sec >= boot_time_s || st.st_size == 0) return 0;
        if (ftruncate(fd, 0) < 0) return -errno;
        if (fsync(fd) < 0) return -errno;
        return 1;
}

int kvp_boot_time(int64_t *ret) {
        _cleanup_free_ char *stat_text = NULL;
        int r = read_file_capped("/proc/stat", 1024 * 1024, &stat_text, NULL);
        if (r < 0) return r;
        for (char *line = stat_text; line; line = strchr(line, '\n')) {
                int64_t v;
                if (*line == '\n') line++;
                if (strncmp(line, "btime ", 6) == 0 && sscanf(line + 6, "%" SCNd64, &v) == 1 && v > 0) {
                        *ret = v;
                        return 0;
                }
        }
        return -ENODATA;
}

int kvp_read_all(const char *pool_path, char ***ret_keys, char ***ret_values, size_t *ret_n) {
        _cleanup_strv_free_ char **keys = calloc(1, sizeof(char *));
        _cleanup_strv_free_ char **values = calloc(1, sizeof(char *));
        _cleanup_free_ char *buf = NULL;
        struct stat st;
        size_t n = 0, len = 0;
        int r;

        if (!keys || !values) return -ENOMEM;
        _cleanup_close_ int fd = open(pool_path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0 && errno != ENOENT) return -errno;
        if (fd >= 0) {
                /* Shared lock: never see a record half-written by kvp_append. */
                r = kvp_lock(fd, false);
                if (r < 0) return r;
                if (fstat(fd, &st) < 0) return -errno;
                if (!S_ISREG(st.st_mode)) return -EBADF;
                if ((uint64_t) st.st_size > KVP_POOL_MAX) return -EFBIG;
                len = (size_t) st.st_size;
                buf = malloc(len + 1);
                if (!buf) return -ENOMEM;
                size_t got = 0;
                while (got < len) {
                        ssize_t k = read(fd, buf + got, len - got);
                        if (k < 0) {
                                if (errno == EINTR) continue;
                                return -errno;
                        }
                        if (k == 0) break;
                        got += (size_t) k;
                }
                len = got;
        }

        for (size_t off = 0; off + KVP_RECORD_SIZE <= len; off += KVP_RECORD_SIZE) {
                char **nk, **nv;
                if (!(nk = realloc(keys, (n + 2) * sizeof(char *)))) return -ENOMEM;
                keys = nk;
                keys[n + 1] = NULL;
                if (!(nv = realloc(values, (n + 2) * sizeof(char *)))) return -ENOMEM;
                values = nv;
                values[n + 1] = NULL;
                keys[n] = strndup(buf + off, KVP_KEY_SIZE);
                values[n] = strndup(buf + off + KVP_KEY_SIZE, KVP_VALUE_SIZE);
                if (!keys[n] || !values[n]) {
                        /* Keep both arrays NULL-terminated for the cleanup. */
                        free(keys[n]);
                        free(values[n]);
                        keys[n] = values[n] = NULL;
                        return -ENOMEM;
                }
                n++;
        }

        *ret_keys = TAKE_PTR(keys);
        *ret_values = TAKE_PTR(values);
        if (ret_n) *ret_n = n;
        return 0;
}

char *kvp_provisioning_report(bool success, const char *reason, const char *agent_version,
                              const char *vm_id, int64_t realtime_ms) {
        char ts[40];
        char *s = NULL;

        format_rfc3339(realtime_ms, ts, sizeof ts);
        if (success) {
                if (asprintf_safe(&s, "result=success|agent=vsensor-init/%s|vm_id=%s|timestamp=%s",
                                  strempty_kvp(agent_version), strempty_kvp(vm_id), ts) < 0)
                        return NULL;
                return s;
        }

        /* '|' separates fields and control characters have no place in one line. */
        size_t rlen = reason ? strnlen(reason, KVP_REASON_MAX) : 0;
        /* Do not cut a UTF-8 sequence in half. */
        if (reason && rlen == KVP_REASON_MAX)
                while (rlen > 0 && ((unsigned char) reason[rlen] & 0xC0) == 0x80) rlen--;
        _cleanup_free_ char *clean = malloc(rlen + 1);
        if (!clean) return NULL;
        for (size_t i = 0; i < rlen; i++) {
                unsigned char c = (unsigned char) reason[i];
                clean[i] = (c == '|' || c < 0x20 || c == 0x7f) ? ' ' : (char) c;
        }
        clean[rlen] = 0;
        if (asprintf_safe(&s, "result=error|reason=%s|agent=vsensor-init/%s|vm_id=%s|timestamp=%s",
                          clean, strempty_kvp(agent_version), strempty_kvp(vm_id), ts) < 0)
                return NULL;
        return s;
}
