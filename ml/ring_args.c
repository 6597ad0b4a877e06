/*
 * The checks every sequence-parallel attention call starts with: the
 * communicator, the shapes, the dtype, the layout and mode, and the
 * optional fields.
 */
#include "ml/ring_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "ml/ml_util.h"

double
weft__ring_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void
weft__ring_stats_end(weft_ring_attn_stats_t *stats, double t0)
{
    if (stats == NULL) {
        return;
    }
    stats->wall_s = weft__ring_now() - t0;
    stats->hidden = 0.0;
    if (stats->transfer_s > 0.0 && stats->wait_s < stats->transfer_s) {
        stats->hidden = 1.0 - stats->wait_s / stats->transfer_s;
    }
}

weft_status_t
weft__ring_setup(weft_comm_t *comm, const weft_ring_attn_params_t *p,
                 const char *fn, ring_setup_t *s)
{
    WEFT_ML_ARG(comm != NULL, "%s: comm is NULL", fn);
    WEFT_ML_ARG(p != NULL, "%s: params is NULL", fn);
    WEFT_ML_ARG((unsigned)p->layout < WEFT_RING_LAYOUT_COUNT,
                "%s: params->layout %d is not a weft_ring_layout_t", fn,
                (int)p->layout);
    WEFT_ML_ARG((unsigned)p->mode < WEFT_RING_MODE_COUNT,
                "%s: params->mode %d is not a weft_ring_mode_t", fn,
                (int)p->mode);
    WEFT_ML_ARG(p->dtype == WEFT_FLOAT32 || p->dtype == WEFT_FLOAT16 ||
                    p->dtype == WEFT_BFLOAT16,
                "%s: params->dtype %s is not float32, float16 or bfloat16", fn,
                weft_dtype_name(p->dtype));
    WEFT_ML_ARG(p->rows > 0 && p->heads > 0 && p->kv_heads > 0 &&
                    p->head_dim > 0,
                "%s: params->rows %zu, heads %zu, kv_heads %zu, head_dim %zu: "
                "all must be > 0",
                fn, p->rows, p->heads, p->kv_heads, p->head_dim);
    WEFT_ML_ARG(p->heads % p->kv_heads == 0,
                "%s: params->heads %zu is not a multiple of "
                "params->kv_heads %zu",
                fn, p->heads, p->kv_heads);
    WEFT_ML_ARG(p->layout != WEFT_RING_ZIGZAG || p->rows % 2 == 0,
                "%s: params->rows %zu must be even for the zigzag layout", fn,
                p->rows);
    s->comm = comm;
    s->fn = fn;
    s->rank = weft_comm_rank(comm);
    s->size = weft_comm_size(comm);
    WEFT_ML_ARG(s->rank >= 0 && s->size > 0, "%s: comm has no rank", fn);
    s->esize = weft_dtype_size(p->dtype);
    s->q_row = p->heads * p->head_dim;
    s->kv_row = p->kv_heads * p->head_dim;
    s->scale = 1.0f / sqrtf((float)p->head_dim);
    if (p->field_mask & WEFT_RING_PARAM_FIELD_SCALE) {
        WEFT_ML_ARG(isfinite(p->scale) && p->scale != 0.0f,
                    "%s: params->scale %g is not a finite nonzero number", fn,
                    (double)p->scale);
        s->scale = p->scale;
    }
    s->fwd_fn = weft_ring_attn_block_ref;
    s->bwd_fn = weft_ring_attn_block_bwd_ref;
    s->user = NULL;
    if (p->field_mask & WEFT_RING_PARAM_FIELD_KERNEL) {
        s->fwd_fn = p->block_fn != NULL ? p->block_fn : s->fwd_fn;
        s->bwd_fn = p->bwd_fn != NULL ? p->bwd_fn : s->bwd_fn;
        s->user = p->user;
    }
    s->stats = NULL;
    if (p->field_mask & WEFT_RING_PARAM_FIELD_STATS) {
        WEFT_ML_ARG(p->stats != NULL,
                    "%s: params->stats is NULL with FIELD_STATS set", fn);
        s->stats = p->stats;
        *s->stats = (weft_ring_attn_stats_t){0};
    }
    s->serial = (p->field_mask & WEFT_RING_PARAM_FIELD_SERIAL) && p->serial;
    return WEFT_OK;
}

weft_status_t
weft__ring_kernel_failed(const ring_setup_t *s, weft_status_t st,
                         const char *which, int step, int src)
{
    char where[64] = "on this rank's heads (Ulysses)";

    if (step >= 0) {
        snprintf(where, sizeof(where), "at step %d, on the K/V of rank %d",
                 step, src);
    }
    return weft_log_error(weft__ml_give_up(s->comm, st), WEFT_LOG_ERROR,
                          WEFT_SUB_ML,
                          "%s: the %s block kernel returned %d (%s) %s; comm "
                          "aborted, so the other ranks stop too "
                          "(WEFT_ERR_ABORTED)",
                          s->fn, which, (int)st, weft_status_string(st), where);
}

weft_status_t
weft__ring_check_fwd(const char *fn, const void *q, const void *k,
                     const void *v, const float *out, const float *lse)
{
    WEFT_ML_ARG(q != NULL, "%s: q is NULL", fn);
    WEFT_ML_ARG(k != NULL, "%s: k is NULL", fn);
    WEFT_ML_ARG(v != NULL, "%s: v is NULL", fn);
    WEFT_ML_ARG(out != NULL, "%s: out is NULL", fn);
    WEFT_ML_ARG(lse != NULL, "%s: lse is NULL", fn);
    return WEFT_OK;
}

weft_status_t
weft__ring_check_bwd(const char *fn, const void *q, const void *k,
                     const void *v, const void *dout, const float *out,
                     const float *lse, const float *dq, const float *dk,
                     const float *dv)
{
    WEFT_ML_CHECK(weft__ring_check_fwd(fn, q, k, v, out, lse));
    WEFT_ML_ARG(dout != NULL, "%s: dout is NULL", fn);
    WEFT_ML_ARG(dq != NULL, "%s: dq is NULL", fn);
    WEFT_ML_ARG(dk != NULL, "%s: dk is NULL", fn);
    WEFT_ML_ARG(dv != NULL, "%s: dv is NULL", fn);
    return WEFT_OK;
}

/* What each rank tells the others before any K/V moves. */
#define RING_AGREE_N       8
#define RING_AGREE_OK      0x72696e67 /* "ring" */
#define RING_AGREE_REFUSED 0x72696e78 /* "rinx" */

static const char *const ring_agree_name[RING_AGREE_N] = {
    "call",         "params->dtype", "params->layout",   "params->mode",
    "params->rows", "params->heads", "params->kv_heads", "params->head_dim"};

weft_status_t
weft__ring_agree(weft_comm_t *comm, const weft_ring_attn_params_t *p,
                 const char *fn, weft_status_t local)
{
    int size = comm != NULL ? weft_comm_size(comm) : 0;
    int me = comm != NULL ? weft_comm_rank(comm) : -1;
    int64_t mine[RING_AGREE_N] = {0}, *all;
    weft_status_t st;

    if (size <= 0 || me < 0) {
        return local; /* no communicator to tell */
    }
    mine[0] = local == WEFT_OK ? RING_AGREE_OK : RING_AGREE_REFUSED;
    if (p != NULL) {
        mine[1] = p->dtype;
        mine[2] = p->layout;
        mine[3] = p->mode;
        mine[4] = (int64_t)p->rows;
        mine[5] = (int64_t)p->heads;
        mine[6] = (int64_t)p->kv_heads;
        mine[7] = (int64_t)p->head_dim;
    }
    all = malloc((size_t)size * sizeof(mine));
    if (all == NULL) {
        return local != WEFT_OK
                   ? local
                   : weft_log_error(WEFT_ERR_NO_MEMORY, WEFT_LOG_WARN,
                                    WEFT_SUB_ML, "%s: out of memory", fn);
    }
    st = weft_allgather(mine, all, RING_AGREE_N, WEFT_INT64, comm);
    if (st == WEFT_OK && local == WEFT_OK) {
        st = weft__ml_headers_agree(fn, all, RING_AGREE_N, size, me, mine,
                                    RING_AGREE_N, ring_agree_name,
                                    RING_AGREE_REFUSED);
    }
    free(all);
    return local != WEFT_OK ? local : st;
}
