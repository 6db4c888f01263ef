/* metadata: Azure IMDS instance metadata. Needed to provision (admin user, keys,
 * hostname) and for the VM id when DMI has none; read on the first run in every
 * provisioning mode, and again only while provisioning is not done. */
#include "imds.h"
#include "log.h"
#include "media.h"
#include "report.h"
#include "retry-log.h"
#include "steps.h"

static bool metadata_needed(const Context *c) {
        if (!c->vm_id || state_get(c->state, "metadata") != STEP_DONE) return true;
        if (c->force_provisioning) return true;
        if (!provisioning_by_agent(c)) return false;
        return state_get(c->state, "provision") != STEP_DONE || state_get(c->state, "report-ready") != STEP_DONE;
}

int metadata_fetch(Context *c) {
        if (c->imds) return 0;   /* once per run */
        char err[256] = "";
        ImdsClient ic = {
                .base_url = c->config.imds_url,
                .deadline_ms = (int64_t)c->config.imds_deadline * 1000,
                .notify = retry_log_notify,
                .userdata = (void *)"IMDS",
        };
        int r = imds_fetch_instance(&ic, &c->imds, err, sizeof err);
        if (r == -ETIMEDOUT)
                return step_fail(c, EX_UNAVAILABLE, "IMDS (%s) did not answer within %d s: %s", c->config.imds_url,
                                 c->config.imds_deadline, err);
        if (r < 0) return step_fail(c, EX_UNAVAILABLE, "IMDS instance metadata: %s", err);
        /* A malformed optional field costs only that field (DESIGN, Field rules). */
        if (c->imds->ignored) log_warning("IMDS instance metadata: ignored what is malformed: %s", c->imds->ignored);

        if (!c->vm_id) {
                if (isempty(c->imds->vm_id)) {
                        if (provisioning_by_agent(c))
                                return step_fail(c, EX_SOFTWARE, "no VM id: DMI product_uuid is unreadable and IMDS has no usable vmId");
                } else {
                        c->vm_id = strdup(c->imds->vm_id);
                        if (!c->vm_id) return step_fail(c, EX_SOFTWARE, "out of memory");
                        if (c->state->vm_id && !streq(c->state->vm_id, c->vm_id)) {
                                log_notice("new VM id %s (state was for %s): starting over", c->vm_id, c->state->vm_id);
                                /* As for a new DMI id: the copies kept for the other VM must not serve. */
                                media_forget_kept(c);
                                if (state_reset(c->state, c->vm_id) < 0) return step_fail(c, EX_SOFTWARE, "out of memory");
                        } else if (state_set_vm_id(c->state, c->vm_id) < 0)
                                return step_fail(c, EX_SOFTWARE, "out of memory");
                }
        }
        return 0;
}

int step_metadata(Context *c) {
        if (!metadata_needed(c)) {
                log_debug("instance metadata not needed: provisioning is done");
                return STEP_RESULT_SKIPPED;
        }
        int r = metadata_fetch(c);
        if (r < 0) return r;
        log_info("instance %s (VM id %s) of scale set %s in %s", c->imds->name ? c->imds->name : "?",
                 c->vm_id ? c->vm_id : "?", c->imds->vm_scale_set_name ? c->imds->vm_scale_set_name : "-",
                 c->imds->location ? c->imds->location : "?");
        return STEP_RESULT_DONE;
}
