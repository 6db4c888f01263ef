#include "context.h"

#include "util.h"

char *context_path(const Context *c, const char *path) {
        return path_under_root(c->opts->root, path);
}

char *context_state_file(const Context *c, const char *name) {
        _cleanup_free_ char *dir = context_path(c, c->config.state_dir);
        return dir ? strjoin(dir, "/", name) : NULL;
}

LogLevel options_console_level(const Options *o) {
        if (o->verbosity > 0) return LOG_LEVEL_DEBUG;
        if (o->verbosity < 0) return LOG_LEVEL_WARNING;
        return LOG_LEVEL_INFO;
}

const char *const *context_child_env(const Context *c) {
        /* Children get nothing of ours but these: no proxy variables, no secrets. */
        static char root_var[4096];
        static const char *env[6];
        size_t n = 0;
        env[n++] = "PATH=/usr/sbin:/usr/bin:/sbin:/bin";
        env[n++] = "LANG=C.UTF-8";
        env[n++] = "HOME=/root";
        env[n++] = "DEBIAN_FRONTEND=noninteractive";
        if (!isempty(c->opts->root)) {
                snprintf(root_var, sizeof root_var, "VSENSOR_INIT_ROOT=%s", c->opts->root);
                env[n++] = root_var;
        }
        env[n] = NULL;
        return env;
}
