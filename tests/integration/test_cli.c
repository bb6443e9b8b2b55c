/* SPDX-License-Identifier: MIT */
/*
 * test_cli.c - the praxis command end to end: keygen, sign and inspect run as child
 * processes on files in a temporary directory, checking exit codes, output and errors.
 */
#include <sys/stat.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <jansson.h>

#include "protocol/record.h"
#include "util/testutil.h"

#define TIMEOUT_MS 20000
#define MAX_ARGS   16
/* 2024-05-01T12:00:00Z */
#define CREATED     "1714564800000"
#define CREATED_ISO "2024-05-01T12:00:00.000Z"

static const char good_case[] =
    "{\"practice\": \"good\", \"title\": \"  Cash transfers beat in-kind aid \",\n"
    " \"summary\": \"Families bought what they needed.\\nMarkets recovered.\",\n"
    " \"lessons\": [\"Check that markets work first\", \"Pay on time\"],\n"
    " \"tags\": [\"food-security\", \"cash\", \"cash\"], \"sector\": \"humanitarian\",\n"
    " \"region\": \"KE\", \"language\": \"en\", \"occurred\": \"2023-04\",\n"
    " \"links\": [\"https://example.org/report\"], \"license\": \"CC-BY-4.0\"}\n";

static char *tmp;

static void
setup(void)
{
    tmp = px_test_tmpdir();
    cr_assert_eq(chdir(tmp), 0);
}

static void
teardown(void)
{
    px_test_rmtree(tmp);
    free(tmp);
}

TestSuite(cli, .init = setup, .fini = teardown);

/* Runs praxis with the NULL-terminated arguments after in, feeding in[0..in_len). */
static void
run(struct px_run *r, const void *in, size_t in_len, ...)
{
    char *argv[MAX_ARGS + 2];
    char *bin = px_test_bin("praxis");
    va_list ap;
    int n = 0;

    argv[n++] = bin;
    va_start(ap, in_len);
    for (char *a = va_arg(ap, char *); a != NULL; a = va_arg(ap, char *)) {
        cr_assert_lt(n, MAX_ARGS);
        argv[n++] = a;
    }
    va_end(ap);
    argv[n] = NULL;
    cr_assert_eq(px_test_run(argv, in, in_len, NULL, TIMEOUT_MS, r), 0, "cannot run %s", bin);
    cr_assert_neq(r->status, -1, "praxis timed out");
    free(bin);
}

/* Every error is exactly one line on stderr, starting with "praxis: ". */
static void
assert_one_error_line(const struct px_run *r)
{
    cr_assert(strncmp(r->err, "praxis: ", 8) == 0, "stderr: %s", r->err);
    cr_assert_gt(r->err_len, 0);
    cr_assert_eq(r->err[r->err_len - 1], '\n', "stderr: %s", r->err);
    cr_assert_null(memchr(r->err, '\n', r->err_len - 1), "more than one line: %s", r->err);
}

static void
assert_contains(const char *hay, const char *needle)
{
    cr_assert_not_null(strstr(hay, needle), "expected \"%s\" in:\n%s", needle, hay);
}

/* Creates an identity file with keygen --json and returns its public key (malloc'd). */
static char *
make_identity(const char *path)
{
    struct px_run r;
    json_error_t jerr;
    json_t *o;
    char *pk;

    run(&r, NULL, 0, "keygen", "-o", path, "--json", NULL);
    cr_assert_eq(r.status, 0, "keygen: %s", r.err);
    o = json_loads(r.out, 0, &jerr);
    cr_assert_not_null(o, "keygen --json output is not JSON: %s", r.out);
    cr_assert_str_eq(json_string_value(json_object_get(o, "path")), path);
    pk = strdup(json_string_value(json_object_get(o, "public_key")));
    cr_assert_eq(strlen(pk), 64);
    cr_assert_eq(strspn(pk, "0123456789abcdef"), 64);
    json_decref(o);
    px_run_free(&r);
    return pk;
}

/* Signs text with the identity at id_path; returns the records (malloc'd) and their size. */
static char *
sign_text(const char *id_path, const char *text, size_t *len)
{
    struct px_run r;
    char *out;

    run(&r, text, strlen(text), "sign", "-i", id_path, "--created", CREATED, NULL);
    cr_assert_eq(r.status, 0, "sign failed: %s", r.err);
    cr_assert_eq(r.err_len, 0, "sign wrote to stderr: %s", r.err);
    cr_assert_gt(r.out_len, 0);
    out = r.out;
    *len = r.out_len;
    r.out = NULL;
    px_run_free(&r);
    return out;
}

/* Splits JSON Lines output into at most max parsed objects; returns how many. */
static size_t
parse_lines(const char *text, json_t **objs, size_t max)
{
    size_t n = 0;
    const char *p = text;

    while (*p != '\0') {
        const char *nl = strchr(p, '\n');
        json_error_t jerr;

        cr_assert_not_null(nl, "unterminated line: %s", p);
        cr_assert_lt(n, max);
        objs[n] = json_loadb(p, (size_t)(nl - p), 0, &jerr);
        cr_assert_not_null(objs[n], "not JSON: %.*s (%s)", (int)(nl - p), p, jerr.text);
        n++;
        p = nl + 1;
    }
    return n;
}

Test(cli, keygen_writes_0600_file_and_refuses_to_overwrite)
{
    struct px_run r;
    struct stat st;
    uint8_t *before, *after;
    size_t before_len, after_len;

    /* The default file is praxis.identity in the current directory. */
    run(&r, NULL, 0, "keygen", NULL);
    cr_assert_eq(r.status, 0, "keygen: %s", r.err);
    assert_contains(r.out, "praxis.identity");
    cr_assert_eq(stat("praxis.identity", &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0600, "mode %o", (unsigned)(st.st_mode & 0777));
    before = px_test_read_file("praxis.identity", &before_len);
    cr_assert_not_null(before);
    assert_contains((const char *)before, "praxis-identity 1");
    /* The printed public key is the one in the file. */
    {
        const char *pub = strstr((const char *)before, "public ");
        char line[80];

        cr_assert_not_null(pub);
        snprintf(line, sizeof(line), "public key: %.64s\n", pub + 7);
        assert_contains(r.out, line);
    }
    px_run_free(&r);

    run(&r, NULL, 0, "keygen", NULL);
    cr_assert_eq(r.status, 1);
    cr_assert_eq(r.out_len, 0);
    assert_one_error_line(&r);
    assert_contains(r.err, "already exists");
    after = px_test_read_file("praxis.identity", &after_len);
    cr_assert_not_null(after);
    cr_assert_eq(after_len, before_len);
    cr_assert_eq(memcmp(before, after, before_len), 0, "the identity file was changed");
    free(before);
    free(after);
    px_run_free(&r);
}

Test(cli, keygen_json_names_the_path)
{
    char *pk = make_identity("other.identity");
    struct stat st;

    cr_assert_eq(stat("other.identity", &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0600);
    free(pk);
}

Test(cli, sign_refuses_identity_readable_by_others)
{
    struct px_run r;
    char *pk = make_identity("id");

    cr_assert_eq(chmod("id", 0644), 0);
    run(&r, good_case, strlen(good_case), "sign", "-i", "id", NULL);
    cr_assert_eq(r.status, 1);
    cr_assert_eq(r.out_len, 0);
    assert_one_error_line(&r);
    assert_contains(r.err, "identity file id is readable by others; run chmod 600 id");
    px_run_free(&r);
    free(pk);
}

Test(cli, sign_reports_missing_identity)
{
    struct px_run r;

    run(&r, good_case, strlen(good_case), "sign", "-i", "nope.identity", NULL);
    cr_assert_eq(r.status, 1);
    cr_assert_eq(r.out_len, 0);
    assert_one_error_line(&r);
    assert_contains(r.err, "nope.identity not found");
    px_run_free(&r);
}

Test(cli, sign_then_inspect_human)
{
    struct px_run r;
    char *pk = make_identity("id");
    char line[160];
    size_t len;
    char *rec = sign_text("id", good_case, &len);

    run(&r, rec, len, "inspect", NULL);
    cr_assert_eq(r.status, 0, "inspect: %s", r.err);
    cr_assert_eq(r.err_len, 0, "stderr: %s", r.err);
    assert_contains(r.out, "type       case\n");
    snprintf(line, sizeof(line), "author     %s\n", pk);
    assert_contains(r.out, line);
    assert_contains(r.out, "created    " CREATED_ISO " (" CREATED ")\n");
    assert_contains(r.out, "signature  valid\n");
    assert_contains(r.out, "practice   good\n");
    /* Trimmed, and the second summary line indented under the first. */
    assert_contains(r.out, "title      Cash transfers beat in-kind aid\n");
    assert_contains(r.out, "summary    Families bought what they needed.\n"
                           "           Markets recovered.\n");
    assert_contains(r.out, "lessons    - Check that markets work first\n"
                           "           - Pay on time\n");
    /* Sorted and deduplicated. */
    assert_contains(r.out, "tags       cash, food-security\n");
    assert_contains(r.out, "region     KE\n");
    assert_contains(r.out, "license    CC-BY-4.0\n");
    px_run_free(&r);
    free(rec);
    free(pk);
}

Test(cli, sign_then_inspect_json)
{
    struct px_run r;
    json_t *objs[4], *o, *tags;
    char *pk = make_identity("id");
    size_t len;
    char *rec;

    cr_assert_eq(px_test_write_file("case.json", good_case, strlen(good_case)), 0);
    run(&r, NULL, 0, "sign", "-i", "id", "--created", CREATED, "case.json", NULL);
    cr_assert_eq(r.status, 0, "sign: %s", r.err);
    rec = r.out;
    len = r.out_len;
    r.out = NULL;
    px_run_free(&r);

    run(&r, rec, len, "inspect", "--json", "-", NULL);
    cr_assert_eq(r.status, 0, "inspect: %s", r.err);
    cr_assert_eq(parse_lines(r.out, objs, 4), 1);
    o = objs[0];
    cr_assert_eq(strlen(json_string_value(json_object_get(o, "id"))), 64);
    cr_assert_str_eq(json_string_value(json_object_get(o, "type")), "case");
    cr_assert_str_eq(json_string_value(json_object_get(o, "author")), pk);
    cr_assert_eq(json_integer_value(json_object_get(o, "created")), 1714564800000LL);
    cr_assert(json_is_true(json_object_get(o, "signature_valid")));
    cr_assert_str_eq(json_string_value(json_object_get(o, "practice")), "good");
    cr_assert_str_eq(json_string_value(json_object_get(o, "title")),
                     "Cash transfers beat in-kind aid");
    cr_assert_str_eq(json_string_value(json_object_get(o, "summary")),
                     "Families bought what they needed.\nMarkets recovered.");
    tags = json_object_get(o, "tags");
    cr_assert_eq(json_array_size(tags), 2);
    cr_assert_str_eq(json_string_value(json_array_get(tags, 0)), "cash");
    cr_assert_str_eq(json_string_value(json_array_get(tags, 1)), "food-security");
    cr_assert_str_eq(json_string_value(json_object_get(o, "occurred")), "2023-04");
    cr_assert_str_eq(json_string_value(json_array_get(json_object_get(o, "links"), 0)),
                     "https://example.org/report");
    cr_assert_null(json_object_get(o, "body"), "an absent body must stay absent");
    json_decref(o);
    px_run_free(&r);
    free(rec);
    free(pk);
}

Test(cli, sign_is_reproducible_with_created)
{
    char *pk = make_identity("id");
    size_t len1, len2;
    char *a = sign_text("id", good_case, &len1);
    char *b = sign_text("id", good_case, &len2);

    cr_assert_eq(len1, len2);
    cr_assert_eq(memcmp(a, b, len1), 0, "the same input, key and time gave different bytes");
    free(a);
    free(b);
    free(pk);
}

Test(cli, json_lines_give_several_records)
{
    static const char lines[] =
        "{\"practice\":\"good\",\"title\":\"First\",\"summary\":\"s\",\"language\":\"en\","
        "\"license\":\"MIT\"}\n"
        "{\"practice\":\"bad\",\"title\":\"Second\",\"summary\":\"s\",\"language\":\"fr\","
        "\"license\":\"MIT\"}\n"
        "{\"type\":\"retraction\",\"target\":"
        "\"00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\","
        "\"reason\":\"Posted by mistake\"}\n";
    struct px_run r;
    json_t *objs[8];
    char *pk = make_identity("id");
    size_t len;
    char *rec = sign_text("id", lines, &len);

    run(&r, rec, len, "inspect", "--json", NULL);
    cr_assert_eq(r.status, 0, "inspect: %s", r.err);
    cr_assert_eq(parse_lines(r.out, objs, 8), 3);
    cr_assert_str_eq(json_string_value(json_object_get(objs[0], "title")), "First");
    cr_assert_str_eq(json_string_value(json_object_get(objs[1], "title")), "Second");
    cr_assert_str_eq(json_string_value(json_object_get(objs[1], "practice")), "bad");
    cr_assert_str_eq(json_string_value(json_object_get(objs[2], "type")), "retraction");
    cr_assert_str_eq(json_string_value(json_object_get(objs[2], "target")),
                     "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff");
    cr_assert_str_eq(json_string_value(json_object_get(objs[2], "reason")), "Posted by mistake");
    for (int i = 0; i < 3; i++) {
        cr_assert(json_is_true(json_object_get(objs[i], "signature_valid")));
        json_decref(objs[i]);
    }
    px_run_free(&r);

    run(&r, rec, len, "inspect", NULL);
    cr_assert_eq(r.status, 0);
    assert_contains(r.out, "record     1 at offset 0 ");
    assert_contains(r.out, "title      Second\n");
    assert_contains(r.out, "record     3 at offset ");
    assert_contains(r.out, "reason     Posted by mistake\n");
    px_run_free(&r);
    free(rec);
    free(pk);
}

Test(cli, inspect_reports_a_flipped_signature_byte)
{
    struct px_run r;
    json_t *objs[2];
    char *pk = make_identity("id");
    size_t len;
    char *rec = sign_text("id", good_case, &len);

    /* The signature is the last 64 bytes of the record. */
    rec[len - 10] ^= 0x01;
    run(&r, rec, len, "inspect", NULL);
    cr_assert_eq(r.status, 1);
    assert_contains(r.out, "signature  INVALID\n");
    cr_assert_null(strstr(r.out, "signature  valid"));
    assert_one_error_line(&r);
    assert_contains(r.err, "invalid signature");
    px_run_free(&r);

    run(&r, rec, len, "inspect", "--json", NULL);
    cr_assert_eq(r.status, 1);
    cr_assert_eq(parse_lines(r.out, objs, 2), 1);
    cr_assert(json_is_false(json_object_get(objs[0], "signature_valid")));
    json_decref(objs[0]);
    px_run_free(&r);
    free(rec);
    free(pk);
}

Test(cli, inspect_reports_truncated_input_with_its_offset)
{
    struct px_run r;
    char *pk = make_identity("id");
    size_t len;
    char *rec = sign_text("id", good_case, &len);
    char *two = malloc(2 * len), expect[64];

    /* One record cut short. */
    run(&r, rec, len - 10, "inspect", NULL);
    cr_assert_eq(r.status, 1);
    assert_one_error_line(&r);
    assert_contains(r.err, "record 1 at offset 0: ETRUNC: input is truncated");
    px_run_free(&r);

    /* A whole record, then half of one: the first is shown, the error names the offset. */
    memcpy(two, rec, len);
    memcpy(two + len, rec, len / 2);
    run(&r, two, len + len / 2, "inspect", NULL);
    cr_assert_eq(r.status, 1);
    assert_contains(r.out, "signature  valid\n");
    assert_one_error_line(&r);
    snprintf(expect, sizeof(expect), "record 2 at offset %zu: ETRUNC", len);
    assert_contains(r.err, expect);
    px_run_free(&r);
    free(two);
    free(rec);
    free(pk);
}

Test(cli, inspect_rejects_garbage)
{
    static const char garbage[] = "this is not a praxis record at all\n";
    struct px_run r;

    run(&r, garbage, strlen(garbage), "inspect", NULL);
    cr_assert_eq(r.status, 1);
    cr_assert_eq(r.out_len, 0);
    assert_one_error_line(&r);
    assert_contains(r.err, "record 1 at offset 0: E");
    px_run_free(&r);
}

Test(cli, inspect_rejects_an_empty_file)
{
    struct px_run r;

    cr_assert_eq(px_test_write_file("empty.rec", "", 0), 0);
    run(&r, NULL, 0, "inspect", "empty.rec", NULL);
    cr_assert_eq(r.status, 1);
    cr_assert_eq(r.out_len, 0);
    assert_one_error_line(&r);
    assert_contains(r.err, "no records in empty.rec");
    px_run_free(&r);
}

Test(cli, inspect_escapes_bidi_overrides)
{
    /* U+202E RIGHT-TO-LEFT OVERRIDE is valid in a record but must not reach the terminal. */
    static const char text[] = "{\"practice\":\"good\",\"title\":\"abc\\u202edef\","
                               "\"summary\":\"s\",\"language\":\"en\",\"license\":\"MIT\"}";
    struct px_run r;
    char *pk = make_identity("id");
    size_t len;
    char *rec = sign_text("id", text, &len);

    run(&r, rec, len, "inspect", NULL);
    cr_assert_eq(r.status, 0);
    assert_contains(r.out, "title      abc<U+202E>def\n");
    cr_assert_null(strstr(r.out, "\xe2\x80\xae"), "a raw U+202E was printed");
    px_run_free(&r);
    free(rec);
    free(pk);
}

struct bad_input {
    const char *json;
    const char *message;
};

Test(cli, sign_rejects_bad_input_and_writes_nothing)
{
    static const struct bad_input cases[] = {
        {"{\"practice\":\"good\",\"summary\":\"s\",\"language\":\"en\",\"license\":\"MIT\"}",
         "praxis: field \"title\": required field missing\n"},
        {"{\"practice\":\"great\",\"title\":\"t\",\"summary\":\"s\",\"language\":\"en\","
         "\"license\":\"MIT\"}",
         "field \"practice\": field value not allowed"},
        {"{\"practice\":\"good\",\"title\":\"t\",\"summary\":\"s\",\"language\":\"en\","
         "\"license\":\"MIT\",\"colour\":\"red\"}",
         "field \"colour\": unknown field"},
        {"{\"practice\":\"good\",\"title\":\"t\",\"summary\":\"s\",", "invalid JSON at line 1"},
        {"{\"practice\":\"good\",\"title\":[\"t\"],\"summary\":\"s\",\"language\":\"en\","
         "\"license\":\"MIT\"}",
         "field \"title\": wrong type"},
        {"{\"practice\":\"good\",\"title\":\"a\\u0000b\",\"summary\":\"s\",\"language\":\"en\","
         "\"license\":\"MIT\"}",
         "field \"title\": field value not allowed (the string holds a NUL character"},
        {"{\"practice\":\"good\",\"title\":\"t\",\"summary\":\"s\",\"language\":\"en\","
         "\"license\":\"MIT\",\"tags\":[\"Cash\"]}",
         "field \"tags\": field value not allowed"},
        {"{\"type\":\"retraction\",\"reason\":\"r\"}", "field \"target\": required field missing"},
        {"[]", "expected a JSON object"},
        {"   \n", "no JSON object in the input"},
        /* A bad third line of JSON Lines: nothing at all is written, and the line is named. */
        {"{\"practice\":\"good\",\"title\":\"t\",\"summary\":\"s\",\"language\":\"en\","
         "\"license\":\"MIT\"}\n"
         "{\"practice\":\"good\",\"title\":\"u\",\"summary\":\"s\",\"language\":\"en\","
         "\"license\":\"MIT\"}\n"
         "{\"practice\":\"good\",\"title\":\"v\",\"summary\":\"s\",\"language\":\"en\"}\n",
         "praxis: line 3: field \"license\": required field missing"},
    };
    char *pk = make_identity("id");

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct px_run r;

        run(&r, cases[i].json, strlen(cases[i].json), "sign", "-i", "id", NULL);
        cr_assert_eq(r.status, 1, "case %zu: status %d", i, r.status);
        cr_assert_eq(r.out_len, 0, "case %zu wrote %zu bytes", i, r.out_len);
        assert_one_error_line(&r);
        assert_contains(r.err, cases[i].message);
        px_run_free(&r);
    }
    free(pk);
}

Test(cli, sign_rejects_an_oversize_body)
{
    static const char head[] = "{\"practice\":\"good\",\"title\":\"t\",\"summary\":\"s\","
                               "\"language\":\"en\",\"license\":\"MIT\",\"body\":\"";
    size_t body = PX_CASE_MAX_BODY + 1, n = strlen(head);
    char *text = malloc(n + body + 3);
    struct px_run r;
    char *pk = make_identity("id");

    memcpy(text, head, n);
    memset(text + n, 'x', body);
    memcpy(text + n + body, "\"}", 3);
    run(&r, text, strlen(text), "sign", "-i", "id", NULL);
    cr_assert_eq(r.status, 1);
    cr_assert_eq(r.out_len, 0);
    assert_one_error_line(&r);
    assert_contains(r.err, "field \"body\": size or count over its limit (at most 32768 bytes)");
    px_run_free(&r);
    free(text);
    free(pk);
}

Test(cli, sign_rejects_bad_created)
{
    struct px_run r;
    char *pk = make_identity("id");

    /* Before 2020: the record rules refuse it. */
    run(&r, good_case, strlen(good_case), "sign", "-i", "id", "--created", "1000", NULL);
    cr_assert_eq(r.status, 1);
    cr_assert_eq(r.out_len, 0);
    assert_one_error_line(&r);
    assert_contains(r.err, "field \"created\"");
    px_run_free(&r);

    /* Not a number: a usage error. */
    run(&r, good_case, strlen(good_case), "sign", "-i", "id", "--created", "yesterday", NULL);
    cr_assert_eq(r.status, 2);
    assert_one_error_line(&r);
    px_run_free(&r);
    free(pk);
}

Test(cli, usage_errors_exit_2)
{
    static char *const argv_sets[][3] = {
        {"frobnicate", NULL, NULL}, {"--frobnicate", NULL, NULL}, {"sign", "--bogus", NULL},
        {"inspect", "-x", NULL},    {"keygen", "--nope", NULL},   {"sign", "-i", NULL},
        {"inspect", "a", "b"},      {"help", "nope", NULL},
    };
    struct px_run r;

    for (size_t i = 0; i < sizeof(argv_sets) / sizeof(argv_sets[0]); i++) {
        char *const *a = argv_sets[i];

        run(&r, NULL, 0, a[0], a[1], a[2], NULL);
        cr_assert_eq(r.status, 2, "%s %s: status %d", a[0], a[1] ? a[1] : "", r.status);
        cr_assert_eq(r.out_len, 0);
        assert_one_error_line(&r);
        assert_contains(r.err, "--help");
        px_run_free(&r);
    }
    run(&r, NULL, 0, NULL);
    cr_assert_eq(r.status, 2);
    assert_one_error_line(&r);
    px_run_free(&r);
}

Test(cli, help_and_version_exit_0)
{
    struct px_run r;

    run(&r, NULL, 0, "--help", NULL);
    cr_assert_eq(r.status, 0);
    assert_contains(r.out, "usage: praxis");
    assert_contains(r.out, "inspect");
    cr_assert_eq(r.err_len, 0);
    px_run_free(&r);

    run(&r, NULL, 0, "help", "sign", NULL);
    cr_assert_eq(r.status, 0);
    assert_contains(r.out, "usage: praxis sign -i IDENTITY");
    px_run_free(&r);

    run(&r, NULL, 0, "inspect", "--help", NULL);
    cr_assert_eq(r.status, 0);
    assert_contains(r.out, "usage: praxis inspect");
    px_run_free(&r);

    run(&r, NULL, 0, "--version", NULL);
    cr_assert_eq(r.status, 0);
    cr_assert(strncmp(r.out, "praxis ", 7) == 0, "%s", r.out);
    px_run_free(&r);
}
