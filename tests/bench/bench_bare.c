/* SPDX-License-Identifier: MIT */
/* bench_bare.c - the plain SQLite + FTS5 baseline; see bench_bare.h. */
#include "bench_bare.h"

#include <sys/stat.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

static const char schema[] =
    "PRAGMA journal_mode = WAL;"
    "PRAGMA synchronous = FULL;"
    "PRAGMA cache_size = -8000;"
    "PRAGMA temp_store = MEMORY;"
    "CREATE TABLE bare (rowid INTEGER PRIMARY KEY, id BLOB NOT NULL UNIQUE,"
    "  created INTEGER NOT NULL, practice INTEGER NOT NULL, tags TEXT NOT NULL,"
    "  raw BLOB NOT NULL);"
    "CREATE VIRTUAL TABLE bare_fts USING fts5(title, summary, body, lessons, tags,"
    "  content='', tokenize='unicode61 remove_diacritics 2');";

enum stmt {
    S_BEGIN,
    S_COMMIT,
    S_INSERT,
    S_FTS,
    S_TEXT,
    S_FILTER,
    S_GET,
    S_COUNT,
    S_RANKS,
    S_RANK_OF,
    S_N
};

static const char *const stmt_sql[S_N] = {
    [S_BEGIN] = "BEGIN",
    [S_COMMIT] = "COMMIT",
    [S_INSERT] = "INSERT INTO bare (id, created, practice, tags, raw) VALUES (?1, ?2, ?3, ?4, ?5)",
    [S_FTS] = "INSERT INTO bare_fts (rowid, title, summary, body, lessons, tags)"
              " VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    [S_TEXT] = "SELECT b.raw FROM bare_fts JOIN bare b ON b.rowid = bare_fts.rowid"
               " WHERE bare_fts MATCH ?1 ORDER BY bare_fts.rank LIMIT ?2",
    /* The tag through the index's tags column, then exactly (a tag is one whole token of
     * the space-joined list, so "cash" does not match "cash-transfer"). */
    [S_FILTER] = "SELECT b.raw FROM bare_fts JOIN bare b ON b.rowid = bare_fts.rowid"
                 " WHERE bare_fts MATCH ?1 AND b.practice = ?2"
                 " AND instr(' ' || b.tags || ' ', ?3) > 0"
                 " ORDER BY b.created DESC LIMIT ?4",
    [S_GET] = "SELECT raw FROM bare WHERE id = ?1",
    [S_COUNT] = "SELECT count(*) FROM bare_fts WHERE bare_fts MATCH ?1",
    [S_RANKS] = "SELECT rank FROM bare_fts WHERE bare_fts MATCH ?1 ORDER BY rank LIMIT ?2",
    [S_RANK_OF] = "SELECT bare_fts.rank FROM bare b JOIN bare_fts ON bare_fts.rowid = b.rowid"
                  " WHERE b.id = ?2 AND bare_fts MATCH ?1",
};

struct bench_bare {
    sqlite3 *db;
    char *path;
    sqlite3_stmt *stmt[S_N];
    uint8_t row[65536]; /* where each result row's bytes are copied */
};

static int
fail(struct bench_bare *b, const char *what)
{
    fprintf(stderr, "praxis-bench: bare SQLite: %s: %s\n", what, sqlite3_errmsg(b->db));
    return -1;
}

struct bench_bare *
bench_bare_open(const char *path)
{
    struct bench_bare *b = calloc(1, sizeof(*b));

    if (b == NULL || (b->path = strdup(path)) == NULL) {
        fprintf(stderr, "praxis-bench: out of memory\n");
        free(b);
        return NULL;
    }
    if (sqlite3_open_v2(path, &b->db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK) {
        fail(b, path);
        goto fail;
    }
    if (sqlite3_exec(b->db, schema, NULL, NULL, NULL) != SQLITE_OK) {
        fail(b, "schema");
        goto fail;
    }
    for (int i = 0; i < S_N; i++) {
        if (sqlite3_prepare_v3(b->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &b->stmt[i],
                               NULL) != SQLITE_OK) {
            fail(b, stmt_sql[i]);
            goto fail;
        }
    }
    return b;
fail:
    bench_bare_close(b);
    return NULL;
}

void
bench_bare_close(struct bench_bare *b)
{
    if (b == NULL) {
        return;
    }
    for (int i = 0; i < S_N; i++) {
        sqlite3_finalize(b->stmt[i]);
    }
    sqlite3_close_v2(b->db);
    free(b->path);
    free(b);
}

static int
step_done(struct bench_bare *b, sqlite3_stmt *st, const char *what)
{
    int rc = sqlite3_step(st);

    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : fail(b, what);
}

static void
bind_str(sqlite3_stmt *st, int i, struct px_str s)
{
    sqlite3_bind_text(st, i, s.p, (int)s.len, SQLITE_STATIC);
}

int
bench_bare_insert(struct bench_bare *b, const struct bench_doc *docs, size_t n)
{
    sqlite3_stmt *ins = b->stmt[S_INSERT], *fts = b->stmt[S_FTS];

    for (size_t at = 0; at < n; at += BENCH_BARE_TXN_ROWS) {
        size_t end = n - at > BENCH_BARE_TXN_ROWS ? at + BENCH_BARE_TXN_ROWS : n;

        if (step_done(b, b->stmt[S_BEGIN], "BEGIN") != 0) {
            return -1;
        }
        for (size_t i = at; i < end; i++) {
            const struct bench_doc *d = &docs[i];

            sqlite3_bind_blob(ins, 1, d->id, PX_ID_BYTES, SQLITE_STATIC);
            sqlite3_bind_int64(ins, 2, (sqlite3_int64)d->created);
            sqlite3_bind_int(ins, 3, (int)d->practice);
            bind_str(ins, 4, d->tags);
            sqlite3_bind_blob(ins, 5, d->raw, (int)d->len, SQLITE_STATIC);
            if (step_done(b, ins, "INSERT") != 0) {
                return -1;
            }
            sqlite3_bind_int64(fts, 1, sqlite3_last_insert_rowid(b->db));
            bind_str(fts, 2, d->title);
            bind_str(fts, 3, d->summary);
            bind_str(fts, 4, d->body);
            bind_str(fts, 5, d->lessons);
            bind_str(fts, 6, d->tags);
            if (step_done(b, fts, "INSERT INTO bare_fts") != 0) {
                return -1;
            }
        }
        if (step_done(b, b->stmt[S_COMMIT], "COMMIT") != 0) {
            return -1;
        }
    }
    return 0;
}

/* Steps a query to its end, copying out each row's first column. */
static int
read_rows(struct bench_bare *b, sqlite3_stmt *st, bool hash, struct bench_result *out)
{
    uint64_t h = UINT64_C(0xcbf29ce484222325);
    int rc;

    out->rows = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const uint8_t *p = sqlite3_column_blob(st, 0);
        size_t len = (size_t)sqlite3_column_bytes(st, 0);

        if (len > sizeof(b->row)) {
            len = sizeof(b->row);
        }
        memcpy(b->row, p, len);
        if (hash) {
            for (size_t i = 0; i < len; i++) {
                h = (h ^ b->row[i]) * UINT64_C(0x100000001b3);
            }
        }
        out->rows++;
    }
    sqlite3_reset(st);
    out->hash = hash ? h : 0;
    return rc == SQLITE_DONE ? 0 : fail(b, "query");
}

int
bench_bare_text(struct bench_bare *b, const char *match, unsigned limit, bool hash,
                struct bench_result *out)
{
    sqlite3_stmt *st = b->stmt[S_TEXT];

    sqlite3_bind_text(st, 1, match, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, limit > 0 ? (sqlite3_int64)limit : -1);
    return read_rows(b, st, hash, out);
}

int
bench_bare_filter(struct bench_bare *b, const char *tag, int practice, unsigned limit, bool hash,
                  struct bench_result *out)
{
    sqlite3_stmt *st = b->stmt[S_FILTER];
    char match[160], exact[80];

    if ((size_t)snprintf(match, sizeof(match), "tags : \"%s\"", tag) >= sizeof(match) ||
        (size_t)snprintf(exact, sizeof(exact), " %s ", tag) >= sizeof(exact)) {
        fprintf(stderr, "praxis-bench: tag too long: %s\n", tag);
        return -1;
    }
    sqlite3_bind_text(st, 1, match, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(st, 2, practice);
    sqlite3_bind_text(st, 3, exact, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 4, limit > 0 ? (sqlite3_int64)limit : -1);
    return read_rows(b, st, hash, out);
}

int
bench_bare_get(struct bench_bare *b, const uint8_t id[PX_ID_BYTES], bool hash,
               struct bench_result *out)
{
    sqlite3_stmt *st = b->stmt[S_GET];

    sqlite3_bind_blob(st, 1, id, PX_ID_BYTES, SQLITE_STATIC);
    return read_rows(b, st, hash, out);
}

int
bench_bare_count(struct bench_bare *b, const char *match, size_t *count)
{
    sqlite3_stmt *st = b->stmt[S_COUNT];
    int rc;

    sqlite3_bind_text(st, 1, match, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    *count = rc == SQLITE_ROW ? (size_t)sqlite3_column_int64(st, 0) : 0;
    sqlite3_reset(st);
    return rc == SQLITE_ROW ? 0 : fail(b, "count");
}

int
bench_bare_ranks(struct bench_bare *b, const char *match, unsigned limit, double *ranks, size_t *n)
{
    sqlite3_stmt *st = b->stmt[S_RANKS];
    int rc;

    *n = 0;
    sqlite3_bind_text(st, 1, match, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)limit);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        ranks[(*n)++] = sqlite3_column_double(st, 0);
    }
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : fail(b, "ranks");
}

int
bench_bare_rank_of(struct bench_bare *b, const char *match, const uint8_t id[PX_ID_BYTES],
                   double *rank, bool *found)
{
    sqlite3_stmt *st = b->stmt[S_RANK_OF];
    int rc;

    sqlite3_bind_text(st, 1, match, -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 2, id, PX_ID_BYTES, SQLITE_STATIC);
    rc = sqlite3_step(st);
    *found = rc == SQLITE_ROW;
    *rank = *found ? sqlite3_column_double(st, 0) : 0;
    sqlite3_reset(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : fail(b, "rank of a record");
}

int
bench_bare_terms(struct bench_bare *b, size_t lo, size_t hi, struct bench_term **terms, size_t *n)
{
    sqlite3_stmt *st = NULL;
    struct bench_term *list = NULL;
    size_t count = 0, cap = 0;
    int rc;

    *terms = NULL;
    *n = 0;
    if (sqlite3_exec(b->db,
                     "CREATE VIRTUAL TABLE IF NOT EXISTS temp.bare_vocab"
                     " USING fts5vocab(main, 'bare_fts', 'row')",
                     NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(b->db,
                           "SELECT term, doc FROM temp.bare_vocab WHERE doc BETWEEN ?1 AND ?2"
                           " ORDER BY term",
                           -1, &st, NULL) != SQLITE_OK) {
        return fail(b, "fts5vocab");
    }
    sqlite3_bind_int64(st, 1, (sqlite3_int64)lo);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)hi);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *t = (const char *)sqlite3_column_text(st, 0);

        if (t == NULL || strlen(t) >= sizeof(list->term)) {
            continue;
        }
        if (count == cap) {
            size_t ncap = cap == 0 ? 64 : cap * 2;
            struct bench_term *p = realloc(list, ncap * sizeof(*list));

            if (p == NULL) {
                rc = SQLITE_NOMEM;
                break;
            }
            list = p;
            cap = ncap;
        }
        snprintf(list[count].term, sizeof(list[count].term), "%s", t);
        list[count].docs = (size_t)sqlite3_column_int64(st, 1);
        count++;
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        free(list);
        return fail(b, "fts5vocab");
    }
    *terms = list;
    *n = count;
    return 0;
}

static uint64_t
file_bytes(const char *path, const char *suffix)
{
    char buf[4096];
    struct stat st;

    if ((size_t)snprintf(buf, sizeof(buf), "%s%s", path, suffix) >= sizeof(buf) ||
        stat(buf, &st) != 0) {
        return 0;
    }
    return (uint64_t)st.st_size;
}

uint64_t
bench_bare_bytes(const struct bench_bare *b)
{
    return file_bytes(b->path, "") + file_bytes(b->path, "-wal");
}
