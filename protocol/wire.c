/* SPDX-License-Identifier: MIT */
/* wire.c - the peer message codec; see wire.h and docs/protocol.md section 10. */
#include "wire.h"

#include <string.h>

#include "buf.h"
#include "err.h"
#include "mp.h"

#define WIRE_MAX_STR (PX_WIRE_MAX_RECONCILE > PX_RECORD_MAX ? PX_WIRE_MAX_RECONCILE : PX_RECORD_MAX)

/*
 * The walker's limits for a message. The outer array is level 1 and a list (features,
 * ids, records) level 2. No message has a map, so PX_MP_STRKEYS does not matter; every
 * other part of the strict profile does. The count cap is the largest list (ids); the
 * per-type caps below are tighter for the other lists.
 */
static const struct px_mp_limits wire_limits = {
    .max_depth = 2,
    .max_size = PX_WIRE_MAX_MSG,
    .max_str = WIRE_MAX_STR,
    .max_count = PX_WIRE_MAX_IDS,
    .flags = PX_MP_STRICT & ~(unsigned)PX_MP_STRKEYS,
};

/* Elements of each known type's array, the type included; indexed by type. */
static const uint32_t arity[] = {
    [PX_WIRE_HELLO] = 4,     [PX_WIRE_ANNOUNCE] = 2, [PX_WIRE_WANT] = 2, [PX_WIRE_RECORDS] = 2,
    [PX_WIRE_RECONCILE] = 2, [PX_WIRE_PING] = 2,     [PX_WIRE_PONG] = 2, [PX_WIRE_BYE] = 3,
};

static bool
type_known(uint64_t t)
{
    return t >= PX_WIRE_HELLO && t <= PX_WIRE_BYE;
}

const char *
px_wire_type_name(enum px_wire_type t)
{
    switch (t) {
    case PX_WIRE_HELLO:
        return "hello";
    case PX_WIRE_ANNOUNCE:
        return "announce";
    case PX_WIRE_WANT:
        return "want";
    case PX_WIRE_RECORDS:
        return "records";
    case PX_WIRE_RECONCILE:
        return "reconcile";
    case PX_WIRE_PING:
        return "ping";
    case PX_WIRE_PONG:
        return "pong";
    case PX_WIRE_BYE:
        return "bye";
    }
    return "unknown";
}

int
px_wire_frame_len(const uint8_t hdr[4], uint32_t *len)
{
    *len = px_load_be32(hdr);
    if (*len == 0) {
        return PX_EPROTO;
    }
    if (*len > PX_WIRE_MAX_MSG) {
        return PX_ETOOBIG;
    }
    return 0;
}

/* ---- Decoding ---- */

/*
 * Reads an integer in its shortest form (unsigned forms for values >= 0, the smallest
 * signed form for negative ones) that fits in an int32_t: PX_EVALUE when it does not fit.
 * mp.c has no signed reader because no record field is signed; bye's code is.
 */
static int
read_int32(struct px_rbuf *r, int32_t *out)
{
    /* The largest value each signed form may carry canonically (see the walker). */
    static const int64_t max_s[] = {-33, -129, -32769, -2147483649LL};
    static const uint64_t min_u[] = {128, 256, 65536, UINT64_C(4294967296)};
    uint8_t b;
    uint64_t n = 0;
    int64_t v;
    unsigned i, width;
    int rc = px_rbuf_u8(r, &b);

    if (rc != 0) {
        return rc;
    }
    if (b <= 0x7f) {
        *out = b;
        return 0;
    }
    if (b >= 0xe0) {
        *out = (int32_t)b - 256;
        return 0;
    }
    if (b >= 0xcc && b <= 0xcf) {
        i = (unsigned)(b - 0xcc);
    } else if (b >= 0xd0 && b <= 0xd3) {
        i = (unsigned)(b - 0xd0);
    } else {
        return PX_ETYPE;
    }
    width = 1u << i;
    for (unsigned k = 0; k < width; k++) {
        uint8_t x;

        if ((rc = px_rbuf_u8(r, &x)) != 0) {
            return rc;
        }
        n = n << 8 | x;
    }
    if (b <= 0xcf) {
        if (n < min_u[i]) {
            return PX_ENONCANON;
        }
        if (n > INT32_MAX) {
            return PX_EVALUE;
        }
        *out = (int32_t)n;
        return 0;
    }
    /* Sign-extend without shifting a negative value. */
    if (width < 8 && (n >> (8 * width - 1)) != 0) {
        v = (int64_t)(n - ((uint64_t)1 << (8 * width)));
    } else if (width == 8 && (n >> 63) != 0) {
        v = -(int64_t)(~n) - 1;
    } else {
        v = (int64_t)n;
    }
    if (v > max_s[i]) {
        return PX_ENONCANON;
    }
    if (v < INT32_MIN) {
        return PX_EVALUE;
    }
    *out = (int32_t)v;
    return 0;
}

/* Reads a str of at most max bytes; an empty one only when allow_empty. */
static int
read_str(struct px_rbuf *r, uint32_t max, bool allow_empty, struct px_str *out)
{
    const char *s;
    uint32_t len;
    int rc = px_mp_read_str(r, &s, &len);

    if (rc != 0) {
        return rc;
    }
    if (len == 0 && !allow_empty) {
        return PX_EVALUE;
    }
    if (len > max) {
        return PX_ETOOBIG;
    }
    out->p = s;
    out->len = len;
    return 0;
}

/* Reads an array header of at most max elements. */
static int
read_list(struct px_rbuf *r, uint32_t max, uint32_t *n)
{
    int rc = px_mp_read_array(r, n);

    if (rc != 0) {
        return rc;
    }
    return *n > max ? PX_ETOOBIG : 0;
}

static int
read_hello(struct px_rbuf *r, struct px_wire_msg *msg)
{
    uint64_t v;
    uint32_t n;
    int rc;

    if ((rc = px_mp_read_uint(r, &v)) != 0) {
        return rc;
    }
    if (v > UINT32_MAX) {
        return PX_EVALUE;
    }
    msg->version = (uint32_t)v;
    if ((rc = read_list(r, PX_WIRE_MAX_FEATURES, &n)) != 0) {
        return rc;
    }
    for (uint32_t i = 0; i < n; i++) {
        if ((rc = read_str(r, PX_WIRE_MAX_FEATURE, false, &msg->features[i])) != 0) {
            return rc;
        }
    }
    msg->n_features = n;
    return read_str(r, PX_WIRE_MAX_NAME, true, &msg->name);
}

static int
read_ids(struct px_rbuf *r, struct px_wire_msg *msg)
{
    uint32_t n;
    int rc = read_list(r, PX_WIRE_MAX_IDS, &n);

    if (rc != 0) {
        return rc;
    }
    for (uint32_t i = 0; i < n; i++) {
        uint32_t len;

        if ((rc = px_mp_read_bin(r, &msg->ids[i], &len)) != 0) {
            return rc;
        }
        if (len != PX_ID_BYTES) {
            return PX_EVALUE;
        }
    }
    msg->n_ids = n;
    return 0;
}

static int
read_records(struct px_rbuf *r, struct px_wire_msg *msg)
{
    uint32_t n;
    int rc = read_list(r, PX_WIRE_MAX_RECORDS, &n);

    if (rc != 0) {
        return rc;
    }
    for (uint32_t i = 0; i < n; i++) {
        uint32_t len;

        if ((rc = px_mp_read_bin(r, &msg->records[i], &len)) != 0) {
            return rc;
        }
        if (len > PX_RECORD_MAX) {
            return PX_ETOOBIG;
        }
        msg->record_lens[i] = len;
    }
    msg->n_records = n;
    return 0;
}

static int
read_reconcile(struct px_rbuf *r, struct px_wire_msg *msg)
{
    uint32_t len;
    int rc = px_mp_read_bin(r, &msg->neg, &len);

    if (rc != 0) {
        return rc;
    }
    if (len > PX_WIRE_MAX_RECONCILE) {
        return PX_ETOOBIG;
    }
    msg->neg_len = len;
    return 0;
}

static int
read_bye(struct px_rbuf *r, struct px_wire_msg *msg)
{
    int rc = read_int32(r, &msg->code);

    if (rc != 0) {
        return rc;
    }
    return read_str(r, PX_WIRE_MAX_REASON, true, &msg->reason);
}

/* Resets the scalar fields; the arrays are only meaningful up to their counts. */
static void
clear_msg(struct px_wire_msg *msg)
{
    msg->type = (enum px_wire_type)0;
    msg->version = 0;
    msg->n_features = 0;
    msg->name.p = NULL;
    msg->name.len = 0;
    msg->n_ids = 0;
    msg->n_records = 0;
    msg->neg = NULL;
    msg->neg_len = 0;
    msg->nonce = 0;
    msg->code = 0;
    msg->reason.p = NULL;
    msg->reason.len = 0;
}

int
px_wire_decode(const uint8_t *p, size_t len, struct px_wire_msg *msg)
{
    struct px_rbuf r;
    uint32_t count;
    uint64_t t;
    int rc;

    clear_msg(msg);
    /* Nothing reaches the cursor readers before the walker has bounded the whole message. */
    if ((rc = px_mp_check_exact(p, len, &wire_limits)) != 0) {
        return rc;
    }
    px_rbuf_init(&r, p, len);
    if ((rc = px_mp_read_array(&r, &count)) != 0) {
        return rc;
    }
    if (count == 0) {
        return PX_EVALUE; /* not even a type */
    }
    if ((rc = px_mp_read_uint(&r, &t)) != 0) {
        return rc;
    }
    if (!type_known(t)) {
        /* Well-formed (the walker said so) but not ours: the caller decides. */
        return PX_EUNKNOWN;
    }
    if (count != arity[t]) {
        return PX_EVALUE;
    }
    msg->type = (enum px_wire_type)t;
    switch (msg->type) {
    case PX_WIRE_HELLO:
        rc = read_hello(&r, msg);
        break;
    case PX_WIRE_ANNOUNCE:
    case PX_WIRE_WANT:
        rc = read_ids(&r, msg);
        break;
    case PX_WIRE_RECORDS:
        rc = read_records(&r, msg);
        break;
    case PX_WIRE_RECONCILE:
        rc = read_reconcile(&r, msg);
        break;
    case PX_WIRE_PING:
    case PX_WIRE_PONG:
        rc = px_mp_read_uint(&r, &msg->nonce);
        break;
    case PX_WIRE_BYE:
        rc = read_bye(&r, msg);
        break;
    }
    if (rc != 0) {
        return rc;
    }
    return px_rbuf_end(&r);
}

/* ---- Encoding ---- */

/* The shortest form of a signed integer: unsigned forms for v >= 0. */
static int
write_int(struct px_wbuf *w, int64_t v)
{
    uint8_t b[9];
    unsigned width;

    if (v >= 0) {
        return px_mp_write_uint(w, (uint64_t)v);
    }
    if (v >= -32) {
        return px_wbuf_u8(w, (uint8_t)(v + 256));
    }
    if (v >= INT8_MIN) {
        b[0] = 0xd0;
        width = 1;
    } else if (v >= INT16_MIN) {
        b[0] = 0xd1;
        width = 2;
    } else if (v >= INT32_MIN) {
        b[0] = 0xd2;
        width = 4;
    } else {
        b[0] = 0xd3;
        width = 8;
    }
    /* Two's complement bytes, big-endian, computed on the unsigned value. */
    for (unsigned k = 0; k < width; k++) {
        b[1 + k] = (uint8_t)((uint64_t)v >> (8 * (width - 1 - k)));
    }
    return px_wbuf_put(w, b, 1 + width);
}

/* A str the decoder accepts: within max, non-empty unless allowed, valid UTF-8. */
static bool
str_ok(struct px_str s, uint32_t max, bool allow_empty)
{
    if (s.len > max || (s.len == 0 && !allow_empty)) {
        return false;
    }
    if (s.len > 0 && s.p == NULL) {
        return false;
    }
    return px_utf8_valid((const uint8_t *)s.p, s.len);
}

/* Refuses, before writing anything, every field the decoder would refuse. */
static int
check_msg(const struct px_wire_msg *msg)
{
    switch (msg->type) {
    case PX_WIRE_HELLO:
        if (msg->n_features > PX_WIRE_MAX_FEATURES) {
            return PX_EINVAL;
        }
        for (uint32_t i = 0; i < msg->n_features; i++) {
            if (!str_ok(msg->features[i], PX_WIRE_MAX_FEATURE, false)) {
                return PX_EINVAL;
            }
        }
        return str_ok(msg->name, PX_WIRE_MAX_NAME, true) ? 0 : PX_EINVAL;
    case PX_WIRE_ANNOUNCE:
    case PX_WIRE_WANT:
        if (msg->n_ids > PX_WIRE_MAX_IDS) {
            return PX_EINVAL;
        }
        for (uint32_t i = 0; i < msg->n_ids; i++) {
            if (msg->ids[i] == NULL) {
                return PX_EINVAL;
            }
        }
        return 0;
    case PX_WIRE_RECORDS:
        if (msg->n_records > PX_WIRE_MAX_RECORDS) {
            return PX_EINVAL;
        }
        for (uint32_t i = 0; i < msg->n_records; i++) {
            if (msg->record_lens[i] > PX_RECORD_MAX ||
                (msg->record_lens[i] > 0 && msg->records[i] == NULL)) {
                return PX_EINVAL;
            }
        }
        return 0;
    case PX_WIRE_RECONCILE:
        if (msg->neg_len > PX_WIRE_MAX_RECONCILE || (msg->neg_len > 0 && msg->neg == NULL)) {
            return PX_EINVAL;
        }
        return 0;
    case PX_WIRE_PING:
    case PX_WIRE_PONG:
        return 0;
    case PX_WIRE_BYE:
        return str_ok(msg->reason, PX_WIRE_MAX_REASON, true) ? 0 : PX_EINVAL;
    }
    return PX_EINVAL; /* an unknown type */
}

static int
write_body(struct px_wbuf *w, const struct px_wire_msg *msg)
{
    int rc;

    if ((rc = px_mp_write_array(w, arity[msg->type])) != 0 ||
        (rc = px_mp_write_uint(w, msg->type)) != 0) {
        return rc;
    }
    switch (msg->type) {
    case PX_WIRE_HELLO:
        if ((rc = px_mp_write_uint(w, msg->version)) != 0 ||
            (rc = px_mp_write_array(w, msg->n_features)) != 0) {
            return rc;
        }
        for (uint32_t i = 0; i < msg->n_features; i++) {
            if ((rc = px_mp_write_str(w, msg->features[i].p, msg->features[i].len)) != 0) {
                return rc;
            }
        }
        return px_mp_write_str(w, msg->name.p, msg->name.len);
    case PX_WIRE_ANNOUNCE:
    case PX_WIRE_WANT:
        if ((rc = px_mp_write_array(w, msg->n_ids)) != 0) {
            return rc;
        }
        for (uint32_t i = 0; i < msg->n_ids; i++) {
            if ((rc = px_mp_write_bin(w, msg->ids[i], PX_ID_BYTES)) != 0) {
                return rc;
            }
        }
        return 0;
    case PX_WIRE_RECORDS:
        if ((rc = px_mp_write_array(w, msg->n_records)) != 0) {
            return rc;
        }
        for (uint32_t i = 0; i < msg->n_records; i++) {
            if ((rc = px_mp_write_bin(w, msg->records[i], msg->record_lens[i])) != 0) {
                return rc;
            }
        }
        return 0;
    case PX_WIRE_RECONCILE:
        return px_mp_write_bin(w, msg->neg, msg->neg_len);
    case PX_WIRE_PING:
    case PX_WIRE_PONG:
        return px_mp_write_uint(w, msg->nonce);
    case PX_WIRE_BYE:
        if ((rc = write_int(w, msg->code)) != 0) {
            return rc;
        }
        return px_mp_write_str(w, msg->reason.p, msg->reason.len);
    }
    return PX_EINVAL;
}

int
px_wire_encode(const struct px_wire_msg *msg, uint8_t *out, size_t cap, size_t *len)
{
    static const uint8_t zero[4];
    struct px_wbuf w;
    int rc;

    if ((rc = check_msg(msg)) != 0) {
        return rc;
    }
    /* Capping the writer at the largest frame makes "over PX_WIRE_MAX_MSG" a full buffer. */
    if (cap > 4 + (size_t)PX_WIRE_MAX_MSG) {
        cap = 4 + (size_t)PX_WIRE_MAX_MSG;
    }
    px_wbuf_init(&w, out, cap);
    if ((rc = px_wbuf_put(&w, zero, sizeof(zero))) != 0 || (rc = write_body(&w, msg)) != 0) {
        return rc;
    }
    px_store_be32(out, (uint32_t)(w.len - 4));
    *len = w.len;
    return 0;
}
