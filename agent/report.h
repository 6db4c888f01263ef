/* Telling Azure how provisioning went: a KVP PROVISIONING_REPORT record, then the
 * wireserver health report (Ready, or NotReady/ProvisioningFailed with a reason). */
#pragma once

#include <stdbool.h>
#include "context.h"

/* Whether this agent provisions the instance and reports to Azure (provisioning mode
 * agent, or auto when waagent has not provisioned it). */
bool provisioning_by_agent(const Context *c);

/* Reports Ready. Returns 0, or a step failure (exit 69 at the wireserver deadline). */
int report_ready(Context *c);
/* Reports NotReady/ProvisioningFailed with reason (one line naming the cause; cut at
 * 512 characters) when this
 * agent provisions and nothing has reported ready yet. Failures are logged only. */
void report_failure(Context *c, const char *reason);
