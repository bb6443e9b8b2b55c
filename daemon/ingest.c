/* SPDX-License-Identifier: MIT */
/* ingest.c - decode, verify and police one incoming record; see ingest.h. */
#include "ingest.h"

#include <string.h>

#include "protocol/err.h"

bool
px_policy_allows(const struct px_policy *p, const uint8_t author[PX_SIGN_PUBLICKEYBYTES])
{
    size_t lo = 0, hi = p->n_authors;

    if (p->any_author) {
        return true;
    }
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = memcmp(p->authors[mid], author, PX_SIGN_PUBLICKEYBYTES);

        if (c == 0) {
            return true;
        }
        if (c < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return false;
}

int
px_ingest_check(const struct px_policy *p, const uint8_t *raw, size_t len, uint64_t now_ms,
                struct px_record *rec, const char **field)
{
    const char *dummy;
    int rc;

    field = field != NULL ? field : &dummy;
    if ((rc = px_record_decode(raw, len, rec, field)) != 0) {
        return rc;
    }
    /* Cheap policy checks before the expensive signature check. */
    *field = "author";
    if (!px_policy_allows(p, rec->author)) {
        return PX_EPERM;
    }
    *field = "created";
    if ((rc = px_record_check_created(rec, now_ms, p->max_skew_ms)) != 0) {
        return rc;
    }
    *field = "signature";
    if ((rc = px_record_verify(rec)) != 0) {
        return rc;
    }
    *field = NULL;
    return 0;
}
