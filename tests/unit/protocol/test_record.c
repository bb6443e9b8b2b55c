/* SPDX-License-Identifier: MIT */
/*
 * test_record.c - the case record codec: known-answer records stored in tests/vectors,
 * round trips of every field (up to the 64 KiB cap), forgeries that must not verify, and
 * one hand-built malformed input per rejection class, each isolating one defect.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "protocol/buf.h"
#include "protocol/err.h"
#include "protocol/mp.h"
#include "protocol/record.h"
#include "protocol/sign.h"
#include "util/testutil.h"
#include "vectors/kat_cases.h"

static struct px_identity kat_id, other_id;

static void
setup(void)
{
    uint8_t seed[PX_SIGN_SEEDBYTES];

    cr_assert_eq(px_crypto_init(), 0);
    kat_seed(seed);
    cr_assert_eq(px_identity_from_seed(&kat_id, seed), 0);
    kat_other_seed(seed);
    cr_assert_eq(px_identity_from_seed(&other_id, seed), 0);
}

/* Strings the helpers below allocate live until the test ends; teardown frees them. */
static void *allocs[1024];
static size_t n_allocs;

static void *
track(void *p)
{
    cr_assert_not_null(p);
    cr_assert_lt(n_allocs, sizeof(allocs) / sizeof(allocs[0]));
    allocs[n_allocs++] = p;
    return p;
}

static void
teardown(void)
{
    while (n_allocs > 0) {
        free(allocs[--n_allocs]);
    }
}

TestSuite(record, .init = setup, .fini = teardown);

/* Large enough for any record and for inputs a little over the cap. */
static uint8_t buf[2 * PX_RECORD_MAX + 64];
static uint8_t buf2[2 * PX_RECORD_MAX + 64];

/* ---- Helpers: strings ---- */

/* A string of n copies of c (freed by teardown). */
static char *
rep(char c, size_t n)
{
    char *s = track(malloc(n + 1));

    memset(s, c, n);
    s[n] = '\0';
    return s;
}

/* Fills n bytes with a repeated pattern, then makes the last byte a letter (no trailing
 * white space, no cut multi-byte character: patterns here are ASCII). */
static char *
pattern(const char *pat, size_t n)
{
    char *s = track(malloc(n + 1));
    size_t plen = strlen(pat);

    for (size_t i = 0; i < n; i++) {
        s[i] = pat[i % plen];
    }
    if (n > 0) {
        s[0] = 'A';
        s[n - 1] = 'z';
    }
    s[n] = '\0';
    return s;
}

/* count '|'-separated items of exactly len bytes each, "NN" + prefix + fill, sorted. */
static char *
list_of(unsigned count, size_t len, const char *prefix, char fill)
{
    size_t plen = strlen(prefix);
    char *s = track(malloc(count * (len + 1) + 1));
    size_t off = 0;

    cr_assert_geq(len, plen + 2);
    for (unsigned i = 0; i < count; i++) {
        memcpy(s + off, prefix, plen);
        s[off + plen] = (char)('0' + i / 10 % 10);
        s[off + plen + 1] = (char)('0' + i % 10);
        memset(s + off + plen + 2, fill, len - plen - 2);
        off += len;
        s[off++] = '|';
    }
    s[off > 0 ? off - 1 : 0] = '\0';
    return s;
}

static struct px_str
str_of(const char *s)
{
    struct px_str out = {s, (uint32_t)strlen(s)};

    return out;
}

/* A hex string (freed by teardown): prefix (hex) followed by n bytes of fill. */
static char *
hex_fill(const char *prefix, size_t n, uint8_t fill)
{
    size_t plen = strlen(prefix);
    char *s = track(malloc(plen + 2 * n + 1));

    memcpy(s, prefix, plen);
    for (size_t i = 0; i < n; i++) {
        snprintf(s + plen + 2 * i, 3, "%02x", fill);
    }
    s[plen + 2 * n] = '\0';
    return s;
}

/* ---- Helpers: a record builder that writes whatever it is told ---- */

enum vkind {
    V_STR,  /* v as a str */
    V_RAW,  /* v is hex, written as is */
    V_LIST, /* v is '|'-separated strs, written as an array ("" is an empty array) */
    V_ID,   /* a bin of 32 bytes of 0x11 */
};

struct pf {
    const char *key; /* written as a str; "#hex" writes the key's bytes raw */
    enum vkind kind;
    const char *v;
};

/* Raw hex overrides for the envelope; NULL means the good default. */
struct env {
    const char *head;    /* default 96 */
    const char *version; /* default 01 */
    const char *type;    /* default 01 (case) */
    const char *author;  /* default bin 32: the KAT public key */
    const char *created; /* default uint created_ms */
    uint64_t created_ms; /* 0: KAT_CREATED_CASE_FULL */
    const char *payload; /* replaces the whole payload map */
    const char *map;     /* replaces the payload map header */
    const char *sig;     /* default bin 64 of zeros ("" writes nothing) */
    const char *extra;   /* written after the signature */
};

#define F_END             \
    {                     \
        NULL, V_STR, NULL \
    }
#define F_LANGUAGE              \
    {                           \
        "language", V_STR, "en" \
    }
#define F_LICENSE               \
    {                           \
        "license", V_STR, "MIT" \
    }
#define F_PRACTICE                \
    {                             \
        "practice", V_STR, "good" \
    }
#define F_SUMMARY                                                             \
    {                                                                         \
        "summary", V_STR, "What happened, in two lines.\nAnd the second one." \
    }
#define F_TITLE                   \
    {                             \
        "title", V_STR, "A title" \
    }
#define F_REASON                                 \
    {                                            \
        "reason", V_STR, "Published by mistake." \
    }
#define F_TARGET             \
    {                        \
        "target", V_ID, NULL \
    }

static const struct pf case_base[] = {F_LANGUAGE, F_LICENSE, F_PRACTICE, F_SUMMARY, F_TITLE, F_END};
static const struct env retraction_env = {.type = "02"};
static const struct pf retraction_base[] = {F_REASON, F_TARGET, F_END};

static void
emit_hex(struct px_wbuf *w, const char *hex)
{
    for (size_t i = 0; hex[i] != '\0';) {
        uint8_t b;

        if (hex[i] == ' ') {
            i++;
            continue;
        }
        cr_assert_eq(px_hex_decode(hex + i, 2, &b, 1), 0, "bad hex in a test: %s", hex);
        cr_assert_eq(px_wbuf_u8(w, b), 0);
        i += 2;
    }
}

static void
emit_value(struct px_wbuf *w, const struct pf *f)
{
    static const uint8_t id[32] = {0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11,
                                   0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11,
                                   0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11};

    switch (f->kind) {
    case V_STR:
        cr_assert_eq(px_mp_write_str(w, f->v, strlen(f->v)), 0);
        break;
    case V_RAW:
        emit_hex(w, f->v);
        break;
    case V_ID:
        cr_assert_eq(px_mp_write_bin(w, id, sizeof(id)), 0);
        break;
    case V_LIST: {
        uint32_t n = 0;
        const char *p = f->v;

        if (*p != '\0') {
            n = 1;
            for (const char *q = p; *q != '\0'; q++) {
                n += *q == '|';
            }
        }
        cr_assert_eq(px_mp_write_array(w, n), 0);
        for (uint32_t i = 0; i < n; i++) {
            const char *end = strchr(p, '|');
            size_t len = end != NULL ? (size_t)(end - p) : strlen(p);

            cr_assert_eq(px_mp_write_str(w, p, len), 0);
            p += len + 1;
        }
        break;
    }
    }
}

/* Writes [version, type, author, created, {fields}, signature] with the overrides in e. */
static size_t
build(uint8_t *out, size_t cap, const struct env *e, const struct pf *fields)
{
    static const struct env none;
    static const uint8_t zero_sig[64];
    struct px_wbuf w;
    uint32_t n = 0;

    e = e != NULL ? e : &none;
    px_wbuf_init(&w, out, cap);
    emit_hex(&w, e->head != NULL ? e->head : "96");
    emit_hex(&w, e->version != NULL ? e->version : "01");
    emit_hex(&w, e->type != NULL ? e->type : "01");
    if (e->author != NULL) {
        emit_hex(&w, e->author);
    } else {
        cr_assert_eq(px_mp_write_bin(&w, kat_id.pk, 32), 0);
    }
    if (e->created != NULL) {
        emit_hex(&w, e->created);
    } else {
        cr_assert_eq(
            px_mp_write_uint(&w, e->created_ms != 0 ? e->created_ms : KAT_CREATED_CASE_FULL), 0);
    }
    if (e->payload != NULL) {
        emit_hex(&w, e->payload);
    } else {
        while (fields[n].key != NULL) {
            n++;
        }
        if (e->map != NULL) {
            emit_hex(&w, e->map);
        } else {
            cr_assert_eq(px_mp_write_map(&w, n), 0);
        }
        for (uint32_t i = 0; i < n; i++) {
            if (fields[i].key[0] == '#') {
                emit_hex(&w, fields[i].key + 1);
            } else {
                cr_assert_eq(px_mp_write_str(&w, fields[i].key, strlen(fields[i].key)), 0);
            }
            emit_value(&w, &fields[i]);
        }
    }
    if (e->sig != NULL) {
        emit_hex(&w, e->sig);
    } else {
        cr_assert_eq(px_mp_write_bin(&w, zero_sig, sizeof(zero_sig)), 0);
    }
    if (e->extra != NULL) {
        emit_hex(&w, e->extra);
    }
    return w.len;
}

static void
expect_decode_at(int line, const struct env *e, const struct pf *fields, int want,
                 const char *want_field)
{
    struct px_record rec;
    const char *field = "sentinel";
    size_t n = build(buf, sizeof(buf), e, fields);
    int rc = px_record_decode(buf, n, &rec, &field);

    cr_assert_eq(rc, want, "line %d: got %s (field %s), want %s", line, px_err_name(rc),
                 field ? field : "NULL", px_err_name(want));
    if (want_field == NULL) {
        cr_assert_null(field, "line %d: field is %s, want NULL", line, field);
    } else {
        cr_assert_not_null(field, "line %d: field is NULL, want %s", line, want_field);
        cr_assert_str_eq(field, want_field, "line %d", line);
    }
}

/* EXPECT_DECODE(env, rc, field, fields...): builds the record and decodes it. */
#define EXPECT_DECODE(e, rc, field, ...) \
    expect_decode_at(__LINE__, (e), (const struct pf[]){__VA_ARGS__, F_END}, (rc), (field))

/*
 * The base case (or retraction) with one field set to (kind, v): replaces the field of
 * that key, or inserts it in sorted position. Then decodes and checks rc and field.
 */
static void
expect_with_at(int line, bool retraction, const char *key, enum vkind kind, const char *v, int want,
               const char *want_field)
{
    const struct pf *base = retraction ? retraction_base : case_base;
    struct pf fields[16];
    size_t n = 0;
    bool placed = false;

    for (size_t i = 0; base[i].key != NULL; i++) {
        int c = strcmp(key, base[i].key);

        if (!placed && c <= 0) {
            fields[n++] = (struct pf){key, kind, v};
            placed = true;
            if (c == 0) {
                continue;
            }
        }
        fields[n++] = base[i];
    }
    if (!placed) {
        fields[n++] = (struct pf){key, kind, v};
    }
    fields[n] = (struct pf)F_END;
    expect_decode_at(line, retraction ? &retraction_env : NULL, fields, want, want_field);
}

#define EXPECT_CASE_WITH(key, kind, v, rc, field) \
    expect_with_at(__LINE__, false, (key), (kind), (v), (rc), (field))
#define EXPECT_RETRACTION_WITH(key, kind, v, rc, field) \
    expect_with_at(__LINE__, true, (key), (kind), (v), (rc), (field))
/* A str value that must be refused for its own field with rc, or accepted (rc 0). */
#define EXPECT_STR(key, v, rc)  EXPECT_CASE_WITH(key, V_STR, v, rc, (rc) != 0 ? (key) : NULL)
#define EXPECT_LIST(key, v, rc) EXPECT_CASE_WITH(key, V_LIST, v, rc, (rc) != 0 ? (key) : NULL)

/* ---- Helpers: the known-answer vectors ---- */

struct kat {
    uint8_t seed[32];
    uint64_t created;
    size_t signed_len;
    uint8_t id[32];
    uint8_t *record;
    size_t len;
};

/* Finds the block called name in the vector file path (record_kat.txt's format). */
static void
load_vector(const char *path, const char *name, struct kat *k)
{
    char *text = (char *)px_test_read_file(path, NULL);
    bool in = false, found = false;
    unsigned have = 0;

    cr_assert_not_null(text, "cannot read %s", path);
    memset(k, 0, sizeof(*k));
    for (char *line = strtok(text, "\n"); line != NULL; line = strtok(NULL, "\n")) {
        char *sp = strchr(line, ' ');
        const char *v;
        size_t vlen;

        if (line[0] == '#' || sp == NULL) {
            continue;
        }
        *sp = '\0';
        v = sp + 1;
        vlen = strlen(v);
        if (strcmp(line, "name") == 0) {
            in = strcmp(v, name) == 0;
            found |= in;
            continue;
        }
        if (!in) {
            continue;
        }
        if (strcmp(line, "seed") == 0) {
            cr_assert_eq(px_hex_decode(v, vlen, k->seed, 32), 0);
            have |= 1;
        } else if (strcmp(line, "created") == 0) {
            k->created = strtoull(v, NULL, 10);
            have |= 2;
        } else if (strcmp(line, "signed_len") == 0) {
            k->signed_len = strtoul(v, NULL, 10);
            have |= 4;
        } else if (strcmp(line, "id") == 0) {
            cr_assert_eq(px_hex_decode(v, vlen, k->id, 32), 0);
            have |= 8;
        } else if (strcmp(line, "record") == 0) {
            k->len = vlen / 2;
            k->record = malloc(k->len);
            cr_assert_not_null(k->record);
            cr_assert_eq(px_hex_decode(v, vlen, k->record, k->len), 0);
            have |= 16;
        }
    }
    free(text);
    cr_assert(found, "no vector named %s in %s", name, path);
    cr_assert_eq(have, 31, "vector %s is incomplete", name);
}

static void
load_kat(const char *name, struct kat *k)
{
    load_vector(PX_VECTORS_DIR "/record_kat.txt", name, k);
}

static void
assert_slice_eq(struct px_str got, struct px_str want, const uint8_t *in, size_t in_len,
                const char *what)
{
    cr_assert_eq(got.len, want.len, "%s: length %u, want %u", what, got.len, want.len);
    if (want.len > 0) {
        cr_assert_arr_eq(got.p, want.p, want.len, "%s differs", what);
        /* Decoding borrows: the slice points into the decoded bytes. */
        cr_assert((const uint8_t *)got.p >= in && (const uint8_t *)got.p + got.len <= in + in_len,
                  "%s does not point into the input", what);
    }
}

/* Every field of a decoded record equals the record it was made from. */
static void
assert_same_record(const struct px_record *got, const struct px_record *want, const uint8_t *in,
                   size_t in_len)
{
    cr_assert_eq(got->version, want->version);
    cr_assert_eq(got->type, want->type);
    cr_assert_arr_eq(got->author, want->author, 32);
    cr_assert_eq(got->created, want->created);
    cr_assert_arr_eq(got->sig, want->sig, 64);
    if (want->type == PX_RECORD_RETRACTION) {
        cr_assert_arr_eq(got->rt.target, want->rt.target, 32);
        assert_slice_eq(got->rt.reason, want->rt.reason, in, in_len, "reason");
        return;
    }
    const struct px_case *g = &got->cs, *w = &want->cs;
    cr_assert_eq(g->practice, w->practice);
    assert_slice_eq(g->title, w->title, in, in_len, "title");
    assert_slice_eq(g->summary, w->summary, in, in_len, "summary");
    assert_slice_eq(g->body, w->body, in, in_len, "body");
    cr_assert_eq(g->n_lessons, w->n_lessons);
    for (uint32_t i = 0; i < w->n_lessons; i++) {
        assert_slice_eq(g->lessons[i], w->lessons[i], in, in_len, "lesson");
    }
    cr_assert_eq(g->n_tags, w->n_tags);
    for (uint32_t i = 0; i < w->n_tags; i++) {
        assert_slice_eq(g->tags[i], w->tags[i], in, in_len, "tag");
    }
    assert_slice_eq(g->sector, w->sector, in, in_len, "sector");
    assert_slice_eq(g->region, w->region, in, in_len, "region");
    assert_slice_eq(g->language, w->language, in, in_len, "language");
    assert_slice_eq(g->occurred, w->occurred, in, in_len, "occurred");
    cr_assert_eq(g->n_links, w->n_links);
    for (uint32_t i = 0; i < w->n_links; i++) {
        assert_slice_eq(g->links[i], w->links[i], in, in_len, "link");
    }
    assert_slice_eq(g->license, w->license, in, in_len, "license");
    cr_assert_eq(g->has_supersedes, w->has_supersedes);
    if (w->has_supersedes) {
        cr_assert_arr_eq(g->supersedes, w->supersedes, 32);
    }
}

/*
 * Signs rec, decodes the bytes, checks every field, the id and the signature, then
 * re-encodes the decoded struct and requires the identical bytes. Returns the length.
 */
static size_t
round_trip(struct px_record *rec, uint8_t *out, size_t cap)
{
    struct px_record got;
    const char *field = "sentinel";
    size_t len = 0, len2 = 0, used = 0;
    uint8_t id[32];
    int rc;

    rc = px_record_sign(rec, &kat_id, out, cap, &len, &field);
    cr_assert_eq(rc, 0, "sign: %s (%s)", px_err_name(rc), field ? field : "NULL");
    cr_assert_eq(rec->len, len);
    cr_assert_eq(rec->signed_len, len - PX_RECORD_SIG_LEN);
    cr_assert_eq(rec->signed_bytes, out);
    cr_assert_arr_eq(rec->author, kat_id.pk, 32, "signing sets the author");
    px_record_id_of(out, len - PX_RECORD_SIG_LEN, id);
    cr_assert_arr_eq(rec->id, id, 32, "the id is BLAKE2b-256 of the signed bytes");
    /* The signature element is the last 66 bytes: c4 40 + signature. */
    cr_assert_eq(out[len - 66], 0xc4);
    cr_assert_eq(out[len - 65], 0x40);
    cr_assert_arr_eq(out + len - 64, rec->sig, 64);

    field = "sentinel";
    rc = px_record_decode(out, len, &got, &field);
    cr_assert_eq(rc, 0, "decode: %s (%s)", px_err_name(rc), field ? field : "NULL");
    cr_assert_null(field, "field is set on success");
    cr_assert_eq(got.len, len);
    cr_assert_eq(got.signed_len, len - PX_RECORD_SIG_LEN);
    cr_assert_eq(got.signed_bytes, out);
    cr_assert_arr_eq(got.id, id, 32);
    cr_assert_eq(px_record_verify(&got), 0);
    assert_same_record(&got, rec, out, len);

    rc = px_record_decode_prefix(out, len, &used, &got, NULL);
    cr_assert_eq(rc, 0);
    cr_assert_eq(used, len);

    /* Re-encoding the decoded struct gives the same bytes. */
    rc = px_record_encode(&got, buf2, sizeof(buf2), &len2, &field);
    cr_assert_eq(rc, 0, "re-encode: %s (%s)", px_err_name(rc), field ? field : "NULL");
    cr_assert_eq(len2, len);
    cr_assert_arr_eq(buf2, out, len, "re-encoding differs");
    return len;
}

/* ---- Known-answer records ---- */

static void
check_kat(const char *name, struct px_record *rec)
{
    static uint8_t out[PX_RECORD_MAX];
    struct kat k;
    struct px_record got;
    uint8_t seed[32];
    size_t len = 0;
    const char *field = NULL;
    int rc;

    load_kat(name, &k);
    kat_seed(seed);
    cr_assert_arr_eq(k.seed, seed, 32, "%s: the vector's seed is not kat_seed()", name);
    cr_assert_eq(k.created, rec->created, "%s: created", name);

    /* Ed25519 is deterministic: the same key and bytes give the same signature. */
    rc = px_record_sign(rec, &kat_id, out, sizeof(out), &len, &field);
    cr_assert_eq(rc, 0, "%s: %s (%s)", name, px_err_name(rc), field ? field : "NULL");
    cr_assert_eq(len, k.len, "%s: %zu bytes, the vector has %zu", name, len, k.len);
    cr_assert_arr_eq(out, k.record, k.len, "%s: bytes differ from the vector", name);
    cr_assert_eq(rec->signed_len, k.signed_len);
    cr_assert_arr_eq(rec->id, k.id, 32, "%s: id differs from the vector", name);

    /* The stored bytes decode, verify, and give back the same fields. */
    rc = px_record_decode(k.record, k.len, &got, &field);
    cr_assert_eq(rc, 0, "%s: decode: %s (%s)", name, px_err_name(rc), field ? field : "NULL");
    cr_assert_eq(px_record_verify(&got), 0);
    cr_assert_arr_eq(got.id, k.id, 32);
    cr_assert_arr_eq(got.author, kat_id.pk, 32);
    assert_same_record(&got, rec, k.record, k.len);
    free(k.record);
}

Test(record, kat_case_full)
{
    struct px_record rec;

    kat_case_full(&rec);
    check_kat("case-full", &rec);
}

Test(record, kat_case_minimal)
{
    struct px_record rec;

    kat_case_minimal(&rec);
    check_kat("case-minimal", &rec);
}

Test(record, kat_retraction)
{
    struct px_record rec;
    struct kat full;

    /* The retraction's target is the id of the case-full vector. */
    load_kat("case-full", &full);
    kat_retraction(&rec, full.id);
    check_kat("retraction", &rec);
    free(full.record);
}

Test(record, kat_public_key)
{
    /* The Ed25519 public key of seed 01..20, as the vectors' author field holds it. */
    uint8_t want[32];

    cr_assert_eq(px_hex_decode("79b5562e8fe654f94078b112e8a98ba7901f853ae695bed7e0e3910bad049664",
                               64, want, 32),
                 0);
    cr_assert_arr_eq(kat_id.pk, want, 32);
}

/*
 * The worked examples of docs/protocol.md section 5 (record_docs_examples.txt holds a copy):
 * the code must produce exactly the bytes and ids the specification shows.
 */
Test(record, docs_protocol_md_worked_examples)
{
    const char *path = PX_VECTORS_DIR "/record_docs_examples.txt";
    static uint8_t out[PX_RECORD_MAX];
    struct px_identity id;
    struct px_record rec, got;
    struct kat k;
    size_t len = 0;
    uint8_t seed[32], pk[32];

    for (int i = 0; i < 32; i++) {
        seed[i] = (uint8_t)i;
    }
    cr_assert_eq(px_identity_from_seed(&id, seed), 0);
    cr_assert_eq(px_hex_decode("03a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8",
                               64, pk, 32),
                 0);
    cr_assert_arr_eq(id.pk, pk, 32, "the documented public key of seed 00..1f");

    load_vector(path, "docs-case", &k);
    cr_assert_arr_eq(k.seed, seed, 32);
    px_record_init(&rec, PX_RECORD_CASE);
    rec.created = k.created;
    rec.cs.practice = PX_PRACTICE_GOOD;
    rec.cs.title = str_of("Pay by mobile money");
    rec.cs.summary = str_of("Fewer missed payments.");
    rec.cs.language = str_of("en");
    rec.cs.license = str_of("CC-BY-4.0");
    rec.cs.region = str_of("KE");
    rec.cs.tags[0] = str_of("cash");
    rec.cs.tags[1] = str_of("mobile");
    rec.cs.n_tags = 2;
    cr_assert_eq(px_record_sign(&rec, &id, out, sizeof(out), &len, NULL), 0);
    cr_assert_eq(len, 242);
    cr_assert_eq(len, k.len);
    cr_assert_arr_eq(out, k.record, k.len, "docs-case: bytes differ from the specification");
    cr_assert_eq(rec.signed_len, k.signed_len);
    cr_assert_arr_eq(rec.id, k.id, 32, "docs-case: id differs from the specification");
    cr_assert_eq(px_record_decode(k.record, k.len, &got, NULL), 0);
    cr_assert_eq(px_record_verify(&got), 0);
    free(k.record);

    load_vector(path, "docs-retraction", &k);
    px_record_init(&rec, PX_RECORD_RETRACTION);
    rec.created = k.created;
    for (int i = 0; i < 32; i++) {
        rec.rt.target[i] = (uint8_t)(0xa0 + i);
    }
    rec.rt.reason = str_of("Duplicate.");
    cr_assert_eq(px_record_sign(&rec, &id, out, sizeof(out), &len, NULL), 0);
    cr_assert_eq(len, 172);
    cr_assert_eq(len, k.len);
    cr_assert_arr_eq(out, k.record, k.len, "docs-retraction: bytes differ");
    cr_assert_eq(rec.signed_len, 106);
    cr_assert_arr_eq(rec.id, k.id, 32, "docs-retraction: id differs");
    cr_assert_eq(px_record_decode(k.record, k.len, &got, NULL), 0);
    cr_assert_eq(px_record_verify(&got), 0);
    free(k.record);
}

Test(record, stored_forgeries_are_rejected)
{
    const char *path = PX_VECTORS_DIR "/record_forgeries.txt";
    char *text = (char *)px_test_read_file(path, NULL);
    unsigned n = 0, n_badsig = 0;

    cr_assert_not_null(text, "cannot read %s", path);
    for (char *line = strtok(text, "\n"); line != NULL; line = strtok(NULL, "\n")) {
        char name[64], expect[32];
        int hex_at = 0;
        size_t hlen, len;
        uint8_t *p;
        struct px_record rec;
        int rc;

        if (line[0] == '#') {
            continue;
        }
        cr_assert_eq(sscanf(line, "%63s %31s %n", name, expect, &hex_at), 2, "bad line: %s", line);
        hlen = strlen(line + hex_at);
        len = hlen / 2;
        p = malloc(len + 1);
        cr_assert_not_null(p);
        cr_assert_eq(px_hex_decode(line + hex_at, hlen, p, len), 0, "%s: bad hex", name);
        rc = px_record_decode(p, len, &rec, NULL);
        if (strcmp(expect, "EBADSIG") == 0) {
            cr_assert_eq(rc, 0, "%s: must decode, got %s", name, px_err_name(rc));
            cr_assert_eq(px_record_verify(&rec), PX_EBADSIG, "%s verified", name);
            n_badsig++;
        } else {
            cr_assert_str_eq(px_err_name(rc), expect, "%s", name);
        }
        free(p);
        n++;
    }
    free(text);
    cr_assert_geq(n, 12, "only %u forgeries in %s", n, path);
    cr_assert_geq(n_badsig, 9);
}

/* ---- Round trips ---- */

Test(record, round_trip_minimal_case)
{
    static uint8_t out[PX_RECORD_MAX];
    struct px_record rec;

    px_record_init(&rec, PX_RECORD_CASE);
    rec.created = PX_RECORD_MIN_CREATED;
    rec.cs.practice = PX_PRACTICE_GOOD;
    rec.cs.title = str_of("T");
    rec.cs.summary = str_of("S");
    rec.cs.language = str_of("en");
    rec.cs.license = str_of("MIT");
    round_trip(&rec, out, sizeof(out));
}

Test(record, round_trip_retraction)
{
    static uint8_t out[PX_RECORD_MAX];
    struct px_record rec;

    px_record_init(&rec, PX_RECORD_RETRACTION);
    rec.created = PX_RECORD_MAX_CREATED;
    memset(rec.rt.target, 0xee, sizeof(rec.rt.target));
    rec.rt.reason = str_of("Duplicate of an earlier case.\n\tSee the other one.");
    round_trip(&rec, out, sizeof(out));
}

Test(record, round_trip_retraction_reason_at_cap)
{
    static uint8_t out[PX_RECORD_MAX];
    struct px_record rec;

    px_record_init(&rec, PX_RECORD_RETRACTION);
    rec.created = KAT_CREATED_RETRACTION;
    rec.rt.reason = str_of(pattern("reason\n", PX_RETRACT_MAX_REASON));
    round_trip(&rec, out, sizeof(out));
}

/*
 * Every optional field present at its maximum count and length, except the body, whose
 * length is chosen so that the whole record is exactly PX_RECORD_MAX bytes (all fields at
 * their caps together would be larger than a record may be).
 */
struct max_case {
    struct px_record rec;
    char *lessons, *tags, *links;
};

static void
split_into(struct px_str *out, uint32_t *n, char *joined, size_t each)
{
    size_t len = strlen(joined);

    *n = 0;
    for (size_t off = 0; off < len; off += each + 1) {
        out[(*n)++] = (struct px_str){joined + off, (uint32_t)each};
    }
}

static void
make_max_case(struct max_case *m, size_t body_len)
{
    struct px_case *c = &m->rec.cs;
    char *title = track(malloc(PX_CASE_MAX_TITLE + 1));

    /* 100 two-byte characters: 200 bytes of valid UTF-8. */
    for (int i = 0; i < PX_CASE_MAX_TITLE; i += 2) {
        title[i] = '\xc3';
        title[i + 1] = '\xa9';
    }
    title[PX_CASE_MAX_TITLE] = '\0';
    px_record_init(&m->rec, PX_RECORD_CASE);
    m->rec.created = KAT_CREATED_CASE_FULL;
    c->practice = PX_PRACTICE_BAD;
    c->title = str_of(title);
    c->summary = str_of(pattern("summary\twith tabs\nand lines ", PX_CASE_MAX_SUMMARY));
    c->body = str_of(pattern("# body\n\n\tcode\n", body_len));
    m->lessons = list_of(PX_CASE_MAX_LESSONS, PX_CASE_MAX_LESSON, "lesson ", 'l');
    split_into(c->lessons, &c->n_lessons, m->lessons, PX_CASE_MAX_LESSON);
    m->tags = list_of(PX_CASE_MAX_TAGS, PX_CASE_MAX_TAG, "tag-", 't');
    split_into(c->tags, &c->n_tags, m->tags, PX_CASE_MAX_TAG);
    c->sector = str_of(rep('s', PX_CASE_MAX_SECTOR));
    c->region = str_of("GB-ENG");
    c->language = str_of("en-abcdefgh-abcdefgh-abcdefgh-abcde");
    c->occurred = str_of("2024-02-29");
    m->links = list_of(PX_CASE_MAX_LINKS, PX_CASE_MAX_LINK, "https://example.org/", 'p');
    split_into(c->links, &c->n_links, m->links, PX_CASE_MAX_LINK);
    c->license = str_of("LicenseRef-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
    c->has_supersedes = true;
    memset(c->supersedes, 0x5c, sizeof(c->supersedes));

    cr_assert_eq(c->n_lessons, PX_CASE_MAX_LESSONS);
    cr_assert_eq(c->n_tags, PX_CASE_MAX_TAGS);
    cr_assert_eq(c->n_links, PX_CASE_MAX_LINKS);
    cr_assert_eq(c->language.len, PX_CASE_MAX_LANGUAGE);
    cr_assert_eq(c->license.len, PX_CASE_MAX_LICENSE);
    cr_assert_eq(c->region.len, PX_CASE_MAX_REGION);
    cr_assert_eq(c->occurred.len, PX_CASE_MAX_OCCURRED);
}

/* The body length that makes the max case exactly PX_RECORD_MAX bytes. */
static size_t
max_case_body_len(void)
{
    static uint8_t out[2 * PX_RECORD_MAX];
    struct max_case m;
    size_t len = 0;
    const char *field = NULL;
    size_t probe = 1000; /* str16 like the final body, so the header size is the same */

    make_max_case(&m, probe);
    cr_assert_eq(px_record_encode(&m.rec, out, sizeof(out), &len, &field), 0, "%s", field);
    cr_assert_lt(len, PX_RECORD_MAX);
    return probe + (PX_RECORD_MAX - len);
}

Test(record, round_trip_every_field_at_cap_fills_64k)
{
    static uint8_t out[PX_RECORD_MAX];
    struct max_case m;
    size_t body_len = max_case_body_len();

    cr_assert_leq(body_len, PX_CASE_MAX_BODY);
    make_max_case(&m, body_len);
    cr_assert_eq(round_trip(&m.rec, out, sizeof(out)), PX_RECORD_MAX);
}

Test(record, one_byte_over_64k_is_refused)
{
    static uint8_t out[PX_RECORD_MAX + 1];
    struct max_case m;
    size_t body_len = max_case_body_len(), len = 0, used = 0;
    const char *field = NULL;
    struct px_record rec;
    int rc;

    /* The encoder refuses a record one byte over the cap, naming the record. */
    make_max_case(&m, body_len + 1);
    rc = px_record_sign(&m.rec, &kat_id, buf, sizeof(buf), &len, &field);
    cr_assert_eq(rc, PX_ETOOBIG, "got %s", px_err_name(rc));
    cr_assert_str_eq(field, "record");
    rc = px_record_encode(&m.rec, buf, sizeof(buf), &len, &field);
    cr_assert_eq(rc, PX_ETOOBIG);

    /* The decoder refuses the same record built by hand: the exact-size record with one
     * more byte spliced into the body (its str16 length raised by one). */
    make_max_case(&m, body_len);
    cr_assert_eq(px_record_sign(&m.rec, &kat_id, out, sizeof(out), &len, NULL), 0);
    cr_assert_eq(len, PX_RECORD_MAX);
    const uint8_t key[] = {0xa4, 'b', 'o', 'd', 'y', 0xda};
    uint8_t *at = memmem(out, len, key, sizeof(key));
    cr_assert_not_null(at);
    size_t hdr = (size_t)(at - out) + sizeof(key); /* the 16-bit length */
    size_t body_end = hdr + 2 + body_len;
    cr_assert_eq((size_t)(out[hdr] << 8 | out[hdr + 1]), body_len);
    memcpy(buf, out, body_end - 1);
    buf[body_end - 1] = 'y';
    memcpy(buf + body_end, out + body_end - 1, len - (body_end - 1));
    buf[hdr] = (uint8_t)((body_len + 1) >> 8);
    buf[hdr + 1] = (uint8_t)(body_len + 1);
    rc = px_record_decode(buf, len + 1, &rec, &field);
    cr_assert_eq(rc, PX_ETOOBIG, "got %s", px_err_name(rc));
    cr_assert_null(field);

    /* The exact-size record followed by more bytes: the prefix decoder takes it. */
    memcpy(buf, out, len);
    buf[len] = 0x00;
    cr_assert_eq(px_record_decode_prefix(buf, len + 1, &used, &rec, NULL), 0);
    cr_assert_eq(used, PX_RECORD_MAX);
    cr_assert_eq(px_record_decode(buf, len + 1, &rec, &field), PX_ETRAILING);
}

Test(record, sign_needs_room)
{
    static uint8_t out[PX_RECORD_MAX];
    struct px_record rec;
    size_t len = 0, need;
    const char *field = NULL;

    kat_case_minimal(&rec);
    cr_assert_eq(px_record_sign(&rec, &kat_id, out, sizeof(out), &len, NULL), 0);
    need = len;
    cr_assert_eq(px_record_sign(&rec, &kat_id, out, need, &len, &field), 0, "exact room");
    cr_assert_eq(len, need);
    cr_assert_eq(px_record_sign(&rec, &kat_id, out, need - 1, &len, &field), PX_ETOOBIG);
    cr_assert_str_eq(field, "record");
    cr_assert_eq(px_record_sign(&rec, &kat_id, out, need - PX_RECORD_SIG_LEN, &len, &field),
                 PX_ETOOBIG, "no room for the signature");
    cr_assert_eq(px_record_sign(&rec, &kat_id, out, 10, &len, &field), PX_ETOOBIG);
    cr_assert_eq(px_record_sign(&rec, &kat_id, out, 0, &len, &field), PX_ETOOBIG);
}

Test(record, sign_sets_author_from_identity)
{
    static uint8_t out[PX_RECORD_MAX];
    struct px_record rec, got;
    size_t len = 0;

    kat_case_minimal(&rec);
    memset(rec.author, 0x99, sizeof(rec.author));
    cr_assert_eq(px_record_sign(&rec, &other_id, out, sizeof(out), &len, NULL), 0);
    cr_assert_arr_eq(rec.author, other_id.pk, 32);
    cr_assert_eq(px_record_decode(out, len, &got, NULL), 0);
    cr_assert_arr_eq(got.author, other_id.pk, 32);
    cr_assert_eq(px_record_verify(&got), 0);
}

Test(record, decode_prefix_reads_a_stream)
{
    struct kat a, b;
    struct px_record rec;
    size_t used = 0;

    load_kat("case-full", &a);
    load_kat("retraction", &b);
    memcpy(buf, a.record, a.len);
    memcpy(buf + a.len, b.record, b.len);
    cr_assert_eq(px_record_decode_prefix(buf, a.len + b.len, &used, &rec, NULL), 0);
    cr_assert_eq(used, a.len);
    cr_assert_eq(rec.type, PX_RECORD_CASE);
    cr_assert_eq(px_record_verify(&rec), 0);
    cr_assert_eq(px_record_decode_prefix(buf + used, b.len, &used, &rec, NULL), 0);
    cr_assert_eq(used, b.len);
    cr_assert_eq(rec.type, PX_RECORD_RETRACTION);
    cr_assert_arr_eq(rec.rt.target, a.id, 32);
    cr_assert_eq(px_record_verify(&rec), 0);
    free(a.record);
    free(b.record);
}

Test(record, decode_prefix_of_a_stream_longer_than_64k)
{
    static uint8_t out[PX_RECORD_MAX];
    struct max_case m;
    struct px_record rec;
    size_t len = 0, used = 0;

    /* Two 40 KB records back to back: 80 KB of input, each record within the cap. */
    make_max_case(&m, 8000);
    m.rec.cs.n_links = 6;
    cr_assert_eq(px_record_sign(&m.rec, &kat_id, out, sizeof(out), &len, NULL), 0);
    cr_assert_gt(2 * len, PX_RECORD_MAX);
    memcpy(buf, out, len);
    memcpy(buf + len, out, len);
    cr_assert_eq(px_record_decode_prefix(buf, 2 * len, &used, &rec, NULL), 0);
    cr_assert_eq(used, len);
    cr_assert_eq(px_record_decode_prefix(buf + len, len, &used, &rec, NULL), 0);
}

Test(record, built_base_equals_encoder_output)
{
    /* The hand builder's good records are what the encoder writes, so a test that changes
     * one thing in them changes only that. */
    struct px_record rec, got;
    size_t n, len = 0;

    n = build(buf, sizeof(buf), NULL, case_base);
    cr_assert_eq(px_record_decode(buf, n, &got, NULL), 0);
    rec = got;
    cr_assert_eq(px_record_encode(&rec, buf2, sizeof(buf2), &len, NULL), 0);
    cr_assert_eq(len, n);
    cr_assert_arr_eq(buf2, buf, n);

    n = build(buf, sizeof(buf), &retraction_env, retraction_base);
    cr_assert_eq(px_record_decode(buf, n, &got, NULL), 0);
    cr_assert_eq(got.type, PX_RECORD_RETRACTION);
    rec = got;
    cr_assert_eq(px_record_encode(&rec, buf2, sizeof(buf2), &len, NULL), 0);
    cr_assert_eq(len, n);
    cr_assert_arr_eq(buf2, buf, n);
}

/* ---- Forgeries ---- */

static struct px_record
decoded_kat(const char *name, struct kat *k)
{
    struct px_record rec;

    load_kat(name, k);
    cr_assert_eq(px_record_decode(k->record, k->len, &rec, NULL), 0);
    cr_assert_eq(px_record_verify(&rec), 0);
    return rec;
}

Test(record, forgery_payload_bit_flip)
{
    struct kat k;
    struct px_record rec = decoded_kat("case-full", &k), got;
    char summary[512];
    size_t len = 0;
    const char *field = NULL;

    /* One bit of the summary ('U' ^ 0x20 = 'u'), re-encoded with the original signature
     * so that it still decodes. */
    cr_assert_lt(rec.cs.summary.len, sizeof(summary));
    memcpy(summary, rec.cs.summary.p, rec.cs.summary.len);
    summary[0] ^= 0x20;
    rec.cs.summary.p = summary;
    cr_assert_eq(px_record_encode(&rec, buf, sizeof(buf), &len, &field), 0, "%s", field);
    cr_assert_eq(len, k.len);
    cr_assert_eq(px_record_decode(buf, len, &got, NULL), 0);
    cr_assert_arr_eq(got.sig, rec.sig, 64);
    cr_assert_eq(px_record_verify(&got), PX_EBADSIG);
    cr_assert_arr_neq(got.id, k.id, 32, "a changed payload has another id");
    free(k.record);
}

Test(record, forgery_signature_bit_flips)
{
    struct kat k;
    struct px_record rec = decoded_kat("case-minimal", &k), got;

    for (size_t bit = 0; bit < 8 * 64; bit++) {
        memcpy(buf, k.record, k.len);
        buf[k.len - 64 + bit / 8] ^= (uint8_t)(1u << (bit % 8));
        cr_assert_eq(px_record_decode(buf, k.len, &got, NULL), 0);
        cr_assert_arr_eq(got.id, rec.id, 32, "the id does not cover the signature");
        cr_assert_eq(px_record_verify(&got), PX_EBADSIG, "signature bit %zu", bit);
    }
    free(k.record);
}

Test(record, forgery_author_key_bit_flips)
{
    struct kat k;
    struct px_record got;

    (void)decoded_kat("case-minimal", &k);
    /* [96 01 01 c4 20 <32 bytes of author> ...] */
    for (size_t bit = 0; bit < 8 * 32; bit++) {
        memcpy(buf, k.record, k.len);
        buf[5 + bit / 8] ^= (uint8_t)(1u << (bit % 8));
        cr_assert_eq(px_record_decode(buf, k.len, &got, NULL), 0);
        cr_assert_eq(px_record_verify(&got), PX_EBADSIG, "author bit %zu", bit);
    }
    free(k.record);
}

Test(record, forgery_other_keys_valid_signature)
{
    struct kat k;
    struct px_record rec = decoded_kat("case-full", &k), got;
    uint8_t sig[64];

    /* A genuine signature by another key over exactly the signed bytes. */
    px_sign(&other_id, rec.signed_bytes, rec.signed_len, sig);
    cr_assert_eq(px_verify(other_id.pk, rec.signed_bytes, rec.signed_len, sig), 0);
    memcpy(buf, k.record, k.len);
    memcpy(buf + k.len - 64, sig, 64);
    cr_assert_eq(px_record_decode(buf, k.len, &got, NULL), 0);
    cr_assert_eq(px_record_verify(&got), PX_EBADSIG);

    /* And with the other key named as author, the original author's signature fails. */
    memcpy(buf, k.record, k.len);
    memcpy(buf + 5, other_id.pk, 32);
    cr_assert_eq(px_record_decode(buf, k.len, &got, NULL), 0);
    cr_assert_eq(px_record_verify(&got), PX_EBADSIG);
    free(k.record);
}

Test(record, no_single_bit_flip_survives)
{
    /* Every bit of a signed record: either the decoder refuses it, or the signature does. */
    const char *names[] = {"case-minimal", "retraction"};

    for (size_t v = 0; v < 2; v++) {
        struct kat k;
        unsigned decoded = 0;

        (void)decoded_kat(names[v], &k);
        for (size_t bit = 0; bit < 8 * k.len; bit++) {
            struct px_record got;

            memcpy(buf, k.record, k.len);
            buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
            if (px_record_decode(buf, k.len, &got, NULL) == 0) {
                decoded++;
                cr_assert_eq(px_record_verify(&got), PX_EBADSIG, "%s: bit %zu verified", names[v],
                             bit);
            }
        }
        cr_assert_gt(decoded, 8 * 64, "%s: the signature bits at least decode", names[v]);
        free(k.record);
    }
}

/* ---- Malformed input, one defect at a time ---- */

Test(record, truncated)
{
    size_t n = build(buf, sizeof(buf), NULL, case_base);
    struct px_record rec;
    const char *field = "sentinel";

    cr_assert_eq(px_record_decode(buf, n - 1, &rec, &field), PX_ETRUNC);
    cr_assert_null(field);
    /* Every shorter prefix: out of bytes, or a count larger than the bytes left. */
    for (size_t len = 0; len < n; len++) {
        int rc = px_record_decode(buf, len, &rec, NULL);

        cr_assert(rc == PX_ETRUNC || rc == PX_ECOUNT, "prefix %zu: %s", len, px_err_name(rc));
    }
}

Test(record, trailing_bytes)
{
    static const struct env extra = {.extra = "00"};
    size_t n = build(buf, sizeof(buf), &extra, case_base), used = 0;
    struct px_record rec;
    const char *field = NULL;

    cr_assert_eq(px_record_decode(buf, n, &rec, &field), PX_ETRAILING);
    cr_assert_str_eq(field, "record");
    cr_assert_eq(px_record_decode_prefix(buf, n, &used, &rec, &field), 0);
    cr_assert_eq(used, n - 1);
    cr_assert_null(field);
}

Test(record, non_shortest_integers_and_lengths)
{
    /* Each caught by the walker, before any field is read: field is NULL. */
    EXPECT_DECODE(&((struct env){.version = "cc01"}), PX_ENONCANON, NULL, F_LANGUAGE, F_LICENSE,
                  F_PRACTICE, F_SUMMARY, F_TITLE);
    EXPECT_DECODE(&((struct env){.type = "cd0001"}), PX_ENONCANON, NULL, F_LANGUAGE, F_LICENSE,
                  F_PRACTICE, F_SUMMARY, F_TITLE);
    EXPECT_DECODE(&((struct env){.created = "d3 0000018bcfe56800"}), PX_ENONCANON, NULL, F_LANGUAGE,
                  F_LICENSE, F_PRACTICE, F_SUMMARY, F_TITLE);
    EXPECT_DECODE(&((struct env){.head = "dc0006"}), PX_ENONCANON, NULL, F_LANGUAGE, F_LICENSE,
                  F_PRACTICE, F_SUMMARY, F_TITLE);
    EXPECT_DECODE(&((struct env){.map = "de0005"}), PX_ENONCANON, NULL, F_LANGUAGE, F_LICENSE,
                  F_PRACTICE, F_SUMMARY, F_TITLE);
    EXPECT_DECODE(&((struct env){.author = hex_fill("c50020", 32, 0x11)}), PX_ENONCANON, NULL,
                  F_LANGUAGE, F_LICENSE, F_PRACTICE, F_SUMMARY, F_TITLE);
    EXPECT_CASE_WITH("title", V_RAW, "d905 48656c6c6f", PX_ENONCANON, NULL);
    EXPECT_CASE_WITH("lessons", V_RAW, "dc0001 a161", PX_ENONCANON, NULL);
    EXPECT_DECODE(NULL, PX_ENONCANON, NULL, F_LANGUAGE, F_LICENSE, F_PRACTICE, F_SUMMARY,
                  {"#d905 7469746c65", V_STR, "key in str8"});
}

Test(record, unsorted_map_keys)
{
    EXPECT_DECODE(NULL, PX_EKEYORDER, NULL, F_LICENSE, F_LANGUAGE, F_PRACTICE, F_SUMMARY, F_TITLE);
    EXPECT_DECODE(NULL, PX_EKEYORDER, NULL, F_LANGUAGE, F_LICENSE, F_PRACTICE, F_TITLE, F_SUMMARY);
    EXPECT_DECODE(&retraction_env, PX_EKEYORDER, NULL, F_TARGET, F_REASON);
}

Test(record, duplicate_map_keys)
{
    EXPECT_DECODE(NULL, PX_EDUPKEY, NULL, F_LANGUAGE, F_LANGUAGE, F_LICENSE, F_PRACTICE, F_SUMMARY,
                  F_TITLE);
    EXPECT_DECODE(NULL, PX_EDUPKEY, NULL, F_LANGUAGE, F_LICENSE, F_PRACTICE, F_SUMMARY, F_TITLE,
                  {"title", V_STR, "Another title"});
    EXPECT_DECODE(&retraction_env, PX_EDUPKEY, NULL, F_REASON, F_REASON, F_TARGET);
}

Test(record, unknown_fields)
{
    EXPECT_CASE_WITH("color", V_STR, "red", PX_EUNKNOWN, "payload");
    EXPECT_CASE_WITH("zzz", V_STR, "last", PX_EUNKNOWN, "payload");
    EXPECT_CASE_WITH("titl", V_STR, "a prefix of title", PX_EUNKNOWN, "payload");
    EXPECT_CASE_WITH("titles", V_STR, "title is a prefix of it", PX_EUNKNOWN, "payload");
    EXPECT_CASE_WITH("target", V_ID, NULL, PX_EUNKNOWN, "payload");
    EXPECT_RETRACTION_WITH("title", V_STR, "a case field", PX_EUNKNOWN, "payload");
    EXPECT_RETRACTION_WITH("note", V_STR, "x", PX_EUNKNOWN, "payload");
}

Test(record, invalid_utf8_each_place)
{
    /* Caught by the walker: field is NULL. */
    EXPECT_CASE_WITH("title", V_STR, "bad \xc3\x28 byte", PX_EUTF8, NULL);
    EXPECT_CASE_WITH("summary", V_STR, "overlong \xc0\xaf slash", PX_EUTF8, NULL);
    EXPECT_CASE_WITH("body", V_STR, "surrogate \xed\xa0\x80 here", PX_EUTF8, NULL);
    EXPECT_CASE_WITH("lessons", V_LIST, "fine|too high \xf4\x90\x80\x80", PX_EUTF8, NULL);
    EXPECT_CASE_WITH("tags", V_LIST, "cut-\xe2\x82", PX_EUTF8, NULL);
    EXPECT_RETRACTION_WITH("reason", V_STR, "\xff", PX_EUTF8, NULL);
    EXPECT_DECODE(NULL, PX_EUTF8, NULL, {"#a2 c328", V_STR, "x"}, F_LANGUAGE, F_LICENSE, F_PRACTICE,
                  F_SUMMARY, F_TITLE);
}

Test(record, container_count_larger_than_bytes_left)
{
    /* The signature element replaced by an array of 64 with nothing after it. */
    EXPECT_DECODE(&((struct env){.sig = "dc0040"}), PX_ECOUNT, NULL, F_LANGUAGE, F_LICENSE,
                  F_PRACTICE, F_SUMMARY, F_TITLE);
    /* The payload map claims 15 pairs; only the signature's bytes follow the one pair. */
    EXPECT_DECODE(&((struct env){.map = "8f", .sig = "c0"}), PX_ECOUNT, NULL, F_TITLE);
    /* The classic: a 5-byte header asking for 4 billion elements is over the count cap. */
    EXPECT_DECODE(&((struct env){.sig = "ddffffffff"}), PX_ETOOBIG, NULL, F_LANGUAGE, F_LICENSE,
                  F_PRACTICE, F_SUMMARY, F_TITLE);
    EXPECT_DECODE(&((struct env){.head = "ddffffffff"}), PX_ETOOBIG, NULL, F_LANGUAGE, F_LICENSE,
                  F_PRACTICE, F_SUMMARY, F_TITLE);
}

Test(record, nesting_too_deep)
{
    /* envelope > payload > list is the deepest a record goes. */
    EXPECT_CASE_WITH("lessons", V_RAW, "92 a161 91a162", PX_EDEPTH, NULL);
    EXPECT_CASE_WITH("lessons", V_RAW, "91 90", PX_EDEPTH, NULL);
    EXPECT_CASE_WITH("tags", V_RAW, "91 80", PX_EDEPTH, NULL);
    EXPECT_CASE_WITH("title", V_RAW, "91 91 a161", PX_EDEPTH, NULL);
}

Test(record, wrong_types)
{
    EXPECT_CASE_WITH("title", V_RAW, "c403 616263", PX_ETYPE, "title");
    EXPECT_CASE_WITH("summary", V_RAW, "01", PX_ETYPE, "summary");
    EXPECT_CASE_WITH("practice", V_RAW, "01", PX_ETYPE, "practice");
    EXPECT_CASE_WITH("language", V_RAW, "c0", PX_ETYPE, "language");
    EXPECT_CASE_WITH("region", V_RAW, "c3", PX_ETYPE, "region");
    EXPECT_CASE_WITH("tags", V_STR, "cash", PX_ETYPE, "tags");
    EXPECT_CASE_WITH("lessons", V_RAW, "92 a161 01", PX_ETYPE, "lessons");
    EXPECT_CASE_WITH("links", V_RAW, "81 a161 a162", PX_ETYPE, "links");
    EXPECT_CASE_WITH("supersedes", V_STR, "not a binary id", PX_ETYPE, "supersedes");
    EXPECT_RETRACTION_WITH("target", V_STR, "not a binary id", PX_ETYPE, "target");
    EXPECT_RETRACTION_WITH("reason", V_RAW, "c401 61", PX_ETYPE, "reason");
    EXPECT_DECODE(&((struct env){.version = "a131"}), PX_ETYPE, "version", F_LANGUAGE, F_LICENSE,
                  F_PRACTICE, F_SUMMARY, F_TITLE);
    EXPECT_DECODE(&((struct env){.type = "a131"}), PX_ETYPE, "type", F_LANGUAGE, F_LICENSE,
                  F_PRACTICE, F_SUMMARY, F_TITLE);
    EXPECT_DECODE(&((struct env){.author = "a3 616263"}), PX_ETYPE, "author", F_LANGUAGE, F_LICENSE,
                  F_PRACTICE, F_SUMMARY, F_TITLE);
    EXPECT_DECODE(&((struct env){.created = "a131"}), PX_ETYPE, "created", F_LANGUAGE, F_LICENSE,
                  F_PRACTICE, F_SUMMARY, F_TITLE);
    EXPECT_DECODE(&((struct env){.created = "e0"}), PX_ETYPE, "created", F_LANGUAGE, F_LICENSE,
                  F_PRACTICE, F_SUMMARY, F_TITLE);
    EXPECT_DECODE(&((struct env){.payload = "91 01"}), PX_ETYPE, "payload", F_END);
    EXPECT_DECODE(&((struct env){.sig = "a3 616263"}), PX_ETYPE, "signature", F_LANGUAGE, F_LICENSE,
                  F_PRACTICE, F_SUMMARY, F_TITLE);
}

Test(record, envelope_shape)
{
    struct px_record rec;
    const char *field = NULL;

    /* Seven elements, or five. */
    EXPECT_DECODE(&((struct env){.head = "97", .extra = "c0"}), PX_ETYPE, "record", F_LANGUAGE,
                  F_LICENSE, F_PRACTICE, F_SUMMARY, F_TITLE);
    EXPECT_DECODE(&((struct env){.head = "95", .sig = ""}), PX_ETYPE, "record", F_LANGUAGE,
                  F_LICENSE, F_PRACTICE, F_SUMMARY, F_TITLE);
    /* Not an array at all. */
    cr_assert_eq(px_record_decode((const uint8_t *)"\x81\xa1v\x01", 4, &rec, &field), PX_ETYPE);
    cr_assert_str_eq(field, "record");
    cr_assert_eq(px_record_decode((const uint8_t *)"\x01", 1, &rec, &field), PX_ETYPE);
    /* An empty array has no version. */
    cr_assert_eq(px_record_decode((const uint8_t *)"\x90", 1, &rec, &field), PX_ETYPE);
    cr_assert_str_eq(field, "version");
    cr_assert_eq(px_record_decode((const uint8_t *)"", 0, &rec, &field), PX_ETRUNC);
}

Test(record, wrong_version)
{
    struct px_record rec;
    const char *field = NULL;

    EXPECT_DECODE(&((struct env){.version = "02"}), PX_EVERSION, "version", F_LANGUAGE, F_LICENSE,
                  F_PRACTICE, F_SUMMARY, F_TITLE);
    EXPECT_DECODE(&((struct env){.version = "00"}), PX_EVERSION, "version", F_LANGUAGE, F_LICENSE,
                  F_PRACTICE, F_SUMMARY, F_TITLE);
    EXPECT_DECODE(&((struct env){.version = "cd0100"}), PX_EVERSION, "version", F_LANGUAGE,
                  F_LICENSE, F_PRACTICE, F_SUMMARY, F_TITLE);
    /* A later version may change everything after the version: it is still EVERSION. */
    cr_assert_eq(px_record_decode((const uint8_t *)"\x92\x02\xc0", 3, &rec, &field), PX_EVERSION);
    cr_assert_str_eq(field, "version");

    /* Validation and encoding refuse another version too. */
    kat_case_minimal(&rec);
    rec.version = 2;
    cr_assert_eq(px_record_validate(&rec, &field), PX_EVERSION);
    cr_assert_str_eq(field, "version");
}

Test(record, wrong_record_type)
{
    EXPECT_DECODE(&((struct env){.type = "03"}), PX_EVALUE, "type", F_LANGUAGE, F_LICENSE,
                  F_PRACTICE, F_SUMMARY, F_TITLE);
    EXPECT_DECODE(&((struct env){.type = "00"}), PX_EVALUE, "type", F_LANGUAGE, F_LICENSE,
                  F_PRACTICE, F_SUMMARY, F_TITLE);
    /* A case payload under the retraction type, and the other way round. */
    EXPECT_DECODE(&retraction_env, PX_EUNKNOWN, "payload", F_LANGUAGE, F_LICENSE, F_PRACTICE,
                  F_SUMMARY, F_TITLE);
    EXPECT_DECODE(NULL, PX_EUNKNOWN, "payload", F_REASON, F_TARGET);
}

Test(record, wrong_key_and_signature_lengths)
{
    EXPECT_DECODE(&((struct env){.author = hex_fill("c41f", 31, 0x11)}), PX_EKEY, "author",
                  F_LANGUAGE, F_LICENSE, F_PRACTICE, F_SUMMARY, F_TITLE);
    EXPECT_DECODE(&((struct env){.author = hex_fill("c421", 33, 0x11)}), PX_EKEY, "author",
                  F_LANGUAGE, F_LICENSE, F_PRACTICE, F_SUMMARY, F_TITLE);
    EXPECT_DECODE(&((struct env){.author = hex_fill("c400", 0, 0)}), PX_EKEY, "author", F_LANGUAGE,
                  F_LICENSE, F_PRACTICE, F_SUMMARY, F_TITLE);
    EXPECT_DECODE(&((struct env){.sig = hex_fill("c43f", 63, 0)}), PX_EVALUE, "signature",
                  F_LANGUAGE, F_LICENSE, F_PRACTICE, F_SUMMARY, F_TITLE);
    EXPECT_DECODE(&((struct env){.sig = hex_fill("c441", 65, 0)}), PX_EVALUE, "signature",
                  F_LANGUAGE, F_LICENSE, F_PRACTICE, F_SUMMARY, F_TITLE);
    EXPECT_CASE_WITH("supersedes", V_RAW, "c401 00", PX_EVALUE, "supersedes");
    EXPECT_RETRACTION_WITH("target", V_RAW, "c400", PX_EVALUE, "target");
}

Test(record, created_time_bounds)
{
    char hex[32];

    /* 2020-01-01T00:00:00Z is the earliest; a millisecond before is too old. */
    EXPECT_DECODE(&((struct env){.created_ms = PX_RECORD_MIN_CREATED}), 0, NULL, F_LANGUAGE,
                  F_LICENSE, F_PRACTICE, F_SUMMARY, F_TITLE);
    EXPECT_DECODE(&((struct env){.created_ms = PX_RECORD_MIN_CREATED - 1}), PX_ETOOOLD, "created",
                  F_LANGUAGE, F_LICENSE, F_PRACTICE, F_SUMMARY, F_TITLE);
    EXPECT_DECODE(&((struct env){.created = "00"}), PX_ETOOOLD, "created", F_LANGUAGE, F_LICENSE,
                  F_PRACTICE, F_SUMMARY, F_TITLE);
    /* The year 9999 is the latest printable. */
    EXPECT_DECODE(&((struct env){.created_ms = PX_RECORD_MAX_CREATED}), 0, NULL, F_LANGUAGE,
                  F_LICENSE, F_PRACTICE, F_SUMMARY, F_TITLE);
    EXPECT_DECODE(&((struct env){.created_ms = PX_RECORD_MAX_CREATED + 1}), PX_EVALUE, "created",
                  F_LANGUAGE, F_LICENSE, F_PRACTICE, F_SUMMARY, F_TITLE);
    snprintf(hex, sizeof(hex), "cf %016llx", (unsigned long long)UINT64_MAX);
    EXPECT_DECODE(&((struct env){.created = hex}), PX_EVALUE, "created", F_LANGUAGE, F_LICENSE,
                  F_PRACTICE, F_SUMMARY, F_TITLE);
}

Test(record, created_in_the_future)
{
    struct kat k;
    struct px_record rec = decoded_kat("case-full", &k);
    const uint64_t skew = 10 * 60 * 1000; /* ten minutes */
    const uint64_t created = KAT_CREATED_CASE_FULL;

    cr_assert_eq(rec.created, created);
    cr_assert_eq(px_record_check_created(&rec, created, skew), 0, "now");
    cr_assert_eq(px_record_check_created(&rec, created + 86400000, skew), 0, "a day old");
    cr_assert_eq(px_record_check_created(&rec, created - skew, skew), 0, "exactly the skew");
    cr_assert_eq(px_record_check_created(&rec, created - 1000, skew), 0, "within the skew");
    cr_assert_eq(px_record_check_created(&rec, created - skew - 1, skew), PX_EFUTURE,
                 "one ms past the skew");
    cr_assert_eq(px_record_check_created(&rec, created - 86400000, skew), PX_EFUTURE,
                 "a day ahead");
    cr_assert_eq(px_record_check_created(&rec, created - 1, 0), PX_EFUTURE, "no skew allowed");
    cr_assert_eq(px_record_check_created(&rec, 0, UINT64_MAX), 0, "any skew allowed");
    cr_assert_eq(px_record_check_created(&rec, UINT64_MAX, 0), 0);
    free(k.record);
}

Test(record, missing_required_fields)
{
    EXPECT_DECODE(NULL, PX_EMISSING, "practice", F_LANGUAGE, F_LICENSE, F_SUMMARY, F_TITLE);
    EXPECT_DECODE(NULL, PX_EMISSING, "title", F_LANGUAGE, F_LICENSE, F_PRACTICE, F_SUMMARY);
    EXPECT_DECODE(NULL, PX_EMISSING, "summary", F_LANGUAGE, F_LICENSE, F_PRACTICE, F_TITLE);
    EXPECT_DECODE(NULL, PX_EMISSING, "language", F_LICENSE, F_PRACTICE, F_SUMMARY, F_TITLE);
    EXPECT_DECODE(NULL, PX_EMISSING, "license", F_LANGUAGE, F_PRACTICE, F_SUMMARY, F_TITLE);
    EXPECT_DECODE(&((struct env){.payload = "80"}), PX_EMISSING, "practice", F_END);
    EXPECT_DECODE(&retraction_env, PX_EMISSING, "reason", F_TARGET);
    EXPECT_DECODE(&retraction_env, PX_EMISSING, "target", F_REASON);
    EXPECT_DECODE(&((struct env){.type = "02", .payload = "80"}), PX_EMISSING, "target", F_END);
}

Test(record, empty_fields_present)
{
    EXPECT_STR("body", "", PX_EVALUE);
    EXPECT_STR("sector", "", PX_EVALUE);
    EXPECT_STR("region", "", PX_EVALUE);
    EXPECT_STR("occurred", "", PX_EVALUE);
    EXPECT_LIST("lessons", "", PX_EVALUE);
    EXPECT_LIST("tags", "", PX_EVALUE);
    EXPECT_LIST("links", "", PX_EVALUE);
    EXPECT_LIST("lessons", "a lesson|", PX_EVALUE);
    EXPECT_LIST("tags", "|b", PX_EVALUE);
    /* A required field that is there but empty is a bad value, not a missing one. */
    EXPECT_STR("title", "", PX_EVALUE);
    EXPECT_STR("summary", "", PX_EVALUE);
    EXPECT_STR("language", "", PX_EVALUE);
    EXPECT_STR("license", "", PX_EVALUE);
    EXPECT_STR("practice", "", PX_EVALUE);
    EXPECT_RETRACTION_WITH("reason", V_STR, "", PX_EVALUE, "reason");
}

Test(record, text_fields_at_and_over_cap)
{
    static const struct {
        const char *key;
        size_t cap;
        const char *pat;
    } rows[] = {
        {"title", PX_CASE_MAX_TITLE, "title "},
        {"summary", PX_CASE_MAX_SUMMARY, "summary\n"},
        {"body", PX_CASE_MAX_BODY, "body\t\n"},
        {"sector", PX_CASE_MAX_SECTOR, "s"},
    };

    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        char *at = pattern(rows[i].pat, rows[i].cap);
        char *over = pattern(rows[i].pat, rows[i].cap + 1);

        if (strcmp(rows[i].key, "sector") == 0) {
            at[0] = over[0] = 'a'; /* tokens have no capitals */
        }
        EXPECT_STR(rows[i].key, at, 0);
        EXPECT_STR(rows[i].key, over, PX_ETOOBIG);
    }
    EXPECT_STR("license", "LicenseRef-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", 0);
    EXPECT_STR("license", "LicenseRef-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
               PX_ETOOBIG);
    EXPECT_STR("language", "en-abcdefgh-abcdefgh-abcdefgh-abcde", 0);
    EXPECT_STR("language", "en-abcdefgh-abcdefgh-abcdefgh-abcdef", PX_ETOOBIG);
    EXPECT_STR("region", "GB-ENG", 0);
    EXPECT_STR("region", "GB-ENGL", PX_ETOOBIG);
    EXPECT_STR("occurred", "2023-01-01", 0);
    EXPECT_STR("occurred", "2023-01-011", PX_ETOOBIG);
    EXPECT_RETRACTION_WITH("reason", V_STR, pattern("r", PX_RETRACT_MAX_REASON), 0, NULL);
    EXPECT_RETRACTION_WITH("reason", V_STR, pattern("r", PX_RETRACT_MAX_REASON + 1), PX_ETOOBIG,
                           "reason");
}

Test(record, lists_at_and_over_cap)
{
    char *s;

    /* Counts. */
    s = list_of(PX_CASE_MAX_LESSONS, 10, "lesson", 'x');
    EXPECT_LIST("lessons", s, 0);
    s = list_of(PX_CASE_MAX_LESSONS + 1, 10, "lesson", 'x');
    EXPECT_LIST("lessons", s, PX_ETOOBIG);
    s = list_of(PX_CASE_MAX_TAGS, 8, "tag", 'x');
    EXPECT_LIST("tags", s, 0);
    s = list_of(PX_CASE_MAX_TAGS + 1, 8, "tag", 'x');
    EXPECT_LIST("tags", s, PX_ETOOBIG);
    s = list_of(PX_CASE_MAX_LINKS, 30, "https://example.org/", 'x');
    EXPECT_LIST("links", s, 0);
    s = list_of(PX_CASE_MAX_LINKS + 1, 30, "https://example.org/", 'x');
    EXPECT_LIST("links", s, PX_ETOOBIG);
    /* Element lengths. */
    s = list_of(2, PX_CASE_MAX_LESSON, "lesson ", 'x');
    EXPECT_LIST("lessons", s, 0);
    s = list_of(2, PX_CASE_MAX_LESSON + 1, "lesson ", 'x');
    EXPECT_LIST("lessons", s, PX_ETOOBIG);
    s = list_of(2, PX_CASE_MAX_TAG, "tag-", 'x');
    EXPECT_LIST("tags", s, 0);
    s = list_of(2, PX_CASE_MAX_TAG + 1, "tag-", 'x');
    EXPECT_LIST("tags", s, PX_ETOOBIG);
    s = list_of(2, PX_CASE_MAX_LINK, "https://example.org/", 'x');
    EXPECT_LIST("links", s, 0);
    s = list_of(2, PX_CASE_MAX_LINK + 1, "https://example.org/", 'x');
    EXPECT_LIST("links", s, PX_ETOOBIG);
    /* 65 elements is over the walker's count cap before any list rule runs. */
    s = list_of(65, 4, "t", 'x');
    EXPECT_CASE_WITH("tags", V_LIST, s, PX_ETOOBIG, NULL);
}

Test(record, practice_values)
{
    EXPECT_STR("practice", "good", 0);
    EXPECT_STR("practice", "bad", 0);
    EXPECT_STR("practice", "Good", PX_EVALUE);
    EXPECT_STR("practice", "meh", PX_EVALUE);
    EXPECT_STR("practice", "good ", PX_EVALUE);
    EXPECT_STR("practice", "goodbad", PX_EVALUE);
}

Test(record, region_values)
{
    static const char *const good[] = {"KE", "KE-30", "GB-ENG", "US-CA", "FR-75C", "DE-1"};
    static const char *const bad[] = {"ke",    "K",     "KEN", "KE-",   "KE30",  "Ke-30",
                                      "KE-3a", "KE_30", "K1",  "KE 30", "KE--3", "12"};

    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        EXPECT_STR("region", good[i], 0);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        EXPECT_STR("region", bad[i], PX_EVALUE);
    }
}

Test(record, language_values)
{
    static const char *const good[] = {"en",      "fr",     "haw",        "en-GB",   "zh-Hant-TW",
                                       "sr-Latn", "es-419", "de-CH-1901", "abcdefgh"};
    static const char *const bad[] = {"EN",    "e",      "en_GB",     "en-",
                                      "-en",   "en--GB", "abcdefghi", "en-abcdefghi",
                                      "en GB", "1en",    "\xc3\xa9n"};

    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        EXPECT_STR("language", good[i], 0);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        EXPECT_STR("language", bad[i], PX_EVALUE);
    }
}

Test(record, occurred_values)
{
    static const char *const good[] = {"2023",       "1000",       "9999",       "2023-01",
                                       "2023-12",    "2023-12-31", "2024-02-29", "2000-02-29",
                                       "2023-02-28", "2023-04-30"};
    static const char *const bad[] = {
        "2023-02-29", "1900-02-29", "2100-02-29", "2023-13",  "2023-00",    "2023-04-31",
        "2023-04-00", "2023-06-31", "0999",       "999",      "2023-1",     "2023-1-01",
        "2023/04/01", "202a",       "2023-04-0a", "20230401", "2023-04-1 ", "+123"};

    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        EXPECT_STR("occurred", good[i], 0);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        EXPECT_STR("occurred", bad[i], PX_EVALUE);
    }
}

Test(record, license_values)
{
    static const char *const good[] = {"MIT",      "CC-BY-4.0",           "CC0-1.0",
                                       "GPL-2.0+", "LicenseRef-praxis.1", "0BSD"};
    static const char *const bad[] = {"-MIT",       ".MIT",  "+MIT", "MIT License",
                                      "MIT/X11",    "CC BY", "MIT,", "(MIT OR Apache-2.0)",
                                      "caf\xc3\xa9"};

    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        EXPECT_STR("license", good[i], 0);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        EXPECT_STR("license", bad[i], PX_EVALUE);
    }
}

Test(record, link_values)
{
    static const char *const good[] = {"http://x", "https://example.org",
                                       "https://example.org/a?b=c#d", "https://\xc3\xa9.org/"};
    static const char *const bad[] = {"ftp://example.org",
                                      "https://",
                                      "http://",
                                      "HTTPS://example.org",
                                      "Http://example.org",
                                      "https://exa mple.org",
                                      "example.org",
                                      "//example.org",
                                      "javascript:alert(1)",
                                      "https:/example.org",
                                      "https://example.org/\x7f"};

    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        EXPECT_LIST("links", good[i], 0);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        EXPECT_LIST("links", bad[i], PX_EVALUE);
    }
}

Test(record, tag_and_sector_values)
{
    static const char *const good[] = {"cash", "cash-transfers", "food_security", "wash", "2023",
                                       "s\xc3\xa9"
                                       "curit\xc3\xa9",
                                       "a-",
                                       /* Non-ASCII letters, capitals included. */
                                       "sant\xc3\xa9",
                                       "\xc3\x89"
                                       "cole"};
    /* "ÉCOLE" holds the ASCII capitals C, O, L, E: refused (protocol.md 3.3), although
     * docs/records.md gives it as an example of a valid token. */
    static const char *const bad[] = {"Cash",
                                      "cash transfers",
                                      "a,b",
                                      "-cash",
                                      "a\tb",
                                      " cash",
                                      "cash ",
                                      "CASH",
                                      "\xc3\x89"
                                      "COLE"};

    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        EXPECT_LIST("tags", good[i], 0);
        EXPECT_STR("sector", good[i], 0);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        EXPECT_LIST("tags", bad[i], PX_EVALUE);
        EXPECT_STR("sector", bad[i], PX_EVALUE);
    }
}

Test(record, tags_sorted_and_unique)
{
    EXPECT_LIST("tags", "a|b|c", 0);
    EXPECT_LIST("tags", "a|ab|b", 0);
    EXPECT_LIST("tags", "b|a", PX_ENONCANON);
    EXPECT_LIST("tags", "ab|a", PX_ENONCANON);
    EXPECT_LIST("tags", "a|a", PX_ENONCANON);
    EXPECT_LIST("tags", "a|b|b", PX_ENONCANON);
    /* Bytewise: "z" (7a) sorts before "\xc3\xa9" (c3 a9). */
    EXPECT_LIST("tags", "z|\xc3\xa9t\xc3\xa9", 0);
    EXPECT_LIST("tags", "\xc3\xa9t\xc3\xa9|z", PX_ENONCANON);
    /* Lessons and links keep their order: no sorting rule there. */
    EXPECT_LIST("lessons", "b lesson|a lesson|a lesson", 0);
    EXPECT_LIST("links", "https://b.org|https://a.org", 0);
}

Test(record, control_characters)
{
    /* One-line fields: no control character at all. */
    static const char *const line_bad[] = {"a\tb",       "a\nb",       "a\rb",
                                           "a\x01z",     "a\x1b[0mz",  "a\x7fz",
                                           "a\xc2\x85z", "a\xc2\x9fz", "a\x0bz"};
    /* Block fields: \n and \t are fine, the rest are not. */
    static const char *const block_bad[] = {"a\rb",   "a\r\nb",     "a\x01z",
                                            "a\x7fz", "a\xc2\x80z", "a\x0cz"};

    for (size_t i = 0; i < sizeof(line_bad) / sizeof(line_bad[0]); i++) {
        EXPECT_STR("title", line_bad[i], PX_EVALUE);
        EXPECT_LIST("lessons", line_bad[i], PX_EVALUE);
    }
    for (size_t i = 0; i < sizeof(block_bad) / sizeof(block_bad[0]); i++) {
        EXPECT_STR("summary", block_bad[i], PX_EVALUE);
        EXPECT_STR("body", block_bad[i], PX_EVALUE);
        EXPECT_RETRACTION_WITH("reason", V_STR, block_bad[i], PX_EVALUE, "reason");
    }
    EXPECT_STR("summary", "line one\nline two\tand a tab", 0);
    EXPECT_STR("body", "# head\n\n\tcode\n\nend", 0);
    EXPECT_STR("title", "A title with \xc2\xa0 a no-break space and \xc2\xa9", 0);
    /* Only ASCII space, tab and line feed are white space at the ends (protocol.md 3.3):
     * U+00A0, U+2028 and U+3000 are ordinary characters, even there. */
    EXPECT_STR("title", "\xc2\xa0no-break space first", 0);
    EXPECT_STR("title", "line separator last \xe2\x80\xa8", 0);
    EXPECT_STR("summary", "\xe3\x80\x80ideographic space", 0);
    /* A NUL byte. */
    EXPECT_CASE_WITH("title", V_RAW, "a3 610062", PX_EVALUE, "title");
    EXPECT_CASE_WITH("summary", V_RAW, "a3 610062", PX_EVALUE, "summary");
}

Test(record, leading_and_trailing_space)
{
    static const char *const bad[] = {" a", "a ", "\ta", "a\t", "\na", "a\n", " ", "  a  "};

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        EXPECT_STR("title", bad[i], PX_EVALUE);
        EXPECT_STR("summary", bad[i], PX_EVALUE);
        EXPECT_STR("body", bad[i], PX_EVALUE);
        EXPECT_LIST("lessons", bad[i], PX_EVALUE);
        EXPECT_RETRACTION_WITH("reason", V_STR, bad[i], PX_EVALUE, "reason");
    }
    EXPECT_STR("title", "a b", 0);
}

/* ---- The struct side: validate, encode, helpers ---- */

Test(record, validate_names_the_field)
{
    struct px_record rec;
    const char *field = NULL;
    char bad_utf8[] = "bad \xc3\x28";

    kat_case_full(&rec);
    cr_assert_eq(px_record_validate(&rec, &field), 0);
    cr_assert_null(field);
    cr_assert_eq(px_record_validate(&rec, NULL), 0);

    rec.cs.practice = 0;
    cr_assert_eq(px_record_validate(&rec, &field), PX_EMISSING);
    cr_assert_str_eq(field, "practice");
    rec.cs.practice = 3;
    cr_assert_eq(px_record_validate(&rec, &field), PX_EVALUE);
    cr_assert_str_eq(field, "practice");

    kat_case_full(&rec);
    rec.cs.title = str_of(bad_utf8);
    cr_assert_eq(px_record_validate(&rec, &field), PX_EUTF8);
    cr_assert_str_eq(field, "title");

    kat_case_full(&rec);
    rec.cs.n_lessons = PX_CASE_MAX_LESSONS + 1;
    cr_assert_eq(px_record_validate(&rec, &field), PX_ETOOBIG);
    cr_assert_str_eq(field, "lessons");
    kat_case_full(&rec);
    rec.cs.n_tags = PX_CASE_MAX_TAGS + 1;
    cr_assert_eq(px_record_validate(&rec, &field), PX_ETOOBIG);
    cr_assert_str_eq(field, "tags");
    kat_case_full(&rec);
    rec.cs.n_links = PX_CASE_MAX_LINKS + 1;
    cr_assert_eq(px_record_validate(&rec, &field), PX_ETOOBIG);
    cr_assert_str_eq(field, "links");

    kat_case_full(&rec);
    rec.cs.tags[0] = str_of("zzz");
    cr_assert_eq(px_record_validate(&rec, &field), PX_ENONCANON);
    cr_assert_str_eq(field, "tags");

    kat_case_full(&rec);
    rec.created = PX_RECORD_MIN_CREATED - 1;
    cr_assert_eq(px_record_validate(&rec, &field), PX_ETOOOLD);
    cr_assert_str_eq(field, "created");

    kat_case_full(&rec);
    rec.type = (enum px_record_type)7;
    cr_assert_eq(px_record_validate(&rec, &field), PX_EVALUE);
    cr_assert_str_eq(field, "type");

    px_record_init(&rec, PX_RECORD_RETRACTION);
    rec.created = KAT_CREATED_RETRACTION;
    cr_assert_eq(px_record_validate(&rec, &field), PX_EMISSING);
    cr_assert_str_eq(field, "reason");
}

Test(record, encode_refuses_invalid_records)
{
    struct px_record rec;
    size_t len = 0;
    const char *field = NULL;

    kat_case_full(&rec);
    rec.cs.occurred = str_of("2023-02-29");
    cr_assert_eq(px_record_encode(&rec, buf, sizeof(buf), &len, &field), PX_EVALUE);
    cr_assert_str_eq(field, "occurred");
    cr_assert_eq(px_record_sign(&rec, &kat_id, buf, sizeof(buf), &len, &field), PX_EVALUE);
    cr_assert_str_eq(field, "occurred");
}

Test(record, sort_tags)
{
    struct px_record rec;

    kat_case_full(&rec);
    rec.cs.tags[0] = str_of("mobile-money");
    rec.cs.tags[1] = str_of("cash-transfers");
    rec.cs.tags[2] = str_of("food-security");
    rec.cs.tags[3] = str_of("cash-transfers");
    rec.cs.tags[4] = str_of("cash");
    rec.cs.n_tags = 5;
    cr_assert_eq(px_record_validate(&rec, NULL), PX_ENONCANON);
    px_case_sort_tags(&rec.cs);
    cr_assert_eq(rec.cs.n_tags, 4);
    cr_assert_eq(rec.cs.tags[0].len, 4);
    cr_assert_arr_eq(rec.cs.tags[0].p, "cash", 4);
    cr_assert_arr_eq(rec.cs.tags[1].p, "cash-transfers", 14);
    cr_assert_arr_eq(rec.cs.tags[2].p, "food-security", 13);
    cr_assert_arr_eq(rec.cs.tags[3].p, "mobile-money", 12);
    cr_assert_eq(px_record_validate(&rec, NULL), 0);

    rec.cs.n_tags = 0;
    px_case_sort_tags(&rec.cs);
    cr_assert_eq(rec.cs.n_tags, 0);
}

Test(record, names_of_practices_and_types)
{
    enum px_practice p = 0;

    cr_assert_str_eq(px_practice_name(PX_PRACTICE_GOOD), "good");
    cr_assert_str_eq(px_practice_name(PX_PRACTICE_BAD), "bad");
    cr_assert_str_eq(px_practice_name((enum px_practice)9), "unknown");
    cr_assert_eq(px_practice_parse("good", 4, &p), 0);
    cr_assert_eq(p, PX_PRACTICE_GOOD);
    cr_assert_eq(px_practice_parse("bad", 3, &p), 0);
    cr_assert_eq(p, PX_PRACTICE_BAD);
    cr_assert_eq(px_practice_parse("goo", 3, &p), PX_EVALUE);
    cr_assert_eq(px_practice_parse("goodx", 4, &p), 0, "only len bytes are read");
    cr_assert_eq(px_practice_parse("BAD", 3, &p), PX_EVALUE);
    cr_assert_eq(px_practice_parse("", 0, &p), PX_EVALUE);
    cr_assert_str_eq(px_record_type_name(PX_RECORD_CASE), "case");
    cr_assert_str_eq(px_record_type_name(PX_RECORD_RETRACTION), "retraction");
    cr_assert_str_eq(px_record_type_name((enum px_record_type)0), "unknown");
}

Test(record, init_sets_version_and_type)
{
    struct px_record rec;

    memset(&rec, 0xff, sizeof(rec));
    px_record_init(&rec, PX_RECORD_RETRACTION);
    cr_assert_eq(rec.version, PX_RECORD_VERSION);
    cr_assert_eq(rec.type, PX_RECORD_RETRACTION);
    cr_assert_eq(rec.created, 0);
    cr_assert_eq(rec.cs.n_tags, 0);
    cr_assert_eq(rec.rt.reason.len, 0);
}

/* ---- The payload alone (the local API's form) ---- */

/* The payload map sits in a record right after the 46-byte envelope head:
 * 96, version, type, c4 20 + author (34), cf + created (9). */
#define ENVELOPE_HEAD 46

Test(record, payload_round_trip_matches_the_record)
{
    const char *names[] = {"case-full", "case-minimal", "retraction"};

    for (size_t i = 0; i < 3; i++) {
        struct kat k;
        struct px_record rec = decoded_kat(names[i], &k), got;
        size_t len = 0;
        const char *field = "sentinel";
        int rc;

        rc = px_record_encode_payload(&rec, buf, sizeof(buf), &len, &field);
        cr_assert_eq(rc, 0, "%s: %s (%s)", names[i], px_err_name(rc), field ? field : "NULL");
        cr_assert_null(field);
        cr_assert_eq(len, rec.signed_len - ENVELOPE_HEAD, "%s", names[i]);
        cr_assert_arr_eq(buf, k.record + ENVELOPE_HEAD, len, "%s: payload bytes differ", names[i]);

        memset(&got, 0, sizeof(got));
        got.created = 12345; /* the envelope fields are left alone */
        field = "sentinel";
        rc = px_record_decode_payload(rec.type, buf, len, &got, &field);
        cr_assert_eq(rc, 0, "%s: %s (%s)", names[i], px_err_name(rc), field ? field : "NULL");
        cr_assert_null(field);
        cr_assert_eq(got.type, rec.type);
        cr_assert_eq(got.created, 12345);
        got.version = rec.version;
        got.created = rec.created;
        memcpy(got.author, rec.author, 32);
        memcpy(got.sig, rec.sig, 64);
        assert_same_record(&got, &rec, buf, len);
        free(k.record);
    }
}

Test(record, payload_decode_rejections)
{
    struct kat k;
    struct px_record rec = decoded_kat("case-minimal", &k), got;
    size_t len = 0;
    const char *field = NULL;

    cr_assert_eq(px_record_encode_payload(&rec, buf, sizeof(buf), &len, NULL), 0);
    /* Trailing bytes, truncation, the wrong type, an unknown type. */
    buf[len] = 0xc0;
    cr_assert_eq(px_record_decode_payload(PX_RECORD_CASE, buf, len + 1, &got, &field),
                 PX_ETRAILING);
    cr_assert_eq(px_record_decode_payload(PX_RECORD_CASE, buf, len - 1, &got, &field), PX_ETRUNC);
    cr_assert_eq(px_record_decode_payload(PX_RECORD_RETRACTION, buf, len, &got, &field),
                 PX_EUNKNOWN);
    cr_assert_eq(px_record_decode_payload((enum px_record_type)3, buf, len, &got, &field),
                 PX_EVALUE);
    cr_assert_str_eq(field, "type");
    /* A payload holds lists, but no deeper: {"lessons": [[]]} is too deep. */
    cr_assert_eq(px_record_decode_payload(
                     PX_RECORD_CASE, (const uint8_t *)"\x81\xa7lessons\x91\x90", 11, &got, &field),
                 PX_EDEPTH);
    /* A field rule, with the field named. */
    cr_assert_eq(px_record_decode_payload(
                     PX_RECORD_CASE, (const uint8_t *)"\x81\xa8practice\xa3meh", 14, &got, &field),
                 PX_EVALUE);
    cr_assert_str_eq(field, "practice");
    cr_assert_eq(px_record_decode_payload(PX_RECORD_CASE, (const uint8_t *)"\x80", 1, &got, &field),
                 PX_EMISSING);
    cr_assert_str_eq(field, "practice");
    free(k.record);
}

Test(record, payload_encode_validates_and_bounds)
{
    struct px_record rec;
    size_t len = 0, need;
    const char *field = NULL;

    kat_case_full(&rec);
    /* The envelope is not the payload's business: an old created time is fine here. */
    rec.created = 0;
    cr_assert_eq(px_record_encode_payload(&rec, buf, sizeof(buf), &len, &field), 0);
    need = len;
    cr_assert_eq(px_record_encode_payload(&rec, buf, need, &len, &field), 0);
    cr_assert_eq(px_record_encode_payload(&rec, buf, need - 1, &len, &field), PX_ETOOBIG);
    cr_assert_str_eq(field, "payload");
    rec.cs.region = str_of("ke");
    cr_assert_eq(px_record_encode_payload(&rec, buf, sizeof(buf), &len, &field), PX_EVALUE);
    cr_assert_str_eq(field, "region");
}
