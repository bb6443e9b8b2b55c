/* SPDX-License-Identifier: MIT */
/*
 * test_peers.c - real praxisd nodes on 127.0.0.1 linking up over the secret handshake:
 * two nodes, a chain of three, a restart, simultaneous dialing, and the ways a connection
 * must fail (another network, an unknown key, garbage, a stalled handshake) while the node
 * keeps serving; and a raw test peer (util/rawpeer.h) that completes the handshake and then
 * breaks the stream: tampered box-stream frames, oversize frames and messages, a message
 * before hello, an unsupported wire version. Ports are chosen at run time; every wait polls
 * against a deadline.
 */
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "common/identity.h"
#include "protocol/boxstream.h"
#include "protocol/buf.h"
#include "protocol/err.h"
#include "protocol/wire.h"
#include "util/daemon_util.h"
#include "util/rawpeer.h"
#include "util/testnode.h"

#define WAIT_MS 15000

/* A second network's key (any 32 bytes but the main one). */
#define OTHER_NETKEY "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

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

TestSuite(peers, .init = setup, .fini = teardown, .timeout = 120);

static void
status_ok(const struct px_testnode *n)
{
    struct px_run r;

    px_testd_praxis(&n->d, &r, NULL, 0, "status", NULL);
    cr_assert_eq(r.status, 0, "status: %s", r.err);
    px_run_free(&r);
}

Test(peers, two_nodes_connect_once)
{
    struct px_testnode a, b;
    struct px_testnode *pa[] = {&b}, *pb[] = {&a};
    char *ca, *cb;
    struct px_run r;

    px_testnode_init(&a, tmp, "a", px_test_free_port);
    px_testnode_init(&b, tmp, "b", px_test_free_port);
    ca = px_testnode_peer_config(NULL, pa, 1);
    cb = px_testnode_peer_config(NULL, pb, 1);
    /* Both list each other, so both dial at once: exactly one connection must remain. */
    px_testnode_start(&a, ca);
    px_testnode_start(&b, cb);
    px_testnode_wait_peers(&a, b.key, "established", 1, 3, WAIT_MS);
    px_testnode_wait_peers(&b, a.key, "established", 1, 3, WAIT_MS);
    px_testd_praxis(&a.d, &r, NULL, 0, "status", "--json", NULL);
    cr_assert(strstr(r.out, "\"peers\":1") != NULL, "status: %s", r.out);
    px_run_free(&r);
    px_testd_praxis(&a.d, &r, NULL, 0, "peers", NULL);
    cr_assert_eq(r.status, 0);
    cr_assert(strstr(r.out, "established") != NULL, "%s", r.out);
    px_run_free(&r);
    /* A clean stop says bye. */
    cr_assert_eq(px_testd_stop(&b.d), 0);
    px_testnode_wait_log(&a, "peer said bye", WAIT_MS);
    free(ca);
    free(cb);
    px_testnode_free(&a);
    px_testnode_free(&b);
}

Test(peers, chain_of_three_and_restart)
{
    struct px_testnode a, b, c;
    struct px_testnode *pa[] = {&b}, *pb[] = {&a, &c}, *pc[] = {&b};
    char *ca, *cb, *cc;

    px_testnode_init(&a, tmp, "a", px_test_free_port);
    px_testnode_init(&b, tmp, "b", px_test_free_port);
    px_testnode_init(&c, tmp, "c", px_test_free_port);
    ca = px_testnode_peer_config(NULL, pa, 1);
    cb = px_testnode_peer_config(NULL, pb, 2);
    cc = px_testnode_peer_config(NULL, pc, 1);
    px_testnode_start(&a, ca);
    px_testnode_start(&b, cb);
    px_testnode_start(&c, cc);
    px_testnode_wait_peers(&a, b.key, "established", 1, 3, WAIT_MS);
    px_testnode_wait_peers(&b, a.key, "established", 1, 3, WAIT_MS);
    px_testnode_wait_peers(&b, c.key, "established", 1, 3, WAIT_MS);
    px_testnode_wait_peers(&c, b.key, "established", 1, 3, WAIT_MS);
    cr_assert_eq(px_testd_count_peers(&a.d, c.key, "established"), 0);

    /* B goes away and comes back on the same directory and port: links come back. */
    cr_assert_eq(px_testd_stop(&b.d), 0);
    px_testd_restart(&b.d);
    px_testnode_wait_peers(&a, b.key, "established", 1, 3, WAIT_MS);
    px_testnode_wait_peers(&c, b.key, "established", 1, 3, WAIT_MS);
    px_testnode_wait_peers(&b, a.key, "established", 1, 3, WAIT_MS);
    px_testnode_wait_peers(&b, c.key, "established", 1, 3, WAIT_MS);
    free(ca);
    free(cb);
    free(cc);
    px_testnode_free(&a);
    px_testnode_free(&b);
    px_testnode_free(&c);
}

Test(peers, refused_links_leave_the_node_serving)
{
    struct px_testnode a, b, other, stranger;
    struct px_testnode *pa[] = {&b}, *pb[] = {&a}, *pto[] = {&a};
    char *ca, *cb, *co, *cs, *extra;

    px_testnode_init(&a, tmp, "a", px_test_free_port);
    px_testnode_init(&b, tmp, "b", px_test_free_port);
    px_testnode_init(&other, tmp, "other", px_test_free_port);
    px_testnode_init(&stranger, tmp, "stranger", px_test_free_port);
    ca = px_testnode_peer_config("handshake_timeout = 1\nidle_timeout = 5\n", pa, 1);
    cb = px_testnode_peer_config(NULL, pb, 1);
    cr_assert(asprintf(&extra, "network_key = %s\n", OTHER_NETKEY) > 0);
    co = px_testnode_peer_config(extra, pto, 1);
    cs = px_testnode_peer_config(NULL, pto, 1);
    px_testnode_start(&a, ca);
    px_testnode_start(&b, cb);
    px_testnode_wait_peers(&a, b.key, "established", 1, 3, WAIT_MS);

    /* Another network: fails at msg1, no reply. */
    px_testnode_start(&other, co);
    px_testnode_wait_log(&a, "msg1: EPROTO", WAIT_MS);
    /* A key A does not list (accept_unknown_peers = no): refused after msg3. */
    px_testnode_start(&stranger, cs);
    px_testnode_wait_log(&a, stranger.key, WAIT_MS);
    px_testnode_wait_log(&a, "not on a peer line", WAIT_MS);

    /* Garbage on the port, and a client that stalls half-way through msg1. */
    {
        struct sockaddr_in sa;
        int g = socket(AF_INET, SOCK_STREAM, 0), h = socket(AF_INET, SOCK_STREAM, 0);
        uint8_t junk[64];
        char buf[16];

        memset(&sa, 0, sizeof(sa));
        sa.sin_family = AF_INET;
        sa.sin_port = htons(a.port);
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        cr_assert_eq(connect(g, (struct sockaddr *)&sa, sizeof(sa)), 0);
        cr_assert_eq(connect(h, (struct sockaddr *)&sa, sizeof(sa)), 0);
        memset(junk, 'x', sizeof(junk));
        cr_assert_eq(send(g, junk, sizeof(junk), MSG_NOSIGNAL), (ssize_t)sizeof(junk));
        cr_assert_eq(send(h, junk, 32, MSG_NOSIGNAL), 32);
        /* Neither gets a single byte back: A closes both. */
        {
            struct timeval tv = {WAIT_MS / 1000, 0};

            setsockopt(g, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
            setsockopt(h, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        }
        cr_assert_leq(recv(g, buf, sizeof(buf), 0), 0);
        cr_assert_leq(recv(h, buf, sizeof(buf), 0), 0);
        close(g);
        close(h);
    }
    px_testnode_wait_log(&a, "handshake not complete", WAIT_MS);

    /* Through all of it A kept its link to B and kept serving. */
    status_ok(&a);
    cr_assert_eq(px_testd_count_peers(&a.d, b.key, "established"), 1);
    cr_assert_eq(px_testd_count_peers(&b.d, a.key, "established"), 1);
    cr_assert_eq(px_testd_count_peers(&a.d, other.key, "established"), 0);
    cr_assert_eq(px_testd_count_peers(&a.d, stranger.key, "established"), 0);
    free(extra);
    free(ca);
    free(cb);
    free(co);
    free(cs);
    px_testnode_free(&a);
    px_testnode_free(&b);
    px_testnode_free(&other);
    px_testnode_free(&stranger);
}

/* ---- A raw test peer that breaks the stream after a valid handshake ---- */

/* Node a, with an honest peer b linked to it and a test peer's key on a peer line. */
struct hostile {
    struct px_testnode a, b;
    struct px_identity me;
    char *ca, *cb;
    struct px_wire_msg *msg;
};

static void
hostile_start(struct hostile *h)
{
    struct px_testnode *pa[] = {&h->b}, *pb[] = {&h->a};
    char mykey[65], *extra;

    memset(h, 0, sizeof(*h));
    cr_assert_not_null(h->msg = calloc(1, sizeof(*h->msg)));
    cr_assert_eq(px_crypto_init(), 0);
    cr_assert_eq(px_identity_generate(&h->me), 0);
    px_hex_encode(h->me.pk, PX_SIGN_PUBLICKEYBYTES, mykey);
    px_testnode_init(&h->a, tmp, "a", px_test_free_port);
    px_testnode_init(&h->b, tmp, "b", px_test_free_port);
    /* The test peer is allowed in (a peer line at a port nobody listens on). */
    cr_assert(asprintf(&extra, "peer = 127.0.0.1:%u %s\n", px_test_free_port(), mykey) > 0);
    h->ca = px_testnode_peer_config(extra, pa, 1);
    h->cb = px_testnode_peer_config(NULL, pb, 1);
    free(extra);
    px_testnode_start(&h->a, h->ca);
    px_testnode_start(&h->b, h->cb);
    px_testnode_wait_peers(&h->a, h->b.key, "established", 1, 3, WAIT_MS);
}

/* Connects the test peer to a and sends a hello of this version. */
static void
hostile_connect(struct hostile *h, struct px_rawpeer *rp, uint32_t version)
{
    px_rawpeer_connect(rp, &h->me, h->a.key, h->a.port);
    if (version != 0) {
        memset(h->msg, 0, sizeof(*h->msg));
        h->msg->type = PX_WIRE_HELLO;
        h->msg->version = version;
        h->msg->name = (struct px_str){"hostile", 7};
        px_rawpeer_send(rp, h->msg);
    }
}

/*
 * a answers with its own hello (sent when the handshake completed) and then a bye with this
 * code, ends its stream and closes the connection; the reason is in its log; it keeps
 * serving and keeps its link to b.
 */
static void
hostile_expect_close(struct hostile *h, struct px_rawpeer *rp, int code, const char *logged)
{
    struct px_wire_msg *msg = h->msg;
    bool bye = false;

    for (int rc; (rc = px_rawpeer_recv(rp, msg)) == 0;) {
        cr_assert(!bye, "a %s after the bye", px_wire_type_name(msg->type));
        if (msg->type == PX_WIRE_BYE) {
            cr_assert_eq(msg->code, code, "bye %s, want %s", px_err_name(msg->code),
                         px_err_name(code));
            bye = true;
        } else {
            cr_assert_eq(msg->type, PX_WIRE_HELLO, "a %s before the bye",
                         px_wire_type_name(msg->type));
        }
    }
    cr_assert(bye, "the node closed without a bye");
    cr_assert(px_rawpeer_wait_closed(rp), "the node kept the connection open");
    px_rawpeer_close(rp);
    px_testnode_wait_log(&h->a, logged, WAIT_MS);
    status_ok(&h->a);
    px_testnode_wait_peers(&h->a, h->b.key, "established", 1, 3, WAIT_MS);
    px_testnode_wait_peers(&h->b, h->a.key, "established", 1, 3, WAIT_MS);
}

static void
hostile_free(struct hostile *h)
{
    px_identity_wipe(&h->me);
    free(h->ca);
    free(h->cb);
    free(h->msg);
    px_testnode_free(&h->a);
    px_testnode_free(&h->b);
}

/* A ping, sealed as one frame into out; returns the frame's length. */
static size_t
sealed_ping(struct hostile *h, struct px_rawpeer *rp, uint8_t *out)
{
    uint8_t plain[64];
    size_t len;

    memset(h->msg, 0, sizeof(*h->msg));
    h->msg->type = PX_WIRE_PING;
    h->msg->nonce = 42;
    cr_assert_eq(px_wire_encode(h->msg, plain, sizeof(plain), &len), 0);
    px_rawpeer_seal(rp, plain, len, out);
    return PX_BOXSTREAM_FRAME_BYTES(len);
}

Test(peers, tampered_boxstream_frames_close_the_link)
{
    struct hostile h;
    struct px_rawpeer rp;
    uint8_t frame[PX_BOXSTREAM_HEADER_BYTES + 64];
    size_t len;

    hostile_start(&h);
    /* A flipped byte in a sealed header. */
    hostile_connect(&h, &rp, PX_WIRE_VERSION);
    len = sealed_ping(&h, &rp, frame);
    frame[5] ^= 0x01;
    px_rawpeer_send_bytes(&rp, frame, len);
    hostile_expect_close(&h, &rp, PX_EPROTO, "protocol error: " PX_BOXSTREAM_WHY_HEADER);
    /* A flipped byte in a sealed body. */
    hostile_connect(&h, &rp, PX_WIRE_VERSION);
    len = sealed_ping(&h, &rp, frame);
    frame[len - 1] ^= 0x80;
    px_rawpeer_send_bytes(&rp, frame, len);
    hostile_expect_close(&h, &rp, PX_EPROTO, "protocol error: " PX_BOXSTREAM_WHY_BODY);
    hostile_free(&h);
}

Test(peers, oversize_frames_close_the_link)
{
    struct hostile h;
    struct px_rawpeer rp;
    uint8_t hdr[PX_BOXSTREAM_HEADER_BYTES], prefix[4];
    char logged[96];

    hostile_start(&h);
    /* A well-sealed header that announces a body one byte over the box-stream limit. */
    hostile_connect(&h, &rp, PX_WIRE_VERSION);
    px_rawpeer_seal_header(&rp, PX_BOXSTREAM_MAX_BODY + 1, hdr);
    px_rawpeer_send_bytes(&rp, hdr, sizeof(hdr));
    hostile_expect_close(&h, &rp, PX_EPROTO, "protocol error: " PX_BOXSTREAM_WHY_TOOBIG);
    /* A valid box-stream carrying a wire length prefix one byte over PX_WIRE_MAX_MSG. */
    hostile_connect(&h, &rp, PX_WIRE_VERSION);
    px_store_be32(prefix, PX_WIRE_MAX_MSG + 1);
    px_rawpeer_send_plain(&rp, prefix, sizeof(prefix));
    snprintf(logged, sizeof(logged), "protocol error: bad message length %u: %s",
             PX_WIRE_MAX_MSG + 1, px_err_name(PX_ETOOBIG));
    hostile_expect_close(&h, &rp, PX_EPROTO, logged);
    hostile_free(&h);
}

Test(peers, message_before_hello_closes_the_link)
{
    struct hostile h;
    struct px_rawpeer rp;

    hostile_start(&h);
    hostile_connect(&h, &rp, 0);
    memset(h.msg, 0, sizeof(*h.msg));
    h.msg->type = PX_WIRE_PING;
    h.msg->nonce = 7;
    px_rawpeer_send(&rp, h.msg);
    hostile_expect_close(&h, &rp, PX_EPROTO, "protocol error: ping before hello");
    hostile_free(&h);
}

Test(peers, unsupported_version_gets_a_bye)
{
    struct hostile h;
    struct px_rawpeer rp;
    char logged[96];

    hostile_start(&h);
    hostile_connect(&h, &rp, PX_WIRE_VERSION + 1);
    snprintf(logged, sizeof(logged), "version: unsupported wire version %u (we speak %u)",
             PX_WIRE_VERSION + 1, PX_WIRE_VERSION);
    hostile_expect_close(&h, &rp, PX_EVERSION, logged);
    hostile_free(&h);
}
