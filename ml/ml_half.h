/*
 * fp16 (IEEE binary16) and bfloat16 <-> fp32 for the ML modules, rounding
 * to nearest even; NaN stays NaN (quiet), overflow goes to infinity.
 */
#ifndef WEFT_ML_HALF_H
#define WEFT_ML_HALF_H

#include <stddef.h>
#include <stdint.h>
#include <weft.h>

float weft__ml_f16_to_f32(uint16_t h);
uint16_t weft__ml_f32_to_f16(float f);
float weft__ml_bf16_to_f32(uint16_t h);
uint16_t weft__ml_f32_to_bf16(float f);

/* n elements of dtype (FLOAT32, FLOAT16 or BFLOAT16) at src, element
 * offset first, into dst as fp32. */
void weft__ml_load_f32(const void *src, weft_dtype_t dtype, size_t first,
                       size_t n, float *dst);
/* n fp32 values into dst as dtype (FLOAT32, FLOAT16 or BFLOAT16). */
void weft__ml_store_f32(const float *src, weft_dtype_t dtype, size_t n,
                        void *dst);

#endif /* WEFT_ML_HALF_H */
