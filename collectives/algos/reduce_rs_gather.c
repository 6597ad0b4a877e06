/*
 * Reduce, reduce-scatter then gather: a pipelined ring reduce-scatter
 * (reduce_common.h) leaves block r of n, fully reduced, at rank r; every
 * rank then sends its block straight to the root. Each rank moves about
 * twice (n-1)/n of the vector and the root reduces only its own block, so
 * this is for large messages, where the binomial tree's log2(n) whole
 * vectors into the root cost more. Any rank count.
 */
#include "build_config.h"
#include "collectives/algos/algos.h"
#include "collectives/algos/reduce_common.h"
#include "context.h"

/* The root's own block goes straight into recvbuf: in place it is the
 * same region of the input, which only the last ring step reads (chunk by
 * chunk, exactly where it writes). */
static weft_status_t
rsg_build(weft__sched_t *s, const weft__coll_args_t *a)
{
    weft_comm_t *comm = weft__sched_comm(s);
    int n = comm->size, r = comm->rank, root = r == a->root;
    size_t es = a->esize, *off, *len;
    weft__rs_ring_t g = {.input = a->inplace ? a->recvbuf : a->sendbuf,
                         .esize = es,
                         .chunk = comm->ctx->cfg.coll.chunk};
    const void *mine;

    if (n == 1 || a->count == 0) {
        if (!a->inplace && a->count > 0) {
            weft__sched_copy(s, a->recvbuf, a->sendbuf, a->count * es);
        }
        return WEFT_OK;
    }
    off = weft__sched_scratch(s, 2 * (size_t)n * sizeof(*off));
    if (off == NULL) {
        return WEFT_OK; /* weft__sched_start reports it */
    }
    len = off + n;
    for (int b = 0; b < n; b++) {
        weft__block(a->count, n, b, &off[b], &len[b]);
    }
    g.off = off;
    g.len = len;
    g.out = root ? weft__at(a->recvbuf, off[r], es) : NULL;
    mine = weft__rs_ring_build(s, &g);
    /* the gather overwrites input blocks the ring reads, in place */
    weft__sched_fence(s);
    if (!root) {
        if (len[r] > 0 && mine != NULL) {
            weft__sched_send(s, mine, len[r] * es, a->root);
        }
        return WEFT_OK;
    }
    for (int b = 0; b < n; b++) {
        if (b != r && len[b] > 0) {
            weft__sched_recv(s, weft__at(a->recvbuf, off[b], es), len[b] * es,
                             b);
        }
    }
    return WEFT_OK;
}

static const char *
rsg_supported(const weft__coll_args_t *a, const weft_comm_t *comm)
{
    return NULL; /* any rank count, any root, any count */
}

static double
rsg_cost(const weft__coll_args_t *a, const weft__cost_t *m)
{
    double n = m->size, bytes = (double)(a->count * a->esize);
    double pieces = bytes / n / (double)m->chunk;

    /* n-1 ring steps (plus the pipeline's extra pieces), then n-1 blocks
     * into the root */
    return weft__cost_rounds(m, 2 * (n - 1) + (pieces > 1 ? pieces - 1 : 0),
                             2 * (n - 1) / n * bytes, (n - 1) / n * bytes);
}

const weft__algo_t weft__algo_reduce_rs_gather = {
    .name = "reduce_scatter_gather",
    .coll = WEFT_COLL_REDUCE,
    .supported = rsg_supported,
    .cost = rsg_cost,
    .build = rsg_build,
};
