/* Children of the agent: the installer, the Darktrace helpers, a legacy script. Argv
 * arrays only, a minimal environment, output captured into the log (redacted), and
 * the command line logged with every secret hidden. */
#pragma once

#include "context.h"
#include "run.h"

/* Runs argv once; output goes to the log under `label`. Returns 0 when it ran (see
 * ret), -errno when it could not be started. */
int child_run(Context *c, const char *label, const char *const *argv, int timeout_s, RunResult *ret);

/* Runs the Darktrace helper {helpers_dir}/name with args (NULL-terminated), retrying
 * a failure with backoff up to helpers.attempts tries in total. Returns
 * STEP_RESULT_DONE, or a step failure with exit 75 when the tries are used up. */
int helper_run(Context *c, const char *name, const char *const *args);
