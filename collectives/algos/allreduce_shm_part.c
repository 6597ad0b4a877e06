/*
 * Partitioned allreduce of two ranks on one node (weft_allreduce_init):
 * one node-local call for the whole request instead of one per partition.
 *
 * With two ranks each rank reduces every partition itself, reading the
 * peer's input straight from its memory (as the two-rank allreduce_shm
 * does), so the ranks need not meet per partition: each marks the
 * partitions it has produced in its shared buffer (a byte each) and
 * reduces partition i as soon as both have marked it, in whatever order
 * and as many at once as are ready. The ranks meet twice per start: the
 * announcement (buffer addresses, what was called, and the partition
 * count) and `done` at the end, once each has finished reading the
 * other's input. The generic form (an ordinary collective per partition)
 * has the ranks hand off twice per partition and take turns, which
 * measured 7-10% slower here at 16 partitions of 1 MiB.
 *
 * Taken when every partition would run the node-local allreduce on data
 * read from the peer (not in place, larger than the shared buffers), the
 * dtype reduces as itself (no fp16/bf16 staging), and the partition
 * flags fit the shared buffer. AVG divides each piece as it is reduced.
 */
#include "build_config.h"
#include "collectives/coll_part_shm.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "collectives/algos/shm_common.h"
#include "collectives/reduce_ops.h"
#include "collectives/sched.h"
#include "comm.h"
#include "context.h"
#include "errmsg.h"

enum { PP_TURN, PP_RUN, PP_DONE };

struct weft__part_shm {
    weft__shmc_t c;
    size_t nparts;
    size_t split;         /* elements split into partitions */
    const uint8_t *ready; /* this rank's marks (the request's, this start) */
    uint8_t *reduced;     /* [nparts] */
    size_t nreduced;
    size_t lo;     /* partitions below lo are reduced */
    int published; /* the marks live in the shared buffer */
    size_t waits;  /* the first partition not reduced, for describe */
};

static const void *
pp_input(const weft__part_shm_t *pp)
{
    return pp->c.a.sendbuf;
}

/* This rank's mark of partition i, where the peer reads it. */
static _Atomic uint8_t *
pp_mark(const weft__part_shm_t *pp, int r, size_t i)
{
    return (_Atomic uint8_t *)(weft__shm_area_buf(pp->c.ar, r, pp->c.d) + i);
}

/* Reduce partition i into the result: the peer's part of the input read
 * into scratch piece by piece, operands in rank order. */
static int
pp_reduce(weft__part_shm_t *pp, size_t i, char *why, size_t why_len)
{
    weft__shmc_t *c = &pp->c;
    const weft__coll_args_t *a = &c->a;
    int peer = 1 - c->ar->rank;
    uint64_t theirs = weft__shm_area_head(c->ar, peer, c->d)->u.at.sbuf;
    size_t first, n;

    weft__block(pp->split, (int)pp->nparts, (int)i, &first, &n);
    for (size_t off = first; off < first + n; off += c->chunk) {
        size_t len = first + n - off < c->chunk ? first + n - off : c->chunk;
        char *dst = (char *)a->recvbuf + off * a->esize;
        const char *mine = (const char *)pp_input(pp) + off * a->esize;
        weft_status_t st;

        st = weft__shm_area_read(c->ar, peer, c->tmp, theirs + off * a->esize,
                                 len * a->esize, why, why_len);
        if (st != WEFT_OK) {
            return st;
        }
        if (c->ar->rank == 0) {
            weft__reduce3(a->dtype, a->op, dst, mine, c->tmp, len);
        } else {
            weft__reduce3(a->dtype, a->op, dst, c->tmp, mine, len);
        }
        weft__shmc_avg(c, dst, len);
    }
    return 1;
}

/* Take the turn: clear the marks of the buffer, copy those made so far,
 * announce. */
static void
pp_publish(weft__part_shm_t *pp)
{
    weft__shmc_t *c = &pp->c;
    uint8_t *marks = weft__shm_area_buf(c->ar, c->ar->rank, c->d);

    memcpy(marks, pp->ready, pp->nparts);
    pp->published = 1;
    weft__shm_area_arrive(c->ar, c->d, c->desc, pp_input(pp), c->a.recvbuf,
                          NULL);
}

/* Reduce every partition both ranks have marked; 1 when all are done. */
static int
pp_run(weft__part_shm_t *pp, char *why, size_t why_len)
{
    int peer = 1 - pp->c.ar->rank;

    for (size_t i = pp->lo; i < pp->nparts; i++) {
        int rc;

        if (pp->reduced[i] || !pp->ready[i] ||
            !atomic_load_explicit(pp_mark(pp, peer, i), memory_order_acquire)) {
            continue;
        }
        rc = pp_reduce(pp, i, why, why_len);
        if (rc != 1) {
            return rc;
        }
        pp->reduced[i] = 1;
        pp->nreduced++;
    }
    while (pp->lo < pp->nparts && pp->reduced[pp->lo]) {
        pp->lo++;
    }
    pp->waits = pp->lo;
    return pp->nreduced == pp->nparts;
}

/* A mismatch with a peer that made the same call split differently: say
 * so (the general text shows the same call twice). */
static void
pp_mismatch(weft__part_shm_t *pp)
{
    weft__shmc_t *c = &pp->c;
    int peer = 1 - c->ar->rank;
    const uint64_t *pd = weft__shm_area_head(c->ar, peer, c->d)->desc;

    if (weft__shm_area_head_is(c->ar, peer, c->d) && pd[0] == c->desc[0] &&
        (uint32_t)pd[1] == (uint32_t)c->desc[1]) {
        snprintf(c->why, sizeof(c->why),
                 "mismatch: rank %d split its partitioned allreduce into "
                 "%llu partitions where rank %d split it into %zu "
                 "(node-local call #%llu)",
                 peer, (unsigned long long)(pd[1] >> 32), c->ar->rank,
                 pp->nparts, (unsigned long long)c->d);
    }
}

static int
pp_poll(void *state, char *why, size_t why_len)
{
    weft__part_shm_t *pp = state;
    weft__shmc_t *c = &pp->c;
    int rc;

    switch (c->phase) {
    case PP_TURN:
        if (!weft__shmc_turn(c)) {
            return 0;
        }
        pp_publish(pp);
        c->phase = PP_RUN;
        /* fall through */
    case PP_RUN:
        if ((rc = weft__shmc_arrived(c, c->d)) <= 0) {
            if (rc < 0) {
                pp_mismatch(pp);
            }
            return weft__shmc_result(c, rc, why, why_len);
        }
        rc = pp_run(pp, why, why_len);
        if (rc != 1) {
            return rc;
        }
        weft__shm_area_done(c->ar, c->d);
        c->phase = PP_DONE;
        /* fall through */
    default:
        if (!weft__shmc_all_done(c)) {
            return 0;
        }
        weft__shmc_finish(c);
        return 1;
    }
}

static void
pp_describe(const void *state, char *buf, size_t len)
{
    const weft__part_shm_t *pp = state;
    const weft__shmc_t *c = &pp->c;

    if (c->phase != PP_RUN ||
        !weft__shm_area_reached(c->ar, 1 - c->ar->rank, c->d)) {
        weft__shmc_describe(state, buf, len);
        return;
    }
    if (!pp->ready[pp->waits]) {
        snprintf(buf, len,
                 "weft_pready of partition %zu of %zu on this rank "
                 "(node-local call #%llu)",
                 pp->waits, pp->nparts, (unsigned long long)c->d);
    } else {
        snprintf(buf, len,
                 "rank %d to mark partition %zu of %zu ready "
                 "(weft_pready; node-local call #%llu)",
                 1 - c->ar->rank, pp->waits, pp->nparts,
                 (unsigned long long)c->d);
    }
}

static const weft__sched_poll_ops_t pp_ops = {
    .poll = pp_poll,
    .describe = pp_describe,
};

int
weft__part_shm_fits(const weft__coll_args_t *whole, size_t nparts,
                    const weft_comm_t *comm, const char *algo)
{
    const weft__shm_area_t *ar = comm->shm;

    return whole->coll == WEFT_COLL_ALLREDUCE && ar != NULL &&
           comm->size == 2 && ar->cma && !whole->inplace &&
           weft__reduce_dtype(whole->dtype) == whole->dtype &&
           comm->ctx->cfg.shm.coll_large != 1 && /* not told to pipe */
           nparts <= ar->buf && whole->count * whole->esize > ar->buf &&
           strcmp(algo, "shm") == 0;
}

weft_status_t
weft__part_shm_prepare(weft_comm_t *comm, const weft__coll_args_t *whole,
                       size_t nparts, const uint8_t *ready, weft__sched_t **s_p,
                       weft__part_shm_t **pp_p)
{
    weft__sched_t *s = NULL;
    weft__part_shm_t *pp;
    size_t chunk = comm->ctx->cfg.coll.chunk;

    WEFT_CHECK(weft__sched_create(comm, whole->dtype, whole->op,
                                  "shm (partitioned)", &s));
    weft__sched_set_desc(s, whole);
    pp = weft__shmc_build(s, whole, sizeof(*pp), &pp_ops, chunk + whole->esize);
    if (pp != NULL) {
        pp->reduced = weft__sched_scratch(s, nparts);
    }
    if (pp == NULL || pp->reduced == NULL) {
        weft__sched_free(s);
        return weft__error(WEFT_ERR_NO_MEMORY, WEFT_SUB_COLL,
                           "out of memory for a partitioned allreduce of %zu "
                           "partitions",
                           nparts);
    }
    /* what was called includes the partition count (the root's field,
     * unused by an allreduce): ranks that split differently mismatch */
    pp->c.desc[1] = (pp->c.desc[1] & 0xffffffffu) | (uint64_t)nparts << 32;
    pp->nparts = nparts;
    pp->split = whole->count;
    pp->ready = ready;
    memset(pp->reduced, 0, nparts);
    *s_p = s;
    *pp_p = pp;
    return WEFT_OK;
}

void
weft__part_shm_ready(weft__part_shm_t *pp, size_t first, size_t last)
{
    if (!pp->published) {
        return; /* copied when it takes its turn */
    }
    for (size_t i = first; i <= last; i++) {
        atomic_store_explicit(pp_mark(pp, pp->c.ar->rank, i), 1,
                              memory_order_release);
    }
    weft__shm_area_wake(pp->c.ar);
}

int
weft__part_shm_arrived(const weft__part_shm_t *pp, size_t i)
{
    return pp->reduced[i];
}
