/* host-keys: fresh SSH host keys the first time a VM id is provisioned, then
 * READY=1 to systemd. It runs after report-ready because `ssh-keygen -A` (RSA 3072
 * above all) is the slowest thing on the way to Ready and Azure does not need the
 * keys to count the instance provisioned; sshd does, and it is ordered after this
 * unit (Type=notify, Before=ssh.service), so READY=1 waits for the keys: sshd never
 * starts on the captured image's keys or on none. The VM id is recorded in the state
 * directory's "provisioned" file once the keys are in, which is what makes a second
 * run (repair --all, a resume) keep them. */
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "child.h"
#include "log.h"
#include "notify.h"
#include "report.h"
#include "safefile.h"
#include "steps.h"

#define SSHD_DIR "/etc/ssh"
#define HOST_KEYS_TMP_PREFIX ".vsensor-init-keys."
/* The host keys `ssh-keygen -A` makes; all of them must be there to swap. */
static const char *const host_key_types[] = {"rsa", "ecdsa", "ed25519"};

static int run_tool(Context *c, const char *label, const char *const *argv) {
        RunResult res = {0};
        char what[128];
        int r = child_run(c, label, argv, 120, &res);
        if (r < 0) return step_fail(c, EX_SOFTWARE, "cannot run %s: %s", argv[0], strerror(-r));
        if (res.signaled || res.timed_out || res.exit_code != 0)
                return step_fail(c, EX_TEMPFAIL, "%s %s", argv[0], run_result_describe(&res, 120000, what, sizeof what));
        return 0;
}

/* Removes dirfd/name and what is below it, never following a symlink. */
static int remove_tree_at(int dirfd, const char *name, int depth) {
        if (unlinkat(dirfd, name, 0) == 0 || errno == ENOENT) return 0;
        if ((errno != EISDIR && errno != EPERM) || depth > 4) return -errno;
        int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0) return -errno;
        DIR *d = fdopendir(fd);
        if (!d) {
                close(fd);
                return -ENOMEM;
        }
        struct dirent *de;
        while ((de = readdir(d)))
                if (!streq(de->d_name, ".") && !streq(de->d_name, "..")) remove_tree_at(fd, de->d_name, depth + 1);
        closedir(d);
        return unlinkat(dirfd, name, AT_REMOVEDIR) < 0 ? -errno : 0;
}

static bool is_new_key_name(const char *name) {
        for (size_t i = 0; i < ELEMENTSOF(host_key_types); i++) {
                char k[64];
                snprintf(k, sizeof k, "ssh_host_%s_key", host_key_types[i]);
                size_t l = strlen(k);
                if (strncmp(name, k, l) == 0 && (name[l] == 0 || streq(name + l, ".pub"))) return true;
        }
        return false;
}

/* Every key file ssh-keygen was to make is a non-empty regular file, synced. */
static int check_new_keys(Context *c, int kfd) {
        for (size_t i = 0; i < ELEMENTSOF(host_key_types); i++)
                for (int pub = 0; pub < 2; pub++) {
                        char k[64];
                        snprintf(k, sizeof k, "ssh_host_%s_key%s", host_key_types[i], pub ? ".pub" : "");
                        _cleanup_close_ int fd = openat(kfd, k, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
                        struct stat st;
                        const char *what = fd < 0 ? "missing" : fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ? "not a file"
                                         : st.st_size == 0 ? "empty" : NULL;
                        if (!what && fsync(fd) < 0) what = "not written to disk";
                        if (what)
                                return step_fail(c, EX_CANTCREAT, "ssh-keygen exited 0 but %s is %s (a full disk?): the "
                                                 "old host keys are kept; the next run tries again", k, what);
                }
        return 0;
}

/* A captured image carries the host keys of the VM it was captured from. New keys
 * are made beside the old ones (a temp prefix in /etc/ssh) and swapped in only when
 * every one is there: an sshd that finds no host key does not start. */
static int regenerate_host_keys(Context *c, int rootfd) {
        if (access("/usr/bin/ssh-keygen", X_OK) < 0) {
                _cleanup_free_ char *sshd = context_path(c, "/usr/sbin/sshd");
                _cleanup_free_ char *cfg = context_path(c, SSHD_DIR "/sshd_config");
                if (!sshd || !cfg) return step_fail(c, EX_SOFTWARE, "out of memory");
                if (access(sshd, F_OK) == 0 || access(cfg, F_OK) == 0)
                        return step_fail(c, EX_SOFTWARE, "ssh-keygen is not installed but sshd is: install openssh-client "
                                         "(the image's SSH host keys would be every instance's)");
                log_warning("ssh-keygen is not installed: SSH host keys not regenerated");
                return 0;
        }
        _cleanup_close_ int sfd = safe_mkdirat(rootfd, SSHD_DIR, 0755, SAFE_NO_OWNER, SAFE_NO_GROUP, false);
        if (sfd < 0) return step_fail(c, EX_CANTCREAT, "cannot use %s: %s", SSHD_DIR, safe_strerror(sfd));
        /* Left by an interrupted run. */
        DIR *d = fdopendir(fcntl(sfd, F_DUPFD_CLOEXEC, 3));
        if (d) {
                /* The dup shares sfd's offset: start from the top. */
                rewinddir(d);
                struct dirent *de;
                while ((de = readdir(d)))
                        if (strncmp(de->d_name, HOST_KEYS_TMP_PREFIX, strlen(HOST_KEYS_TMP_PREFIX)) == 0)
                                remove_tree_at(sfd, de->d_name, 0);
                closedir(d);
        }

        char tmpname[64];
        snprintf(tmpname, sizeof tmpname, HOST_KEYS_TMP_PREFIX "%ld", (long)getpid());
        if (mkdirat(sfd, tmpname, 0700) < 0)
                return step_fail(c, EX_CANTCREAT, "cannot create %s/%s: %m", SSHD_DIR, tmpname);
        int r = 0;
        _cleanup_close_ int tfd = openat(sfd, tmpname, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        _cleanup_close_ int kfd = tfd < 0 ? -errno : safe_mkdirat(tfd, SSHD_DIR, 0755, SAFE_NO_OWNER, SAFE_NO_GROUP, false);
        _cleanup_free_ char *rel = strjoin(SSHD_DIR "/", tmpname, NULL);
        _cleanup_free_ char *prefix = rel ? context_path(c, rel) : NULL;
        if (kfd < 0 || !prefix)
                r = step_fail(c, EX_CANTCREAT, "cannot create %s/%s: %s", SSHD_DIR, tmpname, safe_strerror(kfd < 0 ? kfd : -ENOMEM));
        if (r >= 0) {
                const char *argv[] = {"/usr/bin/ssh-keygen", "-A", "-f", prefix, NULL};
                r = run_tool(c, "ssh-keygen", argv);
        }
        if (r >= 0) r = check_new_keys(c, kfd);
        for (size_t i = 0; r >= 0 && i < ELEMENTSOF(host_key_types); i++)
                for (int pub = 0; r >= 0 && pub < 2; pub++) {
                        char k[64];
                        snprintf(k, sizeof k, "ssh_host_%s_key%s", host_key_types[i], pub ? ".pub" : "");
                        if (renameat(kfd, k, sfd, k) < 0)
                                r = step_fail(c, EX_CANTCREAT, "cannot move the new %s into %s: %m", k, SSHD_DIR);
                }
        if (r >= 0) {
                /* The image's other host keys (e.g. DSA) are the captured VM's: gone now. */
                d = fdopendir(fcntl(sfd, F_DUPFD_CLOEXEC, 3));
                if (d) {
                        rewinddir(d);
                        struct dirent *de;
                        while ((de = readdir(d)))
                                if (strncmp(de->d_name, "ssh_host_", 9) == 0 && !is_new_key_name(de->d_name))
                                        unlinkat(sfd, de->d_name, 0);
                        closedir(d);
                }
                if (fsync(sfd) < 0) r = step_fail(c, EX_CANTCREAT, "cannot sync %s: %m", SSHD_DIR);
        }
        remove_tree_at(sfd, tmpname, 0);
        if (r < 0) return STEP_RESULT_FAILED;
        log_info("new SSH host keys generated");
        return 0;
}

/* The VM id recorded when this VM was provisioned, or NULL. */
static char *provisioned_vm_id(const Context *c) {
        _cleanup_free_ char *p = context_state_file(c, PROVISIONED_FILE);
        char *id = NULL;
        if (!p || read_file_capped(p, 128, &id, NULL) < 0) return NULL;
        id[strcspn(id, "\n")] = 0;
        return id;
}

int step_host_keys(Context *c) {
        if (!provisioning_by_agent(c)) {
                /* waagent (or nobody) provisions: its own host keys; READY=1 as before. */
                log_info("not making host keys: provisioning: %s", provisioning_mode_to_string(c->config.provisioning));
                return STEP_RESULT_SKIPPED;
        }
        if (!c->vm_id) return step_fail(c, EX_SOFTWARE, "no VM id: neither DMI nor IMDS gave one");
        _cleanup_close_ int rootfd = safe_root_open(c->opts->root);
        if (rootfd < 0) return step_fail(c, EX_CANTCREAT, "cannot open the root %s: %s", c->opts->root ? c->opts->root : "/",
                                         strerror(-rootfd));
        _cleanup_free_ char *done_for = provisioned_vm_id(c);
        if (streq_ptr(done_for, c->vm_id))
                log_info("SSH host keys already made for VM id %s: kept", c->vm_id);
        else {
                if (regenerate_host_keys(c, rootfd) < 0) return STEP_RESULT_FAILED;
                _cleanup_free_ char *content = strjoin(c->vm_id, "\n", NULL);
                if (!content) return step_fail(c, EX_SOFTWARE, "out of memory");
                _cleanup_close_ int sdfd = safe_mkdirat(rootfd, c->config.state_dir, 0700, SAFE_NO_OWNER, SAFE_NO_GROUP, false);
                int r = sdfd < 0 ? sdfd
                                 : safe_write_at(sdfd, PROVISIONED_FILE, content, strlen(content), 0600, SAFE_NO_OWNER, SAFE_NO_GROUP);
                if (r < 0)
                        return step_fail(c, EX_CANTCREAT, "cannot write %s/%s: %s", c->config.state_dir, PROVISIONED_FILE,
                                         safe_strerror(r));
        }
        /* Ready reported and the keys in: sshd, and the units waiting for Azure's
         * "ready" (waagent's extensions), may start. In report_ready: late the finish
         * step reports and sends it. */
        if (c->reported_ready) notify_ready();
        return STEP_RESULT_DONE;
}
