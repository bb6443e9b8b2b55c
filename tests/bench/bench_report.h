/* SPDX-License-Identifier: MIT */
/*
 * bench_report.h - the results of praxis-bench: a table for people on stdout and, with
 * --out, one JSON object per figure and per line for machines:
 *
 *   {"bench": name, "value": number, "unit": text, "baseline": name or null,
 *    "baseline_value": number or null, "ratio": value / baseline_value or null}
 *
 * A baseline is another figure measured in the same run (raw libsodium beside our code,
 * for example), reported by name and value; ratio = value / baseline_value, so for rates
 * higher is better. Lines are written and flushed as figures arrive, so a suite that
 * fails half-way still leaves what it measured.
 */
#ifndef PX_BENCH_REPORT_H
#define PX_BENCH_REPORT_H

#include <stdint.h>

struct bench_figure {
    const char *bench;     /* figure name, e.g. "record_decode_verify" */
    double value;          /* the median, for a timed figure */
    const char *unit;      /* e.g. "records/s", "bytes" */
    const char *baseline;  /* name of the figure compared with, or NULL */
    double baseline_value; /* read only when baseline != NULL */
    double spread;         /* (max - min) / median over the repetitions; < 0: not timed */
    uint64_t iters;        /* operations per repetition; 0: not timed */
};

struct bench_report;

/*
 * Starts a report: prints the table header and, when out_path is not NULL, creates or
 * truncates that file. Returns NULL (after printing why) when the file cannot be opened
 * or memory runs out. Release with bench_report_free.
 */
struct bench_report *bench_report_new(const char *out_path);

/* Prints one table row and writes one JSON line. The strings are copied out at once. */
void bench_report_add(struct bench_report *rep, const struct bench_figure *fig);

/* bench_report_add of a timed figure: the fields of struct bench_figure in order. */
void bench_report_timed(struct bench_report *rep, const char *name, double value, const char *unit,
                        const char *baseline, double baseline_value, double spread, uint64_t iters);

/* bench_report_add of a figure that is not timed (no spread, no iterations). */
void bench_report_value(struct bench_report *rep, const char *name, double value, const char *unit,
                        const char *baseline, double baseline_value);

/*
 * Closes the output file and frees rep. Returns 0, or -1 when any write to the file failed
 * (the reason was printed). bench_report_free(NULL) returns 0.
 */
int bench_report_free(struct bench_report *rep);

#endif
