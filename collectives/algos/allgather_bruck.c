/*
 * Allgather, Bruck: in scratch, slot i holds the block of rank r + i. In
 * round k (distance d = 2^k) rank r sends its first min(d, n - d) slots to
 * r - d and appends as many from r + d, so ceil(log2 n) rounds suffice for
 * any n; a final rotation puts the slots in rank order. The choice for
 * small blocks when n is not a power of two.
 */
#include "build_config.h"
#include "collectives/algos/algos.h"
#include "collectives/algos/move_common.h"

static void
ag_bruck_rounds(weft__sched_t *s, char *tmp, size_t bytes, int n, int r)
{
    for (int d = 1; d < n; d *= 2) {
        size_t m = (size_t)(d < n - d ? d : n - d);

        /* the slots sent were filled by the rounds before; the ones
         * received lie after them */
        weft__sched_send(s, tmp, m * bytes, (r - d + n) % n);
        weft__sched_recv(s, tmp + (size_t)d * bytes, m * bytes, (r + d) % n);
        weft__sched_fence(s);
    }
}

static weft_status_t
ag_bruck_build(weft__sched_t *s, const weft__coll_args_t *a)
{
    weft_comm_t *comm = weft__sched_comm(s);
    int n = comm->size, r = comm->rank;
    size_t bytes = a->count * a->esize, rb = (size_t)r * bytes;
    char *out = a->recvbuf, *tmp;

    if (!a->inplace && bytes > 0) {
        weft__sched_copy(s, out + rb, a->sendbuf, bytes);
    }
    if (n == 1 || bytes == 0) {
        return WEFT_OK;
    }
    tmp = weft__sched_scratch(s, (size_t)n * bytes);
    if (tmp == NULL) {
        return WEFT_OK; /* weft__sched_start reports it */
    }
    weft__sched_copy(s, tmp, a->inplace ? out + rb : a->sendbuf, bytes);
    weft__sched_fence(s);
    ag_bruck_rounds(s, tmp, bytes, n, r);
    /* slot i is rank (r + i) % n: slots 1.. n-r-1 go after our block,
     * the rest wrap to the front */
    weft__sched_copy(s, out + rb + bytes, tmp + bytes,
                     (size_t)(n - r - 1) * bytes);
    weft__sched_copy(s, out, tmp + (size_t)(n - r) * bytes, rb);
    return WEFT_OK;
}

static const char *
ag_bruck_supported(const weft__coll_args_t *a, const weft_comm_t *comm)
{
    return NULL; /* any rank count, any count */
}

static double
ag_bruck_cost(const weft__coll_args_t *a, const weft__cost_t *m)
{
    double n = m->size, bytes = (double)(a->count * a->esize);

    /* plus the copies into scratch and back out in rank order */
    return weft__move_cost_far(m, weft__log2_ceil(m->size), (n - 1) * bytes,
                               (n + 1) * bytes);
}

const weft__algo_t weft__algo_allgather_bruck = {
    .name = "bruck",
    .coll = WEFT_COLL_ALLGATHER,
    .supported = ag_bruck_supported,
    .cost = ag_bruck_cost,
    .build = ag_bruck_build,
};
