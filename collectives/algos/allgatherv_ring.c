/*
 * Allgatherv, ring: as the allgather ring, with every block where its
 * displacement puts it. Blocks are received straight into recvbuf, so
 * gaps between them are never written and empty blocks never sent.
 */
#include "build_config.h"
#include "collectives/algos/algos.h"
#include "collectives/algos/move_common.h"

static weft_status_t
agv_ring_build(weft__sched_t *s, const weft__coll_args_t *a)
{
    weft_comm_t *comm = weft__sched_comm(s);
    int r = comm->rank, own = -1;
    weft__blocks_t b;

    if (!a->inplace && a->count > 0) {
        own = weft__sched_copy(s, weft__at(a->recvbuf, a->rdispls[r], a->esize),
                               a->sendbuf, a->count * a->esize);
    }
    if (comm->size == 1) {
        return WEFT_OK;
    }
    if (!weft__blocks_alloc(s, &b, a->recvbuf, r, 0)) {
        return WEFT_OK; /* weft__sched_start reports it */
    }
    for (int v = 0; v < comm->size; v++) {
        b.off[v] = a->rdispls[v] * a->esize;
        b.len[v] = a->rcounts[v] * a->esize;
    }
    weft__move_ring(s, &b, own);
    return WEFT_OK;
}

static const char *
agv_ring_supported(const weft__coll_args_t *a, const weft_comm_t *comm)
{
    return NULL; /* any rank count, counts and displacements */
}

static double
agv_ring_cost(const weft__coll_args_t *a, const weft__cost_t *m)
{
    double n = m->size, total = 0;

    for (int v = 0; v < m->size; v++) {
        total += (double)(a->rcounts[v] * a->esize);
    }
    return weft__cost_rounds(m, n - 1, (n - 1) / n * total, 0);
}

const weft__algo_t weft__algo_allgatherv_ring = {
    .name = "ring",
    .coll = WEFT_COLL_ALLGATHERV,
    .supported = agv_ring_supported,
    .cost = agv_ring_cost,
    .build = agv_ring_build,
};
