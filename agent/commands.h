/* The commands other than run/repair. Each returns the process exit code. */
#pragma once

#include "context.h"

int cmd_status(Context *c);
int cmd_validate(const Options *o);
/* validate with the agent configuration's key_vault.host_suffixes. */
int cmd_validate_with(const Options *o, const Config *config);
/* refresh (agent/refresh.c): re-read the Key Vault references of the kept custom data
 * (or --custom-data) and re-run the step of each secret whose version changed. */
int cmd_refresh(Context *c);
int cmd_show_config(Context *c);
int cmd_clean(Context *c);
int cmd_run(Context *c);
/* watch: Scheduled Events until SIGTERM/SIGINT (agent/watch.c). */
int cmd_watch(Context *c);
/* Removes what an interrupted run left in the state directory: temporary files of atomic
 * writes (NAME.tmp.PID; custom-data's holds secrets) and installer downloads. Call with
 * the run lock held. Returns how many were removed; each is passed to removed (may be NULL). */
int remove_interrupted_files(const char *state_dir, void (*removed)(const char *path));
