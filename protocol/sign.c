/* SPDX-License-Identifier: MIT */
/* sign.c - Ed25519 and BLAKE2b through libsodium; see sign.h. */
#include "sign.h"

#include <string.h>

#include <sodium.h>

#include "err.h"

int
px_crypto_init(void)
{
    /* sodium_init returns 1 when it had already run: that is success too. */
    return sodium_init() < 0 ? PX_ECRYPTO : 0;
}

int
px_identity_from_seed(struct px_identity *id, const uint8_t seed[PX_SIGN_SEEDBYTES])
{
    if (crypto_sign_seed_keypair(id->pk, id->sk, seed) != 0) {
        return PX_ECRYPTO;
    }
    return 0;
}

void
px_identity_seed(const struct px_identity *id, uint8_t seed[PX_SIGN_SEEDBYTES])
{
    crypto_sign_ed25519_sk_to_seed(seed, id->sk);
}

void
px_identity_wipe(struct px_identity *id)
{
    sodium_memzero(id, sizeof(*id));
}

void
px_sign(const struct px_identity *id, const uint8_t *msg, size_t len, uint8_t sig[PX_SIGN_BYTES])
{
    crypto_sign_detached(sig, NULL, msg, len, id->sk);
}

int
px_verify(const uint8_t pk[PX_SIGN_PUBLICKEYBYTES], const uint8_t *msg, size_t len,
          const uint8_t sig[PX_SIGN_BYTES])
{
    return crypto_sign_verify_detached(sig, msg, len, pk) == 0 ? 0 : PX_EBADSIG;
}

void
px_record_id_of(const uint8_t *signed_bytes, size_t len, uint8_t id[PX_ID_BYTES])
{
    crypto_generichash(id, PX_ID_BYTES, signed_bytes, len, NULL, 0);
}

bool
px_secret_equal(const uint8_t *a, const uint8_t *b, size_t n)
{
    return sodium_memcmp(a, b, n) == 0;
}

void
px_wipe(void *p, size_t n)
{
    sodium_memzero(p, n);
}
