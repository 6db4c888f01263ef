/* The commands other than run/repair. Each returns the process exit code. */
#pragma once

#include "context.h"

int cmd_status(Context *c);
int cmd_validate(const Options *o);
int cmd_show_config(Context *c);
int cmd_clean(Context *c);
int cmd_run(Context *c);
