/* ephemeral: a scale-set member may be deleted at any time; the vSensor is told so. */
#include "child.h"
#include "log.h"
#include "steps.h"

int step_ephemeral(Context *c) {
        if (!c->custom_data->ephemeral) {
                log_info("ephemeral: false in the custom data; leaving the vSensor's setting alone");
                return STEP_RESULT_SKIPPED;
        }
        const char *args[] = {"1", NULL};
        return helper_run(c, "set_ephemeral.sh", args);
}
