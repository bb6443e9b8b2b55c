/* SPDX-License-Identifier: MIT */
/* test_rank.c - ranked text queries: px_bm25 orders matches exactly as FTS5's own bm25()
 * does, whether row lengths come from the index, from the shared cache filled at start, or
 * from the cache filled as queries go, also after a purge. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <sqlite3.h>

#include "protocol/err.h"
#include "store.h"
#include "util/store_fixture.h"

#define T0 SFX_T0
/* Cases in the store: each of its own length, with 1-4 "drought" and 1-3 "wells". */
#define N_CASES 48
#define QUERY   "drought wells"

TestSuite(rank, .init = sfx_setup, .fini = sfx_teardown);

static struct sfx_rec *cases[N_CASES];

static void
add_cases(void)
{
    for (int i = 0; i < N_CASES; i++) {
        char title[1024];
        size_t n = 0;

        for (int k = 0; k <= i % 4; k++) {
            n += (size_t)snprintf(title + n, sizeof(title) - n, "drought ");
        }
        for (int k = 0; k <= (i / 4) % 3; k++) {
            n += (size_t)snprintf(title + n, sizeof(title) - n, "wells ");
        }
        for (int k = 0; k < i; k++) {
            n += (size_t)snprintf(title + n, sizeof(title) - n, "%c ", (char)('a' + k % 26));
        }
        title[n - 1] = '\0';
        cases[i] = sfx_case(&sfx.alice, T0 + (uint64_t)i, title, NULL, PX_PRACTICE_GOOD, NULL);
        cr_assert_eq(sfx_insert(cases[i]), 0);
    }
}

static void
free_cases(void)
{
    for (int i = 0; i < N_CASES; i++) {
        free(cases[i]);
        cases[i] = NULL;
    }
}

/* The order SQLite's built-in bm25() gives, on a connection of our own. */
static size_t
bm25_order(int64_t *out, size_t cap)
{
    sqlite3 *db;
    sqlite3_stmt *st;
    size_t n = 0;

    cr_assert_eq(sqlite3_open_v2(sfx.path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    cr_assert_eq(sqlite3_prepare_v2(db,
                                    "SELECT rowid FROM fts WHERE fts MATCH '\"drought\" \"wells\"'"
                                    " ORDER BY bm25(fts)",
                                    -1, &st, NULL),
                 SQLITE_OK, "%s", sqlite3_errmsg(db));
    while (sqlite3_step(st) == SQLITE_ROW && n < cap) {
        out[n++] = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
}

/* The order px_store_select gives on connection s. */
static size_t
store_order(struct px_store *s, int64_t *out, size_t cap)
{
    struct px_api_filter f;
    struct px_store_window w = {0};
    int64_t *rows;
    size_t n;

    memset(&f, 0, sizeof(f));
    f.text = (struct px_str){QUERY, (uint32_t)strlen(QUERY)};
    cr_assert_eq(px_store_select(s, &f, &w, &rows, &n), 0);
    cr_assert_leq(n, cap);
    if (n > 0) {
        memcpy(out, rows, n * sizeof(*rows));
    }
    free(rows);
    return n;
}

static void
assert_same_order(const int64_t *want, size_t n_want, const int64_t *got, size_t n_got,
                  const char *how)
{
    cr_assert_eq(n_got, n_want, "%s: %zu matches, bm25 has %zu", how, n_got, n_want);
    for (size_t i = 0; i < n_want; i++) {
        cr_assert_eq(got[i], want[i], "%s: position %zu is row %lld, bm25 has row %lld", how, i,
                     (long long)got[i], (long long)want[i]);
    }
}

Test(rank, same_order_as_bm25_with_and_without_cached_lengths)
{
    int64_t want[N_CASES], got[N_CASES];
    size_t n_want, n;
    struct px_doclen *dl = px_doclen_new();
    struct px_store *filled, *lazy;
    char err[256];

    cr_assert_not_null(dl);
    add_cases();
    n_want = bm25_order(want, N_CASES);
    cr_assert_eq(n_want, N_CASES);
    /* The lengths really differ, so a wrong one would move a row. */
    cr_assert_neq(want[0], want[N_CASES - 1]);

    n = store_order(sfx.s, got, N_CASES);
    assert_same_order(want, n_want, got, n, "no cache");

    cr_assert_eq(px_store_open(sfx.path, &lazy, err, sizeof(err)), 0, "%s", err);
    px_store_use_doclen(lazy, dl);
    n = store_order(lazy, got, N_CASES); /* fills the cache from the index */
    assert_same_order(want, n_want, got, n, "cache filling");
    n = store_order(lazy, got, N_CASES); /* reads it */
    assert_same_order(want, n_want, got, n, "cache filled by a query");
    px_store_close(lazy);
    px_doclen_free(dl);

    cr_assert_not_null(dl = px_doclen_new());
    cr_assert_eq(px_store_open(sfx.path, &filled, err, sizeof(err)), 0, "%s", err);
    px_store_use_doclen(filled, dl);
    cr_assert_eq(px_store_doclen_fill(filled), 0);
    n = store_order(filled, got, N_CASES);
    assert_same_order(want, n_want, got, n, "cache filled at start");
    px_store_close(filled);
    px_doclen_free(dl);
    free_cases();
}

Test(rank, a_purge_keeps_the_order_of_the_rest)
{
    int64_t want[N_CASES], got[N_CASES];
    size_t n_want, n;
    struct px_doclen *dl = px_doclen_new();
    struct sfx_rec *r;
    char err[256];
    struct px_store *s;

    cr_assert_not_null(dl);
    add_cases();
    cr_assert_eq(px_store_open(sfx.path, &s, err, sizeof(err)), 0, "%s", err);
    px_store_use_doclen(s, dl);
    px_store_use_doclen(sfx.s, dl); /* the writer shares it, as in the daemon */
    cr_assert_eq(px_store_doclen_fill(s), 0);
    /* Retract the best match: its row is purged, and the rest keep their order. */
    n = store_order(s, got, N_CASES);
    cr_assert_eq(n, N_CASES);
    for (int i = 0; i < N_CASES; i++) {
        if (cases[i]->item.rowid == got[0]) {
            r = sfx_retraction(&sfx.alice, T0 + 1000, cases[i]->item.rec.id);
            cr_assert_eq(sfx_insert(r), 0);
            free(r);
        }
    }
    n_want = bm25_order(want, N_CASES);
    cr_assert_eq(n_want, N_CASES - 1);
    n = store_order(s, got, N_CASES);
    assert_same_order(want, n_want, got, n, "after a purge");
    px_store_use_doclen(sfx.s, NULL);
    px_store_close(s);
    px_doclen_free(dl);
    free_cases();
}

Test(rank, an_empty_store_and_no_match)
{
    int64_t got[1];

    cr_assert_eq(store_order(sfx.s, got, 1), 0);
    add_cases();
    {
        struct px_api_filter f;
        struct px_store_window w = {0};
        int64_t *rows;
        size_t n;

        memset(&f, 0, sizeof(f));
        f.text = (struct px_str){"monsoon", 7};
        cr_assert_eq(px_store_select(sfx.s, &f, &w, &rows, &n), 0);
        cr_assert_eq(n, 0);
        free(rows);
    }
    free_cases();
}
