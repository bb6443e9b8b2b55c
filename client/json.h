/* SPDX-License-Identifier: MIT */
/*
 * json.h - the JSON form of a record (docs/json.md) <-> struct px_record.
 *
 * `praxis sign` reads this form and `praxis inspect --json` writes it; `publish --json`
 * and `import` are meant to reuse it. The conversion is strict: an unknown key or a value
 * of the wrong JSON type is an error naming the key. User data is not rewritten, except
 * that leading and trailing white space is trimmed from every string and tags are sorted
 * and deduplicated (px_case_sort_tags), because the record has one canonical encoding.
 * The field rules themselves (caps, formats) are px_record_validate's business.
 */
#ifndef PX_JSON_H
#define PX_JSON_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "protocol/record.h"

/* Longest key kept in a struct px_json_error; longer ones are cut. */
#define PX_JSON_FIELD_MAX 64

/* Why a conversion or a signing failed, for one clear line of output. */
struct px_json_error {
    int code;                      /* a PX_E* code */
    char field[PX_JSON_FIELD_MAX]; /* the key at fault as given, or "": untrusted text */
    const char *hint;              /* static: what a valid value looks like, or NULL */
};

/*
 * Fills rec from the JSON object obj (the form in docs/json.md). rec->created is left 0:
 * the caller sets it before px_record_sign, which then validates every field.
 * The strings in rec BORROW obj's strings: keep obj alive (do not json_decref it) until
 * rec has been encoded. Returns 0, or a PX_E* code with err filled in: PX_ETYPE (a value
 * of the wrong JSON type), PX_EUNKNOWN (an unknown key), PX_EMISSING (no target in a
 * retraction), PX_EVALUE (a bad type, practice or hex id, or a string holding NUL),
 * PX_ETOOBIG (a list or string too long to hold).
 */
int px_json_to_record(json_t *obj, struct px_record *rec, struct px_json_error *err);

/*
 * Fills err for the error code and field name that px_record_validate, px_record_sign or
 * px_record_decode reported (field may be NULL), with a hint for the field when one helps.
 */
void px_json_error_set(struct px_json_error *err, int code, const char *field);

/*
 * Writes err as one line into out[0..cap), NUL-terminated, e.g.
 *   field "title": required field missing
 *   field "practice": field value not allowed (expected "good" or "bad")
 * The field name is escaped (term.h), so the line is safe to print.
 */
void px_json_error_format(const struct px_json_error *err, char *out, size_t cap);

/*
 * Builds the JSON form of a decoded or signed record: "id", "type", "author", "created",
 * then the payload fields flattened beside them, in the order of docs/json.md. Returns a
 * new reference the caller releases with json_decref, or NULL when out of memory.
 */
json_t *px_json_from_record(const struct px_record *rec);

/*
 * What `publish --json` and `correct` send: px_json_to_record on obj, then the payload
 * encoded (px_record_encode_payload) into out[0..cap) with its size in *len. rec borrows
 * obj's strings as for px_json_to_record. Returns 0, or a PX_E* code with err filled in
 * (px_json_to_record's codes, px_record_encode_payload's with the field at fault, and
 * PX_ETOOBIG for field "record" when the payload fits PX_RECORD_MAX but the signed record
 * praxisd would make of it does not).
 */
int px_json_encode_payload(json_t *obj, struct px_record *rec, uint8_t *out, size_t cap,
                           size_t *len, struct px_json_error *err);

/*
 * One line of `praxis export` for a decoded or signed record: the JSON form with "raw",
 * the whole record in lowercase hex, after the envelope keys (docs/json.md, "Export and
 * import"), compact, without a newline. hex is scratch space of at least 2 * rec->len + 1
 * bytes. Returns text to free(), or NULL when out of memory.
 */
char *px_json_export_line(const struct px_record *rec, char *hex);

/*
 * Takes the signed record out of one line of an export file, as `praxis import` does:
 * p[0..len) must be a JSON object with a "raw" string of an even number (2 to
 * 2 * PX_RECORD_MAX) of hex digits; every other key is ignored, and the bytes are not
 * decoded or verified here (praxisd does that). Returns 0 with *raw (malloc'd, the
 * caller frees it) and *raw_len; PX_EINVAL with why the line is refused in msg[0..cap)
 * (one line, escaped, safe to print; PX_JSON_IMPORT_MSG_MAX bytes hold any); or PX_ENOMEM.
 */
#define PX_JSON_IMPORT_MSG_MAX (JSON_ERROR_TEXT_LENGTH * 4 + 32) /* room for any such msg */
int px_json_import_line(const uint8_t *p, size_t len, uint8_t **raw, size_t *raw_len, char *msg,
                        size_t cap);

/*
 * Reads the next JSON value of a stream of them: one object, or several one after the
 * other (JSON Lines, or pretty-printed objects). A byte order mark at the start and white
 * space between values are skipped. Duplicate keys are refused; NUL inside strings is let
 * through so that px_json_to_record can name the field that holds it.
 * Returns 1 with *obj (a new reference, json_decref it) and *line, the 1-based line on
 * which the value starts; 0 at the end of the input; -1 when the input is not JSON, with
 * msg[0..cap) set to "invalid JSON at line L, column C: ..." (escaped, safe to print).
 * pos is where the reading stands: zero-initialise it; pos->off is the position in
 * in[0..len). It also carries the line count, so that a stream is read in linear time.
 */
struct px_json_pos {
    size_t off;
    size_t line;       /* the line pos->off is on, 1-based; 0 before the first call */
    size_t line_start; /* where that line starts */
};

int px_json_next(const uint8_t *in, size_t len, struct px_json_pos *pos, json_t **obj, size_t *line,
                 char *msg, size_t cap);

#endif
