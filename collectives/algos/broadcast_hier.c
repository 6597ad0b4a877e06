/*
 * Broadcast, node-aware: the root's node first (inside it, shared
 * memory), then the leaders (one copy per node over the network), then
 * the other nodes from their leaders.
 */
#include "build_config.h"
#include "collectives/algos/hier_common.h"

#include <math.h>

#include "comm.h"

static weft_status_t
broadcast_hier_build(weft__sched_t *s, const weft__coll_args_t *a)
{
    weft_comm_t *comm = weft__sched_comm(s);
    weft__hier_t *h = weft__hier_plan(s);
    weft__coll_args_t *p;
    int rnode, rlocal, home;

    if (h == NULL || a->count == 0) {
        return WEFT_OK;
    }
    weft__hier_locate(comm, a->root, &rnode, &rlocal);
    home = comm->node_index == rnode;
    p = weft__hier_phase(h, home ? comm->node : NULL, WEFT_COLL_BROADCAST,
                         a->dtype);
    p->sendbuf = p->recvbuf = a->recvbuf;
    p->count = a->count;
    p->root = rlocal;
    p = weft__hier_phase(h, comm->leaders, WEFT_COLL_BROADCAST, a->dtype);
    p->sendbuf = p->recvbuf = a->recvbuf;
    p->count = a->count;
    p->root = rnode; /* leaders are ranked in node order */
    p = weft__hier_phase(h, home ? NULL : comm->node, WEFT_COLL_BROADCAST,
                         a->dtype);
    p->sendbuf = p->recvbuf = a->recvbuf;
    p->count = a->count;
    weft__hier_start(s, h);
    return WEFT_OK;
}

static const char *
broadcast_hier_supported(const weft__coll_args_t *a, const weft_comm_t *comm)
{
    return weft__hier_supported(comm);
}

static double
broadcast_hier_cost(const weft__coll_args_t *a, const weft__cost_t *m)
{
    double n = (double)(a->count * a->esize), k = m->hier_nodes;

    return weft__hier_cost(m, ceil(log2(k > 1 ? k : 2)), n, 2 * n, 0);
}

const weft__algo_t weft__algo_broadcast_hier = {
    .name = "hier",
    .coll = WEFT_COLL_BROADCAST,
    .supported = broadcast_hier_supported,
    .cost = broadcast_hier_cost,
    .build = broadcast_hier_build,
};
