/* SPDX-License-Identifier: MIT */
/*
 * pagefile.h - a scratch file of fixed-size pages, the reconciliation index's pager.
 *
 * The file is created in a directory (the data directory) without a name: O_TMPFILE where
 * the filesystem has it, else a file that is unlinked at once. Its pages exist only while
 * it is open, and nothing is left behind after a crash; the index it holds is rebuilt from
 * the store at every start. Page p is at byte offset p * len.
 */
#ifndef PX_PAGEFILE_H
#define PX_PAGEFILE_H

#include <stddef.h>
#include <stdint.h>

struct px_pagefile;

/* Creates an unnamed page file in dir. 0, or PX_EIO/PX_ENOSPC/PX_EPERM/PX_ENOMEM with a
 * reason in err. */
int px_pagefile_open(const char *dir, struct px_pagefile **out, char *err, size_t errlen);

/* Closes the file; its space goes back to the filesystem. NULL is a no-op. */
void px_pagefile_close(struct px_pagefile *pf);

/* The callbacks of struct px_negentropy_pager, ctx being the struct px_pagefile. 0, or
 * PX_ENOSPC (the filesystem is full) or PX_EIO; a read past what was written is PX_EIO. */
int px_pagefile_write(void *ctx, uint64_t page, const void *buf, size_t len);
int px_pagefile_read(void *ctx, uint64_t page, void *buf, size_t len);

/* Bytes the file takes on its filesystem (allocated blocks), 0 when unknown. */
uint64_t px_pagefile_disk_bytes(const struct px_pagefile *pf);

#endif
