/*
 * Allgather, ring: n - 1 steps; in step k every rank passes the block it
 * received in step k - 1 (its own first) to its right neighbour. Only
 * neighbours talk and each block crosses each link once: the choice for
 * large blocks.
 */
#include "build_config.h"
#include "collectives/algos/algos.h"
#include "collectives/algos/move_common.h"

static weft_status_t
ag_ring_build(weft__sched_t *s, const weft__coll_args_t *a)
{
    weft_comm_t *comm = weft__sched_comm(s);
    size_t bytes = a->count * a->esize;
    int own = -1;
    weft__blocks_t b;

    if (!a->inplace && bytes > 0) {
        own =
            weft__sched_copy(s, (char *)a->recvbuf + (size_t)comm->rank * bytes,
                             a->sendbuf, bytes);
    }
    if (comm->size == 1 || bytes == 0) {
        return WEFT_OK;
    }
    if (!weft__blocks_alloc(s, &b, a->recvbuf, comm->rank, 0)) {
        return WEFT_OK; /* weft__sched_start reports it */
    }
    for (int v = 0; v < comm->size; v++) {
        b.off[v] = (size_t)v * bytes;
        b.len[v] = bytes;
    }
    weft__move_ring(s, &b, own);
    return WEFT_OK;
}

static const char *
ag_ring_supported(const weft__coll_args_t *a, const weft_comm_t *comm)
{
    return NULL; /* any rank count, any count */
}

static double
ag_ring_cost(const weft__coll_args_t *a, const weft__cost_t *m)
{
    double n = m->size;

    return weft__cost_rounds(m, n - 1, (n - 1) * (double)(a->count * a->esize),
                             0);
}

const weft__algo_t weft__algo_allgather_ring = {
    .name = "ring",
    .coll = WEFT_COLL_ALLGATHER,
    .supported = ag_ring_supported,
    .cost = ag_ring_cost,
    .build = ag_ring_build,
};
