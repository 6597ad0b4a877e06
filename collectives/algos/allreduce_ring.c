/*
 * Allreduce, pipelined ring: a reduce-scatter around the ring (n-1 steps)
 * then an allgather (n-1 steps). Each rank's block is cut into chunks of
 * about WEFT_COLL_CHUNK, and every chunk moves as soon as its own data is
 * ready, so reductions overlap the transfers of the next chunks.
 * Bandwidth-optimal: 2(n-1)/n of the buffer in and out of every rank.
 */
#include "build_config.h"
#include "collectives/algos/algos.h"
#include "context.h"

typedef struct ring {
    weft__sched_t *s;
    const weft__coll_args_t *a;
    int n, r;
    size_t chunk_elems, nchunks;
    char *tmp[2];
    int *rs_send, *rs_red, *ag_recv; /* step ids: [k * nchunks + c] */
    int *tmp_reader[2];              /* [c]: last reduce that read tmp */
} ring_t;

/* Chunk c of block b: element offset and length (0 when past its end). */
static void
ring_piece(const ring_t *g, int b, size_t c, size_t *off_p, size_t *len_p)
{
    size_t boff, blen, start = c * g->chunk_elems;

    weft__block(g->a->count, g->n, b, &boff, &blen);
    *off_p = boff + start;
    *len_p = start >= blen ? 0
             : blen - start < g->chunk_elems ? blen - start
                                             : g->chunk_elems;
}

static void
ring_reduce_scatter(ring_t *g)
{
    const weft__coll_args_t *a = g->a;
    size_t es = a->esize;
    int left = (g->r + g->n - 1) % g->n, right = (g->r + 1) % g->n;
    const char *input = a->inplace ? a->recvbuf : a->sendbuf;

    for (int k = 0; k < g->n - 1; k++) {
        int sb = (g->r - k + g->n) % g->n, rb = (g->r - k - 1 + g->n) % g->n;

        for (size_t c = 0; c < g->nchunks; c++) {
            size_t i = (size_t)k * g->nchunks + c, off, len;
            char *tmp = g->tmp[k % 2] + c * g->chunk_elems * es;
            int rv;

            ring_piece(g, sb, c, &off, &len);
            if (len > 0) {
                g->rs_send[i] = weft__sched_send(
                    g->s, k == 0 ? input + off * es
                                 : weft__at(a->recvbuf, off, es),
                    len * es, right);
                if (k > 0) {
                    weft__sched_dep(g->s, g->rs_send[i],
                                    g->rs_red[i - g->nchunks]);
                }
            }
            ring_piece(g, rb, c, &off, &len);
            if (len == 0) {
                continue;
            }
            rv = weft__sched_recv(g->s, tmp, len * es, left);
            /* the piece of tmp must have been read by the last reduce that
             * used it (some steps before may have had empty pieces) */
            weft__sched_dep(g->s, rv, g->tmp_reader[k % 2][c]);
            g->rs_red[i] = weft__sched_reduce3(
                g->s, weft__at(a->recvbuf, off, es), tmp, input + off * es,
                len);
            weft__sched_dep(g->s, g->rs_red[i], rv);
            g->tmp_reader[k % 2][c] = g->rs_red[i];
        }
    }
}

static void
ring_allgather(ring_t *g)
{
    const weft__coll_args_t *a = g->a;
    size_t es = a->esize, last = (size_t)(g->n - 2) * g->nchunks;
    int left = (g->r + g->n - 1) % g->n, right = (g->r + 1) % g->n;

    for (int k = 0; k < g->n - 1; k++) {
        int sb = (g->r + 1 - k + g->n) % g->n, rb = (g->r - k + g->n) % g->n;

        for (size_t c = 0; c < g->nchunks; c++) {
            size_t i = (size_t)k * g->nchunks + c, off, len;
            int sv;

            ring_piece(g, sb, c, &off, &len);
            if (len > 0) {
                sv = weft__sched_send(g->s, weft__at(a->recvbuf, off, es),
                                      len * es, right);
                weft__sched_dep(g->s, sv,
                                k == 0 ? g->rs_red[last + c]
                                       : g->ag_recv[i - g->nchunks]);
            }
            ring_piece(g, rb, c, &off, &len);
            if (len > 0) {
                g->ag_recv[i] = weft__sched_recv(
                    g->s, weft__at(a->recvbuf, off, es), len * es, left);
                /* in place, the reduce-scatter still reads this block */
                weft__sched_dep(g->s, g->ag_recv[i], g->rs_send[i]);
            }
        }
    }
}

static weft_status_t
ring_build(weft__sched_t *s, const weft__coll_args_t *a)
{
    weft_comm_t *comm = weft__sched_comm(s);
    ring_t g = {.s = s, .a = a, .n = comm->size, .r = comm->rank};
    size_t boff, bmax, steps;
    int *ids;

    if (g.n == 1 || a->count == 0) {
        if (!a->inplace && a->count > 0) {
            weft__sched_copy(s, a->recvbuf, a->sendbuf, a->count * a->esize);
        }
        return WEFT_OK;
    }
    weft__block(a->count, g.n, 0, &boff, &bmax); /* block 0 is the largest */
    g.chunk_elems = comm->ctx->cfg.coll.chunk / a->esize;
    g.chunk_elems = g.chunk_elems > 0 ? g.chunk_elems : 1;
    g.chunk_elems = g.chunk_elems < bmax ? g.chunk_elems : bmax;
    g.nchunks = (bmax + g.chunk_elems - 1) / g.chunk_elems;
    steps = (size_t)(g.n - 1) * g.nchunks;
    g.tmp[0] = weft__sched_scratch(s, 2 * g.nchunks * g.chunk_elems *
                                          a->esize);
    ids = weft__sched_scratch(s, (3 * steps + 2 * g.nchunks) * sizeof(int));
    if (g.tmp[0] == NULL || ids == NULL) {
        return WEFT_OK; /* weft__sched_start reports it */
    }
    g.tmp[1] = g.tmp[0] + g.nchunks * g.chunk_elems * a->esize;
    for (size_t i = 0; i < 3 * steps + 2 * g.nchunks; i++) {
        ids[i] = -1;
    }
    g.rs_send = ids;
    g.rs_red = ids + steps;
    g.ag_recv = ids + 2 * steps;
    g.tmp_reader[0] = ids + 3 * steps;
    g.tmp_reader[1] = g.tmp_reader[0] + g.nchunks;
    ring_reduce_scatter(&g);
    ring_allgather(&g);
    return WEFT_OK;
}

static const char *
ring_supported(const weft__coll_args_t *a, const weft_comm_t *comm)
{
    return NULL; /* any rank count, any count */
}

static double
ring_cost(const weft__coll_args_t *a, const weft__cost_t *m)
{
    double n = m->size, bytes = (double)(a->count * a->esize);
    double pieces = bytes / n / (double)m->chunk;

    return weft__cost_rounds(m, 2 * (n - 1) + (pieces > 1 ? pieces - 1 : 0),
                             2 * (n - 1) / n * bytes, (n - 1) / n * bytes);
}

const weft__algo_t weft__algo_allreduce_ring = {
    .name = "ring",
    .coll = WEFT_COLL_ALLREDUCE,
    .supported = ring_supported,
    .cost = ring_cost,
    .build = ring_build,
};
