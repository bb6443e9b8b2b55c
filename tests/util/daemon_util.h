/* SPDX-License-Identifier: MIT */
/*
 * daemon_util.h - helpers for tests that run a real praxisd and drive the real praxis.
 *
 * Every wait here is bounded and event-driven: readiness comes through a pipe the daemon
 * writes "ready\n" to (--ready-fd), a child's end through a pidfd, output through poll on
 * a pipe; nothing sleeps to wait. The helpers fail the current Criterion test (cr_assert)
 * when something cannot be done, showing the daemon's log where it helps.
 */
#ifndef PX_DAEMON_UTIL_H
#define PX_DAEMON_UTIL_H

#include <sys/types.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "testutil.h"

/* How long a daemon may take to become ready, or to stop after SIGTERM. */
#define PX_TESTD_START_MS 10000
#define PX_TESTD_STOP_MS  10000
/* How long one praxis command may take. */
#define PX_TESTD_RUN_MS 20000

/* A praxisd child process. */
struct px_testd {
    pid_t pid;    /* 0 when not running */
    int pidfd;    /* readable once the process has exited */
    char *dir;    /* its data directory (owned; not removed by these helpers) */
    char *sock;   /* dir/praxis.sock */
    char *log;    /* dir/praxisd.log: the daemon's stderr, appended across restarts */
    char *listen; /* --listen: "" (the default) listens nowhere */
    char *conf;   /* dir/praxisd.conf when a config text was given, else NULL */
    char *level;  /* --log-level; "info" by default */
};

/* What px_testd_start_opts may change; zero-initialise, NULL means the default. */
struct px_testd_options {
    const char *listen;    /* "127.0.0.1:PORT", or NULL/"" to listen nowhere */
    const char *config;    /* configuration text, written to dir/praxisd.conf and passed
                            * with -c (e.g. "[network]\npeer = ...\n") */
    const char *log_level; /* NULL: info */
    const char *log_path;  /* where its stderr goes; NULL: dir/praxisd.log (a test whose
                            * data directory fills up keeps its log elsewhere) */
};

/*
 * Starts praxisd with --data-dir dir (created 0700 if missing) and --ready-fd, its stderr
 * appended to dir/praxisd.log, and waits until it is serving. The socket path must be
 * shorter than 100 bytes. Fails the test if praxisd does not become ready in time.
 */
void px_testd_start(struct px_testd *d, const char *dir);

/*
 * As px_testd_start, with options. Tests run many daemons in parallel, so a daemon listens
 * for peers only when opt->listen names an address; pick the port with px_test_free_port.
 */
void px_testd_start_opts(struct px_testd *d, const char *dir, const struct px_testd_options *opt);

/*
 * A loopback TCP port that was free a moment ago: binds 127.0.0.1:0, reads the port the
 * kernel chose, closes the socket.
 */
uint16_t px_test_free_port(void);

/*
 * A loopback TCP port for a daemon that will be stopped and started again on it: one
 * just below the kernel's ephemeral range (which connect() never hands out, so another
 * node's outgoing connection cannot take it while the daemon is down), free now and not
 * returned before by this process. Falls back to px_test_free_port when the range cannot
 * be read or leaves no room below it.
 */
uint16_t px_test_listen_port(void);

/* Starts the same daemon again (after a stop or a kill) on the same directory. */
void px_testd_restart(struct px_testd *d);

/*
 * Sends SIGTERM and waits for the exit, at most PX_TESTD_STOP_MS; then SIGKILL. Returns
 * the exit code, or 128 + signal, or -1 when it had to be killed. No-op (returns 0) when
 * it is not running.
 */
int px_testd_stop(struct px_testd *d);

/* SIGKILL, then waits for the process to be gone. */
void px_testd_kill9(struct px_testd *d);

/* Is the daemon's process running, i.e. started and not exited (it is not reaped)? */
bool px_testd_running(const struct px_testd *d);

/*
 * For a daemon that is not running (stopped, or killed): opens dir/store.db as praxisd
 * does at start (which recovers the WAL), requires PRAGMA integrity_check to say "ok",
 * and returns the record count. Fails the test, naming the directory, otherwise.
 */
uint64_t px_testd_check_store(const struct px_testd *d);

/* Stops the daemon if it runs and frees the strings (the directory stays). */
void px_testd_free(struct px_testd *d);

/* The daemon's log so far (malloc'd, NUL-terminated; never NULL). */
char *px_testd_log(const struct px_testd *d);

/* The last few KiB of d's log (malloc'd), for failure messages. */
char *px_testd_log_tail(const struct px_testd *d);

/*
 * Runs the built praxis with "--socket SOCK" and the NULL-terminated arguments after
 * in_len, feeding in[0..in_len) on stdin; fails the test if it cannot run or times out.
 */
void px_testd_praxis(const struct px_testd *d, struct px_run *r, const void *in, size_t in_len,
                     ...);

/* The record count of `praxis status --json`. */
uint64_t px_testd_records(const struct px_testd *d);

/* A Unix-socket connection to the daemon, for raw frames (fails the test on error). */
int px_testd_connect(const struct px_testd *d);

/*
 * Reads one frame (4-byte big-endian length and body) from fd within timeout_ms: 0 with
 * *body (malloc'd) and *len; 1 when the peer closed the connection first; -1 on timeout,
 * a read error, or a length over max.
 */
int px_testd_read_frame(int fd, size_t max, uint8_t **body, size_t *len, int timeout_ms);

/* A child process whose stdout the test reads. */
struct px_child {
    pid_t pid;
    int pidfd;
    int out; /* read end of its stdout; -1 once at EOF */
    char *buf;
    size_t len, cap;
    int status; /* once reaped: exit code or 128 + signal; -1 if it had to be killed */
};

/*
 * Starts argv[0] (a path) with stdin from /dev/null, stdout to a pipe, stderr appended to
 * err_path (or /dev/null when NULL). envp_extra as for px_test_run.
 */
void px_child_spawn(struct px_child *c, char *const argv[], const char *err_path,
                    char *const envp_extra[]);

/*
 * The next line of the child's output, without its newline (malloc'd), or NULL when none
 * came within timeout_ms or the output ended.
 */
char *px_child_read_line(struct px_child *c, int timeout_ms);

/*
 * Reads the output of children[0..n) until each has closed it, all within timeout_ms,
 * then reaps them (their whole output is in buf[0..len)). Children that overrun the
 * deadline are killed; returns -1 then, else 0.
 */
int px_child_finish(struct px_child *children, size_t n, int timeout_ms);

/* Sends sig to the child. */
void px_child_signal(struct px_child *c, int sig);

void px_child_free(struct px_child *c);

/* Monotonic milliseconds, for deadlines and timings. */
int64_t px_testd_now_ms(void);

/* The pause between two readings of a condition that is polled against a deadline. */
#define PX_TESTD_POLL_MS 50

/*
 * Sleeps PX_TESTD_POLL_MS. Only for use inside a bounded polling loop (each reading may
 * spawn praxis, so this leaves the loaded cores to the daemons); never as a wait by itself.
 */
void px_testd_poll_pause(void);

/* Does the daemon's log so far contain needle? */
bool px_testd_log_has(const struct px_testd *d, const char *needle);

/*
 * The lines of d's log so far that hold t1, and t2 and t3 where they are not NULL (NULL
 * matches any line).
 */
int px_testd_log_count(const struct px_testd *d, const char *t1, const char *t2, const char *t3);

/*
 * The first line of d's log so far that holds t1 and, where it is not NULL, t2; without its
 * newline (malloc'd, the caller frees it), or NULL when there is none.
 */
char *px_testd_log_line(const struct px_testd *d, const char *t1, const char *t2);

/*
 * The ids of every current case that `praxis query --json --limit 0 a1 a2` lists, as a
 * JSON object whose keys are the ids (the caller owns the reference). a1 and a2 are extra
 * query arguments, NULL-terminated: a1 NULL means none, a2 NULL means only a1. Fails the
 * test, naming d's directory, if praxis fails or prints a line that is not JSON or has no
 * 64-digit id.
 */
json_t *px_testd_query_ids(const struct px_testd *d, const char *a1, const char *a2);

/*
 * The rows of `praxis peers --json` whose public_key is key (NULL: any row, with a key or
 * not) and whose state is state (NULL: any state). Fails the test if praxis fails or a
 * row is not JSON.
 */
int px_testd_count_peers(const struct px_testd *d, const char *key, const char *state);

#endif
