/* SPDX-License-Identifier: MIT */
/* test_keyfile.c - the identity file's text form: format, parse and every rejection. */
#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>

#include "protocol/buf.h"
#include "protocol/err.h"
#include "protocol/keyfile.h"
#include "protocol/sign.h"

/* RFC 8032 TEST 1: the seed and its public key. */
#define SEED_HEX "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"
#define PK_HEX   "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
/* The public key of RFC 8032 TEST 2: valid, but not the key of SEED_HEX. */
#define OTHER_PK_HEX "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c"

#define GOOD "praxis-identity 1\npublic " PK_HEX "\nsecret " SEED_HEX "\n"

static struct px_identity want;

static void
setup(void)
{
    uint8_t seed[32];

    cr_assert_eq(px_crypto_init(), 0);
    cr_assert_eq(px_hex_decode(SEED_HEX, 64, seed, 32), 0);
    cr_assert_eq(px_identity_from_seed(&want, seed), 0);
}

TestSuite(keyfile, .init = setup);

static int
parse(const char *text, struct px_identity *id)
{
    return px_keyfile_parse(text, strlen(text), id);
}

static void
assert_wiped(const struct px_identity *id)
{
    static const uint8_t zero[64] = {0};

    cr_assert_arr_eq(id->sk, zero, 64, "the identity was not wiped after a failure");
    cr_assert_arr_eq(id->pk, zero, 32, "the identity was not wiped after a failure");
}

static void
assert_rejected(const char *text, int want_rc, const char *what)
{
    struct px_identity id;

    memset(&id, 0xaa, sizeof(id));
    cr_assert_eq(parse(text, &id), want_rc, "%s: got %d", what, parse(text, &id));
    assert_wiped(&id);
}

Test(keyfile, format_parse_round_trip)
{
    char text[PX_KEYFILE_MAX];
    size_t len = 0;
    struct px_identity id;

    cr_assert_eq(px_keyfile_format(&want, text, sizeof(text), &len), 0);
    cr_assert_eq(len, strlen(text));
    cr_assert_leq(len, PX_KEYFILE_MAX);
    cr_assert_not_null(strstr(text, "praxis-identity 1\n"));
    cr_assert_not_null(strstr(text, "public " PK_HEX "\n"));
    cr_assert_not_null(strstr(text, "secret " SEED_HEX "\n"));
    cr_assert_eq(text[0], '#', "the file opens with a warning comment");
    cr_assert_eq(text[len - 1], '\n');

    cr_assert_eq(px_keyfile_parse(text, len, &id), 0);
    cr_assert_arr_eq(id.pk, want.pk, 32);
    cr_assert_arr_eq(id.sk, want.sk, 64);
}

Test(keyfile, format_needs_full_capacity)
{
    char text[PX_KEYFILE_MAX];
    size_t len = 12345;

    cr_assert_eq(px_keyfile_format(&want, text, PX_KEYFILE_MAX - 1, &len), PX_ETOOBIG);
    cr_assert_eq(len, 12345);
}

Test(keyfile, parse_minimal)
{
    struct px_identity id;

    cr_assert_eq(parse(GOOD, &id), 0);
    cr_assert_arr_eq(id.pk, want.pk, 32);
    cr_assert_arr_eq(id.sk, want.sk, 64);
}

Test(keyfile, parse_accepts_uppercase_hex_and_no_final_newline)
{
    struct px_identity id;

    cr_assert_eq(parse("praxis-identity 1\n"
                       "public D75A980182B10AB7D54BFED3C964073A0EE172F3DAA62325AF021A68F707511A\n"
                       "secret " SEED_HEX,
                       &id),
                 0);
    cr_assert_arr_eq(id.pk, want.pk, 32);
}

Test(keyfile, parse_accepts_secret_before_public)
{
    struct px_identity id;

    cr_assert_eq(parse("praxis-identity 1\nsecret " SEED_HEX "\npublic " PK_HEX "\n", &id), 0);
    cr_assert_arr_eq(id.pk, want.pk, 32);
}

Test(keyfile, parse_accepts_comments_blank_lines_and_crlf)
{
    struct px_identity id;

    cr_assert_eq(parse("# a comment\r\n"
                       "\r\n"
                       "\n"
                       "praxis-identity 1\r\n"
                       "# another comment, with public and secret in it\n"
                       "\r\n"
                       "public " PK_HEX "\r\n"
                       "\n"
                       "secret " SEED_HEX "\r\n"
                       "#trailing comment without newline",
                       &id),
                 0);
    cr_assert_arr_eq(id.pk, want.pk, 32);
    cr_assert_arr_eq(id.sk, want.sk, 64);
}

Test(keyfile, parse_rejects_wrong_header)
{
    assert_rejected("praxis-identity\npublic " PK_HEX "\nsecret " SEED_HEX "\n", PX_EKEY,
                    "header without version");
    assert_rejected("praxis-identityX 1\npublic " PK_HEX "\nsecret " SEED_HEX "\n", PX_EKEY,
                    "misspelt header");
    assert_rejected("Praxis-identity 1\npublic " PK_HEX "\nsecret " SEED_HEX "\n", PX_EKEY,
                    "capitalised header");
    assert_rejected("signify-identity 1\npublic " PK_HEX "\nsecret " SEED_HEX "\n", PX_EKEY,
                    "another program's header");
    assert_rejected(" praxis-identity 1\npublic " PK_HEX "\nsecret " SEED_HEX "\n", PX_EKEY,
                    "indented header");
    assert_rejected("public " PK_HEX "\nsecret " SEED_HEX "\n", PX_EKEY, "no header");
    assert_rejected("public " PK_HEX "\npraxis-identity 1\nsecret " SEED_HEX "\n", PX_EKEY,
                    "header after a key line");
}

Test(keyfile, parse_rejects_other_versions)
{
    assert_rejected("praxis-identity 2\npublic " PK_HEX "\nsecret " SEED_HEX "\n", PX_EVERSION,
                    "version 2");
    assert_rejected("praxis-identity 0\npublic " PK_HEX "\nsecret " SEED_HEX "\n", PX_EVERSION,
                    "version 0");
    assert_rejected("praxis-identity 10\npublic " PK_HEX "\nsecret " SEED_HEX "\n", PX_EVERSION,
                    "version 10");
}

Test(keyfile, parse_rejects_bad_hex)
{
    /* One non-hex digit in each key. */
    assert_rejected("praxis-identity 1\n"
                    "public d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511g\n"
                    "secret " SEED_HEX "\n",
                    PX_EKEY, "bad digit in public");
    assert_rejected("praxis-identity 1\n"
                    "public " PK_HEX "\n"
                    "secret 9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f6z\n",
                    PX_EKEY, "bad digit in secret");
    /* One digit short and one too many. */
    assert_rejected("praxis-identity 1\n"
                    "public d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511\n"
                    "secret " SEED_HEX "\n",
                    PX_EKEY, "63 digits");
    assert_rejected("praxis-identity 1\npublic " PK_HEX "0\nsecret " SEED_HEX "\n", PX_EKEY,
                    "65 digits");
    assert_rejected("praxis-identity 1\npublic  " PK_HEX "\nsecret " SEED_HEX "\n", PX_EKEY,
                    "two spaces");
    assert_rejected("praxis-identity 1\npublic\t" PK_HEX "\nsecret " SEED_HEX "\n", PX_EKEY,
                    "a tab");
    assert_rejected("praxis-identity 1\npublic " PK_HEX " \nsecret " SEED_HEX "\n", PX_EKEY,
                    "trailing space");
}

Test(keyfile, parse_rejects_missing_line)
{
    assert_rejected("praxis-identity 1\nsecret " SEED_HEX "\n", PX_EKEY, "no public line");
    assert_rejected("praxis-identity 1\npublic " PK_HEX "\n", PX_EKEY, "no secret line");
    assert_rejected("praxis-identity 1\n", PX_EKEY, "header only");
    assert_rejected("# only a comment\n\n", PX_EKEY, "comments only");
    assert_rejected("", PX_EKEY, "empty");
}

Test(keyfile, parse_rejects_duplicate_line)
{
    assert_rejected("praxis-identity 1\npublic " PK_HEX "\npublic " PK_HEX "\nsecret " SEED_HEX
                    "\n",
                    PX_EKEY, "public twice");
    assert_rejected("praxis-identity 1\npublic " PK_HEX "\nsecret " SEED_HEX "\nsecret " SEED_HEX
                    "\n",
                    PX_EKEY, "secret twice");
    assert_rejected("praxis-identity 1\npraxis-identity 1\npublic " PK_HEX "\nsecret " SEED_HEX
                    "\n",
                    PX_EKEY, "header twice");
}

Test(keyfile, parse_rejects_unknown_line)
{
    assert_rejected(GOOD "extra line\n", PX_EKEY, "unknown line after");
    assert_rejected("praxis-identity 1\nname office\npublic " PK_HEX "\nsecret " SEED_HEX "\n",
                    PX_EKEY, "unknown line between");
}

Test(keyfile, parse_rejects_public_key_of_another_seed)
{
    assert_rejected("praxis-identity 1\npublic " OTHER_PK_HEX "\nsecret " SEED_HEX "\n", PX_EKEY,
                    "mismatched public key");
}

Test(keyfile, parse_rejects_oversize)
{
    char text[PX_KEYFILE_MAX + 2];
    size_t base = strlen(GOOD);
    struct px_identity id;

    /* Exactly PX_KEYFILE_MAX bytes: the key lines and a long comment. */
    memset(text, 0, sizeof(text));
    memcpy(text, GOOD, base);
    text[base] = '#';
    memset(text + base + 1, 'x', PX_KEYFILE_MAX - base - 2);
    text[PX_KEYFILE_MAX - 1] = '\n';
    cr_assert_eq(px_keyfile_parse(text, PX_KEYFILE_MAX, &id), 0, "exactly the cap is fine");
    cr_assert_arr_eq(id.pk, want.pk, 32);

    /* One byte more is refused before anything is parsed. */
    text[PX_KEYFILE_MAX - 1] = 'x';
    text[PX_KEYFILE_MAX] = '\n';
    memset(&id, 0xaa, sizeof(id));
    cr_assert_eq(px_keyfile_parse(text, PX_KEYFILE_MAX + 1, &id), PX_ETOOBIG);
    assert_wiped(&id);
}

Test(keyfile, parse_rejects_nul_inside)
{
    static const char text[] = "praxis-identity 1\npublic " PK_HEX "\nsecret " SEED_HEX "\n";
    char copy[sizeof(text)];
    struct px_identity id;

    /* A NUL in the middle of a key line is not hex. */
    memcpy(copy, text, sizeof(text));
    copy[30] = '\0';
    cr_assert_eq(px_keyfile_parse(copy, sizeof(text) - 1, &id), PX_EKEY);
}

/* The example file of docs/records.md: the test identity whose seed is 00 01 .. 1f. */
Test(keyfile, docs_records_md_example)
{
    static const char text[] =
        "# praxis identity: keep this file secret, it signs for your organization.\n"
        "praxis-identity 1\n"
        "public 03a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8\n"
        "secret 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n";
    struct px_identity id;
    char out[PX_KEYFILE_MAX];
    size_t len = 0;

    cr_assert_eq(px_keyfile_parse(text, sizeof(text) - 1, &id), 0);
    for (int i = 0; i < 32; i++) {
        cr_assert_eq(id.sk[i], i);
    }
    /* And formatting it gives the documented text back, byte for byte. */
    cr_assert_eq(px_keyfile_format(&id, out, sizeof(out), &len), 0);
    cr_assert_eq(len, sizeof(text) - 1);
    cr_assert_str_eq(out, text);
}

Test(keyfile, parse_rejects_a_line_of_spaces)
{
    /* docs/records.md: "A line of spaces is not empty." */
    assert_rejected("praxis-identity 1\n   \npublic " PK_HEX "\nsecret " SEED_HEX "\n", PX_EKEY,
                    "a line of spaces");
    assert_rejected("praxis-identity 1\npublic " PK_HEX "\nsecret " SEED_HEX "\n \n", PX_EKEY,
                    "a trailing line with one space");
    assert_rejected(" # an indented comment\n" GOOD, PX_EKEY, "an indented comment");
}
