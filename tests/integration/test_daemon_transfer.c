/* SPDX-License-Identifier: MIT */
/*
 * test_daemon_transfer.c - moving records between real daemons and many at once: export
 * from one praxisd and import into another (both must then answer alike), forged records
 * in an import, and two clients adding 1,000 records each at the same time.
 */
#include <sys/stat.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <jansson.h>

#include "protocol/buf.h"
#include "protocol/record.h"
#include "util/daemon_util.h"

#define MAX_LINES 64
#define N_EACH    1000

static char *tmp;
static struct px_testd a, b;

static void
setup(void)
{
    unsetenv("PRAXIS_SOCKET");
    tmp = px_test_tmpdir();
    memset(&a, 0, sizeof(a));
    memset(&b, 0, sizeof(b));
}

static void
teardown(void)
{
    px_testd_free(&a);
    px_testd_free(&b);
    px_test_rmtree(tmp);
    free(tmp);
}

TestSuite(daemon_transfer, .init = setup, .fini = teardown);

static void
start(struct px_testd *d, const char *name)
{
    char *dir;

    cr_assert(asprintf(&dir, "%s/%s", tmp, name) > 0);
    px_testd_start(d, dir);
    free(dir);
}

static char *
path_in_tmp(const char *name)
{
    char *p;

    cr_assert(asprintf(&p, "%s/%s", tmp, name) > 0);
    return p;
}

static void
assert_contains(const char *hay, const char *needle)
{
    cr_assert_not_null(strstr(hay, needle), "expected \"%s\" in:\n%s", needle, hay);
}

static size_t
count_lines(const char *s)
{
    size_t n = 0;

    for (; *s != '\0'; s++) {
        n += *s == '\n';
    }
    return n;
}

/* Runs praxis on d and returns its stdout (malloc'd), requiring exit status want. */
static char *
output_of(const struct px_testd *d, int want, const char *a1, const char *a2, const char *a3,
          const char *a4)
{
    struct px_run r;
    char *out;

    px_testd_praxis(d, &r, NULL, 0, a1, a2, a3, a4, NULL);
    cr_assert_eq(r.status, want, "%s %s: exit %d: %s", a1, a2 != NULL ? a2 : "", r.status, r.err);
    out = r.out;
    r.out = NULL;
    px_run_free(&r);
    return out;
}

/* The id of the single JSON line in text (copied into id). */
static void
id_of(const char *text, char id[65])
{
    json_error_t jerr;
    json_t *o = json_loads(text, JSON_DISABLE_EOF_CHECK, &jerr);

    cr_assert_not_null(o, "not JSON: %s", text);
    snprintf(id, 65, "%s", json_string_value(json_object_get(o, "id")));
    cr_assert_eq(strlen(id), 64);
    json_decref(o);
}

static const char cases[] =
    "{\"practice\": \"good\", \"title\": \"Cash transfers after drought\", \"summary\": "
    "\"Mobile money reached families.\", \"tags\": [\"cash\"], \"region\": \"KE\", "
    "\"language\": \"en\", \"license\": \"CC-BY-4.0\"}\n"
    "{\"practice\": \"bad\", \"title\": \"Seed drop without storage\", \"summary\": \"Rotted.\","
    " \"tags\": [\"seeds\"], \"region\": \"ET\", \"language\": \"en\", \"license\": "
    "\"CC0-1.0\"}\n"
    "{\"practice\": \"bad\", \"title\": \"Boreholes without maintenance\", \"summary\": "
    "\"Pumps broke.\", \"tags\": [\"water\"], \"language\": \"en\", \"license\": \"CC0-1.0\"}\n";

/* Checks each export line: the keys, and that "raw" is the record its "id" names. */
static size_t
check_export(const char *text)
{
    size_t n = 0;

    for (const char *p = text; *p != '\0'; n++) {
        const char *nl = strchr(p, '\n');
        json_error_t jerr;
        json_t *o;
        const char *hex, *key;
        struct px_record rec;
        uint8_t raw[PX_RECORD_MAX];
        char id[65];
        size_t len;
        json_t *v;
        int i = 0;
        static const char *const first[] = {"id", "type", "author", "created", "raw"};

        cr_assert_not_null(nl);
        o = json_loadb(p, (size_t)(nl - p), 0, &jerr);
        cr_assert_not_null(o, "export line %zu is not JSON", n + 1);
        /* The envelope and raw come first, in this order. */
        json_object_foreach(o, key, v)
        {
            if (i < 5) {
                cr_assert_str_eq(key, first[i], "key %d of line %zu", i, n + 1);
            }
            i++;
        }
        hex = json_string_value(json_object_get(o, "raw"));
        cr_assert_not_null(hex);
        len = strlen(hex) / 2;
        cr_assert_eq(px_hex_decode(hex, strlen(hex), raw, len), 0);
        cr_assert_eq(px_record_decode(raw, len, &rec, NULL), 0, "line %zu", n + 1);
        cr_assert_eq(px_record_verify(&rec), 0);
        px_hex_encode(rec.id, PX_ID_BYTES, id);
        cr_assert_str_eq(id, json_string_value(json_object_get(o, "id")));
        cr_assert_null(json_object_get(o, "signature_valid"));
        json_decref(o);
        p = nl + 1;
    }
    return n;
}

Test(daemon_transfer, export_then_import_answers_the_same)
{
    static const char *const queries[][3] = {
        {"--json", NULL, NULL},          {"--json", "--history", NULL},
        {"--json", "--practice", "bad"}, {"--json", "--text", "pumps"},
        {"--json", "--tag", "cash"},
    };
    char *exp_path = path_in_tmp("a.jsonl"), *out, *text, *again;
    char c1[65], c2[65], gone[65];
    struct px_run r;
    size_t n;

    start(&a, "a");
    start(&b, "b");
    px_testd_praxis(&a, &r, cases, strlen(cases), "publish", "--json", "-", NULL);
    cr_assert_eq(r.status, 0, "%s", r.err);
    id_of(r.out, c1);
    id_of(strchr(r.out, '\n') + 1, gone);
    px_run_free(&r);
    out = output_of(&a, 0, "correct", c1, "--summary=Corrected summary.", "--json");
    id_of(out, c2);
    free(out);
    free(output_of(&a, 0, "retract", gone, "--reason=Wrong country.", NULL));

    /* 3 cases + 1 correction + 1 retraction - 1 purged case. */
    cr_assert_eq(px_testd_records(&a), 4);
    free(output_of(&a, 0, "export", "-o", exp_path, NULL));
    text = (char *)px_test_read_file(exp_path, NULL);
    cr_assert_not_null(text);
    n = check_export(text);
    cr_assert_eq(n, 4);

    /* Into b: everything is new. Then again: everything is a duplicate. */
    px_testd_praxis(&b, &r, NULL, 0, "import", exp_path, NULL);
    cr_assert_eq(r.status, 0, "import: %s", r.err);
    cr_assert_str_eq(r.out, "imported 4, already had 0, rejected 0\n");
    cr_assert_eq(r.err_len, 0, "%s", r.err);
    px_run_free(&r);
    px_testd_praxis(&b, &r, text, strlen(text), "import", "--json", "-", NULL);
    cr_assert_eq(r.status, 0, "re-import: %s", r.err);
    cr_assert_str_eq(r.out, "{\"imported\":0,\"duplicates\":4,\"rejected\":0}\n");
    px_run_free(&r);
    cr_assert_eq(px_testd_records(&b), 4);

    /* Both answer alike, byte for byte. */
    for (size_t i = 0; i < sizeof(queries) / sizeof(queries[0]); i++) {
        char *qa = output_of(&a, 0, "query", queries[i][0], queries[i][1], queries[i][2]);
        char *qb = output_of(&b, 0, "query", queries[i][0], queries[i][1], queries[i][2]);

        cr_assert_gt(strlen(qa), 0, "query %zu found nothing", i);
        cr_assert_str_eq(qa, qb, "query %zu differs", i);
        free(qa);
        free(qb);
    }
    {
        char *ga = output_of(&a, 0, "get", "--json", gone, NULL);
        char *gb = output_of(&b, 0, "get", "--json", gone, NULL);
        char *ha = output_of(&a, 0, "get", "--history", "--json", c2);
        char *hb = output_of(&b, 0, "get", "--history", "--json", c2);

        assert_contains(ga, "\"type\":\"retraction\"");
        cr_assert_str_eq(ga, gb);
        cr_assert_eq(count_lines(ha), 2);
        cr_assert_str_eq(ha, hb);
        free(ga);
        free(gb);
        free(ha);
        free(hb);
    }
    /* b's export is a's, line for line. */
    again = output_of(&b, 0, "export", NULL, NULL, NULL);
    cr_assert_str_eq(again, text);
    free(again);
    free(text);
    free(exp_path);
}

/* Flips one hex digit of the signature (the last 128 digits of "raw") on line `line`. */
static void
forge_line(char *text, size_t line)
{
    char *p = text, *raw_end;

    for (size_t i = 1; i < line; i++) {
        p = strchr(p, '\n') + 1;
    }
    p = strstr(p, "\"raw\":\"");
    cr_assert_not_null(p);
    raw_end = strchr(p + 7, '"');
    raw_end[-10] = raw_end[-10] == '0' ? '1' : '0';
}

Test(daemon_transfer, forged_and_malformed_import_lines_are_reported_by_line)
{
    char *exp_path = path_in_tmp("a.jsonl"), *bad_path = path_in_tmp("bad.jsonl");
    char *text, *bad;
    struct px_run r;
    size_t len;

    start(&a, "a");
    start(&b, "b");
    px_testd_praxis(&a, &r, cases, strlen(cases), "publish", "--json", "-", NULL);
    cr_assert_eq(r.status, 0);
    px_run_free(&r);
    free(output_of(&a, 0, "export", "-o", exp_path, NULL));
    text = (char *)px_test_read_file(exp_path, &len);
    cr_assert_not_null(text);
    forge_line(text, 2);
    /* Lines 4 to 6: not JSON, no raw, raw not hex; line 7 blank (skipped). */
    cr_assert(asprintf(&bad, "%s{\"raw\": \"abc\n{\"id\": \"00\"}\n{\"raw\": \"zz\"}\n\n", text) >
              0);
    cr_assert_eq(px_test_write_file(bad_path, bad, strlen(bad)), 0);

    px_testd_praxis(&b, &r, NULL, 0, "import", bad_path, NULL);
    cr_assert_eq(r.status, 1, "%s", r.err);
    cr_assert_str_eq(r.out, "imported 2, already had 0, rejected 4\n");
    assert_contains(r.err, "praxis: line 2: rejected by praxisd: EBADSIG: signature does not "
                           "verify\n");
    assert_contains(r.err, "praxis: line 4: invalid JSON");
    assert_contains(r.err, "praxis: line 5: no \"raw\" string");
    assert_contains(r.err, "praxis: line 6: \"raw\" is not hex");
    cr_assert_eq(count_lines(r.err), 4, "%s", r.err);
    px_run_free(&r);
    cr_assert_eq(px_testd_records(&b), 2);
    /* The forged record is not there; the two others are. */
    {
        char *q = output_of(&b, 0, "query", "--json", NULL, NULL);

        cr_assert_eq(count_lines(q), 2);
        cr_assert_null(strstr(q, "Seed drop"));
        free(q);
    }
    free(text);
    free(bad);
    free(exp_path);
    free(bad_path);
}

/* Writes n cases as JSON Lines to path, titled with tag. */
static void
write_cases(const char *path, const char *tag, int n)
{
    FILE *f = fopen(path, "w");

    cr_assert_not_null(f);
    for (int i = 0; i < n; i++) {
        fprintf(f,
                "{\"practice\": \"%s\", \"title\": \"%s case %d\", \"summary\": \"Summary %d "
                "of %s.\", \"tags\": [\"%s\", \"n%d\"], \"language\": \"en\", \"license\": "
                "\"CC0-1.0\"}\n",
                i % 2 ? "good" : "bad", tag, i, i, tag, tag, i % 10);
    }
    cr_assert_eq(fclose(f), 0);
}

/* Distinct ids among the JSON lines of several outputs. */
static size_t
distinct_ids(struct px_child *c, size_t n_children)
{
    json_t *seen = json_object();
    size_t n;

    for (size_t k = 0; k < n_children; k++) {
        for (char *p = c[k].buf; p != NULL && *p != '\0';) {
            char *nl = strchr(p, '\n');
            char id[65];

            cr_assert_not_null(nl);
            *nl = '\0';
            id_of(p, id);
            json_object_set_new(seen, id, json_true());
            p = nl + 1;
        }
    }
    n = json_object_size(seen);
    json_decref(seen);
    return n;
}

Test(daemon_transfer, two_clients_publish_1000_each_at_once, .timeout = 60)
{
    char *bin = px_test_bin("praxis");
    char *f1 = path_in_tmp("one.jsonl"), *f2 = path_in_tmp("two.jsonl");
    char *e1 = path_in_tmp("one.err"), *e2 = path_in_tmp("two.err");
    struct px_child c[2];
    int64_t t0;
    char *all;

    start(&a, "a");
    write_cases(f1, "alpha", N_EACH);
    write_cases(f2, "beta", N_EACH);
    t0 = px_testd_now_ms();
    px_child_spawn(&c[0], (char *[]){bin, "--socket", a.sock, "publish", "--json", f1, NULL}, e1,
                   NULL);
    px_child_spawn(&c[1], (char *[]){bin, "--socket", a.sock, "publish", "--json", f2, NULL}, e2,
                   NULL);
    cr_assert_eq(px_child_finish(c, 2, 50000), 0, "the publishers did not finish in time");
    cr_log_info("2 x %d concurrent publishes: %lld ms", N_EACH,
                (long long)(px_testd_now_ms() - t0));
    for (int i = 0; i < 2; i++) {
        char *err = (char *)px_test_read_file(i == 0 ? e1 : e2, NULL);

        cr_assert_eq(c[i].status, 0, "publisher %d: %s", i, err);
        cr_assert_eq(count_lines(c[i].buf), N_EACH);
        free(err);
    }
    cr_assert_eq(distinct_ids(c, 2), 2 * N_EACH);
    cr_assert_eq(px_testd_records(&a), 2 * N_EACH);
    all = output_of(&a, 0, "query", "--json", "--limit", "0");
    cr_assert_eq(count_lines(all), 2 * N_EACH);
    free(all);
    all = output_of(&a, 0, "query", "--json", "--tag", "beta");
    cr_assert_eq(count_lines(all), N_EACH);
    free(all);
    px_child_free(&c[0]);
    px_child_free(&c[1]);
    free(bin);
    free(f1);
    free(f2);
    free(e1);
    free(e2);
}

Test(daemon_transfer, two_clients_import_1000_each_at_once, .timeout = 60)
{
    char *bin = px_test_bin("praxis");
    char *f1 = path_in_tmp("one.jsonl"), *f2 = path_in_tmp("two.jsonl");
    char *x1 = path_in_tmp("one.export"), *x2 = path_in_tmp("two.export");
    struct px_child c[2];
    struct px_run r;
    int64_t t0;

    /* Two source nodes sign 1,000 cases each; their exports are the pre-signed files. */
    start(&a, "a");
    start(&b, "b");
    write_cases(f1, "alpha", N_EACH);
    write_cases(f2, "beta", N_EACH);
    px_testd_praxis(&a, &r, NULL, 0, "publish", "--json", f1, NULL);
    cr_assert_eq(r.status, 0, "%s", r.err);
    px_run_free(&r);
    px_testd_praxis(&b, &r, NULL, 0, "publish", "--json", f2, NULL);
    cr_assert_eq(r.status, 0, "%s", r.err);
    px_run_free(&r);
    free(output_of(&a, 0, "export", "-o", x1, NULL));
    free(output_of(&b, 0, "export", "-o", x2, NULL));
    px_testd_free(&b);

    /* A third node takes both at once. */
    start(&b, "c");
    t0 = px_testd_now_ms();
    px_child_spawn(&c[0], (char *[]){bin, "--socket", b.sock, "import", x1, NULL}, NULL, NULL);
    px_child_spawn(&c[1], (char *[]){bin, "--socket", b.sock, "import", x2, NULL}, NULL, NULL);
    cr_assert_eq(px_child_finish(c, 2, 50000), 0, "the importers did not finish in time");
    cr_log_info("2 x %d concurrent imports: %lld ms", N_EACH, (long long)(px_testd_now_ms() - t0));
    for (int i = 0; i < 2; i++) {
        cr_assert_eq(c[i].status, 0, "importer %d", i);
        cr_assert_str_eq(c[i].buf, "imported 1000, already had 0, rejected 0\n");
    }
    cr_assert_eq(px_testd_records(&b), 2 * N_EACH);
    px_child_free(&c[0]);
    px_child_free(&c[1]);
    free(bin);
    free(f1);
    free(f2);
    free(x1);
    free(x2);
}
