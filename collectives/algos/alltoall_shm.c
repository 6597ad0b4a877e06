/*
 * Alltoall, node-local (shared memory; protocol in collectives/shm_area.h).
 * Data that fits: each rank copies its whole send buffer into its shared
 * buffer; once all are announced, each takes its block from every
 * buffer. Larger: each rank reads its block straight from every peer's
 * send buffer (process_vm_readv), starting with the next rank, or (in
 * place, or where reads are refused or WEFT_SHM_COLL_LARGE says so) pipes
 * them through the shared buffers; where the node has more ranks than
 * cores, whichever of the two measured faster (shm_form.h). Calls whose
 * result is past 8 KiB and fits the buffers also take whichever of the
 * buffers and reading measured faster, at two ranks and where ranks share
 * cores (weft__shmc_fit_measured).
 */
#include "build_config.h"
#include "collectives/algos/shm_common.h"

#include <string.h>

#include "collectives/algos/shm_form.h"
#include "comm.h"
#include "context.h"

enum { AA_ENTER, AA_COPY, AA_DONE };

/* Three ranks and more read blocks of this many bytes and more from the
 * peers (one copy) rather than putting the whole input through the
 * shared buffers (two copies). Interleaved against the buffers, 4 ranks
 * on 2 cores, in this machine's slow stretches: 64 KiB (16 KiB blocks)
 * 27-29 against 44-47 us, 128 KiB 34-40 against 76-79; 8 ranks, 128 KiB
 * 108-116 against 171-179. In fast stretches the buffers were ahead (4
 * ranks 16 against 24 us at 64 KiB, 24 against 37 at 128 KiB; 8 ranks 42
 * against 96): reading is the better average, with the smaller spread.
 * At 8 KiB blocks (8 ranks, 64 KiB) neither was ahead. Where the area
 * measures, calls that fit the buffers are measured instead
 * (weft__shmc_fit_measured). Two ranks: the pair rule
 * (weft__shmc_pair_buffered). */
#define AA_READ_BLOCK 16384

/* Shared-buffer bytes a call needs (a rank's input); SIZE_MAX where the
 * ranks read each other instead (not in place: that one only pipes).
 * ar: the comm's. */
static size_t
aa_buffered(const weft__coll_args_t *a, const weft__shm_area_t *ar, int size)
{
    size_t blk = a->count * a->esize, bytes = blk * (size_t)size;

    if (a->inplace) {
        return weft__shmc_fits(ar, bytes);
    }
    if (weft__shmc_fit_measured(ar, bytes, bytes)) {
        return bytes;
    }
    if (ar != NULL && ar->cma && size > 2 && blk >= AA_READ_BLOCK) {
        return SIZE_MAX;
    }
    return weft__shmc_fits(ar, weft__shmc_pair_buffered(ar, bytes, bytes));
}

static int
aa_small(weft__shmc_t *c)
{
    int rc;
    weft__shm_area_t *ar = c->ar;
    size_t blk = c->a.count * c->a.esize;

    if (c->phase == AA_ENTER) {
        weft__shmc_publish(c, c->a.inplace ? c->a.recvbuf : c->a.sendbuf,
                           blk * (size_t)ar->size);
        c->phase = AA_COPY;
    }
    if ((rc = weft__shmc_arrived(c, c->d)) <= 0) {
        return rc;
    }
    for (int r = 0; r < ar->size; r++) {
        memcpy((char *)c->a.recvbuf + (size_t)r * blk,
               weft__shmc_data(c, r) + (size_t)ar->rank * blk, blk);
    }
    weft__shmc_finish(c);
    return 1;
}

/* Larger, piped: in round k each rank copies piece k of each of its
 * blocks into its ring (the piece for rank j at j * piece), then takes
 * its own piece out of every other rank's ring. In place works: a rank's
 * piece k for rank r is in its ring before r's piece k overwrites it. */
static void
aa_put(weft__shmc_t *c, const weft__shmc_exchange_t *x, uint8_t *slot,
       size_t off, size_t len)
{
    const uint8_t *in = c->a.inplace ? c->a.recvbuf : c->a.sendbuf;

    for (int j = 0; j < c->ar->size; j++) {
        if (j != c->ar->rank) {
            memcpy(slot + (size_t)j * x->piece, in + (size_t)j * x->blk + off,
                   len);
        }
    }
}

static void
aa_take(weft__shmc_t *c, const weft__shmc_exchange_t *x, int r,
        const uint8_t *slot, size_t off, size_t len)
{
    weft__shmc_copy(c, (uint8_t *)c->a.recvbuf + (size_t)r * x->blk + off,
                    slot + (size_t)c->ar->rank * x->piece, len, x->footprint);
}

static int
aa_piped(weft__shmc_t *c)
{
    size_t size = (size_t)c->ar->size, blk = c->a.count * c->a.esize;
    size_t piece = weft__shmc_ring_slot(c, 64 * size) / size;
    weft__shmc_exchange_t x = {.blk = blk,
                               .piece = piece,
                               .slot = piece * size,
                               .footprint = 2 * blk * size,
                               .own = c->a.inplace
                                          ? NULL
                                          : (const uint8_t *)c->a.sendbuf +
                                                (size_t)c->ar->rank * blk,
                               .put = aa_put,
                               .take = aa_take};

    return weft__shmc_exchange(c, &x);
}

static int
aa_large(weft__shmc_t *c, char *why, size_t why_len)
{
    int rc;
    weft__shm_area_t *ar = c->ar;
    size_t blk = c->a.count * c->a.esize, me = (size_t)ar->rank;

    switch (c->phase) {
    case AA_ENTER:
        weft__shm_area_arrive(ar, c->d, c->desc, c->a.sendbuf, NULL, NULL);
        weft__shmc_copy(c, (char *)c->a.recvbuf + me * blk,
                        (const char *)c->a.sendbuf + me * blk, blk,
                        2 * blk * (size_t)ar->size);
        c->phase = AA_COPY;
        /* fall through */
    case AA_COPY:
        if ((rc = weft__shmc_arrived(c, c->d)) <= 0) {
            return rc;
        }
        for (int i = 1; i < ar->size; i++) {
            int r = (ar->rank + i) % ar->size;
            weft_status_t st = weft__shm_area_read(
                ar, r, (char *)c->a.recvbuf + (size_t)r * blk,
                weft__shm_area_head(ar, r, c->d)->u.at.sbuf + me * blk, blk,
                why, why_len);

            if (st != WEFT_OK) {
                return st;
            }
        }
        weft__shm_area_done(ar, c->d);
        c->phase = AA_DONE;
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
alltoall_shm_poll(void *state, char *why, size_t why_len)
{
    weft__shmc_t *c = state;
    size_t all = c->a.count * c->a.esize * (size_t)c->ar->size;

    if (!weft__shmc_turn(c)) {
        return 0;
    }
    if (!c->a.inplace && weft__shmc_fit_measured(c->ar, all, all)) {
        return weft__shmc_form_run(c, 1, WEFT_SHM_FORM_ALLTOALL, all, aa_small,
                                   aa_large, why, why_len);
    }
    if (aa_buffered(&c->a, c->ar, c->ar->size) <= c->ar->buf) {
        return weft__shmc_result(c, aa_small(c), why, why_len);
    }
    if (c->a.inplace) {
        return weft__shmc_result(c, aa_piped(c), why, why_len);
    }
    return weft__shmc_form_run(c, c->ar->measure, WEFT_SHM_FORM_ALLTOALL, all,
                               aa_piped, aa_large, why, why_len);
}

static const weft__sched_poll_ops_t alltoall_shm_ops = {
    .poll = alltoall_shm_poll,
    .describe = weft__shmc_describe,
};

static weft_status_t
alltoall_shm_build(weft__sched_t *s, const weft__coll_args_t *a)
{
    if (a->count > 0) {
        weft__shmc_build(s, a, sizeof(weft__shmc_t), &alltoall_shm_ops, 0);
    }
    return WEFT_OK;
}

static const char *
alltoall_shm_supported(const weft__coll_args_t *a, const weft_comm_t *comm)
{
    /* in place, only piped (readers would see blocks already replaced) */
    return weft__shmc_supported(comm, aa_buffered(a, comm->shm, comm->size),
                                a->inplace ? WEFT_SHMC_PIPES
                                           : WEFT_SHMC_READS | WEFT_SHMC_PIPES);
}

static double
alltoall_shm_cost(const weft__coll_args_t *a, const weft__cost_t *m)
{
    return weft__shmc_cost(m, 1, (double)(a->count * a->esize) * m->size, 0);
}

static weft_status_t
alltoall_shm_run(const weft__coll_args_t *a, weft_comm_t *comm)
{
    if (a->count == 0) {
        return WEFT_OK; /* nothing moves, as the schedule would do */
    }
    return weft__shmc_run(a, comm, &alltoall_shm_ops, sizeof(weft__shmc_t),
                          aa_buffered(a, comm->shm, comm->size));
}

const weft__algo_t weft__algo_alltoall_shm = {
    .name = "shm",
    .coll = WEFT_COLL_ALLTOALL,
    .supported = alltoall_shm_supported,
    .cost = alltoall_shm_cost,
    .build = alltoall_shm_build,
    .run = alltoall_shm_run,
};
