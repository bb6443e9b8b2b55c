/* SPDX-License-Identifier: MIT */
/*
 * test_peer_limits.c - the peer manager's timers and caps against a real praxisd on
 * 127.0.0.1: the idle check (a silent peer is pinged, then dropped with bye EBUSY and a
 * logged reason; a peer that answers pings stays), network.max_handshakes (connections past
 * it wait in the kernel's backlog, unanswered, until a handshake slot frees; then they and
 * an honest node get through) and network.max_peers (a connection past it is closed at
 * once with a logged reason, the links already up stay, and a freed place can be taken)
 * and the idle check of a peer whose output is backed up (the node stops reading it past
 * 4 MiB unsent: one that drains that output, however slowly, is alive and stays; one that
 * reads none of it is dropped after idle_timeout).
 * Ports are chosen at run time; every wait polls a condition against a deadline.
 */
#include <sys/socket.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <sodium.h>

#include "common/identity.h"
#include "daemon/config.h"
#include "protocol/boxstream.h"
#include "protocol/buf.h"
#include "protocol/err.h"
#include "protocol/record.h"
#include "protocol/shs.h"
#include "protocol/wire.h"
#include "util/daemon_util.h"
#include "util/rawpeer.h"
#include "util/testnode.h"

#define WAIT_MS 15000

static char *tmp;
/* The node of a test of a backed-up peer (heap-allocated, so that it outlives a failed
 * test's frame): teardown stops it after a failed assertion (Criterion runs the suite's
 * fini after one), rather than leave the daemon behind. */
static struct px_testnode *big_live;

static void
setup(void)
{
    unsetenv("PRAXIS_SOCKET");
    tmp = px_test_tmpdir();
}

static void
teardown(void)
{
    if (big_live != NULL) {
        px_testnode_free(big_live);
        free(big_live);
        big_live = NULL;
    }
    px_test_rmtree(tmp);
    free(tmp);
}

TestSuite(peer_limits, .init = setup, .fini = teardown, .timeout = 120);

static void
new_identity(struct px_identity *id, char hex[65])
{
    cr_assert_eq(px_crypto_init(), 0);
    cr_assert_eq(px_identity_generate(id), 0);
    px_hex_encode(id->pk, PX_SIGN_PUBLICKEYBYTES, hex);
}

/* ---- Raw TCP and a handshake driven by hand ---- */

static int
tcp_connect(uint16_t port)
{
    struct sockaddr_in sa;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    cr_assert_geq(fd, 0);
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0, "connect: %s",
                 strerror(errno));
    return fd;
}

/*
 * Waits up to ms for fd to become readable and reads: the byte count, 0 at EOF, -1 on a
 * read error (a reset), or -2 when the deadline passed with nothing to read.
 */
static ssize_t
recv_within(int fd, uint8_t *buf, size_t cap, int ms)
{
    int64_t deadline = px_testd_now_ms() + ms;

    for (;;) {
        struct pollfd pfd = {fd, POLLIN, 0};
        int64_t left = deadline - px_testd_now_ms();
        ssize_t k;

        if (left <= 0 || poll(&pfd, 1, (int)left) == 0) {
            return -2;
        }
        k = recv(fd, buf, cap, 0);
        if (k < 0 && errno == EINTR) {
            continue;
        }
        return k < 0 ? -1 : k;
    }
}

/* Nothing to read on fd right now, and it is still open. */
static bool
nothing_yet(int fd)
{
    uint8_t b;
    ssize_t k = recv(fd, &b, 1, MSG_DONTWAIT);

    return k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

static void
read_exact_within(int fd, uint8_t *p, size_t n, int ms)
{
    int64_t deadline = px_testd_now_ms() + ms;
    size_t got = 0;

    while (got < n) {
        int64_t left = deadline - px_testd_now_ms();
        ssize_t k = recv_within(fd, p + got, n - got, left > 0 ? (int)left : 0);

        cr_assert_gt(k, 0, "%s after %zu of %zu bytes",
                     k == -2 ? "timed out" : (k == 0 ? "EOF" : "read error"), got, n);
        got += (size_t)k;
    }
}

/* A client handshake driven step by step over its own socket. */
struct hs_client {
    int fd;
    struct px_shs_client c;
};

/* Connects to 127.0.0.1:port and sends msg1 for the node whose key is server_hex. */
static void
hs_client_start(struct hs_client *h, const struct px_identity *me, const char *server_hex,
                uint16_t port)
{
    static const char netkey_hex[] = PX_CONFIG_MAIN_NETWORK_KEY_HEX;
    uint8_t netkey[PX_SHS_NETKEY_BYTES], seed[PX_SHS_SEED_BYTES], srv[PX_SIGN_PUBLICKEYBYTES],
        m1[PX_SHS_MSG1_BYTES];

    cr_assert_eq(px_hex_decode(netkey_hex, sizeof(netkey_hex) - 1, netkey, sizeof(netkey)), 0);
    cr_assert_eq(px_hex_decode(server_hex, strlen(server_hex), srv, sizeof(srv)), 0);
    randombytes_buf(seed, sizeof(seed));
    cr_assert_eq(px_shs_client_init(&h->c, netkey, me, seed, srv), 0);
    cr_assert_eq(px_shs_client_msg1(&h->c, m1), 0);
    h->fd = tcp_connect(port);
    cr_assert_eq(send(h->fd, m1, sizeof(m1), MSG_NOSIGNAL), (ssize_t)sizeof(m1));
}

/* Reads msg2 (within WAIT_MS), sends msg3 and checks msg4: the handshake completes. */
static void
hs_client_finish(struct hs_client *h)
{
    uint8_t m2[PX_SHS_MSG2_BYTES], m3[PX_SHS_MSG3_BYTES], m4[PX_SHS_MSG4_BYTES];

    read_exact_within(h->fd, m2, sizeof(m2), WAIT_MS);
    cr_assert_eq(px_shs_client_read_msg2(&h->c, m2, sizeof(m2)), 0);
    cr_assert_eq(px_shs_client_msg3(&h->c, m3), 0);
    cr_assert_eq(send(h->fd, m3, sizeof(m3), MSG_NOSIGNAL), (ssize_t)sizeof(m3));
    read_exact_within(h->fd, m4, sizeof(m4), WAIT_MS);
    cr_assert_eq(px_shs_client_read_msg4(&h->c, m4, sizeof(m4)), 0);
    cr_assert(px_shs_client_done(&h->c));
}

static void
hs_client_close(struct hs_client *h)
{
    px_shs_client_fini(&h->c);
    close(h->fd);
    h->fd = -1;
}

/* ---- Raw peers after the handshake ---- */

/* Connects a raw peer as me, sends hello and reads the node's hello. */
static void
raw_link(struct px_rawpeer *rp, const struct px_identity *me, const struct px_testnode *n,
         struct px_wire_msg *msg)
{
    px_rawpeer_connect(rp, me, n->key, n->port);
    memset(msg, 0, sizeof(*msg));
    msg->type = PX_WIRE_HELLO;
    msg->version = PX_WIRE_VERSION;
    msg->name = (struct px_str){"raw", 3};
    px_rawpeer_send(rp, msg);
    cr_assert_eq(px_rawpeer_recv(rp, msg), 0);
    cr_assert_eq(msg->type, PX_WIRE_HELLO, "a %s first", px_wire_type_name(msg->type));
}

/*
 * Sends a ping with this nonce and expects the pong with it; a ping of the node's that
 * crosses ours on the way is answered.
 */
static void
ping_pong(struct px_rawpeer *rp, struct px_wire_msg *msg, uint64_t nonce)
{
    memset(msg, 0, sizeof(*msg));
    msg->type = PX_WIRE_PING;
    msg->nonce = nonce;
    px_rawpeer_send(rp, msg);
    for (;;) {
        cr_assert_eq(px_rawpeer_recv(rp, msg), 0, "the node closed instead of answering a ping");
        if (msg->type != PX_WIRE_PING) {
            break;
        }
        msg->type = PX_WIRE_PONG;
        px_rawpeer_send(rp, msg);
    }
    cr_assert_eq(msg->type, PX_WIRE_PONG, "a %s instead of a pong", px_wire_type_name(msg->type));
    cr_assert_eq(msg->nonce, nonce);
}

/* ---- Tests ---- */

Test(peer_limits, silent_peer_is_pinged_then_dropped_and_answering_peer_stays)
{
    /* idle_timeout = 5 s (its minimum): a check every 5/3 s, a ping after 5/3 s of silence. */
    static const char conf[] = "[network]\naccept_unknown_peers = yes\nidle_timeout = 5\n"
                               "handshake_timeout = 2\n";
    const int64_t idle_ms = 5000;
    struct px_testnode a;
    struct px_identity silent_id, live_id;
    char silent_key[65], live_key[65], *line, *at;
    struct px_rawpeer silent, live;
    struct px_wire_msg *msg = calloc(1, sizeof(*msg));
    int64_t t0;
    unsigned pings = 0;
    unsigned long quiet;

    cr_assert_not_null(msg);
    new_identity(&silent_id, silent_key);
    new_identity(&live_id, live_key);
    px_testnode_init(&a, tmp, "a", px_test_free_port);
    px_testnode_start(&a, conf);

    /* Both complete the handshake and hello; then one says nothing more. */
    raw_link(&silent, &silent_id, &a, msg);
    raw_link(&live, &live_id, &a, msg);
    t0 = px_testd_now_ms();

    /* The other answers every ping for twice the idle timeout. */
    while (px_testd_now_ms() - t0 < 2 * idle_ms + 500) {
        cr_assert_eq(px_rawpeer_recv(&live, msg), 0, "the node dropped the answering peer");
        cr_assert_eq(msg->type, PX_WIRE_PING, "a %s instead of a ping",
                     px_wire_type_name(msg->type));
        pings++;
        msg->type = PX_WIRE_PONG;
        px_rawpeer_send(&live, msg);
    }
    cr_assert_geq(pings, 2, "%u pings in %lld ms", pings, (long long)(2 * idle_ms));
    cr_assert_eq(px_testd_count_peers(&a.d, live_key, "established"), 1);
    ping_pong(&live, msg, 77); /* and it is still served */

    /* The silent one got a ping, then bye EBUSY with the reason, then the end of the stream. */
    cr_assert_eq(px_rawpeer_recv(&silent, msg), 0);
    cr_assert_eq(msg->type, PX_WIRE_PING, "a %s instead of a ping", px_wire_type_name(msg->type));
    cr_assert_eq(px_rawpeer_recv(&silent, msg), 0, "no bye before the end");
    cr_assert_eq(msg->type, PX_WIRE_BYE, "a %s instead of the bye", px_wire_type_name(msg->type));
    cr_assert_eq(msg->code, PX_EBUSY, "bye %s, want EBUSY", px_err_name(msg->code));
    cr_assert(msg->reason.len > 21 && memcmp(msg->reason.p, "nothing received for ", 21) == 0,
              "bye reason \"%.*s\"", (int)msg->reason.len, msg->reason.p);
    cr_assert_eq(px_rawpeer_recv(&silent, msg), 1, "a %s after the bye",
                 px_wire_type_name(msg->type));
    cr_assert(px_rawpeer_wait_closed(&silent));

    /* One warning names the peer and how long it was quiet: at least the idle timeout. */
    px_testnode_wait_log(&a, "timeout: nothing received for", WAIT_MS);
    {
        char key16[17];

        snprintf(key16, sizeof(key16), "%.16s", silent_key);
        line = px_testd_log_line(&a.d, key16, "timeout: nothing received for");
    }
    cr_assert_not_null(line, "no timeout line for the silent peer");
    cr_assert(strstr(line, " warn: ") != NULL, "%s", line);
    at = strstr(line, "nothing received for ") + 21;
    quiet = strtoul(at, NULL, 10);
    cr_assert_geq(quiet, (unsigned long)idle_ms, "%s", line);
    px_testnode_wait_peers(&a, silent_key, NULL, 0, 3, WAIT_MS);
    cr_assert_eq(px_testd_count_peers(&a.d, live_key, "established"), 1);

    free(line);
    px_rawpeer_close(&silent);
    px_rawpeer_close(&live);
    px_identity_wipe(&silent_id);
    px_identity_wipe(&live_id);
    free(msg);
    px_testnode_free(&a);
}

Test(peer_limits, handshakes_past_the_cap_wait_until_a_slot_frees)
{
    /* The deadline leaves time to look at the node while the slots are held. */
    static const char conf[] = "[network]\naccept_unknown_peers = yes\nmax_handshakes = 2\n"
                               "handshake_timeout = 8\n";
    struct px_testnode a, b;
    struct px_identity wid;
    char wkey[65], *cb, *log;
    struct hs_client w;
    uint8_t buf[64];
    int s1, s2;

    new_identity(&wid, wkey);
    px_testnode_init(&a, tmp, "a", px_test_free_port);
    px_testnode_init(&b, tmp, "b", px_test_free_port);
    px_testnode_start(&a, conf);

    /* Two connections that send nothing fill both handshake slots. */
    s1 = tcp_connect(a.port);
    s2 = tcp_connect(a.port);
    px_testnode_wait_peers(&a, NULL, "handshake", 2, 1, WAIT_MS);

    /* A third is not accepted: its msg1 gets no answer while the slots are held. */
    hs_client_start(&w, &wid, a.key, a.port);
    px_testnode_wait_log(&a, "peer: 2 handshakes in progress; new connections wait", WAIT_MS);
    cr_assert_eq(px_testd_count_peers(&a.d, NULL, "handshake"), 2);
    cr_assert_eq(px_testd_count_peers(&a.d, NULL, NULL), 2, "the waiting connection was accepted");
    cr_assert(nothing_yet(w.fd), "the waiting connection got an answer or was closed");

    /* One stalled client gives up: its slot goes to the waiting one, which completes. */
    close(s1);
    hs_client_finish(&w);
    px_testnode_wait_peers(&a, wkey, "established", 1, 3, WAIT_MS);
    log = px_testnode_wait_log_line(&a, "closed during the handshake (0 bytes of msg1)", NULL,
                                    WAIT_MS);
    cr_assert(strstr(log, " warn: ") != NULL, "%s", log);
    free(log);

    /* The other is dropped at the handshake deadline, without a byte sent to it. */
    cr_assert_eq(recv_within(s2, buf, sizeof(buf), WAIT_MS), 0, "not closed at the deadline");
    px_testnode_wait_log(&a, "handshake not complete after 8000 ms", WAIT_MS);
    close(s2);
    px_testnode_wait_peers(&a, NULL, "handshake", 0, 3, WAIT_MS);

    /* An honest node dialing now gets through. */
    cr_assert(asprintf(&cb, "[network]\npeer = 127.0.0.1:%u %s\n", a.port, a.key) > 0);
    px_testnode_start(&b, cb);
    px_testnode_wait_peers(&a, b.key, "established", 1, 3, WAIT_MS);
    px_testnode_wait_peers(&b, a.key, "established", 1, 3, WAIT_MS);
    cr_assert_eq(px_testd_count_peers(&a.d, wkey, "established"), 1);

    hs_client_close(&w);
    px_identity_wipe(&wid);
    free(cb);
    px_testnode_free(&a);
    px_testnode_free(&b);
}

Test(peer_limits, connections_past_max_peers_are_refused)
{
    static const char conf[] = "[network]\naccept_unknown_peers = yes\nmax_peers = 2\n"
                               "max_handshakes = 2\n";
    struct px_testnode a;
    struct px_identity ids[3];
    char keys[3][65], *log;
    struct px_rawpeer r1, r2, r3;
    struct px_wire_msg *msg = calloc(1, sizeof(*msg));
    struct hs_client x;
    uint8_t buf[64];
    ssize_t k;

    cr_assert_not_null(msg);
    for (int i = 0; i < 3; i++) {
        new_identity(&ids[i], keys[i]);
    }
    px_testnode_init(&a, tmp, "a", px_test_free_port);
    px_testnode_start(&a, conf);
    raw_link(&r1, &ids[0], &a, msg);
    raw_link(&r2, &ids[1], &a, msg);
    px_testnode_wait_peers(&a, NULL, "established", 2, 3, WAIT_MS);

    /* A third connection is closed at once: not a byte of msg2. */
    hs_client_start(&x, &ids[2], a.key, a.port);
    k = recv_within(x.fd, buf, sizeof(buf), WAIT_MS);
    cr_assert(k == 0 || k == -1, "the node %s", k == -2 ? "kept it open" : "answered");
    hs_client_close(&x);
    log = px_testnode_wait_log_line(
        &a, "connecting -> closing (refused: too many peers (max_peers))", NULL, WAIT_MS);
    cr_assert(strstr(log, " warn: ") != NULL, "%s", log);
    free(log);

    /* The two links stay up and served. */
    ping_pong(&r1, msg, 1);
    ping_pong(&r2, msg, 2);
    cr_assert_eq(px_testd_count_peers(&a.d, keys[0], "established"), 1);
    cr_assert_eq(px_testd_count_peers(&a.d, keys[1], "established"), 1);
    cr_assert_eq(px_testd_count_peers(&a.d, keys[2], NULL), 0);

    /* Once one goes, its place can be taken. */
    px_rawpeer_close(&r1);
    px_testnode_wait_peers(&a, keys[0], NULL, 0, 3, WAIT_MS);
    raw_link(&r3, &ids[2], &a, msg);
    px_testnode_wait_peers(&a, keys[2], "established", 1, 3, WAIT_MS);
    ping_pong(&r2, msg, 3);

    px_rawpeer_close(&r2);
    px_rawpeer_close(&r3);
    for (int i = 0; i < 3; i++) {
        px_identity_wipe(&ids[i]);
    }
    free(msg);
    px_testnode_free(&a);
}

/* ---- A peer whose output is backed up ---- */

/* The idle check of these tests: 5 s (its minimum), checked every 5/3 s. */
static const char idle_conf[] = "[network]\naccept_unknown_peers = yes\nidle_timeout = 5\n"
                                "handshake_timeout = 2\n";
#define IDLE_MS 5000

/*
 * Records near the size cap (PX_RECORD_MAX), 59 KB each: a records message holds 17 of
 * them, about 1 MiB, so a write of the node's completes once per MiB the peer takes, and
 * one fetch of its wants (4 MiB, started while less than 2 MiB wait unsent) pushes the
 * unsent output past the 4 MiB at which the node stops reading the peer. BIG_N of them
 * make about 14 MiB: what the kernel's socket buffers take (about 2 MiB on loopback),
 * then two or three such fetches.
 */
#define BIG_N        240
#define BIG_BODY     32000
#define BIG_LINKS    14
#define BIG_LINK_LEN 1900
/*
 * The slow reader takes SLOW_RATE bytes a second: a records message every 2.6 s, well
 * inside the 5 s idle timeout, while the node, 2 to 4 MiB behind, does not read it for
 * much longer. It reads at that pace until the node has gone PAUSE_GOAL_MS without reading
 * it (more than the idle timeout and a check period: before the fix, certain to be
 * dropped), at most SLOW_MAX_MS; it looks at the node's log every LOOK_MS. Its receive
 * buffer is kept small, so that what it does not take backs up in the node.
 */
#define SLOW_RATE     (400u << 10)
#define SLOW_TICK_MS  20
#define PAUSE_GOAL_MS (IDLE_MS + IDLE_MS / 2)
#define SLOW_MAX_MS   30000
#define LOOK_MS       200
#define SMALL_RCVBUF  (64 << 10)

/* The ids of the node's records, and which of them arrived. */
struct big_set {
    uint8_t ids[BIG_N][PX_ID_BYTES];
    bool got[BIG_N];
    size_t n_got;
};

/*
 * Creates a node (tracked for teardown in big_live), starts it with idle_conf at the debug
 * level (for the line "output drained; reading again") and publishes BIG_N large cases,
 * in one praxis run. big_node_free stops it.
 */
static struct px_testnode *
big_node_start(struct big_set *set)
{
    struct px_testnode *n = calloc(1, sizeof(*n));
    struct px_testd_options opt = {.config = idle_conf, .log_level = "debug"};
    char link[BIG_LINK_LEN + 1], *path, *line, *save = NULL;
    struct px_run r;
    size_t i = 0;
    FILE *f;

    cr_assert_not_null(n);
    big_live = n;
    px_testnode_init(n, tmp, "a", px_test_free_port);
    opt.listen = n->listen;
    memset(set, 0, sizeof(*set));
    px_testd_start_opts(&n->d, n->dir, &opt);
    cr_assert(asprintf(&path, "%s/big.jsonl", tmp) > 0);
    cr_assert_not_null(f = fopen(path, "w"));
    memset(link, 'x', BIG_LINK_LEN);
    link[BIG_LINK_LEN] = '\0';
    for (int k = 0; k < BIG_N; k++) {
        fprintf(f, "{\"practice\": \"good\", \"title\": \"Large case %d\", \"summary\": \"s\", ",
                k);
        fprintf(f, "\"body\": \"%0*d\", \"links\": [", BIG_BODY, k);
        for (int j = 0; j < BIG_LINKS; j++) {
            fprintf(f, "%s\"https://example.org/%d/%s\"", j > 0 ? ", " : "", j, link);
        }
        fprintf(f, "], \"language\": \"en\", \"license\": \"CC-BY-4.0\"}\n");
    }
    cr_assert_eq(fclose(f), 0);
    px_testd_praxis(&n->d, &r, NULL, 0, "publish", "--json", path, NULL);
    cr_assert_eq(r.status, 0, "publish: %s", r.err);
    for (line = strtok_r(r.out, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
        const char *at = strstr(line, "\"id\":\"");

        cr_assert_lt(i, (size_t)BIG_N, "more ids than cases: %s", line);
        cr_assert_not_null(at, "%s", line);
        cr_assert_eq(px_hex_decode(at + 6, 2 * PX_ID_BYTES, set->ids[i], PX_ID_BYTES), 0, "%s",
                     line);
        i++;
    }
    cr_assert_eq(i, (size_t)BIG_N);
    cr_assert_eq(px_testd_records(&n->d), (uint64_t)BIG_N);
    px_run_free(&r);
    free(path);
    return n;
}

static void
big_node_free(struct px_testnode *n)
{
    px_testnode_free(n);
    free(n);
    big_live = NULL;
}

/* Asks the node for every record of set (wants of at most PX_WIRE_MAX_IDS ids). */
static void
want_all(struct px_rawpeer *rp, const struct big_set *set, struct px_wire_msg *msg)
{
    for (size_t i = 0; i < BIG_N;) {
        memset(msg, 0, sizeof(*msg));
        msg->type = PX_WIRE_WANT;
        for (; i < BIG_N && msg->n_ids < PX_WIRE_MAX_IDS; i++) {
            msg->ids[msg->n_ids++] = set->ids[i];
        }
        px_rawpeer_send(rp, msg);
    }
}

/* A small receive buffer: what the peer does not take stays with the node. */
static void
small_rcvbuf(const struct px_rawpeer *rp)
{
    int size = SMALL_RCVBUF;

    cr_assert_eq(setsockopt(rp->fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size)), 0, "%s",
                 strerror(errno));
}

/* The node's id for the peer whose key starts with key16, from its "-> established" line. */
static unsigned
peer_id_of(const struct px_testnode *n, const char *key16)
{
    char *line = px_testd_log_line(&n->d, key16, "-> established");
    const char *at;
    unsigned id = 0;

    cr_assert_not_null(line, "no established line for %s", key16);
    cr_assert_not_null(at = strstr(line, " peer "), "%s", line);
    cr_assert_eq(sscanf(at, " peer %u ", &id), 1, "%s", line);
    free(line);
    return id;
}

#define DAY_MS (24 * 3600 * 1000)

/*
 * The time of day of a log line ("2026-01-02T03:04:05.678Z praxisd..."), in ms (UTC), or
 * -1 for a line that does not start with one.
 */
static int64_t
line_ms(const char *line)
{
    int h, m, s, ms;

    if (sscanf(line, "%*d-%*d-%*dT%d:%d:%d.%dZ", &h, &m, &s, &ms) != 4) {
        return -1;
    }
    return (((int64_t)h * 60 + m) * 60 + s) * 1000 + ms;
}

/* From time of day a to time of day b (b not earlier than a, and less than a day later). */
static int64_t
ms_between(int64_t a, int64_t b)
{
    return ((b - a) % DAY_MS + DAY_MS) % DAY_MS;
}

/* The time of day now, in ms (UTC), as the log writes it. */
static int64_t
day_ms_now(void)
{
    struct timespec ts;

    cr_assert_eq(clock_gettime(CLOCK_REALTIME, &ts), 0);
    return (int64_t)(ts.tv_sec % (DAY_MS / 1000)) * 1000 + ts.tv_nsec / 1000000;
}

/* What the node's log says about the times it did not read a peer. */
struct pauses {
    unsigned n;      /* how often it stopped reading the peer: its output was backed up */
    int64_t first;   /* the time of day of the first pause's line, in ms; -1: none */
    int64_t longest; /* the longest time it went without reading it, in ms */
    char *lines;     /* those lines of the log, for messages (malloc'd) */
};

/*
 * Reads the node's log for the pauses of peer id: each from "not reading it until it
 * catches up" to the next "output drained; reading again" (a debug line), or to now if it
 * has not read the peer again yet.
 */
static void
pauses_of(const struct px_testnode *n, unsigned id, struct pauses *ps)
{
    char *log = px_testd_log(&n->d), *line, *save = NULL, tag[32];
    size_t len = 0;
    int64_t start = -1;

    memset(ps, 0, sizeof(*ps));
    ps->first = -1;
    cr_assert_not_null(ps->lines = calloc(1, strlen(log) + 1));
    snprintf(tag, sizeof(tag), " peer %u: ", id);
    for (line = strtok_r(log, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
        int64_t t = line_ms(line);

        if (t < 0 || strstr(line, tag) == NULL) {
            continue;
        }
        if (strstr(line, "bytes unsent; not reading it until it catches up") != NULL) {
            cr_assert_lt(start, 0, "paused twice in a row: %s", line);
            start = t;
            if (ps->n++ == 0) {
                ps->first = t;
            }
        } else if (strstr(line, "output drained; reading again") != NULL) {
            cr_assert_geq(start, 0, "read again without a pause: %s", line);
            if (ms_between(start, t) > ps->longest) {
                ps->longest = ms_between(start, t);
            }
            start = -1;
        } else {
            continue;
        }
        len += (size_t)sprintf(ps->lines + len, "%s\n", line);
    }
    if (start >= 0 && ms_between(start, day_ms_now()) > ps->longest) {
        ps->longest = ms_between(start, day_ms_now());
    }
    free(log);
}

/*
 * Reads a raw peer's socket only when told to, opens the bytes (with the peer's opener)
 * and splits the plaintext into wire messages, so the test sets how fast the node's
 * output drains. Once it has taken bytes, px_rawpeer_recv must not be used on the peer:
 * the two would split the stream between them.
 */
struct slow_reader {
    struct px_rawpeer *rp;
    uint8_t *plain;
    size_t len, cap;
    uint8_t *body;  /* the message returned last (msg borrows it) */
    uint64_t taken; /* bytes taken from the socket */
    bool ended;     /* the node's goodbye, EOF or a reset */
};

/* Takes at most max bytes that are there now; none when nothing is. */
static void
reader_take(struct slow_reader *r, uint64_t max)
{
    uint8_t buf[16384];

    while (max > 0 && !r->ended) {
        ssize_t k =
            recv(r->rp->fd, buf, max < sizeof(buf) ? (size_t)max : sizeof(buf), MSG_DONTWAIT);
        size_t off = 0;

        if (k < 0 && errno == EINTR) {
            continue;
        }
        if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            return;
        }
        if (k <= 0) {
            r->ended = true; /* EOF, or a reset */
            return;
        }
        r->taken += (uint64_t)k;
        max -= (uint64_t)k;
        while (off < (size_t)k && !r->ended) {
            enum px_boxstream_event ev;
            const uint8_t *chunk;
            size_t used, clen;

            cr_assert_eq(px_boxstream_feed(&r->rp->opener, buf + off, (size_t)k - off, &used, &ev,
                                           &chunk, &clen),
                         0, "the node's box-stream does not open");
            off += used;
            if (ev == PX_BOXSTREAM_GOODBYE) {
                r->ended = true;
            } else if (ev == PX_BOXSTREAM_CHUNK) {
                if (r->len + clen > r->cap) {
                    r->cap = r->cap * 2 > r->len + clen ? r->cap * 2 : r->len + clen;
                    cr_assert_not_null(r->plain = realloc(r->plain, r->cap));
                }
                memcpy(r->plain + r->len, chunk, clen);
                r->len += clen;
            }
        }
    }
}

/* The next whole message among the bytes taken: true and *msg, or false. */
static bool
reader_next(struct slow_reader *r, struct px_wire_msg *msg)
{
    uint32_t len;
    int rc;

    free(r->body);
    r->body = NULL;
    if (r->len < 4) {
        return false;
    }
    cr_assert_eq(px_wire_frame_len(r->plain, &len), 0, "the node sent a bad length %u", len);
    if (r->len - 4 < len) {
        return false;
    }
    cr_assert_not_null(r->body = malloc(len));
    memcpy(r->body, r->plain + 4, len);
    memmove(r->plain, r->plain + 4 + len, r->len - 4 - len);
    r->len -= 4 + (size_t)len;
    rc = px_wire_decode(r->body, len, msg);
    cr_assert_eq(rc, 0, "the node sent an undecodable message: %s", px_err_name(rc));
    return true;
}

static void
reader_free(struct slow_reader *r)
{
    free(r->plain);
    free(r->body);
}

/*
 * A message of the node's to the slow reader: each record must be one of set's, signed
 * and not seen before; a ping is answered (the reader is alive, only slow); a bye fails
 * the test.
 */
static void
reader_handle(struct slow_reader *r, struct big_set *set, struct px_wire_msg *msg)
{
    switch (msg->type) {
    case PX_WIRE_RECORDS:
        for (uint32_t i = 0; i < msg->n_records; i++) {
            struct px_record rec;
            size_t k = 0;
            int rc = px_record_decode(msg->records[i], msg->record_lens[i], &rec, NULL);

            cr_assert_eq(rc, 0, "a record that does not decode: %s", px_err_name(rc));
            cr_assert_eq(px_record_verify(&rec), 0, "a record whose signature fails");
            while (k < BIG_N && memcmp(set->ids[k], rec.id, PX_ID_BYTES) != 0) {
                k++;
            }
            cr_assert_lt(k, (size_t)BIG_N, "a record we did not ask for");
            cr_assert(!set->got[k], "record %zu twice", k);
            set->got[k] = true;
            set->n_got++;
        }
        break;
    case PX_WIRE_PING:
        msg->type = PX_WIRE_PONG;
        px_rawpeer_send(r->rp, msg);
        break;
    case PX_WIRE_BYE:
        cr_assert_fail("the node said bye after %llu bytes: %s (%.*s)",
                       (unsigned long long)r->taken, px_err_name(msg->code), (int)msg->reason.len,
                       msg->reason.p);
        break;
    default:
        break;
    }
}

/* Fails the test, with the node's reason, if it ended the slow reader's connection. */
static void
reader_not_dropped(const struct slow_reader *r, const struct px_testnode *n, const char *key16,
                   const struct big_set *set)
{
    char *line;

    if (r->ended) {
        line = px_testd_log_line(&n->d, key16, "-> closing");
        cr_assert_fail("the node closed the slow reader's connection after %llu bytes, %zu of %d "
                       "records: %s",
                       (unsigned long long)r->taken, set->n_got, BIG_N,
                       line != NULL ? line : "(no line in its log)");
    }
}

Test(peer_limits, slow_reader_of_backed_up_output_stays)
{
    struct px_testnode *a;
    struct px_identity id;
    char key[65], key16[17], *line;
    struct px_rawpeer rp;
    struct slow_reader r = {.rp = &rp};
    struct px_wire_msg *msg = calloc(1, sizeof(*msg));
    struct big_set *set = calloc(1, sizeof(*set));
    int64_t t0, now, next_look, deadline;
    struct pauses ps;
    unsigned peer;
    bool pong = false;

    cr_assert(msg != NULL && set != NULL);
    new_identity(&id, key);
    snprintf(key16, sizeof(key16), "%.16s", key);
    a = big_node_start(set);
    raw_link(&rp, &id, a, msg);
    cr_assert_eq(rp.in_len, 0, "bytes after the node's hello");
    small_rcvbuf(&rp);
    peer = peer_id_of(a, key16);
    want_all(&rp, set, msg);

    /*
     * Take SLOW_RATE bytes a second, answering its pings, until the node has gone
     * PAUSE_GOAL_MS without reading us: its output to us is backed up past 4 MiB, and
     * only the writes we drain show it we are alive.
     */
    t0 = next_look = px_testd_now_ms();
    for (;;) {
        uint64_t due;

        now = px_testd_now_ms();
        due = (uint64_t)SLOW_RATE * (uint64_t)(now - t0) / 1000;
        if (due > r.taken) {
            reader_take(&r, due - r.taken);
        }
        while (reader_next(&r, msg)) {
            reader_handle(&r, set, msg);
        }
        reader_not_dropped(&r, a, key16, set);
        if (now >= next_look) {
            pauses_of(a, peer, &ps);
            if (ps.longest >= PAUSE_GOAL_MS) {
                break;
            }
            cr_assert_lt(now - t0, SLOW_MAX_MS,
                         "in %d ms the node never went %d ms without reading the peer:\n%s",
                         SLOW_MAX_MS, PAUSE_GOAL_MS, ps.lines);
            free(ps.lines);
            next_look = now + LOOK_MS;
        }
        poll(NULL, 0, SLOW_TICK_MS); /* the pace: the point of this loop */
    }
    cr_assert_lt(set->n_got, (size_t)BIG_N, "it all arrived while reading slowly");
    cr_log_info("slow reader: %llu bytes, %zu records in %lld ms; not read for %lld ms:\n%s",
                (unsigned long long)r.taken, set->n_got, (long long)(now - t0),
                (long long)ps.longest, ps.lines);
    free(ps.lines);

    /* Then at full speed: every record arrives, intact, once. */
    deadline = px_testd_now_ms() + WAIT_MS;
    while (set->n_got < BIG_N) {
        struct pollfd pfd = {rp.fd, POLLIN, 0};
        int64_t left = deadline - px_testd_now_ms();

        reader_not_dropped(&r, a, key16, set);
        cr_assert_gt(left, 0, "%zu of %d records after %d ms", set->n_got, BIG_N, WAIT_MS);
        poll(&pfd, 1, (int)left);
        reader_take(&r, UINT64_MAX);
        while (reader_next(&r, msg)) {
            reader_handle(&r, set, msg);
        }
    }

    /* The link is up and served: a ping of ours is answered. */
    memset(msg, 0, sizeof(*msg));
    msg->type = PX_WIRE_PING;
    msg->nonce = 4242;
    px_rawpeer_send(&rp, msg);
    deadline = px_testd_now_ms() + WAIT_MS;
    while (!pong) {
        struct pollfd pfd = {rp.fd, POLLIN, 0};
        int64_t left = deadline - px_testd_now_ms();

        reader_not_dropped(&r, a, key16, set);
        cr_assert_gt(left, 0, "no pong in %d ms", WAIT_MS);
        poll(&pfd, 1, (int)left);
        reader_take(&r, UINT64_MAX);
        while (!pong && reader_next(&r, msg)) {
            pong = msg->type == PX_WIRE_PONG && msg->nonce == 4242;
            reader_handle(&r, set, msg);
        }
    }
    cr_assert_eq(px_testd_count_peers(&a->d, key, "established"), 1);
    line = px_testd_log_line(&a->d, key16, "-> closing");
    cr_assert_null(line, "%s", line);
    pauses_of(a, peer, &ps);
    cr_log_info("slow reader: %u pauses, the longest %lld ms:\n%s", ps.n, (long long)ps.longest,
                ps.lines);
    free(ps.lines);

    reader_free(&r);
    px_rawpeer_close(&rp);
    px_identity_wipe(&id);
    free(set);
    free(msg);
    big_node_free(a);
}

Test(peer_limits, peer_that_reads_none_of_its_output_is_dropped)
{
    struct px_testnode *a;
    struct px_identity id;
    char key[65], key16[17], *line;
    struct px_rawpeer rp;
    struct px_wire_msg *msg = calloc(1, sizeof(*msg));
    struct big_set *set = calloc(1, sizeof(*set));
    int64_t t0, took, drop_after;
    unsigned long quiet;
    struct pauses ps;

    cr_assert(msg != NULL && set != NULL);
    new_identity(&id, key);
    snprintf(key16, sizeof(key16), "%.16s", key);
    a = big_node_start(set);
    raw_link(&rp, &id, a, msg);
    small_rcvbuf(&rp);

    /* It asks for everything and then reads not a byte. */
    t0 = px_testd_now_ms();
    want_all(&rp, set, msg);
    line = px_testnode_wait_log_line(a, key16, "established -> closing", WAIT_MS);
    took = px_testd_now_ms() - t0;
    cr_assert_not_null(strstr(line, "(timeout: it read none of our output for "), "%s", line);
    cr_assert(strstr(line, " warn: ") != NULL, "%s", line);
    quiet = strtoul(strstr(line, "output for ") + 11, NULL, 10);
    cr_assert_geq(quiet, (unsigned long)IDLE_MS, "%s", line);
    /* The checks fall on thirds of the timeout: the drop comes within four thirds. */
    cr_assert_lt(took, IDLE_MS + IDLE_MS / 3 + 2000, "dropped %lld ms after its wants",
                 (long long)took);
    cr_log_info("non-reader dropped %lld ms after its wants: %s", (long long)took, line);

    /* It was dropped for not draining: the node had stopped reading it an idle timeout
     * before (its output was backed up past 4 MiB). */
    pauses_of(a, peer_id_of(a, key16), &ps);
    cr_assert_geq(ps.n, 1, "never paused");
    cr_assert_geq(line_ms(line), 0, "%s", line);
    drop_after = ms_between(ps.first, line_ms(line));
    cr_assert_geq(drop_after, IDLE_MS, "dropped %lld ms after it stopped being read:\n%s%s",
                  (long long)drop_after, ps.lines, line);
    free(ps.lines);
    free(line);

    /* Its bye cannot leave: after the grace the connection is reset, and its row goes. */
    cr_assert(px_rawpeer_wait_closed(&rp), "the connection stayed open");
    px_testnode_wait_peers(a, key, NULL, 0, 1, WAIT_MS);

    px_rawpeer_close(&rp);
    px_identity_wipe(&id);
    free(set);
    free(msg);
    big_node_free(a);
}
