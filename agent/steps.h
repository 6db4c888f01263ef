/* The step table and the functions each step is made of. The table in steps.c is the
 * only place that says the order. */
#pragma once

#include "context.h"
#include "outcome.h"

typedef enum StepKind {
        STEP_INPUT,          /* load, metadata: gather inputs, no effect on the machine */
        STEP_PROVISIONING,   /* provision, report-ready, host-keys: OS provisioning as Azure expects */
        STEP_VSENSOR,        /* wait-apt .. os-updates: the vSensor bootstrap */
        STEP_LEGACY,         /* legacy-script: replaces the vSensor steps for "#!" custom data */
        STEP_FINAL,          /* finish */
} StepKind;

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

/* Reads the IMDS instance document into c->imds, once per run, and learns the VM id
 * from it when DMI had none (a new id starts the state over). load calls it early
 * when only IMDS can say whether the kept custom data is this VM's. Returns 0 or a
 * step failure. */
int metadata_fetch(Context *c);

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
int step_verify(Context *c);
int step_legacy_script(Context *c);
int step_finish(Context *c);
