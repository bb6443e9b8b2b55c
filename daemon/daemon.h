/* SPDX-License-Identifier: MIT */
/*
 * daemon.h - struct px_daemon: all of praxisd's state, passed explicitly.
 *
 * Nothing here is global (only signal flags would be), so a test can run several daemons
 * in one process.
 */
#ifndef PX_DAEMON_H
#define PX_DAEMON_H

#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "ingest.h"
#include "protocol/sign.h"

struct px_db;
struct px_ctl;
struct px_peer_mgr;
struct px_gossip;

struct px_daemon {
    uv_loop_t *loop;
    struct px_identity identity;
    struct px_policy policy;
    struct px_db *db;
    struct px_ctl *ctl;
    struct px_peer_mgr *peers; /* NULL before start and after shutdown */
    struct px_gossip *gossip;  /* replication; NULL before start and after shutdown */
    const char *version;
    uint64_t started_ms;   /* wall clock at start, for uptime */
    uint64_t last_created; /* the newest created time this node has signed */
    int64_t max_rowid;     /* the newest row committed */
};

/* Wall-clock time in ms since the Unix epoch. */
uint64_t px_daemon_now_ms(void);

/*
 * The created time for a record signed now: the wall clock, but never earlier than or
 * equal to the previous one this node signed, so a node's records are strictly ordered
 * even when the clock steps back.
 */
uint64_t px_daemon_next_created(struct px_daemon *d);

#endif
