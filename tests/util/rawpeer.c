/* SPDX-License-Identifier: MIT */
/* rawpeer.c - see rawpeer.h. */
#include "rawpeer.h"

#include <sys/socket.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <sodium.h>

#include "daemon/config.h"
#include "daemon_util.h"
#include "protocol/buf.h"
#include "protocol/err.h"
#include "protocol/shs.h"

static void
read_exact(int fd, uint8_t *p, size_t n)
{
    int64_t deadline = px_testd_now_ms() + PX_RAWPEER_WAIT_MS;
    size_t got = 0;

    while (got < n) {
        struct pollfd pfd = {fd, POLLIN, 0};
        int64_t left = deadline - px_testd_now_ms();
        ssize_t k;

        cr_assert(left > 0 && poll(&pfd, 1, (int)left) > 0, "handshake reply timed out");
        k = read(fd, p + got, n - got);
        if (k < 0 && errno == EINTR) {
            continue;
        }
        cr_assert_gt(k, 0, "the node closed during the handshake");
        got += (size_t)k;
    }
}

void
px_rawpeer_send_bytes(struct px_rawpeer *rp, const uint8_t *p, size_t n)
{
    cr_assert_eq(send(rp->fd, p, n, MSG_NOSIGNAL), (ssize_t)n, "send: %s", strerror(errno));
}

void
px_rawpeer_connect(struct px_rawpeer *rp, const struct px_identity *me, const char *server_hex,
                   uint16_t port)
{
    static const char netkey_hex[] = PX_CONFIG_MAIN_NETWORK_KEY_HEX;
    struct px_shs_client c;
    struct px_shs_session s;
    struct sockaddr_in sa;
    uint8_t netkey[PX_SHS_NETKEY_BYTES], seed[PX_SHS_SEED_BYTES], srv[PX_SIGN_PUBLICKEYBYTES],
        m1[PX_SHS_MSG1_BYTES], m2[PX_SHS_MSG2_BYTES], m3[PX_SHS_MSG3_BYTES], m4[PX_SHS_MSG4_BYTES];

    memset(rp, 0, sizeof(*rp));
    cr_assert_eq(px_hex_decode(netkey_hex, sizeof(netkey_hex) - 1, netkey, sizeof(netkey)), 0);
    cr_assert_eq(px_hex_decode(server_hex, strlen(server_hex), srv, sizeof(srv)), 0);
    randombytes_buf(seed, sizeof(seed));
    cr_assert_eq(px_shs_client_init(&c, netkey, me, seed, srv), 0);
    rp->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    cr_assert_geq(rp->fd, 0);
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_eq(connect(rp->fd, (struct sockaddr *)&sa, sizeof(sa)), 0, "connect: %s",
                 strerror(errno));
    cr_assert_eq(px_shs_client_msg1(&c, m1), 0);
    px_rawpeer_send_bytes(rp, m1, sizeof(m1));
    read_exact(rp->fd, m2, sizeof(m2));
    cr_assert_eq(px_shs_client_read_msg2(&c, m2, sizeof(m2)), 0);
    cr_assert_eq(px_shs_client_msg3(&c, m3), 0);
    px_rawpeer_send_bytes(rp, m3, sizeof(m3));
    read_exact(rp->fd, m4, sizeof(m4));
    cr_assert_eq(px_shs_client_read_msg4(&c, m4, sizeof(m4)), 0);
    cr_assert_eq(px_shs_client_session(&c, &s), 0);
    px_boxstream_sealer_init(&rp->sealer, s.encrypt_key, s.encrypt_nonce);
    px_boxstream_opener_init(&rp->opener, s.decrypt_key, s.decrypt_nonce);
    memcpy(rp->key, s.encrypt_key, sizeof(rp->key));
    memcpy(rp->nonce, s.encrypt_nonce, sizeof(rp->nonce));
    px_shs_session_wipe(&s);
    px_shs_client_fini(&c);
}

void
px_rawpeer_seal(struct px_rawpeer *rp, const uint8_t *plain, size_t len, uint8_t *out)
{
    size_t got;

    cr_assert_eq(
        px_boxstream_seal(&rp->sealer, plain, len, out, PX_BOXSTREAM_FRAME_BYTES(len), &got), 0);
    cr_assert_eq(got, PX_BOXSTREAM_FRAME_BYTES(len));
    /* Keep the copy of the header nonce in step: a frame uses two nonces. */
    px_boxstream_nonce_increment(rp->nonce);
    px_boxstream_nonce_increment(rp->nonce);
}

void
px_rawpeer_seal_header(struct px_rawpeer *rp, uint16_t body_len,
                       uint8_t out[PX_BOXSTREAM_HEADER_BYTES])
{
    uint8_t plain[2 + PX_BOXSTREAM_MAC_BYTES];

    /* The body MAC does not matter: the opener must refuse the header before any body. */
    randombytes_buf(plain, sizeof(plain));
    plain[0] = (uint8_t)(body_len >> 8);
    plain[1] = (uint8_t)body_len;
    crypto_secretbox_easy(out, plain, sizeof(plain), rp->nonce, rp->key);
    px_boxstream_nonce_increment(rp->nonce);
    px_boxstream_nonce_increment(rp->nonce);
}

void
px_rawpeer_send_plain(struct px_rawpeer *rp, const uint8_t *p, size_t n)
{
    uint8_t *out = malloc(PX_BOXSTREAM_MAX_FRAME);
    size_t off = 0;

    cr_assert_not_null(out);
    while (off < n) {
        size_t piece = n - off > PX_BOXSTREAM_MAX_BODY ? PX_BOXSTREAM_MAX_BODY : n - off;

        px_rawpeer_seal(rp, p + off, piece, out);
        px_rawpeer_send_bytes(rp, out, PX_BOXSTREAM_FRAME_BYTES(piece));
        off += piece;
    }
    free(out);
}

void
px_rawpeer_send(struct px_rawpeer *rp, const struct px_wire_msg *msg)
{
    size_t cap = 4 + PX_WIRE_MAX_MSG, len;
    uint8_t *plain = malloc(cap);

    cr_assert_not_null(plain);
    cr_assert_eq(px_wire_encode(msg, plain, cap, &len), 0);
    px_rawpeer_send_plain(rp, plain, len);
    free(plain);
}

/* Appends plaintext to rp->in. */
static void
take_plain(struct px_rawpeer *rp, const uint8_t *p, size_t n)
{
    if (rp->in_len + n > rp->in_cap) {
        size_t cap = rp->in_cap > 0 ? rp->in_cap : 4096;

        while (cap < rp->in_len + n) {
            cap *= 2;
        }
        cr_assert_not_null(rp->in = realloc(rp->in, cap));
        rp->in_cap = cap;
    }
    memcpy(rp->in + rp->in_len, p, n);
    rp->in_len += n;
}

/* A whole message in rp->in: moves its body to rp->last and decodes it. */
static bool
next_message(struct px_rawpeer *rp, struct px_wire_msg *msg)
{
    uint32_t len;
    int rc;

    if (rp->in_len < 4) {
        return false;
    }
    cr_assert_eq(px_wire_frame_len(rp->in, &len), 0, "the node sent a bad length %u", len);
    if (rp->in_len < 4 + (size_t)len) {
        return false;
    }
    cr_assert_not_null(rp->last = malloc(len));
    memcpy(rp->last, rp->in + 4, len);
    memmove(rp->in, rp->in + 4 + len, rp->in_len - 4 - len);
    rp->in_len -= 4 + len;
    rc = px_wire_decode(rp->last, len, msg);
    cr_assert_eq(rc, 0, "the node sent an undecodable message: %s", px_err_name(rc));
    return true;
}

int
px_rawpeer_recv(struct px_rawpeer *rp, struct px_wire_msg *msg)
{
    int64_t deadline = px_testd_now_ms() + PX_RAWPEER_WAIT_MS;
    uint8_t buf[4096];

    free(rp->last);
    rp->last = NULL;
    for (;;) {
        struct pollfd pfd = {rp->fd, POLLIN, 0};
        int64_t left;
        size_t off = 0;
        ssize_t k;

        if (next_message(rp, msg)) {
            return 0;
        }
        if (rp->ended) {
            return 1;
        }
        left = deadline - px_testd_now_ms();
        cr_assert(left > 0 && poll(&pfd, 1, (int)left) > 0, "no message from the node in %d ms",
                  PX_RAWPEER_WAIT_MS);
        k = read(rp->fd, buf, sizeof(buf));
        if (k < 0 && errno == EINTR) {
            continue;
        }
        if (k <= 0) {
            rp->ended = true;
            continue;
        }
        while (off < (size_t)k && !rp->ended) {
            enum px_boxstream_event ev;
            const uint8_t *chunk;
            size_t used, clen;
            int rc = px_boxstream_feed(&rp->opener, buf + off, (size_t)k - off, &used, &ev, &chunk,
                                       &clen);

            cr_assert_eq(rc, 0, "the node's box-stream does not open: %s", px_err_name(rc));
            off += used;
            if (ev == PX_BOXSTREAM_CHUNK) {
                take_plain(rp, chunk, clen);
            } else if (ev == PX_BOXSTREAM_GOODBYE) {
                rp->ended = true;
            }
        }
    }
}

bool
px_rawpeer_wait_closed(struct px_rawpeer *rp)
{
    int64_t deadline = px_testd_now_ms() + PX_RAWPEER_WAIT_MS;
    uint8_t buf[4096];

    for (;;) {
        struct pollfd pfd = {rp->fd, POLLIN, 0};
        int64_t left = deadline - px_testd_now_ms();
        ssize_t k;

        if (left <= 0 || poll(&pfd, 1, (int)left) <= 0) {
            return false;
        }
        k = read(rp->fd, buf, sizeof(buf));
        if (k < 0 && errno == EINTR) {
            continue;
        }
        if (k <= 0) {
            return true;
        }
    }
}

void
px_rawpeer_close(struct px_rawpeer *rp)
{
    if (rp->fd >= 0) {
        close(rp->fd);
    }
    px_boxstream_sealer_fini(&rp->sealer);
    px_boxstream_opener_fini(&rp->opener);
    sodium_memzero(rp->key, sizeof(rp->key));
    free(rp->in);
    free(rp->last);
    memset(rp, 0, sizeof(*rp));
    rp->fd = -1;
}
