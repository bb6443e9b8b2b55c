/* SPDX-License-Identifier: MIT */
/*
 * bench_text.h - deterministic, realistic-looking text for benchmarks.
 *
 * Real prose follows Zipf's law: a word's frequency falls roughly as 1 / rank, and
 * frequent words are short. The generator builds a vocabulary of pronounceable pseudo-words
 * (short ones at the top ranks), draws words with the Zipf-Mandelbrot weights
 * 1 / (rank + 2.7), Mandelbrot's fit for English, which flattens the very top ranks a
 * little, and strings them into sentences and paragraphs. The same seed always gives the same text,
 * so figures from different runs measure the same bytes. Only ASCII is produced.
 */
#ifndef PX_BENCH_TEXT_H
#define PX_BENCH_TEXT_H

#include <stddef.h>
#include <stdint.h>

struct bench_text;

/*
 * Builds a generator with vocab pseudo-words (at least 1) whose random stream starts from
 * seed. Returns NULL when memory runs out. Release with bench_text_free (NULL is a no-op).
 */
struct bench_text *bench_text_new(uint64_t seed, unsigned vocab);
void bench_text_free(struct bench_text *t);

/* A uniform 64-bit pseudo-random number (splitmix64) from the generator's stream. */
uint64_t bench_text_rand(struct bench_text *t);

/* Draws one word by Zipf rank; *len is its length. The word is not NUL-terminated. */
const char *bench_text_word(struct bench_text *t, size_t *len);

/*
 * Appends to out[*off..cap): words words separated by spaces, the first capitalised when
 * capital is true, with an occasional comma, and the closing mark `end` when it is not
 * '\0'. Stops early rather than overflow; out stays NUL-terminated. Returns the number of
 * words written.
 */
unsigned bench_text_sentence(struct bench_text *t, char *out, size_t cap, size_t *off,
                             unsigned words, int capital, char end);

/*
 * Appends words words of prose to out[*off..cap): sentences of 8 to 24 words, grouped in
 * paragraphs of about words_per_para words separated by a blank line. Returns the number of
 * words written.
 */
unsigned bench_text_prose(struct bench_text *t, char *out, size_t cap, size_t *off, unsigned words,
                          unsigned words_per_para);

#endif
