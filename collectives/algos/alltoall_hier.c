/*
 * Alltoall, node-aware: each node's leader gathers its ranks' send
 * buffers (shared memory), regroups the blocks by destination node, the
 * leaders exchange one message per node pair (alltoallv over the
 * network: the same bytes as the flat exchange, in K - 1 messages per
 * leader instead of P - 1 per rank), regroup what they got by
 * destination rank, and scatter it to their nodes.
 */
#include "build_config.h"
#include "collectives/algos/hier_common.h"

#include <stdlib.h>

#include "comm.h"

typedef struct a2a_map {
    int *node, *local; /* [P] of each comm rank */
    int **member;      /* [K][L_k]: comm rank of local j of node k */
    int *nlocal;       /* [K] */
} a2a_map_t;

static int
a2a_map(weft__sched_t *s, weft_comm_t *comm, a2a_map_t *m)
{
    int p = comm->size, k = comm->nnodes;

    m->node = weft__sched_scratch(s, (size_t)p * sizeof(int));
    m->local = weft__sched_scratch(s, (size_t)p * sizeof(int));
    m->nlocal = weft__sched_scratch(s, (size_t)k * sizeof(int));
    m->member = weft__sched_scratch(s, (size_t)k * sizeof(int *));
    if (m->node == NULL || m->local == NULL || m->nlocal == NULL ||
        m->member == NULL) {
        return -1;
    }
    for (int i = 0; i < k; i++) {
        m->nlocal[i] = 0;
    }
    for (int r = 0; r < p; r++) {
        weft__hier_locate(comm, r, &m->node[r], &m->local[r]);
        m->nlocal[m->node[r]]++;
    }
    for (int i = 0; i < k; i++) {
        m->member[i] =
            weft__sched_scratch(s, (size_t)m->nlocal[i] * sizeof(int));
        if (m->member[i] == NULL) {
            return -1;
        }
    }
    for (int r = 0; r < p; r++) {
        m->member[m->node[r]][m->local[r]] = r;
    }
    return 0;
}

static weft_status_t
alltoall_hier_build(weft__sched_t *s, const weft__coll_args_t *a)
{
    weft_comm_t *comm = weft__sched_comm(s);
    int p = comm->size, k = comm->nnodes, me = comm->node_index;
    int lead = comm->leaders != NULL, l;
    size_t blk = a->count * a->esize, c = a->count;
    size_t *counts = NULL, *displs = NULL;
    char *g = NULL, *x = NULL;
    weft__hier_t *ha, *hb, *hc;
    weft__coll_args_t *q;
    a2a_map_t m;

    if (a->count == 0 || a2a_map(s, comm, &m) != 0) {
        return WEFT_OK; /* out of memory: reported at start */
    }
    l = m.nlocal[me];
    if (lead) {
        g = weft__sched_scratch(s, (size_t)l * p * blk);
        x = weft__sched_scratch(s, (size_t)l * p * blk);
        counts = weft__sched_scratch(s, 2 * (size_t)k * sizeof(size_t));
        if (g == NULL || x == NULL || counts == NULL) {
            return WEFT_OK;
        }
        displs = counts + k;
        for (int n = 0; n < k; n++) {
            counts[n] = (size_t)l * m.nlocal[n] * c;
            displs[n] = n == 0 ? 0 : displs[n - 1] + counts[n - 1];
        }
    }
    ha = weft__hier_plan(s);
    hb = weft__hier_plan(s);
    hc = weft__hier_plan(s);
    if (ha == NULL || hb == NULL || hc == NULL) {
        return WEFT_OK;
    }
    /* A: the leader gets every local rank's send buffer: g[j][r] */
    q = weft__hier_phase(ha, comm->node, WEFT_COLL_GATHER, a->dtype);
    q->sendbuf = a->inplace ? a->recvbuf : a->sendbuf;
    q->recvbuf = g;
    q->count = (size_t)p * c;
    weft__hier_start(s, ha);
    weft__sched_fence(s);
    /* regroup by destination node: x = [node n][local j][local t of n] */
    for (int n = 0; lead && n < k; n++) {
        for (int j = 0; j < l; j++) {
            for (int t = 0; t < m.nlocal[n]; t++) {
                size_t at = displs[n] + ((size_t)j * m.nlocal[n] + t) * c;

                weft__sched_copy(
                    s, weft__at(x, at, a->esize),
                    weft__cat(g, (size_t)j * p * c + (size_t)m.member[n][t] * c,
                              a->esize),
                    blk);
            }
        }
    }
    weft__sched_fence(s);
    /* B: one message per node pair; from node n: [local jj of n][local t] */
    q = weft__hier_phase(hb, comm->leaders, WEFT_COLL_ALLTOALLV, a->dtype);
    q->sendbuf = x;
    q->scounts = counts;
    q->sdispls = displs;
    q->recvbuf = g;
    q->rcounts = counts;
    q->rdispls = displs;
    weft__hier_start(s, hb);
    weft__sched_fence(s);
    /* regroup by destination rank: x = [local t][source comm rank] */
    for (int n = 0; lead && n < k; n++) {
        for (int jj = 0; jj < m.nlocal[n]; jj++) {
            for (int t = 0; t < l; t++) {
                size_t from = displs[n] + ((size_t)jj * l + t) * c;

                weft__sched_copy(
                    s,
                    weft__at(x, (size_t)t * p * c + (size_t)m.member[n][jj] * c,
                             a->esize),
                    weft__cat(g, from, a->esize), blk);
            }
        }
    }
    weft__sched_fence(s);
    /* C: each local rank gets its row */
    q = weft__hier_phase(hc, comm->node, WEFT_COLL_SCATTER, a->dtype);
    q->sendbuf = x;
    q->recvbuf = a->recvbuf;
    q->count = (size_t)p * c;
    weft__hier_start(s, hc);
    return WEFT_OK;
}

static const char *
alltoall_hier_supported(const weft__coll_args_t *a, const weft_comm_t *comm)
{
    return weft__hier_supported(comm);
}

static double
alltoall_hier_cost(const weft__coll_args_t *a, const weft__cost_t *m)
{
    double n = (double)(a->count * a->esize) * m->size, k = m->hier_nodes;
    double per_node = (double)m->size / k;

    /* the leader carries its node's share: per_node times a rank's */
    return weft__hier_cost(m, k - 1, per_node * n * (k - 1) / k,
                           4 * per_node * n, 0);
}

const weft__algo_t weft__algo_alltoall_hier = {
    .name = "hier",
    .coll = WEFT_COLL_ALLTOALL,
    .supported = alltoall_hier_supported,
    .cost = alltoall_hier_cost,
    .build = alltoall_hier_build,
};
