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
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <jansson.h>

#include "common/identity.h"
#include "protocol/boxstream.h"
#include "protocol/buf.h"
#include "protocol/err.h"
#include "protocol/wire.h"
#include "util/daemon_util.h"
#include "util/rawpeer.h"

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

struct node {
    struct px_testd d;
    char *dir;
    char key[65];
    uint16_t port;
    char listen[32];
};

static void
pause_a_little(void)
{
    struct timespec ts = {0, 50 * 1000 * 1000};

    nanosleep(&ts, NULL);
}

/* Creates the node's identity (a first start without peers) and picks its port. */
static void
node_init(struct node *n, const char *name)
{
    struct px_run r;
    json_error_t jerr;
    json_t *o;

    memset(n, 0, sizeof(*n));
    cr_assert(asprintf(&n->dir, "%s/%s", tmp, name) > 0);
    px_testd_start(&n->d, n->dir);
    px_testd_praxis(&n->d, &r, NULL, 0, "status", "--json", NULL);
    cr_assert_eq(r.status, 0, "status: %s", r.err);
    o = json_loads(r.out, 0, &jerr);
    cr_assert_not_null(o);
    snprintf(n->key, sizeof(n->key), "%s", json_string_value(json_object_get(o, "public_key")));
    json_decref(o);
    px_run_free(&r);
    px_testd_free(&n->d);
    n->port = px_test_free_port();
    snprintf(n->listen, sizeof(n->listen), "127.0.0.1:%u", n->port);
}

/* Starts the node listening on its port with the extra config text. */
static void
node_start(struct node *n, const char *config)
{
    struct px_testd_options opt = {.listen = n->listen, .config = config};

    px_testd_start_opts(&n->d, n->dir, &opt);
}

static void
node_free(struct node *n)
{
    px_testd_free(&n->d);
    free(n->dir);
}

/* "[network]\npeer = 127.0.0.1:PORT KEY\n..." for the given nodes, plus extra lines. */
static char *
peer_config(const char *extra, struct node *const *peers, size_t n)
{
    char *text = NULL, *next;

    cr_assert(asprintf(&text, "[network]\n%s", extra != NULL ? extra : "") > 0);
    for (size_t i = 0; i < n; i++) {
        cr_assert(
            asprintf(&next, "%speer = 127.0.0.1:%u %s\n", text, peers[i]->port, peers[i]->key) > 0);
        free(text);
        text = next;
    }
    return text;
}

/* Rows of `praxis peers --json` for key in state (key NULL: any key). */
static int
count_rows(const struct node *n, const char *key, const char *state)
{
    struct px_run r;
    int count = 0;
    char *line, *save = NULL;

    px_testd_praxis(&n->d, &r, NULL, 0, "peers", "--json", NULL);
    cr_assert_eq(r.status, 0, "peers: %s", r.err);
    for (line = strtok_r(r.out, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
        json_error_t jerr;
        json_t *o = json_loads(line, 0, &jerr);
        const char *k, *s;

        cr_assert_not_null(o, "not JSON: %s", line);
        k = json_string_value(json_object_get(o, "public_key"));
        s = json_string_value(json_object_get(o, "state"));
        if ((key == NULL || (k != NULL && strcmp(k, key) == 0)) && s != NULL &&
            strcmp(s, state) == 0) {
            count++;
        }
        json_decref(o);
    }
    px_run_free(&r);
    return count;
}

/* Waits until n shows exactly `want` established rows for key (and keeps showing it). */
static void
wait_established(const struct node *n, const struct node *other, int want)
{
    int64_t deadline = px_testd_now_ms() + WAIT_MS;
    int got = -1, stable = 0;

    /* Two readings in a row, so a duplicate about to be closed is not counted as done. */
    while (px_testd_now_ms() < deadline) {
        got = count_rows(n, other->key, "established");
        stable = got == want ? stable + 1 : 0;
        if (stable >= 3) {
            return;
        }
        pause_a_little();
    }
    {
        char *log = px_testd_log(&n->d);

        cr_assert_fail("node %s: %d established rows for %.16s, want %d; log:\n%s", n->dir, got,
                       other->key, want, log);
    }
}

/* Waits until the node's log contains text. */
static void
wait_log(const struct node *n, const char *text)
{
    int64_t deadline = px_testd_now_ms() + WAIT_MS;
    char *log = NULL;

    while (px_testd_now_ms() < deadline) {
        free(log);
        log = px_testd_log(&n->d);
        if (strstr(log, text) != NULL) {
            free(log);
            return;
        }
        pause_a_little();
    }
    cr_assert_fail("node %s: no \"%s\" in the log:\n%s", n->dir, text, log);
}

static void
status_ok(const struct node *n)
{
    struct px_run r;

    px_testd_praxis(&n->d, &r, NULL, 0, "status", NULL);
    cr_assert_eq(r.status, 0, "status: %s", r.err);
    px_run_free(&r);
}

Test(peers, two_nodes_connect_once)
{
    struct node a, b;
    struct node *pa[] = {&b}, *pb[] = {&a};
    char *ca, *cb;
    struct px_run r;

    node_init(&a, "a");
    node_init(&b, "b");
    ca = peer_config(NULL, pa, 1);
    cb = peer_config(NULL, pb, 1);
    /* Both list each other, so both dial at once: exactly one connection must remain. */
    node_start(&a, ca);
    node_start(&b, cb);
    wait_established(&a, &b, 1);
    wait_established(&b, &a, 1);
    px_testd_praxis(&a.d, &r, NULL, 0, "status", "--json", NULL);
    cr_assert(strstr(r.out, "\"peers\":1") != NULL, "status: %s", r.out);
    px_run_free(&r);
    px_testd_praxis(&a.d, &r, NULL, 0, "peers", NULL);
    cr_assert_eq(r.status, 0);
    cr_assert(strstr(r.out, "established") != NULL, "%s", r.out);
    px_run_free(&r);
    /* A clean stop says bye. */
    cr_assert_eq(px_testd_stop(&b.d), 0);
    wait_log(&a, "peer said bye");
    free(ca);
    free(cb);
    node_free(&a);
    node_free(&b);
}

Test(peers, chain_of_three_and_restart)
{
    struct node a, b, c;
    struct node *pa[] = {&b}, *pb[] = {&a, &c}, *pc[] = {&b};
    char *ca, *cb, *cc;

    node_init(&a, "a");
    node_init(&b, "b");
    node_init(&c, "c");
    ca = peer_config(NULL, pa, 1);
    cb = peer_config(NULL, pb, 2);
    cc = peer_config(NULL, pc, 1);
    node_start(&a, ca);
    node_start(&b, cb);
    node_start(&c, cc);
    wait_established(&a, &b, 1);
    wait_established(&b, &a, 1);
    wait_established(&b, &c, 1);
    wait_established(&c, &b, 1);
    cr_assert_eq(count_rows(&a, c.key, "established"), 0);

    /* B goes away and comes back on the same directory and port: links come back. */
    cr_assert_eq(px_testd_stop(&b.d), 0);
    px_testd_restart(&b.d);
    wait_established(&a, &b, 1);
    wait_established(&c, &b, 1);
    wait_established(&b, &a, 1);
    wait_established(&b, &c, 1);
    free(ca);
    free(cb);
    free(cc);
    node_free(&a);
    node_free(&b);
    node_free(&c);
}

Test(peers, refused_links_leave_the_node_serving)
{
    struct node a, b, other, stranger;
    struct node *pa[] = {&b}, *pb[] = {&a}, *pto[] = {&a};
    char *ca, *cb, *co, *cs, *extra;

    node_init(&a, "a");
    node_init(&b, "b");
    node_init(&other, "other");
    node_init(&stranger, "stranger");
    ca = peer_config("handshake_timeout = 1\nidle_timeout = 5\n", pa, 1);
    cb = peer_config(NULL, pb, 1);
    cr_assert(asprintf(&extra, "network_key = %s\n", OTHER_NETKEY) > 0);
    co = peer_config(extra, pto, 1);
    cs = peer_config(NULL, pto, 1);
    node_start(&a, ca);
    node_start(&b, cb);
    wait_established(&a, &b, 1);

    /* Another network: fails at msg1, no reply. */
    node_start(&other, co);
    wait_log(&a, "msg1: EPROTO");
    /* A key A does not list (accept_unknown_peers = no): refused after msg3. */
    node_start(&stranger, cs);
    wait_log(&a, stranger.key);
    wait_log(&a, "not on a peer line");

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
    wait_log(&a, "handshake not complete");

    /* Through all of it A kept its link to B and kept serving. */
    status_ok(&a);
    cr_assert_eq(count_rows(&a, b.key, "established"), 1);
    cr_assert_eq(count_rows(&b, a.key, "established"), 1);
    cr_assert_eq(count_rows(&a, other.key, "established"), 0);
    cr_assert_eq(count_rows(&a, stranger.key, "established"), 0);
    free(extra);
    free(ca);
    free(cb);
    free(co);
    free(cs);
    node_free(&a);
    node_free(&b);
    node_free(&other);
    node_free(&stranger);
}

/* ---- A raw test peer that breaks the stream after a valid handshake ---- */

/* Node a, with an honest peer b linked to it and a test peer's key on a peer line. */
struct hostile {
    struct node a, b;
    struct px_identity me;
    char *ca, *cb;
    struct px_wire_msg *msg;
};

static void
hostile_start(struct hostile *h)
{
    struct node *pa[] = {&h->b}, *pb[] = {&h->a};
    char mykey[65], *extra;

    memset(h, 0, sizeof(*h));
    cr_assert_not_null(h->msg = calloc(1, sizeof(*h->msg)));
    cr_assert_eq(px_crypto_init(), 0);
    cr_assert_eq(px_identity_generate(&h->me), 0);
    px_hex_encode(h->me.pk, PX_SIGN_PUBLICKEYBYTES, mykey);
    node_init(&h->a, "a");
    node_init(&h->b, "b");
    /* The test peer is allowed in (a peer line at a port nobody listens on). */
    cr_assert(asprintf(&extra, "peer = 127.0.0.1:%u %s\n", px_test_free_port(), mykey) > 0);
    h->ca = peer_config(extra, pa, 1);
    h->cb = peer_config(NULL, pb, 1);
    free(extra);
    node_start(&h->a, h->ca);
    node_start(&h->b, h->cb);
    wait_established(&h->a, &h->b, 1);
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
    wait_log(&h->a, logged);
    status_ok(&h->a);
    wait_established(&h->a, &h->b, 1);
    wait_established(&h->b, &h->a, 1);
}

static void
hostile_free(struct hostile *h)
{
    px_identity_wipe(&h->me);
    free(h->ca);
    free(h->cb);
    free(h->msg);
    node_free(&h->a);
    node_free(&h->b);
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
