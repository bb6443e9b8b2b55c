/* SPDX-License-Identifier: MIT */
/*
 * testnode.h - a praxisd network node for integration tests: a px_testd with its data
 * directory, its public key (learnt from a first start), a loopback port to listen on and
 * the peer lines other nodes need to reach it; plus the bounded polls that tests of
 * several nodes share (the log, `praxis peers --json`, record counts).
 *
 * Every wait polls against a deadline the caller gives, with px_testd_poll_pause between
 * two readings, and fails the current Criterion test (showing the node's log) when the
 * deadline passes.
 */
#ifndef PX_TESTNODE_H
#define PX_TESTNODE_H

#include <stddef.h>
#include <stdint.h>

#include "daemon_util.h"

struct px_testnode {
    struct px_testd d;
    char *dir;       /* parent/name (owned) */
    char key[65];    /* its public key, hex */
    uint16_t port;   /* the loopback port it listens on */
    char listen[32]; /* "127.0.0.1:PORT" */
    char *conf;      /* peer lines added by px_testnode_add_peer (owned), or NULL */
};

/*
 * Creates the node's data directory parent/name and its key: starts praxisd there once
 * (listening nowhere), reads public_key from `praxis status --json`, stops it. Then picks
 * its port with pick_port: px_test_free_port, or px_test_listen_port for a node that is
 * restarted (or started among many that dial each other), whose port must stay out of
 * the kernel's ephemeral range. The daemon is not running afterwards; fails the test on
 * error.
 */
void px_testnode_init(struct px_testnode *n, const char *parent, const char *name,
                      uint16_t (*pick_port)(void));

/*
 * Starts the node listening on n->listen with the configuration text config (copied to
 * dir/praxisd.conf), or with n->conf when config is NULL (no configuration when both are
 * NULL). Waits until it is ready, as px_testd_start_opts.
 */
void px_testnode_start(struct px_testnode *n, const char *config);

/* Stops the node if it runs and frees what it holds (not n itself; the directory stays). */
void px_testnode_free(struct px_testnode *n);

/* Appends "peer = 127.0.0.1:PORT KEY\n" for p to n->conf, which starts as "[network]\n". */
void px_testnode_add_peer(struct px_testnode *n, const struct px_testnode *p);

/*
 * "[network]\n", then extra (NULL: nothing; its own lines, each ending in "\n"), then one
 * peer line per node of peers[0..np). The caller frees the text.
 */
char *px_testnode_peer_config(const char *extra, struct px_testnode *const *peers, size_t np);

/* Waits until the node's log contains text, at most timeout_ms. */
void px_testnode_wait_log(const struct px_testnode *n, const char *text, int timeout_ms);

/*
 * Waits until the node's log has at least want lines that hold t1 and, where it is not
 * NULL, t2 (as px_testd_log_count), at most timeout_ms.
 */
void px_testnode_wait_log_count(const struct px_testnode *n, const char *t1, const char *t2,
                                int want, int timeout_ms);

/*
 * Waits until the node's log has a line that holds t1 and, where it is not NULL, t2, at most
 * timeout_ms; returns the first such line, without its newline (malloc'd, the caller frees
 * it).
 */
char *px_testnode_wait_log_line(const struct px_testnode *n, const char *t1, const char *t2,
                                int timeout_ms);

/*
 * Waits until px_testd_count_peers(&n->d, key, state) is want in `readings` readings in a
 * row (more than one where a row about to change, such as a duplicate connection about to
 * be closed, could be caught in passing), at most timeout_ms.
 */
void px_testnode_wait_peers(const struct px_testnode *n, const char *key, const char *state,
                            int want, int readings, int timeout_ms);

/*
 * Polls `praxis status --json` on nodes[0..n) (at most 16) until each holds exactly want
 * records; a node that got there is not asked again. Returns the milliseconds it took. At
 * the deadline it fails the test, saying context, the first node that had not got there,
 * its count and the end of its log.
 */
int64_t px_testnode_wait_records(struct px_testnode *const *nodes, size_t n, uint64_t want,
                                 int timeout_ms, const char *context);

/*
 * Publishes one good-practice case titled title at n through `praxis publish --json -`
 * (with a body of body_len bytes when body_len > 0) and, when id is not NULL, writes its
 * id (64 hex digits) to id[65]. Fails the test if praxis does.
 */
void px_testnode_publish(const struct px_testnode *n, const char *title, size_t body_len, char *id);

/* Publishes count good-practice cases titled "<prefix> <i>" (i from 0) at n through one
 * `praxis publish --json -`. Fails the test if praxis does. */
void px_testnode_publish_many(const struct px_testnode *n, const char *prefix, size_t count);

#endif
