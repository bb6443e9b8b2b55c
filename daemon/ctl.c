/* SPDX-License-Identifier: MIT */
/*
 * ctl.c - the local API server; see ctl.h and docs/protocol.md ("Local API").
 *
 * Each request becomes a struct op that holds a private copy of its frame, so the slices
 * a decoded request borrows stay valid while its jobs run in the thread pool. A client
 * counts its ops (refs); the client is freed only when its handle is closed and no op
 * refers to it any more (libuv's rule: close is asynchronous).
 *
 * Streamed answers (get, query, export) first select the matching rowids, then fetch and
 * send pages of records, one page in flight at a time; a page waits while the client's
 * unsent output is over max_queue. A query with follow then stays registered: each commit
 * runs the query again over the new rows only.
 */
#include "ctl.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "db.h"
#include "log.h"
#include "peer.h"
#include "protocol/api.h"
#include "protocol/err.h"

/* Requests a client may have in flight before we stop reading from it. */
#define CTL_MAX_INFLIGHT 4
/* A page of a streamed answer: at most this many records, or about this many bytes. */
#define CTL_PAGE_RECORDS 256
#define CTL_PAGE_BYTES   (1u << 20)
#define CTL_PAGE_FIRST   (64u << 10) /* a page's first allocation; it doubles as rows need */
/* The read buffer starts this small and grows to a frame's size only once its header
 * has been checked. */
#define CTL_RBUF_INITIAL 4096

struct ctl_client;

struct op {
    struct ctl_client *c;
    struct op *next_stream; /* in the client's list of open streams */
    uint8_t *body;          /* a copy of the request frame; req borrows it */
    size_t body_len;
    struct px_api_request req;
    int rc;
    const char *field;
    /* publish */
    uint8_t *raw;
    struct px_store_item item;
    struct px_store_item *itemp;
    /* import */
    struct px_store_item *items;
    struct px_store_item **itemps;
    int32_t *codes;
    size_t n_ok;
    uv_work_t work;
    /* status */
    struct px_store_stats stats;
    /* jobs */
    struct px_db_read rd;
    struct px_db_write wr;
    /* streams */
    bool stream;
    bool follow;
    bool live;     /* the stored results are sent; now following new ones */
    bool busy;     /* a select or fetch job is running */
    bool paused;   /* waiting for the client to read */
    bool dirty;    /* commits arrived while busy */
    bool finished; /* the final frame has been sent */
    int64_t *rowids;
    size_t n_rows, pos;
    int64_t last_rowid; /* live: rows up to here have been looked at */
    int64_t upto;       /* the select's upper bound */
    /* the page being fetched */
    uint8_t *page; /* grown as rows need, up to CTL_PAGE_BYTES + PX_RECORD_MAX */
    size_t page_len, page_cap;
    size_t offs[CTL_PAGE_RECORDS], lens[CTL_PAGE_RECORDS];
    uint32_t page_n;
    size_t page_rows; /* rowids consumed by the page, skipped ones included */
};

struct ctl_client {
    uv_pipe_t pipe;
    struct px_ctl *ctl;
    struct ctl_client *prev, *next;
    uint8_t *rbuf;
    size_t rlen, rcap;
    unsigned inflight;
    unsigned refs; /* ops alive; the handle itself counts as one */
    bool closing;
    bool reading;
    bool eof;      /* the client half-closed: answer what is in flight, then close */
    bool draining; /* read nothing more; close once the last queued write is done */
    struct op *streams;
    unsigned id; /* for log lines */
};

struct px_ctl {
    struct px_daemon *d;
    struct px_ctl_options opt;
    char *path;
    uv_pipe_t server;
    bool server_open;
    struct ctl_client *clients;
    unsigned n_clients;
    unsigned next_id;
    bool closing;
    void (*close_cb)(void *arg);
    void *close_arg;
};

struct write_req {
    uv_write_t req;
    struct ctl_client *c;
    bool close_after; /* the last word to this client: close once it is written */
    size_t len;
    uint8_t data[];
};

static void client_close(struct ctl_client *c, const char *why);
static void drain_and_close(struct ctl_client *c);
static void client_unref(struct ctl_client *c);
static void stream_next(struct op *op);
static void dispatch(struct ctl_client *c, const uint8_t *body, size_t len);
static void maybe_finish_close(struct px_ctl *ctl);

/* ---- Writing ---- */

static size_t
queued(struct ctl_client *c)
{
    return uv_stream_get_write_queue_size((uv_stream_t *)&c->pipe);
}

static void
client_on_write(uv_write_t *req, int status)
{
    struct write_req *w = (struct write_req *)req;
    struct ctl_client *c = w->c;

    if (status < 0 || w->close_after) {
        if (status < 0 && status != UV_ECANCELED) {
            client_close(c, uv_strerror(status));
        } else {
            client_close(c, NULL);
        }
        free(w);
        client_unref(c);
        return;
    }
    free(w);
    /* Resume paused streams once the client has read half its backlog. */
    if (!c->closing && queued(c) <= c->ctl->opt.max_queue / 2) {
        struct op *next;

        /* stream_next may free the op it is given, never another one. */
        for (struct op *op = c->streams; op != NULL; op = next) {
            next = op->next_stream;
            if (op->paused) {
                op->paused = false;
                stream_next(op);
            }
        }
    }
    client_unref(c);
}

/*
 * Sends a response frame; with close_after, the client is closed once it has been written
 * (closing at once would cancel the write, and the client would never see why).
 * Returns 0, or an error when the client is gone or broken.
 */
static int
send_frame(struct ctl_client *c, const struct px_api_response *res, bool close_after)
{
    struct write_req *w;
    uint8_t *frame;
    size_t len;
    uv_buf_t buf;
    int rc;

    if (c->closing) {
        return PX_ESHUTDOWN;
    }
    if ((rc = px_api_response_encode(res, &frame, &len)) != 0) {
        return rc;
    }
    /* One allocation for the request and its bytes, freed by the write callback. */
    w = malloc(sizeof(*w) + len);
    if (w == NULL) {
        free(frame);
        return PX_ENOMEM;
    }
    memcpy(w->data, frame, len);
    free(frame);
    w->c = c;
    w->close_after = close_after;
    w->len = len;
    buf = uv_buf_init((char *)w->data, (unsigned)len);
    c->refs++;
    if ((rc = uv_write(&w->req, (uv_stream_t *)&c->pipe, &buf, 1, client_on_write)) != 0) {
        free(w);
        c->refs--;
        client_close(c, uv_strerror(rc));
        return PX_EIO;
    }
    return 0;
}

static int
send_response(struct ctl_client *c, const struct px_api_response *res)
{
    return send_frame(c, res, false);
}

static void
error_response(struct px_api_response *res, char *msg, size_t cap, uint64_t seq, int code,
               const char *field)
{
    memset(res, 0, sizeof(*res));
    res->seq = seq;
    res->code = code;
    if (field != NULL) {
        snprintf(msg, cap, "field \"%s\": %s", field, px_strerror(code));
    } else {
        snprintf(msg, cap, "%s", px_strerror(code));
    }
    res->error = (struct px_str){msg, (uint32_t)strlen(msg)};
}

/* Stop reading, say why, and close once that is written. */
static void
refuse_and_close(struct ctl_client *c, int code)
{
    struct px_api_response res;
    char msg[PX_API_MAX_ERROR];

    if (c->reading) {
        uv_read_stop((uv_stream_t *)&c->pipe);
        c->reading = false;
    }
    c->draining = true;
    error_response(&res, msg, sizeof(msg), 0, code, NULL);
    if (send_frame(c, &res, true) != 0) {
        client_close(c, NULL);
    }
}

static void
send_error(struct ctl_client *c, uint64_t seq, int code, const char *field)
{
    struct px_api_response res;
    char msg[PX_API_MAX_ERROR];

    error_response(&res, msg, sizeof(msg), seq, code, field);
    send_response(c, &res);
}

/* ---- Op lifetime ---- */

static struct op *
op_new(struct ctl_client *c, const uint8_t *body, size_t len)
{
    struct op *op = calloc(1, sizeof(*op));

    if (op == NULL || (op->body = malloc(len)) == NULL) {
        free(op);
        return NULL;
    }
    memcpy(op->body, body, len);
    op->body_len = len;
    op->c = c;
    c->refs++;
    c->inflight++;
    return op;
}

static void resume_reading(struct ctl_client *c);

static void
op_free(struct op *op)
{
    struct ctl_client *c = op->c;

    if (op->stream) {
        for (struct op **p = &c->streams; *p != NULL; p = &(*p)->next_stream) {
            if (*p == op) {
                *p = op->next_stream;
                break;
            }
        }
    }
    free(op->body);
    free(op->raw);
    free(op->items);
    free(op->itemps);
    free(op->codes);
    free(op->rowids);
    free(op->page);
    free(op);
    c->inflight--;
    if (c->eof && c->inflight == 0) {
        /* Half-closed and every answer is queued: the writes finish before the close. */
        drain_and_close(c);
    }
    resume_reading(c);
    client_unref(c);
}

/* ---- Publish ---- */

static void
publish_on_write(void *arg, int rc)
{
    struct op *op = arg;
    struct px_api_response res;

    if (rc == 0) {
        rc = op->item.result;
    }
    if (rc != 0) {
        send_error(op->c, op->req.seq, rc, NULL);
    } else {
        memset(&res, 0, sizeof(res));
        res.seq = op->req.seq;
        res.has_id = true;
        memcpy(res.id, op->item.rec.id, PX_ID_BYTES);
        send_response(op->c, &res);
    }
    op_free(op);
}

static void
do_publish(struct op *op)
{
    struct px_daemon *d = op->c->ctl->d;
    struct px_record rec;
    const char *field = NULL;
    size_t len;
    int rc;

    memset(&rec, 0, sizeof(rec));
    rec.version = PX_RECORD_VERSION;
    rc = px_record_decode_payload((enum px_record_type)op->req.type, op->req.payload,
                                  op->req.payload_len, &rec, &field);
    if (rc == 0 && (op->raw = malloc(PX_RECORD_MAX)) == NULL) {
        rc = PX_ENOMEM;
    }
    if (rc == 0) {
        rec.created = px_daemon_next_created(d);
        rc = px_record_sign(&rec, &d->identity, op->raw, PX_RECORD_MAX, &len, &field);
    }
    /* Decode the signed bytes again so the item's slices point into op->raw. */
    if (rc == 0) {
        rc = px_record_decode(op->raw, len, &op->item.rec, &field);
    }
    if (rc != 0) {
        send_error(op->c, op->req.seq, rc, field);
        op_free(op);
        return;
    }
    op->item.raw = op->raw;
    op->item.len = len;
    op->item.local = true;
    op->itemp = &op->item;
    op->wr.items = &op->itemp;
    op->wr.n = 1;
    op->wr.cb = publish_on_write;
    op->wr.arg = op;
    if ((rc = px_db_write(d->db, &op->wr)) != 0) {
        send_error(op->c, op->req.seq, rc, NULL);
        op_free(op);
    }
}

/* ---- Import ---- */

static void
import_work(uv_work_t *req)
{
    struct op *op = req->data;
    struct px_daemon *d = op->c->ctl->d;
    uint64_t now = px_daemon_now_ms();

    for (uint32_t i = 0; i < op->req.n_records; i++) {
        struct px_store_item *it = &op->items[i];

        it->raw = op->req.records[i];
        it->len = op->req.record_lens[i];
        op->codes[i] = px_ingest_check(&d->policy, it->raw, it->len, now, &it->rec, NULL);
        if (op->codes[i] == 0) {
            op->itemps[op->n_ok++] = it;
        }
    }
}

static void
import_on_write(void *arg, int rc)
{
    struct op *op = arg;
    struct px_api_response *res = calloc(1, sizeof(*res));

    if (res == NULL) {
        abort();
    }
    if (rc != 0) {
        send_error(op->c, op->req.seq, rc, NULL);
        free(res);
        op_free(op);
        return;
    }
    res->seq = op->req.seq;
    for (uint32_t i = 0; i < op->req.n_records; i++) {
        int code = op->codes[i] != 0 ? op->codes[i] : op->items[i].result;

        if (code == 0) {
            res->accepted++;
        } else if (code == PX_EEXIST) {
            res->duplicates++;
        } else {
            res->rejected[res->n_rejected].index = i;
            res->rejected[res->n_rejected].code = code;
            res->n_rejected++;
        }
    }
    /* An all-empty import answer would look like any other: say 0 accepted explicitly. */
    send_response(op->c, res);
    free(res);
    op_free(op);
}

static void
import_after(uv_work_t *req, int status)
{
    struct op *op = req->data;
    struct px_daemon *d = op->c->ctl->d;
    int rc;

    (void)status;
    if (op->n_ok == 0) {
        import_on_write(op, 0);
        return;
    }
    op->wr.items = op->itemps;
    op->wr.n = op->n_ok;
    op->wr.cb = import_on_write;
    op->wr.arg = op;
    if ((rc = px_db_write(d->db, &op->wr)) != 0) {
        import_on_write(op, rc);
    }
}

static void
do_import(struct op *op)
{
    uint32_t n = op->req.n_records;

    op->items = calloc(n > 0 ? n : 1, sizeof(*op->items));
    op->itemps = calloc(n > 0 ? n : 1, sizeof(*op->itemps));
    op->codes = calloc(n > 0 ? n : 1, sizeof(*op->codes));
    if (op->items == NULL || op->itemps == NULL || op->codes == NULL) {
        send_error(op->c, op->req.seq, PX_ENOMEM, NULL);
        op_free(op);
        return;
    }
    op->work.data = op;
    if (uv_queue_work(op->c->ctl->d->loop, &op->work, import_work, import_after) != 0) {
        abort();
    }
}

/* ---- Status ---- */

static void
status_work(struct px_store *s, void *arg)
{
    struct op *op = arg;

    op->rc = px_store_stats(s, &op->stats);
}

static void
status_done(void *arg, int rc)
{
    struct op *op = arg;
    struct px_daemon *d = op->c->ctl->d;
    struct px_api_response res;

    if (rc == 0) {
        rc = op->rc;
    }
    if (rc != 0) {
        send_error(op->c, op->req.seq, rc, NULL);
        op_free(op);
        return;
    }
    memset(&res, 0, sizeof(res));
    res.seq = op->req.seq;
    res.has_status = true;
    memcpy(res.status.public_key, d->identity.pk, PX_SIGN_PUBLICKEYBYTES);
    res.status.records = op->stats.records;
    res.status.cases = op->stats.cases;
    res.status.retractions = op->stats.retractions;
    res.status.store_bytes = op->stats.bytes;
    res.status.uptime_ms = px_daemon_now_ms() - d->started_ms;
    res.status.peers = px_peer_count_established(d->peers);
    res.status.version = (struct px_str){d->version, (uint32_t)strlen(d->version)};
    send_response(op->c, &res);
    op_free(op);
}

/* ---- Peers ---- */

static struct px_str
str_of(const char *s)
{
    return (struct px_str){s, (uint32_t)strlen(s)};
}

/* The peer table, PX_API_MAX_PEERS rows a frame; all but the last frame have more set. */
static void
do_peers(struct op *op)
{
    struct px_daemon *d = op->c->ctl->d;
    size_t n = px_peer_list_size(d->peers), off = 0;
    struct px_peer_info *rows = calloc(n > 0 ? n : 1, sizeof(*rows));
    struct px_api_response *res = calloc(1, sizeof(*res));

    if (rows == NULL || res == NULL) {
        abort();
    }
    n = px_peer_list(d->peers, rows, n);
    do {
        size_t k = n - off > PX_API_MAX_PEERS ? PX_API_MAX_PEERS : n - off;

        memset(res, 0, sizeof(*res));
        res->seq = op->req.seq;
        res->has_peers = true;
        res->n_peers = (uint32_t)k;
        res->more = off + k < n;
        for (size_t i = 0; i < k; i++) {
            const struct px_peer_info *r = &rows[off + i];
            struct px_api_peer *a = &res->peers[i];

            a->has_key = r->has_key;
            memcpy(a->public_key, r->public_key, sizeof(a->public_key));
            a->name = str_of(r->name);
            a->address = str_of(r->address);
            a->direction = str_of(r->direction);
            a->state = str_of(r->state);
            a->since_ms = r->since_ms;
            a->bytes_in = r->bytes_in;
            a->bytes_out = r->bytes_out;
            a->last_error = str_of(r->last_error);
            a->last_sync_ms = r->gossip.last_sync_ms;
            a->records_sent = r->gossip.records_sent;
            a->records_received = r->gossip.records_received;
            a->duplicates = r->gossip.duplicates;
            a->rejected = r->gossip.rejected;
            a->pending_wants = r->gossip.pending_wants;
        }
        if (send_response(op->c, res) != 0) {
            break;
        }
        off += k;
    } while (off < n);
    free(res);
    free(rows);
    op_free(op);
}

/* ---- Streams: get, query, export ---- */

static void fetch_work(struct px_store *s, void *arg);

static void
select_work(struct px_store *s, void *arg)
{
    struct op *op = arg;
    struct px_store_window w = {0};

    free(op->rowids);
    op->rowids = NULL;
    op->n_rows = 0;
    op->pos = 0;
    switch (op->req.op) {
    case PX_API_GET:
        op->rc = px_store_get(s, op->req.id.p, op->req.id.len, op->req.history, &op->rowids,
                              &op->n_rows);
        break;
    case PX_API_EXPORT:
        op->rc = px_store_select_all(s, &op->rowids, &op->n_rows);
        break;
    case PX_API_QUERY:
        if (op->live) {
            w.after_rowid = op->last_rowid;
            w.upto_rowid = op->upto;
            w.live = true;
        } else {
            /* Fix the upper bound first, so that following starts exactly after it. */
            op->rc = px_store_max_rowid(s, &op->upto);
            if (op->rc != 0) {
                return;
            }
            w.upto_rowid = op->upto > 0 ? op->upto : -1;
        }
        if (w.upto_rowid < 0) {
            op->rc = 0; /* an empty store: nothing to select */
            return;
        }
        op->rc = px_store_select(s, &op->req.filter, &w, &op->rowids, &op->n_rows);
        break;
    default:
        op->rc = PX_EINVAL;
        break;
    }
    /* The first page in the same job: a get, or a query of one page, then takes one trip
     * through the thread pool instead of two. */
    if (op->rc == 0 && op->n_rows > 0) {
        fetch_work(s, op);
    }
}

static int
page_row(void *arg, int64_t rowid, const uint8_t *raw, size_t len)
{
    struct op *op = arg;

    (void)rowid;
    if (op->page_n > 0 && op->page_len + len > CTL_PAGE_BYTES) {
        return 1; /* full: this row goes in the next page */
    }
    /* A get needs a record's room, a page of a query up to a megabyte: grow on demand. */
    if (op->page_len + len > op->page_cap) {
        size_t cap = op->page_cap > 0 ? op->page_cap : CTL_PAGE_FIRST;
        uint8_t *p;

        while (cap < op->page_len + len) {
            cap *= 2;
        }
        cap = cap < CTL_PAGE_BYTES + PX_RECORD_MAX ? cap : CTL_PAGE_BYTES + PX_RECORD_MAX;
        if ((p = realloc(op->page, cap)) == NULL) {
            return PX_ENOMEM;
        }
        op->page = p;
        op->page_cap = cap;
    }
    memcpy(op->page + op->page_len, raw, len);
    op->offs[op->page_n] = op->page_len;
    op->lens[op->page_n] = len;
    op->page_len += len;
    op->page_n++;
    op->page_rows++;
    return op->page_n == CTL_PAGE_RECORDS ? 1 : 0;
}

/* Counts rows the fetch skipped (deleted meanwhile) as consumed too. */
static int
page_row_counting(void *arg, int64_t rowid, const uint8_t *raw, size_t len)
{
    struct op *op = arg;
    size_t want = op->pos + op->page_rows;

    /* Rows between the last one taken and this one no longer exist: skip them. */
    while (want < op->n_rows && op->rowids[want] != rowid) {
        want++;
        op->page_rows++;
    }
    return page_row(arg, rowid, raw, len);
}

static void
fetch_work(struct px_store *s, void *arg)
{
    struct op *op = arg;
    size_t n = op->n_rows - op->pos;

    op->page_len = 0;
    op->page_n = 0;
    op->page_rows = 0;
    if (n > CTL_PAGE_RECORDS) {
        n = CTL_PAGE_RECORDS;
    }
    op->rc = px_store_fetch(s, op->rowids + op->pos, n, page_row_counting, op);
    if (op->rc > 0) {
        op->rc = 0; /* the page filled up */
    } else if (op->rc == 0) {
        op->page_rows = n; /* every row looked at, skipped ones included */
    }
}

static void fetch_done(void *arg, int rc);
static void select_done(void *arg, int rc);

static void
start_read(struct op *op, px_db_read_fn *fn, px_db_done_cb *done)
{
    int rc;

    op->busy = true;
    op->rd.fn = fn;
    op->rd.done = done;
    op->rd.arg = op;
    if ((rc = px_db_read(op->c->ctl->d->db, &op->rd)) != 0) {
        op->busy = false;
        send_error(op->c, op->req.seq, rc, NULL);
        op->finished = true;
        op_free(op);
    }
}

/* Sends the final frame of a stream that is not following. */
static void
stream_finish(struct op *op, bool sent_any)
{
    struct px_api_response res;

    if (!sent_any) {
        memset(&res, 0, sizeof(res));
        res.seq = op->req.seq;
        send_response(op->c, &res);
    }
    op->finished = true;
    op_free(op);
}

/* Moves a stream on: fetch the next page, go live, or finish. */
static void
stream_next(struct op *op)
{
    struct px_daemon *d = op->c->ctl->d;

    /* A closing client's idle streams are freed by client_on_close. */
    if (op->busy || op->finished || op->c->closing) {
        return;
    }
    if (queued(op->c) > op->c->ctl->opt.max_queue) {
        if (op->live) {
            px_log_warnx("ctl: client %u does not read its live results; dropping it", op->c->id);
            client_close(op->c, "too slow");
            return;
        }
        op->paused = true;
        return;
    }
    if (op->pos < op->n_rows) {
        start_read(op, fetch_work, fetch_done);
        return;
    }
    if (!op->follow) {
        return; /* the last page was sent with more = false by fetch_done */
    }
    /* Following: look at rows committed since the last look. */
    op->live = true;
    op->last_rowid = op->upto > op->last_rowid ? op->upto : op->last_rowid;
    if (d->max_rowid > op->last_rowid || op->dirty) {
        op->dirty = false;
        op->upto = d->max_rowid;
        if (op->upto > op->last_rowid) {
            start_read(op, select_work, select_done);
        }
    }
}

/*
 * After a stream's job: true when the stream ended there (the job failed, or the client
 * has gone), in which case op is freed; false when it goes on.
 */
static bool
stream_job_ended(struct op *op, int rc)
{
    op->busy = false;
    if (rc == 0) {
        rc = op->rc;
    }
    if (rc == 0 && !op->c->closing) {
        return false;
    }
    if (!op->c->closing) {
        send_error(op->c, op->req.seq, rc, NULL);
    }
    op->finished = true;
    op_free(op);
    return true;
}

/* Sends the page a job has just filled, then moves the stream on. */
static void
page_ready(struct op *op)
{
    struct px_api_response *res;
    bool last;

    op->pos += op->page_rows;
    last = op->pos >= op->n_rows && !op->follow;
    if (op->page_n > 0 || last) {
        if ((res = calloc(1, sizeof(*res))) == NULL) {
            abort();
        }
        res->seq = op->req.seq;
        res->more = !last;
        for (uint32_t i = 0; i < op->page_n; i++) {
            res->records[i] = op->page + op->offs[i];
            res->record_lens[i] = op->lens[i];
        }
        res->n_records = op->page_n;
        send_response(op->c, res);
        free(res);
    }
    if (last) {
        op->finished = true;
        op_free(op);
        return;
    }
    stream_next(op);
}

static void
fetch_done(void *arg, int rc)
{
    struct op *op = arg;

    if (!stream_job_ended(op, rc)) {
        page_ready(op);
    }
}

static void
select_done(void *arg, int rc)
{
    struct op *op = arg;

    if (stream_job_ended(op, rc)) {
        return;
    }
    if (op->live) {
        op->last_rowid = op->upto;
    }
    if (op->n_rows > 0) {
        page_ready(op); /* select_work fetched the first page */
        return;
    }
    if (!op->follow) {
        stream_finish(op, false);
        return;
    }
    stream_next(op);
}

static void
do_stream(struct op *op)
{
    struct ctl_client *c = op->c;

    op->stream = true;
    op->follow = op->req.op == PX_API_QUERY && op->req.filter.follow;
    op->next_stream = c->streams;
    c->streams = op;
    /* A get is a lookup by id, a few pages: it runs on the loop unless the store is busy. */
    if (op->req.op == PX_API_GET && px_db_read_now(c->ctl->d->db, select_work, op) == 0 &&
        op->rc != PX_EBUSY) {
        op->busy = true; /* as if a job had run: select_done takes it from here */
        select_done(op, 0);
        return;
    }
    start_read(op, select_work, select_done);
}

void
px_ctl_notify_commit(struct px_ctl *ctl, int64_t max_rowid)
{
    (void)max_rowid; /* the daemon has recorded it in d->max_rowid */
    for (struct ctl_client *c = ctl->clients; c != NULL; c = c->next) {
        struct op *next;

        /* Neither stream_next nor client_close frees anything but the op at hand. */
        for (struct op *op = c->streams; op != NULL; op = next) {
            next = op->next_stream;
            if (!op->live) {
                continue;
            }
            if (op->busy || op->paused) {
                op->dirty = true;
            } else {
                stream_next(op);
            }
        }
    }
}

/* ---- Requests ---- */

static void
dispatch(struct ctl_client *c, const uint8_t *body, size_t len)
{
    struct op *op = op_new(c, body, len);
    int rc;

    if (op == NULL) {
        send_error(c, 0, PX_ENOMEM, NULL);
        return;
    }
    if ((rc = px_api_request_decode(op->body, op->body_len, &op->req)) != 0) {
        char what[64];

        /* The frame is whole, so the stream is still in step: answer and go on. */
        px_log_sanitize(what, sizeof(what), body, len < 16 ? len : 16);
        px_log_info("ctl: client %u sent a bad request (%s): %s", c->id, px_err_name(rc), what);
        send_error(c, op->req.seq, rc, NULL);
        op_free(op);
        return;
    }
    px_log_debug("ctl: client %u: %s seq %llu", c->id, px_api_op_name(op->req.op),
                 (unsigned long long)op->req.seq);
    switch (op->req.op) {
    case PX_API_PUBLISH:
        do_publish(op);
        break;
    case PX_API_IMPORT:
        do_import(op);
        break;
    case PX_API_STATUS:
        op->rd.fn = status_work;
        op->rd.done = status_done;
        op->rd.arg = op;
        if ((rc = px_db_read(c->ctl->d->db, &op->rd)) != 0) {
            send_error(c, op->req.seq, rc, NULL);
            op_free(op);
        }
        break;
    case PX_API_GET:
    case PX_API_QUERY:
    case PX_API_EXPORT:
        do_stream(op);
        break;
    case PX_API_PEERS:
        do_peers(op);
        break;
    }
}

/* ---- Reading ---- */

static void
client_on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct ctl_client *c = h->data;

    (void)suggested;
    /* The free tail of the read buffer; it grows only in client_on_read, after a frame
     * header has been checked. An empty buffer makes libuv report UV_ENOBUFS. */
    *buf = uv_buf_init((char *)c->rbuf + c->rlen, (unsigned)(c->rcap - c->rlen));
}

static void
client_on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct ctl_client *c = s->data;
    size_t off = 0;

    (void)buf;
    if (nread == UV_EOF) {
        /* A half-close: the client may still be reading answers. Stop reading, finish
         * what is in flight, and close after that. */
        uv_read_stop(s);
        c->reading = false;
        c->eof = true;
        if (c->inflight == 0) {
            drain_and_close(c);
        }
        return;
    }
    if (nread < 0) {
        client_close(c, uv_strerror((int)nread));
        return;
    }
    c->rlen += (size_t)nread;
    while (!c->closing && !c->draining && c->rlen - off >= 4) {
        uint32_t len;
        int rc = px_api_frame_len(c->rbuf + off, &len);

        if (rc != 0) {
            /* A bad length: framing is lost. Say why, then hang up. */
            px_log_info("ctl: client %u sent a bad frame header: %s", c->id, px_strerror(rc));
            refuse_and_close(c, rc);
            return;
        }
        if (c->rlen - off < 4 + (size_t)len) {
            if (4 + (size_t)len > c->rcap) {
                uint8_t *p;

                /* Compact first so that the frame starts the buffer. */
                memmove(c->rbuf, c->rbuf + off, c->rlen - off);
                c->rlen -= off;
                off = 0;
                if ((p = realloc(c->rbuf, 4 + (size_t)len)) == NULL) {
                    client_close(c, "out of memory");
                    return;
                }
                c->rbuf = p;
                c->rcap = 4 + (size_t)len;
            }
            break;
        }
        dispatch(c, c->rbuf + off + 4, len);
        off += 4 + (size_t)len;
        if (c->inflight >= CTL_MAX_INFLIGHT) {
            if (c->reading) {
                uv_read_stop((uv_stream_t *)&c->pipe);
                c->reading = false;
            }
            break;
        }
    }
    if (off > 0) {
        memmove(c->rbuf, c->rbuf + off, c->rlen - off);
        c->rlen -= off;
    }
    /* A buffer grown for a big frame shrinks back once it is empty. */
    if (c->rlen == 0 && c->rcap > CTL_RBUF_INITIAL) {
        uint8_t *p = realloc(c->rbuf, CTL_RBUF_INITIAL);

        if (p != NULL) {
            c->rbuf = p;
            c->rcap = CTL_RBUF_INITIAL;
        }
    }
}

static void
resume_reading(struct ctl_client *c)
{
    if (c->closing || c->reading || c->eof || c->draining || c->inflight >= CTL_MAX_INFLIGHT) {
        return;
    }
    if (uv_read_start((uv_stream_t *)&c->pipe, client_on_alloc, client_on_read) == 0) {
        c->reading = true;
        /* Frames may already be buffered: run them through the read path. */
        if (c->rlen >= 4) {
            uv_buf_t none = uv_buf_init(NULL, 0);

            client_on_read((uv_stream_t *)&c->pipe, 0, &none);
        }
    }
}

/* ---- Clients ---- */

static void
client_free(struct ctl_client *c)
{
    struct px_ctl *ctl = c->ctl;

    if (c->prev != NULL) {
        c->prev->next = c->next;
    } else {
        ctl->clients = c->next;
    }
    if (c->next != NULL) {
        c->next->prev = c->prev;
    }
    ctl->n_clients--;
    free(c->rbuf);
    free(c);
    maybe_finish_close(ctl);
}

static void
client_unref(struct ctl_client *c)
{
    if (--c->refs == 0) {
        client_free(c);
    }
}

static void
client_on_close(uv_handle_t *h)
{
    struct ctl_client *c = h->data;
    struct op *next;

    /* Streams with no job running (paused, or following) end here; a running job's done
     * callback frees its own op. The handle's reference goes last. */
    for (struct op *op = c->streams; op != NULL; op = next) {
        next = op->next_stream;
        if (!op->busy) {
            op->finished = true;
            op_free(op);
        }
    }
    client_unref(c);
}

static void
client_close(struct ctl_client *c, const char *why)
{
    if (c->closing) {
        return;
    }
    c->closing = true;
    if (why != NULL) {
        px_log_info("ctl: client %u closed: %s", c->id, why);
    }
    uv_close((uv_handle_t *)&c->pipe, client_on_close);
}

/*
 * Closes once every queued write is done: an empty frame-less write would be overkill,
 * so use uv_shutdown, whose callback runs after the pending writes.
 */
static void
client_on_shutdown(uv_shutdown_t *req, int status)
{
    struct ctl_client *c = req->data;

    (void)status;
    free(req);
    client_close(c, NULL);
    client_unref(c);
}

static void
drain_and_close(struct ctl_client *c)
{
    uv_shutdown_t *req;

    if (c->closing || c->draining) {
        return;
    }
    c->draining = true;
    /* Live follows keep the connection; a half-closed follower still reads. */
    for (struct op *op = c->streams; op != NULL; op = op->next_stream) {
        if (op->follow) {
            c->draining = false;
            return;
        }
    }
    if ((req = malloc(sizeof(*req))) == NULL) {
        abort();
    }
    req->data = c;
    c->refs++;
    if (uv_shutdown(req, (uv_stream_t *)&c->pipe, client_on_shutdown) != 0) {
        free(req);
        c->refs--;
        client_close(c, NULL);
    }
}

static bool
peer_allowed(uv_pipe_t *p, unsigned *uid_out)
{
    struct ucred cred;
    socklen_t len = sizeof(cred);
    uv_os_fd_t fd;

    if (uv_fileno((uv_handle_t *)p, &fd) != 0 ||
        getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
        return false;
    }
    *uid_out = cred.uid;
    return cred.uid == geteuid() || cred.uid == 0;
}

static void
server_on_connection(uv_stream_t *server, int status)
{
    struct px_ctl *ctl = server->data;
    struct ctl_client *c;
    unsigned uid = 0;

    if (status < 0) {
        px_log_warnx("ctl: accept: %s", uv_strerror(status));
        return;
    }
    if ((c = calloc(1, sizeof(*c))) == NULL || (c->rbuf = malloc(CTL_RBUF_INITIAL)) == NULL) {
        abort();
    }
    c->rcap = CTL_RBUF_INITIAL;
    c->ctl = ctl;
    c->id = ++ctl->next_id;
    c->refs = 1; /* the handle */
    uv_pipe_init(ctl->d->loop, &c->pipe, 0);
    c->pipe.data = c;
    c->next = ctl->clients;
    if (ctl->clients != NULL) {
        ctl->clients->prev = c;
    }
    ctl->clients = c;
    ctl->n_clients++;
    if (uv_accept(server, (uv_stream_t *)&c->pipe) != 0) {
        client_close(c, NULL);
        return;
    }
    if (!peer_allowed(&c->pipe, &uid)) {
        px_log_warnx("ctl: refused a client running as uid %u", uid);
        refuse_and_close(c, PX_EPERM);
        return;
    }
    if (ctl->closing || ctl->n_clients > ctl->opt.max_clients) {
        px_log_warnx("ctl: too many clients (%u); refusing one", ctl->opt.max_clients);
        refuse_and_close(c, ctl->closing ? PX_ESHUTDOWN : PX_EBUSY);
        return;
    }
    resume_reading(c);
}

/* Removes a socket file nobody listens on; refuses to touch a live one or a non-socket. */
static int
clear_stale_socket(const char *path, char *err, size_t errlen)
{
    struct sockaddr_un sa;
    struct stat st;
    int fd, rc;

    if (lstat(path, &st) != 0) {
        return errno == ENOENT ? 0 : PX_EIO;
    }
    if (!S_ISSOCK(st.st_mode)) {
        snprintf(err, errlen, "%s exists and is not a socket", path);
        return PX_EEXIST;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, path, strlen(path));
    if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0) {
        return PX_EIO;
    }
    rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
    close(fd);
    if (rc == 0) {
        snprintf(err, errlen, "another praxisd is listening on %s", path);
        return PX_EEXIST;
    }
    return unlink(path) == 0 ? 0 : PX_EIO;
}

int
px_ctl_start(struct px_daemon *d, const struct px_ctl_options *opt, struct px_ctl **out, char *err,
             size_t errlen)
{
    struct px_ctl *ctl;
    struct sockaddr_un sa;
    mode_t old;
    int rc;

    *out = NULL;
    if (strlen(opt->path) >= sizeof(sa.sun_path)) {
        snprintf(err, errlen, "socket path too long (%zu bytes, at most %zu): %s",
                 strlen(opt->path), sizeof(sa.sun_path) - 1, opt->path);
        return PX_ETOOBIG;
    }
    if ((rc = clear_stale_socket(opt->path, err, errlen)) != 0) {
        if (rc == PX_EIO) {
            snprintf(err, errlen, "cannot replace %s: %s", opt->path, strerror(errno));
        }
        return rc;
    }
    if ((ctl = calloc(1, sizeof(*ctl))) == NULL || (ctl->path = strdup(opt->path)) == NULL) {
        free(ctl);
        return PX_ENOMEM;
    }
    ctl->d = d;
    ctl->opt = *opt;
    ctl->opt.path = ctl->path;
    uv_pipe_init(d->loop, &ctl->server, 0);
    ctl->server.data = ctl;
    ctl->server_open = true;
    /* Create the socket 0600 from the start: no window in which others could connect. */
    old = umask(0177);
    rc = uv_pipe_bind(&ctl->server, opt->path);
    umask(old);
    if (rc == 0) {
        rc = chmod(opt->path, 0600) == 0 ? 0 : uv_translate_sys_error(errno);
    }
    if (rc == 0) {
        rc = uv_listen((uv_stream_t *)&ctl->server, 64, server_on_connection);
    }
    if (rc != 0) {
        snprintf(err, errlen, "cannot listen on %s: %s", opt->path, uv_strerror(rc));
        ctl->closing = true;
        px_ctl_close(ctl, NULL, NULL);
        return PX_EIO;
    }
    *out = ctl;
    return 0;
}

static void
maybe_finish_close(struct px_ctl *ctl)
{
    if (!ctl->closing || ctl->server_open || ctl->clients != NULL) {
        return;
    }
    if (ctl->close_cb != NULL) {
        ctl->close_cb(ctl->close_arg);
    }
    free(ctl->path);
    free(ctl);
}

static void
server_on_close(uv_handle_t *h)
{
    struct px_ctl *ctl = h->data;

    ctl->server_open = false;
    maybe_finish_close(ctl);
}

void
px_ctl_close(struct px_ctl *ctl, void (*cb)(void *arg), void *arg)
{
    if (ctl == NULL) {
        if (cb != NULL) {
            cb(arg);
        }
        return;
    }
    ctl->closing = true;
    ctl->close_cb = cb;
    ctl->close_arg = arg;
    unlink(ctl->path);
    for (struct ctl_client *c = ctl->clients; c != NULL; c = c->next) {
        client_close(c, NULL);
    }
    uv_close((uv_handle_t *)&ctl->server, server_on_close);
}
