/* SPDX-License-Identifier: MIT */
/*
 * shs.h - the Secure Scuttlebutt secret handshake (SHS), as two pure state machines.
 *
 * Byte-compatible with the deployed JS module `secret-handshake` 1.1.x, which differs from
 * the paper; docs/protocol.md section 9 has the byte layouts. Four fixed-size messages cross the
 * wire:
 *
 *   client -> server  msg1  64 bytes   hmac_N(a_eph_pk) || a_eph_pk
 *   server -> client  msg2  64 bytes   hmac_N(b_eph_pk) || b_eph_pk
 *   client -> server  msg3 112 bytes   box(sig_A(N || B_pk || sha256(ab)) || A_pk)
 *   server -> client  msg4  80 bytes   box(sig_B(N || msg3 plaintext || sha256(ab)))
 *
 * Nothing here reads a socket, a clock or a random source: the caller passes the 32-byte
 * ephemeral seed it drew from the operating system, moves the bytes, and decides whether
 * the client's long-term key is allowed in (between px_shs_server_read_msg3 and
 * px_shs_server_msg4). Each side is driven in this order, and every function refuses
 * (PX_EINVAL, state unchanged) when it is called out of turn:
 *
 *   client: init, msg1, read_msg2, msg3, read_msg4, session
 *   server: init, read_msg1, msg2, read_msg3, [the caller authorizes], msg4, session
 *
 * A read function that rejects its input moves the state to failed and wipes every secret
 * in it; from then on every function but _fini refuses, so nothing more can be sent. The
 * caller closes the connection. The *_why functions give a static English reason for the
 * last failure, for the log line.
 *
 * Error codes of the read functions:
 *   PX_ETRUNC   fewer bytes than the message size (the stream ended inside the message)
 *   PX_ETOOBIG  more bytes than the message size (a caller bug: pass exactly one message)
 *   PX_EPROTO   an HMAC (msg1, msg2) or a secretbox (msg3, msg4) did not authenticate: a
 *               peer on another network key, a tampered message, or a client that expects
 *               another server key
 *   PX_EBADSIG  the box opened but the signature inside does not verify
 *   PX_EKEY     a peer key is unusable: a low-order ephemeral key (crypto_scalarmult gives
 *               all zeroes) or a long-term key that has no X25519 form
 *   PX_EINVAL   called out of turn (the state is left as it was)
 *
 * States are plain structs the caller embeds (no allocation). They hold secrets: always end
 * with px_shs_client_fini / px_shs_server_fini, which wipe them, whatever happened.
 */
#ifndef PX_SHS_H
#define PX_SHS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sign.h"

#define PX_SHS_NETKEY_BYTES 32 /* the network key ("app key", caps.shs in SSB) */
#define PX_SHS_SEED_BYTES   32 /* ephemeral seed, fresh from the OS for every handshake */
#define PX_SHS_MSG1_BYTES   64
#define PX_SHS_MSG2_BYTES   64
#define PX_SHS_MSG3_BYTES   112
#define PX_SHS_MSG4_BYTES   80
#define PX_SHS_KEY_BYTES    32 /* box-stream key */
#define PX_SHS_NONCE_BYTES  24 /* box-stream starting nonce */

/* What a completed handshake gives each side: the two box-stream directions. */
struct px_shs_session {
    uint8_t encrypt_key[PX_SHS_KEY_BYTES]; /* secret: the stream this side sends */
    uint8_t encrypt_nonce[PX_SHS_NONCE_BYTES];
    uint8_t decrypt_key[PX_SHS_KEY_BYTES]; /* secret: the stream this side reads */
    uint8_t decrypt_nonce[PX_SHS_NONCE_BYTES];
    uint8_t peer_pk[PX_SIGN_PUBLICKEYBYTES]; /* the peer's proven long-term Ed25519 key */
};

/*
 * The state shared by both roles. Its fields are private to shs.c; it is declared here only
 * so that callers can embed it without an allocation.
 */
struct px__shs_core {
    int step;
    const char *why; /* static reason of the last failure, or NULL */
    uint8_t netkey[PX_SHS_NETKEY_BYTES];
    uint8_t lt_pk[PX_SIGN_PUBLICKEYBYTES];
    uint8_t lt_sk[PX_SIGN_SECRETKEYBYTES]; /* secret; wiped once no longer needed */
    uint8_t eph_pk[32];
    uint8_t eph_sk[32]; /* secret */
    uint8_t peer_lt_pk[PX_SIGN_PUBLICKEYBYTES];
    uint8_t peer_eph_pk[32];
    uint8_t local_nonce[PX_SHS_NONCE_BYTES];  /* the first 24 bytes of our HMAC */
    uint8_t remote_nonce[PX_SHS_NONCE_BYTES]; /* the first 24 bytes of the peer's HMAC */
    uint8_t ab[32];                           /* secret: a_eph * b_eph */
    uint8_t aB[32];                           /* secret: a_eph * curve(B) */
    uint8_t Ab[32];                           /* secret: curve(A) * b_eph */
    uint8_t hello[96];                        /* msg3 plaintext: sig_A || A_pk */
    struct px_shs_session session;            /* valid once the handshake is complete */
};

struct px_shs_client {
    struct px__shs_core c;
};

struct px_shs_server {
    struct px__shs_core c;
};

/*
 * Prepares a client: netkey, the client's long-term identity (copied; the caller keeps and
 * wipes its own), the 32-byte ephemeral seed (the X25519 pair is crypto_box_seed_keypair of
 * it) and the server's long-term public key the client expects to reach.
 * Returns 0, or PX_EKEY when id's secret key does not belong to its public key or
 * server_pk has no X25519 form (then st is wiped and failed).
 */
int px_shs_client_init(struct px_shs_client *st, const uint8_t netkey[PX_SHS_NETKEY_BYTES],
                       const struct px_identity *id, const uint8_t eph_seed[PX_SHS_SEED_BYTES],
                       const uint8_t server_pk[PX_SIGN_PUBLICKEYBYTES]);

/* Writes msg1 into out. 0 or PX_EINVAL. */
int px_shs_client_msg1(struct px_shs_client *st, uint8_t out[PX_SHS_MSG1_BYTES]);

/* Checks msg2 = in[0..len), which must be exactly PX_SHS_MSG2_BYTES. See the codes above. */
int px_shs_client_read_msg2(struct px_shs_client *st, const uint8_t *in, size_t len);

/* Writes msg3 into out. 0 or PX_EINVAL (read_msg2 has already made every check). */
int px_shs_client_msg3(struct px_shs_client *st, uint8_t out[PX_SHS_MSG3_BYTES]);

/*
 * Checks msg4 = in[0..len) (exactly PX_SHS_MSG4_BYTES). On 0 the handshake is complete:
 * the ephemeral and long-term secrets are wiped and px_shs_client_session may be called.
 * Bytes the server sent after msg4 already belong to the box-stream.
 */
int px_shs_client_read_msg4(struct px_shs_client *st, const uint8_t *in, size_t len);

/* Copies the session out of a completed handshake. 0 or PX_EINVAL. */
int px_shs_client_session(const struct px_shs_client *st, struct px_shs_session *out);

/* True once read_msg4 has succeeded. */
bool px_shs_client_done(const struct px_shs_client *st);

/* The reason for the last failure (static storage), or NULL. */
const char *px_shs_client_why(const struct px_shs_client *st);

/* Wipes every secret in st and leaves it failed. Safe on a failed or finished state. */
void px_shs_client_fini(struct px_shs_client *st);

/*
 * Prepares a server: netkey, the server's long-term identity (copied) and the ephemeral
 * seed. 0, or PX_EKEY when id's secret key does not belong to its public key.
 */
int px_shs_server_init(struct px_shs_server *st, const uint8_t netkey[PX_SHS_NETKEY_BYTES],
                       const struct px_identity *id, const uint8_t eph_seed[PX_SHS_SEED_BYTES]);

/* Checks msg1 = in[0..len) (exactly PX_SHS_MSG1_BYTES). See the codes above. */
int px_shs_server_read_msg1(struct px_shs_server *st, const uint8_t *in, size_t len);

/* Writes msg2 into out. 0 or PX_EINVAL. */
int px_shs_server_msg2(struct px_shs_server *st, uint8_t out[PX_SHS_MSG2_BYTES]);

/*
 * Checks msg3 = in[0..len) (exactly PX_SHS_MSG3_BYTES). On 0 the client has proven its
 * long-term key, copied into client_pk: the caller decides whether that key is allowed. If
 * it is, it calls px_shs_server_msg4; if not, it calls px_shs_server_fini and closes,
 * sending nothing. client_pk may be NULL.
 */
int px_shs_server_read_msg3(struct px_shs_server *st, const uint8_t *in, size_t len,
                            uint8_t client_pk[PX_SIGN_PUBLICKEYBYTES]);

/*
 * The caller's approval: writes msg4 into out and completes the handshake (secrets wiped,
 * session ready). 0 or PX_EINVAL.
 */
int px_shs_server_msg4(struct px_shs_server *st, uint8_t out[PX_SHS_MSG4_BYTES]);

/* Copies the session out of a completed handshake. 0 or PX_EINVAL. */
int px_shs_server_session(const struct px_shs_server *st, struct px_shs_session *out);

/* True once msg4 has been written. */
bool px_shs_server_done(const struct px_shs_server *st);

/* The reason for the last failure (static storage), or NULL. */
const char *px_shs_server_why(const struct px_shs_server *st);

/* Wipes every secret in st and leaves it failed. */
void px_shs_server_fini(struct px_shs_server *st);

/* Zeroes a session (its keys are secrets). */
void px_shs_session_wipe(struct px_shs_session *s);

#endif
