/*
 * Broadcast, pipelined chain: root -> root+1 -> ... -> root-1, the buffer
 * cut into pieces of WEFT_COLL_CHUNK bytes; each piece is passed on as
 * soon as it has arrived, so after the pipeline fills every link is busy.
 * n - 2 + pieces steps of one piece each: the choice for large buffers.
 */
#include "build_config.h"
#include "collectives/algos/algos.h"
#include "context.h"

/* Elements per piece: the chunk size, at least one element. */
static size_t
chain_piece(const weft_comm_t *comm, size_t esize)
{
    size_t elems = comm->ctx->cfg.coll.chunk / esize;

    return elems > 0 ? elems : 1;
}

static weft_status_t
chain_build(weft__sched_t *s, const weft__coll_args_t *a)
{
    weft_comm_t *comm = weft__sched_comm(s);
    int n = comm->size, v = (comm->rank - a->root + n) % n;
    int prev = (comm->rank - 1 + n) % n, next = (comm->rank + 1) % n;
    size_t piece = chain_piece(comm, a->esize);

    if (n == 1) {
        return WEFT_OK;
    }
    /* every receive is posted at once (the pieces are disjoint); a send
     * waits for its own piece only */
    for (size_t off = 0; off < a->count; off += piece) {
        size_t len = a->count - off < piece ? a->count - off : piece;
        char *p = weft__at(a->recvbuf, off, a->esize);
        int got = -1;

        if (v > 0) {
            got = weft__sched_recv(s, p, len * a->esize, prev);
        }
        if (v < n - 1) {
            weft__sched_dep(s, weft__sched_send(s, p, len * a->esize, next),
                            got);
        }
    }
    return WEFT_OK;
}

static const char *
chain_supported(const weft__coll_args_t *a, const weft_comm_t *comm)
{
    return NULL; /* any rank count, any root */
}

static double
chain_cost(const weft__coll_args_t *a, const weft__cost_t *m)
{
    double bytes = (double)(a->count * a->esize), chunk = (double)m->chunk;
    double pieces = bytes > chunk ? bytes / chunk : 1;
    double steps = m->size - 2 + pieces;

    return weft__cost_rounds(m, steps, steps * bytes / pieces, 0);
}

const weft__algo_t weft__algo_broadcast_chain = {
    .name = "chain",
    .coll = WEFT_COLL_BROADCAST,
    .supported = chain_supported,
    .cost = chain_cost,
    .build = chain_build,
};
