/*
 * Reduce-scatter, recursive halving: log2(p) rounds, each swapping half of
 * what is left with the partner and reducing the half kept, until each
 * rank holds its own block reduced. (p-1)/p of the input moved in log2(p)
 * rounds: for small and medium messages.
 *
 * Not a power of two: the fold (reduce_common.h). Each odd rank of the
 * first 2 * (n - p2) hands its whole input to the even rank below; that
 * survivor stands for both ranks (their blocks are adjacent), and at the
 * end sends the odd rank its block.
 */
#include "build_config.h"
#include "collectives/algos/algos.h"
#include "collectives/algos/reduce_common.h"

/* Where the partial sums live: in place the caller's buffer (the input is
 * the library's until the call completes); otherwise scratch, all of the
 * input for an even rank of the fold (it reduces the partner's input in
 * whole), else just what the first round keeps. */
static void
rh_acc(weft__sched_t *s, const weft__coll_args_t *a, weft__halving_t *h,
       size_t total)
{
    size_t lo = 0, hi = total;

    if (a->inplace) {
        h->acc = a->recvbuf;
        h->acc_off = 0;
        return;
    }
    if (h->f->partner < 0) {
        weft__halving_first(h, &lo, &hi);
    }
    h->acc = weft__sched_scratch(s, (hi - lo) * a->esize);
    h->acc_off = lo;
}

static weft_status_t
rh_build(weft__sched_t *s, const weft__coll_args_t *a)
{
    weft_comm_t *comm = weft__sched_comm(s);
    int n = comm->size, r = comm->rank;
    size_t es = a->esize, total = a->count * (size_t)n, *bounds;
    const char *input = a->inplace ? a->recvbuf : a->sendbuf;
    weft__fold_t f;
    weft__halving_t h = {.f = &f, .esize = es, .src = input};

    if (n == 1 || a->count == 0) {
        if (!a->inplace && a->count > 0) {
            weft__sched_copy(s, a->recvbuf, a->sendbuf, a->count * es);
        }
        return WEFT_OK;
    }
    weft__fold_init(&f, n, r);
    if (f.newrank < 0) {
        weft__fold_in(s, &f, input, NULL, total, es);
        /* in place the block lands where the input was being sent from */
        weft__sched_fence(s);
        weft__sched_recv(s, a->recvbuf, a->count * es, f.partner);
        return WEFT_OK;
    }
    bounds = weft__sched_scratch(s, (size_t)(f.p2 + 1) * sizeof(*bounds));
    if (bounds == NULL) {
        return WEFT_OK; /* weft__sched_start reports it */
    }
    for (int i = 0; i <= f.p2; i++) {
        bounds[i] = (size_t)weft__fold_rank(&f, i) * a->count;
    }
    h.bounds = bounds;
    rh_acc(s, a, &h, total);
    if (h.acc == NULL) {
        return WEFT_OK;
    }
    weft__fold_in(s, &f, input, h.acc, total, es);
    weft__sched_fence(s);
    h.src = f.partner >= 0 ? h.acc : input;
    weft__halving_build(s, &h);
    /* in place, the result's home is input the halving may still send */
    weft__sched_fence(s);
    weft__sched_copy(s, a->recvbuf, h.acc + (r * a->count - h.acc_off) * es,
                     a->count * es);
    if (f.partner >= 0) {
        weft__sched_send(s, h.acc + (f.partner * a->count - h.acc_off) * es,
                         a->count * es, f.partner);
    }
    return WEFT_OK;
}

static const char *
rh_supported(const weft__coll_args_t *a, const weft_comm_t *comm)
{
    return NULL; /* any rank count, any count */
}

static double
rh_cost(const weft__coll_args_t *a, const weft__cost_t *m)
{
    int p2 = weft__pow2_floor(m->size), fold = p2 != m->size;
    double bytes = (double)(a->count * a->esize) * m->size;
    double part = (double)(p2 - 1) / p2 * bytes;

    /* The fold moves the whole input down and one block back up. Each
     * round's reduction must finish before the next round sends, so it
     * sits on the critical path, where the pipelined ring hides its own
     * (its model does not credit that): hence the second gamma term. */
    return weft__cost_rounds(m, weft__log2_ceil(p2) + 2 * fold,
                             part + fold * (bytes + bytes / m->size),
                             2 * part + fold * bytes);
}

const weft__algo_t weft__algo_reduce_scatter_recursive_halving = {
    .name = "recursive_halving",
    .coll = WEFT_COLL_REDUCE_SCATTER,
    .supported = rh_supported,
    .cost = rh_cost,
    .build = rh_build,
};
