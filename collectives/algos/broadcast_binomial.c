/*
 * Broadcast, binomial tree: ranks numbered from the root; each receives
 * the whole buffer once from its parent and passes it on to its children,
 * largest subtree first. ceil(log2 n) rounds: the choice for small
 * buffers, where the message count is what costs.
 */
#include "build_config.h"
#include "collectives/algos/algos.h"
#include "collectives/algos/move_common.h"

static weft_status_t
bcast_binomial_build(weft__sched_t *s, const weft__coll_args_t *a)
{
    weft_comm_t *comm = weft__sched_comm(s);
    int n = comm->size, v = (comm->rank - a->root + n) % n;
    int span = weft__move_span(v, n), got = -1;
    size_t bytes = a->count * a->esize;

    if (bytes == 0) {
        return WEFT_OK;
    }
    if (v > 0) {
        got = weft__sched_recv(s, a->recvbuf, bytes, (v - span + a->root) % n);
    }
    for (int m = span / 2; m > 0; m /= 2) {
        if (v + m < n) {
            int sv =
                weft__sched_send(s, a->recvbuf, bytes, (v + m + a->root) % n);

            weft__sched_dep(s, sv, got);
        }
    }
    return WEFT_OK;
}

static const char *
bcast_binomial_supported(const weft__coll_args_t *a, const weft_comm_t *comm)
{
    return NULL; /* any rank count, any root */
}

static double
bcast_binomial_cost(const weft__coll_args_t *a, const weft__cost_t *m)
{
    double rounds = weft__log2_ceil(m->size);

    return weft__move_cost_far(m, rounds,
                               rounds * (double)(a->count * a->esize), 0);
}

const weft__algo_t weft__algo_broadcast_binomial = {
    .name = "binomial",
    .coll = WEFT_COLL_BROADCAST,
    .supported = bcast_binomial_supported,
    .cost = bcast_binomial_cost,
    .build = bcast_binomial_build,
};
