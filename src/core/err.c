/* bn_strerror / bn_err_name: Bennu's table first, then libuv's. */
#include "bennu/err.h"

#include <uv.h>

/* Only codes libuv knows go to uv_strerror/uv_err_name: for any other value
 * those allocate an "Unknown system error N" string that is never freed. */
static int is_uv_err(int err)
{
    switch (err) {
#define BN_UV_CASE_(name, msg) case UV_##name:
        UV_ERRNO_MAP(BN_UV_CASE_)
#undef BN_UV_CASE_
        return 1;
    default:
        return 0;
    }
}

const char *bn_strerror(int err)
{
    switch (err) {
    case 0:
        return "success";
#define BN_ERR_MSG_(name, value, msg) \
    case BN_E##name:                  \
        return msg;
        BN_ERRNO_MAP(BN_ERR_MSG_)
#undef BN_ERR_MSG_
    default:
        break;
    }
    return is_uv_err(err) ? uv_strerror(err) : "unknown error";
}

const char *bn_err_name(int err)
{
    switch (err) {
    case 0:
        return "OK";
#define BN_ERR_NAME_(name, value, msg) \
    case BN_E##name:                   \
        return "BN_E" #name;
        BN_ERRNO_MAP(BN_ERR_NAME_)
#undef BN_ERR_NAME_
    default:
        break;
    }
    return is_uv_err(err) ? uv_err_name(err) : "UNKNOWN";
}
