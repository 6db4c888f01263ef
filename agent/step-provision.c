/* provision: what Azure expects of a provisioning agent — hostname, the admin user
 * with sudo, its SSH keys, password logins off when asked, and fresh SSH host keys
 * the first time a VM id is provisioned. Inputs come from IMDS, with the
 * provisioning media (ovf-env.xml) as fallback. Under --root the host's tools are
 * given the root through their own options and the running system is not touched. */
#include <fcntl.h>
#include <glob.h>
#include <sys/stat.h>

#include "child.h"
#include "log.h"
#include "media.h"
#include "ovf.h"
#include "report.h"
#include "steps.h"

#define SUDOERS_DROPIN "/etc/sudoers.d/90-vsensor-init-users"
#define SSHD_DROPIN "/etc/ssh/sshd_config.d/50-vsensor-init.conf"

typedef struct Account {
        uid_t uid;
        gid_t gid;
        char *home;
} Account;

/* Same rule as useradd's default NAME_REGEX, so nothing odd reaches its argv. */
static bool username_valid(const char *u) {
        if (!u || !*u || strlen(u) > 32) return false;
        if (!(u[0] == '_' || (u[0] >= 'a' && u[0] <= 'z'))) return false;
        for (const char *p = u; *p; p++)
                if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_' || *p == '-')) return false;
        return true;
}

static bool hostname_valid(const char *h) {
        size_t n = h ? strlen(h) : 0;
        if (n == 0 || n > 63) return false;
        for (const char *p = h; *p; p++)
                if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '-'))
                        return false;
        return h[0] != '-' && h[n - 1] != '-';
}

/* Looks the user up in {root}/etc/passwd (not NSS: under --root it is another tree). */
static int account_lookup(const Context *c, const char *user, Account *ret) {
        _cleanup_free_ char *path = context_path(c, "/etc/passwd");
        _cleanup_free_ char *data = NULL;
        if (!path) return -ENOMEM;
        int r = read_file_capped(path, 8 * 1024 * 1024, &data, NULL);
        if (r < 0) return r;
        size_t ulen = strlen(user);
        for (char *line = data, *next; line && *line; line = next) {
                next = strchr(line, '\n');
                if (next) *next++ = 0;
                if (strncmp(line, user, ulen) != 0 || line[ulen] != ':') continue;
                /* name:pw:uid:gid:gecos:home:shell */
                char *f[7] = {0};
                size_t n = 0;
                for (char *s = line; n < 7; n++) {
                        f[n] = s;
                        s = strchr(s, ':');
                        if (!s) { n++; break; }
                        *s++ = 0;
                }
                if (n < 6) return -EBADMSG;
                ret->uid = (uid_t)strtoul(f[2], NULL, 10);
                ret->gid = (gid_t)strtoul(f[3], NULL, 10);
                ret->home = strdup(f[5]);
                return ret->home ? 0 : -ENOMEM;
        }
        return -ENOENT;
}

static int set_hostname(Context *c, const char *hostname) {
        _cleanup_free_ char *path = context_path(c, "/etc/hostname");
        _cleanup_free_ char *content = strjoin(hostname, "\n", NULL);
        if (!path || !content) return step_fail(c, EX_SOFTWARE, "out of memory");
        int r = write_file_atomic(path, content, strlen(content), 0644);
        if (r < 0) return step_fail(c, EX_CANTCREAT, "cannot write /etc/hostname: %s", strerror(-r));
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

static int ensure_user(Context *c, const char *user, Account *ret) {
        int r = account_lookup(c, user, ret);
        if (r == 0) {
                log_info("admin user %s exists", user);
                return 0;
        }
        if (r != -ENOENT) return step_fail(c, EX_SOFTWARE, "cannot read /etc/passwd: %s", strerror(-r));
        const char *argv[10] = {"/usr/sbin/useradd", "--create-home", "--shell", "/bin/bash", "--comment", "vSensor admin"};
        size_t n = 6;
        if (!isempty(c->opts->root)) {
                argv[n++] = "--root";
                argv[n++] = c->opts->root;
        }
        argv[n++] = user;
        argv[n] = NULL;
        r = run_tool(c, "useradd", argv);
        if (r < 0) return r;
        r = account_lookup(c, user, ret);
        if (r < 0) return step_fail(c, EX_SOFTWARE, "useradd succeeded but %s is not in /etc/passwd", user);
        log_info("created admin user %s (uid %u)", user, (unsigned)ret->uid);
        return 0;
}

static int write_sudoers(Context *c, const char *user) {
        _cleanup_free_ char *path = context_path(c, SUDOERS_DROPIN);
        _cleanup_free_ char *dir = path ? path_dirname(path) : NULL;
        _cleanup_free_ char *content = NULL;
        if (!dir || asprintf_safe(&content, "# Written by vsensor-init: the Azure admin user.\n%s ALL=(ALL) NOPASSWD:ALL\n", user) < 0)
                return step_fail(c, EX_SOFTWARE, "out of memory");
        int r = mkdir_p(dir, 0750);
        if (r >= 0) r = write_file_atomic(path, content, strlen(content), 0440);
        if (r < 0) return step_fail(c, EX_CANTCREAT, "cannot write %s: %s", SUDOERS_DROPIN, strerror(-r));
        /* A broken sudoers file locks the operator out of sudo: check it when we can. */
        if (access("/usr/sbin/visudo", X_OK) == 0) {
                const char *argv[] = {"/usr/sbin/visudo", "-c", "-q", "-f", path, NULL};
                if (run_tool(c, "visudo", argv) < 0) {
                        unlink(path);
                        return STEP_RESULT_FAILED;
                }
        }
        return 0;
}

/* Adds the keys not yet present; keys the operator added later are kept. */
static int write_authorized_keys(Context *c, const Account *acct, char *const *keys) {
        _cleanup_free_ char *home = context_path(c, acct->home);
        _cleanup_free_ char *sshdir = home ? strjoin(home, "/.ssh", NULL) : NULL;
        _cleanup_free_ char *file = sshdir ? strjoin(sshdir, "/authorized_keys", NULL) : NULL;
        if (!file) return step_fail(c, EX_SOFTWARE, "out of memory");
        _cleanup_free_ char *old = NULL;
        int r = read_file_capped(file, 1024 * 1024, &old, NULL);
        if (r < 0 && r != -ENOENT) return step_fail(c, EX_SOFTWARE, "cannot read %s: %s", file, strerror(-r));
        _cleanup_free_ char *content = strdup(old ? old : "");
        size_t added = 0;
        for (char *const *k = keys; content && *k; k++) {
                if (isempty(*k) || strstr(content, *k)) continue;
                size_t l = strlen(content);
                char *n = strjoin(content, l && content[l - 1] != '\n' ? "\n" : "", *k);
                free(content);
                content = n ? strjoin(n, "\n", NULL) : NULL;
                free(n);
                added++;
        }
        if (!content) return step_fail(c, EX_SOFTWARE, "out of memory");
        if (mkdir(sshdir, 0700) < 0 && errno != EEXIST)
                return step_fail(c, EX_CANTCREAT, "cannot create %s: %m", sshdir);
        r = write_file_atomic(file, content, strlen(content), 0600);
        if (r < 0) return step_fail(c, EX_CANTCREAT, "cannot write %s: %s", file, strerror(-r));
        if (chmod(sshdir, 0700) < 0 || chown(sshdir, acct->uid, acct->gid) < 0 || chown(file, acct->uid, acct->gid) < 0)
                return step_fail(c, EX_CANTCREAT, "cannot give %s to uid %u: %m", sshdir, (unsigned)acct->uid);
        log_info("%zu SSH key(s) added to %s/.ssh/authorized_keys", added, acct->home);
        return 0;
}

static int write_sshd_dropin(Context *c) {
        static const char content[] = "# Written by vsensor-init: Azure asked for SSH keys only.\n"
                                      "PasswordAuthentication no\n";
        _cleanup_free_ char *path = context_path(c, SSHD_DROPIN);
        _cleanup_free_ char *dir = path ? path_dirname(path) : NULL;
        if (!dir) return step_fail(c, EX_SOFTWARE, "out of memory");
        int r = mkdir_p(dir, 0755);
        if (r >= 0) r = write_file_atomic(path, content, sizeof content - 1, 0644);
        if (r < 0) return step_fail(c, EX_CANTCREAT, "cannot write %s: %s", SSHD_DROPIN, strerror(-r));
        log_info("password authentication off (%s)", SSHD_DROPIN);
        return 0;
}

/* A captured image carries the host keys of the VM it was captured from. */
static int regenerate_host_keys(Context *c) {
        if (access("/usr/bin/ssh-keygen", X_OK) < 0) {
                log_warning("ssh-keygen is not installed: SSH host keys not regenerated");
                return 0;
        }
        _cleanup_free_ char *pattern = context_path(c, "/etc/ssh/ssh_host_*");
        if (!pattern) return step_fail(c, EX_SOFTWARE, "out of memory");
        glob_t g = {0};
        if (glob(pattern, 0, NULL, &g) == 0)
                for (size_t i = 0; i < g.gl_pathc; i++) unlink(g.gl_pathv[i]);
        globfree(&g);
        _cleanup_free_ char *sshdir = context_path(c, "/etc/ssh");
        if (!sshdir || mkdir_p(sshdir, 0755) < 0) return step_fail(c, EX_CANTCREAT, "cannot create /etc/ssh");
        const char *argv[] = {"/usr/bin/ssh-keygen", "-A", "-f", isempty(c->opts->root) ? "/" : c->opts->root, NULL};
        int r = run_tool(c, "ssh-keygen", argv);
        if (r < 0) return r;
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
        bool no_passwords = (md && md->disable_password_authentication) || (ovf && ovf->disable_ssh_password_auth);
        _cleanup_strv_free_ char **keys = NULL;
        for (size_t i = 0; md && i < md->n_public_keys; i++)
                if (strv_push(&keys, md->public_keys[i].key_data) < 0) return step_fail(c, EX_SOFTWARE, "out of memory");
        for (char **k = ovf ? ovf->ssh_public_keys : NULL; k && *k; k++)
                if (strv_push(&keys, *k) < 0) return step_fail(c, EX_SOFTWARE, "out of memory");

        if (hostname) {
                if (!hostname_valid(hostname))
                        return step_fail(c, EX_DATAERR, "hostname \"%.64s\" from %s is not a valid host name", hostname,
                                         md && md->computer_name ? "IMDS" : "ovf-env.xml");
                if (set_hostname(c, hostname) < 0) return STEP_RESULT_FAILED;
        } else
                log_warning("neither IMDS nor ovf-env.xml names a hostname: keeping the image's");

        if (user) {
                if (!username_valid(user))
                        return step_fail(c, EX_DATAERR, "admin user name \"%.64s\" is not a valid user name", user);
                Account acct = {0};
                r = ensure_user(c, user, &acct);
                if (r >= 0) r = write_sudoers(c, user);
                if (r >= 0 && keys) r = write_authorized_keys(c, &acct, keys);
                free(acct.home);
                if (r < 0) return STEP_RESULT_FAILED;
                if (!keys) log_warning("no SSH public keys in IMDS or ovf-env.xml for %s", user);
        } else
                log_warning("neither IMDS nor ovf-env.xml names an admin user");

        if (no_passwords && write_sshd_dropin(c) < 0) return STEP_RESULT_FAILED;

        _cleanup_free_ char *done_for = provisioned_vm_id(c);
        if (!streq_ptr(done_for, c->vm_id) && regenerate_host_keys(c) < 0) return STEP_RESULT_FAILED;

        _cleanup_free_ char *marker = context_state_file(c, PROVISIONED_FILE);
        _cleanup_free_ char *dir = context_path(c, c->config.state_dir);
        _cleanup_free_ char *content = strjoin(c->vm_id, "\n", NULL);
        if (!marker || !dir || !content) return step_fail(c, EX_SOFTWARE, "out of memory");
        r = mkdir_p(dir, 0700);
        if (r >= 0) r = write_file_atomic(marker, content, strlen(content), 0600);
        if (r < 0) return step_fail(c, EX_CANTCREAT, "cannot write %s: %s", marker, strerror(-r));
        return STEP_RESULT_DONE;
}
