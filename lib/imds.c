#include "util.h"

#include "imds.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <strings.h>

#include "base64.h"
#include "vmid.h"

#define IMDS_USERDATA_MAX (64u * 1024)
/* Base64 of 64 KiB plus generous room for line breaks. */
#define IMDS_USERDATA_BODY_MAX (128u * 1024)
#define IMDS_CONNECT_TIMEOUT_MS 2000
#define IMDS_TRY_TIMEOUT_MS 10000

ImdsInstance *imds_instance_free(ImdsInstance *i) {
        if (!i) return NULL;
        free(i->vm_id);
        free(i->name);
        free(i->computer_name);
        free(i->admin_username);
        for (size_t k = 0; k < i->n_public_keys; k++) {
                free(i->public_keys[k].key_data);
                free(i->public_keys[k].path);
        }
        free(i->public_keys);
        free(i->location);
        free(i->resource_group);
        free(i->subscription_id);
        free(i->vm_scale_set_name);
        free(i->vm_size);
        free(i->zone);
        free(i->private_ipv4);
        free(i->ignored);
        free(i);
        return NULL;
}

/* A member that must be an object (or absent/null: *ret = NULL). */
static int get_object(json_t *parent, const char *key, const char *where, json_t **ret,
                      char *err, size_t errsize) {
        json_t *v = parent ? json_object_get(parent, key) : NULL;
        if (v && !json_is_null(v) && !json_is_object(v)) {
                errbuf_printf(err, errsize, "%s: expected an object", where);
                return -EBADMSG;
        }
        *ret = json_is_object(v) ? v : NULL;
        return 0;
}

static int get_array(json_t *parent, const char *key, const char *where, json_t **ret,
                     char *err, size_t errsize) {
        json_t *v = parent ? json_object_get(parent, key) : NULL;
        if (v && !json_is_null(v) && !json_is_array(v)) {
                errbuf_printf(err, errsize, "%s: expected an array", where);
                return -EBADMSG;
        }
        *ret = json_is_array(v) ? v : NULL;
        return 0;
}

/* A string member; absent, null and "" leave *ret NULL (IMDS sends "" for unset fields). */
static int get_string(json_t *parent, const char *key, const char *where, char **ret,
                      char *err, size_t errsize) {
        json_t *v = parent ? json_object_get(parent, key) : NULL;
        if (!v || json_is_null(v)) return 0;
        if (!json_is_string(v)) {
                errbuf_printf(err, errsize, "%s: expected a string", where);
                return -EBADMSG;
        }
        if (json_string_length(v) == 0) return 0;
        /* Values end up in C strings, files and command lines: an embedded NUL would
         * silently cut them. */
        if (strlen(json_string_value(v)) != json_string_length(v)) {
                errbuf_printf(err, errsize, "%s: contains a NUL character", where);
                return -EBADMSG;
        }
        char *s = strdup(json_string_value(v));
        if (!s) return -ENOMEM;
        free(*ret);
        *ret = s;
        return 0;
}

/* IMDS renders booleans as "true"/"false" strings; accept those in any case and real
 * JSON booleans. Absent or null is false. */
static int get_bool(json_t *parent, const char *key, const char *where, bool *ret,
                    char *err, size_t errsize) {
        json_t *v = parent ? json_object_get(parent, key) : NULL;
        if (!v || json_is_null(v)) {
                *ret = false;
                return 0;
        }
        if (json_is_boolean(v)) {
                *ret = json_is_true(v);
                return 0;
        }
        if (json_is_string(v)) {
                if (strcasecmp(json_string_value(v), "true") == 0) {
                        *ret = true;
                        return 0;
                }
                if (strcasecmp(json_string_value(v), "false") == 0) {
                        *ret = false;
                        return 0;
                }
        }
        errbuf_printf(err, errsize, "%s: expected true or false", where);
        return -EBADMSG;
}

/* An optional field was malformed: r is what reading it returned, why the message.
 * -EBADMSG becomes a note in inst->ignored and success; anything else is returned. */
static int ignore_malformed(ImdsInstance *inst, int r, const char *why) {
        if (r != -EBADMSG) return r;
        char *n = NULL;
        if (asprintf_safe(&n, "%s%s%s", inst->ignored ? inst->ignored : "", inst->ignored ? "; " : "", why) < 0)
                return -ENOMEM;
        free(inst->ignored);
        inst->ignored = n;
        return 0;
}

static int parse_public_keys(json_t *compute, ImdsInstance *inst, char *err, size_t errsize) {
        json_t *keys;
        int r = get_array(compute, "publicKeys", "compute.publicKeys", &keys, err, errsize);
        if (r < 0 || !keys || json_array_size(keys) == 0) return r;

        size_t n = json_array_size(keys);
        inst->public_keys = calloc(n, sizeof(ImdsPublicKey));
        if (!inst->public_keys) return -ENOMEM;

        for (size_t k = 0; k < n; k++) {
                json_t *e = json_array_get(keys, k);
                char where[64];
                ImdsPublicKey *pk = &inst->public_keys[inst->n_public_keys];

                if (!json_is_object(e)) {
                        errbuf_printf(err, errsize, "compute.publicKeys[%zu]: expected an object", k);
                        return -EBADMSG;
                }
                /* Counted first so imds_instance_free sees a partly filled entry. */
                inst->n_public_keys++;
                snprintf(where, sizeof where, "compute.publicKeys[%zu].keyData", k);
                r = get_string(e, "keyData", where, &pk->key_data, err, errsize);
                if (r < 0) return r;
                if (!pk->key_data) {
                        errbuf_printf(err, errsize, "%s: missing", where);
                        return -EBADMSG;
                }
                /* The portal often leaves a line break after the key. */
                size_t l = strlen(pk->key_data);
                while (l > 0 && isspace((unsigned char) pk->key_data[l - 1])) pk->key_data[--l] = 0;
                snprintf(where, sizeof where, "compute.publicKeys[%zu].path", k);
                r = get_string(e, "path", where, &pk->path, err, errsize);
                if (r < 0) return r;
        }
        return 0;
}

static int parse_network(json_t *root, ImdsInstance *inst, char *err, size_t errsize) {
        json_t *network, *ifaces, *ipv4, *addrs;
        int r;

        r = get_object(root, "network", "network", &network, err, errsize);
        if (r < 0 || !network) return r;
        r = get_array(network, "interface", "network.interface", &ifaces, err, errsize);
        if (r < 0 || !ifaces || json_array_size(ifaces) == 0) return r;
        json_t *iface0 = json_array_get(ifaces, 0);
        if (!json_is_object(iface0)) {
                errbuf_printf(err, errsize, "network.interface[0]: expected an object");
                return -EBADMSG;
        }
        r = get_object(iface0, "ipv4", "network.interface[0].ipv4", &ipv4, err, errsize);
        if (r < 0 || !ipv4) return r;
        r = get_array(ipv4, "ipAddress", "network.interface[0].ipv4.ipAddress", &addrs, err, errsize);
        if (r < 0 || !addrs || json_array_size(addrs) == 0) return r;
        json_t *addr0 = json_array_get(addrs, 0);
        if (!json_is_object(addr0)) {
                errbuf_printf(err, errsize, "network.interface[0].ipv4.ipAddress[0]: expected an object");
                return -EBADMSG;
        }
        return get_string(addr0, "privateIpAddress", "network.interface[0].ipv4.ipAddress[0].privateIpAddress",
                          &inst->private_ipv4, err, errsize);
}

int imds_parse_instance(const char *json, size_t len, ImdsInstance **ret, char *err, size_t errsize) {
        json_error_t jerr;
        json_t *compute, *os;
        int r;

        errbuf_printf(err, errsize, "%s", "");
        if (!json) return -EINVAL;

        _cleanup_(json_decrefp) json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
        if (!root) {
                errbuf_printf(err, errsize, "invalid JSON at line %d column %d: %s", jerr.line, jerr.column, jerr.text);
                return -EBADMSG;
        }
        if (!json_is_object(root)) {
                errbuf_printf(err, errsize, "the document is not a JSON object");
                return -EBADMSG;
        }

        _cleanup_(imds_instance_freep) ImdsInstance *inst = calloc(1, sizeof(ImdsInstance));
        if (!inst) return -ENOMEM;

        r = get_object(root, "compute", "compute", &compute, err, errsize);
        if (r < 0) return r;
        if (compute) {
                static const struct {
                        const char *key, *where;
                        size_t offset;
                } strings[] = {
                        {"vmId", "compute.vmId", offsetof(ImdsInstance, vm_id)},
                        {"name", "compute.name", offsetof(ImdsInstance, name)},
                        {"location", "compute.location", offsetof(ImdsInstance, location)},
                        {"resourceGroupName", "compute.resourceGroupName", offsetof(ImdsInstance, resource_group)},
                        {"subscriptionId", "compute.subscriptionId", offsetof(ImdsInstance, subscription_id)},
                        {"vmScaleSetName", "compute.vmScaleSetName", offsetof(ImdsInstance, vm_scale_set_name)},
                        {"vmSize", "compute.vmSize", offsetof(ImdsInstance, vm_size)},
                        {"zone", "compute.zone", offsetof(ImdsInstance, zone)},
                };
                /* None of these is needed to provision (the VM id comes from DMI first). */
                for (size_t k = 0; k < ELEMENTSOF(strings); k++) {
                        char **field = (char **) ((char *) inst + strings[k].offset);
                        char why[128];
                        r = get_string(compute, strings[k].key, strings[k].where, field, why, sizeof why);
                        r = ignore_malformed(inst, r, why);
                        if (r < 0) return r;
                }

                r = get_object(compute, "osProfile", "compute.osProfile", &os, err, errsize);
                if (r < 0) return r;
                r = get_string(os, "computerName", "compute.osProfile.computerName", &inst->computer_name, err, errsize);
                if (r < 0) return r;
                r = get_string(os, "adminUsername", "compute.osProfile.adminUsername", &inst->admin_username, err, errsize);
                if (r < 0) return r;
                r = get_bool(os, "disablePasswordAuthentication", "compute.osProfile.disablePasswordAuthentication",
                             &inst->disable_password_authentication, err, errsize);
                if (r < 0) return r;

                r = parse_public_keys(compute, inst, err, errsize);
                if (r < 0) return r;
        }

        if (inst->vm_id) {
                /* The id keys marker files: only a UUID may get that far. Without it the
                 * DMI id serves; the agent decides when neither is there. */
                if (!vmid_is_valid(inst->vm_id)) {
                        free(inst->vm_id);
                        inst->vm_id = NULL;
                        r = ignore_malformed(inst, -EBADMSG, "compute.vmId: not a UUID");
                        if (r < 0) return r;
                } else
                        for (char *p = inst->vm_id; *p; p++) *p = (char) tolower((unsigned char) *p);
        }

        /* Only for logs: a malformed network section loses the address, nothing else. */
        char why[128];
        r = parse_network(root, inst, why, sizeof why);
        r = ignore_malformed(inst, r, why);
        if (r < 0) return r;

        *ret = TAKE_PTR(inst);
        return 0;
}

static char *imds_url(const char *base_url, const char *path) {
        if (isempty(base_url)) return NULL;
        size_t l = strlen(base_url);
        while (l > 0 && base_url[l - 1] == '/') l--;
        char *u = NULL;
        if (asprintf_safe(&u, "%.*s%s", (int) l, base_url, path) < 0) return NULL;
        return u;
}

/* One GET with the IMDS house rules and retry policy. On failure last_error says why. */
static int imds_get(const ImdsClient *c, const char *path, size_t max_body, HttpResponse *resp,
                    char *last_error, size_t errsize) {
        static const char *const headers[] = {"Metadata: true", NULL};
        int r;

        if (!c || isempty(c->base_url)) return -EINVAL;
        _cleanup_free_ char *url = imds_url(c->base_url, path);
        if (!url) return -ENOMEM;

        const HttpRequest req = {
                .method = "GET",
                .url = url,
                .headers = headers,
                .max_body = max_body,
                .connect_timeout_ms = IMDS_CONNECT_TIMEOUT_MS,
                .total_timeout_ms = IMDS_TRY_TIMEOUT_MS,
                .no_proxy = true,
                .out_fd = -1,
        };
        const RetryPolicy policy = {
                .deadline_ms = c->deadline_ms,
                .base_ms = 100,
                .max_ms = 1000,
                .status_retryable = retry_status_imds,
        };

        r = retry_http(&req, &policy, c->notify, c->userdata, resp);
        if (r == 0) return 0;
        if (r == -EBADMSG) {
                /* A status that retrying cannot fix (400, 403...): not a parse error. */
                errbuf_printf(last_error, errsize, "HTTP %ld", resp->status);
                return -EREMOTEIO;
        }
        if (resp->message[0])
                errbuf_printf(last_error, errsize, "%s", resp->message);
        else if (resp->status > 0)
                errbuf_printf(last_error, errsize, "HTTP %ld", resp->status);
        else
                errbuf_printf(last_error, errsize, "%s", http_error_to_string(resp->error));
        return r;
}

int imds_fetch_instance(const ImdsClient *c, ImdsInstance **ret, char *last_error, size_t errsize) {
        HttpResponse resp = {0};
        ImdsInstance *inst = NULL;
        int r;

        errbuf_printf(last_error, errsize, "%s", "");
        r = imds_get(c, IMDS_INSTANCE_PATH, IMDS_MAX_BODY, &resp, last_error, errsize);
        if (r >= 0) r = imds_parse_instance(resp.body ? resp.body : "", resp.body_len, &inst, last_error, errsize);
        http_response_clear(&resp);
        if (r < 0) return r;
        *ret = inst;
        return 0;
}

int imds_fetch_userdata(const ImdsClient *c, char **ret, size_t *ret_len, char *last_error, size_t errsize) {
        HttpResponse resp = {0};
        char *data = NULL;
        size_t len = 0, bad = 0;
        int r;

        errbuf_printf(last_error, errsize, "%s", "");
        r = imds_get(c, IMDS_USERDATA_PATH, IMDS_USERDATA_BODY_MAX, &resp, last_error, errsize);
        if (r >= 0) {
                r = base64_decode(resp.body ? resp.body : "", resp.body_len, IMDS_USERDATA_MAX, &data, &len, &bad);
                if (r == -EINVAL) {
                        errbuf_printf(last_error, errsize, "userData is not base64 (offset %zu)", bad);
                        r = -EBADMSG;
                } else if (r == -EFBIG)
                        errbuf_printf(last_error, errsize, "userData is larger than %u bytes", IMDS_USERDATA_MAX);
                else if (r >= 0 && len == 0) {
                        errbuf_printf(last_error, errsize, "userData is empty");
                        free(data);
                        data = NULL;
                        r = -ENOENT;
                }
        }
        /* userData is custom data: it may hold secrets. */
        if (resp.body) wipe(resp.body, resp.body_len);
        http_response_clear(&resp);
        if (r < 0) return r;
        *ret = data;
        if (ret_len) *ret_len = len;
        return 0;
}
