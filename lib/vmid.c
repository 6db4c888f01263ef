#include "vmid.h"

#include <ctype.h>
#include <errno.h>
#include <sys/stat.h>

#include "util.h"

#define VMID_PRODUCT_UUID "/sys/class/dmi/id/product_uuid"
#define VMID_EFI_DIR "/sys/firmware/efi"
#define VMID_LEN 36

bool vmid_is_valid(const char *s) {
        if (!s) return false;
        for (size_t i = 0; i < VMID_LEN; i++) {
                if (i == 8 || i == 13 || i == 18 || i == 23) {
                        if (s[i] != '-') return false;
                } else if (!isxdigit((unsigned char) s[i]))
                        return false;
        }
        return s[VMID_LEN] == 0;
}

int vmid_swap_gen1(const char *uuid, char **ret) {
        /* Hex-digit pairs (bytes) of the first three fields, in the order they are taken
         * from: fields 1-3 are stored little-endian in the SMBIOS table. */
        static const unsigned order[] = {6, 4, 2, 0, /* '-' */ 11, 9, /* '-' */ 16, 14};
        static const unsigned dest[] = {0, 2, 4, 6, 9, 11, 14, 16};

        if (!vmid_is_valid(uuid)) return -EINVAL;
        char *s = strdup(uuid);
        if (!s) return -ENOMEM;
        for (size_t i = 0; i < ELEMENTSOF(order); i++) {
                s[dest[i]] = uuid[order[i]];
                s[dest[i] + 1] = uuid[order[i] + 1];
        }
        for (char *p = s; *p; p++) *p = (char) tolower((unsigned char) *p);
        *ret = s;
        return 0;
}

int vmid_read(const char *root, char **ret) {
        _cleanup_free_ char *path = path_under_root(root, VMID_PRODUCT_UUID);
        _cleanup_free_ char *efi = path_under_root(root, VMID_EFI_DIR);
        _cleanup_free_ char *data = NULL;
        size_t len = 0;
        int r;

        if (!path || !efi) return -ENOMEM;
        /* sysfs attributes are one short line; anything bigger is not a UUID. */
        r = read_file_capped(path, 128, &data, &len);
        if (r == -EFBIG) return -EBADMSG;
        if (r < 0) return r;
        while (len > 0 && isspace((unsigned char) data[len - 1])) data[--len] = 0;
        if (strlen(data) != len || !vmid_is_valid(data)) return -EBADMSG;
        for (char *p = data; *p; p++) *p = (char) tolower((unsigned char) *p);

        struct stat st;
        if (stat(efi, &st) < 0 || !S_ISDIR(st.st_mode)) {
                /* Gen1 (BIOS): the fabric's id is the byte-swapped form, as in
                 * cloud-init's and waagent's Gen1 handling. */
                char *swapped = NULL;
                r = vmid_swap_gen1(data, &swapped);
                if (r < 0) return r;
                *ret = swapped;
                return 0;
        }
        *ret = TAKE_PTR(data);
        return 0;
}
