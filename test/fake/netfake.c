/* netfake: broken networks on 127.0.0.1 (see netfake.h). One accept thread per fake;
 * the proxy serves each connection on a thread of its own. A pipe wakes every thread
 * when the fake stops, so nothing outlives netfake_stop. */
#include "netfake.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>

#include "util.h"

#define MAX_CONNS 64
#define HEAD_MAX 8192

typedef struct Conn {
        NetFake *fake;
        int fd;
        pthread_t thread;
        bool started;
} Conn;

struct NetFake {
        NetFakeKind kind;
        int refuse_status;
        int listen_fd, filler_fd;
        int stop_pipe[2];
        unsigned port;
        pthread_t accept_thread;
        bool accept_started;
        pthread_mutex_t lock;
        Conn conns[MAX_CONNS];
        size_t n_conns;
        char *heads;
};

static int listen_loopback(int backlog, unsigned *ret_port) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) return -errno;
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t len = sizeof sa;
        if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(fd, backlog) < 0 ||
            getsockname(fd, (struct sockaddr *)&sa, &len) < 0) {
                int r = -errno;
                close(fd);
                return r;
        }
        *ret_port = ntohs(sa.sin_port);
        return fd;
}

unsigned netfake_refused_port(void) {
        unsigned port = 0;
        int fd = listen_loopback(1, &port);
        if (fd < 0) return 0;
        close(fd);
        return port;
}

/* Waits until fd is readable; false when the fake is stopping (or on error). */
static bool wait_readable(NetFake *f, int fd) {
        struct pollfd p[2] = {{.fd = fd, .events = POLLIN}, {.fd = f->stop_pipe[0], .events = POLLIN}};
        for (;;) {
                int n = poll(p, 2, -1);
                if (n < 0 && errno == EINTR) continue;
                if (n < 0 || p[1].revents) return false;
                return true;
        }
}

static int connect_loopback(unsigned port) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) return -errno;
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                                 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
                int r = -errno;
                close(fd);
                return r;
        }
        return fd;
}

static void relay(NetFake *f, int a, int b) {
        char buf[16384];
        struct pollfd p[3] = {{.fd = a, .events = POLLIN}, {.fd = b, .events = POLLIN},
                              {.fd = f->stop_pipe[0], .events = POLLIN}};
        for (;;) {
                int n = poll(p, 3, -1);
                if (n < 0 && errno == EINTR) continue;
                if (n < 0 || p[2].revents) return;
                for (int i = 0; i < 2; i++) {
                        if (!p[i].revents) continue;
                        ssize_t k = read(p[i].fd, buf, sizeof buf);
                        if (k <= 0 || write_all(p[1 - i].fd, buf, (size_t)k) < 0) return;
                }
        }
}

static void serve_proxy(NetFake *f, int fd) {
        char head[HEAD_MAX + 1];
        size_t len = 0;
        while (len < HEAD_MAX) {
                if (!wait_readable(f, fd)) return;
                ssize_t k = read(fd, head + len, HEAD_MAX - len);
                if (k <= 0) return;
                len += (size_t)k;
                head[len] = 0;
                if (strstr(head, "\r\n\r\n")) break;
        }
        head[len] = 0;
        pthread_mutex_lock(&f->lock);
        char *n = strjoin(f->heads ? f->heads : "", head, NULL);
        if (n) {
                free(f->heads);
                f->heads = n;
        }
        pthread_mutex_unlock(&f->lock);

        char reply[128];
        unsigned port = 0;
        char host[64] = "";
        bool loopback = sscanf(head, "CONNECT %63[^:]:%u HTTP/1.", host, &port) == 2 &&
                        (streq(host, "127.0.0.1") || streq(host, "localhost") ||
                         (strlen(host) > 10 && streq(host + strlen(host) - 10, ".localhost"))) &&
                        port > 0 && port < 65536;
        int status = f->refuse_status > 0 ? f->refuse_status : loopback ? 200 : 403;
        int up = -1;
        if (status == 200) {
                up = connect_loopback(port);
                if (up < 0) status = 502;
        }
        snprintf(reply, sizeof reply, "HTTP/1.1 %d %s\r\nContent-Length: 0\r\n\r\n", status,
                 status == 200 ? "Connection established" : "Refused by the fake proxy");
        if (status == 200) snprintf(reply, sizeof reply, "HTTP/1.1 200 Connection established\r\n\r\n");
        if (write_all(fd, reply, strlen(reply)) >= 0 && up >= 0) relay(f, fd, up);
        if (up >= 0) close(up);
}

static void *conn_main(void *arg) {
        Conn *c = arg;
        serve_proxy(c->fake, c->fd);
        return NULL;
}

static void *accept_main(void *arg) {
        NetFake *f = arg;
        for (;;) {
                if (!wait_readable(f, f->listen_fd)) return NULL;
                int fd = accept4(f->listen_fd, NULL, NULL, SOCK_CLOEXEC);
                if (fd < 0) continue;
                pthread_mutex_lock(&f->lock);
                if (f->n_conns == MAX_CONNS) {
                        pthread_mutex_unlock(&f->lock);
                        close(fd);
                        continue;
                }
                Conn *c = &f->conns[f->n_conns++];
                *c = (Conn){.fake = f, .fd = fd};
                /* A silent listener just keeps the connection open. */
                if (f->kind == NETFAKE_PROXY) c->started = pthread_create(&c->thread, NULL, conn_main, c) == 0;
                pthread_mutex_unlock(&f->lock);
        }
}

NetFake *netfake_start(NetFakeKind kind, int refuse_status) {
        NetFake *f = calloc(1, sizeof *f);
        if (!f) return NULL;
        f->kind = kind;
        f->refuse_status = refuse_status;
        f->filler_fd = f->listen_fd = -1;
        f->stop_pipe[0] = f->stop_pipe[1] = -1;
        pthread_mutex_init(&f->lock, NULL);
        if (pipe2(f->stop_pipe, O_CLOEXEC) < 0) goto fail;
        /* Backlog 0 holds one connection: the filler's. Linux drops the SYNs after it. */
        f->listen_fd = listen_loopback(kind == NETFAKE_BLACKHOLE ? 0 : 16, &f->port);
        if (f->listen_fd < 0) goto fail;
        if (kind == NETFAKE_BLACKHOLE) {
                f->filler_fd = connect_loopback(f->port);
                if (f->filler_fd < 0) goto fail;
                return f;
        }
        if (pthread_create(&f->accept_thread, NULL, accept_main, f) != 0) goto fail;
        f->accept_started = true;
        return f;
fail:
        netfake_stop(f);
        return NULL;
}

unsigned netfake_port(const NetFake *f) { return f->port; }

char *netfake_proxy_heads(NetFake *f) {
        pthread_mutex_lock(&f->lock);
        char *s = strdup(f->heads ? f->heads : "");
        pthread_mutex_unlock(&f->lock);
        return s;
}

void netfake_stop(NetFake *f) {
        if (!f) return;
        if (f->stop_pipe[1] >= 0) {
                char b = 1;
                (void)!write(f->stop_pipe[1], &b, 1);
        }
        if (f->accept_started) pthread_join(f->accept_thread, NULL);
        for (size_t i = 0; i < f->n_conns; i++) {
                if (f->conns[i].started) pthread_join(f->conns[i].thread, NULL);
                close(f->conns[i].fd);
        }
        if (f->filler_fd >= 0) close(f->filler_fd);
        if (f->listen_fd >= 0) close(f->listen_fd);
        for (int i = 0; i < 2; i++)
                if (f->stop_pipe[i] >= 0) close(f->stop_pipe[i]);
        pthread_mutex_destroy(&f->lock);
        free(f->heads);
        free(f);
}
