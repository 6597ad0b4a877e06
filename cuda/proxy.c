/*
 * The proxy thread of a comm's stream collectives: in issue order, for
 * each piece of each op, wait until the stream has copied the input to
 * staging, run the host collective there, and write the flag that lets
 * the stream copy the result back. The flag is written in every case, so
 * a failure never hangs a stream; the failure becomes the comm's sticky
 * stream error instead.
 */
#include "build_config.h"
#include "cuda/proxy.h"

#include <sched.h>
#include <stdio.h>
#include <time.h>
#include <weft/coll.h>
#include <weft/log.h>

static int
proxy_failed(weft__cuda_comm_t *cc)
{
    return __atomic_load_n(&cc->error, __ATOMIC_ACQUIRE) != WEFT_OK;
}

/* Poll rather than block in cudaEventSynchronize: a short spin keeps
 * small collectives fast, then the thread naps so it does not burn a core
 * while the stream is busy with other work. */
static cudaError_t
proxy_event_wait(cudaEvent_t ev)
{
    struct timespec nap = {0, 20 * 1000};

    for (unsigned i = 0;; i++) {
        cudaError_t err = cudaEventQuery(ev);

        if (err != cudaErrorNotReady) {
            return err;
        }
        if (i >= 2000) {
            nanosleep(&nap, NULL);
        } else if (i >= 200) {
            sched_yield();
        }
    }
}

static weft_status_t
proxy_host_call(weft__cuda_comm_t *cc, const weft__cuda_op_t *op, int piece)
{
    const weft__cuda_args_t *a = &op->a;
    char *base = op->stage != NULL ? op->stage->ptr : NULL;
    size_t first = 0, cnt = a->count;
    char *p;

    if (a->elementwise) {
        first = (size_t)piece * op->piece_elems;
        cnt = a->count - first < op->piece_elems ? a->count - first
                                                 : op->piece_elems;
    }
    p = base != NULL && cnt > 0 ? base + first * a->esize : NULL;
    switch (a->coll) {
    case WEFT__CUDA_ALLREDUCE:
        return weft_allreduce(p, p, cnt, a->dtype, a->op, cc->comm);
    case WEFT__CUDA_REDUCE:
        return weft_reduce(p, a->rank == a->root ? p : NULL, cnt, a->dtype,
                           a->op, a->root, cc->comm);
    case WEFT__CUDA_BROADCAST:
        return weft_broadcast(p, cnt, a->dtype, a->root, cc->comm);
    case WEFT__CUDA_ALLGATHER:
        return weft_allgather(base, base, cnt, a->dtype, cc->comm);
    case WEFT__CUDA_REDUCE_SCATTER:
        return weft_reduce_scatter(base, base, cnt, a->dtype, a->op, cc->comm);
    case WEFT__CUDA_ALLTOALL:
        return weft_alltoall(base, base, cnt, a->dtype, cc->comm);
    }
    return WEFT_ERR_INTERNAL;
}

static void
proxy_run(weft__cuda_comm_t *cc, weft__cuda_op_t *op)
{
    char msg[sizeof(cc->error_msg)];

    for (int i = 0; i < op->npieces; i++) {
        if (!proxy_failed(cc)) {
            cudaError_t err = proxy_event_wait(op->ready[i]);

            if (err != cudaSuccess) {
                snprintf(msg, sizeof(msg),
                         "%s: waiting for the copy to staging failed: %s",
                         op->fn, cudaGetErrorString(err));
                weft_log_error(WEFT_ERR_CUDA, WEFT_LOG_WARN, WEFT_SUB_COLL,
                               "%s", msg);
                weft__cuda_comm_fail(cc, WEFT_ERR_CUDA, msg);
            }
        }
        if (!proxy_failed(cc)) {
            weft_status_t st = proxy_host_call(cc, op, i);

            if (st < 0) {
                /* the host call logged it; keep its words */
                snprintf(msg, sizeof(msg), "%s: %s", op->fn, weft_last_error());
                weft__cuda_comm_fail(cc, st, msg);
            }
        }
        /* release: the staging bytes are visible before the flag */
        __atomic_store_n(cc->flag, op->seq0 + (uint32_t)i, __ATOMIC_RELEASE);
    }
}

void *
weft__cuda_proxy_main(void *arg)
{
    weft__cuda_comm_t *cc = arg;
    cudaError_t err = cudaSetDevice(cc->device);

    if (err != cudaSuccess) {
        char msg[sizeof(cc->error_msg)];

        snprintf(msg, sizeof(msg), "proxy thread: cudaSetDevice(%d): %s",
                 cc->device, cudaGetErrorString(err));
        weft_log_error(WEFT_ERR_CUDA, WEFT_LOG_WARN, WEFT_SUB_COLL, "%s", msg);
        weft__cuda_comm_fail(cc, WEFT_ERR_CUDA, msg);
    }
    for (;;) {
        weft__cuda_op_t *op;

        pthread_mutex_lock(&cc->lock);
        while (cc->q_head == NULL && !cc->stop) {
            pthread_cond_wait(&cc->wake, &cc->lock);
        }
        op = cc->q_head;
        if (op == NULL) {
            pthread_mutex_unlock(&cc->lock);
            break; /* stopped and drained */
        }
        cc->q_head = op->q_next;
        if (cc->q_head == NULL) {
            cc->q_tail = NULL;
        }
        pthread_mutex_unlock(&cc->lock);

        proxy_run(cc, op);

        pthread_mutex_lock(&cc->lock);
        op->proxy_done = 1;
        pthread_cond_broadcast(&cc->progress);
        pthread_mutex_unlock(&cc->lock);
    }
    return NULL;
}
