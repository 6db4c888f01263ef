/* finish: the success marker Darktrace's tooling looks for, the late ready report,
 * and READY=1 to systemd. */
#include <sys/stat.h>

#include "log.h"
#include "notify.h"
#include "report.h"
#include "steps.h"

bool finish_marker_present(const Context *c) {
        _cleanup_free_ char *p = context_path(c, c->config.success_marker);
        return p && access(p, F_OK) == 0;
}

int step_finish(Context *c) {
        _cleanup_free_ char *path = context_path(c, c->config.success_marker);
        _cleanup_free_ char *dir = path ? path_dirname(path) : NULL;
        _cleanup_free_ char *content = NULL;
        char ts[40];
        format_rfc3339(now_realtime_ms(), ts, sizeof ts);
        if (!dir || asprintf_safe(&content, "vsensor-init %s vm_id=%s completed=%s\n", VERSION,
                                  c->vm_id ? c->vm_id : "unknown", ts) < 0)
                return step_fail(c, EX_SOFTWARE, "out of memory");
        int r = mkdir_p(dir, 0755);
        if (r >= 0) r = write_file_atomic(path, content, strlen(content), 0644);
        if (r < 0) return step_fail(c, EX_CANTCREAT, "cannot write %s: %s", c->config.success_marker, strerror(-r));

        if (c->config.report_ready == REPORT_READY_LATE && provisioning_by_agent(c) && !c->reported_ready) {
                r = report_ready(c);
                if (r < 0) return r;
        }
        notify_ready();
        log_info("success marker %s written", c->config.success_marker);
        return STEP_RESULT_DONE;
}
