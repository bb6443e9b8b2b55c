/* SPDX-License-Identifier: MIT */
/*
 * test_gossip.c - replication between real praxisd nodes on 127.0.0.1: push along a
 * chain, both directions, corrections and retractions, catching up after a restart
 * (anti-entropy), a triangle storing each record once, and a raw test peer that sends a
 * forged record and is dropped. Ports are chosen at run time; every wait polls `praxis`
 * against a deadline.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <criterion/criterion.h>
#include <jansson.h>

#include "common/identity.h"
#include "daemon/ingest.h"
#include "protocol/buf.h"
#include "protocol/err.h"
#include "protocol/record.h"
#include "protocol/wire.h"
#include "util/daemon_util.h"
#include "util/rawpeer.h"
#include "util/testnode.h"

#define WAIT_MS 20000

static char *tmp;

static void
setup(void)
{
    unsetenv("PRAXIS_SOCKET");
    tmp = px_test_tmpdir();
}

static void
teardown(void)
{
    px_test_rmtree(tmp);
    free(tmp);
}

TestSuite(gossip, .init = setup, .fini = teardown, .timeout = 90);

/* Runs a command that prints one JSON object with an "id" (correct, retract). */
static void
run_id(const struct px_testnode *n, char id[65], const char *a1, const char *a2, const char *a3,
       const char *a4)
{
    struct px_run r;
    json_error_t jerr;
    json_t *o;

    px_testd_praxis(&n->d, &r, NULL, 0, a1, a2, a3, a4, "--json", NULL);
    cr_assert_eq(r.status, 0, "%s: %s", a1, r.err);
    o = json_loads(r.out, JSON_DISABLE_EOF_CHECK, &jerr);
    cr_assert_not_null(o, "%s", r.out);
    snprintf(id, 65, "%s", json_string_value(json_object_get(o, "id")));
    json_decref(o);
    px_run_free(&r);
}

static bool
has_record(const struct px_testnode *n, const char *id)
{
    struct px_run r;
    bool found;

    px_testd_praxis(&n->d, &r, NULL, 0, "query", "--json", "--id", id, NULL);
    cr_assert_eq(r.status, 0, "query: %s", r.err);
    found = strstr(r.out, id) != NULL;
    px_run_free(&r);
    return found;
}

static void
wait_record(const struct px_testnode *n, const char *id, bool want)
{
    int64_t deadline = px_testd_now_ms() + WAIT_MS;
    char *log;

    while (px_testd_now_ms() < deadline) {
        if (has_record(n, id) == want) {
            return;
        }
        px_testd_poll_pause();
    }
    log = px_testd_log(&n->d);
    cr_assert_fail("node %s: record %.16s %s; log:\n%s", n->dir, id,
                   want ? "never arrived" : "never went away", log);
}

static void
wait_count(struct px_testnode *n, uint64_t want)
{
    struct px_testnode *one[] = {n};

    px_testnode_wait_records(one, 1, want, WAIT_MS, "gossip");
}

Test(gossip, chain_push_corrections_and_retractions)
{
    struct px_testnode a, b, c;
    struct px_testnode *pa[] = {&b}, *pb[] = {&a, &c}, *pc[] = {&b};
    char *ca, *cb, *cc, x[65], y[65], x2[65], ry[65];
    struct px_testnode *all[] = {&a, &b, &c};

    px_testnode_init(&a, tmp, "a", px_test_free_port);
    px_testnode_init(&b, tmp, "b", px_test_free_port);
    px_testnode_init(&c, tmp, "c", px_test_free_port);
    ca = px_testnode_peer_config(NULL, pa, 1);
    cb = px_testnode_peer_config(NULL, pb, 2);
    cc = px_testnode_peer_config(NULL, pc, 1);
    px_testnode_start(&a, ca);
    px_testnode_start(&b, cb);
    px_testnode_start(&c, cc);
    px_testnode_wait_log(&b, "hello from", WAIT_MS);

    /* One record at each end of the chain: both reach every node. */
    px_testnode_publish(&a, "From A", 0, x);
    px_testnode_publish(&c, "From C", 0, y);
    for (size_t i = 0; i < 3; i++) {
        wait_record(all[i], x, true);
        wait_record(all[i], y, true);
    }
    /* A correction at A and a retraction at C reach everyone; the retracted case goes. */
    run_id(&a, x2, "correct", x, "--title", "From A, corrected");
    run_id(&c, ry, "retract", y, "--reason", "withdrawn");
    for (size_t i = 0; i < 3; i++) {
        wait_record(all[i], x2, true);
        wait_record(all[i], y, false);
        /* x, its correction, the retraction: y itself is gone. */
        wait_count(all[i], 3);
    }
    free(ca);
    free(cb);
    free(cc);
    px_testnode_free(&a);
    px_testnode_free(&b);
    px_testnode_free(&c);
}

Test(gossip, stopped_node_catches_up)
{
    struct px_testnode a, b;
    struct px_testnode *pa[] = {&b}, *pb[] = {&a};
    char *ca, *cb, ids[3][65];

    px_testnode_init(&a, tmp, "a", px_test_free_port);
    px_testnode_init(&b, tmp, "b", px_test_free_port);
    ca = px_testnode_peer_config(NULL, pa, 1);
    cb = px_testnode_peer_config(NULL, pb, 1);
    px_testnode_start(&a, ca);
    px_testnode_start(&b, cb);
    px_testnode_publish(&a, "Before", 0, ids[0]);
    wait_record(&b, ids[0], true);
    cr_assert_eq(px_testd_stop(&b.d), 0);
    /* Published while B is away: no push can reach it. */
    px_testnode_publish(&a, "While away 1", 0, ids[1]);
    px_testnode_publish(&a, "While away 2", 0, ids[2]);
    px_testd_restart(&b.d);
    wait_record(&b, ids[1], true);
    wait_record(&b, ids[2], true);
    wait_count(&b, 3);
    /* Only anti-entropy could bring them: whichever node dialed reconciled. */
    {
        char *la = px_testd_log(&a.d), *lb = px_testd_log(&b.d);

        cr_assert(strstr(la, "reconciled") != NULL || strstr(lb, "reconciled") != NULL,
                  "no reconciliation logged:\n%s\n%s", la, lb);
        free(la);
        free(lb);
    }
    free(ca);
    free(cb);
    px_testnode_free(&a);
    px_testnode_free(&b);
}

Test(gossip, triangle_stores_each_record_once)
{
    struct px_testnode a, b, c;
    struct px_testnode *pa[] = {&b, &c}, *pb[] = {&a, &c}, *pc[] = {&a, &b};
    char *ca, *cb, *cc, ids[4][65];
    struct px_testnode *all[] = {&a, &b, &c};

    px_testnode_init(&a, tmp, "a", px_test_free_port);
    px_testnode_init(&b, tmp, "b", px_test_free_port);
    px_testnode_init(&c, tmp, "c", px_test_free_port);
    ca = px_testnode_peer_config(NULL, pa, 2);
    cb = px_testnode_peer_config(NULL, pb, 2);
    cc = px_testnode_peer_config(NULL, pc, 2);
    px_testnode_start(&a, ca);
    px_testnode_start(&b, cb);
    px_testnode_start(&c, cc);
    for (size_t i = 0; i < 4; i++) {
        char title[32];

        snprintf(title, sizeof(title), "Triangle %zu", i);
        px_testnode_publish(all[i % 3], title, 0, ids[i]);
    }
    for (size_t i = 0; i < 3; i++) {
        for (size_t k = 0; k < 4; k++) {
            wait_record(all[i], ids[k], true);
        }
        wait_count(all[i], 4);
    }
    free(ca);
    free(cb);
    free(cc);
    px_testnode_free(&a);
    px_testnode_free(&b);
    px_testnode_free(&c);
}

/* The "case-full" known-answer record, decoded from tests/vectors/record_kat.txt. */
static size_t
kat_record(uint8_t *out, size_t cap)
{
    char path[512], *line = NULL;
    size_t lcap = 0, len = 0;
    bool in_case = false;
    FILE *f;

    snprintf(path, sizeof(path), "%s/record_kat.txt", PX_VECTORS_DIR);
    cr_assert_not_null(f = fopen(path, "r"), "%s", path);
    while (getline(&line, &lcap, f) > 0) {
        if (strncmp(line, "name ", 5) == 0) {
            in_case = strncmp(line + 5, "case-full", 9) == 0;
        } else if (in_case && strncmp(line, "record ", 7) == 0) {
            size_t hl = strcspn(line + 7, "\r\n");

            cr_assert_leq(hl / 2, cap);
            len = hl / 2;
            cr_assert_eq(px_hex_decode(line + 7, hl, out, len), 0);
            break;
        }
    }
    free(line);
    fclose(f);
    cr_assert_gt(len, 0);
    return len;
}

Test(gossip, forged_record_gets_the_peer_dropped)
{
    struct px_testnode a;
    struct px_identity me;
    struct px_rawpeer rp;
    struct px_wire_msg *msg = calloc(1, sizeof(*msg));
    struct px_policy any = {.any_author = true, .max_skew_ms = 60000};
    struct px_record rec;
    char mykey[65], *conf, id[65];
    uint8_t raw[PX_RECORD_MAX];
    size_t len;

    cr_assert_not_null(msg);
    cr_assert_eq(px_crypto_init(), 0);
    cr_assert_eq(px_identity_generate(&me), 0);
    px_hex_encode(me.pk, PX_SIGN_PUBLICKEYBYTES, mykey);
    px_testnode_init(&a, tmp, "a", px_test_free_port);
    /* The test peer is on a peer line (at a port nobody listens on). */
    cr_assert(asprintf(&conf, "[network]\npeer = 127.0.0.1:%u %s\n", px_test_free_port(), mykey) >
              0);
    px_testnode_start(&a, conf);

    /* A genuine record with the last byte of its signature flipped. */
    len = kat_record(raw, sizeof(raw));
    cr_assert_eq(px_ingest_check(&any, raw, len, (uint64_t)time(NULL) * 1000, &rec, NULL), 0);
    px_hex_encode(rec.id, PX_ID_BYTES, id);
    raw[len - 1] ^= 0x01;
    cr_assert_eq(px_ingest_check(&any, raw, len, UINT64_C(1) << 50, &rec, NULL), PX_EBADSIG);

    px_rawpeer_connect(&rp, &me, a.key, a.port);
    msg->type = PX_WIRE_HELLO;
    msg->version = PX_WIRE_VERSION;
    msg->name = (struct px_str){"forger", 6};
    px_rawpeer_send(&rp, msg);
    /* Unasked for, too; but the signature is what it is dropped for. */
    memset(msg, 0, sizeof(*msg));
    msg->type = PX_WIRE_RECORDS;
    msg->n_records = 1;
    msg->records[0] = raw;
    msg->record_lens[0] = len;
    px_rawpeer_send(&rp, msg);

    cr_assert(px_rawpeer_wait_closed(&rp), "the node kept the forger connected");
    px_testnode_wait_log(&a, "record with a bad signature", WAIT_MS);
    cr_assert_eq(px_testd_records(&a.d), 0);
    cr_assert(!has_record(&a, id));
    px_rawpeer_close(&rp);
    px_identity_wipe(&me);
    free(conf);
    free(msg);
    px_testnode_free(&a);
}
