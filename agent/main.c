/* vsensor-init: first-boot agent for Darktrace vSensors in Azure scale sets.
 * Parses the command line, loads the configuration and dispatches the command. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#include "commands.h"
#include "http.h"
#include "log.h"
#include "ovf.h"
#include "preflight.h"
#include "util.h"

#define DEFAULT_CONFIG "/etc/vsensor-init/config.yaml"
#define DEFAULT_CONFIG_DIR "/etc/vsensor-init/config.d"

static void usage(FILE *f) {
        fputs("Usage: vsensor-init [OPTIONS] [COMMAND]\n"
              "\n"
              "Commands:\n"
              "  run                first-boot bootstrap (default); resumes where it stopped\n"
              "  repair [--all]     re-run the vSensor steps (with --all, provisioning too)\n"
              "  status [--json]    one line per step: name, state, attempts, last error\n"
              "  validate [FILE|-]  check a custom-data document offline\n"
              "  show-config        effective configuration, secrets hidden\n"
              "  clean              forget state, marker and logs before capturing an image\n"
              "  preflight [--json] check what the network lets through (IMDS, CDN, master, apt...)\n"
              "  refresh            re-read Key Vault secrets; re-apply those whose version changed\n"
              "  watch              Scheduled Events: drain and approve this instance's scale-in\n"
              "  version            print the version\n"
              "\n"
              "Options:\n"
              "  --root DIR         take every path the agent reads or writes under DIR\n"
              "  --config FILE      agent configuration (replaces the default files)\n"
              "  --custom-data FILE use this custom data (\"-\" = stdin)\n"
              "  -v, --verbose      more console output\n"
              "  -q, --quiet        less console output\n"
              "  -h, --help         this text\n",
              f);
}

static const struct {
        const char *name;
        Command command;
} commands[] = {
        {"run", COMMAND_RUN},           {"repair", COMMAND_REPAIR},
        {"status", COMMAND_STATUS},     {"validate", COMMAND_VALIDATE},
        {"show-config", COMMAND_SHOW_CONFIG}, {"clean", COMMAND_CLEAN},
        {"version", COMMAND_VERSION},
        {"preflight", COMMAND_PREFLIGHT},
        {"refresh", COMMAND_REFRESH},
        {"watch", COMMAND_WATCH},
};

static int parse_args(int argc, char **argv, Options *o) {
        enum { OPT_ROOT = 256, OPT_CONFIG, OPT_CUSTOM_DATA, OPT_ALL, OPT_JSON };
        static const struct option longopts[] = {
                {"root", required_argument, NULL, OPT_ROOT},
                {"config", required_argument, NULL, OPT_CONFIG},
                {"custom-data", required_argument, NULL, OPT_CUSTOM_DATA},
                {"all", no_argument, NULL, OPT_ALL},
                {"json", no_argument, NULL, OPT_JSON},
                {"verbose", no_argument, NULL, 'v'},
                {"quiet", no_argument, NULL, 'q'},
                {"help", no_argument, NULL, 'h'},
                {},
        };
        int opt;
        bool all = false, json = false;
        *o = (Options){.command = COMMAND_RUN};
        while ((opt = getopt_long(argc, argv, "vqh", longopts, NULL)) >= 0) {
                switch (opt) {
                case OPT_ROOT: o->root = optarg; break;
                case OPT_CONFIG: o->config_file = optarg; break;
                case OPT_CUSTOM_DATA: o->custom_data = optarg; break;
                case OPT_ALL: all = true; break;
                case OPT_JSON: json = true; break;
                case 'v': o->verbosity++; break;
                case 'q': o->verbosity--; break;
                case 'h': usage(stdout); exit(EX_OK);
                default: usage(stderr); return EX_USAGE;
                }
        }
        if (optind < argc) {
                const char *name = argv[optind++];
                size_t i;
                for (i = 0; i < ELEMENTSOF(commands); i++)
                        if (streq(commands[i].name, name)) break;
                if (i == ELEMENTSOF(commands)) {
                        fprintf(stderr, "vsensor-init: unknown command '%s'\n", name);
                        usage(stderr);
                        return EX_USAGE;
                }
                o->command = commands[i].command;
        }
        if (o->command == COMMAND_VALIDATE && optind < argc) o->validate_file = argv[optind++];
        if (optind < argc) {
                fprintf(stderr, "vsensor-init: unexpected argument '%s'\n", argv[optind]);
                return EX_USAGE;
        }
        if (all && o->command != COMMAND_REPAIR) {
                fputs("vsensor-init: --all is an option of 'repair'\n", stderr);
                return EX_USAGE;
        }
        if (json && o->command != COMMAND_STATUS && o->command != COMMAND_PREFLIGHT) {
                fputs("vsensor-init: --json is an option of 'status' and 'preflight'\n", stderr);
                return EX_USAGE;
        }
        if (o->root && o->root[0] != '/') {
                fprintf(stderr, "vsensor-init: --root needs an absolute path (got '%s')\n", o->root);
                return EX_USAGE;
        }
        o->repair_all = all;
        o->json = json;
        return 0;
}

static int load_config(Context *c) {
        Problems problems;
        int r = problems_init(&problems, c->opts->config_file ? c->opts->config_file : DEFAULT_CONFIG);
        if (r < 0) return EX_SOFTWARE;
        r = config_init_defaults(&c->config);
        if (r >= 0) {
                if (c->opts->config_file)
                        r = config_load_file(&c->config, c->opts->config_file, &problems);
                else {
                        _cleanup_free_ char *file = context_path(c, DEFAULT_CONFIG);
                        _cleanup_free_ char *dir = context_path(c, DEFAULT_CONFIG_DIR);
                        r = file && dir ? config_load_defaults_files(&c->config, file, dir, &problems) : -ENOMEM;
                }
        }
        if (r < 0) {
                problems_print(&problems, stderr);
                if (problems.n == 0) fprintf(stderr, "vsensor-init: cannot load the configuration: %s\n", strerror(-r));
                problems_done(&problems);
                return r == -ENOMEM ? EX_SOFTWARE : EX_DATAERR;
        }
        problems_done(&problems);
        c->state_path = context_state_file(c, STATE_FILE);
        return c->state_path ? 0 : EX_SOFTWARE;
}

static void context_done(Context *c) {
        config_done(&c->config);
        free(c->state_path);
        state_free(c->state);
        free(c->vm_id);
        customdata_free(c->custom_data);
        free(c->custom_data_source);
        imds_instance_free(c->imds);
        ovf_env_free(c->ovf);
        free(c->deferred_error);
        free(c->error);
        for (size_t i = 0; i < ELEMENTSOF(c->secret_versions); i++) free(c->secret_versions[i]);
}

/* Process-wide protections, before anything holds a secret. */
static void harden_process(void) {
        /* A core dump (or a ptrace by another process of the same uid) would expose
         * every secret in memory: not dumpable, and no core files at all. */
        (void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
        (void)setrlimit(RLIMIT_CORE, &(struct rlimit){0, 0});
        /* `vsensor-init repair 2>&1 | head`: a reader that goes away must not kill a
         * run half-way through a step. Writes to stdout/stderr then fail with EPIPE,
         * which the console output ignores (the log file has every line). Children get
         * SIGPIPE back (lib/run.c resets every signal). */
        (void)signal(SIGPIPE, SIG_IGN);
}

int main(int argc, char **argv) {
        harden_process();
        Options opts;
        int r = parse_args(argc, argv, &opts);
        if (r != 0) return r;

        log_open(&(LogOptions){.console_level = options_console_level(&opts)});
        if (opts.command == COMMAND_VERSION) {
                printf("vsensor-init %s\n", VERSION);
                return EX_OK;
        }
        Context c = {.opts = &opts};
        r = load_config(&c);
        if (opts.command == COMMAND_VALIDATE) {
                /* key_vault.host_suffixes decides which vaults a reference may name. */
                if (r == 0) r = cmd_validate_with(&opts, &c.config);
                context_done(&c);
                log_close();
                return r;
        }
        if (r == 0) {
                if (http_global_init() < 0) {
                        fputs("vsensor-init: cannot initialise libcurl\n", stderr);
                        r = EX_SOFTWARE;
                } else {
                        switch (opts.command) {
                        case COMMAND_STATUS: r = cmd_status(&c); break;
                        case COMMAND_SHOW_CONFIG: r = cmd_show_config(&c); break;
                        case COMMAND_CLEAN: r = cmd_clean(&c); break;
                        case COMMAND_PREFLIGHT: r = cmd_preflight(&c); break;
                        case COMMAND_REFRESH: r = cmd_refresh(&c); break;
                        case COMMAND_WATCH: r = cmd_watch(&c); break;
                        default: r = cmd_run(&c); break;
                        }
                        /* A remote service stayed out of reach: say how to find out why
                         * (the unit's failure ends with this line in the journal). */
                        if (r == EX_UNAVAILABLE && (opts.command == COMMAND_RUN || opts.command == COMMAND_REPAIR))
                                log_error("a remote service stayed unreachable: run 'vsensor-init preflight' to see "
                                          "what the network blocks");
                        http_global_cleanup();
                }
        }
        context_done(&c);
        log_close();
        return r;
}
