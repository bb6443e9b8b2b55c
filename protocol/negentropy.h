/* SPDX-License-Identifier: MIT */
/*
 * negentropy.h - range-based set reconciliation, negentropy protocol v1 (version byte 0x61).
 *
 * Two parts:
 *
 *   - struct px_negentropy_storage, the reconciliation index: the sorted set of items
 *     (timestamp, 32-byte id) that one side holds, with insert and erase that keep it
 *     sorted, the position of a bound, and range fingerprints in O(log n). The daemon builds
 *     it from the store at start (insert everything, then seal: one sort) and keeps it
 *     current as records arrive (insert and erase after sealing are incremental).
 *
 *   - struct px_negentropy, one reconciliation over a sealed storage, in the client role
 *     (initiate, then reconcile each reply: have ids, need ids, next message or done) or the
 *     server role (respond to each client message with one reply).
 *
 * Every message this module writes is byte-for-byte the message the reference
 * implementation (hoytech/negentropy) writes in the same state, frame-size limits and the
 * reference's catch-all fingerprint included; docs/negentropy.md has the byte layout and
 * the limits. Every message a peer sends is parsed strictly: varints must be minimal and fit
 * in 64 bits, bounds must not decrease, every count and length is checked against the bytes
 * left before anything is allocated, and IdLists and ranges are capped.
 *
 * Pure: no I/O, clock, randomness or globals; a storage can be given a pager (below), which
 * does its I/O. Allocation is malloc; every failure is PX_ENOMEM and leaves the object as
 * it was before the call (a pager's failure is sticky instead). Objects are not thread-safe;
 * a storage may be read by several reconcilers one call at a time, and must not change
 * during a call (it may change between calls: reconcilers keep no positions across calls).
 */
#ifndef PX_NEGENTROPY_H
#define PX_NEGENTROPY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PX_NEGENTROPY_VERSION          0x61 /* protocol v1 */
#define PX_NEGENTROPY_ID_SIZE          32
#define PX_NEGENTROPY_FINGERPRINT_SIZE 16
/* A timestamp the protocol reserves for "infinity"; no item may carry it. */
#define PX_NEGENTROPY_TS_INFINITY UINT64_MAX
/* The smallest frame size limit the reference accepts (0 means no limit). */
#define PX_NEGENTROPY_MIN_FRAME 4096
/* Caps on what one incoming message may hold (PX_ETOOBIG beyond them). A 1 MiB message
 * holds at most 32768 ids and, in any message the reference writes, fewer ranges than
 * this: see docs/negentropy.md. */
#define PX_NEGENTROPY_MAX_IDLIST 65536u  /* ids in one IdList */
#define PX_NEGENTROPY_MAX_RANGES 262144u /* ranges in one message */

/* ---- The index ---- */

struct px_negentropy_storage;

/* Makes an empty, unsealed storage. 0 or PX_ENOMEM; the caller frees *out with
 * px_negentropy_storage_free. */
int px_negentropy_storage_new(struct px_negentropy_storage **out);

/* Frees a storage and everything in it. NULL is a no-op. Free the reconcilers that borrow
 * it first. */
void px_negentropy_storage_free(struct px_negentropy_storage *st);

/*
 * Adds an item. Before sealing this appends in O(1) amortised (duplicates are found by
 * px_negentropy_storage_seal); after sealing it is a sorted insert in O(log n) plus a copy
 * of at most one 128-item chunk, and, when that chunk is full, a split that rebuilds part
 * of the index summary (at most O(n / 128); O(log n) when appending past the newest item),
 * which a chunk needs at most once in 16 changes. PX_EEXIST when the item is already there
 * (sealed), PX_EINVAL when timestamp is PX_NEGENTROPY_TS_INFINITY, PX_ENOMEM (nothing
 * changed). id is PX_NEGENTROPY_ID_SIZE bytes, copied. To load many items at once (10% of
 * the set or more), a fresh storage sealed once is faster.
 */
int px_negentropy_storage_insert(struct px_negentropy_storage *st, uint64_t timestamp,
                                 const uint8_t *id);

/* Removes an item from a sealed storage, same cost as an insert. PX_ENOTFOUND when it is
 * not there, PX_EINVAL before sealing. */
int px_negentropy_storage_erase(struct px_negentropy_storage *st, uint64_t timestamp,
                                const uint8_t *id);

/* Sorts the items inserted so far and builds the index: O(n log n). PX_EEXIST when an item
 * was inserted twice, PX_EINVAL when already sealed, PX_ENOMEM; on failure the storage
 * stays unsealed with its items. */
int px_negentropy_storage_seal(struct px_negentropy_storage *st);

bool px_negentropy_storage_sealed(const struct px_negentropy_storage *st);

/* The number of items (sealed or not). */
size_t px_negentropy_storage_size(const struct px_negentropy_storage *st);

/* Bytes the storage has allocated (malloc's own overhead excluded): with a pager, its
 * summary and its cache, not the pages the pager holds. */
size_t px_negentropy_storage_memory(const struct px_negentropy_storage *st);

/* The item at position index (0 = oldest) of a sealed storage, O(log n). PX_EINVAL when
 * unsealed or index >= size. id receives PX_NEGENTROPY_ID_SIZE bytes. */
int px_negentropy_storage_get(const struct px_negentropy_storage *st, size_t index,
                              uint64_t *timestamp, uint8_t *id);

/*
 * The position of the first item that is not below the bound (timestamp, prefix), where
 * prefix (prefix_len <= 32 bytes, zero-padded) orders against ids bytewise: the number of
 * items below the bound. O(log n). PX_EINVAL when unsealed or prefix_len > 32.
 */
int px_negentropy_storage_lower_bound(const struct px_negentropy_storage *st, uint64_t timestamp,
                                      const uint8_t *prefix, size_t prefix_len, size_t *pos);

/*
 * The fingerprint of the items at positions [begin, end): the first 16 bytes of
 * sha256(sum of the ids as 256-bit little-endian integers mod 2^256 || varint(end - begin)).
 * O(log n). PX_EINVAL when unsealed or not begin <= end <= size.
 */
int px_negentropy_storage_fingerprint(const struct px_negentropy_storage *st, size_t begin,
                                      size_t end, uint8_t fp[PX_NEGENTROPY_FINGERPRINT_SIZE]);

/* ---- Paging ----
 *
 * By default the whole index is in memory, about 45-50 bytes per item. With a pager it
 * keeps in memory only a summary of each chunk of up to 128 items (136 bytes a chunk, about
 * 1.1-1.2 bytes per item, in arrays that grow by doubling) and a cache of cache_pages chunks; the
 * chunks themselves are pages that the pager stores (the daemon: a file of its own). Every
 * operation above touches O(1) chunks, so it reads or writes at most a few pages. Results are the
 * same with or without a pager.
 *
 * A pager call that fails makes the storage failed for good: that call and every later one
 * returns the pager's error (PX_EIO when it gave none), px_negentropy_storage_failed says
 * so, and the caller rebuilds the index (from where it got the items in the first place).
 * Reads go through the cache, so with a pager even the const functions change the cache
 * and must not run concurrently.
 */

/* The bytes of one page, the same for every page of every storage. */
size_t px_negentropy_page_size(void);

/* The fewest pages a cache may hold. */
#define PX_NEGENTROPY_MIN_CACHE 4

struct px_negentropy_pager {
    /* Stores len (px_negentropy_page_size) bytes as page slot (0, 1, 2, ...; the storage
     * reuses the slots it frees, so slots stay below the most chunks it ever held). 0, or
     * a negative px error. */
    int (*write)(void *ctx, uint64_t slot, const void *buf, size_t len);
    /* Reads back the len bytes last written to page slot. 0, or a negative px error. */
    int (*read)(void *ctx, uint64_t slot, void *buf, size_t len);
    void *ctx;
};

/* Makes st keep its chunks in pages through pager (copied; ctx must outlive st), caching at
 * most cache_pages of them (PX_NEGENTROPY_MIN_CACHE or more). Only on an empty, unsealed
 * storage: PX_EINVAL otherwise, or for a missing callback or a smaller cache; PX_ENOMEM. */
int px_negentropy_storage_set_pager(struct px_negentropy_storage *st,
                                    const struct px_negentropy_pager *pager, size_t cache_pages);

/* Whether a pager call has failed (never true without a pager). */
bool px_negentropy_storage_failed(const struct px_negentropy_storage *st);

/* The pages in use times the page size: the bytes the pager holds (0 without a pager). */
size_t px_negentropy_storage_paged_bytes(const struct px_negentropy_storage *st);

/* ---- Reconciliation ---- */

struct px_negentropy;

/*
 * Makes a reconciler over a sealed storage, which it borrows: the storage must outlive it.
 * frame_size_limit is 0 (no limit) or at least PX_NEGENTROPY_MIN_FRAME: then no message
 * this side writes exceeds it (the reference stops adding ranges at limit - 200 bytes and
 * ends with one fingerprint up to infinity). PX_EINVAL for an unsealed storage or a limit
 * in 1..4095, PX_ENOMEM. The caller frees *out with px_negentropy_free. A reconciler takes
 * its role from its first call: px_negentropy_initiate makes it a client,
 * px_negentropy_respond a server, and calls of the other role then fail with PX_EINVAL.
 */
int px_negentropy_new(const struct px_negentropy_storage *st, size_t frame_size_limit,
                      struct px_negentropy **out);

/* Frees a reconciler (not its storage). NULL is a no-op. */
void px_negentropy_free(struct px_negentropy *ne);

/*
 * Client: the first message. *msg is malloc'd (the caller frees it), *msg_len its length.
 * PX_EINVAL when already initiated or acting as a server, PX_ENOMEM.
 */
int px_negentropy_initiate(struct px_negentropy *ne, uint8_t **msg, size_t *msg_len);

/* What the client learned from one server message. */
struct px_negentropy_result {
    uint8_t *msg; /* the next message to send, malloc'd; NULL when reconciliation is done */
    size_t msg_len;
    uint8_t *have; /* have_n ids of 32 bytes, back to back: ids only this side has */
    size_t have_n;
    uint8_t *need; /* need_n ids: ids only the server has */
    size_t need_n;
};

/*
 * Client: processes a server message msg[0..len) (borrowed for the call). On success the
 * caller owns res's buffers and releases them with px_negentropy_result_fini. have lists
 * our ids in index order, need the server's ids in the order its IdLists named them
 * (duplicates removed within one message), as the JavaScript reference does. With a frame
 * size limit on either side an id can be reported again in a later round; the caller
 * de-duplicates across rounds. On failure res is zeroed and the reconciler can be used
 * again.
 *
 * Errors: PX_EINVAL when not initiated; PX_ETRUNC when the message ends inside a field
 * (the empty message included); PX_EPROTO for a first byte outside 0x60..0x6f, a mode
 * other than 0, 1, 2, an id prefix longer than 32 bytes, a varint over 64 bits, a
 * timestamp past infinity or a bound below the previous one; PX_EVERSION when the server
 * answered with another protocol version (no downgrade exists); PX_ENONCANON for a varint
 * that is not in its shortest form; PX_ECOUNT for an IdList count larger than the bytes
 * left; PX_ETOOBIG past PX_NEGENTROPY_MAX_IDLIST or PX_NEGENTROPY_MAX_RANGES; PX_ENOMEM;
 * the pager's error once the storage's pager has failed (px_negentropy_storage_failed).
 */
int px_negentropy_reconcile(struct px_negentropy *ne, const uint8_t *msg, size_t len,
                            struct px_negentropy_result *res);

/* Frees the buffers of a result and zeroes it. Safe on a zeroed result. */
void px_negentropy_result_fini(struct px_negentropy_result *res);

/*
 * Server: the reply to a client message msg[0..len) (borrowed). *reply is malloc'd (the
 * caller frees it). A message of another protocol version in 0x60..0x6f gets the one-byte
 * reply 0x61, the version we speak, as the reference does, and the client may retry. The
 * reply may be the single byte 0x61 when every range matched. Errors as for
 * px_negentropy_reconcile, without PX_EVERSION; PX_EINVAL when acting as a client.
 */
int px_negentropy_respond(struct px_negentropy *ne, const uint8_t *msg, size_t len, uint8_t **reply,
                          size_t *reply_len);

/* A static English reason for the last failed call of ne ("" when none). */
const char *px_negentropy_reason(const struct px_negentropy *ne);

/* ---- Varints (exposed for tests and tools) ---- */

/* The encoded length of v: 1..10 bytes. */
size_t px_negentropy_varint_len(uint64_t v);

/* Writes the shortest big-endian base-128 form of v into out (at least 10 bytes) and
 * returns its length. */
size_t px_negentropy_varint_encode(uint64_t v, uint8_t *out);

/*
 * Decodes one varint from p[0..len): *v and *used on success. PX_ETRUNC when it runs off
 * the end, PX_ENONCANON when it starts with a 0x80 byte (a leading zero digit), PX_EPROTO
 * when the value does not fit in 64 bits.
 */
int px_negentropy_varint_decode(const uint8_t *p, size_t len, uint64_t *v, size_t *used);

#endif
