/* safefile: open under a root without symlinks, check what was opened, write
 * atomically, set owner and mode on fds. See safefile.h for the rules. */
#include "safefile.h"

#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/syscall.h>

static bool force_walk;
/* openat2 is missing (ENOSYS: kernel < 5.6) or filtered: walk from then on. */
static bool no_openat2;

void safe_force_walk(bool on) {
        force_walk = on;
}

const char *safe_strerror(int r) {
        switch (-r) {
        case ELOOP:   return "a symbolic link is on the way (not followed)";
        case EXDEV:   return "the path has a \"..\" component (it would leave the root)";
        case ENXIO:   return "not a regular file (a FIFO, socket or device)";
        case ENOTDIR: return "not a directory";
        case EISDIR:  return "a directory where a file was expected";
        case EMLINK:  return "a file with more than one hard link";
        case EPERM:   return "owned by another user";
        default:      return strerror(r < 0 ? -r : r);
        }
}

/* Absolute, no `..`: the caller's rule, checked before anything is opened. */
static int path_check(const char *path) {
        if (isempty(path) || path[0] != '/') return -EINVAL;
        for (const char *p = path; *p;) {
                while (*p == '/') p++;
                size_t n = strcspn(p, "/");
                if (n == 2 && p[0] == '.' && p[1] == '.') return -EXDEV;
                p += n;
        }
        return 0;
}

int safe_root_open(const char *root) {
        int fd = open(isempty(root) ? "/" : root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        return fd < 0 ? -errno : fd;
}

/* ENOTDIR from an O_NOFOLLOW|O_DIRECTORY open may be a symlink: say so. */
static int open_errno(int dirfd, const char *name) {
        int r = -errno;
        struct stat st;
        if ((r == -ENOTDIR || r == -ELOOP) && fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode))
                return -ELOOP;
        return r;
}

static int open_dir_nofollow(int dirfd, const char *name) {
        int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
        return fd < 0 ? open_errno(dirfd, name) : fd;
}

/* The O_NOFOLLOW walk: each directory on the way opened on its own. */
static int walk_open(int rootfd, const char *path, int flags, mode_t mode) {
        _cleanup_close_ int cur = fcntl(rootfd, F_DUPFD_CLOEXEC, 3);
        if (cur < 0) return -errno;
        const char *p = path;
        for (;;) {
                while (*p == '/') p++;
                size_t n = strcspn(p, "/");
                const char *rest = p + n;
                while (*rest == '/') rest++;
                if (n == 0) break;
                char name[NAME_MAX + 1];
                if (n > NAME_MAX) return -ENAMETOOLONG;
                memcpy(name, p, n);
                name[n] = 0;
                if (*rest == 0) {
                        /* The last component, with the caller's flags. */
                        int fd = openat(cur, name, flags, mode);
                        return fd < 0 ? open_errno(cur, name) : fd;
                }
                if (!streq(name, ".")) {
                        int next = open_dir_nofollow(cur, name);
                        if (next < 0) return next;
                        close(cur);
                        cur = next;
                }
                p = rest;
        }
        /* The path names the root itself. */
        int fd = openat(cur, ".", flags & ~(O_CREAT | O_EXCL), 0);
        return fd < 0 ? -errno : fd;
}

static int openat2_open(int rootfd, const char *abs_path, int flags, mode_t mode) {
        const char *path = abs_path;
        while (*path == '/') path++;
        struct open_how how = {
                .flags = (uint64_t)flags,
                .mode = (flags & (O_CREAT | O_TMPFILE)) ? mode : 0,
                .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
        };
        for (int tries = 0;; tries++) {
                long fd = syscall(SYS_openat2, rootfd, *path ? path : ".", &how, sizeof how);
                if (fd >= 0) return (int)fd;
                /* EAGAIN: a concurrent rename; a few tries, then the walk decides. */
                if (errno == EAGAIN && tries < 8) continue;
                /* ENOSYS: an old kernel; EPERM: a seccomp filter that does not know
                 * openat2 (older container runtimes). The walk is just as strict. */
                if (errno == ENOSYS || errno == EAGAIN || errno == EPERM) {
                        if (errno == ENOSYS) no_openat2 = true;
                        return walk_open(rootfd, abs_path, flags, mode);
                }
                if (errno == ENOTDIR) {
                        /* A symlink where a directory is needed says ENOTDIR: the walk
                         * (creating nothing) tells which it was. */
                        int fd2 = walk_open(rootfd, abs_path, flags & ~(O_CREAT | O_EXCL | O_TRUNC), 0);
                        if (fd2 >= 0) close(fd2);
                        return fd2 == -ELOOP ? -ELOOP : -ENOTDIR;
                }
                return -errno;
        }
}

int safe_openat(int rootfd, const char *path, int flags, mode_t mode) {
        int r = path_check(path);
        if (r < 0) return r;
        bool add_nonblock = !(flags & O_DIRECTORY) && !(flags & O_NONBLOCK) && !(flags & O_PATH);
        flags |= O_CLOEXEC | O_NOCTTY | O_NOFOLLOW | (add_nonblock ? O_NONBLOCK : 0);
        int fd = force_walk || no_openat2 ? walk_open(rootfd, path, flags, mode) : openat2_open(rootfd, path, flags, mode);
        if (fd < 0) return fd;
        if (add_nonblock) {
                int fl = fcntl(fd, F_GETFL);
                if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0) {
                        r = -errno;
                        close(fd);
                        return r;
                }
        }
        return fd;
}

int safe_open(const char *root, const char *path, int flags, mode_t mode) {
        _cleanup_close_ int rootfd = safe_root_open(root);
        if (rootfd < 0) return rootfd;
        return safe_openat(rootfd, path, flags, mode);
}

int safe_check(int fd, int what, uid_t owner) {
        struct stat st;
        if (fstat(fd, &st) < 0) return -errno;
        if ((what & SAFE_DIRECTORY) && !S_ISDIR(st.st_mode)) return -ENOTDIR;
        if ((what & SAFE_REGULAR) && !S_ISREG(st.st_mode)) return S_ISDIR(st.st_mode) ? -EISDIR : -ENXIO;
        if ((what & SAFE_ONE_LINK) && S_ISREG(st.st_mode) && st.st_nlink > 1) return -EMLINK;
        if ((what & SAFE_OWNED) && st.st_uid != geteuid() && (owner == SAFE_NO_OWNER || st.st_uid != owner))
                return -EPERM;
        return 0;
}

static int set_owner_mode(int fd, mode_t mode, uid_t uid, gid_t gid) {
        if ((uid != SAFE_NO_OWNER || gid != SAFE_NO_GROUP) && fchown(fd, uid, gid) < 0) return -errno;
        /* After fchown (which may clear bits); open() and mkdir() honour the umask. */
        if (fchmod(fd, mode) < 0) return -errno;
        return 0;
}

int safe_mkdirat(int rootfd, const char *path, mode_t mode, uid_t uid, gid_t gid, bool enforce) {
        int r = path_check(path);
        if (r < 0) return r;
        _cleanup_close_ int cur = fcntl(rootfd, F_DUPFD_CLOEXEC, 3);
        if (cur < 0) return -errno;
        for (const char *p = path;;) {
                while (*p == '/') p++;
                size_t n = strcspn(p, "/");
                if (n == 0) break;
                char name[NAME_MAX + 1];
                if (n > NAME_MAX) return -ENAMETOOLONG;
                memcpy(name, p, n);
                name[n] = 0;
                p += n;
                if (streq(name, ".")) continue;
                bool created = mkdirat(cur, name, mode) == 0;
                if (!created && errno != EEXIST) return -errno;
                int next = open_dir_nofollow(cur, name);
                if (next < 0) return next;
                close(cur);
                cur = next;
                if (created && fchmod(cur, mode) < 0) return -errno;
        }
        if (enforce) {
                r = set_owner_mode(cur, mode, uid, gid);
                if (r < 0) return r;
        }
        return TAKE_FD(cur);
}

static bool name_valid(const char *name) {
        return !isempty(name) && !strchr(name, '/') && !streq(name, ".") && !streq(name, "..");
}

int safe_write_at(int dirfd, const char *name, const void *data, size_t len, mode_t mode, uid_t uid, gid_t gid) {
        if (!name_valid(name)) return -EINVAL;
        struct stat st;
        if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode)) return -EISDIR;
        _cleanup_free_ char *tmp = NULL;
        int r = asprintf_safe(&tmp, "%s.tmp.%ld.%08llx", name, (long)getpid(),
                              (unsigned long long)random_below(UINT32_MAX));
        if (r < 0) return r;
        _cleanup_close_ int fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, mode & 0600);
        if (fd < 0) return -errno;
        r = set_owner_mode(fd, mode, uid, gid);
        if (r >= 0) r = write_all(fd, data, len);
        if (r >= 0 && fsync(fd) < 0) r = -errno;
        if (r >= 0 && close(TAKE_FD(fd)) < 0) r = -errno;
        if (r >= 0 && renameat(dirfd, tmp, dirfd, name) < 0) r = -errno;
        if (r < 0) {
                unlinkat(dirfd, tmp, 0);
                return r;
        }
        if (fsync(dirfd) < 0) return -errno;
        return 0;
}

int safe_write(const char *root, const char *path, const void *data, size_t len, mode_t mode, uid_t uid, gid_t gid) {
        int r = path_check(path);
        if (r < 0) return r;
        _cleanup_free_ char *dir = path_dirname(path);
        const char *base = strrchr(path, '/') + 1;
        if (!dir) return -ENOMEM;
        _cleanup_close_ int dfd = safe_open(root, dir, O_RDONLY | O_DIRECTORY, 0);
        if (dfd < 0) return dfd;
        return safe_write_at(dfd, base, data, len, mode, uid, gid);
}

int safe_read(const char *root, const char *path, size_t max, uid_t owner, char **ret, size_t *ret_len) {
        _cleanup_close_ int fd = safe_open(root, path, O_RDONLY, 0);
        if (fd < 0) return fd;
        int r = safe_check(fd, SAFE_REGULAR | SAFE_ONE_LINK | (owner != SAFE_NO_OWNER ? SAFE_OWNED : 0), owner);
        if (r < 0) return r;
        return read_fd_capped(fd, max, ret, ret_len);
}
