/* SPDX-License-Identifier: MIT */
/*
 * test_shs.c - the secret handshake against ../shared/vectors/shs.json (the outputs of
 * secret-handshake 1.1.21): the 10 complete handshakes byte for byte, sessions and the
 * box-stream bytes that followed them included; the 18 negative cases run on the side
 * under test, which must write exactly what the reference wrote and then fail; the state
 * machine's refusals and wiping; and praxis-shs-testee driven in both roles through pipes
 * against this library's other side.
 */
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <jansson.h>
#include <sodium.h>

#include "protocol/boxstream.h"
#include "protocol/buf.h"
#include "protocol/err.h"
#include "protocol/shs.h"
#include "protocol/sign.h"
#include "util/testutil.h"

static void
crypto_setup(void)
{
    cr_assert_eq(px_crypto_init(), 0);
    /* A testee that dies must not take the test with it. */
    signal(SIGPIPE, SIG_IGN);
}

TestSuite(shs, .init = crypto_setup);

/* ---- JSON helpers ---- */

static json_t *
load_vectors(void)
{
    char *path = px_test_shared_vector("shs.json");
    json_error_t jerr;
    json_t *root;

    cr_assert_not_null(path);
    root = json_load_file(path, 0, &jerr);
    cr_assert_not_null(root, "%s: %s (line %d)", path, jerr.text, jerr.line);
    free(path);
    return root;
}

static json_t *
get(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);

    cr_assert_not_null(v, "field %s missing", key);
    return v;
}

static const char *
str_field(json_t *obj, const char *key)
{
    json_t *v = get(obj, key);

    cr_assert(json_is_string(v), "field %s is not a string", key);
    return json_string_value(v);
}

static uint8_t *
unhex_dup(const char *hex, size_t *len)
{
    size_t n = strlen(hex) / 2;
    uint8_t *out = malloc(n > 0 ? n : 1);

    cr_assert_not_null(out);
    cr_assert_eq(strlen(hex) % 2, 0);
    cr_assert_eq(px_hex_decode(hex, strlen(hex), out, n), 0, "bad hex");
    *len = n;
    return out;
}

static uint8_t *
hex_field_dup(json_t *obj, const char *key, size_t *len)
{
    return unhex_dup(str_field(obj, key), len);
}

static void
hex_field(json_t *obj, const char *key, uint8_t *out, size_t n)
{
    const char *hex = str_field(obj, key);

    cr_assert_eq(strlen(hex), 2 * n, "field %s is not %zu bytes", key, n);
    cr_assert_eq(px_hex_decode(hex, 2 * n, out, n), 0);
}

/* Compares out[0..n) with the hex string obj.key, which must be n bytes. */
static void
expect_hex(json_t *obj, const char *key, const uint8_t *out, size_t n, const char *what)
{
    uint8_t *want;
    size_t len;

    want = hex_field_dup(obj, key, &len);
    cr_assert_eq(len, n, "%s: %zu bytes, expected %zu", what, n, len);
    cr_assert(memcmp(out, want, n) == 0, "%s differs from the vector", what);
    free(want);
}

/*
 * A side's keys from a vector ({longterm: {seed, public_key, ...}, ephemeral: {seed,
 * public_key, ...}}): the identity from its seed, checked against the recorded public key,
 * and the ephemeral seed, whose crypto_box_seed_keypair public key must be the recorded one.
 */
static void
side_keys(json_t *side, struct px_identity *id, uint8_t eph_seed[32])
{
    json_t *lt = get(side, "longterm"), *eph = get(side, "ephemeral");
    uint8_t seed[32], pk[32], sk[32];

    hex_field(lt, "seed", seed, 32);
    cr_assert_eq(px_identity_from_seed(id, seed), 0);
    expect_hex(lt, "public_key", id->pk, 32, "long-term public key");
    hex_field(eph, "seed", eph_seed, 32);
    cr_assert_eq(crypto_box_seed_keypair(pk, sk, eph_seed), 0);
    expect_hex(eph, "public_key", pk, 32, "ephemeral public key from crypto_box_seed_keypair");
    expect_hex(eph, "secret_key_crypto_box_seed_keypair", sk, 32, "ephemeral secret key");
}

/* ---- byte buffers ---- */

struct bytes {
    uint8_t *p;
    size_t len, cap;
};

static void
bytes_put(struct bytes *b, const uint8_t *p, size_t n)
{
    if (b->len + n > b->cap || b->p == NULL) {
        size_t cap = b->cap == 0 ? 256 : b->cap;

        while (cap < b->len + n) {
            cap *= 2;
        }
        b->p = realloc(b->p, cap);
        cr_assert_not_null(b->p);
        b->cap = cap;
    }
    if (n > 0) {
        memcpy(b->p + b->len, p, n);
    }
    b->len += n;
}

/* ---- the box-stream that followed a handshake ---- */

/* Seals the writes as pull-box-stream does (4096-byte pieces, empty writes skipped). */
static void
seal_writes(const uint8_t key[32], const uint8_t nonce[24], json_t *writes, struct bytes *wire)
{
    struct px_boxstream_sealer s;
    uint8_t frame[PX_BOXSTREAM_MAX_FRAME], bye[PX_BOXSTREAM_HEADER_BYTES];

    px_boxstream_sealer_init(&s, key, nonce);
    for (size_t i = 0; i < json_array_size(writes); i++) {
        size_t len, frame_len;
        uint8_t *pt = unhex_dup(json_string_value(json_array_get(writes, i)), &len);

        for (size_t off = 0; off < len; off += PX_BOXSTREAM_MAX_BODY) {
            size_t n = len - off < PX_BOXSTREAM_MAX_BODY ? len - off : PX_BOXSTREAM_MAX_BODY;

            cr_assert_eq(px_boxstream_seal(&s, pt + off, n, frame, sizeof(frame), &frame_len), 0);
            bytes_put(wire, frame, frame_len);
        }
        free(pt);
    }
    cr_assert_eq(px_boxstream_seal_goodbye(&s, bye), 0);
    bytes_put(wire, bye, sizeof(bye));
    px_boxstream_sealer_fini(&s);
}

/* Opens wire[0..len) and checks it yields exactly the chunks in `received`, then ends. */
static void
open_expect(const uint8_t key[32], const uint8_t nonce[24], const uint8_t *wire, size_t len,
            json_t *received, const char *what)
{
    struct px_boxstream_opener o;
    size_t off = 0, n = 0;
    bool bye = false;

    px_boxstream_opener_init(&o, key, nonce);
    while (off < len) {
        enum px_boxstream_event ev;
        const uint8_t *chunk;
        size_t used, clen;

        cr_assert_eq(px_boxstream_feed(&o, wire + off, len - off, &used, &ev, &chunk, &clen), 0,
                     "%s: %s", what, px_boxstream_opener_why(&o));
        off += used;
        if (ev == PX_BOXSTREAM_CHUNK) {
            size_t want_len;
            uint8_t *want;

            cr_assert_lt(n, json_array_size(received), "%s: more chunks than received", what);
            want = unhex_dup(json_string_value(json_array_get(received, n)), &want_len);
            cr_assert_eq(clen, want_len, "%s: chunk %zu length", what, n);
            cr_assert(memcmp(chunk, want, clen) == 0, "%s: chunk %zu differs", what, n);
            free(want);
            n++;
        } else if (ev == PX_BOXSTREAM_GOODBYE) {
            bye = true;
        }
    }
    cr_assert(bye, "%s: no goodbye", what);
    cr_assert_eq(n, json_array_size(received), "%s: %zu chunks", what, n);
    cr_assert_eq(px_boxstream_opener_end(&o), 0);
    px_boxstream_opener_fini(&o);
}

/* One direction of after_handshake: our sealer reproduces the wire, the peer opens it. */
static void
check_direction(json_t *dir, const struct px_shs_session *sender,
                const struct px_shs_session *receiver, const char *recv_key, const char *what)
{
    struct bytes wire = {0};
    char field[32];

    snprintf(field, sizeof(field), "received_by_%s", recv_key);
    seal_writes(sender->encrypt_key, sender->encrypt_nonce, get(dir, "plaintext_chunks"), &wire);
    expect_hex(dir, "wire", wire.p, wire.len, what);
    open_expect(receiver->decrypt_key, receiver->decrypt_nonce, wire.p, wire.len, get(dir, field),
                what);
    free(wire.p);
}

static void
expect_session(json_t *obj, const struct px_shs_session *s, const char *side)
{
    expect_hex(obj, "encrypt_key", s->encrypt_key, 32, side);
    expect_hex(obj, "encrypt_nonce", s->encrypt_nonce, 24, side);
    expect_hex(obj, "decrypt_key", s->decrypt_key, 32, side);
    expect_hex(obj, "decrypt_nonce", s->decrypt_nonce, 24, side);
}

/* Every recorded handshake, recomputed from its inputs only. */
Test(shs, vectors_handshakes)
{
    json_t *root = load_vectors();
    json_t *hs = get(root, "handshakes");
    size_t passed = 0;

    cr_assert_eq(json_array_size(hs), 10, "shs.json should hold 10 handshakes");
    for (size_t i = 0; i < json_array_size(hs); i++) {
        json_t *h = json_array_get(hs, i);
        json_t *cj = get(h, "client"), *sj = get(h, "server");
        const char *name = str_field(h, "name");
        struct px_identity cid, sid;
        struct px_shs_client c;
        struct px_shs_server s;
        struct px_shs_session cs, ss;
        uint8_t netkey[32], cseed[32], sseed[32], spk[32], got_pk[32];
        uint8_t m1[64], m2[64], m3[112], m4[80];
        struct bytes c2s = {0}, s2c = {0};

        cr_log_info("handshake %s", name);
        hex_field(h, "network_key", netkey, 32);
        side_keys(cj, &cid, cseed);
        side_keys(sj, &sid, sseed);
        hex_field(cj, "expected_server_public_key", spk, 32);

        cr_assert_eq(px_shs_client_init(&c, netkey, &cid, cseed, spk), 0, "%s", name);
        cr_assert_eq(px_shs_server_init(&s, netkey, &sid, sseed), 0, "%s", name);

        cr_assert_eq(px_shs_client_msg1(&c, m1), 0);
        expect_hex(h, "msg1", m1, sizeof(m1), "msg1");
        cr_assert_eq(px_shs_server_read_msg1(&s, m1, sizeof(m1)), 0, "%s: msg1", name);
        cr_assert_eq(px_shs_server_msg2(&s, m2), 0);
        expect_hex(h, "msg2", m2, sizeof(m2), "msg2");
        cr_assert_eq(px_shs_client_read_msg2(&c, m2, sizeof(m2)), 0, "%s: msg2", name);
        cr_assert_eq(px_shs_client_msg3(&c, m3), 0);
        expect_hex(h, "msg3", m3, sizeof(m3), "msg3");
        cr_assert_eq(px_shs_server_read_msg3(&s, m3, sizeof(m3), got_pk), 0, "%s: msg3", name);
        cr_assert_arr_eq(got_pk, cid.pk, 32, "%s: the server learns the client's key", name);
        cr_assert_eq(px_shs_server_msg4(&s, m4), 0);
        expect_hex(h, "msg4", m4, sizeof(m4), "msg4");
        cr_assert_eq(px_shs_client_read_msg4(&c, m4, sizeof(m4)), 0, "%s: msg4", name);

        cr_assert(px_shs_client_done(&c) && px_shs_server_done(&s));
        cr_assert_eq(px_shs_client_session(&c, &cs), 0);
        cr_assert_eq(px_shs_server_session(&s, &ss), 0);
        expect_session(get(h, "client_session"), &cs, "client session");
        expect_session(get(h, "server_session"), &ss, "server session");
        cr_assert_arr_eq(cs.peer_pk, sid.pk, 32);
        cr_assert_arr_eq(ss.peer_pk, cid.pk, 32);

        /* The box-stream bytes that followed, each way, and what the other side read. */
        check_direction(get(get(h, "after_handshake"), "client_to_server"), &cs, &ss, "server",
                        "client_to_server");
        check_direction(get(get(h, "after_handshake"), "server_to_client"), &ss, &cs, "client",
                        "server_to_client");

        /* Everything each side wrote. */
        bytes_put(&c2s, m1, sizeof(m1));
        bytes_put(&c2s, m3, sizeof(m3));
        seal_writes(cs.encrypt_key, cs.encrypt_nonce,
                    get(get(get(h, "after_handshake"), "client_to_server"), "plaintext_chunks"),
                    &c2s);
        bytes_put(&s2c, m2, sizeof(m2));
        bytes_put(&s2c, m4, sizeof(m4));
        seal_writes(ss.encrypt_key, ss.encrypt_nonce,
                    get(get(get(h, "after_handshake"), "server_to_client"), "plaintext_chunks"),
                    &s2c);
        expect_hex(get(h, "wire"), "client_to_server", c2s.p, c2s.len, "wire client_to_server");
        expect_hex(get(h, "wire"), "server_to_client", s2c.p, s2c.len, "wire server_to_client");
        free(c2s.p);
        free(s2c.p);

        px_shs_client_fini(&c);
        px_shs_server_fini(&s);
        px_identity_wipe(&cid);
        px_identity_wipe(&sid);
        passed++;
    }
    cr_log_info("shs.json: %zu/10 handshakes passed", passed);
    cr_assert_eq(passed, 10);
    json_decref(root);
}

/* ---- negative cases ---- */

/* The code we return for each negative case; 0 = every message valid, policy refuses. */
struct neg_expect {
    const char *name;
    int rc;
};

static const struct neg_expect neg_expect[] = {
    {"wrong_network_key_msg1", PX_EPROTO},
    {"wrong_network_key_msg2", PX_EPROTO},
    {"tampered_msg1", PX_EPROTO},
    {"tampered_msg2", PX_EPROTO},
    {"tampered_msg3_ciphertext", PX_EPROTO},
    {"tampered_msg3_mac", PX_EPROTO},
    {"msg3_for_wrong_server_key", PX_EPROTO},
    {"msg3_valid_box_signed_for_wrong_server_key", PX_EBADSIG},
    {"msg3_valid_box_signature_by_other_key", PX_EBADSIG},
    {"client_not_authorized", 0},
    {"tampered_msg4", PX_EPROTO},
    {"msg4_signed_by_other_server_key", PX_EBADSIG},
    {"truncated_msg1", PX_ETRUNC},
    {"truncated_msg2", PX_ETRUNC},
    {"truncated_msg3", PX_ETRUNC},
    {"truncated_msg4", PX_ETRUNC},
    {"msg1_all_zero_ephemeral_key", PX_EKEY},
    {"msg2_all_zero_ephemeral_key", PX_EKEY},
};

/* One side under test, driven by message name. */
struct party {
    bool is_client;
    struct px_shs_client c;
    struct px_shs_server s;
};

/* Writes this side's message `name` (msg1/msg3 for a client, msg2/msg4 for a server). */
static int
party_write(struct party *p, const char *name, uint8_t out[112], size_t *len)
{
    if (p->is_client && strcmp(name, "msg1") == 0) {
        *len = 64;
        return px_shs_client_msg1(&p->c, out);
    }
    if (p->is_client && strcmp(name, "msg3") == 0) {
        *len = 112;
        return px_shs_client_msg3(&p->c, out);
    }
    if (!p->is_client && strcmp(name, "msg2") == 0) {
        *len = 64;
        return px_shs_server_msg2(&p->s, out);
    }
    if (!p->is_client && strcmp(name, "msg4") == 0) {
        *len = 80;
        return px_shs_server_msg4(&p->s, out);
    }
    cr_assert_fail("side cannot write %s", name);
    return PX_EINVAL;
}

static int
party_read(struct party *p, const char *name, const uint8_t *in, size_t len, uint8_t pk[32])
{
    if (p->is_client && strcmp(name, "msg2") == 0) {
        return px_shs_client_read_msg2(&p->c, in, len);
    }
    if (p->is_client && strcmp(name, "msg4") == 0) {
        return px_shs_client_read_msg4(&p->c, in, len);
    }
    if (!p->is_client && strcmp(name, "msg1") == 0) {
        return px_shs_server_read_msg1(&p->s, in, len);
    }
    if (!p->is_client && strcmp(name, "msg3") == 0) {
        return px_shs_server_read_msg3(&p->s, in, len, pk);
    }
    cr_assert_fail("side cannot read %s", name);
    return PX_EINVAL;
}

/* The message this side would write next after reading `name`. */
static const char *
next_write(const struct party *p, const char *last_read)
{
    if (p->is_client) {
        return strcmp(last_read, "msg2") == 0 ? "msg3" : NULL;
    }
    return strcmp(last_read, "msg1") == 0 ? "msg2" : "msg4";
}

static void
run_negative(json_t *n, int want_rc)
{
    const char *name = str_field(n, "name");
    const char *side = str_field(n, "rejected_by");
    json_t *msgs = get(n, "messages"), *rr = get(n, "reference_result");
    json_t *sj = get(n, side);
    struct party p;
    struct px_identity id;
    struct px_shs_session sess;
    struct bytes written = {0};
    uint8_t netkey[32], seed[32], out[112], pk[32];
    const char *last_read = NULL;
    size_t len;
    int rc = 0;

    memset(&p, 0, sizeof(p));
    p.is_client = strcmp(side, "client") == 0;
    cr_assert(p.is_client || strcmp(side, "server") == 0);
    cr_assert_str_eq(str_field(rr, "side_under_test"), side);
    hex_field(sj, "network_key", netkey, 32);
    side_keys(sj, &id, seed);
    if (p.is_client) {
        uint8_t spk[32];

        hex_field(sj, "expected_server_public_key", spk, 32);
        cr_assert_eq(px_shs_client_init(&p.c, netkey, &id, seed, spk), 0, "%s", name);
    } else {
        cr_assert_eq(px_shs_server_init(&p.s, netkey, &id, seed), 0, "%s", name);
    }

    for (size_t i = 0; i < json_array_size(msgs); i++) {
        json_t *m = json_array_get(msgs, i);
        const char *mname = str_field(m, "name"), *status = str_field(m, "status");
        bool last = i + 1 == json_array_size(msgs);
        size_t in_len;
        uint8_t *in = hex_field_dup(m, "hex", &in_len);

        cr_assert_eq(in_len, (size_t)json_integer_value(get(m, "length")));
        if (strcmp(str_field(m, "from"), side) == 0) {
            /* Our own earlier message: it must be the one the reference wrote. */
            cr_assert_str_eq(status, "valid");
            cr_assert_eq(party_write(&p, mname, out, &len), 0, "%s: writing %s", name, mname);
            cr_assert_eq(len, in_len);
            cr_assert(memcmp(out, in, len) == 0, "%s: our %s differs", name, mname);
            bytes_put(&written, out, len);
        } else {
            rc = party_read(&p, mname, in, in_len, pk);
            last_read = mname;
            if (strcmp(status, "valid") == 0) {
                cr_assert_eq(rc, 0, "%s: valid %s refused: %s (%s)", name, mname, px_err_name(rc),
                             p.is_client ? px_shs_client_why(&p.c) : px_shs_server_why(&p.s));
            } else {
                cr_assert(last, "%s: the bad message is the last one", name);
                cr_assert_str_eq(mname, str_field(n, "bad_message"));
            }
        }
        free(in);
    }
    cr_assert_not_null(last_read);

    if (want_rc == 0) {
        /* Every message valid; authorization is the caller's decision, and it says no. */
        cr_assert(!p.is_client);
        cr_assert(json_is_false(get(sj, "authorize_accepts_client")));
        cr_assert_eq(rc, 0);
        expect_hex(rr, "authorize_called_with", pk, 32, "client key given to authorization");
        px_shs_server_fini(&p.s);
    } else {
        const char *why = p.is_client ? px_shs_client_why(&p.c) : px_shs_server_why(&p.s);

        cr_assert_eq(rc, want_rc, "%s: %s, expected %s", name, px_err_name(rc),
                     px_err_name(want_rc));
        cr_assert_not_null(why, "%s: a failure gives a reason", name);
        cr_log_info("%s: %s (%s)", name, px_err_name(rc), why);
    }

    /* Nothing more is sent, and no session exists. */
    {
        const char *next = next_write(&p, last_read);

        if (next != NULL) {
            cr_assert_eq(party_write(&p, next, out, &len), PX_EINVAL, "%s: %s after failure", name,
                         next);
        }
    }
    if (p.is_client) {
        cr_assert(!px_shs_client_done(&p.c));
        cr_assert_eq(px_shs_client_session(&p.c, &sess), PX_EINVAL);
    } else {
        cr_assert(!px_shs_server_done(&p.s));
        cr_assert_eq(px_shs_server_session(&p.s, &sess), PX_EINVAL);
    }
    cr_assert(json_is_false(get(rr, "completed_handshake")));
    {
        size_t ref_len;
        uint8_t *ref = hex_field_dup(rr, "bytes_written_by_side_under_test", &ref_len);

        cr_assert_eq(written.len, ref_len, "%s: wrote %zu bytes, the reference %zu", name,
                     written.len, ref_len);
        cr_assert(ref_len == 0 || memcmp(written.p, ref, ref_len) == 0, "%s: written bytes", name);
        free(ref);
    }
    /* The secrets are gone. */
    {
        const struct px__shs_core *core = p.is_client ? &p.c.c : &p.s.c;

        cr_assert(sodium_is_zero(core->eph_sk, sizeof(core->eph_sk)), "%s: eph_sk kept", name);
        cr_assert(sodium_is_zero(core->lt_sk, sizeof(core->lt_sk)), "%s: lt_sk kept", name);
        cr_assert(sodium_is_zero(core->ab, sizeof(core->ab)), "%s: ab kept", name);
    }
    if (p.is_client) {
        px_shs_client_fini(&p.c);
    } else {
        px_shs_server_fini(&p.s);
    }
    px_identity_wipe(&id);
    free(written.p);
}

Test(shs, vectors_negative)
{
    json_t *root = load_vectors();
    json_t *neg = get(root, "negative");
    size_t passed = 0;

    cr_assert_eq(json_array_size(neg), 18, "shs.json should hold 18 negative cases");
    for (size_t i = 0; i < json_array_size(neg); i++) {
        json_t *n = json_array_get(neg, i);
        const char *name = str_field(n, "name");
        const struct neg_expect *e = NULL;

        for (size_t k = 0; k < sizeof(neg_expect) / sizeof(neg_expect[0]); k++) {
            if (strcmp(neg_expect[k].name, name) == 0) {
                e = &neg_expect[k];
            }
        }
        cr_assert_not_null(e, "negative case %s has no expectation here", name);
        run_negative(n, e->rc);
        passed++;
    }
    cr_log_info("shs.json: %zu/18 negative cases passed", passed);
    cr_assert_eq(passed, 18);
    json_decref(root);
}

/* ---- the state machine on its own ---- */

struct pair {
    struct px_identity cid, sid;
    struct px_shs_client c;
    struct px_shs_server s;
    uint8_t netkey[32];
};

static void
pair_init(struct pair *p)
{
    uint8_t seed[32];

    memset(p, 0, sizeof(*p));
    memset(p->netkey, 0x42, 32);
    memset(seed, 1, 32);
    cr_assert_eq(px_identity_from_seed(&p->cid, seed), 0);
    memset(seed, 2, 32);
    cr_assert_eq(px_identity_from_seed(&p->sid, seed), 0);
    memset(seed, 3, 32);
    cr_assert_eq(px_shs_client_init(&p->c, p->netkey, &p->cid, seed, p->sid.pk), 0);
    memset(seed, 4, 32);
    cr_assert_eq(px_shs_server_init(&p->s, p->netkey, &p->sid, seed), 0);
}

Test(shs, refuses_calls_out_of_turn)
{
    struct pair p;
    struct px_shs_session sess;
    uint8_t m1[64], m2[64], m3[112], m4[80], pk[32];

    pair_init(&p);
    /* Client: nothing but msg1 first. */
    cr_assert_eq(px_shs_client_read_msg2(&p.c, m2, 64), PX_EINVAL);
    cr_assert_eq(px_shs_client_msg3(&p.c, m3), PX_EINVAL);
    cr_assert_eq(px_shs_client_read_msg4(&p.c, m4, 80), PX_EINVAL);
    cr_assert_eq(px_shs_client_session(&p.c, &sess), PX_EINVAL);
    /* Server: nothing but read_msg1 first. */
    cr_assert_eq(px_shs_server_msg2(&p.s, m2), PX_EINVAL);
    cr_assert_eq(px_shs_server_read_msg3(&p.s, m3, 112, pk), PX_EINVAL);
    cr_assert_eq(px_shs_server_msg4(&p.s, m4), PX_EINVAL);
    cr_assert_eq(px_shs_server_session(&p.s, &sess), PX_EINVAL);

    cr_assert_eq(px_shs_client_msg1(&p.c, m1), 0);
    cr_assert_eq(px_shs_client_msg1(&p.c, m1), PX_EINVAL, "msg1 twice");
    cr_assert_eq(px_shs_server_read_msg1(&p.s, m1, 64), 0);
    cr_assert_eq(px_shs_server_read_msg1(&p.s, m1, 64), PX_EINVAL, "msg1 read twice");
    cr_assert_eq(px_shs_server_read_msg3(&p.s, m3, 112, pk), PX_EINVAL, "msg3 before msg2");
    cr_assert_eq(px_shs_server_msg2(&p.s, m2), 0);
    cr_assert_eq(px_shs_client_msg3(&p.c, m3), PX_EINVAL, "msg3 before msg2 is read");
    cr_assert_eq(px_shs_client_read_msg2(&p.c, m2, 64), 0);
    cr_assert_eq(px_shs_client_msg3(&p.c, m3), 0);
    cr_assert_eq(px_shs_server_msg4(&p.s, m4), PX_EINVAL, "msg4 before msg3 is read");
    cr_assert_eq(px_shs_server_read_msg3(&p.s, m3, 112, pk), 0);
    cr_assert_eq(px_shs_server_session(&p.s, &sess), PX_EINVAL, "session before msg4");
    cr_assert_eq(px_shs_server_msg4(&p.s, m4), 0);
    cr_assert_eq(px_shs_server_msg4(&p.s, m4), PX_EINVAL, "msg4 twice");
    cr_assert_eq(px_shs_client_session(&p.c, &sess), PX_EINVAL, "session before msg4");
    cr_assert_eq(px_shs_client_read_msg4(&p.c, m4, 80), 0);
    cr_assert_eq(px_shs_client_read_msg4(&p.c, m4, 80), PX_EINVAL);
    cr_assert_eq(px_shs_client_session(&p.c, &sess), 0);
    cr_assert_arr_eq(sess.peer_pk, p.sid.pk, 32);

    /* Done: every handshake secret is wiped; the session remains until fini. */
    cr_assert(sodium_is_zero(p.c.c.eph_sk, 32) && sodium_is_zero(p.s.c.eph_sk, 32));
    cr_assert(sodium_is_zero(p.c.c.lt_sk, 64) && sodium_is_zero(p.s.c.lt_sk, 64));
    cr_assert(sodium_is_zero(p.c.c.ab, 32) && sodium_is_zero(p.c.c.aB, 32) &&
              sodium_is_zero(p.c.c.Ab, 32));
    cr_assert(sodium_is_zero(p.s.c.ab, 32) && sodium_is_zero(p.s.c.aB, 32) &&
              sodium_is_zero(p.s.c.Ab, 32));
    px_shs_client_fini(&p.c);
    px_shs_server_fini(&p.s);
    cr_assert(sodium_is_zero((const uint8_t *)&p.c, sizeof(p.c)));
    cr_assert_eq(px_shs_client_session(&p.c, &sess), PX_EINVAL);
    cr_assert_eq(px_shs_server_session(&p.s, &sess), PX_EINVAL);
    cr_assert_eq(px_shs_client_msg1(&p.c, m1), PX_EINVAL);
    cr_assert_eq(px_shs_server_read_msg1(&p.s, m1, 64), PX_EINVAL);
}

Test(shs, lengths_are_exact)
{
    struct pair p;
    uint8_t m1[65];

    pair_init(&p);
    cr_assert_eq(px_shs_client_msg1(&p.c, m1), 0);
    cr_assert_eq(px_shs_server_read_msg1(&p.s, m1, 65), PX_ETOOBIG);
    cr_assert_eq(px_shs_server_msg2(&p.s, m1), PX_EINVAL, "failed for good");
    cr_assert_not_null(px_shs_server_why(&p.s));
    px_shs_server_fini(&p.s);

    memset(m1, 4, 32);
    cr_assert_eq(px_shs_server_init(&p.s, p.netkey, &p.sid, m1), 0);
    cr_assert_eq(px_shs_server_read_msg1(&p.s, m1, 0), PX_ETRUNC);
    px_shs_server_fini(&p.s);
    px_shs_client_fini(&p.c);
}

Test(shs, bad_keys_at_init)
{
    struct px_identity id;
    struct px_shs_client c;
    struct px_shs_server s;
    uint8_t netkey[32] = {0}, seed[32] = {9}, zero_pk[32] = {0}, m1[64];

    cr_assert_eq(px_identity_from_seed(&id, seed), 0);
    /* A server key with no X25519 form (all zero: a small-order point). */
    cr_assert_eq(px_shs_client_init(&c, netkey, &id, seed, zero_pk), PX_EKEY);
    cr_assert_not_null(px_shs_client_why(&c));
    cr_assert_eq(px_shs_client_msg1(&c, m1), PX_EINVAL);
    px_shs_client_fini(&c);
    /* A secret key that does not belong to the public key. */
    id.pk[0] ^= 1;
    cr_assert_eq(px_shs_server_init(&s, netkey, &id, seed), PX_EKEY);
    cr_assert_eq(px_shs_client_init(&c, netkey, &id, seed, zero_pk), PX_EKEY);
    px_shs_server_fini(&s);
    px_shs_client_fini(&c);
    px_identity_wipe(&id);
}

/* ---- praxis-shs-testee through pipes ---- */

struct child {
    pid_t pid;
    int to;   /* the child's stdin */
    int from; /* the child's stdout */
};

static int64_t
now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
spawn(char *const argv[], struct child *ch)
{
    int in[2], out[2];

    cr_assert_eq(pipe2(in, O_CLOEXEC), 0);
    cr_assert_eq(pipe2(out, O_CLOEXEC), 0);
    ch->pid = fork();
    cr_assert_geq(ch->pid, 0);
    if (ch->pid == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        execv(argv[0], argv);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    ch->to = in[1];
    ch->from = out[0];
}

static void
child_write(struct child *ch, const uint8_t *p, size_t n)
{
    cr_assert_eq(write(ch->to, p, n), (ssize_t)n, "write to the testee: %s", strerror(errno));
}

/*
 * Reads up to n bytes within timeout_ms; returns how many arrived before the end of the
 * testee's output or the deadline.
 */
static size_t
child_read(struct child *ch, uint8_t *p, size_t n, int timeout_ms)
{
    int64_t deadline = now_ms() + timeout_ms;
    size_t got = 0;

    while (got < n) {
        struct pollfd pfd = {ch->from, POLLIN, 0};
        int64_t left = deadline - now_ms();
        ssize_t r;
        int pr;

        if (left <= 0) {
            break;
        }
        pr = poll(&pfd, 1, (int)left);
        if (pr < 0 && errno == EINTR) {
            continue;
        }
        if (pr <= 0) {
            break;
        }
        r = read(ch->from, p + got, n - got);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r <= 0) {
            break;
        }
        got += (size_t)r;
    }
    return got;
}

/*
 * Sends sig (unless 0), closes the pipes and reaps the testee within timeout_ms, killing it
 * after that. Returns its exit code, or 128 + the signal that ended it, or -1 on timeout.
 */
static int
child_stop(struct child *ch, int sig, int timeout_ms)
{
    int64_t deadline = now_ms() + timeout_ms;
    int st;

    if (sig != 0) {
        kill(ch->pid, sig);
    }
    close(ch->to);
    close(ch->from);
    for (;;) {
        pid_t r = waitpid(ch->pid, &st, WNOHANG);
        struct timespec ms = {0, 1000000};

        if (r == ch->pid) {
            break;
        }
        if (now_ms() > deadline) {
            kill(ch->pid, SIGKILL);
            waitpid(ch->pid, &st, 0);
            return -1;
        }
        nanosleep(&ms, NULL);
    }
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static char *
hex_arg(const uint8_t *p, size_t n)
{
    char *s = malloc(2 * n + 1);

    cr_assert_not_null(s);
    px_hex_encode(p, n, s);
    return s;
}

/* The testee's 112-byte outcome is its session: encrypt key/nonce, decrypt key/nonce. */
static void
expect_mirror(const uint8_t out[112], const struct px_shs_session *ours)
{
    cr_assert_arr_eq(out, ours->decrypt_key, 32, "testee encrypt key = our decrypt key");
    cr_assert_arr_eq(out + 32, ours->decrypt_nonce, 24, "testee encrypt nonce");
    cr_assert_arr_eq(out + 56, ours->encrypt_key, 32, "testee decrypt key = our encrypt key");
    cr_assert_arr_eq(out + 88, ours->encrypt_nonce, 24, "testee decrypt nonce");
}

#define TIMEOUT_MS 10000

/* Our client against the testee as server; then SIGTERM ends it. */
Test(shs, testee_server_role)
{
    struct pair p;
    struct child ch;
    struct px_shs_session sess;
    uint8_t m1[64], m2[64], m3[112], last[192], extra;
    char *bin = px_test_bin("praxis-shs-testee");
    char *nk, *sk, *pk;

    pair_init(&p);
    nk = hex_arg(p.netkey, 32);
    sk = hex_arg(p.sid.sk, 64);
    pk = hex_arg(p.sid.pk, 32);
    cr_assert_eq(access(bin, X_OK), 0, "%s is not built", bin);
    {
        char *argv[] = {bin, "server", nk, sk, pk, NULL};

        spawn(argv, &ch);
    }
    cr_assert_eq(px_shs_client_msg1(&p.c, m1), 0);
    child_write(&ch, m1, sizeof(m1));
    cr_assert_eq(child_read(&ch, m2, sizeof(m2), TIMEOUT_MS), sizeof(m2));
    cr_assert_eq(px_shs_client_read_msg2(&p.c, m2, sizeof(m2)), 0);
    cr_assert_eq(px_shs_client_msg3(&p.c, m3), 0);
    child_write(&ch, m3, sizeof(m3));
    cr_assert_eq(child_read(&ch, last, sizeof(last), TIMEOUT_MS), sizeof(last));
    cr_assert_eq(px_shs_client_read_msg4(&p.c, last, 80), 0);
    cr_assert_eq(px_shs_client_session(&p.c, &sess), 0);
    expect_mirror(last + 80, &sess);
    /* Then it waits, writing nothing more, until SIGTERM. */
    cr_assert_eq(child_read(&ch, &extra, 1, 50), 0);
    cr_assert_eq(child_stop(&ch, SIGTERM, TIMEOUT_MS), 128 + SIGTERM);
    px_shs_client_fini(&p.c);
    px_shs_server_fini(&p.s);
    free(nk);
    free(sk);
    free(pk);
    free(bin);
}

/* Our server against the testee as client; closing its stdin ends it with status 0. */
Test(shs, testee_client_role)
{
    struct pair p;
    struct child ch;
    struct px_shs_session sess;
    uint8_t m1[64], m2[64], m3[112], m4[80], out[112], client_pk[32];
    char *bin = px_test_bin("praxis-shs-testee");
    char *nk = NULL, *pk = NULL;

    pair_init(&p);
    nk = hex_arg(p.netkey, 32);
    pk = hex_arg(p.sid.pk, 32);
    cr_assert_eq(access(bin, X_OK), 0, "%s is not built", bin);
    {
        char *argv[] = {bin, "client", nk, pk, NULL};

        spawn(argv, &ch);
    }
    cr_assert_eq(child_read(&ch, m1, sizeof(m1), TIMEOUT_MS), sizeof(m1));
    cr_assert_eq(px_shs_server_read_msg1(&p.s, m1, sizeof(m1)), 0);
    cr_assert_eq(px_shs_server_msg2(&p.s, m2), 0);
    child_write(&ch, m2, sizeof(m2));
    cr_assert_eq(child_read(&ch, m3, sizeof(m3), TIMEOUT_MS), sizeof(m3));
    cr_assert_eq(px_shs_server_read_msg3(&p.s, m3, sizeof(m3), client_pk), 0);
    cr_assert_eq(px_shs_server_msg4(&p.s, m4), 0);
    child_write(&ch, m4, sizeof(m4));
    cr_assert_eq(child_read(&ch, out, sizeof(out), TIMEOUT_MS), sizeof(out));
    cr_assert_eq(px_shs_server_session(&p.s, &sess), 0);
    cr_assert_arr_eq(sess.peer_pk, client_pk, 32);
    expect_mirror(out, &sess);
    cr_assert_eq(child_stop(&ch, 0, TIMEOUT_MS), 0);
    px_shs_client_fini(&p.c);
    px_shs_server_fini(&p.s);
    free(nk);
    free(pk);
    free(bin);
}

/* A bad msg1 (tampered HMAC) or msg2: the testee exits 1 at once, writing nothing more. */
Test(shs, testee_rejects_bad_messages)
{
    struct pair p;
    struct child ch;
    uint8_t m1[64], m2[64], buf[64];
    char *bin = px_test_bin("praxis-shs-testee");
    char *nk, *sk, *pk;

    pair_init(&p);
    nk = hex_arg(p.netkey, 32);
    sk = hex_arg(p.sid.sk, 64);
    pk = hex_arg(p.sid.pk, 32);
    cr_assert_eq(access(bin, X_OK), 0, "%s is not built", bin);

    /* Server role, tampered msg1. */
    {
        char *argv[] = {bin, "server", nk, sk, pk, NULL};

        spawn(argv, &ch);
    }
    cr_assert_eq(px_shs_client_msg1(&p.c, m1), 0);
    m1[40] ^= 1;
    child_write(&ch, m1, sizeof(m1));
    cr_assert_eq(child_read(&ch, buf, sizeof(buf), TIMEOUT_MS), 0, "nothing after a bad msg1");
    cr_assert_eq(child_stop(&ch, 0, TIMEOUT_MS), 1);

    /* Server role, truncated msg1 then EOF. */
    {
        char *argv[] = {bin, "server", nk, sk, pk, NULL};

        spawn(argv, &ch);
    }
    child_write(&ch, m1, 63);
    close(ch.to);
    ch.to = open("/dev/null", O_WRONLY);
    cr_assert_eq(child_read(&ch, buf, sizeof(buf), TIMEOUT_MS), 0);
    cr_assert_eq(child_stop(&ch, 0, TIMEOUT_MS), 1);

    /* Client role, msg2 under another network key. */
    {
        char *argv[] = {bin, "client", nk, pk, NULL};

        spawn(argv, &ch);
    }
    cr_assert_eq(child_read(&ch, m1, sizeof(m1), TIMEOUT_MS), sizeof(m1));
    cr_assert_eq(px_shs_server_read_msg1(&p.s, m1, sizeof(m1)), 0);
    cr_assert_eq(px_shs_server_msg2(&p.s, m2), 0);
    m2[0] ^= 0x80;
    child_write(&ch, m2, sizeof(m2));
    cr_assert_eq(child_read(&ch, buf, sizeof(buf), TIMEOUT_MS), 0, "no msg3 after a bad msg2");
    cr_assert_eq(child_stop(&ch, 0, TIMEOUT_MS), 1);

    px_shs_client_fini(&p.c);
    px_shs_server_fini(&p.s);
    free(nk);
    free(sk);
    free(pk);
    free(bin);
}
