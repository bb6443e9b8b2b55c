/* SPDX-License-Identifier: MIT */
/*
 * conn.h - one blocking connection from praxis to the local praxisd.
 *
 * The local API (protocol/api.h) over a Unix socket: the client numbers its requests
 * (seq, from 1), and every response frame echoes the seq of the request it answers. Up to
 * a few requests may be in flight on one connection; the caller matches responses to
 * requests by seq. Every read is bounded: a frame header over PX_API_MAX_FRAME or of
 * length 0 is a protocol error, and nothing larger is ever allocated.
 *
 * Every function that fails prints one "praxis: ..." line itself, unless it says
 * otherwise, so a command only has to choose its exit code.
 */
#ifndef PX_CONN_H
#define PX_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "protocol/api.h"

/* The socket when neither --socket nor PRAXIS_SOCKET names one: praxisd's default
 * data_dir (config/praxisd.conf), relative to the current directory. */
#define PX_CONN_DEFAULT_SOCKET "data/praxis.sock"
#define PX_CONN_SOCKET_ENV     "PRAXIS_SOCKET"

/* Returned by px_conn_recv when the interrupt descriptor became readable. */
#define PX_CONN_INTERRUPTED 1

struct px_conn;

/* The socket to use: explicit if not NULL, else $PRAXIS_SOCKET if set and not empty,
 * else PX_CONN_DEFAULT_SOCKET. Static or borrowed storage. */
const char *px_conn_socket_path(const char *explicit_path);

/*
 * Connects to the socket at path. Returns 0 and *out (free with px_conn_close), or -1
 * after printing "praxis: cannot reach praxisd at PATH: ... (is it running? ...)": the
 * caller exits with PX_CLI_EXIT_UNREACHABLE.
 */
int px_conn_open(const char *path, struct px_conn **out);

/* Closes the connection; NULL is a no-op. */
void px_conn_close(struct px_conn *c);

/*
 * A descriptor that px_conn_recv watches beside the socket (a self-pipe written by a
 * signal handler): when it is readable, px_conn_recv returns PX_CONN_INTERRUPTED. -1 for
 * none (the default).
 */
void px_conn_set_interrupt(struct px_conn *c, int fd);

/*
 * Encodes req with the next seq (stored into req->seq) and writes the frame. 0, or -1
 * with an error printed.
 */
int px_conn_send(struct px_conn *c, struct px_api_request *req);

/*
 * Reads and decodes the next response frame into *res, which borrows the connection's
 * buffer: it is valid until the next px_conn_recv or px_conn_close. Returns 0,
 * PX_CONN_INTERRUPTED, or -1 with an error printed (the connection is then unusable):
 * the daemon closed the connection, a bad frame, or a connection-level error from the
 * daemon (an error frame with seq 0, e.g. too many clients).
 */
int px_conn_recv(struct px_conn *c, const struct px_api_response **res);

/*
 * As px_conn_recv for a single request in flight: a response with another seq is a
 * protocol error (printed, -1).
 */
int px_conn_recv_seq(struct px_conn *c, uint64_t seq, const struct px_api_response **res);

/* The socket path, as given to px_conn_open. */
const char *px_conn_path(const struct px_conn *c);

/*
 * Prints a daemon's error response as one line: "praxis: WHAT: MESSAGE (ENAME)", where
 * MESSAGE is the daemon's text (escaped) or px_strerror of the code.
 */
void px_conn_print_error(const char *what, const struct px_api_response *res);

#endif
