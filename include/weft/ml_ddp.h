/*
 * Data-parallel gradient synchronisation (DDP): gradient buffers grouped
 * into buckets, each bucket's allreduce started in the same bucket order
 * on every rank, so that the communication of the gradients produced
 * first overlaps the computation of the rest of the backward pass.
 * Without a hook a bucket is a partitioned allreduce (weft/partitioned.h)
 * of about 1 MiB partitions: a partition is reduced as soon as the
 * gradients it holds are ready, so a bucket's reduction starts with its
 * first gradients and only the last partitions of the last bucket wait
 * for the end of the backward. With a hook, a bucket launches once it is
 * full.
 *
 * Buckets are filled in reverse registration order (the last parameters'
 * gradients come first in a backward pass); the first bucket holds about
 * first_bucket_cap_bytes, the others bucket_cap_bytes; a parameter is
 * never split (a bucket closes once it reaches its cap, so it may pass it).
 */
#ifndef WEFT_ML_DDP_H
#define WEFT_ML_DDP_H

#include <stddef.h>
#include <stdint.h>
#include <weft/comm.h>
#include <weft/request.h>
#include <weft/status.h>
#include <weft/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Bucket assignment, a pure function (the same on every rank given the
 * same input). bytes[i] and dtype[i] describe parameter i, in the order
 * the caller wants them bucketed (DDP passes them in reverse registration
 * order). Parameters are taken in that order, one accumulator per dtype;
 * a parameter joins its dtype's open bucket, which closes once it holds
 * at least the current limit; limits[0] applies to the first bucket of
 * each dtype, limits[1] to the second and so on, the last repeating.
 * Buckets are numbered by their first parameter. bucket_of_param[i] gets
 * parameter i's bucket, *nbuckets_p the count. WEFT_ERR_INVALID_ARG for
 * NULL arrays with n > 0, nlimits == 0 or a zero limit.
 */
WEFT_API weft_status_t weft_ddp_assign_buckets(const size_t *bytes,
                                               const weft_dtype_t *dtype,
                                               size_t n, const size_t *limits,
                                               size_t nlimits,
                                               size_t *bucket_of_param,
                                               size_t *nbuckets_p);

/* One parameter's gradient: count elements of a floating dtype. */
typedef struct weft_ddp_param {
    void *grad;
    size_t count;
    weft_dtype_t dtype;
} weft_ddp_param_t;

/* A bucket, as a communication hook sees it. */
typedef struct weft_ddp_bucket {
    size_t index; /* launched in index order on every rank */
    void *buffer; /* count elements: its gradients, in order */
    size_t count;
    weft_dtype_t dtype;
    const size_t *params;  /* nparams parameter indices, in buffer order */
    const size_t *offsets; /* element offset of each in buffer */
    size_t nparams;
    int is_last;
    void *hook_data; /* the hook's own, per bucket (NULL at first) */
} weft_ddp_bucket_t;

/*
 * A communication hook replaces the averaging allreduce of each bucket.
 * launch starts the reduction of bucket->buffer over comm and returns its
 * request; once that request has completed, complete (NULL: nothing to
 * do) must leave the average over the ranks in bucket->buffer. release
 * (NULL: nothing kept) frees bucket->hook_data when the bucket goes.
 * Called from the thread that calls weft_ddp_grad_ready / finish, never
 * from a progress thread. A launch that fails aborts the comm
 * (weft_comm_abort): the other ranks, which launched the bucket, get
 * WEFT_ERR_ABORTED at once. Built-in: fp16 and bf16 compression (the bucket
 * travels as 16-bit floats, divided by the rank count first, and is
 * widened back: half the bytes, rounding error up to 2^-11 / 2^-8
 * relative per element; fp16 saturates past 65504).
 */
typedef struct weft_ddp_hook {
    weft_status_t (*launch)(void *state, weft_comm_t *comm,
                            weft_ddp_bucket_t *bucket, weft_request_t **req_p);
    weft_status_t (*complete)(void *state, weft_ddp_bucket_t *bucket);
    void (*release)(void *state, weft_ddp_bucket_t *bucket);
    void *state;
} weft_ddp_hook_t;

WEFT_API extern const weft_ddp_hook_t weft_ddp_hook_fp16_compress;
WEFT_API extern const weft_ddp_hook_t weft_ddp_hook_bf16_compress;

/* Which fields of weft_ddp_params_t are set (the rest take defaults). */
#define WEFT_DDP_PARAM_BUCKET_CAP       (1u << 0)
#define WEFT_DDP_PARAM_FIRST_BUCKET_CAP (1u << 1)
#define WEFT_DDP_PARAM_FIND_UNUSED      (1u << 2)
#define WEFT_DDP_PARAM_REBUILD          (1u << 3)
#define WEFT_DDP_PARAM_HOOK             (1u << 4)

typedef struct weft_ddp_params {
    uint64_t field_mask;
    size_t bucket_cap_bytes;       /* default WEFT_DDP_BUCKET_SIZE (25 MiB) */
    size_t first_bucket_cap_bytes; /* WEFT_DDP_FIRST_BUCKET_SIZE (1 MiB) */
    /* 1: some parameters may get no gradient in a step; the caller marks
     * them (weft_ddp_mark_unused) and those unused on every rank keep
     * their gradient untouched. 0 (default): every parameter reports. */
    int find_unused;
    /* 1 (default): after the first synchronised step, buckets are rebuilt
     * in the order the gradients arrived (rank 0's order, on every rank) */
    int rebuild;
    const weft_ddp_hook_t *hook; /* NULL (default): averaging allreduce */
} weft_ddp_params_t;

typedef struct weft_ddp weft_ddp_t;

/*
 * Register nparams gradients (floating dtypes; no two may overlap) for
 * data-parallel training over comm, every rank with the same parameters
 * in the same order. Where a bucket's gradients lie back to back in
 * memory in bucket order, the bucket works on them in place; otherwise it
 * has its own buffer and gradients are copied in and out.
 */
WEFT_API weft_status_t weft_ddp_create(weft_comm_t *comm,
                                       const weft_ddp_param_t *params,
                                       size_t nparams,
                                       const weft_ddp_params_t *p,
                                       weft_ddp_t **ddp_p);
/* Finish what is pending, free everything (NULL is accepted). */
WEFT_API void weft_ddp_destroy(weft_ddp_t *ddp);

/*
 * A step: weft_ddp_begin before the backward pass; weft_ddp_grad_ready(i)
 * as soon as parameter i's gradient is final (the partitions it completes
 * are reduced from now on, or with a hook a full bucket launches; in
 * bucket order; the call also drives progress);
 * weft_ddp_finish after the backward: waits, and leaves every gradient
 * averaged over the ranks. sync = 0 is a no_sync step: nothing is
 * communicated, the caller's gradients accumulate, and the next
 * synchronised step averages the sums.
 */
WEFT_API weft_status_t weft_ddp_begin(weft_ddp_t *ddp, int sync);
WEFT_API weft_status_t weft_ddp_grad_ready(weft_ddp_t *ddp, size_t param);
/* find_unused: parameter i gets no gradient in this step. */
WEFT_API weft_status_t weft_ddp_mark_unused(weft_ddp_t *ddp, size_t param);
WEFT_API weft_status_t weft_ddp_finish(weft_ddp_t *ddp);

/* The last synchronised step's timeline (seconds) and the layout. */
typedef struct weft_ddp_stats {
    uint64_t steps; /* synchronised steps finished */
    size_t nbuckets;
    double backward_compute_s; /* first grad_ready to the last */
    double comm_s;    /* first bucket launched to the last one complete */
    double overlap_s; /* the part of comm_s before the last grad_ready */
    double exposed_s; /* last grad_ready to weft_ddp_finish returning */
    double first_launch_s, last_ready_s; /* monotonic clock */
} weft_ddp_stats_t;
WEFT_API weft_status_t weft_ddp_stats(const weft_ddp_t *ddp,
                                      weft_ddp_stats_t *stats_p);
/* Bucket b as it is now (its buffer pointer and hook_data included). */
WEFT_API weft_status_t weft_ddp_bucket_info(const weft_ddp_t *ddp, size_t b,
                                            weft_ddp_bucket_t *bucket_p);

#ifdef __cplusplus
}
#endif

#endif /* WEFT_ML_DDP_H */
