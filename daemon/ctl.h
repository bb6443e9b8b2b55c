/* SPDX-License-Identifier: MIT */
/*
 * ctl.h - the local API server: a Unix socket for the praxis client.
 *
 * The socket is created with mode 0600 in a directory the daemon owns; a connecting
 * process must run as the daemon's user (or root), checked with SO_PEERCRED. Frames are
 * bounded (PX_API_MAX_FRAME) and every request is decoded strictly (protocol/api.h).
 * A client may have a few requests in flight; past that, reading from it pauses. A client
 * that does not read its answers is paused (streams) or dropped (live follows) when its
 * unsent output passes max_queue, so it can never stall the loop or grow memory without
 * bound. Slow work (SQLite, signature checks) runs in the thread pool.
 */
#ifndef PX_CTL_H
#define PX_CTL_H

#include <stddef.h>
#include <stdint.h>

#include "daemon.h"

struct px_ctl_options {
    const char *path;     /* the socket path */
    unsigned max_clients; /* connections at once; more are refused with PX_EBUSY */
    size_t max_queue;     /* bytes of unsent output per client */
};

/*
 * Binds and listens. A stale socket file at path (nobody listening) is replaced; a live
 * one is an error (another daemon runs). On failure err holds a one-line reason.
 */
int px_ctl_start(struct px_daemon *d, const struct px_ctl_options *opt, struct px_ctl **out,
                 char *err, size_t errlen);

/* New rows up to max_rowid are committed: live queries look for matches. */
void px_ctl_notify_commit(struct px_ctl *ctl, int64_t max_rowid);

/* Stops listening, closes every client; cb runs when every handle is closed. */
void px_ctl_close(struct px_ctl *ctl, void (*cb)(void *arg), void *arg);

#endif
