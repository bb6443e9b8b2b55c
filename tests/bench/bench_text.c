/* SPDX-License-Identifier: MIT */
/* bench_text.c - Zipf-distributed pseudo-word prose; see bench_text.h. */
#include "bench_text.h"

#include <stdlib.h>
#include <string.h>

/* Mandelbrot's offset in 1 / (rank + q); computed without libm. */
#define ZIPF_Q 2.7

/* The longest word: three syllables of at most 3 + 2 + 2 letters. */
#define WORD_MAX 21

struct bench_text {
    uint64_t state;
    unsigned vocab;
    char *pool;      /* every word, back to back */
    uint32_t *start; /* vocab + 1 offsets into pool */
    double *cum;     /* cum[i]: total weight of ranks 0..i */
};

static const char *const onsets[] = {"",   "b",  "c",  "d",  "f",  "g",  "h",  "k",  "l",
                                     "m",  "n",  "p",  "r",  "s",  "t",  "v",  "w",  "st",
                                     "tr", "pl", "gr", "ch", "sh", "th", "br", "cl", "str"};
static const char *const vowels[] = {"a", "e", "i", "o", "u", "ea", "ou", "ai", "io", "y"};
static const char *const codas[] = {"", "", "", "n", "r", "s", "t", "l", "m", "nd", "st", "ng"};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

uint64_t
bench_text_rand(struct bench_text *t)
{
    uint64_t z = (t->state += UINT64_C(0x9e3779b97f4a7c15));

    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

static unsigned
below(struct bench_text *t, unsigned n)
{
    return (unsigned)(bench_text_rand(t) % n);
}

static size_t
append(char *w, size_t len, const char *s)
{
    size_t n = strlen(s);

    memcpy(w + len, s, n);
    return len + n;
}

/*
 * A pronounceable word whose length grows with its rank, as in real languages: the top
 * ranks are one plain syllable ("the", "of"), the tail has up to three. This gives about
 * 4.7 letters per running word, like English prose.
 */
static size_t
make_word(struct bench_text *t, unsigned rank, char *w)
{
    unsigned syllables;
    size_t len = 0;

    if (rank < 60) {
        /* One plain letter as onset (or none), one vowel letter, maybe one coda. */
        len = append(w, len, onsets[below(t, 17)]);
        len = append(w, len, vowels[below(t, 5)]);
        return append(w, len, codas[below(t, 9)]);
    }
    if (rank < 150) {
        syllables = 1;
    } else if (rank < 1000) {
        syllables = 1 + below(t, 2);
    } else {
        syllables = 2 + below(t, 2);
    }
    for (unsigned i = 0; i < syllables; i++) {
        len = append(w, len, onsets[below(t, COUNT(onsets))]);
        len = append(w, len, vowels[below(t, COUNT(vowels))]);
        if (i + 1 == syllables || below(t, 3) == 0) {
            len = append(w, len, codas[below(t, COUNT(codas))]);
        }
    }
    return len;
}

struct bench_text *
bench_text_new(uint64_t seed, unsigned vocab)
{
    struct bench_text *t = calloc(1, sizeof(*t));
    double total = 0;
    size_t used = 0;

    if (t == NULL || vocab == 0) {
        free(t);
        return NULL;
    }
    t->state = seed;
    t->vocab = vocab;
    t->pool = malloc((size_t)vocab * WORD_MAX);
    t->start = malloc(((size_t)vocab + 1) * sizeof(*t->start));
    t->cum = malloc((size_t)vocab * sizeof(*t->cum));
    if (t->pool == NULL || t->start == NULL || t->cum == NULL) {
        bench_text_free(t);
        return NULL;
    }
    for (unsigned r = 0; r < vocab; r++) {
        t->start[r] = (uint32_t)used;
        used += make_word(t, r, t->pool + used);
        total += 1.0 / ((double)r + 1.0 + ZIPF_Q);
        t->cum[r] = total;
    }
    t->start[vocab] = (uint32_t)used;
    return t;
}

void
bench_text_free(struct bench_text *t)
{
    if (t == NULL) {
        return;
    }
    free(t->pool);
    free(t->start);
    free(t->cum);
    free(t);
}

const char *
bench_text_word(struct bench_text *t, size_t *len)
{
    /* 53 random bits give a uniform double in [0, 1). */
    double u = (double)(bench_text_rand(t) >> 11) * (1.0 / 9007199254740992.0);
    double x = u * t->cum[t->vocab - 1];
    unsigned lo = 0, hi = t->vocab - 1;

    /* The first rank whose cumulative weight exceeds x. */
    while (lo < hi) {
        unsigned mid = lo + (hi - lo) / 2;

        if (t->cum[mid] > x) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    *len = t->start[lo + 1] - t->start[lo];
    return t->pool + t->start[lo];
}

/* Appends n bytes if they fit with room for the NUL; false when they do not. */
static int
put(char *out, size_t cap, size_t *off, const char *s, size_t n)
{
    if (cap == 0 || n > cap - 1 - *off) {
        return 0;
    }
    memcpy(out + *off, s, n);
    *off += n;
    out[*off] = '\0';
    return 1;
}

unsigned
bench_text_sentence(struct bench_text *t, char *out, size_t cap, size_t *off, unsigned words,
                    int capital, char end)
{
    unsigned done = 0;

    for (; done < words; done++) {
        char w[WORD_MAX + 2];
        size_t len;
        const char *s = bench_text_word(t, &len);

        memcpy(w, s, len);
        if (done == 0 && capital) {
            w[0] = (char)(w[0] - 'a' + 'A');
        }
        if (done + 1 < words && below(t, 12) == 0) {
            w[len++] = ',';
        }
        if ((done > 0 && !put(out, cap, off, " ", 1)) || !put(out, cap, off, w, len)) {
            return done;
        }
    }
    if (end != '\0') {
        (void)put(out, cap, off, &end, 1);
    }
    return done;
}

unsigned
bench_text_prose(struct bench_text *t, char *out, size_t cap, size_t *off, unsigned words,
                 unsigned words_per_para)
{
    unsigned done = 0, in_para = 0;

    while (done < words) {
        unsigned n = 8 + below(t, 17), got;

        if (n > words - done) {
            n = words - done;
        }
        if (done > 0) {
            const char *sep = in_para >= words_per_para ? "\n\n" : " ";

            if (!put(out, cap, off, sep, strlen(sep))) {
                break;
            }
            if (in_para >= words_per_para) {
                in_para = 0;
            }
        }
        got = bench_text_sentence(t, out, cap, off, n, 1, '.');
        done += got;
        in_para += got;
        if (got < n) {
            break;
        }
    }
    return done;
}
