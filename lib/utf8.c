/* utf8: validity, safe cuts and escaping of untrusted text. */
#include "utf8.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

size_t utf8_sequence_length(const unsigned char *s, size_t n) {
        unsigned c = s[0];
        size_t len;
        uint32_t cp;

        if (c < 0x80) return 1;
        if (c >= 0xC2 && c <= 0xDF) {
                len = 2;
                cp = c & 0x1F;
        } else if (c >= 0xE0 && c <= 0xEF) {
                len = 3;
                cp = c & 0x0F;
        } else if (c >= 0xF0 && c <= 0xF4) {
                len = 4;
                cp = c & 0x07;
        } else
                return 0;
        if (len > n) return 0;
        for (size_t i = 1; i < len; i++) {
                if ((s[i] & 0xC0) != 0x80) return 0;
                cp = (cp << 6) | (s[i] & 0x3F);
        }
        if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
                return 0;
        return len;
}

size_t utf8_cut(const char *s, size_t n, size_t max) {
        if (n <= max) return n;
        const unsigned char *u = (const unsigned char *)s;
        /* Walk back over continuation bytes to the start of the character at max. */
        size_t k = max;
        while (k > 0 && max - k < 4 && (u[k] & 0xC0) == 0x80) k--;
        /* Keep the character only when it ends at or before max. */
        if ((u[k] & 0xC0) == 0x80) return max;   /* not UTF-8 here at all: cut anywhere */
        size_t l = utf8_sequence_length(u + k, n - k);
        return l > 0 && k + l <= max ? k + l : k;
}

/* Room for the longest escape, "\\u0085", and its NUL. */
#define ESCAPE_MAX 8

static size_t put(char *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static size_t put(char *out, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        int r = vsnprintf(out, ESCAPE_MAX, fmt, ap);
        va_end(ap);
        return r > 0 ? (size_t)r : 0;
}

/* Appends what byte sequence [p, p+l) shows as. out has room (ESCAPE_MAX bytes per
 * input byte). */
static size_t put_escaped(char *out, const unsigned char *p, size_t l, unsigned flags) {
        if (l == 0) return put(out, "\\x%02X", p[0]);   /* invalid byte */
        if (flags & UTF8_ESCAPE_CONTROLS) {
                if (l == 1 && (p[0] < 0x20 || p[0] == 0x7F || p[0] == '\\')) {
                        switch (p[0]) {
                        case '\n': return put(out, "\\n");
                        case '\r': return put(out, "\\r");
                        case '\t': return put(out, "\\t");
                        case 0x1B: return put(out, "\\e");
                        case '\\': return put(out, "\\\\");
                        default: return put(out, "\\x%02X", p[0]);
                        }
                }
                /* C1 controls U+0080..U+009F (0xC2 0x80..0x9F): CSI is one of them. */
                if (l == 2 && p[0] == 0xC2 && p[1] < 0xA0) return put(out, "\\u%04X", p[1]);
        }
        memcpy(out, p, l);
        return l;
}

char *utf8_escape(const char *s, size_t n, unsigned flags) {
        if (!s) s = "", n = 0;
        if (n > (SIZE_MAX - 1) / ESCAPE_MAX) return NULL;
        char *out = malloc(n * ESCAPE_MAX + 1);
        if (!out) return NULL;
        const unsigned char *u = (const unsigned char *)s;
        size_t o = 0;
        for (size_t i = 0; i < n;) {
                size_t l = utf8_sequence_length(u + i, n - i);
                o += put_escaped(out + o, u + i, l, flags);
                i += l > 0 ? l : 1;
        }
        out[o] = 0;
        char *shrunk = realloc(out, o + 1);
        return shrunk ? shrunk : out;
}
