/* SPDX-License-Identifier: MIT */
/*
 * gossip.h - replication between established peers: what to offer or request from whom.
 * docs/replication.md describes the protocol, the limits and the scoring.
 *
 * Push: every record a transaction stores (published here, imported, or received from a
 * peer) is announced by id to each established peer but the one it came from. A peer
 * that announces ids we lack gets a want for them; a want is answered with records
 * messages; received records are checked (px_ingest_check) in the thread pool and stored
 * in one batch. A peer that sends records failing the check is scored down and, past a
 * threshold, dropped.
 *
 * Anti-entropy: an in-memory negentropy index of (created, id) of every stored record,
 * built from the store at start and kept current by every commit. On each new link and
 * every network.sync_interval, the side that dialed reconciles (client role) against the
 * other (server role): ids only the other side has are wanted, ids only we have are
 * announced to it.
 *
 * The peer manager (peer.c) tells this module when a link comes up (after the peer's
 * hello) and goes down, and hands it announce, want, records and reconcile messages.
 * Everything runs on the daemon's loop; store work runs in px_db jobs.
 */
#ifndef PX_GOSSIP_H
#define PX_GOSSIP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "daemon.h"
#include "protocol/wire.h"

struct px_gossip;
struct px_gossip_link;
struct px_peer;

/* Replication counters of one link, for the peer table. */
struct px_gossip_link_stats {
    uint64_t last_sync_ms;     /* wall clock of the last completed reconciliation, 0: none */
    uint64_t records_sent;     /* records we sent it */
    uint64_t records_received; /* records it sent us that we stored */
    uint64_t duplicates;       /* records it sent us that we already held */
    uint64_t rejected;         /* records it sent us that failed the checks */
    uint32_t pending_wants;    /* ids we asked it for and have not received yet */
};

/*
 * Creates the gossip state for d (d->db must be open) and starts loading the
 * reconciliation index from the store in a read job; until it is loaded, links only push.
 * Returns 0 and *out, or PX_ENOMEM. Hooks itself into d->db's commits.
 */
int px_gossip_new(struct px_daemon *d, const struct px_config *cfg, struct px_gossip **out);

/* Stops the housekeeping timer; call once the peer manager is closed (no links remain). */
void px_gossip_stop(struct px_gossip *g);

/* Frees everything; call after px_db_close has finished (no job remains). NULL: no-op. */
void px_gossip_free(struct px_gossip *g);

/*
 * A link to p is established and the peer's hello is in. Returns the link state that the
 * peer keeps and passes back (never NULL). outbound: we dialed it (we reconcile as the
 * client). label is a short description for log lines, copied.
 */
struct px_gossip_link *px_gossip_link_up(struct px_gossip *g, struct px_peer *p, bool outbound,
                                         const char *label);

/* The link is going away (p is closing); nothing is sent to it from now on. */
void px_gossip_link_down(struct px_gossip_link *l);

/* An announce, want, records or reconcile message from the link's peer (msg borrowed). */
void px_gossip_recv(struct px_gossip_link *l, const struct px_wire_msg *msg);

/* The peer's output queue drained: servicing of its wants may go on. */
void px_gossip_link_writable(struct px_gossip_link *l);

void px_gossip_link_stats(const struct px_gossip_link *l, struct px_gossip_link_stats *st);

#endif
