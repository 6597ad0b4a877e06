/*
 * Alltoallv, node-local (shared memory; protocol in collectives/shm_area.h).
 * Every rank announces its send buffer and where its sendcounts and
 * sdispls live; each rank then takes, from every peer in turn (starting
 * with the next rank), the peer's count and displacement for it, checks
 * the count against its own recvcount (a disagreement is a mismatch
 * naming both), and reads its block straight from the peer's send buffer
 * into place (process_vm_readv, one copy). A rank leaves once every
 * reader of its buffers is done. Not in place (a rank's blocks would be
 * replaced while its readers read them): pairwise serves that.
 */
#include "build_config.h"
#include "collectives/algos/shm_common.h"

#include <stdio.h>
#include <string.h>

#include "comm.h"
#include "context.h"

enum { AV_ENTER, AV_READ, AV_DONE };

/* Seconds of the two small reads of a peer's count and displacement. */
#define AV_PEER_COST 2e-6

/* Read member r's count and displacement for this rank, check the count,
 * and read the block. */
static int
av_take(weft__shmc_t *c, int r, char *why, size_t why_len)
{
    weft__shm_area_t *ar = c->ar;
    const weft__coll_args_t *a = &c->a;
    const weft__shm_head_t *h = weft__shm_area_head(ar, r, c->d);
    uint64_t at = (uint64_t)ar->rank * sizeof(size_t);
    size_t count, displ;
    weft_status_t st;

    st = weft__shm_area_read(ar, r, &count, h->u.at.rbuf + at, sizeof(count),
                             why, why_len);
    if (st == WEFT_OK) {
        st = weft__shm_area_read(ar, r, &displ, h->u.at.aux + at, sizeof(displ),
                                 why, why_len);
    }
    if (st != WEFT_OK) {
        return st;
    }
    if (count != a->rcounts[r]) {
        snprintf(why, why_len,
                 "mismatch: rank %d sends %zu elements to rank %d, whose "
                 "recvcounts[%d] is %zu (node-local call #%llu)",
                 r, count, ar->rank, r, a->rcounts[r],
                 (unsigned long long)c->d);
        return WEFT_ERR_MISMATCH;
    }
    if (count == 0) {
        return 1;
    }
    st = weft__shm_area_read(
        ar, r, (char *)a->recvbuf + a->rdispls[r] * a->esize,
        h->u.at.sbuf + displ * a->esize, count * a->esize, why, why_len);
    return st == WEFT_OK ? 1 : st;
}

static int
alltoallv_shm_poll(void *state, char *why, size_t why_len)
{
    weft__shmc_t *c = state;
    weft__shm_area_t *ar = c->ar;
    const weft__coll_args_t *a = &c->a;
    int me = ar->rank, rc;

    if (!weft__shmc_turn(c)) {
        return 0;
    }
    switch (c->phase) {
    case AV_ENTER:
        weft__shm_area_arrive(ar, c->d, c->desc, a->sendbuf, a->scounts,
                              a->sdispls);
        /* its own block (the counts agree: checked at the call); none:
         * the buffers may be NULL, and memcpy(NULL, NULL, 0) is undefined
         * (UBSan: nonnull argument) */
        if (a->scounts[me] > 0) {
            memcpy((char *)a->recvbuf + a->rdispls[me] * a->esize,
                   (const char *)a->sendbuf + a->sdispls[me] * a->esize,
                   a->scounts[me] * a->esize);
        }
        c->phase = AV_READ;
        c->peer = 1;
        /* fall through */
    case AV_READ:
        if ((rc = weft__shmc_arrived(c, c->d)) <= 0) {
            return weft__shmc_result(c, rc, why, why_len);
        }
        for (; c->peer < ar->size; c->peer++) {
            rc = av_take(c, (me + c->peer) % ar->size, why, why_len);
            if (rc != 1) {
                return rc;
            }
        }
        weft__shm_area_done(ar, c->d);
        c->phase = AV_DONE;
        /* fall through */
    default:
        /* a later partition of the same call waits for this one too */
        if (!c->a.part_follows && !weft__shmc_all_done(c)) {
            return 0;
        }
        weft__shmc_finish(c);
        return 1;
    }
}

static const weft__sched_poll_ops_t alltoallv_shm_ops = {
    .poll = alltoallv_shm_poll,
    .describe = weft__shmc_describe,
};

static weft_status_t
alltoallv_shm_build(weft__sched_t *s, const weft__coll_args_t *a)
{
    weft__shmc_build(s, a, sizeof(weft__shmc_t), &alltoallv_shm_ops, 0);
    return WEFT_OK;
}

static const char *
alltoallv_shm_supported(const weft__coll_args_t *a, const weft_comm_t *comm)
{
    if (a->inplace) {
        return "cannot run this: in place (the blocks would be replaced "
               "while the peers read them)";
    }
    /* nothing goes through the buffers: every block is read */
    return weft__shmc_supported(comm, SIZE_MAX, WEFT_SHMC_READS);
}

static double
alltoallv_shm_cost(const weft__coll_args_t *a, const weft__cost_t *m)
{
    double got = 0;

    for (int i = 0; i < m->size; i++) {
        got += (double)(a->rcounts[i] * a->esize);
    }
    return weft__shmc_cost(m, 2, got, 0) + AV_PEER_COST * (m->size - 1);
}

const weft__algo_t weft__algo_alltoallv_shm = {
    .name = "shm",
    .coll = WEFT_COLL_ALLTOALLV,
    .supported = alltoallv_shm_supported,
    .cost = alltoallv_shm_cost,
    .build = alltoallv_shm_build,
};
