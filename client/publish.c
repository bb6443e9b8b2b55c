/* SPDX-License-Identifier: MIT */
/*
 * publish.c - publish, correct and retract; see publish.h.
 *
 * Whatever way the fields come in (options or a JSON file), they become the JSON form of
 * docs/json.md first, and json.c turns that into a record: so options and files follow the
 * same rules (white space trimmed, tags sorted, empty means absent) and fail with the same
 * messages. The payload is encoded and validated before praxisd is contacted; praxisd adds
 * the author, the time and the signature.
 */
#include "publish.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <jansson.h>

#include "card.h"
#include "conn.h"
#include "json.h"
#include "protocol/buf.h"
#include "protocol/err.h"
#include "protocol/mp.h"
#include "query.h"
#include "term.h"

/* A JSON input file of cases to publish: at most this big. */
#define PUBLISH_MAX_INPUT (64u << 20)
/* A --body-file: anything larger cannot be a valid body anyway. */
#define BODY_FILE_MAX (1u << 20)
/* Requests in flight on one connection (praxisd serves 4 per client at a time). */
#define MAX_INFLIGHT 4

#define HEX_ID (2 * PX_ID_BYTES + 1)

enum {
    OPT_PRACTICE = PX_CLI_OPT_FIELD,
    OPT_TITLE,
    OPT_SUMMARY,
    OPT_BODY,
    OPT_BODY_FILE,
    OPT_LESSON,
    OPT_TAG,
    OPT_SECTOR,
    OPT_REGION,
    OPT_LANGUAGE,
    OPT_OCCURRED,
    OPT_LINK,
    OPT_LICENSE,
    OPT_REASON,
};

/* The case-field options of publish and correct, and the JSON key each one sets. */
static const struct field_opt {
    const char *name;
    int val;
    const char *key;
    bool list;
} field_opts[] = {
    {"practice", OPT_PRACTICE, "practice", false},
    {"title", OPT_TITLE, "title", false},
    {"summary", OPT_SUMMARY, "summary", false},
    {"body", OPT_BODY, "body", false},
    {"body-file", OPT_BODY_FILE, "body", false},
    {"lesson", OPT_LESSON, "lessons", true},
    {"tag", OPT_TAG, "tags", true},
    {"sector", OPT_SECTOR, "sector", false},
    {"region", OPT_REGION, "region", false},
    {"language", OPT_LANGUAGE, "language", false},
    {"occurred", OPT_OCCURRED, "occurred", false},
    {"link", OPT_LINK, "links", true},
    {"license", OPT_LICENSE, "license", false},
};

#define N_FIELD_OPTS (sizeof(field_opts) / sizeof(field_opts[0]))

/* The fields given as options, as a JSON object of changes. */
struct edit {
    json_t *changes;
    const char *body_file;
    bool body_given;
    const char *bad_utf8; /* the first field whose value is not UTF-8 */
    bool nomem;
};

/* One payload to publish, and what became of it. */
struct item {
    size_t line; /* in the JSON input, or 0 */
    uint32_t type;
    uint8_t *payload;
    size_t len;
    uint64_t seq;
    bool done;
    int code;
    char *error; /* the daemon's message, escaped, when code != 0 */
    uint8_t id[PX_ID_BYTES];
};

static const struct field_opt *
find_field_opt(int val)
{
    for (size_t i = 0; i < N_FIELD_OPTS; i++) {
        if (field_opts[i].val == val) {
            return &field_opts[i];
        }
    }
    return NULL;
}

/* A JSON string of s[0..len), or NULL (then edit->bad_utf8 or nomem says why). */
static json_t *
edit_string(struct edit *e, const char *key, const char *s, size_t len)
{
    json_t *v = json_stringn(s, len);

    if (v == NULL) {
        if (!px_utf8_valid((const uint8_t *)s, len)) {
            if (e->bad_utf8 == NULL) {
                e->bad_utf8 = key;
            }
        } else {
            e->nomem = true;
        }
    }
    return v;
}

static void
edit_set(struct edit *e, const char *key, json_t *v)
{
    if (v != NULL && json_object_set_new(e->changes, key, v) != 0) {
        e->nomem = true;
    }
}

/* Appends s to the list key; an empty s only makes sure that the list is there, so that
 * `--tag ''` means "no tags" (when correcting: remove them). */
static void
edit_append(struct edit *e, const char *key, const char *s, size_t len)
{
    json_t *a = json_object_get(e->changes, key);
    json_t *v;

    if (a == NULL) {
        a = json_array();
        edit_set(e, key, a);
        if (a == NULL) {
            e->nomem = true;
            return;
        }
    }
    while (len > 0 && (s[0] == ' ' || s[0] == '\t')) {
        s++;
        len--;
    }
    while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t')) {
        len--;
    }
    if (len == 0) {
        return;
    }
    if ((v = edit_string(e, key, s, len)) != NULL && json_array_append_new(a, v) != 0) {
        e->nomem = true;
    }
}

/* Takes one field option; c is its getopt value. */
static void
edit_take(struct edit *e, int c, const char *arg)
{
    const struct field_opt *f = find_field_opt(c);

    if (f == NULL) {
        return;
    }
    if (f->list) {
        if (c == OPT_TAG) {
            /* Tags are tokens without commas, so "a,b" can only mean two tags. */
            for (const char *p = arg;;) {
                size_t n = strcspn(p, ",");

                edit_append(e, f->key, p, n);
                if (p[n] == '\0') {
                    break;
                }
                p += n + 1;
            }
        } else {
            edit_append(e, f->key, arg, strlen(arg));
        }
        return;
    }
    if (c == OPT_BODY_FILE) {
        e->body_file = arg;
        e->body_given = true;
        return;
    }
    if (c == OPT_BODY) {
        e->body_given = true;
    }
    edit_set(e, f->key, edit_string(e, f->key, arg, strlen(arg)));
}

/* Reads --body-file into the changes. 0, or -1 with an error printed. */
static int
edit_read_body(struct edit *e)
{
    uint8_t *body = NULL;
    size_t len = 0;
    int fd;

    if (e->body_file == NULL) {
        return 0;
    }
    if ((fd = px_cli_open_input(e->body_file)) < 0) {
        return -1;
    }
    if (px_cli_read_all(fd, px_cli_input_name(e->body_file), BODY_FILE_MAX, &body, &len) != 0) {
        if (fd != STDIN_FILENO) {
            close(fd);
        }
        return -1;
    }
    if (fd != STDIN_FILENO) {
        close(fd);
    }
    edit_set(e, "body", edit_string(e, "body", (const char *)body, len));
    free(body);
    return 0;
}

/* After the options: reports what could not become JSON. 0, or an exit code. */
static int
edit_check(struct edit *e)
{
    struct px_json_error err;
    char msg[512];

    if (e->nomem) {
        px_cli_error("out of memory");
        return PX_CLI_EXIT_ERROR;
    }
    if (e->bad_utf8 != NULL) {
        px_json_error_set(&err, PX_EUTF8, e->bad_utf8);
        px_json_error_format(&err, msg, sizeof(msg));
        px_cli_error("%s", msg);
        return PX_CLI_EXIT_ERROR;
    }
    return 0;
}

/*
 * Converts a JSON object to a record and encodes its payload into a new item. 0, or -1
 * with the error (one line, naming the field) in msg.
 */
static int
encode_item(json_t *obj, struct item *it, char *msg, size_t cap)
{
    struct px_json_error err;
    struct px_record rec;
    uint8_t *buf;
    size_t len;

    if ((buf = malloc(PX_RECORD_MAX)) == NULL) {
        snprintf(msg, cap, "out of memory");
        return -1;
    }
    /* rec borrows obj's strings, which stay alive until the caller's json_decref. */
    if (px_json_encode_payload(obj, &rec, buf, PX_RECORD_MAX, &len, &err) != 0) {
        px_json_error_format(&err, msg, cap);
        free(buf);
        return -1;
    }
    it->type = (uint32_t)rec.type;
    it->payload = buf;
    it->len = len;
    return 0;
}

static void
free_items(struct item *items, size_t n)
{
    for (size_t i = 0; items != NULL && i < n; i++) {
        free(items[i].payload);
        free(items[i].error);
    }
    free(items);
}

/* ---- Sending ---- */

static void
print_published(const struct item *it, bool json, const char *verb, const uint8_t *about)
{
    char hex[HEX_ID], about_hex[HEX_ID];

    px_hex_encode(it->id, PX_ID_BYTES, hex);
    if (about != NULL) {
        px_hex_encode(about, PX_ID_BYTES, about_hex);
    }
    if (json) {
        if (about == NULL) {
            printf("{\"id\":\"%s\"}\n", hex);
        } else {
            printf("{\"id\":\"%s\",\"%s\":\"%s\"}\n", hex,
                   it->type == PX_RECORD_RETRACTION ? "target" : "supersedes", about_hex);
        }
    } else if (about == NULL) {
        printf("%s %s\n", verb, hex);
    } else if (it->type == PX_RECORD_RETRACTION) {
        printf("%s %s (retraction %s)\n", verb, about_hex, hex);
    } else {
        printf("%s %s (corrects %s)\n", verb, hex, about_hex);
    }
    fflush(stdout);
}

/* Saves what the daemon said about an item. */
static void
item_answered(struct item *it, const struct px_api_response *res)
{
    char msg[PX_API_MAX_ERROR * 4 + 4];

    it->done = true;
    it->code = res->code;
    if (res->code == 0 && !res->has_id) {
        it->code = PX_EPROTO;
        it->error = strdup("praxisd acknowledged without an id");
    } else if (res->code == 0) {
        memcpy(it->id, res->id, PX_ID_BYTES);
    } else {
        if (res->error.len > 0) {
            px_term_escape(res->error.p, res->error.len, msg, sizeof(msg));
        } else {
            snprintf(msg, sizeof(msg), "%s", px_strerror(res->code));
        }
        it->error = strdup(msg);
    }
}

/* Reports a refused item, with a hint where the code alone does not explain it. */
static void
item_refused(const struct item *it, const char *cmd, bool several)
{
    const char *hint = "";
    char where[64];

    if (it->code == PX_EPERM) {
        hint = "; only the node that published a record can correct or retract it";
    } else if (it->code == PX_ERETRACTED) {
        hint = "; its author retracted it";
    } else if (it->code == PX_ENOTFOUND) {
        hint = "; the record it refers to is not in this node's store";
    }
    if (several) {
        snprintf(where, sizeof(where), "line %zu", it->line);
    } else {
        snprintf(where, sizeof(where), "%s", cmd);
    }
    px_cli_error("%s: praxisd refused it: %s (%s)%s", where,
                 it->error != NULL ? it->error : px_strerror(it->code), px_err_name(it->code),
                 hint);
}

/*
 * Publishes items[0..n) over c, a few in flight at a time, and prints each result in
 * input order as it becomes known. *refused counts the items praxisd refused. 0, or -1
 * when the connection failed (printed).
 */
static int
publish_items(struct px_conn *c, struct item *items, size_t n, const char *cmd, bool json,
              const uint8_t *about, size_t *refused)
{
    struct px_api_request *req = calloc(1, sizeof(*req));
    size_t next_send = 0, next_print = 0, inflight = 0;
    const char *verb = strcmp(cmd, "retract") == 0 ? "retracted" : "published";
    int rc = -1;

    *refused = 0;
    if (req == NULL) {
        px_cli_error("out of memory");
        return -1;
    }
    req->op = PX_API_PUBLISH;
    while (next_print < n) {
        const struct px_api_response *res;
        size_t idx;

        while (inflight < MAX_INFLIGHT && next_send < n) {
            req->type = items[next_send].type;
            req->payload = items[next_send].payload;
            req->payload_len = items[next_send].len;
            if (px_conn_send(c, req) != 0) {
                goto out;
            }
            items[next_send++].seq = req->seq;
            inflight++;
        }
        if (px_conn_recv(c, &res) != 0) {
            goto out;
        }
        /* Requests were numbered in order, so the seq says which item this answers. */
        idx = (size_t)(res->seq - items[0].seq);
        if (res->seq < items[0].seq || idx >= next_send || items[idx].done || res->more) {
            px_cli_error("praxisd sent an answer to request %llu that was not expected",
                         (unsigned long long)res->seq);
            goto out;
        }
        item_answered(&items[idx], res);
        inflight--;
        for (; next_print < n && items[next_print].done; next_print++) {
            struct item *it = &items[next_print];

            if (it->code != 0) {
                item_refused(it, cmd, n > 1);
                (*refused)++;
            } else {
                print_published(it, json, verb, about);
            }
        }
    }
    rc = 0;
out:
    free(req);
    return rc;
}

/* Connects, publishes, and turns the outcome into an exit code. */
static int
connect_and_publish(struct px_cli_ctx *ctx, struct item *items, size_t n, const char *cmd,
                    bool json)
{
    struct px_conn *c;
    size_t refused = 0;
    int rc;

    if (px_conn_open(px_conn_socket_path(ctx->socket), &c) != 0) {
        return PX_CLI_EXIT_UNREACHABLE;
    }
    rc = publish_items(c, items, n, cmd, json, NULL, &refused);
    px_conn_close(c);
    if (rc != 0) {
        return PX_CLI_EXIT_ERROR;
    }
    if (refused > 0 && n > 1) {
        px_cli_error("%zu of %zu %s refused", refused, n, n == 1 ? "record was" : "records were");
    }
    return refused > 0 ? PX_CLI_EXIT_ERROR : PX_CLI_EXIT_OK;
}

/* ---- Options ---- */

/* The long options of a command: its own, then the field options when fields is set. */
static struct option *
build_options(const struct option *own, size_t n_own, bool fields)
{
    size_t n = n_own + (fields ? N_FIELD_OPTS : 0);
    struct option *o = calloc(n + 1, sizeof(*o));

    if (o == NULL) {
        return NULL;
    }
    memcpy(o, own, n_own * sizeof(*o));
    for (size_t i = 0; fields && i < N_FIELD_OPTS; i++) {
        o[n_own + i] =
            (struct option){field_opts[i].name, required_argument, NULL, field_opts[i].val};
    }
    return o;
}

/* Reads a JSON input file whole. 0, or -1 with an error printed. */
static int
read_json_input(const char *path, uint8_t **in, size_t *len)
{
    int fd = px_cli_open_input(path);
    int rc;

    if (fd < 0) {
        return -1;
    }
    rc = px_cli_read_all(fd, px_cli_input_name(path), PUBLISH_MAX_INPUT, in, len);
    if (fd != STDIN_FILENO) {
        close(fd);
    }
    return rc;
}

/*
 * Turns every JSON object of in[0..len) into an item. 0, or -1 with an error printed
 * (naming the line when there are several objects): then nothing is published.
 */
static int
items_from_json(const uint8_t *in, size_t len, struct item **out, size_t *n_out)
{
    struct item *items = NULL;
    struct px_json_pos pos = {0};
    size_t n = 0, cap = 0;

    for (;;) {
        json_t *obj;
        size_t line;
        char msg[1024];
        int got = px_json_next(in, len, &pos, &obj, &line, msg, sizeof(msg));

        if (got < 0) {
            px_cli_error("%s", msg);
            goto fail;
        }
        if (got == 0) {
            break;
        }
        if (n == cap) {
            size_t ncap = cap == 0 ? 16 : cap * 2;
            struct item *p = realloc(items, ncap * sizeof(*p));

            if (p == NULL) {
                json_decref(obj);
                px_cli_error("out of memory");
                goto fail;
            }
            items = p;
            cap = ncap;
        }
        memset(&items[n], 0, sizeof(items[n]));
        items[n].line = line;
        if (encode_item(obj, &items[n], msg, sizeof(msg)) != 0) {
            json_decref(obj);
            if (n > 0 || pos.off < len) {
                px_cli_error("line %zu: %s", line, msg);
            } else {
                px_cli_error("%s", msg);
            }
            goto fail;
        }
        json_decref(obj);
        n++;
    }
    if (n == 0) {
        px_cli_error("no JSON object in the input");
        goto fail;
    }
    *out = items;
    *n_out = n;
    return 0;
fail:
    free_items(items, n);
    return -1;
}

/* ---- publish ---- */

int
px_publish_run(const struct px_cli_command *cmd, struct px_cli_ctx *ctx, int argc, char **argv)
{
    static const struct option own[] = {
        {"json", no_argument, NULL, PX_CLI_OPT_JSON},
        {"socket", required_argument, NULL, PX_CLI_OPT_SOCKET},
        {"help", no_argument, NULL, 'h'},
    };
    struct option *opts = build_options(own, sizeof(own) / sizeof(own[0]), true);
    struct edit e = {json_object(), NULL, false, NULL, false};
    struct item *items = NULL;
    size_t n = 0;
    uint8_t *in = NULL;
    size_t in_len;
    const char *path = NULL;
    bool json = false, fields = false;
    char msg[1024];
    int ch, rc = PX_CLI_EXIT_ERROR;

    if (opts == NULL || e.changes == NULL) {
        px_cli_error("out of memory");
        goto out;
    }
    while ((ch = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        if (ch >= PX_CLI_OPT_FIELD && find_field_opt(ch) != NULL) {
            if ((ch == OPT_BODY || ch == OPT_BODY_FILE) && e.body_given) {
                px_cli_error("publish: give --body or --body-file once");
                rc = PX_CLI_EXIT_USAGE;
                goto out;
            }
            edit_take(&e, ch, optarg);
            fields = true;
            continue;
        }
        switch (ch) {
        case PX_CLI_OPT_JSON:
            json = true;
            break;
        case PX_CLI_OPT_SOCKET:
            ctx->socket = optarg;
            break;
        case 'h':
            fputs(cmd->help, stdout);
            rc = PX_CLI_EXIT_OK;
            goto out;
        default:
            rc = px_cli_bad_option(cmd, ch, argv);
            goto out;
        }
    }
    if (optind < argc) {
        path = argv[optind++];
    }
    if (optind < argc) {
        rc = px_cli_extra_operand(cmd, argv[optind]);
        goto out;
    }
    if (path != NULL && !json) {
        px_cli_error("publish: unexpected argument '%s' (to publish JSON from a file: "
                     "praxis publish --json FILE)",
                     px_cli_show(path, msg, sizeof(msg)));
        rc = PX_CLI_EXIT_USAGE;
        goto out;
    }
    if (path != NULL && fields) {
        px_cli_error("publish: give the fields as options or in --json FILE, not both");
        rc = PX_CLI_EXIT_USAGE;
        goto out;
    }
    if (path == NULL && !fields) {
        px_cli_error("publish: nothing to publish: give the fields as options, or --json FILE "
                     "(see 'praxis publish --help')");
        rc = PX_CLI_EXIT_USAGE;
        goto out;
    }
    if (path != NULL) {
        if (read_json_input(path, &in, &in_len) != 0 ||
            items_from_json(in, in_len, &items, &n) != 0) {
            goto out;
        }
    } else {
        json_t *obj = json_pack("{s:s}", "type", "case");

        if (edit_read_body(&e) != 0 || (rc = edit_check(&e)) != 0) {
            json_decref(obj);
            rc = rc != 0 ? rc : PX_CLI_EXIT_ERROR;
            goto out;
        }
        rc = PX_CLI_EXIT_ERROR;
        if (obj == NULL || json_object_update(obj, e.changes) != 0 ||
            (json_object_get(obj, "language") == NULL &&
             json_object_set_new(obj, "language", json_string("en")) != 0) ||
            (json_object_get(obj, "license") == NULL &&
             json_object_set_new(obj, "license", json_string("CC-BY-4.0")) != 0) ||
            (items = calloc(1, sizeof(*items))) == NULL) {
            json_decref(obj);
            px_cli_error("out of memory");
            goto out;
        }
        if (encode_item(obj, &items[0], msg, sizeof(msg)) != 0) {
            json_decref(obj);
            px_cli_error("%s", msg);
            goto out;
        }
        json_decref(obj);
        n = 1;
    }
    rc = connect_and_publish(ctx, items, n, "publish", json);
out:
    free_items(items, n);
    free(in);
    json_decref(e.changes);
    free(opts);
    return rc;
}

/* ---- correct ---- */

/* The keys of `get --json` output that a correction file may carry and that are ignored:
 * they describe the old version, and praxisd or correct set them for the new one. */
static const char *const ignored_keys[] = {"id", "author", "created", "signature_valid",
                                           "supersedes"};

/* Reads the one JSON object of a correction file into e->changes. 0, or an exit code. */
static int
changes_from_json(const char *path, struct edit *e)
{
    uint8_t *in = NULL;
    struct px_json_pos pos = {0};
    size_t len, line;
    json_t *obj = NULL, *type;
    char msg[1024];
    int got, rc = PX_CLI_EXIT_ERROR;

    if (read_json_input(path, &in, &len) != 0) {
        return PX_CLI_EXIT_ERROR;
    }
    got = px_json_next(in, len, &pos, &obj, &line, msg, sizeof(msg));
    if (got < 0) {
        px_cli_error("%s", msg);
        goto out;
    }
    if (got == 0 || !json_is_object(obj)) {
        px_cli_error("correct: %s holds no JSON object", px_cli_input_name(path));
        goto out;
    }
    if (pos.off < len) {
        px_cli_error("correct: %s holds more than one JSON object; a correction is one",
                     px_cli_input_name(path));
        goto out;
    }
    type = json_object_get(obj, "type");
    if (type != NULL && (!json_is_string(type) || strcmp(json_string_value(type), "case") != 0)) {
        px_cli_error("correct: field \"type\": only a case can be corrected");
        goto out;
    }
    for (size_t i = 0; i < sizeof(ignored_keys) / sizeof(ignored_keys[0]); i++) {
        json_object_del(obj, ignored_keys[i]);
    }
    json_object_del(obj, "type");
    if (json_object_update(e->changes, obj) != 0) {
        px_cli_error("out of memory");
        goto out;
    }
    rc = 0;
out:
    json_decref(obj);
    free(in);
    return rc;
}

/*
 * Fetches the current version of the case named by prefix into *cur (a copy of its signed
 * bytes in *raw, which cur borrows). 0, or an exit code with the error printed.
 */
static int
fetch_current(struct px_conn *c, const char *cmd, const char *prefix, bool history, uint8_t **raw,
              struct px_record *cur)
{
    struct px_query_got got;
    const char *field;
    char what[160], hex[HEX_ID];
    bool named = false;
    int rc = px_query_fetch(c, prefix, history, &got);

    if (rc != 0) {
        return rc == 1 ? PX_CLI_EXIT_ERROR : px_query_fetch_failed(cmd, prefix, rc);
    }
    /* Every version is checked, not only the one used, and one of them must be the record
     * named (or, for a retracted one, its retraction). */
    for (size_t i = 0; i < got.n; i++) {
        struct px_record rec;

        if ((rc = px_card_check(got.raw[i], got.len[i], &rec, &field, true)) != 0) {
            snprintf(what, sizeof(what), "%s: a record praxisd sent for %s", cmd, prefix);
            px_card_report(what, rc, field);
            px_query_got_free(&got);
            return PX_CLI_EXIT_ERROR;
        }
        named |= px_query_answers(&rec, prefix);
    }
    if (!named || (!history && got.n != 1)) {
        px_cli_error("%s: praxisd's answer for %s does not hold that record", cmd, prefix);
        px_query_got_free(&got);
        return PX_CLI_EXIT_ERROR;
    }
    *raw = got.raw[got.n - 1];
    got.raw[got.n - 1] = NULL;
    /* Checked above; decoded again only so that cur borrows *raw. */
    px_card_check(*raw, got.len[got.n - 1], cur, &field, false);
    px_query_got_free(&got);
    px_hex_encode(cur->id, PX_ID_BYTES, hex);
    if (cur->type == PX_RECORD_RETRACTION) {
        char reason[4 * PX_RETRACT_MAX_REASON + 4];

        px_term_escape(cur->rt.reason.p, cur->rt.reason.len, reason, sizeof(reason));
        if (px_query_is_retracted_answer(cur, prefix)) {
            px_cli_error("%s: %s was retracted by its author: %s", cmd, prefix, reason);
        } else {
            px_cli_error("%s: %s is a retraction, not a case", cmd, hex);
        }
        free(*raw);
        *raw = NULL;
        return PX_CLI_EXIT_ERROR;
    }
    return 0;
}

/*
 * The new version: the current one's fields as JSON, with the changes over them and
 * supersedes set to the current id. 0, or -1 with the error printed.
 */
static int
build_correction(const struct px_record *cur, json_t *changes, struct item *it)
{
    json_t *obj = px_json_from_record(cur);
    char hex[HEX_ID], msg[1024];
    int rc = -1;

    px_hex_encode(cur->id, PX_ID_BYTES, hex);
    if (obj == NULL) {
        px_cli_error("out of memory");
        return -1;
    }
    for (size_t i = 0; i < sizeof(ignored_keys) / sizeof(ignored_keys[0]); i++) {
        json_object_del(obj, ignored_keys[i]);
    }
    if (json_object_update(obj, changes) != 0 ||
        json_object_set_new(obj, "supersedes", json_string(hex)) != 0) {
        px_cli_error("out of memory");
        goto out;
    }
    if (encode_item(obj, it, msg, sizeof(msg)) != 0) {
        px_cli_error("%s", msg);
        goto out;
    }
    rc = 0;
out:
    json_decref(obj);
    return rc;
}

int
px_publish_correct(const struct px_cli_command *cmd, struct px_cli_ctx *ctx, int argc, char **argv)
{
    static const struct option own[] = {
        {"json", no_argument, NULL, PX_CLI_OPT_JSON},
        {"socket", required_argument, NULL, PX_CLI_OPT_SOCKET},
        {"help", no_argument, NULL, 'h'},
    };
    struct option *opts = build_options(own, sizeof(own) / sizeof(own[0]), true);
    struct edit e = {json_object(), NULL, false, NULL, false};
    struct item it;
    struct px_record cur;
    struct px_conn *c = NULL;
    uint8_t *raw = NULL;
    const char *id = NULL, *path = NULL;
    bool json = false, fields = false;
    char buf[PX_CLI_SHOW_MAX], hex[HEX_ID];
    size_t refused = 0;
    int ch, rc = PX_CLI_EXIT_ERROR;

    memset(&it, 0, sizeof(it));
    if (opts == NULL || e.changes == NULL) {
        px_cli_error("out of memory");
        goto out;
    }
    while ((ch = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        if (ch >= PX_CLI_OPT_FIELD && find_field_opt(ch) != NULL) {
            if ((ch == OPT_BODY || ch == OPT_BODY_FILE) && e.body_given) {
                px_cli_error("correct: give --body or --body-file once");
                rc = PX_CLI_EXIT_USAGE;
                goto out;
            }
            edit_take(&e, ch, optarg);
            fields = true;
            continue;
        }
        switch (ch) {
        case PX_CLI_OPT_JSON:
            json = true;
            break;
        case PX_CLI_OPT_SOCKET:
            ctx->socket = optarg;
            break;
        case 'h':
            fputs(cmd->help, stdout);
            rc = PX_CLI_EXIT_OK;
            goto out;
        default:
            rc = px_cli_bad_option(cmd, ch, argv);
            goto out;
        }
    }
    if (optind < argc) {
        id = argv[optind++];
    }
    if (optind < argc) {
        path = argv[optind++];
    }
    if (optind < argc) {
        rc = px_cli_extra_operand(cmd, argv[optind]);
        goto out;
    }
    rc = PX_CLI_EXIT_USAGE;
    if (px_cli_check_id(cmd, id) != 0) {
        goto out;
    }
    if (path != NULL && !json) {
        px_cli_error("correct: unexpected argument '%s' (to read the changes from a file: "
                     "praxis correct ID --json FILE)",
                     px_cli_show(path, buf, sizeof(buf)));
        goto out;
    }
    if (path != NULL && fields) {
        px_cli_error("correct: give the changes as options or in --json FILE, not both");
        goto out;
    }
    if (path == NULL && !fields) {
        px_cli_error("correct: nothing to change: give the fields to change as options, or "
                     "--json FILE (see 'praxis correct --help')");
        goto out;
    }
    rc = PX_CLI_EXIT_ERROR;
    if (path != NULL) {
        if ((rc = changes_from_json(path, &e)) != 0) {
            goto out;
        }
    } else if (edit_read_body(&e) != 0 || (rc = edit_check(&e)) != 0) {
        rc = rc != 0 ? rc : PX_CLI_EXIT_ERROR;
        goto out;
    }
    if (px_conn_open(px_conn_socket_path(ctx->socket), &c) != 0) {
        rc = PX_CLI_EXIT_UNREACHABLE;
        goto out;
    }
    /* With its history, the last version of the chain is the current one. */
    if ((rc = fetch_current(c, "correct", id, true, &raw, &cur)) != 0) {
        goto out;
    }
    rc = PX_CLI_EXIT_ERROR;
    px_hex_encode(cur.id, PX_ID_BYTES, hex);
    if (strncasecmp(hex, id, strlen(id)) != 0) {
        px_cli_error("note: %s has been corrected since; correcting its current version %s",
                     px_cli_show(id, buf, sizeof(buf)), hex);
    }
    if (build_correction(&cur, e.changes, &it) != 0) {
        goto out;
    }
    if (publish_items(c, &it, 1, "correct", json, cur.id, &refused) != 0) {
        goto out;
    }
    rc = refused > 0 ? PX_CLI_EXIT_ERROR : PX_CLI_EXIT_OK;
out:
    free(it.payload);
    free(it.error);
    free(raw);
    px_conn_close(c);
    json_decref(e.changes);
    free(opts);
    return rc;
}

/* ---- retract ---- */

/* A retraction's payload as an item. 0, or -1 with the error printed. */
static int
build_retraction(const uint8_t target[PX_ID_BYTES], const char *reason, struct item *it)
{
    char hex[HEX_ID], msg[1024];
    json_t *obj;
    int rc;

    px_hex_encode(target, PX_ID_BYTES, hex);
    obj = json_pack("{s:s, s:s, s:s}", "type", "retraction", "target", hex, "reason", "");
    if (obj == NULL) {
        px_cli_error("out of memory");
        return -1;
    }
    /* json_pack would refuse a reason that is not UTF-8 with no way to say so. */
    if (json_object_set_new(obj, "reason", json_string(reason)) != 0) {
        struct px_json_error err;

        json_decref(obj);
        px_json_error_set(
            &err, px_utf8_valid((const uint8_t *)reason, strlen(reason)) ? PX_ENOMEM : PX_EUTF8,
            "reason");
        px_json_error_format(&err, msg, sizeof(msg));
        px_cli_error("%s", msg);
        return -1;
    }
    rc = encode_item(obj, it, msg, sizeof(msg));
    json_decref(obj);
    if (rc != 0) {
        px_cli_error("%s", msg);
        return -1;
    }
    return 0;
}

int
px_publish_retract(const struct px_cli_command *cmd, struct px_cli_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        {"reason", required_argument, NULL, OPT_REASON},
        {"json", no_argument, NULL, PX_CLI_OPT_JSON},
        {"socket", required_argument, NULL, PX_CLI_OPT_SOCKET},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    static const uint8_t zero[PX_ID_BYTES];
    struct item it;
    struct px_record cur;
    struct px_conn *c = NULL;
    uint8_t *raw = NULL;
    const char *id, *reason = NULL;
    bool json = false;
    size_t refused = 0;
    int ch, rc;

    memset(&it, 0, sizeof(it));
    while ((ch = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (ch) {
        case OPT_REASON:
            reason = optarg;
            break;
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
    if ((rc = px_cli_take_id(cmd, argc, argv, &optind, &id)) != 0) {
        return rc;
    }
    if (reason == NULL) {
        px_cli_error("retract: say why with --reason TEXT (see 'praxis retract --help')");
        return PX_CLI_EXIT_USAGE;
    }
    /* Check the reason before anything is asked of praxisd. */
    if (build_retraction(zero, reason, &it) != 0) {
        return PX_CLI_EXIT_ERROR;
    }
    free(it.payload);
    memset(&it, 0, sizeof(it));
    if (px_conn_open(px_conn_socket_path(ctx->socket), &c) != 0) {
        return PX_CLI_EXIT_UNREACHABLE;
    }
    /* Exactly the record named: a retraction names one version, not a chain. */
    if ((rc = fetch_current(c, "retract", id, false, &raw, &cur)) != 0) {
        goto out;
    }
    rc = PX_CLI_EXIT_ERROR;
    if (build_retraction(cur.id, reason, &it) != 0) {
        goto out;
    }
    if (publish_items(c, &it, 1, "retract", json, cur.id, &refused) != 0) {
        goto out;
    }
    rc = refused > 0 ? PX_CLI_EXIT_ERROR : PX_CLI_EXIT_OK;
out:
    free(it.payload);
    free(it.error);
    free(raw);
    px_conn_close(c);
    return rc;
}
