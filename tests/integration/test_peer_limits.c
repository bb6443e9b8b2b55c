/* SPDX-License-Identifier: MIT */
/*
 * test_peer_limits.c - the peer manager's timers and caps against a real praxisd on
 * 127.0.0.1: the idle check (a silent peer is pinged, then dropped with bye EBUSY and a
 * logged reason; a peer that answers pings stays), network.max_handshakes (connections past
 * it wait in the kernel's backlog, unanswered, until a handshake slot frees; then they and
 * an honest node get through) and network.max_peers (a connection past it is closed at
 * once with a logged reason, the links already up stay, and a freed place can be taken).
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
#include <unistd.h>

#include <criterion/criterion.h>
#include <sodium.h>

#include "common/identity.h"
#include "daemon/config.h"
#include "protocol/buf.h"
#include "protocol/err.h"
#include "protocol/shs.h"
#include "protocol/wire.h"
#include "util/daemon_util.h"
#include "util/rawpeer.h"
#include "util/testnode.h"

#define WAIT_MS 15000

static char *tmp;

static void
setup(void)
{
    unsetenv("PRAXIS_SOCKET");
    tmp = px_test_tmpdir();
}

static void
teardown(void)
{
    px_test_rmtree(tmp);
    free(tmp);
}

TestSuite(peer_limits, .init = setup, .fini = teardown, .timeout = 120);

/* Waits until the node's log holds text; returns the first line that holds it (malloc'd). */
static char *
wait_log(const struct px_testnode *n, const char *text)
{
    int64_t deadline = px_testd_now_ms() + WAIT_MS;
    char *log = NULL, *at;

    while (px_testd_now_ms() < deadline) {
        free(log);
        log = px_testd_log(&n->d);
        if ((at = strstr(log, text)) != NULL) {
            char *line = at, *end = strchr(at, '\n');

            while (line > log && line[-1] != '\n') {
                line--;
            }
            if (end != NULL) {
                *end = '\0';
            }
            memmove(log, line, strlen(line) + 1);
            return log;
        }
        px_testd_poll_pause();
    }
    cr_assert_fail("node %s: no \"%s\" in the log:\n%s", n->dir, text, log);
    return NULL;
}

/* The log line that holds both a and b, or NULL (malloc'd). */
static char *
log_line_with(const struct px_testnode *n, const char *a, const char *b)
{
    char *log = px_testd_log(&n->d), *line, *save = NULL, *found = NULL;

    for (line = strtok_r(log, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
        if (strstr(line, a) != NULL && strstr(line, b) != NULL) {
            found = strdup(line);
            break;
        }
    }
    free(log);
    return found;
}

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
    free(wait_log(&a, "timeout: nothing received for"));
    {
        char key16[17];

        snprintf(key16, sizeof(key16), "%.16s", silent_key);
        line = log_line_with(&a, key16, "timeout: nothing received for");
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
    free(wait_log(&a, "peer: 2 handshakes in progress; new connections wait"));
    cr_assert_eq(px_testd_count_peers(&a.d, NULL, "handshake"), 2);
    cr_assert_eq(px_testd_count_peers(&a.d, NULL, NULL), 2, "the waiting connection was accepted");
    cr_assert(nothing_yet(w.fd), "the waiting connection got an answer or was closed");

    /* One stalled client gives up: its slot goes to the waiting one, which completes. */
    close(s1);
    hs_client_finish(&w);
    px_testnode_wait_peers(&a, wkey, "established", 1, 3, WAIT_MS);
    log = wait_log(&a, "closed during the handshake (0 bytes of msg1)");
    cr_assert(strstr(log, " warn: ") != NULL, "%s", log);
    free(log);

    /* The other is dropped at the handshake deadline, without a byte sent to it. */
    cr_assert_eq(recv_within(s2, buf, sizeof(buf), WAIT_MS), 0, "not closed at the deadline");
    free(wait_log(&a, "handshake not complete after 8000 ms"));
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
    log = wait_log(&a, "connecting -> closing (refused: too many peers (max_peers))");
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
