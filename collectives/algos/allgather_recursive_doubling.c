/*
 * Allgather, recursive doubling: in round k rank r swaps everything it
 * has (2^k blocks, contiguous in recvbuf) with rank r ^ 2^k. log2(n)
 * rounds: the choice for small and medium blocks on power-of-two comms.
 * Other sizes fold the ranks beyond the largest power of two onto a
 * partner (weft__move_rdouble), which costs two more rounds.
 */
#include "build_config.h"
#include "collectives/algos/algos.h"
#include "collectives/algos/move_common.h"

static weft_status_t
ag_rd_build(weft__sched_t *s, const weft__coll_args_t *a)
{
    weft_comm_t *comm = weft__sched_comm(s);
    size_t bytes = a->count * a->esize;
    weft__blocks_t b;

    if (!a->inplace && bytes > 0) {
        weft__sched_copy(s, (char *)a->recvbuf + (size_t)comm->rank * bytes,
                         a->sendbuf, bytes);
    }
    if (comm->size == 1 || bytes == 0) {
        return WEFT_OK;
    }
    if (!weft__blocks_alloc(s, &b, a->recvbuf, comm->rank, 0)) {
        return WEFT_OK; /* weft__sched_start reports it */
    }
    for (int v = 0; v < comm->size; v++) {
        b.off[v] = (size_t)v * bytes;
        b.len[v] = bytes;
    }
    weft__move_rdouble(s, &b);
    return WEFT_OK;
}

static const char *
ag_rd_supported(const weft__coll_args_t *a, const weft_comm_t *comm)
{
    return NULL; /* any rank count (folded), any count */
}

static double
ag_rd_cost(const weft__coll_args_t *a, const weft__cost_t *m)
{
    double n = m->size, bytes = (double)(a->count * a->esize);
    double rounds = weft__log2_ceil(m->size);

    if (m->pow2) {
        return weft__move_cost_far(m, rounds, (n - 1) * bytes, 0);
    }
    /* log2(p) rounds, and the folded ranks: one block in, then all but
     * theirs back out */
    return weft__move_cost_far(m, rounds - 1, (n - 1) * bytes, 0) +
           weft__cost_rounds(m, 2, n * bytes, 0);
}

const weft__algo_t weft__algo_allgather_recursive_doubling = {
    .name = "recursive_doubling",
    .coll = WEFT_COLL_ALLGATHER,
    .supported = ag_rd_supported,
    .cost = ag_rd_cost,
    .build = ag_rd_build,
};
