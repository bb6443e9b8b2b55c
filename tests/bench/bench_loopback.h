/* SPDX-License-Identifier: MIT */
/*
 * bench_loopback.h - two real peer links over TCP on 127.0.0.1, for the link suite.
 *
 * Two peer managers (daemon/peer.c, the daemon's own code, not a copy) run on two libuv
 * loops, one thread each, in this process: the sender dials the receiver, which listens
 * on 127.0.0.1 at a port the kernel chose (port 0). They complete the secret handshake and
 * exchange hellos over the socket as two praxisd nodes would. In place of the replication
 * layer (gossip.c, which needs a store) each manager gets a small one of ours through
 * px_peer_start_with: the sender's sends records messages with px_peer_send whenever its
 * connection has at most 2 MiB unsent (gossip.c's rule for serving wants, resumed from the
 * write-completion hook as gossip.c is), and the receiver's counts and checks the messages
 * peer.c has read, opened and decoded. So a message takes the daemon's whole path: encode,
 * 4096-byte box-stream frames, one uv_write, the kernel, reads into the receive buffer,
 * the incremental opener, the message buffer, px_wire_decode.
 *
 * The message is what replication sends most: a records message of 256 signed records of
 * the bench corpus (about 2.5 KB each, 650 KB in all). The baseline seals and opens the
 * same chunks (the encoded message cut into 4096-byte pieces, each with an 18-byte header,
 * as box-stream frames it) with bare crypto_secretbox_easy and _open_easy on one thread.
 *
 * Every wait is bounded; a set-up, a run or a shutdown that overruns its deadline fails.
 */
#ifndef PX_BENCH_LOOPBACK_H
#define PX_BENCH_LOOPBACK_H

#include <stddef.h>
#include <stdint.h>

struct bench_loopback;

/*
 * Starts both ends and waits (10 s at most) until the link is up both ways. Returns NULL
 * after printing why. Release with bench_loopback_free. Sets the daemon log level to warn.
 */
struct bench_loopback *bench_loopback_new(void);

/* Record bytes (the payload) that one records message carries. */
size_t bench_loopback_payload(const struct bench_loopback *lb);

/*
 * bench_run_fn: sends iters records messages through the link and returns once the
 * receiver has decoded them all (0), or -1 after printing why (the link went down, a
 * message arrived wrong, or the deadline of 60 s plus 1 s a message passed).
 */
int bench_loopback_run(void *ctx, uint64_t iters);

/* bench_run_fn: the baseline, the same chunks sealed and opened bare, iters messages. */
int bench_loopback_raw(void *ctx, uint64_t iters);

/*
 * Shuts both managers down (bye, goodbye, close), waits at most 10 s for both loops to
 * finish and checks that each closes cleanly. Returns 0, or -1 after printing why (then,
 * if a loop thread is stuck, its memory is left alone rather than freed under it). NULL: 0.
 */
int bench_loopback_free(struct bench_loopback *lb);

#endif
