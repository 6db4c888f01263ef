/* sshkey: the SSH public keys Azure hands the agent, and the authorized_keys file
 * they go into. A key is one line "TYPE BASE64 [COMMENT]": TYPE a known OpenSSH key
 * type, BASE64 only base64 characters, COMMENT printable text. A CR or LF inside the
 * key is removed when what remains is one such key (old Azure keys are wrapped);
 * anything else — options such as command= or from=, other text, more lines — is
 * not a key. Two keys are the same when type and base64 are, whatever the comment
 * or options. */
#pragma once

#include "util.h"

/* authorized_keys is read, and written, only up to this size. */
#define SSHKEY_FILE_MAX (1024 * 1024)

/* Checks and normalizes one key: *ret is "TYPE BASE64[ COMMENT]" (fields separated
 * by one space, no CR/LF) and 0 is returned; or -EINVAL with *ret_reason saying why
 * (a static string, never the key). */
int sshkey_normalize(const char *key, char **ret, const char **ret_reason);

/* True when the authorized_keys text already has a line (with or without options)
 * holding the same type and base64 as the normalized key. */
bool sshkey_present(const char *authorized_keys, const char *key);

/* True when type is a public key type OpenSSH knows. */
bool sshkey_type_known(const char *type, size_t len);
