/* SPDX-License-Identifier: MIT */
/*
 * ingest.h - the check every record from outside passes before the store sees it.
 *
 * A record imported by a user (and, later, one received from a peer) is decoded strictly,
 * its signature verified over the received bytes, its created time checked against the
 * clock, and its author checked against the node's policy. Pure apart from the clock the
 * caller passes; safe to call from worker threads (the policy is read-only).
 */
#ifndef PX_INGEST_H
#define PX_INGEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "protocol/record.h"

struct px_policy {
    bool any_author;                                  /* accept_authors = any */
    const uint8_t (*authors)[PX_SIGN_PUBLICKEYBYTES]; /* sorted, when !any_author */
    size_t n_authors;
    uint64_t max_skew_ms; /* how far in the future `created` may be */
};

/* Is this author allowed by the policy? */
bool px_policy_allows(const struct px_policy *p, const uint8_t author[PX_SIGN_PUBLICKEYBYTES]);

/*
 * Decodes, verifies and checks raw[0..len) into rec (strings borrow raw). Returns 0, a
 * decode error, PX_EBADSIG, PX_EFUTURE, or PX_EPERM (author not accepted). *field names
 * the offending field for decode errors (may be NULL).
 */
int px_ingest_check(const struct px_policy *p, const uint8_t *raw, size_t len, uint64_t now_ms,
                    struct px_record *rec, const char **field);

#endif
