/* SPDX-License-Identifier: MIT */
/*
 * log.h - praxisd's log lines, OpenBSD style, plus helpers for logging what peers send.
 *
 * Every event is one line, written with a single write(2) so that lines from several
 * threads or processes never interleave within a line:
 *
 *     2026-11-28T16:45:01.123Z praxisd[4242] warn: message
 *
 * The time is UTC with milliseconds. A message never adds a raw newline or other control
 * character to the output: after formatting, bytes below 0x20 and 0x7f are written as \xNN
 * escapes, so a hostile string cannot forge a second log line. Bytes a peer or a client
 * sent should still go through px_log_sanitize() first, which also escapes non-ASCII bytes
 * and caps the length. A message longer than PX_LOG_MAX_LINE is cut and ends in "...".
 *
 * Global state: the logger's level and output descriptor are the only globals in daemon/
 * besides signal flags. They start as PX_LOG_INFO on stderr (fd 2), so logging works before
 * px_log_init(). Set them at startup, before any other thread runs; the log functions only
 * read them and are then safe to call from any thread.
 *
 * `warn` appends ": " and strerror(errno), `warnx` does not (OpenBSD warn(3)/warnx(3)).
 * `error` is the level for failures the daemon survives but an operator must look at; it
 * does not append errno (pass px_strerror(rc) or strerror(e) explicitly). px_fatal and
 * px_fatalx log at level "fatal" whatever the level, then exit(1): use them only for
 * startup failures and broken invariants, never for anything a peer or client sent.
 * Every function preserves errno.
 */
#ifndef PX_LOG_H
#define PX_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The longest line written, newline included; a longer message is cut and ends in "...". */
#define PX_LOG_MAX_LINE 2048

enum px_log_level {
    PX_LOG_DEBUG,
    PX_LOG_INFO,
    PX_LOG_WARN,
    PX_LOG_ERROR,
};

/* Sets the minimum level that is written and the descriptor lines go to (not closed here). */
void px_log_init(enum px_log_level level, int fd);
void px_log_set_level(enum px_log_level level);
enum px_log_level px_log_get_level(void);

/*
 * Parses "debug", "info", "warn" or "error" (exactly; case matters). 0 and *out set, or
 * PX_EINVAL and *out untouched.
 */
int px_log_level_parse(const char *s, enum px_log_level *out);
/* "debug", "info", "warn", "error"; "unknown" for a value outside the enum. Static storage. */
const char *px_log_level_name(enum px_log_level level);

void px_log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void px_log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void px_log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void px_log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void px_log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void px_fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void px_fatalx(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/*
 * Renders len untrusted bytes as printable ASCII into out (capacity cap, always
 * NUL-terminated when cap > 0): bytes 0x20..0x7e are copied, except the backslash, which
 * becomes "\\"; every other byte becomes "\xNN" (lowercase hex). When the rendering does not
 * fit, it is cut at an escape boundary and ends in "..." (as many dots as fit when cap < 4),
 * so a reader can tell it was cut. bytes may be NULL when len is 0.
 *
 * Returns out (or "" when cap is 0), so a call can be an argument of a log call:
 *     char b[64];
 *     px_log_warnx("peer %s: bad hello %s", id, px_log_sanitize(b, sizeof(b), p, n));
 */
const char *px_log_sanitize(char *out, size_t cap, const void *bytes, size_t len);

/*
 * A fixed-window rate limit for repeated log lines (or anything else). Zero-initialise it.
 * Pure: the caller passes the time, from a monotonic clock in milliseconds.
 */
struct px_ratelimit {
    uint64_t window_start_ms;
    unsigned count; /* events allowed in the current window */
};

/*
 * Returns true when one more event may pass: at most max_per_window events per window of
 * window_ms milliseconds. A window starts at the first event after the previous window
 * ended; a clock that went backwards also starts a new window. max_per_window == 0 refuses
 * everything; window_ms == 0 starts a new window at every call, so every event passes.
 */
bool px_ratelimit_allow(struct px_ratelimit *rl, uint64_t now_ms, unsigned max_per_window,
                        uint64_t window_ms);

#endif
