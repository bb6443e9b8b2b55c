/* SPDX-License-Identifier: MIT */
/*
 * db.h - the store off the event loop: a writer with group commit, and a reader pool.
 *
 * SQLite calls block, so they run in libuv's thread pool (uv_queue_work). There is one
 * writer connection, used by one job at a time: write requests that arrive while a
 * transaction is running wait, and the next job commits all of them together (group
 * commit), so many publishers share one fsync. Readers are a small pool of connections;
 * in WAL mode they never block the writer. Each connection is used by one thread at a
 * time. Callbacks run on the loop thread.
 */
#ifndef PX_DB_H
#define PX_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "store.h"

struct px_db;

/* Called on the loop after a write request's transaction: rc 0 means committed and
 * each item's result is set; otherwise nothing of it was stored. */
typedef void px_db_write_cb(void *arg, int rc);

/* Called on the loop after each transaction that stored something, with the newest
 * rowid, so that live queries can look for new matches. */
typedef void px_db_commit_cb(void *arg, int64_t max_rowid);

/* Called on the loop after each committed transaction, before its requests' callbacks,
 * with every item of it (results set; items[i]->result 0 for the ones stored). The items
 * are borrowed for the call. */
typedef void px_db_items_cb(void *arg, struct px_store_item *const *items, size_t n);

/* A write request; the caller owns it (and items) until its callback has run. */
struct px_db_write {
    struct px_store_item **items;
    size_t n;
    px_db_write_cb *cb;
    void *arg;
    int rc;                   /* internal */
    struct px_db_write *next; /* internal */
};

/* A read job: fn runs on a worker thread with a reader connection, then done on the
 * loop. rc is PX_ESHUTDOWN in done when the job was cancelled by px_db_close before it
 * ran (fn did not run). The caller owns the struct until done has run. */
typedef void px_db_read_fn(struct px_store *s, void *arg);
typedef void px_db_done_cb(void *arg, int rc);

struct px_db_read {
    px_db_read_fn *fn;
    px_db_done_cb *done;
    void *arg;
    /* internal */
    struct px_db *db;
    struct px_store *store;
    uv_work_t work;
    struct px_db_read *next;
};

/* Opens one writer and `readers` reader connections to the store at path. */
int px_db_open(uv_loop_t *loop, const char *path, unsigned readers, px_db_commit_cb *on_commit,
               void *commit_arg, struct px_db **out, char *err, size_t errlen);

/* Sets (or with NULL clears) the hook told about each committed transaction's items. */
void px_db_on_items(struct px_db *db, px_db_items_cb *cb, void *arg);

/* The WAL size in pages (4 KiB) past which the writer empties it before its next
 * transaction (default 16,384: 64 MiB). For tests; 0 counts as 1. */
void px_db_set_wal_limit(struct px_db *db, uint32_t pages);

/* The newest rowid when the store was opened (0 when empty). */
int64_t px_db_max_rowid_at_open(const struct px_db *db);

/* Queues a write. 0, or PX_ESHUTDOWN when closing (the callback will not run). */
int px_db_write(struct px_db *db, struct px_db_write *w);

/* Queues a read. 0, or PX_ESHUTDOWN when closing (the callback will not run). */
int px_db_read(struct px_db *db, struct px_db_read *r);

/*
 * Runs fn at once on the loop thread with a connection kept for that, instead of in the
 * pool: for reads bounded by construction (a lookup by id: a few pages), which then cost
 * no thread-pool round trip. That connection never waits for a lock: a call that would
 * fails with PX_EBUSY, and the caller should queue the read with px_db_read instead.
 * Returns 0 (fn ran and reported its own result) or PX_ESHUTDOWN when closing.
 */
int px_db_read_now(struct px_db *db, px_db_read_fn *fn, void *arg);

/*
 * Starts closing: queued and running writes finish (they may be acknowledged), queued
 * reads are cancelled (done with PX_ESHUTDOWN), then the connections close and cb runs.
 */
void px_db_close(struct px_db *db, void (*cb)(void *arg), void *arg);

#endif
