/* SPDX-License-Identifier: MIT */
/*
 * fuzz_boxstream.c - libFuzzer target for the box-stream opener.
 *
 * The first byte picks a key and starting nonce (bits 0-1: those of the vectors
 * zero_key_zero_nonce, nonce_wraparound, one_byte and small_frames in
 * ../shared/vectors/boxstream.json, so the seed corpus can hold their ciphertexts) and a
 * piece size for incremental feeding (bits 2-4); the rest is the received stream.
 *
 * Properties, for any input:
 *   - round trip: every frame that opens, sealed again from its plaintext by a sealer in
 *     step with the opener, gives exactly the bytes that were received (header and body),
 *     and the goodbye likewise;
 *   - the outcome (the chunks, the error code or the clean end) is the same when the
 *     stream is fed whole, in pieces, or through the frame-by-frame functions;
 *   - only documented codes come out, a clean end has consumed every byte, and no chunk
 *     is empty or longer than 4096 bytes.
 * A broken property prints what broke and aborts.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/boxstream.h"
#include "protocol/err.h"
#include "protocol/sign.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct config {
    uint8_t key[32], nonce[24];
};

static const struct config configs[4] = {
    /* zero_key_zero_nonce */
    {{0}, {0}},
    /* nonce_wraparound: the nonce is all 0xff (set in setup) */
    {{0xeb, 0xfe, 0x78, 0x87, 0x8a, 0x85, 0xb1, 0xde, 0x51, 0x2b, 0xa4,
      0x79, 0x09, 0x82, 0x2e, 0x82, 0x92, 0xc5, 0xd8, 0xe8, 0xaf, 0x58,
      0x45, 0x3f, 0x19, 0x06, 0x09, 0x9f, 0x79, 0xf7, 0x3e, 0x79},
     {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
      0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}},
    /* one_byte (also trailing_bytes_after_goodbye, oversized_frame_5000, zero_length_frame) */
    {{0xca, 0x60, 0xc7, 0xa0, 0xf1, 0x0f, 0x40, 0x7d, 0xd3, 0xa3, 0x38,
      0x26, 0xcd, 0x85, 0x07, 0xa9, 0x91, 0x7c, 0x94, 0x40, 0x80, 0xc5,
      0x2b, 0xe7, 0x93, 0xab, 0x21, 0xb1, 0xa2, 0x46, 0x60, 0xc1},
     {0xf4, 0x6a, 0xa0, 0xc4, 0x7f, 0xe1, 0x93, 0x9d, 0xdf, 0xb8, 0x84, 0xf2,
      0x6f, 0x41, 0x94, 0x37, 0x99, 0xb4, 0xa1, 0xcb, 0x3a, 0xea, 0xed, 0x6c}},
    /* small_frames (and most decrypt-side cases) */
    {{0x5e, 0x2c, 0xa0, 0x84, 0x61, 0x6e, 0xe2, 0xcc, 0x06, 0x59, 0x06,
      0x6e, 0x6b, 0x84, 0xa6, 0xeb, 0x55, 0x65, 0x2d, 0xef, 0xf2, 0xff,
      0x58, 0x91, 0x69, 0x74, 0x56, 0xc1, 0x86, 0xa6, 0xb2, 0xca},
     {0x7e, 0x6c, 0xbb, 0x62, 0x72, 0x2b, 0x54, 0xf2, 0x47, 0xb6, 0x67, 0xe2,
      0x55, 0x7f, 0xcd, 0xff, 0xee, 0x42, 0xcd, 0xe3, 0xf8, 0x47, 0x4e, 0xca}},
};

static const size_t steps[8] = {SIZE_MAX, 1, 2, 7, 33, 34, 35, PX_BOXSTREAM_MAX_FRAME};

/* What one way of reading the stream saw. */
struct result {
    int rc;
    bool goodbye;
    size_t nchunks;
    size_t out_len; /* bytes of plaintext, concatenated in out */
    uint8_t *out;
    size_t lens[64]; /* the first chunk lengths, to compare the chunking */
};

static void
fail(const char *what, int rc)
{
    fprintf(stderr, "fuzz_boxstream: broken property: %s (rc %s)\n", what, px_err_name(rc));
    abort();
}

static void
add_chunk(struct result *r, const uint8_t *p, size_t n)
{
    if (n == 0 || n > PX_BOXSTREAM_MAX_BODY) {
        fail("a chunk of a length outside 1..4096", 0);
    }
    memcpy(r->out + r->out_len, p, n);
    r->out_len += n;
    if (r->nchunks < sizeof(r->lens) / sizeof(r->lens[0])) {
        r->lens[r->nchunks] = n;
    }
    r->nchunks++;
}

static void
check_code(int rc)
{
    if (rc != 0 && rc != PX_EPROTO && rc != PX_ETOOBIG && rc != PX_ETRUNC && rc != PX_ETRAILING) {
        fail("an undocumented error code", rc);
    }
}

/* Feeds in[0..len) in pieces of step bytes; with reseal, checks every frame's round trip. */
static void
run_feed(const struct config *cf, const uint8_t *in, size_t len, size_t step, bool reseal,
         struct result *r)
{
    struct px_boxstream_opener o;
    struct px_boxstream_sealer s;
    static uint8_t frame[PX_BOXSTREAM_MAX_FRAME];
    size_t off = 0, frame_start = 0;
    int rc = 0;

    px_boxstream_opener_init(&o, cf->key, cf->nonce);
    px_boxstream_sealer_init(&s, cf->key, cf->nonce);
    while (off < len) {
        size_t n = len - off < step ? len - off : step, used, clen, flen;
        enum px_boxstream_event ev;
        const uint8_t *chunk;

        rc = px_boxstream_feed(&o, in + off, n, &used, &ev, &chunk, &clen);
        if (used > n) {
            fail("feed consumed more than it was given", rc);
        }
        off += used;
        if (rc != 0) {
            break;
        }
        if (ev == PX_BOXSTREAM_NEED_MORE) {
            if (used != n) {
                fail("NEED_MORE without consuming everything", 0);
            }
            continue;
        }
        if (ev == PX_BOXSTREAM_CHUNK) {
            add_chunk(r, chunk, clen);
            if (reseal) {
                if (px_boxstream_seal(&s, chunk, clen, frame, sizeof(frame), &flen) != 0) {
                    fail("an opened chunk does not seal", 0);
                }
                if (flen != off - frame_start || memcmp(frame, in + frame_start, flen) != 0) {
                    fail("seal(open(frame)) differs from the frame", 0);
                }
            }
        } else if (ev == PX_BOXSTREAM_GOODBYE) {
            r->goodbye = true;
            if (reseal) {
                if (px_boxstream_seal_goodbye(&s, frame) != 0) {
                    fail("the goodbye does not seal", 0);
                }
                if (off - frame_start != PX_BOXSTREAM_HEADER_BYTES ||
                    memcmp(frame, in + frame_start, PX_BOXSTREAM_HEADER_BYTES) != 0) {
                    fail("seal(goodbye) differs from the goodbye received", 0);
                }
            }
        } else {
            fail("an unknown event", 0);
        }
        frame_start = off;
    }
    if (rc == 0) {
        rc = px_boxstream_opener_end(&o);
        if (rc == 0 && (!r->goodbye || off != len)) {
            fail("a clean end without the goodbye or with bytes left", 0);
        }
    }
    check_code(rc);
    r->rc = rc;
    px_boxstream_opener_fini(&o);
    px_boxstream_sealer_fini(&s);
}

/* The same stream through open_header/open_body, buffering as a caller would. */
static void
run_frames(const struct config *cf, const uint8_t *in, size_t len, struct result *r)
{
    struct px_boxstream_opener o;
    static uint8_t body[PX_BOXSTREAM_MAX_BODY];
    size_t off = 0;
    int rc = 0;

    px_boxstream_opener_init(&o, cf->key, cf->nonce);
    for (;;) {
        size_t body_len;
        bool goodbye;

        if (len - off < PX_BOXSTREAM_HEADER_BYTES) {
            rc = px_boxstream_opener_end(&o);
            break;
        }
        if ((rc = px_boxstream_open_header(&o, in + off, &body_len, &goodbye)) != 0) {
            break;
        }
        off += PX_BOXSTREAM_HEADER_BYTES;
        if (goodbye) {
            r->goodbye = true;
            /* The caller's rule: nothing may follow the goodbye. */
            rc = off < len ? PX_ETRAILING : 0;
            break;
        }
        if (body_len == 0 || body_len > PX_BOXSTREAM_MAX_BODY) {
            fail("a header announced a length outside 1..4096", 0);
        }
        if (len - off < body_len) {
            rc = px_boxstream_opener_end(&o);
            break;
        }
        if ((rc = px_boxstream_open_body(&o, in + off, body_len, body)) != 0) {
            break;
        }
        add_chunk(r, body, body_len);
        off += body_len;
    }
    check_code(rc);
    r->rc = rc;
    px_boxstream_opener_fini(&o);
}

static void
same(const struct result *a, const struct result *b, const char *what)
{
    size_t n = a->nchunks < 64 ? a->nchunks : 64;

    if (a->rc != b->rc || a->goodbye != b->goodbye || a->nchunks != b->nchunks ||
        a->out_len != b->out_len || memcmp(a->out, b->out, a->out_len) != 0 ||
        memcmp(a->lens, b->lens, n * sizeof(a->lens[0])) != 0) {
        fprintf(stderr, "rc %s/%s, chunks %zu/%zu, bytes %zu/%zu\n", px_err_name(a->rc),
                px_err_name(b->rc), a->nchunks, b->nchunks, a->out_len, b->out_len);
        fail(what, a->rc);
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool ready;
    struct result whole, pieces, frames;
    const struct config *cf;
    size_t step;

    if (!ready) {
        if (px_crypto_init() != 0) {
            abort();
        }
        ready = true;
    }
    if (size == 0) {
        return 0;
    }
    cf = &configs[data[0] & 3];
    step = steps[(data[0] >> 2) & 7];
    data++;
    size--;

    memset(&whole, 0, sizeof(whole));
    memset(&pieces, 0, sizeof(pieces));
    memset(&frames, 0, sizeof(frames));
    whole.out = malloc(size + 1);
    pieces.out = malloc(size + 1);
    frames.out = malloc(size + 1);
    if (whole.out == NULL || pieces.out == NULL || frames.out == NULL) {
        abort();
    }
    run_feed(cf, data, size, SIZE_MAX, true, &whole);
    run_feed(cf, data, size, step, false, &pieces);
    run_frames(cf, data, size, &frames);
    same(&whole, &pieces, "fed whole and in pieces differ");
    same(&whole, &frames, "feed and the frame functions differ");
    free(whole.out);
    free(pieces.out);
    free(frames.out);
    return 0;
}
