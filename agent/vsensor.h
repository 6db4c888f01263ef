/* What an installed vSensor looks like. */
#pragma once

#include "context.h"

/* The installed marker (/etc/darktrace/config.cfg) exists and the helpers the steps
 * call are executable. */
bool vsensor_installed(const Context *c);
