/* sshkey: checks Azure's SSH public keys and finds them in authorized_keys. */
#include "sshkey.h"

#include <ctype.h>

static const char *const key_types[] = {
        "ssh-ed25519",
        "ssh-rsa",
        "ecdsa-sha2-nistp256",
        "ecdsa-sha2-nistp384",
        "ecdsa-sha2-nistp521",
        "sk-ssh-ed25519@openssh.com",
        "sk-ecdsa-sha2-nistp256@openssh.com",
        "ssh-dss",
};

bool sshkey_type_known(const char *type, size_t len) {
        for (size_t i = 0; i < ELEMENTSOF(key_types); i++)
                if (strlen(key_types[i]) == len && memcmp(key_types[i], type, len) == 0) return true;
        return false;
}

static bool is_b64(char c) {
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/';
}

/* Base64 characters, then at most two '=' at the end. */
static bool base64_valid(const char *s, size_t n) {
        size_t i = 0;
        while (i < n && is_b64(s[i])) i++;
        if (i == 0) return false;
        size_t pad = n - i;
        if (pad > 2) return false;
        for (; i < n; i++)
                if (s[i] != '=') return false;
        return true;
}

static bool is_blank(char c) {
        return c == ' ' || c == '\t';
}

/* The next blank-separated field of s from *pos: start and length (0 at the end). */
static size_t next_field(const char *s, size_t *pos, const char **ret) {
        size_t i = *pos;
        while (s[i] && is_blank(s[i])) i++;
        size_t start = i;
        while (s[i] && !is_blank(s[i])) i++;
        *ret = s + start;
        *pos = i;
        return i - start;
}

int sshkey_normalize(const char *key, char **ret, const char **ret_reason) {
        const char *reason = NULL;
        _cleanup_free_ char *out = NULL;
        size_t n = strlen(key);
        _cleanup_free_ char *flat = malloc(n + 1);
        if (!flat) return -ENOMEM;
        _cleanup_free_ size_t *breaks = malloc((n + 1) * sizeof(size_t));
        if (!breaks) return -ENOMEM;
        size_t o = 0, n_breaks = 0;
        for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char)key[i];
                if (c == '\r' || c == '\n') {
                        breaks[n_breaks++] = o;
                        continue;
                }
                if ((c < 0x20 && c != '\t') || c == 0x7f) {
                        reason = "it holds control characters";
                        goto bad;
                }
                flat[o++] = (char)c;
        }
        flat[o] = 0;

        size_t pos = 0;
        const char *type, *b64;
        size_t tlen = next_field(flat, &pos, &type);
        if (tlen == 0) {
                reason = "it is empty";
                goto bad;
        }
        if (!sshkey_type_known(type, tlen)) {
                reason = memchr(type, '=', tlen) || memchr(type, ',', tlen)
                                 ? "it starts with options (such as command= or from=), which are not accepted"
                                 : "it does not start with a known SSH key type";
                goto bad;
        }
        size_t blen = next_field(flat, &pos, &b64);
        if (blen == 0 || !base64_valid(b64, blen)) {
                reason = "the key after the type is not base64";
                goto bad;
        }
        while (flat[pos] && is_blank(flat[pos])) pos++;
        char *comment = flat + pos;
        size_t clen = strlen(comment);
        while (clen > 0 && is_blank(comment[clen - 1])) clen--;
        comment[clen] = 0;
        /* A removed break must have wrapped the base64 (old Azure keys), or be before
         * or after the key: one elsewhere means more lines than one key. */
        size_t b64_start = (size_t)(b64 - flat), b64_end = b64_start + blen;
        size_t first = (size_t)(type - flat), last = (size_t)(comment - flat) + clen;
        if (clen == 0) last = b64_end;
        for (size_t i = 0; i < n_breaks; i++) {
                size_t b = breaks[i];
                if (b <= first || b >= last || (b > b64_start && b <= b64_end)) continue;
                reason = "it holds more than one line";
                goto bad;
        }
        if (asprintf_safe(&out, "%.*s %.*s%s%.*s", (int)tlen, type, (int)blen, b64, clen ? " " : "", (int)clen, comment) < 0)
                return -ENOMEM;
        *ret = TAKE_PTR(out);
        return 0;
bad:
        if (ret_reason) *ret_reason = reason;
        return -EINVAL;
}

/* Skips an options field ("a,b=\"x y\",c"): quoted parts may hold blanks. */
static size_t skip_options(const char *s, size_t i, size_t end) {
        bool quoted = false;
        for (; i < end; i++) {
                if (s[i] == '\\' && quoted && i + 1 < end) i++;
                else if (s[i] == '"') quoted = !quoted;
                else if (!quoted && is_blank(s[i])) break;
        }
        return i;
}

/* True when the line [s, s+len) holds type+base64 (options before it allowed). */
static bool line_has_key(const char *s, size_t len, const char *type, size_t tlen, const char *b64, size_t blen) {
        size_t i = 0;
        while (i < len && is_blank(s[i])) i++;
        if (i == len || s[i] == '#') return false;
        for (int field = 0; field < 2 && i < len; field++) {
                size_t start = i;
                while (i < len && !is_blank(s[i])) i++;
                if (i - start == tlen && memcmp(s + start, type, tlen) == 0) {
                        while (i < len && is_blank(s[i])) i++;
                        size_t bstart = i;
                        while (i < len && !is_blank(s[i])) i++;
                        return i - bstart == blen && memcmp(s + bstart, b64, blen) == 0;
                }
                if (field == 0) {
                        /* Not a key type: the options field, then the type. */
                        i = skip_options(s, start, len);
                        while (i < len && is_blank(s[i])) i++;
                }
        }
        return false;
}

bool sshkey_present(const char *text, const char *key) {
        if (!text || !key) return false;
        const char *sp = strchr(key, ' ');
        if (!sp) return false;
        size_t tlen = (size_t)(sp - key);
        const char *b64 = sp + 1;
        size_t blen = strcspn(b64, " ");
        for (const char *line = text; *line;) {
                size_t len = strcspn(line, "\n");
                size_t l = len;
                if (l > 0 && line[l - 1] == '\r') l--;
                if (line_has_key(line, l, key, tlen, b64, blen)) return true;
                line += len;
                if (*line == '\n') line++;
        }
        return false;
}
