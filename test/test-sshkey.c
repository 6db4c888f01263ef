/* sshkey: which keys are written to authorized_keys and how (Field rules: one line
 * TYPE BASE64 [COMMENT], line breaks inside removed when one key remains, options and
 * other text refused), and duplicates found by type and key, not by substring. */
#include <check.h>

#include "sshkey.h"
#include "testutil.h"

#define ED "AAAAC3NzaC1lZDI1NTE5AAAAIFakeKeyForTests"
#define RSA "AAAAB3NzaC1yc2EAAAADAQABAAABAQC7fixturekey1=="

static const struct {
        const char *in, *out;
} good[] = {
        {"ssh-ed25519 " ED " vsensor-test", "ssh-ed25519 " ED " vsensor-test"},
        {"ssh-ed25519 " ED, "ssh-ed25519 " ED},
        {"  ssh-rsa\t" RSA "   azureuser@example  ", "ssh-rsa " RSA " azureuser@example"},
        {"ssh-rsa " RSA " a comment with spaces", "ssh-rsa " RSA " a comment with spaces"},
        /* Old Azure keys: the base64 wrapped with CRLF or LF. */
        {"ssh-rsa AAAAB3NzaC1yc2EAAAADAQAB\r\nAAABAQC7fixturekey1== u@h", "ssh-rsa " RSA " u@h"},
        {"ssh-rsa AAAAB3NzaC1yc2EAAAADAQAB\nAAABAQC7fixturekey1==\r\n", "ssh-rsa " RSA},
        {"ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTY= x", "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTY= x"},
        {"sk-ssh-ed25519@openssh.com AAAAGnNr yubikey", "sk-ssh-ed25519@openssh.com AAAAGnNr yubikey"},
};

START_TEST(test_good_keys) {
        _cleanup_free_ char *out = NULL;
        const char *reason = NULL;
        ck_assert_int_eq(sshkey_normalize(good[_i].in, &out, &reason), 0);
        ck_assert_str_eq(out, good[_i].out);
}
END_TEST

static const struct {
        const char *in, *reason;
} bad[] = {
        {"", "it is empty"},
        {"   ", "it is empty"},
        {"command=\"/bin/sh\" ssh-ed25519 " ED, "it starts with options (such as command= or from=), which are not accepted"},
        {"from=\"10.0.0.0/8\",no-pty ssh-ed25519 " ED, "it starts with options (such as command= or from=), which are not accepted"},
        {"no-pty ssh-ed25519 " ED, "it does not start with a known SSH key type"},
        {"hello world", "it does not start with a known SSH key type"},
        {"ssh-foo " ED, "it does not start with a known SSH key type"},
        {"ssh-ed25519", "the key after the type is not base64"},
        {"ssh-ed25519 not-base64!", "the key after the type is not base64"},
        {"ssh-ed25519 AAAA=B", "the key after the type is not base64"},
        {"ssh-ed25519 AAAA===", "the key after the type is not base64"},
        {"ssh-ed25519 " ED " x\nssh-rsa " RSA " y", "it holds more than one line"},
        {"ssh-ed25519 " ED " x\r\nssh-rsa " RSA, "it holds more than one line"},
        {"ssh-ed25519 " ED " c\nrm -rf /", "it holds more than one line"},
        {"ssh-ed25519\n" ED, "it does not start with a known SSH key type"},
        {"ssh-ed25519 " ED " \x1b[31mred", "it holds control characters"},
        {"ssh-ed25519 " ED " a\x01", "it holds control characters"},
};

START_TEST(test_bad_keys) {
        char *out = NULL;
        const char *reason = NULL;
        ck_assert_int_eq(sshkey_normalize(bad[_i].in, &out, &reason), -EINVAL);
        ck_assert_ptr_null(out);
        ck_assert_str_eq(reason, bad[_i].reason);
}
END_TEST

START_TEST(test_present) {
        const char *file = "# keys\n"
                           "ssh-rsa " RSA " old-comment\n"
                           "no-pty,command=\"echo a b\" ssh-ed25519 " ED "\r\n"
                           "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOther\n";
        ck_assert(sshkey_present(file, "ssh-rsa " RSA " another-comment"));
        ck_assert(sshkey_present(file, "ssh-rsa " RSA));
        ck_assert(sshkey_present(file, "ssh-ed25519 " ED " x"));
        ck_assert(sshkey_present(file, "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOther"));
        /* A substring of a present key, or the same base64 with another type, is not it. */
        ck_assert(!sshkey_present(file, "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI"));
        ck_assert(!sshkey_present(file, "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7fixture"));
        ck_assert(!sshkey_present(file, "ssh-dss " RSA));
        ck_assert(!sshkey_present("# ssh-rsa " RSA "\n", "ssh-rsa " RSA));
        ck_assert(!sshkey_present("", "ssh-rsa " RSA));
        ck_assert(!sshkey_present(NULL, "ssh-rsa " RSA));
}
END_TEST

static Suite *sshkey_suite(void) {
        Suite *s = suite_create("sshkey");
        TCase *tc = tcase_create("core");
        tcase_add_loop_test(tc, test_good_keys, 0, (int)ELEMENTSOF(good));
        tcase_add_loop_test(tc, test_bad_keys, 0, (int)ELEMENTSOF(bad));
        tcase_add_test(tc, test_present);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return tu_run_suite(sshkey_suite());
}
