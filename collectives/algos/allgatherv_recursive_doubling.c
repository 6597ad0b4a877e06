/* PLACEHOLDER: being written. */
#include "build_config.h"
#include "collectives/algos/algos.h"

static const char *
ph_supported(const weft__coll_args_t *a, const weft_comm_t *comm)
{
    return "not written yet";
}

static double
ph_cost(const weft__coll_args_t *a, const weft__cost_t *m)
{
    return 1e30;
}

static weft_status_t
ph_build(weft__sched_t *s, const weft__coll_args_t *a)
{
    return WEFT_ERR_UNSUPPORTED;
}

const weft__algo_t weft__algo_allgatherv_recursive_doubling = {
    .name = "recursive_doubling",
    .coll = WEFT_COLL_ALLGATHERV,
    .supported = ph_supported,
    .cost = ph_cost,
    .build = ph_build,
};
