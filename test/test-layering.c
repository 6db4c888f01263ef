/* test-layering: the source's own structure. The agent's modules include each
 * other's headers without a circle (the runner depends on the steps and the
 * reporting, never the other way round), and lib/ never includes an agent header. */
#include <check.h>
#include <dirent.h>
#include <limits.h>
#include <string.h>

#include "testutil.h"
#include "util.h"

#define MODULES_MAX 128

/* Modules of a directory: basenames of its .c and .h files, without the extension. */
typedef struct Graph {
        char *name[MODULES_MAX];
        bool dep[MODULES_MAX][MODULES_MAX];   /* dep[a][b]: a's files include b.h */
        size_t n;
} Graph;

static int module_index(Graph *g, const char *name, bool add) {
        for (size_t i = 0; i < g->n; i++)
                if (streq(g->name[i], name)) return (int)i;
        if (!add) return -1;
        ck_assert_uint_lt(g->n, MODULES_MAX);
        g->name[g->n] = strdup(name);
        return (int)g->n++;
}

static char *module_of(const char *file) {
        const char *dot = strrchr(file, '.');
        if (!dot || (!streq(dot, ".c") && !streq(dot, ".h"))) return NULL;
        return strndup(file, (size_t)(dot - file));
}

/* Calls fn for every `#include "x.h"` of dir/file, with "x". */
static void each_include(const char *dir, const char *file, void (*fn)(void *, const char *), void *ud) {
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/%s/%s", tu_top(), dir, file);
        _cleanup_free_ char *text = tu_read_file(path, NULL);
        for (const char *l = text; l && *l;) {
                if (strncmp(l, "#include \"", 10) == 0) {
                        const char *start = l + 10, *end = strchr(start, '"');
                        if (end && end - start > 2 && strncmp(end - 2, ".h", 2) == 0) {
                                _cleanup_free_ char *m = strndup(start, (size_t)(end - start - 2));
                                fn(ud, m);
                        }
                }
                l = strchr(l, '\n');
                if (l) l++;
        }
}

static void list_dir(const char *dir, char ***ret) {
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/%s", tu_top(), dir);
        DIR *d = opendir(path);
        ck_assert_msg(d != NULL, "cannot open %s", path);
        struct dirent *de;
        while ((de = readdir(d)))
                if (de->d_name[0] != '.') ck_assert_int_eq(strv_push(ret, de->d_name), 0);
        closedir(d);
}

typedef struct Edge {
        Graph *g;
        int from;
} Edge;

static void add_edge(void *ud, const char *header) {
        Edge *e = ud;
        int to = module_index(e->g, header, false);
        if (to >= 0 && to != e->from) e->g->dep[e->from][to] = true;
}

/* Depth-first search; returns the module where a circle closes, -1 when none.
 * path collects the circle for the message. */
static int find_cycle(const Graph *g, int at, int *color, char *path, size_t size) {
        color[at] = 1;
        for (size_t b = 0; b < g->n; b++) {
                if (!g->dep[at][b]) continue;
                if (color[b] == 1 || (color[b] == 0 && find_cycle(g, (int)b, color, path, size) >= 0)) {
                        size_t l = strlen(path);
                        if (l == 0)
                                snprintf(path, size, "%s <- %s", g->name[b], g->name[at]);
                        else
                                snprintf(path + l, size - l, " <- %s", g->name[at]);
                        return (int)b;
                }
        }
        color[at] = 2;
        return -1;
}

START_TEST(test_agent_includes_have_no_circle) {
        Graph g = {0};
        _cleanup_strv_free_ char **files = NULL;
        list_dir("agent", &files);
        for (char **f = files; f && *f; f++) {
                _cleanup_free_ char *m = module_of(*f);
                if (m) module_index(&g, m, true);
        }
        for (char **f = files; f && *f; f++) {
                _cleanup_free_ char *m = module_of(*f);
                if (!m) continue;
                Edge e = {&g, module_index(&g, m, false)};
                each_include("agent", *f, add_edge, &e);
        }
        int color[MODULES_MAX] = {0};
        char path[1024] = "";
        for (size_t i = 0; i < g.n; i++)
                if (color[i] == 0) ck_assert_msg(find_cycle(&g, (int)i, color, path, sizeof path) < 0,
                                                 "include circle in agent/: %s", path);
        /* The runner is on top: no module includes it but main's command code. */
        int runner = module_index(&g, "runner", false);
        ck_assert_int_ge(runner, 0);
        for (size_t i = 0; i < g.n; i++)
                if (g.dep[i][runner])
                        ck_assert_msg(streq(g.name[i], "run"), "%s includes runner.h", g.name[i]);
        for (size_t i = 0; i < g.n; i++) free(g.name[i]);
}
END_TEST

static void refuse_agent_header(void *ud, const char *header) {
        char **agent = ud;
        for (char **a = agent; *a; a++) {
                _cleanup_free_ char *m = module_of(*a);
                ck_assert_msg(!m || !streq(m, header) || !strstr(*a, ".h"), "lib/ includes the agent header %s.h",
                              header);
        }
}

START_TEST(test_lib_includes_no_agent_header) {
        _cleanup_strv_free_ char **agent = NULL, **lib = NULL;
        list_dir("agent", &agent);
        list_dir("lib", &lib);
        for (char **f = lib; f && *f; f++) {
                _cleanup_free_ char *m = module_of(*f);
                if (m) each_include("lib", *f, refuse_agent_header, agent);
        }
}
END_TEST

static Suite *suite(void) {
        Suite *s = suite_create("layering");
        TCase *tc = tcase_create("includes");
        tcase_add_test(tc, test_agent_includes_have_no_circle);
        tcase_add_test(tc, test_lib_includes_no_agent_header);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return tu_run_suite(suite());
}
