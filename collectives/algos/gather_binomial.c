/*
 * Gather, binomial tree (ranks numbered from the root): each rank collects
 * its subtree's blocks behind its own and sends them up as one message,
 * so ceil(log2 n) rounds. Leaves send straight from sendbuf; inner ranks
 * collect in scratch (their recvbuf may be NULL); the root receives
 * straight into recvbuf, except the one subtree whose ranks wrap past
 * n - 1, which goes through scratch.
 */
#include "build_config.h"
#include "collectives/algos/algos.h"
#include "collectives/algos/move_common.h"

/* The root's receive of the subtree of virtual ranks [lo, hi). */
static void
gather_root_recv(weft__sched_t *s, const weft__coll_args_t *a, int lo, int hi)
{
    int n = weft__sched_comm(s)->size, first;
    int head = weft__move_wrap(a->root, lo, hi, n, &first);
    size_t bytes = a->count * a->esize, hb = (size_t)head * bytes;
    size_t all = (size_t)(hi - lo) * bytes;
    char *tmp, *at = weft__at(a->recvbuf, (size_t)first * a->count, a->esize);
    int rv;

    if (head == hi - lo) {
        weft__sched_recv(s, at, all, (lo + a->root) % n);
        return;
    }
    tmp = weft__sched_scratch(s, all);
    if (tmp == NULL) {
        return; /* weft__sched_start reports it */
    }
    rv = weft__sched_recv(s, tmp, all, (lo + a->root) % n);
    weft__sched_dep(s, weft__sched_copy(s, at, tmp, hb), rv);
    weft__sched_dep(s, weft__sched_copy(s, a->recvbuf, tmp + hb, all - hb), rv);
}

static weft_status_t
gather_build(weft__sched_t *s, const weft__coll_args_t *a)
{
    weft_comm_t *comm = weft__sched_comm(s);
    int n = comm->size, v = (comm->rank - a->root + n) % n;
    int span = weft__move_span(v, n), size = n - v < span ? n - v : span;
    size_t bytes = a->count * a->esize;
    char *tmp;

    if (bytes == 0) {
        return WEFT_OK;
    }
    if (v == 0) {
        if (!a->inplace) {
            weft__sched_copy(
                s, weft__at(a->recvbuf, (size_t)a->root * a->count, a->esize),
                a->sendbuf, bytes);
        }
        for (int m = 1; m < n; m *= 2) {
            gather_root_recv(s, a, m, 2 * m < n ? 2 * m : n);
        }
        return WEFT_OK;
    }
    if (size == 1) {
        weft__sched_send(s, a->sendbuf, bytes, (v - span + a->root) % n);
        return WEFT_OK;
    }
    tmp = weft__sched_scratch(s, (size_t)size * bytes);
    if (tmp == NULL) {
        return WEFT_OK; /* weft__sched_start reports it */
    }
    weft__sched_copy(s, tmp, a->sendbuf, bytes);
    for (int m = 1; m < size; m *= 2) {
        int hi = 2 * m < size ? 2 * m : size;

        weft__sched_recv(s, tmp + (size_t)m * bytes, (size_t)(hi - m) * bytes,
                         (v + m + a->root) % n);
    }
    weft__sched_fence(s); /* the whole subtree is in */
    weft__sched_send(s, tmp, (size_t)size * bytes, (v - span + a->root) % n);
    return WEFT_OK;
}

static const char *
gather_supported(const weft__coll_args_t *a, const weft_comm_t *comm)
{
    return NULL; /* any rank count, any root */
}

static double
gather_cost(const weft__coll_args_t *a, const weft__cost_t *m)
{
    double n = m->size;

    return weft__move_cost_far(m, weft__log2_ceil(m->size),
                               (n - 1) * (double)(a->count * a->esize), 0);
}

const weft__algo_t weft__algo_gather_binomial = {
    .name = "binomial",
    .coll = WEFT_COLL_GATHER,
    .supported = gather_supported,
    .cost = gather_cost,
    .build = gather_build,
};
