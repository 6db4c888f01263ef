#include "media.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/cdrom.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include "log.h"
#include "ovf.h"
#include "outcome.h"


/* Mounts dev read-only (UDF, then ISO 9660) on a fresh directory and reads
 * ovf-env.xml; unmounts and ejects. Only on the real system, never under --root. */
static int read_device(const char *dev, char **ret, size_t *ret_len) {
        char mnt[] = "/run/vsensor-init-media.XXXXXX";
        if (!mkdtemp(mnt)) return -errno;
        int r = -ENODEV;
        static const char *const fstypes[] = {"udf", "iso9660"};
        for (size_t i = 0; i < ELEMENTSOF(fstypes); i++)
                if (mount(dev, mnt, fstypes[i], MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) == 0) {
                        r = 0;
                        break;
                } else
                        r = -errno;
        if (r == 0) {
                _cleanup_free_ char *file = strjoin(mnt, "/ovf-env.xml", NULL);
                r = file ? read_file_capped(file, 256 * 1024, ret, ret_len) : -ENOMEM;
                umount2(mnt, MNT_DETACH);
                /* Ejecting tells Azure the media was consumed, as waagent does. */
                int fd = open(dev, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
                if (fd >= 0) {
                        (void)ioctl(fd, CDROMEJECT, 0);
                        close(fd);
                }
        }
        rmdir(mnt);
        return r;
}

/* Candidates for "auto": /dev/sr0 first, then every other CD-ROM device. */
static int read_auto(char **ret, size_t *ret_len, char **ret_where) {
        _cleanup_strv_free_ char **devs = NULL;
        if (strv_push(&devs, "/dev/sr0") < 0) return -ENOMEM;
        DIR *d = opendir("/sys/class/block");
        if (d) {
                struct dirent *de;
                while ((de = readdir(d)))
                        if (strncmp(de->d_name, "sr", 2) == 0 && !streq(de->d_name, "sr0")) {
                                _cleanup_free_ char *p = strjoin("/dev/", de->d_name, NULL);
                                if (p && strv_push(&devs, p) < 0) break;
                        }
                closedir(d);
        }
        for (char **dev = devs; *dev; dev++) {
                if (access(*dev, F_OK) < 0) continue;
                if (read_device(*dev, ret, ret_len) >= 0) {
                        *ret_where = strdup(*dev);
                        return 0;
                }
        }
        return -ENOENT;
}

static int read_media(Context *c, char **ret, size_t *ret_len, char **ret_where) {
        const char *media = c->config.ovf_media;
        if (streq(media, "auto")) {
                if (!isempty(c->opts->root)) return -ENOENT; /* never mount under --root */
                return read_auto(ret, ret_len, ret_where);
        }
        _cleanup_free_ char *p = context_path(c, media);
        if (!p) return -ENOMEM;
        struct stat st;
        if (stat(p, &st) < 0) return -errno;
        if (S_ISBLK(st.st_mode)) {
                if (!isempty(c->opts->root)) return -ENOENT;
                int r = read_device(p, ret, ret_len);
                if (r >= 0) *ret_where = TAKE_PTR(p);
                return r;
        }
        _cleanup_free_ char *file = strjoin(p, "/ovf-env.xml", NULL);
        if (!file) return -ENOMEM;
        int r = read_file_capped(file, 256 * 1024, ret, ret_len);
        if (r >= 0) *ret_where = TAKE_PTR(file);
        return r;
}

static int keep_copy(Context *c, const char *xml, size_t len) {
        _cleanup_free_ char *stripped = NULL;
        size_t slen = 0;
        int r = ovf_strip_secrets(xml, len, &stripped, &slen);
        if (r < 0) return r;
        _cleanup_free_ char *dir = context_path(c, c->config.state_dir);
        _cleanup_free_ char *kept = context_state_file(c, KEPT_OVF_FILE);
        if (!dir || !kept) return -ENOMEM;
        r = mkdir_p(dir, 0700);
        if (r < 0) return r;
        return write_file_atomic(kept, stripped, slen, 0600);
}

int media_load(Context *c) {
        if (c->ovf) return 0;
        _cleanup_free_ char *xml = NULL, *where = NULL;
        size_t len = 0;
        bool kept = false;
        int r = read_media(c, &xml, &len, &where);
        if (r < 0) {
                if (r != -ENOENT) log_warning("cannot read the provisioning media %s: %s", c->config.ovf_media, strerror(-r));
                /* The copy kept by an earlier run of this VM. */
                if (!c->vm_id || !streq_ptr(c->vm_id, c->state->vm_id)) return -ENOENT;
                where = context_state_file(c, KEPT_OVF_FILE);
                if (!where) return step_fail(c, EX_SOFTWARE, "out of memory");
                r = read_file_capped(where, 256 * 1024, &xml, &len);
                if (r < 0) return -ENOENT;
                kept = true;
        }
        char err[256] = "";
        r = ovf_parse(xml, len, &c->ovf, err, sizeof err);
        if (r < 0) {
                wipe(xml, len);
                return step_fail(c, EX_DATAERR, "%s: %s", where, err);
        }
        log_info("provisioning media: %s", where);
        /* Azure's reprovisioning protocol (report ready into a pool, then wait for the
         * real ovf-env.xml) is not implemented: provisioning with the pool's placeholder
         * document would report a wrongly named instance ready. Say so and stop. */
        if (c->ovf->preprovisioned_vm) {
                wipe(xml, len);
                return step_fail(c, EX_DATAERR,
                                 "%s: PreprovisionedVm is true: pre-provisioned VMs (Azure's pool reprovisioning) are not "
                                 "supported by vsensor-init; deploy the scale set without pre-provisioning", where);
        }
        if (c->ovf->password_nonempty)
                log_warning("%s sets a UserPassword: vsensor-init never sets passwords; the admin user logs in with "
                            "its SSH keys only (PasswordAuthentication no)", where);
        if (!kept) {
                r = keep_copy(c, xml, len);
                if (r < 0) log_warning("cannot keep a copy of ovf-env.xml: %s", strerror(-r));
        }
        wipe(xml, len);
        return 0;
}

void media_forget_kept(const Context *c) {
        static const char *const kept[] = {KEPT_CUSTOM_DATA_FILE, KEPT_OVF_FILE};
        for (size_t i = 0; i < ELEMENTSOF(kept); i++) {
                _cleanup_free_ char *p = context_state_file(c, kept[i]);
                if (p && unlink(p) < 0 && errno != ENOENT) log_warning("cannot remove %s: %m", p);
        }
}

int media_custom_data(Context *c, char **ret, size_t *ret_len) {
        int r = media_load(c);
        if (r < 0) return r;
        if (c->ovf->custom_data_error) return -EBADMSG;
        if (!c->ovf->custom_data || c->ovf->custom_data_len == 0) return -ENOENT;
        char *copy = malloc(c->ovf->custom_data_len + 1);
        if (!copy) return step_fail(c, EX_SOFTWARE, "out of memory");
        memcpy(copy, c->ovf->custom_data, c->ovf->custom_data_len);
        copy[c->ovf->custom_data_len] = 0;
        *ret = copy;
        *ret_len = c->ovf->custom_data_len;
        return 0;
}
