/* SPDX-License-Identifier: MIT */
/*
 * test_wire.c - peer messages: round trips of every type at its size boundaries,
 * hand-computed known-answer bytes, and every way a decoder must refuse a message.
 */
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "protocol/buf.h"
#include "protocol/err.h"
#include "protocol/mp.h"
#include "protocol/wire.h"

#define BYTES(...) ((const uint8_t[]){__VA_ARGS__})
#define S(x)       ((struct px_str){(x), (uint32_t)(sizeof(x) - 1)})

/* Large enough for any frame, with room to build bodies just over the cap. */
#define BIG (4 + PX_WIRE_MAX_MSG + 4096)

static uint8_t frame[BIG], frame2[BIG], body[BIG];
static struct px_wire_msg msg, out;
static struct px_wbuf wb; /* the body being built by hand */
static char text[PX_WIRE_MAX_REASON + 2];
static uint8_t *blob; /* PX_WIRE_MAX_RECONCILE + 2 bytes of a pattern */

static void
setup(void)
{
    memset(&msg, 0, sizeof(msg));
    memset(&out, 0, sizeof(out));
    memset(text, 'a', sizeof(text));
    blob = malloc(PX_WIRE_MAX_RECONCILE + 2);
    cr_assert_not_null(blob);
    for (size_t i = 0; i < PX_WIRE_MAX_RECONCILE + 2; i++) {
        blob[i] = (uint8_t)(i * 7 + i / 251);
    }
    px_wbuf_init(&wb, body, sizeof(body));
}

static void
teardown(void)
{
    free(blob);
}

TestSuite(wire, .init = setup, .fini = teardown);

/* ---- Helpers ---- */

static int
decode_bytes(const uint8_t *p, size_t len)
{
    return px_wire_decode(p, len, &out);
}

#define EXPECT(rc, ...)                                                                   \
    do {                                                                                  \
        int got_ = decode_bytes(BYTES(__VA_ARGS__), sizeof(BYTES(__VA_ARGS__)));          \
        cr_assert_eq(got_, (rc), "line %d: got %s, want %s", __LINE__, px_err_name(got_), \
                     px_err_name(rc));                                                    \
    } while (0)

/* Decodes the body built in wb and checks the result. */
#define EXPECT_BUILT(rc)                                                                  \
    do {                                                                                  \
        int got_ = decode_bytes(body, wb.len);                                            \
        cr_assert_eq(got_, (rc), "line %d: got %s, want %s", __LINE__, px_err_name(got_), \
                     px_err_name(rc));                                                    \
    } while (0)

#define EXPECT_ENCODE(rc)                                                                 \
    do {                                                                                  \
        size_t len_ = 0;                                                                  \
        int got_ = px_wire_encode(&msg, frame, sizeof(frame), &len_);                     \
        cr_assert_eq(got_, (rc), "line %d: got %s, want %s", __LINE__, px_err_name(got_), \
                     px_err_name(rc));                                                    \
    } while (0)

static void
put(const void *p, size_t n)
{
    cr_assert_eq(px_wbuf_put(&wb, p, n), 0);
}

static void
put_array(uint32_t n)
{
    cr_assert_eq(px_mp_write_array(&wb, n), 0);
}

static void
put_uint(uint64_t v)
{
    cr_assert_eq(px_mp_write_uint(&wb, v), 0);
}

static void
put_str(size_t n)
{
    cr_assert_eq(px_mp_write_str(&wb, text, n), 0);
}

static void
put_bin(size_t n)
{
    cr_assert_eq(px_mp_write_bin(&wb, blob, n), 0);
}

static void
compare_fields(const struct px_wire_msg *a, const struct px_wire_msg *b)
{
    cr_assert_eq(a->type, b->type);
    switch (a->type) {
    case PX_WIRE_HELLO:
        cr_assert_eq(a->version, b->version);
        cr_assert_eq(a->n_features, b->n_features);
        for (uint32_t i = 0; i < a->n_features; i++) {
            cr_assert_eq(a->features[i].len, b->features[i].len);
            cr_assert_arr_eq(a->features[i].p, b->features[i].p, a->features[i].len);
        }
        cr_assert_eq(a->name.len, b->name.len);
        if (a->name.len > 0) {
            cr_assert_arr_eq(a->name.p, b->name.p, a->name.len);
        }
        break;
    case PX_WIRE_ANNOUNCE:
    case PX_WIRE_WANT:
        cr_assert_eq(a->n_ids, b->n_ids);
        for (uint32_t i = 0; i < a->n_ids; i++) {
            cr_assert_arr_eq(a->ids[i], b->ids[i], PX_ID_BYTES);
        }
        break;
    case PX_WIRE_RECORDS:
        cr_assert_eq(a->n_records, b->n_records);
        for (uint32_t i = 0; i < a->n_records; i++) {
            cr_assert_eq(a->record_lens[i], b->record_lens[i]);
            if (a->record_lens[i] > 0) {
                cr_assert_arr_eq(a->records[i], b->records[i], a->record_lens[i]);
            }
        }
        break;
    case PX_WIRE_RECONCILE:
        cr_assert_eq(a->neg_len, b->neg_len);
        if (a->neg_len > 0) {
            cr_assert_arr_eq(a->neg, b->neg, a->neg_len);
        }
        break;
    case PX_WIRE_PING:
    case PX_WIRE_PONG:
        cr_assert_eq(a->nonce, b->nonce);
        break;
    case PX_WIRE_BYE:
        cr_assert_eq(a->code, b->code);
        cr_assert_eq(a->reason.len, b->reason.len);
        if (a->reason.len > 0) {
            cr_assert_arr_eq(a->reason.p, b->reason.p, a->reason.len);
        }
        break;
    }
}

/*
 * Encodes msg, reads the header back, decodes the body into out, compares the fields and
 * re-encodes out to the same bytes. Returns the frame's total length.
 */
static size_t
round_trip(void)
{
    size_t len = 0, len2 = 0;
    uint32_t blen = 0;

    cr_assert_eq(px_wire_encode(&msg, frame, sizeof(frame), &len), 0, "%s encode",
                 px_wire_type_name(msg.type));
    cr_assert_eq(px_wire_frame_len(frame, &blen), 0);
    cr_assert_eq((size_t)blen + 4, len);
    cr_assert_eq(px_wire_decode(frame + 4, blen, &out), 0, "%s decode",
                 px_wire_type_name(msg.type));
    compare_fields(&msg, &out);
    cr_assert_eq(px_wire_encode(&out, frame2, sizeof(frame2), &len2), 0);
    cr_assert_eq(len2, len);
    cr_assert_arr_eq(frame2, frame, len);
    return len;
}

/*
 * Every proper prefix of the body of the frame in `frame` is refused as cut short:
 * PX_ETRUNC, or PX_ECOUNT when an array header already promises more items than bytes left.
 */
static void
expect_prefixes_truncated(size_t len, size_t step)
{
    for (size_t n = 0; n < len - 4; n += step) {
        int rc = px_wire_decode(frame + 4, n, &out);

        cr_assert(rc == PX_ETRUNC || rc == PX_ECOUNT, "prefix %zu of %zu: %s", n, len - 4,
                  px_err_name(rc));
    }
}

/* ---- Names and headers ---- */

Test(wire, type_names)
{
    cr_assert_str_eq(px_wire_type_name(PX_WIRE_HELLO), "hello");
    cr_assert_str_eq(px_wire_type_name(PX_WIRE_ANNOUNCE), "announce");
    cr_assert_str_eq(px_wire_type_name(PX_WIRE_WANT), "want");
    cr_assert_str_eq(px_wire_type_name(PX_WIRE_RECORDS), "records");
    cr_assert_str_eq(px_wire_type_name(PX_WIRE_RECONCILE), "reconcile");
    cr_assert_str_eq(px_wire_type_name(PX_WIRE_PING), "ping");
    cr_assert_str_eq(px_wire_type_name(PX_WIRE_PONG), "pong");
    cr_assert_str_eq(px_wire_type_name(PX_WIRE_BYE), "bye");
    cr_assert_str_eq(px_wire_type_name((enum px_wire_type)0), "unknown");
    cr_assert_str_eq(px_wire_type_name((enum px_wire_type)9), "unknown");
}

Test(wire, frame_header_limits)
{
    uint32_t len = 99;

    cr_assert_eq(px_wire_frame_len(BYTES(0, 0, 0, 0), &len), PX_EPROTO);
    cr_assert_eq(len, 0);
    cr_assert_eq(px_wire_frame_len(BYTES(0, 0, 0, 1), &len), 0);
    cr_assert_eq(len, 1);
    cr_assert_eq(px_wire_frame_len(BYTES(0x00, 0x10, 0x00, 0x00), &len), 0);
    cr_assert_eq(len, PX_WIRE_MAX_MSG);
    cr_assert_eq(px_wire_frame_len(BYTES(0x00, 0x10, 0x00, 0x01), &len), PX_ETOOBIG);
    cr_assert_eq(len, PX_WIRE_MAX_MSG + 1);
    cr_assert_eq(px_wire_frame_len(BYTES(0xff, 0xff, 0xff, 0xff), &len), PX_ETOOBIG);
    cr_assert_eq(px_wire_frame_len(BYTES(0x01, 0x00, 0x00, 0x00), &len), PX_ETOOBIG);
}

/* ---- Known answers, computed by hand from the msgpack spec ---- */

Test(wire, kat_hello)
{
    /* [1, 1, ["neg1"], "ann"]: fixarray 4, fixint 1, fixint 1, fixarray 1, fixstr 4, fixstr 3 */
    static const uint8_t want[] = {0x00, 0x00, 0x00, 0x0d, 0x94, 0x01, 0x01, 0x91, 0xa4,
                                   'n',  'e',  'g',  '1',  0xa3, 'a',  'n',  'n'};
    size_t len;

    msg.type = PX_WIRE_HELLO;
    msg.version = PX_WIRE_VERSION;
    msg.features[0] = S("neg1");
    msg.n_features = 1;
    msg.name = S("ann");
    len = round_trip();
    cr_assert_eq(len, sizeof(want));
    cr_assert_arr_eq(frame, want, sizeof(want));
    cr_assert_eq(out.name.p, (const char *)frame + 14, "decoding borrows the buffer");
}

Test(wire, kat_ping)
{
    /* [6, 0x0102030405060708]: fixarray 2, fixint 6, uint 64 (the value needs 57 bits) */
    static const uint8_t want[] = {0x00, 0x00, 0x00, 0x0b, 0x92, 0x06, 0xcf, 0x01,
                                   0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08};
    size_t len;

    msg.type = PX_WIRE_PING;
    msg.nonce = UINT64_C(0x0102030405060708);
    len = round_trip();
    cr_assert_eq(len, sizeof(want));
    cr_assert_arr_eq(frame, want, sizeof(want));
}

Test(wire, kat_bye)
{
    /* [8, -24, ""]: PX_EPROTO is -24, a negative fixint (0x100 - 24 = 0xe8) */
    static const uint8_t want[] = {0x00, 0x00, 0x00, 0x04, 0x93, 0x08, 0xe8, 0xa0};
    size_t len;

    msg.type = PX_WIRE_BYE;
    msg.code = PX_EPROTO;
    len = round_trip();
    cr_assert_eq(len, sizeof(want));
    cr_assert_arr_eq(frame, want, sizeof(want));
}

Test(wire, kat_announce_one_id)
{
    uint8_t id[PX_ID_BYTES];
    size_t len;

    memset(id, 0xab, sizeof(id));
    msg.type = PX_WIRE_ANNOUNCE;
    msg.ids[0] = id;
    msg.n_ids = 1;
    len = round_trip();
    /* 92 02 91 c4 20 <32 bytes> */
    cr_assert_eq(len, 4 + 5 + 32);
    cr_assert_arr_eq(frame, BYTES(0, 0, 0, 37, 0x92, 0x02, 0x91, 0xc4, 0x20), 9);
    cr_assert_arr_eq(frame + 9, id, 32);
    cr_assert_eq(out.ids[0], frame + 9);
}

/* ---- Round trips at the boundaries ---- */

Test(wire, hello_round_trips)
{
    size_t len;

    msg.type = PX_WIRE_HELLO;
    /* No features, empty name, version 0. */
    len = round_trip();
    cr_assert_arr_eq(frame, BYTES(0, 0, 0, 5, 0x94, 0x01, 0x00, 0x90, 0xa0), len);
    expect_prefixes_truncated(len, 1);
    /* Every cap at once, and the largest version. */
    msg.version = UINT32_MAX;
    for (uint32_t i = 0; i < PX_WIRE_MAX_FEATURES; i++) {
        msg.features[i].p = text;
        msg.features[i].len = PX_WIRE_MAX_FEATURE - (i % 2);
    }
    msg.n_features = PX_WIRE_MAX_FEATURES;
    msg.name = (struct px_str){text, PX_WIRE_MAX_NAME};
    len = round_trip();
    expect_prefixes_truncated(len, 1);
    /* Multi-byte UTF-8 passes. */
    msg.n_features = 1;
    msg.features[0] = S("caf\xc3\xa9");
    msg.name = S("\xe2\x82\xac \xf0\x9f\x8c\x8d");
    round_trip();
}

Test(wire, max_hello_size)
{
    msg.type = PX_WIRE_HELLO;
    msg.version = UINT32_MAX;
    for (uint32_t i = 0; i < PX_WIRE_MAX_FEATURES; i++) {
        msg.features[i] = (struct px_str){text, PX_WIRE_MAX_FEATURE};
    }
    msg.n_features = PX_WIRE_MAX_FEATURES;
    msg.name = (struct px_str){text, PX_WIRE_MAX_NAME};
    cr_assert_eq(round_trip(), 4 + PX_WIRE_MAX_HELLO);
}

Test(wire, announce_want_round_trips)
{
    static uint8_t ids[PX_WIRE_MAX_IDS][PX_ID_BYTES];
    size_t len;

    for (uint32_t i = 0; i < PX_WIRE_MAX_IDS; i++) {
        memset(ids[i], (int)(i & 0xff), PX_ID_BYTES);
        ids[i][0] = (uint8_t)(i >> 8);
        msg.ids[i] = ids[i];
    }
    for (int t = PX_WIRE_ANNOUNCE; t <= PX_WIRE_WANT; t++) {
        msg.type = (enum px_wire_type)t;
        msg.n_ids = 0;
        len = round_trip();
        cr_assert_arr_eq(frame, BYTES(0, 0, 0, 3, 0x92, (uint8_t)t, 0x90), len);
        msg.n_ids = 15;
        round_trip();
        msg.n_ids = 16; /* array 16 from here */
        len = round_trip();
        cr_assert_arr_eq(frame + 4, BYTES(0x92, (uint8_t)t, 0xdc, 0x00, 0x10), 5);
        msg.n_ids = PX_WIRE_MAX_IDS;
        len = round_trip();
        cr_assert_eq(len, 4 + 5 + PX_WIRE_MAX_IDS * (2 + PX_ID_BYTES));
        expect_prefixes_truncated(len, 7);
    }
}

Test(wire, records_round_trips)
{
    size_t len;

    msg.type = PX_WIRE_RECORDS;
    msg.n_records = 0;
    round_trip();
    /* An empty bin, a bin 8, a bin 16 and one record of the largest size (bin 32). */
    msg.records[0] = blob;
    msg.record_lens[0] = 0;
    msg.records[1] = blob + 1;
    msg.record_lens[1] = 255;
    msg.records[2] = blob + 2;
    msg.record_lens[2] = 256;
    msg.records[3] = blob + 3;
    msg.record_lens[3] = PX_RECORD_MAX;
    msg.n_records = 4;
    len = round_trip();
    expect_prefixes_truncated(len, 97);
    /* The most records in one message. */
    for (uint32_t i = 0; i < PX_WIRE_MAX_RECORDS; i++) {
        msg.records[i] = blob + i;
        msg.record_lens[i] = 4000;
    }
    msg.n_records = PX_WIRE_MAX_RECORDS;
    round_trip();
}

Test(wire, records_exactly_max_msg)
{
    size_t len;

    /* Outer header 5 bytes, 15 x (c6 + 4 + 65536), then c5 + 2 + 65453: 1048576 in all. */
    msg.type = PX_WIRE_RECORDS;
    for (uint32_t i = 0; i < 16; i++) {
        msg.records[i] = blob;
        msg.record_lens[i] = i < 15 ? PX_RECORD_MAX : 65453;
    }
    msg.n_records = 16;
    len = round_trip();
    cr_assert_eq(len, 4 + (size_t)PX_WIRE_MAX_MSG);
    cr_assert_arr_eq(frame, BYTES(0x00, 0x10, 0x00, 0x00), 4);
    /* One more byte is over the cap for the encoder and the decoder. */
    msg.record_lens[15] = 65454;
    EXPECT_ENCODE(PX_ETOOBIG);
    put_array(2);
    put_uint(PX_WIRE_RECORDS);
    put_array(16);
    for (uint32_t i = 0; i < 16; i++) {
        put_bin(msg.record_lens[i]);
    }
    cr_assert_eq(wb.len, (size_t)PX_WIRE_MAX_MSG + 1);
    EXPECT_BUILT(PX_ETOOBIG);
}

Test(wire, reconcile_round_trips)
{
    size_t len;

    msg.type = PX_WIRE_RECONCILE;
    msg.neg = NULL;
    msg.neg_len = 0;
    len = round_trip();
    cr_assert_arr_eq(frame, BYTES(0, 0, 0, 4, 0x92, 0x05, 0xc4, 0x00), len);
    msg.neg = blob;
    msg.neg_len = 1;
    round_trip();
    msg.neg_len = PX_WIRE_MAX_RECONCILE;
    len = round_trip();
    cr_assert_eq(len, 4 + 2 + 5 + PX_WIRE_MAX_RECONCILE);
    cr_assert_eq(out.neg, frame + 11);
    expect_prefixes_truncated(len, 4099);
}

Test(wire, ping_pong_round_trips)
{
    static const uint64_t nonces[] = {0,     1,          127,      128,        255,
                                      256,   65535,      65536,    UINT32_MAX, UINT64_C(1) << 32,
                                      12345, UINT64_MAX, INT64_MAX};
    size_t len;

    for (int t = PX_WIRE_PING; t <= PX_WIRE_PONG; t++) {
        msg.type = (enum px_wire_type)t;
        for (size_t i = 0; i < sizeof(nonces) / sizeof(nonces[0]); i++) {
            msg.nonce = nonces[i];
            len = round_trip();
            expect_prefixes_truncated(len, 1);
        }
    }
}

Test(wire, bye_round_trips)
{
    static const struct {
        int32_t code;
        size_t n;
        uint8_t b[5];
    } forms[] = {
        {0, 1, {0x00}},
        {127, 1, {0x7f}},
        {128, 2, {0xcc, 0x80}},
        {256, 3, {0xcd, 0x01, 0x00}},
        {65536, 5, {0xce, 0x00, 0x01, 0x00, 0x00}},
        {INT32_MAX, 5, {0xce, 0x7f, 0xff, 0xff, 0xff}},
        {-1, 1, {0xff}},
        {-32, 1, {0xe0}},
        {-33, 2, {0xd0, 0xdf}},
        {-128, 2, {0xd0, 0x80}},
        {-129, 3, {0xd1, 0xff, 0x7f}},
        {-32768, 3, {0xd1, 0x80, 0x00}},
        {-32769, 5, {0xd2, 0xff, 0xff, 0x7f, 0xff}},
        {INT32_MIN, 5, {0xd2, 0x80, 0x00, 0x00, 0x00}},
    };

    msg.type = PX_WIRE_BYE;
    for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
        size_t len;

        msg.code = forms[i].code;
        msg.reason = S("");
        len = round_trip();
        cr_assert_eq(len, 4 + 2 + forms[i].n + 1, "code %d", forms[i].code);
        cr_assert_arr_eq(frame + 6, forms[i].b, forms[i].n, "code %d", forms[i].code);
        expect_prefixes_truncated(len, 1);
        msg.reason = (struct px_str){text, PX_WIRE_MAX_REASON};
        round_trip();
    }
}

/* ---- The encoder refuses what the decoder would refuse ---- */

Test(wire, encode_refuses_fields_over_caps)
{
    static const uint8_t id[PX_ID_BYTES];

    msg.type = (enum px_wire_type)0;
    EXPECT_ENCODE(PX_EINVAL);
    msg.type = (enum px_wire_type)9;
    EXPECT_ENCODE(PX_EINVAL);

    msg.type = PX_WIRE_HELLO;
    msg.n_features = PX_WIRE_MAX_FEATURES + 1;
    for (uint32_t i = 0; i < PX_WIRE_MAX_FEATURES; i++) {
        msg.features[i] = S("f");
    }
    EXPECT_ENCODE(PX_EINVAL);
    msg.n_features = 1;
    msg.features[0] = (struct px_str){text, PX_WIRE_MAX_FEATURE + 1};
    EXPECT_ENCODE(PX_EINVAL);
    msg.features[0] = S("");
    EXPECT_ENCODE(PX_EINVAL);
    msg.features[0] = S("\xc3");
    EXPECT_ENCODE(PX_EINVAL);
    msg.features[0] = S("ok");
    msg.name = (struct px_str){text, PX_WIRE_MAX_NAME + 1};
    EXPECT_ENCODE(PX_EINVAL);
    msg.name = (struct px_str){NULL, 3};
    EXPECT_ENCODE(PX_EINVAL);
    msg.name = S("\xed\xa0\x80"); /* a surrogate */
    EXPECT_ENCODE(PX_EINVAL);
    msg.name = S("");
    EXPECT_ENCODE(0);

    msg.type = PX_WIRE_WANT;
    msg.n_ids = PX_WIRE_MAX_IDS + 1;
    EXPECT_ENCODE(PX_EINVAL);
    msg.n_ids = 1;
    msg.ids[0] = NULL;
    EXPECT_ENCODE(PX_EINVAL);
    msg.ids[0] = id;
    EXPECT_ENCODE(0);

    msg.type = PX_WIRE_RECORDS;
    msg.n_records = PX_WIRE_MAX_RECORDS + 1;
    EXPECT_ENCODE(PX_EINVAL);
    msg.n_records = 1;
    msg.records[0] = blob;
    msg.record_lens[0] = PX_RECORD_MAX + 1;
    EXPECT_ENCODE(PX_EINVAL);
    msg.records[0] = NULL;
    msg.record_lens[0] = 1;
    EXPECT_ENCODE(PX_EINVAL);

    msg.type = PX_WIRE_RECONCILE;
    msg.neg = blob;
    msg.neg_len = PX_WIRE_MAX_RECONCILE + 1;
    EXPECT_ENCODE(PX_EINVAL);
    msg.neg = NULL;
    msg.neg_len = 1;
    EXPECT_ENCODE(PX_EINVAL);

    msg.type = PX_WIRE_BYE;
    msg.reason = (struct px_str){text, PX_WIRE_MAX_REASON + 1};
    EXPECT_ENCODE(PX_EINVAL);
    msg.reason = S("\xff");
    EXPECT_ENCODE(PX_EINVAL);
}

Test(wire, encode_refuses_small_output)
{
    size_t len = 12345;

    msg.type = PX_WIRE_PING;
    msg.nonce = UINT64_C(0x0102030405060708);
    for (size_t cap = 0; cap < 15; cap++) {
        cr_assert_eq(px_wire_encode(&msg, frame, cap, &len), PX_ETOOBIG, "cap %zu", cap);
        cr_assert_eq(len, 12345);
    }
    cr_assert_eq(px_wire_encode(&msg, frame, 15, &len), 0);
    cr_assert_eq(len, 15);
}

/* ---- The decoder's refusals ---- */

Test(wire, decode_wrong_arity)
{
    EXPECT(PX_EVALUE, 0x90);                               /* [] */
    EXPECT(PX_EVALUE, 0x91, 0x01);                         /* [1] */
    EXPECT(PX_EVALUE, 0x93, 0x01, 0x01, 0x90);             /* hello with 3 */
    EXPECT(PX_EVALUE, 0x95, 0x01, 0x01, 0x90, 0xa0, 0xa0); /* hello with 5 */
    EXPECT(PX_EVALUE, 0x91, 0x02);                         /* announce with 1 */
    EXPECT(PX_EVALUE, 0x93, 0x02, 0x90, 0x90);             /* announce with 3 */
    EXPECT(PX_EVALUE, 0x93, 0x03, 0x90, 0xc0);             /* want with 3 */
    EXPECT(PX_EVALUE, 0x91, 0x04);                         /* records with 1 */
    EXPECT(PX_EVALUE, 0x93, 0x05, 0xc4, 0x00, 0xc4, 0x00); /* reconcile with 3 */
    EXPECT(PX_EVALUE, 0x91, 0x06);                         /* ping with 1 */
    EXPECT(PX_EVALUE, 0x93, 0x07, 0x01, 0x02);             /* pong with 3 */
    EXPECT(PX_EVALUE, 0x92, 0x08, 0x00);                   /* bye with 2 */
    EXPECT(PX_EVALUE, 0x94, 0x08, 0x00, 0xa0, 0xa0);       /* bye with 4 */
    /* ping with 16 elements, in array 16 form */
    put_array(16);
    put_uint(PX_WIRE_PING);
    for (int i = 0; i < 15; i++) {
        put_uint(0);
    }
    EXPECT_BUILT(PX_EVALUE);
}

Test(wire, decode_wrong_types)
{
    /* The message itself is not an array. */
    EXPECT(PX_ETYPE, 0x06);
    EXPECT(PX_ETYPE, 0xa1, 'x');
    EXPECT(PX_ETYPE, 0xc0);
    EXPECT(PX_ETYPE, 0x80);
    EXPECT(PX_ETYPE, 0x81, 0xa1, 't', 0x06);
    /* The type is not a uint. */
    EXPECT(PX_ETYPE, 0x92, 0xa1, '6', 0x00);
    EXPECT(PX_ETYPE, 0x92, 0xff, 0x00);
    EXPECT(PX_ETYPE, 0x92, 0xc0, 0x00);
    EXPECT(PX_ETYPE, 0x92, 0xc3, 0x00);
    EXPECT(PX_ETYPE, 0x92, 0x90, 0x00);
    /* hello: version, features, feature, name. */
    EXPECT(PX_ETYPE, 0x94, 0x01, 0xa1, '1', 0x90, 0xa0);
    EXPECT(PX_ETYPE, 0x94, 0x01, 0xff, 0x90, 0xa0);
    EXPECT(PX_ETYPE, 0x94, 0x01, 0x01, 0xa0, 0xa0);
    EXPECT(PX_ETYPE, 0x94, 0x01, 0x01, 0xc0, 0xa0);
    EXPECT(PX_ETYPE, 0x94, 0x01, 0x01, 0x91, 0xc4, 0x01, 'x', 0xa0);
    EXPECT(PX_ETYPE, 0x94, 0x01, 0x01, 0x91, 0x01, 0xa0);
    EXPECT(PX_ETYPE, 0x94, 0x01, 0x01, 0x90, 0xc4, 0x00);
    EXPECT(PX_ETYPE, 0x94, 0x01, 0x01, 0x90, 0xc0);
    EXPECT(PX_ETYPE, 0x94, 0x01, 0x01, 0x90, 0x90);
    /* announce/want: not a list, an element not a bin. */
    EXPECT(PX_ETYPE, 0x92, 0x02, 0xc4, 0x00);
    EXPECT(PX_ETYPE, 0x92, 0x03, 0xc0);
    EXPECT(PX_ETYPE, 0x92, 0x02, 0x91, 0xa0);
    EXPECT(PX_ETYPE, 0x92, 0x02, 0x91, 0x00);
    /* records: not a list, an element not a bin. */
    EXPECT(PX_ETYPE, 0x92, 0x04, 0xc4, 0x00);
    EXPECT(PX_ETYPE, 0x92, 0x04, 0x91, 0xa1, 'r');
    EXPECT(PX_EDEPTH, 0x92, 0x04, 0x91, 0x90); /* a list in the list is the walker's */
    /* reconcile: not a bin. */
    EXPECT(PX_ETYPE, 0x92, 0x05, 0xa1, 'n');
    EXPECT(PX_ETYPE, 0x92, 0x05, 0x90);
    EXPECT(PX_ETYPE, 0x92, 0x05, 0xc0);
    /* ping/pong: the nonce is not a uint. */
    EXPECT(PX_ETYPE, 0x92, 0x06, 0xff);
    EXPECT(PX_ETYPE, 0x92, 0x07, 0xd0, 0x80);
    EXPECT(PX_ETYPE, 0x92, 0x06, 0xc2);
    EXPECT(PX_ETYPE, 0x92, 0x06, 0xc4, 0x01, 0x01);
    /* bye: code, reason. */
    EXPECT(PX_ETYPE, 0x93, 0x08, 0xa0, 0xa0);
    EXPECT(PX_ETYPE, 0x93, 0x08, 0xc0, 0xa0);
    EXPECT(PX_ETYPE, 0x93, 0x08, 0x00, 0xc4, 0x00);
    EXPECT(PX_ETYPE, 0x93, 0x08, 0x00, 0xc0);
    /* The reserved byte, anywhere. */
    EXPECT(PX_ETYPE, 0x92, 0x06, 0xc1);
}

Test(wire, decode_id_lengths)
{
    for (int t = PX_WIRE_ANNOUNCE; t <= PX_WIRE_WANT; t++) {
        static const uint32_t lens[] = {0, 1, 31, 33, 64};

        for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
            px_wbuf_init(&wb, body, sizeof(body));
            put_array(2);
            put_uint((uint64_t)t);
            put_array(2);
            put_bin(PX_ID_BYTES);
            put_bin(lens[i]);
            EXPECT_BUILT(PX_EVALUE);
        }
        px_wbuf_init(&wb, body, sizeof(body));
        put_array(2);
        put_uint((uint64_t)t);
        put_array(2);
        put_bin(PX_ID_BYTES);
        put_bin(PX_ID_BYTES);
        EXPECT_BUILT(0);
        cr_assert_eq(out.n_ids, 2);
    }
}

Test(wire, decode_hello_caps)
{
    /* 17 features */
    put_array(4);
    put_uint(1);
    put_uint(1);
    put_array(PX_WIRE_MAX_FEATURES + 1);
    for (uint32_t i = 0; i <= PX_WIRE_MAX_FEATURES; i++) {
        put_str(1);
    }
    put_str(0);
    EXPECT_BUILT(PX_ETOOBIG);
    /* A feature of 33 bytes, and one of 32. */
    EXPECT(PX_ETOOBIG, 0x94, 0x01, 0x01, 0x91, 0xd9, 33, 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a',
           'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a',
           'a', 'a', 'a', 'a', 'a', 'a', 'a', 0xa0);
    EXPECT(0, 0x94, 0x01, 0x01, 0x91, 0xd9, 32, 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a',
           'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a',
           'a', 'a', 'a', 'a', 0xa0);
    /* An empty feature. */
    EXPECT(PX_EVALUE, 0x94, 0x01, 0x01, 0x92, 0xa1, 'x', 0xa0, 0xa0);
    /* A name of 65 bytes, and of 64. */
    px_wbuf_init(&wb, body, sizeof(body));
    put_array(4);
    put_uint(1);
    put_uint(1);
    put_array(0);
    put_str(PX_WIRE_MAX_NAME + 1);
    EXPECT_BUILT(PX_ETOOBIG);
    wb.len--;
    body[wb.len - PX_WIRE_MAX_NAME - 1] = PX_WIRE_MAX_NAME;
    EXPECT_BUILT(0);
    cr_assert_eq(out.name.len, PX_WIRE_MAX_NAME);
    /* A version over 32 bits, and the largest one. */
    EXPECT(PX_EVALUE, 0x94, 0x01, 0xcf, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x90, 0xa0);
    EXPECT(0, 0x94, 0x01, 0xce, 0xff, 0xff, 0xff, 0xff, 0x90, 0xa0);
    cr_assert_eq(out.version, UINT32_MAX);
    /* Invalid UTF-8 is the walker's. */
    EXPECT(PX_EUTF8, 0x94, 0x01, 0x01, 0x90, 0xa2, 0xc0, 0x80);
    EXPECT(PX_EUTF8, 0x94, 0x01, 0x01, 0x91, 0xa1, 0xff, 0xa0);
}

Test(wire, decode_count_caps)
{
    /* ids: the walker's count cap is the ids cap. */
    put_array(2);
    put_uint(PX_WIRE_ANNOUNCE);
    put_array(PX_WIRE_MAX_IDS + 1);
    for (uint32_t i = 0; i <= PX_WIRE_MAX_IDS; i++) {
        put_bin(PX_ID_BYTES);
    }
    EXPECT_BUILT(PX_ETOOBIG);
    /* records: 257 */
    px_wbuf_init(&wb, body, sizeof(body));
    put_array(2);
    put_uint(PX_WIRE_RECORDS);
    put_array(PX_WIRE_MAX_RECORDS + 1);
    for (uint32_t i = 0; i <= PX_WIRE_MAX_RECORDS; i++) {
        put_bin(1);
    }
    EXPECT_BUILT(PX_ETOOBIG);
    /* a record over PX_RECORD_MAX */
    px_wbuf_init(&wb, body, sizeof(body));
    put_array(2);
    put_uint(PX_WIRE_RECORDS);
    put_array(1);
    put_bin(PX_RECORD_MAX + 1);
    EXPECT_BUILT(PX_ETOOBIG);
    /* a reconcile message over its cap: the walker's str/bin cap */
    px_wbuf_init(&wb, body, sizeof(body));
    put_array(2);
    put_uint(PX_WIRE_RECONCILE);
    put_bin(PX_WIRE_MAX_RECONCILE + 1);
    EXPECT_BUILT(PX_ETOOBIG);
    /* a bye reason over its cap, and at it */
    px_wbuf_init(&wb, body, sizeof(body));
    put_array(3);
    put_uint(PX_WIRE_BYE);
    put_uint(0);
    put_str(PX_WIRE_MAX_REASON + 1);
    EXPECT_BUILT(PX_ETOOBIG);
    px_wbuf_init(&wb, body, sizeof(body));
    put_array(3);
    put_uint(PX_WIRE_BYE);
    put_uint(0);
    put_str(PX_WIRE_MAX_REASON);
    EXPECT_BUILT(0);
    /* A count larger than the bytes left, and a list nested one level too deep. */
    EXPECT(PX_ECOUNT, 0x92, 0x02, 0xdc, 0x03, 0xff, 0xc4, 0x20);
    EXPECT(PX_EDEPTH, 0x92, 0x02, 0x91, 0x90);
    EXPECT(PX_EDEPTH, 0x92, 0x02, 0x91, 0x91, 0xc4, 0x00);
}

Test(wire, decode_bye_code_range)
{
    EXPECT(0, 0x93, 0x08, 0xce, 0x7f, 0xff, 0xff, 0xff, 0xa0);
    cr_assert_eq(out.code, INT32_MAX);
    EXPECT(0, 0x93, 0x08, 0xd2, 0x80, 0x00, 0x00, 0x00, 0xa0);
    cr_assert_eq(out.code, INT32_MIN);
    EXPECT(0, 0x93, 0x08, 0xd0, 0xdf, 0xa0);
    cr_assert_eq(out.code, -33);
    EXPECT(0, 0x93, 0x08, 0xe0, 0xa0);
    cr_assert_eq(out.code, -32);
    /* 2^31, 2^32, 2^63 and INT32_MIN - 1, INT64_MIN do not fit. */
    EXPECT(PX_EVALUE, 0x93, 0x08, 0xce, 0x80, 0x00, 0x00, 0x00, 0xa0);
    EXPECT(PX_EVALUE, 0x93, 0x08, 0xcf, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0xa0);
    EXPECT(PX_EVALUE, 0x93, 0x08, 0xcf, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xa0);
    EXPECT(PX_EVALUE, 0x93, 0x08, 0xd3, 0xff, 0xff, 0xff, 0xff, 0x7f, 0xff, 0xff, 0xff, 0xa0);
    EXPECT(PX_EVALUE, 0x93, 0x08, 0xd3, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xa0);
}

Test(wire, decode_noncanonical)
{
    EXPECT(PX_ENONCANON, 0x92, 0xcc, 0x06, 0x00);                   /* type in uint 8 */
    EXPECT(PX_ENONCANON, 0x92, 0x06, 0xcc, 0x05);                   /* nonce 5 in uint 8 */
    EXPECT(PX_ENONCANON, 0x92, 0x06, 0xcd, 0x00, 0xff);             /* 255 in uint 16 */
    EXPECT(PX_ENONCANON, 0x92, 0x06, 0xce, 0x00, 0x00, 0xff, 0xff); /* in uint 32 */
    EXPECT(PX_ENONCANON, 0x92, 0x06, 0xcf, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff);
    EXPECT(PX_ENONCANON, 0xdc, 0x00, 0x02, 0x06, 0x00);                   /* array 16 of 2 */
    EXPECT(PX_ENONCANON, 0x92, 0x02, 0xdc, 0x00, 0x00);                   /* empty array 16 */
    EXPECT(PX_ENONCANON, 0x94, 0x01, 0x01, 0x90, 0xd9, 0x01, 'x');        /* str 8 of 1 */
    EXPECT(PX_ENONCANON, 0x92, 0x05, 0xc5, 0x00, 0x01, 0x00);             /* bin 16 of 1 */
    EXPECT(PX_ENONCANON, 0x93, 0x08, 0xd0, 0x05, 0xa0);                   /* 5 in int 8 */
    EXPECT(PX_ENONCANON, 0x93, 0x08, 0xd0, 0xe0, 0xa0);                   /* -32 in int 8 */
    EXPECT(PX_ENONCANON, 0x93, 0x08, 0xd1, 0xff, 0x80, 0xa0);             /* -128 in int 16 */
    EXPECT(PX_ENONCANON, 0x93, 0x08, 0xd2, 0xff, 0xff, 0x80, 0x00, 0xa0); /* -32768 */
    EXPECT(PX_ENONCANON, 0x93, 0x08, 0xd3, 0xff, 0xff, 0xff, 0xff, 0x80, 0x00, 0x00, 0x00, 0xa0);
    EXPECT(PX_ENONCANON, 0x93, 0x08, 0xcc, 0x7f, 0xa0); /* 127 in uint 8 */
    /* An id in bin 16 form. */
    put_array(2);
    put_uint(PX_WIRE_WANT);
    put_array(1);
    put((const uint8_t[]){0xc5, 0x00, 0x20}, 3);
    put(blob, PX_ID_BYTES);
    EXPECT_BUILT(PX_ENONCANON);
}

Test(wire, decode_floats_and_ext)
{
    EXPECT(PX_EFLOAT, 0x92, 0x06, 0xca, 0x3f, 0x80, 0x00, 0x00);
    EXPECT(PX_EFLOAT, 0x92, 0x06, 0xcb, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0);
    EXPECT(PX_EFLOAT, 0x92, 0xca, 0x40, 0xc0, 0x00, 0x00, 0x00); /* type 6.0 */
    EXPECT(PX_EFLOAT, 0x93, 0x08, 0xcb, 0, 0, 0, 0, 0, 0, 0, 0, 0xa0);
    EXPECT(PX_EEXT, 0x92, 0x06, 0xd4, 0x01, 0x00);
    EXPECT(PX_EEXT, 0x92, 0x05, 0xc7, 0x01, 0x01, 0x00);
}

Test(wire, decode_trailing)
{
    EXPECT(PX_ETRAILING, 0x92, 0x06, 0x00, 0x00);
    EXPECT(PX_ETRAILING, 0x92, 0x06, 0x00, 0x92, 0x06, 0x00);
    EXPECT(PX_ETRAILING, 0x93, 0x08, 0x00, 0xa0, 0xc0);
    EXPECT(PX_ETRAILING, 0x92, 0x09, 0x00, 0x00); /* an unknown type is checked whole first */
}

Test(wire, decode_unknown_type)
{
    EXPECT(PX_EUNKNOWN, 0x91, 0x00);
    EXPECT(PX_EUNKNOWN, 0x91, 0x09);
    EXPECT(PX_EUNKNOWN, 0x92, 0x00, 0x00);
    EXPECT(PX_EUNKNOWN, 0x94, 0x09, 0xa1, 'x', 0x92, 0x01, 0x02, 0xc0);
    EXPECT(PX_EUNKNOWN, 0x93, 0x7f, 0xc3, 0xff);
    EXPECT(PX_EUNKNOWN, 0x92, 0xcc, 0xc8, 0x81, 0xa1, 'k', 0x01); /* 200, a map inside */
    EXPECT(PX_EUNKNOWN, 0x91, 0xcf, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01);
    EXPECT(PX_EUNKNOWN, 0x91, 0xce, 0x00, 0x01, 0x00, 0x01);
    /* Only a well-formed message is "unknown": the walker's rules come first. */
    EXPECT(PX_EFLOAT, 0x92, 0x09, 0xca, 0, 0, 0, 0);
    EXPECT(PX_EDEPTH, 0x92, 0x09, 0x91, 0x90);
    EXPECT(PX_ENONCANON, 0x91, 0xcc, 0x09);
    EXPECT(PX_ECOUNT, 0x92, 0x09);
}

Test(wire, decode_truncated)
{
    cr_assert_eq(px_wire_decode(body, 0, &out), PX_ETRUNC);
    /* An array that promises more items than there are bytes left. */
    EXPECT(PX_ECOUNT, 0x92);
    EXPECT(PX_ECOUNT, 0x92, 0x06);
    EXPECT(PX_ECOUNT, 0x94, 0x01, 0x01, 0x91);
    /* A value cut short. */
    EXPECT(PX_ETRUNC, 0x92, 0x06, 0xcf, 0x01);
    EXPECT(PX_ETRUNC, 0x94, 0x01, 0x01, 0x91, 0xa4, 'n', 'e');
    EXPECT(PX_ETRUNC, 0x92, 0x02, 0x91, 0xc4, 0x20, 0x00);
    EXPECT(PX_ETRUNC, 0x92, 0x05, 0xc6, 0x00, 0x01);
    EXPECT(PX_ETRUNC, 0x93, 0x08, 0xd2, 0xff, 0xa0);
}
