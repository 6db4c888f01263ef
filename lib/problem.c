/* problem: a list of input problems with file, line and column. */
#include <stdarg.h>

#include "problem.h"
#include "secret.h"

/* Enough for every message this project writes; longer ones are cut, never overflow. */
#define PROBLEM_MESSAGE_MAX 1024
/* A pathological input must not make the list grow without bound. */
#define PROBLEMS_MAX 1000

int problems_init(Problems *p, const char *file) {
        char *f = NULL;
        if (file) {
                f = strdup(file);
                if (!f) return -ENOMEM;
        }
        *p = (Problems) { .file = f };
        return 0;
}

int problems_set_file(Problems *p, const char *file) {
        char *f = NULL;
        if (file) {
                f = strdup(file);
                if (!f) return -ENOMEM;
        }
        free(p->file);
        p->file = f;
        return 0;
}

void problems_done(Problems *p) {
        if (!p) return;
        for (size_t i = 0; i < p->n; i++) {
                free(p->items[i].file);
                free(p->items[i].message);
        }
        free(p->items);
        free(p->file);
        *p = (Problems) {};
}

int problems_add(Problems *p, unsigned line, unsigned column, const char *fmt, ...) {
        if (p->n >= PROBLEMS_MAX) return 0;
        if (p->n == p->allocated) {
                size_t na = p->allocated ? p->allocated * 2 : 8;
                Problem *ni = reallocarray(p->items, na, sizeof(Problem));
                if (!ni) return -ENOMEM;
                p->items = ni;
                p->allocated = na;
        }

        char buf[PROBLEM_MESSAGE_MAX];
        va_list ap;
        va_start(ap, fmt);
        int r = vsnprintf(buf, sizeof buf, fmt, ap);
        va_end(ap);
        if (r < 0) return -EINVAL;

        /* Callers never put secrets here; this is the second line of defence. */
        _cleanup_free_ char *msg = secret_contains_any(buf, strlen(buf)) ? secret_redact(buf) : strdup(buf);
        if (!msg) return -ENOMEM;
        _cleanup_free_ char *file = NULL;
        if (p->file) {
                file = strdup(p->file);
                if (!file) return -ENOMEM;
        }

        p->items[p->n++] = (Problem) {
                .file = TAKE_PTR(file),
                .line = line,
                .column = column,
                .message = TAKE_PTR(msg),
        };
        return 0;
}

static char *problem_format(const Problem *q) {
        char pos[32] = "";
        char *s = NULL;

        if (q->line > 0 && q->column > 0)
                snprintf(pos, sizeof pos, "%u:%u", q->line, q->column);
        else if (q->line > 0)
                snprintf(pos, sizeof pos, "%u", q->line);

        /* "FILE:LINE:COLUMN: message", dropping the parts that are unknown. */
        const char *file = q->file ? q->file : "";
        const char *sep = q->file && pos[0] ? ":" : "";
        const char *colon = q->file || pos[0] ? ": " : "";
        if (asprintf_safe(&s, "%s%s%s%s%s", file, sep, pos, colon, q->message) < 0)
                return NULL;
        return s;
}

void problems_print(const Problems *p, FILE *f) {
        for (size_t i = 0; i < p->n; i++) {
                _cleanup_free_ char *s = problem_format(&p->items[i]);
                if (s) fprintf(f, "%s\n", s);
        }
}

char *problems_first(const Problems *p) {
        if (p->n == 0) return NULL;
        return problem_format(&p->items[0]);
}
