/* SPDX-License-Identifier: MIT */
/*
 * fuzz_wire.c - libFuzzer target for the peer message decoder.
 *
 * The input is one message body (no length prefix). Properties, for any input:
 *   - px_wire_decode returns 0 or one of the codes wire.h lists.
 *   - A message that decodes borrows only from the input: every id, record, string and
 *     negentropy message it points at lies inside it.
 *   - A message that decodes re-encodes (px_wire_encode) to exactly the 4-byte big-endian
 *     length and then the input bytes: the format is canonical, one message, one encoding.
 *     It fits a buffer of exactly that size and not one byte less.
 *   - px_wire_frame_len on the first four bytes accepts exactly the lengths 1..MAX_MSG.
 * A broken property prints what broke and aborts.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/buf.h"
#include "protocol/err.h"
#include "protocol/wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fail(const char *what, int rc)
{
    fprintf(stderr, "fuzz_wire: broken property: %s (rc %s)\n", what, px_err_name(rc));
    abort();
}

static bool
code_documented(int rc)
{
    switch (rc) {
    case 0:
    case PX_ETRUNC:
    case PX_ETOOBIG:
    case PX_ECOUNT:
    case PX_EDEPTH:
    case PX_ENONCANON:
    case PX_EFLOAT:
    case PX_EEXT:
    case PX_EUTF8:
    case PX_ETYPE:
    case PX_ETRAILING:
    case PX_EUNKNOWN:
    case PX_EVALUE:
        return true;
    default:
        return false;
    }
}

/* p[0..n) lies inside data[0..size); an empty slice may point anywhere. */
static void
check_inside(const void *p, size_t n, const uint8_t *data, size_t size, const char *what)
{
    const uint8_t *b = p;

    if (n == 0) {
        return;
    }
    if (b == NULL || b < data || n > size || (size_t)(b - data) > size - n) {
        fail(what, 0);
    }
}

static void
check_borrows(const struct px_wire_msg *m, const uint8_t *data, size_t size)
{
    switch (m->type) {
    case PX_WIRE_HELLO:
        for (uint32_t i = 0; i < m->n_features; i++) {
            check_inside(m->features[i].p, m->features[i].len, data, size, "feature outside");
        }
        check_inside(m->name.p, m->name.len, data, size, "name outside the input");
        break;
    case PX_WIRE_ANNOUNCE:
    case PX_WIRE_WANT:
        for (uint32_t i = 0; i < m->n_ids; i++) {
            check_inside(m->ids[i], PX_ID_BYTES, data, size, "id outside the input");
        }
        break;
    case PX_WIRE_RECORDS:
        for (uint32_t i = 0; i < m->n_records; i++) {
            check_inside(m->records[i], m->record_lens[i], data, size, "record outside");
        }
        break;
    case PX_WIRE_RECONCILE:
        check_inside(m->neg, m->neg_len, data, size, "negentropy message outside");
        break;
    case PX_WIRE_PING:
    case PX_WIRE_PONG:
        break;
    case PX_WIRE_BYE:
        check_inside(m->reason.p, m->reason.len, data, size, "reason outside the input");
        break;
    default:
        fail("decoded an unknown type", 0);
    }
}

static void
check_frame_len(const uint8_t *data, size_t size)
{
    uint32_t len = 0, want;
    int rc;

    if (size < 4) {
        return;
    }
    want = px_load_be32(data);
    rc = px_wire_frame_len(data, &len);
    if (len != want) {
        fail("px_wire_frame_len reports another length", rc);
    }
    if (rc != (want == 0 ? PX_EPROTO : (want > PX_WIRE_MAX_MSG ? PX_ETOOBIG : 0))) {
        fail("px_wire_frame_len result", rc);
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct px_wire_msg msg;
    uint8_t *out;
    size_t len = 0;
    int rc;

    check_frame_len(data, size);
    rc = px_wire_decode(data, size, &msg);
    if (!code_documented(rc)) {
        fail("px_wire_decode returned an undocumented code", rc);
    }
    if (rc != 0) {
        return 0;
    }
    if (size == 0 || size > PX_WIRE_MAX_MSG) {
        fail("decoded a body outside 1..PX_WIRE_MAX_MSG", 0);
    }
    check_borrows(&msg, data, size);
    /* Exactly the frame's size, on the heap, so that ASan sees a write one byte past it. */
    out = malloc(size + 4);
    if (out == NULL) {
        abort();
    }
    if ((rc = px_wire_encode(&msg, out, size + 3, &len)) != PX_ETOOBIG) {
        fail("encoding fits a buffer one byte short of the frame", rc);
    }
    if ((rc = px_wire_encode(&msg, out, size + 4, &len)) != 0) {
        fail("a decoded message does not encode", rc);
    }
    if (len != size + 4 || px_load_be32(out) != size || memcmp(out + 4, data, size) != 0) {
        fail("re-encoding differs from the decoded bytes", 0);
    }
    free(out);
    return 0;
}
