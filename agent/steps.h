/* The step table and the functions each step is made of. The table in steps.c is the
 * only place that says the order. */
#pragma once

#include "context.h"

typedef enum StepKind {
        STEP_INPUT,          /* load, metadata: gather inputs, no effect on the machine */
        STEP_PROVISIONING,   /* provision, report-ready, host-keys: OS provisioning as Azure expects */
        STEP_VSENSOR,        /* wait-apt .. os-updates: the vSensor bootstrap */
        STEP_LEGACY,         /* legacy-script: replaces the vSensor steps for "#!" custom data */
        STEP_FINAL,          /* finish */
} StepKind;

/* What a step's run function returns. Failures are set with step_fail(). */
enum {
        STEP_RESULT_DONE = 0,
        STEP_RESULT_SKIPPED = 1,   /* precondition did not hold: nothing to do */
        STEP_RESULT_FAILED = -1,
        /* Failed, but OS provisioning goes on (invalid custom data); the error is in
         * c->deferred_error and the run ends with c->deferred_exit. */
        STEP_RESULT_DEFERRED = 2,
};

typedef struct Step {
        const char *name;
        StepKind kind;
        /* Runs the step: checks its precondition, acts, verifies the effect. */
        int (*run)(Context *c);
        const char *what;          /* one line for STATUS= and logs */
} Step;

extern const Step step_table[];
extern const size_t step_table_size;
const Step *step_find(const char *name);

/* Records the failure of the current step: exit code and message (redacted before
 * it is stored). Returns STEP_RESULT_FAILED. */
int step_fail(Context *c, int exit_code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Runs the table for `run` and `repair`. Returns the process exit code. */
int steps_run(Context *c);

/* Whether the success marker exists (finish runs again when it was removed). */
bool finish_marker_present(const Context *c);

/* The steps. */
int step_load(Context *c);
int step_metadata(Context *c);
int step_provision(Context *c);
int step_report_ready(Context *c);
int step_host_keys(Context *c);
int step_wait_apt(Context *c);
int step_install(Context *c);
int step_register(Context *c);
int step_hmac(Context *c);
int step_pcap(Context *c);
int step_network(Context *c);
int step_ephemeral(Context *c);
int step_os_updates(Context *c);
int step_legacy_script(Context *c);
int step_finish(Context *c);
