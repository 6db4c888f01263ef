/* sshdconfig: what sshd will read for a setting. sshd keeps the first value it reads
 * for most keywords, reading {root}/etc/ssh/sshd_config top to bottom and each
 * Include (relative paths under /etc/ssh, globs in lexical order) where it stands;
 * the global section ends at the first Match. This finds the first value of a
 * keyword there, and which file and line gave it. */
#pragma once

#include "util.h"

typedef struct SshdSetting {
        char *file;        /* path inside the root, e.g. "/etc/ssh/sshd_config.d/10-x.conf" */
        unsigned line;     /* 1-based */
        char *value;       /* the first argument as written */
} SshdSetting;

void sshd_setting_done(SshdSetting *s);

/* 1 and *ret filled when found; 0 when no file in the global section sets it;
 * -ENOENT when {root}/etc/ssh/sshd_config does not exist; -ELOOP for Includes nested
 * deeper than sshd allows or a symlink on the way; -errno when a file cannot be read
 * (ret_file, when given, is then set to that file, a new string). */
int sshdconfig_find(const char *root, const char *keyword, SshdSetting *ret, char **ret_file);
