/* SPDX-License-Identifier: MIT */
/* testutil.h - helpers shared by the tests: files, temporary directories, child processes. */
#ifndef PX_TESTUTIL_H
#define PX_TESTUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Reads a whole file (at most 64 MiB) into a malloc'd buffer with a NUL after it.
 * Returns NULL on failure. *len may be NULL. */
uint8_t *px_test_read_file(const char *path, size_t *len);

/* Writes len bytes to path (created or truncated, mode 0644). 0 or -1. */
int px_test_write_file(const char *path, const void *data, size_t len);

/* Makes a fresh directory under $TMPDIR (or /tmp); the caller frees the string and may
 * remove the tree with px_test_rmtree. Aborts the test on failure. */
char *px_test_tmpdir(void);

/* Removes a directory tree (best effort). */
void px_test_rmtree(const char *path);

/*
 * The path of a file in ../shared/vectors, or NULL when that directory is missing. When
 * it is missing, a test must skip, saying so, except under CI=true where it must fail:
 * px_test_shared_vector() does both (it calls cr_skip_test or cr_fail) and returns NULL.
 */
char *px_test_shared_vector(const char *name);

/*
 * Mounts a tmpfs of size (a mount option value such as "4m") on dir, for a test of a full
 * disk: true when it is mounted. Mounting needs root; without it this fails the test under
 * CI=true, and otherwise says why on stderr (Criterion shows a skip's reason only with
 * --verbose) and returns false: the caller cleans up and calls cr_skip_test.
 */
bool px_test_mount_tmpfs(const char *dir, const char *size, const char *who);

struct px_run {
    int status; /* exit code, or 128 + signal; -1 when it timed out and was killed */
    char *out;  /* captured stdout, NUL-terminated (malloc'd) */
    size_t out_len;
    char *err; /* captured stderr, NUL-terminated (malloc'd) */
    size_t err_len;
};

/*
 * Runs argv[0] (a path) with argv, feeding in[0..in_len) on stdin (then EOF), capturing
 * stdout and stderr, killing it after timeout_ms. envp_extra, if not NULL, is a
 * NULL-terminated list of "NAME=value" added to the environment. Returns 0 when the child
 * ran (its outcome is in *r), -1 when it could not be started.
 */
int px_test_run(char *const argv[], const void *in, size_t in_len, char *const envp_extra[],
                int timeout_ms, struct px_run *r);
void px_run_free(struct px_run *r);

/* The path of a built program: PX_BIN_DIR "/" name (static buffer per call site is not
 * needed: the result is malloc'd). */
char *px_test_bin(const char *name);

#endif
