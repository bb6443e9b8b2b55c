/* SPDX-License-Identifier: MIT */
/*
 * buf.h - bounded byte cursors.
 *
 * A reader never reads past its end: every read first compares what it needs with what
 * remains (`need > remaining`, never pointer arithmetic past the end) and fails with
 * PX_ETRUNC otherwise, leaving the cursor where it was. A writer writes into memory the
 * caller owns and fails with PX_ETOOBIG when the bytes would not fit, leaving what it had
 * written intact. Neither allocates.
 */
#ifndef PX_BUF_H
#define PX_BUF_H

#include <stddef.h>
#include <stdint.h>

struct px_rbuf {
    const uint8_t *p; /* borrowed; valid as long as the caller keeps it */
    size_t len;
    size_t off;
};

struct px_wbuf {
    uint8_t *p;            /* borrowed output memory; NULL in compare mode */
    const uint8_t *expect; /* compare mode: the bytes the writes must reproduce */
    size_t cap;
    size_t len;
};

void px_rbuf_init(struct px_rbuf *r, const void *p, size_t len);
size_t px_rbuf_left(const struct px_rbuf *r);
/* Reads one byte / a big-endian integer. PX_ETRUNC if too few bytes remain. */
int px_rbuf_u8(struct px_rbuf *r, uint8_t *v);
int px_rbuf_be16(struct px_rbuf *r, uint16_t *v);
int px_rbuf_be32(struct px_rbuf *r, uint32_t *v);
int px_rbuf_be64(struct px_rbuf *r, uint64_t *v);
/* Borrows n bytes: *out points into the reader's memory. PX_ETRUNC if fewer remain. */
int px_rbuf_take(struct px_rbuf *r, size_t n, const uint8_t **out);
/* Copies n bytes into dst. PX_ETRUNC if fewer remain. */
int px_rbuf_copy(struct px_rbuf *r, void *dst, size_t n);
/* PX_ETRAILING unless every byte was consumed (OpenSMTPD m_end). */
int px_rbuf_end(const struct px_rbuf *r);

void px_wbuf_init(struct px_wbuf *w, void *p, size_t cap);
/*
 * Compare mode: instead of storing, every write checks that it reproduces the next bytes
 * of expect[0..len) and fails with PX_ENONCANON where it does not (PX_ETOOBIG past the
 * end). A decoder uses it to re-encode what it decoded without allocating; afterwards
 * w->len == len means the encoding was reproduced in full.
 */
void px_wbuf_init_compare(struct px_wbuf *w, const void *expect, size_t len);
int px_wbuf_u8(struct px_wbuf *w, uint8_t v);
int px_wbuf_be16(struct px_wbuf *w, uint16_t v);
int px_wbuf_be32(struct px_wbuf *w, uint32_t v);
int px_wbuf_be64(struct px_wbuf *w, uint64_t v);
int px_wbuf_put(struct px_wbuf *w, const void *src, size_t n);

/* Big-endian helpers over raw memory the caller has already bounds-checked. */
uint32_t px_load_be32(const uint8_t *p);
void px_store_be32(uint8_t *p, uint32_t v);

/*
 * Lowercase hex. px_hex_encode writes 2*n characters and a NUL into out (capacity
 * 2*n+1). px_hex_decode needs exactly 2*n hex digits (either case) in s[0..slen) and
 * fails with PX_EINVAL otherwise, leaving out unspecified.
 */
void px_hex_encode(const uint8_t *in, size_t n, char *out);
int px_hex_decode(const char *s, size_t slen, uint8_t *out, size_t n);

#endif
