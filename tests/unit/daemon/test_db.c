/* SPDX-License-Identifier: MIT */
/* test_db.c - the store's jobs on a loop: group commit, reads beside writes, and a WAL that
 * stays bounded under back-to-back commits. */
#include <sys/stat.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <uv.h>

#include "db.h"
#include "protocol/err.h"
#include "util/store_fixture.h"

#define T0 SFX_T0

TestSuite(db, .init = sfx_setup, .fini = sfx_teardown);

/* WAL pages the bounded test allows before the writer empties the WAL. */
#define WAL_LIMIT 48
/* Records written one request at a time in the bounded test. */
#define N_WRITES 160

struct run {
    uv_loop_t loop;
    struct px_db *db;
    struct sfx_rec *recs[N_WRITES];
    struct px_db_write w[N_WRITES];
    size_t acked, counted, next;
    int64_t wal_max, wal_prev;
    unsigned wal_drops; /* times the WAL file got shorter */
    uint64_t last_count;
    struct px_db_read rd;
    bool reading, closed;
};

static int64_t
wal_bytes(void)
{
    char path[600];
    struct stat st;

    snprintf(path, sizeof(path), "%s-wal", sfx.path);
    return stat(path, &st) == 0 ? (int64_t)st.st_size : 0;
}

static void count_work(struct px_store *s, void *arg);
static void count_done(void *arg, int rc);

static void
start_count(struct run *r)
{
    if (r->reading) {
        return;
    }
    r->reading = true;
    r->rd.fn = count_work;
    r->rd.done = count_done;
    r->rd.arg = r;
    cr_assert_eq(px_db_read(r->db, &r->rd), 0);
}

static void
count_work(struct px_store *s, void *arg)
{
    struct run *r = arg;
    struct px_store_stats st;

    cr_assert_eq(px_store_stats(s, &st), 0);
    r->last_count = st.records;
}

static void
count_done(void *arg, int rc)
{
    struct run *r = arg;

    cr_assert_eq(rc, 0);
    r->reading = false;
    r->counted++;
}

static void write_next(struct run *r);

static void
written(struct run *r, struct px_db_write *w, int rc)
{
    int64_t wal = wal_bytes();

    cr_assert_eq(rc, 0, "a write failed: %s", px_err_name(rc));
    cr_assert_eq(w->items[0]->result, 0);
    r->acked++;
    if (wal > r->wal_max) {
        r->wal_max = wal;
    }
    if (wal < r->wal_prev) {
        r->wal_drops++;
    }
    r->wal_prev = wal;
    start_count(r); /* a read beside the next writes */
    write_next(r);
}

static struct run *the_run;

static void
on_write(void *arg, int rc)
{
    written(the_run, arg, rc);
}

static void
write_next(struct run *r)
{
    size_t i = r->next;

    if (i == N_WRITES) {
        return;
    }
    r->next++;
    r->w[i].items = &r->recs[i]->ptr;
    r->w[i].n = 1;
    r->w[i].cb = on_write;
    r->w[i].arg = &r->w[i];
    cr_assert_eq(px_db_write(r->db, &r->w[i]), 0);
}

static void
on_closed(void *arg)
{
    ((struct run *)arg)->closed = true;
}

Test(db, wal_stays_bounded_under_back_to_back_commits)
{
    struct run *r = calloc(1, sizeof(*r));
    char err[256];
    uint64_t deadline;

    cr_assert_not_null(r);
    the_run = r;
    for (size_t i = 0; i < N_WRITES; i++) {
        char title[64];

        snprintf(title, sizeof(title), "Case %zu about wells and water", i);
        r->recs[i] = sfx_case(&sfx.alice, T0 + i, title, "water", PX_PRACTICE_GOOD, NULL);
    }
    cr_assert_eq(uv_loop_init(&r->loop), 0);
    cr_assert_eq(px_db_open(&r->loop, sfx.path, 2, NULL, NULL, &r->db, err, sizeof(err)), 0, "%s",
                 err);
    px_db_set_wal_limit(r->db, WAL_LIMIT);
    /* Two requests queued at once, so that commits follow each other without a pause. */
    write_next(r);
    write_next(r);
    deadline = uv_now(&r->loop) + 60000;
    while (r->acked < N_WRITES && uv_now(&r->loop) < deadline) {
        uv_run(&r->loop, UV_RUN_ONCE);
    }
    cr_assert_eq(r->acked, N_WRITES, "only %zu of %d writes acknowledged", r->acked, N_WRITES);
    while (r->reading && uv_now(&r->loop) < deadline) {
        uv_run(&r->loop, UV_RUN_ONCE);
    }
    cr_assert_gt(r->counted, 0);
    /* The writer emptied the WAL more than once, and it never grew far past the limit: the
     * limit plus what one transaction of one small record writes (well under 64 pages). */
    cr_assert_geq(r->wal_drops, 2, "the WAL was never emptied (largest %lld bytes)",
                  (long long)r->wal_max);
    cr_assert_leq(r->wal_max, (int64_t)(WAL_LIMIT + 64) * (4096 + 24) + 32,
                  "the WAL grew to %lld bytes", (long long)r->wal_max);
    px_db_close(r->db, on_closed, r);
    while (!r->closed && uv_now(&r->loop) < deadline) {
        uv_run(&r->loop, UV_RUN_ONCE);
    }
    cr_assert(r->closed);
    cr_assert_eq(uv_loop_close(&r->loop), 0);
    {
        struct px_store_stats st;

        cr_assert_eq(px_store_stats(sfx.s, &st), 0);
        cr_assert_eq(st.records, N_WRITES);
        cr_assert_eq(px_store_check(sfx.s), 0);
    }
    for (size_t i = 0; i < N_WRITES; i++) {
        free(r->recs[i]);
    }
    free(r);
}

struct now_arg {
    int rc;
    int64_t *rows;
    size_t n;
    const char *hex;
};

static void
get_work(struct px_store *s, void *arg)
{
    struct now_arg *a = arg;

    free(a->rows);
    a->rows = NULL;
    a->rc = px_store_get(s, a->hex, strlen(a->hex), false, &a->rows, &a->n);
}

static void
now_closed(void *arg)
{
    *(bool *)arg = true;
}

Test(db, read_now_answers_on_the_loop)
{
    struct sfx_rec *r = sfx_case(&sfx.alice, T0, "Wells", "water", PX_PRACTICE_GOOD, NULL);
    char hex[2 * PX_ID_BYTES + 1], err[256];
    struct now_arg a = {0};
    struct px_db *db;
    uv_loop_t loop;
    bool closed = false;

    cr_assert_eq(sfx_insert(r), 0);
    for (size_t i = 0; i < PX_ID_BYTES; i++) {
        snprintf(hex + 2 * i, 3, "%02x", r->item.rec.id[i]);
    }
    a.hex = hex;
    cr_assert_eq(uv_loop_init(&loop), 0);
    cr_assert_eq(px_db_open(&loop, sfx.path, 1, NULL, NULL, &db, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(px_db_read_now(db, get_work, &a), 0);
    cr_assert_eq(a.rc, 0);
    cr_assert_eq(a.n, 1);
    cr_assert_eq(a.rows[0], r->item.rowid);

    px_db_close(db, now_closed, &closed);
    for (int i = 0; i < 1000 && !closed; i++) {
        uv_run(&loop, UV_RUN_ONCE);
    }
    cr_assert(closed);
    cr_assert_eq(uv_loop_close(&loop), 0);
    free(a.rows);
    free(r);
}
