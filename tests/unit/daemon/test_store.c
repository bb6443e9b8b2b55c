/* SPDX-License-Identifier: MIT */
/* test_store.c - the SQLite store: insert rules, corrections, retractions, queries. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <sqlite3.h>

#include "protocol/buf.h"
#include "protocol/err.h"
#include "store.h"
#include "util/store_fixture.h"
#include "util/testutil.h"

#define S(x) ((struct px_str){(x), (uint32_t)(sizeof(x) - 1)})
#define T0   SFX_T0

TestSuite(store, .init = sfx_setup, .fini = sfx_teardown);

static size_t
count(const struct px_api_filter *f)
{
    struct px_store_window w = {0};
    int64_t *rows;
    size_t n;

    cr_assert_eq(px_store_select(sfx.s, f, &w, &rows, &n), 0);
    free(rows);
    return n;
}

static size_t
count_text(const char *text)
{
    struct px_api_filter f;

    memset(&f, 0, sizeof(f));
    f.text = (struct px_str){text, (uint32_t)strlen(text)};
    return count(&f);
}

Test(store, insert_then_duplicate)
{
    struct sfx_rec *a = sfx_case(&sfx.alice, T0, "Hand pumps", "water", PX_PRACTICE_GOOD, NULL);
    struct px_store_stats st;

    cr_assert_eq(sfx_insert(a), 0);
    cr_assert_gt(a->item.rowid, 0);
    cr_assert_eq(sfx_insert(a), PX_EEXIST);
    cr_assert_eq(px_store_stats(sfx.s, &st), 0);
    cr_assert_eq(st.cases, 1);
    cr_assert_eq(st.records, 1);
    cr_assert_gt(st.bytes, 0);
    free(a);
}

Test(store, batch_is_one_transaction_and_results_per_item)
{
    struct sfx_rec *a = sfx_case(&sfx.alice, T0, "One", NULL, PX_PRACTICE_GOOD, NULL);
    struct sfx_rec *b = sfx_case(&sfx.alice, T0 + 1, "Two", NULL, PX_PRACTICE_BAD, NULL);
    struct px_store_item *items[3] = {a->ptr, b->ptr, a->ptr};

    cr_assert_eq(px_store_insert(sfx.s, items, 3, T0), 0);
    cr_assert_eq(b->item.result, 0);
    /* The same record twice in a batch: the second is a duplicate. */
    cr_assert_eq(a->item.result, PX_EEXIST);
    free(a);
    free(b);
}

Test(store, filters)
{
    struct sfx_rec *a = sfx_case(&sfx.alice, T0, "Hand pumps", "water", PX_PRACTICE_GOOD, NULL);
    struct sfx_rec *b = sfx_case(&sfx.bob, T0 + 10, "Solar pumps", "energy", PX_PRACTICE_BAD, NULL);
    struct px_api_filter f;
    char hex[2 * PX_ID_BYTES + 1];

    sfx_insert(a);
    sfx_insert(b);
    memset(&f, 0, sizeof(f));
    cr_assert_eq(count(&f), 2);
    f.practice = PX_PRACTICE_BAD;
    cr_assert_eq(count(&f), 1);
    memset(&f, 0, sizeof(f));
    f.tags[0] = S("water");
    f.n_tags = 1;
    cr_assert_eq(count(&f), 1);
    f.tags[1] = S("energy");
    f.n_tags = 2;
    cr_assert_eq(count(&f), 0, "tags are all-of");
    memset(&f, 0, sizeof(f));
    f.since = T0 + 5;
    cr_assert_eq(count(&f), 1);
    f.since = 0;
    f.until = T0 + 5;
    cr_assert_eq(count(&f), 1);
    memset(&f, 0, sizeof(f));
    px_hex_encode(sfx.bob.pk, PX_SIGN_PUBLICKEYBYTES, hex);
    f.authors[0] = (struct px_str){hex, 7};
    f.n_authors = 1;
    cr_assert_eq(count(&f), 1);
    memset(&f, 0, sizeof(f));
    px_hex_encode(a->item.rec.id, PX_ID_BYTES, hex);
    f.ids[0] = (struct px_str){hex, 5};
    f.n_ids = 1;
    cr_assert_eq(count(&f), 1);
    f.ids[0] = S("xyz");
    {
        struct px_store_window w = {0};
        int64_t *rows;
        size_t n;

        cr_assert_eq(px_store_select(sfx.s, &f, &w, &rows, &n), PX_EVALUE);
    }
    memset(&f, 0, sizeof(f));
    f.region = S("KE");
    f.sector = S("water");
    f.language = S("en");
    cr_assert_eq(count(&f), 2);
    f.language = S("fr");
    cr_assert_eq(count(&f), 0);
    memset(&f, 0, sizeof(f));
    f.limit = 1;
    cr_assert_eq(count(&f), 1);
    free(a);
    free(b);
}

Test(store, full_text_is_ranked_and_injection_safe)
{
    struct sfx_rec *a =
        sfx_case(&sfx.alice, T0, "Hand pumps in dry villages", NULL, PX_PRACTICE_GOOD, NULL);
    struct sfx_rec *b = sfx_case(&sfx.alice, T0 + 1, "Committees", NULL, PX_PRACTICE_GOOD, NULL);

    sfx_insert(a);
    sfx_insert(b);
    cr_assert_eq(count_text("pumps"), 2, "the body of both mentions pumps");
    cr_assert_eq(count_text("dry"), 1);
    cr_assert_eq(count_text("Dry VILLAGES"), 1, "case-insensitive, all words");
    cr_assert_eq(count_text("dr*"), 1, "prefix search");
    cr_assert_eq(count_text("vill*"), 2, "both bodies mention a village");
    cr_assert_eq(count_text("water"), 2, "tags and body are indexed");
    cr_assert_eq(count_text("\"dry\" OR NEAR(x"), 0, "FTS5 syntax is quoted, not run");
    cr_assert_eq(count_text("nothing-matches-this"), 0);
    {
        struct px_api_filter f;
        struct px_store_window w = {0};
        int64_t *rows;
        size_t n;

        memset(&f, 0, sizeof(f));
        f.text = S("   ");
        cr_assert_eq(px_store_select(sfx.s, &f, &w, &rows, &n), PX_EVALUE);
    }
    free(a);
    free(b);
}

Test(store, correction_supersedes_same_author_only)
{
    struct sfx_rec *a = sfx_case(&sfx.alice, T0, "Hand pumps", NULL, PX_PRACTICE_GOOD, NULL);
    struct sfx_rec *b, *evil;
    struct px_api_filter f;
    int64_t *rows;
    size_t n;
    char hex[2 * PX_ID_BYTES + 1];

    sfx_insert(a);
    b = sfx_case(&sfx.alice, T0 + 1, "Hand pumps, corrected", NULL, PX_PRACTICE_GOOD,
                 a->item.rec.id);
    evil = sfx_case(&sfx.bob, T0 + 2, "Hijack", NULL, PX_PRACTICE_BAD, a->item.rec.id);
    cr_assert_eq(sfx_insert(b), 0);
    cr_assert_eq(sfx_insert(evil), PX_EPERM, "a correction of another author's case");
    memset(&f, 0, sizeof(f));
    cr_assert_eq(count(&f), 1, "only the latest version is current");
    f.history = true;
    cr_assert_eq(count(&f), 2);
    px_hex_encode(a->item.rec.id, PX_ID_BYTES, hex);
    cr_assert_eq(px_store_get(sfx.s, hex, 10, true, &rows, &n), 0);
    cr_assert_eq(n, 2);
    cr_assert_eq(rows[0], a->item.rowid, "oldest first");
    cr_assert_eq(rows[1], b->item.rowid);
    free(rows);
    free(a);
    free(b);
    free(evil);
}

Test(store, correction_arriving_first)
{
    struct sfx_rec *a = sfx_case(&sfx.alice, T0, "Original", NULL, PX_PRACTICE_GOOD, NULL);
    struct sfx_rec *b =
        sfx_case(&sfx.alice, T0 + 1, "Corrected", NULL, PX_PRACTICE_GOOD, a->item.rec.id);
    struct px_api_filter f;

    cr_assert_eq(sfx_insert(b), 0, "a peer may deliver the correction first");
    cr_assert_eq(sfx_insert(a), 0);
    memset(&f, 0, sizeof(f));
    cr_assert_eq(count(&f), 1, "the original arrives already superseded");
    free(a);
    free(b);
}

Test(store, local_references_must_exist)
{
    uint8_t missing[PX_ID_BYTES];
    struct sfx_rec *b, *r;

    memset(missing, 0x42, sizeof(missing));
    b = sfx_case(&sfx.alice, T0, "Fix of nothing", NULL, PX_PRACTICE_GOOD, missing);
    r = sfx_retraction(&sfx.alice, T0, missing);
    b->item.local = true;
    r->item.local = true;
    cr_assert_eq(sfx_insert(b), PX_ENOTFOUND);
    cr_assert_eq(sfx_insert(r), PX_ENOTFOUND);
    free(b);
    free(r);
}

Test(store, retraction_purges_and_blocks)
{
    struct sfx_rec *a = sfx_case(&sfx.alice, T0, "Bad numbers", "water", PX_PRACTICE_GOOD, NULL);
    struct sfx_rec *r, *evil;
    struct px_store_stats st;
    struct px_api_filter f;
    int64_t *rows;
    size_t n;
    char hex[2 * PX_ID_BYTES + 1];

    sfx_insert(a);
    evil = sfx_retraction(&sfx.bob, T0 + 1, a->item.rec.id);
    cr_assert_eq(sfx_insert(evil), PX_EPERM, "only the author retracts");
    r = sfx_retraction(&sfx.alice, T0 + 2, a->item.rec.id);
    cr_assert_eq(sfx_insert(r), 0);
    memset(&f, 0, sizeof(f));
    cr_assert_eq(count(&f), 0);
    f.history = true;
    cr_assert_eq(count(&f), 0, "purged, not merely hidden");
    cr_assert_eq(count_text("numbers"), 0, "text index purged");
    f.history = false;
    f.tags[0] = S("water");
    f.n_tags = 1;
    cr_assert_eq(count(&f), 0, "tags purged");
    cr_assert_eq(px_store_stats(sfx.s, &st), 0);
    cr_assert_eq(st.cases, 0);
    cr_assert_eq(st.retractions, 1);
    /* The case offered again (by a peer, an import) is refused. */
    cr_assert_eq(sfx_insert(a), PX_ERETRACTED);
    /* get of the retracted id answers with the retraction. */
    px_hex_encode(a->item.rec.id, PX_ID_BYTES, hex);
    cr_assert_eq(px_store_get(sfx.s, hex, 64, false, &rows, &n), 0);
    cr_assert_eq(n, 1);
    cr_assert_eq(rows[0], r->item.rowid);
    free(rows);
    cr_assert_eq(px_store_check(sfx.s), 0);
    free(a);
    free(r);
    free(evil);
}

Test(store, retraction_first_blocks_only_its_author)
{
    struct sfx_rec *a = sfx_case(&sfx.alice, T0, "Later", NULL, PX_PRACTICE_GOOD, NULL);
    struct sfx_rec *grief = sfx_retraction(&sfx.bob, T0 + 1, a->item.rec.id);
    struct sfx_rec *own = sfx_retraction(&sfx.alice, T0 + 1, a->item.rec.id);

    cr_assert_eq(sfx_insert(grief), 0, "stored: its target is unknown yet");
    cr_assert_eq(sfx_insert(a), 0, "another author's retraction blocks nothing");
    free(a);
    a = sfx_case(&sfx.alice, T0 + 5, "Later two", NULL, PX_PRACTICE_GOOD, NULL);
    free(own);
    own = sfx_retraction(&sfx.alice, T0 + 6, a->item.rec.id);
    cr_assert_eq(sfx_insert(own), 0);
    cr_assert_eq(sfx_insert(a), PX_ERETRACTED, "the author's own retraction arrived first");
    free(a);
    free(grief);
    free(own);
}

Test(store, retracting_a_correction_restores_the_original)
{
    struct sfx_rec *a = sfx_case(&sfx.alice, T0, "Original", NULL, PX_PRACTICE_GOOD, NULL);
    struct sfx_rec *b =
        sfx_case(&sfx.alice, T0 + 1, "Corrected", NULL, PX_PRACTICE_GOOD, a->item.rec.id);
    struct sfx_rec *r = sfx_retraction(&sfx.alice, T0 + 2, b->item.rec.id);
    struct px_api_filter f;
    struct px_store_window w = {0};
    int64_t *rows;
    size_t n;

    sfx_insert(a);
    sfx_insert(b);
    sfx_insert(r);
    memset(&f, 0, sizeof(f));
    cr_assert_eq(px_store_select(sfx.s, &f, &w, &rows, &n), 0);
    cr_assert_eq(n, 1);
    cr_assert_eq(rows[0], a->item.rowid);
    free(rows);
    free(a);
    free(b);
    free(r);
}

Test(store, get_prefix_ambiguity_and_errors)
{
    struct sfx_rec *recs[40];
    int64_t *rows;
    size_t n;

    for (int i = 0; i < 40; i++) {
        char title[32];

        snprintf(title, sizeof(title), "Case %d", i);
        recs[i] = sfx_case(&sfx.alice, T0 + (uint64_t)i, title, NULL, PX_PRACTICE_GOOD, NULL);
        sfx_insert(recs[i]);
    }
    /* 40 ids over 16 first digits: some digit is shared. */
    {
        int counts[16] = {0}, shared = -1;

        for (int i = 0; i < 40; i++) {
            int d = recs[i]->item.rec.id[0] >> 4;

            if (++counts[d] == 2) {
                shared = d;
            }
        }
        cr_assert_geq(shared, 0);
        cr_assert_eq(px_store_get(sfx.s, &"0123456789abcdef"[shared], 1, false, &rows, &n),
                     PX_EAMBIGUOUS);
    }
    cr_assert_eq(px_store_get(sfx.s, "zz", 2, false, &rows, &n), PX_EVALUE);
    cr_assert_eq(px_store_get(sfx.s, "", 0, false, &rows, &n), PX_EVALUE);
    {
        char hex[2 * PX_ID_BYTES + 1];

        px_hex_encode(recs[7]->item.rec.id, PX_ID_BYTES, hex);
        hex[0] = hex[0] == '0' ? '1' : '0';
        cr_assert_eq(px_store_get(sfx.s, hex, 64, false, &rows, &n), PX_ENOTFOUND);
    }
    for (int i = 0; i < 40; i++) {
        free(recs[i]);
    }
}

/* Bob retracts Alice's case before it arrives (a race a member can provoke): his retraction
 * is stored, Alice's case too, and a get by its id or a prefix finds her case. */
Test(store, a_foreign_retraction_does_not_hide_the_case)
{
    struct sfx_rec *a = sfx_case(&sfx.alice, T0, "Wells", NULL, PX_PRACTICE_GOOD, NULL);
    struct sfx_rec *r = sfx_retraction(&sfx.bob, T0 + 1, a->item.rec.id);
    char hex[2 * PX_ID_BYTES + 1];
    int64_t *rows;
    size_t n;

    cr_assert_eq(sfx_insert(r), 0);
    cr_assert_eq(sfx_insert(a), 0, "Bob's retraction does not block Alice's case");
    px_hex_encode(a->item.rec.id, PX_ID_BYTES, hex);
    for (size_t len = 2 * PX_ID_BYTES; len >= 8; len /= 2) {
        cr_assert_eq(px_store_get(sfx.s, hex, len, false, &rows, &n), 0, "prefix of %zu", len);
        cr_assert_eq(n, 1);
        cr_assert_eq(rows[0], a->item.rowid);
        free(rows);
    }
    free(a);
    free(r);
}

static int
collect(void *arg, int64_t rowid, const uint8_t *raw, size_t len)
{
    size_t *seen = arg;
    struct px_record r;

    (void)rowid;
    cr_assert_eq(px_record_decode(raw, len, &r, NULL), 0);
    cr_assert_eq(px_record_verify(&r), 0);
    (*seen)++;
    return 0;
}

Test(store, export_order_and_fetch)
{
    struct sfx_rec *a = sfx_case(&sfx.alice, T0 + 50, "Newer", NULL, PX_PRACTICE_GOOD, NULL);
    struct sfx_rec *b = sfx_case(&sfx.alice, T0, "Older", NULL, PX_PRACTICE_GOOD, NULL);
    int64_t *rows;
    size_t n, seen = 0;

    sfx_insert(a);
    sfx_insert(b);
    cr_assert_eq(px_store_select_all(sfx.s, &rows, &n), 0);
    cr_assert_eq(n, 2);
    cr_assert_eq(rows[0], b->item.rowid, "oldest created first");
    cr_assert_eq(px_store_fetch(sfx.s, rows, n, collect, &seen), 0);
    cr_assert_eq(seen, 2);
    free(rows);
    free(a);
    free(b);
}

Test(store, live_window)
{
    struct sfx_rec *a = sfx_case(&sfx.alice, T0, "First", NULL, PX_PRACTICE_GOOD, NULL);
    struct sfx_rec *b = sfx_case(&sfx.alice, T0 + 1, "Second", NULL, PX_PRACTICE_GOOD, NULL);
    struct px_store_window w = {0};
    struct px_api_filter f;
    int64_t *rows, max;
    size_t n;

    sfx_insert(a);
    cr_assert_eq(px_store_max_rowid(sfx.s, &max), 0);
    sfx_insert(b);
    memset(&f, 0, sizeof(f));
    w.after_rowid = max;
    w.live = true;
    cr_assert_eq(px_store_select(sfx.s, &f, &w, &rows, &n), 0);
    cr_assert_eq(n, 1);
    cr_assert_eq(rows[0], b->item.rowid);
    free(rows);
    free(a);
    free(b);
}

Test(store, refuses_a_newer_schema)
{
    static const uint8_t v99[4] = {0, 0, 0, 99};
    char err[256] = "";
    struct px_store *s2;
    int fd;

    /* A clean close checkpoints the WAL into the file; then write the header's
     * user_version (4 bytes, big-endian, at offset 60) as a newer praxisd would have. */
    px_store_close(sfx.s);
    sfx.s = NULL;
    fd = open(sfx.path, O_RDWR);
    cr_assert_geq(fd, 0);
    cr_assert_eq(pwrite(fd, v99, sizeof(v99), 60), 4);
    close(fd);
    cr_assert_eq(px_store_open(sfx.path, &s2, err, sizeof(err)), PX_EVERSION);
    cr_assert_null(s2);
    cr_assert(strstr(err, "newer") != NULL, "%s", err);
}

/* A store left at schema 2 (FTS5's default automerge) is migrated to 3 when opened. */
Test(store, migrates_schema_2_to_3)
{
    struct sfx_rec *a = sfx_case(&sfx.alice, T0, "Wells", "water", PX_PRACTICE_GOOD, NULL);
    char err[256] = "";
    sqlite3 *db;
    sqlite3_stmt *st;
    struct px_store *s2;

    cr_assert_eq(sfx_insert(a), 0);
    px_store_close(sfx.s);
    sfx.s = NULL;
    cr_assert_eq(sqlite3_open(sfx.path, &db), SQLITE_OK);
    cr_assert_eq(sqlite3_exec(db,
                              "DELETE FROM fts_config WHERE k = 'automerge';"
                              "PRAGMA user_version = 2",
                              NULL, NULL, NULL),
                 SQLITE_OK, "%s", sqlite3_errmsg(db));
    sqlite3_close(db);

    cr_assert_eq(px_store_open(sfx.path, &s2, err, sizeof(err)), 0, "%s", err);
    px_store_close(s2);
    cr_assert_eq(sqlite3_open(sfx.path, &db), SQLITE_OK);
    cr_assert_eq(sqlite3_prepare_v2(db,
                                    "SELECT (SELECT v FROM fts_config WHERE k = 'automerge'),"
                                    " (SELECT count(*) FROM records), user_version"
                                    " FROM pragma_user_version",
                                    -1, &st, NULL),
                 SQLITE_OK, "%s", sqlite3_errmsg(db));
    cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
    cr_assert_eq(sqlite3_column_int(st, 0), 8, "automerge");
    cr_assert_eq(sqlite3_column_int(st, 1), 1, "the record is still there");
    cr_assert_eq(sqlite3_column_int(st, 2), PX_STORE_SCHEMA_VERSION);
    sqlite3_finalize(st);
    sqlite3_close(db);
    free(a);
}
