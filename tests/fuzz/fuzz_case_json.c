/* SPDX-License-Identifier: MIT */
/*
 * fuzz_case_json.c - libFuzzer target for the JSON a user gives praxis: the objects of
 * `publish --json` (and `sign`, `correct`), and the JSON Lines `import` reads.
 *
 * The input goes down both paths. As a publish input it is a stream of JSON values read
 * with px_json_next (at most MAX_OBJECTS), each turned into a payload with
 * px_json_encode_payload, the function publish sends with. As an import file it is split
 * into lines as import splits it, and each non-blank line goes to px_json_import_line.
 *
 * Properties, for any input:
 *   1. A refused object or line gives one of the documented codes and a message without
 *      control characters (it is printed to a terminal); px_json_next's errors likewise.
 *   2. An accepted object becomes a payload that decodes (px_record_decode_payload) to the
 *      same fields, and a record that signs (px_record_sign, a fixed key and time): the
 *      signed record decodes (px_record_decode) to the same fields, verifies, has the id
 *      px_record_sign gave, and ends its signed part with the payload bytes. A payload
 *      refused as too big for a record (field "record") is one that does not sign.
 *   3. Round trip: px_json_from_record of the decoded record (as `get --json` writes it),
 *      less the keys that describe the old version (id, author, created), printed as
 *      text and read again with px_json_next, encodes to exactly the same payload bytes;
 *      and its id, author and created are the record's.
 *   4. Export and import agree: px_json_export_line of the signed record, given to
 *      px_json_import_line, gives back exactly the signed record's bytes, which decode,
 *      verify and have the id the line names.
 *   5. An accepted import line's bytes are its "raw" string decoded (checked against the
 *      line's own "raw", read here with jansson and compared as lowercase hex), 1 to
 *      PX_RECORD_MAX of them; when they decode as a record, its export line imports back to
 *      the same bytes (and its signature verifies, or not, as before).
 * A broken property prints what broke and aborts.
 */
#include <ctype.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "client/json.h"
#include "protocol/buf.h"
#include "protocol/err.h"
#include "protocol/record.h"
#include "protocol/sign.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* JSON values of one input that go down the publish path. */
#define MAX_OBJECTS 8
/* Import lines of one input. */
#define MAX_LINES 32
/* 2024-05-01T12:00:00Z: the publication time px_record_sign is given. */
#define CREATED UINT64_C(1714564800000)

static struct px_identity ident;
static uint8_t *payload, *payload2, *signed_rec;
static char *hexbuf;

static void
fail(const char *what, const char *detail)
{
    fprintf(stderr, "fuzz_case_json: broken property: %s%s%s\n", what, detail != NULL ? ": " : "",
            detail != NULL ? detail : "");
    abort();
}

static void
fail_rc(const char *what, int rc, const char *field)
{
    fprintf(stderr, "fuzz_case_json: broken property: %s (rc %s, field %s)\n", what,
            px_err_name(rc), field != NULL ? field : "-");
    abort();
}

/* No C0 control or DEL: the message is safe to print as one line. */
static bool
no_controls(const char *s)
{
    for (; *s != '\0'; s++) {
        if ((unsigned char)*s < 0x20 || *s == 0x7f) {
            return false;
        }
    }
    return true;
}

static bool
str_eq(struct px_str a, struct px_str b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0);
}

static bool
list_eq(const struct px_str *a, uint32_t na, const struct px_str *b, uint32_t nb)
{
    if (na != nb) {
        return false;
    }
    for (uint32_t i = 0; i < na; i++) {
        if (!str_eq(a[i], b[i])) {
            return false;
        }
    }
    return true;
}

/* The payload fields of two records; NULL when equal, else the first that differs. */
static const char *
payload_diff(const struct px_record *a, const struct px_record *b)
{
    const struct px_case *x = &a->cs, *y = &b->cs;

    if (a->type != b->type) {
        return "type";
    }
    if (a->type == PX_RECORD_RETRACTION) {
        if (memcmp(a->rt.target, b->rt.target, PX_ID_BYTES) != 0) {
            return "target";
        }
        return str_eq(a->rt.reason, b->rt.reason) ? NULL : "reason";
    }
    if (x->practice != y->practice) {
        return "practice";
    }
    if (!str_eq(x->title, y->title)) {
        return "title";
    }
    if (!str_eq(x->summary, y->summary)) {
        return "summary";
    }
    if (!str_eq(x->body, y->body)) {
        return "body";
    }
    if (!list_eq(x->lessons, x->n_lessons, y->lessons, y->n_lessons)) {
        return "lessons";
    }
    if (!list_eq(x->tags, x->n_tags, y->tags, y->n_tags)) {
        return "tags";
    }
    if (!str_eq(x->sector, y->sector)) {
        return "sector";
    }
    if (!str_eq(x->region, y->region)) {
        return "region";
    }
    if (!str_eq(x->language, y->language)) {
        return "language";
    }
    if (!str_eq(x->occurred, y->occurred)) {
        return "occurred";
    }
    if (!list_eq(x->links, x->n_links, y->links, y->n_links)) {
        return "links";
    }
    if (!str_eq(x->license, y->license)) {
        return "license";
    }
    if (x->has_supersedes != y->has_supersedes ||
        (x->has_supersedes && memcmp(x->supersedes, y->supersedes, PX_ID_BYTES) != 0)) {
        return "supersedes";
    }
    return NULL;
}

static bool
hex_key_is(const json_t *o, const char *key, const uint8_t *bytes, size_t n)
{
    char hex[2 * PX_ID_BYTES + 1];
    const json_t *v = json_object_get(o, key);

    px_hex_encode(bytes, n, hex);
    return json_is_string(v) && strcmp(json_string_value(v), hex) == 0;
}

/*
 * Property 4: the export line of a decoded record imports back to its bytes, which decode
 * to the same id and verify exactly when the record does (signed here: it must).
 */
static void
check_export_import(const struct px_record *rec, bool must_verify)
{
    char *line = px_json_export_line(rec, hexbuf);
    char msg[1024];
    uint8_t *raw = NULL;
    size_t raw_len = 0;
    struct px_record back;
    const char *field = NULL;
    json_t *o;
    int rc;

    if (line == NULL) {
        fail("px_json_export_line failed", NULL);
    }
    if ((rc = px_json_import_line((const uint8_t *)line, strlen(line), &raw, &raw_len, msg,
                                  sizeof(msg))) != 0) {
        fail("an export line does not import", msg);
    }
    if (raw_len != rec->len || memcmp(raw, rec->signed_bytes, raw_len) != 0) {
        fail("an export line imports to other bytes", NULL);
    }
    if ((rc = px_record_decode(raw, raw_len, &back, &field)) != 0) {
        fail_rc("an imported record does not decode", rc, field);
    }
    rc = px_record_verify(&back);
    if (must_verify ? rc != 0 : rc != px_record_verify(rec)) {
        fail_rc("an imported record verifies otherwise than the exported one", rc, NULL);
    }
    if ((o = json_loads(line, 0, NULL)) == NULL || !hex_key_is(o, "id", back.id, PX_ID_BYTES)) {
        fail("an export line names another id than its record's", line);
    }
    json_decref(o);
    free(raw);
    free(line);
}

/* Property 3: record -> JSON text -> payload gives the same payload bytes. */
static void
check_json_round_trip(const struct px_record *dec, const uint8_t *pl, size_t plen)
{
    json_t *form = px_json_from_record(dec), *obj = NULL;
    struct px_json_error err;
    struct px_record again;
    char *text, msg[1024], line[1024];
    struct px_json_pos pos = {0};
    size_t at = 0, len2 = 0;
    int got, rc;

    if (form == NULL) {
        fail("px_json_from_record failed", NULL);
    }
    if (!hex_key_is(form, "id", dec->id, PX_ID_BYTES) ||
        !hex_key_is(form, "author", dec->author, PX_SIGN_PUBLICKEYBYTES) ||
        json_integer_value(json_object_get(form, "created")) != (json_int_t)dec->created) {
        fail("px_json_from_record's id, author or created is not the record's", NULL);
    }
    json_object_del(form, "id");
    json_object_del(form, "author");
    json_object_del(form, "created");
    if ((text = json_dumps(form, JSON_COMPACT)) == NULL) {
        fail("json_dumps failed", NULL);
    }
    json_decref(form);
    got = px_json_next((const uint8_t *)text, strlen(text), &pos, &obj, &at, line, sizeof(line));
    if (got != 1) {
        fail("the JSON form of a record does not read back", line);
    }
    if ((rc = px_json_encode_payload(obj, &again, payload2, PX_RECORD_MAX, &len2, &err)) != 0) {
        px_json_error_format(&err, msg, sizeof(msg));
        fprintf(stderr, "%s\n", text);
        fail("the JSON form of a record is refused", msg);
    }
    if (len2 != plen || memcmp(payload2, pl, plen) != 0) {
        fprintf(stderr, "%s\n", text);
        fail("the JSON form of a record encodes to another payload", payload_diff(dec, &again));
    }
    json_decref(obj);
    free(text);
}

/*
 * A payload refused because the record would be too big: the payload itself encodes,
 * and signing it does fail with PX_ETOOBIG (the refusal is exact, not just cautious).
 */
static void
check_too_big(json_t *obj)
{
    struct px_json_error err;
    struct px_record rec;
    const char *field = NULL;
    size_t plen = 0, slen = 0;
    int rc;

    if (px_json_to_record(obj, &rec, &err) != 0 ||
        px_record_encode_payload(&rec, payload, PX_RECORD_MAX, &plen, &field) != 0) {
        fail("a payload refused as too big for a record does not encode alone", NULL);
    }
    rec.created = CREATED;
    if ((rc = px_record_sign(&rec, &ident, signed_rec, PX_RECORD_MAX, &slen, &field)) !=
        PX_ETOOBIG) {
        fail_rc("a payload refused as too big for a record signs", rc, field);
    }
}

/* Property 2 and on: one object of the publish path. */
static void
check_object(json_t *obj)
{
    struct px_json_error err;
    struct px_record rec, dec, sig;
    const char *field = NULL, *diff;
    char msg[1024];
    size_t plen = 0, slen = 0;
    int rc;

    rc = px_json_encode_payload(obj, &rec, payload, PX_RECORD_MAX, &plen, &err);
    if (rc != 0) {
        if (err.code != rc) {
            fail_rc("the error's code is not the code returned", rc, err.field);
        }
        if (rc != PX_ETYPE && rc != PX_EUNKNOWN && rc != PX_EMISSING && rc != PX_EVALUE &&
            rc != PX_ETOOBIG && rc != PX_EUTF8) {
            fail_rc("px_json_encode_payload returned an undocumented code", rc, err.field);
        }
        px_json_error_format(&err, msg, sizeof(msg));
        if (msg[0] == '\0' || !no_controls(msg)) {
            fail("an error message is empty or holds a control character", NULL);
        }
        if (rc == PX_ETOOBIG && strcmp(err.field, "record") == 0) {
            check_too_big(obj);
        }
        return;
    }
    /* The payload decodes to the same fields. */
    memset(&dec, 0, sizeof(dec));
    dec.type = rec.type;
    if ((rc = px_record_decode_payload(rec.type, payload, plen, &dec, &field)) != 0) {
        fail_rc("an encoded payload does not decode", rc, field);
    }
    if ((diff = payload_diff(&rec, &dec)) != NULL) {
        fail("a payload decodes to other fields", diff);
    }
    /* praxisd signs it: the record signs, decodes, verifies, and is the same. */
    rec.created = CREATED;
    if ((rc = px_record_sign(&rec, &ident, signed_rec, PX_RECORD_MAX, &slen, &field)) != 0) {
        fprintf(stderr, "payload of %zu bytes\n", plen);
        fail_rc("an accepted object does not sign", rc, field);
    }
    if ((rc = px_record_decode(signed_rec, slen, &sig, &field)) != 0) {
        fail_rc("a signed record does not decode", rc, field);
    }
    if ((rc = px_record_verify(&sig)) != 0) {
        fail_rc("a signed record does not verify", rc, NULL);
    }
    if (memcmp(sig.id, rec.id, PX_ID_BYTES) != 0 || sig.created != CREATED ||
        memcmp(sig.author, ident.pk, sizeof(ident.pk)) != 0) {
        fail("a signed record decodes to another id, time or author", NULL);
    }
    if ((diff = payload_diff(&rec, &sig)) != NULL) {
        fail("a signed record decodes to other fields", diff);
    }
    if (sig.signed_len < plen || memcmp(signed_rec + sig.signed_len - plen, payload, plen) != 0) {
        fail("the signed part does not end with the payload", NULL);
    }
    check_json_round_trip(&sig, payload, plen);
    check_export_import(&sig, true);
}

/* Property 5: one line of the import path. */
static void
check_import_line(const uint8_t *p, size_t len)
{
    char msg[JSON_ERROR_TEXT_LENGTH * 4 + 32];
    uint8_t *raw = NULL;
    size_t raw_len = 0;
    json_t *o, *v;
    struct px_record rec;
    int rc;

    rc = px_json_import_line(p, len, &raw, &raw_len, msg, sizeof(msg));
    if (rc == PX_EINVAL) {
        if (raw != NULL || msg[0] == '\0' || !no_controls(msg)) {
            fail("a refused line left bytes, or its message is empty or holds a control", msg);
        }
        return;
    }
    if (rc != 0) {
        fail_rc("px_json_import_line returned an undocumented code", rc, NULL);
    }
    if (raw_len < 1 || raw_len > PX_RECORD_MAX) {
        fail("an accepted line's record is empty or over PX_RECORD_MAX", NULL);
    }
    /* The second path: jansson on the line, the "raw" string compared as lowercase hex. */
    o = json_loadb((const char *)p, len, 0, NULL);
    v = json_object_get(o, "raw");
    if (!json_is_string(v) || json_string_length(v) != 2 * raw_len) {
        fail("an accepted line has no \"raw\" of twice the record's length", NULL);
    }
    px_hex_encode(raw, raw_len, hexbuf);
    for (size_t i = 0; i < 2 * raw_len; i++) {
        if (tolower((unsigned char)json_string_value(v)[i]) != hexbuf[i]) {
            fail("an accepted line's bytes are not its \"raw\"", NULL);
        }
    }
    json_decref(o);
    if (px_record_decode(raw, raw_len, &rec, NULL) == 0) {
        check_export_import(&rec, false);
    }
    free(raw);
}

static bool
is_blank(const uint8_t *p, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r') {
            return false;
        }
    }
    return true;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool ready;
    struct px_json_pos pos = {0};
    size_t start = 0;

    if (!ready) {
        uint8_t seed[PX_SIGN_SEEDBYTES];

        memset(seed, 0x42, sizeof(seed));
        json_object_seed(1);
        payload = malloc(PX_RECORD_MAX);
        payload2 = malloc(PX_RECORD_MAX);
        signed_rec = malloc(PX_RECORD_MAX);
        hexbuf = malloc(2 * (size_t)PX_RECORD_MAX + 1);
        if (px_crypto_init() != 0 || px_identity_from_seed(&ident, seed) != 0 || payload == NULL ||
            payload2 == NULL || signed_rec == NULL || hexbuf == NULL) {
            abort();
        }
        ready = true;
    }

    /* The publish path: each JSON value of the stream. */
    for (int i = 0; i < MAX_OBJECTS; i++) {
        json_t *obj = NULL;
        size_t line = 0;
        char msg[1024];
        size_t from = pos.off, at, nl = 1;
        int got = px_json_next(data, size, &pos, &obj, &line, msg, sizeof(msg));

        if (got < 0) {
            if (msg[0] == '\0' || !no_controls(msg)) {
                fail("px_json_next's message is empty or holds a control character", NULL);
            }
            break;
        }
        if (got == 0) {
            break;
        }
        /* The line reported is the one the value starts on, counted from the start. */
        if (from == 0 && size >= 3 && memcmp(data, "\xef\xbb\xbf", 3) == 0) {
            from = 3;
        }
        for (at = from; at < size && (data[at] == ' ' || data[at] == '\t' || data[at] == '\n' ||
                                      data[at] == '\r');
             at++) {
        }
        for (size_t k = 0; k < at && k < size; k++) {
            nl += data[k] == '\n';
        }
        if (line != nl) {
            fail("px_json_next reports another line than the value starts on", NULL);
        }
        if (pos.off > size || line < 1) {
            fail("px_json_next moved past the input or gave no line", NULL);
        }
        check_object(obj);
        json_decref(obj);
    }

    /* The import path: each non-blank line, as import splits them. */
    for (int n = 0; n < MAX_LINES && start < size; n++) {
        const uint8_t *nl = memchr(data + start, '\n', size - start);
        size_t len = (nl != NULL ? (size_t)(nl - data) : size) - start;

        if (!is_blank(data + start, len)) {
            check_import_line(data + start, len);
        }
        start += len + 1;
    }
    return 0;
}
