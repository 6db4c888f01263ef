/* account: the admin user name rule, the UID range and the passwd entry. */
#include "account.h"

#include <ctype.h>

#include "safefile.h"

const char *account_name_problem(const char *name) {
        size_t n = name ? strlen(name) : 0;
        if (n == 0) return "it is empty";
        if (n > ACCOUNT_NAME_MAX) return "it is longer than 64 characters";
        if (name[0] == '-') return "it starts with '-'";
        bool digits_only = true;
        for (const char *p = name; *p; p++) {
                unsigned char c = (unsigned char)*p;
                if (c < 0x20 || c == 0x7f) return "it holds control characters";
                if (isspace(c)) return "it holds whitespace";
                if (c == ':') return "it holds ':'";
                if (c == '/') return "it holds '/'";
                if (!(isalnum(c) && c < 0x80) && c != '.' && c != '_' && c != '-')
                        return "it holds a character other than letters, digits, '.', '_' and '-'";
                if (!isdigit(c)) digits_only = false;
        }
        if (name[n - 1] == '.') return "it ends with '.'";
        if (digits_only) return "it is all digits (tools would take it for a uid)";
        return NULL;
}

/* The value of KEY in login.defs text ("KEY<blanks>VALUE", '#' comments). */
static bool defs_value(const char *text, const char *key, unsigned long *ret) {
        size_t kl = strlen(key);
        for (const char *line = text; line && *line;) {
                while (*line == ' ' || *line == '\t') line++;
                const char *end = strchr(line, '\n');
                if (strncmp(line, key, kl) == 0 && (line[kl] == ' ' || line[kl] == '\t')) {
                        char *e;
                        errno = 0;
                        unsigned long v = strtoul(line + kl, &e, 10);
                        if (errno == 0 && e != line + kl && v < (unsigned long)(uid_t)-1) {
                                *ret = v;
                                return true;
                        }
                }
                line = end ? end + 1 : NULL;
        }
        return false;
}

void account_uid_range(const char *root, uid_t *ret_min, uid_t *ret_max) {
        unsigned long lo = 1000, hi = 60000;
        _cleanup_free_ char *text = NULL;
        if (safe_read(root, "/etc/login.defs", 1024 * 1024, SAFE_NO_OWNER, &text, NULL) >= 0) {
                defs_value(text, "UID_MIN", &lo);
                defs_value(text, "UID_MAX", &hi);
        }
        *ret_min = (uid_t)lo;
        *ret_max = (uid_t)hi;
}

static bool parse_id(const char *s, unsigned long *ret) {
        char *e;
        errno = 0;
        if (!isdigit((unsigned char)*s)) return false;
        unsigned long v = strtoul(s, &e, 10);
        if (errno != 0 || *e || v >= (unsigned long)(uid_t)-1) return false;
        *ret = v;
        return true;
}

int account_lookup(const char *root, const char *name, Account *ret) {
        _cleanup_free_ char *data = NULL;
        int r = safe_read(root, "/etc/passwd", 8 * 1024 * 1024, SAFE_NO_OWNER, &data, NULL);
        if (r < 0) return r;
        size_t ulen = strlen(name);
        for (char *line = data, *next; line && *line; line = next) {
                next = strchr(line, '\n');
                if (next) *next++ = 0;
                if (strncmp(line, name, ulen) != 0 || line[ulen] != ':') continue;
                /* name:pw:uid:gid:gecos:home:shell */
                char *f[7] = {0};
                size_t n = 0;
                for (char *s = line; n < 7; n++) {
                        f[n] = s;
                        s = strchr(s, ':');
                        if (!s) {
                                n++;
                                break;
                        }
                        *s++ = 0;
                }
                unsigned long uid, gid;
                if (n < 6 || !parse_id(f[2], &uid) || !parse_id(f[3], &gid) || f[5][0] != '/') return -EBADMSG;
                char *home = strdup(f[5]);
                if (!home) return -ENOMEM;
                *ret = (Account){.uid = (uid_t)uid, .gid = (gid_t)gid, .home = home};
                return 0;
        }
        return -ENOENT;
}
