/* SPDX-License-Identifier: MIT */
/*
 * card.h - how praxis shows records: checked first, then as a card, a table row or a
 * JSON line.
 *
 * Every record a command prints passes px_card_check first: it is decoded strictly and its
 * signature verified over the bytes received, so a record that fails is reported and never
 * shown as valid. Untrusted text in cards and rows is escaped (term.h).
 */
#ifndef PX_CARD_H
#define PX_CARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "protocol/record.h"

/* Hex digits of the short ids in tables. */
#define PX_CARD_SHORT_ID 12

/*
 * Decodes raw[0..len) into rec (whose strings borrow raw) and, when verify is set,
 * verifies its signature. Returns 0, a decode error (with *field naming the field when
 * known, else NULL), or PX_EBADSIG.
 */
int px_card_check(const uint8_t *raw, size_t len, struct px_record *rec, const char **field,
                  bool verify);

/* What a card says of a record's signature. */
enum px_card_sig {
    PX_CARD_SIG_INVALID, /* checked here, and it does not verify */
    PX_CARD_SIG_VALID,   /* checked here over the bytes at hand */
    PX_CARD_SIG_DAEMON,  /* from praxisd's store: praxisd checked it when it arrived */
};

/*
 * Prints "praxis: WHAT: EBADSIG: signature does not verify" (or the decode error, with the
 * field) for a record that failed px_card_check.
 */
void px_card_report(const char *what, int code, const char *field);

/*
 * Writes rec as a card of "label value" lines: id, type, author, created, signature, then
 * the payload fields (those the record has).
 */
void px_card_print(FILE *f, const struct px_record *rec, enum px_card_sig sig);

/*
 * Writes rec as one JSON object and a newline (docs/json.md, the shape of
 * `inspect --json`, with "signature_valid": false only for PX_CARD_SIG_INVALID). 0, or -1
 * when out of memory (printed).
 */
int px_card_json(FILE *f, const struct px_record *rec, enum px_card_sig sig);

/* The header line of the query table, and one row: short id, practice, date, region, title. */
void px_card_table_header(FILE *f);
void px_card_table_row(FILE *f, const struct px_record *rec);

#endif
