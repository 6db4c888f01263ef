/* netfake: broken networks on 127.0.0.1 for the preflight checks and diagnosed failures —
 * a listener that accepts and never answers, one whose SYNs are dropped (connect times
 * out), a refused port, and an HTTP proxy that refuses CONNECT or tunnels it. */
#pragma once

#include <stdbool.h>

typedef struct NetFake NetFake;

typedef enum NetFakeKind {
        NETFAKE_SILENT,      /* accepts every connection, never sends a byte */
        NETFAKE_BLACKHOLE,   /* accept queue kept full: new connects time out (SYN dropped) */
        NETFAKE_PROXY,       /* HTTP proxy: CONNECT answered with refuse_status, or tunnelled */
} NetFakeKind;

/* Starts a fake on 127.0.0.1, a free port. NETFAKE_PROXY: refuse_status > 0 answers
 * every CONNECT with that status; 0 tunnels CONNECT to 127.0.0.1, localhost and *.localhost targets
 * only (others get 403). NULL on failure. */
NetFake *netfake_start(NetFakeKind kind, int refuse_status);
unsigned netfake_port(const NetFake *f);
/* Every request head the proxy received ("CONNECT host:port HTTP/1.1\r\n..."), a new
 * string ("" when none). */
char *netfake_proxy_heads(NetFake *f);
/* Closes everything and joins; accepts NULL. */
void netfake_stop(NetFake *f);

/* A port on 127.0.0.1 with nothing listening (bound, then closed): connects are refused. */
unsigned netfake_refused_port(void);
