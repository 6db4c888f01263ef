/* os-updates: unattended OS upgrades, as Darktrace's deployment configures them. */
#include <sys/stat.h>

#include "log.h"
#include "steps.h"

#define AUTO_UPGRADES "/etc/apt/apt.conf.d/20auto-upgrades"
static const char auto_upgrades[] =
        "// Written by vsensor-init (custom data os_updates: true).\n"
        "APT::Periodic::Update-Package-Lists \"1\";\n"
        "APT::Periodic::Unattended-Upgrade \"1\";\n";

int step_os_updates(Context *c) {
        if (!c->custom_data->os_updates) {
                log_info("os_updates: false in the custom data; leaving the image's setting alone");
                return STEP_RESULT_SKIPPED;
        }
        _cleanup_free_ char *path = context_path(c, AUTO_UPGRADES);
        _cleanup_free_ char *dir = path ? path_dirname(path) : NULL;
        if (!dir) return step_fail(c, EX_SOFTWARE, "out of memory");
        int r = mkdir_p(dir, 0755);
        if (r >= 0) r = write_file_atomic(path, auto_upgrades, sizeof auto_upgrades - 1, 0644);
        if (r < 0) return step_fail(c, EX_CANTCREAT, "cannot write %s: %s", AUTO_UPGRADES, strerror(-r));

        /* Verify: the file says what was meant. */
        _cleanup_free_ char *back = NULL;
        r = read_file_capped(path, 4096, &back, NULL);
        if (r < 0 || !streq(back, auto_upgrades))
                return step_fail(c, EX_CANTCREAT, "%s does not hold what was written", AUTO_UPGRADES);
        log_info("unattended upgrades enabled in %s", AUTO_UPGRADES);
        return STEP_RESULT_DONE;
}
