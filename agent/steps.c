/* The step table: the order of the steps, in one place. The runner that walks it is
 * agent/runner.c. */
#include "steps.h"

const Step step_table[] = {
        {"load",          STEP_INPUT,        step_load,          "reading configuration and custom data"},
        {"metadata",      STEP_INPUT,        step_metadata,      "reading instance metadata"},
        {"provision",     STEP_PROVISIONING, step_provision,     "provisioning hostname, admin user, SSH"},
        {"report-ready",  STEP_PROVISIONING, step_report_ready,  "reporting ready to Azure"},
        {"host-keys",     STEP_PROVISIONING, step_host_keys,     "making SSH host keys"},
        {"wait-apt",      STEP_VSENSOR,      step_wait_apt,      "waiting for the package manager"},
        {"install",       STEP_VSENSOR,      step_install,       "installing the vSensor"},
        {"register",      STEP_VSENSOR,      step_register,      "registering with the master"},
        {"hmac",          STEP_VSENSOR,      step_hmac,          "setting the osSensor HMAC token"},
        {"pcap",          STEP_VSENSOR,      step_pcap,          "configuring PCAP storage"},
        {"network",       STEP_VSENSOR,      step_network,       "configuring load balancer mode"},
        {"ephemeral",     STEP_VSENSOR,      step_ephemeral,     "configuring ephemeral mode"},
        {"os-updates",    STEP_VSENSOR,      step_os_updates,    "enabling unattended OS upgrades"},
        {"verify",        STEP_VSENSOR,      step_verify,        "waiting for the vSensor's health endpoint"},
        {"legacy-script", STEP_LEGACY,       step_legacy_script, "running the legacy user-data script"},
        {"finish",        STEP_FINAL,        step_finish,        "finishing"},
};
const size_t step_table_size = ELEMENTSOF(step_table);

const Step *step_find(const char *name) {
        for (size_t i = 0; i < step_table_size; i++)
                if (streq(step_table[i].name, name)) return &step_table[i];
        return NULL;
}
