/*
 * Broadcast, van de Geijn: the root's buffer is cut into n blocks
 * (weft__block, in rank order counted from the root), scattered down a
 * binomial tree, then allgathered: by recursive doubling when n is a power
 * of two, else around a ring. Each rank moves about 2(n-1)/n of the
 * buffer instead of log2(n) times it: the choice for medium buffers.
 */
#include "build_config.h"
#include "collectives/algos/algos.h"
#include "collectives/algos/move_common.h"

/* Blocks [lo, hi) (clipped to n) as one message, unless empty. */
static int
bcast_sa_move(weft__sched_t *s, const weft__blocks_t *b, int lo, int hi,
              int peer, int send)
{
    size_t len;

    hi = hi < b->n ? hi : b->n;
    len = b->off[hi - 1] + b->len[hi - 1] - b->off[lo];
    if (len == 0) {
        return -1;
    }
    peer = (peer + b->shift) % b->n;
    return send ? weft__sched_send(s, b->buf + b->off[lo], len, peer)
                : weft__sched_recv(s, b->buf + b->off[lo], len, peer);
}

/* Binomial scatter: v receives its subtree's blocks, then hands each
 * child the child's subtree. */
static void
bcast_sa_scatter(weft__sched_t *s, const weft__blocks_t *b)
{
    int v = b->me, n = b->n, span = weft__move_span(v, n), got = -1;

    if (v > 0) {
        got = bcast_sa_move(s, b, v, v + span, v - span, 0);
    }
    for (int m = span / 2; m > 0; m /= 2) {
        if (v + m < n) {
            weft__sched_dep(s, bcast_sa_move(s, b, v + m, v + 2 * m, v + m, 1),
                            got);
        }
    }
}

static weft_status_t
bcast_sa_build(weft__sched_t *s, const weft__coll_args_t *a)
{
    weft_comm_t *comm = weft__sched_comm(s);
    int n = comm->size;
    weft__blocks_t b;

    if (n == 1 || a->count == 0) {
        return WEFT_OK;
    }
    if (!weft__blocks_alloc(s, &b, a->recvbuf, (comm->rank - a->root + n) % n,
                            a->root)) {
        return WEFT_OK; /* weft__sched_start reports it */
    }
    for (int v = 0; v < n; v++) {
        weft__block(a->count, n, v, &b.off[v], &b.len[v]);
        b.off[v] *= a->esize;
        b.len[v] *= a->esize;
    }
    bcast_sa_scatter(s, &b);
    /* the allgather rewrites blocks a rank may still be sending down the
     * tree (with the same bytes, but not while a send reads them) */
    weft__sched_fence(s);
    if ((n & (n - 1)) == 0) {
        weft__move_rdouble(s, &b);
    } else {
        weft__move_ring(s, &b, -1);
    }
    return WEFT_OK;
}

static const char *
bcast_sa_supported(const weft__coll_args_t *a, const weft_comm_t *comm)
{
    return NULL; /* any rank count and root; count < n leaves blocks empty */
}

static double
bcast_sa_cost(const weft__coll_args_t *a, const weft__cost_t *m)
{
    double n = m->size, bytes = (double)(a->count * a->esize);
    double scatter = weft__log2_ceil(m->size);
    double moved = (n - 1) / n * bytes;

    if (m->pow2) {
        return weft__move_cost_far(m, 2 * scatter, 2 * moved, 0);
    }
    /* the ring's partners are neighbours */
    return weft__move_cost_far(m, scatter, moved, 0) +
           weft__cost_rounds(m, n - 1, moved, 0);
}

const weft__algo_t weft__algo_broadcast_scatter_allgather = {
    .name = "scatter_allgather",
    .coll = WEFT_COLL_BROADCAST,
    .supported = bcast_sa_supported,
    .cost = bcast_sa_cost,
    .build = bcast_sa_build,
};
