/*
 * Stream-ordered collectives on CUDA device buffers (libweft_cuda, built
 * when configure finds CUDA; link with -lweft_cuda -lweft).
 *
 * Each weft_<coll>_stream takes the arguments of its host twin in
 * <weft/coll.h> plus a CUDA stream, and works as NCCL's calls do: it
 * enqueues the collective on `stream` and returns at once. The result is
 * in recvbuf when the stream reaches that point, and later work on the
 * stream sees it; the call itself never waits for the GPU or the peers
 * (except that it blocks while more than 1 GiB of staging memory is in
 * use on the comm, until older collectives finish).
 *
 * Buffers must be device memory (cudaMalloc, on the device that was
 * current at the comm's first *_stream call) or managed memory; the
 * stream must belong to that device. The layout rules, the in-place
 * forms (sendbuf == recvbuf) and the "unused at non-roots" rules are the
 * host calls'.
 *
 * The stream type: `struct CUstream_st *` is what cudaStream_t and
 * CUstream are, so a cudaStream_t passes as is, and this header needs no
 * CUDA header. NULL is the legacy default stream; cudaStreamPerThread
 * works too.
 *
 * Errors.
 *   - Bad arguments return WEFT_ERR_INVALID_ARG at once, with the host
 *     calls' checks and messages (weft_last_error() names the argument),
 *     plus: a buffer that is not device or managed memory, or on another
 *     device than the comm's, or shorter than the collective needs.
 *   - A communicator that already failed returns its sticky error at once
 *     (weft_comm_error() says where it came from).
 *   - Errors that happen later (a peer lost, a timeout, an abort, a
 *     failing CUDA call on weft's side) never hang the stream: the stream
 *     goes on, recvbuf's content is undefined, and the error becomes
 *     sticky: the next *_stream call on the comm returns it, as does
 *     weft_cuda_comm_fini(). A failure in the network path is the comm's
 *     own sticky error (weft_comm_error()); a CUDA failure on weft's side
 *     aborts the comm (WEFT_ERR_CUDA), so the peers do not wait for it.
 *
 * How it works. Each comm that has seen a *_stream call gets a proxy
 * thread. The call enqueues on `stream`: a copy of the input to pinned
 * host staging memory, an event, a wait on a host-mapped sequence flag,
 * and a copy of the result back into recvbuf. The proxy thread waits for
 * the event, runs the host collective on the staging memory, and then
 * writes the flag, which releases the stream. Large elementwise
 * collectives (allreduce, reduce, broadcast) move in 4 MiB pieces, so
 * copies and the network overlap.
 *
 * Ordering. The stream collectives of one comm run in the order of the
 * *_stream calls (across all streams), and every rank must issue them in
 * the same order, as with the host calls. They run on the proxy thread,
 * so host collectives on the same comm are ordered against them only if
 * the streams are synchronized before the host call; a comm of their own
 * (weft_comm_dup) for stream work avoids the question.
 *
 * Teardown. weft_cuda_comm_fini(comm) must be called before the comm is
 * destroyed (or the context, for the world comm).
 */
#ifndef WEFT_CUDA_H
#define WEFT_CUDA_H

#include <stddef.h>
#include <weft/version.h>
#include <weft/status.h>
#include <weft/types.h>
#include <weft/comm.h>

#ifdef __cplusplus
extern "C" {
#endif

struct CUstream_st; /* cudaStream_t is `struct CUstream_st *` */

WEFT_API weft_status_t weft_allreduce_stream(const void *sendbuf, void *recvbuf,
                                             size_t count, weft_dtype_t dtype,
                                             weft_op_t op, weft_comm_t *comm,
                                             struct CUstream_st *stream);
WEFT_API weft_status_t weft_reduce_stream(const void *sendbuf, void *recvbuf,
                                          size_t count, weft_dtype_t dtype,
                                          weft_op_t op, int root,
                                          weft_comm_t *comm,
                                          struct CUstream_st *stream);
WEFT_API weft_status_t weft_broadcast_stream(void *buf, size_t count,
                                             weft_dtype_t dtype, int root,
                                             weft_comm_t *comm,
                                             struct CUstream_st *stream);
WEFT_API weft_status_t weft_allgather_stream(const void *sendbuf, void *recvbuf,
                                             size_t sendcount,
                                             weft_dtype_t dtype,
                                             weft_comm_t *comm,
                                             struct CUstream_st *stream);
WEFT_API weft_status_t weft_reduce_scatter_stream(
    const void *sendbuf, void *recvbuf, size_t recvcount, weft_dtype_t dtype,
    weft_op_t op, weft_comm_t *comm, struct CUstream_st *stream);
WEFT_API weft_status_t weft_alltoall_stream(const void *sendbuf, void *recvbuf,
                                            size_t count, weft_dtype_t dtype,
                                            weft_comm_t *comm,
                                            struct CUstream_st *stream);

/*
 * Local (no other rank takes part): wait until every stream collective
 * issued on `comm` has finished on its stream, stop the comm's proxy
 * thread and free its staging memory. Call it before weft_comm_destroy()
 * (before weft_context_destroy() for the world comm). Returns the sticky
 * error of the comm's stream collectives (WEFT_OK when none failed);
 * a comm that never had a *_stream call returns WEFT_OK. A later *_stream
 * call on the comm starts afresh.
 */
WEFT_API weft_status_t weft_cuda_comm_fini(weft_comm_t *comm);

#ifdef __cplusplus
}
#endif

#endif /* WEFT_CUDA_H */
