/*
 * The public stream collectives (weft/cuda.h): each fills a
 * weft__cuda_args_t and goes through one path: check, then enqueue on the
 * stream (copies in, events, waits on the comm's flag, copies out) and
 * hand the op to the comm's proxy thread.
 */
#include "build_config.h"

#include <weft/cuda.h>
#include <weft/log.h>

#include "cuda/driver.h"
#include "cuda/proxy.h"
#include "cuda/stream_args.h"
#include "cuda/wait_kernel.h"
#include "errmsg.h" /* WEFT_CHECK only */

/* The stream must be usable and on the comm's device. */
static weft_status_t
stream_check(const char *fn, cudaStream_t stream, int device)
{
    cudaError_t err;
    int dev = -1;

    if (stream == NULL || stream == cudaStreamLegacy ||
        stream == cudaStreamPerThread) {
        return WEFT_OK; /* the current device's, which is the comm's */
    }
    err = cudaStreamGetDevice(stream, &dev);
    if (err != cudaSuccess) {
        (void)cudaGetLastError();
        return weft_log_error(WEFT_ERR_INVALID_ARG, WEFT_LOG_WARN,
                              WEFT_SUB_COLL,
                              "%s: stream is not a usable CUDA stream (%s)", fn,
                              cudaGetErrorString(err));
    }
    if (dev != device) {
        return weft_log_error(WEFT_ERR_INVALID_ARG, WEFT_LOG_WARN,
                              WEFT_SUB_COLL,
                              "%s: stream belongs to CUDA device %d, but this "
                              "comm's stream collectives run on device %d",
                              fn, dev, device);
    }
    return WEFT_OK;
}

/* Piece i of an op: its byte offset and length in the input and output. */
static void
stream_piece(const weft__cuda_op_t *op, int i, size_t *off_p, size_t *in_p,
             size_t *out_p)
{
    const weft__cuda_args_t *a = &op->a;
    size_t first, cnt;

    if (!a->elementwise) {
        *off_p = 0;
        *in_p = a->in_bytes;
        *out_p = a->out_bytes;
        return;
    }
    first = (size_t)i * op->piece_elems;
    cnt =
        a->count - first < op->piece_elems ? a->count - first : op->piece_elems;
    *off_p = first * a->esize;
    *in_p = a->in_bytes > 0 ? cnt * a->esize : 0;
    *out_p = a->out_bytes > 0 ? cnt * a->esize : 0;
}

/* Copies to staging, one event per piece. Nothing waits on the flag yet,
 * so a failure here can simply drop the op. */
static weft_status_t
stream_enqueue_in(const char *fn, weft__cuda_op_t *op, cudaStream_t stream)
{
    const weft__cuda_args_t *a = &op->a;
    char *stage = op->stage != NULL ? op->stage->ptr : NULL;
    cudaError_t err;

    for (int i = 0; i < op->npieces; i++) {
        size_t off, in, out;

        stream_piece(op, i, &off, &in, &out);
        if (in > 0) {
            err = cudaMemcpyAsync(stage + a->in_off + off,
                                  (const char *)a->in_src + off, in,
                                  cudaMemcpyDeviceToHost, stream);
            if (err != cudaSuccess) {
                return weft__cuda_error(fn, "cudaMemcpyAsync to staging", err);
            }
        }
        err = cudaEventRecord(op->ready[i], stream);
        if (err != cudaSuccess) {
            return weft__cuda_error(fn, "cudaEventRecord", err);
        }
    }
    return WEFT_OK;
}

/* Per piece: wait for the flag, copy the result back. Once one wait is
 * enqueued the op must reach the proxy whatever happens (it writes the
 * flags); *waits_p counts them. */
static weft_status_t
stream_enqueue_out(const char *fn, weft__cuda_comm_t *cc, weft__cuda_op_t *op,
                   cudaStream_t stream, int *waits_p)
{
    const weft__cuda_driver_t *drv;
    const weft__cuda_args_t *a = &op->a;
    char *stage = op->stage != NULL ? op->stage->ptr : NULL;
    cudaError_t err;
    CUresult res;

    WEFT_CHECK(weft__cuda_driver_get(fn, &drv));
    for (int i = 0; i < op->npieces; i++) {
        size_t off, in, out;

        stream_piece(op, i, &off, &in, &out);
        if (cc->wait_kernel) {
            WEFT_CHECK(weft__cuda_wait_kernel_enqueue(fn, stream, cc->flag_dev,
                                                      op->seq0 + (uint32_t)i));
        } else {
            res = drv->stream_wait_value32((CUstream)stream, cc->flag_dev,
                                           op->seq0 + (uint32_t)i,
                                           CU_STREAM_WAIT_VALUE_GEQ);
            if (res != CUDA_SUCCESS) {
                return weft__cuda_drv_error(fn, "cuStreamWaitValue32", res);
            }
        }
        (*waits_p)++;
        if (out > 0) {
            err = cudaMemcpyAsync((char *)a->recvbuf + off, stage + off, out,
                                  cudaMemcpyHostToDevice, stream);
            if (err != cudaSuccess) {
                return weft__cuda_error(fn, "cudaMemcpyAsync from staging",
                                        err);
            }
        }
    }
    err = cudaEventRecord(op->done, stream);
    if (err != cudaSuccess) {
        return weft__cuda_error(fn, "cudaEventRecord", err);
    }
    return WEFT_OK;
}

static weft_status_t
stream_issue(const char *fn, weft__cuda_comm_t *cc, const weft__cuda_args_t *a,
             cudaStream_t stream)
{
    weft__cuda_op_t *op;
    weft_status_t st;
    int waits = 0;

    pthread_mutex_lock(&cc->issue_lock);
    WEFT_CHECK_GOTO(weft__cuda_comm_error(cc, fn), st, out_unlock);
    WEFT_CHECK_GOTO(weft__cuda_op_get(cc, fn, a, &op), st, out_unlock);
    op->seq0 = cc->next_seq;
    st = stream_enqueue_in(fn, op, stream);
    if (st == WEFT_OK) {
        st = stream_enqueue_out(fn, cc, op, stream, &waits);
    }
    if (waits == 0 && st != WEFT_OK) {
        /* the stream never waits for it, but copies to its staging may be
         * queued: the staging is free again once the stream is past them */
        if (cudaEventRecord(op->done, stream) == cudaSuccess) {
            weft__cuda_op_retire(cc, op);
        } else {
            weft__cuda_op_put(cc, op);
        }
        goto out_unlock;
    }
    if (st != WEFT_OK) {
        /* the stream waits on some of its flags: the proxy must still
         * write them; the op is not run, so the peers must not wait */
        weft__cuda_comm_fail(cc, st, weft_last_error());
    }
    cc->next_seq += (uint32_t)op->npieces;
    weft__cuda_op_submit(cc, op);

out_unlock:
    pthread_mutex_unlock(&cc->issue_lock);
    return st;
}

static weft_status_t
stream_call(const char *fn, weft__cuda_args_t *a, weft_comm_t *comm,
            cudaStream_t stream)
{
    weft__cuda_comm_t *cc;
    const char *msg = "";
    weft_status_t st;
    cudaError_t err;
    int cur = -1, device;

    err = cudaGetDevice(&cur);
    if (err != cudaSuccess) {
        return weft__cuda_error(fn, "cudaGetDevice", err);
    }
    cc = comm != NULL ? weft__cuda_comm_find(comm) : NULL;
    device = cc != NULL ? cc->device : cur;
    WEFT_CHECK(weft__cuda_args_check(fn, a, comm, device));
    WEFT_CHECK(stream_check(fn, stream, device));
    st = weft_comm_error(comm, NULL, &msg);
    if (st != WEFT_OK) {
        return weft_log_error(st, WEFT_LOG_DEBUG, WEFT_SUB_COLL, "%s: %s", fn,
                              msg);
    }
    if (cc == NULL) {
        WEFT_CHECK(weft__cuda_comm_get(comm, device, fn, &cc));
    }
    if (cur != device && (err = cudaSetDevice(device)) != cudaSuccess) {
        return weft__cuda_error(fn, "cudaSetDevice", err);
    }
    st = stream_issue(fn, cc, a, stream);
    if (cur != device) {
        (void)cudaSetDevice(cur);
    }
    return st;
}

weft_status_t
weft_allreduce_stream(const void *sendbuf, void *recvbuf, size_t count,
                      weft_dtype_t dtype, weft_op_t op, weft_comm_t *comm,
                      struct CUstream_st *stream)
{
    weft__cuda_args_t a = {.coll = WEFT__CUDA_ALLREDUCE,
                           .sendbuf = sendbuf,
                           .recvbuf = recvbuf,
                           .count = count,
                           .dtype = dtype,
                           .op = op};

    return stream_call("weft_allreduce_stream", &a, comm, stream);
}

weft_status_t
weft_reduce_stream(const void *sendbuf, void *recvbuf, size_t count,
                   weft_dtype_t dtype, weft_op_t op, int root,
                   weft_comm_t *comm, struct CUstream_st *stream)
{
    weft__cuda_args_t a = {.coll = WEFT__CUDA_REDUCE,
                           .sendbuf = sendbuf,
                           .recvbuf = recvbuf,
                           .count = count,
                           .dtype = dtype,
                           .op = op,
                           .root = root};

    return stream_call("weft_reduce_stream", &a, comm, stream);
}

weft_status_t
weft_broadcast_stream(void *buf, size_t count, weft_dtype_t dtype, int root,
                      weft_comm_t *comm, struct CUstream_st *stream)
{
    weft__cuda_args_t a = {.coll = WEFT__CUDA_BROADCAST,
                           .sendbuf = buf,
                           .recvbuf = buf,
                           .count = count,
                           .dtype = dtype,
                           .root = root};

    return stream_call("weft_broadcast_stream", &a, comm, stream);
}

weft_status_t
weft_allgather_stream(const void *sendbuf, void *recvbuf, size_t sendcount,
                      weft_dtype_t dtype, weft_comm_t *comm,
                      struct CUstream_st *stream)
{
    weft__cuda_args_t a = {.coll = WEFT__CUDA_ALLGATHER,
                           .sendbuf = sendbuf,
                           .recvbuf = recvbuf,
                           .count = sendcount,
                           .dtype = dtype};

    return stream_call("weft_allgather_stream", &a, comm, stream);
}

weft_status_t
weft_reduce_scatter_stream(const void *sendbuf, void *recvbuf, size_t recvcount,
                           weft_dtype_t dtype, weft_op_t op, weft_comm_t *comm,
                           struct CUstream_st *stream)
{
    weft__cuda_args_t a = {.coll = WEFT__CUDA_REDUCE_SCATTER,
                           .sendbuf = sendbuf,
                           .recvbuf = recvbuf,
                           .count = recvcount,
                           .dtype = dtype,
                           .op = op};

    return stream_call("weft_reduce_scatter_stream", &a, comm, stream);
}

weft_status_t
weft_alltoall_stream(const void *sendbuf, void *recvbuf, size_t count,
                     weft_dtype_t dtype, weft_comm_t *comm,
                     struct CUstream_st *stream)
{
    weft__cuda_args_t a = {.coll = WEFT__CUDA_ALLTOALL,
                           .sendbuf = sendbuf,
                           .recvbuf = recvbuf,
                           .count = count,
                           .dtype = dtype};

    return stream_call("weft_alltoall_stream", &a, comm, stream);
}

weft_status_t
weft_cuda_comm_fini(weft_comm_t *comm)
{
    if (comm == NULL) {
        return weft_log_error(WEFT_ERR_INVALID_ARG, WEFT_LOG_WARN,
                              WEFT_SUB_COLL,
                              "weft_cuda_comm_fini: comm is NULL");
    }
    return weft__cuda_comm_fini(comm);
}
