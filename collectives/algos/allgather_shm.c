/*
 * Allgather, node-local (shared memory; protocol in collectives/shm_area.h).
 * Blocks that fit: each rank copies its block into its shared buffer;
 * once all are announced, each copies every block out. Larger: each rank
 * reads every peer's block straight from the peer's memory into its
 * result (process_vm_readv), starting with the next rank so that not
 * everyone reads the same peer at once; or, where reads are refused or
 * WEFT_SHM_COLL_LARGE says so, the blocks are piped through the shared
 * buffers; or, where the node has more ranks than cores, whichever of the
 * two measured faster (shm_form.h). Calls whose result is past 8 KiB and
 * whose blocks fit the buffers also take whichever of the buffers and
 * reading measured faster, at two ranks and where ranks share cores
 * (weft__shmc_fit_measured).
 */
#include "build_config.h"
#include "collectives/algos/shm_common.h"

#include <string.h>

#include "collectives/algos/shm_form.h"
#include "comm.h"
#include "context.h"

enum { AG_ENTER, AG_COPY, AG_DONE };

static const void *
ag_mine(const weft__coll_args_t *a, int rank)
{
    return a->inplace ? (const char *)a->recvbuf + (size_t)rank * a->count *
                                                       a->esize
                      : a->sendbuf;
}

/* Shared-buffer bytes a call needs (a rank's block); SIZE_MAX where two
 * ranks read each other instead (unless measured). ar: the comm's. */
static size_t
ag_buffered(const weft__coll_args_t *a, const weft__shm_area_t *ar, int size)
{
    size_t blk = a->count * a->esize;

    if (weft__shmc_fit_measured(ar, blk, blk * (size_t)size)) {
        return blk;
    }
    return weft__shmc_fits(
        ar, weft__shmc_pair_buffered(ar, blk, blk * (size_t)size));
}

static int
ag_small(weft__shmc_t *c)
{
    int rc;
    weft__shm_area_t *ar = c->ar;
    size_t blk = c->a.count * c->a.esize;

    if (c->phase == AG_ENTER) {
        weft__shmc_publish(c, ag_mine(&c->a, ar->rank), blk);
        c->phase = AG_COPY;
    }
    if ((rc = weft__shmc_arrived(c, c->d)) <= 0) {
        return rc;
    }
    for (int r = 0; r < ar->size; r++) {
        memcpy((char *)c->a.recvbuf + (size_t)r * blk, weft__shmc_data(c, r),
               blk);
    }
    weft__shmc_finish(c);
    return 1;
}

/* Bytes a call touches on each rank: its block and the result. */
static size_t
ag_footprint(const weft__shmc_t *c, size_t blk)
{
    return blk * (size_t)(c->ar->size + 1);
}

/* Larger, piped: in round k each rank copies piece k of its block into
 * its ring, then piece k of every other rank's block out of theirs. */
static void
ag_put(weft__shmc_t *c, const weft__shmc_exchange_t *x, uint8_t *slot,
       size_t off, size_t len)
{
    memcpy(slot, (const uint8_t *)ag_mine(&c->a, c->ar->rank) + off, len);
}

static void
ag_take(weft__shmc_t *c, const weft__shmc_exchange_t *x, int r,
        const uint8_t *slot, size_t off, size_t len)
{
    weft__shmc_copy(c, (uint8_t *)c->a.recvbuf + (size_t)r * x->blk + off, slot,
                    len, x->footprint);
}

static int
ag_piped(weft__shmc_t *c)
{
    size_t slot = weft__shmc_ring_slot(c, 64);
    size_t blk = c->a.count * c->a.esize;
    weft__shmc_exchange_t x = {.blk = blk,
                               .piece = slot,
                               .slot = slot,
                               .footprint = ag_footprint(c, blk),
                               .own = c->a.inplace ? NULL : c->a.sendbuf,
                               .put = ag_put,
                               .take = ag_take};

    return weft__shmc_exchange(c, &x);
}

static int
ag_large(weft__shmc_t *c, char *why, size_t why_len)
{
    int rc;
    weft__shm_area_t *ar = c->ar;
    size_t blk = c->a.count * c->a.esize;

    switch (c->phase) {
    case AG_ENTER:
        weft__shm_area_arrive(ar, c->d, c->desc, ag_mine(&c->a, ar->rank), c->a.recvbuf,
                              NULL);
        if (!c->a.inplace) {
            weft__shmc_copy(c, (char *)c->a.recvbuf + (size_t)ar->rank * blk,
                            c->a.sendbuf, blk, ag_footprint(c, blk));
        }
        c->phase = AG_COPY;
        /* fall through */
    case AG_COPY:
        if ((rc = weft__shmc_arrived(c, c->d)) <= 0) {
            return rc;
        }
        for (int i = 1; i < ar->size; i++) {
            int r = (ar->rank + i) % ar->size;
            weft_status_t st = weft__shm_area_read(
                ar, r, (char *)c->a.recvbuf + (size_t)r * blk,
                weft__shm_area_head(ar, r, c->d)->u.at.sbuf, blk, why, why_len);

            if (st != WEFT_OK) {
                return st;
            }
        }
        weft__shm_area_done(ar, c->d);
        c->phase = AG_DONE;
        /* fall through */
    default:
        if (!weft__shmc_all_done(c)) {
            return 0;
        }
        weft__shmc_finish(c);
        return 1;
    }
}

static int
allgather_shm_poll(void *state, char *why, size_t why_len)
{
    weft__shmc_t *c = state;
    size_t blk = c->a.count * c->a.esize, all = blk * (size_t)c->ar->size;

    if (!weft__shmc_turn(c)) {
        return 0;
    }
    if (weft__shmc_fit_measured(c->ar, blk, all)) {
        return weft__shmc_form_run(c, 1, WEFT_SHM_FORM_ALLGATHER, all, ag_small,
                                   ag_large, why, why_len);
    }
    if (ag_buffered(&c->a, c->ar, c->ar->size) <= c->ar->buf) {
        return weft__shmc_result(c, ag_small(c), why, why_len);
    }
    return weft__shmc_form_run(c, c->ar->measure, WEFT_SHM_FORM_ALLGATHER, all,
                               ag_piped, ag_large, why, why_len);
}

static const weft__sched_poll_ops_t allgather_shm_ops = {
    .poll = allgather_shm_poll,
    .describe = weft__shmc_describe,
};

static weft_status_t
allgather_shm_build(weft__sched_t *s, const weft__coll_args_t *a)
{
    if (a->count > 0) {
        weft__shmc_build(s, a, sizeof(weft__shmc_t), &allgather_shm_ops, 0);
    }
    return WEFT_OK;
}

static const char *
allgather_shm_supported(const weft__coll_args_t *a, const weft_comm_t *comm)
{
    return weft__shmc_supported(comm, ag_buffered(a, comm->shm, comm->size),
                                WEFT_SHMC_READS | WEFT_SHMC_PIPES);
}

static double
allgather_shm_cost(const weft__coll_args_t *a, const weft__cost_t *m)
{
    return weft__shmc_cost(m, 1, (double)(a->count * a->esize) * m->size, 0);
}

static weft_status_t
allgather_shm_run(const weft__coll_args_t *a, weft_comm_t *comm)
{
    if (a->count == 0) {
        return WEFT_OK; /* nothing moves, as the schedule would do */
    }
    return weft__shmc_run(a, comm, &allgather_shm_ops, sizeof(weft__shmc_t),
                          ag_buffered(a, comm->shm, comm->size));
}

const weft__algo_t weft__algo_allgather_shm = {
    .name = "shm",
    .coll = WEFT_COLL_ALLGATHER,
    .supported = allgather_shm_supported,
    .cost = allgather_shm_cost,
    .build = allgather_shm_build,
    .run = allgather_shm_run,
};
