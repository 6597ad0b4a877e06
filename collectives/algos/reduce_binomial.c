/*
 * Reduce, binomial tree on ranks relative to the root (v = rank - root mod
 * n): rank v receives from v + 1, v + 2, v + 4, ... (while below n and
 * below v's lowest set bit), reduces each into its partial sum, then sends
 * that to v minus its lowest set bit. ceil(log2 n) rounds of the whole
 * vector: for small messages. Any rank count; the result is computed once,
 * at the root.
 */
#include "build_config.h"
#include "collectives/algos/algos.h"

/* The subtree's partial sum goes to the root's recvbuf, or to scratch
 * elsewhere (recvbuf may be NULL off the root). Children are received into
 * two alternating buffers, so the next child's data can arrive while the
 * last one is being reduced. Returns where the partial sum is. */
static const char *
binomial_children(weft__sched_t *s, const weft__coll_args_t *a, int vr,
                  int *red_p)
{
    weft_comm_t *comm = weft__sched_comm(s);
    int n = comm->size, red[2] = {-1, -1}, k = 0;
    size_t bytes = a->count * a->esize;
    const char *cur = a->inplace ? a->recvbuf : a->sendbuf;
    char *acc = vr == 0 ? a->recvbuf : NULL, *tmp[2] = {NULL, NULL};

    for (int mask = 1; mask < n && !(vr & mask); mask *= 2) {
        int child = (vr + mask + a->root) % n, rv;

        if (vr + mask >= n) {
            break;
        }
        if (tmp[k % 2] == NULL) {
            tmp[k % 2] = weft__sched_scratch(s, bytes);
        }
        if (acc == NULL) {
            acc = weft__sched_scratch(s, bytes);
        }
        if (tmp[k % 2] == NULL || acc == NULL) {
            return cur; /* weft__sched_start reports it */
        }
        rv = weft__sched_recv(s, tmp[k % 2], bytes, child);
        weft__sched_dep(s, rv, red[k % 2]); /* tmp was read two back */
        red[k % 2] = weft__sched_reduce3(s, acc, cur, tmp[k % 2], a->count);
        weft__sched_dep(s, red[k % 2], rv);
        weft__sched_dep(s, red[k % 2], red[(k + 1) % 2]);
        cur = acc;
        k++;
    }
    *red_p = k > 0 ? red[(k - 1) % 2] : -1;
    return cur;
}

static weft_status_t
binomial_build(weft__sched_t *s, const weft__coll_args_t *a)
{
    weft_comm_t *comm = weft__sched_comm(s);
    int n = comm->size, vr = (comm->rank - a->root + n) % n, red = -1, parent;
    size_t bytes = a->count * a->esize;
    const char *sum;

    if (a->count == 0) {
        return WEFT_OK;
    }
    sum = binomial_children(s, a, vr, &red);
    if (vr == 0) {
        if (sum != a->recvbuf) { /* one rank, not in place */
            weft__sched_copy(s, a->recvbuf, sum, bytes);
        }
        return WEFT_OK;
    }
    parent = (vr - (vr & -vr) + a->root) % n; /* v minus its lowest bit */
    weft__sched_dep(s, weft__sched_send(s, sum, bytes, parent), red);
    return WEFT_OK;
}

static const char *
binomial_supported(const weft__coll_args_t *a, const weft_comm_t *comm)
{
    return NULL; /* any rank count, any root, any count */
}

static double
binomial_cost(const weft__coll_args_t *a, const weft__cost_t *m)
{
    double rounds = weft__log2_ceil(m->size);
    double bytes = (double)(a->count * a->esize);

    /* the root receives and reduces the whole vector once per round */
    return weft__cost_rounds(m, rounds, rounds * bytes, rounds * bytes);
}

const weft__algo_t weft__algo_reduce_binomial = {
    .name = "binomial",
    .coll = WEFT_COLL_REDUCE,
    .supported = binomial_supported,
    .cost = binomial_cost,
    .build = binomial_build,
};
