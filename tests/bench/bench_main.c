/* SPDX-License-Identifier: MIT */
/*
 * bench_main.c - praxis-bench: runs the benchmark suites and reports their figures.
 *
 * Usage: praxis-bench [--out FILE] [--quick] [--records N] [--nodes N[,N...]]
 *                     [--converge-records N] [--only NAME] [SUITE...]
 * Without SUITE or --only, every suite runs. The table goes to stdout, progress to stderr;
 * --out FILE receives JSON Lines (bench_report.h). The daemon suite runs praxisd from the
 * directory this program is in, talks to it over a Unix socket in a temporary directory
 * and removes that directory at the end. The replication suite runs several praxisd that
 * link to each other over TCP on 127.0.0.1 only, and the load suite one praxisd that
 * peers of this process dial on 127.0.0.1; nothing else touches the network.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"
#include "bench_report.h"
#include "protocol/sign.h"

/* The size of the daemon suite's store, and with --quick. */
#define DEFAULT_RECORDS 100000
#define QUICK_RECORDS   5000
#define MAX_RECORDS     10000000
/* The replication suite's networks: nodes, and records published, normally and with --quick. */
#define DEFAULT_NODES            10
#define QUICK_NODES              5
#define MIN_NODES                2
#define MAX_NODES                64
#define DEFAULT_CONVERGE_RECORDS 10000
#define QUICK_CONVERGE_RECORDS   1000

/* Every suite, in the order they run. Add a row to add one. */
static const struct bench_suite suites[] = {
    {"record", NULL, "record codec: encode, decode, sign, decode+verify vs raw libsodium",
     bench_record_run},
    {"link", NULL,
     "peer link: handshakes/s, box-stream MB/s, records over loopback TCP vs bare libsodium",
     bench_link_run},
    {"daemon", "import query footprint",
     "a real praxisd: import rate, query latency, store size, RSS vs bare SQLite",
     bench_daemon_run},
    {"replication", "converge ingest",
     "praxisd networks on loopback: convergence, wire bytes, catch-up from a peer",
     bench_replication_run},
    {"reconcile", NULL,
     "anti-entropy in memory: bytes and round trips between two 100k-record indexes",
     bench_reconcile_run},
    {"load", NULL, "one praxisd, 64 peers pushing 200 records/s for 5 min: latency, RSS, CPU",
     bench_load_run},
};

#define N_SUITES (sizeof(suites) / sizeof(suites[0]))

static void
usage(FILE *f)
{
    fprintf(f,
            "usage: praxis-bench [--out FILE] [--quick] [--records N] [--nodes N[,N...]]\n"
            "                    [--converge-records N] [--only NAME] [SUITE...]\n"
            "  --out FILE   also write one JSON object per figure and line to FILE\n"
            "  --quick      short repetitions and a %d-record store, for a smoke test\n"
            "               (figures are noisier)\n"
            "  --records N  records in the daemon suite's store and in the replication\n"
            "               suite's full node (default %d)\n"
            "  --nodes N[,N...]\n"
            "               nodes in each network the replication suite converges, %d to %d,\n"
            "               up to %d sizes (default %d; %d with --quick)\n"
            "  --converge-records N\n"
            "               records published in those networks (default %d; %d with --quick)\n"
            "  --only NAME  run only this suite, or only this group of a suite\n"
            "  (the load suite runs %d s, %d s with --quick; the environment variables\n"
            "  PRAXIS_BENCH_LOAD_SECONDS, _RATE, _PEERS and _WARMUP change it)\n"
            "suites (groups):\n",
            QUICK_RECORDS, DEFAULT_RECORDS, MIN_NODES, MAX_NODES, BENCH_MAX_NODE_COUNTS,
            DEFAULT_NODES, QUICK_NODES, DEFAULT_CONVERGE_RECORDS, QUICK_CONVERGE_RECORDS, 300, 20);
    for (size_t i = 0; i < N_SUITES; i++) {
        fprintf(f, "  %-11s  %s\n", suites[i].name, suites[i].help);
        if (suites[i].groups != NULL) {
            fprintf(f, "  %-11s  (%s)\n", "", suites[i].groups);
        }
    }
}

static const struct bench_suite *
find_suite(const char *name)
{
    for (size_t i = 0; i < N_SUITES; i++) {
        if (strcmp(suites[i].name, name) == 0) {
            return &suites[i];
        }
    }
    return NULL;
}

/* The suite that has a group called name, or NULL. */
static const struct bench_suite *
find_group(const char *name)
{
    size_t n = strlen(name);

    for (size_t i = 0; i < N_SUITES; i++) {
        const char *g = suites[i].groups;

        while (g != NULL && *g != '\0') {
            size_t len = strcspn(g, " ");

            if (len == n && strncmp(g, name, n) == 0) {
                return &suites[i];
            }
            g += len;
            g += strspn(g, " ");
        }
    }
    return NULL;
}

bool
bench_wants(const struct bench_opts *opts, const char *group)
{
    return opts->only == NULL || strcmp(opts->only, group) == 0;
}

/* The directory this program was run from, for finding praxisd beside it. */
static char *
own_dir(const char *argv0)
{
    char buf[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
    char *slash;

    if (n > 0) {
        buf[n] = '\0';
    } else {
        snprintf(buf, sizeof(buf), "%s", argv0);
    }
    if ((slash = strrchr(buf, '/')) == NULL) {
        return strdup(".");
    }
    *slash = '\0';
    return strdup(buf[0] != '\0' ? buf : "/");
}

/* A decimal count in 1..MAX_RECORDS; false otherwise. */
static bool
parse_records(const char *s, unsigned *out)
{
    char *end;
    unsigned long v;

    if (*s < '0' || *s > '9') {
        return false;
    }
    v = strtoul(s, &end, 10);
    if (*end != '\0' || v < 1 || v > MAX_RECORDS) {
        return false;
    }
    *out = (unsigned)v;
    return true;
}

/* A comma-separated list of 1 to BENCH_MAX_NODE_COUNTS node counts in MIN..MAX_NODES. */
static bool
parse_nodes(const char *s, struct bench_opts *opts)
{
    opts->n_nodes = 0;
    for (;;) {
        char *end;
        unsigned long v;

        if (*s < '0' || *s > '9' || opts->n_nodes == BENCH_MAX_NODE_COUNTS) {
            return false;
        }
        v = strtoul(s, &end, 10);
        if (v < MIN_NODES || v > MAX_NODES || (*end != '\0' && *end != ',')) {
            return false;
        }
        opts->nodes[opts->n_nodes++] = (unsigned)v;
        if (*end == '\0') {
            return true;
        }
        s = end + 1;
    }
}

int
main(int argc, char **argv)
{
    struct bench_opts opts = {.quick = false, .rep_seconds = 0.3, .reps = 7};
    const struct bench_suite *chosen[N_SUITES];
    size_t n_chosen = 0;
    const char *out = NULL, *only = NULL;
    bool records_set = false, nodes_set = false, converge_set = false;
    struct bench_report *rep;
    char *bin_dir;
    int rc = 0;

    for (int i = 1; i < argc; i++) {
        const struct bench_suite *s;

        if (strcmp(argv[i], "--out") == 0 && i + 1 < argc) {
            out = argv[++i];
        } else if (strncmp(argv[i], "--out=", 6) == 0 && argv[i][6] != '\0') {
            out = argv[i] + 6;
        } else if (strcmp(argv[i], "--quick") == 0) {
            opts.quick = true;
        } else if (strcmp(argv[i], "--records") == 0 && i + 1 < argc &&
                   parse_records(argv[i + 1], &opts.records)) {
            records_set = true;
            i++;
        } else if (strncmp(argv[i], "--records=", 10) == 0 &&
                   parse_records(argv[i] + 10, &opts.records)) {
            records_set = true;
        } else if (strcmp(argv[i], "--nodes") == 0 && i + 1 < argc &&
                   parse_nodes(argv[i + 1], &opts)) {
            nodes_set = true;
            i++;
        } else if (strncmp(argv[i], "--nodes=", 8) == 0 && parse_nodes(argv[i] + 8, &opts)) {
            nodes_set = true;
        } else if (strcmp(argv[i], "--converge-records") == 0 && i + 1 < argc &&
                   parse_records(argv[i + 1], &opts.converge_records)) {
            converge_set = true;
            i++;
        } else if (strncmp(argv[i], "--converge-records=", 19) == 0 &&
                   parse_records(argv[i] + 19, &opts.converge_records)) {
            converge_set = true;
        } else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc && only == NULL) {
            only = argv[++i];
        } else if (strncmp(argv[i], "--only=", 7) == 0 && argv[i][7] != '\0' && only == NULL) {
            only = argv[i] + 7;
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (argv[i][0] != '-' && (s = find_suite(argv[i])) != NULL) {
            if (n_chosen < N_SUITES) {
                chosen[n_chosen++] = s;
            }
        } else {
            fprintf(stderr, "praxis-bench: unknown or bad argument '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    if (only != NULL) {
        const struct bench_suite *s = find_suite(only);

        if (s == NULL && (s = find_group(only)) != NULL) {
            opts.only = only; /* a group: its suite runs, reporting that group */
        }
        if (s == NULL || n_chosen > 0) {
            fprintf(stderr, "praxis-bench: --only takes one suite or group%s\n",
                    s == NULL ? "" : ", without SUITE arguments");
            usage(stderr);
            return 2;
        }
        chosen[n_chosen++] = s;
    }
    if (n_chosen == 0) {
        for (size_t i = 0; i < N_SUITES; i++) {
            chosen[n_chosen++] = &suites[i];
        }
    }
    if (opts.quick) {
        opts.rep_seconds = 0.05;
        opts.reps = 3;
    }
    if (!records_set) {
        opts.records = opts.quick ? QUICK_RECORDS : DEFAULT_RECORDS;
    }
    if (!nodes_set) {
        opts.nodes[0] = opts.quick ? QUICK_NODES : DEFAULT_NODES;
        opts.n_nodes = 1;
    }
    if (!converge_set) {
        opts.converge_records = opts.quick ? QUICK_CONVERGE_RECORDS : DEFAULT_CONVERGE_RECORDS;
    }
    if ((bin_dir = own_dir(argv[0])) == NULL) {
        fprintf(stderr, "praxis-bench: out of memory\n");
        return 1;
    }
    opts.bin_dir = bin_dir;
    if (px_crypto_init() != 0) {
        fprintf(stderr, "praxis-bench: libsodium failed to initialise\n");
        free(bin_dir);
        return 1;
    }
    if ((rep = bench_report_new(out)) == NULL) {
        free(bin_dir);
        return 1;
    }
    for (size_t i = 0; i < n_chosen; i++) {
        if (chosen[i]->run(&opts, rep) != 0) {
            fprintf(stderr, "praxis-bench: suite %s failed\n", chosen[i]->name);
            rc = 1;
        }
    }
    if (bench_report_free(rep) != 0) {
        rc = 1;
    }
    free(bin_dir);
    return rc;
}
