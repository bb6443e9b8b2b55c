/* SPDX-License-Identifier: MIT */
/* test_err.c - the error list: every code has a distinct name, number and a message. */
#include <string.h>

#include <criterion/criterion.h>

#include "protocol/err.h"

struct err_row {
    int code;
    const char *name;
    const char *msg;
};

static const struct err_row rows[] = {
#define ROW(name, value, msg) {PX_##name, #name, msg},
    PX_ERR_MAP(ROW)
#undef ROW
};

#define N_ROWS (sizeof(rows) / sizeof(rows[0]))

Test(err, ok_has_name_and_message)
{
    cr_assert_str_eq(px_err_name(0), "OK");
    cr_assert_str_eq(px_err_name(PX_OK), "OK");
    cr_assert_str_eq(px_strerror(0), "success");
}

Test(err, every_code_is_negative_and_distinct)
{
    for (size_t i = 0; i < N_ROWS; i++) {
        cr_assert_lt(rows[i].code, 0, "%s is %d", rows[i].name, rows[i].code);
        for (size_t j = i + 1; j < N_ROWS; j++) {
            cr_assert_neq(rows[i].code, rows[j].code, "%s and %s share %d", rows[i].name,
                          rows[j].name, rows[i].code);
        }
    }
}

Test(err, codes_are_numbered_without_gaps)
{
    /* The numbers are part of the local API: new codes go at the end, in sequence. */
    for (size_t i = 0; i < N_ROWS; i++) {
        cr_assert_eq(rows[i].code, -(int)(i + 1), "%s", rows[i].name);
    }
}

Test(err, every_code_has_its_own_name)
{
    for (size_t i = 0; i < N_ROWS; i++) {
        const char *name = px_err_name(rows[i].code);

        cr_assert_not_null(name);
        cr_assert_str_eq(name, rows[i].name);
        cr_assert_eq(name[0], 'E', "%s", name);
        cr_assert_str_neq(name, "EUNKNOWNCODE");
        for (size_t j = i + 1; j < N_ROWS; j++) {
            cr_assert_str_neq(name, px_err_name(rows[j].code));
        }
    }
}

Test(err, every_code_has_a_message)
{
    for (size_t i = 0; i < N_ROWS; i++) {
        const char *msg = px_strerror(rows[i].code);

        cr_assert_not_null(msg);
        cr_assert_gt(strlen(msg), 0, "%s has an empty message", rows[i].name);
        cr_assert_str_eq(msg, rows[i].msg);
        cr_assert_str_neq(msg, "unknown error code");
    }
}

Test(err, named_codes_spot_check)
{
    cr_assert_str_eq(px_err_name(PX_EBADSIG), "EBADSIG");
    cr_assert_str_eq(px_err_name(PX_ETRUNC), "ETRUNC");
    cr_assert_eq(PX_ENOMEM, -1);
    cr_assert_eq(PX_EAMBIGUOUS, -29);
}

Test(err, unknown_codes)
{
    static const int unknown[] = {1, 42, -(int)N_ROWS - 1, -1000, -2147483647 - 1, 2147483647};

    for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
        cr_assert_str_eq(px_err_name(unknown[i]), "EUNKNOWNCODE", "%d", unknown[i]);
        cr_assert_str_eq(px_strerror(unknown[i]), "unknown error code", "%d", unknown[i]);
    }
}
