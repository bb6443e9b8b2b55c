/* SPDX-License-Identifier: MIT */
/*
 * test_daemon_cli.c - praxis against a real praxisd: publish, query with every filter,
 * get, correct, retract, follow, bad input, the socket choice and --help. Each test
 * starts its own daemon on a fresh data directory.
 */
#include <sys/stat.h>

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <jansson.h>

#include "util/daemon_util.h"

#define MAX_LINES 64

static char *tmp;
static struct px_testd d;

static void
setup(void)
{
    char *dir;

    unsetenv("PRAXIS_SOCKET");
    tmp = px_test_tmpdir();
    cr_assert(asprintf(&dir, "%s/data", tmp) > 0);
    px_testd_start(&d, dir);
    free(dir);
}

static void
teardown(void)
{
    px_testd_free(&d);
    px_test_rmtree(tmp);
    free(tmp);
}

TestSuite(daemon_cli, .init = setup, .fini = teardown);

/* ---- Helpers ---- */

static void
assert_contains(const char *hay, const char *needle)
{
    cr_assert_not_null(strstr(hay, needle), "expected \"%s\" in:\n%s", needle, hay);
}

/* Every error is exactly one line on stderr, starting with "praxis: ". */
static void
assert_one_error_line(const struct px_run *r)
{
    cr_assert(strncmp(r->err, "praxis: ", 8) == 0, "stderr: %s", r->err);
    cr_assert_eq(r->err[r->err_len - 1], '\n', "stderr: %s", r->err);
    cr_assert_null(memchr(r->err, '\n', r->err_len - 1), "more than one line: %s", r->err);
}

/* Parses JSON Lines into objs[0..max); returns how many. */
static size_t
parse_lines(const char *text, json_t **objs, size_t max)
{
    size_t n = 0;

    for (const char *p = text; *p != '\0';) {
        const char *nl = strchr(p, '\n');
        json_error_t jerr;

        cr_assert_not_null(nl, "unterminated line: %s", p);
        cr_assert_lt(n, max);
        objs[n] = json_loadb(p, (size_t)(nl - p), 0, &jerr);
        cr_assert_not_null(objs[n], "not JSON: %.*s", (int)(nl - p), p);
        n++;
        p = nl + 1;
    }
    return n;
}

static void
free_lines(json_t **objs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        json_decref(objs[i]);
    }
}

static const char *
str_of(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);

    cr_assert(json_is_string(v), "no string \"%s\"", key);
    return json_string_value(v);
}

/* Publishes from JSON text (one object per line); returns the ids (malloc'd), in order. */
static size_t
publish_json(const char *text, char ids[][65], size_t max)
{
    struct px_run r;
    json_t *objs[MAX_LINES];
    size_t n;

    px_testd_praxis(&d, &r, text, strlen(text), "publish", "--json", "-", NULL);
    cr_assert_eq(r.status, 0, "publish failed: %s", r.err);
    n = parse_lines(r.out, objs, MAX_LINES);
    cr_assert_leq(n, max);
    for (size_t i = 0; i < n; i++) {
        const char *id = str_of(objs[i], "id");

        cr_assert_eq(strlen(id), 64);
        memcpy(ids[i], id, 65);
    }
    free_lines(objs, n);
    px_run_free(&r);
    return n;
}

/*
 * Runs `praxis query --json ARGS...` and checks that exactly the expected ids come back,
 * in the given order when ordered is set. expect is a NULL-terminated list.
 */
static void
expect_query(bool ordered, const char *const *expect, ...)
{
    char *argv[24] = {NULL};
    json_t *objs[MAX_LINES];
    struct px_run r;
    va_list ap;
    size_t n_args = 0, n, n_expect = 0;
    char desc[512] = "";

    va_start(ap, expect);
    for (char *a = va_arg(ap, char *); a != NULL; a = va_arg(ap, char *)) {
        cr_assert_lt(n_args, 20);
        argv[n_args++] = a;
        strncat(desc, a, sizeof(desc) - strlen(desc) - 2);
        strncat(desc, " ", sizeof(desc) - strlen(desc) - 1);
    }
    va_end(ap);
    argv[n_args] = NULL;
    while (expect[n_expect] != NULL) {
        n_expect++;
    }
    /* Up to 12 filter words: enough for every call below. */
    px_testd_praxis(&d, &r, NULL, 0, "query", "--json", argv[0], argv[1], argv[2], argv[3], argv[4],
                    argv[5], argv[6], argv[7], argv[8], argv[9], argv[10], argv[11], NULL);
    cr_assert_eq(r.status, 0, "query %s failed: %s", desc, r.err);
    n = parse_lines(r.out, objs, MAX_LINES);
    cr_assert_eq(n, n_expect, "query %s: %zu results, expected %zu:\n%s", desc, n, n_expect, r.out);
    for (size_t i = 0; i < n; i++) {
        const char *id = str_of(objs[i], "id");
        bool found = false;

        cr_assert(json_is_true(json_object_get(objs[i], "signature_valid")));
        if (ordered) {
            cr_assert_str_eq(id, expect[i], "query %s: result %zu", desc, i);
            continue;
        }
        for (size_t j = 0; j < n_expect; j++) {
            found |= strcmp(expect[j], id) == 0;
        }
        cr_assert(found, "query %s: unexpected %s", desc, id);
    }
    free_lines(objs, n);
    px_run_free(&r);
}

/* The created time of a record, via get --json. */
static uint64_t
created_of(const char *id)
{
    struct px_run r;
    json_t *objs[4];
    uint64_t v;

    px_testd_praxis(&d, &r, NULL, 0, "get", "--json", id, NULL);
    cr_assert_eq(r.status, 0, "get: %s", r.err);
    cr_assert_eq(parse_lines(r.out, objs, 4), 1);
    v = (uint64_t)json_integer_value(json_object_get(objs[0], "created"));
    json_decref(objs[0]);
    px_run_free(&r);
    return v;
}

static const char four_cases[] =
    "{\"practice\": \"good\", \"title\": \"Cash transfers after drought\", \"summary\": "
    "\"Mobile money reached families quickly.\", \"tags\": [\"cash\", \"drought\"], "
    "\"sector\": \"humanitarian\", \"region\": \"KE\", \"language\": \"en\", \"license\": "
    "\"CC-BY-4.0\"}\n"
    "{\"practice\": \"bad\", \"title\": \"Seed drop without storage\", \"summary\": \"The "
    "seeds rotted in the rain.\", \"tags\": [\"seeds\"], \"sector\": \"agriculture\", "
    "\"region\": \"ET\", \"language\": \"en\", \"license\": \"CC0-1.0\"}\n"
    "{\"practice\": \"good\", \"title\": \"Pesa kwa ada ya shule\", \"summary\": \"Ada "
    "zililipwa moja kwa moja.\", \"tags\": [\"education\", \"cash\"], \"sector\": "
    "\"education\", \"region\": \"KE-30\", \"language\": \"sw\", \"license\": \"CC-BY-4.0\"}\n";

/* ---- Tests ---- */

Test(daemon_cli, publish_then_query_by_every_filter)
{
    char ids[20][65], key[65], prefix[32], other[16], iso[32], today[16];
    struct px_run r;
    json_t *objs[MAX_LINES];
    uint64_t ca, cb, cc;
    const char *A, *B, *C, *D;
    time_t secs;
    struct tm tm;
    size_t n;

    cr_assert_eq(publish_json(four_cases, ids, 3), 3);
    /* The fourth from options, with a body for the full-text search. */
    px_testd_praxis(&d, &r, NULL, 0, "publish", "--practice", "bad", "--title",
                    "Boreholes without a maintenance plan", "--summary",
                    "The hand pumps broke within a year.", "--body",
                    "Nobody in the villages was trained to repair them.", "--tag", "water",
                    "--sector", "wash", "--region", "BD", "--lesson", "Train local mechanics",
                    "--link", "https://example.org/boreholes", NULL);
    cr_assert_eq(r.status, 0, "publish: %s", r.err);
    cr_assert(strncmp(r.out, "published ", 10) == 0, "%s", r.out);
    cr_assert_eq(strlen(r.out), 10 + 64 + 1, "%s", r.out);
    memcpy(ids[3], r.out + 10, 64);
    ids[3][64] = '\0';
    px_run_free(&r);
    A = ids[0];
    B = ids[1];
    C = ids[2];
    D = ids[3];
    cr_assert_eq(px_testd_records(&d), 4);

    /* Every filter alone, and some together. */
    expect_query(true, (const char *[]){D, C, B, A, NULL}, NULL);
    expect_query(false, (const char *[]){A, C, NULL}, "--practice", "good", NULL);
    expect_query(false, (const char *[]){B, D, NULL}, "--practice", "bad", NULL);
    expect_query(false, (const char *[]){A, C, NULL}, "--tag", "cash", NULL);
    expect_query(false, (const char *[]){A, NULL}, "--tag", "cash", "--tag", "drought", NULL);
    expect_query(false, (const char *[]){C, NULL}, "--tag", "cash,education", NULL);
    expect_query(false, (const char *[]){NULL}, "--tag", "seeds", "--tag", "cash", NULL);
    expect_query(false, (const char *[]){B, NULL}, "--sector", "agriculture", NULL);
    expect_query(false, (const char *[]){A, NULL}, "--region", "KE", NULL);
    expect_query(false, (const char *[]){C, NULL}, "--region", "KE-30", NULL);
    expect_query(false, (const char *[]){C, NULL}, "--language", "sw", NULL);
    expect_query(false, (const char *[]){A, B, D, NULL}, "--language", "en", NULL);
    expect_query(false, (const char *[]){C, NULL}, "--practice", "good", "--tag", "cash",
                 "--language", "sw", "--region", "KE-30", NULL);

    /* Authors: the node's key, a prefix of it, and a prefix that is not it. */
    px_testd_praxis(&d, &r, NULL, 0, "status", "--json", NULL);
    cr_assert_eq(r.status, 0);
    n = parse_lines(r.out, objs, 1);
    snprintf(key, sizeof(key), "%s", str_of(objs[0], "public_key"));
    free_lines(objs, n);
    px_run_free(&r);
    snprintf(prefix, sizeof(prefix), "%.8s", key);
    snprintf(other, sizeof(other), "%c", key[0] == '0' ? '1' : '0');
    expect_query(false, (const char *[]){A, B, C, D, NULL}, "--author", key, NULL);
    expect_query(false, (const char *[]){A, B, C, D, NULL}, "--author", prefix, NULL);
    expect_query(false, (const char *[]){NULL}, "--author", other, NULL);

    /* Ids: a prefix, several, and the full id. */
    snprintf(prefix, sizeof(prefix), "%.6s", A);
    snprintf(other, sizeof(other), "%.6s", B);
    expect_query(false, (const char *[]){A, NULL}, "--id", prefix, NULL);
    expect_query(false, (const char *[]){A, B, NULL}, "--id", prefix, "--id", other, NULL);
    expect_query(false, (const char *[]){D, NULL}, "--id", D, NULL);

    /* Full text, over summary, body, title, lessons and tags. */
    expect_query(true, (const char *[]){D, NULL}, "--text", "pumps", NULL);
    expect_query(true, (const char *[]){D, NULL}, "--text", "repair", NULL);
    expect_query(true, (const char *[]){D, NULL}, "--text", "mechanics", NULL);
    expect_query(true, (const char *[]){B, NULL}, "--text", "seeds rotted", NULL);
    expect_query(false, (const char *[]){A, C, NULL}, "--text", "cash", NULL);
    expect_query(true, (const char *[]){A, NULL}, "--text", "drou*", NULL);
    expect_query(false, (const char *[]){NULL}, "--text", "nonexistentword", NULL);

    /* Time: ms, dates and date-times; until is inclusive (a date to the end of its day). */
    ca = created_of(A);
    cb = created_of(B);
    cc = created_of(C);
    cr_assert(ca < cb && cb < cc, "created %llu %llu %llu", (unsigned long long)ca,
              (unsigned long long)cb, (unsigned long long)cc);
    {
        char sb[24], sc[24];

        snprintf(sb, sizeof(sb), "%llu", (unsigned long long)cb);
        snprintf(sc, sizeof(sc), "%llu", (unsigned long long)cc);
        expect_query(false, (const char *[]){B, C, D, NULL}, "--since", sb, NULL);
        expect_query(false, (const char *[]){A, B, NULL}, "--until", sb, NULL);
        expect_query(false, (const char *[]){B, C, NULL}, "--since", sb, "--until", sc, NULL);
    }
    secs = (time_t)(ca / 1000);
    gmtime_r(&secs, &tm);
    strftime(iso, sizeof(iso), "%Y-%m-%dT%H:%M:%SZ", &tm);
    strftime(today, sizeof(today), "%Y-%m-%d", &tm);
    expect_query(false, (const char *[]){A, B, C, D, NULL}, "--since", "2020-01-01", NULL);
    expect_query(false, (const char *[]){NULL}, "--until", "2020-01-01", NULL);
    expect_query(false, (const char *[]){A, B, C, D, NULL}, "--since", iso, NULL);
    if (cb / 1000 > ca / 1000) {
        expect_query(false, (const char *[]){A, NULL}, "--until", iso, NULL);
    }
    if (created_of(D) / 86400000 == ca / 86400000) {
        expect_query(false, (const char *[]){A, B, C, D, NULL}, "--until", today, NULL);
    }

    /* Limit: the newest N. */
    expect_query(true, (const char *[]){D, C, NULL}, "--limit", "2", NULL);

    /* The human table. */
    px_testd_praxis(&d, &r, NULL, 0, "query", "--practice", "good", NULL);
    cr_assert_eq(r.status, 0, "%s", r.err);
    assert_contains(r.out, "ID            PRACTICE  DATE        REGION  TITLE\n");
    snprintf(prefix, sizeof(prefix), "%.12s  good", A);
    assert_contains(r.out, prefix);
    assert_contains(r.out, "KE      Cash transfers after drought\n");
    assert_contains(r.out, "KE-30   Pesa kwa ada ya shule\n");
    cr_assert_null(strstr(r.out, "Seed drop"));
    px_run_free(&r);
    px_testd_praxis(&d, &r, NULL, 0, "query", "--text", "nothing-like-this", NULL);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert_str_eq(r.out, "no matching cases\n");
    px_run_free(&r);
    px_testd_praxis(&d, &r, NULL, 0, "query", "--long", "--region", "BD", NULL);
    cr_assert_eq(r.status, 0, "%s", r.err);
    assert_contains(r.out, "title      Boreholes without a maintenance plan\n");
    assert_contains(r.out, "lessons    - Train local mechanics\n");
    px_run_free(&r);

    /* get: by full id, by prefix (same card), as JSON (same object as query). */
    px_testd_praxis(&d, &r, NULL, 0, "get", D, NULL);
    cr_assert_eq(r.status, 0, "get: %s", r.err);
    assert_contains(r.out, "signature  valid (checked by praxisd on arrival)\n");
    assert_contains(r.out, "title      Boreholes without a maintenance plan\n");
    assert_contains(r.out, "body       Nobody in the villages was trained to repair them.\n");
    assert_contains(r.out, "links      - https://example.org/boreholes\n");
    {
        struct px_run r2;

        /* --verify: checked again in the client, over the bytes it received. */
        px_testd_praxis(&d, &r2, NULL, 0, "get", "--verify", D, NULL);
        cr_assert_eq(r2.status, 0, "get --verify: %s", r2.err);
        assert_contains(r2.out, "signature  valid\n");
        px_run_free(&r2);
        snprintf(prefix, sizeof(prefix), "%.7s", D);
        px_testd_praxis(&d, &r2, NULL, 0, "get", prefix, NULL);
        cr_assert_eq(r2.status, 0, "get by prefix: %s", r2.err);
        cr_assert_str_eq(r2.out, r.out);
        px_run_free(&r2);
    }
    px_run_free(&r);
    {
        struct px_run q, g;

        px_testd_praxis(&d, &q, NULL, 0, "query", "--json", "--id", C, NULL);
        px_testd_praxis(&d, &g, NULL, 0, "get", "--json", C, NULL);
        cr_assert_eq(g.status, 0);
        cr_assert_str_eq(g.out, q.out);
        px_run_free(&g);
        /* The same JSON when the client verifies too. */
        px_testd_praxis(&d, &g, NULL, 0, "query", "--json", "--verify", "--id", C, NULL);
        cr_assert_eq(g.status, 0, "%s", g.err);
        cr_assert_str_eq(g.out, q.out);
        px_run_free(&q);
        px_run_free(&g);
    }

    /* Not found: exit 4; not hex: usage. */
    px_testd_praxis(&d, &r, NULL, 0, "get",
                    "0000000000000000000000000000000000000000000000000000000000000000", NULL);
    cr_assert_eq(r.status, 4, "%s", r.err);
    assert_one_error_line(&r);
    assert_contains(r.err, "no record with id");
    px_run_free(&r);
    px_testd_praxis(&d, &r, NULL, 0, "get", "xyz", NULL);
    cr_assert_eq(r.status, 2);
    assert_one_error_line(&r);
    px_run_free(&r);

    /* Ambiguous: with 17 records, two share a first hex digit. */
    {
        char text[17 * 200] = "", more[13][65];
        int digit = -1;

        for (int i = 0; i < 13; i++) {
            char line[200];

            snprintf(line, sizeof(line),
                     "{\"practice\": \"good\", \"title\": \"Filler %d\", \"summary\": \"s\", "
                     "\"language\": \"en\", \"license\": \"CC0-1.0\"}\n",
                     i);
            strcat(text, line);
        }
        cr_assert_eq(publish_json(text, more, 13), 13);
        for (int h = 0; h < 16 && digit < 0; h++) {
            int count = 0;
            char c = "0123456789abcdef"[h];

            for (int i = 0; i < 4; i++) {
                count += ids[i][0] == c;
            }
            for (int i = 0; i < 13; i++) {
                count += more[i][0] == c;
            }
            digit = count > 1 ? h : -1;
        }
        cr_assert_geq(digit, 0);
        snprintf(prefix, sizeof(prefix), "%c", "0123456789abcdef"[digit]);
        px_testd_praxis(&d, &r, NULL, 0, "get", prefix, NULL);
        cr_assert_eq(r.status, 1, "%s", r.err);
        assert_one_error_line(&r);
        assert_contains(r.err, "matches more than one record");
        px_run_free(&r);
    }
}

Test(daemon_cli, correction_shows_latest_and_history_shows_all)
{
    char ids[2][65], a2[65], a3[65], a4[65], path[512];
    struct px_run r;
    json_t *objs[MAX_LINES];
    size_t n;

    cr_assert_eq(publish_json("{\"practice\": \"good\", \"title\": \"First title\", "
                              "\"summary\": \"First summary.\", \"tags\": [\"keep\"], "
                              "\"language\": \"en\", \"license\": \"CC-BY-4.0\"}\n"
                              "{\"practice\": \"bad\", \"title\": \"Other\", \"summary\": \"x\","
                              " \"language\": \"en\", \"license\": \"CC-BY-4.0\"}\n",
                              ids, 2),
                 2);
    /* Correct the title from an option; the other fields stay. */
    px_testd_praxis(&d, &r, NULL, 0, "correct", ids[0], "--title", "Second title", "--json", NULL);
    cr_assert_eq(r.status, 0, "correct: %s", r.err);
    n = parse_lines(r.out, objs, 1);
    cr_assert_eq(n, 1);
    cr_assert_str_eq(str_of(objs[0], "supersedes"), ids[0]);
    snprintf(a2, sizeof(a2), "%s", str_of(objs[0], "id"));
    free_lines(objs, n);
    px_run_free(&r);

    /* query: only the latest version; with --history, both. */
    expect_query(false, (const char *[]){a2, ids[1], NULL}, NULL);
    expect_query(false, (const char *[]){ids[0], a2, ids[1], NULL}, "--history", NULL);
    px_testd_praxis(&d, &r, NULL, 0, "query", "--json", "--id", a2, NULL);
    n = parse_lines(r.out, objs, 1);
    cr_assert_str_eq(str_of(objs[0], "title"), "Second title");
    cr_assert_str_eq(str_of(objs[0], "summary"), "First summary.");
    cr_assert_str_eq(json_string_value(json_array_get(json_object_get(objs[0], "tags"), 0)),
                     "keep");
    cr_assert_str_eq(str_of(objs[0], "supersedes"), ids[0]);
    free_lines(objs, n);
    px_run_free(&r);

    /* get --history: the chain oldest first, from either end. */
    for (int i = 0; i < 2; i++) {
        px_testd_praxis(&d, &r, NULL, 0, "get", "--history", "--json", i == 0 ? ids[0] : a2, NULL);
        cr_assert_eq(r.status, 0, "%s", r.err);
        n = parse_lines(r.out, objs, MAX_LINES);
        cr_assert_eq(n, 2, "%s", r.out);
        cr_assert_str_eq(str_of(objs[0], "id"), ids[0]);
        cr_assert_str_eq(str_of(objs[1], "id"), a2);
        free_lines(objs, n);
        px_run_free(&r);
    }
    /* The old version itself is still there by id. */
    px_testd_praxis(&d, &r, NULL, 0, "get", ids[0], NULL);
    cr_assert_eq(r.status, 0);
    assert_contains(r.out, "title      First title\n");
    px_run_free(&r);

    /* get --json, edit, correct --json: the round trip the help describes. */
    px_testd_praxis(&d, &r, NULL, 0, "get", "--json", a2, NULL);
    n = parse_lines(r.out, objs, 1);
    json_object_set_new(objs[0], "summary", json_string("Edited summary."));
    snprintf(path, sizeof(path), "%s/edit.json", tmp);
    cr_assert_eq(json_dump_file(objs[0], path, 0), 0);
    free_lines(objs, n);
    px_run_free(&r);
    px_testd_praxis(&d, &r, NULL, 0, "correct", a2, "--json", path, NULL);
    cr_assert_eq(r.status, 0, "correct --json: %s", r.err);
    n = parse_lines(r.out, objs, 1);
    snprintf(a3, sizeof(a3), "%s", str_of(objs[0], "id"));
    cr_assert_str_eq(str_of(objs[0], "supersedes"), a2);
    free_lines(objs, n);
    px_run_free(&r);

    /* Naming an old version corrects the current one, with a note. Human output. */
    px_testd_praxis(&d, &r, NULL, 0, "correct", ids[0], "--tag", "", "--body", "A body.", NULL);
    cr_assert_eq(r.status, 0, "correct: %s", r.err);
    assert_one_error_line(&r);
    assert_contains(r.err, "note: ");
    cr_assert(strncmp(r.out, "published ", 10) == 0, "%s", r.out);
    snprintf(a4, sizeof(a4), "%.64s", r.out + 10);
    assert_contains(r.out, a3);
    px_run_free(&r);

    px_testd_praxis(&d, &r, NULL, 0, "get", "--history", "--json", ids[0], NULL);
    n = parse_lines(r.out, objs, MAX_LINES);
    cr_assert_eq(n, 4, "%s", r.out);
    cr_assert_str_eq(str_of(objs[3], "id"), a4);
    cr_assert_str_eq(str_of(objs[3], "summary"), "Edited summary.");
    cr_assert_str_eq(str_of(objs[3], "body"), "A body.");
    cr_assert_null(json_object_get(objs[3], "tags"));
    free_lines(objs, n);
    px_run_free(&r);
    expect_query(false, (const char *[]){a4, ids[1], NULL}, NULL);

    /* A correction that breaks a rule is refused before praxisd is asked. */
    px_testd_praxis(&d, &r, NULL, 0, "correct", a4, "--title", "", NULL);
    cr_assert_eq(r.status, 1);
    assert_one_error_line(&r);
    assert_contains(r.err, "field \"title\": required field missing");
    px_run_free(&r);
    cr_assert_eq(px_testd_records(&d), 5);
}

Test(daemon_cli, retraction_hides_the_case_and_blocks_reimport)
{
    char ids[2][65], path[512], rid[65];
    struct px_run r;
    json_t *objs[MAX_LINES];
    size_t n;

    cr_assert_eq(publish_json("{\"practice\": \"bad\", \"title\": \"Posted by mistake\", "
                              "\"summary\": \"Oops.\", \"language\": \"en\", \"license\": "
                              "\"CC0-1.0\"}\n"
                              "{\"practice\": \"good\", \"title\": \"Keep me\", \"summary\": "
                              "\"Fine.\", \"language\": \"en\", \"license\": \"CC0-1.0\"}\n",
                              ids, 2),
                 2);
    snprintf(path, sizeof(path), "%s/before.jsonl", tmp);
    px_testd_praxis(&d, &r, NULL, 0, "export", "-o", path, NULL);
    cr_assert_eq(r.status, 0, "export: %s", r.err);
    px_run_free(&r);

    /* A reason is required; it is checked before praxisd is asked. */
    px_testd_praxis(&d, &r, NULL, 0, "retract", ids[0], NULL);
    cr_assert_eq(r.status, 2);
    assert_one_error_line(&r);
    px_run_free(&r);

    px_testd_praxis(&d, &r, NULL, 0, "retract", ids[0], "--reason", "Posted by mistake.", "--json",
                    NULL);
    cr_assert_eq(r.status, 0, "retract: %s", r.err);
    n = parse_lines(r.out, objs, 1);
    cr_assert_str_eq(str_of(objs[0], "target"), ids[0]);
    snprintf(rid, sizeof(rid), "%s", str_of(objs[0], "id"));
    free_lines(objs, n);
    px_run_free(&r);

    /* Gone from queries, even with --history and --text. */
    expect_query(false, (const char *[]){ids[1], NULL}, NULL);
    expect_query(false, (const char *[]){ids[1], NULL}, "--history", NULL);
    expect_query(false, (const char *[]){NULL}, "--text", "mistake", NULL);

    /* get says so, human and JSON. */
    px_testd_praxis(&d, &r, NULL, 0, "get", ids[0], NULL);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert(strncmp(r.out, "retracted by its author: Posted by mistake.\n", 44) == 0, "%s",
              r.out);
    assert_contains(r.out, "type       retraction\n");
    px_run_free(&r);
    px_testd_praxis(&d, &r, NULL, 0, "get", "--json", ids[0], NULL);
    n = parse_lines(r.out, objs, 1);
    cr_assert_str_eq(str_of(objs[0], "type"), "retraction");
    cr_assert_str_eq(str_of(objs[0], "id"), rid);
    cr_assert_str_eq(str_of(objs[0], "target"), ids[0]);
    cr_assert_str_eq(str_of(objs[0], "reason"), "Posted by mistake.");
    free_lines(objs, n);
    px_run_free(&r);

    /* The case row is purged: the node holds the other case and the retraction. */
    cr_assert_eq(px_testd_records(&d), 2);

    /* Retracting again, or correcting it, is refused. */
    px_testd_praxis(&d, &r, NULL, 0, "retract", ids[0], "--reason", "again", NULL);
    cr_assert_eq(r.status, 1);
    assert_one_error_line(&r);
    assert_contains(r.err, "was retracted by its author");
    px_run_free(&r);
    px_testd_praxis(&d, &r, NULL, 0, "correct", ids[0], "--title", "x", NULL);
    cr_assert_eq(r.status, 1);
    assert_one_error_line(&r);
    px_run_free(&r);
    px_testd_praxis(&d, &r, NULL, 0, "retract", rid, "--reason", "a retraction", NULL);
    cr_assert_eq(r.status, 1);
    assert_contains(r.err, "is a retraction, not a case");
    px_run_free(&r);

    /* Importing the old export: the retracted case is rejected, the other is a duplicate. */
    px_testd_praxis(&d, &r, NULL, 0, "import", path, NULL);
    cr_assert_eq(r.status, 1, "%s", r.err);
    cr_assert_str_eq(r.out, "imported 0, already had 1, rejected 1\n");
    assert_one_error_line(&r);
    assert_contains(r.err, "line 1: rejected by praxisd: ERETRACTED: ");
    px_run_free(&r);
    cr_assert_eq(px_testd_records(&d), 2);
}

Test(daemon_cli, follow_sees_records_published_after_it_started)
{
    char ids[3][65], err_path[512];
    char *bin = px_test_bin("praxis");
    char *argv[] = {bin, "--socket", d.sock, "query", "--follow", "--json", "--tag", "watch", NULL};
    struct px_child f;
    char *line;

    cr_assert_eq(publish_json("{\"practice\": \"good\", \"title\": \"Before\", \"summary\": "
                              "\"s\", \"tags\": [\"watch\"], \"language\": \"en\", "
                              "\"license\": \"CC0-1.0\"}\n",
                              ids, 1),
                 1);
    snprintf(err_path, sizeof(err_path), "%s/follow.err", tmp);
    px_child_spawn(&f, argv, err_path, NULL);

    /* The stored match first: once it is here, the query is registered. */
    line = px_child_read_line(&f, 10000);
    cr_assert_not_null(line, "no stored match from --follow");
    assert_contains(line, ids[0]);
    free(line);

    /* One that does not match, then one that does: only the second arrives. */
    cr_assert_eq(publish_json("{\"practice\": \"good\", \"title\": \"Unwatched\", \"summary\": "
                              "\"s\", \"language\": \"en\", \"license\": \"CC0-1.0\"}\n",
                              ids + 1, 1),
                 1);
    cr_assert_eq(publish_json("{\"practice\": \"bad\", \"title\": \"After\", \"summary\": "
                              "\"s\", \"tags\": [\"watch\"], \"language\": \"en\", "
                              "\"license\": \"CC0-1.0\"}\n",
                              ids + 2, 1),
                 1);
    line = px_child_read_line(&f, 10000);
    cr_assert_not_null(line, "--follow did not print the new record");
    assert_contains(line, ids[2]);
    assert_contains(line, "\"title\":\"After\"");
    free(line);

    /* SIGTERM ends it cleanly, with exit 0 and nothing more printed. */
    px_child_signal(&f, SIGTERM);
    cr_assert_eq(px_child_finish(&f, 1, 10000), 0);
    cr_assert_eq(f.status, 0, "follow exited %d", f.status);
    cr_assert_eq(f.len, 0, "unexpected output: %s", f.buf);
    px_child_free(&f);
    free(bin);
}

Test(daemon_cli, bad_input_is_refused_before_anything_is_stored)
{
    char *bogus, big_body[40001], bad_json_path[512], body_path[512];
    static const char second_bad[] =
        "{\"practice\": \"good\", \"title\": \"ok\", \"summary\": \"s\", \"language\": "
        "\"en\", \"license\": \"CC0-1.0\"}\n"
        "{\"practice\": \"good\", \"summary\": \"s\", \"language\": \"en\", \"license\": "
        "\"CC0-1.0\"}\n";
    const char bad_json[] = "{\"practice\": \"good\", \"title\": \"bad \xff byte\", \"summary\": "
                            "\"s\", \"language\": \"en\", \"license\": \"CC0-1.0\"}\n";
    struct px_testd fake;
    struct px_run r;

    memset(big_body, 'x', sizeof(big_body) - 1);
    big_body[sizeof(big_body) - 1] = '\0';
    snprintf(bad_json_path, sizeof(bad_json_path), "%s/bad.json", tmp);
    cr_assert_eq(px_test_write_file(bad_json_path, bad_json, strlen(bad_json)), 0);
    snprintf(body_path, sizeof(body_path), "%s/body.md", tmp);
    cr_assert_eq(px_test_write_file(body_path, big_body, strlen(big_body)), 0);
    cr_assert(asprintf(&bogus, "%s/nobody-listens.sock", tmp) > 0);
    memset(&fake, 0, sizeof(fake));
    fake.sock = bogus;

    /* Each case twice: against a socket nobody listens on (so exit 1, not 3, proves the
     * check came before any connection) and against the daemon. */
    for (int pass = 0; pass < 2; pass++) {
        const struct px_testd *t = pass == 0 ? &fake : &d;

        px_testd_praxis(t, &r, NULL, 0, "publish", "--practice", "good", "--summary", "s", NULL);
        cr_assert_eq(r.status, 1, "%s", r.err);
        assert_one_error_line(&r);
        cr_assert_str_eq(r.err, "praxis: field \"title\": required field missing\n");
        px_run_free(&r);

        px_testd_praxis(t, &r, NULL, 0, "publish", "--practice", "great", "--title", "t",
                        "--summary", "s", NULL);
        cr_assert_eq(r.status, 1, "%s", r.err);
        assert_one_error_line(&r);
        assert_contains(r.err, "field \"practice\": field value not allowed (expected \"good\" "
                               "or \"bad\")");
        px_run_free(&r);

        px_testd_praxis(t, &r, NULL, 0, "publish", "--practice", "good", "--title", "t",
                        "--summary", "s", "--body", big_body, NULL);
        cr_assert_eq(r.status, 1, "%s", r.err);
        assert_one_error_line(&r);
        assert_contains(r.err, "field \"body\": size or count over its limit (at most 32768 "
                               "bytes)");
        px_run_free(&r);

        px_testd_praxis(t, &r, NULL, 0, "publish", "--practice", "good", "--title", "t",
                        "--summary", "s", "--body-file", body_path, NULL);
        cr_assert_eq(r.status, 1, "%s", r.err);
        assert_contains(r.err, "field \"body\": size or count over its limit");
        px_run_free(&r);

        /* Invalid UTF-8: in a JSON file, and in an option. */
        px_testd_praxis(t, &r, NULL, 0, "publish", "--json", bad_json_path, NULL);
        cr_assert_eq(r.status, 1, "%s", r.err);
        assert_one_error_line(&r);
        assert_contains(r.err, "invalid JSON at line 1");
        px_run_free(&r);
        px_testd_praxis(t, &r, NULL, 0, "publish", "--practice", "good", "--title", "bad \xff byte",
                        "--summary", "s", NULL);
        cr_assert_eq(r.status, 1, "%s", r.err);
        assert_one_error_line(&r);
        cr_assert_str_eq(r.err, "praxis: field \"title\": string is not valid UTF-8\n");
        px_run_free(&r);

        /* Other rules: a title on two lines, a tag in capitals. */
        px_testd_praxis(t, &r, NULL, 0, "publish", "--practice", "good", "--title", "one\ntwo",
                        "--summary", "s", NULL);
        cr_assert_eq(r.status, 1, "%s", r.err);
        assert_contains(r.err, "field \"title\": field value not allowed");
        px_run_free(&r);
        px_testd_praxis(t, &r, NULL, 0, "publish", "--practice", "good", "--title", "t",
                        "--summary", "s", "--tag", "Cash", NULL);
        cr_assert_eq(r.status, 1, "%s", r.err);
        assert_contains(r.err, "field \"tags\"");
        px_run_free(&r);

        /* A JSON file where the second object is bad: nothing is published. */
        px_testd_praxis(t, &r, second_bad, strlen(second_bad), "publish", "--json", "-", NULL);
        cr_assert_eq(r.status, 1, "%s", r.err);
        assert_one_error_line(&r);
        assert_contains(r.err, "line 2: field \"title\": required field missing");
        px_run_free(&r);

        /* Usage errors: exit 2. */
        px_testd_praxis(t, &r, NULL, 0, "publish", "--colour", "red", NULL);
        cr_assert_eq(r.status, 2, "%s", r.err);
        assert_one_error_line(&r);
        assert_contains(r.err, "unknown option '--colour'");
        px_run_free(&r);
        px_testd_praxis(t, &r, NULL, 0, "publish", NULL);
        cr_assert_eq(r.status, 2, "%s", r.err);
        assert_one_error_line(&r);
        px_run_free(&r);
        px_testd_praxis(t, &r, NULL, 0, "query", "--since", "yesterday", NULL);
        cr_assert_eq(r.status, 2, "%s", r.err);
        assert_one_error_line(&r);
        px_run_free(&r);
        px_testd_praxis(t, &r, NULL, 0, "query", "--until", "2024-02-30", NULL);
        cr_assert_eq(r.status, 2, "%s", r.err);
        px_run_free(&r);
        px_testd_praxis(t, &r, NULL, 0, "query", "--text", " * ", NULL);
        cr_assert_eq(r.status, 2, "%s", r.err);
        px_run_free(&r);
        px_testd_praxis(t, &r, NULL, 0, "query", "--limit", "-1", NULL);
        cr_assert_eq(r.status, 2, "%s", r.err);
        px_run_free(&r);
        px_testd_praxis(t, &r, NULL, 0, "query", "--id", "not-hex", NULL);
        cr_assert_eq(r.status, 2, "%s", r.err);
        px_run_free(&r);
    }
    cr_assert_eq(px_testd_records(&d), 0);
    free(bogus);
}

Test(daemon_cli, unreachable_daemon_exits_3)
{
    static const char *const cmds[][3] = {
        {"status", NULL, NULL},
        {"query", NULL, NULL},
        {"get", "abcd", NULL},
        {"export", NULL, NULL},
        {"import", "/dev/null", NULL},
        {"retract", "abcd", "--reason=x"},
        {"correct", "abcd", "--title=x"},
        {"publish", "--practice=good", "--title=t"},
    };
    struct px_testd fake;
    struct px_run r;
    char *bogus, expect[600];

    cr_assert(asprintf(&bogus, "%s/nobody-listens.sock", tmp) > 0);
    memset(&fake, 0, sizeof(fake));
    fake.sock = bogus;
    snprintf(expect, sizeof(expect),
             "praxis: cannot reach praxisd at %s: No such file or directory (is it running? "
             "see make run)\n",
             bogus);
    for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
        if (strcmp(cmds[i][0], "publish") == 0) {
            px_testd_praxis(&fake, &r, NULL, 0, cmds[i][0], cmds[i][1], cmds[i][2], "--summary=s",
                            NULL);
        } else {
            px_testd_praxis(&fake, &r, NULL, 0, cmds[i][0], cmds[i][1], cmds[i][2], NULL);
        }
        cr_assert_eq(r.status, 3, "%s: exit %d: %s", cmds[i][0], r.status, r.err);
        cr_assert_str_eq(r.err, expect);
        cr_assert_eq(r.out_len, 0);
        px_run_free(&r);
    }
    free(bogus);
}

Test(daemon_cli, socket_from_option_environment_or_default)
{
    char *bin = px_test_bin("praxis");
    char *env, *bogus;
    char *argv[6];
    struct px_run r;

    cr_assert(asprintf(&env, "PRAXIS_SOCKET=%s", d.sock) > 0);
    cr_assert(asprintf(&bogus, "PRAXIS_SOCKET=%s/nope.sock", tmp) > 0);

    /* The default: data/praxis.sock under the current directory. */
    cr_assert_eq(chdir(tmp), 0);
    argv[0] = bin;
    argv[1] = "status";
    argv[2] = NULL;
    cr_assert_eq(px_test_run(argv, NULL, 0, NULL, PX_TESTD_RUN_MS, &r), 0);
    cr_assert_eq(r.status, 0, "default socket: %s", r.err);
    assert_contains(r.out, "socket       data/praxis.sock\n");
    px_run_free(&r);

    /* Elsewhere: the environment. */
    cr_assert_eq(chdir("/"), 0);
    cr_assert_eq(px_test_run(argv, NULL, 0, (char *[]){env, NULL}, PX_TESTD_RUN_MS, &r), 0);
    cr_assert_eq(r.status, 0, "PRAXIS_SOCKET: %s", r.err);
    px_run_free(&r);
    cr_assert_eq(px_test_run(argv, NULL, 0, NULL, PX_TESTD_RUN_MS, &r), 0);
    cr_assert_eq(r.status, 3, "no daemon under /data: %s", r.err);
    assert_contains(r.err, "cannot reach praxisd at data/praxis.sock");
    px_run_free(&r);

    /* --socket wins over the environment, before or after the command. */
    argv[1] = "--socket";
    argv[2] = d.sock;
    argv[3] = "status";
    argv[4] = NULL;
    cr_assert_eq(px_test_run(argv, NULL, 0, (char *[]){bogus, NULL}, PX_TESTD_RUN_MS, &r), 0);
    cr_assert_eq(r.status, 0, "--socket before: %s", r.err);
    px_run_free(&r);
    argv[1] = "status";
    argv[2] = "--socket";
    argv[3] = d.sock;
    cr_assert_eq(px_test_run(argv, NULL, 0, (char *[]){bogus, NULL}, PX_TESTD_RUN_MS, &r), 0);
    cr_assert_eq(r.status, 0, "--socket after: %s", r.err);
    px_run_free(&r);
    free(env);
    free(bogus);
    free(bin);
}

Test(daemon_cli, every_command_has_help)
{
    static const char *const cmds[] = {"publish", "get",    "query",   "correct",
                                       "retract", "status", "export",  "import",
                                       "keygen",  "sign",   "inspect", "help"};
    struct px_run r;
    char usage[64];

    for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
        snprintf(usage, sizeof(usage), "usage: praxis %s", cmds[i]);
        px_testd_praxis(&d, &r, NULL, 0, cmds[i], "--help", NULL);
        cr_assert_eq(r.status, 0, "%s --help: %s", cmds[i], r.err);
        cr_assert(strncmp(r.out, usage, strlen(usage)) == 0, "%s --help:\n%s", cmds[i], r.out);
        px_run_free(&r);
    }
    px_testd_praxis(&d, &r, NULL, 0, "--help", NULL);
    cr_assert_eq(r.status, 0);
    for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
        snprintf(usage, sizeof(usage), "  %-8s  ", cmds[i]);
        assert_contains(r.out, usage);
    }
    px_run_free(&r);
}
