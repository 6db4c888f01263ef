/* e2e: tolerance of real Azure documents (DESIGN, "Field rules"; issue 10, known
 * disagreements): a malformed optional IMDS field, undecodable OVF CustomData, the
 * kept custom data on a VM without a DMI id, UserPassword and PreprovisionedVm. */
#include <stdlib.h>
#include <string.h>

#include "e2e.h"
#include "testutil.h"

#define STATE_DIR "/var/lib/vsensor-init"
#define LOG_FILE "/var/log/user-data.log"

static E2e e;

static const char *const run_args[] = {"run", NULL};

static bool need_root(void) {
        if (geteuid() == 0) return true;
        printf("%s: skipped: needs root (useradd --root)\n", tcase_name());
        return false;
}

/* Returns a copy of text with the first `from` replaced by `to`. */
static char *replace(const char *text, const char *from, const char *to) {
        const char *at = strstr(text, from);
        ck_assert_msg(at != NULL, "no \"%s\" to replace", from);
        char *out = NULL;
        ck_assert_int_ge(asprintf_safe(&out, "%.*s%s%s", (int)(at - text), text, to, at + strlen(from)), 0);
        return out;
}

static void serve_instance(const char *json) {
        ck_assert_int_eq(fake_server_route(e.fake, "GET", "/metadata/instance",
                                           &(FakeResponse){.body = json, .content_type = "application/json"}, 1), 0);
}

/* The fixture instance document with one value replaced. */
static void serve_instance_with(const char *from, const char *to) {
        _cleanup_free_ char *instance = tu_read_top("test/data/imds/instance.json", NULL);
        ck_assert_ptr_nonnull(instance);
        _cleanup_free_ char *changed = replace(instance, from, to);
        serve_instance(changed);
}

static void remove_under_root(const char *path) {
        _cleanup_free_ char *p = path_under_root(e.root, path);
        ck_assert_int_eq(unlink(p), 0);
}

/* A non-UUID compute.vmId (and a zone of the wrong type) costs only those fields when
 * DMI gave the id: the run goes on, the log names what was left out. */
START_TEST(malformed_optional_imds_fields_do_not_sink_the_document) {
        e2e_setup(&e, NULL);
        e2e_serve_userdata(&e, e2e_custom_data);
        _cleanup_free_ char *instance = tu_read_top("test/data/imds/instance.json", NULL);
        _cleanup_free_ char *a = replace(instance, "\"6F1C1A8E-9A4B-4A51-8C5E-2A0D3F4B5C6D\"", "\"vm-42\"");
        _cleanup_free_ char *b = replace(a, "\"zone\": \"1\"", "\"zone\": {\"n\": 1}");
        serve_instance(b);
        ck_assert_msg(e2e_run(&e, run_args) == 0, "exit %d\n%s", e.exit_code, e.err);
        _cleanup_free_ char *log = e2e_read(&e, LOG_FILE);
        ck_assert_contains(log, "IMDS instance metadata: ignored what is malformed: compute.zone: expected a string; "
                                "compute.vmId: not a UUID");
        ck_assert_contains(log, "(VM id " E2E_VM_ID ")");
        ck_assert_int_eq(e2e_run(&e, (const char *[]){"status", NULL}), 0);
        ck_assert_contains(e.out, "VM id: " E2E_VM_ID "\n");
        _cleanup_free_ char *calls = e2e_helper_calls(&e);
        ck_assert_str_eq(calls, e2e_custom_data_calls);
        e2e_teardown(&e);
}
END_TEST

/* Without a DMI id a malformed vmId leaves no VM id at all: provisioning cannot key
 * its marker, exit 70 naming both sources. */
START_TEST(malformed_vmid_without_dmi_is_no_vm_id) {
        e2e_setup(&e, &(E2eOptions){.provisioning = "agent"});
        e2e_serve_userdata(&e, e2e_custom_data);
        remove_under_root("/sys/class/dmi/id/product_uuid");
        serve_instance_with("\"6F1C1A8E-9A4B-4A51-8C5E-2A0D3F4B5C6D\"", "\"vm-42\"");
        ck_assert_int_eq(e2e_run(&e, run_args), 70);
        ck_assert_contains(e.err, "no VM id: DMI product_uuid is unreadable and IMDS has no usable vmId");
        e2e_teardown(&e);
}
END_TEST

/* Undecodable CustomData on the media is invalid custom data (exit 65), but host
 * name, admin user and keys still come from the OVF; and its non-empty UserPassword
 * is named in the log with what the agent does about it. */
START_TEST(undecodable_ovf_custom_data_still_provisions_from_the_ovf) {
        if (!need_root()) return;
        e2e_setup(&e, &(E2eOptions){.provisioning = "agent"});
        _cleanup_free_ char *ovf = tu_read_top("test/data/ovf/azure.xml", NULL);
        _cleanup_free_ char *bad = replace(ovf, "<wa:CustomData>dnNl", "<wa:CustomData>!!not base64!!");
        e2e_put(&e, "/media/ovf/ovf-env.xml", bad, 0644);
        _cleanup_free_ char *instance = tu_read_top("test/data/imds/instance-no-osprofile.json", NULL);
        serve_instance(instance);
        ck_assert_int_eq(e2e_run(&e, run_args), 65);
        ck_assert_contains(e.err, "invalid custom data from the provisioning media: ovf-env.xml:");
        ck_assert_contains(e.err, "CustomData is not base64");
        /* Not the next source: the media had custom data, it is just bad. */
        ck_assert_uint_eq(e2e_count(&e, "GET", "/metadata/instance/compute/userData"), 0);
        _cleanup_free_ char *host = e2e_read(&e, "/etc/hostname");
        ck_assert_str_eq(host, "vsensor-vmss000001\n");
        _cleanup_free_ char *passwd = e2e_read(&e, "/etc/passwd");
        ck_assert_contains(passwd, "\nazureuser:");
        _cleanup_free_ char *keys = e2e_read(&e, "/home/azureuser/.ssh/authorized_keys");
        ck_assert_contains(keys, "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7fixturekey1==");
        _cleanup_free_ char *log = e2e_read(&e, LOG_FILE);
        ck_assert_contains(log, "sets a UserPassword: vsensor-init never sets passwords; the admin user logs in with "
                                "its SSH keys only (PasswordAuthentication no)");
        ck_assert_not_contains(log, "Fixture-Passw0rd");
        _cleanup_free_ char *calls = e2e_helper_calls(&e);
        ck_assert_str_eq(calls, "");
        e2e_teardown(&e);
}
END_TEST

/* IMDS userData that is not base64: invalid custom data (65), OS provisioning done. */
START_TEST(undecodable_imds_userdata_still_provisions) {
        if (!need_root()) return;
        e2e_setup(&e, &(E2eOptions){.provisioning = "agent"});
        ck_assert_int_eq(fake_server_route(e.fake, "GET", "/metadata/instance/compute/userData",
                                           &(FakeResponse){.body = "%%% not base64 %%%"}, 1), 0);
        ck_assert_int_eq(e2e_run(&e, run_args), 65);
        ck_assert_contains(e.err, "invalid custom data from IMDS userData: userData is not base64");
        _cleanup_free_ char *host = e2e_read(&e, "/etc/hostname");
        ck_assert_str_eq(host, "vsensor000003\n");
        e2e_teardown(&e);
}
END_TEST

/* PreprovisionedVm=true: Azure's pool reprovisioning is not supported; the run says
 * so and stops (exit 65) before provisioning anything from the pool's document. */
START_TEST(preprovisioned_vm_is_refused_by_name) {
        e2e_setup(&e, &(E2eOptions){.provisioning = "agent"});
        _cleanup_free_ char *ovf = tu_read_top("test/data/ovf/azure.xml", NULL);
        _cleanup_free_ char *pre = replace(ovf, "<wa:PreprovisionedVm>false", "<wa:PreprovisionedVm>true");
        e2e_put(&e, "/media/ovf/ovf-env.xml", pre, 0644);
        ck_assert_int_eq(e2e_run(&e, run_args), 65);
        ck_assert_contains(e.err, "PreprovisionedVm is true: pre-provisioned VMs (Azure's pool reprovisioning) are not "
                                  "supported by vsensor-init");
        ck_assert(!e2e_exists(&e, "/etc/hostname"));
        /* Azure hears why. */
        ck_assert_uint_ge(e2e_count(&e, "POST", "/machine"), 1);
        e2e_teardown(&e);
}
END_TEST

/* No DMI id (the VM id is known only after metadata): repair and a resumed run use
 * the custom data kept by the first run, not whatever the sources say now. */
START_TEST(kept_custom_data_used_without_dmi_id) {
        e2e_setup(&e, NULL);
        remove_under_root("/sys/class/dmi/id/product_uuid");
        e2e_serve_userdata(&e, e2e_custom_data);
        ck_assert_msg(e2e_run(&e, run_args) == 0, "exit %d\n%s", e.exit_code, e.err);
        ck_assert(e2e_exists(&e, STATE_DIR "/custom-data"));
        ck_assert_int_eq(e2e_run(&e, (const char *[]){"status", NULL}), 0);
        ck_assert_contains(e.out, "VM id: " E2E_VM_ID "\n");

        /* The source is gone now (as the media is after the first boot). */
        e2e_serve_userdata(&e, "");
        size_t userdata_before = e2e_count(&e, "GET", "/metadata/instance/compute/userData");
        ck_assert_msg(e2e_run(&e, (const char *[]){"repair", NULL}) == 0, "exit %d\n%s", e.exit_code, e.err);
        ck_assert_contains(e.err, STATE_DIR "/custom-data (kept from the first run) is valid");
        ck_assert_uint_eq(e2e_count(&e, "GET", "/metadata/instance/compute/userData"), userdata_before);
        /* The vSensor steps ran again with the kept secrets. */
        _cleanup_free_ char *calls = e2e_helper_calls(&e);
        _cleanup_free_ char *twice = strjoin(e2e_custom_data_calls, e2e_custom_data_calls, NULL);
        ck_assert_str_eq(calls, twice);

        /* A resume after a failure: the register helper fails once, the rerun resumes
         * with the kept copy. */
        e2e_put(&e, "/fake/fail/set_pushtoken.sh", "2\n", 0644);
        ck_assert_int_eq(e2e_run(&e, (const char *[]){"repair", NULL}), 75);
        ck_assert_int_eq(e2e_run(&e, (const char *[]){"status", NULL}), 0);
        ck_assert_contains(e.out, "register       failed");
        ck_assert_msg(e2e_run(&e, run_args) == 0, "exit %d\n%s", e.exit_code, e.err);
        ck_assert_contains(e.err, STATE_DIR "/custom-data (kept from the first run) is valid");
        _cleanup_free_ char *log = e2e_read(&e, LOG_FILE);
        ck_assert_contains(log, "register: done");
        e2e_assert_no_secrets(&e);
        e2e_teardown(&e);
}
END_TEST

static Suite *suite(void) {
        Suite *s = suite_create("e2e-field");
        TCase *tc = tcase_create("field");
        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, malformed_optional_imds_fields_do_not_sink_the_document);
        tcase_add_test(tc, malformed_vmid_without_dmi_is_no_vm_id);
        tcase_add_test(tc, undecodable_ovf_custom_data_still_provisions_from_the_ovf);
        tcase_add_test(tc, undecodable_imds_userdata_still_provisions);
        tcase_add_test(tc, preprovisioned_vm_is_refused_by_name);
        tcase_add_test(tc, kept_custom_data_used_without_dmi_id);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return tu_run_suite(suite());
}
