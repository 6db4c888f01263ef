/* register: connect the vSensor to the Darktrace master with the push token. */
#include "child.h"
#include "preflight.h"
#include "secrets.h"
#include "steps.h"

int step_register(Context *c) {
        const CustomData *d = c->custom_data;
        _cleanup_free_ char *address = customdata_master_address(d);
        if (!address) return step_fail(c, EX_SOFTWARE, "out of memory");
        const char *args[] = {secret_reveal(d->push_token), address, d->proxy ? secret_reveal(d->proxy) : NULL, NULL};
        int r = helper_run(c, "set_pushtoken.sh", args);
        /* The helper talks to the master: whether the network lets it is the first question. */
        if (r == STEP_RESULT_FAILED) preflight_annotate_failure(c, "master");
        /* Key Vault: refresh re-registers when the push token gets a new version. */
        if (r == STEP_RESULT_DONE && secrets_record_applied(c, CUSTOMDATA_SECRET_PUSH_TOKEN) < 0)
                return step_fail(c, EX_SOFTWARE, "out of memory");
        return r;
}
