/* kvp: Hyper-V KVP pool records (the host reads them through hv_kvp_daemon's pool files).
 * The agent writes PROVISIONING_REPORT here before reporting to the wireserver, as
 * cloud-init does, so the deployment shows why provisioning failed. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KVP_KEY_SIZE 512
#define KVP_VALUE_SIZE 2048
#define KVP_RECORD_SIZE (KVP_KEY_SIZE + KVP_VALUE_SIZE)

/* Appends one record (key and value zero padded; value truncated to 2047 bytes so it stays
 * NUL-terminated) to the pool file under an exclusive flock, then fsyncs. Creates the file
 * (0644 like hv_kvp_daemon's pool) and its directory when missing. Returns 0, -EINVAL
 * (key empty or longer than 511 bytes), or another -errno. */
int kvp_append(const char *pool_path, const char *key, const char *value);
/* Truncates a pool that holds records written before this boot: when the file's mtime is
 * older than boot time (btime from /proc/stat) — done once per boot so reports don't pile
 * up across reboots of a captured image. Returns 1 when truncated, 0 when not (also when
 * the file is missing), or -errno. */
int kvp_truncate_if_stale(const char *pool_path, int64_t boot_time_s);
/* Boot time in seconds since the epoch: the btime line of /proc/stat. Returns 0 or -errno. */
int kvp_boot_time(int64_t *ret);
/* Reads all records (tests, status): arrays of keys/values (NUL-terminated copies), both
 * NULL-terminated (free with strv_free). A missing file is 0 records; a trailing partial
 * record is ignored (a writer may be mid-append). Returns 0 or -errno. */
int kvp_read_all(const char *pool_path, char ***ret_keys, char ***ret_values, size_t *ret_n);
/* value for PROVISIONING_REPORT:
 *   "result=success|agent=vsensor-init/VERSION|vm_id=ID|timestamp=RFC3339"
 *   "result=error|reason=TEXT|agent=vsensor-init/VERSION|vm_id=ID|timestamp=RFC3339"
 * '|' in reason is replaced by ' ' (it is the separator). NULL reason/vm_id print as "".
 * Returns a new string or NULL on OOM. */
char *kvp_provisioning_report(bool success, const char *reason, const char *agent_version,
                              const char *vm_id, int64_t realtime_ms);
