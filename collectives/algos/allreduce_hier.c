/*
 * Allreduce, node-aware: an allreduce inside each node (shared memory),
 * one between the nodes' leaders (the network: each node sends its
 * vector once, not each rank), and a broadcast from each leader to its
 * node. Every rank ends with the leaders' result: the same bits.
 * Large vectors go in segments, pipelined: while the leaders exchange one
 * segment, the node reduces the next and broadcasts the one before, so
 * the network (the slow part) is kept busy and the node parts hide behind
 * it. The node comm sees the segments' calls in one order on every rank:
 * node allreduce of s + 2 before the broadcast of s.
 */
#include "build_config.h"
#include "collectives/algos/hier_common.h"

#include <math.h>

#include "comm.h"

/* Segments: at least HIER_SEG_MIN bytes each, at most HIER_SEG_MAX of
 * them (16 MiB: 32 of 512 KiB; the leaders' halves of 256 KiB still go
 * eagerly over tcp, which measured about 2% faster on a rate-limited
 * link than 16 segments of 1 MiB). */
#define HIER_SEG_MIN (256 * 1024)
#define HIER_SEG_MAX 32

static void
allreduce_hier_phases(weft__hier_t *h, const weft__coll_args_t *a,
                      weft_comm_t *sub, weft__coll_t coll, int seg, int nseg)
{
    const weft_comm_t *comm = h->parent;
    size_t off, len, es = a->esize;
    weft__coll_args_t *p;

    weft__block(a->count, nseg, seg, &off, &len);
    weft__hier_segment(h, seg);
    p = weft__hier_phase(h, sub, coll, a->dtype);
    p->recvbuf = (char *)a->recvbuf + off * es;
    p->sendbuf = p->recvbuf;
    if (sub == comm->node && coll == WEFT_COLL_ALLREDUCE && !a->inplace) {
        p->sendbuf = (const char *)a->sendbuf + off * es;
    }
    p->count = len;
    if (coll == WEFT_COLL_ALLREDUCE) {
        p->op = a->op;
    }
}

static weft_status_t
allreduce_hier_build(weft__sched_t *s, const weft__coll_args_t *a)
{
    weft_comm_t *comm = weft__sched_comm(s);
    size_t bytes = a->count * a->esize;
    int nseg = (int)(bytes / HIER_SEG_MIN);
    weft__hier_t *h;

    if (a->count == 0) {
        return WEFT_OK;
    }
    nseg = nseg < 1 ? 1 : nseg > HIER_SEG_MAX ? HIER_SEG_MAX : nseg;
    nseg = (size_t)nseg > a->count ? (int)a->count : nseg;
    h = weft__hier_plan_n(s, 3 * nseg);
    if (h == NULL) {
        return WEFT_OK; /* weft__sched_start reports it */
    }
    h->one_at_a_time = nseg > 1 ? weft__hier_one_large(comm) : NULL;
    /* in order: node allreduce of t, leaders' allreduce of t - 1, node
     * broadcast of t - 2 (each waits for its segment's phase before) */
    for (int t = 0; t < nseg + 2; t++) {
        if (t < nseg) {
            allreduce_hier_phases(h, a, comm->node, WEFT_COLL_ALLREDUCE, t,
                                  nseg);
        }
        if (t >= 1 && t - 1 < nseg) {
            allreduce_hier_phases(h, a, comm->leaders, WEFT_COLL_ALLREDUCE,
                                  t - 1, nseg);
        }
        if (t >= 2) {
            allreduce_hier_phases(h, a, comm->node, WEFT_COLL_BROADCAST, t - 2,
                                  nseg);
        }
    }
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
