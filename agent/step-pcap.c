/* pcap: captured packets go to the blob container, or PCAP storage is turned off. */
#include "child.h"
#include "steps.h"

int step_pcap(Context *c) {
        const CustomData *d = c->custom_data;
        if (d->pcap_enabled) {
                const char *args[] = {d->pcap_storage_account, d->pcap_container, NULL};
                return helper_run(c, "set_pcap_azure_container.sh", args);
        }
        const char *args[] = {"0", NULL};
        return helper_run(c, "set_pcap_size.sh", args);
}
