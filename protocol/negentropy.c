/* SPDX-License-Identifier: MIT */
/*
 * negentropy.c - negentropy v1 set reconciliation and its index; see negentropy.h and
 * docs/negentropy.md.
 *
 * The index. Items live sorted in chunks of at most CHUNK_MAX (128) items. Each chunk keeps
 * the sums of its ids at every BLOCK (16) items, and a summary (count, sum, last item) in an
 * array beside the chunk pointers; a Fenwick tree over the chunks holds prefix counts and
 * prefix sums. So the sum of the ids at positions [0, pos) is one O(log m) descent of the
 * tree (m chunks) plus at most BLOCK / 2 additions inside one chunk, and a range fingerprint
 * is two of those and one SHA-256: O(log n), touching a few cache lines. Finding a bound is a
 * binary search over the chunk summaries, then inside one chunk.
 *
 * An insert or erase touches one chunk (a memmove of at most CHUNK_MAX items and its block
 * sums) and updates the tree in O(log m). When a chunk splits (a full one gets an insert) or
 * two merge, the chunk array shifts and the tree is rebuilt from that chunk on: O(m - j),
 * m = n / 128 or less, and O(log m) for the common case of a new chunk at the end. A split
 * leaves two halves, a merge at most CHUNK_MERGE items, so a chunk sees at least
 * CHUNK_MAX / 8 changes between two of them. Seal fills chunks to 7/8 for the same reason.
 *
 * Memory: adjacent chunks are merged while their counts add up to at most CHUNK_MERGE, so
 * every pair of neighbours holds more than CHUNK_MERGE items: chunks are on average more
 * than 7/16 full, which bounds the index at about 99 bytes per item whatever the order of
 * inserts and erases. Measured at 10^6 items: 50.5 bytes per item after a seal, 43-46
 * for items appended in timestamp order (the daemon's usual case), 49-51 after 10^5 random
 * inserts and erases (docs/negentropy.md).
 *
 * Paging. With a pager, the chunks are pages: each chunk's place (struct cref) names its
 * page slot and the cache frame that held it last, and chunk_get reads a chunk that is not
 * cached into the least recently used frame, writing that frame's chunk back first when it
 * changed. Everything else (the summaries, the tree) stays in memory, so the code paths are
 * the same with and without a pager; they get their chunks only through chunk_get and hold
 * at most two chunk pointers at a time, which a cache of PX_NEGENTROPY_MIN_CACHE frames keeps
 * valid. Slots are reused through a free list sized to the slots handed out, so dropping a
 * chunk never allocates.
 *
 * The reconciler mirrors the reference's reconcileAux and splitRange step for step (the
 * order of the frame-size checks is what makes the bytes identical), with a strict parser
 * in front. All state of one message lives in a struct run on the stack.
 */
#include "negentropy.h"

#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "buf.h"
#include "err.h"

#define ID_SIZE     PX_NEGENTROPY_ID_SIZE
#define FP_SIZE     PX_NEGENTROPY_FINGERPRINT_SIZE
#define TS_INFINITY PX_NEGENTROPY_TS_INFINITY

/* Modes of a range. */
#define MODE_SKIP        0
#define MODE_FINGERPRINT 1
#define MODE_IDLIST      2

/* splitRange: 16 buckets, and a range of fewer than 32 items goes as one IdList. */
#define BUCKETS 16

/* The reason a reconciler gives once its storage's pager has failed. */
#define REASON_PAGER "the index's pager failed"

/* The reference stops adding ranges this many bytes before the frame size limit. */
#define FRAME_SLACK 200

#define CHUNK_MAX   128
#define CHUNK_MERGE (CHUNK_MAX * 7 / 8)
/* Seal fills chunks to 7/8, so that the first inserts into the middle of a freshly sealed
 * index do not all split a chunk (each split rebuilds part of the tree, O(n / CHUNK_MAX)). */
#define SEAL_FILL (CHUNK_MAX * 7 / 8)
/* Within a chunk, prefix sums every BLOCK items: a partial chunk sum adds at most
 * BLOCK / 2 ids. */
#define BLOCK  16
#define BLOCKS (CHUNK_MAX / BLOCK)

/* A 256-bit unsigned integer, least significant 64-bit word first. */
struct acc {
    uint64_t w[4];
};

struct item {
    uint64_t ts;
    uint8_t id[ID_SIZE];
};

struct chunk {
    size_t n;
    /* pre[k]: the sum of the ids of items[0, min(k * BLOCK, n)), mod 2^256; so pre[0] is 0
     * and pre[BLOCKS] the sum of the whole chunk. */
    struct acc pre[BLOCKS + 1];
    struct item items[CHUNK_MAX];
};

/* A Fenwick tree node: the count and id sum of the chunks it covers. */
struct fwnode {
    size_t n;
    struct acc sum;
};

/* A chunk's summary, kept in an array beside the chunk pointers so that searching the
 * chunks and rebuilding the tree read contiguous memory instead of every chunk. */
struct leaf {
    size_t n;
    struct acc sum;   /* = the chunk's pre[BLOCKS] */
    struct item last; /* the chunk's last (largest) item */
};

/* Where chunk j is: in memory, the chunk itself; paged, its page slot and the cache frame
 * that held it last (a hint: the frame holds it while the frame's slot is still this one). */
struct cref {
    struct chunk *mem;
    uint32_t slot, frame;
};

/* A page slot no chunk has: marks a free frame. */
#define SLOT_NONE UINT32_MAX

/* What is known of one cached page, kept apart from the pages themselves so that finding
 * the least recently used one reads a small array. */
struct frame {
    uint32_t slot; /* SLOT_NONE: free */
    bool dirty;    /* changed since it was read or last written */
    uint64_t used; /* the storage's tick at the last access: the least recent goes first */
};

/* A paged storage's cache and slots: the page cache, the slots handed out ([0, next_slot)),
 * the freed ones (free_slots[0, nfree), room for every slot handed out), and the first pager
 * error, after which nothing is trusted. Apart from the storage, so that reads through a
 * const storage may change the cache. */
struct pages {
    struct px_negentropy_pager pager;
    struct frame *frames; /* [nframes] */
    struct chunk *data;   /* [nframes]: frame i's page */
    size_t nframes;
    uint64_t tick;
    uint32_t next_slot;
    uint32_t *free_slots; /* [free_cap] */
    size_t nfree, free_cap;
    int fail_rc;
    /* Stand in for chunks the pager could not give back; two, used in turn, because the
     * code holds two chunk pointers at most and they must not be the same chunk. */
    struct chunk scratch[2];
    unsigned scratch_next;
};

struct px_negentropy_storage {
    bool sealed;
    size_t size;
    /* Unsealed: the items in insertion order. */
    struct item *pending;
    size_t pending_cap;
    /* Sealed: chunks in order, and a 1-based Fenwick tree over their counts and sums. */
    struct cref *chunks;
    struct leaf *leaf; /* [chunks_cap] */
    size_t nchunks, chunks_cap;
    struct fwnode *fw; /* [chunks_cap + 1], node 0 unused */
    size_t fw_top;     /* the highest power of two <= nchunks, 0 when there are none */
    struct pages *pg;  /* NULL: every chunk is in memory */
};

/* A position inside the chunks. */
struct cursor {
    size_t chunk, off;
};

/* ---- 256-bit sums ---- */

/* Little-endian loads; on little-endian hosts a plain (unaligned-safe) copy, which is what
 * makes summing ids cheap. */
static uint64_t
load_le64(const uint8_t *p)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    uint64_t v;

    memcpy(&v, p, sizeof(v));
    return v;
#else
    uint64_t v = 0;

    for (int i = 7; i >= 0; i--) {
        v = (v << 8) | p[i];
    }
    return v;
#endif
}

static uint32_t
load_le32(const uint8_t *p)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    uint32_t v;

    memcpy(&v, p, sizeof(v));
    return v;
#else
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
#endif
}

static void
store_le64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

static void
acc_zero(struct acc *a)
{
    memset(a, 0, sizeof(*a));
}

static void
acc_from_id(struct acc *a, const uint8_t *id)
{
    for (int i = 0; i < 4; i++) {
        a->w[i] = load_le64(id + 8 * i);
    }
}

static void
acc_add(struct acc *a, const struct acc *b)
{
    uint64_t carry = 0;

    for (int i = 0; i < 4; i++) {
        uint64_t s = a->w[i] + carry;
        uint64_t c = s < carry;
        uint64_t t = s + b->w[i];

        c |= t < s;
        a->w[i] = t;
        carry = c;
    }
}

static void
acc_sub(struct acc *a, const struct acc *b)
{
    uint64_t borrow = 0;

    for (int i = 0; i < 4; i++) {
        uint64_t x = a->w[i];
        uint64_t d = x - b->w[i];
        uint64_t bw = x < b->w[i];
        uint64_t e = d - borrow;

        bw |= d < borrow;
        a->w[i] = e;
        borrow = bw;
    }
}

/*
 * The sum of the ids of items[0..k) (k < 2^31). Each id goes in as eight 32-bit digits added
 * to 64-bit lanes, which cannot overflow, and the carries are resolved once at the end: no
 * carry chain runs from one id to the next, so this is several times faster than k 256-bit
 * additions.
 */
static void
sum_items(const struct item *items, size_t k, struct acc *out)
{
    uint64_t lane[8] = {0}, carry = 0;

    for (size_t i = 0; i < k; i++) {
        for (int j = 0; j < 8; j++) {
            lane[j] += load_le32(items[i].id + 4 * j);
        }
    }
    for (int j = 0; j < 8; j++) {
        uint64_t v = lane[j] + carry;

        lane[j] = v & 0xffffffffu;
        carry = v >> 32;
    }
    /* A carry out of the top digit is dropped: the sum is mod 2^256. */
    for (int i = 0; i < 4; i++) {
        out->w[i] = lane[2 * i] | lane[2 * i + 1] << 32;
    }
}

/* ---- Varints ---- */

size_t
px_negentropy_varint_len(uint64_t v)
{
    size_t n = 1;

    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

size_t
px_negentropy_varint_encode(uint64_t v, uint8_t *out)
{
    size_t n = px_negentropy_varint_len(v);

    /* Most significant digit first; the high bit marks every byte but the last. */
    for (size_t i = n; i > 0; i--) {
        out[i - 1] = (uint8_t)((v & 0x7f) | (i == n ? 0 : 0x80));
        v >>= 7;
    }
    return n;
}

int
px_negentropy_varint_decode(const uint8_t *p, size_t len, uint64_t *v, size_t *used)
{
    uint64_t res = 0;

    for (size_t i = 0;; i++) {
        uint8_t b;

        if (i >= len) {
            return PX_ETRUNC;
        }
        b = p[i];
        if (i == 0 && b == 0x80) {
            return PX_ENONCANON; /* a leading zero digit: not the shortest form */
        }
        if (res > (UINT64_MAX >> 7)) {
            return PX_EPROTO; /* another digit would push bits past 64 */
        }
        res = (res << 7) | (b & 0x7f);
        if ((b & 0x80) == 0) {
            *v = res;
            *used = i + 1;
            return 0;
        }
    }
}

/* ---- Fingerprints ---- */

static void
fingerprint_of(const struct acc *sum, uint64_t count, uint8_t fp[FP_SIZE])
{
    uint8_t in[ID_SIZE + 10];
    uint8_t hash[crypto_hash_sha256_BYTES];
    size_t n;

    for (int i = 0; i < 4; i++) {
        store_le64(in + 8 * i, sum->w[i]);
    }
    n = ID_SIZE + px_negentropy_varint_encode(count, in + ID_SIZE);
    crypto_hash_sha256(hash, in, n);
    memcpy(fp, hash, FP_SIZE);
}

/* ---- Items and the storage ---- */

static int
item_cmp(const struct item *a, uint64_t ts, const uint8_t *id)
{
    if (a->ts != ts) {
        return a->ts < ts ? -1 : 1;
    }
    return memcmp(a->id, id, ID_SIZE);
}

static int
item_qsort_cmp(const void *a, const void *b)
{
    const struct item *y = b;

    return item_cmp(a, y->ts, y->id);
}

int
px_negentropy_storage_new(struct px_negentropy_storage **out)
{
    struct px_negentropy_storage *st = calloc(1, sizeof(*st));

    *out = NULL;
    if (st == NULL) {
        return PX_ENOMEM;
    }
    *out = st;
    return 0;
}

void
px_negentropy_storage_free(struct px_negentropy_storage *st)
{
    if (st == NULL) {
        return;
    }
    for (size_t i = 0; i < st->nchunks; i++) {
        free(st->chunks[i].mem);
    }
    free(st->chunks);
    if (st->pg != NULL) {
        free(st->pg->frames);
        free(st->pg->data);
        free(st->pg->free_slots);
        free(st->pg);
    }
    free(st->leaf);
    free(st->fw);
    free(st->pending);
    free(st);
}

bool
px_negentropy_storage_sealed(const struct px_negentropy_storage *st)
{
    return st->sealed;
}

size_t
px_negentropy_storage_size(const struct px_negentropy_storage *st)
{
    return st->size;
}

size_t
px_negentropy_storage_memory(const struct px_negentropy_storage *st)
{
    size_t per_slot = sizeof(struct cref) + sizeof(struct leaf) + sizeof(struct fwnode);
    size_t n = sizeof(*st) + st->pending_cap * sizeof(struct item) +
               (st->chunks_cap > 0 ? (st->chunks_cap + 1) * per_slot : 0);

    if (st->pg == NULL) {
        return n + st->nchunks * sizeof(struct chunk);
    }
    return n + sizeof(*st->pg) + st->pg->nframes * (sizeof(struct frame) + sizeof(struct chunk)) +
           st->pg->free_cap * sizeof(uint32_t);
}

/* ---- Pages ---- */

size_t
px_negentropy_page_size(void)
{
    return sizeof(struct chunk);
}

int
px_negentropy_storage_set_pager(struct px_negentropy_storage *st,
                                const struct px_negentropy_pager *pager, size_t cache_pages)
{
    struct pages *pg;

    if (st->sealed || st->size > 0 || st->pg != NULL || pager->read == NULL ||
        pager->write == NULL || cache_pages < PX_NEGENTROPY_MIN_CACHE || cache_pages > UINT32_MAX ||
        cache_pages > SIZE_MAX / sizeof(struct chunk)) {
        return PX_EINVAL;
    }
    if ((pg = calloc(1, sizeof(*pg))) == NULL ||
        (pg->frames = calloc(cache_pages, sizeof(*pg->frames))) == NULL ||
        (pg->data = malloc(cache_pages * sizeof(*pg->data))) == NULL) {
        if (pg != NULL) {
            free(pg->frames);
        }
        free(pg);
        return PX_ENOMEM;
    }
    for (size_t i = 0; i < cache_pages; i++) {
        pg->frames[i].slot = SLOT_NONE;
    }
    pg->nframes = cache_pages;
    pg->pager = *pager;
    st->pg = pg;
    return 0;
}

/* The pager's first failure, 0 while there is none. */
static int
failure(const struct px_negentropy_storage *st)
{
    return st->pg != NULL ? st->pg->fail_rc : 0;
}

bool
px_negentropy_storage_failed(const struct px_negentropy_storage *st)
{
    return failure(st) != 0;
}

size_t
px_negentropy_storage_paged_bytes(const struct px_negentropy_storage *st)
{
    if (st->pg == NULL) {
        return 0;
    }
    return ((size_t)st->pg->next_slot - st->pg->nfree) * sizeof(struct chunk);
}

/* Records the first pager failure (rc, PX_EIO when the pager gave no error). */
static void
pager_failed(struct pages *pg, int rc)
{
    if (pg->fail_rc == 0) {
        pg->fail_rc = rc < 0 ? rc : PX_EIO;
    }
}

/* The index of the least recently used frame, emptied: its chunk is written back first when
 * it changed and the pager has not failed (on a failed write the storage fails, and the
 * frame is still handed out). */
static size_t
frame_take(struct pages *pg)
{
    size_t k = 0;
    struct frame *f;

    for (size_t i = 1; i < pg->nframes && pg->frames[k].slot != SLOT_NONE; i++) {
        if (pg->frames[i].slot == SLOT_NONE || pg->frames[i].used < pg->frames[k].used) {
            k = i;
        }
    }
    f = &pg->frames[k];
    if (f->slot != SLOT_NONE && f->dirty && pg->fail_rc == 0) {
        int rc = pg->pager.write(pg->pager.ctx, f->slot, &pg->data[k], sizeof(pg->data[k]));

        if (rc != 0) {
            pager_failed(pg, rc);
        }
    }
    f->slot = SLOT_NONE;
    f->dirty = false;
    return k;
}

/* Whether page is what chunk j was when it was written: its count, sum and last item are
 * the summary's. */
static bool
page_matches(const struct px_negentropy_storage *st, size_t j, const struct chunk *page)
{
    const struct leaf *lf = &st->leaf[j];

    return page->n == lf->n && page->n > 0 && page->n <= CHUNK_MAX &&
           memcmp(&page->pre[BLOCKS], &lf->sum, sizeof(lf->sum)) == 0 &&
           memcmp(&page->items[page->n - 1], &lf->last, sizeof(lf->last)) == 0;
}

/*
 * Chunk j, for reading, or for writing when write is set (it then goes back to the pager
 * before its frame is reused). Paged, a chunk not in the cache is read into the least
 * recently used frame, so the chunks of the last few calls stay where they are: the code
 * below holds at most two chunk pointers at once. When the pager fails, a zeroed chunk
 * with the right count stands in (one of two, so the two pointers differ): results are
 * wrong from then on, and every public call reports the failure instead of them. Nothing
 * changes a stand-in: insert, erase and merge check for the failure first. The cache and the frame
 * hint change even through a const storage: both live outside it (the header says reads are not
 * concurrent).
 */
static struct chunk *
chunk_get(const struct px_negentropy_storage *st, size_t j, bool write)
{
    struct pages *pg = st->pg;
    struct cref *r = &st->chunks[j];
    size_t k;

    if (pg == NULL) {
        return r->mem;
    }
    k = r->frame;
    if (pg->frames[k].slot != r->slot) {
        int rc = pg->fail_rc;

        if (rc == 0) {
            k = frame_take(pg);
            rc = pg->fail_rc != 0
                     ? pg->fail_rc
                     : pg->pager.read(pg->pager.ctx, r->slot, &pg->data[k], sizeof(pg->data[k]));
            if (rc == 0 && !page_matches(st, j, &pg->data[k])) {
                rc = PX_EIO; /* not the page that was written */
            }
        }
        if (rc != 0) {
            struct chunk *sc = &pg->scratch[pg->scratch_next++ % 2];

            pager_failed(pg, rc);
            memset(sc, 0, sizeof(*sc));
            sc->n = st->leaf[j].n <= CHUNK_MAX ? st->leaf[j].n : CHUNK_MAX;
            return sc;
        }
        pg->frames[k].slot = r->slot;
        r->frame = (uint32_t)k;
    }
    pg->frames[k].used = ++pg->tick;
    pg->frames[k].dirty |= write;
    return &pg->data[k];
}

/* A new, empty chunk for *r: PX_ENOMEM, or the pager's failure. */
static int
chunk_new(struct px_negentropy_storage *st, struct cref *r, struct chunk **out)
{
    struct pages *pg = st->pg;

    if (pg == NULL) {
        if ((r->mem = malloc(sizeof(*r->mem))) == NULL) {
            return PX_ENOMEM;
        }
        r->slot = SLOT_NONE;
        r->frame = 0;
        *out = r->mem;
    } else {
        size_t k;
        uint32_t slot;

        if (pg->nfree > 0) {
            slot = pg->free_slots[--pg->nfree];
        } else {
            /* Room to free every slot handed out, so that freeing never allocates. */
            if (pg->next_slot == pg->free_cap) {
                size_t cap = pg->free_cap < 64 ? 64 : pg->free_cap * 2;
                uint32_t *p;

                cap = cap < SLOT_NONE ? cap : SLOT_NONE;
                if (pg->next_slot == SLOT_NONE ||
                    (p = realloc(pg->free_slots, cap * sizeof(*p))) == NULL) {
                    return PX_ENOMEM;
                }
                pg->free_slots = p;
                pg->free_cap = cap;
            }
            slot = pg->next_slot++;
        }
        if (pg->fail_rc == 0) {
            k = frame_take(pg);
        }
        if (pg->fail_rc != 0) {
            pg->free_slots[pg->nfree++] = slot;
            return pg->fail_rc;
        }
        pg->frames[k].slot = slot;
        pg->frames[k].dirty = true;
        pg->frames[k].used = ++pg->tick;
        r->mem = NULL;
        r->slot = slot;
        r->frame = (uint32_t)k;
        *out = &pg->data[k];
    }
    (*out)->n = 0;
    memset((*out)->pre, 0, sizeof((*out)->pre));
    return 0;
}

/* Releases the chunk of *r (its page slot goes back to the free list). */
static void
chunk_drop(struct px_negentropy_storage *st, const struct cref *r)
{
    struct pages *pg = st->pg;

    if (pg == NULL) {
        free(r->mem);
        return;
    }
    if (pg->frames[r->frame].slot == r->slot) {
        pg->frames[r->frame].slot = SLOT_NONE;
        pg->frames[r->frame].dirty = false;
    }
    pg->free_slots[pg->nfree++] = r->slot;
}

/* Makes room for n chunks; on failure nothing the storage relies on has changed. */
static int
reserve_chunks(struct px_negentropy_storage *st, size_t n)
{
    size_t cap = st->chunks_cap;
    void *p;

    if (n <= cap) {
        return 0;
    }
    cap = cap < 8 ? 8 : cap;
    while (cap < n) {
        cap *= 2;
    }
    /* Each array is assigned as soon as it has grown: a larger array than chunks_cap says
     * is harmless, and chunks_cap only moves once all three have. */
    if ((p = realloc(st->chunks, cap * sizeof(*st->chunks))) == NULL) {
        return PX_ENOMEM;
    }
    st->chunks = p;
    if ((p = realloc(st->leaf, cap * sizeof(*st->leaf))) == NULL) {
        return PX_ENOMEM;
    }
    st->leaf = p;
    if ((p = realloc(st->fw, (cap + 1) * sizeof(*st->fw))) == NULL) {
        return PX_ENOMEM;
    }
    st->fw = p;
    st->chunks_cap = cap;
    return 0;
}

/*
 * Rebuilds the tree after chunks [from, nchunks) changed (were split, merged, inserted,
 * removed or shifted) while chunks [0, from) kept their place and content. Node i (1-based)
 * covers chunks [i - lowbit(i), i), so nodes 1..from are still right; the nodes above are
 * recomputed from their chunks, from the finished nodes on the prefix path of from (the
 * only nodes at or below from whose parents lie above it), and from each other in
 * ascending order. O(nchunks - from + log nchunks): a new chunk at the end costs O(log).
 */
static void
fw_rebuild(struct px_negentropy_storage *st, size_t from)
{
    size_t m = st->nchunks;

    for (size_t i = from + 1; i <= m; i++) {
        st->fw[i].n = st->leaf[i - 1].n;
        st->fw[i].sum = st->leaf[i - 1].sum;
    }
    for (size_t i = from; i > 0; i -= i & (0 - i)) {
        size_t p = i + (i & (0 - i));

        if (p <= m) {
            st->fw[p].n += st->fw[i].n;
            acc_add(&st->fw[p].sum, &st->fw[i].sum);
        }
    }
    for (size_t i = from + 1; i <= m; i++) {
        size_t p = i + (i & (0 - i));

        if (p <= m) {
            st->fw[p].n += st->fw[i].n;
            acc_add(&st->fw[p].sum, &st->fw[i].sum);
        }
    }
    st->fw_top = 0;
    if (m > 0) {
        st->fw_top = 1;
        while (st->fw_top <= m / 2) {
            st->fw_top *= 2;
        }
    }
}

/* Adds (plus) or removes one item with id sum v to or from chunk j's tree entries. */
static void
fw_update(struct px_negentropy_storage *st, size_t j, bool plus, const struct acc *v)
{
    for (size_t i = j + 1; i <= st->nchunks; i += i & (0 - i)) {
        if (plus) {
            st->fw[i].n++;
            acc_add(&st->fw[i].sum, v);
        } else {
            st->fw[i].n--;
            acc_sub(&st->fw[i].sum, v);
        }
    }
}

/* The number of items in chunks [0, j). */
static size_t
fw_count(const struct px_negentropy_storage *st, size_t j)
{
    size_t n = 0;

    for (size_t i = j; i > 0; i -= i & (0 - i)) {
        n += st->fw[i].n;
    }
    return n;
}

/*
 * Where position pos (0..size) is, and, when prefix is not NULL, the sum of the chunks
 * before it. Chunks are never empty, so the prefix counts strictly increase and the
 * descent finds the last chunk boundary at or before pos. pos == size gives
 * {nchunks, 0}.
 */
static struct cursor
locate(const struct px_negentropy_storage *st, size_t pos, struct acc *prefix)
{
    struct cursor c;
    size_t idx = 0, rem = pos;

    if (prefix != NULL) {
        acc_zero(prefix);
    }
    for (size_t step = st->fw_top; step > 0; step >>= 1) {
        size_t nx = idx + step;

        if (nx <= st->nchunks && st->fw[nx].n <= rem) {
            idx = nx;
            rem -= st->fw[nx].n;
            if (prefix != NULL) {
                acc_add(prefix, &st->fw[nx].sum);
            }
        }
    }
    c.chunk = idx;
    c.off = rem;
    return c;
}

/* The sum of the ids at positions [0, pos). */
static void
prefix_sum(const struct px_negentropy_storage *st, size_t pos, struct acc *sum)
{
    struct cursor c = locate(st, pos, sum);
    const struct chunk *ch;
    struct acc part;
    size_t k, lo, hi;

    if (c.chunk >= st->nchunks || c.off == 0) {
        return;
    }
    ch = chunk_get(st, c.chunk, false);
    k = c.off / BLOCK;
    lo = k * BLOCK;
    hi = lo + BLOCK < ch->n ? lo + BLOCK : ch->n;
    /* The block prefix before off plus the ids from there, or the block prefix after it
     * minus the ids up to there: whichever adds fewer ids (at most BLOCK / 2). */
    if (c.off - lo <= hi - c.off) {
        sum_items(&ch->items[lo], c.off - lo, &part);
        acc_add(sum, &ch->pre[k]);
        acc_add(sum, &part);
    } else {
        sum_items(&ch->items[c.off], hi - c.off, &part);
        acc_add(sum, &ch->pre[k + 1]);
        acc_sub(sum, &part);
    }
}

/* The item at c: valid until the storage pages in two more chunks. */
static const struct item *
cursor_item(const struct px_negentropy_storage *st, const struct cursor *c)
{
    return &chunk_get(st, c->chunk, false)->items[c->off];
}

static void
cursor_next(const struct px_negentropy_storage *st, struct cursor *c)
{
    if (++c->off >= st->leaf[c->chunk].n) {
        c->chunk++;
        c->off = 0;
    }
}

/* The first position in chunk ch whose item is not below (ts, id). */
static size_t
chunk_lower_bound(const struct chunk *ch, uint64_t ts, const uint8_t *id)
{
    size_t lo = 0, hi = ch->n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (item_cmp(&ch->items[mid], ts, id) < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo;
}

/* The first chunk whose last item is not below (ts, id); nchunks when there is none. */
static size_t
find_chunk(const struct px_negentropy_storage *st, uint64_t ts, const uint8_t *id)
{
    size_t lo = 0, hi = st->nchunks;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (item_cmp(&st->leaf[mid].last, ts, id) < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo;
}

/* The number of items below (ts, id), id being 32 bytes (a bound's prefix zero-padded). */
static size_t
lower_bound(const struct px_negentropy_storage *st, uint64_t ts, const uint8_t *id)
{
    size_t j = find_chunk(st, ts, id);

    if (j == st->nchunks) {
        return st->size;
    }
    return fw_count(st, j) + chunk_lower_bound(chunk_get(st, j, false), ts, id);
}

/* Recomputes the block prefix sums of ch after its items from position from on changed. */
static void
chunk_reprefix(struct chunk *ch, size_t from)
{
    for (size_t k = from / BLOCK + 1; k <= BLOCKS; k++) {
        size_t lo = (k - 1) * BLOCK, hi = k * BLOCK < ch->n ? k * BLOCK : ch->n;

        ch->pre[k] = ch->pre[k - 1];
        if (lo < hi) {
            struct acc part;

            sum_items(&ch->items[lo], hi - lo, &part);
            acc_add(&ch->pre[k], &part);
        }
    }
}

static void
chunk_insert_at(struct chunk *ch, size_t off, uint64_t ts, const uint8_t *id)
{
    memmove(&ch->items[off + 1], &ch->items[off], (ch->n - off) * sizeof(ch->items[0]));
    ch->items[off].ts = ts;
    memcpy(ch->items[off].id, id, ID_SIZE);
    ch->n++;
    chunk_reprefix(ch, off);
}

/* Refreshes the summary of chunk j, ch, after its items changed (it holds at least one). */
static void
leaf_set(struct px_negentropy_storage *st, size_t j, const struct chunk *ch)
{
    st->leaf[j].n = ch->n;
    st->leaf[j].sum = ch->pre[BLOCKS];
    st->leaf[j].last = ch->items[ch->n - 1];
}

/* Inserts the non-empty chunk ch, made by chunk_new for r, at index j (room was reserved). */
static void
chunks_insert(struct px_negentropy_storage *st, size_t j, const struct cref *r,
              const struct chunk *ch)
{
    size_t tail = st->nchunks - j;

    memmove(&st->chunks[j + 1], &st->chunks[j], tail * sizeof(st->chunks[0]));
    memmove(&st->leaf[j + 1], &st->leaf[j], tail * sizeof(st->leaf[0]));
    st->chunks[j] = *r;
    st->nchunks++;
    leaf_set(st, j, ch);
}

static void
chunks_remove(struct px_negentropy_storage *st, size_t j)
{
    size_t tail = st->nchunks - j - 1;

    chunk_drop(st, &st->chunks[j]);
    memmove(&st->chunks[j], &st->chunks[j + 1], tail * sizeof(st->chunks[0]));
    memmove(&st->leaf[j], &st->leaf[j + 1], tail * sizeof(st->leaf[0]));
    st->nchunks--;
}

/* Moves chunk j + 1's items to the end of chunk j and drops chunk j + 1. */
static void
merge_next(struct px_negentropy_storage *st, size_t j)
{
    struct chunk *a = chunk_get(st, j, true);
    const struct chunk *b = chunk_get(st, j + 1, false);
    size_t from = a->n;

    if (failure(st) != 0) {
        return; /* a stand-in is not merged into anything */
    }
    memcpy(&a->items[a->n], b->items, b->n * sizeof(b->items[0]));
    a->n += b->n;
    chunk_reprefix(a, from);
    chunks_remove(st, j + 1);
    leaf_set(st, j, a);
}

static bool
can_merge(const struct px_negentropy_storage *st, size_t j)
{
    size_t n = st->leaf[j].n;

    return (j > 0 && st->leaf[j - 1].n + n <= CHUNK_MERGE) ||
           (j + 1 < st->nchunks && n + st->leaf[j + 1].n <= CHUNK_MERGE);
}

/* Merges chunk j with its neighbours while a pair fits in CHUNK_MERGE. Returns the lowest
 * chunk index it changed (j when nothing merged, or less): the caller rebuilds the tree
 * from there. Stops when the pager fails (merge_next then changes nothing). */
static size_t
settle(struct px_negentropy_storage *st, size_t j)
{
    while (failure(st) == 0) {
        if (j > 0 && st->leaf[j - 1].n + st->leaf[j].n <= CHUNK_MERGE) {
            merge_next(st, j - 1);
            j--;
        } else if (j + 1 < st->nchunks && st->leaf[j].n + st->leaf[j + 1].n <= CHUNK_MERGE) {
            merge_next(st, j);
        } else {
            break;
        }
    }
    return j;
}

static int
insert_sealed(struct px_negentropy_storage *st, uint64_t ts, const uint8_t *id)
{
    struct chunk *ch, *nc;
    struct cref ref;
    size_t j, off, from;
    int rc;

    if (st->nchunks == 0) {
        if ((rc = reserve_chunks(st, 1)) != 0 || (rc = chunk_new(st, &ref, &nc)) != 0) {
            return rc;
        }
        chunk_insert_at(nc, 0, ts, id);
        chunks_insert(st, 0, &ref, nc);
        fw_rebuild(st, 0);
        st->size++;
        return 0;
    }
    j = find_chunk(st, ts, id);
    if (j == st->nchunks) {
        j--;
        off = st->leaf[j].n;
    } else {
        ch = chunk_get(st, j, false);
        off = chunk_lower_bound(ch, ts, id);
        if (off < ch->n && item_cmp(&ch->items[off], ts, id) == 0) {
            return PX_EEXIST;
        }
        /* Between two chunks: the previous one may have room. */
        if (off == 0 && j > 0 && st->leaf[j - 1].n < CHUNK_MAX) {
            j--;
            off = st->leaf[j].n;
        }
    }
    ch = chunk_get(st, j, true);
    if (failure(st) != 0) {
        return failure(st); /* ch is a stand-in: change nothing */
    }
    if (ch->n < CHUNK_MAX) {
        struct acc v;

        chunk_insert_at(ch, off, ts, id);
        leaf_set(st, j, ch);
        acc_from_id(&v, id);
        fw_update(st, j, true, &v);
        st->size++;
        return 0;
    }

    /* The chunk is full: allocate everything before changing anything (a new page takes the
     * least recently used frame, never ch's). */
    if ((rc = reserve_chunks(st, st->nchunks + 1)) != 0 || (rc = chunk_new(st, &ref, &nc)) != 0) {
        return rc;
    }
    from = j;
    if (j + 1 == st->nchunks && off == ch->n) {
        /* Past the newest item (records arrive in timestamp order): start a new chunk and
         * leave the full one full. */
        chunk_insert_at(nc, 0, ts, id);
        chunks_insert(st, j + 1, &ref, nc);
        from = j + 1;
    } else if (j + 1 == st->nchunks && off >= CHUNK_MAX / 2) {
        /* Near the end of the newest chunk (same-millisecond records in any id order):
         * move only the items after off to a new chunk, and leave this one full. */
        memcpy(nc->items, &ch->items[off], (ch->n - off) * sizeof(ch->items[0]));
        nc->n = ch->n - off;
        ch->n = off;
        chunk_reprefix(nc, 0);
        chunk_insert_at(ch, off, ts, id);
        leaf_set(st, j, ch);
        chunks_insert(st, j + 1, &ref, nc);
    } else {
        size_t half = CHUNK_MAX / 2;

        memcpy(nc->items, &ch->items[half], (ch->n - half) * sizeof(ch->items[0]));
        nc->n = ch->n - half;
        ch->n = half;
        chunk_reprefix(nc, 0);
        chunk_reprefix(ch, half);
        if (off <= half) {
            chunk_insert_at(ch, off, ts, id);
        } else {
            chunk_insert_at(nc, off - half, ts, id);
        }
        leaf_set(st, j, ch);
        chunks_insert(st, j + 1, &ref, nc);
        /* Right first, so that index j still names ch afterwards. */
        (void)settle(st, j + 1);
        from = settle(st, j);
    }
    fw_rebuild(st, from);
    st->size++;
    return 0;
}

int
px_negentropy_storage_insert(struct px_negentropy_storage *st, uint64_t timestamp,
                             const uint8_t *id)
{
    if (timestamp == TS_INFINITY) {
        return PX_EINVAL;
    }
    if (failure(st) != 0) {
        return failure(st);
    }
    if (st->sealed) {
        int rc = insert_sealed(st, timestamp, id);

        return failure(st) != 0 ? failure(st) : rc;
    }
    if (st->size == st->pending_cap) {
        size_t cap = st->pending_cap < 64 ? 64 : st->pending_cap * 2;
        struct item *p;

        if (cap > SIZE_MAX / sizeof(*p) || (p = realloc(st->pending, cap * sizeof(*p))) == NULL) {
            return PX_ENOMEM;
        }
        st->pending = p;
        st->pending_cap = cap;
    }
    st->pending[st->size].ts = timestamp;
    memcpy(st->pending[st->size].id, id, ID_SIZE);
    st->size++;
    return 0;
}

static int
erase_sealed(struct px_negentropy_storage *st, uint64_t timestamp, const uint8_t *id)
{
    struct chunk *ch;
    struct acc v;
    size_t j, off;

    j = find_chunk(st, timestamp, id);
    if (j == st->nchunks) {
        return PX_ENOTFOUND;
    }
    ch = chunk_get(st, j, false);
    if (failure(st) != 0) {
        return failure(st); /* ch is a stand-in: change nothing */
    }
    off = chunk_lower_bound(ch, timestamp, id);
    if (off == ch->n || item_cmp(&ch->items[off], timestamp, id) != 0) {
        return PX_ENOTFOUND;
    }
    ch = chunk_get(st, j, true); /* cached: only marks it changed */
    memmove(&ch->items[off], &ch->items[off + 1], (ch->n - off - 1) * sizeof(ch->items[0]));
    ch->n--;
    chunk_reprefix(ch, off);
    acc_from_id(&v, id);
    st->size--;
    if (ch->n == 0) {
        size_t from = j > 0 ? j - 1 : 0;

        chunks_remove(st, j);
        if (st->nchunks > 0) {
            from = settle(st, from);
        }
        fw_rebuild(st, from);
        return 0;
    }
    leaf_set(st, j, ch);
    if (can_merge(st, j)) {
        fw_rebuild(st, settle(st, j));
    } else {
        fw_update(st, j, false, &v);
    }
    return 0;
}

int
px_negentropy_storage_erase(struct px_negentropy_storage *st, uint64_t timestamp, const uint8_t *id)
{
    int rc;

    if (!st->sealed) {
        return PX_EINVAL;
    }
    if (failure(st) != 0) {
        return failure(st);
    }
    rc = erase_sealed(st, timestamp, id);
    return failure(st) != 0 ? failure(st) : rc;
}

int
px_negentropy_storage_seal(struct px_negentropy_storage *st)
{
    size_t n = st->size, m = (st->size + SEAL_FILL - 1) / SEAL_FILL;
    int rc;

    if (st->sealed) {
        return PX_EINVAL;
    }
    if (failure(st) != 0) {
        return failure(st);
    }
    if (n > 1) {
        qsort(st->pending, n, sizeof(st->pending[0]), item_qsort_cmp);
    }
    for (size_t i = 1; i < n; i++) {
        if (item_qsort_cmp(&st->pending[i - 1], &st->pending[i]) == 0) {
            return PX_EEXIST;
        }
    }
    if ((rc = reserve_chunks(st, m)) != 0) {
        return rc;
    }
    for (size_t j = 0; j < m; j++) {
        size_t first = j * SEAL_FILL;
        struct chunk *ch;

        if ((rc = chunk_new(st, &st->chunks[j], &ch)) != 0) {
            for (size_t k = 0; k < j; k++) {
                chunk_drop(st, &st->chunks[k]);
            }
            return rc;
        }
        ch->n = n - first < SEAL_FILL ? n - first : SEAL_FILL;
        memcpy(ch->items, &st->pending[first], ch->n * sizeof(ch->items[0]));
        chunk_reprefix(ch, 0);
        leaf_set(st, j, ch);
    }
    st->nchunks = m;
    free(st->pending);
    st->pending = NULL;
    st->pending_cap = 0;
    st->sealed = true;
    fw_rebuild(st, 0);
    return 0;
}

int
px_negentropy_storage_get(const struct px_negentropy_storage *st, size_t index, uint64_t *timestamp,
                          uint8_t *id)
{
    struct cursor c;
    const struct item *it;

    if (!st->sealed || index >= st->size) {
        return PX_EINVAL;
    }
    if (failure(st) != 0) {
        return failure(st);
    }
    c = locate(st, index, NULL);
    it = cursor_item(st, &c);
    *timestamp = it->ts;
    memcpy(id, it->id, ID_SIZE);
    return failure(st);
}

int
px_negentropy_storage_lower_bound(const struct px_negentropy_storage *st, uint64_t timestamp,
                                  const uint8_t *prefix, size_t prefix_len, size_t *pos)
{
    uint8_t id[ID_SIZE] = {0};

    if (!st->sealed || prefix_len > ID_SIZE) {
        return PX_EINVAL;
    }
    if (failure(st) != 0) {
        return failure(st);
    }
    if (prefix_len > 0) {
        memcpy(id, prefix, prefix_len);
    }
    *pos = lower_bound(st, timestamp, id);
    return failure(st);
}

static void
range_fingerprint(const struct px_negentropy_storage *st, size_t begin, size_t end,
                  uint8_t fp[FP_SIZE])
{
    struct acc a, b;

    prefix_sum(st, end, &b);
    prefix_sum(st, begin, &a);
    acc_sub(&b, &a);
    fingerprint_of(&b, end - begin, fp);
}

int
px_negentropy_storage_fingerprint(const struct px_negentropy_storage *st, size_t begin, size_t end,
                                  uint8_t fp[PX_NEGENTROPY_FINGERPRINT_SIZE])
{
    if (!st->sealed || begin > end || end > st->size) {
        return PX_EINVAL;
    }
    if (failure(st) != 0) {
        return failure(st);
    }
    range_fingerprint(st, begin, end, fp);
    return failure(st);
}

/* ---- Reconciliation ---- */

enum role { ROLE_NONE, ROLE_CLIENT, ROLE_SERVER };

struct px_negentropy {
    const struct px_negentropy_storage *st;
    size_t frame_limit;
    enum role role;
    const char *reason;
};

/* An upper bound: a timestamp and an id prefix of len bytes, zero-padded to 32. */
struct bound {
    uint64_t ts;
    uint8_t id[ID_SIZE];
    size_t len;
};

/* A growing output buffer whose allocation failure is sticky: writers do not check each
 * call, and the message loop checks oom once per range. */
struct obuf {
    uint8_t *p;
    size_t len, cap;
    bool oom;
};

/* Everything one message needs. */
struct run {
    struct px_negentropy *ne;
    const struct px_negentropy_storage *st;
    uint64_t last_out;  /* timestamp delta base of the message being written */
    struct obuf out;    /* the whole reply */
    struct obuf o;      /* the reply to the range being processed */
    struct obuf ids;    /* the ids of a server IdList being assembled */
    struct obuf have;   /* client: ids only we have */
    struct obuf need;   /* client: ids only they have */
    const uint8_t **tp; /* client: their ids, sorted (scratch) */
    uint8_t *tstate;    /* client: per sorted id, THEIR_* */
    size_t t_cap;
};

enum { THEIR_UNSEEN, THEIR_BOTH, THEIR_REPORTED };

static void
ob_put(struct obuf *b, const void *src, size_t n)
{
    if (b->oom || n == 0) {
        return;
    }
    if (n > b->cap - b->len) {
        size_t cap = b->cap < 256 ? 256 : b->cap;
        uint8_t *p;

        while (cap - b->len < n) {
            if (cap > SIZE_MAX / 2) {
                b->oom = true;
                return;
            }
            cap *= 2;
        }
        if ((p = realloc(b->p, cap)) == NULL) {
            b->oom = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, src, n);
    b->len += n;
}

static void
ob_varint(struct obuf *b, uint64_t v)
{
    uint8_t tmp[10];

    ob_put(b, tmp, px_negentropy_varint_encode(v, tmp));
}

static void
ob_free(struct obuf *b)
{
    free(b->p);
    memset(b, 0, sizeof(*b));
}

static bool
bound_less(const struct bound *a, const struct bound *b)
{
    if (a->ts != b->ts) {
        return a->ts < b->ts;
    }
    return memcmp(a->id, b->id, ID_SIZE) < 0;
}

static void
bound_infinity(struct bound *b)
{
    memset(b, 0, sizeof(*b));
    b->ts = TS_INFINITY;
}

static void
bound_of_item(struct bound *b, const struct item *it)
{
    b->ts = it->ts;
    memcpy(b->id, it->id, ID_SIZE);
    b->len = ID_SIZE;
}

/* The shortest bound above prev and not above curr (prev < curr). */
static void
bound_minimal(struct bound *b, const struct item *prev, const struct item *curr)
{
    memset(b, 0, sizeof(*b));
    b->ts = curr->ts;
    if (curr->ts != prev->ts) {
        return;
    }
    while (b->len < ID_SIZE && curr->id[b->len] == prev->id[b->len]) {
        b->len++;
    }
    /* Items are unique, so the ids differ somewhere and len stays below 32 here; but a
     * storage whose pager failed hands out zeroed stand-ins, equal to each other, and
     * whatever it computes is thrown away. */
    b->len = b->len < ID_SIZE ? b->len + 1 : ID_SIZE;
    memcpy(b->id, curr->id, b->len);
}

/* Timestamps: 0 is infinity, anything else 1 + the difference with the previous one. */
static void
encode_bound(struct run *r, struct obuf *b, const struct bound *bd)
{
    if (bd->ts == TS_INFINITY) {
        r->last_out = TS_INFINITY;
        ob_varint(b, 0);
    } else {
        uint64_t delta = bd->ts - r->last_out;

        r->last_out = bd->ts;
        ob_varint(b, delta + 1);
    }
    ob_varint(b, bd->len);
    ob_put(b, bd->id, bd->len);
}

static bool
exceeded(const struct run *r, size_t n)
{
    return r->ne->frame_limit != 0 && n > r->ne->frame_limit - FRAME_SLACK;
}

static int
fail(struct run *r, int rc, const char *reason)
{
    r->ne->reason = reason;
    return rc;
}

/* Reads a varint from the message; sets the reason on failure. */
static int
get_varint(struct run *r, struct px_rbuf *in, uint64_t *v)
{
    size_t used = 0;
    int rc = px_negentropy_varint_decode(in->p + in->off, px_rbuf_left(in), v, &used);

    switch (rc) {
    case 0:
        in->off += used;
        return 0;
    case PX_ETRUNC:
        return fail(r, rc, "parse ends prematurely (inside a varint)");
    case PX_ENONCANON:
        return fail(r, rc, "varint not in its shortest form");
    default:
        return fail(r, rc, "varint larger than 64 bits");
    }
}

static int
decode_bound(struct run *r, struct px_rbuf *in, uint64_t *last_in, struct bound *b)
{
    const uint8_t *prefix;
    uint64_t v, len;
    int rc;

    if ((rc = get_varint(r, in, &v)) != 0) {
        return rc;
    }
    if (v == 0) {
        b->ts = TS_INFINITY;
    } else {
        /* The reference saturates at infinity; no honest encoder gets there, so refuse. */
        if (v - 1 > TS_INFINITY - *last_in) {
            return fail(r, PX_EPROTO, "bound timestamp past infinity");
        }
        b->ts = *last_in + (v - 1);
    }
    *last_in = b->ts;
    if ((rc = get_varint(r, in, &len)) != 0) {
        return rc;
    }
    if (len > ID_SIZE) {
        return fail(r, PX_EPROTO, "bound id prefix longer than 32 bytes");
    }
    if (px_rbuf_take(in, (size_t)len, &prefix) != 0) {
        return fail(r, PX_ETRUNC, "parse ends prematurely (inside a bound)");
    }
    memset(b->id, 0, sizeof(b->id));
    if (len > 0) {
        memcpy(b->id, prefix, (size_t)len);
    }
    b->len = (size_t)len;
    return 0;
}

/* The reference's splitRange: items [lower, upper) as one IdList when fewer than 32,
 * else as 16 fingerprinted buckets of near-equal size, the larger ones first. */
static void
split_range(struct run *r, struct obuf *o, size_t lower, size_t upper, const struct bound *ub)
{
    const struct px_negentropy_storage *st = r->st;
    size_t n = upper - lower;

    if (n < 2 * BUCKETS) {
        struct cursor c = locate(st, lower, NULL);

        encode_bound(r, o, ub);
        ob_varint(o, MODE_IDLIST);
        ob_varint(o, n);
        for (size_t i = 0; i < n; i++) {
            ob_put(o, cursor_item(st, &c)->id, ID_SIZE);
            cursor_next(st, &c);
        }
    } else {
        size_t per = n / BUCKETS, extra = n % BUCKETS, curr = lower;
        struct acc lo_sum, hi_sum;

        prefix_sum(st, lower, &lo_sum);
        for (size_t i = 0; i < BUCKETS; i++) {
            size_t sz = per + (i < extra ? 1 : 0);
            uint8_t fp[FP_SIZE];
            struct bound nb;
            struct acc diff;

            prefix_sum(st, curr + sz, &hi_sum);
            diff = hi_sum;
            acc_sub(&diff, &lo_sum);
            fingerprint_of(&diff, sz, fp);
            lo_sum = hi_sum;
            curr += sz;
            if (curr == upper) {
                nb = *ub;
            } else {
                struct cursor c = locate(st, curr - 1, NULL);
                struct item prev = *cursor_item(st, &c);

                cursor_next(st, &c);
                bound_minimal(&nb, &prev, cursor_item(st, &c));
            }
            encode_bound(r, o, &nb);
            ob_varint(o, MODE_FINGERPRINT);
            ob_put(o, fp, FP_SIZE);
        }
    }
}

static int
cmp_id_ptr(const void *a, const void *b)
{
    const uint8_t *const *x = a;
    const uint8_t *const *y = b;

    return memcmp(*x, *y, ID_SIZE);
}

/* Index of id in the sorted, de-duplicated tp[0..n), or n when absent. */
static size_t
find_their(const uint8_t *const *tp, size_t n, const uint8_t *id)
{
    size_t lo = 0, hi = n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = memcmp(tp[mid], id, ID_SIZE);

        if (c == 0) {
            return mid;
        }
        if (c < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return n;
}

/*
 * Client side of an IdList: their ids theirs[0..k) against our items [lower, upper).
 * Ours they lack go to have (in our order), theirs we lack to need (in their order, each
 * once), as the JavaScript reference reports them.
 */
static int
client_idlist(struct run *r, const uint8_t *theirs, size_t k, size_t lower, size_t upper)
{
    const struct px_negentropy_storage *st = r->st;
    struct cursor c;
    size_t u = 0;

    if (k > r->t_cap) {
        /* k <= PX_NEGENTROPY_MAX_IDLIST and <= the bytes left / 32: both are checked. */
        const uint8_t **tp = realloc(r->tp, k * sizeof(*tp));
        uint8_t *ts;

        if (tp == NULL) {
            return fail(r, PX_ENOMEM, "out of memory");
        }
        r->tp = tp;
        if ((ts = realloc(r->tstate, k)) == NULL) {
            return fail(r, PX_ENOMEM, "out of memory");
        }
        r->tstate = ts;
        r->t_cap = k;
    }
    for (size_t i = 0; i < k; i++) {
        r->tp[i] = theirs + i * ID_SIZE;
    }
    if (k > 1) {
        qsort(r->tp, k, sizeof(r->tp[0]), cmp_id_ptr);
    }
    for (size_t i = 0; i < k; i++) {
        if (u == 0 || memcmp(r->tp[u - 1], r->tp[i], ID_SIZE) != 0) {
            r->tp[u++] = r->tp[i];
        }
    }
    if (u > 0) {
        memset(r->tstate, THEIR_UNSEEN, u);
    }

    c = locate(st, lower, NULL);
    for (size_t i = lower; i < upper; i++) {
        const uint8_t *id = cursor_item(st, &c)->id;
        size_t at = find_their(r->tp, u, id);

        if (at == u) {
            ob_put(&r->have, id, ID_SIZE);
        } else {
            r->tstate[at] = THEIR_BOTH;
        }
        cursor_next(st, &c);
    }
    for (size_t i = 0; i < k; i++) {
        const uint8_t *id = theirs + i * ID_SIZE;
        size_t at = find_their(r->tp, u, id);

        if (r->tstate[at] == THEIR_UNSEEN) {
            ob_put(&r->need, id, ID_SIZE);
            r->tstate[at] = THEIR_REPORTED;
        }
    }
    return 0;
}

/* Server side of an IdList: all our ids in [lower, *upper), cut at the frame limit. */
static void
server_idlist(struct run *r, size_t lower, size_t *upper, const struct bound *cur)
{
    const struct px_negentropy_storage *st = r->st;
    struct bound end = *cur;
    struct cursor c = locate(st, lower, NULL);
    size_t count = 0;

    r->ids.len = 0;
    for (size_t i = lower; i < *upper; i++) {
        const struct item *it = cursor_item(st, &c);

        if (exceeded(r, r->out.len + r->ids.len)) {
            /* The rest goes in the catch-all fingerprint that follows. */
            bound_of_item(&end, it);
            *upper = i;
            break;
        }
        ob_put(&r->ids, it->id, ID_SIZE);
        count++;
        cursor_next(st, &c);
    }
    encode_bound(r, &r->o, &end);
    ob_varint(&r->o, MODE_IDLIST);
    ob_varint(&r->o, count);
    ob_put(&r->o, r->ids.p, r->ids.len);
    ob_put(&r->out, r->o.p, r->o.len);
    r->o.len = 0;
}

/* One message in, r->out (and for a client have/need) out: the reference's reconcileAux. */
static int
run_message(struct run *r, const uint8_t *msg, size_t len, bool client)
{
    const struct px_negentropy_storage *st = r->st;
    size_t size = st->size, prev_index = 0, nranges = 0;
    struct bound prev;
    struct px_rbuf in;
    uint64_t last_in = 0;
    bool skip = false;
    uint8_t ver, v = PX_NEGENTROPY_VERSION;
    int rc;

    ob_put(&r->out, &v, 1);
    px_rbuf_init(&in, msg, len);
    if (px_rbuf_u8(&in, &ver) != 0) {
        return fail(r, PX_ETRUNC, "parse ends prematurely (no version byte)");
    }
    if (ver < 0x60 || ver > 0x6f) {
        return fail(r, PX_EPROTO, "invalid negentropy protocol version byte");
    }
    if (ver != PX_NEGENTROPY_VERSION) {
        if (client) {
            return fail(r, PX_EVERSION, "unsupported negentropy protocol version requested");
        }
        /* The server answers with the version it speaks, and nothing else. */
        return r->out.oom ? fail(r, PX_ENOMEM, "out of memory") : 0;
    }

    memset(&prev, 0, sizeof(prev));
    while (px_rbuf_left(&in) > 0) {
        struct bound cur;
        uint64_t mode;
        size_t lower, upper;

        if (++nranges > PX_NEGENTROPY_MAX_RANGES) {
            return fail(r, PX_ETOOBIG, "too many ranges in one message");
        }
        r->o.len = 0;
        if ((rc = decode_bound(r, &in, &last_in, &cur)) != 0) {
            return rc;
        }
        if (bound_less(&cur, &prev)) {
            return fail(r, PX_EPROTO, "range bounds out of order");
        }
        if ((rc = get_varint(r, &in, &mode)) != 0) {
            return rc;
        }
        lower = prev_index;
        upper = lower_bound(st, cur.ts, cur.id);
        upper = upper < lower ? lower : upper;

        if (mode == MODE_SKIP) {
            skip = true;
        } else if (mode == MODE_FINGERPRINT) {
            const uint8_t *theirs;
            uint8_t ours[FP_SIZE];

            if (px_rbuf_take(&in, FP_SIZE, &theirs) != 0) {
                return fail(r, PX_ETRUNC, "parse ends prematurely (inside a fingerprint)");
            }
            range_fingerprint(st, lower, upper, ours);
            if (memcmp(theirs, ours, FP_SIZE) != 0) {
                if (skip) {
                    skip = false;
                    encode_bound(r, &r->o, &prev);
                    ob_varint(&r->o, MODE_SKIP);
                }
                split_range(r, &r->o, lower, upper, &cur);
            } else {
                skip = true;
            }
        } else if (mode == MODE_IDLIST) {
            const uint8_t *theirs;
            uint64_t k;

            if ((rc = get_varint(r, &in, &k)) != 0) {
                return rc;
            }
            if (k > PX_NEGENTROPY_MAX_IDLIST) {
                return fail(r, PX_ETOOBIG, "too many ids in one IdList");
            }
            if (k > px_rbuf_left(&in) / ID_SIZE) {
                return fail(r, PX_ECOUNT, "IdList count larger than the bytes left");
            }
            (void)px_rbuf_take(&in, (size_t)k * ID_SIZE, &theirs);
            if (client) {
                skip = true;
                if ((rc = client_idlist(r, theirs, (size_t)k, lower, upper)) != 0) {
                    return rc;
                }
            } else {
                if (skip) {
                    skip = false;
                    encode_bound(r, &r->o, &prev);
                    ob_varint(&r->o, MODE_SKIP);
                }
                server_idlist(r, lower, &upper, &cur);
            }
        } else {
            return fail(r, PX_EPROTO, "unexpected mode");
        }

        if (exceeded(r, r->out.len + r->o.len)) {
            /* Stop, and cover the rest with one fingerprint up to infinity. Like the
             * reference, it covers our items from the end of the range just processed
             * (upper), not from the last bound written: see docs/negentropy.md. */
            struct bound inf;
            uint8_t fp[FP_SIZE];

            range_fingerprint(st, upper, size, fp);
            bound_infinity(&inf);
            encode_bound(r, &r->out, &inf);
            ob_varint(&r->out, MODE_FINGERPRINT);
            ob_put(&r->out, fp, FP_SIZE);
            break;
        }
        ob_put(&r->out, r->o.p, r->o.len);
        if (r->out.oom || r->o.oom || r->ids.oom || r->have.oom || r->need.oom) {
            return fail(r, PX_ENOMEM, "out of memory");
        }
        prev_index = upper;
        prev = cur;
    }
    if (r->out.oom || r->o.oom || r->ids.oom || r->have.oom || r->need.oom) {
        return fail(r, PX_ENOMEM, "out of memory");
    }
    return 0;
}

static void
run_init(struct run *r, struct px_negentropy *ne)
{
    memset(r, 0, sizeof(*r));
    r->ne = ne;
    r->st = ne->st;
    ne->reason = "";
}

static void
run_fini(struct run *r)
{
    ob_free(&r->out);
    ob_free(&r->o);
    ob_free(&r->ids);
    ob_free(&r->have);
    ob_free(&r->need);
    free(r->tp);
    free(r->tstate);
}

/* run_message over a storage whose pager has not failed, before or during the message. */
static int
run_checked(struct run *r, const uint8_t *msg, size_t len, bool client)
{
    int rc;

    if (failure(r->st) != 0) {
        return fail(r, failure(r->st), REASON_PAGER);
    }
    rc = run_message(r, msg, len, client);
    if (failure(r->st) != 0) {
        return fail(r, failure(r->st), REASON_PAGER);
    }
    return rc;
}

int
px_negentropy_new(const struct px_negentropy_storage *st, size_t frame_size_limit,
                  struct px_negentropy **out)
{
    struct px_negentropy *ne;

    *out = NULL;
    if (!st->sealed || (frame_size_limit != 0 && frame_size_limit < PX_NEGENTROPY_MIN_FRAME)) {
        return PX_EINVAL;
    }
    if ((ne = calloc(1, sizeof(*ne))) == NULL) {
        return PX_ENOMEM;
    }
    ne->st = st;
    ne->frame_limit = frame_size_limit;
    ne->role = ROLE_NONE;
    ne->reason = "";
    *out = ne;
    return 0;
}

void
px_negentropy_free(struct px_negentropy *ne)
{
    free(ne);
}

const char *
px_negentropy_reason(const struct px_negentropy *ne)
{
    return ne->reason;
}

int
px_negentropy_initiate(struct px_negentropy *ne, uint8_t **msg, size_t *msg_len)
{
    struct run r;
    struct bound inf;
    uint8_t v = PX_NEGENTROPY_VERSION;

    *msg = NULL;
    *msg_len = 0;
    if (ne->role != ROLE_NONE) {
        ne->reason = "already initiated, or acting as a server";
        return PX_EINVAL;
    }
    if (failure(ne->st) != 0) {
        ne->reason = REASON_PAGER;
        return failure(ne->st);
    }
    run_init(&r, ne);
    bound_infinity(&inf);
    ob_put(&r.out, &v, 1);
    split_range(&r, &r.out, 0, ne->st->size, &inf);
    if (r.out.oom || failure(ne->st) != 0) {
        run_fini(&r);
        ne->reason = r.out.oom ? "out of memory" : REASON_PAGER;
        return r.out.oom ? PX_ENOMEM : failure(ne->st);
    }
    ne->role = ROLE_CLIENT;
    *msg = r.out.p;
    *msg_len = r.out.len;
    r.out.p = NULL;
    run_fini(&r);
    return 0;
}

void
px_negentropy_result_fini(struct px_negentropy_result *res)
{
    free(res->msg);
    free(res->have);
    free(res->need);
    memset(res, 0, sizeof(*res));
}

int
px_negentropy_reconcile(struct px_negentropy *ne, const uint8_t *msg, size_t len,
                        struct px_negentropy_result *res)
{
    struct run r;
    int rc;

    memset(res, 0, sizeof(*res));
    if (ne->role != ROLE_CLIENT) {
        ne->reason = "not initiated as a client";
        return PX_EINVAL;
    }
    run_init(&r, ne);
    if ((rc = run_checked(&r, msg, len, true)) != 0) {
        run_fini(&r);
        return rc;
    }
    /* Nothing but the version byte to say: reconciliation is complete. */
    if (r.out.len > 1) {
        res->msg = r.out.p;
        res->msg_len = r.out.len;
        r.out.p = NULL;
    }
    res->have = r.have.p;
    res->have_n = r.have.len / ID_SIZE;
    r.have.p = NULL;
    res->need = r.need.p;
    res->need_n = r.need.len / ID_SIZE;
    r.need.p = NULL;
    run_fini(&r);
    return 0;
}

int
px_negentropy_respond(struct px_negentropy *ne, const uint8_t *msg, size_t len, uint8_t **reply,
                      size_t *reply_len)
{
    struct run r;
    int rc;

    *reply = NULL;
    *reply_len = 0;
    if (ne->role == ROLE_CLIENT) {
        ne->reason = "acting as a client";
        return PX_EINVAL;
    }
    run_init(&r, ne);
    if ((rc = run_checked(&r, msg, len, false)) != 0) {
        run_fini(&r);
        return rc;
    }
    ne->role = ROLE_SERVER;
    *reply = r.out.p;
    *reply_len = r.out.len;
    r.out.p = NULL;
    run_fini(&r);
    return 0;
}
