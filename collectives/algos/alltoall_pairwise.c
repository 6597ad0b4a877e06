/*
 * Alltoall, pairwise exchange: n - 1 rounds; in round k rank r trades
 * blocks with r ^ k (n a power of two) or sends to r + k and receives
 * from r - k. One partner at a time keeps the links free of contention:
 * the choice for large blocks. In place, each received block goes
 * through a scratch block (see weft__move_pairwise).
 */
#include "build_config.h"
#include "collectives/algos/algos.h"
#include "collectives/algos/move_common.h"

static weft_status_t
a2a_pairwise_build(weft__sched_t *s, const weft__coll_args_t *a)
{
    int n = weft__sched_comm(s)->size;
    weft__coll_args_t v = *a;
    size_t *counts = weft__sched_scratch(s, 2 * (size_t)n * sizeof(size_t));

    if (counts == NULL) {
        return WEFT_OK; /* weft__sched_start reports it */
    }
    /* the alltoallv of equal blocks in rank order */
    for (int i = 0; i < n; i++) {
        counts[i] = a->count;
        counts[n + i] = (size_t)i * a->count;
    }
    v.scounts = v.rcounts = counts;
    v.sdispls = v.rdispls = counts + n;
    return weft__move_pairwise(s, &v);
}

static const char *
a2a_pairwise_supported(const weft__coll_args_t *a, const weft_comm_t *comm)
{
    return NULL; /* any rank count, any count */
}

static double
a2a_pairwise_cost(const weft__coll_args_t *a, const weft__cost_t *m)
{
    double n = m->size;

    return weft__cost_rounds(m, n - 1, (n - 1) * (double)(a->count * a->esize),
                             0);
}

const weft__algo_t weft__algo_alltoall_pairwise = {
    .name = "pairwise",
    .coll = WEFT_COLL_ALLTOALL,
    .supported = a2a_pairwise_supported,
    .cost = a2a_pairwise_cost,
    .build = a2a_pairwise_build,
};
