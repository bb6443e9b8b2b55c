/* SPDX-License-Identifier: MIT */
/*
 * bench.h - what the suites of praxis-bench share: the run options and the suite registry.
 *
 * A suite is one function that measures a group of related figures and hands each to the
 * report (bench_report.h), using the interleaved timer in bench_run.h. Adding a benchmark
 * (the store, the network) means writing bench_<suite>.c with a bench_<suite>_run
 * function, declaring it here and adding one row to the table in bench_main.c.
 *
 * A suite whose figures share an expensive set-up (the daemon suite generates and loads
 * a whole store) names its groups in its table row; --only GROUP then runs the set-up and
 * reports only that group (bench_wants).
 */
#ifndef PX_BENCH_H
#define PX_BENCH_H

#include <stdbool.h>

struct bench_report;

/* How long the load suite runs, in seconds, normally and with --quick. */
#define BENCH_LOAD_SECONDS       300
#define BENCH_LOAD_QUICK_SECONDS 20

/* How many network sizes --nodes may list. */
#define BENCH_MAX_NODE_COUNTS 4

struct bench_opts {
    bool quick;         /* --quick: shorter repetitions, fewer of them */
    double rep_seconds; /* aimed-at duration of one repetition of one case */
    unsigned reps;      /* measured repetitions per case; the median is reported */
    unsigned records;   /* --records: records in the generated store (daemon suite) */
    unsigned nodes[BENCH_MAX_NODE_COUNTS]; /* --nodes: network sizes (replication suite) */
    unsigned n_nodes;
    unsigned converge_records; /* --converge-records: records published (replication suite) */
    const char *only;          /* --only: the one suite or group to run; NULL runs everything */
    const char *bin_dir;       /* the directory of this program, where praxisd is built too */
};

/* Should the figures of group be measured (no --only, or --only names it)? */
bool bench_wants(const struct bench_opts *opts, const char *group);

/*
 * Runs one suite: measures its figures and adds each to rep. Returns 0, or -1 after
 * printing why to stderr (a set-up step failed, or an operation returned an error).
 */
typedef int bench_suite_fn(const struct bench_opts *opts, struct bench_report *rep);

struct bench_suite {
    const char *name;   /* what to name on the command line to run only this suite */
    const char *groups; /* space-separated groups --only can pick, or NULL */
    const char *help;   /* one line for --help */
    bench_suite_fn *run;
};

/* The suites. */
int bench_record_run(const struct bench_opts *opts, struct bench_report *rep);
int bench_daemon_run(const struct bench_opts *opts, struct bench_report *rep);
int bench_link_run(const struct bench_opts *opts, struct bench_report *rep);
int bench_replication_run(const struct bench_opts *opts, struct bench_report *rep);
int bench_reconcile_run(const struct bench_opts *opts, struct bench_report *rep);
int bench_load_run(const struct bench_opts *opts, struct bench_report *rep);

#endif
