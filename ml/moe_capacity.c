/*
 * Capacity mode: the expert capacity C (DeepSpeed's and Tutel's formulas)
 * and which (token, slot) assignments fit in it.
 */
#include <stdlib.h>
#include <string.h>
#include <weft/ml_moe.h>

#include "ml/ml_util.h"
#include "ml/moe_handle.h"

weft_status_t
weft_moe_capacity(const weft_moe_params_t *params, size_t ntok,
                  size_t *capacity_p)
{
    const weft_moe_params_t *p = params;
    double cf = 1.0, v;
    size_t minc = 4, align = 1, c;
    weft_moe_capacity_rule_t rule = WEFT_MOE_CAPACITY_DEEPSPEED;

    WEFT_ML_ARG(p != NULL && capacity_p != NULL,
                "weft_moe_capacity: params or capacity_p is NULL");
    WEFT_ML_ARG(p->nexperts > 0 && p->topk > 0,
                "weft_moe_capacity: nexperts %zu, topk %zu (both must be "
                "> 0)",
                p->nexperts, p->topk);
    if (p->field_mask & WEFT_MOE_PARAM_CAPACITY && p->capacity > 0) {
        *capacity_p = p->capacity;
        return WEFT_OK;
    }
    if (p->field_mask & WEFT_MOE_PARAM_CAPACITY_RULE) {
        rule = p->capacity_rule;
    }
    if (p->field_mask & WEFT_MOE_PARAM_CAPACITY_FACTOR) {
        cf = p->capacity_factor;
    }
    if (p->field_mask & WEFT_MOE_PARAM_MIN_CAPACITY) {
        minc = p->min_capacity;
    }
    if (p->field_mask & WEFT_MOE_PARAM_ALIGNMENT) {
        align = p->alignment;
    }
    WEFT_ML_ARG(cf > 0,
                "weft_moe_capacity: capacity_factor %g must be > 0 "
                "(use the dropless mode for no capacity)",
                cf);
    WEFT_ML_ARG(align > 0, "weft_moe_capacity: alignment is 0");
    switch (rule) {
    case WEFT_MOE_CAPACITY_DEEPSPEED:
        /* sharded_moe._capacity: ceil(tokens / experts * factor'), where
         * factor' is k * cf (top-2 passes 2 * cf), at least min_capacity */
        v = (double)ntok / (double)p->nexperts * ((double)p->topk * cf);
        c = (size_t)v;
        if ((double)c < v) {
            c++; /* the ceiling, without libm */
        }
        if (c < minc) {
            c = minc;
        }
        break;
    case WEFT_MOE_CAPACITY_TUTEL:
        /* fast_dispatch: k * int(cf * ceil(tokens / experts)), aligned */
        c = p->topk *
            (size_t)(cf * (double)((ntok + p->nexperts - 1) / p->nexperts));
        c = (c + align - 1) / align * align;
        break;
    default:
        WEFT_ML_ARG(0,
                    "weft_moe_capacity: capacity_rule %d is not a "
                    "weft_moe_capacity_rule_t",
                    (int)rule);
    }
    *capacity_p = c;
    return WEFT_OK;
}

size_t
weft__moe_select(const int64_t *topk_idx, size_t ntok, size_t topk,
                 size_t nexperts, size_t capacity, unsigned char *kept)
{
    size_t *fill, dropped = 0;

    if (capacity == MOE_NONE) {
        for (size_t i = 0; i < ntok * topk; i++) {
            kept[i] = topk_idx[i] >= 0;
        }
        return 0;
    }
    fill = calloc(nexperts, sizeof(*fill));
    if (fill == NULL) {
        return MOE_NONE;
    }
    /* first slots first, then second slots, ...; token order within */
    for (size_t j = 0; j < topk; j++) {
        for (size_t t = 0; t < ntok; t++) {
            int64_t e = topk_idx[t * topk + j];

            kept[t * topk + j] = 0;
            if (e < 0) {
                continue;
            }
            if (fill[e] < capacity) {
                kept[t * topk + j] = 1;
            } else {
                dropped++;
            }
            fill[e]++;
        }
    }
    free(fill);
    return dropped;
}
