/* SPDX-License-Identifier: MIT */
/* bench_loopback.c - two real peer links over loopback TCP; see bench_loopback.h. */
#include "bench_loopback.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>
#include <uv.h>

#include "bench_corpus.h"
#include "daemon/config.h"
#include "daemon/daemon.h"
#include "daemon/log.h"
#include "daemon/peer.h"
#include "protocol/boxstream.h"
#include "protocol/err.h"
#include "protocol/wire.h"

#define LB_SEED    UINT64_C(0x6c6f6f706261636b)
#define LB_RECORDS PX_WIRE_MAX_RECORDS /* records in one message, as gossip.c packs them */
/* gossip.c's limits for one records message and for serving wants (RECORDS_BODY,
 * LINK_MAX_QUEUED): it sends while the connection has at most this much unsent. */
#define LB_RECORDS_BODY (PX_WIRE_MAX_MSG - 64)
#define LB_MAX_QUEUED   (2u << 20)
#define LB_UP_MS        10000 /* handshake and hellos */
#define LB_RUN_MS       60000 /* one run, plus LB_MSG_MS a message */
#define LB_MSG_MS       1000
#define LB_STOP_MS      10000 /* bye, goodbye, close grace (2 s) and the loops ending */

enum { LB_SENDER, LB_RECEIVER, LB_ENDS };

struct lb_end {
    struct bench_loopback *lb;
    const char *role;
    uv_loop_t loop;
    uv_async_t wake;
    struct px_daemon d;
    struct px_config *cfg; /* about 110 KiB: on the heap */
    struct px_peer_mgr *mgr;
    struct px_peer *peer; /* the link's connection, from up to down (loop thread) */
    pthread_t thread;
    bool loop_init, thread_live, stopping;
    int loop_rc; /* uv_loop_close's result, once the thread has ended */
};

struct bench_loopback {
    struct lb_end ends[LB_ENDS];
    struct bench_corpus *corpus;
    struct px_wire_msg *msg; /* the records message: read by the sender's loop */
    size_t payload;          /* record bytes in it */
    uint8_t *plain;          /* the message encoded, for the baseline */
    size_t plain_len;
    uint8_t *sealed, *opened; /* one chunk each, for the baseline */
    uint8_t key[32], nonce[24];
    uint64_t sent; /* the sender's loop only */

    pthread_mutex_t mu;
    pthread_cond_t cv;
    /* Under mu. */
    unsigned links_up;
    unsigned loops_done;
    uint64_t goal;     /* messages the sender is to have sent since the start */
    uint64_t received; /* records messages the receiver has decoded and checked */
    bool stop;
    bool failed;
    char why[200];
};

/* ---- Shared state ---- */

/* Records the first failure (under mu) and wakes the main thread. */
static void
fail_locked(struct bench_loopback *lb, const char *fmt, ...)
{
    va_list ap;

    if (!lb->failed) {
        lb->failed = true;
        va_start(ap, fmt);
        vsnprintf(lb->why, sizeof(lb->why), fmt, ap);
        va_end(ap);
    }
    pthread_cond_broadcast(&lb->cv);
}

static struct timespec
deadline_in(uint64_t ms)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += (time_t)(ms / 1000);
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

/* Waits on cv (mu held) until a wake-up or the deadline; false once the deadline passed. */
static bool
wait_locked(struct bench_loopback *lb, const struct timespec *deadline)
{
    return pthread_cond_timedwait(&lb->cv, &lb->mu, deadline) != ETIMEDOUT;
}

/* ---- The replication layer in place of gossip.c (on each end's loop) ---- */

static struct lb_end *
end_of(const struct px_gossip_link *l)
{
    return (struct lb_end *)(void *)(uintptr_t)(const void *)l;
}

/* Sends records messages while the goal is ahead and the output has room (gossip.c pump). */
static void
sender_pump(struct lb_end *e)
{
    struct bench_loopback *lb = e->lb;
    uint64_t goal;

    pthread_mutex_lock(&lb->mu);
    goal = lb->goal;
    pthread_mutex_unlock(&lb->mu);
    while (e->peer != NULL && lb->sent < goal && px_peer_write_queue(e->peer) <= LB_MAX_QUEUED) {
        lb->sent++;
        px_peer_send(e->peer, lb->msg);
    }
}

static struct px_gossip_link *
link_up(void *arg, struct px_peer *p, bool outbound, const char *label)
{
    struct lb_end *e = arg;
    struct bench_loopback *lb = e->lb;

    (void)outbound;
    (void)label;
    pthread_mutex_lock(&lb->mu);
    if (e->peer != NULL) {
        fail_locked(lb, "%s: a second link", e->role);
        pthread_mutex_unlock(&lb->mu);
        return NULL;
    }
    e->peer = p;
    lb->links_up++;
    pthread_cond_broadcast(&lb->cv);
    pthread_mutex_unlock(&lb->mu);
    return (struct px_gossip_link *)(void *)e;
}

static void
link_down(struct px_gossip_link *l)
{
    struct lb_end *e = end_of(l);
    struct bench_loopback *lb = e->lb;

    e->peer = NULL;
    pthread_mutex_lock(&lb->mu);
    if (!lb->stop) {
        fail_locked(lb, "%s: the link went down", e->role);
    }
    pthread_mutex_unlock(&lb->mu);
}

/* Checks what peer.c decoded: the whole records message, each record's length and bytes. */
static void
link_recv(struct px_gossip_link *l, const struct px_wire_msg *msg)
{
    struct lb_end *e = end_of(l);
    struct bench_loopback *lb = e->lb;
    const struct px_wire_msg *want = lb->msg;
    bool ok = e == &lb->ends[LB_RECEIVER] && msg->type == PX_WIRE_RECORDS &&
              msg->n_records == want->n_records;

    for (uint32_t i = 0; ok && i < msg->n_records; i++) {
        ok = msg->record_lens[i] == want->record_lens[i];
    }
    /* The bytes of one record a message, so a mix-up would show, at little cost. */
    if (ok) {
        uint32_t i = (uint32_t)(lb->received % msg->n_records);

        ok = memcmp(msg->records[i], want->records[i], msg->record_lens[i]) == 0;
    }
    pthread_mutex_lock(&lb->mu);
    if (!ok) {
        fail_locked(lb, "%s: an unexpected %s message", e->role, px_wire_type_name(msg->type));
    } else if (++lb->received >= lb->goal) {
        pthread_cond_broadcast(&lb->cv);
    }
    pthread_mutex_unlock(&lb->mu);
}

static void
link_writable(struct px_gossip_link *l)
{
    struct lb_end *e = end_of(l);

    if (e == &e->lb->ends[LB_SENDER]) {
        sender_pump(e);
    }
}

static void
link_stats(const struct px_gossip_link *l, struct px_gossip_link_stats *st)
{
    (void)l;
    memset(st, 0, sizeof(*st));
}

/* ---- The loops ---- */

static void
end_on_mgr_closed(void *arg)
{
    struct lb_end *e = arg;

    e->mgr = NULL;
}

static void
end_on_wake(uv_async_t *a)
{
    struct lb_end *e = a->data;
    struct bench_loopback *lb = e->lb;
    bool stop;

    pthread_mutex_lock(&lb->mu);
    stop = lb->stop;
    pthread_mutex_unlock(&lb->mu);
    if (stop) {
        if (!e->stopping) {
            e->stopping = true;
            uv_close((uv_handle_t *)&e->wake, NULL);
            px_peer_close(e->mgr, end_on_mgr_closed, e);
        }
    } else if (e == &lb->ends[LB_SENDER]) {
        sender_pump(e);
    }
}

static void *
end_thread(void *arg)
{
    struct lb_end *e = arg;
    struct bench_loopback *lb = e->lb;

    uv_run(&e->loop, UV_RUN_DEFAULT);
    e->loop_rc = uv_loop_close(&e->loop);
    pthread_mutex_lock(&lb->mu);
    lb->loops_done++;
    pthread_cond_broadcast(&lb->cv);
    pthread_mutex_unlock(&lb->mu);
    return NULL;
}

/* Prepares one end: loop, wake-up handle, identity and config (not yet started). */
static int
end_init(struct bench_loopback *lb, struct lb_end *e, const char *role, uint8_t seed_byte)
{
    uint8_t seed[32];
    int rc;

    e->lb = lb;
    e->role = role;
    if ((e->cfg = calloc(1, sizeof(*e->cfg))) == NULL) {
        fprintf(stderr, "praxis-bench: out of memory\n");
        return -1;
    }
    px_config_defaults(e->cfg);
    snprintf(e->cfg->name, sizeof(e->cfg->name), "bench-%s", role);
    memset(seed, seed_byte, sizeof(seed));
    px_identity_from_seed(&e->d.identity, seed);
    if ((rc = uv_loop_init(&e->loop)) != 0) {
        fprintf(stderr, "praxis-bench: loopback: uv_loop_init: %s\n", uv_strerror(rc));
        return -1;
    }
    e->loop_init = true;
    e->d.loop = &e->loop;
    e->wake.data = e;
    if ((rc = uv_async_init(&e->loop, &e->wake, end_on_wake)) != 0) {
        fprintf(stderr, "praxis-bench: loopback: uv_async_init: %s\n", uv_strerror(rc));
        uv_loop_close(&e->loop);
        e->loop_init = false;
        return -1;
    }
    return 0;
}

static int
end_start(struct lb_end *e)
{
    const struct px_peer_links links = {
        .up = link_up,
        .down = link_down,
        .recv = link_recv,
        .writable = link_writable,
        .stats = link_stats,
        .arg = e,
    };
    char err[256];
    int rc;

    if ((rc = px_peer_start_with(&e->d, e->cfg, &links, &e->mgr, err, sizeof(err))) != 0) {
        fprintf(stderr, "praxis-bench: loopback %s: %s\n", e->role, err);
        return -1;
    }
    return 0;
}

/* ---- The records message ---- */

static int
make_message(struct bench_loopback *lb)
{
    struct px_wire_msg *msg;
    size_t body = 16;
    int rc;

    if ((lb->corpus = bench_corpus_new(LB_SEED, LB_RECORDS)) == NULL) {
        return -1;
    }
    if ((msg = lb->msg = calloc(1, sizeof(*lb->msg))) == NULL ||
        (lb->plain = malloc(4 + (size_t)PX_WIRE_MAX_MSG)) == NULL ||
        (lb->sealed = malloc(PX_BOXSTREAM_MAX_BODY + crypto_secretbox_MACBYTES)) == NULL ||
        (lb->opened = malloc(PX_BOXSTREAM_MAX_BODY)) == NULL) {
        fprintf(stderr, "praxis-bench: out of memory\n");
        return -1;
    }
    /* gossip.c's packing: records while the body stays under RECORDS_BODY. */
    msg->type = PX_WIRE_RECORDS;
    for (size_t i = 0;
         i < lb->corpus->n && msg->n_records < PX_WIRE_MAX_RECORDS &&
         (msg->n_records == 0 || body + lb->corpus->docs[i].len + 5 <= LB_RECORDS_BODY);
         i++) {
        msg->records[msg->n_records] = lb->corpus->docs[i].raw;
        msg->record_lens[msg->n_records] = lb->corpus->docs[i].len;
        msg->n_records++;
        body += lb->corpus->docs[i].len + 5;
        lb->payload += lb->corpus->docs[i].len;
    }
    if ((rc = px_wire_encode(msg, lb->plain, 4 + (size_t)PX_WIRE_MAX_MSG, &lb->plain_len)) != 0) {
        fprintf(stderr, "praxis-bench: loopback: cannot encode the records: %s\n", px_strerror(rc));
        return -1;
    }
    memset(lb->key, 0x6c, sizeof(lb->key));
    memset(lb->nonce, 0x07, sizeof(lb->nonce));
    return 0;
}

/* ---- Public ---- */

struct bench_loopback *
bench_loopback_new(void)
{
    struct bench_loopback *lb = calloc(1, sizeof(*lb));
    struct lb_end *snd, *rcv;
    struct timespec deadline;
    pthread_condattr_t ca;
    uint16_t port;

    if (lb == NULL) {
        fprintf(stderr, "praxis-bench: out of memory\n");
        return NULL;
    }
    pthread_mutex_init(&lb->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&lb->cv, &ca);
    pthread_condattr_destroy(&ca);
    snd = &lb->ends[LB_SENDER];
    rcv = &lb->ends[LB_RECEIVER];
    /* peer.c logs every state change at info; keep the table readable. */
    px_log_set_level(PX_LOG_WARN);
    if (make_message(lb) != 0 || end_init(lb, snd, "sender", 0x53) != 0 ||
        end_init(lb, rcv, "receiver", 0x52) != 0) {
        goto fail;
    }
    /* The receiver listens on a port the kernel picks and takes any node of the network. */
    rcv->cfg->listen.kind = PX_CONFIG_ADDR_IPV4;
    snprintf(rcv->cfg->listen.host, sizeof(rcv->cfg->listen.host), "127.0.0.1");
    rcv->cfg->listen.port = 0;
    rcv->cfg->accept_unknown_peers = true;
    if (end_start(rcv) != 0 || (port = px_peer_listen_port(rcv->mgr)) == 0) {
        goto fail;
    }
    /* The sender dials it as a configured peer. */
    snd->cfg->n_peers = 1;
    snd->cfg->peers[0].addr.kind = PX_CONFIG_ADDR_IPV4;
    snprintf(snd->cfg->peers[0].addr.host, sizeof(snd->cfg->peers[0].addr.host), "127.0.0.1");
    snd->cfg->peers[0].addr.port = port;
    memcpy(snd->cfg->peers[0].pubkey, rcv->d.identity.pk, PX_SIGN_PUBLICKEYBYTES);
    if (end_start(snd) != 0) {
        goto fail;
    }
    for (int i = 0; i < LB_ENDS; i++) {
        if (pthread_create(&lb->ends[i].thread, NULL, end_thread, &lb->ends[i]) != 0) {
            fprintf(stderr, "praxis-bench: loopback: cannot start a thread\n");
            goto fail;
        }
        lb->ends[i].thread_live = true;
    }
    deadline = deadline_in(LB_UP_MS);
    pthread_mutex_lock(&lb->mu);
    while (lb->links_up < LB_ENDS && !lb->failed && wait_locked(lb, &deadline)) {
    }
    if (lb->links_up < LB_ENDS) {
        fail_locked(lb, "the link did not come up within %d ms", LB_UP_MS);
        fprintf(stderr, "praxis-bench: loopback: %s\n", lb->why);
        pthread_mutex_unlock(&lb->mu);
        goto fail;
    }
    pthread_mutex_unlock(&lb->mu);
    fprintf(stderr,
            "praxis-bench: link: records messages of %u records, %zu record bytes, %zu bytes "
            "encoded\n",
            (unsigned)lb->msg->n_records, lb->payload, lb->plain_len);
    return lb;
fail:
    bench_loopback_free(lb);
    return NULL;
}

size_t
bench_loopback_payload(const struct bench_loopback *lb)
{
    return lb->payload;
}

int
bench_loopback_run(void *ctx, uint64_t iters)
{
    struct bench_loopback *lb = ctx;
    struct timespec deadline = deadline_in(LB_RUN_MS + iters * LB_MSG_MS);
    uint64_t goal;
    bool ok;

    pthread_mutex_lock(&lb->mu);
    goal = lb->goal += iters;
    pthread_mutex_unlock(&lb->mu);
    uv_async_send(&lb->ends[LB_SENDER].wake);
    pthread_mutex_lock(&lb->mu);
    while (lb->received < goal && !lb->failed && wait_locked(lb, &deadline)) {
    }
    if (lb->received < goal && !lb->failed) {
        fail_locked(lb, "%llu of %llu messages arrived in time",
                    (unsigned long long)(lb->received - (goal - iters)), (unsigned long long)iters);
    }
    ok = !lb->failed;
    if (!ok) {
        fprintf(stderr, "praxis-bench: loopback: %s\n", lb->why);
    }
    pthread_mutex_unlock(&lb->mu);
    return ok ? 0 : -1;
}

int
bench_loopback_raw(void *ctx, uint64_t iters)
{
    struct bench_loopback *lb = ctx;
    uint8_t hdr[18] = {0}, hdr_box[34], hdr_out[18], n2[24];

    memcpy(n2, lb->nonce, sizeof(n2));
    n2[23] ^= 1;
    for (uint64_t i = 0; i < iters; i++) {
        for (size_t off = 0; off < lb->plain_len; off += PX_BOXSTREAM_MAX_BODY) {
            size_t len = lb->plain_len - off > PX_BOXSTREAM_MAX_BODY ? PX_BOXSTREAM_MAX_BODY
                                                                     : lb->plain_len - off;

            hdr[0] = (uint8_t)(len >> 8);
            hdr[1] = (uint8_t)len;
            crypto_secretbox_easy(lb->sealed, lb->plain + off, len, n2, lb->key);
            crypto_secretbox_easy(hdr_box, hdr, sizeof(hdr), lb->nonce, lb->key);
            if (crypto_secretbox_open_easy(hdr_out, hdr_box, sizeof(hdr_box), lb->nonce, lb->key) !=
                    0 ||
                crypto_secretbox_open_easy(lb->opened, lb->sealed, len + crypto_secretbox_MACBYTES,
                                           n2, lb->key) != 0) {
                fprintf(stderr, "praxis-bench: raw secretbox failed\n");
                return -1;
            }
        }
    }
    return 0;
}

int
bench_loopback_free(struct bench_loopback *lb)
{
    struct timespec deadline = deadline_in(LB_STOP_MS);
    unsigned live = 0;
    int rc = 0;

    if (lb == NULL) {
        return 0;
    }
    pthread_mutex_lock(&lb->mu);
    lb->stop = true;
    pthread_mutex_unlock(&lb->mu);
    for (int i = 0; i < LB_ENDS; i++) {
        if (lb->ends[i].thread_live) {
            live++;
            uv_async_send(&lb->ends[i].wake);
        }
    }
    pthread_mutex_lock(&lb->mu);
    while (lb->loops_done < live && wait_locked(lb, &deadline)) {
    }
    if (lb->loops_done < live) {
        pthread_mutex_unlock(&lb->mu);
        fprintf(stderr, "praxis-bench: loopback: the loops did not end within %d ms\n", LB_STOP_MS);
        return -1; /* a thread still runs on this memory: leave it */
    }
    pthread_mutex_unlock(&lb->mu);
    for (int i = 0; i < LB_ENDS; i++) {
        struct lb_end *e = &lb->ends[i];

        if (e->thread_live) {
            pthread_join(e->thread, NULL);
        } else if (e->loop_init) {
            /* Set up but never run (a set-up failure): close it here, on this thread. */
            e->stopping = true;
            uv_close((uv_handle_t *)&e->wake, NULL);
            px_peer_close(e->mgr, end_on_mgr_closed, e);
            uv_run(&e->loop, UV_RUN_DEFAULT);
            e->loop_rc = uv_loop_close(&e->loop);
        }
        if (e->loop_init && e->loop_rc != 0) {
            fprintf(stderr, "praxis-bench: loopback %s: the loop did not close cleanly: %s\n",
                    e->role, uv_strerror(e->loop_rc));
            rc = -1;
        }
        px_identity_wipe(&e->d.identity);
        free(e->cfg);
    }
    pthread_mutex_destroy(&lb->mu);
    pthread_cond_destroy(&lb->cv);
    bench_corpus_free(lb->corpus);
    free(lb->msg);
    free(lb->plain);
    free(lb->sealed);
    free(lb->opened);
    free(lb);
    return rc;
}
