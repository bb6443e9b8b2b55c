/* SPDX-License-Identifier: MIT */
/*
 * record.h - the signed case record: struct <-> canonical msgpack, and its checks.
 *
 * A record is a msgpack array of six elements, in this order:
 *   [version, type, author, created, payload, signature]
 * The signed bytes are the record's bytes up to (not including) the signature element;
 * the signature element is always the last 66 bytes (bin8 header c4 40 + 64 bytes). The
 * record id is BLAKE2b-256 of the signed bytes. docs/protocol.md has every byte.
 *
 * Decoding borrows: the strings in a decoded struct px_record point into the buffer that
 * was decoded and are valid only while that buffer is. Strings are not NUL-terminated.
 * Encoding reads strings through the same slices, so a caller fills them from its own
 * memory. No function here allocates.
 */
#ifndef PX_RECORD_H
#define PX_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sign.h"

#define PX_RECORD_VERSION 1
#define PX_RECORD_MAX     65536 /* a whole encoded record, signature included */
#define PX_RECORD_SIG_LEN 66    /* the encoded signature element: c4 40 + 64 bytes */
/* The walker's caps for a record: envelope > payload map > list is three levels, and no
 * container of a record holds more than 64 elements. */
#define PX_RECORD_MAX_DEPTH 3
#define PX_RECORD_MAX_COUNT 64
/* 2020-01-01T00:00:00Z in ms: no praxis record is older. */
#define PX_RECORD_MIN_CREATED UINT64_C(1577836800000)
/* 9999-12-31T23:59:59.999Z in ms: keeps every created time printable as a date. */
#define PX_RECORD_MAX_CREATED UINT64_C(253402300799999)

/* Field caps, in bytes of UTF-8 for strings and in elements for lists. */
#define PX_CASE_MAX_TITLE     200
#define PX_CASE_MAX_SUMMARY   2000
#define PX_CASE_MAX_BODY      32768
#define PX_CASE_MAX_LESSONS   32
#define PX_CASE_MAX_LESSON    500
#define PX_CASE_MAX_TAGS      32
#define PX_CASE_MAX_TAG       64
#define PX_CASE_MAX_SECTOR    64
#define PX_CASE_MAX_REGION    6
#define PX_CASE_MAX_LANGUAGE  35
#define PX_CASE_MAX_OCCURRED  10
#define PX_CASE_MAX_LINKS     16
#define PX_CASE_MAX_LINK      2048
#define PX_CASE_MAX_LICENSE   64
#define PX_RETRACT_MAX_REASON 1000

enum px_record_type {
    PX_RECORD_CASE = 1,
    PX_RECORD_RETRACTION = 2,
};

enum px_practice {
    PX_PRACTICE_GOOD = 1,
    PX_PRACTICE_BAD = 2,
};

/* A borrowed string slice. len 0 with any p means "absent" for optional fields. */
struct px_str {
    const char *p;
    uint32_t len;
};

struct px_case {
    enum px_practice practice;                  /* required */
    struct px_str title;                        /* required, one line */
    struct px_str summary;                      /* required, may span lines */
    struct px_str body;                         /* optional, Markdown */
    struct px_str lessons[PX_CASE_MAX_LESSONS]; /* optional, each one line, in order */
    uint32_t n_lessons;
    struct px_str tags[PX_CASE_MAX_TAGS]; /* optional, sorted bytewise and unique */
    uint32_t n_tags;
    struct px_str sector;                   /* optional token */
    struct px_str region;                   /* optional ISO 3166-1 alpha-2 or ISO 3166-2 code */
    struct px_str language;                 /* required BCP 47 tag */
    struct px_str occurred;                 /* optional YYYY, YYYY-MM or YYYY-MM-DD */
    struct px_str links[PX_CASE_MAX_LINKS]; /* optional http(s) URLs, in order */
    uint32_t n_links;
    struct px_str license; /* required SPDX license identifier */
    bool has_supersedes;
    uint8_t supersedes[PX_ID_BYTES]; /* the id of the case this one corrects */
};

struct px_retraction {
    uint8_t target[PX_ID_BYTES]; /* the id of the retracted record */
    struct px_str reason;        /* required, may span lines */
};

struct px_record {
    uint32_t version; /* PX_RECORD_VERSION */
    enum px_record_type type;
    uint8_t author[PX_SIGN_PUBLICKEYBYTES];
    uint64_t created;        /* publication time, ms since the Unix epoch */
    struct px_case cs;       /* when type == PX_RECORD_CASE */
    struct px_retraction rt; /* when type == PX_RECORD_RETRACTION */
    uint8_t sig[PX_SIGN_BYTES];
    /* Set by px_record_decode and px_record_sign: */
    uint8_t id[PX_ID_BYTES];
    const uint8_t *signed_bytes; /* borrowed: the start of the encoded record */
    size_t signed_len;
    size_t len; /* the whole encoded record, signature included */
};

/* Sets a record to the empty value of the given type, version PX_RECORD_VERSION. */
void px_record_init(struct px_record *rec, enum px_record_type type);

/*
 * Checks every field of rec (types, caps, the rules in docs/records.md) without encoding.
 * Returns 0 or the first problem: PX_EMISSING, PX_ETOOBIG, PX_EVALUE, PX_EUTF8, ...;
 * *field (if not NULL) is set to the name of the field at fault, static storage.
 */
int px_record_validate(const struct px_record *rec, const char **field);

/*
 * Encodes rec, signs it with id (which becomes the author), and writes the record to
 * out[0..cap). On success *len is its size, rec->author, sig, id, signed_bytes (into out),
 * signed_len and len are set. rec->created must already hold the publication time.
 * Returns 0, a validation error, or PX_ETOOBIG (over PX_RECORD_MAX or over cap).
 */
int px_record_sign(struct px_record *rec, const struct px_identity *id, uint8_t *out, size_t cap,
                   size_t *len, const char **field);

/*
 * Encodes rec as it stands, with rec->author and rec->sig as given (no signing), into
 * out[0..cap) and sets *len. For tools and tests that build records field by field, for
 * example forgeries; px_record_sign is what publishing uses. Sets rec->signed_bytes,
 * signed_len, len and id. Returns 0, a validation error, or PX_ETOOBIG.
 */
int px_record_encode(struct px_record *rec, uint8_t *out, size_t cap, size_t *len,
                     const char **field);

/*
 * Decodes exactly one record filling p[0..len), strictly: the bounded walker first, then
 * every field and rule, then a re-encoding that must reproduce the bytes exactly. Sets
 * rec->id. Does NOT check the signature (px_record_verify) or the clock
 * (px_record_check_created). Strings in rec borrow p.
 * Returns 0 or: PX_ETRUNC, PX_ETOOBIG, PX_ECOUNT, PX_EDEPTH, PX_ENONCANON, PX_EFLOAT,
 * PX_EEXT, PX_EUTF8, PX_ETYPE, PX_EKEYORDER, PX_EDUPKEY, PX_EUNKNOWN, PX_EMISSING,
 * PX_EVALUE, PX_EVERSION, PX_ETOOOLD, PX_ETRAILING. *field names the field at fault
 * when one is known, else it is set to NULL (field may be NULL).
 */
int px_record_decode(const uint8_t *p, size_t len, struct px_record *rec, const char **field);

/*
 * As px_record_decode for the first record of a stream of concatenated records: *used is
 * set to its size, and bytes after it are left alone.
 */
int px_record_decode_prefix(const uint8_t *p, size_t len, size_t *used, struct px_record *rec,
                            const char **field);

/*
 * The payload alone: the msgpack map of a case or a retraction, as the local API carries
 * it before the daemon adds author, time and signature. Encode validates the payload
 * fields (not version, author or created) and writes the map; decode reads one map
 * filling p[0..len) exactly (walker first, re-encode comparison last) into rec->cs or
 * rec->rt, leaving the envelope fields of rec alone. Errors as for px_record_decode.
 */
int px_record_encode_payload(const struct px_record *rec, uint8_t *out, size_t cap, size_t *len,
                             const char **field);
int px_record_decode_payload(enum px_record_type type, const uint8_t *p, size_t len,
                             struct px_record *rec, const char **field);

/* Verifies a decoded record's signature over its signed bytes: 0 or PX_EBADSIG. */
int px_record_verify(const struct px_record *rec);

/*
 * The clock rule: PX_EFUTURE when rec->created is more than max_skew_ms after now_ms.
 * Reading the clock is the caller's business.
 */
int px_record_check_created(const struct px_record *rec, uint64_t now_ms, uint64_t max_skew_ms);

/*
 * Sorts c->tags bytewise and drops duplicates, so that a tag set given in any order
 * encodes canonically. Only the slices move.
 */
void px_case_sort_tags(struct px_case *c);

/* "good"/"bad" <-> enum px_practice. Parse returns PX_EVALUE for anything else. */
const char *px_practice_name(enum px_practice p);
int px_practice_parse(const char *s, size_t len, enum px_practice *out);

/* "case"/"retraction", or "unknown". */
const char *px_record_type_name(enum px_record_type t);

#endif
