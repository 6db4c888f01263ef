/* probe: a bounded connect / handshake / first-answer check on libcurl (see probe.h
 * for why libcurl and not plain sockets). */
#include "probe.h"

#include <curl/curl.h>
#include <errno.h>
#include <strings.h>
#include <sys/socket.h>

#include "http-private.h"
#include "util.h"

#define HOST_MAX 253

/* OpenSSL's X509_V_ERR_* values (stable ABI, x509_vfy.h): the library is libcurl's
 * business, so its header is not included here. */
#define X509_UNABLE_TO_GET_ISSUER_CERT 2
#define X509_CERT_NOT_YET_VALID 9
#define X509_CERT_HAS_EXPIRED 10
#define X509_DEPTH_ZERO_SELF_SIGNED 18
#define X509_SELF_SIGNED_IN_CHAIN 19
#define X509_UNABLE_TO_GET_ISSUER_LOCALLY 20
#define X509_UNABLE_TO_VERIFY_LEAF 21
#define X509_CERT_UNTRUSTED 27
#define X509_HOSTNAME_MISMATCH 62
#define X509_IP_ADDRESS_MISMATCH 64

DEFINE_TRIVIAL_CLEANUP_FUNC(CURL *, curl_easy_cleanup)
DEFINE_TRIVIAL_CLEANUP_FUNC(struct curl_slist *, curl_slist_free_all)

static const struct {
        const char *cause, *culprit;
} cause_table[_PROBE_CAUSE_MAX] = {
        [PROBE_OK] = {"ok", ""},
        [PROBE_DNS] = {"name does not resolve", "DNS?"},
        [PROBE_DNS_TIMEOUT] = {"name lookup timed out", "DNS server unreachable (NSG rule, custom DNS)?"},
        [PROBE_REFUSED] = {"connection refused", "nothing listening on that port, or a firewall rejecting?"},
        [PROBE_UNREACHABLE] = {"network unreachable", "route table or missing network configuration?"},
        [PROBE_CONNECT_TIMEOUT] = {"connect timed out", "NSG outbound rule, NAT gateway or route table?"},
        [PROBE_NO_ANSWER] = {"connected, then no answer", "firewall or TLS inspection in the path, or the wrong port?"},
        [PROBE_TLS_EXPIRED] = {"certificate expired", "clock, or an outdated certificate on the server?"},
        [PROBE_TLS_NOT_YET_VALID] = {"certificate not yet valid", "clock?"},
        [PROBE_TLS_UNTRUSTED] = {"certificate not trusted", "TLS-inspecting firewall or proxy (add its CA as ca_file)?"},
        [PROBE_TLS_WRONG_HOST] = {"certificate for another host", "DNS answer, Private Link record or an intercepting firewall?"},
        [PROBE_TLS_OTHER] = {"TLS handshake failed", "TLS-inspecting firewall, or not a TLS service?"},
        [PROBE_PROXY_DNS] = {"proxy name does not resolve", "DNS, or the proxy setting?"},
        [PROBE_PROXY_UNREACHABLE] = {"cannot connect to the proxy", "proxy down, or the NSG rule to it?"},
        [PROBE_PROXY_REFUSED] = {"proxy refused CONNECT", "the proxy's allow-list or credentials?"},
        [PROBE_HTTP_STATUS] = {"unexpected HTTP status", "access rules of the endpoint, or a firewall's block page?"},
        [PROBE_OTHER] = {"failed", "is the endpoint what the configuration says?"},
};

const char *probe_cause_to_string(ProbeCause c) {
        return (int)c >= 0 && c < _PROBE_CAUSE_MAX ? cause_table[c].cause : NULL;
}

const char *probe_cause_culprit(ProbeCause c) {
        return (int)c >= 0 && c < _PROBE_CAUSE_MAX ? cause_table[c].culprit : NULL;
}

char *probe_describe(const ProbeResult *r, char *buf, size_t size) {
        if (size == 0) return buf;
        const char *cause = probe_cause_to_string(r->cause);
        if (!cause) cause = "failed";
        switch (r->cause) {
        case PROBE_OK:
                if (r->status > 0)
                        snprintf(buf, size, "ok (HTTP %ld)", r->status);
                else
                        snprintf(buf, size, "ok");
                break;
        case PROBE_PROXY_REFUSED:
                snprintf(buf, size, "%s (HTTP %ld): %s", cause, r->status,
                         r->status == 407 ? "proxy user and password?" : probe_cause_culprit(r->cause));
                break;
        case PROBE_HTTP_STATUS:
                snprintf(buf, size, "HTTP %ld: %s", r->status, probe_cause_culprit(r->cause));
                break;
        case PROBE_TLS_OTHER:
        case PROBE_OTHER:
                snprintf(buf, size, "%s: %s (%s)", cause, probe_cause_culprit(r->cause),
                         r->message[0] ? r->message : "no detail");
                break;
        default:
                snprintf(buf, size, "%s: %s", cause, probe_cause_culprit(r->cause));
        }
        return buf;
}

static bool is_ip_literal(const char *host) {
        return strspn(host, "0123456789.") == strlen(host) || strchr(host, ':');
}

bool probe_host_valid(const char *host) {
        if (isempty(host) || strlen(host) > HOST_MAX) return false;
        if (strchr(host, ':'))
                /* IPv6, possibly with a dotted IPv4 tail. */
                return strspn(host, "0123456789abcdefABCDEF:.") == strlen(host);
        if (host[0] == '-' || host[0] == '.') return false;
        return strspn(host, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-") == strlen(host);
}

int probe_parse_url(const char *url, char **ret_host, unsigned *ret_port, bool *ret_https) {
        if (isempty(url)) return -EINVAL;
        bool https = strncasecmp(url, "https://", 8) == 0;
        if (!https && strncasecmp(url, "http://", 7) != 0) return -EINVAL;
        CURLU *u = curl_url();
        if (!u) return -ENOMEM;
        char *host = NULL, *port = NULL;
        int r = -EINVAL;
        if (curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
            curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
            curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) == CURLUE_OK) {
                size_t n = strlen(host);
                char *h = n >= 2 && host[0] == '[' && host[n - 1] == ']' ? strndup(host + 1, n - 2) : strdup(host);
                char *end = NULL;
                unsigned long p = strtoul(port, &end, 10);
                if (!h)
                        r = -ENOMEM;
                else if (!end || *end || p == 0 || p > 65535 || !probe_host_valid(h))
                        free(h);
                else {
                        *ret_host = h;
                        *ret_port = (unsigned)p;
                        if (ret_https) *ret_https = https;
                        r = 0;
                }
        }
        curl_free(host);
        curl_free(port);
        curl_url_cleanup(u);
        return r;
}

typedef struct Answer {
        time_t date;
        bool headers_done;   /* the body began: stop there */
        unsigned opened;     /* sockets libcurl opened: none means the name never resolved */
        bool connected;      /* one of them had a TCP peer when it was closed */
} Answer;

/* libcurl reports no connect time when the TLS handshake after it timed out: ask the
 * socket itself, when libcurl closes it, whether TCP got as far as a peer. */
static curl_socket_t answer_open(void *userdata, curlsocktype purpose, struct curl_sockaddr *a) {
        Answer *an = userdata;
        int fd = socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
        if (fd >= 0) an->opened++;
        return fd >= 0 ? fd : CURL_SOCKET_BAD;
}

static int answer_close(void *userdata, curl_socket_t fd) {
        Answer *an = userdata;
        struct sockaddr_storage ss;
        socklen_t len = sizeof ss;
        if (getpeername(fd, (struct sockaddr *)&ss, &len) == 0) an->connected = true;
        return close(fd);
}

static size_t answer_header(char *data, size_t size, size_t nmemb, void *userdata) {
        Answer *a = userdata;
        size_t n = size * nmemb;
        char v[128];
        if (http_header_is_status_line(data, n)) {
                a->date = -1;   /* a new response (proxy CONNECT, 100): its own headers count */
                return n;
        }
        if (!http_header_value(data, n, "date:", v, sizeof v)) return n;
        time_t t = curl_getdate(v, NULL);
        a->date = t >= 0 ? t : -1;
        return n;
}

static size_t answer_body(char *data, size_t size, size_t nmemb, void *userdata) {
        Answer *a = userdata;
        a->headers_done = true;
        return 0;   /* the headers are all a probe needs: end the transfer */
}

static int fail(ProbeResult *ret, int r, const char *text) {
        ret->cause = PROBE_OTHER;
        snprintf(ret->message, sizeof ret->message, "%s", text);
        return r;
}

static ProbeCause tls_cause(long verify, const char *text) {
        /* The chain verified, then libcurl's own host name check refused it. */
        if (strstr(text, "subject name") || strstr(text, "does not match")) return PROBE_TLS_WRONG_HOST;
        switch (verify) {
        case X509_CERT_HAS_EXPIRED:
                return PROBE_TLS_EXPIRED;
        case X509_CERT_NOT_YET_VALID:
                return PROBE_TLS_NOT_YET_VALID;
        case X509_HOSTNAME_MISMATCH:
        case X509_IP_ADDRESS_MISMATCH:
                return PROBE_TLS_WRONG_HOST;
        case X509_UNABLE_TO_GET_ISSUER_CERT:
        case X509_DEPTH_ZERO_SELF_SIGNED:
        case X509_SELF_SIGNED_IN_CHAIN:
        case X509_UNABLE_TO_GET_ISSUER_LOCALLY:
        case X509_UNABLE_TO_VERIFY_LEAF:
        case X509_CERT_UNTRUSTED:
                return PROBE_TLS_UNTRUSTED;
        default:
                return PROBE_TLS_OTHER;
        }
}

typedef struct Info {
        long connectcode, oserr, verify, status;
} Info;

static void classify(const Info *info, CURLcode c, const ProbeRequest *req, bool via_proxy, const Answer *a,
                     const char *errbuf, ProbeResult *ret) {
        long connectcode = info->connectcode, oserr = info->oserr, verify = info->verify, status = info->status;
        const char *text = errbuf[0] ? errbuf : curl_easy_strerror(c);

        ret->os_errno = (int)oserr;
        ret->tls_verify = verify;
        if (c == CURLE_OK || (c == CURLE_WRITE_ERROR && a->headers_done)) {
                if (req->kind != PROBE_HTTP) {
                        ret->cause = PROBE_OK;
                        return;
                }
                ret->status = status;
                ret->cause = status >= 200 && status <= 399 ? PROBE_OK : PROBE_HTTP_STATUS;
                return;
        }
        snprintf(ret->message, sizeof ret->message, "%s", text);
        if (via_proxy && connectcode >= 300) {
                ret->status = connectcode;
                ret->cause = PROBE_PROXY_REFUSED;
                return;
        }
        const char *host = req->kind == PROBE_HTTP ? NULL : req->host;
        switch (c) {
        case CURLE_COULDNT_RESOLVE_PROXY:
                ret->cause = PROBE_PROXY_DNS;
                return;
        case CURLE_COULDNT_RESOLVE_HOST:
                ret->cause = PROBE_DNS;
                return;
        case CURLE_COULDNT_CONNECT:
                if (via_proxy)
                        ret->cause = PROBE_PROXY_UNREACHABLE;
                else if (oserr == ENETUNREACH || oserr == EHOSTUNREACH)
                        ret->cause = PROBE_UNREACHABLE;
                else if (oserr == ETIMEDOUT)
                        ret->cause = PROBE_CONNECT_TIMEOUT;
                else
                        ret->cause = PROBE_REFUSED;
                return;
        case CURLE_OPERATION_TIMEDOUT:
                if (a->opened == 0 && !via_proxy && (!host || !is_ip_literal(host)))
                        ret->cause = PROBE_DNS_TIMEOUT;
                else if (!a->connected)
                        ret->cause = via_proxy ? PROBE_PROXY_UNREACHABLE : PROBE_CONNECT_TIMEOUT;
                else
                        ret->cause = PROBE_NO_ANSWER;
                return;
        case CURLE_PEER_FAILED_VERIFICATION:
                ret->cause = tls_cause(verify, text);
                return;
        case CURLE_SSL_CONNECT_ERROR:
        case CURLE_SSL_CIPHER:
        case CURLE_SSL_ISSUER_ERROR:
        case CURLE_SSL_INVALIDCERTSTATUS:
        case CURLE_USE_SSL_FAILED:
                ret->cause = verify != 0 ? tls_cause(verify, text) : PROBE_TLS_OTHER;
                return;
        default:
                ret->cause = PROBE_OTHER;
        }
}

#define SETOPT(h, opt, val)                                                          \
        do {                                                                         \
                if (curl_easy_setopt((h), (opt), (val)) != CURLE_OK)                 \
                        return fail(ret, -EINVAL, "cannot set curl option " #opt);   \
        } while (0)

int probe_run(const ProbeRequest *req, ProbeResult *ret) {
        _cleanup_(curl_easy_cleanupp) CURL *h = NULL;
        _cleanup_(curl_slist_free_allp) struct curl_slist *headers = NULL;
        _cleanup_free_ char *url = NULL, *ca_blob = NULL;
        size_t ca_blob_len = 0;
        char errbuf[CURL_ERROR_SIZE] = "";
        Answer answer = {.date = -1};
        int r;

        *ret = (ProbeResult){.date = -1};
        if (!req || req->timeout_ms <= 0 || (int)req->kind < 0 || req->kind >= _PROBE_KIND_MAX)
                return fail(ret, -EINVAL, "invalid probe");
        if (req->kind == PROBE_HTTP) {
                if (isempty(req->url) || (strncasecmp(req->url, "http://", 7) != 0 && strncasecmp(req->url, "https://", 8) != 0))
                        return fail(ret, -EINVAL, "not an http(s) URL");
                url = strdup(req->url);
        } else {
                if (!probe_host_valid(req->host)) return fail(ret, -EINVAL, "not a host name or address");
                if (req->port == 0 || req->port > 65535) return fail(ret, -EINVAL, "port out of range");
                bool v6 = strchr(req->host, ':') != NULL;
                r = asprintf_safe(&url, "%s://%s%s%s:%u/", req->kind == PROBE_TLS ? "https" : "http", v6 ? "[" : "",
                                  req->host, v6 ? "]" : "", req->port);
                if (r < 0) url = NULL;
        }
        if (!url) return fail(ret, -ENOMEM, "out of memory");

        if (!isempty(req->ca_file)) {
                r = http_ca_load(req->ca_file, &ca_blob, &ca_blob_len, ret->message, sizeof ret->message);
                if (r < 0) {
                        ret->cause = PROBE_OTHER;
                        return -EINVAL;
                }
        }
        for (const char *const *hd = req->headers; req->kind == PROBE_HTTP && hd && *hd; hd++) {
                struct curl_slist *n = curl_slist_append(headers, *hd);
                if (!n) return fail(ret, -ENOMEM, "out of memory");
                headers = n;
        }

        h = curl_easy_init();
        if (!h) return fail(ret, -ENOMEM, "cannot create a curl handle");
        bool via_proxy = !req->no_proxy && !isempty(req->proxy);

        SETOPT(h, CURLOPT_ERRORBUFFER, errbuf);
        SETOPT(h, CURLOPT_NOSIGNAL, 1L);
        SETOPT(h, CURLOPT_URL, url);
#if LIBCURL_VERSION_NUM >= 0x075500
        SETOPT(h, CURLOPT_PROTOCOLS_STR, "http,https");
#else
        SETOPT(h, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
        SETOPT(h, CURLOPT_FOLLOWLOCATION, 0L);
        SETOPT(h, CURLOPT_CONNECTTIMEOUT_MS, req->timeout_ms);
        SETOPT(h, CURLOPT_TIMEOUT_MS, req->timeout_ms);
        SETOPT(h, CURLOPT_SSL_VERIFYPEER, 1L);
        SETOPT(h, CURLOPT_SSL_VERIFYHOST, 2L);
        SETOPT(h, CURLOPT_USERAGENT, "vsensor-init/" VERSION " (preflight)");
        /* A probe measures a fresh path every time. */
        SETOPT(h, CURLOPT_FRESH_CONNECT, 1L);
        SETOPT(h, CURLOPT_FORBID_REUSE, 1L);
        SETOPT(h, CURLOPT_OPENSOCKETFUNCTION, answer_open);
        SETOPT(h, CURLOPT_OPENSOCKETDATA, &answer);
        SETOPT(h, CURLOPT_CLOSESOCKETFUNCTION, answer_close);
        SETOPT(h, CURLOPT_CLOSESOCKETDATA, &answer);
        if (req->no_proxy) {
                SETOPT(h, CURLOPT_PROXY, "");
                SETOPT(h, CURLOPT_NOPROXY, "*");
        } else if (via_proxy) {
                SETOPT(h, CURLOPT_PROXY, req->proxy);
                SETOPT(h, CURLOPT_PROXYTYPE, (long)CURLPROXY_HTTP);
        }
        if (req->kind != PROBE_HTTP) {
                /* Connect (and handshake) only: no request reaches the endpoint. Through a
                 * proxy that means a CONNECT tunnel, even for a plain TCP check. */
                SETOPT(h, CURLOPT_CONNECT_ONLY, 1L);
                SETOPT(h, CURLOPT_HTTPPROXYTUNNEL, 1L);
        } else {
                SETOPT(h, CURLOPT_HTTPGET, 1L);
                if (headers) SETOPT(h, CURLOPT_HTTPHEADER, headers);
                SETOPT(h, CURLOPT_HEADERFUNCTION, answer_header);
                SETOPT(h, CURLOPT_HEADERDATA, &answer);
                SETOPT(h, CURLOPT_WRITEFUNCTION, answer_body);
                SETOPT(h, CURLOPT_WRITEDATA, &answer);
        }
        bool tls = req->kind == PROBE_TLS || strncasecmp(url, "https://", 8) == 0;
        /* The same trust as lib/http. */
        const char *opt = http_set_trust(h, ca_blob, ca_blob_len, tls);
        if (opt) {
                char m[64];
                snprintf(m, sizeof m, "cannot set curl option %s", opt);
                return fail(ret, -EINVAL, m);
        }

        int64_t start = now_monotonic_ms();
        CURLcode c = curl_easy_perform(h);
        ret->ms = now_monotonic_ms() - start;
        Info info = {0};
        curl_easy_getinfo(h, CURLINFO_HTTP_CONNECTCODE, &info.connectcode);
        curl_easy_getinfo(h, CURLINFO_OS_ERRNO, &info.oserr);
        curl_easy_getinfo(h, CURLINFO_SSL_VERIFYRESULT, &info.verify);
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &info.status);
        /* Closes the sockets (the close callback learns whether TCP connected), and
         * does so while answer is still in scope. */
        h = (curl_easy_cleanup(h), NULL);
        classify(&info, c, req, via_proxy, &answer, errbuf, ret);
        ret->date = answer.date;
        return 0;
}
