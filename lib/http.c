#include "http.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <strings.h>
#include <time.h>

#include "http-private.h"
#include "util.h"

#define SYSTEM_CA_DIR "/etc/ssl/certs"
#define CA_FILE_MAX (1024 * 1024)
#define DEFAULT_CONNECT_TIMEOUT_MS 5000
#define DEFAULT_TOTAL_TIMEOUT_MS 30000
/* A Retry-After beyond a day is nonsense for a boot agent; clamp so callers'
 * arithmetic (seconds * 1000) cannot overflow. */
#define RETRY_AFTER_MAX_S (24L * 3600)

DEFINE_TRIVIAL_CLEANUP_FUNC(CURL *, curl_easy_cleanup)
DEFINE_TRIVIAL_CLEANUP_FUNC(struct curl_slist *, curl_slist_free_all)

static const char *const http_error_table[_HTTP_ERR_MAX] = {
        [HTTP_OK] = "ok",
        [HTTP_ERR_CONNECT] = "connection failed",
        [HTTP_ERR_TIMEOUT] = "timed out",
        [HTTP_ERR_TLS] = "TLS failure",
        [HTTP_ERR_TRUNCATED] = "connection closed mid-response",
        [HTTP_ERR_TOO_LARGE] = "response too large",
        [HTTP_ERR_WRITE] = "write failed",
        [HTTP_ERR_OTHER] = "other error",
};

const char *http_error_to_string(HttpError e) {
        if ((int)e < 0 || e >= _HTTP_ERR_MAX) return NULL;
        return http_error_table[e];
}

int http_global_init(void) {
        return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -EIO;
}

void http_global_cleanup(void) { curl_global_cleanup(); }

void http_response_clear(HttpResponse *r) {
        if (!r) return;
        r->body = (free(r->body), NULL);
        r->body_len = 0;
}

typedef struct Sink {
        size_t max;
        int fd;
        char *buf;
        size_t len, cap;
        bool too_large;
        int write_errno;
        long retry_after_s;
} Sink;

static size_t sink_write(char *data, size_t size, size_t nmemb, void *userdata) {
        Sink *s = userdata;
        size_t n = size * nmemb;

        if (n > s->max - s->len) {
                s->too_large = true;
                return 0;
        }
        if (s->fd >= 0) {
                int r = write_all(s->fd, data, n);
                if (r < 0) {
                        s->write_errno = -r;
                        return 0;
                }
                s->len += n;
                return n;
        }
        if (s->len + n + 1 > s->cap) {
                size_t ncap = s->cap ? s->cap : 4096;
                while (ncap < s->len + n + 1) ncap *= 2;
                if (ncap > s->max + 1) ncap = s->max + 1;
                char *nb = realloc(s->buf, ncap);
                if (!nb) {
                        s->write_errno = ENOMEM;
                        return 0;
                }
                s->buf = nb;
                s->cap = ncap;
        }
        memcpy(s->buf + s->len, data, n);
        s->len += n;
        s->buf[s->len] = 0;
        return n;
}

static long parse_retry_after(const char *v) {
        if (*v >= '0' && *v <= '9') {
                char *end = NULL;
                errno = 0;
                long long d = strtoll(v, &end, 10);
                if (errno == ERANGE || d > RETRY_AFTER_MAX_S) return RETRY_AFTER_MAX_S;
                if (*end != 0) return -1;
                return (long)d;
        }
        time_t t = curl_getdate(v, NULL);
        if (t < 0) return -1;
        time_t now = time(NULL);
        if (t <= now) return 0;
        return t - now > RETRY_AFTER_MAX_S ? RETRY_AFTER_MAX_S : (long)(t - now);
}

static size_t sink_header(char *data, size_t size, size_t nmemb, void *userdata) {
        Sink *s = userdata;
        size_t n = size * nmemb;

        char v[128];

        /* Only the final response's Retry-After counts. */
        if (http_header_is_status_line(data, n)) {
                s->retry_after_s = -1;
                return n;
        }
        if (!http_header_value(data, n, "retry-after:", v, sizeof v)) return n;
        s->retry_after_s = v[0] ? parse_retry_after(v) : -1;
        return n;
}

bool http_header_is_status_line(const char *data, size_t n) {
        return n >= 5 && memcmp(data, "HTTP/", 5) == 0;
}

bool http_header_value(const char *data, size_t n, const char *name, char *v, size_t vsize) {
        size_t l = strlen(name);
        if (vsize == 0 || n <= l || strncasecmp(data, name, l) != 0) return false;
        size_t i = l, j = 0;
        while (i < n && (data[i] == ' ' || data[i] == '\t')) i++;
        while (i < n && j < vsize - 1 && data[i] != '\r' && data[i] != '\n') v[j++] = data[i++];
        while (j > 0 && (v[j - 1] == ' ' || v[j - 1] == '\t')) j--;
        v[j] = 0;
        return true;
}

/* ca_file is read before any connection, so a bad path fails the request up front. */
int http_ca_load(const char *ca_file, char **ret, size_t *ret_len, char *msg, size_t msg_size) {
        int r = read_file_capped(ca_file, CA_FILE_MAX, ret, ret_len);
        if (r < 0)
                snprintf(msg, msg_size, "cannot read CA file '%s': %s", ca_file,
                         r == -EFBIG ? "larger than 1 MiB" : strerror(-r));
        return r;
}

#define TRUST_SETOPT(h, opt, val)                                         \
        do {                                                              \
                if (curl_easy_setopt((h), (opt), (val)) != CURLE_OK) return #opt; \
        } while (0)

const char *http_set_trust(CURL *h, char *blob, size_t len, bool tls) {
        if (blob) {
                struct curl_blob b = {.data = blob, .len = len, .flags = CURL_BLOB_COPY};
                TRUST_SETOPT(h, CURLOPT_CAINFO_BLOB, &b);
                TRUST_SETOPT(h, CURLOPT_CAPATH, SYSTEM_CA_DIR);
        } else if (tls && access(SYSTEM_CA_DIR, R_OK | X_OK) == 0) {
                /* The same system store, looked up by hash instead of parsing the whole
                 * bundle (~60 ms of CPU on the boot path). */
                TRUST_SETOPT(h, CURLOPT_CAINFO, NULL);
                TRUST_SETOPT(h, CURLOPT_CAPATH, SYSTEM_CA_DIR);
        }
        return NULL;
}

bool http_url_is_loopback(const char *url) {
        size_t skip;
        if (!url) return false;
        if (strncasecmp(url, "http://", 7) == 0)
                skip = 7;
        else if (strncasecmp(url, "https://", 8) == 0)
                skip = 8;
        else
                return false;
        const char *host = url + skip;
        size_t n = strcspn(host, "/?#");
        char buf[64];
        if (n == 0 || n >= sizeof buf || memchr(host, '@', n)) return false;
        memcpy(buf, host, n);
        buf[n] = 0;
        char *h = buf, *port = NULL;
        if (h[0] == '[') {
                char *close = strchr(h, ']');
                if (!close) return false;
                *close = 0;
                h++;
                if (close[1] == ':')
                        port = close + 2;
                else if (close[1] != 0)
                        return false;
                struct in6_addr a6;
                if (inet_pton(AF_INET6, h, &a6) != 1 || !IN6_IS_ADDR_LOOPBACK(&a6)) return false;
        } else {
                char *colon = strchr(h, ':');
                if (colon) {
                        *colon = 0;
                        port = colon + 1;
                }
                struct in_addr a4;
                /* inet_pton takes only the strict dotted quad: no "127.1", no octal. */
                if (inet_pton(AF_INET, h, &a4) != 1 || (ntohl(a4.s_addr) >> 24) != 127) return false;
        }
        if (port) {
                size_t len = strlen(port);
                if (len == 0 || len > 5 || strspn(port, "0123456789") != len) return false;
                long v = strtol(port, NULL, 10);
                if (v < 1 || v > 65535) return false;
        }
        return true;
}

static int fail(HttpResponse *ret, HttpError e, int r, const char *text) {
        ret->error = e;
        ret->status = 0;
        snprintf(ret->message, sizeof ret->message, "%s", text);
        return r;
}

static int map_curl_error(CURLcode c, const Sink *sink, const char *errbuf, HttpResponse *ret) {
        const char *text = errbuf[0] ? errbuf : curl_easy_strerror(c);

        switch (c) {
        case CURLE_COULDNT_CONNECT:
        case CURLE_COULDNT_RESOLVE_HOST:
        case CURLE_COULDNT_RESOLVE_PROXY:
                return fail(ret, HTTP_ERR_CONNECT, -ECONNREFUSED, text);
        case CURLE_OPERATION_TIMEDOUT:
                return fail(ret, HTTP_ERR_TIMEOUT, -ETIMEDOUT, text);
        case CURLE_SSL_CONNECT_ERROR:
        case CURLE_PEER_FAILED_VERIFICATION:
        case CURLE_SSL_CACERT_BADFILE:
        case CURLE_SSL_CERTPROBLEM:
        case CURLE_SSL_CIPHER:
        case CURLE_SSL_ENGINE_NOTFOUND:
        case CURLE_SSL_ENGINE_SETFAILED:
        case CURLE_SSL_ENGINE_INITFAILED:
        case CURLE_SSL_SHUTDOWN_FAILED:
        case CURLE_SSL_CRL_BADFILE:
        case CURLE_SSL_ISSUER_ERROR:
        case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
        case CURLE_SSL_INVALIDCERTSTATUS:
        case CURLE_SSL_CLIENTCERT:
        case CURLE_USE_SSL_FAILED:
                return fail(ret, HTTP_ERR_TLS, -EPROTO, text);
        case CURLE_PARTIAL_FILE:
        case CURLE_RECV_ERROR:
        case CURLE_GOT_NOTHING:
        case CURLE_SEND_ERROR:
                return fail(ret, HTTP_ERR_TRUNCATED, -EPIPE, text);
        case CURLE_FILESIZE_EXCEEDED:
                break;
        case CURLE_WRITE_ERROR:
                if (sink->too_large) break;
                if (sink->write_errno == ENOMEM) return fail(ret, HTTP_ERR_OTHER, -ENOMEM, "out of memory");
                if (sink->write_errno) {
                        char m[128];
                        snprintf(m, sizeof m, "cannot write the response body: %s", strerror(sink->write_errno));
                        return fail(ret, HTTP_ERR_WRITE, -EIO, m);
                }
                return fail(ret, HTTP_ERR_WRITE, -EIO, text);
        default:
                return fail(ret, HTTP_ERR_OTHER, -EIO, text);
        }

        char m[128];
        snprintf(m, sizeof m, "response body larger than %zu bytes", sink->max);
        return fail(ret, HTTP_ERR_TOO_LARGE, -EFBIG, m);
}

#define SETOPT(h, opt, val)                                                  \
        do {                                                                 \
                if (curl_easy_setopt((h), (opt), (val)) != CURLE_OK)         \
                        return fail(ret, HTTP_ERR_OTHER, -EINVAL, "cannot set curl option " #opt); \
        } while (0)

int http_perform(const HttpRequest *req, HttpResponse *ret) {
        _cleanup_(curl_easy_cleanupp) CURL *h = NULL;
        _cleanup_(curl_slist_free_allp) struct curl_slist *headers = NULL;
        _cleanup_free_ char *ca_blob = NULL;
        size_t ca_blob_len = 0;
        char errbuf[CURL_ERROR_SIZE] = "";
        Sink sink = {.fd = -1, .retry_after_s = -1};
        bool post;
        int r;

        *ret = (HttpResponse){.retry_after_s = -1};

        if (!req || isempty(req->url) || req->max_body == 0 || req->max_body >= SIZE_MAX / 2)
                return fail(ret, HTTP_ERR_OTHER, -EINVAL, "invalid request");
        if (!req->method || streq(req->method, "GET"))
                post = false;
        else if (streq(req->method, "POST"))
                post = true;
        else
                return fail(ret, HTTP_ERR_OTHER, -EINVAL, "unsupported method");

        if (req->tls_unverified_loopback && !http_url_is_loopback(req->url))
                return fail(ret, HTTP_ERR_OTHER, -EINVAL, "unverified TLS is only for loopback addresses");

        sink.max = req->max_body;
        sink.fd = req->out_fd;

        if (!isempty(req->ca_file)) {
                r = http_ca_load(req->ca_file, &ca_blob, &ca_blob_len, ret->message, sizeof ret->message);
                if (r < 0) {
                        ret->error = HTTP_ERR_OTHER;
                        return r;
                }
        }

        for (const char *const *hd = req->headers; hd && *hd; hd++) {
                struct curl_slist *n = curl_slist_append(headers, *hd);
                if (!n) return fail(ret, HTTP_ERR_OTHER, -ENOMEM, "out of memory");
                headers = n;
        }
        if (post) {
                /* No 100-continue round trip: the body is small and in memory. */
                struct curl_slist *n = curl_slist_append(headers, "Expect:");
                if (!n) return fail(ret, HTTP_ERR_OTHER, -ENOMEM, "out of memory");
                headers = n;
        }

        h = curl_easy_init();
        if (!h) return fail(ret, HTTP_ERR_OTHER, -ENOMEM, "cannot create a curl handle");

        SETOPT(h, CURLOPT_ERRORBUFFER, errbuf);
        SETOPT(h, CURLOPT_NOSIGNAL, 1L);
        SETOPT(h, CURLOPT_URL, req->url);
#if LIBCURL_VERSION_NUM >= 0x075500
        SETOPT(h, CURLOPT_PROTOCOLS_STR, "http,https");
        SETOPT(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#else /* Ubuntu 22.04 has curl 7.81: the bitmask options, deprecated since 7.85 */
        SETOPT(h, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
        SETOPT(h, CURLOPT_REDIR_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
        SETOPT(h, CURLOPT_FOLLOWLOCATION, 0L);
        SETOPT(h, CURLOPT_CONNECTTIMEOUT_MS,
               req->connect_timeout_ms > 0 ? req->connect_timeout_ms : (long)DEFAULT_CONNECT_TIMEOUT_MS);
        SETOPT(h, CURLOPT_TIMEOUT_MS,
               req->total_timeout_ms > 0 ? req->total_timeout_ms : (long)DEFAULT_TOTAL_TIMEOUT_MS);
        /* Off only for a loopback host (checked above): the vSensor's own self-signed
         * health endpoint. */
        SETOPT(h, CURLOPT_SSL_VERIFYPEER, req->tls_unverified_loopback ? 0L : 1L);
        SETOPT(h, CURLOPT_SSL_VERIFYHOST, req->tls_unverified_loopback ? 0L : 2L);
        SETOPT(h, CURLOPT_USERAGENT, "vsensor-init/" VERSION);
        if (req->max_body <= (size_t)INT64_MAX)
                SETOPT(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)req->max_body);
        if (req->no_proxy) {
                SETOPT(h, CURLOPT_PROXY, "");
                SETOPT(h, CURLOPT_NOPROXY, "*");
        }
        const char *opt = http_set_trust(h, ca_blob, ca_blob_len, strncasecmp(req->url, "https://", 8) == 0);
        if (opt) {
                char m[64];
                snprintf(m, sizeof m, "cannot set curl option %s", opt);
                return fail(ret, HTTP_ERR_OTHER, -EINVAL, m);
        }
        if (post) {
                SETOPT(h, CURLOPT_POST, 1L);
                SETOPT(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(req->body ? req->body_len : 0));
                SETOPT(h, CURLOPT_POSTFIELDS, req->body ? req->body : "");
        } else
                SETOPT(h, CURLOPT_HTTPGET, 1L);
        if (headers) SETOPT(h, CURLOPT_HTTPHEADER, headers);
        SETOPT(h, CURLOPT_WRITEFUNCTION, sink_write);
        SETOPT(h, CURLOPT_WRITEDATA, &sink);
        SETOPT(h, CURLOPT_HEADERFUNCTION, sink_header);
        SETOPT(h, CURLOPT_HEADERDATA, &sink);

        CURLcode c = curl_easy_perform(h);
        ret->body_len = sink.len;
        if (c != CURLE_OK) {
                free(sink.buf);
                return map_curl_error(c, &sink, errbuf, ret);
        }

        long status = 0;
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
        if (sink.fd < 0 && !sink.buf) {
                sink.buf = strdup("");
                if (!sink.buf) return fail(ret, HTTP_ERR_OTHER, -ENOMEM, "out of memory");
        }
        ret->error = HTTP_OK;
        ret->status = status;
        ret->body = sink.buf;
        ret->retry_after_s = sink.retry_after_s;
        return 0;
}
