#include "retry-log.h"

#include "log.h"

void retry_log_notify(void *userdata, int attempt, const char *what, int64_t delay_ms) {
        /* The first failures are normal at boot (network not up yet): keep them quiet. */
        LogLevel level = attempt < 3 ? LOG_LEVEL_INFO : LOG_LEVEL_WARNING;
        log_msg(level, "%s: try %d failed (%s); retrying in %lld ms", (const char *)userdata, attempt, what,
                (long long)delay_ms);
}
