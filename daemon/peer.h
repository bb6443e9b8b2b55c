/* SPDX-License-Identifier: MIT */
/*
 * peer.h - the peer manager: TCP links to other nodes, secured by the secret handshake and
 * box-stream, carrying wire messages (protocol/wire.h). docs/peers.md describes the
 * connection lifecycle, the timers and the limits.
 *
 * The manager listens on network.listen (when set), dials every configured peer and keeps
 * it connected (exponential backoff with jitter between attempts), and accepts nodes whose
 * key is listed, or any node of the network with accept_unknown_peers. Between two nodes
 * at most one connection survives: when a second one completes, both sides keep the one
 * dialed by the node with the smaller public key and close the other.
 *
 * Each connection is a struct px_peer (private to peer.c) that embeds its handles and is
 * freed by the close callback of its last handle. All of it runs on the daemon's loop.
 */
#ifndef PX_PEER_H
#define PX_PEER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "daemon.h"
#include "gossip.h"
#include "protocol/sign.h"
#include "protocol/wire.h"

struct px_peer_mgr;
struct px_peer;

enum px_peer_state {
    PX_PEER_CONNECTING,  /* TCP connect in progress (or accepted, not yet started) */
    PX_PEER_HANDSHAKE,   /* the secret handshake is running */
    PX_PEER_ESTABLISHED, /* box-stream up; hello, ping, bye... */
    PX_PEER_CLOSING,     /* bye and goodbye sent or being sent; handles closing */
    PX_PEER_NSTATES
};

/* One row of the peer table (px_peer_list): a connection, or a configured peer without one. */
struct px_peer_info {
    bool has_key; /* false: an inbound link before msg3 */
    uint8_t public_key[PX_SIGN_PUBLICKEYBYTES];
    char name[PX_CONFIG_MAX_NAME + 1];     /* from its hello, sanitised; "" before */
    char address[PX_CONFIG_MAX_HOST + 10]; /* host:port */
    const char *direction;                 /* "in", "out" (static) */
    const char *state;                     /* "connecting", ..., or "idle" (static) */
    uint64_t since_ms;                     /* wall clock of the last state change */
    uint64_t bytes_in, bytes_out;          /* on the TCP connection */
    char last_error[128];                  /* sanitised; "" when none */
    struct px_gossip_link_stats gossip;    /* replication counters since this daemon
                                            * started: for a configured peer, of all its
                                            * links so far; else of this connection */
};

/*
 * The replication layer the manager hands each link to once the peer's hello is in, and
 * the announce, want, records and reconcile messages that arrive on it. px_peer_start uses
 * gossip.c (px_gossip_link_up on d->gossip, and the other px_gossip_link_* functions); a
 * benchmark or a test may put its own functions in their place (px_peer_start_with) to
 * drive real links without a store. All of them run on the manager's loop.
 *
 * up returns the link state that the others get back, or NULL for none (then nothing else
 * is called for that connection); arg is passed to it. A link that up returned gets
 * exactly one down, when its connection starts closing; stats may be called until then.
 */
struct px_peer_links {
    struct px_gossip_link *(*up)(void *arg, struct px_peer *p, bool outbound, const char *label);
    void (*down)(struct px_gossip_link *l);
    void (*recv)(struct px_gossip_link *l, const struct px_wire_msg *msg);
    void (*writable)(struct px_gossip_link *l); /* a write of ours completed */
    void (*stats)(const struct px_gossip_link *l, struct px_gossip_link_stats *st);
    void *arg;
};

/*
 * Starts the manager on d->loop with cfg (copied where needed; cfg may go away after the
 * call): binds and listens on cfg->listen unless its kind is NONE, and schedules a dial
 * to each configured peer. Returns 0 and *out, or a PX_E* code with a one-line reason in
 * err (nothing is left running then). Links go to gossip.c (d->gossip, when not NULL).
 */
int px_peer_start(struct px_daemon *d, const struct px_config *cfg, struct px_peer_mgr **out,
                  char *err, size_t errlen);

/*
 * As px_peer_start, with links (copied) in place of gossip.c. Of d, only loop and identity
 * are used then.
 */
int px_peer_start_with(struct px_daemon *d, const struct px_config *cfg,
                       const struct px_peer_links *links, struct px_peer_mgr **out, char *err,
                       size_t errlen);

/*
 * The port the manager listens on (the one the kernel chose when network.listen gave port
 * 0), or 0 when it does not listen.
 */
uint16_t px_peer_listen_port(const struct px_peer_mgr *m);

/* Established connections, for `praxis status`. 0 when m is NULL. */
size_t px_peer_count_established(const struct px_peer_mgr *m);

/*
 * Fills out[0..cap) with the peer table and returns the number of rows written: every
 * connection, then every configured peer that has none. Borrowed pointers in a row (the
 * static strings) stay valid; the rest is copied.
 */
size_t px_peer_list(const struct px_peer_mgr *m, struct px_peer_info *out, size_t cap);

/* Rows px_peer_list would write now, for sizing its buffer. */
size_t px_peer_list_size(const struct px_peer_mgr *m);

/*
 * Shutdown: stops listening and dialing, says bye to every established peer (with a
 * box-stream goodbye), closes every handle; cb(arg) runs once the last one is closed and
 * the manager is freed. A NULL m runs cb at once.
 */
void px_peer_close(struct px_peer_mgr *m, void (*cb)(void *arg), void *arg);

/*
 * Sends a wire message to an established peer (encoded and sealed at once; msg is
 * borrowed for the call). Nothing happens in any other state. A write failure closes the
 * connection, and with it the gossip link, before this returns.
 */
void px_peer_send(struct px_peer *p, const struct px_wire_msg *msg);

/* Bytes queued to the peer's socket and not yet written. */
size_t px_peer_write_queue(const struct px_peer *p);

/*
 * Drops a misbehaving established peer: logs the reason (one warning), sends bye with
 * PX_EPROTO and the reason, closes. If the peer is on a peer line, we neither dial it nor
 * accept it for a minute. The gossip link goes down before this returns.
 */
void px_peer_drop(struct px_peer *p, const char *reason);

/* "connecting", "handshake", "established", "closing". */
const char *px_peer_state_name(enum px_peer_state s);

#endif
