/*
 * MoE routing counts (weft_moe_layout): a pure function of the top-k
 * expert indices, the same on every rank for the same input.
 */
#include <string.h>
#include <weft/ml_moe.h>

#include "ml/ml_util.h"
#include "ml/moe_handle.h"

weft_status_t
weft__moe_check_idx(const char *fn, const int64_t *topk_idx, size_t ntok,
                    size_t topk, size_t nexperts)
{
    for (size_t i = 0; i < ntok * topk; i++) {
        int64_t e = topk_idx[i];

        WEFT_ML_ARG(e == -1 || (e >= 0 && (uint64_t)e < nexperts),
                    "%s: topk_idx[%zu][%zu] = %lld is outside [0, %zu) "
                    "(-1 means no expert)",
                    fn, i / topk, i % topk, (long long)e, nexperts);
    }
    return WEFT_OK;
}

weft_status_t
weft_moe_layout(const int64_t *topk_idx, size_t ntok, size_t topk,
                size_t nexperts, int nranks, weft_moe_layout_t *layout)
{
    size_t nlocal;

    WEFT_ML_ARG(layout != NULL, "weft_moe_layout: layout is NULL");
    WEFT_ML_ARG(topk_idx != NULL || ntok == 0,
                "weft_moe_layout: topk_idx is NULL with %zu tokens", ntok);
    WEFT_ML_ARG(topk > 0, "weft_moe_layout: topk is 0");
    WEFT_ML_ARG(nranks > 0, "weft_moe_layout: nranks is %d", nranks);
    WEFT_ML_ARG(nexperts > 0 && nexperts % (size_t)nranks == 0,
                "weft_moe_layout: nexperts %zu is not a positive multiple "
                "of the %d ranks",
                nexperts, nranks);
    WEFT_ML_CHECK(
        weft__moe_check_idx("weft_moe_layout", topk_idx, ntok, topk, nexperts));
    nlocal = nexperts / (size_t)nranks;
    if (layout->tokens_per_expert != NULL) {
        memset(layout->tokens_per_expert, 0, nexperts * sizeof(size_t));
    }
    if (layout->tokens_per_rank != NULL) {
        memset(layout->tokens_per_rank, 0, (size_t)nranks * sizeof(size_t));
    }
    for (size_t t = 0; t < ntok; t++) {
        const int64_t *idx = &topk_idx[t * topk];
        uint8_t *in = layout->token_in_rank != NULL
                          ? &layout->token_in_rank[t * (size_t)nranks]
                          : NULL;

        if (in != NULL) {
            memset(in, 0, (size_t)nranks);
        }
        for (size_t j = 0; j < topk; j++) {
            size_t r;
            int first = 1;

            if (idx[j] < 0) {
                continue;
            }
            if (layout->tokens_per_expert != NULL) {
                layout->tokens_per_expert[idx[j]]++;
            }
            r = (size_t)idx[j] / nlocal;
            for (size_t i = 0; i < j; i++) {
                if (idx[i] >= 0 && (size_t)idx[i] / nlocal == r) {
                    first = 0; /* the rank was named by an earlier slot */
                }
            }
            if (first && layout->tokens_per_rank != NULL) {
                layout->tokens_per_rank[r]++;
            }
            if (in != NULL) {
                in[r] = 1;
            }
        }
    }
    return WEFT_OK;
}
