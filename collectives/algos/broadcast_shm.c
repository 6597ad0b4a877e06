/*
 * Broadcast, node-local (shared memory; protocol in collectives/shm_area.h).
 * Data that fits: the root copies it into its shared buffer and goes on;
 * the others copy it out once it is announced. Larger: every other rank
 * reads the root's buffer directly (process_vm_readv), piece by piece,
 * all at once; the root returns when all have.
 */
#include "build_config.h"
#include "collectives/algos/shm_common.h"

#include <string.h>

#include "comm.h"
#include "context.h"

enum { BC_ENTER, BC_COPY, BC_DONE };

static int
bc_small(weft__shmc_t *c)
{
    int rc;
    weft__shm_area_t *ar = c->ar;
    size_t bytes = c->a.count * c->a.esize;
    int root = c->a.root;

    if (ar->rank == root) {
        weft__shmc_publish(c, c->a.recvbuf, bytes);
        weft__shmc_finish(c);
        return 1;
    }
    if (c->phase == BC_ENTER) {
        weft__shm_area_arrive(ar, c->d, c->desc, NULL, NULL, NULL);
        c->inl = weft__shmc_inline(bytes);
        c->phase = BC_COPY;
    }
    if ((rc = weft__shmc_arrived_one(c, root)) <= 0) {
        return rc;
    }
    memcpy(c->a.recvbuf, weft__shmc_data(c, root), bytes);
    weft__shmc_finish(c);
    return 1;
}

static int
bc_large(weft__shmc_t *c, char *why, size_t why_len)
{
    int rc;
    weft__shm_area_t *ar = c->ar;
    size_t bytes = c->a.count * c->a.esize, piece = c->chunk * c->a.esize;
    int root = c->a.root;

    if (c->phase == BC_ENTER) {
        weft__shm_area_arrive(ar, c->d, c->desc, c->a.recvbuf, c->a.recvbuf, NULL);
        c->phase = BC_COPY;
        if (ar->rank == root) {
            weft__shm_area_done(ar, c->d); /* it reads nothing */
            c->phase = BC_DONE;
        }
    }
    if (c->phase == BC_COPY) {
        if ((rc = weft__shmc_arrived_one(c, root)) <= 0) {
            return rc;
        }
        for (size_t off = 0; off < bytes; off += piece) {
            size_t n = bytes - off < piece ? bytes - off : piece;
            weft_status_t st = weft__shm_area_read(
                ar, root, (char *)c->a.recvbuf + off, weft__shm_area_head(ar, root, c->d)->u.at.rbuf + off,
                n, why, why_len);

            if (st != WEFT_OK) {
                return st;
            }
        }
        weft__shm_area_done(ar, c->d);
        weft__shmc_finish(c); /* nobody reads a non-root's buffer */
        return 1;
    }
    /* the root: its buffer is the caller's until every reader is done */
    if (!weft__shmc_all_done(c)) {
        return 0;
    }
    weft__shmc_finish(c);
    return 1;
}

static int
broadcast_shm_poll(void *state, char *why, size_t why_len)
{
    weft__shmc_t *c = state;

    if (!weft__shmc_turn(c)) {
        return 0;
    }
    if (c->a.count * c->a.esize <= c->ar->buf) {
        return weft__shmc_result(c, bc_small(c), why, why_len);
    }
    return bc_large(c, why, why_len);
}

static const weft__sched_poll_ops_t broadcast_shm_ops = {
    .poll = broadcast_shm_poll,
    .describe = weft__shmc_describe,
};

static weft_status_t
broadcast_shm_build(weft__sched_t *s, const weft__coll_args_t *a)
{
    if (a->count > 0) {
        weft__shmc_build(s, a, sizeof(weft__shmc_t), &broadcast_shm_ops, 0);
    }
    return WEFT_OK;
}

static const char *
broadcast_shm_supported(const weft__coll_args_t *a, const weft_comm_t *comm)
{
    return weft__shmc_supported(comm, a->count * a->esize, 1);
}

static double
broadcast_shm_cost(const weft__coll_args_t *a, const weft__cost_t *m)
{
    return weft__shmc_cost(m, 1, (double)(a->count * a->esize), 0);
}

static weft_status_t
broadcast_shm_run(const weft__coll_args_t *a, weft_comm_t *comm)
{
    if (a->count == 0) {
        return WEFT_OK; /* nothing moves, as the schedule would do */
    }
    return weft__shmc_run(a, comm, &broadcast_shm_ops, sizeof(weft__shmc_t), a->count * a->esize);
}

const weft__algo_t weft__algo_broadcast_shm = {
    .name = "shm",
    .coll = WEFT_COLL_BROADCAST,
    .supported = broadcast_shm_supported,
    .cost = broadcast_shm_cost,
    .build = broadcast_shm_build,
    .run = broadcast_shm_run,
};
