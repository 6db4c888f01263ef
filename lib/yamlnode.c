/* yamlnode: shared YAML loading and checking for customdata and config. */
#include <stdarg.h>
#include <strings.h>

#include "yamlnode.h"

static void yaml_parser_freep(yaml_parser_t *parser) { yaml_parser_delete(parser); }
static void yaml_event_freep(yaml_event_t *event) { yaml_event_delete(event); }

/* Longest path kept for messages: deeper ones end in "...". */
#define PATH_TEXT_MAX 512

int yamlnode_problem(Problems *p, const yaml_node_t *n, const char *path, const char *fmt, ...) {
        char msg[768];
        va_list ap;
        va_start(ap, fmt);
        int r = vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        if (r < 0) return -EINVAL;
        return problems_add(p, n ? yamlnode_line(n) : 0, n ? yamlnode_column(n) : 0, "%s%s%s",
                            isempty(path) ? "" : path, isempty(path) ? "" : ": ", msg);
}

static int problem_at(Problems *p, yaml_mark_t m, const char *path, const char *msg) {
        return problems_add(p, (unsigned)m.line + 1, (unsigned)m.column + 1, "%s%s%s",
                            isempty(path) ? "" : path, isempty(path) ? "" : ": ", msg);
}

const char *yamlnode_echo(const char *s, size_t len, char *buf, size_t size) {
        size_t o = 0, chars = 0;
        if (size < YAMLNODE_ECHO_SIZE) {
                if (size) buf[0] = 0;
                return buf;
        }
        for (size_t i = 0; i < len; i++) {
                unsigned char ch = (unsigned char)s[i];
                bool continuation = (ch & 0xC0) == 0x80;
                if (!continuation) {
                        if (chars == YAMLNODE_ECHO_MAX) {
                                memcpy(buf + o, "...", 3);
                                o += 3;
                                break;
                        }
                        chars++;
                }
                if (ch == '"' || ch == '\\') {
                        buf[o++] = '\\';
                        buf[o++] = (char)ch;
                } else if (ch < 0x20 || ch == 0x7f)
                        o += (size_t)snprintf(buf + o, size - o, "\\x%02x", ch);
                else
                        buf[o++] = (char)ch;
        }
        buf[o] = 0;
        return buf;
}

char *yamlnode_path(const char *path, const char *key) {
        if (isempty(path)) return strdup(key);
        return strjoin(path, ".", key);
}

/* 1-based line and column of a byte offset, columns counted in characters like libyaml. */
static void offset_position(const char *data, size_t off, unsigned *ret_line, unsigned *ret_column) {
        unsigned line = 1, column = 1;
        for (size_t i = 0; i < off; i++) {
                unsigned char ch = (unsigned char)data[i];
                if (ch == '\n') {
                        line++;
                        column = 1;
                } else if ((ch & 0xC0) != 0x80)
                        column++;
        }
        *ret_line = line;
        *ret_column = column;
}

/* --- the event pass: refuses what the schema never needs, with the key path --- */

typedef struct Frame {
        bool map;
        bool expect_key;
        unsigned index;
        char key[YAMLNODE_ECHO_SIZE];
} Frame;

typedef struct Scan {
        Frame frames[YAMLNODE_MAX_DEPTH];
        unsigned depth;
        unsigned documents;
} Scan;

static void scan_path(const Scan *s, char *buf, size_t size) {
        size_t o = 0;
        buf[0] = 0;
        for (unsigned i = 0; i < s->depth && o < size; i++) {
                const Frame *f = &s->frames[i];
                int r;
                if (f->map)
                        r = snprintf(buf + o, size - o, "%s%s", o ? "." : "", f->expect_key ? "?" : f->key);
                else
                        r = snprintf(buf + o, size - o, "[%u]", f->index);
                if (r < 0) break;
                o += (size_t)r;
        }
}

/* A node (scalar text, or NULL for an alias or a collection) ended in the current frame. */
static void scan_node_done(Scan *s, const char *text, size_t len) {
        if (s->depth == 0) return;
        Frame *f = &s->frames[s->depth - 1];
        if (!f->map) {
                f->index++;
                return;
        }
        if (f->expect_key) {
                if (text)
                        yamlnode_echo(text, len, f->key, sizeof f->key);
                else
                        snprintf(f->key, sizeof f->key, "?");
        }
        f->expect_key = !f->expect_key;
}

/* Checks anchor and tag of one node event. */
static int scan_node_props(const Scan *s, const yaml_event_t *e, const yaml_char_t *anchor,
                           const yaml_char_t *tag, Problems *p) {
        char path[PATH_TEXT_MAX];
        int r;

        if (!anchor && !tag) return 0;
        scan_path(s, path, sizeof path);
        if (anchor) {
                r = problem_at(p, e->start_mark, path, "YAML anchors and aliases are not accepted");
                if (r < 0) return r;
        }
        if (tag) {
                char echo[YAMLNODE_ECHO_SIZE], msg[YAMLNODE_ECHO_SIZE + 64];
                const char *t = (const char *)tag;
                yamlnode_echo(t, strlen(t), echo, sizeof echo);
                snprintf(msg, sizeof msg, "YAML tags are not accepted (got \"%s\")", echo);
                r = problem_at(p, e->start_mark, path, msg);
                if (r < 0) return r;
        }
        return 0;
}

/* Returns 0 when the stream was read to its end, 1 when it stopped at a structural
 * problem, -EINVAL on a syntax error (problem added), -ENOMEM. */
static int scan_events(yaml_parser_t *parser, const char *data, Scan *s, Problems *p) {
        for (;;) {
                _cleanup_(yaml_event_freep) yaml_event_t e = {};
                char path[PATH_TEXT_MAX];
                int r = 0;

                if (!yaml_parser_parse(parser, &e)) {
                        if (parser->error == YAML_MEMORY_ERROR) return -ENOMEM;
                        const char *problem = parser->problem ? parser->problem : "unknown error";
                        unsigned line, column;
                        if (parser->error == YAML_READER_ERROR) {
                                /* Reader errors carry a byte offset, not a mark. */
                                offset_position(data, parser->problem_offset, &line, &column);
                                if (parser->problem_value >= 0)
                                        r = problems_add(p, line, column, "invalid YAML: %s (byte 0x%02x)",
                                                         problem, (unsigned)parser->problem_value & 0xffu);
                                else
                                        r = problems_add(p, line, column, "invalid YAML: %s", problem);
                        } else {
                                line = (unsigned)parser->problem_mark.line + 1;
                                column = (unsigned)parser->problem_mark.column + 1;
                                if (parser->context)
                                        r = problems_add(p, line, column, "invalid YAML: %s (%s)", problem,
                                                         parser->context);
                                else
                                        r = problems_add(p, line, column, "invalid YAML: %s", problem);
                        }
                        return r < 0 ? r : -EINVAL;
                }

                switch (e.type) {
                case YAML_STREAM_END_EVENT:
                        return 0;
                case YAML_DOCUMENT_START_EVENT:
                        if (++s->documents > 1) {
                                r = problem_at(p, e.start_mark, "", "only one YAML document is accepted");
                                return r < 0 ? r : 1;
                        }
                        break;
                case YAML_ALIAS_EVENT:
                        scan_path(s, path, sizeof path);
                        r = problem_at(p, e.start_mark, path, "YAML anchors and aliases are not accepted");
                        scan_node_done(s, NULL, 0);
                        break;
                case YAML_SCALAR_EVENT:
                        r = scan_node_props(s, &e, e.data.scalar.anchor, e.data.scalar.tag, p);
                        scan_node_done(s, (const char *)e.data.scalar.value, e.data.scalar.length);
                        break;
                case YAML_SEQUENCE_START_EVENT:
                case YAML_MAPPING_START_EVENT: {
                        bool map = e.type == YAML_MAPPING_START_EVENT;
                        r = map ? scan_node_props(s, &e, e.data.mapping_start.anchor, e.data.mapping_start.tag, p)
                                : scan_node_props(s, &e, e.data.sequence_start.anchor, e.data.sequence_start.tag, p);
                        if (r < 0) return r;
                        if (s->depth == YAMLNODE_MAX_DEPTH) {
                                scan_path(s, path, sizeof path);
                                char msg[64];
                                snprintf(msg, sizeof msg, "nesting deeper than %d levels is not accepted",
                                         YAMLNODE_MAX_DEPTH);
                                r = problem_at(p, e.start_mark, path, msg);
                                return r < 0 ? r : 1;
                        }
                        s->frames[s->depth++] = (Frame) { .map = map, .expect_key = true };
                        break;
                }
                case YAML_SEQUENCE_END_EVENT:
                case YAML_MAPPING_END_EVENT:
                        if (s->depth > 0) s->depth--;
                        scan_node_done(s, NULL, 0);
                        break;
                default:
                        break;
                }
                if (r < 0) return r;
        }
}

int yamlnode_load(const char *data, size_t len, size_t max, const char *what, Problems *p, YamlDoc **ret) {
        int r;

        if (len > max) {
                r = problems_add(p, 0, 0, "%s is larger than %zu bytes", what, max);
                return r < 0 ? r : -EINVAL;
        }
        const char *nul = memchr(data, 0, len);
        if (nul) {
                unsigned line, column;
                offset_position(data, (size_t)(nul - data), &line, &column);
                r = problems_add(p, line, column, "%s contains a NUL byte", what);
                return r < 0 ? r : -EINVAL;
        }

        /* First pass over events: refusals with their key path, and syntax errors. A
         * local list, so that a syntax error replaces the refusals found before it. */
        Problems local = {};
        Scan scan = {};
        {
                _cleanup_(yaml_parser_freep) yaml_parser_t parser = {};
                if (!yaml_parser_initialize(&parser)) return -ENOMEM;
                yaml_parser_set_input_string(&parser, (const unsigned char *)data, len);
                r = scan_events(&parser, data, &scan, &local);
        }
        if (r == -ENOMEM) {
                problems_done(&local);
                return r;
        }
        size_t first = r == -EINVAL && local.n > 0 ? local.n - 1 : 0;
        for (size_t i = first; i < local.n; i++) {
                const Problem *q = &local.items[i];
                int k = problems_add(p, q->line, q->column, "%s", q->message);
                if (k < 0) r = k;
        }
        bool refused = local.n > 0;
        problems_done(&local);
        if (r < 0) return r;
        if (refused) return -EINVAL;

        _cleanup_(yaml_parser_freep) yaml_parser_t parser = {};
        if (!yaml_parser_initialize(&parser)) return -ENOMEM;
        yaml_parser_set_input_string(&parser, (const unsigned char *)data, len);
        YamlDoc *d = calloc(1, sizeof *d);
        if (!d) return -ENOMEM;
        if (!yaml_parser_load(&parser, &d->document)) {
                /* The event pass read the same bytes; only memory can fail here. */
                free(d);
                return parser.error == YAML_MEMORY_ERROR ? -ENOMEM : -EIO;
        }
        *ret = d;
        return 0;
}

YamlDoc *yamlnode_free(YamlDoc *d) {
        if (!d) return NULL;
        yaml_document_delete(&d->document);
        free(d);
        return NULL;
}

yaml_node_t *yamlnode_root(YamlDoc *d) {
        return yaml_document_get_root_node(&d->document);
}

const char *yamlnode_kind(const yaml_node_t *n) {
        if (!n) return "no value";
        switch (n->type) {
        case YAML_MAPPING_NODE:
                return "a mapping";
        case YAML_SEQUENCE_NODE:
                return "a list";
        case YAML_SCALAR_NODE:
                return yamlnode_is_null(n) ? "no value" : "a single value";
        default:
                return "nothing";
        }
}

bool yamlnode_is_null(const yaml_node_t *n) {
        if (!n || n->type != YAML_SCALAR_NODE) return false;
        if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) return false;
        const char *v = (const char *)n->data.scalar.value;
        return n->data.scalar.length == 0 || streq(v, "~") || streq(v, "null") || streq(v, "Null") ||
               streq(v, "NULL");
}

const char *yamlnode_scalar(const yaml_node_t *n, size_t *ret_len) {
        if (!n || n->type != YAML_SCALAR_NODE) return NULL;
        if (ret_len) *ret_len = n->data.scalar.length;
        return (const char *)n->data.scalar.value;
}

static bool key_is(const yaml_node_t *k, const char *name) {
        size_t len;
        const char *s = yamlnode_scalar(k, &len);
        return s && len == strlen(name) && memcmp(s, name, len) == 0;
}

int yamlnode_check_mapping(YamlDoc *d, const yaml_node_t *n, const char *path,
                           const char *const *allowed, Problems *p) {
        int r;

        if (!n || n->type != YAML_MAPPING_NODE) {
                r = yamlnode_problem(p, n, path, "expected a mapping (got %s)", yamlnode_kind(n));
                return r < 0 ? r : -EINVAL;
        }

        char expected[512] = "";
        size_t o = 0;
        for (size_t i = 0; allowed[i] && o < sizeof expected; i++) {
                int k = snprintf(expected + o, sizeof expected - o, "%s%s", i ? ", " : "", allowed[i]);
                if (k < 0) break;
                o += (size_t)k;
        }

        for (yaml_node_pair_t *pair = n->data.mapping.pairs.start; pair < n->data.mapping.pairs.top; pair++) {
                yaml_node_t *k = yaml_document_get_node(&d->document, pair->key);
                size_t len;
                const char *s = yamlnode_scalar(k, &len);
                if (!k) continue;
                if (!s || yamlnode_is_null(k)) {
                        r = yamlnode_problem(p, k, path, "keys must be names (got %s)",
                                             s ? "no value" : yamlnode_kind(k));
                        if (r < 0) return r;
                        continue;
                }

                const char *known = NULL;
                for (size_t i = 0; allowed[i]; i++)
                        if (key_is(k, allowed[i])) {
                                known = allowed[i];
                                break;
                        }
                if (!known) {
                        char echo[YAMLNODE_ECHO_SIZE];
                        yamlnode_echo(s, len, echo, sizeof echo);
                        r = problems_add(p, yamlnode_line(k), yamlnode_column(k),
                                         "%s%s%s: unknown key (expected one of: %s)", isempty(path) ? "" : path,
                                         isempty(path) ? "" : ".", echo, expected);
                        if (r < 0) return r;
                        continue;
                }

                /* Duplicates only matter for known keys; unknown ones are errors anyway. This
                 * keeps the check linear in the number of keys for hostile input. */
                for (yaml_node_pair_t *prev = n->data.mapping.pairs.start; prev < pair; prev++) {
                        yaml_node_t *pk = yaml_document_get_node(&d->document, prev->key);
                        if (!key_is(pk, known)) continue;
                        r = problems_add(p, yamlnode_line(k), yamlnode_column(k),
                                         "%s%s%s: duplicate key (first at line %u)", isempty(path) ? "" : path,
                                         isempty(path) ? "" : ".", known, yamlnode_line(pk));
                        if (r < 0) return r;
                        break;
                }
        }
        return 0;
}

yaml_node_t *yamlnode_get(YamlDoc *d, const yaml_node_t *n, const char *key, yaml_node_t **ret_key) {
        if (!n || n->type != YAML_MAPPING_NODE) return NULL;
        for (yaml_node_pair_t *pair = n->data.mapping.pairs.start; pair < n->data.mapping.pairs.top; pair++) {
                yaml_node_t *k = yaml_document_get_node(&d->document, pair->key);
                if (!key_is(k, key)) continue;
                if (ret_key) *ret_key = k;
                return yaml_document_get_node(&d->document, pair->value);
        }
        return NULL;
}

int yamlnode_string(const yaml_node_t *n, const char *path, const char *what, Problems *p,
                    const char **ret, size_t *ret_len) {
        size_t len;
        const char *s = yamlnode_scalar(n, &len);
        int r;

        if (!s || yamlnode_is_null(n)) {
                r = yamlnode_problem(p, n, path, "expected %s (got %s)", what, yamlnode_kind(n));
                return r < 0 ? r : -EINVAL;
        }
        if (memchr(s, 0, len)) {
                r = yamlnode_problem(p, n, path, "expected %s (got a value with a NUL character)", what);
                return r < 0 ? r : -EINVAL;
        }
        *ret = s;
        if (ret_len) *ret_len = len;
        return 0;
}

int yamlnode_bool(const yaml_node_t *n, const char *path, Problems *p, bool *ret) {
        static const char *const yaml11[] = { "yes", "no", "on", "off", "y", "n" };
        const char *s;
        size_t len;
        int r = yamlnode_string(n, path, "true or false", p, &s, &len);
        if (r < 0) return r;

        if (strcasecmp(s, "true") == 0) {
                *ret = true;
                return 0;
        }
        if (strcasecmp(s, "false") == 0) {
                *ret = false;
                return 0;
        }

        char echo[YAMLNODE_ECHO_SIZE];
        yamlnode_echo(s, len, echo, sizeof echo);
        for (size_t i = 0; i < ELEMENTSOF(yaml11); i++)
                if (strcasecmp(s, yaml11[i]) == 0) {
                        r = yamlnode_problem(p, n, path,
                                             "expected true or false (got \"%s\"; YAML 1.1 yes/no/on/off are not "
                                             "accepted, use true or false)", echo);
                        return r < 0 ? r : -EINVAL;
                }
        r = yamlnode_problem(p, n, path, "expected true or false (got \"%s\")", echo);
        return r < 0 ? r : -EINVAL;
}

int yamlnode_uint(const yaml_node_t *n, const char *path, unsigned min, unsigned max, Problems *p,
                  unsigned *ret) {
        char what[64];
        const char *s;
        size_t len;
        int r;

        snprintf(what, sizeof what, "an integer %u..%u", min, max);
        r = yamlnode_string(n, path, what, p, &s, &len);
        if (r < 0) return r;

        bool digits = len > 0;
        for (size_t i = 0; i < len; i++)
                if (s[i] < '0' || s[i] > '9') digits = false;

        char echo[YAMLNODE_ECHO_SIZE];
        yamlnode_echo(s, len, echo, sizeof echo);
        if (digits && len > 1 && s[0] == '0') {
                /* "0443" is octal in YAML 1.1 and decimal in 1.2: refuse rather than guess. */
                r = yamlnode_problem(p, n, path, "expected %s without leading zeros (got \"%s\")", what, echo);
                return r < 0 ? r : -EINVAL;
        }
        unsigned long long v = 0;
        if (digits && len <= 10)
                for (size_t i = 0; i < len; i++) v = v * 10 + (unsigned)(s[i] - '0');
        if (!digits || len > 10 || v < min || v > max) {
                r = yamlnode_problem(p, n, path, "expected %s (got \"%s\")", what, echo);
                return r < 0 ? r : -EINVAL;
        }
        *ret = (unsigned)v;
        return 0;
}

void yamlnode_sort_problems(Problems *p, size_t start) {
        /* Insertion sort: stable, and the lists are short (capped by problems_add). */
        for (size_t i = start + 1; i < p->n; i++) {
                Problem q = p->items[i];
                size_t j = i;
                while (j > start && (p->items[j - 1].line > q.line ||
                                     (p->items[j - 1].line == q.line && p->items[j - 1].column > q.column))) {
                        p->items[j] = p->items[j - 1];
                        j--;
                }
                p->items[j] = q;
        }
}
