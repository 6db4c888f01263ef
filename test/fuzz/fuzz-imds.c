/* fuzz-imds: libFuzzer target for imds_parse_instance (the IMDS instance JSON).
 * Seeds: test/fuzz/corpus/imds/. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "imds.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        ImdsInstance *inst = NULL;
        char err[256];

        if (size > IMDS_MAX_BODY) return 0;
        int r = imds_parse_instance((const char *)data, size, &inst, err, sizeof err);
        if (r == 0) {
                if (!inst) __builtin_trap();
                for (size_t k = 0; k < inst->n_public_keys; k++)
                        if (!inst->public_keys[k].key_data) __builtin_trap();
                imds_instance_free(inst);
        } else if (r == -EBADMSG && err[0] == 0) {
                __builtin_trap();   /* a refusal always says why */
        }
        return 0;
}
