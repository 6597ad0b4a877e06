/*
 * DDP internals (ml/ddp*.c): the buckets and the state of a step.
 */
#ifndef WEFT_ML_DDP_INT_H
#define WEFT_ML_DDP_INT_H

#include <stdint.h>
#include <weft.h>
#include <weft/ml_ddp.h>

typedef struct ddp_bucket {
    weft_ddp_bucket_t pub; /* what hooks see; its arrays are ours */
    size_t *params, *offsets;
    void *own; /* our copy of the gradients, or NULL: pub.buffer is
                * the gradients themselves */
    void *out; /* with own and no hook: the allreduce's result,
                * copied to the gradients as soon as it completes (out
                * of place, the allreduce takes the faster node-local
                * path: no rank stores into lines another is reading);
                * a bucket on the gradients themselves is reduced in
                * place, with no copy at all */
    struct weft_ddp *ddp;
    int copied;     /* the result is in the gradients */
    size_t pending; /* parameters not yet in, this step */
    weft_request_t *req; /* the reduction in flight this step */
    double completed_s;  /* set by the request's completion callback */
    /* without a hook (ml/ddp_part.c): a partitioned allreduce */
    weft_request_t *preq;
    size_t nparts;
    size_t *part_need;   /* [nparts] gradients overlapping each partition */
    size_t *part_left;   /* [nparts] of those not yet in, this step */
    size_t parts_marked; /* partitions marked ready, this step */
} ddp_bucket_t;

enum { DDP_PENDING = 0, DDP_READY = 1, DDP_UNUSED = 2 };

struct weft_ddp {
    weft_comm_t *comm;
    weft_context_t *ctx;
    size_t nparams;
    weft_ddp_param_t *params;
    size_t *bytes;
    size_t cap, first_cap;
    int find_unused, rebuild;
    const weft_ddp_hook_t *hook;
    /* the layout */
    ddp_bucket_t *buckets;
    size_t nbuckets;
    size_t *bucket_of; /* [nparams] */
    size_t *slot_of;   /* [nparams] its place in its bucket */
    /* the step */
    int in_step, sync;
    uint8_t *state;  /* [nparams] DDP_* */
    size_t *arrival; /* [nparams] order of grad_ready, this step */
    size_t narrived;
    size_t next_launch;
    int32_t *used;    /* [nparams] find_unused: 1 used here, then anywhere */
    weft_status_t step_status; /* the first bucket that did not start */
    int synced_once;  /* a synchronised step has finished */
    int want_rebuild; /* rebuild at the next synchronised begin */
    double first_ready_s, last_ready_s, first_launch_s;
    weft_ddp_stats_t stats;
};

/* Monotonic seconds (the clock of weft_request_stats). */
double weft__ddp_now(void);

/* Lay the buckets out for parameters taken in order[] (a permutation of
 * 0..nparams-1): assignment by size, in-place or own buffers. Frees the
 * layout there was. */
weft_status_t weft__ddp_layout(weft_ddp_t *ddp, const size_t *order);
void weft__ddp_layout_free(weft_ddp_t *ddp);
/* After the first synchronised step: every rank takes rank 0's arrival
 * order and lays the buckets out again (a collective on the comm). */
weft_status_t weft__ddp_rebuild(weft_ddp_t *ddp);

/* Start bucket b's reduction (the hook's, or an averaging allreduce). */
weft_status_t weft__ddp_launch(weft_ddp_t *ddp, ddp_bucket_t *b);
/* Start bucket k's partitioned allreduce (k->preq) for this step. */
weft_status_t weft__ddp_start(weft_ddp_t *ddp, ddp_bucket_t *k);
/* Bucket k's averages into the gradients of its parameters (those unused
 * on every rank left as they were), from res. */
void weft__ddp_copy_out(weft_ddp_t *ddp, ddp_bucket_t *k, const void *res);

/* ---- ddp_part.c: buckets reduced partition by partition (no hook) ---- */
/* Its partitioned allreduce and partition counts (after the layout). */
weft_status_t weft__ddp_part_init(weft_ddp_t *ddp, ddp_bucket_t *k);
void weft__ddp_part_free(ddp_bucket_t *k);
/* A new step: every partition waits for its gradients again. */
void weft__ddp_part_begin(ddp_bucket_t *k);
/* Member j of bucket k is in: mark the partitions it completes (starting
 * the buckets up to k first, in order). */
weft_status_t weft__ddp_part_arrive(weft_ddp_t *ddp, ddp_bucket_t *k, size_t j);

#endif /* WEFT_ML_DDP_INT_H */
