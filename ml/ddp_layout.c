/*
 * DDP bucket layout: which parameters share a bucket (by size, in the
 * order given), where each sits in the bucket, and whether the bucket can
 * work on the gradients in place; and the rebuild after the first step,
 * in the order the gradients arrived on rank 0.
 */
#include <stdlib.h>
#include <string.h>

#include "ml/ddp_int.h"
#include "ml/ml_util.h"

void
weft__ddp_layout_free(weft_ddp_t *ddp)
{
    for (size_t b = 0; b < ddp->nbuckets; b++) {
        ddp_bucket_t *k = &ddp->buckets[b];

        if (ddp->hook != NULL && ddp->hook->release != NULL) {
            ddp->hook->release(ddp->hook->state, &k->pub);
        }
        weft__ddp_part_free(k);
        free(k->params);
        free(k->offsets);
        free(k->own);
        free(k->out);
    }
    free(ddp->buckets);
    ddp->buckets = NULL;
    ddp->nbuckets = 0;
}

/* Its gradients lie back to back in memory, in bucket order. */
static int
ddp_contiguous(const weft_ddp_t *ddp, const ddp_bucket_t *k)
{
    for (size_t j = 1; j < k->pub.nparams; j++) {
        size_t prev = k->params[j - 1];

        if ((const char *)ddp->params[prev].grad + ddp->bytes[prev] !=
            (const char *)ddp->params[k->params[j]].grad) {
            return 0;
        }
    }
    return 1;
}

/* Members and offsets of each bucket, then its buffer. */
static weft_status_t
ddp_fill(weft_ddp_t *ddp, const size_t *order)
{
    for (size_t j = 0; j < ddp->nparams; j++) {
        size_t i = order[j];
        ddp_bucket_t *k = &ddp->buckets[ddp->bucket_of[i]];

        ddp->slot_of[i] = k->pub.nparams;
        k->params[k->pub.nparams] = i;
        k->offsets[k->pub.nparams] = k->pub.count;
        k->pub.nparams++;
        k->pub.count += ddp->params[i].count;
        k->pub.dtype = ddp->params[i].dtype;
    }
    for (size_t b = 0; b < ddp->nbuckets; b++) {
        ddp_bucket_t *k = &ddp->buckets[b];
        size_t bytes = k->pub.count * weft_dtype_size(k->pub.dtype);

        k->pub.index = b;
        k->pub.params = k->params;
        k->pub.offsets = k->offsets;
        k->pub.is_last = b + 1 == ddp->nbuckets;
        /* the gradients themselves, where they lie in order and no
         * unused one must stay untouched; else a copy */
        if (!ddp->find_unused && ddp_contiguous(ddp, k)) {
            k->pub.buffer = ddp->params[k->params[0]].grad;
        } else {
            k->pub.buffer = k->own = malloc(bytes);
        }
        if (ddp->hook == NULL && k->own != NULL) {
            k->out = malloc(bytes);
        }
        if (k->pub.buffer == NULL ||
            (k->own != NULL && ddp->hook == NULL && k->out == NULL)) {
            return weft_log_error(WEFT_ERR_NO_MEMORY, WEFT_LOG_WARN,
                                  WEFT_SUB_ML,
                                  "weft_ddp: out of memory for bucket %zu "
                                  "(%zu elements)",
                                  b, k->pub.count);
        }
        if (ddp->hook == NULL) {
            WEFT_ML_CHECK(weft__ddp_part_init(ddp, k));
        }
    }
    return WEFT_OK;
}

weft_status_t
weft__ddp_layout(weft_ddp_t *ddp, const size_t *order)
{
    size_t n = ddp->nparams, limits[2] = {ddp->first_cap, ddp->cap};
    size_t *bytes = malloc((n ? n : 1) * sizeof(*bytes));
    size_t *in_order = malloc((n ? n : 1) * sizeof(*in_order));
    weft_dtype_t *dt = malloc((n ? n : 1) * sizeof(*dt));
    weft_status_t st = WEFT_ERR_NO_MEMORY;
    size_t nb = 0;

    weft__ddp_layout_free(ddp);
    if (bytes == NULL || in_order == NULL || dt == NULL) {
        goto out;
    }
    for (size_t j = 0; j < n; j++) {
        bytes[j] = ddp->bytes[order[j]];
        dt[j] = ddp->params[order[j]].dtype;
    }
    st = weft_ddp_assign_buckets(bytes, dt, n, limits, 2, in_order, &nb);
    if (st != WEFT_OK) {
        goto out;
    }
    st = WEFT_ERR_NO_MEMORY;
    ddp->buckets = calloc(nb ? nb : 1, sizeof(*ddp->buckets));
    if (ddp->buckets == NULL) {
        goto out;
    }
    ddp->nbuckets = nb;
    for (size_t j = 0; j < n; j++) {
        ddp->bucket_of[order[j]] = in_order[j];
        ddp->buckets[in_order[j]].pub.nparams++; /* sized, then refilled */
    }
    for (size_t b = 0; b < nb; b++) {
        ddp_bucket_t *k = &ddp->buckets[b];

        k->params = malloc(k->pub.nparams * sizeof(size_t));
        k->offsets = malloc(k->pub.nparams * sizeof(size_t));
        if (k->params == NULL || k->offsets == NULL) {
            goto out;
        }
        k->pub.nparams = 0;
    }
    st = ddp_fill(ddp, order);
out:
    free(bytes);
    free(in_order);
    free(dt);
    if (st == WEFT_ERR_NO_MEMORY) {
        weft__ddp_layout_free(ddp);
        return weft_log_error(st, WEFT_LOG_WARN, WEFT_SUB_ML,
                              "weft_ddp: out of memory for the buckets of "
                              "%zu parameters",
                              n);
    }
    return st;
}

weft_status_t
weft__ddp_rebuild(weft_ddp_t *ddp)
{
    size_t n = ddp->nparams;
    uint64_t *wire = malloc((n ? n : 1) * sizeof(*wire));
    size_t *order = malloc((n ? n : 1) * sizeof(*order));
    uint8_t *seen = calloc(n ? n : 1, 1);
    weft_status_t st = WEFT_ERR_NO_MEMORY;

    if (wire == NULL || order == NULL || seen == NULL) {
        goto out;
    }
    for (size_t j = 0; j < n; j++) {
        wire[j] = ddp->arrival[j];
    }
    /* rank 0's order on every rank: the layouts must agree */
    st = weft_broadcast(wire, n, WEFT_UINT64, 0, ddp->comm);
    if (st != WEFT_OK) {
        goto out;
    }
    for (size_t j = 0; j < n; j++) {
        if (wire[j] >= n || seen[wire[j]]) {
            st = weft_log_error(WEFT_ERR_MISMATCH, WEFT_LOG_WARN, WEFT_SUB_ML,
                                "weft_ddp: rank 0's gradient order is no "
                                "order of this rank's %zu parameters "
                                "(entry %zu is %llu)",
                                n, j, (unsigned long long)wire[j]);
            goto out;
        }
        seen[wire[j]] = 1;
        order[j] = (size_t)wire[j];
    }
    st = weft__ddp_layout(ddp, order);
out:
    free(wire);
    free(order);
    free(seen);
    return st;
}
