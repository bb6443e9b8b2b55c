/* SPDX-License-Identifier: MIT */
/* record.c - the case record codec and its field rules; see record.h, docs/records.md. */
#include "record.h"

#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "err.h"
#include "mp.h"

/* The walker's limits for a record: envelope > payload map > list is three levels. */
static const struct px_mp_limits record_limits = {
    .max_depth = PX_RECORD_MAX_DEPTH,
    .max_size = PX_RECORD_MAX,
    .max_str = PX_RECORD_MAX,
    .max_count = PX_RECORD_MAX_COUNT,
    .flags = PX_MP_STRICT,
};

/* Payload keys of a case, sorted bytewise: this is also their order on the wire. */
enum case_key {
    K_BODY,
    K_LANGUAGE,
    K_LESSONS,
    K_LICENSE,
    K_LINKS,
    K_OCCURRED,
    K_PRACTICE,
    K_REGION,
    K_SECTOR,
    K_SUMMARY,
    K_SUPERSEDES,
    K_TAGS,
    K_TITLE,
    K_CASE_COUNT
};

static const char *const case_keys[K_CASE_COUNT] = {
    "body",   "language", "lessons", "license",    "links", "occurred", "practice",
    "region", "sector",   "summary", "supersedes", "tags",  "title",
};

enum retraction_key { K_REASON, K_TARGET, K_RETRACTION_COUNT };

static const char *const retraction_keys[K_RETRACTION_COUNT] = {"reason", "target"};

/* How a text field may look. */
enum text_kind {
    TEXT_LINE,  /* one line: no control characters at all */
    TEXT_BLOCK, /* may hold \n and \t */
};

void
px_record_init(struct px_record *rec, enum px_record_type type)
{
    memset(rec, 0, sizeof(*rec));
    rec->version = PX_RECORD_VERSION;
    rec->type = type;
}

const char *
px_practice_name(enum px_practice p)
{
    switch (p) {
    case PX_PRACTICE_GOOD:
        return "good";
    case PX_PRACTICE_BAD:
        return "bad";
    }
    return "unknown";
}

int
px_practice_parse(const char *s, size_t len, enum px_practice *out)
{
    if (len == 4 && memcmp(s, "good", 4) == 0) {
        *out = PX_PRACTICE_GOOD;
        return 0;
    }
    if (len == 3 && memcmp(s, "bad", 3) == 0) {
        *out = PX_PRACTICE_BAD;
        return 0;
    }
    return PX_EVALUE;
}

const char *
px_record_type_name(enum px_record_type t)
{
    switch (t) {
    case PX_RECORD_CASE:
        return "case";
    case PX_RECORD_RETRACTION:
        return "retraction";
    }
    return "unknown";
}

/* ---- Field rules ---- */

static bool
is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n';
}

/*
 * True when one of the eight bytes in w may be below 0x20, 0x7f or 0xc2 (the bytes
 * check_text must look at). SWAR zero-byte tests: they can report a byte that is fine
 * (a borrow from a lower lane), never miss one that is not.
 */
static bool
word_needs_look(uint64_t w)
{
    const uint64_t ones = UINT64_C(0x0101010101010101);
    const uint64_t highs = UINT64_C(0x8080808080808080);
    uint64_t x7f = w ^ (ones * 0x7f), xc2 = w ^ (ones * 0xc2);

    return (((w - ones * 0x20) & ~w) | ((x7f - ones) & ~x7f) | ((xc2 - ones) & ~xc2)) & highs;
}

/*
 * Text: within its cap, valid UTF-8 (unless the walker already checked), no C0 or C1
 * control characters or DEL except \n and \t in blocks, and no leading or trailing
 * white space (so that one text has one encoding once trimmed).
 */
static int
check_text(struct px_str s, size_t max, enum text_kind kind, bool check_utf8)
{
    const uint8_t *p = (const uint8_t *)s.p;

    if (s.len == 0) {
        return PX_EVALUE;
    }
    if (s.len > max) {
        return PX_ETOOBIG;
    }
    if (check_utf8 && !px_utf8_valid(p, s.len)) {
        return PX_EUTF8;
    }
    if (is_space(s.p[0]) || is_space(s.p[s.len - 1])) {
        return PX_EVALUE;
    }
    for (uint32_t i = 0; i < s.len; i++) {
        uint8_t c;

        /* Skip eight bytes at a time while none of them needs a closer look. */
        while (s.len - i >= 8) {
            uint64_t w;

            memcpy(&w, p + i, 8);
            if (word_needs_look(w)) {
                break;
            }
            i += 8;
        }
        if (i == s.len) {
            break;
        }
        c = p[i];
        if (c >= 0x20 && c != 0x7f && c != 0xc2) {
            continue;
        }
        if (c == 0xc2) {
            /* U+0080..U+009F (C1 controls) are C2 80..C2 9F; i + 1 exists in valid UTF-8. */
            if (i + 1 < s.len && p[i + 1] < 0xa0) {
                return PX_EVALUE;
            }
            continue;
        }
        if (kind == TEXT_BLOCK && (c == '\n' || c == '\t')) {
            continue;
        }
        return PX_EVALUE;
    }
    return 0;
}

static bool
is_upper(char c)
{
    return c >= 'A' && c <= 'Z';
}

static bool
is_lower(char c)
{
    return c >= 'a' && c <= 'z';
}

static bool
is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool
is_alnum(char c)
{
    return is_upper(c) || is_lower(c) || is_digit(c);
}

/* A tag or sector: one line, no space, no ASCII capitals, no comma, not starting with '-'. */
static int
check_token(struct px_str s, size_t max, bool check_utf8)
{
    int rc = check_text(s, max, TEXT_LINE, check_utf8);

    if (rc != 0) {
        return rc;
    }
    if (s.p[0] == '-') {
        return PX_EVALUE;
    }
    for (uint32_t i = 0; i < s.len; i++) {
        if (s.p[i] == ' ' || s.p[i] == ',' || is_upper(s.p[i])) {
            return PX_EVALUE;
        }
    }
    return 0;
}

/* ISO 3166-1 alpha-2 ("KE"), or an ISO 3166-2 subdivision ("KE-30", "GB-ENG"). */
static int
check_region(struct px_str s)
{
    if (s.len > PX_CASE_MAX_REGION) {
        return PX_ETOOBIG;
    }
    if (s.len < 2 || !is_upper(s.p[0]) || !is_upper(s.p[1])) {
        return PX_EVALUE;
    }
    if (s.len == 2) {
        return 0;
    }
    if (s.len < 4 || s.p[2] != '-') {
        return PX_EVALUE;
    }
    for (uint32_t i = 3; i < s.len; i++) {
        if (!is_upper(s.p[i]) && !is_digit(s.p[i])) {
            return PX_EVALUE;
        }
    }
    return 0;
}

/*
 * A BCP 47 tag by shape: a primary language subtag of 2 to 8 lowercase letters, then
 * subtags of 1 to 8 ASCII letters or digits joined by '-'. Registry membership is not
 * checked (the registry changes; the shape does not).
 */
static int
check_language(struct px_str s)
{
    uint32_t i = 0, start = 0;

    if (s.len > PX_CASE_MAX_LANGUAGE) {
        return PX_ETOOBIG;
    }
    if (s.len == 0) {
        return PX_EVALUE;
    }
    for (;;) {
        uint32_t n;

        while (i < s.len && s.p[i] != '-') {
            bool ok = start == 0 ? is_lower(s.p[i]) : is_alnum(s.p[i]);

            if (!ok) {
                return PX_EVALUE;
            }
            i++;
        }
        n = i - start;
        if (n < (start == 0 ? 2u : 1u) || n > 8) {
            return PX_EVALUE;
        }
        if (i == s.len) {
            return 0;
        }
        start = ++i;
    }
}

static bool
parse_digits(const char *p, unsigned n, unsigned *v)
{
    *v = 0;
    for (unsigned i = 0; i < n; i++) {
        if (!is_digit(p[i])) {
            return false;
        }
        *v = *v * 10 + (unsigned)(p[i] - '0');
    }
    return true;
}

/* YYYY, YYYY-MM or YYYY-MM-DD, a real calendar date, year 1000 to 9999. */
static int
check_occurred(struct px_str s)
{
    static const unsigned mdays[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    unsigned y, m, d;

    if (s.len > PX_CASE_MAX_OCCURRED) {
        return PX_ETOOBIG;
    }
    if ((s.len != 4 && s.len != 7 && s.len != 10) || !parse_digits(s.p, 4, &y) || y < 1000) {
        return PX_EVALUE;
    }
    if (s.len == 4) {
        return 0;
    }
    if (s.p[4] != '-' || !parse_digits(s.p + 5, 2, &m) || m < 1 || m > 12) {
        return PX_EVALUE;
    }
    if (s.len == 7) {
        return 0;
    }
    if (s.p[7] != '-' || !parse_digits(s.p + 8, 2, &d) || d < 1 || d > mdays[m - 1]) {
        return PX_EVALUE;
    }
    if (m == 2 && d == 29 && !(y % 4 == 0 && (y % 100 != 0 || y % 400 == 0))) {
        return PX_EVALUE;
    }
    return 0;
}

/* An http or https URL: the scheme in lowercase, something after it, no spaces. */
static int
check_link(struct px_str s, bool check_utf8)
{
    int rc = check_text(s, PX_CASE_MAX_LINK, TEXT_LINE, check_utf8);
    size_t skip;

    if (rc != 0) {
        return rc;
    }
    if (s.len > 8 && memcmp(s.p, "https://", 8) == 0) {
        skip = 8;
    } else if (s.len > 7 && memcmp(s.p, "http://", 7) == 0) {
        skip = 7;
    } else {
        return PX_EVALUE;
    }
    for (size_t i = skip; i < s.len; i++) {
        if (s.p[i] == ' ') {
            return PX_EVALUE;
        }
    }
    return 0;
}

/* An SPDX license identifier: letters, digits, '.', '-' and '+', starting alphanumeric. */
static int
check_license(struct px_str s)
{
    if (s.len > PX_CASE_MAX_LICENSE) {
        return PX_ETOOBIG;
    }
    if (s.len == 0 || !is_alnum(s.p[0])) {
        return PX_EVALUE;
    }
    for (uint32_t i = 0; i < s.len; i++) {
        char c = s.p[i];

        if (!is_alnum(c) && c != '.' && c != '-' && c != '+') {
            return PX_EVALUE;
        }
    }
    return 0;
}

static int
compare_str(struct px_str a, struct px_str b)
{
    uint32_t n = a.len < b.len ? a.len : b.len;
    int c = n > 0 ? memcmp(a.p, b.p, n) : 0;

    if (c != 0) {
        return c;
    }
    return a.len < b.len ? -1 : (a.len > b.len ? 1 : 0);
}

/* Sets *field and returns rc when rc is an error. */
#define FAIL_IF(expr, name)  \
    do {                     \
        int rc_ = (expr);    \
        if (rc_ != 0) {      \
            *field = (name); \
            return rc_;      \
        }                    \
    } while (0)

static int
validate_case(const struct px_case *c, bool utf8, const char **field)
{
    if (c->practice != PX_PRACTICE_GOOD && c->practice != PX_PRACTICE_BAD) {
        *field = "practice";
        return c->practice == 0 ? PX_EMISSING : PX_EVALUE;
    }
    if (c->title.len == 0) {
        *field = "title";
        return PX_EMISSING;
    }
    FAIL_IF(check_text(c->title, PX_CASE_MAX_TITLE, TEXT_LINE, utf8), "title");
    if (c->summary.len == 0) {
        *field = "summary";
        return PX_EMISSING;
    }
    FAIL_IF(check_text(c->summary, PX_CASE_MAX_SUMMARY, TEXT_BLOCK, utf8), "summary");
    if (c->body.len > 0) {
        FAIL_IF(check_text(c->body, PX_CASE_MAX_BODY, TEXT_BLOCK, utf8), "body");
    }
    FAIL_IF(c->n_lessons > PX_CASE_MAX_LESSONS ? PX_ETOOBIG : 0, "lessons");
    for (uint32_t i = 0; i < c->n_lessons; i++) {
        FAIL_IF(check_text(c->lessons[i], PX_CASE_MAX_LESSON, TEXT_LINE, utf8), "lessons");
    }
    FAIL_IF(c->n_tags > PX_CASE_MAX_TAGS ? PX_ETOOBIG : 0, "tags");
    for (uint32_t i = 0; i < c->n_tags; i++) {
        FAIL_IF(check_token(c->tags[i], PX_CASE_MAX_TAG, utf8), "tags");
        /* A set has one encoding: sorted bytewise, no duplicates. */
        FAIL_IF(i > 0 && compare_str(c->tags[i - 1], c->tags[i]) >= 0 ? PX_ENONCANON : 0, "tags");
    }
    if (c->sector.len > 0) {
        FAIL_IF(check_token(c->sector, PX_CASE_MAX_SECTOR, utf8), "sector");
    }
    if (c->region.len > 0) {
        FAIL_IF(check_region(c->region), "region");
    }
    if (c->language.len == 0) {
        *field = "language";
        return PX_EMISSING;
    }
    FAIL_IF(check_language(c->language), "language");
    if (c->occurred.len > 0) {
        FAIL_IF(check_occurred(c->occurred), "occurred");
    }
    FAIL_IF(c->n_links > PX_CASE_MAX_LINKS ? PX_ETOOBIG : 0, "links");
    for (uint32_t i = 0; i < c->n_links; i++) {
        FAIL_IF(check_link(c->links[i], utf8), "links");
    }
    if (c->license.len == 0) {
        *field = "license";
        return PX_EMISSING;
    }
    FAIL_IF(check_license(c->license), "license");
    return 0;
}

static int
validate_payload(const struct px_record *rec, bool utf8, const char **field)
{
    switch (rec->type) {
    case PX_RECORD_CASE:
        return validate_case(&rec->cs, utf8, field);
    case PX_RECORD_RETRACTION:
        if (rec->rt.reason.len == 0) {
            *field = "reason";
            return PX_EMISSING;
        }
        FAIL_IF(check_text(rec->rt.reason, PX_RETRACT_MAX_REASON, TEXT_BLOCK, utf8), "reason");
        return 0;
    }
    *field = "type";
    return PX_EVALUE;
}

static int
validate(const struct px_record *rec, bool utf8, const char **field)
{
    *field = NULL;
    if (rec->version != PX_RECORD_VERSION) {
        *field = "version";
        return PX_EVERSION;
    }
    if (rec->created < PX_RECORD_MIN_CREATED) {
        *field = "created";
        return PX_ETOOOLD;
    }
    if (rec->created > PX_RECORD_MAX_CREATED) {
        *field = "created";
        return PX_EVALUE;
    }
    return validate_payload(rec, utf8, field);
}

int
px_record_validate(const struct px_record *rec, const char **field)
{
    const char *dummy;

    return validate(rec, true, field != NULL ? field : &dummy);
}

/* ---- Encoding ---- */

static int
write_key(struct px_wbuf *w, const char *key)
{
    return px_mp_write_str(w, key, strlen(key));
}

static int
write_str_list(struct px_wbuf *w, const struct px_str *list, uint32_t n)
{
    int rc = px_mp_write_array(w, n);

    for (uint32_t i = 0; rc == 0 && i < n; i++) {
        rc = px_mp_write_str(w, list[i].p, list[i].len);
    }
    return rc;
}

static int
write_case(struct px_wbuf *w, const struct px_case *c)
{
    const char *practice = px_practice_name(c->practice);
    /* Optional fields are present when non-empty; the rest always are. */
    bool present[K_CASE_COUNT] = {
        [K_BODY] = c->body.len > 0,
        [K_LANGUAGE] = true,
        [K_LESSONS] = c->n_lessons > 0,
        [K_LICENSE] = true,
        [K_LINKS] = c->n_links > 0,
        [K_OCCURRED] = c->occurred.len > 0,
        [K_PRACTICE] = true,
        [K_REGION] = c->region.len > 0,
        [K_SECTOR] = c->sector.len > 0,
        [K_SUMMARY] = true,
        [K_SUPERSEDES] = c->has_supersedes,
        [K_TAGS] = c->n_tags > 0,
        [K_TITLE] = true,
    };
    uint32_t count = 0;
    int rc;

    for (int k = 0; k < K_CASE_COUNT; k++) {
        count += present[k];
    }
    if ((rc = px_mp_write_map(w, count)) != 0) {
        return rc;
    }
    for (int k = 0; k < K_CASE_COUNT && rc == 0; k++) {
        if (!present[k]) {
            continue;
        }
        if ((rc = write_key(w, case_keys[k])) != 0) {
            break;
        }
        switch ((enum case_key)k) {
        case K_BODY:
            rc = px_mp_write_str(w, c->body.p, c->body.len);
            break;
        case K_LANGUAGE:
            rc = px_mp_write_str(w, c->language.p, c->language.len);
            break;
        case K_LESSONS:
            rc = write_str_list(w, c->lessons, c->n_lessons);
            break;
        case K_LICENSE:
            rc = px_mp_write_str(w, c->license.p, c->license.len);
            break;
        case K_LINKS:
            rc = write_str_list(w, c->links, c->n_links);
            break;
        case K_OCCURRED:
            rc = px_mp_write_str(w, c->occurred.p, c->occurred.len);
            break;
        case K_PRACTICE:
            rc = px_mp_write_str(w, practice, strlen(practice));
            break;
        case K_REGION:
            rc = px_mp_write_str(w, c->region.p, c->region.len);
            break;
        case K_SECTOR:
            rc = px_mp_write_str(w, c->sector.p, c->sector.len);
            break;
        case K_SUMMARY:
            rc = px_mp_write_str(w, c->summary.p, c->summary.len);
            break;
        case K_SUPERSEDES:
            rc = px_mp_write_bin(w, c->supersedes, PX_ID_BYTES);
            break;
        case K_TAGS:
            rc = write_str_list(w, c->tags, c->n_tags);
            break;
        case K_TITLE:
            rc = px_mp_write_str(w, c->title.p, c->title.len);
            break;
        case K_CASE_COUNT:
            break;
        }
    }
    return rc;
}

static int
write_retraction(struct px_wbuf *w, const struct px_retraction *r)
{
    int rc = px_mp_write_map(w, 2);

    rc = rc != 0 ? rc : write_key(w, retraction_keys[K_REASON]);
    rc = rc != 0 ? rc : px_mp_write_str(w, r->reason.p, r->reason.len);
    rc = rc != 0 ? rc : write_key(w, retraction_keys[K_TARGET]);
    rc = rc != 0 ? rc : px_mp_write_bin(w, r->target, PX_ID_BYTES);
    return rc;
}

static int
write_payload(struct px_wbuf *w, const struct px_record *rec)
{
    return rec->type == PX_RECORD_CASE ? write_case(w, &rec->cs) : write_retraction(w, &rec->rt);
}

/* Writes the signed part: the array header and the first five elements. */
static int
write_signed(struct px_wbuf *w, const struct px_record *rec)
{
    int rc = px_mp_write_array(w, 6);

    rc = rc != 0 ? rc : px_mp_write_uint(w, rec->version);
    rc = rc != 0 ? rc : px_mp_write_uint(w, (uint64_t)rec->type);
    rc = rc != 0 ? rc : px_mp_write_bin(w, rec->author, sizeof(rec->author));
    rc = rc != 0 ? rc : px_mp_write_uint(w, rec->created);
    if (rc != 0) {
        return rc;
    }
    return write_payload(w, rec);
}

/* Encodes the signed part into out; the signature element is left to the caller. */
static int
encode_signed(struct px_record *rec, struct px_wbuf *w, uint8_t *out, size_t cap,
              const char **field)
{
    int rc;

    if ((rc = validate(rec, true, field)) != 0) {
        return rc;
    }
    if (cap > PX_RECORD_MAX) {
        cap = PX_RECORD_MAX;
    }
    px_wbuf_init(w, out, cap);
    if (cap < PX_RECORD_SIG_LEN || write_signed(w, rec) != 0 || w->len > cap - PX_RECORD_SIG_LEN) {
        *field = "record";
        return PX_ETOOBIG;
    }
    rec->signed_bytes = out;
    rec->signed_len = w->len;
    return 0;
}

/* Appends the signature element and fills in the id and lengths. */
static int
finish_record(struct px_record *rec, struct px_wbuf *w, size_t *len)
{
    int rc = px_mp_write_bin(w, rec->sig, sizeof(rec->sig));

    if (rc != 0) {
        return rc;
    }
    px_record_id_of(rec->signed_bytes, rec->signed_len, rec->id);
    rec->len = w->len;
    *len = w->len;
    return 0;
}

int
px_record_sign(struct px_record *rec, const struct px_identity *id, uint8_t *out, size_t cap,
               size_t *len, const char **field)
{
    struct px_wbuf w;
    const char *dummy;
    int rc;

    field = field != NULL ? field : &dummy;
    memcpy(rec->author, id->pk, sizeof(rec->author));
    if ((rc = encode_signed(rec, &w, out, cap, field)) != 0) {
        return rc;
    }
    px_sign(id, rec->signed_bytes, rec->signed_len, rec->sig);
    return finish_record(rec, &w, len);
}

int
px_record_encode(struct px_record *rec, uint8_t *out, size_t cap, size_t *len, const char **field)
{
    struct px_wbuf w;
    const char *dummy;
    int rc;

    field = field != NULL ? field : &dummy;
    if ((rc = encode_signed(rec, &w, out, cap, field)) != 0) {
        return rc;
    }
    return finish_record(rec, &w, len);
}

/* ---- Decoding ---- */

/* Reads a non-empty string; an empty one is refused, as absent fields are left out. */
static int
read_text(struct px_rbuf *r, struct px_str *out)
{
    const char *s;
    uint32_t len;
    int rc = px_mp_read_str(r, &s, &len);

    if (rc != 0) {
        return rc;
    }
    if (len == 0) {
        return PX_EVALUE;
    }
    out->p = s;
    out->len = len;
    return 0;
}

/* Reads a non-empty list of at most max strings. */
static int
read_text_list(struct px_rbuf *r, struct px_str *list, uint32_t max, uint32_t *n)
{
    uint32_t count;
    int rc = px_mp_read_array(r, &count);

    if (rc != 0) {
        return rc;
    }
    if (count == 0) {
        return PX_EVALUE;
    }
    if (count > max) {
        return PX_ETOOBIG;
    }
    for (uint32_t i = 0; i < count; i++) {
        if ((rc = read_text(r, &list[i])) != 0) {
            return rc;
        }
    }
    *n = count;
    return 0;
}

/* Finds a key in a sorted table; -1 when it is not there. */
static int
find_key(const char *const *keys, int n, const char *s, uint32_t len)
{
    for (int k = 0; k < n; k++) {
        if (len > 0 && keys[k][0] == s[0] && strlen(keys[k]) == len &&
            memcmp(keys[k], s, len) == 0) {
            return k;
        }
    }
    return -1;
}

/*
 * Reads the next key of a payload map and finds it in keys: *k its index. Sets *field to
 * the key's name (or "payload" when it is not one). PX_EUNKNOWN for an unknown key.
 */
static int
read_payload_key(struct px_rbuf *r, const char *const *keys, int n, int *k, const char **field)
{
    const char *key;
    uint32_t klen;
    int rc;

    *field = "payload";
    if ((rc = px_mp_read_str(r, &key, &klen)) != 0) {
        return rc;
    }
    if ((*k = find_key(keys, n, key, klen)) < 0) {
        return PX_EUNKNOWN;
    }
    *field = keys[*k];
    return 0;
}

static int
read_case(struct px_rbuf *r, struct px_case *c, const char **field)
{
    uint32_t n;
    int rc = px_mp_read_map(r, &n);

    *field = "payload";
    if (rc != 0) {
        return rc;
    }
    for (uint32_t i = 0; i < n; i++) {
        int k;

        if ((rc = read_payload_key(r, case_keys, K_CASE_COUNT, &k, field)) != 0) {
            return rc;
        }
        switch ((enum case_key)k) {
        case K_BODY:
            rc = read_text(r, &c->body);
            break;
        case K_LANGUAGE:
            rc = read_text(r, &c->language);
            break;
        case K_LESSONS:
            rc = read_text_list(r, c->lessons, PX_CASE_MAX_LESSONS, &c->n_lessons);
            break;
        case K_LICENSE:
            rc = read_text(r, &c->license);
            break;
        case K_LINKS:
            rc = read_text_list(r, c->links, PX_CASE_MAX_LINKS, &c->n_links);
            break;
        case K_OCCURRED:
            rc = read_text(r, &c->occurred);
            break;
        case K_PRACTICE: {
            struct px_str s;

            rc = read_text(r, &s);
            if (rc == 0) {
                rc = px_practice_parse(s.p, s.len, &c->practice);
            }
            break;
        }
        case K_REGION:
            rc = read_text(r, &c->region);
            break;
        case K_SECTOR:
            rc = read_text(r, &c->sector);
            break;
        case K_SUMMARY:
            rc = read_text(r, &c->summary);
            break;
        case K_SUPERSEDES:
            rc = px_mp_read_bin_exact(r, c->supersedes, PX_ID_BYTES);
            c->has_supersedes = rc == 0;
            break;
        case K_TAGS:
            rc = read_text_list(r, c->tags, PX_CASE_MAX_TAGS, &c->n_tags);
            break;
        case K_TITLE:
            rc = read_text(r, &c->title);
            break;
        case K_CASE_COUNT:
            break;
        }
        if (rc != 0) {
            return rc;
        }
    }
    *field = NULL;
    return 0;
}

static int
read_retraction(struct px_rbuf *r, struct px_retraction *rt, const char **field)
{
    uint32_t n;
    bool have_target = false;
    int rc = px_mp_read_map(r, &n);

    *field = "payload";
    if (rc != 0) {
        return rc;
    }
    for (uint32_t i = 0; i < n; i++) {
        int k;

        if ((rc = read_payload_key(r, retraction_keys, K_RETRACTION_COUNT, &k, field)) != 0) {
            return rc;
        }
        if (k == K_REASON) {
            rc = read_text(r, &rt->reason);
        } else {
            rc = px_mp_read_bin_exact(r, rt->target, PX_ID_BYTES);
            have_target = rc == 0;
        }
        if (rc != 0) {
            return rc;
        }
    }
    if (!have_target) {
        *field = "target";
        return PX_EMISSING;
    }
    *field = NULL;
    return 0;
}

static int
decode_envelope(struct px_rbuf *r, struct px_record *rec, const char **field)
{
    uint32_t count;
    uint64_t v;
    int rc;

    *field = "record";
    if ((rc = px_mp_read_array(r, &count)) != 0) {
        return rc;
    }
    /* The version comes first so that a later format may change everything after it. */
    *field = "version";
    if (count == 0) {
        return PX_ETYPE;
    }
    if ((rc = px_mp_read_uint(r, &v)) != 0) {
        return rc;
    }
    if (v != PX_RECORD_VERSION) {
        return PX_EVERSION;
    }
    rec->version = (uint32_t)v;
    *field = "record";
    if (count != 6) {
        return PX_ETYPE;
    }
    *field = "type";
    if ((rc = px_mp_read_uint(r, &v)) != 0) {
        return rc;
    }
    if (v != PX_RECORD_CASE && v != PX_RECORD_RETRACTION) {
        return PX_EVALUE;
    }
    rec->type = (enum px_record_type)v;
    *field = "author";
    if ((rc = px_mp_read_bin_exact(r, rec->author, sizeof(rec->author))) != 0) {
        return rc == PX_EVALUE ? PX_EKEY : rc;
    }
    *field = "created";
    if ((rc = px_mp_read_uint(r, &rec->created)) != 0) {
        return rc;
    }
    if (rec->type == PX_RECORD_CASE) {
        rc = read_case(r, &rec->cs, field);
    } else {
        rc = read_retraction(r, &rec->rt, field);
    }
    if (rc != 0) {
        return rc;
    }
    rec->signed_len = r->off;
    *field = "signature";
    return px_mp_read_bin_exact(r, rec->sig, sizeof(rec->sig));
}

int
px_record_decode_prefix(const uint8_t *p, size_t len, size_t *used, struct px_record *rec,
                        const char **field)
{
    struct px_rbuf r;
    struct px_wbuf w;
    const char *dummy;
    size_t n;
    int rc;

    field = field != NULL ? field : &dummy;
    *field = NULL;
    memset(rec, 0, sizeof(*rec));
    if ((rc = px_mp_check(p, len, &record_limits, &n)) != 0) {
        return rc;
    }
    px_rbuf_init(&r, p, n);
    if ((rc = decode_envelope(&r, rec, field)) != 0) {
        return rc;
    }
    /* The walker sized the array, so the signature is its last byte. */
    if ((rc = px_rbuf_end(&r)) != 0) {
        return rc;
    }
    /* The walker has checked UTF-8 already. */
    if ((rc = validate(rec, false, field)) != 0) {
        return rc;
    }
    /* Belt and braces: the bytes must be exactly what we would have written. */
    px_wbuf_init_compare(&w, p, rec->signed_len);
    if ((rc = write_signed(&w, rec)) != 0 || w.len != rec->signed_len) {
        *field = "record";
        return PX_ENONCANON;
    }
    rec->signed_bytes = p;
    rec->len = n;
    px_record_id_of(p, rec->signed_len, rec->id);
    *used = n;
    *field = NULL;
    return 0;
}

int
px_record_decode(const uint8_t *p, size_t len, struct px_record *rec, const char **field)
{
    size_t used;
    int rc = px_record_decode_prefix(p, len, &used, rec, field);

    if (rc == 0 && used != len) {
        if (field != NULL) {
            *field = "record";
        }
        return PX_ETRAILING;
    }
    return rc;
}

int
px_record_encode_payload(const struct px_record *rec, uint8_t *out, size_t cap, size_t *len,
                         const char **field)
{
    struct px_wbuf w;
    const char *dummy;
    int rc;

    field = field != NULL ? field : &dummy;
    *field = NULL;
    if ((rc = validate_payload(rec, true, field)) != 0) {
        return rc;
    }
    px_wbuf_init(&w, out, cap < PX_RECORD_MAX ? cap : PX_RECORD_MAX);
    if (write_payload(&w, rec) != 0) {
        *field = "payload";
        return PX_ETOOBIG;
    }
    *len = w.len;
    return 0;
}

int
px_record_decode_payload(enum px_record_type type, const uint8_t *p, size_t len,
                         struct px_record *rec, const char **field)
{
    static const struct px_mp_limits payload_limits = {
        .max_depth = PX_RECORD_MAX_DEPTH - 1,
        .max_size = PX_RECORD_MAX,
        .max_str = PX_RECORD_MAX,
        .max_count = PX_RECORD_MAX_COUNT,
        .flags = PX_MP_STRICT,
    };
    struct px_rbuf r;
    struct px_wbuf w;
    const char *dummy;
    int rc;

    field = field != NULL ? field : &dummy;
    *field = "payload";
    memset(&rec->cs, 0, sizeof(rec->cs));
    memset(&rec->rt, 0, sizeof(rec->rt));
    rec->type = type;
    if (type != PX_RECORD_CASE && type != PX_RECORD_RETRACTION) {
        *field = "type";
        return PX_EVALUE;
    }
    if ((rc = px_mp_check_exact(p, len, &payload_limits)) != 0) {
        return rc;
    }
    px_rbuf_init(&r, p, len);
    rc = type == PX_RECORD_CASE ? read_case(&r, &rec->cs, field)
                                : read_retraction(&r, &rec->rt, field);
    if (rc != 0 || (rc = validate_payload(rec, false, field)) != 0) {
        return rc;
    }
    px_wbuf_init_compare(&w, p, len);
    if (write_payload(&w, rec) != 0 || w.len != len) {
        *field = "payload";
        return PX_ENONCANON;
    }
    *field = NULL;
    return 0;
}

int
px_record_verify(const struct px_record *rec)
{
    return px_verify(rec->author, rec->signed_bytes, rec->signed_len, rec->sig);
}

int
px_record_check_created(const struct px_record *rec, uint64_t now_ms, uint64_t max_skew_ms)
{
    if (rec->created > now_ms && rec->created - now_ms > max_skew_ms) {
        return PX_EFUTURE;
    }
    return 0;
}

static int
compare_str_qsort(const void *a, const void *b)
{
    return compare_str(*(const struct px_str *)a, *(const struct px_str *)b);
}

void
px_case_sort_tags(struct px_case *c)
{
    uint32_t out = 0;

    if (c->n_tags > PX_CASE_MAX_TAGS) {
        return; /* validation reports it */
    }
    qsort(c->tags, c->n_tags, sizeof(c->tags[0]), compare_str_qsort);
    for (uint32_t i = 0; i < c->n_tags; i++) {
        if (out == 0 || compare_str(c->tags[out - 1], c->tags[i]) != 0) {
            c->tags[out++] = c->tags[i];
        }
    }
    c->n_tags = out;
}
