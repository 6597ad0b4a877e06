/*
 * Reduce-scatter with per-rank block sizes, pipelined ring: the blocks
 * (recvcounts[r] elements, back to back in the input, any of them 0) go
 * around the ring in chunks of about WEFT_COLL_CHUNK (reduce_common.h);
 * block r ends at rank r, reduced once. Any rank count.
 */
#include "build_config.h"
#include "collectives/algos/algos.h"
#include "collectives/algos/reduce_common.h"
#include "context.h"

static weft_status_t
rsv_ring_build(weft__sched_t *s, const weft__coll_args_t *a)
{
    weft_comm_t *comm = weft__sched_comm(s);
    int n = comm->size, r = comm->rank;
    size_t *off, total = 0;
    weft__rs_ring_t g = {.input = a->inplace ? a->recvbuf : a->sendbuf,
                         .len = a->rcounts,
                         .out = a->recvbuf,
                         .esize = a->esize,
                         .chunk = comm->ctx->cfg.coll.chunk};

    off = weft__sched_scratch(s, (size_t)n * sizeof(*off));
    if (off == NULL) {
        return WEFT_OK; /* weft__sched_start reports it */
    }
    for (int b = 0; b < n; b++) {
        off[b] = total;
        total += a->rcounts[b];
    }
    if (n == 1 || total == 0) {
        if (!a->inplace && total > 0) {
            weft__sched_copy(s, a->recvbuf, a->sendbuf, total * a->esize);
        }
        return WEFT_OK;
    }
    g.off = off;
    /* in place the result goes to the start of the input, which is the
     * rank's own block only when every block before it is empty */
    g.staged = a->inplace && off[r] != 0;
    weft__rs_ring_build(s, &g);
    return WEFT_OK;
}

static const char *
rsv_ring_supported(const weft__coll_args_t *a, const weft_comm_t *comm)
{
    return NULL; /* any rank count, any counts */
}

static double
rsv_ring_cost(const weft__coll_args_t *a, const weft__cost_t *m)
{
    double n = m->size, bytes = 0, big = 0;

    for (int b = 0; b < m->size; b++) {
        double blk = (double)(a->rcounts[b] * a->esize);

        bytes += blk;
        big = blk > big ? blk : big;
    }
    /* the pipeline is as long as the largest block */
    big /= (double)m->chunk;
    return weft__cost_rounds(m, (n - 1) + (big > 1 ? big - 1 : 0),
                             (n - 1) / n * bytes, (n - 1) / n * bytes);
}

const weft__algo_t weft__algo_reduce_scatter_v_ring = {
    .name = "ring",
    .coll = WEFT_COLL_REDUCE_SCATTER_V,
    .supported = rsv_ring_supported,
    .cost = rsv_ring_cost,
    .build = rsv_ring_build,
};
