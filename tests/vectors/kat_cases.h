/* SPDX-License-Identifier: MIT */
/*
 * kat_cases.h - the inputs behind the known-answer records in record_kat.txt.
 *
 * gen_kat.c builds, signs and prints these records; tests/unit/protocol/test_record.c
 * builds them again and compares the result byte for byte with the stored vectors. The
 * stored bytes are the contract: if this file changes, the vectors no longer match and the
 * test fails, which is the point (see README.md before regenerating anything).
 *
 * Everything here is static inline so that either user may include it without unused-
 * function warnings. Strings point to literals with static storage.
 */
#ifndef PX_KAT_CASES_H
#define PX_KAT_CASES_H

#include <stdint.h>
#include <string.h>

#include "protocol/record.h"

/* Publication times, in ms since the Unix epoch (2023-11-14T22:13:20Z and later). */
#define KAT_CREATED_CASE_FULL    UINT64_C(1700000000000)
#define KAT_CREATED_CASE_MINIMAL UINT64_C(1700000300000)
#define KAT_CREATED_RETRACTION   UINT64_C(1700000600000)

/* The signing key: seed bytes 0x01, 0x02, ..., 0x20. */
static inline void
kat_seed(uint8_t seed[PX_SIGN_SEEDBYTES])
{
    for (int i = 0; i < PX_SIGN_SEEDBYTES; i++) {
        seed[i] = (uint8_t)(i + 1);
    }
}

/* A second key for forgeries: seed bytes 0x21, 0x22, ..., 0x40. */
static inline void
kat_other_seed(uint8_t seed[PX_SIGN_SEEDBYTES])
{
    for (int i = 0; i < PX_SIGN_SEEDBYTES; i++) {
        seed[i] = (uint8_t)(i + 0x21);
    }
}

static inline struct px_str
kat_str(const char *s)
{
    struct px_str out = {s, (uint32_t)strlen(s)};

    return out;
}

/*
 * A good-practice case with every field present, including non-ASCII text (an en dash),
 * line breaks and a tab in the block fields, and a supersedes id of bytes 0xa0..0xbf.
 */
static inline void
kat_case_full(struct px_record *rec)
{
    struct px_case *c = &rec->cs;

    px_record_init(rec, PX_RECORD_CASE);
    rec->created = KAT_CREATED_CASE_FULL;
    c->practice = PX_PRACTICE_GOOD;
    c->title = kat_str("Cash transfers before the rains \xe2\x80\x93 Kenya");
    c->summary = kat_str("Unconditional cash sent two weeks before the long rains let families\n"
                         "buy seed and store food.");
    c->body = kat_str("## What we did\n\n"
                      "We sent mobile-money transfers to 1,200 households in Turkana.\n\n"
                      "\tAmounts were in KES; see the report for the schedule.\n\n"
                      "## What changed\n\n"
                      "Fewer families sold livestock at low prices.");
    c->lessons[0] = kat_str("Send cash before the lean season, not during it");
    c->lessons[1] = kat_str("Check mobile-money agent coverage before enrolling");
    c->lessons[2] = kat_str("Agree the transfer calendar with county officials");
    c->n_lessons = 3;
    c->tags[0] = kat_str("cash-transfers");
    c->tags[1] = kat_str("food-security");
    c->tags[2] = kat_str("mobile-money");
    c->n_tags = 3;
    c->sector = kat_str("humanitarian");
    c->region = kat_str("KE-23");
    c->language = kat_str("en");
    c->occurred = kat_str("2023-03");
    c->links[0] = kat_str("https://example.org/reports/long-rains-2023");
    c->links[1] = kat_str("https://example.org/data/transfers.csv");
    c->n_links = 2;
    c->license = kat_str("CC-BY-4.0");
    c->has_supersedes = true;
    for (int i = 0; i < PX_ID_BYTES; i++) {
        c->supersedes[i] = (uint8_t)(0xa0 + i);
    }
}

/* A bad-practice case with only the required fields, in French (non-ASCII text). */
static inline void
kat_case_minimal(struct px_record *rec)
{
    struct px_case *c = &rec->cs;

    px_record_init(rec, PX_RECORD_CASE);
    rec->created = KAT_CREATED_CASE_MINIMAL;
    c->practice = PX_PRACTICE_BAD;
    c->title = kat_str("Bons papier dans les zones inond\xc3\xa9"
                       "es");
    c->summary = kat_str("Les bons en papier ont pris l\xe2\x80\x99"
                         "eau et les commer\xc3\xa7"
                         "ants les ont refus\xc3\xa9s.");
    c->language = kat_str("fr");
    c->license = kat_str("CC0-1.0");
}

/* A retraction of target (the id of the case-full record). */
static inline void
kat_retraction(struct px_record *rec, const uint8_t target[PX_ID_BYTES])
{
    px_record_init(rec, PX_RECORD_RETRACTION);
    rec->created = KAT_CREATED_RETRACTION;
    memcpy(rec->rt.target, target, PX_ID_BYTES);
    rec->rt.reason = kat_str("Retracted: the household count in the report was wrong;\n"
                             "a corrected case follows.");
}

#endif
