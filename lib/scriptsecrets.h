/* scriptsecrets: the secrets a legacy "#!" user-data script carries in its own text.
 * Darktrace's old scripts run under `bash -x`, which prints every command with its
 * arguments into the log; the agent cannot stop that, but it can hide the values it
 * can recognise: they are registered with lib/secret before the script runs. */
#pragma once

#include <stddef.h>

/* Scans script (len bytes) and registers for redaction:
 *  - the argument of --updateKey (also --updateKey=X), whole and each half;
 *  - the first argument of set_pushtoken.sh (whole and each half), and the password
 *    of its proxy argument (http://USER:PASSWORD@...);
 *  - the first argument of set_ossensor_hmac.sh;
 *  - any word in the documented update key (^[A-Za-z0-9%.]+:[A-Za-z0-9%.]+$, unless the
 *    part after the colon is a port number) or push token
 *    (^[A-Za-z0-9-]{4,64}:[A-Za-z0-9]{5,63}$) form, with the push token's secret half.
 * Words are split as a shell does for simple scripts (quotes removed, NAME=VALUE
 * assignments remembered, so "$NAME" and "${NAME}" arguments resolve to the last value
 * assigned before). Returns how many values were registered, or -ENOMEM. */
int script_secrets_register(const char *script, size_t len);
