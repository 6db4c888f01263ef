/* How a step (or a report made for one) records its failure in the run context. */
#include "outcome.h"

#include <stdarg.h>

#include "secret.h"
#include "utf8.h"

int step_fail(Context *c, int exit_code, const char *fmt, ...) {
        va_list ap;
        char buf[2048];
        va_start(ap, fmt);
        int n = vsnprintf(buf, sizeof buf, fmt, ap);
        va_end(ap);
        /* A message cut at the buffer's end must not end in half a character. */
        if (n >= (int)sizeof buf) buf[utf8_cut(buf, sizeof buf - 1, sizeof buf - 1)] = 0;
        free(c->error);
        c->error = secret_redact(buf);
        c->exit_code = exit_code;
        return STEP_RESULT_FAILED;
}
