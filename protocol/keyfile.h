/* SPDX-License-Identifier: MIT */
/*
 * keyfile.h - the text form of an identity file, as pure bytes <-> struct.
 *
 * The file holds the Ed25519 seed and, for people and for a consistency check, the public
 * key, both in lowercase hex:
 *
 *   # praxis identity: keep this file secret, it signs for your organization.
 *   praxis-identity 1
 *   public 6a1f...(64 hex digits)
 *   secret 93c0...(64 hex digits: the 32-byte seed)
 *
 * Lines starting with '#' and blank lines are ignored. Reading and writing the file, and
 * its permission rules, belong to the caller (common/identity.c).
 */
#ifndef PX_KEYFILE_H
#define PX_KEYFILE_H

#include <stddef.h>

#include "sign.h"

/* A formatted identity file is never longer than this. */
#define PX_KEYFILE_MAX 512

/*
 * Writes the text form of id into out[0..cap) (NUL-terminated) and sets *len to its
 * length without the NUL. 0, or PX_ETOOBIG when cap < PX_KEYFILE_MAX.
 */
int px_keyfile_format(const struct px_identity *id, char *out, size_t cap, size_t *len);

/*
 * Parses text[0..len) into id. Returns 0, PX_ETOOBIG (longer than PX_KEYFILE_MAX),
 * PX_EVERSION (another format version), PX_EKEY (a missing, malformed or duplicate line,
 * or a public key that does not belong to the secret one). On error id is wiped.
 */
int px_keyfile_parse(const char *text, size_t len, struct px_identity *id);

#endif
