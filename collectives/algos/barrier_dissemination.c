/*
 * Barrier, dissemination: in round k rank r sends an empty message to
 * r + 2^k and waits for one from r - 2^k. After ceil(log2 n) rounds every
 * rank has heard, directly or through others, from every rank: any n,
 * one message in and out per round.
 */
#include "build_config.h"
#include "collectives/algos/algos.h"

static weft_status_t
barrier_build(weft__sched_t *s, const weft__coll_args_t *a)
{
    weft_comm_t *comm = weft__sched_comm(s);
    int n = comm->size, r = comm->rank;

    for (int d = 1; d < n; d *= 2) {
        weft__sched_send(s, NULL, 0, (r + d) % n);
        weft__sched_recv(s, NULL, 0, (r - d + n) % n);
        /* the next round's message vouches for what this one heard */
        weft__sched_fence(s);
    }
    return WEFT_OK;
}

static const char *
barrier_supported(const weft__coll_args_t *a, const weft_comm_t *comm)
{
    return NULL; /* any rank count */
}

static double
barrier_cost(const weft__coll_args_t *a, const weft__cost_t *m)
{
    return weft__cost_rounds(m, weft__log2_ceil(m->size), 0, 0);
}

const weft__algo_t weft__algo_barrier_dissemination = {
    .name = "dissemination",
    .coll = WEFT_COLL_BARRIER,
    .supported = barrier_supported,
    .cost = barrier_cost,
    .build = barrier_build,
};
