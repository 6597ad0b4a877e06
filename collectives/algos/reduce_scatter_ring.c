/*
 * Reduce-scatter, pipelined ring: n-1 steps around the ring, each passing
 * one block's partial sum to the right, cut into chunks of about
 * WEFT_COLL_CHUNK that move as soon as their data is ready, so reductions
 * overlap the transfers of the next chunks (reduce_common.h). Block r ends
 * at rank r, reduced once. Bandwidth-optimal, (n-1)/n of the input in and
 * out of every rank, but n-1 rounds: for large messages. Any rank count.
 */
#include "build_config.h"
#include "collectives/algos/algos.h"
#include "collectives/algos/reduce_common.h"
#include "context.h"

static weft_status_t
rs_ring_build(weft__sched_t *s, const weft__coll_args_t *a)
{
    weft_comm_t *comm = weft__sched_comm(s);
    int n = comm->size;
    size_t *off;
    weft__rs_ring_t g = {.input = a->inplace ? a->recvbuf : a->sendbuf,
                         .out = a->recvbuf,
                         .esize = a->esize,
                         .chunk = comm->ctx->cfg.coll.chunk};

    if (n == 1 || a->count == 0) {
        if (!a->inplace && a->count > 0) {
            weft__sched_copy(s, a->recvbuf, a->sendbuf, a->count * a->esize);
        }
        return WEFT_OK;
    }
    off = weft__sched_scratch(s, 2 * (size_t)n * sizeof(*off));
    if (off == NULL) {
        return WEFT_OK; /* weft__sched_start reports it */
    }
    for (int b = 0; b < n; b++) {
        off[b] = (size_t)b * a->count;
        off[n + b] = a->count;
    }
    g.off = off;
    g.len = off + n;
    /* in place the result goes to the start, which is block 0 of the
     * input: only rank 0's own block is exactly there */
    g.staged = a->inplace && comm->rank != 0;
    weft__rs_ring_build(s, &g);
    return WEFT_OK;
}

static const char *
rs_ring_supported(const weft__coll_args_t *a, const weft_comm_t *comm)
{
    return NULL; /* any rank count, any count */
}

static double
rs_ring_cost(const weft__coll_args_t *a, const weft__cost_t *m)
{
    double n = m->size, bytes = (double)(a->count * a->esize) * n;
    double pieces = bytes / n / (double)m->chunk;

    return weft__cost_rounds(m, (n - 1) + (pieces > 1 ? pieces - 1 : 0),
                             (n - 1) / n * bytes, (n - 1) / n * bytes);
}

const weft__algo_t weft__algo_reduce_scatter_ring = {
    .name = "ring",
    .coll = WEFT_COLL_REDUCE_SCATTER,
    .supported = rs_ring_supported,
    .cost = rs_ring_cost,
    .build = rs_ring_build,
};
