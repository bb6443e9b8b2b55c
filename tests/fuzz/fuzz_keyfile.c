/* SPDX-License-Identifier: MIT */
/*
 * fuzz_keyfile.c - libFuzzer target for the identity file parser.
 *
 * Properties, for any input:
 *   - When px_keyfile_parse accepts it, px_keyfile_format of the result parses back to the
 *     same public and secret key, and the formatted text fits in PX_KEYFILE_MAX.
 *   - When it refuses it, the identity it was given is left wiped (all zero).
 *   - The first 32 bytes taken as a seed give an identity that survives format + parse
 *     (so the formatter is exercised on keys the corpus does not hold).
 * A broken property prints what broke and aborts.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/err.h"
#include "protocol/keyfile.h"
#include "protocol/sign.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fail(const char *what, int rc)
{
    fprintf(stderr, "fuzz_keyfile: broken property: %s (rc %s)\n", what, px_err_name(rc));
    abort();
}

static bool
all_zero(const void *p, size_t n)
{
    const uint8_t *b = p;

    for (size_t i = 0; i < n; i++) {
        if (b[i] != 0) {
            return false;
        }
    }
    return true;
}

/* Formats id, parses the text again and requires the same keys. */
static void
round_trip(const struct px_identity *id)
{
    char text[PX_KEYFILE_MAX];
    struct px_identity back;
    size_t len = 0;
    int rc = px_keyfile_format(id, text, sizeof(text), &len);

    if (rc != 0) {
        fail("px_keyfile_format failed", rc);
    }
    if (len >= sizeof(text) || strlen(text) != len) {
        fail("px_keyfile_format length is wrong or the text is cut", 0);
    }
    if ((rc = px_keyfile_parse(text, len, &back)) != 0) {
        fail("a formatted key file does not parse", rc);
    }
    if (memcmp(back.pk, id->pk, sizeof(back.pk)) != 0 ||
        memcmp(back.sk, id->sk, sizeof(back.sk)) != 0) {
        fail("format + parse changed the keys", 0);
    }
    px_identity_wipe(&back);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool ready;
    struct px_identity id;
    int rc;

    if (!ready) {
        if (px_crypto_init() != 0) {
            abort();
        }
        ready = true;
    }
    memset(&id, 0xa5, sizeof(id));
    rc = px_keyfile_parse((const char *)data, size, &id);
    if (rc == 0) {
        round_trip(&id);
    } else if (rc != PX_ETOOBIG && rc != PX_EVERSION && rc != PX_EKEY) {
        fail("px_keyfile_parse returned an undocumented code", rc);
    } else if (!all_zero(&id, sizeof(id))) {
        fail("a refused key file left key material behind", rc);
    }
    if (size >= PX_SIGN_SEEDBYTES) {
        struct px_identity fresh;

        if ((rc = px_identity_from_seed(&fresh, data)) != 0) {
            fail("px_identity_from_seed failed", rc);
        }
        round_trip(&fresh);
        px_identity_wipe(&fresh);
    }
    px_identity_wipe(&id);
    return 0;
}
