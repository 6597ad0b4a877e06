/*
 * The reference CPU block kernels of ring attention: fp32, fp16 or bf16
 * inputs, everything accumulated in fp32. They make the module usable on a
 * CPU on its own and are what the tests check the library's merge and
 * schedule through.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <weft/ml_ring.h>

#include "ml/ml_half.h"
#include "ml/ml_util.h"

/* The block's K and V (and the scratch a row needs) as fp32. */
typedef struct kernel_buf {
    const float *k, *v; /* [kv_rows][kv_heads][head_dim] */
    float *q, *dout; /* one row of one head */
    float *s;        /* [kv_rows] scores */
    void *mem;
} kernel_buf_t;

static weft_status_t
kernel_check(const char *fn, const weft_ring_block_t *b, const void *out,
             const void *lse)
{
    WEFT_ML_ARG(b != NULL, "%s: blk is NULL", fn);
    WEFT_ML_ARG(out != NULL && lse != NULL, "%s: an output is NULL", fn);
    WEFT_ML_ARG(b->dtype == WEFT_FLOAT32 || b->dtype == WEFT_FLOAT16 ||
                    b->dtype == WEFT_BFLOAT16,
                "%s: blk->dtype %s is not float32, float16 or bfloat16", fn,
                weft_dtype_name(b->dtype));
    WEFT_ML_ARG(b->kv_heads > 0 && b->heads % b->kv_heads == 0,
                "%s: blk->heads %zu is not a multiple of blk->kv_heads %zu", fn,
                b->heads, b->kv_heads);
    WEFT_ML_ARG(b->q_rows == 0 || b->kv_rows == 0 ||
                    (b->q != NULL && b->k != NULL && b->v != NULL),
                "%s: blk->q, k or v is NULL", fn);
    WEFT_ML_ARG(!b->causal || b->q_rows == 0 || b->kv_rows == 0 ||
                    (b->q_pos != NULL && b->k_pos != NULL),
                "%s: causal block without q_pos/k_pos", fn);
    return WEFT_OK;
}

static weft_status_t
kernel_buf_init(const weft_ring_block_t *b, kernel_buf_t *kb)
{
    size_t kv = b->kv_rows * b->kv_heads * b->head_dim;
    int f32 = b->dtype == WEFT_FLOAT32; /* read K and V in place */
    size_t n = (f32 ? 0 : 2 * kv) + 2 * b->head_dim + b->kv_rows + 1;

    kb->mem = malloc(n * sizeof(float));
    if (kb->mem == NULL) {
        return weft_log_error(WEFT_ERR_NO_MEMORY, WEFT_LOG_WARN, WEFT_SUB_ML,
                              "ring attention kernel: no memory for %zu "
                              "floats",
                              n);
    }
    kb->q = kb->mem;
    kb->dout = kb->q + b->head_dim;
    kb->s = kb->dout + b->head_dim;
    if (f32) {
        kb->k = b->k;
        kb->v = b->v;
        return WEFT_OK;
    }
    float *conv = kb->s + b->kv_rows + 1;

    weft__ml_load_f32(b->k, b->dtype, 0, kv, conv);
    weft__ml_load_f32(b->v, b->dtype, 0, kv, conv + kv);
    kb->k = conv;
    kb->v = conv + kv;
    return WEFT_OK;
}

static float
kernel_dot(const float *a, const float *b, size_t n)
{
    float s = 0.0f;

    for (size_t i = 0; i < n; i++) {
        s += a[i] * b[i];
    }
    return s;
}

static int
kernel_visible(const weft_ring_block_t *b, size_t i, size_t j)
{
    return !b->causal || b->k_pos[j] <= b->q_pos[i];
}

/* Scores of row i, head h into kb->s (masked: -inf); returns the max. */
static float
kernel_scores(const weft_ring_block_t *b, kernel_buf_t *kb, size_t i, size_t h)
{
    size_t d = b->head_dim, kh = h / (b->heads / b->kv_heads);
    float m = -INFINITY;

    weft__ml_load_f32(b->q, b->dtype, (i * b->heads + h) * d, d, kb->q);
    for (size_t j = 0; j < b->kv_rows; j++) {
        if (!kernel_visible(b, i, j)) {
            kb->s[j] = -INFINITY;
            continue;
        }
        kb->s[j] =
            b->scale * kernel_dot(kb->q, kb->k + (j * b->kv_heads + kh) * d, d);
        m = fmaxf(m, kb->s[j]);
    }
    return m;
}

weft_status_t
weft_ring_attn_block_ref(void *user, const weft_ring_block_t *b, float *out,
                         float *lse)
{
    kernel_buf_t kb;
    size_t d;

    (void)user;
    WEFT_ML_CHECK(kernel_check("weft_ring_attn_block_ref", b, out, lse));
    WEFT_ML_CHECK(kernel_buf_init(b, &kb));
    d = b->head_dim;
    for (size_t i = 0; i < b->q_rows; i++) {
        for (size_t h = 0; h < b->heads; h++) {
            size_t kh = h / (b->heads / b->kv_heads);
            float *o = out + (i * b->heads + h) * d;
            float m = kernel_scores(b, &kb, i, h), sum = 0.0f;

            memset(o, 0, d * sizeof(float));
            if (m == -INFINITY) {
                lse[i * b->heads + h] = -INFINITY;
                continue;
            }
            for (size_t j = 0; j < b->kv_rows; j++) {
                if (kb.s[j] == -INFINITY) {
                    continue;
                }
                float w = expf(kb.s[j] - m);
                const float *vj = kb.v + (j * b->kv_heads + kh) * d;

                sum += w;
                for (size_t e = 0; e < d; e++) {
                    o[e] += w * vj[e];
                }
            }
            for (size_t e = 0; e < d; e++) {
                o[e] /= sum;
            }
            lse[i * b->heads + h] = m + logf(sum);
        }
    }
    free(kb.mem);
    return WEFT_OK;
}

weft_status_t
weft_ring_attn_block_bwd_ref(void *user, const weft_ring_block_t *b,
                             const void *dout, const float *lse,
                             const float *delta, float *dq, float *dk,
                             float *dv)
{
    kernel_buf_t kb;
    size_t d;

    (void)user;
    WEFT_ML_CHECK(kernel_check("weft_ring_attn_block_bwd_ref", b, dq, dk));
    WEFT_ML_ARG(dout != NULL && lse != NULL && delta != NULL && dv != NULL,
                "weft_ring_attn_block_bwd_ref: dout, lse, delta or dv is "
                "NULL");
    WEFT_ML_CHECK(kernel_buf_init(b, &kb));
    d = b->head_dim;
    for (size_t i = 0; i < b->q_rows; i++) {
        for (size_t h = 0; h < b->heads; h++) {
            size_t kh = h / (b->heads / b->kv_heads), r = i * b->heads + h;
            float *dqi = dq + r * d;
            float l = lse[r];

            if (l == -INFINITY || kernel_scores(b, &kb, i, h) == -INFINITY) {
                continue;
            }
            weft__ml_load_f32(dout, b->dtype, r * d, d, kb.dout);
            for (size_t j = 0; j < b->kv_rows; j++) {
                if (kb.s[j] == -INFINITY) {
                    continue;
                }
                size_t kj = (j * b->kv_heads + kh) * d;
                float p = expf(kb.s[j] - l);
                float dp = kernel_dot(kb.dout, kb.v + kj, d);
                float ds = p * (dp - delta[r]) * b->scale;

                for (size_t e = 0; e < d; e++) {
                    dv[kj + e] += p * kb.dout[e];
                    dqi[e] += ds * kb.k[kj + e];
                    dk[kj + e] += ds * kb.q[e];
                }
            }
        }
    }
    free(kb.mem);
    return WEFT_OK;
}
