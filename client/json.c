/* SPDX-License-Identifier: MIT */
/* json.c - the JSON form of a record; see json.h and docs/json.md. */
#include "json.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/buf.h"
#include "protocol/err.h"
#include "term.h"

#define STR_(x) #x
#define STR(x)  STR_(x)

enum field_kind {
    F_TYPE,     /* "type": read before everything else */
    F_PRACTICE, /* "good" or "bad" */
    F_TEXT,     /* one string */
    F_LIST,     /* an array of strings */
    F_ID,       /* a record id as 64 hex digits */
};

/* One key of the JSON form and where its value goes in struct px_record. */
struct field {
    const char *name;
    enum field_kind kind;
    size_t off;     /* F_TEXT: the px_str; F_LIST: the first px_str; F_ID: the id bytes */
    size_t aux_off; /* F_LIST: the uint32_t count; F_ID: a bool "present" flag, or 0 */
    uint32_t max;   /* F_LIST: how many strings fit */
};

#define TEXT(name, member)                                     \
    {                                                          \
        name, F_TEXT, offsetof(struct px_record, member), 0, 0 \
    }
#define LIST(name, member, count, max)                                                           \
    {                                                                                            \
        name, F_LIST, offsetof(struct px_record, member), offsetof(struct px_record, count), max \
    }

/* In the order of docs/json.md, which is also the order of px_json_from_record. */
static const struct field case_fields[] = {
    {"type", F_TYPE, 0, 0, 0},
    {"practice", F_PRACTICE, 0, 0, 0},
    TEXT("title", cs.title),
    TEXT("summary", cs.summary),
    TEXT("body", cs.body),
    LIST("lessons", cs.lessons, cs.n_lessons, PX_CASE_MAX_LESSONS),
    LIST("tags", cs.tags, cs.n_tags, PX_CASE_MAX_TAGS),
    TEXT("sector", cs.sector),
    TEXT("region", cs.region),
    TEXT("language", cs.language),
    TEXT("occurred", cs.occurred),
    LIST("links", cs.links, cs.n_links, PX_CASE_MAX_LINKS),
    TEXT("license", cs.license),
    {"supersedes", F_ID, offsetof(struct px_record, cs.supersedes),
     offsetof(struct px_record, cs.has_supersedes), 0},
};

static const struct field retraction_fields[] = {
    {"type", F_TYPE, 0, 0, 0},
    {"target", F_ID, offsetof(struct px_record, rt.target), 0, 0},
    TEXT("reason", rt.reason),
};

#define N_CASE_FIELDS       (sizeof(case_fields) / sizeof(case_fields[0]))
#define N_RETRACTION_FIELDS (sizeof(retraction_fields) / sizeof(retraction_fields[0]))

/* What a valid value looks like, for the errors where the code alone does not say. */
struct hint {
    const char *field;
    int code;
    const char *text;
};

static const struct hint hints[] = {
    {"type", PX_EVALUE, "expected \"case\" or \"retraction\""},
    {"practice", PX_EVALUE, "expected \"good\" or \"bad\""},
    {"title", PX_EVALUE, "one line without control characters"},
    {"title", PX_ETOOBIG, "at most " STR(PX_CASE_MAX_TITLE) " bytes"},
    {"summary", PX_EVALUE, "no control characters except newline and tab"},
    {"summary", PX_ETOOBIG, "at most " STR(PX_CASE_MAX_SUMMARY) " bytes"},
    {"body", PX_EVALUE, "no control characters except newline and tab"},
    {"body", PX_ETOOBIG, "at most " STR(PX_CASE_MAX_BODY) " bytes"},
    {"lessons", PX_EVALUE, "each lesson is one non-empty line without control characters"},
    {"lessons", PX_ETOOBIG,
     "at most " STR(PX_CASE_MAX_LESSONS) " lessons of at most " STR(PX_CASE_MAX_LESSON) " bytes"},
    {"tags", PX_EVALUE,
     "each tag is non-empty, lowercase, without spaces or commas, and does "
     "not start with '-'"},
    {"tags", PX_ETOOBIG,
     "at most " STR(PX_CASE_MAX_TAGS) " tags of at most " STR(PX_CASE_MAX_TAG) " bytes"},
    {"sector", PX_EVALUE, "lowercase, without spaces or commas, not starting with '-'"},
    {"sector", PX_ETOOBIG, "at most " STR(PX_CASE_MAX_SECTOR) " bytes"},
    {"region", PX_EVALUE, "an ISO 3166 code such as \"KE\" or \"GB-ENG\""},
    {"region", PX_ETOOBIG, "an ISO 3166 code such as \"KE\" or \"GB-ENG\""},
    {"language", PX_EVALUE, "a BCP 47 tag such as \"en\" or \"pt-BR\""},
    {"language", PX_ETOOBIG, "a BCP 47 tag such as \"en\" or \"pt-BR\""},
    {"occurred", PX_EVALUE, "a date: YYYY, YYYY-MM or YYYY-MM-DD"},
    {"occurred", PX_ETOOBIG, "a date: YYYY, YYYY-MM or YYYY-MM-DD"},
    {"links", PX_EVALUE, "http:// or https:// URLs without spaces"},
    {"links", PX_ETOOBIG,
     "at most " STR(PX_CASE_MAX_LINKS) " links of at most " STR(PX_CASE_MAX_LINK) " bytes"},
    {"license", PX_EVALUE, "an SPDX license identifier such as \"CC-BY-4.0\""},
    {"license", PX_ETOOBIG, "an SPDX license identifier such as \"CC-BY-4.0\""},
    {"supersedes", PX_EVALUE, "expected a record id: 64 hex digits"},
    {"target", PX_EVALUE, "expected a record id: 64 hex digits"},
    {"reason", PX_EVALUE, "no control characters except newline and tab"},
    {"reason", PX_ETOOBIG, "at most " STR(PX_RETRACT_MAX_REASON) " bytes"},
    {"created", PX_ETOOOLD,
     "milliseconds since the Unix epoch, at least 1577836800000 = 2020-01-01"},
    {"created", PX_EVALUE, "milliseconds since the Unix epoch, up to the year 9999"},
    {"record", PX_ETOOBIG, "the signed record must fit in " STR(PX_RECORD_MAX) " bytes"},
};

static const char *
find_hint(const char *field, int code)
{
    if (field == NULL) {
        return NULL;
    }
    for (size_t i = 0; i < sizeof(hints) / sizeof(hints[0]); i++) {
        if (hints[i].code == code && strcmp(hints[i].field, field) == 0) {
            return hints[i].text;
        }
    }
    return NULL;
}

static int
fail(struct px_json_error *err, int code, const char *field, const char *hint)
{
    err->code = code;
    snprintf(err->field, sizeof(err->field), "%s", field != NULL ? field : "");
    err->hint = hint;
    return code;
}

void
px_json_error_set(struct px_json_error *err, int code, const char *field)
{
    fail(err, code, field, find_hint(field, code));
}

void
px_json_error_format(const struct px_json_error *err, char *out, size_t cap)
{
    /* Each byte of the field may grow to a four-byte escape. */
    char field[PX_JSON_FIELD_MAX * 4 + 4];
    const char *msg = px_strerror(err->code);

    if (err->field[0] == '\0') {
        snprintf(out, cap, "%s%s%s%s", msg, err->hint != NULL ? " (" : "",
                 err->hint != NULL ? err->hint : "", err->hint != NULL ? ")" : "");
        return;
    }
    px_term_escape(err->field, strlen(err->field), field, sizeof(field));
    snprintf(out, cap, "field \"%s\": %s%s%s%s", field, msg, err->hint != NULL ? " (" : "",
             err->hint != NULL ? err->hint : "", err->hint != NULL ? ")" : "");
}

/* ---- JSON -> record ---- */

static bool
is_trim_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/*
 * Borrows a JSON string into *out, trimmed. A string holding NUL is refused: the record
 * could carry it, but no C string handling downstream could show it faithfully.
 */
static int
get_text(const json_t *v, const char *name, struct px_str *out, struct px_json_error *err)
{
    const char *s;
    size_t len;

    if (!json_is_string(v)) {
        return fail(err, PX_ETYPE, name, "expected a string");
    }
    s = json_string_value(v);
    len = json_string_length(v);
    if (memchr(s, '\0', len) != NULL) {
        return fail(err, PX_EVALUE, name, "the string holds a NUL character, \\u0000");
    }
    /* Nothing this long fits in a record; checking here also keeps len within uint32_t. */
    if (len > PX_RECORD_MAX) {
        return fail(err, PX_ETOOBIG, name, find_hint(name, PX_ETOOBIG));
    }
    while (len > 0 && is_trim_space(s[0])) {
        s++;
        len--;
    }
    while (len > 0 && is_trim_space(s[len - 1])) {
        len--;
    }
    out->p = s;
    out->len = (uint32_t)len;
    return 0;
}

static int
get_list(const json_t *v, const struct field *f, struct px_record *rec, struct px_json_error *err)
{
    struct px_str *list = (struct px_str *)((char *)rec + f->off);
    uint32_t *count = (uint32_t *)((char *)rec + f->aux_off);
    size_t n;
    int rc;

    if (!json_is_array(v)) {
        return fail(err, PX_ETYPE, f->name, "expected an array of strings");
    }
    n = json_array_size(v);
    if (n > f->max) {
        return fail(err, PX_ETOOBIG, f->name, find_hint(f->name, PX_ETOOBIG));
    }
    for (size_t i = 0; i < n; i++) {
        char name[PX_JSON_FIELD_MAX];

        snprintf(name, sizeof(name), "%s[%zu]", f->name, i);
        if ((rc = get_text(json_array_get(v, i), name, &list[i], err)) != 0) {
            if (rc == PX_ETYPE) {
                err->hint = "expected an array of strings";
            }
            return rc;
        }
    }
    *count = (uint32_t)n;
    return 0;
}

static int
get_id(const json_t *v, const struct field *f, struct px_record *rec, struct px_json_error *err)
{
    struct px_str s;
    int rc;

    if ((rc = get_text(v, f->name, &s, err)) != 0) {
        return rc;
    }
    if (s.len == 0) {
        return 0; /* empty is absent, as for every optional field */
    }
    if (px_hex_decode(s.p, s.len, (uint8_t *)rec + f->off, PX_ID_BYTES) != 0) {
        return fail(err, PX_EVALUE, f->name, find_hint(f->name, PX_EVALUE));
    }
    if (f->aux_off != 0) {
        *(bool *)((char *)rec + f->aux_off) = true;
    }
    return 0;
}

static int
get_field(const json_t *v, const struct field *f, struct px_record *rec, struct px_json_error *err)
{
    struct px_str s;
    int rc;

    switch (f->kind) {
    case F_TYPE:
        return 0;
    case F_PRACTICE:
        if ((rc = get_text(v, f->name, &s, err)) != 0) {
            return rc;
        }
        /* Empty counts as absent, which validation reports as missing. */
        if (s.len > 0 && px_practice_parse(s.p, s.len, &rec->cs.practice) != 0) {
            return fail(err, PX_EVALUE, f->name, find_hint(f->name, PX_EVALUE));
        }
        return 0;
    case F_TEXT:
        return get_text(v, f->name, (struct px_str *)((char *)rec + f->off), err);
    case F_LIST:
        return get_list(v, f, rec, err);
    case F_ID:
        return get_id(v, f, rec, err);
    }
    return fail(err, PX_EINVAL, f->name, NULL);
}

static const struct field *
find_field(const struct field *fields, size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(fields[i].name, key) == 0) {
            return &fields[i];
        }
    }
    return NULL;
}

/* Reads "type" (default "case"). */
static int
get_type(json_t *obj, enum px_record_type *type, struct px_json_error *err)
{
    const json_t *v = json_object_get(obj, "type");
    struct px_str s;
    int rc;

    *type = PX_RECORD_CASE;
    if (v == NULL) {
        return 0;
    }
    if ((rc = get_text(v, "type", &s, err)) != 0) {
        return rc;
    }
    if (s.len == 4 && memcmp(s.p, "case", 4) == 0) {
        return 0;
    }
    if (s.len == 10 && memcmp(s.p, "retraction", 10) == 0) {
        *type = PX_RECORD_RETRACTION;
        return 0;
    }
    return fail(err, PX_EVALUE, "type", find_hint("type", PX_EVALUE));
}

int
px_json_to_record(json_t *obj, struct px_record *rec, struct px_json_error *err)
{
    enum px_record_type type;
    const struct field *fields;
    size_t n_fields;
    const char *key;
    json_t *v;
    int rc;

    memset(err, 0, sizeof(*err));
    px_record_init(rec, PX_RECORD_CASE);
    if (!json_is_object(obj)) {
        return fail(err, PX_ETYPE, NULL, "expected a JSON object");
    }
    if ((rc = get_type(obj, &type, err)) != 0) {
        return rc;
    }
    px_record_init(rec, type);
    fields = type == PX_RECORD_CASE ? case_fields : retraction_fields;
    n_fields = type == PX_RECORD_CASE ? N_CASE_FIELDS : N_RETRACTION_FIELDS;
    /* Keys in the order they were written, so the first problem in the input is reported. */
    json_object_foreach(obj, key, v)
    {
        const struct field *f = find_field(fields, n_fields, key);

        if (f == NULL) {
            return fail(err, PX_EUNKNOWN, key,
                        type == PX_RECORD_CASE ? "not a field of a case, see docs/json.md"
                                               : "not a field of a retraction, see docs/json.md");
        }
        if ((rc = get_field(v, f, rec, err)) != 0) {
            return rc;
        }
    }
    if (type == PX_RECORD_RETRACTION) {
        /* The target is bytes, which px_record_validate cannot see as absent. */
        struct px_str s;

        v = json_object_get(obj, "target");
        if (v == NULL || get_text(v, "target", &s, err) != 0 || s.len == 0) {
            return fail(err, PX_EMISSING, "target", NULL);
        }
    } else {
        px_case_sort_tags(&rec->cs);
    }
    return 0;
}

/*
 * The bytes a record adds around its payload when praxisd signs it: the array header,
 * version and type (one byte each), the author (bin8: 2 + 32), created (uint64: 9, as
 * every allowed time is over 2^32 ms) and the signature element. A payload over
 * PX_RECORD_MAX - ENVELOPE_BYTES encodes, but no record can hold it.
 */
#define ENVELOPE_BYTES (3 + 2 + PX_SIGN_PUBLICKEYBYTES + 9 + PX_RECORD_SIG_LEN)

int
px_json_encode_payload(json_t *obj, struct px_record *rec, uint8_t *out, size_t cap, size_t *len,
                       struct px_json_error *err)
{
    const char *field = NULL;
    int rc;

    if ((rc = px_json_to_record(obj, rec, err)) != 0) {
        return rc;
    }
    /* rec borrows obj's strings, which the caller keeps alive. */
    if ((rc = px_record_encode_payload(rec, out, cap, len, &field)) != 0) {
        px_json_error_set(err, rc, field);
        return rc;
    }
    /* Refused here, before anything is sent, rather than by praxisd when it signs. */
    if (*len > PX_RECORD_MAX - ENVELOPE_BYTES) {
        px_json_error_set(err, PX_ETOOBIG, "record");
        return PX_ETOOBIG;
    }
    return 0;
}

/* ---- record -> JSON ---- */

static json_t *
json_str(struct px_str s)
{
    return json_stringn(s.p, s.len);
}

static json_t *
json_hex(const uint8_t *b, size_t n)
{
    char hex[2 * PX_ID_BYTES + 1];

    if (n > PX_ID_BYTES) {
        return NULL;
    }
    px_hex_encode(b, n, hex);
    return json_string(hex);
}

static json_t *
json_list(const struct px_str *list, uint32_t n)
{
    json_t *a = json_array();

    for (uint32_t i = 0; a != NULL && i < n; i++) {
        if (json_array_append_new(a, json_str(list[i])) != 0) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

/* json_object_set_new takes v even when it fails (and fails on a NULL v): 0 or -1. */
static int
add(json_t *o, const char *key, json_t *v)
{
    return json_object_set_new(o, key, v) == 0 ? 0 : -1;
}

static int
add_case(json_t *o, const struct px_case *c)
{
    int rc = 0;

    rc |= add(o, "practice", json_string(px_practice_name(c->practice)));
    rc |= add(o, "title", json_str(c->title));
    rc |= add(o, "summary", json_str(c->summary));
    if (c->body.len > 0) {
        rc |= add(o, "body", json_str(c->body));
    }
    if (c->n_lessons > 0) {
        rc |= add(o, "lessons", json_list(c->lessons, c->n_lessons));
    }
    if (c->n_tags > 0) {
        rc |= add(o, "tags", json_list(c->tags, c->n_tags));
    }
    if (c->sector.len > 0) {
        rc |= add(o, "sector", json_str(c->sector));
    }
    if (c->region.len > 0) {
        rc |= add(o, "region", json_str(c->region));
    }
    rc |= add(o, "language", json_str(c->language));
    if (c->occurred.len > 0) {
        rc |= add(o, "occurred", json_str(c->occurred));
    }
    if (c->n_links > 0) {
        rc |= add(o, "links", json_list(c->links, c->n_links));
    }
    rc |= add(o, "license", json_str(c->license));
    if (c->has_supersedes) {
        rc |= add(o, "supersedes", json_hex(c->supersedes, PX_ID_BYTES));
    }
    return rc;
}

json_t *
px_json_from_record(const struct px_record *rec)
{
    json_t *o = json_object();
    int rc = 0;

    if (o == NULL) {
        return NULL;
    }
    rc |= add(o, "id", json_hex(rec->id, PX_ID_BYTES));
    rc |= add(o, "type", json_string(px_record_type_name(rec->type)));
    rc |= add(o, "author", json_hex(rec->author, sizeof(rec->author)));
    rc |= add(o, "created", json_integer((json_int_t)rec->created));
    if (rec->type == PX_RECORD_CASE) {
        rc |= add_case(o, &rec->cs);
    } else {
        rc |= add(o, "target", json_hex(rec->rt.target, PX_ID_BYTES));
        rc |= add(o, "reason", json_str(rec->rt.reason));
    }
    if (rc != 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* ---- Export lines ---- */

char *
px_json_export_line(const struct px_record *rec, char *hex)
{
    json_t *form = px_json_from_record(rec);
    json_t *o = json_object();
    static const char *const envelope[] = {"id", "type", "author", "created"};
    const char *key;
    json_t *v;
    char *text = NULL;
    int rc = form == NULL || o == NULL ? -1 : 0;

    for (size_t i = 0; rc == 0 && i < sizeof(envelope) / sizeof(envelope[0]); i++) {
        rc = json_object_set(o, envelope[i], json_object_get(form, envelope[i]));
    }
    if (rc == 0) {
        px_hex_encode(rec->signed_bytes, rec->len, hex);
        rc = json_object_set_new(o, "raw", json_string(hex));
    }
    if (rc == 0) {
        json_object_foreach(form, key, v)
        {
            if (json_object_get(o, key) == NULL && json_object_set(o, key, v) != 0) {
                rc = -1;
                break;
            }
        }
    }
    if (rc == 0) {
        text = json_dumps(o, JSON_COMPACT);
    }
    json_decref(form);
    json_decref(o);
    return text;
}

int
px_json_import_line(const uint8_t *p, size_t len, uint8_t **raw, size_t *raw_len, char *msg,
                    size_t cap)
{
    json_error_t jerr;
    json_t *obj, *v;
    const char *hex;
    size_t hex_len, rec_len;
    char text[sizeof(jerr.text) * 4];
    uint8_t *rec;

    *raw = NULL;
    *raw_len = 0;
    obj = json_loadb((const char *)p, len, JSON_REJECT_DUPLICATES, &jerr);
    if (obj == NULL) {
        px_term_escape(jerr.text, strlen(jerr.text), text, sizeof(text));
        snprintf(msg, cap, "invalid JSON: %s", text);
        return PX_EINVAL;
    }
    v = json_object_get(obj, "raw");
    if (!json_is_object(obj) || !json_is_string(v)) {
        json_decref(obj);
        snprintf(msg, cap, "no \"raw\" string: not an export line");
        return PX_EINVAL;
    }
    hex = json_string_value(v);
    hex_len = json_string_length(v);
    if (hex_len == 0 || hex_len % 2 != 0 || hex_len > 2 * (size_t)PX_RECORD_MAX) {
        json_decref(obj);
        snprintf(msg, cap, "%s",
                 hex_len > 2 * (size_t)PX_RECORD_MAX
                     ? "\"raw\" is longer than a record can be"
                     : "\"raw\" is not hex: it must be an even number of hex digits");
        return PX_EINVAL;
    }
    rec_len = hex_len / 2;
    if ((rec = malloc(rec_len)) == NULL) {
        json_decref(obj);
        return PX_ENOMEM;
    }
    if (px_hex_decode(hex, hex_len, rec, rec_len) != 0) {
        free(rec);
        json_decref(obj);
        snprintf(msg, cap, "\"raw\" is not hex");
        return PX_EINVAL;
    }
    json_decref(obj);
    *raw = rec;
    *raw_len = rec_len;
    return 0;
}

/* ---- Streams of JSON values ---- */

static bool
is_json_space(uint8_t c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static size_t
skip_space(const uint8_t *p, size_t len, size_t off)
{
    while (off < len && is_json_space(p[off])) {
        off++;
    }
    return off;
}

/* Moves pos on to to (>= pos->off), counting the lines it passes. */
static void
advance(const uint8_t *p, struct px_json_pos *pos, size_t to)
{
    if (pos->line == 0) {
        pos->line = 1;
    }
    for (size_t i = pos->off; i < to; i++) {
        if (p[i] == '\n') {
            pos->line++;
            pos->line_start = i + 1;
        }
    }
    pos->off = to;
}

int
px_json_next(const uint8_t *in, size_t len, struct px_json_pos *pos, json_t **obj, size_t *line,
             char *msg, size_t cap)
{
    json_error_t jerr;
    char text[sizeof(jerr.text) * 4];
    size_t col;

    /* A byte order mark, as some editors write, is not part of the JSON text. */
    if (pos->off == 0 && len >= 3 && memcmp(in, "\xef\xbb\xbf", 3) == 0) {
        advance(in, pos, 3);
    }
    advance(in, pos, skip_space(in, len, pos->off));
    if (pos->off >= len) {
        return 0;
    }
    *line = pos->line;
    col = pos->off - pos->line_start;
    *obj = json_loadb((const char *)in + pos->off, len - pos->off,
                      JSON_DISABLE_EOF_CHECK | JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);
    if (*obj == NULL) {
        px_term_escape(jerr.text, strlen(jerr.text), text, sizeof(text));
        if (jerr.line > 0) {
            snprintf(msg, cap, "invalid JSON at line %zu, column %zu: %s",
                     *line + (size_t)jerr.line - 1,
                     jerr.line == 1 ? col + (size_t)jerr.column : (size_t)jerr.column, text);
        } else {
            snprintf(msg, cap, "invalid JSON: %s", text);
        }
        return -1;
    }
    advance(in, pos, skip_space(in, len, pos->off + (size_t)jerr.position));
    return 1;
}
