/*
 * Collectives. Every member of the communicator calls the same collectives
 * in the same order with matching arguments (the root, dtype, op and counts
 * that MPI requires to match); a mismatch that shows on the wire (a message
 * of the wrong size) fails the communicator with a message saying so.
 *
 * Counts are in elements of `dtype`. sendbuf == recvbuf asks for the
 * in-place form, with MPI's layout:
 *   allreduce, reduce (root), broadcast: the buffer holds the input and
 *     receives the result;
 *   allgather(v): the rank's own block is already at its slot of recvbuf;
 *   reduce_scatter(_v): recvbuf holds the whole input, the result goes to
 *     its start;
 *   gather (root): the root's block is already in place; scatter (root):
 *     the root's block is left where it is;
 *   alltoall(v): the rank's own block stays, the others are exchanged
 *     (alltoallv in place needs sendcounts == recvcounts and
 *     sdispls == rdispls).
 * Otherwise the send and receive buffers must not overlap.
 *
 * The recvbuf of reduce and gather and the sendbuf of scatter are used only
 * at the root; other ranks may pass NULL. A send buffer is never written.
 *
 * Reductions give bitwise-identical results on every rank. WEFT_AVG is the
 * sum divided by the rank count, floating types only. Integers wrap.
 * FLOAT16 and BFLOAT16 are accumulated in fp32 and rounded once, at the end.
 *
 * The nonblocking twins (weft_i*) return WEFT_OK and a request, or an error
 * and no request; the buffers belong to weft until the request completes.
 * Several collectives may be in flight on one communicator; they complete
 * independently. Blocking calls are the nonblocking call plus weft_wait.
 *
 * An algorithm can be forced per collective with WEFT_<COLL>_ALGO (e.g.
 * WEFT_ALLREDUCE_ALGO=ring); if it cannot run the case the call fails with
 * WEFT_ERR_UNSUPPORTED and says why (never a silent fallback).
 */
#ifndef WEFT_COLL_H
#define WEFT_COLL_H

#include <stddef.h>
#include <weft/version.h>
#include <weft/status.h>
#include <weft/types.h>
#include <weft/comm.h>
#include <weft/request.h>

#ifdef __cplusplus
extern "C" {
#endif

/* recvbuf[i] = op over ranks of sendbuf[i], on every rank. */
WEFT_API weft_status_t weft_allreduce(const void *sendbuf, void *recvbuf,
                                      size_t count, weft_dtype_t dtype,
                                      weft_op_t op, weft_comm_t *comm);
/* The same, result at `root` only. */
WEFT_API weft_status_t weft_reduce(const void *sendbuf, void *recvbuf,
                                   size_t count, weft_dtype_t dtype,
                                   weft_op_t op, int root, weft_comm_t *comm);
/* root's buf to every rank's buf. */
WEFT_API weft_status_t weft_broadcast(void *buf, size_t count,
                                      weft_dtype_t dtype, int root,
                                      weft_comm_t *comm);
/* Every rank's sendcount elements, in rank order, into every recvbuf. */
WEFT_API weft_status_t weft_allgather(const void *sendbuf, void *recvbuf,
                                      size_t sendcount, weft_dtype_t dtype,
                                      weft_comm_t *comm);
/* Rank r's block (recvcounts[r] elements) lands at displs[r]. */
WEFT_API weft_status_t weft_allgatherv(const void *sendbuf, size_t sendcount,
                                       void *recvbuf,
                                       const size_t *recvcounts,
                                       const size_t *displs,
                                       weft_dtype_t dtype, weft_comm_t *comm);
/* The reduction of sendbuf (recvcount * size elements); rank r gets block r. */
WEFT_API weft_status_t weft_reduce_scatter(const void *sendbuf, void *recvbuf,
                                           size_t recvcount,
                                           weft_dtype_t dtype, weft_op_t op,
                                           weft_comm_t *comm);
/* Blocks of recvcounts[r] elements, back to back in sendbuf. */
WEFT_API weft_status_t weft_reduce_scatter_v(const void *sendbuf,
                                             void *recvbuf,
                                             const size_t *recvcounts,
                                             weft_dtype_t dtype, weft_op_t op,
                                             weft_comm_t *comm);
/* count elements to and from every rank, blocks in rank order. */
WEFT_API weft_status_t weft_alltoall(const void *sendbuf, void *recvbuf,
                                     size_t count, weft_dtype_t dtype,
                                     weft_comm_t *comm);
WEFT_API weft_status_t weft_alltoallv(const void *sendbuf,
                                      const size_t *sendcounts,
                                      const size_t *sdispls, void *recvbuf,
                                      const size_t *recvcounts,
                                      const size_t *rdispls,
                                      weft_dtype_t dtype, weft_comm_t *comm);
/* Every rank's sendcount elements, in rank order, into root's recvbuf. */
WEFT_API weft_status_t weft_gather(const void *sendbuf, void *recvbuf,
                                   size_t sendcount, weft_dtype_t dtype,
                                   int root, weft_comm_t *comm);
/* Block r of root's sendbuf (recvcount elements each) to rank r. */
WEFT_API weft_status_t weft_scatter(const void *sendbuf, void *recvbuf,
                                    size_t recvcount, weft_dtype_t dtype,
                                    int root, weft_comm_t *comm);
/* Returns once every rank has entered it. */
WEFT_API weft_status_t weft_barrier(weft_comm_t *comm);

/* ---- nonblocking twins ---- */
WEFT_API weft_status_t weft_iallreduce(const void *sendbuf, void *recvbuf,
                                       size_t count, weft_dtype_t dtype,
                                       weft_op_t op, weft_comm_t *comm,
                                       weft_request_t **req_p);
WEFT_API weft_status_t weft_ireduce(const void *sendbuf, void *recvbuf,
                                    size_t count, weft_dtype_t dtype,
                                    weft_op_t op, int root, weft_comm_t *comm,
                                    weft_request_t **req_p);
WEFT_API weft_status_t weft_ibroadcast(void *buf, size_t count,
                                       weft_dtype_t dtype, int root,
                                       weft_comm_t *comm,
                                       weft_request_t **req_p);
WEFT_API weft_status_t weft_iallgather(const void *sendbuf, void *recvbuf,
                                       size_t sendcount, weft_dtype_t dtype,
                                       weft_comm_t *comm,
                                       weft_request_t **req_p);
WEFT_API weft_status_t weft_iallgatherv(const void *sendbuf, size_t sendcount,
                                        void *recvbuf,
                                        const size_t *recvcounts,
                                        const size_t *displs,
                                        weft_dtype_t dtype, weft_comm_t *comm,
                                        weft_request_t **req_p);
WEFT_API weft_status_t weft_ireduce_scatter(const void *sendbuf,
                                            void *recvbuf, size_t recvcount,
                                            weft_dtype_t dtype, weft_op_t op,
                                            weft_comm_t *comm,
                                            weft_request_t **req_p);
WEFT_API weft_status_t weft_ireduce_scatter_v(const void *sendbuf,
                                              void *recvbuf,
                                              const size_t *recvcounts,
                                              weft_dtype_t dtype, weft_op_t op,
                                              weft_comm_t *comm,
                                              weft_request_t **req_p);
WEFT_API weft_status_t weft_ialltoall(const void *sendbuf, void *recvbuf,
                                      size_t count, weft_dtype_t dtype,
                                      weft_comm_t *comm,
                                      weft_request_t **req_p);
WEFT_API weft_status_t weft_ialltoallv(const void *sendbuf,
                                       const size_t *sendcounts,
                                       const size_t *sdispls, void *recvbuf,
                                       const size_t *recvcounts,
                                       const size_t *rdispls,
                                       weft_dtype_t dtype, weft_comm_t *comm,
                                       weft_request_t **req_p);
WEFT_API weft_status_t weft_igather(const void *sendbuf, void *recvbuf,
                                    size_t sendcount, weft_dtype_t dtype,
                                    int root, weft_comm_t *comm,
                                    weft_request_t **req_p);
WEFT_API weft_status_t weft_iscatter(const void *sendbuf, void *recvbuf,
                                     size_t recvcount, weft_dtype_t dtype,
                                     int root, weft_comm_t *comm,
                                     weft_request_t **req_p);
WEFT_API weft_status_t weft_ibarrier(weft_comm_t *comm,
                                     weft_request_t **req_p);

/* The algorithm the last call of the collective named `coll` ("allreduce",
 * "broadcast", ...) on this comm used, as a static string; NULL before the
 * first call or for an unknown name. For benchmarks and logs. */
WEFT_API const char *weft_comm_last_algorithm(const weft_comm_t *comm,
                                              const char *coll);

/* The name of algorithm `index` (0, 1, ...) of the collective named `coll`
 * as a static string; NULL past the last one or for an unknown name. */
WEFT_API const char *weft_coll_algorithm_name(const char *coll, int index);

/* Force `algo` for the collective named `coll` on this comm (NULL or
 * "auto": choose per call again). Local: every rank must make the same
 * choice. WEFT_ERR_INVALID_ARG names an unknown collective or algorithm;
 * a forced algorithm that cannot run a call fails that call with
 * WEFT_ERR_UNSUPPORTED. Overrides WEFT_<COLL>_ALGO. */
WEFT_API weft_status_t weft_comm_set_algorithm(weft_comm_t *comm,
                                               const char *coll,
                                               const char *algo);

#ifdef __cplusplus
}
#endif

#endif /* WEFT_COLL_H */
