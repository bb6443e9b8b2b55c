/* SPDX-License-Identifier: MIT */
/*
 * fuzz_mp.c - libFuzzer target for the bounded msgpack walker, checked against msgpack-c.
 *
 * The walker exists so that msgpack-c never sees a buffer that could make it allocate
 * from an untrusted count, so only bytes the walker accepted are handed to msgpack-c.
 * Properties, for any input of at most FUZZ_MP_MAX_INPUT bytes:
 *   1. Permissive flags (0), generous limits: when the walker accepts an object of n
 *      bytes, msgpack-c unpacks one object from the same bytes and consumes exactly n.
 *   2. Each flag only rejects: whatever a stricter profile or tighter limits accept, the
 *      permissive walker accepts too, with the same size. px_mp_check_exact agrees.
 *   3. Canonical form is msgpack-c's shortest form: when the walker accepts under
 *      PX_MP_CANONICAL | PX_MP_NO_FLOAT (which PX_MP_STRICT includes), re-packing the
 *      msgpack-c object with msgpack_pack_object gives back exactly the same bytes.
 *
 * Why property 3 is checked with PX_MP_NO_FLOAT: a float has no shorter form, but
 * msgpack-c widens float32 to double when unpacking and narrows it when packing, and on
 * x86 that round trip sets the quiet bit of a signalling NaN (ca 7f a0 00 00 comes back
 * as ca 7f e0 00 00). That is msgpack-c's value model, not a canonical-form bug, and
 * PX_MP_STRICT forbids floats anyway. Everything else in the canonical profile, ext
 * included, does round-trip: msgpack-c 4.0 packs str 32..255 as str8 (d9), bin < 256 as
 * bin8, ext of 1/2/4/8/16 bytes as fixext, and integers in the shortest unsigned form when
 * non-negative and the shortest signed form when negative, which is exactly what
 * PX_MP_CANONICAL requires. Without PX_MP_CANONICAL it would not hold: d0 05 re-packs
 * as 05.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>

#include "protocol/err.h"
#include "protocol/mp.h"
#include "protocol/sign.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Larger inputs only slow the fuzzer down; the walker's limits are the subject here. */
#define FUZZ_MP_MAX_INPUT (64u << 10)

static const struct px_mp_limits generous = {
    .max_depth = PX_MP_MAX_DEPTH,
    .max_size = FUZZ_MP_MAX_INPUT,
    .max_str = FUZZ_MP_MAX_INPUT,
    .max_count = FUZZ_MP_MAX_INPUT,
    .flags = 0,
};

static void
fail(const char *what, int rc)
{
    fprintf(stderr, "fuzz_mp: broken property: %s (rc %s)\n", what, px_err_name(rc));
    abort();
}

/* Checks with lim and, on success, that the permissive walk agrees on the size. */
static int
check_within(const uint8_t *data, size_t size, const struct px_mp_limits *lim, int loose_rc,
             size_t loose_n, size_t *n)
{
    int rc = px_mp_check(data, size, lim, n);

    if (rc != 0) {
        return rc;
    }
    if (loose_rc != 0) {
        fail("a stricter profile or tighter limits accepted what the permissive walk refused",
             loose_rc);
    }
    if (*n != loose_n) {
        fail("a stricter profile measured another object size", 0);
    }
    if (*n > lim->max_size) {
        fail("an accepted object is larger than max_size", 0);
    }
    return 0;
}

/* Property 1: msgpack-c consumes exactly the n bytes the walker accepted. */
static void
unpack_same_size(const uint8_t *data, size_t size, size_t n, msgpack_unpacked *u)
{
    size_t off = 0;
    msgpack_unpack_return ur = msgpack_unpack_next(u, (const char *)data, size, &off);

    if (ur != MSGPACK_UNPACK_SUCCESS && ur != MSGPACK_UNPACK_EXTRA_BYTES) {
        fprintf(stderr, "msgpack_unpack_next returned %d\n", (int)ur);
        fail("msgpack-c refused an object the walker accepted", 0);
    }
    if (off != n) {
        fprintf(stderr, "walker %zu bytes, msgpack-c %zu bytes\n", n, off);
        fail("msgpack-c consumed another number of bytes", 0);
    }
}

/* Property 3: msgpack-c re-packs a canonical object to the same bytes. */
static void
repack_same_bytes(const uint8_t *data, size_t n, const msgpack_unpacked *u)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;

    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    if (msgpack_pack_object(&pk, u->data) != 0) {
        fail("msgpack_pack_object failed", 0);
    }
    if (sb.size != n || memcmp(sb.data, data, n) != 0) {
        fprintf(stderr, "walker accepted %zu bytes, msgpack-c re-packed %zu\n", n, sb.size);
        fail("a canonical object does not re-pack to the same bytes", 0);
    }
    msgpack_sbuffer_destroy(&sb);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool ready;
    struct px_mp_limits canon = generous, strict = generous, tight;
    size_t n = 0, cn = 0, sn = 0, tn = 0;
    uint8_t knob;
    int rc, crc, src;

    if (!ready) {
        if (px_crypto_init() != 0) {
            abort();
        }
        ready = true;
    }
    if (size > FUZZ_MP_MAX_INPUT) {
        return 0;
    }
    rc = px_mp_check(data, size, &generous, &n);
    if (rc == 0 && (n == 0 || n > size)) {
        fail("accepted object size outside (0, size]", rc);
    }
    if (px_mp_check_exact(data, size, &generous) !=
        (rc != 0 ? rc : (n == size ? 0 : PX_ETRAILING))) {
        fail("px_mp_check_exact disagrees with px_mp_check", rc);
    }
    if (rc == 0 && px_mp_check_exact(data, n, &generous) != 0) {
        fail("the accepted object does not stand on its own", rc);
    }

    canon.flags = PX_MP_CANONICAL | PX_MP_NO_FLOAT;
    crc = check_within(data, size, &canon, rc, n, &cn);
    strict.flags = PX_MP_STRICT;
    src = check_within(data, size, &strict, rc, n, &sn);
    if (src == 0 && crc != 0) {
        fail("PX_MP_STRICT accepted what PX_MP_CANONICAL | PX_MP_NO_FLOAT refused", crc);
    }

    /* Tight limits picked by the last byte, so the fuzzer can steer them. */
    knob = size > 0 ? data[size - 1] : 0;
    tight.max_depth = 1u + (knob & 3u);
    tight.max_size = size - size / (2u + (knob >> 6));
    tight.max_str = (uint32_t)(knob & 0x3cu);
    tight.max_count = (uint32_t)((knob >> 2) & 0x0fu);
    tight.flags = (unsigned)(knob >> 3) & PX_MP_STRICT;
    (void)check_within(data, size, &tight, rc, n, &tn);

    if (rc == 0) {
        msgpack_unpacked u;

        msgpack_unpacked_init(&u);
        unpack_same_size(data, size, n, &u);
        if (crc == 0) {
            repack_same_bytes(data, n, &u);
        }
        msgpack_unpacked_destroy(&u);
    }
    return 0;
}
