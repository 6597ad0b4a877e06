/*
 * Element types and reduction operations.
 */
#ifndef WEFT_TYPES_H
#define WEFT_TYPES_H

#include <stddef.h>
#include <stdint.h>
#include <weft/version.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum weft_dtype {
    WEFT_INT8,
    WEFT_UINT8,
    WEFT_INT32,
    WEFT_UINT32,
    WEFT_INT64,
    WEFT_UINT64,
    WEFT_FLOAT16,  /* IEEE 754 binary16; reduced in fp32 */
    WEFT_BFLOAT16, /* bfloat16; reduced in fp32 */
    WEFT_FLOAT32,
    WEFT_FLOAT64,
    WEFT_DTYPE_COUNT /* not a type: the number of types */
} weft_dtype_t;

typedef enum weft_op {
    WEFT_SUM,
    WEFT_PROD,
    WEFT_MIN,
    WEFT_MAX,
    WEFT_AVG,   /* floating-point types only: sum / rank count */
    WEFT_OP_COUNT /* not an op: the number of ops */
} weft_op_t;

/* Bytes per element; 0 for a value that is not a weft_dtype_t. */
WEFT_API size_t weft_dtype_size(weft_dtype_t dtype);

/* "float32", "sum", ...; "invalid" for a bad value. */
WEFT_API const char *weft_dtype_name(weft_dtype_t dtype);
WEFT_API const char *weft_op_name(weft_op_t op);

#ifdef __cplusplus
}
#endif

#endif /* WEFT_TYPES_H */
