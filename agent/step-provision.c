/* provision: what Azure expects of a provisioning agent — hostname, the admin user
 * with sudo, its SSH keys and password logins off when asked (fresh SSH host keys
 * are the host-keys step's, after the ready report). Inputs come from IMDS, with the
 * provisioning media (ovf-env.xml) as fallback. Under --root the host's tools are
 * given the root through their own options and the running system is not touched.
 *
 * Every file is reached through lib/safefile from the root (the live system is "/"):
 * no symlink is followed (a user's .ssh, an image's /etc/ssh), owners and modes are
 * set on fds, and writes are atomic. The inputs are all checked before anything on
 * the machine changes. */
#include <dirent.h>
#include <fcntl.h>
#include <strings.h>
#include <sys/stat.h>

#include "account.h"
#include "child.h"
#include "log.h"
#include "media.h"
#include "ovf.h"
#include "report.h"
#include "safefile.h"
#include "sshdconfig.h"
#include "sshkey.h"
#include "steps.h"

#define SUDOERS_DIR "/etc/sudoers.d"
#define SUDOERS_NAME "90-vsensor-init-users"
#define SUDOERS_DROPIN SUDOERS_DIR "/" SUDOERS_NAME
/* 00-: sshd keeps the first value it reads, and Debian's sshd_config includes the
 * *.conf files of sshd_config.d in lexical order at its top. */
#define SSHD_DIR "/etc/ssh"
#define SSHD_DROPIN_DIR SSHD_DIR "/sshd_config.d"
#define SSHD_DROPIN_NAME "00-vsensor-init.conf"
#define SSHD_DROPIN SSHD_DROPIN_DIR "/" SSHD_DROPIN_NAME
#define SSHD_DROPIN_OLD_NAME "50-vsensor-init.conf"   /* versions before 0.2 */

/* Useradd on Debian 12 and older takes at most 32 characters unless told --badname. */
#define USERADD_NAME_MAX 32

/* A name from the outside world, for messages: printable ASCII kept, the rest \xNN,
 * cut at 64 input bytes (never in the middle of an escape). */
static const char *quoted(const char *s, char *buf, size_t size) {
        size_t o = 0;
        for (size_t i = 0; s && s[i] && i < 64 && o + 5 < size; i++) {
                unsigned char ch = (unsigned char)s[i];
                if (ch >= 0x20 && ch < 0x7f && ch != '"' && ch != '\\')
                        buf[o++] = (char)ch;
                else
                        o += (size_t)snprintf(buf + o, size - o, "\\x%02x", ch);
        }
        buf[o] = 0;
        return buf;
}

static bool hostname_valid(const char *h) {
        size_t n = h ? strlen(h) : 0;
        if (n == 0 || n > 63) return false;
        for (const char *p = h; *p; p++)
                if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '-'))
                        return false;
        return h[0] != '-' && h[n - 1] != '-';
}

static int set_hostname(Context *c, const char *hostname) {
        _cleanup_free_ char *content = strjoin(hostname, "\n", NULL);
        if (!content) return step_fail(c, EX_SOFTWARE, "out of memory");
        int r = safe_write(c->opts->root, "/etc/hostname", content, strlen(content), 0644, SAFE_NO_OWNER, SAFE_NO_GROUP);
        if (r < 0) return step_fail(c, EX_CANTCREAT, "cannot write /etc/hostname: %s", safe_strerror(r));
        if (isempty(c->opts->root) && sethostname(hostname, strlen(hostname)) < 0)
                return step_fail(c, EX_SOFTWARE, "cannot set the hostname to %s: %m", hostname);
        log_info("hostname %s", hostname);
        return 0;
}

static int run_tool(Context *c, const char *label, const char *const *argv) {
        RunResult res = {0};
        char what[128];
        int r = child_run(c, label, argv, 120, &res);
        if (r < 0) return step_fail(c, EX_SOFTWARE, "cannot run %s: %s", argv[0], strerror(-r));
        if (res.signaled || res.timed_out || res.exit_code != 0)
                return step_fail(c, EX_TEMPFAIL, "%s %s", argv[0], run_result_describe(&res, 120000, what, sizeof what));
        return 0;
}

/* Field rules: the name's own rule, then no system account (uid outside the image's
 * UID_MIN..UID_MAX). Exit 65 naming where the name came from. */
static int check_user(Context *c, const char *user, const char *source) {
        char q[300];
        const char *problem = account_name_problem(user);
        if (problem)
                return step_fail(c, EX_DATAERR, "admin user name \"%s\" from %s is not accepted: %s",
                                 quoted(user, q, sizeof q), source, problem);
        Account acct = {0};
        int r = account_lookup(c->opts->root, user, &acct);
        free(acct.home);
        if (r == -ENOENT) return 0;
        if (r < 0) return step_fail(c, EX_SOFTWARE, "cannot read /etc/passwd: %s", safe_strerror(r));
        uid_t lo, hi;
        account_uid_range(c->opts->root, &lo, &hi);
        if (acct.uid < lo || acct.uid > hi)
                return step_fail(c, EX_DATAERR, "admin user name \"%s\" from %s is a system account (uid %u, %s %s %u)", user,
                                 source, (unsigned)acct.uid, acct.uid < lo ? "below" : "above",
                                 acct.uid < lo ? "UID_MIN" : "UID_MAX", (unsigned)(acct.uid < lo ? lo : hi));
        return 0;
}

static int ensure_user(Context *c, const char *user, const char *source, Account *ret) {
        int r = account_lookup(c->opts->root, user, ret);
        if (r == 0) {
                log_info("admin user %s exists", user);
                return 0;
        }
        if (r != -ENOENT) return step_fail(c, EX_SOFTWARE, "cannot read /etc/passwd: %s", safe_strerror(r));
        const char *argv[12] = {"/usr/sbin/useradd", "--create-home", "--shell", "/bin/bash", "--comment", "vSensor admin"};
        size_t n = 6;
        bool long_name = strlen(user) > USERADD_NAME_MAX;
        /* The name passed the Field rules already; useradd's own default is stricter. */
        if (long_name) argv[n++] = "--badname";
        if (!isempty(c->opts->root)) {
                argv[n++] = "--root";
                argv[n++] = c->opts->root;
        }
        argv[n++] = user;
        argv[n] = NULL;
        RunResult res = {0};
        char what[128];
        r = child_run(c, "useradd", argv, 120, &res);
        if (r < 0) return step_fail(c, EX_SOFTWARE, "cannot run %s: %s", argv[0], strerror(-r));
        /* 2: bad syntax (no --badname in this useradd), 3: bad argument (the name). */
        if (!res.signaled && !res.timed_out && (res.exit_code == 2 || res.exit_code == 3))
                return step_fail(c, EX_DATAERR, "admin user name \"%s\" from %s: this image's useradd does not take it (%s)%s",
                                 user, source, run_result_describe(&res, 120000, what, sizeof what),
                                 long_name ? "; it takes at most 32 characters" : "");
        if (res.signaled || res.timed_out || res.exit_code != 0)
                return step_fail(c, EX_TEMPFAIL, "%s %s", argv[0], run_result_describe(&res, 120000, what, sizeof what));
        r = account_lookup(c->opts->root, user, ret);
        if (r < 0) return step_fail(c, EX_SOFTWARE, "useradd succeeded but %s is not in /etc/passwd", user);
        log_info("created admin user %s (uid %u)", user, (unsigned)ret->uid);
        return 0;
}

static int write_sudoers(Context *c, int rootfd, const char *user) {
        _cleanup_free_ char *content = NULL;
        if (asprintf_safe(&content, "# Written by vsensor-init: the Azure admin user.\n%s ALL=(ALL) NOPASSWD:ALL\n", user) < 0)
                return step_fail(c, EX_SOFTWARE, "out of memory");
        _cleanup_close_ int dfd = safe_mkdirat(rootfd, SUDOERS_DIR, 0750, SAFE_NO_OWNER, SAFE_NO_GROUP, false);
        int r = dfd < 0 ? dfd : safe_write_at(dfd, SUDOERS_NAME, content, strlen(content), 0440, SAFE_NO_OWNER, SAFE_NO_GROUP);
        if (r < 0) return step_fail(c, EX_CANTCREAT, "cannot write %s: %s", SUDOERS_DROPIN, safe_strerror(r));
        /* A broken sudoers file locks the operator out of sudo: check it when we can. */
        if (access("/usr/sbin/visudo", X_OK) == 0) {
                _cleanup_free_ char *path = context_path(c, SUDOERS_DROPIN);
                if (!path) return step_fail(c, EX_SOFTWARE, "out of memory");
                const char *argv[] = {"/usr/sbin/visudo", "-c", "-q", "-f", path, NULL};
                if (run_tool(c, "visudo", argv) < 0) {
                        unlinkat(dfd, SUDOERS_NAME, 0);
                        return STEP_RESULT_FAILED;
                }
        }
        return 0;
}

/* Field rules: IMDS publicKeys win, the OVF's serve only when IMDS has none; each key
 * checked and normalized (lib/sshkey), a dropped one logged with the reason. */
static int collect_keys(Context *c, char ***ret) {
        const ImdsInstance *md = c->imds;
        const OvfEnv *ovf = c->ovf;
        size_t n_ovf = ovf ? strv_length(ovf->ssh_public_keys) : 0;
        bool from_imds = md && md->n_public_keys > 0;
        const char *source = from_imds ? "IMDS" : "ovf-env.xml";
        size_t n = from_imds ? md->n_public_keys : n_ovf;
        if (from_imds && n_ovf > 0) log_info("IMDS gave SSH keys: the %zu key(s) of ovf-env.xml are not used", n_ovf);
        _cleanup_strv_free_ char **keys = NULL;
        for (size_t i = 0; i < n; i++) {
                const char *in = from_imds ? md->public_keys[i].key_data : ovf->ssh_public_keys[i];
                _cleanup_free_ char *key = NULL;
                const char *reason = NULL;
                int r = sshkey_normalize(in ? in : "", &key, &reason);
                if (r == -ENOMEM) return step_fail(c, EX_SOFTWARE, "out of memory");
                if (r < 0) {
                        log_warning("SSH key %zu from %s dropped: %s", i + 1, source, reason);
                        continue;
                }
                if (strv_push(&keys, key) < 0) return step_fail(c, EX_SOFTWARE, "out of memory");
        }
        *ret = TAKE_PTR(keys);
        return 0;
}

/* Adds the keys not yet present (by type and key); keys the operator added later are
 * kept. The existing file must be the user's (or root's) own regular file; it is
 * read, and written, only up to the 1 MiB cap, so a later run can always read it. */
static int write_authorized_keys(Context *c, int rootfd, const Account *acct, char *const *keys) {
        _cleanup_free_ char *sshdir = strjoin(acct->home, "/.ssh", NULL);
        _cleanup_free_ char *file = strjoin(acct->home, "/.ssh/authorized_keys", NULL);
        if (!sshdir || !file) return step_fail(c, EX_SOFTWARE, "out of memory");
        _cleanup_close_ int hfd = safe_openat(rootfd, acct->home, O_RDONLY | O_DIRECTORY, 0);
        if (hfd < 0) return step_fail(c, EX_CANTCREAT, "cannot use the home directory %s: %s", acct->home, safe_strerror(hfd));
        _cleanup_close_ int dfd = safe_mkdirat(hfd, "/.ssh", 0700, acct->uid, acct->gid, true);
        if (dfd < 0) return step_fail(c, EX_CANTCREAT, "cannot use %s: %s", sshdir, safe_strerror(dfd));

        _cleanup_free_ char *old = NULL;
        _cleanup_close_ int fd = safe_openat(dfd, "/authorized_keys", O_RDONLY, 0);
        int r = fd;
        if (fd >= 0) r = safe_check(fd, SAFE_REGULAR | SAFE_ONE_LINK | SAFE_OWNED, acct->uid);
        if (r >= 0) r = read_fd_capped(fd, SSHKEY_FILE_MAX, &old, NULL);
        if (r == -EFBIG)
                return step_fail(c, EX_CANTCREAT, "%s is larger than 1 MiB: not rewritten, no key added; make it smaller, "
                                 "then run vsensor-init again", file);
        if (r < 0 && r != -ENOENT) return step_fail(c, EX_CANTCREAT, "cannot read %s: %s", file, safe_strerror(r));

        _cleanup_free_ char *content = strdup(old ? old : "");
        size_t added = 0;
        for (char *const *k = keys; content && *k; k++) {
                if (sshkey_present(content, *k)) continue;
                size_t l = strlen(content);
                char *nc = NULL;
                if (asprintf_safe(&nc, "%s%s%s\n", content, l && content[l - 1] != '\n' ? "\n" : "", *k) < 0) nc = NULL;
                free(content);
                content = nc;
                added++;
        }
        if (!content) return step_fail(c, EX_SOFTWARE, "out of memory");
        if (strlen(content) > SSHKEY_FILE_MAX)
                return step_fail(c, EX_CANTCREAT, "%s would be larger than 1 MiB with the new keys: not written", file);
        if (added > 0 || fd < 0)
                r = safe_write_at(dfd, "authorized_keys", content, strlen(content), 0600, acct->uid, acct->gid);
        else if (fchown(fd, acct->uid, acct->gid) < 0 || fchmod(fd, 0600) < 0)
                r = -errno;
        if (r < 0) return step_fail(c, EX_CANTCREAT, "cannot write %s: %s", file, safe_strerror(r));
        log_info("%zu SSH key(s) added to %s", added, file);
        return 0;
}

/* Field rules: what sshd will read first for PasswordAuthentication must say no.
 * An image that says otherwise before our drop-in, or does not read the drop-in
 * directory, is an image problem: exit 70 naming the file. */
static int check_sshd_reads_dropin(Context *c) {
        SshdSetting s = {0};
        _cleanup_free_ char *bad = NULL;
        int r = sshdconfig_find(c->opts->root, "PasswordAuthentication", &s, &bad);
        if (r == -ENOENT && streq_ptr(bad, SSHD_DIR "/sshd_config")) {
                log_debug("no %s/sshd_config: sshd is not installed, nothing else reads the drop-in", SSHD_DIR);
                return 0;
        }
        if (r < 0)
                return step_fail(c, EX_SOFTWARE, "cannot check what sshd reads: %s: %s", bad ? bad : SSHD_DIR "/sshd_config",
                                 safe_strerror(r));
        if (r == 0)
                return step_fail(c, EX_SOFTWARE, "sshd does not read %s: %s/sshd_config has no Include of sshd_config.d/*.conf "
                                 "before its first Match, so password logins stay at sshd's default; add the Include",
                                 SSHD_DROPIN, SSHD_DIR);
        if (streq(s.file, SSHD_DROPIN)) {
                sshd_setting_done(&s);
                return 0;
        }
        if (strcasecmp(s.value, "no") == 0) {
                log_info("%s:%u sets PasswordAuthentication no before %s", s.file, s.line, SSHD_DROPIN);
                sshd_setting_done(&s);
                return 0;
        }
        char q[300];
        r = step_fail(c, EX_SOFTWARE, "%s:%u sets PasswordAuthentication %s before %s: sshd keeps the first value, so "
                      "password logins would stay on; remove that line or make it \"no\"",
                      s.file, s.line, quoted(s.value, q, sizeof q), SSHD_DROPIN);
        sshd_setting_done(&s);
        return r;
}

static int write_sshd_dropin(Context *c, int rootfd) {
        static const char content[] = "# Written by vsensor-init: Azure asked for SSH keys only.\n"
                                      "PasswordAuthentication no\n";
        _cleanup_close_ int dfd = safe_mkdirat(rootfd, SSHD_DROPIN_DIR, 0755, SAFE_NO_OWNER, SAFE_NO_GROUP, false);
        int r = dfd < 0 ? dfd : safe_write_at(dfd, SSHD_DROPIN_NAME, content, sizeof content - 1, 0644, SAFE_NO_OWNER, SAFE_NO_GROUP);
        if (r < 0) return step_fail(c, EX_CANTCREAT, "cannot write %s: %s", SSHD_DROPIN, safe_strerror(r));
        if (unlinkat(dfd, SSHD_DROPIN_OLD_NAME, 0) == 0)
                log_info("removed %s/%s, the drop-in of an older version", SSHD_DROPIN_DIR, SSHD_DROPIN_OLD_NAME);
        if (check_sshd_reads_dropin(c) < 0) return STEP_RESULT_FAILED;
        log_info("password authentication off (%s)", SSHD_DROPIN);
        return 0;
}

int step_provision(Context *c) {
        if (!provisioning_by_agent(c)) {
                log_info("not provisioning: provisioning: %s%s", provisioning_mode_to_string(c->config.provisioning),
                         c->config.provisioning == PROVISIONING_AUTO ? " and waagent provisioned this instance" : "");
                return STEP_RESULT_SKIPPED;
        }
        if (!c->vm_id) return step_fail(c, EX_SOFTWARE, "no VM id: neither DMI nor IMDS gave one");
        int r = media_load(c);
        if (r < 0 && r != -ENOENT) return r;
        const OvfEnv *ovf = c->ovf;
        const ImdsInstance *md = c->imds;

        const char *hostname = md && md->computer_name ? md->computer_name : ovf ? ovf->hostname : NULL;
        const char *user = md && md->admin_username ? md->admin_username : ovf ? ovf->username : NULL;
        const char *user_source = md && md->admin_username ? "IMDS" : "ovf-env.xml";
        bool no_passwords = (md && md->disable_password_authentication) || (ovf && ovf->disable_ssh_password_auth);

        /* Every input is checked before anything changes. */
        char q[300];
        if (hostname && !hostname_valid(hostname))
                return step_fail(c, EX_DATAERR, "hostname \"%s\" from %s is not a valid host name", quoted(hostname, q, sizeof q),
                                 md && md->computer_name ? "IMDS" : "ovf-env.xml");
        if (user && check_user(c, user, user_source) < 0) return STEP_RESULT_FAILED;
        _cleanup_strv_free_ char **keys = NULL;
        if (user && collect_keys(c, &keys) < 0) return STEP_RESULT_FAILED;

        _cleanup_close_ int rootfd = safe_root_open(c->opts->root);
        if (rootfd < 0) return step_fail(c, EX_CANTCREAT, "cannot open the root %s: %s", c->opts->root ? c->opts->root : "/",
                                         strerror(-rootfd));
        if (hostname) {
                if (set_hostname(c, hostname) < 0) return STEP_RESULT_FAILED;
        } else
                log_warning("neither IMDS nor ovf-env.xml names a hostname: keeping the image's");

        if (user) {
                Account acct = {0};
                r = ensure_user(c, user, user_source, &acct);
                if (r >= 0) r = write_sudoers(c, rootfd, user);
                if (r >= 0 && keys) r = write_authorized_keys(c, rootfd, &acct, keys);
                free(acct.home);
                if (r < 0) return STEP_RESULT_FAILED;
                if (!keys) log_warning("no usable SSH public keys in IMDS or ovf-env.xml for %s", user);
        } else
                log_warning("neither IMDS nor ovf-env.xml names an admin user");

        if (no_passwords && write_sshd_dropin(c, rootfd) < 0) return STEP_RESULT_FAILED;

        /* The SSH host keys are the host-keys step's, after the ready report. */
        return STEP_RESULT_DONE;
}
