/* SPDX-License-Identifier: MIT */
/*
 * test_boxstream.c - box-stream framing against ../shared/vectors/boxstream.json (the
 * outputs of pull-box-stream 1.0.13): every encrypt case byte for byte, every decrypt-side
 * case fed whole, one byte at a time and in 7-byte pieces, with our stricter choices for
 * the three "reference-behaviour" cases; plus the nonce arithmetic and API misuse.
 */
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <jansson.h>

#include "protocol/boxstream.h"
#include "protocol/buf.h"
#include "protocol/err.h"
#include "protocol/sign.h"
#include "util/testutil.h"

static void
crypto_setup(void)
{
    cr_assert_eq(px_crypto_init(), 0);
}

TestSuite(boxstream, .init = crypto_setup);

/* ---- JSON helpers ---- */

static json_t *
load_vectors(void)
{
    char *path = px_test_shared_vector("boxstream.json");
    json_error_t jerr;
    json_t *root;

    cr_assert_not_null(path);
    root = json_load_file(path, 0, &jerr);
    cr_assert_not_null(root, "%s: %s (line %d)", path, jerr.text, jerr.line);
    free(path);
    return root;
}

static const char *
str_field(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);

    cr_assert(json_is_string(v), "field %s missing or not a string", key);
    return json_string_value(v);
}

/* Decodes a hex string of any length into a malloc'd buffer (at least 1 byte). */
static uint8_t *
unhex_dup(const char *hex, size_t *len)
{
    size_t n = strlen(hex) / 2;
    uint8_t *out = malloc(n > 0 ? n : 1);

    cr_assert_not_null(out);
    cr_assert_eq(strlen(hex) % 2, 0);
    cr_assert_eq(px_hex_decode(hex, strlen(hex), out, n), 0, "bad hex");
    *len = n;
    return out;
}

static uint8_t *
hex_field_dup(json_t *obj, const char *key, size_t *len)
{
    return unhex_dup(str_field(obj, key), len);
}

static void
hex_field(json_t *obj, const char *key, uint8_t *out, size_t n)
{
    const char *hex = str_field(obj, key);

    cr_assert_eq(strlen(hex), 2 * n, "field %s is not %zu bytes", key, n);
    cr_assert_eq(px_hex_decode(hex, 2 * n, out, n), 0);
}

/* ---- a growing byte buffer and a list of chunks ---- */

struct bytes {
    uint8_t *p;
    size_t len, cap;
};

static void
bytes_put(struct bytes *b, const uint8_t *p, size_t n)
{
    if (b->len + n > b->cap || b->p == NULL) {
        size_t cap = b->cap == 0 ? 256 : b->cap;

        while (cap < b->len + n) {
            cap *= 2;
        }
        b->p = realloc(b->p, cap);
        cr_assert_not_null(b->p);
        b->cap = cap;
    }
    if (n > 0) {
        memcpy(b->p + b->len, p, n);
    }
    b->len += n;
}

#define MAX_CHUNKS 64

struct chunks {
    size_t n;
    struct bytes c[MAX_CHUNKS];
};

static void
chunks_free(struct chunks *cs)
{
    for (size_t i = 0; i < cs->n; i++) {
        free(cs->c[i].p);
    }
    memset(cs, 0, sizeof(*cs));
}

/* Compares the chunks with a JSON array of hex strings. */
static void
chunks_expect(const struct chunks *cs, json_t *arr, const char *name, const char *mode)
{
    cr_assert(json_is_array(arr));
    cr_assert_eq(cs->n, json_array_size(arr), "%s (%s): %zu chunks, expected %zu", name, mode,
                 cs->n, json_array_size(arr));
    for (size_t i = 0; i < cs->n; i++) {
        size_t len;
        uint8_t *want = unhex_dup(json_string_value(json_array_get(arr, i)), &len);

        cr_assert_eq(cs->c[i].len, len, "%s (%s): chunk %zu has %zu bytes, expected %zu", name,
                     mode, i, cs->c[i].len, len);
        cr_assert(len == 0 || memcmp(cs->c[i].p, want, len) == 0, "%s (%s): chunk %zu differs",
                  name, mode, i);
        free(want);
    }
}

/* ---- driving the opener ---- */

struct outcome {
    int rc; /* 0: a clean end after the goodbye */
    const char *why;
    struct chunks chunks;
};

/*
 * Feeds ct[0..len) to a fresh opener in pieces of `step` bytes, then tells it the input
 * ended. Records the chunks it yields and the first error.
 */
static void
feed_all(const uint8_t key[32], const uint8_t nonce[24], const uint8_t *ct, size_t len, size_t step,
         struct outcome *out)
{
    struct px_boxstream_opener o;
    size_t off = 0;
    int rc = 0;

    memset(out, 0, sizeof(*out));
    px_boxstream_opener_init(&o, key, nonce);
    while (off < len) {
        size_t n = len - off < step ? len - off : step, used = 0, clen = 0;
        enum px_boxstream_event ev;
        const uint8_t *chunk = NULL;

        rc = px_boxstream_feed(&o, ct + off, n, &used, &ev, &chunk, &clen);
        cr_assert_leq(used, n);
        off += used;
        if (rc != 0) {
            break;
        }
        if (ev == PX_BOXSTREAM_NEED_MORE) {
            cr_assert_eq(used, n, "NEED_MORE must consume everything");
        } else if (ev == PX_BOXSTREAM_CHUNK) {
            cr_assert(clen >= 1 && clen <= PX_BOXSTREAM_MAX_BODY);
            cr_assert_lt(out->chunks.n, MAX_CHUNKS);
            bytes_put(&out->chunks.c[out->chunks.n++], chunk, clen);
        } else {
            cr_assert_eq(ev, PX_BOXSTREAM_GOODBYE);
            cr_assert(px_boxstream_opener_done(&o));
        }
    }
    if (rc == 0) {
        rc = px_boxstream_opener_end(&o);
    } else {
        /* Every error is final: the opener refuses anything more, with the same code. */
        size_t used;
        enum px_boxstream_event ev;
        const uint8_t *chunk;
        size_t clen;

        cr_assert_eq(px_boxstream_feed(&o, ct, len > 0 ? 1 : 0, &used, &ev, &chunk, &clen), rc);
        cr_assert_eq(used, 0);
        cr_assert_eq(px_boxstream_opener_end(&o), rc);
    }
    out->rc = rc;
    out->why = px_boxstream_opener_why(&o);
    px_boxstream_opener_fini(&o);
}

/* Seals a list of writes as the reference writer does: 4096-byte pieces, empty skipped. */
static void
seal_writes(const uint8_t key[32], const uint8_t nonce[24], json_t *writes, struct bytes *wire)
{
    struct px_boxstream_sealer s;
    uint8_t frame[PX_BOXSTREAM_MAX_FRAME], bye[PX_BOXSTREAM_HEADER_BYTES];

    px_boxstream_sealer_init(&s, key, nonce);
    for (size_t i = 0; i < json_array_size(writes); i++) {
        size_t len, frame_len;
        uint8_t *pt = unhex_dup(json_string_value(json_array_get(writes, i)), &len);

        for (size_t off = 0; off < len; off += PX_BOXSTREAM_MAX_BODY) {
            size_t n = len - off < PX_BOXSTREAM_MAX_BODY ? len - off : PX_BOXSTREAM_MAX_BODY;

            cr_assert_eq(px_boxstream_seal(&s, pt + off, n, frame, sizeof(frame), &frame_len), 0);
            cr_assert_eq(frame_len, PX_BOXSTREAM_FRAME_BYTES(n));
            bytes_put(wire, frame, frame_len);
        }
        free(pt);
    }
    cr_assert_eq(px_boxstream_seal_goodbye(&s, bye), 0);
    bytes_put(wire, bye, sizeof(bye));
    px_boxstream_sealer_fini(&s);
}

/* Opens a case's frames with the frame-by-frame API at the recorded offsets. */
static void
open_frames(json_t *c, const uint8_t key[32], const uint8_t nonce[24], const uint8_t *ct,
            size_t ct_len)
{
    const char *name = str_field(c, "name");
    json_t *frames = json_object_get(c, "frames");
    struct px_boxstream_opener o;
    uint8_t body[PX_BOXSTREAM_MAX_BODY];
    size_t end = 0;

    px_boxstream_opener_init(&o, key, nonce);
    for (size_t i = 0; i < json_array_size(frames); i++) {
        json_t *f = json_array_get(frames, i);
        size_t off = (size_t)json_integer_value(json_object_get(f, "offset")), body_len = 99;
        bool goodbye = true, want_bye = json_is_true(json_object_get(f, "goodbye"));

        cr_assert_leq(off + PX_BOXSTREAM_HEADER_BYTES, ct_len);
        cr_assert_eq(px_boxstream_open_header(&o, ct + off, &body_len, &goodbye), 0,
                     "%s: frame %zu header", name, i);
        cr_assert_eq(goodbye, want_bye, "%s: frame %zu goodbye flag", name, i);
        end = off + PX_BOXSTREAM_HEADER_BYTES;
        if (!want_bye) {
            cr_assert_eq(body_len, (size_t)json_integer_value(json_object_get(f, "length")));
            cr_assert_leq(end + body_len, ct_len);
            cr_assert_eq(px_boxstream_open_body(&o, ct + end, body_len, body), 0,
                         "%s: frame %zu body", name, i);
            end += body_len;
        }
    }
    cr_assert_eq(end, ct_len, "%s: the goodbye ends the ciphertext", name);
    cr_assert(px_boxstream_opener_done(&o));
    cr_assert_eq(px_boxstream_opener_end(&o), 0);
    px_boxstream_opener_fini(&o);
}

/* Every encrypt case: sealing reproduces the ciphertext, and it opens to the chunks. */
Test(boxstream, vectors_encrypt_cases)
{
    json_t *root = load_vectors();
    json_t *cases = json_object_get(root, "cases");
    static const size_t steps[] = {SIZE_MAX, 1, 7};
    size_t passed = 0;

    cr_assert_eq(json_array_size(cases), 12, "boxstream.json should have 12 encrypt cases");
    for (size_t i = 0; i < json_array_size(cases); i++) {
        json_t *c = json_array_get(cases, i);
        const char *name = str_field(c, "name");
        uint8_t key[32], nonce[24];
        struct bytes wire = {0};
        size_t ct_len;
        uint8_t *ct = hex_field_dup(c, "ciphertext", &ct_len);

        hex_field(c, "key", key, sizeof(key));
        hex_field(c, "nonce", nonce, sizeof(nonce));
        seal_writes(key, nonce, json_object_get(c, "plaintext_chunks"), &wire);
        cr_assert_eq(wire.len, ct_len, "%s: sealed %zu bytes, expected %zu", name, wire.len,
                     ct_len);
        cr_assert(memcmp(wire.p, ct, ct_len) == 0, "%s: sealed bytes differ", name);

        open_frames(c, key, nonce, ct, ct_len);
        for (size_t s = 0; s < sizeof(steps) / sizeof(steps[0]); s++) {
            struct outcome out;

            feed_all(key, nonce, ct, ct_len, steps[s], &out);
            cr_assert_eq(out.rc, 0, "%s: %s", name, px_err_name(out.rc));
            chunks_expect(&out.chunks, json_object_get(c, "decrypted_chunks"), name,
                          s == 0   ? "whole"
                          : s == 1 ? "bytewise"
                                   : "7-byte pieces");
            chunks_free(&out.chunks);
        }
        free(wire.p);
        free(ct);
        passed++;
    }
    cr_log_info("boxstream.json: %zu/12 encrypt cases passed", passed);
    cr_assert_eq(passed, 12);
    json_decref(root);
}

/*
 * What we expect where we are stricter than the reference. Each row names one of the
 * "reference-behaviour" cases; docs/protocol.md section 9.5 explains the choice.
 */
struct strict_choice {
    const char *name;
    size_t chunks; /* how many of the reference's chunks we still deliver */
    int rc;
    const char *why;
};

static const struct strict_choice strict[] = {
    /* The data and goodbye are delivered; the extra bytes are an error, not ignored. */
    {"trailing_bytes_after_goodbye", 1, PX_ETRAILING, PX_BOXSTREAM_WHY_TRAILING},
    /* A 5000-byte frame is refused as soon as its header opens: nothing delivered. */
    {"oversized_frame_5000", 0, PX_ETOOBIG, PX_BOXSTREAM_WHY_TOOBIG},
    /* A zero-length frame that is not the goodbye is refused: nothing delivered. */
    {"zero_length_frame", 0, PX_EPROTO, PX_BOXSTREAM_WHY_ZERO},
};

static void
expect_kind(const char *kind, int *rc, const char **why)
{
    if (kind == NULL) {
        *rc = 0;
        *why = NULL;
    } else if (strcmp(kind, "header_auth_failed") == 0) {
        *rc = PX_EPROTO;
        *why = PX_BOXSTREAM_WHY_HEADER;
    } else if (strcmp(kind, "body_auth_failed") == 0) {
        *rc = PX_EPROTO;
        *why = PX_BOXSTREAM_WHY_BODY;
    } else if (strcmp(kind, "eof_before_goodbye") == 0) {
        *rc = PX_ETRUNC;
        *why = PX_BOXSTREAM_WHY_EOF;
    } else {
        cr_assert_fail("unknown error_kind %s", kind);
    }
}

Test(boxstream, vectors_decrypt_cases)
{
    json_t *root = load_vectors();
    json_t *cases = json_object_get(root, "decrypt_negative");
    static const size_t steps[] = {SIZE_MAX, 1, 7};
    size_t passed = 0, strict_seen = 0;

    cr_assert_eq(json_array_size(cases), 18, "boxstream.json should have 18 decrypt cases");
    for (size_t i = 0; i < json_array_size(cases); i++) {
        json_t *c = json_array_get(cases, i);
        json_t *expected = json_object_get(c, "expected");
        json_t *ref_chunks = json_object_get(expected, "plaintext_chunks");
        json_t *cat = json_object_get(c, "category");
        const char *name = str_field(c, "name");
        const char *outcome = str_field(expected, "outcome");
        const struct strict_choice *choice = NULL;
        json_t *want_chunks = ref_chunks;
        uint8_t key[32], nonce[24];
        const char *why;
        size_t ct_len;
        uint8_t *ct = hex_field_dup(c, "ciphertext", &ct_len);
        int rc;

        hex_field(c, "key", key, sizeof(key));
        hex_field(c, "nonce", nonce, sizeof(nonce));
        if (json_is_string(cat)) {
            cr_assert_str_eq(json_string_value(cat), "reference-behaviour");
            for (size_t k = 0; k < sizeof(strict) / sizeof(strict[0]); k++) {
                if (strcmp(strict[k].name, name) == 0) {
                    choice = &strict[k];
                }
            }
            cr_assert_not_null(choice, "%s: a reference-behaviour case without our choice", name);
            cr_assert_str_eq(outcome, "end", "%s: the reference accepted it", name);
            strict_seen++;
        }
        if (choice != NULL) {
            rc = choice->rc;
            why = choice->why;
            want_chunks = json_array();
            for (size_t k = 0; k < choice->chunks; k++) {
                json_array_append(want_chunks, json_array_get(ref_chunks, k));
            }
        } else {
            json_t *kind = json_object_get(expected, "error_kind");

            expect_kind(json_is_string(kind) ? json_string_value(kind) : NULL, &rc, &why);
            cr_assert_eq(strcmp(outcome, "end") == 0, rc == 0, "%s: outcome %s", name, outcome);
        }
        for (size_t s = 0; s < sizeof(steps) / sizeof(steps[0]); s++) {
            const char *mode = s == 0 ? "whole" : s == 1 ? "bytewise" : "7-byte pieces";
            struct outcome out;

            feed_all(key, nonce, ct, ct_len, steps[s], &out);
            cr_assert_eq(out.rc, rc, "%s (%s): %s, expected %s", name, mode, px_err_name(out.rc),
                         px_err_name(rc));
            if (why != NULL) {
                cr_assert_str_eq(out.why, why, "%s (%s)", name, mode);
            }
            chunks_expect(&out.chunks, want_chunks, name, mode);
            chunks_free(&out.chunks);
        }
        if (choice != NULL) {
            json_decref(want_chunks);
        }
        free(ct);
        passed++;
    }
    cr_assert_eq(strict_seen, 3, "expected 3 reference-behaviour cases, saw %zu", strict_seen);
    cr_log_info("boxstream.json: %zu/18 decrypt-side cases passed", passed);
    cr_assert_eq(passed, 18);
    json_decref(root);
}

/* The frame-by-frame opener on the stricter cases: the header itself is refused. */
Test(boxstream, frame_api_refuses_oversized_and_zero_length)
{
    json_t *root = load_vectors();
    json_t *cases = json_object_get(root, "decrypt_negative");
    size_t seen = 0;

    for (size_t i = 0; i < json_array_size(cases); i++) {
        json_t *c = json_array_get(cases, i);
        const char *name = str_field(c, "name");
        struct px_boxstream_opener o;
        uint8_t key[32], nonce[24], body[PX_BOXSTREAM_MAX_BODY];
        size_t ct_len, body_len;
        uint8_t *ct;
        bool goodbye;
        int want;

        if (strcmp(name, "oversized_frame_5000") == 0) {
            want = PX_ETOOBIG;
        } else if (strcmp(name, "zero_length_frame") == 0) {
            want = PX_EPROTO;
        } else {
            continue;
        }
        seen++;
        ct = hex_field_dup(c, "ciphertext", &ct_len);
        hex_field(c, "key", key, sizeof(key));
        hex_field(c, "nonce", nonce, sizeof(nonce));
        px_boxstream_opener_init(&o, key, nonce);
        cr_assert_eq(px_boxstream_open_header(&o, ct, &body_len, &goodbye), want, "%s", name);
        /* Failed for good: nothing else is accepted. */
        cr_assert_eq(px_boxstream_open_body(&o, ct + 34, 1, body), PX_EINVAL);
        cr_assert_eq(px_boxstream_open_header(&o, ct, &body_len, &goodbye), PX_EINVAL);
        cr_assert_eq(px_boxstream_opener_end(&o), want);
        px_boxstream_opener_fini(&o);
        free(ct);
    }
    cr_assert_eq(seen, 2);
    json_decref(root);
}

Test(boxstream, nonce_increment_is_big_endian_and_wraps)
{
    uint8_t n[24], want[24];

    memset(n, 0, sizeof(n));
    n[23] = 0xff;
    px_boxstream_nonce_increment(n);
    memset(want, 0, sizeof(want));
    want[22] = 0x01;
    cr_assert_arr_eq(n, want, 24);

    memset(n, 0, sizeof(n));
    n[20] = 0x15;
    n[21] = n[22] = 0xff;
    n[23] = 0xfe;
    px_boxstream_nonce_increment(n);
    cr_assert_eq(n[23], 0xff);
    px_boxstream_nonce_increment(n);
    memset(want, 0, sizeof(want));
    want[20] = 0x16;
    cr_assert_arr_eq(n, want, 24);

    memset(n, 0xff, sizeof(n));
    px_boxstream_nonce_increment(n);
    memset(want, 0, sizeof(want));
    cr_assert_arr_eq(n, want, 24);
}

Test(boxstream, sealer_limits_and_misuse)
{
    struct px_boxstream_sealer s;
    uint8_t key[32] = {1}, nonce[24] = {2}, in[PX_BOXSTREAM_MAX_BODY + 1] = {0};
    uint8_t out[PX_BOXSTREAM_MAX_FRAME + 1], bye[34];
    size_t len = 12345;

    px_boxstream_sealer_init(&s, key, nonce);
    cr_assert_eq(px_boxstream_seal(&s, in, 0, out, sizeof(out), &len), PX_EINVAL);
    cr_assert_eq(px_boxstream_seal(&s, in, sizeof(in), out, sizeof(out), &len), PX_ETOOBIG);
    cr_assert_eq(px_boxstream_seal(&s, in, 10, out, 43, &len), PX_ETOOBIG);
    cr_assert_eq(px_boxstream_seal(&s, in, 10, out, 10, &len), PX_ETOOBIG);
    cr_assert_eq(len, 12345, "nothing written on error");
    cr_assert_arr_eq(s.nonce, nonce, 24, "the nonce does not move on error");
    cr_assert_eq(px_boxstream_seal(&s, in, 10, out, 44, &len), 0);
    cr_assert_eq(len, 44);
    cr_assert_eq(px_boxstream_seal(&s, in, PX_BOXSTREAM_MAX_BODY, out, sizeof(out), &len), 0);
    cr_assert_eq(len, PX_BOXSTREAM_MAX_FRAME);
    cr_assert_eq(px_boxstream_seal_goodbye(&s, bye), 0);
    cr_assert_eq(px_boxstream_seal(&s, in, 10, out, sizeof(out), &len), PX_EINVAL);
    cr_assert_eq(px_boxstream_seal_goodbye(&s, bye), PX_EINVAL);
    px_boxstream_sealer_fini(&s);
    for (size_t i = 0; i < sizeof(s.key); i++) {
        cr_assert_eq(s.key[i], 0, "fini wipes the key");
    }
}

Test(boxstream, opener_misuse)
{
    struct px_boxstream_sealer s;
    struct px_boxstream_opener o;
    uint8_t key[32] = {3}, nonce[24] = {4}, msg[5] = "hello", frame[64], body[64];
    size_t len, body_len, used, clen;
    enum px_boxstream_event ev;
    const uint8_t *chunk;
    bool goodbye;

    px_boxstream_sealer_init(&s, key, nonce);
    cr_assert_eq(px_boxstream_seal(&s, msg, 5, frame, sizeof(frame), &len), 0);

    px_boxstream_opener_init(&o, key, nonce);
    /* A body before its header, then a body of the wrong length. */
    cr_assert_eq(px_boxstream_open_body(&o, frame + 34, 5, body), PX_EINVAL);
    cr_assert_eq(px_boxstream_open_header(&o, frame, &body_len, &goodbye), 0);
    cr_assert_eq(body_len, 5);
    cr_assert_eq(px_boxstream_open_header(&o, frame, &body_len, &goodbye), PX_EINVAL);
    cr_assert_eq(px_boxstream_open_body(&o, frame + 34, 4, body), PX_EINVAL);
    /* Mixing in feed while a body is due is refused; the frame API then goes on. */
    cr_assert_eq(px_boxstream_feed(&o, frame, 1, &used, &ev, &chunk, &clen), PX_EINVAL);
    /* In place. */
    cr_assert_eq(px_boxstream_open_body(&o, frame + 34, 5, frame + 34), 0);
    cr_assert_arr_eq(frame + 34, msg, 5);
    /* Ended inside the stream: no goodbye. */
    cr_assert_eq(px_boxstream_opener_end(&o), PX_ETRUNC);
    cr_assert_str_eq(px_boxstream_opener_why(&o), PX_BOXSTREAM_WHY_EOF);
    px_boxstream_opener_fini(&o);

    /* Once feeding, the frame API is refused. */
    px_boxstream_opener_init(&o, key, nonce);
    cr_assert_eq(px_boxstream_feed(&o, frame, 0, &used, &ev, &chunk, &clen), 0);
    cr_assert_eq(ev, PX_BOXSTREAM_NEED_MORE);
    cr_assert_eq(px_boxstream_open_header(&o, frame, &body_len, &goodbye), PX_EINVAL);
    px_boxstream_opener_fini(&o);
    px_boxstream_sealer_fini(&s);
}

/* Seal and open every length from 1 to 4096 through one stream. */
Test(boxstream, round_trip_every_length)
{
    struct px_boxstream_sealer s;
    struct px_boxstream_opener o;
    uint8_t key[32], nonce[24], *in = malloc(PX_BOXSTREAM_MAX_BODY);
    uint8_t *frame = malloc(PX_BOXSTREAM_MAX_FRAME), bye[34];

    cr_assert(in != NULL && frame != NULL);
    memset(key, 0x5a, sizeof(key));
    memset(nonce, 0xff, sizeof(nonce));
    nonce[0] = 0x7f;
    for (size_t i = 0; i < PX_BOXSTREAM_MAX_BODY; i++) {
        in[i] = (uint8_t)(i * 7 + 1);
    }
    px_boxstream_sealer_init(&s, key, nonce);
    px_boxstream_opener_init(&o, key, nonce);
    for (size_t n = 1; n <= PX_BOXSTREAM_MAX_BODY; n++) {
        size_t len, used, clen;
        enum px_boxstream_event ev;
        const uint8_t *chunk;

        cr_assert_eq(px_boxstream_seal(&s, in, n, frame, PX_BOXSTREAM_MAX_FRAME, &len), 0);
        cr_assert_eq(px_boxstream_feed(&o, frame, len, &used, &ev, &chunk, &clen), 0);
        cr_assert_eq(used, len);
        cr_assert_eq(ev, PX_BOXSTREAM_CHUNK);
        cr_assert_eq(clen, n);
        cr_assert(memcmp(chunk, in, n) == 0);
    }
    {
        size_t used, clen;
        enum px_boxstream_event ev;
        const uint8_t *chunk;

        cr_assert_eq(px_boxstream_seal_goodbye(&s, bye), 0);
        cr_assert_eq(px_boxstream_feed(&o, bye, sizeof(bye), &used, &ev, &chunk, &clen), 0);
        cr_assert_eq(ev, PX_BOXSTREAM_GOODBYE);
        cr_assert_eq(px_boxstream_feed(&o, bye, 0, &used, &ev, &chunk, &clen), 0);
        cr_assert_eq(ev, PX_BOXSTREAM_GOODBYE);
        cr_assert_eq(px_boxstream_opener_end(&o), 0);
    }
    px_boxstream_opener_fini(&o);
    px_boxstream_sealer_fini(&s);
    free(in);
    free(frame);
}
