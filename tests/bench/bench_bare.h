/* SPDX-License-Identifier: MIT */
/*
 * bench_bare.h - the baseline of the store figures: the same records in one plain SQLite
 * table with an FTS5 index, as a hand-written loader would store them.
 *
 *   bare      (rowid INTEGER PRIMARY KEY, id BLOB NOT NULL UNIQUE, created INTEGER,
 *              practice INTEGER, tags TEXT, raw BLOB)
 *   bare_fts  FTS5 over title, summary, body, lessons, tags; contentless, with the
 *              store's tokenizer (unicode61 remove_diacritics 2)
 *
 * The connection is set up like the store's (WAL, synchronous=FULL, 8 MB page cache,
 * temp_store=MEMORY) but without secure_delete, and without anything else the store
 * does: no decoding or verifying, no duplicate or retraction rules, no tags table, no
 * secondary indexes but the id's. Rows are inserted in transactions of
 * BENCH_BARE_TXN_ROWS and every statement is prepared once. Each query reads the raw
 * bytes of every result row.
 */
#ifndef PX_BENCH_BARE_H
#define PX_BENCH_BARE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bench_corpus.h"

#define BENCH_BARE_TXN_ROWS 1000

struct bench_bare;

/* What a query returned: rows, and (when asked for) a hash of their bytes in order. */
struct bench_result {
    size_t rows;
    uint64_t hash; /* FNV-1a over every row's raw bytes; 0 when not asked for */
};

/* Creates the database at path (which must not exist). NULL after printing why. */
struct bench_bare *bench_bare_open(const char *path);
void bench_bare_close(struct bench_bare *b);

/* Inserts docs[0..n) in transactions of BENCH_BARE_TXN_ROWS. 0, or -1 after printing why. */
int bench_bare_insert(struct bench_bare *b, const struct bench_doc *docs, size_t n);

/*
 * The queries. match is an FTS5 query, already quoted as the store quotes what users type.
 * text: ranked by bm25 (ORDER BY rank), at most limit rows. filter: the cases carrying
 * tag with that practice, newest first, at most limit rows (limit 0: all, for counting).
 * get: the record with that id. Return 0, or -1 after printing why.
 */
int bench_bare_text(struct bench_bare *b, const char *match, unsigned limit, bool hash,
                    struct bench_result *out);
int bench_bare_filter(struct bench_bare *b, const char *tag, int practice, unsigned limit,
                      bool hash, struct bench_result *out);
int bench_bare_get(struct bench_bare *b, const uint8_t id[PX_ID_BYTES], bool hash,
                   struct bench_result *out);

/*
 * Ranks for checking a text query's results: the bm25 ranks (lower is better) of the
 * first limit matches in rank order into ranks[0..*n), and the rank of the record with
 * a given id (*found false when it does not match). 0 or -1.
 */
int bench_bare_ranks(struct bench_bare *b, const char *match, unsigned limit, double *ranks,
                     size_t *n);
int bench_bare_rank_of(struct bench_bare *b, const char *match, const uint8_t id[PX_ID_BYTES],
                       double *rank, bool *found);

/* The number of rows a text query matches. 0 or -1. */
int bench_bare_count(struct bench_bare *b, const char *match, size_t *count);

/* An indexed term and the number of rows it occurs in. */
struct bench_term {
    char term[64];
    size_t docs;
};

/*
 * The terms that occur in lo..hi rows (fts5vocab), in term order: *terms is malloc'd
 * (free it), *n its length. 0 or -1.
 */
int bench_bare_terms(struct bench_bare *b, size_t lo, size_t hi, struct bench_term **terms,
                     size_t *n);

/* The size of the database file and its WAL, in bytes. */
uint64_t bench_bare_bytes(const struct bench_bare *b);

#endif
