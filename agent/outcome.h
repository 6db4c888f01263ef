/* How a step records its outcome: the values a step's run function returns, and
 * step_fail() for the failure's exit code and message. Used by the steps and by the
 * code they call (reporting, children, media); depends on the context only. */
#pragma once

#include "context.h"

/* What a step's run function returns. Failures are set with step_fail(). */
enum {
        STEP_RESULT_DONE = 0,
        STEP_RESULT_SKIPPED = 1,   /* precondition did not hold: nothing to do */
        STEP_RESULT_FAILED = -1,
        /* Failed, but OS provisioning goes on (invalid custom data); the error is in
         * c->deferred_error and the run ends with c->deferred_exit. */
        STEP_RESULT_DEFERRED = 2,
};

/* Records the failure of the current step: exit code and message (redacted before
 * it is stored). Returns STEP_RESULT_FAILED. */
int step_fail(Context *c, int exit_code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
