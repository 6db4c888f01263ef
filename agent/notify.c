#include "notify.h"

#include <stdbool.h>
#include <systemd/sd-daemon.h>

void notify_status(const char *step, const char *what) {
        sd_notifyf(0, "STATUS=%s: %s", step, what);
}

void notify_extend_timeout(int64_t seconds) {
        /* A little more than the step's own deadline, so the step fails first and
         * says why, rather than systemd killing it silently. */
        sd_notifyf(0, "EXTEND_TIMEOUT_USEC=%lld", (long long)(seconds + 60) * 1000000LL);
}

void notify_ready(void) {
        static bool sent;
        if (sent) return;
        sent = true;
        sd_notify(0, "READY=1");
}
