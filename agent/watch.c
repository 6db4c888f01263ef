/* watch: the long-running command behind vsensor-init-watch.service (DESIGN.md
 * "Scale-in"). Polls Azure Scheduled Events; for this instance's own Terminate or
 * Preempt it logs, writes a KVP record, runs the drain commands within drain_deadline
 * and before NotBefore, then approves that one event so Azure need not wait out the
 * notice. Everything else is logged once. What was handled is kept in
 * {state_dir}/scheduled-events.json so a restarted watcher never drains twice. IMDS
 * errors are retried with a capped backoff and never end it; SIGTERM/SIGINT do, at
 * once, with exit 0. */
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>

#include "commands.h"
#include "customdata.h"
#include "imds.h"
#include "kvp.h"
#include "log.h"
#include "retry-log.h"
#include "run.h"
#include "schedevents.h"

#define ERROR_BACKOFF_CAP_MS 5000
/* The first call enables Scheduled Events for the VM and can take up to two minutes. */
#define FIRST_POLL_TIMEOUT_MS 150000
#define POLL_TIMEOUT_MS 10000
/* The approval goes out at least this long before NotBefore. */
#define APPROVAL_MARGIN_MS 2000
/* A drain command past its time gets SIGTERM, then SIGKILL this much later. */
#define DRAIN_KILL_GRACE_MS 1000
/* "last poll" in the state file is refreshed this often when nothing else changes. */
#define HEARTBEAT_MS 60000
#define INSTANCE_NAME_MAX 128

/* SIGTERM/SIGINT end the watcher at once (_exit is async-signal-safe; a running drain
 * command dies with it through PR_SET_PDEATHSIG), except inside a critical section (a
 * state or KVP write), which then ends the watcher as soon as it is done. */
static volatile sig_atomic_t in_critical, stop_requested;

static void on_signal(int sig) {
        if (in_critical) {
                stop_requested = 1;
                return;
        }
        static const char msg[] = "watch: stopping on a signal\n";
        (void)!write(STDERR_FILENO, msg, sizeof msg - 1);
        _exit(EX_OK);
}

static void critical_begin(void) { in_critical = 1; }
static void critical_end(void) { in_critical = 0; }

typedef struct Watch {
        Context *c;
        SchedState *state;
        char *state_path;
        char *kvp_pool;
        const char *instance;
        SchedClient client;
        int64_t last_save_ms;
} Watch;

static int save(Watch *w) {
        critical_begin();
        int r = schedstate_save(w->state, w->state_path);
        critical_end();
        w->last_save_ms = now_monotonic_ms();
        if (r < 0) log_warning("cannot write %s: %s", w->state_path, strerror(-r));
        return r;
}

/* Journal fields of an event's lines. */
typedef struct EventFields {
        char id[160], type[64], not_before[300];
        const char *v[4];
} EventFields;

static const char *const *event_fields(EventFields *f, const char *id, const char *type, const char *not_before) {
        snprintf(f->id, sizeof f->id, "EVENT_ID=%s", id);
        snprintf(f->type, sizeof f->type, "EVENT_TYPE=%s", type);
        snprintf(f->not_before, sizeof f->not_before, "NOT_BEFORE=%s", isempty(not_before) ? "-" : not_before);
        f->v[0] = f->id;
        f->v[1] = f->type;
        f->v[2] = f->not_before;
        f->v[3] = NULL;
        return f->v;
}

#define log_event(level, rec, ...)                                                                        \
        do {                                                                                              \
                EventFields _f;                                                                           \
                log_msg_fields(level, event_fields(&_f, (rec)->id, (rec)->type, (rec)->not_before), __VA_ARGS__); \
        } while (0)

static void write_kvp(Watch *w, const SchedRecord *rec) {
        _cleanup_free_ char *value = NULL;
        if (asprintf_safe(&value, "type=%s|event_id=%s|not_before=%s", rec->type, rec->id,
                          rec->not_before ? rec->not_before : "") < 0)
                return;
        critical_begin();
        int r = kvp_append(w->kvp_pool, "SCHEDULED_EVENT", value);
        critical_end();
        if (r < 0) log_warning("cannot write the KVP record to %s: %s", w->c->config.kvp_pool, strerror(-r));
}

static void on_drain_line(void *userdata, const char *stream, const char *line) {
        log_child_line(userdata, stream, line);
}

/* Runs one drain command with the helper rules, within timeout_ms. Returns 0 when it
 * exited 0, else -1 with what happened in what. */
static int drain_one(Watch *w, char *const *cmd, int64_t timeout_ms, char *what, size_t size) {
        _cleanup_free_ char *program = context_path(w->c, cmd[0]);
        if (!program) return snprintf(what, size, "out of memory"), -1;
        size_t n = strv_length(cmd);
        _cleanup_free_ const char **argv = calloc(n + 1, sizeof *argv);
        if (!argv) return snprintf(what, size, "out of memory"), -1;
        argv[0] = program;
        for (size_t i = 1; i < n; i++) argv[i] = cmd[i];
        const char *base = strrchr(cmd[0], '/') ? strrchr(cmd[0], '/') + 1 : cmd[0];

        int grace = timeout_ms > 4 * DRAIN_KILL_GRACE_MS ? DRAIN_KILL_GRACE_MS : (int)(timeout_ms / 4) + 1;
        RunOptions o = {
                .argv = argv,
                .envp = context_child_env(w->c),
                .timeout_ms = (int)(timeout_ms - grace > 1 ? timeout_ms - grace : 1),
                .kill_grace_ms = grace,
                .on_line = on_drain_line,
                .userdata = (void *)base,
        };
        log_info("drain: running %s (%lld ms left)", cmd[0], (long long)timeout_ms);
        RunResult res = {0};
        int r = run_command(&o, &res);
        if (r < 0) {
                snprintf(what, size, "cannot start %s: %s", cmd[0], strerror(-r));
                return -1;
        }
        if (!res.signaled && !res.timed_out && res.exit_code == 0) return 0;
        char d[96];
        if (res.timed_out)
                snprintf(d, sizeof d, "killed at the drain deadline (after %lld ms)", (long long)timeout_ms);
        else
                run_result_describe(&res, o.timeout_ms, d, sizeof d);
        snprintf(what, size, "%s %s", base, d);
        return -1;
}

/* The drain commands, in order, all within the budget: drain_deadline, and never past
 * NotBefore (less the approval's margin). A command that fails does not stop the
 * others; one that hangs is killed at the deadline; the rest are then not started. */
static void drain(Watch *w, SchedRecord *rec, const SchedEvent *e) {
        const Config *k = &w->c->config;
        int64_t budget = (int64_t)k->drain_deadline * 1000;
        if (e->not_before_ms >= 0) {
                int64_t until = e->not_before_ms - now_realtime_ms() - APPROVAL_MARGIN_MS;
                if (until < budget) budget = until;
        }
        (void)schedstate_stamp(&rec->drain_started);
        save(w);
        if (stop_requested) return;

        size_t n = config_drain_commands_count(k);
        char result[256];
        int failed = 0;
        size_t ran = 0;
        int64_t start = now_monotonic_ms(), deadline = start + budget;
        if (n == 0)
                snprintf(result, sizeof result, "no drain commands configured");
        else if (budget <= 0)
                snprintf(result, sizeof result, "no time left before NotBefore: no drain command ran");
        else {
                log_event(LOG_LEVEL_INFO, rec, "drain: %zu command%s within %lld ms", n, n == 1 ? "" : "s",
                          (long long)budget);
                char what[200] = "";
                for (; ran < n; ran++) {
                        int64_t left = deadline - now_monotonic_ms();
                        if (left <= 0) break;
                        if (drain_one(w, k->drain_commands[ran], left, what, sizeof what) < 0) {
                                failed++;
                                log_event(LOG_LEVEL_WARNING, rec, "drain: %s", what);
                        }
                }
                if (ran < n)
                        snprintf(result, sizeof result, "deadline passed: %zu of %zu commands not run%s", n - ran, n,
                                 failed ? ", one killed or failed" : "");
                else if (failed)
                        snprintf(result, sizeof result, "%d of %zu failed (last: %s)", failed, n, what);
                else
                        snprintf(result, sizeof result, "done");
        }
        (void)schedstate_stamp(&rec->drain_ended);
        (void)schedstate_set(&rec->drain_result, result);
        log_event(failed || ran < n ? LOG_LEVEL_WARNING : LOG_LEVEL_INFO, rec, "drain ended after %lld ms: %s",
                  (long long)(now_monotonic_ms() - start), result);
        save(w);
}

static void approve(Watch *w, SchedRecord *rec) {
        char err[300] = "";
        long status = 0;
        int r = schedevents_approve(&w->client, rec->id, &status, err, sizeof err);
        (void)schedstate_set(&rec->approval, err);
        if (r >= 0) {
                (void)schedstate_stamp(&rec->approved);
                log_event(LOG_LEVEL_NOTICE, rec, "approved scheduled event %s (%s): %s", rec->id, rec->type, err);
        } else
                log_event(LOG_LEVEL_WARNING, rec, "approving scheduled event %s failed: %s; trying again at the next poll",
                          rec->id, err);
        save(w);
}

static void handle_event(Watch *w, const SchedEvent *e) {
        bool mine = schedevent_is_for(e, w->instance);
        bool act = mine && schedevent_is_termination(e) && schedevent_is_scheduled(e);
        SchedRecord *rec = schedstate_find(w->state, e->id);
        if (!rec) {
                rec = schedstate_add(w->state, e, mine);
                if (!rec) return;
                if (act) {
                        log_event(LOG_LEVEL_NOTICE, rec,
                                  "scheduled event %s: %s of this instance (%s), not before %s; draining, then approving",
                                  rec->id, rec->type, w->instance, isempty(rec->not_before) ? "-" : rec->not_before);
                        write_kvp(w, rec);
                } else if (!mine)
                        log_event(LOG_LEVEL_INFO, rec, "scheduled event %s: %s for other resources, not this instance; "
                                  "not approving it", rec->id, rec->type);
                else if (schedevent_is_termination(e))
                        log_event(LOG_LEVEL_NOTICE, rec, "scheduled event %s: %s of this instance already %s; "
                                  "nothing to approve", rec->id, rec->type, e->status);
                else
                        log_event(LOG_LEVEL_NOTICE, rec, "scheduled event %s: %s of this instance (%s), not before %s; "
                                  "left to its NotBefore", rec->id, rec->type, isempty(e->status) ? "Scheduled" : e->status,
                                  isempty(rec->not_before) ? "-" : rec->not_before);
                save(w);
                if (stop_requested) return;
        }
        if (!act || rec->approved) return;
        if (!rec->drain_started)
                drain(w, rec, e);
        else if (!rec->drain_ended && !rec->approval)
                log_event(LOG_LEVEL_WARNING, rec, "the drain for %s was interrupted (watcher restarted); "
                          "not draining twice, approving", rec->id);
        if (stop_requested) return;
        approve(w, rec);
}

/* compute.name from IMDS, retried until it answers: without it no event is ours. */
static int instance_name(Watch *w, char **ret) {
        const Config *k = &w->c->config;
        for (int attempt = 1;; attempt++) {
                ImdsClient ic = {
                        .base_url = k->imds_url,
                        .deadline_ms = (int64_t)k->imds_deadline * 1000,
                        .notify = retry_log_notify,
                        .userdata = (void *)"IMDS",
                };
                _cleanup_(imds_instance_freep) ImdsInstance *inst = NULL;
                char err[256] = "";
                int r = imds_fetch_instance(&ic, &inst, err, sizeof err);
                if (r >= 0 && !isempty(inst->name) && strlen(inst->name) <= INSTANCE_NAME_MAX) {
                        *ret = TAKE_PTR(inst->name);
                        return 0;
                }
                if (r >= 0) snprintf(err, sizeof err, "compute.name is missing or longer than %d", INSTANCE_NAME_MAX);
                if (r == -ENOMEM) return r;
                log_warning("cannot learn this instance's name from IMDS (%s); trying again (%d)", err, attempt);
                sleep_ms(ERROR_BACKOFF_CAP_MS);
        }
}

/* The kept custom data, parsed only so its secrets are registered: a drain command's
 * output that repeats one is redacted like a helper's. Missing or invalid: nothing to
 * register. */
static CustomData *register_secrets(Context *c) {
        _cleanup_free_ char *path = context_state_file(c, KEPT_CUSTOM_DATA_FILE);
        _cleanup_free_ char *data = NULL;
        size_t len = 0;
        if (!path || read_file_capped(path, CUSTOMDATA_MAX, &data, &len) < 0) return NULL;
        Problems problems;
        if (problems_init(&problems, path) < 0) return NULL;
        CustomData *cd = NULL;
        (void)customdata_parse(data, len, path, &cd, &problems);
        problems_done(&problems);
        wipe(data, len);
        return cd;
}

static int take_lock(const char *dir) {
        int r = mkdir_p(dir, 0700);
        if (r < 0) return r;
        _cleanup_free_ char *path = strjoin(dir, "/", WATCH_LOCK_FILE);
        if (!path) return -ENOMEM;
        _cleanup_close_ int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0600);
        if (fd < 0) return -errno;
        if (flock(fd, LOCK_EX | LOCK_NB) < 0) return -errno;
        return TAKE_FD(fd);
}

static int64_t error_delay(int poll_ms, int errors) {
        int64_t d = poll_ms;
        for (int i = 0; i < errors && d < ERROR_BACKOFF_CAP_MS; i++) d *= 2;
        if (d > ERROR_BACKOFF_CAP_MS) d = ERROR_BACKOFF_CAP_MS;
        return d < poll_ms ? poll_ms : d;
}

static int poll_loop(Watch *w) {
        const int poll_ms = w->c->config.scheduled_events_poll_ms;
        int errors = 0;
        bool answered = false;
        char last[320] = "";
        for (;;) {
                w->client.timeout_ms = answered ? POLL_TIMEOUT_MS : FIRST_POLL_TIMEOUT_MS;
                _cleanup_(schedevents_freep) SchedDocument *doc = NULL;
                char err[300] = "", result[320];
                long status = 0;
                int r = schedevents_fetch(&w->client, &doc, &status, err, sizeof err);
                w->state->polls++;
                (void)schedstate_stamp(&w->state->last_poll);
                if (r >= 0) {
                        if (errors > 0) log_info("scheduled events answer again (after %d failed polls)", errors);
                        else if (!answered) log_info("scheduled events answer; watching for this instance's Terminate");
                        errors = 0;
                        answered = true;
                        snprintf(result, sizeof result, "ok: %zu event%s", doc->n_events, doc->n_events == 1 ? "" : "s");
                        if (doc->n_invalid)
                                log_warning("scheduled events: %zu malformed event%s left out", doc->n_invalid,
                                            doc->n_invalid == 1 ? "" : "s");
                } else {
                        errors++;
                        snprintf(result, sizeof result, "%s", err);
                        /* The same error every second would flood the log: changes only. */
                        if (errors == 1 || strcmp(result, last) != 0)
                                log_warning("scheduled events: %s; polling again with backoff", err);
                }
                bool changed = strcmp(result, last) != 0;
                snprintf(last, sizeof last, "%s", result);
                (void)schedstate_set(&w->state->last_result, result);
                if (changed || now_monotonic_ms() - w->last_save_ms >= HEARTBEAT_MS) save(w);
                if (stop_requested) return EX_OK;
                for (size_t i = 0; doc && i < doc->n_events; i++) {
                        handle_event(w, &doc->events[i]);
                        if (stop_requested) return EX_OK;
                }
                sleep_ms(errors ? error_delay(poll_ms, errors) : poll_ms);
        }
}

int cmd_watch(Context *c) {
        _cleanup_free_ char *log_path = context_path(c, c->config.log_file);
        if (!log_path) return EX_SOFTWARE;
        LogOptions lo = {
                .file = log_path,
                .console_level = options_console_level(c->opts),
                .journal = isempty(c->opts->root),
        };
        log_set_step("watch");
        int r = log_open(&lo);
        if (r < 0) log_warning("cannot open the log file %s: %s; logging to the journal only", log_path, strerror(-r));
        if (!c->config.scheduled_events_enabled) {
                log_info("scheduled_events.enabled is false: nothing to watch");
                return EX_OK;
        }

        struct sigaction sa = {.sa_handler = on_signal};
        sigemptyset(&sa.sa_mask);
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGINT, &sa, NULL);

        _cleanup_free_ char *state_dir = context_path(c, c->config.state_dir);
        if (!state_dir) return EX_SOFTWARE;
        _cleanup_close_ int lock = take_lock(state_dir);
        if (lock == -EWOULDBLOCK) {
                log_error("another vsensor-init watch is running; not starting a second one");
                return EX_TEMPFAIL;
        }
        if (lock < 0) {
                log_error("cannot take the watch lock in %s: %s", state_dir, strerror(-lock));
                return EX_CANTCREAT;
        }

        _cleanup_(customdata_freep) CustomData *secrets = register_secrets(c);
        Watch w = {.c = c, .client = {.base_url = c->config.imds_url}};
        w.state_path = strjoin(state_dir, "/", WATCH_STATE_FILE);
        w.kvp_pool = context_path(c, c->config.kvp_pool);
        _cleanup_free_ char *name = NULL;
        int ret = EX_SOFTWARE;
        if (!w.state_path || !w.kvp_pool) goto out;
        r = schedstate_load(w.state_path, &w.state);
        if (r == -EBADMSG) {
                log_error("%s is not a valid watch state file; move it away to start over", w.state_path);
                goto out;
        }
        if (r < 0) {
                log_error("cannot read %s: %s", w.state_path, strerror(-r));
                goto out;
        }
        r = instance_name(&w, &name);
        if (r < 0) goto out;
        w.instance = name;
        (void)schedstate_set(&w.state->instance, name);
        log_notice("vsensor-init %s watch: Scheduled Events for instance %s every %d ms; %zu drain command%s within %d s",
                   VERSION, name, c->config.scheduled_events_poll_ms, config_drain_commands_count(&c->config),
                   config_drain_commands_count(&c->config) == 1 ? "" : "s", c->config.drain_deadline);
        ret = poll_loop(&w);
        if (stop_requested) log_info("stopping on a signal");
out:
        schedstate_free(w.state);
        free(w.state_path);
        free(w.kvp_pool);
        return ret;
}
