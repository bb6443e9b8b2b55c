/* SPDX-License-Identifier: MIT */
/*
 * mp.h - bounded msgpack: a validating walker and strict, shortest-form cursor codecs.
 *
 * msgpack-c's unpacker allocates `count * sizeof(msgpack_object)` for a container from
 * its header alone, so a 5-byte header can ask for gigabytes. Every untrusted buffer
 * therefore passes px_mp_check() first: it walks one object without allocating, checks
 * that every container count and every string length fits in the bytes that are left,
 * caps nesting depth, sizes and counts, and optionally enforces the canonical profile
 * (shortest forms, no floats, no ext, valid UTF-8, string map keys sorted and unique).
 * Only a buffer it accepted may go to msgpack-c, or to the cursor readers below.
 *
 * The readers and writers below speak the canonical profile only: a reader rejects a
 * value that is not in its shortest form (PX_ENONCANON) and a writer always produces it.
 */
#ifndef PX_MP_H
#define PX_MP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* Hard ceiling on px_mp_limits.max_depth; the walker's stack is this deep. */
#define PX_MP_MAX_DEPTH 32

enum px_mp_flags {
    PX_MP_CANONICAL = 1u << 0, /* shortest int and length forms; non-negative ints unsigned */
    PX_MP_NO_FLOAT = 1u << 1,  /* float32/float64 are PX_EFLOAT */
    PX_MP_NO_EXT = 1u << 2,    /* fixext/ext are PX_EEXT */
    PX_MP_UTF8 = 1u << 3,      /* every str must be valid UTF-8 (PX_EUTF8) */
    PX_MP_STRKEYS = 1u << 4,   /* map keys are str, sorted bytewise, unique */
    PX_MP_STRICT = 0x1f,       /* all of the above: the praxis profile */
};

struct px_mp_limits {
    unsigned max_depth; /* containers may nest this deep (1 = one level); <= PX_MP_MAX_DEPTH */
    size_t max_size;    /* the object may span at most this many bytes */
    uint32_t max_str;   /* longest str or bin payload */
    uint32_t max_count; /* largest array or map count */
    unsigned flags;     /* enum px_mp_flags */
};

/*
 * Walks the one msgpack object at the start of p[0..len) and sets *used to its size in
 * bytes. Bytes after the object are not looked at (see px_mp_check_exact).
 * Returns 0, or: PX_ETRUNC (the object runs past len), PX_ETOOBIG (it runs past
 * lim->max_size, or a length or count is over its cap), PX_ECOUNT (a container count
 * larger than the bytes left), PX_EDEPTH, PX_ENONCANON, PX_EFLOAT, PX_EEXT, PX_EUTF8,
 * PX_ETYPE (a non-str map key or the reserved byte 0xc1), PX_EKEYORDER, PX_EDUPKEY.
 */
int px_mp_check(const uint8_t *p, size_t len, const struct px_mp_limits *lim, size_t *used);

/* As px_mp_check, and then PX_ETRAILING unless the object fills p[0..len) exactly. */
int px_mp_check_exact(const uint8_t *p, size_t len, const struct px_mp_limits *lim);

/* True when p[0..len) is well-formed UTF-8: no overlongs, surrogates or values > U+10FFFF. */
bool px_utf8_valid(const uint8_t *p, size_t len);

/* Strict readers. Each returns 0, PX_ETRUNC, PX_ETYPE or PX_ENONCANON; on error the
 * cursor position is unspecified. String and bin results borrow the reader's memory. */
int px_mp_read_array(struct px_rbuf *r, uint32_t *count);
int px_mp_read_map(struct px_rbuf *r, uint32_t *count);
int px_mp_read_uint(struct px_rbuf *r, uint64_t *v);
int px_mp_read_str(struct px_rbuf *r, const char **s, uint32_t *len);
int px_mp_read_bin(struct px_rbuf *r, const uint8_t **b, uint32_t *len);
int px_mp_read_bool(struct px_rbuf *r, bool *v);
/* Reads a bin of exactly n bytes into out: PX_EVALUE when its length differs. */
int px_mp_read_bin_exact(struct px_rbuf *r, uint8_t *out, uint32_t n);

/* Shortest-form writers. Each returns 0 or PX_ETOOBIG (the output is full). */
int px_mp_write_array(struct px_wbuf *w, uint32_t count);
int px_mp_write_map(struct px_wbuf *w, uint32_t count);
int px_mp_write_uint(struct px_wbuf *w, uint64_t v);
int px_mp_write_str(struct px_wbuf *w, const char *s, size_t len);
int px_mp_write_bin(struct px_wbuf *w, const uint8_t *b, size_t len);
int px_mp_write_bool(struct px_wbuf *w, bool v);
int px_mp_write_nil(struct px_wbuf *w);

#endif
