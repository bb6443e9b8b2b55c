/* SPDX-License-Identifier: MIT */
/*
 * bench_reconcile.c - anti-entropy between two nodes, in memory: the real negentropy code
 * (protocol/negentropy.c) over two indexes of 100,000 (created, id) items, with the frame
 * size limit the daemon uses, counting round trips and the bytes the daemon would put on
 * the wire for those messages. Also the time of an in-sync round and of building an index,
 * at 100,000 and 1,000,000 items.
 *
 * The items look like a store's: created times about 15 minutes apart from 2021-01-01 with
 * up to 10 minutes of jitter (as bench_corpus.c), random ids from a seeded generator. A
 * difference is one of the newest items, present on one side only: either all on the
 * server (the client lacks the k newest records, as a node back from a stop does), or
 * alternately on the server and on the client ("split": both sides published while apart).
 *
 * Bytes of one message, as daemon/gossip.c and daemon/peer.c send it: the negentropy
 * message inside a reconcile wire message (px_wire_encode: its 4-byte length prefix, the
 * msgpack array, type and bin header), sealed by box-stream in frames of at most 4096
 * bytes with a 34-byte header each (protocol/boxstream.h). The server side answers each
 * message with a fresh reconciler, as the daemon does. Every run checks that the client
 * learned exactly the differences (have and need as sets), so a figure cannot come from a
 * reconciliation that went wrong.
 *
 * Paged against in memory: the daemon keeps its index paged by default (daemon/gossip.c),
 * its chunks of up to 128 items being pages in an unnamed scratch file (daemon/pagefile.c)
 * with CACHE_PAGES of them cached. Every scenario also runs with both sides paged, each
 * with a page file of its own in a temporary directory, and must give the same messages,
 * round trips and ids; then the two are timed side by side (interleaved), and so are
 * building an index, its memory, and appending newer items to a sealed one.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "bench_praxisd.h"
#include "bench_report.h"
#include "bench_run.h"
#include "pagefile.h"
#include "protocol/boxstream.h"
#include "protocol/err.h"
#include "protocol/negentropy.h"
#include "protocol/wire.h"

/* The negentropy frame size limit of both sides in the daemon (NEG_FRAME in
 * daemon/gossip.c, private there: keep the two equal). */
#define DAEMON_NEG_FRAME (64u << 10)

#define N_ITEMS      100000
#define N_LARGE      1000000
#define MAX_DIFF     1000
#define CREATED_BASE UINT64_C(1609459200000) /* 2021-01-01T00:00:00Z */
#define CREATED_STEP UINT64_C(900000)        /* 15 minutes */
#define CREATED_JIT  UINT64_C(600000)        /* up to 10 minutes later */
#define ID           PX_NEGENTROPY_ID_SIZE
#define MAX_ROUNDS   1000
/* Pages cached by a paged index: the daemon's default (node.index_cache_pages). */
#define CACHE_PAGES 64
/* Newer items appended to a sealed index of N_ITEMS, per repetition. */
#define N_APPENDS 20000

struct item {
    uint64_t created;
    uint8_t id[ID];
};

/* splitmix64: a seeded, deterministic stream. */
static uint64_t
next_rand(uint64_t *s)
{
    uint64_t z = (*s += UINT64_C(0x9e3779b97f4a7c15));

    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

/* n items in created order (ties broken by id when the index sorts them). */
static struct item *
make_items(size_t n, uint64_t seed)
{
    struct item *it = malloc(n * sizeof(*it));

    if (it == NULL) {
        fprintf(stderr, "praxis-bench: out of memory for %zu items\n", n);
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        it[i].created = CREATED_BASE + (uint64_t)i * CREATED_STEP + next_rand(&seed) % CREATED_JIT;
        for (size_t k = 0; k < ID; k += 8) {
            uint64_t r = next_rand(&seed);

            memcpy(it[i].id + k, &r, 8);
        }
    }
    return it;
}

/* A paged index's page file, with a count of the pager's calls. */
struct paging {
    struct px_pagefile *pf;
    uint64_t reads, writes;
};

static int
paging_write(void *ctx, uint64_t slot, const void *buf, size_t len)
{
    struct paging *pg = ctx;

    pg->writes++;
    return px_pagefile_write(pg->pf, slot, buf, len);
}

static int
paging_read(void *ctx, uint64_t slot, void *buf, size_t len)
{
    struct paging *pg = ctx;

    pg->reads++;
    return px_pagefile_read(pg->pf, slot, buf, len);
}

/* An index and, when it is paged, its page file. */
struct index {
    struct px_negentropy_storage *st;
    struct paging *pg; /* NULL: all in memory */
};

static void
index_fini(struct index *ix)
{
    px_negentropy_storage_free(ix->st);
    if (ix->pg != NULL) {
        px_pagefile_close(ix->pg->pf);
        free(ix->pg);
    }
    memset(ix, 0, sizeof(*ix));
}

/*
 * Builds ix: a sealed storage of items[i] for every i in [0, n) with pick(i) (NULL: all),
 * all in memory when dir is NULL, else paged as the daemon keeps it: a page file of its own
 * in dir, CACHE_PAGES pages cached. Returns 0, or -1 after printing why (ix zeroed).
 */
static int
index_make(struct index *ix, const struct item *items, size_t n, bool (*pick)(size_t i, void *arg),
           void *arg, const char *dir)
{
    struct px_negentropy_pager pager = {paging_write, paging_read, NULL};
    char err[256];
    int rc;

    memset(ix, 0, sizeof(*ix));
    if (dir != NULL) {
        if ((ix->pg = calloc(1, sizeof(*ix->pg))) == NULL) {
            fprintf(stderr, "praxis-bench: out of memory\n");
            return -1;
        }
        if (px_pagefile_open(dir, &ix->pg->pf, err, sizeof(err)) != 0) {
            fprintf(stderr, "praxis-bench: %s\n", err);
            index_fini(ix);
            return -1;
        }
    }
    pager.ctx = ix->pg;
    if ((rc = px_negentropy_storage_new(&ix->st)) == 0 && ix->pg != NULL) {
        rc = px_negentropy_storage_set_pager(ix->st, &pager, CACHE_PAGES);
    }
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (pick == NULL || pick(i, arg)) {
            rc = px_negentropy_storage_insert(ix->st, items[i].created, items[i].id);
        }
    }
    if (rc == 0) {
        rc = px_negentropy_storage_seal(ix->st);
    }
    if (rc != 0) {
        fprintf(stderr, "praxis-bench: building an index%s: %s\n", dir != NULL ? " (paged)" : "",
                px_strerror(rc));
        index_fini(ix);
        return -1;
    }
    return 0;
}

/* What one message of len bytes costs on the link: wire envelope + box-stream frames. */
static int
link_bytes(const uint8_t *neg, size_t len, uint8_t *scratch, size_t cap, size_t *out)
{
    struct px_wire_msg msg;
    size_t wlen = 0;
    int rc;

    memset(&msg, 0, sizeof(msg));
    msg.type = PX_WIRE_RECONCILE;
    msg.neg = neg;
    msg.neg_len = len;
    if ((rc = px_wire_encode(&msg, scratch, cap, &wlen)) != 0) {
        fprintf(stderr, "praxis-bench: encoding a reconcile message of %zu bytes: %s\n", len,
                px_strerror(rc));
        return -1;
    }
    *out = wlen +
           PX_BOXSTREAM_HEADER_BYTES * ((wlen + PX_BOXSTREAM_MAX_BODY - 1) / PX_BOXSTREAM_MAX_BODY);
    return 0;
}

/* One whole reconciliation, as the daemon runs it. */
struct recon {
    unsigned rounds;         /* round trips: client message + server reply */
    size_t up, down;         /* link bytes client -> server, server -> client */
    size_t neg_up, neg_down; /* negentropy bytes alone */
    size_t max_msg;          /* the largest negentropy message */
    uint64_t digest;         /* FNV-1a of every message, both ways, in order */
    uint8_t *have, *need;    /* every id reported, duplicates included */
    size_t have_n, need_n;
};

static void
recon_fini(struct recon *r)
{
    free(r->have);
    free(r->need);
    memset(r, 0, sizeof(*r));
}

static uint64_t
fnv1a(uint64_t h, const uint8_t *p, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        h = (h ^ p[i]) * UINT64_C(0x100000001b3);
    }
    return h;
}

static int
append_ids(uint8_t **dst, size_t *n, const uint8_t *ids, size_t k)
{
    uint8_t *p;

    if (k == 0) {
        return 0;
    }
    if ((p = realloc(*dst, (*n + k) * ID)) == NULL) {
        return -1;
    }
    memcpy(p + *n * ID, ids, k * ID);
    *dst = p;
    *n += k;
    return 0;
}

/*
 * Reconciles client against server with the daemon's frame limit. With r NULL only the
 * work is done (for timing). Returns 0 or -1 after printing why.
 */
static int
reconcile(const struct px_negentropy_storage *client, const struct px_negentropy_storage *server,
          struct recon *r, uint8_t *scratch, size_t cap)
{
    struct px_negentropy *ne = NULL;
    uint8_t *msg = NULL;
    size_t len = 0, b;
    int rc, ret = -1;

    if ((rc = px_negentropy_new(client, DAEMON_NEG_FRAME, &ne)) != 0 ||
        (rc = px_negentropy_initiate(ne, &msg, &len)) != 0) {
        goto fail;
    }
    for (unsigned round = 0; msg != NULL; round++) {
        struct px_negentropy *sv = NULL;
        struct px_negentropy_result res;
        uint8_t *reply = NULL;
        size_t rlen = 0;

        if (round >= MAX_ROUNDS) {
            fprintf(stderr, "praxis-bench: reconciliation did not end in %d rounds\n", MAX_ROUNDS);
            goto out;
        }
        /* The server answers with a fresh reconciler, as the daemon does. */
        if ((rc = px_negentropy_new(server, DAEMON_NEG_FRAME, &sv)) == 0) {
            rc = px_negentropy_respond(sv, msg, len, &reply, &rlen);
        }
        px_negentropy_free(sv);
        if (rc != 0) {
            goto fail;
        }
        if (r != NULL) {
            r->rounds++;
            r->digest =
                fnv1a(fnv1a(r->rounds == 1 ? UINT64_C(0xcbf29ce484222325) : r->digest, msg, len),
                      reply, rlen);
            r->neg_up += len;
            r->neg_down += rlen;
            r->max_msg = len > r->max_msg ? len : r->max_msg;
            r->max_msg = rlen > r->max_msg ? rlen : r->max_msg;
            if (link_bytes(msg, len, scratch, cap, &b) != 0) {
                free(reply);
                goto out;
            }
            r->up += b;
            if (link_bytes(reply, rlen, scratch, cap, &b) != 0) {
                free(reply);
                goto out;
            }
            r->down += b;
        }
        free(msg);
        msg = NULL;
        rc = px_negentropy_reconcile(ne, reply, rlen, &res);
        free(reply);
        if (rc != 0) {
            goto fail;
        }
        if (r != NULL && (append_ids(&r->have, &r->have_n, res.have, res.have_n) != 0 ||
                          append_ids(&r->need, &r->need_n, res.need, res.need_n) != 0)) {
            px_negentropy_result_fini(&res);
            fprintf(stderr, "praxis-bench: out of memory\n");
            goto out;
        }
        msg = res.msg;
        len = res.msg_len;
        res.msg = NULL;
        px_negentropy_result_fini(&res);
    }
    ret = 0;
    goto out;
fail:
    fprintf(stderr, "praxis-bench: reconciliation: %s: %s\n", px_strerror(rc),
            ne != NULL ? px_negentropy_reason(ne) : "");
out:
    free(msg);
    px_negentropy_free(ne);
    return ret;
}

static int
cmp_id(const void *a, const void *b)
{
    return memcmp(a, b, ID);
}

/* Sorts ids[0..n) and removes duplicates; returns the new count. */
static size_t
sort_unique(uint8_t *ids, size_t n)
{
    size_t k = 0;

    qsort(ids, n, ID, cmp_id);
    for (size_t i = 0; i < n; i++) {
        if (k == 0 || memcmp(ids + (k - 1) * ID, ids + i * ID, ID) != 0) {
            memmove(ids + k * ID, ids + i * ID, ID);
            k++;
        }
    }
    return k;
}

/* Do the reported ids (as a set) equal want[0..want_n) (sorted, distinct)? */
static bool
same_set(uint8_t *got, size_t got_n, const uint8_t *want, size_t want_n)
{
    got_n = got_n > 0 ? sort_unique(got, got_n) : 0;
    return got_n == want_n && (want_n == 0 || memcmp(got, want, want_n * ID) == 0);
}

/* ---- Scenarios ---- */

/* Items [0, base) are on both sides; of the k newest after them, which side has each. */
struct split {
    size_t base;
    size_t k;
    bool both_sides; /* false: every difference on the server; true: alternately */
    bool client;     /* the side being built */
};

static bool
pick_side(size_t i, void *arg)
{
    const struct split *s = arg;

    if (i < s->base) {
        return true;
    }
    if (i >= s->base + s->k) {
        return false;
    }
    /* Differences: one-sided ones are the server's; split ones alternate, newest first. */
    if (!s->both_sides) {
        return !s->client;
    }
    return ((s->base + s->k - 1 - i) % 2 == 0) != s->client;
}

/* Both sides of a scenario. */
struct sides {
    struct index client, server;
};

static void
sides_fini(struct sides *s)
{
    index_fini(&s->client);
    index_fini(&s->server);
}

/* Builds both sides for (base, k, both_sides), in memory or paged in dir. 0 or -1. */
static int
sides_make(struct sides *s, const struct item *items, size_t base, size_t k, bool both_sides,
           const char *dir)
{
    struct split cs = {base, k, both_sides, true}, ss = {base, k, both_sides, false};

    memset(s, 0, sizeof(*s));
    if (index_make(&s->client, items, base + k, pick_side, &cs, dir) != 0 ||
        index_make(&s->server, items, base + k, pick_side, &ss, dir) != 0) {
        sides_fini(s);
        return -1;
    }
    return 0;
}

/* Did two reconciliations exchange the same messages (by size and digest) and report the
 * same ids in the same order? */
static bool
same_recon(const struct recon *a, const struct recon *b)
{
    return a->rounds == b->rounds && a->up == b->up && a->down == b->down &&
           a->neg_up == b->neg_up && a->neg_down == b->neg_down && a->max_msg == b->max_msg &&
           a->digest == b->digest && a->have_n == b->have_n && a->need_n == b->need_n &&
           (a->have_n == 0 || memcmp(a->have, b->have, a->have_n * ID) == 0) &&
           (a->need_n == 0 || memcmp(a->need, b->need, a->need_n * ID) == 0);
}

/* ---- Timing ---- */

struct timed_recon {
    const struct px_negentropy_storage *client, *server;
    uint8_t *scratch;
    size_t cap;
};

static int
run_reconcile(void *ctx, uint64_t iters)
{
    struct timed_recon *t = ctx;

    for (uint64_t i = 0; i < iters; i++) {
        if (reconcile(t->client, t->server, NULL, t->scratch, t->cap) != 0) {
            return -1;
        }
    }
    return 0;
}

/* The time of one whole reconciliation in a scenario, in memory and paged. */
struct recon_time {
    struct bench_rate rates[2]; /* [0] in memory, [1] paged */
    uint64_t first_reads;       /* pages both paged sides read in the first reconciliation */
    uint64_t warm_reads;        /* and in one more after the timed ones */
};

static uint64_t
sides_reads(const struct sides *s)
{
    return s->client.pg->reads + s->server.pg->reads;
}

/*
 * Builds both sides for (k, both_sides) in memory and paged in dir, reconciles each pair
 * and checks what the client learned: exactly the differences, and with the paged sides
 * the same messages, round trips and ids as in memory. *out gets the figures (in memory).
 * Then times one whole reconciliation of each pair, interleaved, into *tm.
 */
static int
run_scenario(const struct bench_opts *opts, const struct item *items, size_t base, size_t k,
             bool both_sides, const char *dir, uint8_t *scratch, size_t cap, struct recon *out,
             struct recon_time *tm)
{
    struct split cs = {base, k, both_sides, true};
    struct sides mem, paged;
    struct recon pr;
    uint8_t *want_have = NULL, *want_need = NULL;
    size_t wh = 0, wn = 0;
    int ret = -1;

    memset(out, 0, sizeof(*out));
    memset(tm, 0, sizeof(*tm));
    memset(&pr, 0, sizeof(pr));
    memset(&mem, 0, sizeof(mem));
    memset(&paged, 0, sizeof(paged));
    if (sides_make(&mem, items, base, k, both_sides, NULL) != 0 ||
        sides_make(&paged, items, base, k, both_sides, dir) != 0) {
        goto out;
    }
    if (k > 0 && ((want_have = malloc(k * ID)) == NULL || (want_need = malloc(k * ID)) == NULL)) {
        fprintf(stderr, "praxis-bench: out of memory\n");
        goto out;
    }
    for (size_t i = base; i < base + k; i++) {
        if (pick_side(i, &cs)) {
            memcpy(want_have + wh++ * ID, items[i].id, ID);
        } else {
            memcpy(want_need + wn++ * ID, items[i].id, ID);
        }
    }
    if (wh > 0) {
        qsort(want_have, wh, ID, cmp_id);
    }
    if (wn > 0) {
        qsort(want_need, wn, ID, cmp_id);
    }
    tm->first_reads = sides_reads(&paged);
    if (reconcile(mem.client.st, mem.server.st, out, scratch, cap) != 0 ||
        reconcile(paged.client.st, paged.server.st, &pr, scratch, cap) != 0) {
        goto out;
    }
    tm->first_reads = sides_reads(&paged) - tm->first_reads;
    if (!same_recon(out, &pr)) {
        fprintf(stderr,
                "praxis-bench: reconcile %zu (%s): the paged indexes differ from the ones in "
                "memory (%u round trips, %zu + %zu bytes, %zu have, %zu need; in memory %u, "
                "%zu + %zu, %zu, %zu)\n",
                k, both_sides ? "split" : "one-sided", pr.rounds, pr.up, pr.down, pr.have_n,
                pr.need_n, out->rounds, out->up, out->down, out->have_n, out->need_n);
        goto out;
    }
    if (!same_set(out->have, out->have_n, want_have, wh) ||
        !same_set(out->need, out->need_n, want_need, wn)) {
        fprintf(stderr,
                "praxis-bench: reconcile %zu (%s): the client learned the wrong ids "
                "(%zu have, %zu need; expected %zu and %zu)\n",
                k, both_sides ? "split" : "one-sided", out->have_n, out->need_n, wh, wn);
        goto out;
    }
    {
        struct timed_recon t[2] = {{mem.client.st, mem.server.st, scratch, cap},
                                   {paged.client.st, paged.server.st, scratch, cap}};
        struct bench_case c[2] = {{"reconcile in memory", run_reconcile, &t[0]},
                                  {"reconcile paged", run_reconcile, &t[1]}};

        if (bench_run_interleaved(opts, c, 2, tm->rates) != 0) {
            goto out;
        }
        tm->warm_reads = sides_reads(&paged);
        if (run_reconcile(&t[1], 1) != 0) {
            goto out;
        }
        tm->warm_reads = sides_reads(&paged) - tm->warm_reads;
    }
    ret = 0;
out:
    free(want_have);
    free(want_need);
    recon_fini(&pr);
    sides_fini(&mem);
    sides_fini(&paged);
    return ret;
}

static int
cmp_item(const void *a, const void *b)
{
    const struct item *x = a, *y = b;

    if (x->created != y->created) {
        return x->created < y->created ? -1 : 1;
    }
    return memcmp(x->id, y->id, ID);
}

static int
cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

/*
 * Median ms over reps of building an index of items[0..n) (insert unsealed, then seal),
 * and of the baseline: qsort of a copy of the same 40-byte items, as a plain sorted array
 * would be built. Interleaved, index then sort.
 */
static int
time_build(const struct item *items, size_t n, unsigned reps, double *build_ms, double *sort_ms,
           double *spread)
{
    double *tb = calloc(reps, sizeof(double)), *ts = calloc(reps, sizeof(double));
    struct item *copy = malloc(n * sizeof(*copy));
    int ret = -1;

    if (tb == NULL || ts == NULL || copy == NULL) {
        fprintf(stderr, "praxis-bench: out of memory\n");
        goto out;
    }
    for (unsigned r = 0; r < reps; r++) {
        struct index ix;
        uint64_t t0 = bench_run_now_ns();
        int rc = index_make(&ix, items, n, NULL, NULL, NULL);

        tb[r] = (double)(bench_run_now_ns() - t0) / 1e6;
        index_fini(&ix);
        if (rc != 0) {
            goto out;
        }
        memcpy(copy, items, n * sizeof(*copy));
        /* Shuffled by position so that qsort does real work, as seal does. */
        for (size_t i = 0; i + 1 < n; i += 2) {
            struct item tmp = copy[i];

            copy[i] = copy[n - 1 - i];
            copy[n - 1 - i] = tmp;
        }
        t0 = bench_run_now_ns();
        qsort(copy, n, sizeof(*copy), cmp_item);
        ts[r] = (double)(bench_run_now_ns() - t0) / 1e6;
    }
    qsort(tb, reps, sizeof(double), cmp_double);
    qsort(ts, reps, sizeof(double), cmp_double);
    *build_ms = tb[reps / 2];
    *sort_ms = ts[reps / 2];
    *spread = (tb[reps - 1] - tb[0]) / tb[reps / 2];
    ret = 0;
out:
    free(tb);
    free(ts);
    free(copy);
    return ret;
}

/* Times an in-sync round at n items (both sides equal) and reports it under name. */
static int
time_in_sync(const struct bench_opts *opts, struct bench_report *rep, const struct item *items,
             size_t n, const char *name, uint8_t *scratch, size_t cap)
{
    struct index a, b;
    struct timed_recon t = {NULL, NULL, scratch, cap};
    struct bench_case c = {name, run_reconcile, &t};
    struct bench_rate rate;
    int ret = -1;

    memset(&b, 0, sizeof(b));
    if (index_make(&a, items, n, NULL, NULL, NULL) == 0 &&
        index_make(&b, items, n, NULL, NULL, NULL) == 0) {
        t.client = a.st;
        t.server = b.st;
    }
    if (t.server != NULL && bench_run_interleaved(opts, &c, 1, &rate) == 0) {
        bench_report_timed(rep, name, 1000.0 / rate.median, "ms", NULL, 0, rate.spread, rate.iters);
        ret = 0;
    }
    index_fini(&a);
    index_fini(&b);
    return ret;
}

/* The median of samples[0..n) (sorted in place) and their spread, (max - min) / median. */
static double
median_spread(double *samples, size_t n, double *spread)
{
    double m;

    qsort(samples, n, sizeof(double), cmp_double);
    m = samples[n / 2];
    *spread = m > 0 ? (samples[n - 1] - samples[0]) / m : 0;
    return m;
}

/* Building an index of n items, [0] in memory and [1] paged. */
struct build_cmp {
    double ms[2];     /* the median over the repetitions */
    double spread[2]; /* (max - min) / median */
    size_t memory[2]; /* px_negentropy_storage_memory, sealed */
    size_t paged;     /* px_negentropy_storage_paged_bytes of the paged one */
    uint64_t disk;    /* the blocks of its page file */
};

/*
 * Times building an index of items[0..n) (insert unsealed, then seal) in memory and paged
 * in dir (opening its page file included), interleaved over reps repetitions, and takes
 * the memory of each from the first.
 */
static int
time_build_paged(const struct item *items, size_t n, unsigned reps, const char *dir,
                 struct build_cmp *out)
{
    double *t = calloc(2 * (size_t)reps, sizeof(double));
    int ret = -1;

    memset(out, 0, sizeof(*out));
    if (t == NULL) {
        fprintf(stderr, "praxis-bench: out of memory\n");
        return -1;
    }
    for (unsigned r = 0; r < reps; r++) {
        for (int p = 0; p < 2; p++) {
            struct index ix;
            uint64_t t0 = bench_run_now_ns();

            if (index_make(&ix, items, n, NULL, NULL, p == 1 ? dir : NULL) != 0) {
                goto out;
            }
            t[p * reps + r] = (double)(bench_run_now_ns() - t0) / 1e6;
            if (r == 0) {
                out->memory[p] = px_negentropy_storage_memory(ix.st);
            }
            if (r == 0 && p == 1) {
                out->paged = px_negentropy_storage_paged_bytes(ix.st);
                out->disk = px_pagefile_disk_bytes(ix.pg->pf);
            }
            index_fini(&ix);
        }
    }
    for (int p = 0; p < 2; p++) {
        out->ms[p] = median_spread(t + p * reps, reps, &out->spread[p]);
    }
    ret = 0;
out:
    free(t);
    return ret;
}

/*
 * Times appending items[base..base + k), each newer than every item before it (records
 * arriving), to a sealed index of items[0..base): us[0] in memory and us[1] paged in dir,
 * the median microseconds per insert over reps repetitions, interleaved. Each repetition
 * appends to a freshly built index (not timed). io: the pages the paged one read and wrote
 * while appending, in the first repetition.
 */
static int
time_appends(const struct item *items, size_t base, size_t k, unsigned reps, const char *dir,
             double us[2], double spread[2], uint64_t io[2])
{
    double *t = calloc(2 * (size_t)reps, sizeof(double));
    int ret = -1;

    if (t == NULL) {
        fprintf(stderr, "praxis-bench: out of memory\n");
        return -1;
    }
    for (unsigned r = 0; r < reps; r++) {
        for (int p = 0; p < 2; p++) {
            struct index ix;
            uint64_t t0;
            int rc = 0;

            if (index_make(&ix, items, base, NULL, NULL, p == 1 ? dir : NULL) != 0) {
                goto out;
            }
            if (r == 0 && p == 1) {
                io[0] = ix.pg->reads;
                io[1] = ix.pg->writes;
            }
            t0 = bench_run_now_ns();
            for (size_t i = base; i < base + k && rc == 0; i++) {
                rc = px_negentropy_storage_insert(ix.st, items[i].created, items[i].id);
            }
            t[p * reps + r] = (double)(bench_run_now_ns() - t0) / 1e3 / (double)k;
            if (r == 0 && p == 1) {
                io[0] = ix.pg->reads - io[0];
                io[1] = ix.pg->writes - io[1];
            }
            if (rc == 0 && px_negentropy_storage_size(ix.st) != base + k) {
                rc = PX_EIO;
            }
            index_fini(&ix);
            if (rc != 0) {
                fprintf(stderr, "praxis-bench: appending to an index%s: %s\n",
                        p == 1 ? " (paged)" : "", px_strerror(rc));
                goto out;
            }
        }
    }
    for (int p = 0; p < 2; p++) {
        us[p] = median_spread(t + p * reps, reps, &spread[p]);
    }
    ret = 0;
out:
    free(t);
    return ret;
}

/*
 * Reports one whole reconciliation of scenario what (in_sync, diff_1, ...) in memory and
 * paged as reconcile_memory_<what>_ms<suffix> and reconcile_paged_<what>_ms<suffix>, with
 * the former as its baseline.
 */
static void
report_recon_ms(struct bench_report *rep, const char *what, const char *suffix,
                const struct recon_time *tm)
{
    const struct bench_rate *rates = tm->rates;
    char mem[64], paged[64];
    double mem_ms = 1000.0 / rates[0].median;

    snprintf(mem, sizeof(mem), "reconcile_memory_%s_ms%s", what, suffix);
    snprintf(paged, sizeof(paged), "reconcile_paged_%s_ms%s", what, suffix);
    bench_report_timed(rep, mem, mem_ms, "ms", NULL, 0, rates[0].spread, rates[0].iters);
    bench_report_timed(rep, paged, 1000.0 / rates[1].median, "ms", mem, mem_ms, rates[1].spread,
                       rates[1].iters);
    fprintf(stderr,
            "reconcile: %s%s: %.4f ms in memory, %.4f ms paged (pages read by both sides: %llu "
            "in the first reconciliation, %llu in one after the timed ones)\n",
            what, suffix, mem_ms, 1000.0 / rates[1].median, (unsigned long long)tm->first_reads,
            (unsigned long long)tm->warm_reads);
}

/* Reports building and the memory of an index of n items, in memory and paged. */
static void
report_build(struct bench_report *rep, const struct build_cmp *b, size_t n, const char *suffix)
{
    char mem[64], paged[64];
    double mem_b = (double)b->memory[0] / (double)n;

    snprintf(mem, sizeof(mem), "reconcile_memory_build_ms%s", suffix);
    snprintf(paged, sizeof(paged), "reconcile_paged_build_ms%s", suffix);
    bench_report_timed(rep, mem, b->ms[0], "ms", NULL, 0, b->spread[0], n);
    bench_report_timed(rep, paged, b->ms[1], "ms", mem, b->ms[0], b->spread[1], n);
    snprintf(mem, sizeof(mem), "reconcile_memory_bytes_per_item%s", suffix);
    bench_report_value(rep, mem, mem_b, "bytes", NULL, 0);
    snprintf(paged, sizeof(paged), "reconcile_paged_bytes_per_item%s", suffix);
    bench_report_value(rep, paged, (double)b->memory[1] / (double)n, "bytes", mem, mem_b);
    snprintf(paged, sizeof(paged), "reconcile_paged_page_bytes_per_item%s", suffix);
    bench_report_value(rep, paged, (double)b->paged / (double)n, "bytes", mem, mem_b);
    fprintf(stderr,
            "reconcile: index of %zu items: built in %.1f ms in memory, %.1f ms paged; %zu bytes "
            "in memory, paged %zu + %zu in %zu-byte pages (%llu on disk)\n",
            n, b->ms[0], b->ms[1], b->memory[0], b->memory[1], b->paged, px_negentropy_page_size(),
            (unsigned long long)b->disk);
}

int
bench_reconcile_run(const struct bench_opts *opts, struct bench_report *rep)
{
    static const size_t diffs[] = {1, 100, 1000};
    size_t large = opts->quick ? N_ITEMS * 2 : N_LARGE;
    size_t cap = PX_WIRE_MAX_RECONCILE + 64;
    uint8_t *scratch = malloc(cap), ideal_msg[32];
    struct item *items = make_items(large + MAX_DIFF, UINT64_C(0x7072617869730001));
    const char *sfx = opts->quick ? "_200k" : "_1m";
    struct recon sync, diff[3], split[2], big_sync, big_diff;
    struct recon_time tm, big_tm[2];
    struct build_cmp bc;
    double build_ms, sort_ms, spread, ideal = 0, app_us[2], app_spread[2];
    uint64_t app_io[2] = {0, 0};
    size_t ideal_up, ideal_down;
    char name[64], dir[256] = "";
    int ret = -1;

    memset(&sync, 0, sizeof(sync));
    memset(diff, 0, sizeof(diff));
    memset(split, 0, sizeof(split));
    memset(&big_sync, 0, sizeof(big_sync));
    memset(&big_diff, 0, sizeof(big_diff));
    if (scratch == NULL || items == NULL) {
        fprintf(stderr, "praxis-bench: out of memory\n");
        goto out;
    }
    if (bench_workdir_make(dir, sizeof(dir)) != 0) {
        dir[0] = '\0';
        goto out;
    }
    fprintf(stderr,
            "reconcile: %d items a side, frame limit %u bytes; paged: %zu-byte pages in a file "
            "of its own in %s, %d cached\n",
            N_ITEMS, DAEMON_NEG_FRAME, px_negentropy_page_size(), dir, CACHE_PAGES);

    /*
     * The ideal in-sync exchange: one fingerprint of the whole set up (61, bound infinity
     * 00 00, mode 01, 16 bytes) and the bare version byte back.
     */
    memset(ideal_msg, 0, sizeof(ideal_msg));
    ideal_msg[0] = PX_NEGENTROPY_VERSION;
    ideal_msg[3] = 1;
    if (link_bytes(ideal_msg, 20, scratch, cap, &ideal_up) != 0 ||
        link_bytes(ideal_msg, 1, scratch, cap, &ideal_down) != 0) {
        goto out;
    }
    if (run_scenario(opts, items, N_ITEMS, 0, false, dir, scratch, cap, &sync, &tm) != 0) {
        goto out;
    }
    bench_report_value(rep, "reconcile_in_sync_bytes", (double)(sync.up + sync.down), "bytes",
                       "ideal_in_sync_bytes", (double)(ideal_up + ideal_down));
    bench_report_value(rep, "reconcile_in_sync_round_trips", sync.rounds, "round trips", NULL, 0);
    bench_report_value(rep, "reconcile_in_sync_bytes_up", (double)sync.up, "bytes", NULL, 0);
    fprintf(stderr,
            "reconcile: in sync: %u round trips, %zu + %zu link bytes (negentropy %zu + %zu)\n",
            sync.rounds, sync.up, sync.down, sync.neg_up, sync.neg_down);
    report_recon_ms(rep, "in_sync", "", &tm);

    for (size_t d = 0; d < 3; d++) {
        size_t k = diffs[d];

        if (run_scenario(opts, items, N_ITEMS, k, false, dir, scratch, cap, &diff[d], &tm) != 0) {
            goto out;
        }
        fprintf(stderr,
                "reconcile: %zu newest on the server only: %u round trips, %zu + %zu link bytes "
                "(negentropy %zu + %zu, largest message %zu)\n",
                k, diff[d].rounds, diff[d].up, diff[d].down, diff[d].neg_up, diff[d].neg_down,
                diff[d].max_msg);
        /* The baseline: the 32-byte ids alone, plus the in-sync exchange. */
        snprintf(name, sizeof(name), "reconcile_diff_%zu_bytes", k);
        bench_report_value(rep, name, (double)(diff[d].up + diff[d].down), "bytes",
                           "ids_plus_in_sync_bytes", (double)(k * ID + sync.up + sync.down));
        snprintf(name, sizeof(name), "reconcile_diff_%zu_round_trips", k);
        bench_report_value(rep, name, diff[d].rounds, "round trips", NULL, 0);
        snprintf(name, sizeof(name), "diff_%zu", k);
        report_recon_ms(rep, name, "", &tm);
    }
    for (size_t d = 1; d < 3; d++) {
        size_t k = diffs[d];
        struct recon *s = &split[d - 1];

        if (run_scenario(opts, items, N_ITEMS, k, true, dir, scratch, cap, s, &tm) != 0) {
            goto out;
        }
        fprintf(stderr,
                "reconcile: %zu newest split between the sides: %u round trips, %zu + %zu link "
                "bytes (negentropy %zu + %zu)\n",
                k, s->rounds, s->up, s->down, s->neg_up, s->neg_down);
        snprintf(name, sizeof(name), "reconcile_split_%zu_bytes", k);
        bench_report_value(rep, name, (double)(s->up + s->down), "bytes", "ids_plus_in_sync_bytes",
                           (double)(k * ID + sync.up + sync.down));
        snprintf(name, sizeof(name), "reconcile_split_%zu_round_trips", k);
        bench_report_value(rep, name, s->rounds, "round trips", NULL, 0);
        snprintf(name, sizeof(name), "split_%zu", k);
        report_recon_ms(rep, name, "", &tm);
    }
    /* Per difference: the marginal cost from 100 to 1,000 differences. */
    ideal = (double)ID;
    bench_report_value(rep, "reconcile_bytes_per_difference",
                       (double)((diff[2].up + diff[2].down) - (diff[1].up + diff[1].down)) / 900.0,
                       "bytes", "id_bytes", ideal);
    bench_report_value(rep, "reconcile_split_bytes_per_difference",
                       (double)((split[1].up + split[1].down) - (split[0].up + split[0].down)) /
                           900.0,
                       "bytes", "id_bytes", ideal);

    /* The same at the large size: one more level of fingerprints per 16x more items. */
    if (run_scenario(opts, items, large, 0, false, dir, scratch, cap, &big_sync, &big_tm[0]) != 0 ||
        run_scenario(opts, items, large, 1, false, dir, scratch, cap, &big_diff, &big_tm[1]) != 0) {
        goto out;
    }
    fprintf(stderr,
            "reconcile: %zu items a side: in sync %u round trips, %zu bytes; 1 newest on the "
            "server only: %u round trips, %zu bytes\n",
            large, big_sync.rounds, big_sync.up + big_sync.down, big_diff.rounds,
            big_diff.up + big_diff.down);
    bench_report_value(rep,
                       opts->quick ? "reconcile_in_sync_bytes_200k" : "reconcile_in_sync_bytes_1m",
                       (double)(big_sync.up + big_sync.down), "bytes", "ideal_in_sync_bytes",
                       (double)(ideal_up + ideal_down));
    bench_report_value(rep,
                       opts->quick ? "reconcile_diff_1_bytes_200k" : "reconcile_diff_1_bytes_1m",
                       (double)(big_diff.up + big_diff.down), "bytes", "ids_plus_in_sync_bytes",
                       (double)(ID + big_sync.up + big_sync.down));
    bench_report_value(
        rep, opts->quick ? "reconcile_diff_1_round_trips_200k" : "reconcile_diff_1_round_trips_1m",
        big_diff.rounds, "round trips", NULL, 0);
    report_recon_ms(rep, "in_sync", sfx, &big_tm[0]);
    report_recon_ms(rep, "diff_1", sfx, &big_tm[1]);

    if (time_in_sync(opts, rep, items, N_ITEMS, "reconcile_in_sync_round_ms", scratch, cap) != 0 ||
        time_in_sync(opts, rep, items, large,
                     opts->quick ? "reconcile_in_sync_round_ms_200k"
                                 : "reconcile_in_sync_round_ms_1m",
                     scratch, cap) != 0) {
        goto out;
    }
    if (time_build(items, N_ITEMS, opts->reps, &build_ms, &sort_ms, &spread) != 0) {
        goto out;
    }
    bench_report_timed(rep, "reconcile_index_build_ms", build_ms, "ms", "qsort_items_ms", sort_ms,
                       spread, N_ITEMS);
    if (time_build(items, large, opts->quick ? 1 : 3, &build_ms, &sort_ms, &spread) != 0) {
        goto out;
    }
    bench_report_timed(
        rep, opts->quick ? "reconcile_index_build_ms_200k" : "reconcile_index_build_ms_1m",
        build_ms, "ms", "qsort_items_ms", sort_ms, spread, large);

    /* Paged against in memory: building, memory, appending. */
    if (time_build_paged(items, N_ITEMS, opts->reps, dir, &bc) != 0) {
        goto out;
    }
    report_build(rep, &bc, N_ITEMS, "");
    if (time_build_paged(items, large, opts->quick ? 1 : 3, dir, &bc) != 0) {
        goto out;
    }
    report_build(rep, &bc, large, sfx);
    if (time_appends(items, N_ITEMS, N_APPENDS, opts->reps, dir, app_us, app_spread, app_io) != 0) {
        goto out;
    }
    bench_report_timed(rep, "reconcile_memory_append_us", app_us[0], "us", NULL, 0, app_spread[0],
                       N_APPENDS);
    bench_report_timed(rep, "reconcile_paged_append_us", app_us[1], "us",
                       "reconcile_memory_append_us", app_us[0], app_spread[1], N_APPENDS);
    fprintf(stderr,
            "reconcile: %d newer items appended to a sealed index of %d: %.3f us each in memory, "
            "%.3f us paged (%llu pages read, %llu written)\n",
            N_APPENDS, N_ITEMS, app_us[0], app_us[1], (unsigned long long)app_io[0],
            (unsigned long long)app_io[1]);
    ret = 0;
out:
    recon_fini(&sync);
    for (size_t d = 0; d < 3; d++) {
        recon_fini(&diff[d]);
    }
    recon_fini(&split[0]);
    recon_fini(&split[1]);
    recon_fini(&big_sync);
    recon_fini(&big_diff);
    free(items);
    free(scratch);
    if (dir[0] != '\0') {
        bench_workdir_done(dir);
    }
    return ret;
}
