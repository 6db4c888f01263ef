#include "secret.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* Values shorter than this would redact ordinary text wherever it contains them
 * ("a", "10", "the"): they are hidden only where they stand as a whole token, between
 * non-alphanumeric bytes or the ends of the text ("key=ab", "ab:cd", "-p ab"). A short
 * value inside a word ("about") is left alone: that costs nothing, since a word that
 * merely contains two letters says nothing about them, while redacting it would make
 * logs unreadable. Longer values are hidden wherever they appear. */
#define SECRET_WORD_MIN 4

struct Secret {
        char *value;   /* NUL-terminated copy, wiped on free */
        size_t len;
};

/* One registered value. owner is the Secret that registered it (NULL for
 * secret_register_value()), so secret_free() removes exactly its own entry even
 * when the same value was registered several times. */
typedef struct RegEntry {
        char *value;
        size_t len;
        const Secret *owner;
} RegEntry;

/* Process-wide registry, kept sorted by length, longest first, so the first value
 * matching at a position is the longest one. A mutex because libcurl callbacks or
 * test servers may log from other threads. */
static RegEntry *registry;
static size_t n_registry, registry_cap;
static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;

static void entry_wipe(RegEntry *e) {
        wipe(e->value, e->len);
        free(e->value);
        *e = (RegEntry){0};
}

static int registry_add(const char *value, size_t len, const Secret *owner) {
        if (len == 0) return 0;   /* nothing to hide */

        char *copy = malloc(len + 1);
        if (!copy) return -ENOMEM;
        memcpy(copy, value, len);
        copy[len] = 0;

        pthread_mutex_lock(&registry_lock);
        if (n_registry == registry_cap) {
                size_t ncap = registry_cap ? registry_cap * 2 : 16;
                RegEntry *n = realloc(registry, ncap * sizeof *n);
                if (!n) {
                        pthread_mutex_unlock(&registry_lock);
                        wipe(copy, len);
                        free(copy);
                        return -ENOMEM;
                }
                registry = n;
                registry_cap = ncap;
        }
        /* Insert after every entry at least as long: keeps longest-first order. */
        size_t at = 0;
        while (at < n_registry && registry[at].len >= len) at++;
        memmove(registry + at + 1, registry + at, (n_registry - at) * sizeof *registry);
        registry[at] = (RegEntry){.value = copy, .len = len, .owner = owner};
        n_registry++;
        pthread_mutex_unlock(&registry_lock);
        return 0;
}

static void registry_remove_owner(const Secret *owner) {
        pthread_mutex_lock(&registry_lock);
        for (size_t i = 0; i < n_registry; i++) {
                if (registry[i].owner != owner) continue;
                entry_wipe(&registry[i]);
                memmove(registry + i, registry + i + 1, (n_registry - i - 1) * sizeof *registry);
                n_registry--;
                break;
        }
        pthread_mutex_unlock(&registry_lock);
}

Secret *secret_new(const char *value, size_t len) {
        if (!value) return NULL;
        Secret *s = calloc(1, sizeof *s);
        if (!s) return NULL;
        s->value = malloc(len + 1);
        if (!s->value) {
                free(s);
                return NULL;
        }
        memcpy(s->value, value, len);
        s->value[len] = 0;
        s->len = len;
        if (registry_add(value, len, s) < 0) {
                wipe(s->value, len);
                free(s->value);
                free(s);
                return NULL;
        }
        return s;
}

Secret *secret_free(Secret *s) {
        if (!s) return NULL;
        registry_remove_owner(s);
        wipe(s->value, s->len);
        free(s->value);
        wipe(s, sizeof *s);
        free(s);
        return NULL;
}

const char *secret_reveal(const Secret *s) {
        return s ? s->value : NULL;
}

size_t secret_len(const Secret *s) {
        return s ? s->len : 0;
}

int secret_register_value(const char *value, size_t len) {
        if (!value) return -EINVAL;
        return registry_add(value, len, NULL);
}

void secret_registry_clear(void) {
        pthread_mutex_lock(&registry_lock);
        for (size_t i = 0; i < n_registry; i++) entry_wipe(&registry[i]);
        free(registry);
        registry = NULL;
        n_registry = registry_cap = 0;
        pthread_mutex_unlock(&registry_lock);
}

static bool is_alnum(char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* Whether e occurs at text[i] (n bytes in all): anywhere for long values, as a whole
 * token for short ones (SECRET_WORD_MIN). */
static bool entry_matches_at(const RegEntry *e, const char *text, size_t n, size_t i) {
        if (e->len > n - i || text[i] != e->value[0] || memcmp(text + i, e->value, e->len) != 0) return false;
        if (e->len >= SECRET_WORD_MIN) return true;
        return (i == 0 || !is_alnum(text[i - 1])) && (i + e->len == n || !is_alnum(text[i + e->len]));
}

/* Length of the longest registered value starting at text[i], 0 if none.
 * Caller holds the lock. */
static size_t longest_match_at(const char *text, size_t n, size_t i) {
        for (size_t k = 0; k < n_registry; k++)
                if (entry_matches_at(&registry[k], text, n, i)) return registry[k].len;
        return 0;
}

/* One pass over text: at each position the longest value wins; a value that
 * overlaps a hidden span (starts inside it, ends beyond it) extends the span, so
 * no fragment of any secret survives next to "(hidden)". Replacements are never
 * scanned again. With out == NULL only the output length is computed. Caller
 * holds the lock. */
static size_t redact_into(const char *text, size_t n, char *out) {
        static const size_t hidden_len = sizeof(SECRET_HIDDEN) - 1;
        size_t o = 0;

        for (size_t i = 0; i < n;) {
                size_t m = longest_match_at(text, n, i);
                if (m == 0) {
                        if (out) out[o] = text[i];
                        o++;
                        i++;
                        continue;
                }
                size_t end = i + m;
                for (size_t j = i + 1; j < end; j++) {
                        size_t mj = longest_match_at(text, n, j);
                        if (mj > 0 && j + mj > end) end = j + mj;
                }
                if (out) memcpy(out + o, SECRET_HIDDEN, hidden_len);
                o += hidden_len;
                i = end;
        }
        return o;
}

char *secret_redact(const char *text) {
        if (!text) text = "";
        size_t n = strlen(text);

        pthread_mutex_lock(&registry_lock);
        size_t len = redact_into(text, n, NULL);
        char *out = malloc(len + 1);
        if (out) {
                redact_into(text, n, out);
                out[len] = 0;
        }
        pthread_mutex_unlock(&registry_lock);
        return out;
}

size_t secret_partial_suffix(const char *text, size_t len) {
        if (!text) return 0;
        size_t best = 0;
        pthread_mutex_lock(&registry_lock);
        for (size_t k = 0; k < n_registry; k++) {
                const RegEntry *e = &registry[k];
                /* Longer tails first: the first that matches is this value's longest. */
                for (size_t m = e->len - 1 < len ? e->len - 1 : len; m > best; m--)
                        if (memcmp(text + len - m, e->value, m) == 0) {
                                best = m;
                                break;
                        }
        }
        pthread_mutex_unlock(&registry_lock);
        return best;
}

int secret_contains_any(const char *text, size_t len) {
        if (!text) return 0;
        int found = 0;
        pthread_mutex_lock(&registry_lock);
        for (size_t k = 0; k < n_registry && !found; k++) {
                const RegEntry *e = &registry[k];
                if (e->len >= SECRET_WORD_MIN) {
                        if (memmem(text, len, e->value, e->len)) found = 1;
                        continue;
                }
                for (const char *p = text; !found && (p = memmem(p, len - (size_t)(p - text), e->value, e->len)); p++)
                        if (entry_matches_at(e, text, len, (size_t)(p - text))) found = 1;
        }
        pthread_mutex_unlock(&registry_lock);
        return found;
}
