/* hmac: the token osSensors authenticate with. */
#include "child.h"
#include "secrets.h"
#include "steps.h"

int step_hmac(Context *c) {
        const char *args[] = {secret_reveal(c->custom_data->hmac_token), NULL};
        int r = helper_run(c, "set_ossensor_hmac.sh", args);
        /* Key Vault: refresh sets it again when the HMAC token gets a new version. */
        if (r == STEP_RESULT_DONE && secrets_record_applied(c, CUSTOMDATA_SECRET_HMAC_TOKEN) < 0)
                return step_fail(c, EX_SOFTWARE, "out of memory");
        return r;
}
