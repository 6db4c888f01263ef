/* safefile: security-relevant file handling in one place. The agent runs as root on
 * trees it does not control (a user's home, an image under --root): every path is
 * resolved inside a root directory without following any symbolic link and without
 * `..`, the object opened is checked (type, owner, one link) on its fd, writes are
 * atomic (temp name in the same directory, fsync, rename, fsync of the directory),
 * and ownership and modes are set with fchown/fchmod on the opened fds, never by
 * path. The live system is the root "/" with the same rules.
 *
 * Paths are absolute and taken inside the root: ("/tmp/r", "/etc/ssh") is
 * /tmp/r/etc/ssh. Functions return >= 0 (an fd where one is returned) or -errno:
 *   -ELOOP   a symbolic link on the way (it is not followed)
 *   -EXDEV   a `..` component (the path would leave the root)
 *   -ENXIO   not a regular file (a FIFO, socket or device) where one was expected
 *   -ENOTDIR not a directory where one was expected
 *   -EMLINK  a regular file with more than one hard link
 *   -EPERM   owned by another user
 * safe_strerror() says these in words for messages. */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

#include "util.h"

/* Checks on an opened fd (safe_check). */
#define SAFE_REGULAR   (1 << 0)   /* a regular file */
#define SAFE_DIRECTORY (1 << 1)   /* a directory */
#define SAFE_ONE_LINK  (1 << 2)   /* a regular file with st_nlink == 1 */
#define SAFE_OWNED     (1 << 3)   /* owned by the owner given or by this process's euid */

/* "no owner given" for the uid/gid arguments: left as they are. */
#define SAFE_NO_OWNER ((uid_t)-1)
#define SAFE_NO_GROUP ((gid_t)-1)

/* Opens root ("/" when NULL or "") as a directory fd (O_CLOEXEC). */
int safe_root_open(const char *root);

/* Opens path inside the root directory rootfd. flags are open(2) flags (O_CREAT
 * creates the last component with mode); O_CLOEXEC, O_NOCTTY and O_NOFOLLOW are
 * always added, and a non-directory is opened O_NONBLOCK (so a FIFO cannot block the
 * run) with O_NONBLOCK cleared again on the fd returned. Uses openat2(2)
 * RESOLVE_IN_ROOT|RESOLVE_NO_SYMLINKS where the kernel has it, else a walk that
 * opens each component O_NOFOLLOW. Returns the fd. */
int safe_openat(int rootfd, const char *path, int flags, mode_t mode);
/* Same with the root given as a path. */
int safe_open(const char *root, const char *path, int flags, mode_t mode);

/* Checks the fd: what is SAFE_* bits; owner is used with SAFE_OWNED. */
int safe_check(int fd, int what, uid_t owner);

/* mkdir -p inside the root: missing directories are created with mode (exactly, not
 * masked), and owned by this process. The last directory is then given uid/gid and
 * mode with fchown/fchmod when enforce is true (also when it existed). Returns an fd
 * of the last directory (O_RDONLY|O_DIRECTORY). */
int safe_mkdirat(int rootfd, const char *path, mode_t mode, uid_t uid, gid_t gid, bool enforce);

/* Writes data as name in the directory dirfd atomically: a new temp file
 * (O_EXCL, "NAME.tmp.PID.RANDOM") given mode and uid/gid on its fd, written, fsynced,
 * renamed over name, then the directory fsynced; the temp file is removed on any
 * failure. An existing name that is not a regular file (a directory) is refused. */
int safe_write_at(int dirfd, const char *name, const void *data, size_t len, mode_t mode, uid_t uid, gid_t gid);
/* Same for path inside the root; the parent directory must exist. */
int safe_write(const char *root, const char *path, const void *data, size_t len, mode_t mode, uid_t uid, gid_t gid);

/* Reads the regular file path inside the root (one link, owned by owner or by us when
 * owner is not SAFE_NO_OWNER) into a NUL-terminated buffer; -EFBIG above max. */
int safe_read(const char *root, const char *path, size_t max, uid_t owner, char **ret, size_t *ret_len);
/* On an fd already opened and checked: read_fd_capped (lib/util). */

/* The words for the errors above, strerror() for the others. */
const char *safe_strerror(int r);

/* Tests: force the O_NOFOLLOW walk even where openat2 exists. */
void safe_force_walk(bool on);
