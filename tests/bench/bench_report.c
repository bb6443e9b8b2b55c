/* SPDX-License-Identifier: MIT */
/* bench_report.c - the table on stdout and the JSON Lines file; see bench_report.h. */
#include "bench_report.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct bench_report {
    FILE *out; /* NULL without --out */
    char *path;
    bool failed;
};

struct bench_report *
bench_report_new(const char *out_path)
{
    struct bench_report *rep = calloc(1, sizeof(*rep));

    if (rep == NULL) {
        fprintf(stderr, "praxis-bench: out of memory\n");
        return NULL;
    }
    if (out_path != NULL) {
        if ((rep->path = strdup(out_path)) == NULL) {
            fprintf(stderr, "praxis-bench: out of memory\n");
            goto fail;
        }
        if ((rep->out = fopen(out_path, "w")) == NULL) {
            fprintf(stderr, "praxis-bench: %s: %s\n", out_path, strerror(errno));
            goto fail;
        }
    }
    printf("%-32s %14s %-10s %-32s %8s %8s %10s\n", "bench", "value", "unit", "baseline", "ratio",
           "spread", "iters/rep");
    fflush(stdout);
    return rep;
fail:
    free(rep->path);
    free(rep);
    return NULL;
}

/* Writes s as a JSON string. The names are ours, but escape anyway: the file is data. */
static void
put_json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
        if (*p == '"' || *p == '\\') {
            fprintf(f, "\\%c", *p);
        } else if (*p < 0x20) {
            fprintf(f, "\\u%04x", *p);
        } else {
            fputc(*p, f);
        }
    }
    fputc('"', f);
}

/* JSON has no NaN or infinity: those become null rather than an unreadable line. */
static void
put_json_number(FILE *f, double v)
{
    if (isfinite(v)) {
        fprintf(f, "%.10g", v);
    } else {
        fputs("null", f);
    }
}

static void
write_json(struct bench_report *rep, const struct bench_figure *fig, bool has_ratio, double ratio)
{
    FILE *f = rep->out;

    fputs("{\"bench\": ", f);
    put_json_string(f, fig->bench);
    fputs(", \"value\": ", f);
    put_json_number(f, fig->value);
    fputs(", \"unit\": ", f);
    put_json_string(f, fig->unit);
    fputs(", \"baseline\": ", f);
    if (fig->baseline != NULL) {
        put_json_string(f, fig->baseline);
        fputs(", \"baseline_value\": ", f);
        put_json_number(f, fig->baseline_value);
    } else {
        fputs("null, \"baseline_value\": null", f);
    }
    fputs(", \"ratio\": ", f);
    if (has_ratio) {
        put_json_number(f, ratio);
    } else {
        fputs("null", f);
    }
    fputs("}\n", f);
    if (fflush(f) != 0 || ferror(f)) {
        if (!rep->failed) {
            fprintf(stderr, "praxis-bench: %s: %s\n", rep->path, strerror(errno));
        }
        rep->failed = true;
    }
}

void
bench_report_add(struct bench_report *rep, const struct bench_figure *fig)
{
    bool has_ratio = fig->baseline != NULL && fig->baseline_value != 0;
    double ratio = has_ratio ? fig->value / fig->baseline_value : 0;
    char ratio_s[32] = "-", spread_s[32] = "-", iters_s[32] = "-";
    /* Latencies in ms need decimals that rates in records/s do not. */
    int prec = fig->value < 100 && fig->value > -100 ? 3 : 1;

    if (has_ratio) {
        snprintf(ratio_s, sizeof(ratio_s), "%.3f", ratio);
    }
    if (fig->spread >= 0) {
        snprintf(spread_s, sizeof(spread_s), "%.1f%%", 100 * fig->spread);
    }
    if (fig->iters > 0) {
        snprintf(iters_s, sizeof(iters_s), "%llu", (unsigned long long)fig->iters);
    }
    printf("%-32s %14.*f %-10s %-32s %8s %8s %10s\n", fig->bench, prec, fig->value, fig->unit,
           fig->baseline != NULL ? fig->baseline : "-", ratio_s, spread_s, iters_s);
    fflush(stdout);
    if (rep->out != NULL) {
        write_json(rep, fig, has_ratio, ratio);
    }
}

void
bench_report_timed(struct bench_report *rep, const char *name, double value, const char *unit,
                   const char *baseline, double baseline_value, double spread, uint64_t iters)
{
    struct bench_figure f = {
        .bench = name,
        .value = value,
        .unit = unit,
        .baseline = baseline,
        .baseline_value = baseline_value,
        .spread = spread,
        .iters = iters,
    };

    bench_report_add(rep, &f);
}

void
bench_report_value(struct bench_report *rep, const char *name, double value, const char *unit,
                   const char *baseline, double baseline_value)
{
    bench_report_timed(rep, name, value, unit, baseline, baseline_value, -1, 0);
}

int
bench_report_free(struct bench_report *rep)
{
    int rc;

    if (rep == NULL) {
        return 0;
    }
    rc = rep->failed ? -1 : 0;
    if (rep->out != NULL && fclose(rep->out) != 0) {
        if (!rep->failed) {
            fprintf(stderr, "praxis-bench: %s: %s\n", rep->path, strerror(errno));
        }
        rc = -1;
    }
    free(rep->path);
    free(rep);
    return rc;
}
