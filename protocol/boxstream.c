/* SPDX-License-Identifier: MIT */
/*
 * boxstream.c - box-stream sealing and opening; see boxstream.h and docs/protocol.md section 9.
 *
 * A frame's length is only known once its header has authenticated, so the opener checks
 * it at that point, against PX_BOXSTREAM_MAX_BODY, before anything of the body is
 * buffered or opened. px_boxstream_feed keeps at most one header or one body (4096 bytes)
 * in its own fixed buffer and never allocates.
 */
#include "boxstream.h"

#include <string.h>

#include <sodium.h>

#include "err.h"
#include "sign.h"

/* The 18 bytes inside a header: len_be16 || body MAC. */
#define HEADER_PLAIN (2 + PX_BOXSTREAM_MAC_BYTES)

enum opener_step {
    O_FAILED = 0,
    O_HEADER, /* a header is due */
    O_BODY,   /* the body announced by the last header is due */
    O_END,    /* the goodbye has opened */
};

void
px_boxstream_nonce_increment(uint8_t nonce[PX_BOXSTREAM_NONCE_BYTES])
{
    /* Big-endian, as increment-buffer does it: carry from the last byte leftwards. */
    for (size_t i = PX_BOXSTREAM_NONCE_BYTES; i-- > 0;) {
        if (++nonce[i] != 0) {
            return;
        }
    }
    /* All bytes carried: the nonce wrapped to zero, as the reference lets it. */
}

/* ---- sealer ---- */

void
px_boxstream_sealer_init(struct px_boxstream_sealer *s, const uint8_t key[PX_BOXSTREAM_KEY_BYTES],
                         const uint8_t nonce[PX_BOXSTREAM_NONCE_BYTES])
{
    memcpy(s->key, key, sizeof(s->key));
    memcpy(s->nonce, nonce, sizeof(s->nonce));
    s->closed = false;
}

int
px_boxstream_seal(struct px_boxstream_sealer *s, const uint8_t *in, size_t len, uint8_t *out,
                  size_t cap, size_t *out_len)
{
    uint8_t plain[HEADER_PLAIN], body_nonce[PX_BOXSTREAM_NONCE_BYTES];

    if (s->closed || len == 0) {
        return PX_EINVAL;
    }
    if (len > PX_BOXSTREAM_MAX_BODY || cap < PX_BOXSTREAM_HEADER_BYTES ||
        cap - PX_BOXSTREAM_HEADER_BYTES < len) {
        return PX_ETOOBIG;
    }
    memcpy(body_nonce, s->nonce, sizeof(body_nonce));
    px_boxstream_nonce_increment(body_nonce);

    plain[0] = (uint8_t)(len >> 8);
    plain[1] = (uint8_t)len;
    crypto_secretbox_detached(out + PX_BOXSTREAM_HEADER_BYTES, plain + 2, in, len, body_nonce,
                              s->key);
    crypto_secretbox_easy(out, plain, sizeof(plain), s->nonce, s->key);

    /* The next header nonce is this one + 2, i.e. the body nonce + 1. */
    px_boxstream_nonce_increment(body_nonce);
    memcpy(s->nonce, body_nonce, sizeof(s->nonce));
    *out_len = PX_BOXSTREAM_HEADER_BYTES + len;
    return 0;
}

int
px_boxstream_seal_goodbye(struct px_boxstream_sealer *s, uint8_t out[PX_BOXSTREAM_HEADER_BYTES])
{
    static const uint8_t zero[HEADER_PLAIN];

    if (s->closed) {
        return PX_EINVAL;
    }
    crypto_secretbox_easy(out, zero, sizeof(zero), s->nonce, s->key);
    s->closed = true;
    return 0;
}

void
px_boxstream_sealer_fini(struct px_boxstream_sealer *s)
{
    px_wipe(s, sizeof(*s));
    s->closed = true;
}

/* ---- opener ---- */

void
px_boxstream_opener_init(struct px_boxstream_opener *o, const uint8_t key[PX_BOXSTREAM_KEY_BYTES],
                         const uint8_t nonce[PX_BOXSTREAM_NONCE_BYTES])
{
    memset(o, 0, sizeof(*o));
    memcpy(o->key, key, sizeof(o->key));
    memcpy(o->nonce, nonce, sizeof(o->nonce));
    o->step = O_HEADER;
}

/* Every failure is final: it wipes the key and whatever was buffered. */
static int
fail(struct px_boxstream_opener *o, int rc, const char *why)
{
    px_wipe(o->key, sizeof(o->key));
    px_wipe(o->buf, sizeof(o->buf));
    o->have = 0;
    o->step = O_FAILED;
    o->err = rc;
    o->why = why;
    return rc;
}

static int
open_header(struct px_boxstream_opener *o, const uint8_t in[PX_BOXSTREAM_HEADER_BYTES],
            size_t *body_len, bool *goodbye)
{
    uint8_t plain[HEADER_PLAIN];
    size_t len;

    if (o->step != O_HEADER) {
        return PX_EINVAL;
    }
    if (crypto_secretbox_open_easy(plain, in, PX_BOXSTREAM_HEADER_BYTES, o->nonce, o->key) != 0) {
        return fail(o, PX_EPROTO, PX_BOXSTREAM_WHY_HEADER);
    }
    /* Only an all-zero plaintext is a goodbye; a zero length with a MAC is not. */
    if (sodium_is_zero(plain, sizeof(plain))) {
        o->step = O_END;
        *goodbye = true;
        *body_len = 0;
        return 0;
    }
    len = (size_t)plain[0] << 8 | plain[1];
    if (len == 0) {
        return fail(o, PX_EPROTO, PX_BOXSTREAM_WHY_ZERO);
    }
    if (len > PX_BOXSTREAM_MAX_BODY) {
        return fail(o, PX_ETOOBIG, PX_BOXSTREAM_WHY_TOOBIG);
    }
    memcpy(o->body_mac, plain + 2, sizeof(o->body_mac));
    o->body_len = len;
    px_boxstream_nonce_increment(o->nonce);
    o->step = O_BODY;
    *goodbye = false;
    *body_len = len;
    return 0;
}

static int
open_body(struct px_boxstream_opener *o, const uint8_t *in, size_t len, uint8_t *out)
{
    if (o->step != O_BODY || len != o->body_len) {
        return PX_EINVAL;
    }
    if (crypto_secretbox_open_detached(out, in, o->body_mac, len, o->nonce, o->key) != 0) {
        return fail(o, PX_EPROTO, PX_BOXSTREAM_WHY_BODY);
    }
    px_boxstream_nonce_increment(o->nonce);
    o->step = O_HEADER;
    return 0;
}

int
px_boxstream_open_header(struct px_boxstream_opener *o, const uint8_t in[PX_BOXSTREAM_HEADER_BYTES],
                         size_t *body_len, bool *goodbye)
{
    if (o->feeding) {
        return PX_EINVAL;
    }
    return open_header(o, in, body_len, goodbye);
}

int
px_boxstream_open_body(struct px_boxstream_opener *o, const uint8_t *in, size_t len, uint8_t *out)
{
    if (o->feeding) {
        return PX_EINVAL;
    }
    return open_body(o, in, len, out);
}

/* Moves up to want - o->have bytes from in[*off..len) into the buffer. */
static bool
gather(struct px_boxstream_opener *o, size_t want, const uint8_t *in, size_t len, size_t *off)
{
    size_t take = want - o->have;

    if (take > len - *off) {
        take = len - *off;
    }
    if (take > 0) {
        memcpy(o->buf + o->have, in + *off, take);
        o->have += take;
        *off += take;
    }
    return o->have == want;
}

int
px_boxstream_feed(struct px_boxstream_opener *o, const uint8_t *in, size_t len, size_t *used,
                  enum px_boxstream_event *ev, const uint8_t **chunk, size_t *chunk_len)
{
    size_t off = 0, body_len;
    bool goodbye;
    int rc = 0;

    *used = 0;
    *ev = PX_BOXSTREAM_NEED_MORE;
    *chunk = NULL;
    *chunk_len = 0;
    if (o->step == O_FAILED) {
        return o->err != 0 ? o->err : PX_EINVAL;
    }
    if (!o->feeding && o->step != O_HEADER) {
        return PX_EINVAL; /* the frame functions were used on this opener */
    }
    o->feeding = true;
    if (o->step == O_END) {
        if (len > 0) {
            return fail(o, PX_ETRAILING, PX_BOXSTREAM_WHY_TRAILING);
        }
        *ev = PX_BOXSTREAM_GOODBYE;
        return 0;
    }
    if (o->step == O_HEADER) {
        if (!gather(o, PX_BOXSTREAM_HEADER_BYTES, in, len, &off)) {
            goto out;
        }
        o->have = 0;
        if ((rc = open_header(o, o->buf, &body_len, &goodbye)) != 0) {
            goto out;
        }
        if (goodbye) {
            *ev = PX_BOXSTREAM_GOODBYE;
            goto out;
        }
    }
    /* O_BODY: o->body_len is 1..4096, which is the size of buf. */
    if (!gather(o, o->body_len, in, len, &off)) {
        goto out;
    }
    o->have = 0;
    if ((rc = open_body(o, o->buf, o->body_len, o->buf)) != 0) {
        goto out;
    }
    *ev = PX_BOXSTREAM_CHUNK;
    *chunk = o->buf;
    *chunk_len = o->body_len;
out:
    *used = off;
    return rc;
}

int
px_boxstream_opener_end(struct px_boxstream_opener *o)
{
    if (o->step == O_END) {
        return 0;
    }
    if (o->step == O_FAILED) {
        return o->err != 0 ? o->err : PX_EINVAL;
    }
    return fail(o, PX_ETRUNC, PX_BOXSTREAM_WHY_EOF);
}

bool
px_boxstream_opener_done(const struct px_boxstream_opener *o)
{
    return o->step == O_END;
}

const char *
px_boxstream_opener_why(const struct px_boxstream_opener *o)
{
    return o->why;
}

void
px_boxstream_opener_fini(struct px_boxstream_opener *o)
{
    px_wipe(o, sizeof(*o));
}
