/* SPDX-License-Identifier: MIT */
/* test_config.c - the option table, parsing, errors with their lines, overrides, checks. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "daemon/config.h"
#include "protocol/buf.h"
#include "protocol/err.h"

#define K1 "3b6a27bcceb6a42d62a3a8d02a6f0d73653215771de243a63ac048a18b59da29"
#define K2 "8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c"
#define K3 "D75A980182B10AB7D54BFED3C964073A0EE172F3DAA62325AF021A68F707511A"

#define EXAMPLE_CONF PX_SOURCE_DIR "/config/praxisd.conf"

/* About 110 KiB each: static rather than on the stack. Criterion runs each test alone. */
static struct px_config cfg, cfg2;
static struct px_config_error err;

static int
parse(const char *text)
{
    return px_config_parse(text, &cfg, &err);
}

/* Parses text and checks the code, the line and a piece of the message. */
static void
expect_error(const char *text, int code, unsigned line, const char *needle)
{
    int rc = parse(text);

    cr_assert_eq(rc, code, "got %s (%s) for:\n%s\nmessage: %s", px_err_name(rc), px_strerror(rc),
                 text, err.msg);
    cr_assert_eq(err.line, line, "line %u, expected %u: %s", err.line, line, err.msg);
    cr_assert_not_null(strstr(err.msg, needle), "message \"%s\" lacks \"%s\"", err.msg, needle);
}

static void
key_bytes(const char *hex, uint8_t out[32])
{
    cr_assert_eq(px_hex_decode(hex, strlen(hex), out, 32), 0, "bad test key %s", hex);
}

static void
assert_same_addr(const struct px_config_addr *a, const struct px_config_addr *b, const char *what)
{
    cr_assert_eq(a->kind, b->kind, "%s", what);
    cr_assert_str_eq(a->host, b->host, "%s", what);
    cr_assert_eq(a->port, b->port, "%s", what);
}

/* Field by field (padding makes memcmp unreliable); px_config.line is not compared. */
static void
assert_same_config(const struct px_config *a, const struct px_config *b)
{
    cr_assert_str_eq(a->data_dir, b->data_dir);
    cr_assert_str_eq(a->socket, b->socket);
    cr_assert_eq(a->log_level, b->log_level);
    cr_assert_str_eq(a->name, b->name);
    cr_assert_eq(a->accept_any_author, b->accept_any_author);
    cr_assert_eq(a->n_authors, b->n_authors);
    for (size_t i = 0; i < a->n_authors; i++) {
        cr_assert_arr_eq(a->authors[i], b->authors[i], 32, "author %zu", i);
    }
    cr_assert_eq(a->max_clock_skew_s, b->max_clock_skew_s);
    assert_same_addr(&a->listen, &b->listen, "listen");
    cr_assert_arr_eq(a->network_key, b->network_key, 32);
    cr_assert_eq(a->n_peers, b->n_peers);
    for (size_t i = 0; i < a->n_peers; i++) {
        assert_same_addr(&a->peers[i].addr, &b->peers[i].addr, "peer");
        cr_assert_arr_eq(a->peers[i].pubkey, b->peers[i].pubkey, 32, "peer %zu", i);
    }
    cr_assert_eq(a->accept_unknown_peers, b->accept_unknown_peers);
    cr_assert_eq(a->max_peers, b->max_peers);
    cr_assert_eq(a->max_handshakes, b->max_handshakes);
    cr_assert_eq(a->sync_interval_s, b->sync_interval_s);
    cr_assert_eq(a->handshake_timeout_s, b->handshake_timeout_s);
    cr_assert_eq(a->idle_timeout_s, b->idle_timeout_s);
    cr_assert_eq(a->quota_interval_s, b->quota_interval_s);
    cr_assert_eq(a->quota_records, b->quota_records);
    cr_assert_eq(a->quota_bytes, b->quota_bytes);
    cr_assert_eq(a->quota_messages, b->quota_messages);
    cr_assert_eq(a->max_pending_wants, b->max_pending_wants);
    cr_assert_eq(a->max_queued_wants, b->max_queued_wants);
    cr_assert_eq(a->max_clients, b->max_clients);
    cr_assert_eq(a->max_client_queue, b->max_client_queue);
}

/* A growing text buffer for generated configs. */
struct text {
    char *p;
    size_t len, cap;
};

static void text_add(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
text_add(struct text *t, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    cr_assert_geq(n, 0);
    if (t->len + (size_t)n + 1 > t->cap) {
        t->cap = (t->len + (size_t)n + 1) * 2;
        t->p = realloc(t->p, t->cap);
        cr_assert_not_null(t->p);
    }
    va_start(ap, fmt);
    vsnprintf(t->p + t->len, t->cap - t->len, fmt, ap);
    va_end(ap);
    t->len += (size_t)n;
}

static char *
read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    long n;

    cr_assert_not_null(f, "cannot open %s", path);
    cr_assert_eq(fseek(f, 0, SEEK_END), 0);
    n = ftell(f);
    cr_assert_geq(n, 0);
    rewind(f);
    buf = malloc((size_t)n + 1);
    cr_assert_not_null(buf);
    cr_assert_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

/* Writes len bytes to a new temporary file and returns its path (static storage). */
static const char *
temp_file(const void *p, size_t len)
{
    static char path[64];
    int fd;

    snprintf(path, sizeof(path), "/tmp/px_test_config_XXXXXX");
    fd = mkstemp(path);

    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, p, len), (ssize_t)len);
    close(fd);
    return path;
}

/* ---- The table and the defaults ---- */

Test(config, table_is_complete_and_consistent)
{
    for (size_t i = 0; i < PX_CONFIG_NOPTS; i++) {
        const struct px_config_option *o = px_config_option(i);

        cr_assert_not_null(o);
        cr_assert_not_null(o->section);
        cr_assert_not_null(o->key);
        cr_assert_not_null(o->def);
        cr_assert_not_null(o->help);
        cr_assert_gt(strlen(o->help), 10, "%s.%s has no help", o->section, o->key);
        cr_assert_leq(o->min, o->max, "%s.%s", o->section, o->key);
        cr_assert_leq(o->offset + o->size, sizeof(struct px_config));
        for (size_t j = 0; j < i; j++) {
            cr_assert(strcmp(o->key, px_config_option(j)->key) != 0, "key %s twice", o->key);
        }
    }
    cr_assert_null(px_config_option(PX_CONFIG_NOPTS));
    cr_assert_str_eq(px_config_option(PX_CONFIG_NETWORK_LISTEN)->key, "listen");
    cr_assert_str_eq(px_config_option(PX_CONFIG_API_MAX_CLIENT_QUEUE)->section, "api");
}

Test(config, defaults)
{
    uint8_t main_key[32];

    px_config_defaults(&cfg);
    cr_assert_str_eq(cfg.data_dir, "data");
    cr_assert_str_eq(cfg.socket, "");
    cr_assert_eq(cfg.log_level, PX_LOG_INFO);
    cr_assert_str_eq(cfg.name, "praxis");
    cr_assert_str_eq(cfg.index_dir, "");
    cr_assert_eq(cfg.index_cache_pages, 64);
    cr_assert(cfg.accept_any_author);
    cr_assert_eq(cfg.n_authors, 0);
    cr_assert_eq(cfg.max_clock_skew_s, 600);
    cr_assert_eq(cfg.listen.kind, PX_CONFIG_ADDR_IPV4);
    cr_assert_str_eq(cfg.listen.host, "127.0.0.1");
    cr_assert_eq(cfg.listen.port, 7070);
    key_bytes(PX_CONFIG_MAIN_NETWORK_KEY_HEX, main_key);
    cr_assert_arr_eq(cfg.network_key, main_key, 32);
    cr_assert_eq(cfg.n_peers, 0);
    cr_assert_not(cfg.accept_unknown_peers);
    cr_assert_eq(cfg.max_peers, 64);
    cr_assert_eq(cfg.max_handshakes, 16);
    cr_assert_eq(cfg.sync_interval_s, 60);
    cr_assert_eq(cfg.handshake_timeout_s, 10);
    cr_assert_eq(cfg.idle_timeout_s, 120);
    cr_assert_eq(cfg.quota_interval_s, 60);
    cr_assert_eq(cfg.quota_records, 10000);
    cr_assert_eq(cfg.quota_bytes, (uint64_t)128 * 1024 * 1024);
    cr_assert_eq(cfg.quota_messages, 20000);
    cr_assert_eq(cfg.max_pending_wants, 4096);
    cr_assert_eq(cfg.max_queued_wants, 8192);
    cr_assert_eq(cfg.max_clients, 64);
    cr_assert_eq(cfg.max_client_queue, (uint64_t)8 * 1024 * 1024);
    for (size_t i = 0; i < PX_CONFIG_NOPTS; i++) {
        cr_assert_eq(cfg.line[i], 0);
    }
    cr_assert_eq(px_config_validate(&cfg, &err), 0, "%s", err.msg);
}

Test(config, empty_text_gives_defaults)
{
    px_config_defaults(&cfg2);
    cr_assert_eq(parse(""), 0, "%s", err.msg);
    assert_same_config(&cfg, &cfg2);
    cr_assert_eq(parse("# only a comment\n\n; another\n[node]\n[api]\n"), 0, "%s", err.msg);
    assert_same_config(&cfg, &cfg2);
}

/* ---- Every option, parsed ---- */

Test(config, every_option_parsed)
{
    static const char text[] = "[node]\n"
                               "data_dir = /var/lib/praxis\n"
                               "socket = /run/praxis/api.sock\n"
                               "log_level = debug\n"
                               "name = Oxfam Nairobi office\n"
                               "index_dir = /var/cache/praxis\n"
                               "index_cache_pages = 16384\n"
                               "[policy]\n"
                               "accept_authors = " K1 ", " K2 "\n"
                               "max_clock_skew = 0\n"
                               "[network]\n"
                               "listen = [::]:7171\n"
                               "network_key = " K3 "\n"
                               "peer = 192.0.2.10:7070 " K1 "\n"
                               "peer = praxis.example.org:9 " K2 "\n"
                               "peer = [2001:db8::1]:65535 " K3 "\n"
                               "accept_unknown_peers = yes\n"
                               "max_peers = 1024\n"
                               "max_handshakes = 256\n"
                               "sync_interval = 86400\n"
                               "handshake_timeout = 120\n"
                               "idle_timeout = 3600\n"
                               "[api]\n"
                               "max_clients = 1\n"
                               "max_client_queue = 65536\n";
    uint8_t k1[32], k2[32], k3[32];

    key_bytes(K1, k1);
    key_bytes(K2, k2);
    key_bytes(K3, k3);
    cr_assert_eq(parse(text), 0, "line %u: %s", err.line, err.msg);
    cr_assert_str_eq(cfg.data_dir, "/var/lib/praxis");
    cr_assert_str_eq(cfg.socket, "/run/praxis/api.sock");
    cr_assert_eq(cfg.log_level, PX_LOG_DEBUG);
    cr_assert_str_eq(cfg.name, "Oxfam Nairobi office");
    cr_assert_str_eq(cfg.index_dir, "/var/cache/praxis");
    cr_assert_eq(cfg.index_cache_pages, 16384);
    cr_assert_not(cfg.accept_any_author);
    cr_assert_eq(cfg.n_authors, 2);
    cr_assert_arr_eq(cfg.authors[0], k1, 32);
    cr_assert_arr_eq(cfg.authors[1], k2, 32);
    cr_assert_eq(cfg.max_clock_skew_s, 0);
    cr_assert_eq(cfg.listen.kind, PX_CONFIG_ADDR_IPV6);
    cr_assert_str_eq(cfg.listen.host, "::");
    cr_assert_eq(cfg.listen.port, 7171);
    cr_assert_arr_eq(cfg.network_key, k3, 32, "uppercase hex decodes");
    cr_assert_eq(cfg.n_peers, 3);
    cr_assert_eq(cfg.peers[0].addr.kind, PX_CONFIG_ADDR_IPV4);
    cr_assert_str_eq(cfg.peers[0].addr.host, "192.0.2.10");
    cr_assert_eq(cfg.peers[0].addr.port, 7070);
    cr_assert_arr_eq(cfg.peers[0].pubkey, k1, 32);
    cr_assert_eq(cfg.peers[1].addr.kind, PX_CONFIG_ADDR_NAME);
    cr_assert_str_eq(cfg.peers[1].addr.host, "praxis.example.org");
    cr_assert_eq(cfg.peers[1].addr.port, 9);
    cr_assert_arr_eq(cfg.peers[1].pubkey, k2, 32);
    cr_assert_eq(cfg.peers[2].addr.kind, PX_CONFIG_ADDR_IPV6);
    cr_assert_str_eq(cfg.peers[2].addr.host, "2001:db8::1");
    cr_assert_eq(cfg.peers[2].addr.port, 65535);
    cr_assert_arr_eq(cfg.peers[2].pubkey, k3, 32);
    cr_assert(cfg.accept_unknown_peers);
    cr_assert_eq(cfg.max_peers, 1024);
    cr_assert_eq(cfg.max_handshakes, 256);
    cr_assert_eq(cfg.sync_interval_s, 86400);
    cr_assert_eq(cfg.handshake_timeout_s, 120);
    cr_assert_eq(cfg.idle_timeout_s, 3600);
    cr_assert_eq(cfg.max_clients, 1);
    cr_assert_eq(cfg.max_client_queue, 65536);
    /* Lines are recorded; peer keeps its first line. */
    cr_assert_eq(cfg.line[PX_CONFIG_NODE_DATA_DIR], 2);
    cr_assert_eq(cfg.line[PX_CONFIG_NETWORK_PEER], 14);
    cr_assert_eq(cfg.line[PX_CONFIG_API_MAX_CLIENT_QUEUE], 25);
    cr_assert_eq(px_config_validate(&cfg, &err), 0, "%s", err.msg);
}

/* ---- The per-peer quotas ---- */

Test(config, quota_keys_parsed_at_their_bounds)
{
    /* The lowest values, then the highest: both ends of every range are accepted. */
    cr_assert_eq(parse("[network]\n"
                       "quota_interval = 1\n"
                       "quota_records = 1\n"
                       "quota_bytes = 65536\n"
                       "quota_messages = 100\n"
                       "max_pending_wants = 16\n"
                       "max_queued_wants = 1024\n"),
                 0, "line %u: %s", err.line, err.msg);
    cr_assert_eq(cfg.quota_interval_s, 1);
    cr_assert_eq(cfg.quota_records, 1);
    cr_assert_eq(cfg.quota_bytes, 65536);
    cr_assert_eq(cfg.quota_messages, 100);
    cr_assert_eq(cfg.max_pending_wants, 16);
    cr_assert_eq(cfg.max_queued_wants, 1024);
    cr_assert_eq(cfg.line[PX_CONFIG_NETWORK_QUOTA_INTERVAL], 2);
    cr_assert_eq(cfg.line[PX_CONFIG_NETWORK_MAX_QUEUED_WANTS], 7);
    cr_assert_eq(px_config_validate(&cfg, &err), 0, "%s", err.msg);

    cr_assert_eq(parse("[network]\n"
                       "quota_interval = 3600\n"
                       "quota_records = 100000000\n"
                       "quota_bytes = 68719476736\n"
                       "quota_messages = 10000000\n"
                       "max_pending_wants = 8192\n"
                       "max_queued_wants = 65536\n"),
                 0, "line %u: %s", err.line, err.msg);
    cr_assert_eq(cfg.quota_interval_s, 3600);
    cr_assert_eq(cfg.quota_records, 100000000);
    cr_assert_eq(cfg.quota_bytes, UINT64_C(68719476736), "a value above 32 bits");
    cr_assert_eq(cfg.quota_messages, 10000000);
    cr_assert_eq(cfg.max_pending_wants, 8192);
    cr_assert_eq(cfg.max_queued_wants, 65536);
    cr_assert_eq(px_config_validate(&cfg, &err), 0, "%s", err.msg);

    /* They live in [network] only. */
    expect_error("[node]\nquota_records = 5\n", PX_EUNKNOWN, 2, "unknown key \"quota_records\"");
}

Test(config, quota_keys_out_of_range_name_the_line)
{
    expect_error("[network]\n\nquota_interval = 0\n", PX_EVALUE, 3, "in 1..3600");
    expect_error("[network]\nquota_interval = 3601\n", PX_EVALUE, 2, "in 1..3600");
    expect_error("[network]\nquota_records = 0\n", PX_EVALUE, 2,
                 "network.quota_records: \"0\" is out of range; expected a number in 1..100000000");
    expect_error("[network]\nquota_records = 100000001\n", PX_EVALUE, 2, "in 1..100000000");
    expect_error("[network]\nmax_peers = 8\nquota_bytes = 65535\n", PX_EVALUE, 3,
                 "in 65536..68719476736");
    expect_error("[network]\nquota_bytes = 68719476737\n", PX_EVALUE, 2, "in 65536..68719476736");
    expect_error("[network]\nquota_bytes = 99999999999999999999999\n", PX_EVALUE, 2,
                 "out of range");
    expect_error("[network]\nquota_bytes = 128MiB\n", PX_EVALUE, 2, "junk after the number");
    expect_error("[network]\nquota_messages = 99\n", PX_EVALUE, 2, "in 100..10000000");
    expect_error("[network]\nquota_messages = -1\n", PX_EVALUE, 2, "is negative");
    expect_error("[network]\nmax_pending_wants = 15\n", PX_EVALUE, 2, "in 16..8192");
    expect_error("[network]\nmax_pending_wants = 8193\n", PX_EVALUE, 2, "in 16..8192");
    expect_error("[network]\nmax_queued_wants = 1023\n", PX_EVALUE, 2, "in 1024..65536");
    expect_error("[network]\nmax_queued_wants = 65537\n", PX_EVALUE, 2, "in 1024..65536");
    expect_error("[network]\nquota_records = 5\nquota_records = 6\n", PX_EDUPKEY, 3,
                 "duplicate key \"quota_records\"");
}

Test(config, quota_keys_set_and_validated)
{
    /* From the command line, by either name; a failure leaves the value as it was. */
    px_config_defaults(&cfg);
    cr_assert_eq(px_config_set(&cfg, "network.quota_records", "20", &err), 0, "%s", err.msg);
    cr_assert_eq(px_config_set(&cfg, "quota_bytes", "65536", &err), 0, "%s", err.msg);
    cr_assert_eq(cfg.quota_records, 20);
    cr_assert_eq(cfg.quota_bytes, 65536);
    cr_assert_eq(px_config_set(&cfg, "quota_interval", "0", &err), PX_EVALUE);
    cr_assert_eq(err.line, 0);
    cr_assert_eq(cfg.quota_interval_s, 60);

    /* Asking one peer for more than a peer with our settings lets us queue is refused. */
    cr_assert_eq(parse("[network]\nmax_queued_wants = 2048\n\nmax_pending_wants = 4096\n"), 0, "%s",
                 err.msg);
    cr_assert_eq(px_config_validate(&cfg, &err), PX_EVALUE);
    cr_assert_eq(err.line, 4);
    cr_assert_not_null(strstr(err.msg, "network.max_pending_wants (4096) is larger than "
                                       "network.max_queued_wants (2048)"),
                       "%s", err.msg);
    /* The default max_pending_wants (4096) against a lowered max_queued_wants. */
    cr_assert_eq(parse("[network]\nmax_queued_wants = 1024\n"), 0, "%s", err.msg);
    cr_assert_eq(px_config_validate(&cfg, &err), PX_EVALUE);
    cr_assert_eq(err.line, 2);
    cr_assert_eq(px_config_set(&cfg, "max_pending_wants", "1024", &err), 0, "%s", err.msg);
    cr_assert_eq(px_config_validate(&cfg, &err), 0, "%s", err.msg);
}

Test(config, every_level_and_bool_spelling)
{
    static const char *const levels[] = {"debug", "info", "warn", "error"};
    static const char *const yes[] = {"yes", "true", "on", "1"};
    static const char *const no[] = {"no", "false", "off", "0"};
    char text[128];

    for (int i = 0; i < 4; i++) {
        snprintf(text, sizeof(text), "[node]\nlog_level = %s\n", levels[i]);
        cr_assert_eq(parse(text), 0, "%s", err.msg);
        cr_assert_eq((int)cfg.log_level, i);
    }
    for (int i = 0; i < 4; i++) {
        snprintf(text, sizeof(text), "[network]\naccept_unknown_peers = %s\n", yes[i]);
        cr_assert_eq(parse(text), 0, "%s", err.msg);
        cr_assert(cfg.accept_unknown_peers, "%s", yes[i]);
        snprintf(text, sizeof(text), "[network]\naccept_unknown_peers = %s\n", no[i]);
        cr_assert_eq(parse(text), 0, "%s", err.msg);
        cr_assert_not(cfg.accept_unknown_peers, "%s", no[i]);
    }
}

Test(config, syntax_details)
{
    /* CRLF line endings, inline comments, blank lines, no final newline, a repeated section. */
    cr_assert_eq(parse("[network]\r\nmax_peers = 100 ; the most\r\n\r\n[api]\r\nmax_clients=7\r\n"
                       "[network]\nidle_timeout = 300"),
                 0, "line %u: %s", err.line, err.msg);
    cr_assert_eq(cfg.max_peers, 100);
    cr_assert_eq(cfg.max_clients, 7);
    cr_assert_eq(cfg.idle_timeout_s, 300);
    /* An empty listen means "do not listen". */
    cr_assert_eq(parse("[network]\nlisten =\n"), 0, "%s", err.msg);
    cr_assert_eq(cfg.listen.kind, PX_CONFIG_ADDR_NONE);
    cr_assert_eq(cfg.listen.port, 0);
    cr_assert_str_eq(cfg.listen.host, "");
    /* A UTF-8 byte-order mark is skipped. */
    cr_assert_eq(parse("\xef\xbb\xbf[api]\nmax_clients = 9\n"), 0, "%s", err.msg);
    cr_assert_eq(cfg.max_clients, 9);
}

Test(config, accept_authors_list_forms)
{
    uint8_t k1[32], k2[32], k3[32];

    key_bytes(K1, k1);
    key_bytes(K2, k2);
    key_bytes(K3, k3);
    /* Continuation lines extend the list; a trailing comma may precede one. */
    cr_assert_eq(parse("[policy]\naccept_authors = " K1 ",\n    " K2 "\n"
                       "; a comment between\n\t" K3 "\nmax_clock_skew = 5\n"),
                 0, "line %u: %s", err.line, err.msg);
    cr_assert_not(cfg.accept_any_author);
    cr_assert_eq(cfg.n_authors, 3);
    cr_assert_arr_eq(cfg.authors[0], k1, 32);
    cr_assert_arr_eq(cfg.authors[1], k2, 32);
    cr_assert_arr_eq(cfg.authors[2], k3, 32);
    cr_assert_eq(cfg.max_clock_skew_s, 5);
    /* A key listed twice is stored once. */
    cr_assert_eq(parse("[policy]\naccept_authors = " K1 "," K2 ",\n " K1 "\n"), 0, "%s", err.msg);
    cr_assert_eq(cfg.n_authors, 2);
    /* "any" stands alone. */
    expect_error("[policy]\naccept_authors = any, " K1 "\n", PX_EVALUE, 2, "\"any\" cannot");
    expect_error("[policy]\naccept_authors = " K1 ", any\n", PX_EVALUE, 2, "\"any\" cannot");
    expect_error("[policy]\naccept_authors = any\n  " K1 "\n", PX_EVALUE, 3, "\"any\" cannot");
    expect_error("[policy]\naccept_authors =\n", PX_EVALUE, 2, "empty item");
    expect_error("[policy]\naccept_authors = " K1 ",," K2 "\n", PX_EVALUE, 2, "empty item");
    expect_error("[policy]\naccept_authors = " K1 "\n  nothex\n", PX_EKEY, 3, "64 hex digits");
}

/* ---- Each error class names its line ---- */

Test(config, error_unknown_key)
{
    expect_error("[node]\nname = x\n\n[network]\nlisen = 127.0.0.1:1\n", PX_EUNKNOWN, 5,
                 "unknown key \"lisen\" in [network]");
    cr_assert_str_eq(err.msg, "unknown key \"lisen\" in [network]");
    /* A key of another section is unknown here. */
    expect_error("[api]\nmax_peers = 3\n", PX_EUNKNOWN, 2, "unknown key \"max_peers\" in [api]");
}

Test(config, error_unknown_section)
{
    expect_error("[node]\nname = a\n[netwrok]\nmax_peers = 3\n", PX_EUNKNOWN, 3,
                 "unknown section [netwrok]");
    /* Even with no key under it (inih would never tell us). */
    expect_error("[node]\n\n[bogus]\n", PX_EUNKNOWN, 3, "unknown section [bogus]");
    expect_error("[api]\nmax_clients = 3\n[]\n", PX_EUNKNOWN, 3, "unknown section []");
    expect_error("\xef\xbb\xbf[bogus]\n", PX_EUNKNOWN, 1, "unknown section [bogus]");
    expect_error("[node\nname = a\n", PX_EINVAL, 1, "unterminated section header");
    expect_error("[node] junk\n", PX_EINVAL, 1, "junk after the section header");
    cr_assert_eq(parse("[node] ; a comment\nname = a\n"), 0, "%s", err.msg);
}

Test(config, error_key_before_section)
{
    expect_error("name = a\n[node]\n", PX_EUNKNOWN, 1, "before any [section]");
}

Test(config, error_bad_bool)
{
    expect_error("[network]\n\naccept_unknown_peers = maybe\n", PX_EVALUE, 3,
                 "network.accept_unknown_peers: \"maybe\" is not a boolean");
    expect_error("[network]\naccept_unknown_peers = YES\n", PX_EVALUE, 2, "not a boolean");
    expect_error("[network]\naccept_unknown_peers =\n", PX_EVALUE, 2, "not a boolean");
}

Test(config, error_number_out_of_range)
{
    expect_error("[network]\nmax_peers = 0\n", PX_EVALUE, 2,
                 "network.max_peers: \"0\" is out of range; expected a number in 1..1024");
    expect_error("[network]\nmax_peers = 1025\n", PX_EVALUE, 2, "is out of range");
    expect_error("[network]\nsync_interval = 4\n", PX_EVALUE, 2, "in 5..86400");
    expect_error("[policy]\nmax_clock_skew = 86401\n", PX_EVALUE, 2, "in 0..86400");
    expect_error("[api]\nmax_client_queue = 65535\n", PX_EVALUE, 2, "in 65536..268435456");
    expect_error("[api]\nmax_client_queue = 268435457\n", PX_EVALUE, 2, "out of range");
    /* Both ends of every range are accepted (every_option_parsed covers the others). */
    cr_assert_eq(parse("[api]\nmax_client_queue = 268435456\n"), 0, "%s", err.msg);
    cr_assert_eq(cfg.max_client_queue, 268435456u);
    cr_assert_eq(parse("[policy]\nmax_clock_skew = 86400\n"), 0, "%s", err.msg);
}

Test(config, error_number_trailing_junk)
{
    expect_error("[network]\nmax_peers = 12x\n", PX_EVALUE, 2, "\"12x\" has junk after the number");
    expect_error("[network]\nmax_peers = 12 13\n", PX_EVALUE, 2, "junk");
    expect_error("[network]\nmax_peers = 1.5\n", PX_EVALUE, 2, "junk");
    expect_error("[api]\nmax_client_queue = 8M\n", PX_EVALUE, 2, "junk");
    expect_error("[network]\nmax_peers = 0x10\n", PX_EVALUE, 2, "junk");
}

Test(config, error_number_signs_and_non_numbers)
{
    expect_error("[network]\nmax_peers = -1\n", PX_EVALUE, 2, "\"-1\" is negative");
    expect_error("[policy]\nmax_clock_skew = -0\n", PX_EVALUE, 2, "is negative");
    expect_error("[network]\nmax_peers = +5\n", PX_EVALUE, 2, "\"+5\" is not a number");
    expect_error("[network]\nmax_peers = many\n", PX_EVALUE, 2, "is not a number");
    expect_error("[network]\nmax_peers =\n", PX_EVALUE, 2, "is empty");
}

Test(config, error_number_overflow)
{
    expect_error("[api]\nmax_client_queue = 99999999999999999999\n", PX_EVALUE, 2,
                 "\"99999999999999999999\" is out of range");
    /* Just past 2^64 - 1 and far past it, and 2^32 where a narrow field could wrap to 0. */
    expect_error("[network]\nmax_peers = 18446744073709551616\n", PX_EVALUE, 2, "out of range");
    expect_error("[network]\nmax_peers = 4294967296\n", PX_EVALUE, 2, "out of range");
    expect_error("[network]\nmax_peers = 4294967297\n", PX_EVALUE, 2, "out of range");
}

Test(config, error_bad_hex_key)
{
    expect_error("[network]\nnetwork_key = "
                 "zz6a27bcceb6a42d62a3a8d02a6f0d73653215771de243a63ac048a18b59da29\n",
                 PX_EKEY, 2, "network.network_key: key \"zz6a");
    cr_assert_not_null(strstr(err.msg, "is not hexadecimal"), "%s", err.msg);
    expect_error("[network]\nnetwork_key = " K1 "\n[network]\npeer = 10.0.0.1:1 "
                 "3b6a27bcceb6a42d62a3a8d02a6f0d73653215771de243a63ac048a18b59da2g\n",
                 PX_EKEY, 4, "is not hexadecimal");
}

Test(config, error_wrong_key_length)
{
    expect_error(
        "[network]\nnetwork_key = 3b6a27bcceb6a42d62a3a8d02a6f0d73653215771de243a63ac048a18b"
        "59d\n",
        PX_EKEY, 2, "has 61 characters, expected 64 hex digits");
    expect_error("[network]\nnetwork_key = " K1 "00\n", PX_EKEY, 2, "has 66 characters");
    expect_error("[network]\nnetwork_key =\n", PX_EKEY, 2, "has 0 characters");
    expect_error("[policy]\naccept_authors = " K1 ", abcd\n", PX_EKEY, 2, "has 4 characters");
    expect_error("[network]\npeer = 10.0.0.1:7070 " K1 " extra\n", PX_EKEY, 2, "has 70 characters");
}

Test(config, error_bad_host_port)
{
    static const struct {
        const char *value;
        const char *why;
    } bad[] = {
        {"127.0.0.1", "missing ':port'"},
        {"127.0.0.1:", "port must be a number in 1..65535"},
        {"127.0.0.1:0", "port must be"},
        {"127.0.0.1:65536", "port must be"},
        {"127.0.0.1:-1", "port must be"},
        {"127.0.0.1:80x", "port must be"},
        {":7070", "empty host"},
        {"1.2.3.999:7070", "not an IPv4 address"},
        {"1.2.3:7070", "not an IPv4 address"},
        {"::1:7070", "must be in brackets"},
        {"[::1]7070", "expected ':port' after ']'"},
        {"[::1:7070", "missing ']'"},
        {"[1.2.3.4]:7070", "not an IPv6 address"},
        {"[]:7070", "not an IPv6 address"},
        {"localhost:7070", "expected a numeric IPv4 address"},
    };
    char text[256];

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(text, sizeof(text), "[network]\nmax_peers = 5\nlisten = %s\n", bad[i].value);
        expect_error(text, PX_EVALUE, 3, bad[i].why);
        cr_assert_not_null(strstr(err.msg, "network.listen: bad host:port"), "%s", err.msg);
    }
}

Test(config, error_bad_peer)
{
    expect_error("[network]\npeer = 10.0.0.1:7070\n", PX_EVALUE, 2,
                 "expected HOST:PORT PUBKEY_HEX");
    expect_error("[network]\npeer = 10.0.0.1 " K1 "\n", PX_EVALUE, 2, "missing ':port'");
    expect_error("[network]\npeer = -bad-.example:1 " K1 "\n", PX_EVALUE, 2,
                 "not a valid host name");
    expect_error("[network]\npeer = a..b:1 " K1 "\n", PX_EVALUE, 2, "not a valid host name");
    expect_error("[network]\npeer = under_score.example:1 " K1 "\n", PX_EVALUE, 2,
                 "not a valid host name");
    /* The same peer key twice. */
    expect_error("[network]\npeer = 10.0.0.1:1 " K1 "\npeer = 10.0.0.2:2 " K1 "\n", PX_EDUPKEY, 3,
                 "is already the key of peer 10.0.0.1:1");
}

Test(config, parse_addr_hostnames)
{
    struct px_config_addr a;
    const char *why = NULL;
    char host[300];

    cr_assert_eq(px_config_parse_addr("node-1.example.org:443", true, &a, &why), 0);
    cr_assert_eq(a.kind, PX_CONFIG_ADDR_NAME);
    cr_assert_str_eq(a.host, "node-1.example.org");
    cr_assert_eq(a.port, 443);
    cr_assert_eq(px_config_parse_addr("node-1.example.org:443", false, &a, &why), PX_EVALUE);
    cr_assert_eq(px_config_parse_addr("host-.example:1", true, &a, &why), PX_EVALUE);
    cr_assert_eq(px_config_parse_addr("example.:1", true, &a, NULL), PX_EVALUE);
    /* Labels of 63 bytes pass, 64 fail; 253 bytes in all pass, more fail. */
    memset(host, 'a', 63);
    strcpy(host + 63, ".b:1");
    cr_assert_eq(px_config_parse_addr(host, true, &a, &why), 0, "%s", why);
    memset(host, 'a', 64);
    strcpy(host + 64, ".b:1");
    cr_assert_eq(px_config_parse_addr(host, true, &a, &why), PX_EVALUE);
    for (size_t i = 0; i < 4; i++) {
        memset(host + i * 64, 'a', 63);
        host[i * 64 + 63] = '.';
    }
    host[253] = '\0'; /* 4 labels: 63+1+63+1+63+1+61 */
    strcat(host, ":1");
    cr_assert_eq(px_config_parse_addr(host, true, &a, &why), 0, "%s", why);
    cr_assert_eq(strlen(a.host), 253);
    host[253] = 'a';
    strcpy(host + 254, ":1");
    cr_assert_eq(px_config_parse_addr(host, true, &a, &why), PX_EVALUE);
    /* A failure leaves out untouched. */
    a.port = 4242;
    cr_assert_eq(px_config_parse_addr("1.2.3.4:0", true, &a, &why), PX_EVALUE);
    cr_assert_eq(a.port, 4242);
}

Test(config, error_duplicate_key)
{
    expect_error("[network]\nmax_peers = 5\nmax_handshakes = 2\n\nmax_peers = 6\n", PX_EDUPKEY, 5,
                 "duplicate key \"max_peers\" in [network] (first on line 2)");
    /* Also across two headers of the same section. */
    expect_error("[node]\nname = a\n[api]\n[node]\nname = b\n", PX_EDUPKEY, 5,
                 "duplicate key \"name\"");
    /* An indented repeat is a continuation, refused for a one-line key. */
    expect_error("[node]\nname = a\n  name = b\n", PX_EINVAL, 3, "indented line continues");
    expect_error("[network]\nlisten = 127.0.0.1:1\n  max_peers = 5\n", PX_EINVAL, 3,
                 "continues network.listen");
}

Test(config, error_too_many_peers)
{
    struct text t = {0};

    text_add(&t, "[network]\n");
    for (unsigned i = 0; i < PX_CONFIG_MAX_PEERS; i++) {
        text_add(&t, "peer = 10.0.%u.%u:7070 %064x\n", i / 256, i % 256, i + 1);
    }
    cr_assert_eq(parse(t.p), 0, "line %u: %s", err.line, err.msg);
    cr_assert_eq(cfg.n_peers, PX_CONFIG_MAX_PEERS);
    cr_assert_eq(cfg.peers[255].addr.port, 7070);
    cr_assert_eq(cfg.peers[255].pubkey[31], 0);
    cr_assert_eq(cfg.peers[255].pubkey[30], 1);
    text_add(&t, "peer = 10.1.0.0:7070 %064x\n", 100000u);
    expect_error(t.p, PX_ETOOBIG, PX_CONFIG_MAX_PEERS + 2, "too many peers (at most 256)");
    free(t.p);
}

Test(config, error_too_many_authors)
{
    struct text t = {0};

    text_add(&t, "[policy]\naccept_authors = %064x", 0u);
    for (unsigned i = 1; i < PX_CONFIG_MAX_AUTHORS; i++) {
        text_add(&t, ",\n  %064x", i);
    }
    text_add(&t, "\n");
    cr_assert_eq(parse(t.p), 0, "line %u: %s", err.line, err.msg);
    cr_assert_eq(cfg.n_authors, PX_CONFIG_MAX_AUTHORS);
    cr_assert_eq(cfg.authors[1023][31], 0xff);
    cr_assert_eq(cfg.authors[1023][30], 0x03);
    t.len--; /* the final newline */
    text_add(&t, ",\n  %064x\n", 5000u);
    expect_error(t.p, PX_ETOOBIG, PX_CONFIG_MAX_AUTHORS + 2, "more than 1024 keys");
    free(t.p);
}

Test(config, error_syntax_and_long_lines)
{
    char text[512];

    expect_error("[node]\nname = a\njust words\n", PX_EINVAL, 3, "syntax error");
    /* The first error wins even when a later line has one of ours. */
    expect_error("[node]\nnot a pair\n[network]\nlisen = 1\n", PX_EINVAL, 2, "syntax error");
    /* A line at the limit parses; one byte more is an error, not a silent split. */
    snprintf(text, sizeof(text), "[node]\ndata_dir = %0*d\n", PX_CONFIG_MAX_LINE - 11, 0);
    cr_assert_eq(parse(text), 0, "%s", err.msg);
    cr_assert_eq(strlen(cfg.data_dir), PX_CONFIG_MAX_LINE - 11);
    snprintf(text, sizeof(text), "[node]\ndata_dir = %0*d\n", PX_CONFIG_MAX_LINE - 10, 0);
    expect_error(text, PX_EINVAL, 2, "line longer than 197 bytes");
    /* Long comments are long lines too. */
    snprintf(text, sizeof(text), "# %0*d\n[node]\n", 300, 0);
    expect_error(text, PX_EINVAL, 1, "line longer than");
}

Test(config, error_bad_strings)
{
    char text[256];

    expect_error("[node]\nname =\n", PX_EVALUE, 2, "is 0 bytes long, expected 1 to 64");
    snprintf(text, sizeof(text), "[node]\nname = %065d\n", 0);
    expect_error(text, PX_EVALUE, 2, "is 65 bytes long");
    expect_error("[node]\nname = caf\xc3\xa9\n", PX_EVALUE, 2, "non-printable or non-ASCII");
    expect_error("[node]\nname = a\tb\n", PX_EVALUE, 2, "non-printable");
    expect_error("[node]\ndata_dir =\n", PX_EVALUE, 2, "node.data_dir");
    expect_error("[node]\ndata_dir = a\x01z\n", PX_EVALUE, 2, "control character");
    expect_error("[node]\nlog_level = verbose\n", PX_EVALUE, 2,
                 "\"verbose\" is not a level; expected debug, info, warn or error");
    snprintf(text, sizeof(text), "[node]\nsocket = /%0107d\n", 0);
    expect_error(text, PX_EVALUE, 2, "is 108 bytes long, expected 0 to 107");
    /* The message quotes the value printably. */
    expect_error("[node]\nlog_level = a\x1b[2Jb\n", PX_EVALUE, 2, "\"a\\x1b[2Jb\"");
}

/* ---- Overrides ---- */

Test(config, set_overrides)
{
    uint8_t k1[32], k2[32];

    key_bytes(K1, k1);
    key_bytes(K2, k2);
    cr_assert_eq(parse("[network]\nmax_peers = 5\npeer = 10.0.0.1:1 " K1 "\n"), 0, "%s", err.msg);
    cr_assert_eq(cfg.line[PX_CONFIG_NETWORK_MAX_PEERS], 2);
    cr_assert_eq(px_config_set(&cfg, "network.max_peers", "7", &err), 0, "%s", err.msg);
    cr_assert_eq(cfg.max_peers, 7);
    cr_assert_eq(cfg.line[PX_CONFIG_NETWORK_MAX_PEERS], 0, "the file no longer sets it");
    cr_assert_eq(px_config_set(&cfg, "max_peers", "9", &err), 0, "%s", err.msg);
    cr_assert_eq(cfg.max_peers, 9);
    cr_assert_eq(px_config_set(&cfg, "node.log_level", "warn", &err), 0, "%s", err.msg);
    cr_assert_eq(cfg.log_level, PX_LOG_WARN);
    cr_assert_eq(px_config_set(&cfg, "listen", "", &err), 0, "%s", err.msg);
    cr_assert_eq(cfg.listen.kind, PX_CONFIG_ADDR_NONE);
    /* peer adds; accept_authors replaces. */
    cr_assert_eq(px_config_set(&cfg, "peer", "[::1]:2 " K2, &err), 0, "%s", err.msg);
    cr_assert_eq(cfg.n_peers, 2);
    cr_assert_arr_eq(cfg.peers[1].pubkey, k2, 32);
    cr_assert_eq(px_config_set(&cfg, "accept_authors", K1 "," K2, &err), 0, "%s", err.msg);
    cr_assert_eq(cfg.n_authors, 2);
    cr_assert_eq(px_config_set(&cfg, "policy.accept_authors", K2, &err), 0, "%s", err.msg);
    cr_assert_eq(cfg.n_authors, 1);
    cr_assert_arr_eq(cfg.authors[0], k2, 32);
    cr_assert_not(cfg.accept_any_author);
    cr_assert_eq(px_config_set(&cfg, "accept_authors", "any", &err), 0, "%s", err.msg);
    cr_assert(cfg.accept_any_author);
    cr_assert_eq(cfg.n_authors, 0);
    /* Overrides may repeat (the last wins), unlike keys in the file. */
    cr_assert_eq(px_config_set(&cfg, "max_peers", "10", &err), 0, "%s", err.msg);
    cr_assert_eq(cfg.max_peers, 10);
}

Test(config, set_errors_leave_cfg_unchanged)
{
    px_config_defaults(&cfg);
    cr_assert_eq(px_config_set(&cfg, "accept_authors", K1, &err), 0, "%s", err.msg);
    memcpy(&cfg2, &cfg, sizeof(cfg));

    cr_assert_eq(px_config_set(&cfg, "network.lisen", "1.2.3.4:5", &err), PX_EUNKNOWN);
    cr_assert_str_eq(err.msg, "unknown option \"network.lisen\"");
    cr_assert_eq(err.line, 0);
    cr_assert_eq(px_config_set(&cfg, "api.max_peers", "5", &err), PX_EUNKNOWN);
    cr_assert_eq(px_config_set(&cfg, "bogus", "5", &err), PX_EUNKNOWN);
    cr_assert_eq(px_config_set(&cfg, "max_peers", "0", &err), PX_EVALUE);
    cr_assert_not_null(strstr(err.msg, "out of range"), "%s", err.msg);
    cr_assert_eq(px_config_set(&cfg, "listen", "localhost:1", &err), PX_EVALUE);
    cr_assert_eq(px_config_set(&cfg, "name", "", &err), PX_EVALUE);
    cr_assert_eq(px_config_set(&cfg, "accept_unknown_peers", "nope", &err), PX_EVALUE);
    /* A list that fails halfway keeps the old list. */
    cr_assert_eq(px_config_set(&cfg, "accept_authors", K2 ", bad", &err), PX_EKEY);
    cr_assert_eq(px_config_set(&cfg, "accept_authors", K2 ", any", &err), PX_EVALUE);
    cr_assert_eq(px_config_set(&cfg, "peer", "10.0.0.1:1 xyz", &err), PX_EKEY);
    /* Nothing changed, the lines included. */
    assert_same_config(&cfg, &cfg2);
    cr_assert_arr_eq(cfg.line, cfg2.line, sizeof(cfg.line));
}

/* ---- Checks between options ---- */

Test(config, validate_cross_checks)
{
    char path[PX_CONFIG_MAX_PATH];

    cr_assert_eq(parse("[network]\nmax_peers = 8\nmax_handshakes = 9\n"), 0, "%s", err.msg);
    cr_assert_eq(px_config_validate(&cfg, &err), PX_EVALUE);
    cr_assert_eq(err.line, 3);
    cr_assert_str_eq(err.msg, "network.max_handshakes (9) is larger than network.max_peers (8)");

    cr_assert_eq(parse("[network]\nidle_timeout = 5\n"), 0, "%s", err.msg);
    cr_assert_eq(px_config_validate(&cfg, &err), PX_EVALUE);
    cr_assert_eq(err.line, 2);
    cr_assert_not_null(strstr(err.msg, "handshake_timeout (10) is longer than"), "%s", err.msg);

    cr_assert_eq(parse("[network]\npeer = 10.0.0.1:1 " K1 "\npeer = 10.0.0.2:1 " K2 "\n"
                       "max_handshakes = 1\nmax_peers = 1\n"),
                 0, "%s", err.msg);
    cr_assert_eq(px_config_validate(&cfg, &err), PX_EVALUE);
    cr_assert_eq(err.line, 5);
    cr_assert_str_eq(err.msg, "2 peer lines, but network.max_peers is 1; raise it or remove peers");
    /* Fixed from the command line: the file's line no longer applies. */
    cr_assert_eq(px_config_set(&cfg, "max_peers", "2", &err), 0);
    cr_assert_eq(px_config_validate(&cfg, &err), 0, "%s", err.msg);

    /* A page cache too small to page through (0 means no page file). */
    for (unsigned v = 0; v <= 5; v++) {
        char text[96];

        snprintf(text, sizeof(text), "[node]\nindex_cache_pages = %u\n", v);
        cr_assert_eq(parse(text), 0, "%s", err.msg);
        if (v == 0 || v >= 4) {
            cr_assert_eq(px_config_validate(&cfg, &err), 0, "%u: %s", v, err.msg);
        } else {
            cr_assert_eq(px_config_validate(&cfg, &err), PX_EVALUE, "%u", v);
            cr_assert_eq(err.line, 2);
            snprintf(text, sizeof(text),
                     "node.index_cache_pages (%u) must be 0 (no page file) or at least 4", v);
            cr_assert_str_eq(err.msg, text);
        }
    }

    /* A data_dir whose socket path would not fit a sockaddr_un. */
    memset(path, 'd', 100);
    path[100] = '\0';
    px_config_defaults(&cfg);
    cr_assert_eq(px_config_set(&cfg, "data_dir", path, &err), 0, "%s", err.msg);
    cr_assert_eq(px_config_validate(&cfg, &err), PX_EVALUE);
    cr_assert_eq(err.line, 0);
    cr_assert_not_null(strstr(err.msg, "would be 112 bytes"), "%s", err.msg);
    cr_assert_eq(px_config_set(&cfg, "socket", "/run/praxis.sock", &err), 0, "%s", err.msg);
    cr_assert_eq(px_config_validate(&cfg, &err), 0, "%s", err.msg);
}

Test(config, socket_path)
{
    char out[PX_CONFIG_MAX_PATH];

    px_config_defaults(&cfg);
    cr_assert_eq(px_config_socket_path(&cfg, out, sizeof(out)), 0);
    cr_assert_str_eq(out, "data/praxis.sock");
    cr_assert_eq(px_config_set(&cfg, "data_dir", "/var/lib/praxis/", &err), 0);
    cr_assert_eq(px_config_socket_path(&cfg, out, sizeof(out)), 0);
    cr_assert_str_eq(out, "/var/lib/praxis/praxis.sock");
    cr_assert_eq(px_config_set(&cfg, "socket", "/tmp/p.sock", &err), 0);
    cr_assert_eq(px_config_socket_path(&cfg, out, sizeof(out)), 0);
    cr_assert_str_eq(out, "/tmp/p.sock");
    cr_assert_eq(px_config_socket_path(&cfg, out, 11), PX_ETOOBIG);
    cr_assert_eq(px_config_socket_path(&cfg, out, 12), 0);
}

Test(config, error_format)
{
    char buf[300];

    expect_error("[network]\nlisen = 1\n", PX_EUNKNOWN, 2, "lisen");
    cr_assert_str_eq(px_config_error_format(&err, "praxisd.conf", buf, sizeof(buf)),
                     "praxisd.conf:2: unknown key \"lisen\" in [network]");
    err.line = 0;
    cr_assert_str_eq(px_config_error_format(&err, "--set", buf, sizeof(buf)),
                     "--set: unknown key \"lisen\" in [network]");
}

/* ---- Files ---- */

Test(config, example_file_documents_every_option)
{
    char *text = read_file(EXAMPLE_CONF);
    char *peers;
    size_t n = 0;

    /* It parses, validates, and sets exactly the defaults. */
    cr_assert_eq(px_config_load(EXAMPLE_CONF, &cfg, &err), 0, "praxisd.conf:%u: %s", err.line,
                 err.msg);
    cr_assert_eq(px_config_validate(&cfg, &err), 0, "%s", err.msg);
    px_config_defaults(&cfg2);
    assert_same_config(&cfg, &cfg2);

    /* Every option is set on a line of its own (peer, a list, is shown commented). */
    cr_assert_eq(px_config_load(EXAMPLE_CONF, &cfg, &err), 0);
    for (size_t i = 0; i < PX_CONFIG_NOPTS; i++) {
        const struct px_config_option *o = px_config_option(i);
        char needle[64];

        if (o->flags & PX_CONFIG_F_REPEAT) {
            snprintf(needle, sizeof(needle), "\n# %s = ", o->key);
            cr_assert_not_null(strstr(text, needle), "no example for %s.%s", o->section, o->key);
        } else {
            cr_assert_neq(cfg.line[i], 0, "%s.%s missing from the example", o->section, o->key);
        }
        /* Each option's block states its default and (for numbers) its range. */
        if (o->type == PX_CONFIG_T_UINT) {
            snprintf(needle, sizeof(needle), "Range: %llu to %llu", (unsigned long long)o->min,
                     (unsigned long long)o->max);
            cr_assert_not_null(strstr(text, needle), "%s.%s: no \"%s\"", o->section, o->key,
                               needle);
            snprintf(needle, sizeof(needle), "Default: %s", o->def);
            cr_assert_not_null(strstr(text, needle), "%s.%s: no \"%s\"", o->section, o->key,
                               needle);
        }
    }

    /* The commented peer examples are valid lines. */
    peers = malloc(strlen(text) + 1);
    cr_assert_not_null(peers);
    strcpy(peers, "[network]\n");
    for (char *line = strtok(text, "\n"); line != NULL; line = strtok(NULL, "\n")) {
        if (strncmp(line, "# peer = ", 9) == 0) {
            strcat(peers, line + 2);
            strcat(peers, "\n");
            n++;
        }
    }
    cr_assert_eq(n, 3);
    cr_assert_eq(parse(peers), 0, "line %u: %s", err.line, err.msg);
    cr_assert_eq(cfg.n_peers, 3);
    cr_assert_eq(cfg.peers[1].addr.kind, PX_CONFIG_ADDR_IPV6);
    cr_assert_eq(cfg.peers[2].addr.kind, PX_CONFIG_ADDR_NAME);
    free(peers);
    free(text);
}

Test(config, load_errors)
{
    static const char good[] = "[network]\nmax_peers = 3\n";
    const char *path;
    char *big;

    cr_assert_eq(px_config_load("/nonexistent/praxisd.conf", &cfg, &err), PX_EIO);
    cr_assert_eq(err.line, 0);
    cr_assert_not_null(strstr(err.msg, "cannot open"), "%s", err.msg);

    cr_assert_eq(px_config_load("/", &cfg, &err), PX_EIO, "%s", err.msg);

    path = temp_file(good, strlen(good));
    cr_assert_eq(px_config_load(path, &cfg, &err), 0, "%s", err.msg);
    cr_assert_eq(cfg.max_peers, 3);
    unlink(path);

    path = temp_file("[node]\nname = a\0b\n", 18);
    cr_assert_eq(px_config_load(path, &cfg, &err), PX_EINVAL);
    cr_assert_eq(err.line, 2);
    cr_assert_str_eq(err.msg, "NUL byte in the file");
    unlink(path);

    path = temp_file("[node]\nname = a\nname = b\n", 25);
    cr_assert_eq(px_config_load(path, &cfg, &err), PX_EDUPKEY);
    cr_assert_eq(err.line, 3);
    unlink(path);

    /* At the cap it loads (a file of comments); one byte more does not. */
    big = malloc(PX_CONFIG_MAX_FILE + 1);
    cr_assert_not_null(big);
    for (size_t i = 0; i < PX_CONFIG_MAX_FILE; i += 64) {
        memset(big + i, '#', 63);
        big[i + 63] = '\n';
    }
    path = temp_file(big, PX_CONFIG_MAX_FILE);
    cr_assert_eq(px_config_load(path, &cfg, &err), 0, "%s", err.msg);
    unlink(path);
    big[PX_CONFIG_MAX_FILE] = '\n';
    path = temp_file(big, PX_CONFIG_MAX_FILE + 1);
    cr_assert_eq(px_config_load(path, &cfg, &err), PX_ETOOBIG);
    cr_assert_str_eq(err.msg, "larger than 1048576 bytes");
    unlink(path);
    free(big);
}
