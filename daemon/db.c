/* SPDX-License-Identifier: MIT */
/* db.c - store jobs in the thread pool: group-committing writer, reader pool; see db.h. */
#include "db.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "protocol/err.h"

/* WAL pages (4 KiB) past which the writer empties the WAL itself: 64 MiB. */
#define DB_WAL_LIMIT_PAGES 16384
/* WAL pages (4 KiB) a commit must leave before a reader checkpoints: 4 MiB, SQLite's own
 * default. Checkpointing after every small commit (a record pushed by a peer) cost a few
 * fsyncs a record. */
#define DB_CKPT_PAGES 1000
/* Items one transaction takes at most; a longer queue is committed in several. */
#define DB_MAX_BATCH_ITEMS 4096
/* How long the writer waits for readers before emptying the WAL. */
#define DB_TRUNCATE_WAIT_MS 100

struct write_job {
    uv_work_t work;
    struct px_db *db;
    struct px_db_write *reqs; /* the requests in this transaction, in order */
    struct px_store_item **items;
    size_t n_items;
    int rc;
    int64_t max_rowid;
    bool truncate;      /* empty the WAL before the transaction */
    uint32_t wal_pages; /* the WAL's size after it */
};

struct px_db {
    uv_loop_t *loop;
    struct px_store *writer;
    struct px_store **readers;
    unsigned n_readers;
    struct px_store **free_readers; /* stack of idle readers */
    struct px_store *now;           /* the loop thread's own reader (px_db_read_now) */
    unsigned n_free;
    /* Queues: singly linked, with a tail pointer for FIFO order. */
    struct px_db_write *wq_head, *wq_tail;
    struct px_db_read *rq_head, *rq_tail;
    bool writing;
    unsigned reads_running;
    bool closing;
    void (*close_cb)(void *arg);
    void *close_arg;
    px_db_commit_cb *on_commit;
    void *commit_arg;
    px_db_items_cb *on_items;
    void *items_arg;
    int64_t max_rowid_at_open;
    /* WAL checkpoints run on a reader after commits, not on the writer (see start_write). */
    struct px_db_read ckpt;
    bool ckpt_running, ckpt_wanted;
    bool wal_full;                    /* the next write job empties the WAL first */
    struct px_ratelimit write_errors; /* log lines about failed transactions */
    uint32_t wal_limit;               /* pages; DB_WAL_LIMIT_PAGES unless set */
    struct px_doclen *doclen;         /* document lengths, shared by every connection */
};

static uint64_t
wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void maybe_finish_close(struct px_db *db);
static void start_write(struct px_db *db);

int
px_db_open(uv_loop_t *loop, const char *path, unsigned readers, px_db_commit_cb *on_commit,
           void *commit_arg, struct px_db **out, char *err, size_t errlen)
{
    struct px_db *db = calloc(1, sizeof(*db));
    int rc;

    *out = NULL;
    if (db == NULL) {
        return PX_ENOMEM;
    }
    db->loop = loop;
    db->wal_limit = DB_WAL_LIMIT_PAGES;
    db->on_commit = on_commit;
    db->commit_arg = commit_arg;
    db->readers = calloc(readers, sizeof(*db->readers));
    db->free_readers = calloc(readers, sizeof(*db->free_readers));
    if (db->readers == NULL || db->free_readers == NULL) {
        rc = PX_ENOMEM;
        goto fail;
    }
    /* The writer first: it creates and migrates the schema the readers then see. */
    if ((rc = px_store_open(path, &db->writer, err, errlen)) != 0) {
        goto fail;
    }
    if ((db->doclen = px_doclen_new()) == NULL) {
        rc = PX_ENOMEM;
        goto fail;
    }
    px_store_use_doclen(db->writer, db->doclen);
    /* Only a head start for ranking: rows left out are filled the first time a query ranks
     * them, so a failure here costs speed, not the start. */
    if ((rc = px_store_doclen_fill(db->writer)) != 0) {
        px_log_warnx("store: cannot preload the text index's row lengths of %s (%s); ranked "
                     "queries fill them as they go",
                     path, px_strerror(rc));
    }
    if ((rc = px_store_max_rowid(db->writer, &db->max_rowid_at_open)) != 0) {
        snprintf(err, errlen, "cannot read the store %s", path);
        goto fail;
    }
    for (unsigned i = 0; i < readers; i++) {
        if ((rc = px_store_open(path, &db->readers[i], err, errlen)) != 0) {
            goto fail;
        }
        px_store_use_doclen(db->readers[i], db->doclen);
        db->n_readers++;
        db->free_readers[db->n_free++] = db->readers[i];
    }
    if ((rc = px_store_open(path, &db->now, err, errlen)) != 0) {
        goto fail;
    }
    /* On the loop, a read never waits for a lock: it goes to the pool instead. */
    px_store_busy_timeout(db->now, 0);
    px_store_use_doclen(db->now, db->doclen);
    *out = db;
    return 0;
fail:
    px_store_close(db->now);
    for (unsigned i = 0; i < db->n_readers; i++) {
        px_store_close(db->readers[i]);
    }
    px_store_close(db->writer);
    px_doclen_free(db->doclen);
    free(db->readers);
    free(db->free_readers);
    free(db);
    return rc;
}

void
px_db_on_items(struct px_db *db, px_db_items_cb *cb, void *arg)
{
    db->on_items = cb;
    db->items_arg = arg;
}

void
px_db_set_wal_limit(struct px_db *db, uint32_t pages)
{
    db->wal_limit = pages > 0 ? pages : 1;
}

int64_t
px_db_max_rowid_at_open(const struct px_db *db)
{
    return db->max_rowid_at_open;
}

/* ---- Checkpoints ---- */

static void
ckpt_work(struct px_store *s, void *arg)
{
    (void)arg;
    /* A failure only means the WAL keeps its frames until the next try. */
    px_store_checkpoint(s, PX_CKPT_PASSIVE);
}

static void request_checkpoint(struct px_db *db);

static void
ckpt_done(void *arg, int rc)
{
    struct px_db *db = arg;

    db->ckpt_running = false;
    if (db->wal_full) {
        start_write(db); /* it was waiting for this checkpoint to end */
    } else if (rc == 0 && db->ckpt_wanted) {
        request_checkpoint(db);
    }
}

/*
 * Checkpoints. SQLite would checkpoint on the committing connection, a few fsyncs while
 * every publisher waits; here a reader copies the WAL into the database in the thread
 * pool after a commit that leaves DB_CKPT_PAGES or more in the WAL, one checkpoint at a
 * time (commits during one ask for another after it), while the writer goes on. Such a PASSIVE
 * checkpoint never catches up with a writer that commits back to back, so the WAL would never
 * restart from its beginning during a long import and would grow without bound. So once a commit
 * leaves it past the WAL limit (64 MiB), the next write job first empties it (TRUNCATE), with the
 * writer otherwise idle and no reader checkpoint running: most frames have already been copied, so
 * that costs about one fsync of the database and one truncate.
 */
static void
request_checkpoint(struct px_db *db)
{
    if (db->wal_full) {
        return; /* the writer's turn */
    }
    if (db->ckpt_running) {
        db->ckpt_wanted = true;
        return;
    }
    db->ckpt_wanted = false;
    db->ckpt.fn = ckpt_work;
    db->ckpt.done = ckpt_done;
    db->ckpt.arg = db;
    if (px_db_read(db, &db->ckpt) == 0) {
        db->ckpt_running = true;
    }
}

/* ---- Writes ---- */

static void
write_work(uv_work_t *req)
{
    struct write_job *job = req->data;

    if (job->truncate) {
        /* TRUNCATE waits for every reader of the WAL to finish. A long one (a ranked query,
         * an export) must not hold every write for the whole busy timeout, commit after
         * commit: wait briefly, and on PX_EBUSY go on; the next commit tries again. */
        px_store_busy_timeout(job->db->writer, DB_TRUNCATE_WAIT_MS);
        (void)px_store_checkpoint(job->db->writer, PX_CKPT_TRUNCATE);
        px_store_busy_timeout(job->db->writer, PX_STORE_BUSY_MS);
    }
    job->rc = px_store_insert(job->db->writer, job->items, job->n_items, wall_ms());
    job->wal_pages = px_store_wal_pages(job->db->writer);
    job->max_rowid = 0;
    for (size_t i = 0; i < job->n_items; i++) {
        if (job->items[i]->rowid > job->max_rowid) {
            job->max_rowid = job->items[i]->rowid;
        }
    }
}

static void
write_after(uv_work_t *req, int status)
{
    struct write_job *job = req->data;
    struct px_db *db = job->db;
    struct px_db_write *w = job->reqs;

    (void)status; /* write jobs are never cancelled */
    db->writing = false;
    /* The clients are told each time; the operator once a minute at most (a full disk
     * fails every write until space is freed). */
    if (job->rc != 0 && px_ratelimit_allow(&db->write_errors, uv_now(db->loop), 1, 60000)) {
        px_log_warnx("store: a transaction of %zu records failed and stored nothing: %s",
                     job->n_items, px_strerror(job->rc));
    }
    db->wal_full = job->wal_pages >= db->wal_limit;
    /* Before the requests' callbacks, which may free their items. */
    if (job->rc == 0 && db->on_items != NULL) {
        db->on_items(db->items_arg, job->items, job->n_items);
    }
    while (w != NULL) {
        struct px_db_write *next = w->next;

        w->cb(w->arg, job->rc);
        w = next;
    }
    if (job->rc == 0 && job->max_rowid > 0 && db->on_commit != NULL) {
        db->on_commit(db->commit_arg, job->max_rowid);
    }
    if (job->rc == 0 && !db->closing && job->wal_pages >= DB_CKPT_PAGES) {
        request_checkpoint(db);
    }
    free(job->items);
    free(job);
    start_write(db);
    maybe_finish_close(db);
}

/* Starts one transaction with as many queued requests as fit in a batch. */
static void
start_write(struct px_db *db)
{
    struct write_job *job;
    struct px_db_write *w, *last = NULL;
    size_t n = 0, k = 0;

    if (db->writing || db->wq_head == NULL || (db->wal_full && db->ckpt_running)) {
        return;
    }
    /* Take whole requests while they fit; always at least one. */
    for (w = db->wq_head; w != NULL; w = w->next) {
        if (n > 0 && n + w->n > DB_MAX_BATCH_ITEMS) {
            break;
        }
        n += w->n;
        last = w;
    }
    job = calloc(1, sizeof(*job));
    if (job == NULL || (job->items = calloc(n > 0 ? n : 1, sizeof(*job->items))) == NULL) {
        abort(); /* a small internal allocation: see STYLE.md on OOM in the daemon */
    }
    job->db = db;
    job->reqs = db->wq_head;
    db->wq_head = last->next;
    if (db->wq_head == NULL) {
        db->wq_tail = NULL;
    }
    last->next = NULL;
    for (w = job->reqs; w != NULL; w = w->next) {
        for (size_t i = 0; i < w->n; i++) {
            job->items[k++] = w->items[i];
        }
    }
    job->n_items = n;
    job->truncate = db->wal_full;
    job->work.data = job;
    db->writing = true;
    if (uv_queue_work(db->loop, &job->work, write_work, write_after) != 0) {
        abort(); /* only fails for a NULL work callback */
    }
}

int
px_db_write(struct px_db *db, struct px_db_write *w)
{
    if (db->closing) {
        return PX_ESHUTDOWN;
    }
    w->next = NULL;
    if (db->wq_tail != NULL) {
        db->wq_tail->next = w;
    } else {
        db->wq_head = w;
    }
    db->wq_tail = w;
    start_write(db);
    return 0;
}

/* ---- Reads ---- */

static void start_reads(struct px_db *db);

static void
read_work(uv_work_t *req)
{
    struct px_db_read *r = req->data;

    r->fn(r->store, r->arg);
}

static void
read_after(uv_work_t *req, int status)
{
    struct px_db_read *r = req->data;
    struct px_db *db = r->db;

    db->free_readers[db->n_free++] = r->store;
    db->reads_running--;
    r->done(r->arg, status == UV_ECANCELED ? PX_ESHUTDOWN : 0);
    start_reads(db);
    maybe_finish_close(db);
}

static void
start_reads(struct px_db *db)
{
    while (db->rq_head != NULL && db->n_free > 0 && !db->closing) {
        struct px_db_read *r = db->rq_head;

        db->rq_head = r->next;
        if (db->rq_head == NULL) {
            db->rq_tail = NULL;
        }
        r->db = db;
        r->store = db->free_readers[--db->n_free];
        r->work.data = r;
        db->reads_running++;
        if (uv_queue_work(db->loop, &r->work, read_work, read_after) != 0) {
            abort();
        }
    }
}

int
px_db_read(struct px_db *db, struct px_db_read *r)
{
    if (db->closing) {
        return PX_ESHUTDOWN;
    }
    r->next = NULL;
    if (db->rq_tail != NULL) {
        db->rq_tail->next = r;
    } else {
        db->rq_head = r;
    }
    db->rq_tail = r;
    start_reads(db);
    return 0;
}

int
px_db_read_now(struct px_db *db, px_db_read_fn *fn, void *arg)
{
    if (db->closing) {
        return PX_ESHUTDOWN;
    }
    fn(db->now, arg);
    return 0;
}

/* ---- Close ---- */

static void
maybe_finish_close(struct px_db *db)
{
    if (!db->closing || db->writing || db->wq_head != NULL || db->reads_running > 0) {
        return;
    }
    for (unsigned i = 0; i < db->n_readers; i++) {
        px_store_close(db->readers[i]);
    }
    px_store_close(db->now);
    px_store_close(db->writer);
    px_doclen_free(db->doclen);
    free(db->readers);
    free(db->free_readers);
    if (db->close_cb != NULL) {
        db->close_cb(db->close_arg);
    }
    free(db);
}

void
px_db_close(struct px_db *db, void (*cb)(void *arg), void *arg)
{
    struct px_db_read *r;

    if (db == NULL) {
        if (cb != NULL) {
            cb(arg);
        }
        return;
    }
    db->closing = true;
    db->close_cb = cb;
    db->close_arg = arg;
    /* Queued reads never started: tell their owners. Writes still queued will run. */
    while ((r = db->rq_head) != NULL) {
        db->rq_head = r->next;
        r->done(r->arg, PX_ESHUTDOWN);
    }
    db->rq_tail = NULL;
    maybe_finish_close(db);
}
