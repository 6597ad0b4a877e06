/*
 * weft-bench: one element of any dtype, as a double (the --check values
 * are small integers and exact quotients, exact in every dtype), and the
 * 16-bit float conversions (round to nearest even), written here so that
 * the benchmark needs nothing but the public API.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "weft_bench.h"

static uint16_t
check_f32_to_f16(float f)
{
    uint32_t x, sign, man, h, rem, half;
    int e;

    memcpy(&x, &f, sizeof(x));
    sign = (x >> 16) & 0x8000u;
    man = x & 0x7fffffu;
    if (((x >> 23) & 0xffu) == 0xffu) {
        return (uint16_t)(sign | 0x7c00u | (man ? 0x200u : 0));
    }
    e = (int)((x >> 23) & 0xffu) - 127 + 15;
    if (e >= 0x1f) {
        return (uint16_t)(sign | 0x7c00u);
    }
    if (e <= 0) { /* subnormal half, round to nearest even */
        int shift = 14 - e;

        if (shift > 24) {
            return (uint16_t)sign;
        }
        man |= 0x800000u;
        h = man >> shift;
        rem = man & ((1u << shift) - 1);
        half = 1u << (shift - 1);
        h += rem > half || (rem == half && (h & 1));
        return (uint16_t)(sign | h);
    }
    h = ((uint32_t)e << 10) | (man >> 13);
    rem = man & 0x1fffu;
    h += rem > 0x1000u || (rem == 0x1000u && (h & 1)); /* may carry: ok */
    return (uint16_t)(sign | h);
}

static float
check_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, e = (h >> 10) & 0x1fu;
    uint32_t man = h & 0x3ffu, x;
    float f;

    if (e == 0x1f) {
        x = sign | 0x7f800000u | (man << 13);
    } else if (e != 0) {
        x = sign | ((e - 15 + 127) << 23) | (man << 13);
    } else {
        f = ldexpf((float)man, -24);
        return sign ? -f : f;
    }
    memcpy(&f, &x, sizeof(f));
    return f;
}

static uint16_t
check_f32_to_bf16(float f)
{
    uint32_t x;

    memcpy(&x, &f, sizeof(x));
    if ((x & 0x7fffffffu) > 0x7f800000u) {
        return (uint16_t)((x >> 16) | 0x40u); /* quiet NaN */
    }
    x += 0x7fffu + ((x >> 16) & 1u);
    return (uint16_t)(x >> 16);
}

static float
check_bf16_to_f32(uint16_t h)
{
    uint32_t x = (uint32_t)h << 16;
    float f;

    memcpy(&f, &x, sizeof(f));
    return f;
}

int
bench_dtype_is_float(weft_dtype_t t)
{
    return t == WEFT_FLOAT16 || t == WEFT_BFLOAT16 || t == WEFT_FLOAT32 ||
           t == WEFT_FLOAT64;
}

int
bench_dtype_is_signed(weft_dtype_t t)
{
    return bench_dtype_is_float(t) || t == WEFT_INT8 || t == WEFT_INT32 ||
           t == WEFT_INT64;
}

/* Store v (an integer or an exact quotient) as element i; integers wrap. */
void
bench_elem_store(weft_dtype_t t, void *buf, size_t i, double v)
{
    uint64_t w = (uint64_t)(int64_t)(bench_dtype_is_float(t) ? 0 : v);

    switch (t) {
    case WEFT_INT8:
    case WEFT_UINT8:
        ((uint8_t *)buf)[i] = (uint8_t)w;
        break;
    case WEFT_INT32:
    case WEFT_UINT32:
        ((uint32_t *)buf)[i] = (uint32_t)w;
        break;
    case WEFT_INT64:
    case WEFT_UINT64:
        ((uint64_t *)buf)[i] = w;
        break;
    case WEFT_FLOAT16:
        ((uint16_t *)buf)[i] = check_f32_to_f16((float)v);
        break;
    case WEFT_BFLOAT16:
        ((uint16_t *)buf)[i] = check_f32_to_bf16((float)v);
        break;
    case WEFT_FLOAT32:
        ((float *)buf)[i] = (float)v;
        break;
    default:
        ((double *)buf)[i] = v;
        break;
    }
}

double
bench_elem_load(weft_dtype_t t, const void *buf, size_t i)
{
    switch (t) {
    case WEFT_INT8:
        return ((const int8_t *)buf)[i];
    case WEFT_UINT8:
        return ((const uint8_t *)buf)[i];
    case WEFT_INT32:
        return ((const int32_t *)buf)[i];
    case WEFT_UINT32:
        return ((const uint32_t *)buf)[i];
    case WEFT_INT64:
        return (double)((const int64_t *)buf)[i];
    case WEFT_UINT64:
        return (double)((const uint64_t *)buf)[i];
    case WEFT_FLOAT16:
        return check_f16_to_f32(((const uint16_t *)buf)[i]);
    case WEFT_BFLOAT16:
        return check_bf16_to_f32(((const uint16_t *)buf)[i]);
    case WEFT_FLOAT32:
        return ((const float *)buf)[i];
    default:
        return ((const double *)buf)[i];
    }
}
