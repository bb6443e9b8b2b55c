/* SPDX-License-Identifier: MIT */
/*
 * test_pagefile.c - daemon/pagefile.c: the reconciliation index's scratch file of pages.
 * Pages read back what was last written to them, a page never written is an error (not
 * zeros), offsets that do not fit are refused, and the file has no name: the directory
 * stays empty while it is open and after it is closed. Its full-disk behaviour is tested
 * with a real daemon in integration/test_index_pages.c.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "pagefile.h"
#include "protocol/err.h"
#include "util/testutil.h"

#define PAGE 5416

static char *tmp;

static void
setup(void)
{
    tmp = px_test_tmpdir();
}

static void
teardown(void)
{
    px_test_rmtree(tmp);
    free(tmp);
}

TestSuite(pagefile, .init = setup, .fini = teardown);

static int
entries(const char *dir)
{
    DIR *dp = opendir(dir);
    struct dirent *e;
    int n = 0;

    cr_assert_not_null(dp);
    while ((e = readdir(dp)) != NULL) {
        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    }
    closedir(dp);
    return n;
}

static void
fill(uint8_t *p, uint8_t seed)
{
    for (size_t i = 0; i < PAGE; i++) {
        p[i] = (uint8_t)(seed + i * 7);
    }
}

Test(pagefile, pages_read_back_what_was_last_written)
{
    static uint8_t w[PAGE], r[PAGE];
    struct px_pagefile *pf;
    char err[256];

    cr_assert_eq(px_pagefile_open(tmp, &pf, err, sizeof(err)), 0, "%s", err);
    /* Out of order, with a gap, then an overwrite. */
    for (uint64_t p = 0; p < 40; p += (p % 3 == 0) ? 5 : 1) {
        fill(w, (uint8_t)p);
        cr_assert_eq(px_pagefile_write(pf, p, w, PAGE), 0);
    }
    fill(w, 200);
    cr_assert_eq(px_pagefile_write(pf, 6, w, PAGE), 0);
    for (uint64_t p = 0; p < 40; p += (p % 3 == 0) ? 5 : 1) {
        cr_assert_eq(px_pagefile_read(pf, p, r, PAGE), 0);
        fill(w, p == 6 ? 200 : (uint8_t)p);
        cr_assert_arr_eq(r, w, PAGE, "page %llu", (unsigned long long)p);
    }
    cr_assert_gt(px_pagefile_disk_bytes(pf), 0);
    /* No name in the directory, open or closed. */
    cr_assert_eq(entries(tmp), 0);
    px_pagefile_close(pf);
    cr_assert_eq(entries(tmp), 0);
    px_pagefile_close(NULL);
}

Test(pagefile, a_page_past_the_end_or_out_of_range_is_an_error)
{
    static uint8_t w[PAGE], r[PAGE];
    struct px_pagefile *pf;
    char err[256];

    cr_assert_eq(px_pagefile_open(tmp, &pf, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(px_pagefile_read(pf, 0, r, PAGE), PX_EIO, "an empty file has no page 0");
    fill(w, 1);
    cr_assert_eq(px_pagefile_write(pf, 3, w, PAGE), 0);
    cr_assert_eq(px_pagefile_read(pf, 4, r, PAGE), PX_EIO, "past the end");
    /* A page whose offset does not fit in an off_t, and a zero length. */
    cr_assert_eq(px_pagefile_write(pf, UINT64_MAX / 2, w, PAGE), PX_EINVAL);
    cr_assert_eq(px_pagefile_read(pf, UINT64_MAX / 2, r, PAGE), PX_EINVAL);
    cr_assert_eq(px_pagefile_read(pf, 0, r, 0), PX_EINVAL);
    /* What was written is still there. */
    cr_assert_eq(px_pagefile_read(pf, 3, r, PAGE), 0);
    cr_assert_arr_eq(r, w, PAGE);
    px_pagefile_close(pf);
}

Test(pagefile, open_fails_clearly_without_a_directory)
{
    struct px_pagefile *pf = (struct px_pagefile *)&pf;
    char err[256] = "", *missing;

    cr_assert(asprintf(&missing, "%s/missing", tmp) > 0);
    cr_assert_neq(px_pagefile_open(missing, &pf, err, sizeof(err)), 0);
    cr_assert_null(pf);
    cr_assert_not_null(strstr(err, missing), "%s", err);
    cr_assert_not_null(strstr(err, "No such file or directory"), "%s", err);
    free(missing);
}
