/* sshdconfig: the first value of a keyword in sshd's global section, in sshd's order. */
#include "sshdconfig.h"

#include <glob.h>
#include <strings.h>

#include "safefile.h"

#define INCLUDE_DEPTH_MAX 16
#define CONFIG_FILE_MAX (1024 * 1024)

typedef struct Walk {
        const char *root, *keyword;
        SshdSetting found;
        bool done;          /* found, or a Match ended the global section */
        char *bad_file;     /* the file that could not be read */
} Walk;

void sshd_setting_done(SshdSetting *s) {
        if (!s) return;
        free(s->file);
        free(s->value);
        *s = (SshdSetting){0};
}

static int walk_file(Walk *w, const char *path, int depth);

/* The next argument of a line: blank separated, double quotes group. */
static char *next_arg(char **p) {
        char *s = *p;
        while (*s == ' ' || *s == '\t') s++;
        if (!*s) return NULL;
        char *start = s;
        if (*s == '"') {
                start = ++s;
                while (*s && *s != '"') s++;
        } else
                while (*s && *s != ' ' && *s != '\t') s++;
        if (*s) *s++ = 0;
        *p = s;
        return start;
}

static int walk_include(Walk *w, const char *pattern, int depth) {
        _cleanup_free_ char *abs = pattern[0] == '/' ? strdup(pattern) : strjoin("/etc/ssh/", pattern, NULL);
        _cleanup_free_ char *full = abs ? path_under_root(w->root, abs) : NULL;
        if (!full) return -ENOMEM;
        size_t prefix = strlen(full) - strlen(abs);
        glob_t g = {0};
        int gr = glob(full, 0, NULL, &g);
        int r = 0;
        if (gr == 0)
                for (size_t i = 0; i < g.gl_pathc && !w->done && r >= 0; i++)
                        r = walk_file(w, g.gl_pathv[i] + prefix, depth + 1);
        globfree(&g);
        if (gr == GLOB_NOSPACE) return -ENOMEM;
        return r;
}

static int walk_file(Walk *w, const char *path, int depth) {
        if (depth > INCLUDE_DEPTH_MAX) return -ELOOP;
        _cleanup_free_ char *text = NULL;
        int r = safe_read(w->root, path, CONFIG_FILE_MAX, SAFE_NO_OWNER, &text, NULL);
        if (r < 0) {
                if (!w->bad_file) w->bad_file = strdup(path);
                return r;
        }
        unsigned lineno = 0;
        for (char *line = text, *next; line && !w->done; line = next) {
                lineno++;
                next = strchr(line, '\n');
                if (next) *next++ = 0;
                line[strcspn(line, "\r")] = 0;
                char *p = line;
                while (*p == ' ' || *p == '\t') p++;
                if (!*p || *p == '#') continue;
                /* "Keyword value" or "Keyword=value". */
                char *kw = p;
                p += strcspn(p, " \t=");
                if (*p) {
                        *p++ = 0;
                        while (*p == ' ' || *p == '\t') p++;
                        if (*p == '=') p++;
                }
                if (strcasecmp(kw, "Match") == 0) {
                        w->done = true;
                        break;
                }
                if (strcasecmp(kw, "Include") == 0) {
                        for (char *arg; (arg = next_arg(&p)) && !w->done;) {
                                r = walk_include(w, arg, depth);
                                if (r < 0) return r;
                        }
                        continue;
                }
                if (strcasecmp(kw, w->keyword) != 0) continue;
                char *value = next_arg(&p);
                w->found.file = strdup(path);
                w->found.value = strdup(value ? value : "");
                w->found.line = lineno;
                if (!w->found.file || !w->found.value) return -ENOMEM;
                w->done = true;
                return 1;
        }
        return 0;
}

int sshdconfig_find(const char *root, const char *keyword, SshdSetting *ret, char **ret_file) {
        Walk w = {.root = root, .keyword = keyword};
        int r = walk_file(&w, "/etc/ssh/sshd_config", 0);
        if (r >= 0 && w.found.file) {
                *ret = w.found;
                free(w.bad_file);
                return 1;
        }
        sshd_setting_done(&w.found);
        if (r < 0 && ret_file) *ret_file = TAKE_PTR(w.bad_file);
        free(w.bad_file);
        return r < 0 ? r : 0;
}
