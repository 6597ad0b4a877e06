/*
 * The CUDA state of each communicator that has seen a stream collective:
 * a table keyed by the comm (libweft knows nothing of it), made on first
 * use and freed by weft_cuda_comm_fini(); and the ops, recycled with
 * their events and staging once their stream is past them.
 */
#include "build_config.h"
#include "cuda/proxy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <weft/log.h>

#include "cuda/driver.h"
#include "cuda/wait_kernel.h"
#include "errmsg.h" /* WEFT_CHECK only */

int weft__cuda_force_wait_kernel;

static pthread_mutex_t comm_table_lock = PTHREAD_MUTEX_INITIALIZER;
static weft__cuda_comm_t *comm_table;

weft__cuda_comm_t *
weft__cuda_comm_find(weft_comm_t *comm)
{
    weft__cuda_comm_t *cc;

    pthread_mutex_lock(&comm_table_lock);
    for (cc = comm_table; cc != NULL && cc->comm != comm; cc = cc->next) {
    }
    pthread_mutex_unlock(&comm_table_lock);
    return cc;
}

/* The host-mapped flag, and proof that the streams can wait on it. */
static weft_status_t
comm_flag_create(weft__cuda_comm_t *cc, const char *fn)
{
    const weft__cuda_driver_t *drv;
    cudaStream_t probe;
    void *dev = NULL;
    cudaError_t err;
    CUresult res;

    WEFT_CHECK(weft__cuda_driver_get(fn, &drv));
    err = cudaHostAlloc((void **)&cc->flag, 64,
                        cudaHostAllocMapped | cudaHostAllocPortable);
    if (err != cudaSuccess) {
        cc->flag = NULL;
        return weft__cuda_error(fn, "cudaHostAlloc of the stream flag", err);
    }
    *cc->flag = 0;
    err = cudaHostGetDevicePointer(&dev, (void *)cc->flag, 0);
    if (err != cudaSuccess) {
        return weft__cuda_error(fn, "cudaHostGetDevicePointer of the flag",
                                err);
    }
    cc->flag_dev = (CUdeviceptr)dev;
    if (weft__cuda_force_wait_kernel) {
        cc->wait_kernel = 1;
        return weft__cuda_wait_kernel_load(fn);
    }
    /* 32-bit waits need no device attribute since CUDA 12 (only NOR and
     * 64-bit ones do); a driver that still refuses gets the kernel */
    err = cudaStreamCreateWithFlags(&probe, cudaStreamNonBlocking);
    if (err != cudaSuccess) {
        return weft__cuda_error(fn, "cudaStreamCreate", err);
    }
    res = drv->stream_wait_value32((CUstream)probe, cc->flag_dev, 0,
                                   CU_STREAM_WAIT_VALUE_GEQ);
    err = cudaStreamSynchronize(probe);
    (void)cudaStreamDestroy(probe);
    if (res == CUDA_ERROR_NOT_SUPPORTED) {
        (void)cudaGetLastError();
        cc->wait_kernel = 1;
        return weft__cuda_wait_kernel_load(fn);
    }
    if (res != CUDA_SUCCESS) {
        return weft__cuda_drv_error(fn, "cuStreamWaitValue32", res);
    }
    if (err != cudaSuccess) {
        return weft__cuda_error(fn, "cudaStreamSynchronize", err);
    }
    return WEFT_OK;
}

static void
comm_free(weft__cuda_comm_t *cc)
{
    if (cc->flag != NULL) {
        (void)cudaFreeHost((void *)cc->flag);
    }
    pthread_cond_destroy(&cc->progress);
    pthread_cond_destroy(&cc->wake);
    pthread_mutex_destroy(&cc->lock);
    pthread_mutex_destroy(&cc->issue_lock);
    free(cc);
}

static weft_status_t
comm_create(weft_comm_t *comm, int device, const char *fn,
            weft__cuda_comm_t **cc_p)
{
    weft__cuda_comm_t *cc;
    weft_thread_mode_t threads = WEFT_THREAD_MULTIPLE;
    weft_status_t st;
    int rc;

    /* the proxy thread calls into the context beside the caller */
    WEFT_CHECK(weft_context_threads(weft_comm_context(comm), &threads));
    if (threads != WEFT_THREAD_MULTIPLE) {
        return weft_log_error(WEFT_ERR_INVALID_ARG, WEFT_LOG_WARN,
                              WEFT_SUB_COLL,
                              "%s: the context is WEFT_THREADS=serialized, "
                              "and a CUDA communicator's proxy thread calls "
                              "into it beside the caller: create the "
                              "context with WEFT_THREADS=multiple",
                              fn);
    }
    cc = calloc(1, sizeof(*cc));
    if (cc == NULL) {
        return weft_log_error(WEFT_ERR_NO_MEMORY, WEFT_LOG_WARN, WEFT_SUB_COLL,
                              "%s: out of memory", fn);
    }
    cc->comm = comm;
    cc->device = device;
    cc->next_seq = 1;
    pthread_mutex_init(&cc->issue_lock, NULL);
    pthread_mutex_init(&cc->lock, NULL);
    pthread_cond_init(&cc->wake, NULL);
    pthread_cond_init(&cc->progress, NULL);
    WEFT_CHECK_GOTO(comm_flag_create(cc, fn), st, err_free);
    rc = pthread_create(&cc->thread, NULL, weft__cuda_proxy_main, cc);
    if (rc != 0) {
        st = weft_log_error(WEFT_ERR_SYSTEM, WEFT_LOG_WARN, WEFT_SUB_COLL,
                            "%s: cannot start the proxy thread: %s", fn,
                            strerror(rc));
        goto err_free;
    }
    *cc_p = cc;
    return WEFT_OK;

err_free:
    comm_free(cc);
    return st;
}

weft_status_t
weft__cuda_comm_get(weft_comm_t *comm, int device, const char *fn,
                    weft__cuda_comm_t **cc_p)
{
    weft__cuda_comm_t *cc;
    weft_status_t st = WEFT_OK;

    pthread_mutex_lock(&comm_table_lock);
    for (cc = comm_table; cc != NULL && cc->comm != comm; cc = cc->next) {
    }
    if (cc == NULL) {
        st = comm_create(comm, device, fn, &cc);
        if (st == WEFT_OK) {
            cc->next = comm_table;
            comm_table = cc;
        }
    }
    pthread_mutex_unlock(&comm_table_lock);
    if (st == WEFT_OK) {
        *cc_p = cc;
    }
    return st;
}

weft_status_t
weft__cuda_comm_error(weft__cuda_comm_t *cc, const char *fn)
{
    weft_status_t st;

    pthread_mutex_lock(&cc->lock);
    st = cc->error;
    if (st != WEFT_OK) {
        weft_log_error(st, WEFT_LOG_DEBUG, WEFT_SUB_COLL,
                       "%s: an earlier stream collective on this comm "
                       "failed: %s",
                       fn, cc->error_msg);
    }
    pthread_mutex_unlock(&cc->lock);
    return st;
}

weft_status_t
weft__cuda_comm_fail(weft__cuda_comm_t *cc, weft_status_t status,
                     const char *msg)
{
    int first;

    pthread_mutex_lock(&cc->lock);
    first = cc->error == WEFT_OK;
    if (first) {
        snprintf(cc->error_msg, sizeof(cc->error_msg), "%s", msg);
        __atomic_store_n(&cc->error, status, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&cc->lock);
    if (first && weft_comm_error(cc->comm, NULL, NULL) == WEFT_OK) {
        (void)weft_comm_abort(cc->comm, status);
    }
    return status;
}

/* ---- ops -------------------------------------------------------------- */

/* Ops whose stream is past their copies back give up their staging. With
 * `wait`, wait for the oldest one at least. */
static void
op_reclaim(weft__cuda_comm_t *cc, int wait)
{
    while (cc->fly_head != NULL) {
        weft__cuda_op_t *op = cc->fly_head;
        int flags_written;

        pthread_mutex_lock(&cc->lock);
        while (wait && !op->proxy_done) {
            pthread_cond_wait(&cc->progress, &cc->lock);
        }
        flags_written = op->proxy_done;
        pthread_mutex_unlock(&cc->lock);
        if (!flags_written) {
            return;
        }
        if (wait) {
            (void)cudaEventSynchronize(op->done);
        } else if (cudaEventQuery(op->done) == cudaErrorNotReady) {
            return;
        }
        wait = 0;
        cc->fly_head = op->next;
        if (cc->fly_head == NULL) {
            cc->fly_tail = NULL;
        }
        weft__cuda_op_put(cc, op);
    }
}

static weft_status_t
op_events(weft__cuda_op_t *op, int npieces, const char *fn)
{
    cudaError_t err;

    if (op->done == NULL) {
        err = cudaEventCreateWithFlags(&op->done, cudaEventDisableTiming);
        if (err != cudaSuccess) {
            op->done = NULL;
            return weft__cuda_error(fn, "cudaEventCreate", err);
        }
    }
    if (npieces > op->ready_cap) {
        cudaEvent_t *r = realloc(op->ready, sizeof(*r) * (size_t)npieces);

        if (r == NULL) {
            return weft_log_error(WEFT_ERR_NO_MEMORY, WEFT_LOG_WARN,
                                  WEFT_SUB_COLL, "%s: out of memory", fn);
        }
        op->ready = r;
        for (; op->ready_cap < npieces; op->ready_cap++) {
            err = cudaEventCreateWithFlags(&r[op->ready_cap],
                                           cudaEventDisableTiming);
            if (err != cudaSuccess) {
                return weft__cuda_error(fn, "cudaEventCreate", err);
            }
        }
    }
    return WEFT_OK;
}

static void
op_destroy(weft__cuda_op_t *op)
{
    for (int i = 0; i < op->ready_cap; i++) {
        (void)cudaEventDestroy(op->ready[i]);
    }
    if (op->done != NULL) {
        (void)cudaEventDestroy(op->done);
    }
    free(op->ready);
    free(op);
}

weft_status_t
weft__cuda_op_get(weft__cuda_comm_t *cc, const char *fn,
                  const weft__cuda_args_t *a, weft__cuda_op_t **op_p)
{
    weft__cuda_op_t *op;
    weft_status_t st;

    op_reclaim(cc, 0);
    while (a->stage_bytes > 0 && cc->fly_head != NULL &&
           cc->pool.in_use + a->stage_bytes > WEFT__CUDA_STAGE_CAP) {
        op_reclaim(cc, 1);
    }
    op = cc->free_ops;
    if (op != NULL) {
        cc->free_ops = op->next;
    } else if ((op = calloc(1, sizeof(*op))) == NULL) {
        return weft_log_error(WEFT_ERR_NO_MEMORY, WEFT_LOG_WARN, WEFT_SUB_COLL,
                              "%s: out of memory", fn);
    }
    op->next = NULL;
    op->fn = fn;
    op->a = *a;
    op->stage = NULL;
    op->proxy_done = 0;
    op->npieces = 1;
    op->piece_elems = a->count;
    if (a->elementwise && a->count > 0) {
        op->piece_elems = WEFT__CUDA_PIECE_BYTES / a->esize;
        op->npieces = (int)((a->count + op->piece_elems - 1) / op->piece_elems);
    }
    WEFT_CHECK_GOTO(op_events(op, op->npieces, fn), st, err_put);
    if (a->stage_bytes > 0) {
        WEFT_CHECK_GOTO(
            weft__cuda_pool_get(&cc->pool, a->stage_bytes, fn, &op->stage), st,
            err_put);
    }
    *op_p = op;
    return WEFT_OK;

err_put:
    weft__cuda_op_put(cc, op);
    return st;
}

void
weft__cuda_op_put(weft__cuda_comm_t *cc, weft__cuda_op_t *op)
{
    weft__cuda_pool_put(&cc->pool, op->stage);
    op->stage = NULL;
    op->next = cc->free_ops;
    cc->free_ops = op;
}

static void
op_fly(weft__cuda_comm_t *cc, weft__cuda_op_t *op)
{
    op->next = NULL;
    if (cc->fly_tail != NULL) {
        cc->fly_tail->next = op;
    } else {
        cc->fly_head = op;
    }
    cc->fly_tail = op;
}

void
weft__cuda_op_retire(weft__cuda_comm_t *cc, weft__cuda_op_t *op)
{
    op->proxy_done = 1; /* nothing for the proxy: no flag to write */
    op_fly(cc, op);
}

void
weft__cuda_op_submit(weft__cuda_comm_t *cc, weft__cuda_op_t *op)
{
    op_fly(cc, op);

    op->q_next = NULL;
    pthread_mutex_lock(&cc->lock);
    if (cc->q_tail != NULL) {
        cc->q_tail->q_next = op;
    } else {
        cc->q_head = op;
    }
    cc->q_tail = op;
    pthread_cond_signal(&cc->wake);
    pthread_mutex_unlock(&cc->lock);
}

/* ---- teardown --------------------------------------------------------- */

weft_status_t
weft__cuda_comm_fini(weft_comm_t *comm)
{
    weft__cuda_comm_t *cc, **pp;
    weft_status_t st;

    pthread_mutex_lock(&comm_table_lock);
    for (pp = &comm_table; *pp != NULL && (*pp)->comm != comm;
         pp = &(*pp)->next) {
    }
    cc = *pp;
    if (cc != NULL) {
        *pp = cc->next;
    }
    pthread_mutex_unlock(&comm_table_lock);
    if (cc == NULL) {
        return WEFT_OK;
    }

    pthread_mutex_lock(&cc->issue_lock); /* a call in progress ends first */
    pthread_mutex_lock(&cc->lock);
    cc->stop = 1;
    pthread_cond_signal(&cc->wake);
    pthread_mutex_unlock(&cc->lock);
    pthread_join(cc->thread, NULL); /* it drains the queue first */
    while (cc->fly_head != NULL) {
        op_reclaim(cc, 1);
    }
    while (cc->free_ops != NULL) {
        weft__cuda_op_t *op = cc->free_ops;

        cc->free_ops = op->next;
        op_destroy(op);
    }
    weft__cuda_pool_fini(&cc->pool);
    pthread_mutex_unlock(&cc->issue_lock);

    st = cc->error;
    if (st != WEFT_OK) {
        weft_log_error(st, WEFT_LOG_DEBUG, WEFT_SUB_COLL,
                       "weft_cuda_comm_fini: a stream collective on this "
                       "comm failed: %s",
                       cc->error_msg);
    }
    comm_free(cc);
    return st;
}
