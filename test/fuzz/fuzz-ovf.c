/* fuzz-ovf: libFuzzer target for ovf_parse and ovf_strip_secrets (ovf-env.xml from the
 * provisioning media). Invariant: the stripped copy never holds custom data.
 * Seeds: test/fuzz/corpus/ovf/. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ovf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        OvfEnv *e = NULL;
        char err[256];
        const char *xml = (const char *)data;

        int r = ovf_parse(xml, size, &e, err, sizeof err);
        if (r == 0) {
                if (!e || !e->ssh_public_keys || !e->ssh_public_key_paths) __builtin_trap();
                size_t n = 0;
                while (e->ssh_public_keys[n]) {
                        if (!e->ssh_public_key_paths[n]) __builtin_trap();
                        n++;
                }
                e = ovf_env_free(e);
        } else if (e) {
                __builtin_trap();
        }

        char *stripped = NULL;
        size_t slen = 0;
        r = ovf_strip_secrets(xml, size, &stripped, &slen);
        if (r == 0) {
                if (!stripped || slen > size || stripped[slen] != 0) __builtin_trap();
                /* Removing element content keeps the document well formed, and what is
                 * left has no custom data. */
                if (ovf_parse(stripped, slen, &e, err, sizeof err) == 0) {
                        if (e->custom_data_len != 0) __builtin_trap();
                        ovf_env_free(e);
                }
                free(stripped);
        }
        return 0;
}
