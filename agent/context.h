/* The agent's run context: options from the command line, the configuration, the
 * inputs gathered by the load and metadata steps, and the outcome of the run. */
#pragma once

#include <stdbool.h>
#include <sysexits.h>

#include "config.h"
#include "customdata.h"
#include "imds.h"
#include "log.h"
#include "state.h"

typedef enum Command {
        COMMAND_RUN,
        COMMAND_REPAIR,
        COMMAND_STATUS,
        COMMAND_VALIDATE,
        COMMAND_SHOW_CONFIG,
        COMMAND_CLEAN,
        COMMAND_VERSION,
        COMMAND_PREFLIGHT,           /* what the network blocks (agent/preflight.c) */
        COMMAND_REFRESH,             /* Key Vault secrets: re-apply those whose version changed */
        COMMAND_WATCH,
} Command;

typedef struct Options {
        Command command;
        const char *root;            /* --root, NULL for the real system */
        const char *config_file;     /* --config, replaces the default files */
        const char *custom_data;     /* --custom-data FILE or "-" */
        const char *validate_file;   /* validate [FILE|-] */
        bool repair_all;             /* repair --all */
        bool json;                   /* status --json, preflight --json */
        int verbosity;               /* -v +1, -q -1 */
} Options;

typedef struct Context {
        const Options *opts;
        Config config;
        char *state_path;            /* {state_dir}/state.json under root */
        State *state;

        char *vm_id;                 /* DMI, else IMDS compute.vmId */
        CustomData *custom_data;     /* set by load when valid */
        char *custom_data_source;    /* where it was found, for logs */
        ImdsInstance *imds;          /* set by metadata */
        struct OvfEnv *ovf;          /* provisioning media, when found */

        bool forced;                 /* repair: run steps whatever the state says */
        bool force_provisioning;     /* repair --all */
        bool reported_ready;         /* this run (or an earlier one) told Azure "ready" */
        bool failure_reported;       /* this run told Azure "ProvisioningFailed" */
        bool wireserver_unreachable; /* a report timed out in this run */

        /* A failure that stops the vSensor steps but lets OS provisioning go on
         * (invalid custom data): the run reports it and exits with this code. */
        int deferred_exit;
        char *deferred_error;

        /* The outcome of the failing step. */
        int exit_code;
        char *error;

        /* Key Vault (issue 12): the version of each referenced secret that load fetched
         * (NULL for literals), recorded in state by the step that applies it. */
        char *secret_versions[_CUSTOMDATA_SECRET_MAX];
} Context;

/* The agent's own files in {state_dir}: the names are used by run, clean and status. */
#define STATE_FILE "state.json"
#define KEPT_CUSTOM_DATA_FILE "custom-data"   /* the decoded custom data, 0600 */
#define KEPT_OVF_FILE "ovf-env.xml"           /* without UserPassword and CustomData */
#define PROVISIONED_FILE "provisioned"        /* the VM id that was provisioned */
#define LOCK_FILE "lock"                      /* the run lock (lib/state.c) */
#define WATCH_STATE_FILE "scheduled-events.json" /* what the watcher handled (lib/schedevents.h) */
#define WATCH_LOCK_FILE "watch.lock"          /* one watcher at a time */

/* Path under --root; NULL on OOM. */
char *context_path(const Context *c, const char *path);
/* {state_dir}/name under --root; NULL on OOM. */
char *context_state_file(const Context *c, const char *name);
/* The console log level -v and -q ask for (debug, warning, else info): the same for
 * every command that opens the log. */
LogLevel options_console_level(const Options *o);
/* Environment for children: minimal PATH/LANG/HOME plus VSENSOR_INIT_ROOT under --root. */
const char *const *context_child_env(const Context *c);
