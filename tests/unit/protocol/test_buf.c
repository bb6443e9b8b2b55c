/* SPDX-License-Identifier: MIT */
/* test_buf.c - bounded read and write cursors, compare mode and hex. */
#include <string.h>

#include <criterion/criterion.h>

#include "protocol/buf.h"
#include "protocol/err.h"

static const uint8_t bytes[9] = {0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0xff};

/* ---- Readers ---- */

Test(buf, init_and_left)
{
    struct px_rbuf r;

    px_rbuf_init(&r, bytes, sizeof(bytes));
    cr_assert_eq(r.p, bytes);
    cr_assert_eq(r.len, 9);
    cr_assert_eq(r.off, 0);
    cr_assert_eq(px_rbuf_left(&r), 9);
    px_rbuf_init(&r, NULL, 0);
    cr_assert_eq(px_rbuf_left(&r), 0);
    cr_assert_eq(px_rbuf_end(&r), 0);
}

Test(buf, u8_exact_and_short)
{
    struct px_rbuf r;
    uint8_t v = 0x55;

    px_rbuf_init(&r, bytes, 1);
    cr_assert_eq(px_rbuf_u8(&r, &v), 0);
    cr_assert_eq(v, 0x01);
    cr_assert_eq(r.off, 1);
    cr_assert_eq(px_rbuf_end(&r), 0);
    v = 0x55;
    cr_assert_eq(px_rbuf_u8(&r, &v), PX_ETRUNC);
    cr_assert_eq(r.off, 1, "the cursor moved on a failed read");
    cr_assert_eq(v, 0x55, "a failed read wrote its output");

    px_rbuf_init(&r, bytes, 0);
    cr_assert_eq(px_rbuf_u8(&r, &v), PX_ETRUNC);
    cr_assert_eq(r.off, 0);
}

Test(buf, be16_exact_and_short)
{
    struct px_rbuf r;
    uint16_t v = 0x5555;

    px_rbuf_init(&r, bytes, 2);
    cr_assert_eq(px_rbuf_be16(&r, &v), 0);
    cr_assert_eq(v, 0x0123);
    cr_assert_eq(r.off, 2);
    cr_assert_eq(px_rbuf_end(&r), 0);

    px_rbuf_init(&r, bytes, 1);
    v = 0x5555;
    cr_assert_eq(px_rbuf_be16(&r, &v), PX_ETRUNC);
    cr_assert_eq(r.off, 0);
    cr_assert_eq(v, 0x5555);
}

Test(buf, be32_exact_and_short)
{
    struct px_rbuf r;
    uint32_t v = 0x55555555;

    px_rbuf_init(&r, bytes, 4);
    cr_assert_eq(px_rbuf_be32(&r, &v), 0);
    cr_assert_eq(v, 0x01234567u);
    cr_assert_eq(r.off, 4);
    cr_assert_eq(px_rbuf_end(&r), 0);

    px_rbuf_init(&r, bytes, 3);
    v = 0x55555555;
    cr_assert_eq(px_rbuf_be32(&r, &v), PX_ETRUNC);
    cr_assert_eq(r.off, 0);
    cr_assert_eq(v, 0x55555555u);
}

Test(buf, be64_exact_and_short)
{
    struct px_rbuf r;
    uint64_t v = 0x5555;

    px_rbuf_init(&r, bytes, 8);
    cr_assert_eq(px_rbuf_be64(&r, &v), 0);
    cr_assert_eq(v, UINT64_C(0x0123456789abcdef));
    cr_assert_eq(r.off, 8);
    cr_assert_eq(px_rbuf_end(&r), 0);

    px_rbuf_init(&r, bytes, 7);
    v = 0x5555;
    cr_assert_eq(px_rbuf_be64(&r, &v), PX_ETRUNC);
    cr_assert_eq(r.off, 0);
    cr_assert_eq(v, 0x5555);
}

Test(buf, be64_high_bit)
{
    static const uint8_t ff[8] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe};
    struct px_rbuf r;
    uint64_t v;

    px_rbuf_init(&r, ff, sizeof(ff));
    cr_assert_eq(px_rbuf_be64(&r, &v), 0);
    cr_assert_eq(v, UINT64_MAX - 1);
}

Test(buf, short_read_after_partial_progress)
{
    struct px_rbuf r;
    uint32_t v32;
    uint16_t v16;

    /* 9 bytes: 8 are read, then a be16 wants 2 and only 1 is left. */
    px_rbuf_init(&r, bytes, sizeof(bytes));
    cr_assert_eq(px_rbuf_be32(&r, &v32), 0);
    cr_assert_eq(px_rbuf_be32(&r, &v32), 0);
    cr_assert_eq(v32, 0x89abcdefu);
    cr_assert_eq(px_rbuf_left(&r), 1);
    cr_assert_eq(px_rbuf_end(&r), PX_ETRAILING);
    cr_assert_eq(px_rbuf_be16(&r, &v16), PX_ETRUNC);
    cr_assert_eq(r.off, 8);
    cr_assert_eq(px_rbuf_be32(&r, &v32), PX_ETRUNC);
    cr_assert_eq(r.off, 8);
}

Test(buf, take_exact_and_short)
{
    struct px_rbuf r;
    const uint8_t *out = NULL;

    px_rbuf_init(&r, bytes, sizeof(bytes));
    cr_assert_eq(px_rbuf_take(&r, 0, &out), 0);
    cr_assert_eq(out, bytes);
    cr_assert_eq(r.off, 0);
    cr_assert_eq(px_rbuf_take(&r, 3, &out), 0);
    cr_assert_eq(out, bytes);
    cr_assert_eq(px_rbuf_take(&r, 6, &out), 0);
    cr_assert_eq(out, bytes + 3, "take borrows the reader's memory");
    cr_assert_eq(px_rbuf_end(&r), 0);

    px_rbuf_init(&r, bytes, sizeof(bytes));
    out = NULL;
    cr_assert_eq(px_rbuf_take(&r, 10, &out), PX_ETRUNC);
    cr_assert_eq(r.off, 0);
    cr_assert_null(out);
    /* A huge n must not wrap around the pointer arithmetic. */
    cr_assert_eq(px_rbuf_take(&r, SIZE_MAX, &out), PX_ETRUNC);
    cr_assert_eq(px_rbuf_take(&r, SIZE_MAX - 1, &out), PX_ETRUNC);
    cr_assert_eq(r.off, 0);
    cr_assert_eq(px_rbuf_take(&r, 5, &out), 0);
    cr_assert_eq(px_rbuf_take(&r, SIZE_MAX - 2, &out), PX_ETRUNC);
    cr_assert_eq(r.off, 5);
}

Test(buf, copy_exact_and_short)
{
    struct px_rbuf r;
    uint8_t dst[9];

    memset(dst, 0xaa, sizeof(dst));
    px_rbuf_init(&r, bytes, sizeof(bytes));
    cr_assert_eq(px_rbuf_copy(&r, dst, 9), 0);
    cr_assert_arr_eq(dst, bytes, 9);
    cr_assert_eq(px_rbuf_end(&r), 0);
    cr_assert_eq(px_rbuf_copy(&r, dst, 0), 0, "a zero-length copy at the end is fine");

    memset(dst, 0xaa, sizeof(dst));
    px_rbuf_init(&r, bytes, 8);
    cr_assert_eq(px_rbuf_copy(&r, dst, 9), PX_ETRUNC);
    cr_assert_eq(r.off, 0);
    for (size_t i = 0; i < sizeof(dst); i++) {
        cr_assert_eq(dst[i], 0xaa, "a failed copy wrote byte %zu", i);
    }
}

Test(buf, end_reports_trailing)
{
    struct px_rbuf r;
    uint8_t v;

    px_rbuf_init(&r, bytes, 2);
    cr_assert_eq(px_rbuf_end(&r), PX_ETRAILING);
    cr_assert_eq(px_rbuf_u8(&r, &v), 0);
    cr_assert_eq(px_rbuf_end(&r), PX_ETRAILING);
    cr_assert_eq(px_rbuf_u8(&r, &v), 0);
    cr_assert_eq(px_rbuf_end(&r), 0);
}

/* ---- Writers ---- */

Test(buf, writers_store_big_endian)
{
    static const uint8_t want[] = {0x7f, 0x12, 0x34, 0xde, 0xad, 0xbe, 0xef, 0x01, 0x02,
                                   0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 'x',  'y'};
    uint8_t out[sizeof(want)];
    struct px_wbuf w;

    px_wbuf_init(&w, out, sizeof(out));
    cr_assert_eq(w.len, 0);
    cr_assert_eq(px_wbuf_u8(&w, 0x7f), 0);
    cr_assert_eq(px_wbuf_be16(&w, 0x1234), 0);
    cr_assert_eq(px_wbuf_be32(&w, 0xdeadbeefu), 0);
    cr_assert_eq(px_wbuf_be64(&w, UINT64_C(0x0102030405060708)), 0);
    cr_assert_eq(px_wbuf_put(&w, "xy", 2), 0);
    cr_assert_eq(px_wbuf_put(&w, "", 0), 0);
    cr_assert_eq(w.len, sizeof(want));
    cr_assert_arr_eq(out, want, sizeof(want));
}

/* Writes one value of n bytes with the matching writer. */
static int
write_width(struct px_wbuf *w, size_t n)
{
    switch (n) {
    case 1:
        return px_wbuf_u8(w, 0x11);
    case 2:
        return px_wbuf_be16(w, 0x1111);
    case 4:
        return px_wbuf_be32(w, 0x11111111u);
    default:
        return px_wbuf_be64(w, UINT64_C(0x1111111111111111));
    }
}

Test(buf, writer_overflow_each_width)
{
    static const size_t widths[] = {1, 2, 4, 8};
    uint8_t out[16];
    struct px_wbuf w;

    /* Each writer at exactly the room it needs succeeds; with one byte less it fails. */
    for (size_t i = 0; i < 4; i++) {
        size_t n = widths[i];

        memset(out, 0xaa, sizeof(out));
        px_wbuf_init(&w, out, n);
        cr_assert_eq(write_width(&w, n), 0, "width %zu at exact capacity", n);
        cr_assert_eq(w.len, n);
        cr_assert_eq(out[0], 0x11);
        cr_assert_eq(out[n], 0xaa, "wrote past its capacity");

        memset(out, 0xaa, sizeof(out));
        px_wbuf_init(&w, out, n - 1);
        cr_assert_eq(write_width(&w, n), PX_ETOOBIG, "width %zu with one byte short", n);
        cr_assert_eq(w.len, 0);
        for (size_t k = 0; k < sizeof(out); k++) {
            cr_assert_eq(out[k], 0xaa, "an overflowing write touched byte %zu", k);
        }
    }
}

Test(buf, writer_overflow_keeps_earlier_bytes)
{
    uint8_t out[5];
    struct px_wbuf w;

    memset(out, 0, sizeof(out));
    px_wbuf_init(&w, out, sizeof(out));
    cr_assert_eq(px_wbuf_be32(&w, 0x01020304u), 0);
    cr_assert_eq(px_wbuf_be16(&w, 0xffff), PX_ETOOBIG);
    cr_assert_eq(px_wbuf_put(&w, "ab", 2), PX_ETOOBIG);
    cr_assert_eq(px_wbuf_put(&w, "ab", SIZE_MAX), PX_ETOOBIG);
    cr_assert_eq(w.len, 4);
    cr_assert_eq(out[0], 1);
    cr_assert_eq(out[3], 4);
    cr_assert_eq(out[4], 0);
    cr_assert_eq(px_wbuf_u8(&w, 9), 0);
    cr_assert_eq(w.len, 5);
    cr_assert_eq(px_wbuf_u8(&w, 9), PX_ETOOBIG);
    cr_assert_eq(px_wbuf_put(&w, NULL, 0), 0, "an empty put into a full buffer is fine");
    cr_assert_eq(w.len, 5);
}

Test(buf, zero_capacity_writer)
{
    struct px_wbuf w;

    px_wbuf_init(&w, NULL, 0);
    cr_assert_eq(px_wbuf_u8(&w, 0), PX_ETOOBIG);
    cr_assert_eq(w.len, 0);
}

/* ---- Compare mode ---- */

Test(buf, compare_mode_match)
{
    struct px_wbuf w;

    px_wbuf_init_compare(&w, bytes, sizeof(bytes));
    cr_assert_null(w.p);
    cr_assert_eq(px_wbuf_u8(&w, 0x01), 0);
    cr_assert_eq(px_wbuf_be16(&w, 0x2345), 0);
    cr_assert_eq(px_wbuf_be32(&w, 0x6789abcdu), 0);
    cr_assert_eq(px_wbuf_put(&w, "\xef\xff", 2), 0);
    cr_assert_eq(w.len, sizeof(bytes), "the whole encoding was reproduced");
    /* Past the end is PX_ETOOBIG, not a mismatch. */
    cr_assert_eq(px_wbuf_u8(&w, 0x00), PX_ETOOBIG);
    cr_assert_eq(w.len, sizeof(bytes));
}

Test(buf, compare_mode_be64_match)
{
    struct px_wbuf w;

    px_wbuf_init_compare(&w, bytes, 8);
    cr_assert_eq(px_wbuf_be64(&w, UINT64_C(0x0123456789abcdef)), 0);
    cr_assert_eq(w.len, 8);
}

Test(buf, compare_mode_mismatch)
{
    struct px_wbuf w;

    px_wbuf_init_compare(&w, bytes, sizeof(bytes));
    cr_assert_eq(px_wbuf_u8(&w, 0x01), 0);
    cr_assert_eq(px_wbuf_be16(&w, 0x2346), PX_ENONCANON, "last byte differs");
    cr_assert_eq(w.len, 1, "a mismatch does not advance");
    cr_assert_eq(px_wbuf_be16(&w, 0x3345), PX_ENONCANON, "first byte differs");
    cr_assert_eq(px_wbuf_be16(&w, 0x2345), 0);
    cr_assert_eq(w.len, 3);
    cr_assert_eq(px_wbuf_be64(&w, 0), PX_ETOOBIG, "8 bytes with 6 left");
    cr_assert_eq(w.len, 3);
}

Test(buf, compare_mode_shorter_write_is_detectable)
{
    struct px_wbuf w;

    /* Reproducing only a prefix succeeds, but w.len says the encoding was not complete. */
    px_wbuf_init_compare(&w, bytes, sizeof(bytes));
    cr_assert_eq(px_wbuf_be32(&w, 0x01234567u), 0);
    cr_assert_neq(w.len, sizeof(bytes));
}

Test(buf, compare_mode_never_writes)
{
    uint8_t expect[4] = {1, 2, 3, 4};
    struct px_wbuf w;

    px_wbuf_init_compare(&w, expect, sizeof(expect));
    cr_assert_eq(px_wbuf_be32(&w, 0x01020305u), PX_ENONCANON);
    cr_assert_eq(expect[3], 4, "compare mode changed the expected bytes");
}

/* ---- Load/store helpers ---- */

Test(buf, load_store_be32)
{
    uint8_t b[4];

    px_store_be32(b, 0xa1b2c3d4u);
    cr_assert_eq(b[0], 0xa1);
    cr_assert_eq(b[3], 0xd4);
    cr_assert_eq(px_load_be32(b), 0xa1b2c3d4u);
    px_store_be32(b, 0xffffffffu);
    cr_assert_eq(px_load_be32(b), 0xffffffffu);
}

/* ---- Hex ---- */

Test(buf, hex_encode)
{
    char out[2 * sizeof(bytes) + 1];

    memset(out, 'z', sizeof(out));
    px_hex_encode(bytes, sizeof(bytes), out);
    cr_assert_str_eq(out, "0123456789abcdefff");
    px_hex_encode(bytes, 0, out);
    cr_assert_str_eq(out, "");
}

Test(buf, hex_decode_both_cases)
{
    uint8_t out[9];

    cr_assert_eq(px_hex_decode("0123456789abcdefff", 18, out, 9), 0);
    cr_assert_arr_eq(out, bytes, 9);
    memset(out, 0, sizeof(out));
    cr_assert_eq(px_hex_decode("0123456789ABCDEFFF", 18, out, 9), 0);
    cr_assert_arr_eq(out, bytes, 9);
    cr_assert_eq(px_hex_decode("0123456789AbCdEfFf", 18, out, 9), 0);
    cr_assert_arr_eq(out, bytes, 9);
    cr_assert_eq(px_hex_decode("", 0, out, 0), 0);
}

Test(buf, hex_round_trip_all_bytes)
{
    uint8_t in[256], back[256];
    char hex[513];

    for (int i = 0; i < 256; i++) {
        in[i] = (uint8_t)i;
    }
    px_hex_encode(in, sizeof(in), hex);
    cr_assert_eq(strlen(hex), 512);
    cr_assert_eq(px_hex_decode(hex, 512, back, sizeof(back)), 0);
    cr_assert_arr_eq(in, back, sizeof(in));
}

Test(buf, hex_decode_bad_digits)
{
    static const char *const bad[] = {"0g", "g0", "0G",    " 0", "0 ",
                                      "-1", "0x", "\0000", /* NUL, then '0' */
                                      ":0", "/0", "@0",    "`0", "0\xff"};
    uint8_t out[1];

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cr_assert_eq(px_hex_decode(bad[i], 2, out, 1), PX_EINVAL, "case %zu", i);
    }
    /* A bad digit at the end of a longer string. */
    uint8_t out4[4];
    cr_assert_eq(px_hex_decode("0011223z", 8, out4, 4), PX_EINVAL);
}

Test(buf, hex_decode_wrong_lengths)
{
    uint8_t out[4];

    cr_assert_eq(px_hex_decode("012", 3, out, 1), PX_EINVAL, "odd length");
    cr_assert_eq(px_hex_decode("012", 3, out, 2), PX_EINVAL, "odd length, rounded up");
    cr_assert_eq(px_hex_decode("0", 1, out, 0), PX_EINVAL, "one digit, zero bytes");
    cr_assert_eq(px_hex_decode("0", 1, out, 1), PX_EINVAL);
    cr_assert_eq(px_hex_decode("0123", 4, out, 1), PX_EINVAL, "too many digits");
    cr_assert_eq(px_hex_decode("0123", 4, out, 3), PX_EINVAL, "too few digits");
    cr_assert_eq(px_hex_decode("", 0, out, 1), PX_EINVAL);
}
