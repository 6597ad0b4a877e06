/*
 * The expert side's view of a dispatch: pairs (received row, local
 * expert) grouped per chunk by expert, and the handle's queries.
 */
#include <stdlib.h>
#include <string.h>
#include <weft/ml_moe.h>

#include "ml/ml_util.h"
#include "ml/moe_handle.h"

weft_status_t
weft__moe_build_pairs(weft_moe_handle_t *h)
{
    size_t k = h->topk, L = h->nlocal, P = (size_t)h->nranks, np = 0;
    size_t *cur;

    for (size_t i = 0; i < h->nrecv * k; i++) {
        int32_t e = h->local_expert[i];

        if (e < -1 || e >= (int32_t)L) {
            return weft_log_error(WEFT_ERR_PROTOCOL, WEFT_LOG_WARN, WEFT_SUB_ML,
                                  "weft_moe_dispatch: received local expert "
                                  "%d outside [0, %zu)",
                                  (int)e, L);
        }
        np += e >= 0;
    }
    h->npairs = np;
    h->pair_row = malloc((np + 1) * sizeof(size_t));
    h->pair_expert = malloc((np + 1) * sizeof(int32_t));
    if (h->pair_row == NULL || h->pair_expert == NULL) {
        return weft_log_error(WEFT_ERR_NO_MEMORY, WEFT_LOG_WARN, WEFT_SUB_ML,
                              "weft_moe_dispatch: out of memory");
    }
    cur = malloc((L + 1) * sizeof(size_t));
    if (cur == NULL) {
        return weft_log_error(WEFT_ERR_NO_MEMORY, WEFT_LOG_WARN, WEFT_SUB_ML,
                              "weft_moe_dispatch: out of memory");
    }
    np = 0;
    for (size_t c = 0; c < h->nchunks; c++) {
        size_t *eb = &h->expert_pair_begin[c * (L + 1)];
        size_t r0 = h->rbase[c * P];
        size_t r1 = c + 1 < h->nchunks ? h->rbase[(c + 1) * P] : h->nrecv;

        /* a counting sort: pairs per expert, then rows placed in order */
        memset(eb, 0, (L + 1) * sizeof(size_t));
        for (size_t i = r0 * k; i < r1 * k; i++) {
            if (h->local_expert[i] >= 0) {
                eb[h->local_expert[i] + 1]++;
            }
        }
        eb[0] = np;
        for (size_t e = 0; e < L; e++) {
            eb[e + 1] += eb[e];
        }
        np = eb[L];
        memcpy(cur, eb, (L + 1) * sizeof(size_t));
        for (size_t r = r0; r < r1; r++) {
            for (size_t j = 0; j < k; j++) {
                int32_t e = h->local_expert[r * k + j];
                size_t pi;

                h->row_pair[r * k + j] = MOE_NONE;
                if (e < 0) {
                    continue;
                }
                pi = cur[e]++;
                h->pair_row[pi] = r;
                h->pair_expert[pi] = e;
                h->row_pair[r * k + j] = pi;
            }
        }
    }
    free(cur);
    return WEFT_OK;
}

weft_status_t
weft_moe_handle_chunk(const weft_moe_handle_t *h, size_t c,
                      weft_moe_chunk_t *chunk_p)
{
    size_t P, L;

    WEFT_ML_ARG(h != NULL && chunk_p != NULL,
                "weft_moe_handle_chunk: handle or chunk_p is NULL");
    WEFT_ML_ARG(c < h->nchunks, "weft_moe_handle_chunk: chunk %zu of %zu", c,
                h->nchunks);
    P = (size_t)h->nranks;
    L = h->nlocal;
    chunk_p->index = c;
    chunk_p->row_begin = h->rbase[c * P];
    chunk_p->row_end = c + 1 < h->nchunks ? h->rbase[(c + 1) * P] : h->nrecv;
    chunk_p->expert_pair_begin = &h->expert_pair_begin[c * (L + 1)];
    chunk_p->pair_begin = chunk_p->expert_pair_begin[0];
    chunk_p->pair_end = chunk_p->expert_pair_begin[L];
    chunk_p->pair_row = h->pair_row;
    chunk_p->pair_expert = h->pair_expert;
    return WEFT_OK;
}

weft_status_t
weft_moe_handle_info(const weft_moe_handle_t *h, weft_moe_info_t *info_p)
{
    WEFT_ML_ARG(h != NULL && info_p != NULL,
                "weft_moe_handle_info: handle or info_p is NULL");
    info_p->ntok = h->ntok;
    info_p->nsent = h->nsent;
    info_p->nrecv = h->nrecv;
    info_p->npairs = h->npairs;
    info_p->nchunks = h->nchunks;
    info_p->nlocal_experts = h->nlocal;
    info_p->capacity = h->capacity;
    info_p->dropped = h->dropped;
    return WEFT_OK;
}

weft_status_t
weft_moe_handle_rows(const weft_moe_handle_t *h, const int32_t **src_rank_p,
                     const int32_t **src_token_p,
                     const int32_t **local_expert_p, const float **weight_p)
{
    WEFT_ML_ARG(h != NULL, "weft_moe_handle_rows: handle is NULL");
    if (src_rank_p != NULL) {
        *src_rank_p = h->src_rank;
    }
    if (src_token_p != NULL) {
        *src_token_p = h->src_token;
    }
    if (local_expert_p != NULL) {
        *local_expert_p = h->local_expert;
    }
    if (weight_p != NULL) {
        *weight_p = h->weight;
    }
    return WEFT_OK;
}
