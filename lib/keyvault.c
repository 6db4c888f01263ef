/* keyvault: Key Vault secret references (checked offline) and the secret client
 * (see keyvault.h). */
#include "keyvault.h"

#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <strings.h>

#include "util.h"

#define KEYVAULT_MAX_BODY (256u * 1024)
#define KEYVAULT_CONNECT_TIMEOUT_MS 5000
#define KEYVAULT_TRY_TIMEOUT_MS 30000
#define HOST_MAX 253
/* Key Vault values are at most 25 KiB; the helpers' tokens are far shorter. */
#define KEYVAULT_VALUE_MAX (25u * 1024)

const char *const keyvault_default_host_suffixes[] = {
        ".vault.azure.net", ".vault.azure.cn", ".vault.usgovcloudapi.net", ".vault.microsoftazure.de", NULL,
};

void keyvault_ref_done(KeyVaultRef *r) {
        if (!r) return;
        free(r->uri);
        free(r->host);
        free(r->name);
        free(r->version);
        *r = (KeyVaultRef){0};
}

static bool is_alnum(char ch) {
        return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9');
}
static bool is_hex(char ch) {
        return (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F') || (ch >= '0' && ch <= '9');
}

static bool valid_host(const char *s, size_t len) {
        if (len == 0 || len > HOST_MAX) return false;
        size_t start = 0;
        for (size_t i = 0; i <= len; i++) {
                if (i < len && s[i] != '.') {
                        if (!is_alnum(s[i]) && s[i] != '-') return false;
                        continue;
                }
                size_t l = i - start;
                if (l < 1 || l > 63 || s[start] == '-' || s[i - 1] == '-') return false;
                start = i + 1;
        }
        return true;
}

bool keyvault_host_allowed(const char *host, const char *const *suffixes) {
        if (isempty(host)) return false;
        size_t hl = strlen(host);
        for (const char *const *s = suffixes ? suffixes : keyvault_default_host_suffixes; *s; s++) {
                size_t sl = strlen(*s);
                if (sl == 0) continue;
                if ((*s)[0] == '.') {
                        /* ".vault.azure.net" needs a vault name in front of it. */
                        if (hl > sl && strcasecmp(host + hl - sl, *s) == 0) return true;
                } else if (strcasecmp(host, *s) == 0)
                        return true;
        }
        return false;
}

static void list_suffixes(const char *const *suffixes, char *buf, size_t size) {
        size_t used = 0;
        buf[0] = 0;
        for (const char *const *s = suffixes ? suffixes : keyvault_default_host_suffixes; *s && used < size; s++) {
                int n = snprintf(buf + used, size - used, "%s%s", used ? ", " : "", *s);
                if (n < 0) break;
                used += (size_t)n;
        }
        if (!buf[0]) snprintf(buf, size, "(none)");
}

int keyvault_parse_ref(const char *uri, size_t len, const char *const *suffixes, KeyVaultRef *ret, char *why,
                       size_t whysize) {
        static const char scheme[] = "https://", prefix[] = "/secrets/";
        const size_t sl = strlen(scheme), pl = strlen(prefix);
        errbuf_printf(why, whysize, "%s", "");

        if (!uri || len == 0) {
                errbuf_printf(why, whysize, "empty");
                return -EINVAL;
        }
        if (len > KEYVAULT_URI_MAX || strlen(uri) != len) {
                errbuf_printf(why, whysize, "longer than %d characters", KEYVAULT_URI_MAX);
                return -EINVAL;
        }
        for (size_t i = 0; i < len; i++)
                if ((unsigned char)uri[i] <= ' ' || uri[i] == 0x7f) {
                        errbuf_printf(why, whysize, "a space or control character");
                        return -EINVAL;
                }
        if (len < sl || strncmp(uri, scheme, sl) != 0) {
                errbuf_printf(why, whysize, "not https://");
                return -EINVAL;
        }
        const char *host = uri + sl, *end = uri + len;
        const char *slash = memchr(host, '/', (size_t)(end - host));
        if (!slash) slash = end;
        if (memchr(host, '@', (size_t)(slash - host))) {
                errbuf_printf(why, whysize, "user information before the host");
                return -EINVAL;
        }
        const char *colon = memchr(host, ':', (size_t)(slash - host));
        const char *host_end = colon ? colon : slash;
        unsigned port = 443;
        if (colon) {
                size_t nd = (size_t)(slash - colon - 1);
                unsigned long p = 0;
                for (size_t i = 0; i < nd; i++) {
                        char ch = colon[1 + i];
                        if (ch < '0' || ch > '9') { p = 0; break; }
                        if (p <= 65535) p = p * 10 + (unsigned long)(ch - '0');
                }
                if (nd == 0 || nd > 5 || p < 1 || p > 65535) {
                        errbuf_printf(why, whysize, "a port that is not 1..65535");
                        return -EINVAL;
                }
                port = (unsigned)p;
        }
        size_t hl = (size_t)(host_end - host);
        if (!valid_host(host, hl)) {
                errbuf_printf(why, whysize, "no valid host name");
                return -EINVAL;
        }
        _cleanup_free_ char *h = strndup(host, hl);
        if (!h) return -ENOMEM;
        for (char *p = h; *p; p++)
                if (*p >= 'A' && *p <= 'Z') *p = (char)(*p - 'A' + 'a');
        if (!keyvault_host_allowed(h, suffixes)) {
                char list[512];
                list_suffixes(suffixes, list, sizeof list);
                errbuf_printf(why, whysize, "the host %s is not a Key Vault host allowed by key_vault.host_suffixes (%s)",
                              h, list);
                return -EINVAL;
        }
        if ((size_t)(end - slash) < pl || strncmp(slash, prefix, pl) != 0) {
                errbuf_printf(why, whysize, "a path other than /secrets/NAME[/VERSION]");
                return -EINVAL;
        }
        const char *name = slash + pl;
        const char *nslash = memchr(name, '/', (size_t)(end - name));
        const char *name_end = nslash ? nslash : end;
        size_t nl = (size_t)(name_end - name);
        if (nl == 0 || nl > KEYVAULT_NAME_MAX) {
                errbuf_printf(why, whysize, "a secret NAME of %zu characters (1 to %d)", nl, KEYVAULT_NAME_MAX);
                return -EINVAL;
        }
        for (size_t i = 0; i < nl; i++)
                if (!is_alnum(name[i]) && name[i] != '-') {
                        errbuf_printf(why, whysize, "a secret NAME with a character other than letters, digits and '-'");
                        return -EINVAL;
                }
        _cleanup_free_ char *version = NULL;
        if (nslash) {
                const char *v = nslash + 1;
                size_t vl = (size_t)(end - v);
                bool hex = vl == KEYVAULT_VERSION_LEN;
                for (size_t i = 0; hex && i < vl; i++) hex = is_hex(v[i]);
                if (!hex) {
                        errbuf_printf(why, whysize, "a VERSION that is not %d hexadecimal digits", KEYVAULT_VERSION_LEN);
                        return -EINVAL;
                }
                version = strndup(v, vl);
                if (!version) return -ENOMEM;
        }
        KeyVaultRef r = {.port = port};
        r.uri = strndup(uri, len);
        r.name = strndup(name, nl);
        if (!r.uri || !r.name) {
                keyvault_ref_done(&r);
                return -ENOMEM;
        }
        r.host = TAKE_PTR(h);
        r.version = TAKE_PTR(version);
        *ret = r;
        return 0;
}

char *keyvault_version_from_id(const char *id) {
        if (isempty(id)) return NULL;
        const char *p = strstr(id, "/secrets/");
        if (!p) return NULL;
        p += strlen("/secrets/");
        const char *slash = strchr(p, '/');
        if (!slash || !slash[1]) return NULL;
        const char *v = slash + 1;
        size_t vl = strlen(v);
        if (vl > 64) return NULL;
        for (size_t i = 0; i < vl; i++)
                if (!is_alnum(v[i])) return NULL;
        return strdup(v);
}

void keyvault_client_done(KeyVaultClient *c) {
        if (!c) return;
        c->token = secret_free(c->token);
}

/* Copies a JSON string member into buf with control characters blanked. */
static void copy_code(json_t *o, const char *key, char *buf, size_t size) {
        const char *s = json_string_value(json_object_get(o, key));
        size_t j = 0;
        for (size_t i = 0; s && s[i] && j + 1 < size; i++)
                buf[j++] = (unsigned char)s[i] < 0x20 ? ' ' : s[i];
        buf[j] = 0;
}

/* Key Vault's error body: {"error":{"code":"Forbidden","message":"...",
 * "innererror":{"code":"ForbiddenByRbac"}}}. The codes name no secret. */
static void describe(const HttpResponse *resp, KeyVaultFailure *f) {
        f->status = resp->status;
        f->token = false;
        f->network = false;
        f->code[0] = f->inner_code[0] = 0;
        if (resp->body && resp->body_len) {
                json_error_t jerr;
                json_t *root = json_loadb(resp->body, resp->body_len, 0, &jerr);
                json_t *err = json_object_get(root, "error");
                copy_code(err, "code", f->code, sizeof f->code);
                copy_code(json_object_get(err, "innererror"), "code", f->inner_code, sizeof f->inner_code);
                json_decref(root);
        }
        if (f->code[0])
                snprintf(f->last, sizeof f->last, "HTTP %ld (%s%s%s)", resp->status, f->code,
                         f->inner_code[0] ? ", " : "", f->inner_code);
        else
                snprintf(f->last, sizeof f->last, "HTTP %ld", resp->status);
}

static bool vault_retryable(long status) {
        return status == 401 || status == 403 || status == 408 || status == 429 || (status >= 500 && status <= 599);
}

static int parse_secret(const HttpResponse *resp, Secret **ret_value, char **ret_version, KeyVaultFailure *f) {
        json_error_t jerr;
        json_t *root = json_loadb(resp->body ? resp->body : "", resp->body_len, JSON_REJECT_DUPLICATES, &jerr);
        json_t *value = json_object_get(root, "value");
        int r = 0;
        if (!json_is_string(value)) {
                snprintf(f->last, sizeof f->last, "HTTP %ld without a string \"value\"", resp->status);
                r = -EBADMSG;
        } else {
                const char *s = json_string_value(value);
                size_t n = json_string_length(value);
                /* Registered first: whatever is wrong with it, it must not be printed. */
                Secret *v = secret_new(s, n);
                if (!v) r = -ENOMEM;
                else if (strlen(s) != n || n > KEYVAULT_VALUE_MAX) {
                        snprintf(f->last, sizeof f->last, "HTTP %ld with a value of %zu characters%s", resp->status, n,
                                 strlen(s) != n ? " holding a NUL" : "");
                        (void)secret_register_value(s, n);
                        secret_free(v);
                        r = -EBADMSG;
                } else {
                        char *ver = keyvault_version_from_id(json_string_value(json_object_get(root, "id")));
                        *ret_value = v;
                        *ret_version = ver;
                }
        }
        json_decref(root);
        return r;
}

int keyvault_get_secret(KeyVaultClient *c, const KeyVaultRef *ref, Secret **ret_value, char **ret_version,
                        KeyVaultFailure *failure) {
        KeyVaultFailure dummy;
        KeyVaultFailure *f = failure ? failure : &dummy;
        *f = (KeyVaultFailure){0};
        if (!c || !c->msi || !ref || isempty(ref->uri) || !ret_value || !ret_version) return -EINVAL;

        _cleanup_free_ char *url = NULL;
        if (asprintf_safe(&url, "%s?api-version=%s", ref->uri, KEYVAULT_API_VERSION) < 0) return -ENOMEM;
        if (c->start_ms == 0) c->start_ms = now_monotonic_ms();

        /* The budget is the client's: every secret of one load shares one deadline. */
        const RetryPolicy policy = {.deadline_ms = c->deadline_ms, .base_ms = 250, .max_ms = 5000};
        Retry retry;
        retry_init(&retry, &policy);
        retry.start_ms = c->start_ms;
        snprintf(f->last, sizeof f->last, "no answer");

        for (;;) {
                int64_t remaining = retry_remaining_ms(&retry);
                if (remaining <= 0 && retry.attempt > 0) return -ETIMEDOUT;
                long retry_after = -1;

                if (!c->token) {
                        MsiClient m = *c->msi;
                        m.deadline_ms = remaining > 0 ? remaining : 1;
                        char err[256] = "";
                        int r = msi_fetch_token(&m, &c->token, NULL, err, sizeof err);
                        if (r < 0) {
                                f->status = 0;
                                f->token = true;
                                f->network = false;
                                snprintf(f->last, sizeof f->last, "managed identity token from IMDS: %s", err);
                                /* msi retried until our deadline, or got an answer it cannot fix. */
                                return r == -ENOMEM ? r : -ETIMEDOUT;
                        }
                        continue;
                }

                _cleanup_free_ char *auth = NULL;
                if (asprintf_safe(&auth, "Authorization: Bearer %s", secret_reveal(c->token)) < 0) return -ENOMEM;
                const char *const headers[] = {auth, "Accept: application/json", NULL};
                long try_ms = retry_try_timeout_ms(remaining, KEYVAULT_TRY_TIMEOUT_MS);
                bool clipped = try_ms < KEYVAULT_TRY_TIMEOUT_MS;
                HttpRequest req = {
                        .url = url,
                        .headers = headers,
                        .max_body = KEYVAULT_MAX_BODY,
                        .connect_timeout_ms = KEYVAULT_CONNECT_TIMEOUT_MS,
                        .total_timeout_ms = try_ms,
                        .ca_file = c->ca_file,
                        .out_fd = -1,
                };
                HttpResponse resp = {0};
                int r = http_perform(&req, &resp);
                wipe(auth, strlen(auth));

                if (r >= 0 && resp.status >= 200 && resp.status <= 299) {
                        r = parse_secret(&resp, ret_value, ret_version, f);
                        if (resp.body) wipe(resp.body, resp.body_len);
                        http_response_clear(&resp);
                        return r;
                }
                if (r >= 0) {
                        describe(&resp, f);
                        if (resp.body) wipe(resp.body, resp.body_len);
                        http_response_clear(&resp);
                        retry_after = resp.retry_after_s;
                        if (resp.status == 404) return -ENOENT;
                        if (resp.status == 400) return -EINVAL;
                        if (!vault_retryable(resp.status)) return -EACCES;
                        if (resp.status == 401) {
                                /* Expired or for the wrong audience: the next try takes a new one. */
                                c->token = secret_free(c->token);
                        }
                } else {
                        /* A last try cut short by the deadline says less about the vault
                         * than the answer before it ("HTTP 403"): keep that one. */
                        if (resp.error == HTTP_ERR_TIMEOUT && clipped && retry.attempt > 0) {
                                http_response_clear(&resp);
                                return -ETIMEDOUT;
                        }
                        f->status = 0;
                        f->token = false;
                        f->network = resp.error == HTTP_ERR_CONNECT || resp.error == HTTP_ERR_TIMEOUT ||
                                     resp.error == HTTP_ERR_TLS || resp.error == HTTP_ERR_TRUNCATED;
                        snprintf(f->last, sizeof f->last, "%s",
                                 resp.message[0] ? resp.message : http_error_to_string(resp.error));
                        http_response_clear(&resp);
                        if (!f->network) return r;
                }
                int64_t delay = retry_next_delay(&retry, retry_after);
                if (delay < 0) return -ETIMEDOUT;
                if (c->notify) c->notify(c->userdata, retry.attempt, f->last, delay);
                sleep_ms(delay);
        }
}
