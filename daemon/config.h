/* SPDX-License-Identifier: MIT */
/*
 * config.h - praxisd's configuration: text in, struct px_config out.
 *
 * The file is INI as inih reads it: "[section]" headers, "key = value" lines, comments on
 * lines of their own starting with ';' or '#', and inline comments after " ;". Every option
 * has one row in a table (section, key, type, range, default, help; see px_config_option()),
 * and config/praxisd.conf documents every row. The rules are strict so that a typo cannot
 * silently change how a node behaves:
 *
 *  - An unknown section or key, a key outside a section, a key set twice (only `peer`
 *    repeats), a bad value and an out-of-range number are errors naming the line.
 *  - Numbers are decimal digits only: no sign, no spaces, no unit, no overflow.
 *  - An indented line continues the previous value (inih): only accept_authors, a list,
 *    takes continuation lines; for any other key it is an error.
 *  - A line holds at most PX_CONFIG_MAX_LINE bytes (inih's line buffer); a longer line is an
 *    error rather than being split.
 *
 * Usage at startup: px_config_load() (or px_config_parse() on text), then px_config_set() for
 * each command-line override, then px_config_validate() for the checks between options.
 * Parsing reads no clock and touches no global; px_config_load() only reads the file.
 *
 * A struct px_config holds every list in fixed arrays (about 110 KiB in all): embed it in
 * a heap object such as the daemon state, not on a small stack. Nothing in it needs freeing.
 */
#ifndef PX_CONFIG_H
#define PX_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "daemon/log.h"
#include "protocol/sign.h"

#define PX_CONFIG_MAX_FILE          1048576 /* bytes in a config file: 1 MiB */
#define PX_CONFIG_MAX_LINE          197     /* bytes in one line, without its newline */
#define PX_CONFIG_MAX_PATH          1024    /* data_dir, socket: bytes including the NUL */
#define PX_CONFIG_MAX_NAME          64      /* node.name: printable ASCII characters */
#define PX_CONFIG_MAX_HOST          255     /* a host name or address, without brackets */
#define PX_CONFIG_MAX_AUTHORS       1024    /* keys in policy.accept_authors */
#define PX_CONFIG_MAX_PEERS         256     /* network.peer lines */
#define PX_CONFIG_NETWORK_KEY_BYTES 32

/*
 * The praxis main network key, the default network.network_key: BLAKE2b-256 (32-byte
 * output, no key) of the ASCII string "praxis main network v1". Nodes with another key
 * form a separate network and cannot complete a handshake with main-network nodes.
 */
#define PX_CONFIG_MAIN_NETWORK_KEY_HEX \
    "9fb0296795ed63054ee66a2d574d015304c0b0d22356fe66a42f92858190ffcd"

/* The socket file inside data_dir when node.socket is empty. */
#define PX_CONFIG_SOCKET_NAME "praxis.sock"

/* One id per option, in table order; also indexes px_config.line[]. */
enum px_config_opt {
    PX_CONFIG_NODE_DATA_DIR,
    PX_CONFIG_NODE_SOCKET,
    PX_CONFIG_NODE_LOG_LEVEL,
    PX_CONFIG_NODE_NAME,
    PX_CONFIG_NODE_INDEX_DIR,
    PX_CONFIG_NODE_INDEX_CACHE_PAGES,
    PX_CONFIG_POLICY_ACCEPT_AUTHORS,
    PX_CONFIG_POLICY_MAX_CLOCK_SKEW,
    PX_CONFIG_NETWORK_LISTEN,
    PX_CONFIG_NETWORK_NETWORK_KEY,
    PX_CONFIG_NETWORK_PEER,
    PX_CONFIG_NETWORK_ACCEPT_UNKNOWN_PEERS,
    PX_CONFIG_NETWORK_MAX_PEERS,
    PX_CONFIG_NETWORK_MAX_HANDSHAKES,
    PX_CONFIG_NETWORK_SYNC_INTERVAL,
    PX_CONFIG_NETWORK_HANDSHAKE_TIMEOUT,
    PX_CONFIG_NETWORK_IDLE_TIMEOUT,
    PX_CONFIG_NETWORK_QUOTA_INTERVAL,
    PX_CONFIG_NETWORK_QUOTA_RECORDS,
    PX_CONFIG_NETWORK_QUOTA_BYTES,
    PX_CONFIG_NETWORK_QUOTA_MESSAGES,
    PX_CONFIG_NETWORK_MAX_PENDING_WANTS,
    PX_CONFIG_NETWORK_MAX_QUEUED_WANTS,
    PX_CONFIG_API_MAX_CLIENTS,
    PX_CONFIG_API_MAX_CLIENT_QUEUE,
    PX_CONFIG_NOPTS
};

enum px_config_addr_kind {
    PX_CONFIG_ADDR_NONE, /* unset: for network.listen, "do not listen" */
    PX_CONFIG_ADDR_IPV4, /* host is a dotted quad */
    PX_CONFIG_ADDR_IPV6, /* host is an IPv6 address, written without its brackets */
    PX_CONFIG_ADDR_NAME, /* host is a DNS name (only in network.peer), resolved when dialing */
};

/* A parsed "host:port" or "[ipv6]:port". */
struct px_config_addr {
    enum px_config_addr_kind kind;
    char host[PX_CONFIG_MAX_HOST + 1]; /* NUL-terminated; "" when kind is NONE */
    uint16_t port;                     /* 1..65535; 0 when kind is NONE */
};

struct px_config_peer {
    struct px_config_addr addr;
    uint8_t pubkey[PX_SIGN_PUBLICKEYBYTES]; /* the Ed25519 key the peer must prove */
};

struct px_config {
    /* [node] */
    char data_dir[PX_CONFIG_MAX_PATH]; /* relative: to the working directory */
    char socket[PX_CONFIG_MAX_PATH];   /* "": use px_config_socket_path() */
    enum px_log_level log_level;
    char name[PX_CONFIG_MAX_NAME + 1];
    char index_dir[PX_CONFIG_MAX_PATH]; /* "": data_dir */
    unsigned index_cache_pages;         /* 0: the reconciliation index is all in memory */

    /* [policy] */
    bool accept_any_author; /* "any": then n_authors is 0 */
    size_t n_authors;
    uint8_t authors[PX_CONFIG_MAX_AUTHORS][PX_SIGN_PUBLICKEYBYTES]; /* no duplicates */
    unsigned max_clock_skew_s;

    /* [network] */
    struct px_config_addr listen; /* kind NONE: do not listen; never a DNS name */
    uint8_t network_key[PX_CONFIG_NETWORK_KEY_BYTES];
    size_t n_peers;
    struct px_config_peer peers[PX_CONFIG_MAX_PEERS]; /* no two with the same pubkey */
    bool accept_unknown_peers;
    unsigned max_peers;
    unsigned max_handshakes;
    unsigned sync_interval_s;
    unsigned handshake_timeout_s;
    unsigned idle_timeout_s;
    /* Per-peer quotas (docs/replication.md, "Limits and quotas"): over one, the peer gets
     * bye and is disconnected. Only records the peer sent without being asked (not the
     * answer to an outstanding want of ours, to it or to another) count against quota_records and
     * quota_bytes; the records we ask for are bounded by max_pending_wants instead. */
    unsigned quota_interval_s;  /* the window the three quotas below count over */
    unsigned quota_records;     /* unsolicited records per window */
    uint64_t quota_bytes;       /* bytes of unsolicited records per window */
    unsigned quota_messages;    /* announce, want, reconcile and empty records messages */
    unsigned max_pending_wants; /* ids asked from one peer and not received yet */
    unsigned max_queued_wants;  /* ids one peer may have queued with us; more: dropped */

    /* [api] */
    unsigned max_clients;
    uint64_t max_client_queue; /* bytes */

    /*
     * The line of the parsed text that set each option (for peer: the first peer line), or
     * 0 when it holds its default or was set by px_config_set(). Error messages use it.
     */
    unsigned line[PX_CONFIG_NOPTS];
};

/* Why parsing or validation failed. */
struct px_config_error {
    unsigned line; /* 1-based line of the text; 0 when no line is to blame */
    char msg[256]; /* one line of English, e.g. `unknown key "lisen" in [network]` */
};

enum px_config_type {
    PX_CONFIG_T_PATH,      /* a path; min..max is its length in bytes */
    PX_CONFIG_T_TEXT,      /* printable ASCII; min..max is its length */
    PX_CONFIG_T_LOG_LEVEL, /* debug | info | warn | error */
    PX_CONFIG_T_AUTHORS,   /* "any" or a comma-separated list of 64-hex keys */
    PX_CONFIG_T_UINT,      /* decimal number in min..max */
    PX_CONFIG_T_BOOL,      /* yes/no, true/false, on/off, 1/0 */
    PX_CONFIG_T_LISTEN,    /* "" or a numeric IPv4 address or [IPv6] address, then :port */
    PX_CONFIG_T_KEY,       /* 64 hex digits */
    PX_CONFIG_T_PEER,      /* "HOST:PORT PUBKEY_HEX" */
};

#define PX_CONFIG_F_REPEAT 0x1u /* may appear on several lines; each adds an entry */
#define PX_CONFIG_F_LIST   0x2u /* takes indented continuation lines that extend it */

/* One row of the option table (Redis static_configs[]). */
struct px_config_option {
    const char *section;
    const char *key;
    enum px_config_type type;
    uint64_t min, max;   /* the number's range, or the text's length range */
    const char *def;     /* the default, as it would be written in the file */
    const char *help;    /* one sentence */
    unsigned flags;      /* PX_CONFIG_F_* */
    size_t offset, size; /* where the value lives in struct px_config */
};

/* The row of option i, or NULL when i >= PX_CONFIG_NOPTS. Static storage. */
const struct px_config_option *px_config_option(size_t i);

/* Sets every option to its default. */
void px_config_defaults(struct px_config *cfg);

/*
 * Parses NUL-terminated INI text into *cfg, starting from the defaults. Stops at the first
 * error and fills *err with its line and message. Returns 0, or:
 *   PX_EINVAL    syntax (neither a section header, a key = value line nor a comment),
 *                a line too long, a continuation line for a key that takes none
 *   PX_EUNKNOWN  unknown section or key, or a key before any section
 *   PX_EDUPKEY   a key set twice (peer: the same peer key twice)
 *   PX_EVALUE    a value of the wrong shape or out of range
 *   PX_EKEY      a hex key that is not 64 hex digits
 *   PX_ETOOBIG   too many peers or author keys
 * On failure *cfg holds the options before the bad line and must not be used. The cross-
 * option checks are px_config_validate()'s job.
 */
int px_config_parse(const char *text, struct px_config *cfg, struct px_config_error *err);

/*
 * Reads the file at path (at most PX_CONFIG_MAX_FILE bytes, no NUL bytes) and parses it
 * with px_config_parse(). Besides its codes: PX_EIO when the file cannot be opened or read
 * (err->msg holds strerror), PX_ETOOBIG when it is larger than the cap, PX_ENOMEM.
 */
int px_config_load(const char *path, struct px_config *cfg, struct px_config_error *err);

/*
 * Sets one option, as from the command line: name is "section.key" or just "key" (every
 * key is unique across sections). The value is written as in the file. A repeatable option
 * (peer) adds an entry; any other replaces its value, a list included. Returns
 * PX_EUNKNOWN for an unknown name or one of px_config_parse()'s value codes, with err->line
 * 0; on failure *cfg is unchanged.
 */
int px_config_set(struct px_config *cfg, const char *name, const char *value,
                  struct px_config_error *err);

/*
 * The checks between options, run once the file and the overrides are applied:
 *   - the socket path (node.socket, or data_dir + "/" PX_CONFIG_SOCKET_NAME) fits in a
 *     Unix socket address;
 *   - max_handshakes <= max_peers, and the number of peer lines <= max_peers;
 *   - handshake_timeout <= idle_timeout;
 *   - max_pending_wants <= max_queued_wants (a peer with the same settings would otherwise
 *     drop this node for asking too much while it catches up).
 * Returns 0, or PX_EVALUE with err->line set to the later of the lines involved (0 if none
 * came from the file).
 */
int px_config_validate(const struct px_config *cfg, struct px_config_error *err);

/*
 * Writes the path of the local API socket into out (capacity cap): node.socket, or
 * data_dir + "/" PX_CONFIG_SOCKET_NAME when it is empty. 0, or PX_ETOOBIG when it does
 * not fit.
 */
int px_config_socket_path(const struct px_config *cfg, char *out, size_t cap);

/*
 * Parses "host:port" or "[ipv6]:port" (port 1..65535). The host is a numeric IPv4 address,
 * a bracketed IPv6 address, or, when allow_name, a DNS name (letters, digits and '-',
 * labels of 1..63, at most 253 bytes). 0 or PX_EVALUE; *why (when not NULL) gets a static
 * reason.
 */
int px_config_parse_addr(const char *s, bool allow_name, struct px_config_addr *out,
                         const char **why);

/*
 * Formats err as "source:line: msg" (or "source: msg" when err->line is 0) into buf and
 * returns buf. source is what the operator will recognise, typically the config path.
 */
const char *px_config_error_format(const struct px_config_error *err, const char *source, char *buf,
                                   size_t cap);

#endif
