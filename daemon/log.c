/* SPDX-License-Identifier: MIT */
/* log.c - one escaped line per event on a descriptor, sanitising and rate limits; see log.h. */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "protocol/err.h"

/* Past the last enum value: px_fatal's lines, which are written at every level. */
#define LOG_FATAL (PX_LOG_ERROR + 1)

/*
 * The logger's only state (see log.h): written at startup before other threads exist, then
 * only read.
 */
static enum px_log_level log_level = PX_LOG_INFO;
static int log_fd = 2;

static const char *const level_names[] = {
    [PX_LOG_DEBUG] = "debug", [PX_LOG_INFO] = "info", [PX_LOG_WARN] = "warn",
    [PX_LOG_ERROR] = "error", [LOG_FATAL] = "fatal",
};

void
px_log_init(enum px_log_level level, int fd)
{
    log_level = level;
    log_fd = fd;
}

void
px_log_set_level(enum px_log_level level)
{
    log_level = level;
}

enum px_log_level
px_log_get_level(void)
{
    return log_level;
}

int
px_log_level_parse(const char *s, enum px_log_level *out)
{
    for (int i = PX_LOG_DEBUG; i <= PX_LOG_ERROR; i++) {
        if (strcmp(s, level_names[i]) == 0) {
            *out = (enum px_log_level)i;
            return 0;
        }
    }
    return PX_EINVAL;
}

const char *
px_log_level_name(enum px_log_level level)
{
    if ((int)level < PX_LOG_DEBUG || (int)level > PX_LOG_ERROR) {
        return "unknown";
    }
    return level_names[level];
}

/*
 * Renders byte c into piece and returns its length (1, 2 or 4). In strict mode (untrusted
 * bytes) only printable ASCII passes and the backslash is doubled, so the result is
 * unambiguous; otherwise (a formatted log message) only control bytes are escaped, which
 * keeps UTF-8 text such as a path readable while ruling out forged lines.
 */
static size_t
render_byte(unsigned char c, bool strict, char piece[4])
{
    static const char hex[] = "0123456789abcdef";

    if (c < 0x20 || c == 0x7f || (strict && c > 0x7e)) {
        piece[0] = '\\';
        piece[1] = 'x';
        piece[2] = hex[c >> 4];
        piece[3] = hex[c & 0xf];
        return 4;
    }
    if (strict && c == '\\') {
        piece[0] = '\\';
        piece[1] = '\\';
        return 2;
    }
    piece[0] = (char)c;
    return 1;
}

/*
 * Writes the rendering of p[0..len) into out, at most room bytes, no NUL, and returns the
 * count. When it does not fit (or cut is already true because the input itself was cut),
 * the output stops at a piece boundary and ends in "...".
 */
static size_t
render(char *out, size_t room, const unsigned char *p, size_t len, bool strict, bool cut)
{
    char piece[4];
    size_t total = 0, limit, pos = 0, dots;

    for (size_t i = 0; i < len && !cut; i++) {
        total += render_byte(p[i], strict, piece);
        if (total > room) {
            cut = true;
        }
    }
    limit = cut ? (room >= 3 ? room - 3 : 0) : room;
    for (size_t i = 0; i < len; i++) {
        size_t n = render_byte(p[i], strict, piece);

        if (n > limit - pos) {
            break;
        }
        memcpy(out + pos, piece, n);
        pos += n;
    }
    if (cut) {
        dots = room - pos < 3 ? room - pos : 3;
        memset(out + pos, '.', dots);
        pos += dots;
    }
    return pos;
}

const char *
px_log_sanitize(char *out, size_t cap, const void *bytes, size_t len)
{
    size_t n;

    if (cap == 0) {
        return "";
    }
    n = render(out, cap - 1, bytes, len, true, false);
    out[n] = '\0';
    return out;
}

bool
px_ratelimit_allow(struct px_ratelimit *rl, uint64_t now_ms, unsigned max_per_window,
                   uint64_t window_ms)
{
    /* now - start >= window, written so that it cannot wrap; a clock that went back restarts. */
    if (now_ms < rl->window_start_ms || now_ms - rl->window_start_ms >= window_ms) {
        rl->window_start_ms = now_ms;
        rl->count = 0;
    }
    if (rl->count >= max_per_window) {
        return false;
    }
    rl->count++;
    return true;
}

/* Writes all of p, retrying after signals and short writes; a failing log has nowhere to go. */
static void
write_all(int fd, const char *p, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, p, len);

        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return;
        }
        p += n;
        len -= (size_t)n;
    }
}

static size_t
format_header(char *out, size_t cap, int level)
{
    struct timespec ts;
    struct tm tm;
    char when[32];
    int n;

    if (clock_gettime(CLOCK_REALTIME, &ts) != 0 || gmtime_r(&ts.tv_sec, &tm) == NULL ||
        strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm) == 0) {
        snprintf(when, sizeof(when), "0000-00-00T00:00:00");
        ts.tv_nsec = 0;
    }
    n = snprintf(out, cap, "%s.%03ldZ praxisd[%ld] %s: ", when, (long)(ts.tv_nsec / 1000000),
                 (long)getpid(), level_names[level]);
    if (n < 0) {
        return 0;
    }
    return (size_t)n < cap ? (size_t)n : cap - 1;
}

static void vlog(int level, bool with_errno, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

static void
vlog(int level, bool with_errno, const char *fmt, va_list ap)
{
    int saved_errno = errno;
    char msg[PX_LOG_MAX_LINE];
    char line[PX_LOG_MAX_LINE];
    size_t mlen, pos;
    bool cut = false;
    int n;

    if (level < (int)log_level) {
        errno = saved_errno;
        return;
    }
    n = vsnprintf(msg, sizeof(msg), fmt, ap);
    if (n < 0) {
        msg[0] = '\0';
        mlen = 0;
    } else if ((size_t)n >= sizeof(msg)) {
        mlen = sizeof(msg) - 1;
        cut = true;
    } else {
        mlen = (size_t)n;
    }
    if (with_errno && !cut) {
        n = snprintf(msg + mlen, sizeof(msg) - mlen, ": %s", strerror(saved_errno));
        if (n < 0) {
            msg[mlen] = '\0';
        } else if ((size_t)n >= sizeof(msg) - mlen) {
            mlen = sizeof(msg) - 1;
            cut = true;
        } else {
            mlen += (size_t)n;
        }
    }
    pos = format_header(line, sizeof(line), level);
    /* One byte stays free for the newline. */
    pos += render(line + pos, sizeof(line) - 1 - pos, (const unsigned char *)msg, mlen, false, cut);
    line[pos++] = '\n';
    write_all(log_fd, line, pos);
    errno = saved_errno;
}

void
px_log_debug(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vlog(PX_LOG_DEBUG, false, fmt, ap);
    va_end(ap);
}

void
px_log_info(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vlog(PX_LOG_INFO, false, fmt, ap);
    va_end(ap);
}

void
px_log_warn(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vlog(PX_LOG_WARN, true, fmt, ap);
    va_end(ap);
}

void
px_log_warnx(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vlog(PX_LOG_WARN, false, fmt, ap);
    va_end(ap);
}

void
px_log_error(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vlog(PX_LOG_ERROR, false, fmt, ap);
    va_end(ap);
}

void
px_fatal(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vlog(LOG_FATAL, true, fmt, ap);
    va_end(ap);
    exit(1);
}

void
px_fatalx(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vlog(LOG_FATAL, false, fmt, ap);
    va_end(ap);
    exit(1);
}
