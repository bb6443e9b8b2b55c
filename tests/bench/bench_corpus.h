/* SPDX-License-Identifier: MIT */
/*
 * bench_corpus.h - a deterministic set of signed case records for the store benchmarks.
 *
 * Record i is drawn from one seeded stream, so the same seed and count always give the
 * same bytes. Each is a case such as an NGO would publish, in Zipf-distributed
 * pseudo-English (bench_text.h): a title of 5 to 10 words, a summary of 20 to 40, a body
 * of 240 to 360 words in paragraphs, one to three lessons, two to six tags drawn from a
 * smaller Zipf vocabulary of their own (so some tags are common and most are rare),
 * practice good (60%) or bad, a sector, a region, a language, the month it happened, a
 * link and a license. Authors are BENCH_CORPUS_AUTHORS fixed keys; created times rise
 * by about 15 minutes a record from 2021-01-01, so no record is in the future.
 *
 * Besides the signed bytes, each record's text columns are kept as the store indexes
 * them (lessons joined by '\n', tags by ' '), for the bare SQLite loader that is the
 * baseline of the import figure.
 */
#ifndef PX_BENCH_CORPUS_H
#define PX_BENCH_CORPUS_H

#include <stddef.h>
#include <stdint.h>

#include "protocol/record.h"

#define BENCH_CORPUS_AUTHORS 32

struct bench_doc {
    const uint8_t *raw; /* the signed record, in the corpus buffer */
    size_t len;
    size_t signed_len;
    unsigned author; /* index into bench_corpus.pk */
    uint8_t id[PX_ID_BYTES];
    uint64_t created;
    enum px_practice practice;
    /* The five text columns of the index; title, summary and body borrow raw. */
    struct px_str title, summary, body, lessons, tags;
};

/* A distinct tag and the number of records that carry it. */
struct bench_tag {
    struct px_str tag; /* borrows a record's bytes */
    size_t count;
};

struct bench_corpus {
    size_t n;
    struct bench_doc *docs;
    size_t total_bytes; /* sum of the records' sizes */
    uint8_t pk[BENCH_CORPUS_AUTHORS][PX_SIGN_PUBLICKEYBYTES];
    struct bench_tag *tags; /* every distinct tag, by count, most frequent first */
    size_t n_tags;
    /* internal */
    uint8_t *raw;
    char *text;
};

/*
 * Generates n records (at least 1) from seed. Returns NULL after printing why (out of
 * memory, or a record that failed to sign, which would be a bug here). Release with
 * bench_corpus_free (NULL is a no-op).
 */
struct bench_corpus *bench_corpus_new(uint64_t seed, size_t n);
void bench_corpus_free(struct bench_corpus *c);

#endif
