/* SPDX-License-Identifier: MIT */
/* bench_run.c - interleaved repetitions and median rates; see bench_run.h. */
#include "bench_run.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

uint64_t
bench_run_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * UINT64_C(1000000000) + (uint64_t)ts.tv_nsec;
}

/* Runs one case once and returns its time in seconds, or a negative value on failure. */
static double
time_case(const struct bench_case *c, uint64_t iters)
{
    uint64_t t0 = bench_run_now_ns();

    if (c->fn(c->ctx, iters) != 0) {
        fprintf(stderr, "praxis-bench: %s failed\n", c->name);
        return -1;
    }
    return (double)(bench_run_now_ns() - t0) / 1e9;
}

/* Doubles the count until a run takes a tenth of a repetition, then scales it up. */
static int
calibrate(const struct bench_opts *opts, const struct bench_case *c, uint64_t *iters)
{
    uint64_t n = 1;
    double t, want;

    for (;;) {
        if ((t = time_case(c, n)) < 0) {
            return -1;
        }
        if (t >= opts->rep_seconds / 10 || n >= (UINT64_C(1) << 40)) {
            break;
        }
        n *= 2;
    }
    want = (double)n * opts->rep_seconds / (t > 0 ? t : 1e-9);
    *iters = want < 1 ? 1 : (uint64_t)want;
    return 0;
}

static int
compare_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : (x > y ? 1 : 0);
}

double
bench_run_quantile(double *samples, size_t n, double p)
{
    double rank = p * (double)n;
    size_t k = (size_t)rank;

    if (n == 0) {
        return 0;
    }
    qsort(samples, n, sizeof(*samples), compare_double);
    /* ceil(p * n), as a 1-based rank, without libm. */
    if ((double)k < rank) {
        k++;
    }
    return samples[k > 0 ? (k <= n ? k - 1 : n - 1) : 0];
}

int
bench_run_interleaved(const struct bench_opts *opts, const struct bench_case *cases, size_t n,
                      struct bench_rate *rates)
{
    unsigned reps = opts->reps > 0 ? opts->reps : 1;
    double *samples = calloc(n * reps, sizeof(*samples));
    int rc = -1;

    if (samples == NULL) {
        fprintf(stderr, "praxis-bench: out of memory\n");
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        if (calibrate(opts, &cases[i], &rates[i].iters) != 0) {
            goto out;
        }
    }
    /* One untimed round at the final counts, then the measured ones. */
    for (unsigned r = 0; r <= reps; r++) {
        for (size_t i = 0; i < n; i++) {
            double t = time_case(&cases[i], rates[i].iters);

            if (t < 0) {
                goto out;
            }
            if (r > 0) {
                samples[i * reps + (r - 1)] = (double)rates[i].iters / (t > 0 ? t : 1e-9);
            }
        }
    }
    for (size_t i = 0; i < n; i++) {
        double *s = samples + i * reps;

        qsort(s, reps, sizeof(*s), compare_double);
        rates[i].median = reps % 2 == 1 ? s[reps / 2] : (s[reps / 2 - 1] + s[reps / 2]) / 2;
        rates[i].spread = rates[i].median > 0 ? (s[reps - 1] - s[0]) / rates[i].median : 0;
    }
    rc = 0;
out:
    free(samples);
    return rc;
}
