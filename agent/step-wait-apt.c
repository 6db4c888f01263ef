/* wait-apt: the installer uses apt; at first boot cloud images often run apt
 * (unattended-upgrades, apt-daily) themselves. Wait until nobody holds its locks. */
#include "aptlock.h"
#include "log.h"
#include "notify.h"
#include "online.h"
#include "steps.h"

static void on_holder(void *userdata, const AptLockHolder *h) {
        if (h->pid > 0)
                log_info("waiting for %s, held by pid %ld", h->path, (long)h->pid);
        else
                log_info("waiting for %s", h->path);
}

/* The first step that needs the internet; the unit starts before every interface is
 * configured. systemd-networkd-wait-online's own default timeout is 120 s. */
#define ONLINE_TIMEOUT_S 120

int step_wait_apt(Context *c) {
        wait_network_online(c, ONLINE_TIMEOUT_S);
        notify_extend_timeout(c->config.apt_lock_deadline);
        AptLockHolder holder = {0};
        int64_t start = now_monotonic_ms();
        int r = aptlock_wait(c->opts->root, (int64_t)c->config.apt_lock_deadline * 1000, on_holder, NULL, &holder);
        if (r == -ETIMEDOUT)
                return step_fail(c, EX_TEMPFAIL, "%s was still held%s%ld after %d s (apt_lock_deadline)",
                                 holder.path ? holder.path : "an apt lock", holder.pid > 0 ? " by pid " : "",
                                 holder.pid > 0 ? (long)holder.pid : 0L, c->config.apt_lock_deadline);
        if (r < 0) return step_fail(c, EX_TEMPFAIL, "cannot probe the apt locks: %s", strerror(-r));
        log_info("package manager is free (waited %lld ms)", (long long)(now_monotonic_ms() - start));
        return STEP_RESULT_DONE;
}
