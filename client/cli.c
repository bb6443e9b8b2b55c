/* SPDX-License-Identifier: MIT */
/* cli.c - plumbing shared by the praxis commands; see cli.h. */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "protocol/sign.h"
#include "term.h"

void
px_cli_error(const char *fmt, ...)
{
    va_list ap;

    fputs("praxis: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

const char *
px_cli_show(const char *s, char *out, size_t cap)
{
    px_term_escape(s, strlen(s), out, cap);
    return out;
}

int
px_cli_bad_option(const struct px_cli_command *cmd, int c, char **argv)
{
    char buf[PX_CLI_SHOW_MAX], name[8];
    const char *opt = argv[optind - 1];

    if (strncmp(opt, "--", 2) != 0 && optopt > 0 && optopt < 128) {
        snprintf(name, sizeof(name), "-%c", optopt);
        opt = name;
    }
    /* A "--name=value" that was refused: show the name only. */
    px_term_escape(opt, strcspn(opt, "="), buf, sizeof(buf));
    if (c == ':') {
        px_cli_error("%s: option '%s' needs a value (see 'praxis %s --help')", cmd->name, buf,
                     cmd->name);
    } else {
        px_cli_error("%s: unknown option '%s' (see 'praxis %s --help')", cmd->name, buf, cmd->name);
    }
    return PX_CLI_EXIT_USAGE;
}

int
px_cli_extra_operand(const struct px_cli_command *cmd, const char *arg)
{
    char buf[PX_CLI_SHOW_MAX];

    px_cli_error("%s: unexpected argument '%s' (see 'praxis %s --help')", cmd->name,
                 px_cli_show(arg, buf, sizeof(buf)), cmd->name);
    return PX_CLI_EXIT_USAGE;
}

int
px_cli_check_id(const struct px_cli_command *cmd, const char *id)
{
    char buf[PX_CLI_SHOW_MAX];

    if (id == NULL) {
        px_cli_error("%s: no id given (see 'praxis %s --help')", cmd->name, cmd->name);
        return PX_CLI_EXIT_USAGE;
    }
    if (!px_cli_is_hex(id, strlen(id), 2 * PX_ID_BYTES)) {
        px_cli_error("%s: '%s' is not a record id: give 1 to 64 hex digits", cmd->name,
                     px_cli_show(id, buf, sizeof(buf)));
        return PX_CLI_EXIT_USAGE;
    }
    return 0;
}

int
px_cli_take_id(const struct px_cli_command *cmd, int argc, char **argv, int *optind_io,
               const char **id)
{
    *id = *optind_io < argc ? argv[(*optind_io)++] : NULL;
    if (*id != NULL && *optind_io < argc) {
        return px_cli_extra_operand(cmd, argv[*optind_io]);
    }
    return px_cli_check_id(cmd, *id);
}

int
px_cli_open_input(const char *path)
{
    char buf[PX_CLI_SHOW_MAX];
    int fd;

    if (path == NULL || strcmp(path, "-") == 0) {
        return STDIN_FILENO;
    }
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
        px_cli_error("cannot open %s: %s", px_cli_show(path, buf, sizeof(buf)), strerror(errno));
    }
    return fd;
}

const char *
px_cli_input_name(const char *path)
{
    return path == NULL || strcmp(path, "-") == 0 ? "standard input" : path;
}

int
px_cli_read_all(int fd, const char *name, size_t max, uint8_t **out, size_t *len)
{
    char buf[PX_CLI_SHOW_MAX];
    uint8_t *p = NULL;
    size_t cap = 0, n = 0;

    /* The buffer grows to max + 1 bytes at most: filling that byte means the input is over. */
    for (;;) {
        ssize_t got;

        if (n == cap) {
            size_t ncap = cap == 0 ? 65536 : cap * 2;
            uint8_t *np;

            if (cap == max + 1) {
                if (max >= (1u << 20)) {
                    px_cli_error("%s is larger than %zu MiB", px_cli_show(name, buf, sizeof(buf)),
                                 max >> 20);
                } else {
                    px_cli_error("%s is larger than %zu bytes", px_cli_show(name, buf, sizeof(buf)),
                                 max);
                }
                free(p);
                return -1;
            }
            ncap = ncap > max + 1 ? max + 1 : ncap;
            if ((np = realloc(p, ncap)) == NULL) {
                px_cli_error("out of memory reading %s", px_cli_show(name, buf, sizeof(buf)));
                free(p);
                return -1;
            }
            p = np;
            cap = ncap;
        }
        got = read(fd, p + n, cap - n);
        if (got < 0 && errno == EINTR) {
            continue;
        }
        if (got < 0) {
            px_cli_error("cannot read %s: %s", px_cli_show(name, buf, sizeof(buf)),
                         strerror(errno));
            free(p);
            return -1;
        }
        if (got == 0) {
            break;
        }
        n += (size_t)got;
    }
    *out = p;
    *len = n;
    return 0;
}

int
px_cli_write_all(int fd, const void *p, size_t n)
{
    const uint8_t *b = p;

    while (n > 0) {
        ssize_t w = write(fd, b, n);

        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w < 0) {
            return -1;
        }
        b += w;
        n -= (size_t)w;
    }
    return 0;
}

void
px_cli_format_time(uint64_t ms, char *out, size_t cap)
{
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;

    if (gmtime_r(&secs, &tm) == NULL) {
        snprintf(out, cap, "(out of range)");
        return;
    }
    snprintf(out, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%03uZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (unsigned)(ms % 1000));
}

void
px_cli_format_date(uint64_t ms, char *out, size_t cap)
{
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;

    if (gmtime_r(&secs, &tm) == NULL) {
        snprintf(out, cap, "?");
        return;
    }
    snprintf(out, cap, "%04d-%02d-%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
}

/* Reads exactly n decimal digits at s into *v. */
static bool
digits(const char *s, int n, int *v)
{
    *v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return false;
        }
        *v = *v * 10 + (s[i] - '0');
    }
    return true;
}

int
px_cli_parse_time(const char *s, bool end_of, uint64_t *ms)
{
    size_t len = strlen(s);
    struct tm tm, check;
    int y, mo, d, h = 0, mi = 0, sec = 0;
    bool has_time;
    time_t t;

    if (len > 0 && strspn(s, "0123456789") == len) {
        char *end;
        unsigned long long v;

        errno = 0;
        v = strtoull(s, &end, 10);
        if (errno != 0 || *end != '\0') {
            return -1;
        }
        *ms = v;
        return 0;
    }
    if (len != 10 && len != 20) {
        return -1;
    }
    if (!digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &mo) || s[7] != '-' ||
        !digits(s + 8, 2, &d)) {
        return -1;
    }
    has_time = len == 20;
    if (has_time &&
        (s[10] != 'T' || !digits(s + 11, 2, &h) || s[13] != ':' || !digits(s + 14, 2, &mi) ||
         s[16] != ':' || !digits(s + 17, 2, &sec) || s[19] != 'Z')) {
        return -1;
    }
    if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 59) {
        return -1;
    }
    memset(&tm, 0, sizeof(tm));
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    t = timegm(&tm);
    /* timegm normalises 2024-02-30 to March: such a date does not exist. */
    if (t == (time_t)-1 || gmtime_r(&t, &check) == NULL || check.tm_mday != d ||
        check.tm_mon != mo - 1) {
        return -1;
    }
    *ms = (uint64_t)t * 1000;
    if (end_of) {
        *ms += has_time ? 999 : 86400 * 1000 - 1;
    }
    return 0;
}

bool
px_cli_is_hex(const char *s, size_t len, size_t max)
{
    if (len == 0 || len > max) {
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        char c = s[i];

        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) {
            return false;
        }
    }
    return true;
}
