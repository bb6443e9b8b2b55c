/* SPDX-License-Identifier: MIT */
/*
 * err.h - the one list of praxis error codes.
 *
 * Every fallible function in praxis returns 0 on success or one of these negative codes.
 * The values are part of the local API (a daemon reports them to the client), so a code
 * keeps its number forever: add new codes at the end, never renumber.
 */
#ifndef PX_ERR_H
#define PX_ERR_H

/* XX(name, value, message) */
#define PX_ERR_MAP(XX)                                                                         \
    XX(ENOMEM, -1, "out of memory")                                                            \
    XX(EINVAL, -2, "invalid argument")                                                         \
    XX(ETRUNC, -3, "input is truncated")                                                       \
    XX(ETOOBIG, -4, "size or count over its limit")                                            \
    XX(ENONCANON, -5, "not in canonical form (an integer or length not in its shortest form)") \
    XX(EKEYORDER, -6, "map keys not sorted bytewise")                                          \
    XX(EDUPKEY, -7, "duplicate map key")                                                       \
    XX(EUNKNOWN, -8, "unknown field")                                                          \
    XX(EUTF8, -9, "string is not valid UTF-8")                                                 \
    XX(ECOUNT, -10, "container count larger than the bytes left")                              \
    XX(EDEPTH, -11, "nesting too deep")                                                        \
    XX(ETYPE, -12, "wrong type")                                                               \
    XX(ETRAILING, -13, "trailing bytes after the end")                                         \
    XX(EFUTURE, -14, "created time too far in the future")                                     \
    XX(EMISSING, -15, "required field missing")                                                \
    XX(EVALUE, -16, "field value not allowed")                                                 \
    XX(EVERSION, -17, "unsupported format version")                                            \
    XX(EBADSIG, -18, "signature does not verify")                                              \
    XX(EKEY, -19, "malformed key")                                                             \
    XX(EPERM, -20, "permission denied")                                                        \
    XX(EIO, -21, "input/output error")                                                         \
    XX(ENOTFOUND, -22, "not found")                                                            \
    XX(EEXIST, -23, "already exists")                                                          \
    XX(EPROTO, -24, "protocol error")                                                          \
    XX(EFLOAT, -25, "floating-point values are not allowed")                                   \
    XX(EEXT, -26, "msgpack ext types are not allowed")                                         \
    XX(ETOOOLD, -27, "created time before the earliest allowed")                               \
    XX(ECRYPTO, -28, "cryptographic library failure")                                          \
    XX(EAMBIGUOUS, -29, "prefix matches more than one item")                                   \
    XX(ERETRACTED, -30, "the record was retracted by its author")                              \
    XX(ENOSPC, -31, "no space left on the device")                                             \
    XX(EUNREACHABLE, -32, "the daemon cannot be reached")                                      \
    XX(ESHUTDOWN, -33, "shutting down")                                                        \
    XX(EBUSY, -34, "too many requests or connections; try again later")

enum px_err {
    PX_OK = 0,
#define PX_ERR_ENUM(name, value, msg) PX_##name = (value),
    PX_ERR_MAP(PX_ERR_ENUM)
#undef PX_ERR_ENUM
};

/* Returns the symbolic name ("EBADSIG") of a code, or "EUNKNOWNCODE". Static storage. */
const char *px_err_name(int code);

/* Returns a one-line English message for a code. Static storage; never NULL. */
const char *px_strerror(int code);

#endif
