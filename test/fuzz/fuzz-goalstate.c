/* fuzz-goalstate: libFuzzer target for goalstate_parse (the wireserver goal state XML)
 * and the health body built from what it parsed. Seeds: test/fuzz/corpus/goalstate/. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "wireserver.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        GoalState *g = NULL;
        char err[256];

        int r = goalstate_parse((const char *)data, size, &g, err, sizeof err);
        if (r != 0) return 0;
        if (!g || !g->incarnation || !g->container_id || !g->instance_id) __builtin_trap();

        /* The same bytes as a failure description: truncated, escaped, never raw. */
        char *desc = strndup((const char *)data, size);
        if (desc) {
                char *ready = wireserver_health_body(g, true, NULL);
                char *failed = wireserver_health_body(g, false, desc);
                if (!ready || !failed) __builtin_trap();
                if (!strstr(failed, "<State>NotReady</State>")) __builtin_trap();
                free(ready);
                free(failed);
                free(desc);
        }
        goalstate_free(g);
        return 0;
}
