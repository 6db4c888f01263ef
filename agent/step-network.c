/* network: osSensors talk to the vSensor directly after registration, or, with
 * Private Link, always through the load balancer with TCP Proxy v2 accepted from the
 * Private Link NAT IP and Azure's health probe address. */
#include "child.h"
#include "steps.h"

/* Azure's load balancer health probes come from this address. */
#define AZURE_PROBE_SOURCE "168.63.129.16/32"

int step_network(Context *c) {
        const CustomData *d = c->custom_data;
        if (!d->private_link) {
                const char *args[] = {"1", NULL};
                return helper_run(c, "set_ossensor_loadbalancer_direct.sh", args);
        }
        const char *direct[] = {"0", NULL};
        int r = helper_run(c, "set_ossensor_loadbalancer_direct.sh", direct);
        if (r != STEP_RESULT_DONE) return r;
        _cleanup_free_ char *nat = strjoin(d->private_link_nat_ip, "/32", NULL);
        if (!nat) return step_fail(c, EX_SOFTWARE, "out of memory");
        const char *nat_args[] = {nat, NULL};
        r = helper_run(c, "set_tcp_proxy_access.sh", nat_args);
        if (r != STEP_RESULT_DONE) return r;
        const char *probe_args[] = {AZURE_PROBE_SOURCE, NULL};
        return helper_run(c, "set_tcp_proxy_access.sh", probe_args);
}
