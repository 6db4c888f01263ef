/* install: download Darktrace's installer over verified TLS to a file, check it
 * arrived whole, and run it with the update key. Skipped when a vSensor is already
 * installed (its installer refuses to run a second time). */
#include <fcntl.h>
#include <sys/stat.h>

#include "child.h"
#include "log.h"
#include "notify.h"
#include "preflight.h"
#include "retry-log.h"
#include "retry.h"
#include "secrets.h"
#include "steps.h"
#include "vsensor.h"

#define INSTALLER_MAX_SIZE (64u * 1024 * 1024)

static int download(Context *c, int fd, size_t *ret_size) {
        _cleanup_free_ char *ca = isempty(c->config.installer_ca_file) ? NULL
                                                                       : context_path(c, c->config.installer_ca_file);
        HttpRequest req = {
                .url = c->config.installer_url,
                .max_body = INSTALLER_MAX_SIZE,
                .connect_timeout_ms = 10000,
                .total_timeout_ms = 600000,
                .ca_file = ca,
                .out_fd = fd,
        };
        /* Many instances of a scale-out download at once: a wide jitter and the CDN's
         * Retry-After spread them out. */
        PreflightWatch watch;
        preflight_watch_init(&watch, c, "cdn", "the installer download");
        RetryPolicy policy = {
                .deadline_ms = (int64_t)c->config.installer_deadline * 1000,
                .base_ms = 1000,
                .max_ms = 30000,
                .status_retryable = retry_status_default,
                /* Only connection timeouts for a while: say what the network blocks now. */
                .observe = preflight_watch_observe,
                .observe_userdata = &watch,
        };
        HttpResponse resp = {0};
        int r = retry_http(&req, &policy, retry_log_notify, (void *)"installer download", &resp);
        const char *why = resp.error != HTTP_OK ? resp.message : "";
        if (r == -ETIMEDOUT) {
                /* The last try's transport error (TLS, connection), its HTTP status, or both. */
                char last[512];
                if (resp.status)
                        snprintf(last, sizeof last, "%s%sHTTP %ld", why, *why ? ", " : "", resp.status);
                else
                        snprintf(last, sizeof last, "%s", *why ? why : "no answer");
                step_fail(c, EX_UNAVAILABLE, "%s: no complete download within %d s (last: %s)", c->config.installer_url,
                          c->config.installer_deadline, last);
        } else if (r == -EBADMSG) {
                step_fail(c, EX_UNAVAILABLE, "%s answered HTTP %ld%s", c->config.installer_url, resp.status,
                          resp.status == 401 || resp.status == 403 ? " (check access to the Darktrace CDN)" : "");
        } else if (r < 0) {
                step_fail(c, r == -EFBIG ? EX_DATAERR : EX_UNAVAILABLE, "%s: %s", c->config.installer_url,
                          why[0] ? why : strerror(-r));
        } else if (resp.body_len == 0) {
                step_fail(c, EX_UNAVAILABLE, "%s answered HTTP %ld with an empty body", c->config.installer_url, resp.status);
                r = -ENODATA;
        }
        /* No answer at all (connection, TLS): the CDN check says which part of the path. */
        if (r < 0 && (resp.error == HTTP_ERR_CONNECT || resp.error == HTTP_ERR_TIMEOUT || resp.error == HTTP_ERR_TLS ||
                      resp.error == HTTP_ERR_TRUNCATED))
                preflight_annotate_failure(c, "cdn");
        *ret_size = resp.body_len;
        http_response_clear(&resp);
        return r < 0 ? STEP_RESULT_FAILED : 0;
}

int step_install(Context *c) {
        if (vsensor_installed(c)) {
                log_info("a vSensor is already installed (%s exists): not installing again", c->config.installed_marker);
                return STEP_RESULT_SKIPPED;
        }
        _cleanup_free_ char *marker = context_path(c, c->config.installed_marker);
        if (marker && access(marker, F_OK) == 0)
                /* Darktrace's installer refuses to run over an existing configuration. */
                return step_fail(c, EX_TEMPFAIL, "%s exists but the helpers in %s are missing or not executable: "
                                 "the vSensor installation is broken; remove the Darktrace packages and %s, then rerun",
                                 c->config.installed_marker, c->config.helpers_dir, c->config.installed_marker);
        notify_extend_timeout((int64_t)c->config.installer_deadline * 2);

        _cleanup_free_ char *dir = context_path(c, c->config.state_dir);
        _cleanup_free_ char *file = dir ? strjoin(dir, "/installer.XXXXXX", NULL) : NULL;
        if (!file) return step_fail(c, EX_SOFTWARE, "out of memory");
        int r = mkdir_p(dir, 0700);
        _cleanup_close_ int fd = r < 0 ? r : mkostemp(file, O_CLOEXEC);
        if (fd < 0) return step_fail(c, EX_CANTCREAT, "cannot create a file in %s: %s", dir, strerror(errno));

        int64_t start = now_monotonic_ms();
        size_t size = 0;
        r = download(c, fd, &size);
        if (r == 0) {
                log_info("downloaded the installer: %zu bytes in %lld ms", size, (long long)(now_monotonic_ms() - start));
                const char *argv[] = {"/bin/bash", file, "--updateKey", secret_reveal(c->custom_data->update_key), NULL};
                RunResult res = {0};
                int timeout = c->config.installer_deadline;
                r = child_run(c, "installer", argv, timeout, &res);
                char what[128];
                if (r < 0)
                        r = step_fail(c, EX_TEMPFAIL, "cannot run the installer: %s", strerror(-r));
                else if (res.signaled || res.timed_out || res.exit_code != 0)
                        r = step_fail(c, EX_TEMPFAIL, "the installer %s; check the update key and access to the "
                                      "Darktrace CDN, then rerun", run_result_describe(&res, timeout * 1000, what, sizeof what));
                else if (!vsensor_installed(c))
                        r = step_fail(c, EX_TEMPFAIL, "the installer exited 0 but %s or the helpers in %s are missing",
                                      c->config.installed_marker, c->config.helpers_dir);
                else
                        r = STEP_RESULT_DONE;
        }
        unlink(file);
        if (r == STEP_RESULT_DONE && secrets_record_applied(c, CUSTOMDATA_SECRET_UPDATE_KEY) < 0)
                r = step_fail(c, EX_SOFTWARE, "out of memory");
        if (r == STEP_RESULT_DONE) log_info("vSensor installed");
        return r;
}
