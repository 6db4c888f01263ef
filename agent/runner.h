/* The runner of the step table (agent/runner.c). */
#pragma once

#include "context.h"

/* Runs the table for `run` and `repair`. Returns the process exit code. */
int steps_run(Context *c);
