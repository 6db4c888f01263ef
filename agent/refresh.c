/* refresh: Key Vault rotation without a reimage (DESIGN.md "Secrets from Azure Key
 * Vault"). Reads every reference of the kept custom data (or --custom-data) again;
 * where a secret's version differs from the one applied, runs the step that uses it
 * again (register for the push token, hmac for the HMAC token; a new update key is
 * logged and kept for the next install). Nothing changed: nothing runs, nothing is
 * written. The vault unreachable: the applied values stay, exit 69, the next timer
 * run tries again. */
#include "commands.h"
#include "log.h"
#include "secrets.h"
#include "steps.h"

/* The step that applies each secret; NULL: only recorded (the update key is used by
 * the next install). */
static const char *const applying_step[_CUSTOMDATA_SECRET_MAX] = {
        [CUSTOMDATA_SECRET_UPDATE_KEY] = NULL,
        [CUSTOMDATA_SECRET_PUSH_TOKEN] = "register",
        [CUSTOMDATA_SECRET_HMAC_TOKEN] = "hmac",
};

static int read_custom_data(Context *c, char **ret, size_t *ret_len, char **ret_name) {
        const char *f = c->opts->custom_data;
        _cleanup_free_ char *kept = context_state_file(c, KEPT_CUSTOM_DATA_FILE);
        if (!kept) return -ENOMEM;
        const char *file = f ? f : kept;
        int r = read_file_capped(file, CUSTOMDATA_MAX, ret, ret_len);
        if (r < 0) return r;
        *ret_name = strdup(f ? file : kept);
        return *ret_name ? 0 : -ENOMEM;
}

/* From here on the log file gets the lines too: something is about to change, or
 * the operator must hear why it could not. */
static void log_to_file(Context *c) {
        _cleanup_free_ char *log_path = context_path(c, c->config.log_file);
        if (!log_path) return;
        LogOptions lo = {
                .file = log_path,
                .console_level = options_console_level(c->opts),
                .journal = isempty(c->opts->root),
        };
        if (log_open(&lo) < 0) log_warning("cannot open the log file %s", log_path);
}

int cmd_refresh(Context *c) {
        LogOptions lo = {
                .console_level = options_console_level(c->opts),
                .journal = isempty(c->opts->root),
        };
        log_open(&lo);
        log_set_step("refresh");

        _cleanup_free_ char *state_dir = context_path(c, c->config.state_dir);
        if (!state_dir) return EX_SOFTWARE;
        _cleanup_free_ char *kept = context_state_file(c, KEPT_CUSTOM_DATA_FILE);
        if (!kept) return EX_SOFTWARE;
        /* Without kept custom data there is nothing to refresh (an image being built, an
         * instance not bootstrapped yet): the timer is harmless there. */
        if (!c->opts->custom_data && access(kept, F_OK) < 0) {
                log_info("no custom data kept in %s: nothing to refresh", state_dir);
                return EX_OK;
        }

        pid_t holder = 0;
        _cleanup_close_ int lock_fd = state_lock(state_dir, &holder);
        if (lock_fd == -EWOULDBLOCK) {
                log_error("another vsensor-init run (pid %ld) is in progress; not refreshing now", (long)holder);
                return EX_TEMPFAIL;
        }
        if (lock_fd < 0) {
                log_error("cannot take the run lock in %s: %s", state_dir, strerror(-lock_fd));
                return EX_CANTCREAT;
        }
        int r = state_load(c->state_path, &c->state);
        if (r < 0) {
                log_error("cannot read %s: %s", c->state_path, r == -EBADMSG ? "not a valid state file" : strerror(-r));
                return EX_SOFTWARE;
        }

        char *data = NULL;
        size_t len = 0;
        _cleanup_free_ char *name = NULL;
        r = read_custom_data(c, &data, &len, &name);
        if (r < 0) {
                log_error("cannot read the custom data %s: %s", c->opts->custom_data ? c->opts->custom_data : kept,
                          strerror(-r));
                return r == -ENOMEM ? EX_SOFTWARE : EX_DATAERR;
        }
        Problems problems;
        if (problems_init(&problems, name) < 0) {
                wipe(data, len);
                free(data);
                return EX_SOFTWARE;
        }
        const CustomDataOptions cdo = {
                .key_vault_host_suffixes = (const char *const *)c->config.key_vault_host_suffixes,
        };
        r = customdata_parse_with(data, len, name, &cdo, &c->custom_data, &problems);
        wipe(data, len);
        free(data);
        if (r < 0) {
                for (size_t i = 0; i < problems.n; i++)
                        log_error("%s:%u:%u: %s", name, problems.items[i].line, problems.items[i].column,
                                  problems.items[i].message);
                problems_done(&problems);
                return r == -ENOMEM ? EX_SOFTWARE : EX_DATAERR;
        }
        problems_done(&problems);
        if (c->custom_data->kind != CUSTOMDATA_VSENSOR || customdata_n_refs(c->custom_data) == 0) {
                log_info("the custom data has no Key Vault references: nothing to refresh");
                return EX_OK;
        }

        char msg[1024];
        int code = 0;
        if (secrets_resolve(c, c->custom_data, name, &code, msg, sizeof msg) < 0) {
                log_to_file(c);
                log_error("refresh failed: %s", msg);
                log_error("the applied secrets stay as they are; the next refresh tries again");
                return code;
        }

        /* What changed since it was applied. */
        bool changed[_CUSTOMDATA_SECRET_MAX] = {false};
        size_t n_changed = 0;
        for (int id = 0; id < _CUSTOMDATA_SECRET_MAX; id++) {
                const char *fetched = c->secret_versions[id];
                if (!c->custom_data->refs[id].ref.uri || !fetched) continue;
                const char *key = customdata_secret_key((CustomDataSecret)id);
                const char *applied = state_get_secret_version(c->state, key);
                if (streq_ptr(applied, fetched)) continue;
                if (applying_step[id] && state_get(c->state, applying_step[id]) != STEP_DONE) {
                        log_info("%s: version %s is not applied yet; the bootstrap applies it at step %s", key, fetched,
                                 applying_step[id]);
                        continue;
                }
                changed[id] = true;
                n_changed++;
        }
        if (n_changed == 0) {
                log_info("every Key Vault secret is at its applied version: nothing to do");
                return EX_OK;
        }

        log_to_file(c);
        int ret = EX_OK;
        for (int id = 0; id < _CUSTOMDATA_SECRET_MAX; id++) {
                if (!changed[id]) continue;
                const char *key = customdata_secret_key((CustomDataSecret)id);
                const char *applied = state_get_secret_version(c->state, key);
                log_set_step("refresh");
                log_notice("%s: new version %s in Key Vault (applied: %s)", key, c->secret_versions[id],
                           applied ? applied : "none recorded");
                if (!applying_step[id]) {
                        log_notice("%s: kept for the next install (an installed vSensor does not use it)", key);
                        if (secrets_record_applied(c, (CustomDataSecret)id) < 0) return EX_SOFTWARE;
                        continue;
                }
                const Step *s = step_find(applying_step[id]);
                log_set_step(s->name);
                int k = s->run(c);
                if (k != STEP_RESULT_DONE) {
                        /* The recorded version stays the old one: the next refresh tries again. */
                        log_error("%s: step %s failed: %s; the next refresh tries again", key, s->name,
                                  c->error ? c->error : "?");
                        ret = c->exit_code ? c->exit_code : EX_TEMPFAIL;
                        continue;
                }
                if (state_set(c->state, s->name, STEP_DONE, NULL) < 0) return EX_SOFTWARE;
                log_result("done", "%s re-applied with version %s", key, c->secret_versions[id]);
        }
        log_set_step("refresh");
        r = state_save(c->state, c->state_path);
        if (r < 0) {
                log_error("cannot write %s: %s", c->state_path, strerror(-r));
                return EX_CANTCREAT;
        }
        return ret;
}
