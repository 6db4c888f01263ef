/* report-ready: tell Azure the instance is provisioned (early mode), or, when the
 * custom data is invalid, that provisioning failed and why. Without a report the
 * scale set marks the instance failed (OSProvisioningTimedOut). */
#include "log.h"
#include "report.h"
#include "steps.h"

int step_report_ready(Context *c) {
        if (!provisioning_by_agent(c)) {
                log_info("not reporting: provisioning: %s%s", provisioning_mode_to_string(c->config.provisioning),
                         c->config.provisioning == PROVISIONING_AUTO ? " and waagent provisioned this instance" : "");
                return STEP_RESULT_SKIPPED;
        }
        if (c->deferred_exit) {
                report_failure(c, c->deferred_error); /* names the bad key and its line */
                return step_fail(c, c->deferred_exit, "%s", c->deferred_error);
        }
        if (c->config.report_ready == REPORT_READY_LATE) {
                log_info("report_ready: late; the finish step reports ready once the vSensor is configured");
                return STEP_RESULT_SKIPPED;
        }
        return report_ready(c) < 0 ? STEP_RESULT_FAILED : STEP_RESULT_DONE;
}
