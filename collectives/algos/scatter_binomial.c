/*
 * Scatter, binomial tree (ranks numbered from the root): the root sends
 * each child its subtree's blocks as one message, largest first, and
 * inner ranks pass the parts on, so ceil(log2 n) rounds. The root sends
 * straight from sendbuf, except the one subtree whose ranks wrap past
 * n - 1, packed in scratch; inner ranks receive in scratch, leaves
 * straight into recvbuf.
 */
#include "build_config.h"
#include "collectives/algos/algos.h"
#include "collectives/algos/move_common.h"

/* The root's send of the subtree of virtual ranks [lo, hi). */
static void
scatter_root_send(weft__sched_t *s, const weft__coll_args_t *a, int lo, int hi)
{
    int n = weft__sched_comm(s)->size, first;
    int head = weft__move_wrap(a->root, lo, hi, n, &first);
    size_t bytes = a->count * a->esize, hb = (size_t)head * bytes;
    size_t all = (size_t)(hi - lo) * bytes;
    const char *at = weft__cat(a->sendbuf, (size_t)first * a->count, a->esize);
    char *tmp;
    int sv;

    if (head == hi - lo) {
        weft__sched_send(s, at, all, (lo + a->root) % n);
        return;
    }
    tmp = weft__sched_scratch(s, all);
    if (tmp == NULL) {
        return; /* weft__sched_start reports it */
    }
    sv = weft__sched_send(s, tmp, all, (lo + a->root) % n);
    weft__sched_dep(s, sv, weft__sched_copy(s, tmp, at, hb));
    weft__sched_dep(s, sv, weft__sched_copy(s, tmp + hb, a->sendbuf, all - hb));
}

static void
scatter_root(weft__sched_t *s, const weft__coll_args_t *a, int n)
{
    size_t bytes = a->count * a->esize;

    if (!a->inplace) {
        weft__sched_copy(
            s, a->recvbuf,
            weft__cat(a->sendbuf, (size_t)a->root * a->count, a->esize), bytes);
    }
    for (int m = weft__move_span(0, n) / 2; m > 0; m /= 2) {
        scatter_root_send(s, a, m, 2 * m < n ? 2 * m : n);
    }
}

static weft_status_t
scatter_build(weft__sched_t *s, const weft__coll_args_t *a)
{
    weft_comm_t *comm = weft__sched_comm(s);
    int n = comm->size, v = (comm->rank - a->root + n) % n;
    int span = weft__move_span(v, n), size = n - v < span ? n - v : span;
    int parent = (v - span + a->root) % n, got;
    size_t bytes = a->count * a->esize;
    char *tmp;

    if (bytes == 0) {
        return WEFT_OK;
    }
    if (v == 0) {
        scatter_root(s, a, n);
        return WEFT_OK;
    }
    if (size == 1) {
        weft__sched_recv(s, a->recvbuf, bytes, parent);
        return WEFT_OK;
    }
    tmp = weft__sched_scratch(s, (size_t)size * bytes);
    if (tmp == NULL) {
        return WEFT_OK; /* weft__sched_start reports it */
    }
    got = weft__sched_recv(s, tmp, (size_t)size * bytes, parent);
    weft__sched_dep(s, weft__sched_copy(s, a->recvbuf, tmp, bytes), got);
    for (int m = span / 2; m > 0; m /= 2) {
        int hi = 2 * m < size ? 2 * m : size;

        if (m < size) {
            weft__sched_dep(s,
                            weft__sched_send(s, tmp + (size_t)m * bytes,
                                             (size_t)(hi - m) * bytes,
                                             (v + m + a->root) % n),
                            got);
        }
    }
    return WEFT_OK;
}

static const char *
scatter_supported(const weft__coll_args_t *a, const weft_comm_t *comm)
{
    return NULL; /* any rank count, any root */
}

static double
scatter_cost(const weft__coll_args_t *a, const weft__cost_t *m)
{
    double n = m->size;

    return weft__move_cost_far(m, weft__log2_ceil(m->size),
                               (n - 1) * (double)(a->count * a->esize), 0);
}

const weft__algo_t weft__algo_scatter_binomial = {
    .name = "binomial",
    .coll = WEFT_COLL_SCATTER,
    .supported = scatter_supported,
    .cost = scatter_cost,
    .build = scatter_build,
};
