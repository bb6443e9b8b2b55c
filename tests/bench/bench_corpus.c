/* SPDX-License-Identifier: MIT */
/* bench_corpus.c - deterministic signed case records; see bench_corpus.h. */
#include "bench_corpus.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_text.h"
#include "protocol/err.h"

/*
 * The prose vocabulary. A corpus of 100,000 records holds some 38 million words; a real
 * one would use a hundred thousand distinct words or more, and a 20,000-word Zipf
 * vocabulary keeps a long tail of rare terms in the index without making every word so
 * rare that no query matches.
 */
#define TEXT_VOCAB 10000
/* Tags come from a small vocabulary of their own, as keywords do in practice. */
#define TAG_VOCAB   300
#define TAG_SEED_X  UINT64_C(0x7461677321) /* xor'd into the seed for the tag stream */
#define ARENA_BYTES 16384
/* 2021-01-01T00:00:00Z, and the mean step between records' created times (15 min). */
#define CREATED_BASE UINT64_C(1609459200000)
#define CREATED_STEP UINT64_C(900000)

static const char *const sectors[] = {"health",      "education", "water",      "agriculture",
                                      "livelihoods", "shelter",   "protection", "nutrition",
                                      "governance",  "energy",    "finance",    "climate"};
static const char *const regions[] = {"KE", "KE-30", "UG", "TZ", "ET", "SO", "SS", "NG",
                                      "GH", "SN",    "ML", "BF", "NE", "CD", "RW", "MW",
                                      "ZM", "MZ",    "ZW", "IN", "BD", "NP", "PK", "PH",
                                      "ID", "HT",    "GT", "HN", "CO", "PE", "BO", "KH"};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* The scratch space one record's strings are built in before it is signed. */
struct scratch {
    char arena[ARENA_BYTES];
    size_t used;
};

static unsigned
below(struct bench_text *t, unsigned n)
{
    return (unsigned)(bench_text_rand(t) % n);
}

/* Finishes the string started at start and returns it as a slice. */
static struct px_str
take(struct scratch *s, size_t start)
{
    struct px_str str = {s->arena + start, (uint32_t)(s->used - start)};

    s->used++; /* keep the NUL that bench_text wrote */
    return str;
}

static struct px_str
make_sentence(struct scratch *s, struct bench_text *t, unsigned words, char end)
{
    size_t start = s->used;

    bench_text_sentence(t, s->arena, sizeof(s->arena), &s->used, words, 1, end);
    return take(s, start);
}

static struct px_str
make_prose(struct scratch *s, struct bench_text *t, unsigned words)
{
    size_t start = s->used;

    bench_text_prose(t, s->arena, sizeof(s->arena), &s->used, words, 100);
    return take(s, start);
}

static struct px_str
make_fixed(struct scratch *s, const char *text)
{
    size_t start = s->used, n = strlen(text);

    memcpy(s->arena + s->used, text, n + 1);
    s->used += n;
    return take(s, start);
}

/* n distinct tags of three letters or more; one in five records joins two words. */
static void
make_tags(struct scratch *s, struct bench_text *tags, struct bench_text *t, struct px_case *c,
          unsigned n)
{
    bool joined = below(t, 5) == 0;

    while (c->n_tags < n) {
        size_t start = s->used, len;
        const char *w = bench_text_word(tags, &len);

        if (len < 3) {
            continue;
        }
        memcpy(s->arena + s->used, w, len);
        s->used += len;
        if (joined && c->n_tags + 1 == n) {
            do {
                w = bench_text_word(tags, &len);
            } while (len < 3);
            s->arena[s->used++] = '-';
            memcpy(s->arena + s->used, w, len);
            s->used += len;
        }
        s->arena[s->used] = '\0';
        c->tags[c->n_tags++] = take(s, start);
        px_case_sort_tags(c); /* drops a duplicate, so the loop draws again */
    }
}

/* Fills rec with record number i, its strings in s. */
static void
build_case(struct scratch *s, struct bench_text *t, struct bench_text *tags, size_t i,
           struct px_record *rec)
{
    struct px_case *c = &rec->cs;
    unsigned r = below(t, 100);
    char buf[64];

    s->used = 0;
    px_record_init(rec, PX_RECORD_CASE);
    rec->created = CREATED_BASE + (uint64_t)i * CREATED_STEP + below(t, 600000);
    c->practice = below(t, 10) < 6 ? PX_PRACTICE_GOOD : PX_PRACTICE_BAD;
    c->title = make_sentence(s, t, 5 + below(t, 6), '\0');
    c->summary = make_prose(s, t, 20 + below(t, 21));
    c->body = make_prose(s, t, 240 + below(t, 121));
    for (unsigned n = 1 + below(t, 3); c->n_lessons < n;) {
        c->lessons[c->n_lessons++] = make_sentence(s, t, 8 + below(t, 7), '.');
    }
    make_tags(s, tags, t, c, 2 + below(t, 5));
    c->sector = make_fixed(s, sectors[below(t, COUNT(sectors))]);
    c->region = make_fixed(s, regions[below(t, COUNT(regions))]);
    c->language = make_fixed(s, r < 80 ? "en" : (r < 92 ? "fr" : "es"));
    snprintf(buf, sizeof(buf), "%u-%02u", 2015 + below(t, 9), 1 + below(t, 12));
    c->occurred = make_fixed(s, buf);
    c->license = make_fixed(s, "CC-BY-4.0");
    snprintf(buf, sizeof(buf), "https://example.org/cases/%zu", i + 1);
    c->links[c->n_links++] = make_fixed(s, buf);
}

static int
compare_str(const void *a, const void *b)
{
    const struct px_str *x = a, *y = b;
    uint32_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->p, y->p, n);

    return c != 0 ? c : (x->len < y->len ? -1 : (x->len > y->len ? 1 : 0));
}

static int
compare_tag(const void *a, const void *b)
{
    const struct bench_tag *x = a, *y = b;

    if (x->count != y->count) {
        return x->count > y->count ? -1 : 1;
    }
    return compare_str(&x->tag, &y->tag);
}

/* Every distinct tag with its count, most frequent first. */
static int
count_tags(struct bench_corpus *c, const struct px_str *all, size_t n_all)
{
    struct px_str *sorted = malloc((n_all > 0 ? n_all : 1) * sizeof(*sorted));

    if (sorted == NULL || (c->tags = calloc(n_all > 0 ? n_all : 1, sizeof(*c->tags))) == NULL) {
        free(sorted);
        return -1;
    }
    memcpy(sorted, all, n_all * sizeof(*sorted));
    qsort(sorted, n_all, sizeof(*sorted), compare_str);
    for (size_t i = 0; i < n_all; i++) {
        if (c->n_tags > 0 && compare_str(&c->tags[c->n_tags - 1].tag, &sorted[i]) == 0) {
            c->tags[c->n_tags - 1].count++;
        } else {
            c->tags[c->n_tags++] = (struct bench_tag){sorted[i], 1};
        }
    }
    qsort(c->tags, c->n_tags, sizeof(*c->tags), compare_tag);
    free(sorted);
    return 0;
}

/* Appends list[0..n) joined by sep to text at *off (growing it); *slice gets the offset. */
static int
join(char **text, size_t *off, size_t *cap, const struct px_str *list, uint32_t n, char sep,
     size_t *start, uint32_t *len)
{
    size_t need = 1;

    for (uint32_t i = 0; i < n; i++) {
        need += list[i].len + 1;
    }
    if (*off + need > *cap) {
        size_t ncap = *cap * 2 > *off + need ? *cap * 2 : *off + need;
        char *p = realloc(*text, ncap);

        if (p == NULL) {
            return -1;
        }
        *text = p;
        *cap = ncap;
    }
    *start = *off;
    for (uint32_t i = 0; i < n; i++) {
        if (i > 0) {
            (*text)[(*off)++] = sep;
        }
        memcpy(*text + *off, list[i].p, list[i].len);
        *off += list[i].len;
    }
    *len = (uint32_t)(*off - *start);
    (*text)[(*off)++] = '\0';
    return 0;
}

/*
 * Decodes every record again (now that the buffer no longer moves) to point the text
 * columns into it, builds the joined columns and counts the tags.
 */
static int
index_text(struct bench_corpus *c)
{
    size_t off = 0, cap = c->n * 256, n_all = 0;
    size_t *lesson_at = calloc(c->n, sizeof(*lesson_at)), *tags_at = calloc(c->n, sizeof(*tags_at));
    struct px_str *all = malloc(c->n * PX_CASE_MAX_TAGS * sizeof(*all));
    int rc = -1;

    if (lesson_at == NULL || tags_at == NULL || all == NULL || (c->text = malloc(cap)) == NULL) {
        goto out;
    }
    for (size_t i = 0; i < c->n; i++) {
        struct bench_doc *d = &c->docs[i];
        struct px_record rec;
        int err;

        if ((err = px_record_decode(d->raw, d->len, &rec, NULL)) != 0) {
            fprintf(stderr, "praxis-bench: generated record %zu does not decode: %s\n", i,
                    px_strerror(err));
            goto out;
        }
        memcpy(d->id, rec.id, PX_ID_BYTES);
        d->signed_len = rec.signed_len;
        d->title = rec.cs.title;
        d->summary = rec.cs.summary;
        d->body = rec.cs.body;
        if (join(&c->text, &off, &cap, rec.cs.lessons, rec.cs.n_lessons, '\n', &lesson_at[i],
                 &d->lessons.len) != 0 ||
            join(&c->text, &off, &cap, rec.cs.tags, rec.cs.n_tags, ' ', &tags_at[i],
                 &d->tags.len) != 0) {
            goto out;
        }
        for (uint32_t k = 0; k < rec.cs.n_tags; k++) {
            all[n_all++] = rec.cs.tags[k];
        }
    }
    for (size_t i = 0; i < c->n; i++) {
        c->docs[i].lessons.p = c->text + lesson_at[i];
        c->docs[i].tags.p = c->text + tags_at[i];
    }
    rc = count_tags(c, all, n_all);
out:
    free(lesson_at);
    free(tags_at);
    free(all);
    return rc;
}

struct bench_corpus *
bench_corpus_new(uint64_t seed, size_t n)
{
    struct bench_corpus *c = calloc(1, sizeof(*c));
    struct bench_text *t = bench_text_new(seed, TEXT_VOCAB);
    struct bench_text *tags = bench_text_new(seed ^ TAG_SEED_X, TAG_VOCAB);
    struct px_identity *authors = calloc(BENCH_CORPUS_AUTHORS, sizeof(*authors));
    struct scratch *s = malloc(sizeof(*s));
    size_t *offs = calloc(n > 0 ? n : 1, sizeof(*offs));
    size_t cap = n * 3072, used = 0;

    if (c == NULL || t == NULL || tags == NULL || authors == NULL || s == NULL || offs == NULL ||
        n == 0 || (c->docs = calloc(n, sizeof(*c->docs))) == NULL ||
        (c->raw = malloc(cap)) == NULL) {
        fprintf(stderr, "praxis-bench: out of memory\n");
        goto fail;
    }
    c->n = n;
    for (unsigned a = 0; a < BENCH_CORPUS_AUTHORS; a++) {
        uint8_t key_seed[PX_SIGN_SEEDBYTES];

        memset(key_seed, 0, sizeof(key_seed));
        memcpy(key_seed, "bench-corpus-author", 19);
        key_seed[31] = (uint8_t)a;
        if (px_identity_from_seed(&authors[a], key_seed) != 0) {
            fprintf(stderr, "praxis-bench: px_identity_from_seed failed\n");
            goto fail;
        }
        memcpy(c->pk[a], authors[a].pk, PX_SIGN_PUBLICKEYBYTES);
    }
    for (size_t i = 0; i < n; i++) {
        struct px_record rec;
        const char *field = NULL;
        unsigned a = (unsigned)(bench_text_rand(t) % BENCH_CORPUS_AUTHORS);
        size_t len;
        int rc;

        if (cap - used < PX_RECORD_MAX) {
            uint8_t *p = realloc(c->raw, cap * 2);

            if (p == NULL) {
                fprintf(stderr, "praxis-bench: out of memory\n");
                goto fail;
            }
            c->raw = p;
            cap *= 2;
        }
        build_case(s, t, tags, i, &rec);
        if ((rc = px_record_sign(&rec, &authors[a], c->raw + used, cap - used, &len, &field)) !=
            0) {
            fprintf(stderr, "praxis-bench: record %zu does not sign: %s (%s)\n", i, px_strerror(rc),
                    field != NULL ? field : "-");
            goto fail;
        }
        offs[i] = used;
        used += len;
        c->docs[i].len = len;
        c->docs[i].author = a;
        c->docs[i].created = rec.created;
        c->docs[i].practice = rec.cs.practice;
    }
    for (size_t i = 0; i < n; i++) {
        c->docs[i].raw = c->raw + offs[i];
    }
    c->total_bytes = used;
    if (index_text(c) != 0) {
        fprintf(stderr, "praxis-bench: cannot index the generated records\n");
        goto fail;
    }
    goto out;
fail:
    bench_corpus_free(c);
    c = NULL;
out:
    for (unsigned a = 0; authors != NULL && a < BENCH_CORPUS_AUTHORS; a++) {
        px_identity_wipe(&authors[a]);
    }
    free(authors);
    free(offs);
    free(s);
    bench_text_free(t);
    bench_text_free(tags);
    return c;
}

void
bench_corpus_free(struct bench_corpus *c)
{
    if (c == NULL) {
        return;
    }
    free(c->docs);
    free(c->raw);
    free(c->text);
    free(c->tags);
    free(c);
}
