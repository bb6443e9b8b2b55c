/* SPDX-License-Identifier: MIT */
/*
 * bench_link.c - the peer link: secret handshakes per second with both ends in one
 * process, beside the same libsodium calls made bare; box-stream sealing plus opening of
 * 4096-byte chunks, beside crypto_secretbox_easy and _open_easy on the same chunk sizes
 * (one core, no sockets: the cost our code adds to the crypto); and records messages
 * through two real peer links over loopback TCP (bench_loopback.h), beside the bare
 * secretbox calls on the same chunks. All six cases take turns in each round.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "bench.h"
#include "bench_loopback.h"
#include "bench_report.h"
#include "bench_run.h"
#include "protocol/boxstream.h"
#include "protocol/err.h"
#include "protocol/shs.h"

#define CHUNK PX_BOXSTREAM_MAX_BODY

struct link_bench {
    uint8_t netkey[32];
    struct px_identity client, server;
    uint8_t eph_seed[2][32];
    uint8_t chunk[CHUNK], sealed[CHUNK + 64], opened[CHUNK];
    uint8_t key[32], nonce[24];
    uint64_t sink;
};

/* One whole handshake through our state machines, both ends. */
static int
run_shs(void *ctx, uint64_t iters)
{
    struct link_bench *b = ctx;

    for (uint64_t i = 0; i < iters; i++) {
        struct px_shs_client c;
        struct px_shs_server s;
        struct px_shs_session cs, ss;
        uint8_t m1[PX_SHS_MSG1_BYTES], m2[PX_SHS_MSG2_BYTES], m3[PX_SHS_MSG3_BYTES],
            m4[PX_SHS_MSG4_BYTES], pk[32];
        int rc = px_shs_client_init(&c, b->netkey, &b->client, b->eph_seed[0], b->server.pk);

        rc = rc ? rc : px_shs_server_init(&s, b->netkey, &b->server, b->eph_seed[1]);
        rc = rc ? rc : px_shs_client_msg1(&c, m1);
        rc = rc ? rc : px_shs_server_read_msg1(&s, m1, sizeof(m1));
        rc = rc ? rc : px_shs_server_msg2(&s, m2);
        rc = rc ? rc : px_shs_client_read_msg2(&c, m2, sizeof(m2));
        rc = rc ? rc : px_shs_client_msg3(&c, m3);
        rc = rc ? rc : px_shs_server_read_msg3(&s, m3, sizeof(m3), pk);
        rc = rc ? rc : px_shs_server_msg4(&s, m4);
        rc = rc ? rc : px_shs_client_read_msg4(&c, m4, sizeof(m4));
        rc = rc ? rc : px_shs_client_session(&c, &cs);
        rc = rc ? rc : px_shs_server_session(&s, &ss);
        b->sink += cs.encrypt_key[0] + ss.decrypt_key[0];
        px_shs_client_fini(&c);
        px_shs_server_fini(&s);
        if (rc != 0) {
            fprintf(stderr, "praxis-bench: handshake: %s\n", px_strerror(rc));
            return -1;
        }
    }
    return 0;
}

static void
sha256_parts(uint8_t out[32], const uint8_t *a, size_t al, const uint8_t *b2, size_t bl,
             const uint8_t *c, size_t cl, const uint8_t *d, size_t dl)
{
    crypto_hash_sha256_state h;

    crypto_hash_sha256_init(&h);
    crypto_hash_sha256_update(&h, a, al);
    crypto_hash_sha256_update(&h, b2, bl);
    crypto_hash_sha256_update(&h, c, cl);
    crypto_hash_sha256_update(&h, d, dl);
    crypto_hash_sha256_final(&h, out);
}

/*
 * The same libsodium calls a handshake makes, both ends, with no state machine, no
 * checks of our own and no buffers beyond the stack: the floor our code sits on.
 */
static int
run_raw_shs(void *ctx, uint64_t iters)
{
    static const uint8_t zero_nonce[24];
    struct link_bench *b = ctx;

    for (uint64_t i = 0; i < iters; i++) {
        uint8_t a_pk[32], a_sk[32], b_pk[32], b_sk[32], mac[32], ab[32], aB[32], Ab[32];
        uint8_t A_curve_pk[32], A_curve_sk[32], B_curve_pk[32], B_curve_sk[32], h[32];
        uint8_t k3[32], k4[32], secret[32], sess[4][32];
        uint8_t csig_msg[128], hello[96], m3[112], ssig_msg[160], sig[64], m4[80], out96[96];
        uint8_t tmp[32];
        int bad = 0;

        /* msg1, msg2 */
        crypto_box_seed_keypair(a_pk, a_sk, b->eph_seed[0]);
        crypto_auth(mac, a_pk, 32, b->netkey);
        bad |= crypto_auth_verify(mac, a_pk, 32, b->netkey);
        crypto_box_seed_keypair(b_pk, b_sk, b->eph_seed[1]);
        crypto_auth(mac, b_pk, 32, b->netkey);
        bad |= crypto_auth_verify(mac, b_pk, 32, b->netkey);
        /* msg3, client side */
        bad |= crypto_scalarmult(ab, a_sk, b_pk);
        bad |= crypto_sign_ed25519_pk_to_curve25519(B_curve_pk, b->server.pk);
        bad |= crypto_scalarmult(aB, a_sk, B_curve_pk);
        crypto_hash_sha256(h, ab, 32);
        memcpy(csig_msg, b->netkey, 32);
        memcpy(csig_msg + 32, b->server.pk, 32);
        memcpy(csig_msg + 64, h, 32);
        crypto_sign_detached(hello, NULL, csig_msg, 96, b->client.sk);
        memcpy(hello + 64, b->client.pk, 32);
        sha256_parts(k3, b->netkey, 32, ab, 32, aB, 32, NULL, 0);
        crypto_secretbox_easy(m3, hello, 96, zero_nonce, k3);
        /* msg3, server side */
        bad |= crypto_scalarmult(tmp, b_sk, a_pk);
        bad |= crypto_sign_ed25519_sk_to_curve25519(B_curve_sk, b->server.sk);
        bad |= crypto_scalarmult(tmp, B_curve_sk, a_pk);
        bad |= crypto_secretbox_open_easy(out96, m3, sizeof(m3), zero_nonce, k3);
        bad |= crypto_sign_verify_detached(out96, csig_msg, 96, out96 + 64);
        /* msg4 */
        bad |= crypto_sign_ed25519_pk_to_curve25519(A_curve_pk, b->client.pk);
        bad |= crypto_scalarmult(Ab, b_sk, A_curve_pk);
        sha256_parts(k4, b->netkey, 32, ab, 32, aB, 32, Ab, 32);
        memcpy(ssig_msg, b->netkey, 32);
        memcpy(ssig_msg + 32, hello, 96);
        memcpy(ssig_msg + 128, h, 32);
        crypto_sign_detached(sig, NULL, ssig_msg, 160, b->server.sk);
        crypto_secretbox_easy(m4, sig, 64, zero_nonce, k4);
        /* msg4, client side */
        bad |= crypto_sign_ed25519_sk_to_curve25519(A_curve_sk, b->client.sk);
        bad |= crypto_scalarmult(tmp, A_curve_sk, b_pk);
        bad |= crypto_secretbox_open_easy(sig, m4, sizeof(m4), zero_nonce, k4);
        bad |= crypto_sign_verify_detached(sig, ssig_msg, 160, b->server.pk);
        /* sessions, both sides */
        crypto_hash_sha256(secret, k4, 32);
        sha256_parts(sess[0], secret, 32, b->server.pk, 32, NULL, 0, NULL, 0);
        sha256_parts(sess[1], secret, 32, b->client.pk, 32, NULL, 0, NULL, 0);
        sha256_parts(sess[2], secret, 32, b->client.pk, 32, NULL, 0, NULL, 0);
        sha256_parts(sess[3], secret, 32, b->server.pk, 32, NULL, 0, NULL, 0);
        b->sink += sess[0][0] + sess[3][0];
        if (bad != 0) {
            fprintf(stderr, "praxis-bench: raw handshake failed\n");
            return -1;
        }
    }
    return 0;
}

/* Seal and open one full chunk through box-stream (header and body, both ends). */
static int
run_boxstream(void *ctx, uint64_t iters)
{
    struct link_bench *b = ctx;
    struct px_boxstream_sealer s;
    struct px_boxstream_opener o;
    int rc = 0;

    px_boxstream_sealer_init(&s, b->key, b->nonce);
    px_boxstream_opener_init(&o, b->key, b->nonce);
    for (uint64_t i = 0; i < iters && rc == 0; i++) {
        size_t len, used = 0, clen = 0;
        const uint8_t *chunk = NULL;
        enum px_boxstream_event ev = PX_BOXSTREAM_NEED_MORE;

        rc = px_boxstream_seal(&s, b->chunk, CHUNK, b->sealed, sizeof(b->sealed), &len);
        rc = rc ? rc : px_boxstream_feed(&o, b->sealed, len, &used, &ev, &chunk, &clen);
        if (rc == 0 && (used != len || ev != PX_BOXSTREAM_CHUNK || clen != CHUNK)) {
            rc = PX_EPROTO;
        }
        b->sink += clen;
    }
    px_boxstream_sealer_fini(&s);
    px_boxstream_opener_fini(&o);
    if (rc != 0) {
        fprintf(stderr, "praxis-bench: box-stream: %s\n", px_strerror(rc));
        return -1;
    }
    return 0;
}

/* The same work bare: a secretbox of the 18-byte header and one of the chunk, opened. */
static int
run_raw_secretbox(void *ctx, uint64_t iters)
{
    struct link_bench *b = ctx;
    uint8_t hdr[18] = {0}, hdr_box[34], hdr_out[18], n2[24];

    memcpy(n2, b->nonce, 24);
    n2[23] ^= 1;
    for (uint64_t i = 0; i < iters; i++) {
        crypto_secretbox_easy(b->sealed, b->chunk, CHUNK, n2, b->key);
        crypto_secretbox_easy(hdr_box, hdr, sizeof(hdr), b->nonce, b->key);
        if (crypto_secretbox_open_easy(hdr_out, hdr_box, sizeof(hdr_box), b->nonce, b->key) != 0 ||
            crypto_secretbox_open_easy(b->opened, b->sealed, CHUNK + 16, n2, b->key) != 0) {
            fprintf(stderr, "praxis-bench: raw secretbox failed\n");
            return -1;
        }
        b->sink += b->opened[0];
    }
    return 0;
}

/* One figure from a measured rate, scaled (e.g. to MB/s), with an optional baseline. */
static void
report(struct bench_report *rep, const char *name, const char *unit, const struct bench_rate *r,
       double scale, const char *base, const struct bench_rate *b)
{
    bench_report_timed(rep, name, r->median * scale, unit, base, b != NULL ? b->median * scale : 0,
                       r->spread, r->iters);
}

int
bench_link_run(const struct bench_opts *opts, struct bench_report *rep)
{
    enum { C_SHS, C_RAW_SHS, C_BOX, C_RAW_BOX, C_LOOP, C_RAW_LOOP, C_COUNT };
    struct link_bench *b = calloc(1, sizeof(*b));
    struct bench_loopback *lb = NULL;
    struct bench_rate rates[C_COUNT];
    uint8_t seed[32];
    double mb_per_msg;
    int rc = -1;

    if (b == NULL || px_crypto_init() != 0) {
        free(b);
        return -1;
    }
    fprintf(stderr, "praxis-bench: link: two peer links on 127.0.0.1\n");
    if ((lb = bench_loopback_new()) == NULL) {
        goto out;
    }
    mb_per_msg = (double)bench_loopback_payload(lb) / 1e6;
    memset(b->netkey, 0x4e, sizeof(b->netkey));
    memset(seed, 0xc1, sizeof(seed));
    px_identity_from_seed(&b->client, seed);
    memset(seed, 0x5e, sizeof(seed));
    px_identity_from_seed(&b->server, seed);
    memset(b->eph_seed[0], 0x11, 32);
    memset(b->eph_seed[1], 0x22, 32);
    memset(b->key, 0x6b, sizeof(b->key));
    for (size_t i = 0; i < sizeof(b->chunk); i++) {
        b->chunk[i] = (uint8_t)(i * 131);
    }
    {
        const struct bench_case cases[C_COUNT] = {
            [C_SHS] = {"shs_handshake", run_shs, b},
            [C_RAW_SHS] = {"sodium_handshake_calls", run_raw_shs, b},
            [C_BOX] = {"boxstream_seal_open", run_boxstream, b},
            [C_RAW_BOX] = {"sodium_secretbox_seal_open", run_raw_secretbox, b},
            [C_LOOP] = {"link_loopback_records", bench_loopback_run, lb},
            [C_RAW_LOOP] = {"sodium_secretbox_loopback_chunks", bench_loopback_raw, lb},
        };

        if (bench_run_interleaved(opts, cases, C_COUNT, rates) != 0) {
            goto out;
        }
    }
    report(rep, "shs_handshakes_per_s", "handshakes/s", &rates[C_SHS], 1,
           "sodium_handshake_calls_per_s", &rates[C_RAW_SHS]);
    report(rep, "sodium_handshake_calls_per_s", "handshakes/s", &rates[C_RAW_SHS], 1, NULL, NULL);
    report(rep, "boxstream_mb_per_s", "MB/s", &rates[C_BOX], CHUNK / 1e6,
           "sodium_secretbox_mb_per_s", &rates[C_RAW_BOX]);
    report(rep, "sodium_secretbox_mb_per_s", "MB/s", &rates[C_RAW_BOX], CHUNK / 1e6, NULL, NULL);
    report(rep, "link_loopback_mb_per_s", "MB/s", &rates[C_LOOP], mb_per_msg,
           "sodium_secretbox_records_mb_per_s", &rates[C_RAW_LOOP]);
    report(rep, "sodium_secretbox_records_mb_per_s", "MB/s", &rates[C_RAW_LOOP], mb_per_msg, NULL,
           NULL);
    rc = 0;
out:
    if (bench_loopback_free(lb) != 0) {
        rc = -1;
    }
    px_identity_wipe(&b->client);
    px_identity_wipe(&b->server);
    free(b);
    return rc;
}
