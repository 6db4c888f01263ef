/* Logs each retry of a remote call: what failed and how long the agent waits. */
#pragma once

#include <stdint.h>

/* RetryNotifyFn whose userdata is the name of the endpoint (a string literal). */
void retry_log_notify(void *userdata, int attempt, const char *what, int64_t delay_ms);
