/*
 * Allreduce, Rabenseifner: a reduce-scatter by recursive halving (each
 * round swaps half of what is left with the partner and reduces the half
 * kept) and an allgather by recursive doubling that retraces it. Survivor
 * i ends the first phase owning block i of p2, reduced once, so every rank
 * gets the same bits. 2 log2(p) rounds and about twice the vector moved:
 * for medium messages.
 *
 * Not a power of two: the fold (reduce_common.h) around the p2 survivors;
 * each odd rank of the first 2 * (n - p2) gets the result from its even
 * partner at the end.
 */
#include "build_config.h"
#include "collectives/algos/algos.h"
#include "collectives/algos/reduce_common.h"

/* Recursive doubling over the blocks: the window of blocks the rank holds
 * doubles each round. A send waits for every receive that filled its
 * window (receives need not finish in order); receives land where the
 * halving only read, which the caller fences. */
static void
rab_allgather(weft__sched_t *s, const weft__coll_args_t *a,
              const weft__fold_t *f, const size_t *bounds)
{
    size_t es = a->esize;
    int nr = f->newrank, rv[32], nrv = 0;

    for (int mask = 1; mask < f->p2; mask *= 2) {
        int peer = weft__fold_rank(f, nr ^ mask);
        int mine = nr & ~(mask - 1), theirs = (nr ^ mask) & ~(mask - 1);
        size_t mo = bounds[mine], mn = bounds[mine + mask] - mo;
        size_t to = bounds[theirs], tn = bounds[theirs + mask] - to;

        if (mn > 0) {
            int sv = weft__sched_send(s, weft__at(a->recvbuf, mo, es), mn * es,
                                      peer);

            for (int i = 0; i < nrv; i++) {
                weft__sched_dep(s, sv, rv[i]);
            }
        }
        if (tn > 0) {
            rv[nrv++] = weft__sched_recv(s, weft__at(a->recvbuf, to, es),
                                         tn * es, peer);
        }
    }
}

static weft_status_t
rab_build(weft__sched_t *s, const weft__coll_args_t *a)
{
    weft_comm_t *comm = weft__sched_comm(s);
    const char *input = a->inplace ? a->recvbuf : a->sendbuf;
    size_t bytes = a->count * a->esize, *bounds, len;
    weft__fold_t f;
    weft__halving_t h;

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
        weft__sched_recv(s, a->recvbuf, bytes, f.partner);
        return WEFT_OK;
    }
    bounds = weft__sched_scratch(s, (size_t)(f.p2 + 1) * sizeof(*bounds));
    if (bounds == NULL) {
        return WEFT_OK; /* weft__sched_start reports it */
    }
    for (int i = 0; i <= f.p2; i++) {
        weft__block(a->count, f.p2, i, &bounds[i], &len);
    }
    h = (weft__halving_t){.f = &f,
                          .bounds = bounds,
                          .esize = a->esize,
                          .src = f.partner >= 0 ? a->recvbuf : input,
                          .acc = a->recvbuf};
    weft__halving_build(s, &h);
    /* the allgather writes what the halving's sends read */
    weft__sched_fence(s);
    rab_allgather(s, a, &f, bounds);
    weft__sched_fence(s);
    if (f.partner >= 0) {
        weft__sched_send(s, a->recvbuf, bytes, f.partner);
    }
    return WEFT_OK;
}

static const char *
rab_supported(const weft__coll_args_t *a, const weft_comm_t *comm)
{
    return NULL; /* any rank count, any count */
}

static double
rab_cost(const weft__coll_args_t *a, const weft__cost_t *m)
{
    int p2 = weft__pow2_floor(m->size), fold = p2 != m->size;
    double bytes = (double)(a->count * a->esize);
    double part = (double)(p2 - 1) / p2 * bytes;

    /* Halving and doubling move `part` each; the fold moves the vector
     * both ways and reduces it once more. Against the ring (the same bytes
     * in 2(n-1) rounds) it wins on a power of two at every size measured
     * on one node over tcp (2 and 4 ranks, 16 KiB to 64 MiB); with a fold
     * the two extra transfers of the vector hand large sizes to the ring. */
    return weft__cost_rounds(m, 2 * weft__log2_ceil(p2) + 2 * fold,
                             2 * part + 2 * fold * bytes,
                             part + fold * bytes);
}

const weft__algo_t weft__algo_allreduce_rabenseifner = {
    .name = "rabenseifner",
    .coll = WEFT_COLL_ALLREDUCE,
    .supported = rab_supported,
    .cost = rab_cost,
    .build = rab_build,
};
