/* SPDX-License-Identifier: MIT */
/*
 * test_index_pages.c - the reconciliation index kept in a page file (node.index_dir,
 * node.index_cache_pages; docs/operations.md), with real praxisd nodes on 127.0.0.1:
 *
 *  - two nodes whose indexes page through the smallest cache (4 pages of up to 128
 *    records, for thousands of records) reconcile in both roles to the same library, and
 *    leave no file behind in index_dir;
 *  - a page file on a full disk (index_dir on a 64 KiB tmpfs, which holds a dozen pages):
 *    when it fills while the index is built at start, and when it fills while records
 *    arrive, the node logs it once, rebuilds the index in memory from the store, and goes
 *    on reconciling: a fresh peer gets every record from it.
 *
 * Mounting needs root (CI runs as root). Without it the full-disk tests say so and skip,
 * except under CI=true, where they fail. Every wait is bounded.
 */
#include <sys/mount.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <criterion/logging.h>

#include "util/daemon_util.h"
#include "util/testnode.h"

#define WAIT_MS 60000
/* Records each paging node publishes: many pages, against a 4-page cache. */
#define N_A 3000
#define N_B 700
/* The small disk: 16 pages of 4 KiB hold 12 index pages of 5,416 bytes. */
#define DISK_SIZE "64k"
/* Batches published until the page file fills (each fills another 2 index pages). */
#define BATCH       250
#define MAX_BATCHES 24

static char *tmp, *mnt;
static bool mounted;
/* The nodes of the running test: stopped in teardown, after a failed assertion too. */
static struct px_testnode a, b;

static void
setup(void)
{
    unsetenv("PRAXIS_SOCKET");
    tmp = px_test_tmpdir();
    cr_assert(asprintf(&mnt, "%s/idx", tmp) > 0);
    cr_assert_eq(mkdir(mnt, 0700), 0, "mkdir %s: %s", mnt, strerror(errno));
    mounted = false;
    memset(&a, 0, sizeof(a));
    memset(&b, 0, sizeof(b));
}

/* Runs after a failed assertion too; a skip calls it first, so calling it twice is safe. */
static void
teardown(void)
{
    px_testnode_free(&a);
    px_testnode_free(&b);
    if (mounted && umount(mnt) != 0) {
        fprintf(stderr, "test_index_pages: umount %s: %s; detaching it\n", mnt, strerror(errno));
        umount2(mnt, MNT_DETACH);
    }
    mounted = false;
    if (tmp != NULL) {
        px_test_rmtree(tmp);
    }
    free(mnt);
    free(tmp);
    mnt = tmp = NULL;
}

TestSuite(index_pages, .init = setup, .fini = teardown, .timeout = 180);

/* Mounts a DISK_SIZE tmpfs on mnt, or skips (fails under CI=true) when that is not allowed. */
static void
mount_small_disk(void)
{
    if (!px_test_mount_tmpfs(mnt, DISK_SIZE, "test_index_pages")) {
        teardown();
        cr_skip_test("cannot mount a %s tmpfs (it needs root): skipped", DISK_SIZE);
    }
    mounted = true;
}

/* The entries of dir other than . and .. */
static int
dir_entries(const char *dir)
{
    DIR *dp = opendir(dir);
    struct dirent *e;
    int n = 0;

    cr_assert_not_null(dp, "opendir %s: %s", dir, strerror(errno));
    while ((e = readdir(dp)) != NULL) {
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            n++;
        }
    }
    closedir(dp);
    return n;
}

/* "[node]\nindex_dir = DIR\nindex_cache_pages = 4\n" (DIR NULL: the data directory), then
 * [network] with accept_unknown_peers (a fresh peer may dial in) and the peer lines of
 * peers[0..np). The caller frees it. */
static char *
paged_config(const char *dir, struct px_testnode *const *peers, size_t np)
{
    char *peer_lines = px_testnode_peer_config("accept_unknown_peers = yes\n", peers, np), *conf;

    cr_assert(asprintf(&conf, "[node]\n%s%s%sindex_cache_pages = 4\n%s",
                       dir != NULL ? "index_dir = " : "", dir != NULL ? dir : "",
                       dir != NULL ? "\n" : "", peer_lines) > 0);
    free(peer_lines);
    return conf;
}

/* Starts an empty node b that dials a, and waits until it holds every record of a. */
static void
fresh_peer_catches_up(struct px_testnode *from, struct px_testnode *to)
{
    struct px_testnode *pf[] = {from}, *pt[] = {to};
    char *conf = px_testnode_peer_config(NULL, pf, 1);

    px_testnode_start(to, conf);
    free(conf);
    px_testnode_wait_records(pt, 1, px_testd_records(&from->d), WAIT_MS, "catching up");
}

Test(index_pages, nodes_paging_through_a_tiny_cache_reconcile_both_ways)
{
    struct px_testnode *pa[] = {&a}, *pb[] = {&b}, *both[] = {&a, &b};
    char *ca, *cb;

    px_testnode_init(&a, tmp, "a", px_test_free_port);
    px_testnode_init(&b, tmp, "b", px_test_free_port);
    /* Each holds records of its own first: they meet with differences on both sides. */
    ca = paged_config(mnt, pb, 1);
    cb = paged_config(NULL, pa, 1);
    px_testnode_start(&a, "[node]\nindex_cache_pages = 4\n");
    px_testnode_publish_many(&a, "Held by a", N_A);
    cr_assert_eq(px_testd_stop(&a.d), 0);
    px_testd_free(&a.d); /* started again below, with another configuration */
    px_testnode_start(&b, "[node]\nindex_cache_pages = 4\n");
    px_testnode_publish_many(&b, "Held by b", N_B);
    cr_assert_eq(px_testd_stop(&b.d), 0);
    px_testd_free(&b.d); /* started again below, with another configuration */

    /* Both dial, so each reconciles as client and as server. */
    px_testnode_start(&a, ca);
    px_testnode_start(&b, cb);
    px_testnode_wait_log(&a, "reconciliation index of 3000 records", WAIT_MS);
    cr_assert(px_testd_log_has(&a.d, "in its page file"), "a keeps its index in memory");
    px_testnode_wait_records(both, 2, N_A + N_B, WAIT_MS, "reconciling");
    /* The page file has no name: nothing in index_dir while it is in use. */
    cr_assert_eq(dir_entries(mnt), 0, "index_dir holds files");
    /* New records after the first reconciliation still reach the other node. */
    px_testnode_publish_many(&b, "Later at b", 300);
    px_testnode_wait_records(pa, 1, N_A + N_B + 300, WAIT_MS, "pushing");
    cr_assert_not(px_testd_log_has(&a.d, "page file failed"));
    cr_assert_not(px_testd_log_has(&b.d, "page file failed"));
    cr_assert_eq(px_testd_stop(&a.d), 0);
    cr_assert_eq(px_testd_stop(&b.d), 0);
    free(ca);
    free(cb);
}

Test(index_pages, a_page_file_full_at_start_moves_the_index_to_memory)
{
    char *conf;

    mount_small_disk();
    px_testnode_init(&a, tmp, "a", px_test_free_port);
    px_testnode_init(&b, tmp, "b", px_test_free_port);
    px_testnode_start(&a, NULL);
    px_testnode_publish_many(&a, "Before the restart", N_A);
    cr_assert_eq(px_testd_stop(&a.d), 0);
    px_testd_free(&a.d); /* started again below, with another configuration */

    /* 3,000 records need 27 pages; the disk holds 12. */
    conf = paged_config(mnt, NULL, 0);
    px_testnode_start(&a, conf);
    px_testnode_wait_log(&a, "page file failed (no space left on the device)", WAIT_MS);
    px_testnode_wait_log(&a, "reconciliation index of 3000 records", WAIT_MS);
    cr_assert(px_testd_log_has(&a.d, "in no page file"), "the rebuilt index is not in memory");
    fresh_peer_catches_up(&a, &b);
    cr_assert_eq(px_testd_records(&b.d), N_A);
    cr_assert(px_testd_running(&a.d));
    free(conf);
}

Test(index_pages, a_page_file_filling_up_moves_the_index_to_memory)
{
    char *conf, prefix[32];
    int batches = 0;

    mount_small_disk();
    px_testnode_init(&a, tmp, "a", px_test_free_port);
    px_testnode_init(&b, tmp, "b", px_test_free_port);
    conf = paged_config(mnt, NULL, 0);
    px_testnode_start(&a, conf);
    px_testnode_wait_log(&a, "reconciliation index of 0 records", WAIT_MS);
    cr_assert(px_testd_log_has(&a.d, "in its page file"), "the index is not paged");

    /* Records arrive until a new page finds the disk full. */
    while (!px_testd_log_has(&a.d, "page file failed") && batches < MAX_BATCHES) {
        snprintf(prefix, sizeof(prefix), "Batch %d case", batches);
        px_testnode_publish_many(&a, prefix, BATCH);
        batches++;
    }
    cr_assert(px_testd_log_has(&a.d, "page file failed (no space left on the device)"),
              "%d batches of %d and the page file never filled", batches, BATCH);
    px_testnode_wait_log(&a, "in no page file", WAIT_MS);
    cr_log_info("index_pages: the page file filled after %d batches of %d", batches, BATCH);

    /* It goes on: more records, and a fresh peer reconciles every one from it. */
    px_testnode_publish_many(&a, "After the fall-back", BATCH);
    cr_assert_eq(px_testd_records(&a.d), (uint64_t)(batches + 1) * BATCH);
    fresh_peer_catches_up(&a, &b);
    {
        char *log = px_testd_log(&a.d), *at = strstr(log, "page file failed");

        cr_assert_null(strstr(at + 1, "page file failed"), "logged more than once:\n%s", log);
        free(log);
    }
    free(conf);
}
