#include "child.h"

#include "log.h"
#include "outcome.h"

static void on_line(void *userdata, const char *stream, const char *line) {
        log_child_line(userdata, stream, line);
}

/* "name arg1 arg2": the log redacts every secret it contains. */
static char *describe_argv(const char *const *argv) {
        size_t len = 1;
        for (const char *const *a = argv; *a; a++) len += strlen(*a) + 1;
        char *s = malloc(len), *p = s;
        if (!s) return NULL;
        for (const char *const *a = argv; *a; a++) {
                const char *base = a == argv && strrchr(*a, '/') ? strrchr(*a, '/') + 1 : *a;
                size_t l = strlen(base);
                if (a != argv) *p++ = ' ';
                memcpy(p, base, l);
                p += l;
        }
        *p = 0;
        return s;
}

int child_run(Context *c, const char *label, const char *const *argv, int timeout_s, RunResult *ret) {
        _cleanup_free_ char *cmdline = describe_argv(argv);
        log_info("running %s", cmdline ? cmdline : argv[0]);
        RunOptions o = {
                .argv = argv,
                .envp = context_child_env(c),
                .timeout_ms = timeout_s * 1000,
                .on_line = on_line,
                .userdata = (void *)label,
        };
        return run_command(&o, ret);
}

int helper_run(Context *c, const char *name, const char *const *args) {
        _cleanup_free_ char *dir = context_path(c, c->config.helpers_dir);
        _cleanup_free_ char *path = dir ? strjoin(dir, "/", name) : NULL;
        if (!path) return step_fail(c, EX_SOFTWARE, "out of memory");

        const char *argv[16] = {path};
        size_t n = 1;
        for (const char *const *a = args; *a && n < ELEMENTSOF(argv) - 1; a++) argv[n++] = *a;
        argv[n] = NULL;

        char what[128] = "";
        for (int attempt = 1; attempt <= c->config.helper_attempts; attempt++) {
                RunResult res = {0};
                int r = child_run(c, name, argv, c->config.helper_timeout, &res);
                if (r < 0)
                        snprintf(what, sizeof what, "cannot start %s: %s", path, strerror(-r));
                else if (!res.signaled && !res.timed_out && res.exit_code == 0)
                        return STEP_RESULT_DONE;
                else
                        run_result_describe(&res, c->config.helper_timeout * 1000, what, sizeof what);
                if (attempt == c->config.helper_attempts) break;
                /* Full jitter over a doubling ceiling: 1 s, 2 s, 4 s ... capped at 30 s. */
                int64_t ceiling = 1000LL << (attempt - 1 < 5 ? attempt - 1 : 5);
                int64_t delay = (int64_t)random_below((uint64_t)ceiling + 1);
                log_warning("%s %s (try %d of %d); retrying in %lld ms", name, what, attempt,
                            c->config.helper_attempts, (long long)delay);
                sleep_ms(delay);
        }
        return step_fail(c, EX_TEMPFAIL, "%s %s after %d tries; the next run retries this step", name, what,
                         c->config.helper_attempts);
}
