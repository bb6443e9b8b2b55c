/* SPDX-License-Identifier: MIT */
/*
 * fuzz_negentropy.c - libFuzzer target for the negentropy message parser, in both roles.
 *
 * The input is one message from a peer. It goes to a server over a small fixed item set and
 * to a client that has just initiated over an overlapping set, each without a frame limit
 * and with the smallest one (4096). Properties, for any input of at most
 * FUZZ_NEG_MAX_INPUT bytes:
 *   1. Nothing crashes, and memory stays bounded (allocation is capped by the input size:
 *      run with -rss_limit_mb / -malloc_limit_mb).
 *   2. A failure leaves no output behind and a reason string; success always has output
 *      (a server reply, or for a client the next message or done).
 *   3. What we answer to an accepted message is itself accepted by our own peer: a server
 *      reply by a client that has initiated, a client's next message by a server; and
 *      under a frame limit the answer fits in it.
 *   4. A server over a paged index (pages in memory, the smallest cache) answers exactly as
 *      one over a plain index of the same items, or fails with the same error: 700 items,
 *      the server's 70 and 630 more in many chunks, so ranges reach pages that are not
 *      cached.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/err.h"
#include "protocol/negentropy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Messages of a 1 MiB frame are possible in the daemon, but the parser's work per byte is
 * what matters here; 64 KiB keeps executions fast. */
#define FUZZ_NEG_MAX_INPUT (64u << 10)

static struct px_negentropy_storage *server_st, *client_st, *twin_plain, *twin_paged;

/* The paged twin's pages, in memory. */
static uint8_t *pages;
static size_t n_pages;

_Noreturn static void
fail(const char *what, int rc)
{
    fprintf(stderr, "fuzz_negentropy: broken property: %s (rc %s)\n", what, px_err_name(rc));
    abort();
}

static uint64_t
next(uint64_t *x)
{
    uint64_t z = (*x += UINT64_C(0x9e3779b97f4a7c15));

    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

/*
 * 80 items: timestamps from a few small values (equal timestamps, so bounds carry id
 * prefixes), a few around 2^32 and two near infinity. The server has items 0..69, the
 * client items 10..79: both sides have more than 32, so messages hold fingerprints.
 */
static void
setup(void)
{
    uint64_t x = 1;

    if (px_negentropy_storage_new(&server_st) != 0 || px_negentropy_storage_new(&client_st) != 0) {
        fail("setup", PX_ENOMEM);
    }
    for (int i = 0; i < 80; i++) {
        uint8_t id[PX_NEGENTROPY_ID_SIZE];
        uint64_t r = next(&x), ts;

        for (int b = 0; b < PX_NEGENTROPY_ID_SIZE; b += 8) {
            uint64_t v = next(&x);

            memcpy(id + b, &v, 8);
        }
        if (i % 8 == 0) {
            id[0] = 0; /* shared first bytes: longer prefixes */
            id[1] = 0;
        }
        if (i >= 78) {
            ts = UINT64_MAX - 1 - (uint64_t)(i - 78);
        } else if (i % 5 == 0) {
            ts = (UINT64_C(1) << 32) + r % 3;
        } else {
            ts = r % 6;
        }
        if (i < 70 && px_negentropy_storage_insert(server_st, ts, id) != 0) {
            fail("setup insert", 0);
        }
        if (i >= 10 && px_negentropy_storage_insert(client_st, ts, id) != 0) {
            fail("setup insert", 0);
        }
    }
    if (px_negentropy_storage_seal(server_st) != 0 || px_negentropy_storage_seal(client_st) != 0) {
        fail("setup seal", 0);
    }
}

static int
page_write(void *ctx, uint64_t slot, const void *buf, size_t len)
{
    (void)ctx;
    if (slot >= n_pages) {
        uint8_t *p = realloc(pages, (size_t)(slot + 1) * len);

        if (p == NULL) {
            return PX_ENOMEM;
        }
        pages = p;
        n_pages = (size_t)slot + 1;
    }
    memcpy(pages + slot * len, buf, len);
    return 0;
}

static int
page_read(void *ctx, uint64_t slot, void *buf, size_t len)
{
    (void)ctx;
    if (slot >= n_pages) {
        return PX_EIO;
    }
    memcpy(buf, pages + slot * len, len);
    return 0;
}

/* The twins of property 4: the server's items again, and 630 more at timestamps past theirs
 * (runs of equal ones), in both; one of them paged with PX_NEGENTROPY_MIN_CACHE pages. */
static void
setup_twins(void)
{
    static const struct px_negentropy_pager pager = {page_write, page_read, NULL};
    uint64_t x = 7;

    if (px_negentropy_storage_new(&twin_plain) != 0 ||
        px_negentropy_storage_new(&twin_paged) != 0 ||
        px_negentropy_storage_set_pager(twin_paged, &pager, PX_NEGENTROPY_MIN_CACHE) != 0 ||
        px_negentropy_storage_seal(twin_plain) != 0 ||
        px_negentropy_storage_seal(twin_paged) != 0) {
        fail("twin setup", 0);
    }
    for (size_t i = 0; i < px_negentropy_storage_size(server_st) + 630; i++) {
        uint8_t id[PX_NEGENTROPY_ID_SIZE];
        uint64_t ts;

        if (i < px_negentropy_storage_size(server_st)) {
            if (px_negentropy_storage_get(server_st, i, &ts, id) != 0) {
                fail("twin setup get", 0);
            }
        } else {
            for (int b = 0; b < PX_NEGENTROPY_ID_SIZE; b += 8) {
                uint64_t v = next(&x);

                memcpy(id + b, &v, 8);
            }
            ts = (UINT64_C(1) << 40) + (uint64_t)i / 3;
        }
        if (px_negentropy_storage_insert(twin_plain, ts, id) != 0 ||
            px_negentropy_storage_insert(twin_paged, ts, id) != 0) {
            fail("twin setup insert", 0);
        }
    }
}

/* Property 4. */
static void
twins_agree(const uint8_t *data, size_t size, size_t limit)
{
    struct px_negentropy *a, *b;
    uint8_t *ra = NULL, *rb = NULL;
    size_t la = 0, lb = 0;
    int rca, rcb;

    if (px_negentropy_new(twin_plain, limit, &a) != 0 ||
        px_negentropy_new(twin_paged, limit, &b) != 0) {
        fail("twin server setup", 0);
    }
    rca = px_negentropy_respond(a, data, size, &ra, &la);
    rcb = px_negentropy_respond(b, data, size, &rb, &lb);
    if (rca != rcb || la != lb || (la > 0 && memcmp(ra, rb, la) != 0)) {
        fail("a paged index answered otherwise than a plain one", rcb);
    }
    if (px_negentropy_storage_failed(twin_paged)) {
        fail("the in-memory pager failed", 0);
    }
    free(ra);
    free(rb);
    px_negentropy_free(a);
    px_negentropy_free(b);
}

/* A client over client_st that has initiated. */
static struct px_negentropy *
new_client(size_t limit)
{
    struct px_negentropy *c = NULL;
    uint8_t *msg = NULL;
    size_t len;

    if (px_negentropy_new(client_st, limit, &c) != 0 ||
        px_negentropy_initiate(c, &msg, &len) != 0) {
        fail("client setup", 0);
    }
    free(msg);
    return c;
}

/* Property 3 for a server reply: a client accepts it, and a server accepts what follows. */
static void
client_accepts(const uint8_t *reply, size_t len)
{
    struct px_negentropy *c = new_client(0);
    struct px_negentropy_result res;
    int rc = px_negentropy_reconcile(c, reply, len, &res);

    if (rc != 0) {
        fprintf(stderr, "client: %s\n", px_negentropy_reason(c));
        fail("a client refused our server's reply", rc);
    }
    if (res.msg != NULL) {
        struct px_negentropy *s;
        uint8_t *r2;
        size_t l2;

        if (px_negentropy_new(server_st, 0, &s) != 0) {
            fail("server setup", 0);
        }
        rc = px_negentropy_respond(s, res.msg, res.msg_len, &r2, &l2);
        if (rc != 0) {
            fprintf(stderr, "server: %s\n", px_negentropy_reason(s));
            fail("a server refused the client's answer to our reply", rc);
        }
        free(r2);
        px_negentropy_free(s);
    }
    px_negentropy_result_fini(&res);
    px_negentropy_free(c);
}

/* Property 3 for a client's next message: a server accepts it. */
static void
server_accepts(const uint8_t *msg, size_t len)
{
    struct px_negentropy *s;
    uint8_t *reply;
    size_t rlen;
    int rc;

    if (px_negentropy_new(server_st, 0, &s) != 0) {
        fail("server setup", 0);
    }
    rc = px_negentropy_respond(s, msg, len, &reply, &rlen);
    if (rc != 0) {
        fprintf(stderr, "server: %s\n", px_negentropy_reason(s));
        fail("a server refused our client's next message", rc);
    }
    free(reply);
    px_negentropy_free(s);
}

static void
as_server(const uint8_t *data, size_t size, size_t limit)
{
    static uint8_t sentinel;
    struct px_negentropy *s;
    uint8_t *reply = &sentinel; /* must come back NULL on failure */
    size_t rlen = 1;
    int rc;

    if (px_negentropy_new(server_st, limit, &s) != 0) {
        fail("server setup", 0);
    }
    rc = px_negentropy_respond(s, data, size, &reply, &rlen);
    if (rc != 0) {
        if (reply != NULL || rlen != 0 || px_negentropy_reason(s)[0] == '\0') {
            fail("a failed respond left output or no reason", rc);
        }
    } else {
        if (reply == NULL || rlen == 0 || reply[0] != PX_NEGENTROPY_VERSION) {
            fail("an accepted message got no reply", rc);
        }
        if (limit != 0 && rlen > limit) {
            fail("a reply over the frame limit", rc);
        }
        /* A reply to another version is the bare version byte, not a v1 message for a
         * client that asked in v1; only v1 replies go on. */
        if (size > 0 && data[0] == PX_NEGENTROPY_VERSION) {
            client_accepts(reply, rlen);
        } else if (rlen != 1) {
            fail("a version mismatch got more than the version byte", rc);
        }
        free(reply);
    }
    px_negentropy_free(s);
}

static void
as_client(const uint8_t *data, size_t size, size_t limit)
{
    struct px_negentropy *c = new_client(limit);
    struct px_negentropy_result res;
    int rc = px_negentropy_reconcile(c, data, size, &res);

    if (rc != 0) {
        if (res.msg != NULL || res.have != NULL || res.need != NULL ||
            px_negentropy_reason(c)[0] == '\0') {
            fail("a failed reconcile left output or no reason", rc);
        }
    } else {
        if (res.have_n > px_negentropy_storage_size(client_st)) {
            fail("more have ids than items", rc);
        }
        if (res.need_n > size / PX_NEGENTROPY_ID_SIZE) {
            fail("more need ids than the message holds", rc);
        }
        if (res.msg != NULL) {
            if (limit != 0 && res.msg_len > limit) {
                fail("a client message over the frame limit", rc);
            }
            server_accepts(res.msg, res.msg_len);
        }
    }
    px_negentropy_result_fini(&res);
    px_negentropy_free(c);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (server_st == NULL) {
        setup();
        setup_twins();
    }
    if (size > FUZZ_NEG_MAX_INPUT) {
        return 0;
    }
    as_server(data, size, 0);
    as_server(data, size, PX_NEGENTROPY_MIN_FRAME);
    as_client(data, size, 0);
    as_client(data, size, PX_NEGENTROPY_MIN_FRAME);
    twins_agree(data, size, 0);
    twins_agree(data, size, PX_NEGENTROPY_MIN_FRAME);
    return 0;
}
