/*
 * A stream collective's arguments, checked as the host calls check them
 * (same messages), plus the CUDA checks, and the staging plan derived
 * from them: which bytes go device -> host, how big the host staging
 * buffer is, which bytes come back.
 */
#ifndef WEFT_CUDA_STREAM_ARGS_H
#define WEFT_CUDA_STREAM_ARGS_H

#include <stddef.h>
#include <weft/comm.h>
#include <weft/status.h>
#include <weft/types.h>

typedef enum weft__cuda_coll {
    WEFT__CUDA_ALLREDUCE,
    WEFT__CUDA_REDUCE,
    WEFT__CUDA_BROADCAST,
    WEFT__CUDA_ALLGATHER,
    WEFT__CUDA_REDUCE_SCATTER,
    WEFT__CUDA_ALLTOALL
} weft__cuda_coll_t;

typedef struct weft__cuda_args {
    /* as the caller passed them */
    weft__cuda_coll_t coll;
    const void *sendbuf;
    void *recvbuf;
    size_t count;
    weft_dtype_t dtype;
    weft_op_t op;
    int root;
    /* filled by weft__cuda_args_check */
    int rank, size;
    size_t esize;
    int elementwise;    /* may be cut into pieces by element range */
    const void *in_src; /* device bytes copied to staging (NULL: none) */
    size_t in_off;      /* ... to this offset of the staging buffer */
    size_t in_bytes;
    size_t stage_bytes; /* the staging buffer */
    size_t out_bytes;   /* staging [0, out_bytes) -> recvbuf (0: none) */
} weft__cuda_args_t;

/* Check `a` for a call named `fn` on `comm`, whose stream work runs on
 * CUDA device `device`, and fill in the plan. WEFT_ERR_INVALID_ARG with a
 * message naming the argument; WEFT_ERR_CUDA when CUDA cannot answer. */
weft_status_t weft__cuda_args_check(const char *fn, weft__cuda_args_t *a,
                                    weft_comm_t *comm, int device);

#endif /* WEFT_CUDA_STREAM_ARGS_H */
