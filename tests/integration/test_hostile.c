/* SPDX-License-Identifier: MIT */
/*
 * test_hostile.c - praxis-hostile-peer (tests/tools/hostile_peer.c) against a small network
 * of honest praxisd nodes on 127.0.0.1: A, the node under attack, and B, its honest peer.
 * The attacker is a member: it holds the network key and a node key A accepts
 * (accept_unknown_peers = yes; its key is even an accepted author where that matters).
 * For every attack docs/security.md lists, the tests check that
 *
 *  - A disconnects the attacker where the design says so, with its reason in the bye, and
 *    logs one line per cause (not one per record or per message);
 *  - A stores nothing the attacker sent (record counts; a full-text query for the word
 *    every junk title has);
 *  - A and B still replicate both ways and answer queries, during or right after it;
 *  - A's resident memory stays within baseline + RSS_BOUND_MB (sampled every 100 ms while
 *    the attack runs);
 *  - an attacker dropped for invalid records, a quota or a bad reconcile message is kept
 *    away: the same key reconnecting at once is refused after msg3 (one dropped for a
 *    message that does not decode is not, see let_back, until its third such message
 *    within 10 minutes).
 *
 * Small limits make it quick: handshake_timeout 2 s, idle_timeout 5 s, max_handshakes 4,
 * quota_messages 100 per 60 s, sync_interval 5 s. Every wait polls against a deadline.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <jansson.h>

#include "common/identity.h"
#include "protocol/buf.h"
#include "protocol/sign.h"
#include "util/daemon_util.h"
#include "util/testnode.h"

#define WAIT_MS 20000
#define N_EVIL  10
#define TOOL_MS 60000 /* the longest a tool run may take, its own --seconds included */
/*
 * The bound on A's growth in resident memory during an attack. What a single peer can
 * make A hold at once, from the limits in peer.c and gossip.c: 32 records batches being
 * checked (LINK_MAX_CHECKS, each at most one 1 MiB message copied), one message buffer
 * (1 MiB), unsent output (4 MiB before A stops reading it, plus one 4 MiB fetch), its
 * queued wants (8192 ids, 256 KiB), its share of the want table (65536 entries of about
 * 64 bytes) and SQLite's page cache: about 48 MiB in the worst case. 64 MiB leaves room
 * for allocator slack. Under AddressSanitizer, freed memory sits in a quarantine (256 MiB
 * by default) before reuse, so the bound is raised by that much.
 */
#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif
#ifdef UNDER_ASAN
#define RSS_BOUND_MB (64 + 256)
#else
#define RSS_BOUND_MB 64
#endif

static char *tmp;

static void
setup(void)
{
    unsetenv("PRAXIS_SOCKET");
    tmp = px_test_tmpdir();
}

static void
teardown(void)
{
    px_test_rmtree(tmp);
    free(tmp);
}

TestSuite(hostile, .init = setup, .fini = teardown, .timeout = 150);

struct evil {
    struct px_identity id;
    char key[65];
    char seed[65];
};

struct net {
    struct px_testnode a, b;
    struct evil evil[N_EVIL];
    size_t next_evil;
    long rss_base_kb; /* A's VmRSS once the network is up */
    long rss_max_kb;  /* the most seen during attacks */
};

/* What the tool reported: its summary line, parsed. */
struct outcome {
    char *line;
    bool disconnected, refused;
    unsigned long long sent_records, sent_ids, wanted, received, conns, closed;
    long long after_ms, last_close_ms;
    char bye[32];
    char bye_reason[1100];
};

static long
rss_kb(const struct px_testnode *n)
{
    char path[64], *text, *at;
    long kb = -1;

    snprintf(path, sizeof(path), "/proc/%d/status", (int)n->d.pid);
    text = (char *)px_test_read_file(path, NULL);
    cr_assert_not_null(text, "cannot read %s", path);
    if ((at = strstr(text, "VmRSS:")) != NULL) {
        kb = strtol(at + 6, NULL, 10);
    }
    free(text);
    cr_assert_gt(kb, 0);
    return kb;
}

static int
log_lines(const struct px_testnode *n)
{
    char *log = px_testd_log(&n->d);
    int count = 0;

    for (char *p = log; *p != '\0'; p++) {
        count += *p == '\n';
    }
    free(log);
    return count;
}

static bool
has_record(const struct px_testnode *n, const char *id)
{
    struct px_run r;
    bool found;

    px_testd_praxis(&n->d, &r, NULL, 0, "get", "--json", id, NULL);
    found = r.status == 0;
    px_run_free(&r);
    return found;
}

static void
wait_record(const struct px_testnode *n, const char *id)
{
    int64_t deadline = px_testd_now_ms() + WAIT_MS;

    while (px_testd_now_ms() < deadline) {
        if (has_record(n, id)) {
            return;
        }
        px_testd_poll_pause();
    }
    cr_assert_fail("node %s never got record %.16s", n->dir, id);
}

/* Results of `praxis query --json --text WORDS`. */
static int
query_count(const struct px_testnode *n, const char *words)
{
    struct px_run r;
    int count = 0;

    px_testd_praxis(&n->d, &r, NULL, 0, "query", "--json", "--text", words, NULL);
    cr_assert_eq(r.status, 0, "query: %s", r.err);
    for (char *p = r.out; *p != '\0'; p++) {
        count += *p == '\n';
    }
    px_run_free(&r);
    return count;
}

/*
 * Starts B, then A (the target), linked to each other; A accepts unknown peers, and as
 * authors itself, B and the attacker keys (the junk-authors keys are fresh, so never).
 */
static void
net_start(struct net *n)
{
    char *ca, *cb, *authors = NULL;
    size_t len = 0;
    FILE *f;

    memset(n, 0, sizeof(*n));
    cr_assert_eq(px_crypto_init(), 0);
    px_testnode_init(&n->a, tmp, "a", px_test_free_port);
    px_testnode_init(&n->b, tmp, "b", px_test_free_port);
    f = open_memstream(&authors, &len);
    cr_assert_not_null(f);
    fprintf(f, "accept_authors = %s,\n    %s", n->a.key, n->b.key);
    for (size_t i = 0; i < N_EVIL; i++) {
        uint8_t seed[PX_SIGN_SEEDBYTES];

        cr_assert_eq(px_identity_generate(&n->evil[i].id), 0);
        px_identity_seed(&n->evil[i].id, seed);
        px_hex_encode(seed, sizeof(seed), n->evil[i].seed);
        px_hex_encode(n->evil[i].id.pk, PX_SIGN_PUBLICKEYBYTES, n->evil[i].key);
        fprintf(f, ",\n    %s", n->evil[i].key);
    }
    cr_assert_eq(fclose(f), 0);
    cr_assert(asprintf(&ca,
                       "[policy]\n%s\nmax_clock_skew = 60\n[network]\naccept_unknown_peers = yes\n"
                       "peer = 127.0.0.1:%u %s\nhandshake_timeout = 2\nidle_timeout = 5\n"
                       "max_handshakes = 4\nquota_messages = 100\nsync_interval = 5\n",
                       authors, n->b.port, n->b.key) > 0);
    cr_assert(asprintf(&cb, "[network]\npeer = 127.0.0.1:%u %s\nsync_interval = 5\n", n->a.port,
                       n->a.key) > 0);
    px_testnode_start(&n->b, cb);
    px_testnode_start(&n->a, ca);
    px_testnode_wait_peers(&n->a, n->b.key, "established", 1, 1, WAIT_MS);
    px_testnode_wait_peers(&n->b, n->a.key, "established", 1, 1, WAIT_MS);
    n->rss_base_kb = n->rss_max_kb = rss_kb(&n->a);
    free(authors);
    free(ca);
    free(cb);
}

static void
net_free(struct net *n)
{
    px_testnode_free(&n->a);
    px_testnode_free(&n->b);
    for (size_t i = 0; i < N_EVIL; i++) {
        px_identity_wipe(&n->evil[i].id);
    }
}

static const struct evil *
next_evil(struct net *n)
{
    cr_assert_lt(n->next_evil, N_EVIL);
    return &n->evil[n->next_evil++];
}

static void
parse_outcome(struct outcome *o, char *line)
{
    const char *at;

    memset(o, 0, sizeof(*o));
    o->line = line;
#define FIELD(name, fmt, var)                                   \
    cr_assert((at = strstr(line, " " name "=")) != NULL &&      \
                  sscanf(at + strlen(name) + 2, fmt, var) == 1, \
              "no " name " in: %s", line)
    FIELD("sent_records", "%llu", &o->sent_records);
    FIELD("sent_ids", "%llu", &o->sent_ids);
    FIELD("wanted", "%llu", &o->wanted);
    FIELD("received_msgs", "%llu", &o->received);
    FIELD("conns", "%llu", &o->conns);
    FIELD("closed", "%llu", &o->closed);
    FIELD("after_ms", "%lld", &o->after_ms);
    FIELD("last_close_ms", "%lld", &o->last_close_ms);
    FIELD("bye", "%31s", o->bye);
#undef FIELD
    o->disconnected = strstr(line, " disconnected=yes ") != NULL;
    o->refused = strstr(line, " handshake=refused ") != NULL;
    if ((at = strstr(line, " bye_reason=\"")) != NULL) {
        const char *end = strstr(at + 13, "\" note=");

        cr_assert_not_null(end, "%s", line);
        snprintf(o->bye_reason, sizeof(o->bye_reason), "%.*s", (int)(end - at - 13), at + 13);
    }
}

/*
 * Runs praxis-hostile-peer against A as e (NULL: a fresh key) with the attack and extra
 * arguments (NULL-terminated), sampling A's memory while it runs; returns its outcome.
 */
static void
attack(struct net *n, const struct evil *e, struct outcome *o, const char *name, ...)
{
    const char *args[32];
    char *argv[32], port[8], *bin = px_test_bin("praxis-hostile-peer"), *line = NULL, *errp;
    struct px_child c;
    int64_t deadline = px_testd_now_ms() + TOOL_MS;
    size_t k = 0;
    va_list ap;

    snprintf(port, sizeof(port), "%u", n->a.port);
    args[k++] = bin;
    args[k++] = "--port";
    args[k++] = port;
    args[k++] = "--server-key";
    args[k++] = n->a.key;
    if (e != NULL) {
        args[k++] = "--seed";
        args[k++] = e->seed;
    }
    va_start(ap, name);
    for (const char *a = va_arg(ap, const char *); a != NULL; a = va_arg(ap, const char *)) {
        cr_assert_lt(k, 28);
        args[k++] = a;
    }
    va_end(ap);
    args[k++] = name;
    for (size_t i = 0; i < k; i++) {
        cr_assert_not_null(argv[i] = strdup(args[i]));
    }
    argv[k] = NULL;
    cr_assert(asprintf(&errp, "%s/hostile.err", tmp) > 0);
    px_child_spawn(&c, argv, errp, NULL);
    while (line == NULL && px_testd_now_ms() < deadline) {
        long kb = rss_kb(&n->a);

        if (kb > n->rss_max_kb) {
            n->rss_max_kb = kb;
        }
        line = px_child_read_line(&c, 100);
        if (line == NULL && c.out < 0) {
            break; /* it ended without a summary */
        }
    }
    cr_assert_not_null(line, "praxis-hostile-peer %s printed no summary", name);
    cr_assert_eq(px_child_finish(&c, 1, WAIT_MS), 0);
    cr_assert(c.status == 0 || c.status == 3, "praxis-hostile-peer %s: status %d: %s", name,
              c.status, line);
    px_child_free(&c);
    cr_log_info("%s", line);
    parse_outcome(o, line);
    cr_assert_leq(n->rss_max_kb - n->rss_base_kb, (long)RSS_BOUND_MB * 1024,
                  "A grew from %ld to %ld kB during %s", n->rss_base_kb, n->rss_max_kb, name);
    for (size_t i = 0; i < k; i++) {
        free(argv[i]);
    }
    free(errp);
    free(bin);
}

static void
outcome_free(struct outcome *o)
{
    free(o->line);
    o->line = NULL;
}

/* B publishes and A gets it; A publishes and B gets it; both answer a query. */
static void
still_replicating(struct net *n, const char *tag)
{
    char title[64], ida[65], idb[65];

    snprintf(title, sizeof(title), "Honest from B %s", tag);
    px_testnode_publish(&n->b, title, 0, idb);
    snprintf(title, sizeof(title), "Honest from A %s", tag);
    px_testnode_publish(&n->a, title, 0, ida);
    wait_record(&n->a, idb);
    wait_record(&n->b, ida);
    cr_assert_geq(query_count(&n->a, "Honest"), 2);
    cr_assert_geq(query_count(&n->b, "Honest"), 2);
}

/* e was dropped after its handshake: reconnecting now is refused after msg3, logged. */
static void
kept_away(struct net *n, const struct evil *e)
{
    struct outcome o;
    char key16[17];

    snprintf(key16, sizeof(key16), "%.16s", e->key);
    attack(n, e, &o, "forged-sig", "--seconds", "5", NULL);
    cr_assert(o.refused, "a dropped attacker got back in at once: %s", o.line);
    cr_assert_eq(o.sent_records, 0);
    px_testnode_wait_log_count(&n->a, key16, "was dropped for misbehaving", 1, WAIT_MS);
    outcome_free(&o);
}

/*
 * e was dropped for a protocol error found by the peer manager (a message that does not
 * decode): the first two from one key in 10 minutes close the link without a ban
 * (test_peers relies on it), so the same key gets in again at once, and is dropped again at
 * its next bad message.
 */
static void
let_back(struct net *n, const struct evil *e)
{
    struct outcome o;

    attack(n, e, &o, "half-open", "--count", "1", "--seconds", "5", NULL);
    cr_assert(!o.refused && o.closed == 1, "%s", o.line);
    outcome_free(&o);
}

/*
 * One attack that A must end with a bye and a warning per cause; banned: kept away.
 * bye_has is the reason the bye and the closing line hold; alt, when not NULL, another
 * reason that is as good (two limits that race: whichever is reached first).
 */
static void
dropped_for(struct net *n, const char *name, const char *bye_has, const char *alt,
            const char *cause, const char *cause_line, const char *const extra[], bool banned)
{
    const struct evil *e = next_evil(n);
    uint64_t before = px_testd_records(&n->a.d);
    const char *args[8] = {0};
    struct outcome o;
    char key16[17];

    snprintf(key16, sizeof(key16), "%.16s", e->key);
    for (size_t i = 0; extra != NULL && extra[i] != NULL; i++) {
        args[i] = extra[i];
    }
    attack(n, e, &o, name, "--seconds", "10", args[0], args[1], args[2], args[3], args[4], NULL);
    cr_assert(o.disconnected, "%s: not disconnected: %s", name, o.line);
    cr_assert(strcmp(o.bye, "EPROTO") == 0 || strcmp(o.bye, "none") == 0, "%s", o.line);
    /* The bye may be lost when A closes with our unread input in its buffer (a reset). */
    cr_assert(strcmp(o.bye, "none") == 0 || strstr(o.bye_reason, bye_has) != NULL ||
                  (alt != NULL && strstr(o.bye_reason, alt) != NULL),
              "%s: %s", name, o.line);
    /* One line per cause, and one for the close, however many records or messages. */
    px_testnode_wait_log_count(&n->a, key16, "-> closing", 1, WAIT_MS);
    if (cause_line != NULL) {
        cr_assert_eq(px_testd_log_count(&n->a.d, key16, cause_line, cause), 1, "%s: cause lines",
                     name);
    }
    cr_assert_eq(
        px_testd_log_count(&n->a.d, key16, "established -> closing (protocol error", bye_has) +
            (alt != NULL ? px_testd_log_count(&n->a.d, key16, "established -> closing", alt) : 0),
        1, "%s: close lines", name);
    /* Nothing it sent is stored. */
    cr_assert_eq(px_testd_records(&n->a.d), before, "%s: A stored something", name);
    cr_assert_eq(query_count(&n->a, "hostile"), 0, "%s: junk found by a query", name);
    if (banned) {
        kept_away(n, e);
    } else {
        let_back(n, e);
    }
    outcome_free(&o);
}

Test(hostile, invalid_records)
{
    struct net n;
    char target[65], count20[] = "20";
    const char *count_args[] = {"--count", count20, NULL};
    const char *field_args[] = {"--variant", "field", NULL};
    const char *future_args[] = {"--count", "100", NULL};
    const char *retract_args[] = {"--count", count20, "--target", target, NULL};
    const char *unsolicited_args[] = {"--unsolicited", "--count", count20, NULL};

    net_start(&n);
    px_testnode_publish(&n.a, "A case that only its author may retract", 0, target);
    wait_record(&n.b, target);

    /* Records claiming A as author under our signature: one bad signature drops it. */
    dropped_for(&n, "forged-sig", "record with a bad signature", NULL,
                "record with a bad signature", "gossip: peer", count_args, true);
    /* The version as cc 01, re-signed: the decoder re-encodes and refuses it. */
    dropped_for(&n, "non-canonical", "malformed or non-canonical record", NULL,
                "malformed or non-canonical record", "gossip: peer", count_args, true);
    /* A record over PX_RECORD_MAX: the wire codec refuses the message. */
    dropped_for(&n, "oversize", "undecodable message: ETOOBIG", NULL,
                "undecodable message: ETOOBIG", NULL, NULL, false);
    /* The same from one key three times in a row: its third protocol error within 10 min
     * keeps it away, as a replication fault does, and the close line says why. */
    {
        const struct evil *e = next_evil(&n);
        struct outcome o;
        char key16[17];

        snprintf(key16, sizeof(key16), "%.16s", e->key);
        for (int i = 0; i < 3; i++) {
            attack(&n, e, &o, "oversize", "--seconds", "10", NULL);
            cr_assert(o.disconnected && !o.refused, "oversize %d: %s", i + 1, o.line);
            outcome_free(&o);
            px_testnode_wait_log_count(&n.a, key16, "undecodable message: ETOOBIG", i + 1, WAIT_MS);
        }
        cr_assert_eq(
            px_testd_log_count(&n.a.d, key16, "-> closing", "protocol errors within 10 min"), 1);
        kept_away(&n, e);
    }
    /* A body one byte over its cap: a malformed record. */
    dropped_for(&n, "oversize", "malformed or non-canonical record", NULL,
                "malformed or non-canonical record", "gossip: peer", field_args, true);
    /* A day ahead (max_clock_skew 60 s): 2 points each, 100 of them. */
    dropped_for(&n, "future", "record created in the future", NULL, "record created in the future",
                "gossip: peer", future_args, true);
    /* Retractions of A's case by the attacker (an accepted author, but not its author). */
    dropped_for(&n, "foreign-retraction", "correction or retraction of another author", NULL,
                "correction or retraction of another author", "gossip: peer", retract_args, true);
    cr_assert(has_record(&n.a, target) && has_record(&n.b, target), "the case was retracted");
    /* The same without announcing them first: checked just the same. */
    dropped_for(&n, "forged-sig", "record with a bad signature", NULL,
                "record with a bad signature", "gossip: peer", unsolicited_args, true);

    cr_assert_eq(px_testd_count_peers(&n.a.d, n.b.key, "established"), 1);
    still_replicating(&n, "after invalid records");
    net_free(&n);
}

Test(hostile, floods)
{
    struct net n;
    const char *absurd_args[] = {"--count", "3", NULL};
    const char *million[] = {"--count", "1000000", NULL};
    struct outcome o;

    net_start(&n);
    /* A million random ids announced, 1024 a message: over quota_messages (100). */
    dropped_for(&n, "announce-flood", "over its quota of 100 requests per 60 s", NULL,
                "over its quota of 100 requests per 60 s", NULL, million, true);
    /* Wants for a million ids A never had: its queue for the peer (8192) overflows, or it
     * goes over quota_messages first, whichever A reaches first. */
    dropped_for(&n, "want-flood", "too many outstanding wants", "over its quota of 100 requests",
                "too many outstanding wants", NULL, million, true);
    /* Reconcile messages of thousands of absurd ranges, answered, then one whose bounds go
     * backwards. */
    dropped_for(&n, "absurd-reconcile", "bad reconcile message: EPROTO", NULL,
                "range bounds out of order", NULL, absurd_args, true);

    /* Absurd but valid reconcile messages alone: answered within the 64 KiB frame. */
    attack(&n, NULL, &o, "absurd-reconcile", "--variant", "valid", "--count", "5", "--seconds",
           "10", NULL);
    cr_assert(!o.disconnected, "%s", o.line);
    cr_assert_geq(o.received, 6, "a reply to each: %s", o.line);
    outcome_free(&o);

    cr_assert_eq(px_testd_count_peers(&n.a.d, n.b.key, "established"), 1);
    still_replicating(&n, "after floods");
    net_free(&n);
}

Test(hostile, junk_authors)
{
    struct net n;
    struct outcome o;
    const struct evil *e;
    char key16[17], count[16];
    uint64_t before;

    net_start(&n);
    e = next_evil(&n);
    snprintf(key16, sizeof(key16), "%.16s", e->key);
    before = px_testd_records(&n.a.d);
    /*
     * More valid records, each by a fresh author key, than A's want table holds (65536):
     * A must ask for every one (a want for a refused record is forgotten, so they never
     * fill the table), refuse each by policy, and store none. Policy differs between
     * honest nodes, so this is counted, not held against the peer: it stays connected.
     */
    snprintf(count, sizeof(count), "%d", 68000);
    attack(&n, e, &o, "junk-authors", "--count", count, "--seconds", "45", NULL);
    cr_assert(!o.disconnected, "%s", o.line);
#ifndef UNDER_ASAN
    /* (Under AddressSanitizer both sides may be too slow to get this far in time.) */
    cr_assert_gt(o.sent_records, 65536, "too slow to test the table: %s", o.line);
#endif
#ifndef UNDER_ASAN
    /* Before the fix A asked for exactly 65536 (its table full), then for nothing more. */
    cr_assert_gt(o.wanted, 65536, "A stopped asking: %s", o.line);
#endif
    /* Wants may be cut by the pending cap while checks lag: most, not all, are asked. */
    cr_assert_geq(o.wanted * 10, o.sent_ids * 9, "A stopped asking: %s", o.line);
    cr_assert_eq(
        px_testd_log_count(&n.a.d, key16, "record by an author this node does not accept", NULL),
        1);
    cr_assert_eq(px_testd_log_count(&n.a.d, key16, "-> closing", "protocol error"), 0);
    cr_assert_eq(px_testd_records(&n.a.d), before);
    cr_assert_eq(query_count(&n.a, "hostile"), 0);
    cr_assert_eq(px_testd_count_peers(&n.a.d, n.b.key, "established"), 1);
    still_replicating(&n, "after junk");
    outcome_free(&o);
    net_free(&n);
}

Test(hostile, slow_attacks)
{
    struct net n;
    struct outcome o;
    const struct evil *e;
    char big[65], id[65], key16[17];
    int lines;

    net_start(&n);

    /* Six connections (max_handshakes is 4) that send half of msg1 and wait. */
    attack(&n, NULL, &o, "stall-handshake", "--count", "6", "--seconds", "15", NULL);
    cr_assert_eq(o.closed, 6, "%s", o.line);
    /* Each at its deadline, 2 s after it was accepted (the last two after a slot freed). */
    cr_assert_lt(o.last_close_ms, 3 * 2000 + 1500, "%s", o.line);
    cr_assert_eq(px_testd_log_count(&n.a.d,
                                    "handshake -> closing (timeout: handshake not complete after "
                                    "2000 ms)",
                                    NULL, NULL),
                 6);
    cr_assert_eq(px_testd_count_peers(&n.a.d, n.b.key, "established"), 1);
    outcome_free(&o);
    still_replicating(&n, "after stalls");

    /* Links that say hello, then half-close and read nothing: A closes each at once. */
    attack(&n, NULL, &o, "half-open", "--count", "4", "--seconds", "10", NULL);
    cr_assert_eq(o.closed, 4, "%s", o.line);
    cr_assert_lt(o.last_close_ms, 3000, "%s", o.line);
    outcome_free(&o);

    /* A peer that wants a large record many times and never reads: A's output to it backs
     * up; A stops serving and reading it, and closes it at the idle timeout (5 s). */
    e = next_evil(&n);
    snprintf(key16, sizeof(key16), "%.16s", e->key);
    px_testnode_publish(&n.a, "A large honest case", 30000, big);
    attack(&n, e, &o, "no-read", "--want", big, "--count", "6", "--seconds", "10", NULL);
    cr_assert(o.disconnected, "%s", o.line);
    cr_assert_eq(px_testd_log_count(&n.a.d, key16, "established -> closing (timeout:", NULL), 1);
    cr_assert_eq(px_testd_log_count(&n.a.d, key16, "warn:", NULL), 1,
                 "one warning for the no-reader");
    outcome_free(&o);

    /* Thousands of connections, each reset at once: A's log does not follow them. */
    lines = log_lines(&n.a);
    attack(&n, NULL, &o, "connect-flood", "--count", "3000", "--seconds", "3", NULL);
    cr_assert_gt(o.conns, 1000, "%s", o.line);
    cr_assert_lt(log_lines(&n.a) - lines, 60, "%d lines for %llu connections",
                 log_lines(&n.a) - lines, o.conns);
    outcome_free(&o);
    /* Honest links stayed up; a new connection gets through. */
    cr_assert_eq(px_testd_count_peers(&n.a.d, n.b.key, "established"), 1);
    attack(&n, NULL, &o, "half-open", "--count", "1", "--seconds", "10", NULL);
    cr_assert(!o.refused && o.closed == 1, "%s", o.line);
    outcome_free(&o);
    still_replicating(&n, "after slow attacks");
    /* Nothing of the attacks was stored: only the honest cases. */
    px_testnode_publish(&n.b, "One more honest case", 0, id);
    wait_record(&n.a, id);
    cr_assert_eq(px_testd_records(&n.a.d), px_testd_records(&n.b.d));
    net_free(&n);
}
