/* SPDX-License-Identifier: MIT */
/*
 * shs_testee.c - praxis-shs-testee: our secret handshake behind the shs1-test protocol
 * (AljoschaMeyer/shs1-test), so that an outside test suite can drive either role through
 * stdin and stdout.
 *
 *   praxis-shs-testee server NETWORK_KEY_HEX SERVER_SECRET_KEY_HEX SERVER_PUBLIC_KEY_HEX
 *       reads msg1 (64), writes msg2 (64), reads msg3 (112), then writes msg4 (80) and the
 *       outcome (112) in one write: encryption key (32), encryption nonce (24), decryption
 *       key (32), decryption nonce (24). The secret key is libsodium's 64-byte form. Any
 *       client key is accepted (shs1-test does not test authorization).
 *   praxis-shs-testee client NETWORK_KEY_HEX SERVER_PUBLIC_KEY_HEX
 *       with a fresh long-term key: writes msg1, reads msg2, writes msg3, reads msg4, then
 *       writes the same 112-byte outcome.
 *
 * shs1-test itself passes only the keys; run it on a two-line wrapper script
 * (exec praxis-shs-testee server "$@"). Each message goes out in a single write(2), because
 * the suite reads each of them from one pipe read. Then the testee waits for SIGTERM (or
 * for stdin to close). On a bad message it exits with status 1 at once, writing nothing
 * more; status 2 is a usage error.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "protocol/buf.h"
#include "protocol/err.h"
#include "protocol/shs.h"
#include "protocol/sign.h"

#define OUTCOME_BYTES (2 * PX_SHS_KEY_BYTES + 2 * PX_SHS_NONCE_BYTES)

static void
usage(void)
{
    fprintf(stderr, "usage: praxis-shs-testee server NETWORK_KEY SERVER_SK SERVER_PK\n"
                    "       praxis-shs-testee client NETWORK_KEY SERVER_PK\n"
                    "(keys in hex; the server secret key in libsodium's 64-byte form)\n");
    exit(2);
}

static void
unhex_arg(const char *what, const char *s, uint8_t *out, size_t n)
{
    if (px_hex_decode(s, strlen(s), out, n) != 0) {
        fprintf(stderr, "praxis-shs-testee: %s must be %zu bytes of hex\n", what, n);
        exit(2);
    }
}

/*
 * Reads exactly n bytes from stdin. Returns n, or the number read before the end of the
 * input or an error (short reads and EINTR are retried).
 */
static size_t
read_full(uint8_t *buf, size_t n)
{
    size_t got = 0;

    while (got < n) {
        ssize_t r = read(STDIN_FILENO, buf + got, n - got);

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

/* Writes all of buf to stdout (one write(2) unless the pipe splits it), or exits 1. */
static void
write_full(const uint8_t *buf, size_t n)
{
    size_t off = 0;

    while (off < n) {
        ssize_t w = write(STDOUT_FILENO, buf + off, n - off);

        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w <= 0) {
            fprintf(stderr, "praxis-shs-testee: write: %s\n", strerror(errno));
            exit(1);
        }
        off += (size_t)w;
    }
}

static void
bad(const char *what, int rc, const char *why)
{
    fprintf(stderr, "praxis-shs-testee: %s: %s (%s)\n", what, px_err_name(rc),
            why != NULL ? why : px_strerror(rc));
    exit(1);
}

static void
outcome(const struct px_shs_session *s, uint8_t out[OUTCOME_BYTES])
{
    memcpy(out, s->encrypt_key, PX_SHS_KEY_BYTES);
    memcpy(out + 32, s->encrypt_nonce, PX_SHS_NONCE_BYTES);
    memcpy(out + 56, s->decrypt_key, PX_SHS_KEY_BYTES);
    memcpy(out + 88, s->decrypt_nonce, PX_SHS_NONCE_BYTES);
}

/* The handshake is over: wait until SIGTERM (default action) or the end of stdin. */
static int
wait_for_end(void)
{
    uint8_t sink[4096];

    for (;;) {
        ssize_t r = read(STDIN_FILENO, sink, sizeof(sink));

        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r <= 0) {
            return 0;
        }
    }
}

static int
run_server(const uint8_t netkey[32], struct px_identity *id)
{
    struct px_shs_server st;
    struct px_shs_session sess;
    uint8_t seed[PX_SHS_SEED_BYTES], msg1[PX_SHS_MSG1_BYTES], msg2[PX_SHS_MSG2_BYTES];
    uint8_t msg3[PX_SHS_MSG3_BYTES], last[PX_SHS_MSG4_BYTES + OUTCOME_BYTES];
    size_t n;
    int rc;

    randombytes_buf(seed, sizeof(seed));
    rc = px_shs_server_init(&st, netkey, id, seed);
    px_wipe(seed, sizeof(seed));
    px_identity_wipe(id);
    if (rc != 0) {
        bad("server key", rc, px_shs_server_why(&st));
    }

    n = read_full(msg1, sizeof(msg1));
    if ((rc = px_shs_server_read_msg1(&st, msg1, n)) != 0) {
        bad("msg1", rc, px_shs_server_why(&st));
    }
    if ((rc = px_shs_server_msg2(&st, msg2)) != 0) {
        bad("msg2", rc, px_shs_server_why(&st));
    }
    write_full(msg2, sizeof(msg2));

    n = read_full(msg3, sizeof(msg3));
    if ((rc = px_shs_server_read_msg3(&st, msg3, n, NULL)) != 0) {
        bad("msg3", rc, px_shs_server_why(&st));
    }
    /* Authorization would go here; the test suite expects every client to be let in. */
    if ((rc = px_shs_server_msg4(&st, last)) != 0 ||
        (rc = px_shs_server_session(&st, &sess)) != 0) {
        bad("msg4", rc, px_shs_server_why(&st));
    }
    outcome(&sess, last + PX_SHS_MSG4_BYTES);
    write_full(last, sizeof(last));
    px_shs_session_wipe(&sess);
    px_wipe(last, sizeof(last));
    px_shs_server_fini(&st);
    return wait_for_end();
}

static int
run_client(const uint8_t netkey[32], const uint8_t server_pk[32])
{
    struct px_shs_client st;
    struct px_shs_session sess;
    struct px_identity id;
    uint8_t seed[PX_SHS_SEED_BYTES], msg1[PX_SHS_MSG1_BYTES], msg2[PX_SHS_MSG2_BYTES];
    uint8_t msg3[PX_SHS_MSG3_BYTES], msg4[PX_SHS_MSG4_BYTES], out[OUTCOME_BYTES];
    size_t n;
    int rc;

    randombytes_buf(seed, sizeof(seed));
    if (px_identity_from_seed(&id, seed) != 0) {
        bad("client key", PX_ECRYPTO, NULL);
    }
    randombytes_buf(seed, sizeof(seed));
    rc = px_shs_client_init(&st, netkey, &id, seed, server_pk);
    px_wipe(seed, sizeof(seed));
    px_identity_wipe(&id);
    if (rc != 0) {
        bad("server public key", rc, px_shs_client_why(&st));
    }

    if ((rc = px_shs_client_msg1(&st, msg1)) != 0) {
        bad("msg1", rc, px_shs_client_why(&st));
    }
    write_full(msg1, sizeof(msg1));

    n = read_full(msg2, sizeof(msg2));
    if ((rc = px_shs_client_read_msg2(&st, msg2, n)) != 0) {
        bad("msg2", rc, px_shs_client_why(&st));
    }
    if ((rc = px_shs_client_msg3(&st, msg3)) != 0) {
        bad("msg3", rc, px_shs_client_why(&st));
    }
    write_full(msg3, sizeof(msg3));

    n = read_full(msg4, sizeof(msg4));
    if ((rc = px_shs_client_read_msg4(&st, msg4, n)) != 0 ||
        (rc = px_shs_client_session(&st, &sess)) != 0) {
        bad("msg4", rc, px_shs_client_why(&st));
    }
    outcome(&sess, out);
    write_full(out, sizeof(out));
    px_shs_session_wipe(&sess);
    px_wipe(out, sizeof(out));
    px_shs_client_fini(&st);
    return wait_for_end();
}

int
main(int argc, char **argv)
{
    uint8_t netkey[PX_SHS_NETKEY_BYTES], pk[PX_SIGN_PUBLICKEYBYTES];
    struct px_identity id;

    /* A closed stdout is an error to report (exit 1), not a silent SIGPIPE death. */
    signal(SIGPIPE, SIG_IGN);
    if (px_crypto_init() != 0) {
        fprintf(stderr, "praxis-shs-testee: libsodium did not initialise\n");
        return 2;
    }
    if (argc == 5 && strcmp(argv[1], "server") == 0) {
        unhex_arg("NETWORK_KEY", argv[2], netkey, sizeof(netkey));
        unhex_arg("SERVER_SECRET_KEY", argv[3], id.sk, sizeof(id.sk));
        unhex_arg("SERVER_PUBLIC_KEY", argv[4], id.pk, sizeof(id.pk));
        return run_server(netkey, &id);
    }
    if (argc == 4 && strcmp(argv[1], "client") == 0) {
        unhex_arg("NETWORK_KEY", argv[2], netkey, sizeof(netkey));
        unhex_arg("SERVER_PUBLIC_KEY", argv[3], pk, sizeof(pk));
        return run_client(netkey, pk);
    }
    usage();
    return 2;
}
