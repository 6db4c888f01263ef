/* Tests for lib/ovf: namespace matching, fields, CustomData, refusals, password strip. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base64.h"
#include "ovf.h"
#include "testutil.h"
#include "util.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(OvfEnv *, ovf_env_free);
#define _cleanup_ovf_ _cleanup_(ovf_env_freep)

#define KEY1 "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7fixturekey1== azureuser@example"
#define KEY2 "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFixtureKey2 ops@example"

static char *load_fixture(const char *name, size_t *ret_len) {
        _cleanup_free_ char *rel = strjoin("ovf/", name, NULL);
        ck_assert_ptr_nonnull(rel);
        return tu_read_data(rel, ret_len);
}

static int parse_fixture(const char *name, OvfEnv **ret, char *err, size_t errsize) {
        size_t len;
        _cleanup_free_ char *xml = load_fixture(name, &len);
        return ovf_parse(xml, len, ret, err, errsize);
}

static void assert_custom_data(const OvfEnv *e) {
        size_t len;
        _cleanup_free_ char *expected = load_fixture("custom-data.yaml", &len);
        ck_assert_ptr_nonnull(e->custom_data);
        ck_assert_uint_eq(e->custom_data_len, len);
        ck_assert_mem_eq(e->custom_data, expected, len);
        ck_assert_int_eq(e->custom_data[len], 0);
}

START_TEST(test_azure_prefixed) {
        _cleanup_ovf_ OvfEnv *e = NULL;
        char err[256] = "";
        ck_assert_int_eq(parse_fixture("azure.xml", &e, err, sizeof err), 0);
        ck_assert_str_eq(e->hostname, "vsensor-vmss000001");
        ck_assert_str_eq(e->username, "azureuser");
        ck_assert(e->has_password);
        ck_assert(e->password_nonempty);
        ck_assert(!e->preprovisioned_vm);           /* "false" */
        ck_assert_ptr_null(e->custom_data_error);
        ck_assert(e->disable_ssh_password_auth);   /* "True" */
        ck_assert_uint_eq(strv_length(e->ssh_public_keys), 2);
        ck_assert_uint_eq(strv_length(e->ssh_public_key_paths), 2);
        ck_assert_str_eq(e->ssh_public_keys[0], KEY1);
        ck_assert_str_eq(e->ssh_public_key_paths[0], "/home/azureuser/.ssh/authorized_keys");
        ck_assert_str_eq(e->ssh_public_keys[1], KEY2);   /* surrounding whitespace trimmed */
        ck_assert_str_eq(e->ssh_public_key_paths[1], "");
        assert_custom_data(e);
}
END_TEST

START_TEST(test_azure_oneline_default_ns_on_set) {
        _cleanup_ovf_ OvfEnv *e = NULL;
        char err[256] = "";
        ck_assert_int_eq(parse_fixture("azure-oneline.xml", &e, err, sizeof err), 0);
        ck_assert_str_eq(e->hostname, "vsensor-vmss000002");
        ck_assert_str_eq(e->username, "dtadmin");
        ck_assert(!e->has_password);
        ck_assert(!e->disable_ssh_password_auth);
        ck_assert_uint_eq(strv_length(e->ssh_public_keys), 1);
        ck_assert_str_eq(e->ssh_public_keys[0], KEY1);
        ck_assert_str_eq(e->ssh_public_key_paths[0], "/home/dtadmin/.ssh/authorized_keys");
        assert_custom_data(e);
}
END_TEST

START_TEST(test_default_namespace) {
        _cleanup_ovf_ OvfEnv *e = NULL;
        char err[256] = "";
        ck_assert_int_eq(parse_fixture("default-ns.xml", &e, err, sizeof err), 0);
        ck_assert_str_eq(e->hostname, "default-ns-host");
        ck_assert_str_eq(e->username, "nsuser");
        ck_assert(!e->has_password);
        ck_assert(!e->disable_ssh_password_auth);   /* "FALSE" */
        ck_assert_uint_eq(strv_length(e->ssh_public_keys), 1);
        ck_assert_str_eq(e->ssh_public_keys[0], KEY2);
        ck_assert_str_eq(e->ssh_public_key_paths[0], "/home/nsuser/.ssh/authorized_keys");
        assert_custom_data(e);
}
END_TEST

START_TEST(test_other_prefix) {
        _cleanup_ovf_ OvfEnv *e = NULL;
        char err[256] = "";
        ck_assert_int_eq(parse_fixture("other-prefix.xml", &e, err, sizeof err), 0);
        ck_assert_str_eq(e->hostname, "other-prefix-host");
        ck_assert_str_eq(e->username, "prefixuser");
        ck_assert(e->has_password);                  /* present, even empty */
        ck_assert(!e->disable_ssh_password_auth);    /* absent => false */
        ck_assert_ptr_nonnull(e->ssh_public_keys);
        ck_assert_ptr_null(e->ssh_public_keys[0]);
        ck_assert_ptr_nonnull(e->ssh_public_key_paths);
        ck_assert_ptr_null(e->ssh_public_key_paths[0]);
        assert_custom_data(e);                       /* base64 wrapped over lines */
}
END_TEST

/* Elements of another namespace never match: here the whole configuration set is in
 * one, so the document has no LinuxProvisioningConfigurationSet at all and nothing to
 * provision from (DESIGN, Field rules: it stops provisioning from the media). */
START_TEST(test_wrong_namespace_ignored) {
        OvfEnv *e = NULL;
        char err[256] = "";
        ck_assert_int_eq(parse_fixture("wrong-ns.xml", &e, err, sizeof err), -EBADMSG);
        ck_assert_ptr_null(e);
        ck_assert_str_eq(err, "ovf-env.xml: no LinuxProvisioningConfigurationSet in namespace " OVF_NAMESPACE);
}
END_TEST

START_TEST(test_no_configuration_set) {
        static const char xml[] = "<Environment xmlns:wa=\"" OVF_NAMESPACE "\"><wa:ProvisioningSection>"
                                  "<wa:Version>1.0</wa:Version></wa:ProvisioningSection></Environment>";
        OvfEnv *e = NULL;
        char err[256] = "";
        ck_assert_int_eq(ovf_parse(xml, strlen(xml), &e, err, sizeof err), -EBADMSG);
        ck_assert_ptr_null(e);
        ck_assert_str_eq(err, "ovf-env.xml: no LinuxProvisioningConfigurationSet in namespace " OVF_NAMESPACE);
}
END_TEST

START_TEST(test_malformed) {
        OvfEnv *e = NULL;
        char err[256] = "";
        ck_assert_int_eq(parse_fixture("malformed.xml", &e, err, sizeof err), -EBADMSG);
        ck_assert_ptr_null(e);
        ck_assert_msg(strncmp(err, "ovf-env.xml:5: ", 15) == 0, "err: %s", err);
        ck_assert_msg(strstr(err, "mismatched tag"), "err: %s", err);
}
END_TEST

START_TEST(test_doctype_bomb_refused) {
        OvfEnv *e = NULL;
        char err[256] = "";
        int64_t t0 = now_monotonic_ms();
        ck_assert_int_eq(parse_fixture("doctype-bomb.xml", &e, err, sizeof err), -EBADMSG);
        ck_assert_ptr_null(e);
        ck_assert_msg(strncmp(err, "ovf-env.xml:2: ", 15) == 0, "err: %s", err);
        ck_assert_msg(strstr(err, "DOCTYPE not allowed"), "err: %s", err);
        ck_assert_int_lt(now_monotonic_ms() - t0, 1000);
}
END_TEST

START_TEST(test_external_doctype_refused) {
        static const char xml[] =
                "<?xml version=\"1.0\"?>\n<!DOCTYPE Environment SYSTEM \"file:///etc/passwd\">\n"
                "<Environment xmlns:wa=\"" OVF_NAMESPACE "\"><wa:ProvisioningSection>"
                "<wa:LinuxProvisioningConfigurationSet><wa:HostName>x</wa:HostName>"
                "</wa:LinuxProvisioningConfigurationSet></wa:ProvisioningSection></Environment>";
        OvfEnv *e = NULL;
        char err[256] = "";
        ck_assert_int_eq(ovf_parse(xml, strlen(xml), &e, err, sizeof err), -EBADMSG);
        ck_assert_ptr_null(e);
        ck_assert_msg(strstr(err, "DOCTYPE"), "err: %s", err);
}
END_TEST

/* Undecodable CustomData is invalid custom data, not an unusable document: the host
 * name, user and keys still serve (DESIGN, Field rules). */
START_TEST(test_bad_base64) {
        _cleanup_ovf_ OvfEnv *e = NULL;
        char err[256] = "";
        ck_assert_int_eq(parse_fixture("bad-base64.xml", &e, err, sizeof err), 0);
        ck_assert_ptr_null(e->custom_data);
        ck_assert_ptr_nonnull(e->custom_data_error);
        ck_assert_msg(strncmp(e->custom_data_error, "ovf-env.xml:6: CustomData is not base64", 39) == 0, "err: %s",
                      e->custom_data_error);
        ck_assert_ptr_nonnull(e->hostname);
}
END_TEST

START_TEST(test_password_and_preprovisioned) {
        static const struct {
                const char *inner, *platform;
                bool has, nonempty, pre;
        } t[] = {
                {"<wa:UserPassword></wa:UserPassword>", "", true, false, false},
                {"<wa:UserPassword>  \n </wa:UserPassword>", "", true, false, false},
                {"<wa:UserPassword>s3cr&amp;t</wa:UserPassword>", "", true, true, false},
                {"", "<wa:PreprovisionedVm>True</wa:PreprovisionedVm>", false, false, true},
                {"", "<wa:PreprovisionedVm>false</wa:PreprovisionedVm>", false, false, false},
                {"", "<wa:PreprovisionedVm>maybe</wa:PreprovisionedVm>", false, false, false},
        };
        for (size_t i = 0; i < ELEMENTSOF(t); i++) {
                _cleanup_free_ char *xml = strjoin("<Environment xmlns:wa=\"" OVF_NAMESPACE "\"><wa:ProvisioningSection>"
                                                   "<wa:LinuxProvisioningConfigurationSet><wa:HostName>h</wa:HostName>",
                                                   t[i].inner, "</wa:LinuxProvisioningConfigurationSet></wa:ProvisioningSection>");
                _cleanup_free_ char *doc = strjoin(xml, "<wa:PlatformSettingsSection><wa:PlatformSettings>", t[i].platform);
                _cleanup_free_ char *full = strjoin(doc, "</wa:PlatformSettings></wa:PlatformSettingsSection></Environment>",
                                                    NULL);
                _cleanup_ovf_ OvfEnv *e = NULL;
                char err[256] = "";
                ck_assert_msg(ovf_parse(full, strlen(full), &e, err, sizeof err) == 0, "%zu: %s", i, err);
                ck_assert_msg(e->has_password == t[i].has && e->password_nonempty == t[i].nonempty &&
                                      e->preprovisioned_vm == t[i].pre,
                              "case %zu", i);
                ck_assert_str_eq(e->hostname, "h");
        }
}
END_TEST

/* A minimal document around one LinuxProvisioningConfigurationSet body. */
static char *wrap_set(const char *inner) {
        return strjoin("<Environment xmlns:wa=\"" OVF_NAMESPACE "\"><wa:ProvisioningSection>"
                       "<wa:LinuxProvisioningConfigurationSet>",
                       inner, "</wa:LinuxProvisioningConfigurationSet></wa:ProvisioningSection></Environment>");
}

START_TEST(test_disable_password_auth_values) {
        static const struct { const char *text; int r; bool value; } cases[] = {
                { "true", 0, true }, { "TRUE", 0, true }, { " tRuE\n", 0, true },
                { "false", 0, false }, { "False", 0, false },
                { "yes", -EBADMSG, false }, { "1", -EBADMSG, false }, { "", -EBADMSG, false },
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_free_ char *inner = strjoin("<wa:DisableSshPasswordAuthentication>", cases[i].text,
                                                     "</wa:DisableSshPasswordAuthentication>");
                _cleanup_free_ char *xml = wrap_set(inner);
                _cleanup_ovf_ OvfEnv *e = NULL;
                char err[256] = "";
                int r = ovf_parse(xml, strlen(xml), &e, err, sizeof err);
                ck_assert_msg(r == cases[i].r, "case '%s': r=%d", cases[i].text, r);
                if (r == 0)
                        ck_assert(e->disable_ssh_password_auth == cases[i].value);
                else
                        ck_assert_msg(strstr(err, "DisableSshPasswordAuthentication"), "err: %s", err);
        }
}
END_TEST

START_TEST(test_key_without_value_skipped) {
        _cleanup_free_ char *xml = wrap_set(
                "<wa:SSH><wa:PublicKeys>"
                "<wa:PublicKey><wa:Path>/root/x</wa:Path><wa:Fingerprint>AA</wa:Fingerprint></wa:PublicKey>"
                "<wa:PublicKey><wa:Value>ssh-ed25519 AAAA second</wa:Value><wa:Path>/p2</wa:Path></wa:PublicKey>"
                "</wa:PublicKeys></wa:SSH>"
                "<wa:Value>ssh-rsa OUTSIDE</wa:Value>");
        _cleanup_ovf_ OvfEnv *e = NULL;
        char err[256] = "";
        ck_assert_int_eq(ovf_parse(xml, strlen(xml), &e, err, sizeof err), 0);
        ck_assert_uint_eq(strv_length(e->ssh_public_keys), 1);
        ck_assert_str_eq(e->ssh_public_keys[0], "ssh-ed25519 AAAA second");
        ck_assert_str_eq(e->ssh_public_key_paths[0], "/p2");
        ck_assert_ptr_null(e->custom_data);
}
END_TEST

START_TEST(test_empty_custom_data) {
        _cleanup_free_ char *xml = wrap_set("<wa:CustomData/>");
        _cleanup_ovf_ OvfEnv *e = NULL;
        char err[256] = "";
        ck_assert_int_eq(ovf_parse(xml, strlen(xml), &e, err, sizeof err), 0);
        ck_assert_ptr_nonnull(e->custom_data);   /* present but empty: the agent refuses it */
        ck_assert_uint_eq(e->custom_data_len, 0);
}
END_TEST

static char *custom_data_doc(size_t decoded_size) {
        _cleanup_free_ char *raw = malloc(decoded_size);
        ck_assert_ptr_nonnull(raw);
        memset(raw, 'y', decoded_size);
        _cleanup_free_ char *b64 = base64_encode(raw, decoded_size);
        ck_assert_ptr_nonnull(b64);
        _cleanup_free_ char *inner = strjoin("<wa:CustomData>", b64, "</wa:CustomData>");
        return wrap_set(inner);
}

START_TEST(test_custom_data_cap) {
        char err[256] = "";
        _cleanup_free_ char *ok = custom_data_doc(OVF_CUSTOM_DATA_MAX);
        _cleanup_free_ char *big = custom_data_doc(OVF_CUSTOM_DATA_MAX + 1);
        _cleanup_ovf_ OvfEnv *e = NULL;
        OvfEnv *e2 = NULL;

        ck_assert_int_eq(ovf_parse(ok, strlen(ok), &e, err, sizeof err), 0);
        ck_assert_uint_eq(e->custom_data_len, OVF_CUSTOM_DATA_MAX);
        /* Oversized: invalid custom data, the document still parses. */
        ck_assert_int_eq(ovf_parse(big, strlen(big), &e2, err, sizeof err), 0);
        ck_assert_ptr_null(e2->custom_data);
        ck_assert_msg(e2->custom_data_error && strstr(e2->custom_data_error, "CustomData larger than 64 KiB"), "err: %s",
                      e2->custom_data_error);
        e2 = ovf_env_free(e2);
}
END_TEST

START_TEST(test_document_cap) {
        size_t len = OVF_MAX_SIZE + 1;
        _cleanup_free_ char *xml = malloc(len);
        OvfEnv *e = NULL;
        char err[256] = "";
        char *stripped = NULL;
        ck_assert_ptr_nonnull(xml);
        memset(xml, ' ', len);
        ck_assert_int_eq(ovf_parse(xml, len, &e, err, sizeof err), -EFBIG);
        ck_assert_ptr_null(e);
        ck_assert_int_eq(ovf_strip_secrets(xml, len, &stripped, NULL), -EFBIG);
        ck_assert_ptr_null(stripped);
}
END_TEST

START_TEST(test_field_cap) {
        _cleanup_free_ char *name = malloc(17 * 1024 + 1);
        ck_assert_ptr_nonnull(name);
        memset(name, 'h', 17 * 1024);
        name[17 * 1024] = 0;
        _cleanup_free_ char *inner = strjoin("<wa:HostName>", name, "</wa:HostName>");
        _cleanup_free_ char *xml = wrap_set(inner);
        OvfEnv *e = NULL;
        char err[256] = "";
        ck_assert_int_eq(ovf_parse(xml, strlen(xml), &e, err, sizeof err), -EBADMSG);
        ck_assert_ptr_null(e);
        ck_assert_msg(strstr(err, "longer than"), "err: %s", err);
}
END_TEST

/* Removes every occurrence of needle from s (the expected result of a strip). */
static char *remove_all(const char *s, const char *needle) {
        size_t n = strlen(needle), o = 0;
        char *out = malloc(strlen(s) + 1);
        ck_assert_ptr_nonnull(out);
        for (const char *p = s; *p;) {
                if (strncmp(p, needle, n) == 0)
                        p += n;
                else
                        out[o++] = *p++;
        }
        out[o] = 0;
        return out;
}

START_TEST(test_strip_password_fixture) {
        size_t len, out_len = 0;
        _cleanup_free_ char *xml = load_fixture("azure.xml", &len);
        _cleanup_free_ char *out = NULL;
        _cleanup_free_ char *no_pw = remove_all(xml, "Fixture-Passw0rd&amp;&lt;x&gt;");
        /* The CustomData text of the fixture, as it sits between its tags. */
        const char *cd_start = strstr(no_pw, "<wa:CustomData>") + strlen("<wa:CustomData>");
        _cleanup_free_ char *cd_text = strndup(cd_start, (size_t)(strstr(cd_start, "</wa:CustomData>") - cd_start));
        _cleanup_free_ char *expected = remove_all(no_pw, cd_text);
        _cleanup_ovf_ OvfEnv *e = NULL;
        char err[256] = "";

        ck_assert_int_eq(ovf_strip_secrets(xml, len, &out, &out_len), 0);
        ck_assert_uint_eq(out_len, strlen(expected));
        ck_assert_str_eq(out, expected);
        ck_assert_ptr_null(strstr(out, "Passw0rd"));
        ck_assert_ptr_nonnull(strstr(out, "<wa:UserPassword></wa:UserPassword>"));
        /* The copy is still a valid document with everything else in it. */
        ck_assert_int_eq(ovf_parse(out, out_len, &e, err, sizeof err), 0);
        ck_assert(e->has_password);
        ck_assert_str_eq(e->hostname, "vsensor-vmss000001");
        /* The custom data is gone too: it has its own single copy. */
        ck_assert_uint_eq(e->custom_data_len, 0);
}
END_TEST

START_TEST(test_strip_password_variants) {
        static const struct { const char *in, *out; } cases[] = {
                /* default namespace, CDATA and a comment inside */
                { "<E xmlns=\"" OVF_NAMESPACE "\"><UserPassword>a<![CDATA[b<c]]><!--x-->d</UserPassword></E>",
                  "<E xmlns=\"" OVF_NAMESPACE "\"><UserPassword></UserPassword></E>" },
                /* any prefix, several elements, whitespace in the end tag */
                { "<x:E xmlns:x=\"" OVF_NAMESPACE "\"><x:UserPassword attr=\"1\">s1</x:UserPassword >"
                  "<x:Other>keep</x:Other><x:UserPassword>s2</x:UserPassword></x:E>",
                  "<x:E xmlns:x=\"" OVF_NAMESPACE "\"><x:UserPassword attr=\"1\"></x:UserPassword >"
                  "<x:Other>keep</x:Other><x:UserPassword></x:UserPassword></x:E>" },
                /* empty element and nested markup */
                { "<E><UserPassword/><UserPassword><b>s3</b>s4</UserPassword></E>",
                  "<E><UserPassword/><UserPassword></UserPassword></E>" },
                /* nothing to strip */
                { "<E><UserName>u</UserName></E>", "<E><UserName>u</UserName></E>" },
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_free_ char *out = NULL;
                size_t out_len = 0;
                ck_assert_int_eq(ovf_strip_secrets(cases[i].in, strlen(cases[i].in), &out, &out_len), 0);
                ck_assert_str_eq(out, cases[i].out);
                ck_assert_uint_eq(out_len, strlen(cases[i].out));
        }
}
END_TEST

START_TEST(test_strip_password_refuses_bad_input) {
        static const char bomb[] = "<!DOCTYPE E [<!ENTITY a \"x\">]><E><UserPassword>&a;</UserPassword></E>";
        static const char broken[] = "<E><UserPassword>secret</E>";
        char *out = NULL;
        ck_assert_int_eq(ovf_strip_secrets(bomb, strlen(bomb), &out, NULL), -EBADMSG);
        ck_assert_int_eq(ovf_strip_secrets(broken, strlen(broken), &out, NULL), -EBADMSG);
        ck_assert_ptr_null(out);
}
END_TEST

START_TEST(test_read_dir) {
        char tmpl[] = "/tmp/test-ovf-XXXXXX";
        char *dir = mkdtemp(tmpl);
        ck_assert_ptr_nonnull(dir);
        _cleanup_free_ char *file = strjoin(dir, "/ovf-env.xml", NULL);
        size_t len;
        _cleanup_free_ char *xml = load_fixture("azure.xml", &len);
        OvfEnv *e = NULL;
        char err[256] = "";

        ck_assert_int_eq(ovf_read_dir(dir, &e, err, sizeof err), -ENOENT);
        ck_assert_ptr_null(e);
        ck_assert_msg(strstr(err, "ovf-env.xml"), "err: %s", err);

        ck_assert_int_eq(write_file_atomic(file, xml, len, 0600), 0);
        ck_assert_int_eq(ovf_read_dir(dir, &e, err, sizeof err), 0);
        ck_assert_str_eq(e->hostname, "vsensor-vmss000001");
        assert_custom_data(e);
        e = ovf_env_free(e);
        ck_assert_ptr_null(e);

        _cleanup_free_ char *big = malloc(OVF_MAX_SIZE + 10);
        ck_assert_ptr_nonnull(big);
        memset(big, ' ', OVF_MAX_SIZE + 10);
        ck_assert_int_eq(write_file_atomic(file, big, OVF_MAX_SIZE + 10, 0600), 0);
        ck_assert_int_eq(ovf_read_dir(dir, &e, err, sizeof err), -EFBIG);
        ck_assert_ptr_null(e);

        ck_assert_int_eq(unlink(file), 0);
        ck_assert_int_eq(rmdir(dir), 0);
}
END_TEST

START_TEST(test_free_null) {
        ck_assert_ptr_null(ovf_env_free(NULL));
}
END_TEST

static Suite *ovf_suite(void) {
        Suite *s = suite_create("ovf");
        TCase *tc = tcase_create("core");
        tcase_add_test(tc, test_azure_prefixed);
        tcase_add_test(tc, test_azure_oneline_default_ns_on_set);
        tcase_add_test(tc, test_default_namespace);
        tcase_add_test(tc, test_other_prefix);
        tcase_add_test(tc, test_wrong_namespace_ignored);
        tcase_add_test(tc, test_malformed);
        tcase_add_test(tc, test_doctype_bomb_refused);
        tcase_add_test(tc, test_external_doctype_refused);
        tcase_add_test(tc, test_bad_base64);
        tcase_add_test(tc, test_no_configuration_set);
        tcase_add_test(tc, test_password_and_preprovisioned);
        tcase_add_test(tc, test_disable_password_auth_values);
        tcase_add_test(tc, test_key_without_value_skipped);
        tcase_add_test(tc, test_empty_custom_data);
        tcase_add_test(tc, test_custom_data_cap);
        tcase_add_test(tc, test_document_cap);
        tcase_add_test(tc, test_field_cap);
        tcase_add_test(tc, test_strip_password_fixture);
        tcase_add_test(tc, test_strip_password_variants);
        tcase_add_test(tc, test_strip_password_refuses_bad_input);
        tcase_add_test(tc, test_read_dir);
        tcase_add_test(tc, test_free_null);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return tu_run_suite(ovf_suite());
}
