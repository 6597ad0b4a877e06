/*
 * Partitioned allreduce of two ranks on one node (weft_allreduce_init):
 * one node-local call for the whole request instead of one per partition.
 *
 * Each rank marks the partitions it has produced in its shared buffer (a
 * byte each). Once both have marked partition i, each rank reduces its
 * half of it, reading the peer's half of the input straight from the
 * peer's memory, and writes the result, still in cache, into its own and
 * the peer's result (process_vm_writev), then marks the half written in a
 * second byte. Partition i has arrived once both halves are written: so
 * each rank reads the vector once and writes it once (as the one-call
 * allreduce_shm does), partitions are reduced in whatever order and as
 * many at once as are ready, and the ranks meet only twice per start:
 * the announcement (buffer addresses, what was called, and the partition
 * count) and `done` at the end. The generic form (an ordinary collective
 * per partition) hands off twice per partition and takes turns. In place
 * too: the half a rank writes into the peer's buffer is one only it reads,
 * and it has read it.
 *
 * Taken when every partition would run the node-local allreduce on data
 * read from the peer (larger than the shared buffers), the dtype reduces
 * as itself (no fp16/bf16 staging), and the partition flags fit the
 * shared buffer. AVG divides each piece as it is reduced.
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
    uint8_t *reduced;     /* [nparts] PP_MINE | PP_THEIRS */
    size_t nreduced;      /* partitions with both halves written */
    size_t lo;     /* partitions below lo are reduced */
    int published; /* the marks live in the shared buffer */
    size_t waits;  /* the first partition not reduced, for describe */
};

/* Halves of a partition written. */
enum { PP_MINE = 1, PP_THEIRS = 2, PP_WHOLE = PP_MINE | PP_THEIRS };

static const void *
pp_input(const weft__part_shm_t *pp)
{
    return pp->c.a.inplace ? pp->c.a.recvbuf : pp->c.a.sendbuf;
}

/* Member r's mark of partition i (0: ready, 1: its half written), where
 * the other reads it. */
static _Atomic uint8_t *
pp_mark(const weft__part_shm_t *pp, int r, int which, size_t i)
{
    return (_Atomic uint8_t *)(weft__shm_area_buf(pp->c.ar, r, pp->c.d) +
                               (size_t)which * pp->nparts + i);
}

/* Reduce this rank's half of partition i into both results: the peer's
 * part of the input read into scratch piece by piece, operands in rank
 * order, each piece written into the peer's result while in cache. */
static int
pp_reduce(weft__part_shm_t *pp, size_t i, char *why, size_t why_len)
{
    weft__shmc_t *c = &pp->c;
    const weft__coll_args_t *a = &c->a;
    int peer = 1 - c->ar->rank;
    const weft__shm_head_t *h = weft__shm_area_head(c->ar, peer, c->d);
    size_t pfirst, pn, first, n;

    weft__block(pp->split, (int)pp->nparts, (int)i, &pfirst, &pn);
    weft__block(pn, 2, c->ar->rank, &first, &n);
    first += pfirst;
    for (size_t off = first; off < first + n; off += c->chunk) {
        size_t len = first + n - off < c->chunk ? first + n - off : c->chunk;
        char *dst = (char *)a->recvbuf + off * a->esize;
        const char *mine = (const char *)pp_input(pp) + off * a->esize;
        weft_status_t st;

        st = weft__shm_area_read(c->ar, peer, c->tmp,
                                 h->u.at.sbuf + off * a->esize, len * a->esize,
                                 why, why_len);
        if (st != WEFT_OK) {
            return st;
        }
        if (c->ar->rank == 0) {
            weft__reduce3(a->dtype, a->op, dst, mine, c->tmp, len);
        } else {
            weft__reduce3(a->dtype, a->op, dst, c->tmp, mine, len);
        }
        weft__shmc_avg(c, dst, len);
        st = weft__shm_area_write(c->ar, peer, dst,
                                  h->u.at.rbuf + off * a->esize, len * a->esize,
                                  why, why_len);
        if (st != WEFT_OK) {
            return st;
        }
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
    memset(marks + pp->nparts, 0, pp->nparts);
    pp->published = 1;
    weft__shm_area_arrive(c->ar, c->d, c->desc, pp_input(pp), c->a.recvbuf,
                          NULL);
}

/* Reduce our half of every partition both ranks have marked, and take
 * note of the halves the peer has written; 1 when every partition is
 * whole. */
static int
pp_run(weft__part_shm_t *pp, char *why, size_t why_len)
{
    weft__shm_area_t *ar = pp->c.ar;
    int peer = 1 - ar->rank;

    for (size_t i = pp->lo; i < pp->nparts; i++) {
        int rc;

        if (pp->reduced[i] == PP_WHOLE) {
            continue;
        }
        if (!(pp->reduced[i] & PP_MINE) && pp->ready[i] &&
            atomic_load_explicit(pp_mark(pp, peer, 0, i),
                                 memory_order_acquire)) {
            rc = pp_reduce(pp, i, why, why_len);
            if (rc != 1) {
                return rc;
            }
            pp->reduced[i] |= PP_MINE;
            atomic_store_explicit(pp_mark(pp, ar->rank, 1, i), 1,
                                  memory_order_release);
            weft__shm_area_wake(ar);
        }
        if (!(pp->reduced[i] & PP_THEIRS) &&
            atomic_load_explicit(pp_mark(pp, peer, 1, i),
                                 memory_order_acquire)) {
            pp->reduced[i] |= PP_THEIRS;
        }
        if (pp->reduced[i] == PP_WHOLE) {
            pp->nreduced++;
        }
    }
    while (pp->lo < pp->nparts && pp->reduced[pp->lo] == PP_WHOLE) {
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
    } else if (!(pp->reduced[pp->waits] & PP_MINE)) {
        snprintf(buf, len,
                 "rank %d to mark partition %zu of %zu ready "
                 "(weft_pready; node-local call #%llu)",
                 1 - c->ar->rank, pp->waits, pp->nparts,
                 (unsigned long long)c->d);
    } else {
        snprintf(buf, len,
                 "rank %d to write its half of partition %zu of %zu "
                 "(node-local call #%llu)",
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
           comm->size == 2 && ar->cma &&
           weft__reduce_dtype(whole->dtype) == whole->dtype &&
           comm->ctx->cfg.shm.coll_large != WEFT_SHM_LARGE_PIPE &&
           2 * nparts <= ar->buf && whole->count * whole->esize > ar->buf &&
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
        atomic_store_explicit(pp_mark(pp, pp->c.ar->rank, 0, i), 1,
                              memory_order_release);
    }
    weft__shm_area_wake(pp->c.ar);
}

int
weft__part_shm_arrived(const weft__part_shm_t *pp, size_t i)
{
    return pp->reduced[i] == PP_WHOLE;
}
