/* fuzz-schedevents: libFuzzer target for schedevents_parse (the Scheduled Events
 * document the watcher polls) and the approval body built from what it keeps.
 * Seeds: test/fuzz/corpus/schedevents/ (the fixtures of test/data/scheduledevents/). */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "schedevents.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        SchedDocument *d = NULL;
        char err[256];

        if (size > SCHEDEVENTS_MAX_BODY) return 0;
        int r = schedevents_parse((const char *)data, size, &d, err, sizeof err);
        if (r == 0) {
                if (!d || d->n_events > SCHEDEVENTS_MAX_EVENTS) __builtin_trap();
                for (size_t i = 0; i < d->n_events; i++) {
                        const SchedEvent *e = &d->events[i];
                        /* What reaches a log line, the KVP record and the approval. */
                        if (!e->id || !e->type || !e->not_before || !e->resources) __builtin_trap();
                        if (strchr(e->id, '|') || strchr(e->not_before, '|') || strchr(e->not_before, '\n'))
                                __builtin_trap();
                        char *body = schedevents_approval_body(e->id);
                        if (!body) __builtin_trap();   /* a kept id always makes a body */
                        free(body);
                        (void)schedevent_is_for(e, "vmss_vm1");
                }
                schedevents_free(d);
        } else if (r == -EBADMSG && err[0] == 0) {
                __builtin_trap();   /* a refusal always says why */
        }
        return 0;
}
