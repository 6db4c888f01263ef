/* config: the agent configuration (image-level input, DESIGN.md "Agent
 * configuration"), YAML, validated with FILE:LINE:COLUMN problems. */
#pragma once

#include <stdbool.h>
#include "problem.h"

typedef enum ProvisioningMode {
        PROVISIONING_AUTO,
        PROVISIONING_AGENT,
        PROVISIONING_WAAGENT,
        PROVISIONING_NONE,
        _PROVISIONING_MAX,
        _PROVISIONING_INVALID = -EINVAL,
} ProvisioningMode;

typedef enum ReportReadyMode {
        REPORT_READY_EARLY,
        REPORT_READY_LATE,
        _REPORT_READY_MAX,
        _REPORT_READY_INVALID = -EINVAL,
} ReportReadyMode;

typedef struct Config {
        ProvisioningMode provisioning;     /* auto */
        ReportReadyMode report_ready;      /* early */
        char *imds_url;                    /* http://169.254.169.254 */
        int imds_deadline;                 /* 300 s */
        char *wireserver_url;              /* http://168.63.129.16 */
        int wireserver_deadline;           /* 1200 s */
        char *installer_url;               /* https://packages-cdn.darktrace.com/install */
        char *installer_ca_file;           /* "" */
        int installer_deadline;            /* 1800 s */
        int apt_lock_deadline;             /* 900 s */
        int helper_attempts;               /* 3 (tries in total) */
        int helper_timeout;                /* 600 s */
        char *helpers_dir;                 /* /usr/sbin */
        char *log_file;                    /* /var/log/user-data.log */
        char *state_dir;                   /* /var/lib/vsensor-init */
        char *success_marker;              /* /etc/darktrace/.user-data-success */
        char *installed_marker;            /* /etc/darktrace/config.cfg */
        char *ovf_media;                   /* auto */
        char *waagent_dir;                 /* /var/lib/waagent */
        char *kvp_pool;                    /* /var/lib/hyperv/.kvp_pool_1 */
        /* preflight (DESIGN.md "Diagnosis"): each check's bound, and where PCAP blobs go. */
        int preflight_timeout;             /* 5 s */
        char *preflight_blob_suffix;       /* blob.core.windows.net (a host name suffix[:PORT]) */
        bool preflight_on_failure;         /* true: a step failing for a network reason runs its check */
        /* Key Vault references (DESIGN.md "Secrets from Azure Key Vault"). */
        int key_vault_deadline;            /* 900 s */
        char *key_vault_ca_file;           /* "" */
        char **key_vault_host_suffixes;    /* NULL-terminated, lower case; default: the
                                            * four public clouds (keyvault.h) */
        /* --- lifecycle: verify and watch (DESIGN.md "Beyond the first boot") --- */
        char *verify_url;                  /* "": the verify step is skipped; else a loopback URL */
        int verify_deadline;               /* 480 s */
        bool scheduled_events_enabled;     /* false */
        int scheduled_events_poll_ms;      /* poll_interval: 1 s (seconds, up to 3 decimals) */
        char ***drain_commands;            /* NULL-terminated list of argv (each NULL-terminated); NULL: none */
        int drain_deadline;                /* 240 s */
} Config;

/* Fills c with the defaults above. */
int config_init_defaults(Config *c);
void config_done(Config *c);

/* Parses one YAML file and applies the keys it sets over c (later files override
 * earlier ones key by key). Unknown keys, wrong types, out-of-range numbers
 * (deadlines 1..86400, attempts 1..20, timeout 1..86400), URLs not http(s)://,
 * relative paths (all paths must be absolute) and bad enum values are problems.
 * An empty file is valid. Returns 0, -EINVAL with problems, or -errno on read
 * errors (also appended as a problem). Files are capped at 64 KiB. */
int config_load_file(Config *c, const char *path, Problems *problems);
/* Same from a buffer (tests, fuzzing). */
int config_load_string(Config *c, const char *data, size_t len, Problems *problems);

/* Default locations: path (e.g. /etc/vsensor-init/config.yaml, may be missing)
 * then dropin_dir/ *.yaml in lexical order; both already joined with --root. */
int config_load_defaults_files(Config *c, const char *path, const char *dropin_dir, Problems *problems);

/* The number of drain commands in c (0 when none). */
size_t config_drain_commands_count(const Config *c);

const char *provisioning_mode_to_string(ProvisioningMode m);
ProvisioningMode provisioning_mode_from_string(const char *s);
const char *report_ready_mode_to_string(ReportReadyMode m);
ReportReadyMode report_ready_mode_from_string(const char *s);
