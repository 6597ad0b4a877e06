/*
 * Shared parts of the node-local algorithms (see shm_common.h).
 */
#include "build_config.h"
#include "collectives/algos/shm_common.h"

#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "collectives/coll_desc.h"
#include "collectives/reduce_ops.h"
#include "errmsg.h"
#include "progress.h"
#include "comm.h"
#include "context.h"
#include "copy.h"

/* Seconds per flag hand-off and per byte copied in shared memory: a
 * cache-line transfer between cores, and memcpy at memory speed. */
#define SHMC_ALPHA 0.4e-6
#define SHMC_BETA (1.0 / 10e9)

/* The state's common part; dtype and op as the caller passed them, called
 * what it called (a, or the whole call a is a piece of). */
static void
shmc_init(weft__shmc_t *c, size_t size, const weft__coll_args_t *a,
          const weft__coll_args_t *called, weft_comm_t *comm, weft_dtype_t dt,
          weft_op_t op)
{
    /* not the reason text: a few hundred bytes a small call never needs */
    memset(c, 0, offsetof(weft__shmc_t, why));
    c->why[0] = '\0';
    if (size > sizeof(*c)) {
        memset((char *)c + sizeof(*c), 0, size - sizeof(*c));
    }
    c->ar = comm->shm;
    c->a = *a;
    /* larger than the buffers: piped where the kernel refuses reads or
     * when told, else copied by the kernel (one copy; broadcast at 3, 4
     * and 8 ranks on 2 cores, bound: 4 MiB 0.52-0.71 against 2.0-2.3 ms
     * piped at 3 and 4 ranks, 2.0-2.1 against 2.6 ms at 8) */
    c->pipe =
        comm->ctx->cfg.shm.coll_large == WEFT_SHM_LARGE_PIPE || !c->ar->cma;
    c->missing = -1;
    c->bounded = 0; /* after why: not cleared above */
    c->wait = "its turn (an earlier node-local call on the comm)";
    {
        weft__coll_desc_t d;

        weft__coll_desc_make(&d, called, dt, op);
        c->desc[0] = d.w[0];
        c->desc[1] = d.w[1];
    }
    c->chunk = comm->ctx->cfg.coll.chunk / (a->esize ? a->esize : 1);
    if (c->chunk == 0) {
        c->chunk = 1;
    }
}

void *
weft__shmc_build(weft__sched_t *s, const weft__coll_args_t *a, size_t size,
                 const weft__sched_poll_ops_t *ops, size_t tmp_bytes)
{
    return weft__shmc_build_as(s, a, a, size, ops, tmp_bytes);
}

void *
weft__shmc_build_as(weft__sched_t *s, const weft__coll_args_t *a,
                    const weft__coll_args_t *called, size_t size,
                    const weft__sched_poll_ops_t *ops, size_t tmp_bytes)
{
    weft_comm_t *comm = weft__sched_comm(s);
    weft__shmc_t *c = weft__sched_scratch(s, size);
    weft_dtype_t dt;
    weft_op_t op;

    if (c == NULL) {
        return NULL;
    }
    weft__sched_user_reduction(s, &dt, &op);
    shmc_init(c, size, a, called, comm, dt, op);
    c->bounded = 1;
    if (tmp_bytes > 0 && (c->tmp = weft__sched_scratch(s, tmp_bytes)) == NULL) {
        return NULL;
    }
    if (weft__sched_poll(s, ops, c) < 0) {
        return NULL;
    }
    /* numbered last: a call that cannot start leaves no gap */
    c->d = c->ar->next_d++;
    return c;
}

int
weft__shmc_turn(weft__shmc_t *c)
{
    /* every member has reached the previous call (so none is more than
     * one call ahead of another: the parity of buffers and descriptors
     * is enough); known without a look where this rank saw them all
     * reach it (ar->all_seen), as it did to finish that call */
    return c->ar->run_d == c->d && (c->ar->all_seen + 1 >= c->d ||
                                    weft__shmc_arrived(c, c->d - 1) == 1);
}

void
weft__shmc_finish(weft__shmc_t *c)
{
    c->ar->run_d = c->d + 1;
    weft__shm_area_finish(c->ar, c->d);
}

#define SHMC_STATE_MAX 512 /* bytes of the largest state run inline */

typedef struct shmc_inline {
    weft__shmc_t *c;
    const weft__sched_poll_ops_t *ops;
    weft_comm_t *comm;
    int rc;
    char why[320];
} shmc_inline_t;

static int
shmc_inline_done(void *arg)
{
    shmc_inline_t *x = arg;

    if (x->rc != 0) {
        return 1; /* finished: the wait may ask again */
    }
    /* a look first: a call whose data every member had delivered before
     * one of them ended still completes (what the segment holds stays) */
    x->rc = x->ops->poll(x->c, x->why, sizeof(x->why));
    /* else a peer lost, an abort: the comm has failed */
    return x->rc != 0 || x->comm->error != WEFT_OK;
}

static int
shmc_reduces(weft__coll_t coll)
{
    return coll == WEFT_COLL_ALLREDUCE || coll == WEFT_COLL_REDUCE_SCATTER;
}

weft_status_t
weft__shmc_run(const weft__coll_args_t *a, weft_comm_t *comm,
               const weft__sched_poll_ops_t *ops, size_t state_size,
               size_t buffered)
{
    return weft__shmc_run_as(a, a, comm, ops, state_size, buffered);
}

weft_status_t
weft__shmc_run_as(const weft__coll_args_t *a, const weft__coll_args_t *called,
                  weft_comm_t *comm, const weft__sched_poll_ops_t *ops,
                  size_t state_size, size_t buffered)
{
    weft__shm_area_t *ar = comm->shm;
    weft_context_t *ctx = comm->ctx;
    const char *name;
    union {
        weft__shmc_t c;
        char raw[SHMC_STATE_MAX];
    } state;
    shmc_inline_t x;
    weft_status_t st = WEFT_OK;

    if (ar == NULL || ar->run_d != ar->next_d || buffered > ar->buf ||
        state_size > sizeof(state) ||
        (shmc_reduces(a->coll) &&
         (weft__reduce_dtype(a->dtype) != a->dtype ||
          (a->op == WEFT_AVG && a->coll != WEFT_COLL_ALLREDUCE)))) {
        return WEFT_INPROGRESS;
    }
    shmc_init(&state.c, state_size, a, called, comm, a->dtype, a->op);
    state.c.d = ar->next_d++;
    x.c = &state.c;
    x.ops = ops;
    x.comm = comm;
    x.rc = 0;
    x.why[0] = '\0';
    if (!shmc_inline_done(&x)) {
        /* the deadline from the wait's first look at the clock */
        st = weft__progress_wait_for(ctx, shmc_inline_done, &x, 0,
                                     weft__comm_timeout(comm));
    }
    if (x.rc == 1) {
        return WEFT_OK; /* done, even if the comm failed meanwhile: the
                           next call reports that */
    }
    name = weft__coll_name(a->coll);
    if (st == WEFT_ERR_TIMED_OUT && comm->error == WEFT_OK) {
        char what[200];

        weft__shmc_describe(&state.c, what, sizeof(what));
        weft__comm_fail_here(comm, WEFT_ERR_TIMED_OUT,
                             "%s (shm) waits for %s, and did not complete "
                             "within %g s (%s)",
                             name, what, weft__comm_timeout(comm),
                             weft__comm_timeout_source(comm));
    } else if (x.rc < 0 && comm->error == WEFT_OK) {
        weft__comm_fail_here(comm, (weft_status_t)x.rc, "%s (shm): %s", name,
                             x.why);
    }
    return weft__comm_error_return(comm, name);
}

int
weft__shmc_result(const weft__shmc_t *c, int rc, char *why, size_t why_len)
{
    if (rc < 0 && c->why[0] != '\0') {
        snprintf(why, why_len, "%s", c->why);
    }
    return rc;
}

static void
shmc_desc_text(const uint64_t desc[2], char *buf, size_t len)
{
    weft__coll_desc_t d = {{desc[0], desc[1]}, 0, {0, 0}};

    weft__coll_desc_text(&d, buf, len);
}

int
weft__shmc_compare(weft__shmc_t *c, int r, const uint64_t *pd)
{
    char mine[96], theirs[96];

    if (pd != NULL && pd[0] == c->desc[0] && pd[1] == c->desc[1]) {
        return 1;
    }
    shmc_desc_text(c->desc, mine, sizeof(mine));
    if (pd != NULL) {
        shmc_desc_text(pd, theirs, sizeof(theirs));
    } else {
        snprintf(theirs, sizeof(theirs), "another collective");
    }
    snprintf(c->why, sizeof(c->why),
             "mismatch: rank %d called %s where rank %d called %s "
             "(node-local call #%llu)",
             r, theirs, c->ar->rank, mine, (unsigned long long)c->d);
    return WEFT_ERR_MISMATCH;
}

int
weft__shmc_sole_root(weft__shmc_t *c)
{
    const uint64_t *theirs = NULL;
    int r = weft__shm_area_other_call(c->ar, c->d, c->desc, &theirs);

    return r < 0 ? 1 : weft__shmc_compare(c, r, theirs);
}

/* What member r called in this call (announced in its head, or, when it
 * has finished the call without a head, a queued broadcast) against what
 * we did. */
static int
shmc_check(weft__shmc_t *c, int r)
{
    const weft__shm_area_t *ar = c->ar;

    if (weft__shm_area_head_is(ar, r, c->d)) {
        return weft__shmc_compare(c, r, weft__shm_area_head(ar, r, c->d)->desc);
    }
    return weft__shmc_compare(c, r,
                              weft__shm_area_qready(ar, r, c->d)
                                  ? weft__shm_area_qslot(ar, r, c->d)->head.desc
                                  : NULL);
}

int
weft__shmc_arrived(weft__shmc_t *c, uint64_t d)
{
    if (weft__shm_area_all_arrived(c->ar, d, &c->missing)) {
        for (int r = 0; d == c->d && r < c->ar->size; r++) {
            int rc = r == c->ar->rank ? 1 : shmc_check(c, r);

            if (rc != 1) {
                return rc;
            }
        }
        if (d > c->ar->all_seen) {
            c->ar->all_seen = d;
        }
        return 1;
    }
    c->wait = d == c->d ? "rank %d to arrive"
                        : "rank %d to finish the previous node-local call";
    return 0;
}

int
weft__shmc_all_done(weft__shmc_t *c)
{
    if (weft__shm_area_all_done(c->ar, c->d, &c->missing)) {
        return 1;
    }
    c->wait = "rank %d to finish reading this rank's buffers";
    return 0;
}

int
weft__shmc_arrived_one(weft__shmc_t *c, int r)
{
    if (weft__shm_area_reached(c->ar, r, c->d)) {
        return shmc_check(c, r);
    }
    c->missing = r;
    c->wait = "rank %d to arrive";
    return 0;
}

int
weft__shmc_piece_ready(weft__shmc_t *c, int r, size_t n)
{
    if (atomic_load_explicit(&c->ar->ctl[r]->prog, memory_order_acquire) >=
        WEFT_SHM_PROG(c->d, n)) {
        return 1;
    }
    c->missing = r;
    c->wait = "rank %d to publish its next piece";
    return 0;
}

int
weft__shmc_taken(weft__shmc_t *c, size_t n)
{
    weft__shm_area_t *ar = c->ar;

    for (int r = 0; r < ar->size; r++) {
        if (r != ar->rank &&
            atomic_load_explicit(&ar->ctl[r]->cons, memory_order_acquire) <
                WEFT_SHM_PROG(c->d, n)) {
            c->missing = r;
            c->wait = "rank %d to take the pieces this rank published";
            return 0;
        }
    }
    return 1;
}

int
weft__shmc_exchange(weft__shmc_t *c, const weft__shmc_exchange_t *x)
{
    weft__shm_area_t *ar = c->ar;
    size_t n = (x->blk + x->piece - 1) / x->piece;
    size_t depth = 2 * ar->buf / x->slot, me = (size_t)ar->rank;
    int rc;

    if (c->phase == 0) {
        weft__shm_area_arrive(ar, c->d, c->desc, NULL, NULL, NULL);
        if (x->own != NULL) {
            weft__shmc_copy(c, (uint8_t *)c->a.recvbuf + me * x->blk, x->own,
                            x->blk, x->footprint);
        }
        c->phase = 1;
    }
    if (c->phase == 1) {
        /* every member has finished the previous call: the rings may
         * overwrite both buffers */
        if ((rc = weft__shmc_arrived(c, c->d)) <= 0) {
            return rc;
        }
        c->phase = 2;
    }
    for (; c->piece < n; c->piece++, c->peer = 0) {
        size_t off = c->piece * x->piece, at = (c->piece % depth) * x->slot;
        size_t len = x->blk - off < x->piece ? x->blk - off : x->piece;

        if (c->peer == 0) {
            if (c->piece >= depth &&
                !weft__shmc_taken(c, c->piece + 1 - depth)) {
                return 0;
            }
            x->put(c, x, weft__shm_area_ring(ar, ar->rank) + at, off, len);
            weft__shm_area_progress(ar, WEFT_SHM_PROG(c->d, c->piece + 1));
            c->peer = 1;
        }
        for (; c->peer < ar->size; c->peer++) {
            int r = (ar->rank + c->peer) % ar->size;

            if (!weft__shmc_piece_ready(c, r, c->piece + 1)) {
                return 0;
            }
            x->take(c, x, r, weft__shm_area_ring(ar, r) + at, off, len);
        }
        weft__shm_area_consumed(ar, WEFT_SHM_PROG(c->d, c->piece + 1));
    }
    if (!weft__shmc_taken(c, n)) {
        return 0;
    }
    weft__shmc_finish(c);
    return 1;
}

size_t
weft__shmc_ring_slot(const weft__shmc_t *c, size_t unit)
{
    size_t ring = 2 * c->ar->buf, slot = ring / WEFT_SHMC_RING_DEPTH;

    slot -= slot % unit;
    return slot > 0 ? slot : unit;
}

void
weft__shmc_describe(const void *state, char *buf, size_t len)
{
    const weft__shmc_t *c = state;
    char what[96];

    snprintf(what, sizeof(what), c->wait, c->missing);
    snprintf(buf, len, "%s (node-local call #%llu)", what,
             (unsigned long long)c->d);
}

void
weft__shmc_publish(weft__shmc_t *c, const void *src, size_t bytes)
{
    weft__shm_area_t *ar = c->ar;

    c->inl = weft__shmc_inline(bytes);
    if (c->inl) {
        weft__shm_area_arrive_data(ar, c->d, c->desc, src, bytes);
        return;
    }
    memcpy(weft__shm_area_buf(ar, ar->rank, c->d), src, bytes);
    weft__shm_area_arrive(ar, c->d, c->desc, NULL, NULL, NULL);
}

const uint8_t *
weft__shmc_data(const weft__shmc_t *c, int r)
{
    if (c->inl) {
        return weft__shm_area_head(c->ar, r, c->d)->u.data;
    }
    return weft__shm_area_buf(c->ar, r, c->d);
}

int
weft__shmc_streams(const weft__shm_area_t *ar, size_t footprint)
{
    return footprint > ar->cache / (size_t)ar->size;
}

void
weft__shmc_copy(const weft__shmc_t *c, void *dst, const void *src, size_t n,
                size_t footprint)
{
    if (weft__shmc_streams(c->ar, footprint)) {
        weft__copy_stream(dst, src, n);
    } else {
        memcpy(dst, src, n);
    }
}

void
weft__shmc_avg(const weft__shmc_t *c, void *dst, size_t count)
{
    if (c->a.op == WEFT_AVG) {
        weft__reduce_avg(c->a.dtype, dst, count, c->ar->size);
    }
}

void
weft__shmc_reduce_bufs(weft__shmc_t *c, void *dst, size_t off, size_t count)
{
    weft__shm_area_t *ar = c->ar;
    const weft__coll_args_t *a = &c->a;

    weft__reduce3(a->dtype, a->op, dst, weft__shmc_data(c, 0) + off,
                  weft__shmc_data(c, 1) + off, count);
    for (int r = 2; r < ar->size; r++) {
        weft__reduce(a->dtype, a->op, dst, weft__shmc_data(c, r) + off, count);
    }
}

const char *
weft__shmc_supported(const weft_comm_t *comm, size_t buffered, int large)
{
    if (comm->shm == NULL) {
        return "cannot run this: the comm has no shared area (its ranks "
               "are not all on one node reached through shm, or no "
               "WEFT_SHM_COLL_SLOTS slot was free)";
    }
    if (buffered <= comm->shm->buf) {
        return NULL;
    }
    if (large & WEFT_SHMC_PIPES) {
        return NULL;
    }
    if (!(large & WEFT_SHMC_READS)) {
        return "cannot run this: the data does not fit the shared buffers "
               "(WEFT_SHM_COLL_BUF) and this call cannot read the peers' "
               "buffers";
    }
    if (!comm->shm->cma) {
        return "cannot run this: the data does not fit the shared buffers "
               "(WEFT_SHM_COLL_BUF) and the kernel refuses reads of the "
               "peers' memory (process_vm_readv)";
    }
    return NULL;
}

int
weft__shmc_fit_measured(const weft__shm_area_t *ar, size_t buffered,
                        size_t result)
{
    return ar != NULL && (ar->size == 2 ? ar->measure_pair : ar->measure) &&
           result > WEFT_SHMC_FIT_MEASURE_MIN && buffered <= ar->fit;
}

size_t
weft__shmc_pair_buffered(const weft__shm_area_t *ar, size_t buffered,
                         size_t result)
{
    return ar != NULL && ar->size == 2 && ar->cma &&
                   result > WEFT_SHMC_PAIR_BUFFERED_MAX
               ? SIZE_MAX
               : buffered;
}

size_t
weft__shmc_fits(const weft__shm_area_t *ar, size_t buffered)
{
    return ar != NULL && buffered > ar->fit ? SIZE_MAX : buffered;
}

int
weft__shmc_buffered(const weft_comm_t *comm, size_t buffered)
{
    return buffered <= comm->shm->buf;
}

double
weft__shmc_cost(const weft__cost_t *m, double rounds, double bytes,
                double reduced)
{
    return rounds * SHMC_ALPHA + bytes * SHMC_BETA + reduced * m->gamma;
}
