/* SPDX-License-Identifier: MIT */
/*
 * fuzz_record.c - libFuzzer target for the record decoder.
 *
 * Properties, for any input:
 *   - px_record_decode and px_record_decode_prefix agree: the same result, except that a
 *     record followed by more bytes is PX_ETRAILING for the one and a success with
 *     used < size for the other; on success used == size and both give the same id.
 *   - A record that decodes passes px_record_validate, and re-encodes (px_record_encode on
 *     the decoded struct, into a fresh buffer) to exactly the input bytes and the same id:
 *     one record, one encoding.
 *   - The prefix that px_record_decode_prefix accepted decodes on its own.
 *   - px_record_verify neither crashes nor returns anything but 0 or PX_EBADSIG.
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
    fprintf(stderr, "fuzz_record: broken property: %s (rc %s, field %s)\n", what, px_err_name(rc),
            field != NULL ? field : "-");
    abort();
}

/* The decoded record re-encodes to the same bytes and id. */
static void
check_reencode(const struct px_record *dec, const uint8_t *data, size_t size)
{
    struct px_record copy = *dec;
    const char *field = NULL;
    uint8_t *out = malloc(PX_RECORD_MAX);
    size_t len = 0;
    int rc;

    if (out == NULL) {
        abort();
    }
    rc = px_record_encode(&copy, out, PX_RECORD_MAX, &len, &field);
    if (rc != 0) {
        fail("a decoded record does not encode", rc, field);
    }
    if (len != size || memcmp(out, data, size) != 0) {
        fail("re-encoding differs from the decoded bytes", 0, NULL);
    }
    if (memcmp(copy.id, dec->id, PX_ID_BYTES) != 0) {
        fail("re-encoding gives another id", 0, NULL);
    }
    if (copy.signed_len != dec->signed_len || copy.len != dec->len) {
        fail("re-encoding gives other lengths", 0, NULL);
    }
    free(out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool ready;
    struct px_record rec, pre;
    const char *field = NULL, *pfield = NULL;
    size_t used = 0;
    int rc, prc;

    if (!ready) {
        if (px_crypto_init() != 0) {
            abort();
        }
        ready = true;
    }
    rc = px_record_decode(data, size, &rec, &field);
    prc = px_record_decode_prefix(data, size, &used, &pre, &pfield);

    if (rc == PX_ETRAILING && prc == 0) {
        /* A whole record, then more bytes: the prefix must stand on its own. */
        struct px_record alone;
        const char *afield = NULL;
        int arc;

        if (used == 0 || used >= size) {
            fail("prefix accepted with used outside (0, size) but decode said trailing", prc, NULL);
        }
        arc = px_record_decode(data, used, &alone, &afield);
        if (arc != 0) {
            fail("the accepted prefix does not decode alone", arc, afield);
        }
        if (memcmp(alone.id, pre.id, PX_ID_BYTES) != 0) {
            fail("the prefix alone has another id", 0, NULL);
        }
        return 0;
    }
    if (rc != prc) {
        fprintf(stderr, "decode %s, decode_prefix %s\n", px_err_name(rc), px_err_name(prc));
        fail("decode and decode_prefix disagree", rc, field);
    }
    if (rc != 0) {
        return 0;
    }
    if (used != size || rec.len != size || pre.len != size) {
        fail("decode_prefix used != size on a whole record", 0, NULL);
    }
    if (memcmp(rec.id, pre.id, PX_ID_BYTES) != 0 || rec.signed_len != pre.signed_len) {
        fail("decode and decode_prefix give another id", 0, NULL);
    }
    if (rec.signed_bytes != data || rec.signed_len + PX_RECORD_SIG_LEN != size) {
        fail("signed bytes are not the record minus its last 66 bytes", 0, NULL);
    }
    if ((rc = px_record_validate(&rec, &field)) != 0) {
        fail("a decoded record does not validate", rc, field);
    }
    check_reencode(&rec, data, size);
    rc = px_record_verify(&rec);
    if (rc != 0 && rc != PX_EBADSIG) {
        fail("px_record_verify returned an unexpected code", rc, NULL);
    }
    return 0;
}
