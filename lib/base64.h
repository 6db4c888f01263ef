/* base64: RFC 4648 decoding for custom data and IMDS userData. Whitespace
 * (space, tab, CR, LF) is skipped; any other byte outside the alphabet, bad padding
 * or a length that is not a multiple of 4 after skipping whitespace is an error. */
#pragma once

#include <stddef.h>

/* Decodes into a new NUL-terminated buffer. Returns 0, -EINVAL (not base64, with
 * *ret_bad_offset set to the offending input offset when non-NULL), -EFBIG when the
 * output would exceed max, -ENOMEM. */
int base64_decode(const char *in, size_t len, size_t max, char **ret, size_t *ret_len,
                  size_t *ret_bad_offset);
/* Encodes (tests, KVP); returns a new NUL-terminated string or NULL. */
char *base64_encode(const void *in, size_t len);
