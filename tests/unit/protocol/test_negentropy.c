/* SPDX-License-Identifier: MIT */
/*
 * test_negentropy.c - negentropy v1: the reference's vectors in both roles, our own known
 * answers for 64-bit timestamps, the strict parser, the conformance testee, and the index
 * against a brute-force model.
 *
 * The shared vectors (../shared/vectors/negentropy.json) come from the JavaScript
 * reference and keep every timestamp below 2^31, so the 64-bit known answers below were
 * recorded from the C++ reference (hoytech/negentropy cpp/negentropy.h with its Vector
 * storage, commit 6edb041, run outside this repository): the item sets are generated here
 * by splitmix64 (gen_items), and the expected messages are stored as SHA-256 digests.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <jansson.h>
#include <sodium.h>

#include "protocol/buf.h"
#include "protocol/err.h"
#include "protocol/negentropy.h"
#include "util/testutil.h"

#define ID PX_NEGENTROPY_ID_SIZE

/* ---- Helpers ---- */

static uint8_t *
hexdup(const char *hex, size_t *n)
{
    size_t len = strlen(hex);
    uint8_t *p = malloc(len / 2 + 1);

    cr_assert_not_null(p);
    cr_assert_eq(len % 2, 0, "odd hex length");
    cr_assert_eq(px_hex_decode(hex, len, p, len / 2), 0, "bad hex %.40s", hex);
    *n = len / 2;
    return p;
}

static char *
hexstr(const uint8_t *p, size_t n)
{
    char *s = malloc(2 * n + 1);

    cr_assert_not_null(s);
    px_hex_encode(p, n, s);
    return s;
}

/* Asserts that p[0..n) is the hex string expect; names what differed. */
static void
assert_bytes(const uint8_t *p, size_t n, const char *expect, const char *what)
{
    char *got = p != NULL ? hexstr(p, n) : NULL;

    cr_assert_not_null(got, "%s: no message, expected %.60s...", what, expect);
    if (strcmp(got, expect) != 0) {
        size_t i = 0;

        while (got[i] != '\0' && got[i] == expect[i]) {
            i++;
        }
        cr_assert_fail("%s: differs at byte %zu (got %zu bytes, expected %zu)\n got %.80s\n exp "
                       "%.80s",
                       what, i / 2, n, strlen(expect) / 2, got + (i & ~(size_t)1),
                       expect + (i & ~(size_t)1));
    }
    free(got);
}

static json_t *
load_vectors(void)
{
    char *path = px_test_shared_vector("negentropy.json");
    json_error_t err;
    json_t *root;

    root = json_load_file(path, 0, &err);
    cr_assert_not_null(root, "%s: %s (line %d)", path, err.text, err.line);
    free(path);
    return root;
}

static struct px_negentropy_storage *
storage_from_json(const json_t *items, bool reverse)
{
    struct px_negentropy_storage *st;
    size_t n = json_array_size(items);

    cr_assert_eq(px_negentropy_storage_new(&st), 0);
    for (size_t k = 0; k < n; k++) {
        const json_t *it = json_array_get(items, reverse ? n - 1 - k : k);
        uint8_t id[ID];
        const char *hex = json_string_value(json_array_get(it, 1));

        cr_assert_not_null(hex);
        cr_assert_eq(px_hex_decode(hex, strlen(hex), id, ID), 0);
        cr_assert_eq(px_negentropy_storage_insert(
                         st, (uint64_t)json_integer_value(json_array_get(it, 0)), id),
                     0);
    }
    cr_assert_eq(px_negentropy_storage_seal(st), 0);
    cr_assert_eq(px_negentropy_storage_size(st), n);
    return st;
}

static int
cmp_id(const void *a, const void *b)
{
    return memcmp(a, b, ID);
}

/* Sorts n ids in place and drops duplicates; returns the new count. */
static size_t
sort_unique(uint8_t *ids, size_t n)
{
    size_t u = 0;

    if (n > 1) {
        qsort(ids, n, ID, cmp_id);
    }
    for (size_t i = 0; i < n; i++) {
        if (u == 0 || memcmp(ids + (u - 1) * ID, ids + i * ID, ID) != 0) {
            memmove(ids + u * ID, ids + i * ID, ID);
            u++;
        }
    }
    return u;
}

/* ids[0..n) against a JSON array of hex ids: as sets, and, when ordered, in order too. */
static void
assert_ids(const uint8_t *ids, size_t n, const json_t *expect, bool ordered, const char *what)
{
    size_t m = json_array_size(expect);
    uint8_t *a = malloc(n * ID + 1), *b = malloc(m * ID + 1);

    cr_assert(a != NULL && b != NULL);
    for (size_t i = 0; i < m; i++) {
        const char *hex = json_string_value(json_array_get(expect, i));

        cr_assert_eq(px_hex_decode(hex, strlen(hex), b + i * ID, ID), 0);
    }
    if (n > 0) {
        memcpy(a, ids, n * ID);
    }
    if (ordered) {
        cr_assert(n == m && (n == 0 || memcmp(a, b, n * ID) == 0), "%s: not in the JS order", what);
    }
    cr_assert_eq(sort_unique(a, n), n, "%s: duplicate ids", what);
    cr_assert_eq(sort_unique(b, m), m);
    cr_assert_eq(n, m, "%s: %zu ids, expected %zu", what, n, m);
    cr_assert(n == 0 || memcmp(a, b, n * ID) == 0, "%s: other ids than expected", what);
    free(a);
    free(b);
}

/* A growing array of ids. */
struct idvec {
    uint8_t *p;
    size_t n, cap;
};

static void
idvec_add(struct idvec *v, const uint8_t *ids, size_t n)
{
    if (v->n + n > v->cap) {
        v->cap = (v->n + n) * 2 + 16;
        v->p = realloc(v->p, v->cap * ID);
        cr_assert_not_null(v->p);
    }
    if (n > 0) {
        memcpy(v->p + v->n * ID, ids, n * ID);
    }
    v->n += n;
}

struct loop_out {
    struct idvec have, need; /* sorted and unique at the end */
    size_t rounds, bytes;
    uint8_t digest[crypto_hash_sha256_BYTES]; /* of every message, in order */
};

/*
 * Runs a client over cst against a server over sst until the client is done. Checks every
 * message against its sender's limit and, when rounds is not NULL, against the recorded
 * transcript. Returns the union of what the client reported.
 */
static void
run_loop(const struct px_negentropy_storage *cst, const struct px_negentropy_storage *sst,
         size_t climit, size_t slimit, const json_t *rounds, struct loop_out *lo)
{
    struct px_negentropy *c, *s;
    crypto_hash_sha256_state h;
    uint8_t *msg;
    size_t len;

    memset(lo, 0, sizeof(*lo));
    crypto_hash_sha256_init(&h);
    cr_assert_eq(px_negentropy_new(cst, climit, &c), 0);
    cr_assert_eq(px_negentropy_new(sst, slimit, &s), 0);
    cr_assert_eq(px_negentropy_initiate(c, &msg, &len), 0);
    for (;;) {
        struct px_negentropy_result res;
        uint8_t *reply;
        size_t rlen;
        int rc;

        cr_assert(lo->rounds < 100000, "no convergence");
        cr_assert(climit == 0 || len <= climit, "client message of %zu bytes", len);
        crypto_hash_sha256_update(&h, msg, len);
        lo->bytes += len;
        if (rounds != NULL) {
            cr_assert_lt(lo->rounds, json_array_size(rounds), "more rounds than recorded");
            assert_bytes(msg, len,
                         json_string_value(
                             json_object_get(json_array_get(rounds, lo->rounds), "client_message")),
                         "loop: client message");
        }
        rc = px_negentropy_respond(s, msg, len, &reply, &rlen);
        cr_assert_eq(rc, 0, "server refused our message: %s (%s)", px_err_name(rc),
                     px_negentropy_reason(s));
        free(msg);
        cr_assert(slimit == 0 || rlen <= slimit, "server message of %zu bytes", rlen);
        crypto_hash_sha256_update(&h, reply, rlen);
        lo->bytes += rlen;
        if (rounds != NULL) {
            assert_bytes(reply, rlen,
                         json_string_value(
                             json_object_get(json_array_get(rounds, lo->rounds), "server_reply")),
                         "loop: server reply");
        }
        rc = px_negentropy_reconcile(c, reply, rlen, &res);
        cr_assert_eq(rc, 0, "client refused our reply: %s (%s)", px_err_name(rc),
                     px_negentropy_reason(c));
        free(reply);
        lo->rounds++;
        idvec_add(&lo->have, res.have, res.have_n);
        idvec_add(&lo->need, res.need, res.need_n);
        msg = res.msg;
        len = res.msg_len;
        res.msg = NULL;
        px_negentropy_result_fini(&res);
        if (msg == NULL) {
            break;
        }
    }
    crypto_hash_sha256_final(&h, lo->digest);
    lo->have.n = sort_unique(lo->have.p, lo->have.n);
    lo->need.n = sort_unique(lo->need.p, lo->need.n);
    px_negentropy_free(c);
    px_negentropy_free(s);
}

static void
loop_out_free(struct loop_out *lo)
{
    free(lo->have.p);
    free(lo->need.p);
}

/* ---- Varints ---- */

static const struct {
    uint64_t v;
    const char *hex;
} varints[] = {
    {0, "00"},
    {1, "01"},
    {127, "7f"},
    {128, "8100"},
    {255, "817f"},
    {16383, "ff7f"},
    {16384, "818000"},
    {UINT64_C(4294967296), "9080808000"},                     /* 2^32 */
    {UINT64_C(34359738367), "ffffffff7f"},                    /* 2^35 - 1, 5 bytes */
    {UINT64_C(72057594037927936), "818080808080808000"},      /* 2^56 */
    {UINT64_C(9223372036854775808), "81808080808080808000"},  /* 2^63, 10 bytes */
    {UINT64_C(18446744073709551614), "81ffffffffffffffff7e"}, /* UINT64_MAX - 1 */
    {UINT64_C(18446744073709551615), "81ffffffffffffffff7f"}, /* UINT64_MAX */
};

Test(negentropy, varint_table)
{
    for (size_t i = 0; i < sizeof(varints) / sizeof(varints[0]); i++) {
        uint8_t buf[16], *want;
        size_t n, wn, used = 0;
        uint64_t v = 0;

        want = hexdup(varints[i].hex, &wn);
        n = px_negentropy_varint_encode(varints[i].v, buf);
        cr_assert_eq(n, wn, "encode %s: %zu bytes", varints[i].hex, n);
        cr_assert_eq(memcmp(buf, want, n), 0, "encode %s", varints[i].hex);
        cr_assert_eq(px_negentropy_varint_len(varints[i].v), n);
        /* Decoding stops at the last digit, whatever follows. */
        buf[n] = 0xaa;
        cr_assert_eq(px_negentropy_varint_decode(buf, n + 1, &v, &used), 0);
        cr_assert_eq(v, varints[i].v, "decode %s", varints[i].hex);
        cr_assert_eq(used, n);
        free(want);
    }
}

Test(negentropy, varint_rejects)
{
    static const struct {
        const char *hex;
        int rc;
    } bad[] = {
        {"", PX_ETRUNC},
        {"81", PX_ETRUNC},
        {"ffffffffff", PX_ETRUNC},
        {"8000", PX_ENONCANON},                   /* 0 in two digits */
        {"807f", PX_ENONCANON},                   /* 127 in two digits */
        {"8080808080808080808001", PX_ENONCANON}, /* leading zeros */
        {"82808080808080808000", PX_EPROTO},      /* 2^64 */
        {"ffffffffffffffffff7f", PX_EPROTO},      /* 2^70 - 1 */
        {"8180808080808080808000", PX_EPROTO},    /* 2^70: 11 digits */
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        uint8_t buf[16];
        size_t n = strlen(bad[i].hex) / 2, used = 99;
        uint64_t v = 42;

        cr_assert_eq(px_hex_decode(bad[i].hex, 2 * n, buf, n), 0);
        cr_assert_eq(px_negentropy_varint_decode(buf, n, &v, &used), bad[i].rc, "%s: %s",
                     bad[i].hex, px_err_name(px_negentropy_varint_decode(buf, n, &v, &used)));
        cr_assert_eq(v, 42, "a failed decode wrote its output");
    }
}

/* ---- The reference's vectors ---- */

Test(negentropy, vectors_client_replay)
{
    json_t *root = load_vectors();
    const json_t *scs = json_object_get(root, "scenarios");
    size_t checked = 0;

    cr_assert_gt(json_array_size(scs), 0);
    for (size_t k = 0; k < json_array_size(scs); k++) {
        const json_t *sc = json_array_get(scs, k);
        const char *name = json_string_value(json_object_get(sc, "name"));
        const json_t *rounds = json_object_get(sc, "rounds");
        size_t limit = (size_t)json_integer_value(json_object_get(sc, "client_frame_size_limit"));
        struct px_negentropy_storage *st =
            storage_from_json(json_object_get(sc, "client_items"), true);
        struct px_negentropy *ne;
        uint8_t *msg;
        size_t len;
        char what[160];

        cr_assert_eq((size_t)json_integer_value(json_object_get(sc, "client_done_after_round")),
                     json_array_size(rounds));
        cr_assert_eq(px_negentropy_new(st, limit, &ne), 0);
        cr_assert_eq(px_negentropy_initiate(ne, &msg, &len), 0);
        snprintf(what, sizeof(what), "%s: initiate", name);
        assert_bytes(
            msg, len,
            json_string_value(json_object_get(json_array_get(rounds, 0), "client_message")), what);
        free(msg);
        for (size_t r = 0; r < json_array_size(rounds); r++) {
            const json_t *rd = json_array_get(rounds, r);
            struct px_negentropy_result res;
            uint8_t *in = hexdup(json_string_value(json_object_get(rd, "server_reply")), &len);
            int rc = px_negentropy_reconcile(ne, in, len, &res);

            cr_assert_eq(rc, 0, "%s round %zu: %s (%s)", name, r, px_err_name(rc),
                         px_negentropy_reason(ne));
            snprintf(what, sizeof(what), "%s round %zu: have", name, r);
            assert_ids(res.have, res.have_n, json_object_get(rd, "client_have"), true, what);
            snprintf(what, sizeof(what), "%s round %zu: need", name, r);
            assert_ids(res.need, res.need_n, json_object_get(rd, "client_need"), true, what);
            if (r + 1 < json_array_size(rounds)) {
                snprintf(what, sizeof(what), "%s round %zu: next message", name, r);
                assert_bytes(res.msg, res.msg_len,
                             json_string_value(
                                 json_object_get(json_array_get(rounds, r + 1), "client_message")),
                             what);
            } else {
                cr_assert_null(res.msg, "%s: not done after the last round", name);
            }
            px_negentropy_result_fini(&res);
            free(in);
            checked++;
        }
        px_negentropy_free(ne);
        px_negentropy_storage_free(st);
    }
    cr_log_info("client replay: %zu rounds of %zu scenarios", checked, json_array_size(scs));
    json_decref(root);
}

Test(negentropy, vectors_server_replay)
{
    json_t *root = load_vectors();
    const json_t *scs = json_object_get(root, "scenarios");

    cr_assert_gt(json_array_size(scs), 0);
    for (size_t k = 0; k < json_array_size(scs); k++) {
        const json_t *sc = json_array_get(scs, k);
        const char *name = json_string_value(json_object_get(sc, "name"));
        const json_t *rounds = json_object_get(sc, "rounds");
        size_t limit = (size_t)json_integer_value(json_object_get(sc, "server_frame_size_limit"));
        struct px_negentropy_storage *st =
            storage_from_json(json_object_get(sc, "server_items"), true);
        struct px_negentropy *ne;

        cr_assert_eq(px_negentropy_new(st, limit, &ne), 0);
        for (size_t r = 0; r < json_array_size(rounds); r++) {
            const json_t *rd = json_array_get(rounds, r);
            size_t len, rlen;
            uint8_t *in = hexdup(json_string_value(json_object_get(rd, "client_message")), &len);
            uint8_t *reply;
            int rc = px_negentropy_respond(ne, in, len, &reply, &rlen);
            char what[160];

            cr_assert_eq(rc, 0, "%s round %zu: %s (%s)", name, r, px_err_name(rc),
                         px_negentropy_reason(ne));
            snprintf(what, sizeof(what), "%s round %zu: reply", name, r);
            assert_bytes(reply, rlen, json_string_value(json_object_get(rd, "server_reply")), what);
            free(reply);
            free(in);
        }
        px_negentropy_free(ne);
        px_negentropy_storage_free(st);
    }
    json_decref(root);
}

Test(negentropy, vectors_loop)
{
    json_t *root = load_vectors();
    const json_t *scs = json_object_get(root, "scenarios");

    cr_assert_gt(json_array_size(scs), 0);
    for (size_t k = 0; k < json_array_size(scs); k++) {
        const json_t *sc = json_array_get(scs, k);
        const char *name = json_string_value(json_object_get(sc, "name"));
        struct px_negentropy_storage *cst =
            storage_from_json(json_object_get(sc, "client_items"), false);
        struct px_negentropy_storage *sst =
            storage_from_json(json_object_get(sc, "server_items"), false);
        struct loop_out lo;
        char what[160];

        run_loop(cst, sst,
                 (size_t)json_integer_value(json_object_get(sc, "client_frame_size_limit")),
                 (size_t)json_integer_value(json_object_get(sc, "server_frame_size_limit")),
                 json_object_get(sc, "rounds"), &lo);
        cr_assert_eq(lo.rounds, json_array_size(json_object_get(sc, "rounds")), "%s: rounds", name);
        snprintf(what, sizeof(what), "%s: final have", name);
        assert_ids(lo.have.p, lo.have.n, json_object_get(sc, "have"), true, what);
        snprintf(what, sizeof(what), "%s: final need", name);
        assert_ids(lo.need.p, lo.need.n, json_object_get(sc, "need"), true, what);
        loop_out_free(&lo);
        px_negentropy_storage_free(cst);
        px_negentropy_storage_free(sst);
    }
    json_decref(root);
}

/* The code we return where the reference threw, by case name. */
static int
single_error_code(const char *name)
{
    static const struct {
        const char *name;
        int rc;
    } codes[] = {
        {"invalid_version_byte_0x50", PX_EPROTO},
        {"truncated_message", PX_ETRUNC},
        {"empty_message", PX_ETRUNC},
        {"client_receives_version_0x62", PX_EVERSION},
    };

    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
        if (strcmp(codes[i].name, name) == 0) {
            return codes[i].rc;
        }
    }
    return 1; /* unknown case: any error will do */
}

Test(negentropy, vectors_single_messages)
{
    json_t *root = load_vectors();
    const json_t *cases = json_object_get(root, "single_messages");

    cr_assert_gt(json_array_size(cases), 0);
    for (size_t k = 0; k < json_array_size(cases); k++) {
        const json_t *c = json_array_get(cases, k);
        const char *name = json_string_value(json_object_get(c, "name"));
        const char *role = json_string_value(json_object_get(c, "role"));
        const json_t *reply = json_object_get(c, "reply");
        bool want_error = !json_is_null(json_object_get(c, "reference_error"));
        struct px_negentropy_storage *st = storage_from_json(json_object_get(c, "items"), false);
        struct px_negentropy *ne;
        uint8_t *in, *out = NULL;
        size_t len, olen = 0;
        int rc;

        cr_assert_eq(
            px_negentropy_new(
                st, (size_t)json_integer_value(json_object_get(c, "frame_size_limit")), &ne),
            0);
        in = hexdup(json_string_value(json_object_get(c, "message_in")), &len);
        if (strcmp(role, "client") == 0) {
            struct px_negentropy_result res;

            cr_assert_eq(px_negentropy_initiate(ne, &out, &olen), 0);
            assert_bytes(out, olen, json_string_value(json_object_get(c, "initiate")), name);
            free(out);
            rc = px_negentropy_reconcile(ne, in, len, &res);
            out = res.msg;
            olen = res.msg_len;
            res.msg = NULL;
            px_negentropy_result_fini(&res);
        } else {
            cr_assert_str_eq(role, "server");
            rc = px_negentropy_respond(ne, in, len, &out, &olen);
        }
        if (want_error) {
            int code = single_error_code(name);

            cr_assert_neq(rc, 0, "%s: accepted; the reference threw", name);
            cr_assert(code == 1 || rc == code, "%s: %s", name, px_err_name(rc));
            cr_assert_null(out);
            cr_assert_str_neq(px_negentropy_reason(ne), "");
        } else {
            cr_assert_eq(rc, 0, "%s: %s (%s)", name, px_err_name(rc), px_negentropy_reason(ne));
            assert_bytes(out, olen, json_string_value(reply), name);
        }
        free(out);
        free(in);
        px_negentropy_free(ne);
        px_negentropy_storage_free(st);
    }
    json_decref(root);
}

/* ---- The conformance testee, through the harness protocol ---- */

struct text {
    char *p;
    size_t n, cap;
};

static void
text_add(struct text *t, const char *a, const char *b)
{
    size_t la = strlen(a), lb = b != NULL ? strlen(b) : 0;

    if (t->n + la + lb + 2 > t->cap) {
        t->cap = (t->n + la + lb + 2) * 2;
        t->p = realloc(t->p, t->cap);
        cr_assert_not_null(t->p);
    }
    memcpy(t->p + t->n, a, la);
    t->n += la;
    if (b != NULL) {
        memcpy(t->p + t->n, b, lb);
        t->n += lb;
    }
    t->p[t->n++] = '\n';
    t->p[t->n] = '\0';
}

static void
text_items(struct text *t, const json_t *items)
{
    for (size_t i = 0; i < json_array_size(items); i++) {
        const json_t *it = json_array_get(items, i);
        char line[128];

        snprintf(line, sizeof(line), "item,%lld,%s",
                 (long long)json_integer_value(json_array_get(it, 0)),
                 json_string_value(json_array_get(it, 1)));
        text_add(t, line, NULL);
    }
}

static void
run_testee(const struct text *in, size_t limit, struct px_run *r)
{
    char *bin = px_test_bin("praxis-negentropy-testee");
    char *argv[] = {bin, NULL};
    char env[64];
    char *envp[] = {env, NULL};
    FILE *f = fopen(bin, "rb");

    /* CMake builds it before this test (add_dependencies); without it, say so. */
    cr_assert_not_null(f, "%s not built", bin);
    fclose(f);
    snprintf(env, sizeof(env), "FRAMESIZELIMIT=%zu", limit);
    cr_assert_eq(px_test_run(argv, in->p, in->n, envp, 20000, r), 0);
    free(bin);
}

Test(negentropy, testee_replays_vectors)
{
    json_t *root = load_vectors();
    const json_t *scs = json_object_get(root, "scenarios");
    const json_t *cases = json_object_get(root, "single_messages");

    for (size_t k = 0; k < json_array_size(scs); k++) {
        const json_t *sc = json_array_get(scs, k);
        const char *name = json_string_value(json_object_get(sc, "name"));
        const json_t *rounds = json_object_get(sc, "rounds");
        struct text sin = {0}, sout = {0}, cin = {0}, cout = {0};
        struct px_run r;

        /* Server: every recorded client message in one process (the server keeps no state
         * between messages), every recorded reply out. */
        text_items(&sin, json_object_get(sc, "server_items"));
        text_add(&sin, "seal", NULL);
        /* Client: initiate, then every recorded reply. */
        text_items(&cin, json_object_get(sc, "client_items"));
        text_add(&cin, "seal", NULL);
        text_add(&cin, "initiate", NULL);
        text_add(&cout, "msg,",
                 json_string_value(json_object_get(json_array_get(rounds, 0), "client_message")));
        for (size_t i = 0; i < json_array_size(rounds); i++) {
            const json_t *rd = json_array_get(rounds, i);
            const json_t *ids;

            text_add(&sin, "msg,", json_string_value(json_object_get(rd, "client_message")));
            text_add(&sout, "msg,", json_string_value(json_object_get(rd, "server_reply")));
            text_add(&cin, "msg,", json_string_value(json_object_get(rd, "server_reply")));
            ids = json_object_get(rd, "client_have");
            for (size_t j = 0; j < json_array_size(ids); j++) {
                text_add(&cout, "have,", json_string_value(json_array_get(ids, j)));
            }
            ids = json_object_get(rd, "client_need");
            for (size_t j = 0; j < json_array_size(ids); j++) {
                text_add(&cout, "need,", json_string_value(json_array_get(ids, j)));
            }
            if (i + 1 < json_array_size(rounds)) {
                text_add(&cout, "msg,",
                         json_string_value(
                             json_object_get(json_array_get(rounds, i + 1), "client_message")));
            } else {
                text_add(&cout, "done", NULL);
            }
        }
        run_testee(&sin, (size_t)json_integer_value(json_object_get(sc, "server_frame_size_limit")),
                   &r);
        cr_assert_eq(r.status, 0, "%s server: exit %d: %s", name, r.status, r.err);
        cr_assert_str_eq(r.out, sout.p, "%s: server transcript differs", name);
        px_run_free(&r);
        run_testee(&cin, (size_t)json_integer_value(json_object_get(sc, "client_frame_size_limit")),
                   &r);
        cr_assert_eq(r.status, 0, "%s client: exit %d: %s", name, r.status, r.err);
        cr_assert_str_eq(r.out, cout.p, "%s: client transcript differs", name);
        px_run_free(&r);
        free(sin.p);
        free(sout.p);
        free(cin.p);
        free(cout.p);
    }
    for (size_t k = 0; k < json_array_size(cases); k++) {
        const json_t *c = json_array_get(cases, k);
        const char *name = json_string_value(json_object_get(c, "name"));
        bool client = strcmp(json_string_value(json_object_get(c, "role")), "client") == 0;
        struct text in = {0}, out = {0};
        struct px_run r;

        text_items(&in, json_object_get(c, "items"));
        text_add(&in, "seal", NULL);
        if (client) {
            text_add(&in, "initiate", NULL);
            text_add(&out, "msg,", json_string_value(json_object_get(c, "initiate")));
        }
        text_add(&in, "msg,", json_string_value(json_object_get(c, "message_in")));
        run_testee(&in, 0, &r);
        if (json_is_null(json_object_get(c, "reference_error"))) {
            text_add(&out, "msg,", json_string_value(json_object_get(c, "reply")));
            cr_assert_eq(r.status, 0, "%s: exit %d: %s", name, r.status, r.err);
        } else {
            cr_assert_eq(r.status, 1, "%s: exit %d, the reference threw", name, r.status);
            cr_assert_gt(r.err_len, 0, "%s: no reason on stderr", name);
        }
        cr_assert_str_eq(r.out, out.p != NULL ? out.p : "", "%s: output differs", name);
        px_run_free(&r);
        free(in.p);
        free(out.p);
    }
    json_decref(root);
}

Test(negentropy, testee_protocol_errors)
{
    static const char *const bad[] = {
        "frobnicate\n",   /* unknown command */
        "item,1\nseal\n", /* too few fields */
        "item,1,00,00\n", /* too many fields */
        "item,x,0000000000000000000000000000000000000000000000000000000000000000\n",
        "item,1,00\n",                /* short id */
        "seal\nseal\n",               /* sealed twice */
        "initiate\n",                 /* before seal */
        "seal\nmsg,6\n",              /* odd hex */
        "seal\nmsg,zz\n",             /* not hex */
        "seal\ninitiate\ninitiate\n", /* initiated twice */
        /* a duplicate item */
        ("item,5,1111111111111111111111111111111111111111111111111111111111111111\n"
         "item,5,1111111111111111111111111111111111111111111111111111111111111111\nseal\n"),
    };
    struct text ok = {0};
    struct px_run r;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct text in = {0};

        text_add(&in, bad[i], NULL);
        run_testee(&in, 0, &r);
        cr_assert_eq(r.status, 1, "input %zu: exit %d", i, r.status);
        cr_assert(strstr(r.err, "praxis-negentropy-testee: line ") != NULL, "input %zu: %s", i,
                  r.err);
        px_run_free(&r);
        free(in.p);
    }
    /* protoversion.pl: a 0x62 message gets 61, and the same server then answers v1. */
    text_add(&ok, "item,12345,eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee\r",
             NULL);
    text_add(&ok, "", NULL);
    text_add(&ok, "seal\nmsg,62aabbccddeeff\nmsg,6100000200", NULL);
    run_testee(&ok, 0, &r);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert_str_eq(r.out, "msg,61\nmsg,6100000201"
                            "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee"
                            "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee\n");
    px_run_free(&r);
    /* A limit below 4096 is refused, as the reference refuses it. */
    run_testee(&ok, 100, &r);
    cr_assert_eq(r.status, 1);
    px_run_free(&r);
    free(ok.p);
}

/* ---- 64-bit timestamps: our own known answers ---- */

static uint64_t
splitmix64(uint64_t *x)
{
    uint64_t z = (*x += UINT64_C(0x9e3779b97f4a7c15));

    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

/*
 * The item sets of the 64-bit scenarios, from splitmix64 seeded with which. Sets 2, 5 sit
 * just below infinity (2^64 - 51 .. 2^64 - 2, so the first bound of a message is a
 * 10-byte varint); the others mix 2^32 + [0, 64), 2^63 - 32 + [0, 64), 2^64 - 5 ..
 * 2^64 - 2 and 56-bit values, with many equal timestamps. One item in 8 is only the
 * client's, one in 8 only the server's.
 */
static void
gen_items(uint64_t which, size_t n, struct px_negentropy_storage *cst,
          struct px_negentropy_storage *sst, struct idvec *cids, struct idvec *sids)
{
    uint64_t x = which;

    for (size_t k = 0; k < n; k++) {
        uint64_t r = splitmix64(&x), ts, side;
        uint8_t id[ID];

        for (int w = 0; w < 4; w++) {
            uint64_t v = splitmix64(&x);

            for (int b = 0; b < 8; b++) {
                id[8 * w + b] = (uint8_t)(v >> (8 * b));
            }
        }
        if (which == 2 || which == 5) {
            ts = UINT64_MAX - 1 - (r >> 8) % 50;
        } else {
            switch (r % 4) {
            case 0:
                ts = (UINT64_C(1) << 32) + (r >> 8) % 64;
                break;
            case 1:
                ts = (UINT64_C(1) << 63) - 32 + (r >> 8) % 64;
                break;
            case 2:
                ts = UINT64_MAX - 1 - (r >> 8) % 4;
                break;
            default:
                ts = r >> 8;
                break;
            }
        }
        side = (r >> 20) % 8;
        if (side != 1) {
            cr_assert_eq(px_negentropy_storage_insert(cst, ts, id), 0);
            idvec_add(cids, id, 1);
        }
        if (side != 0) {
            cr_assert_eq(px_negentropy_storage_insert(sst, ts, id), 0);
            idvec_add(sids, id, 1);
        }
    }
}

/* out = a \ b, both sorted and unique. */
static void
set_minus(const struct idvec *a, const struct idvec *b, struct idvec *out)
{
    size_t j = 0;

    for (size_t i = 0; i < a->n; i++) {
        while (j < b->n && memcmp(b->p + j * ID, a->p + i * ID, ID) < 0) {
            j++;
        }
        if (j == b->n || memcmp(b->p + j * ID, a->p + i * ID, ID) != 0) {
            idvec_add(out, a->p + i * ID, 1);
        }
    }
}

/* Runs a generated scenario to convergence and checks it against brute force. */
static void
check_generated(uint64_t which, size_t n, size_t climit, size_t slimit, struct loop_out *lo)
{
    struct px_negentropy_storage *cst, *sst;
    struct idvec cids = {0}, sids = {0}, have = {0}, need = {0};

    cr_assert_eq(px_negentropy_storage_new(&cst), 0);
    cr_assert_eq(px_negentropy_storage_new(&sst), 0);
    gen_items(which, n, cst, sst, &cids, &sids);
    cr_assert_eq(px_negentropy_storage_seal(cst), 0);
    cr_assert_eq(px_negentropy_storage_seal(sst), 0);
    cids.n = sort_unique(cids.p, cids.n);
    sids.n = sort_unique(sids.p, sids.n);
    set_minus(&cids, &sids, &have);
    set_minus(&sids, &cids, &need);
    cr_assert_gt(have.n, 0);
    cr_assert_gt(need.n, 0);
    run_loop(cst, sst, climit, slimit, NULL, lo);
    cr_assert_eq(lo->have.n, have.n, "set %llu (%zu/%zu): have %zu, brute force %zu",
                 (unsigned long long)which, climit, slimit, lo->have.n, have.n);
    cr_assert_eq(memcmp(lo->have.p, have.p, have.n * ID), 0);
    cr_assert_eq(lo->need.n, need.n, "set %llu (%zu/%zu): need %zu, brute force %zu",
                 (unsigned long long)which, climit, slimit, lo->need.n, need.n);
    cr_assert_eq(memcmp(lo->need.p, need.p, need.n * ID), 0);
    free(cids.p);
    free(sids.p);
    free(have.p);
    free(need.p);
    px_negentropy_storage_free(cst);
    px_negentropy_storage_free(sst);
}

Test(negentropy, ts64_known_answers)
{
    /* SHA-256 over every message of the run, in order, as the C++ reference wrote them,
     * and the brute-force have/need sizes. Sets 1 and 2 stay under the limit. */
    static const struct {
        uint64_t which;
        size_t n, climit, slimit, messages, have, need;
        const char *digest;
    } kat[] = {
        {1, 120, 0, 0, 2, 10, 9,
         "3674dc2cf5a847d918e4a47717fbe62b8f2b8efde6c9603ee1f2fbb1607454cf"},
        {1, 120, 4096, 4096, 2, 10, 9,
         "3674dc2cf5a847d918e4a47717fbe62b8f2b8efde6c9603ee1f2fbb1607454cf"},
        {2, 80, 0, 0, 2, 8, 14, "ff111786a53ae46570681726e54c8193e160dea63e524c7483d3e4e74540f238"},
        {3, 1500, 0, 0, 4, 168, 186,
         "aa1c3acb71843596ff4e2d3d45c913f1a526d8932e97fcdbf565bc9eb8336368"},
        {3, 1500, 4096, 0, 14, 168, 186,
         "a7d4097aadd629abd67c20a2fdfb26837f5752008deac189ba0222b4da7c70da"},
        {3, 1500, 0, 4096, 30, 168, 186,
         "2eda85c14b67ad6f1948acc638ae599d88cd7e86e1c395b53dbd9b3ed9d19a4f"},
        {3, 1500, 4096, 4096, 26, 168, 186,
         "ca709eee4d78f2419e3e18d942b4d96d92c82fedc26f182ca98d2836afa98c65"},
    };

    for (size_t i = 0; i < sizeof(kat) / sizeof(kat[0]); i++) {
        struct loop_out lo;
        char *got;

        check_generated(kat[i].which, kat[i].n, kat[i].climit, kat[i].slimit, &lo);
        cr_assert_eq(lo.rounds * 2, kat[i].messages, "case %zu: %zu rounds", i, lo.rounds);
        cr_assert_eq(lo.have.n, kat[i].have);
        cr_assert_eq(lo.need.n, kat[i].need);
        got = hexstr(lo.digest, sizeof(lo.digest));
        cr_assert_str_eq(got, kat[i].digest, "case %zu: the run differs from the reference", i);
        free(got);
        loop_out_free(&lo);
    }
}

Test(negentropy, ts64_initiate_bytes)
{
    /* Set 2 starts 50 below infinity: the first bound is 2^64 - 48 in 10 bytes. */
    static const char expect[] =
        "6181ffffffffffffffff50015c0143056c6a16ccc18a57a03ee0e15adc3e020177011b16fd706e4f9ffccce"
        "03b8bcda99fad05000128f0525ce3190486cde58d01e8058db10301e1013ad28b73001e2444a57dd945759"
        "7cf6f0301fc016d1a6c0cb07552e3b50b083a12a9724e0400010de8ac3885fcb13a6dc96e6f808f28b2030"
        "1630123652f2afd71dbe374f006639eaa41c20301e30152cb56ad111c600339dd6dff9091aa8c0301ec015"
        "92e2464e59550b44b59bd79069379700301ec01dd8cecd8ec344d791f36ee3da852b55104018c014dc5b08"
        "e6279896d2284306ecbdaded70301d001258c57b5981372dcf9067a02d1b22dd10b000117a7628fcb08086"
        "4f4472bbd2f43e7bb0400019ebd6116a72005b694af1d17de3e24300800018030e08d4e3d459b2af972e36"
        "33cca6e000001febd726580e15b485a3a9fa0c258cbf3";
    struct px_negentropy_storage *cst, *sst;
    struct idvec cids = {0}, sids = {0};
    struct px_negentropy *ne;
    uint8_t *msg;
    size_t len;

    cr_assert_eq(px_negentropy_storage_new(&cst), 0);
    cr_assert_eq(px_negentropy_storage_new(&sst), 0);
    gen_items(2, 80, cst, sst, &cids, &sids);
    cr_assert_eq(px_negentropy_storage_seal(cst), 0);
    cr_assert_eq(px_negentropy_new(cst, 0, &ne), 0);
    cr_assert_eq(px_negentropy_initiate(ne, &msg, &len), 0);
    assert_bytes(msg, len, expect, "set 2: initiate");
    free(msg);
    px_negentropy_free(ne);
    px_negentropy_storage_free(cst);
    px_negentropy_storage_free(sst);
    free(cids.p);
    free(sids.p);
}

Test(negentropy, ts64_converges_under_limits)
{
    static const size_t limits[][2] = {{0, 0}, {4096, 0}, {0, 4096}, {4096, 4096}, {8192, 5000}};

    for (uint64_t which = 1; which <= 2; which++) {
        for (size_t i = 0; i < sizeof(limits) / sizeof(limits[0]); i++) {
            struct loop_out lo;

            check_generated(which + 3, 2500, limits[i][0], limits[i][1], &lo);
            loop_out_free(&lo);
        }
    }
}

/* ---- The strict parser ---- */

/* A server with 40 items (two 20-item timestamps), so fingerprints and splits happen. */
static struct px_negentropy_storage *
small_storage(void)
{
    struct px_negentropy_storage *st;
    uint64_t x = 99;

    cr_assert_eq(px_negentropy_storage_new(&st), 0);
    for (int i = 0; i < 40; i++) {
        uint8_t id[ID];

        for (int b = 0; b < ID; b++) {
            id[b] = (uint8_t)splitmix64(&x);
        }
        cr_assert_eq(px_negentropy_storage_insert(st, 1000 + (uint64_t)(i % 2), id), 0);
    }
    cr_assert_eq(px_negentropy_storage_seal(st), 0);
    return st;
}

static int
respond_hex(struct px_negentropy *ne, const char *hex, char **reply_hex)
{
    size_t len, rlen;
    uint8_t *in = hexdup(hex, &len), *reply;
    int rc = px_negentropy_respond(ne, in, len, &reply, &rlen);

    free(in);
    *reply_hex = NULL;
    if (rc == 0) {
        *reply_hex = hexstr(reply, rlen);
        free(reply);
    } else {
        cr_assert_null(reply);
        cr_assert_eq(rlen, 0);
    }
    return rc;
}

Test(negentropy, parser_rejects)
{
    static const struct {
        const char *hex;
        int rc;
        const char *why;
    } bad[] = {
        {"", PX_ETRUNC, "empty"},
        {"5f", PX_EPROTO, "version byte below 0x60"},
        {"70", PX_EPROTO, "version byte above 0x6f"},
        {"6100", PX_ETRUNC, "a bound without its prefix length"},
        {"610000", PX_ETRUNC, "no mode"},
        {"61000003", PX_EPROTO, "mode 3"},
        {"6100008000", PX_ENONCANON, "mode as a non-minimal varint"},
        {"6180000000", PX_ENONCANON, "timestamp as a non-minimal varint"},
        {"61000001aabb", PX_ETRUNC, "a short fingerprint"},
        {"610005aabb", PX_ETRUNC, "a prefix cut short"},
        {"6100210000000000000000000000000000000000000000000000000000000000000000", PX_EPROTO,
         "a 33-byte prefix"},
        {"6100000201", PX_ECOUNT, "an IdList count over the bytes left"},
        {"610000028002", PX_ENONCANON, "an IdList count in a non-minimal varint"},
        {"610000028480010000", PX_ETOOBIG, "an IdList of 65537 ids"},
        {"610b01ff000101000000", PX_EPROTO, "a bound below the previous one"},
        {"6100000002000000", PX_EPROTO, "a timestamp past infinity"},
        {"6181808080808080808001000081808080808080808001000000", PX_EPROTO,
         "2^63 + 2^63 overflows"},
        {"61828080808080808080000000", PX_EPROTO, "a 65-bit varint"},
    };
    struct px_negentropy_storage *st = small_storage();
    struct px_negentropy *ne;
    char *reply;

    cr_assert_eq(px_negentropy_new(st, 0, &ne), 0);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int rc = respond_hex(ne, bad[i].hex, &reply);

        cr_assert_eq(rc, bad[i].rc, "%s: %s (%s)", bad[i].why, px_err_name(rc),
                     px_negentropy_reason(ne));
        cr_assert_str_neq(px_negentropy_reason(ne), "", "%s: no reason", bad[i].why);
    }
    /* Still usable after errors; equal bounds (as after a cut IdList) are fine. */
    cr_assert_eq(respond_hex(ne, "61", &reply), 0);
    cr_assert_str_eq(reply, "61");
    free(reply);
    cr_assert_eq(respond_hex(ne, "61000000000000", &reply), 0);
    free(reply);
    cr_assert_str_eq(px_negentropy_reason(ne), "");
    /* The protocol-upgrade flow of protoversion.pl. */
    cr_assert_eq(respond_hex(ne, "6f", &reply), 0);
    cr_assert_str_eq(reply, "61");
    free(reply);
    cr_assert_eq(respond_hex(ne, "60ffff", &reply), 0);
    cr_assert_str_eq(reply, "61");
    free(reply);
    px_negentropy_free(ne);
    px_negentropy_storage_free(st);
}

Test(negentropy, parser_caps_ranges)
{
    /* PX_NEGENTROPY_MAX_RANGES Skip ranges pass, one more does not. */
    struct px_negentropy_storage *st = small_storage();
    struct px_negentropy *ne;
    size_t n = 1 + 3 * ((size_t)PX_NEGENTROPY_MAX_RANGES + 1), rlen;
    uint8_t *msg = malloc(n), *reply;

    cr_assert_not_null(msg);
    msg[0] = PX_NEGENTROPY_VERSION;
    for (size_t i = 1; i < n; i += 3) {
        msg[i] = 1; /* timestamp delta 0 */
        msg[i + 1] = 0;
        msg[i + 2] = 0; /* Skip */
    }
    cr_assert_eq(px_negentropy_new(st, 0, &ne), 0);
    cr_assert_eq(px_negentropy_respond(ne, msg, n, &reply, &rlen), PX_ETOOBIG);
    cr_assert_eq(px_negentropy_respond(ne, msg, n - 3, &reply, &rlen), 0);
    cr_assert_eq(rlen, 1);
    free(reply);
    px_negentropy_free(ne);
    px_negentropy_storage_free(st);
    free(msg);
}

Test(negentropy, client_rejects)
{
    struct px_negentropy_storage *st = small_storage();
    struct px_negentropy *ne;
    struct px_negentropy_result res;
    uint8_t *msg, bad[] = {0x61, 0x00, 0x00, 0x07}, v2 = 0x62, v50 = 0x50;
    size_t len;

    cr_assert_eq(px_negentropy_new(st, 0, &ne), 0);
    cr_assert_eq(px_negentropy_reconcile(ne, bad, sizeof(bad), &res), PX_EINVAL,
                 "reconcile before initiate");
    cr_assert_eq(px_negentropy_initiate(ne, &msg, &len), 0);
    free(msg);
    cr_assert_eq(px_negentropy_initiate(ne, &msg, &len), PX_EINVAL, "initiated twice");
    cr_assert_null(msg);
    cr_assert_eq(px_negentropy_respond(ne, bad, sizeof(bad), &msg, &len), PX_EINVAL);
    cr_assert_eq(px_negentropy_reconcile(ne, bad, sizeof(bad), &res), PX_EPROTO);
    cr_assert(res.msg == NULL && res.have == NULL && res.need == NULL);
    cr_assert_eq(px_negentropy_reconcile(ne, &v2, 1, &res), PX_EVERSION);
    cr_assert_eq(px_negentropy_reconcile(ne, &v50, 1, &res), PX_EPROTO);
    cr_assert_eq(px_negentropy_reconcile(ne, &v2, 0, &res), PX_ETRUNC);
    /* A bare version byte: nothing left to say, done, and every item is ours alone? No:
     * no range was named, so nothing is reported. */
    v2 = 0x61;
    cr_assert_eq(px_negentropy_reconcile(ne, &v2, 1, &res), 0);
    cr_assert(res.msg == NULL && res.have_n == 0 && res.need_n == 0);
    px_negentropy_result_fini(&res);
    px_negentropy_free(ne);

    /* A server cannot initiate; limits below 4096 are refused. */
    cr_assert_eq(px_negentropy_new(st, 0, &ne), 0);
    cr_assert_eq(px_negentropy_respond(ne, &v2, 1, &msg, &len), 0);
    free(msg);
    cr_assert_eq(px_negentropy_initiate(ne, &msg, &len), PX_EINVAL);
    px_negentropy_free(ne);
    cr_assert_eq(px_negentropy_new(st, 4095, &ne), PX_EINVAL);
    cr_assert_null(ne);
    cr_assert_eq(px_negentropy_new(st, 1, &ne), PX_EINVAL);
    cr_assert_eq(px_negentropy_new(st, 4096, &ne), 0);
    px_negentropy_free(ne);
    px_negentropy_free(NULL);
    px_negentropy_storage_free(st);
}

Test(negentropy, client_idlist_duplicates)
{
    /* A server IdList naming one id twice: the client reports it once. */
    struct px_negentropy_storage *st;
    struct px_negentropy *ne;
    struct px_negentropy_result res;
    uint8_t *msg, in[5 + 3 * ID];
    size_t len;

    cr_assert_eq(px_negentropy_storage_new(&st), 0);
    cr_assert_eq(px_negentropy_storage_seal(st), 0);
    cr_assert_eq(px_negentropy_new(st, 0, &ne), 0);
    cr_assert_eq(px_negentropy_initiate(ne, &msg, &len), 0);
    free(msg);
    memcpy(in, "\x61\x00\x00\x02\x03", 5);
    memset(in + 5, 0xbb, ID);
    memset(in + 5 + ID, 0xaa, ID);
    memset(in + 5 + 2 * ID, 0xbb, ID);
    cr_assert_eq(px_negentropy_reconcile(ne, in, sizeof(in), &res), 0);
    cr_assert_eq(res.need_n, 2);
    cr_assert_eq(res.need[0], 0xbb, "need keeps the server's order");
    cr_assert_eq(res.need[ID], 0xaa);
    cr_assert_null(res.msg);
    px_negentropy_result_fini(&res);
    px_negentropy_free(ne);
    px_negentropy_storage_free(st);
}

/* ---- The index against a brute-force model ---- */

struct mitem {
    uint64_t ts;
    uint8_t id[ID];
};

static int
mitem_cmp(const struct mitem *a, const struct mitem *b)
{
    if (a->ts != b->ts) {
        return a->ts < b->ts ? -1 : 1;
    }
    return memcmp(a->id, b->id, ID);
}

/* The model's fingerprint of a byte-by-byte sum: sha256(sum || varint(count))[:16]. */
static void
model_fingerprint(const uint8_t sum[ID], size_t count, uint8_t fp[16])
{
    uint8_t in[ID + 10], hash[crypto_hash_sha256_BYTES], digits[10];
    size_t n = ID, nd = 0;

    memcpy(in, sum, ID);
    do {
        digits[nd++] = (uint8_t)(count & 0x7f);
        count >>= 7;
    } while (count > 0);
    while (nd > 0) {
        nd--;
        in[n++] = (uint8_t)(digits[nd] | (nd > 0 ? 0x80 : 0));
    }
    crypto_hash_sha256(hash, in, n);
    memcpy(fp, hash, 16);
}

/* Brute force: the ids of m[begin, end) added byte by byte, little-endian. */
static void
brute_sum(const struct mitem *m, size_t begin, size_t end, uint8_t sum[ID])
{
    memset(sum, 0, ID);
    for (size_t i = begin; i < end; i++) {
        unsigned carry = 0;

        for (size_t b = 0; b < ID; b++) {
            unsigned s = sum[b] + m[i].id[b] + carry;

            sum[b] = (uint8_t)s;
            carry = s >> 8;
        }
    }
}

/* pre[j] - pre[i], byte by byte: the model's range sum from its prefix sums. */
static void
model_range_sum(const uint8_t *pre, size_t i, size_t j, uint8_t sum[ID])
{
    int borrow = 0;

    for (size_t b = 0; b < ID; b++) {
        int d = pre[j * ID + b] - pre[i * ID + b] - borrow;

        borrow = d < 0;
        sum[b] = (uint8_t)(d + (borrow ? 256 : 0));
    }
}

/* The model's lower bound, by binary search over the sorted model. */
static size_t
model_lower_bound(const struct mitem *m, size_t n, const struct mitem *key)
{
    size_t lo = 0, hi = n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (mitem_cmp(&m[mid], key) < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo;
}

static void
check_range(const struct px_negentropy_storage *st, const uint8_t *pre, size_t i, size_t j)
{
    uint8_t a[16], b[16], sum[ID];

    cr_assert_eq(px_negentropy_storage_fingerprint(st, i, j, a), 0);
    model_range_sum(pre, i, j, sum);
    model_fingerprint(sum, j - i, b);
    cr_assert_eq(memcmp(a, b, 16), 0, "fingerprint [%zu, %zu)", i, j);
}

static void
check_index(const struct px_negentropy_storage *st, const struct mitem *m, size_t n, uint64_t *x,
            bool all_ranges)
{
    uint8_t a[16], b[16], id[ID], sum[ID], *pre = malloc((n + 1) * ID);
    uint64_t ts;
    size_t pos;

    cr_assert_not_null(pre);
    cr_assert_eq(px_negentropy_storage_size(st), n);
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq(px_negentropy_storage_get(st, i, &ts, id), 0);
        cr_assert(ts == m[i].ts && memcmp(id, m[i].id, ID) == 0, "item %zu of %zu", i, n);
    }
    cr_assert_eq(px_negentropy_storage_get(st, n, &ts, id), PX_EINVAL);
    /* Bounds: every item itself, a shortened prefix of it, and the timestamp alone. */
    for (size_t i = 0; i < n; i++) {
        size_t plen = (size_t)(splitmix64(x) % (ID + 1));
        struct mitem key = m[i];

        memset(key.id + plen, 0, ID - plen);
        cr_assert_eq(px_negentropy_storage_lower_bound(st, key.ts, key.id, plen, &pos), 0);
        cr_assert_eq(pos, model_lower_bound(m, n, &key), "lower bound of item %zu, prefix %zu", i,
                     plen);
    }
    cr_assert_eq(px_negentropy_storage_lower_bound(st, UINT64_MAX, NULL, 0, &pos), 0);
    cr_assert_eq(pos, n);
    cr_assert_eq(px_negentropy_storage_lower_bound(st, 0, NULL, 0, &pos), 0);
    cr_assert_eq(pos, 0);
    /* The model's prefix sums, and a few direct sums that check them. */
    memset(pre, 0, ID);
    for (size_t i = 0; i < n; i++) {
        brute_sum(m, i, i + 1, sum);
        memcpy(pre + (i + 1) * ID, pre + i * ID, ID);
        {
            unsigned carry = 0;

            for (size_t k = 0; k < ID; k++) {
                unsigned s = pre[(i + 1) * ID + k] + sum[k] + carry;

                pre[(i + 1) * ID + k] = (uint8_t)s;
                carry = s >> 8;
            }
        }
    }
    for (int k = 0; k < 20; k++) {
        size_t i = (size_t)(splitmix64(x) % (n + 1)), j = (size_t)(splitmix64(x) % (n + 1));

        if (i > j) {
            size_t t = i;

            i = j;
            j = t;
        }
        brute_sum(m, i, j, sum);
        model_fingerprint(sum, j - i, b);
        cr_assert_eq(px_negentropy_storage_fingerprint(st, i, j, a), 0);
        cr_assert_eq(memcmp(a, b, 16), 0, "direct fingerprint [%zu, %zu)", i, j);
    }
    if (all_ranges) {
        for (size_t i = 0; i <= n; i++) {
            for (size_t j = i; j <= n; j++) {
                check_range(st, pre, i, j);
            }
        }
    } else {
        for (size_t i = 0; i <= n; i++) {
            check_range(st, pre, 0, i);
            check_range(st, pre, i, n);
        }
        for (int k = 0; k < 3000; k++) {
            size_t i = (size_t)(splitmix64(x) % (n + 1)), j = (size_t)(splitmix64(x) % (n + 1));

            check_range(st, pre, i < j ? i : j, i < j ? j : i);
        }
    }
    cr_assert_eq(px_negentropy_storage_fingerprint(st, 0, n + 1, a), PX_EINVAL);
    if (n > 0) {
        cr_assert_eq(px_negentropy_storage_fingerprint(st, 1, 0, a), PX_EINVAL);
    }
    free(pre);
}

Test(negentropy, index_random_against_brute_force)
{
    /* Grow to ~1500 items, shrink to ~100, grow again: splits, merges and chunk removals
     * all happen (chunks hold 128). Every range is checked at small sizes, a sample of
     * 3000 ranges at large ones. */
    static const struct {
        size_t ops;
        unsigned insert_pct;
    } phases[] = {{300, 100}, {2000, 80}, {2600, 25}, {1500, 75}, {3000, 45}, {2000, 10}};
    struct px_negentropy_storage *st;
    struct mitem *m = NULL;
    size_t n = 0, cap = 0, checks = 0;
    uint64_t x = 2024;

    cr_assert_eq(px_negentropy_storage_new(&st), 0);
    cr_assert_eq(px_negentropy_storage_seal(st), 0);
    for (size_t p = 0; p < sizeof(phases) / sizeof(phases[0]); p++) {
        for (size_t op = 0; op < phases[p].ops; op++) {
            uint64_t r = splitmix64(&x);

            if (n == 0 || r % 100 < phases[p].insert_pct) {
                struct mitem it;
                size_t at = 0;

                /* Few timestamps, so equal ones abound; one in 8 is a recent append. */
                it.ts = (r >> 8) % 8 == 0 ? 1000 + op : (r >> 16) % 300;
                for (int b = 0; b < ID; b += 8) {
                    uint64_t v = splitmix64(&x);

                    memcpy(it.id + b, &v, 8);
                }
                while (at < n && mitem_cmp(&m[at], &it) < 0) {
                    at++;
                }
                if (at < n && mitem_cmp(&m[at], &it) == 0) {
                    continue;
                }
                cr_assert_eq(px_negentropy_storage_insert(st, it.ts, it.id), 0);
                if (n == cap) {
                    cap = cap * 2 + 64;
                    m = realloc(m, cap * sizeof(*m));
                    cr_assert_not_null(m);
                }
                memmove(&m[at + 1], &m[at], (n - at) * sizeof(*m));
                m[at] = it;
                n++;
                if ((r >> 40) % 16 == 0) {
                    cr_assert_eq(px_negentropy_storage_insert(st, it.ts, it.id), PX_EEXIST);
                }
            } else {
                size_t at = (size_t)((r >> 8) % n);

                cr_assert_eq(px_negentropy_storage_erase(st, m[at].ts, m[at].id), 0);
                if ((r >> 40) % 16 == 0) {
                    cr_assert_eq(px_negentropy_storage_erase(st, m[at].ts, m[at].id), PX_ENOTFOUND);
                }
                memmove(&m[at], &m[at + 1], (n - at - 1) * sizeof(*m));
                n--;
            }
            if (op % 250 == 249) {
                check_index(st, m, n, &x, n <= 400);
                checks++;
            }
        }
        check_index(st, m, n, &x, n <= 400);
        /* Memory stays within the merge rule's bound (92 bytes an item) plus slack. */
        if (n >= 1000) {
            cr_assert_leq(px_negentropy_storage_memory(st), n * 100, "%zu bytes for %zu items",
                          px_negentropy_storage_memory(st), n);
        }
    }
    cr_log_info("index: %zu checkpoints, ended at %zu items", checks, n);
    px_negentropy_storage_free(st);
    free(m);
}

Test(negentropy, storage_rules)
{
    struct px_negentropy_storage *st;
    uint8_t id[ID] = {1}, fp[16], out[ID];
    struct px_negentropy *ne;
    uint64_t ts;
    size_t pos;

    px_negentropy_storage_free(NULL);
    cr_assert_eq(px_negentropy_storage_new(&st), 0);
    cr_assert_not(px_negentropy_storage_sealed(st));
    cr_assert_eq(px_negentropy_storage_insert(st, UINT64_MAX, id), PX_EINVAL, "infinity");
    cr_assert_eq(px_negentropy_storage_insert(st, 7, id), 0);
    cr_assert_eq(px_negentropy_storage_insert(st, 7, id), 0, "duplicates wait for seal");
    cr_assert_eq(px_negentropy_storage_size(st), 2);
    cr_assert_eq(px_negentropy_storage_erase(st, 7, id), PX_EINVAL, "erase before seal");
    cr_assert_eq(px_negentropy_storage_get(st, 0, &ts, out), PX_EINVAL);
    cr_assert_eq(px_negentropy_storage_fingerprint(st, 0, 0, fp), PX_EINVAL);
    cr_assert_eq(px_negentropy_storage_lower_bound(st, 0, NULL, 0, &pos), PX_EINVAL);
    cr_assert_eq(px_negentropy_new(st, 0, &ne), PX_EINVAL, "unsealed");
    cr_assert_eq(px_negentropy_storage_seal(st), PX_EEXIST);
    cr_assert_not(px_negentropy_storage_sealed(st));
    px_negentropy_storage_free(st);

    cr_assert_eq(px_negentropy_storage_new(&st), 0);
    cr_assert_eq(px_negentropy_storage_insert(st, UINT64_MAX - 1, id), 0);
    cr_assert_eq(px_negentropy_storage_seal(st), 0);
    cr_assert_eq(px_negentropy_storage_seal(st), PX_EINVAL, "sealed twice");
    cr_assert_eq(px_negentropy_storage_lower_bound(st, 0, id, ID + 1, &pos), PX_EINVAL);
    cr_assert_eq(px_negentropy_storage_erase(st, UINT64_MAX - 1, id), 0);
    cr_assert_eq(px_negentropy_storage_size(st), 0);
    cr_assert_eq(px_negentropy_storage_erase(st, UINT64_MAX - 1, id), PX_ENOTFOUND);
    /* The empty set's fingerprint: sha256 of 32 zero bytes and a 0 count. */
    cr_assert_eq(px_negentropy_storage_fingerprint(st, 0, 0, fp), 0);
    {
        uint8_t in[33] = {0}, h[32];

        crypto_hash_sha256(h, in, sizeof(in));
        cr_assert_eq(memcmp(fp, h, 16), 0);
    }
    px_negentropy_storage_free(st);
}

Test(negentropy, index_appends_stay_dense)
{
    /* Records arrive in timestamp order: after a seal, appends fill chunks completely. */
    struct px_negentropy_storage *st;
    uint64_t x = 5;
    size_t n = 20000, mem;

    cr_assert_eq(px_negentropy_storage_new(&st), 0);
    cr_assert_eq(px_negentropy_storage_seal(st), 0);
    for (size_t i = 0; i < n; i++) {
        uint8_t id[ID];

        for (int b = 0; b < ID; b++) {
            id[b] = (uint8_t)splitmix64(&x);
        }
        cr_assert_eq(px_negentropy_storage_insert(st, 1700000000000 + i / 3, id), 0);
    }
    mem = px_negentropy_storage_memory(st);
    cr_log_info("appends: %zu bytes for %zu items (%.1f an item)", mem, n, (double)mem / n);
    cr_assert_leq(mem, n * 48);
    px_negentropy_storage_free(st);
}

Test(negentropy, large_sets_with_frame_limits)
{
    /* 20000 items a side, 5% differences each way, timestamps in ms: every message within
     * its limit, and the union of reports is exactly the brute-force difference. */
    static const size_t limits[][2] = {{4096, 4096}, {65536, 0}};
    struct px_negentropy_storage *cst, *sst;
    struct idvec cids = {0}, sids = {0}, have = {0}, need = {0};
    uint64_t x = 77;

    cr_assert_eq(px_negentropy_storage_new(&cst), 0);
    cr_assert_eq(px_negentropy_storage_new(&sst), 0);
    for (size_t i = 0; i < 20000; i++) {
        uint64_t r = splitmix64(&x), ts = UINT64_C(1700000000000) + (r >> 20) % 5000000;
        uint8_t id[ID];

        for (int b = 0; b < ID; b++) {
            id[b] = (uint8_t)splitmix64(&x);
        }
        if (r % 20 != 0) {
            cr_assert_eq(px_negentropy_storage_insert(cst, ts, id), 0);
            idvec_add(&cids, id, 1);
        }
        if (r % 20 != 1) {
            cr_assert_eq(px_negentropy_storage_insert(sst, ts, id), 0);
            idvec_add(&sids, id, 1);
        }
    }
    cr_assert_eq(px_negentropy_storage_seal(cst), 0);
    cr_assert_eq(px_negentropy_storage_seal(sst), 0);
    cids.n = sort_unique(cids.p, cids.n);
    sids.n = sort_unique(sids.p, sids.n);
    set_minus(&cids, &sids, &have);
    set_minus(&sids, &cids, &need);
    for (size_t i = 0; i < sizeof(limits) / sizeof(limits[0]); i++) {
        struct loop_out lo;

        run_loop(cst, sst, limits[i][0], limits[i][1], NULL, &lo);
        cr_assert_eq(lo.have.n, have.n);
        cr_assert_eq(memcmp(lo.have.p, have.p, have.n * ID), 0);
        cr_assert_eq(lo.need.n, need.n);
        cr_assert_eq(memcmp(lo.need.p, need.p, need.n * ID), 0);
        cr_log_info("limits %zu/%zu: %zu rounds, %zu bytes", limits[i][0], limits[i][1], lo.rounds,
                    lo.bytes);
        loop_out_free(&lo);
    }
    free(cids.p);
    free(sids.p);
    free(have.p);
    free(need.p);
    px_negentropy_storage_free(cst);
    px_negentropy_storage_free(sst);
}

Test(negentropy, index_empties_a_chunk)
{
    /* Sealed chunks hold 112 items. Emptying the middle one of three, item by item, never
     * merges (each pair still holds more than 112) until the chunk is gone. */
    struct px_negentropy_storage *st;
    struct mitem m[336];
    size_t n = 336;
    uint64_t x = 8;

    cr_assert_eq(px_negentropy_storage_new(&st), 0);
    for (size_t i = 0; i < n; i++) {
        m[i].ts = 10 + i;
        for (int b = 0; b < ID; b++) {
            m[i].id[b] = (uint8_t)splitmix64(&x);
        }
        cr_assert_eq(px_negentropy_storage_insert(st, m[i].ts, m[i].id), 0);
    }
    cr_assert_eq(px_negentropy_storage_seal(st), 0);
    for (size_t k = 0; k < 112; k++) {
        size_t at = 112 + (k * 37) % (112 - k);

        cr_assert_eq(px_negentropy_storage_erase(st, m[at].ts, m[at].id), 0);
        memmove(&m[at], &m[at + 1], (n - at - 1) * sizeof(m[0]));
        n--;
        if (k % 37 == 0 || k >= 110) {
            check_index(st, m, n, &x, false);
        }
    }
    check_index(st, m, n, &x, true);
    px_negentropy_storage_free(st);
}
