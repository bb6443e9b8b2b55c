/* SPDX-License-Identifier: MIT */
/*
 * gossip.c - push replication and anti-entropy between established peers; see gossip.h
 * and docs/replication.md.
 *
 * State: one struct px_gossip per daemon, one struct px_gossip_link per established peer
 * (reference-counted: a store job in flight keeps its link alive after the peer has gone;
 * link->peer is NULL from then on and nothing more is sent). The want table remembers
 * which ids we asked for, from whom and when, so that an id is asked from one peer at a
 * time, and so that a record nobody asked for is recognised. The reconciliation index is
 * a px_negentropy_storage kept current by the store's commit hook.
 */
#include "gossip.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "db.h"
#include "ingest.h"
#include "log.h"
#include "pagefile.h"
#include "peer.h"
#include "protocol/buf.h"
#include "protocol/err.h"
#include "protocol/negentropy.h"
#include "protocol/record.h"
#include "store.h"

#define GOSSIP_TICK_MS 1000
#define ANNOUNCE_MS    20    /* new ids wait this long to leave together in one announce */
#define WANT_WINDOW_MS 10000 /* an id asked from one peer is not asked from another sooner */
#define WANT_EXPIRE_MS 60000 /* an unanswered want is forgotten */
#define WANT_DONE_MS   60000 /* late copies of an id we received still count as asked for */
#define WANT_BUCKETS   8192
#define WANT_TABLE_MAX                                                                 \
    65536                     /* ids remembered at once, over all peers; received ones \
                               * (done) give way, oldest first, to new wants */
#define LINK_MAX_OFFERS 4     /* announce lookups in flight per peer; more are ignored */
#define BACKLOG_MAX     65536 /* ids a reconciliation found to fetch, kept per peer */
#define LINK_MAX_CHECKS 32    /* records batches being checked per peer */
#define FETCH_IDS       1024
#define FETCH_BUDGET    (4u << 20) /* bytes of records one fetch job reads */
#define LINK_MAX_QUEUED (2u << 20) /* unsent bytes to a peer before servicing waits */
/* The per-peer quotas and the two want caps are configuration (network.quota_*,
 * network.max_pending_wants, network.max_queued_wants; config.c has the defaults). */
#define SCORE_LIMIT     100
#define NEG_FRAME       (64u << 10) /* our negentropy frame size limit */
#define SYNC_TIMEOUT_MS 60000
#define RECORDS_BODY    (PX_WIRE_MAX_MSG - 64)

enum fault { F_MALFORMED, F_BADSIG, F_FUTURE, F_AUTHOR, F_UNSOLICITED, F_AUTHORITY, F_N };

static const struct {
    const char *what;
    int weight;
} fault_info[F_N] = {
    /* A peer checks what it stores, so a malformed or forged record is never an accident. */
    [F_MALFORMED] = {"malformed or non-canonical record", SCORE_LIMIT},
    [F_BADSIG] = {"record with a bad signature", SCORE_LIMIT},
    /* Clocks differ and policies differ between nodes: counted, barely scored. */
    [F_FUTURE] = {"record created in the future", 2},
    [F_AUTHOR] = {"record by an author this node does not accept", 0},
    [F_UNSOLICITED] = {"record this node did not ask for", 10},
    [F_AUTHORITY] = {"correction or retraction of another author's record", 10},
};

struct want {
    struct want *next;
    struct want *done_next; /* in g's FIFO of done entries, oldest first */
    uint8_t id[PX_ID_BYTES];
    uint64_t link; /* the link asked; meaningful while !done */
    uint64_t at;   /* uv_now when asked, or when received */
    bool done;
    /* A record answering this want has come from the link asked and is being checked or
     * stored: a second copy of it from that link is no longer an answer. */
    bool claimed;
};

struct px_gossip_link {
    struct px_gossip *g;
    struct px_gossip_link *prev, *next; /* in g->links while up */
    struct px_gossip_link *dead_next;   /* in g->dead once down, until the next tick */
    struct px_peer *peer;               /* NULL once down */
    unsigned refs;
    uint64_t no; /* unique per daemon run, never 0 (0 is "local" in store items) */
    bool outbound;
    char label[96];
    struct px_gossip_link_stats st;
    int score;
    unsigned logged;                                  /* a bit per fault already logged */
    uint64_t quota_start, q_records, q_bytes, q_msgs; /* q_records, q_bytes: unsolicited */
    unsigned offers, checks;
    uint8_t *serve; /* ids it wants from us, FIFO */
    size_t serve_n;
    bool fetching;
    struct px_negentropy *ne; /* our reconciliation in progress (client role) */
    uint64_t sync_started, next_sync;
    size_t sync_have, sync_need;
    /* Ids our reconciliations found the peer has and we lack, not asked for yet: they are
     * asked as earlier wants to this peer are answered (feed), so that a catch-up goes on
     * at the speed records arrive instead of max_pending_wants per sync_interval. */
    uint8_t *backlog;
    size_t backlog_n, backlog_off;
    bool feeding;       /* an offer job of backlog ids is running */
    bool backlog_lost;  /* ids were left out: reconcile again once the backlog is done */
    bool resync;        /* reconcile as soon as the wants to this peer are answered */
    uint64_t delivered; /* uv_now of the last record it sent that we had asked it for */
    /* Ids stored since the last announce to it (up to PX_WIRE_MAX_IDS): one message per
     * ANNOUNCE_MS or per full message instead of one per commit. */
    uint8_t *ann;
    size_t ann_n;
};

struct px_gossip {
    struct px_daemon *d;
    uv_loop_t *loop;
    uv_timer_t tick;
    bool tick_init;
    uv_timer_t ann_timer; /* flushes the links' pending announces */
    bool ann_init, ann_armed;
    struct px_gossip_link *links;
    /* Links gone down since the last tick: the peer's reference to each is dropped there,
     * not during the call that brought it down, because that call can come from inside a
     * send to the link (a write that fails at once) with the link still in use above it. */
    struct px_gossip_link *dead;
    uint64_t next_no;
    uint64_t sync_interval_ms;
    /* From the configuration: see struct px_config. */
    uint64_t quota_window_ms, quota_records, quota_bytes, quota_msgs;
    size_t max_pending_wants, max_queued_wants;
    struct px_negentropy_storage *index; /* NULL: anti-entropy is off */
    struct px_pagefile *index_file;      /* its pages; NULL: all in memory */
    char data_dir[PX_CONFIG_MAX_PATH];
    char index_dir[PX_CONFIG_MAX_PATH]; /* where the index's page file goes */
    unsigned index_cache_pages;         /* 0: no page file */
    struct want *wants[WANT_BUCKETS];
    size_t n_wants;
    struct want *done_head, *done_tail; /* done entries in the order they were received */
    struct px_wire_msg *msg;            /* scratch for encoding */
};

/* ---- Links ---- */

static void
link_unref(struct px_gossip_link *l)
{
    if (--l->refs == 0) {
        free(l->serve);
        free(l->backlog);
        free(l->ann);
        px_negentropy_free(l->ne);
        free(l);
    }
}

/* Drops the peer's reference to every link that went down since the last call. */
static void
bury(struct px_gossip *g)
{
    while (g->dead != NULL) {
        struct px_gossip_link *l = g->dead;

        g->dead = l->dead_next;
        link_unref(l);
    }
}

static struct px_gossip_link *
link_by_no(struct px_gossip *g, uint64_t no)
{
    for (struct px_gossip_link *l = g->links; l != NULL; l = l->next) {
        if (l->no == no) {
            return l;
        }
    }
    return NULL;
}

static void
send_ids(struct px_gossip_link *l, enum px_wire_type type, const uint8_t *ids, size_t n)
{
    struct px_wire_msg *msg = l->g->msg;

    for (size_t off = 0; off < n && l->peer != NULL; off += PX_WIRE_MAX_IDS) {
        size_t k = n - off > PX_WIRE_MAX_IDS ? PX_WIRE_MAX_IDS : n - off;

        msg->type = type;
        msg->n_ids = (uint32_t)k;
        for (size_t i = 0; i < k; i++) {
            msg->ids[i] = ids + (off + i) * PX_ID_BYTES;
        }
        px_peer_send(l->peer, msg);
    }
}

/* Scores the peer down for count records of one kind; drops it past the limit. */
static void
fault(struct px_gossip_link *l, enum fault f, unsigned count)
{
    char why[160];

    l->st.rejected += count;
    l->score += fault_info[f].weight * (int)count;
    if (!(l->logged & (1u << f))) {
        l->logged |= 1u << f;
        px_log_warnx("gossip: peer %s: %s (%u in this batch; further ones are not logged)",
                     l->label, fault_info[f].what, count);
    }
    if (l->score >= SCORE_LIMIT && l->peer != NULL) {
        snprintf(why, sizeof(why), "sent invalid records (%s)", fault_info[f].what);
        px_peer_drop(l->peer, why);
    }
}

/*
 * Counts msgs messages and records unsolicited records of bytes bytes against the peer's
 * quotas of the current window; over one, drops the peer. Returns true when it was
 * dropped. Records the peer sends in answer to our wants are not counted here: we asked
 * for them, and g->max_pending_wants bounds how many can be on their way.
 */
static bool
over_quota(struct px_gossip_link *l, uint64_t records, uint64_t bytes, uint64_t msgs)
{
    struct px_gossip *g = l->g;
    uint64_t now = uv_now(g->loop);
    const char *what = NULL;
    uint64_t limit = 0;
    char why[160];

    if (now - l->quota_start >= g->quota_window_ms) {
        l->quota_start = now;
        l->q_records = l->q_bytes = l->q_msgs = 0;
    }
    l->q_records += records;
    l->q_bytes += bytes;
    l->q_msgs += msgs;
    if (l->q_records > g->quota_records) {
        what = "unsolicited records";
        limit = g->quota_records;
    } else if (l->q_bytes > g->quota_bytes) {
        what = "bytes of unsolicited records";
        limit = g->quota_bytes;
    } else if (l->q_msgs > g->quota_msgs) {
        what = "requests";
        limit = g->quota_msgs;
    }
    if (what == NULL) {
        return false;
    }
    snprintf(why, sizeof(why), "over its quota of %llu %s per %llu s", (unsigned long long)limit,
             what, (unsigned long long)(g->quota_window_ms / 1000));
    px_peer_drop(l->peer, why);
    return true;
}

/* ---- The want table ---- */

static size_t
want_bucket(const uint8_t *id)
{
    /* Ids are hashes: their first bytes are as good as any hash of them. */
    return ((size_t)id[0] | (size_t)id[1] << 8) % WANT_BUCKETS;
}

static struct want *
want_find(struct px_gossip *g, const uint8_t *id)
{
    for (struct want *w = g->wants[want_bucket(id)]; w != NULL; w = w->next) {
        if (memcmp(w->id, id, PX_ID_BYTES) == 0) {
            return w;
        }
    }
    return NULL;
}

/* Releases the owner's count of an entry that is no longer outstanding. */
static void
want_release(struct px_gossip *g, struct want *w)
{
    struct px_gossip_link *l;

    if (!w->done && (l = link_by_no(g, w->link)) != NULL && l->st.pending_wants > 0) {
        l->st.pending_wants--;
    }
}

/*
 * May id be asked now? Yes if nobody was asked, or if the peer asked has had it for
 * WANT_WINDOW_MS, has not sent it, and delivered nothing we asked it for in that time
 * (gone, stalled, or not holding it after all). A peer that keeps delivering is working through a
 * backlog of wants: asking a second one would only bring a second copy.
 */
static bool
want_allowed(struct px_gossip *g, const uint8_t *id, uint64_t now)
{
    struct want *w = want_find(g, id);
    struct px_gossip_link *owner;

    if (w == NULL) {
        return true;
    }
    /* Claimed: its record has come and waits for its check or the writer, which under
     * load may take longer than the window. */
    if (w->done || w->claimed || now - w->at < WANT_WINDOW_MS) {
        return false;
    }
    owner = link_by_no(g, w->link);
    return owner == NULL || now - owner->delivered >= WANT_WINDOW_MS;
}

/*
 * Forgets the oldest done entry (it only served to recognise a late copy of a record we
 * have as asked for). false when there is none. Done entries leave the table only here,
 * oldest first, so the FIFO and the buckets agree.
 */
static bool
want_forget_oldest_done(struct px_gossip *g)
{
    struct want *w = g->done_head, **pp;

    if (w == NULL) {
        return false;
    }
    g->done_head = w->done_next;
    if (g->done_head == NULL) {
        g->done_tail = NULL;
    }
    pp = &g->wants[want_bucket(w->id)];
    while (*pp != NULL && *pp != w) {
        pp = &(*pp)->next;
    }
    if (*pp == w) {
        *pp = w->next;
    }
    free(w);
    g->n_wants--;
    return true;
}

/*
 * Records that id is asked from l (want_allowed said yes). false: no room. A full table
 * makes room by forgetting the oldest received id: during a catch-up of thousands of
 * records a second, those would otherwise fill it within a minute and stop every want.
 */
static bool
want_add(struct px_gossip *g, struct px_gossip_link *l, const uint8_t *id, uint64_t now)
{
    struct want *w = want_find(g, id);

    if (l->st.pending_wants >= g->max_pending_wants || (w != NULL && w->done)) {
        return false;
    }
    if (w == NULL) {
        size_t b = want_bucket(id);

        if ((g->n_wants >= WANT_TABLE_MAX && !want_forget_oldest_done(g)) ||
            (w = calloc(1, sizeof(*w))) == NULL) {
            return false;
        }
        memcpy(w->id, id, PX_ID_BYTES);
        w->next = g->wants[b];
        g->wants[b] = w;
        g->n_wants++;
    } else {
        want_release(g, w); /* asked elsewhere too long ago: l takes it over */
    }
    w->link = l->no;
    w->at = now;
    w->done = false;
    w->claimed = false;
    l->st.pending_wants++;
    return true;
}

/* The record id arrived (stored, or already held). */
static void
want_done(struct px_gossip *g, const uint8_t *id)
{
    struct want *w = want_find(g, id);

    if (w != NULL && !w->done) {
        want_release(g, w);
        w->done = true;
        w->at = uv_now(g->loop);
        w->done_next = NULL;
        if (g->done_tail != NULL) {
            g->done_tail->done_next = w;
        } else {
            g->done_head = w;
        }
        g->done_tail = w;
    }
}

/*
 * l answered the want for id with a record that failed a check: the want is over. It is
 * forgotten at once, so the id may be asked again from anyone (an honest peer that holds
 * the genuine record under the same id, when l forged its signature). Keeping it until
 * it expires would let a peer fill the table, which is shared by all links: a member
 * that offers an endless stream of fresh records we refuse (by authors we do not accept,
 * scored 0) would otherwise occupy WANT_TABLE_MAX entries within seconds and stop every
 * want to every peer until they expired. Another link's want for the same id is left
 * alone.
 */
static void
want_failed(struct px_gossip *g, struct px_gossip_link *l, const uint8_t *id)
{
    struct want **pp = &g->wants[want_bucket(id)];

    for (; *pp != NULL; pp = &(*pp)->next) {
        struct want *w = *pp;

        if (memcmp(w->id, id, PX_ID_BYTES) == 0) {
            if (!w->done && w->link == l->no) {
                want_release(g, w);
                *pp = w->next;
                free(w);
                g->n_wants--;
            }
            return;
        }
    }
}

/*
 * Does a record with this id from l answer a want we sent to l that is still outstanding
 * and not answered yet? If so, the want is claimed by this record, so that a second copy
 * from l is not an answer any more. This is what decides whether a record counts against
 * l's quota of unsolicited records.
 */
static bool
want_claim(struct px_gossip *g, struct px_gossip_link *l, const uint8_t *id)
{
    struct want *w = want_find(g, id);

    if (w == NULL || w->done || w->claimed || w->link != l->no) {
        return false;
    }
    w->claimed = true;
    return true;
}

/* Is a want for id outstanding with some peer, and not answered yet? A peer whose want for
 * it was handed to another one (it was slow) may still answer: its copy is not
 * unsolicited. */
static bool
want_outstanding(struct px_gossip *g, const uint8_t *id)
{
    const struct want *w = want_find(g, id);

    return w != NULL && !w->done && !w->claimed;
}

/* Was id asked for (from anyone) recently? A copy from a second peer is not a fault. */
static bool
want_solicited(struct px_gossip *g, const uint8_t *id)
{
    return want_find(g, id) != NULL;
}

/* Forgets expired entries; with link set, every outstanding entry of that link. */
static void
want_sweep(struct px_gossip *g, uint64_t link)
{
    uint64_t now = uv_now(g->loop);

    while (link == 0 && g->done_head != NULL && now - g->done_head->at >= WANT_DONE_MS) {
        want_forget_oldest_done(g);
    }
    for (size_t b = 0; b < WANT_BUCKETS; b++) {
        struct want **pp = &g->wants[b];

        while (*pp != NULL) {
            struct want *w = *pp;
            /* Done entries leave through the FIFO above only. */
            bool drop = !w->done && (link != 0 ? w->link == link : now - w->at >= WANT_EXPIRE_MS);

            if (drop) {
                want_release(g, w);
                *pp = w->next;
                free(w);
                g->n_wants--;
            } else {
                pp = &w->next;
            }
        }
    }
}

/* ---- Offers: ids a peer has (announce, or need from a reconciliation) ---- */

struct offer_job {
    struct px_db_read r;
    struct px_gossip_link *l;
    size_t n;
    int rc;
    bool *missing;
    uint8_t *ids;
    bool from_backlog;
};

static void feed(struct px_gossip_link *l);
static void backlog_add(struct px_gossip_link *l, const uint8_t *ids, size_t n);

static void
offer_work(struct px_store *s, void *arg)
{
    struct offer_job *j = arg;

    j->rc = px_store_missing(s, j->ids, j->n, j->missing);
}

static void
offer_done(void *arg, int rc)
{
    struct offer_job *j = arg;
    struct px_gossip_link *l = j->l;
    struct px_gossip *g = l->g;
    uint64_t now = uv_now(g->loop);
    size_t k = 0;

    if (j->from_backlog) {
        l->feeding = false;
    } else {
        l->offers--;
    }
    if (rc == 0 && j->rc == 0 && l->peer != NULL) {
        /* Compact the ids we ask for to the front of j->ids. */
        for (size_t i = 0; i < j->n; i++) {
            const uint8_t *id = j->ids + i * PX_ID_BYTES;

            if (!j->missing[i] || !want_allowed(g, id, now)) {
                continue;
            }
            if (!want_add(g, l, id, now)) {
                /* No room. What an announce offered waits in the backlog (the ids from
                 * i on are still in place); what the backlog offered is left to the
                 * next reconciliation. */
                if (j->from_backlog) {
                    l->backlog_lost = true;
                } else {
                    size_t m = 0;

                    for (size_t r = i; r < j->n; r++) {
                        if (j->missing[r]) {
                            memmove(j->ids + (i + m) * PX_ID_BYTES, j->ids + r * PX_ID_BYTES,
                                    PX_ID_BYTES);
                            m++;
                        }
                    }
                    backlog_add(l, j->ids + i * PX_ID_BYTES, m);
                }
                break;
            }
            memmove(j->ids + k * PX_ID_BYTES, id, PX_ID_BYTES);
            k++;
        }
        send_ids(l, PX_WIRE_WANT, j->ids, k);
    } else if (rc == 0 && j->rc != 0) {
        px_log_warnx("gossip: cannot look up offered ids: %s", px_strerror(j->rc));
    }
    feed(l);
    free(j->ids);
    free(j->missing);
    free(j);
    link_unref(l);
}

/*
 * ids[0..n) (PX_ID_BYTES each, back to back) are offered by l: ask for what we lack. An
 * offer from the backlog (feed) is the one such job of l, and is not limited by
 * LINK_MAX_OFFERS.
 */
static void
offer(struct px_gossip_link *l, const uint8_t *const *idv, const uint8_t *ids, size_t n,
      bool from_backlog)
{
    struct px_gossip *g = l->g;
    uint64_t now = uv_now(g->loop);
    struct offer_job *j;
    size_t k = 0;

    if (!from_backlog && l->offers >= LINK_MAX_OFFERS) {
        px_log_debug("gossip: peer %s: %zu ids offered while busy; left to anti-entropy", l->label,
                     n);
        return;
    }
    if ((j = calloc(1, sizeof(*j))) == NULL || (j->ids = malloc(n * PX_ID_BYTES + 1)) == NULL ||
        (j->missing = calloc(n + 1, sizeof(bool))) == NULL) {
        abort();
    }
    for (size_t i = 0; i < n; i++) {
        const uint8_t *id = idv != NULL ? idv[i] : ids + i * PX_ID_BYTES;

        if (want_allowed(g, id, now)) {
            memcpy(j->ids + k * PX_ID_BYTES, id, PX_ID_BYTES);
            k++;
        }
    }
    if (k == 0) {
        free(j->ids);
        free(j->missing);
        free(j);
        return;
    }
    j->n = k;
    j->l = l;
    j->from_backlog = from_backlog;
    j->r.fn = offer_work;
    j->r.done = offer_done;
    j->r.arg = j;
    l->refs++;
    if (from_backlog) {
        l->feeding = true;
    } else {
        l->offers++;
    }
    if (px_db_read(g->d->db, &j->r) != 0) {
        offer_done(j, PX_ESHUTDOWN);
    }
}

/* ---- The backlog: what reconciliations found to fetch ---- */

/* Keeps ids[0..n) to ask l for; what does not fit is left to the next reconciliation. */
static void
backlog_add(struct px_gossip_link *l, const uint8_t *ids, size_t n)
{
    size_t fit;

    if (l->backlog == NULL && (l->backlog = malloc(BACKLOG_MAX * PX_ID_BYTES)) == NULL) {
        abort(); /* a fixed-size allocation */
    }
    /* Move what is left to the front only when the tail lacks room: a peer announcing
     * often must not cost a copy of the whole backlog per announce. */
    if (BACKLOG_MAX - l->backlog_n < n && l->backlog_off > 0) {
        l->backlog_n -= l->backlog_off;
        memmove(l->backlog, l->backlog + l->backlog_off * PX_ID_BYTES, l->backlog_n * PX_ID_BYTES);
        l->backlog_off = 0;
    }
    fit = BACKLOG_MAX - l->backlog_n < n ? BACKLOG_MAX - l->backlog_n : n;
    memcpy(l->backlog + l->backlog_n * PX_ID_BYTES, ids, fit * PX_ID_BYTES);
    l->backlog_n += fit;
    if (fit < n) {
        l->backlog_lost = true;
    }
}

/*
 * Asks l for the next part of its backlog once at least half of its pending wants are
 * answered (fewer, larger requests), so that records keep coming while earlier ones are
 * checked and stored. An emptied backlog is freed; if ids were left out on the way, the
 * next reconciliation starts as soon as the wants are all answered.
 */
static void
feed(struct px_gossip_link *l)
{
    struct px_gossip *g = l->g;

    while (l->peer != NULL && !l->feeding && l->backlog_off < l->backlog_n) {
        size_t pending = l->st.pending_wants, room, k, at;

        if (pending >= g->max_pending_wants ||
            (pending > 0 && g->max_pending_wants - pending < g->max_pending_wants / 2)) {
            return;
        }
        room = g->max_pending_wants - pending;
        k = l->backlog_n - l->backlog_off < room ? l->backlog_n - l->backlog_off : room;
        at = l->backlog_off;
        l->backlog_off += k;
        offer(l, NULL, l->backlog + at * PX_ID_BYTES, k, true); /* sets feeding if it asks */
    }
    if (l->backlog != NULL && !l->feeding && l->backlog_off == l->backlog_n) {
        free(l->backlog);
        l->backlog = NULL;
        l->backlog_n = l->backlog_off = 0;
        if (l->backlog_lost) {
            l->backlog_lost = false;
            l->resync = l->outbound; /* only the dialing side reconciles */
        }
    }
}

/* ---- Serving wants ---- */

struct fetch_job {
    struct px_db_read r;
    struct px_gossip_link *l;
    uint8_t *ids;
    size_t n, consumed;
    int rc;
    uint8_t *buf;
    size_t blen, bcap;
    size_t *lens;
    size_t n_recs;
};

static int
fetch_one(void *arg, const uint8_t *id, const uint8_t *raw, size_t len)
{
    struct fetch_job *j = arg;

    if (j->blen + len > j->bcap) {
        size_t cap = j->bcap * 2 > j->blen + len ? j->bcap * 2 : j->blen + len;
        uint8_t *b = realloc(j->buf, cap);

        if (b == NULL) {
            return PX_ENOMEM;
        }
        j->buf = b;
        j->bcap = cap;
    }
    memcpy(j->buf + j->blen, raw, len);
    j->blen += len;
    j->lens[j->n_recs++] = len;
    j->consumed = (size_t)(id - j->ids) / PX_ID_BYTES + 1;
    return j->blen >= FETCH_BUDGET ? 1 : 0;
}

static void
fetch_work(struct px_store *s, void *arg)
{
    struct fetch_job *j = arg;

    j->rc = px_store_fetch_ids(s, j->ids, j->n, fetch_one, j);
    if (j->rc == 0) {
        j->consumed = j->n;
    } else if (j->rc == 1) {
        j->rc = 0; /* the budget is spent: the rest goes back in the queue */
    }
}

static void pump(struct px_gossip_link *l);

static void
send_records(struct px_gossip_link *l, const uint8_t *buf, const size_t *lens, size_t n)
{
    struct px_wire_msg *msg = l->g->msg;
    size_t i = 0, off = 0;

    while (i < n && l->peer != NULL) {
        size_t body = 16;

        msg->type = PX_WIRE_RECORDS;
        msg->n_records = 0;
        while (i < n && msg->n_records < PX_WIRE_MAX_RECORDS &&
               (msg->n_records == 0 || body + lens[i] + 5 <= RECORDS_BODY)) {
            msg->records[msg->n_records] = buf + off;
            msg->record_lens[msg->n_records] = lens[i];
            msg->n_records++;
            body += lens[i] + 5;
            off += lens[i];
            i++;
        }
        l->st.records_sent += msg->n_records;
        px_peer_send(l->peer, msg);
    }
}

static void
fetch_done(void *arg, int rc)
{
    struct fetch_job *j = arg;
    struct px_gossip_link *l = j->l;

    l->fetching = false;
    if (rc == 0 && j->rc == 0 && l->peer != NULL) {
        size_t rest = j->n - j->consumed;

        send_records(l, j->buf, j->lens, j->n_recs);
        /* Ids the budget left over go back to the front of the queue. */
        if (rest > 0 && l->serve_n + rest <= l->g->max_queued_wants) {
            memmove(l->serve + rest * PX_ID_BYTES, l->serve, l->serve_n * PX_ID_BYTES);
            memcpy(l->serve, j->ids + j->consumed * PX_ID_BYTES, rest * PX_ID_BYTES);
            l->serve_n += rest;
        }
    } else if (rc == 0 && j->rc != 0) {
        px_log_warnx("gossip: cannot read records a peer asked for: %s", px_strerror(j->rc));
    }
    free(j->ids);
    free(j->buf);
    free(j->lens);
    free(j);
    pump(l);
    link_unref(l);
}

/* Starts the next fetch for l's queued wants, unless one runs or its output is full. */
static void
pump(struct px_gossip_link *l)
{
    struct fetch_job *j;
    size_t n;

    if (l->peer == NULL || l->fetching || l->serve_n == 0 ||
        px_peer_write_queue(l->peer) > LINK_MAX_QUEUED) {
        return;
    }
    n = l->serve_n > FETCH_IDS ? FETCH_IDS : l->serve_n;
    if ((j = calloc(1, sizeof(*j))) == NULL || (j->ids = malloc(n * PX_ID_BYTES)) == NULL ||
        (j->lens = calloc(n, sizeof(*j->lens))) == NULL) {
        abort();
    }
    memcpy(j->ids, l->serve, n * PX_ID_BYTES);
    memmove(l->serve, l->serve + n * PX_ID_BYTES, (l->serve_n - n) * PX_ID_BYTES);
    l->serve_n -= n;
    j->n = n;
    j->l = l;
    j->r.fn = fetch_work;
    j->r.done = fetch_done;
    j->r.arg = j;
    l->refs++;
    l->fetching = true;
    if (px_db_read(l->g->d->db, &j->r) != 0) {
        fetch_done(j, PX_ESHUTDOWN);
    }
}

static void
on_want(struct px_gossip_link *l, const struct px_wire_msg *msg)
{
    size_t cap = l->g->max_queued_wants;

    if (l->serve_n + msg->n_ids > cap) {
        px_peer_drop(l->peer, "too many outstanding wants");
        return;
    }
    if (l->serve == NULL && (l->serve = malloc(cap * PX_ID_BYTES)) == NULL) {
        abort();
    }
    for (uint32_t i = 0; i < msg->n_ids; i++) {
        memcpy(l->serve + (l->serve_n + i) * PX_ID_BYTES, msg->ids[i], PX_ID_BYTES);
    }
    l->serve_n += msg->n_ids;
    pump(l);
}

/* ---- Receiving records ---- */

struct check_job {
    struct px_db_read r;
    struct px_db_write w;
    struct px_gossip_link *l;
    const struct px_policy *policy;
    uint64_t now;
    size_t n;
    uint8_t *buf;
    int *verdict;
    struct px_store_item *items;
    struct px_store_item **itemps;
};

static void
check_work(struct px_store *s, void *arg)
{
    struct check_job *j = arg;

    for (size_t i = 0; i < j->n; i++) {
        struct px_store_item *it = &j->items[i];
        bool missing = true;
        int rc;

        /* The id first: a record we hold costs a lookup, not a signature check. */
        if ((rc = px_record_decode(it->raw, it->len, &it->rec, NULL)) != 0) {
            j->verdict[i] = rc;
            continue;
        }
        if (px_store_missing(s, it->rec.id, 1, &missing) == 0 && !missing) {
            j->verdict[i] = PX_EEXIST;
            continue;
        }
        j->verdict[i] = px_ingest_check(j->policy, it->raw, it->len, j->now, &it->rec, NULL);
    }
}

static void
check_free(struct check_job *j)
{
    struct px_gossip_link *l = j->l;

    l->checks--;
    free(j->buf);
    free(j->verdict);
    free(j->items);
    free(j->itemps);
    free(j);
    link_unref(l);
}

static void
check_stored(void *arg, int rc)
{
    struct check_job *j = arg;
    struct px_gossip_link *l = j->l;
    unsigned authority = 0;

    for (size_t i = 0; i < j->w.n; i++) {
        struct px_store_item *it = j->itemps[i];

        if (rc != 0) {
            /* Not stored (a full disk): the wants are over, and the ids may be asked again
             * (from anyone) instead of holding l's pending wants until they expire. */
            want_failed(l->g, l, it->rec.id);
            continue;
        }
        if (it->result == 0) {
            l->st.records_received++;
        } else if (it->result == PX_EEXIST) {
            l->st.duplicates++;
        } else if (it->result == PX_EPERM || it->result == PX_EVALUE) {
            authority++;
        }
        want_done(l->g, it->rec.id);
    }
    if (rc != 0) {
        px_log_warnx("gossip: cannot store records from peer %s: %s", l->label, px_strerror(rc));
    }
    if (authority > 0) {
        fault(l, F_AUTHORITY, authority);
    }
    feed(l); /* its wants are answered: ask for more */
    check_free(j);
}

static enum fault
classify(int rc)
{
    switch (rc) {
    case PX_EBADSIG:
        return F_BADSIG;
    case PX_EFUTURE:
        return F_FUTURE;
    case PX_EPERM:
        return F_AUTHOR;
    default:
        return F_MALFORMED;
    }
}

static void
check_done(void *arg, int rc)
{
    struct check_job *j = arg;
    struct px_gossip_link *l = j->l;
    struct px_gossip *g = l->g;
    unsigned faults[F_N] = {0};
    uint64_t unasked = 0, unasked_bytes = 0;
    size_t n_ok = 0;

    if (rc != 0 || l->peer == NULL) {
        check_free(j);
        return;
    }
    for (size_t i = 0; i < j->n; i++) {
        struct px_store_item *it = &j->items[i];
        /* A record that did not decode has no id we can trust: it answers nothing. */
        bool decoded = j->verdict[i] == 0 || j->verdict[i] == PX_EEXIST ||
                       classify(j->verdict[i]) != F_MALFORMED;

        if (!decoded || (!want_claim(g, l, it->rec.id) && !want_outstanding(g, it->rec.id))) {
            unasked++;
            unasked_bytes += it->len;
        } else {
            l->delivered = uv_now(g->loop);
        }
        if (j->verdict[i] == PX_EEXIST) {
            l->st.duplicates++;
            want_done(g, it->rec.id);
        } else if (j->verdict[i] != 0) {
            enum fault f = classify(j->verdict[i]);

            faults[f]++;
            if (f != F_MALFORMED) { /* decoded, so its id is known */
                want_failed(g, l, it->rec.id);
            }
        } else if (!want_solicited(g, it->rec.id)) {
            faults[F_UNSOLICITED]++;
        } else {
            it->local = false;
            it->origin = l->no;
            j->itemps[n_ok++] = it;
        }
    }
    for (int f = 0; f < F_N; f++) {
        if (faults[f] > 0) {
            fault(l, (enum fault)f, faults[f]);
        }
    }
    /*
     * The quota of unsolicited records is charged once the ids are known, after the check.
     * Until then a peer's records cost us at most LINK_MAX_CHECKS batches in flight.
     */
    if (l->peer != NULL && unasked > 0) {
        over_quota(l, unasked, unasked_bytes, 0);
    }
    /* A peer dropped for this batch gets nothing of it stored. */
    if (n_ok == 0 || l->peer == NULL) {
        check_free(j);
        return;
    }
    j->w.items = j->itemps;
    j->w.n = n_ok;
    j->w.cb = check_stored;
    j->w.arg = j;
    if (px_db_write(g->d->db, &j->w) != 0) {
        check_free(j);
    }
}

static void
on_records(struct px_gossip_link *l, const struct px_wire_msg *msg)
{
    struct px_gossip *g = l->g;
    struct check_job *j;
    size_t bytes = 0, off = 0;

    for (uint32_t i = 0; i < msg->n_records; i++) {
        bytes += msg->record_lens[i];
    }
    /* Records are charged in check_done, once we know which ones we asked for; an empty
     * records message answers nothing and counts as a request. */
    if (msg->n_records == 0) {
        over_quota(l, 0, 0, 1);
        return;
    }
    if (l->checks >= LINK_MAX_CHECKS) {
        px_peer_drop(l->peer, "too many records batches in flight");
        return;
    }
    if ((j = calloc(1, sizeof(*j))) == NULL || (j->buf = malloc(bytes > 0 ? bytes : 1)) == NULL ||
        (j->verdict = calloc(msg->n_records, sizeof(int))) == NULL ||
        (j->items = calloc(msg->n_records, sizeof(*j->items))) == NULL ||
        (j->itemps = calloc(msg->n_records, sizeof(*j->itemps))) == NULL) {
        abort(); /* bounded by PX_WIRE_MAX_MSG */
    }
    for (uint32_t i = 0; i < msg->n_records; i++) {
        memcpy(j->buf + off, msg->records[i], msg->record_lens[i]);
        j->items[i].raw = j->buf + off;
        j->items[i].len = msg->record_lens[i];
        off += msg->record_lens[i];
    }
    j->n = msg->n_records;
    j->l = l;
    j->policy = &g->d->policy;
    j->now = px_daemon_now_ms();
    j->r.fn = check_work;
    j->r.done = check_done;
    j->r.arg = j;
    l->refs++;
    l->checks++;
    if (px_db_read(g->d->db, &j->r) != 0) {
        check_done(j, PX_ESHUTDOWN);
    }
}

/* ---- Anti-entropy ---- */

static void
send_neg(struct px_gossip_link *l, const uint8_t *p, size_t len)
{
    struct px_wire_msg *msg = l->g->msg;

    msg->type = PX_WIRE_RECONCILE;
    msg->neg = p;
    msg->neg_len = len;
    px_peer_send(l->peer, msg);
}

static void
sync_end(struct px_gossip_link *l)
{
    px_negentropy_free(l->ne);
    l->ne = NULL;
    l->next_sync = uv_now(l->g->loop) + l->g->sync_interval_ms;
}

/* ---- The reconciliation index ---- */

static int
index_add(void *arg, uint64_t created, const uint8_t *id)
{
    return px_negentropy_storage_insert(arg, created, id);
}

/* Ends every reconciliation (they borrow the index), then frees the index and its file. */
static void
index_drop(struct px_gossip *g)
{
    for (struct px_gossip_link *l = g->links; l != NULL; l = l->next) {
        if (l->ne != NULL) {
            sync_end(l);
        }
    }
    px_negentropy_storage_free(g->index);
    g->index = NULL;
    px_pagefile_close(g->index_file);
    g->index_file = NULL;
}

/*
 * Builds g->index from one read of (created, id) of every stored record; the commit hook
 * keeps it current from then on. Paged, its chunks live in a scratch file in index_dir and
 * index_cache_pages of them in memory, so that the daemon's memory does not grow with its
 * store (~48 bytes a record in memory otherwise). A reconciliation touches a few pages per
 * range, and records arriving in time order touch the newest. When that file cannot be
 * made, or paged is false, the index is all in memory. On failure g->index is NULL and
 * anti-entropy is off.
 */
static int index_failed(struct px_gossip *g, int rc);

static int
index_build(struct px_gossip *g, bool paged)
{
    char path[PX_CONFIG_MAX_PATH + 32], err[256];
    struct px_negentropy_pager pager = {px_pagefile_write, px_pagefile_read, NULL};
    struct px_store *s = NULL;
    int rc;

    if (paged && g->index_cache_pages > 0 &&
        px_pagefile_open(g->index_dir, &g->index_file, err, sizeof(err)) != 0) {
        px_log_warnx("gossip: %s; the reconciliation index is kept in memory", err);
    }
    pager.ctx = g->index_file;
    snprintf(path, sizeof(path), "%s/store.db", g->data_dir);
    /* Sealed while empty, then the records in index order: each is an append to the newest
     * chunk (O(log n)), and no array of every item is ever held, as it would be to seal. */
    if ((rc = px_negentropy_storage_new(&g->index)) == 0 &&
        (g->index_file == NULL ||
         (rc = px_negentropy_storage_set_pager(g->index, &pager, g->index_cache_pages)) == 0) &&
        (rc = px_negentropy_storage_seal(g->index)) == 0 &&
        (rc = px_store_open(path, &s, err, sizeof(err))) == 0) {
        rc = px_store_index(s, index_add, g->index);
    }
    px_store_close(s);
    if (rc != 0 && g->index != NULL && px_negentropy_storage_failed(g->index)) {
        return index_failed(g, rc);
    }
    if (rc != 0) {
        px_log_warnx("gossip: cannot build the reconciliation index (%s); anti-entropy is off",
                     px_strerror(rc));
        index_drop(g);
        return rc;
    }
    px_log_info("gossip: reconciliation index of %zu records (%zu bytes in memory, %zu in %s)",
                px_negentropy_storage_size(g->index), px_negentropy_storage_memory(g->index),
                px_negentropy_storage_paged_bytes(g->index),
                g->index_file != NULL ? "its page file" : "no page file");
    return 0;
}

/* The index's page file failed (a full disk, an I/O error): the index moves to memory,
 * rebuilt from the store. 0, or why anti-entropy is now off. */
static int
index_failed(struct px_gossip *g, int rc)
{
    px_log_error("gossip: the reconciliation index's page file failed (%s); rebuilding the "
                 "index in memory",
                 px_strerror(rc));
    index_drop(g);
    return index_build(g, false);
}

static void
sync_start(struct px_gossip_link *l)
{
    struct px_gossip *g = l->g;
    uint8_t *m = NULL;
    size_t len = 0;
    int rc;

    if (g->index == NULL || !l->outbound || l->ne != NULL || l->peer == NULL) {
        return;
    }
    if ((rc = px_negentropy_new(g->index, NEG_FRAME, &l->ne)) != 0 ||
        (rc = px_negentropy_initiate(l->ne, &m, &len)) != 0) {
        px_log_warnx("gossip: cannot start a reconciliation: %s", px_strerror(rc));
        sync_end(l);
        if (px_negentropy_storage_failed(g->index)) {
            (void)index_failed(g, rc);
        }
        return;
    }
    l->sync_started = uv_now(g->loop);
    l->sync_have = l->sync_need = 0;
    l->resync = false;
    px_log_debug("gossip: peer %s: reconciling %zu records", l->label,
                 px_negentropy_storage_size(g->index));
    send_neg(l, m, len);
    free(m);
}

/* The server's reply to one reconcile message, from a fresh reconciler (they keep no state
 * between messages); on failure, why says what was wrong with it. */
static int
respond(struct px_gossip *g, const struct px_wire_msg *msg, uint8_t **reply, size_t *rlen,
        char *why, size_t why_len)
{
    struct px_negentropy *ne = NULL;
    int rc;

    if ((rc = px_negentropy_new(g->index, NEG_FRAME, &ne)) == 0) {
        rc = px_negentropy_respond(ne, msg->neg, msg->neg_len, reply, rlen);
    }
    if (rc != 0) {
        snprintf(why, why_len, "bad reconcile message: %s: %s", px_err_name(rc),
                 ne != NULL ? px_negentropy_reason(ne) : "");
    }
    px_negentropy_free(ne);
    return rc;
}

static void
on_reconcile(struct px_gossip_link *l, const struct px_wire_msg *msg)
{
    struct px_gossip *g = l->g;
    char why[160];
    int rc;

    if (l->outbound) {
        struct px_negentropy_result res;

        if (l->ne == NULL) {
            px_log_debug("gossip: peer %s: a reconcile reply after the reconciliation ended",
                         l->label);
            return;
        }
        if ((rc = px_negentropy_reconcile(l->ne, msg->neg, msg->neg_len, &res)) != 0) {
            snprintf(why, sizeof(why), "bad reconcile message: %s: %s", px_err_name(rc),
                     px_negentropy_reason(l->ne));
            sync_end(l);
            if (!px_negentropy_storage_failed(g->index)) {
                px_peer_drop(l->peer, why);
            } else if (index_failed(g, rc) == 0) {
                sync_start(l); /* ours, not the peer's: start again on the rebuilt index */
            }
            return;
        }
        l->sync_have += res.have_n;
        l->sync_need += res.need_n;
        /* What only we have: announce it, and the peer asks for what it wants. */
        send_ids(l, PX_WIRE_ANNOUNCE, res.have, res.have_n);
        if (res.need_n > 0 && l->peer != NULL) {
            backlog_add(l, res.need, res.need_n);
            feed(l);
        }
        if (l->peer != NULL && res.msg != NULL) {
            send_neg(l, res.msg, res.msg_len);
        } else if (l->peer != NULL) {
            l->st.last_sync_ms = px_daemon_now_ms();
            px_log_info("gossip: peer %s: reconciled in %llu ms: %zu to offer, %zu to fetch",
                        l->label, (unsigned long long)(uv_now(g->loop) - l->sync_started),
                        l->sync_have, l->sync_need);
            sync_end(l);
        }
        px_negentropy_result_fini(&res);
        return;
    }
    /* Server role. */
    if (g->index == NULL) {
        px_log_debug("gossip: peer %s: reconcile without an index; ignored", l->label);
        return;
    }
    {
        uint8_t *reply = NULL;
        size_t rlen = 0;

        rc = respond(g, msg, &reply, &rlen, why, sizeof(why));
        if (rc != 0 && g->index != NULL && px_negentropy_storage_failed(g->index)) {
            /* Ours, not the peer's: answer from the rebuilt index. */
            if (index_failed(g, rc) != 0) {
                return;
            }
            rc = respond(g, msg, &reply, &rlen, why, sizeof(why));
        }
        if (rc != 0) {
            px_peer_drop(l->peer, why);
            return;
        }
        l->st.last_sync_ms = px_daemon_now_ms();
        send_neg(l, reply, rlen);
        free(reply);
    }
}

/* ---- Commits ---- */

/* Sends l the ids gathered for it. */
static void
announce_flush(struct px_gossip_link *l)
{
    if (l->ann_n > 0 && l->peer != NULL) {
        send_ids(l, PX_WIRE_ANNOUNCE, l->ann, l->ann_n);
    }
    l->ann_n = 0;
}

static void
on_announce_timer(uv_timer_t *t)
{
    struct px_gossip *g = t->data;
    struct px_gossip_link *l, *next;

    g->ann_armed = false;
    for (l = g->links; l != NULL; l = next) {
        next = l->next;
        announce_flush(l);
    }
}

static void
on_items(void *arg, struct px_store_item *const *items, size_t n)
{
    struct px_gossip *g = arg;
    struct px_gossip_link *l, *next;

    for (size_t i = 0; i < n; i++) {
        const struct px_store_item *it = items[i];
        int rc = 0;

        if (it->result == 0 || it->result == PX_EEXIST) {
            want_done(g, it->rec.id);
        }
        if (g->index != NULL && it->result == 0) {
            rc = px_negentropy_storage_insert(g->index, it->rec.created, it->rec.id);
        }
        if (g->index != NULL && it->purged && rc == 0) {
            rc = px_negentropy_storage_erase(g->index, it->purged_created, it->purged_id);
        }
        if (rc != 0 && rc != PX_EEXIST && rc != PX_ENOTFOUND &&
            px_negentropy_storage_failed(g->index)) {
            /* Rebuilt from the store, which already holds this commit's items. */
            (void)index_failed(g, rc);
        } else if (rc != 0 && rc != PX_EEXIST && rc != PX_ENOTFOUND) {
            /* The index would now be wrong: turn anti-entropy off rather than lie. */
            px_log_error("gossip: the reconciliation index cannot follow the store (%s); "
                         "anti-entropy is off until restart",
                         px_strerror(rc));
            index_drop(g);
        }
    }
    /* Push: each new id goes to every link but the one it came from, gathered for up to
     * ANNOUNCE_MS so that a stream of small commits (records pushed one at a time by many
     * peers) costs each link one message per interval, not one per commit. */
    for (l = g->links; l != NULL; l = next) {
        next = l->next;
        for (size_t i = 0; i < n && l->peer != NULL; i++) {
            if (items[i]->result != 0 || items[i]->origin == l->no) {
                continue;
            }
            if (l->ann == NULL && (l->ann = malloc(PX_WIRE_MAX_IDS * PX_ID_BYTES)) == NULL) {
                abort(); /* a fixed-size allocation */
            }
            memcpy(l->ann + l->ann_n * PX_ID_BYTES, items[i]->rec.id, PX_ID_BYTES);
            if (++l->ann_n == PX_WIRE_MAX_IDS) {
                announce_flush(l);
            }
        }
        if (l->ann_n > 0 && !g->ann_armed && g->ann_init) {
            g->ann_armed = true;
            uv_timer_start(&g->ann_timer, on_announce_timer, ANNOUNCE_MS, 0);
        }
    }
}

/* ---- Timer ---- */

static void
gossip_on_tick(uv_timer_t *t)
{
    struct px_gossip *g = t->data;
    uint64_t now = uv_now(g->loop);
    struct px_gossip_link *l, *next;

    bury(g);
    want_sweep(g, 0);
    for (l = g->links; l != NULL; l = next) {
        next = l->next;
        if (l->score > 0) {
            l->score--;
        }
        if (l->ne != NULL && now - l->sync_started >= SYNC_TIMEOUT_MS) {
            px_log_warnx("gossip: peer %s: reconciliation unanswered after %u s; abandoned",
                         l->label, SYNC_TIMEOUT_MS / 1000);
            sync_end(l);
        } else if (l->ne == NULL &&
                   (now >= l->next_sync || (l->resync && l->st.pending_wants == 0))) {
            sync_start(l);
        }
        feed(l);
        pump(l);
    }
}

/* ---- Public ---- */

int
px_gossip_new(struct px_daemon *d, const struct px_config *cfg, struct px_gossip **out)
{
    struct px_gossip *g = calloc(1, sizeof(*g));

    *out = NULL;
    if (g == NULL || (g->msg = calloc(1, sizeof(*g->msg))) == NULL) {
        free(g);
        return PX_ENOMEM;
    }
    g->d = d;
    g->loop = d->loop;
    g->sync_interval_ms = (uint64_t)cfg->sync_interval_s * 1000;
    g->quota_window_ms = (uint64_t)cfg->quota_interval_s * 1000;
    g->quota_records = cfg->quota_records;
    g->quota_bytes = cfg->quota_bytes;
    g->quota_msgs = cfg->quota_messages;
    g->max_pending_wants = cfg->max_pending_wants;
    g->max_queued_wants = cfg->max_queued_wants;
    snprintf(g->data_dir, sizeof(g->data_dir), "%s", cfg->data_dir);
    snprintf(g->index_dir, sizeof(g->index_dir), "%s",
             cfg->index_dir[0] != '\0' ? cfg->index_dir : cfg->data_dir);
    g->index_cache_pages = cfg->index_cache_pages;
    (void)index_build(g, true);
    uv_timer_init(g->loop, &g->ann_timer);
    g->ann_timer.data = g;
    g->ann_init = true;
    uv_timer_init(g->loop, &g->tick);
    g->tick.data = g;
    g->tick_init = true;
    uv_timer_start(&g->tick, gossip_on_tick, GOSSIP_TICK_MS, GOSSIP_TICK_MS);
    px_db_on_items(d->db, on_items, g);
    *out = g;
    return 0;
}

static void
tick_on_close(uv_handle_t *h)
{
    (void)h;
}

void
px_gossip_stop(struct px_gossip *g)
{
    if (g != NULL && g->ann_init) {
        g->ann_init = false;
        uv_close((uv_handle_t *)&g->ann_timer, tick_on_close);
    }
    if (g != NULL && g->tick_init) {
        g->tick_init = false;
        uv_close((uv_handle_t *)&g->tick, tick_on_close);
    }
}

void
px_gossip_free(struct px_gossip *g)
{
    if (g == NULL) {
        return;
    }
    bury(g);
    for (size_t b = 0; b < WANT_BUCKETS; b++) {
        while (g->wants[b] != NULL) {
            struct want *w = g->wants[b];

            g->wants[b] = w->next;
            free(w);
        }
    }
    px_negentropy_storage_free(g->index);
    px_pagefile_close(g->index_file);
    free(g->msg);
    free(g);
}

struct px_gossip_link *
px_gossip_link_up(struct px_gossip *g, struct px_peer *p, bool outbound, const char *label)
{
    struct px_gossip_link *l = calloc(1, sizeof(*l));

    if (l == NULL) {
        abort();
    }
    l->g = g;
    l->peer = p;
    l->refs = 1; /* the peer's */
    l->no = ++g->next_no;
    l->outbound = outbound;
    snprintf(l->label, sizeof(l->label), "%s", label);
    l->quota_start = uv_now(g->loop);
    l->next = g->links;
    if (g->links != NULL) {
        g->links->prev = l;
    }
    g->links = l;
    /* The dialing side reconciles at once: a node back from a stop catches up now. */
    sync_start(l);
    return l;
}

void
px_gossip_link_down(struct px_gossip_link *l)
{
    struct px_gossip *g = l->g;

    if (l->peer == NULL) {
        return;
    }
    /* Ids asked from it may now be asked from others. */
    want_sweep(g, l->no);
    l->st.pending_wants = 0;
    l->peer = NULL;
    if (l->prev != NULL) {
        l->prev->next = l->next;
    } else {
        g->links = l->next;
    }
    if (l->next != NULL) {
        l->next->prev = l->prev;
    }
    l->prev = l->next = NULL;
    px_negentropy_free(l->ne);
    l->ne = NULL;
    free(l->serve);
    l->serve = NULL;
    l->serve_n = 0;
    l->dead_next = g->dead;
    g->dead = l;
}

void
px_gossip_recv(struct px_gossip_link *l, const struct px_wire_msg *msg)
{
    if (l->peer == NULL) {
        return;
    }
    if (msg->type != PX_WIRE_RECORDS && over_quota(l, 0, 0, 1)) {
        return;
    }
    switch (msg->type) {
    case PX_WIRE_ANNOUNCE:
        offer(l, msg->ids, NULL, msg->n_ids, false);
        break;
    case PX_WIRE_WANT:
        on_want(l, msg);
        break;
    case PX_WIRE_RECORDS:
        on_records(l, msg);
        break;
    case PX_WIRE_RECONCILE:
        on_reconcile(l, msg);
        break;
    default:
        break;
    }
}

void
px_gossip_link_writable(struct px_gossip_link *l)
{
    pump(l);
}

void
px_gossip_link_stats(const struct px_gossip_link *l, struct px_gossip_link_stats *st)
{
    *st = l->st;
}
