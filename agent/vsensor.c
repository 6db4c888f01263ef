#include "vsensor.h"

#include <sys/stat.h>

static const char *const helpers[] = {
        "set_pushtoken.sh", "set_ossensor_hmac.sh", "set_pcap_azure_container.sh", "set_pcap_size.sh",
        "set_ossensor_loadbalancer_direct.sh", "set_tcp_proxy_access.sh", "set_ephemeral.sh",
};

bool vsensor_installed(const Context *c) {
        _cleanup_free_ char *marker = context_path(c, c->config.installed_marker);
        if (!marker || access(marker, F_OK) < 0) return false;
        _cleanup_free_ char *dir = context_path(c, c->config.helpers_dir);
        if (!dir) return false;
        for (size_t i = 0; i < ELEMENTSOF(helpers); i++) {
                _cleanup_free_ char *p = strjoin(dir, "/", helpers[i]);
                struct stat st;
                if (!p || stat(p, &st) < 0 || !S_ISREG(st.st_mode) || !(st.st_mode & 0111)) return false;
        }
        return true;
}
