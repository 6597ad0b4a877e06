/*
 * Reduce-scatter, node-local (shared memory; protocol in
 * collectives/shm_area.h). Input that fits: every rank copies its whole
 * input into its shared buffer; once all are announced, each reduces its
 * own block from every buffer, in rank order. Larger: each rank reduces
 * its block piece by piece, reading the peers' inputs straight from their
 * memory (process_vm_readv) into a piece of scratch. In place the result
 * is built in scratch and copied to the front of the buffer once every
 * peer has read this rank's input.
 */
#include "build_config.h"
#include "collectives/algos/shm_common.h"

#include <string.h>

#include "collectives/reduce_ops.h"
#include "comm.h"
#include "context.h"

enum { RS_ENTER, RS_REDUCE, RS_DONE };

typedef struct rs_state {
    weft__shmc_t c;
    void *acc; /* in place: the result until the peers are done */
} rs_state_t;

static const void *
rs_input(const weft__coll_args_t *a)
{
    return a->inplace ? a->recvbuf : a->sendbuf;
}

static int
rs_small(weft__shmc_t *c)
{
    int rc;
    weft__shm_area_t *ar = c->ar;
    size_t blk = c->a.count * c->a.esize;

    if (c->phase == RS_ENTER) {
        weft__shmc_publish(c, rs_input(&c->a), blk * (size_t)ar->size);
        c->phase = RS_REDUCE;
    }
    if ((rc = weft__shmc_arrived(c, c->d)) <= 0) {
        return rc;
    }
    weft__shmc_reduce_bufs(c, c->a.recvbuf, (size_t)ar->rank * blk,
                           c->a.count);
    weft__shmc_finish(c);
    return 1;
}

static int
rs_large(rs_state_t *s, char *why, size_t why_len)
{
    int rc;
    weft__shmc_t *c = &s->c;
    weft__shm_area_t *ar = c->ar;
    const weft__coll_args_t *a = &c->a;
    size_t base = (size_t)ar->rank * a->count;
    char *acc = a->inplace ? s->acc : a->recvbuf;

    switch (c->phase) {
    case RS_ENTER:
        weft__shm_area_arrive(ar, c->d, c->desc, rs_input(a), NULL, NULL);
        c->phase = RS_REDUCE;
        /* fall through */
    case RS_REDUCE:
        if ((rc = weft__shmc_arrived(c, c->d)) <= 0) {
            return rc;
        }
        for (size_t off = 0; off < a->count; off += c->chunk) {
            size_t len = a->count - off < c->chunk ? a->count - off : c->chunk;
            const char *mine =
                (const char *)rs_input(a) + (base + off) * a->esize;
            int first = 1;

            for (int r = 0; r < ar->size; r++) {
                weft_status_t st;

                if (r == ar->rank) {
                    continue;
                }
                st = weft__shm_area_read(
                    ar, r, c->tmp,
                    weft__shm_area_head(ar, r, c->d)->u.at.sbuf +
                        (base + off) * a->esize,
                    len * a->esize, why, why_len);
                if (st != WEFT_OK) {
                    return st;
                }
                if (first) {
                    weft__reduce3(a->dtype, a->op, acc + off * a->esize, mine,
                                  c->tmp, len);
                    first = 0;
                } else {
                    weft__reduce(a->dtype, a->op, acc + off * a->esize, c->tmp,
                                 len);
                }
            }
        }
        weft__shm_area_done(ar, c->d);
        c->phase = RS_DONE;
        /* fall through */
    default:
        if (!weft__shmc_all_done(c)) {
            return 0;
        }
        if (a->inplace) {
            memcpy(a->recvbuf, s->acc, a->count * a->esize);
        }
        weft__shmc_finish(c);
        return 1;
    }
}

/* Shared-buffer bytes a call needs (a rank's input), or SIZE_MAX where it
 * reads the peers' inputs instead. ar: the comm's. */
static size_t
rs_buffered(const weft__coll_args_t *a, const weft__shm_area_t *ar, int size)
{
    return weft__shmc_fits(ar, a->count * a->esize * (size_t)size);
}

static int
reduce_scatter_shm_poll(void *state, char *why, size_t why_len)
{
    rs_state_t *s = state;
    weft__shmc_t *c = &s->c;

    if (!weft__shmc_turn(c)) {
        return 0;
    }
    if (rs_buffered(&c->a, c->ar, c->ar->size) <= c->ar->buf) {
        return weft__shmc_result(c, rs_small(c), why, why_len);
    }
    /* a disagreement found on the way keeps its reason */
    return weft__shmc_result(c, rs_large(s, why, why_len), why, why_len);
}

static const weft__sched_poll_ops_t reduce_scatter_shm_ops = {
    .poll = reduce_scatter_shm_poll,
    .describe = weft__shmc_describe,
};

static weft_status_t
reduce_scatter_shm_build(weft__sched_t *s, const weft__coll_args_t *a)
{
    weft_comm_t *comm = weft__sched_comm(s);
    int small =
        weft__shmc_buffered(comm, rs_buffered(a, comm->shm, comm->size));
    rs_state_t *st;

    if (a->count == 0) {
        return WEFT_OK;
    }
    st = weft__shmc_build(s, a, sizeof(*st), &reduce_scatter_shm_ops,
                          small ? 0 : comm->ctx->cfg.coll.chunk + a->esize);
    if (st != NULL && !small && a->inplace) {
        st->acc = weft__sched_scratch(s, a->count * a->esize);
    }
    return WEFT_OK;
}

static const char *
reduce_scatter_shm_supported(const weft__coll_args_t *a,
                             const weft_comm_t *comm)
{
    return weft__shmc_supported(comm, rs_buffered(a, comm->shm, comm->size),
                                WEFT_SHMC_READS);
}

static double
reduce_scatter_shm_cost(const weft__coll_args_t *a, const weft__cost_t *m)
{
    double n = (double)(a->count * a->esize) * m->size;

    return weft__shmc_cost(m, 2, n, n);
}

static weft_status_t
reduce_scatter_shm_run(const weft__coll_args_t *a, weft_comm_t *comm)
{
    if (a->count == 0) {
        return WEFT_OK; /* nothing moves, as the schedule would do */
    }
    return weft__shmc_run(a, comm, &reduce_scatter_shm_ops, sizeof(rs_state_t),
                          rs_buffered(a, comm->shm, comm->size));
}

const weft__algo_t weft__algo_reduce_scatter_shm = {
    .name = "shm",
    .coll = WEFT_COLL_REDUCE_SCATTER,
    .supported = reduce_scatter_shm_supported,
    .cost = reduce_scatter_shm_cost,
    .build = reduce_scatter_shm_build,
    .run = reduce_scatter_shm_run,
};
