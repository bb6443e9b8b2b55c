/* SPDX-License-Identifier: MIT */
/*
 * store.c - SQLite store of signed records; see store.h.
 *
 * Schema (version 3; version 1 had records_created(created, id) where records_listing is,
 * version 2 FTS5's default automerge of 4):
 *   records   one row per stored record: its id, author, created time, type, arrival
 *             time, the raw signed bytes, and the decoded columns queries filter on.
 *             For a case `ref` is the id it corrects (supersedes); for a retraction, the
 *             id it retracts. `superseded` is 1 while a stored correction by the same
 *             author points at the case.
 *   tags      (tag, rowid) pairs, for "has all of these tags" filters.
 *   retracted (target id, author, retraction id): a case id retracted by its author is
 *             never stored again. Keyed by author too, so a retraction by anyone else
 *             cannot block a future case.
 *   fts       FTS5 over title, summary, body, lessons and tags; contentless (the text is
 *             already in the raw bytes), so deleting a row passes the old values back in,
 *             taken from the raw record.
 *
 * Rules applied by px_store_insert, inside its transaction:
 *   - a duplicate id is PX_EEXIST; a case id retracted by its author is PX_ERETRACTED;
 *   - a correction or retraction of a stored record by another author is PX_EPERM;
 *   - a correction marks its target superseded; a case arriving after its correction is
 *     stored already superseded;
 *   - a retraction purges its target (row, tags, text index) and, when the target was a
 *     correction, un-supersedes what it corrected if no other correction remains.
 * secure_delete is on, so purged text is overwritten in the database file.
 */
#include "store.h"

#include <sys/stat.h>

#include <assert.h>
#include <math.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "protocol/err.h"

static const char *const migrations[] = {
    /* 0 -> 1 */
    "CREATE TABLE records ("
    "  rowid INTEGER PRIMARY KEY,"
    "  id BLOB NOT NULL UNIQUE,"
    "  author BLOB NOT NULL,"
    "  created INTEGER NOT NULL,"
    "  type INTEGER NOT NULL,"
    "  received INTEGER NOT NULL,"
    "  raw BLOB NOT NULL,"
    "  practice INTEGER,"
    "  sector TEXT,"
    "  region TEXT,"
    "  language TEXT,"
    "  ref BLOB,"
    "  superseded INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX records_created ON records(created, id);"
    "CREATE INDEX records_author ON records(author, created);"
    "CREATE INDEX records_ref ON records(ref) WHERE ref IS NOT NULL;"
    "CREATE TABLE tags (tag TEXT NOT NULL, rid INTEGER NOT NULL,"
    "  PRIMARY KEY (tag, rid)) WITHOUT ROWID;"
    "CREATE TABLE retracted (target BLOB NOT NULL, author BLOB NOT NULL,"
    "  retraction BLOB NOT NULL, PRIMARY KEY (target, author)) WITHOUT ROWID;"
    "CREATE VIRTUAL TABLE fts USING fts5(title, summary, body, lessons, tags,"
    "  content='', tokenize='unicode61 remove_diacritics 2');",
    /* 1 -> 2: filters and the default newest-first order read type, superseded and
     * practice from the index instead of fetching each (2.5 KB) row. */
    "CREATE INDEX records_listing ON records(created, id, type, superseded, practice);"
    "DROP INDEX records_created;",
    /* 2 -> 3: FTS5 merges its index segments 8 at a time instead of 4: about a tenth less
     * work per record indexed, for a few percent on queries over very common words. */
    "INSERT INTO fts (fts, rank) VALUES ('automerge', 8);",
};

#define N_MIGRATIONS (sizeof(migrations) / sizeof(migrations[0]))

enum stmt {
    S_BEGIN,
    S_COMMIT,
    S_ROLLBACK,
    S_INSERT,
    S_IS_RETRACTED,
    S_BY_ID,
    S_SUPERSEDE,
    S_HAS_CORRECTION,
    S_UNSUPERSEDE,
    S_TAG,
    S_FTS_ADD,
    S_FTS_DEL,
    S_DEL_TAGS,
    S_DEL_RECORD,
    S_RETRACTED_ADD,
    S_FETCH,
    S_HELD,
    S_RAW_BY_ID,
    S_GET_RANGE,
    S_GET_RETRACTED,
    S_COUNT
};

static const char *const stmt_sql[S_COUNT] = {
    [S_BEGIN] = "BEGIN IMMEDIATE",
    [S_COMMIT] = "COMMIT",
    [S_ROLLBACK] = "ROLLBACK",
    [S_INSERT] = "INSERT INTO records (id, author, created, type, received, raw, practice,"
                 " sector, region, language, ref, superseded)"
                 " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"
                 " ON CONFLICT (id) DO NOTHING",
    [S_IS_RETRACTED] = "SELECT 1 FROM retracted WHERE target = ?1 AND author = ?2",
    [S_BY_ID] = "SELECT rowid, author, type, raw, ref, created FROM records WHERE id = ?1",
    [S_SUPERSEDE] = "UPDATE records SET superseded = 1"
                    " WHERE id = ?1 AND author = ?2 AND type = 1",
    [S_HAS_CORRECTION] = "SELECT 1 FROM records WHERE ref = ?1 AND author = ?2 AND type = 1",
    [S_UNSUPERSEDE] = "UPDATE records SET superseded = 0 WHERE id = ?1 AND author = ?2"
                      " AND NOT EXISTS (SELECT 1 FROM records c WHERE c.ref = ?1"
                      " AND c.author = ?2 AND c.type = 1)",
    [S_TAG] = "INSERT OR IGNORE INTO tags (tag, rid) VALUES (?1, ?2)",
    [S_FTS_ADD] = "INSERT INTO fts (rowid, title, summary, body, lessons, tags)"
                  " VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    [S_FTS_DEL] = "INSERT INTO fts (fts, rowid, title, summary, body, lessons, tags)"
                  " VALUES ('delete', ?1, ?2, ?3, ?4, ?5, ?6)",
    [S_DEL_TAGS] = "DELETE FROM tags WHERE rid = ?1",
    [S_DEL_RECORD] = "DELETE FROM records WHERE rowid = ?1",
    [S_RETRACTED_ADD] = "INSERT OR IGNORE INTO retracted (target, author, retraction)"
                        " VALUES (?1, ?2, ?3)",
    [S_FETCH] = "SELECT raw FROM records WHERE rowid = ?1",
    /* Held means stored. A retracted id is not "held": the retracted table is keyed by
     * author too, and only the insert knows the author, so a retraction by someone else
     * cannot stop a case from being fetched. */
    [S_HELD] = "SELECT 1 FROM records WHERE id = ?1",
    [S_RAW_BY_ID] = "SELECT raw FROM records WHERE id = ?1",
    [S_GET_RANGE] = "SELECT rowid FROM records WHERE id BETWEEN ?1 AND ?2 LIMIT 2",
    /* A retraction whose target is held is another author's, refused as a claim on it. */
    [S_GET_RETRACTED] = "SELECT x.rowid FROM retracted t JOIN records x ON x.id = t.retraction"
                        " WHERE t.target BETWEEN ?1 AND ?2"
                        " AND NOT EXISTS (SELECT 1 FROM records h WHERE h.id = t.target) LIMIT 2",
};

struct px_store {
    sqlite3 *db;
    char *path;
    sqlite3_stmt *stmt[S_COUNT];
    /* Scratch for the joined lessons and tags columns of the text index. */
    char *join;
    size_t join_cap;
    uint32_t wal_pages;       /* the WAL's size after this connection's last commit */
    struct px_doclen *doclen; /* shared document lengths for ranking, or NULL */
};

static int
map_sqlite(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_OK:
    case SQLITE_DONE:
    case SQLITE_ROW:
        return 0;
    case SQLITE_FULL:
        return PX_ENOSPC;
    case SQLITE_NOMEM:
        return PX_ENOMEM;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return PX_EBUSY;
    default:
        return PX_EIO;
    }
}

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
set_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (err != NULL && errlen > 0) {
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
}

static int
exec(sqlite3 *db, const char *sql)
{
    return map_sqlite(sqlite3_exec(db, sql, NULL, NULL, NULL));
}

static int
user_version(sqlite3 *db, int *v)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL);

    if (rc != SQLITE_OK) {
        return map_sqlite(rc);
    }
    rc = sqlite3_step(st);
    *v = rc == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? 0 : map_sqlite(rc);
}

static int
migrate(sqlite3 *db, char *err, size_t errlen)
{
    char sql[64];
    int v = 0, rc;

    if ((rc = user_version(db, &v)) != 0) {
        set_err(err, errlen, "cannot read the schema version: %s", sqlite3_errmsg(db));
        return rc;
    }
    if (v > (int)N_MIGRATIONS) {
        set_err(err, errlen,
                "the store has schema version %d, newer than this praxisd knows (%d): "
                "run a newer praxisd",
                v, (int)N_MIGRATIONS);
        return PX_EVERSION;
    }
    for (; v < (int)N_MIGRATIONS; v++) {
        snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", v + 1);
        if ((rc = exec(db, "BEGIN IMMEDIATE")) != 0 || (rc = exec(db, migrations[v])) != 0 ||
            (rc = exec(db, sql)) != 0 || (rc = exec(db, "COMMIT")) != 0) {
            set_err(err, errlen, "schema migration failed: %s", sqlite3_errmsg(db));
            exec(db, "ROLLBACK");
            return rc;
        }
    }
    return 0;
}

/* ---- Ranking ----
 *
 * Ranked text queries order by px_bm25, which computes exactly what FTS5's built-in bm25()
 * computes with every column weight 1.0 (the same terms, in the same order, so the same
 * doubles): for each phrase of the query, idf * f * (k1 + 1) / (f + k1 * (1 - b + b * D /
 * avgdl)), summed and negated, with k1 = 1.2, b = 0.75, f the phrase's hits in the row, D
 * the row's length in tokens, avgdl the mean length, and idf = log((N - n + 0.5) / (n +
 * 0.5)) (at least 1e-6) over the N rows of which n match the phrase.
 *
 * bm25() reads D from the index's fts_docsize table for every match: a B-tree probe that
 * was a third of a ranked query's time. px_bm25 reads it from a struct px_doclen, shared by
 * the connections of one store: an array by rowid, in chunks allocated on first use, whose
 * entries are filled from fts_docsize at start (px_store_doclen_fill) and, for rows added
 * since, from the index the first time a query ranks them. A row's length never changes
 * (a case is never edited; a purged row's entry is cleared), so entries need no locks:
 * they are atomics that go from 0 (unknown) to the length, and every thread that fills one
 * writes the same value. Lengths of 65,535 tokens or more, and rowids past the table, are
 * not cached (the index answers each time).
 */
#define DOCLEN_CHUNK_BITS 16
#define DOCLEN_CHUNK      (1u << DOCLEN_CHUNK_BITS)
#define DOCLEN_CHUNKS     1024 /* rowids below 2^26 */

struct px_doclen {
    _Atomic(void *) chunk[DOCLEN_CHUNKS]; /* each DOCLEN_CHUNK _Atomic uint16_t */
};

struct px_doclen *
px_doclen_new(void)
{
    struct px_doclen *dl = calloc(1, sizeof(*dl));

    if (dl != NULL) {
        for (size_t i = 0; i < DOCLEN_CHUNKS; i++) {
            atomic_init(&dl->chunk[i], NULL);
        }
    }
    return dl;
}

void
px_doclen_free(struct px_doclen *dl)
{
    if (dl == NULL) {
        return;
    }
    for (size_t i = 0; i < DOCLEN_CHUNKS; i++) {
        free(atomic_load_explicit(&dl->chunk[i], memory_order_relaxed));
    }
    free(dl);
}

/* The entry of rowid, allocating its chunk when create is set; NULL when out of range or
 * out of memory. */
static _Atomic uint16_t *
doclen_slot(struct px_doclen *dl, int64_t rowid, bool create)
{
    void *c, *fresh;
    uint64_t r = (uint64_t)rowid, k = r >> DOCLEN_CHUNK_BITS;

    if (rowid <= 0 || k >= DOCLEN_CHUNKS) {
        return NULL;
    }
    c = atomic_load_explicit(&dl->chunk[k], memory_order_acquire);
    if (c == NULL) {
        if (!create || (fresh = calloc(DOCLEN_CHUNK, sizeof(_Atomic uint16_t))) == NULL) {
            return NULL;
        }
        if (atomic_compare_exchange_strong_explicit(&dl->chunk[k], &c, fresh, memory_order_acq_rel,
                                                    memory_order_acquire)) {
            c = fresh;
        } else {
            free(fresh); /* another thread was first; c is its chunk */
        }
    }
    return (_Atomic uint16_t *)c + (r & (DOCLEN_CHUNK - 1));
}

static void
doclen_set(struct px_doclen *dl, int64_t rowid, int64_t len)
{
    _Atomic uint16_t *e;

    if (dl != NULL && (e = doclen_slot(dl, rowid, len > 0)) != NULL) {
        atomic_store_explicit(e, len > 0 && len < UINT16_MAX ? (uint16_t)len : 0,
                              memory_order_relaxed);
    }
}

void
px_store_use_doclen(struct px_store *s, struct px_doclen *dl)
{
    s->doclen = dl;
}

/* One SQLite varint (at most 9 bytes, big-endian groups of 7 bits, the ninth byte whole).
 * Returns the bytes used, 0 when p runs out first. */
static size_t
get_varint(const uint8_t *p, size_t n, uint64_t *v)
{
    uint64_t x = 0;

    for (size_t i = 0; i < n && i < 9; i++) {
        if (i == 8) {
            *v = (x << 8) | p[i];
            return 9;
        }
        x = (x << 7) | (p[i] & 0x7f);
        if ((p[i] & 0x80) == 0) {
            *v = x;
            return i + 1;
        }
    }
    return 0;
}

int
px_store_doclen_fill(struct px_store *s)
{
    sqlite3_stmt *st;
    int rc;

    if (s->doclen == NULL) {
        return 0;
    }
    if (sqlite3_prepare_v2(s->db, "SELECT id, sz FROM fts_docsize", -1, &st, NULL) != SQLITE_OK) {
        return PX_EIO;
    }
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const uint8_t *p = sqlite3_column_blob(st, 1);
        size_t n = (size_t)sqlite3_column_bytes(st, 1), off = 0, used;
        uint64_t total = 0, v;

        /* One varint per column: the row's length is their sum. */
        while (off < n && (used = get_varint(p + off, n - off, &v)) > 0 && total < UINT16_MAX) {
            total += v;
            off += used;
        }
        if (off == n) {
            doclen_set(s->doclen, sqlite3_column_int64(st, 0), (int64_t)total);
        }
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : map_sqlite(rc);
}

struct bm25_data {
    int n_phrase;
    double avgdl;
    double *idf, *freq;
};

static int
count_row(const Fts5ExtensionApi *api, Fts5Context *fts, void *arg)
{
    (void)api;
    (void)fts;
    (*(sqlite3_int64 *)arg)++;
    return SQLITE_OK;
}

/* The query's constants, computed at its first row and kept as the function's aux data. */
static int
bm25_data(const Fts5ExtensionApi *api, Fts5Context *fts, struct bm25_data **out)
{
    struct bm25_data *p = api->xGetAuxdata(fts, 0);
    sqlite3_int64 rows = 0, tokens = 0;
    int rc = SQLITE_OK, n;

    if (p != NULL) {
        *out = p;
        return SQLITE_OK;
    }
    n = api->xPhraseCount(fts);
    if ((p = sqlite3_malloc64(sizeof(*p) + (size_t)n * 2 * sizeof(double))) == NULL) {
        return SQLITE_NOMEM;
    }
    memset(p, 0, sizeof(*p) + (size_t)n * 2 * sizeof(double));
    p->n_phrase = n;
    p->idf = (double *)(p + 1);
    p->freq = p->idf + n;
    if ((rc = api->xRowCount(fts, &rows)) == SQLITE_OK &&
        (rc = api->xColumnTotalSize(fts, -1, &tokens)) == SQLITE_OK) {
        p->avgdl = (double)tokens / (double)rows;
    }
    for (int i = 0; rc == SQLITE_OK && i < n; i++) {
        sqlite3_int64 hits = 0;

        if ((rc = api->xQueryPhrase(fts, i, &hits, count_row)) == SQLITE_OK) {
            double idf = log(((double)rows - (double)hits + 0.5) / ((double)hits + 0.5));

            p->idf[i] = idf <= 0.0 ? 1e-6 : idf;
        }
    }
    if (rc == SQLITE_OK) {
        rc = api->xSetAuxdata(fts, p, sqlite3_free); /* frees p itself on failure */
    } else {
        sqlite3_free(p);
    }
    *out = rc == SQLITE_OK ? p : NULL;
    return rc;
}

/* The row's length in tokens: from the shared cache, or from the index (then cached). */
static int
row_length(const Fts5ExtensionApi *api, Fts5Context *fts, struct px_doclen *dl, int *len)
{
    _Atomic uint16_t *e = NULL;
    uint16_t v;
    int rc;

    if (dl != NULL && (e = doclen_slot(dl, api->xRowid(fts), true)) != NULL &&
        (v = atomic_load_explicit(e, memory_order_relaxed)) != 0) {
        *len = v;
#ifndef NDEBUG
        {
            int check = -1;

            assert(api->xColumnSize(fts, -1, &check) != SQLITE_OK || check == v);
        }
#endif
        return SQLITE_OK;
    }
    if ((rc = api->xColumnSize(fts, -1, len)) == SQLITE_OK && e != NULL && *len > 0 &&
        *len < UINT16_MAX) {
        atomic_store_explicit(e, (uint16_t)*len, memory_order_relaxed);
    }
    return rc;
}

static void
px_bm25(const Fts5ExtensionApi *api, Fts5Context *fts, sqlite3_context *ctx, int n_val,
        sqlite3_value **val)
{
    const double k1 = 1.2, b = 0.75;
    struct px_store *s = api->xUserData(fts);
    struct bm25_data *p = NULL;
    double score = 0.0, d;
    int rc, n_inst = 0, len = 0;

    (void)n_val;
    (void)val;
    if ((rc = bm25_data(api, fts, &p)) == SQLITE_OK) {
        memset(p->freq, 0, sizeof(double) * (size_t)p->n_phrase);
        rc = api->xInstCount(fts, &n_inst);
    }
    for (int i = 0; rc == SQLITE_OK && i < n_inst; i++) {
        int phrase, col, off;

        if ((rc = api->xInst(fts, i, &phrase, &col, &off)) == SQLITE_OK) {
            p->freq[phrase] += 1.0;
        }
    }
    if (rc == SQLITE_OK) {
        rc = row_length(api, fts, s->doclen, &len);
    }
    d = (double)len;
    for (int i = 0; rc == SQLITE_OK && i < p->n_phrase; i++) {
        score += p->idf[i] *
                 ((p->freq[i] * (k1 + 1.0)) / (p->freq[i] + k1 * (1 - b + b * d / p->avgdl)));
    }
    if (rc == SQLITE_OK) {
        sqlite3_result_double(ctx, -1.0 * score);
    } else {
        sqlite3_result_error_code(ctx, rc);
    }
}

/* Registers px_bm25 on this connection. */
static int
register_rank(struct px_store *s)
{
    fts5_api *api = NULL;
    sqlite3_stmt *st;
    int rc;

    if (sqlite3_prepare_v2(s->db, "SELECT fts5(?1)", -1, &st, NULL) != SQLITE_OK) {
        return PX_EIO;
    }
    sqlite3_bind_pointer(st, 1, (void *)&api, "fts5_api_ptr", NULL);
    sqlite3_step(st);
    rc = sqlite3_finalize(st);
    if (rc != SQLITE_OK || api == NULL || api->iVersion < 2) {
        return PX_EIO;
    }
    return api->xCreateFunction(api, "px_bm25", s, px_bm25, NULL) == SQLITE_OK ? 0 : PX_EIO;
}

static int
wal_hook(void *arg, sqlite3 *db, const char *name, int pages)
{
    struct px_store *s = arg;

    (void)db;
    (void)name;
    s->wal_pages = pages > 0 ? (uint32_t)pages : 0;
    return SQLITE_OK;
}

int
px_store_open(const char *path, struct px_store **out, char *err, size_t errlen)
{
    struct px_store *s = calloc(1, sizeof(*s));
    sqlite3_stmt *st = NULL;
    int rc;

    *out = NULL;
    if (s == NULL || (s->path = strdup(path)) == NULL) {
        free(s);
        return PX_ENOMEM;
    }
    rc = sqlite3_open_v2(path, &s->db,
                         SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        set_err(err, errlen, "cannot open the store %s: %s", path,
                s->db != NULL ? sqlite3_errmsg(s->db) : "out of memory");
        rc = PX_EIO;
        goto fail;
    }
    sqlite3_busy_timeout(s->db, PX_STORE_BUSY_MS);
    sqlite3_extended_result_codes(s->db, 1);
    /* Replaces SQLite's auto-checkpoint, which would checkpoint on the committing thread. */
    sqlite3_wal_hook(s->db, wal_hook, s);
    /* WAL: readers never block the writer. synchronous=FULL: a commit is on disk when
     * COMMIT returns, which is when a publish is acknowledged. */
    if (sqlite3_prepare_v2(s->db, "PRAGMA journal_mode = WAL", -1, &st, NULL) != SQLITE_OK ||
        sqlite3_step(st) != SQLITE_ROW ||
        strcmp((const char *)sqlite3_column_text(st, 0), "wal") != 0) {
        set_err(err, errlen, "cannot put the store %s in WAL mode: %s", path,
                sqlite3_errmsg(s->db));
        rc = PX_EIO;
        goto fail;
    }
    sqlite3_finalize(st);
    st = NULL;
    if ((rc = exec(s->db, "PRAGMA synchronous = FULL; PRAGMA secure_delete = ON;"
                          "PRAGMA foreign_keys = OFF; PRAGMA cache_size = -8000;"
                          "PRAGMA temp_store = MEMORY; PRAGMA journal_size_limit = 16777216")) !=
        0) {
        set_err(err, errlen, "cannot configure the store %s: %s", path, sqlite3_errmsg(s->db));
        goto fail;
    }
    if ((rc = migrate(s->db, err, errlen)) != 0) {
        goto fail;
    }
    if ((rc = register_rank(s)) != 0) {
        set_err(err, errlen, "cannot register the ranking function: %s", sqlite3_errmsg(s->db));
        goto fail;
    }
    for (int i = 0; i < S_COUNT; i++) {
        if (sqlite3_prepare_v3(s->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &s->stmt[i],
                               NULL) != SQLITE_OK) {
            set_err(err, errlen, "cannot prepare a statement: %s", sqlite3_errmsg(s->db));
            rc = PX_EIO;
            goto fail;
        }
    }
    *out = s;
    return 0;
fail:
    sqlite3_finalize(st);
    px_store_close(s);
    return rc;
}

void
px_store_close(struct px_store *s)
{
    if (s == NULL) {
        return;
    }
    for (int i = 0; i < S_COUNT; i++) {
        sqlite3_finalize(s->stmt[i]);
    }
    sqlite3_close_v2(s->db);
    free(s->join);
    free(s->path);
    free(s);
}

/* ---- Insert ---- */

/* Runs a statement that returns no rows (or whose rows we ignore) and resets it. */
static int
step_reset(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);

    sqlite3_reset(st);
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : map_sqlite(rc);
}

/* Does a one-row lookup find a row? Sets *found; returns 0 or an error. */
static int
step_exists(sqlite3_stmt *st, bool *found)
{
    int rc = sqlite3_step(st);

    sqlite3_reset(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        return map_sqlite(rc);
    }
    *found = rc == SQLITE_ROW;
    return 0;
}

static void
bind_str(sqlite3_stmt *st, int i, struct px_str s)
{
    if (s.len == 0) {
        sqlite3_bind_null(st, i);
    } else {
        sqlite3_bind_text(st, i, s.p, (int)s.len, SQLITE_STATIC);
    }
}

static void
bind_blob(sqlite3_stmt *st, int i, const uint8_t *b, size_t n)
{
    sqlite3_bind_blob(st, i, b, (int)n, SQLITE_STATIC);
}

/* Joins strings with a separator into s->join; returns its length, or -1 on OOM. */
static int
join_into(struct px_store *s, size_t at, const struct px_str *list, uint32_t n, char sep,
          size_t *len)
{
    size_t need = at + 1;

    for (uint32_t i = 0; i < n; i++) {
        need += list[i].len + 1;
    }
    if (need > s->join_cap) {
        char *p = realloc(s->join, need);

        if (p == NULL) {
            return PX_ENOMEM;
        }
        s->join = p;
        s->join_cap = need;
    }
    *len = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (i > 0) {
            s->join[at + (*len)++] = sep;
        }
        memcpy(s->join + at + *len, list[i].p, list[i].len);
        *len += list[i].len;
    }
    return 0;
}

/* Binds the five text-index columns of a case to ?2..?6 of st (?1 is the rowid). */
static int
bind_fts(struct px_store *s, sqlite3_stmt *st, int64_t rowid, const struct px_case *c)
{
    size_t lessons_len, tags_len;
    int rc;

    /* Both joins share one buffer: lessons first, then tags after them. */
    if ((rc = join_into(s, 0, c->lessons, c->n_lessons, '\n', &lessons_len)) != 0 ||
        (rc = join_into(s, lessons_len + 1, c->tags, c->n_tags, ' ', &tags_len)) != 0) {
        return rc;
    }
    sqlite3_bind_int64(st, 1, rowid);
    bind_str(st, 2, c->title);
    bind_str(st, 3, c->summary);
    bind_str(st, 4, c->body);
    sqlite3_bind_text(st, 5, s->join, (int)lessons_len, SQLITE_STATIC);
    sqlite3_bind_text(st, 6, s->join + lessons_len + 1, (int)tags_len, SQLITE_STATIC);
    return 0;
}

/* Looks a record up by id: *found, and its rowid, author, type and ref. */
struct found_row {
    bool found;
    int64_t rowid;
    uint8_t author[PX_SIGN_PUBLICKEYBYTES];
    int type;
    bool has_ref;
    uint8_t ref[PX_ID_BYTES];
    uint64_t created;
};

static int
find_by_id(struct px_store *s, const uint8_t id[PX_ID_BYTES], struct found_row *f)
{
    sqlite3_stmt *st = s->stmt[S_BY_ID];
    int rc;

    memset(f, 0, sizeof(*f));
    bind_blob(st, 1, id, PX_ID_BYTES);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const void *a = sqlite3_column_blob(st, 1);
        const void *r = sqlite3_column_blob(st, 4);

        f->found = true;
        f->rowid = sqlite3_column_int64(st, 0);
        f->type = sqlite3_column_int(st, 2);
        f->created = (uint64_t)sqlite3_column_int64(st, 5);
        if (a != NULL && sqlite3_column_bytes(st, 1) == PX_SIGN_PUBLICKEYBYTES) {
            memcpy(f->author, a, PX_SIGN_PUBLICKEYBYTES);
        }
        if (r != NULL && sqlite3_column_bytes(st, 4) == PX_ID_BYTES) {
            memcpy(f->ref, r, PX_ID_BYTES);
            f->has_ref = true;
        }
    }
    sqlite3_reset(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : map_sqlite(rc);
}

/* Deletes a stored case: its text-index entry (rebuilt from its raw bytes), tags, row. */
static int
purge_case(struct px_store *s, int64_t rowid)
{
    sqlite3_stmt *st = s->stmt[S_FETCH];
    struct px_record old;
    uint8_t *raw = NULL;
    size_t len = 0;
    int rc;

    sqlite3_bind_int64(st, 1, rowid);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        len = (size_t)sqlite3_column_bytes(st, 0);
        raw = malloc(len > 0 ? len : 1);
        if (raw != NULL && len > 0) {
            memcpy(raw, sqlite3_column_blob(st, 0), len);
        }
    }
    sqlite3_reset(st);
    if (rc != SQLITE_ROW) {
        return rc == SQLITE_DONE ? 0 : map_sqlite(rc);
    }
    if (raw == NULL) {
        return PX_ENOMEM;
    }
    /* What we stored decoded before; if it no longer does, the store is damaged. */
    if (px_record_decode(raw, len, &old, NULL) != 0 || old.type != PX_RECORD_CASE) {
        free(raw);
        return PX_EIO;
    }
    if ((rc = bind_fts(s, s->stmt[S_FTS_DEL], rowid, &old.cs)) == 0) {
        rc = step_reset(s->stmt[S_FTS_DEL]);
    }
    doclen_set(s->doclen, rowid, 0); /* the rowid no longer has a length */
    free(raw);
    if (rc != 0) {
        return rc;
    }
    sqlite3_bind_int64(s->stmt[S_DEL_TAGS], 1, rowid);
    if ((rc = step_reset(s->stmt[S_DEL_TAGS])) != 0) {
        return rc;
    }
    sqlite3_bind_int64(s->stmt[S_DEL_RECORD], 1, rowid);
    return step_reset(s->stmt[S_DEL_RECORD]);
}

/* Inserts the row itself; *rowid 0 when the id was already there. */
static int
insert_row(struct px_store *s, struct px_store_item *it, uint64_t now_ms, bool superseded,
           int64_t *rowid)
{
    sqlite3_stmt *st = s->stmt[S_INSERT];
    const struct px_record *r = &it->rec;
    int rc;

    bind_blob(st, 1, r->id, PX_ID_BYTES);
    bind_blob(st, 2, r->author, PX_SIGN_PUBLICKEYBYTES);
    sqlite3_bind_int64(st, 3, (sqlite3_int64)r->created);
    sqlite3_bind_int(st, 4, (int)r->type);
    sqlite3_bind_int64(st, 5, (sqlite3_int64)now_ms);
    bind_blob(st, 6, it->raw, it->len);
    if (r->type == PX_RECORD_CASE) {
        sqlite3_bind_int(st, 7, (int)r->cs.practice);
        bind_str(st, 8, r->cs.sector);
        bind_str(st, 9, r->cs.region);
        bind_str(st, 10, r->cs.language);
        if (r->cs.has_supersedes) {
            bind_blob(st, 11, r->cs.supersedes, PX_ID_BYTES);
        } else {
            sqlite3_bind_null(st, 11);
        }
    } else {
        for (int i = 7; i <= 10; i++) {
            sqlite3_bind_null(st, i);
        }
        bind_blob(st, 11, r->rt.target, PX_ID_BYTES);
    }
    sqlite3_bind_int(st, 12, superseded ? 1 : 0);
    if ((rc = step_reset(st)) != 0) {
        return rc;
    }
    *rowid = sqlite3_changes(s->db) > 0 ? sqlite3_last_insert_rowid(s->db) : 0;
    return 0;
}

static int
insert_case(struct px_store *s, struct px_store_item *it, uint64_t now_ms)
{
    const struct px_record *r = &it->rec;
    const struct px_case *c = &r->cs;
    struct found_row target;
    bool retracted = false, superseded = false;
    int rc;

    bind_blob(s->stmt[S_IS_RETRACTED], 1, r->id, PX_ID_BYTES);
    bind_blob(s->stmt[S_IS_RETRACTED], 2, r->author, PX_SIGN_PUBLICKEYBYTES);
    if ((rc = step_exists(s->stmt[S_IS_RETRACTED], &retracted)) != 0) {
        return rc;
    }
    if (retracted) {
        it->result = PX_ERETRACTED;
        return 0;
    }
    if (c->has_supersedes) {
        if ((rc = find_by_id(s, c->supersedes, &target)) != 0) {
            return rc;
        }
        if (target.found && (target.type != PX_RECORD_CASE ||
                             memcmp(target.author, r->author, PX_SIGN_PUBLICKEYBYTES) != 0)) {
            it->result = target.type != PX_RECORD_CASE ? PX_EVALUE : PX_EPERM;
            return 0;
        }
        if (!target.found && it->local) {
            it->result = PX_ENOTFOUND;
            return 0;
        }
    }
    /* A correction of this case may have arrived first. */
    bind_blob(s->stmt[S_HAS_CORRECTION], 1, r->id, PX_ID_BYTES);
    bind_blob(s->stmt[S_HAS_CORRECTION], 2, r->author, PX_SIGN_PUBLICKEYBYTES);
    if ((rc = step_exists(s->stmt[S_HAS_CORRECTION], &superseded)) != 0) {
        return rc;
    }
    if ((rc = insert_row(s, it, now_ms, superseded, &it->rowid)) != 0) {
        return rc;
    }
    if (it->rowid == 0) {
        it->result = PX_EEXIST;
        return 0;
    }
    if (c->has_supersedes) {
        bind_blob(s->stmt[S_SUPERSEDE], 1, c->supersedes, PX_ID_BYTES);
        bind_blob(s->stmt[S_SUPERSEDE], 2, r->author, PX_SIGN_PUBLICKEYBYTES);
        if ((rc = step_reset(s->stmt[S_SUPERSEDE])) != 0) {
            return rc;
        }
    }
    for (uint32_t i = 0; i < c->n_tags; i++) {
        bind_str(s->stmt[S_TAG], 1, c->tags[i]);
        sqlite3_bind_int64(s->stmt[S_TAG], 2, it->rowid);
        if ((rc = step_reset(s->stmt[S_TAG])) != 0) {
            return rc;
        }
    }
    if ((rc = bind_fts(s, s->stmt[S_FTS_ADD], it->rowid, c)) != 0) {
        return rc;
    }
    return step_reset(s->stmt[S_FTS_ADD]);
}

static int
insert_retraction(struct px_store *s, struct px_store_item *it, uint64_t now_ms)
{
    const struct px_record *r = &it->rec;
    struct found_row target;
    int rc;

    if ((rc = find_by_id(s, r->rt.target, &target)) != 0) {
        return rc;
    }
    if (target.found) {
        if (memcmp(target.author, r->author, PX_SIGN_PUBLICKEYBYTES) != 0) {
            it->result = PX_EPERM;
            return 0;
        }
        if (target.type != PX_RECORD_CASE) {
            it->result = PX_EVALUE;
            return 0;
        }
    } else if (it->local) {
        it->result = PX_ENOTFOUND;
        return 0;
    }
    if ((rc = insert_row(s, it, now_ms, false, &it->rowid)) != 0) {
        return rc;
    }
    if (it->rowid == 0) {
        it->result = PX_EEXIST;
        return 0;
    }
    if (target.found) {
        if ((rc = purge_case(s, target.rowid)) != 0) {
            return rc;
        }
        it->purged = true;
        it->purged_created = target.created;
        memcpy(it->purged_id, r->rt.target, PX_ID_BYTES);
        /* If the purged case was a correction, what it corrected may be current again. */
        if (target.has_ref) {
            bind_blob(s->stmt[S_UNSUPERSEDE], 1, target.ref, PX_ID_BYTES);
            bind_blob(s->stmt[S_UNSUPERSEDE], 2, r->author, PX_SIGN_PUBLICKEYBYTES);
            if ((rc = step_reset(s->stmt[S_UNSUPERSEDE])) != 0) {
                return rc;
            }
        }
    }
    bind_blob(s->stmt[S_RETRACTED_ADD], 1, r->rt.target, PX_ID_BYTES);
    bind_blob(s->stmt[S_RETRACTED_ADD], 2, r->author, PX_SIGN_PUBLICKEYBYTES);
    bind_blob(s->stmt[S_RETRACTED_ADD], 3, r->id, PX_ID_BYTES);
    return step_reset(s->stmt[S_RETRACTED_ADD]);
}

int
px_store_insert(struct px_store *s, struct px_store_item *const *items, size_t n, uint64_t now_ms)
{
    int rc;

    if ((rc = step_reset(s->stmt[S_BEGIN])) != 0) {
        return rc;
    }
    for (size_t i = 0; i < n; i++) {
        struct px_store_item *it = items[i];

        it->result = 0;
        it->rowid = 0;
        it->purged = false;
        rc = it->rec.type == PX_RECORD_CASE ? insert_case(s, it, now_ms)
                                            : insert_retraction(s, it, now_ms);
        if (rc != 0) {
            goto fail;
        }
    }
    if ((rc = step_reset(s->stmt[S_COMMIT])) != 0) {
        goto fail;
    }
    return 0;
fail:
    step_reset(s->stmt[S_ROLLBACK]);
    for (size_t i = 0; i < n; i++) {
        items[i]->rowid = 0;
        items[i]->result = rc;
        items[i]->purged = false;
    }
    return rc;
}

/* ---- Queries ---- */

#define QB_MAX_BINDS 512

struct qb_bind {
    enum { B_INT, B_TEXT, B_BLOB } kind;
    int64_t i;
    const void *p;
    size_t len;
};

struct qb {
    char *sql;
    size_t len, cap;
    struct qb_bind binds[QB_MAX_BINDS];
    int n_binds;
    int rc;
    /* Owned copies: id ranges and the text query. */
    uint8_t ranges[2 * 2 * PX_API_MAX_FILTER_ITEMS][PX_ID_BYTES];
    int n_ranges;
    char *text;
};

static void
qb_add(struct qb *q, const char *s)
{
    size_t n = strlen(s);

    if (q->rc != 0) {
        return;
    }
    if (q->len + n + 1 > q->cap) {
        size_t cap = q->cap == 0 ? 1024 : q->cap;
        char *p;

        while (q->len + n + 1 > cap) {
            cap *= 2;
        }
        if ((p = realloc(q->sql, cap)) == NULL) {
            q->rc = PX_ENOMEM;
            return;
        }
        q->sql = p;
        q->cap = cap;
    }
    memcpy(q->sql + q->len, s, n + 1);
    q->len += n;
}

/* Appends "?" and records what to bind to it. */
static void
qb_param(struct qb *q, struct qb_bind b)
{
    if (q->n_binds >= QB_MAX_BINDS) {
        q->rc = PX_ETOOBIG;
        return;
    }
    q->binds[q->n_binds++] = b;
    qb_add(q, "?");
}

static void
qb_int(struct qb *q, int64_t v)
{
    qb_param(q, (struct qb_bind){.kind = B_INT, .i = v});
}

static void
qb_text(struct qb *q, struct px_str s)
{
    qb_param(q, (struct qb_bind){.kind = B_TEXT, .p = s.p, .len = s.len});
}

/*
 * A hex prefix as an inclusive range of 32-byte values: the prefix padded with 0 nibbles,
 * and with f nibbles. PX_EVALUE when it is not 1 to 64 hex digits.
 */
static int
prefix_range(struct px_str hex, uint8_t lo[PX_ID_BYTES], uint8_t hi[PX_ID_BYTES])
{
    if (hex.len == 0 || hex.len > 2 * PX_ID_BYTES) {
        return PX_EVALUE;
    }
    memset(lo, 0x00, PX_ID_BYTES);
    memset(hi, 0xff, PX_ID_BYTES);
    for (uint32_t i = 0; i < hex.len; i++) {
        char c = hex.p[i];
        int v = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
        int shift = i % 2 == 0 ? 4 : 0;

        if (v < 0) {
            return PX_EVALUE;
        }
        lo[i / 2] = (uint8_t)((lo[i / 2] & ~(0xf << shift)) | v << shift);
        hi[i / 2] = (uint8_t)((hi[i / 2] & ~(0xf << shift)) | v << shift);
    }
    return 0;
}

/* "(col BETWEEN ? AND ? OR ...)" for a list of hex prefixes. */
static void
qb_prefixes(struct qb *q, const char *col, const struct px_str *list, uint32_t n)
{
    qb_add(q, " AND (");
    for (uint32_t i = 0; i < n && q->rc == 0; i++) {
        uint8_t *lo, *hi;

        if ((size_t)q->n_ranges + 2 > sizeof(q->ranges) / sizeof(q->ranges[0])) {
            q->rc = PX_ETOOBIG;
            return;
        }
        lo = q->ranges[q->n_ranges++];
        hi = q->ranges[q->n_ranges++];
        if (prefix_range(list[i], lo, hi) != 0) {
            q->rc = PX_EVALUE;
            return;
        }
        qb_add(q, i > 0 ? " OR " : "");
        qb_add(q, col);
        qb_add(q, " BETWEEN ");
        qb_param(q, (struct qb_bind){.kind = B_BLOB, .p = lo, .len = PX_ID_BYTES});
        qb_add(q, " AND ");
        qb_param(q, (struct qb_bind){.kind = B_BLOB, .p = hi, .len = PX_ID_BYTES});
    }
    qb_add(q, ")");
}

/*
 * Turns what a user typed into an FTS5 query: each white-space separated word becomes a
 * quoted string (quotes doubled), so no FTS5 syntax can be injected; a trailing '*' makes
 * it a prefix search. All words must match. NULL when no word is left.
 */
static char *
fts_query(struct px_str text)
{
    char *out = malloc(3 * (size_t)text.len + 1);
    size_t o = 0;
    uint32_t i = 0;

    if (out == NULL) {
        return NULL;
    }
    while (i < text.len) {
        uint32_t start, end;
        bool prefix = false;

        while (i < text.len && (text.p[i] == ' ' || text.p[i] == '\t' || text.p[i] == '\n')) {
            i++;
        }
        start = i;
        while (i < text.len && text.p[i] != ' ' && text.p[i] != '\t' && text.p[i] != '\n') {
            i++;
        }
        end = i;
        if (end > start && text.p[end - 1] == '*') {
            prefix = true;
            end--;
        }
        if (end == start) {
            continue;
        }
        if (o > 0) {
            out[o++] = ' ';
        }
        out[o++] = '"';
        for (uint32_t j = start; j < end; j++) {
            if (text.p[j] == '"') {
                out[o++] = '"';
            }
            out[o++] = text.p[j];
        }
        out[o++] = '"';
        if (prefix) {
            out[o++] = '*';
        }
    }
    out[o] = '\0';
    if (o == 0) {
        free(out);
        return NULL;
    }
    return out;
}

static int
run_rowids(struct px_store *s, struct qb *q, size_t max, int64_t **rowids, size_t *n)
{
    sqlite3_stmt *st = NULL;
    int64_t *rows = NULL;
    size_t count = 0, cap = 0;
    int rc;

    *rowids = NULL;
    *n = 0;
    if (q->rc != 0) {
        return q->rc;
    }
    if (sqlite3_prepare_v2(s->db, q->sql, (int)q->len, &st, NULL) != SQLITE_OK) {
        return PX_EIO;
    }
    for (int i = 0; i < q->n_binds; i++) {
        const struct qb_bind *b = &q->binds[i];

        if (b->kind == B_INT) {
            sqlite3_bind_int64(st, i + 1, b->i);
        } else if (b->kind == B_TEXT) {
            sqlite3_bind_text(st, i + 1, b->p, (int)b->len, SQLITE_STATIC);
        } else {
            sqlite3_bind_blob(st, i + 1, b->p, (int)b->len, SQLITE_STATIC);
        }
    }
    while ((rc = sqlite3_step(st)) == SQLITE_ROW && count < max) {
        if (count == cap) {
            size_t ncap = cap == 0 ? 64 : cap * 2;
            int64_t *p = realloc(rows, ncap * sizeof(*rows));

            if (p == NULL) {
                rc = SQLITE_NOMEM;
                break;
            }
            rows = p;
            cap = ncap;
        }
        rows[count++] = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        free(rows);
        return map_sqlite(rc);
    }
    *rowids = rows;
    *n = count;
    return 0;
}

static void
qb_free(struct qb *q)
{
    free(q->sql);
    free(q->text);
}

int
px_store_select(struct px_store *s, const struct px_api_filter *f, const struct px_store_window *w,
                int64_t **rowids, size_t *n)
{
    struct qb *q = calloc(1, sizeof(*q));
    /* A limit of 0 means all: the rowid list costs 8 bytes a match, and the records
     * themselves are fetched a page at a time. */
    size_t max = f->limit > 0 && !w->live ? f->limit : SIZE_MAX;
    int rc;

    *rowids = NULL;
    *n = 0;
    if (q == NULL) {
        return PX_ENOMEM;
    }
    if (f->text.len > 0) {
        if ((q->text = fts_query(f->text)) == NULL) {
            free(q);
            return PX_EVALUE;
        }
        qb_add(q, "SELECT r.rowid FROM fts JOIN records r ON r.rowid = fts.rowid"
                  " WHERE fts MATCH ");
        qb_text(q, (struct px_str){q->text, (uint32_t)strlen(q->text)});
        qb_add(q, " AND fts.rank MATCH 'px_bm25()'");
    } else {
        qb_add(q, "SELECT r.rowid FROM records r WHERE 1");
    }
    qb_add(q, " AND r.type = 1");
    if (!f->history) {
        qb_add(q, " AND r.superseded = 0");
    }
    if (f->n_ids > 0) {
        qb_prefixes(q, "r.id", f->ids, f->n_ids);
    }
    if (f->n_authors > 0) {
        qb_prefixes(q, "r.author", f->authors, f->n_authors);
    }
    if (f->practice != 0) {
        qb_add(q, " AND r.practice = ");
        qb_int(q, f->practice);
    }
    if (f->sector.len > 0) {
        qb_add(q, " AND r.sector = ");
        qb_text(q, f->sector);
    }
    if (f->region.len > 0) {
        qb_add(q, " AND r.region = ");
        qb_text(q, f->region);
    }
    if (f->language.len > 0) {
        qb_add(q, " AND r.language = ");
        qb_text(q, f->language);
    }
    for (uint32_t i = 0; i < f->n_tags; i++) {
        qb_add(q, " AND EXISTS (SELECT 1 FROM tags t WHERE t.tag = ");
        qb_text(q, f->tags[i]);
        qb_add(q, " AND t.rid = r.rowid)");
    }
    if (f->since != 0) {
        qb_add(q, " AND r.created >= ");
        qb_int(q, (int64_t)(f->since > INT64_MAX ? INT64_MAX : f->since));
    }
    if (f->until != 0) {
        qb_add(q, " AND r.created <= ");
        qb_int(q, (int64_t)(f->until > INT64_MAX ? INT64_MAX : f->until));
    }
    if (w->after_rowid > 0) {
        qb_add(q, " AND r.rowid > ");
        qb_int(q, w->after_rowid);
    }
    if (w->upto_rowid > 0) {
        qb_add(q, " AND r.rowid <= ");
        qb_int(q, w->upto_rowid);
    }
    if (w->live) {
        qb_add(q, " ORDER BY r.rowid");
    } else {
        qb_add(q, f->text.len > 0 ? " ORDER BY fts.rank" : " ORDER BY r.created DESC, r.id DESC");
    }
    if (max != SIZE_MAX) {
        qb_add(q, " LIMIT ");
        qb_int(q, (int64_t)max);
    }
    rc = run_rowids(s, q, max, rowids, n);
    qb_free(q);
    free(q);
    return rc;
}

int
px_store_select_all(struct px_store *s, int64_t **rowids, size_t *n)
{
    struct qb q = {0};
    int rc;

    qb_add(&q, "SELECT rowid FROM records ORDER BY created, id");
    rc = run_rowids(s, &q, SIZE_MAX, rowids, n);
    qb_free(&q);
    return rc;
}

/* Appends rowid to a growable list. */
static int
push_row(int64_t **rows, size_t *n, size_t *cap, int64_t rowid)
{
    if (*n == *cap) {
        size_t ncap = *cap == 0 ? 8 : *cap * 2;
        int64_t *p = realloc(*rows, ncap * sizeof(**rows));

        if (p == NULL) {
            return PX_ENOMEM;
        }
        *rows = p;
        *cap = ncap;
    }
    (*rows)[(*n)++] = rowid;
    return 0;
}

/* One row of the chain walk: by id (ref of a newer version) or by ref (newer versions). */
static int
chain_step(sqlite3 *db, const char *sql, const uint8_t key[PX_ID_BYTES],
           const uint8_t author[PX_SIGN_PUBLICKEYBYTES], int64_t *rowid, uint8_t next[PX_ID_BYTES],
           bool *found)
{
    sqlite3_stmt *st;
    int rc;

    *found = false;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        return PX_EIO;
    }
    sqlite3_bind_blob(st, 1, key, PX_ID_BYTES, SQLITE_STATIC);
    sqlite3_bind_blob(st, 2, author, PX_SIGN_PUBLICKEYBYTES, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const void *b = sqlite3_column_blob(st, 1);

        *found = true;
        *rowid = sqlite3_column_int64(st, 0);
        if (b != NULL && sqlite3_column_bytes(st, 1) == PX_ID_BYTES) {
            memcpy(next, b, PX_ID_BYTES);
        } else {
            memset(next, 0, PX_ID_BYTES);
            *found = sqlite3_column_type(st, 1) != SQLITE_NULL ? false : *found;
        }
    }
    sqlite3_finalize(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : map_sqlite(rc);
}

/*
 * Every stored version of a case's correction chain, oldest first: walk back through
 * `ref` to the original, then forward through the newest correction of each version.
 */
static int
history(struct px_store *s, int64_t rowid, int64_t **rows, size_t *n)
{
    uint8_t id[PX_ID_BYTES], ref[PX_ID_BYTES], author[PX_SIGN_PUBLICKEYBYTES];
    int64_t first = rowid, r;
    size_t cap = 0;
    bool found, has_ref;
    sqlite3_stmt *st;
    int rc;

    if (sqlite3_prepare_v2(s->db, "SELECT id, author, ref FROM records WHERE rowid = ?1", -1, &st,
                           NULL) != SQLITE_OK) {
        return PX_EIO;
    }
    sqlite3_bind_int64(st, 1, rowid);
    rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        sqlite3_finalize(st);
        return rc == SQLITE_DONE ? PX_ENOTFOUND : map_sqlite(rc);
    }
    memcpy(id, sqlite3_column_blob(st, 0), PX_ID_BYTES);
    memcpy(author, sqlite3_column_blob(st, 1), PX_SIGN_PUBLICKEYBYTES);
    has_ref = sqlite3_column_type(st, 2) == SQLITE_BLOB;
    if (has_ref) {
        memcpy(ref, sqlite3_column_blob(st, 2), PX_ID_BYTES);
    }
    sqlite3_finalize(st);
    /* Back to the oldest stored version. */
    for (int steps = 0; has_ref && steps < PX_STORE_MAX_HISTORY; steps++) {
        uint8_t next[PX_ID_BYTES];

        rc = chain_step(s->db,
                        "SELECT rowid, ref FROM records WHERE id = ?1 AND author = ?2"
                        " AND type = 1",
                        ref, author, &r, next, &found);
        if (rc != 0) {
            return rc;
        }
        if (!found) {
            break;
        }
        first = r;
        has_ref = false;
        for (size_t i = 0; i < PX_ID_BYTES; i++) {
            has_ref |= next[i] != 0;
        }
        memcpy(id, ref, PX_ID_BYTES);
        memcpy(ref, next, PX_ID_BYTES);
    }
    /* Forward, newest correction first at each step. */
    if ((rc = push_row(rows, n, &cap, first)) != 0) {
        return rc;
    }
    for (int steps = 0; steps < PX_STORE_MAX_HISTORY; steps++) {
        uint8_t newer[PX_ID_BYTES];

        rc = chain_step(s->db,
                        "SELECT rowid, id FROM records WHERE ref = ?1 AND author = ?2"
                        " AND type = 1 ORDER BY created DESC, id DESC LIMIT 1",
                        id, author, &r, newer, &found);
        if (rc != 0) {
            return rc;
        }
        if (!found) {
            break;
        }
        if ((rc = push_row(rows, n, &cap, r)) != 0) {
            return rc;
        }
        memcpy(id, newer, PX_ID_BYTES);
    }
    return 0;
}

/* Up to two rowids of a prepared range statement (?1, ?2 = lo, hi). */
static int
range_rows(sqlite3_stmt *st, const uint8_t lo[PX_ID_BYTES], const uint8_t hi[PX_ID_BYTES],
           int64_t out[2], size_t *n)
{
    int rc = SQLITE_DONE;

    bind_blob(st, 1, lo, PX_ID_BYTES);
    bind_blob(st, 2, hi, PX_ID_BYTES);
    while (*n < 2 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        out[(*n)++] = sqlite3_column_int64(st, 0);
    }
    if (*n < 2 && rc != SQLITE_DONE) {
        sqlite3_reset(st);
        return map_sqlite(rc);
    }
    sqlite3_reset(st);
    return 0;
}

int
px_store_get(struct px_store *s, const char *hex, size_t len, bool want_history, int64_t **rowids,
             size_t *n)
{
    uint8_t lo[PX_ID_BYTES], hi[PX_ID_BYTES];
    int64_t found[2], gone[2], *rows = NULL;
    size_t count = 0, n_gone = 0;
    int rc;

    *rowids = NULL;
    *n = 0;
    if (len > 2 * PX_ID_BYTES || prefix_range((struct px_str){hex, (uint32_t)len}, lo, hi) != 0) {
        return PX_EVALUE;
    }
    /* Prepared once: a get is the most frequent small query. */
    if ((rc = range_rows(s->stmt[S_GET_RANGE], lo, hi, found, &count)) != 0) {
        return rc;
    }
    /* Retracted ids count too: a prefix that fits a held record and a retracted one is
     * ambiguous, and a retracted id alone answers with its retraction. A whole id that is
     * held cannot also be retracted (a retraction purges its target). */
    if (count < 2 && !(count == 1 && len == 2 * PX_ID_BYTES) &&
        (rc = range_rows(s->stmt[S_GET_RETRACTED], lo, hi, gone, &n_gone)) != 0) {
        return rc;
    }
    if (count == 0 && n_gone > 0) {
        found[0] = gone[0];
        want_history = false;
    }
    count += n_gone;
    if (count == 0) {
        return PX_ENOTFOUND;
    }
    if (count > 1) {
        return PX_EAMBIGUOUS;
    }
    if ((rows = malloc(sizeof(*rows))) == NULL) {
        return PX_ENOMEM;
    }
    rows[0] = found[0];
    if (want_history) {
        int64_t rowid = rows[0];
        size_t hn = 0;

        free(rows);
        rows = NULL;
        if ((rc = history(s, rowid, &rows, &hn)) != 0) {
            free(rows);
            return rc;
        }
        count = hn;
    }
    *rowids = rows;
    *n = count;
    return 0;
}

int
px_store_fetch(struct px_store *s, const int64_t *rowids, size_t n, px_store_row_cb *cb, void *arg)
{
    sqlite3_stmt *st = s->stmt[S_FETCH];
    int rc = 0;

    for (size_t i = 0; i < n && rc == 0; i++) {
        int step;

        sqlite3_bind_int64(st, 1, rowids[i]);
        step = sqlite3_step(st);
        if (step == SQLITE_ROW) {
            rc =
                cb(arg, rowids[i], sqlite3_column_blob(st, 0), (size_t)sqlite3_column_bytes(st, 0));
        } else if (step != SQLITE_DONE) {
            rc = map_sqlite(step);
        }
        sqlite3_reset(st);
    }
    return rc;
}

int
px_store_missing(struct px_store *s, const uint8_t *ids, size_t n, bool *missing)
{
    sqlite3_stmt *st = s->stmt[S_HELD];
    int rc;

    for (size_t i = 0; i < n; i++) {
        bool found = false;

        bind_blob(st, 1, ids + i * PX_ID_BYTES, PX_ID_BYTES);
        if ((rc = step_exists(st, &found)) != 0) {
            return rc;
        }
        missing[i] = !found;
    }
    return 0;
}

int
px_store_fetch_ids(struct px_store *s, const uint8_t *ids, size_t n, px_store_id_cb *cb, void *arg)
{
    sqlite3_stmt *st = s->stmt[S_RAW_BY_ID];
    int rc = 0;

    for (size_t i = 0; i < n && rc == 0; i++) {
        int step;

        bind_blob(st, 1, ids + i * PX_ID_BYTES, PX_ID_BYTES);
        step = sqlite3_step(st);
        if (step == SQLITE_ROW) {
            rc = cb(arg, ids + i * PX_ID_BYTES, sqlite3_column_blob(st, 0),
                    (size_t)sqlite3_column_bytes(st, 0));
        } else if (step != SQLITE_DONE) {
            rc = map_sqlite(step);
        }
        sqlite3_reset(st);
    }
    return rc;
}

int
px_store_index(struct px_store *s, px_store_index_cb *cb, void *arg)
{
    sqlite3_stmt *st = NULL;
    int rc, step;

    /* records_listing covers (created, id) in this order: no sort. */
    rc = sqlite3_prepare_v2(s->db, "SELECT created, id FROM records ORDER BY created, id", -1, &st,
                            NULL);
    if (rc != SQLITE_OK) {
        return map_sqlite(rc);
    }
    rc = 0;
    while (rc == 0 && (step = sqlite3_step(st)) == SQLITE_ROW) {
        const void *id = sqlite3_column_blob(st, 1);

        if (id == NULL || sqlite3_column_bytes(st, 1) != PX_ID_BYTES) {
            rc = PX_EIO;
            break;
        }
        rc = cb(arg, (uint64_t)sqlite3_column_int64(st, 0), id);
    }
    if (rc == 0 && step != SQLITE_DONE) {
        rc = map_sqlite(step);
    }
    sqlite3_finalize(st);
    return rc;
}

static int
count_rows(sqlite3 *db, const char *sql, uint64_t *v)
{
    sqlite3_stmt *st;
    int rc;

    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        return PX_EIO;
    }
    rc = sqlite3_step(st);
    *v = rc == SQLITE_ROW ? (uint64_t)sqlite3_column_int64(st, 0) : 0;
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? 0 : map_sqlite(rc);
}

static uint64_t
file_size(const char *path, const char *suffix)
{
    char buf[4096];
    struct stat st;

    if ((size_t)snprintf(buf, sizeof(buf), "%s%s", path, suffix) >= sizeof(buf) ||
        stat(buf, &st) != 0) {
        return 0;
    }
    return (uint64_t)st.st_size;
}

int
px_store_max_rowid(struct px_store *s, int64_t *rowid)
{
    uint64_t v;
    int rc = count_rows(s->db, "SELECT coalesce(max(rowid), 0) FROM records", &v);

    *rowid = (int64_t)v;
    return rc;
}

int
px_store_stats(struct px_store *s, struct px_store_stats *st)
{
    uint64_t max;
    int rc;

    memset(st, 0, sizeof(*st));
    if ((rc = count_rows(s->db, "SELECT count(*) FROM records WHERE type = 1", &st->cases)) != 0 ||
        (rc = count_rows(s->db, "SELECT count(*) FROM records WHERE type = 2", &st->retractions)) !=
            0 ||
        (rc = count_rows(s->db, "SELECT coalesce(max(rowid), 0) FROM records", &max)) != 0) {
        return rc;
    }
    st->records = st->cases + st->retractions;
    st->max_rowid = (int64_t)max;
    st->bytes = file_size(s->path, "") + file_size(s->path, "-wal");
    return 0;
}

void
px_store_busy_timeout(struct px_store *s, int ms)
{
    sqlite3_busy_timeout(s->db, ms);
}

uint32_t
px_store_wal_pages(const struct px_store *s)
{
    return s->wal_pages;
}

int
px_store_checkpoint(struct px_store *s, enum px_ckpt_mode mode)
{
    int rc, log_pages = 0, done = 0;

    rc = sqlite3_wal_checkpoint_v2(s->db, NULL,
                                   mode == PX_CKPT_TRUNCATE ? SQLITE_CHECKPOINT_TRUNCATE
                                                            : SQLITE_CHECKPOINT_PASSIVE,
                                   &log_pages, &done);
    if (rc == SQLITE_OK && mode == PX_CKPT_TRUNCATE) {
        s->wal_pages = 0;
    }
    return map_sqlite(rc);
}

int
px_store_check(struct px_store *s)
{
    sqlite3_stmt *st;
    int rc, ok;

    if (sqlite3_prepare_v2(s->db, "PRAGMA integrity_check", -1, &st, NULL) != SQLITE_OK) {
        return PX_EIO;
    }
    rc = sqlite3_step(st);
    ok = rc == SQLITE_ROW && strcmp((const char *)sqlite3_column_text(st, 0), "ok") == 0;
    sqlite3_finalize(st);
    return ok ? 0 : PX_EIO;
}
