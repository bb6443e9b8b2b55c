/* SPDX-License-Identifier: MIT */
/*
 * pagefile.c - a scratch file of fixed-size pages; see pagefile.h.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* O_TMPFILE */
#endif
#include "pagefile.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "protocol/err.h"

struct px_pagefile {
    int fd;
};

static int
errno_rc(int e)
{
    switch (e) {
    case ENOSPC:
    case EDQUOT:
        return PX_ENOSPC;
    case EACCES:
    case EPERM:
    case EROFS:
        return PX_EPERM;
    case ENOMEM:
        return PX_ENOMEM;
    default:
        return PX_EIO;
    }
}

int
px_pagefile_open(const char *dir, struct px_pagefile **out, char *err, size_t errlen)
{
    struct px_pagefile *pf;
    char path[PATH_MAX];
    int fd = -1, e;

    *out = NULL;
    if ((pf = malloc(sizeof(*pf))) == NULL) {
        snprintf(err, errlen, "out of memory");
        return PX_ENOMEM;
    }
#ifdef O_TMPFILE
    fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
#endif
    if (fd < 0) {
        /* No O_TMPFILE here (EOPNOTSUPP, EISDIR on old kernels): a name, unlinked at once. */
        if (snprintf(path, sizeof(path), "%s/.index-XXXXXX", dir) >= (int)sizeof(path)) {
            free(pf);
            snprintf(err, errlen, "%s: path too long", dir);
            return PX_EINVAL;
        }
        if ((fd = mkostemp(path, O_CLOEXEC)) >= 0 && unlink(path) != 0) {
            e = errno;
            close(fd);
            free(pf);
            snprintf(err, errlen, "unlink %s: %s", path, strerror(e));
            return errno_rc(e);
        }
    }
    if (fd < 0) {
        e = errno;
        free(pf);
        snprintf(err, errlen, "cannot create a scratch file in %s: %s", dir, strerror(e));
        return errno_rc(e);
    }
    pf->fd = fd;
    *out = pf;
    return 0;
}

void
px_pagefile_close(struct px_pagefile *pf)
{
    if (pf != NULL) {
        close(pf->fd);
        free(pf);
    }
}

/* The byte offset of page, or -1 when it does not fit in an off_t. */
static off_t
page_offset(uint64_t page, size_t len)
{
    if (len == 0 || page > (uint64_t)INT64_MAX / len) {
        return -1;
    }
    return (off_t)(page * len);
}

int
px_pagefile_write(void *ctx, uint64_t page, const void *buf, size_t len)
{
    struct px_pagefile *pf = ctx;
    off_t off = page_offset(page, len);
    const unsigned char *p = buf;
    size_t done = 0;

    if (off < 0) {
        return PX_EINVAL;
    }
    while (done < len) {
        ssize_t n = pwrite(pf->fd, p + done, len - done, off + (off_t)done);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return n < 0 ? errno_rc(errno) : PX_EIO;
        }
        done += (size_t)n;
    }
    return 0;
}

int
px_pagefile_read(void *ctx, uint64_t page, void *buf, size_t len)
{
    struct px_pagefile *pf = ctx;
    off_t off = page_offset(page, len);
    unsigned char *p = buf;
    size_t done = 0;

    if (off < 0) {
        return PX_EINVAL;
    }
    while (done < len) {
        ssize_t n = pread(pf->fd, p + done, len - done, off + (off_t)done);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return PX_EIO; /* an error, or the end of the file: never written */
        }
        done += (size_t)n;
    }
    return 0;
}

uint64_t
px_pagefile_disk_bytes(const struct px_pagefile *pf)
{
    struct stat sb;

    if (fstat(pf->fd, &sb) != 0) {
        return 0;
    }
    return (uint64_t)sb.st_blocks * 512;
}
