/* SPDX-License-Identifier: MIT */
/*
 * store.h - the record store: SQLite in WAL mode, the only module that includes sqlite3.h.
 *
 * A struct px_store is one SQLite connection. It is not thread-safe: use each from one
 * thread at a time (the daemon keeps one writer and a few readers, each used by one
 * worker job at a time). Every function is synchronous and may block on disk, so the
 * event loop calls them only from uv_queue_work jobs.
 *
 * Schema, migrations and the rules applied on insert are in docs/operations.md and at
 * the top of store.c.
 */
#ifndef PX_STORE_H
#define PX_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "protocol/api.h"
#include "protocol/record.h"

/* The schema version this binary writes; a store with a newer one is refused. */
#define PX_STORE_SCHEMA_VERSION 3
/* Versions px_store_get follows along one correction chain. */
#define PX_STORE_MAX_HISTORY 64

struct px_store;

struct px_store_item {
    const uint8_t *raw; /* in: the signed record, borrowed */
    size_t len;
    struct px_record rec; /* in: decoded from raw, signature already verified */
    bool local;           /* in: published here; what it refers to must exist and be ours */
    uint64_t origin;      /* in: who sent it (the gossip layer's peer number), 0 for local;
                           * the store does not look at it */
    int result;           /* out: 0 stored, PX_EEXIST already held, or why it was refused */
    int64_t rowid;        /* out: its row when stored */
    /* out: a stored retraction that purged a held case sets purged and names that case,
     * so that the reconciliation index can forget it */
    bool purged;
    uint64_t purged_created;
    uint8_t purged_id[PX_ID_BYTES];
};

struct px_store_stats {
    uint64_t records, cases, retractions;
    uint64_t bytes; /* database and WAL files */
    int64_t max_rowid;
};

/*
 * Opens (creating if needed) the store at path and migrates it to
 * PX_STORE_SCHEMA_VERSION. On failure *out is NULL and err (if not NULL) holds a one-line
 * reason, e.g. a schema newer than this binary. Returns 0, PX_EVERSION, PX_EIO.
 */
int px_store_open(const char *path, struct px_store **out, char *err, size_t errlen);

/* Closes the connection; NULL is a no-op. */
void px_store_close(struct px_store *s);

/*
 * Stores a batch of verified records in one transaction, durable when this returns 0.
 * Each item's result tells what became of it: 0 stored, PX_EEXIST a duplicate,
 * PX_ERETRACTED retracted earlier by its author, PX_EPERM a correction or retraction of
 * another author's record, PX_ENOTFOUND (local only) a reference to a record not held,
 * PX_EVALUE (a retraction of a retraction). A retraction purges the retracted case:
 * its row, its text and its index entries. Returns 0, or PX_ENOSPC / PX_EIO when the
 * transaction failed, in which case nothing of the batch was stored.
 */
int px_store_insert(struct px_store *s, struct px_store_item *const *items, size_t n,
                    uint64_t now_ms);

/* Which rows of a filter to select, and in which order. */
struct px_store_window {
    int64_t after_rowid; /* > 0: only rows stored after this one */
    int64_t upto_rowid;  /* > 0: only rows up to this one */
    bool live;           /* arrival order and no limit, for following new records */
};

/*
 * The rows matching a filter, in result order: by relevance when f->text is set, else
 * newest first; in arrival order when w->live. *rowids is malloc'd (free it), *n its
 * length, at most f->limit (0: every match; live selects ignore the limit). Returns 0, PX_EVALUE (a
 * filter value that cannot match, e.g. an id prefix that is not hex, or a text query with no word),
 * PX_EIO.
 */
int px_store_select(struct px_store *s, const struct px_api_filter *f,
                    const struct px_store_window *w, int64_t **rowids, size_t *n);

/* The newest rowid (0 when empty). */
int px_store_max_rowid(struct px_store *s, int64_t *rowid);

/* Every record, oldest first (by created, then id). Same ownership as px_store_select. */
int px_store_select_all(struct px_store *s, int64_t **rowids, size_t *n);

/*
 * A record by hex id prefix (1 to 64 digits). With history, every stored version of its
 * correction chain, oldest first. A retracted id yields its retraction record.
 * Returns 0, PX_ENOTFOUND, PX_EAMBIGUOUS, PX_EVALUE (not hex), PX_EIO.
 */
int px_store_get(struct px_store *s, const char *hex, size_t len, bool history, int64_t **rowids,
                 size_t *n);

/*
 * Calls cb for each row of rowids[0..n), in that order, with its signed bytes (valid only
 * during the call). Rows that no longer exist are skipped. cb returns 0 to go on, non-zero
 * to stop (returned as is). Returns 0 or PX_EIO.
 */
typedef int px_store_row_cb(void *arg, int64_t rowid, const uint8_t *raw, size_t len);
int px_store_fetch(struct px_store *s, const int64_t *rowids, size_t n, px_store_row_cb *cb,
                   void *arg);

/*
 * For each of n ids (n * PX_ID_BYTES bytes at ids), sets missing[i] when the store holds
 * no record with that id: the ids worth asking a peer for. A retracted id counts as
 * missing, because whether the retraction applies depends on the author, which only the
 * record itself tells; the insert then refuses it (PX_ERETRACTED). Returns 0 or PX_EIO.
 */
int px_store_missing(struct px_store *s, const uint8_t *ids, size_t n, bool *missing);

/*
 * Calls cb for each of the n ids at ids[i * PX_ID_BYTES] that the store holds, in that
 * order, with its signed bytes (valid only during the call); ids not held are skipped. cb
 * returns 0 to go on, non-zero to stop (returned as is). Returns 0 or PX_EIO.
 */
typedef int px_store_id_cb(void *arg, const uint8_t *id, const uint8_t *raw, size_t len);
int px_store_fetch_ids(struct px_store *s, const uint8_t *ids, size_t n, px_store_id_cb *cb,
                       void *arg);

/*
 * Calls cb with (created, id) of every stored record in ascending (created, id) order, ids
 * compared bytewise (id valid only during the call), to build the reconciliation index.
 * cb returns 0 to go on, non-zero to stop (returned as is). Returns 0 or PX_EIO.
 */
typedef int px_store_index_cb(void *arg, uint64_t created, const uint8_t *id);
int px_store_index(struct px_store *s, px_store_index_cb *cb, void *arg);

/* Counts and sizes. 0 or PX_EIO. */
int px_store_stats(struct px_store *s, struct px_store_stats *st);

/*
 * WAL checkpoints. SQLite's own auto-checkpoint is off on every connection: the daemon
 * decides when and where to checkpoint (db.c). px_store_wal_pages is the size of the WAL
 * in pages (4 KiB) after this connection's last commit (0 before any). px_store_checkpoint
 * copies committed WAL frames into the database: PX_CKPT_PASSIVE without waiting for
 * anyone; PX_CKPT_TRUNCATE waits for readers (up to the busy timeout) to finish all of
 * them, then empties the WAL file, and must not run while another connection
 * checkpoints. 0, PX_EBUSY (a TRUNCATE could not finish: the frames copied stay copied)
 * or PX_EIO.
 */
/* How long a call waits for a lock another connection holds before it fails with
 * PX_EBUSY (PX_STORE_BUSY_MS from px_store_open; 0: not at all). */
#define PX_STORE_BUSY_MS 10000
void px_store_busy_timeout(struct px_store *s, int ms);

enum px_ckpt_mode { PX_CKPT_PASSIVE, PX_CKPT_TRUNCATE };

uint32_t px_store_wal_pages(const struct px_store *s);
int px_store_checkpoint(struct px_store *s, enum px_ckpt_mode mode);

/*
 * Document lengths for ranking, shared by the connections of one store (see store.c,
 * "Ranking"): ranked queries then need not read each match's length from the index.
 * px_doclen_new returns NULL when out of memory; free it after closing every store that
 * uses it. px_store_use_doclen makes s use dl (NULL: none). px_store_doclen_fill loads
 * every row's length from the index into s's dl (0, or PX_EIO; a no-op without one).
 */
struct px_doclen;

struct px_doclen *px_doclen_new(void);
void px_doclen_free(struct px_doclen *dl);
void px_store_use_doclen(struct px_store *s, struct px_doclen *dl);
int px_store_doclen_fill(struct px_store *s);

/* Runs PRAGMA integrity_check: 0 when it says "ok", PX_EIO otherwise. */
int px_store_check(struct px_store *s);

#endif
