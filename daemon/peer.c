/* SPDX-License-Identifier: MIT */
/*
 * peer.c - the peer manager; see peer.h and docs/peers.md.
 *
 * A connection is a struct px_peer with an embedded uv_tcp_t and uv_timer_t. It counts
 * its references (the two handles and every request in flight: connect, write, shutdown)
 * and is freed when the last one goes, never inside a callback chain that may still touch
 * it. Only peer_fsm() changes a connection's state, and it logs every change.
 *
 * Before authentication the receive buffer holds exactly one handshake message (at most
 * 112 bytes) and alloc_cb offers only the bytes the current message still needs, so a
 * stranger can make us buffer nothing more. After the handshake the buffer grows once to
 * one read's worth of box-stream bytes; the opener's incremental feed reassembles frames,
 * and a second buffer collects one wire message, grown only after its length prefix has
 * been checked against PX_WIRE_MAX_MSG.
 */
#include "peer.h"

#include <sys/socket.h>

#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>
#include <uv.h>

#include "gossip.h"
#include "log.h"
#include "protocol/boxstream.h"
#include "protocol/buf.h"
#include "protocol/err.h"
#include "protocol/shs.h"
#include "protocol/wire.h"

#define PEER_RBUF           (PX_BOXSTREAM_MAX_FRAME * 4) /* raw bytes per read, after auth */
#define PEER_MBUF_INITIAL   4096                         /* a wire message buffer at rest */
#define PEER_MAX_WRITE      (4u << 20) /* unsent bytes before we stop reading the peer */
#define PEER_CLOSE_GRACE_MS 2000       /* for the bye and goodbye to leave */
#define PEER_BACKOFF_MIN_MS 1000
#define PEER_BACKOFF_MAX_MS 60000
#define PEER_SMALL_MSG      2048  /* hello, ping, pong, bye: encoded on the stack */
#define PEER_PENALTY_MS     60000 /* a peer dropped for misbehaving: no link for this long */
#define PEER_MAX_BANS       64    /* penalised keys not on a peer line; the oldest go first */
/* Protocol errors by one member (frames that do not open, messages that do not decode or
 * come out of turn) close its link; this many within PEER_STRIKE_MS keep it away as well,
 * for PEER_PENALTY_MS. One alone may be an honest node's bug; a repeat is an attack. */
#define PEER_STRIKES    3
#define PEER_STRIKE_MIN 10
#define PEER_STRIKE_MS  (PEER_STRIKE_MIN * 60000)
#define PEER_MAX_STRIKE 64 /* keys with protocol errors counted; the oldest go first */
/* Lines about connections that fail before they are authenticated: a stranger can make
 * thousands a second, so at most this many a window, then one line with the count. */
#define PEER_PREAUTH_LOG_BURST     20
#define PEER_PREAUTH_LOG_WINDOW_MS 10000

enum peer_event {
    EV_TCP_UP,    /* connected (outbound) or accepted (inbound) */
    EV_AUTH_OK,   /* the handshake completed */
    EV_SHUTDOWN,  /* this node stops: bye */
    EV_DUPLICATE, /* another connection to the same node wins: bye */
    EV_VERSION,   /* the peer speaks another wire version: bye */
    EV_PROTO,     /* the peer broke the protocol: bye when the stream is up */
    EV_REFUSED,   /* the peer's key is not allowed, or no room: no reply */
    EV_TIMEOUT,   /* handshake deadline or idle timeout */
    EV_LOST,      /* the connection failed or ended */
    EV_BYE,       /* the peer said bye */
    EV_NEVENTS
};

static const struct {
    const char *name;
    int bye;    /* the bye code we send, or 0 for none */
    bool fault; /* caused by the peer: a warning */
} event_info[EV_NEVENTS] = {
    [EV_TCP_UP] = {"tcp up", 0, false},
    [EV_AUTH_OK] = {"authenticated", 0, false},
    [EV_SHUTDOWN] = {"shutdown", PX_ESHUTDOWN, false},
    [EV_DUPLICATE] = {"duplicate", PX_EEXIST, false},
    [EV_VERSION] = {"version", PX_EVERSION, true},
    [EV_PROTO] = {"protocol error", PX_EPROTO, true},
    [EV_REFUSED] = {"refused", 0, true},
    [EV_TIMEOUT] = {"timeout", PX_EBUSY, true},
    [EV_LOST] = {"lost", 0, false},
    [EV_BYE] = {"bye", 0, false},
};

static const char *const state_names[PX_PEER_NSTATES] = {
    [PX_PEER_CONNECTING] = "connecting",
    [PX_PEER_HANDSHAKE] = "handshake",
    [PX_PEER_ESTABLISHED] = "established",
    [PX_PEER_CLOSING] = "closing",
};

enum hs_step { HS_MSG1, HS_MSG2, HS_MSG3, HS_MSG4, HS_DONE };

struct dial {
    struct px_peer_mgr *m;
    struct px_config_peer cfg;
    char addr[PX_CONFIG_MAX_HOST + 10];
    uv_timer_t timer;
    uv_getaddrinfo_t gai;
    bool resolving;
    struct px_peer *conn; /* our outgoing connection in progress, or NULL */
    uint64_t backoff_ms;
    uint64_t since_ms;
    uint64_t banned_until; /* px_daemon_now_ms; 0: not banned */
    bool ban_noted;        /* a refusal under this ban was logged */
    char last_error[128];
    /* Replication counters of this peer's links that have gone down (pending_wants is
     * always 0), so that its row keeps its history across reconnections and while idle. */
    struct px_gossip_link_stats past;
};

struct px_peer {
    struct px_peer_mgr *m;
    struct px_peer *prev, *next;
    struct dial *dial; /* outbound: the dial it serves */
    uv_tcp_t tcp;
    uv_timer_t timer; /* handshake deadline, then idle check, then close grace */
    uv_connect_t connect;
    uv_shutdown_t shutdown;
    unsigned refs;
    bool handles_closing;
    enum px_peer_state state;
    bool outbound;
    unsigned id;
    enum hs_step hs;
    bool shs_live;
    union {
        struct px_shs_client c;
        struct px_shs_server s;
    } shs;
    bool box; /* sealer and opener are initialised */
    struct px_boxstream_sealer sealer;
    struct px_boxstream_opener opener;
    uint8_t *rbuf;
    size_t rlen, rcap;
    uint8_t *mbuf;
    size_t mlen, mcap;
    bool has_key;
    uint8_t pk[PX_SIGN_PUBLICKEYBYTES];
    char keyhex[2 * PX_SIGN_PUBLICKEYBYTES + 1];
    char name[PX_CONFIG_MAX_NAME + 1];
    char addr[PX_CONFIG_MAX_HOST + 10];
    uint64_t since_ms;
    uint64_t bytes_in, bytes_out;
    uint64_t last_rx; /* uv_now of the last sign of life: a byte received, or, while we
                       * do not read it (paused), a write of ours it drained */
    char last_error[128];
    bool hello_rx;
    bool reading, paused;
    bool ping_out;
    uint64_t ping_nonce;
    struct px_gossip_link *link; /* replication state, from the peer's hello to closing */
    struct px_gossip_link_stats last_stats; /* kept after the link goes */
    bool had_link;
    /* Refused under a ban: the first refusal of a ban is always logged, the others only
     * at the debug level (one line per cause, however often the key comes back). */
    bool log_loud, log_quiet;
    bool dropped; /* by px_peer_drop, which kept its key away already */
};

/* Protocol errors of one key since first (px_daemon_now_ms; 0: a free slot). */
struct strike {
    uint8_t pk[PX_SIGN_PUBLICKEYBYTES];
    uint64_t first;
    unsigned n;
};

/* A key kept away after misbehaving; keys on a peer line keep theirs in struct dial. */
struct ban {
    uint8_t pk[PX_SIGN_PUBLICKEYBYTES];
    uint64_t until; /* px_daemon_now_ms; 0: a free slot */
    bool noted;     /* a refusal under this ban was logged */
};

struct px_peer_mgr {
    struct px_daemon *d;
    uv_loop_t *loop;
    uint8_t netkey[PX_SHS_NETKEY_BYTES];
    char name[PX_CONFIG_MAX_NAME + 1];
    bool accept_unknown;
    struct px_peer_links links; /* the replication layer: gossip.c, or a test's */
    unsigned max_peers, max_handshakes;
    uint64_t hs_timeout_ms, idle_timeout_ms;
    uv_tcp_t server;
    bool server_init;
    bool accept_pending; /* a connection waits in the kernel for a handshake slot */
    struct dial *dials;
    size_t n_dials;
    struct px_peer *peers;
    unsigned refs; /* handles and requests the manager waits for before it frees itself */
    unsigned next_id;
    bool closing;
    void (*close_cb)(void *arg);
    void *close_arg;
    struct px_wire_msg msg; /* scratch for decoding; the loop runs one callback at a time */
    uint8_t *encode;        /* scratch for encoding a large message (4 + PX_WIRE_MAX_MSG) */
    struct ban bans[PEER_MAX_BANS];
    struct strike strikes[PEER_MAX_STRIKE];
    struct px_ratelimit preauth_log; /* lines about unauthenticated connections */
    unsigned long preauth_quiet;     /* such lines left out since the last one written */
    char quiet_note[96];             /* "; N such lines ... left out", for the next line */
};

struct peer_write {
    uv_write_t req;
    struct px_peer *p;
    size_t len;
    uint8_t data[];
};

static void peer_fsm(struct px_peer *p, enum peer_event ev, const char *reason);
static void peer_unref(struct px_peer *p);
static void accept_one(struct px_peer_mgr *m);
static void mgr_unref(struct px_peer_mgr *m);
static void peer_resume(struct px_peer *p);
static void close_handles(struct px_peer *p);

const char *
px_peer_state_name(enum px_peer_state s)
{
    return (unsigned)s < PX_PEER_NSTATES ? state_names[s] : "unknown";
}

/* ---- Small helpers ---- */

static const char *
peer_label(const struct px_peer *p, char *buf, size_t cap)
{
    if (p->has_key) {
        snprintf(buf, cap, "%u %.16s %s", p->id, p->keyhex, p->addr);
    } else {
        snprintf(buf, cap, "%u %s", p->id, p->addr);
    }
    return buf;
}

static void
set_key(struct px_peer *p, const uint8_t pk[PX_SIGN_PUBLICKEYBYTES])
{
    memcpy(p->pk, pk, PX_SIGN_PUBLICKEYBYTES);
    px_hex_encode(pk, PX_SIGN_PUBLICKEYBYTES, p->keyhex);
    p->has_key = true;
}

static unsigned
count_state(const struct px_peer_mgr *m, bool handshakes)
{
    unsigned n = 0;

    for (const struct px_peer *p = m->peers; p != NULL; p = p->next) {
        if (!handshakes || p->state == PX_PEER_CONNECTING || p->state == PX_PEER_HANDSHAKE) {
            n++;
        }
    }
    return n;
}

static struct px_peer *
find_established(struct px_peer_mgr *m, const uint8_t pk[PX_SIGN_PUBLICKEYBYTES],
                 const struct px_peer *except)
{
    for (struct px_peer *p = m->peers; p != NULL; p = p->next) {
        if (p != except && p->state == PX_PEER_ESTABLISHED && p->has_key &&
            sodium_memcmp(p->pk, pk, PX_SIGN_PUBLICKEYBYTES) == 0) {
            return p;
        }
    }
    return NULL;
}

/* Adds a link's counters to a peer's history: sums, the later sync, no pending wants. */
static void
stats_add(struct px_gossip_link_stats *sum, const struct px_gossip_link_stats *st)
{
    if (st->last_sync_ms > sum->last_sync_ms) {
        sum->last_sync_ms = st->last_sync_ms;
    }
    sum->records_sent += st->records_sent;
    sum->records_received += st->records_received;
    sum->duplicates += st->duplicates;
    sum->rejected += st->rejected;
}

static struct dial *
find_dial(struct px_peer_mgr *m, const uint8_t pk[PX_SIGN_PUBLICKEYBYTES])
{
    for (size_t i = 0; i < m->n_dials; i++) {
        if (memcmp(m->dials[i].cfg.pubkey, pk, PX_SIGN_PUBLICKEYBYTES) == 0) {
            return &m->dials[i];
        }
    }
    return NULL;
}

static void
format_sockaddr(const struct sockaddr *sa, char *out, size_t cap)
{
    char host[64] = "?";
    int port = 0;

    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;

        uv_ip4_name(in, host, sizeof(host));
        port = ntohs(in->sin_port);
        snprintf(out, cap, "%s:%d", host, port);
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;

        uv_ip6_name(in6, host, sizeof(host));
        port = ntohs(in6->sin6_port);
        snprintf(out, cap, "[%s]:%d", host, port);
    } else {
        snprintf(out, cap, "?");
    }
}

/* ---- Bans ---- */

/*
 * Keeps pk away for PEER_PENALTY_MS: it is refused after msg3, and, on a peer line, not
 * dialed. Keys on no peer line take a slot of m->bans (the same key's, a free or expired
 * one, or else the one that ends first), so a stranger with many keys cannot grow it.
 */
static void
ban_key(struct px_peer_mgr *m, const uint8_t pk[PX_SIGN_PUBLICKEYBYTES])
{
    struct dial *dl = find_dial(m, pk);
    uint64_t now = px_daemon_now_ms();
    struct ban *slot = &m->bans[0];

    if (dl != NULL) {
        dl->backoff_ms = PEER_PENALTY_MS;
        dl->banned_until = now + PEER_PENALTY_MS;
        dl->ban_noted = false;
        return;
    }
    for (size_t i = 0; i < PEER_MAX_BANS; i++) {
        struct ban *b = &m->bans[i];

        if (b->until > 0 && memcmp(b->pk, pk, PX_SIGN_PUBLICKEYBYTES) == 0) {
            slot = b;
            break;
        }
        if (b->until < slot->until) {
            slot = b;
        }
    }
    memcpy(slot->pk, pk, PX_SIGN_PUBLICKEYBYTES);
    slot->until = now + PEER_PENALTY_MS;
    slot->noted = false;
}

/*
 * Counts a protocol error by pk; true when it is the PEER_STRIKES-th within PEER_STRIKE_MS,
 * and pk is then kept away (ban_key) and its count starts again. The table keeps the keys
 * counted most recently: one whose window has passed, or else the oldest, gives way.
 */
static bool
strike_key(struct px_peer_mgr *m, const uint8_t pk[PX_SIGN_PUBLICKEYBYTES])
{
    uint64_t now = px_daemon_now_ms();
    struct strike *slot = NULL;
    bool found = false, slot_live = false;

    for (size_t i = 0; i < PEER_MAX_STRIKE && !found; i++) {
        struct strike *s = &m->strikes[i];
        bool live = s->first > 0 && now - s->first < PEER_STRIKE_MS;

        if (live && memcmp(s->pk, pk, PX_SIGN_PUBLICKEYBYTES) == 0) {
            slot = s;
            found = true;
        } else if (!live && (slot == NULL || slot_live)) {
            slot = s;
            slot_live = false;
        } else if (live && (slot == NULL || (slot_live && s->first < slot->first))) {
            slot = s;
            slot_live = true;
        }
    }
    if (!found) {
        memcpy(slot->pk, pk, PX_SIGN_PUBLICKEYBYTES);
        slot->first = now > 0 ? now : 1;
        slot->n = 0;
    }
    if (++slot->n < PEER_STRIKES) {
        return false;
    }
    slot->first = 0;
    ban_key(m, pk);
    return true;
}

/*
 * Milliseconds pk is still kept away for; 0: it is not. *first is set when this is the
 * first time the ban is asked about (its refusal is then logged whatever the rate).
 */
static uint64_t
ban_left(struct px_peer_mgr *m, const uint8_t pk[PX_SIGN_PUBLICKEYBYTES], bool *first)
{
    uint64_t now = px_daemon_now_ms(), until = 0;
    bool *noted = NULL;

    for (size_t i = 0; i < m->n_dials; i++) {
        if (memcmp(m->dials[i].cfg.pubkey, pk, PX_SIGN_PUBLICKEYBYTES) == 0) {
            until = m->dials[i].banned_until;
            noted = &m->dials[i].ban_noted;
        }
    }
    for (size_t i = 0; i < PEER_MAX_BANS && until == 0; i++) {
        if (m->bans[i].until > 0 && memcmp(m->bans[i].pk, pk, PX_SIGN_PUBLICKEYBYTES) == 0) {
            until = m->bans[i].until;
            noted = &m->bans[i].noted;
        }
    }
    if (until <= now) {
        return 0;
    }
    *first = !*noted;
    *noted = true;
    return until - now;
}

/*
 * Should the state change old -> next of p be logged at its usual level? The changes of
 * an incoming connection until it is established (accepted, then failed, timed out or
 * refused) cost a stranger one TCP connection or one handshake each, so they pass a
 * shared rate limit; the ones left out go to the debug level, and the next line written
 * says how many there were (m->quiet_note). Outgoing connections and established peers
 * are always logged; a key refused under a ban is logged once per ban (p->log_loud, then
 * p->log_quiet).
 */
static bool
log_preauth(struct px_peer_mgr *m, const struct px_peer *p, enum px_peer_state old,
            enum px_peer_state next)
{
    m->quiet_note[0] = '\0';
    if (p->log_quiet) {
        return false;
    }
    if (p->outbound || p->log_loud || (old != PX_PEER_CONNECTING && old != PX_PEER_HANDSHAKE) ||
        (next != PX_PEER_HANDSHAKE && next != PX_PEER_CLOSING)) {
        return true;
    }
    if (!px_ratelimit_allow(&m->preauth_log, uv_now(m->loop), PEER_PREAUTH_LOG_BURST,
                            PEER_PREAUTH_LOG_WINDOW_MS)) {
        m->preauth_quiet++;
        return false;
    }
    if (m->preauth_quiet > 0) {
        snprintf(m->quiet_note, sizeof(m->quiet_note),
                 "; %lu such lines about unauthenticated connections left out", m->preauth_quiet);
        m->preauth_quiet = 0;
    }
    return true;
}

/* ---- Dialing ---- */

static void dial_on_timer(uv_timer_t *t);

static void
dial_start_timer(struct dial *dl, uint64_t delay)
{
    if (!dl->m->closing) {
        uv_timer_start(&dl->timer, dial_on_timer, delay, 0);
    }
}

static void
dial_retry(struct dial *dl)
{
    uint64_t delay;

    if (dl->m->closing) {
        return;
    }
    delay = dl->backoff_ms * (800 + randombytes_uniform(401)) / 1000;
    dl->backoff_ms =
        dl->backoff_ms * 2 > PEER_BACKOFF_MAX_MS ? PEER_BACKOFF_MAX_MS : dl->backoff_ms * 2;
    px_log_debug("peer: dialing %s again in %llu ms", dl->addr, (unsigned long long)delay);
    dial_start_timer(dl, delay);
}

static struct px_peer *peer_new(struct px_peer_mgr *m, bool outbound);

static void
peer_on_connect(uv_connect_t *req, int status)
{
    struct px_peer *p = req->data;

    if (status != UV_ECANCELED && p->state == PX_PEER_CONNECTING) {
        if (status < 0) {
            char why[96];

            snprintf(why, sizeof(why), "connect: %s", uv_strerror(status));
            peer_fsm(p, EV_LOST, why);
        } else {
            peer_fsm(p, EV_TCP_UP, "connected");
        }
    }
    peer_unref(p);
}

static void
dial_on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    struct dial *dl = req->data;
    struct px_peer_mgr *m = dl->m;
    struct px_peer *p;
    int rc;

    dl->resolving = false;
    if (m->closing) {
        uv_freeaddrinfo(res);
        mgr_unref(m);
        return;
    }
    if (status < 0 || res == NULL) {
        snprintf(dl->last_error, sizeof(dl->last_error), "cannot resolve: %s", uv_strerror(status));
        px_log_warnx("peer: cannot resolve %s: %s", dl->addr, uv_strerror(status));
        uv_freeaddrinfo(res);
        dial_retry(dl);
        mgr_unref(m);
        return;
    }
    p = peer_new(m, true);
    p->dial = dl;
    dl->conn = p;
    set_key(p, dl->cfg.pubkey);
    format_sockaddr(res->ai_addr, p->addr, sizeof(p->addr));
    p->connect.data = p;
    p->refs++;
    if ((rc = uv_tcp_connect(&p->connect, &p->tcp, res->ai_addr, peer_on_connect)) != 0) {
        char why[96];

        p->refs--;
        snprintf(why, sizeof(why), "connect: %s", uv_strerror(rc));
        peer_fsm(p, EV_LOST, why);
    }
    uv_freeaddrinfo(res);
    mgr_unref(m);
}

static void
dial_on_timer(uv_timer_t *t)
{
    struct dial *dl = t->data;
    struct px_peer_mgr *m = dl->m;
    struct addrinfo hints;
    char port[8];
    int rc;

    if (m->closing || dl->conn != NULL || dl->resolving) {
        return;
    }
    /* Already connected (it dialed us): a drop schedules the next attempt. */
    if (find_established(m, dl->cfg.pubkey, NULL) != NULL) {
        return;
    }
    /* Kept away: the retry's jitter may fall before the ban ends; our own check would
     * refuse the link after a whole handshake. */
    if (dl->banned_until > px_daemon_now_ms()) {
        dial_start_timer(dl, dl->banned_until - px_daemon_now_ms());
        return;
    }
    if (count_state(m, true) >= m->max_handshakes || count_state(m, false) >= m->max_peers) {
        snprintf(dl->last_error, sizeof(dl->last_error), "no room: too many connections");
        dial_retry(dl);
        return;
    }
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    snprintf(port, sizeof(port), "%u", (unsigned)dl->cfg.addr.port);
    dl->gai.data = dl;
    rc = uv_getaddrinfo(m->loop, &dl->gai, dial_on_resolved, dl->cfg.addr.host, port, &hints);
    if (rc != 0) {
        snprintf(dl->last_error, sizeof(dl->last_error), "cannot resolve: %s", uv_strerror(rc));
        dial_retry(dl);
        return;
    }
    dl->resolving = true;
    m->refs++;
}

/* A connection to pk ended: dial it again later, unless another one is up. */
static void
dial_after_close(struct px_peer_mgr *m, struct px_peer *p)
{
    struct dial *dl = p->dial;

    if (dl == NULL && p->has_key) {
        dl = find_dial(m, p->pk);
    }
    if (dl == NULL) {
        return;
    }
    if (dl->conn == p) {
        dl->conn = NULL;
    }
    if (p->last_error[0] != '\0') {
        memcpy(dl->last_error, p->last_error, sizeof(dl->last_error));
    }
    dl->since_ms = px_daemon_now_ms();
    if (m->closing || dl->conn != NULL || dl->resolving || find_established(m, dl->cfg.pubkey, p)) {
        return;
    }
    dial_retry(dl);
}

/* ---- Writing ---- */

static void
peer_on_write(uv_write_t *req, int status)
{
    struct peer_write *w = (struct peer_write *)req;
    struct px_peer *p = w->p;

    free(w);
    /* While paused we read nothing from the peer, not even its pongs; a write it drained
     * (the kernel's buffer is full, so the peer must have read) shows it is alive. */
    if (status == 0 && p->paused) {
        p->last_rx = uv_now(p->m->loop);
    }
    if (status < 0 && status != UV_ECANCELED && p->state != PX_PEER_CLOSING) {
        char why[96];

        snprintf(why, sizeof(why), "write: %s", uv_strerror(status));
        peer_fsm(p, EV_LOST, why);
    } else if (p->paused && p->state == PX_PEER_ESTABLISHED &&
               uv_stream_get_write_queue_size((uv_stream_t *)&p->tcp) <= PEER_MAX_WRITE / 2) {
        p->paused = false;
        px_log_debug("peer %u: output drained; reading again", p->id);
        peer_resume(p);
    }
    if (p->link != NULL && p->state == PX_PEER_ESTABLISHED) {
        p->m->links.writable(p->link);
    }
    peer_unref(p);
}

/* A write request with room for len bytes of data; the caller fills w->data. */
static struct peer_write *
write_new(struct px_peer *p, size_t len)
{
    struct peer_write *w = malloc(sizeof(*w) + len);

    if (w == NULL) {
        abort();
    }
    w->p = p;
    w->len = len;
    return w;
}

/* Queues w (taking it); on failure the connection is closed (callers check the state). */
static void
write_queue(struct px_peer *p, struct peer_write *w)
{
    uv_buf_t buf = uv_buf_init((char *)w->data, (unsigned)w->len);
    size_t len = w->len;
    int rc;

    p->refs++;
    if ((rc = uv_write(&w->req, (uv_stream_t *)&p->tcp, &buf, 1, peer_on_write)) != 0) {
        char why[96];

        free(w);
        p->refs--;
        snprintf(why, sizeof(why), "write: %s", uv_strerror(rc));
        if (p->state == PX_PEER_CLOSING) {
            close_handles(p);
        } else {
            peer_fsm(p, EV_LOST, why);
        }
        return;
    }
    p->bytes_out += len;
    /* Backpressure: a peer that does not read its input stops being read. */
    if (p->reading && uv_stream_get_write_queue_size((uv_stream_t *)&p->tcp) > PEER_MAX_WRITE) {
        uv_read_stop((uv_stream_t *)&p->tcp);
        p->reading = false;
        p->paused = true;
        px_log_info("peer %u: %zu bytes unsent; not reading it until it catches up", p->id,
                    uv_stream_get_write_queue_size((uv_stream_t *)&p->tcp));
    }
}

/* Queues a copy of raw bytes; on failure the connection is closed. */
static void
write_raw(struct px_peer *p, const uint8_t *data, size_t len)
{
    struct peer_write *w = write_new(p, len);

    memcpy(w->data, data, len);
    write_queue(p, w);
}

/*
 * Seals a wire message into box-stream frames and queues them as one write. A large message
 * is encoded in the manager's scratch buffer (the loop sends one message at a time) and
 * sealed straight into the write request: no allocation of its size but the one write.
 */
static void
send_msg(struct px_peer *p, const struct px_wire_msg *msg)
{
    struct px_peer_mgr *m = p->m;
    uint8_t small[PEER_SMALL_MSG];
    uint8_t *plain = small;
    struct peer_write *w;
    size_t len, n, cap, off = 0, olen = 0;
    int rc;

    if (!p->box || p->sealer.closed) {
        return;
    }
    rc = px_wire_encode(msg, plain, sizeof(small), &len);
    if (rc == PX_ETOOBIG) {
        /* Records and reconcile messages: up to PX_WIRE_MAX_MSG. */
        if (m->encode == NULL && (m->encode = malloc(4 + (size_t)PX_WIRE_MAX_MSG)) == NULL) {
            abort();
        }
        plain = m->encode;
        rc = px_wire_encode(msg, plain, 4 + (size_t)PX_WIRE_MAX_MSG, &len);
    }
    if (rc != 0) {
        px_log_error("peer %u: cannot encode %s: %s", p->id, px_wire_type_name(msg->type),
                     px_strerror(rc));
        return;
    }
    n = (len + PX_BOXSTREAM_MAX_BODY - 1) / PX_BOXSTREAM_MAX_BODY;
    cap = len + n * PX_BOXSTREAM_HEADER_BYTES;
    w = write_new(p, cap);
    while (off < len) {
        size_t piece = len - off > PX_BOXSTREAM_MAX_BODY ? PX_BOXSTREAM_MAX_BODY : len - off;
        size_t got;

        if (px_boxstream_seal(&p->sealer, plain + off, piece, w->data + olen, cap - olen, &got) !=
            0) {
            free(w);
            return;
        }
        off += piece;
        olen += got;
    }
    w->len = olen;
    write_queue(p, w);
}

static void
send_bye(struct px_peer *p, int code, const char *reason)
{
    struct px_wire_msg *msg = &p->m->msg;
    size_t rl = strlen(reason);

    memset(msg, 0, sizeof(*msg));
    msg->type = PX_WIRE_BYE;
    msg->code = code;
    msg->reason =
        (struct px_str){reason, (uint32_t)(rl > PX_WIRE_MAX_REASON ? PX_WIRE_MAX_REASON : rl)};
    send_msg(p, msg);
}

static void
send_hello(struct px_peer *p)
{
    struct px_wire_msg *msg = &p->m->msg;

    memset(msg, 0, sizeof(*msg));
    msg->type = PX_WIRE_HELLO;
    msg->version = PX_WIRE_VERSION;
    msg->name = (struct px_str){p->m->name, (uint32_t)strlen(p->m->name)};
    send_msg(p, msg);
}

static void
send_ping(struct px_peer *p, enum px_wire_type type, uint64_t nonce)
{
    struct px_wire_msg *msg = &p->m->msg;

    memset(msg, 0, sizeof(*msg));
    msg->type = type;
    msg->nonce = nonce;
    send_msg(p, msg);
}

/* ---- Closing ---- */

static void
peer_free(struct px_peer *p)
{
    struct px_peer_mgr *m = p->m;

    if (p->prev != NULL) {
        p->prev->next = p->next;
    } else {
        m->peers = p->next;
    }
    if (p->next != NULL) {
        p->next->prev = p->prev;
    }
    if (p->box) {
        px_boxstream_sealer_fini(&p->sealer);
        px_boxstream_opener_fini(&p->opener);
    }
    if (p->shs_live) {
        if (p->outbound) {
            px_shs_client_fini(&p->shs.c);
        } else {
            px_shs_server_fini(&p->shs.s);
        }
    }
    free(p->rbuf);
    free(p->mbuf);
    sodium_memzero(p, sizeof(*p));
    free(p);
    mgr_unref(m);
}

static void
peer_unref(struct px_peer *p)
{
    if (--p->refs == 0) {
        peer_free(p);
    }
}

static void
peer_on_close(uv_handle_t *h)
{
    peer_unref(h->data);
}

static void
close_handles(struct px_peer *p)
{
    if (p->handles_closing) {
        return;
    }
    p->handles_closing = true;
    uv_close((uv_handle_t *)&p->tcp, peer_on_close);
    uv_close((uv_handle_t *)&p->timer, peer_on_close);
}

static void
peer_on_shutdown(uv_shutdown_t *req, int status)
{
    struct px_peer *p = req->data;

    (void)status;
    close_handles(p);
    peer_unref(p);
}

static void peer_on_timer(uv_timer_t *t);

/* Enters CLOSING: bye and goodbye when the stream is up, then close. */
static void
start_close(struct px_peer *p, enum peer_event ev, const char *reason)
{
    uint8_t gb[PX_BOXSTREAM_HEADER_BYTES];
    bool graceful = p->box && !p->sealer.closed && ev != EV_LOST;

    uv_timer_stop(&p->timer);
    if (p->reading) {
        uv_read_stop((uv_stream_t *)&p->tcp);
        p->reading = false;
    }
    if (graceful) {
        if (event_info[ev].bye != 0) {
            send_bye(p, event_info[ev].bye, reason);
        }
        if (px_boxstream_seal_goodbye(&p->sealer, gb) == 0 && !p->handles_closing) {
            write_raw(p, gb, sizeof(gb));
        }
    }
    if (graceful && !p->handles_closing) {
        p->shutdown.data = p;
        p->refs++;
        if (uv_shutdown(&p->shutdown, (uv_stream_t *)&p->tcp, peer_on_shutdown) != 0) {
            p->refs--;
            close_handles(p);
            return;
        }
        /* A peer that reads nothing would hold the shutdown forever. */
        uv_timer_start(&p->timer, peer_on_timer, PEER_CLOSE_GRACE_MS, 0);
        return;
    }
    close_handles(p);
}

/* ---- The state machine ---- */

static void start_handshake(struct px_peer *p);
static void establish(struct px_peer *p);

static void
peer_fsm(struct px_peer *p, enum peer_event ev, const char *reason)
{
    struct px_peer_mgr *m = p->m;
    enum px_peer_state old = p->state, next = old;
    char label[320], why[160];
    bool was_hs = old == PX_PEER_CONNECTING || old == PX_PEER_HANDSHAKE;
    char kept[96] = "";

    if (old == PX_PEER_CLOSING) {
        return; /* everything after the first reason to close is noise */
    }
    switch (ev) {
    case EV_TCP_UP:
        if (old != PX_PEER_CONNECTING) {
            return;
        }
        next = PX_PEER_HANDSHAKE;
        break;
    case EV_AUTH_OK:
        if (old != PX_PEER_HANDSHAKE) {
            return;
        }
        next = PX_PEER_ESTABLISHED;
        break;
    default:
        next = PX_PEER_CLOSING;
        break;
    }
    /* A member's protocol error (px_peer_drop bans by itself). */
    if (ev == EV_PROTO && old == PX_PEER_ESTABLISHED && p->has_key && !p->dropped &&
        strike_key(m, p->pk)) {
        snprintf(kept, sizeof(kept), "; %d protocol errors within %d min: kept away %d s",
                 PEER_STRIKES, PEER_STRIKE_MIN, PEER_PENALTY_MS / 1000);
    }
    px_log_sanitize(why, sizeof(why), reason, strlen(reason));
    peer_label(p, label, sizeof(label));
    if (!log_preauth(m, p, old, next)) {
        px_log_debug("peer %s: %s -> %s (%s)", label, state_names[old], state_names[next], why);
    } else if (next == PX_PEER_CLOSING && event_info[ev].fault) {
        /* The one warning for this connection. */
        px_log_warnx("peer %s: %s -> %s (%s: %s%s)%s", label, state_names[old], state_names[next],
                     event_info[ev].name, why, kept, m->quiet_note);
    } else {
        px_log_info("peer %s: %s -> %s (%s)%s", label, state_names[old], state_names[next], why,
                    m->quiet_note);
    }
    p->state = next;
    p->since_ms = px_daemon_now_ms();
    switch (next) {
    case PX_PEER_HANDSHAKE:
        start_handshake(p);
        break;
    case PX_PEER_ESTABLISHED:
        establish(p);
        break;
    case PX_PEER_CLOSING:
        if (p->link != NULL) {
            struct px_gossip_link *l = p->link;

            m->links.stats(l, &p->last_stats);
            if (p->dial != NULL) {
                stats_add(&p->dial->past, &p->last_stats);
            }
            p->link = NULL;
            m->links.down(l);
        }
        if (ev != EV_SHUTDOWN && ev != EV_DUPLICATE) {
            size_t n =
                strlen(why) < sizeof(p->last_error) - 1 ? strlen(why) : sizeof(p->last_error) - 1;

            memcpy(p->last_error, why, n);
            p->last_error[n] = '\0';
        }
        start_close(p, ev, reason);
        dial_after_close(m, p);
        break;
    default:
        break;
    }
    /* A handshake slot may have freed up for a connection waiting in the kernel. */
    if (was_hs && p->state != PX_PEER_HANDSHAKE && m->accept_pending && !m->closing &&
        count_state(m, true) < m->max_handshakes) {
        m->accept_pending = false;
        accept_one(m);
    }
}

/* ---- Reading ---- */

static void
peer_on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct px_peer *p = h->data;
    size_t want = p->rcap;

    (void)suggested;
    if (p->state == PX_PEER_HANDSHAKE) {
        /* Exactly the rest of the handshake message we wait for, never more. */
        switch (p->hs) {
        case HS_MSG1:
            want = PX_SHS_MSG1_BYTES;
            break;
        case HS_MSG2:
            want = PX_SHS_MSG2_BYTES;
            break;
        case HS_MSG3:
            want = PX_SHS_MSG3_BYTES;
            break;
        case HS_MSG4:
            want = PX_SHS_MSG4_BYTES;
            break;
        default:
            want = 0;
            break;
        }
    }
    if (want > p->rcap) {
        want = p->rcap;
    }
    *buf = uv_buf_init((char *)p->rbuf + p->rlen, (unsigned)(want - p->rlen));
}

static bool
key_allowed(struct px_peer_mgr *m, const uint8_t pk[PX_SIGN_PUBLICKEYBYTES])
{
    struct dial *dl;

    if (sodium_memcmp(pk, m->d->identity.pk, PX_SIGN_PUBLICKEYBYTES) == 0) {
        return false; /* ourselves, through some loop */
    }
    dl = find_dial(m, pk);
    return m->accept_unknown || dl != NULL;
}

static void
handshake_fail(struct px_peer *p, const char *msgname, int rc, const char *why)
{
    char reason[160];

    snprintf(reason, sizeof(reason), "%s: %s%s%s", msgname, px_err_name(rc),
             why != NULL ? ": " : "", why != NULL ? why : "");
    peer_fsm(p, EV_PROTO, reason);
}

/* One complete handshake message is in rbuf[0..rlen). */
static void
handshake_step(struct px_peer *p)
{
    struct px_peer_mgr *m = p->m;
    uint8_t out[PX_SHS_MSG3_BYTES]; /* the largest message we write */
    uint8_t pk[PX_SIGN_PUBLICKEYBYTES];
    uint64_t left;
    bool first = false;
    int rc;

    switch (p->hs) {
    case HS_MSG1: /* server */
        if ((rc = px_shs_server_read_msg1(&p->shs.s, p->rbuf, p->rlen)) != 0) {
            /* Another network (or no network): no reply at all. */
            handshake_fail(p, "msg1", rc, px_shs_server_why(&p->shs.s));
            return;
        }
        px_shs_server_msg2(&p->shs.s, out);
        p->hs = HS_MSG3;
        p->rlen = 0;
        write_raw(p, out, PX_SHS_MSG2_BYTES);
        break;
    case HS_MSG2: /* client */
        if ((rc = px_shs_client_read_msg2(&p->shs.c, p->rbuf, p->rlen)) != 0) {
            handshake_fail(p, "msg2", rc, px_shs_client_why(&p->shs.c));
            return;
        }
        px_shs_client_msg3(&p->shs.c, out);
        p->hs = HS_MSG4;
        p->rlen = 0;
        write_raw(p, out, PX_SHS_MSG3_BYTES);
        break;
    case HS_MSG3: /* server */
        if ((rc = px_shs_server_read_msg3(&p->shs.s, p->rbuf, p->rlen, pk)) != 0) {
            handshake_fail(p, "msg3", rc, px_shs_server_why(&p->shs.s));
            return;
        }
        set_key(p, pk);
        if ((left = ban_left(m, pk, &first)) > 0) {
            char why[160];

            p->log_loud = first;
            p->log_quiet = !first;
            snprintf(why, sizeof(why),
                     "key %.16s was dropped for misbehaving; kept away %llu s more", p->keyhex,
                     (unsigned long long)(left + 999) / 1000);
            peer_fsm(p, EV_REFUSED, why);
            return;
        }
        if (!key_allowed(m, pk)) {
            char why[160];

            snprintf(why, sizeof(why), "key %s is not on a peer line (accept_unknown_peers=no)",
                     p->keyhex);
            peer_fsm(p, EV_REFUSED, why);
            return;
        }
        if (count_state(m, false) > m->max_peers) {
            peer_fsm(p, EV_REFUSED, "too many peers (max_peers)");
            return;
        }
        px_shs_server_msg4(&p->shs.s, out);
        p->hs = HS_DONE;
        p->rlen = 0;
        write_raw(p, out, PX_SHS_MSG4_BYTES);
        if (p->state == PX_PEER_HANDSHAKE) {
            peer_fsm(p, EV_AUTH_OK, "handshake complete");
        }
        break;
    case HS_MSG4: /* client */
        if ((rc = px_shs_client_read_msg4(&p->shs.c, p->rbuf, p->rlen)) != 0) {
            handshake_fail(p, "msg4", rc, px_shs_client_why(&p->shs.c));
            return;
        }
        p->hs = HS_DONE;
        p->rlen = 0;
        peer_fsm(p, EV_AUTH_OK, "handshake complete");
        break;
    default:
        break;
    }
}

static void
dispatch(struct px_peer *p, const uint8_t *body, size_t len)
{
    struct px_peer_mgr *m = p->m;
    struct px_wire_msg *msg = &m->msg;
    char why[PX_WIRE_MAX_REASON + 64], text[PX_WIRE_MAX_REASON];
    int rc;

    if ((rc = px_wire_decode(body, len, msg)) != 0) {
        if (rc == PX_EUNKNOWN && p->hello_rx) {
            px_log_debug("peer %u: ignoring a message of an unknown type", p->id);
            return;
        }
        snprintf(why, sizeof(why), "undecodable message: %s", px_err_name(rc));
        peer_fsm(p, EV_PROTO, why);
        return;
    }
    if (!p->hello_rx && msg->type != PX_WIRE_HELLO) {
        snprintf(why, sizeof(why), "%s before hello", px_wire_type_name(msg->type));
        peer_fsm(p, EV_PROTO, why);
        return;
    }
    switch (msg->type) {
    case PX_WIRE_HELLO:
        if (p->hello_rx) {
            peer_fsm(p, EV_PROTO, "a second hello");
            return;
        }
        p->hello_rx = true;
        px_log_sanitize(p->name, sizeof(p->name), msg->name.p, msg->name.len);
        if (msg->version != PX_WIRE_VERSION) {
            snprintf(why, sizeof(why), "unsupported wire version %u (we speak %u)",
                     (unsigned)msg->version, (unsigned)PX_WIRE_VERSION);
            peer_fsm(p, EV_VERSION, why);
            return;
        }
        px_log_info("peer %u: hello from \"%s\" (version %u)", p->id, p->name,
                    (unsigned)msg->version);
        if (p->dial != NULL || (p->dial = find_dial(m, p->pk)) != NULL) {
            p->dial->backoff_ms = PEER_BACKOFF_MIN_MS;
        }
        {
            char label[320];

            p->link =
                m->links.up(m->links.arg, p, p->outbound, peer_label(p, label, sizeof(label)));
            p->had_link = p->link != NULL;
        }
        break;
    case PX_WIRE_PING:
        send_ping(p, PX_WIRE_PONG, msg->nonce);
        break;
    case PX_WIRE_PONG:
        if (p->ping_out && msg->nonce == p->ping_nonce) {
            p->ping_out = false;
        }
        break;
    case PX_WIRE_BYE:
        px_log_sanitize(text, sizeof(text), msg->reason.p, msg->reason.len);
        snprintf(why, sizeof(why), "peer said bye: %s (%s)", px_err_name(msg->code), text);
        peer_fsm(p, EV_BYE, why);
        break;
    case PX_WIRE_ANNOUNCE:
    case PX_WIRE_WANT:
    case PX_WIRE_RECORDS:
    case PX_WIRE_RECONCILE:
        /* Replication: gossip.c. */
        if (p->link != NULL) {
            m->links.recv(p->link, msg);
        } else {
            px_log_debug("peer %u: ignoring %s", p->id, px_wire_type_name(msg->type));
        }
        break;
    }
}

/* Plaintext from the box-stream: collect wire messages and dispatch each. */
static void
on_plain(struct px_peer *p, const uint8_t *in, size_t len)
{
    while (len > 0 && p->state == PX_PEER_ESTABLISHED) {
        size_t need, take;
        uint32_t mlen;
        int rc;

        if (p->mlen < 4) {
            take = 4 - p->mlen < len ? 4 - p->mlen : len;
            memcpy(p->mbuf + p->mlen, in, take);
            p->mlen += take;
            in += take;
            len -= take;
            if (p->mlen < 4) {
                return;
            }
        }
        if ((rc = px_wire_frame_len(p->mbuf, &mlen)) != 0) {
            char why[96];

            snprintf(why, sizeof(why), "bad message length %u: %s", px_load_be32(p->mbuf),
                     px_err_name(rc));
            peer_fsm(p, EV_PROTO, why);
            return;
        }
        need = 4 + (size_t)mlen;
        if (need > p->mcap) {
            uint8_t *q = realloc(p->mbuf, need);

            if (q == NULL) {
                abort();
            }
            p->mbuf = q;
            p->mcap = need;
        }
        take = need - p->mlen < len ? need - p->mlen : len;
        memcpy(p->mbuf + p->mlen, in, take);
        p->mlen += take;
        in += take;
        len -= take;
        if (p->mlen < need) {
            return;
        }
        p->mlen = 0;
        dispatch(p, p->mbuf + 4, mlen);
        if (p->mcap > PEER_MBUF_INITIAL && p->state == PX_PEER_ESTABLISHED) {
            uint8_t *q = realloc(p->mbuf, PEER_MBUF_INITIAL);

            if (q != NULL) {
                p->mbuf = q;
                p->mcap = PEER_MBUF_INITIAL;
            }
        }
    }
}

static void
feed_box(struct px_peer *p)
{
    size_t off = 0;

    while (off < p->rlen && p->state == PX_PEER_ESTABLISHED) {
        enum px_boxstream_event ev;
        const uint8_t *chunk;
        size_t used = 0, clen = 0;
        int rc =
            px_boxstream_feed(&p->opener, p->rbuf + off, p->rlen - off, &used, &ev, &chunk, &clen);

        if (rc != 0) {
            const char *w = px_boxstream_opener_why(&p->opener);

            peer_fsm(p, EV_PROTO, w != NULL ? w : px_strerror(rc));
            break;
        }
        off += used;
        if (ev == PX_BOXSTREAM_CHUNK) {
            on_plain(p, chunk, clen);
        } else if (ev == PX_BOXSTREAM_GOODBYE) {
            peer_fsm(p, EV_LOST, "the peer ended the stream (goodbye)");
            break;
        } else if (used == 0) {
            break;
        }
    }
    p->rlen = 0;
}

static void
peer_on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct px_peer *p = s->data;
    char why[96];

    (void)buf;
    if (nread == 0) {
        return;
    }
    if (nread < 0) {
        if (nread == UV_EOF) {
            if (p->state == PX_PEER_HANDSHAKE) {
                snprintf(why, sizeof(why), "closed during the handshake (%zu bytes of msg%d)",
                         p->rlen, (int)p->hs + 1);
            } else {
                snprintf(why, sizeof(why), "connection closed by the peer without a goodbye");
            }
        } else {
            snprintf(why, sizeof(why), "read: %s", uv_strerror((int)nread));
        }
        peer_fsm(p, p->state == PX_PEER_HANDSHAKE ? EV_PROTO : EV_LOST, why);
        return;
    }
    p->bytes_in += (uint64_t)nread;
    p->last_rx = uv_now(p->m->loop);
    p->rlen += (size_t)nread;
    if (p->state == PX_PEER_HANDSHAKE) {
        size_t want = p->hs == HS_MSG3   ? PX_SHS_MSG3_BYTES
                      : p->hs == HS_MSG4 ? PX_SHS_MSG4_BYTES
                                         : PX_SHS_MSG1_BYTES;

        if (p->rlen == want) {
            handshake_step(p);
        }
    } else if (p->state == PX_PEER_ESTABLISHED) {
        feed_box(p);
    } else {
        p->rlen = 0;
    }
}

static void
peer_resume(struct px_peer *p)
{
    if (p->reading || p->state == PX_PEER_CLOSING) {
        return;
    }
    if (uv_read_start((uv_stream_t *)&p->tcp, peer_on_alloc, peer_on_read) == 0) {
        p->reading = true;
    }
}

/* ---- Timers ---- */

static void
peer_on_timer(uv_timer_t *t)
{
    struct px_peer *p = t->data;
    struct px_peer_mgr *m = p->m;
    uint64_t now = uv_now(m->loop), quiet = now - p->last_rx;
    char why[96];

    switch (p->state) {
    case PX_PEER_CONNECTING:
    case PX_PEER_HANDSHAKE:
        snprintf(why, sizeof(why), "handshake not complete after %llu ms",
                 (unsigned long long)m->hs_timeout_ms);
        peer_fsm(p, p->state == PX_PEER_HANDSHAKE ? EV_TIMEOUT : EV_LOST, why);
        break;
    case PX_PEER_ESTABLISHED:
        if (quiet >= m->idle_timeout_ms) {
            snprintf(why, sizeof(why),
                     p->paused ? "it read none of our output for %llu ms"
                               : "nothing received for %llu ms",
                     (unsigned long long)quiet);
            peer_fsm(p, EV_TIMEOUT, why);
        } else if (quiet >= m->idle_timeout_ms / 3 && !p->ping_out) {
            p->ping_out = true;
            randombytes_buf(&p->ping_nonce, sizeof(p->ping_nonce));
            send_ping(p, PX_WIRE_PING, p->ping_nonce);
        }
        break;
    case PX_PEER_CLOSING: {
        uv_os_fd_t fd;

        /*
         * The bye and goodbye did not leave within the grace: the peer does not read.
         * Close with a reset (SO_LINGER 0), so that the kernel drops what it still holds
         * for it (up to a socket buffer) instead of keeping it in an orphaned socket
         * until its own timeouts.
         */
        if (uv_fileno((const uv_handle_t *)&p->tcp, &fd) == 0) {
            struct linger lg = {1, 0};

            setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
        }
        close_handles(p);
        break;
    }
    default:
        break;
    }
}

/* ---- Connections ---- */

static struct px_peer *
peer_new(struct px_peer_mgr *m, bool outbound)
{
    struct px_peer *p = calloc(1, sizeof(*p));

    if (p == NULL || (p->rbuf = malloc(PX_SHS_MSG3_BYTES)) == NULL) {
        abort();
    }
    p->rcap = PX_SHS_MSG3_BYTES; /* the largest handshake message */
    p->m = m;
    p->outbound = outbound;
    p->id = ++m->next_id;
    p->state = PX_PEER_CONNECTING;
    p->since_ms = px_daemon_now_ms();
    p->last_rx = uv_now(m->loop);
    snprintf(p->addr, sizeof(p->addr), "?");
    uv_tcp_init(m->loop, &p->tcp);
    uv_timer_init(m->loop, &p->timer);
    p->tcp.data = p;
    p->timer.data = p;
    p->refs = 2; /* the two handles */
    p->next = m->peers;
    if (m->peers != NULL) {
        m->peers->prev = p;
    }
    m->peers = p;
    m->refs++;
    /* The deadline covers the TCP connect as well as the handshake. */
    uv_timer_start(&p->timer, peer_on_timer, m->hs_timeout_ms, 0);
    return p;
}

static void
start_handshake(struct px_peer *p)
{
    struct px_peer_mgr *m = p->m;
    uint8_t seed[PX_SHS_SEED_BYTES], msg1[PX_SHS_MSG1_BYTES];
    int rc;

    randombytes_buf(seed, sizeof(seed));
    if (p->outbound) {
        rc = px_shs_client_init(&p->shs.c, m->netkey, &m->d->identity, seed, p->pk);
        p->shs_live = true;
        if (rc == 0) {
            px_shs_client_msg1(&p->shs.c, msg1);
            p->hs = HS_MSG2;
        }
    } else {
        rc = px_shs_server_init(&p->shs.s, m->netkey, &m->d->identity, seed);
        p->shs_live = true;
        p->hs = HS_MSG1;
    }
    sodium_memzero(seed, sizeof(seed));
    if (rc != 0) {
        peer_fsm(p, EV_LOST, px_strerror(rc));
        return;
    }
    if (uv_read_start((uv_stream_t *)&p->tcp, peer_on_alloc, peer_on_read) != 0) {
        peer_fsm(p, EV_LOST, "cannot read");
        return;
    }
    p->reading = true;
    if (p->outbound) {
        write_raw(p, msg1, sizeof(msg1));
    }
}

static void
establish(struct px_peer *p)
{
    struct px_peer_mgr *m = p->m;
    struct px_shs_session s;
    struct px_peer *q;
    uint8_t *rb;
    uint64_t period;

    if (p->outbound) {
        px_shs_client_session(&p->shs.c, &s);
        px_shs_client_fini(&p->shs.c);
    } else {
        px_shs_server_session(&p->shs.s, &s);
        px_shs_server_fini(&p->shs.s);
    }
    p->shs_live = false;
    px_boxstream_sealer_init(&p->sealer, s.encrypt_key, s.encrypt_nonce);
    px_boxstream_opener_init(&p->opener, s.decrypt_key, s.decrypt_nonce);
    px_shs_session_wipe(&s);
    p->box = true;
    /* Grown once: one read of box-stream bytes, and a wire message buffer. */
    if ((rb = realloc(p->rbuf, PEER_RBUF)) == NULL ||
        (p->mbuf = malloc(PEER_MBUF_INITIAL)) == NULL) {
        abort();
    }
    p->rbuf = rb;
    p->rcap = PEER_RBUF;
    p->mcap = PEER_MBUF_INITIAL;
    p->rlen = 0;
    p->last_rx = uv_now(m->loop);
    period = m->idle_timeout_ms / 3 > 0 ? m->idle_timeout_ms / 3 : 1;
    uv_timer_start(&p->timer, peer_on_timer, period, period);

    /*
     * One connection per pair of nodes: keep the one dialed by the node with the smaller
     * key. Both ends apply the same rule, so they close the same connection. Two links
     * dialed the same way (a stale one the other side has already dropped): keep the new.
     */
    if ((q = find_established(m, p->pk, p)) != NULL) {
        bool we_smaller = memcmp(m->d->identity.pk, p->pk, PX_SIGN_PUBLICKEYBYTES) < 0;
        struct px_peer *loser;

        if (p->outbound == q->outbound) {
            loser = q;
        } else {
            loser = p->outbound == we_smaller ? q : p;
        }
        peer_fsm(loser, EV_DUPLICATE, "a second connection to the same node");
        if (loser == p) {
            return;
        }
    }
    send_hello(p);
}

static void
accept_one(struct px_peer_mgr *m)
{
    struct px_peer *p = peer_new(m, false);
    struct sockaddr_storage ss;
    int len = sizeof(ss);

    if (uv_accept((uv_stream_t *)&m->server, (uv_stream_t *)&p->tcp) != 0) {
        peer_fsm(p, EV_LOST, "accept failed");
        return;
    }
    if (uv_tcp_getpeername(&p->tcp, (struct sockaddr *)&ss, &len) == 0) {
        format_sockaddr((struct sockaddr *)&ss, p->addr, sizeof(p->addr));
    }
    if (count_state(m, false) > m->max_peers) {
        peer_fsm(p, EV_REFUSED, "too many peers (max_peers)");
        return;
    }
    peer_fsm(p, EV_TCP_UP, "accepted");
}

static void
server_on_connection(uv_stream_t *server, int status)
{
    struct px_peer_mgr *m = server->data;

    if (status < 0) {
        px_log_warnx("peer: accept: %s", uv_strerror(status));
        return;
    }
    if (m->closing) {
        return;
    }
    if (count_state(m, true) >= m->max_handshakes) {
        /* Leave it in the kernel: libuv stops accepting until we take this one. */
        if (!m->accept_pending) {
            /* Once per wait, and a flood of connections makes many waits: rate-limited. */
            if (px_ratelimit_allow(&m->preauth_log, uv_now(m->loop), PEER_PREAUTH_LOG_BURST,
                                   PEER_PREAUTH_LOG_WINDOW_MS)) {
                px_log_info("peer: %u handshakes in progress; new connections wait",
                            m->max_handshakes);
            } else {
                m->preauth_quiet++;
            }
        }
        m->accept_pending = true;
        return;
    }
    accept_one(m);
}

/* ---- The manager ---- */

static void
mgr_unref(struct px_peer_mgr *m)
{
    if (--m->refs == 0 && m->closing) {
        void (*cb)(void *) = m->close_cb;
        void *arg = m->close_arg;

        free(m->dials);
        free(m->encode);
        free(m);
        if (cb != NULL) {
            cb(arg);
        }
    }
}

static void
mgr_on_close(uv_handle_t *h)
{
    mgr_unref(h->data);
}

static void
dial_on_close(uv_handle_t *h)
{
    struct dial *dl = h->data;

    mgr_unref(dl->m);
}

/* px_gossip_link_up on the daemon's gossip state, which may come and go (NULL: no link). */
static struct px_gossip_link *
gossip_up(void *arg, struct px_peer *p, bool outbound, const char *label)
{
    struct px_daemon *d = arg;

    return d->gossip != NULL ? px_gossip_link_up(d->gossip, p, outbound, label) : NULL;
}

int
px_peer_start(struct px_daemon *d, const struct px_config *cfg, struct px_peer_mgr **out, char *err,
              size_t errlen)
{
    const struct px_peer_links links = {
        .up = gossip_up,
        .down = px_gossip_link_down,
        .recv = px_gossip_recv,
        .writable = px_gossip_link_writable,
        .stats = px_gossip_link_stats,
        .arg = d,
    };

    return px_peer_start_with(d, cfg, &links, out, err, errlen);
}

int
px_peer_start_with(struct px_daemon *d, const struct px_config *cfg,
                   const struct px_peer_links *links, struct px_peer_mgr **out, char *err,
                   size_t errlen)
{
    struct px_peer_mgr *m;
    int rc;

    *out = NULL;
    if ((m = calloc(1, sizeof(*m))) == NULL) {
        return PX_ENOMEM;
    }
    m->d = d;
    m->links = *links;
    m->loop = d->loop;
    memcpy(m->netkey, cfg->network_key, sizeof(m->netkey));
    snprintf(m->name, sizeof(m->name), "%s", cfg->name);
    m->accept_unknown = cfg->accept_unknown_peers;
    m->max_peers = cfg->max_peers;
    m->max_handshakes = cfg->max_handshakes;
    m->hs_timeout_ms = (uint64_t)cfg->handshake_timeout_s * 1000;
    m->idle_timeout_ms = (uint64_t)cfg->idle_timeout_s * 1000;
    m->refs = 1; /* released by px_peer_close */
    if (cfg->n_peers > 0 && (m->dials = calloc(cfg->n_peers, sizeof(*m->dials))) == NULL) {
        free(m);
        return PX_ENOMEM;
    }
    if (cfg->listen.kind != PX_CONFIG_ADDR_NONE) {
        struct sockaddr_storage ss;

        if (cfg->listen.kind == PX_CONFIG_ADDR_IPV6) {
            rc = uv_ip6_addr(cfg->listen.host, cfg->listen.port, (struct sockaddr_in6 *)&ss);
        } else {
            rc = uv_ip4_addr(cfg->listen.host, cfg->listen.port, (struct sockaddr_in *)&ss);
        }
        uv_tcp_init(m->loop, &m->server);
        m->server.data = m;
        m->server_init = true;
        m->refs++;
        if (rc == 0) {
            rc = uv_tcp_bind(&m->server, (const struct sockaddr *)&ss, 0);
        }
        if (rc == 0) {
            rc = uv_listen((uv_stream_t *)&m->server, 128, server_on_connection);
        }
        if (rc != 0) {
            snprintf(err, errlen, "cannot listen for peers on %s%s%s:%u: %s",
                     cfg->listen.kind == PX_CONFIG_ADDR_IPV6 ? "[" : "", cfg->listen.host,
                     cfg->listen.kind == PX_CONFIG_ADDR_IPV6 ? "]" : "", cfg->listen.port,
                     uv_strerror(rc));
            px_peer_close(m, NULL, NULL);
            return PX_EIO;
        }
        px_log_info("peer: listening on %s%s%s:%u",
                    cfg->listen.kind == PX_CONFIG_ADDR_IPV6 ? "[" : "", cfg->listen.host,
                    cfg->listen.kind == PX_CONFIG_ADDR_IPV6 ? "]" : "",
                    (unsigned)px_peer_listen_port(m));
    }
    for (size_t i = 0; i < cfg->n_peers; i++) {
        struct dial *dl = &m->dials[m->n_dials];
        const struct px_config_peer *cp = &cfg->peers[i];

        if (memcmp(cp->pubkey, d->identity.pk, PX_SIGN_PUBLICKEYBYTES) == 0) {
            px_log_warnx("peer: skipping the peer line with this node's own key");
            continue;
        }
        dl->m = m;
        dl->cfg = *cp;
        snprintf(dl->addr, sizeof(dl->addr), "%s%s%s:%u",
                 cp->addr.kind == PX_CONFIG_ADDR_IPV6 ? "[" : "", cp->addr.host,
                 cp->addr.kind == PX_CONFIG_ADDR_IPV6 ? "]" : "", cp->addr.port);
        dl->backoff_ms = PEER_BACKOFF_MIN_MS;
        dl->since_ms = px_daemon_now_ms();
        uv_timer_init(m->loop, &dl->timer);
        dl->timer.data = dl;
        m->refs++;
        m->n_dials++;
        /* A little jitter even on the first attempt. */
        dial_start_timer(dl, randombytes_uniform(50));
    }
    *out = m;
    return 0;
}

uint16_t
px_peer_listen_port(const struct px_peer_mgr *m)
{
    struct sockaddr_storage ss;
    int len = sizeof(ss);

    if (m == NULL || !m->server_init ||
        uv_tcp_getsockname(&m->server, (struct sockaddr *)&ss, &len) != 0) {
        return 0;
    }
    if (ss.ss_family == AF_INET) {
        return ntohs(((const struct sockaddr_in *)(const void *)&ss)->sin_port);
    }
    if (ss.ss_family == AF_INET6) {
        return ntohs(((const struct sockaddr_in6 *)(const void *)&ss)->sin6_port);
    }
    return 0;
}

size_t
px_peer_count_established(const struct px_peer_mgr *m)
{
    size_t n = 0;

    if (m == NULL) {
        return 0;
    }
    for (const struct px_peer *p = m->peers; p != NULL; p = p->next) {
        n += p->state == PX_PEER_ESTABLISHED;
    }
    return n;
}

static bool
dial_idle(const struct px_peer_mgr *m, const struct dial *dl)
{
    if (dl->conn != NULL) {
        return false;
    }
    for (const struct px_peer *p = m->peers; p != NULL; p = p->next) {
        if (p->has_key && memcmp(p->pk, dl->cfg.pubkey, PX_SIGN_PUBLICKEYBYTES) == 0 &&
            p->state != PX_PEER_CLOSING) {
            return false;
        }
    }
    return true;
}

size_t
px_peer_list_size(const struct px_peer_mgr *m)
{
    size_t n = 0;

    if (m == NULL) {
        return 0;
    }
    n = count_state(m, false);
    for (size_t i = 0; i < m->n_dials; i++) {
        n += dial_idle(m, &m->dials[i]);
    }
    return n;
}

size_t
px_peer_list(const struct px_peer_mgr *m, struct px_peer_info *out, size_t cap)
{
    size_t n = 0;

    if (m == NULL) {
        return 0;
    }
    for (const struct px_peer *p = m->peers; p != NULL && n < cap; p = p->next) {
        struct px_peer_info *r = &out[n++];

        memset(r, 0, sizeof(*r));
        r->has_key = p->has_key;
        memcpy(r->public_key, p->pk, PX_SIGN_PUBLICKEYBYTES);
        memcpy(r->name, p->name, sizeof(r->name));
        snprintf(r->address, sizeof(r->address), "%s", p->addr);
        r->direction = p->outbound ? "out" : "in";
        r->state = state_names[p->state];
        r->since_ms = p->since_ms;
        r->bytes_in = p->bytes_in;
        r->bytes_out = p->bytes_out;
        memcpy(r->last_error, p->last_error, sizeof(r->last_error));
        /* A configured peer's row counts every link it had since we started (the
         * history holds the closed ones, this one's included once it is closing). */
        if (p->link != NULL) {
            m->links.stats(p->link, &r->gossip);
        } else if (p->had_link && p->dial == NULL) {
            r->gossip = p->last_stats;
        }
        if (p->dial != NULL) {
            uint32_t pending = r->gossip.pending_wants;

            stats_add(&r->gossip, &p->dial->past);
            r->gossip.pending_wants = pending;
        }
    }
    for (size_t i = 0; i < m->n_dials && n < cap; i++) {
        const struct dial *dl = &m->dials[i];
        struct px_peer_info *r;

        if (!dial_idle(m, dl)) {
            continue;
        }
        r = &out[n++];
        memset(r, 0, sizeof(*r));
        r->has_key = true;
        memcpy(r->public_key, dl->cfg.pubkey, PX_SIGN_PUBLICKEYBYTES);
        snprintf(r->address, sizeof(r->address), "%s", dl->addr);
        r->direction = "out";
        r->state = "idle";
        r->since_ms = dl->since_ms;
        memcpy(r->last_error, dl->last_error, sizeof(r->last_error));
        r->gossip = dl->past;
    }
    return n;
}

void
px_peer_close(struct px_peer_mgr *m, void (*cb)(void *arg), void *arg)
{
    if (m == NULL) {
        if (cb != NULL) {
            cb(arg);
        }
        return;
    }
    m->closing = true;
    m->close_cb = cb;
    m->close_arg = arg;
    if (m->server_init) {
        m->server_init = false;
        uv_close((uv_handle_t *)&m->server, mgr_on_close);
    }
    for (size_t i = 0; i < m->n_dials; i++) {
        struct dial *dl = &m->dials[i];

        uv_close((uv_handle_t *)&dl->timer, dial_on_close);
        if (dl->resolving) {
            uv_cancel((uv_req_t *)&dl->gai);
        }
    }
    for (struct px_peer *p = m->peers; p != NULL; p = p->next) {
        peer_fsm(p, EV_SHUTDOWN, "this node is shutting down");
    }
    mgr_unref(m);
}

void
px_peer_send(struct px_peer *p, const struct px_wire_msg *msg)
{
    if (p->state == PX_PEER_ESTABLISHED) {
        send_msg(p, msg);
    }
}

size_t
px_peer_write_queue(const struct px_peer *p)
{
    return uv_stream_get_write_queue_size((const uv_stream_t *)&p->tcp);
}

void
px_peer_drop(struct px_peer *p, const char *reason)
{
    if (p->state != PX_PEER_ESTABLISHED) {
        return;
    }
    /* Neither side links again for a while: we do not dial it, and refuse its dials. */
    ban_key(p->m, p->pk);
    p->dropped = true;
    peer_fsm(p, EV_PROTO, reason);
}
