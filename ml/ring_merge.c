/*
 * Online-softmax merge of a block's (out, lse) into the running one, in
 * fp32 and in the stable sigmoid/logsigmoid form (no exp that can
 * overflow; -inf on either side never makes a NaN).
 */
#include <math.h>
#include <string.h>
#include <weft/ml_ring.h>

/* 1 / (1 + exp(-x)), without overflow for either sign */
static float
merge_sigmoid(float x)
{
    if (x >= 0.0f) {
        return 1.0f / (1.0f + expf(-x));
    }
    float e = expf(x);

    return e / (1.0f + e);
}

void
weft_ring_attn_merge(float *out, float *lse, const float *block_out,
                     const float *block_lse, size_t rows, size_t heads,
                     size_t head_dim)
{
    for (size_t r = 0; r < rows * heads; r++) {
        float bl = block_lse[r], l = lse[r];
        float *o = out + r * head_dim;
        const float *bo = block_out + r * head_dim;

        if (bl == -INFINITY) {
            continue; /* the block has nothing for this row */
        }
        if (l == -INFINITY) {
            memcpy(o, bo, head_dim * sizeof(float));
            lse[r] = bl;
            continue;
        }
        float w = merge_sigmoid(bl - l); /* the block's share */

        for (size_t d = 0; d < head_dim; d++) {
            o[d] -= w * (o[d] - bo[d]);
        }
        /* l - logsigmoid(l - bl) = max + log1p(exp(-|l - bl|)) */
        lse[r] = fmaxf(l, bl) + log1pf(expf(-fabsf(l - bl)));
    }
}
