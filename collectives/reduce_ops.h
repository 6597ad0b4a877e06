/*
 * Reduction kernels and the 16-bit float conversions the schedules use.
 *
 * Every rank must end with bitwise-identical results whatever operand order
 * an algorithm chose, so every op here is bitwise commutative:
 *   - floating SUM/PROD/MIN/MAX write the default quiet NaN (+qNaN,
 *     0x7fc00000 / 0x7ff8000000000000) whenever the result is a NaN, so the
 *     NaN payload of one operand never shows;
 *   - floating MIN/MAX return NaN when either operand is NaN, and order -0.0
 *     below +0.0 (min(+0, -0) = -0 and max(+0, -0) = +0 in both orders);
 *   - integer SUM/PROD wrap modulo 2^bits (two's complement for the signed
 *     types, never saturating).
 * FLOAT16 and BFLOAT16 are never reduced directly: the caller converts them
 * to FLOAT32 (weft__reduce_dtype), reduces, and rounds back once.
 *
 * Buffers may have any byte alignment. Two-operand buffers must not
 * overlap; in weft__reduce3, out may be exactly a or exactly b but must not
 * partly overlap either. Conversion buffers must not overlap.
 */
#ifndef WEFT_REDUCE_OPS_H
#define WEFT_REDUCE_OPS_H

#include <stddef.h>
#include <stdint.h>
#include <weft/types.h>

/* The dtype a reduction is carried out in: WEFT_FLOAT32 for FLOAT16 and
 * BFLOAT16, the dtype itself otherwise. */
weft_dtype_t weft__reduce_dtype(weft_dtype_t dtype);

/* 1 when op is defined on dtype (AVG only on the four floating types),
 * else 0; also 0 for values outside the enums. */
int weft__reduce_valid(weft_dtype_t dtype, weft_op_t op);

/* inout[i] = inout[i] (op) in[i], i < count. dtype is one of the eight
 * types that are not 16-bit floats, and (dtype, op) is valid. AVG
 * accumulates like SUM; the division is weft__reduce_avg. */
void weft__reduce(weft_dtype_t dtype, weft_op_t op, void *inout, const void *in,
                  size_t count);

/* out[i] = a[i] (op) b[i]: lets a schedule reduce two received buffers
 * without a copy. Same rules as weft__reduce; out may equal a or b. */
void weft__reduce3(weft_dtype_t dtype, weft_op_t op, void *out, const void *a,
                   const void *b, size_t count);

/* buf[i] = buf[i] / n for FLOAT32 or FLOAT64: a true division (so every
 * rank gets the correctly rounded quotient), not a product with 1/n. */
void weft__reduce_avg(weft_dtype_t dtype, void *buf, size_t count, int n);

/*
 * Conversions. Narrowing rounds to nearest-even, handles subnormals, and
 * overflows to infinity exactly as IEEE 754 says (fp16: |x| >= 65520 is
 * inf). A NaN stays a NaN with the same sign: narrowing sets the quiet bit
 * and keeps the upper payload bits; fp16 widening sets the quiet bit too
 * (as F16C does), bf16 widening is exact (a shift).
 */
void weft__f16_to_f32(float *dst, const uint16_t *src, size_t n);
void weft__f32_to_f16(uint16_t *dst, const float *src, size_t n);
void weft__bf16_to_f32(float *dst, const uint16_t *src, size_t n);
void weft__f32_to_bf16(uint16_t *dst, const float *src, size_t n);

/* dst (dtype to) = src (dtype from), count elements: a schedule's CONVERT
 * step. Handles FLOAT16/BFLOAT16 <-> FLOAT32 and to == from (a copy). */
void weft__convert(void *dst, weft_dtype_t to, const void *src,
                   weft_dtype_t from, size_t count);

/* For the tests: on != 0 makes the fp16 conversions take the portable C
 * path even where the CPU has F16C, and the reductions the baseline-ISA
 * loops even where it has AVX2; 0 restores the runtime choice. */
void weft__reduce_ops_force_portable(int on);
/* 1 when the reductions would use the AVX2 loops, else 0. */
int weft__reduce_ops_uses_avx2(void);
/* 1 when the fp16 conversions would use F16C (CPU support, not forced
 * portable), else 0. */
int weft__reduce_ops_uses_f16c(void);

#endif /* WEFT_REDUCE_OPS_H */
