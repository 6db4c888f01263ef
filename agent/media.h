/* The Azure provisioning media: ovf-env.xml on a UDF or ISO 9660 CD-ROM (usually
 * /dev/sr0), or a directory (tests, image builds). Read once per run; a copy without
 * UserPassword and CustomData is kept at {state_dir}/ovf-env.xml so provisioning can
 * be repaired once the media is gone (the custom data has its own 0600 copy). */
#pragma once

#include "context.h"

/* Loads the media into c->ovf (once). Returns 0, -ENOENT when there is no media and no
 * kept copy, or a step failure (malformed ovf-env.xml). */
int media_load(Context *c);
/* The decoded CustomData of the media: 0 with a new buffer, -ENOENT when the media has
 * none or there is no media, -EBADMSG when it is unusable (c->ovf->custom_data_error
 * says why: invalid custom data; the rest of the media still serves), or a step
 * failure. */
int media_custom_data(Context *c, char **ret, size_t *ret_len);
/* Removes the copies kept for the VM the state was about (custom data and ovf-env.xml):
 * called when a new VM id shows up, so a captured image never feeds the previous VM's
 * custom data, host name or keys to the new one. Failures are logged. */
void media_forget_kept(const Context *c);
