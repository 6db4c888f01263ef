/* status, validate, show-config and clean. */
#include <jansson.h>

#include "commands.h"
#include "log.h"
#include "schedevents.h"
#include "steps.h"
#include "utf8.h"

/* The steps status lists: the vSensor steps, or legacy-script when that ran instead. */
static bool status_lists(const State *s, const Step *step) {
        bool legacy = state_get(s, "legacy-script") != STEP_PENDING;
        if (step->kind == STEP_LEGACY) return legacy;
        if (step->kind == STEP_VSENSOR) return !legacy;
        return true;
}

/* Errors quote metadata (host names, user names, child output): on a terminal, an
 * ESC sequence or a newline in them must show as text, not act. */
static char *status_text(const char *s) {
        return utf8_escape(s, strlen(s), UTF8_ESCAPE_CONTROLS);
}

/* jansson refuses strings that are not UTF-8 (and escapes control characters itself). */
static json_t *status_json_string(const char *s) {
        _cleanup_free_ char *v = utf8_escape(s, strlen(s), 0);
        return v ? json_string(v) : NULL;
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
                                                               rec && rec->error ? status_json_string(rec->error) : json_null()));
                }
                json_t *root = json_pack("{s:o, s:o}", "vm_id", s->vm_id ? status_json_string(s->vm_id) : json_null(), "steps", steps);
                /* Key Vault: the applied version of each secret (never a value). */
                if (root && s->n_secrets > 0) {
                        json_t *secrets = json_array();
                        for (size_t i = 0; secrets && i < s->n_secrets; i++)
                                json_array_append_new(secrets, json_pack("{s:s, s:s, s:o}", "key", s->secrets[i].key,
                                                                         "version", s->secrets[i].version, "updated",
                                                                         s->secrets[i].updated ? json_string(s->secrets[i].updated)
                                                                                               : json_null()));
                        json_object_set_new(root, "secrets", secrets);
                }
                _cleanup_(schedstate_freep) SchedState *w = load_watch_state(c);
                if (root) json_object_set_new(root, "watch", watch_json(w));
                char *out = root ? json_dumps(root, JSON_PRESERVE_ORDER) : NULL;
                json_decref(root);
                if (!out) return EX_SOFTWARE;
                puts(out);
                free(out);
                return EX_OK;
        }
        _cleanup_free_ char *vm_id = s->vm_id ? status_text(s->vm_id) : NULL;
        printf("VM id: %s\n", vm_id ? vm_id : "(unknown)");
        printf("%-14s %-8s %8s  %s\n", "STEP", "STATE", "ATTEMPTS", "LAST ERROR");
        for (size_t i = 0; i < step_table_size; i++) {
                if (!status_lists(s, &step_table[i])) continue;
                StepRecord *rec = state_find(s, step_table[i].name);
                _cleanup_free_ char *error = rec && rec->error ? status_text(rec->error) : NULL;
                printf("%-14s %-8s %8d  %s\n", step_table[i].name, step_state_to_string(rec ? rec->state : STEP_PENDING),
                       rec ? rec->attempts : 0, error ? error : "-");
        }
        if (s->n_secrets > 0) {
                printf("\n%-28s %-32s  %s\n", "KEY VAULT SECRET", "APPLIED VERSION", "SINCE");
                for (size_t i = 0; i < s->n_secrets; i++)
                        printf("%-28s %-32s  %s\n", s->secrets[i].key, s->secrets[i].version,
                               s->secrets[i].updated ? s->secrets[i].updated : "-");
        }
        if (c->config.scheduled_events_enabled) {
                _cleanup_(schedstate_freep) SchedState *w = load_watch_state(c);
                print_watch(w);
        }
        return EX_OK;
}

int cmd_validate(const Options *o) {
        return cmd_validate_with(o, NULL);
}

int cmd_validate_with(const Options *o, const Config *config) {
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
        const CustomDataOptions cdo = {
                .key_vault_host_suffixes = config ? (const char *const *)config->key_vault_host_suffixes : NULL,
        };
        r = customdata_parse_with(data, len, name, &cdo, &cd, &problems);
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
        /* A Key Vault reference is shown as written: it is where the secret is, not the secret. */
        const char *const *uri = (const char *const[]){d->refs[CUSTOMDATA_SECRET_UPDATE_KEY].ref.uri,
                                                       d->refs[CUSTOMDATA_SECRET_PUSH_TOKEN].ref.uri,
                                                       d->refs[CUSTOMDATA_SECRET_HMAC_TOKEN].ref.uri};
        char shown[_CUSTOMDATA_SECRET_MAX][KEYVAULT_URI_MAX + 32];
        for (int i = 0; i < _CUSTOMDATA_SECRET_MAX; i++)
                if (uri[i])
                        snprintf(shown[i], sizeof shown[i], "{ key_vault: %s }", uri[i]);
                else
                        snprintf(shown[i], sizeof shown[i], "\"" SECRET_HIDDEN "\"");
        printf("vsensor:\n"
               "  update_key: %s\n"
               "  master:\n"
               "    host: %s\n"
               "    port: %u\n"
               "    push_token: %s\n",
               shown[CUSTOMDATA_SECRET_UPDATE_KEY], d->master_host, d->master_port, shown[CUSTOMDATA_SECRET_PUSH_TOKEN]);
        if (d->proxy) printf("    proxy: %s\n", d->proxy_display);
        printf("  ossensor:\n    hmac_token: %s\n", shown[CUSTOMDATA_SECRET_HMAC_TOKEN]);
        if (d->managed_identity_client_id) printf("  managed_identity:\n    client_id: %s\n", d->managed_identity_client_id);
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
        printf("preflight: { timeout: %d, blob_suffix: %s, on_failure: %s }\n", k->preflight_timeout,
               k->preflight_blob_suffix, k->preflight_on_failure ? "true" : "false");
        printf("key_vault: { deadline: %d, ca_file: \"%s\", host_suffixes: [", k->key_vault_deadline, k->key_vault_ca_file);
        for (char **h = k->key_vault_host_suffixes; h && *h; h++)
                printf("%s%s", h == k->key_vault_host_suffixes ? "" : ", ", *h);
        printf("] }\n");
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
        const CustomDataOptions cdo = {.key_vault_host_suffixes = (const char *const *)k->key_vault_host_suffixes};
        int r = customdata_parse_with(data, len, file, &cdo, &cd, &problems);
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
        _cleanup_close_ int lock = state_lock_at(c->opts->root, c->config.state_dir, &holder);
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
