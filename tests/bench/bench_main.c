/* SPDX-License-Identifier: MIT */
/*
 * bench_main.c - praxis-bench: runs the benchmark suites and reports their figures.
 *
 * Usage: praxis-bench [--out FILE] [--quick] [--records N] [--only NAME] [SUITE...]
 * Without SUITE or --only, every suite runs. The table goes to stdout, progress to stderr;
 * --out FILE receives JSON Lines (bench_report.h). The daemon suite runs praxisd from the
 * directory this program is in, talks to it over a Unix socket in a temporary directory
 * and removes that directory at the end; nothing touches the network.
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

/* Every suite, in the order they run. Add a row to add one. */
static const struct bench_suite suites[] = {
    {"record", NULL, "record codec: encode, decode, sign, decode+verify vs raw libsodium",
     bench_record_run},
    {"link", NULL, "peer link crypto: handshakes/s, box-stream MB/s vs the bare libsodium calls",
     bench_link_run},
    {"daemon", "import query footprint",
     "a real praxisd: import rate, query latency, store size, RSS vs bare SQLite",
     bench_daemon_run},
};

#define N_SUITES (sizeof(suites) / sizeof(suites[0]))

static void
usage(FILE *f)
{
    fprintf(f,
            "usage: praxis-bench [--out FILE] [--quick] [--records N] [--only NAME] "
            "[SUITE...]\n"
            "  --out FILE   also write one JSON object per figure and line to FILE\n"
            "  --quick      short repetitions and a %d-record store, for a smoke test\n"
            "               (figures are noisier)\n"
            "  --records N  records in the daemon suite's store (default %d)\n"
            "  --only NAME  run only this suite, or only this group of a suite\n"
            "suites (groups):\n",
            QUICK_RECORDS, DEFAULT_RECORDS);
    for (size_t i = 0; i < N_SUITES; i++) {
        fprintf(f, "  %-8s  %s\n", suites[i].name, suites[i].help);
        if (suites[i].groups != NULL) {
            fprintf(f, "  %-8s  (%s)\n", "", suites[i].groups);
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

int
main(int argc, char **argv)
{
    struct bench_opts opts = {.quick = false, .rep_seconds = 0.3, .reps = 7};
    const struct bench_suite *chosen[N_SUITES];
    size_t n_chosen = 0;
    const char *out = NULL, *only = NULL;
    bool records_set = false;
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
