/*
 * Allreduce, node-aware: an allreduce inside each node (shared memory),
 * one between the nodes' leaders (the network: each node sends its
 * vector once, not each rank), and a broadcast from each leader to its
 * node. Every rank ends with the leaders' result: the same bits.
 */
#include "build_config.h"
#include "collectives/algos/hier_common.h"

#include <math.h>

#include "comm.h"

static weft_status_t
allreduce_hier_build(weft__sched_t *s, const weft__coll_args_t *a)
{
    weft_comm_t *comm = weft__sched_comm(s);
    weft__hier_t *h = weft__hier_plan(s);
    weft__coll_args_t *p;

    if (h == NULL || a->count == 0) {
        return WEFT_OK;
    }
    p = weft__hier_phase(h, comm->node, WEFT_COLL_ALLREDUCE, a->dtype);
    p->sendbuf = a->inplace ? a->recvbuf : a->sendbuf;
    p->recvbuf = a->recvbuf;
    p->count = a->count;
    p->op = a->op;
    p = weft__hier_phase(h, comm->leaders, WEFT_COLL_ALLREDUCE, a->dtype);
    p->sendbuf = p->recvbuf = a->recvbuf;
    p->count = a->count;
    p->op = a->op;
    p = weft__hier_phase(h, comm->node, WEFT_COLL_BROADCAST, a->dtype);
    p->sendbuf = p->recvbuf = a->recvbuf;
    p->count = a->count;
    weft__hier_start(s, h);
    return WEFT_OK;
}

static const char *
allreduce_hier_supported(const weft__coll_args_t *a, const weft_comm_t *comm)
{
    return weft__hier_supported(comm);
}

static double
allreduce_hier_cost(const weft__coll_args_t *a, const weft__cost_t *m)
{
    double n = (double)(a->count * a->esize), k = m->hier_nodes;

    /* the leaders halve and double (or ring): 2 log2 k rounds */
    return weft__hier_cost(m, 2 * ceil(log2(k > 1 ? k : 2)),
                           2 * n * (k - 1) / k, 3 * n, 2 * n);
}

const weft__algo_t weft__algo_allreduce_hier = {
    .name = "hier",
    .coll = WEFT_COLL_ALLREDUCE,
    .supported = allreduce_hier_supported,
    .cost = allreduce_hier_cost,
    .build = allreduce_hier_build,
};
