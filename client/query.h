/* SPDX-License-Identifier: MIT */
/*
 * query.h - the reading commands: get, query and status; and fetching a record by id for
 * the commands that change one (correct, retract).
 */
#ifndef PX_QUERY_H
#define PX_QUERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cli.h"
#include "conn.h"
#include "protocol/record.h"

int px_query_get(const struct px_cli_command *cmd, struct px_cli_ctx *ctx, int argc, char **argv);
int px_query_run(const struct px_cli_command *cmd, struct px_cli_ctx *ctx, int argc, char **argv);
int px_query_status(const struct px_cli_command *cmd, struct px_cli_ctx *ctx, int argc,
                    char **argv);
int px_query_peers(const struct px_cli_command *cmd, struct px_cli_ctx *ctx, int argc, char **argv);

/* Records fetched with px_query_fetch: owned copies of their signed bytes. */
struct px_query_got {
    size_t n;
    uint8_t **raw;
    size_t *len;
};

/*
 * Asks praxisd for the record with the hex id prefix (1 to 64 digits), and with history
 * for every version of its correction chain, oldest first; a retracted id yields its
 * retraction. The records are copied into got (free with px_query_got_free); they are not
 * checked yet (px_card_check). Returns 0; a negative PX_E* code the daemon answered with
 * (PX_ENOTFOUND, PX_EAMBIGUOUS, ...), not printed; or 1 after printing a connection error.
 */
int px_query_fetch(struct px_conn *c, const char *prefix, bool history, struct px_query_got *got);
void px_query_got_free(struct px_query_got *got);

/*
 * Prints the error for a code px_query_fetch returned (negative) about prefix, as
 * "praxis: NAME: ..." and returns the exit code: PX_CLI_EXIT_NOTFOUND for PX_ENOTFOUND,
 * else PX_CLI_EXIT_ERROR.
 */
int px_query_fetch_failed(const char *name, const char *prefix, int code);

/* Is rec a retraction given in answer to prefix, i.e. does prefix name the retracted record
 * rather than the retraction itself? */
bool px_query_is_retracted_answer(const struct px_record *rec, const char *prefix);

/* Is rec an answer for prefix at all: its id, or for a retraction its target, starts with
 * prefix? (A version of a correction chain other than the one named is not.) */
bool px_query_answers(const struct px_record *rec, const char *prefix);

#endif
