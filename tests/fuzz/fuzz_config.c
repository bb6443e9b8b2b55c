/* SPDX-License-Identifier: MIT */
/*
 * fuzz_config.c - libFuzzer target for praxisd's config file parser (daemon/config.c).
 *
 * The input is the file's bytes. px_config_parse gets them up to the first NUL (it takes C
 * text); px_config_load gets them all, from a file. Properties, for any input:
 *   1. Two paths agree: px_config_load on a file holding the input gives the same code, the
 *      same error (line and message) and the same config as px_config_parse on the text,
 *      except that a NUL byte is PX_EINVAL naming the line it is on.
 *   2. A refusal returns one of the codes config.h lists, names a line that the input has
 *      (1 .. its number of lines), and has a message that is one line of printable ASCII.
 *   3. An accepted config keeps the documented invariants: every number within its table
 *      row's range, text and paths within their length range without control characters
 *      (the name printable ASCII), a known log level, "any" exactly when there is no author
 *      key, no duplicate author or peer key, listen unset (empty host, port 0) or a numeric
 *      IPv4/IPv6 address, every peer a valid address with a port, and each option's
 *      recorded line (px_config.line) a line of the input that names the option.
 *   4. px_config_validate agrees with the cross-option rules of config.h, computed here
 *      independently, and names a line the input has (or 0).
 *   5. Round trip: the accepted config printed back as a file (one key=value line per
 *      option, accept_authors over continuation lines) parses to the same config; and the
 *      same values applied with px_config_set over the defaults (the command-line path)
 *      give the same config too.
 *   6. What indents a line does not matter: each blank byte (isspace) at the start of a
 *      line replaced by a space gives the same code, line and config (inih takes any of
 *      them as indentation).
 * A broken property prints what broke and aborts.
 */
#include <sys/mman.h>

#include <arpa/inet.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/config.h"
#include "protocol/buf.h"
#include "protocol/err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The longest Unix socket path, without its NUL (sun_path is 108 bytes on Linux). */
#define SOCKET_PATH_MAX 107
/* Room for a printed config: 1024 author keys and 256 peers fit easily. */
#define PRINT_MAX (512u * 1024)

static void
fail(const char *what, const char *detail)
{
    fprintf(stderr, "fuzz_config: broken property: %s%s%s\n", what, detail != NULL ? ": " : "",
            detail != NULL ? detail : "");
    abort();
}

static bool
printable_line(const char *s, size_t cap)
{
    size_t n = strnlen(s, cap);

    if (n == cap) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e) {
            return false;
        }
    }
    return true;
}

/* Lines of text as the parser counts them: a last line without its newline counts. */
static unsigned
count_lines(const char *text, size_t len)
{
    unsigned n = 0;

    for (size_t i = 0; i < len; i++) {
        n += text[i] == '\n';
    }
    return n + (len > 0 && text[len - 1] != '\n');
}

/* Copies line number `line` (1-based) of text into out (cap bytes), cut if longer. */
static bool
get_line(const char *text, size_t len, unsigned line, char *out, size_t cap)
{
    const char *p = text, *end = text + len;

    for (unsigned l = 1; l < line; l++) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));

        if (nl == NULL) {
            return false;
        }
        p = nl + 1;
    }
    if (p >= end) {
        return false;
    }
    {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = (size_t)((nl != NULL ? nl : end) - p);

        n = n < cap - 1 ? n : cap - 1;
        memcpy(out, p, n);
        out[n] = '\0';
    }
    return true;
}

static const void *
field_of(const struct px_config *cfg, const struct px_config_option *o)
{
    return (const char *)cfg + o->offset;
}

static uint64_t
uint_of(const struct px_config *cfg, const struct px_config_option *o)
{
    const void *p = field_of(cfg, o);

    return o->size == sizeof(uint64_t) ? *(const uint64_t *)p : *(const unsigned *)p;
}

static bool
addr_equal(const struct px_config_addr *a, const struct px_config_addr *b)
{
    return a->kind == b->kind && strcmp(a->host, b->host) == 0 && a->port == b->port;
}

/* Every field, but not line[] (which differs between a file and its reprint). */
static bool
config_equal(const struct px_config *a, const struct px_config *b, const char **which)
{
    for (size_t i = 0; i < PX_CONFIG_NOPTS; i++) {
        const struct px_config_option *o = px_config_option(i);
        bool same = true;

        *which = o->key;
        switch (o->type) {
        case PX_CONFIG_T_PATH:
        case PX_CONFIG_T_TEXT:
            same = strcmp(field_of(a, o), field_of(b, o)) == 0;
            break;
        case PX_CONFIG_T_LOG_LEVEL:
            same = a->log_level == b->log_level;
            break;
        case PX_CONFIG_T_AUTHORS:
            same = a->accept_any_author == b->accept_any_author && a->n_authors == b->n_authors &&
                   memcmp(a->authors, b->authors, a->n_authors * sizeof(a->authors[0])) == 0;
            break;
        case PX_CONFIG_T_UINT:
            same = uint_of(a, o) == uint_of(b, o);
            break;
        case PX_CONFIG_T_BOOL:
            same = *(const bool *)field_of(a, o) == *(const bool *)field_of(b, o);
            break;
        case PX_CONFIG_T_LISTEN:
            same = addr_equal(&a->listen, &b->listen);
            break;
        case PX_CONFIG_T_KEY:
            same = memcmp(field_of(a, o), field_of(b, o), o->size) == 0;
            break;
        case PX_CONFIG_T_PEER:
            same = a->n_peers == b->n_peers;
            for (size_t k = 0; same && k < a->n_peers; k++) {
                same = addr_equal(&a->peers[k].addr, &b->peers[k].addr) &&
                       memcmp(a->peers[k].pubkey, b->peers[k].pubkey, PX_SIGN_PUBLICKEYBYTES) == 0;
            }
            break;
        }
        if (!same) {
            return false;
        }
    }
    *which = NULL;
    return true;
}

static bool
error_equal(const struct px_config_error *a, const struct px_config_error *b)
{
    return a->line == b->line && strcmp(a->msg, b->msg) == 0;
}

/* ---- Property 3: the invariants of an accepted config ---- */

static bool
text_ok(const char *s, size_t cap, const struct px_config_option *o)
{
    size_t n = strnlen(s, cap);

    if (n == cap || n < o->min || n > o->max) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];

        if (c < 0x20 || c == 0x7f || (o->type == PX_CONFIG_T_TEXT && c > 0x7e)) {
            return false;
        }
    }
    return true;
}

static bool
host_ok(const struct px_config_addr *a)
{
    unsigned char bin[16];
    size_t n = strnlen(a->host, sizeof(a->host));

    if (n == 0 || n == sizeof(a->host) || a->port == 0) {
        return false;
    }
    switch (a->kind) {
    case PX_CONFIG_ADDR_IPV4:
        return inet_pton(AF_INET, a->host, bin) == 1;
    case PX_CONFIG_ADDR_IPV6:
        return inet_pton(AF_INET6, a->host, bin) == 1;
    case PX_CONFIG_ADDR_NAME:
        if (n > 253 || inet_pton(AF_INET, a->host, bin) == 1) {
            return false;
        }
        for (size_t i = 0; i < n; i++) {
            if (!isalnum((unsigned char)a->host[i]) && a->host[i] != '-' && a->host[i] != '.') {
                return false;
            }
        }
        return true;
    case PX_CONFIG_ADDR_NONE:
        break;
    }
    return false;
}

static void
check_invariants(const struct px_config *cfg, const char *text, size_t len)
{
    unsigned nlines = count_lines(text, len);

    for (size_t i = 0; i < PX_CONFIG_NOPTS; i++) {
        const struct px_config_option *o = px_config_option(i);
        char line[256];

        switch (o->type) {
        case PX_CONFIG_T_PATH:
        case PX_CONFIG_T_TEXT:
            if (!text_ok(field_of(cfg, o), o->size, o)) {
                fail("a text option is out of its length range or holds a control byte", o->key);
            }
            break;
        case PX_CONFIG_T_UINT:
            if (uint_of(cfg, o) < o->min || uint_of(cfg, o) > o->max) {
                fail("a number is out of its table range", o->key);
            }
            break;
        default:
            break;
        }
        if (cfg->line[i] > nlines) {
            fail("an option's line is past the end of the input", o->key);
        }
        if (cfg->line[i] != 0 && (!get_line(text, len, cfg->line[i], line, sizeof(line)) ||
                                  strstr(line, o->key) == NULL)) {
            fail("an option's line does not name it", o->key);
        }
    }
    if (cfg->log_level != PX_LOG_DEBUG && cfg->log_level != PX_LOG_INFO &&
        cfg->log_level != PX_LOG_WARN && cfg->log_level != PX_LOG_ERROR) {
        fail("log_level is not a level", NULL);
    }
    if (cfg->accept_any_author == (cfg->n_authors > 0) || cfg->n_authors > PX_CONFIG_MAX_AUTHORS) {
        fail("accept_authors is neither \"any\" nor a list of 1 to 1024 keys", NULL);
    }
    for (size_t i = 0; i < cfg->n_authors; i++) {
        for (size_t j = i + 1; j < cfg->n_authors; j++) {
            if (memcmp(cfg->authors[i], cfg->authors[j], sizeof(cfg->authors[i])) == 0) {
                fail("accept_authors holds a key twice", NULL);
            }
        }
    }
    if (cfg->listen.kind == PX_CONFIG_ADDR_NONE) {
        if (cfg->listen.host[0] != '\0' || cfg->listen.port != 0) {
            fail("an unset listen address has a host or a port", NULL);
        }
    } else if (cfg->listen.kind == PX_CONFIG_ADDR_NAME || !host_ok(&cfg->listen)) {
        fail("listen is not a numeric address with a port", cfg->listen.host);
    }
    if (cfg->n_peers > PX_CONFIG_MAX_PEERS) {
        fail("more peers than PX_CONFIG_MAX_PEERS", NULL);
    }
    for (size_t i = 0; i < cfg->n_peers; i++) {
        if (!host_ok(&cfg->peers[i].addr)) {
            fail("a peer's address is not valid", cfg->peers[i].addr.host);
        }
        for (size_t j = i + 1; j < cfg->n_peers; j++) {
            if (memcmp(cfg->peers[i].pubkey, cfg->peers[j].pubkey, PX_SIGN_PUBLICKEYBYTES) == 0) {
                fail("two peers have the same key", NULL);
            }
        }
    }
}

/* ---- Property 4: px_config_validate against the rules, computed here ---- */

static void
check_validate(const struct px_config *cfg, unsigned nlines)
{
    struct px_config_error err;
    size_t dlen = strlen(cfg->data_dir);
    size_t sock = cfg->socket[0] != '\0' ? strlen(cfg->socket)
                                         : dlen + (cfg->data_dir[dlen - 1] == '/' ? 0 : 1) +
                                               strlen(PX_CONFIG_SOCKET_NAME);
    bool ok = sock <= SOCKET_PATH_MAX && cfg->max_handshakes <= cfg->max_peers &&
              cfg->n_peers <= cfg->max_peers && cfg->handshake_timeout_s <= cfg->idle_timeout_s &&
              cfg->max_pending_wants <= cfg->max_queued_wants;
    int rc = px_config_validate(cfg, &err);

    if ((rc == 0) != ok) {
        fail(ok ? "px_config_validate refuses a config that keeps the rules"
                : "px_config_validate accepts a config that breaks a rule",
             err.msg);
    }
    if (rc != 0 && (rc != PX_EVALUE || err.line > nlines || err.msg[0] == '\0' ||
                    !printable_line(err.msg, sizeof(err.msg)))) {
        fail("px_config_validate's error is not PX_EVALUE with a line of the input and a "
             "printable message",
             err.msg);
    }
}

/* ---- Property 5: print, parse again; and px_config_set ---- */

struct out {
    char *p;
    size_t len, cap;
};

static void put(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
put(struct out *o, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(o->p + o->len, o->cap - o->len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= o->cap - o->len) {
        fail("the printed config does not fit the print buffer", NULL);
    }
    o->len += (size_t)n;
}

/* The value of a one-line option as it is written in the file; "" for peer. */
static void
format_value(const struct px_config *cfg, const struct px_config_option *o, char *v, size_t cap)
{
    const void *f = field_of(cfg, o);
    const struct px_config_addr *a = &cfg->listen;

    v[0] = '\0';
    switch (o->type) {
    case PX_CONFIG_T_PATH:
    case PX_CONFIG_T_TEXT:
        snprintf(v, cap, "%s", (const char *)f);
        break;
    case PX_CONFIG_T_LOG_LEVEL:
        snprintf(v, cap, "%s", px_log_level_name(cfg->log_level));
        break;
    case PX_CONFIG_T_AUTHORS:
        if (cfg->accept_any_author) {
            snprintf(v, cap, "any");
            break;
        }
        for (size_t i = 0, n = 0; i < cfg->n_authors && n + 66 <= cap; i++, n += 65) {
            px_hex_encode(cfg->authors[i], PX_SIGN_PUBLICKEYBYTES, v + n);
            v[n + 64] = i + 1 < cfg->n_authors ? ',' : '\0';
        }
        break;
    case PX_CONFIG_T_UINT:
        snprintf(v, cap, "%llu", (unsigned long long)uint_of(cfg, o));
        break;
    case PX_CONFIG_T_BOOL:
        snprintf(v, cap, "%s", *(const bool *)f ? "yes" : "no");
        break;
    case PX_CONFIG_T_LISTEN:
        if (a->kind == PX_CONFIG_ADDR_IPV6) {
            snprintf(v, cap, "[%s]:%u", a->host, a->port);
        } else if (a->kind != PX_CONFIG_ADDR_NONE) {
            snprintf(v, cap, "%s:%u", a->host, a->port);
        }
        break;
    case PX_CONFIG_T_KEY:
        px_hex_encode(f, PX_CONFIG_NETWORK_KEY_BYTES, v);
        break;
    case PX_CONFIG_T_PEER:
        break;
    }
}

static void
format_peer(const struct px_config_peer *p, char *v, size_t cap)
{
    char key[2 * PX_SIGN_PUBLICKEYBYTES + 1];

    px_hex_encode(p->pubkey, PX_SIGN_PUBLICKEYBYTES, key);
    snprintf(v, cap, p->addr.kind == PX_CONFIG_ADDR_IPV6 ? "[%s]:%u %s" : "%s:%u %s", p->addr.host,
             p->addr.port, key);
}

/*
 * The config as a file: "key=value" without blanks, so that no line is longer than the
 * line that set the value; accept_authors two keys a line, continued on indented lines.
 */
static void
print_config(const struct px_config *cfg, struct out *o, char *v, size_t vcap)
{
    const char *section = "";

    o->len = 0;
    o->p[0] = '\0';
    for (size_t i = 0; i < PX_CONFIG_NOPTS; i++) {
        const struct px_config_option *opt = px_config_option(i);

        if (strcmp(section, opt->section) != 0) {
            section = opt->section;
            put(o, "[%s]\n", section);
        }
        if (opt->type == PX_CONFIG_T_PEER) {
            for (size_t k = 0; k < cfg->n_peers; k++) {
                format_peer(&cfg->peers[k], v, vcap);
                put(o, "%s=%s\n", opt->key, v);
            }
            continue;
        }
        format_value(cfg, opt, v, vcap);
        if (opt->type == PX_CONFIG_T_AUTHORS && !cfg->accept_any_author) {
            /* v is "k1,k2,...": 65 bytes a key with its comma. */
            size_t n = strlen(v);

            for (size_t at = 0; at < n; at += 130) {
                char chunk[131];
                size_t len = n - at < 130 ? n - at : 130;

                memcpy(chunk, v + at, len);
                chunk[len] = '\0';
                if (at == 0) {
                    put(o, "%s=%s\n", opt->key, chunk);
                } else {
                    put(o, "  %s\n", chunk);
                }
            }
            continue;
        }
        put(o, "%s=%s\n", opt->key, v);
    }
}

static void
check_round_trip(const struct px_config *cfg)
{
    static struct px_config *again, *set;
    static char *buf, *v;
    struct px_config_error err;
    struct out o;
    const char *which = NULL;
    const size_t vcap = PX_CONFIG_MAX_AUTHORS * 65 + 1;
    int rc;

    if (again == NULL) {
        again = malloc(sizeof(*again));
        set = malloc(sizeof(*set));
        buf = malloc(PRINT_MAX);
        v = malloc(vcap);
        if (again == NULL || set == NULL || buf == NULL || v == NULL) {
            abort();
        }
    }
    o.p = buf;
    o.cap = PRINT_MAX;
    print_config(cfg, &o, v, vcap);
    if ((rc = px_config_parse(buf, again, &err)) != 0) {
        fprintf(stderr, "%s\nline %u: %s\n", buf, err.line, err.msg);
        fail("the printed config does not parse", px_err_name(rc));
    }
    if (!config_equal(cfg, again, &which)) {
        fprintf(stderr, "%s\n", buf);
        fail("the printed config parses to another config", which);
    }

    /* The command-line path: each value through px_config_set, over the defaults. */
    px_config_defaults(set);
    for (size_t i = 0; i < PX_CONFIG_NOPTS; i++) {
        const struct px_config_option *opt = px_config_option(i);
        char name[64];

        snprintf(name, sizeof(name), "%s.%s", opt->section, opt->key);
        if (opt->type == PX_CONFIG_T_PEER) {
            for (size_t k = 0; k < cfg->n_peers; k++) {
                format_peer(&cfg->peers[k], v, vcap);
                if ((rc = px_config_set(set, name, v, &err)) != 0) {
                    fail("px_config_set refuses a peer the file accepted", err.msg);
                }
            }
            continue;
        }
        format_value(cfg, opt, v, vcap);
        if ((rc = px_config_set(set, name, v, &err)) != 0) {
            fail("px_config_set refuses a value the file accepted", err.msg);
        }
        if (err.line != 0 || set->line[i] != 0) {
            fail("px_config_set gave a line number", name);
        }
    }
    if (!config_equal(cfg, set, &which)) {
        fail("px_config_set of the printed values gives another config", which);
    }
}

/*
 * Property 6: what indents a line does not matter. inih skips any leading white space
 * (isspace: space, tab, \v, \f, \r) and takes a non-blank line that had some, after a
 * key, as a continuation; so each such byte at the start of a line, replaced by a space,
 * must give the same outcome: the same code and line, and on success the same config.
 */
static void
check_indentation(const char *text, size_t len, int rc, const struct px_config_error *err,
                  const struct px_config *cfg)
{
    static struct px_config *other;
    struct px_config_error oerr;
    const char *which = NULL;
    bool changed = false;
    char *copy;
    int orc;

    if (other == NULL && (other = malloc(sizeof(*other))) == NULL) {
        abort();
    }
    if ((copy = malloc(len + 1)) == NULL) {
        abort();
    }
    memcpy(copy, text, len + 1);
    for (size_t i = 0; i < len; i++) {
        /* i is at the start of a line: its blanks, up to the newline or a non-blank. */
        for (; i < len && copy[i] != '\n' && isspace((unsigned char)copy[i]); i++) {
            changed |= copy[i] != ' ';
            copy[i] = ' ';
        }
        while (i < len && copy[i] != '\n') {
            i++;
        }
    }
    if (changed) {
        orc = px_config_parse(copy, other, &oerr);
        if (orc != rc || oerr.line != err->line || (rc == 0 && !config_equal(cfg, other, &which))) {
            fprintf(stderr, "as given: %s line %u: %s\nwith spaces: %s line %u: %s\n",
                    px_err_name(rc), err->line, err->msg, px_err_name(orc), oerr.line, oerr.msg);
            fail("indenting a line with another blank changes the outcome", which);
        }
    }
    free(copy);
}

/* ---- The second path: px_config_load on a file ---- */

static int
load_input(const uint8_t *data, size_t size, struct px_config *cfg, struct px_config_error *err)
{
    static int fd = -1;
    static char path[64];

    if (fd < 0) {
        /* A file in memory: no disk in the loop, nothing left behind, and the path below
         * opens it as px_config_load opens any file. */
        if ((fd = memfd_create("fuzz_config", 0)) < 0) {
            perror("memfd_create");
            abort();
        }
        snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    }
    if (ftruncate(fd, 0) != 0 || (size > 0 && pwrite(fd, data, size, 0) != (ssize_t)size)) {
        perror("fuzz_config: writing the input file");
        abort();
    }
    return px_config_load(path, cfg, err);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct px_config *cfg, *loaded;
    struct px_config_error err, lerr;
    const uint8_t *nul = memchr(data, '\0', size);
    size_t len = nul != NULL ? (size_t)(nul - data) : size;
    const char *which = NULL;
    unsigned nlines;
    char *text;
    int rc, lrc;

    if (cfg == NULL) {
        /* About 110 KiB each: not on the stack. */
        cfg = malloc(sizeof(*cfg));
        loaded = malloc(sizeof(*loaded));
        if (cfg == NULL || loaded == NULL) {
            abort();
        }
    }
    if ((text = malloc(len + 1)) == NULL) {
        abort();
    }
    memcpy(text, data, len);
    text[len] = '\0';
    nlines = count_lines(text, len);

    rc = px_config_parse(text, cfg, &err);
    lrc = load_input(data, size, loaded, &lerr);

    /* 1: the file path agrees. */
    if (size > PX_CONFIG_MAX_FILE) {
        if (lrc != PX_ETOOBIG) {
            fail("px_config_load takes a file over PX_CONFIG_MAX_FILE", px_err_name(lrc));
        }
    } else if (nul != NULL) {
        unsigned at = 1;

        for (size_t i = 0; i < len; i++) {
            at += text[i] == '\n';
        }
        if (lrc != PX_EINVAL || lerr.line != at) {
            fail("px_config_load does not refuse a NUL byte naming its line", lerr.msg);
        }
    } else if (lrc != rc || !error_equal(&err, &lerr) ||
               (rc == 0 && (!config_equal(cfg, loaded, &which) ||
                            memcmp(cfg->line, loaded->line, sizeof(cfg->line)) != 0))) {
        fprintf(stderr, "parse %s line %u: %s\nload %s line %u: %s\n", px_err_name(rc), err.line,
                err.msg, px_err_name(lrc), lerr.line, lerr.msg);
        fail("px_config_load and px_config_parse disagree", which);
    }

    check_indentation(text, len, rc, &err, cfg);
    if (rc != 0) {
        /* 2: a refusal names a line of the input, with one printable line of message. */
        if (rc != PX_EINVAL && rc != PX_EUNKNOWN && rc != PX_EDUPKEY && rc != PX_EVALUE &&
            rc != PX_EKEY && rc != PX_ETOOBIG) {
            fail("px_config_parse returned an undocumented code", px_err_name(rc));
        }
        if (err.line < 1 || err.line > nlines) {
            fprintf(stderr, "line %u of %u: %s\n", err.line, nlines, err.msg);
            fail("the error names no line of the input", err.msg);
        }
        if (err.msg[0] == '\0' || !printable_line(err.msg, sizeof(err.msg))) {
            fail("the error message is empty or not printable ASCII", NULL);
        }
        free(text);
        return 0;
    }
    check_invariants(cfg, text, len);
    check_validate(cfg, nlines);
    check_round_trip(cfg);
    free(text);
    return 0;
}
