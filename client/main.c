/* SPDX-License-Identifier: MIT */
/*
 * main.c - the praxis command: the command table, the options before the command, and
 * the offline commands keygen, sign and inspect. The commands that talk to praxisd live in
 * publish.c, query.c and transfer.c. Every error is one line on stderr starting with
 * "praxis: "; exit codes are in cli.h. Blocking I/O throughout.
 */
#include <sys/stat.h>

#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "card.h"
#include "cli.h"
#include "common/identity.h"
#include "conn.h"
#include "json.h"
#include "protocol/buf.h"
#include "protocol/err.h"
#include "protocol/mp.h"
#include "protocol/record.h"
#include "protocol/sign.h"
#include "publish.h"
#include "query.h"
#include "term.h"
#include "transfer.h"

#define PX_CLI_VERSION PX_VERSION

/* sign reads its whole input first, so that nothing is written unless all of it signs. */
#define SIGN_MAX_INPUT (64u << 20)

/* Default identity file of keygen, in the current directory. */
#define DEFAULT_IDENTITY "praxis.identity"

/*
 * Takes the one optional FILE operand after the options into *path (NULL if none).
 * Returns 0 or the usage code with an error printed.
 */
static int
take_operand(const struct px_cli_command *cmd, int argc, char **argv, const char **path)
{
    char buf[PX_CLI_SHOW_MAX];

    *path = NULL;
    if (optind < argc) {
        *path = argv[optind++];
    }
    if (optind < argc) {
        px_cli_error("%s: unexpected argument '%s': give at most one FILE (see 'praxis %s --help')",
                     cmd->name, px_cli_show(argv[optind], buf, sizeof(buf)), cmd->name);
        return PX_CLI_EXIT_USAGE;
    }
    return 0;
}

static uint64_t
now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- keygen ---- */

static int
cmd_keygen(const struct px_cli_command *cmd, struct px_cli_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        {"output", required_argument, NULL, 'o'},
        {"json", no_argument, NULL, PX_CLI_OPT_JSON},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *path = DEFAULT_IDENTITY;
    struct px_identity id;
    char pk[2 * PX_SIGN_PUBLICKEYBYTES + 1], buf[PX_CLI_SHOW_MAX];
    bool as_json = false;
    int c, rc;

    (void)ctx;

    while ((c = getopt_long(argc, argv, ":o:h", opts, NULL)) != -1) {
        switch (c) {
        case 'o':
            path = optarg;
            break;
        case PX_CLI_OPT_JSON:
            as_json = true;
            break;
        case 'h':
            fputs(cmd->help, stdout);
            return PX_CLI_EXIT_OK;
        default:
            return px_cli_bad_option(cmd, c, argv);
        }
    }
    if (optind < argc) {
        px_cli_error("keygen: unexpected argument '%s' (the file is given with -o FILE)",
                     px_cli_show(argv[optind], buf, sizeof(buf)));
        return PX_CLI_EXIT_USAGE;
    }
    if (path[0] == '\0') {
        px_cli_error("keygen: -o needs a file name");
        return PX_CLI_EXIT_USAGE;
    }
    /* JSON strings must be UTF-8; find out before a key file is created, not after. */
    if (as_json && !px_utf8_valid((const uint8_t *)path, strlen(path))) {
        px_cli_error("keygen: --json needs a path that is valid UTF-8");
        return PX_CLI_EXIT_USAGE;
    }
    if (px_identity_generate(&id) != 0) {
        px_cli_error("cannot generate a key: the kernel's random source failed");
        return PX_CLI_EXIT_ERROR;
    }
    px_hex_encode(id.pk, sizeof(id.pk), pk);
    errno = 0;
    rc = px_identity_save(path, &id);
    px_identity_wipe(&id);
    if (rc == PX_EEXIST) {
        px_cli_error("%s already exists; refusing to overwrite it (choose another file with -o)",
                     px_cli_show(path, buf, sizeof(buf)));
        return PX_CLI_EXIT_ERROR;
    }
    if (rc != 0) {
        px_cli_error("cannot write identity file %s: %s", px_cli_show(path, buf, sizeof(buf)),
                     rc == PX_EIO && errno != 0 ? strerror(errno) : px_strerror(rc));
        return PX_CLI_EXIT_ERROR;
    }
    if (as_json) {
        json_t *o = json_pack("{s:s, s:s}", "public_key", pk, "path", path);
        char *text = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;

        json_decref(o);
        if (text == NULL) {
            px_cli_error("out of memory");
            return PX_CLI_EXIT_ERROR;
        }
        printf("%s\n", text);
        free(text);
    } else {
        printf("public key: %s\n", pk);
        printf("identity:   ");
        px_term_write(stdout, path, strlen(path), NULL);
        printf("\n");
    }
    if (fflush(stdout) != 0) {
        px_cli_error("cannot write output: %s", strerror(errno));
        return PX_CLI_EXIT_ERROR;
    }
    return PX_CLI_EXIT_OK;
}

/* ---- sign ---- */

/* Loads an identity, explaining a refusal in terms of what the user can do about it. */
static int
load_identity(const char *path, struct px_identity *id)
{
    char buf[PX_CLI_SHOW_MAX];
    struct stat st;
    int rc = px_identity_load(path, id);

    if (rc == 0) {
        return 0;
    }
    px_cli_show(path, buf, sizeof(buf));
    if (rc == PX_ENOTFOUND) {
        px_cli_error("identity file %s not found (create one with 'praxis keygen -o %s')", buf,
                     buf);
    } else if (lstat(path, &st) == 0 && S_ISLNK(st.st_mode)) {
        px_cli_error("identity file %s is a symbolic link; give the path of the file itself", buf);
    } else if (rc == PX_EPERM && stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
        px_cli_error("identity file %s is not a regular file", buf);
    } else if (rc == PX_EPERM && stat(path, &st) == 0 && (st.st_mode & 077) != 0) {
        px_cli_error("identity file %s is %s by others; run chmod 600 %s", buf,
                     (st.st_mode & 044) != 0 ? "readable" : "writable", buf);
    } else if (rc == PX_EPERM) {
        px_cli_error("cannot read identity file %s: permission denied", buf);
    } else if (rc == PX_EIO) {
        px_cli_error("cannot read identity file %s: %s", buf, px_strerror(rc));
    } else {
        px_cli_error("identity file %s is not a valid praxis identity: %s", buf, px_strerror(rc));
    }
    return rc;
}

/* Parses --created: decimal milliseconds; the range is the record rules' business. */
static int
parse_created(const char *s, uint64_t *out)
{
    char *end;
    unsigned long long v;

    if (s[0] < '0' || s[0] > '9') {
        return -1;
    }
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0') {
        return -1;
    }
    *out = v;
    return 0;
}

struct out_buf {
    uint8_t *p;
    size_t len;
    size_t cap;
};

static int
out_append(struct out_buf *o, const uint8_t *p, size_t n)
{
    if (n > o->cap - o->len) {
        size_t ncap = o->cap == 0 ? 65536 : o->cap;
        uint8_t *np;

        while (n > ncap - o->len) {
            ncap *= 2;
        }
        if ((np = realloc(o->p, ncap)) == NULL) {
            return -1;
        }
        o->p = np;
        o->cap = ncap;
    }
    memcpy(o->p + o->len, p, n);
    o->len += n;
    return 0;
}

/* Converts and signs one JSON object into rec_buf; the error text goes to msg. */
static int
sign_one(json_t *obj, const struct px_identity *id, uint64_t created, uint8_t *rec_buf,
         size_t *rec_len, char *msg, size_t msg_cap)
{
    struct px_json_error err;
    struct px_record rec;
    const char *field = NULL;
    int rc;

    if ((rc = px_json_to_record(obj, &rec, &err)) != 0) {
        px_json_error_format(&err, msg, msg_cap);
        return rc;
    }
    rec.created = created;
    /* rec borrows obj's strings, which stay alive until the caller's json_decref. */
    if ((rc = px_record_sign(&rec, id, rec_buf, PX_RECORD_MAX, rec_len, &field)) != 0) {
        px_json_error_set(&err, rc, field);
        px_json_error_format(&err, msg, msg_cap);
        return rc;
    }
    return 0;
}

/*
 * Signs every JSON object in in[0..len) and appends the records to out. One object, or
 * several one after the other (JSON Lines). 0, or -1 with an error printed.
 */
static int
sign_input(const uint8_t *in, size_t len, const struct px_identity *id, uint64_t created,
           struct out_buf *out)
{
    uint8_t *rec_buf = malloc(PX_RECORD_MAX);
    struct px_json_pos pos = {0};
    size_t count = 0;
    int rc = -1;

    if (rec_buf == NULL) {
        px_cli_error("out of memory");
        return -1;
    }
    for (;;) {
        json_t *obj;
        size_t line, rec_len;
        char msg[1024];
        int got = px_json_next(in, len, &pos, &obj, &line, msg, sizeof(msg));

        if (got < 0) {
            px_cli_error("%s", msg);
            goto out;
        }
        if (got == 0) {
            break;
        }
        count++;
        if (sign_one(obj, id, created, rec_buf, &rec_len, msg, sizeof(msg)) != 0) {
            json_decref(obj);
            /* With several objects, say which one. */
            if (count > 1 || pos.off < len) {
                px_cli_error("line %zu: %s", line, msg);
            } else {
                px_cli_error("%s", msg);
            }
            goto out;
        }
        json_decref(obj);
        if (out_append(out, rec_buf, rec_len) != 0) {
            px_cli_error("out of memory");
            goto out;
        }
    }
    if (count == 0) {
        px_cli_error("no JSON object in the input");
        goto out;
    }
    rc = 0;
out:
    free(rec_buf);
    return rc;
}

static int
cmd_sign(const struct px_cli_command *cmd, struct px_cli_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        {"identity", required_argument, NULL, 'i'},
        {"created", required_argument, NULL, PX_CLI_OPT_CREATED},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *id_path = NULL, *path;
    struct px_identity id;
    struct out_buf out = {NULL, 0, 0};
    uint8_t *in = NULL;
    size_t in_len;
    uint64_t created = 0;
    bool have_created = false;
    char buf[PX_CLI_SHOW_MAX];
    int c, fd, rc = PX_CLI_EXIT_ERROR;

    (void)ctx;

    while ((c = getopt_long(argc, argv, ":i:h", opts, NULL)) != -1) {
        switch (c) {
        case 'i':
            id_path = optarg;
            break;
        case PX_CLI_OPT_CREATED:
            if (parse_created(optarg, &created) != 0) {
                px_cli_error("sign: --created wants milliseconds since the Unix epoch, not '%s'",
                             px_cli_show(optarg, buf, sizeof(buf)));
                return PX_CLI_EXIT_USAGE;
            }
            have_created = true;
            break;
        case 'h':
            fputs(cmd->help, stdout);
            return PX_CLI_EXIT_OK;
        default:
            return px_cli_bad_option(cmd, c, argv);
        }
    }
    if ((rc = take_operand(cmd, argc, argv, &path)) != 0) {
        return rc;
    }
    if (id_path == NULL) {
        px_cli_error("sign: no identity given: use -i FILE (see 'praxis sign --help')");
        return PX_CLI_EXIT_USAGE;
    }
    if (isatty(STDOUT_FILENO)) {
        px_cli_error("sign: refusing to write binary records to a terminal; redirect the output "
                     "to a file or a pipe");
        return PX_CLI_EXIT_USAGE;
    }
    if (load_identity(id_path, &id) != 0) {
        return PX_CLI_EXIT_ERROR;
    }
    rc = PX_CLI_EXIT_ERROR;
    if ((fd = px_cli_open_input(path)) < 0) {
        goto out;
    }
    if (px_cli_read_all(fd, px_cli_input_name(path), SIGN_MAX_INPUT, &in, &in_len) != 0) {
        goto out_close;
    }
    if (sign_input(in, in_len, &id, have_created ? created : now_ms(), &out) != 0) {
        goto out_close;
    }
    /* Only now, with every record signed, does anything reach stdout. */
    if (px_cli_write_all(STDOUT_FILENO, out.p, out.len) != 0) {
        px_cli_error("cannot write output: %s", strerror(errno));
        goto out_close;
    }
    rc = PX_CLI_EXIT_OK;
out_close:
    if (fd != STDIN_FILENO) {
        close(fd);
    }
out:
    px_identity_wipe(&id);
    free(in);
    free(out.p);
    return rc;
}

/* ---- inspect ---- */

/* A window on a stream of records: unread bytes are buf[start..end). */
struct reader {
    int fd;
    uint8_t *buf;
    size_t cap;
    size_t start;
    size_t end;
    uint64_t consumed; /* stream offset of buf[start] */
    bool eof;
};

/*
 * Reads until at least want bytes (<= cap) are buffered or the input ends. A record is at
 * most PX_RECORD_MAX bytes, so with that much buffered every decoding error is final.
 * 0, or -1 with errno set.
 */
static int
reader_fill(struct reader *r, size_t want)
{
    if (r->end - r->start >= want) {
        return 0;
    }
    /* Compact only when want bytes would not fit after start: about once per cap - want. */
    if (r->cap - r->start < want) {
        memmove(r->buf, r->buf + r->start, r->end - r->start);
        r->end -= r->start;
        r->start = 0;
    }
    while (!r->eof && r->end - r->start < want) {
        ssize_t n = read(r->fd, r->buf + r->end, r->cap - r->end);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            return -1;
        }
        if (n == 0) {
            r->eof = true;
        }
        r->end += (size_t)n;
    }
    return 0;
}

static void
print_card(const struct px_record *rec, bool sig_ok, size_t index, uint64_t offset)
{
    if (index > 1) {
        putchar('\n');
    }
    printf("%-10s %zu at offset %llu (%zu bytes)\n", "record", index, (unsigned long long)offset,
           rec->len);
    px_card_print(stdout, rec, sig_ok ? PX_CARD_SIG_VALID : PX_CARD_SIG_INVALID);
}

static int
cmd_inspect(const struct px_cli_command *cmd, struct px_cli_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        {"json", no_argument, NULL, PX_CLI_OPT_JSON},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct reader r = {0};
    const char *path;
    size_t count = 0, invalid = 0;
    bool as_json = false, failed = false;
    char buf[PX_CLI_SHOW_MAX];
    int c, rc;

    (void)ctx;

    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case PX_CLI_OPT_JSON:
            as_json = true;
            break;
        case 'h':
            fputs(cmd->help, stdout);
            return PX_CLI_EXIT_OK;
        default:
            return px_cli_bad_option(cmd, c, argv);
        }
    }
    if ((rc = take_operand(cmd, argc, argv, &path)) != 0) {
        return rc;
    }
    if (path == NULL && isatty(STDIN_FILENO)) {
        px_cli_error("inspect: no input: give a FILE, or pipe records in (see 'praxis inspect "
                     "--help')");
        return PX_CLI_EXIT_USAGE;
    }
    if ((r.fd = px_cli_open_input(path)) < 0) {
        return PX_CLI_EXIT_ERROR;
    }
    r.cap = 2 * (size_t)PX_RECORD_MAX;
    if ((r.buf = malloc(r.cap)) == NULL) {
        px_cli_error("out of memory");
        failed = true;
        goto out;
    }
    for (;;) {
        struct px_record rec;
        const char *field = NULL;
        size_t used;
        bool sig_ok;

        if (reader_fill(&r, PX_RECORD_MAX) != 0) {
            px_cli_error("cannot read %s: %s",
                         px_cli_show(px_cli_input_name(path), buf, sizeof(buf)), strerror(errno));
            failed = true;
            break;
        }
        if (r.start == r.end) {
            break;
        }
        rc = px_record_decode_prefix(r.buf + r.start, r.end - r.start, &used, &rec, &field);
        if (rc != 0) {
            px_cli_error("record %zu at offset %llu: %s: %s%s%s%s", count + 1,
                         (unsigned long long)r.consumed, px_err_name(rc), px_strerror(rc),
                         field != NULL ? " (field \"" : "", field != NULL ? field : "",
                         field != NULL ? "\")" : "");
            failed = true;
            break;
        }
        count++;
        sig_ok = px_record_verify(&rec) == 0;
        invalid += !sig_ok;
        if (as_json) {
            if (px_card_json(stdout, &rec, sig_ok ? PX_CARD_SIG_VALID : PX_CARD_SIG_INVALID) != 0) {
                failed = true;
                break;
            }
        } else {
            print_card(&rec, sig_ok, count, r.consumed);
        }
        r.start += used;
        r.consumed += used;
    }
    if (!failed && count == 0) {
        px_cli_error("no records in %s", px_cli_show(px_cli_input_name(path), buf, sizeof(buf)));
        failed = true;
    }
    if (invalid > 0) {
        px_cli_error("%zu of %zu record%s %s an invalid signature", invalid, count,
                     count == 1 ? "" : "s", invalid == 1 ? "has" : "have");
    }
out:
    if (fflush(stdout) != 0 || ferror(stdout)) {
        px_cli_error("cannot write output: %s", strerror(errno));
        failed = true;
    }
    free(r.buf);
    if (r.fd != STDIN_FILENO) {
        close(r.fd);
    }
    return failed || invalid > 0 ? PX_CLI_EXIT_ERROR : PX_CLI_EXIT_OK;
}

/* ---- Commands, help and main ---- */

static int cmd_help(const struct px_cli_command *cmd, struct px_cli_ctx *ctx, int argc,
                    char **argv);

/* The case-field options of publish and correct. */
#define FIELD_HELP                                                                           \
    "      --practice good|bad   a good or a bad practice\n"                                 \
    "      --title TEXT          one line, at most 200 bytes\n"                              \
    "      --summary TEXT        at most 2000 bytes, may span lines\n"                       \
    "      --body TEXT           the full story, Markdown, at most 32768 bytes\n"            \
    "      --body-file FILE|-    the body from a file, or - for standard input\n"            \
    "      --lesson TEXT         a lesson learned, one line; repeat for several, in order\n" \
    "      --tag TAG[,TAG...]    lowercase tokens; repeat or separate with commas\n"         \
    "      --sector TOKEN        e.g. humanitarian, health, education\n"                     \
    "      --region CODE         an ISO 3166 code: KE, KE-30, GB-ENG\n"                      \
    "      --language TAG        a BCP 47 tag (default: en)\n"                               \
    "      --occurred DATE       when it happened: YYYY, YYYY-MM or YYYY-MM-DD\n"            \
    "      --link URL            an http(s) link; repeat for several, in order\n"            \
    "      --license SPDX        the license of the text (default: CC-BY-4.0)\n"

#define SOCKET_HELP                                                                 \
    "      --socket PATH         praxisd's socket (default: $PRAXIS_SOCKET, else\n" \
    "                            " PX_CONN_DEFAULT_SOCKET ")\n"

static const struct px_cli_command commands[] = {
    {"publish", "publish a case (from options or a JSON file)",
     "usage: praxis publish --practice good|bad --title TEXT --summary TEXT [FIELDS] [--json]\n"
     "       praxis publish --json FILE|-\n"
     "\n"
     "Publishes a case through praxisd, which signs it with the node's key and stores it,\n"
     "and prints its id: \"published ID\", or with --json {\"id\": \"ID\"}. The fields are\n"
     "checked before praxisd is contacted; nothing is published if one is invalid.\n"
     "--practice, --title and --summary are required.\n"
     "\n"
     "With --json FILE (or - for standard input) the input is JSON instead (docs/json.md):\n"
     "one case, or several one per line (JSON Lines), each published and its id printed as\n"
     "a JSON line, in input order. If any object is invalid, none is published.\n"
     "\n" FIELD_HELP
     "      --json                JSON output; with FILE, JSON input too\n" SOCKET_HELP
     "  -h, --help                show this help\n",
     px_publish_run, true},
    {"get", "show a record by id or id prefix",
     "usage: praxis get [--history] [--json] [--verify] ID\n"
     "\n"
     "Shows the record whose id is ID or starts with ID (a unique hex prefix will do), as a\n"
     "card, or with --json as a JSON line (the shape of 'inspect --json'). praxisd verified\n"
     "its signature when it arrived; --verify checks it again here. If its author retracted\n"
     "it, says so and shows the retraction.\n"
     "Exits 4 when no record has that id, 1 when the prefix matches several.\n"
     "\n"
     "      --history             every version of its correction chain, oldest first\n"
     "      --json                one JSON object per line\n"
     "      --verify              verify each signature here too (exit 1 if one "
     "fails)\n" SOCKET_HELP "  -h, --help                show this help\n",
     px_query_get, true},
    {"query", "search the cases (filters, full text, follow)",
     "usage: praxis query [FILTERS] [--text WORDS] [--limit N] [--long | --json] [--follow]\n"
     "\n"
     "Lists the current version of every case that matches all the filters given, newest\n"
     "first (or by relevance with --text), as a table, as cards with --long, or as JSON\n"
     "Lines with --json. Retracted cases are gone; corrected ones show their latest version.\n"
     "\n"
     "      --id PREFIX           the id starts with PREFIX (hex); repeat for any of several\n"
     "      --author PREFIX       the author's key starts with PREFIX; repeatable (any of)\n"
     "      --practice good|bad   good or bad practices only\n"
     "      --tag TAG[,TAG...]    carries every tag given; repeatable\n"
     "      --sector TOKEN        this sector\n"
     "      --region CODE         this region code, exactly (KE-30 is not KE)\n"
     "      --language TAG        this language\n"
     "      --since DATE          published at or after DATE\n"
     "      --until DATE          published at or before DATE (a date: to the end of that\n"
     "                            day); DATE is YYYY-MM-DD, YYYY-MM-DDTHH:MM:SSZ (UTC) or\n"
     "                            milliseconds since the Unix epoch\n"
     "      --text WORDS          full-text search over title, summary, body, lessons and\n"
     "                            tags; every word must match, word* matches a prefix;\n"
     "                            results are ranked by relevance\n"
     "      --limit N             at most N results (default 50, or no limit with --json);\n"
     "                            0 means no limit\n"
     "      --history             include superseded versions of corrected cases\n"
     "      --follow              after the stored matches, keep printing new ones as they\n"
     "                            arrive, until interrupted (Ctrl-C or SIGTERM: exit 0)\n"
     "      --long                cards instead of a table\n"
     "      --json                one JSON object per line, flushed line by line\n"
     "      --verify              verify each signature here too, not only praxisd on\n"
     "                            arrival (exit 1 if one fails)\n" SOCKET_HELP
     "  -h, --help                show this help\n",
     px_query_run, true},
    {"correct", "publish a corrected version of a case",
     "usage: praxis correct ID [FIELDS] [--json]\n"
     "       praxis correct ID --json FILE|-\n"
     "\n"
     "Fetches the current version of the case ID (a unique hex prefix will do), applies\n"
     "the changes given to a copy, and publishes it as a correction (its supersedes is the\n"
     "id of the version it replaces). Fields not given are kept. A list option (--lesson,\n"
     "--tag, --link) replaces the whole list; an empty value, e.g. --tag '', empties it,\n"
     "and an empty optional field (--body '') removes it. With --json FILE the changes are\n"
     "one JSON object (docs/json.md): its keys replace those fields; the keys that\n"
     "'get --json' adds (id, author, created, signature_valid, supersedes) are ignored, so\n"
     "'praxis get --json ID > case.json', edit, 'praxis correct ID --json case.json' works.\n"
     "Prints \"published NEW-ID (corrects OLD-ID)\", or with --json {\"id\", \"supersedes\"}.\n"
     "Only the node that published a case can correct it.\n"
     "\n" FIELD_HELP
     "      --json                JSON output; with FILE, JSON input too\n" SOCKET_HELP
     "  -h, --help                show this help\n",
     px_publish_correct, true},
    {"retract", "retract a record this node published",
     "usage: praxis retract ID --reason TEXT [--json]\n"
     "\n"
     "Publishes a retraction of the record ID (a unique hex prefix will do): every node\n"
     "that receives it deletes the record and refuses it from then on. Retracts exactly\n"
     "the version named. Only the node that published a record can retract it. Prints\n"
     "\"retracted ID (retraction RETRACTION-ID)\", or with --json {\"id\", \"target\"}.\n"
     "\n"
     "      --reason TEXT         why, at most 1000 bytes (required)\n"
     "      --json                JSON output\n" SOCKET_HELP
     "  -h, --help                show this help\n",
     px_publish_retract, true},
    {"status", "show the node: key, counts, store size, uptime",
     "usage: praxis status [--json]\n"
     "\n"
     "Shows praxisd's node key, its record counts (cases and retractions), the size of its\n"
     "store, its uptime and version, and how many peers are established. --json prints\n"
     "one object with public_key, records, cases, retractions, store_bytes, uptime_ms,\n"
     "peers (established) and version.\n"
     "\n"
     "      --json                JSON output\n" SOCKET_HELP
     "  -h, --help                show this help\n",
     px_query_status, true},
    {"peers", "show the peer connections and configured peers",
     "usage: praxis peers [--json]\n"
     "\n"
     "Shows praxisd's peer table: every connection (incoming or outgoing, in any state)\n"
     "and every configured peer that has no connection now (state idle). For each: the\n"
     "peer's key, state (connecting, handshake, established, closing, idle), direction,\n"
     "address, node name (from its hello), bytes in and out, how long in this state, its\n"
     "replication counters and the last error. The counters start when praxisd starts\n"
     "and, for a configured peer, span its reconnections: SYNCED is how long ago the last\n"
     "reconciliation with it finished (- for never), SENT the records sent to it, RECEIVED\n"
     "the records it sent that were stored, DUP those already held, REJ those that failed\n"
     "a check, WANTS the ids asked from it and not yet received.\n"
     "--json prints one object per line with public_key (hex, or null before the\n"
     "handshake proved one), name, address, direction, state, since (ms since the epoch),\n"
     "bytes_in, bytes_out, last_error, last_sync (ms since the epoch, 0: never),\n"
     "records_sent, records_received, duplicates, rejected and pending_wants.\n"
     "\n"
     "      --json                JSON Lines output\n" SOCKET_HELP
     "  -h, --help                show this help\n",
     px_query_peers, true},
    {"export", "write every record, signed, as JSON Lines",
     "usage: praxis export [-o FILE]\n"
     "\n"
     "Writes every record praxisd holds, oldest first, one JSON object per line: the\n"
     "record's JSON form (docs/json.md) with \"raw\", the signed record in hex, which is\n"
     "what 'praxis import' reads. Every record is verified first. With -o the output goes\n"
     "to a temporary file that replaces FILE only when the export is complete.\n"
     "\n"
     "  -o, --output FILE         write to FILE instead of standard output\n" SOCKET_HELP
     "  -h, --help                show this help\n",
     px_transfer_export, true},
    {"import", "add signed records from an export file",
     "usage: praxis import [--json] FILE|-\n"
     "\n"
     "Reads the JSON Lines that 'praxis export' writes and hands each line's \"raw\" record\n"
     "to praxisd, which verifies and stores it (the other keys are not used). Lines that\n"
     "are not JSON, have no valid \"raw\", or that praxisd rejects are reported on standard\n"
     "error with their line number; the rest are imported. Importing again changes\n"
     "nothing. Ends with \"imported N, already had M, rejected K\"; exits 1 if K > 0.\n"
     "\n"
     "      --json                the summary as {\"imported\", \"duplicates\", "
     "\"rejected\"}\n" SOCKET_HELP "  -h, --help                show this help\n",
     px_transfer_import, true},
    {"keygen", "create a new identity (an Ed25519 key pair) in a file",
     "usage: praxis keygen [-o FILE] [--json]\n"
     "\n"
     "Creates a new identity and saves it to FILE (default: " DEFAULT_IDENTITY ") with\n"
     "mode 0600. An existing file is never overwritten. Prints the public key in hex and\n"
     "the path. Keep the file secret: it signs for your organization.\n"
     "\n"
     "  -o, --output FILE  where to save the identity\n"
     "      --json         print {\"public_key\": ..., \"path\": ...} instead\n"
     "  -h, --help         show this help\n",
     cmd_keygen, false},
    {"sign", "sign cases or retractions given as JSON; writes binary records",
     "usage: praxis sign -i IDENTITY [--created MS] [FILE|-]\n"
     "\n"
     "Reads one JSON object, or several one per line (JSON Lines), from FILE or standard\n"
     "input, signs each as a record with IDENTITY and writes the binary records, one after\n"
     "the other, to standard output (never to a terminal). Nothing is written unless every\n"
     "object signs. The JSON form is described in docs/json.md, for example:\n"
     "  {\"practice\": \"good\", \"title\": \"...\", \"summary\": \"...\", \"language\": \"en\",\n"
     "   \"license\": \"CC-BY-4.0\", \"tags\": [\"cash\"]}\n"
     "  {\"type\": \"retraction\", \"target\": \"<64 hex digits>\", \"reason\": \"...\"}\n"
     "\n"
     "  -i, --identity FILE  the identity to sign with (from 'praxis keygen')\n"
     "      --created MS     publication time in ms since the Unix epoch (default: now),\n"
     "                       for reproducible output\n"
     "  -h, --help           show this help\n",
     cmd_sign, false},
    {"inspect", "decode, verify and show binary records",
     "usage: praxis inspect [--json] [FILE|-]\n"
     "\n"
     "Reads concatenated binary records from FILE or standard input, decodes and verifies\n"
     "each, and shows it as a card, or with --json as one JSON object per line (JSON Lines,\n"
     "see docs/json.md). Stops at the first record that does not decode. Exits 1 if a\n"
     "record does not decode or a signature is invalid, or if there are no records.\n"
     "\n"
     "      --json  one JSON object per record, with \"signature_valid\"\n"
     "  -h, --help  show this help\n",
     cmd_inspect, false},
    {"help", "show help for a command",
     "usage: praxis help [COMMAND]\n"
     "\n"
     "Shows the help of COMMAND, or the list of commands.\n",
     cmd_help, false},
};

#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

static const struct px_cli_command *
find_command(const char *name)
{
    for (size_t i = 0; i < N_COMMANDS; i++) {
        if (strcmp(commands[i].name, name) == 0) {
            return &commands[i];
        }
    }
    return NULL;
}

static void
print_usage(FILE *f)
{
    fputs("usage: praxis [--socket PATH] COMMAND [ARGS]\n"
          "       praxis --help | --version\n"
          "\n"
          "praxis is the command-line client of praxisd, the peer-to-peer library of good\n"
          "and bad practices. Commands that talk to the local praxisd:\n",
          f);
    for (size_t i = 0; i < N_COMMANDS; i++) {
        if (commands[i].daemon) {
            fprintf(f, "  %-8s  %s\n", commands[i].name, commands[i].summary);
        }
    }
    fputs("\nCommands that work offline:\n", f);
    for (size_t i = 0; i < N_COMMANDS; i++) {
        if (!commands[i].daemon) {
            fprintf(f, "  %-8s  %s\n", commands[i].name, commands[i].summary);
        }
    }
    fputs("\n"
          "'praxis help COMMAND' or 'praxis COMMAND --help' shows a command's options.\n"
          "\n"
          "praxisd's socket is --socket PATH (before or after the command), else the\n"
          "environment variable " PX_CONN_SOCKET_ENV ", else " PX_CONN_DEFAULT_SOCKET
          " (where 'make run'\n"
          "puts it, relative to the current directory).\n"
          "\n"
          "Exit codes: 0 success, 1 error (including invalid input or signature), 2 usage,\n"
          "3 daemon unreachable, 4 not found.\n",
          f);
}

static int
cmd_help(const struct px_cli_command *cmd, struct px_cli_ctx *ctx, int argc, char **argv)
{
    const struct px_cli_command *c;
    char buf[PX_CLI_SHOW_MAX];

    (void)ctx;
    if (argc < 2) {
        print_usage(stdout);
        return PX_CLI_EXIT_OK;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fputs(cmd->help, stdout);
        return PX_CLI_EXIT_OK;
    }
    if (argc > 2) {
        px_cli_error("help: give one command (see 'praxis --help')");
        return PX_CLI_EXIT_USAGE;
    }
    if ((c = find_command(argv[1])) == NULL) {
        px_cli_error("help: unknown command '%s' (see 'praxis --help')",
                     px_cli_show(argv[1], buf, sizeof(buf)));
        return PX_CLI_EXIT_USAGE;
    }
    fputs(c->help, stdout);
    return PX_CLI_EXIT_OK;
}

int
main(int argc, char **argv)
{
    struct px_cli_ctx ctx = {NULL};
    const struct px_cli_command *cmd;
    char buf[PX_CLI_SHOW_MAX];
    int i = 1;

    if (px_crypto_init() != 0) {
        px_cli_error("cannot initialise the crypto library");
        return PX_CLI_EXIT_ERROR;
    }
    /* The options before the command. */
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            print_usage(stdout);
            return PX_CLI_EXIT_OK;
        }
        if (strcmp(argv[i], "--version") == 0 || strcmp(argv[i], "-V") == 0) {
            printf("praxis %s\n", PX_CLI_VERSION);
            return PX_CLI_EXIT_OK;
        }
        if (strcmp(argv[i], "--socket") == 0) {
            if (i + 1 >= argc) {
                px_cli_error("option '--socket' needs a value (see 'praxis --help')");
                return PX_CLI_EXIT_USAGE;
            }
            ctx.socket = argv[++i];
            continue;
        }
        if (strncmp(argv[i], "--socket=", 9) == 0) {
            ctx.socket = argv[i] + 9;
            continue;
        }
        px_cli_error("unknown option '%s' (see 'praxis --help')",
                     px_cli_show(argv[i], buf, sizeof(buf)));
        return PX_CLI_EXIT_USAGE;
    }
    if (i >= argc) {
        px_cli_error("no command given (see 'praxis --help')");
        return PX_CLI_EXIT_USAGE;
    }
    if ((cmd = find_command(argv[i])) == NULL) {
        px_cli_error("unknown command '%s' (see 'praxis --help')",
                     px_cli_show(argv[i], buf, sizeof(buf)));
        return PX_CLI_EXIT_USAGE;
    }
    if (ctx.socket != NULL && ctx.socket[0] == '\0') {
        px_cli_error("--socket needs a path (see 'praxis --help')");
        return PX_CLI_EXIT_USAGE;
    }
    /* Each command parses its own options, with argv[0] its name. */
    optind = 1;
    opterr = 0;
    return cmd->run(cmd, &ctx, argc - i, argv + i);
}
