/* status, validate, show-config and clean. */
#include <jansson.h>

#include "commands.h"
#include "log.h"
#include "schedevents.h"
#include "steps.h"

/* The steps status lists: the vSensor steps, or legacy-script when that ran instead. */
static bool status_lists(const State *s, const Step *step) {
        bool legacy = state_get(s, "legacy-script") != STEP_PENDING;
        if (step->kind == STEP_LEGACY) return legacy;
        if (step->kind == STEP_VSENSOR) return !legacy;
        return true;
}

/* --- the watcher in status: its last poll and the events it handled --- */

static SchedState *load_watch_state(Context *c) {
        _cleanup_free_ char *path = context_state_file(c, WATCH_STATE_FILE);
        SchedState *w = NULL;
        if (!path || schedstate_load(path, &w) < 0) return NULL;
        return w;
}

static json_t *watch_json(const SchedState *w) {
        json_t *events = json_array();
        for (size_t i = 0; w && i < w->n_records; i++) {
                const SchedRecord *r = &w->records[i];
#define S(x) ((x) ? json_string(x) : json_null())
                json_array_append_new(events, json_pack("{s:s, s:o, s:o, s:b, s:o, s:o, s:o, s:o, s:o}", "id", r->id,
                                                        "type", S(r->type), "not_before", S(r->not_before), "mine",
                                                        r->mine, "first_seen", S(r->first_seen), "drain_started",
                                                        S(r->drain_started), "drain_ended", S(r->drain_ended),
                                                        "drain_result", S(r->drain_result), "approved",
                                                        S(r->approved)));
        }
        return json_pack("{s:o, s:I, s:o, s:o, s:o}", "instance", S(w ? w->instance : NULL), "polls",
                         (json_int_t)(w ? w->polls : 0), "last_poll", S(w ? w->last_poll : NULL), "last_result",
                         S(w ? w->last_result : NULL), "events", events);
#undef S
}

static void print_watch(const SchedState *w) {
        if (!w || (!w->last_poll && w->n_records == 0)) {
                printf("\nWatcher: no poll yet\n");
                return;
        }
        printf("\nWatcher: instance %s, %lld polls, last %s (%s)\n", w->instance ? w->instance : "?",
               (long long)w->polls, w->last_poll ? w->last_poll : "-", w->last_result ? w->last_result : "-");
        if (w->n_records == 0) return;
        printf("%-38s %-10s %-4s %-24s %s\n", "EVENT", "TYPE", "MINE", "APPROVED", "DRAIN");
        for (size_t i = 0; i < w->n_records; i++) {
                const SchedRecord *r = &w->records[i];
                printf("%-38s %-10s %-4s %-24s %s\n", r->id, r->type ? r->type : "?", r->mine ? "yes" : "no",
                       r->approved ? r->approved : "-", r->drain_result ? r->drain_result : "-");
        }
}

int cmd_status(Context *c) {
        _cleanup_(state_freep) State *s = NULL;
        int r = state_load(c->state_path, &s);
        if (r < 0) {
                fprintf(stderr, "vsensor-init: cannot read %s: %s\n", c->state_path,
                        r == -EBADMSG ? "not a valid state file" : strerror(-r));
                return r == -EBADMSG ? EX_DATAERR : EX_SOFTWARE;
        }
        if (c->opts->json) {
                json_t *steps = json_array();
                for (size_t i = 0; i < step_table_size; i++) {
                        if (!status_lists(s, &step_table[i])) continue;
                        StepRecord *rec = state_find(s, step_table[i].name);
                        json_array_append_new(steps, json_pack("{s:s, s:s, s:i, s:o}", "name", step_table[i].name,
                                                               "state", step_state_to_string(rec ? rec->state : STEP_PENDING),
                                                               "attempts", rec ? rec->attempts : 0, "error",
                                                               rec && rec->error ? json_string(rec->error) : json_null()));
                }
                json_t *root = json_pack("{s:o, s:o}", "vm_id", s->vm_id ? json_string(s->vm_id) : json_null(), "steps", steps);
                _cleanup_(schedstate_freep) SchedState *w = load_watch_state(c);
                if (root) json_object_set_new(root, "watch", watch_json(w));
                char *out = root ? json_dumps(root, JSON_PRESERVE_ORDER) : NULL;
                json_decref(root);
                if (!out) return EX_SOFTWARE;
                puts(out);
                free(out);
                return EX_OK;
        }
        printf("VM id: %s\n", s->vm_id ? s->vm_id : "(unknown)");
        printf("%-14s %-8s %8s  %s\n", "STEP", "STATE", "ATTEMPTS", "LAST ERROR");
        for (size_t i = 0; i < step_table_size; i++) {
                if (!status_lists(s, &step_table[i])) continue;
                StepRecord *rec = state_find(s, step_table[i].name);
                printf("%-14s %-8s %8d  %s\n", step_table[i].name, step_state_to_string(rec ? rec->state : STEP_PENDING),
                       rec ? rec->attempts : 0, rec && rec->error ? rec->error : "-");
        }
        if (c->config.scheduled_events_enabled) {
                _cleanup_(schedstate_freep) SchedState *w = load_watch_state(c);
                print_watch(w);
        }
        return EX_OK;
}

int cmd_validate(const Options *o) {
        const char *file = o->validate_file ? o->validate_file : "-";
        const char *name = streq(file, "-") ? "<stdin>" : file;
        _cleanup_free_ char *data = NULL;
        size_t len = 0;
        int r;
        if (streq(file, "-")) {
                /* stdin has no size to stat: read one byte past the cap to detect it. */
                size_t cap = CUSTOMDATA_MAX + 1;
                data = malloc(cap + 1);
                if (!data) return EX_SOFTWARE;
                for (r = 0;;) {
                        ssize_t n = read(STDIN_FILENO, data + len, cap - len);
                        if (n < 0 && errno == EINTR) continue;
                        if (n < 0) { r = -errno; break; }
                        if (n == 0) break;
                        len += (size_t)n;
                        if (len == cap) { r = -EFBIG; break; }
                }
                data[len] = 0;
        } else
                r = read_file_capped(file, CUSTOMDATA_MAX, &data, &len);
        if (r == -EFBIG) {
                fprintf(stderr, "%s: custom data is larger than 64 KiB (Azure's limit)\n", name);
                return EX_DATAERR;
        }
        if (r < 0) {
                fprintf(stderr, "%s: cannot read: %s\n", name, strerror(-r));
                return EX_DATAERR;
        }
        Problems problems;
        if (problems_init(&problems, name) < 0) return EX_SOFTWARE;
        _cleanup_(customdata_freep) CustomData *cd = NULL;
        r = customdata_parse(data, len, name, &cd, &problems);
        wipe(data, len);
        if (r < 0) {
                problems_print(&problems, stderr);
                problems_done(&problems);
                return EX_DATAERR;
        }
        problems_done(&problems);
        printf("%s: ok%s\n", name, cd->kind == CUSTOMDATA_SCRIPT ? " (legacy user-data script)" : "");
        return EX_OK;
}

static void print_custom_data(const CustomData *d) {
        if (d->kind == CUSTOMDATA_SCRIPT) {
                printf("custom data: legacy user-data script (%zu bytes)\n", d->script_len);
                return;
        }
        printf("vsensor:\n"
               "  update_key: \"" SECRET_HIDDEN "\"\n"
               "  master:\n"
               "    host: %s\n"
               "    port: %u\n"
               "    push_token: \"" SECRET_HIDDEN "\"\n",
               d->master_host, d->master_port);
        if (d->proxy) printf("    proxy: %s\n", d->proxy_display);
        printf("  ossensor:\n    hmac_token: \"" SECRET_HIDDEN "\"\n");
        if (d->pcap_enabled)
                printf("  pcap:\n    storage_account: %s\n    container: %s\n", d->pcap_storage_account, d->pcap_container);
        if (d->private_link) printf("  private_link:\n    enabled: true\n    nat_ip: %s\n", d->private_link_nat_ip);
        printf("  ephemeral: %s\n  os_updates: %s\n", d->ephemeral ? "true" : "false", d->os_updates ? "true" : "false");
}

int cmd_show_config(Context *c) {
        const Config *k = &c->config;
        printf("# agent configuration (effective)\n"
               "provisioning: %s\n"
               "report_ready: %s\n"
               "imds: { url: %s, deadline: %d }\n"
               "wireserver: { url: %s, deadline: %d }\n"
               "installer: { url: %s, ca_file: \"%s\", deadline: %d }\n"
               "apt_lock_deadline: %d\n"
               "helpers: { attempts: %d, timeout: %d }\n"
               "paths:\n"
               "  helpers_dir: %s\n  log_file: %s\n  state_dir: %s\n  success_marker: %s\n"
               "  installed_marker: %s\n  ovf_media: %s\n  waagent_dir: %s\n  kvp_pool: %s\n",
               provisioning_mode_to_string(k->provisioning), report_ready_mode_to_string(k->report_ready), k->imds_url,
               k->imds_deadline, k->wireserver_url, k->wireserver_deadline, k->installer_url, k->installer_ca_file,
               k->installer_deadline, k->apt_lock_deadline, k->helper_attempts, k->helper_timeout, k->helpers_dir,
               k->log_file, k->state_dir, k->success_marker, k->installed_marker, k->ovf_media, k->waagent_dir, k->kvp_pool);
        printf("verify: { url: \"%s\", deadline: %d }\n", k->verify_url, k->verify_deadline);
        printf("scheduled_events:\n  enabled: %s\n  poll_interval: %d.%03d\n  drain_deadline: %d\n  drain_commands:%s\n",
               k->scheduled_events_enabled ? "true" : "false", k->scheduled_events_poll_ms / 1000,
               k->scheduled_events_poll_ms % 1000, k->drain_deadline, config_drain_commands_count(k) ? "" : " []");
        for (size_t i = 0; i < config_drain_commands_count(k); i++) {
                printf("    - [");
                for (char **a = k->drain_commands[i]; *a; a++) printf("%s\"%s\"", a == k->drain_commands[i] ? "" : ", ", *a);
                printf("]\n");
        }
        if (c->opts->root) printf("# every path above is taken under --root %s\n", c->opts->root);

        /* The custom data it would use without network: --custom-data, else the kept copy. */
        _cleanup_free_ char *kept = context_state_file(c, KEPT_CUSTOM_DATA_FILE);
        const char *file = c->opts->custom_data ? c->opts->custom_data : kept;
        _cleanup_free_ char *data = NULL;
        size_t len = 0;
        if (!file || read_file_capped(file, CUSTOMDATA_MAX, &data, &len) < 0) {
                printf("\n# custom data: none given and none kept yet\n");
                return EX_OK;
        }
        Problems problems;
        if (problems_init(&problems, file) < 0) return EX_SOFTWARE;
        _cleanup_(customdata_freep) CustomData *cd = NULL;
        int r = customdata_parse(data, len, file, &cd, &problems);
        wipe(data, len);
        printf("\n# custom data from %s (secrets hidden)\n", file);
        if (r < 0) {
                problems_print(&problems, stdout);
                problems_done(&problems);
                return EX_DATAERR;
        }
        problems_done(&problems);
        print_custom_data(cd);
        return EX_OK;
}

static void print_removed(const char *path) {
        printf("removed %s\n", path);
}

int cmd_clean(Context *c) {
        _cleanup_free_ char *dir = context_path(c, c->config.state_dir);
        if (!dir) return EX_SOFTWARE;
        pid_t holder = 0;
        _cleanup_close_ int lock = state_lock(dir, &holder);
        if (lock == -EWOULDBLOCK) {
                fprintf(stderr, "vsensor-init: a run (pid %ld) is in progress; not cleaning\n", (long)holder);
                return EX_TEMPFAIL;
        }
        static const char *const own[] = {STATE_FILE, KEPT_CUSTOM_DATA_FILE, PROVISIONED_FILE, KEPT_OVF_FILE, LOCK_FILE,
                                          WATCH_STATE_FILE, WATCH_LOCK_FILE};
        int ret = EX_OK;
        remove_interrupted_files(dir, print_removed);
        for (size_t i = 0; i < ELEMENTSOF(own) + 2; i++) {
                _cleanup_free_ char *p = i < ELEMENTSOF(own) ? strjoin(dir, "/", own[i])
                                                            : context_path(c, i == ELEMENTSOF(own) ? c->config.success_marker
                                                                                                   : c->config.log_file);
                if (!p) return EX_SOFTWARE;
                if (unlink(p) == 0)
                        printf("removed %s\n", p);
                else if (errno != ENOENT) {
                        fprintf(stderr, "vsensor-init: cannot remove %s: %m\n", p);
                        ret = EX_CANTCREAT;
                }
        }
        return ret;
}
