/* SPDX-License-Identifier: MIT */
/*
 * test_negentropy_pager.c - the negentropy index with a pager (negentropy.h, "Paging").
 *
 * Every test drives paged storages next to a plain twin fed the same operations and
 * requires the same results, byte for byte: long random operation sequences (splits,
 * merges, chunks emptied and refilled), seals of edge-case sizes, full reconciliations in
 * both roles and under frame size limits. The pager is a fake that keeps pages in memory,
 * counts calls, checks that every page read was written before, and fails a chosen call:
 * after that the storage must be failed for good, refuse every call and free cleanly.
 * Also: the memory a paged storage keeps, the argument checks of set_pager, and that page
 * slots are reused.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "protocol/err.h"
#include "protocol/negentropy.h"

#define ID PX_NEGENTROPY_ID_SIZE
#define FP PX_NEGENTROPY_FINGERPRINT_SIZE

/* ---- A deterministic PRNG ---- */

struct rng {
    uint64_t x;
};

static uint64_t
rng_next(struct rng *r)
{
    uint64_t z = (r->x += UINT64_C(0x9e3779b97f4a7c15));

    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

/* Uniform enough in [0, n); 0 when n is 0. */
static uint64_t
rng_below(struct rng *r, uint64_t n)
{
    return n == 0 ? 0 : rng_next(r) % n;
}

static void
rng_id(struct rng *r, uint8_t id[ID])
{
    for (int w = 0; w < ID / 8; w++) {
        uint64_t v = rng_next(r);

        memcpy(id + 8 * w, &v, 8);
    }
}

/* An id sharing its first 16 bytes with base: near it in the order, so lower bounds with
 * prefixes of 1..16 bytes cannot tell them apart. */
static void
rng_sibling(struct rng *r, const uint8_t base[ID], uint8_t id[ID])
{
    uint8_t tail[ID];

    rng_id(r, tail);
    memcpy(id, base, ID / 2);
    memcpy(id + ID / 2, tail, ID / 2);
}

/* ---- The fake pager ---- */

/* Which calls count towards fail_at. */
enum fail_on {
    FAIL_ANY,
    FAIL_READ,
    FAIL_WRITE,
};

/* Slots beyond this are a bug in the storage (and would make the fake allocate a lot). */
#define FAKE_MAX_SLOTS (1u << 20)

struct fake {
    size_t page_size;
    uint8_t **pages; /* [cap]; NULL: never written */
    size_t cap;
    size_t reads, writes, calls; /* every call, failed ones included */
    bool written;                /* some slot was written */
    uint64_t max_slot;           /* the highest slot written */
    /* Fault injection: the fail_at-th call that fail_on counts (1-based; 0: none) returns
     * fail_rc. Only that one call fails; the storage must stay failed by itself. */
    enum fail_on fail_on;
    size_t fail_at;
    int fail_rc;
    size_t injected_at; /* the number (in calls) of the call that failed; 0: none yet */
    bool injected_write;
    /* Fail the test on a read of a slot that was never written. */
    bool check_written;
    /* Optional trace: tags[c - 1] = tag at call c. */
    uint32_t tag;
    uint32_t *tags;
    size_t tags_cap;
};

static void
fake_init(struct fake *f)
{
    memset(f, 0, sizeof(*f));
    f->page_size = px_negentropy_page_size();
    f->check_written = true;
}

static void
fake_fini(struct fake *f)
{
    for (size_t i = 0; i < f->cap; i++) {
        free(f->pages[i]);
    }
    free(f->pages);
    free(f->tags);
    memset(f, 0, sizeof(*f));
}

/* Counts one call and decides whether it fails: 0 or the injected error. */
static int
fake_count(struct fake *f, bool is_write)
{
    size_t nth;

    f->calls++;
    if (is_write) {
        f->writes++;
    } else {
        f->reads++;
    }
    if (f->tags != NULL) {
        if (f->calls > f->tags_cap) {
            f->tags_cap = f->calls * 2 + 1024;
            f->tags = realloc(f->tags, f->tags_cap * sizeof(*f->tags));
            cr_assert_not_null(f->tags);
        }
        f->tags[f->calls - 1] = f->tag;
    }
    if (f->fail_at == 0 || f->injected_at != 0) {
        return 0;
    }
    switch (f->fail_on) {
    case FAIL_READ:
        nth = is_write ? 0 : f->reads;
        break;
    case FAIL_WRITE:
        nth = is_write ? f->writes : 0;
        break;
    default:
        nth = f->calls;
        break;
    }
    if (nth != f->fail_at) {
        return 0;
    }
    f->injected_at = f->calls;
    f->injected_write = is_write;
    return f->fail_rc;
}

static int
fake_write(void *ctx, uint64_t slot, const void *buf, size_t len)
{
    struct fake *f = ctx;
    int rc;

    cr_assert_eq(len, f->page_size, "write of %zu bytes, the page size is %zu", len, f->page_size);
    cr_assert_lt(slot, FAKE_MAX_SLOTS, "write to slot %llu", (unsigned long long)slot);
    rc = fake_count(f, true);
    if (slot >= f->cap) {
        size_t ncap = (size_t)slot * 2 + 16;

        f->pages = realloc(f->pages, ncap * sizeof(*f->pages));
        cr_assert_not_null(f->pages);
        memset(f->pages + f->cap, 0, (ncap - f->cap) * sizeof(*f->pages));
        f->cap = ncap;
    }
    if (rc != 0) {
        /* A torn write: whatever was there is garbage now. */
        if (f->pages[slot] != NULL) {
            memset(f->pages[slot], 0xa5, f->page_size);
        }
        return rc;
    }
    if (f->pages[slot] == NULL) {
        f->pages[slot] = malloc(f->page_size);
        cr_assert_not_null(f->pages[slot]);
    }
    memcpy(f->pages[slot], buf, len);
    if (!f->written || slot > f->max_slot) {
        f->max_slot = slot;
    }
    f->written = true;
    return 0;
}

static int
fake_read(void *ctx, uint64_t slot, void *buf, size_t len)
{
    struct fake *f = ctx;
    int rc;

    cr_assert_eq(len, f->page_size, "read of %zu bytes, the page size is %zu", len, f->page_size);
    rc = fake_count(f, false);
    if (rc != 0) {
        memset(buf, 0xa5, len);
        return rc;
    }
    if (slot >= f->cap || f->pages[slot] == NULL) {
        cr_assert_not(f->check_written, "read of slot %llu, which was never written",
                      (unsigned long long)slot);
        memset(buf, 0xa5, len);
        return PX_EIO;
    }
    memcpy(buf, f->pages[slot], len);
    return 0;
}

static struct px_negentropy_pager
fake_pager(struct fake *f)
{
    struct px_negentropy_pager p = {.write = fake_write, .read = fake_read, .ctx = f};

    return p;
}

/* The pages a storage says it uses. */
static size_t
pages_in_use(const struct px_negentropy_storage *st)
{
    size_t b = px_negentropy_storage_paged_bytes(st), ps = px_negentropy_page_size();

    cr_assert_eq(b % ps, 0, "paged_bytes %zu is not a multiple of the page size %zu", b, ps);
    return b / ps;
}

/* ---- Storages side by side ---- */

#define TWIN_MAX 4

/* st[0] is plain; st[1..n) are paged through fk[i] with a cache of cache[i] pages. Every
 * operation goes to all of them, and each must answer as st[0] does. */
struct twin {
    size_t n;
    struct px_negentropy_storage *st[TWIN_MAX];
    struct fake fk[TWIN_MAX];
    size_t cache[TWIN_MAX];
    size_t ops;       /* operations so far, for messages */
    const char *name; /* the test phase, for messages */
};

static void
twin_new(struct twin *t, const size_t *caches, size_t npaged)
{
    memset(t, 0, sizeof(*t));
    cr_assert_leq(npaged + 1, TWIN_MAX);
    t->n = npaged + 1;
    t->name = "";
    cr_assert_eq(px_negentropy_storage_new(&t->st[0]), 0);
    for (size_t i = 1; i < t->n; i++) {
        struct px_negentropy_pager p;

        fake_init(&t->fk[i]);
        p = fake_pager(&t->fk[i]);
        t->cache[i] = caches[i - 1];
        cr_assert_eq(px_negentropy_storage_new(&t->st[i]), 0);
        cr_assert_eq(px_negentropy_storage_set_pager(t->st[i], &p, t->cache[i]), 0,
                     "set_pager with a cache of %zu", t->cache[i]);
        cr_assert_not(px_negentropy_storage_failed(t->st[i]));
    }
}

static void
twin_free(struct twin *t)
{
    for (size_t i = 0; i < t->n; i++) {
        px_negentropy_storage_free(t->st[i]);
        if (i > 0) {
            fake_fini(&t->fk[i]);
        }
    }
    memset(t, 0, sizeof(*t));
}

/* After each operation: same size and sealed state, no failure, whole pages. */
static void
twin_after(struct twin *t, const char *op)
{
    size_t size = px_negentropy_storage_size(t->st[0]);
    bool sealed = px_negentropy_storage_sealed(t->st[0]);

    t->ops++;
    for (size_t i = 1; i < t->n; i++) {
        cr_assert_eq(px_negentropy_storage_size(t->st[i]), size,
                     "%s op %zu (%s), cache %zu: size %zu, plain %zu", t->name, t->ops, op,
                     t->cache[i], px_negentropy_storage_size(t->st[i]), size);
        cr_assert_eq(px_negentropy_storage_sealed(t->st[i]), sealed, "%s op %zu (%s): sealed",
                     t->name, t->ops, op);
        cr_assert_not(px_negentropy_storage_failed(t->st[i]),
                      "%s op %zu (%s), cache %zu: failed without a pager error", t->name, t->ops,
                      op, t->cache[i]);
        (void)pages_in_use(t->st[i]);
    }
}

static int
twin_insert(struct twin *t, uint64_t ts, const uint8_t *id)
{
    int rc = px_negentropy_storage_insert(t->st[0], ts, id);

    for (size_t i = 1; i < t->n; i++) {
        int r = px_negentropy_storage_insert(t->st[i], ts, id);

        cr_assert_eq(r, rc, "%s op %zu: insert ts %llu, cache %zu: %s, plain %s", t->name, t->ops,
                     (unsigned long long)ts, t->cache[i], px_err_name(r), px_err_name(rc));
    }
    twin_after(t, "insert");
    return rc;
}

static int
twin_erase(struct twin *t, uint64_t ts, const uint8_t *id)
{
    int rc = px_negentropy_storage_erase(t->st[0], ts, id);

    for (size_t i = 1; i < t->n; i++) {
        int r = px_negentropy_storage_erase(t->st[i], ts, id);

        cr_assert_eq(r, rc, "%s op %zu: erase ts %llu, cache %zu: %s, plain %s", t->name, t->ops,
                     (unsigned long long)ts, t->cache[i], px_err_name(r), px_err_name(rc));
    }
    twin_after(t, "erase");
    return rc;
}

static int
twin_seal(struct twin *t)
{
    int rc = px_negentropy_storage_seal(t->st[0]);

    for (size_t i = 1; i < t->n; i++) {
        int r = px_negentropy_storage_seal(t->st[i]);

        cr_assert_eq(r, rc, "%s op %zu: seal, cache %zu: %s, plain %s", t->name, t->ops,
                     t->cache[i], px_err_name(r), px_err_name(rc));
    }
    twin_after(t, "seal");
    return rc;
}

static int
twin_get(struct twin *t, size_t index, uint64_t *ts, uint8_t *id)
{
    int rc = px_negentropy_storage_get(t->st[0], index, ts, id);

    for (size_t i = 1; i < t->n; i++) {
        uint64_t ts2 = 0;
        uint8_t id2[ID] = {0};
        int r = px_negentropy_storage_get(t->st[i], index, &ts2, id2);

        cr_assert_eq(r, rc, "%s op %zu: get %zu, cache %zu: %s, plain %s", t->name, t->ops, index,
                     t->cache[i], px_err_name(r), px_err_name(rc));
        if (rc == 0) {
            cr_assert(ts2 == *ts && memcmp(id2, id, ID) == 0,
                      "%s op %zu: get %zu, cache %zu: ts %llu, plain %llu (or another id)", t->name,
                      t->ops, index, t->cache[i], (unsigned long long)ts2, (unsigned long long)*ts);
        }
    }
    twin_after(t, "get");
    return rc;
}

static int
twin_lower_bound(struct twin *t, uint64_t ts, const uint8_t *prefix, size_t plen, size_t *pos)
{
    int rc = px_negentropy_storage_lower_bound(t->st[0], ts, prefix, plen, pos);

    for (size_t i = 1; i < t->n; i++) {
        size_t p2 = SIZE_MAX;
        int r = px_negentropy_storage_lower_bound(t->st[i], ts, prefix, plen, &p2);

        cr_assert_eq(r, rc, "%s op %zu: lower_bound ts %llu/%zu, cache %zu: %s, plain %s", t->name,
                     t->ops, (unsigned long long)ts, plen, t->cache[i], px_err_name(r),
                     px_err_name(rc));
        if (rc == 0) {
            cr_assert_eq(p2, *pos, "%s op %zu: lower_bound ts %llu/%zu, cache %zu: %zu, plain %zu",
                         t->name, t->ops, (unsigned long long)ts, plen, t->cache[i], p2, *pos);
        }
    }
    twin_after(t, "lower_bound");
    return rc;
}

static int
twin_fingerprint(struct twin *t, size_t begin, size_t end, uint8_t fp[FP])
{
    int rc = px_negentropy_storage_fingerprint(t->st[0], begin, end, fp);

    for (size_t i = 1; i < t->n; i++) {
        uint8_t fp2[FP];
        int r = px_negentropy_storage_fingerprint(t->st[i], begin, end, fp2);

        cr_assert_eq(r, rc, "%s op %zu: fingerprint [%zu, %zu), cache %zu: %s, plain %s", t->name,
                     t->ops, begin, end, t->cache[i], px_err_name(r), px_err_name(rc));
        if (rc == 0) {
            cr_assert_eq(memcmp(fp2, fp, FP), 0,
                         "%s op %zu: fingerprint [%zu, %zu), cache %zu differs from plain", t->name,
                         t->ops, begin, end, t->cache[i]);
        }
    }
    twin_after(t, "fingerprint");
    return rc;
}

/* Item index of the plain storage, not counted as an operation (the paged ones are not
 * asked, so their caches are not disturbed). */
static void
twin_pick(struct twin *t, size_t index, uint64_t *ts, uint8_t *id)
{
    cr_assert_eq(px_negentropy_storage_get(t->st[0], index, ts, id), 0, "pick %zu of %zu", index,
                 px_negentropy_storage_size(t->st[0]));
}

static size_t
twin_size(const struct twin *t)
{
    return px_negentropy_storage_size(t->st[0]);
}

/* Everything, in full: every item, a bound at every item (random prefix length), every
 * prefix and suffix fingerprint and some random ranges. */
static void
twin_check_all(struct twin *t, struct rng *r)
{
    size_t n = twin_size(t), pos;
    uint8_t id[ID], fp[FP];
    uint64_t ts;

    for (size_t i = 0; i < n; i++) {
        size_t plen = (size_t)rng_below(r, ID + 1);

        cr_assert_eq(twin_get(t, i, &ts, id), 0);
        memset(id + plen, 0, ID - plen);
        cr_assert_eq(twin_lower_bound(t, ts, id, plen, &pos), 0);
        cr_assert_leq(pos, i, "%s: lower bound of item %zu with a %zu-byte prefix is %zu", t->name,
                      i, plen, pos);
    }
    cr_assert_eq(twin_get(t, n, &ts, id), PX_EINVAL);
    cr_assert_eq(twin_lower_bound(t, UINT64_MAX, NULL, 0, &pos), 0);
    cr_assert_eq(pos, n);
    for (size_t i = 0; i <= n; i++) {
        cr_assert_eq(twin_fingerprint(t, 0, i, fp), 0);
        cr_assert_eq(twin_fingerprint(t, i, n, fp), 0);
    }
    for (int k = 0; k < 200; k++) {
        size_t a = (size_t)rng_below(r, n + 1), b = (size_t)rng_below(r, n + 1);

        cr_assert_eq(twin_fingerprint(t, a < b ? a : b, a < b ? b : a, fp), 0);
    }
}

/* ---- Random operations ---- */

/* The largest timestamp the random operations use; far from infinity. */
#define TS_TOP (UINT64_C(1) << 40)

/* One random insert: an append at or just past the newest item, a random timestamp below
 * it, the timestamp of an existing item (a sibling id or a fresh one), or an exact
 * duplicate. Returns the plain storage's answer. */
static int
random_insert(struct twin *t, struct rng *r, unsigned append_pct)
{
    size_t n = twin_size(t);
    uint64_t k = rng_below(r, 100), ts, last_ts = 0;
    uint8_t id[ID], base[ID];

    rng_id(r, id);
    if (n > 0) {
        twin_pick(t, n - 1, &last_ts, base);
    }
    if (n == 0 || k < append_pct) {
        ts = last_ts + rng_below(r, 3);
        if (n > 0 && rng_below(r, 4) == 0) {
            rng_sibling(r, base, id);
        }
    } else if (k < append_pct + (100 - append_pct) / 2) {
        ts = rng_below(r, last_ts + 1);
    } else if (k < 97) {
        twin_pick(t, (size_t)rng_below(r, n), &ts, base);
        if (rng_below(r, 2) == 0) {
            rng_sibling(r, base, id);
        }
    } else {
        twin_pick(t, (size_t)rng_below(r, n), &ts, id);
        cr_assert_eq(twin_insert(t, ts, id), PX_EEXIST, "%s: an exact duplicate", t->name);
        return PX_EEXIST;
    }
    cr_assert_lt(ts, TS_TOP);
    return twin_insert(t, ts, id);
}

/* Erases a random existing item, or a run of up to 64 consecutive ones (whole chunks go).
 * Returns how many were erased. */
static size_t
random_erase(struct twin *t, struct rng *r, bool runs)
{
    size_t n = twin_size(t), at, len = 1;
    uint64_t ts;
    uint8_t id[ID];

    if (n == 0) {
        return 0;
    }
    at = (size_t)rng_below(r, n);
    if (runs && rng_below(r, 3) == 0) {
        len = 1 + (size_t)rng_below(r, 64);
        if (len > n - at) {
            len = n - at;
        }
    }
    for (size_t i = 0; i < len; i++) {
        twin_pick(t, at, &ts, id);
        cr_assert_eq(twin_erase(t, ts, id), 0, "%s: erase of item %zu of %zu", t->name, at,
                     twin_size(t));
    }
    return len;
}

/* Erases something that is not there: a random item, or a sibling of an existing one. */
static void
random_erase_missing(struct twin *t, struct rng *r)
{
    size_t n = twin_size(t);
    uint64_t ts = rng_below(r, TS_TOP);
    uint8_t id[ID], base[ID];

    rng_id(r, id);
    if (n > 0 && rng_below(r, 2) == 0) {
        twin_pick(t, (size_t)rng_below(r, n), &ts, base);
        rng_sibling(r, base, id);
    }
    cr_assert_eq(twin_erase(t, ts, id), PX_ENOTFOUND, "%s: erase of a missing item", t->name);
}

/* A random read: get (past the end too), a bound (from an item, with a random prefix,
 * nudged), or a fingerprint (invalid ranges too). */
static void
random_read(struct twin *t, struct rng *r)
{
    size_t n = twin_size(t), pos;
    uint64_t k = rng_below(r, 3), ts;
    uint8_t id[ID], fp[FP];

    if (k == 0) {
        size_t at = (size_t)rng_below(r, n + 3);

        cr_assert_eq(twin_get(t, at, &ts, id), at < n ? 0 : PX_EINVAL);
    } else if (k == 1) {
        size_t plen = (size_t)rng_below(r, ID + 2);

        if (n > 0 && rng_below(r, 4) != 0) {
            twin_pick(t, (size_t)rng_below(r, n), &ts, id);
            if (rng_below(r, 3) == 0 && plen > 0 && plen <= ID) {
                id[plen - 1] = (uint8_t)(id[plen - 1] + (rng_below(r, 2) == 0 ? 1 : 255));
            }
            if (rng_below(r, 4) == 0) {
                ts += rng_below(r, 3);
                ts -= ts > 0 ? 1 : 0;
            }
        } else {
            ts = rng_below(r, TS_TOP);
            rng_id(r, id);
        }
        if (plen <= ID) {
            memset(id + plen, 0, ID - plen);
        }
        cr_assert_eq(twin_lower_bound(t, ts, id, plen, &pos), plen <= ID ? 0 : PX_EINVAL);
    } else {
        size_t a = (size_t)rng_below(r, n + 1), b = (size_t)rng_below(r, n + 1);

        if (rng_below(r, 20) == 0) {
            cr_assert_eq(twin_fingerprint(t, a, n + 1 + (size_t)rng_below(r, 3), fp), PX_EINVAL);
        } else if (a != b && rng_below(r, 20) == 0) {
            cr_assert_eq(twin_fingerprint(t, a > b ? a : b, a > b ? b : a, fp), PX_EINVAL);
        } else {
            cr_assert_eq(twin_fingerprint(t, a < b ? a : b, a < b ? b : a, fp), 0);
        }
    }
}

/* ops mixed operations: inserts (appends, middle, same timestamp, duplicates), erases of
 * existing and missing items, reads. */
static void
random_mix(struct twin *t, struct rng *r, size_t ops, unsigned insert_pct, unsigned erase_pct)
{
    for (size_t op = 0; op < ops; op++) {
        uint64_t k = rng_below(r, 100);

        if (k < insert_pct) {
            (void)random_insert(t, r, 50);
        } else if (k < insert_pct + erase_pct) {
            if (rng_below(r, 6) == 0) {
                random_erase_missing(t, r);
            } else {
                (void)random_erase(t, r, false);
            }
        } else {
            random_read(t, r);
        }
    }
}

/* ---- Equivalence with the plain storage ---- */

Test(negentropy_pager, random_operations_match_plain)
{
    const size_t caches[] = {PX_NEGENTROPY_MIN_CACHE, 16};
    struct twin t;
    struct rng r = {20260101};
    uint64_t ts = 1000;
    uint8_t id[ID], prev[ID], fp[FP];
    size_t pos, peak = 0;

    twin_new(&t, caches, 2);
    /* Before sealing: appends in timestamp order, runs of equal timestamps with sibling
     * ids, a few older ones. Reads refuse an unsealed storage. */
    t.name = "before seal";
    rng_id(&r, prev);
    for (size_t i = 0; i < 3000; i++) {
        uint64_t k = rng_below(&r, 10), its = ts;

        if (k < 6) {
            ts += rng_below(&r, 3);
            its = ts;
            rng_id(&r, id);
        } else if (k < 9) {
            rng_sibling(&r, prev, id);
        } else {
            its = rng_below(&r, ts + 1);
            rng_id(&r, id);
        }
        cr_assert_eq(twin_insert(&t, its, id), 0);
        memcpy(prev, id, ID);
    }
    cr_assert_eq(twin_get(&t, 0, &ts, id), PX_EINVAL);
    cr_assert_eq(twin_lower_bound(&t, 0, NULL, 0, &pos), PX_EINVAL);
    cr_assert_eq(twin_fingerprint(&t, 0, 0, fp), PX_EINVAL);
    cr_assert_eq(twin_erase(&t, ts, prev), PX_EINVAL);
    cr_assert_eq(twin_insert(&t, PX_NEGENTROPY_TS_INFINITY, id), PX_EINVAL);
    t.name = "seal";
    cr_assert_eq(twin_seal(&t), 0);
    cr_assert_eq(twin_seal(&t), PX_EINVAL);
    twin_check_all(&t, &r);

    /* Mixed, growing. */
    t.name = "mixed";
    random_mix(&t, &r, 6000, 55, 20);
    twin_check_all(&t, &r);
    cr_assert_eq(twin_insert(&t, PX_NEGENTROPY_TS_INFINITY, id), PX_EINVAL);

    /* Heavy erases down to a few percent (runs empty whole chunks: merges), a refill
     * (splits), twice; then everything goes and comes back. */
    for (int round = 0; round < 2; round++) {
        size_t start = twin_size(&t), bound = 0;

        t.name = "erase phase";
        while (twin_size(&t) > start / 30 && bound++ < 2 * start) {
            (void)random_erase(&t, &r, true);
            if (rng_below(&r, 8) == 0) {
                random_read(&t, &r);
            }
        }
        cr_assert_leq(twin_size(&t), start / 30 + 1);
        twin_check_all(&t, &r);
        t.name = "refill phase";
        for (size_t i = 0; i < 5000; i++) {
            (void)random_insert(&t, &r, round == 0 ? 30 : 70);
            if (rng_below(&r, 8) == 0) {
                random_read(&t, &r);
            }
        }
        twin_check_all(&t, &r);
        if (twin_size(&t) > peak) {
            peak = twin_size(&t);
        }
    }
    t.name = "erase all";
    for (size_t bound = 0; twin_size(&t) > 0 && bound < 100000; bound++) {
        (void)random_erase(&t, &r, true);
    }
    cr_assert_eq(twin_size(&t), 0);
    twin_check_all(&t, &r);
    t.name = "after empty";
    random_mix(&t, &r, 3000, 70, 20);
    twin_check_all(&t, &r);
    cr_log_info("random operations: %zu operations, peak %zu items, ended at %zu; pager calls "
                "(cache %zu) %zu reads %zu writes, (cache %zu) %zu reads %zu writes",
                t.ops, peak, twin_size(&t), t.cache[1], t.fk[1].reads, t.fk[1].writes, t.cache[2],
                t.fk[2].reads, t.fk[2].writes);
    cr_assert_gt(t.fk[1].reads, 0, "the smallest cache never read a page");
    twin_free(&t);
}

Test(negentropy_pager, seal_sizes)
{
    /* Seals of 0, 1 and around and at multiples of a chunk's fill (112 at seal, 128 at
     * most), then some changes. */
    static const size_t sizes[] = {0,   1,   2,   111, 112, 113, 127, 128,  129,
                                   224, 256, 336, 448, 512, 560, 640, 1120, 1280};
    const size_t caches[] = {PX_NEGENTROPY_MIN_CACHE, PX_NEGENTROPY_MIN_CACHE + 1};
    struct rng r = {77};

    for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
        struct twin t;
        char name[64];

        snprintf(name, sizeof(name), "seal of %zu", sizes[s]);
        twin_new(&t, caches, 2);
        t.name = name;
        for (size_t i = 0; i < sizes[s]; i++) {
            uint8_t id[ID];

            rng_id(&r, id);
            /* Shuffled timestamps, pairs of equal ones. */
            cr_assert_eq(twin_insert(&t, (i * 7919) % (sizes[s] + 1) / 2, id), 0);
        }
        cr_assert_eq(twin_seal(&t), 0);
        cr_assert_eq(twin_size(&t), sizes[s]);
        twin_check_all(&t, &r);
        for (size_t i = 1; i < t.n; i++) {
            size_t pages = pages_in_use(t.st[i]);

            cr_assert_leq(pages * 100, sizes[s] + 100, "%s: %zu pages", name, pages);
            cr_assert(sizes[s] == 0 || pages > 0, "%s: no pages", name);
        }
        random_mix(&t, &r, 300, 50, 30);
        twin_check_all(&t, &r);
        twin_free(&t);
    }
}

Test(negentropy_pager, seal_refuses_duplicates)
{
    /* A failed seal is not a pager failure: the storage stays unsealed with its items. */
    const size_t caches[] = {PX_NEGENTROPY_MIN_CACHE};
    struct twin t;
    struct rng r = {5};
    uint8_t id[ID];

    twin_new(&t, caches, 1);
    t.name = "duplicates";
    for (size_t i = 0; i < 500; i++) {
        rng_id(&r, id);
        cr_assert_eq(twin_insert(&t, i / 3, id), 0);
    }
    cr_assert_eq(twin_insert(&t, 499 / 3, id), 0);
    cr_assert_eq(twin_seal(&t), PX_EEXIST);
    cr_assert_not(px_negentropy_storage_sealed(t.st[1]));
    cr_assert_eq(px_negentropy_storage_size(t.st[1]), 501);
    twin_free(&t);
}

/* ---- Reconciliation ---- */

/* Every message of one run, in order. */
struct transcript {
    uint8_t *bytes;
    size_t len, cap;
    size_t *ends; /* ends[k]: where message k ends in bytes */
    size_t n, ncap;
};

static void
transcript_add(struct transcript *tr, const uint8_t *msg, size_t len)
{
    if (tr->len + len > tr->cap) {
        tr->cap = (tr->len + len) * 2 + 4096;
        tr->bytes = realloc(tr->bytes, tr->cap);
        cr_assert_not_null(tr->bytes);
    }
    if (tr->n == tr->ncap) {
        tr->ncap = tr->ncap * 2 + 64;
        tr->ends = realloc(tr->ends, tr->ncap * sizeof(*tr->ends));
        cr_assert_not_null(tr->ends);
    }
    memcpy(tr->bytes + tr->len, msg, len);
    tr->len += len;
    tr->ends[tr->n++] = tr->len;
}

static void
transcript_free(struct transcript *tr)
{
    free(tr->bytes);
    free(tr->ends);
    memset(tr, 0, sizeof(*tr));
}

/* Message by message; names the first difference. */
static void
transcript_assert_eq(const struct transcript *got, const struct transcript *want, const char *what)
{
    for (size_t k = 0; k < got->n && k < want->n; k++) {
        size_t gs = k > 0 ? got->ends[k - 1] : 0, ws = k > 0 ? want->ends[k - 1] : 0;
        size_t gl = got->ends[k] - gs, wl = want->ends[k] - ws, i = 0;

        while (i < gl && i < wl && got->bytes[gs + i] == want->bytes[ws + i]) {
            i++;
        }
        cr_assert(gl == wl && i == gl,
                  "%s: message %zu (%s) differs at byte %zu: %zu bytes, plain run %zu", what, k,
                  k % 2 == 0 ? "client" : "server", i, gl, wl);
    }
    cr_assert_eq(got->n, want->n, "%s: %zu messages, plain run %zu", what, got->n, want->n);
}

static int
cmp_id(const void *a, const void *b)
{
    return memcmp(a, b, ID);
}

/* A growing array of ids. */
struct idvec {
    uint8_t *p;
    size_t n, cap;
};

static void
idvec_add(struct idvec *v, const uint8_t *ids, size_t n)
{
    if (v->n + n > v->cap) {
        v->cap = (v->n + n) * 2 + 16;
        v->p = realloc(v->p, v->cap * ID);
        cr_assert_not_null(v->p);
    }
    if (n > 0) {
        memcpy(v->p + v->n * ID, ids, n * ID);
    }
    v->n += n;
}

static void
idvec_sort_unique(struct idvec *v)
{
    size_t u = 0;

    if (v->n > 1) {
        qsort(v->p, v->n, ID, cmp_id);
    }
    for (size_t i = 0; i < v->n; i++) {
        if (u == 0 || memcmp(v->p + (u - 1) * ID, v->p + i * ID, ID) != 0) {
            memmove(v->p + u * ID, v->p + i * ID, ID);
            u++;
        }
    }
    v->n = u;
}

/* out = a \ b, both sorted and unique. */
static void
idvec_minus(const struct idvec *a, const struct idvec *b, struct idvec *out)
{
    size_t j = 0;

    for (size_t i = 0; i < a->n; i++) {
        while (j < b->n && memcmp(b->p + j * ID, a->p + i * ID, ID) < 0) {
            j++;
        }
        if (j == b->n || memcmp(b->p + j * ID, a->p + i * ID, ID) != 0) {
            idvec_add(out, a->p + i * ID, 1);
        }
    }
}

static void
idvec_assert_eq(const struct idvec *got, const struct idvec *want, const char *what)
{
    cr_assert_eq(got->n, want->n, "%s: %zu ids, the set difference has %zu", what, got->n, want->n);
    cr_assert(got->n == 0 || memcmp(got->p, want->p, got->n * ID) == 0,
              "%s: other ids than the set difference", what);
}

/* A full reconciliation, client over cst and server over sst, both with limit: every
 * message into tr, the union of what the client reported into have and need. */
static void
reconcile_run(const struct px_negentropy_storage *cst, const struct px_negentropy_storage *sst,
              size_t limit, struct transcript *tr, struct idvec *have, struct idvec *need)
{
    struct px_negentropy *c, *s;
    uint8_t *msg;
    size_t len, rounds = 0;
    int rc;

    cr_assert_eq(px_negentropy_new(cst, limit, &c), 0);
    cr_assert_eq(px_negentropy_new(sst, limit, &s), 0);
    rc = px_negentropy_initiate(c, &msg, &len);
    cr_assert_eq(rc, 0, "initiate: %s (%s)", px_err_name(rc), px_negentropy_reason(c));
    while (msg != NULL) {
        struct px_negentropy_result res;
        uint8_t *reply;
        size_t rlen;

        cr_assert_lt(rounds++, 10000, "no convergence");
        cr_assert(limit == 0 || len <= limit, "client message of %zu bytes", len);
        transcript_add(tr, msg, len);
        rc = px_negentropy_respond(s, msg, len, &reply, &rlen);
        cr_assert_eq(rc, 0, "respond: %s (%s)", px_err_name(rc), px_negentropy_reason(s));
        free(msg);
        cr_assert(limit == 0 || rlen <= limit, "server message of %zu bytes", rlen);
        transcript_add(tr, reply, rlen);
        rc = px_negentropy_reconcile(c, reply, rlen, &res);
        cr_assert_eq(rc, 0, "reconcile: %s (%s)", px_err_name(rc), px_negentropy_reason(c));
        free(reply);
        idvec_add(have, res.have, res.have_n);
        idvec_add(need, res.need, res.need_n);
        msg = res.msg;
        len = res.msg_len;
        res.msg = NULL;
        px_negentropy_result_fini(&res);
    }
    idvec_sort_unique(have);
    idvec_sort_unique(need);
    px_negentropy_free(c);
    px_negentropy_free(s);
}

Test(negentropy_pager, reconciliation_matches_plain)
{
    /* A and B share most of 24000 items (1 in 20 only A's, 1 in 20 only B's). A is paged
     * with the smallest cache, B with a cache of 16; each also has a plain copy. */
    static const size_t limits[] = {0, PX_NEGENTROPY_MIN_FRAME};
    struct px_negentropy_storage *ap, *bp, *apg, *bpg;
    struct fake fa, fb;
    struct px_negentropy_pager pa, pb;
    struct idvec aids = {0}, bids = {0}, a_only = {0}, b_only = {0};
    struct rng r = {31337};

    fake_init(&fa);
    fake_init(&fb);
    pa = fake_pager(&fa);
    pb = fake_pager(&fb);
    cr_assert_eq(px_negentropy_storage_new(&ap), 0);
    cr_assert_eq(px_negentropy_storage_new(&bp), 0);
    cr_assert_eq(px_negentropy_storage_new(&apg), 0);
    cr_assert_eq(px_negentropy_storage_new(&bpg), 0);
    cr_assert_eq(px_negentropy_storage_set_pager(apg, &pa, PX_NEGENTROPY_MIN_CACHE), 0);
    cr_assert_eq(px_negentropy_storage_set_pager(bpg, &pb, 16), 0);
    for (size_t i = 0; i < 24000; i++) {
        uint64_t k = rng_next(&r), ts = UINT64_C(1700000000) + (k >> 20) % 40000;
        uint8_t id[ID];

        rng_id(&r, id);
        if (k % 20 != 0) {
            cr_assert_eq(px_negentropy_storage_insert(ap, ts, id), 0);
            cr_assert_eq(px_negentropy_storage_insert(apg, ts, id), 0);
            idvec_add(&aids, id, 1);
        }
        if (k % 20 != 1) {
            cr_assert_eq(px_negentropy_storage_insert(bp, ts, id), 0);
            cr_assert_eq(px_negentropy_storage_insert(bpg, ts, id), 0);
            idvec_add(&bids, id, 1);
        }
    }
    cr_assert_eq(px_negentropy_storage_seal(ap), 0);
    cr_assert_eq(px_negentropy_storage_seal(bp), 0);
    cr_assert_eq(px_negentropy_storage_seal(apg), 0);
    cr_assert_eq(px_negentropy_storage_seal(bpg), 0);
    idvec_sort_unique(&aids);
    idvec_sort_unique(&bids);
    idvec_minus(&aids, &bids, &a_only);
    idvec_minus(&bids, &aids, &b_only);
    cr_assert_gt(a_only.n, 500);
    cr_assert_gt(b_only.n, 500);

    for (size_t l = 0; l < sizeof(limits) / sizeof(limits[0]); l++) {
        for (int dir = 0; dir < 2; dir++) {
            /* dir 0: A is the client; dir 1: B is. */
            const struct px_negentropy_storage *cplain = dir == 0 ? ap : bp;
            const struct px_negentropy_storage *splain = dir == 0 ? bp : ap;
            const struct px_negentropy_storage *cpaged = dir == 0 ? apg : bpg;
            const struct px_negentropy_storage *spaged = dir == 0 ? bpg : apg;
            const struct idvec *want_have = dir == 0 ? &a_only : &b_only;
            const struct idvec *want_need = dir == 0 ? &b_only : &a_only;
            const struct px_negentropy_storage *runs[3][2] = {
                {cpaged, splain}, {cplain, spaged}, {cpaged, spaged}};
            static const char *const run_names[3] = {"paged client, plain server",
                                                     "plain client, paged server", "both paged"};
            struct transcript ref = {0};
            struct idvec have = {0}, need = {0};
            char what[160];

            reconcile_run(cplain, splain, limits[l], &ref, &have, &need);
            snprintf(what, sizeof(what), "limit %zu, %s client, plain: have", limits[l],
                     dir == 0 ? "A" : "B");
            idvec_assert_eq(&have, want_have, what);
            snprintf(what, sizeof(what), "limit %zu, %s client, plain: need", limits[l],
                     dir == 0 ? "A" : "B");
            idvec_assert_eq(&need, want_need, what);
            for (int k = 0; k < 3; k++) {
                struct transcript tr = {0};
                struct idvec h = {0}, nd = {0};

                reconcile_run(runs[k][0], runs[k][1], limits[l], &tr, &h, &nd);
                snprintf(what, sizeof(what), "limit %zu, %s client, %s", limits[l],
                         dir == 0 ? "A" : "B", run_names[k]);
                transcript_assert_eq(&tr, &ref, what);
                idvec_assert_eq(&h, want_have, what);
                idvec_assert_eq(&nd, want_need, what);
                cr_assert_not(px_negentropy_storage_failed(apg));
                cr_assert_not(px_negentropy_storage_failed(bpg));
                transcript_free(&tr);
                free(h.p);
                free(nd.p);
            }
            cr_log_info("reconciliation, limit %zu, %s client: %zu messages, %zu bytes", limits[l],
                        dir == 0 ? "A" : "B", ref.n, ref.len);
            transcript_free(&ref);
            free(have.p);
            free(need.p);
        }
    }
    cr_assert_gt(fa.reads, 0, "A never read a page");
    cr_log_info("reconciliation: A (cache %d) %zu reads %zu writes, B (cache 16) %zu reads %zu "
                "writes",
                PX_NEGENTROPY_MIN_CACHE, fa.reads, fa.writes, fb.reads, fb.writes);
    px_negentropy_storage_free(ap);
    px_negentropy_storage_free(bp);
    px_negentropy_storage_free(apg);
    px_negentropy_storage_free(bpg);
    fake_fini(&fa);
    fake_fini(&fb);
    free(aids.p);
    free(bids.p);
    free(a_only.p);
    free(b_only.p);
}

/* ---- Memory ---- */

Test(negentropy_pager, memory_stays_small)
{
    /* 100000 items appended in timestamp order (the daemon's usual case). */
    const size_t n = 100000, cache = 64, ps = px_negentropy_page_size();
    struct px_negentropy_storage *plain, *paged;
    struct fake f;
    struct px_negentropy_pager p;
    struct rng r = {64};
    size_t mem_plain, mem_paged, paged_bytes, pages;
    uint8_t fa[FP], fb[FP];

    fake_init(&f);
    p = fake_pager(&f);
    cr_assert_eq(px_negentropy_storage_new(&plain), 0);
    cr_assert_eq(px_negentropy_storage_new(&paged), 0);
    cr_assert_eq(px_negentropy_storage_set_pager(paged, &p, cache), 0);
    cr_assert_eq(px_negentropy_storage_seal(plain), 0);
    cr_assert_eq(px_negentropy_storage_seal(paged), 0);
    for (size_t i = 0; i < n; i++) {
        uint8_t id[ID];
        uint64_t ts = UINT64_C(1700000000000) + i / 3;

        rng_id(&r, id);
        cr_assert_eq(px_negentropy_storage_insert(plain, ts, id), 0);
        cr_assert_eq(px_negentropy_storage_insert(paged, ts, id), 0, "append %zu", i);
    }
    mem_plain = px_negentropy_storage_memory(plain);
    mem_paged = px_negentropy_storage_memory(paged);
    paged_bytes = px_negentropy_storage_paged_bytes(paged);
    pages = pages_in_use(paged);
    cr_log_info("memory at %zu items: plain %zu (%.1f an item), paged %zu (%.2f an item) with "
                "%zu paged bytes (%.1f an item, %zu pages of %zu), highest slot %llu",
                n, mem_plain, (double)mem_plain / (double)n, mem_paged,
                (double)mem_paged / (double)n, paged_bytes, (double)paged_bytes / (double)n, pages,
                ps, (unsigned long long)f.max_slot);
    cr_assert_lt(mem_paged, 2 * n + cache * ps + 65536,
                 "paged memory %zu over 2 bytes an item + the cache + 64 KiB", mem_paged);
    cr_assert_lt(mem_paged * 4, mem_plain, "paged memory %zu, plain %zu", mem_paged, mem_plain);
    cr_assert_eq(px_negentropy_storage_paged_bytes(plain), 0);
    cr_assert_gt(paged_bytes, 40 * n, "%zu paged bytes for %zu items", paged_bytes, n);
    cr_assert_lt(paged_bytes, 100 * n, "%zu paged bytes for %zu items", paged_bytes, n);
    /* About the plain storage's chunks: the same chunks, in pages. */
    cr_assert(paged_bytes * 4 >= mem_plain * 3 && paged_bytes * 10 <= mem_plain * 11,
              "%zu paged bytes against %zu bytes of the plain storage", paged_bytes, mem_plain);
    /* Appends only: slots [0, pages), all but what the cache holds written already. */
    cr_assert(f.written);
    cr_assert_lt(f.max_slot, pages, "slot %llu with %zu pages", (unsigned long long)f.max_slot,
                 pages);
    cr_assert_geq(f.max_slot + 1 + cache, pages);
    /* Still the same set. */
    cr_assert_eq(px_negentropy_storage_fingerprint(plain, 0, n, fa), 0);
    cr_assert_eq(px_negentropy_storage_fingerprint(paged, 0, n, fb), 0);
    cr_assert_eq(memcmp(fa, fb, FP), 0);
    cr_assert_eq(px_negentropy_storage_fingerprint(plain, n / 3, n - 7, fa), 0);
    cr_assert_eq(px_negentropy_storage_fingerprint(paged, n / 3, n - 7, fb), 0);
    cr_assert_eq(memcmp(fa, fb, FP), 0);
    cr_assert_not(px_negentropy_storage_failed(paged));
    px_negentropy_storage_free(plain);
    px_negentropy_storage_free(paged);
    fake_fini(&f);
}

/* ---- Pager failures ---- */

/* The kinds of steps of the scripted scenario. */
enum step_kind {
    STEP_SEAL,
    STEP_INSERT,
    STEP_ERASE,
    STEP_GET,
    STEP_BOUND,
    STEP_FINGERPRINT,
    STEP_NEW,
    STEP_INITIATE,
    STEP_RESPOND,
    STEP_RECONCILE,
    STEP_KINDS
};

static const char *const step_names[STEP_KINDS] = {
    "seal",        "insert", "erase",    "get",     "lower_bound",
    "fingerprint", "new",    "initiate", "respond", "reconcile"};

#define SCEN_ITEMS 700
#define MAX_STEPS  4096

/* One run of the scenario: a paged storage, its plain twin, a plain peer to reconcile
 * with, and where the injected failure was seen. */
struct frun {
    struct px_negentropy_storage *paged, *plain;
    const struct px_negentropy_storage *peer;
    struct fake fk;
    size_t k;    /* the failing call, for messages (0: none) */
    size_t step; /* steps begun */
    enum step_kind kind;
    size_t calls_before; /* pager calls before the current step */
    bool hit;            /* the failure was reported */
    size_t hit_step;
    enum step_kind hit_kind;
    int hit_rc;
    size_t reads, writes;     /* pager calls of the whole scenario */
    uint8_t kinds[MAX_STEPS]; /* the kind of each step */
};

static void
fr_begin(struct frun *fr, enum step_kind kind)
{
    cr_assert_lt(fr->step, MAX_STEPS - 1);
    fr->step++;
    fr->kind = kind;
    fr->kinds[fr->step] = (uint8_t)kind;
    fr->fk.tag = (uint32_t)fr->step;
    fr->calls_before = fr->fk.calls;
}

/* The end of a step: rc of the paged storage, twin_rc of the plain one. True when the
 * outputs are to be compared (both succeeded before any failure). */
static bool
fr_end(struct frun *fr, int rc, int twin_rc)
{
    const char *what = step_names[fr->kind];

    if (fr->hit) {
        cr_assert_neq(rc, 0,
                      "k=%zu: %s (step %zu) succeeded after the pager failed in %s (step %zu)",
                      fr->k, what, fr->step, step_names[fr->hit_kind], fr->hit_step);
        cr_assert(px_negentropy_storage_failed(fr->paged));
        return false;
    }
    if (fr->fk.injected_at != 0) {
        cr_assert_gt(fr->fk.injected_at, fr->calls_before,
                     "k=%zu: the pager failed (call %zu) between steps, before %s (step %zu)",
                     fr->k, fr->fk.injected_at, what, fr->step);
        cr_assert_neq(rc, 0, "k=%zu: %s (step %zu) returned 0 though pager call %zu (a %s) failed",
                      fr->k, what, fr->step, fr->fk.injected_at,
                      fr->fk.injected_write ? "write" : "read");
        cr_assert(px_negentropy_storage_failed(fr->paged),
                  "k=%zu: %s (step %zu) returned %s but the storage is not failed", fr->k, what,
                  fr->step, px_err_name(rc));
        fr->hit = true;
        fr->hit_step = fr->step;
        fr->hit_kind = fr->kind;
        fr->hit_rc = rc;
        return false;
    }
    cr_assert_eq(rc, twin_rc, "k=%zu: %s (step %zu): %s, plain %s", fr->k, what, fr->step,
                 px_err_name(rc), px_err_name(twin_rc));
    cr_assert_not(px_negentropy_storage_failed(fr->paged), "k=%zu: %s (step %zu): failed", fr->k,
                  what, fr->step);
    return rc == 0;
}

static void
fr_insert(struct frun *fr, uint64_t ts, const uint8_t *id)
{
    int rc, trc;

    fr_begin(fr, STEP_INSERT);
    rc = px_negentropy_storage_insert(fr->paged, ts, id);
    trc = px_negentropy_storage_insert(fr->plain, ts, id);
    (void)fr_end(fr, rc, trc);
}

static void
fr_erase(struct frun *fr, uint64_t ts, const uint8_t *id)
{
    int rc, trc;

    fr_begin(fr, STEP_ERASE);
    rc = px_negentropy_storage_erase(fr->paged, ts, id);
    trc = px_negentropy_storage_erase(fr->plain, ts, id);
    (void)fr_end(fr, rc, trc);
}

static void
fr_get(struct frun *fr, size_t index)
{
    uint64_t ts = 0, tts = 0;
    uint8_t id[ID] = {0}, tid[ID] = {0};
    int rc, trc;

    fr_begin(fr, STEP_GET);
    rc = px_negentropy_storage_get(fr->paged, index, &ts, id);
    trc = px_negentropy_storage_get(fr->plain, index, &tts, tid);
    if (fr_end(fr, rc, trc)) {
        cr_assert(ts == tts && memcmp(id, tid, ID) == 0, "k=%zu: get %zu (step %zu) differs", fr->k,
                  index, fr->step);
    }
}

static void
fr_bound(struct frun *fr, uint64_t ts, const uint8_t *prefix, size_t plen)
{
    size_t pos = 0, tpos = 0;
    int rc, trc;

    fr_begin(fr, STEP_BOUND);
    rc = px_negentropy_storage_lower_bound(fr->paged, ts, prefix, plen, &pos);
    trc = px_negentropy_storage_lower_bound(fr->plain, ts, prefix, plen, &tpos);
    if (fr_end(fr, rc, trc)) {
        cr_assert_eq(pos, tpos, "k=%zu: lower_bound (step %zu): %zu, plain %zu", fr->k, fr->step,
                     pos, tpos);
    }
}

static void
fr_fingerprint(struct frun *fr, size_t begin, size_t end)
{
    uint8_t fp[FP], tfp[FP];
    int rc, trc;

    fr_begin(fr, STEP_FINGERPRINT);
    rc = px_negentropy_storage_fingerprint(fr->paged, begin, end, fp);
    trc = px_negentropy_storage_fingerprint(fr->plain, begin, end, tfp);
    if (fr_end(fr, rc, trc)) {
        cr_assert_eq(memcmp(fp, tfp, FP), 0, "k=%zu: fingerprint [%zu, %zu) (step %zu) differs",
                     fr->k, begin, end, fr->step);
    }
}

/* A reconciler over the paged storage and one over its twin; NULL when new failed after
 * the pager did. */
static void
fr_new(struct frun *fr, size_t limit, struct px_negentropy **ne, struct px_negentropy **tne)
{
    int rc, trc;

    fr_begin(fr, STEP_NEW);
    *ne = NULL;
    rc = px_negentropy_new(fr->paged, limit, ne);
    trc = px_negentropy_new(fr->plain, limit, tne);
    cr_assert_eq(trc, 0);
    if (fr->hit && rc == 0) {
        return; /* allowed: initiate or respond must refuse instead */
    }
    (void)fr_end(fr, rc, trc);
    if (rc != 0) {
        *ne = NULL;
    }
}

static bool
msg_eq(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
    return alen == blen && (alen == 0 || memcmp(a, b, alen) == 0);
}

/* The paged storage as a client against the peer, in lockstep with its twin. */
static void
fr_client(struct frun *fr, size_t limit)
{
    struct px_negentropy *ne, *tne, *srv;
    uint8_t *msg = NULL, *tmsg = NULL;
    size_t len = 0, tlen = 0, rounds = 0;
    int rc, trc;

    fr_new(fr, limit, &ne, &tne);
    cr_assert_eq(px_negentropy_new(fr->peer, 0, &srv), 0);
    if (ne != NULL) {
        fr_begin(fr, STEP_INITIATE);
        rc = px_negentropy_initiate(ne, &msg, &len);
        trc = px_negentropy_initiate(tne, &tmsg, &tlen);
        cr_assert_eq(trc, 0);
        if (fr_end(fr, rc, trc)) {
            cr_assert(msg_eq(msg, len, tmsg, tlen), "k=%zu: initiate differs", fr->k);
        }
        if (rc == 0) {
            free(msg);
        } else {
            /* Without a first message this reconciler is of no further use. */
            px_negentropy_free(ne);
            ne = NULL;
        }
    } else {
        cr_assert_eq(px_negentropy_initiate(tne, &tmsg, &tlen), 0);
    }
    while (tmsg != NULL) {
        struct px_negentropy_result res, tres;
        uint8_t *reply;
        size_t rlen;

        cr_assert_lt(rounds++, 1000);
        cr_assert_eq(px_negentropy_respond(srv, tmsg, tlen, &reply, &rlen), 0);
        free(tmsg);
        cr_assert_eq(px_negentropy_reconcile(tne, reply, rlen, &tres), 0);
        if (ne != NULL) {
            fr_begin(fr, STEP_RECONCILE);
            rc = px_negentropy_reconcile(ne, reply, rlen, &res);
            if (fr_end(fr, rc, 0)) {
                cr_assert(msg_eq(res.msg, res.msg_len, tres.msg, tres.msg_len) &&
                              msg_eq(res.have, res.have_n * ID, tres.have, tres.have_n * ID) &&
                              msg_eq(res.need, res.need_n * ID, tres.need, tres.need_n * ID),
                          "k=%zu: reconcile round %zu differs", fr->k, rounds);
            }
            if (rc == 0) {
                px_negentropy_result_fini(&res);
            } else {
                cr_assert(res.msg == NULL && res.have == NULL && res.need == NULL,
                          "k=%zu: a failed reconcile left buffers", fr->k);
            }
        }
        free(reply);
        tmsg = tres.msg;
        tlen = tres.msg_len;
        tres.msg = NULL;
        px_negentropy_result_fini(&tres);
    }
    px_negentropy_free(ne);
    px_negentropy_free(tne);
    px_negentropy_free(srv);
}

/* The paged storage as a server for the peer, in lockstep with its twin. */
static void
fr_server(struct frun *fr, size_t limit)
{
    struct px_negentropy *ne, *tne, *cli;
    uint8_t *msg;
    size_t len, rounds = 0;
    int rc, trc;

    fr_new(fr, limit, &ne, &tne);
    cr_assert_eq(px_negentropy_new(fr->peer, 0, &cli), 0);
    cr_assert_eq(px_negentropy_initiate(cli, &msg, &len), 0);
    while (msg != NULL) {
        struct px_negentropy_result res;
        uint8_t *reply = NULL, *treply = NULL;
        size_t rlen = 0, trlen = 0;

        cr_assert_lt(rounds++, 1000);
        trc = px_negentropy_respond(tne, msg, len, &treply, &trlen);
        cr_assert_eq(trc, 0);
        if (ne != NULL) {
            fr_begin(fr, STEP_RESPOND);
            rc = px_negentropy_respond(ne, msg, len, &reply, &rlen);
            if (fr_end(fr, rc, trc)) {
                cr_assert(msg_eq(reply, rlen, treply, trlen), "k=%zu: respond round %zu differs",
                          fr->k, rounds);
            }
            if (rc == 0) {
                free(reply);
            }
        }
        free(msg);
        cr_assert_eq(px_negentropy_reconcile(cli, treply, trlen, &res), 0);
        free(treply);
        msg = res.msg;
        len = res.msg_len;
        res.msg = NULL;
        px_negentropy_result_fini(&res);
    }
    px_negentropy_free(ne);
    px_negentropy_free(tne);
    px_negentropy_free(cli);
}

/* A random existing item of the twin (zeroes when it is empty). */
static void
fr_pick(struct frun *fr, struct rng *r, uint64_t *ts, uint8_t *id)
{
    size_t n = px_negentropy_storage_size(fr->plain);

    *ts = 0;
    memset(id, 0, ID);
    if (n > 0 && px_negentropy_storage_sealed(fr->plain)) {
        cr_assert_eq(px_negentropy_storage_get(fr->plain, (size_t)rng_below(r, n), ts, id), 0);
    }
}

/* After the failure: every call refuses, none crashes. */
static void
fr_battery(struct frun *fr, struct rng *r)
{
    struct px_negentropy_storage *st = fr->paged;
    struct px_negentropy *ne, *cli;
    uint8_t id[ID], fp[FP], *msg, *cmsg;
    uint64_t ts;
    size_t pos, len, clen, n = px_negentropy_storage_size(st);
    int rc;

    cr_assert(px_negentropy_storage_failed(st));
    fr_pick(fr, r, &ts, id);
    cr_assert_neq(px_negentropy_storage_insert(st, ts + 1, id), 0, "k=%zu: insert", fr->k);
    cr_assert_neq(px_negentropy_storage_insert(st, ts, id), 0, "k=%zu: insert", fr->k);
    cr_assert_neq(px_negentropy_storage_erase(st, ts, id), 0, "k=%zu: erase", fr->k);
    cr_assert_neq(px_negentropy_storage_erase(st, ts + 1, id), 0, "k=%zu: erase", fr->k);
    cr_assert_neq(px_negentropy_storage_get(st, 0, &ts, id), 0, "k=%zu: get", fr->k);
    cr_assert_neq(px_negentropy_storage_get(st, n / 2, &ts, id), 0, "k=%zu: get", fr->k);
    cr_assert_neq(px_negentropy_storage_lower_bound(st, 0, NULL, 0, &pos), 0, "k=%zu: lower_bound",
                  fr->k);
    cr_assert_neq(px_negentropy_storage_lower_bound(st, ts, id, ID, &pos), 0, "k=%zu: lower_bound",
                  fr->k);
    cr_assert_neq(px_negentropy_storage_fingerprint(st, 0, 0, fp), 0, "k=%zu: fingerprint", fr->k);
    cr_assert_neq(px_negentropy_storage_fingerprint(st, 0, n, fp), 0, "k=%zu: fingerprint", fr->k);
    cr_assert_neq(px_negentropy_storage_fingerprint(st, n / 3, n / 2, fp), 0, "k=%zu: fingerprint",
                  fr->k);
    cr_assert_neq(px_negentropy_storage_seal(st), 0, "k=%zu: seal", fr->k);
    rc = px_negentropy_new(st, 0, &ne);
    if (rc == 0) {
        rc = px_negentropy_initiate(ne, &msg, &len);
        cr_assert_neq(rc, 0, "k=%zu: initiate over a failed storage", fr->k);
        cr_assert_str_neq(px_negentropy_reason(ne), "", "k=%zu: no reason", fr->k);
        px_negentropy_free(ne);
    }
    rc = px_negentropy_new(st, PX_NEGENTROPY_MIN_FRAME, &ne);
    if (rc == 0) {
        cr_assert_eq(px_negentropy_new(fr->peer, 0, &cli), 0);
        cr_assert_eq(px_negentropy_initiate(cli, &cmsg, &clen), 0);
        rc = px_negentropy_respond(ne, cmsg, clen, &msg, &len);
        cr_assert_neq(rc, 0, "k=%zu: respond over a failed storage", fr->k);
        free(cmsg);
        px_negentropy_free(cli);
        px_negentropy_free(ne);
    }
    cr_assert(px_negentropy_storage_failed(st));
    (void)px_negentropy_storage_size(st);
    (void)px_negentropy_storage_memory(st);
    (void)px_negentropy_storage_paged_bytes(st);
    (void)px_negentropy_storage_sealed(st);
}

/*
 * The scripted scenario: set_pager, SCEN_ITEMS inserts, seal, inserts (middle, appends,
 * equal timestamps, a duplicate), erases (some missing), reads, the paged storage as a
 * client and as a server, more changes and reads. The paged storage answers as its twin
 * until the failure, then refuses everything. Returns the pager calls made.
 */
static size_t
scenario(struct frun *fr, const struct px_negentropy_storage *peer, size_t k, enum fail_on fail_on,
         int fail_rc, uint32_t **trace)
{
    struct px_negentropy_pager p;
    struct rng r = {4242};
    uint8_t id[ID];
    uint64_t ts;
    size_t calls;
    int rc;

    memset(fr, 0, sizeof(*fr));
    fake_init(&fr->fk);
    fr->fk.fail_on = fail_on;
    fr->fk.fail_at = k;
    fr->fk.fail_rc = fail_rc;
    fr->k = k;
    fr->peer = peer;
    if (trace != NULL) {
        fr->fk.tags_cap = 4096;
        fr->fk.tags = malloc(fr->fk.tags_cap * sizeof(*fr->fk.tags));
        cr_assert_not_null(fr->fk.tags);
    }
    p = fake_pager(&fr->fk);
    cr_assert_eq(px_negentropy_storage_new(&fr->paged), 0);
    cr_assert_eq(px_negentropy_storage_new(&fr->plain), 0);
    cr_assert_eq(px_negentropy_storage_set_pager(fr->paged, &p, PX_NEGENTROPY_MIN_CACHE), 0);

    /* The same items as the peer's generator, minus one in 10, plus our own. */
    {
        struct rng g = {99};

        for (size_t i = 0; i < SCEN_ITEMS; i++) {
            uint64_t v = rng_next(&g);

            rng_id(&g, id);
            if (v % 10 != 0) {
                fr_insert(fr, 1000 + (v >> 8) % 400, id);
            }
        }
    }
    for (size_t i = 0; i < 60; i++) {
        rng_id(&r, id);
        fr_insert(fr, 1000 + rng_below(&r, 400), id);
    }
    fr_begin(fr, STEP_SEAL);
    rc = px_negentropy_storage_seal(fr->paged);
    (void)fr_end(fr, rc, px_negentropy_storage_seal(fr->plain));

    for (size_t i = 0; i < 150; i++) {
        uint64_t c = rng_below(&r, 4);

        rng_id(&r, id);
        if (c == 0) {
            ts = 1400 + i;
        } else if (c == 1) {
            uint8_t base[ID];

            fr_pick(fr, &r, &ts, base);
            rng_sibling(&r, base, id);
        } else {
            ts = 1000 + rng_below(&r, 400);
        }
        fr_insert(fr, ts, id);
    }
    fr_pick(fr, &r, &ts, id);
    fr_insert(fr, ts, id); /* PX_EEXIST */
    for (size_t i = 0; i < 150; i++) {
        fr_pick(fr, &r, &ts, id);
        if (i % 10 == 0) {
            id[ID - 1] ^= 1; /* missing */
        }
        fr_erase(fr, ts, id);
    }
    for (size_t i = 0; i < 30; i++) {
        size_t n = px_negentropy_storage_size(fr->plain), a = (size_t)rng_below(&r, n + 1),
               b = (size_t)rng_below(&r, n + 1);
        size_t plen = (size_t)rng_below(&r, ID + 1);

        fr_get(fr, (size_t)rng_below(&r, n));
        fr_pick(fr, &r, &ts, id);
        memset(id + plen, 0, ID - plen);
        fr_bound(fr, ts, id, plen);
        fr_fingerprint(fr, a < b ? a : b, a < b ? b : a);
    }
    fr_client(fr, 0);
    fr_server(fr, PX_NEGENTROPY_MIN_FRAME);
    /* Erase a run (chunks merge), append, read again. */
    for (size_t i = 0; i < 120; i++) {
        size_t n = px_negentropy_storage_size(fr->plain);

        cr_assert_eq(px_negentropy_storage_get(fr->plain, n / 2, &ts, id), 0);
        fr_erase(fr, ts, id);
    }
    for (size_t i = 0; i < 40; i++) {
        rng_id(&r, id);
        fr_insert(fr, 2000 + i, id);
        fr_fingerprint(fr, 0, px_negentropy_storage_size(fr->plain));
        fr_get(fr, (size_t)rng_below(&r, px_negentropy_storage_size(fr->plain)));
    }
    calls = fr->fk.calls;
    fr->reads = fr->fk.reads;
    fr->writes = fr->fk.writes;
    if (fr->hit) {
        fr_battery(fr, &r);
    } else {
        cr_assert_eq(fr->fk.injected_at, 0, "k=%zu: the failure was injected but not reported", k);
    }
    px_negentropy_storage_free(fr->paged);
    px_negentropy_storage_free(fr->plain);
    if (trace != NULL) {
        *trace = fr->fk.tags;
        fr->fk.tags = NULL;
    }
    fake_fini(&fr->fk);
    return calls;
}

static struct px_negentropy_storage *
scenario_peer(void)
{
    struct px_negentropy_storage *st;
    struct rng g = {99}, r = {7};
    uint8_t id[ID];

    cr_assert_eq(px_negentropy_storage_new(&st), 0);
    for (size_t i = 0; i < SCEN_ITEMS; i++) {
        uint64_t v = rng_next(&g);

        rng_id(&g, id);
        if (v % 10 != 1) {
            cr_assert_eq(px_negentropy_storage_insert(st, 1000 + (v >> 8) % 400, id), 0);
        }
    }
    for (size_t i = 0; i < 60; i++) {
        rng_id(&r, id);
        cr_assert_eq(px_negentropy_storage_insert(st, 1000 + rng_below(&r, 400), id), 0);
    }
    cr_assert_eq(px_negentropy_storage_seal(st), 0);
    return st;
}

/* The clean run's step for each pager call: picks the calls to fail. */
struct pick {
    size_t total;
    bool *on; /* [total + 1] */
    size_t n;
};

static void
pick_calls(struct pick *pk, size_t total, const uint32_t *tags, const uint8_t *kinds)
{
    size_t stride = total / 300 + 1, first[STEP_KINDS] = {0}, last[STEP_KINDS] = {0};

    pk->total = total;
    pk->on = calloc(total + 1, sizeof(*pk->on));
    cr_assert_not_null(pk->on);
    for (size_t k = 1; k <= total; k++) {
        uint32_t step = tags[k - 1];
        enum step_kind kind = (enum step_kind)kinds[step];
        bool is_first = k == 1 || tags[k - 2] != step, is_last = k == total || tags[k] != step;

        cr_assert(step > 0 && kind < STEP_KINDS, "pager call %zu outside a step", k);
        /* Sampled, the first and last calls, and the first and last pager call of the
         * first steps of each kind. */
        if (k % stride == 0 || k <= 16 || k + 8 > total) {
            pk->on[k] = true;
        }
        if (is_first && first[kind] < 6) {
            first[kind]++;
            pk->on[k] = true;
        }
        if (is_last && last[kind] < 6) {
            last[kind]++;
            pk->on[k] = true;
        }
    }
    pk->n = 0;
    for (size_t k = 1; k <= total; k++) {
        pk->n += pk->on[k] ? 1 : 0;
    }
}

Test(negentropy_pager, every_failure_is_final)
{
    /* The scenario once without a failure (the calls to fail, and the kind of step each
     * belongs to), then with the k-th pager call failing for a sample of k that covers
     * every kind of step; then counting only writes (PX_ENOSPC) and only reads. */
    struct px_negentropy_storage *peer = scenario_peer();
    struct frun *fr = malloc(sizeof(*fr));
    uint8_t *kinds = malloc(MAX_STEPS);
    uint32_t *tags = NULL;
    size_t total, reads, writes, runs = 0, exact = 0, has[STEP_KINDS] = {0}, hit[STEP_KINDS] = {0};
    struct pick pk;
    char line[512];
    size_t used = 0;

    cr_assert(fr != NULL && kinds != NULL);
    total = scenario(fr, peer, 0, FAIL_ANY, 0, &tags);
    reads = fr->reads;
    writes = fr->writes;
    memcpy(kinds, fr->kinds, MAX_STEPS);
    cr_assert_gt(total, 100, "the scenario made only %zu pager calls", total);
    cr_assert_gt(reads, 0);
    cr_assert_gt(writes, 0);
    for (size_t k = 1; k <= total; k++) {
        has[kinds[tags[k - 1]]]++;
    }
    cr_assert_gt(has[STEP_SEAL], 0, "seal made no pager call");
    cr_assert_gt(has[STEP_INSERT], 0, "no insert made a pager call");
    cr_assert_gt(has[STEP_ERASE], 0, "no erase made a pager call");
    cr_assert_gt(has[STEP_FINGERPRINT], 0, "no fingerprint made a pager call");
    cr_assert_gt(has[STEP_INITIATE] + has[STEP_RESPOND] + has[STEP_RECONCILE], 0,
                 "no reconciliation made a pager call");

    pick_calls(&pk, total, tags, kinds);
    for (size_t k = 1; k <= total; k++) {
        int inject = k % 2 == 0 ? PX_ENOSPC : PX_EIO;
        enum step_kind want = (enum step_kind)kinds[tags[k - 1]];

        if (!pk.on[k]) {
            continue;
        }
        (void)scenario(fr, peer, k, FAIL_ANY, inject, NULL);
        runs++;
        cr_assert(fr->hit, "k=%zu: the failure was not seen", k);
        cr_assert_eq(fr->hit_kind, want, "k=%zu: the failure showed in %s, the call was in %s", k,
                     step_names[fr->hit_kind], step_names[want]);
        cr_assert_eq(fr->hit_step, (size_t)tags[k - 1], "k=%zu: the failure showed in step %zu", k,
                     fr->hit_step);
        hit[fr->hit_kind]++;
        exact += fr->hit_rc == inject ? 1 : 0;
    }
    for (int kind = 0; kind < STEP_KINDS; kind++) {
        cr_assert(has[kind] == 0 || hit[kind] > 0, "no failure was injected into %s",
                  step_names[kind]);
        used += (size_t)snprintf(line + used, sizeof(line) - used, " %s %zu/%zu", step_names[kind],
                                 hit[kind], has[kind]);
    }
    /* Only writes, only reads: a sample of each. */
    for (size_t i = 1; i <= 12; i++) {
        size_t kw = 1 + (i - 1) * writes / 12, kr = 1 + (i - 1) * reads / 12;

        (void)scenario(fr, peer, kw, FAIL_WRITE, PX_ENOSPC, NULL);
        cr_assert(fr->hit, "write %zu: the failure was not seen", kw);
        exact += fr->hit_rc == PX_ENOSPC ? 1 : 0;
        (void)scenario(fr, peer, kr, FAIL_READ, PX_EIO, NULL);
        cr_assert(fr->hit, "read %zu: the failure was not seen", kr);
        exact += fr->hit_rc == PX_EIO ? 1 : 0;
        runs += 2;
    }
    cr_log_info("failures: %zu pager calls (%zu reads, %zu writes), %zu runs, %zu returned the "
                "injected error; failures by step (runs/calls):%s",
                total, reads, writes, runs, exact, line);
    free(pk.on);
    free(tags);
    free(kinds);
    free(fr);
    px_negentropy_storage_free(peer);
}

/* ---- set_pager's rules ---- */

static int
null_io(void *ctx, uint64_t slot, void *buf, size_t len)
{
    (void)ctx;
    (void)slot;
    (void)buf;
    (void)len;
    cr_assert_fail("a rejected pager was called");
    return PX_EIO;
}

Test(negentropy_pager, set_pager_rules)
{
    struct px_negentropy_storage *st;
    struct fake f;
    struct px_negentropy_pager p, bad;
    uint8_t id[ID] = {7};

    fake_init(&f);
    p = fake_pager(&f);
    cr_assert_gt(px_negentropy_page_size(), 0);
    cr_assert_eq(px_negentropy_page_size(), px_negentropy_page_size());

    /* Plain storages: never failed, nothing paged. */
    cr_assert_eq(px_negentropy_storage_new(&st), 0);
    cr_assert_not(px_negentropy_storage_failed(st));
    cr_assert_eq(px_negentropy_storage_paged_bytes(st), 0);
    for (uint64_t i = 0; i < 1000; i++) {
        id[1] = (uint8_t)i;
        id[2] = (uint8_t)(i >> 8);
        cr_assert_eq(px_negentropy_storage_insert(st, i, id), 0);
    }
    /* Not after an insert, nor after sealing. */
    cr_assert_eq(px_negentropy_storage_set_pager(st, &p, 16), PX_EINVAL, "after an insert");
    cr_assert_eq(px_negentropy_storage_seal(st), 0);
    cr_assert_not(px_negentropy_storage_failed(st));
    cr_assert_eq(px_negentropy_storage_paged_bytes(st), 0);
    px_negentropy_storage_free(st);
    cr_assert_eq(px_negentropy_storage_new(&st), 0);
    cr_assert_eq(px_negentropy_storage_seal(st), 0);
    cr_assert_eq(px_negentropy_storage_set_pager(st, &p, 16), PX_EINVAL, "after seal");
    cr_assert_eq(px_negentropy_storage_paged_bytes(st), 0);
    px_negentropy_storage_free(st);

    /* Bad arguments on a fresh storage, which stays plain and usable. */
    cr_assert_eq(px_negentropy_storage_new(&st), 0);
    cr_assert_eq(px_negentropy_storage_set_pager(st, &p, PX_NEGENTROPY_MIN_CACHE - 1), PX_EINVAL,
                 "a cache below the minimum");
    cr_assert_eq(px_negentropy_storage_set_pager(st, &p, 0), PX_EINVAL, "no cache");
    bad = p;
    bad.read = NULL;
    cr_assert_eq(px_negentropy_storage_set_pager(st, &bad, 16), PX_EINVAL, "no read");
    bad = p;
    bad.write = NULL;
    cr_assert_eq(px_negentropy_storage_set_pager(st, &bad, 16), PX_EINVAL, "no write");
    bad.read = NULL;
    cr_assert_eq(px_negentropy_storage_set_pager(st, &bad, 16), PX_EINVAL, "no callbacks");
    cr_assert_not(px_negentropy_storage_failed(st));
    cr_assert_eq(px_negentropy_storage_paged_bytes(st), 0);
    /* The rejected attempts left it plain: it must not call the callbacks it refused. */
    bad.read = null_io;
    bad.write = NULL;
    cr_assert_eq(px_negentropy_storage_set_pager(st, &bad, 16), PX_EINVAL);
    for (uint64_t i = 0; i < 300; i++) {
        id[1] = (uint8_t)i;
        cr_assert_eq(px_negentropy_storage_insert(st, i, id), 0);
    }
    cr_assert_eq(px_negentropy_storage_seal(st), 0);
    cr_assert_eq(px_negentropy_storage_paged_bytes(st), 0);
    cr_assert_eq(f.calls, 0);
    px_negentropy_storage_free(st);

    /* A valid pager after rejected attempts; the smallest cache is fine. */
    cr_assert_eq(px_negentropy_storage_new(&st), 0);
    cr_assert_eq(px_negentropy_storage_set_pager(st, &p, 2), PX_EINVAL);
    cr_assert_eq(px_negentropy_storage_set_pager(st, &p, PX_NEGENTROPY_MIN_CACHE), 0);
    cr_assert_not(px_negentropy_storage_failed(st), "a fresh paged storage");
    cr_assert_not(px_negentropy_storage_sealed(st));
    cr_assert_eq(px_negentropy_storage_size(st), 0);
    for (uint64_t i = 0; i < 1000; i++) {
        id[1] = (uint8_t)i;
        id[2] = (uint8_t)(i >> 8);
        cr_assert_eq(px_negentropy_storage_insert(st, i, id), 0);
    }
    cr_assert_eq(px_negentropy_storage_seal(st), 0);
    cr_assert_not(px_negentropy_storage_failed(st));
    cr_assert_gt(px_negentropy_storage_paged_bytes(st), 0);
    cr_assert_eq(px_negentropy_storage_set_pager(st, &p, 16), PX_EINVAL, "paged and sealed");
    px_negentropy_storage_free(st);
    fake_fini(&f);
}

/* ---- Slot reuse ---- */

struct titem {
    uint64_t ts;
    uint8_t id[ID];
};

Test(negentropy_pager, slots_are_reused)
{
    /* 100 items stay; ten times, the same 3000 more come (random timestamps: splits all
     * over) and go again (in another random order each time: merges). Without reuse the
     * highest slot would grow with every cycle; with it, it stays that of the first cycle,
     * below the most pages ever in use. */
    const size_t caches[] = {PX_NEGENTROPY_MIN_CACHE};
    const size_t n = 3000;
    struct twin t;
    struct rng r = {2718};
    struct titem *items = malloc(n * sizeof(*items));
    size_t max_pages = 0, base_pages;
    uint64_t first_max = 0;
    uint8_t fp[FP];

    cr_assert_not_null(items);
    twin_new(&t, caches, 1);
    t.name = "base";
    for (size_t i = 0; i < 100; i++) {
        uint8_t id[ID];

        rng_id(&r, id);
        cr_assert_eq(twin_insert(&t, rng_below(&r, 1000000), id), 0);
    }
    cr_assert_eq(twin_seal(&t), 0);
    base_pages = pages_in_use(t.st[1]);
    for (int cycle = 0; cycle < 10; cycle++) {
        struct rng g = {1414};

        t.name = "insert cycle";
        for (size_t i = 0; i < n; i++) {
            size_t pages;

            items[i].ts = rng_below(&g, 1000000);
            rng_id(&g, items[i].id);
            cr_assert_eq(twin_insert(&t, items[i].ts, items[i].id), 0);
            pages = pages_in_use(t.st[1]);
            max_pages = pages > max_pages ? pages : max_pages;
        }
        for (size_t i = n - 1; i > 0; i--) {
            size_t j = (size_t)rng_below(&r, i + 1);
            struct titem tmp = items[i];

            items[i] = items[j];
            items[j] = tmp;
        }
        t.name = "erase cycle";
        for (size_t i = 0; i < n; i++) {
            cr_assert_eq(twin_erase(&t, items[i].ts, items[i].id), 0);
            if (i % 500 == 0) {
                random_read(&t, &r);
            }
        }
        cr_assert_eq(twin_size(&t), 100);
        cr_assert_eq(twin_fingerprint(&t, 0, 100, fp), 0);
        cr_assert_leq(pages_in_use(t.st[1]), base_pages + 2,
                      "cycle %d: %zu pages in use for 100 items", cycle, pages_in_use(t.st[1]));
        cr_assert(t.fk[1].written);
        if (cycle == 0) {
            first_max = t.fk[1].max_slot;
        }
        cr_log_info("cycle %d: highest slot %llu, most pages %zu, pages now %zu", cycle,
                    (unsigned long long)t.fk[1].max_slot, max_pages, pages_in_use(t.st[1]));
    }
    cr_assert_leq(t.fk[1].max_slot, first_max + 2,
                  "highest slot %llu after 10 cycles, %llu after the first",
                  (unsigned long long)t.fk[1].max_slot, (unsigned long long)first_max);
    cr_assert_lt(t.fk[1].max_slot, max_pages + 2,
                 "highest slot %llu, the most pages ever in use %zu",
                 (unsigned long long)t.fk[1].max_slot, max_pages);
    twin_check_all(&t, &r);
    twin_free(&t);
    free(items);
}

/*
 * Reads that fail while a reconciler walks a large paged index: stand-ins for the chunks it
 * cannot read are equal to each other, and the bound between two of them must still fit
 * (a 33-byte prefix overran the bound and read past the stand-in before the fix; the ASan
 * build catches it). Then nothing more goes to the pager, and every call reports the error.
 */
Test(negentropy_pager, failed_reads_while_reconciling_stay_in_bounds)
{
    struct fake f;
    struct px_negentropy_pager p;
    struct px_negentropy_storage *st;
    struct px_negentropy *ne = NULL;
    uint8_t *msg = NULL, *reply = NULL, hello[] = {PX_NEGENTROPY_VERSION};
    size_t len = 0, calls;

    fake_init(&f);
    p = fake_pager(&f);
    cr_assert_eq(px_negentropy_storage_new(&st), 0);
    cr_assert_eq(px_negentropy_storage_set_pager(st, &p, PX_NEGENTROPY_MIN_CACHE), 0);
    cr_assert_eq(px_negentropy_storage_seal(st), 0);
    for (size_t i = 0; i < 6128; i++) {
        uint8_t id[ID] = {(uint8_t)i, (uint8_t)(i >> 8)};

        cr_assert_eq(px_negentropy_storage_insert(st, 1000 + i, id), 0);
    }
    f.fail_on = FAIL_READ;
    f.fail_at = f.reads + 1;
    f.fail_rc = PX_EIO;
    cr_assert_eq(px_negentropy_new(st, 0, &ne), 0);
    cr_assert_eq(px_negentropy_initiate(ne, &msg, &len), PX_EIO);
    cr_assert_null(msg);
    cr_assert(px_negentropy_storage_failed(st));
    calls = f.calls;
    px_negentropy_free(ne);
    cr_assert_eq(px_negentropy_new(st, 0, &ne), 0);
    cr_assert_eq(px_negentropy_respond(ne, hello, sizeof(hello), &reply, &len), PX_EIO);
    cr_assert_null(reply);
    cr_assert_eq(px_negentropy_storage_insert(st, 99999, (uint8_t[ID]){1}), PX_EIO);
    cr_assert_eq(f.calls, calls, "the pager was called after it failed");
    px_negentropy_free(ne);
    px_negentropy_storage_free(st);
    fake_fini(&f);
}
