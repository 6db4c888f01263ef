/* scriptsecrets: token-format values in a legacy user-data script, registered as secrets. */
#include "scriptsecrets.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "secret.h"
#include "util.h"

/* Caps: a script is custom data (64 KiB), words and variables are bounded with it. */
#define WORD_MAX 4096
#define VARS_MAX 256

typedef struct Var {
        char *name, *value;
} Var;

typedef struct Scan {
        Var vars[VARS_MAX];
        size_t n_vars;
        int registered;
} Scan;

static bool in_set(char c, const char *set) { return c && strchr(set, c); }

static bool all_of(const char *s, size_t n, const char *extra, bool digits, bool letters) {
        if (n == 0) return false;
        for (size_t i = 0; i < n; i++) {
                char c = s[i];
                bool ok = (digits && c >= '0' && c <= '9') ||
                          (letters && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))) || in_set(c, extra);
                if (!ok) return false;
        }
        return true;
}

static int add(Scan *s, const char *v, size_t n) {
        if (n == 0) return 0;
        int r = secret_register_value(v, n);
        if (r < 0) return r;
        s->registered++;
        return 0;
}

/* A KEY:SECRET value: the whole, and each half on its own (a child may print one). */
static int add_with_halves(Scan *s, const char *v) {
        size_t n = strlen(v);
        int r = add(s, v, n);
        const char *colon = memchr(v, ':', n);
        if (r >= 0 && colon) r = add(s, v, (size_t)(colon - v));
        if (r >= 0 && colon) r = add(s, colon + 1, n - (size_t)(colon - v) - 1);
        return r;
}

static bool is_port(const char *s, size_t n) {
        if (n == 0 || n > 5 || !all_of(s, n, "", true, false)) return false;
        return atoi(s) <= 65535;
}

/* The documented token forms (DESIGN, custom data). */
static int check_formats(Scan *s, const char *w) {
        size_t n = strlen(w);
        const char *colon = memchr(w, ':', n);
        if (!colon || memchr(colon + 1, ':', n - (size_t)(colon - w) - 1)) return 0;
        size_t a = (size_t)(colon - w), b = n - a - 1;
        /* Push token: NAME:SECRET, the secret half is what matters. */
        if (a >= 4 && a <= 64 && b >= 5 && b <= 63 && all_of(w, a, "-", true, true) &&
            all_of(colon + 1, b, "", true, true)) {
                int r = add(s, w, n);
                return r < 0 ? r : add(s, colon + 1, b);
        }
        /* Update key; HOST:PORT has the same shape and is left readable. */
        if (all_of(w, a, "%.", true, true) && all_of(colon + 1, b, "%.", true, true) && !is_port(colon + 1, b))
                return add(s, w, n);
        return 0;
}

static void vars_free(Scan *s) {
        for (size_t i = 0; i < s->n_vars; i++) {
                wipe(s->vars[i].value, strlen(s->vars[i].value));
                free(s->vars[i].name);
                free(s->vars[i].value);
        }
        s->n_vars = 0;
}

static int var_set(Scan *s, const char *name, size_t nlen, const char *value) {
        for (size_t i = 0; i < s->n_vars; i++)
                if (strlen(s->vars[i].name) == nlen && memcmp(s->vars[i].name, name, nlen) == 0) {
                        char *v = strdup(value);
                        if (!v) return -ENOMEM;
                        wipe(s->vars[i].value, strlen(s->vars[i].value));
                        free(s->vars[i].value);
                        s->vars[i].value = v;
                        return 0;
                }
        if (s->n_vars == VARS_MAX) return 0;
        char *n = strndup(name, nlen), *v = strdup(value);
        if (!n || !v) {
                free(n);
                free(v);
                return -ENOMEM;
        }
        s->vars[s->n_vars++] = (Var){n, v};
        return 0;
}

/* "$NAME" or "${NAME}" as the whole word: the value assigned last, else the word. */
static const char *resolve(const Scan *s, const char *w) {
        if (w[0] != '$') return w;
        const char *name = w + 1;
        size_t nlen = strlen(name);
        if (name[0] == '{' && nlen >= 2 && name[nlen - 1] == '}') {
                name++;
                nlen -= 2;
        }
        for (size_t i = 0; i < s->n_vars; i++)
                if (strlen(s->vars[i].name) == nlen && memcmp(s->vars[i].name, name, nlen) == 0)
                        return s->vars[i].value;
        return w;
}

static bool is_name(const char *s, size_t n) {
        if (n == 0 || (s[0] >= '0' && s[0] <= '9')) return false;
        return all_of(s, n, "_", true, true);
}

static const char *base_name(const char *w) {
        const char *slash = strrchr(w, '/');
        return slash ? slash + 1 : w;
}

/* Splits one line into words as a shell would for simple commands: blanks and
 * ;|&()<>` separate, '...' and "..." quote (backslash escapes outside single quotes),
 * # starts a comment at a word's start. Returns the number of words (at most max). */
static size_t split_words(const char *line, size_t len, char words[][WORD_MAX], size_t max) {
        size_t n = 0, i = 0;
        while (i < len && n < max) {
                while (i < len && in_set(line[i], " \t\r;|&()<>`")) i++;
                if (i >= len || line[i] == '#') break;
                size_t o = 0;
                char q = 0;
                for (; i < len; i++) {
                        char c = line[i];
                        if (q == '\'') {
                                if (c == '\'') q = 0;
                                else if (o < WORD_MAX - 1) words[n][o++] = c;
                                continue;
                        }
                        if (c == '\\' && i + 1 < len) {
                                if (o < WORD_MAX - 1) words[n][o++] = line[i + 1];
                                i++;
                                continue;
                        }
                        if (q == '"') {
                                if (c == '"') q = 0;
                                else if (o < WORD_MAX - 1) words[n][o++] = c;
                                continue;
                        }
                        if (c == '\'' || c == '"') {
                                q = c;
                                continue;
                        }
                        if (in_set(c, " \t\r;|&()<>`")) break;
                        if (o < WORD_MAX - 1) words[n][o++] = c;
                }
                words[n][o] = 0;
                n++;
        }
        return n;
}

#define WORDS_MAX 64

static int scan_line(Scan *s, const char *line, size_t len, char words[][WORD_MAX]) {
        size_t n = split_words(line, len, words, WORDS_MAX);
        int r = 0;
        for (size_t k = 0; k < n && r >= 0; k++) {
                const char *w = words[k];
                const char *eq = strchr(w, '=');
                if (eq && is_name(w, (size_t)(eq - w))) {
                        const char *value = resolve(s, eq + 1);
                        r = var_set(s, w, (size_t)(eq - w), value);
                        if (r >= 0) r = check_formats(s, value);
                        continue;
                }
                r = check_formats(s, resolve(s, w));
                if (r < 0) break;
                if (strncmp(w, "--updateKey=", 12) == 0)
                        r = add_with_halves(s, resolve(s, w + 12));
                else if (streq(w, "--updateKey") && k + 1 < n)
                        r = add_with_halves(s, resolve(s, words[k + 1]));
                else if (streq(base_name(w), "set_ossensor_hmac.sh") && k + 1 < n) {
                        const char *v = resolve(s, words[k + 1]);
                        r = add(s, v, strlen(v));
                } else if (streq(base_name(w), "set_pushtoken.sh") && k + 1 < n) {
                        r = add_with_halves(s, resolve(s, words[k + 1]));
                        /* set_pushtoken.sh TOKEN HOST:PORT [http://USER:PASSWORD@HOST:PORT] */
                        const char *proxy = k + 3 < n ? resolve(s, words[k + 3]) : "";
                        const char *at = strrchr(proxy, '@'), *user = strstr(proxy, "://");
                        const char *pc = user && at ? memchr(user + 3, ':', (size_t)(at - user - 3)) : NULL;
                        if (r >= 0 && pc) r = add(s, pc + 1, (size_t)(at - pc - 1));
                }
        }
        return r;
}

int script_secrets_register(const char *script, size_t len) {
        if (!script) return 0;
        Scan *s = calloc(1, sizeof *s);
        char (*words)[WORD_MAX] = calloc(WORDS_MAX, WORD_MAX);
        int r = s && words ? 0 : -ENOMEM;
        for (size_t i = 0; i < len && r >= 0;) {
                const char *nl = memchr(script + i, '\n', len - i);
                size_t l = nl ? (size_t)(nl - script - i) : len - i;
                r = scan_line(s, script + i, l, words);
                i += l + 1;
        }
        if (words) {
                wipe(words, (size_t)WORDS_MAX * WORD_MAX);
                free(words);
        }
        if (s) {
                if (r >= 0) r = s->registered;
                vars_free(s);
                free(s);
        }
        return r;
}
