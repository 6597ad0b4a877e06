/*
 * Starting a collective: pick the algorithm, build its schedule (wrapped,
 * for fp16/bf16 and AVG, in the fp32 accumulation and the final division
 * the API promises), start it.
 */
#include "build_config.h"
#include "collectives/coll.h"

#include <string.h>

#include "collectives/algo.h"
#include "collectives/coll_args.h"
#include "collectives/reduce_ops.h"
#include "collectives/select.h"
#include "context.h"
#include "errmsg.h"
#include "log.h"
#include "progress.h"

static const char *const coll_names[WEFT_COLL_COUNT] = {
    [WEFT_COLL_ALLREDUCE] = "allreduce",
    [WEFT_COLL_REDUCE] = "reduce",
    [WEFT_COLL_BROADCAST] = "broadcast",
    [WEFT_COLL_ALLGATHER] = "allgather",
    [WEFT_COLL_ALLGATHERV] = "allgatherv",
    [WEFT_COLL_REDUCE_SCATTER] = "reduce_scatter",
    [WEFT_COLL_REDUCE_SCATTER_V] = "reduce_scatter_v",
    [WEFT_COLL_ALLTOALL] = "alltoall",
    [WEFT_COLL_ALLTOALLV] = "alltoallv",
    [WEFT_COLL_GATHER] = "gather",
    [WEFT_COLL_SCATTER] = "scatter",
    [WEFT_COLL_BARRIER] = "barrier",
};

const char *
weft__coll_name(weft__coll_t coll)
{
    return (unsigned)coll < WEFT_COLL_COUNT ? coll_names[coll] : NULL;
}

int
weft__coll_by_name(const char *name)
{
    for (int c = 0; c < WEFT_COLL_COUNT && name != NULL; c++) {
        if (strcmp(coll_names[c], name) == 0) {
            return c;
        }
    }
    return -1;
}

static size_t
coll_vsum(const size_t *counts, int n)
{
    size_t sum = 0;

    for (int r = 0; r < n && counts != NULL; r++) {
        sum += counts[r];
    }
    return sum;
}

size_t
weft__coll_bytes(const weft__coll_args_t *a, int size)
{
    size_t n = (size_t)size;

    switch (a->coll) {
    case WEFT_COLL_ALLGATHER:
    case WEFT_COLL_ALLTOALL:
    case WEFT_COLL_REDUCE_SCATTER:
    case WEFT_COLL_GATHER:
    case WEFT_COLL_SCATTER:
        return a->count * n * a->esize;
    case WEFT_COLL_ALLGATHERV:
    case WEFT_COLL_REDUCE_SCATTER_V:
        return coll_vsum(a->rcounts, size) * a->esize;
    case WEFT_COLL_ALLTOALLV:
        return coll_vsum(a->scounts, size) * a->esize;
    case WEFT_COLL_BARRIER:
        return 0;
    default:
        return a->count * a->esize;
    }
}

/* Elements of the reduction's input and of this rank's result. */
static void
coll_reduce_extent(const weft__coll_args_t *a, const weft_comm_t *comm,
                   size_t *in_p, size_t *out_p)
{
    switch (a->coll) {
    case WEFT_COLL_REDUCE_SCATTER:
        *in_p = a->count * (size_t)comm->size;
        *out_p = a->count;
        break;
    case WEFT_COLL_REDUCE_SCATTER_V:
        *in_p = coll_vsum(a->rcounts, comm->size);
        *out_p = a->rcounts[comm->rank];
        break;
    case WEFT_COLL_REDUCE:
        *in_p = a->count;
        *out_p = a->root == comm->rank ? a->count : 0;
        break;
    default:
        *in_p = *out_p = a->count;
        break;
    }
}

static int
coll_reduces(weft__coll_t coll)
{
    return coll == WEFT_COLL_ALLREDUCE || coll == WEFT_COLL_REDUCE ||
           coll == WEFT_COLL_REDUCE_SCATTER ||
           coll == WEFT_COLL_REDUCE_SCATTER_V;
}

/*
 * fp16/bf16: convert the input to fp32 scratch, run the algorithm in fp32,
 * divide (AVG) and round once into the caller's buffer. fp32/fp64 AVG:
 * the algorithm sums, then the result is divided.
 */
static weft_status_t
coll_build(weft__sched_t *s, const weft__algo_t *algo,
           const weft__coll_args_t *a, weft_comm_t *comm)
{
    weft__coll_args_t w = *a;
    weft_dtype_t rdt = weft__reduce_dtype(a->dtype);
    size_t in = 0, out = 0;
    const void *input;
    void *sin, *sout;
    weft_status_t st;

    if (!coll_reduces(a->coll) ||
        (a->op == WEFT_AVG && rdt == a->dtype && algo->avg)) {
        return algo->build(s, a);
    }
    w.op = a->op == WEFT_AVG ? WEFT_SUM : a->op;
    weft__sched_set_reduction(s, rdt, w.op);
    coll_reduce_extent(a, comm, &in, &out);
    if (rdt == a->dtype) {
        WEFT_CHECK(algo->build(s, &w));
        if (a->op == WEFT_AVG && out > 0) {
            weft__sched_fence(s);
            weft__sched_scale(s, a->recvbuf, out);
        }
        return WEFT_OK;
    }
    /* 16-bit floats: the algorithm runs on fp32 copies */
    input = a->inplace ? a->recvbuf : a->sendbuf;
    sin = weft__sched_scratch(s, in * sizeof(float));
    sout = a->coll == WEFT_COLL_ALLREDUCE || a->coll == WEFT_COLL_REDUCE
               ? sin
               : weft__sched_scratch(s, out * sizeof(float));
    if (sin == NULL || sout == NULL) {
        return WEFT_OK; /* reported by weft__sched_start */
    }
    w.dtype = WEFT_FLOAT32;
    w.esize = sizeof(float);
    w.sendbuf = sin;
    w.recvbuf = sout;
    w.inplace = sin == sout;
    weft__sched_convert(s, sin, WEFT_FLOAT32, input, a->dtype, in);
    weft__sched_fence(s);
    st = algo->build(s, &w);
    if (st != WEFT_OK || out == 0) {
        return st;
    }
    weft__sched_fence(s);
    if (a->op == WEFT_AVG) {
        weft__sched_scale(s, sout, out);
    }
    weft__sched_convert(s, a->recvbuf, a->dtype, sout, WEFT_FLOAT32, out);
    return WEFT_OK;
}

weft_status_t
weft__coll_prepare(const weft__coll_args_t *a, weft_comm_t *comm,
                   const weft__algo_t *algo, weft__sched_t **s_p)
{
    weft__sched_t *s = NULL;
    weft_status_t st;

    WEFT_CHECK(weft__sched_create(comm, a->dtype, a->op, algo->name, &s));
    weft__sched_set_desc(s, a);
    st = coll_build(s, algo, a, comm);
    if (st != WEFT_OK) {
        weft__sched_free(s);
        return st;
    }
    *s_p = s;
    return WEFT_OK;
}

/* Build and start a schedule for the call. Lock held. */
static weft_status_t
coll_schedule(const weft__coll_args_t *a, weft_comm_t *comm,
              const weft__algo_t *algo, weft_request_t **req_p)
{
    weft__sched_t *s = NULL;

    WEFT_CHECK(weft__coll_prepare(a, comm, algo, &s));
    return weft__sched_start(s, weft__coll_name(a->coll), req_p);
}

weft_status_t
weft__coll_run(const char *fn, weft__coll_args_t *a, weft_comm_t *comm)
{
    weft_context_t *ctx = comm->ctx;
    const weft__algo_t *algo = NULL;
    weft_request_t *req = NULL;
    weft_status_t st;

    weft__ctx_lock(ctx);
    WEFT_CHECK_GOTO(weft__coll_args_check_seen(fn, a, comm), st, out);
    weft__progress_store_due(ctx);
    if (comm->error != WEFT_OK) {
        st = weft__comm_error_return(comm, weft__coll_name(a->coll));
        goto out;
    }
    WEFT_CHECK_GOTO(weft__select(a, comm, &algo), st, out);
    if (algo->run != NULL) {
        st = algo->run(a, comm);
        if (st != WEFT_INPROGRESS) {
            goto out;
        }
    }
    WEFT_CHECK_GOTO(coll_schedule(a, comm, algo, &req), st, out);
    st = weft__req_wait(req);
    weft__req_release(req);
out:
    weft__ctx_unlock(ctx);
    return st;
}

weft_status_t
weft__coll_start_locked(const weft__coll_args_t *a, weft_comm_t *comm,
                        weft_request_t **req_p)
{
    const weft__algo_t *algo = NULL;

    weft__progress_store_due(comm->ctx);
    if (comm->error != WEFT_OK) {
        return weft__comm_error_return(comm, weft__coll_name(a->coll));
    }
    WEFT_CHECK(weft__select(a, comm, &algo));
    return coll_schedule(a, comm, algo, req_p);
}

weft_status_t
weft__coll_start(const char *fn, weft__coll_args_t *a, weft_comm_t *comm,
                 weft_request_t **req_p)
{
    weft_status_t st;

    weft__ctx_lock(comm->ctx);
    st = weft__coll_args_check_seen(fn, a, comm);
    if (st == WEFT_OK) {
        st = weft__coll_start_locked(a, comm, req_p);
    }
    weft__ctx_unlock(comm->ctx);
    return st;
}
