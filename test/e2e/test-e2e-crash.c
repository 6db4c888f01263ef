/* e2e: crash consistency and disk full, with the real binary and the LD_PRELOAD fault
 * shim (test/fault-shim.c, $BUILD/test/fault-shim.so). The agent is killed with SIGKILL
 * just after every rename (every atomic file write lands, so every step boundary: the
 * state file is renamed into place when a step that changed something ends), just before
 * the other files land, in the middle of writes to the state, the KVP pool and the log
 * (a torn write), and while the installer or a helper runs. After each kill the state file parses, `status` works, and a rerun
 * completes without repeating any step the state recorded as finished. Disk full while
 * writing the state, the log or the KVP pool gives exit 73 naming the file, or (KVP,
 * advisory) a warning, and never a corrupt file. */
#include <dirent.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "e2e.h"
#include "kvp.h"
#include "testutil.h"

#define STATE_DIR "/var/lib/vsensor-init"
#define STATE_FILE STATE_DIR "/state.json"
#define LOG_FILE "/var/log/user-data.log"
#define KVP_POOL "/var/lib/hyperv/.kvp_pool_1"
#define KILLED (128 + SIGKILL)

/* Renames in one complete run (provisioning: none); the trace test checks the bound. */
#define MAX_RENAMES 14

static E2e e;
static char shim[PATH_MAX];

/* Each vSensor step's helper calls, in step-table order. */
static const struct {
        const char *step, *calls;
} helper_calls[] = {
        {"register", "set_pushtoken.sh " CANARY_PUSH_TOKEN " dt-master.example.com:443\n"},
        {"hmac", "set_ossensor_hmac.sh " CANARY_HMAC_TOKEN "\n"},
        {"pcap", "set_pcap_azure_container.sh mystorageacct darktrace-vsensor-quickstart-pcaps\n"},
        {"network", "set_ossensor_loadbalancer_direct.sh 1\n"},
        {"ephemeral", "set_ephemeral.sh 1\n"},
};

static bool prov_mode;

/* Most crash points run with provisioning: none, where a run takes a fraction of a
 * second; those of provisioning (useradd --root needs root, ssh-keygen -A takes 2 s)
 * have their own cases. */
static void setup_mode(bool provisioning) {
        prov_mode = provisioning;
        e2e_setup(&e, &(E2eOptions){.provisioning = provisioning ? "agent" : "none"});
        e2e_serve_userdata(&e, e2e_custom_data);
}

static void setup(void) { setup_mode(false); }

/* Provisioning needs root (useradd --root) and ssh-keygen (the host keys); without
 * them the test is skipped, saying which is missing. */
static bool need_root_for(const char *test) {
        if (geteuid() != 0) {
                test_skip(test, "provisioning needs root (useradd --root)");
                return false;
        }
        if (access("/usr/bin/ssh-keygen", X_OK) < 0) {
                test_skip(test, "ssh-keygen (openssh-client) not installed");
                return false;
        }
        return true;
}
#define need_root() need_root_for(__func__)

/* Sets the fault shim's variables for the next runs ("NAME=value" strings). */
static void fault_env(const char *a, const char *b, const char *c) {
        static char preload[PATH_MAX + 16];
        static const char *env[6];
        snprintf(preload, sizeof preload, "LD_PRELOAD=%s", shim);
        /* An ASan build wants its runtime first; the shim is loaded before it. */
        env[0] = "ASAN_OPTIONS=verify_asan_link_order=0";
        env[1] = preload;
        env[2] = a;
        env[3] = a ? b : NULL;
        env[4] = a && b ? c : NULL;
        env[5] = NULL;
        e.extra_env = env;
}

static void no_faults(void) { e.extra_env = NULL; }

/* Kills the processes our agent left behind (a helper's `sleep`): those whose
 * environment carries this test's root. systemd kills the whole cgroup instead. */
static void kill_leftovers(void) {
        char want[400];
        int wn = snprintf(want, sizeof want, "VSENSOR_INIT_ROOT=%s", e.root);
        DIR *d = opendir("/proc");
        ck_assert_ptr_nonnull(d);
        struct dirent *de;
        while ((de = readdir(d))) {
                char *end;
                long pid = strtol(de->d_name, &end, 10);
                if (*end || pid <= 1 || pid == getpid()) continue;
                char path[64];
                snprintf(path, sizeof path, "/proc/%ld/environ", pid);
                _cleanup_free_ char *env = NULL;
                size_t len = 0;
                if (read_file_capped(path, 1024 * 1024, &env, &len) < 0) continue;
                for (size_t i = 0; i < len; i += strlen(env + i) + 1)
                        if (strncmp(env + i, want, (size_t)wn) == 0 && env[i + wn] == 0) {
                                kill((pid_t)pid, SIGKILL);
                                break;
                        }
        }
        closedir(d);
}

/* Whether a process of ours (environment with our root) runs `comm`. */
static bool child_running(const char *comm) {
        char want[400];
        int wn = snprintf(want, sizeof want, "VSENSOR_INIT_ROOT=%s", e.root);
        bool found = false;
        DIR *d = opendir("/proc");
        ck_assert_ptr_nonnull(d);
        struct dirent *de;
        while (!found && (de = readdir(d))) {
                char *end;
                long pid = strtol(de->d_name, &end, 10);
                if (*end || pid <= 1) continue;
                char path[64];
                _cleanup_free_ char *name = NULL, *env = NULL;
                size_t len = 0;
                snprintf(path, sizeof path, "/proc/%ld/comm", pid);
                if (read_file_capped(path, 4096, &name, NULL) < 0 || strncmp(name, comm, strlen(comm)) != 0) continue;
                snprintf(path, sizeof path, "/proc/%ld/environ", pid);
                if (read_file_capped(path, 1024 * 1024, &env, &len) < 0) continue;
                for (size_t i = 0; i < len && !found; i += strlen(env + i) + 1)
                        found = strncmp(env + i, want, (size_t)wn) == 0 && env[i + wn] == 0;
        }
        closedir(d);
        return found;
}

/* The state file parses and is well formed; returns its steps' states as
 * " name=state" words (empty when there is no state file yet). */
static char *state_words(void) {
        _cleanup_free_ char *text = e2e_read(&e, STATE_FILE);
        if (!text) return strdup(" ");
        json_error_t err;
        json_t *root = json_loads(text, 0, &err);
        ck_assert_msg(root != NULL, "state.json does not parse (%s at line %d):\n%s", err.text, err.line, text);
        json_t *steps = json_object_get(root, "steps");
        ck_assert_msg(json_is_array(steps), "state.json has no steps array");
        char *words = strdup(" ");
        size_t i;
        json_t *s;
        json_array_foreach(steps, i, s) {
                const char *name = json_string_value(json_object_get(s, "name"));
                const char *st = json_string_value(json_object_get(s, "state"));
                ck_assert_msg(name && st, "state.json: step %zu lacks name or state", i);
                ck_assert(json_is_integer(json_object_get(s, "attempts")));
                char *n = NULL;
                ck_assert_int_ge(asprintf_safe(&n, "%s%s=%s ", words, name, st), 0);
                free(words);
                words = n;
        }
        json_decref(root);
        return words;
}

static bool finished(const char *words, const char *step) {
        char a[64], b[64];
        snprintf(a, sizeof a, " %s=done ", step);
        snprintf(b, sizeof b, " %s=skipped ", step);
        return strstr(words, a) || strstr(words, b);
}

static int attempts_of(const char *step) {
        _cleanup_free_ char *text = e2e_read(&e, STATE_FILE);
        json_t *root = text ? json_loads(text, 0, NULL) : NULL;
        int n = -1;
        size_t i;
        json_t *s;
        json_array_foreach(json_object_get(root, "steps"), i, s)
                if (streq(json_string_value(json_object_get(s, "name")), step))
                        n = (int)json_integer_value(json_object_get(s, "attempts"));
        json_decref(root);
        return n;
}

/* Whole records in the KVP pool; strict: a torn record fails the test. */
static size_t kvp_records_of(bool strict) {
        _cleanup_free_ char *pool = path_under_root(e.root, KVP_POOL);
        struct stat st;
        if (stat(pool, &st) < 0) return 0;
        if (strict)
                ck_assert_msg(st.st_size % KVP_RECORD_SIZE == 0, "KVP pool is %lld bytes: a torn record",
                              (long long)st.st_size);
        return (size_t)st.st_size / KVP_RECORD_SIZE;
}

static size_t kvp_records(void) { return kvp_records_of(true); }

/* No temporary file of an atomic write is left in the state directory. */
static void assert_no_temp_files(const char *when) {
        _cleanup_free_ char *dir = path_under_root(e.root, STATE_DIR);
        DIR *d = opendir(dir);
        if (!d) return;
        struct dirent *de;
        while ((de = readdir(d)))
                ck_assert_msg(!strstr(de->d_name, ".tmp.") && strncmp(de->d_name, "installer.", 10) != 0,
                              "%s: %s left in %s", when, de->d_name, STATE_DIR);
        closedir(d);
}

/* After a crash: the state parses and `status` reads it; the rerun completes, every step
 * the state recorded as finished is not repeated (no helper call, download, health
 * report or KVP record again), and the steps that were not are run once more. */
static void assert_recovers(const char *what) {
        kill_leftovers();
        no_faults();
        _cleanup_free_ char *words = state_words();
        ck_assert_msg(e2e_run(&e, (const char *[]){"status", NULL}) == 0, "%s: status exits %d:\n%s", what, e.exit_code,
                      e.err);
        _cleanup_free_ char *calls_before = e2e_helper_calls(&e);
        size_t installs = e2e_count(&e, "GET", "/install"), health = e2e_count(&e, "POST", "/machine");
        size_t records = kvp_records_of(false);   /* a crash may have torn the last one */

        ck_assert_msg(e2e_run(&e, (const char *[]){"run", NULL}) == 0, "%s: the rerun exits %d:\n%s", what,
                      e.exit_code, e.err);

        _cleanup_free_ char *want = strdup(calls_before);
        for (size_t i = 0; i < ELEMENTSOF(helper_calls); i++)
                if (!finished(words, helper_calls[i].step)) {
                        char *n = strjoin(want, helper_calls[i].calls, NULL);
                        free(want);
                        want = n;
                }
        _cleanup_free_ char *calls = e2e_helper_calls(&e);
        ck_assert_msg(streq(calls, want), "%s: state was%s\nhelper calls:\n%s\nwanted:\n%s", what, words, calls, want);
        if (finished(words, "install")) ck_assert_uint_eq(e2e_count(&e, "GET", "/install"), installs);
        if (finished(words, "report-ready")) {
                ck_assert_uint_eq(e2e_count(&e, "POST", "/machine"), health);
                ck_assert_uint_eq(kvp_records(), records);
        }
        if (prov_mode) ck_assert_uint_ge(kvp_records(), 1);

        _cleanup_free_ char *after = state_words();
        static const char *const all[] = {"load", "metadata", "provision", "report-ready", "host-keys", "wait-apt", "install",
                                          "register", "hmac", "pcap", "network", "ephemeral", "os-updates", "finish"};
        for (size_t i = 0; i < ELEMENTSOF(all); i++)
                ck_assert_msg(finished(after, all[i]), "%s: after the rerun %s is not finished:%s", what, all[i], after);
        ck_assert(e2e_exists(&e, "/etc/darktrace/.user-data-success"));
        assert_no_temp_files(what);
        e2e_assert_no_secrets(&e);
}

/* ---- the trace: how many crash points one run has ------------------------------- */

static char *trace_run(void) {
        char trace[320], env[340];
        snprintf(trace, sizeof trace, "%s/trace", e.dir);
        snprintf(env, sizeof env, "FAULT_TRACE=%s", trace);
        fault_env(env, NULL, NULL);
        ck_assert_msg(e2e_run(&e, (const char *[]){"run", NULL}) == 0, "exit %d:\n%s", e.exit_code, e.err);
        char *text = NULL;
        ck_assert_int_ge(read_file_capped(trace, 1024 * 1024, &text, NULL), 0);
        return text;
}

static size_t count_lines(const char *text, const char *prefix) {
        size_t n = 0;
        for (const char *l = text; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : NULL)
                if (strncmp(l, prefix, strlen(prefix)) == 0) n++;
        return n;
}

START_TEST(crash_points_counted) {
        setup();
        int64_t t0 = now_monotonic_ms();
        _cleanup_free_ char *trace = trace_run();
        printf("one complete run: %lld ms\n", (long long)(now_monotonic_ms() - t0));
        size_t renames = count_lines(trace, "rename ");
        printf("one run: %zu renames (bound %d)\n%s", renames, MAX_RENAMES, trace);
        /* The loops below cover every point only while the bound holds. */
        ck_assert_uint_le(renames, MAX_RENAMES);
        ck_assert_uint_ge(renames, 10);
}
END_TEST

/* ---- kill -9 after every rename, and before the files of steps land ---------------- */

/* Kills the agent before or after the nth rename whose target contains path (any when NULL). */
static void kill_at_rename(const char *path, int n, bool after) {
        char env[64], filter[128];
        snprintf(env, sizeof env, "%s=%d", after ? "FAULT_KILL_AFTER_RENAME" : "FAULT_KILL_AT_RENAME", n);
        snprintf(filter, sizeof filter, "FAULT_RENAME_PATH=%s", path ? path : "");
        fault_env(env, path ? filter : NULL, NULL);
        int rc = e2e_run(&e, (const char *[]){"run", NULL});
        char what[192];
        snprintf(what, sizeof what, "killed %s rename %d of %s", after ? "after" : "before", n, path ? path : "any file");
        if (rc == 0 && !path) {
                printf("%s: the run has fewer renames\n", what);
                return;
        }
        ck_assert_msg(rc == KILLED, "%s: exit %d:\n%s", what, rc, e.err);
        assert_recovers(what);
}

/* Mid-step, before a file other than the state lands (the state's own temporary file
 * is covered by the torn writes below). */
static const char *const files[] = {STATE_DIR "/custom-data", "/etc/apt/apt.conf.d/20auto-upgrades",
                                    "/etc/darktrace/.user-data-success"};

START_TEST(kill_before_rename) {
        setup();
        kill_at_rename(files[_i], 1, false);
}
END_TEST

START_TEST(kill_after_rename) {
        setup();
        kill_at_rename(NULL, _i, true);
}
END_TEST

/* A crash before the kept custom data lands leaves its temporary file, secrets and all:
 * `clean` (run before an image is captured) removes it with the agent's own files. */
START_TEST(clean_after_crash) {
        setup();
        fault_env("FAULT_RENAME_PATH=" STATE_DIR "/custom-data", "FAULT_KILL_AT_RENAME=1", NULL);
        ck_assert_int_eq(e2e_run(&e, (const char *[]){"run", NULL}), KILLED);
        no_faults();
        ck_assert_int_eq(e2e_run(&e, (const char *[]){"clean", NULL}), 0);
        ck_assert_contains(e.out, STATE_DIR "/custom-data.tmp.");
        assert_no_temp_files("clean");
        ck_assert(!e2e_exists(&e, STATE_DIR "/custom-data"));
        e2e_assert_no_secrets(&e);
}
END_TEST

/* Provisioning: before files it writes land, and just before and after the state records
 * the provision and report-ready steps done (state.json renames 1 and 2 of a provisioning
 * run; before: the effects are there, the record not, so the rerun does them again).
 * sudoers and sshd_config.d are written the same way as the files here. */
static const struct {
        const char *path;
        int n;
        bool after;
} prov_points[] = {
        {"/etc/hostname", 1, false},
        {"/.ssh/authorized_keys", 1, false},
        {STATE_DIR "/provisioned", 1, false},
        {STATE_FILE, 1, false},
        {STATE_FILE, 1, true},
        {STATE_FILE, 2, false},
        {STATE_FILE, 2, true},
};

START_TEST(kill_provisioning) {
        if (!need_root()) return;
        setup_mode(true);
        kill_at_rename(prov_points[_i].path, prov_points[_i].n, prov_points[_i].after);
}
END_TEST

/* ---- torn writes: state, KVP pool, log ------------------------------------------- */

/* Torn writes of the state's temporary file: early, middle and late steps. */
static const int state_writes[] = {1, 3, 5, 7, 9};

START_TEST(kill_mid_state_write) {
        setup();
        char env[64];
        snprintf(env, sizeof env, "FAULT_KILL_AT_WRITE=%d", state_writes[_i]);
        fault_env("FAULT_WRITE_PATH=" STATE_FILE ".tmp", env, NULL);
        int rc = e2e_run(&e, (const char *[]){"run", NULL});
        ck_assert_msg(rc == KILLED, "exit %d:\n%s", rc, e.err);
        char what[64];
        snprintf(what, sizeof what, "killed mid state write %d", state_writes[_i]);
        assert_recovers(what);
}
END_TEST

START_TEST(kill_mid_kvp_write) {
        if (!need_root()) return;
        setup_mode(true);
        fault_env("FAULT_WRITE_PATH=.kvp_pool_1", "FAULT_KILL_AT_WRITE=1", NULL);
        ck_assert_int_eq(e2e_run(&e, (const char *[]){"run", NULL}), KILLED);
        /* Half a record is on disk: the next append must not land after it. */
        _cleanup_free_ char *pool = path_under_root(e.root, KVP_POOL);
        struct stat st;
        ck_assert_int_eq(stat(pool, &st), 0);
        ck_assert_int_eq(st.st_size, KVP_RECORD_SIZE / 2);
        assert_recovers("killed mid KVP write");
        ck_assert_uint_eq(kvp_records(), 1);
        char **keys = NULL, **values = NULL;
        size_t n = 0;
        ck_assert_int_eq(kvp_read_all(pool, &keys, &values, &n), 0);
        ck_assert_uint_eq(n, 1);
        ck_assert_str_eq(keys[0], "PROVISIONING_REPORT");
        ck_assert_contains(values[0], "result=success|");
        strv_free(keys);
        strv_free(values);
}
END_TEST

/* The 1st line, one early, one late (before the last line: a kill there leaves a
 * finished run, and the rerun has nothing to log). 40 was past the run's end until
 * verify and host-keys added two lines each. */
static const int log_writes[] = {1, 12, 38};

START_TEST(kill_mid_log_write) {
        setup();
        char env[64];
        snprintf(env, sizeof env, "FAULT_KILL_AT_WRITE=%d", log_writes[_i]);
        fault_env("FAULT_WRITE_PATH=" LOG_FILE, env, NULL);
        int rc = e2e_run(&e, (const char *[]){"run", NULL});
        if (rc == 0) return;
        ck_assert_msg(rc == KILLED, "exit %d:\n%s", rc, e.err);
        char what[64];
        snprintf(what, sizeof what, "killed mid log write %d", log_writes[_i]);
        assert_recovers(what);
        /* The torn line is followed by whole lines again. */
        _cleanup_free_ char *log = e2e_read(&e, LOG_FILE);
        ck_assert_contains(log, "vSensor bootstrap complete\n");
}
END_TEST

/* ---- kill -9 while a child runs -------------------------------------------------- */

static const struct {
        const char *step, *hang_file, *comm;
} children[] = {
        {"install", "/fake/installer-hang", "sleep"},
        {"register", "/fake/hang/set_pushtoken.sh", "sleep"},
        {"network", "/fake/hang/set_ossensor_loadbalancer_direct.sh", "sleep"},
};

START_TEST(kill_mid_child) {
        setup();
        e2e_put(&e, children[_i].hang_file, "", 0644);
        pid_t pid = e2e_start(&e, (const char *[]){"run", NULL});
        int64_t until = now_monotonic_ms() + 20000;
        while (!child_running(children[_i].comm)) {
                ck_assert_msg(now_monotonic_ms() < until, "%s: the child never started", children[_i].step);
                int st;
                ck_assert_msg(waitpid(pid, &st, WNOHANG) == 0, "%s: the agent ended first", children[_i].step);
                sleep_ms(20);
        }
        ck_assert_int_eq(kill(pid, SIGKILL), 0);
        int rc = e2e_wait(&e, pid);
        kill_leftovers();   /* now: a failed assertion below skips the teardown */
        ck_assert_int_eq(rc, KILLED);
        _cleanup_free_ char *hang = path_under_root(e.root, children[_i].hang_file);
        ck_assert_int_eq(unlink(hang), 0);

        _cleanup_free_ char *words = state_words();
        ck_assert(!finished(words, children[_i].step));
        char what[64];
        snprintf(what, sizeof what, "killed while %s's child ran", children[_i].step);
        assert_recovers(what);
        /* The state records attempts when a step ends: the crashed one may not show. */
        printf("%s: %d attempt(s) recorded after the crash and the rerun\n", children[_i].step,
               attempts_of(children[_i].step));
        if (streq(children[_i].step, "install")) {
                ck_assert_uint_eq(e2e_count(&e, "GET", "/install"), 2);
                /* The first download, left behind by the crash, was removed by the rerun. */
                _cleanup_free_ char *log = e2e_read(&e, LOG_FILE);
                ck_assert_contains(log, "left by an interrupted run");
        }
}
END_TEST

/* ---- disk full --------------------------------------------------------------------- */

START_TEST(disk_full_state_first_run) {
        setup();
        fault_env("FAULT_ENOSPC_WRITE_PATH=" STATE_FILE ".tmp", NULL, NULL);
        ck_assert_int_eq(e2e_run(&e, (const char *[]){"run", NULL}), 73);
        ck_assert_contains(e.err, "cannot write ");
        ck_assert_contains(e.err, STATE_FILE ": No space left on device");
        ck_assert(!e2e_exists(&e, STATE_FILE));
        assert_no_temp_files("disk full");
        assert_recovers("disk full writing the state");
}
END_TEST

START_TEST(disk_full_state_repair) {
        setup();
        ck_assert_int_eq(e2e_run(&e, (const char *[]){"run", NULL}), 0);
        _cleanup_free_ char *before = e2e_read(&e, STATE_FILE);
        fault_env("FAULT_ENOSPC_WRITE_PATH=" STATE_FILE ".tmp", "FAULT_ENOSPC_PARTIAL=1", NULL);
        ck_assert_int_eq(e2e_run(&e, (const char *[]){"repair", NULL}), 73);
        ck_assert_contains(e.err, STATE_FILE ": No space left on device");
        /* The old state is intact, byte for byte, and nothing half written is left. */
        _cleanup_free_ char *after = e2e_read(&e, STATE_FILE);
        ck_assert_str_eq(after, before);
        assert_no_temp_files("disk full");
        _cleanup_free_ char *words = state_words();
        ck_assert(finished(words, "finish"));
        no_faults();
        ck_assert_int_eq(e2e_run(&e, (const char *[]){"repair", NULL}), 0);
        e2e_assert_no_secrets(&e);
}
END_TEST

START_TEST(disk_full_log) {
        setup();
        fault_env("FAULT_ENOSPC_WRITE_PATH=" LOG_FILE, NULL, NULL);
        ck_assert_int_eq(e2e_run(&e, (const char *[]){"run", NULL}), 73);
        ck_assert_contains(e.err, "cannot write the log file ");
        ck_assert_contains(e.err, LOG_FILE ": No space left on device");
        _cleanup_free_ char *log = e2e_read(&e, LOG_FILE);
        ck_assert_str_eq(log ? log : "", "");
        /* The steps ran and were recorded: the next run (disk freed) has nothing to do. */
        _cleanup_free_ char *words = state_words();
        ck_assert(finished(words, "finish"));
        no_faults();
        ck_assert_int_eq(e2e_run(&e, (const char *[]){"run", NULL}), 0);
        _cleanup_free_ char *log2 = e2e_read(&e, LOG_FILE);
        ck_assert_contains(log2, "already configured");
        e2e_assert_no_secrets(&e);
}
END_TEST

START_TEST(disk_full_kvp) {
        if (!need_root()) return;
        setup_mode(true);
        fault_env("FAULT_ENOSPC_WRITE_PATH=.kvp_pool_1", "FAULT_ENOSPC_PARTIAL=1", NULL);
        /* The KVP report is advisory (the wireserver report is what counts): a warning. */
        ck_assert_int_eq(e2e_run(&e, (const char *[]){"run", NULL}), 0);
        ck_assert_contains(e.err, "cannot write the KVP report to " KVP_POOL ": No space left on device");
        ck_assert_uint_eq(kvp_records(), 0);
        ck_assert_uint_eq(e2e_count(&e, "POST", "/machine"), 1);
        e2e_assert_no_secrets(&e);
}
END_TEST

static void teardown(void) {
        kill_leftovers();
        e2e_teardown(&e);
}

static Suite *suite(void) {
        Suite *s = suite_create("e2e-crash");
        TCase *tr = tcase_create("trace");
        tcase_set_timeout(tr, 60);
        tcase_add_checked_fixture(tr, NULL, teardown);
        tcase_add_test(tr, crash_points_counted);
        suite_add_tcase(s, tr);
        TCase *tc = tcase_create("crash");
        tcase_set_timeout(tc, 120);
        tcase_add_checked_fixture(tc, NULL, teardown);
        tcase_add_loop_test(tc, kill_before_rename, 0, (int)ELEMENTSOF(files));
        tcase_add_test(tc, clean_after_crash);
        tcase_add_loop_test(tc, kill_after_rename, 1, MAX_RENAMES + 1);
        tcase_add_loop_test(tc, kill_mid_state_write, 0, (int)ELEMENTSOF(state_writes));
        tcase_add_loop_test(tc, kill_mid_log_write, 0, (int)ELEMENTSOF(log_writes));
        tcase_add_loop_test(tc, kill_mid_child, 0, (int)ELEMENTSOF(children));
        suite_add_tcase(s, tc);
        TCase *pv = tcase_create("provisioning");
        tcase_set_timeout(pv, 120);
        tcase_add_checked_fixture(pv, NULL, teardown);
        tcase_add_loop_test(pv, kill_provisioning, 0, (int)ELEMENTSOF(prov_points));
        tcase_add_test(pv, kill_mid_kvp_write);
        suite_add_tcase(s, pv);
        TCase *df = tcase_create("disk-full");
        tcase_set_timeout(df, 120);
        tcase_add_checked_fixture(df, NULL, teardown);
        tcase_add_test(df, disk_full_state_first_run);
        tcase_add_test(df, disk_full_state_repair);
        tcase_add_test(df, disk_full_log);
        tcase_add_test(df, disk_full_kvp);
        suite_add_tcase(s, df);
        return s;
}

int main(void) {
        const char *build = getenv("BUILD");
        snprintf(shim, sizeof shim, "%s/test/fault-shim.so", build && *build ? build : "build");
        if (access(shim, R_OK) < 0) {
                fprintf(stderr, "test-e2e-crash: %s is missing (make builds it; set BUILD)\n", shim);
                return 1;
        }
        return tu_run_suite(suite());
}
