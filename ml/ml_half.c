/*
 * fp16 / bfloat16 <-> fp32 conversions (round to nearest, ties to even),
 * written on the bit patterns so that no compiler or FPU mode matters.
 */
#include "ml/ml_half.h"

#include <string.h>

static uint32_t
half_bits(float f)
{
    uint32_t x;

    memcpy(&x, &f, sizeof(x));
    return x;
}

static float
half_float(uint32_t x)
{
    float f;

    memcpy(&f, &x, sizeof(f));
    return f;
}

/* Shift m right by n bits, rounding to nearest, ties to even. */
static uint32_t
half_shift_rne(uint32_t m, unsigned n)
{
    uint32_t r = m >> n, rem = m & ((1u << n) - 1), half = 1u << (n - 1);

    if (rem > half || (rem == half && (r & 1u))) {
        r++;
    }
    return r;
}

float
weft__ml_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu, mant = h & 0x3ffu;

    if (exp == 0) {
        /* zero or subnormal: mant * 2^-24, exact in fp32 */
        float v = (float)mant * 0x1p-24f;

        return sign ? -v : v;
    }
    if (exp == 31) {
        return half_float(sign | 0x7f800000u | (mant << 13));
    }
    return half_float(sign | ((exp + 112u) << 23) | (mant << 13));
}

uint16_t
weft__ml_f32_to_f16(float f)
{
    uint32_t x = half_bits(f);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000u);
    uint32_t ax = x & 0x7fffffffu;

    if (ax > 0x7f800000u) {
        return (uint16_t)(sign | 0x7e00u | ((ax >> 13) & 0x3ffu)); /* NaN */
    }
    if (ax >= 0x477ff000u) {
        return (uint16_t)(sign | 0x7c00u); /* >= 65520: infinity */
    }
    if (ax < 0x38800000u) {
        /* below 2^-14: a subnormal of unit 2^-24, or zero */
        uint32_t e = ax >> 23;

        if (e < 102) {
            return sign; /* below 2^-25 */
        }
        return (uint16_t)(sign | half_shift_rne((ax & 0x7fffffu) | 0x800000u,
                                                126 - e));
    }
    /* normal: rebias the exponent; a carry out of the mantissa bumps it */
    return (uint16_t)(sign | half_shift_rne(ax - 0x38000000u, 13));
}

float
weft__ml_bf16_to_f32(uint16_t h)
{
    return half_float((uint32_t)h << 16);
}

uint16_t
weft__ml_f32_to_bf16(float f)
{
    uint32_t x = half_bits(f);

    if ((x & 0x7fffffffu) > 0x7f800000u) {
        return (uint16_t)((x >> 16) | 0x40u); /* NaN stays a quiet NaN */
    }
    return (uint16_t)((x + 0x7fffu + ((x >> 16) & 1u)) >> 16);
}

void
weft__ml_load_f32(const void *src, weft_dtype_t dtype, size_t first, size_t n,
                  float *dst)
{
    const uint16_t *h = (const uint16_t *)src + first;

    switch (dtype) {
    case WEFT_FLOAT16:
        for (size_t i = 0; i < n; i++) {
            dst[i] = weft__ml_f16_to_f32(h[i]);
        }
        break;
    case WEFT_BFLOAT16:
        for (size_t i = 0; i < n; i++) {
            dst[i] = weft__ml_bf16_to_f32(h[i]);
        }
        break;
    default:
        memcpy(dst, (const float *)src + first, n * sizeof(float));
        break;
    }
}

void
weft__ml_store_f32(const float *src, weft_dtype_t dtype, size_t n, void *dst)
{
    uint16_t *h = dst;

    switch (dtype) {
    case WEFT_FLOAT16:
        for (size_t i = 0; i < n; i++) {
            h[i] = weft__ml_f32_to_f16(src[i]);
        }
        break;
    case WEFT_BFLOAT16:
        for (size_t i = 0; i < n; i++) {
            h[i] = weft__ml_f32_to_bf16(src[i]);
        }
        break;
    default:
        memcpy(dst, src, n * sizeof(float));
        break;
    }
}
