/*
 * Allgather, node-aware: each node gathers its ranks' blocks (shared
 * memory), the leaders exchange whole nodes' blocks (allgatherv over the
 * network: one message per node pair and round, not one per rank pair),
 * each leader hands the lot to its node, and every rank puts the blocks
 * in comm-rank order.
 */
#include "build_config.h"
#include "collectives/algos/hier_common.h"

#include "comm.h"

static weft_status_t
allgather_hier_build(weft__sched_t *s, const weft__coll_args_t *a)
{
    weft_comm_t *comm = weft__sched_comm(s);
    int k = comm->nnodes, me = comm->rank;
    size_t blk = a->count * a->esize;
    size_t *counts, *displs, *at;
    weft__hier_t *h;
    weft__coll_args_t *p;
    char *nodebuf, *all;

    if (a->count == 0) {
        return WEFT_OK;
    }
    h = weft__hier_plan(s);
    counts = weft__sched_scratch(s, 2 * (size_t)k * sizeof(size_t));
    at = weft__sched_scratch(s, (size_t)comm->size * sizeof(size_t));
    all = weft__sched_scratch(s, blk * (size_t)comm->size);
    nodebuf = weft__sched_scratch(s, blk * (size_t)comm->node->size);
    if (h == NULL || counts == NULL || at == NULL || all == NULL ||
        nodebuf == NULL) {
        return WEFT_OK; /* reported when the schedule starts */
    }
    displs = counts + k;
    for (int i = 0; i < k; i++) {
        counts[i] = 0;
    }
    for (int r = 0; r < comm->size; r++) {
        int node, local;

        weft__hier_locate(comm, r, &node, &local);
        counts[node] += a->count;
        at[r] = (size_t)local * a->count; /* within its node, for now */
    }
    displs[0] = 0;
    for (int i = 1; i < k; i++) {
        displs[i] = displs[i - 1] + counts[i - 1];
    }
    p = weft__hier_phase(h, comm->node, WEFT_COLL_ALLGATHER, a->dtype);
    p->sendbuf = a->inplace ? (const char *)a->recvbuf + (size_t)me * blk
                            : a->sendbuf;
    p->recvbuf = nodebuf;
    p->count = a->count;
    p = weft__hier_phase(h, comm->leaders, WEFT_COLL_ALLGATHERV, a->dtype);
    p->sendbuf = nodebuf;
    p->count = (size_t)comm->node->size * a->count;
    p->recvbuf = all;
    p->rcounts = counts;
    p->rdispls = displs;
    p = weft__hier_phase(h, comm->node, WEFT_COLL_BROADCAST, a->dtype);
    p->sendbuf = p->recvbuf = all;
    p->count = a->count * (size_t)comm->size;
    weft__hier_start(s, h);
    weft__sched_fence(s);
    for (int r = 0; r < comm->size; r++) {
        int node, local;

        weft__hier_locate(comm, r, &node, &local);
        weft__sched_copy(s, weft__at(a->recvbuf, (size_t)r * a->count,
                                     a->esize),
                         weft__cat(all, displs[node] + at[r], a->esize), blk);
    }
    return WEFT_OK;
}

static const char *
allgather_hier_supported(const weft__coll_args_t *a, const weft_comm_t *comm)
{
    return weft__hier_supported(comm);
}

static double
allgather_hier_cost(const weft__coll_args_t *a, const weft__cost_t *m)
{
    double n = (double)(a->count * a->esize) * m->size, k = m->hier_nodes;

    return weft__hier_cost(m, k - 1, n * (k - 1) / k, 3 * n, 0);
}

const weft__algo_t weft__algo_allgather_hier = {
    .name = "hier",
    .coll = WEFT_COLL_ALLGATHER,
    .supported = allgather_hier_supported,
    .cost = allgather_hier_cost,
    .build = allgather_hier_build,
};
