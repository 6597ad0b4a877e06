/*
 * Partitioned collectives (weft_allreduce_init & co., weft/partitioned.h).
 *
 * A partitioned request is a persistent parent of P partitions. Each
 * partition is an ordinary collective on its slice of the buffers, its
 * algorithm chosen once at init. weft_start builds and starts all P, in
 * partition order on every rank (so their sequence numbers, descriptors
 * and node-local turns agree however the producer orders its weft_pready
 * calls), each gated (weft__sched_gate): only receives that land outside
 * the partition's input run before the producer marks it ready; weft_pready
 * opens the gate. The parent completes when every partition is marked and
 * done, or at the first error (the comm has failed: the rest are
 * cancelled with it).
 *
 * Slices: allreduce and reduce_scatter split the whole input (a
 * reduce_scatter partition is a reduce_scatter_v with each rank's share of
 * the range); allgather and alltoall split each block (an allgatherv /
 * alltoallv with displacements).
 */
#include "build_config.h"
#include "collectives/coll_part.h"

#include <stdlib.h>
#include <string.h>
#include <weft/partitioned.h>

#include "clock.h"
#include "stamp.h"
#include "collectives/algo.h"
#include "collectives/coll_args.h"
#include "collectives/coll_part_shm.h"
#include "collectives/reduce_ops.h"
#include "collectives/select.h"
#include "context.h"
#include "errmsg.h"
#include "progress.h"
#include "req_callback.h"
#include "request.h"

/* Every partition takes a collective sequence number per start (the
 * engine has 2^20). */
#define PART_MAX 65536

struct weft__part {
    weft__coll_args_t whole; /* the call as made (checked) */
    size_t nparts;
    int size, me;            /* the comm's */
    size_t split;            /* elements split into partitions */
    weft__coll_args_t *args; /* [nparts] each partition's call */
    const weft__algo_t **algo;
    size_t *counts;        /* v-arrays of the partitions' calls */
    weft_request_t **subs; /* [nsubs] while started */
    size_t nsubs;          /* nparts, or 1 for the node-local form */
    int shm;               /* every partition in one node-local call */
    weft__part_shm_t *pp;  /* its state, while started */
    uint8_t *ready;        /* [nparts] marked in this start */
    size_t nready, ndone;
    int started;          /* started at least once */
    int active;           /* started, and not yet finished by a wait or test */
    weft_status_t status; /* the first error of this start */
    /* weft_request_stats of the start: its released partitions' part */
    uint64_t sent, received;
    double first_byte_s;
};

static void
part_free(weft__part_t *p)
{
    if (p == NULL) {
        return;
    }
    free(p->args);
    free(p->algo);
    free(p->counts);
    free(p->subs);
    free(p->ready);
    free(p);
}

/* Elements [lo, lo + n) of block b (length len, starting at b * len)
 * that fall in [a, z). */
static size_t
part_overlap(size_t a, size_t z, size_t b, size_t len, size_t *from_p)
{
    size_t lo = b * len, hi = lo + len;
    size_t from = a > lo ? a : lo, to = z < hi ? z : hi;

    if (to <= from) {
        *from_p = 0; /* none: the block's start, never written */
        return 0;
    }
    *from_p = from - lo;
    return to - from;
}

/* The schedule of a partition writes its result again after the
 * algorithm (AVG's division where the algorithm does not divide itself,
 * 16-bit floats staged in fp32 scratch): the peers may still be reading
 * the buffers the algorithm left (a node-local allreduce copies the
 * others' blocks from their result buffers), so such a partition waits
 * for them like a last one. */
static int
part_writes_after(const weft__coll_args_t *w, const weft__algo_t *algo)
{
    return (w->coll == WEFT_COLL_ALLREDUCE ||
            w->coll == WEFT_COLL_REDUCE_SCATTER) &&
           ((w->op == WEFT_AVG && !algo->avg) ||
            weft__reduce_dtype(w->dtype) != w->dtype);
}

/* Fill partition i's call from the whole call. */
static void
part_slice(weft__part_t *p, size_t i, int size, int me)
{
    const weft__coll_args_t *w = &p->whole;
    weft__coll_args_t *a = &p->args[i];
    size_t lo, n, from;
    size_t *c = p->counts + i * 4 * (size_t)size;
    size_t *c2 = c + size, *c3 = c2 + size, *c4 = c3 + size;

    weft__block(p->split, (int)p->nparts, (int)i, &lo, &n);
    *a = *w;
    a->part_follows = 0; /* part_plan, once the algorithm is chosen */
    switch (w->coll) {
    case WEFT_COLL_ALLREDUCE:
        a->sendbuf = weft__cat(w->sendbuf, lo, w->esize);
        a->recvbuf = weft__at(w->recvbuf, lo, w->esize);
        a->count = n;
        break;
    case WEFT_COLL_REDUCE_SCATTER:
        a->coll = WEFT_COLL_REDUCE_SCATTER_V;
        a->sendbuf = weft__cat(w->sendbuf, lo, w->esize);
        for (int r = 0; r < size; r++) {
            c[r] = part_overlap(lo, lo + n, (size_t)r, w->count, &from);
            if (r == me) {
                a->recvbuf = weft__at(w->recvbuf, from, w->esize);
            }
        }
        a->rcounts = c;
        a->count = 0;
        break;
    case WEFT_COLL_ALLGATHER:
        a->coll = WEFT_COLL_ALLGATHERV;
        a->sendbuf =
            w->inplace ? a->recvbuf : weft__cat(w->sendbuf, lo, w->esize);
        for (int r = 0; r < size; r++) {
            c[r] = n;
            c2[r] = (size_t)r * w->count + lo;
        }
        a->rcounts = c;
        a->rdispls = c2;
        a->count = n;
        break;
    default: /* WEFT_COLL_ALLTOALL */
        a->coll = WEFT_COLL_ALLTOALLV;
        for (int r = 0; r < size; r++) {
            c[r] = c3[r] = n;
            c2[r] = c4[r] = (size_t)r * w->count + lo;
        }
        a->scounts = c;
        a->sdispls = c2;
        a->rcounts = c3;
        a->rdispls = c4;
        a->count = 0;
        break;
    }
}

/* The input partition i's producer writes: the gate's range. */
static void
part_input(const weft__part_t *p, size_t i, const void **lo_p, size_t *bytes_p)
{
    const weft__coll_args_t *w = &p->whole;
    const void *in = w->inplace ? w->recvbuf : w->sendbuf;
    size_t lo, n;

    weft__block(p->split, (int)p->nparts, (int)i, &lo, &n);
    switch (w->coll) {
    case WEFT_COLL_ALLTOALL: /* the same range of every block: all */
        *lo_p = in;
        *bytes_p = w->count * (size_t)p->size * w->esize;
        break;
    case WEFT_COLL_ALLGATHER:
        *lo_p = w->inplace ? weft__cat(w->recvbuf,
                                       (size_t)p->me * w->count + lo, w->esize)
                           : weft__cat(w->sendbuf, lo, w->esize);
        *bytes_p = n * w->esize;
        break;
    default:
        *lo_p = weft__cat(in, lo, w->esize);
        *bytes_p = n * w->esize;
        break;
    }
}

/* ---- completion ------------------------------------------------------- */

static void
part_check_done(weft_request_t *req)
{
    weft__part_t *p = req->part;

    if (!req->done && p->ndone == p->nsubs &&
        (p->nready == p->nparts || p->status != WEFT_OK)) {
        weft__req_complete(req, p->status, 0);
    }
}

void
weft__part_sub_done(weft_request_t *req, weft_request_t *sub)
{
    weft__part_t *p = req->part;

    p->ndone++;
    if (sub->status != WEFT_OK && p->status == WEFT_OK) {
        p->status = sub->status;
    }
    part_check_done(req);
}

void
weft__part_cancel(weft_request_t *req, weft_status_t status)
{
    weft__part_t *p = req->part;

    if (p->status == WEFT_OK) {
        p->status = status;
    }
    for (size_t i = 0; i < p->nsubs && p->subs[i] != NULL; i++) {
        weft__req_cancel(p->subs[i], status); /* counted as done */
    }
    part_check_done(req);
    if (!req->done) {
        weft__req_complete(req, p->status, 0);
    }
}

void
weft__part_deactivate(weft_request_t *req)
{
    weft__part_t *p = req->part;
    const char *algo;

    /* what the start moved stays readable (weft_request_stats) */
    weft__part_stats(req, &p->sent, &p->received, &p->first_byte_s, &algo);
    p->pp = NULL; /* freed with its schedule */
    for (size_t i = 0; i < p->nsubs; i++) {
        if (p->subs[i] != NULL) {
            p->subs[i]->parent = NULL;
            weft__req_release(p->subs[i]);
            p->subs[i] = NULL;
        }
    }
}

void
weft__part_free(weft_request_t *req)
{
    weft__part_deactivate(req);
    req->comm->npersistent--;
    part_free(req->part);
    req->part = NULL;
}

void
weft__part_describe(const weft_request_t *req, char *buf, size_t len)
{
    const weft__part_t *p = req->part;
    const char *name = weft__coll_name(p->whole.coll);

    for (size_t i = 0; i < p->nsubs; i++) {
        if (p->subs[i] != NULL && !p->subs[i]->done) {
            weft__sched_describe(p->subs[i]->sched, buf, len);
            return;
        }
    }
    for (size_t i = 0; i < p->nparts; i++) {
        if (!p->ready[i]) {
            snprintf(buf, len,
                     "partitioned %s: partition %zu of %zu was not marked "
                     "ready (weft_pready)",
                     name, i, p->nparts);
            return;
        }
    }
    snprintf(buf, len, "partitioned %s: %zu of %zu partitions done", name,
             p->ndone, p->nparts);
}

void
weft__part_stats(const weft_request_t *req, uint64_t *sent_p,
                 uint64_t *received_p, double *first_byte_p,
                 const char **algo_p)
{
    const weft__part_t *p = req->part;

    *sent_p = p->sent;
    *received_p = p->received;
    *first_byte_p = p->first_byte_s;
    *algo_p = p->shm ? "shm (partitioned)" : p->algo[0]->name;
    for (size_t i = 0; i < p->nsubs; i++) {
        uint64_t s, r;
        double f;
        const char *a;

        if (p->subs[i] == NULL) {
            continue;
        }
        weft__sched_stats(p->subs[i]->sched, &s, &r, &f, &a);
        *sent_p += s;
        *received_p += r;
        if (f > 0 && (*first_byte_p == 0 || f < *first_byte_p)) {
            *first_byte_p = f;
        }
    }
}

/* ---- init ---------------------------------------------------------------- */

static weft_status_t
part_alloc(weft__part_t *p, int size)
{
    size_t n = p->nparts;

    p->args = calloc(n, sizeof(*p->args));
    p->algo = calloc(n, sizeof(*p->algo));
    p->counts = calloc(n * 4 * (size_t)size, sizeof(*p->counts));
    p->subs = calloc(n, sizeof(*p->subs));
    p->ready = calloc(n, 1);
    if (p->args == NULL || p->algo == NULL || p->counts == NULL ||
        p->subs == NULL || p->ready == NULL) {
        return weft__error(WEFT_ERR_NO_MEMORY, WEFT_SUB_COLL,
                           "out of memory for %zu partitions", n);
    }
    return WEFT_OK;
}

/* Split, check and select each partition's call (lock held). */
static weft_status_t
part_plan(const char *fn, weft__part_t *p, weft_comm_t *comm)
{
    for (size_t i = 0; i < p->nparts; i++) {
        part_slice(p, i, comm->size, comm->rank);
        WEFT_CHECK(weft__coll_args_check(fn, &p->args[i], comm));
        WEFT_CHECK(weft__select(&p->args[i], comm, &p->algo[i]));
        /* started in partition order: the next one's wait covers this
         * one (the algorithm does not depend on it) */
        p->args[i].part_follows =
            i + 1 < p->nparts && !part_writes_after(&p->whole, p->algo[i]);
    }
    p->shm = weft__part_shm_fits(&p->whole, p->nparts, comm, p->algo[0]->name);
    p->nsubs = p->shm ? 1 : p->nparts;
    return WEFT_OK;
}

static weft_status_t
part_init(const char *fn, weft__coll_args_t *w, size_t partitions,
          weft_comm_t *comm, weft_request_t **req_p)
{
    weft_context_t *ctx;
    weft__part_t *p;
    weft_request_t *req;
    weft_status_t st;

    WEFT_ARG_CHECK(req_p != NULL, "%s: req_p is NULL", fn);
    WEFT_CHECK(weft__comm_check(comm, fn));
    WEFT_ARG_CHECK(partitions >= 1 && partitions <= PART_MAX,
                   "%s: partitions %zu is out of range [1, %d]", fn, partitions,
                   PART_MAX);
    WEFT_CHECK(weft__coll_args_check(fn, w, comm));
    WEFT_ARG_CHECK(!(w->inplace && w->coll == WEFT_COLL_REDUCE_SCATTER),
                   "%s: in place (sendbuf == recvbuf) is not supported: "
                   "the results would overwrite input that the producer "
                   "may still be writing",
                   fn);
    p = calloc(1, sizeof(*p));
    if (p == NULL) {
        return weft__error(WEFT_ERR_NO_MEMORY, WEFT_SUB_COLL,
                           "%s: out of memory", fn);
    }
    p->whole = *w;
    p->nparts = partitions;
    p->size = comm->size;
    p->me = comm->rank;
    p->split = w->coll == WEFT_COLL_REDUCE_SCATTER
                   ? w->count * (size_t)comm->size
                   : w->count;
    st = part_alloc(p, comm->size);
    if (st != WEFT_OK) {
        part_free(p);
        return st;
    }
    ctx = comm->ctx;
    weft__ctx_lock(ctx);
    st = comm->error != WEFT_OK ? weft__comm_error_return(comm, fn)
                                : part_plan(fn, p, comm);
    if (st == WEFT_OK) {
        st = weft__req_create(comm, WEFT_REQ_PART, &req);
    }
    if (st != WEFT_OK) {
        weft__ctx_unlock(ctx);
        part_free(p);
        return st;
    }
    weft__req_persist(req); /* inactive until weft_start */
    req->part = p;
    comm->npersistent++;
    weft__ctx_unlock(ctx);
    *req_p = req;
    return WEFT_OK;
}

weft_status_t
weft_allreduce_init(const void *sendbuf, void *recvbuf, size_t count,
                    weft_dtype_t dtype, weft_op_t op, size_t partitions,
                    weft_comm_t *comm, weft_request_t **req_p)
{
    weft__coll_args_t a = {.coll = WEFT_COLL_ALLREDUCE,
                           .sendbuf = sendbuf,
                           .recvbuf = recvbuf,
                           .count = count,
                           .dtype = dtype,
                           .op = op};

    return part_init("weft_allreduce_init", &a, partitions, comm, req_p);
}

weft_status_t
weft_reduce_scatter_init(const void *sendbuf, void *recvbuf, size_t recvcount,
                         weft_dtype_t dtype, weft_op_t op, size_t partitions,
                         weft_comm_t *comm, weft_request_t **req_p)
{
    weft__coll_args_t a = {.coll = WEFT_COLL_REDUCE_SCATTER,
                           .sendbuf = sendbuf,
                           .recvbuf = recvbuf,
                           .count = recvcount,
                           .dtype = dtype,
                           .op = op};

    return part_init("weft_reduce_scatter_init", &a, partitions, comm, req_p);
}

weft_status_t
weft_allgather_init(const void *sendbuf, void *recvbuf, size_t sendcount,
                    weft_dtype_t dtype, size_t partitions, weft_comm_t *comm,
                    weft_request_t **req_p)
{
    weft__coll_args_t a = {.coll = WEFT_COLL_ALLGATHER,
                           .sendbuf = sendbuf,
                           .recvbuf = recvbuf,
                           .count = sendcount,
                           .dtype = dtype};

    return part_init("weft_allgather_init", &a, partitions, comm, req_p);
}

weft_status_t
weft_alltoall_init(const void *sendbuf, void *recvbuf, size_t count,
                   weft_dtype_t dtype, size_t partitions, weft_comm_t *comm,
                   weft_request_t **req_p)
{
    weft__coll_args_t a = {.coll = WEFT_COLL_ALLTOALL,
                           .sendbuf = sendbuf,
                           .recvbuf = recvbuf,
                           .count = count,
                           .dtype = dtype};

    return part_init("weft_alltoall_init", &a, partitions, comm, req_p);
}

/* ---- start, ready, arrived ---------------------------------------------- */

static weft_status_t
part_check(const weft_request_t *req, const char *fn)
{
    WEFT_CHECK(weft__req_check(req, fn));
    WEFT_ARG_CHECK(req->kind == WEFT_REQ_PART,
                   "%s: not a partitioned request (one made by "
                   "weft_allreduce_init or another *_init call)",
                   fn);
    return WEFT_OK;
}

/* Start partition i, gated (lock held). */
static weft_status_t
part_start_one(weft_request_t *req, size_t i)
{
    weft__part_t *p = req->part;
    weft__sched_t *s = NULL;
    weft_request_t *sub = NULL;
    const void *lo;
    size_t bytes;
    char what[48];

    WEFT_CHECK(weft__coll_prepare(&p->args[i], req->comm, p->algo[i], &s));
    part_input(p, i, &lo, &bytes);
    weft__sched_gate(s, lo, bytes);
    snprintf(what, sizeof(what), "%s partition %zu of %zu",
             weft__coll_name(p->whole.coll), i, p->nparts);
    WEFT_CHECK(weft__sched_start(s, what, &sub));
    p->subs[i] = sub;
    sub->parent = req;
    if (sub->done) { /* nothing to move, or failed at once */
        weft__part_sub_done(req, sub);
    }
    return WEFT_OK;
}

/* Start every partition as one node-local call (lock held). */
static weft_status_t
part_start_shm(weft_request_t *req)
{
    weft__part_t *p = req->part;
    weft__sched_t *s = NULL;
    weft_request_t *sub = NULL;
    char what[48];

    WEFT_CHECK(weft__part_shm_prepare(req->comm, &p->whole, p->nparts, p->ready,
                                      &s, &p->pp));
    snprintf(what, sizeof(what), "partitioned %s",
             weft__coll_name(p->whole.coll));
    WEFT_CHECK(weft__sched_start(s, what, &sub));
    p->subs[0] = sub;
    sub->parent = req;
    if (sub->done) { /* failed at once */
        weft__part_sub_done(req, sub);
    }
    return WEFT_OK;
}

weft_status_t
weft_start(weft_request_t *req)
{
    weft_context_t *ctx;
    weft__part_t *p;
    weft_status_t st = WEFT_OK;

    WEFT_CHECK(part_check(req, "weft_start"));
    ctx = req->ctx;
    p = req->part;
    weft__ctx_lock(ctx);
    if (p->active) {
        weft__ctx_unlock(ctx);
        return weft__error(WEFT_ERR_INVALID_ARG, WEFT_SUB_COLL,
                           "weft_start: the request is active already "
                           "(started, and not yet finished by weft_wait or "
                           "weft_test)");
    }
    weft__progress_store_due(ctx);
    if (req->comm->error != WEFT_OK) {
        st = weft__comm_error_return(req->comm, "weft_start");
        weft__ctx_unlock(ctx);
        return st;
    }
    memset(p->ready, 0, p->nparts);
    p->nready = p->ndone = 0;
    p->status = WEFT_OK;
    p->sent = p->received = 0;
    p->first_byte_s = 0;
    p->active = p->started = 1;
    req->done = 0;
    req->status = WEFT_OK;
    req->posted = weft__stamp();
    req->completed_s = 0;
    if (req->cb == NULL) {
        req->cb_set = 0; /* the last start's callback has fired */
    }
    if (p->shm) {
        st = part_start_shm(req);
    }
    for (size_t i = 0; !p->shm && i < p->nparts && st == WEFT_OK; i++) {
        st = part_start_one(req, i);
    }
    if (st != WEFT_OK) {
        /* the other ranks started theirs: fail the comm for all */
        weft__comm_fail_here(req->comm, st, "weft_start: %s",
                             weft_last_error());
        weft__part_cancel(req, st);
        weft__part_deactivate(req);
        p->active = 0;
        st = weft__comm_error_return(req->comm, "weft_start");
    }
    weft__ctx_unlock(ctx);
    return st;
}

/* Mark first..last ready (checked) and let them run (lock held). */
static void
part_ready(weft_request_t *req, size_t first, size_t last)
{
    weft__part_t *p = req->part;

    for (size_t i = first; i <= last; i++) {
        p->ready[i] = 1;
        p->nready++;
        if (!p->shm && p->subs[i] != NULL && !p->subs[i]->done) {
            weft__sched_open(p->subs[i]->sched);
        }
    }
    if (p->pp != NULL && !p->subs[0]->done) {
        weft__part_shm_ready(p->pp, first, last);
    }
    /* The work starts at the next progress point (the progress thread,
     * woken here, or the caller's next weft call), not inside this call:
     * the producer goes straight back to producing, and a reduction that
     * was ready runs in the caller's progress calls or the thread, where
     * it overlaps the production of the next partitions. */
    part_check_done(req);
    weft__progress_poke(req->ctx);
}

weft_status_t
weft_pready_range(weft_request_t *req, size_t first, size_t last)
{
    weft_context_t *ctx;
    weft__part_t *p;
    weft_status_t st = WEFT_OK;

    WEFT_CHECK(part_check(req, "weft_pready"));
    ctx = req->ctx;
    p = req->part;
    WEFT_ARG_CHECK(first <= last && last < p->nparts,
                   "weft_pready: partitions %zu..%zu are not within [0, "
                   "%zu)",
                   first, last, p->nparts);
    weft__ctx_lock(ctx);
    if (!p->active) {
        st = weft__error(WEFT_ERR_INVALID_ARG, WEFT_SUB_COLL,
                         "weft_pready: the request is not active (call "
                         "weft_start first)");
    }
    for (size_t i = first; i <= last && st == WEFT_OK; i++) {
        if (p->ready[i]) {
            st = weft__error(WEFT_ERR_INVALID_ARG, WEFT_SUB_COLL,
                             "weft_pready: partition %zu was marked ready "
                             "already in this start",
                             i);
        }
    }
    if (st == WEFT_OK) {
        part_ready(req, first, last);
        if (p->status != WEFT_OK) {
            st = weft__comm_error_return(req->comm, "weft_pready");
        }
    }
    weft__req_cb_fire(ctx);
    weft__ctx_unlock(ctx);
    return st;
}

weft_status_t
weft_pready(weft_request_t *req, size_t partition)
{
    return weft_pready_range(req, partition, partition);
}

weft_status_t
weft_parrived(weft_request_t *req, size_t partition, int *arrived_p)
{
    weft_context_t *ctx;
    weft__part_t *p;
    weft_request_t *sub;
    weft_status_t st = WEFT_OK;

    WEFT_CHECK(part_check(req, "weft_parrived"));
    WEFT_ARG_CHECK(arrived_p != NULL, "weft_parrived: arrived_p is NULL");
    ctx = req->ctx;
    p = req->part;
    WEFT_ARG_CHECK(partition < p->nparts,
                   "weft_parrived: partition %zu is not within [0, %zu)",
                   partition, p->nparts);
    *arrived_p = 0;
    weft__ctx_lock(ctx);
    if (!p->started) {
        st = weft__error(WEFT_ERR_INVALID_ARG, WEFT_SUB_COLL,
                         "weft_parrived: the request was never started");
    } else if (!p->active) { /* the last start finished */
        *arrived_p = p->status == WEFT_OK;
    } else {
        sub = p->subs[p->shm ? 0 : partition];
        if (!sub->done) {
            weft__progress(ctx);
        }
        *arrived_p = sub->done       ? sub->status == WEFT_OK
                     : p->pp != NULL ? weft__part_shm_arrived(p->pp, partition)
                                     : 0;
    }
    if (st == WEFT_OK && p->status != WEFT_OK) {
        st = weft__comm_error_return(req->comm, "weft_parrived");
    }
    weft__req_cb_fire(ctx);
    weft__ctx_unlock(ctx);
    return st;
}

weft_status_t
weft_partition_extent(const weft_request_t *req, size_t partition,
                      size_t *first_p, size_t *count_p)
{
    const weft__part_t *p;

    WEFT_CHECK(part_check(req, "weft_partition_extent"));
    WEFT_ARG_CHECK(first_p != NULL && count_p != NULL,
                   "weft_partition_extent: first_p or count_p is NULL");
    p = req->part;
    WEFT_ARG_CHECK(partition < p->nparts,
                   "weft_partition_extent: partition %zu is not within "
                   "[0, %zu)",
                   partition, p->nparts);
    weft__block(p->split, (int)p->nparts, (int)partition, first_p, count_p);
    return WEFT_OK;
}

void
weft__part_finish(weft_request_t *req)
{
    weft__part_deactivate(req);
    req->part->active = 0;
}
