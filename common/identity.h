/* SPDX-License-Identifier: MIT */
/*
 * identity.h - identity files on disk, shared by praxisd and praxis.
 *
 * This is the one piece of file I/O both programs need, so it lives beside protocol/ as
 * its own small library (praxis_common) instead of in protocol/, which does no I/O.
 */
#ifndef PX_IDENTITY_H
#define PX_IDENTITY_H

#include "protocol/sign.h"

/* Fills id with a new key pair from the kernel's random source. 0, PX_EIO or PX_ECRYPTO. */
int px_identity_generate(struct px_identity *id);

/*
 * Writes id to a new file at path with mode 0600, then syncs the file and its directory.
 * Refuses to replace an existing file (PX_EEXIST). Other failures: PX_EIO, errno kept.
 */
int px_identity_save(const char *path, const struct px_identity *id);

/*
 * Reads the identity at path. Refuses (PX_EPERM) a symbolic link, anything but a regular
 * file, a file owned by another user, or one that group or others may read or write
 * ("chmod 600 FILE"); refuses a malformed file (see px_keyfile_parse). PX_ENOTFOUND when
 * there is no such file, PX_EIO otherwise.
 */
int px_identity_load(const char *path, struct px_identity *id);

#endif
