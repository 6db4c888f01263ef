/* hmac: the token osSensors authenticate with. */
#include "child.h"
#include "steps.h"

int step_hmac(Context *c) {
        const char *args[] = {secret_reveal(c->custom_data->hmac_token), NULL};
        return helper_run(c, "set_ossensor_hmac.sh", args);
}
