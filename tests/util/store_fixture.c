/* SPDX-License-Identifier: MIT */
/* store_fixture.c - a store in a temporary directory and signed records for it; see
 * store_fixture.h. */
#include "store_fixture.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "protocol/err.h"
#include "testutil.h"

#define S(x) ((struct px_str){(x), (uint32_t)(sizeof(x) - 1)})

struct sfx sfx;

void
sfx_setup(void)
{
    uint8_t seed[PX_SIGN_SEEDBYTES];
    char err[256] = "";

    cr_assert_eq(px_crypto_init(), 0);
    sfx.dir = px_test_tmpdir();
    snprintf(sfx.path, sizeof(sfx.path), "%s/store.db", sfx.dir);
    cr_assert_eq(px_store_open(sfx.path, &sfx.s, err, sizeof(err)), 0, "%s", err);
    memset(seed, 0xa1, sizeof(seed));
    px_identity_from_seed(&sfx.alice, seed);
    memset(seed, 0xb0, sizeof(seed));
    px_identity_from_seed(&sfx.bob, seed);
}

void
sfx_teardown(void)
{
    px_store_close(sfx.s);
    px_test_rmtree(sfx.dir);
    free(sfx.dir);
}

struct sfx_rec *
sfx_case(const struct px_identity *who, uint64_t created, const char *title, const char *tag,
         enum px_practice practice, const uint8_t *supersedes)
{
    struct sfx_rec *r = calloc(1, sizeof(*r));
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

struct sfx_rec *
sfx_retraction(const struct px_identity *who, uint64_t created, const uint8_t *target)
{
    struct sfx_rec *r = calloc(1, sizeof(*r));
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

int
sfx_insert(struct sfx_rec *r)
{
    cr_assert_eq(px_store_insert(sfx.s, &r->ptr, 1, SFX_T0), 0);
    return r->item.result;
}
