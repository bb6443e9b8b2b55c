/* SPDX-License-Identifier: MIT */
/* mp.c - the bounded msgpack walker and the strict cursor codecs; see mp.h. */
#include "mp.h"

#include <string.h>

#include "err.h"

struct walk_frame {
    uint64_t left; /* items still to come (a map counts keys and values) */
    bool is_map;
    const uint8_t *prev; /* the previous key of this map, when there was one */
    uint32_t prev_len;
};

struct walker {
    const uint8_t *p;
    size_t limit; /* min(len, max_size) */
    bool capped;  /* the limit came from max_size, not from the input's end */
    size_t off;
    const struct px_mp_limits *lim;
};

/* Fails unless n more bytes are there; which error depends on what limited us. */
static int
need(const struct walker *w, uint64_t n)
{
    if (n > w->limit - w->off) {
        return w->capped ? PX_ETOOBIG : PX_ETRUNC;
    }
    return 0;
}

static int
read_be(struct walker *w, unsigned width, uint64_t *v)
{
    int rc = need(w, width);

    if (rc != 0) {
        return rc;
    }
    *v = 0;
    for (unsigned i = 0; i < width; i++) {
        *v = *v << 8 | w->p[w->off++];
    }
    return 0;
}

/* The smallest length a form of this width may carry in canonical form. */
static uint64_t
min_for_width(unsigned width, uint64_t fix_max)
{
    switch (width) {
    case 1:
        return fix_max + 1;
    case 2:
        return 256;
    default:
        return 65536;
    }
}

/*
 * Is a length carried in a `width`-byte field the shortest way to say it? fix_max is
 * the largest value the type's fix form holds (-1: no fix form). ext's 8-bit form must
 * not carry a length that has a fixext form.
 */
static bool
length_is_shortest(int fix_max, bool ext, unsigned width, uint64_t n)
{
    if (width == 1) {
        if (ext) {
            return n != 1 && n != 2 && n != 4 && n != 8 && n != 16;
        }
        return (int64_t)n > fix_max;
    }
    if (width == 2) {
        return fix_max == 15 ? n >= 16 : n >= 256;
    }
    return n >= 65536;
}

static int
compare_keys(const uint8_t *a, uint32_t alen, const uint8_t *b, uint32_t blen)
{
    uint32_t n = alen < blen ? alen : blen;
    int c = n > 0 ? memcmp(a, b, n) : 0;

    if (c != 0) {
        return c;
    }
    return alen < blen ? -1 : (alen > blen ? 1 : 0);
}

int
px_mp_check(const uint8_t *p, size_t len, const struct px_mp_limits *lim, size_t *used)
{
    struct walk_frame stack[PX_MP_MAX_DEPTH];
    struct walker w = {p, len, false, 0, lim};
    unsigned depth = 0;
    unsigned max_depth = lim->max_depth < PX_MP_MAX_DEPTH ? lim->max_depth : PX_MP_MAX_DEPTH;
    bool canon = (lim->flags & PX_MP_CANONICAL) != 0;
    int rc;

    if (len > lim->max_size) {
        w.limit = lim->max_size;
        w.capped = true;
    }
    for (;;) {
        struct walk_frame *top = depth > 0 ? &stack[depth - 1] : NULL;
        bool is_key = top != NULL && top->is_map && top->left % 2 == 0;
        uint8_t b;
        uint64_t n = 0;     /* length or count carried by the header */
        unsigned width = 0; /* bytes of the length field; 0 for fix forms */
        enum { SCALAR, STR, BIN, ARRAY, MAP, EXT } kind = SCALAR;

        if ((rc = need(&w, 1)) != 0) {
            return rc;
        }
        b = p[w.off++];
        if (is_key && (lim->flags & PX_MP_STRKEYS) &&
            !((b >= 0xa0 && b <= 0xbf) || (b >= 0xd9 && b <= 0xdb))) {
            return PX_ETYPE;
        }
        if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3) {
            kind = SCALAR; /* fixints, nil, booleans */
        } else if (b >= 0xa0 && b <= 0xbf) {
            kind = STR;
            n = b & 0x1f;
        } else if (b >= 0x90 && b <= 0x9f) {
            kind = ARRAY;
            n = b & 0x0f;
        } else if (b >= 0x80 && b <= 0x8f) {
            kind = MAP;
            n = b & 0x0f;
        } else {
            switch (b) {
            case 0xc1:
                return PX_ETYPE;
            case 0xca:
            case 0xcb:
                if (lim->flags & PX_MP_NO_FLOAT) {
                    return PX_EFLOAT;
                }
                if ((rc = need(&w, b == 0xca ? 4 : 8)) != 0) {
                    return rc;
                }
                w.off += b == 0xca ? 4 : 8;
                break;
            case 0xcc:
            case 0xcd:
            case 0xce:
            case 0xcf: {
                static const uint64_t min_u[] = {128, 256, 65536, 4294967296u};
                unsigned i = (unsigned)(b - 0xcc);

                if ((rc = read_be(&w, 1u << i, &n)) != 0) {
                    return rc;
                }
                if (canon && n < min_u[i]) {
                    return PX_ENONCANON;
                }
                break;
            }
            case 0xd0:
            case 0xd1:
            case 0xd2:
            case 0xd3: {
                /* Signed forms: canonical only for values below the next smaller form. */
                static const int64_t max_s[] = {-33, -129, -32769, -2147483649LL};
                unsigned i = (unsigned)(b - 0xd0);
                unsigned bits = 8u << i;
                int64_t v;

                if ((rc = read_be(&w, 1u << i, &n)) != 0) {
                    return rc;
                }
                /* Sign-extend without shifting a negative value. */
                if (bits < 64 && (n >> (bits - 1)) != 0) {
                    v = (int64_t)(n - ((uint64_t)1 << bits));
                } else if (bits == 64 && (n >> 63) != 0) {
                    v = -(int64_t)(~n) - 1;
                } else {
                    v = (int64_t)n;
                }
                if (canon && v > max_s[i]) {
                    return PX_ENONCANON;
                }
                break;
            }
            case 0xd9:
            case 0xda:
            case 0xdb:
                kind = STR;
                width = 1u << (b - 0xd9);
                break;
            case 0xc4:
            case 0xc5:
            case 0xc6:
                kind = BIN;
                width = 1u << (b - 0xc4);
                break;
            case 0xdc:
            case 0xdd:
                kind = ARRAY;
                width = b == 0xdc ? 2 : 4;
                break;
            case 0xde:
            case 0xdf:
                kind = MAP;
                width = b == 0xde ? 2 : 4;
                break;
            case 0xd4:
            case 0xd5:
            case 0xd6:
            case 0xd7:
            case 0xd8:
                if (lim->flags & PX_MP_NO_EXT) {
                    return PX_EEXT;
                }
                kind = EXT;
                n = 1u << (b - 0xd4);
                break;
            case 0xc7:
            case 0xc8:
            case 0xc9:
                if (lim->flags & PX_MP_NO_EXT) {
                    return PX_EEXT;
                }
                kind = EXT;
                width = 1u << (b - 0xc7);
                break;
            default:
                return PX_ETYPE; /* unreachable: every byte value is covered above */
            }
        }
        if (width > 0) {
            if ((rc = read_be(&w, width, &n)) != 0) {
                return rc;
            }
            if (canon &&
                !length_is_shortest(kind == STR ? 31 : (kind == ARRAY || kind == MAP ? 15 : -1),
                                    kind == EXT, width, n)) {
                return PX_ENONCANON;
            }
        }
        if (kind == STR || kind == BIN || kind == EXT) {
            const uint8_t *s;

            if (kind == EXT) {
                n += 1; /* the type byte */
            } else if (n > lim->max_str) {
                return PX_ETOOBIG;
            }
            if ((rc = need(&w, n)) != 0) {
                return rc;
            }
            s = p + w.off;
            w.off += (size_t)n;
            if (kind == STR && (lim->flags & PX_MP_UTF8) && !px_utf8_valid(s, (size_t)n)) {
                return PX_EUTF8;
            }
            if (is_key && (lim->flags & PX_MP_STRKEYS)) {
                if (top->prev != NULL) {
                    int c = compare_keys(top->prev, top->prev_len, s, (uint32_t)n);

                    if (c == 0) {
                        return PX_EDUPKEY;
                    }
                    if (c > 0) {
                        return PX_EKEYORDER;
                    }
                }
                top->prev = s;
                top->prev_len = (uint32_t)n;
            }
        } else if (kind == ARRAY || kind == MAP) {
            uint64_t items = kind == MAP ? n * 2 : n;

            if (n > lim->max_count) {
                return PX_ETOOBIG;
            }
            /* Every item takes at least one byte: a larger count cannot be honest. */
            if (items > w.limit - w.off) {
                return PX_ECOUNT;
            }
            if (items > 0) {
                if (depth >= max_depth) {
                    return PX_EDEPTH;
                }
                stack[depth].left = items;
                stack[depth].is_map = kind == MAP;
                stack[depth].prev = NULL;
                stack[depth].prev_len = 0;
                depth++;
                continue;
            }
            if (depth >= max_depth) {
                return PX_EDEPTH; /* an empty container is still a level of nesting */
            }
        }
        /* One item is complete: pop every container it completes. */
        for (;;) {
            if (depth == 0) {
                *used = w.off;
                return 0;
            }
            if (--stack[depth - 1].left > 0) {
                break;
            }
            depth--;
        }
    }
}

int
px_mp_check_exact(const uint8_t *p, size_t len, const struct px_mp_limits *lim)
{
    size_t used;
    int rc = px_mp_check(p, len, lim, &used);

    if (rc != 0) {
        return rc;
    }
    return used == len ? 0 : PX_ETRAILING;
}

bool
px_utf8_valid(const uint8_t *p, size_t len)
{
    size_t i = 0;

    while (i < len) {
        uint8_t c = p[i];

        /* Skip ASCII eight bytes at a time: most text is ASCII. */
        if (c < 0x80) {
            while (len - i >= 8) {
                uint64_t word;

                memcpy(&word, p + i, 8);
                if (word & UINT64_C(0x8080808080808080)) {
                    break;
                }
                i += 8;
            }
            while (i < len && p[i] < 0x80) {
                i++;
            }
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf) {
            if (len - i < 2 || (p[i + 1] & 0xc0) != 0x80) {
                return false;
            }
            i += 2;
        } else if (c >= 0xe0 && c <= 0xef) {
            uint8_t lo = c == 0xe0 ? 0xa0 : 0x80; /* no overlongs */
            uint8_t hi = c == 0xed ? 0x9f : 0xbf; /* no surrogates */

            if (len - i < 3 || p[i + 1] < lo || p[i + 1] > hi || (p[i + 2] & 0xc0) != 0x80) {
                return false;
            }
            i += 3;
        } else if (c >= 0xf0 && c <= 0xf4) {
            uint8_t lo = c == 0xf0 ? 0x90 : 0x80; /* no overlongs */
            uint8_t hi = c == 0xf4 ? 0x8f : 0xbf; /* nothing above U+10FFFF */

            if (len - i < 4 || p[i + 1] < lo || p[i + 1] > hi || (p[i + 2] & 0xc0) != 0x80 ||
                (p[i + 3] & 0xc0) != 0x80) {
                return false;
            }
            i += 4;
        } else {
            return false;
        }
    }
    return true;
}

/* Reads a big-endian length of `width` bytes and checks it is not below `min`. */
static int
read_len(struct px_rbuf *r, unsigned width, uint64_t min, uint32_t *out)
{
    uint8_t b8;
    uint16_t b16;
    uint32_t v;
    int rc;

    switch (width) {
    case 1:
        rc = px_rbuf_u8(r, &b8);
        v = b8;
        break;
    case 2:
        rc = px_rbuf_be16(r, &b16);
        v = b16;
        break;
    default:
        rc = px_rbuf_be32(r, &v);
        break;
    }
    if (rc != 0) {
        return rc;
    }
    if (v < min) {
        return PX_ENONCANON;
    }
    *out = v;
    return 0;
}

static int
read_container(struct px_rbuf *r, uint8_t fix_base, uint8_t b16, uint32_t *count)
{
    uint8_t b;
    int rc = px_rbuf_u8(r, &b);

    if (rc != 0) {
        return rc;
    }
    if (b >= fix_base && b <= fix_base + 15) {
        *count = b & 0x0f;
        return 0;
    }
    if (b == b16) {
        return read_len(r, 2, 16, count);
    }
    if (b == b16 + 1) {
        return read_len(r, 4, 65536, count);
    }
    return PX_ETYPE;
}

int
px_mp_read_array(struct px_rbuf *r, uint32_t *count)
{
    return read_container(r, 0x90, 0xdc, count);
}

int
px_mp_read_map(struct px_rbuf *r, uint32_t *count)
{
    return read_container(r, 0x80, 0xde, count);
}

int
px_mp_read_uint(struct px_rbuf *r, uint64_t *v)
{
    uint8_t b;
    int rc = px_rbuf_u8(r, &b);
    uint64_t min;

    if (rc != 0) {
        return rc;
    }
    if (b <= 0x7f) {
        *v = b;
        return 0;
    }
    switch (b) {
    case 0xcc: {
        uint8_t x;
        rc = px_rbuf_u8(r, &x);
        *v = x;
        min = 128;
        break;
    }
    case 0xcd: {
        uint16_t x;
        rc = px_rbuf_be16(r, &x);
        *v = x;
        min = 256;
        break;
    }
    case 0xce: {
        uint32_t x;
        rc = px_rbuf_be32(r, &x);
        *v = x;
        min = 65536;
        break;
    }
    case 0xcf:
        rc = px_rbuf_be64(r, v);
        min = UINT64_C(4294967296);
        break;
    default:
        return PX_ETYPE;
    }
    if (rc != 0) {
        return rc;
    }
    return *v < min ? PX_ENONCANON : 0;
}

int
px_mp_read_str(struct px_rbuf *r, const char **s, uint32_t *len)
{
    uint8_t b;
    const uint8_t *data;
    int rc = px_rbuf_u8(r, &b);

    if (rc != 0) {
        return rc;
    }
    if (b >= 0xa0 && b <= 0xbf) {
        *len = b & 0x1f;
    } else if (b >= 0xd9 && b <= 0xdb) {
        unsigned width = 1u << (b - 0xd9);

        if ((rc = read_len(r, width, min_for_width(width, 31), len)) != 0) {
            return rc;
        }
    } else {
        return PX_ETYPE;
    }
    if ((rc = px_rbuf_take(r, *len, &data)) != 0) {
        return rc;
    }
    *s = (const char *)data;
    return 0;
}

int
px_mp_read_bin(struct px_rbuf *r, const uint8_t **out, uint32_t *len)
{
    uint8_t b;
    int rc = px_rbuf_u8(r, &b);

    if (rc != 0) {
        return rc;
    }
    if (b < 0xc4 || b > 0xc6) {
        return PX_ETYPE;
    }
    if (b == 0xc4) {
        rc = read_len(r, 1, 0, len);
    } else {
        unsigned width = 1u << (b - 0xc4);
        rc = read_len(r, width, min_for_width(width, 0), len);
    }
    if (rc != 0) {
        return rc;
    }
    return px_rbuf_take(r, *len, out);
}

int
px_mp_read_bin_exact(struct px_rbuf *r, uint8_t *out, uint32_t n)
{
    const uint8_t *b;
    uint32_t len;
    int rc = px_mp_read_bin(r, &b, &len);

    if (rc != 0) {
        return rc;
    }
    if (len != n) {
        return PX_EVALUE;
    }
    memcpy(out, b, n);
    return 0;
}

int
px_mp_read_bool(struct px_rbuf *r, bool *v)
{
    uint8_t b;
    int rc = px_rbuf_u8(r, &b);

    if (rc != 0) {
        return rc;
    }
    if (b != 0xc2 && b != 0xc3) {
        return PX_ETYPE;
    }
    *v = b == 0xc3;
    return 0;
}

/* Writes a header: a fix form when n <= fix_max, else the 8/16/32-bit form. */
static int
write_header(struct px_wbuf *w, uint64_t n, uint8_t fix_base, uint64_t fix_max, int tag8,
             uint8_t tag16)
{
    uint8_t b[5];
    size_t blen;

    if (n <= fix_max) {
        b[0] = (uint8_t)(fix_base | n);
        blen = 1;
    } else if (tag8 >= 0 && n <= 0xff) {
        b[0] = (uint8_t)tag8;
        b[1] = (uint8_t)n;
        blen = 2;
    } else if (n <= 0xffff) {
        b[0] = tag16;
        b[1] = (uint8_t)(n >> 8);
        b[2] = (uint8_t)n;
        blen = 3;
    } else if (n <= 0xffffffffu) {
        b[0] = (uint8_t)(tag16 + 1);
        px_store_be32(b + 1, (uint32_t)n);
        blen = 5;
    } else {
        return PX_ETOOBIG;
    }
    return px_wbuf_put(w, b, blen);
}

int
px_mp_write_array(struct px_wbuf *w, uint32_t count)
{
    return write_header(w, count, 0x90, 15, -1, 0xdc);
}

int
px_mp_write_map(struct px_wbuf *w, uint32_t count)
{
    return write_header(w, count, 0x80, 15, -1, 0xde);
}

int
px_mp_write_str(struct px_wbuf *w, const char *s, size_t len)
{
    int rc = write_header(w, len, 0xa0, 31, 0xd9, 0xda);

    return rc != 0 ? rc : px_wbuf_put(w, s, len);
}

int
px_mp_write_bin(struct px_wbuf *w, const uint8_t *bin, size_t len)
{
    /* bin has no fix form: a fix_max below zero is not expressible, so handle 8-bit here. */
    uint8_t b[2] = {0xc4, (uint8_t)len};
    int rc;

    if (len <= 0xff) {
        rc = px_wbuf_put(w, b, 2);
    } else {
        rc = write_header(w, len, 0, 0, -1, 0xc5);
    }
    return rc != 0 ? rc : px_wbuf_put(w, bin, len);
}

int
px_mp_write_uint(struct px_wbuf *w, uint64_t v)
{
    if (v <= 0x7f) {
        return px_wbuf_u8(w, (uint8_t)v);
    }
    if (v <= 0xff) {
        uint8_t b[2] = {0xcc, (uint8_t)v};
        return px_wbuf_put(w, b, 2);
    }
    if (v <= 0xffff) {
        uint8_t b[3] = {0xcd, (uint8_t)(v >> 8), (uint8_t)v};
        return px_wbuf_put(w, b, 3);
    }
    if (v <= 0xffffffffu) {
        uint8_t b[5] = {0xce};
        px_store_be32(b + 1, (uint32_t)v);
        return px_wbuf_put(w, b, 5);
    }
    uint8_t b[9] = {0xcf};
    px_store_be32(b + 1, (uint32_t)(v >> 32));
    px_store_be32(b + 5, (uint32_t)v);
    return px_wbuf_put(w, b, 9);
}

int
px_mp_write_bool(struct px_wbuf *w, bool v)
{
    return px_wbuf_u8(w, v ? 0xc3 : 0xc2);
}

int
px_mp_write_nil(struct px_wbuf *w)
{
    return px_wbuf_u8(w, 0xc0);
}
