/* SPDX-License-Identifier: MIT */
/*
 * sign.h - Ed25519 identities, signatures and BLAKE2b record ids.
 *
 * An identity is an Ed25519 key pair. The secret key is kept in libsodium's 64-byte form
 * (seed || public key); only the 32-byte seed is ever written to a key file. Randomness is
 * not drawn here: the caller passes a seed it took from the operating system.
 */
#ifndef PX_SIGN_H
#define PX_SIGN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PX_SIGN_PUBLICKEYBYTES 32
#define PX_SIGN_SECRETKEYBYTES 64
#define PX_SIGN_SEEDBYTES      32
#define PX_SIGN_BYTES          64
#define PX_ID_BYTES            32

struct px_identity {
    uint8_t pk[PX_SIGN_PUBLICKEYBYTES];
    uint8_t sk[PX_SIGN_SECRETKEYBYTES]; /* secret: wipe with px_identity_wipe */
};

/* Initializes the crypto library; call once before anything else. 0 or PX_ECRYPTO. */
int px_crypto_init(void);

/* Derives the key pair of a 32-byte seed. 0 or PX_ECRYPTO. */
int px_identity_from_seed(struct px_identity *id, const uint8_t seed[PX_SIGN_SEEDBYTES]);

/* Copies the seed (the first half of the secret key) out of an identity. */
void px_identity_seed(const struct px_identity *id, uint8_t seed[PX_SIGN_SEEDBYTES]);

/* Zeroes an identity's secret material (the compiler may not optimise this away). */
void px_identity_wipe(struct px_identity *id);

/* Signs msg[0..len) with the identity's secret key into sig. */
void px_sign(const struct px_identity *id, const uint8_t *msg, size_t len,
             uint8_t sig[PX_SIGN_BYTES]);

/* 0 when sig is pk's signature over exactly msg[0..len), else PX_EBADSIG. */
int px_verify(const uint8_t pk[PX_SIGN_PUBLICKEYBYTES], const uint8_t *msg, size_t len,
              const uint8_t sig[PX_SIGN_BYTES]);

/* The record id: BLAKE2b-256 (unkeyed) of the signed bytes. */
void px_record_id_of(const uint8_t *signed_bytes, size_t len, uint8_t id[PX_ID_BYTES]);

/* Constant-time comparison of two secrets of n bytes. */
bool px_secret_equal(const uint8_t *a, const uint8_t *b, size_t n);

/* Zeroes n bytes in a way the compiler keeps. */
void px_wipe(void *p, size_t n);

#endif
