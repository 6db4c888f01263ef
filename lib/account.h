/* account: the admin user Azure names — the name rule (Field rules: what Azure's
 * Linux adminUsername and the image's useradd both take), the image's
 * {root}/etc/login.defs UID range, and the account in {root}/etc/passwd (read
 * directly, not through NSS: under --root it is another tree). */
#pragma once

#include <sys/types.h>

#include "util.h"

/* Longest name accepted (Azure's adminUsername limit). */
#define ACCOUNT_NAME_MAX 64

typedef struct Account {
        uid_t uid;
        gid_t gid;
        char *home;
} Account;

/* NULL when name is acceptable: 1..64 of letters (either case), digits, '.', '_',
 * '-', not starting with '-', not ending with '.', not all digits. Else why not (a
 * static string). */
const char *account_name_problem(const char *name);

/* UID_MIN and UID_MAX of {root}/etc/login.defs; 1000 and 60000 where it has none. */
void account_uid_range(const char *root, uid_t *ret_min, uid_t *ret_max);

/* Looks name up in {root}/etc/passwd: 0 and *ret filled (ret->home new), -ENOENT
 * when absent, -EBADMSG for a broken line, -errno when it cannot be read. */
int account_lookup(const char *root, const char *name, Account *ret);
