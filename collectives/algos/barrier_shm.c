/*
 * Barrier, node-local (shared memory; protocol in collectives/shm_area.h):
 * every rank announces it has arrived and waits until all have.
 */
#include "build_config.h"
#include "collectives/algos/shm_common.h"

#include "comm.h"
#include "context.h"

static int
barrier_shm_poll(void *state, char *why, size_t why_len)
{
    int rc;
    weft__shmc_t *c = state;

    if (!weft__shmc_turn(c)) {
        return 0;
    }
    if (c->phase == 0) {
        weft__shm_area_arrive(c->ar, c->d, c->desc, NULL, NULL, NULL);
        c->phase = 1;
    }
    if ((rc = weft__shmc_arrived(c, c->d)) <= 0) {
        return weft__shmc_result(c, rc, why, why_len);
    }
    weft__shmc_finish(c);
    return 1;
}

static const weft__sched_poll_ops_t barrier_shm_ops = {
    .poll = barrier_shm_poll,
    .describe = weft__shmc_describe,
};

static weft_status_t
barrier_shm_build(weft__sched_t *s, const weft__coll_args_t *a)
{
    weft__shmc_build(s, a, sizeof(weft__shmc_t), &barrier_shm_ops, 0);
    return WEFT_OK;
}

static const char *
barrier_shm_supported(const weft__coll_args_t *a, const weft_comm_t *comm)
{
    return weft__shmc_supported(comm, 0, 0);
}

static double
barrier_shm_cost(const weft__coll_args_t *a, const weft__cost_t *m)
{
    return weft__shmc_cost(m, 1, 0, 0);
}

static weft_status_t
barrier_shm_run(const weft__coll_args_t *a, weft_comm_t *comm)
{
    if (comm->shm == NULL) {
        return WEFT_INPROGRESS;
    }
    return weft__shmc_run(a, comm, &barrier_shm_ops, sizeof(weft__shmc_t), 0);
}

const weft__algo_t weft__algo_barrier_shm = {
    .name = "shm",
    .coll = WEFT_COLL_BARRIER,
    .supported = barrier_shm_supported,
    .cost = barrier_shm_cost,
    .build = barrier_shm_build,
    .run = barrier_shm_run,
};
