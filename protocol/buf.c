/* SPDX-License-Identifier: MIT */
/* buf.c - bounded read and write cursors; see buf.h. */
#include "buf.h"

#include <string.h>

#include "err.h"

void
px_rbuf_init(struct px_rbuf *r, const void *p, size_t len)
{
    r->p = p;
    r->len = len;
    r->off = 0;
}

size_t
px_rbuf_left(const struct px_rbuf *r)
{
    return r->len - r->off;
}

int
px_rbuf_take(struct px_rbuf *r, size_t n, const uint8_t **out)
{
    if (n > r->len - r->off) {
        return PX_ETRUNC;
    }
    *out = r->p + r->off;
    r->off += n;
    return 0;
}

int
px_rbuf_copy(struct px_rbuf *r, void *dst, size_t n)
{
    const uint8_t *src;
    int rc = px_rbuf_take(r, n, &src);

    if (rc == 0 && n > 0) {
        memcpy(dst, src, n);
    }
    return rc;
}

int
px_rbuf_u8(struct px_rbuf *r, uint8_t *v)
{
    if (r->off >= r->len) {
        return PX_ETRUNC;
    }
    *v = r->p[r->off++];
    return 0;
}

int
px_rbuf_be16(struct px_rbuf *r, uint16_t *v)
{
    const uint8_t *p;

    if (px_rbuf_take(r, 2, &p) != 0) {
        return PX_ETRUNC;
    }
    *v = (uint16_t)((unsigned)p[0] << 8 | p[1]);
    return 0;
}

int
px_rbuf_be32(struct px_rbuf *r, uint32_t *v)
{
    const uint8_t *p;

    if (px_rbuf_take(r, 4, &p) != 0) {
        return PX_ETRUNC;
    }
    *v = px_load_be32(p);
    return 0;
}

int
px_rbuf_be64(struct px_rbuf *r, uint64_t *v)
{
    const uint8_t *p;

    if (px_rbuf_take(r, 8, &p) != 0) {
        return PX_ETRUNC;
    }
    *v = (uint64_t)px_load_be32(p) << 32 | px_load_be32(p + 4);
    return 0;
}

int
px_rbuf_end(const struct px_rbuf *r)
{
    return r->off == r->len ? 0 : PX_ETRAILING;
}

void
px_wbuf_init(struct px_wbuf *w, void *p, size_t cap)
{
    w->p = p;
    w->expect = NULL;
    w->cap = cap;
    w->len = 0;
}

void
px_wbuf_init_compare(struct px_wbuf *w, const void *expect, size_t len)
{
    w->p = NULL;
    w->expect = expect;
    w->cap = len;
    w->len = 0;
}

int
px_wbuf_put(struct px_wbuf *w, const void *src, size_t n)
{
    if (n > w->cap - w->len) {
        return PX_ETOOBIG;
    }
    if (n > 0) {
        if (w->expect != NULL) {
            if (memcmp(w->expect + w->len, src, n) != 0) {
                return PX_ENONCANON;
            }
        } else {
            memcpy(w->p + w->len, src, n);
        }
    }
    w->len += n;
    return 0;
}

int
px_wbuf_u8(struct px_wbuf *w, uint8_t v)
{
    return px_wbuf_put(w, &v, 1);
}

int
px_wbuf_be16(struct px_wbuf *w, uint16_t v)
{
    uint8_t b[2] = {(uint8_t)(v >> 8), (uint8_t)v};

    return px_wbuf_put(w, b, sizeof(b));
}

int
px_wbuf_be32(struct px_wbuf *w, uint32_t v)
{
    uint8_t b[4];

    px_store_be32(b, v);
    return px_wbuf_put(w, b, sizeof(b));
}

int
px_wbuf_be64(struct px_wbuf *w, uint64_t v)
{
    uint8_t b[8];

    px_store_be32(b, (uint32_t)(v >> 32));
    px_store_be32(b + 4, (uint32_t)v);
    return px_wbuf_put(w, b, sizeof(b));
}

uint32_t
px_load_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

void
px_store_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

void
px_hex_encode(const uint8_t *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";

    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 0xf];
    }
    out[2 * n] = '\0';
}

static int
hex_nibble(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

int
px_hex_decode(const char *s, size_t slen, uint8_t *out, size_t n)
{
    if (slen / 2 != n || slen % 2 != 0) {
        return PX_EINVAL;
    }
    for (size_t i = 0; i < n; i++) {
        int hi = hex_nibble(s[2 * i]);
        int lo = hex_nibble(s[2 * i + 1]);

        if (hi < 0 || lo < 0) {
            return PX_EINVAL;
        }
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}
