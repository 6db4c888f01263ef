/* testutil: what the suites share — running a suite, temporary directories, the test
 * data under $TOP, corpus case lists, reading files and problem lists as text. */
#pragma once

#include <check.h>
#include <stddef.h>

#include "problem.h"

/* Cap of the files the helpers read: test data, logs, state files. */
#define TU_READ_MAX (4u * 1024u * 1024u)

/* Runs the suite (CK_FORK and the rest from the environment) and frees it; returns
 * the exit status for main(). */
int tu_run_suite(Suite *s);

/* Removes path and everything below it, not following links; errors are ignored. */
void tu_rm_rf(const char *path);
/* mkdtemp of the template formatted into buf; fails the test when it cannot. */
void tu_mkdtemp(char *buf, size_t size, const char *fmt, ...) _printf_(3, 4);

/* Temporary directories: tu_base is made and removed by an unchecked fixture, in the
 * runner itself, so it goes away even when a failing test skips its own teardown;
 * tu_tmpdir is a fresh directory below it for each test (checked fixture).
 * tu_base is /tmp/PROGRAM-XXXXXX, e.g. /tmp/test-state-XXXXXX. */
extern char tu_base[64];
extern char tu_tmpdir[96];
void tu_base_setup(void);
void tu_base_teardown(void);
void tu_tmpdir_setup(void);
void tu_tmpdir_teardown(void);
/* Adds both fixtures to tc. */
void tu_add_tmpdir_fixtures(TCase *tc);
/* A new string tu_tmpdir/name; fails the test on OOM. */
char *tu_tmp_path(const char *name);

/* Number of entries in dir other than . and ..; fails the test when it cannot open it. */
int tu_count_entries(const char *dir);

/* $TOP (the repository top, set by make check), else ".". */
const char *tu_top(void);
/* A new string $TOP/test/data/rel, NULL on OOM (also usable outside a test). */
char *tu_data_path(const char *rel);

/* Reads a whole file (NUL-terminated); fails the test when it cannot. */
char *tu_read_file(const char *path, size_t *ret_len);
/* Same for $TOP/rel. */
char *tu_read_top(const char *rel, size_t *ret_len);

/* The case directories of the corpus test/data/rel (names not starting with '.'), at
 * most max, sorted; each name is strdup'ed into names when names is non-NULL (free
 * them with tu_free_cases). Returns how many; 0 when the directory is missing. */
size_t tu_list_cases(const char *rel, char **names, size_t max);
void tu_free_cases(char **names, size_t n);
/* Reads $TOP/test/data/rel; fails the test when it cannot. */
char *tu_read_data(const char *rel, size_t *ret_len);
/* Reads test/data/rel/name/file; fails the test when it cannot. */
char *tu_read_case(const char *rel, const char *name, const char *file, size_t *ret_len);

/* The problems as problems_print writes them; fails the test on OOM. */
char *tu_problems_text(const Problems *p);

/* Skips: a test that cannot run calls TEST_SKIP("ip (iproute2) not installed") and
 * returns. It prints "SKIP NAME: CAUSE" on a line of its own (NAME is the test's,
 * CAUSE what is really missing), which tools/run-tests counts as a skip, apart from
 * the passes (Check itself counts the test as passed). */
void test_skip(const char *name, const char *fmt, ...) _printf_(2, 3);
#define TEST_SKIP(...) test_skip(__func__, __VA_ARGS__)
