/* SPDX-License-Identifier: MIT */
/*
 * test_converge.c - whole networks of real praxisd nodes on 127.0.0.1 converge: a
 * 10-node random graph of degree 3 with records published at several nodes, and a chain
 * cut apart by stopping its bridge, written to on both sides, then joined again. Each
 * also reads the replication counters of `praxis peers --json` (last sync, records sent
 * and received, pending wants). Ports are chosen at run time; every wait polls `praxis`
 * against a deadline. (A node that was down catching up on its own is in test_gossip.c.)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <jansson.h>

#include "util/daemon_util.h"
#include "util/testnode.h"

#define WAIT_MS 30000

static char *tmp;
/* Every node of the running test, so that a failed assertion does not leave daemons behind
 * (Criterion runs the suite's fini after one). */
static struct px_testnode *live[16]; /* heap-allocated, so they outlive a failed test's frame */
static size_t n_live;

static void
setup(void)
{
    unsetenv("PRAXIS_SOCKET");
    tmp = px_test_tmpdir();
}

static void
teardown(void)
{
    for (size_t i = 0; i < n_live; i++) {
        px_testd_stop(&live[i]->d);
    }
    px_test_rmtree(tmp);
    free(tmp);
}

TestSuite(converge, .init = setup, .fini = teardown, .timeout = 120);

/* Creates the node (a first start and stop, its port below the ephemeral range) and
 * tracks it for teardown. */
static void
node_init(struct px_testnode *n, const char *name)
{
    cr_assert_lt(n_live, sizeof(live) / sizeof(live[0]));
    live[n_live++] = n;
    px_testnode_init(n, tmp, name, px_test_listen_port);
}

/* Stops the node and frees what it holds (not n itself). */
static void
node_free(struct px_testnode *n)
{
    for (size_t i = 0; i < n_live; i++) {
        if (live[i] == n) {
            live[i] = live[--n_live];
            break;
        }
    }
    px_testnode_free(n);
}

/* Replication counters of one peer row of `praxis peers --json`. */
struct row {
    bool found, established;
    uint64_t last_sync, sent, received, duplicates, rejected, pending;
};

static uint64_t
uint_of(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);

    cr_assert(json_is_integer(v), "no integer %s", key);
    return (uint64_t)json_integer_value(v);
}

/*
 * Reads n's peer table: rows[i] describes peers[i] (by key; the established row when
 * there are several). Returns the whole output for messages (malloc'd).
 */
static char *
read_peers(const struct px_testnode *n, struct px_testnode *const *peers, size_t np,
           struct row *rows)
{
    struct px_run r;
    char *line, *save = NULL, *out;

    memset(rows, 0, np * sizeof(*rows));
    px_testd_praxis(&n->d, &r, NULL, 0, "peers", "--json", NULL);
    cr_assert_eq(r.status, 0, "peers: %s", r.err);
    out = strdup(r.out);
    cr_assert_not_null(out);
    for (line = strtok_r(r.out, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
        json_error_t jerr;
        json_t *o = json_loads(line, 0, &jerr);
        const char *key, *state;

        cr_assert_not_null(o, "peers --json line is not JSON: %s", line);
        key = json_string_value(json_object_get(o, "public_key"));
        state = json_string_value(json_object_get(o, "state"));
        cr_assert_not_null(state);
        for (size_t i = 0; i < np && key != NULL; i++) {
            bool est = strcmp(state, "established") == 0;

            if (strcmp(key, peers[i]->key) != 0 || (rows[i].established && !est)) {
                continue;
            }
            rows[i].found = true;
            rows[i].established = est;
            rows[i].last_sync = uint_of(o, "last_sync");
            rows[i].sent = uint_of(o, "records_sent");
            rows[i].received = uint_of(o, "records_received");
            rows[i].duplicates = uint_of(o, "duplicates");
            rows[i].rejected = uint_of(o, "rejected");
            rows[i].pending = uint_of(o, "pending_wants");
        }
        json_decref(o);
    }
    px_run_free(&r);
    return out;
}

/* ---- A random graph ---- */

#define GRAPH_N      10
#define GRAPH_DEGREE 3

/* xorshift64*: the same graph on every run and every platform. */
static uint64_t
next_rand(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * UINT64_C(2685821657736338717);
}

static bool
graph_connected(bool adj[GRAPH_N][GRAPH_N])
{
    bool seen[GRAPH_N] = {true};
    size_t stack[GRAPH_N] = {0}, top = 1, count = 1;

    while (top > 0) {
        size_t v = stack[--top];

        for (size_t w = 0; w < GRAPH_N; w++) {
            if (adj[v][w] && !seen[w]) {
                seen[w] = true;
                stack[top++] = w;
                count++;
            }
        }
    }
    return count == GRAPH_N;
}

/*
 * A simple connected GRAPH_DEGREE-regular graph on GRAPH_N nodes by the pairing model:
 * shuffle GRAPH_DEGREE stubs per node, pair them in order, and start over on a loop, a
 * double edge or a disconnected result.
 */
static void
random_regular_graph(uint64_t seed, bool adj[GRAPH_N][GRAPH_N])
{
    uint64_t s = seed;

    for (unsigned attempt = 0; attempt < 10000; attempt++) {
        size_t stubs[GRAPH_N * GRAPH_DEGREE];
        bool ok = true;

        memset(adj, 0, sizeof(bool) * GRAPH_N * GRAPH_N);
        for (size_t i = 0; i < GRAPH_N * GRAPH_DEGREE; i++) {
            stubs[i] = i / GRAPH_DEGREE;
        }
        for (size_t i = GRAPH_N * GRAPH_DEGREE - 1; i > 0; i--) {
            size_t j = (size_t)(next_rand(&s) % (i + 1)), t = stubs[i];

            stubs[i] = stubs[j];
            stubs[j] = t;
        }
        for (size_t i = 0; i < GRAPH_N * GRAPH_DEGREE && ok; i += 2) {
            size_t a = stubs[i], b = stubs[i + 1];

            ok = a != b && !adj[a][b];
            adj[a][b] = adj[b][a] = true;
        }
        if (ok && graph_connected(adj)) {
            return;
        }
    }
    cr_assert_fail("no connected %d-regular graph found", GRAPH_DEGREE);
}

Test(converge, random_graph_of_ten)
{
    static const size_t publishers[] = {0, 2, 5, 7, 9, 5};
    const size_t n_records = sizeof(publishers) / sizeof(publishers[0]);
    bool adj[GRAPH_N][GRAPH_N];
    struct px_testnode *nodes = calloc(GRAPH_N, sizeof(*nodes));
    struct px_testnode *all[GRAPH_N], *nb[GRAPH_DEGREE];
    struct row rows[GRAPH_DEGREE];
    size_t quiet = GRAPH_N, k;
    int64_t t0, took, deadline;
    char *out = NULL;

    cr_assert_not_null(nodes);
    random_regular_graph(UINT64_C(0x70726178697321), adj);
    for (size_t i = 0; i < GRAPH_N; i++) {
        char name[8];

        snprintf(name, sizeof(name), "n%zu", i);
        node_init(&nodes[i], name);
        all[i] = &nodes[i];
    }
    /* Both ends of an edge list each other: whichever starts second links it at once. */
    for (size_t i = 0; i < GRAPH_N; i++) {
        k = 0;
        for (size_t j = 0; j < GRAPH_N; j++) {
            if (adj[i][j]) {
                px_testnode_add_peer(&nodes[i], &nodes[j]);
                k++;
            }
        }
        cr_assert_eq(k, GRAPH_DEGREE);
    }
    t0 = px_testd_now_ms();
    for (size_t i = 0; i < GRAPH_N; i++) {
        px_testnode_start(&nodes[i], NULL);
    }
    /* Published while links are still coming up: push and reconciliation both play. */
    for (size_t i = 0; i < n_records; i++) {
        char title[32];

        snprintf(title, sizeof(title), "Record %zu from n%zu", i, publishers[i]);
        px_testnode_publish(&nodes[publishers[i]], title, 0, NULL);
    }
    took = px_testnode_wait_records(all, GRAPH_N, n_records, WAIT_MS, "converge");
    cr_log_info("random_graph_of_ten: %zu nodes started and %zu records everywhere in %lld ms "
                "(%lld ms after the last publish)",
                (size_t)GRAPH_N, n_records, (long long)(px_testd_now_ms() - t0), (long long)took);

    /*
     * A node that published nothing got every record from its peers, each stored once:
     * its rows' records_received add up to the record count. Each row has synced, nothing
     * is pending and nothing was rejected.
     */
    for (size_t i = 0; i < GRAPH_N && quiet == GRAPH_N; i++) {
        bool published = false;

        for (size_t j = 0; j < n_records; j++) {
            published = published || publishers[j] == i;
        }
        if (!published) {
            quiet = i;
        }
    }
    cr_assert_lt(quiet, GRAPH_N);
    k = 0;
    for (size_t j = 0; j < GRAPH_N; j++) {
        if (adj[quiet][j]) {
            nb[k++] = &nodes[j];
        }
    }
    deadline = px_testd_now_ms() + WAIT_MS;
    for (;;) {
        uint64_t received = 0;
        bool ok = true;

        free(out);
        out = read_peers(&nodes[quiet], nb, GRAPH_DEGREE, rows);
        for (size_t j = 0; j < GRAPH_DEGREE; j++) {
            ok = ok && rows[j].established && rows[j].last_sync > 0 && rows[j].pending == 0 &&
                 rows[j].rejected == 0;
            received += rows[j].received;
        }
        if (ok && received == n_records) {
            break;
        }
        cr_assert_lt(px_testd_now_ms(), deadline,
                     "n%zu: peer counters never settled (received %llu, want %zu):\n%s", quiet,
                     (unsigned long long)received, n_records, out);
        px_testd_poll_pause();
    }
    free(out);
    for (size_t i = 0; i < GRAPH_N; i++) {
        node_free(&nodes[i]);
    }
    free(nodes);
}

Test(converge, cut_bridge_then_rejoin)
{
    struct px_testnode *nodes = calloc(3, sizeof(*nodes)), *pa = &nodes[0], *pb = &nodes[1],
                       *pc = &nodes[2];
    struct px_testnode *all[] = {pa, pb, pc}, *ab[] = {pa, pc}, *ba[] = {pb};
    struct row rows[2];
    int64_t took, deadline;
    char *out = NULL;

    cr_assert_not_null(nodes);
    node_init(pa, "a");
    node_init(pb, "b");
    node_init(pc, "c");
    px_testnode_add_peer(pa, pb);
    px_testnode_add_peer(pb, pa);
    px_testnode_add_peer(pb, pc);
    px_testnode_add_peer(pc, pb);
    px_testnode_start(pa, NULL);
    px_testnode_start(pb, NULL);
    px_testnode_start(pc, NULL);
    px_testnode_publish(pa, "Before the cut", 0, NULL);
    px_testnode_wait_records(all, 3, 1, WAIT_MS, "converge");

    /* Cut: A and C are apart while B is down; each side gets a record of its own. */
    cr_assert_eq(px_testd_stop(&pb->d), 0);
    px_testnode_publish(pa, "Written at A during the cut", 0, NULL);
    px_testnode_publish(pc, "Written at C during the cut", 0, NULL);
    cr_assert_eq(px_testd_records(&pa->d), 2);
    cr_assert_eq(px_testd_records(&pc->d), 2);

    /* Rejoin: B comes back on the same directory and port, and both halves meet. */
    px_testd_restart(&pb->d);
    took = px_testnode_wait_records(all, 3, 3, WAIT_MS, "converge");
    cr_log_info("cut_bridge_then_rejoin: converged %lld ms after the bridge restarted",
                (long long)took);

    /*
     * B's counters start with its restart: one record from each side, each stored once.
     * A's row for B spans both of their links: it sent B two records and got one back.
     */
    deadline = px_testd_now_ms() + WAIT_MS;
    for (;;) {
        bool ok;

        free(out);
        out = read_peers(pb, ab, 2, rows);
        ok = rows[0].established && rows[1].established && rows[0].last_sync > 0 &&
             rows[1].last_sync > 0 && rows[0].received == 1 && rows[1].received == 1 &&
             rows[0].pending == 0 && rows[1].pending == 0;
        if (ok) {
            free(out);
            out = read_peers(pa, ba, 1, rows);
            ok = rows[0].established && rows[0].last_sync > 0 && rows[0].sent >= 2 &&
                 rows[0].received == 1 && rows[0].rejected == 0;
        }
        if (ok) {
            break;
        }
        cr_assert_lt(px_testd_now_ms(), deadline, "peer counters never settled:\n%s", out);
        px_testd_poll_pause();
    }
    free(out);
    for (size_t i = 0; i < 3; i++) {
        node_free(&nodes[i]);
    }
    free(nodes);
}
