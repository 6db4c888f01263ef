/* legacy-script: custom data that starts with "#!" is a user-data script of the old
 * deployment. It runs once, from the kept copy of the custom data, with its output in
 * the log; the vSensor steps do not run. */
#include "child.h"
#include "log.h"
#include "notify.h"
#include "online.h"
#include "steps.h"

/* Splits "#!/bin/bash -e" into the interpreter and at most one argument, as the
 * kernel does. */
static int parse_shebang(const char *script, char **ret_interp, char **ret_arg) {
        const char *p = script + 2, *end = strchr(script, '\n');
        if (!end) end = script + strlen(script);
        while (p < end && (*p == ' ' || *p == '\t')) p++;
        const char *interp = p;
        while (p < end && *p != ' ' && *p != '\t') p++;
        if (p == interp || *interp != '/') return -EINVAL;
        _cleanup_free_ char *i = strndup(interp, (size_t)(p - interp));
        while (p < end && (*p == ' ' || *p == '\t')) p++;
        const char *arg_end = end;
        while (arg_end > p && (arg_end[-1] == ' ' || arg_end[-1] == '\t' || arg_end[-1] == '\r')) arg_end--;
        char *a = arg_end > p ? strndup(p, (size_t)(arg_end - p)) : NULL;
        if (!i) return -ENOMEM;
        *ret_interp = TAKE_PTR(i);
        *ret_arg = a;
        return 0;
}

int step_legacy_script(Context *c) {
        wait_network_online(c, 120); /* the script downloads, like the installer */
        _cleanup_free_ char *interp = NULL, *arg = NULL;
        if (parse_shebang(c->custom_data->script, &interp, &arg) < 0)
                return step_fail(c, EX_DATAERR, "the legacy script's first line names no interpreter (expected \"#!/bin/bash\")");
        _cleanup_free_ char *script = context_state_file(c, KEPT_CUSTOM_DATA_FILE);
        if (!script) return step_fail(c, EX_SOFTWARE, "out of memory");

        const char *argv[4] = {interp};
        size_t n = 1;
        if (arg) argv[n++] = arg;
        argv[n++] = script;
        argv[n] = NULL;
        /* A trace prints every command with its arguments expanded: values computed at
         * run time (or read from elsewhere) cannot be known in advance to hide them. */
        if ((arg && arg[0] == '-' && strchr(arg, 'x')) || strstr(c->custom_data->script, "set -x"))
                log_warning("the legacy user-data script traces its commands (-x): secrets it computes or reads at "
                            "run time may reach the log; only values written in the script itself are hidden");
        notify_extend_timeout(c->config.installer_deadline);
        RunResult res = {0};
        int r = child_run(c, "user-data", argv, c->config.installer_deadline, &res);
        if (r < 0) return step_fail(c, EX_TEMPFAIL, "cannot run %s: %s", interp, strerror(-r));
        char what[128];
        if (res.signaled || res.timed_out || res.exit_code != 0)
                return step_fail(c, EX_TEMPFAIL, "the legacy user-data script %s",
                                 run_result_describe(&res, c->config.installer_deadline * 1000, what, sizeof what));
        log_info("the legacy user-data script finished");
        return STEP_RESULT_DONE;
}
