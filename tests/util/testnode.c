/* SPDX-License-Identifier: MIT */
/* testnode.c - see testnode.h. */
#include "testnode.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <jansson.h>

#define MAX_WAIT_NODES 16

void
px_testnode_init(struct px_testnode *n, const char *parent, const char *name,
                 uint16_t (*pick_port)(void))
{
    struct px_run r;
    json_error_t jerr;
    json_t *o;

    memset(n, 0, sizeof(*n));
    cr_assert(asprintf(&n->dir, "%s/%s", parent, name) > 0);
    px_testd_start(&n->d, n->dir);
    px_testd_praxis(&n->d, &r, NULL, 0, "status", "--json", NULL);
    cr_assert_eq(r.status, 0, "status: %s", r.err);
    o = json_loads(r.out, 0, &jerr);
    cr_assert_not_null(o);
    snprintf(n->key, sizeof(n->key), "%s", json_string_value(json_object_get(o, "public_key")));
    json_decref(o);
    px_run_free(&r);
    px_testd_free(&n->d);
    n->port = pick_port();
    snprintf(n->listen, sizeof(n->listen), "127.0.0.1:%u", n->port);
}

void
px_testnode_start(struct px_testnode *n, const char *config)
{
    struct px_testd_options opt = {.listen = n->listen, .config = config};

    if (opt.config == NULL) {
        opt.config = n->conf;
    }
    px_testd_start_opts(&n->d, n->dir, &opt);
}

void
px_testnode_free(struct px_testnode *n)
{
    px_testd_free(&n->d);
    free(n->dir);
    free(n->conf);
    n->dir = NULL;
    n->conf = NULL;
}

void
px_testnode_add_peer(struct px_testnode *n, const struct px_testnode *p)
{
    char *next;

    cr_assert(asprintf(&next, "%speer = 127.0.0.1:%u %s\n",
                       n->conf != NULL ? n->conf : "[network]\n", p->port, p->key) > 0);
    free(n->conf);
    n->conf = next;
}

char *
px_testnode_peer_config(const char *extra, struct px_testnode *const *peers, size_t np)
{
    char *text = NULL, *next;

    cr_assert(asprintf(&text, "[network]\n%s", extra != NULL ? extra : "") > 0);
    for (size_t i = 0; i < np; i++) {
        cr_assert(
            asprintf(&next, "%speer = 127.0.0.1:%u %s\n", text, peers[i]->port, peers[i]->key) > 0);
        free(text);
        text = next;
    }
    return text;
}

void
px_testnode_wait_log(const struct px_testnode *n, const char *text, int timeout_ms)
{
    px_testnode_wait_log_count(n, text, NULL, 1, timeout_ms);
}

void
px_testnode_wait_log_count(const struct px_testnode *n, const char *t1, const char *t2, int want,
                           int timeout_ms)
{
    int64_t deadline = px_testd_now_ms() + timeout_ms;
    char *log;

    while (px_testd_now_ms() < deadline) {
        if (px_testd_log_count(&n->d, t1, t2, NULL) >= want) {
            return;
        }
        px_testd_poll_pause();
    }
    log = px_testd_log(&n->d);
    cr_assert_fail("node %s: fewer than %d lines with \"%s\"%s%s%s in the log:\n%s", n->dir, want,
                   t1, t2 != NULL ? " and \"" : "", t2 != NULL ? t2 : "", t2 != NULL ? "\"" : "",
                   log);
}

char *
px_testnode_wait_log_line(const struct px_testnode *n, const char *t1, const char *t2,
                          int timeout_ms)
{
    char *line;

    /* The log only grows (it is appended to across restarts), so the line is still there. */
    px_testnode_wait_log_count(n, t1, t2, 1, timeout_ms);
    line = px_testd_log_line(&n->d, t1, t2);
    cr_assert_not_null(line, "node %s: the line with \"%s\" went from the log", n->dir, t1);
    return line;
}

void
px_testnode_wait_peers(const struct px_testnode *n, const char *key, const char *state, int want,
                       int readings, int timeout_ms)
{
    int64_t deadline = px_testd_now_ms() + timeout_ms;
    int got = -1, stable = 0;
    char *log;

    while (px_testd_now_ms() < deadline) {
        got = px_testd_count_peers(&n->d, key, state);
        stable = got == want ? stable + 1 : 0;
        if (stable >= readings) {
            return;
        }
        px_testd_poll_pause();
    }
    log = px_testd_log(&n->d);
    cr_assert_fail("node %s: %d rows for %.16s in %s, want %d; log:\n%s", n->dir, got,
                   key != NULL ? key : "any key", state != NULL ? state : "any state", want, log);
}

int64_t
px_testnode_wait_records(struct px_testnode *const *nodes, size_t n, uint64_t want, int timeout_ms,
                         const char *context)
{
    int64_t start = px_testd_now_ms(), deadline = start + timeout_ms;
    bool done[MAX_WAIT_NODES] = {false};
    size_t left = n;

    cr_assert_leq(n, MAX_WAIT_NODES);
    while (left > 0 && px_testd_now_ms() < deadline) {
        for (size_t i = 0; i < n; i++) {
            if (!done[i] && px_testd_records(&nodes[i]->d) == want) {
                done[i] = true;
                left--;
            }
        }
        if (left > 0) {
            px_testd_poll_pause();
        }
    }
    for (size_t i = 0; i < n && left > 0; i++) {
        if (!done[i]) {
            uint64_t got = px_testd_records(&nodes[i]->d);
            char *log = px_testd_log_tail(&nodes[i]->d);

            cr_assert_fail("%s: node %s holds %llu records, want %llu after %d ms; its log "
                           "ends:\n%s",
                           context, nodes[i]->dir, (unsigned long long)got,
                           (unsigned long long)want, timeout_ms, log);
        }
    }
    return px_testd_now_ms() - start;
}

void
px_testnode_publish(const struct px_testnode *n, const char *title, size_t body_len, char *id)
{
    struct px_run r;
    char *text, *body = calloc(1, body_len + 1);
    json_error_t jerr;
    json_t *o;

    cr_assert_not_null(body);
    memset(body, 'b', body_len);
    cr_assert(asprintf(&text,
                       "{\"practice\": \"good\", \"title\": \"%s\", \"summary\": \"s\", "
                       "%s%s%s\"language\": \"en\", \"license\": \"CC-BY-4.0\"}\n",
                       title, body_len > 0 ? "\"body\": \"" : "", body,
                       body_len > 0 ? "\", " : "") > 0);
    px_testd_praxis(&n->d, &r, text, strlen(text), "publish", "--json", "-", NULL);
    cr_assert_eq(r.status, 0, "publish: %s", r.err);
    if (id != NULL) {
        o = json_loads(r.out, JSON_DISABLE_EOF_CHECK, &jerr);
        cr_assert_not_null(o, "%s", r.out);
        snprintf(id, 65, "%s", json_string_value(json_object_get(o, "id")));
        cr_assert_eq(strlen(id), 64);
        json_decref(o);
    }
    px_run_free(&r);
    free(text);
    free(body);
}

void
px_testnode_publish_many(const struct px_testnode *n, const char *prefix, size_t count)
{
    size_t cap = 256 + count * (strlen(prefix) + 160), len = 0;
    char *text = malloc(cap);
    struct px_run r;

    cr_assert_not_null(text);
    for (size_t i = 0; i < count; i++) {
        int k = snprintf(text + len, cap - len,
                         "{\"practice\": \"good\", \"title\": \"%s %zu\", \"summary\": \"s\", "
                         "\"language\": \"en\", \"license\": \"CC-BY-4.0\"}\n",
                         prefix, i);

        cr_assert(k > 0 && (size_t)k < cap - len);
        len += (size_t)k;
    }
    px_testd_praxis(&n->d, &r, text, len, "publish", "--json", "-", NULL);
    cr_assert_eq(r.status, 0, "publish of %zu cases: %s", count, r.err);
    px_run_free(&r);
    free(text);
}
