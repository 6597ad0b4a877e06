/*
 * Launching a bucket's reduction: the averaging allreduce, or the
 * caller's hook; and the built-in compression hooks (fp16, bf16): the
 * bucket travels as 16-bit floats, divided by the rank count before it is
 * narrowed (so that the sum cannot overflow where the average does not),
 * summed in fp32 by the allreduce, and widened back.
 */
#include <stdio.h>
#include <stdlib.h>

#include "ml/ddp_int.h"
#include "ml/ml_half.h"
#include "ml/ml_util.h"

/* From progress (any thread; the caller reads what it writes only after
 * weft_wait on the request): the completion time, and without a hook or
 * unused parameters the averages straight into the gradients, so that the
 * copy of all but the last buckets happens while the backward goes on. */
static void
ddp_bucket_done(void *arg, weft_status_t status)
{
    ddp_bucket_t *k = arg;

    k->completed_s = weft__ddp_now();
    if (status == WEFT_OK && k->ddp->hook == NULL && !k->ddp->find_unused) {
        if (k->out != NULL) {
            weft__ddp_copy_out(k->ddp, k, k->out);
        }
        k->copied = 1;
    }
}

/* The other ranks launched this bucket's reduction and wait for ours:
 * aborting the comm ends their wait now (WEFT_ERR_ABORTED) rather than at
 * the deadline. The step remembers it (weft_ddp_finish reports it).
 * Returns st (WEFT_ERR_ABORTED if it is no error). */
static weft_status_t
ddp_launch_failed(weft_ddp_t *ddp, const ddp_bucket_t *k, weft_status_t st)
{
    char why[256];
    weft_status_t ret;

    snprintf(why, sizeof(why), "%s", weft_last_error());
    ret = weft__ml_give_up(ddp->comm, st);
    if (ddp->step_status == WEFT_OK) {
        ddp->step_status = ret;
    }
    return weft_log_error(ret, WEFT_LOG_ERROR, WEFT_SUB_ML,
                          "weft_ddp: bucket %zu's reduction did not start "
                          "(%d, %s: %s); comm aborted, so the other ranks "
                          "stop too (WEFT_ERR_ABORTED)",
                          k->pub.index, (int)st, weft_status_string(st), why);
}

weft_status_t
weft__ddp_launch(weft_ddp_t *ddp, ddp_bucket_t *k)
{
    weft_request_t *req = NULL;
    weft_status_t st;

    if (ddp->hook != NULL) {
        st = ddp->hook->launch(ddp->hook->state, ddp->comm, &k->pub, &req);
        if (st == WEFT_OK && req == NULL) {
            st =
                weft_log_error(WEFT_ERR_INVALID_ARG, WEFT_LOG_WARN, WEFT_SUB_ML,
                               "weft_ddp: the hook returned no request for "
                               "bucket %zu",
                               k->pub.index);
        }
    } else {
        st = weft_iallreduce(
            k->pub.buffer, k->out != NULL ? k->out : k->pub.buffer,
            k->pub.count, k->pub.dtype, WEFT_AVG, ddp->comm, &req);
    }
    if (st != WEFT_OK) {
        return ddp_launch_failed(ddp, k, st);
    }
    k->req = req;
    k->ddp = ddp;
    k->copied = 0;
    /* its completion time, for the statistics */
    return weft_request_on_complete(req, ddp_bucket_done, k);
}

weft_status_t
weft__ddp_start(weft_ddp_t *ddp, ddp_bucket_t *k)
{
    weft_status_t st = weft_start(k->preq);

    if (st != WEFT_OK) {
        return ddp_launch_failed(ddp, k, st);
    }
    k->req = k->preq;
    k->ddp = ddp;
    k->copied = 0;
    return weft_request_on_complete(k->preq, ddp_bucket_done, k);
}

/* ---- the hooks ----------------------------------------------------------- */

static weft_status_t
ddp_compress_launch(weft_comm_t *comm, weft_ddp_bucket_t *b, int bf16,
                    weft_request_t **req_p)
{
    const float *src = b->buffer;
    uint16_t *wire;
    float scale = 1.0f / (float)weft_comm_size(comm);

    WEFT_ML_ARG(b->dtype == WEFT_FLOAT32,
                "weft_ddp_hook_%s_compress: bucket %zu holds %s gradients "
                "(float32 only)",
                bf16 ? "bf16" : "fp16", b->index, weft_dtype_name(b->dtype));
    if (b->hook_data == NULL &&
        (b->hook_data = malloc((b->count ? b->count : 1) * 2)) == NULL) {
        return weft_log_error(WEFT_ERR_NO_MEMORY, WEFT_LOG_WARN, WEFT_SUB_ML,
                              "weft_ddp: out of memory for a compressed "
                              "bucket of %zu elements",
                              b->count);
    }
    wire = b->hook_data;
    for (size_t i = 0; i < b->count; i++) {
        float v = src[i] * scale;

        wire[i] = bf16 ? weft__ml_f32_to_bf16(v) : weft__ml_f32_to_f16(v);
    }
    return weft_iallreduce(wire, wire, b->count,
                           bf16 ? WEFT_BFLOAT16 : WEFT_FLOAT16, WEFT_SUM, comm,
                           req_p);
}

static void
ddp_compress_widen(weft_ddp_bucket_t *b, int bf16)
{
    const uint16_t *wire = b->hook_data;
    float *dst = b->buffer;

    for (size_t i = 0; i < b->count; i++) {
        dst[i] =
            bf16 ? weft__ml_bf16_to_f32(wire[i]) : weft__ml_f16_to_f32(wire[i]);
    }
}

static weft_status_t
ddp_fp16_launch(void *state, weft_comm_t *comm, weft_ddp_bucket_t *b,
                weft_request_t **req_p)
{
    (void)state;
    return ddp_compress_launch(comm, b, 0, req_p);
}

static weft_status_t
ddp_bf16_launch(void *state, weft_comm_t *comm, weft_ddp_bucket_t *b,
                weft_request_t **req_p)
{
    (void)state;
    return ddp_compress_launch(comm, b, 1, req_p);
}

static weft_status_t
ddp_fp16_complete(void *state, weft_ddp_bucket_t *b)
{
    (void)state;
    ddp_compress_widen(b, 0);
    return WEFT_OK;
}

static weft_status_t
ddp_bf16_complete(void *state, weft_ddp_bucket_t *b)
{
    (void)state;
    ddp_compress_widen(b, 1);
    return WEFT_OK;
}

static void
ddp_compress_release(void *state, weft_ddp_bucket_t *b)
{
    (void)state;
    free(b->hook_data);
    b->hook_data = NULL;
}

const weft_ddp_hook_t weft_ddp_hook_fp16_compress = {
    .launch = ddp_fp16_launch,
    .complete = ddp_fp16_complete,
    .release = ddp_compress_release,
};

const weft_ddp_hook_t weft_ddp_hook_bf16_compress = {
    .launch = ddp_bf16_launch,
    .complete = ddp_bf16_complete,
    .release = ddp_compress_release,
};
