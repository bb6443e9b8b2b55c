/* SPDX-License-Identifier: MIT */
/*
 * rawpeer.h - a raw test peer for integration tests: it completes a real secret handshake
 * (protocol/shs.h) with a praxisd over TCP on 127.0.0.1, then speaks box-stream
 * (protocol/boxstream.h) and wire messages (protocol/wire.h) by hand, so a test can send
 * what an honest node never would: tampered frames, oversize lengths, messages out of turn.
 *
 * Two layers share one struct:
 *  - the core (px_rawpeer_open, _write*, _read_msg) returns error codes with a reason in
 *    rp->err and never asserts, so programs without Criterion (tests/tools/hostile_peer.c)
 *    can use it. Compile rawpeer.c with PX_RAWPEER_NO_CRITERION for them;
 *  - the test helpers (px_rawpeer_connect, _send*, _recv, ...) call the core and fail the
 *    current Criterion test (cr_assert) when something cannot be done.
 *
 * Every wait is bounded (PX_RAWPEER_WAIT_MS for the test helpers, a caller's timeout for
 * the core).
 */
#ifndef PX_RAWPEER_H
#define PX_RAWPEER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/identity.h"
#include "protocol/boxstream.h"
#include "protocol/shs.h"
#include "protocol/wire.h"

#define PX_RAWPEER_WAIT_MS 20000

struct px_rawpeer {
    int fd;
    struct px_boxstream_sealer sealer;
    struct px_boxstream_opener opener;
    /* A copy of the sending key and the next header nonce, for frames the sealer would
     * refuse to make (px_rawpeer_seal_header). */
    uint8_t key[PX_BOXSTREAM_KEY_BYTES];
    uint8_t nonce[PX_BOXSTREAM_NONCE_BYTES];
    /* Received plaintext not yet returned as a message. */
    uint8_t *in;
    size_t in_len, in_cap;
    uint8_t *last; /* the body px_rawpeer_recv returned last (msg borrows it) */
    bool ended;    /* the node's goodbye or EOF arrived */
    /* Core layer: how long one write may wait for room (0: PX_RAWPEER_WAIT_MS), and the
     * reason of the last failure. */
    int write_timeout_ms;
    char err[160];
};

/* ---- Core: no Criterion; 0 on success, -1 with rp->err set on failure ---- */

/*
 * Connects to addr (a struct sockaddr_in or sockaddr_in6 of addrlen bytes) as identity
 * me and completes the handshake with the node whose public key is server_pk, under the
 * network key netkey, within timeout_ms. On failure the socket is closed (rp->fd is -1),
 * and rp->err says which step failed; a node that refuses our key closes the connection
 * after msg3, so the read of msg4 fails with "closed during the handshake".
 * The caller ends the peer with px_rawpeer_close in every case.
 */
int px_rawpeer_open(struct px_rawpeer *rp, const uint8_t netkey[PX_SHS_NETKEY_BYTES],
                    const struct px_identity *me, const uint8_t server_pk[PX_SIGN_PUBLICKEYBYTES],
                    const void *addr, size_t addrlen, int timeout_ms);

/* Writes raw bytes on the socket, waiting for room at most rp->write_timeout_ms. */
int px_rawpeer_write(struct px_rawpeer *rp, const uint8_t *p, size_t n);

/* Seals plaintext bytes (any length; split into 4096-byte frames) and writes them. */
int px_rawpeer_write_plain(struct px_rawpeer *rp, const uint8_t *p, size_t n);

/* Encodes, seals and writes one wire message. */
int px_rawpeer_write_msg(struct px_rawpeer *rp, const struct px_wire_msg *msg);

/*
 * Receives the node's next wire message into msg (which borrows the peer's buffer until
 * the next call) within timeout_ms: 0; 1 when the node ended the stream (goodbye or EOF)
 * first; -2 on a timeout; -1 with rp->err on a stream that does not open or decode, or a
 * read error (a reset is reported as the end of the stream: 1). A timeout_ms of 0 never
 * waits: it returns a message already buffered or readable now, else -2, so a program that
 * polls many peers itself can drain a readable one by calling this until -2.
 */
int px_rawpeer_read_msg(struct px_rawpeer *rp, struct px_wire_msg *msg, int timeout_ms);

/* ---- Test helpers: fail the current Criterion test on any failure ---- */

/*
 * Connects to 127.0.0.1:port as identity me and completes the handshake with the node
 * whose public key is server_hex (64 hex digits), on the main network. The caller ends
 * the peer with px_rawpeer_close.
 */
void px_rawpeer_connect(struct px_rawpeer *rp, const struct px_identity *me, const char *server_hex,
                        uint16_t port);

/* Sends raw bytes on the socket, as they are. */
void px_rawpeer_send_bytes(struct px_rawpeer *rp, const uint8_t *p, size_t n);

/*
 * Seals plain[0..len) (1..PX_BOXSTREAM_MAX_BODY bytes) as one box-stream frame into
 * out[0..PX_BOXSTREAM_FRAME_BYTES(len)) without sending it, so a test may tamper with it.
 */
void px_rawpeer_seal(struct px_rawpeer *rp, const uint8_t *plain, size_t len, uint8_t *out);

/*
 * Seals a box-stream header that announces body_len bytes (any 16-bit value, including
 * ones the sealer refuses) with the right key and nonce, into out; the nonce moves on as
 * for a real frame.
 */
void px_rawpeer_seal_header(struct px_rawpeer *rp, uint16_t body_len,
                            uint8_t out[PX_BOXSTREAM_HEADER_BYTES]);

/* Seals plaintext bytes (any length; split into 4096-byte frames) and sends them. */
void px_rawpeer_send_plain(struct px_rawpeer *rp, const uint8_t *p, size_t n);

/* Encodes, seals and sends one wire message. */
void px_rawpeer_send(struct px_rawpeer *rp, const struct px_wire_msg *msg);

/*
 * Receives the node's next wire message into msg (which borrows the peer's buffer until
 * the next call): 0; 1 when the node ended the stream (goodbye or EOF) first. Fails the
 * test on a timeout or a stream that does not open or decode.
 */
int px_rawpeer_recv(struct px_rawpeer *rp, struct px_wire_msg *msg);

/*
 * Reads and discards until the node closes the connection; true when it did within
 * PX_RAWPEER_WAIT_MS.
 */
bool px_rawpeer_wait_closed(struct px_rawpeer *rp);

/* Closes the socket and wipes the keys (both layers). */
void px_rawpeer_close(struct px_rawpeer *rp);

#endif
