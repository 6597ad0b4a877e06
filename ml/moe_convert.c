/*
 * The combine's arithmetic on rows of a floating dtype: an accumulator
 * row in fp32 (fp64 for FLOAT64), weighted adds from rows and a store
 * back, rounding to nearest even (the conversions of ml/ml_half.h).
 */
#include <string.h>
#include <weft/ml_moe.h>

#include "ml/ml_half.h"
#include "ml/moe_handle.h"

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
            a[i] += w * weft__ml_bf16_to_f32(x[i]);
        }
        break;
    }
    default: { /* WEFT_FLOAT16: the only other type combine accepts */
        const uint16_t *x = row;

        for (size_t i = 0; i < n; i++) {
            a[i] += w * weft__ml_f16_to_f32(x[i]);
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
            y[i] = weft__ml_f32_to_bf16(a[i]);
        }
        break;
    }
    default: {
        uint16_t *y = row;

        for (size_t i = 0; i < n; i++) {
            y[i] = weft__ml_f32_to_f16(a[i]);
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
