/* SPDX-License-Identifier: MIT */
/*
 * config.c - the option table and the INI parser around it; see config.h.
 *
 * inih does the lexing. We feed it through our own line reader (ini_parse_stream) because
 * the packaged inih has no line numbers in its handler: the reader counts lines, so the
 * handler always knows the line it is called for, and the reader also rejects lines longer
 * than inih's buffer (inih would otherwise split them silently) and checks section headers
 * (inih calls no handler for a section without keys, so an unknown empty section would
 * pass). Everything else, values included, is checked by the setters below, which the
 * command-line overrides share.
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/un.h>

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ini.h>

#include "protocol/buf.h"
#include "protocol/err.h"
#include "protocol/negentropy.h"

/* The longest path a Unix socket address holds, without its NUL. */
#define SOCKET_PATH_MAX (sizeof(((struct sockaddr_un *)0)->sun_path) - 1)

#define FIELD(f) offsetof(struct px_config, f), sizeof(((struct px_config *)0)->f)

#define STR_(x) #x
#define STR(x)  STR_(x)

static const struct px_config_option options[] = {
    [PX_CONFIG_NODE_DATA_DIR] = {"node", "data_dir", PX_CONFIG_T_PATH, 1, PX_CONFIG_MAX_PATH - 1,
                                 "data",
                                 "Directory of the store, the identity and the API socket; a "
                                 "relative path is relative to the working directory.",
                                 0, FIELD(data_dir)},
    [PX_CONFIG_NODE_SOCKET] = {"node", "socket", PX_CONFIG_T_PATH, 0, SOCKET_PATH_MAX, "",
                               "Path of the local API socket (mode 0600); empty means "
                               "<data_dir>/" PX_CONFIG_SOCKET_NAME ".",
                               0, FIELD(socket)},
    [PX_CONFIG_NODE_LOG_LEVEL] = {"node", "log_level", PX_CONFIG_T_LOG_LEVEL, 0, 0, "info",
                                  "Least severe level logged: debug, info, warn or error.", 0,
                                  FIELD(log_level)},
    [PX_CONFIG_NODE_NAME] = {"node", "name", PX_CONFIG_T_TEXT, 1, PX_CONFIG_MAX_NAME, "praxis",
                             "Name of this node shown to local clients and in status output: "
                             "1 to " STR(PX_CONFIG_MAX_NAME) " printable ASCII characters.",
                             0, FIELD(name)},
    [PX_CONFIG_NODE_INDEX_DIR] = {"node", "index_dir", PX_CONFIG_T_PATH, 0, PX_CONFIG_MAX_PATH - 1,
                                  "",
                                  "Directory of the reconciliation index's page file, a scratch "
                                  "file without a name; empty means data_dir.",
                                  0, FIELD(index_dir)},
    [PX_CONFIG_NODE_INDEX_CACHE_PAGES] = {"node", "index_cache_pages", PX_CONFIG_T_UINT, 0, 16384,
                                          "64",
                                          "Pages of the reconciliation index kept in memory "
                                          "(5,416 bytes each, up to 128 records a page); 0 keeps "
                                          "the whole index in memory, else at least " STR(
                                              PX_NEGENTROPY_MIN_CACHE) ".",
                                          0, FIELD(index_cache_pages)},
    [PX_CONFIG_POLICY_ACCEPT_AUTHORS] = {"policy", "accept_authors", PX_CONFIG_T_AUTHORS, 1,
                                         PX_CONFIG_MAX_AUTHORS, "any",
                                         "Whose records are stored and passed on: any, or a "
                                         "comma-separated list of 64-hex Ed25519 public keys.",
                                         PX_CONFIG_F_LIST, FIELD(authors)},
    [PX_CONFIG_POLICY_MAX_CLOCK_SKEW] = {"policy", "max_clock_skew", PX_CONFIG_T_UINT, 0, 86400,
                                         "600",
                                         "Seconds a record's creation time may lie ahead of "
                                         "our clock before the record is refused.",
                                         0, FIELD(max_clock_skew_s)},
    [PX_CONFIG_NETWORK_LISTEN] = {"network", "listen", PX_CONFIG_T_LISTEN, 0, 0, "127.0.0.1:7070",
                                  "Address for incoming peer connections: IPv4:port or "
                                  "[IPv6]:port; empty to accept none.",
                                  0, FIELD(listen)},
    [PX_CONFIG_NETWORK_NETWORK_KEY] = {"network", "network_key", PX_CONFIG_T_KEY, 0, 0,
                                       PX_CONFIG_MAIN_NETWORK_KEY_HEX,
                                       "64-hex secret-handshake network key; only nodes with "
                                       "the same key can connect.",
                                       0, FIELD(network_key)},
    [PX_CONFIG_NETWORK_PEER] = {"network", "peer", PX_CONFIG_T_PEER, 0, PX_CONFIG_MAX_PEERS, "",
                                "A peer to connect to, as HOST:PORT PUBKEY_HEX; repeat the "
                                "line for each peer.",
                                PX_CONFIG_F_REPEAT, FIELD(peers)},
    [PX_CONFIG_NETWORK_ACCEPT_UNKNOWN_PEERS] = {"network", "accept_unknown_peers", PX_CONFIG_T_BOOL,
                                                0, 1, "no",
                                                "Whether a node whose key is on no peer line "
                                                "may connect to us.",
                                                0, FIELD(accept_unknown_peers)},
    [PX_CONFIG_NETWORK_MAX_PEERS] = {"network", "max_peers", PX_CONFIG_T_UINT, 1, 1024, "64",
                                     "Most peer connections open at once.", 0, FIELD(max_peers)},
    [PX_CONFIG_NETWORK_MAX_HANDSHAKES] = {"network", "max_handshakes", PX_CONFIG_T_UINT, 1, 256,
                                          "16",
                                          "Most connections in the handshake at once; more "
                                          "wait to be accepted.",
                                          0, FIELD(max_handshakes)},
    [PX_CONFIG_NETWORK_SYNC_INTERVAL] = {"network", "sync_interval", PX_CONFIG_T_UINT, 5, 86400,
                                         "60",
                                         "Seconds between set reconciliations with each "
                                         "peer.",
                                         0, FIELD(sync_interval_s)},
    [PX_CONFIG_NETWORK_HANDSHAKE_TIMEOUT] = {"network", "handshake_timeout", PX_CONFIG_T_UINT, 1,
                                             120, "10",
                                             "Seconds a new connection has to complete the "
                                             "handshake.",
                                             0, FIELD(handshake_timeout_s)},
    [PX_CONFIG_NETWORK_IDLE_TIMEOUT] = {"network", "idle_timeout", PX_CONFIG_T_UINT, 5, 3600, "120",
                                        "Seconds without a sign of life from a peer before "
                                        "it is disconnected (a ping goes out after a third).",
                                        0, FIELD(idle_timeout_s)},
    [PX_CONFIG_NETWORK_QUOTA_INTERVAL] = {"network", "quota_interval", PX_CONFIG_T_UINT, 1, 3600,
                                          "60",
                                          "Seconds over which the per-peer quotas "
                                          "quota_records, quota_bytes and quota_messages count.",
                                          0, FIELD(quota_interval_s)},
    [PX_CONFIG_NETWORK_QUOTA_RECORDS] = {"network", "quota_records", PX_CONFIG_T_UINT, 1, 100000000,
                                         "10000",
                                         "Records a peer may send without being asked, per "
                                         "quota_interval, before it is disconnected.",
                                         0, FIELD(quota_records)},
    [PX_CONFIG_NETWORK_QUOTA_BYTES] = {"network", "quota_bytes", PX_CONFIG_T_UINT, 65536,
                                       UINT64_C(68719476736), "134217728",
                                       "Bytes of records a peer may send without being asked, "
                                       "per quota_interval, before it is disconnected.",
                                       0, FIELD(quota_bytes)},
    [PX_CONFIG_NETWORK_QUOTA_MESSAGES] = {"network", "quota_messages", PX_CONFIG_T_UINT, 100,
                                          10000000, "20000",
                                          "Announce, want, reconcile and empty records messages "
                                          "a peer may send per quota_interval.",
                                          0, FIELD(quota_messages)},
    [PX_CONFIG_NETWORK_MAX_PENDING_WANTS] = {"network", "max_pending_wants", PX_CONFIG_T_UINT, 16,
                                             8192, "4096",
                                             "Record ids asked from one peer and not received "
                                             "yet; the rest are asked later.",
                                             0, FIELD(max_pending_wants)},
    [PX_CONFIG_NETWORK_MAX_QUEUED_WANTS] = {"network", "max_queued_wants", PX_CONFIG_T_UINT, 1024,
                                            65536, "8192",
                                            "Record ids one peer may have asked us for and not "
                                            "received yet; over it, it is disconnected.",
                                            0, FIELD(max_queued_wants)},
    [PX_CONFIG_API_MAX_CLIENTS] = {"api", "max_clients", PX_CONFIG_T_UINT, 1, 1024, "64",
                                   "Most local API clients connected at once.", 0,
                                   FIELD(max_clients)},
    [PX_CONFIG_API_MAX_CLIENT_QUEUE] = {"api", "max_client_queue", PX_CONFIG_T_UINT, 65536,
                                        268435456, "8388608",
                                        "Bytes of unsent output a client may have queued "
                                        "before it is paused or dropped.",
                                        0, FIELD(max_client_queue)},
};

_Static_assert(sizeof(options) / sizeof(options[0]) == PX_CONFIG_NOPTS,
               "one row per enum px_config_opt");

const struct px_config_option *
px_config_option(size_t i)
{
    return i < PX_CONFIG_NOPTS ? &options[i] : NULL;
}

/* ---- Errors ---- */

static int fail(struct px_config_error *err, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Fills err->msg and returns rc, so that a setter can `return fail(...)`. */
static int
fail(struct px_config_error *err, int rc, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
    return rc;
}

/* A short, printable rendering of a value for an error message. */
struct quoted {
    char s[64];
};

static const char *
quote(struct quoted *q, const char *s, size_t len)
{
    return px_log_sanitize(q->s, sizeof(q->s), s, len);
}

const char *
px_config_error_format(const struct px_config_error *err, const char *source, char *buf, size_t cap)
{
    if (err->line > 0) {
        snprintf(buf, cap, "%s:%u: %s", source, err->line, err->msg);
    } else {
        snprintf(buf, cap, "%s: %s", source, err->msg);
    }
    return buf;
}

/* ---- Values ---- */

enum num_error { NUM_OK, NUM_EMPTY, NUM_NEGATIVE, NUM_NOT_NUMBER, NUM_JUNK, NUM_RANGE };

/*
 * Decimal digits only, in min..max (wireguard-tools style: strtoull, then the end pointer,
 * then the range). strtoull alone would accept a sign, leading blanks and "-1" as
 * ULLONG_MAX, so the first character must be a digit.
 */
static enum num_error
parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
    unsigned long long v;
    char *end;

    if (*s == '\0') {
        return NUM_EMPTY;
    }
    if (*s == '-') {
        return NUM_NEGATIVE;
    }
    if (!isdigit((unsigned char)*s)) {
        return NUM_NOT_NUMBER;
    }
    errno = 0;
    v = strtoull(s, &end, 10);
    if (*end != '\0') {
        return NUM_JUNK;
    }
    if (errno == ERANGE || v < min || v > max) {
        return NUM_RANGE;
    }
    *out = v;
    return NUM_OK;
}

static const char *
num_reason(enum num_error e)
{
    switch (e) {
    case NUM_OK:
        break;
    case NUM_EMPTY:
        return "is empty";
    case NUM_NEGATIVE:
        return "is negative";
    case NUM_NOT_NUMBER:
        return "is not a number";
    case NUM_JUNK:
        return "has junk after the number";
    case NUM_RANGE:
        return "is out of range";
    }
    return "is fine";
}

/* A DNS name: labels of 1..63 letters, digits and '-' (not first or last), 253 bytes in all. */
static bool
hostname_ok(const char *s, size_t len)
{
    size_t label = 0;

    if (len == 0 || len > 253) {
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];

        if (c == '.') {
            if (label == 0 || s[i - 1] == '-') {
                return false;
            }
            label = 0;
            continue;
        }
        if (!isalnum(c) && c != '-') {
            return false;
        }
        if (c == '-' && label == 0) {
            return false;
        }
        if (++label > 63) {
            return false;
        }
    }
    return label > 0 && s[len - 1] != '-';
}

int
px_config_parse_addr(const char *s, bool allow_name, struct px_config_addr *out, const char **why)
{
    struct px_config_addr a;
    const char *host, *port, *p;
    const char *dummy;
    size_t hlen;
    uint64_t v;
    unsigned char bin[16];

    if (why == NULL) {
        why = &dummy;
    }
    memset(&a, 0, sizeof(a));
    if (s[0] == '[') {
        const char *close = strchr(s, ']');

        if (close == NULL) {
            *why = "missing ']' after the IPv6 address";
            return PX_EVALUE;
        }
        host = s + 1;
        hlen = (size_t)(close - host);
        if (close[1] != ':') {
            *why = "expected ':port' after ']'";
            return PX_EVALUE;
        }
        port = close + 2;
        if (hlen == 0 || hlen > PX_CONFIG_MAX_HOST) {
            *why = "not an IPv6 address";
            return PX_EVALUE;
        }
        memcpy(a.host, host, hlen);
        if (inet_pton(AF_INET6, a.host, bin) != 1) {
            *why = "not an IPv6 address";
            return PX_EVALUE;
        }
        a.kind = PX_CONFIG_ADDR_IPV6;
    } else {
        const char *colon = strrchr(s, ':');

        if (colon == NULL) {
            *why = "missing ':port'";
            return PX_EVALUE;
        }
        host = s;
        hlen = (size_t)(colon - s);
        port = colon + 1;
        if (memchr(host, ':', hlen) != NULL) {
            *why = "an IPv6 address must be in brackets, as [address]:port";
            return PX_EVALUE;
        }
        if (hlen == 0) {
            *why = "empty host";
            return PX_EVALUE;
        }
        if (hlen > PX_CONFIG_MAX_HOST) {
            *why = "host longer than " STR(PX_CONFIG_MAX_HOST) " bytes";
            return PX_EVALUE;
        }
        memcpy(a.host, host, hlen);
        for (p = a.host; *p != '\0' && (isdigit((unsigned char)*p) || *p == '.'); p++) {
        }
        if (inet_pton(AF_INET, a.host, bin) == 1) {
            a.kind = PX_CONFIG_ADDR_IPV4;
        } else if (*p == '\0') {
            /* Only digits and dots: meant as an IPv4 address, and it is not one. */
            *why = "not an IPv4 address";
            return PX_EVALUE;
        } else if (!allow_name) {
            *why = "expected a numeric IPv4 address or a bracketed IPv6 address";
            return PX_EVALUE;
        } else if (!hostname_ok(a.host, hlen)) {
            *why = "not a valid host name";
            return PX_EVALUE;
        } else {
            a.kind = PX_CONFIG_ADDR_NAME;
        }
    }
    if (parse_uint(port, 1, 65535, &v) != NUM_OK) {
        *why = "the port must be a number in 1..65535";
        return PX_EVALUE;
    }
    a.port = (uint16_t)v;
    *out = a;
    return 0;
}

/* 64 hex digits into a 32-byte key. */
static int
parse_key(const struct px_config_option *o, const char *s, size_t len, uint8_t out[32],
          struct px_config_error *err)
{
    struct quoted q;

    if (len != 64) {
        return fail(err, PX_EKEY, "%s.%s: key \"%s\" has %zu characters, expected 64 hex digits",
                    o->section, o->key, quote(&q, s, len), len);
    }
    if (px_hex_decode(s, len, out, 32) != 0) {
        return fail(err, PX_EKEY, "%s.%s: key \"%s\" is not hexadecimal", o->section, o->key,
                    quote(&q, s, len));
    }
    return 0;
}

static bool
is_blank(char c)
{
    return c == ' ' || c == '\t';
}

/*
 * accept_authors, in two passes so that a failure leaves cfg unchanged: the first pass
 * (store false) checks every item and counts the keys, the second stores them, skipping
 * keys already in the list. append adds to the list (a continuation line); otherwise the
 * value replaces it.
 */
static int
scan_authors(struct px_config *cfg, const struct px_config_option *o, const char *value,
             bool append, bool store, struct px_config_error *err)
{
    size_t base = append ? cfg->n_authors : 0, count = 0;
    const char *p = value;
    uint8_t key[PX_SIGN_PUBLICKEYBYTES];
    struct quoted q;
    int rc;

    if (store && !append) {
        cfg->accept_any_author = false;
        cfg->n_authors = 0;
    }
    for (;;) {
        const char *end = strchr(p, ',');
        const char *stop = end != NULL ? end : p + strlen(p);
        size_t len;

        while (p < stop && is_blank(*p)) {
            p++;
        }
        while (stop > p && is_blank(stop[-1])) {
            stop--;
        }
        len = (size_t)(stop - p);
        if (len == 0) {
            /* A trailing comma is allowed, so that a continuation line can follow. */
            if (end == NULL && count > 0) {
                break;
            }
            return fail(err, PX_EVALUE, "%s.%s: empty item; expected any or 64-hex keys",
                        o->section, o->key);
        }
        if (len == 3 && memcmp(p, "any", 3) == 0) {
            if (append || count > 0 || end != NULL) {
                return fail(err, PX_EVALUE, "%s.%s: \"any\" cannot be combined with keys",
                            o->section, o->key);
            }
            if (store) {
                cfg->accept_any_author = true;
            }
            return 0;
        }
        if (append && cfg->accept_any_author) {
            return fail(err, PX_EVALUE, "%s.%s: \"any\" cannot be combined with keys", o->section,
                        o->key);
        }
        rc = parse_key(o, p, len, key, err);
        if (rc != 0) {
            return rc;
        }
        if (base + count >= PX_CONFIG_MAX_AUTHORS) {
            return fail(err, PX_ETOOBIG, "%s.%s: more than %d keys at \"%s\"", o->section, o->key,
                        PX_CONFIG_MAX_AUTHORS, quote(&q, p, len));
        }
        count++;
        if (store) {
            bool dup = false;

            for (size_t i = 0; i < cfg->n_authors && !dup; i++) {
                dup = memcmp(cfg->authors[i], key, sizeof(key)) == 0;
            }
            if (!dup) {
                memcpy(cfg->authors[cfg->n_authors++], key, sizeof(key));
            }
        }
        if (end == NULL) {
            break;
        }
        p = end + 1;
    }
    return 0;
}

/* "HOST:PORT PUBKEY_HEX", appended to the peer list. */
static int
add_peer(struct px_config *cfg, const struct px_config_option *o, const char *value,
         struct px_config_error *err)
{
    char addr[PX_CONFIG_MAX_HOST + 16];
    struct px_config_peer peer;
    const char *sp = value, *key, *why = NULL;
    struct quoted q;
    size_t alen;
    int rc;

    while (*sp != '\0' && !is_blank(*sp)) {
        sp++;
    }
    key = sp;
    while (is_blank(*key)) {
        key++;
    }
    if (*sp == '\0' || *key == '\0') {
        return fail(err, PX_EVALUE, "%s.%s: \"%s\": expected HOST:PORT PUBKEY_HEX", o->section,
                    o->key, quote(&q, value, strlen(value)));
    }
    alen = (size_t)(sp - value);
    if (alen >= sizeof(addr)) {
        return fail(err, PX_EVALUE, "%s.%s: address \"%s\" is too long", o->section, o->key,
                    quote(&q, value, alen));
    }
    memcpy(addr, value, alen);
    addr[alen] = '\0';
    memset(&peer, 0, sizeof(peer));
    if (px_config_parse_addr(addr, true, &peer.addr, &why) != 0) {
        return fail(err, PX_EVALUE, "%s.%s: bad host:port \"%s\": %s", o->section, o->key,
                    quote(&q, addr, alen), why);
    }
    rc = parse_key(o, key, strlen(key), peer.pubkey, err);
    if (rc != 0) {
        return rc;
    }
    for (size_t i = 0; i < cfg->n_peers; i++) {
        if (memcmp(cfg->peers[i].pubkey, peer.pubkey, sizeof(peer.pubkey)) == 0) {
            return fail(err, PX_EDUPKEY, "%s.%s: key %.16s... is already the key of peer %s:%u",
                        o->section, o->key, key,
                        quote(&q, cfg->peers[i].addr.host, strlen(cfg->peers[i].addr.host)),
                        cfg->peers[i].addr.port);
        }
    }
    if (cfg->n_peers >= PX_CONFIG_MAX_PEERS) {
        return fail(err, PX_ETOOBIG, "%s.%s: too many peers (at most %d)", o->section, o->key,
                    PX_CONFIG_MAX_PEERS);
    }
    cfg->peers[cfg->n_peers++] = peer;
    return 0;
}

static int
set_bool(bool *dst, const struct px_config_option *o, const char *value,
         struct px_config_error *err)
{
    static const char *const yes[] = {"yes", "true", "on", "1"};
    static const char *const no[] = {"no", "false", "off", "0"};
    struct quoted q;

    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        if (strcmp(value, yes[i]) == 0) {
            *dst = true;
            return 0;
        }
        if (strcmp(value, no[i]) == 0) {
            *dst = false;
            return 0;
        }
    }
    return fail(err, PX_EVALUE,
                "%s.%s: \"%s\" is not a boolean; expected yes/no, true/false, "
                "on/off or 1/0",
                o->section, o->key, quote(&q, value, strlen(value)));
}

/* Applies one value to its option. append: the value continues a list option. */
static int
set_value(struct px_config *cfg, const struct px_config_option *o, const char *value, bool append,
          struct px_config_error *err)
{
    void *dst = (char *)cfg + o->offset;
    size_t len = strlen(value);
    const char *why = NULL;
    struct px_config_addr addr;
    struct quoted q;
    enum num_error ne;
    uint64_t v = 0;
    int rc;

    switch (o->type) {
    case PX_CONFIG_T_PATH:
    case PX_CONFIG_T_TEXT:
        if (len < o->min || len > o->max) {
            return fail(err, PX_EVALUE, "%s.%s: \"%s\" is %zu bytes long, expected %llu to %llu",
                        o->section, o->key, quote(&q, value, len), len, (unsigned long long)o->min,
                        (unsigned long long)o->max);
        }
        for (size_t i = 0; i < len; i++) {
            unsigned char c = (unsigned char)value[i];

            if (c < 0x20 || c == 0x7f || (o->type == PX_CONFIG_T_TEXT && c > 0x7e)) {
                return fail(err, PX_EVALUE, "%s.%s: \"%s\" holds a %s character", o->section,
                            o->key, quote(&q, value, len),
                            o->type == PX_CONFIG_T_TEXT ? "non-printable or non-ASCII" : "control");
            }
        }
        memcpy(dst, value, len + 1);
        return 0;
    case PX_CONFIG_T_LOG_LEVEL:
        if (px_log_level_parse(value, dst) != 0) {
            return fail(err, PX_EVALUE,
                        "%s.%s: \"%s\" is not a level; expected debug, info, "
                        "warn or error",
                        o->section, o->key, quote(&q, value, len));
        }
        return 0;
    case PX_CONFIG_T_AUTHORS:
        rc = scan_authors(cfg, o, value, append, false, err);
        if (rc == 0) {
            rc = scan_authors(cfg, o, value, append, true, err);
        }
        return rc;
    case PX_CONFIG_T_UINT:
        ne = parse_uint(value, o->min, o->max, &v);
        if (ne != NUM_OK) {
            return fail(err, PX_EVALUE, "%s.%s: \"%s\" %s; expected a number in %llu..%llu",
                        o->section, o->key, quote(&q, value, len), num_reason(ne),
                        (unsigned long long)o->min, (unsigned long long)o->max);
        }
        if (o->size == sizeof(uint64_t)) {
            *(uint64_t *)dst = v;
        } else {
            *(unsigned *)dst = (unsigned)v;
        }
        return 0;
    case PX_CONFIG_T_BOOL:
        return set_bool(dst, o, value, err);
    case PX_CONFIG_T_LISTEN:
        if (len == 0) {
            memset(&addr, 0, sizeof(addr));
        } else if (px_config_parse_addr(value, false, &addr, &why) != 0) {
            return fail(err, PX_EVALUE, "%s.%s: bad host:port \"%s\": %s", o->section, o->key,
                        quote(&q, value, len), why);
        }
        *(struct px_config_addr *)dst = addr;
        return 0;
    case PX_CONFIG_T_KEY:
        return parse_key(o, value, len, dst, err);
    case PX_CONFIG_T_PEER:
        return add_peer(cfg, o, value, err);
    }
    return fail(err, PX_EINVAL, "%s.%s: option of unknown type", o->section, o->key);
}

void
px_config_defaults(struct px_config *cfg)
{
    struct px_config_error err = {0};

    memset(cfg, 0, sizeof(*cfg));
    for (size_t i = 0; i < PX_CONFIG_NOPTS; i++) {
        const struct px_config_option *o = &options[i];

        if ((o->flags & PX_CONFIG_F_REPEAT) && o->def[0] == '\0') {
            continue; /* a list that starts empty */
        }
        /* The table's defaults are fixed text the tests parse: failing is a broken build. */
        if (set_value(cfg, o, o->def, false, &err) != 0) {
            abort();
        }
    }
}

/* ---- The INI file ---- */

struct parse_state {
    struct px_config *cfg;
    struct px_config_error *err;
    const char *next; /* the text inih has not read yet */
    unsigned line;    /* number of the line inih is working on */
    bool indented;    /* that line starts with a blank */
    int last_opt;     /* option of the last key line since the last header, or -1 */
    int rc;           /* the first error, or 0 */
};

static int
find_option(const char *section, size_t slen, const char *key)
{
    for (int i = 0; i < PX_CONFIG_NOPTS; i++) {
        if (strlen(options[i].section) == slen && memcmp(options[i].section, section, slen) == 0 &&
            (key == NULL || strcmp(options[i].key, key) == 0)) {
            return i;
        }
    }
    return -1;
}

static int
parse_fail(struct parse_state *ps, int rc)
{
    ps->rc = rc;
    ps->err->line = ps->line;
    return rc;
}

/*
 * Section headers are checked here, where the raw line is at hand. The test for what inih
 * will take as a header mirrors ini_parse_stream: a comment first, then (once a key has been
 * seen in the section) an indented line continues that key, then '['.
 */
static int
check_line(struct parse_state *ps, const char *line)
{
    const char *s = line, *close, *rest;
    struct quoted q;

    /* inih skips a UTF-8 byte-order mark at the start of the text; so do we. */
    if (ps->line == 1 && strncmp(line, "\xef\xbb\xbf", 3) == 0) {
        line += 3;
        s = line;
    }
    /* As inih decides: any blank (isspace, '\r' too) starts an indented line. A blank
     * line never reaches on_pair, and is no header either, so '\n' needs no exception. */
    ps->indented = isspace((unsigned char)line[0]) != 0;
    while (isspace((unsigned char)*s)) {
        s++;
    }
    if (*s != '[' || (ps->indented && ps->last_opt >= 0)) {
        return 0;
    }
    close = strchr(s, ']');
    if (close == NULL) {
        return fail(ps->err, parse_fail(ps, PX_EINVAL), "unterminated section header");
    }
    for (rest = close + 1; isspace((unsigned char)*rest); rest++) {
    }
    if (*rest != '\0' && *rest != ';' && *rest != '#') {
        return fail(ps->err, parse_fail(ps, PX_EINVAL), "junk after the section header");
    }
    if (find_option(s + 1, (size_t)(close - s - 1), NULL) < 0) {
        return fail(ps->err, parse_fail(ps, PX_EUNKNOWN), "unknown section [%s]",
                    quote(&q, s + 1, (size_t)(close - s - 1)));
    }
    ps->last_opt = -1;
    return 0;
}

/* inih's fgets-like reader over the text; it stops inih (NULL) after the first error. */
static char *
read_line(char *str, int num, void *stream)
{
    struct parse_state *ps = stream;
    const char *nl;
    size_t len, content;

    if (ps->rc != 0 || *ps->next == '\0') {
        return NULL;
    }
    nl = strchr(ps->next, '\n');
    len = nl != NULL ? (size_t)(nl - ps->next) + 1 : strlen(ps->next);
    content = len;
    if (content > 0 && ps->next[content - 1] == '\n') {
        content--;
    }
    if (content > 0 && ps->next[content - 1] == '\r') {
        content--;
    }
    ps->line++;
    if (content > PX_CONFIG_MAX_LINE || num < 1 || len > (size_t)num - 1) {
        fail(ps->err, parse_fail(ps, PX_EINVAL), "line longer than %d bytes", PX_CONFIG_MAX_LINE);
        return NULL;
    }
    memcpy(str, ps->next, len);
    str[len] = '\0';
    ps->next += len;
    if (check_line(ps, str) != 0) {
        return NULL;
    }
    return str;
}

static int
on_pair(void *user, const char *section, const char *name, const char *value)
{
    struct parse_state *ps = user;
    const struct px_config_option *o;
    struct px_config *cfg = ps->cfg;
    struct quoted q, q2;
    bool cont;
    int i, rc;

    if (ps->rc != 0) {
        return 0;
    }
    if (section[0] == '\0') {
        fail(ps->err, parse_fail(ps, PX_EUNKNOWN), "key \"%s\" before any [section]",
             quote(&q, name, strlen(name)));
        return 0;
    }
    i = find_option(section, strlen(section), name);
    if (i < 0) {
        fail(ps->err, parse_fail(ps, PX_EUNKNOWN), "unknown key \"%s\" in [%s]",
             quote(&q, name, strlen(name)), quote(&q2, section, strlen(section)));
        return 0;
    }
    o = &options[i];
    cont = ps->indented && ps->last_opt == i;
    if (cont && !(o->flags & PX_CONFIG_F_LIST)) {
        fail(ps->err, parse_fail(ps, PX_EINVAL),
             "indented line continues %s.%s, which takes one line; remove the indentation",
             o->section, o->key);
        return 0;
    }
    if (!cont && cfg->line[i] != 0 && !(o->flags & PX_CONFIG_F_REPEAT)) {
        fail(ps->err, parse_fail(ps, PX_EDUPKEY), "duplicate key \"%s\" in [%s] (first on line %u)",
             o->key, o->section, cfg->line[i]);
        return 0;
    }
    rc = set_value(cfg, o, value, cont, ps->err);
    if (rc != 0) {
        parse_fail(ps, rc); /* set_value wrote the message */
        return 0;
    }
    if (cfg->line[i] == 0) {
        cfg->line[i] = ps->line;
    }
    ps->last_opt = i;
    return 1;
}

int
px_config_parse(const char *text, struct px_config *cfg, struct px_config_error *err)
{
    struct px_config_error dummy;
    struct parse_state ps;
    int r;

    if (err == NULL) {
        err = &dummy;
    }
    memset(err, 0, sizeof(*err));
    px_config_defaults(cfg);
    memset(&ps, 0, sizeof(ps));
    ps.cfg = cfg;
    ps.err = err;
    ps.next = text;
    ps.last_opt = -1;
    r = ini_parse_stream(read_line, &ps, on_pair, &ps);
    if (r > 0 && (ps.rc == 0 || (unsigned)r < err->line)) {
        /* A line inih could not read, before any error of ours. */
        err->line = (unsigned)r;
        return fail(err, PX_EINVAL, "syntax error: expected [section], key = value or a comment");
    }
    if (ps.rc != 0) {
        return ps.rc;
    }
    if (r < 0) {
        return fail(err, PX_ENOMEM, "out of memory");
    }
    return 0;
}

int
px_config_load(const char *path, struct px_config *cfg, struct px_config_error *err)
{
    struct px_config_error dummy;
    FILE *f = NULL;
    char *text = NULL;
    const char *nul;
    size_t n;
    int rc;

    if (err == NULL) {
        err = &dummy;
    }
    memset(err, 0, sizeof(*err));
    px_config_defaults(cfg);
    f = fopen(path, "re");
    if (f == NULL) {
        rc = fail(err, PX_EIO, "cannot open: %s", strerror(errno));
        goto out;
    }
    /* One byte more than the cap tells a file at the cap from a larger one. */
    text = malloc(PX_CONFIG_MAX_FILE + 2);
    if (text == NULL) {
        rc = fail(err, PX_ENOMEM, "out of memory");
        goto out;
    }
    n = fread(text, 1, PX_CONFIG_MAX_FILE + 1, f);
    if (ferror(f)) {
        rc = fail(err, PX_EIO, "cannot read: %s", strerror(errno));
        goto out;
    }
    if (n > PX_CONFIG_MAX_FILE) {
        rc = fail(err, PX_ETOOBIG, "larger than %d bytes", PX_CONFIG_MAX_FILE);
        goto out;
    }
    nul = memchr(text, '\0', n);
    if (nul != NULL) {
        err->line = 1;
        for (const char *p = text; p < nul; p++) {
            err->line += *p == '\n';
        }
        rc = fail(err, PX_EINVAL, "NUL byte in the file");
        goto out;
    }
    text[n] = '\0';
    rc = px_config_parse(text, cfg, err);
out:
    free(text);
    if (f != NULL) {
        fclose(f);
    }
    return rc;
}

int
px_config_set(struct px_config *cfg, const char *name, const char *value,
              struct px_config_error *err)
{
    struct px_config_error dummy;
    const char *dot = strchr(name, '.');
    struct quoted q;
    int found = -1, rc;

    if (err == NULL) {
        err = &dummy;
    }
    memset(err, 0, sizeof(*err));
    for (int i = 0; i < PX_CONFIG_NOPTS; i++) {
        const struct px_config_option *o = &options[i];
        size_t slen = strlen(o->section);
        bool match;

        if (dot != NULL) {
            match = (size_t)(dot - name) == slen && memcmp(name, o->section, slen) == 0 &&
                    strcmp(dot + 1, o->key) == 0;
        } else {
            match = strcmp(name, o->key) == 0;
        }
        if (match) {
            if (found >= 0) {
                return fail(err, PX_EUNKNOWN, "option \"%s\" is ambiguous; use section.key",
                            quote(&q, name, strlen(name)));
            }
            found = i;
        }
    }
    if (found < 0) {
        return fail(err, PX_EUNKNOWN, "unknown option \"%s\"", quote(&q, name, strlen(name)));
    }
    rc = set_value(cfg, &options[found], value, false, err);
    if (rc == 0 && !(options[found].flags & PX_CONFIG_F_REPEAT)) {
        cfg->line[found] = 0;
    }
    return rc;
}

int
px_config_socket_path(const struct px_config *cfg, char *out, size_t cap)
{
    size_t dlen = strlen(cfg->data_dir);
    const char *sep = dlen > 0 && cfg->data_dir[dlen - 1] == '/' ? "" : "/";
    int n;

    if (cfg->socket[0] != '\0') {
        n = snprintf(out, cap, "%s", cfg->socket);
    } else {
        n = snprintf(out, cap, "%s%s%s", cfg->data_dir, sep, PX_CONFIG_SOCKET_NAME);
    }
    if (n < 0 || (size_t)n >= cap) {
        return PX_ETOOBIG;
    }
    return 0;
}

static unsigned
later(unsigned a, unsigned b)
{
    return a > b ? a : b;
}

int
px_config_validate(const struct px_config *cfg, struct px_config_error *err)
{
    struct px_config_error dummy;
    char path[SOCKET_PATH_MAX + 1];

    if (err == NULL) {
        err = &dummy;
    }
    memset(err, 0, sizeof(*err));
    if (px_config_socket_path(cfg, path, sizeof(path)) != 0) {
        err->line = later(cfg->line[PX_CONFIG_NODE_DATA_DIR], cfg->line[PX_CONFIG_NODE_SOCKET]);
        return fail(err, PX_EVALUE,
                    "node.socket: <data_dir>/" PX_CONFIG_SOCKET_NAME " would be %zu bytes, more "
                    "than the %zu of a Unix socket path; set node.socket to a shorter path",
                    strlen(cfg->data_dir) + 1 + strlen(PX_CONFIG_SOCKET_NAME), SOCKET_PATH_MAX);
    }
    if (cfg->index_cache_pages > 0 && cfg->index_cache_pages < PX_NEGENTROPY_MIN_CACHE) {
        err->line = cfg->line[PX_CONFIG_NODE_INDEX_CACHE_PAGES];
        return fail(err, PX_EVALUE,
                    "node.index_cache_pages (%u) must be 0 (no page file) or at least %d",
                    cfg->index_cache_pages, PX_NEGENTROPY_MIN_CACHE);
    }
    if (cfg->max_handshakes > cfg->max_peers) {
        err->line = later(cfg->line[PX_CONFIG_NETWORK_MAX_HANDSHAKES],
                          cfg->line[PX_CONFIG_NETWORK_MAX_PEERS]);
        return fail(err, PX_EVALUE,
                    "network.max_handshakes (%u) is larger than network.max_peers (%u)",
                    cfg->max_handshakes, cfg->max_peers);
    }
    if (cfg->n_peers > cfg->max_peers) {
        err->line =
            later(cfg->line[PX_CONFIG_NETWORK_PEER], cfg->line[PX_CONFIG_NETWORK_MAX_PEERS]);
        return fail(err, PX_EVALUE,
                    "%zu peer lines, but network.max_peers is %u; raise it or remove peers",
                    cfg->n_peers, cfg->max_peers);
    }
    if (cfg->handshake_timeout_s > cfg->idle_timeout_s) {
        err->line = later(cfg->line[PX_CONFIG_NETWORK_HANDSHAKE_TIMEOUT],
                          cfg->line[PX_CONFIG_NETWORK_IDLE_TIMEOUT]);
        return fail(err, PX_EVALUE,
                    "network.handshake_timeout (%u) is longer than network.idle_timeout (%u)",
                    cfg->handshake_timeout_s, cfg->idle_timeout_s);
    }
    if (cfg->max_pending_wants > cfg->max_queued_wants) {
        err->line = later(cfg->line[PX_CONFIG_NETWORK_MAX_PENDING_WANTS],
                          cfg->line[PX_CONFIG_NETWORK_MAX_QUEUED_WANTS]);
        return fail(err, PX_EVALUE,
                    "network.max_pending_wants (%u) is larger than network.max_queued_wants "
                    "(%u): a peer with the same settings would drop this node while it catches up",
                    cfg->max_pending_wants, cfg->max_queued_wants);
    }
    return 0;
}
