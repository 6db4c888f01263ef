/* network-online.target, asked of systemd over D-Bus (no systemctl child). */
#include "online.h"

#include <systemd/sd-bus.h>

#include "log.h"
#include "notify.h"

#define ONLINE_UNIT_PATH "/org/freedesktop/systemd1/unit/network_2donline_2etarget"

/* The target's ActiveState ("active", "inactive", "activating"), or NULL. */
static char *online_state(sd_bus *bus) {
        sd_bus_error err = SD_BUS_ERROR_NULL;
        char *state = NULL;
        int r = sd_bus_get_property_string(bus, "org.freedesktop.systemd1", ONLINE_UNIT_PATH,
                                           "org.freedesktop.systemd1.Unit", "ActiveState", &err, &state);
        if (r < 0) log_debug("network-online.target: %s", err.message ? err.message : strerror(-r));
        sd_bus_error_free(&err);
        return r < 0 ? NULL : state;
}

void wait_network_online(Context *c, int timeout_s) {
        if (!isempty(c->opts->root)) return; /* never ask the running system under --root */
        sd_bus *bus = NULL;
        int r = sd_bus_open_system(&bus);
        if (r < 0) {
                log_debug("no system bus (%s): not waiting for network-online.target", strerror(-r));
                return;
        }
        int64_t start = now_monotonic_ms(), deadline = start + (int64_t)timeout_s * 1000;
        char *state = online_state(bus);
        bool said = false;
        while (!streq_ptr(state, "active") && now_monotonic_ms() < deadline) {
                if (!said) {
                        log_info("waiting for network-online.target (%s)", state ? state : "unknown");
                        notify_extend_timeout(timeout_s);
                        said = true;
                }
                free(state);
                sleep_ms(100);
                state = online_state(bus);
        }
        if (streq_ptr(state, "active")) {
                if (said) log_info("network-online.target reached after %lld ms", (long long)(now_monotonic_ms() - start));
        } else
                log_warning("network-online.target not reached within %d s: going on (downloads retry)", timeout_s);
        free(state);
        sd_bus_flush_close_unref(bus);
}
