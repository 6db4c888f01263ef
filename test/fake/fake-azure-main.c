/* fake-azure: the fake Azure server as a process, for the demo and VM tests.
 *   fake-azure --scenario FILE [--cert PEM --key PEM] [--record FILE] [--port-file FILE]
 * Writes "HTTP_PORT HTTPS_PORT\n" to the port file once listening (HTTPS_PORT is 0
 * without a certificate) and serves until SIGTERM or SIGINT. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <sys/prctl.h>

#include "fake-server.h"
#include "util.h"

static void usage(FILE *f) {
        fputs("usage: fake-azure --scenario FILE [--cert PEM --key PEM] [--record FILE] [--port-file FILE]\n", f);
}

int main(int argc, char **argv) {
        static const struct option opts[] = {
                {"scenario", required_argument, NULL, 's'},
                {"cert", required_argument, NULL, 'c'},
                {"key", required_argument, NULL, 'k'},
                {"record", required_argument, NULL, 'r'},
                {"port-file", required_argument, NULL, 'p'},
                {"help", no_argument, NULL, 'h'},
                {0},
        };
        const char *scenario = NULL, *port_file = NULL;
        FakeServerOptions o = {0};
        int c, r;

        while ((c = getopt_long(argc, argv, "h", opts, NULL)) >= 0) {
                switch (c) {
                case 's': scenario = optarg; break;
                case 'c': o.cert_file = optarg; break;
                case 'k': o.key_file = optarg; break;
                case 'r': o.record_file = optarg; break;
                case 'p': port_file = optarg; break;
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
        fake_server_stop(s);
        return 0;
}
