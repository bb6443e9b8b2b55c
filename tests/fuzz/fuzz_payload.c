/* SPDX-License-Identifier: MIT */
/*
 * fuzz_payload.c - libFuzzer target for the payload codec (px_record_decode_payload), the
 * form in which the local API carries a case or a retraction before it is signed.
 *
 * Properties, for any input, decoded as a case and as a retraction:
 *   - At most one of the two types accepts it (their required and allowed keys differ).
 *   - What decodes re-encodes (px_record_encode_payload) to exactly the input bytes.
 *   - What decodes can be published: px_record_sign with a fixed key succeeds, the signed
 *     record decodes with px_record_decode and verifies, and its payload bytes are the
 *     input bytes (they end the signed part).
 * A broken property prints what broke and aborts.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/err.h"
#include "protocol/record.h"
#include "protocol/sign.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fail(const char *what, int rc, const char *field)
{
    fprintf(stderr, "fuzz_payload: broken property: %s (rc %s, field %s)\n", what, px_err_name(rc),
            field != NULL ? field : "-");
    abort();
}

static void
check_payload(const struct px_identity *id, struct px_record *rec, const uint8_t *data, size_t size)
{
    uint8_t *out = malloc(PX_RECORD_MAX);
    struct px_record back;
    const char *field = NULL;
    size_t len = 0;
    int rc;

    if (out == NULL) {
        abort();
    }
    if ((rc = px_record_encode_payload(rec, out, PX_RECORD_MAX, &len, &field)) != 0) {
        fail("a decoded payload does not encode", rc, field);
    }
    if (len != size || memcmp(out, data, size) != 0) {
        fail("re-encoding differs from the decoded payload bytes", 0, NULL);
    }
    rec->created = PX_RECORD_MIN_CREATED;
    rc = px_record_sign(rec, id, out, PX_RECORD_MAX, &len, &field);
    /* The envelope adds at most 46 bytes and the signature 66: a payload this close to
     * PX_RECORD_MAX may not fit in a record, and that is the only excuse. */
    if (rc == PX_ETOOBIG && size > PX_RECORD_MAX - 46 - PX_RECORD_SIG_LEN) {
        free(out);
        return;
    }
    if (rc != 0) {
        fail("a decoded payload cannot be signed", rc, field);
    }
    if ((rc = px_record_decode(out, len, &back, &field)) != 0) {
        fail("a record signed from a decoded payload does not decode", rc, field);
    }
    if ((rc = px_record_verify(&back)) != 0) {
        fail("a record signed from a decoded payload does not verify", rc, NULL);
    }
    if (back.signed_len < size || memcmp(out + back.signed_len - size, data, size) != 0) {
        fail("the signed record does not end its signed part with the payload bytes", 0, NULL);
    }
    free(out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint8_t seed[PX_SIGN_SEEDBYTES] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    static struct px_identity id;
    static bool ready;
    static const enum px_record_type types[] = {PX_RECORD_CASE, PX_RECORD_RETRACTION};
    int accepted = 0;

    if (!ready) {
        if (px_crypto_init() != 0 || px_identity_from_seed(&id, seed) != 0) {
            abort();
        }
        ready = true;
    }
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        struct px_record rec;
        const char *field = NULL;

        px_record_init(&rec, types[i]);
        if (px_record_decode_payload(types[i], data, size, &rec, &field) != 0) {
            continue;
        }
        if (rec.type != types[i]) {
            fail("the decoded payload has another type", 0, NULL);
        }
        accepted++;
        check_payload(&id, &rec, data, size);
    }
    if (accepted > 1) {
        fail("the same bytes decode as a case and as a retraction", 0, NULL);
    }
    return 0;
}
