/* SPDX-License-Identifier: MIT */
/*
 * test_sign.c - Ed25519 identities against RFC 8032, signing and verifying, BLAKE2b-256
 * record ids against known digests, and the secret helpers.
 */
#include <string.h>

#include <criterion/criterion.h>

#include "protocol/buf.h"
#include "protocol/err.h"
#include "protocol/sign.h"

static void
crypto_setup(void)
{
    cr_assert_eq(px_crypto_init(), 0);
}

TestSuite(sign, .init = crypto_setup);

static void
unhex(const char *hex, uint8_t *out, size_t n)
{
    cr_assert_eq(strlen(hex), 2 * n, "vector %s is not %zu bytes", hex, n);
    cr_assert_eq(px_hex_decode(hex, 2 * n, out, n), 0, "bad hex in vector %s", hex);
}

/* RFC 8032 section 7.1, TEST 1 (empty message), TEST 2 (one byte) and TEST 3 (two). */
struct rfc8032_vector {
    const char *seed, *pk, *msg, *sig;
};

static const struct rfc8032_vector rfc8032[] = {
    {"9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
     "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
     "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
     "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"},
    {"4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
     "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
     "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da"
     "085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"},
    {"c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
     "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025", "af82",
     "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac"
     "18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a"},
};

Test(sign, identity_from_seed_rfc8032_test1)
{
    uint8_t seed[32], pk[32];
    struct px_identity id;

    unhex(rfc8032[0].seed, seed, 32);
    unhex(rfc8032[0].pk, pk, 32);
    cr_assert_eq(px_identity_from_seed(&id, seed), 0);
    cr_assert_arr_eq(id.pk, pk, 32);
    /* libsodium's secret key form: seed || public key. */
    cr_assert_arr_eq(id.sk, seed, 32);
    cr_assert_arr_eq(id.sk + 32, pk, 32);
}

Test(sign, rfc8032_signatures_known_answer)
{
    for (size_t i = 0; i < sizeof(rfc8032) / sizeof(rfc8032[0]); i++) {
        const struct rfc8032_vector *v = &rfc8032[i];
        uint8_t seed[32], pk[32], msg[2], want[64], sig[64];
        size_t mlen = strlen(v->msg) / 2;
        struct px_identity id;

        unhex(v->seed, seed, 32);
        unhex(v->pk, pk, 32);
        unhex(v->msg, msg, mlen);
        unhex(v->sig, want, 64);
        cr_assert_eq(px_identity_from_seed(&id, seed), 0);
        cr_assert_arr_eq(id.pk, pk, 32, "test %zu: public key", i + 1);
        px_sign(&id, msg, mlen, sig);
        cr_assert_arr_eq(sig, want, 64, "test %zu: signature", i + 1);
        cr_assert_eq(px_verify(pk, msg, mlen, want), 0, "test %zu: verify", i + 1);
    }
}

Test(sign, seed_round_trip)
{
    uint8_t seed[32], back[32];
    struct px_identity id;

    for (int i = 0; i < 32; i++) {
        seed[i] = (uint8_t)(i + 1);
    }
    cr_assert_eq(px_identity_from_seed(&id, seed), 0);
    memset(back, 0, sizeof(back));
    px_identity_seed(&id, back);
    cr_assert_arr_eq(back, seed, 32);
}

Test(sign, same_seed_same_key_other_seed_other_key)
{
    uint8_t seed[32];
    struct px_identity a, b, c;

    memset(seed, 7, sizeof(seed));
    cr_assert_eq(px_identity_from_seed(&a, seed), 0);
    cr_assert_eq(px_identity_from_seed(&b, seed), 0);
    cr_assert_arr_eq(a.pk, b.pk, 32);
    cr_assert_arr_eq(a.sk, b.sk, 64);
    seed[31] ^= 1;
    cr_assert_eq(px_identity_from_seed(&c, seed), 0);
    cr_assert_arr_neq(a.pk, c.pk, 32);
}

Test(sign, sign_verify_and_tamper)
{
    static const uint8_t msg[] = "a good practice, signed";
    uint8_t seed[32], sig[64], bad[sizeof(msg)], badsig[64], badpk[32];
    struct px_identity id, other;

    memset(seed, 0x42, sizeof(seed));
    cr_assert_eq(px_identity_from_seed(&id, seed), 0);
    px_sign(&id, msg, sizeof(msg), sig);
    cr_assert_eq(px_verify(id.pk, msg, sizeof(msg), sig), 0);

    /* Deterministic: signing again gives the same bytes. */
    px_sign(&id, msg, sizeof(msg), badsig);
    cr_assert_arr_eq(badsig, sig, 64);

    /* Every single-bit flip in the message fails. */
    for (size_t bit = 0; bit < 8 * sizeof(msg); bit++) {
        memcpy(bad, msg, sizeof(msg));
        bad[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        cr_assert_eq(px_verify(id.pk, bad, sizeof(msg), sig), PX_EBADSIG, "message bit %zu", bit);
    }
    /* Every single-bit flip in the signature fails. */
    for (size_t bit = 0; bit < 8 * 64; bit++) {
        memcpy(badsig, sig, 64);
        badsig[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        cr_assert_eq(px_verify(id.pk, msg, sizeof(msg), badsig), PX_EBADSIG, "signature bit %zu",
                     bit);
    }
    /* Every single-bit flip in the public key fails. */
    for (size_t bit = 0; bit < 8 * 32; bit++) {
        memcpy(badpk, id.pk, 32);
        badpk[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        cr_assert_eq(px_verify(badpk, msg, sizeof(msg), sig), PX_EBADSIG, "key bit %zu", bit);
    }
    /* A shorter or longer message fails. */
    cr_assert_eq(px_verify(id.pk, msg, sizeof(msg) - 1, sig), PX_EBADSIG);
    /* Another key's signature over the same bytes fails under this key. */
    seed[0] ^= 0xff;
    cr_assert_eq(px_identity_from_seed(&other, seed), 0);
    px_sign(&other, msg, sizeof(msg), badsig);
    cr_assert_eq(px_verify(other.pk, msg, sizeof(msg), badsig), 0);
    cr_assert_eq(px_verify(id.pk, msg, sizeof(msg), badsig), PX_EBADSIG);
}

Test(sign, verify_rejects_all_zero_key_and_signature)
{
    uint8_t zero_pk[32] = {0}, zero_sig[64] = {0};

    cr_assert_eq(px_verify(zero_pk, (const uint8_t *)"", 0, zero_sig), PX_EBADSIG);
}

/* Known BLAKE2b-256 digests (unkeyed, 32-byte output), as Python's hashlib.blake2b gives. */
Test(sign, record_id_is_blake2b_256)
{
    uint8_t id[32], want[32], all[256];

    px_record_id_of((const uint8_t *)"", 0, id);
    unhex("0e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a8", want, 32);
    cr_assert_arr_eq(id, want, 32, "BLAKE2b-256 of the empty string");

    px_record_id_of((const uint8_t *)"abc", 3, id);
    unhex("bddd813c634239723171ef3fee98579b94964e3bb1cb3e427262c8c068d52319", want, 32);
    cr_assert_arr_eq(id, want, 32, "BLAKE2b-256 of \"abc\"");

    for (int i = 0; i < 256; i++) {
        all[i] = (uint8_t)i;
    }
    px_record_id_of(all, sizeof(all), id);
    unhex("39a7eb9fedc19aabc83425c6755dd90e6f9d0c804964a1f4aaeea3b9fb599835", want, 32);
    cr_assert_arr_eq(id, want, 32, "BLAKE2b-256 of bytes 0..255");
}

Test(sign, secret_equal)
{
    uint8_t a[64], b[64];

    memset(a, 0x5a, sizeof(a));
    memset(b, 0x5a, sizeof(b));
    cr_assert(px_secret_equal(a, b, sizeof(a)));
    cr_assert(px_secret_equal(a, b, 0));
    for (size_t i = 0; i < sizeof(a); i++) {
        b[i] ^= 0x01;
        cr_assert_not(px_secret_equal(a, b, sizeof(a)), "differs at byte %zu", i);
        cr_assert(px_secret_equal(a, b, i), "the first %zu bytes are equal", i);
        b[i] ^= 0x01;
    }
    b[0] = 0xff;
    b[63] = 0x00;
    cr_assert_not(px_secret_equal(a, b, 64));
}

Test(sign, wipe_zeroes)
{
    struct px_identity id;
    uint8_t seed[32], buf[40];
    static const uint8_t zero[64] = {0};

    memset(seed, 0x33, sizeof(seed));
    cr_assert_eq(px_identity_from_seed(&id, seed), 0);
    px_identity_wipe(&id);
    cr_assert_arr_eq(id.sk, zero, 64);
    cr_assert_arr_eq(id.pk, zero, 32);

    memset(buf, 0xee, sizeof(buf));
    px_wipe(buf, 32);
    cr_assert_arr_eq(buf, zero, 32);
    cr_assert_eq(buf[32], 0xee, "px_wipe went past n");
}

Test(sign, crypto_init_is_idempotent)
{
    cr_assert_eq(px_crypto_init(), 0);
    cr_assert_eq(px_crypto_init(), 0);
}

/* ---- The stricter checks of docs/protocol.md section 2.2 ---- */

/* A signature whose S has the group order L added: the same equation holds, but S >= L. */
Test(sign, verify_refuses_non_canonical_s)
{
    /* L = 2^252 + 27742317777372353535851937790883648493, little-endian. */
    static const uint8_t order[32] = {0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58,
                                      0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
                                      0,    0,    0,    0,    0,    0,    0,    0,
                                      0,    0,    0,    0,    0,    0,    0,    0x10};
    static const uint8_t msg[] = "malleable?";
    uint8_t seed[32], sig[64];
    struct px_identity id;
    unsigned carry = 0;

    memset(seed, 0x24, sizeof(seed));
    cr_assert_eq(px_identity_from_seed(&id, seed), 0);
    px_sign(&id, msg, sizeof(msg), sig);
    cr_assert_eq(px_verify(id.pk, msg, sizeof(msg), sig), 0);
    for (int i = 0; i < 32; i++) {
        unsigned v = sig[32 + i] + order[i] + carry;

        sig[32 + i] = (uint8_t)v;
        carry = v >> 8;
    }
    cr_assert_eq(carry, 0);
    cr_assert_eq(px_verify(id.pk, msg, sizeof(msg), sig), PX_EBADSIG);
}

/* The small-order key 01 00 .. 00 (the identity point) with R = identity and S = 0 satisfies
 * the cofactorless equation for every message; libsodium, and so praxis, refuses it. */
Test(sign, verify_refuses_small_order_key)
{
    uint8_t pk[32] = {0x01}, sig[64] = {0x01};
    static const uint8_t msg[] = "anything";

    cr_assert_eq(px_verify(pk, msg, sizeof(msg), sig), PX_EBADSIG);
}

/* A key whose y coordinate is not reduced (y = p = 2^255 - 19, an alias of y = 0). */
Test(sign, verify_refuses_non_canonical_key)
{
    uint8_t pk[32], sig[64];
    static const uint8_t msg[] = "x";
    struct px_identity id;
    uint8_t seed[32];

    memset(pk, 0xff, sizeof(pk));
    pk[0] = 0xed;
    pk[31] = 0x7f;
    memset(seed, 0x31, sizeof(seed));
    cr_assert_eq(px_identity_from_seed(&id, seed), 0);
    px_sign(&id, msg, sizeof(msg), sig);
    cr_assert_eq(px_verify(pk, msg, sizeof(msg), sig), PX_EBADSIG);
}
