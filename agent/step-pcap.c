/* pcap: captured packets go to the blob container, or PCAP storage is turned off. */
#include "child.h"
#include "preflight.h"
#include "steps.h"

int step_pcap(Context *c) {
        const CustomData *d = c->custom_data;
        if (d->pcap_enabled) {
                const char *args[] = {d->pcap_storage_account, d->pcap_container, NULL};
                int r = helper_run(c, "set_pcap_azure_container.sh", args);
                /* The helper checks the container: whether the network reaches blob storage. */
                if (r == STEP_RESULT_FAILED) preflight_annotate_failure(c, "blob");
                return r;
        }
        const char *args[] = {"0", NULL};
        return helper_run(c, "set_pcap_size.sh", args);
}
