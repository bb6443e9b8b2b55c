/* SPDX-License-Identifier: MIT */
/* rawpeer.c - see rawpeer.h. */
#include "rawpeer.h"

#include <sys/socket.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "protocol/buf.h"
#include "protocol/err.h"

#ifndef PX_RAWPEER_NO_CRITERION
#include <criterion/criterion.h>

#include "daemon/config.h"
#endif

/* ---- Core ---- */

static int64_t
now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int fail(struct px_rawpeer *rp, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int
fail(struct px_rawpeer *rp, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(rp->err, sizeof(rp->err), fmt, ap);
    va_end(ap);
    return -1;
}

/*
 * Waits until fd has events (POLLIN/POLLOUT) or the deadline passes: 1, 0 on timeout, -1.
 * A deadline already passed still looks once without waiting, so a timeout of 0 takes what
 * is there (px_rawpeer_read_msg driven by the caller's own poll loop).
 */
static int
wait_fd(int fd, short events, int64_t deadline)
{
    for (;;) {
        struct pollfd pfd = {fd, events, 0};
        int64_t left = deadline - now_ms();
        int n;

        n = poll(&pfd, 1, left > 0 ? (int)left : 0);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        return n > 0 ? 1 : n;
    }
}

/* Reads exactly n bytes of the handshake by the deadline. */
static int
read_exact(struct px_rawpeer *rp, uint8_t *p, size_t n, int64_t deadline, const char *what)
{
    size_t got = 0;

    while (got < n) {
        ssize_t k;

        if (wait_fd(rp->fd, POLLIN, deadline) <= 0) {
            return fail(rp, "timed out waiting for %s (%zu of %zu bytes)", what, got, n);
        }
        k = read(rp->fd, p + got, n - got);
        if (k < 0 && errno == EINTR) {
            continue;
        }
        if (k <= 0) {
            return fail(rp, "closed during the handshake, reading %s (%zu of %zu bytes): %s", what,
                        got, n, k == 0 ? "EOF" : strerror(errno));
        }
        got += (size_t)k;
    }
    return 0;
}

int
px_rawpeer_write(struct px_rawpeer *rp, const uint8_t *p, size_t n)
{
    int64_t deadline =
        now_ms() + (rp->write_timeout_ms > 0 ? rp->write_timeout_ms : PX_RAWPEER_WAIT_MS);
    size_t off = 0;

    while (off < n) {
        ssize_t k = send(rp->fd, p + off, n - off, MSG_NOSIGNAL | MSG_DONTWAIT);

        if (k > 0) {
            off += (size_t)k;
            continue;
        }
        if (k < 0 && errno == EINTR) {
            continue;
        }
        if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (wait_fd(rp->fd, POLLOUT, deadline) <= 0) {
                return fail(rp, "send: no room for %zu bytes (the node does not read)", n - off);
            }
            continue;
        }
        return fail(rp, "send: %s", k == 0 ? "nothing sent" : strerror(errno));
    }
    return 0;
}

int
px_rawpeer_open(struct px_rawpeer *rp, const uint8_t netkey[PX_SHS_NETKEY_BYTES],
                const struct px_identity *me, const uint8_t server_pk[PX_SIGN_PUBLICKEYBYTES],
                const void *addr, size_t addrlen, int timeout_ms)
{
    const struct sockaddr *sa = addr;
    int64_t deadline = now_ms() + timeout_ms;
    struct px_shs_client c;
    struct px_shs_session s;
    uint8_t seed[PX_SHS_SEED_BYTES], m1[PX_SHS_MSG1_BYTES], m2[PX_SHS_MSG2_BYTES],
        m3[PX_SHS_MSG3_BYTES], m4[PX_SHS_MSG4_BYTES];
    int rc = -1;

    memset(rp, 0, sizeof(*rp));
    rp->fd = -1;
    randombytes_buf(seed, sizeof(seed));
    if (px_shs_client_init(&c, netkey, me, seed, server_pk) != 0) {
        sodium_memzero(seed, sizeof(seed));
        return fail(rp, "the server key has no X25519 form");
    }
    sodium_memzero(seed, sizeof(seed));
    if ((rp->fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0) {
        fail(rp, "socket: %s", strerror(errno));
        goto out;
    }
    if (connect(rp->fd, sa, (socklen_t)addrlen) != 0) {
        fail(rp, "connect: %s", strerror(errno));
        goto out;
    }
    px_shs_client_msg1(&c, m1);
    if (px_rawpeer_write(rp, m1, sizeof(m1)) != 0 ||
        read_exact(rp, m2, sizeof(m2), deadline, "msg2") != 0) {
        goto out;
    }
    if (px_shs_client_read_msg2(&c, m2, sizeof(m2)) != 0) {
        fail(rp, "msg2: %s", px_shs_client_why(&c));
        goto out;
    }
    px_shs_client_msg3(&c, m3);
    if (px_rawpeer_write(rp, m3, sizeof(m3)) != 0 ||
        read_exact(rp, m4, sizeof(m4), deadline, "msg4") != 0) {
        goto out;
    }
    if (px_shs_client_read_msg4(&c, m4, sizeof(m4)) != 0 || px_shs_client_session(&c, &s) != 0) {
        fail(rp, "msg4: %s", px_shs_client_why(&c));
        goto out;
    }
    px_boxstream_sealer_init(&rp->sealer, s.encrypt_key, s.encrypt_nonce);
    px_boxstream_opener_init(&rp->opener, s.decrypt_key, s.decrypt_nonce);
    memcpy(rp->key, s.encrypt_key, sizeof(rp->key));
    memcpy(rp->nonce, s.encrypt_nonce, sizeof(rp->nonce));
    px_shs_session_wipe(&s);
    rc = 0;
out:
    px_shs_client_fini(&c);
    if (rc != 0 && rp->fd >= 0) {
        close(rp->fd);
        rp->fd = -1;
    }
    return rc;
}

int
px_rawpeer_write_plain(struct px_rawpeer *rp, const uint8_t *p, size_t n)
{
    uint8_t *out = malloc(PX_BOXSTREAM_MAX_FRAME);
    size_t off = 0;
    int rc = 0;

    if (out == NULL) {
        return fail(rp, "out of memory");
    }
    while (off < n && rc == 0) {
        size_t piece = n - off > PX_BOXSTREAM_MAX_BODY ? PX_BOXSTREAM_MAX_BODY : n - off;
        size_t got;

        if (px_boxstream_seal(&rp->sealer, p + off, piece, out, PX_BOXSTREAM_MAX_FRAME, &got) !=
            0) {
            rc = fail(rp, "cannot seal a frame");
            break;
        }
        /* Keep the copy of the header nonce in step: a frame uses two nonces. */
        px_boxstream_nonce_increment(rp->nonce);
        px_boxstream_nonce_increment(rp->nonce);
        rc = px_rawpeer_write(rp, out, got);
        off += piece;
    }
    free(out);
    return rc;
}

int
px_rawpeer_write_msg(struct px_rawpeer *rp, const struct px_wire_msg *msg)
{
    size_t cap = 4 + PX_WIRE_MAX_MSG, len;
    uint8_t *plain = malloc(cap);
    int rc;

    if (plain == NULL) {
        return fail(rp, "out of memory");
    }
    if ((rc = px_wire_encode(msg, plain, cap, &len)) != 0) {
        free(plain);
        return fail(rp, "cannot encode a %s: %s", px_wire_type_name(msg->type), px_err_name(rc));
    }
    rc = px_rawpeer_write_plain(rp, plain, len);
    free(plain);
    return rc;
}

/* Appends plaintext to rp->in. */
static int
take_plain(struct px_rawpeer *rp, const uint8_t *p, size_t n)
{
    if (rp->in_len + n > rp->in_cap) {
        size_t cap = rp->in_cap > 0 ? rp->in_cap : 4096;
        uint8_t *q;

        while (cap < rp->in_len + n) {
            cap *= 2;
        }
        if ((q = realloc(rp->in, cap)) == NULL) {
            return fail(rp, "out of memory");
        }
        rp->in = q;
        rp->in_cap = cap;
    }
    memcpy(rp->in + rp->in_len, p, n);
    rp->in_len += n;
    return 0;
}

/* A whole message in rp->in: moves its body to rp->last and decodes it. 1, 0 or -1. */
static int
next_message(struct px_rawpeer *rp, struct px_wire_msg *msg)
{
    uint32_t len;
    int rc;

    if (rp->in_len < 4) {
        return 0;
    }
    if (px_wire_frame_len(rp->in, &len) != 0) {
        return fail(rp, "the node sent a bad length %u", len);
    }
    if (rp->in_len < 4 + (size_t)len) {
        return 0;
    }
    if ((rp->last = malloc(len)) == NULL) {
        return fail(rp, "out of memory");
    }
    memcpy(rp->last, rp->in + 4, len);
    memmove(rp->in, rp->in + 4 + len, rp->in_len - 4 - len);
    rp->in_len -= 4 + len;
    if ((rc = px_wire_decode(rp->last, len, msg)) != 0) {
        return fail(rp, "the node sent an undecodable message: %s", px_err_name(rc));
    }
    return 1;
}

int
px_rawpeer_read_msg(struct px_rawpeer *rp, struct px_wire_msg *msg, int timeout_ms)
{
    int64_t deadline = now_ms() + timeout_ms;
    uint8_t buf[4096];

    free(rp->last);
    rp->last = NULL;
    for (;;) {
        size_t off = 0;
        ssize_t k;
        int rc;

        if ((rc = next_message(rp, msg)) != 0) {
            return rc > 0 ? 0 : -1;
        }
        if (rp->ended) {
            return 1;
        }
        if ((rc = wait_fd(rp->fd, POLLIN, deadline)) <= 0) {
            return rc == 0 ? -2 : fail(rp, "poll: %s", strerror(errno));
        }
        k = read(rp->fd, buf, sizeof(buf));
        if (k < 0 && errno == EINTR) {
            continue;
        }
        if (k <= 0) {
            rp->ended = true; /* EOF, or a reset: either way the node is gone */
            continue;
        }
        while (off < (size_t)k && !rp->ended) {
            enum px_boxstream_event ev;
            const uint8_t *chunk;
            size_t used, clen;

            rc = px_boxstream_feed(&rp->opener, buf + off, (size_t)k - off, &used, &ev, &chunk,
                                   &clen);
            if (rc != 0) {
                return fail(rp, "the node's box-stream does not open: %s", px_err_name(rc));
            }
            off += used;
            if (ev == PX_BOXSTREAM_CHUNK) {
                if (take_plain(rp, chunk, clen) != 0) {
                    return -1;
                }
            } else if (ev == PX_BOXSTREAM_GOODBYE) {
                rp->ended = true;
            }
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

/* ---- Test helpers (Criterion) ---- */

#ifndef PX_RAWPEER_NO_CRITERION

void
px_rawpeer_send_bytes(struct px_rawpeer *rp, const uint8_t *p, size_t n)
{
    cr_assert_eq(px_rawpeer_write(rp, p, n), 0, "%s", rp->err);
}

void
px_rawpeer_connect(struct px_rawpeer *rp, const struct px_identity *me, const char *server_hex,
                   uint16_t port)
{
    static const char netkey_hex[] = PX_CONFIG_MAIN_NETWORK_KEY_HEX;
    uint8_t netkey[PX_SHS_NETKEY_BYTES], srv[PX_SIGN_PUBLICKEYBYTES];
    struct sockaddr_in sa;

    cr_assert_eq(px_hex_decode(netkey_hex, sizeof(netkey_hex) - 1, netkey, sizeof(netkey)), 0);
    cr_assert_eq(px_hex_decode(server_hex, strlen(server_hex), srv, sizeof(srv)), 0);
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_eq(px_rawpeer_open(rp, netkey, me, srv, &sa, sizeof(sa), PX_RAWPEER_WAIT_MS), 0,
                 "handshake with 127.0.0.1:%u: %s", port, rp->err);
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
    cr_assert_eq(px_rawpeer_write_plain(rp, p, n), 0, "%s", rp->err);
}

void
px_rawpeer_send(struct px_rawpeer *rp, const struct px_wire_msg *msg)
{
    cr_assert_eq(px_rawpeer_write_msg(rp, msg), 0, "%s", rp->err);
}

int
px_rawpeer_recv(struct px_rawpeer *rp, struct px_wire_msg *msg)
{
    int rc = px_rawpeer_read_msg(rp, msg, PX_RAWPEER_WAIT_MS);

    cr_assert_neq(rc, -2, "no message from the node in %d ms", PX_RAWPEER_WAIT_MS);
    cr_assert_neq(rc, -1, "%s", rp->err);
    return rc;
}

bool
px_rawpeer_wait_closed(struct px_rawpeer *rp)
{
    int64_t deadline = now_ms() + PX_RAWPEER_WAIT_MS;
    uint8_t buf[4096];

    for (;;) {
        ssize_t k;

        if (wait_fd(rp->fd, POLLIN, deadline) <= 0) {
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

#endif
