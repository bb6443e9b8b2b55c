/* SPDX-License-Identifier: MIT */
/* term.c - escaping untrusted text for the terminal; see term.h. */
#include "term.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

/* Where escaped text goes: a stdio stream, or a bounded buffer. */
struct sink {
    FILE *f;
    char *out;
    size_t cap;
    size_t len;
    bool full;
};

/*
 * Appends one unit (a run of plain text, or one escape). In memory, a unit that does not
 * fit ends the text with "..."; four bytes stay free for that and the NUL.
 */
static void
put(struct sink *k, const char *s, size_t n)
{
    if (k->f != NULL) {
        fwrite(s, 1, n, k->f);
        return;
    }
    if (k->full) {
        return;
    }
    if (n > k->cap - 4 - k->len) {
        memcpy(k->out + k->len, "...", 3);
        k->len += 3;
        k->full = true;
        return;
    }
    memcpy(k->out + k->len, s, n);
    k->len += n;
}

/* Length of the well-formed UTF-8 sequence at p (n > 0 bytes left), or 0 if there is none. */
static size_t
decode_utf8(const uint8_t *p, size_t n, uint32_t *cp)
{
    uint32_t c = p[0], min;
    size_t len;

    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2;
        c &= 0x1f;
        min = 0x80;
    } else if ((c & 0xf0) == 0xe0) {
        len = 3;
        c &= 0x0f;
        min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        c &= 0x07;
        min = 0x10000;
    } else {
        return 0;
    }
    if (len > n) {
        return 0;
    }
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80) {
            return 0;
        }
        c = (c << 6) | (p[i] & 0x3f);
    }
    if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff)) {
        return 0;
    }
    *cp = c;
    return len;
}

/* Code points that change how the terminal lays out the text around them. */
static bool
is_hidden(uint32_t cp)
{
    return (cp >= 0x80 && cp <= 0x9f) || cp == 0x61c || cp == 0x200e || cp == 0x200f ||
           (cp >= 0x2028 && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069);
}

static void
escape(struct sink *k, const char *s, size_t len, const char *indent)
{
    const uint8_t *p = (const uint8_t *)s;
    size_t run = 0; /* start of the pending run of plain text */
    size_t i = 0;

    while (i < len) {
        char esc[16];
        uint32_t cp = 0;
        size_t n;

        if (p[i] >= 0x20 && p[i] < 0x7f) {
            i++;
            continue;
        }
        n = p[i] < 0x80 ? 1 : decode_utf8(p + i, len - i, &cp);
        if (n > 1 && !is_hidden(cp)) {
            i += n;
            continue;
        }
        put(k, s + run, i - run);
        if (indent != NULL && p[i] == '\n') {
            put(k, "\n", 1);
            put(k, indent, strlen(indent));
        } else if (indent != NULL && p[i] == '\t') {
            put(k, "\t", 1);
        } else if (p[i] == '\n') {
            put(k, "\\n", 2);
        } else if (p[i] == '\t') {
            put(k, "\\t", 2);
        } else if (p[i] == '\r') {
            put(k, "\\r", 2);
        } else if (n > 1) {
            snprintf(esc, sizeof(esc), "<U+%04X>", (unsigned)cp);
            put(k, esc, strlen(esc));
        } else {
            /* A C0 control, DEL, or a byte that does not start valid UTF-8. */
            snprintf(esc, sizeof(esc), "\\x%02x", p[i]);
            put(k, esc, strlen(esc));
            n = 1;
        }
        i += n;
        run = i;
    }
    put(k, s + run, i - run);
}

void
px_term_write(FILE *f, const char *s, size_t len, const char *indent)
{
    struct sink k = {.f = f};

    escape(&k, s, len, indent);
}

void
px_term_escape(const char *s, size_t len, char *out, size_t cap)
{
    struct sink k = {.out = out, .cap = cap};

    escape(&k, s, len, NULL);
    out[k.len] = '\0';
}
