/* SPDX-License-Identifier: MIT */
/*
 * test_quota.c - the per-peer quotas of network.quota_records and network.quota_bytes
 * (docs/replication.md, "Limits and quotas"), with real praxisd nodes on 127.0.0.1:
 *
 *  - a raw test peer that sends records the node did not ask it for (copies of a record
 *    the node holds, which are not scored as faults) is disconnected, with the reason in
 *    the log and in its bye, as soon as it goes over a small configured quota, and not
 *    before;
 *  - a node with that same small quota catches up many more records (and bytes) than the
 *    quota from its only peer, because it asked for them: records answering our own wants
 *    never count against the quota.
 *
 * Every wait is bounded: the raw peer's reads (PX_RAWPEER_WAIT_MS), and polls of `praxis`
 * against a deadline.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <jansson.h>

#include "common/identity.h"
#include "protocol/buf.h"
#include "protocol/err.h"
#include "protocol/record.h"
#include "protocol/wire.h"
#include "util/daemon_util.h"
#include "util/rawpeer.h"
#include "util/testnode.h"

#define WAIT_MS 30000
/* The small quota both tests configure, and the catch-up that must not trip it. */
#define QUOTA       20
#define CATCH_UP    300
#define QUOTA_BYTES 65536

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

TestSuite(quota, .init = setup, .fini = teardown, .timeout = 120);

/* The `peers --json` row of the peer with key hex: its duplicates counter and state. */
static bool
peer_row(const struct px_testnode *n, const char *hex, uint64_t *duplicates, char *state,
         size_t cap)
{
    struct px_run r;
    bool found = false;

    px_testd_praxis(&n->d, &r, NULL, 0, "peers", "--json", NULL);
    cr_assert_eq(r.status, 0, "peers: %s", r.err);
    for (char *line = strtok(r.out, "\n"); line != NULL && !found; line = strtok(NULL, "\n")) {
        json_error_t jerr;
        json_t *o = json_loads(line, 0, &jerr);
        const char *pk;

        cr_assert_not_null(o, "%s", line);
        pk = json_string_value(json_object_get(o, "public_key"));
        if (pk != NULL && strcmp(pk, hex) == 0) {
            found = true;
            *duplicates = (uint64_t)json_integer_value(json_object_get(o, "duplicates"));
            snprintf(state, cap, "%s", json_string_value(json_object_get(o, "state")));
        }
        json_decref(o);
    }
    px_run_free(&r);
    return found;
}

/* Sends a records message holding n copies of raw[0..len). */
static void
send_copies(struct px_rawpeer *rp, struct px_wire_msg *msg, const uint8_t *raw, size_t len,
            uint32_t n)
{
    memset(msg, 0, sizeof(*msg));
    msg->type = PX_WIRE_RECORDS;
    msg->n_records = n;
    for (uint32_t i = 0; i < n; i++) {
        msg->records[i] = raw;
        msg->record_lens[i] = len;
    }
    px_rawpeer_send(rp, msg);
}

Test(quota, unsolicited_records_over_the_quota_get_the_peer_dropped)
{
    struct px_testnode a;
    struct px_identity me;
    struct px_rawpeer rp;
    struct px_wire_msg *msg = calloc(1, sizeof(*msg));
    char mykey[65], *conf, id_hex[65], state[32] = "", why[128];
    uint8_t id[PX_ID_BYTES], *raw = NULL;
    uint64_t dups = 0;
    size_t len = 0;
    int64_t deadline;
    bool got_bye = false;

    cr_assert_not_null(msg);
    cr_assert_eq(px_crypto_init(), 0);
    cr_assert_eq(px_identity_generate(&me), 0);
    px_hex_encode(me.pk, PX_SIGN_PUBLICKEYBYTES, mykey);
    px_testnode_init(&a, tmp, "a", px_test_free_port);
    /* The test peer is on a peer line (at a port nobody listens on). */
    cr_assert(asprintf(&conf, "[network]\nquota_records = %d\npeer = 127.0.0.1:%u %s\n", QUOTA,
                       px_test_free_port(), mykey) > 0);
    px_testnode_start(&a, conf);
    px_testnode_publish(&a, "Held by the node", 0, id_hex);
    cr_assert_eq(px_hex_decode(id_hex, 64, id, sizeof(id)), 0);

    px_rawpeer_connect(&rp, &me, a.key, a.port);
    msg->type = PX_WIRE_HELLO;
    msg->version = PX_WIRE_VERSION;
    msg->name = (struct px_str){"copier", 6};
    px_rawpeer_send(&rp, msg);
    /* Ask the node for its record, as any peer may, to get its signed bytes. */
    memset(msg, 0, sizeof(*msg));
    msg->type = PX_WIRE_WANT;
    msg->n_ids = 1;
    msg->ids[0] = id;
    px_rawpeer_send(&rp, msg);
    while (raw == NULL) {
        cr_assert_eq(px_rawpeer_recv(&rp, msg), 0, "the node closed before answering the want");
        if (msg->type == PX_WIRE_RECORDS) {
            cr_assert_eq(msg->n_records, 1);
            len = msg->record_lens[0];
            cr_assert_not_null(raw = malloc(len));
            memcpy(raw, msg->records[0], len);
        }
    }

    /*
     * QUOTA copies of a record the node holds and never asked us for: duplicates, which
     * are not scored as faults, but unsolicited. Exactly at the quota: still connected.
     */
    send_copies(&rp, msg, raw, len, QUOTA);
    deadline = px_testd_now_ms() + WAIT_MS;
    while (px_testd_now_ms() < deadline) {
        cr_assert(peer_row(&a, mykey, &dups, state, sizeof(state)), "no row for the test peer");
        if (dups >= QUOTA) {
            break;
        }
        px_testd_poll_pause();
    }
    cr_assert_eq(dups, QUOTA, "the node counted %llu duplicates", (unsigned long long)dups);
    cr_assert_str_eq(state, "established", "dropped at the quota, not over it");
    cr_assert(!px_testd_log_has(&a.d, "over its quota"));

    /* One more: over the quota. The node says why in its bye, logs it and closes. */
    send_copies(&rp, msg, raw, len, 1);
    snprintf(why, sizeof(why), "over its quota of %d unsolicited records per 60 s", QUOTA);
    while (!got_bye) {
        int rc = px_rawpeer_recv(&rp, msg);

        cr_assert_eq(rc, 0, "the node closed without a bye");
        if (msg->type == PX_WIRE_BYE) {
            got_bye = true;
            cr_assert_eq(msg->code, PX_EPROTO);
            cr_assert(msg->reason.len > 0 &&
                          memmem(msg->reason.p, msg->reason.len, why, strlen(why)) != NULL,
                      "bye reason \"%.*s\"", (int)msg->reason.len, msg->reason.p);
        }
    }
    cr_assert(px_rawpeer_wait_closed(&rp), "the node kept the copier connected");
    px_testnode_wait_log(&a, why, WAIT_MS);
    /* It was dropped for the quota, not for the records: nothing of them was a fault. */
    cr_assert(!px_testd_log_has(&a.d, "sent invalid records"));
    cr_assert_eq(px_testd_records(&a.d), 1);

    free(raw);
    px_rawpeer_close(&rp);
    px_identity_wipe(&me);
    free(conf);
    free(msg);
    px_testnode_free(&a);
}

/* Writes n cases as JSON Lines to path. */
static void
write_cases(const char *path, int n)
{
    FILE *f = fopen(path, "w");

    cr_assert_not_null(f);
    for (int i = 0; i < n; i++) {
        fprintf(f,
                "{\"practice\": \"%s\", \"title\": \"Catch-up case %d\", \"summary\": \"Summary "
                "%d, long enough that the records together are well over the byte quota of "
                "the catching-up node.\", \"tags\": [\"catchup\"], \"language\": \"en\", "
                "\"license\": \"CC0-1.0\"}\n",
                i % 2 ? "good" : "bad", i, i);
    }
    cr_assert_eq(fclose(f), 0);
}

Test(quota, catch_up_larger_than_the_quota_completes)
{
    struct px_testnode a, b;
    struct px_run r;
    char *ca, *cb, *path, *export_path;
    uint8_t *exported;
    size_t exported_len = 0;
    int64_t deadline;
    uint64_t got = 0;

    px_testnode_init(&a, tmp, "a", px_test_free_port);
    px_testnode_init(&b, tmp, "b", px_test_free_port);
    /* B holds CATCH_UP records before A ever connects: no push can bring them. */
    cr_assert(asprintf(&cb, "[network]\npeer = 127.0.0.1:%u %s\n", a.port, a.key) > 0);
    px_testnode_start(&b, cb);
    cr_assert(asprintf(&path, "%s/cases.jsonl", tmp) > 0);
    write_cases(path, CATCH_UP);
    px_testd_praxis(&b.d, &r, NULL, 0, "publish", "--json", path, NULL);
    cr_assert_eq(r.status, 0, "publish: %s", r.err);
    px_run_free(&r);
    cr_assert_eq(px_testd_records(&b.d), CATCH_UP);
    /* What crosses is well over the byte quota too (the raw records alone). */
    cr_assert(asprintf(&export_path, "%s/b.jsonl", tmp) > 0);
    px_testd_praxis(&b.d, &r, NULL, 0, "export", "-o", export_path, NULL);
    cr_assert_eq(r.status, 0, "export: %s", r.err);
    px_run_free(&r);
    cr_assert_not_null(exported = px_test_read_file(export_path, &exported_len));
    cr_assert_gt(exported_len, 2 * QUOTA_BYTES, "the export is only %zu bytes", exported_len);

    /* A: the small quotas, and B as its only peer. */
    cr_assert(asprintf(&ca,
                       "[network]\nquota_records = %d\nquota_bytes = %d\npeer = 127.0.0.1:%u %s\n",
                       QUOTA, QUOTA_BYTES, b.port, b.key) > 0);
    px_testnode_start(&a, ca);
    deadline = px_testd_now_ms() + WAIT_MS;
    while (px_testd_now_ms() < deadline && (got = px_testd_records(&a.d)) < CATCH_UP) {
        cr_assert(!px_testd_log_has(&a.d, "over its quota"), "A dropped its only source");
        px_testd_poll_pause();
    }
    cr_assert_eq(got, CATCH_UP, "A caught up %llu of %d records", (unsigned long long)got,
                 CATCH_UP);
    /* The records came by anti-entropy (A asked for them), and nobody was dropped. */
    cr_assert(px_testd_log_has(&a.d, "reconciled") || px_testd_log_has(&b.d, "reconciled"));
    cr_assert(!px_testd_log_has(&a.d, "over its quota"));
    cr_assert(!px_testd_log_has(&b.d, "over its quota"));
    cr_assert(!px_testd_log_has(&a.d, "closing (protocol error"));

    free(exported);
    free(export_path);
    free(path);
    free(ca);
    free(cb);
    px_testnode_free(&a);
    px_testnode_free(&b);
}

/*
 * A reconciliation that finds more to fetch than max_pending_wants lets the node ask for
 * the rest as the first ones arrive (its backlog), not at the next sync_interval: with 16
 * wants at a time and an hour between reconciliations, CATCH_UP records still arrive at
 * once, all from the first reconciliation.
 */
Test(quota, catch_up_past_max_pending_wants_does_not_wait_for_the_next_sync)
{
    struct px_testnode a, b;
    struct px_run r;
    char *ca, *cb, *path;
    int64_t deadline;
    uint64_t got = 0;
    char *log, *blog;

    px_testnode_init(&a, tmp, "a", px_test_free_port);
    px_testnode_init(&b, tmp, "b", px_test_free_port);
    cr_assert(asprintf(&cb, "[network]\nsync_interval = 3600\npeer = 127.0.0.1:%u %s\n", a.port,
                       a.key) > 0);
    px_testnode_start(&b, cb);
    cr_assert(asprintf(&path, "%s/cases.jsonl", tmp) > 0);
    write_cases(path, CATCH_UP);
    px_testd_praxis(&b.d, &r, NULL, 0, "publish", "--json", path, NULL);
    cr_assert_eq(r.status, 0, "publish: %s", r.err);
    px_run_free(&r);

    cr_assert(asprintf(&ca,
                       "[network]\nsync_interval = 3600\nmax_pending_wants = 16\n"
                       "peer = 127.0.0.1:%u %s\n",
                       b.port, b.key) > 0);
    px_testnode_start(&a, ca);
    deadline = px_testd_now_ms() + WAIT_MS;
    while (px_testd_now_ms() < deadline && (got = px_testd_records(&a.d)) < CATCH_UP) {
        px_testd_poll_pause();
    }
    cr_assert_eq(got, CATCH_UP, "A caught up %llu of %d records", (unsigned long long)got,
                 CATCH_UP);
    /* One reconciliation found them all: A's, when A's connection is the one kept (the
     * side that dialed reconciles), or else B's, which then announced them. */
    log = px_testd_log(&a.d);
    blog = px_testd_log(&b.d);
    cr_assert(strstr(log, "0 to offer, 300 to fetch") != NULL ||
                  strstr(blog, "300 to offer, 0 to fetch") != NULL,
              "A:\n%s\nB:\n%s", log, blog);
    free(log);
    free(blog);

    free(path);
    free(ca);
    free(cb);
    px_testnode_free(&a);
    px_testnode_free(&b);
}
