/* fuzz-base64: libFuzzer target for base64_decode, with a round trip through
 * base64_encode both ways. Seeds: test/fuzz/corpus/base64/. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_OUT (64 * 1024)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        char *out = NULL, *again = NULL, *enc;
        size_t out_len = 0, again_len = 0, bad = (size_t)-1;

        int r = base64_decode((const char *)data, size, MAX_OUT, &out, &out_len, &bad);
        if (r == 0) {
                if (!out || out[out_len] != 0 || out_len > MAX_OUT) __builtin_trap();
                /* decode(encode(decode(x))) == decode(x) */
                enc = base64_encode(out, out_len);
                if (!enc) __builtin_trap();
                if (base64_decode(enc, strlen(enc), MAX_OUT, &again, &again_len, NULL) != 0) __builtin_trap();
                if (again_len != out_len || memcmp(again, out, out_len) != 0) __builtin_trap();
                free(enc);
                free(again);
                free(out);
        } else if (r == -EINVAL) {
                if (out || bad > size) __builtin_trap();
        }

        /* decode(encode(x)) == x for any bytes */
        if (size <= MAX_OUT) {
                enc = base64_encode(data, size);
                if (!enc) __builtin_trap();
                if (base64_decode(enc, strlen(enc), MAX_OUT, &again, &again_len, NULL) != 0) __builtin_trap();
                if (again_len != size || (size && memcmp(again, data, size) != 0)) __builtin_trap();
                free(enc);
                free(again);
        }
        return 0;
}
