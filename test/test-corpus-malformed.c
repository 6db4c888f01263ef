/* test-corpus-malformed: malformed documents and the exact error each must give.
 *   test/data/imds/invalid/NAME/{input.json,expected}  imds_parse_instance
 *   test/data/ovf/invalid/NAME/{ovf-env.xml,expected}  ovf_parse
 *   test/data/imds/ignored/NAME/{input.json,expected}  imds_parse_instance accepts it,
 *       leaving out the malformed optional fields expected names (->ignored)
 *   test/data/ovf/invalid-custom-data/NAME/{ovf-env.xml,expected}  ovf_parse accepts
 *       the document; its CustomData is unusable for the reason expected gives
 * (under $TOP, else the current directory). expected is the error message, one line.
 * Every case must be refused with -EBADMSG, leave *ret untouched and say exactly
 * what expected says. The custom data and configuration corpora
 * (test/data/{customdata,config}/invalid) run in test-customdata and test-config;
 * this suite also checks that the four corpora together hold at least 100 documents.
 * Adding a case needs no code. CORPUS_UPDATE=1 writes the messages the parsers give
 * into expected (review the diff before committing it). */
#include <check.h>

#include "imds.h"
#include "ovf.h"
#include "testutil.h"

#define CORPUS_MAX_CASES 512

typedef struct Corpus {
        const char *dir;       /* under test/data */
        const char *input;     /* file name of the document in each case */
        char *names[CORPUS_MAX_CASES];
        size_t n;
} Corpus;

static Corpus imds_corpus = {.dir = "imds/invalid", .input = "input.json"};
static Corpus ovf_corpus = {.dir = "ovf/invalid", .input = "ovf-env.xml"};
static Corpus imds_ignored_corpus = {.dir = "imds/ignored", .input = "input.json"};
static Corpus ovf_custom_data_corpus = {.dir = "ovf/invalid-custom-data", .input = "ovf-env.xml"};

/* expected holds one line; the trailing newline is not part of the message. */
static void check_message(const Corpus *c, const char *name, const char *got) {
        if (getenv("CORPUS_UPDATE")) {
                _cleanup_free_ char *rel = NULL, *text = NULL;
                ck_assert_int_ge(asprintf_safe(&rel, "%s/%s/expected", c->dir, name), 0);
                _cleanup_free_ char *path = tu_data_path(rel);
                ck_assert_int_ge(asprintf_safe(&text, "%s\n", got), 0);
                ck_assert_int_eq(write_file_atomic(path, text, strlen(text), 0644), 0);
                return;
        }
        size_t elen;
        _cleanup_free_ char *expected = tu_read_case(c->dir, name, "expected", &elen);
        if (elen > 0 && expected[elen - 1] == '\n') expected[--elen] = 0;
        ck_assert_msg(streq(got, expected), "%s/%s:\n--- expected\n%s\n--- got\n%s", c->dir, name, expected, got);
}

START_TEST(test_imds_invalid) {
        const char *name = imds_corpus.names[_i];
        size_t len;
        _cleanup_free_ char *input = tu_read_case(imds_corpus.dir, name, imds_corpus.input, &len);
        ImdsInstance *sentinel = (ImdsInstance *)&imds_corpus, *inst = sentinel;
        char err[256];

        int r = imds_parse_instance(input, len, &inst, err, sizeof err);
        ck_assert_msg(r == -EBADMSG, "%s: expected -EBADMSG, got %d (%s)", name, r, r < 0 ? err : "accepted");
        ck_assert_msg(inst == sentinel, "%s: *ret written on failure", name);
        check_message(&imds_corpus, name, err);
}
END_TEST

START_TEST(test_ovf_invalid) {
        const char *name = ovf_corpus.names[_i];
        size_t len;
        _cleanup_free_ char *input = tu_read_case(ovf_corpus.dir, name, ovf_corpus.input, &len);
        OvfEnv *sentinel = (OvfEnv *)&ovf_corpus, *e = sentinel;
        char err[256];

        int r = ovf_parse(input, len, &e, err, sizeof err);
        ck_assert_msg(r == -EBADMSG, "%s: expected -EBADMSG, got %d (%s)", name, r, r < 0 ? err : "accepted");
        ck_assert_msg(e == sentinel, "%s: *ret written on failure", name);
        check_message(&ovf_corpus, name, err);
}
END_TEST

/* A document the parser refuses as XML is refused by ovf_strip_secrets too: no
 * half-stripped copy is ever written. Semantic errors (CustomData that is not base64,
 * a bad DisableSshPasswordAuthentication) are well-formed XML and strip fine. */
START_TEST(test_ovf_invalid_strip) {
        const char *name = ovf_corpus.names[_i];
        size_t len, elen;
        _cleanup_free_ char *input = tu_read_case(ovf_corpus.dir, name, ovf_corpus.input, &len);
        _cleanup_free_ char *expected = tu_read_case(ovf_corpus.dir, name, "expected", &elen);
        bool semantic = strstr(expected, "CustomData is not base64") ||
                        strstr(expected, "DisableSshPasswordAuthentication must be");
        _cleanup_free_ char *out = NULL;
        size_t olen = 0;

        int r = ovf_strip_secrets(input, len, &out, &olen);
        if (semantic) {
                ck_assert_msg(r == 0, "%s: strip failed: %d", name, r);
                ck_assert_msg(!strstr(out, "dnNl"), "%s: custom data left in the stripped copy", name);
        } else {
                ck_assert_msg(r == -EBADMSG, "%s: strip gave %d", name, r);
                ck_assert_ptr_null(out);
        }
}
END_TEST

/* A malformed optional field does not sink the document (DESIGN, Field rules). */
START_TEST(test_imds_ignored) {
        const char *name = imds_ignored_corpus.names[_i];
        size_t len;
        _cleanup_free_ char *input = tu_read_case(imds_ignored_corpus.dir, name, imds_ignored_corpus.input, &len);
        _cleanup_(imds_instance_freep) ImdsInstance *inst = NULL;
        char err[256] = "";

        int r = imds_parse_instance(input, len, &inst, err, sizeof err);
        ck_assert_msg(r == 0, "%s: refused: %s", name, err);
        ck_assert_msg(inst->ignored != NULL, "%s: nothing ignored", name);
        check_message(&imds_ignored_corpus, name, inst->ignored);
}
END_TEST

/* Undecodable or oversized CustomData is invalid custom data; the document's host
 * name, user and keys still serve (DESIGN, Field rules). */
START_TEST(test_ovf_custom_data_invalid) {
        const char *name = ovf_custom_data_corpus.names[_i];
        size_t len;
        _cleanup_free_ char *input = tu_read_case(ovf_custom_data_corpus.dir, name, ovf_custom_data_corpus.input, &len);
        OvfEnv *e = NULL;
        char err[256] = "";

        int r = ovf_parse(input, len, &e, err, sizeof err);
        ck_assert_msg(r == 0, "%s: refused: %s", name, err);
        ck_assert_ptr_null(e->custom_data);
        ck_assert_msg(e->custom_data_error != NULL, "%s: custom data accepted", name);
        check_message(&ovf_custom_data_corpus, name, e->custom_data_error);
        ovf_env_free(e);
}
END_TEST

START_TEST(test_corpus_sizes) {
        size_t customdata = tu_list_cases("customdata/invalid", NULL, CORPUS_MAX_CASES);
        size_t config = tu_list_cases("config/invalid", NULL, CORPUS_MAX_CASES);

        ck_assert_uint_ge(imds_corpus.n, 20);
        ck_assert_uint_ge(ovf_corpus.n, 20);
        ck_assert_uint_ge(customdata + config + imds_corpus.n + ovf_corpus.n, 100);
        ck_assert_uint_ge(imds_ignored_corpus.n, 10);
        ck_assert_uint_ge(ovf_custom_data_corpus.n, 5);
}
END_TEST

static Suite *corpus_suite(void) {
        Suite *s = suite_create("corpus-malformed");
        TCase *tc = tcase_create("imds");
        tcase_add_loop_test(tc, test_imds_invalid, 0, (int)imds_corpus.n);
        tcase_add_loop_test(tc, test_imds_ignored, 0, (int)imds_ignored_corpus.n);
        suite_add_tcase(s, tc);

        tc = tcase_create("ovf");
        tcase_add_loop_test(tc, test_ovf_invalid, 0, (int)ovf_corpus.n);
        tcase_add_loop_test(tc, test_ovf_invalid_strip, 0, (int)ovf_corpus.n);
        tcase_add_loop_test(tc, test_ovf_custom_data_invalid, 0, (int)ovf_custom_data_corpus.n);
        suite_add_tcase(s, tc);

        tc = tcase_create("sizes");
        tcase_add_test(tc, test_corpus_sizes);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        imds_corpus.n = tu_list_cases(imds_corpus.dir, imds_corpus.names, CORPUS_MAX_CASES);
        ovf_corpus.n = tu_list_cases(ovf_corpus.dir, ovf_corpus.names, CORPUS_MAX_CASES);
        imds_ignored_corpus.n = tu_list_cases(imds_ignored_corpus.dir, imds_ignored_corpus.names, CORPUS_MAX_CASES);
        ovf_custom_data_corpus.n =
                tu_list_cases(ovf_custom_data_corpus.dir, ovf_custom_data_corpus.names, CORPUS_MAX_CASES);

        int status = tu_run_suite(corpus_suite());
        tu_free_cases(imds_corpus.names, imds_corpus.n);
        tu_free_cases(ovf_corpus.names, ovf_corpus.n);
        tu_free_cases(imds_ignored_corpus.names, imds_ignored_corpus.n);
        tu_free_cases(ovf_custom_data_corpus.names, ovf_custom_data_corpus.n);
        return status;
}
