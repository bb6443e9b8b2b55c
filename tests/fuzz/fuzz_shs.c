/* SPDX-License-Identifier: MIT */
/*
 * fuzz_shs.c - libFuzzer target for the secret handshake's read functions.
 *
 * The keys are fixed: those of the negative_base_run in ../shared/vectors/shs.json (main-net
 * network key, client c6, server s5), so the seed corpus can hold the vectors' messages.
 * The first byte picks a mode, the rest is the input:
 *
 *   0  a fresh server reads the input as msg1
 *   1  a server that had the honest msg1 and sent msg2 reads the input as msg3
 *   2  a client that sent msg1 reads the input as msg2
 *   3  a client that had the honest msg2 and sent msg3 reads the input as msg4
 *   4  the input is a script of API calls on an honest client/server pair, in any order
 *
 * Properties:
 *   - msg1/msg2 are accepted exactly when they are 64 bytes, their HMAC under the network
 *     key verifies, and the ephemeral key is not of low order (checked here independently
 *     with libsodium);
 *   - msg3/msg4 are accepted only when they are the honest peer's bytes (nobody else can
 *     make a box under the derived keys), and then the handshake completes with the
 *     honest session;
 *   - a rejected message leaves the side failed: it refuses to write anything more and
 *     has no session, its secrets are wiped, and the code is one of the documented ones
 *     (PX_ETRUNC exactly when short, PX_ETOOBIG exactly when long);
 *   - in mode 4, a call succeeds exactly when it is that side's turn (a small model of the
 *     two state machines says so), and a completed pair has mirrored sessions.
 * A broken property prints what broke and aborts.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "protocol/err.h"
#include "protocol/shs.h"
#include "protocol/sign.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t netkey[32] = {0xd4, 0xa1, 0xcb, 0x88, 0xa6, 0x6f, 0x02, 0xf8, 0xdb, 0x63, 0x5c,
                                   0xe2, 0x64, 0x41, 0xcc, 0x5d, 0xac, 0x1b, 0x08, 0x42, 0x0c, 0xea,
                                   0xac, 0x23, 0x08, 0x39, 0xb7, 0x55, 0x84, 0x5a, 0x9f, 0xfb};
static const uint8_t client_lt_seed[32] = {
    0x1b, 0x70, 0x2e, 0x00, 0x12, 0xf9, 0xe7, 0x73, 0x7c, 0x25, 0x55, 0x2e, 0x6d, 0x14, 0x50, 0x00,
    0x13, 0xa6, 0xe0, 0xb6, 0x44, 0xe2, 0xbf, 0x9e, 0x1e, 0x98, 0x2b, 0xe6, 0xb9, 0x93, 0xd5, 0x4b};
static const uint8_t client_eph_seed[32] = {
    0x16, 0x59, 0x70, 0x0e, 0x0a, 0x25, 0x63, 0x36, 0x85, 0x55, 0x32, 0xde, 0xdd, 0xac, 0xc1, 0x2d,
    0xde, 0x4f, 0xd7, 0xe6, 0x3a, 0xb4, 0xa4, 0x97, 0xb2, 0x60, 0x9c, 0xc2, 0xa1, 0x20, 0x76, 0x09};
static const uint8_t server_lt_seed[32] = {
    0xc8, 0xb7, 0x05, 0x2b, 0xbc, 0xac, 0x43, 0x4e, 0xb8, 0xee, 0xe3, 0x51, 0x12, 0x29, 0x98, 0x6e,
    0xdc, 0xe5, 0x6b, 0x9e, 0x35, 0xac, 0xff, 0x03, 0x1a, 0x14, 0xf3, 0x74, 0x57, 0xb0, 0xc0, 0x58};
static const uint8_t server_eph_seed[32] = {
    0x2f, 0xd2, 0xa8, 0x59, 0x43, 0xcd, 0xe5, 0xb5, 0xe1, 0x7a, 0x2c, 0x67, 0x6e, 0xd9, 0x61, 0x5b,
    0x0a, 0x27, 0xae, 0x24, 0xb1, 0x30, 0x91, 0x92, 0x35, 0xd6, 0xa1, 0xc8, 0x53, 0x7b, 0xf6, 0x80};

/* Computed once: the identities, ephemeral secrets and the honest transcript. */
static struct px_identity cid, sid;
static uint8_t a_eph_sk[32], b_eph_sk[32];
static uint8_t h1[64], h2[64], h3[112], h4[80];
static struct px_shs_session hc, hs;

static void
fail(const char *what, int rc)
{
    fprintf(stderr, "fuzz_shs: broken property: %s (rc %s)\n", what, px_err_name(rc));
    abort();
}

static void
must(int rc, const char *what)
{
    if (rc != 0) {
        fail(what, rc);
    }
}

static void
new_client(struct px_shs_client *c)
{
    must(px_shs_client_init(c, netkey, &cid, client_eph_seed, sid.pk), "client init");
}

static void
new_server(struct px_shs_server *s)
{
    must(px_shs_server_init(s, netkey, &sid, server_eph_seed), "server init");
}

static void
setup(void)
{
    struct px_shs_client c;
    struct px_shs_server s;
    uint8_t pk[32];

    if (px_crypto_init() != 0 || px_identity_from_seed(&cid, client_lt_seed) != 0 ||
        px_identity_from_seed(&sid, server_lt_seed) != 0 ||
        crypto_box_seed_keypair(pk, a_eph_sk, client_eph_seed) != 0 ||
        crypto_box_seed_keypair(pk, b_eph_sk, server_eph_seed) != 0) {
        abort();
    }
    new_client(&c);
    new_server(&s);
    must(px_shs_client_msg1(&c, h1), "honest msg1");
    must(px_shs_server_read_msg1(&s, h1, 64), "honest read msg1");
    must(px_shs_server_msg2(&s, h2), "honest msg2");
    must(px_shs_client_read_msg2(&c, h2, 64), "honest read msg2");
    must(px_shs_client_msg3(&c, h3), "honest msg3");
    must(px_shs_server_read_msg3(&s, h3, 112, pk), "honest read msg3");
    must(px_shs_server_msg4(&s, h4), "honest msg4");
    must(px_shs_client_read_msg4(&c, h4, 80), "honest read msg4");
    must(px_shs_client_session(&c, &hc), "honest client session");
    must(px_shs_server_session(&s, &hs), "honest server session");
    px_shs_client_fini(&c);
    px_shs_server_fini(&s);
}

/* The read functions' documented codes, with the length rule. */
static void
check_reject(int rc, size_t len, size_t want, const struct px__shs_core *core, const char *why)
{
    if (len < want && rc != PX_ETRUNC) {
        fail("a short message is not PX_ETRUNC", rc);
    }
    if (len > want && rc != PX_ETOOBIG) {
        fail("a long message is not PX_ETOOBIG", rc);
    }
    if (rc != PX_ETRUNC && rc != PX_ETOOBIG && rc != PX_EPROTO && rc != PX_EBADSIG &&
        rc != PX_EKEY) {
        fail("an undocumented error code", rc);
    }
    if (why == NULL) {
        fail("a rejection without a reason", rc);
    }
    if (!sodium_is_zero(core->eph_sk, sizeof(core->eph_sk)) ||
        !sodium_is_zero(core->lt_sk, sizeof(core->lt_sk)) ||
        !sodium_is_zero(core->ab, sizeof(core->ab))) {
        fail("secrets kept after a rejection", rc);
    }
}

/* What a correct reader of msg1/msg2 decides, computed without shs.c. */
static bool
challenge_ok(const uint8_t *in, size_t len, const uint8_t eph_sk[32])
{
    uint8_t shared[32];

    return len == 64 && crypto_auth_verify(in, in + 32, 32, netkey) == 0 &&
           crypto_scalarmult(shared, eph_sk, in + 32) == 0;
}

static void
server_msg1(const uint8_t *in, size_t len)
{
    struct px_shs_server s;
    struct px_shs_session sess;
    uint8_t out[64];
    int rc;

    new_server(&s);
    rc = px_shs_server_read_msg1(&s, in, len);
    if ((rc == 0) != challenge_ok(in, len, b_eph_sk)) {
        fail(rc == 0 ? "msg1 accepted but not valid" : "a valid msg1 refused", rc);
    }
    if (rc == 0) {
        /* msg2 does not depend on msg1: always the honest one. */
        must(px_shs_server_msg2(&s, out), "msg2 after an accepted msg1");
        if (memcmp(out, h2, 64) != 0) {
            fail("msg2 differs from the honest one", 0);
        }
    } else {
        check_reject(rc, len, 64, &s.c, px_shs_server_why(&s));
        if (px_shs_server_msg2(&s, out) != PX_EINVAL ||
            px_shs_server_session(&s, &sess) != PX_EINVAL) {
            fail("the server goes on after a bad msg1", rc);
        }
    }
    px_shs_server_fini(&s);
}

static void
server_msg3(const uint8_t *in, size_t len)
{
    struct px_shs_server s;
    struct px_shs_session sess;
    uint8_t out[80], pk[32];
    int rc;

    new_server(&s);
    must(px_shs_server_read_msg1(&s, h1, 64), "server read honest msg1");
    must(px_shs_server_msg2(&s, out), "server msg2");
    rc = px_shs_server_read_msg3(&s, in, len, pk);
    if (rc == 0) {
        if (len != 112 || memcmp(in, h3, 112) != 0) {
            fail("a msg3 other than the honest one accepted", rc);
        }
        if (memcmp(pk, cid.pk, 32) != 0) {
            fail("msg3 accepted with another client key", rc);
        }
        must(px_shs_server_msg4(&s, out), "msg4 after an accepted msg3");
        must(px_shs_server_session(&s, &sess), "server session");
        if (memcmp(out, h4, 80) != 0 || memcmp(&sess, &hs, sizeof(sess)) != 0) {
            fail("the completed server differs from the honest one", 0);
        }
    } else {
        if (len == 112 && memcmp(in, h3, 112) == 0) {
            fail("the honest msg3 refused", rc);
        }
        check_reject(rc, len, 112, &s.c, px_shs_server_why(&s));
        if (px_shs_server_msg4(&s, out) != PX_EINVAL ||
            px_shs_server_session(&s, &sess) != PX_EINVAL) {
            fail("the server goes on after a bad msg3", rc);
        }
    }
    px_shs_server_fini(&s);
}

static void
client_msg2(const uint8_t *in, size_t len)
{
    struct px_shs_client c;
    struct px_shs_session sess;
    uint8_t out[112];
    int rc;

    new_client(&c);
    must(px_shs_client_msg1(&c, out), "client msg1");
    rc = px_shs_client_read_msg2(&c, in, len);
    if ((rc == 0) != challenge_ok(in, len, a_eph_sk)) {
        fail(rc == 0 ? "msg2 accepted but not valid" : "a valid msg2 refused", rc);
    }
    if (rc == 0) {
        must(px_shs_client_msg3(&c, out), "msg3 after an accepted msg2");
        if ((memcmp(in, h2, 64) == 0) != (memcmp(out, h3, 112) == 0)) {
            fail("msg3 is the honest one exactly when msg2 was", 0);
        }
    } else {
        check_reject(rc, len, 64, &c.c, px_shs_client_why(&c));
        if (px_shs_client_msg3(&c, out) != PX_EINVAL ||
            px_shs_client_session(&c, &sess) != PX_EINVAL) {
            fail("the client goes on after a bad msg2", rc);
        }
    }
    px_shs_client_fini(&c);
}

static void
client_msg4(const uint8_t *in, size_t len)
{
    struct px_shs_client c;
    struct px_shs_session sess;
    uint8_t out[112];
    int rc;

    new_client(&c);
    must(px_shs_client_msg1(&c, out), "client msg1");
    must(px_shs_client_read_msg2(&c, h2, 64), "client read honest msg2");
    must(px_shs_client_msg3(&c, out), "client msg3");
    rc = px_shs_client_read_msg4(&c, in, len);
    if (rc == 0) {
        if (len != 80 || memcmp(in, h4, 80) != 0) {
            fail("a msg4 other than the honest one accepted", rc);
        }
        must(px_shs_client_session(&c, &sess), "client session");
        if (memcmp(&sess, &hc, sizeof(sess)) != 0) {
            fail("the completed client differs from the honest one", 0);
        }
    } else {
        if (len == 80 && memcmp(in, h4, 80) == 0) {
            fail("the honest msg4 refused", rc);
        }
        check_reject(rc, len, 80, &c.c, px_shs_client_why(&c));
        if (px_shs_client_session(&c, &sess) != PX_EINVAL) {
            fail("the client has a session after a bad msg4", rc);
        }
    }
    px_shs_client_fini(&c);
}

/*
 * Mode 4: each input byte is one call. The model counts each side's progress: client
 * 0 start, 1 sent msg1, 2 read msg2, 3 sent msg3, 4 done; server 0 start, 1 read msg1,
 * 2 sent msg2, 3 read msg3, 4 done; -1 failed or finished. Each message travels through
 * its own buffer, which holds zeroes until the peer has written the honest bytes into it.
 */
struct model {
    int cm, sm;
    bool have[5]; /* have[k]: msgk was written */
};

/* A write in turn succeeds and moves on; out of turn it is PX_EINVAL. */
static void
model_write(int rc, int *m, int turn, bool *have)
{
    if (*m == turn) {
        must(rc, "a write in turn failed");
        (*m)++;
        *have = true;
    } else if (rc != PX_EINVAL) {
        fail("a write out of turn was not refused", rc);
    }
}

/* A read in turn succeeds on the honest bytes, fails the side on zeroes; else EINVAL. */
static void
model_read(int rc, int *m, int turn, bool have)
{
    if (*m != turn) {
        if (rc != PX_EINVAL) {
            fail("a read out of turn was not refused", rc);
        }
    } else if (have) {
        must(rc, "the honest message refused");
        (*m)++;
    } else {
        if (rc == 0 || rc == PX_EINVAL) {
            fail("an all-zero message was not rejected", rc);
        }
        *m = -1;
    }
}

static void
script(const uint8_t *ops, size_t n)
{
    struct px_shs_client c;
    struct px_shs_server s;
    struct px_shs_session cs, ss;
    uint8_t m1[64] = {0}, m2[64] = {0}, m3[112] = {0}, m4[80] = {0}, pk[32];
    struct model md = {0, 0, {false}};
    int rc;

    new_client(&c);
    new_server(&s);
    for (size_t i = 0; i < n; i++) {
        switch (ops[i] % 12) {
        case 0:
            model_write(px_shs_client_msg1(&c, m1), &md.cm, 0, &md.have[1]);
            break;
        case 1:
            model_read(px_shs_client_read_msg2(&c, m2, 64), &md.cm, 1, md.have[2]);
            break;
        case 2:
            model_write(px_shs_client_msg3(&c, m3), &md.cm, 2, &md.have[3]);
            break;
        case 3:
            model_read(px_shs_client_read_msg4(&c, m4, 80), &md.cm, 3, md.have[4]);
            break;
        case 4:
            model_read(px_shs_server_read_msg1(&s, m1, 64), &md.sm, 0, md.have[1]);
            break;
        case 5:
            model_write(px_shs_server_msg2(&s, m2), &md.sm, 1, &md.have[2]);
            break;
        case 6:
            memset(pk, 0, sizeof(pk));
            rc = px_shs_server_read_msg3(&s, m3, 112, pk);
            model_read(rc, &md.sm, 2, md.have[3]);
            if (rc == 0 && memcmp(pk, cid.pk, 32) != 0) {
                fail("the server learned another client key", 0);
            }
            break;
        case 7:
            model_write(px_shs_server_msg4(&s, m4), &md.sm, 3, &md.have[4]);
            break;
        case 8:
            rc = px_shs_client_session(&c, &cs);
            if ((rc == 0) != (md.cm == 4) || (rc != 0 && rc != PX_EINVAL)) {
                fail("client session not exactly when done", rc);
            }
            break;
        case 9:
            rc = px_shs_server_session(&s, &ss);
            if ((rc == 0) != (md.sm == 4) || (rc != 0 && rc != PX_EINVAL)) {
                fail("server session not exactly when done", rc);
            }
            break;
        case 10:
            px_shs_client_fini(&c);
            md.cm = -1;
            break;
        default:
            px_shs_server_fini(&s);
            md.sm = -1;
            break;
        }
    }
    if (md.cm == 4 && md.sm == 4) {
        must(px_shs_client_session(&c, &cs), "client session at the end");
        must(px_shs_server_session(&s, &ss), "server session at the end");
        if (memcmp(&cs, &hc, sizeof(cs)) != 0 || memcmp(&ss, &hs, sizeof(ss)) != 0) {
            fail("a scripted handshake ended with another session", 0);
        }
    }
    px_shs_client_fini(&c);
    px_shs_server_fini(&s);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool ready;

    if (!ready) {
        setup();
        ready = true;
    }
    if (size == 0) {
        return 0;
    }
    switch (data[0] % 5) {
    case 0:
        server_msg1(data + 1, size - 1);
        break;
    case 1:
        server_msg3(data + 1, size - 1);
        break;
    case 2:
        client_msg2(data + 1, size - 1);
        break;
    case 3:
        client_msg4(data + 1, size - 1);
        break;
    default:
        script(data + 1, size - 1 < 64 ? size - 1 : 64);
        break;
    }
    return 0;
}
