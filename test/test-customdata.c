/* test-customdata: the custom data parser, driven by the corpora in
 * test/data/customdata/{valid,invalid}/NAME/ (found under $TOP, else the current
 * directory), plus targeted and hostile-input cases.
 *
 * invalid/NAME/expected: the exact problem lines, "input.yaml:LINE:COLUMN: message".
 * valid/NAME/expected: the parsed fields as "key=value" lines in the order of
 * dump() below; secrets are written in clear (compared through secret_reveal()),
 * absent values as "(none)". A legacy script is "kind=script" and its length; the
 * test also compares its bytes with input.yaml. Adding a case needs no code. */
#include <check.h>

#include "canary.h"
#include "customdata.h"
#include "secret.h"
#include "testutil.h"

#define CORPUS_MAX_CASES 512

static char *invalid_cases[CORPUS_MAX_CASES];
static size_t n_invalid;
static char *valid_cases[CORPUS_MAX_CASES];
static size_t n_valid;

static const char *or_none(const char *s) { return s ? s : "(none)"; }
static const char *yes_no(bool b) { return b ? "true" : "false"; }

static char *dump(const CustomData *c) {
        char *buf = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&buf, &size);
        ck_assert_ptr_nonnull(f);
        if (c->kind == CUSTOMDATA_SCRIPT) {
                fprintf(f, "kind=script\nscript_len=%zu\n", c->script_len);
                fclose(f);
                return buf;
        }
        _cleanup_free_ char *address = customdata_master_address(c);
        fprintf(f, "kind=vsensor\n");
        fprintf(f, "update_key=%s\n", or_none(secret_reveal(c->update_key)));
        fprintf(f, "master_host=%s\n", or_none(c->master_host));
        fprintf(f, "master_port=%u\n", c->master_port);
        fprintf(f, "master_address=%s\n", or_none(address));
        fprintf(f, "push_token=%s\n", or_none(secret_reveal(c->push_token)));
        fprintf(f, "proxy=%s\n", or_none(secret_reveal(c->proxy)));
        fprintf(f, "proxy_display=%s\n", or_none(c->proxy_display));
        fprintf(f, "hmac_token=%s\n", or_none(secret_reveal(c->hmac_token)));
        fprintf(f, "pcap_enabled=%s\n", yes_no(c->pcap_enabled));
        fprintf(f, "pcap_storage_account=%s\n", or_none(c->pcap_storage_account));
        fprintf(f, "pcap_container=%s\n", or_none(c->pcap_container));
        fprintf(f, "private_link=%s\n", yes_no(c->private_link));
        fprintf(f, "private_link_nat_ip=%s\n", or_none(c->private_link_nat_ip));
        fprintf(f, "ephemeral=%s\n", yes_no(c->ephemeral));
        fprintf(f, "os_updates=%s\n", yes_no(c->os_updates));
        fclose(f);
        return buf;
}

static void assert_no_canary(const char *text) {
        for (size_t i = 0; canary_values[i]; i++)
                ck_assert_msg(!strstr(text, canary_values[i]), "secret %s leaked into: %s", canary_values[i], text);
}

START_TEST(test_corpus_invalid) {
        const char *name = invalid_cases[_i];
        size_t len, elen;
        _cleanup_free_ char *input = tu_read_case("customdata/invalid", name, "input.yaml", &len);
        _cleanup_free_ char *expected = tu_read_case("customdata/invalid", name, "expected", &elen);
        CustomData sentinel = {}, *c = &sentinel;
        Problems p;

        /* Invalid secret values of earlier cases stay registered (by design) and would
         * redact this case's messages when the tests share a process (CK_FORK=no). */
        secret_registry_clear();
        ck_assert_int_eq(problems_init(&p, "unused"), 0);
        int r = customdata_parse(input, len, "input.yaml", &c, &p);
        ck_assert_msg(r == -EINVAL, "%s: expected -EINVAL, got %d", name, r);
        ck_assert_msg(c == &sentinel, "%s: *ret written on failure", name);
        ck_assert_msg(p.n > 0, "%s: no problem reported", name);

        _cleanup_free_ char *text = tu_problems_text(&p);
        ck_assert_msg(streq(text, expected), "%s:\n--- expected\n%s--- got\n%s", name, expected, text);
        for (size_t i = 0; i < p.n; i++) assert_no_canary(p.items[i].message);
        problems_done(&p);
}
END_TEST

START_TEST(test_corpus_valid) {
        const char *name = valid_cases[_i];
        size_t len, elen;
        _cleanup_free_ char *input = tu_read_case("customdata/valid", name, "input.yaml", &len);
        _cleanup_free_ char *expected = tu_read_case("customdata/valid", name, "expected", &elen);
        _cleanup_(customdata_freep) CustomData *c = NULL;
        Problems p;

        secret_registry_clear();
        ck_assert_int_eq(problems_init(&p, "input.yaml"), 0);
        int r = customdata_parse(input, len, "input.yaml", &c, &p);
        _cleanup_free_ char *text = tu_problems_text(&p);
        ck_assert_msg(r == 0, "%s: expected success, got %d:\n%s", name, r, text);
        ck_assert_int_eq(p.n, 0);
        _cleanup_free_ char *d = dump(c);
        ck_assert_msg(streq(d, expected), "%s:\n--- expected\n%s--- got\n%s", name, expected, d);
        if (c->kind == CUSTOMDATA_SCRIPT) {
                ck_assert_uint_eq(c->script_len, len);
                ck_assert_mem_eq(c->script, input, len);
                ck_assert_int_eq(c->script[len], 0);
        }
        problems_done(&p);
}
END_TEST

START_TEST(test_corpus_size) {
        /* The corpus must not silently vanish (wrong TOP): a minimum the brief asks for. */
        ck_assert_uint_ge(n_invalid, 40);
        ck_assert_uint_ge(n_valid, 10);
}
END_TEST

static const char valid_doc[] =
        "vsensor:\n"
        "  update_key: \"" CANARY_UPDATE_KEY "\"\n"
        "  master:\n"
        "    host: 127.0.0.1\n"
        "    push_token: \"" CANARY_PUSH_TOKEN "\"\n"
        "    proxy: \"" CANARY_PROXY_URL "\"\n"
        "  ossensor:\n"
        "    hmac_token: \"" CANARY_HMAC_TOKEN "\"\n";

static int parse(const char *data, size_t len, CustomData **ret, Problems *p) {
        ck_assert_int_eq(problems_init(p, "t.yaml"), 0);
        return customdata_parse(data, len, "t.yaml", ret, p);
}

START_TEST(test_script_bytes_kept) {
        static const char script[] = "#!/bin/sh\necho \"a\0b\"\n";
        _cleanup_(customdata_freep) CustomData *c = NULL;
        Problems p;
        ck_assert_int_eq(parse(script, sizeof script - 1, &c, &p), 0);
        ck_assert_int_eq(c->kind, CUSTOMDATA_SCRIPT);
        ck_assert_uint_eq(c->script_len, sizeof script - 1);
        ck_assert_mem_eq(c->script, script, sizeof script - 1);
        ck_assert_ptr_null(c->update_key);
        problems_done(&p);
}
END_TEST

START_TEST(test_master_address) {
        static const struct { const char *host, *port, *address; } t[] = {
                { "\"[2001:db8::1]\"", "443", "[2001:db8::1]:443" },
                { "2001:db8::2", "\"8443\"", "[2001:db8::2]:8443" },
                { "dt-master.example.com.", "1", "dt-master.example.com:1" },
                { "10.0.0.1", "65535", "10.0.0.1:65535" },
        };
        for (size_t i = 0; i < ELEMENTSOF(t); i++) {
                _cleanup_free_ char *doc = NULL, *a = NULL;
                _cleanup_(customdata_freep) CustomData *c = NULL;
                Problems p;
                ck_assert_int_ge(asprintf_safe(&doc,
                                               "vsensor:\n  update_key: a:b\n  master:\n    host: %s\n    port: %s\n"
                                               "    push_token: abcd:abcde\n  ossensor:\n    hmac_token: abcdef\n",
                                               t[i].host, t[i].port), 0);
                ck_assert_int_eq(parse(doc, strlen(doc), &c, &p), 0);
                a = customdata_master_address(c);
                ck_assert_str_eq(a, t[i].address);
                problems_done(&p);
        }
        ck_assert_ptr_null(customdata_master_address(NULL));
        secret_registry_clear();
}
END_TEST

/* Halves of KEY:SECRET values shorter than four characters and proxy passwords
 * shorter than three are secrets too: registered, hidden where they stand alone. */
START_TEST(test_short_secret_parts_registered) {
        static const char doc[] =
                "vsensor:\n"
                "  update_key: \"k.%:q7\"\n"
                "  master:\n"
                "    host: 10.0.0.1\n"
                "    push_token: \"abcd:abcde\"\n"
                "    proxy: \"http://user:p@10.0.0.5:3128\"\n"
                "  ossensor:\n"
                "    hmac_token: abcdef\n";
        _cleanup_(customdata_freep) CustomData *c = NULL;
        Problems p;
        secret_registry_clear();
        ck_assert_int_eq(parse(doc, strlen(doc), &c, &p), 0);
        _cleanup_free_ char *red = secret_redact("half1=k.% half2=q7 pw=p url=http://user:p@h about q77 kq7");
        ck_assert_str_eq(red, "half1=(hidden) half2=(hidden) pw=(hidden) url=http://user:(hidden)@h about q77 kq7");
        /* Still registered after the Secrets are freed: they may be in a copy of the input. */
        c = customdata_free(c);
        ck_assert(secret_contains_any("x q7 x", 6));
        ck_assert(secret_contains_any(":p@", 3));
        problems_done(&p);
        secret_registry_clear();
}
END_TEST

START_TEST(test_secrets_and_proxy_redaction) {
        _cleanup_(customdata_freep) CustomData *c = NULL;
        Problems p;
        secret_registry_clear();
        ck_assert_int_eq(parse(valid_doc, strlen(valid_doc), &c, &p), 0);
        ck_assert_str_eq(secret_reveal(c->update_key), CANARY_UPDATE_KEY);
        ck_assert_str_eq(secret_reveal(c->push_token), CANARY_PUSH_TOKEN);
        ck_assert_str_eq(secret_reveal(c->hmac_token), CANARY_HMAC_TOKEN);
        ck_assert_str_eq(secret_reveal(c->proxy), CANARY_PROXY_URL);
        ck_assert_str_eq(c->proxy_display, "http://proxyuser:(hidden)@127.0.0.1:3128");

        /* The password alone is redacted, not only the whole URL. */
        _cleanup_free_ char *red = secret_redact("pw=" CANARY_PROXY_PW " key=" CANARY_UPDATE_KEY);
        ck_assert_str_eq(red, "pw=(hidden) key=(hidden)");
        /* So are the halves of the KEY:SECRET tokens, which may be printed alone; the
         * proxy URL's scheme is not mistaken for one. */
        _cleanup_free_ char *halves = secret_redact("a=Sekr1tValue9 b=" CANARY_PUSH_SECRET " c=http");
        ck_assert_str_eq(halves, "a=(hidden) b=(hidden) c=http");

        /* Freeing the Secrets unregisters them; the proxy password stays registered. */
        c = customdata_free(c);
        ck_assert(!secret_contains_any(CANARY_HMAC_TOKEN, strlen(CANARY_HMAC_TOKEN)));
        ck_assert(secret_contains_any(CANARY_PROXY_PW, strlen(CANARY_PROXY_PW)));
        problems_done(&p);
        secret_registry_clear();
}
END_TEST

START_TEST(test_secrets_registered_on_failure) {
        /* Valid secrets, one bad port, and one malformed secret: all secret values stay
         * registered although the parse fails, and none is in a message. */
        static const char doc[] =
                "vsensor:\n"
                "  update_key: \"" CANARY_UPDATE_KEY "\"\n"
                "  master:\n"
                "    host: 127.0.0.1\n"
                "    port: 0\n"
                "    push_token: \"" CANARY_PUSH_TOKEN "\"\n"
                "  ossensor:\n"
                "    hmac_token: \"" CANARY_HMAC_TOKEN "!\"\n";
        CustomData *c = NULL;
        Problems p;
        secret_registry_clear();
        ck_assert_int_eq(parse(doc, strlen(doc), &c, &p), -EINVAL);
        ck_assert_ptr_null(c);
        ck_assert_uint_eq(p.n, 2);
        ck_assert(secret_contains_any(CANARY_UPDATE_KEY, strlen(CANARY_UPDATE_KEY)));
        ck_assert(secret_contains_any(CANARY_PUSH_TOKEN, strlen(CANARY_PUSH_TOKEN)));
        ck_assert(secret_contains_any(CANARY_HMAC_TOKEN "!", strlen(CANARY_HMAC_TOKEN) + 1));
        _cleanup_free_ char *text = tu_problems_text(&p);
        assert_no_canary(text);
        problems_done(&p);
        secret_registry_clear();
}
END_TEST

START_TEST(test_size_cap) {
        /* Exactly CUSTOMDATA_MAX bytes is accepted, one more is refused. */
        _cleanup_free_ char *big = malloc(CUSTOMDATA_MAX + 2);
        size_t n = strlen(valid_doc);
        memcpy(big, valid_doc, n);
        big[n++] = '#';
        while (n < CUSTOMDATA_MAX) big[n++] = 'x';
        big[CUSTOMDATA_MAX - 1] = '\n';
        big[CUSTOMDATA_MAX] = '\n';

        CustomData *c = NULL;
        Problems p;
        ck_assert_int_eq(parse(big, CUSTOMDATA_MAX, &c, &p), 0);
        c = customdata_free(c);
        problems_done(&p);

        ck_assert_int_eq(parse(big, CUSTOMDATA_MAX + 1, &c, &p), -EINVAL);
        _cleanup_free_ char *text = tu_problems_text(&p);
        ck_assert_str_eq(text, "t.yaml: custom data is larger than 65536 bytes\n");
        problems_done(&p);
        secret_registry_clear();
}
END_TEST

START_TEST(test_problem_file_and_order) {
        static const char doc[] = "vsensor:\n  colour: red\n";
        CustomData *c = NULL;
        Problems p;
        ck_assert_int_eq(problems_init(&p, "cli-name"), 0);
        ck_assert_int_eq(problems_add(&p, 99, 1, "earlier problem"), 0);

        /* Problems name the filename given; the list's own file is left as it was;
         * problems already in the list stay first. */
        ck_assert_int_eq(customdata_parse(doc, strlen(doc), "custom-data", &c, &p), -EINVAL);
        ck_assert_str_eq(p.file, "cli-name");
        _cleanup_free_ char *text = tu_problems_text(&p);
        ck_assert_str_eq(text,
                         "cli-name:99:1: earlier problem\n"
                         "custom-data:1:1: vsensor.update_key: required key is missing\n"
                         "custom-data:1:1: vsensor.master.host: required key is missing\n"
                         "custom-data:1:1: vsensor.master.push_token: required key is missing\n"
                         "custom-data:1:1: vsensor.ossensor.hmac_token: required key is missing\n"
                         "custom-data:2:3: vsensor.colour: unknown key (expected one of: update_key, master, "
                         "ossensor, pcap, private_link, ephemeral, os_updates, managed_identity)\n");
        problems_done(&p);

        /* Without a filename, the list's file is used. */
        ck_assert_int_eq(problems_init(&p, "<stdin>"), 0);
        ck_assert_int_eq(customdata_parse("", 0, NULL, &c, &p), -EINVAL);
        _cleanup_free_ char *first = problems_first(&p);
        ck_assert_str_eq(first, "<stdin>: custom data is empty");
        problems_done(&p);
}
END_TEST

START_TEST(test_hostile_deep_nesting) {
        /* Far deeper than the cap: refused once, no recursion into it. */
        size_t depth = 20000;
        _cleanup_free_ char *doc = malloc(2 * depth + 16);
        size_t n = 0;
        n += (size_t)snprintf(doc, 16, "vsensor: ");
        for (size_t i = 0; i < depth; i++) doc[n++] = '[';
        for (size_t i = 0; i < depth; i++) doc[n++] = ']';
        CustomData *c = NULL;
        Problems p;
        ck_assert_int_eq(parse(doc, n, &c, &p), -EINVAL);
        ck_assert_uint_eq(p.n, 1);
        ck_assert_ptr_nonnull(strstr(p.items[0].message, "nesting deeper than 16 levels"));
        problems_done(&p);

        /* Block mappings, each level a line. */
        _cleanup_free_ char *blk = malloc(CUSTOMDATA_MAX);
        n = 0;
        for (unsigned i = 0; i < 100 && n + 256 < CUSTOMDATA_MAX; i++)
                n += (size_t)snprintf(blk + n, 256, "%*sk%u:\n", (int)i, "", i);
        ck_assert_int_eq(parse(blk, n, &c, &p), -EINVAL);
        ck_assert_uint_eq(p.n, 1);
        ck_assert_uint_eq(p.items[0].line, 17);
        problems_done(&p);
}
END_TEST

START_TEST(test_hostile_huge_scalars) {
        size_t big = 60 * 1024;
        _cleanup_free_ char *doc = malloc(CUSTOMDATA_MAX);
        size_t n = (size_t)snprintf(doc, 64, "vsensor:\n  ossensor:\n    hmac_token: ");
        memset(doc + n, 'a', big);
        n += big;
        n += (size_t)snprintf(doc + n, 64, "\n  %s: 1\n", "k");
        CustomData *c = NULL;
        Problems p;
        ck_assert_int_eq(parse(doc, n, &c, &p), -EINVAL);
        _cleanup_free_ char *text = tu_problems_text(&p);
        ck_assert_ptr_nonnull(strstr(text, "hmac_token: 6 to 62 letters or digits (got 61440 characters)"));
        problems_done(&p);

        /* A huge unknown key (explicit "?" form: implicit keys are limited to 1024
         * characters by YAML) is echoed capped to 64 characters. */
        n = (size_t)snprintf(doc, 64, "vsensor:\n  ? ");
        memset(doc + n, 'k', big);
        n += big;
        n += (size_t)snprintf(doc + n, 64, "\n  : 1\n");
        ck_assert_int_eq(parse(doc, n, &c, &p), -EINVAL);
        bool found = false;
        for (size_t i = 0; i < p.n; i++) {
                ck_assert_uint_lt(strlen(p.items[i].message), 512);
                if (strstr(p.items[i].message, "kkkk...: unknown key")) found = true;
        }
        ck_assert(found);
        problems_done(&p);
        secret_registry_clear();
}
END_TEST

static uint64_t rng_state = 0x9E3779B97F4A7C15ULL;
static uint64_t rng(void) {
        rng_state ^= rng_state << 13;
        rng_state ^= rng_state >> 7;
        rng_state ^= rng_state << 17;
        return rng_state;
}

static void parse_any(const char *data, size_t len) {
        CustomData *c = NULL;
        Problems p;
        int r = parse(data, len, &c, &p);
        ck_assert_msg(r == 0 || r == -EINVAL, "unexpected result %d", r);
        if (r == 0) {
                ck_assert_ptr_nonnull(c);
                ck_assert_uint_eq(p.n, 0);
        } else
                ck_assert_uint_gt(p.n, 0);
        customdata_free(c);
        problems_done(&p);
}

START_TEST(test_hostile_random) {
        static const char alphabet[] = "vsensor:update_key master host port \n\n  -[]{}&*!|>'\"#%@`,?\t\\0x\x01\xff\xc3";
        char buf[512];

        for (unsigned round = 0; round < 1500; round++) {
                size_t len = rng() % sizeof buf;
                for (size_t i = 0; i < len; i++)
                        buf[i] = round % 2 ? (char)rng() : alphabet[rng() % (sizeof alphabet - 1)];
                parse_any(buf, len);
        }

        /* Mutations of a valid document: parsed or refused, never a crash. */
        size_t n = strlen(valid_doc);
        _cleanup_free_ char *m = malloc(n);
        for (unsigned round = 0; round < 1500; round++) {
                memcpy(m, valid_doc, n);
                unsigned flips = 1 + (unsigned)(rng() % 4);
                for (unsigned k = 0; k < flips; k++)
                        m[rng() % n] = round % 3 ? alphabet[rng() % (sizeof alphabet - 1)] : (char)rng();
                parse_any(m, rng() % 8 ? n : rng() % n);
        }
        secret_registry_clear();
}
END_TEST

/* ---- Key Vault references (issue 12) ---- */

#define KV "https://dt-vault.vault.azure.net/secrets/"
static const char kv_doc[] =
        "vsensor:\n"
        "  update_key:\n"
        "    key_vault: " KV "vsensor-update-key\n"
        "  master:\n"
        "    host: dt-master.example.com\n"
        "    push_token: { key_vault: \"" KV "vsensor-push-token/0123456789abcdef0123456789abcdef\" }\n"
        "  ossensor:\n"
        "    hmac_token: \"" CANARY_HMAC_TOKEN "\"\n"
        "  managed_identity:\n"
        "    client_id: 6F1C1A8E-9A4B-4A51-8C5E-2A0D3F4B5C6D\n";

static CustomData *parse_kv(const char *doc, const CustomDataOptions *o) {
        Problems p;
        CustomData *c = NULL;
        ck_assert_int_eq(problems_init(&p, "kv.yaml"), 0);
        int r = customdata_parse_with(doc, strlen(doc), "kv.yaml", o, &c, &p);
        _cleanup_free_ char *text = tu_problems_text(&p);
        ck_assert_msg(r == 0, "%s", text);
        problems_done(&p);
        return c;
}

START_TEST(test_kv_references_parsed) {
        _cleanup_(customdata_freep) CustomData *c = parse_kv(kv_doc, NULL);
        ck_assert_uint_eq(customdata_n_refs(c), 2);
        ck_assert_ptr_null(c->update_key);
        ck_assert_ptr_null(c->push_token);
        ck_assert_str_eq(secret_reveal(c->hmac_token), CANARY_HMAC_TOKEN);
        const CustomDataRef *u = &c->refs[CUSTOMDATA_SECRET_UPDATE_KEY], *t = &c->refs[CUSTOMDATA_SECRET_PUSH_TOKEN];
        ck_assert_str_eq(u->ref.uri, KV "vsensor-update-key");
        ck_assert_str_eq(u->ref.host, "dt-vault.vault.azure.net");
        ck_assert_str_eq(u->ref.name, "vsensor-update-key");
        ck_assert_ptr_null(u->ref.version);
        ck_assert_uint_eq(u->line, 3);
        ck_assert_uint_eq(u->column, 16);
        ck_assert_str_eq(t->ref.version, "0123456789abcdef0123456789abcdef");
        ck_assert_uint_eq(t->line, 6);
        ck_assert_ptr_null(c->refs[CUSTOMDATA_SECRET_HMAC_TOKEN].ref.uri);
        ck_assert_str_eq(c->managed_identity_client_id, "6f1c1a8e-9a4b-4a51-8c5e-2a0d3f4b5c6d");
        ck_assert_str_eq(customdata_secret_key(CUSTOMDATA_SECRET_PUSH_TOKEN), "vsensor.master.push_token");
}
END_TEST

START_TEST(test_kv_set_secret) {
        _cleanup_(customdata_freep) CustomData *c = parse_kv(kv_doc, NULL);
        Problems p;
        ck_assert_int_eq(problems_init(&p, "kv.yaml"), 0);
        const char *v = CANARY_PUSH_TOKEN;
        ck_assert_int_eq(customdata_set_secret(c, CUSTOMDATA_SECRET_PUSH_TOKEN, v, strlen(v), &p), 0);
        ck_assert_str_eq(secret_reveal(c->push_token), CANARY_PUSH_TOKEN);
        /* Its secret half is hidden on its own, as a literal's is. */
        _cleanup_free_ char *red = secret_redact("x " CANARY_PUSH_SECRET " y");
        ck_assert_str_eq(red, "x " SECRET_HIDDEN " y");

        /* A value that breaks the literal's rule: the key, the vault URI, where the
         * reference is written, and never the value. */
        const char *bad = "CanaryBadUpdateKey";
        ck_assert_int_eq(customdata_set_secret(c, CUSTOMDATA_SECRET_UPDATE_KEY, bad, strlen(bad), &p), -EINVAL);
        ck_assert_ptr_null(c->update_key);
        _cleanup_free_ char *text = tu_problems_text(&p);
        ck_assert_str_eq(text, "kv.yaml:3:16: vsensor.update_key: the value from Key Vault (" KV "vsensor-update-key) "
                               "is not valid: expected KEY:SECRET of letters, digits, '%' and '.', at most 256 "
                               "characters (got 18 characters with no ':')\n");
        _cleanup_free_ char *red2 = secret_redact(bad);
        ck_assert_str_eq(red2, SECRET_HIDDEN);
        problems_done(&p);
}
END_TEST

START_TEST(test_kv_host_suffixes_option) {
        static const char *const local[] = {"127.0.0.1", NULL};
        static const char doc[] = "vsensor:\n"
                                  "  update_key: { key_vault: \"https://127.0.0.1:4443/secrets/k\" }\n"
                                  "  master: { host: dt-master.example.com, push_token: \"name-1:abcde12345\" }\n"
                                  "  ossensor: { hmac_token: abcdef123 }\n";
        CustomDataOptions o = {.key_vault_host_suffixes = local};
        _cleanup_(customdata_freep) CustomData *c = parse_kv(doc, &o);
        ck_assert_uint_eq(customdata_n_refs(c), 1);
        ck_assert_uint_eq(c->refs[CUSTOMDATA_SECRET_UPDATE_KEY].ref.port, 4443);

        /* The defaults do not allow it. */
        Problems p;
        CustomData *d = NULL;
        ck_assert_int_eq(problems_init(&p, "kv.yaml"), 0);
        ck_assert_int_eq(customdata_parse(doc, strlen(doc), "kv.yaml", &d, &p), -EINVAL);
        ck_assert_ptr_null(d);
        ck_assert_uint_eq(p.n, 1);
        ck_assert_uint_eq(p.items[0].line, 2);
        ck_assert_ptr_nonnull(strstr(p.items[0].message, "the host 127.0.0.1 is not a Key Vault host allowed"));
        problems_done(&p);
}
END_TEST

static Suite *customdata_suite(void) {
        Suite *s = suite_create("customdata");
        TCase *tc = tcase_create("corpus");
        tcase_add_test(tc, test_corpus_size);
        tcase_add_loop_test(tc, test_corpus_invalid, 0, (int)n_invalid);
        tcase_add_loop_test(tc, test_corpus_valid, 0, (int)n_valid);
        suite_add_tcase(s, tc);

        tc = tcase_create("rules");
        tcase_add_test(tc, test_script_bytes_kept);
        tcase_add_test(tc, test_master_address);
        tcase_add_test(tc, test_secrets_and_proxy_redaction);
        tcase_add_test(tc, test_short_secret_parts_registered);
        tcase_add_test(tc, test_secrets_registered_on_failure);
        tcase_add_test(tc, test_size_cap);
        tcase_add_test(tc, test_problem_file_and_order);
        suite_add_tcase(s, tc);

        tc = tcase_create("keyvault");
        tcase_add_test(tc, test_kv_references_parsed);
        tcase_add_test(tc, test_kv_set_secret);
        tcase_add_test(tc, test_kv_host_suffixes_option);
        suite_add_tcase(s, tc);

        tc = tcase_create("hostile");
        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, test_hostile_deep_nesting);
        tcase_add_test(tc, test_hostile_huge_scalars);
        tcase_add_test(tc, test_hostile_random);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        n_invalid = tu_list_cases("customdata/invalid", invalid_cases, CORPUS_MAX_CASES);
        n_valid = tu_list_cases("customdata/valid", valid_cases, CORPUS_MAX_CASES);

        int status = tu_run_suite(customdata_suite());
        tu_free_cases(invalid_cases, n_invalid);
        tu_free_cases(valid_cases, n_valid);
        return status;
}
