/* SPDX-License-Identifier: MIT */
/*
 * shs.c - the secret handshake state machines; see shs.h and docs/protocol.md section 9.
 *
 * Names follow the SSB write-ups: the client is A (long-term Ed25519 key A, ephemeral
 * X25519 key a), the server is B (B, b); N is the network key. "curve(K)" is the X25519
 * form of an Ed25519 key. The three shared secrets are ab = a*b, aB = a*curve(B) and
 * Ab = curve(A)*b; every crypto_scalarmult result is checked, because a low-order peer key
 * gives all zeroes and would make every later key predictable.
 *
 * The client computes all three as soon as it has msg2, the server ab and aB when it has
 * msg1 and Ab when it has msg3, so each read function performs every check its message
 * allows and the functions that write messages cannot fail on peer input.
 */
#include "shs.h"

#include <string.h>

#include <sodium.h>

#include "err.h"

enum shs_step {
    STEP_FAILED = 0, /* also what a zeroed or finished struct is */
    C_START,
    C_SENT_MSG1,
    C_GOT_MSG2,
    C_SENT_MSG3,
    C_DONE,
    S_START,
    S_GOT_MSG1,
    S_SENT_MSG2,
    S_GOT_MSG3,
    S_DONE,
};

/* What each side signs: N || B_pk || sha256(ab), and N || hello || sha256(ab). */
#define CLIENT_SIGNED_BYTES (32 + 32 + 32)
#define HELLO_BYTES         (crypto_sign_BYTES + PX_SIGN_PUBLICKEYBYTES)
#define SERVER_SIGNED_BYTES (32 + HELLO_BYTES + 32)

/* The handshake boxes (msg3, msg4) each use their own key once, so the nonce is zero. */
static const uint8_t zero_nonce[crypto_secretbox_NONCEBYTES];

/* Wipes every secret, keeps step and why. */
static void
wipe_secrets(struct px__shs_core *c)
{
    px_wipe(c->lt_sk, sizeof(c->lt_sk));
    px_wipe(c->eph_sk, sizeof(c->eph_sk));
    px_wipe(c->ab, sizeof(c->ab));
    px_wipe(c->aB, sizeof(c->aB));
    px_wipe(c->Ab, sizeof(c->Ab));
    px_wipe(c->hello, sizeof(c->hello));
}

/* Moves to the failed state with a reason and wipes everything; returns rc. */
static int
fail(struct px__shs_core *c, int rc, const char *why)
{
    wipe_secrets(c);
    px_shs_session_wipe(&c->session);
    c->step = STEP_FAILED;
    c->why = why;
    return rc;
}

static void
fini(struct px__shs_core *c)
{
    /* The whole struct: secrets, session, and the public values too (nothing to keep). */
    px_wipe(c, sizeof(*c));
    c->step = STEP_FAILED;
}

/* A read function's length rule: exactly one message. */
static int
check_len(struct px__shs_core *c, size_t len, size_t want, const char *what_short)
{
    if (len < want) {
        return fail(c, PX_ETRUNC, what_short);
    }
    if (len > want) {
        return fail(c, PX_ETOOBIG, "handshake message longer than its fixed size");
    }
    return 0;
}

static int
init_core(struct px__shs_core *c, int step, const uint8_t netkey[PX_SHS_NETKEY_BYTES],
          const struct px_identity *id, const uint8_t eph_seed[PX_SHS_SEED_BYTES])
{
    memset(c, 0, sizeof(*c));
    /* libsodium's secret key is seed || pk; a mismatch would sign for another key. */
    if (sodium_memcmp(id->sk + PX_SIGN_SEEDBYTES, id->pk, PX_SIGN_PUBLICKEYBYTES) != 0) {
        return fail(c, PX_EKEY, "long-term secret key does not match its public key");
    }
    memcpy(c->netkey, netkey, PX_SHS_NETKEY_BYTES);
    memcpy(c->lt_pk, id->pk, sizeof(c->lt_pk));
    memcpy(c->lt_sk, id->sk, sizeof(c->lt_sk));
    /*
     * The JS module derives its pair with crypto_sign_seed_keypair and converts both halves
     * to X25519. crypto_box_seed_keypair gives the same public key and an unclamped scalar
     * that crypto_scalarmult clamps to the same one, so every shared secret is identical.
     */
    if (crypto_box_seed_keypair(c->eph_pk, c->eph_sk, eph_seed) != 0) {
        return fail(c, PX_ECRYPTO, "ephemeral key derivation failed");
    }
    c->step = step;
    return 0;
}

/* msg1 and msg2: hmac_N(eph_pk) || eph_pk; our first 24 HMAC bytes become a nonce. */
static void
write_challenge(struct px__shs_core *c, uint8_t out[64])
{
    crypto_auth(out, c->eph_pk, sizeof(c->eph_pk), c->netkey);
    memcpy(out + crypto_auth_BYTES, c->eph_pk, sizeof(c->eph_pk));
    memcpy(c->local_nonce, out, sizeof(c->local_nonce));
}

/* Checks a peer's msg1/msg2 and derives ab. The caller has checked the length. */
static int
read_challenge(struct px__shs_core *c, const uint8_t in[64])
{
    if (crypto_auth_verify(in, in + crypto_auth_BYTES, 32, c->netkey) != 0) {
        return fail(c, PX_EPROTO, "challenge HMAC does not verify (another network key?)");
    }
    memcpy(c->peer_eph_pk, in + crypto_auth_BYTES, sizeof(c->peer_eph_pk));
    memcpy(c->remote_nonce, in, sizeof(c->remote_nonce));
    if (crypto_scalarmult(c->ab, c->eph_sk, c->peer_eph_pk) != 0) {
        return fail(c, PX_EKEY, "peer ephemeral key has low order");
    }
    return 0;
}

/* out = scalar(ed25519 secret key sk) * point; PX_EKEY when the result is all zeroes. */
static int
mult_ed_sk(uint8_t out[32], const uint8_t sk[PX_SIGN_SECRETKEYBYTES], const uint8_t point[32])
{
    uint8_t scalar[32];
    int rc = 0;

    if (crypto_sign_ed25519_sk_to_curve25519(scalar, sk) != 0 ||
        crypto_scalarmult(out, scalar, point) != 0) {
        rc = PX_EKEY;
    }
    px_wipe(scalar, sizeof(scalar));
    return rc;
}

/* out = scalar * curve(ed25519 public key pk); PX_EKEY when pk has no X25519 form. */
static int
mult_ed_pk(uint8_t out[32], const uint8_t scalar[32], const uint8_t pk[PX_SIGN_PUBLICKEYBYTES])
{
    uint8_t point[32];

    if (crypto_sign_ed25519_pk_to_curve25519(point, pk) != 0) {
        return PX_EKEY;
    }
    return crypto_scalarmult(out, scalar, point) != 0 ? PX_EKEY : 0;
}

/* msg3 box key: sha256(N || ab || aB). */
static void
msg3_key(const struct px__shs_core *c, uint8_t key[32])
{
    crypto_hash_sha256_state h;

    crypto_hash_sha256_init(&h);
    crypto_hash_sha256_update(&h, c->netkey, sizeof(c->netkey));
    crypto_hash_sha256_update(&h, c->ab, sizeof(c->ab));
    crypto_hash_sha256_update(&h, c->aB, sizeof(c->aB));
    crypto_hash_sha256_final(&h, key);
}

/* msg4 box key: sha256(N || ab || aB || Ab). */
static void
msg4_key(const struct px__shs_core *c, uint8_t key[32])
{
    crypto_hash_sha256_state h;

    crypto_hash_sha256_init(&h);
    crypto_hash_sha256_update(&h, c->netkey, sizeof(c->netkey));
    crypto_hash_sha256_update(&h, c->ab, sizeof(c->ab));
    crypto_hash_sha256_update(&h, c->aB, sizeof(c->aB));
    crypto_hash_sha256_update(&h, c->Ab, sizeof(c->Ab));
    crypto_hash_sha256_final(&h, key);
}

/* What the client signs: N || B_pk || sha256(ab). */
static void
client_signed(const struct px__shs_core *c, const uint8_t server_pk[32],
              uint8_t out[CLIENT_SIGNED_BYTES])
{
    memcpy(out, c->netkey, 32);
    memcpy(out + 32, server_pk, 32);
    crypto_hash_sha256(out + 64, c->ab, sizeof(c->ab));
}

/* What the server signs: N || hello || sha256(ab). */
static void
server_signed(const struct px__shs_core *c, uint8_t out[SERVER_SIGNED_BYTES])
{
    memcpy(out, c->netkey, 32);
    memcpy(out + 32, c->hello, sizeof(c->hello));
    crypto_hash_sha256(out + 32 + HELLO_BYTES, c->ab, sizeof(c->ab));
}

_Static_assert(sizeof(((struct px__shs_core *)0)->hello) == HELLO_BYTES, "hello size");
_Static_assert(PX_SHS_MSG3_BYTES == HELLO_BYTES + crypto_secretbox_MACBYTES, "msg3 size");
_Static_assert(PX_SHS_MSG4_BYTES == crypto_sign_BYTES + crypto_secretbox_MACBYTES, "msg4 size");

/*
 * The end of the handshake, the same for both sides: secret = sha256(msg4 key);
 * encrypt_key = sha256(secret || peer_pk), decrypt_key = sha256(secret || own pk); a side
 * sends with the nonce from the peer's HMAC and reads with the one from its own. Then every
 * handshake secret is wiped.
 */
static void
finish(struct px__shs_core *c, int done_step)
{
    uint8_t key4[32], secret[32];
    crypto_hash_sha256_state h;

    msg4_key(c, key4);
    crypto_hash_sha256(secret, key4, sizeof(key4));

    crypto_hash_sha256_init(&h);
    crypto_hash_sha256_update(&h, secret, sizeof(secret));
    crypto_hash_sha256_update(&h, c->peer_lt_pk, sizeof(c->peer_lt_pk));
    crypto_hash_sha256_final(&h, c->session.encrypt_key);

    crypto_hash_sha256_init(&h);
    crypto_hash_sha256_update(&h, secret, sizeof(secret));
    crypto_hash_sha256_update(&h, c->lt_pk, sizeof(c->lt_pk));
    crypto_hash_sha256_final(&h, c->session.decrypt_key);

    memcpy(c->session.encrypt_nonce, c->remote_nonce, PX_SHS_NONCE_BYTES);
    memcpy(c->session.decrypt_nonce, c->local_nonce, PX_SHS_NONCE_BYTES);
    memcpy(c->session.peer_pk, c->peer_lt_pk, PX_SIGN_PUBLICKEYBYTES);

    px_wipe(key4, sizeof(key4));
    px_wipe(secret, sizeof(secret));
    wipe_secrets(c);
    c->step = done_step;
}

static int
get_session(const struct px__shs_core *c, int done_step, struct px_shs_session *out)
{
    if (c->step != done_step) {
        return PX_EINVAL;
    }
    *out = c->session;
    return 0;
}

/* ---- client ---- */

int
px_shs_client_init(struct px_shs_client *st, const uint8_t netkey[PX_SHS_NETKEY_BYTES],
                   const struct px_identity *id, const uint8_t eph_seed[PX_SHS_SEED_BYTES],
                   const uint8_t server_pk[PX_SIGN_PUBLICKEYBYTES])
{
    struct px__shs_core *c = &st->c;
    uint8_t point[32];
    int rc;

    if ((rc = init_core(c, C_START, netkey, id, eph_seed)) != 0) {
        return rc;
    }
    /* Refuse a server key we could never complete a handshake with, before sending. */
    if (crypto_sign_ed25519_pk_to_curve25519(point, server_pk) != 0) {
        return fail(c, PX_EKEY, "expected server key has no X25519 form");
    }
    memcpy(c->peer_lt_pk, server_pk, PX_SIGN_PUBLICKEYBYTES);
    return 0;
}

int
px_shs_client_msg1(struct px_shs_client *st, uint8_t out[PX_SHS_MSG1_BYTES])
{
    struct px__shs_core *c = &st->c;

    if (c->step != C_START) {
        return PX_EINVAL;
    }
    write_challenge(c, out);
    c->step = C_SENT_MSG1;
    return 0;
}

int
px_shs_client_read_msg2(struct px_shs_client *st, const uint8_t *in, size_t len)
{
    struct px__shs_core *c = &st->c;
    int rc;

    if (c->step != C_SENT_MSG1) {
        return PX_EINVAL;
    }
    if ((rc = check_len(c, len, PX_SHS_MSG2_BYTES, "stream ended inside msg2")) != 0 ||
        (rc = read_challenge(c, in)) != 0) {
        return rc;
    }
    if (mult_ed_pk(c->aB, c->eph_sk, c->peer_lt_pk) != 0) {
        return fail(c, PX_EKEY, "server long-term key unusable");
    }
    if (mult_ed_sk(c->Ab, c->lt_sk, c->peer_eph_pk) != 0) {
        return fail(c, PX_EKEY, "peer ephemeral key has low order");
    }
    c->step = C_GOT_MSG2;
    return 0;
}

int
px_shs_client_msg3(struct px_shs_client *st, uint8_t out[PX_SHS_MSG3_BYTES])
{
    struct px__shs_core *c = &st->c;
    uint8_t signed_msg[CLIENT_SIGNED_BYTES], key3[32];

    if (c->step != C_GOT_MSG2) {
        return PX_EINVAL;
    }
    client_signed(c, c->peer_lt_pk, signed_msg);
    crypto_sign_detached(c->hello, NULL, signed_msg, sizeof(signed_msg), c->lt_sk);
    memcpy(c->hello + crypto_sign_BYTES, c->lt_pk, sizeof(c->lt_pk));
    msg3_key(c, key3);
    crypto_secretbox_easy(out, c->hello, sizeof(c->hello), zero_nonce, key3);
    px_wipe(signed_msg, sizeof(signed_msg));
    px_wipe(key3, sizeof(key3));
    /* The long-term secret is not needed any more: Ab was computed with msg2. */
    px_wipe(c->lt_sk, sizeof(c->lt_sk));
    c->step = C_SENT_MSG3;
    return 0;
}

int
px_shs_client_read_msg4(struct px_shs_client *st, const uint8_t *in, size_t len)
{
    struct px__shs_core *c = &st->c;
    uint8_t key4[32], sig[crypto_sign_BYTES], signed_msg[SERVER_SIGNED_BYTES];
    int rc = 0;

    if (c->step != C_SENT_MSG3) {
        return PX_EINVAL;
    }
    if ((rc = check_len(c, len, PX_SHS_MSG4_BYTES, "stream ended inside msg4")) != 0) {
        return rc;
    }
    msg4_key(c, key4);
    if (crypto_secretbox_open_easy(sig, in, len, zero_nonce, key4) != 0) {
        rc = fail(c, PX_EPROTO, "msg4 does not open (wrong server or tampered)");
        goto out;
    }
    server_signed(c, signed_msg);
    if (crypto_sign_verify_detached(sig, signed_msg, sizeof(signed_msg), c->peer_lt_pk) != 0) {
        rc = fail(c, PX_EBADSIG, "msg4 signature is not the expected server's");
        goto out;
    }
    finish(c, C_DONE);
out:
    px_wipe(key4, sizeof(key4));
    px_wipe(signed_msg, sizeof(signed_msg));
    return rc;
}

int
px_shs_client_session(const struct px_shs_client *st, struct px_shs_session *out)
{
    return get_session(&st->c, C_DONE, out);
}

bool
px_shs_client_done(const struct px_shs_client *st)
{
    return st->c.step == C_DONE;
}

const char *
px_shs_client_why(const struct px_shs_client *st)
{
    return st->c.why;
}

void
px_shs_client_fini(struct px_shs_client *st)
{
    fini(&st->c);
}

/* ---- server ---- */

int
px_shs_server_init(struct px_shs_server *st, const uint8_t netkey[PX_SHS_NETKEY_BYTES],
                   const struct px_identity *id, const uint8_t eph_seed[PX_SHS_SEED_BYTES])
{
    return init_core(&st->c, S_START, netkey, id, eph_seed);
}

int
px_shs_server_read_msg1(struct px_shs_server *st, const uint8_t *in, size_t len)
{
    struct px__shs_core *c = &st->c;
    int rc;

    if (c->step != S_START) {
        return PX_EINVAL;
    }
    if ((rc = check_len(c, len, PX_SHS_MSG1_BYTES, "stream ended inside msg1")) != 0 ||
        (rc = read_challenge(c, in)) != 0) {
        return rc;
    }
    if (mult_ed_sk(c->aB, c->lt_sk, c->peer_eph_pk) != 0) {
        return fail(c, PX_EKEY, "peer ephemeral key has low order");
    }
    c->step = S_GOT_MSG1;
    return 0;
}

int
px_shs_server_msg2(struct px_shs_server *st, uint8_t out[PX_SHS_MSG2_BYTES])
{
    struct px__shs_core *c = &st->c;

    if (c->step != S_GOT_MSG1) {
        return PX_EINVAL;
    }
    write_challenge(c, out);
    c->step = S_SENT_MSG2;
    return 0;
}

int
px_shs_server_read_msg3(struct px_shs_server *st, const uint8_t *in, size_t len,
                        uint8_t client_pk[PX_SIGN_PUBLICKEYBYTES])
{
    struct px__shs_core *c = &st->c;
    uint8_t key3[32], signed_msg[CLIENT_SIGNED_BYTES];
    const uint8_t *pk = c->hello + crypto_sign_BYTES;
    int rc = 0;

    if (c->step != S_SENT_MSG2) {
        return PX_EINVAL;
    }
    if ((rc = check_len(c, len, PX_SHS_MSG3_BYTES, "stream ended inside msg3")) != 0) {
        return rc;
    }
    msg3_key(c, key3);
    if (crypto_secretbox_open_easy(c->hello, in, len, zero_nonce, key3) != 0) {
        rc = fail(c, PX_EPROTO, "msg3 does not open (client expects another server key?)");
        goto out;
    }
    client_signed(c, c->lt_pk, signed_msg);
    if (crypto_sign_verify_detached(c->hello, signed_msg, sizeof(signed_msg), pk) != 0) {
        rc = fail(c, PX_EBADSIG, "msg3 signature does not verify");
        goto out;
    }
    if (mult_ed_pk(c->Ab, c->eph_sk, pk) != 0) {
        rc = fail(c, PX_EKEY, "client long-term key unusable");
        goto out;
    }
    memcpy(c->peer_lt_pk, pk, PX_SIGN_PUBLICKEYBYTES);
    if (client_pk != NULL) {
        memcpy(client_pk, pk, PX_SIGN_PUBLICKEYBYTES);
    }
    c->step = S_GOT_MSG3;
out:
    px_wipe(key3, sizeof(key3));
    px_wipe(signed_msg, sizeof(signed_msg));
    return rc;
}

int
px_shs_server_msg4(struct px_shs_server *st, uint8_t out[PX_SHS_MSG4_BYTES])
{
    struct px__shs_core *c = &st->c;
    uint8_t key4[32], sig[crypto_sign_BYTES], signed_msg[SERVER_SIGNED_BYTES];

    if (c->step != S_GOT_MSG3) {
        return PX_EINVAL;
    }
    server_signed(c, signed_msg);
    crypto_sign_detached(sig, NULL, signed_msg, sizeof(signed_msg), c->lt_sk);
    msg4_key(c, key4);
    crypto_secretbox_easy(out, sig, sizeof(sig), zero_nonce, key4);
    px_wipe(key4, sizeof(key4));
    px_wipe(signed_msg, sizeof(signed_msg));
    finish(c, S_DONE);
    return 0;
}

int
px_shs_server_session(const struct px_shs_server *st, struct px_shs_session *out)
{
    return get_session(&st->c, S_DONE, out);
}

bool
px_shs_server_done(const struct px_shs_server *st)
{
    return st->c.step == S_DONE;
}

const char *
px_shs_server_why(const struct px_shs_server *st)
{
    return st->c.why;
}

void
px_shs_server_fini(struct px_shs_server *st)
{
    fini(&st->c);
}

void
px_shs_session_wipe(struct px_shs_session *s)
{
    px_wipe(s, sizeof(*s));
}
