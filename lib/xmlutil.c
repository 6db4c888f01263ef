/* xmlutil: pieces shared by the expat-based parsers. */
#include "xmlutil.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void xml_fail(XmlCtx *x, int error, const char *fmt, ...) {
        if (x->error == 0) {
                va_list ap;
                x->error = error;
                va_start(ap, fmt);
                vsnprintf(x->message, sizeof x->message, fmt, ap);
                va_end(ap);
        }
        XML_StopParser(x->parser, XML_FALSE);
}

static void XMLCALL refuse_doctype(void *userdata, const XML_Char *name, const XML_Char *sysid,
                                   const XML_Char *pubid, int has_internal_subset) {
        xml_fail(userdata, -EBADMSG, "DOCTYPE not allowed");
}

static void XMLCALL refuse_entity(void *userdata, const XML_Char *name, int is_parameter,
                                  const XML_Char *value, int value_length, const XML_Char *base,
                                  const XML_Char *system_id, const XML_Char *public_id,
                                  const XML_Char *notation_name) {
        xml_fail(userdata, -EBADMSG, "entity declarations not allowed");
}

void xml_refuse_dtd(XML_Parser parser) {
        XML_SetStartDoctypeDeclHandler(parser, refuse_doctype);
        XML_SetEntityDeclHandler(parser, refuse_entity);
}

int xml_parse(XmlCtx *x, const char *doc, size_t len) {
        if (XML_Parse(x->parser, doc, (int)len, XML_TRUE) == XML_STATUS_OK)
                return 0;
        return x->error != 0 ? x->error : -EBADMSG;
}

const char *xml_error_message(const XmlCtx *x) {
        return x->error != 0 ? x->message : XML_ErrorString(XML_GetErrorCode(x->parser));
}

unsigned long xml_line(const XmlCtx *x) {
        return (unsigned long)xml_line_number(x->parser);
}

void xml_path_push(XmlPath *p, const char *name) {
        size_t n = strlen(name);

        if (p->overflow > 0 || p->n >= XML_PATH_MAX_DEPTH || p->len + (p->len > 0) + n > XML_PATH_MAX_LEN) {
                p->overflow++;
                return;
        }
        p->offsets[p->n++] = p->len;
        if (p->len > 0)
                p->path[p->len++] = '/';
        memcpy(p->path + p->len, name, n);
        p->len += n;
        p->path[p->len] = 0;
}

void xml_path_pop(XmlPath *p) {
        if (p->overflow > 0)
                p->overflow--;
        else if (p->n > 0) {
                p->len = p->offsets[--p->n];
                p->path[p->len] = 0;
        }
}

void xml_text_reset(XmlText *t, size_t max) {
        t->len = 0;
        t->max = max;
}

int xml_text_append(XmlText *t, const char *s, size_t n) {
        if (n > t->max - t->len)
                return -EFBIG;
        if (t->len + n + 1 > t->cap) {
                size_t ncap = t->cap ? t->cap : 256;
                while (ncap < t->len + n + 1)
                        ncap *= 2;
                char *nd = realloc(t->data, ncap);
                if (!nd)
                        return -ENOMEM;
                t->data = nd;
                t->cap = ncap;
        }
        memcpy(t->data + t->len, s, n);
        t->len += n;
        t->data[t->len] = 0;
        return 0;
}

void xml_text_done(XmlText *t) {
        if (t->data) {
                wipe(t->data, t->cap);
                free(t->data);
        }
        *t = (XmlText){0};
}

bool xml_is_space(char c) {
        return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

char *xml_strdup_trimmed(const char *s, size_t len) {
        while (len > 0 && xml_is_space(s[0])) {
                s++;
                len--;
        }
        while (len > 0 && xml_is_space(s[len - 1]))
                len--;
        return strndup(s, len);
}
