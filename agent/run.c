/* The run and repair commands: open the log, take the run lock, load the state keyed
 * on the VM id, stop at once when everything is done, else walk the step table. */
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "commands.h"
#include "log.h"
#include "media.h"
#include "notify.h"
#include "runner.h"
#include "safefile.h"
#include "steps.h"
#include "vmid.h"

int remove_interrupted_files(const char *state_dir, void (*removed)(const char *path)) {
        DIR *d = opendir(state_dir);
        if (!d) return 0;
        int n = 0;
        struct dirent *de;
        while ((de = readdir(d))) {
                if (!strstr(de->d_name, ".tmp.") && strncmp(de->d_name, "installer.", 10) != 0) continue;
                _cleanup_free_ char *p = strjoin(state_dir, "/", de->d_name);
                if (p && unlink(p) == 0) {
                        n++;
                        if (removed) removed(p);
                }
        }
        closedir(d);
        return n;
}

static void log_removed(const char *path) {
        log_info("removed %s, left by an interrupted run", path);
}

/* A log line that could not be written (disk full) fails the run with 73 and says so:
 * the operator's record of the bootstrap is incomplete. */
static int check_log_file(const char *log_path, int code) {
        int r = log_file_error();
        if (r == 0) return code;
        log_error("cannot write the log file %s: %s", log_path, strerror(-r));
        return code == EX_OK ? EX_CANTCREAT : code;
}

/* Everything was done for this VM and the marker is there: nothing to do. */
static bool run_is_noop(Context *c) {
        if (c->opts->command != COMMAND_RUN || c->opts->custom_data) return false;
        if (!c->vm_id || !streq_ptr(c->vm_id, c->state->vm_id)) return false;
        return state_get(c->state, "finish") == STEP_DONE && finish_marker_present(c);
}

int cmd_run(Context *c) {
        _cleanup_free_ char *log_path = context_path(c, c->config.log_file);
        if (!log_path) return EX_SOFTWARE;
        LogOptions lo = {
                .root = c->opts->root,
                .file = c->config.log_file,
                .console_level = options_console_level(c->opts),
                /* Under --root the agent never touches the running system. */
                .journal = isempty(c->opts->root),
        };
        log_set_step("start");
        int r = log_open(&lo);
        if (r < 0) {
                log_error("cannot open the log file %s: %s", log_path, safe_strerror(r));
                return EX_CANTCREAT;
        }

        _cleanup_free_ char *state_dir = context_path(c, c->config.state_dir);
        if (!state_dir) return EX_SOFTWARE;
        pid_t holder = 0;
        _cleanup_close_ int lock_fd = state_lock_at(c->opts->root, c->config.state_dir, &holder);
        if (lock_fd == -EWOULDBLOCK) {
                if (holder > 0)
                        log_error("another vsensor-init run (pid %ld) is in progress; not starting a second one", (long)holder);
                else
                        log_error("another vsensor-init run is in progress; not starting a second one");
                return EX_TEMPFAIL;
        }
        if (lock_fd == -EACCES || lock_fd == -EPERM) {
                /* Another user could have replaced the kept custom data that repair runs as root. */
                log_error("the state directory %s is %s: refusing to use it; check its files, then "
                          "chown root:root and chmod 0700 it",
                          state_dir, lock_fd == -EACCES ? "writable by other users" : "owned by another user");
                return EX_CANTCREAT;
        }
        if (lock_fd < 0) {
                log_error("cannot take the run lock in %s: %s", state_dir, safe_strerror(lock_fd));
                return EX_CANTCREAT;
        }

        remove_interrupted_files(state_dir, log_removed);
        r = state_load(c->state_path, &c->state);
        if (r == -EBADMSG) {
                log_error("%s is not a valid state file; move it away to start over", c->state_path);
                return EX_SOFTWARE;
        }
        if (r < 0) {
                log_error("cannot read %s: %s", c->state_path, strerror(-r));
                return EX_SOFTWARE;
        }

        r = vmid_read(c->opts->root, &c->vm_id);
        if (r < 0) log_debug("no VM id from DMI (%s); IMDS will tell", strerror(-r));
        r = 0; /* no DMI id is not an error: the metadata step takes IMDS compute.vmId */
        if (c->vm_id && c->state->vm_id && !streq(c->vm_id, c->state->vm_id)) {
                /* A captured image booting as a new VM: everything is to be done again. */
                log_notice("new VM id %s (state was for %s): starting from the beginning", c->vm_id, c->state->vm_id);
                media_forget_kept(c);
                r = state_reset(c->state, c->vm_id);
        } else if (c->vm_id && !c->state->vm_id)
                r = state_set_vm_id(c->state, c->vm_id);
        if (r < 0) return EX_SOFTWARE;

        if (run_is_noop(c)) {
                log_info("already configured (VM id %s); nothing to do", c->vm_id);
                notify_ready();
                return check_log_file(log_path, EX_OK);
        }

        c->forced = c->opts->command == COMMAND_REPAIR;
        c->force_provisioning = c->forced && c->opts->repair_all;
        c->reported_ready = state_get(c->state, "report-ready") == STEP_DONE;
        log_notice("vsensor-init %s %s%s", VERSION, c->opts->command == COMMAND_REPAIR ? "repair" : "run",
                   c->opts->repair_all ? " --all" : "");
        return check_log_file(log_path, steps_run(c));
}
