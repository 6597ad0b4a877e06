/*
 * Allreduce, recursive doubling: log2(p) rounds in which partners swap
 * their whole vectors and both reduce, so after round i groups of 2^i
 * ranks hold the same bits (the kernels are commutative). Fewest rounds,
 * most bytes: for small messages.
 *
 * Not a power of two: the fold (reduce_common.h). Each odd rank of the
 * first 2 * (n - p2) hands its vector to the even rank below, the p2
 * survivors double, and each even rank sends the result back up.
 */
#include "build_config.h"
#include "collectives/algos/algos.h"
#include "collectives/algos/reduce_common.h"

static void
rd_rounds(weft__sched_t *s, const weft__coll_args_t *a, const weft__fold_t *f,
          const char *cur)
{
    size_t bytes = a->count * a->esize;
    char *tmp = weft__sched_scratch(s, bytes);

    if (tmp == NULL) {
        return; /* weft__sched_start reports it */
    }
    for (int mask = 1; mask < f->p2; mask *= 2) {
        int peer = weft__fold_rank(f, f->newrank ^ mask);

        weft__sched_send(s, cur, bytes, peer);
        weft__sched_recv(s, tmp, bytes, peer);
        /* the reduction overwrites what was just sent: wait for the send */
        weft__sched_fence(s);
        weft__sched_reduce3(s, a->recvbuf, cur, tmp, a->count);
        weft__sched_fence(s);
        cur = a->recvbuf;
    }
}

static weft_status_t
rd_build(weft__sched_t *s, const weft__coll_args_t *a)
{
    weft_comm_t *comm = weft__sched_comm(s);
    const char *input = a->inplace ? a->recvbuf : a->sendbuf;
    size_t bytes = a->count * a->esize;
    weft__fold_t f;

    if (comm->size == 1 || a->count == 0) {
        if (!a->inplace && a->count > 0) {
            weft__sched_copy(s, a->recvbuf, a->sendbuf, bytes);
        }
        return WEFT_OK;
    }
    weft__fold_init(&f, comm->size, comm->rank);
    weft__fold_in(s, &f, input, a->recvbuf, a->count, a->esize);
    weft__sched_fence(s);
    if (f.newrank < 0) {
        /* folded: the result comes back from the partner */
        weft__sched_recv(s, a->recvbuf, bytes, f.partner);
        return WEFT_OK;
    }
    rd_rounds(s, a, &f, f.partner >= 0 ? a->recvbuf : input);
    if (f.partner >= 0) {
        weft__sched_send(s, a->recvbuf, bytes, f.partner);
    }
    return WEFT_OK;
}

static const char *
rd_supported(const weft__coll_args_t *a, const weft_comm_t *comm)
{
    return NULL; /* any rank count, any count */
}

static double
rd_cost(const weft__coll_args_t *a, const weft__cost_t *m)
{
    int p2 = weft__pow2_floor(m->size), fold = p2 != m->size;
    double rounds = weft__log2_ceil(p2) + 2 * fold;
    double bytes = (double)(a->count * a->esize);

    /* every round moves and reduces the whole vector; the fold adds a
     * round each way and one more reduction */
    return weft__cost_rounds(m, rounds, rounds * bytes,
                             (rounds - fold) * bytes);
}

const weft__algo_t weft__algo_allreduce_recursive_doubling = {
    .name = "recursive_doubling",
    .coll = WEFT_COLL_ALLREDUCE,
    .supported = rd_supported,
    .cost = rd_cost,
    .build = rd_build,
};
