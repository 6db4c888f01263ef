#include "base64.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "util.h"

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static bool is_b64_space(char c) {
        return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* 0..63 for an alphabet byte, -1 otherwise. */
static int b64_value(unsigned char c) {
        if (c >= 'A' && c <= 'Z') return c - 'A';
        if (c >= 'a' && c <= 'z') return c - 'a' + 26;
        if (c >= '0' && c <= '9') return c - '0' + 52;
        if (c == '+') return 62;
        if (c == '/') return 63;
        return -1;
}

int base64_decode(const char *in, size_t len, size_t max, char **ret, size_t *ret_len,
                  size_t *ret_bad_offset) {
        size_t n = 0, pad = 0;

        if (!in && len > 0) return -EINVAL;

        /* First pass validates and sizes, so the output is allocated once and a bad
         * document never gets partly decoded into memory. */
        for (size_t i = 0; i < len; i++) {
                char c = in[i];
                if (is_b64_space(c)) continue;
                if (c == '=') {
                        /* '=' may only fill the third and fourth place of the last quantum. */
                        if (n % 4 < 2 || pad >= 2) goto bad_at_i;
                        pad++;
                } else if (b64_value((unsigned char) c) < 0 || pad > 0)
                        goto bad_at_i;
                n++;
                continue;
        bad_at_i:
                if (ret_bad_offset) *ret_bad_offset = i;
                return -EINVAL;
        }
        if (n % 4 != 0) {
                if (ret_bad_offset) *ret_bad_offset = len;
                return -EINVAL;
        }

        size_t out_len = n / 4 * 3 - pad;
        if (out_len > max) return -EFBIG;

        char *out = malloc(out_len + 1);
        if (!out) return -ENOMEM;

        size_t o = 0;
        uint32_t acc = 0;
        unsigned k = 0;
        for (size_t i = 0; i < len; i++) {
                char c = in[i];
                if (is_b64_space(c)) continue;
                int v = c == '=' ? 0 : b64_value((unsigned char) c);
                acc = (acc << 6) | (uint32_t) v;
                if (++k < 4) continue;
                /* Only the bytes before the padding are data. */
                unsigned char b[3] = {(unsigned char) (acc >> 16), (unsigned char) (acc >> 8), (unsigned char) acc};
                for (unsigned j = 0; j < 3 && o < out_len; j++) out[o++] = (char) b[j];
                acc = 0;
                k = 0;
        }
        out[out_len] = 0;

        if (ret_len) *ret_len = out_len;
        *ret = out;
        return 0;
}

char *base64_encode(const void *in, size_t len) {
        const unsigned char *p = in;

        if (len > (SIZE_MAX - 1) / 4 * 3 - 3) return NULL;
        size_t out_len = (len + 2) / 3 * 4;
        char *out = malloc(out_len + 1);
        if (!out) return NULL;

        size_t o = 0;
        for (size_t i = 0; i < len; i += 3) {
                uint32_t v = (uint32_t) p[i] << 16;
                if (i + 1 < len) v |= (uint32_t) p[i + 1] << 8;
                if (i + 2 < len) v |= p[i + 2];
                out[o++] = alphabet[(v >> 18) & 63];
                out[o++] = alphabet[(v >> 12) & 63];
                out[o++] = i + 1 < len ? alphabet[(v >> 6) & 63] : '=';
                out[o++] = i + 2 < len ? alphabet[v & 63] : '=';
        }
        out[o] = 0;
        return out;
}
