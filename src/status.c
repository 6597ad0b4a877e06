/* Version, status strings, dtype sizes and names. */
#include "build_config.h"

#include <weft/status.h>
#include <weft/types.h>
#include <weft/version.h>

#include "util.h"

const char *
weft_version(void)
{
    return WEFT_VERSION_STRING;
}

const char *
weft_status_string(weft_status_t status)
{
    switch (status) {
    case WEFT_OK:
        return "success";
    case WEFT_INPROGRESS:
        return "operation in progress";
    case WEFT_ERR_INVALID_ARG:
        return "invalid argument";
    case WEFT_ERR_NO_MEMORY:
        return "out of memory";
    case WEFT_ERR_UNSUPPORTED:
        return "not supported";
    case WEFT_ERR_TIMED_OUT:
        return "timed out";
    case WEFT_ERR_TRUNCATED:
        return "message truncated";
    case WEFT_ERR_SYSTEM:
        return "system error";
    case WEFT_ERR_PEER_LOST:
        return "peer lost";
    case WEFT_ERR_MISMATCH:
        return "mismatched operations across ranks";
    case WEFT_ERR_ABORTED:
        return "aborted";
    case WEFT_ERR_AUTH:
        return "authentication failed";
    case WEFT_ERR_PROTOCOL:
        return "protocol violation";
    case WEFT_ERR_TRANSPORT:
        return "transport error";
    case WEFT_ERR_INTERNAL:
        return "internal error";
    case WEFT_ERR_CUDA:
        return "CUDA error";
    case WEFT_ERR_LAST:
        break;
    }
    return "unknown status";
}

static const struct {
    const char *name;
    size_t size;
} dtype_table[] = {
    [WEFT_INT8] = {"int8", 1},       [WEFT_UINT8] = {"uint8", 1},
    [WEFT_INT32] = {"int32", 4},     [WEFT_UINT32] = {"uint32", 4},
    [WEFT_INT64] = {"int64", 8},     [WEFT_UINT64] = {"uint64", 8},
    [WEFT_FLOAT16] = {"float16", 2}, [WEFT_BFLOAT16] = {"bfloat16", 2},
    [WEFT_FLOAT32] = {"float32", 4}, [WEFT_FLOAT64] = {"float64", 8},
};

static const char *const op_names[] = {
    [WEFT_SUM] = "sum", [WEFT_PROD] = "prod", [WEFT_MIN] = "min",
    [WEFT_MAX] = "max", [WEFT_AVG] = "avg",
};

size_t
weft_dtype_size(weft_dtype_t dtype)
{
    if ((unsigned)dtype >= WEFT_ARRAY_SIZE(dtype_table)) {
        return 0;
    }
    return dtype_table[dtype].size;
}

const char *
weft_dtype_name(weft_dtype_t dtype)
{
    if ((unsigned)dtype >= WEFT_ARRAY_SIZE(dtype_table)) {
        return "invalid";
    }
    return dtype_table[dtype].name;
}

const char *
weft_op_name(weft_op_t op)
{
    if ((unsigned)op >= WEFT_ARRAY_SIZE(op_names)) {
        return "invalid";
    }
    return op_names[op];
}
