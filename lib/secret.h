/* secret: a type for values that must never be printed (update key, push token,
 * HMAC token, proxy password, tokens from IMDS).
 *
 * Secret is opaque, so passing one to a printf-style function is a compile error
 * under -Wformat. Every secret created is also remembered in a process-wide
 * registry that secret_redact() uses, so log lines and captured child output have
 * each known value replaced by "(hidden)". Values are wiped on free. */
#pragma once

#include <stddef.h>

typedef struct Secret Secret;

#define SECRET_HIDDEN "(hidden)"

/* Copies value (len bytes) into a new secret and registers it for redaction.
 * Every non-empty value is registered; one shorter than 4 bytes is redacted only
 * where it stands as a whole token (between non-alphanumeric bytes or the ends of
 * the text), so "ab" hides "key=ab" but not "about". Returns NULL on OOM. */
Secret *secret_new(const char *value, size_t len);
static inline Secret *secret_new_str(const char *value) { return secret_new(value, __builtin_strlen(value)); }
/* Wipes, unregisters and frees; accepts NULL; returns NULL. */
Secret *secret_free(Secret *s);
static inline void secret_freep(Secret **s) { if (*s) *s = secret_free(*s); }
#define _cleanup_secret_ __attribute__((cleanup(secret_freep)))

/* The only way to the value: for argv of helpers, HTTP headers, comparisons.
 * Borrowed, NUL-terminated, valid until secret_free(). */
const char *secret_reveal(const Secret *s);
size_t secret_len(const Secret *s);

/* Registers a value for redaction without making a Secret (e.g. the password part
 * of a proxy URL). Copies it. Returns 0 or -ENOMEM. */
int secret_register_value(const char *value, size_t len);
/* Forgets every registered value (tests). */
void secret_registry_clear(void);

/* Returns a newly allocated copy of text with every registered value replaced by
 * "(hidden)" (longest values first, so a value containing another is hidden whole).
 * Returns NULL on OOM. */
char *secret_redact(const char *text);
/* The length of the longest tail of text (len bytes) that is the beginning, but not
 * the whole, of a registered value; 0 when none. Where text must be cut (a long line
 * of child output), cutting before that tail keeps every value whole, so redaction of
 * each piece still finds it. */
size_t secret_partial_suffix(const char *text, size_t len);
/* Nonzero when text contains any registered value (short ones as whole tokens). */
int secret_contains_any(const char *text, size_t len);
