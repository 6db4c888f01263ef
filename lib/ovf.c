/* ovf: ovf-env.xml parsing with expat, matched by namespace URI. */
#include "ovf.h"

#include <errno.h>
#include <expat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base64.h"
#include "util.h"
#include "xmlutil.h"

/* Caps on the text of one element: CustomData is bounded by the document cap (its
 * decoded size is checked separately); everything else is a name, a path or a key. */
#define OVF_FIELD_MAX (16u * 1024u)

/* Element paths below the document element, in the Azure namespace only; an element
 * of any other namespace appears as "*" so it can never match. The document element
 * itself (OVF's Environment, in the DMTF namespace) is not part of the path. */
#define SET "ProvisioningSection/LinuxProvisioningConfigurationSet/"
#define KEY SET "SSH/PublicKeys/PublicKey"

typedef enum OvfField {
        OVF_NONE = -1,
        OVF_HOSTNAME,
        OVF_USERNAME,
        OVF_PASSWORD,
        OVF_DISABLE_PASSWORD_AUTH,
        OVF_CUSTOM_DATA,
        OVF_KEY,
        OVF_KEY_VALUE,
        OVF_KEY_PATH,
        OVF_PREPROVISIONED,
        _OVF_FIELD_MAX,
} OvfField;

static const char *const ovf_paths[_OVF_FIELD_MAX] = {
        [OVF_HOSTNAME] = SET "HostName",
        [OVF_USERNAME] = SET "UserName",
        [OVF_PASSWORD] = SET "UserPassword",
        [OVF_DISABLE_PASSWORD_AUTH] = SET "DisableSshPasswordAuthentication",
        [OVF_CUSTOM_DATA] = SET "CustomData",
        [OVF_KEY] = KEY,
        [OVF_KEY_VALUE] = KEY "/Value",
        [OVF_KEY_PATH] = KEY "/Path",
        [OVF_PREPROVISIONED] = "PlatformSettingsSection/PlatformSettings/PreprovisionedVm",
};
#define SET_PATH "ProvisioningSection/LinuxProvisioningConfigurationSet"

typedef struct OvfParser {
        XmlCtx x;                     /* first: xml_refuse_dtd's handlers find it */
        XmlPath path;                 /* below the document element */
        unsigned depth;               /* elements open, the document element included */
        OvfField field;               /* element whose text is being captured */
        unsigned field_depth;
        XmlText text;                 /* captured text */
        /* Results */
        char *hostname, *username, *custom_b64;
        size_t custom_b64_len;
        unsigned long custom_line;    /* where CustomData starts, for errors */
        bool has_password, has_disable, disable_password_auth, has_custom_data;
        bool has_set, password_nonempty, preprovisioned_vm;
        char **keys, **key_paths;
        char *key_value, *key_path;   /* of the PublicKey element being parsed */
        bool in_key;
} OvfParser;

/* Local name of an Azure-namespace element, NULL for any other namespace. With
 * XML_ParserCreateNS(NULL, ' ') expat reports "URI local" (or "local" without one). */
static const char *azure_local_name(const char *name) {
        size_t n = strlen(OVF_NAMESPACE);
        if (strncmp(name, OVF_NAMESPACE, n) == 0 && name[n] == ' ')
                return name + n + 1;
        return NULL;
}

static void path_push(OvfParser *p, const char *name) {
        const char *local = azure_local_name(name);

        p->depth++;
        if (p->depth == 1)
                return;   /* the document element: not part of the path */
        xml_path_push(&p->path, local ? local : "*");
}

static void path_pop(OvfParser *p) {
        if (p->depth > 1)
                xml_path_pop(&p->path);
        p->depth--;
}

static void XMLCALL ovf_start(void *userdata, const XML_Char *name, const XML_Char **attrs) {
        OvfParser *p = userdata;
        OvfField f = OVF_NONE;

        path_push(p, name);
        if (p->field != OVF_NONE || p->path.overflow > 0 || p->depth < 2)
                return;   /* inside a captured element, or not a candidate */
        if (streq(p->path.path, SET_PATH)) {
                p->has_set = true;
                return;
        }

        for (int i = 0; i < _OVF_FIELD_MAX; i++)
                if (streq(p->path.path, ovf_paths[i])) {
                        f = (OvfField)i;
                        break;
                }

        switch (f) {
        case OVF_NONE:
                return;
        case OVF_KEY:
                p->in_key = true;
                free(p->key_value);
                free(p->key_path);
                p->key_value = p->key_path = NULL;
                return;
        case OVF_PASSWORD:
                /* Only its presence and whether it is empty matter: the text is never
                 * captured (ovf_text only looks at it). */
                p->has_password = true;
                p->field = f;
                p->field_depth = p->depth;
                return;
        case OVF_KEY_VALUE:
        case OVF_KEY_PATH:
                if (!p->in_key)
                        return;
                break;
        default:
                break;
        }
        if (f == OVF_CUSTOM_DATA && !p->has_custom_data)
                p->custom_line = xml_line(&p->x);
        p->field = f;
        p->field_depth = p->depth;
        xml_text_reset(&p->text, f == OVF_CUSTOM_DATA ? OVF_MAX_SIZE : OVF_FIELD_MAX);
}

static int key_finish(OvfParser *p) {
        int r;

        p->in_key = false;
        if (isempty(p->key_value))
                return 0;   /* a PublicKey without key text grants nothing */
        r = strv_push(&p->keys, p->key_value);
        if (r < 0)
                return r;
        return strv_push(&p->key_paths, p->key_path ? p->key_path : "");
}

static void field_finish(OvfParser *p) {
        const char *text = p->text.data ? p->text.data : "";
        char **target = NULL;

        switch (p->field) {
        case OVF_HOSTNAME: target = &p->hostname; break;
        case OVF_USERNAME: target = &p->username; break;
        case OVF_KEY_VALUE: target = &p->key_value; break;
        case OVF_KEY_PATH: target = &p->key_path; break;
        case OVF_PREPROVISIONED: {
                _cleanup_free_ char *v = xml_strdup_trimmed(text, p->text.len);
                if (!v)
                        xml_fail(&p->x, -ENOMEM, "out of memory");
                else
                        p->preprovisioned_vm = strcasecmp(v, "true") == 0;
                return;
        }
        case OVF_DISABLE_PASSWORD_AUTH: {
                _cleanup_free_ char *v = xml_strdup_trimmed(text, p->text.len);
                if (!v)
                        xml_fail(&p->x, -ENOMEM, "out of memory");
                else if (strcasecmp(v, "true") == 0 || strcasecmp(v, "false") == 0) {
                        p->disable_password_auth = strcasecmp(v, "true") == 0;
                        p->has_disable = true;
                } else
                        xml_fail(&p->x, -EBADMSG, "DisableSshPasswordAuthentication must be true or false");
                return;
        }
        case OVF_CUSTOM_DATA:
                if (p->has_custom_data)
                        return;   /* first one wins */
                p->custom_b64 = p->text.len > 0 ? TAKE_PTR(p->text.data) : strdup("");
                if (!p->custom_b64) {
                        xml_fail(&p->x, -ENOMEM, "out of memory");
                        return;
                }
                p->custom_b64_len = p->text.len;
                p->text.len = p->text.cap = 0;
                p->has_custom_data = true;
                return;
        default:
                return;
        }

        if (*target)
                return;   /* first one wins */
        *target = xml_strdup_trimmed(text, p->text.len);
        if (!*target)
                xml_fail(&p->x, -ENOMEM, "out of memory");
}

static void XMLCALL ovf_end(void *userdata, const XML_Char *name) {
        OvfParser *p = userdata;

        if (p->field != OVF_NONE && p->depth == p->field_depth) {
                field_finish(p);
                p->field = OVF_NONE;
        } else if (p->in_key && p->field == OVF_NONE && p->path.overflow == 0 &&
                   streq(p->path.path, ovf_paths[OVF_KEY])) {
                int r = key_finish(p);
                if (r < 0)
                        xml_fail(&p->x, r, "out of memory");
        }
        path_pop(p);
}

static void XMLCALL ovf_text(void *userdata, const XML_Char *s, int len) {
        OvfParser *p = userdata;

        if (p->field == OVF_NONE || p->depth != p->field_depth || len <= 0)
                return;
        if (p->field == OVF_PASSWORD) {
                for (int i = 0; i < len; i++)
                        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n') p->password_nonempty = true;
                return;
        }
        int r = xml_text_append(&p->text, s, (size_t)len);
        if (r == -EFBIG)
                xml_fail(&p->x, p->field == OVF_CUSTOM_DATA ? -EFBIG : -EBADMSG,
                         "element text longer than %zu bytes", p->text.max);
        else if (r < 0)
                xml_fail(&p->x, r, "out of memory");
}

static void ovf_parser_done(OvfParser *p) {
        if (p->x.parser)
                XML_ParserFree(p->x.parser);
        free(p->hostname);
        free(p->username);
        if (p->custom_b64) {
                wipe(p->custom_b64, p->custom_b64_len);
                free(p->custom_b64);
        }
        xml_text_done(&p->text);   /* may hold CustomData text */
        strv_free(p->keys);
        strv_free(p->key_paths);
        free(p->key_value);
        free(p->key_path);
}

OvfEnv *ovf_env_free(OvfEnv *e) {
        if (!e)
                return NULL;
        free(e->hostname);
        free(e->username);
        strv_free(e->ssh_public_keys);
        strv_free(e->ssh_public_key_paths);
        free(e->custom_data_error);
        if (e->custom_data) {
                wipe(e->custom_data, e->custom_data_len);
                free(e->custom_data);
        }
        free(e);
        return NULL;
}

DEFINE_TRIVIAL_CLEANUP_FUNC(OvfEnv *, ovf_env_free);

int ovf_parse(const char *xml, size_t len, OvfEnv **ret, char *err, size_t errsize) {
        OvfParser p = { .field = OVF_NONE };
        _cleanup_(ovf_env_freep) OvfEnv *e = NULL;
        int r = 0;

        if (!xml || !ret)
                return -EINVAL;
        if (len > OVF_MAX_SIZE) {
                errbuf_printf(err, errsize, "ovf-env.xml: larger than %u KiB", OVF_MAX_SIZE / 1024);
                return -EFBIG;
        }

        p.x.parser = XML_ParserCreateNS(NULL, ' ');
        if (!p.x.parser)
                return -ENOMEM;
        XML_SetUserData(p.x.parser, &p);
        XML_SetElementHandler(p.x.parser, ovf_start, ovf_end);
        XML_SetCharacterDataHandler(p.x.parser, ovf_text);
        xml_refuse_dtd(p.x.parser);

        r = xml_parse(&p.x, xml, len);
        if (r < 0) {
                errbuf_printf(err, errsize, "ovf-env.xml:%lu: %s", xml_line(&p.x), xml_error_message(&p.x));
                goto finish;
        }

        /* Without it the document names no host, user or key: nothing to provision. */
        if (!p.has_set) {
                errbuf_printf(err, errsize, "ovf-env.xml: no LinuxProvisioningConfigurationSet in namespace %s",
                              OVF_NAMESPACE);
                r = -EBADMSG;
                goto finish;
        }

        e = calloc(1, sizeof *e);
        if (!e) {
                r = -ENOMEM;
                goto finish;
        }
        e->password_nonempty = p.password_nonempty;
        e->preprovisioned_vm = p.preprovisioned_vm;
        e->hostname = TAKE_PTR(p.hostname);
        e->username = TAKE_PTR(p.username);
        e->has_password = p.has_password;
        e->disable_ssh_password_auth = p.has_disable && p.disable_password_auth;
        e->ssh_public_keys = TAKE_PTR(p.keys);
        e->ssh_public_key_paths = TAKE_PTR(p.key_paths);
        if (!e->ssh_public_keys) {
                e->ssh_public_keys = calloc(1, sizeof(char *));
                e->ssh_public_key_paths = calloc(1, sizeof(char *));
                if (!e->ssh_public_keys || !e->ssh_public_key_paths) {
                        r = -ENOMEM;
                        goto finish;
                }
        }

        if (p.has_custom_data) {
                /* Bad custom data is the custom data's problem: the host name, user and
                 * keys of the document still serve (DESIGN, Field rules). */
                size_t bad = 0;
                r = base64_decode(p.custom_b64, p.custom_b64_len, OVF_CUSTOM_DATA_MAX,
                                  &e->custom_data, &e->custom_data_len, &bad);
                if (r == -EINVAL)
                        r = asprintf_safe(&e->custom_data_error, "ovf-env.xml:%lu: CustomData is not base64 (at character %zu)",
                                          p.custom_line, bad);
                else if (r == -EFBIG)
                        r = asprintf_safe(&e->custom_data_error, "ovf-env.xml:%lu: CustomData larger than %u KiB decoded",
                                          p.custom_line, OVF_CUSTOM_DATA_MAX / 1024);
                if (r < 0)
                        goto finish;
        }

        *ret = TAKE_PTR(e);
        r = 0;
finish:
        ovf_parser_done(&p);
        return r;
}

/* Ranges [start, end) of UserPassword and CustomData content, for ovf_strip_secrets. */
typedef struct StripParser {
        XmlCtx x;                     /* first: xml_refuse_dtd's handlers find it */
        unsigned depth;
        unsigned password_depth;      /* 0: not inside a UserPassword element */
        size_t content_start;
        size_t (*ranges)[2];
        size_t n_ranges, cap_ranges;
} StripParser;

static bool is_password_element(const char *name) {
        /* Any namespace: removing a secret the parser would ignore is still right. */
        const char *local = strrchr(name, ' ');
        local = local ? local + 1 : name;
        return streq(local, "UserPassword") || streq(local, "CustomData");
}

static void XMLCALL strip_start(void *userdata, const XML_Char *name, const XML_Char **attrs) {
        StripParser *p = userdata;

        p->depth++;
        if (p->password_depth == 0 && is_password_element(name)) {
                p->password_depth = p->depth;
                p->content_start = (size_t)xml_byte_index(p->x.parser) +
                                   (size_t)xml_byte_count(p->x.parser);
        }
}

static void XMLCALL strip_end(void *userdata, const XML_Char *name) {
        StripParser *p = userdata;

        if (p->password_depth == p->depth && p->depth > 0) {
                int64_t idx = xml_byte_index(p->x.parser);
                p->password_depth = 0;
                /* An empty element <UserPassword/> has no content to remove. */
                if (idx >= 0 && (size_t)idx > p->content_start &&
                    xml_byte_count(p->x.parser) > 0) {
                        if (p->n_ranges == p->cap_ranges) {
                                size_t ncap = p->cap_ranges ? p->cap_ranges * 2 : 4;
                                void *nr = reallocarray(p->ranges, ncap, sizeof *p->ranges);
                                if (!nr) {
                                        xml_fail(&p->x, -ENOMEM, "out of memory");
                                        return;
                                }
                                p->ranges = nr;
                                p->cap_ranges = ncap;
                        }
                        p->ranges[p->n_ranges][0] = p->content_start;
                        p->ranges[p->n_ranges][1] = (size_t)idx;
                        p->n_ranges++;
                }
        }
        p->depth--;
}

int ovf_strip_secrets(const char *xml, size_t len, char **ret, size_t *ret_len) {
        StripParser p = {0};
        _cleanup_free_ char *out = NULL;
        size_t o = 0, pos = 0;
        int r = 0;

        if (!xml || !ret)
                return -EINVAL;
        if (len > OVF_MAX_SIZE)
                return -EFBIG;

        p.x.parser = XML_ParserCreateNS(NULL, ' ');
        if (!p.x.parser)
                return -ENOMEM;
        XML_SetUserData(p.x.parser, &p);
        XML_SetElementHandler(p.x.parser, strip_start, strip_end);
        xml_refuse_dtd(p.x.parser);
        r = xml_parse(&p.x, xml, len);
        XML_ParserFree(p.x.parser);
        if (r < 0)
                goto finish;

        out = malloc(len + 1);
        if (!out) {
                r = -ENOMEM;
                goto finish;
        }
        for (size_t i = 0; i < p.n_ranges; i++) {
                size_t start = p.ranges[i][0], end = p.ranges[i][1];
                if (start < pos || end > len || start > end) {
                        r = -EBADMSG;   /* cannot happen with expat's offsets; be safe */
                        goto finish;
                }
                memcpy(out + o, xml + pos, start - pos);
                o += start - pos;
                pos = end;
        }
        memcpy(out + o, xml + pos, len - pos);
        o += len - pos;
        out[o] = 0;

        if (ret_len)
                *ret_len = o;
        *ret = TAKE_PTR(out);
finish:
        free(p.ranges);
        if (out)
                wipe(out, len + 1);
        return r;
}

int ovf_read_dir(const char *dir, OvfEnv **ret, char *err, size_t errsize) {
        _cleanup_free_ char *path = NULL;
        char *xml = NULL;
        size_t len = 0;
        int r;

        if (!dir || !ret)
                return -EINVAL;
        path = strjoin(dir, "/ovf-env.xml", NULL);
        if (!path)
                return -ENOMEM;
        r = read_file_capped(path, OVF_MAX_SIZE, &xml, &len);
        if (r == -EFBIG) {
                errbuf_printf(err, errsize, "%s: larger than %u KiB", path, OVF_MAX_SIZE / 1024);
                return r;
        }
        if (r < 0) {
                errbuf_printf(err, errsize, "%s: %s", path, strerror(-r));
                return r;
        }
        r = ovf_parse(xml, len, ret, err, errsize);
        /* The document holds the admin password and the custom data. */
        wipe(xml, len);
        free(xml);
        return r;
}
