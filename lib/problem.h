/* problem: a list of input problems, each with file, line and column, printed as
 * "FILE:LINE:COLUMN: message" (validate, config errors). Lines and columns are
 * 1-based; 0 means unknown (then printed as "FILE: message"). */
#pragma once

#include <stdio.h>
#include "util.h"

typedef struct Problem {
        char *file;          /* the Problems' file when the problem was added */
        unsigned line, column;
        char *message;
} Problem;

typedef struct Problems {
        char *file;          /* as given by the user; "<stdin>" for - */
        Problem *items;
        size_t n, allocated;
} Problems;

int problems_init(Problems *p, const char *file);
/* Changes the file named by problems added from now on (several config files). */
int problems_set_file(Problems *p, const char *file);
void problems_done(Problems *p);
/* Appends one problem; the message must never contain a secret value. */
int problems_add(Problems *p, unsigned line, unsigned column, const char *fmt, ...) _printf_(4, 5);
/* Prints one "FILE:LINE:COLUMN: message" line per problem. */
void problems_print(const Problems *p, FILE *f);
/* "FILE:LINE:COLUMN: message" of the first problem (for logs and Azure reports). */
char *problems_first(const Problems *p);
