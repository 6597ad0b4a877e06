/*
 * MoE combine: weight the expert outputs of each received row on the
 * expert side (local slots in slot order), send the partial rows back
 * chunk by chunk, and sum each token's partials at its source.
 */
#include <stdlib.h>
#include <string.h>
#include <weft/ml_moe.h>

#include "ml/ml_util.h"
#include "ml/moe_handle.h"

static weft_status_t
moe_combine_check(const weft_moe_handle_t *h, const char *fn,
                  const void *expert_y, weft_dtype_t dtype)
{
    WEFT_ML_ARG(h != NULL, "%s: handle is NULL", fn);
    WEFT_ML_ARG(weft__moe_float_dtype(dtype),
                "%s: dtype %s is not a floating type (float16, bfloat16, "
                "float32, float64)",
                fn, weft_dtype_name(dtype));
    WEFT_ML_ARG(dtype == h->dtype,
                "%s: dtype %s does not match the dispatch's %s", fn,
                weft_dtype_name(dtype), weft_dtype_name(h->dtype));
    WEFT_ML_ARG(expert_y != NULL || h->npairs == 0,
                "%s: expert_y is NULL with %zu pairs", fn, h->npairs);
    return WEFT_OK;
}

weft_status_t
weft_moe_combine_chunk(weft_moe_handle_t *h, size_t c, const void *expert_y,
                       weft_dtype_t dtype)
{
    size_t k, P, rowb, r0, r1;

    WEFT_ML_CHECK(
        moe_combine_check(h, "weft_moe_combine_chunk", expert_y, dtype));
    WEFT_ML_ARG(c < h->nchunks, "weft_moe_combine_chunk: chunk %zu of %zu", c,
                h->nchunks);
    WEFT_ML_ARG(c < h->arrived,
                "weft_moe_combine_chunk: chunk %zu has not arrived yet", c);
    WEFT_ML_ARG(!h->cposted[c],
                "weft_moe_combine_chunk: chunk %zu is posted already", c);
    k = h->topk;
    P = (size_t)h->nranks;
    rowb = h->hidden * h->esize;
    if (h->partial == NULL) {
        h->partial = weft__moe_buf_get(h->nrecv * rowb, &h->partial_bytes);
        if (h->partial == NULL) {
            return weft_log_error(WEFT_ERR_NO_MEMORY, WEFT_LOG_WARN,
                                  WEFT_SUB_ML,
                                  "weft_moe_combine: out of memory");
        }
    }
    r0 = h->rbase[c * P];
    r1 = c + 1 < h->nchunks ? h->rbase[(c + 1) * P] : h->nrecv;
    for (size_t r = r0; r < r1; r++) {
        const void *src[MOE_MAX_TOPK];
        float w[MOE_MAX_TOPK];
        size_t n = 0;

        for (size_t j = 0; j < k; j++) {
            size_t p = h->row_pair[r * k + j];

            if (p != MOE_NONE) {
                src[n] = (const char *)expert_y + p * rowb;
                w[n++] = h->weight[r * k + j];
            }
        }
        weft__moe_weighted_sum(h, (char *)h->partial + r * rowb, n, src, w);
    }
    WEFT_ML_CHECK(weft_ialltoallv(
        h->partial, &h->r_el[c * P], &h->r_disp[c * P], h->back,
        &h->s_el[c * P], &h->s_disp[c * P], h->dtype, h->comm, &h->creq[c]));
    h->cposted[c] = 1;
    return WEFT_OK;
}

weft_status_t
weft_moe_combine(weft_moe_handle_t *h, const void *expert_y, weft_dtype_t dtype,
                 void *y)
{
    weft_status_t st = WEFT_OK;
    size_t k, rowb;

    WEFT_ML_CHECK(moe_combine_check(h, "weft_moe_combine", expert_y, dtype));
    WEFT_ML_ARG(y != NULL || h->ntok == 0,
                "weft_moe_combine: y is NULL with %zu tokens", h->ntok);
    for (size_t c = 0; st == WEFT_OK && c < h->nchunks; c++) {
        if (!h->cposted[c]) {
            st = weft_moe_combine_chunk(h, c, expert_y, dtype);
        }
    }
    if (st == WEFT_OK) {
        st = weft_waitall(h->nchunks, h->creq);
    } else {
        weft_waitall(h->nchunks, h->creq);
    }
    memset(h->creq, 0, h->nchunks * sizeof(*h->creq));
    memset(h->cposted, 0, h->nchunks);
    if (st != WEFT_OK) {
        return st;
    }
    k = h->topk;
    rowb = h->hidden * h->esize;
    for (size_t t = 0; t < h->ntok; t++) {
        const void *src[MOE_MAX_TOPK];
        size_t n = 0;

        while (n < k && h->tok_rows[t * k + n] != MOE_NONE) {
            src[n] = (const char *)h->back + h->tok_rows[t * k + n] * rowb;
            n++;
        }
        weft__moe_weighted_sum(h, (char *)y + t * rowb, n, src, NULL);
    }
    return WEFT_OK;
}
