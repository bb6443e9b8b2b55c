/* SPDX-License-Identifier: MIT */
/*
 * bench_daemon.c - the daemon suite: a real praxisd, loaded with a generated store, beside
 * the same work done by bare SQLite and raw libsodium in the same run.
 *
 * Set-up: opts->records signed cases (bench_corpus.h) are generated; praxisd is started
 * from the directory of this program in a temporary data directory; a bare SQLite table
 * (bench_bare.h) is created beside it. Then, by group:
 *
 *   import     The records go into praxisd as IMPORT requests of 256 records over its
 *              Unix socket, up to 4 requests in flight, each answer checked (every record
 *              accepted); into the bare table in transactions of 1000 rows; and through
 *              crypto_sign_verify_detached, one thread. The three run in IMPORT_ROUNDS
 *              rounds, each taking the next slice of records, A B C A B C ..., so that
 *              noise from the rest of the machine lands on all three alike.
 *                import_records_per_s            vs bare_sqlite_fts5_insert_per_s
 *                import_records_per_s_vs_verify  vs sodium_verify_detached_per_s
 *                import_cpu_us_per_record        vs bare_cpu_us_per_record
 *   query      Four queries, each at least QUERY_REPS times, ours and bare interleaved
 *              (the order swaps every repetition), after a check pass that requires both
 *              to return the same records in the same order and the expected count:
 *                text_moderate  two words of about 10% document frequency whose
 *                               intersection matches about 1% of the records; ranked,
 *                               limit 20
 *                text_common    two words of about 58% whose intersection matches about
 *                               a third; ranked, limit 20
 *                filter         one tag carried by 3-8% of the records, and a practice;
 *                               newest first, limit 50
 *                get            one record by its full id
 *              Ours is the whole path: the request over the socket, the daemon's select
 *              and fetch, every response frame read and decoded, and every record decoded
 *              and verified, as `praxis query` does. The bare twin runs the same query on
 *              the bare table in this process and copies out each row's raw bytes.
 *              Several variants (word pairs, tags, ids) rotate over the repetitions.
 *                query_<q>_p50_ms, query_<q>_p99_ms  vs bare_<q>_p50_ms, bare_<q>_p99_ms
 *   footprint  store_bytes_per_record: store.db and its WAL after the import, per record,
 *              vs the bare database and its WAL; praxisd_peak_rss_mib: VmHWM of the
 *              daemon after the import and the queries.
 *
 * The daemon is stopped with SIGTERM (and waited for) and the directory removed at the end,
 * also when a step fails.
 */
#include <sys/stat.h>

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
#include "protocol/api.h"
#include "protocol/buf.h"
#include "protocol/err.h"
#include "protocol/record.h"

#define CORPUS_SEED     UINT64_C(0x7072617869732d64)
#define IMPORT_BATCH    PX_API_MAX_BATCH
#define IMPORT_INFLIGHT 4
#define IMPORT_ROUNDS   10
#define QUERY_REPS      300
#define QUICK_REPS      200
#define TEXT_LIMIT      20
#define FILTER_LIMIT    50
#define MAX_VARIANTS    8

enum query { Q_MODERATE, Q_COMMON, Q_FILTER, Q_GET, Q_COUNT };

static const char *const query_names[Q_COUNT] = {
    [Q_MODERATE] = "text_moderate",
    [Q_COMMON] = "text_common",
    [Q_FILTER] = "filter",
    [Q_GET] = "get",
};

/*
 * Text queries: the fraction of records the pair should match, and each word (its square
 * root, as the generator draws words independently).
 */
struct text_target {
    double pair, word;
};

static const struct text_target text_targets[Q_COUNT] = {
    [Q_MODERATE] = {.pair = 0.01, .word = 0.1},
    [Q_COMMON] = {.pair = 1.0 / 3, .word = 0.57735},
};

/* The share of records a filter's tag should be on. */
#define TAG_MIN 0.03
#define TAG_MAX 0.08

struct variant {
    char text[160];  /* what a user would type */
    char match[200]; /* the same as the store's FTS5 query */
    char tag[PX_CASE_MAX_TAG + 1];
    int practice;
    size_t matches; /* rows it matches without a limit */
};

struct dbench {
    const struct bench_opts *opts;
    struct bench_corpus *corpus;
    char dir[4096];
    bool have_dir;
    struct bench_praxisd *d;
    struct bench_conn *conn;
    struct bench_bare *bare;
    struct px_api_request *req;
    char hex[2 * PX_ID_BYTES + 1];
    uint8_t got_ids[FILTER_LIMIT][PX_ID_BYTES]; /* the records the last verified query gave */
    struct variant vars[Q_COUNT][MAX_VARIANTS];
    size_t n_vars[Q_COUNT];
    uint64_t store_bytes, bare_bytes;
    volatile uint64_t sink;
};

static double
seconds_since(uint64_t t0)
{
    return (double)(bench_run_now_ns() - t0) / 1e9;
}

/* ---- Import ---- */

struct pending {
    uint64_t seq;
    uint32_t n;
};

/* Imports docs[from..to) into praxisd, IMPORT_INFLIGHT requests at a time. */
static int
import_ours(struct dbench *b, size_t from, size_t to)
{
    const struct bench_doc *docs = b->corpus->docs;
    struct pending inflight[IMPORT_INFLIGHT];
    size_t n_inflight = 0, next = from;

    while (next < to || n_inflight > 0) {
        const struct px_api_response *res;
        size_t k;

        while (n_inflight < IMPORT_INFLIGHT && next < to) {
            uint32_t n = to - next > IMPORT_BATCH ? IMPORT_BATCH : (uint32_t)(to - next);

            memset(b->req, 0, sizeof(*b->req));
            b->req->op = PX_API_IMPORT;
            for (uint32_t i = 0; i < n; i++) {
                b->req->records[i] = docs[next + i].raw;
                b->req->record_lens[i] = docs[next + i].len;
            }
            b->req->n_records = n;
            if (bench_conn_send(b->conn, b->req) != 0) {
                return -1;
            }
            inflight[n_inflight++] = (struct pending){b->req->seq, n};
            next += n;
        }
        if (bench_conn_recv(b->conn, &res) != 0) {
            return -1;
        }
        for (k = 0; k < n_inflight && inflight[k].seq != res->seq; k++) {
        }
        if (k == n_inflight) {
            fprintf(stderr, "praxis-bench: an import answer for seq %llu, which is not pending\n",
                    (unsigned long long)res->seq);
            return -1;
        }
        if (res->code != 0 || res->accepted != inflight[k].n || res->duplicates != 0 ||
            res->n_rejected != 0) {
            fprintf(stderr,
                    "praxis-bench: import of %u records: code %s (%.*s), %u accepted, %u "
                    "duplicates, %u rejected (first: %s)\n",
                    inflight[k].n, px_err_name(res->code), (int)res->error.len, res->error.p,
                    res->accepted, res->duplicates, res->n_rejected,
                    res->n_rejected > 0 ? px_err_name(res->rejected[0].code) : "-");
            return -1;
        }
        inflight[k] = inflight[--n_inflight];
    }
    return 0;
}

static int
verify_raw(struct dbench *b, size_t from, size_t to)
{
    const struct bench_corpus *c = b->corpus;

    for (size_t i = from; i < to; i++) {
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

static uint64_t
file_bytes(const char *path, const char *suffix)
{
    char buf[4096];
    struct stat st;

    if ((size_t)snprintf(buf, sizeof(buf), "%s%s", path, suffix) >= sizeof(buf) ||
        stat(buf, &st) != 0) {
        return 0;
    }
    return (uint64_t)st.st_size;
}

/* (max - min) / total over the rounds' rates. */
static double
round_spread(const double *v, size_t n, double total)
{
    double lo = v[0], hi = v[0];

    for (size_t i = 1; i < n; i++) {
        lo = v[i] < lo ? v[i] : lo;
        hi = v[i] > hi ? v[i] : hi;
    }
    return total > 0 ? (hi - lo) / total : 0;
}

/* CPU time of this thread (user and system), in seconds. */
static double
thread_cpu_seconds(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * Loads every record into praxisd and the bare table, and verifies every signature with
 * raw libsodium, in rounds; reports the rates when the import group is wanted.
 */
static int
run_import(struct dbench *b, struct bench_report *rep)
{
    enum { OURS, BARE, VERIFY, SIDES };
    size_t n = b->corpus->n;
    unsigned rounds = n >= IMPORT_ROUNDS * IMPORT_BATCH ? IMPORT_ROUNDS : 1;
    bool report = bench_wants(b->opts, "import");
    double secs[SIDES] = {0}, rate[SIDES][IMPORT_ROUNDS], spread[SIDES], total[SIDES];
    double cpu_ours = 0, cpu_bare = 0;

    fprintf(stderr, "praxis-bench: daemon: importing in %u rounds\n", rounds);
    for (unsigned r = 0; r < rounds; r++) {
        size_t from = n * r / rounds, to = n * (r + 1) / rounds;
        double t, c0 = bench_praxisd_cpu_seconds(b->d);
        uint64_t t0 = bench_run_now_ns();

        if (import_ours(b, from, to) != 0) {
            return -1;
        }
        t = seconds_since(t0);
        cpu_ours += bench_praxisd_cpu_seconds(b->d) - c0;
        secs[OURS] += t;
        rate[OURS][r] = (double)(to - from) / t;
        c0 = thread_cpu_seconds();
        t0 = bench_run_now_ns();
        if (bench_bare_insert(b->bare, b->corpus->docs + from, to - from) != 0) {
            return -1;
        }
        t = seconds_since(t0);
        cpu_bare += thread_cpu_seconds() - c0;
        secs[BARE] += t;
        rate[BARE][r] = (double)(to - from) / t;
        if (report) {
            t0 = bench_run_now_ns();
            if (verify_raw(b, from, to) != 0) {
                return -1;
            }
            t = seconds_since(t0);
            secs[VERIFY] += t;
            rate[VERIFY][r] = (double)(to - from) / t;
        }
    }
    b->store_bytes = file_bytes(bench_praxisd_store_path(b->d), "") +
                     file_bytes(bench_praxisd_store_path(b->d), "-wal");
    b->bare_bytes = bench_bare_bytes(b->bare);
    if (!report) {
        return 0;
    }
    /* The value is the whole load's rate; the spread is over the rounds, in which the store
     * grows, so it shows that growth as well as noise. */
    for (int s = 0; s < SIDES; s++) {
        total[s] = (double)n / secs[s];
        spread[s] = round_spread(rate[s], rounds, total[s]);
    }
    bench_report_value(rep, "corpus_records", (double)n, "records", NULL, 0);
    bench_report_value(rep, "corpus_record_bytes", (double)b->corpus->total_bytes / (double)n,
                       "bytes", NULL, 0);
    bench_report_timed(rep, "import_records_per_s", total[OURS], "records/s",
                       "bare_sqlite_fts5_insert_per_s", total[BARE], spread[OURS], n / rounds);
    bench_report_timed(rep, "bare_sqlite_fts5_insert_per_s", total[BARE], "records/s", NULL, 0,
                       spread[BARE], n / rounds);
    bench_report_timed(rep, "import_records_per_s_vs_verify", total[OURS], "records/s",
                       "sodium_verify_detached_per_s", total[VERIFY], spread[OURS], n / rounds);
    bench_report_timed(rep, "sodium_verify_detached_per_s", total[VERIFY], "records/s", NULL, 0,
                       spread[VERIFY], n / rounds);
    /* CPU time per record is steadier than a rate on a busy machine, and tells work apart
     * from waiting: praxisd's is every thread's (verifying included); bare's is this
     * thread's during its inserts. */
    bench_report_value(rep, "import_cpu_us_per_record", 1e6 * cpu_ours / (double)n, "us",
                       "bare_cpu_us_per_record", 1e6 * cpu_bare / (double)n);
    bench_report_value(rep, "bare_cpu_us_per_record", 1e6 * cpu_bare / (double)n, "us", NULL, 0);
    return 0;
}

/* ---- Queries ---- */

static uint64_t
fnv_add(uint64_t h, const uint8_t *p, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        h = (h ^ p[i]) * UINT64_C(0x100000001b3);
    }
    return h;
}

/* The record the get query asks for at repetition r: spread over the whole store. */
static size_t
get_index(const struct dbench *b, size_t r)
{
    return (size_t)((r * UINT64_C(2654435761) + 12345) % b->corpus->n);
}

/*
 * Runs query q (variant v, or record get_idx for a get) through praxisd: sends the request,
 * reads every response frame, and decodes every record when verify is set (as the client
 * does: its signature was verified when praxisd took it in).
 */
static int
ours_query(struct dbench *b, enum query q, const struct variant *v, unsigned limit, size_t get_idx,
           bool verify, bool hash, struct bench_result *out)
{
    struct px_api_request *req = b->req;
    const struct px_api_response *res;
    uint64_t h = UINT64_C(0xcbf29ce484222325);

    memset(req, 0, sizeof(*req));
    if (q == Q_GET) {
        px_hex_encode(b->corpus->docs[get_idx].id, PX_ID_BYTES, b->hex);
        req->op = PX_API_GET;
        req->id = (struct px_str){b->hex, 2 * PX_ID_BYTES};
    } else {
        req->op = PX_API_QUERY;
        req->filter.limit = limit;
        if (q == Q_FILTER) {
            req->filter.practice = (uint32_t)v->practice;
            req->filter.tags[0] = (struct px_str){v->tag, (uint32_t)strlen(v->tag)};
            req->filter.n_tags = 1;
        } else {
            req->filter.text = (struct px_str){v->text, (uint32_t)strlen(v->text)};
        }
    }
    if (bench_conn_send(b->conn, req) != 0) {
        return -1;
    }
    out->rows = 0;
    do {
        if (bench_conn_recv(b->conn, &res) != 0) {
            return -1;
        }
        if (res->seq != req->seq || res->code != 0) {
            fprintf(stderr, "praxis-bench: %s query: seq %llu (sent %llu), code %s: %.*s\n",
                    query_names[q], (unsigned long long)res->seq, (unsigned long long)req->seq,
                    px_err_name(res->code), (int)res->error.len, res->error.p);
            return -1;
        }
        for (uint32_t i = 0; i < res->n_records; i++) {
            if (verify) {
                struct px_record rec;
                int rc;

                /* What `praxis query` does with each record: a strict decode (the
                 * signature is checked again only with --verify). */
                if ((rc = px_record_decode(res->records[i], res->record_lens[i], &rec, NULL)) !=
                    0) {
                    fprintf(stderr, "praxis-bench: %s query: a record fails: %s\n", query_names[q],
                            px_strerror(rc));
                    return -1;
                }
                if (out->rows < FILTER_LIMIT) {
                    memcpy(b->got_ids[out->rows], rec.id, PX_ID_BYTES);
                }
                b->sink += rec.id[0];
            }
            if (hash) {
                h = fnv_add(h, res->records[i], res->record_lens[i]);
            }
            out->rows++;
        }
    } while (res->more);
    out->hash = hash ? h : 0;
    return 0;
}

static int
bare_query(struct dbench *b, enum query q, const struct variant *v, unsigned limit, size_t get_idx,
           bool hash, struct bench_result *out)
{
    switch (q) {
    case Q_MODERATE:
    case Q_COMMON:
        return bench_bare_text(b->bare, v->match, limit, hash, out);
    case Q_FILTER:
        return bench_bare_filter(b->bare, v->tag, v->practice, limit, hash, out);
    case Q_GET:
    default:
        return bench_bare_get(b->bare, b->corpus->docs[get_idx].id, hash, out);
    }
}

static unsigned
query_limit(enum query q)
{
    return q == Q_FILTER ? FILTER_LIMIT : (q == Q_GET ? 0 : TEXT_LIMIT);
}

/* The rows a query should return: its matches up to its limit. */
static size_t
expected_rows(enum query q, const struct variant *v)
{
    size_t limit = query_limit(q);

    if (q == Q_GET) {
        return 1;
    }
    return v->matches < limit ? v->matches : limit;
}

static double
distance(size_t a, double b)
{
    return (double)a > b ? (double)a - b : b - (double)a;
}

struct ranked_term {
    const struct bench_term *t;
    double dist;
};

static int
compare_ranked(const void *a, const void *b)
{
    const struct ranked_term *x = a, *y = b;

    if (x->dist != y->dist) {
        return x->dist < y->dist ? -1 : 1;
    }
    return strcmp(x->t->term, y->t->term);
}

/*
 * Pairs of words, each in about target->word of the records, whose intersection is within
 * a quarter of target->pair: the closest words first, each word used once.
 */
static int
pick_text(struct dbench *b, enum query q)
{
    const struct text_target *tt = &text_targets[q];
    double n = (double)b->corpus->n, want = tt->pair * n, word = tt->word * n;
    struct bench_term *terms = NULL;
    struct ranked_term *ranked = NULL;
    size_t n_terms = 0, tries = 0;
    bool *used = NULL;
    int rc = -1;

    if (bench_bare_terms(b->bare, (size_t)(word * 0.7), (size_t)(word * 1.4) + 1, &terms,
                         &n_terms) != 0) {
        return -1;
    }
    if ((ranked = calloc(n_terms + 1, sizeof(*ranked))) == NULL ||
        (used = calloc(n_terms + 1, sizeof(*used))) == NULL) {
        fprintf(stderr, "praxis-bench: out of memory\n");
        goto out;
    }
    for (size_t i = 0; i < n_terms; i++) {
        ranked[i] = (struct ranked_term){&terms[i], distance(terms[i].docs, word)};
    }
    qsort(ranked, n_terms, sizeof(*ranked), compare_ranked);
    for (size_t i = 0; i < n_terms && b->n_vars[q] < MAX_VARIANTS && tries < 400; i++) {
        for (size_t j = i + 1; !used[i] && j < n_terms && tries < 400; j++) {
            struct variant *v = &b->vars[q][b->n_vars[q]];
            size_t count;

            if (used[j]) {
                continue;
            }
            tries++;
            snprintf(v->text, sizeof(v->text), "%s %s", ranked[i].t->term, ranked[j].t->term);
            snprintf(v->match, sizeof(v->match), "\"%s\" \"%s\"", ranked[i].t->term,
                     ranked[j].t->term);
            if (bench_bare_count(b->bare, v->match, &count) != 0) {
                goto out;
            }
            if ((double)count >= 0.75 * want && (double)count <= 1.25 * want && count > 0) {
                v->matches = count;
                used[i] = used[j] = true;
                b->n_vars[q]++;
            }
        }
    }
    if (b->n_vars[q] == 0) {
        fprintf(stderr, "praxis-bench: no pair of words matches about %.1f%% of the records\n",
                100 * tt->pair);
        goto out;
    }
    rc = 0;
out:
    free(terms);
    free(ranked);
    free(used);
    return rc;
}

/* Does the space-joined list contain tag as a whole element? */
static bool
has_tag(struct px_str list, const char *tag)
{
    size_t n = strlen(tag);
    uint32_t i = 0;

    while (i < list.len) {
        uint32_t end = i;

        while (end < list.len && list.p[end] != ' ') {
            end++;
        }
        if (end - i == n && memcmp(list.p + i, tag, n) == 0) {
            return true;
        }
        i = end + 1;
    }
    return false;
}

/* Tags on TAG_MIN..TAG_MAX of the records (or the nearest one), practices alternating. */
static int
pick_tags(struct dbench *b)
{
    const struct bench_corpus *c = b->corpus;
    double lo = TAG_MIN * (double)c->n, hi = TAG_MAX * (double)c->n, mid = (lo + hi) / 2;
    size_t nearest = SIZE_MAX;

    for (size_t i = 0; i < c->n_tags && b->n_vars[Q_FILTER] < MAX_VARIANTS; i++) {
        const struct bench_tag *t = &c->tags[i];

        if (memchr(t->tag.p, '-', t->tag.len) != NULL || t->tag.len > PX_CASE_MAX_TAG) {
            continue;
        }
        if (nearest == SIZE_MAX ||
            distance(t->count, mid) < distance(c->tags[nearest].count, mid)) {
            nearest = i;
        }
        if ((double)t->count >= lo && (double)t->count <= hi) {
            struct variant *v = &b->vars[Q_FILTER][b->n_vars[Q_FILTER]++];

            memcpy(v->tag, t->tag.p, t->tag.len);
            v->tag[t->tag.len] = '\0';
        }
    }
    if (b->n_vars[Q_FILTER] == 0) {
        struct variant *v = &b->vars[Q_FILTER][b->n_vars[Q_FILTER]++];

        if (nearest == SIZE_MAX) {
            fprintf(stderr, "praxis-bench: the records have no usable tag\n");
            return -1;
        }
        memcpy(v->tag, c->tags[nearest].tag.p, c->tags[nearest].tag.len);
        v->tag[c->tags[nearest].tag.len] = '\0';
    }
    for (size_t k = 0; k < b->n_vars[Q_FILTER]; k++) {
        struct variant *v = &b->vars[Q_FILTER][k];

        v->practice = k % 2 == 0 ? PX_PRACTICE_BAD : PX_PRACTICE_GOOD;
        for (size_t i = 0; i < c->n; i++) {
            if ((int)c->docs[i].practice == v->practice && has_tag(c->docs[i].tags, v->tag)) {
                v->matches++;
            }
        }
    }
    return 0;
}

/* Are two bm25 ranks equal but for rounding? */
static bool
same_rank(double a, double b)
{
    double d = a > b ? a - b : b - a, m = b < 0 ? -b : b;

    return d <= 1e-9 * m;
}

/*
 * A ranked query's results may differ from the bare table's where two records tie, since
 * the two indexes add up the same bm25 terms in different segment layouts and round
 * differently. So when the bytes differ, check instead that what praxisd returned (the
 * ids in b->got_ids) is a top list under the bare table's own ranks: in rank order, with
 * the same ranks as the bare top list, position by position.
 */
static int
check_ranked(struct dbench *b, enum query q, const struct variant *v, size_t rows)
{
    double want[TEXT_LIMIT], got;
    size_t n;

    if (bench_bare_ranks(b->bare, v->match, TEXT_LIMIT, want, &n) != 0) {
        return -1;
    }
    for (size_t i = 0; i < rows && i < TEXT_LIMIT; i++) {
        bool found;

        if (bench_bare_rank_of(b->bare, v->match, b->got_ids[i], &got, &found) != 0) {
            return -1;
        }
        if (!found || i >= n || !same_rank(got, want[i])) {
            fprintf(stderr,
                    "praxis-bench: %s query (%s): praxisd's record %zu %s (rank %.17g, bare "
                    "SQLite's %zu-th is %.17g)\n",
                    query_names[q], v->text, i, found ? "is out of rank order" : "does not match",
                    got, i, i < n ? want[i] : 0.0);
            return -1;
        }
    }
    return 0;
}

/*
 * Before timing: every variant must give the same records in the same order both ways (a
 * ranked query: up to ties, see check_ranked), and the expected number of them; the match count of
 * the first variant of the moderate text query and of the filter is also checked on the daemon
 * without a limit (the common one is counted on the bare table only: streaming a third of the store
 * through the daemon would measure an export, not a query).
 */
static int
check_queries(struct dbench *b)
{
    for (int q = 0; q < Q_COUNT; q++) {
        size_t n = q == Q_GET ? 8 : b->n_vars[q];

        for (size_t k = 0; k < n; k++) {
            const struct variant *v = q == Q_GET ? NULL : &b->vars[q][k];
            struct bench_result ours, bare;
            size_t want = q == Q_GET ? 1 : expected_rows((enum query)q, v);

            if (ours_query(b, (enum query)q, v, query_limit((enum query)q), get_index(b, k), true,
                           true, &ours) != 0 ||
                bare_query(b, (enum query)q, v, query_limit((enum query)q), get_index(b, k), true,
                           &bare) != 0) {
                return -1;
            }
            if (ours.rows != want || bare.rows != want ||
                (ours.hash != bare.hash && q != Q_MODERATE && q != Q_COMMON)) {
                fprintf(stderr,
                        "praxis-bench: %s query %zu (%s): praxisd gave %zu records, bare "
                        "SQLite %zu, expected %zu%s\n",
                        query_names[q], k, v != NULL ? (q == Q_FILTER ? v->tag : v->text) : "id",
                        ours.rows, bare.rows, want,
                        ours.hash != bare.hash ? ", and not the same ones" : "");
                return -1;
            }
            if (ours.hash != bare.hash && check_ranked(b, (enum query)q, v, ours.rows) != 0) {
                return -1;
            }
        }
    }
    for (int q = Q_MODERATE; q <= Q_FILTER; q++) {
        const struct variant *v = &b->vars[q][0];
        struct bench_result ours = {0}, bare = {0};

        if (q == Q_COMMON) {
            continue;
        }
        if (ours_query(b, (enum query)q, v, 0, 0, false, false, &ours) != 0 ||
            (q == Q_FILTER && bare_query(b, (enum query)q, v, 0, 0, false, &bare) != 0)) {
            return -1;
        }
        if (ours.rows != v->matches || (q == Q_FILTER && bare.rows != v->matches)) {
            fprintf(stderr,
                    "praxis-bench: %s query: praxisd matches %zu records, bare SQLite %zu, "
                    "expected %zu\n",
                    query_names[q], ours.rows, q == Q_FILTER ? bare.rows : v->matches, v->matches);
            return -1;
        }
    }
    return 0;
}

static void
report_latency(struct bench_report *rep, enum query q, double *ours, double *bare, size_t reps)
{
    char name[64], base[64];
    double o50 = bench_run_quantile(ours, reps, 0.5), o99 = bench_run_quantile(ours, reps, 0.99);
    double b50 = bench_run_quantile(bare, reps, 0.5), b99 = bench_run_quantile(bare, reps, 0.99);

    snprintf(name, sizeof(name), "query_%s_p50_ms", query_names[q]);
    snprintf(base, sizeof(base), "bare_%s_p50_ms", query_names[q]);
    bench_report_timed(rep, name, o50, "ms", base, b50, -1, reps);
    bench_report_timed(rep, base, b50, "ms", NULL, 0, -1, reps);
    snprintf(name, sizeof(name), "query_%s_p99_ms", query_names[q]);
    snprintf(base, sizeof(base), "bare_%s_p99_ms", query_names[q]);
    bench_report_timed(rep, name, o99, "ms", base, b99, -1, reps);
    bench_report_timed(rep, base, b99, "ms", NULL, 0, -1, reps);
}

static int
run_queries(struct dbench *b, struct bench_report *rep)
{
    size_t reps = b->opts->quick ? QUICK_REPS : QUERY_REPS;
    double *samples = calloc(2 * Q_COUNT * reps, sizeof(*samples));
    int rc = -1;

    if (samples == NULL) {
        fprintf(stderr, "praxis-bench: out of memory\n");
        return -1;
    }
    fprintf(stderr, "praxis-bench: daemon: choosing and checking the queries\n");
    if (pick_text(b, Q_MODERATE) != 0 || pick_text(b, Q_COMMON) != 0 || pick_tags(b) != 0 ||
        check_queries(b) != 0) {
        goto out;
    }
    fprintf(stderr, "praxis-bench: daemon: %zu repetitions of %d queries, ours and bare\n", reps,
            Q_COUNT);
    for (size_t r = 0; r < reps; r++) {
        for (int q = 0; q < Q_COUNT; q++) {
            const struct variant *v = q == Q_GET ? NULL : &b->vars[q][r % b->n_vars[q]];
            size_t want = q == Q_GET ? 1 : expected_rows((enum query)q, v);
            unsigned limit = query_limit((enum query)q);

            /* Alternate which side goes first, so neither always runs on a warmer cache. */
            for (int side = 0; side < 2; side++) {
                bool ours = (side + (int)(r % 2)) % 2 == 0;
                struct bench_result res;
                uint64_t t0 = bench_run_now_ns();
                int err =
                    ours
                        ? ours_query(b, (enum query)q, v, limit, get_index(b, r), true, false, &res)
                        : bare_query(b, (enum query)q, v, limit, get_index(b, r), false, &res);
                double ms = (double)(bench_run_now_ns() - t0) / 1e6;

                if (err != 0) {
                    goto out;
                }
                if (res.rows != want) {
                    fprintf(stderr, "praxis-bench: %s query: %zu records, expected %zu\n",
                            query_names[q], res.rows, want);
                    goto out;
                }
                samples[(size_t)(2 * q + (ours ? 0 : 1)) * reps + r] = ms;
            }
        }
    }
    for (int q = 0; q < Q_COUNT; q++) {
        double m = 0;

        for (size_t k = 0; q != Q_GET && k < b->n_vars[q]; k++) {
            m += (double)b->vars[q][k].matches / (double)b->n_vars[q];
        }
        if (q != Q_GET) {
            char name[64];

            snprintf(name, sizeof(name), "query_%s_matches", query_names[q]);
            bench_report_timed(rep, name, m, "records", NULL, 0, -1, b->n_vars[q]);
        }
        report_latency(rep, (enum query)q, samples + (size_t)(2 * q) * reps,
                       samples + (size_t)(2 * q + 1) * reps, reps);
    }
    rc = 0;
out:
    free(samples);
    return rc;
}

/* ---- Footprint ---- */

static int
run_footprint(struct dbench *b, struct bench_report *rep)
{
    double n = (double)b->corpus->n;
    uint64_t rss = bench_praxisd_peak_rss(b->d);

    if (rss == 0 || b->store_bytes == 0 || b->bare_bytes == 0) {
        fprintf(stderr, "praxis-bench: cannot measure the store or the daemon\n");
        return -1;
    }
    bench_report_value(rep, "store_bytes_per_record", (double)b->store_bytes / n, "bytes",
                       "bare_bytes_per_record", (double)b->bare_bytes / n);
    bench_report_value(rep, "bare_bytes_per_record", (double)b->bare_bytes / n, "bytes", NULL, 0);
    bench_report_value(rep, "praxisd_peak_rss_mib", (double)rss / (1024.0 * 1024.0), "MiB", NULL,
                       0);
    return 0;
}

/* ---- Set-up and tear-down ---- */

static int
make_dir(struct dbench *b)
{
    if (bench_workdir_make(b->dir, sizeof(b->dir)) != 0) {
        return -1;
    }
    b->have_dir = true;
    return 0;
}

static int
set_up(struct dbench *b)
{
    char path[4200];

    if ((b->req = calloc(1, sizeof(*b->req))) == NULL) {
        fprintf(stderr, "praxis-bench: out of memory\n");
        return -1;
    }
    if (make_dir(b) != 0) {
        return -1;
    }
    fprintf(stderr, "praxis-bench: daemon: generating %u records in %s\n", b->opts->records,
            b->dir);
    if ((b->corpus = bench_corpus_new(CORPUS_SEED, b->opts->records)) == NULL) {
        return -1;
    }
    snprintf(path, sizeof(path), "%s/praxisd", b->opts->bin_dir);
    if ((b->d = bench_praxisd_start(path, b->dir)) == NULL ||
        (b->conn = bench_conn_open(b->d)) == NULL) {
        return -1;
    }
    snprintf(path, sizeof(path), "%s/bare.db", b->dir);
    if ((b->bare = bench_bare_open(path)) == NULL) {
        return -1;
    }
    return 0;
}

static int
tear_down(struct dbench *b)
{
    int rc = 0;

    bench_conn_close(b->conn);
    if (bench_praxisd_stop(b->d) != 0) {
        rc = -1;
    }
    bench_bare_close(b->bare);
    bench_corpus_free(b->corpus);
    if (b->have_dir) {
        bench_workdir_done(b->dir);
    }
    free(b->req);
    return rc;
}

int
bench_daemon_run(const struct bench_opts *opts, struct bench_report *rep)
{
    struct dbench *b = calloc(1, sizeof(*b));
    int rc = -1;

    if (b == NULL) {
        fprintf(stderr, "praxis-bench: out of memory\n");
        return -1;
    }
    b->opts = opts;
    if (set_up(b) != 0 || run_import(b, rep) != 0) {
        goto out;
    }
    if (bench_wants(opts, "query") && run_queries(b, rep) != 0) {
        goto out;
    }
    if (bench_wants(opts, "footprint") && run_footprint(b, rep) != 0) {
        goto out;
    }
    rc = 0;
out:
    if (tear_down(b) != 0) {
        rc = -1;
    }
    free(b);
    return rc;
}
