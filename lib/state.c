#include "state.h"
#include "safefile.h"

#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <sys/file.h>
#include <sys/stat.h>

#include "utf8.h"

#define STATE_FILE_MAX (1024 * 1024)
#define STATE_VERSION 1
/* The lock file only ever holds "PID\n". */
#define LOCK_PID_MAX 32

static inline void state_json_decrefp(json_t **p) {
        if (*p) json_decref(*p);
}
#define _cleanup_json_ _cleanup_(state_json_decrefp)

static const char *const step_state_table[_STEP_STATE_MAX] = {
        [STEP_PENDING] = "pending",
        [STEP_DONE] = "done",
        [STEP_FAILED] = "failed",
        [STEP_SKIPPED] = "skipped",
};

const char *step_state_to_string(StepState s) {
        if (s < 0 || s >= _STEP_STATE_MAX) return NULL;
        return step_state_table[s];
}

StepState step_state_from_string(const char *s) {
        if (!s) return _STEP_STATE_INVALID;
        for (int i = 0; i < _STEP_STATE_MAX; i++)
                if (streq(s, step_state_table[i])) return (StepState)i;
        return _STEP_STATE_INVALID;
}

static void step_record_done(StepRecord *r) {
        free(r->name);
        free(r->error);
        free(r->updated);
        *r = (StepRecord){};
}

State *state_new(void) {
        return calloc(1, sizeof(State));
}

static void secret_version_done(SecretVersion *v) {
        free(v->key);
        free(v->version);
        free(v->updated);
        *v = (SecretVersion){};
}

static void secrets_clear(State *s) {
        for (size_t i = 0; i < s->n_secrets; i++) secret_version_done(&s->secrets[i]);
        free(s->secrets);
        s->secrets = NULL;
        s->n_secrets = 0;
}

State *state_free(State *s) {
        if (!s) return NULL;
        secrets_clear(s);
        for (size_t i = 0; i < s->n_steps; i++) step_record_done(&s->steps[i]);
        free(s->steps);
        free(s->vm_id);
        free(s->boot_id);
        free(s);
        return NULL;
}

StepRecord *state_find(State *s, const char *name) {
        if (!s || !name) return NULL;
        for (size_t i = 0; i < s->n_steps; i++)
                if (streq(s->steps[i].name, name)) return &s->steps[i];
        return NULL;
}

StepState state_get(const State *s, const char *name) {
        /* state_find does not modify; the cast only avoids a second const variant. */
        const StepRecord *r = state_find((State *)s, name);
        return r ? r->state : STEP_PENDING;
}

/* Appends a pending record; takes ownership of name (freed on failure). */
static int state_append(State *s, char *name, StepRecord **ret) {
        StepRecord *n = realloc(s->steps, (s->n_steps + 1) * sizeof(StepRecord));
        if (!n) {
                free(name);
                return -ENOMEM;
        }
        s->steps = n;
        StepRecord *r = &s->steps[s->n_steps++];
        *r = (StepRecord){.name = name, .state = STEP_PENDING};
        *ret = r;
        return 0;
}

static int now_string(char **ret) {
        char buf[32];
        format_rfc3339(now_realtime_ms(), buf, sizeof buf);
        char *s = strdup(buf);
        if (!s) return -ENOMEM;
        *ret = s;
        return 0;
}

/* Finds or creates the record; a created record is pending with updated=now. */
static int state_ensure(State *s, const char *name, StepRecord **ret) {
        if (!s || isempty(name)) return -EINVAL;
        StepRecord *r = state_find(s, name);
        if (r) {
                *ret = r;
                return 0;
        }
        _cleanup_free_ char *updated = NULL;
        int k = now_string(&updated);
        if (k < 0) return k;
        char *copy = strdup(name);
        if (!copy) return -ENOMEM;
        k = state_append(s, copy, &r);
        if (k < 0) return k;
        r->updated = TAKE_PTR(updated);
        *ret = r;
        return 0;
}

int state_set(State *s, const char *name, StepState st, const char *error) {
        if (st < 0 || st >= _STEP_STATE_MAX) return -EINVAL;
        /* Allocate everything first so a failure leaves the record as it was. */
        _cleanup_free_ char *err = NULL, *updated = NULL;
        if (error) {
                /* state.json is JSON: a message cut inside a UTF-8 character (or holding
                 * bytes from metadata that are not UTF-8) would make it unwritable and
                 * lose the real error. Invalid bytes are kept as \xNN text. */
                err = utf8_escape(error, strlen(error), 0);
                if (!err) return -ENOMEM;
        }
        int r = now_string(&updated);
        if (r < 0) return r;
        StepRecord *rec;
        r = state_ensure(s, name, &rec);
        if (r < 0) return r;
        rec->state = st;
        free(rec->error);
        rec->error = TAKE_PTR(err);
        free(rec->updated);
        rec->updated = TAKE_PTR(updated);
        return 0;
}

int state_count_attempt(State *s, const char *name) {
        StepRecord *rec;
        int r = state_ensure(s, name, &rec);
        if (r < 0) return r;
        if (rec->attempts < INT_MAX) rec->attempts++;
        return 0;
}

int state_set_vm_id(State *s, const char *vm_id) {
        if (!s) return -EINVAL;
        char *copy = NULL;
        if (vm_id) {
                copy = strdup(vm_id);
                if (!copy) return -ENOMEM;
        }
        free(s->vm_id);
        s->vm_id = copy;
        return 0;
}

int state_reset(State *s, const char *vm_id) {
        if (!s) return -EINVAL;
        int r = state_set_vm_id(s, vm_id);
        if (r < 0) return r;
        for (size_t i = 0; i < s->n_steps; i++) step_record_done(&s->steps[i]);
        free(s->steps);
        s->steps = NULL;
        s->n_steps = 0;
        secrets_clear(s);
        return 0;
}

const char *state_get_secret_version(const State *s, const char *key) {
        for (size_t i = 0; s && key && i < s->n_secrets; i++)
                if (streq(s->secrets[i].key, key)) return s->secrets[i].version;
        return NULL;
}

/* Records key's version (both copied) with updated (taken, freed on failure): one
 * place for both callers, state_set_secret_version and the state file parser. */
static int secrets_put(State *s, const char *key, const char *version, char *updated) {
        char *v = strdup(version);
        if (!v) {
                free(updated);
                return -ENOMEM;
        }
        for (size_t i = 0; i < s->n_secrets; i++)
                if (streq(s->secrets[i].key, key)) {
                        free(s->secrets[i].version);
                        free(s->secrets[i].updated);
                        s->secrets[i].version = v;
                        s->secrets[i].updated = updated;
                        return 0;
                }
        char *k = strdup(key);
        SecretVersion *n = k ? realloc(s->secrets, (s->n_secrets + 1) * sizeof(SecretVersion)) : NULL;
        if (!n) {
                free(k);
                free(v);
                free(updated);
                return -ENOMEM;
        }
        s->secrets = n;
        s->secrets[s->n_secrets++] = (SecretVersion){.key = k, .version = v, .updated = updated};
        return 0;
}

int state_set_secret_version(State *s, const char *key, const char *version) {
        if (!s || isempty(key) || isempty(version)) return -EINVAL;
        char *updated = NULL;
        int r = now_string(&updated);
        if (r < 0) return r;
        return secrets_put(s, key, version, updated);
}

static int json_opt_string(json_t *obj, const char *key, char **ret);

static int state_parse_secrets(State *s, json_t *arr) {
        if (!arr || json_is_null(arr)) return 0;
        if (!json_is_array(arr)) return -EBADMSG;
        size_t i;
        json_t *o;
        json_array_foreach(arr, i, o) {
                if (!json_is_object(o)) return -EBADMSG;
                const char *key = json_string_value(json_object_get(o, "key"));
                const char *version = json_string_value(json_object_get(o, "version"));
                if (isempty(key) || isempty(version) || state_get_secret_version(s, key)) return -EBADMSG;
                char *updated = NULL;
                int r = json_opt_string(o, "updated", &updated);
                if (r < 0) return r;
                r = secrets_put(s, key, version, updated);
                if (r < 0) return r;
        }
        return 0;
}

static json_t *secrets_to_json(const State *s) {
        json_t *arr = json_array();
        for (size_t i = 0; arr && i < s->n_secrets; i++) {
                const SecretVersion *v = &s->secrets[i];
                json_t *o = json_pack("{s:s, s:s, s:o}", "key", v->key, "version", v->version, "updated",
                                      v->updated ? json_string(v->updated) : json_null());
                if (!o || json_array_append_new(arr, o) < 0) {
                        json_decref(arr);
                        return NULL;
                }
        }
        return arr;
}

/* A missing key or null gives NULL; a string is copied; anything else is -EBADMSG. */
static int json_opt_string(json_t *obj, const char *key, char **ret) {
        json_t *v = json_object_get(obj, key);
        if (!v || json_is_null(v)) {
                *ret = NULL;
                return 0;
        }
        if (!json_is_string(v)) return -EBADMSG;
        char *s = strdup(json_string_value(v));
        if (!s) return -ENOMEM;
        *ret = s;
        return 0;
}

static int state_parse_step(State *s, json_t *o) {
        if (!json_is_object(o)) return -EBADMSG;
        json_t *name = json_object_get(o, "name");
        if (!json_is_string(name) || isempty(json_string_value(name))) return -EBADMSG;
        if (state_find(s, json_string_value(name))) return -EBADMSG;
        StepState st = step_state_from_string(json_string_value(json_object_get(o, "state")));
        if (st < 0) return -EBADMSG;
        int attempts = 0;
        json_t *a = json_object_get(o, "attempts");
        if (a) {
                if (!json_is_integer(a)) return -EBADMSG;
                json_int_t v = json_integer_value(a);
                if (v < 0 || v > INT_MAX) return -EBADMSG;
                attempts = (int)v;
        }
        _cleanup_free_ char *error = NULL, *updated = NULL;
        int r = json_opt_string(o, "error", &error);
        if (r < 0) return r;
        r = json_opt_string(o, "updated", &updated);
        if (r < 0) return r;
        char *copy = strdup(json_string_value(name));
        if (!copy) return -ENOMEM;
        StepRecord *rec;
        r = state_append(s, copy, &rec);
        if (r < 0) return r;
        rec->state = st;
        rec->attempts = attempts;
        rec->error = TAKE_PTR(error);
        rec->updated = TAKE_PTR(updated);
        return 0;
}

int state_load(const char *path, State **ret) {
        _cleanup_free_ char *buf = NULL;
        size_t len = 0;
        _cleanup_(state_freep) State *s = state_new();
        if (!s) return -ENOMEM;

        int r = read_file_capped(path, STATE_FILE_MAX, &buf, &len);
        if (r == -ENOENT) {
                *ret = TAKE_PTR(s);
                return 0;
        }
        if (r < 0) return r;

        json_error_t err;
        _cleanup_json_ json_t *root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &err);
        if (!root || !json_is_object(root)) return -EBADMSG;

        json_t *version = json_object_get(root, "version");
        if (version && (!json_is_integer(version) || json_integer_value(version) != STATE_VERSION))
                return -EBADMSG;
        r = json_opt_string(root, "vm_id", &s->vm_id);
        if (r < 0) return r;
        r = json_opt_string(root, "boot_id", &s->boot_id);
        if (r < 0) return r;

        json_t *steps = json_object_get(root, "steps");
        if (steps && !json_is_null(steps)) {
                if (!json_is_array(steps)) return -EBADMSG;
                size_t i;
                json_t *o;
                json_array_foreach(steps, i, o) {
                        r = state_parse_step(s, o);
                        if (r < 0) return r;
                }
        }
        r = state_parse_secrets(s, json_object_get(root, "secrets"));
        if (r < 0) return r;
        *ret = TAKE_PTR(s);
        return 0;
}

static json_t *json_string_or_null(const char *s) {
        return s ? json_string(s) : json_null();
}

static json_t *state_to_json(const State *s) {
        _cleanup_json_ json_t *steps = json_array();
        if (!steps) return NULL;
        for (size_t i = 0; i < s->n_steps; i++) {
                const StepRecord *rec = &s->steps[i];
                const char *st = step_state_to_string(rec->state);
                if (!rec->name || !st) return NULL;
                /* "o" steals each reference, also on failure. */
                json_t *o = json_pack("{s:s, s:s, s:i, s:o, s:o}",
                                      "name", rec->name,
                                      "state", st,
                                      "attempts", rec->attempts,
                                      "error", json_string_or_null(rec->error),
                                      "updated", json_string_or_null(rec->updated));
                if (!o || json_array_append_new(steps, o) < 0) return NULL;
        }
        return json_pack("{s:i, s:o, s:o, s:O}",
                         "version", STATE_VERSION,
                         "vm_id", json_string_or_null(s->vm_id),
                         "boot_id", json_string_or_null(s->boot_id),
                         "steps", steps);
}

int state_save(const State *s, const char *path) {
        if (!s || isempty(path)) return -EINVAL;
        _cleanup_json_ json_t *root = state_to_json(s);
        /* json_pack fails on strings that are not UTF-8 as well as on OOM. */
        if (!root) return -EINVAL;
        /* Only a state that has Key Vault versions carries the member. */
        if (s->n_secrets > 0 && json_object_set_new(root, "secrets", secrets_to_json(s)) < 0) return -EINVAL;

        const size_t flags = JSON_INDENT(2) | JSON_PRESERVE_ORDER;
        size_t n = json_dumpb(root, NULL, 0, flags);
        if (n == 0) return -EINVAL;
        _cleanup_free_ char *buf = malloc(n + 1);
        if (!buf) return -ENOMEM;
        if (json_dumpb(root, buf, n, flags) != n) return -EINVAL;
        buf[n] = '\n';

        _cleanup_free_ char *dir = path_dirname(path);
        if (!dir) return -ENOMEM;
        int r = mkdir_p(dir, 0700);
        if (r < 0) return r;
        return write_file_atomic(path, buf, n + 1, 0600);
}

/* Reads the pid a holder wrote; 0 when the file holds none (yet). */
static pid_t lock_read_pid(int fd) {
        char buf[LOCK_PID_MAX];
        ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
        if (n <= 0) return 0;
        buf[n] = 0;
        char *end;
        errno = 0;
        long v = strtol(buf, &end, 10);
        if (errno != 0 || end == buf || (*end != '\n' && *end != 0) || v <= 0 || v > INT_MAX)
                return 0;
        return (pid_t)v;
}

/* The state directory: created 0700, or an existing one checked on its fd. */
static int state_dir_open(const char *root, const char *dir) {
        _cleanup_close_ int rootfd = safe_root_open(root);
        if (rootfd < 0) return rootfd;
        _cleanup_close_ int fd = safe_openat(rootfd, dir, O_RDONLY | O_DIRECTORY, 0);
        if (fd == -ENOENT) return safe_mkdirat(rootfd, dir, 0700, SAFE_NO_OWNER, SAFE_NO_GROUP, false);
        if (fd < 0) return fd;
        int r = safe_check(fd, SAFE_DIRECTORY | SAFE_OWNED, SAFE_NO_OWNER);
        if (r < 0) return r;
        struct stat st;
        if (fstat(fd, &st) < 0) return -errno;
        if (st.st_mode & 0022) return -EACCES;
        if ((st.st_mode & 07777) != 0700 && fchmod(fd, 0700) < 0) return -errno;
        return TAKE_FD(fd);
}

int state_lock_at(const char *root, const char *dir, pid_t *ret_holder_pid) {
        if (isempty(dir)) return -EINVAL;
        _cleanup_close_ int dfd = state_dir_open(root, dir);
        if (dfd < 0) return dfd;
        _cleanup_close_ int fd = openat(dfd, "lock", O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK, 0600);
        if (fd < 0) return -errno;
        int r = safe_check(fd, SAFE_REGULAR | SAFE_ONE_LINK | SAFE_OWNED, SAFE_NO_OWNER);
        if (r < 0) return r;
        if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
                r = -errno;
                if (r == -EWOULDBLOCK && ret_holder_pid) *ret_holder_pid = lock_read_pid(fd);
                return r;
        }
        /* Only for the message of a second run: write the pid first and truncate after,
         * so a reader never sees an empty file once a pid has been written. */
        char buf[LOCK_PID_MAX];
        int n = snprintf(buf, sizeof buf, "%ld\n", (long)getpid());
        if (n > 0 && pwrite(fd, buf, (size_t)n, 0) == n) (void)!ftruncate(fd, n);
        return TAKE_FD(fd);
}

int state_lock(const char *dir, pid_t *ret_holder_pid) {
        if (isempty(dir)) return -EINVAL;
        return state_lock_at(NULL, dir, ret_holder_pid);
}
