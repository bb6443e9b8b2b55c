/* SPDX-License-Identifier: MIT */
/*
 * transfer.c - export and import; see transfer.h and docs/json.md ("Export and import").
 *
 * Export streams: each page of records praxisd sends is checked and written out before the
 * next one is read, so memory stays flat whatever the size of the store.
 *
 * Import reads JSON Lines, takes each line's "raw" (the signed record in hex) and sends
 * the records in batches (at most PX_API_MAX_BATCH records and about IMPORT_BATCH_BYTES
 * per frame), several batches in flight so that praxisd verifies one while it stores
 * another. Only "raw" counts: praxisd decodes and verifies every record itself, so the
 * other keys of a line, which describe the record for people, are never trusted.
 */
#include "transfer.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "card.h"
#include "conn.h"
#include "json.h"
#include "protocol/buf.h"
#include "protocol/err.h"
#include "term.h"

/* Record bytes in one import request: well under PX_API_MAX_FRAME with the framing. */
#define IMPORT_BATCH_BYTES (1u << 20)
/* Import requests in flight (praxisd works on 4 per client at a time). */
#define IMPORT_INFLIGHT 4
/* The longest line import reads; a valid export line is at most about 520 KiB. */
#define IMPORT_LINE_MAX (1u << 20)
/* Progress updates on a terminal, at most one per this many ms. */
#define PROGRESS_MS 100

/* ---- export ---- */

/* Where export writes: stdout, or a temporary file renamed over FILE at the end. */
struct export_out {
    FILE *f;
    const char *path;
    char *tmp;
};

static int
export_open(struct export_out *out, const char *path)
{
    char buf[PX_CLI_SHOW_MAX];
    mode_t mask;
    int fd;

    out->path = path;
    out->tmp = NULL;
    if (path == NULL || strcmp(path, "-") == 0) {
        out->f = stdout;
        out->path = NULL;
        return 0;
    }
    if (asprintf(&out->tmp, "%s.XXXXXX", path) < 0) {
        out->tmp = NULL;
        px_cli_error("out of memory");
        return -1;
    }
    if ((fd = mkstemp(out->tmp)) < 0) {
        px_cli_error("cannot create a file beside %s: %s", px_cli_show(path, buf, sizeof(buf)),
                     strerror(errno));
        free(out->tmp);
        out->tmp = NULL;
        return -1;
    }
    /* mkstemp makes it 0600; an export is public data, so give it the usual mode. */
    mask = umask(0);
    umask(mask);
    fchmod(fd, 0666 & ~mask);
    if ((out->f = fdopen(fd, "w")) == NULL) {
        px_cli_error("cannot write %s: %s", px_cli_show(out->tmp, buf, sizeof(buf)),
                     strerror(errno));
        close(fd);
        unlink(out->tmp);
        free(out->tmp);
        out->tmp = NULL;
        return -1;
    }
    return 0;
}

/* Finishes the output: on success the file replaces FILE. 0, or -1 (printed). */
static int
export_close(struct export_out *out, bool ok)
{
    char buf[PX_CLI_SHOW_MAX];
    int rc = 0;

    if (out->f == stdout) {
        if (fflush(stdout) != 0 || ferror(stdout)) {
            px_cli_error("cannot write output: %s", strerror(errno));
            rc = -1;
        }
        return rc;
    }
    if (out->f == NULL) {
        return 0;
    }
    if (ok && (fflush(out->f) != 0 || ferror(out->f) || fsync(fileno(out->f)) != 0)) {
        px_cli_error("cannot write %s: %s", px_cli_show(out->path, buf, sizeof(buf)),
                     strerror(errno));
        ok = false;
        rc = -1;
    }
    fclose(out->f);
    out->f = NULL;
    if (ok && rename(out->tmp, out->path) != 0) {
        px_cli_error("cannot rename %s to %s: %s", out->tmp,
                     px_cli_show(out->path, buf, sizeof(buf)), strerror(errno));
        ok = false;
        rc = -1;
    }
    if (!ok) {
        unlink(out->tmp);
    }
    free(out->tmp);
    out->tmp = NULL;
    return rc;
}

int
px_transfer_export(const struct px_cli_command *cmd, struct px_cli_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        {"output", required_argument, NULL, 'o'},
        {"socket", required_argument, NULL, PX_CLI_OPT_SOCKET},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct export_out out = {NULL, NULL, NULL};
    struct px_api_request req;
    const struct px_api_response *res;
    struct px_conn *c = NULL;
    const char *path = NULL;
    char *hex = NULL, buf[PX_CLI_SHOW_MAX];
    size_t count = 0, bad = 0;
    bool ok = false;
    int ch, rc = PX_CLI_EXIT_ERROR;

    while ((ch = getopt_long(argc, argv, ":o:h", opts, NULL)) != -1) {
        switch (ch) {
        case 'o':
            path = optarg;
            break;
        case PX_CLI_OPT_SOCKET:
            ctx->socket = optarg;
            break;
        case 'h':
            fputs(cmd->help, stdout);
            return PX_CLI_EXIT_OK;
        default:
            return px_cli_bad_option(cmd, ch, argv);
        }
    }
    if (optind < argc) {
        return px_cli_extra_operand(cmd, argv[optind]);
    }
    if (path != NULL && path[0] == '\0') {
        px_cli_error("export: -o needs a file name");
        return PX_CLI_EXIT_USAGE;
    }
    if (px_conn_open(px_conn_socket_path(ctx->socket), &c) != 0) {
        return PX_CLI_EXIT_UNREACHABLE;
    }
    if ((hex = malloc(2 * (size_t)PX_RECORD_MAX + 1)) == NULL) {
        px_cli_error("out of memory");
        goto out;
    }
    if (export_open(&out, path) != 0) {
        goto out;
    }
    memset(&req, 0, sizeof(req));
    req.op = PX_API_EXPORT;
    if (px_conn_send(c, &req) != 0) {
        goto out;
    }
    for (;;) {
        if (px_conn_recv_seq(c, req.seq, &res) != 0) {
            goto out;
        }
        if (res->code != 0) {
            px_conn_print_error("export: praxisd refused", res);
            goto out;
        }
        for (uint32_t i = 0; i < res->n_records; i++) {
            struct px_record rec;
            const char *field;
            char what[64], *line;
            int crc = px_card_check(res->records[i], res->record_lens[i], &rec, &field, true);

            if (crc != 0) {
                snprintf(what, sizeof(what), "export: record %zu from praxisd", count + bad + 1);
                px_card_report(what, crc, field);
                bad++;
                continue;
            }
            if ((line = px_json_export_line(&rec, hex)) == NULL) {
                px_cli_error("out of memory");
                goto out;
            }
            fputs(line, out.f);
            fputc('\n', out.f);
            free(line);
            count++;
        }
        if (ferror(out.f)) {
            px_cli_error("cannot write %s: %s",
                         out.path != NULL ? px_cli_show(out.path, buf, sizeof(buf)) : "output",
                         strerror(errno));
            goto out;
        }
        if (!res->more) {
            break;
        }
    }
    ok = true;
    rc = bad > 0 ? PX_CLI_EXIT_ERROR : PX_CLI_EXIT_OK;
out:
    if (export_close(&out, ok) != 0) {
        rc = PX_CLI_EXIT_ERROR;
    } else if (ok && path != NULL && strcmp(path, "-") != 0) {
        fprintf(stderr, "exported %zu record%s to %s\n", count, count == 1 ? "" : "s",
                px_cli_show(path, buf, sizeof(buf)));
    }
    if (bad > 0) {
        px_cli_error("export: %zu record%s failed the check and %s left out", bad,
                     bad == 1 ? "" : "s", bad == 1 ? "was" : "were");
    }
    free(hex);
    px_conn_close(c);
    return rc;
}

/* ---- import ---- */

/* A bounded line reader: lines longer than IMPORT_LINE_MAX are skipped, not buffered. */
struct lines {
    int fd;
    uint8_t *buf;
    size_t cap, start, end;
    bool eof;
    size_t lineno;
};

/*
 * The next line (without its newline) in *p, *len: 1; 0 at the end; -1 on a read error
 * (printed). *too_long is set for a line over the cap, whose text is then not given.
 */
static int
lines_next(struct lines *r, const char *name, const uint8_t **p, size_t *len, bool *too_long)
{
    char buf[PX_CLI_SHOW_MAX];
    size_t scan = r->start;

    *too_long = false;
    for (;;) {
        uint8_t *nl = memchr(r->buf + scan, '\n', r->end - scan);
        ssize_t n;

        if (nl != NULL) {
            *p = r->buf + r->start;
            *len = (size_t)(nl - *p);
            r->start = (size_t)(nl - r->buf) + 1;
            r->lineno++;
            return 1;
        }
        if (r->eof) {
            if (r->start == r->end) {
                return 0;
            }
            *p = r->buf + r->start;
            *len = r->end - r->start;
            r->start = r->end;
            r->lineno++;
            return 1;
        }
        if (r->end - r->start == r->cap) {
            /* Over the cap: drop what we have and skip to the end of the line. */
            *too_long = true;
            r->start = r->end = 0;
            for (;;) {
                n = read(r->fd, r->buf, r->cap);
                if (n < 0 && errno == EINTR) {
                    continue;
                }
                if (n <= 0) {
                    r->eof = n == 0;
                    if (n < 0) {
                        goto fail;
                    }
                    break;
                }
                if ((nl = memchr(r->buf, '\n', (size_t)n)) != NULL) {
                    r->start = (size_t)(nl - r->buf) + 1;
                    r->end = (size_t)n;
                    break;
                }
            }
            r->lineno++;
            *p = NULL;
            *len = 0;
            return 1;
        }
        if (r->start > 0) {
            memmove(r->buf, r->buf + r->start, r->end - r->start);
            r->end -= r->start;
            r->start = 0;
        }
        scan = r->end;
        n = read(r->fd, r->buf + r->end, r->cap - r->end);
        if (n < 0 && errno == EINTR) {
            scan = r->start;
            continue;
        }
        if (n < 0) {
            goto fail;
        }
        if (n == 0) {
            r->eof = true;
        }
        r->end += (size_t)n;
        scan = scan > r->start ? scan : r->start;
    }
fail:
    px_cli_error("cannot read %s: %s", px_cli_show(name, buf, sizeof(buf)), strerror(errno));
    return -1;
}

struct batch {
    uint64_t seq;
    uint32_t n;
    size_t bytes;
    uint8_t *raw[PX_API_MAX_BATCH];
    size_t len[PX_API_MAX_BATCH];
    size_t line[PX_API_MAX_BATCH];
};

struct import {
    struct px_conn *c;
    struct px_api_request *req;
    struct batch *filling;
    struct batch *inflight[IMPORT_INFLIGHT];
    unsigned n_inflight;
    uint64_t imported, duplicates, rejected, lines;
    bool tty;
    bool progress_shown;
    uint64_t last_progress;
};

static uint64_t
mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Clears the progress line so that an error line starts at column 0. */
static void
progress_clear(struct import *im)
{
    if (im->progress_shown) {
        fputs("\r\033[K", stderr);
        im->progress_shown = false;
    }
}

static void
progress(struct import *im, bool force)
{
    uint64_t now;

    if (!im->tty) {
        return;
    }
    now = mono_ms();
    if (!force && now - im->last_progress < PROGRESS_MS) {
        return;
    }
    im->last_progress = now;
    fprintf(stderr, "\rimporting: line %llu, imported %llu, already had %llu, rejected %llu\033[K",
            (unsigned long long)im->lines, (unsigned long long)im->imported,
            (unsigned long long)im->duplicates, (unsigned long long)im->rejected);
    im->progress_shown = true;
}

static void
line_error(struct import *im, size_t line, const char *detail)
{
    progress_clear(im);
    px_cli_error("line %zu: %s", line, detail);
    im->rejected++;
}

static void
batch_clear(struct batch *b)
{
    for (uint32_t i = 0; i < b->n; i++) {
        free(b->raw[i]);
        b->raw[i] = NULL;
    }
    b->n = 0;
    b->bytes = 0;
    b->seq = 0;
}

static void
batch_free(struct batch *b)
{
    if (b != NULL) {
        batch_clear(b);
        free(b);
    }
}

/* Applies one import answer to its batch. 0, or -1 (printed). */
static int
import_answered(struct import *im, struct batch *b, const struct px_api_response *res)
{
    if (res->code != 0) {
        char what[96];

        progress_clear(im);
        snprintf(what, sizeof(what), "lines %zu to %zu: praxisd refused the batch", b->line[0],
                 b->line[b->n - 1]);
        px_conn_print_error(what, res);
        im->rejected += b->n;
        return 0;
    }
    if ((uint64_t)res->accepted + res->duplicates + res->n_rejected != b->n || res->more) {
        progress_clear(im);
        px_cli_error("praxisd's answer to an import of %u records accounts for %llu", b->n,
                     (unsigned long long)res->accepted + res->duplicates + res->n_rejected);
        return -1;
    }
    im->imported += res->accepted;
    im->duplicates += res->duplicates;
    for (uint32_t i = 0; i < res->n_rejected; i++) {
        uint32_t idx = res->rejected[i].index;
        int code = res->rejected[i].code;

        if (idx >= b->n) {
            progress_clear(im);
            px_cli_error("praxisd rejected record %u of an import of %u", idx, b->n);
            return -1;
        }
        progress_clear(im);
        px_cli_error("line %zu: rejected by praxisd: %s: %s", b->line[idx], px_err_name(code),
                     px_strerror(code));
        im->rejected++;
    }
    progress(im, false);
    return 0;
}

/* Waits for one answer and applies it. 0, or -1 (printed). */
static int
import_wait(struct import *im)
{
    const struct px_api_response *res;

    if (px_conn_recv(im->c, &res) != 0) {
        return -1;
    }
    for (unsigned i = 0; i < im->n_inflight; i++) {
        struct batch *b = im->inflight[i];

        if (b->seq == res->seq) {
            int rc = import_answered(im, b, res);

            im->inflight[i] = im->inflight[--im->n_inflight];
            batch_free(b);
            return rc;
        }
    }
    progress_clear(im);
    px_cli_error("praxisd answered request %llu, which is not in flight",
                 (unsigned long long)res->seq);
    return -1;
}

/* Sends the batch being filled, waiting for room first. 0, or -1 (printed). */
static int
import_flush(struct import *im)
{
    struct batch *b = im->filling;

    if (b == NULL || b->n == 0) {
        return 0;
    }
    while (im->n_inflight >= IMPORT_INFLIGHT) {
        if (import_wait(im) != 0) {
            return -1;
        }
    }
    memset(im->req, 0, sizeof(*im->req));
    im->req->op = PX_API_IMPORT;
    for (uint32_t i = 0; i < b->n; i++) {
        im->req->records[i] = b->raw[i];
        im->req->record_lens[i] = b->len[i];
    }
    im->req->n_records = b->n;
    if (px_conn_send(im->c, im->req) != 0) {
        return -1;
    }
    b->seq = im->req->seq;
    im->inflight[im->n_inflight++] = b;
    im->filling = NULL;
    return 0;
}

/* Takes one input line. 0, or -1 when the import cannot go on (printed). */
static int
import_line(struct import *im, size_t lineno, const uint8_t *p, size_t len)
{
    char msg[PX_JSON_IMPORT_MSG_MAX];
    size_t rec_len;
    uint8_t *rec;
    struct batch *b;
    int rc;

    rc = px_json_import_line(p, len, &rec, &rec_len, msg, sizeof(msg));
    if (rc == PX_ENOMEM) {
        px_cli_error("out of memory");
        return -1;
    }
    if (rc != 0) {
        line_error(im, lineno, msg);
        return 0;
    }
    if (im->filling != NULL && im->filling->bytes + rec_len > IMPORT_BATCH_BYTES &&
        import_flush(im) != 0) {
        free(rec);
        return -1;
    }
    if (im->filling == NULL && (im->filling = calloc(1, sizeof(*im->filling))) == NULL) {
        free(rec);
        px_cli_error("out of memory");
        return -1;
    }
    b = im->filling;
    b->raw[b->n] = rec;
    b->len[b->n] = rec_len;
    b->line[b->n] = lineno;
    b->n++;
    b->bytes += rec_len;
    if (b->n == PX_API_MAX_BATCH) {
        return import_flush(im);
    }
    return 0;
}

static bool
is_blank(const uint8_t *p, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r') {
            return false;
        }
    }
    return true;
}

int
px_transfer_import(const struct px_cli_command *cmd, struct px_cli_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        {"json", no_argument, NULL, PX_CLI_OPT_JSON},
        {"socket", required_argument, NULL, PX_CLI_OPT_SOCKET},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct import im;
    struct lines r;
    const char *path;
    bool json = false, failed = true;
    int ch, rc;

    while ((ch = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (ch) {
        case PX_CLI_OPT_JSON:
            json = true;
            break;
        case PX_CLI_OPT_SOCKET:
            ctx->socket = optarg;
            break;
        case 'h':
            fputs(cmd->help, stdout);
            return PX_CLI_EXIT_OK;
        default:
            return px_cli_bad_option(cmd, ch, argv);
        }
    }
    if (optind >= argc) {
        px_cli_error("import: no input: give a FILE, or - for standard input (see 'praxis "
                     "import --help')");
        return PX_CLI_EXIT_USAGE;
    }
    path = argv[optind++];
    if (optind < argc) {
        return px_cli_extra_operand(cmd, argv[optind]);
    }
    memset(&im, 0, sizeof(im));
    memset(&r, 0, sizeof(r));
    if ((r.fd = px_cli_open_input(path)) < 0) {
        return PX_CLI_EXIT_ERROR;
    }
    if (px_conn_open(px_conn_socket_path(ctx->socket), &im.c) != 0) {
        if (r.fd != STDIN_FILENO) {
            close(r.fd);
        }
        return PX_CLI_EXIT_UNREACHABLE;
    }
    im.tty = isatty(STDERR_FILENO);
    r.cap = IMPORT_LINE_MAX;
    if ((r.buf = malloc(r.cap)) == NULL || (im.req = calloc(1, sizeof(*im.req))) == NULL) {
        px_cli_error("out of memory");
        goto out;
    }
    for (;;) {
        const uint8_t *p;
        size_t len;
        bool too_long;

        rc = lines_next(&r, px_cli_input_name(path), &p, &len, &too_long);
        if (rc < 0) {
            goto out;
        }
        if (rc == 0) {
            break;
        }
        im.lines = r.lineno;
        if (too_long) {
            line_error(&im, r.lineno, "longer than 1 MiB: not an export line");
            continue;
        }
        if (is_blank(p, len)) {
            continue;
        }
        if (import_line(&im, r.lineno, p, len) != 0) {
            goto out;
        }
        progress(&im, false);
    }
    if (import_flush(&im) != 0) {
        goto out;
    }
    while (im.n_inflight > 0) {
        if (import_wait(&im) != 0) {
            goto out;
        }
    }
    failed = false;
out:
    progress_clear(&im);
    if (!failed) {
        if (json) {
            printf("{\"imported\":%llu,\"duplicates\":%llu,\"rejected\":%llu}\n",
                   (unsigned long long)im.imported, (unsigned long long)im.duplicates,
                   (unsigned long long)im.rejected);
        } else {
            printf("imported %llu, already had %llu, rejected %llu\n",
                   (unsigned long long)im.imported, (unsigned long long)im.duplicates,
                   (unsigned long long)im.rejected);
        }
        if (fflush(stdout) != 0) {
            px_cli_error("cannot write output: %s", strerror(errno));
            failed = true;
        }
    } else if (im.imported + im.duplicates + im.rejected > 0) {
        px_cli_error("import stopped after line %llu: imported %llu, already had %llu, "
                     "rejected %llu",
                     (unsigned long long)im.lines, (unsigned long long)im.imported,
                     (unsigned long long)im.duplicates, (unsigned long long)im.rejected);
    }
    batch_free(im.filling);
    for (unsigned i = 0; i < im.n_inflight; i++) {
        batch_free(im.inflight[i]);
    }
    free(im.req);
    free(r.buf);
    if (r.fd != STDIN_FILENO) {
        close(r.fd);
    }
    px_conn_close(im.c);
    return failed || im.rejected > 0 ? PX_CLI_EXIT_ERROR : PX_CLI_EXIT_OK;
}
