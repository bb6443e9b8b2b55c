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
#include "util/store_fixture.h"
#include "util/testutil.h"

#define S(x) ((struct px_str){(x), (uint32_t)(sizeof(x) - 1)})
#define T0   SFX_T0

TestSuite(store_gossip, .init = sfx_setup, .fini = sfx_teardown);

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
    struct sfx_rec *a = sfx_case(&sfx.alice, T0, "One", "water", PX_PRACTICE_GOOD, NULL);
    struct sfx_rec *b = sfx_case(&sfx.alice, T0 + 1, "Two", NULL, PX_PRACTICE_BAD, NULL);
    struct sfx_rec *ra = sfx_retraction(&sfx.alice, T0 + 2, a->item.rec.id);
    uint8_t ids[3 * PX_ID_BYTES];
    bool missing[3];

    memcpy(ids, a->item.rec.id, PX_ID_BYTES);
    memcpy(ids + PX_ID_BYTES, b->item.rec.id, PX_ID_BYTES);
    memcpy(ids + 2 * PX_ID_BYTES, ra->item.rec.id, PX_ID_BYTES);
    cr_assert_eq(px_store_missing(sfx.s, ids, 3, missing), 0);
    cr_assert(missing[0] && missing[1] && missing[2]);
    cr_assert_eq(sfx_insert(a), 0);
    cr_assert_eq(px_store_missing(sfx.s, ids, 3, missing), 0);
    cr_assert(!missing[0] && missing[1] && missing[2]);
    /* The retraction purges a and says which case it purged. */
    cr_assert_eq(sfx_insert(ra), 0);
    cr_assert(ra->item.purged);
    cr_assert_eq(ra->item.purged_created, T0);
    cr_assert_eq(memcmp(ra->item.purged_id, a->item.rec.id, PX_ID_BYTES), 0);
    /* a is gone, so it counts as missing: only its own author's retraction may block it,
     * and that is for the insert to tell, which refuses it. */
    cr_assert_eq(px_store_missing(sfx.s, ids, 3, missing), 0);
    cr_assert(missing[0] && missing[1] && !missing[2]);
    cr_assert_eq(sfx_insert(a), PX_ERETRACTED);
    cr_assert_eq(sfx_insert(b), 0);
    cr_assert(!b->item.purged);
    free(a);
    free(b);
    free(ra);
}

/* The index is read in (created, id) order, ids bytewise, whatever the insert order: the
 * daemon appends it to a sealed reconciliation index as it comes. */
Test(store_gossip, index_comes_in_created_then_id_order)
{
    static const uint64_t when[] = {T0 + 9, T0, T0 + 5, T0, T0 + 9, T0 + 1};
    struct sfx_rec *r[6];
    struct seen s;

    for (size_t i = 0; i < 6; i++) {
        char title[16];

        snprintf(title, sizeof(title), "Case %zu", i);
        r[i] =
            sfx_case(i % 2 ? &sfx.alice : &sfx.bob, when[i], title, NULL, PX_PRACTICE_GOOD, NULL);
        cr_assert_eq(sfx_insert(r[i]), 0);
    }
    memset(&s, 0, sizeof(s));
    cr_assert_eq(px_store_index(sfx.s, collect, &s), 0);
    cr_assert_eq(s.n, 6);
    for (size_t i = 1; i < s.n; i++) {
        cr_assert(
            s.created[i - 1] < s.created[i] ||
                (s.created[i - 1] == s.created[i] && memcmp(s.id[i - 1], s.id[i], PX_ID_BYTES) < 0),
            "item %zu is out of order", i);
    }
    for (size_t i = 0; i < 6; i++) {
        free(r[i]);
    }
}

Test(store_gossip, index_and_fetch_by_id)
{
    struct sfx_rec *a = sfx_case(&sfx.alice, T0, "One", "water", PX_PRACTICE_GOOD, NULL);
    struct sfx_rec *b = sfx_case(&sfx.bob, T0 + 5, "Two", NULL, PX_PRACTICE_BAD, NULL);
    struct sfx_rec *c = sfx_case(&sfx.bob, T0 + 9, "Three", NULL, PX_PRACTICE_BAD, NULL);
    struct seen s;
    uint8_t ids[3 * PX_ID_BYTES];

    cr_assert_eq(sfx_insert(a), 0);
    cr_assert_eq(sfx_insert(b), 0);
    memset(&s, 0, sizeof(s));
    cr_assert_eq(px_store_index(sfx.s, collect, &s), 0);
    cr_assert_eq(s.n, 2);
    for (size_t i = 0; i < 2; i++) {
        const struct sfx_rec *r = memcmp(s.id[i], a->item.rec.id, PX_ID_BYTES) == 0 ? a : b;

        cr_assert_eq(memcmp(s.id[i], r->item.rec.id, PX_ID_BYTES), 0);
        cr_assert_eq(s.created[i], r->item.rec.created);
    }
    /* Fetch by id: held ones in the order asked, c (not held) skipped. */
    memcpy(ids, b->item.rec.id, PX_ID_BYTES);
    memcpy(ids + PX_ID_BYTES, c->item.rec.id, PX_ID_BYTES);
    memcpy(ids + 2 * PX_ID_BYTES, a->item.rec.id, PX_ID_BYTES);
    memset(&s, 0, sizeof(s));
    cr_assert_eq(px_store_fetch_ids(sfx.s, ids, 3, fetched, &s), 0);
    cr_assert_eq(s.n, 2);
    cr_assert_eq(memcmp(s.id[0], b->item.rec.id, PX_ID_BYTES), 0);
    cr_assert_eq(memcmp(s.id[1], a->item.rec.id, PX_ID_BYTES), 0);
    free(a);
    free(b);
    free(c);
}
