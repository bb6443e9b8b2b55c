/* SPDX-License-Identifier: MIT */
/* test_store_gossip.c - the store functions replication uses: missing ids, fetch by id, the
 * (created, id) index, purged cases. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "protocol/buf.h"
#include "protocol/err.h"
#include "store.h"
#include "util/testutil.h"

#define S(x) ((struct px_str){(x), (uint32_t)(sizeof(x) - 1)})
#define T0   UINT64_C(1764000000000)

struct fixture {
    char *dir;
    char path[512];
    struct px_store *s;
    struct px_identity alice, bob;
};

static struct fixture fx;

/* A signed record kept alive with its buffer, and an item pointing into it. */
struct rec {
    uint8_t buf[PX_RECORD_MAX];
    size_t len;
    struct px_store_item item;
    struct px_store_item *ptr;
};

static void
setup(void)
{
    uint8_t seed[PX_SIGN_SEEDBYTES];
    char err[256] = "";

    cr_assert_eq(px_crypto_init(), 0);
    fx.dir = px_test_tmpdir();
    snprintf(fx.path, sizeof(fx.path), "%s/store.db", fx.dir);
    cr_assert_eq(px_store_open(fx.path, &fx.s, err, sizeof(err)), 0, "%s", err);
    memset(seed, 0xa1, sizeof(seed));
    px_identity_from_seed(&fx.alice, seed);
    memset(seed, 0xb0, sizeof(seed));
    px_identity_from_seed(&fx.bob, seed);
}

static void
teardown(void)
{
    px_store_close(fx.s);
    px_test_rmtree(fx.dir);
    free(fx.dir);
}

TestSuite(store_gossip, .init = setup, .fini = teardown);

static struct rec *
make_case(const struct px_identity *who, uint64_t created, const char *title, const char *tag,
          enum px_practice practice, const uint8_t *supersedes)
{
    struct rec *r = calloc(1, sizeof(*r));
    struct px_record rec;

    cr_assert_not_null(r);
    px_record_init(&rec, PX_RECORD_CASE);
    rec.created = created;
    rec.cs.practice = practice;
    rec.cs.title = (struct px_str){title, (uint32_t)strlen(title)};
    rec.cs.summary = S("What happened, in short.");
    rec.cs.body = S("Longer text about water pumps and village committees.");
    rec.cs.language = S("en");
    rec.cs.license = S("CC-BY-4.0");
    rec.cs.region = S("KE");
    rec.cs.sector = S("water");
    if (tag != NULL) {
        rec.cs.tags[0] = (struct px_str){tag, (uint32_t)strlen(tag)};
        rec.cs.n_tags = 1;
    }
    if (supersedes != NULL) {
        rec.cs.has_supersedes = true;
        memcpy(rec.cs.supersedes, supersedes, PX_ID_BYTES);
    }
    cr_assert_eq(px_record_sign(&rec, who, r->buf, sizeof(r->buf), &r->len, NULL), 0);
    cr_assert_eq(px_record_decode(r->buf, r->len, &r->item.rec, NULL), 0);
    r->item.raw = r->buf;
    r->item.len = r->len;
    r->ptr = &r->item;
    return r;
}

static struct rec *
make_retraction(const struct px_identity *who, uint64_t created, const uint8_t *target)
{
    struct rec *r = calloc(1, sizeof(*r));
    struct px_record rec;

    cr_assert_not_null(r);
    px_record_init(&rec, PX_RECORD_RETRACTION);
    rec.created = created;
    memcpy(rec.rt.target, target, PX_ID_BYTES);
    rec.rt.reason = S("The figures were wrong.");
    cr_assert_eq(px_record_sign(&rec, who, r->buf, sizeof(r->buf), &r->len, NULL), 0);
    cr_assert_eq(px_record_decode(r->buf, r->len, &r->item.rec, NULL), 0);
    r->item.raw = r->buf;
    r->item.len = r->len;
    r->ptr = &r->item;
    return r;
}

static int
insert1(struct rec *r)
{
    cr_assert_eq(px_store_insert(fx.s, &r->ptr, 1, T0), 0);
    return r->item.result;
}

struct seen {
    size_t n;
    uint64_t created[8];
    uint8_t id[8][PX_ID_BYTES];
};

static int
collect(void *arg, uint64_t created, const uint8_t *id)
{
    struct seen *s = arg;

    cr_assert_lt(s->n, 8);
    s->created[s->n] = created;
    memcpy(s->id[s->n], id, PX_ID_BYTES);
    s->n++;
    return 0;
}

static int
fetched(void *arg, const uint8_t *id, const uint8_t *raw, size_t len)
{
    struct seen *s = arg;

    (void)raw;
    cr_assert_gt(len, 0);
    memcpy(s->id[s->n++], id, PX_ID_BYTES);
    return 0;
}

Test(store_gossip, missing_held_and_retracted)
{
    struct rec *a = make_case(&fx.alice, T0, "One", "water", PX_PRACTICE_GOOD, NULL);
    struct rec *b = make_case(&fx.alice, T0 + 1, "Two", NULL, PX_PRACTICE_BAD, NULL);
    struct rec *ra = make_retraction(&fx.alice, T0 + 2, a->item.rec.id);
    uint8_t ids[3 * PX_ID_BYTES];
    bool missing[3];

    memcpy(ids, a->item.rec.id, PX_ID_BYTES);
    memcpy(ids + PX_ID_BYTES, b->item.rec.id, PX_ID_BYTES);
    memcpy(ids + 2 * PX_ID_BYTES, ra->item.rec.id, PX_ID_BYTES);
    cr_assert_eq(px_store_missing(fx.s, ids, 3, missing), 0);
    cr_assert(missing[0] && missing[1] && missing[2]);
    cr_assert_eq(insert1(a), 0);
    cr_assert_eq(px_store_missing(fx.s, ids, 3, missing), 0);
    cr_assert(!missing[0] && missing[1] && missing[2]);
    /* The retraction purges a and says which case it purged. */
    cr_assert_eq(insert1(ra), 0);
    cr_assert(ra->item.purged);
    cr_assert_eq(ra->item.purged_created, T0);
    cr_assert_eq(memcmp(ra->item.purged_id, a->item.rec.id, PX_ID_BYTES), 0);
    /* a is gone, so it counts as missing: only its own author's retraction may block it,
     * and that is for the insert to tell, which refuses it. */
    cr_assert_eq(px_store_missing(fx.s, ids, 3, missing), 0);
    cr_assert(missing[0] && missing[1] && !missing[2]);
    cr_assert_eq(insert1(a), PX_ERETRACTED);
    cr_assert_eq(insert1(b), 0);
    cr_assert(!b->item.purged);
    free(a);
    free(b);
    free(ra);
}

Test(store_gossip, index_and_fetch_by_id)
{
    struct rec *a = make_case(&fx.alice, T0, "One", "water", PX_PRACTICE_GOOD, NULL);
    struct rec *b = make_case(&fx.bob, T0 + 5, "Two", NULL, PX_PRACTICE_BAD, NULL);
    struct rec *c = make_case(&fx.bob, T0 + 9, "Three", NULL, PX_PRACTICE_BAD, NULL);
    struct seen s;
    uint8_t ids[3 * PX_ID_BYTES];

    cr_assert_eq(insert1(a), 0);
    cr_assert_eq(insert1(b), 0);
    memset(&s, 0, sizeof(s));
    cr_assert_eq(px_store_index(fx.s, collect, &s), 0);
    cr_assert_eq(s.n, 2);
    for (size_t i = 0; i < 2; i++) {
        const struct rec *r = memcmp(s.id[i], a->item.rec.id, PX_ID_BYTES) == 0 ? a : b;

        cr_assert_eq(memcmp(s.id[i], r->item.rec.id, PX_ID_BYTES), 0);
        cr_assert_eq(s.created[i], r->item.rec.created);
    }
    /* Fetch by id: held ones in the order asked, c (not held) skipped. */
    memcpy(ids, b->item.rec.id, PX_ID_BYTES);
    memcpy(ids + PX_ID_BYTES, c->item.rec.id, PX_ID_BYTES);
    memcpy(ids + 2 * PX_ID_BYTES, a->item.rec.id, PX_ID_BYTES);
    memset(&s, 0, sizeof(s));
    cr_assert_eq(px_store_fetch_ids(fx.s, ids, 3, fetched, &s), 0);
    cr_assert_eq(s.n, 2);
    cr_assert_eq(memcmp(s.id[0], b->item.rec.id, PX_ID_BYTES), 0);
    cr_assert_eq(memcmp(s.id[1], a->item.rec.id, PX_ID_BYTES), 0);
    free(a);
    free(b);
    free(c);
}
