/*
 * Partitioned collectives (MPI-4 MPI_Pready semantics, in software): the
 * producer of a collective's input marks each partition ready as it
 * finishes it, and the collective's work on that partition starts at once
 * while later partitions are still being produced.
 *
 *   weft_allreduce_init(send, recv, count, dtype, op, P, comm, &req);
 *   for (;;) {                            // each iteration
 *       weft_start(req);
 *       for (i = 0; i < P; i++) {
 *           produce(partition i of send);
 *           weft_pready(req, i);
 *       }
 *       weft_wait(req);                   // the request stays for next time
 *   }
 *   weft_request_free(req);
 *
 * Partitions. The input splits into P contiguous ranges as evenly as
 * possible: partition i covers elements [first, first + n) where the
 * first (count % P) partitions have one element more (weft_partition_extent
 * gives them). What is split:
 *   allreduce: the count elements of sendbuf (and of recvbuf);
 *   reduce_scatter: the whole input, size * recvcount elements of sendbuf;
 *     partition i delivers to each rank the part of its block that falls
 *     in the range (possibly nothing);
 *   allgather: the sendcount elements of sendbuf, and the same range of
 *     every rank's block of recvbuf;
 *   alltoall: the count elements of each destination's block of sendbuf
 *     (partition i is the same range of every block), and the same range
 *     of every source's block of recvbuf.
 * Every rank passes the same count, dtype, op and partition count.
 *
 * The rules (MPI's). After weft_start the buffers belong to weft, except
 * that the caller may still write partition i of the input until it calls
 * weft_pready(req, i); each partition is marked ready exactly once per
 * start. The work of partition i starts at the first progress point after
 * this rank marked it (the progress thread, woken by weft_pready, or the
 * caller's next weft call: weft_progress, weft_test, weft_parrived, the
 * wait), not inside weft_pready, which returns to the producer at once:
 * its data is sent, and reduced with the other ranks' data as theirs
 * arrives, so nothing of partition i is read before this rank marked it
 * (nor another rank's partition i before that rank did). Receives that
 * land outside the input may be posted before. weft_parrived
 * says whether partition i's result is final in recvbuf (for
 * reduce_scatter: this rank's share of it). weft_wait and weft_test
 * complete the start (every partition marked and done) and leave the
 * request inactive, ready for the next weft_start: validation, the split
 * and the algorithm choice of each partition are made once, at init; a
 * start builds the partitions' schedules from that plan (about what as
 * many nonblocking calls cost to post). weft_request_free releases it (cancelling an
 * active start). A completion callback covers one start: register it after
 * weft_start.
 *
 * In place (sendbuf == recvbuf) is allowed for allreduce, allgather (the
 * rank's own block at its slot of recvbuf) and alltoall; not for
 * reduce_scatter, whose results would overwrite input the producer may
 * still be writing.
 *
 * Partitions run one at a time, in partition order, where the algorithm
 * needs it: the node-local shared-memory and the node-aware ones (which
 * take turns on a comm); there a partition made ready early waits for the
 * ones before it.
 */
#ifndef WEFT_PARTITIONED_H
#define WEFT_PARTITIONED_H

#include <stddef.h>
#include <weft/comm.h>
#include <weft/request.h>
#include <weft/types.h>

#ifdef __cplusplus
extern "C" {
#endif

WEFT_API weft_status_t weft_allreduce_init(const void *sendbuf, void *recvbuf,
                                           size_t count, weft_dtype_t dtype,
                                           weft_op_t op, size_t partitions,
                                           weft_comm_t *comm,
                                           weft_request_t **req_p);
WEFT_API weft_status_t weft_reduce_scatter_init(
    const void *sendbuf, void *recvbuf, size_t recvcount, weft_dtype_t dtype,
    weft_op_t op, size_t partitions, weft_comm_t *comm, weft_request_t **req_p);
WEFT_API weft_status_t weft_allgather_init(const void *sendbuf, void *recvbuf,
                                           size_t sendcount, weft_dtype_t dtype,
                                           size_t partitions, weft_comm_t *comm,
                                           weft_request_t **req_p);
WEFT_API weft_status_t weft_alltoall_init(const void *sendbuf, void *recvbuf,
                                          size_t count, weft_dtype_t dtype,
                                          size_t partitions, weft_comm_t *comm,
                                          weft_request_t **req_p);

/* Activate a persistent request (inactive: made by *_init, or waited). */
WEFT_API weft_status_t weft_start(weft_request_t *req);

/* Partition `partition` of the input is ready (active request, once per
 * start); the range form marks first..last, both included. */
WEFT_API weft_status_t weft_pready(weft_request_t *req, size_t partition);
WEFT_API weft_status_t weft_pready_range(weft_request_t *req, size_t first,
                                         size_t last);

/* *arrived_p = 1 when partition `partition` of the result is final in
 * recvbuf (it also advances progress). */
WEFT_API weft_status_t weft_parrived(weft_request_t *req, size_t partition,
                                     int *arrived_p);

/* The elements partition `partition` covers: [*first_p, *first_p +
 * *count_p) of the range the collective splits (above). */
WEFT_API weft_status_t weft_partition_extent(const weft_request_t *req,
                                             size_t partition, size_t *first_p,
                                             size_t *count_p);

#ifdef __cplusplus
}
#endif

#endif /* WEFT_PARTITIONED_H */
