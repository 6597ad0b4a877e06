/*
 * The combine's arithmetic on rows of a floating dtype: an accumulator
 * row in fp32 (fp64 for FLOAT64), weighted adds from rows and a store
 * back, rounding to nearest even. The fp16 and bf16 conversions are the
 * MoE module's own (moe_ names), written for it.
 */
#include <string.h>
#include <weft/ml_moe.h>

#include "ml/moe_handle.h"

static float
moe_bf16_to_f32(uint16_t b)
{
    uint32_t u = (uint32_t)b << 16;
    float f;

    memcpy(&f, &u, sizeof(f));
    return f;
}

static uint16_t
moe_f32_to_bf16(float f)
{
    uint32_t u;

    memcpy(&u, &f, sizeof(u));
    if ((u & 0x7fffffffu) > 0x7f800000u) {
        return (uint16_t)((u >> 16) | 0x0040u); /* a quiet NaN */
    }
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

static float
moe_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu, mant = h & 0x3ffu, u;
    float f;

    if (exp == 0) {
        f = (float)mant * 0x1p-24f; /* zero or subnormal: exact */
        return sign ? -f : f;
    }
    if (exp == 31) {
        u = sign | 0x7f800000u | (mant << 13);
    } else {
        u = sign | ((exp + 112u) << 23) | (mant << 13);
    }
    memcpy(&f, &u, sizeof(f));
    return f;
}

static uint16_t
moe_f32_to_f16(float f)
{
    uint32_t u, sign;

    memcpy(&u, &f, sizeof(u));
    sign = (u >> 16) & 0x8000u;
    u &= 0x7fffffffu;
    if (u > 0x7f800000u) {
        return (uint16_t)(sign | 0x7e00u);
    }
    if (u >= 0x477ff000u) { /* 65520 and up round to infinity */
        return (uint16_t)(sign | 0x7c00u);
    }
    if (u < 0x38800000u) { /* below 2^-14: a subnormal (or zero) */
        float a, t;

        memcpy(&a, &u, sizeof(a));
        t = a * 0x1p24f;             /* exact; < 1024 */
        t = (t + 0x1p23f) - 0x1p23f; /* rounds to an integer, to even */
        return (uint16_t)(sign | (uint32_t)t);
    }
    u -= 112u << 23;
    u += 0xfffu + ((u >> 13) & 1u);
    return (uint16_t)(sign | (u >> 13));
}

int
weft__moe_float_dtype(weft_dtype_t dtype)
{
    return dtype == WEFT_FLOAT32 || dtype == WEFT_FLOAT64 ||
           dtype == WEFT_BFLOAT16 || dtype == WEFT_FLOAT16;
}

void
weft__moe_acc_zero(const weft_moe_handle_t *h, void *acc)
{
    size_t n = h->hidden;

    if (h->dtype == WEFT_FLOAT64) {
        double *a = acc;

        for (size_t i = 0; i < n; i++) {
            a[i] = 0.0;
        }
    } else {
        float *a = acc;

        for (size_t i = 0; i < n; i++) {
            a[i] = 0.0f;
        }
    }
}

void
weft__moe_acc_add(const weft_moe_handle_t *h, void *acc, float w,
                  const void *row)
{
    size_t n = h->hidden;
    float *a = acc;

    switch (h->dtype) {
    case WEFT_FLOAT64: {
        double *ad = acc;
        const double *x = row;

        for (size_t i = 0; i < n; i++) {
            ad[i] += (double)w * x[i];
        }
        break;
    }
    case WEFT_FLOAT32: {
        const float *x = row;

        for (size_t i = 0; i < n; i++) {
            a[i] += w * x[i];
        }
        break;
    }
    case WEFT_BFLOAT16: {
        const uint16_t *x = row;

        for (size_t i = 0; i < n; i++) {
            a[i] += w * moe_bf16_to_f32(x[i]);
        }
        break;
    }
    default: { /* WEFT_FLOAT16: the only other type combine accepts */
        const uint16_t *x = row;

        for (size_t i = 0; i < n; i++) {
            a[i] += w * moe_f16_to_f32(x[i]);
        }
        break;
    }
    }
}

void
weft__moe_acc_store(const weft_moe_handle_t *h, const void *acc, void *row)
{
    size_t n = h->hidden;
    const float *a = acc;

    switch (h->dtype) {
    case WEFT_FLOAT64:
        memcpy(row, acc, n * sizeof(double));
        break;
    case WEFT_FLOAT32:
        memcpy(row, acc, n * sizeof(float));
        break;
    case WEFT_BFLOAT16: {
        uint16_t *y = row;

        for (size_t i = 0; i < n; i++) {
            y[i] = moe_f32_to_bf16(a[i]);
        }
        break;
    }
    default: {
        uint16_t *y = row;

        for (size_t i = 0; i < n; i++) {
            y[i] = moe_f32_to_f16(a[i]);
        }
        break;
    }
    }
}

void
weft__moe_weighted_sum(const weft_moe_handle_t *h, void *dst, size_t n,
                       const void *const *src, const float *w)
{
    size_t H = h->hidden;

    if (h->dtype == WEFT_FLOAT32) {
        /* the destination row is the accumulator: one pass per source */
        float *y = dst;

        if (n == 0) {
            memset(dst, 0, H * sizeof(float));
            return;
        }
        for (size_t j = 0; j < n; j++) {
            const float *x = src[j];
            float wj = w != NULL ? w[j] : 1.0f;

            if (j == 0) {
                for (size_t i = 0; i < H; i++) {
                    y[i] = 0.0f + wj * x[i]; /* as from a zero: -0 is +0 */
                }
            } else {
                for (size_t i = 0; i < H; i++) {
                    y[i] += wj * x[i];
                }
            }
        }
        return;
    }
    weft__moe_acc_zero(h, h->acc);
    for (size_t j = 0; j < n; j++) {
        weft__moe_acc_add(h, h->acc, w != NULL ? w[j] : 1.0f, src[j]);
    }
    weft__moe_acc_store(h, h->acc, dst);
}
