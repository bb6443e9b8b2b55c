/* SPDX-License-Identifier: MIT */
/* err.c - names and messages for the error codes in err.h. */
#include "err.h"

const char *
px_err_name(int code)
{
    switch (code) {
    case PX_OK:
        return "OK";
#define PX_ERR_NAME(name, value, msg) \
    case PX_##name:                   \
        return #name;
        PX_ERR_MAP(PX_ERR_NAME)
#undef PX_ERR_NAME
    }
    return "EUNKNOWNCODE";
}

const char *
px_strerror(int code)
{
    switch (code) {
    case PX_OK:
        return "success";
#define PX_ERR_MSG(name, value, msg) \
    case PX_##name:                  \
        return msg;
        PX_ERR_MAP(PX_ERR_MSG)
#undef PX_ERR_MSG
    }
    return "unknown error code";
}
