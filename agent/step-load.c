/* load: find the custom data, decode it, validate all of it. Sources, first found
 * wins: --custom-data, the copy kept from an earlier run for this VM, the
 * provisioning media, waagent's CustomData, IMDS userData. */
#include <sys/stat.h>

#include "base64.h"
#include "imds.h"
#include "log.h"
#include "media.h"
#include "notify.h"
#include "ovf.h"
#include "retry-log.h"
#include "scriptsecrets.h"
#include "secrets.h"
#include "steps.h"


static int read_stdin_capped(char **ret, size_t *ret_len) {
        size_t cap = CUSTOMDATA_MAX, len = 0;
        _cleanup_free_ char *buf = malloc(cap + 2);
        if (!buf) return -ENOMEM;
        for (;;) {
                ssize_t n = read(STDIN_FILENO, buf + len, cap + 1 - len);
                if (n < 0) {
                        if (errno == EINTR) continue;
                        return -errno;
                }
                if (n == 0) break;
                len += (size_t)n;
                if (len > cap) return -EFBIG;
        }
        buf[len] = 0;
        *ret_len = len;
        *ret = TAKE_PTR(buf);
        return 0;
}

/* waagent keeps CustomData base64-encoded unless told to decode it: take whichever
 * it is (a YAML document or a "#!" script is never valid base64). */
static int decode_if_base64(char **data, size_t *len) {
        char *decoded = NULL;
        size_t dlen = 0;
        if (base64_decode(*data, *len, CUSTOMDATA_MAX, &decoded, &dlen, NULL) < 0) return 0;
        wipe(*data, *len);
        free(*data);
        *data = decoded;
        *len = dlen;
        return 1;
}

static char *waagent_custom_data_path(const Context *c) {
        _cleanup_free_ char *dir = context_path(c, c->config.waagent_dir);
        return dir ? strjoin(dir, "/CustomData", NULL) : NULL;
}

/* Invalid custom data: stops the vSensor steps, not OS provisioning (DESIGN). */
static int defer(Context *c, const char *msg) {
        free(c->deferred_error);
        c->deferred_error = strdup(msg);
        c->deferred_exit = EX_DATAERR;
        return STEP_RESULT_DEFERRED;
}

/* Each source returns 1 with the data when it has some, 0 when it has none, a step
 * failure, or STEP_RESULT_DEFERRED when what it found is not usable custom data.
 * `name` is set to where it was found. */
static int source_command_line(Context *c, char **data, size_t *len, char **name) {
        const char *f = c->opts->custom_data;
        if (!f) return 0;
        int r = streq(f, "-") ? read_stdin_capped(data, len) : read_file_capped(f, CUSTOMDATA_MAX, data, len);
        if (r == -EFBIG) return step_fail(c, EX_DATAERR, "%s: custom data is larger than 64 KiB", f);
        if (r < 0) return step_fail(c, EX_DATAERR, "cannot read custom data %s: %s", f, strerror(-r));
        *name = strdup(streq(f, "-") ? "<stdin>" : f);
        return 1;
}

/* The copy kept for this VM: resumes and repairs work once the media is gone. */
static int source_kept(Context *c, char **data, size_t *len, char **name) {
        /* No DMI id: the VM id is IMDS's, which the metadata step would read only after
         * this one. Read it now, so a resume or repair finds its own copy. */
        if (!c->vm_id && c->state->vm_id) {
                int r = metadata_fetch(c);
                if (r < 0) return r;
        }
        if (!c->vm_id || !streq_ptr(c->vm_id, c->state->vm_id)) return 0;
        _cleanup_free_ char *kept = context_state_file(c, KEPT_CUSTOM_DATA_FILE);
        if (!kept) return step_fail(c, EX_SOFTWARE, "out of memory");
        int r = read_file_capped(kept, CUSTOMDATA_MAX, data, len);
        if (r == -ENOENT) return 0;
        if (r < 0) {
                log_warning("cannot read %s: %s; looking for the original", kept, strerror(-r));
                return 0;
        }
        *name = strjoin(kept, " (kept from the first run)", NULL);
        return 1;
}

static int source_media(Context *c, char **data, size_t *len, char **name) {
        int r = media_custom_data(c, data, len);
        if (r == -ENOENT) return 0;
        if (r == -EBADMSG) {
                char msg[512];
                snprintf(msg, sizeof msg, "invalid custom data from the provisioning media: %s", c->ovf->custom_data_error);
                log_error("%s", msg);
                return defer(c, msg);
        }
        if (r < 0) return STEP_RESULT_FAILED; /* media_custom_data set the failure */
        *name = strdup("the provisioning media (ovf-env.xml)");
        return 1;
}

/* provisioning: waagent — waagent provisions and reports ready; its CustomData is
 * complete once its "provisioned" file exists. */
static int wait_for_waagent(Context *c) {
        _cleanup_free_ char *dir = context_path(c, c->config.waagent_dir);
        _cleanup_free_ char *done = dir ? strjoin(dir, "/provisioned", NULL) : NULL;
        if (!done) return step_fail(c, EX_SOFTWARE, "out of memory");
        if (access(done, F_OK) == 0) return 0;
        /* waagent may be ordered after this unit: let it start before waiting on it. */
        notify_ready();
        log_info("waiting for waagent to provision the instance (%s)", done);
        notify_extend_timeout(c->config.wireserver_deadline);
        int64_t deadline = now_monotonic_ms() + (int64_t)c->config.wireserver_deadline * 1000;
        while (access(done, F_OK) < 0) {
                if (now_monotonic_ms() >= deadline)
                        return step_fail(c, EX_UNAVAILABLE, "waagent did not provision the instance within %d s (%s is missing)",
                                         c->config.wireserver_deadline, done);
                sleep_ms(100);
        }
        return 0;
}

static int source_waagent(Context *c, char **data, size_t *len, char **name) {
        _cleanup_free_ char *file = waagent_custom_data_path(c);
        if (!file) return step_fail(c, EX_SOFTWARE, "out of memory");
        if (c->config.provisioning == PROVISIONING_WAAGENT && wait_for_waagent(c) < 0) return STEP_RESULT_FAILED;
        int r = read_file_capped(file, CUSTOMDATA_MAX * 2, data, len);
        if (r == -ENOENT) return 0;
        if (r < 0) {
                log_warning("cannot read %s: %s", file, strerror(-r));
                return 0;
        }
        if (*len == 0) return 0;
        decode_if_base64(data, len);
        *name = TAKE_PTR(file);
        return 1;
}

static int source_imds(Context *c, char **data, size_t *len, char **name) {
        char err[256] = "";
        ImdsClient ic = {
                .base_url = c->config.imds_url,
                .deadline_ms = (int64_t)c->config.imds_deadline * 1000,
                .notify = retry_log_notify,
                .userdata = (void *)"IMDS userData",
        };
        int r = imds_fetch_userdata(&ic, data, len, err, sizeof err);
        if (r == -ENOENT || (r >= 0 && *len == 0)) return 0;
        if (r == -ETIMEDOUT)
                return step_fail(c, EX_UNAVAILABLE, "IMDS did not answer for userData within %d s: %s",
                                 c->config.imds_deadline, err);
        if (r == -EBADMSG || r == -EFBIG) {
                /* A 200 that is no custom data: invalid custom data, exit 65 (DESIGN). */
                char msg[512];
                snprintf(msg, sizeof msg, "invalid custom data from IMDS userData: %s", err);
                log_error("%s", msg);
                return defer(c, msg);
        }
        if (r < 0) return step_fail(c, EX_UNAVAILABLE, "IMDS userData: %s", err);
        *name = strdup("IMDS userData");
        return 1;
}

/* Finds the custom data: 1 with data, 0 when no source had any (looked lists the
 * places tried), or a step failure. */
static int find_custom_data(Context *c, char **ret, size_t *ret_len, char *looked, size_t looked_size) {
        static int (*const sources[])(Context *, char **, size_t *, char **) = {
                source_command_line, source_kept, source_media, source_waagent, source_imds,
        };
        for (size_t i = 0; i < ELEMENTSOF(sources); i++) {
                char *name = NULL;
                int r = sources[i](c, ret, ret_len, &name);
                if (r < 0 || r == STEP_RESULT_DEFERRED) return r;
                if (r > 0) {
                        if (!name) return step_fail(c, EX_SOFTWARE, "out of memory");
                        free(c->custom_data_source);
                        c->custom_data_source = name;
                        return 1;
                }
        }
        _cleanup_free_ char *kept = context_state_file(c, KEPT_CUSTOM_DATA_FILE);
        _cleanup_free_ char *wa = waagent_custom_data_path(c);
        snprintf(looked, looked_size, "the kept copy %s, the provisioning media (ovf_media: %s), %s, IMDS userData",
                 kept ? kept : "?", c->config.ovf_media, wa ? wa : "?");
        return 0;
}

static int keep_custom_data(Context *c, const char *data, size_t len) {
        _cleanup_free_ char *dir = context_path(c, c->config.state_dir);
        _cleanup_free_ char *kept = context_state_file(c, KEPT_CUSTOM_DATA_FILE);
        if (!dir || !kept) return -ENOMEM;
        int r = mkdir_p(dir, 0700);
        if (r < 0) return r;
        return write_file_atomic(kept, data, len, 0600);
}

int step_load(Context *c) {
        char *data = NULL;
        size_t len = 0;
        char looked[2048];
        c->custom_data = customdata_free(c->custom_data);
        int r = find_custom_data(c, &data, &len, looked, sizeof looked);
        if (r == 0) {
                char msg[2300];
                snprintf(msg, sizeof msg, "no custom data found; looked in: %s", looked);
                log_error("%s", msg);
                return defer(c, msg);
        }
        if (r < 0 || r == STEP_RESULT_DEFERRED) return r;

        Problems problems;
        if (problems_init(&problems, c->custom_data_source) < 0) {
                free(data);
                return step_fail(c, EX_SOFTWARE, "out of memory");
        }
        const CustomDataOptions cdo = {
                .key_vault_host_suffixes = (const char *const *)c->config.key_vault_host_suffixes,
        };
        r = customdata_parse_with(data, len, c->custom_data_source, &cdo, &c->custom_data, &problems);
        if (r < 0) {
                wipe(data, len);
                free(data);
                /* Line 0 is a problem of the whole document ("custom data is empty"):
                 * no position to give, as problems_print() does it. */
                for (size_t i = 0; i < problems.n; i++) {
                        if (problems.items[i].line == 0)
                                log_error("%s: %s", c->custom_data_source, problems.items[i].message);
                        else
                                log_error("%s:%u:%u: %s", c->custom_data_source, problems.items[i].line,
                                          problems.items[i].column, problems.items[i].message);
                }
                char msg[1024], where[32] = "";
                if (problems.n && problems.items[0].line > 0)
                        snprintf(where, sizeof where, "line %u: ", problems.items[0].line);
                snprintf(msg, sizeof msg, "invalid custom data from %s: %s%s%s", c->custom_data_source, where,
                         problems.n ? problems.items[0].message : "invalid",
                         problems.n > 1 ? " (and more, see the log)" : "");
                problems_done(&problems);
                return defer(c, msg);
        }
        problems_done(&problems);

        r = keep_custom_data(c, data, len);
        wipe(data, len);
        free(data);
        if (r < 0) return step_fail(c, EX_CANTCREAT, "cannot keep the custom data in %s: %s", c->config.state_dir, strerror(-r));

        /* Key Vault references: every secret is read and checked before any step acts;
         * the kept copy above holds the references only. A failure stops the vSensor
         * steps, not OS provisioning, and is reported to Azure like invalid custom data. */
        if (c->custom_data->kind == CUSTOMDATA_VSENSOR && customdata_n_refs(c->custom_data) > 0) {
                char msg[1024];
                int code = 0;
                if (secrets_resolve(c, c->custom_data, c->custom_data_source, &code, msg, sizeof msg) < 0) {
                        c->custom_data = customdata_free(c->custom_data);
                        if (code == EX_SOFTWARE) return step_fail(c, code, "%s", msg);
                        defer(c, msg);
                        c->deferred_exit = code;
                        return STEP_RESULT_DEFERRED;
                }
        }

        if (c->custom_data->kind == CUSTOMDATA_SCRIPT) {
                /* Old scripts run under bash -x: whatever of their own text looks like a
                 * secret is hidden from the log before they run. */
                r = script_secrets_register(c->custom_data->script, c->custom_data->script_len);
                if (r < 0) return step_fail(c, EX_SOFTWARE, "out of memory");
                log_info("custom data from %s is a legacy user-data script%s", c->custom_data_source,
                         r > 0 ? " (values in it that look like secrets are hidden in the log)" : "");
        }
        else
                /* The proxy URL is a secret as a whole (redacted everywhere); its display
                 * form hides only the password, so the operator sees which proxy. */
                log_info("custom data from %s is valid: master %s:%u%s%s%s%s%s", c->custom_data_source,
                         c->custom_data->master_host, c->custom_data->master_port,
                         c->custom_data->proxy ? " via proxy " : "",
                         c->custom_data->proxy ? c->custom_data->proxy_display : "",
                         c->custom_data->pcap_enabled ? ", PCAP to blob storage" : ", PCAP off",
                         c->custom_data->private_link ? ", Private Link" : "",
                         c->custom_data->ephemeral ? ", ephemeral" : "");
        return STEP_RESULT_DONE;
}
