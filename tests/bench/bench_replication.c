/* SPDX-License-Identifier: MIT */
/*
 * bench_replication.c - the replication suite: networks of real praxisd nodes on 127.0.0.1
 * exchanging the generated store (bench_corpus.h), and what the same work costs bare.
 *
 *   converge   N nodes (--nodes, default 10; 5 with --quick) in a seeded, connected random
 *              graph of degree 4 (the complete graph below 6 nodes); each node lists its
 *              neighbours as peers, with a network key of its own and accept_authors any.
 *              Once every link is up, R records (--converge-records, default 10,000; 1,000
 *              with --quick) each assigned to a random node go to that node as IMPORT
 *              requests of 256 over the local API, every node fed at once, up to 4 requests
 *              in flight each. Then every node is polled (its peer table, and its store's
 *              count at most once a second) until each holds all R, then until the peer
 *              counters settle (nothing pending, every record sent counted by its receiver).
 *                converge_n<N>_s               seconds from the first IMPORT until every
 *                                              node holds every record
 *                converge_n<N>_publish_s       of which until the last IMPORT was answered
 *                converge_n<N>_wire_bytes      bytes_out over every node's peer rows, the
 *                                              delta over the run, vs ideal_wire_bytes:
 *                                              the records' bytes x (N - 1)
 *                converge_n<N>_copies          records_received + duplicates over every
 *                                              node, vs ideal_payload_copies: R x (N - 1)
 *                converge_n<N>_cpu_s           CPU time of every daemon over the run
 *   ingest     A full node holding --records records (filled by IMPORT) and an empty node
 *              that lists it as its one peer. From the moment the empty node is ready, it
 *              is polled until it holds every record. In the same run, before the empty
 *              node starts (a catch-up cannot be cut into interleaved rounds), the same rows
 *              go into the bare SQLite table (bench_bare.h) and through
 *              crypto_sign_verify_detached on one thread:
 *                peer_ingest_records_per_s          vs bare_sqlite_fts5_insert_per_s
 *                peer_ingest_records_per_s_vs_verify vs sodium_verify_detached_per_s
 *                peer_ingest_cpu_us_per_record      both daemons' CPU, vs bare_cpu_us_per_record
 *                peer_ingest_wire_bytes             the empty node's bytes_in, vs the records'
 *                                                   bytes
 *
 * Every node gets a directory of its own under one temporary directory, with an identity
 * written from a fixed seed (so its key is known before it starts) and a config file; it
 * listens on a port chosen at run time just below the kernel's ephemeral range. Every wait
 * polls against a deadline. Every daemon is stopped (SIGTERM, a bounded wait, SIGKILL) and
 * the directory removed at the end, also when a step fails; PRAXIS_BENCH_KEEP=1 keeps the
 * directory, with each node's praxisd.log (at log level info) and store.
 *
 * Every option not named above keeps its default (sync_interval 60 s, the want caps, the
 * quotas), so the figures are those of a node as shipped. PRAXIS_BENCH_NETWORK_CONF adds
 * [network] lines to every node's config for experiments ("sync_interval = 5", ...).
 */
#include <sys/stat.h>

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "bench.h"
#include "bench_bare.h"
#include "bench_corpus.h"
#include "bench_praxisd.h"
#include "bench_report.h"
#include "bench_run.h"
#include "common/identity.h"
#include "protocol/api.h"
#include "protocol/buf.h"
#include "protocol/err.h"
#include "protocol/sign.h"
#include "util/ports.h"

#define CORPUS_SEED     UINT64_C(0x7072617869732d72)
#define GRAPH_SEED      UINT64_C(0x70726178697321)
#define ASSIGN_SEED     UINT64_C(0x61737369676e2121)
#define DEGREE          4
#define MAX_NODES       64 /* max_peers and the API's peer rows allow far more per node */
#define IMPORT_BATCH    PX_API_MAX_BATCH
#define IMPORT_INFLIGHT 4
#define POLL_MS         50 /* between two rounds of status polls */
#define LINKS_WAIT_MS   60000
#define IMPORT_WAIT_MS  600000
#define SETTLE_WAIT_MS  30000
/* Convergence and catch-up deadlines: a base plus a time per record (and node). */
#define CONVERGE_BASE_MS       120000
#define CONVERGE_PER_RECORD_US 1000 /* per record and node */
#define INGEST_BASE_MS         120000
#define INGEST_PER_RECORD_MS   20

/* The network key of the bench's networks: not the main network's, so no node of ours
 * could ever talk to a real one. */
static const char network_key[] =
    "70726178697320626568636820696e6720626e6574776f726b206b657920212a";

struct pending {
    uint64_t seq;
    uint32_t n;
};

struct node {
    char dir[4200];
    char conf[4300];
    uint8_t pk[PX_SIGN_PUBLICKEYBYTES];
    char key[2 * PX_SIGN_PUBLICKEYBYTES + 1];
    uint16_t port;
    struct bench_praxisd *d;
    struct bench_conn *c;
    /* The records this node publishes: indexes into the corpus. */
    size_t *assigned; /* indexes of the records this node imports */
    size_t n_assigned, next;
    struct pending inflight[IMPORT_INFLIGHT];
    size_t n_inflight;
    bool done;               /* holds every record */
    uint64_t last_status_ms; /* when its store was last counted */
};

/* A node's peer rows, summed. */
struct counters {
    uint64_t bytes_in, bytes_out, received, duplicates, rejected, pending, sent;
    size_t rows, established; /* rows, and distinct peers with an established link */
    uint64_t links; /* a checksum of the established links (key and since), to see churn */
};

struct rbench {
    const struct bench_opts *opts;
    struct bench_corpus *corpus;
    char dir[4096];
    bool have_dir;
    char exe[4200];
    struct px_api_request *req;
    struct node *nodes;
    size_t n_nodes;
    uint16_t ports[MAX_NODES + 2]; /* every port handed out in this run */
    size_t n_ports;
    volatile uint64_t sink;
};

static double
seconds_since(uint64_t t0)
{
    return (double)(bench_run_now_ns() - t0) / 1e9;
}

static uint64_t
now_ms(void)
{
    return bench_run_now_ns() / 1000000;
}

static void
sleep_ms(unsigned ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* xorshift64*: the same graph and assignment on every run. */
static uint64_t
next_rand(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * UINT64_C(2685821657736338717);
}

/* ---- Ports ---- */

/*
 * A port for a node to listen on (as in tests/integration/test_converge.c): one just below
 * the kernel's ephemeral range, distinct from the others of this run (see ports.h), as the
 * nodes dial each other while they start; a port the kernel picks is the fallback.
 */
static uint16_t
listen_port(struct rbench *b)
{
    uint16_t port = px_ports_below_ephemeral(b->ports, &b->n_ports,
                                             sizeof(b->ports) / sizeof(b->ports[0]), 500);

    return port != 0 ? port : px_ports_kernel();
}

/* ---- Nodes ---- */

/*
 * Makes the node's directories and its identity from a fixed seed (so its key is known
 * before it starts), and picks its port. 0 or -1.
 */
static int
node_init(struct rbench *b, struct node *n, const char *name, unsigned no)
{
    uint8_t seed[PX_SIGN_SEEDBYTES];
    struct px_identity id;
    char path[4300];
    int rc;

    if ((size_t)snprintf(n->dir, sizeof(n->dir), "%s/%s", b->dir, name) >= sizeof(n->dir) ||
        (size_t)snprintf(n->conf, sizeof(n->conf), "%s/praxisd.conf", n->dir) >= sizeof(n->conf)) {
        fprintf(stderr, "praxis-bench: path too long\n");
        return -1;
    }
    snprintf(path, sizeof(path), "%s/data", n->dir);
    if (mkdir(n->dir, 0700) != 0 || mkdir(path, 0700) != 0) {
        fprintf(stderr, "praxis-bench: mkdir %s: %s\n", path, strerror(errno));
        return -1;
    }
    crypto_generichash(seed, sizeof(seed), (const uint8_t *)name, strlen(name),
                       (const uint8_t *)"praxis-bench node", 17);
    seed[0] ^= (uint8_t)no;
    if ((rc = px_identity_from_seed(&id, seed)) != 0) {
        fprintf(stderr, "praxis-bench: node identity: %s\n", px_strerror(rc));
        return -1;
    }
    memcpy(n->pk, id.pk, sizeof(n->pk));
    px_hex_encode(n->pk, sizeof(n->pk), n->key);
    snprintf(path, sizeof(path), "%s/data/identity", n->dir);
    rc = px_identity_save(path, &id);
    px_identity_wipe(&id);
    sodium_memzero(seed, sizeof(seed));
    if (rc != 0) {
        fprintf(stderr, "praxis-bench: %s: %s\n", path, px_strerror(rc));
        return -1;
    }
    if ((n->port = listen_port(b)) == 0) {
        fprintf(stderr, "praxis-bench: no free port on 127.0.0.1\n");
        return -1;
    }
    return 0;
}

/*
 * Writes the node's config file: its listen address, the peers peers[0..np), and whatever
 * PRAXIS_BENCH_NETWORK_CONF adds. 0 or -1.
 */
static int
node_write_config(const struct node *n, struct node *const *peers, size_t np, bool accept_unknown)
{
    const char *extra = getenv("PRAXIS_BENCH_NETWORK_CONF");
    FILE *f = fopen(n->conf, "w");
    int bad;

    if (f == NULL) {
        fprintf(stderr, "praxis-bench: %s: %s\n", n->conf, strerror(errno));
        return -1;
    }
    fprintf(f,
            "[policy]\naccept_authors = any\n\n[network]\nlisten = 127.0.0.1:%u\n"
            "network_key = %s\naccept_unknown_peers = %s\n",
            n->port, network_key, accept_unknown ? "yes" : "no");
    for (size_t i = 0; i < np; i++) {
        fprintf(f, "peer = 127.0.0.1:%u %s\n", peers[i]->port, peers[i]->key);
    }
    /* Extra [network] options for experiments, e.g. "sync_interval = 5; max_pending_wants
     * = 16384": one option per ';'-separated part. praxisd checks them as usual. */
    if (extra != NULL) {
        for (const char *p = extra; *p != '\0';) {
            size_t len = strcspn(p, ";");

            fprintf(f, "%.*s\n", (int)len, p);
            p += len;
            p += *p == ';';
        }
    }
    bad = ferror(f);
    if (fclose(f) != 0 || bad) {
        fprintf(stderr, "praxis-bench: writing %s failed\n", n->conf);
        return -1;
    }
    return 0;
}

static int
node_start(struct rbench *b, struct node *n)
{
    struct bench_praxisd_opts o = {.config = n->conf, .listen = NULL, .log_level = "info"};

    if ((n->d = bench_praxisd_start_opts(b->exe, n->dir, &o)) == NULL ||
        (n->c = bench_conn_open(n->d)) == NULL) {
        return -1;
    }
    return 0;
}

/* Stops the node (if it runs) and frees what it holds. 0, or -1 when it ended badly. */
static int
node_stop(struct node *n)
{
    int rc;

    bench_conn_close(n->c);
    n->c = NULL;
    rc = bench_praxisd_stop(n->d);
    n->d = NULL;
    free(n->assigned);
    n->assigned = NULL;
    return rc;
}

/* The node's record count (status). */
static int
node_records(struct node *n, uint64_t *records)
{
    const struct px_api_response *res;

    if (bench_conn_call(n->c, PX_API_STATUS, &res) != 0 || !res->has_status) {
        fprintf(stderr, "praxis-bench: no status from %s\n", n->dir);
        return -1;
    }
    *records = res->status.records;
    return 0;
}

/* Adds up the node's peer rows into *c (zeroed first); when why is set, the first
 * non-empty last_error is copied there. */
static int
node_counters(struct node *n, struct counters *c, char *why, size_t why_cap)
{
    const struct px_api_response *res;

    memset(c, 0, sizeof(*c));
    if (bench_conn_call(n->c, PX_API_PEERS, &res) != 0 || !res->has_peers) {
        fprintf(stderr, "praxis-bench: no peer table from %s\n", n->dir);
        return -1;
    }
    c->rows = res->n_peers;
    for (uint32_t i = 0; i < res->n_peers; i++) {
        const struct px_api_peer *p = &res->peers[i];
        bool again = false;

        c->bytes_in += p->bytes_in;
        c->bytes_out += p->bytes_out;
        c->received += p->records_received;
        c->duplicates += p->duplicates;
        c->rejected += p->rejected;
        c->pending += p->pending_wants;
        c->sent += p->records_sent;
        if (p->state.len == 11 && memcmp(p->state.p, "established", 11) == 0) {
            /* Two links to one peer (both dialed at once) count once. */
            for (uint32_t j = 0; j < i && !again; j++) {
                again = res->peers[j].state.len == 11 &&
                        memcmp(res->peers[j].state.p, "established", 11) == 0 &&
                        memcmp(res->peers[j].public_key, p->public_key, sizeof(p->public_key)) == 0;
            }
            c->established += !again;
            c->links += (p->since_ms ^ ((uint64_t)p->public_key[0] << 56)) * 0x9e3779b97f4a7c15u;
        }
        if (why != NULL && why[0] == '\0' && p->last_error.len > 0) {
            snprintf(why, why_cap, "%.*s", (int)p->last_error.len, p->last_error.p);
        }
    }
    return 0;
}

static void
counters_add(struct counters *sum, const struct counters *c)
{
    sum->bytes_in += c->bytes_in;
    sum->bytes_out += c->bytes_out;
    sum->received += c->received;
    sum->duplicates += c->duplicates;
    sum->rejected += c->rejected;
    sum->pending += c->pending;
    sum->sent += c->sent;
    sum->established += c->established;
    sum->links += c->links;
}

static int
all_counters(struct rbench *b, struct counters *sum)
{
    memset(sum, 0, sizeof(*sum));
    for (size_t i = 0; i < b->n_nodes; i++) {
        struct counters c;

        if (node_counters(&b->nodes[i], &c, NULL, 0) != 0) {
            return -1;
        }
        counters_add(sum, &c);
    }
    return 0;
}

static double
all_cpu_seconds(const struct rbench *b)
{
    double sum = 0;

    for (size_t i = 0; i < b->n_nodes; i++) {
        double s = bench_praxisd_cpu_seconds(b->nodes[i].d);

        sum += s > 0 ? s : 0;
    }
    return sum;
}

/* ---- Publishing ---- */

/* Sends node n's next batch of records. */
static int
send_batch(struct rbench *b, struct node *n)
{
    uint32_t k =
        n->n_assigned - n->next > IMPORT_BATCH ? IMPORT_BATCH : (uint32_t)(n->n_assigned - n->next);

    memset(b->req, 0, sizeof(*b->req));
    b->req->op = PX_API_IMPORT;
    for (uint32_t i = 0; i < k; i++) {
        const struct bench_doc *d = &b->corpus->docs[n->assigned[n->next + i]];

        b->req->records[i] = d->raw;
        b->req->record_lens[i] = d->len;
    }
    b->req->n_records = k;
    if (bench_conn_send(n->c, b->req) != 0) {
        return -1;
    }
    n->inflight[n->n_inflight++] = (struct pending){b->req->seq, k};
    n->next += k;
    return 0;
}

/* Reads one import answer from n and checks that every record of its batch was stored. */
static int
recv_answer(struct node *n)
{
    const struct px_api_response *res;
    size_t k;

    if (bench_conn_recv(n->c, &res) != 0) {
        return -1;
    }
    for (k = 0; k < n->n_inflight && n->inflight[k].seq != res->seq; k++) {
    }
    if (k == n->n_inflight) {
        fprintf(stderr, "praxis-bench: %s: an answer for seq %llu, which is not pending\n", n->dir,
                (unsigned long long)res->seq);
        return -1;
    }
    if (res->code != 0 || res->accepted != n->inflight[k].n || res->n_rejected != 0) {
        fprintf(stderr,
                "praxis-bench: %s: import of %u records: code %s (%.*s), %u accepted, %u "
                "duplicates, %u rejected (first: %s)\n",
                n->dir, n->inflight[k].n, px_err_name(res->code), (int)res->error.len, res->error.p,
                res->accepted, res->duplicates, res->n_rejected,
                res->n_rejected > 0 ? px_err_name(res->rejected[0].code) : "-");
        return -1;
    }
    n->inflight[k] = n->inflight[--n->n_inflight];
    return 0;
}

/*
 * Imports every node's assigned records into it, all nodes at once, IMPORT_INFLIGHT batches in
 * flight per node, as fast as they answer.
 */
static int
publish_all(struct rbench *b, struct node *nodes, size_t n_nodes)
{
    struct pollfd *pfd = calloc(n_nodes, sizeof(*pfd));
    size_t *who = calloc(n_nodes, sizeof(*who));
    uint64_t deadline = now_ms() + IMPORT_WAIT_MS, batches = 0;
    int rc = -1;

    if (pfd == NULL || who == NULL) {
        fprintf(stderr, "praxis-bench: out of memory\n");
        goto out;
    }
    for (size_t i = 0; i < n_nodes; i++) {
        batches += nodes[i].n_assigned / IMPORT_BATCH + 1;
    }
    /* Each pass answers at least one batch, or waits up to a second: bounded both ways. */
    for (uint64_t pass = 0; pass < 4 * batches + IMPORT_WAIT_MS / 1000; pass++) {
        size_t np = 0;
        bool busy = false, ready = false;

        for (size_t i = 0; i < n_nodes; i++) {
            struct node *n = &nodes[i];

            while (n->n_inflight < IMPORT_INFLIGHT && n->next < n->n_assigned) {
                if (send_batch(b, n) != 0) {
                    goto out;
                }
            }
            if (n->n_inflight > 0) {
                busy = true;
                if (bench_conn_has_frame(n->c)) {
                    if (recv_answer(n) != 0) {
                        goto out;
                    }
                    ready = true;
                } else {
                    pfd[np] = (struct pollfd){.fd = bench_conn_fd(n->c), .events = POLLIN};
                    who[np++] = i;
                }
            }
        }
        if (!busy) {
            rc = 0;
            goto out;
        }
        if (now_ms() > deadline) {
            break;
        }
        if (ready || np == 0) {
            continue;
        }
        if (poll(pfd, np, 1000) < 0 && errno != EINTR) {
            fprintf(stderr, "praxis-bench: poll: %s\n", strerror(errno));
            goto out;
        }
        for (size_t k = 0; k < np; k++) {
            if (pfd[k].revents != 0 && recv_answer(&nodes[who[k]]) != 0) {
                goto out;
            }
        }
    }
    fprintf(stderr, "praxis-bench: the imports did not finish within %d s\n",
            IMPORT_WAIT_MS / 1000);
out:
    free(pfd);
    free(who);
    return rc;
}

/*
 * Has node n (which published its own assigned records) received the rest of want records? The
 * peer table answers from memory, so it is what is polled; when its count (records stored
 * from peers) says so, the store's own count (STATUS runs SQL counts, which would load the
 * nodes if polled as often) decides. The peer rows are meant to keep counting across
 * reconnections, but they lose what a link dropped for a protocol error received, so the
 * store is also counted once a second whatever the rows say. A link error is printed when
 * it first shows, to *seen (cap bytes).
 */
static int
node_holds(struct node *n, uint64_t want, bool *holds, char *seen, size_t cap)
{
    char why[PX_API_MAX_PEER_ERROR + 1] = "";
    struct counters c;
    uint64_t got;

    *holds = false;
    if (node_counters(n, &c, why, sizeof(why)) != 0) {
        return -1;
    }
    if (why[0] != '\0' && strcmp(why, seen) != 0) {
        fprintf(stderr, "praxis-bench: %s: a link failed with %llu records received: %s\n", n->dir,
                (unsigned long long)c.received, why);
        snprintf(seen, cap, "%s", why);
    }
    if (n->n_assigned + c.received < want && now_ms() - n->last_status_ms < 1000) {
        return 0;
    }
    n->last_status_ms = now_ms();
    if (node_records(n, &got) != 0) {
        return -1;
    }
    *holds = got >= want;
    return 0;
}

/*
 * Polls every node that does not hold want records yet until all do, or the deadline.
 * Returns 0, or -1 after naming the laggards.
 */
static int
wait_all_hold(struct rbench *b, uint64_t want, uint64_t deadline)
{
    char seen[PX_API_MAX_PEER_ERROR + 1] = "";
    size_t left = 0;

    for (size_t i = 0; i < b->n_nodes; i++) {
        b->nodes[i].done = false;
        left++;
    }
    while (left > 0) {
        for (size_t i = 0; i < b->n_nodes; i++) {
            struct node *n = &b->nodes[i];

            if (n->done) {
                continue;
            }
            if (node_holds(n, want, &n->done, seen, sizeof(seen)) != 0) {
                return -1;
            }
            left -= n->done;
        }
        if (left == 0) {
            break;
        }
        if (now_ms() > deadline) {
            for (size_t i = 0; i < b->n_nodes; i++) {
                uint64_t got = 0;

                if (!b->nodes[i].done && node_records(&b->nodes[i], &got) == 0) {
                    fprintf(stderr, "praxis-bench: %s holds %llu of %llu records\n",
                            b->nodes[i].dir, (unsigned long long)got, (unsigned long long)want);
                }
            }
            fprintf(stderr, "praxis-bench: %zu nodes did not converge in time\n", left);
            return -1;
        }
        /* A poll costs each node a little: with many nodes, poll each less often. */
        sleep_ms(left * 5 > POLL_MS ? (unsigned)left * 5 : POLL_MS);
    }
    return 0;
}

/* ---- Graph ---- */

static bool
graph_connected(const bool *adj, size_t n)
{
    bool seen[MAX_NODES] = {true};
    size_t stack[MAX_NODES] = {0}, top = 1, count = 1;

    while (top > 0) {
        size_t v = stack[--top];

        for (size_t w = 0; w < n; w++) {
            if (adj[v * n + w] && !seen[w]) {
                seen[w] = true;
                stack[top++] = w;
                count++;
            }
        }
    }
    return count == n;
}

/*
 * A simple connected DEGREE-regular graph on n nodes (adj is n x n), by the pairing model:
 * shuffle DEGREE edge ends per node, pair them in order, and start over on a loop, a
 * double edge or a disconnected result (DEGREE is even, so the ends pair
 * up). Below DEGREE + 2 nodes: the complete graph. 0 or -1.
 */
_Static_assert(DEGREE % 2 == 0, "random_graph pairs edge ends: DEGREE must be even");

static int
random_graph(size_t n, bool *adj)
{
    size_t ends[MAX_NODES * DEGREE];
    uint64_t s = GRAPH_SEED;

    if (n <= DEGREE + 1) {
        for (size_t i = 0; i < n * n; i++) {
            adj[i] = i / n != i % n;
        }
        return 0;
    }
    for (unsigned attempt = 0; attempt < 100000; attempt++) {
        bool ok = true;

        memset(adj, 0, n * n * sizeof(bool));
        for (size_t i = 0; i < n * DEGREE; i++) {
            ends[i] = i / DEGREE;
        }
        for (size_t i = n * DEGREE - 1; i > 0; i--) {
            size_t j = (size_t)(next_rand(&s) % (i + 1)), t = ends[i];

            ends[i] = ends[j];
            ends[j] = t;
        }
        for (size_t i = 0; i < n * DEGREE && ok; i += 2) {
            size_t x = ends[i], y = ends[i + 1];

            ok = x != y && !adj[x * n + y];
            adj[x * n + y] = adj[y * n + x] = true;
        }
        if (ok && graph_connected(adj, n)) {
            return 0;
        }
    }
    fprintf(stderr, "praxis-bench: no connected %d-regular graph on %zu nodes found\n", DEGREE, n);
    return -1;
}

/* ---- Set-up and tear-down ---- */

/* A fresh temporary directory for one network. */
static int
make_dir(struct rbench *b)
{
    if (bench_workdir_make(b->dir, sizeof(b->dir)) != 0) {
        return -1;
    }
    b->have_dir = true;
    b->n_ports = 0;
    return 0;
}

/* Stops every node and removes the directory (unless PRAXIS_BENCH_KEEP). 0 or -1. */
static int
tear_down(struct rbench *b)
{
    int rc = 0;

    for (size_t i = 0; i < b->n_nodes; i++) {
        if (node_stop(&b->nodes[i]) != 0) {
            rc = -1;
        }
    }
    free(b->nodes);
    b->nodes = NULL;
    b->n_nodes = 0;
    if (b->have_dir) {
        bench_workdir_done(b->dir);
    }
    b->have_dir = false;
    return rc;
}

static int
alloc_nodes(struct rbench *b, size_t n)
{
    if ((b->nodes = calloc(n, sizeof(*b->nodes))) == NULL) {
        fprintf(stderr, "praxis-bench: out of memory\n");
        return -1;
    }
    b->n_nodes = n;
    return 0;
}

/* ---- converge ---- */

/* Polls until every node has want established links. */
static int
wait_links(struct rbench *b, const size_t *want)
{
    uint64_t deadline = now_ms() + LINKS_WAIT_MS;

    for (;;) {
        size_t short_of = b->n_nodes;

        for (size_t i = 0; i < b->n_nodes; i++) {
            struct counters c;

            if (node_counters(&b->nodes[i], &c, NULL, 0) != 0) {
                return -1;
            }
            /* Every neighbour linked once, and no other row (a second link, a dial). */
            if (c.established == want[i] && c.rows == want[i]) {
                short_of--;
            }
        }
        if (short_of == 0) {
            return 0;
        }
        if (now_ms() > deadline) {
            fprintf(stderr, "praxis-bench: %zu nodes lack links after %d s\n", short_of,
                    LINKS_WAIT_MS / 1000);
            return -1;
        }
        sleep_ms(POLL_MS);
    }
}

/*
 * Polls the peer tables until the copies that were on the way at convergence are counted
 * too: nothing is pending, and every record a node sent has been counted by its receiver
 * (stored, duplicate or rejected). Should that never balance (a link lost a batch), the
 * counters standing still for a second will do.
 */
static int
settle(struct rbench *b, struct counters *end)
{
    uint64_t deadline = now_ms() + SETTLE_WAIT_MS, last = UINT64_MAX;
    unsigned still = 0;

    for (;;) {
        uint64_t got;

        if (all_counters(b, end) != 0) {
            return -1;
        }
        got = end->received + end->duplicates + end->rejected;
        still = got == last ? still + 1 : 0;
        if (end->pending == 0 && (got == end->sent || still >= 5)) {
            if (got != end->sent) {
                fprintf(stderr,
                        "praxis-bench: %llu records sent, %llu counted by their receivers\n",
                        (unsigned long long)end->sent, (unsigned long long)got);
            }
            return 0;
        }
        if (now_ms() > deadline) {
            fprintf(stderr, "praxis-bench: the counters did not settle (%llu wants pending)\n",
                    (unsigned long long)end->pending);
            return 0; /* report what there is */
        }
        last = got;
        sleep_ms(4 * POLL_MS);
    }
}

static int
run_converge_n(struct rbench *b, size_t nn, size_t records, struct bench_report *rep)
{
    bool *adj = calloc(nn * nn, sizeof(bool));
    size_t *degree = calloc(nn, sizeof(size_t));
    struct node *peers[MAX_NODES];
    struct counters start, end;
    uint64_t s = ASSIGN_SEED, t0, deadline, record_bytes = 0;
    double t_publish, t_all, cpu0, cpu, ideal_bytes, ideal_copies;
    char name[64], name2[64];
    int rc = -1;

    if (adj == NULL || degree == NULL || make_dir(b) != 0 || alloc_nodes(b, nn) != 0 ||
        random_graph(nn, adj) != 0) {
        goto out;
    }
    fprintf(stderr, "praxis-bench: replication: %zu nodes, %zu records, in %s\n", nn, records,
            b->dir);
    for (size_t i = 0; i < nn; i++) {
        char nm[32];

        snprintf(nm, sizeof(nm), "n%zu", i);
        if (node_init(b, &b->nodes[i], nm, (unsigned)i) != 0) {
            goto out;
        }
    }
    for (size_t i = 0; i < nn; i++) {
        size_t np = 0;

        for (size_t j = 0; j < nn; j++) {
            if (adj[i * nn + j]) {
                peers[np++] = &b->nodes[j];
            }
        }
        degree[i] = np;
        if (node_write_config(&b->nodes[i], peers, np, false) != 0 ||
            (b->nodes[i].assigned = calloc(records + 1, sizeof(size_t))) == NULL) {
            goto out;
        }
    }
    for (size_t r = 0; r < records; r++) {
        struct node *n = &b->nodes[next_rand(&s) % nn];

        n->assigned[n->n_assigned++] = r;
        record_bytes += b->corpus->docs[r].len;
    }
    for (size_t i = 0; i < nn; i++) {
        if (node_start(b, &b->nodes[i]) != 0) {
            goto out;
        }
    }
    if (wait_links(b, degree) != 0 || all_counters(b, &start) != 0) {
        goto out;
    }
    fprintf(stderr, "praxis-bench: replication: every link is up; publishing\n");
    cpu0 = all_cpu_seconds(b);
    t0 = bench_run_now_ns();
    if (publish_all(b, b->nodes, nn) != 0) {
        goto out;
    }
    t_publish = seconds_since(t0);
    deadline = now_ms() + CONVERGE_BASE_MS + (uint64_t)records * nn * CONVERGE_PER_RECORD_US / 1000;
    if (wait_all_hold(b, records, deadline) != 0) {
        goto out;
    }
    t_all = seconds_since(t0);
    cpu = all_cpu_seconds(b) - cpu0;
    if (settle(b, &end) != 0) {
        goto out;
    }
    if (end.links != start.links || end.established != start.established) {
        fprintf(stderr,
                "praxis-bench: replication: links changed during the run (%zu established at "
                "the start, %zu at the end): the bytes of closed ones are not counted\n",
                start.established, end.established);
    }
    ideal_bytes = (double)record_bytes * (double)(nn - 1);
    ideal_copies = (double)records * (double)(nn - 1);
    fprintf(stderr,
            "praxis-bench: replication: %zu nodes: converged in %.2f s (publish %.2f s); "
            "wire %llu bytes out, %llu in; %llu stored from peers, %llu duplicates, %llu "
            "rejected, %llu sent; CPU %.1f s\n",
            nn, t_all, t_publish, (unsigned long long)(end.bytes_out - start.bytes_out),
            (unsigned long long)(end.bytes_in - start.bytes_in),
            (unsigned long long)(end.received - start.received),
            (unsigned long long)(end.duplicates - start.duplicates),
            (unsigned long long)(end.rejected - start.rejected),
            (unsigned long long)(end.sent - start.sent), cpu);
    snprintf(name, sizeof(name), "converge_n%zu_s", nn);
    bench_report_value(rep, name, t_all, "s", NULL, 0);
    snprintf(name, sizeof(name), "converge_n%zu_publish_s", nn);
    bench_report_value(rep, name, t_publish, "s", NULL, 0);
    snprintf(name, sizeof(name), "converge_n%zu_wire_bytes", nn);
    bench_report_value(rep, name, (double)(end.bytes_out - start.bytes_out), "bytes",
                       "ideal_wire_bytes", ideal_bytes);
    snprintf(name2, sizeof(name2), "converge_n%zu_copies", nn);
    bench_report_value(rep, name2,
                       (double)(end.received + end.duplicates - start.received - start.duplicates),
                       "records", "ideal_payload_copies", ideal_copies);
    snprintf(name, sizeof(name), "converge_n%zu_cpu_s", nn);
    bench_report_value(rep, name, cpu, "s", NULL, 0);
    rc = 0;
out:
    if (tear_down(b) != 0) {
        rc = -1;
    }
    free(adj);
    free(degree);
    return rc;
}

static int
run_converge(struct rbench *b, struct bench_report *rep)
{
    const struct bench_opts *o = b->opts;
    size_t records = o->converge_records;

    for (unsigned i = 0; i < o->n_nodes; i++) {
        if (run_converge_n(b, o->nodes[i], records, rep) != 0) {
            return -1;
        }
    }
    return 0;
}

/* ---- ingest ---- */

static double
thread_cpu_seconds(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int
verify_raw(struct rbench *b, size_t n)
{
    const struct bench_corpus *c = b->corpus;

    for (size_t i = 0; i < n; i++) {
        const struct bench_doc *d = &c->docs[i];

        if (crypto_sign_verify_detached(d->raw + d->len - PX_SIGN_BYTES, d->raw, d->signed_len,
                                        c->pk[d->author]) != 0) {
            fprintf(stderr, "praxis-bench: record %zu does not verify\n", i);
            return -1;
        }
        b->sink++;
    }
    return 0;
}

/* Polls the empty node until it holds want records. */
static int
wait_ingest(struct node *e, uint64_t want, uint64_t deadline)
{
    char seen[PX_API_MAX_PEER_ERROR + 1] = "";
    uint64_t got = 0;
    bool holds = false;

    for (;;) {
        if (node_holds(e, want, &holds, seen, sizeof(seen)) != 0) {
            return -1;
        }
        if (holds) {
            return 0;
        }
        if (now_ms() > deadline) {
            node_records(e, &got);
            fprintf(stderr, "praxis-bench: ingest: the empty node holds %llu of %llu records\n",
                    (unsigned long long)got, (unsigned long long)want);
            return -1;
        }
        sleep_ms(POLL_MS);
    }
}

static int
run_ingest(struct rbench *b, struct bench_report *rep)
{
    size_t n = b->opts->records;
    struct node *full, *empty;
    struct bench_bare *bare = NULL;
    struct counters c;
    uint64_t t0, record_bytes = 0;
    double t_fill, t_bare, t_verify, t_ingest, cpu_bare, cpu0_full, cpu0_empty, cpu_ours;
    char path[4200];
    int rc = -1;

    if (make_dir(b) != 0 || alloc_nodes(b, 2) != 0) {
        goto out;
    }
    full = &b->nodes[0];
    empty = &b->nodes[1];
    fprintf(stderr, "praxis-bench: replication: ingest of %zu records, in %s\n", n, b->dir);
    if (node_init(b, full, "full", 0) != 0 || node_init(b, empty, "empty", 1) != 0 ||
        node_write_config(full, NULL, 0, true) != 0 ||
        node_write_config(empty, &full, 1, false) != 0 ||
        (full->assigned = calloc(n, sizeof(size_t))) == NULL) {
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        full->assigned[i] = i;
        record_bytes += b->corpus->docs[i].len;
    }
    full->n_assigned = n;
    if (node_start(b, full) != 0) {
        goto out;
    }
    t0 = bench_run_now_ns();
    if (publish_all(b, full, 1) != 0) {
        goto out;
    }
    t_fill = seconds_since(t0);
    fprintf(stderr, "praxis-bench: ingest: the full node took %zu records in %.1f s\n", n, t_fill);
    snprintf(path, sizeof(path), "%s/bare.db", b->dir);
    if ((bare = bench_bare_open(path)) == NULL) {
        goto out;
    }
    cpu_bare = thread_cpu_seconds();
    t0 = bench_run_now_ns();
    if (bench_bare_insert(bare, b->corpus->docs, n) != 0) {
        goto out;
    }
    t_bare = seconds_since(t0);
    cpu_bare = thread_cpu_seconds() - cpu_bare;
    t0 = bench_run_now_ns();
    if (verify_raw(b, n) != 0) {
        goto out;
    }
    t_verify = seconds_since(t0);
    cpu0_full = bench_praxisd_cpu_seconds(full->d);
    if (node_start(b, empty) != 0) {
        goto out;
    }
    cpu0_empty = bench_praxisd_cpu_seconds(empty->d);
    t0 = bench_run_now_ns();
    if (wait_ingest(empty, n, now_ms() + INGEST_BASE_MS + (uint64_t)n * INGEST_PER_RECORD_MS) !=
        0) {
        goto out;
    }
    t_ingest = seconds_since(t0);
    cpu_ours = bench_praxisd_cpu_seconds(full->d) - cpu0_full +
               bench_praxisd_cpu_seconds(empty->d) - cpu0_empty;
    if (node_counters(empty, &c, NULL, 0) != 0) {
        goto out;
    }
    fprintf(stderr,
            "praxis-bench: ingest: %zu records in %.2f s; bare insert %.2f s, verify %.2f s; "
            "empty node: %llu bytes in, %llu out, %llu stored, %llu duplicates\n",
            n, t_ingest, t_bare, t_verify, (unsigned long long)c.bytes_in,
            (unsigned long long)c.bytes_out, (unsigned long long)c.received,
            (unsigned long long)c.duplicates);
    bench_report_value(rep, "peer_ingest_records", (double)n, "records", NULL, 0);
    bench_report_value(rep, "peer_ingest_records_per_s", (double)n / t_ingest, "records/s",
                       "bare_sqlite_fts5_insert_per_s", (double)n / t_bare);
    bench_report_value(rep, "bare_sqlite_fts5_insert_per_s", (double)n / t_bare, "records/s", NULL,
                       0);
    bench_report_value(rep, "peer_ingest_records_per_s_vs_verify", (double)n / t_ingest,
                       "records/s", "sodium_verify_detached_per_s", (double)n / t_verify);
    bench_report_value(rep, "sodium_verify_detached_per_s", (double)n / t_verify, "records/s", NULL,
                       0);
    bench_report_value(rep, "peer_ingest_cpu_us_per_record", 1e6 * cpu_ours / (double)n, "us",
                       "bare_cpu_us_per_record", 1e6 * cpu_bare / (double)n);
    bench_report_value(rep, "peer_ingest_wire_bytes", (double)c.bytes_in, "bytes",
                       "ideal_wire_bytes", (double)record_bytes);
    rc = 0;
out:
    bench_bare_close(bare);
    if (tear_down(b) != 0) {
        rc = -1;
    }
    return rc;
}

int
bench_replication_run(const struct bench_opts *opts, struct bench_report *rep)
{
    struct rbench *b = calloc(1, sizeof(*b));
    size_t need = 0;
    int rc = -1;

    if (b == NULL || (b->req = calloc(1, sizeof(*b->req))) == NULL) {
        fprintf(stderr, "praxis-bench: out of memory\n");
        free(b);
        return -1;
    }
    b->opts = opts;
    snprintf(b->exe, sizeof(b->exe), "%s/praxisd", opts->bin_dir);
    if (bench_wants(opts, "converge")) {
        need = opts->converge_records;
    }
    if (bench_wants(opts, "ingest") && opts->records > need) {
        need = opts->records;
    }
    /* One corpus for both groups: record i is the same whatever the count. */
    fprintf(stderr, "praxis-bench: replication: generating %zu records\n", need);
    if ((b->corpus = bench_corpus_new(CORPUS_SEED, need)) == NULL) {
        goto out;
    }
    if (bench_wants(opts, "converge") && run_converge(b, rep) != 0) {
        goto out;
    }
    if (bench_wants(opts, "ingest") && run_ingest(b, rep) != 0) {
        goto out;
    }
    rc = 0;
out:
    bench_corpus_free(b->corpus);
    free(b->req);
    free(b);
    return rc;
}
