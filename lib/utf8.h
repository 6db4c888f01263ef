/* utf8: text that came from outside (metadata, child output, a state file edited by
 * hand) made safe to store and to print: valid UTF-8, cuts on character boundaries,
 * and control characters shown as escapes rather than sent to a terminal. */
#pragma once

#include <stddef.h>

/* Length of the valid UTF-8 sequence at s (at most n bytes), 0 if invalid: overlong
 * forms, surrogates and code points above U+10FFFF are invalid. n must be > 0. */
size_t utf8_sequence_length(const unsigned char *s, size_t n);

/* The longest prefix of s (n bytes) of at most max bytes that does not end inside a
 * UTF-8 sequence: what to keep when text must be cut. */
size_t utf8_cut(const char *s, size_t n, size_t max);

enum {
        /* Also escape C0/C1 control characters and DEL (\n, \r, \t, \e, \xNN or
         * \u0085) and the backslash (\\), for a terminal. */
        UTF8_ESCAPE_CONTROLS = 1 << 0,
};

/* A newly allocated copy of s (n bytes) that is valid UTF-8: each invalid byte is
 * written as \xNN; with UTF8_ESCAPE_CONTROLS no control character is left either.
 * Returns NULL on OOM. */
char *utf8_escape(const char *s, size_t n, unsigned flags);
