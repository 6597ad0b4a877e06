/*
 * Alltoallv, pairwise exchange (weft__move_pairwise): n - 1 rounds, one
 * partner each, blocks straight from and to their displacements; empty
 * blocks are not sent (both sides know their counts).
 */
#include "build_config.h"
#include "collectives/algos/algos.h"
#include "collectives/algos/move_common.h"

static weft_status_t
a2av_pairwise_build(weft__sched_t *s, const weft__coll_args_t *a)
{
    return weft__move_pairwise(s, a);
}

static const char *
a2av_pairwise_supported(const weft__coll_args_t *a, const weft_comm_t *comm)
{
    return NULL; /* any rank count, counts and displacements */
}

static double
a2av_pairwise_cost(const weft__coll_args_t *a, const weft__cost_t *m)
{
    double sent = 0;

    for (int i = 0; i < m->size; i++) {
        sent += (double)(a->scounts[i] * a->esize);
    }
    return weft__cost_rounds(m, m->size - 1, sent, 0);
}

const weft__algo_t weft__algo_alltoallv_pairwise = {
    .name = "pairwise",
    .coll = WEFT_COLL_ALLTOALLV,
    .supported = a2av_pairwise_supported,
    .cost = a2av_pairwise_cost,
    .build = a2av_pairwise_build,
};
