/* xmlutil: what the expat-based parsers (ovf, wireserver) share — the first error a
 * handler stops the parser with, DTD refusal, the element path, capped text capture. */
#pragma once

#include <expat.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

/* The parser's location, the one place that picks expat's functions for it: expat
 * 2.9.0 added XML_GetCurrentByteIndex64, XML_GetCurrentByteCount64 and
 * XML_GetCurrentLineNumber64 and deprecated the old forms (a warning, an error under
 * WERROR=1); older expat (2.5 in Debian 12, 2.4/2.6 in Ubuntu 22.04/24.04) has only
 * the old ones. Both give the same values at the sizes we parse (documents are capped
 * far below 2 GiB). */
#if XML_MAJOR_VERSION > 2 || (XML_MAJOR_VERSION == 2 && XML_MINOR_VERSION >= 9)
static inline int64_t xml_byte_index(XML_Parser p) { return XML_GetCurrentByteIndex64(p); }
static inline uint64_t xml_byte_count(XML_Parser p) { return XML_GetCurrentByteCount64(p); }
static inline uint64_t xml_line_number(XML_Parser p) { return XML_GetCurrentLineNumber64(p); }
#else
static inline int64_t xml_byte_index(XML_Parser p) { return (int64_t)XML_GetCurrentByteIndex(p); }
static inline uint64_t xml_byte_count(XML_Parser p) {
        int n = XML_GetCurrentByteCount(p);
        return n > 0 ? (uint64_t)n : 0;
}
static inline uint64_t xml_line_number(XML_Parser p) { return (uint64_t)XML_GetCurrentLineNumber(p); }
#endif

#define XML_PATH_MAX_DEPTH 32
#define XML_PATH_MAX_LEN 512

/* The parser and the first error a handler stopped it with. A parser's user data
 * starts with one of these, so xml_refuse_dtd's handlers can find it. */
typedef struct XmlCtx {
        XML_Parser parser;
        int error;            /* negative errno, 0 while none */
        char message[160];
} XmlCtx;

/* Records error and message unless one is recorded already, and stops the parser. */
void xml_fail(XmlCtx *x, int error, const char *fmt, ...) _printf_(3, 4);

/* Makes the parser stop with -EBADMSG at a DOCTYPE or an entity declaration: none of
 * our documents has one, and refusing them rules out entity expansion attacks. The
 * parser's user data must start with its XmlCtx. */
void xml_refuse_dtd(XML_Parser parser);

/* Parses the whole document: 0, the error a handler recorded, or -EBADMSG. */
int xml_parse(XmlCtx *x, const char *doc, size_t len);
/* After a failed xml_parse: the handler's message, else expat's, and the line. */
const char *xml_error_message(const XmlCtx *x);
unsigned long xml_line(const XmlCtx *x);

/* Element names joined with '/'. Deeper or longer paths than the caps are not
 * stored (overflow counts those levels), so they never match anything. */
typedef struct XmlPath {
        char path[XML_PATH_MAX_LEN + 1];
        size_t len;
        size_t offsets[XML_PATH_MAX_DEPTH];
        unsigned n;           /* names stored */
        unsigned overflow;    /* names pushed beyond what path can hold */
} XmlPath;

void xml_path_push(XmlPath *p, const char *name);
void xml_path_pop(XmlPath *p);

/* Text of one element, growing up to max bytes (plus a NUL). */
typedef struct XmlText {
        char *data;
        size_t len, cap, max;
} XmlText;

/* Starts a new text (keeps the buffer) with a new cap. */
void xml_text_reset(XmlText *t, size_t max);
/* Returns 0, -EFBIG past max (nothing appended), -ENOMEM. */
int xml_text_append(XmlText *t, const char *s, size_t n);
/* Wipes (it may hold a secret) and frees the buffer. */
void xml_text_done(XmlText *t);

bool xml_is_space(char c);
/* A copy of s[0..len) without leading and trailing XML white space; NULL on OOM. */
char *xml_strdup_trimmed(const char *s, size_t len);
