/* state: the record of what the agent has done, {state_dir}/state.json, written
 * atomically (0600, directory 0700), and the run lock that keeps two runs apart.
 *
 * state.json:
 *   {"version": 1, "vm_id": "…", "boot_id": "…",
 *    "steps": [{"name": "install", "state": "done", "attempts": 1, "error": null,
 *               "updated": "2026-11-28T00:04:10.123Z"}, …]}
 * Steps not present are pending. Unknown fields are ignored on load; a file that does
 * not parse is an error (-EBADMSG) the agent reports, never silently replaced. */
#pragma once

#include <stdbool.h>
#include "util.h"

typedef enum StepState {
        STEP_PENDING,
        STEP_DONE,
        STEP_FAILED,
        STEP_SKIPPED,
        _STEP_STATE_MAX,
        _STEP_STATE_INVALID = -EINVAL,
} StepState;

typedef struct StepRecord {
        char *name;
        StepState state;
        int attempts;
        char *error;          /* NULL when none; never holds a secret (callers redact) */
        char *updated;        /* RFC 3339 */
} StepRecord;

/* The version of a Key Vault secret that a step applied (DESIGN.md "Secrets from
 * Azure Key Vault"): "secrets": [{"key": "vsensor.master.push_token", "version": "…",
 * "updated": "…"}]. Versions only, never values. */
typedef struct SecretVersion {
        char *key;
        char *version;
        char *updated;        /* RFC 3339 */
} SecretVersion;

typedef struct State {
        char *vm_id;          /* NULL when unknown */
        char *boot_id;        /* the boot that last wrote the file */
        StepRecord *steps;
        size_t n_steps;
        SecretVersion *secrets;
        size_t n_secrets;
} State;

/* Loads path; a missing file gives an empty state (returns 0). Caps at 1 MiB. */
int state_load(const char *path, State **ret);
/* Writes atomically with mode 0600. */
int state_save(const State *s, const char *path);
State *state_new(void);
State *state_free(State *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(State *, state_free);

/* Returns the record for name, or NULL. Borrowed. */
StepRecord *state_find(State *s, const char *name);
StepState state_get(const State *s, const char *name);
/* Sets state, error (copied; NULL clears) and updated=now; creates the record
 * when missing. Does not touch attempts. */
int state_set(State *s, const char *name, StepState st, const char *error);
/* attempts += 1, creating the record (pending) when missing. */
int state_count_attempt(State *s, const char *name);
/* Removes every record (e.g. a new VM id) and sets vm_id. */
int state_reset(State *s, const char *vm_id);
int state_set_vm_id(State *s, const char *vm_id);

/* The applied version of a Key Vault secret; NULL when none is recorded. Borrowed. */
const char *state_get_secret_version(const State *s, const char *key);
/* Records version (copied) for key with updated=now. */
int state_set_secret_version(State *s, const char *key, const char *version);

const char *step_state_to_string(StepState s);
StepState step_state_from_string(const char *s);

/* Takes {dir}/lock with flock(LOCK_EX|LOCK_NB), creating dir 0700 and the file 0600.
 * Returns the fd (>= 0, O_CLOEXEC; held until closed), -EWOULDBLOCK when another
 * process holds it (ret_holder_pid then holds its pid when known, else 0), or -errno. */
int state_lock(const char *dir, pid_t *ret_holder_pid);
/* Same with dir taken inside root (lib/safefile: no symlink, no ".."). A state
 * directory that already exists must be owned by this process (-EPERM) and not
 * writable by group or others (-EACCES): another user could have replaced the files
 * in it. Read or search bits for others are taken away (0700). */
int state_lock_at(const char *root, const char *dir, pid_t *ret_holder_pid);
