/* probe: one bounded reachability check of a network endpoint — DNS through the
 * system resolver, TCP connect, TLS handshake with verification, or an HTTP GET that
 * stops after the headers — with the failure classified into a cause an operator can
 * act on ("connect timed out: NSG outbound rule, NAT gateway or route table?").
 *
 * It is built on libcurl's connect-only mode rather than on plain sockets plus OpenSSL:
 * the probe then uses the very TLS stack, trust store (system CA directory plus
 * ca_file), proxy CONNECT code and threaded getaddrinfo resolver that the real
 * transfers in lib/http use, so a check that passes means the transfer can connect,
 * and a certificate the agent would refuse is refused here for the same reason. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

typedef enum ProbeKind {
        PROBE_TCP,    /* DNS and TCP connect (through the proxy's CONNECT when one is set) */
        PROBE_TLS,    /* ... and the TLS handshake, peer and host verified */
        PROBE_HTTP,   /* GET url, stop once the status line and headers arrived */
        _PROBE_KIND_MAX,
} ProbeKind;

typedef enum ProbeCause {
        PROBE_OK,
        PROBE_DNS,               /* the name does not resolve */
        PROBE_DNS_TIMEOUT,       /* no answer from the resolver in time */
        PROBE_REFUSED,           /* TCP RST: nothing listening, or a firewall rejecting */
        PROBE_UNREACHABLE,       /* no route to the network or host */
        PROBE_CONNECT_TIMEOUT,   /* no TCP connection in time: packets dropped */
        PROBE_NO_ANSWER,         /* connected, then silence (TLS handshake or HTTP answer) */
        PROBE_TLS_EXPIRED,
        PROBE_TLS_NOT_YET_VALID,
        PROBE_TLS_UNTRUSTED,     /* no path to a trusted CA (self-signed, intercepting proxy) */
        PROBE_TLS_WRONG_HOST,    /* the certificate names other hosts */
        PROBE_TLS_OTHER,         /* the handshake failed otherwise */
        PROBE_PROXY_DNS,         /* the proxy's name does not resolve */
        PROBE_PROXY_UNREACHABLE, /* no TCP connection to the proxy */
        PROBE_PROXY_REFUSED,     /* the proxy answered CONNECT with an error status */
        PROBE_HTTP_STATUS,       /* an HTTP answer whose status is not 2xx or 3xx */
        PROBE_OTHER,
        _PROBE_CAUSE_MAX,
} ProbeCause;

typedef struct ProbeRequest {
        ProbeKind kind;
        const char *host;            /* PROBE_TCP/TLS: name, IPv4 or IPv6 literal (no brackets) */
        unsigned port;               /* PROBE_TCP/TLS: 1..65535 */
        const char *url;             /* PROBE_HTTP: http(s) URL */
        const char *const *headers;  /* PROBE_HTTP: "Name: value", NULL-terminated; may be NULL */
        /* "http://[user:pw@]host:port" to tunnel through with CONNECT (its credentials go
         * to the proxy only); NULL: libcurl's default (the environment), as lib/http. */
        const char *proxy;
        bool no_proxy;               /* never through a proxy (IMDS, wireserver) */
        const char *ca_file;         /* extra trust anchor (PEM), NULL or "" for none */
        long timeout_ms;             /* the whole probe, DNS included; required (> 0) */
} ProbeRequest;

typedef struct ProbeResult {
        ProbeCause cause;
        long status;                 /* HTTP status (PROBE_HTTP), or the proxy's CONNECT answer */
        int os_errno;                /* errno of a failed connect, 0 when none */
        long tls_verify;             /* OpenSSL's verify result, 0 when none */
        time_t date;                 /* the answer's Date header (PROBE_HTTP), -1 when none */
        int64_t ms;                  /* how long it took */
        char message[256];           /* libcurl's text for a failure, never headers */
} ProbeResult;

/* Runs the probe. Returns 0 when it ran (ret->cause says how it went; PROBE_OK is a
 * pass), -EINVAL for an unusable request (bad host, port or URL; ret->message says
 * which), -ENOMEM. ret is always initialised. */
int probe_run(const ProbeRequest *req, ProbeResult *ret);

/* Splits an http(s) URL: host (IPv6 without brackets, new string), port (the scheme's
 * default when absent), whether it is https. -EINVAL when it is not such a URL. */
int probe_parse_url(const char *url, char **ret_host, unsigned *ret_port, bool *ret_https);

/* Whether host is a plain DNS name, IPv4 or IPv6 literal (what may go into a URL). */
bool probe_host_valid(const char *host);

/* "connect timed out", "certificate not yet valid"... */
const char *probe_cause_to_string(ProbeCause c);
/* The usual culprit, as a question: "NSG outbound rule, NAT gateway or route table?" */
const char *probe_cause_culprit(ProbeCause c);
/* "CAUSE: CULPRIT" with the status where it matters ("proxy refused CONNECT (HTTP 403):
 * ..."); "ok" for PROBE_OK. Returns buf. */
char *probe_describe(const ProbeResult *r, char *buf, size_t size);
