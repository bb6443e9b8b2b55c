/* SPDX-License-Identifier: MIT */
/*
 * hostile_peer.c - praxis-hostile-peer: a member of the network (a valid node key and
 * the network key) that misbehaves on purpose, for tests/integration/test_hostile.c and
 * for trying a node by hand. It speaks the real protocol through tests/util/rawpeer (the
 * secret handshake, box-stream, wire messages) and runs one named attack against one
 * praxisd on this machine, bounded in count (--count) and time (--seconds), then prints
 * one line: what it sent, what the node asked of it, whether and when the node
 * disconnected it, and the node's bye, if any.
 *
 *   praxis-hostile-peer --port PORT --server-key HEX [options] ATTACK
 *
 * It refuses any address but 127.0.0.0/8 and ::1: this is a test tool, not a weapon.
 * docs/security.md says what each attack does and how praxisd answers it.
 *
 * Exit status: 0 when the attack ran (whatever the node did), 3 when the node refused
 * the handshake (the line says handshake=refused), 1 on another failure to start, 2 on a
 * usage error.
 */
#include <sys/socket.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "common/identity.h"
#include "daemon/config.h"
#include "protocol/buf.h"
#include "protocol/err.h"
#include "protocol/negentropy.h"
#include "protocol/record.h"
#include "protocol/sign.h"
#include "protocol/wire.h"
#include "util/rawpeer.h"

#define HS_TIMEOUT_MS   10000
#define WANT_WAIT_MS    3000 /* for the node's first want after an announce */
#define WANT_QUIET_MS   300  /* then for more, after the last one */
#define ROUND_IDS       PX_WIRE_MAX_IDS
#define BIG_BODY        32768 /* PX_CASE_MAX_BODY: the longest body a valid case has */
#define OVER_RECORD     (PX_RECORD_MAX + 100)
#define RECORDS_MAX_MSG (PX_WIRE_MAX_MSG - 64)
#define MAX_WANT_IDS    64

enum attack {
    A_FORGED_SIG,
    A_NON_CANONICAL,
    A_OVERSIZE,
    A_FUTURE,
    A_FOREIGN_RETRACTION,
    A_ANNOUNCE_FLOOD,
    A_WANT_FLOOD,
    A_JUNK_AUTHORS,
    A_ABSURD_RECONCILE,
    A_STALL_HANDSHAKE,
    A_NO_READ,
    A_HALF_OPEN,
    A_CONNECT_FLOOD,
    A_N
};

static const struct {
    const char *name;
    unsigned long count; /* the default --count */
    const char *what;
} attacks[A_N] = {
    [A_FORGED_SIG] = {"forged-sig", 1, "records claiming the node's key as author, signed by ours"},
    [A_NON_CANONICAL] = {"non-canonical", 1, "records with an integer in a longer form, re-signed"},
    [A_OVERSIZE] = {"oversize", 1,
                    "a record over PX_RECORD_MAX (--variant record) or a body over its cap "
                    "(--variant field)"},
    [A_FUTURE] = {"future", 100, "records created a day ahead of the clock"},
    [A_FOREIGN_RETRACTION] = {"foreign-retraction", 1,
                              "retractions of --target (another author's record)"},
    [A_ANNOUNCE_FLOOD] = {"announce-flood", 1000000, "announces of random ids, 1024 a message"},
    [A_WANT_FLOOD] = {"want-flood", 1000000,
                      "wants of random ids (or of --want ids), 1024 a message"},
    [A_JUNK_AUTHORS] = {"junk-authors", 20000,
                        "valid new records, each by a new throwaway author key"},
    [A_ABSURD_RECONCILE] = {"absurd-reconcile", 3,
                            "reconcile messages of thousands of absurd ranges, then (unless "
                            "--variant valid) one with a decreasing bound"},
    [A_STALL_HANDSHAKE] = {"stall-handshake", 4, "connections that send half of msg1, then wait"},
    [A_NO_READ] = {"no-read", 16, "want messages for --want ids; then never reads the socket"},
    [A_HALF_OPEN] = {"half-open", 4,
                     "links that send hello, then shut down their sending side and never read"},
    [A_CONNECT_FLOOD] = {"connect-flood", 5000,
                         "TCP connections opened and reset at once, as fast as it can"},
};

struct opts {
    enum attack attack;
    struct sockaddr_storage addr;
    size_t addrlen;
    bool has_server;
    uint8_t server[PX_SIGN_PUBLICKEYBYTES];
    uint8_t netkey[PX_SHS_NETKEY_BYTES];
    struct px_identity me;
    unsigned long count;
    unsigned long seconds;
    bool has_target;
    uint8_t target[PX_ID_BYTES];
    uint8_t want[MAX_WANT_IDS][PX_ID_BYTES];
    size_t n_want;
    const char *variant;
    bool unsolicited;
};

/* What happened, for the summary line. */
struct tally {
    int64_t t0;
    uint64_t msgs, records, ids, bytes;
    uint64_t wanted;        /* ids the node asked us for */
    uint64_t received;      /* messages from the node */
    uint64_t records_in;    /* records the node sent us */
    uint64_t conns, closed; /* connections opened, and closed by the node */
    int64_t first_close_ms; /* -1: none */
    int64_t last_close_ms;
    bool refused; /* the handshake was refused */
    bool disconnected;
    int64_t disc_ms;
    bool bye;
    int32_t bye_code;
    char bye_reason[PX_WIRE_MAX_REASON * 4 + 1];
    char note[200];
};

static struct tally T;
static struct px_wire_msg *M; /* scratch: a wire message is large */

static int64_t
now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t
since(void)
{
    return now_ms() - T.t0;
}

static uint64_t
wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
note(const char *fmt, ...)
{
    va_list ap;

    if (T.note[0] != '\0') {
        return; /* the first note is the one that matters */
    }
    va_start(ap, fmt);
    vsnprintf(T.note, sizeof(T.note), fmt, ap);
    va_end(ap);
}

static void
usage(FILE *f)
{
    fprintf(f, "usage: praxis-hostile-peer --port PORT --server-key HEX [options] ATTACK\n"
               "  --host ADDR         127.0.0.0/8 or ::1 only (default 127.0.0.1)\n"
               "  --port PORT         the node's peer port\n"
               "  --server-key HEX    the node's public key (64 hex digits)\n"
               "  --network-key HEX   the network key (default: the main network)\n"
               "  --identity FILE     our node key (default: a fresh one)\n"
               "  --seed HEX          our node key from a 32-byte seed instead\n"
               "  --count N           how many (records, ids, connections...; per attack)\n"
               "  --seconds S         the longest the attack runs and waits (default 10)\n"
               "  --target ID         the record id foreign-retraction retracts\n"
               "  --want ID           an id want-flood and no-read ask for (repeatable)\n"
               "  --variant NAME      oversize: record|field; absurd-reconcile: valid\n"
               "  --unsolicited       send records without announcing them first\n"
               "attacks:\n");
    for (int a = 0; a < A_N; a++) {
        fprintf(f, "  %-19s %s (count %lu)\n", attacks[a].name, attacks[a].what, attacks[a].count);
    }
}

/* Only this machine: 127.0.0.0/8 or ::1. */
static int
parse_host(struct opts *o, const char *host, unsigned port)
{
    struct sockaddr_in *in = (struct sockaddr_in *)&o->addr;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&o->addr;

    memset(&o->addr, 0, sizeof(o->addr));
    if (inet_pton(AF_INET, host, &in->sin_addr) == 1) {
        if ((ntohl(in->sin_addr.s_addr) >> 24) != 127) {
            return -1;
        }
        in->sin_family = AF_INET;
        in->sin_port = htons((uint16_t)port);
        o->addrlen = sizeof(*in);
        return 0;
    }
    if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
        if (!IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr)) {
            return -1;
        }
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)port);
        o->addrlen = sizeof(*in6);
        return 0;
    }
    return -1;
}

static bool
parse_hex(const char *s, uint8_t *out, size_t n)
{
    return strlen(s) == 2 * n && px_hex_decode(s, 2 * n, out, n) == 0;
}

static bool
parse_ulong(const char *s, unsigned long *out)
{
    char *end;

    errno = 0;
    *out = strtoul(s, &end, 10);
    return errno == 0 && end != s && *end == '\0' && s[0] != '-';
}

/* ---- Records ---- */

struct rec {
    uint8_t *raw;
    size_t len;
    uint8_t id[PX_ID_BYTES];
    bool wanted;
};

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void
die(const char *fmt, ...)
{
    va_list ap;

    fputs("praxis-hostile-peer: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(1);
}

static void *
xmalloc(size_t n)
{
    void *p = malloc(n > 0 ? n : 1);

    if (p == NULL) {
        die("out of memory");
    }
    return p;
}

/* Signs a small valid case by `by`, with a unique title and, when body_len > 0, a body of
 * that many 'B's. */
static void
make_case(struct rec *r, const struct px_identity *by, uint64_t created, size_t body_len)
{
    struct px_record rec;
    char title[96], *body = NULL;
    uint8_t nonce[8], buf[PX_RECORD_MAX];
    char hex[17];
    const char *field = NULL;
    int rc;

    randombytes_buf(nonce, sizeof(nonce));
    px_hex_encode(nonce, sizeof(nonce), hex);
    snprintf(title, sizeof(title), "hostile junk %s", hex);
    px_record_init(&rec, PX_RECORD_CASE);
    rec.created = created;
    rec.cs.practice = PX_PRACTICE_BAD;
    rec.cs.title = (struct px_str){title, (uint32_t)strlen(title)};
    rec.cs.summary = (struct px_str){"junk", 4};
    rec.cs.language = (struct px_str){"en", 2};
    rec.cs.license = (struct px_str){"CC0-1.0", 7};
    if (body_len > 0) {
        body = xmalloc(body_len);
        memset(body, 'B', body_len);
        rec.cs.body = (struct px_str){body, (uint32_t)body_len};
    }
    if ((rc = px_record_sign(&rec, by, buf, sizeof(buf), &r->len, &field)) != 0) {
        die("cannot sign a case: %s (%s)", px_err_name(rc), field != NULL ? field : "-");
    }
    free(body);
    r->raw = xmalloc(r->len);
    memcpy(r->raw, buf, r->len);
    memcpy(r->id, rec.id, PX_ID_BYTES);
}

/* Signs r's bytes again with `by` (the signature is the last 66 bytes) and sets its id. */
static void
resign(struct rec *r, const struct px_identity *by)
{
    size_t signed_len = r->len - PX_RECORD_SIG_LEN;

    r->raw[signed_len] = 0xc4;
    r->raw[signed_len + 1] = 0x40;
    px_sign(by, r->raw, signed_len, r->raw + signed_len + 2);
    px_record_id_of(r->raw, signed_len, r->id);
}

/* Replaces bytes [at, at + old) of r by new[0..n). */
static void
replace_bytes(struct rec *r, size_t at, size_t old, const uint8_t *new, size_t n)
{
    uint8_t *raw = xmalloc(r->len - old + n);

    memcpy(raw, r->raw, at);
    memcpy(raw + at, new, n);
    memcpy(raw + at + n, r->raw + at + old, r->len - at - old);
    free(r->raw);
    r->raw = raw;
    r->len = r->len - old + n;
}

/* The body of a make_case(..., BIG_BODY) record becomes n 'B's (any n), re-signed. */
static void
grow_body(struct rec *r, const struct px_identity *by, size_t n)
{
    static const uint8_t hdr[3] = {0xda, BIG_BODY >> 8, BIG_BODY & 0xff};
    uint8_t *at = memmem(r->raw, r->len, hdr, sizeof(hdr));
    uint8_t *s;
    size_t h;

    if (at == NULL) {
        die("no body in the record");
    }
    s = xmalloc(5 + n);
    if (n <= 0xffff) {
        s[0] = 0xda;
        s[1] = (uint8_t)(n >> 8);
        s[2] = (uint8_t)n;
        h = 3;
    } else {
        s[0] = 0xdb;
        px_store_be32(s + 1, (uint32_t)n);
        h = 5;
    }
    memset(s + h, 'B', n);
    replace_bytes(r, (size_t)(at - r->raw), sizeof(hdr) + BIG_BODY, s, h + n);
    free(s);
    resign(r, by);
}

/* Builds the records of one record attack, count of them. */
static void
make_records(const struct opts *o, struct rec *rs, size_t count)
{
    uint64_t now = wall_ms();

    for (size_t i = 0; i < count; i++) {
        struct rec *r = &rs[i];

        memset(r, 0, sizeof(*r));
        switch (o->attack) {
        case A_FORGED_SIG:
            /* Claims the node as its author; the signature is ours, over our own key. */
            make_case(r, &o->me, now, 0);
            if (r->raw[3] != 0xc4 || r->raw[4] != PX_SIGN_PUBLICKEYBYTES) {
                die("unexpected record layout");
            }
            memcpy(r->raw + 5, o->server, PX_SIGN_PUBLICKEYBYTES);
            px_record_id_of(r->raw, r->len - PX_RECORD_SIG_LEN, r->id);
            break;
        case A_NON_CANONICAL: {
            /* The version, 1, as a uint8 (cc 01) instead of a fixint: one more byte. */
            static const uint8_t v[2] = {0xcc, 0x01};

            make_case(r, &o->me, now, 0);
            replace_bytes(r, 1, 1, v, sizeof(v));
            resign(r, &o->me);
            break;
        }
        case A_OVERSIZE:
            make_case(r, &o->me, now, BIG_BODY);
            grow_body(r, &o->me,
                      o->variant != NULL && strcmp(o->variant, "field") == 0 ? BIG_BODY + 1
                                                                             : OVER_RECORD);
            break;
        case A_FUTURE:
            make_case(r, &o->me, now + 24 * 3600 * 1000, 0);
            break;
        case A_FOREIGN_RETRACTION: {
            struct px_record rec;
            uint8_t buf[1024];
            char reason[64];

            px_record_init(&rec, PX_RECORD_RETRACTION);
            rec.created = now + i; /* distinct ids */
            memcpy(rec.rt.target, o->target, PX_ID_BYTES);
            snprintf(reason, sizeof(reason), "retracted by a stranger %zu", i);
            rec.rt.reason = (struct px_str){reason, (uint32_t)strlen(reason)};
            if (px_record_sign(&rec, &o->me, buf, sizeof(buf), &r->len, NULL) != 0) {
                die("cannot sign a retraction");
            }
            r->raw = xmalloc(r->len);
            memcpy(r->raw, buf, r->len);
            memcpy(r->id, rec.id, PX_ID_BYTES);
            break;
        }
        case A_JUNK_AUTHORS: {
            struct px_identity junk;

            if (px_identity_generate(&junk) != 0) {
                die("cannot make a key");
            }
            make_case(r, &junk, now, 0);
            px_identity_wipe(&junk);
            break;
        }
        default:
            die("not a record attack");
        }
    }
}

static void
free_records(struct rec *rs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(rs[i].raw);
    }
    free(rs);
}

/* ---- The link ---- */

static void
hello(struct px_wire_msg *msg)
{
    memset(msg, 0, sizeof(*msg));
    msg->type = PX_WIRE_HELLO;
    msg->version = PX_WIRE_VERSION;
    msg->name = (struct px_str){"hostile", 7};
}

/* Sends a message and counts it; a write that fails means the node is gone or stuck. */
static int
send_msg(struct px_rawpeer *rp, const struct px_wire_msg *msg)
{
    if (px_rawpeer_write_msg(rp, msg) != 0) {
        note("%s", rp->err);
        return -1;
    }
    T.msgs++;
    return 0;
}

static void
gone(void)
{
    if (!T.disconnected) {
        T.disconnected = true;
        T.disc_ms = since();
    }
}

/* wants: the ids of one round, each wanted flag set when the node asks for it. */
struct round {
    struct rec *rs;
    size_t n;
    size_t wanted;
};

/*
 * Handles one message from the node: answers pings, notes the bye, counts wants (marking
 * them in r when given) and records.
 */
static void
handle(struct px_rawpeer *rp, struct px_wire_msg *msg, struct round *r)
{
    T.received++;
    switch (msg->type) {
    case PX_WIRE_PING:
        msg->type = PX_WIRE_PONG;
        px_rawpeer_write_msg(rp, msg);
        break;
    case PX_WIRE_BYE:
        T.bye = true;
        T.bye_code = msg->code;
        T.bye_reason[0] = '\0';
        for (uint32_t i = 0, k = 0; i < msg->reason.len && k + 4 < sizeof(T.bye_reason); i++) {
            unsigned char c = (unsigned char)msg->reason.p[i];

            if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
                T.bye_reason[k++] = (char)c;
            } else {
                k += (uint32_t)snprintf(T.bye_reason + k, sizeof(T.bye_reason) - k, "\\x%02x", c);
            }
            T.bye_reason[k] = '\0';
        }
        break;
    case PX_WIRE_WANT:
        T.wanted += msg->n_ids;
        for (uint32_t i = 0; r != NULL && i < msg->n_ids; i++) {
            for (size_t j = 0; j < r->n; j++) {
                if (!r->rs[j].wanted && memcmp(r->rs[j].id, msg->ids[i], PX_ID_BYTES) == 0) {
                    r->rs[j].wanted = true;
                    r->wanted++;
                    break;
                }
            }
        }
        break;
    case PX_WIRE_RECORDS:
        T.records_in += msg->n_records;
        break;
    default:
        break;
    }
}

/*
 * Reads what the node sends for up to ms (0: only what is already there), handling each
 * message; stops early when stop(r) says so. Returns -1 once the node has gone.
 */
static int
drain(struct px_rawpeer *rp, int ms, struct round *r, bool (*stop)(const struct round *))
{
    int64_t deadline = now_ms() + ms;

    for (;;) {
        int64_t left = deadline - now_ms();
        int rc = px_rawpeer_read_msg(rp, M, left > 0 ? (int)left : 0);

        if (rc == 1 || rc == -1) {
            if (rc == -1) {
                note("%s", rp->err);
            }
            gone();
            return -1;
        }
        if (rc == -2) {
            return 0;
        }
        handle(rp, M, r);
        if (stop != NULL && stop(r)) {
            return 0;
        }
    }
}

/* Connects, shakes hands and exchanges hellos. -1: refused or failed (noted). */
static int
link_up(const struct opts *o, struct px_rawpeer *rp)
{
    int64_t deadline;

    T.conns++;
    if (px_rawpeer_open(rp, o->netkey, &o->me, o->server, &o->addr, o->addrlen, HS_TIMEOUT_MS) !=
        0) {
        T.refused = true;
        note("handshake: %s", rp->err);
        return -1;
    }
    hello(M);
    if (send_msg(rp, M) != 0) {
        return -1;
    }
    deadline = now_ms() + HS_TIMEOUT_MS;
    for (;;) {
        int64_t left = deadline - now_ms();
        int rc = px_rawpeer_read_msg(rp, M, left > 0 ? (int)left : 0);

        if (rc != 0) {
            note("no hello from the node: %s", rc == -2 ? "timeout" : rp->err);
            if (rc != -2) {
                gone();
            }
            return -1;
        }
        T.received++;
        if (M->type == PX_WIRE_HELLO) {
            return 0;
        }
        handle(rp, M, NULL);
    }
}

/* Waits until the node disconnects us or the deadline passes, answering its pings. */
static void
wait_end(struct px_rawpeer *rp, int64_t deadline)
{
    while (!T.disconnected && now_ms() < deadline) {
        drain(rp, (int)(deadline - now_ms()), NULL, NULL);
    }
}

/* ---- Record attacks ---- */

static bool
all_wanted(const struct round *r)
{
    return r->wanted == r->n;
}

/* One records message of rs[i] for each chosen i, hand-encoded: a record over
 * PX_RECORD_MAX is more than px_wire_encode will write. */
static int
send_records(struct px_rawpeer *rp, struct rec *const *rs, size_t n)
{
    size_t body = 3, off;
    uint8_t *m;
    int rc;

    for (size_t i = 0; i < n; i++) {
        body += 5 + rs[i]->len;
    }
    m = xmalloc(4 + body);
    off = 4;
    m[off++] = 0x92;
    m[off++] = PX_WIRE_RECORDS;
    if (n <= 15) {
        m[off++] = (uint8_t)(0x90 | n);
    } else {
        m[off++] = 0xdc;
        m[off++] = (uint8_t)(n >> 8);
        m[off++] = (uint8_t)n;
    }
    for (size_t i = 0; i < n; i++) {
        size_t len = rs[i]->len;

        if (len <= 0xff) {
            m[off++] = 0xc4;
            m[off++] = (uint8_t)len;
        } else if (len <= 0xffff) {
            m[off++] = 0xc5;
            m[off++] = (uint8_t)(len >> 8);
            m[off++] = (uint8_t)len;
        } else {
            m[off++] = 0xc6;
            px_store_be32(m + off, (uint32_t)len);
            off += 4;
        }
        memcpy(m + off, rs[i]->raw, len);
        off += len;
    }
    px_store_be32(m, (uint32_t)(off - 4));
    rc = px_rawpeer_write_plain(rp, m, off);
    free(m);
    if (rc != 0) {
        note("%s", rp->err);
        return -1;
    }
    T.msgs++;
    T.records += n;
    T.bytes += off;
    return 0;
}

/* Sends the chosen records of a round in messages within the wire caps. */
static int
send_round(struct px_rawpeer *rp, struct round *r, bool all)
{
    struct rec **batch = xmalloc(PX_WIRE_MAX_RECORDS * sizeof(*batch));
    size_t k = 0, bytes = 0;
    int rc = 0;

    for (size_t i = 0; i < r->n && rc == 0; i++) {
        struct rec *x = &r->rs[i];

        if (!all && !x->wanted) {
            continue;
        }
        if (k > 0 && (k == PX_WIRE_MAX_RECORDS || bytes + x->len + 5 > RECORDS_MAX_MSG)) {
            rc = send_records(rp, batch, k);
            k = bytes = 0;
        }
        batch[k++] = x;
        bytes += x->len + 5;
    }
    if (rc == 0 && k > 0) {
        rc = send_records(rp, batch, k);
    }
    free(batch);
    return rc;
}

/* Announces the round's ids and collects the node's wants for them. */
static int
announce_round(struct px_rawpeer *rp, struct round *r)
{
    memset(M, 0, sizeof(*M));
    M->type = PX_WIRE_ANNOUNCE;
    M->n_ids = (uint32_t)r->n;
    for (size_t i = 0; i < r->n; i++) {
        M->ids[i] = r->rs[i].id;
    }
    if (send_msg(rp, M) != 0) {
        return -1;
    }
    T.ids += r->n;
    if (drain(rp, WANT_WAIT_MS, r, all_wanted) != 0) {
        return -1;
    }
    /* Wants may come in pieces (the node's pending cap): a little longer for the rest. */
    while (r->wanted > 0 && !all_wanted(r)) {
        size_t before = r->wanted;

        if (drain(rp, WANT_QUIET_MS, r, all_wanted) != 0) {
            return -1;
        }
        if (r->wanted == before) {
            break;
        }
    }
    return 0;
}

static void
attack_records(const struct opts *o, int64_t deadline)
{
    struct px_rawpeer rp;
    size_t done = 0;

    if (link_up(o, &rp) != 0) {
        px_rawpeer_close(&rp);
        return;
    }
    while (done < o->count && !T.disconnected && now_ms() < deadline) {
        size_t n = o->count - done > ROUND_IDS ? ROUND_IDS : o->count - done;
        struct round r = {xmalloc(n * sizeof(struct rec)), n, 0};

        make_records(o, r.rs, n);
        if (o->unsolicited || announce_round(&rp, &r) == 0) {
            if (o->unsolicited || r.wanted > 0) {
                send_round(&rp, &r, o->unsolicited);
            } else if (!T.disconnected) {
                note("the node wanted none of %zu announced ids", n);
            }
        }
        free_records(r.rs, n);
        done += n;
        drain(&rp, 0, NULL, NULL);
    }
    /* junk-authors is not expected to be dropped: a short wait for late replies only. */
    if (o->attack == A_JUNK_AUTHORS && deadline > now_ms() + 1000) {
        deadline = now_ms() + 1000;
    }
    wait_end(&rp, deadline);
    px_rawpeer_close(&rp);
}

/* ---- Floods ---- */

static void
attack_id_flood(const struct opts *o, int64_t deadline)
{
    struct px_rawpeer rp;
    uint8_t *ids = xmalloc((size_t)PX_WIRE_MAX_IDS * PX_ID_BYTES);
    unsigned long sent = 0;

    if (link_up(o, &rp) != 0) {
        px_rawpeer_close(&rp);
        free(ids);
        return;
    }
    while (sent < o->count && !T.disconnected && now_ms() < deadline) {
        size_t n = o->count - sent > PX_WIRE_MAX_IDS ? PX_WIRE_MAX_IDS : o->count - sent;

        memset(M, 0, sizeof(*M));
        M->type = o->attack == A_ANNOUNCE_FLOOD ? PX_WIRE_ANNOUNCE : PX_WIRE_WANT;
        for (size_t i = 0; i < n; i++) {
            uint8_t *id = ids + i * PX_ID_BYTES;

            if (o->n_want > 0) {
                memcpy(id, o->want[(sent + i) % o->n_want], PX_ID_BYTES);
            } else {
                randombytes_buf(id, PX_ID_BYTES);
            }
            M->ids[i] = id;
        }
        M->n_ids = (uint32_t)n;
        if (send_msg(&rp, M) != 0) {
            drain(&rp, 1000, NULL, NULL);
            break;
        }
        sent += n;
        T.ids += n;
        drain(&rp, 0, NULL, NULL);
    }
    wait_end(&rp, deadline);
    px_rawpeer_close(&rp);
    free(ids);
}

/* Appends a negentropy varint (base 128, most significant digit first). */
static size_t
varint(uint8_t *out, uint64_t v)
{
    uint8_t tmp[10];
    size_t n = 0;

    do {
        tmp[n++] = (uint8_t)(v & 0x7f);
        v >>= 7;
    } while (v != 0);
    for (size_t i = 0; i < n; i++) {
        out[i] = (uint8_t)(tmp[n - 1 - i] | (i + 1 < n ? 0x80 : 0));
    }
    return n;
}

/*
 * A valid negentropy message of absurd ranges: thousands of Fingerprint ranges of random
 * fingerprints, 2^40 ms apart (tens of years each), then an empty IdList up to infinity.
 */
static size_t
absurd_message(uint8_t *m, size_t cap)
{
    size_t off = 0;

    m[off++] = PX_NEGENTROPY_VERSION;
    while (off + 64 < cap) {
        off += varint(m + off, (UINT64_C(1) << 40) + 1); /* delta + 1 */
        m[off++] = 0;                                    /* no id prefix */
        m[off++] = 1;                                    /* Fingerprint */
        randombytes_buf(m + off, PX_NEGENTROPY_FINGERPRINT_SIZE);
        off += PX_NEGENTROPY_FINGERPRINT_SIZE;
    }
    m[off++] = 0; /* infinity */
    m[off++] = 0;
    m[off++] = 2; /* IdList */
    m[off++] = 0; /* of no ids */
    return off;
}

/* An invalid one: the second bound is below the first (same time, smaller id prefix). */
static size_t
decreasing_message(uint8_t *m)
{
    static const uint8_t bad[] = {PX_NEGENTROPY_VERSION, 0x87, 0x69, 1, 0x80, 0, 1, 1, 0x10, 0};

    memcpy(m, bad, sizeof(bad));
    return sizeof(bad);
}

static void
attack_reconcile(const struct opts *o, int64_t deadline)
{
    struct px_rawpeer rp;
    size_t cap = PX_WIRE_MAX_RECONCILE - 16;
    uint8_t *m = xmalloc(cap);
    bool valid_only = o->variant != NULL && strcmp(o->variant, "valid") == 0;

    if (link_up(o, &rp) != 0) {
        px_rawpeer_close(&rp);
        free(m);
        return;
    }
    for (unsigned long i = 0; i < o->count && !T.disconnected && now_ms() < deadline; i++) {
        uint64_t before = T.received;

        memset(M, 0, sizeof(*M));
        M->type = PX_WIRE_RECONCILE;
        M->neg = m;
        M->neg_len = absurd_message(m, cap);
        if (send_msg(&rp, M) != 0) {
            break;
        }
        T.bytes += M->neg_len;
        /* The node's reply (a reconcile message) before the next one. */
        while (T.received == before && !T.disconnected && now_ms() < deadline) {
            drain(&rp, 200, NULL, NULL);
        }
    }
    if (!valid_only && !T.disconnected) {
        memset(M, 0, sizeof(*M));
        M->type = PX_WIRE_RECONCILE;
        M->neg = m;
        M->neg_len = decreasing_message(m);
        send_msg(&rp, M);
    }
    wait_end(&rp, valid_only ? now_ms() + 500 : deadline);
    px_rawpeer_close(&rp);
    free(m);
}

/* ---- Slow attacks ---- */

static int
tcp_open(const struct opts *o, bool nonblock)
{
    int fd =
        socket(o->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0), 0);

    if (fd < 0) {
        die("socket: %s", strerror(errno));
    }
    if (connect(fd, (const struct sockaddr *)&o->addr, (socklen_t)o->addrlen) != 0 &&
        !(nonblock && errno == EINPROGRESS)) {
        note("connect: %s", strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

/*
 * Waits until each fds[i] is closed by the node (EOF or a reset, any bytes before it
 * read and dropped) or the deadline; counts them and notes the times.
 */
static void
wait_closed(int *fds, size_t n, int64_t deadline)
{
    size_t open = 0;

    for (size_t i = 0; i < n; i++) {
        open += fds[i] >= 0;
    }
    while (open > 0 && now_ms() < deadline) {
        struct pollfd *p = xmalloc(n * sizeof(*p));
        int k;

        for (size_t i = 0; i < n; i++) {
            p[i] = (struct pollfd){fds[i], POLLIN, 0};
        }
        k = poll(p, n, (int)(deadline - now_ms()));
        for (size_t i = 0; k > 0 && i < n; i++) {
            uint8_t buf[4096];
            ssize_t r;

            if (fds[i] < 0 || p[i].revents == 0) {
                continue;
            }
            r = recv(fds[i], buf, sizeof(buf), MSG_DONTWAIT);
            if (r > 0 || (r < 0 && (errno == EAGAIN || errno == EINTR))) {
                continue;
            }
            close(fds[i]);
            fds[i] = -1;
            open--;
            T.closed++;
            T.last_close_ms = since();
            if (T.first_close_ms < 0) {
                T.first_close_ms = T.last_close_ms;
            }
        }
        free(p);
    }
    for (size_t i = 0; i < n; i++) {
        if (fds[i] >= 0) {
            close(fds[i]);
        }
    }
    if (T.closed == T.conns && T.conns > 0) {
        T.disconnected = true;
        T.disc_ms = T.last_close_ms;
    }
}

static void
attack_stall(const struct opts *o, int64_t deadline)
{
    int *fds = xmalloc(o->count * sizeof(int));
    uint8_t half[PX_SHS_MSG1_BYTES / 2];

    randombytes_buf(half, sizeof(half));
    for (unsigned long i = 0; i < o->count; i++) {
        if ((fds[i] = tcp_open(o, false)) >= 0) {
            T.conns++;
            /* The node reads exactly msg1's 64 bytes: it gets 32 and waits. */
            if (send(fds[i], half, sizeof(half), MSG_NOSIGNAL) == (ssize_t)sizeof(half)) {
                T.bytes += sizeof(half);
            }
        }
    }
    wait_closed(fds, o->count, deadline);
    free(fds);
}

static void
attack_half_open(const struct opts *o, int64_t deadline)
{
    struct px_rawpeer *rps = xmalloc(o->count * sizeof(*rps));
    int *fds = xmalloc(o->count * sizeof(int));

    for (unsigned long i = 0; i < o->count; i++) {
        fds[i] = -1;
        if (link_up(o, &rps[i]) == 0) {
            /* Half-closed: our side says it is done sending, and reads nothing more. */
            shutdown(rps[i].fd, SHUT_WR);
            fds[i] = rps[i].fd;
            rps[i].fd = -1;
        } else {
            T.conns--;
        }
        px_rawpeer_close(&rps[i]);
    }
    T.disconnected = false;
    wait_closed(fds, o->count, deadline);
    free(fds);
    free(rps);
}

static void
attack_no_read(const struct opts *o, int64_t deadline)
{
    struct px_rawpeer rp;
    uint8_t *ids = xmalloc((size_t)PX_WIRE_MAX_IDS * PX_ID_BYTES);
    int64_t drain_until;

    if (o->n_want == 0) {
        die("no-read needs --want ID (records the node holds)");
    }
    if (link_up(o, &rp) != 0) {
        px_rawpeer_close(&rp);
        free(ids);
        return;
    }
    rp.write_timeout_ms = 200;
    for (size_t i = 0; i < PX_WIRE_MAX_IDS; i++) {
        memcpy(ids + i * PX_ID_BYTES, o->want[i % o->n_want], PX_ID_BYTES);
    }
    for (unsigned long i = 0; i < o->count && now_ms() < deadline; i++) {
        memset(M, 0, sizeof(*M));
        M->type = PX_WIRE_WANT;
        M->n_ids = PX_WIRE_MAX_IDS;
        for (size_t k = 0; k < PX_WIRE_MAX_IDS; k++) {
            M->ids[k] = ids + k * PX_ID_BYTES;
        }
        if (send_msg(&rp, M) != 0) {
            break; /* the node stopped reading us: that is its backpressure */
        }
        T.ids += PX_WIRE_MAX_IDS;
    }
    /* Hold the connection without reading a byte until the deadline, then see what came. */
    while (now_ms() < deadline) {
        poll(NULL, 0, (int)(deadline - now_ms()));
    }
    rp.ended = false;
    drain_until = now_ms() + 10000;
    while (!T.disconnected && now_ms() < drain_until) {
        int rc = px_rawpeer_read_msg(&rp, M, (int)(drain_until - now_ms()));

        if (rc != 0) {
            if (rc != -2) {
                gone(); /* the end of the stream, or a reset */
            }
            break;
        }
        T.received++;
        if (M->type == PX_WIRE_RECORDS) {
            T.records_in += M->n_records;
        } else if (M->type != PX_WIRE_PING) {
            handle(&rp, M, NULL);
        }
    }
    /* The end was seen only now: when it happened is the node's log's business. */
    T.disc_ms = -1;
    px_rawpeer_close(&rp);
    free(ids);
}

static void
attack_connect_flood(const struct opts *o, int64_t deadline)
{
    struct linger lg = {1, 0};
    unsigned long unanswered = 0;

    for (unsigned long i = 0; i < o->count && now_ms() < deadline; i++) {
        int fd = tcp_open(o, true);
        struct pollfd p;

        if (fd < 0) {
            continue;
        }
        T.conns++;
        p = (struct pollfd){fd, POLLOUT, 0};
        if (poll(&p, 1, 200) <= 0) {
            unanswered++; /* the backlog is full: the kernel drops our SYN */
        }
        /* A reset at once: no TIME_WAIT on our side, and the node reads ECONNRESET. */
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
        close(fd);
    }
    if (unanswered > 0) {
        note("%lu connections not answered within 200 ms", unanswered);
    }
}

/* ---- Main ---- */

static void
summary(const struct opts *o)
{
    char key[2 * PX_SIGN_PUBLICKEYBYTES + 1];

    px_hex_encode(o->me.pk, PX_SIGN_PUBLICKEYBYTES, key);
    printf("hostile %s: key=%.16s elapsed_ms=%lld sent_msgs=%llu sent_records=%llu "
           "sent_ids=%llu sent_bytes=%llu wanted=%llu received_msgs=%llu records_in=%llu "
           "conns=%llu closed=%llu first_close_ms=%lld last_close_ms=%lld handshake=%s "
           "disconnected=%s after_ms=%lld bye=%s bye_reason=\"%s\" note=\"%s\"\n",
           attacks[o->attack].name, key, (long long)since(), (unsigned long long)T.msgs,
           (unsigned long long)T.records, (unsigned long long)T.ids, (unsigned long long)T.bytes,
           (unsigned long long)T.wanted, (unsigned long long)T.received,
           (unsigned long long)T.records_in, (unsigned long long)T.conns,
           (unsigned long long)T.closed, (long long)T.first_close_ms, (long long)T.last_close_ms,
           T.refused ? "refused" : "ok", T.disconnected ? "yes" : "no",
           (long long)(T.disconnected ? T.disc_ms : -1), T.bye ? px_err_name(T.bye_code) : "none",
           T.bye_reason, T.note);
    fflush(stdout);
}

int
main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"host", required_argument, NULL, 'H'},
        {"port", required_argument, NULL, 'p'},
        {"server-key", required_argument, NULL, 'k'},
        {"network-key", required_argument, NULL, 'N'},
        {"identity", required_argument, NULL, 'i'},
        {"seed", required_argument, NULL, 'S'},
        {"count", required_argument, NULL, 'n'},
        {"seconds", required_argument, NULL, 't'},
        {"target", required_argument, NULL, 'T'},
        {"want", required_argument, NULL, 'w'},
        {"variant", required_argument, NULL, 'v'},
        {"unsolicited", no_argument, NULL, 'u'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    static struct opts o;
    const char *host = "127.0.0.1", *ident = NULL, *seed = NULL;
    unsigned long port = 0;
    bool has_count = false;
    int64_t deadline;
    int c, a;

    o.seconds = 10;
    if (px_crypto_init() != 0) {
        die("cannot initialise libsodium");
    }
    if (px_hex_decode(PX_CONFIG_MAIN_NETWORK_KEY_HEX, 2 * PX_SHS_NETKEY_BYTES, o.netkey,
                      sizeof(o.netkey)) != 0) {
        die("bad built-in network key");
    }
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        bool ok = true;

        switch (c) {
        case 'H':
            host = optarg;
            break;
        case 'p':
            ok = parse_ulong(optarg, &port) && port > 0 && port < 65536;
            break;
        case 'k':
            ok = o.has_server = parse_hex(optarg, o.server, sizeof(o.server));
            break;
        case 'N':
            ok = parse_hex(optarg, o.netkey, sizeof(o.netkey));
            break;
        case 'i':
            ident = optarg;
            break;
        case 'S':
            seed = optarg;
            break;
        case 'n':
            ok = has_count = parse_ulong(optarg, &o.count) && o.count > 0;
            break;
        case 't':
            ok = parse_ulong(optarg, &o.seconds) && o.seconds > 0 && o.seconds <= 3600;
            break;
        case 'T':
            ok = o.has_target = parse_hex(optarg, o.target, sizeof(o.target));
            break;
        case 'w':
            ok = o.n_want < MAX_WANT_IDS && parse_hex(optarg, o.want[o.n_want], PX_ID_BYTES);
            o.n_want += ok;
            break;
        case 'v':
            o.variant = optarg;
            break;
        case 'u':
            o.unsolicited = true;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
        if (!ok) {
            fprintf(stderr, "praxis-hostile-peer: bad value: %s\n", optarg);
            return 2;
        }
    }
    if (optind != argc - 1 || port == 0) {
        usage(stderr);
        return 2;
    }
    for (a = 0; a < A_N && strcmp(argv[optind], attacks[a].name) != 0; a++) {
    }
    if (a == A_N) {
        fprintf(stderr, "praxis-hostile-peer: unknown attack %s\n", argv[optind]);
        usage(stderr);
        return 2;
    }
    o.attack = (enum attack)a;
    if (parse_host(&o, host, (unsigned)port) != 0) {
        fprintf(stderr, "praxis-hostile-peer: refusing %s: only 127.0.0.0/8 or ::1\n", host);
        return 2;
    }
    if (!has_count) {
        o.count = attacks[a].count;
    }
    if (a != A_STALL_HANDSHAKE && a != A_CONNECT_FLOOD && !o.has_server) {
        fprintf(stderr, "praxis-hostile-peer: %s needs --server-key\n", attacks[a].name);
        return 2;
    }
    if (a == A_FOREIGN_RETRACTION && !o.has_target) {
        fprintf(stderr, "praxis-hostile-peer: foreign-retraction needs --target ID\n");
        return 2;
    }
    if (o.count > 100000000 || ((a == A_STALL_HANDSHAKE || a == A_HALF_OPEN) && o.count > 1000)) {
        fprintf(stderr, "praxis-hostile-peer: --count %lu is too many for %s\n", o.count,
                attacks[a].name);
        return 2;
    }
    if (ident != NULL) {
        int rc = px_identity_load(ident, &o.me);

        if (rc != 0) {
            die("cannot load %s: %s", ident, px_strerror(rc));
        }
    } else if (seed != NULL) {
        uint8_t s[PX_SIGN_SEEDBYTES];

        if (!parse_hex(seed, s, sizeof(s)) || px_identity_from_seed(&o.me, s) != 0) {
            fprintf(stderr, "praxis-hostile-peer: bad --seed\n");
            return 2;
        }
        sodium_memzero(s, sizeof(s));
    } else if (px_identity_generate(&o.me) != 0) {
        die("cannot make a key");
    }
    if ((M = calloc(1, sizeof(*M))) == NULL) {
        die("out of memory");
    }
    T.t0 = now_ms();
    T.first_close_ms = T.last_close_ms = -1;
    deadline = T.t0 + (int64_t)o.seconds * 1000;
    switch (o.attack) {
    case A_FORGED_SIG:
    case A_NON_CANONICAL:
    case A_OVERSIZE:
    case A_FUTURE:
    case A_FOREIGN_RETRACTION:
    case A_JUNK_AUTHORS:
        attack_records(&o, deadline);
        break;
    case A_ANNOUNCE_FLOOD:
    case A_WANT_FLOOD:
        attack_id_flood(&o, deadline);
        break;
    case A_ABSURD_RECONCILE:
        attack_reconcile(&o, deadline);
        break;
    case A_STALL_HANDSHAKE:
        attack_stall(&o, deadline);
        break;
    case A_NO_READ:
        attack_no_read(&o, deadline);
        break;
    case A_HALF_OPEN:
        attack_half_open(&o, deadline);
        break;
    case A_CONNECT_FLOOD:
        attack_connect_flood(&o, deadline);
        break;
    default:
        break;
    }
    summary(&o);
    px_identity_wipe(&o.me);
    free(M);
    return T.refused && T.conns <= 1 ? 3 : 0;
}
