/* test-config: the agent configuration, driven by test/data/config/{valid,invalid}/
 * (under $TOP, else the current directory), plus file layering and drop-ins.
 *
 * invalid/NAME/expected: the exact problem lines ("input.yaml:LINE:COLUMN: message");
 * the configuration must be left exactly at its defaults.
 * valid/NAME/expected: every field as "section.key=value" after applying input.yaml
 * over the defaults, in the order of dump() below. Adding a case needs no code. */
#include <check.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "config.h"
#include "testutil.h"

#define CORPUS_MAX_CASES 256

static char *invalid_cases[CORPUS_MAX_CASES];
static size_t n_invalid;
static char *valid_cases[CORPUS_MAX_CASES];
static size_t n_valid;

static char *dump(const Config *c) {
        char *buf = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&buf, &size);
        ck_assert_ptr_nonnull(f);
        fprintf(f, "provisioning=%s\n", provisioning_mode_to_string(c->provisioning));
        fprintf(f, "report_ready=%s\n", report_ready_mode_to_string(c->report_ready));
        fprintf(f, "imds.url=%s\nimds.deadline=%d\n", c->imds_url, c->imds_deadline);
        fprintf(f, "wireserver.url=%s\nwireserver.deadline=%d\n", c->wireserver_url, c->wireserver_deadline);
        fprintf(f, "installer.url=%s\ninstaller.ca_file=%s\ninstaller.deadline=%d\n", c->installer_url,
                c->installer_ca_file, c->installer_deadline);
        fprintf(f, "apt_lock_deadline=%d\n", c->apt_lock_deadline);
        fprintf(f, "helpers.attempts=%d\nhelpers.timeout=%d\n", c->helper_attempts, c->helper_timeout);
        fprintf(f, "paths.helpers_dir=%s\npaths.log_file=%s\npaths.state_dir=%s\n", c->helpers_dir, c->log_file,
                c->state_dir);
        fprintf(f, "paths.success_marker=%s\npaths.installed_marker=%s\npaths.ovf_media=%s\n", c->success_marker,
                c->installed_marker, c->ovf_media);
        fprintf(f, "paths.waagent_dir=%s\npaths.kvp_pool=%s\n", c->waagent_dir, c->kvp_pool);
        fclose(f);
        return buf;
}

static char *defaults_dump(void) {
        Config c;
        ck_assert_int_eq(config_init_defaults(&c), 0);
        char *d = dump(&c);
        config_done(&c);
        return d;
}

START_TEST(test_corpus_invalid) {
        const char *name = invalid_cases[_i];
        size_t len, elen;
        _cleanup_free_ char *input = tu_read_case("config/invalid", name, "input.yaml", &len);
        _cleanup_free_ char *expected = tu_read_case("config/invalid", name, "expected", &elen);
        _cleanup_free_ char *defaults = defaults_dump();
        Config c;
        Problems p;

        ck_assert_int_eq(config_init_defaults(&c), 0);
        ck_assert_int_eq(problems_init(&p, "input.yaml"), 0);
        int r = config_load_string(&c, input, len, &p);
        ck_assert_msg(r == -EINVAL, "%s: expected -EINVAL, got %d", name, r);
        _cleanup_free_ char *text = tu_problems_text(&p);
        ck_assert_msg(streq(text, expected), "%s:\n--- expected\n%s--- got\n%s", name, expected, text);

        /* A file with a problem changes nothing. */
        _cleanup_free_ char *after = dump(&c);
        ck_assert_msg(streq(after, defaults), "%s: configuration changed:\n%s", name, after);
        config_done(&c);
        problems_done(&p);
}
END_TEST

START_TEST(test_corpus_valid) {
        const char *name = valid_cases[_i];
        size_t len, elen;
        _cleanup_free_ char *input = tu_read_case("config/valid", name, "input.yaml", &len);
        _cleanup_free_ char *expected = tu_read_case("config/valid", name, "expected", &elen);
        Config c;
        Problems p;

        ck_assert_int_eq(config_init_defaults(&c), 0);
        ck_assert_int_eq(problems_init(&p, "input.yaml"), 0);
        int r = config_load_string(&c, input, len, &p);
        _cleanup_free_ char *text = tu_problems_text(&p);
        ck_assert_msg(r == 0, "%s: expected success, got %d:\n%s", name, r, text);
        _cleanup_free_ char *d = dump(&c);
        ck_assert_msg(streq(d, expected), "%s:\n--- expected\n%s--- got\n%s", name, expected, d);
        config_done(&c);
        problems_done(&p);
}
END_TEST

START_TEST(test_corpus_size) {
        ck_assert_uint_ge(n_invalid, 12);
        ck_assert_uint_ge(n_valid, 5);
}
END_TEST

START_TEST(test_defaults) {
        Config c;
        ck_assert_int_eq(config_init_defaults(&c), 0);
        ck_assert_int_eq(c.provisioning, PROVISIONING_AUTO);
        ck_assert_int_eq(c.report_ready, REPORT_READY_EARLY);
        ck_assert_str_eq(c.imds_url, "http://169.254.169.254");
        ck_assert_int_eq(c.imds_deadline, 300);
        ck_assert_str_eq(c.wireserver_url, "http://168.63.129.16");
        ck_assert_int_eq(c.wireserver_deadline, 1200);
        ck_assert_str_eq(c.installer_url, "https://packages-cdn.darktrace.com/install");
        ck_assert_str_eq(c.installer_ca_file, "");
        ck_assert_int_eq(c.installer_deadline, 1800);
        ck_assert_int_eq(c.apt_lock_deadline, 900);
        ck_assert_int_eq(c.helper_attempts, 3);
        ck_assert_int_eq(c.helper_timeout, 600);
        ck_assert_str_eq(c.helpers_dir, "/usr/sbin");
        ck_assert_str_eq(c.log_file, "/var/log/user-data.log");
        ck_assert_str_eq(c.state_dir, "/var/lib/vsensor-init");
        ck_assert_str_eq(c.success_marker, "/etc/darktrace/.user-data-success");
        ck_assert_str_eq(c.installed_marker, "/etc/darktrace/config.cfg");
        ck_assert_str_eq(c.ovf_media, "auto");
        ck_assert_str_eq(c.waagent_dir, "/var/lib/waagent");
        ck_assert_str_eq(c.kvp_pool, "/var/lib/hyperv/.kvp_pool_1");
        config_done(&c);
        ck_assert_ptr_null(c.imds_url);
        config_done(&c);   /* twice is harmless */
}
END_TEST

START_TEST(test_enum_tables) {
        static const char *const prov[] = { "auto", "agent", "waagent", "none" };
        for (int i = 0; i < _PROVISIONING_MAX; i++) {
                ck_assert_str_eq(provisioning_mode_to_string(i), prov[i]);
                ck_assert_int_eq(provisioning_mode_from_string(prov[i]), i);
        }
        ck_assert_ptr_null(provisioning_mode_to_string(_PROVISIONING_MAX));
        ck_assert_ptr_null(provisioning_mode_to_string(_PROVISIONING_INVALID));
        ck_assert_int_eq(provisioning_mode_from_string("AUTO"), _PROVISIONING_INVALID);
        ck_assert_int_eq(provisioning_mode_from_string(""), _PROVISIONING_INVALID);
        ck_assert_int_eq(provisioning_mode_from_string(NULL), _PROVISIONING_INVALID);

        ck_assert_str_eq(report_ready_mode_to_string(REPORT_READY_EARLY), "early");
        ck_assert_str_eq(report_ready_mode_to_string(REPORT_READY_LATE), "late");
        ck_assert_ptr_null(report_ready_mode_to_string(_REPORT_READY_MAX));
        ck_assert_int_eq(report_ready_mode_from_string("late"), REPORT_READY_LATE);
        ck_assert_int_eq(report_ready_mode_from_string("early"), REPORT_READY_EARLY);
        ck_assert_int_eq(report_ready_mode_from_string("soon"), _REPORT_READY_INVALID);
}
END_TEST

/* --- files --- */

static char tmpdir[64];

static void setup_tmp(void) {
        tu_mkdtemp(tmpdir, sizeof tmpdir, "/tmp/test-config-XXXXXX");
}

static void teardown_tmp(void) {
        if (tmpdir[0]) tu_rm_rf(tmpdir);
}

static char *write_tmp(const char *name, const char *content) {
        char *path = strjoin(tmpdir, "/", name);
        ck_assert_ptr_nonnull(path);
        _cleanup_free_ char *dir = path_dirname(path);
        ck_assert_int_eq(mkdir_p(dir, 0700), 0);
        ck_assert_int_eq(write_file_atomic(path, content, strlen(content), 0600), 0);
        return path;
}

START_TEST(test_file_layering_key_by_key) {
        _cleanup_free_ char *a = write_tmp("a.yaml", "imds:\n  url: http://127.0.0.1:1\n  deadline: 11\nprovisioning: agent\n");
        _cleanup_free_ char *b = write_tmp("b.yaml", "imds:\n  deadline: 22\n");
        Config c;
        Problems p;
        ck_assert_int_eq(config_init_defaults(&c), 0);
        ck_assert_int_eq(problems_init(&p, NULL), 0);
        ck_assert_int_eq(config_load_file(&c, a, &p), 0);
        ck_assert_int_eq(config_load_file(&c, b, &p), 0);
        ck_assert_uint_eq(p.n, 0);
        /* b set only the deadline: a's url and provisioning survive. */
        ck_assert_str_eq(c.imds_url, "http://127.0.0.1:1");
        ck_assert_int_eq(c.imds_deadline, 22);
        ck_assert_int_eq(c.provisioning, PROVISIONING_AGENT);
        ck_assert_int_eq(c.wireserver_deadline, 1200);
        config_done(&c);
        problems_done(&p);
}
END_TEST

START_TEST(test_file_errors) {
        _cleanup_free_ char *missing = strjoin(tmpdir, "/missing.yaml", NULL);
        _cleanup_free_ char *bad = write_tmp("bad.yaml", "imds:\n  deadline: 0\n");
        Config c;
        Problems p;
        ck_assert_int_eq(config_init_defaults(&c), 0);
        ck_assert_int_eq(problems_init(&p, "other"), 0);

        ck_assert_int_eq(config_load_file(&c, missing, &p), -ENOENT);
        ck_assert_int_eq(config_load_file(&c, bad, &p), -EINVAL);
        ck_assert_int_eq(config_load_file(&c, tmpdir, &p), -EISDIR);

        _cleanup_free_ char *expected = NULL;
        ck_assert_int_ge(asprintf_safe(&expected,
                                       "%s: cannot read the configuration: No such file or directory\n"
                                       "%s:2:13: imds.deadline: expected an integer 1..86400 (got \"0\")\n"
                                       "%s: cannot read the configuration: Is a directory\n",
                                       missing, bad, tmpdir), 0);
        _cleanup_free_ char *text = tu_problems_text(&p);
        ck_assert_str_eq(text, expected);
        ck_assert_int_eq(c.imds_deadline, 300);
        config_done(&c);
        problems_done(&p);
}
END_TEST

START_TEST(test_file_size_cap) {
        _cleanup_free_ char *big = malloc(64 * 1024 + 2);
        memset(big, '#', 64 * 1024 + 1);
        big[64 * 1024 + 1] = 0;
        big[64 * 1024 - 1] = '\n';
        _cleanup_free_ char *over = write_tmp("over.yaml", big);
        big[64 * 1024] = 0;
        _cleanup_free_ char *at = write_tmp("at.yaml", big);
        Config c;
        Problems p;
        ck_assert_int_eq(config_init_defaults(&c), 0);
        ck_assert_int_eq(problems_init(&p, NULL), 0);
        ck_assert_int_eq(config_load_file(&c, at, &p), 0);
        ck_assert_uint_eq(p.n, 0);
        ck_assert_int_eq(config_load_file(&c, over, &p), -EINVAL);
        ck_assert_uint_eq(p.n, 1);
        ck_assert_str_eq(p.items[0].message, "configuration is larger than 65536 bytes");
        ck_assert_str_eq(p.items[0].file, over);
        config_done(&c);
        problems_done(&p);
}
END_TEST

START_TEST(test_defaults_files_missing) {
        _cleanup_free_ char *path = strjoin(tmpdir, "/missing/config.yaml", NULL);
        _cleanup_free_ char *dir = strjoin(tmpdir, "/missing/config.d", NULL);
        Config c;
        Problems p;
        ck_assert_int_eq(config_init_defaults(&c), 0);
        ck_assert_int_eq(problems_init(&p, NULL), 0);
        ck_assert_int_eq(config_load_defaults_files(&c, path, dir, &p), 0);
        ck_assert_uint_eq(p.n, 0);
        ck_assert_int_eq(c.imds_deadline, 300);
        config_done(&c);
        problems_done(&p);
}
END_TEST

START_TEST(test_defaults_files_dropins) {
        _cleanup_free_ char *path = write_tmp("etc/config.yaml", "imds: { deadline: 1 }\nhelpers: { attempts: 1 }\n");
        _cleanup_free_ char *d20 = write_tmp("etc/config.d/20-b.yaml", "imds: { deadline: 3 }\nreport_ready: late\n");
        _cleanup_free_ char *d10 = write_tmp("etc/config.d/10-a.yaml", "imds: { deadline: 2 }\nprovisioning: none\n");
        _cleanup_free_ char *d15 = write_tmp("etc/config.d/15-bad.yaml", "helpers: { attempts: 99 }\nprovisioning: agent\n");
        /* Not *.yaml, or hidden: never read (each would be a problem if it were). */
        _cleanup_free_ char *x1 = write_tmp("etc/config.d/README", "not: yaml: at all\n");
        _cleanup_free_ char *x2 = write_tmp("etc/config.d/30-c.yml", "imds: { deadline: 0 }\n");
        _cleanup_free_ char *x3 = write_tmp("etc/config.d/.40-d.yaml", "imds: { deadline: 0 }\n");
        _cleanup_free_ char *x4 = write_tmp("etc/config.d/50-e.yaml.bak", "imds: { deadline: 0 }\n");
        _cleanup_free_ char *dir = strjoin(tmpdir, "/etc/config.d", NULL);
        Config c;
        Problems p;
        ck_assert_int_eq(config_init_defaults(&c), 0);
        ck_assert_int_eq(problems_init(&p, NULL), 0);
        ck_assert_int_eq(config_load_defaults_files(&c, path, dir, &p), -EINVAL);

        /* Lexical order: 10-a, 15-bad (refused whole), 20-b. */
        ck_assert_int_eq(c.imds_deadline, 3);
        ck_assert_int_eq(c.provisioning, PROVISIONING_NONE);
        ck_assert_int_eq(c.report_ready, REPORT_READY_LATE);
        ck_assert_int_eq(c.helper_attempts, 1);
        ck_assert_uint_eq(p.n, 1);
        ck_assert_str_eq(p.items[0].file, d15);
        ck_assert_uint_eq(p.items[0].line, 1);
        ck_assert_uint_eq(p.items[0].column, 22);
        ck_assert_str_eq(p.items[0].message, "helpers.attempts: expected an integer 1..20 (got \"99\")");
        config_done(&c);
        problems_done(&p);
}
END_TEST

START_TEST(test_defaults_files_only_dropins) {
        _cleanup_free_ char *path = strjoin(tmpdir, "/none.yaml", NULL);
        _cleanup_free_ char *d = write_tmp("d/01.yaml", "paths: { state_dir: /srv/state }\n");
        _cleanup_free_ char *dir = strjoin(tmpdir, "/d", NULL);
        Config c;
        Problems p;
        ck_assert_int_eq(config_init_defaults(&c), 0);
        ck_assert_int_eq(problems_init(&p, NULL), 0);
        ck_assert_int_eq(config_load_defaults_files(&c, path, dir, &p), 0);
        ck_assert_str_eq(c.state_dir, "/srv/state");
        ck_assert_uint_eq(p.n, 0);
        config_done(&c);
        problems_done(&p);
}
END_TEST

/* preflight: its own keys, outside the corpus dump (other sections' cases stay as they are). */
START_TEST(test_preflight_keys) {
        Config c;
        Problems p;
        ck_assert_int_eq(config_init_defaults(&c), 0);
        ck_assert_int_eq(c.preflight_timeout, 5);
        ck_assert_str_eq(c.preflight_blob_suffix, "blob.core.windows.net");
        ck_assert_int_eq(c.preflight_on_failure, 1);
        ck_assert_int_eq(problems_init(&p, "input.yaml"), 0);
        static const char text[] = "preflight:\n  timeout: 2\n  blob_suffix: blob.core.chinacloudapi.cn\n";
        ck_assert_int_eq(config_load_string(&c, text, strlen(text), &p), 0);
        ck_assert_int_eq(c.preflight_timeout, 2);
        ck_assert_str_eq(c.preflight_blob_suffix, "blob.core.chinacloudapi.cn");
        /* A later file sets one key; the other stays. */
        static const char more[] = "preflight: { timeout: 7, on_failure: False }\n";
        ck_assert_int_eq(config_load_string(&c, more, strlen(more), &p), 0);
        ck_assert_int_eq(c.preflight_on_failure, 0);
        ck_assert_int_eq(c.preflight_timeout, 7);
        ck_assert_str_eq(c.preflight_blob_suffix, "blob.core.chinacloudapi.cn");
        static const char port[] = "preflight: { blob_suffix: \"blob.localhost:8443\" }\n";
        ck_assert_int_eq(config_load_string(&c, port, strlen(port), &p), 0);
        ck_assert_str_eq(c.preflight_blob_suffix, "blob.localhost:8443");
        static const char *const bad[] = {"preflight: { blob_suffix: \"x:0\" }\n", "preflight: { blob_suffix: \"x:65536\" }\n",
                                          "preflight: { blob_suffix: \"x:\" }\n", "preflight: { blob_suffix: \"a..b\" }\n",
                                          "preflight: { blob_suffix: \".a\" }\n", NULL};
        for (size_t i = 0; bad[i]; i++) {
                Problems q;
                ck_assert_int_eq(problems_init(&q, "input.yaml"), 0);
                ck_assert_msg(config_load_string(&c, bad[i], strlen(bad[i]), &q) == -EINVAL, "%s", bad[i]);
                problems_done(&q);
        }
        ck_assert_str_eq(c.preflight_blob_suffix, "blob.localhost:8443");
        problems_done(&p);
        config_done(&c);
        ck_assert_ptr_null(c.preflight_blob_suffix);
}
END_TEST

/* ---- key_vault (issue 12) ---- */

START_TEST(test_key_vault_defaults) {
        Config c;
        ck_assert_int_eq(config_init_defaults(&c), 0);
        ck_assert_int_eq(c.key_vault_deadline, 900);
        ck_assert_str_eq(c.key_vault_ca_file, "");
        ck_assert_uint_eq(strv_length(c.key_vault_host_suffixes), 4);
        ck_assert_str_eq(c.key_vault_host_suffixes[0], ".vault.azure.net");
        ck_assert_str_eq(c.key_vault_host_suffixes[1], ".vault.azure.cn");
        ck_assert_str_eq(c.key_vault_host_suffixes[2], ".vault.usgovcloudapi.net");
        ck_assert_str_eq(c.key_vault_host_suffixes[3], ".vault.microsoftazure.de");
        config_done(&c);
        ck_assert_ptr_null(c.key_vault_host_suffixes);
}
END_TEST

START_TEST(test_key_vault_set) {
        static const char yaml[] = "key_vault:\n  deadline: 20\n  ca_file: /etc/ca.pem\n"
                                   "  host_suffixes: [127.0.0.1, .Vault.Example]\n";
        Config c;
        Problems p;
        ck_assert_int_eq(config_init_defaults(&c), 0);
        ck_assert_int_eq(problems_init(&p, "k.yaml"), 0);
        ck_assert_int_eq(config_load_string(&c, yaml, strlen(yaml), &p), 0);
        ck_assert_int_eq(c.key_vault_deadline, 20);
        ck_assert_str_eq(c.key_vault_ca_file, "/etc/ca.pem");
        ck_assert_uint_eq(strv_length(c.key_vault_host_suffixes), 2);
        ck_assert_str_eq(c.key_vault_host_suffixes[0], "127.0.0.1");
        ck_assert_str_eq(c.key_vault_host_suffixes[1], ".vault.example");
        /* A later file that does not name the list keeps it; an empty list allows no vault. */
        static const char later[] = "key_vault: { deadline: 30 }\n";
        ck_assert_int_eq(config_load_string(&c, later, strlen(later), &p), 0);
        ck_assert_uint_eq(strv_length(c.key_vault_host_suffixes), 2);
        static const char empty[] = "key_vault: { host_suffixes: [] }\n";
        ck_assert_int_eq(config_load_string(&c, empty, strlen(empty), &p), 0);
        ck_assert_uint_eq(strv_length(c.key_vault_host_suffixes), 0);
        config_done(&c);
        problems_done(&p);
}
END_TEST

/* --- lifecycle: verify and scheduled_events (outside dump(), which the corpus shares) --- */

START_TEST(test_lifecycle_defaults_and_values) {
        Config c;
        Problems p;
        ck_assert_int_eq(config_init_defaults(&c), 0);
        ck_assert_str_eq(c.verify_url, "");
        ck_assert_int_eq(c.verify_deadline, 480);
        ck_assert(!c.scheduled_events_enabled);
        ck_assert_int_eq(c.scheduled_events_poll_ms, 1000);
        ck_assert_int_eq(c.drain_deadline, 240);
        ck_assert_uint_eq(config_drain_commands_count(&c), 0);

        static const char doc[] = "verify: { url: \"https://[::1]:8443/healthcheck\", deadline: 30 }\n"
                                  "scheduled_events:\n"
                                  "  enabled: True\n"
                                  "  poll_interval: \"0.25\"\n"
                                  "  drain_deadline: 90\n"
                                  "  drain_commands:\n"
                                  "    - [/usr/sbin/darktrace-drain]\n"
                                  "    - [\"/usr/bin/logger\", \"-t\", \"scale-in\", \"\"]\n";
        ck_assert_int_eq(problems_init(&p, "input.yaml"), 0);
        ck_assert_int_eq(config_load_string(&c, doc, strlen(doc), &p), 0);
        ck_assert_str_eq(c.verify_url, "https://[::1]:8443/healthcheck");
        ck_assert_int_eq(c.verify_deadline, 30);
        ck_assert(c.scheduled_events_enabled);
        ck_assert_int_eq(c.scheduled_events_poll_ms, 250);
        ck_assert_int_eq(c.drain_deadline, 90);
        ck_assert_uint_eq(config_drain_commands_count(&c), 2);
        ck_assert_str_eq(c.drain_commands[0][0], "/usr/sbin/darktrace-drain");
        ck_assert_ptr_null(c.drain_commands[0][1]);
        ck_assert_str_eq(c.drain_commands[1][2], "scale-in");
        ck_assert_str_eq(c.drain_commands[1][3], "");
        ck_assert_ptr_null(c.drain_commands[1][4]);

        /* A later file with a problem changes nothing, the list included; an empty url
         * and an empty list are values of their own. */
        static const char bad[] = "scheduled_events: { drain_commands: [[rel]] , poll_interval: 2 }\n";
        ck_assert_int_eq(config_load_string(&c, bad, strlen(bad), &p), -EINVAL);
        ck_assert_uint_eq(config_drain_commands_count(&c), 2);
        ck_assert_int_eq(c.scheduled_events_poll_ms, 250);
        static const char empty[] = "verify: { url: \"\" }\nscheduled_events: { drain_commands: [], poll_interval: 3 }\n";
        ck_assert_int_eq(config_load_string(&c, empty, strlen(empty), &p), 0);
        ck_assert_str_eq(c.verify_url, "");
        ck_assert_uint_eq(config_drain_commands_count(&c), 0);
        ck_assert_int_eq(c.scheduled_events_poll_ms, 3000);
        config_done(&c);
        problems_done(&p);
}
END_TEST

START_TEST(test_key_vault_bad) {
        static const char yaml[] = "key_vault:\n"
                                   "  deadline: 0\n"
                                   "  host_suffixes: [.vault.azure.net, \"a b\", {x: 1}, \"..x\"]\n"
                                   "  other: 1\n";
        Config c;
        Problems p;
        ck_assert_int_eq(config_init_defaults(&c), 0);
        ck_assert_int_eq(problems_init(&p, "k.yaml"), 0);
        ck_assert_int_eq(config_load_string(&c, yaml, strlen(yaml), &p), -EINVAL);
        _cleanup_free_ char *text = tu_problems_text(&p);
        ck_assert_str_eq(text,
                         "k.yaml:2:13: key_vault.deadline: expected an integer 1..86400 (got \"0\")\n"
                         "k.yaml:3:37: key_vault.host_suffixes[1]: expected a host name or a suffix starting with '.' "
                         "(got \"a b\")\n"
                         "k.yaml:3:44: key_vault.host_suffixes[2]: expected a host name or a suffix starting with '.' "
                         "(got a mapping)\n"
                         "k.yaml:3:52: key_vault.host_suffixes[3]: expected a host name or a suffix starting with '.' "
                         "(got \"..x\")\n"
                         "k.yaml:4:3: key_vault.other: unknown key (expected one of: deadline, ca_file, host_suffixes)\n");
        /* Nothing of a file with a problem is applied. */
        ck_assert_int_eq(c.key_vault_deadline, 900);
        ck_assert_uint_eq(strv_length(c.key_vault_host_suffixes), 4);
        config_done(&c);
        problems_done(&p);
}
END_TEST

START_TEST(test_lifecycle_package_config) {
        /* The package's configuration turns both on. */
        Config c;
        Problems p;
        _cleanup_free_ char *path = strjoin(tu_top(), "/packaging/config.yaml", NULL);
        ck_assert_int_eq(config_init_defaults(&c), 0);
        ck_assert_int_eq(problems_init(&p, path), 0);
        int r = config_load_file(&c, path, &p);
        _cleanup_free_ char *text = tu_problems_text(&p);
        ck_assert_msg(r == 0, "%s", text);
        ck_assert_str_eq(c.verify_url, "https://127.0.0.1/healthcheck");
        ck_assert(c.scheduled_events_enabled);
        ck_assert_int_eq(c.scheduled_events_poll_ms, 1000);
        config_done(&c);
        problems_done(&p);
}
END_TEST

static Suite *config_suite(void) {
        Suite *s = suite_create("config");
        TCase *tc = tcase_create("corpus");
        tcase_add_test(tc, test_corpus_size);
        tcase_add_loop_test(tc, test_corpus_invalid, 0, (int)n_invalid);
        tcase_add_loop_test(tc, test_corpus_valid, 0, (int)n_valid);
        suite_add_tcase(s, tc);

        tc = tcase_create("values");
        tcase_add_test(tc, test_defaults);
        tcase_add_test(tc, test_enum_tables);
        tcase_add_test(tc, test_preflight_keys);
        tcase_add_test(tc, test_key_vault_defaults);
        tcase_add_test(tc, test_key_vault_set);
        tcase_add_test(tc, test_key_vault_bad);
        tcase_add_test(tc, test_lifecycle_defaults_and_values);
        tcase_add_test(tc, test_lifecycle_package_config);
        suite_add_tcase(s, tc);

        tc = tcase_create("files");
        /* Unchecked: the directory is removed even when a test fails. */
        tcase_add_unchecked_fixture(tc, setup_tmp, teardown_tmp);
        tcase_add_test(tc, test_file_layering_key_by_key);
        tcase_add_test(tc, test_file_errors);
        tcase_add_test(tc, test_file_size_cap);
        tcase_add_test(tc, test_defaults_files_missing);
        tcase_add_test(tc, test_defaults_files_dropins);
        tcase_add_test(tc, test_defaults_files_only_dropins);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        n_invalid = tu_list_cases("config/invalid", invalid_cases, CORPUS_MAX_CASES);
        n_valid = tu_list_cases("config/valid", valid_cases, CORPUS_MAX_CASES);

        int status = tu_run_suite(config_suite());
        tu_free_cases(invalid_cases, n_invalid);
        tu_free_cases(valid_cases, n_valid);
        return status;
}
