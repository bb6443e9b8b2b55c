/* SPDX-License-Identifier: MIT */
/*
 * test_crash.c - crash safety: real praxisd processes on 127.0.0.1 killed with SIGKILL at
 * random moments, many times in a row, each time restarted on the same data directory.
 *
 *   publish      two clients publish continuously (praxis publish --json FILE, which
 *                prints each id once praxisd acknowledged it); the daemon is killed.
 *   import       a large import of records signed with a test key is killed mid-way:
 *                every other round over the local API (so that the test knows exactly
 *                which batches were acknowledged), the others as `praxis import`.
 *                Afterwards `praxis import` of the same file completes, and again
 *                changes nothing.
 *   replication  a chain A - B - C: A imports records while clients publish at B, and B
 *                is killed while records cross it; it must reconverge with both sides.
 *
 * After every kill, before the restart, the store must open and pass PRAGMA
 * integrity_check; after the restart every acknowledged record must be there, and what
 * was stored before the round must be intact (exact counts).
 *
 * PX_CRASH_ITERATIONS sets the kills per scenario (default CRASH_DEFAULT_ITERATIONS, small
 * so that `make test` stays fast; `make stress` runs many). The kill moments come from a
 * seeded generator: each scenario prints its seed on stderr, and PX_CRASH_SEED=SEED replays
 * its schedule of kills (the machine's timing still varies). The random sleeps only choose
 * when to pull the plug; every wait for an outcome is bounded and polls.
 */
#include <sys/socket.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <jansson.h>

#include "protocol/api.h"
#include "protocol/buf.h"
#include "protocol/record.h"
#include "protocol/sign.h"
#include "util/daemon_util.h"
#include "util/testnode.h"

#define CRASH_DEFAULT_ITERATIONS 5
#define CRASH_MAX_ITERATIONS     100000

/* publish: cases per client per round (more than it can send before the kill). */
#define PUB_CLIENTS   2
#define PUB_CASES     800
#define PUB_MAX_DELAY 400 /* ms */

/* import: records per round, per API batch, batches in flight. */
#define IMP_RECORDS   2000
#define IMP_BATCH     100
#define IMP_INFLIGHT  4
#define IMP_MAX_DELAY 300 /* ms, for `praxis import` */

/* replication: records A imports per round, cases B's client may publish. */
#define REP_RECORDS   1000
#define REP_CASES     500
#define REP_MAX_DELAY 800 /* ms */

#define WAIT_MS  30000
#define FRAME_MS 20000

static char *tmp;
static uint64_t rng;
static char where[128]; /* "scenario, seed S, round I": in the scenario's own messages */

/* Every daemon of the running test, stopped by teardown even after a failed assertion. */
static struct px_testd *live[4];
static size_t n_live;
/* The daemons themselves: static, so that they outlive a failed test's frame. */
static struct px_testd node_d;
static struct px_testnode *rep_nodes;

static void
setup(void)
{
    unsetenv("PRAXIS_SOCKET");
    tmp = px_test_tmpdir();
    n_live = 0;
}

static void
teardown(void)
{
    for (size_t i = 0; i < n_live; i++) {
        px_testd_free(live[i]);
    }
    free(rep_nodes);
    rep_nodes = NULL;
    px_test_rmtree(tmp);
    free(tmp);
}

TestSuite(crash, .init = setup, .fini = teardown);

/* ---- Randomness and rounds ---- */

/* xorshift64*: the same kill moments for the same seed. */
static uint64_t
rnd(void)
{
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return rng * UINT64_C(2685821657736338717);
}

static unsigned
rnd_below(unsigned n)
{
    return n == 0 ? 0 : (unsigned)(rnd() % n);
}

static unsigned
env_iterations(void)
{
    const char *s = getenv("PX_CRASH_ITERATIONS");
    unsigned long v;
    char *end;

    if (s == NULL || *s == '\0') {
        return CRASH_DEFAULT_ITERATIONS;
    }
    errno = 0;
    v = strtoul(s, &end, 10);
    cr_assert(errno == 0 && *end == '\0' && v >= 1 && v <= CRASH_MAX_ITERATIONS,
              "PX_CRASH_ITERATIONS=%s: want 1 to %d", s, CRASH_MAX_ITERATIONS);
    return (unsigned)v;
}

/* Seeds the generator from PX_CRASH_SEED or the clock, and says how to replay the run. */
static unsigned
begin(const char *scenario)
{
    const char *s = getenv("PX_CRASH_SEED");
    unsigned n = env_iterations();
    uint64_t seed;

    if (s != NULL && *s != '\0') {
        char *end;

        errno = 0;
        seed = strtoull(s, &end, 0);
        cr_assert(errno == 0 && *end == '\0', "PX_CRASH_SEED=%s is not a number", s);
    } else {
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        seed = (uint64_t)ts.tv_sec * 1000000007u ^ (uint64_t)ts.tv_nsec ^ (uint64_t)getpid() << 40;
    }
    rng = seed != 0 ? seed : 1;
    fprintf(stderr,
            "test_crash %s: %u rounds, seed 0x%016" PRIx64 " (replay: PX_CRASH_SEED=0x%016" PRIx64
            " PX_CRASH_ITERATIONS=%u)\n",
            scenario, n, seed, seed, n);
    snprintf(where, sizeof(where), "%s, seed 0x%016" PRIx64, scenario, seed);
    return n;
}

static void
round_is(unsigned i)
{
    char *semi = strstr(where, ", round");

    if (semi != NULL) {
        *semi = '\0';
    }
    snprintf(where + strlen(where), sizeof(where) - strlen(where), ", round %u", i);
}

static void
sleep_ms(unsigned ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* ---- Files and daemons ---- */

/* tmp/<prefix>-<i>-<k><suffix> (malloc'd). */
static char *
in_tmp(const char *prefix, unsigned i, unsigned k, const char *suffix)
{
    char *p;

    cr_assert(asprintf(&p, "%s/%s-%u-%u%s", tmp, prefix, i, k, suffix) > 0);
    return p;
}

static void
track(struct px_testd *d)
{
    cr_assert_lt(n_live, sizeof(live) / sizeof(live[0]));
    live[n_live++] = d;
}

/* Writes n cases as JSON Lines, each tagged tag, titled by tag, client and number. */
static void
write_cases(const char *path, const char *tag, unsigned client, unsigned n)
{
    FILE *f = fopen(path, "w");

    cr_assert_not_null(f, "%s: %s", path, strerror(errno));
    for (unsigned i = 0; i < n; i++) {
        fprintf(f,
                "{\"practice\": \"%s\", \"title\": \"Crash round %s client %u case %u\", "
                "\"summary\": \"Published while the node may be killed.\", \"tags\": "
                "[\"%s\"], \"language\": \"en\", \"license\": \"CC0-1.0\"}\n",
                i % 2 ? "good" : "bad", tag, client, i, tag);
    }
    cr_assert_eq(fclose(f), 0);
}

/* Adds the id of one line of `praxis publish --json` output, {"id":"..."}, to set. */
static void
add_published_id(json_t *set, const char *p, size_t len)
{
    char id[65];

    cr_assert(len == 7 + 64 + 2 && strncmp(p, "{\"id\":\"", 7) == 0 && p[7 + 64] == '"',
              "%s: publisher printed \"%.*s\"", where, (int)len, p);
    memcpy(id, p + 7, 64);
    id[64] = '\0';
    json_object_set_new(set, id, json_true());
}

/* Adds to set the id of every complete line of a publisher's output. */
static void
add_published_ids(json_t *set, const char *out)
{
    for (const char *p = out; p != NULL && *p != '\0';) {
        const char *nl = strchr(p, '\n');

        if (nl == NULL) {
            break; /* an unfinished last line is not an acknowledgement */
        }
        add_published_id(set, p, (size_t)(nl - p));
        p = nl + 1;
    }
}

/* Every key of want is in have; else fails naming the first missing one. */
static void
assert_subset(json_t *want, json_t *have, const struct px_testd *d, const char *what)
{
    const char *id;
    json_t *v;

    json_object_foreach(want, id, v)
    {
        (void)v;
        cr_assert_not_null(json_object_get(have, id),
                           "%s: %s %s is missing on %s (%zu acknowledged, %zu there)", where, what,
                           id, d->dir, json_object_size(want), json_object_size(have));
    }
}

static void
add_all(json_t *to, json_t *from)
{
    cr_assert_eq(json_object_update(to, from), 0);
}

/* ---- Signed records for import ---- */

struct recs {
    size_t n;
    uint8_t **raw;
    size_t *len;
    char (*id)[65];
};

/*
 * Signs n cases with who, tagged tag, created in the last n ms, and writes them to path as
 * import lines ({"raw": HEX}; import uses no other key).
 */
static void
make_records(struct recs *rs, const struct px_identity *who, const char *tag, size_t n,
             const char *path)
{
    struct timespec now;
    uint64_t t0;
    FILE *f = fopen(path, "w");
    char *hex = malloc(2 * PX_RECORD_MAX + 1);
    uint8_t *buf = malloc(PX_RECORD_MAX);

    cr_assert(f != NULL && hex != NULL && buf != NULL);
    clock_gettime(CLOCK_REALTIME, &now);
    t0 = (uint64_t)now.tv_sec * 1000 + (uint64_t)now.tv_nsec / 1000000 - n - 1000;
    rs->n = n;
    rs->raw = calloc(n, sizeof(*rs->raw));
    rs->len = calloc(n, sizeof(*rs->len));
    rs->id = calloc(n, sizeof(*rs->id));
    cr_assert(rs->raw != NULL && rs->len != NULL && rs->id != NULL);
    for (size_t i = 0; i < n; i++) {
        struct px_record rec;
        char title[96];

        snprintf(title, sizeof(title), "Imported case %s %zu", tag, i);
        px_record_init(&rec, PX_RECORD_CASE);
        rec.created = t0 + i;
        rec.cs.practice = i % 2 ? PX_PRACTICE_GOOD : PX_PRACTICE_BAD;
        rec.cs.title = (struct px_str){title, (uint32_t)strlen(title)};
        rec.cs.summary = (struct px_str){"Imported while the node may be killed.", 38};
        rec.cs.tags[0] = (struct px_str){tag, (uint32_t)strlen(tag)};
        rec.cs.n_tags = 1;
        rec.cs.region = (struct px_str){"KE", 2};
        rec.cs.language = (struct px_str){"en", 2};
        rec.cs.license = (struct px_str){"CC0-1.0", 7};
        cr_assert_eq(px_record_sign(&rec, who, buf, PX_RECORD_MAX, &rs->len[i], NULL), 0);
        px_hex_encode(rec.id, PX_ID_BYTES, rs->id[i]);
        rs->raw[i] = malloc(rs->len[i]);
        cr_assert_not_null(rs->raw[i]);
        memcpy(rs->raw[i], buf, rs->len[i]);
        px_hex_encode(buf, rs->len[i], hex);
        fprintf(f, "{\"raw\": \"%s\"}\n", hex);
    }
    cr_assert_eq(fclose(f), 0);
    free(hex);
    free(buf);
}

static void
recs_free(struct recs *rs)
{
    for (size_t i = 0; i < rs->n; i++) {
        free(rs->raw[i]);
    }
    free(rs->raw);
    free(rs->len);
    free(rs->id);
    memset(rs, 0, sizeof(*rs));
}

static void
send_all(int fd, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

        if (w < 0 && errno == EINTR) {
            continue;
        }
        cr_assert_gt(w, 0, "%s: send: %s", where, strerror(errno));
        p += w;
        n -= (size_t)w;
    }
}

/*
 * Imports rs over the local API, IMP_INFLIGHT batches of IMP_BATCH in flight. Once
 * kill_after batches are acknowledged, waits extra_ms (the daemon works on the batches in
 * flight meanwhile), kills d, and reads the answers it had already sent. Sets acked[i]
 * for every record of an acknowledged batch (an answer with code 0 is sent after the
 * commit) and returns their number.
 */
static size_t
api_import(struct px_testd *d, const struct recs *rs, size_t kill_after, unsigned extra_ms,
           bool *acked)
{
    size_t n_batches = (rs->n + IMP_BATCH - 1) / IMP_BATCH, sent = 0, answered = 0, n_acked = 0;
    struct px_api_request *req = calloc(1, sizeof(*req));
    struct px_api_response *res = calloc(1, sizeof(*res));
    bool killed = false;
    int fd = px_testd_connect(d);

    cr_assert(req != NULL && res != NULL);
    while (answered < n_batches) {
        uint8_t *body;
        size_t len, b;
        int rc;

        while (!killed && sent < n_batches && sent - answered < IMP_INFLIGHT) {
            uint8_t *frame;
            size_t flen;

            memset(req, 0, sizeof(*req));
            req->op = PX_API_IMPORT;
            req->seq = sent + 1;
            for (size_t i = sent * IMP_BATCH; i < rs->n && i < (sent + 1) * IMP_BATCH; i++) {
                req->records[req->n_records] = rs->raw[i];
                req->record_lens[req->n_records++] = rs->len[i];
            }
            cr_assert_eq(px_api_request_encode(req, &frame, &flen), 0);
            send_all(fd, frame, flen);
            free(frame);
            sent++;
        }
        if (!killed && answered >= kill_after) {
            sleep_ms(extra_ms);
            px_testd_kill9(d);
            killed = true;
        }
        rc = px_testd_read_frame(fd, PX_API_MAX_FRAME, &body, &len, FRAME_MS);
        if (killed && rc != 0) {
            break; /* everything it answered before it died has been read */
        }
        cr_assert_eq(rc, 0, "%s: no answer to an import batch (rc %d)", where, rc);
        cr_assert_eq(px_api_response_decode(body, len, res), 0, "%s: bad import answer", where);
        cr_assert(res->seq >= 1 && res->seq <= sent, "%s: answer to batch %" PRIu64, where,
                  res->seq);
        b = (size_t)res->seq - 1;
        cr_assert_eq(res->code, 0, "%s: import batch %zu refused: %d", where, b, res->code);
        cr_assert_eq(res->n_rejected, 0, "%s: import batch %zu: records rejected", where, b);
        for (size_t i = b * IMP_BATCH; i < rs->n && i < (b + 1) * IMP_BATCH; i++) {
            cr_assert(!acked[i], "%s: batch %zu answered twice", where, b);
            acked[i] = true;
            n_acked++;
        }
        {
            size_t in_batch = b + 1 < n_batches ? IMP_BATCH : rs->n - b * IMP_BATCH;

            cr_assert_eq((size_t)res->accepted + res->duplicates, in_batch,
                         "%s: batch %zu of %zu records: %u imported, %u duplicates", where, b,
                         in_batch, res->accepted, res->duplicates);
        }
        free(body);
        answered++;
    }
    if (!killed) {
        px_testd_kill9(d);
    }
    close(fd);
    free(req);
    free(res);
    return n_acked;
}

/* ---- Clients as child processes ---- */

/* Starts `praxis CMD [--json] FILE` against d, its stderr appended to err. */
static void
spawn_praxis(struct px_child *c, const struct px_testd *d, char *cmd, char *file, const char *err)
{
    char *bin = px_test_bin("praxis");

    if (strcmp(cmd, "publish") == 0) {
        px_child_spawn(c, (char *[]){bin, "--socket", d->sock, "publish", "--json", file, NULL},
                       err, NULL);
    } else {
        px_child_spawn(c, (char *[]){bin, "--socket", d->sock, cmd, file, NULL}, err, NULL);
    }
    free(bin);
}

/*
 * A client whose daemon was killed under it ends by itself: 0 when it had finished, 1
 * when it lost the connection, 3 when it never reached the daemon. Anything else (a
 * crash, a hang) fails the test.
 */
static void
assert_client_ended(const struct px_child *c, const char *err_path)
{
    if (c->status != 0 && c->status != 1 && c->status != 3) {
        char *err = (char *)px_test_read_file(err_path, NULL);

        cr_assert_fail("%s: a client ended with status %d after the kill; its stderr:\n%s", where,
                       c->status, err != NULL ? err : "(none)");
    }
}

/* ---- Scenario: publish ---- */

Test(crash, kill9_while_publishing)
{
    unsigned rounds = begin("publish");
    struct px_testd *d = &node_d;
    json_t *all = json_object(), *have;
    uint64_t before = 0, stored, after;
    size_t total_acked = 0;
    int64_t t0 = px_testd_now_ms();
    char *dir;

    cr_assert(asprintf(&dir, "%s/node", tmp) > 0);
    px_testd_start(d, dir);
    track(d);
    for (unsigned i = 0; i < rounds; i++) {
        struct px_child c[PUB_CLIENTS];
        char *files[PUB_CLIENTS], *errs[PUB_CLIENTS], tag[16];
        json_t *acked = json_object();
        unsigned delay;

        round_is(i);
        snprintf(tag, sizeof(tag), "p%u", i);
        for (unsigned k = 0; k < PUB_CLIENTS; k++) {
            files[k] = in_tmp("publish", i, k, ".jsonl");
            errs[k] = in_tmp("publish", i, k, ".err");
            write_cases(files[k], tag, k, PUB_CASES);
        }
        for (unsigned k = 0; k < PUB_CLIENTS; k++) {
            spawn_praxis(&c[k], d, "publish", files[k], errs[k]);
        }
        /* Mostly once publishing is under way; sometimes while the clients connect. */
        if (rnd_below(4) != 0) {
            char *line = px_child_read_line(&c[0], PX_TESTD_RUN_MS);

            cr_assert_not_null(line, "%s: no publish was acknowledged", where);
            add_published_id(acked, line, strlen(line));
            free(line);
        }
        delay = rnd_below(PUB_MAX_DELAY + 1);
        sleep_ms(delay);
        px_testd_kill9(d);
        cr_assert_eq(px_child_finish(c, PUB_CLIENTS, PX_TESTD_RUN_MS), 0,
                     "%s: a publisher did not end after the kill", where);
        for (unsigned k = 0; k < PUB_CLIENTS; k++) {
            assert_client_ended(&c[k], errs[k]);
            add_published_ids(acked, c[k].buf);
            px_child_free(&c[k]);
        }

        /* Before the restart: the store is sound and holds at least what was acknowledged. */
        stored = px_testd_check_store(d);
        cr_assert_geq(stored, before + json_object_size(acked),
                      "%s: %" PRIu64 " records stored, %" PRIu64 " before the round and %zu "
                      "acknowledged in it",
                      where, stored, before, json_object_size(acked));
        px_testd_restart(d);

        /* Every acknowledged case is served; earlier rounds' records are all still there. */
        have = px_testd_query_ids(d, "--tag", tag);
        assert_subset(acked, have, d, "acknowledged case");
        after = px_testd_records(d);
        cr_assert_eq(after, stored, "%s: the store held %" PRIu64 ", praxisd counts %" PRIu64,
                     where, stored, after);
        cr_assert_eq(after, before + json_object_size(have),
                     "%s: %" PRIu64 " records before the round, %zu from it, %" PRIu64 " now",
                     where, before, json_object_size(have), after);
        cr_log_info("%s: killed after %u ms, %zu acknowledged, %zu stored", where, delay,
                    json_object_size(acked), json_object_size(have));
        total_acked += json_object_size(acked);
        add_all(all, acked);
        before = after;
        json_decref(have);
        json_decref(acked);
        for (unsigned k = 0; k < PUB_CLIENTS; k++) {
            unlink(files[k]);
            free(files[k]);
            free(errs[k]);
        }
    }

    /* At the end: everything acknowledged in any round, and a clean stop. */
    round_is(rounds);
    have = px_testd_query_ids(d, NULL, NULL);
    assert_subset(all, have, d, "acknowledged case");
    cr_assert_eq(px_testd_stop(d), 0, "%s: praxisd did not stop cleanly", where);
    cr_assert_eq(px_testd_check_store(d), before);
    fprintf(stderr,
            "test_crash publish: %u kills, %zu acknowledged cases kept, %" PRIu64
            " records, %lld ms\n",
            rounds, total_acked, before, (long long)(px_testd_now_ms() - t0));
    json_decref(have);
    json_decref(all);
    free(dir);
}

/* ---- Scenario: import ---- */

static void
test_identity(struct px_identity *who)
{
    uint8_t seed[PX_SIGN_SEEDBYTES];

    cr_assert_eq(px_crypto_init(), 0);
    for (size_t i = 0; i < sizeof(seed); i++) {
        seed[i] = (uint8_t)rnd();
    }
    cr_assert_eq(px_identity_from_seed(who, seed), 0);
}

/* Runs `praxis import FILE` on d to the end and requires exactly this summary. */
static void
import_to_the_end(const struct px_testd *d, const char *file, size_t imported, size_t had)
{
    struct px_run r;
    char want[96];

    snprintf(want, sizeof(want), "imported %zu, already had %zu, rejected 0\n", imported, had);
    px_testd_praxis(d, &r, NULL, 0, "import", file, NULL);
    cr_assert_eq(r.status, 0, "%s: import: %s", where, r.err);
    cr_assert_str_eq(r.out, want, "%s: import said %s", where, r.out);
    px_run_free(&r);
}

Test(crash, kill9_during_import)
{
    unsigned rounds = begin("import");
    struct px_testd *d = &node_d;
    struct px_identity who;
    uint64_t before = 0, stored, after;
    int64_t t0 = px_testd_now_ms();
    char *dir;

    test_identity(&who);
    cr_assert(asprintf(&dir, "%s/node", tmp) > 0);
    px_testd_start(d, dir);
    track(d);
    for (unsigned i = 0; i < rounds; i++) {
        char *file = in_tmp("import", i, 0, ".jsonl"), *err = in_tmp("import", i, 0, ".err");
        char tag[16], how[96];
        json_t *acked = json_object(), *have;
        struct recs rs;

        round_is(i);
        snprintf(tag, sizeof(tag), "i%u", i);
        make_records(&rs, &who, tag, IMP_RECORDS, file);
        if (i % 2 == 0) {
            /* Over the API: the test knows which batches were answered. */
            size_t n_batches = (rs.n + IMP_BATCH - 1) / IMP_BATCH;
            size_t kill_after = rnd_below((unsigned)n_batches);
            unsigned extra = rnd_below(40);
            bool *ack = calloc(rs.n, sizeof(*ack));

            cr_assert_not_null(ack);
            api_import(d, &rs, kill_after, extra, ack);
            for (size_t k = 0; k < rs.n; k++) {
                if (ack[k]) {
                    json_object_set_new(acked, rs.id[k], json_true());
                }
            }
            free(ack);
            snprintf(how, sizeof(how), "API import killed %u ms after %zu of %zu answers", extra,
                     kill_after, n_batches);
        } else {
            /* The real client; it reports only at the end, so nothing is known as stored
             * unless it finished. */
            struct px_child c;
            unsigned delay = rnd_below(IMP_MAX_DELAY + 1);

            spawn_praxis(&c, d, "import", file, err);
            sleep_ms(delay);
            px_testd_kill9(d);
            cr_assert_eq(px_child_finish(&c, 1, PX_TESTD_RUN_MS), 0,
                         "%s: praxis import did not end after the kill", where);
            assert_client_ended(&c, err);
            if (c.status == 0) {
                char want[96];

                snprintf(want, sizeof(want), "imported %zu, already had 0, rejected 0\n", rs.n);
                cr_assert_str_eq(c.buf, want, "%s", where);
                for (size_t k = 0; k < rs.n; k++) {
                    json_object_set_new(acked, rs.id[k], json_true());
                }
            }
            snprintf(how, sizeof(how), "praxis import killed after %u ms (exit %d)", delay,
                     c.status);
            px_child_free(&c);
        }

        stored = px_testd_check_store(d);
        cr_assert_geq(stored, before + json_object_size(acked),
                      "%s: %" PRIu64 " records stored, %" PRIu64 " before the round and %zu "
                      "acknowledged in it",
                      where, stored, before, json_object_size(acked));
        px_testd_restart(d);
        have = px_testd_query_ids(d, "--tag", tag);
        assert_subset(acked, have, d, "acknowledged imported record");
        after = px_testd_records(d);
        cr_assert_eq(after, stored, "%s: the store held %" PRIu64 ", praxisd counts %" PRIu64,
                     where, stored, after);
        cr_assert_eq(after, before + json_object_size(have),
                     "%s: %" PRIu64 " records before the round, %zu from it, %" PRIu64 " now",
                     where, before, json_object_size(have), after);
        cr_log_info("%s: %s: %zu acknowledged, %zu stored", where, how, json_object_size(acked),
                    json_object_size(have));

        /* The same import again completes; once more, and it changes nothing. */
        import_to_the_end(d, file, rs.n - json_object_size(have), json_object_size(have));
        import_to_the_end(d, file, 0, rs.n);
        after = px_testd_records(d);
        cr_assert_eq(after, before + rs.n, "%s: %" PRIu64 " records, want %" PRIu64, where, after,
                     before + rs.n);
        before = after;
        json_decref(have);
        json_decref(acked);
        recs_free(&rs);
        unlink(file);
        free(file);
        free(err);
    }
    round_is(rounds);
    cr_assert_eq(px_testd_stop(d), 0, "%s: praxisd did not stop cleanly", where);
    cr_assert_eq(px_testd_check_store(d), before);
    fprintf(stderr, "test_crash import: %u kills, %" PRIu64 " records, %lld ms\n", rounds, before,
            (long long)(px_testd_now_ms() - t0));
    px_identity_wipe(&who);
    free(dir);
}

/* ---- Scenario: replication ---- */

/* Starts the node with a peer line for each of peers[0..np) and tracks it for teardown. */
static void
node_start(struct px_testnode *n, struct px_testnode *const *peers, size_t np)
{
    char *conf = px_testnode_peer_config(NULL, peers, np);

    px_testnode_start(n, conf);
    track(&n->d);
    free(conf);
}

Test(crash, kill9_while_replicating)
{
    unsigned rounds = begin("replication");
    struct px_testnode *nodes = rep_nodes = calloc(3, sizeof(*nodes)), *a = &nodes[0],
                       *b = &nodes[1], *c = &nodes[2];
    struct px_testnode *all[] = {a, b, c}, *pa[] = {b}, *pb[] = {a, c}, *pc[] = {b};
    struct px_identity who;
    uint64_t imported = 0;
    int64_t t0 = px_testd_now_ms(), converge_max = 0;
    json_t *all_acked = json_object();

    cr_assert_not_null(nodes);
    test_identity(&who);
    px_testnode_init(a, tmp, "a", px_test_listen_port);
    px_testnode_init(b, tmp, "b", px_test_listen_port);
    px_testnode_init(c, tmp, "c", px_test_listen_port);
    /* A chain: what A and C exchange crosses B. */
    node_start(a, pa, 1);
    node_start(b, pb, 2);
    node_start(c, pc, 1);
    for (unsigned i = 0; i < rounds; i++) {
        char *afile = in_tmp("rep-a", i, 0, ".jsonl"), *aerr = in_tmp("rep-a", i, 0, ".err");
        char *bfile = in_tmp("rep-b", i, 0, ".jsonl"), *berr = in_tmp("rep-b", i, 0, ".err");
        struct px_child imp, pub;
        json_t *acked = json_object(), *own;
        struct recs rs;
        char tag[16];
        unsigned delay;
        uint64_t want, stored;
        int64_t took;

        round_is(i);
        snprintf(tag, sizeof(tag), "r%u", i);
        make_records(&rs, &who, tag, REP_RECORDS, afile);
        write_cases(bfile, tag, 0, REP_CASES);
        /*
         * A client publishes at B (mostly already under way: its first case acknowledged),
         * while A takes a batch and pushes it on to B, which passes it on to C.
         */
        spawn_praxis(&pub, &b->d, "publish", bfile, berr);
        if (rnd_below(4) != 0) {
            char *line = px_child_read_line(&pub, PX_TESTD_RUN_MS);

            cr_assert_not_null(line, "%s: no publish at B was acknowledged", where);
            add_published_id(acked, line, strlen(line));
            free(line);
        }
        spawn_praxis(&imp, &a->d, "import", afile, aerr);
        delay = rnd_below(REP_MAX_DELAY + 1);
        sleep_ms(delay);
        px_testd_kill9(&b->d);
        cr_assert_eq(px_child_finish(&pub, 1, PX_TESTD_RUN_MS), 0,
                     "%s: the publisher at B did not end after the kill", where);
        assert_client_ended(&pub, berr);
        add_published_ids(acked, pub.buf);
        cr_assert_eq(px_child_finish(&imp, 1, PX_TESTD_RUN_MS), 0, "%s: import at A hangs", where);
        cr_assert_eq(imp.status, 0, "%s: import at A failed", where);
        {
            char done[96];

            snprintf(done, sizeof(done), "imported %zu, already had 0, rejected 0\n", rs.n);
            cr_assert_str_eq(imp.buf, done, "%s", where);
        }
        imported += rs.n;
        px_child_free(&pub);
        px_child_free(&imp);

        stored = px_testd_check_store(&b->d);
        px_testd_restart(&b->d);

        /* All three converge on A's records plus every case B stored. */
        own = px_testd_query_ids(&b->d, "--author", b->key);
        assert_subset(acked, own, &b->d, "acknowledged case");
        want = imported + json_object_size(own);
        took = px_testnode_wait_records(all, 3, want, WAIT_MS, where);
        converge_max = took > converge_max ? took : converge_max;
        for (size_t k = 0; k < 3; k++) {
            json_t *have = px_testd_query_ids(&all[k]->d, "--tag", tag);

            assert_subset(acked, have, &all[k]->d, "case acknowledged at B");
            for (size_t j = 0; j < rs.n; j++) {
                cr_assert_not_null(json_object_get(have, rs.id[j]),
                                   "%s: record %s imported at A is missing on %s", where, rs.id[j],
                                   all[k]->dir);
            }
            json_decref(have);
        }
        cr_log_info("%s: B killed after %u ms holding %" PRIu64 " of the %" PRIu64
                    " records imported at A, %zu acknowledged at B; converged on %" PRIu64
                    " records %lld ms after its restart",
                    where, delay, stored - json_object_size(own), imported, json_object_size(acked),
                    want, (long long)took);
        add_all(all_acked, acked);
        json_decref(own);
        json_decref(acked);
        recs_free(&rs);
        unlink(afile);
        unlink(bfile);
        free(afile);
        free(aerr);
        free(bfile);
        free(berr);
    }
    round_is(rounds);
    for (size_t k = 0; k < 3; k++) {
        json_t *have = px_testd_query_ids(&all[k]->d, NULL, NULL);

        assert_subset(all_acked, have, &all[k]->d, "case acknowledged at B");
        json_decref(have);
    }
    for (size_t k = 0; k < 3; k++) {
        cr_assert_eq(px_testd_stop(&all[k]->d), 0, "%s: %s did not stop cleanly", where,
                     all[k]->dir);
        (void)px_testd_check_store(&all[k]->d);
    }
    fprintf(stderr,
            "test_crash replication: %u kills of B, %" PRIu64 " records imported at A, %zu "
            "acknowledged at B, slowest reconvergence %lld ms, %lld ms\n",
            rounds, imported, json_object_size(all_acked), (long long)converge_max,
            (long long)(px_testd_now_ms() - t0));
    json_decref(all_acked);
    px_identity_wipe(&who);
    for (size_t k = 0; k < 3; k++) {
        px_testnode_free(&nodes[k]);
    }
    /* teardown frees the nodes' array (and the daemons, after a failed assertion). */
}
