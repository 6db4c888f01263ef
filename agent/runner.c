/* The runner: walks the step table for `run` and `repair`, records each outcome in
 * the state, reports a failure to Azure and says how the run ended. It depends on the
 * steps and on the reporting; neither depends on it. */
#include "runner.h"

#include "log.h"
#include "notify.h"
#include "report.h"
#include "steps.h"

/* Whether the custom data makes this step part of the run at all. */
static bool step_applies(const Context *c, const Step *s) {
        if (!c->custom_data) return true;
        if (s->kind == STEP_VSENSOR) return c->custom_data->kind == CUSTOMDATA_VSENSOR;
        if (s->kind == STEP_LEGACY) return c->custom_data->kind == CUSTOMDATA_SCRIPT;
        return true;
}

static bool step_forced(const Context *c, const Step *s) {
        switch (s->kind) {
        case STEP_VSENSOR:
        case STEP_LEGACY:
        case STEP_FINAL:
                return c->forced;
        case STEP_PROVISIONING:
                return c->force_provisioning;
        default:
                return true; /* inputs are gathered on every run */
        }
}

/* Each save costs two fsyncs, so outcomes that change nothing on the machine (inputs
 * read, steps skipped) ride along with the next save; effects and failures are on disk
 * before the next step starts, which is what a resume after a crash needs. */
static bool state_dirty;

static int save_state(Context *c) {
        state_dirty = false;
        int r = state_save(c->state, c->state_path);
        if (r < 0) {
                log_error("cannot write %s: %s", c->state_path, strerror(-r));
                return step_fail(c, EX_CANTCREAT, "cannot write %s: %s", c->state_path, strerror(-r));
        }
        return 0;
}

/* Runs one step and records its outcome. Returns 0 when the run may go on. */
static int run_one(Context *c, const Step *s) {
        log_set_step(s->name);
        notify_status(s->name, s->what);
        int r = state_count_attempt(c->state, s->name);
        if (r < 0) return step_fail(c, EX_SOFTWARE, "out of memory");

        int64_t start = now_monotonic_ms();
        r = s->run(c);
        int64_t ms = now_monotonic_ms() - start;
        if (r == STEP_RESULT_FAILED) {
                state_set(c->state, s->name, STEP_FAILED, c->error);
                log_result("failed", "%s (after %lld ms)", c->error ? c->error : "failed", (long long)ms);
                save_state(c);
                return -1;
        }
        if (r == STEP_RESULT_DEFERRED) {
                state_set(c->state, s->name, STEP_FAILED, c->deferred_error);
                log_result("failed", "%s", c->deferred_error);
                return save_state(c);
        }
        StepState st = r == STEP_RESULT_SKIPPED ? STEP_SKIPPED : STEP_DONE;
        if (state_set(c->state, s->name, st, NULL) < 0) return step_fail(c, EX_SOFTWARE, "out of memory");
        log_result(step_state_to_string(st), "%lld ms", (long long)ms);
        if (st == STEP_SKIPPED || s->kind == STEP_INPUT) {
                state_dirty = true;
                return 0;
        }
        return save_state(c);
}

/* Steps that run even when an earlier step of the run failed: host-keys, because
 * sshd starts once this unit has failed and must find fresh keys (as it did when
 * they were made before the ready report, e.g. when the wireserver never answers). */
static bool step_after_failure(const Step *s) { return s->run == step_host_keys; }

/* After step `failed` stopped the run: the later after-failure steps that apply and
 * are not finished run still; the run's error and exit code stay the first failure's. */
static void run_after_failure(Context *c, size_t failed) {
        for (size_t i = failed + 1; i < step_table_size; i++) {
                const Step *s = &step_table[i];
                if (!step_after_failure(s) || !step_applies(c, s)) continue;
                StepState st = state_get(c->state, s->name);
                if ((st == STEP_DONE || st == STEP_SKIPPED) && !step_forced(c, s)) continue;
                char *error = c->error;
                int exit_code = c->exit_code;
                c->error = NULL;
                run_one(c, s);
                free(c->error);
                c->error = error;
                c->exit_code = exit_code;
        }
}

int steps_run(Context *c) {
        for (size_t i = 0; i < step_table_size; i++) {
                const Step *s = &step_table[i];
                if (!step_applies(c, s)) continue;

                /* Invalid custom data stops the vSensor steps, not OS provisioning:
                 * the operator can still log in and read the log. */
                if (c->deferred_exit && s->kind != STEP_INPUT && s->kind != STEP_PROVISIONING) break;

                StepState st = state_get(c->state, s->name);
                bool finished = st == STEP_DONE || st == STEP_SKIPPED;
                if (finished && !step_forced(c, s) && !(s->kind == STEP_FINAL && !finish_marker_present(c))) {
                        log_set_step(s->name);
                        log_debug("already %s in an earlier run", step_state_to_string(st));
                        continue;
                }
                if (run_one(c, s) < 0) {
                        run_after_failure(c, i);
                        if (!c->reported_ready) {
                                char reason[1024];
                                snprintf(reason, sizeof reason, "step %s failed: %s", s->name, c->error ? c->error : "?");
                                report_failure(c, reason);
                        }
                        log_set_step(s->name);
                        log_error("the run stopped at step %s; fix the cause above, then run "
                                  "'vsensor-init run' (it resumes here) or see 'vsensor-init status'",
                                  s->name);
                        return c->exit_code ? c->exit_code : EX_SOFTWARE;
                }
        }
        if (state_dirty && save_state(c) < 0) return c->exit_code;
        if (c->deferred_exit) {
                log_set_step("load");
                log_error("%s", c->deferred_error);
                log_error("no vSensor step ran; correct the custom data and run "
                          "'vsensor-init run --custom-data FILE' or redeploy");
                return c->deferred_exit;
        }
        log_set_step("finish");
        log_notice("vSensor bootstrap complete");
        notify_ready();
        return EX_OK;
}
