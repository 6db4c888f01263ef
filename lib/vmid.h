/* vmid: the VM id Azure knows the instance by, read from DMI. Keys the "provisioned"
 * marker, so it must match what waagent and cloud-init compute. */
#pragma once

#include <stdbool.h>

/* The VM id from DMI: /sys/class/dmi/id/product_uuid (under root), lower case; on Gen1 VMs
 * (no /sys/firmware/efi directory under root) the first three fields are byte-swapped
 * (little-endian) as cloud-init and waagent do. Returns 0 and a new string, -ENOENT when the
 * file is missing, -EBADMSG when it is not a UUID. */
int vmid_read(const char *root, char **ret);
/* The swap alone, for tests: "78563412-3412-7856-..." <-> "12345678-1234-5678-...".
 * Returns 0 and a new lower-case string, -EINVAL when uuid is not a UUID, -ENOMEM. */
int vmid_swap_gen1(const char *uuid, char **ret);
/* 8-4-4-4-12 hex digits (either case), nothing else. */
bool vmid_is_valid(const char *s);
