/* SPDX-License-Identifier: MIT */
/*
 * query.c - get, query and status; see query.h.
 *
 * Every record praxisd sends passes px_card_check before it is printed: a strict decode,
 * and with --verify the signature over the received bytes (praxisd verified it when the
 * record arrived, and stores nothing else; --verify checks again, end to end). One that
 * fails is reported on stderr and the command exits 1 after printing the others.
 */
#include "query.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "card.h"
#include "protocol/buf.h"
#include "protocol/err.h"
#include "protocol/mp.h"
#include "term.h"

/* Results a person sees unless they ask for more with --limit. */
#define HUMAN_LIMIT 50

/* ---- Fetching by id ---- */

void
px_query_got_free(struct px_query_got *got)
{
    for (size_t i = 0; i < got->n; i++) {
        free(got->raw[i]);
    }
    free(got->raw);
    free(got->len);
    memset(got, 0, sizeof(*got));
}

static int
got_add(struct px_query_got *got, const uint8_t *raw, size_t len)
{
    uint8_t **r = realloc(got->raw, (got->n + 1) * sizeof(*r));
    size_t *l;

    if (r == NULL) {
        return -1;
    }
    got->raw = r;
    if ((l = realloc(got->len, (got->n + 1) * sizeof(*l))) == NULL) {
        return -1;
    }
    got->len = l;
    if ((got->raw[got->n] = malloc(len > 0 ? len : 1)) == NULL) {
        return -1;
    }
    memcpy(got->raw[got->n], raw, len);
    got->len[got->n] = len;
    got->n++;
    return 0;
}

int
px_query_fetch(struct px_conn *c, const char *prefix, bool history, struct px_query_got *got)
{
    struct px_api_request *req = calloc(1, sizeof(*req));
    const struct px_api_response *res;
    int rc = 1;

    memset(got, 0, sizeof(*got));
    if (req == NULL) {
        px_cli_error("out of memory");
        return 1;
    }
    req->op = PX_API_GET;
    req->id = (struct px_str){prefix, (uint32_t)strlen(prefix)};
    req->history = history;
    if (px_conn_send(c, req) != 0) {
        goto out;
    }
    for (;;) {
        if (px_conn_recv_seq(c, req->seq, &res) != 0) {
            goto out;
        }
        if (res->code != 0) {
            rc = res->code;
            goto out;
        }
        for (uint32_t i = 0; i < res->n_records; i++) {
            if (got_add(got, res->records[i], res->record_lens[i]) != 0) {
                px_cli_error("out of memory");
                goto out;
            }
        }
        if (!res->more) {
            break;
        }
    }
    if (got->n == 0) {
        rc = PX_ENOTFOUND; /* an empty answer says the same */
        goto out;
    }
    rc = 0;
out:
    if (rc != 0) {
        px_query_got_free(got);
    }
    free(req);
    return rc;
}

int
px_query_fetch_failed(const char *name, const char *prefix, int code)
{
    char buf[PX_CLI_SHOW_MAX];

    px_cli_show(prefix, buf, sizeof(buf));
    switch (code) {
    case PX_ENOTFOUND:
        px_cli_error("%s: no record with id %s%s", name, buf,
                     strlen(prefix) < 2 * PX_ID_BYTES ? "..." : "");
        return PX_CLI_EXIT_NOTFOUND;
    case PX_EAMBIGUOUS:
        px_cli_error("%s: id prefix %s matches more than one record; give more digits", name, buf);
        return PX_CLI_EXIT_ERROR;
    default:
        px_cli_error("%s: praxisd refused to look %s up: %s (%s)", name, buf, px_strerror(code),
                     px_err_name(code));
        return PX_CLI_EXIT_ERROR;
    }
}

/* Does the hex prefix (any case) match the start of id? */
static bool
prefix_matches(const char *prefix, const uint8_t id[PX_ID_BYTES])
{
    char hex[2 * PX_ID_BYTES + 1];
    size_t n = strlen(prefix);

    px_hex_encode(id, PX_ID_BYTES, hex);
    if (n > 2 * PX_ID_BYTES) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        char ch = prefix[i] >= 'A' && prefix[i] <= 'F' ? (char)(prefix[i] - 'A' + 'a') : prefix[i];

        if (ch != hex[i]) {
            return false;
        }
    }
    return true;
}

bool
px_query_is_retracted_answer(const struct px_record *rec, const char *prefix)
{
    return rec->type == PX_RECORD_RETRACTION && !prefix_matches(prefix, rec->id) &&
           prefix_matches(prefix, rec->rt.target);
}

bool
px_query_answers(const struct px_record *rec, const char *prefix)
{
    return prefix_matches(prefix, rec->id) ||
           (rec->type == PX_RECORD_RETRACTION && prefix_matches(prefix, rec->rt.target));
}

/* ---- Signals for --follow ---- */

static int interrupt_pipe[2] = {-1, -1};

static void
on_stop_signal(int sig)
{
    int saved = errno;
    char c = (char)sig;

    if (write(interrupt_pipe[1], &c, 1) < 0) {
        /* The pipe is full: a byte is already waiting, which is all that matters. */
    }
    errno = saved;
}

/* SIGINT and SIGTERM make px_conn_recv return PX_CONN_INTERRUPTED. 0 or -1 (printed). */
static int
catch_stop_signals(struct px_conn *c)
{
    struct sigaction sa;

    if (pipe2(interrupt_pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
        px_cli_error("cannot create a pipe: %s", strerror(errno));
        return -1;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_stop_signal;
    /* Restart writes to stdout; poll in px_conn_recv returns EINTR regardless. */
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    px_conn_set_interrupt(c, interrupt_pipe[0]);
    return 0;
}

/* ---- Printing records ---- */

enum style { STYLE_TABLE, STYLE_CARDS, STYLE_JSON };

struct printer {
    enum style style;
    bool flush;     /* after every record: someone may be waiting for it */
    size_t printed; /* records shown */
    size_t bad;     /* records that failed their check */
    const char *what;
    bool verify; /* --verify: check each signature here too, not only praxisd on arrival */
};

/* Checks and prints one record; reports one that fails. 0, or -1 when output failed. */
static int
print_record(struct printer *p, const uint8_t *raw, size_t len, const char *prefix)
{
    struct px_record rec;
    const char *field;
    char what[96];
    int rc = px_card_check(raw, len, &rec, &field, p->verify);
    enum px_card_sig sig = p->verify ? PX_CARD_SIG_VALID : PX_CARD_SIG_DAEMON;

    if (rc != 0) {
        if (rc == PX_EBADSIG) {
            char hex[2 * PX_ID_BYTES + 1];

            px_hex_encode(rec.id, PX_ID_BYTES, hex);
            snprintf(what, sizeof(what), "%s: record %s from praxisd", p->what, hex);
        } else {
            snprintf(what, sizeof(what), "%s: record %zu from praxisd does not decode", p->what,
                     p->printed + p->bad + 1);
        }
        px_card_report(what, rc, field);
        p->bad++;
        return 0;
    }
    switch (p->style) {
    case STYLE_JSON:
        if (px_card_json(stdout, &rec, sig) != 0) {
            return -1;
        }
        break;
    case STYLE_CARDS:
        if (p->printed > 0) {
            putchar('\n');
        }
        if (prefix != NULL && px_query_is_retracted_answer(&rec, prefix)) {
            fputs("retracted by its author: ", stdout);
            px_term_write(stdout, rec.rt.reason.p, rec.rt.reason.len, NULL);
            fputs("\n\n", stdout);
        }
        px_card_print(stdout, &rec, sig);
        break;
    case STYLE_TABLE:
        if (p->printed == 0) {
            px_card_table_header(stdout);
        }
        px_card_table_row(stdout, &rec);
        break;
    }
    p->printed++;
    if (p->flush && fflush(stdout) != 0) {
        return -1;
    }
    return 0;
}

static int
finish_output(void)
{
    if (fflush(stdout) != 0 || ferror(stdout)) {
        px_cli_error("cannot write output: %s", strerror(errno));
        return -1;
    }
    return 0;
}

/* ---- get ---- */

/*
 * A daemon asked for one record must answer with that one: a single record whose id (or
 * retracted target) starts with the prefix. Reports any other answer; true if it did.
 */
static bool
mismatched_answer(const char *name, const struct px_query_got *got, const char *prefix)
{
    struct px_record rec;
    const char *field;
    char hex[2 * PX_ID_BYTES + 1];

    if (got->n != 1) {
        px_cli_error("%s: praxisd answered with %zu records for one id", name, got->n);
        return true;
    }
    /* A record that does not decode is reported when it is checked for printing. */
    if (px_record_decode(got->raw[0], got->len[0], &rec, &field) != 0) {
        return false;
    }
    if (!px_query_answers(&rec, prefix)) {
        px_hex_encode(rec.id, PX_ID_BYTES, hex);
        px_cli_error("%s: praxisd answered with record %s, which is not the one asked for", name,
                     hex);
        return true;
    }
    return false;
}

int
px_query_get(const struct px_cli_command *cmd, struct px_cli_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        {"history", no_argument, NULL, PX_CLI_OPT_HISTORY},
        {"json", no_argument, NULL, PX_CLI_OPT_JSON},
        {"verify", no_argument, NULL, PX_CLI_OPT_VERIFY},
        {"socket", required_argument, NULL, PX_CLI_OPT_SOCKET},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct printer p = {STYLE_CARDS, false, 0, 0, "get", false};
    struct px_query_got got = {0};
    struct px_conn *c = NULL;
    bool history = false;
    const char *id;
    int ch, rc;

    while ((ch = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (ch) {
        case PX_CLI_OPT_HISTORY:
            history = true;
            break;
        case PX_CLI_OPT_JSON:
            p.style = STYLE_JSON;
            break;
        case PX_CLI_OPT_VERIFY:
            p.verify = true;
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
    if ((rc = px_cli_take_id(cmd, argc, argv, &optind, &id)) != 0) {
        return rc;
    }
    if (px_conn_open(px_conn_socket_path(ctx->socket), &c) != 0) {
        return PX_CLI_EXIT_UNREACHABLE;
    }
    rc = px_query_fetch(c, id, history, &got);
    px_conn_close(c);
    if (rc != 0) {
        return rc == 1 ? PX_CLI_EXIT_ERROR : px_query_fetch_failed("get", id, rc);
    }
    rc = PX_CLI_EXIT_OK;
    if (!history && mismatched_answer("get", &got, id)) {
        px_query_got_free(&got);
        return PX_CLI_EXIT_ERROR;
    }
    for (size_t i = 0; i < got.n; i++) {
        if (print_record(&p, got.raw[i], got.len[i], id) != 0) {
            rc = PX_CLI_EXIT_ERROR;
            break;
        }
    }
    px_query_got_free(&got);
    if (finish_output() != 0 || p.bad > 0) {
        rc = PX_CLI_EXIT_ERROR;
    }
    return rc;
}

/* ---- query ---- */

enum {
    OPT_ID = PX_CLI_OPT_FIELD,
    OPT_AUTHOR,
    OPT_PRACTICE,
    OPT_TAG,
    OPT_SECTOR,
    OPT_REGION,
    OPT_LANGUAGE,
    OPT_SINCE,
    OPT_UNTIL,
    OPT_LIMIT,
    OPT_TEXT,
    OPT_FOLLOW,
    OPT_LONG,
};

/* Adds a hex prefix to a filter list. 0, or the usage code with an error printed. */
static int
add_prefix(const char *opt, const char *s, struct px_str *list, uint32_t *n)
{
    char buf[PX_CLI_SHOW_MAX];

    if (!px_cli_is_hex(s, strlen(s), 2 * PX_ID_BYTES)) {
        px_cli_error("query: --%s wants 1 to 64 hex digits, not '%s'", opt,
                     px_cli_show(s, buf, sizeof(buf)));
        return PX_CLI_EXIT_USAGE;
    }
    if (*n >= PX_API_MAX_FILTER_ITEMS) {
        px_cli_error("query: at most %d --%s options", PX_API_MAX_FILTER_ITEMS, opt);
        return PX_CLI_EXIT_USAGE;
    }
    list[(*n)++] = (struct px_str){s, (uint32_t)strlen(s)};
    return 0;
}

/* A filter string: valid UTF-8 and within its cap (a longer value could match nothing). */
static int
set_text(const char *opt, const char *s, size_t max, struct px_str *out)
{
    size_t len = strlen(s);

    if (!px_utf8_valid((const uint8_t *)s, len)) {
        px_cli_error("query: the value of --%s is not valid UTF-8", opt);
        return PX_CLI_EXIT_USAGE;
    }
    if (len > max) {
        px_cli_error("query: the value of --%s is longer than %zu bytes", opt, max);
        return PX_CLI_EXIT_USAGE;
    }
    *out = (struct px_str){s, (uint32_t)len};
    return 0;
}

/* --tag a,b: each comma-separated piece is a tag the cases must all carry. */
static int
add_tags(char *s, struct px_api_filter *f)
{
    for (char *save = NULL, *t = strtok_r(s, ",", &save); t != NULL;
         t = strtok_r(NULL, ",", &save)) {
        int rc;

        while (*t == ' ') {
            t++;
        }
        for (size_t n = strlen(t); n > 0 && t[n - 1] == ' '; n--) {
            t[n - 1] = '\0';
        }
        if (*t == '\0') {
            continue;
        }
        if (f->n_tags >= PX_API_MAX_FILTER_ITEMS) {
            px_cli_error("query: at most %d tags", PX_API_MAX_FILTER_ITEMS);
            return PX_CLI_EXIT_USAGE;
        }
        if ((rc = set_text("tag", t, PX_CASE_MAX_TAG, &f->tags[f->n_tags])) != 0) {
            return rc;
        }
        f->n_tags++;
    }
    return 0;
}

/* Does a --text value hold a word? As praxisd splits it: runs of characters other than
 * space, tab and newline, less one trailing '*' (which asks for a prefix match). */
static bool
has_word(const char *s)
{
    while (*s != '\0') {
        size_t n = strcspn(s, " \t\n");

        if (n > 1 || (n == 1 && s[0] != '*')) {
            return true;
        }
        s += n;
        s += strspn(s, " \t\n");
    }
    return false;
}

static int
parse_limit(const char *s, uint32_t *out)
{
    char *end;
    unsigned long v;

    if (s[0] < '0' || s[0] > '9') {
        return -1;
    }
    errno = 0;
    v = strtoul(s, &end, 10);
    if (errno != 0 || *end != '\0' || v > PX_API_MAX_LIMIT) {
        return -1;
    }
    *out = (uint32_t)v;
    return 0;
}

/* Parses query's options into req and p. 0, -1 for --help (printed), or an exit code. */
static int
query_options(const struct px_cli_command *cmd, struct px_cli_ctx *ctx, int argc, char **argv,
              struct px_api_request *req, struct printer *p, bool *limit_given)
{
    static const struct option opts[] = {
        {"id", required_argument, NULL, OPT_ID},
        {"author", required_argument, NULL, OPT_AUTHOR},
        {"practice", required_argument, NULL, OPT_PRACTICE},
        {"tag", required_argument, NULL, OPT_TAG},
        {"sector", required_argument, NULL, OPT_SECTOR},
        {"region", required_argument, NULL, OPT_REGION},
        {"language", required_argument, NULL, OPT_LANGUAGE},
        {"since", required_argument, NULL, OPT_SINCE},
        {"until", required_argument, NULL, OPT_UNTIL},
        {"limit", required_argument, NULL, OPT_LIMIT},
        {"text", required_argument, NULL, OPT_TEXT},
        {"history", no_argument, NULL, PX_CLI_OPT_HISTORY},
        {"follow", no_argument, NULL, OPT_FOLLOW},
        {"long", no_argument, NULL, OPT_LONG},
        {"json", no_argument, NULL, PX_CLI_OPT_JSON},
        {"verify", no_argument, NULL, PX_CLI_OPT_VERIFY},
        {"socket", required_argument, NULL, PX_CLI_OPT_SOCKET},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct px_api_filter *f = &req->filter;
    char buf[PX_CLI_SHOW_MAX];
    bool json = false, long_form = false;
    enum px_practice practice;
    int ch, rc = 0;

    while (rc == 0 && (ch = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (ch) {
        case OPT_ID:
            rc = add_prefix("id", optarg, f->ids, &f->n_ids);
            break;
        case OPT_AUTHOR:
            rc = add_prefix("author", optarg, f->authors, &f->n_authors);
            break;
        case OPT_PRACTICE:
            if (px_practice_parse(optarg, strlen(optarg), &practice) != 0) {
                px_cli_error("query: --practice wants good or bad, not '%s'",
                             px_cli_show(optarg, buf, sizeof(buf)));
                rc = PX_CLI_EXIT_USAGE;
            }
            f->practice = (uint32_t)practice;
            break;
        case OPT_TAG:
            rc = add_tags(optarg, f);
            break;
        case OPT_SECTOR:
            rc = set_text("sector", optarg, PX_CASE_MAX_SECTOR, &f->sector);
            break;
        case OPT_REGION:
            rc = set_text("region", optarg, PX_CASE_MAX_REGION, &f->region);
            break;
        case OPT_LANGUAGE:
            rc = set_text("language", optarg, PX_CASE_MAX_LANGUAGE, &f->language);
            break;
        case OPT_SINCE:
        case OPT_UNTIL:
            if (px_cli_parse_time(optarg, ch == OPT_UNTIL,
                                  ch == OPT_SINCE ? &f->since : &f->until) != 0) {
                px_cli_error("query: --%s wants YYYY-MM-DD, YYYY-MM-DDTHH:MM:SSZ or "
                             "milliseconds since the Unix epoch, not '%s'",
                             ch == OPT_SINCE ? "since" : "until",
                             px_cli_show(optarg, buf, sizeof(buf)));
                rc = PX_CLI_EXIT_USAGE;
            }
            break;
        case OPT_LIMIT:
            if (parse_limit(optarg, &f->limit) != 0) {
                px_cli_error("query: --limit wants a number from 0 (no limit) to %d, not '%s'",
                             PX_API_MAX_LIMIT, px_cli_show(optarg, buf, sizeof(buf)));
                rc = PX_CLI_EXIT_USAGE;
            }
            *limit_given = true;
            break;
        case OPT_TEXT:
            rc = set_text("text", optarg, PX_API_MAX_TEXT, &f->text);
            if (rc == 0 && !has_word(optarg)) {
                px_cli_error("query: --text needs at least one word to search for");
                rc = PX_CLI_EXIT_USAGE;
            }
            break;
        case PX_CLI_OPT_HISTORY:
            f->history = true;
            break;
        case OPT_FOLLOW:
            f->follow = true;
            break;
        case OPT_LONG:
            long_form = true;
            break;
        case PX_CLI_OPT_JSON:
            json = true;
            break;
        case PX_CLI_OPT_VERIFY:
            p->verify = true;
            break;
        case PX_CLI_OPT_SOCKET:
            ctx->socket = optarg;
            break;
        case 'h':
            fputs(cmd->help, stdout);
            return -1;
        default:
            return px_cli_bad_option(cmd, ch, argv);
        }
    }
    if (rc != 0) {
        return rc;
    }
    if (optind < argc) {
        return px_cli_extra_operand(cmd, argv[optind]);
    }
    if (f->since != 0 && f->until != 0 && f->since > f->until) {
        px_cli_error("query: --since is after --until: nothing can match");
        return PX_CLI_EXIT_USAGE;
    }
    if (json && long_form) {
        px_cli_error("query: give --json or --long, not both");
        return PX_CLI_EXIT_USAGE;
    }
    p->style = json ? STYLE_JSON : long_form ? STYLE_CARDS : STYLE_TABLE;
    /* People get a screenful unless they ask for more; scripts get everything. */
    if (!*limit_given && !json) {
        f->limit = HUMAN_LIMIT;
    }
    return 0;
}

int
px_query_run(const struct px_cli_command *cmd, struct px_cli_ctx *ctx, int argc, char **argv)
{
    struct px_api_request *req = calloc(1, sizeof(*req));
    struct printer p = {STYLE_TABLE, false, 0, 0, "query", false};
    const struct px_api_response *res;
    struct px_conn *c = NULL;
    bool limit_given = false, interrupted = false;
    int rc;

    if (req == NULL) {
        px_cli_error("out of memory");
        return PX_CLI_EXIT_ERROR;
    }
    req->op = PX_API_QUERY;
    if ((rc = query_options(cmd, ctx, argc, argv, req, &p, &limit_given)) != 0) {
        free(req);
        return rc < 0 ? PX_CLI_EXIT_OK : rc;
    }
    p.flush = p.style == STYLE_JSON || req->filter.follow;
    if (px_conn_open(px_conn_socket_path(ctx->socket), &c) != 0) {
        free(req);
        return PX_CLI_EXIT_UNREACHABLE;
    }
    rc = PX_CLI_EXIT_ERROR;
    if (req->filter.follow && catch_stop_signals(c) != 0) {
        goto out;
    }
    if (px_conn_send(c, req) != 0) {
        goto out;
    }
    for (;;) {
        int got = px_conn_recv_seq(c, req->seq, &res);

        if (got == PX_CONN_INTERRUPTED) {
            interrupted = true;
            break;
        }
        if (got != 0) {
            goto out;
        }
        if (res->code != 0) {
            px_conn_print_error("query: praxisd refused the query", res);
            goto out;
        }
        for (uint32_t i = 0; i < res->n_records; i++) {
            if (print_record(&p, res->records[i], res->record_lens[i], NULL) != 0) {
                goto out;
            }
        }
        if (!res->more) {
            break;
        }
    }
    if (p.style != STYLE_JSON && !interrupted) {
        if (p.printed == 0 && p.bad == 0) {
            puts("no matching cases");
        } else if (req->filter.limit > 0 && p.printed + p.bad == req->filter.limit) {
            printf("(the first %u shown; --limit N shows more, --limit 0 all)\n",
                   (unsigned)req->filter.limit);
        }
    }
    rc = p.bad > 0 ? PX_CLI_EXIT_ERROR : PX_CLI_EXIT_OK;
out:
    if (finish_output() != 0) {
        rc = PX_CLI_EXIT_ERROR;
    }
    px_conn_close(c);
    free(req);
    return rc;
}

/* ---- status ---- */

static void
format_size(uint64_t bytes, char *out, size_t cap)
{
    static const char *const units[] = {"KiB", "MiB", "GiB", "TiB"};
    double v = (double)bytes;
    size_t u = 0;

    if (bytes < 1024) {
        snprintf(out, cap, "%llu bytes", (unsigned long long)bytes);
        return;
    }
    v /= 1024;
    while (v >= 1024 && u + 1 < sizeof(units) / sizeof(units[0])) {
        v /= 1024;
        u++;
    }
    snprintf(out, cap, "%.1f %s", v, units[u]);
}

static void
format_uptime(uint64_t ms, char *out, size_t cap)
{
    uint64_t s = ms / 1000;
    unsigned d = (unsigned)(s / 86400), h = (unsigned)(s / 3600 % 24), m = (unsigned)(s / 60 % 60);
    unsigned sec = (unsigned)(s % 60);

    if (d > 0) {
        snprintf(out, cap, "%ud %uh %um %us", d, h, m, sec);
    } else if (h > 0) {
        snprintf(out, cap, "%uh %um %us", h, m, sec);
    } else if (m > 0) {
        snprintf(out, cap, "%um %us", m, sec);
    } else {
        snprintf(out, cap, "%us", sec);
    }
}

int
px_query_status(const struct px_cli_command *cmd, struct px_cli_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        {"json", no_argument, NULL, PX_CLI_OPT_JSON},
        {"socket", required_argument, NULL, PX_CLI_OPT_SOCKET},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct px_api_request req;
    const struct px_api_response *res;
    const struct px_api_node_status *st;
    struct px_conn *c = NULL;
    char key[2 * PX_SIGN_PUBLICKEYBYTES + 1], size[32], up[64];
    char version[4 * 64 + 4];
    bool json = false;
    int ch, rc = PX_CLI_EXIT_ERROR;

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
    if (optind < argc) {
        return px_cli_extra_operand(cmd, argv[optind]);
    }
    if (px_conn_open(px_conn_socket_path(ctx->socket), &c) != 0) {
        return PX_CLI_EXIT_UNREACHABLE;
    }
    memset(&req, 0, sizeof(req));
    req.op = PX_API_STATUS;
    if (px_conn_send(c, &req) != 0 || px_conn_recv_seq(c, req.seq, &res) != 0) {
        goto out;
    }
    if (res->code != 0) {
        px_conn_print_error("status: praxisd refused", res);
        goto out;
    }
    if (!res->has_status) {
        px_cli_error("status: praxisd answered without a status");
        goto out;
    }
    st = &res->status;
    px_hex_encode(st->public_key, sizeof(st->public_key), key);
    px_term_escape(st->version.p, st->version.len, version, sizeof(version));
    if (json) {
        json_t *o =
            json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:s%}", "public_key", key, "records",
                      (json_int_t)st->records, "cases", (json_int_t)st->cases, "retractions",
                      (json_int_t)st->retractions, "store_bytes", (json_int_t)st->store_bytes,
                      "uptime_ms", (json_int_t)st->uptime_ms, "peers", (json_int_t)st->peers,
                      "version", st->version.p, (size_t)st->version.len);
        char *text = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;

        json_decref(o);
        if (text == NULL) {
            px_cli_error("out of memory");
            goto out;
        }
        puts(text);
        free(text);
    } else {
        format_size(st->store_bytes, size, sizeof(size));
        format_uptime(st->uptime_ms, up, sizeof(up));
        printf("node         %s\n", key);
        printf("version      %s\n", version);
        printf("uptime       %s\n", up);
        printf("records      %llu (%llu case%s, %llu retraction%s)\n",
               (unsigned long long)st->records, (unsigned long long)st->cases,
               st->cases == 1 ? "" : "s", (unsigned long long)st->retractions,
               st->retractions == 1 ? "" : "s");
        printf("store        %s\n", size);
        printf("peers        %llu established\n", (unsigned long long)st->peers);
        printf("socket       ");
        px_term_write(stdout, px_conn_path(c), strlen(px_conn_path(c)), NULL);
        putchar('\n');
    }
    rc = finish_output() == 0 ? PX_CLI_EXIT_OK : PX_CLI_EXIT_ERROR;
out:
    px_conn_close(c);
    return rc;
}

static void
print_peer(const struct px_api_peer *r, bool json, uint64_t now_ms)
{
    char key[2 * PX_SIGN_PUBLICKEYBYTES + 1] = "";
    char name[4 * PX_API_MAX_PEER_NAME + 4], addr[4 * PX_API_MAX_PEER_ADDR + 4];
    char dir[4 * PX_API_MAX_PEER_WORD + 4], state[4 * PX_API_MAX_PEER_WORD + 4];
    char err[4 * PX_API_MAX_PEER_ERROR + 4], age[64], synced[64];

    if (r->has_key) {
        px_hex_encode(r->public_key, sizeof(r->public_key), key);
    }
    if (json) {
        json_t *o = json_pack(
            "{s:o, s:s%, s:s%, s:s%, s:s%, s:I, s:I, s:I, s:s%, s:I, s:I, s:I, s:I, s:I, s:I}",
            "public_key", r->has_key ? json_string(key) : json_null(), "name", r->name.p,
            (size_t)r->name.len, "address", r->address.p, (size_t)r->address.len, "direction",
            r->direction.p, (size_t)r->direction.len, "state", r->state.p, (size_t)r->state.len,
            "since", (json_int_t)r->since_ms, "bytes_in", (json_int_t)r->bytes_in, "bytes_out",
            (json_int_t)r->bytes_out, "last_error", r->last_error.p, (size_t)r->last_error.len,
            "last_sync", (json_int_t)r->last_sync_ms, "records_sent", (json_int_t)r->records_sent,
            "records_received", (json_int_t)r->records_received, "duplicates",
            (json_int_t)r->duplicates, "rejected", (json_int_t)r->rejected, "pending_wants",
            (json_int_t)r->pending_wants);
        char *text = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;

        json_decref(o);
        if (text != NULL) {
            puts(text);
            free(text);
        }
        return;
    }
    px_term_escape(r->name.p, r->name.len, name, sizeof(name));
    px_term_escape(r->address.p, r->address.len, addr, sizeof(addr));
    px_term_escape(r->direction.p, r->direction.len, dir, sizeof(dir));
    px_term_escape(r->state.p, r->state.len, state, sizeof(state));
    px_term_escape(r->last_error.p, r->last_error.len, err, sizeof(err));
    format_uptime(now_ms > r->since_ms ? now_ms - r->since_ms : 0, age, sizeof(age));
    /* SYNCED is how long ago the last reconciliation finished; "-" when none has. */
    if (r->last_sync_ms == 0) {
        snprintf(synced, sizeof(synced), "-");
    } else {
        format_uptime(now_ms > r->last_sync_ms ? now_ms - r->last_sync_ms : 0, synced,
                      sizeof(synced));
    }
    printf("%-16.16s  %-11s  %-3s  %-21s  %-12s  %10llu  %10llu  %-10s  %-10s  %8llu  %8llu  "
           "%6llu  %6llu  %6llu  %s\n",
           r->has_key ? key : "-", state, dir, addr, name[0] != '\0' ? name : "-",
           (unsigned long long)r->bytes_in, (unsigned long long)r->bytes_out, age, synced,
           (unsigned long long)r->records_sent, (unsigned long long)r->records_received,
           (unsigned long long)r->duplicates, (unsigned long long)r->rejected,
           (unsigned long long)r->pending_wants, err[0] != '\0' ? err : "-");
}

int
px_query_peers(const struct px_cli_command *cmd, struct px_cli_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        {"json", no_argument, NULL, PX_CLI_OPT_JSON},
        {"socket", required_argument, NULL, PX_CLI_OPT_SOCKET},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct px_api_request req;
    const struct px_api_response *res;
    struct px_conn *c = NULL;
    struct timespec ts;
    uint64_t now_ms;
    bool json = false, header = false;
    int ch, rc = PX_CLI_EXIT_ERROR;

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
    if (optind < argc) {
        return px_cli_extra_operand(cmd, argv[optind]);
    }
    if (px_conn_open(px_conn_socket_path(ctx->socket), &c) != 0) {
        return PX_CLI_EXIT_UNREACHABLE;
    }
    clock_gettime(CLOCK_REALTIME, &ts);
    now_ms = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
    memset(&req, 0, sizeof(req));
    req.op = PX_API_PEERS;
    if (px_conn_send(c, &req) != 0) {
        goto out;
    }
    do {
        if (px_conn_recv_seq(c, req.seq, &res) != 0) {
            goto out;
        }
        if (res->code != 0) {
            px_conn_print_error("peers: praxisd refused", res);
            goto out;
        }
        if (!res->has_peers) {
            px_cli_error("peers: praxisd answered without a peer table");
            goto out;
        }
        if (!json && !header) {
            printf("%-16s  %-11s  %-3s  %-21s  %-12s  %10s  %10s  %-10s  %-10s  %8s  %8s  %6s  "
                   "%6s  %6s  %s\n",
                   "KEY", "STATE", "DIR", "ADDRESS", "NAME", "IN", "OUT", "FOR", "SYNCED", "SENT",
                   "RECEIVED", "DUP", "REJ", "WANTS", "LAST ERROR");
            header = true;
        }
        for (uint32_t i = 0; i < res->n_peers; i++) {
            print_peer(&res->peers[i], json, now_ms);
        }
    } while (res->more);
    rc = finish_output() == 0 ? PX_CLI_EXIT_OK : PX_CLI_EXIT_ERROR;
out:
    px_conn_close(c);
    return rc;
}
