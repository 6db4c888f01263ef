/* fuzz-customdata: libFuzzer target for customdata_parse (the deployment-level YAML,
 * "#!" scripts, "#cloud-config" refusal). Any crash, leak, sanitizer report or broken
 * invariant is a finding. Seeds: test/fuzz/corpus/customdata/. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "customdata.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        CustomData *c = NULL;
        Problems p;

        if (size > CUSTOMDATA_MAX) return 0;
        if (problems_init(&p, "fuzz.yaml") < 0) return 0;
        int r = customdata_parse((const char *)data, size, "fuzz.yaml", &c, &p);
        if (r == 0) {
                /* A valid document always has the required fields. */
                if (!c) __builtin_trap();
                if (c->kind == CUSTOMDATA_VSENSOR) {
                        if (!c->update_key || !c->master_host || !c->push_token || !c->hmac_token) __builtin_trap();
                        char *a = customdata_master_address(c);
                        if (!a) __builtin_trap();
                        free(a);
                }
                customdata_free(c);
        } else if (c) {
                __builtin_trap();   /* *ret is untouched on failure */
        }
        /* Every problem renders; none repeats a registered secret. */
        char *first = problems_first(&p);
        free(first);
        problems_done(&p);
        /* Secrets register themselves for redaction; start each input afresh. */
        secret_registry_clear();
        return 0;
}
