/* SPDX-License-Identifier: MIT */
/*
 * bench_record.c - the record codec suite: encode, decode, sign and decode-and-verify
 * rates for one realistic case record, beside raw libsodium signing and verification of
 * the same signed bytes.
 *
 * The record is what an NGO might publish: a title, a summary of about two sentences, a body of 300
 * words in three paragraphs, three lessons, four tags, sector, region, language, date,
 * one link and a license, about 2 KiB in all, of Zipf-distributed pseudo-English
 * (bench_text.h) under a fixed seed and a fixed key, so every run measures the same bytes.
 *
 * What is compared with what:
 *   record_sign           px_record_sign: validate, encode, crypto_sign_detached, id
 *   sodium_sign_detached  crypto_sign_detached over the same signed bytes
 *   record_decode_verify  px_record_decode (walker, fields, canonical re-encode, BLAKE2b
 *                         id) + px_record_verify
 *   sodium_verify_detached  crypto_sign_verify_detached over the same signed bytes
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "bench.h"
#include "bench_report.h"
#include "bench_run.h"
#include "bench_text.h"
#include "protocol/err.h"
#include "protocol/record.h"
#include "protocol/sign.h"

#define TEXT_SEED   UINT64_C(0x70726178697321)
#define TEXT_VOCAB  4000
#define BODY_WORDS  300
#define ARENA_BYTES 16384

struct record_bench {
    struct px_identity id;
    struct px_record rec; /* the source record; its strings live in arena */
    char arena[ARENA_BYTES];
    size_t arena_used;
    uint8_t encoded[PX_RECORD_MAX]; /* the signed record every decoding case reads */
    size_t len;
    size_t signed_len;
    uint8_t sig[PX_SIGN_BYTES];
    uint8_t out[PX_RECORD_MAX]; /* where the encoding cases write */
    uint8_t raw_sig[PX_SIGN_BYTES];
    volatile uint64_t sink; /* keeps results observable, so no loop is optimised away */
};

/* ---- Building the record ---- */

/* Finishes the string started at start in the arena and returns it as a slice. */
static struct px_str
take(struct record_bench *b, size_t start)
{
    struct px_str s = {b->arena + start, (uint32_t)(b->arena_used - start)};

    b->arena_used++; /* keep the NUL that bench_text wrote */
    return s;
}

static struct px_str
make_sentence(struct record_bench *b, struct bench_text *t, unsigned words, char end)
{
    size_t start = b->arena_used;

    bench_text_sentence(t, b->arena, sizeof(b->arena), &b->arena_used, words, 1, end);
    return take(b, start);
}

/* Distinct lowercase words (two joined by '-' for the last tag, as people write them). */
static void
make_tags(struct record_bench *b, struct bench_text *t, struct px_case *c, unsigned n)
{
    while (c->n_tags < n) {
        size_t start = b->arena_used, len;
        const char *w = bench_text_word(t, &len);

        /* The top ranks are the "the" and "of" of this language, not tags. */
        if (len < 4) {
            continue;
        }
        memcpy(b->arena + b->arena_used, w, len);
        b->arena_used += len;
        if (c->n_tags + 1 == n) {
            w = bench_text_word(t, &len);
            b->arena[b->arena_used++] = '-';
            memcpy(b->arena + b->arena_used, w, len);
            b->arena_used += len;
        }
        b->arena[b->arena_used] = '\0';
        c->tags[c->n_tags++] = take(b, start);
        px_case_sort_tags(c); /* drops a duplicate, so the loop draws again */
    }
}

static int
build_record(struct record_bench *b)
{
    static const uint8_t seed[PX_SIGN_SEEDBYTES] = {0x62, 0x65, 0x6e, 0x63, 0x68, 0x2d, 0x72, 0x65,
                                                    0x63, 0x6f, 0x72, 0x64, 0x2d, 0x6b, 0x65, 0x79,
                                                    0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07,
                                                    0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f};
    struct bench_text *t = bench_text_new(TEXT_SEED, TEXT_VOCAB);
    struct px_case *c = &b->rec.cs;
    const char *field = NULL;
    size_t start;
    int rc;

    if (t == NULL) {
        fprintf(stderr, "praxis-bench: out of memory\n");
        return -1;
    }
    if ((rc = px_identity_from_seed(&b->id, seed)) != 0) {
        fprintf(stderr, "praxis-bench: px_identity_from_seed: %s\n", px_strerror(rc));
        bench_text_free(t);
        return -1;
    }
    px_record_init(&b->rec, PX_RECORD_CASE);
    b->rec.created = UINT64_C(1700000000000);
    c->practice = PX_PRACTICE_GOOD;
    c->title = make_sentence(b, t, 7, '\0');
    start = b->arena_used;
    bench_text_prose(t, b->arena, sizeof(b->arena), &b->arena_used, 24, 100);
    c->summary = take(b, start);
    start = b->arena_used;
    bench_text_prose(t, b->arena, sizeof(b->arena), &b->arena_used, BODY_WORDS, 100);
    c->body = take(b, start);
    for (unsigned i = 0; i < 3; i++) {
        c->lessons[c->n_lessons++] = make_sentence(b, t, 7 + i, '.');
    }
    make_tags(b, t, c, 4);
    c->sector = (struct px_str){"health", 6};
    c->region = (struct px_str){"KE-30", 5};
    c->language = (struct px_str){"en", 2};
    c->occurred = (struct px_str){"2023-05", 7};
    c->license = (struct px_str){"CC-BY-4.0", 9};
    start = b->arena_used;
    b->arena_used +=
        (size_t)snprintf(b->arena + start, sizeof(b->arena) - start,
                         "https://example.org/cases/%.*s", (int)c->tags[0].len, c->tags[0].p);
    c->links[c->n_links++] = take(b, start);
    bench_text_free(t);

    if ((rc = px_record_sign(&b->rec, &b->id, b->encoded, sizeof(b->encoded), &b->len, &field)) !=
        0) {
        fprintf(stderr, "praxis-bench: px_record_sign: %s (%s)\n", px_strerror(rc),
                field != NULL ? field : "-");
        return -1;
    }
    b->signed_len = b->rec.signed_len;
    memcpy(b->sig, b->rec.sig, sizeof(b->sig));
    return 0;
}

/* ---- The measured operations ---- */

static int
run_encode(void *ctx, uint64_t iters)
{
    struct record_bench *b = ctx;

    for (uint64_t i = 0; i < iters; i++) {
        size_t len;

        if (px_record_encode(&b->rec, b->out, sizeof(b->out), &len, NULL) != 0) {
            return -1;
        }
        b->sink += len;
    }
    return 0;
}

static int
run_decode(void *ctx, uint64_t iters)
{
    struct record_bench *b = ctx;

    for (uint64_t i = 0; i < iters; i++) {
        struct px_record r;

        if (px_record_decode(b->encoded, b->len, &r, NULL) != 0) {
            return -1;
        }
        b->sink += r.id[0];
    }
    return 0;
}

static int
run_sign(void *ctx, uint64_t iters)
{
    struct record_bench *b = ctx;

    for (uint64_t i = 0; i < iters; i++) {
        size_t len;

        if (px_record_sign(&b->rec, &b->id, b->out, sizeof(b->out), &len, NULL) != 0) {
            return -1;
        }
        b->sink += b->rec.sig[0];
    }
    return 0;
}

static int
run_raw_sign(void *ctx, uint64_t iters)
{
    struct record_bench *b = ctx;

    for (uint64_t i = 0; i < iters; i++) {
        if (crypto_sign_detached(b->raw_sig, NULL, b->encoded, b->signed_len, b->id.sk) != 0) {
            return -1;
        }
        b->sink += b->raw_sig[0];
    }
    return 0;
}

static int
run_decode_verify(void *ctx, uint64_t iters)
{
    struct record_bench *b = ctx;

    for (uint64_t i = 0; i < iters; i++) {
        struct px_record r;

        if (px_record_decode(b->encoded, b->len, &r, NULL) != 0 || px_record_verify(&r) != 0) {
            return -1;
        }
        b->sink += r.id[0];
    }
    return 0;
}

static int
run_raw_verify(void *ctx, uint64_t iters)
{
    struct record_bench *b = ctx;

    for (uint64_t i = 0; i < iters; i++) {
        if (crypto_sign_verify_detached(b->sig, b->encoded, b->signed_len, b->id.pk) != 0) {
            return -1;
        }
        b->sink++;
    }
    return 0;
}

/* ---- The suite ---- */

enum { C_ENCODE, C_DECODE, C_SIGN, C_RAW_SIGN, C_VERIFY, C_RAW_VERIFY, C_COUNT };

static void
report_rate(struct bench_report *rep, const char *name, const struct bench_rate *r,
            const char *baseline, const struct bench_rate *base)
{
    bench_report_timed(rep, name, r->median, "records/s", baseline, base != NULL ? base->median : 0,
                       r->spread, r->iters);
}

int
bench_record_run(const struct bench_opts *opts, struct bench_report *rep)
{
    struct record_bench *b = calloc(1, sizeof(*b));
    struct bench_rate rates[C_COUNT];
    struct bench_case cases[C_COUNT] = {
        [C_ENCODE] = {"record_encode", run_encode, b},
        [C_DECODE] = {"record_decode", run_decode, b},
        [C_SIGN] = {"record_sign", run_sign, b},
        [C_RAW_SIGN] = {"sodium_sign_detached", run_raw_sign, b},
        [C_VERIFY] = {"record_decode_verify", run_decode_verify, b},
        [C_RAW_VERIFY] = {"sodium_verify_detached", run_raw_verify, b},
    };
    int rc = -1;

    if (b == NULL) {
        fprintf(stderr, "praxis-bench: out of memory\n");
        return -1;
    }
    if (build_record(b) != 0) {
        goto out;
    }
    bench_report_value(rep, "record_bytes", (double)b->len, "bytes", NULL, 0);
    if (bench_run_interleaved(opts, cases, C_COUNT, rates) != 0) {
        goto out;
    }
    report_rate(rep, "record_encode", &rates[C_ENCODE], NULL, NULL);
    report_rate(rep, "record_decode", &rates[C_DECODE], NULL, NULL);
    report_rate(rep, "record_sign", &rates[C_SIGN], "sodium_sign_detached", &rates[C_RAW_SIGN]);
    report_rate(rep, "sodium_sign_detached", &rates[C_RAW_SIGN], NULL, NULL);
    report_rate(rep, "record_decode_verify", &rates[C_VERIFY], "sodium_verify_detached",
                &rates[C_RAW_VERIFY]);
    report_rate(rep, "sodium_verify_detached", &rates[C_RAW_VERIFY], NULL, NULL);
    rc = 0;
out:
    px_identity_wipe(&b->id);
    free(b);
    return rc;
}
