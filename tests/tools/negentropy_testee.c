/* SPDX-License-Identifier: MIT */
/*
 * negentropy_testee.c - praxis-negentropy-testee: our negentropy behind the stdin/stdout
 * protocol of the reference repository's conformance harnesses (hoytech/negentropy
 * test/js/harness.js, test/cpp/harness.cpp), so that its test scripts (test/fuzz.pl,
 * test/protoversion.pl) can drive it against other implementations.
 *
 * Environment: FRAMESIZELIMIT, a decimal byte count; unset, empty or 0 means no limit,
 * otherwise it must be at least 4096.
 *
 * Input, one command per line (empty lines are ignored, a trailing CR is dropped):
 *   item,TIMESTAMP,ID_HEX   adds an item (before seal; ID_HEX is 64 hex digits)
 *   seal                    sorts the items and makes the reconciler
 *   initiate                client role: prints msg,HEX
 *   msg,HEX                 client (after initiate): prints have,ID_HEX and need,ID_HEX
 *                           lines, then msg,HEX or done; server (no initiate): prints
 *                           msg,HEX, the reply
 * Anything else, or a command that fails (a malformed line, a message our parser refuses,
 * a duplicate item, seal twice), prints "praxis-negentropy-testee: line N: why" on stderr
 * and exits 1, as the reference harnesses die with an exception. Output is flushed after
 * every command, because the harness scripts wait for each answer before sending the next.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/buf.h"
#include "protocol/err.h"
#include "protocol/negentropy.h"

#define PROG "praxis-negentropy-testee"

struct testee {
    struct px_negentropy_storage *st;
    struct px_negentropy *ne;
    size_t frame_limit;
    bool client;
    unsigned long line;
    char *buf; /* the input line */
    size_t buf_cap;
    uint8_t *in; /* the message being processed */
    char *hex;   /* output scratch */
    size_t hex_cap;
};

static void
testee_fini(struct testee *t)
{
    px_negentropy_free(t->ne);
    px_negentropy_storage_free(t->st);
    free(t->buf);
    free(t->in);
    free(t->hex);
    memset(t, 0, sizeof(*t));
}

/* Reports and exits 1, freeing everything first so that leak checkers stay quiet. */
_Noreturn static void die(struct testee *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

_Noreturn static void
die(struct testee *t, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "%s: line %lu: ", PROG, t->line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    testee_fini(t);
    exit(1);
}

static void
print_hex(struct testee *t, const char *tag, const uint8_t *p, size_t n)
{
    if (2 * n + 1 > t->hex_cap) {
        free(t->hex);
        t->hex_cap = 2 * n + 1;
        if ((t->hex = malloc(t->hex_cap)) == NULL) {
            die(t, "out of memory");
        }
    }
    px_hex_encode(p, n, t->hex);
    printf("%s,%s\n", tag, t->hex);
}

static int
parse_u64(const char *s, uint64_t *v)
{
    char *end;
    unsigned long long x;

    if (*s < '0' || *s > '9') {
        return -1;
    }
    errno = 0;
    x = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0') {
        return -1;
    }
    *v = (uint64_t)x;
    return 0;
}

static void
cmd_item(struct testee *t, char *args)
{
    char *comma = strchr(args, ',');
    uint8_t id[PX_NEGENTROPY_ID_SIZE];
    uint64_t ts;
    int rc;

    if (comma == NULL || strchr(comma + 1, ',') != NULL) {
        die(t, "item: expected item,TIMESTAMP,ID_HEX");
    }
    *comma = '\0';
    if (parse_u64(args, &ts) != 0) {
        die(t, "item: bad timestamp '%s'", args);
    }
    if (px_hex_decode(comma + 1, strlen(comma + 1), id, sizeof(id)) != 0) {
        die(t, "item: the id must be 64 hex digits");
    }
    if (px_negentropy_storage_sealed(t->st)) {
        die(t, "item: already sealed");
    }
    if ((rc = px_negentropy_storage_insert(t->st, ts, id)) != 0) {
        die(t, "item: %s", px_strerror(rc));
    }
}

static void
cmd_seal(struct testee *t)
{
    int rc;

    if (px_negentropy_storage_sealed(t->st)) {
        die(t, "already sealed");
    }
    if ((rc = px_negentropy_storage_seal(t->st)) != 0) {
        die(t, "seal: %s", rc == PX_EEXIST ? "duplicate item inserted" : px_strerror(rc));
    }
    if ((rc = px_negentropy_new(t->st, t->frame_limit, &t->ne)) != 0) {
        die(t, "seal: %s", px_strerror(rc));
    }
}

static void
cmd_initiate(struct testee *t)
{
    uint8_t *msg;
    size_t len;
    int rc;

    if (t->ne == NULL) {
        die(t, "initiate before seal");
    }
    if ((rc = px_negentropy_initiate(t->ne, &msg, &len)) != 0) {
        die(t, "initiate: %s (%s)", px_strerror(rc), px_negentropy_reason(t->ne));
    }
    t->client = true;
    print_hex(t, "msg", msg, len);
    free(msg);
}

static void
cmd_msg(struct testee *t, const char *hex)
{
    size_t hlen = strlen(hex);
    uint8_t *in;
    int rc;

    free(t->in);
    t->in = NULL;
    if (t->ne == NULL) {
        die(t, "msg before seal");
    }
    if (hlen % 2 != 0) {
        die(t, "msg: odd length of hex string");
    }
    if ((in = t->in = malloc(hlen / 2 + 1)) == NULL) {
        die(t, "out of memory");
    }
    if (px_hex_decode(hex, hlen, in, hlen / 2) != 0) {
        die(t, "msg: bad hex");
    }
    if (t->client) {
        struct px_negentropy_result res;

        if ((rc = px_negentropy_reconcile(t->ne, in, hlen / 2, &res)) != 0) {
            die(t, "msg: %s: %s", px_err_name(rc), px_negentropy_reason(t->ne));
        }
        for (size_t i = 0; i < res.have_n; i++) {
            print_hex(t, "have", res.have + i * PX_NEGENTROPY_ID_SIZE, PX_NEGENTROPY_ID_SIZE);
        }
        for (size_t i = 0; i < res.need_n; i++) {
            print_hex(t, "need", res.need + i * PX_NEGENTROPY_ID_SIZE, PX_NEGENTROPY_ID_SIZE);
        }
        if (res.msg == NULL) {
            printf("done\n");
        } else {
            print_hex(t, "msg", res.msg, res.msg_len);
        }
        px_negentropy_result_fini(&res);
    } else {
        uint8_t *reply;
        size_t rlen;

        if ((rc = px_negentropy_respond(t->ne, in, hlen / 2, &reply, &rlen)) != 0) {
            die(t, "msg: %s: %s", px_err_name(rc), px_negentropy_reason(t->ne));
        }
        print_hex(t, "msg", reply, rlen);
        free(reply);
    }
    free(t->in);
    t->in = NULL;
}

int
main(void)
{
    struct testee t = {0};
    const char *env = getenv("FRAMESIZELIMIT");
    ssize_t n;
    int rc;

    if (env != NULL && *env != '\0') {
        uint64_t v;

        if (parse_u64(env, &v) != 0 || v > SIZE_MAX || (v != 0 && v < PX_NEGENTROPY_MIN_FRAME)) {
            fprintf(stderr, "%s: FRAMESIZELIMIT must be 0 or a number >= %d\n", PROG,
                    PX_NEGENTROPY_MIN_FRAME);
            return 1;
        }
        t.frame_limit = (size_t)v;
    }
    if ((rc = px_negentropy_storage_new(&t.st)) != 0) {
        fprintf(stderr, "%s: %s\n", PROG, px_strerror(rc));
        return 1;
    }
    while ((n = getline(&t.buf, &t.buf_cap, stdin)) > 0) {
        char *line = t.buf, *cmd = line, *args;

        t.line++;
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) {
            line[--n] = '\0';
        }
        if (n == 0) {
            continue;
        }
        if ((args = strchr(cmd, ',')) != NULL) {
            *args++ = '\0';
        }
        if (strcmp(cmd, "item") == 0 && args != NULL) {
            cmd_item(&t, args);
        } else if (strcmp(cmd, "seal") == 0 && args == NULL) {
            cmd_seal(&t);
        } else if (strcmp(cmd, "initiate") == 0 && args == NULL) {
            cmd_initiate(&t);
        } else if (strcmp(cmd, "msg") == 0) {
            /* "msg" and "msg," carry the empty message, as in the C++ harness. */
            cmd_msg(&t, args != NULL ? args : "");
        } else {
            die(&t, "unknown cmd: %s", cmd);
        }
        fflush(stdout);
    }
    rc = ferror(stdin) ? 1 : 0;
    testee_fini(&t);
    return rc;
}
