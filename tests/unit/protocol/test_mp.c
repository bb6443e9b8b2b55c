/* SPDX-License-Identifier: MIT */
/*
 * test_mp.c - the bounded msgpack walker on hand-made bytes, UTF-8 validation, and the
 * strict readers and shortest-form writers at every width boundary, cross-checked with
 * msgpack-c.
 */
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <msgpack.h>

#include "protocol/buf.h"
#include "protocol/err.h"
#include "protocol/mp.h"

/* The praxis profile with generous caps, and no profile at all. */
static const struct px_mp_limits strict = {
    .max_depth = 8,
    .max_size = 1u << 20,
    .max_str = 1u << 20,
    .max_count = UINT32_MAX,
    .flags = PX_MP_STRICT,
};

static const struct px_mp_limits loose = {
    .max_depth = 8,
    .max_size = 1u << 20,
    .max_str = 1u << 20,
    .max_count = UINT32_MAX,
    .flags = 0,
};

static size_t last_used;

static int
check(const struct px_mp_limits *lim, const uint8_t *p, size_t len)
{
    last_used = (size_t)-1;
    return px_mp_check(p, len, lim, &last_used);
}

/* CHECK(lim, 0xcc, 0x05): runs the walker over the listed bytes. */
#define BYTES(...)      ((const uint8_t[]){__VA_ARGS__})
#define CHECK(lim, ...) check((lim), BYTES(__VA_ARGS__), sizeof(BYTES(__VA_ARGS__)))

/* Asserts the walker's result on bytes, and on success how many bytes it used. */
#define EXPECT(lim, rc, ...)                                                                   \
    do {                                                                                       \
        int got_ = CHECK(lim, __VA_ARGS__);                                                    \
        cr_assert_eq(got_, (rc), "line %d: got %s, want %s", __LINE__, px_err_name(got_),      \
                     px_err_name(rc));                                                         \
        if ((rc) == 0) {                                                                       \
            cr_assert_eq(last_used, sizeof(BYTES(__VA_ARGS__)), "line %d: used %zu", __LINE__, \
                         last_used);                                                           \
        }                                                                                      \
    } while (0)

/* Fills a malloc'd buffer with a header followed by n bytes of fill. */
static uint8_t *
with_body(const uint8_t *hdr, size_t hlen, size_t n, uint8_t fill, size_t *len)
{
    uint8_t *p = malloc(hlen + n + 1);

    cr_assert_not_null(p);
    memcpy(p, hdr, hlen);
    memset(p + hlen, fill, n);
    *len = hlen + n;
    return p;
}

/* ---- Accepted basics ---- */

Test(mp, accepts_scalars)
{
    EXPECT(&strict, 0, 0x00);
    EXPECT(&strict, 0, 0x7f);
    EXPECT(&strict, 0, 0xe0);
    EXPECT(&strict, 0, 0xff);
    EXPECT(&strict, 0, 0xc0);
    EXPECT(&strict, 0, 0xc2);
    EXPECT(&strict, 0, 0xc3);
    EXPECT(&strict, 0, 0xa0);
    EXPECT(&strict, 0, 0xa3, 'a', 'b', 'c');
    EXPECT(&strict, 0, 0xc4, 0x00);
    EXPECT(&strict, 0, 0xc4, 0x02, 0xff, 0xfe);
    EXPECT(&strict, 0, 0x90);
    EXPECT(&strict, 0, 0x80);
}

Test(mp, used_stops_at_the_object)
{
    cr_assert_eq(CHECK(&strict, 0x92, 0xa1, 'a', 0xc0, 0x01, 0x02), 0);
    cr_assert_eq(last_used, 4);
    cr_assert_eq(CHECK(&strict, 0x05, 0xc1), 0, "bytes after the object are not looked at");
    cr_assert_eq(last_used, 1);
}

Test(mp, empty_input_is_truncated)
{
    size_t used = 77;

    cr_assert_eq(px_mp_check((const uint8_t *)"", 0, &strict, &used), PX_ETRUNC);
    cr_assert_eq(used, 77, "used was set on failure");
}

/* ---- Canonical violations ---- */

Test(mp, noncanonical_unsigned)
{
    EXPECT(&strict, PX_ENONCANON, 0xcc, 0x05);       /* uint8 holding 5 */
    EXPECT(&strict, PX_ENONCANON, 0xcc, 0x7f);       /* uint8 holding 127 */
    EXPECT(&strict, 0, 0xcc, 0x80);                  /* 128 needs uint8 */
    EXPECT(&strict, PX_ENONCANON, 0xcd, 0x00, 0xc8); /* uint16 holding 200 */
    EXPECT(&strict, PX_ENONCANON, 0xcd, 0x00, 0xff);
    EXPECT(&strict, 0, 0xcd, 0x01, 0x00);
    EXPECT(&strict, PX_ENONCANON, 0xce, 0x00, 0x00, 0xff, 0xff);
    EXPECT(&strict, 0, 0xce, 0x00, 0x01, 0x00, 0x00);
    EXPECT(&strict, PX_ENONCANON, 0xcf, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff);
    EXPECT(&strict, 0, 0xcf, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00);
    /* Without the flag, the same bytes pass. */
    EXPECT(&loose, 0, 0xcc, 0x05);
    EXPECT(&loose, 0, 0xcd, 0x00, 0xc8);
    EXPECT(&loose, 0, 0xcf, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00);
}

Test(mp, noncanonical_signed)
{
    EXPECT(&strict, PX_ENONCANON, 0xd0, 0x05);                   /* int8 holding 5 */
    EXPECT(&strict, PX_ENONCANON, 0xd0, 0x00);                   /* int8 holding 0 */
    EXPECT(&strict, PX_ENONCANON, 0xd0, 0xe0);                   /* int8 holding -32: a fixint */
    EXPECT(&strict, PX_ENONCANON, 0xd0, 0xff);                   /* int8 holding -1 */
    EXPECT(&strict, 0, 0xd0, 0xdf);                              /* -33 */
    EXPECT(&strict, 0, 0xd0, 0x80);                              /* -128 */
    EXPECT(&strict, PX_ENONCANON, 0xd1, 0xff, 0x80);             /* int16 holding -128 */
    EXPECT(&strict, PX_ENONCANON, 0xd1, 0x00, 0x05);             /* int16 holding 5 */
    EXPECT(&strict, 0, 0xd1, 0xff, 0x7f);                        /* -129 */
    EXPECT(&strict, 0, 0xd1, 0x80, 0x00);                        /* -32768 */
    EXPECT(&strict, PX_ENONCANON, 0xd2, 0xff, 0xff, 0x80, 0x00); /* int32 holding -32768 */
    EXPECT(&strict, 0, 0xd2, 0xff, 0xff, 0x7f, 0xff);            /* -32769 */
    EXPECT(&strict, 0, 0xd2, 0x80, 0x00, 0x00, 0x00);            /* -2^31 */
    EXPECT(&strict, PX_ENONCANON, 0xd2, 0x7f, 0xff, 0xff, 0xff); /* int32 holding 2^31-1 */
    EXPECT(&strict, PX_ENONCANON, 0xd3, 0xff, 0xff, 0xff, 0xff, 0x80, 0x00, 0x00, 0x00);
    EXPECT(&strict, 0, 0xd3, 0xff, 0xff, 0xff, 0xff, 0x7f, 0xff, 0xff, 0xff); /* -2^31-1 */
    EXPECT(&strict, 0, 0xd3, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00); /* INT64_MIN */
    EXPECT(&strict, PX_ENONCANON, 0xd3, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff);
    EXPECT(&strict, PX_ENONCANON, 0xd3, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01);
    EXPECT(&loose, 0, 0xd0, 0x05);
    EXPECT(&loose, 0, 0xd3, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01);
}

Test(mp, noncanonical_str)
{
    /* str8 holding 10 bytes: fixstr would do. */
    EXPECT(&strict, PX_ENONCANON, 0xd9, 0x0a, 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j');
    EXPECT(&loose, 0, 0xd9, 0x0a, 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j');
    EXPECT(&strict, PX_ENONCANON, 0xd9, 0x00);
    EXPECT(&strict, PX_ENONCANON, 0xda, 0x00, 0x01, 'x');
    EXPECT(&strict, PX_ENONCANON, 0xdb, 0x00, 0x00, 0x00, 0x01, 'x');

    uint8_t *p;
    size_t len;

    /* str8 at 31 (fixstr's largest) is not canonical; at 32 it is. */
    p = with_body(BYTES(0xd9, 31), 2, 31, 'a', &len);
    cr_assert_eq(check(&strict, p, len), PX_ENONCANON);
    free(p);
    p = with_body(BYTES(0xd9, 32), 2, 32, 'a', &len);
    cr_assert_eq(check(&strict, p, len), 0);
    free(p);
    /* str16 at 255 is not canonical; at 256 it is. */
    p = with_body(BYTES(0xda, 0x00, 0xff), 3, 255, 'a', &len);
    cr_assert_eq(check(&strict, p, len), PX_ENONCANON);
    free(p);
    p = with_body(BYTES(0xda, 0x01, 0x00), 3, 256, 'a', &len);
    cr_assert_eq(check(&strict, p, len), 0);
    free(p);
    /* str32 at 65535 is not canonical; at 65536 it is. */
    p = with_body(BYTES(0xdb, 0x00, 0x00, 0xff, 0xff), 5, 65535, 'a', &len);
    cr_assert_eq(check(&strict, p, len), PX_ENONCANON);
    free(p);
    p = with_body(BYTES(0xdb, 0x00, 0x01, 0x00, 0x00), 5, 65536, 'a', &len);
    cr_assert_eq(check(&strict, p, len), 0);
    cr_assert_eq(last_used, len);
    free(p);
}

Test(mp, noncanonical_bin)
{
    uint8_t *p;
    size_t len;

    /* bin16 holding 10 bytes. */
    p = with_body(BYTES(0xc5, 0x00, 0x0a), 3, 10, 0xee, &len);
    cr_assert_eq(check(&strict, p, len), PX_ENONCANON);
    cr_assert_eq(check(&loose, p, len), 0);
    free(p);
    p = with_body(BYTES(0xc5, 0x00, 0xff), 3, 255, 0xee, &len);
    cr_assert_eq(check(&strict, p, len), PX_ENONCANON);
    free(p);
    p = with_body(BYTES(0xc5, 0x01, 0x00), 3, 256, 0xee, &len);
    cr_assert_eq(check(&strict, p, len), 0);
    free(p);
    p = with_body(BYTES(0xc6, 0x00, 0x00, 0xff, 0xff), 5, 65535, 0xee, &len);
    cr_assert_eq(check(&strict, p, len), PX_ENONCANON);
    free(p);
    p = with_body(BYTES(0xc6, 0x00, 0x01, 0x00, 0x00), 5, 65536, 0xee, &len);
    cr_assert_eq(check(&strict, p, len), 0);
    free(p);
    /* bin has no fix form: bin8 is canonical at every length, 0 included. */
    EXPECT(&strict, 0, 0xc4, 0x00);
    EXPECT(&strict, 0, 0xc4, 0x01, 0x00);
}

Test(mp, noncanonical_containers)
{
    /* array16 holding 3. */
    EXPECT(&strict, PX_ENONCANON, 0xdc, 0x00, 0x03, 0x01, 0x02, 0x03);
    EXPECT(&loose, 0, 0xdc, 0x00, 0x03, 0x01, 0x02, 0x03);
    EXPECT(&strict, PX_ENONCANON, 0xdc, 0x00, 0x00);
    EXPECT(&strict, PX_ENONCANON, 0xdc, 0x00, 0x0f, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14,
           15);
    EXPECT(&strict, 0, 0xdc, 0x00, 0x10, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16);
    /* map16 holding 1 and 0. */
    EXPECT(&strict, PX_ENONCANON, 0xde, 0x00, 0x01, 0xa1, 'a', 0x01);
    EXPECT(&loose, 0, 0xde, 0x00, 0x01, 0xa1, 'a', 0x01);
    EXPECT(&strict, PX_ENONCANON, 0xde, 0x00, 0x00);
    /* 32-bit forms below 65536. */
    EXPECT(&strict, PX_ENONCANON, 0xdd, 0x00, 0x00, 0xff, 0xff);
    EXPECT(&strict, PX_ENONCANON, 0xdd, 0x00, 0x00, 0x00, 0x01, 0x01);
    EXPECT(&strict, PX_ENONCANON, 0xdf, 0x00, 0x00, 0xff, 0xff);
    EXPECT(&strict, PX_ENONCANON, 0xdf, 0x00, 0x00, 0x00, 0x01, 0xa1, 'a', 0x01);
}

Test(mp, noncanonical_ext_without_no_ext)
{
    /* With the canonical flag but ext allowed: ext8 must not carry a fixext length. */
    static const struct px_mp_limits canon_only = {.max_depth = 8,
                                                   .max_size = 1024,
                                                   .max_str = 1024,
                                                   .max_count = 1024,
                                                   .flags = PX_MP_CANONICAL};

    EXPECT(&canon_only, PX_ENONCANON, 0xc7, 0x04, 0x01, 0xaa, 0xbb, 0xcc, 0xdd);
    EXPECT(&canon_only, PX_ENONCANON, 0xc7, 0x01, 0x01, 0xaa);
    EXPECT(&canon_only, 0, 0xc7, 0x03, 0x01, 0xaa, 0xbb, 0xcc);
    EXPECT(&canon_only, 0, 0xc7, 0x00, 0x01);
    EXPECT(&canon_only, PX_ENONCANON, 0xc8, 0x00, 0x03, 0x01, 0xaa, 0xbb, 0xcc);
    EXPECT(&canon_only, 0, 0xd6, 0x01, 0xaa, 0xbb, 0xcc, 0xdd);
}

/* ---- Floats, ext and the reserved byte ---- */

Test(mp, floats_rejected_by_profile_accepted_without_flags)
{
    EXPECT(&strict, PX_EFLOAT, 0xca, 0x3f, 0x80, 0x00, 0x00);
    EXPECT(&strict, PX_EFLOAT, 0xcb, 0x3f, 0xf0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00);
    EXPECT(&strict, PX_EFLOAT, 0x91, 0xca, 0x00, 0x00, 0x00, 0x00);
    EXPECT(&loose, 0, 0xca, 0x3f, 0x80, 0x00, 0x00);
    EXPECT(&loose, 0, 0xcb, 0x3f, 0xf0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00);
    EXPECT(&loose, 0, 0x92, 0xca, 0x00, 0x00, 0x00, 0x00, 0xc0);
    EXPECT(&loose, PX_ETRUNC, 0xca, 0x3f, 0x80, 0x00);
    EXPECT(&loose, PX_ETRUNC, 0xcb, 0x3f, 0xf0, 0x00, 0x00, 0x00, 0x00, 0x00);
}

Test(mp, ext_rejected_by_profile_accepted_without_flags)
{
    EXPECT(&strict, PX_EEXT, 0xd4, 0x01, 0x00);
    EXPECT(&strict, PX_EEXT, 0xd8, 0x01, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    EXPECT(&strict, PX_EEXT, 0xc7, 0x03, 0x01, 0xaa, 0xbb, 0xcc);
    EXPECT(&strict, PX_EEXT, 0xc8, 0x01, 0x00, 0x01);
    EXPECT(&strict, PX_EEXT, 0xc9, 0x00, 0x01, 0x00, 0x00, 0x01);
    EXPECT(&loose, 0, 0xd4, 0x01, 0x00);
    EXPECT(&loose, 0, 0xd5, 0x01, 0x00, 0x00);
    EXPECT(&loose, 0, 0xd6, 0x01, 0x00, 0x00, 0x00, 0x00);
    EXPECT(&loose, 0, 0xd7, 0x01, 0, 0, 0, 0, 0, 0, 0, 0);
    EXPECT(&loose, 0, 0xd8, 0x01, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    EXPECT(&loose, 0, 0xc7, 0x03, 0x01, 0xaa, 0xbb, 0xcc);
    EXPECT(&loose, 0, 0xc7, 0x00, 0x01);
    EXPECT(&loose, PX_ETRUNC, 0xc7, 0x03, 0x01, 0xaa, 0xbb);
    EXPECT(&loose, PX_ETRUNC, 0xd4, 0x01);
}

Test(mp, reserved_byte_c1)
{
    EXPECT(&strict, PX_ETYPE, 0xc1);
    EXPECT(&loose, PX_ETYPE, 0xc1);
    EXPECT(&loose, PX_ETYPE, 0x92, 0x01, 0xc1);
}

/* ---- Counts and lengths against the bytes left ---- */

Test(mp, container_count_larger_than_bytes_left)
{
    /* A 5-byte header asking for 4 billion elements. */
    EXPECT(&loose, PX_ECOUNT, 0xdd, 0xff, 0xff, 0xff, 0xff);
    EXPECT(&strict, PX_ECOUNT, 0xdd, 0xff, 0xff, 0xff, 0xff);
    EXPECT(&loose, PX_ECOUNT, 0xdf, 0xff, 0xff, 0xff, 0xff);
    EXPECT(&loose, PX_ECOUNT, 0xdc, 0xff, 0xff, 0x01);
    EXPECT(&loose, PX_ECOUNT, 0xde, 0x80, 0x00, 0x01);
    EXPECT(&loose, PX_ECOUNT, 0x93, 0x01, 0x02);
    /* Exactly as many bytes as elements is fine. */
    EXPECT(&loose, 0, 0x93, 0x01, 0x02, 0x03);
    /* A map counts keys and values: 2 pairs need at least 4 bytes. */
    EXPECT(&strict, PX_ECOUNT, 0x82, 0xa1, 'a', 0x01);
    EXPECT(&loose, PX_ECOUNT, 0x82, 0x01, 0x02, 0x03);
    /* 4 bytes for 4 items passes the count check, then the data runs out. */
    EXPECT(&strict, PX_ETRUNC, 0x82, 0xa1, 'a', 0x01, 0xa1);
    /* Nested: the inner count is checked against what is left, not against the total. */
    EXPECT(&loose, PX_ECOUNT, 0x92, 0x94, 0x01, 0x02, 0x03);
}

Test(mp, count_cap_checked_before_bytes_left)
{
    struct px_mp_limits lim = strict;

    lim.max_count = 100;
    EXPECT(&lim, PX_ETOOBIG, 0xdd, 0xff, 0xff, 0xff, 0xff);
    EXPECT(&lim, PX_ETOOBIG, 0xdf, 0xff, 0xff, 0xff, 0xff);
}

Test(mp, truncated_objects)
{
    EXPECT(&strict, PX_ETRUNC, 0xa3, 'a', 'b');
    EXPECT(&strict, PX_ETRUNC, 0xcd, 0x01);
    EXPECT(&strict, PX_ETRUNC, 0xcf, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00);
    EXPECT(&strict, PX_ETRUNC, 0xd9);
    EXPECT(&strict, PX_ETRUNC, 0xda, 0x01);
    EXPECT(&strict, PX_ETRUNC, 0xc4, 0x03, 0x00, 0x00);
    EXPECT(&strict, PX_ETRUNC, 0xdc, 0x00);
    EXPECT(&strict, PX_ETRUNC, 0x92, 0xa1, 'a');
    EXPECT(&strict, PX_ETRUNC, 0x91, 0xa2, 'a');
    /* A str32 claiming 4 GiB with a generous cap: the bytes are simply not there. */
    struct px_mp_limits lim = strict;
    lim.max_str = UINT32_MAX;
    EXPECT(&lim, PX_ETRUNC, 0xdb, 0xff, 0xff, 0xff, 0xff, 'a');
}

/* ---- Depth ---- */

Test(mp, nesting_depth)
{
    struct px_mp_limits lim = strict;

    lim.max_depth = 2;
    EXPECT(&lim, 0, 0x91, 0x91, 0x01);
    EXPECT(&lim, PX_EDEPTH, 0x91, 0x91, 0x91, 0x01);
    EXPECT(&lim, 0, 0x81, 0xa1, 'a', 0x81, 0xa1, 'b', 0x01);
    EXPECT(&lim, PX_EDEPTH, 0x81, 0xa1, 'a', 0x81, 0xa1, 'b', 0x91, 0x01);
    /* An empty container is a level too: fine at the limit, refused one past it. */
    EXPECT(&lim, 0, 0x91, 0x90);
    EXPECT(&lim, 0, 0x91, 0x80);
    EXPECT(&lim, PX_EDEPTH, 0x91, 0x91, 0x90);
    EXPECT(&lim, PX_EDEPTH, 0x91, 0x91, 0x80);
    EXPECT(&lim, PX_EDEPTH, 0x81, 0xa1, 'a', 0x91, 0x80);
    /* Siblings do not add up: depth is nesting, not count. */
    EXPECT(&lim, 0, 0x93, 0x91, 0x01, 0x91, 0x02, 0x90);

    lim.max_depth = 1;
    EXPECT(&lim, 0, 0x90);
    EXPECT(&lim, 0, 0x92, 0x01, 0x02);
    EXPECT(&lim, PX_EDEPTH, 0x91, 0x90);

    lim.max_depth = 0;
    EXPECT(&lim, 0, 0x01);
    EXPECT(&lim, PX_EDEPTH, 0x90);
    EXPECT(&lim, PX_EDEPTH, 0x91, 0x01);
}

Test(mp, depth_is_capped_by_the_hard_ceiling)
{
    uint8_t p[PX_MP_MAX_DEPTH + 2];
    struct px_mp_limits lim = strict;

    lim.max_depth = 1000; /* clamped to PX_MP_MAX_DEPTH */
    memset(p, 0x91, sizeof(p));
    /* PX_MP_MAX_DEPTH nested arrays around one integer are fine. */
    p[PX_MP_MAX_DEPTH] = 0x01;
    cr_assert_eq(check(&lim, p, PX_MP_MAX_DEPTH + 1), 0);
    cr_assert_eq(last_used, PX_MP_MAX_DEPTH + 1);
    /* One more level is not. */
    p[PX_MP_MAX_DEPTH] = 0x91;
    p[PX_MP_MAX_DEPTH + 1] = 0x01;
    cr_assert_eq(check(&lim, p, PX_MP_MAX_DEPTH + 2), PX_EDEPTH);
    /* Nor is an empty container one level past the ceiling. */
    p[PX_MP_MAX_DEPTH] = 0x90;
    cr_assert_eq(check(&lim, p, PX_MP_MAX_DEPTH + 1), PX_EDEPTH);
}

/* ---- Size caps ---- */

Test(mp, str_and_bin_over_max_str)
{
    struct px_mp_limits lim = strict;

    lim.max_str = 3;
    EXPECT(&lim, 0, 0xa3, 'a', 'b', 'c');
    EXPECT(&lim, PX_ETOOBIG, 0xa4, 'a', 'b', 'c', 'd');
    EXPECT(&lim, 0, 0xc4, 0x03, 1, 2, 3);
    EXPECT(&lim, PX_ETOOBIG, 0xc4, 0x04, 1, 2, 3, 4);
    /* The cap applies before the bytes are looked for. */
    EXPECT(&lim, PX_ETOOBIG, 0xdb, 0xff, 0xff, 0xff, 0xff);
    EXPECT(&lim, PX_ETOOBIG, 0xc6, 0xff, 0xff, 0xff, 0xff);
    /* Map keys are strings too. */
    EXPECT(&lim, PX_ETOOBIG, 0x81, 0xa4, 'a', 'b', 'c', 'd', 0x01);
}

Test(mp, count_over_max_count)
{
    struct px_mp_limits lim = strict;

    lim.max_count = 2;
    EXPECT(&lim, 0, 0x92, 0x01, 0x02);
    EXPECT(&lim, PX_ETOOBIG, 0x93, 0x01, 0x02, 0x03);
    /* A map's count is its number of pairs. */
    EXPECT(&lim, 0, 0x82, 0xa1, 'a', 0x01, 0xa1, 'b', 0x02);
    EXPECT(&lim, PX_ETOOBIG, 0x83, 0xa1, 'a', 0x01, 0xa1, 'b', 0x02, 0xa1, 'c', 0x03);
    EXPECT(&lim, PX_ETOOBIG, 0x91, 0x93, 0x01, 0x02, 0x03);
}

Test(mp, object_over_max_size_vs_truncated)
{
    struct px_mp_limits lim = strict;

    lim.max_size = 4;
    /* The input holds the whole 6-byte object, but it is longer than max_size. */
    EXPECT(&lim, PX_ETOOBIG, 0xa5, 'a', 'b', 'c', 'd', 'e');
    EXPECT(&lim, PX_ETOOBIG, 0x92, 0xa3, 'a', 'b', 'c', 0x01);
    /* An object of exactly max_size passes, and bytes past max_size are not its concern. */
    EXPECT(&lim, 0, 0xa3, 'a', 'b', 'c');
    cr_assert_eq(CHECK(&lim, 0xa3, 'a', 'b', 'c', 0xff, 0xff), 0);
    cr_assert_eq(last_used, 4);
    /* The input simply ends early, within max_size: truncated, not too big. */
    lim.max_size = 100;
    EXPECT(&lim, PX_ETRUNC, 0xa5, 'a', 'b', 'c');
    EXPECT(&lim, PX_ETRUNC, 0x92, 0xa1, 'a');
}

/* ---- UTF-8 ---- */

struct utf8_case {
    const char *s;
    size_t len;
    bool valid;
    const char *what;
};

#define U8(lit, ok, what)              \
    {                                  \
        lit, sizeof(lit) - 1, ok, what \
    }

static const struct utf8_case utf8_cases[] = {
    U8("", true, "empty"),
    U8("plain ascii", true, "ASCII"),
    U8("nul\0inside", true, "NUL is a valid code point"),
    U8("caf\xc3\xa9", true, "U+00E9"),
    U8("\xc2\x80", true, "U+0080, smallest two-byte"),
    U8("\xdf\xbf", true, "U+07FF"),
    U8("\xe0\xa0\x80", true, "U+0800, smallest three-byte"),
    U8("\xe2\x82\xac", true, "euro sign"),
    U8("\xed\x9f\xbf", true, "U+D7FF, below the surrogates"),
    U8("\xee\x80\x80", true, "U+E000, above the surrogates"),
    U8("\xef\xbf\xbf", true, "U+FFFF"),
    U8("\xf0\x90\x80\x80", true, "U+10000, smallest four-byte"),
    U8("\xf0\x9f\x98\x80", true, "emoji"),
    U8("\xf4\x8f\xbf\xbf", true, "U+10FFFF, the largest"),
    U8("\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e and \xd8\xb9\xd8\xb1\xd8\xa8\xd9\x8a", true,
       "CJK and Arabic"),
    U8("sixteen ascii ch\xc3\xa9rs then", true, "past the 8-byte fast path"),
    U8("\xc0\x80", false, "overlong NUL"),
    U8("\xc1\xbf", false, "overlong U+007F"),
    U8("\xe0\x80\x80", false, "overlong three-byte NUL"),
    U8("\xe0\x9f\xbf", false, "overlong U+07FF"),
    U8("\xf0\x80\x80\x80", false, "overlong four-byte NUL"),
    U8("\xf0\x8f\xbf\xbf", false, "overlong U+FFFF"),
    U8("\xed\xa0\x80", false, "surrogate U+D800"),
    U8("\xed\xbf\xbf", false, "surrogate U+DFFF"),
    U8("\xed\xa0\xbd\xed\xb8\x80", false, "CESU-8 surrogate pair"),
    U8("\xf4\x90\x80\x80", false, "U+110000"),
    U8("\xf5\x80\x80\x80", false, "lead byte F5"),
    U8("\xf7\xbf\xbf\xbf", false, "lead byte F7"),
    U8("\xf8\x88\x80\x80\x80", false, "five-byte form"),
    U8("\xfe", false, "FE"),
    U8("\xff", false, "FF"),
    U8("\x80", false, "lone continuation byte"),
    U8("a\xbf", false, "continuation after ASCII"),
    U8("\xc3", false, "two-byte sequence cut short"),
    U8("\xe2\x82", false, "three-byte sequence cut short"),
    U8("\xf0\x9f\x98", false, "four-byte sequence cut short"),
    U8("\xc3(", false, "bad continuation"),
    U8("\xe2\x28\xa1", false, "bad second byte of three"),
    U8("\xe2\x82\x28", false, "bad third byte of three"),
    U8("\xf0\x9f\x28\x80", false, "bad third byte of four"),
    U8("\xf0\x9f\x98\x28", false, "bad fourth byte of four"),
    U8("0123456789abcdef\xc3", false, "cut short after the fast path"),
    U8("0123456789abcdef\xed\xa0\x80xyz", false, "surrogate after the fast path"),
};

Test(mp, utf8_valid_table)
{
    for (size_t i = 0; i < sizeof(utf8_cases) / sizeof(utf8_cases[0]); i++) {
        const struct utf8_case *c = &utf8_cases[i];

        cr_assert_eq(px_utf8_valid((const uint8_t *)c->s, c->len), c->valid, "%s", c->what);
    }
}

Test(mp, walker_checks_utf8_of_str_only)
{
    for (size_t i = 0; i < sizeof(utf8_cases) / sizeof(utf8_cases[0]); i++) {
        const struct utf8_case *c = &utf8_cases[i];
        uint8_t buf[64];

        cr_assert_lt(c->len, 32);
        buf[0] = (uint8_t)(0xa0 | c->len);
        memcpy(buf + 1, c->s, c->len);
        cr_assert_eq(check(&strict, buf, c->len + 1), c->valid ? 0 : PX_EUTF8, "str: %s", c->what);
        cr_assert_eq(check(&loose, buf, c->len + 1), 0, "loose str: %s", c->what);
        /* The same bytes in a bin are not text. */
        buf[0] = 0xc4;
        buf[1] = (uint8_t)c->len;
        memcpy(buf + 2, c->s, c->len);
        cr_assert_eq(check(&strict, buf, c->len + 2), 0, "bin: %s", c->what);
    }
}

Test(mp, utf8_every_lead_byte)
{
    /* Every byte value as a lone one-byte string: only ASCII is valid. */
    for (unsigned b = 0; b < 256; b++) {
        uint8_t c = (uint8_t)b;

        cr_assert_eq(px_utf8_valid(&c, 1), b < 0x80, "byte %02x", b);
    }
}

Test(mp, utf8_long_valid_text)
{
    static const char piece[] = "Lessons learned \xe2\x80\x93 Nairobi, caf\xc3\xa9, "
                                "\xe6\x97\xa5\xe6\x9c\xac, \xf0\x9f\x8c\xa7 rain. ";
    size_t plen = sizeof(piece) - 1, n = 0;
    uint8_t *text = malloc(100 * plen);

    cr_assert_not_null(text);
    for (int i = 0; i < 100; i++) {
        memcpy(text + n, piece, plen);
        n += plen;
    }
    cr_assert(px_utf8_valid(text, n));
    /* Cutting the text inside the last multi-byte character makes it invalid. */
    cr_assert_not(px_utf8_valid(text, n - 8));
    free(text);
}

/* ---- Map keys ---- */

Test(mp, non_str_map_key)
{
    EXPECT(&strict, PX_ETYPE, 0x81, 0x01, 0x01);
    EXPECT(&strict, PX_ETYPE, 0x81, 0xc0, 0x01);
    EXPECT(&strict, PX_ETYPE, 0x81, 0xc4, 0x01, 'a', 0x01);
    EXPECT(&strict, PX_ETYPE, 0x81, 0x90, 0x01);
    EXPECT(&strict, PX_ETYPE, 0x82, 0xa1, 'a', 0x01, 0x02, 0x02);
    EXPECT(&loose, 0, 0x81, 0x01, 0x01);
    EXPECT(&loose, 0, 0x81, 0x90, 0x01);
    /* Values may be anything; only keys must be str. */
    EXPECT(&strict, 0, 0x81, 0xa1, 'a', 0x91, 0x01);
}

Test(mp, str8_key_accepted)
{
    uint8_t buf[40];

    buf[0] = 0x81;
    buf[1] = 0xd9;
    buf[2] = 32;
    memset(buf + 3, 'k', 32);
    buf[35] = 0xc0;
    cr_assert_eq(check(&strict, buf, 36), 0);
}

Test(mp, keys_sorted_unique)
{
    EXPECT(&strict, 0, 0x82, 0xa1, 'a', 0x01, 0xa1, 'b', 0x02);
    EXPECT(&strict, PX_EKEYORDER, 0x82, 0xa1, 'b', 0x01, 0xa1, 'a', 0x02);
    EXPECT(&strict, PX_EDUPKEY, 0x82, 0xa1, 'a', 0x01, 0xa1, 'a', 0x02);
    EXPECT(&strict, PX_EDUPKEY, 0x83, 0xa1, 'a', 0x01, 0xa1, 'b', 0x01, 0xa1, 'b', 0x02);
    EXPECT(&strict, PX_EKEYORDER, 0x83, 0xa1, 'a', 0x01, 0xa1, 'c', 0x01, 0xa1, 'b', 0x02);
    /* A prefix sorts first: "a" < "ab", and "" < "a". */
    EXPECT(&strict, 0, 0x82, 0xa1, 'a', 0x01, 0xa2, 'a', 'b', 0x02);
    EXPECT(&strict, PX_EKEYORDER, 0x82, 0xa2, 'a', 'b', 0x01, 0xa1, 'a', 0x02);
    EXPECT(&strict, 0, 0x82, 0xa0, 0x01, 0xa1, 'a', 0x02);
    EXPECT(&strict, PX_EKEYORDER, 0x82, 0xa1, 'a', 0x01, 0xa0, 0x02);
    EXPECT(&strict, PX_EDUPKEY, 0x82, 0xa0, 0x01, 0xa0, 0x02);
    /* Bytewise means unsigned: "z" (7a) < "\xc3\xa9" (c3 a9), and "Z" < "a". */
    EXPECT(&strict, 0, 0x82, 0xa1, 'z', 0x01, 0xa2, 0xc3, 0xa9, 0x02);
    EXPECT(&strict, PX_EKEYORDER, 0x82, 0xa2, 0xc3, 0xa9, 0x01, 0xa1, 'z', 0x02);
    EXPECT(&strict, 0, 0x82, 0xa1, 'Z', 0x01, 0xa1, 'a', 0x02);
    /* The same key in a fixstr and a str8 is still a duplicate (str8 is not canonical
     * here, so check without the canonical flag). */
    struct px_mp_limits lim = strict;
    lim.flags &= ~(unsigned)PX_MP_CANONICAL;
    EXPECT(&lim, PX_EDUPKEY, 0x82, 0xa1, 'a', 0x01, 0xd9, 0x01, 'a', 0x02);
    /* Without the flag, order and duplicates are not checked. */
    EXPECT(&loose, 0, 0x82, 0xa1, 'b', 0x01, 0xa1, 'a', 0x02);
    EXPECT(&loose, 0, 0x82, 0xa1, 'a', 0x01, 0xa1, 'a', 0x02);
}

Test(mp, key_order_is_per_map)
{
    /* {"b": {"a": 1, "b": 2}, "c": 3}: the inner keys do not count against the outer. */
    EXPECT(&strict, 0, 0x82, 0xa1, 'b', 0x82, 0xa1, 'a', 0x01, 0xa1, 'b', 0x02, 0xa1, 'c', 0x03);
    /* {"b": {"z": 1}, "a": 2}: after the inner map, the outer "a" follows "b". */
    EXPECT(&strict, PX_EKEYORDER, 0x82, 0xa1, 'b', 0x81, 0xa1, 'z', 0x01, 0xa1, 'a', 0x02);
    /* [{"b": 1}, {"a": 1}]: sibling maps each start afresh. */
    EXPECT(&strict, 0, 0x92, 0x81, 0xa1, 'b', 0x01, 0x81, 0xa1, 'a', 0x01);
    /* {"a": [{"b": 1}], "a": 1}: a duplicate after a nested value. */
    EXPECT(&strict, PX_EDUPKEY, 0x82, 0xa1, 'a', 0x91, 0x81, 0xa1, 'b', 0x01, 0xa1, 'a', 0x01);
    /* A str value equal to the previous key is not a key. */
    EXPECT(&strict, 0, 0x82, 0xa1, 'a', 0xa1, 'a', 0xa1, 'b', 0xa1, 'a');
}

/* ---- px_mp_check_exact ---- */

Test(mp, check_exact)
{
    cr_assert_eq(px_mp_check_exact(BYTES(0xa1, 'a'), 2, &strict), 0);
    cr_assert_eq(px_mp_check_exact(BYTES(0xa1, 'a', 0x00), 3, &strict), PX_ETRAILING);
    cr_assert_eq(px_mp_check_exact(BYTES(0x91, 0x01, 0x01), 3, &strict), PX_ETRAILING);
    cr_assert_eq(px_mp_check_exact(BYTES(0x92, 0xa1, 'a'), 3, &strict), PX_ETRUNC);
    cr_assert_eq(px_mp_check_exact(BYTES(0x92, 0x01), 2, &strict), PX_ECOUNT);
    cr_assert_eq(px_mp_check_exact(BYTES(0xcc, 0x01, 0x00), 3, &strict), PX_ENONCANON,
                 "the walker's error comes before the trailing check");
}

/* ---- Readers and writers: width boundaries ---- */

static const uint64_t uint_values[] = {
    0, 1, 127, 128, 255, 256, 65535, 65536, UINT32_MAX, UINT64_C(4294967296), UINT64_MAX};
static const size_t uint_sizes[] = {1, 1, 1, 2, 2, 3, 3, 5, 5, 9, 9};

Test(mp, uint_round_trip_every_width)
{
    for (size_t i = 0; i < sizeof(uint_values) / sizeof(uint_values[0]); i++) {
        uint8_t buf[16];
        struct px_wbuf w;
        struct px_rbuf r;
        uint64_t v = 12345;
        msgpack_sbuffer sb;
        msgpack_packer pk;

        px_wbuf_init(&w, buf, sizeof(buf));
        cr_assert_eq(px_mp_write_uint(&w, uint_values[i]), 0);
        cr_assert_eq(w.len, uint_sizes[i], "%llu: %zu bytes", (unsigned long long)uint_values[i],
                     w.len);

        /* msgpack-c picks the same shortest form. */
        msgpack_sbuffer_init(&sb);
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        msgpack_pack_uint64(&pk, uint_values[i]);
        cr_assert_eq(sb.size, w.len);
        cr_assert_arr_eq(sb.data, buf, w.len, "%llu differs from msgpack-c",
                         (unsigned long long)uint_values[i]);
        msgpack_sbuffer_destroy(&sb);

        cr_assert_eq(check(&strict, buf, w.len), 0);
        cr_assert_eq(last_used, w.len);
        px_rbuf_init(&r, buf, w.len);
        cr_assert_eq(px_mp_read_uint(&r, &v), 0);
        cr_assert_eq(v, uint_values[i]);
        cr_assert_eq(px_rbuf_end(&r), 0);

        /* One byte short: the writer refuses, the reader reports truncation. */
        px_wbuf_init(&w, buf, uint_sizes[i] - 1);
        cr_assert_eq(px_mp_write_uint(&w, uint_values[i]), PX_ETOOBIG);
        px_rbuf_init(&r, buf, uint_sizes[i] - 1);
        cr_assert_eq(px_mp_read_uint(&r, &v), PX_ETRUNC);
    }
}

Test(mp, read_uint_rejects_non_shortest)
{
    static const struct {
        uint8_t b[9];
        size_t n;
    } bad[] = {
        {{0xcc, 0x00}, 2},
        {{0xcc, 0x7f}, 2},
        {{0xcd, 0x00, 0x80}, 3},
        {{0xcd, 0x00, 0xff}, 3},
        {{0xce, 0x00, 0x00, 0x01, 0x00}, 5},
        {{0xce, 0x00, 0x00, 0xff, 0xff}, 5},
        {{0xcf, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00}, 9},
        {{0xcf, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff}, 9},
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct px_rbuf r;
        uint64_t v;

        px_rbuf_init(&r, bad[i].b, bad[i].n);
        cr_assert_eq(px_mp_read_uint(&r, &v), PX_ENONCANON, "case %zu", i);
    }
}

Test(mp, read_uint_rejects_other_types)
{
    static const uint8_t bad[] = {0xc0, 0xc2, 0xc3, 0xe0, 0xff, 0xd0, 0xa0, 0x90, 0xca, 0xc1};

    for (size_t i = 0; i < sizeof(bad); i++) {
        struct px_rbuf r;
        uint8_t buf[9] = {bad[i]};
        uint64_t v;

        px_rbuf_init(&r, buf, sizeof(buf));
        cr_assert_eq(px_mp_read_uint(&r, &v), PX_ETYPE, "byte %02x", bad[i]);
    }
}

static const size_t str_lengths[] = {0, 1, 31, 32, 255, 256, 65535, 65536};

/* The expected header of a str or bin of length n. */
static size_t
expected_header(bool bin, size_t n, uint8_t *h)
{
    if (!bin && n <= 31) {
        h[0] = (uint8_t)(0xa0 | n);
        return 1;
    }
    if (n <= 255) {
        h[0] = bin ? 0xc4 : 0xd9;
        h[1] = (uint8_t)n;
        return 2;
    }
    if (n <= 65535) {
        h[0] = bin ? 0xc5 : 0xda;
        h[1] = (uint8_t)(n >> 8);
        h[2] = (uint8_t)n;
        return 3;
    }
    h[0] = bin ? 0xc6 : 0xdb;
    px_store_be32(h + 1, (uint32_t)n);
    return 5;
}

Test(mp, str_round_trip_every_width)
{
    size_t max = 65536;
    char *text = malloc(max);
    uint8_t *buf = malloc(max + 8);

    cr_assert_not_null(text);
    cr_assert_not_null(buf);
    for (size_t i = 0; i < max; i++) {
        text[i] = (char)('a' + i % 26);
    }
    for (size_t i = 0; i < sizeof(str_lengths) / sizeof(str_lengths[0]); i++) {
        size_t n = str_lengths[i];
        uint8_t h[5];
        size_t hl = expected_header(false, n, h);
        struct px_wbuf w;
        struct px_rbuf r;
        const char *s = NULL;
        uint32_t len = 0;
        msgpack_sbuffer sb;
        msgpack_packer pk;

        px_wbuf_init(&w, buf, max + 8);
        cr_assert_eq(px_mp_write_str(&w, text, n), 0);
        cr_assert_eq(w.len, hl + n, "str %zu", n);
        cr_assert_arr_eq(buf, h, hl, "str %zu header", n);

        msgpack_sbuffer_init(&sb);
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        msgpack_pack_str_with_body(&pk, text, n);
        cr_assert_eq(sb.size, w.len);
        cr_assert_arr_eq(sb.data, buf, w.len, "str %zu differs from msgpack-c", n);
        msgpack_sbuffer_destroy(&sb);

        cr_assert_eq(check(&strict, buf, w.len), 0, "str %zu", n);
        px_rbuf_init(&r, buf, w.len);
        cr_assert_eq(px_mp_read_str(&r, &s, &len), 0);
        cr_assert_eq(len, n);
        cr_assert_eq(s, (const char *)buf + hl, "the string borrows the input");
        cr_assert_eq(px_rbuf_end(&r), 0);

        /* The header fits but the body does not. */
        px_wbuf_init(&w, buf, hl + n - (n > 0));
        cr_assert_eq(px_mp_write_str(&w, text, n), n > 0 ? PX_ETOOBIG : 0);
        /* The body is one byte short. */
        if (n > 0) {
            px_rbuf_init(&r, buf, hl + n - 1);
            cr_assert_eq(px_mp_read_str(&r, &s, &len), PX_ETRUNC);
        }
    }
    free(text);
    free(buf);
}

Test(mp, bin_round_trip_every_width)
{
    static const size_t lens[] = {0, 1, 31, 32, 255, 256, 65535, 65536};
    size_t max = 65536;
    uint8_t *data = malloc(max);
    uint8_t *buf = malloc(max + 8);

    cr_assert_not_null(data);
    cr_assert_not_null(buf);
    for (size_t i = 0; i < max; i++) {
        data[i] = (uint8_t)(i * 7);
    }
    for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
        size_t n = lens[i];
        uint8_t h[5];
        size_t hl = expected_header(true, n, h);
        struct px_wbuf w;
        struct px_rbuf r;
        const uint8_t *b = NULL;
        uint32_t len = 0;
        msgpack_sbuffer sb;
        msgpack_packer pk;

        px_wbuf_init(&w, buf, max + 8);
        cr_assert_eq(px_mp_write_bin(&w, data, n), 0);
        cr_assert_eq(w.len, hl + n, "bin %zu", n);
        cr_assert_arr_eq(buf, h, hl, "bin %zu header", n);

        msgpack_sbuffer_init(&sb);
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        msgpack_pack_bin_with_body(&pk, data, n);
        cr_assert_eq(sb.size, w.len);
        cr_assert_arr_eq(sb.data, buf, w.len, "bin %zu differs from msgpack-c", n);
        msgpack_sbuffer_destroy(&sb);

        cr_assert_eq(check(&strict, buf, w.len), 0, "bin %zu", n);
        px_rbuf_init(&r, buf, w.len);
        cr_assert_eq(px_mp_read_bin(&r, &b, &len), 0);
        cr_assert_eq(len, n);
        cr_assert_eq(b, buf + hl);
        cr_assert_eq(px_rbuf_end(&r), 0);
    }
    free(data);
    free(buf);
}

Test(mp, read_str_and_bin_reject_non_shortest)
{
    /* Readers check the length form before looking for the body. */
    static const struct {
        uint8_t b[5];
        size_t n;
        bool bin;
    } bad[] = {
        {{0xd9, 0x00}, 2, false},
        {{0xd9, 0x1f}, 2, false},
        {{0xda, 0x00, 0x20}, 3, false},
        {{0xda, 0x00, 0xff}, 3, false},
        {{0xdb, 0x00, 0x00, 0xff, 0xff}, 5, false},
        {{0xdb, 0x00, 0x00, 0x00, 0x00}, 5, false},
        {{0xc5, 0x00, 0x00}, 3, true},
        {{0xc5, 0x00, 0xff}, 3, true},
        {{0xc6, 0x00, 0x00, 0xff, 0xff}, 5, true},
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct px_rbuf r;
        const char *s;
        const uint8_t *b;
        uint32_t len;
        int rc;

        px_rbuf_init(&r, bad[i].b, bad[i].n);
        rc = bad[i].bin ? px_mp_read_bin(&r, &b, &len) : px_mp_read_str(&r, &s, &len);
        cr_assert_eq(rc, PX_ENONCANON, "case %zu: %s", i, px_err_name(rc));
    }
}

Test(mp, read_str_bin_type_mismatch)
{
    struct px_rbuf r;
    const char *s;
    const uint8_t *b;
    uint32_t len;

    px_rbuf_init(&r, BYTES(0xc4, 0x01, 'a'), 3);
    cr_assert_eq(px_mp_read_str(&r, &s, &len), PX_ETYPE, "bin read as str");
    px_rbuf_init(&r, BYTES(0xa1, 'a'), 2);
    cr_assert_eq(px_mp_read_bin(&r, &b, &len), PX_ETYPE, "str read as bin");
    px_rbuf_init(&r, BYTES(0x01), 1);
    cr_assert_eq(px_mp_read_str(&r, &s, &len), PX_ETYPE);
    px_rbuf_init(&r, BYTES(0xc0), 1);
    cr_assert_eq(px_mp_read_bin(&r, &b, &len), PX_ETYPE);
    px_rbuf_init(&r, NULL, 0);
    cr_assert_eq(px_mp_read_str(&r, &s, &len), PX_ETRUNC);
}

Test(mp, container_headers_every_width)
{
    static const uint32_t counts[] = {0, 15, 16, 65535, 65536, UINT32_MAX};
    static const size_t sizes[] = {1, 1, 3, 3, 5, 5};

    for (int map = 0; map < 2; map++) {
        for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
            uint8_t buf[8], want[8];
            struct px_wbuf w;
            struct px_rbuf r;
            uint32_t n = 12345;
            msgpack_sbuffer sb;
            msgpack_packer pk;

            px_wbuf_init(&w, buf, sizeof(buf));
            cr_assert_eq(map ? px_mp_write_map(&w, counts[i]) : px_mp_write_array(&w, counts[i]),
                         0);
            cr_assert_eq(w.len, sizes[i], "%s %u", map ? "map" : "array", counts[i]);
            if (sizes[i] == 1) {
                want[0] = (uint8_t)((map ? 0x80 : 0x90) | counts[i]);
            } else if (sizes[i] == 3) {
                want[0] = map ? 0xde : 0xdc;
                want[1] = (uint8_t)(counts[i] >> 8);
                want[2] = (uint8_t)counts[i];
            } else {
                want[0] = map ? 0xdf : 0xdd;
                px_store_be32(want + 1, counts[i]);
            }
            cr_assert_arr_eq(buf, want, sizes[i]);

            msgpack_sbuffer_init(&sb);
            msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
            if (map) {
                msgpack_pack_map(&pk, counts[i]);
            } else {
                msgpack_pack_array(&pk, counts[i]);
            }
            cr_assert_eq(sb.size, w.len);
            cr_assert_arr_eq(sb.data, buf, w.len, "differs from msgpack-c");
            msgpack_sbuffer_destroy(&sb);

            px_rbuf_init(&r, buf, w.len);
            cr_assert_eq(map ? px_mp_read_map(&r, &n) : px_mp_read_array(&r, &n), 0);
            cr_assert_eq(n, counts[i]);
            cr_assert_eq(px_rbuf_end(&r), 0);
            /* The other container type is refused. */
            px_rbuf_init(&r, buf, w.len);
            cr_assert_eq(map ? px_mp_read_array(&r, &n) : px_mp_read_map(&r, &n), PX_ETYPE);
            /* A header cut short. */
            if (w.len > 1) {
                px_rbuf_init(&r, buf, w.len - 1);
                cr_assert_eq(map ? px_mp_read_map(&r, &n) : px_mp_read_array(&r, &n), PX_ETRUNC);
            }
        }
    }
}

Test(mp, read_containers_reject_non_shortest)
{
    static const struct {
        uint8_t b[5];
        size_t n;
        bool map;
    } bad[] = {
        {{0xdc, 0x00, 0x00}, 3, false},
        {{0xdc, 0x00, 0x0f}, 3, false},
        {{0xdd, 0x00, 0x00, 0x00, 0x03}, 5, false},
        {{0xdd, 0x00, 0x00, 0xff, 0xff}, 5, false},
        {{0xde, 0x00, 0x0f}, 3, true},
        {{0xdf, 0x00, 0x00, 0xff, 0xff}, 5, true},
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct px_rbuf r;
        uint32_t n;

        px_rbuf_init(&r, bad[i].b, bad[i].n);
        cr_assert_eq(bad[i].map ? px_mp_read_map(&r, &n) : px_mp_read_array(&r, &n), PX_ENONCANON,
                     "case %zu", i);
    }
}

Test(mp, bool_nil_and_bin_exact)
{
    uint8_t buf[40], out[4];
    struct px_wbuf w;
    struct px_rbuf r;
    bool v;

    px_wbuf_init(&w, buf, sizeof(buf));
    cr_assert_eq(px_mp_write_bool(&w, true), 0);
    cr_assert_eq(px_mp_write_bool(&w, false), 0);
    cr_assert_eq(px_mp_write_nil(&w), 0);
    cr_assert_eq(px_mp_write_bin(&w, (const uint8_t *)"wxyz", 4), 0);
    cr_assert_eq(px_mp_write_bin(&w, (const uint8_t *)"wxyz", 3), 0);
    cr_assert_arr_eq(buf, BYTES(0xc3, 0xc2, 0xc0, 0xc4, 4, 'w', 'x', 'y', 'z'), 9);
    px_rbuf_init(&r, buf, w.len);
    cr_assert_eq(px_mp_read_bool(&r, &v), 0);
    cr_assert(v);
    cr_assert_eq(px_mp_read_bool(&r, &v), 0);
    cr_assert_not(v);
    cr_assert_eq(px_mp_read_bool(&r, &v), PX_ETYPE, "nil is not a bool");
    r.off = 3; /* the position after an error is unspecified */
    cr_assert_eq(px_mp_read_bin_exact(&r, out, 4), 0);
    cr_assert_arr_eq(out, "wxyz", 4);
    cr_assert_eq(px_mp_read_bin_exact(&r, out, 4), PX_EVALUE, "3 bytes where 4 are needed");
    px_rbuf_init(&r, NULL, 0);
    cr_assert_eq(px_mp_read_bool(&r, &v), PX_ETRUNC);

    px_wbuf_init(&w, buf, 0);
    cr_assert_eq(px_mp_write_bool(&w, true), PX_ETOOBIG);
    cr_assert_eq(px_mp_write_nil(&w), PX_ETOOBIG);
}

Test(mp, writers_refuse_lengths_over_32_bits)
{
    uint8_t buf[16];
    struct px_wbuf w;

    if (sizeof(size_t) <= 4) {
        cr_skip_test("size_t cannot hold a length over 32 bits here");
    }
    /* The header is refused before the (too short) source is read. */
    px_wbuf_init(&w, buf, sizeof(buf));
    cr_assert_eq(px_mp_write_str(&w, "x", (size_t)UINT32_MAX + 1), PX_ETOOBIG);
    cr_assert_eq(px_mp_write_bin(&w, (const uint8_t *)"x", (size_t)UINT32_MAX + 1), PX_ETOOBIG);
    cr_assert_eq(w.len, 0);
}

Test(mp, writers_in_compare_mode)
{
    uint8_t buf[16];
    struct px_wbuf w;

    px_wbuf_init(&w, buf, sizeof(buf));
    cr_assert_eq(px_mp_write_array(&w, 2), 0);
    cr_assert_eq(px_mp_write_uint(&w, 300), 0);
    cr_assert_eq(px_mp_write_str(&w, "hi", 2), 0);

    struct px_wbuf c;
    px_wbuf_init_compare(&c, buf, w.len);
    cr_assert_eq(px_mp_write_array(&c, 2), 0);
    cr_assert_eq(px_mp_write_uint(&c, 300), 0);
    cr_assert_eq(px_mp_write_str(&c, "hi", 2), 0);
    cr_assert_eq(c.len, w.len);

    px_wbuf_init_compare(&c, buf, w.len);
    cr_assert_eq(px_mp_write_array(&c, 2), 0);
    cr_assert_eq(px_mp_write_uint(&c, 301), PX_ENONCANON);
}

/* ---- Cross-checks with msgpack-c ---- */

Test(mp, signed_boundaries_from_msgpack_c_pass_strict)
{
    static const int64_t values[] = {-1,     -32,    -33,         -128,        -129,
                                     -32768, -32769, -2147483648, -2147483649, INT64_MIN,
                                     0,      127,    128,         70000};

    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
        msgpack_sbuffer sb;
        msgpack_packer pk;

        msgpack_sbuffer_init(&sb);
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        msgpack_pack_int64(&pk, values[i]);
        cr_assert_eq(check(&strict, (const uint8_t *)sb.data, sb.size), 0, "%lld",
                     (long long)values[i]);
        cr_assert_eq(last_used, sb.size);
        msgpack_sbuffer_destroy(&sb);
    }
}

Test(mp, msgpack_c_float_and_ext_are_refused)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;

    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_double(&pk, 1.5);
    cr_assert_eq(check(&strict, (const uint8_t *)sb.data, sb.size), PX_EFLOAT);
    cr_assert_eq(check(&loose, (const uint8_t *)sb.data, sb.size), 0);
    msgpack_sbuffer_clear(&sb);
    msgpack_pack_float(&pk, 1.5f);
    cr_assert_eq(check(&strict, (const uint8_t *)sb.data, sb.size), PX_EFLOAT);
    msgpack_sbuffer_clear(&sb);
    msgpack_pack_ext_with_body(&pk, "abc", 3, 5);
    cr_assert_eq(check(&strict, (const uint8_t *)sb.data, sb.size), PX_EEXT);
    cr_assert_eq(check(&loose, (const uint8_t *)sb.data, sb.size), 0);
    cr_assert_eq(last_used, sb.size);
    msgpack_sbuffer_destroy(&sb);
}

Test(mp, nested_document_agrees_with_msgpack_c)
{
    /* Written with our writers, unpacked by msgpack-c after the walker accepted it. */
    uint8_t buf[256];
    struct px_wbuf w;
    msgpack_unpacked u;
    size_t off = 0;

    px_wbuf_init(&w, buf, sizeof(buf));
    cr_assert_eq(px_mp_write_map(&w, 3), 0);
    cr_assert_eq(px_mp_write_str(&w, "id", 2), 0);
    cr_assert_eq(px_mp_write_bin(&w, (const uint8_t *)"\x01\x02\x03", 3), 0);
    cr_assert_eq(px_mp_write_str(&w, "list", 4), 0);
    cr_assert_eq(px_mp_write_array(&w, 3), 0);
    cr_assert_eq(px_mp_write_uint(&w, 65536), 0);
    cr_assert_eq(px_mp_write_bool(&w, true), 0);
    cr_assert_eq(px_mp_write_nil(&w), 0);
    cr_assert_eq(px_mp_write_str(&w, "name", 4), 0);
    cr_assert_eq(px_mp_write_str(&w, "caf\xc3\xa9", 5), 0);
    cr_assert_eq(px_mp_check_exact(buf, w.len, &strict), 0);

    msgpack_unpacked_init(&u);
    cr_assert_eq(msgpack_unpack_next(&u, (const char *)buf, w.len, &off), MSGPACK_UNPACK_SUCCESS);
    cr_assert_eq(off, w.len);
    cr_assert_eq(u.data.type, MSGPACK_OBJECT_MAP);
    cr_assert_eq(u.data.via.map.size, 3);
    cr_assert_eq(u.data.via.map.ptr[0].val.type, MSGPACK_OBJECT_BIN);
    cr_assert_eq(u.data.via.map.ptr[0].val.via.bin.size, 3);
    cr_assert_eq(u.data.via.map.ptr[1].val.type, MSGPACK_OBJECT_ARRAY);
    cr_assert_eq(u.data.via.map.ptr[1].val.via.array.ptr[0].via.u64, 65536);
    cr_assert_eq(u.data.via.map.ptr[1].val.via.array.ptr[1].type, MSGPACK_OBJECT_BOOLEAN);
    cr_assert_eq(u.data.via.map.ptr[1].val.via.array.ptr[2].type, MSGPACK_OBJECT_NIL);
    cr_assert_eq(u.data.via.map.ptr[2].val.type, MSGPACK_OBJECT_STR);
    cr_assert_eq(u.data.via.map.ptr[2].val.via.str.size, 5);
    msgpack_unpacked_destroy(&u);
}
