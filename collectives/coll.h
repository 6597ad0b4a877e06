/*
 * Collectives, inside: the arguments of one call as every algorithm sees
 * them, and the names of the collectives (the order of weft__coll_t is the
 * order of the WEFT_<COLL>_ALGO variables in src/config.c).
 */
#ifndef WEFT_COLL_INTERNAL_H
#define WEFT_COLL_INTERNAL_H

#include <stddef.h>
#include <weft/coll.h>
#include "comm.h"
#include "config.h"

struct weft__algo;
struct weft__sched;

typedef enum weft__coll {
    WEFT_COLL_ALLREDUCE,
    WEFT_COLL_REDUCE,
    WEFT_COLL_BROADCAST,
    WEFT_COLL_ALLGATHER,
    WEFT_COLL_ALLGATHERV,
    WEFT_COLL_REDUCE_SCATTER,
    WEFT_COLL_REDUCE_SCATTER_V,
    WEFT_COLL_ALLTOALL,
    WEFT_COLL_ALLTOALLV,
    WEFT_COLL_GATHER,
    WEFT_COLL_SCATTER,
    WEFT_COLL_BARRIER,
    WEFT_COLL_COUNT
} weft__coll_t;

_Static_assert(WEFT_COLL_COUNT == WEFT_CONFIG_COLLS,
               "one WEFT_<COLL>_ALGO variable per collective");

/*
 * One call's arguments, normalized: counts in elements, esize bytes each.
 *   allreduce, reduce, broadcast: count
 *   allgather, gather: count = sendcount; scatter: count = recvcount
 *   reduce_scatter: count = recvcount (the input holds count * size)
 *   alltoall: count per peer
 *   allgatherv: count = sendcount, rcounts/rdispls = recvcounts/displs
 *   reduce_scatter_v: rcounts = recvcounts (rdispls NULL)
 *   alltoallv: scounts/sdispls, rcounts/rdispls
 * For broadcast sendbuf == recvbuf == buf. inplace: sendbuf == recvbuf
 * (where the collective has an in-place form). inplace does not mean "the
 * root": for fp16/bf16 reductions coll.c hands every rank fp32 scratch with
 * sendbuf == recvbuf, and off the root that buffer is only scratch.
 */
typedef struct weft__coll_args {
    weft__coll_t coll;
    const void *sendbuf;
    void *recvbuf;
    size_t count;
    const size_t *scounts, *sdispls;
    const size_t *rcounts, *rdispls;
    weft_dtype_t dtype;
    weft_op_t op;
    int root;
    int inplace;
    size_t esize;
    /* A partition of a partitioned call with later partitions of the same
     * call after it on this comm: its buffers stay untouched until the
     * whole call completes, so a node-local algorithm need not wait for
     * the peers to finish reading them before the next partition's turn
     * (the last partition waits, and the wait covers every earlier one).
     * Never set where the schedule writes the result after the algorithm
     * (AVG where the algorithm does not divide itself, 16-bit floats). */
    int part_follows;
} weft__coll_args_t;

/* "allreduce", ...; NULL when out of range. */
const char *weft__coll_name(weft__coll_t coll);
/* By name; -1 when unknown. */
int weft__coll_by_name(const char *name);

/* Bytes per rank the way the benchmarks count them (nccl-tests). */
size_t weft__coll_bytes(const weft__coll_args_t *a, int size);

/* Check (naming fn) and run a blocking collective on comm (lock not
 * held). */
weft_status_t weft__coll_run(const char *fn, weft__coll_args_t *a,
                             weft_comm_t *comm);

/* The same, lock held (a collective that runs others on sub-comms). */
weft_status_t weft__coll_start_locked(const weft__coll_args_t *a,
                                      weft_comm_t *comm,
                                      weft_request_t **req_p);

/* Select an algorithm and build the schedule of a validated call without
 * starting it (partitioned collectives gate it first). Lock held. */
weft_status_t weft__coll_prepare(const weft__coll_args_t *a, weft_comm_t *comm,
                                 const struct weft__algo *algo,
                                 struct weft__sched **s_p);

/* Check (naming fn) and start a collective on comm (lock not held). */
weft_status_t weft__coll_start(const char *fn, weft__coll_args_t *a,
                               weft_comm_t *comm, weft_request_t **req_p);

#endif /* WEFT_COLL_INTERNAL_H */
