/* fake-azure: the fake Azure server as a process, for the demo and VM tests.
 *   fake-azure --scenario FILE [--cert PEM --key PEM] [--record FILE] [--port-file FILE]
 *              [--broken-ports FILE]
 * Writes "HTTP_PORT HTTPS_PORT\n" to the port file once listening (HTTPS_PORT is 0
 * without a certificate) and serves until SIGTERM or SIGINT. --broken-ports also
 * starts netfake's broken networks and writes "BLACKHOLE SILENT PROXY_403 REFUSED\n"
 * (connects time out; accepts and never answers; refuses CONNECT; nothing listens). */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <sys/prctl.h>

#include "fake-server.h"
#include "netfake.h"
#include "util.h"

static void usage(FILE *f) {
        fputs("usage: fake-azure --scenario FILE [--cert PEM --key PEM] [--record FILE] [--port-file FILE]\n"
              "                  [--broken-ports FILE]\n", f);
}

int main(int argc, char **argv) {
        static const struct option opts[] = {
                {"scenario", required_argument, NULL, 's'},
                {"cert", required_argument, NULL, 'c'},
                {"key", required_argument, NULL, 'k'},
                {"record", required_argument, NULL, 'r'},
                {"port-file", required_argument, NULL, 'p'},
                {"broken-ports", required_argument, NULL, 'b'},
                {"help", no_argument, NULL, 'h'},
                {0},
        };
        const char *scenario = NULL, *port_file = NULL, *broken_file = NULL;
        NetFake *broken[3] = {NULL, NULL, NULL};
        FakeServerOptions o = {0};
        int c, r;

        while ((c = getopt_long(argc, argv, "h", opts, NULL)) >= 0) {
                switch (c) {
                case 's': scenario = optarg; break;
                case 'c': o.cert_file = optarg; break;
                case 'k': o.key_file = optarg; break;
                case 'r': o.record_file = optarg; break;
                case 'p': port_file = optarg; break;
                case 'b': broken_file = optarg; break;
                case 'h': usage(stdout); return 0;
                default: usage(stderr); return 64;
                }
        }
        if (optind < argc || !scenario || !o.cert_file != !o.key_file) {
                usage(stderr);
                return 64;
        }

        /* Dies with whoever started it (a test), so no server outlives its test. */
        prctl(PR_SET_PDEATHSIG, SIGTERM);

        /* Blocked before the server threads exist so only sigwait() sees them. */
        sigset_t mask;
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        pthread_sigmask(SIG_BLOCK, &mask, NULL);

        FakeServer *s = fake_server_start(&o);
        if (!s) {
                fprintf(stderr, "fake-azure: cannot start the server (ports, certificate or record file)\n");
                return 69;
        }
        r = fake_server_load_scenario(s, scenario);
        if (r < 0) {
                fprintf(stderr, "fake-azure: cannot load scenario '%s': %s\n", scenario, strerror(-r));
                fake_server_stop(s);
                return 65;
        }
        /* Before the port file: whoever waits for that one finds this one too. */
        if (broken_file) {
                broken[0] = netfake_start(NETFAKE_BLACKHOLE, 0);
                broken[1] = netfake_start(NETFAKE_SILENT, 0);
                broken[2] = netfake_start(NETFAKE_PROXY, 403);
                char line[64];
                int n = broken[0] && broken[1] && broken[2]
                                ? snprintf(line, sizeof line, "%u %u %u %u\n", netfake_port(broken[0]),
                                           netfake_port(broken[1]), netfake_port(broken[2]), netfake_refused_port())
                                : -1;
                r = n > 0 ? write_file_atomic(broken_file, line, (size_t)n, 0644) : -EADDRNOTAVAIL;
                if (r < 0) {
                        fprintf(stderr, "fake-azure: cannot start the broken ports or write '%s': %s\n", broken_file,
                                strerror(-r));
                        for (size_t i = 0; i < 3; i++) netfake_stop(broken[i]);
                        fake_server_stop(s);
                        return 73;
                }
        }

        if (port_file) {
                char line[32];
                int n = snprintf(line, sizeof line, "%u %u\n", fake_server_port(s, false),
                                 o.cert_file ? fake_server_port(s, true) : 0u);
                r = write_file_atomic(port_file, line, (size_t)n, 0644);
                if (r < 0) {
                        fprintf(stderr, "fake-azure: cannot write '%s': %s\n", port_file, strerror(-r));
                        fake_server_stop(s);
                        return 73;
                }
        }

        int sig = 0;
        while (sigwait(&mask, &sig) != 0) {}
        for (size_t i = 0; i < 3; i++) netfake_stop(broken[i]);
        fake_server_stop(s);
        return 0;
}
