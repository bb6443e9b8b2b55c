/* SPDX-License-Identifier: MIT */
/*
 * bench_run.h - timing for praxis-bench: interleaved repetitions and median rates.
 *
 * A group of cases (ours and its baseline, or a whole suite) is measured together:
 *   1. warm-up and calibration: each case runs with doubling iteration counts until one
 *      run takes a tenth of a repetition, which also warms caches, branch predictors and
 *      the CPU clock; the count is then scaled so one repetition takes opts->rep_seconds;
 *   2. one untimed round at that count;
 *   3. opts->reps rounds, each running every case once in order (A B A B ...), so that
 *      noise from the rest of the machine lands on ours and the baseline alike.
 * The iteration count of a case is fixed after step 1. Times come from CLOCK_MONOTONIC.
 * The reported rate is the median over the rounds of iterations / seconds.
 */
#ifndef PX_BENCH_RUN_H
#define PX_BENCH_RUN_H

#include <stddef.h>
#include <stdint.h>

#include "bench.h"

/* Runs the measured operation iters times on ctx. Returns 0, or -1 when it failed. */
typedef int bench_run_fn(void *ctx, uint64_t iters);

struct bench_case {
    const char *name;
    bench_run_fn *fn;
    void *ctx;
};

struct bench_rate {
    double median; /* operations per second */
    double spread; /* (max - min) / median */
    uint64_t iters;
};

/* Nanoseconds of CLOCK_MONOTONIC. */
uint64_t bench_run_now_ns(void);

/*
 * The p-quantile (0 < p <= 1) of n samples by the nearest-rank method: the smallest sample
 * with at least p * n samples at or below it. Sorts samples in place; 0 when n is 0.
 */
double bench_run_quantile(double *samples, size_t n, double p);

/*
 * Measures the n cases as above and fills rates[0..n). Returns 0, or -1 when a case
 * failed (its name is printed) or memory ran out.
 */
int bench_run_interleaved(const struct bench_opts *opts, const struct bench_case *cases, size_t n,
                          struct bench_rate *rates);

#endif
