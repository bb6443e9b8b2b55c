/* SPDX-License-Identifier: MIT */
/* keyfile.c - text form of an identity; see keyfile.h. */
#include "keyfile.h"

#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "err.h"

#define HEADER "praxis-identity"

int
px_keyfile_format(const struct px_identity *id, char *out, size_t cap, size_t *len)
{
    char pk[2 * PX_SIGN_PUBLICKEYBYTES + 1];
    char seed_hex[2 * PX_SIGN_SEEDBYTES + 1];
    uint8_t seed[PX_SIGN_SEEDBYTES];
    int n;

    if (cap < PX_KEYFILE_MAX) {
        return PX_ETOOBIG;
    }
    px_identity_seed(id, seed);
    px_hex_encode(id->pk, sizeof(id->pk), pk);
    px_hex_encode(seed, sizeof(seed), seed_hex);
    n = snprintf(out, cap,
                 "# praxis identity: keep this file secret, it signs for your organization.\n"
                 "%s 1\npublic %s\nsecret %s\n",
                 HEADER, pk, seed_hex);
    px_wipe(seed, sizeof(seed));
    px_wipe(seed_hex, sizeof(seed_hex));
    *len = (size_t)n;
    return 0;
}

/* Matches "word HEX" where HEX is exactly n bytes; fills out. */
static int
parse_hex_line(const char *line, size_t len, const char *word, uint8_t *out, size_t n)
{
    size_t wl = strlen(word);

    if (len != wl + 1 + 2 * n || memcmp(line, word, wl) != 0 || line[wl] != ' ') {
        return PX_EKEY;
    }
    return px_hex_decode(line + wl + 1, 2 * n, out, n) == 0 ? 0 : PX_EKEY;
}

int
px_keyfile_parse(const char *text, size_t len, struct px_identity *id)
{
    uint8_t pk[PX_SIGN_PUBLICKEYBYTES];
    uint8_t seed[PX_SIGN_SEEDBYTES];
    bool have_header = false, have_pk = false, have_seed = false;
    size_t off = 0;
    int rc = PX_EKEY;

    memset(id, 0, sizeof(*id));
    if (len > PX_KEYFILE_MAX) {
        return PX_ETOOBIG;
    }
    while (off < len) {
        const char *line = text + off;
        const char *nl = memchr(line, '\n', len - off);
        size_t ll = nl != NULL ? (size_t)(nl - line) : len - off;

        off += ll + (nl != NULL);
        if (ll > 0 && line[ll - 1] == '\r') {
            ll--;
        }
        if (ll == 0 || line[0] == '#') {
            continue;
        }
        if (!have_header) {
            size_t hl = strlen(HEADER);

            if (ll < hl + 2 || memcmp(line, HEADER, hl) != 0 || line[hl] != ' ') {
                goto fail;
            }
            if (ll != hl + 2 || line[hl + 1] != '1') {
                rc = PX_EVERSION;
                goto fail;
            }
            have_header = true;
        } else if (!have_pk && parse_hex_line(line, ll, "public", pk, sizeof(pk)) == 0) {
            have_pk = true;
        } else if (!have_seed && parse_hex_line(line, ll, "secret", seed, sizeof(seed)) == 0) {
            have_seed = true;
        } else {
            goto fail;
        }
    }
    if (!have_header || !have_pk || !have_seed) {
        goto fail;
    }
    if (px_identity_from_seed(id, seed) != 0 || !px_secret_equal(pk, id->pk, sizeof(pk))) {
        goto fail;
    }
    px_wipe(seed, sizeof(seed));
    return 0;
fail:
    px_wipe(seed, sizeof(seed));
    px_identity_wipe(id);
    return rc;
}
