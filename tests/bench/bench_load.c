/* SPDX-License-Identifier: MIT */
/*
 * bench_load.c - the load suite: one praxisd under sustained, honest load for minutes.
 *
 * One praxisd listens on 127.0.0.1 (a port picked at run time) with a network key of the
 * bench's own, accept_unknown_peers = yes, accept_authors = any and max_peers = P + 16;
 * every other option keeps its default (quotas, want caps, sync_interval). P peers (64;
 * PRAXIS_BENCH_LOAD_PEERS) connect to it from this process, each a member with a key of
 * its own, through tests/util/rawpeer's core (the real secret handshake, box-stream and
 * wire messages), all driven from this one thread with poll(). Each sends its hello and
 * answers pings; none ever starts a reconciliation (they dial, so the daemon is in the
 * server role and never starts one either).
 *
 * For D seconds (300; 20 with --quick; PRAXIS_BENCH_LOAD_SECONDS) new signed records of
 * the bench corpus (bench_corpus.h, ~2.5 KB each) are pushed at R records/s (200;
 * PRAXIS_BENCH_LOAD_RATE) the way a member pushes: record k goes to peer k mod P, which
 * announces its id; when the daemon wants it, the peer answers with a records message.
 * (A record announced and not wanted within REANNOUNCE_MS, because the daemon ignored an
 * announce over its per-peer lookup limit, is announced again; the count is reported.)
 *
 * Measured:
 *   latency   from the announce to the daemon having stored the record, seen as the first
 *             announce of its id that the daemon sends to any of the other peers (it
 *             announces each stored record to every peer but its origin, from the store's
 *             commit hook, before it answers anyone): p50 and p99 over the run, and per
 *             window of 60 s (D / 4 below 120 s) by announce time;
 *   RSS       VmRSS of /proc/PID/status every second during the D seconds: the value at
 *             the end of the warm-up (60 s; D / 4 below 240 s; PRAXIS_BENCH_LOAD_WARMUP),
 *             the largest after it, and the least-squares slope after it in MiB a minute;
 *             and the peak (VmHWM) at the end;
 *   CPU       the daemon's CPU time from the first announce until every record is stored,
 *             per record, beside crypto_sign_verify_detached per record (one thread, the
 *             first VERIFY_RECORDS records, the fastest of VERIFY_PASSES passes, timed
 *             before the run);
 *   rate      records stored / seconds from the first announce until the last is stored,
 *             beside the offered rate; and that every record was stored exactly once (the
 *             store's count grew by exactly the records sent, every record was seen stored,
 *             and the peer table shows no duplicate and no rejected record).
 *
 * Every wait is bounded. The daemon is stopped and its directory removed on every path;
 * PRAXIS_BENCH_KEEP=1 keeps the directory (praxisd.log at log level info, the store).
 */
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "bench.h"
#include "bench_corpus.h"
#include "bench_praxisd.h"
#include "bench_report.h"
#include "bench_run.h"
#include "common/identity.h"
#include "protocol/api.h"
#include "protocol/buf.h"
#include "protocol/err.h"
#include "protocol/sign.h"
#include "protocol/wire.h"
#include "util/ports.h"
#include "util/rawpeer.h"

#define CORPUS_SEED     UINT64_C(0x6c6f61642d62656e)
#define DEFAULT_SECONDS BENCH_LOAD_SECONDS
#define QUICK_SECONDS   BENCH_LOAD_QUICK_SECONDS
#define DEFAULT_RATE    200
#define DEFAULT_PEERS   64
#define MIN_PEERS       2 /* the daemon's announces to the other peers show a record stored */
#define MAX_PEERS       1000
#define MAX_SECONDS     3600
#define MAX_RATE        5000
#define MAX_RECORDS     500000
#define WARMUP_SECONDS  60
#define WINDOW_SECONDS  60
#define MAX_WINDOWS     64
#define VERIFY_RECORDS  2000
#define VERIFY_PASSES   5
#define HANDSHAKE_MS    10000
#define WRITE_MS        30000  /* one write to the daemon may wait for room this long */
#define LINKS_WAIT_MS   30000  /* for every peer's hello and the daemon's count of them */
#define DRAIN_MS        120000 /* after the last announce, for every record to be stored */
#define REANNOUNCE_MS   10000
#define TICK_MS         5 /* the longest the loop sleeps while records are due */
#define RECORDS_BODY    (PX_WIRE_MAX_MSG - 64)
#define PEER_BIAS       16 /* max_peers = peers + this */

/* The network key of the bench: not the main network's. */
static const char network_key[] =
    "70726178697320626568636820696e6720626e6574776f726b206b657920212a";

struct lrec {
    uint64_t announced_ns; /* first announce; 0: not yet */
    uint64_t last_ann_ns;  /* latest announce, for re-announcing */
    uint64_t stored_ns;    /* first seen announced by the daemon; 0: not yet */
    uint32_t origin;       /* the peer that pushes it */
    uint16_t wanted;       /* wants received for it */
};

struct lpeer {
    struct px_rawpeer rp;
    bool open, hello;
    uint32_t *pend; /* records to announce at the next flush */
    size_t n_pend, cap_pend;
};

/* An id and its record, sorted by id for bsearch. */
struct lid {
    uint8_t id[PX_ID_BYTES];
    uint32_t rec;
};

struct lbench {
    const struct bench_opts *opts;
    unsigned seconds, rate, peers, warmup;
    size_t n; /* records to push */
    struct bench_corpus *corpus;
    struct lrec *recs;
    struct lid *ids;
    struct lpeer *peer;
    struct pollfd *pfd;
    struct px_wire_msg *out; /* a message being built */
    char dir[4096];
    bool have_dir;
    char exe[4200], conf[4300];
    uint8_t server_pk[PX_SIGN_PUBLICKEYBYTES];
    uint16_t port;
    struct bench_praxisd *d;
    struct bench_conn *c;
    /* The run. */
    uint64_t t0_ns;
    size_t next;        /* records handed to peers so far */
    size_t stored;      /* records seen stored */
    size_t unwanted_lo; /* every record below this was wanted */
    uint64_t last_stored_ns;
    /* Oddities, reported. */
    uint64_t reannounced, rewanted, bad_wants, foreign_ids, self_announces, records_in,
        reconciles_in, pings;
    /* Samples once a second: seconds since t0, RSS bytes, the daemon's CPU seconds. */
    double *rss_t, *rss_b, *cpu_s;
    size_t n_rss, cap_rss;
};

static uint64_t
now_ms(void)
{
    return bench_run_now_ns() / 1000000;
}

/* An environment override in lo..hi, else def; false (after printing why) when it is bad. */
static bool
env_uint(const char *name, unsigned def, unsigned lo, unsigned hi, unsigned *out)
{
    const char *s = getenv(name);
    char *end;
    unsigned long v;

    *out = def;
    if (s == NULL || s[0] == '\0') {
        return true;
    }
    v = strtoul(s, &end, 10);
    if (s[0] < '0' || s[0] > '9' || *end != '\0' || v < lo || v > hi) {
        fprintf(stderr, "praxis-bench: load: %s must be a number from %u to %u\n", name, lo, hi);
        return false;
    }
    *out = (unsigned)v;
    return true;
}

/* ---- /proc ---- */

struct mem {
    uint64_t rss, anon, file, shmem; /* bytes */
};

/* The daemon's VmRSS and its parts. 0, or -1 after printing why. */
static int
read_mem(int pid, struct mem *m)
{
    char path[64], line[256];
    unsigned long long kib;
    bool found = false;
    FILE *f;

    memset(m, 0, sizeof(*m));
    snprintf(path, sizeof(path), "/proc/%d/status", pid);
    if ((f = fopen(path, "r")) == NULL) {
        fprintf(stderr, "praxis-bench: %s: %s\n", path, strerror(errno));
        return -1;
    }
    while (fgets(line, sizeof(line), f) != NULL) {
        if (sscanf(line, "VmRSS: %llu kB", &kib) == 1) {
            m->rss = (uint64_t)kib * 1024;
            found = true;
        } else if (sscanf(line, "RssAnon: %llu kB", &kib) == 1) {
            m->anon = (uint64_t)kib * 1024;
        } else if (sscanf(line, "RssFile: %llu kB", &kib) == 1) {
            m->file = (uint64_t)kib * 1024;
        } else if (sscanf(line, "RssShmem: %llu kB", &kib) == 1) {
            m->shmem = (uint64_t)kib * 1024;
        }
    }
    fclose(f);
    if (!found) {
        fprintf(stderr, "praxis-bench: no VmRSS line in %s\n", path);
        return -1;
    }
    return 0;
}

static double
mib(uint64_t bytes)
{
    return (double)bytes / (1024.0 * 1024.0);
}

static void
print_mem(const char *when, const struct mem *m)
{
    fprintf(stderr,
            "praxis-bench: load: daemon RSS %s: %.1f MiB (anon %.1f, file %.1f, shmem %.1f)\n",
            when, mib(m->rss), mib(m->anon), mib(m->file), mib(m->shmem));
}

/* Counters of the daemon for the log: user and system CPU (s), read and write syscalls. */
struct usage {
    double user, sys;
    unsigned long long syscr, syscw;
};

static void
read_usage(int pid, struct usage *u)
{
    char path[64], buf[1024], *p;
    unsigned long long ut = 0, st = 0;
    long hz = sysconf(_SC_CLK_TCK);
    size_t n;
    FILE *f;

    memset(u, 0, sizeof(*u));
    snprintf(path, sizeof(path), "/proc/%d/stat", pid);
    if ((f = fopen(path, "r")) != NULL) {
        n = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        buf[n] = '\0';
        /* utime and stime: the 12th and 13th fields after the command's ')'. */
        if ((p = strrchr(buf, ')')) != NULL && hz > 0 &&
            sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) ==
                2) {
            u->user = (double)ut / (double)hz;
            u->sys = (double)st / (double)hz;
        }
    }
    snprintf(path, sizeof(path), "/proc/%d/io", pid);
    if ((f = fopen(path, "r")) != NULL) {
        while (fgets(buf, sizeof(buf), f) != NULL) {
            if (sscanf(buf, "syscr: %llu", &ut) == 1) {
                u->syscr = ut;
            } else if (sscanf(buf, "syscw: %llu", &ut) == 1) {
                u->syscw = ut;
            }
        }
        fclose(f);
    }
}

static double
own_cpu_seconds(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* ---- Ids ---- */

static int
compare_lid(const void *a, const void *b)
{
    return memcmp(((const struct lid *)a)->id, ((const struct lid *)b)->id, PX_ID_BYTES);
}

/* The record with this id, or -1. */
static long
find_id(const struct lbench *b, const uint8_t *id)
{
    struct lid key;
    const struct lid *hit;

    memcpy(key.id, id, PX_ID_BYTES);
    hit = bsearch(&key, b->ids, b->n, sizeof(*b->ids), compare_lid);
    return hit != NULL ? (long)hit->rec : -1;
}

/* ---- The daemon ---- */

/* A fixed identity for peer no (or for the daemon: no = UINT32_MAX). */
static int
make_identity(uint32_t no, struct px_identity *id)
{
    uint8_t seed[PX_SIGN_SEEDBYTES],
        in[4] = {(uint8_t)(no >> 24), (uint8_t)(no >> 16), (uint8_t)(no >> 8), (uint8_t)no};
    int rc;

    crypto_generichash(seed, sizeof(seed), in, sizeof(in), (const uint8_t *)"praxis-bench load",
                       17);
    rc = px_identity_from_seed(id, seed);
    sodium_memzero(seed, sizeof(seed));
    if (rc != 0) {
        fprintf(stderr, "praxis-bench: load: identity: %s\n", px_strerror(rc));
        return -1;
    }
    return 0;
}

/* The directory, the daemon's identity and config; then starts it. 0 or -1. */
static int
start_daemon(struct lbench *b)
{
    struct bench_praxisd_opts o = {.config = b->conf, .listen = NULL, .log_level = "info"};
    struct px_identity id;
    char path[4300];
    FILE *f;
    int rc, bad;

    if (bench_workdir_make(b->dir, sizeof(b->dir)) != 0) {
        return -1;
    }
    b->have_dir = true;
    snprintf(path, sizeof(path), "%s/data", b->dir);
    if (mkdir(path, 0700) != 0) {
        fprintf(stderr, "praxis-bench: mkdir %s: %s\n", path, strerror(errno));
        return -1;
    }
    if (make_identity(UINT32_MAX, &id) != 0) {
        return -1;
    }
    memcpy(b->server_pk, id.pk, sizeof(b->server_pk));
    snprintf(path, sizeof(path), "%s/data/identity", b->dir);
    rc = px_identity_save(path, &id);
    px_identity_wipe(&id);
    if (rc != 0) {
        fprintf(stderr, "praxis-bench: %s: %s\n", path, px_strerror(rc));
        return -1;
    }
    /* Only this process dials the daemon, after it listens: no dial of ours takes the port. */
    if ((b->port = px_ports_kernel()) == 0) {
        fprintf(stderr, "praxis-bench: load: no free port on 127.0.0.1\n");
        return -1;
    }
    snprintf(b->conf, sizeof(b->conf), "%s/praxisd.conf", b->dir);
    if ((f = fopen(b->conf, "w")) == NULL) {
        fprintf(stderr, "praxis-bench: %s: %s\n", b->conf, strerror(errno));
        return -1;
    }
    fprintf(f,
            "[policy]\naccept_authors = any\n\n[network]\nlisten = 127.0.0.1:%u\n"
            "network_key = %s\naccept_unknown_peers = yes\nmax_peers = %u\n",
            (unsigned)b->port, network_key, b->peers + PEER_BIAS);
    bad = ferror(f);
    if (fclose(f) != 0 || bad) {
        fprintf(stderr, "praxis-bench: writing %s failed\n", b->conf);
        return -1;
    }
    if ((b->d = bench_praxisd_start_opts(b->exe, b->dir, &o)) == NULL ||
        (b->c = bench_conn_open(b->d)) == NULL) {
        return -1;
    }
    return 0;
}

static int
status(struct lbench *b, struct px_api_node_status *st)
{
    const struct px_api_response *res;

    if (bench_conn_call(b->c, PX_API_STATUS, &res) != 0 || !res->has_status) {
        fprintf(stderr, "praxis-bench: load: no status from praxisd\n");
        return -1;
    }
    *st = res->status;
    st->version = (struct px_str){NULL, 0}; /* borrowed from the frame */
    return 0;
}

/* ---- Peers ---- */

static int
peer_send(struct lbench *b, struct lpeer *p, const struct px_wire_msg *msg)
{
    if (px_rawpeer_write_msg(&p->rp, msg) != 0) {
        fprintf(stderr, "praxis-bench: load: peer %zu: %s\n", (size_t)(p - b->peer), p->rp.err);
        return -1;
    }
    return 0;
}

/* Connects every peer and sends its hello. 0 or -1. */
static int
open_peers(struct lbench *b)
{
    struct sockaddr_in sa;
    uint8_t netkey[PX_SHS_NETKEY_BYTES];

    if (px_hex_decode(network_key, sizeof(network_key) - 1, netkey, sizeof(netkey)) != 0) {
        return -1;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons(b->port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    for (unsigned i = 0; i < b->peers; i++) {
        struct lpeer *p = &b->peer[i];
        struct px_identity me;
        char name[32];
        int rc;

        if (make_identity(i, &me) != 0) {
            return -1;
        }
        rc = px_rawpeer_open(&p->rp, netkey, &me, b->server_pk, &sa, sizeof(sa), HANDSHAKE_MS);
        px_identity_wipe(&me);
        p->open = true; /* px_rawpeer_close is due whatever happened */
        if (rc != 0) {
            fprintf(stderr, "praxis-bench: load: peer %u: handshake: %s\n", i, p->rp.err);
            return -1;
        }
        p->rp.write_timeout_ms = WRITE_MS;
        snprintf(name, sizeof(name), "load-%u", i);
        memset(b->out, 0, sizeof(*b->out));
        b->out->type = PX_WIRE_HELLO;
        b->out->version = PX_WIRE_VERSION;
        b->out->name = (struct px_str){name, (uint32_t)strlen(name)};
        if (peer_send(b, p, b->out) != 0) {
            return -1;
        }
    }
    return 0;
}

static void
close_peers(struct lbench *b)
{
    if (b->peer == NULL) {
        return;
    }
    for (unsigned i = 0; i < b->peers; i++) {
        struct lpeer *p = &b->peer[i];

        if (p->open && p->rp.fd >= 0 && !p->rp.ended) {
            memset(b->out, 0, sizeof(*b->out));
            b->out->type = PX_WIRE_BYE;
            b->out->reason = (struct px_str){"bench done", 10};
            p->rp.write_timeout_ms = 1000;
            (void)px_rawpeer_write_msg(&p->rp, b->out);
        }
        if (p->open) {
            px_rawpeer_close(&p->rp);
        }
        free(p->pend);
    }
}

/* Answers a want: the records asked for, in records messages. */
static int
on_want(struct lbench *b, struct lpeer *p, const struct px_wire_msg *msg)
{
    uint32_t me = (uint32_t)(p - b->peer);
    size_t body = 0;

    memset(b->out, 0, sizeof(*b->out));
    b->out->type = PX_WIRE_RECORDS;
    for (uint32_t i = 0; i < msg->n_ids; i++) {
        long r = find_id(b, msg->ids[i]);
        const struct bench_doc *doc;

        if (r < 0 || b->recs[r].origin != me || b->recs[r].announced_ns == 0) {
            b->bad_wants++; /* not one this peer announced: an honest peer has nothing */
            continue;
        }
        if (b->recs[r].wanted++ > 0) {
            b->rewanted++;
        }
        doc = &b->corpus->docs[r];
        if (b->out->n_records == PX_WIRE_MAX_RECORDS || body + doc->len + 8 > RECORDS_BODY) {
            if (peer_send(b, p, b->out) != 0) {
                return -1;
            }
            b->out->n_records = 0;
            body = 0;
        }
        b->out->records[b->out->n_records] = doc->raw;
        b->out->record_lens[b->out->n_records++] = doc->len;
        body += doc->len + 8;
    }
    while (b->unwanted_lo < b->next && b->recs[b->unwanted_lo].wanted > 0) {
        b->unwanted_lo++;
    }
    return b->out->n_records > 0 ? peer_send(b, p, b->out) : 0;
}

/* The daemon announced ids to p: the first announce of an id shows it stored. */
static void
on_announce(struct lbench *b, struct lpeer *p, const struct px_wire_msg *msg, uint64_t now)
{
    uint32_t me = (uint32_t)(p - b->peer);

    for (uint32_t i = 0; i < msg->n_ids; i++) {
        long r = find_id(b, msg->ids[i]);

        if (r < 0) {
            b->foreign_ids++;
            continue;
        }
        if (b->recs[r].origin == me) {
            b->self_announces++;
        }
        if (b->recs[r].stored_ns == 0) {
            b->recs[r].stored_ns = now;
            b->stored++;
            b->last_stored_ns = now;
        }
    }
}

/* Reads and handles every message p has ready. 0, or -1 after printing why. */
static int
drain_peer(struct lbench *b, struct lpeer *p)
{
    size_t no = (size_t)(p - b->peer);

    for (;;) {
        struct px_wire_msg *msg = b->out + 1; /* the second of the pair: see run_load */
        int rc = px_rawpeer_read_msg(&p->rp, msg, 0);
        uint64_t now = bench_run_now_ns();

        if (rc == -2) {
            return 0;
        }
        if (rc == 1) {
            fprintf(stderr, "praxis-bench: load: praxisd ended peer %zu's connection\n", no);
            return -1;
        }
        if (rc != 0) {
            fprintf(stderr, "praxis-bench: load: peer %zu: %s\n", no, p->rp.err);
            return -1;
        }
        if (!p->hello && msg->type != PX_WIRE_HELLO) {
            fprintf(stderr, "praxis-bench: load: peer %zu: a %s before the hello\n", no,
                    px_wire_type_name(msg->type));
            return -1;
        }
        switch (msg->type) {
        case PX_WIRE_HELLO:
            if (p->hello || msg->version != PX_WIRE_VERSION) {
                fprintf(stderr, "praxis-bench: load: peer %zu: a second hello or version %u\n", no,
                        (unsigned)msg->version);
                return -1;
            }
            p->hello = true;
            break;
        case PX_WIRE_ANNOUNCE:
            on_announce(b, p, msg, now);
            break;
        case PX_WIRE_WANT:
            if (on_want(b, p, msg) != 0) {
                return -1;
            }
            break;
        case PX_WIRE_RECORDS:
            b->records_in += msg->n_records; /* never asked for */
            break;
        case PX_WIRE_RECONCILE:
            b->reconciles_in++; /* the daemon answers; it should never start one */
            break;
        case PX_WIRE_PING: {
            uint64_t nonce = msg->nonce;

            b->pings++;
            memset(b->out, 0, sizeof(*b->out));
            b->out->type = PX_WIRE_PONG;
            b->out->nonce = nonce;
            if (peer_send(b, p, b->out) != 0) {
                return -1;
            }
            break;
        }
        case PX_WIRE_PONG:
            break;
        case PX_WIRE_BYE:
            fprintf(stderr, "praxis-bench: load: praxisd said bye to peer %zu: %s (%.*s)\n", no,
                    px_err_name(msg->code), (int)msg->reason.len, msg->reason.p);
            return -1;
        }
    }
}

/* Polls every peer for up to timeout_ms and handles what arrived. 0 or -1. */
static int
pump(struct lbench *b, int timeout_ms)
{
    int n;

    for (unsigned i = 0; i < b->peers; i++) {
        b->pfd[i] = (struct pollfd){.fd = b->peer[i].rp.fd, .events = POLLIN};
    }
    n = poll(b->pfd, b->peers, timeout_ms);
    if (n < 0 && errno != EINTR) {
        fprintf(stderr, "praxis-bench: poll: %s\n", strerror(errno));
        return -1;
    }
    for (unsigned i = 0; n > 0 && i < b->peers; i++) {
        if (b->pfd[i].revents != 0 && drain_peer(b, &b->peer[i]) != 0) {
            return -1;
        }
    }
    return 0;
}

/* Waits until every peer has the daemon's hello and the daemon counts every link. */
static int
wait_links(struct lbench *b)
{
    uint64_t deadline = now_ms() + LINKS_WAIT_MS, last_status = 0;
    struct px_api_node_status st = {0};

    for (;;) {
        unsigned hellos = 0;

        if (pump(b, 20) != 0) {
            return -1;
        }
        for (unsigned i = 0; i < b->peers; i++) {
            hellos += b->peer[i].hello;
        }
        if (hellos == b->peers && now_ms() - last_status >= 100) {
            last_status = now_ms();
            if (status(b, &st) != 0) {
                return -1;
            }
            if (st.peers == b->peers) {
                return 0;
            }
        }
        if (now_ms() > deadline) {
            fprintf(stderr,
                    "praxis-bench: load: after %d s, %u of %u hellos, %llu peers established\n",
                    LINKS_WAIT_MS / 1000, hellos, b->peers, (unsigned long long)st.peers);
            return -1;
        }
    }
}

/* Adds record r to its peer's next announce. */
static int
queue_announce(struct lbench *b, size_t r)
{
    struct lpeer *p = &b->peer[b->recs[r].origin];

    if (p->n_pend == p->cap_pend) {
        size_t cap = p->cap_pend > 0 ? 2 * p->cap_pend : 16;
        uint32_t *q = realloc(p->pend, cap * sizeof(*q));

        if (q == NULL) {
            fprintf(stderr, "praxis-bench: out of memory\n");
            return -1;
        }
        p->pend = q;
        p->cap_pend = cap;
    }
    p->pend[p->n_pend++] = (uint32_t)r;
    return 0;
}

/* Sends every peer's queued announces, each as one message (up to 1024 ids). */
static int
flush_announces(struct lbench *b)
{
    for (unsigned i = 0; i < b->peers; i++) {
        struct lpeer *p = &b->peer[i];
        size_t k = 0;

        while (k < p->n_pend) {
            size_t m = p->n_pend - k > PX_WIRE_MAX_IDS ? PX_WIRE_MAX_IDS : p->n_pend - k;
            uint64_t t;

            memset(b->out, 0, sizeof(*b->out));
            b->out->type = PX_WIRE_ANNOUNCE;
            for (size_t j = 0; j < m; j++) {
                b->out->ids[j] = b->corpus->docs[p->pend[k + j]].id;
            }
            b->out->n_ids = (uint32_t)m;
            if (peer_send(b, p, b->out) != 0) {
                return -1;
            }
            t = bench_run_now_ns();
            for (size_t j = 0; j < m; j++) {
                struct lrec *rec = &b->recs[p->pend[k + j]];

                if (rec->announced_ns == 0) {
                    rec->announced_ns = t;
                }
                rec->last_ann_ns = t;
            }
            k += m;
        }
        p->n_pend = 0;
    }
    return 0;
}

/* Announces again what was announced REANNOUNCE_MS ago and never wanted. */
static int
reannounce(struct lbench *b, uint64_t now)
{
    for (size_t r = b->unwanted_lo; r < b->next; r++) {
        struct lrec *rec = &b->recs[r];

        if (rec->wanted == 0 && rec->announced_ns != 0 &&
            now - rec->last_ann_ns >= (uint64_t)REANNOUNCE_MS * 1000000) {
            b->reannounced++;
            if (queue_announce(b, r) != 0) {
                return -1;
            }
        }
    }
    return 0;
}

static int
sample_rss(struct lbench *b, uint64_t now)
{
    struct mem m;

    if (read_mem(bench_praxisd_pid(b->d), &m) != 0) {
        return -1;
    }
    if (b->n_rss < b->cap_rss) {
        b->rss_t[b->n_rss] = (double)(now - b->t0_ns) / 1e9;
        b->rss_b[b->n_rss] = (double)m.rss;
        b->cpu_s[b->n_rss++] = bench_praxisd_cpu_seconds(b->d);
    }
    return 0;
}

/*
 * The run: R records a second for D seconds, then until every record is stored (at most
 * DRAIN_MS more). 0 or -1.
 */
static int
feed(struct lbench *b)
{
    uint64_t t_end = b->t0_ns + (uint64_t)b->seconds * 1000000000u;
    uint64_t next_sample = b->t0_ns, next_check = b->t0_ns, next_progress;
    uint64_t drain_deadline = t_end + (uint64_t)DRAIN_MS * 1000000;
    bool warm_printed = false;

    next_progress = b->t0_ns + 10000000000u;
    for (;;) {
        uint64_t now = bench_run_now_ns(), wait_ns;
        int timeout;

        if (now < t_end || b->next < b->n) {
            /* Records due by now: rate x elapsed, the last ones at t_end. */
            size_t due =
                now >= t_end ? b->n : (size_t)((double)(now - b->t0_ns) / 1e9 * b->rate) + 1;

            if (due > b->n) {
                due = b->n;
            }
            for (; b->next < due; b->next++) {
                b->recs[b->next].origin = (uint32_t)(b->next % b->peers);
                if (queue_announce(b, b->next) != 0) {
                    return -1;
                }
            }
        }
        if (now >= next_check) {
            next_check = now + 1000000000u;
            if (reannounce(b, now) != 0) {
                return -1;
            }
        }
        if (flush_announces(b) != 0) {
            return -1;
        }
        if (now >= next_sample && now < t_end) {
            next_sample += 1000000000u;
            if (sample_rss(b, now) != 0) {
                return -1;
            }
            if (!warm_printed && now - b->t0_ns >= (uint64_t)b->warmup * 1000000000u) {
                struct mem m;

                warm_printed = read_mem(bench_praxisd_pid(b->d), &m) == 0;
                if (warm_printed) {
                    print_mem("at the end of the warm-up", &m);
                }
            }
        }
        if (now >= next_progress) {
            next_progress += 10000000000u;
            fprintf(stderr,
                    "praxis-bench: load: %.0f s: %zu records announced, %zu stored, daemon RSS "
                    "%.1f MiB\n",
                    (double)(now - b->t0_ns) / 1e9, b->next, b->stored,
                    b->n_rss > 0 ? mib((uint64_t)b->rss_b[b->n_rss - 1]) : 0.0);
        }
        if (b->next == b->n && b->stored == b->n) {
            return 0;
        }
        if (now > drain_deadline) {
            size_t unwanted = 0;

            for (size_t r = 0; r < b->n; r++) {
                unwanted += b->recs[r].wanted == 0;
            }
            fprintf(stderr,
                    "praxis-bench: load: %zu of %zu records seen stored %d s after the last "
                    "announce (%zu never wanted)\n",
                    b->stored, b->n, DRAIN_MS / 1000, unwanted);
            return -1;
        }
        /* Sleep until the next record is due (or a tick), reading meanwhile. */
        if (b->next < b->n) {
            double at = (double)b->next / b->rate * 1e9;
            uint64_t due_ns = b->t0_ns + (uint64_t)at;

            wait_ns = due_ns > now ? due_ns - now : 0;
            if (wait_ns > (uint64_t)TICK_MS * 1000000) {
                wait_ns = (uint64_t)TICK_MS * 1000000;
            }
        } else {
            wait_ns = 100000000u;
        }
        timeout = (int)((wait_ns + 999999) / 1000000);
        if (pump(b, timeout) != 0) {
            return -1;
        }
    }
}

/* ---- Figures ---- */

/*
 * crypto_sign_verify_detached per record (us), one thread: the fastest of VERIFY_PASSES
 * passes over the first VERIFY_RECORDS records, so that a busy moment of the machine during
 * one short pass does not make the baseline look dear.
 */
static double
verify_us_per_record(const struct lbench *b)
{
    const struct bench_corpus *c = b->corpus;
    size_t n = b->n < VERIFY_RECORDS ? b->n : VERIFY_RECORDS, bad = 0;
    double best = 0;

    for (unsigned pass = 0; pass < VERIFY_PASSES; pass++) {
        uint64_t t0 = bench_run_now_ns();
        double us;

        for (size_t i = 0; i < n; i++) {
            const struct bench_doc *d = &c->docs[i];

            bad += crypto_sign_verify_detached(d->raw + d->len - PX_SIGN_BYTES, d->raw,
                                               d->signed_len, c->pk[d->author]) != 0;
        }
        us = (double)(bench_run_now_ns() - t0) / 1e3 / (double)n;
        best = pass == 0 || us < best ? us : best;
    }
    if (bad > 0) {
        fprintf(stderr, "praxis-bench: load: %zu corpus records do not verify\n", bad);
    }
    return best;
}

/* Latency p50 and p99 (ms) of the records announced in [from, to) seconds after t0. */
static size_t
latencies(const struct lbench *b, double *buf, double from, double to, double *p50, double *p99)
{
    size_t k = 0;

    for (size_t r = 0; r < b->n; r++) {
        const struct lrec *rec = &b->recs[r];
        double at = (double)(rec->announced_ns - b->t0_ns) / 1e9;

        if (rec->stored_ns != 0 && at >= from && at < to) {
            buf[k++] = (double)(rec->stored_ns - rec->announced_ns) / 1e6;
        }
    }
    *p50 = bench_run_quantile(buf, k, 0.50);
    *p99 = bench_run_quantile(buf, k, 0.99);
    return k;
}

/* The daemon's CPU time per record (us) between the samples nearest from and to seconds:
 * records arrive at the offered rate, so the records of the window are rate x its length. */
static double
window_cpu_us(const struct lbench *b, double from, double to)
{
    size_t i = 0, j = 0;

    for (size_t k = 0; k < b->n_rss; k++) {
        if (b->rss_t[k] <= from + 0.5) {
            i = k;
        }
        if (b->rss_t[k] <= to + 0.5) {
            j = k;
        }
    }
    if (j <= i || b->cpu_s[i] < 0 || b->cpu_s[j] < 0) {
        return 0;
    }
    return 1e6 * (b->cpu_s[j] - b->cpu_s[i]) / ((b->rss_t[j] - b->rss_t[i]) * b->rate);
}

static void
report(struct lbench *b, struct bench_report *rep, double cpu_s, double own_cpu_s, double verify_us)
{
    double *buf = malloc(b->n * sizeof(*buf));
    double p50, p99,
        window = b->seconds >= 2 * WINDOW_SECONDS ? WINDOW_SECONDS : (double)b->seconds / 4.0;
    double secs = (double)(b->last_stored_ns - b->t0_ns) / 1e9;
    double warm_mib = 0, max_mib = 0, slope = 0, sx = 0, sy = 0, sxx = 0, sxy = 0, k = 0;
    char name[64];

    if (buf == NULL) {
        fprintf(stderr, "praxis-bench: out of memory\n");
        return;
    }
    bench_report_value(rep, "load_records", (double)b->stored, "records", NULL, 0);
    bench_report_value(rep, "load_records_per_s", (double)b->stored / secs, "records/s",
                       "load_offered_records_per_s", (double)b->rate);
    latencies(b, buf, 0, 1e9, &p50, &p99);
    bench_report_value(rep, "load_latency_p50_ms", p50, "ms", NULL, 0);
    bench_report_value(rep, "load_latency_p99_ms", p99, "ms", NULL, 0);
    for (unsigned w = 0; w < MAX_WINDOWS && (double)w * window < (double)b->seconds; w++) {
        double from = (double)w * window;
        size_t n = latencies(b, buf, from, from + window, &p50, &p99);

        fprintf(stderr,
                "praxis-bench: load: records announced %4.0f-%4.0f s: %zu, latency p50 %.2f ms, "
                "p99 %.2f ms; daemon CPU %.0f us a record\n",
                from, from + window, n, p50, p99, window_cpu_us(b, from, from + window));
        snprintf(name, sizeof(name), "load_latency_p50_ms_t%.0fs", from);
        bench_report_value(rep, name, p50, "ms", NULL, 0);
        snprintf(name, sizeof(name), "load_latency_p99_ms_t%.0fs", from);
        bench_report_value(rep, name, p99, "ms", NULL, 0);
    }
    /* RSS: the sample at the end of the warm-up, then the largest and the least-squares
     * slope from there on. */
    for (size_t i = 0; i < b->n_rss; i++) {
        double t = b->rss_t[i], y = mib((uint64_t)b->rss_b[i]);

        if (t + 0.5 < (double)b->warmup) {
            continue;
        }
        if (k == 0) {
            warm_mib = y;
        }
        max_mib = y > max_mib ? y : max_mib;
        sx += t;
        sy += y;
        sxx += t * t;
        sxy += t * y;
        k++;
    }
    if (k >= 2 && k * sxx - sx * sx > 0) {
        slope = 60.0 * (k * sxy - sx * sy) / (k * sxx - sx * sx);
    }
    bench_report_value(rep, "load_rss_warm_mib", warm_mib, "MiB", NULL, 0);
    bench_report_value(rep, "load_rss_max_mib", max_mib, "MiB", NULL, 0);
    bench_report_value(rep, "load_rss_slope_mib_per_min", slope, "MiB/min", NULL, 0);
    bench_report_value(rep, "load_rss_peak_mib", mib(bench_praxisd_peak_rss(b->d)), "MiB", NULL, 0);
    bench_report_value(rep, "load_cpu_us_per_record", 1e6 * cpu_s / (double)b->stored, "us",
                       "sodium_verify_us_per_record", verify_us);
    bench_report_value(rep, "load_peers_cpu_us_per_record", 1e6 * own_cpu_s / (double)b->stored,
                       "us", NULL, 0);
    free(buf);
}

/*
 * Counts from the daemon after the run: the store grew by exactly the records sent, and
 * the peer table (its first PX_API_MAX_PEERS rows) shows no duplicate and no rejected
 * record. 0 when all is well, -1 otherwise (printed).
 */
static int
check_counts(struct lbench *b, uint64_t records_before, struct bench_report *rep)
{
    const struct px_api_response *res;
    struct px_api_node_status st;
    uint64_t received = 0, dups = 0, rejected = 0, pending = 0;
    int rc = 0;

    if (status(b, &st) != 0 || bench_conn_call(b->c, PX_API_PEERS, &res) != 0 || !res->has_peers) {
        return -1;
    }
    for (uint32_t i = 0; i < res->n_peers; i++) {
        received += res->peers[i].records_received;
        dups += res->peers[i].duplicates;
        rejected += res->peers[i].rejected;
        pending += res->peers[i].pending_wants;
    }
    fprintf(stderr,
            "praxis-bench: load: store %llu records (%.1f MiB); peer table (%u rows): %llu "
            "received, %llu duplicates, %llu rejected, %llu wants pending; %llu re-announced, "
            "%llu wanted again, %llu wants for ids not ours, %llu ids not ours announced, %llu "
            "announced back to their origin, %llu records and %llu reconcile messages "
            "unasked, %llu pings\n",
            (unsigned long long)st.records, mib(st.store_bytes), (unsigned)res->n_peers,
            (unsigned long long)received, (unsigned long long)dups, (unsigned long long)rejected,
            (unsigned long long)pending, (unsigned long long)b->reannounced,
            (unsigned long long)b->rewanted, (unsigned long long)b->bad_wants,
            (unsigned long long)b->foreign_ids, (unsigned long long)b->self_announces,
            (unsigned long long)b->records_in, (unsigned long long)b->reconciles_in,
            (unsigned long long)b->pings);
    if (st.records - records_before != b->n) {
        fprintf(stderr, "praxis-bench: load: the store grew by %llu records, not %zu\n",
                (unsigned long long)(st.records - records_before), b->n);
        rc = -1;
    }
    if (res->n_peers == b->peers && (received != b->n || dups != 0 || rejected != 0)) {
        fprintf(stderr, "praxis-bench: load: not every record was stored exactly once\n");
        rc = -1;
    }
    bench_report_value(rep, "load_store_growth_records", (double)(st.records - records_before),
                       "records", "load_records_sent", (double)b->n);
    bench_report_value(rep, "load_duplicates", (double)dups, "records", NULL, 0);
    bench_report_value(rep, "load_reannounced", (double)b->reannounced, "records", NULL, 0);
    return rc;
}

/* ---- The suite ---- */

static int
run_load(struct lbench *b, struct bench_report *rep)
{
    struct px_api_node_status st;
    double cpu0, cpu1, own0, own1, verify_us;
    struct usage u0, u1;
    struct mem m;

    fprintf(stderr,
            "praxis-bench: load: %u peers, %u records/s for %u s (%zu records), warm-up %u s\n",
            b->peers, b->rate, b->seconds, b->n, b->warmup);
    if ((b->corpus = bench_corpus_new(CORPUS_SEED, b->n)) == NULL) {
        return -1;
    }
    if ((b->recs = calloc(b->n, sizeof(*b->recs))) == NULL ||
        (b->ids = calloc(b->n, sizeof(*b->ids))) == NULL ||
        (b->peer = calloc(b->peers, sizeof(*b->peer))) == NULL ||
        (b->pfd = calloc(b->peers, sizeof(*b->pfd))) == NULL ||
        (b->out = calloc(2, sizeof(*b->out))) == NULL) {
        fprintf(stderr, "praxis-bench: out of memory\n");
        return -1;
    }
    b->cap_rss = (size_t)b->seconds + 2;
    if ((b->rss_t = calloc(b->cap_rss, sizeof(double))) == NULL ||
        (b->rss_b = calloc(b->cap_rss, sizeof(double))) == NULL ||
        (b->cpu_s = calloc(b->cap_rss, sizeof(double))) == NULL) {
        fprintf(stderr, "praxis-bench: out of memory\n");
        return -1;
    }
    for (unsigned i = 0; i < b->peers; i++) {
        b->peer[i].rp.fd = -1;
    }
    for (size_t i = 0; i < b->n; i++) {
        memcpy(b->ids[i].id, b->corpus->docs[i].id, PX_ID_BYTES);
        b->ids[i].rec = (uint32_t)i;
    }
    qsort(b->ids, b->n, sizeof(*b->ids), compare_lid);
    verify_us = verify_us_per_record(b);
    if (start_daemon(b) != 0) {
        return -1;
    }
    fprintf(stderr, "praxis-bench: load: praxisd listens on 127.0.0.1:%u, in %s\n",
            (unsigned)b->port, b->dir);
    if (open_peers(b) != 0 || wait_links(b) != 0 || status(b, &st) != 0) {
        return -1;
    }
    if (read_mem(bench_praxisd_pid(b->d), &m) == 0) {
        print_mem("with every link up", &m);
    }
    read_usage(bench_praxisd_pid(b->d), &u0);
    cpu0 = bench_praxisd_cpu_seconds(b->d);
    own0 = own_cpu_seconds();
    b->t0_ns = bench_run_now_ns();
    if (feed(b) != 0) {
        return -1;
    }
    cpu1 = bench_praxisd_cpu_seconds(b->d);
    own1 = own_cpu_seconds();
    read_usage(bench_praxisd_pid(b->d), &u1);
    if (read_mem(bench_praxisd_pid(b->d), &m) == 0) {
        print_mem("at the end", &m);
    }
    fprintf(stderr,
            "praxis-bench: load: %zu records stored in %.1f s; daemon CPU %.1f s, the peers' "
            "%.1f s\n",
            b->stored, (double)(b->last_stored_ns - b->t0_ns) / 1e9, cpu1 - cpu0, own1 - own0);
    fprintf(stderr,
            "praxis-bench: load: daemon per record: %.0f us user, %.0f us system, %.1f read "
            "and %.1f write syscalls\n",
            1e6 * (u1.user - u0.user) / (double)b->n, 1e6 * (u1.sys - u0.sys) / (double)b->n,
            (double)(u1.syscr - u0.syscr) / (double)b->n,
            (double)(u1.syscw - u0.syscw) / (double)b->n);
    report(b, rep, cpu1 - cpu0, own1 - own0, verify_us);
    return check_counts(b, st.records, rep);
}

int
bench_load_run(const struct bench_opts *opts, struct bench_report *rep)
{
    struct lbench *b = calloc(1, sizeof(*b));
    int rc = -1;

    if (b == NULL) {
        fprintf(stderr, "praxis-bench: out of memory\n");
        return -1;
    }
    b->opts = opts;
    snprintf(b->exe, sizeof(b->exe), "%s/praxisd", opts->bin_dir);
    if (!env_uint("PRAXIS_BENCH_LOAD_SECONDS", opts->quick ? QUICK_SECONDS : DEFAULT_SECONDS, 4,
                  MAX_SECONDS, &b->seconds) ||
        !env_uint("PRAXIS_BENCH_LOAD_RATE", DEFAULT_RATE, 1, MAX_RATE, &b->rate) ||
        !env_uint("PRAXIS_BENCH_LOAD_PEERS", DEFAULT_PEERS, MIN_PEERS, MAX_PEERS, &b->peers) ||
        !env_uint("PRAXIS_BENCH_LOAD_WARMUP",
                  b->seconds >= 4 * WARMUP_SECONDS ? WARMUP_SECONDS : b->seconds / 4, 0,
                  b->seconds - 1, &b->warmup)) {
        free(b);
        return -1;
    }
    b->n = (size_t)b->seconds * b->rate;
    if (b->n > MAX_RECORDS) {
        fprintf(stderr, "praxis-bench: load: %u s at %u records/s is over %d records\n", b->seconds,
                b->rate, MAX_RECORDS);
        free(b);
        return -1;
    }
    rc = run_load(b, rep);
    close_peers(b);
    bench_conn_close(b->c);
    if (bench_praxisd_stop(b->d) != 0) {
        rc = -1;
    }
    if (b->have_dir) {
        bench_workdir_done(b->dir);
    }
    bench_corpus_free(b->corpus);
    free(b->recs);
    free(b->ids);
    free(b->peer);
    free(b->pfd);
    free(b->out);
    free(b->rss_t);
    free(b->rss_b);
    free(b->cpu_s);
    free(b);
    return rc;
}
