/* SPDX-License-Identifier: MIT */
/*
 * store_fixture.h - what the store's unit tests share: a fresh store in a temporary
 * directory (sfx_setup / sfx_teardown, for a TestSuite's .init and .fini), two identities,
 * and signed cases and retractions ready to insert.
 */
#ifndef PX_STORE_FIXTURE_H
#define PX_STORE_FIXTURE_H

#include <stddef.h>
#include <stdint.h>

#include "protocol/record.h"
#include "store.h"

/* The created time the fixture's records start from (2025-11-24). */
#define SFX_T0 UINT64_C(1764000000000)

struct sfx {
    char *dir;
    char path[512];
    struct px_store *s;
    struct px_identity alice, bob;
};

/* The fixture of the running test (each Criterion test runs in its own process). */
extern struct sfx sfx;

/* A signed record kept alive with its buffer, and an item pointing into it. */
struct sfx_rec {
    uint8_t buf[PX_RECORD_MAX];
    size_t len;
    struct px_store_item item;
    struct px_store_item *ptr;
};

void sfx_setup(void);
void sfx_teardown(void);

/* A case signed by who (title and tag are copied into the record; tag may be NULL, and
 * supersedes, when not NULL, makes it a correction). The caller frees it. */
struct sfx_rec *sfx_case(const struct px_identity *who, uint64_t created, const char *title,
                         const char *tag, enum px_practice practice, const uint8_t *supersedes);

/* A retraction of target signed by who. The caller frees it. */
struct sfx_rec *sfx_retraction(const struct px_identity *who, uint64_t created,
                               const uint8_t *target);

/* Inserts one record in its own transaction (which must commit) and returns its result. */
int sfx_insert(struct sfx_rec *r);

#endif
