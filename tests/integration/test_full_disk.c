/* SPDX-License-Identifier: MIT */
/*
 * test_full_disk.c - praxisd on a full disk: its data directory on a small tmpfs that a
 * filler file fills up. Publishing must then fail with a clear error (exit 1, "no space
 * left", ENOSPC) while the daemon keeps running and answering queries, nothing already
 * stored may be damaged, and once the filler is gone publishing works again. A second
 * test kills the daemon with SIGKILL while the disk is full and restarts it once there
 * is room again.
 *
 * Mounting needs root (CI runs as root). Without it the tests say so and skip, except
 * under CI=true, where they fail. The daemon's log is kept outside the small disk.
 */
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <jansson.h>

#include "util/daemon_util.h"

#define DISK_SIZE "4m"
/* Records published before the disk fills. */
#define N_BEFORE 20
/* Publishes tried on the full disk before giving up on seeing one refused: whatever free
 * pages store.db and its WAL still hold are used first, BODY_BYTES at a time. */
#define MAX_FULL_TRIES 400
#define BODY_BYTES     16000

static char *tmp, *mnt, *filler;
static bool mounted;
static struct px_testd d, other;

static void
setup(void)
{
    unsetenv("PRAXIS_SOCKET");
    tmp = px_test_tmpdir();
    cr_assert(asprintf(&mnt, "%s/disk", tmp) > 0);
    cr_assert(asprintf(&filler, "%s/filler", mnt) > 0);
    cr_assert_eq(mkdir(mnt, 0700), 0, "mkdir %s: %s", mnt, strerror(errno));
    mounted = false;
    memset(&d, 0, sizeof(d));
    memset(&other, 0, sizeof(other));
}

/*
 * Runs after a failed assertion too: the daemon stops and the disk is unmounted. Criterion
 * does not run it after cr_skip_test, so a skip calls it first; calling it twice is safe.
 */
static void
teardown(void)
{
    px_testd_free(&d);
    px_testd_free(&other);
    if (mounted && umount(mnt) != 0) {
        fprintf(stderr, "test_full_disk: umount %s: %s; detaching it\n", mnt, strerror(errno));
        umount2(mnt, MNT_DETACH);
    }
    mounted = false;
    px_test_rmtree(tmp);
    free(filler);
    free(mnt);
    free(tmp);
    filler = mnt = tmp = NULL;
}

TestSuite(full_disk, .init = setup, .fini = teardown, .timeout = 120);

/* Mounts a DISK_SIZE tmpfs on mnt, or skips (fails under CI=true) when that is not allowed. */
static void
mount_small_disk(void)
{
    if (!px_test_mount_tmpfs(mnt, DISK_SIZE, "test_full_disk")) {
        teardown();
        cr_skip_test("cannot mount a %s tmpfs (it needs root): skipped", DISK_SIZE);
    }
    mounted = true;
}

static void
start_on_small_disk(void)
{
    char *dir, *log;
    struct px_testd_options opt = {0};

    cr_assert(asprintf(&dir, "%s/data", mnt) > 0);
    cr_assert(asprintf(&log, "%s/praxisd.log", tmp) > 0);
    opt.log_path = log;
    px_testd_start_opts(&d, dir, &opt);
    free(dir);
    free(log);
}

/* Writes to path until the file system has no byte left; returns the bytes written. */
static size_t
fill_disk(const char *path)
{
    static char chunk[1 << 16];
    size_t total = 0, sz = sizeof(chunk);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

    cr_assert_geq(fd, 0, "%s: %s", path, strerror(errno));
    memset(chunk, 'x', sizeof(chunk));
    while (sz > 0) {
        ssize_t n = write(fd, chunk, sz);

        if (n > 0) {
            total += (size_t)n;
            continue;
        }
        cr_assert(n < 0 && (errno == ENOSPC || errno == EINTR), "filling %s: %s", path,
                  strerror(errno));
        if (errno == ENOSPC) {
            sz /= 2; /* the last pages, smaller and smaller */
        }
    }
    cr_assert_eq(close(fd), 0);
    return total;
}

/* Free bytes on the small disk. */
static uint64_t
disk_free(void)
{
    struct statvfs sv;

    cr_assert_eq(statvfs(mnt, &sv), 0, "statvfs %s: %s", mnt, strerror(errno));
    return (uint64_t)sv.f_bavail * sv.f_frsize;
}

/* Publishes one case with a large body on n: 0 with its id in id, or the exit code, err
 * filled. */
static int
publish_big_on(struct px_testd *n, const char *title, char id[65], char **err)
{
    static char body[BODY_BYTES + 1];
    struct px_run r;
    int st;

    if (body[0] == '\0') {
        static const char line[] = "Water committees kept the pumps working. ";

        for (size_t i = 0; i < BODY_BYTES; i++) {
            body[i] = line[i % (sizeof(line) - 1)];
        }
    }
    px_testd_praxis(n, &r, NULL, 0, "publish", "--json", "--practice", "good", "--title", title,
                    "--summary", "Published on a small disk.", "--body", body, "--tag", "disk",
                    NULL);
    st = r.status;
    if (st == 0) {
        cr_assert(strncmp(r.out, "{\"id\":\"", 7) == 0 && strlen(r.out) == 7 + 64 + 3,
                  "publish printed %s", r.out);
        memcpy(id, r.out + 7, 64);
        id[64] = '\0';
    }
    if (err != NULL) {
        *err = r.err;
        r.err = NULL;
    }
    px_run_free(&r);
    return st;
}

static int
publish_big(const char *title, char id[65], char **err)
{
    return publish_big_on(&d, title, id, err);
}

/*
 * Signed records the node does not hold yet: published on another node (on the big
 * disk) and exported to a file there. Returns the file's path (malloc'd).
 */
static char *
foreign_export(int n)
{
    char *dir, *path, id[65], title[64];
    struct px_run r;

    cr_assert(asprintf(&dir, "%s/other", tmp) > 0);
    cr_assert(asprintf(&path, "%s/other.jsonl", tmp) > 0);
    px_testd_start(&other, dir);
    for (int i = 0; i < n; i++) {
        snprintf(title, sizeof(title), "From another node %d", i);
        cr_assert_eq(publish_big_on(&other, title, id, NULL), 0);
    }
    px_testd_praxis(&other, &r, NULL, 0, "export", "-o", path, NULL);
    cr_assert_eq(r.status, 0, "export: %s", r.err);
    px_run_free(&r);
    cr_assert_eq(px_testd_stop(&other), 0);
    free(dir);
    return path;
}

/* Every id of want is served, with its whole record; and nothing else is there. */
static void
assert_exactly(json_t *want, const char *when)
{
    json_t *have = px_testd_query_ids(&d, NULL, NULL);
    const char *id;
    json_t *v;

    json_object_foreach(want, id, v)
    {
        struct px_run r;

        (void)v;
        cr_assert_not_null(json_object_get(have, id), "%s: record %s is missing", when, id);
        px_testd_praxis(&d, &r, NULL, 0, "get", "--json", id, NULL);
        cr_assert_eq(r.status, 0, "%s: get %s: %s", when, id, r.err);
        cr_assert_not_null(strstr(r.out, "Water committees kept the pumps working."),
                           "%s: record %s has lost its body", when, id);
        px_run_free(&r);
    }
    cr_assert_eq(json_object_size(have), json_object_size(want),
                 "%s: %zu records served, %zu expected", when, json_object_size(have),
                 json_object_size(want));
    cr_assert_eq(px_testd_records(&d), json_object_size(want), "%s: status count", when);
    json_decref(have);
}

/*
 * Publishes N_BEFORE cases, fills the disk, then publishes until praxisd refuses one
 * (the ones it still takes are kept in stored too). Returns the refusal's stderr.
 */
static char *
publish_until_refused(json_t *stored, int *tries_out)
{
    char id[65], title[64], *err = NULL;
    size_t filled;
    int st = 0, tries;

    for (int i = 0; i < N_BEFORE; i++) {
        snprintf(title, sizeof(title), "Before the disk filled %d", i);
        cr_assert_eq(publish_big(title, id, NULL), 0, "publish %d before filling", i);
        json_object_set_new(stored, id, json_true());
    }
    filled = fill_disk(filler);
    cr_assert_eq(disk_free(), 0, "the disk still has %" PRIu64 " bytes after a %zu-byte filler",
                 disk_free(), filled);
    for (tries = 0; tries < MAX_FULL_TRIES; tries++) {
        free(err);
        snprintf(title, sizeof(title), "On the full disk %d", tries);
        st = publish_big(title, id, &err);
        if (st != 0) {
            break;
        }
        json_object_set_new(stored, id, json_true());
    }
    cr_assert_neq(st, 0, "%d publishes on a full disk all succeeded", MAX_FULL_TRIES);
    cr_log_info("full disk: filler of %zu bytes; %d publishes still taken, then: %s", filled, tries,
                err);
    *tries_out = tries;
    return err;
}

static void
assert_clear_no_space_error(int st, const char *err)
{
    cr_assert_eq(st, 1, "publish on a full disk exited %d: %s", st, err);
    cr_assert(strstr(err, "no space left") != NULL && strstr(err, "ENOSPC") != NULL,
              "publish on a full disk did not say why clearly: %s", err);
}

Test(full_disk, publish_fails_clearly_and_recovers_when_space_returns)
{
    json_t *stored = json_object();
    char id[65], *err, *imp;
    int tries, st;
    struct px_run r;

    mount_small_disk();
    imp = foreign_export(5);
    start_on_small_disk();
    err = publish_until_refused(stored, &tries);
    assert_clear_no_space_error(1, err);
    free(err);

    /* Refused again, the same way; the daemon runs on and answers, all of it intact. */
    st = publish_big("Still full", id, &err);
    assert_clear_no_space_error(st, err);
    free(err);
    cr_assert(px_testd_running(&d), "praxisd exited on a full disk:\n%s", px_testd_log(&d));
    assert_exactly(stored, "on the full disk");
    /* The operator hears of it too: one warning, however many writes fail in a minute. */
    {
        char *log = px_testd_log(&d), *at;

        cr_assert_not_null(at = strstr(log, "stored nothing: no space left"), "%s", log);
        cr_assert_null(strstr(at + 1, "stored nothing:"), "logged more than once:\n%s", log);
        free(log);
    }

    /* An import is refused batch by batch, as clearly, and stores nothing. */
    px_testd_praxis(&d, &r, NULL, 0, "import", imp, NULL);
    cr_assert_eq(r.status, 1, "import on a full disk: exit %d: %s", r.status, r.err);
    cr_assert_str_eq(r.out, "imported 0, already had 0, rejected 5\n");
    cr_assert(strstr(r.err, "no space left") != NULL && strstr(r.err, "ENOSPC") != NULL,
              "import on a full disk did not say why clearly: %s", r.err);
    px_run_free(&r);
    assert_exactly(stored, "after an import on the full disk");

    /* Room again: publishing works at once. */
    cr_assert_eq(unlink(filler), 0);
    st = publish_big("After the space came back", id, &err);
    cr_assert_eq(st, 0, "publish after freeing space: exit %d: %s\nlog:\n%s", st, err,
                 px_testd_log(&d));
    free(err);
    json_object_set_new(stored, id, json_true());
    assert_exactly(stored, "after freeing space");
    px_testd_praxis(&d, &r, NULL, 0, "import", imp, NULL);
    cr_assert_eq(r.status, 0, "import after freeing space: %s", r.err);
    cr_assert_str_eq(r.out, "imported 5, already had 0, rejected 0\n");
    px_run_free(&r);
    {
        json_t *have = px_testd_query_ids(&d, NULL, NULL);
        const char *k;
        json_t *v;

        /* The imported five are the records that are not ours. */
        json_object_foreach(have, k, v)
        {
            (void)v;
            json_object_set_new(stored, k, json_true());
        }
        json_decref(have);
        cr_assert_eq(json_object_size(stored), N_BEFORE + (size_t)tries + 1 + 5);
    }
    assert_exactly(stored, "after the import");

    /* A clean stop; the store is sound, and a restart serves the same. */
    cr_assert_eq(px_testd_stop(&d), 0, "praxisd did not stop cleanly:\n%s", px_testd_log(&d));
    cr_assert_eq(px_testd_check_store(&d), json_object_size(stored));
    px_testd_restart(&d);
    assert_exactly(stored, "after a restart");
    cr_log_info("full disk: %d publishes taken on the full disk, %zu records kept", tries,
                json_object_size(stored));
    json_decref(stored);
    free(imp);
}

Test(full_disk, kill9_on_a_full_disk_loses_nothing)
{
    json_t *stored = json_object();
    char id[65], *err;
    int tries, st;

    mount_small_disk();
    start_on_small_disk();
    err = publish_until_refused(stored, &tries);
    assert_clear_no_space_error(1, err);
    free(err);

    /* Pulled while full; room comes back before the restart. */
    px_testd_kill9(&d);
    cr_assert_eq(unlink(filler), 0);
    cr_assert_eq(px_testd_check_store(&d), json_object_size(stored));
    px_testd_restart(&d);
    assert_exactly(stored, "after the kill");
    st = publish_big("After the restart", id, &err);
    cr_assert_eq(st, 0, "publish after the restart: exit %d: %s", st, err);
    free(err);
    json_object_set_new(stored, id, json_true());
    assert_exactly(stored, "after the restart");
    cr_assert_eq(px_testd_stop(&d), 0);
    cr_assert_eq(px_testd_check_store(&d), json_object_size(stored));
    json_decref(stored);
}
