/* SPDX-License-Identifier: MIT */
/*
 * cli.h - the plumbing every praxis command shares: exit codes, the command table entry,
 * error lines, option errors, reading input, and time formats.
 *
 * Scripts depend on the exit codes (README.md, "The praxis command"), so a code keeps its
 * meaning forever: add new ones at the end.
 */
#ifndef PX_CLI_H
#define PX_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum px_cli_exit {
    PX_CLI_EXIT_OK = 0,          /* success */
    PX_CLI_EXIT_ERROR = 1,       /* an error, including invalid input or a bad signature */
    PX_CLI_EXIT_USAGE = 2,       /* bad command line: unknown command or option, bad value */
    PX_CLI_EXIT_UNREACHABLE = 3, /* the daemon could not be reached */
    PX_CLI_EXIT_NOTFOUND = 4,    /* the thing asked for does not exist */
};

/* Room for an escaped path or argument in an error line. */
#define PX_CLI_SHOW_MAX 512

/* What the options before the command chose, for every command. */
struct px_cli_ctx {
    const char *socket; /* --socket PATH before the command, or NULL */
};

struct px_cli_command {
    const char *name;
    const char *summary;
    const char *help;
    /* argv[0] is the command's name; returns an exit code. */
    int (*run)(const struct px_cli_command *cmd, struct px_cli_ctx *ctx, int argc, char **argv);
    bool daemon; /* talks to praxisd (listed apart in --help) */
};

/* Values of long options that have no short form, shared so they never collide. */
enum {
    PX_CLI_OPT_CREATED = 256,
    PX_CLI_OPT_JSON,
    PX_CLI_OPT_SOCKET,
    PX_CLI_OPT_HISTORY,
    PX_CLI_OPT_VERIFY,
    PX_CLI_OPT_FIELD, /* the case-field options of publish and correct start here */
};

/* Prints "praxis: <message>" as one line on stderr. */
void px_cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Escapes untrusted text (a path, an argument) for an error line into out; returns out. */
const char *px_cli_show(const char *s, char *out, size_t cap);

/*
 * Reports the option getopt_long just refused (c is '?' or ':', argv as given to
 * getopt_long); returns PX_CLI_EXIT_USAGE.
 */
int px_cli_bad_option(const struct px_cli_command *cmd, int c, char **argv);

/* Prints "praxis: NAME: unexpected argument 'X' (see ...)"; returns PX_CLI_EXIT_USAGE. */
int px_cli_extra_operand(const struct px_cli_command *cmd, const char *arg);

/*
 * Checks that id (NULL when none was given) is a record id or a prefix of one: 1 to 64
 * hex digits. 0, or PX_CLI_EXIT_USAGE with "praxis: NAME: ..." printed.
 */
int px_cli_check_id(const struct px_cli_command *cmd, const char *id);

/*
 * Takes the one id operand left after the options (argv[*optind]), checks it with
 * px_cli_check_id and refuses anything after it. 0 and *id, or PX_CLI_EXIT_USAGE printed.
 */
int px_cli_take_id(const struct px_cli_command *cmd, int argc, char **argv, int *optind_io,
                   const char **id);

/* Opens FILE for reading, or returns stdin for NULL or "-". -1 with an error printed. */
int px_cli_open_input(const char *path);

/* "standard input" for NULL or "-", else path. */
const char *px_cli_input_name(const char *path);

/*
 * Reads all of fd into a malloc'd buffer (*out, freed by the caller) of at most max bytes.
 * 0, or -1 with an error printed (naming name).
 */
int px_cli_read_all(int fd, const char *name, size_t max, uint8_t **out, size_t *len);

/* Writes all n bytes to fd, retrying on EINTR. 0, or -1 with errno set. */
int px_cli_write_all(int fd, const void *p, size_t n);

/* Formats ms since the epoch as ISO 8601 UTC with milliseconds: 2024-05-01T12:00:00.000Z. */
void px_cli_format_time(uint64_t ms, char *out, size_t cap);

/* The date part only: 2024-05-01. */
void px_cli_format_date(uint64_t ms, char *out, size_t cap);

/*
 * Parses a point in time for --since and --until: YYYY-MM-DD, YYYY-MM-DDTHH:MM:SSZ (UTC),
 * or milliseconds since the Unix epoch. With end_of set, a date means the last
 * millisecond of that day and a time the last millisecond of that second, so that an
 * inclusive upper bound covers what was named. 0, or -1 when s is none of these.
 */
int px_cli_parse_time(const char *s, bool end_of, uint64_t *ms);

/* Is s[0..len) 1 to max hex digits? */
bool px_cli_is_hex(const char *s, size_t len, size_t max);

#endif
