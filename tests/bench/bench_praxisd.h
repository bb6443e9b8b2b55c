/* SPDX-License-Identifier: MIT */
/*
 * bench_praxisd.h - a real praxisd for the benchmarks, and a blocking local API client.
 *
 * bench_praxisd_start runs the praxisd binary in a fresh data directory with its socket
 * there too, and waits until it writes "ready" on a pipe (--ready-fd). Its log goes to
 * praxisd.log in that directory and is printed when it fails. bench_praxisd_stop sends
 * SIGTERM and waits a bounded time (then SIGKILL), so no daemon outlives the benchmark.
 *
 * A bench_conn is one connection to the local API, used the way the praxis client uses
 * it: frames written whole, responses read and decoded one at a time, blocking I/O with
 * a deadline on every wait.
 */
#ifndef PX_BENCH_PRAXISD_H
#define PX_BENCH_PRAXISD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "protocol/api.h"

struct bench_praxisd;
struct bench_conn;

/* How to start a daemon beyond its directory (bench_praxisd_start_opts). */
struct bench_praxisd_opts {
    const char *config;    /* passed as --config FILE; NULL: none (every default) */
    const char *listen;    /* passed as --listen ADDR; NULL: "" (no peer links) when there is
                              no config file, else no flag (the file's [network] listen) */
    const char *log_level; /* passed as --log-level; NULL: warn */
};

/*
 * A benchmark's working directory: bench_workdir_make creates a fresh one under $TMPDIR
 * (or /tmp when that is unset or too long for the socket paths inside) in dir[0..cap) and
 * returns 0, or -1 after printing why. bench_workdir_done removes it and everything in it,
 * or with PRAXIS_BENCH_KEEP set keeps it and prints its path.
 */
int bench_workdir_make(char *dir, size_t cap);
void bench_workdir_done(const char *dir);

/*
 * Starts praxisd (the program at exe) with --data-dir dir/data and --socket
 * dir/praxis.sock; dir must exist. Returns NULL after printing why (and the daemon's log
 * when it started and died). Release with bench_praxisd_stop. bench_praxisd_start is
 * bench_praxisd_start_opts with every option NULL: one node with no peer links.
 */
struct bench_praxisd *bench_praxisd_start(const char *exe, const char *dir);
struct bench_praxisd *bench_praxisd_start_opts(const char *exe, const char *dir,
                                               const struct bench_praxisd_opts *opts);

/* The daemon's pid, and the store it writes (dir/data/store.db). */
int bench_praxisd_pid(const struct bench_praxisd *d);
const char *bench_praxisd_store_path(const struct bench_praxisd *d);

/* The daemon's peak resident set (VmHWM of /proc/PID/status) in bytes; 0 and a message
 * when it cannot be read. */
uint64_t bench_praxisd_peak_rss(const struct bench_praxisd *d);

/* The CPU time the daemon has used so far, all threads, user and system, in seconds (from
 * /proc/PID/stat); a negative value and a message when it cannot be read. */
double bench_praxisd_cpu_seconds(const struct bench_praxisd *d);

/*
 * Stops the daemon: SIGTERM, then up to 10 s for it to exit, then SIGKILL. Frees d.
 * Returns 0 when it exited by itself with status 0, -1 otherwise (printed, with its log).
 * NULL is a no-op returning 0.
 */
int bench_praxisd_stop(struct bench_praxisd *d);

/* Connects to the daemon's socket. NULL after printing why. Close with bench_conn_close. */
struct bench_conn *bench_conn_open(const struct bench_praxisd *d);
void bench_conn_close(struct bench_conn *c);

/*
 * Sets req->seq to the connection's next sequence number, encodes req and writes the whole
 * frame. Returns 0, or -1 after printing why.
 */
int bench_conn_send(struct bench_conn *c, struct px_api_request *req);

/*
 * Reads and decodes the next response frame. *res points into the connection and stays
 * valid until the next call (its records borrow the frame). Returns 0, or -1 after
 * printing why (closed, timed out, or a frame that does not decode).
 */
int bench_conn_recv(struct bench_conn *c, const struct px_api_response **res);

/*
 * For waiting on several connections with poll(): the socket, and whether a whole response
 * frame is already buffered (then bench_conn_recv returns it without reading, and poll
 * would not say so).
 */
int bench_conn_fd(const struct bench_conn *c);
bool bench_conn_has_frame(const struct bench_conn *c);

/*
 * Sends a request of op without arguments (STATUS, PEERS) and reads its one answer, which
 * must have the request's seq and code 0. *res is as for bench_conn_recv. 0, or -1 after
 * printing why.
 */
int bench_conn_call(struct bench_conn *c, enum px_api_op op, const struct px_api_response **res);

#endif
