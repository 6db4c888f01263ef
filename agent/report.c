#include "report.h"

#include "kvp.h"
#include "log.h"
#include "notify.h"
#include "retry-log.h"
#include "outcome.h"
#include "wireserver.h"

#define AGENT_NAME "vsensor-init/" VERSION

bool provisioning_by_agent(const Context *c) {
        switch (c->config.provisioning) {
        case PROVISIONING_AGENT:
                return true;
        case PROVISIONING_AUTO: {
                /* waagent leaves this file when it provisioned the instance itself. */
                _cleanup_free_ char *dir = context_path(c, c->config.waagent_dir);
                _cleanup_free_ char *f = dir ? strjoin(dir, "/provisioned", NULL) : NULL;
                return !f || access(f, F_OK) < 0;
        }
        default:
                return false;
        }
}

/* The KVP record goes first and is on disk before the wireserver hears anything:
 * it is what Azure's diagnostics read when the wireserver report never arrives. */
static void write_kvp(Context *c, bool success, const char *reason) {
        _cleanup_free_ char *pool = context_path(c, c->config.kvp_pool);
        _cleanup_free_ char *value = kvp_provisioning_report(success, reason, VERSION, c->vm_id ? c->vm_id : "unknown",
                                                             now_realtime_ms());
        if (!pool || !value) return;
        int64_t boot = 0;
        if (kvp_boot_time(&boot) >= 0 && kvp_truncate_if_stale(pool, boot) > 0)
                log_info("%s held reports of an earlier boot: truncated", c->config.kvp_pool);
        int r = kvp_append(pool, "PROVISIONING_REPORT", value);
        if (r < 0) log_warning("cannot write the KVP report to %s: %s", c->config.kvp_pool, strerror(-r));
}

static int report(Context *c, bool ready, const char *description, char *err, size_t errsize) {
        write_kvp(c, ready, description);
        WireserverClient wc = {
                .base_url = c->config.wireserver_url,
                .deadline_ms = (int64_t)c->config.wireserver_deadline * 1000,
                .agent_name = AGENT_NAME,
                .notify = retry_log_notify,
                .userdata = (void *)"wireserver",
        };
        notify_extend_timeout(c->config.wireserver_deadline);
        int r = wireserver_report(&wc, ready, description, NULL, err, errsize);
        if (r == -ETIMEDOUT) c->wireserver_unreachable = true;
        return r;
}

int report_ready(Context *c) {
        char err[256] = "";
        int r = report(c, true, NULL, err, sizeof err);
        if (r < 0)
                return step_fail(c, EX_UNAVAILABLE, "the wireserver (%s) did not take the ready report within %d s: %s",
                                 c->config.wireserver_url, c->config.wireserver_deadline, err);
        c->reported_ready = true;
        log_info("reported ready to Azure");
        /* READY=1 is not sent here: sshd is ordered after this unit and the host keys
         * come after the report (host-keys, or finish in report_ready: late). */
        return 0;
}

void report_failure(Context *c, const char *reason) {
        if (c->reported_ready || c->failure_reported || !provisioning_by_agent(c)) return;
        c->failure_reported = true;
        char description[512], err[256] = "";
        _cleanup_free_ char *clean = secret_redact(reason ? reason : "provisioning failed");
        snprintf(description, sizeof description, "vsensor-init: %s", clean ? clean : "provisioning failed");
        if (c->wireserver_unreachable) {
                /* It just ignored us for a whole deadline: don't wait another one. */
                write_kvp(c, false, description);
                log_error("not reporting the failure to the wireserver: it did not answer within %d s",
                          c->config.wireserver_deadline);
                return;
        }
        int r = report(c, false, description, err, sizeof err);
        if (r < 0)
                log_error("could not report the failure to Azure either: %s", err);
        else
                log_notice("reported ProvisioningFailed to Azure: %s", description);
}
