/*
 * Allgatherv, recursive doubling (weft__move_rdouble, any n). Its rounds
 * move runs of consecutive blocks as one message, so the blocks must lie
 * back to back in rank order: when the displacements say otherwise, the
 * exchange runs in a packed scratch copy and each block is copied out to
 * its displacement at the end (gaps are never written either way).
 */
#include "build_config.h"
#include "collectives/algos/algos.h"
#include "collectives/algos/move_common.h"

/* Packed offsets into b; 1 when they are recvbuf's own displacements. */
static int
agv_rd_layout(const weft__coll_args_t *a, weft__blocks_t *b, size_t *total_p)
{
    size_t off = 0;
    int packed = 1;

    for (int v = 0; v < b->n; v++) {
        b->off[v] = off * a->esize;
        b->len[v] = a->rcounts[v] * a->esize;
        packed = packed && (a->rcounts[v] == 0 || a->rdispls[v] == off);
        off += a->rcounts[v];
    }
    *total_p = off;
    return packed;
}

/* Every other rank's block from the packed copy to its displacement. */
static void
agv_rd_unpack(weft__sched_t *s, const weft__coll_args_t *a,
              const weft__blocks_t *b)
{
    weft__sched_fence(s);
    for (int v = 0; v < b->n; v++) {
        if (v != b->me && b->len[v] > 0) {
            weft__sched_copy(s, weft__at(a->recvbuf, a->rdispls[v], a->esize),
                             b->buf + b->off[v], b->len[v]);
        }
    }
}

static weft_status_t
agv_rd_build(weft__sched_t *s, const weft__coll_args_t *a)
{
    weft_comm_t *comm = weft__sched_comm(s);
    int r = comm->rank, packed;
    char *own = weft__at(a->recvbuf, a->rdispls[r], a->esize);
    size_t total, bytes = a->count * a->esize;
    weft__blocks_t b;

    if (!a->inplace && bytes > 0) {
        weft__sched_copy(s, own, a->sendbuf, bytes);
    }
    if (comm->size == 1) {
        return WEFT_OK;
    }
    if (!weft__blocks_alloc(s, &b, a->recvbuf, r, 0)) {
        return WEFT_OK; /* weft__sched_start reports it */
    }
    packed = agv_rd_layout(a, &b, &total);
    if (total == 0) {
        return WEFT_OK;
    }
    if (!packed) {
        b.buf = weft__sched_scratch(s, total * a->esize);
        if (b.buf == NULL) {
            return WEFT_OK; /* weft__sched_start reports it */
        }
        if (bytes > 0) {
            weft__sched_copy(s, b.buf + b.off[r], a->inplace ? own : a->sendbuf,
                             bytes);
        }
    }
    weft__move_rdouble(s, &b);
    if (!packed) {
        agv_rd_unpack(s, a, &b);
    }
    return WEFT_OK;
}

static const char *
agv_rd_supported(const weft__coll_args_t *a, const weft_comm_t *comm)
{
    return NULL; /* any rank count (folded), counts and displacements */
}

static double
agv_rd_cost(const weft__coll_args_t *a, const weft__cost_t *m)
{
    double n = m->size, rounds = weft__log2_ceil(m->size), total, copied;
    size_t off = 0;
    int packed = 1;

    for (int v = 0; v < m->size; v++) {
        packed = packed && (a->rcounts[v] == 0 || a->rdispls[v] == off);
        off += a->rcounts[v];
    }
    total = (double)(off * a->esize);
    copied = packed ? 0 : total; /* into scratch and back out */
    if (m->pow2) {
        return weft__move_cost_far(m, rounds, (n - 1) / n * total, copied);
    }
    return weft__move_cost_far(m, rounds - 1, (n - 1) / n * total, copied) +
           weft__cost_rounds(m, 2, total, 0);
}

const weft__algo_t weft__algo_allgatherv_recursive_doubling = {
    .name = "recursive_doubling",
    .coll = WEFT_COLL_ALLGATHERV,
    .supported = agv_rd_supported,
    .cost = agv_rd_cost,
    .build = agv_rd_build,
};
