/* yamlnode: the small part of libyaml's document API that the custom data and
 * configuration parsers share — load one document with a size cap, refusing what a
 * configuration never needs (anchors, aliases, tags, several documents, deep
 * nesting), walk mappings, and read scalars by DESIGN.md's rules ("Values").
 * Every check reports "PATH: message" problems at the node's 1-based line and
 * column; PATH is the dotted key ("vsensor.master.port"). */
#pragma once

#include <stdbool.h>
#include <yaml.h>

#include "problem.h"

#define YAMLNODE_MAX_DEPTH 16
/* Non-secret values and keys are echoed in messages capped to this many characters. */
#define YAMLNODE_ECHO_MAX 64
/* Enough for YAMLNODE_ECHO_MAX characters escaped as \xNN or 4-byte UTF-8, plus "...". */
#define YAMLNODE_ECHO_SIZE (YAMLNODE_ECHO_MAX * 4 + 8)

typedef struct YamlDoc {
        yaml_document_t document;
} YamlDoc;

/* Loads a single YAML document of at most max bytes. what names the input in
 * messages ("custom data", "configuration"). Returns 0 and *ret (its root may be
 * NULL: an empty stream or a comment-only document), -EINVAL with problems
 * appended (a syntax error is one problem with libyaml's text and position;
 * NUL bytes, anchors, aliases, tags, a second document, nesting deeper than
 * YAMLNODE_MAX_DEPTH are problems), or -ENOMEM. */
int yamlnode_load(const char *data, size_t len, size_t max, const char *what, Problems *p, YamlDoc **ret);
YamlDoc *yamlnode_free(YamlDoc *d);
DEFINE_TRIVIAL_CLEANUP_FUNC(YamlDoc *, yamlnode_free);

/* Borrowed; NULL for an empty document. */
yaml_node_t *yamlnode_root(YamlDoc *d);

/* 1-based position of a node (libyaml marks are 0-based). */
static inline unsigned yamlnode_line(const yaml_node_t *n) { return (unsigned)n->start_mark.line + 1; }
static inline unsigned yamlnode_column(const yaml_node_t *n) { return (unsigned)n->start_mark.column + 1; }

/* Appends "PATH: message" (or just the message when path is empty) at n's position
 * (line 0 when n is NULL). */
int yamlnode_problem(Problems *p, const yaml_node_t *n, const char *path, const char *fmt, ...) _printf_(4, 5);

/* "a mapping", "a list", "no value", "a single value": what a node is, for
 * "(got ...)" without echoing its content. */
const char *yamlnode_kind(const yaml_node_t *n);

/* A plain scalar "", "~", "null", "Null" or "NULL". */
bool yamlnode_is_null(const yaml_node_t *n);

/* Checks that n is a mapping whose keys are scalars from allowed (NULL-terminated),
 * none repeated. Reports "PATH: expected a mapping (got ...)", "PATH.KEY: unknown key
 * (expected one of: a, b)" at the key, "PATH.KEY: duplicate key (first at line L)" at
 * the repeated key. Returns 0 when n is a mapping (even with bad keys: the known keys
 * can still be checked), -EINVAL when it is not. */
int yamlnode_check_mapping(YamlDoc *d, const yaml_node_t *n, const char *path,
                           const char *const *allowed, Problems *p);

/* The value of the first occurrence of key in mapping n, or NULL when absent;
 * *ret_key (optional) gets the key node. Borrowed. */
yaml_node_t *yamlnode_get(YamlDoc *d, const yaml_node_t *n, const char *key, yaml_node_t **ret_key);

/* Scalar text and length (may contain NUL from "\0" escapes), NULL when n is not a scalar. */
const char *yamlnode_scalar(const yaml_node_t *n, size_t *ret_len);

/* A non-null scalar without NUL characters. On anything else reports
 * "PATH: expected WHAT (got ...)" (never echoing the value) and returns -EINVAL. */
int yamlnode_string(const yaml_node_t *n, const char *path, const char *what, Problems *p,
                    const char **ret, size_t *ret_len);

/* true/false in any letter case, quoted or not; YAML 1.1 yes/no/on/off/y/n are
 * refused with a hint. */
int yamlnode_bool(const yaml_node_t *n, const char *path, Problems *p, bool *ret);

/* Decimal digits only (plain or quoted): no sign, no leading zeros, no fraction, no
 * hex; within min..max. */
int yamlnode_uint(const yaml_node_t *n, const char *path, unsigned min, unsigned max, Problems *p,
                  unsigned *ret);

/* Writes s (len bytes) escaped ('"', '\\' and control bytes) and capped at
 * YAMLNODE_ECHO_MAX characters ("..." appended when cut) into buf (at least
 * YAMLNODE_ECHO_SIZE bytes); returns buf. Only for values that are not secrets. */
const char *yamlnode_echo(const char *s, size_t len, char *buf, size_t size);

/* "a.b" from path "a" and key "b" (just "b" when path is empty); NULL on OOM. */
char *yamlnode_path(const char *path, const char *key);

/* Stable-sorts the problems from index start by line and column, so checks that
 * run in schema order still report in document order. */
void yamlnode_sort_problems(Problems *p, size_t start);
