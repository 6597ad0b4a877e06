/*
 * The public collective calls: each fills a weft__coll_args_t and goes
 * through one path (check, start, and for the blocking form wait).
 */
#include "build_config.h"

#include <weft/coll.h>

#include "collectives/coll.h"
#include "context.h"
#include "errmsg.h"

static weft_status_t
coll_call(const char *fn, weft__coll_args_t *a, weft_comm_t *comm,
          weft_request_t **req_p)
{
    weft_request_t *req = NULL;

    WEFT_CHECK(weft__comm_check(comm, fn));
    if (req_p == NULL) {
        return weft__coll_run(fn, a, comm);
    }
    WEFT_CHECK(weft__coll_start(fn, a, comm, &req));
    *req_p = req;
    return WEFT_OK;
}

/* A nonblocking call needs somewhere to put the request. */
#define REQ_P_CHECK(_fn, _req_p)                                               \
    WEFT_ARG_CHECK((_req_p) != NULL, _fn ": req_p is NULL")

static weft_status_t
allreduce(const char *fn, const void *sendbuf, void *recvbuf, size_t count,
          weft_dtype_t dtype, weft_op_t op, weft_comm_t *comm,
          weft_request_t **req_p)
{
    weft__coll_args_t a = {.coll = WEFT_COLL_ALLREDUCE, .sendbuf = sendbuf,
                           .recvbuf = recvbuf, .count = count,
                           .dtype = dtype, .op = op};

    return coll_call(fn, &a, comm, req_p);
}

weft_status_t
weft_allreduce(const void *sendbuf, void *recvbuf, size_t count,
               weft_dtype_t dtype, weft_op_t op, weft_comm_t *comm)
{
    return allreduce("weft_allreduce", sendbuf, recvbuf, count, dtype, op,
                     comm, NULL);
}

weft_status_t
weft_iallreduce(const void *sendbuf, void *recvbuf, size_t count,
                weft_dtype_t dtype, weft_op_t op, weft_comm_t *comm,
                weft_request_t **req_p)
{
    REQ_P_CHECK("weft_iallreduce", req_p);
    return allreduce("weft_iallreduce", sendbuf, recvbuf, count, dtype, op,
                     comm, req_p);
}

static weft_status_t
reduce(const char *fn, const void *sendbuf, void *recvbuf, size_t count,
       weft_dtype_t dtype, weft_op_t op, int root, weft_comm_t *comm,
       weft_request_t **req_p)
{
    weft__coll_args_t a = {.coll = WEFT_COLL_REDUCE, .sendbuf = sendbuf,
                           .recvbuf = recvbuf, .count = count,
                           .dtype = dtype, .op = op, .root = root};

    return coll_call(fn, &a, comm, req_p);
}

weft_status_t
weft_reduce(const void *sendbuf, void *recvbuf, size_t count,
            weft_dtype_t dtype, weft_op_t op, int root, weft_comm_t *comm)
{
    return reduce("weft_reduce", sendbuf, recvbuf, count, dtype, op, root,
                  comm, NULL);
}

weft_status_t
weft_ireduce(const void *sendbuf, void *recvbuf, size_t count,
             weft_dtype_t dtype, weft_op_t op, int root, weft_comm_t *comm,
             weft_request_t **req_p)
{
    REQ_P_CHECK("weft_ireduce", req_p);
    return reduce("weft_ireduce", sendbuf, recvbuf, count, dtype, op, root,
                  comm, req_p);
}

static weft_status_t
broadcast(const char *fn, void *buf, size_t count, weft_dtype_t dtype,
          int root, weft_comm_t *comm, weft_request_t **req_p)
{
    weft__coll_args_t a = {.coll = WEFT_COLL_BROADCAST, .sendbuf = buf,
                           .recvbuf = buf, .count = count, .dtype = dtype,
                           .root = root};

    return coll_call(fn, &a, comm, req_p);
}

weft_status_t
weft_broadcast(void *buf, size_t count, weft_dtype_t dtype, int root,
               weft_comm_t *comm)
{
    return broadcast("weft_broadcast", buf, count, dtype, root, comm, NULL);
}

weft_status_t
weft_ibroadcast(void *buf, size_t count, weft_dtype_t dtype, int root,
                weft_comm_t *comm, weft_request_t **req_p)
{
    REQ_P_CHECK("weft_ibroadcast", req_p);
    return broadcast("weft_ibroadcast", buf, count, dtype, root, comm,
                     req_p);
}

static weft_status_t
allgather(const char *fn, const void *sendbuf, void *recvbuf,
          size_t sendcount, weft_dtype_t dtype, weft_comm_t *comm,
          weft_request_t **req_p)
{
    weft__coll_args_t a = {.coll = WEFT_COLL_ALLGATHER, .sendbuf = sendbuf,
                           .recvbuf = recvbuf, .count = sendcount,
                           .dtype = dtype};

    return coll_call(fn, &a, comm, req_p);
}

weft_status_t
weft_allgather(const void *sendbuf, void *recvbuf, size_t sendcount,
               weft_dtype_t dtype, weft_comm_t *comm)
{
    return allgather("weft_allgather", sendbuf, recvbuf, sendcount, dtype,
                     comm, NULL);
}

weft_status_t
weft_iallgather(const void *sendbuf, void *recvbuf, size_t sendcount,
                weft_dtype_t dtype, weft_comm_t *comm, weft_request_t **req_p)
{
    REQ_P_CHECK("weft_iallgather", req_p);
    return allgather("weft_iallgather", sendbuf, recvbuf, sendcount, dtype,
                     comm, req_p);
}

static weft_status_t
allgatherv(const char *fn, const void *sendbuf, size_t sendcount,
           void *recvbuf, const size_t *recvcounts, const size_t *displs,
           weft_dtype_t dtype, weft_comm_t *comm, weft_request_t **req_p)
{
    weft__coll_args_t a = {.coll = WEFT_COLL_ALLGATHERV, .sendbuf = sendbuf,
                           .recvbuf = recvbuf, .count = sendcount,
                           .rcounts = recvcounts, .rdispls = displs,
                           .dtype = dtype};

    return coll_call(fn, &a, comm, req_p);
}

weft_status_t
weft_allgatherv(const void *sendbuf, size_t sendcount, void *recvbuf,
                const size_t *recvcounts, const size_t *displs,
                weft_dtype_t dtype, weft_comm_t *comm)
{
    return allgatherv("weft_allgatherv", sendbuf, sendcount, recvbuf,
                      recvcounts, displs, dtype, comm, NULL);
}

weft_status_t
weft_iallgatherv(const void *sendbuf, size_t sendcount, void *recvbuf,
                 const size_t *recvcounts, const size_t *displs,
                 weft_dtype_t dtype, weft_comm_t *comm,
                 weft_request_t **req_p)
{
    REQ_P_CHECK("weft_iallgatherv", req_p);
    return allgatherv("weft_iallgatherv", sendbuf, sendcount, recvbuf,
                      recvcounts, displs, dtype, comm, req_p);
}

static weft_status_t
reduce_scatter(const char *fn, const void *sendbuf, void *recvbuf,
               size_t recvcount, const size_t *recvcounts, weft_dtype_t dtype,
               weft_op_t op, weft_comm_t *comm, weft_request_t **req_p)
{
    weft__coll_args_t a = {.coll = recvcounts ? WEFT_COLL_REDUCE_SCATTER_V
                                              : WEFT_COLL_REDUCE_SCATTER,
                           .sendbuf = sendbuf, .recvbuf = recvbuf,
                           .count = recvcount, .rcounts = recvcounts,
                           .dtype = dtype, .op = op};

    return coll_call(fn, &a, comm, req_p);
}

weft_status_t
weft_reduce_scatter(const void *sendbuf, void *recvbuf, size_t recvcount,
                    weft_dtype_t dtype, weft_op_t op, weft_comm_t *comm)
{
    return reduce_scatter("weft_reduce_scatter", sendbuf, recvbuf, recvcount,
                          NULL, dtype, op, comm, NULL);
}

weft_status_t
weft_ireduce_scatter(const void *sendbuf, void *recvbuf, size_t recvcount,
                     weft_dtype_t dtype, weft_op_t op, weft_comm_t *comm,
                     weft_request_t **req_p)
{
    REQ_P_CHECK("weft_ireduce_scatter", req_p);
    return reduce_scatter("weft_ireduce_scatter", sendbuf, recvbuf,
                          recvcount, NULL, dtype, op, comm, req_p);
}

weft_status_t
weft_reduce_scatter_v(const void *sendbuf, void *recvbuf,
                      const size_t *recvcounts, weft_dtype_t dtype,
                      weft_op_t op, weft_comm_t *comm)
{
    WEFT_ARG_CHECK(recvcounts != NULL,
                   "weft_reduce_scatter_v: recvcounts is NULL");
    return reduce_scatter("weft_reduce_scatter_v", sendbuf, recvbuf, 0,
                          recvcounts, dtype, op, comm, NULL);
}

weft_status_t
weft_ireduce_scatter_v(const void *sendbuf, void *recvbuf,
                       const size_t *recvcounts, weft_dtype_t dtype,
                       weft_op_t op, weft_comm_t *comm,
                       weft_request_t **req_p)
{
    REQ_P_CHECK("weft_ireduce_scatter_v", req_p);
    WEFT_ARG_CHECK(recvcounts != NULL,
                   "weft_ireduce_scatter_v: recvcounts is NULL");
    return reduce_scatter("weft_ireduce_scatter_v", sendbuf, recvbuf, 0,
                          recvcounts, dtype, op, comm, req_p);
}

static weft_status_t
alltoall(const char *fn, const void *sendbuf, void *recvbuf, size_t count,
         weft_dtype_t dtype, weft_comm_t *comm, weft_request_t **req_p)
{
    weft__coll_args_t a = {.coll = WEFT_COLL_ALLTOALL, .sendbuf = sendbuf,
                           .recvbuf = recvbuf, .count = count,
                           .dtype = dtype};

    return coll_call(fn, &a, comm, req_p);
}

weft_status_t
weft_alltoall(const void *sendbuf, void *recvbuf, size_t count,
              weft_dtype_t dtype, weft_comm_t *comm)
{
    return alltoall("weft_alltoall", sendbuf, recvbuf, count, dtype, comm,
                    NULL);
}

weft_status_t
weft_ialltoall(const void *sendbuf, void *recvbuf, size_t count,
               weft_dtype_t dtype, weft_comm_t *comm, weft_request_t **req_p)
{
    REQ_P_CHECK("weft_ialltoall", req_p);
    return alltoall("weft_ialltoall", sendbuf, recvbuf, count, dtype, comm,
                    req_p);
}

static weft_status_t
alltoallv(const char *fn, const void *sendbuf, const size_t *sendcounts,
          const size_t *sdispls, void *recvbuf, const size_t *recvcounts,
          const size_t *rdispls, weft_dtype_t dtype, weft_comm_t *comm,
          weft_request_t **req_p)
{
    weft__coll_args_t a = {.coll = WEFT_COLL_ALLTOALLV, .sendbuf = sendbuf,
                           .recvbuf = recvbuf, .scounts = sendcounts,
                           .sdispls = sdispls, .rcounts = recvcounts,
                           .rdispls = rdispls, .dtype = dtype};

    return coll_call(fn, &a, comm, req_p);
}

weft_status_t
weft_alltoallv(const void *sendbuf, const size_t *sendcounts,
               const size_t *sdispls, void *recvbuf, const size_t *recvcounts,
               const size_t *rdispls, weft_dtype_t dtype, weft_comm_t *comm)
{
    return alltoallv("weft_alltoallv", sendbuf, sendcounts, sdispls, recvbuf,
                     recvcounts, rdispls, dtype, comm, NULL);
}

weft_status_t
weft_ialltoallv(const void *sendbuf, const size_t *sendcounts,
                const size_t *sdispls, void *recvbuf,
                const size_t *recvcounts, const size_t *rdispls,
                weft_dtype_t dtype, weft_comm_t *comm, weft_request_t **req_p)
{
    REQ_P_CHECK("weft_ialltoallv", req_p);
    return alltoallv("weft_ialltoallv", sendbuf, sendcounts, sdispls, recvbuf,
                     recvcounts, rdispls, dtype, comm, req_p);
}

static weft_status_t
rooted(const char *fn, weft__coll_t coll, const void *sendbuf, void *recvbuf,
       size_t count, weft_dtype_t dtype, int root, weft_comm_t *comm,
       weft_request_t **req_p)
{
    weft__coll_args_t a = {.coll = coll, .sendbuf = sendbuf,
                           .recvbuf = recvbuf, .count = count,
                           .dtype = dtype, .root = root};

    return coll_call(fn, &a, comm, req_p);
}

weft_status_t
weft_gather(const void *sendbuf, void *recvbuf, size_t sendcount,
            weft_dtype_t dtype, int root, weft_comm_t *comm)
{
    return rooted("weft_gather", WEFT_COLL_GATHER, sendbuf, recvbuf,
                  sendcount, dtype, root, comm, NULL);
}

weft_status_t
weft_igather(const void *sendbuf, void *recvbuf, size_t sendcount,
             weft_dtype_t dtype, int root, weft_comm_t *comm,
             weft_request_t **req_p)
{
    REQ_P_CHECK("weft_igather", req_p);
    return rooted("weft_igather", WEFT_COLL_GATHER, sendbuf, recvbuf,
                  sendcount, dtype, root, comm, req_p);
}

weft_status_t
weft_scatter(const void *sendbuf, void *recvbuf, size_t recvcount,
             weft_dtype_t dtype, int root, weft_comm_t *comm)
{
    return rooted("weft_scatter", WEFT_COLL_SCATTER, sendbuf, recvbuf,
                  recvcount, dtype, root, comm, NULL);
}

weft_status_t
weft_iscatter(const void *sendbuf, void *recvbuf, size_t recvcount,
              weft_dtype_t dtype, int root, weft_comm_t *comm,
              weft_request_t **req_p)
{
    REQ_P_CHECK("weft_iscatter", req_p);
    return rooted("weft_iscatter", WEFT_COLL_SCATTER, sendbuf, recvbuf,
                  recvcount, dtype, root, comm, req_p);
}

weft_status_t
weft_barrier(weft_comm_t *comm)
{
    weft__coll_args_t a = {.coll = WEFT_COLL_BARRIER};

    return coll_call("weft_barrier", &a, comm, NULL);
}

weft_status_t
weft_ibarrier(weft_comm_t *comm, weft_request_t **req_p)
{
    weft__coll_args_t a = {.coll = WEFT_COLL_BARRIER};

    REQ_P_CHECK("weft_ibarrier", req_p);
    return coll_call("weft_ibarrier", &a, comm, req_p);
}
