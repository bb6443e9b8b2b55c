/* SPDX-License-Identifier: MIT */
/* test_log.c - log line format, levels, errno handling, sanitising and rate limits. */
#include <errno.h>
#include <fcntl.h>
#include <regex.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "daemon/log.h"
#include "protocol/err.h"

/* ---- Capturing lines: the logger writes into a pipe we read back without blocking. ---- */

static int cap_fds[2] = {-1, -1};

static void
capture(enum px_log_level level)
{
    cr_assert_eq(pipe(cap_fds), 0);
    cr_assert_eq(fcntl(cap_fds[0], F_SETFL, O_NONBLOCK), 0);
    px_log_init(level, cap_fds[1]);
}

/* Everything written so far, NUL-terminated; "" when nothing was. */
static const char *
captured(void)
{
    static char buf[4 * PX_LOG_MAX_LINE];
    size_t len = 0;

    for (;;) {
        ssize_t n = read(cap_fds[0], buf + len, sizeof(buf) - 1 - len);

        if (n <= 0) {
            cr_assert(n == 0 || errno == EAGAIN, "read: %s", strerror(errno));
            break;
        }
        len += (size_t)n;
    }
    buf[len] = '\0';
    return buf;
}

/* The part of a line after "praxisd[PID] ", checking the prefix on the way. */
static const char *
after_prefix(const char *line)
{
    char want[64];
    const char *p = strchr(line, ' ');

    cr_assert_not_null(p, "no space in \"%s\"", line);
    snprintf(want, sizeof(want), " praxisd[%ld] ", (long)getpid());
    cr_assert_eq(strncmp(p, want, strlen(want)), 0, "bad prefix in \"%s\"", line);
    return p + strlen(want);
}

Test(log, line_format)
{
    regex_t re;
    char pattern[256];
    const char *out;

    capture(PX_LOG_DEBUG);
    px_log_warnx("hello %d %s", 5, "world");
    out = captured();
    snprintf(pattern, sizeof(pattern),
             "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z "
             "praxisd\\[%ld\\] warn: hello 5 world\n$",
             (long)getpid());
    cr_assert_eq(regcomp(&re, pattern, REG_EXTENDED), 0);
    cr_assert_eq(regexec(&re, out, 0, NULL, 0), 0, "line \"%s\" does not match", out);
    regfree(&re);
}

Test(log, level_labels)
{
    capture(PX_LOG_DEBUG);
    px_log_debug("a");
    cr_assert_str_eq(after_prefix(captured()), "debug: a\n");
    px_log_info("b");
    cr_assert_str_eq(after_prefix(captured()), "info: b\n");
    px_log_warnx("c");
    cr_assert_str_eq(after_prefix(captured()), "warn: c\n");
    px_log_error("d");
    cr_assert_str_eq(after_prefix(captured()), "error: d\n");
}

Test(log, warn_appends_strerror_and_keeps_errno)
{
    char want[256];

    capture(PX_LOG_INFO);
    errno = ENOENT;
    px_log_warn("open %s", "x.conf");
    cr_assert_eq(errno, ENOENT, "errno changed");
    snprintf(want, sizeof(want), "warn: open x.conf: %s\n", strerror(ENOENT));
    cr_assert_str_eq(after_prefix(captured()), want);
}

Test(log, warnx_does_not_append_errno)
{
    capture(PX_LOG_INFO);
    errno = EACCES;
    px_log_warnx("plain");
    cr_assert_eq(errno, EACCES);
    cr_assert_str_eq(after_prefix(captured()), "warn: plain\n");
    errno = EACCES;
    px_log_error("also plain");
    cr_assert_str_eq(after_prefix(captured()), "error: also plain\n");
}

Test(log, level_filters)
{
    capture(PX_LOG_WARN);
    cr_assert_eq(px_log_get_level(), PX_LOG_WARN);
    px_log_debug("no");
    px_log_info("no");
    cr_assert_str_eq(captured(), "", "a line below the level was written");
    px_log_warnx("yes");
    cr_assert_str_eq(after_prefix(captured()), "warn: yes\n");
    px_log_set_level(PX_LOG_ERROR);
    px_log_warnx("no");
    cr_assert_str_eq(captured(), "");
    px_log_error("yes");
    cr_assert_str_eq(after_prefix(captured()), "error: yes\n");
    px_log_set_level(PX_LOG_DEBUG);
    px_log_debug("yes");
    cr_assert_str_eq(after_prefix(captured()), "debug: yes\n");
}

Test(log, message_control_bytes_are_escaped)
{
    const char *out;

    capture(PX_LOG_INFO);
    /* A forged second line and a terminal escape in an argument. */
    px_log_info("peer said %s", "hi\n2026-01-01T00:00:00.000Z praxisd[1] error: fake\x1b[31m");
    out = captured();
    cr_assert_str_eq(after_prefix(out), "info: peer said hi\\x0a2026-01-01T00:00:00.000Z "
                                        "praxisd[1] error: fake\\x1b[31m\n");
    cr_assert_eq(strchr(out, '\n'), out + strlen(out) - 1, "more than one line");
    px_log_warnx("tab\there, DEL \x7f, CR \r");
    cr_assert_str_eq(after_prefix(captured()), "warn: tab\\x09here, DEL \\x7f, CR \\x0d\n");
    /* Non-ASCII text (a UTF-8 path) stays readable in a log message. */
    px_log_info("path %s", "/srv/d\xc3\xa9j\xc3\xa0");
    cr_assert_str_eq(after_prefix(captured()), "info: path /srv/d\xc3\xa9j\xc3\xa0\n");
}

Test(log, long_message_is_cut)
{
    static char big[3 * PX_LOG_MAX_LINE];
    const char *out;
    size_t len;

    memset(big, 'a', sizeof(big) - 1);
    capture(PX_LOG_INFO);
    px_log_info("%s", big);
    out = captured();
    len = strlen(out);
    cr_assert_eq(len, PX_LOG_MAX_LINE, "length %zu", len);
    cr_assert_str_eq(out + len - 4, "...\n");
    cr_assert_eq(strchr(out, '\n'), out + len - 1);

    /* Cut inside escapes: no half escape before the dots. */
    memset(big, '\n', sizeof(big) - 1);
    px_log_info("%s", big);
    out = captured();
    len = strlen(out);
    cr_assert_leq(len, PX_LOG_MAX_LINE);
    cr_assert_str_eq(out + len - 4, "...\n");
    cr_assert_eq(out[len - 8], '\\', "escape cut in \"%s\"", out + len - 12);
}

Test(log, fatalx_logs_and_exits_1, .exit_code = 1)
{
    px_log_init(PX_LOG_ERROR, 2);
    px_fatalx("cannot start: %s", "test");
    cr_assert_fail("px_fatalx returned");
}

Test(log, fatal_exits_1, .exit_code = 1)
{
    errno = EPERM;
    px_fatal("cannot bind");
}

Test(log, level_parse_and_name)
{
    static const char *const names[] = {"debug", "info", "warn", "error"};
    enum px_log_level l;

    for (int i = 0; i < 4; i++) {
        l = (enum px_log_level)99;
        cr_assert_eq(px_log_level_parse(names[i], &l), 0);
        cr_assert_eq((int)l, i);
        cr_assert_str_eq(px_log_level_name(l), names[i]);
    }
    l = PX_LOG_INFO;
    cr_assert_eq(px_log_level_parse("INFO", &l), PX_EINVAL);
    cr_assert_eq(px_log_level_parse("warning", &l), PX_EINVAL);
    cr_assert_eq(px_log_level_parse("", &l), PX_EINVAL);
    cr_assert_eq(px_log_level_parse("info ", &l), PX_EINVAL);
    cr_assert_eq(l, PX_LOG_INFO, "output changed on failure");
    cr_assert_str_eq(px_log_level_name((enum px_log_level)42), "unknown");
}

/* ---- px_log_sanitize ---- */

Test(log, sanitize_passes_printable_ascii)
{
    char out[64];

    cr_assert_str_eq(px_log_sanitize(out, sizeof(out), "Hello, world ~!", 15), "Hello, world ~!");
    cr_assert_str_eq(px_log_sanitize(out, sizeof(out), NULL, 0), "");
}

Test(log, sanitize_escapes_control_and_high_bytes)
{
    static const unsigned char in[] = {'a', '\n', 'b', '\r', 0x00, 0x1b, 0x7f, 0x80, 0xff, '\\'};
    char out[64];
    const char *r;

    r = px_log_sanitize(out, sizeof(out), in, sizeof(in));
    cr_assert_eq(r, out, "does not return out");
    cr_assert_str_eq(out, "a\\x0ab\\x0d\\x00\\x1b\\x7f\\x80\\xff\\\\");
    for (const char *p = out; *p != '\0'; p++) {
        cr_assert(*p >= 0x20 && *p <= 0x7e, "unprintable byte 0x%02x", (unsigned char)*p);
    }
}

Test(log, sanitize_caps_length_with_dots)
{
    char out[16];
    char in[100];

    memset(in, 'x', sizeof(in));
    px_log_sanitize(out, sizeof(out), in, sizeof(in));
    cr_assert_str_eq(out, "xxxxxxxxxxxx...");
    cr_assert_eq(strlen(out), sizeof(out) - 1);

    /* Exactly fits: no dots. */
    px_log_sanitize(out, sizeof(out), in, 15);
    cr_assert_str_eq(out, "xxxxxxxxxxxxxxx");
    /* One more than fits: cut. */
    px_log_sanitize(out, sizeof(out), in, 16);
    cr_assert_str_eq(out, "xxxxxxxxxxxx...");

    /* Never half an escape: 3 escapes (12) + "..." = 15. */
    memset(in, '\n', sizeof(in));
    px_log_sanitize(out, sizeof(out), in, sizeof(in));
    cr_assert_str_eq(out, "\\x0a\\x0a\\x0a...");
    /* "ab" then an escape that does not fit beside the dots. */
    px_log_sanitize(out, 8, "ab\ncd", 5);
    cr_assert_str_eq(out, "ab...");
}

Test(log, sanitize_tiny_buffers)
{
    char out[4];

    cr_assert_str_eq(px_log_sanitize(out, 0, "abc", 3), "");
    memset(out, 'z', sizeof(out));
    cr_assert_str_eq(px_log_sanitize(out, 1, "abc", 3), "");
    cr_assert_str_eq(px_log_sanitize(out, 2, "abc", 3), ".");
    cr_assert_str_eq(px_log_sanitize(out, 3, "abc", 3), "..");
    cr_assert_str_eq(px_log_sanitize(out, 4, "abc", 3), "abc");
    cr_assert_str_eq(px_log_sanitize(out, 4, "abcd", 4), "...");
}

/* ---- px_ratelimit ---- */

Test(log, ratelimit_allows_n_per_window_then_refuses)
{
    struct px_ratelimit rl = {0};
    const uint64_t t0 = 1000000;

    for (unsigned i = 0; i < 3; i++) {
        cr_assert(px_ratelimit_allow(&rl, t0 + i, 3, 1000), "event %u refused", i);
    }
    cr_assert_not(px_ratelimit_allow(&rl, t0 + 3, 3, 1000));
    cr_assert_not(px_ratelimit_allow(&rl, t0 + 999, 3, 1000), "refused until the window ends");
    cr_assert_eq(rl.window_start_ms, t0);
}

Test(log, ratelimit_resets_after_window)
{
    struct px_ratelimit rl = {0};
    const uint64_t t0 = 5000;

    cr_assert(px_ratelimit_allow(&rl, t0, 2, 1000));
    cr_assert(px_ratelimit_allow(&rl, t0 + 10, 2, 1000));
    cr_assert_not(px_ratelimit_allow(&rl, t0 + 20, 2, 1000));
    /* The window is [t0, t0 + 1000): at t0 + 1000 a new one starts. */
    cr_assert(px_ratelimit_allow(&rl, t0 + 1000, 2, 1000));
    cr_assert_eq(rl.window_start_ms, t0 + 1000);
    cr_assert(px_ratelimit_allow(&rl, t0 + 1500, 2, 1000));
    cr_assert_not(px_ratelimit_allow(&rl, t0 + 1999, 2, 1000));
    /* A long pause: the window starts at the next event, not on a fixed grid. */
    cr_assert(px_ratelimit_allow(&rl, t0 + 10500, 2, 1000));
    cr_assert_eq(rl.window_start_ms, t0 + 10500);
}

Test(log, ratelimit_edge_cases)
{
    struct px_ratelimit rl = {0};

    /* max 0 refuses everything. */
    cr_assert_not(px_ratelimit_allow(&rl, 100, 0, 1000));
    cr_assert_not(px_ratelimit_allow(&rl, 5000, 0, 1000));
    /* window 0: every call is a new window. */
    memset(&rl, 0, sizeof(rl));
    for (int i = 0; i < 5; i++) {
        cr_assert(px_ratelimit_allow(&rl, 7, 1, 0));
    }
    /* A clock that went backwards starts a new window instead of refusing for ages. */
    memset(&rl, 0, sizeof(rl));
    cr_assert(px_ratelimit_allow(&rl, 1000000, 1, 60000));
    cr_assert_not(px_ratelimit_allow(&rl, 1000001, 1, 60000));
    cr_assert(px_ratelimit_allow(&rl, 10, 1, 60000));
    cr_assert_eq(rl.window_start_ms, 10);
    /* Near the top of the clock, no wrap-around. */
    memset(&rl, 0, sizeof(rl));
    cr_assert(px_ratelimit_allow(&rl, UINT64_MAX - 5, 1, 1000));
    cr_assert_not(px_ratelimit_allow(&rl, UINT64_MAX, 1, 1000));
}
