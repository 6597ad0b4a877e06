/*
 * Checking a stream collective's arguments before anything is enqueued.
 * The host checks are repeated here with the host calls' messages (the
 * internal checker is not part of libweft's exported API); the CUDA
 * checks follow: every buffer the call touches must be device or managed
 * memory on the comm's device and long enough.
 */
#include "build_config.h"
#include "cuda/stream_args.h"

#include <stdint.h>
#include <weft/log.h>

#include "cuda/driver.h"
#include "errmsg.h" /* WEFT_CHECK only: weft__* functions are not exported */

#define ARG_CHECK(_cond, ...)                                                  \
    do {                                                                       \
        if (!(_cond)) {                                                        \
            return weft_log_error(WEFT_ERR_INVALID_ARG, WEFT_LOG_WARN,         \
                                  WEFT_SUB_COLL, __VA_ARGS__);                 \
        }                                                                      \
    } while (0)

static int
args_reduces(const weft__cuda_args_t *a)
{
    return a->coll == WEFT__CUDA_ALLREDUCE || a->coll == WEFT__CUDA_REDUCE ||
           a->coll == WEFT__CUDA_REDUCE_SCATTER;
}

static int
args_rooted(const weft__cuda_args_t *a)
{
    return a->coll == WEFT__CUDA_REDUCE || a->coll == WEFT__CUDA_BROADCAST;
}

/* AVG is for floating types; every other op is defined on every type. */
static int
args_op_valid(weft_dtype_t dtype, weft_op_t op)
{
    return op != WEFT_AVG || dtype == WEFT_FLOAT16 || dtype == WEFT_BFLOAT16 ||
           dtype == WEFT_FLOAT32 || dtype == WEFT_FLOAT64;
}

static int
args_overlap(const void *a, size_t alen, const void *b, size_t blen)
{
    uintptr_t x = (uintptr_t)a, y = (uintptr_t)b;

    if (a == NULL || b == NULL || alen == 0 || blen == 0) {
        return 0;
    }
    return x < y + blen && y < x + alen;
}

static weft_status_t
args_check_buf(const char *fn, const char *name, const void *buf, size_t count,
               size_t esize, size_t *bytes_p)
{
    ARG_CHECK(esize == 0 || count <= SIZE_MAX / esize,
              "%s: %s: %zu elements of %zu bytes overflow size_t", fn, name,
              count, esize);
    ARG_CHECK(buf != NULL || count == 0, "%s: %s is NULL with %zu elements", fn,
              name, count);
    *bytes_p = count * esize;
    return WEFT_OK;
}

/* `bytes` at `buf` must be device memory of `device` or managed memory,
 * within one allocation. */
static weft_status_t
args_check_mem(const char *fn, const char *name, const void *buf, size_t bytes,
               int device)
{
    const weft__cuda_driver_t *drv;
    struct cudaPointerAttributes attr;
    CUdeviceptr base = 0;
    size_t size = 0;
    cudaError_t err;

    if (bytes == 0) {
        return WEFT_OK;
    }
    err = cudaPointerGetAttributes(&attr, buf);
    if (err == cudaErrorInvalidValue) {
        (void)cudaGetLastError(); /* not sticky; clear it */
        attr.type = cudaMemoryTypeUnregistered;
    } else if (err != cudaSuccess) {
        return weft__cuda_error(fn, "cudaPointerGetAttributes", err);
    }
    ARG_CHECK(attr.type == cudaMemoryTypeDevice ||
                  attr.type == cudaMemoryTypeManaged,
              "%s: %s (%p) is %s; stream collectives take device or managed "
              "memory",
              fn, name, buf,
              attr.type == cudaMemoryTypeHost ? "pinned host memory"
                                              : "host memory CUDA does not "
                                                "know");
    ARG_CHECK(attr.type == cudaMemoryTypeManaged || attr.device == device,
              "%s: %s (%p) is memory of CUDA device %d, but this comm's "
              "stream collectives run on device %d",
              fn, name, buf, attr.device, device);
    WEFT_CHECK(weft__cuda_driver_get(fn, &drv));
    if (drv->mem_get_address_range(&base, &size, (CUdeviceptr)buf) ==
        CUDA_SUCCESS) {
        size_t left = size - (size_t)((CUdeviceptr)buf - base);

        ARG_CHECK(bytes <= left,
                  "%s: %s (%p) needs %zu bytes but its allocation has %zu "
                  "bytes from there",
                  fn, name, buf, bytes, left);
    }
    return WEFT_OK;
}

/* Sizes, the staging plan and the memory checks of each collective. */
static weft_status_t
args_plan(const char *fn, weft__cuda_args_t *a, int inplace, int device)
{
    size_t n = (size_t)a->size, e = a->esize, c = a->count;
    size_t scount = 0, rcount = 0, sbytes = 0, rbytes = 0, block;
    int root = a->root == a->rank;
    const char *sname = "sendbuf", *rname = "recvbuf";

    switch (a->coll) {
    case WEFT__CUDA_ALLREDUCE:
        scount = rcount = c;
        break;
    case WEFT__CUDA_REDUCE:
        scount = c;
        rcount = root ? c : 0;
        break;
    case WEFT__CUDA_BROADCAST:
        scount = rcount = c;
        sname = rname = "buf";
        break;
    case WEFT__CUDA_ALLGATHER:
    case WEFT__CUDA_ALLTOALL:
        ARG_CHECK(c <= SIZE_MAX / n,
                  "%s: count %zu times %d ranks overflows "
                  "size_t",
                  fn, c, a->size);
        scount = a->coll == WEFT__CUDA_ALLTOALL ? c * n : c;
        rcount = c * n;
        break;
    case WEFT__CUDA_REDUCE_SCATTER:
        ARG_CHECK(c <= SIZE_MAX / n,
                  "%s: recvcount %zu times %d ranks "
                  "overflows size_t",
                  fn, c, a->size);
        scount = c * n;
        rcount = c;
        break;
    }
    if (!inplace) {
        WEFT_CHECK(args_check_buf(fn, sname, a->sendbuf, scount, e, &sbytes));
    }
    WEFT_CHECK(args_check_buf(fn, rname, a->recvbuf, rcount, e, &rbytes));
    ARG_CHECK(inplace || !args_overlap(a->sendbuf, sbytes, a->recvbuf, rbytes),
              "%s: sendbuf and recvbuf overlap (pass the same pointer for "
              "the in-place form)",
              fn);

    /* the plan: the host collective always runs in place on staging */
    a->in_src = inplace ? a->recvbuf : a->sendbuf;
    a->in_off = 0;
    switch (a->coll) {
    case WEFT__CUDA_ALLREDUCE:
        a->in_bytes = a->stage_bytes = a->out_bytes = c * e;
        a->elementwise = 1;
        break;
    case WEFT__CUDA_REDUCE:
        a->in_bytes = a->stage_bytes = c * e;
        a->out_bytes = root ? c * e : 0;
        a->elementwise = 1;
        break;
    case WEFT__CUDA_BROADCAST:
        a->stage_bytes = c * e;
        a->in_bytes = root ? c * e : 0;
        a->out_bytes = root ? 0 : c * e;
        a->elementwise = 1;
        break;
    case WEFT__CUDA_ALLGATHER:
        block = c * e;
        a->stage_bytes = a->out_bytes = rbytes;
        a->in_bytes = block;
        a->in_off = (size_t)a->rank * block;
        if (inplace) {
            a->in_src = (const char *)a->recvbuf + a->in_off;
        }
        break;
    case WEFT__CUDA_REDUCE_SCATTER:
        a->in_bytes = a->stage_bytes = c * n * e;
        a->out_bytes = c * e;
        break;
    case WEFT__CUDA_ALLTOALL:
        a->in_bytes = a->stage_bytes = a->out_bytes = c * n * e;
        break;
    }
    if (a->in_bytes == 0) {
        a->in_src = NULL;
    }

    /* every byte the copies touch must be device memory that is there */
    if (!inplace) {
        WEFT_CHECK(args_check_mem(fn, sname, a->sendbuf, sbytes, device));
    }
    if (inplace && a->in_bytes + a->in_off > rbytes) {
        rbytes = a->in_bytes + a->in_off; /* in place: the input is there */
    }
    WEFT_CHECK(args_check_mem(fn, rname, a->recvbuf, rbytes, device));
    return WEFT_OK;
}

weft_status_t
weft__cuda_args_check(const char *fn, weft__cuda_args_t *a, weft_comm_t *comm,
                      int device)
{
    int inplace;

    ARG_CHECK(comm != NULL, "%s: comm is NULL", fn);
    a->rank = weft_comm_rank(comm);
    a->size = weft_comm_size(comm);
    ARG_CHECK((unsigned)a->dtype < WEFT_DTYPE_COUNT,
              "%s: dtype %d is not a weft_dtype_t", fn, (int)a->dtype);
    a->esize = weft_dtype_size(a->dtype);
    if (args_reduces(a)) {
        ARG_CHECK((unsigned)a->op < WEFT_OP_COUNT,
                  "%s: op %d is not a weft_op_t", fn, (int)a->op);
        ARG_CHECK(args_op_valid(a->dtype, a->op),
                  "%s: op %s is not defined on %s (avg is for floating "
                  "types)",
                  fn, weft_op_name(a->op), weft_dtype_name(a->dtype));
    }
    if (args_rooted(a)) {
        ARG_CHECK(a->root >= 0 && a->root < a->size,
                  "%s: root %d out of range [0, %d)", fn, a->root, a->size);
    }
    /* the host rules: in place where the collective has that form, for
     * rooted ones only at the root; broadcast is always in place */
    inplace = a->sendbuf == a->recvbuf && a->sendbuf != NULL &&
              (!args_rooted(a) || a->root == a->rank);
    if (a->coll == WEFT__CUDA_BROADCAST) {
        inplace = 1;
    }
    return args_plan(fn, a, inplace, device);
}
