/* fuzz-config: libFuzzer target for config_load_string (the agent configuration YAML).
 * Seeds: test/fuzz/corpus/config/. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        Config c;
        Problems p;

        if (size > 64 * 1024) return 0;   /* config_load_file's cap */
        if (config_init_defaults(&c) < 0) return 0;
        if (problems_init(&p, "fuzz.yaml") < 0) {
                config_done(&c);
                return 0;
        }
        int r = config_load_string(&c, (const char *)data, size, &p);
        if (r == 0) {
                /* Every value a valid file can set stays within its documented range. */
                if (c.imds_deadline < 1 || c.imds_deadline > 86400) __builtin_trap();
                if (c.helper_attempts < 1 || c.helper_attempts > 20) __builtin_trap();
                if (!c.imds_url || !c.state_dir || !c.log_file) __builtin_trap();
                if (provisioning_mode_to_string(c.provisioning) == NULL) __builtin_trap();
                if (report_ready_mode_to_string(c.report_ready) == NULL) __builtin_trap();
        }
        char *first = problems_first(&p);
        free(first);
        problems_done(&p);
        config_done(&c);
        return 0;
}
