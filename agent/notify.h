/* systemd notifications (Type=notify): STATUS= per step, EXTEND_TIMEOUT_USEC= before
 * long steps, READY=1 once the instance is reported ready (or the run ends). Without
 * NOTIFY_SOCKET these do nothing. */
#pragma once

#include <stdint.h>

void notify_status(const char *step, const char *what);
void notify_extend_timeout(int64_t seconds);
/* Sends READY=1 once per process. */
void notify_ready(void);
