/*
 * The CUDA state of one communicator: its proxy thread, the queue of
 * stream collectives waiting for it, the host-mapped flag the streams
 * wait on, and the pooled staging memory.
 *
 * A stream collective is an op of one or more pieces. Piece i has an
 * event (`ready[i]`, recorded after its input reached staging) and a
 * sequence number (seq0 + i): the stream waits until the flag reaches it.
 * The proxy takes ops in issue order; for each piece it waits for the
 * event, runs the host collective on staging and then writes the flag,
 * also when something failed, so no stream ever waits forever.
 */
#ifndef WEFT_CUDA_PROXY_H
#define WEFT_CUDA_PROXY_H

#include <cuda.h>
#include <cuda_runtime_api.h>
#include <pthread.h>
#include <stdint.h>
#include <weft/comm.h>
#include <weft/status.h>

#include "cuda/staging.h"
#include "cuda/stream_args.h"

/* Elementwise collectives move in pieces of this size, so the copies of
 * one piece overlap the network part of another. */
#define WEFT__CUDA_PIECE_BYTES ((size_t)4 << 20)
/* A call blocks (older collectives finish first) while the comm's staging
 * in use would pass this. */
#define WEFT__CUDA_STAGE_CAP ((size_t)1 << 30)

typedef struct weft__cuda_op {
    struct weft__cuda_op *next;   /* in flight (issue order), or free */
    struct weft__cuda_op *q_next; /* in the proxy's queue */
    const char *fn;               /* the public call, for messages */
    weft__cuda_args_t a;
    weft__cuda_stage_t *stage; /* NULL when nothing is staged */
    uint32_t seq0;
    int npieces;
    size_t piece_elems; /* elementwise: elements per piece */
    cudaEvent_t *ready; /* per piece: its input is in staging */
    int ready_cap;
    cudaEvent_t done; /* after the copies back: staging free */
    int proxy_done;   /* every flag of the op was written */
} weft__cuda_op_t;

typedef struct weft__cuda_comm {
    struct weft__cuda_comm *next; /* in the table of comms */
    weft_comm_t *comm;
    int device;
    volatile uint32_t *flag; /* host-mapped; written by the proxy only */
    CUdeviceptr flag_dev;
    int wait_kernel; /* streams wait with a polling kernel (no driver
                        support for cuStreamWaitValue32, or forced) */

    /* the callers' side, under issue_lock */
    pthread_mutex_t issue_lock;
    uint32_t next_seq;
    weft__cuda_op_t *fly_head, *fly_tail; /* issued, staging not free yet */
    weft__cuda_op_t *free_ops;
    weft__cuda_pool_t pool;

    /* shared with the proxy, under lock */
    pthread_mutex_t lock;
    pthread_cond_t wake;     /* for the proxy: work, or stop */
    pthread_cond_t progress; /* for callers: an op's flags are written */
    weft__cuda_op_t *q_head, *q_tail;
    int stop;
    weft_status_t error; /* sticky: the first failure after enqueue */
    char error_msg[320];

    pthread_t thread;
} weft__cuda_comm_t;

/* Tests only: nonzero makes comms created from now on wait with the
 * polling kernel, as they do where the driver lacks the stream wait. */
extern int weft__cuda_force_wait_kernel;

/* The state of `comm`, or NULL when it has none. */
weft__cuda_comm_t *weft__cuda_comm_find(weft_comm_t *comm);

/* The state of `comm`, made (proxy thread started) on first use, bound to
 * CUDA device `device`. */
weft_status_t weft__cuda_comm_get(weft_comm_t *comm, int device, const char *fn,
                                  weft__cuda_comm_t **cc_p);

/* The sticky error, reported again for `fn` (WEFT_OK when none). */
weft_status_t weft__cuda_comm_error(weft__cuda_comm_t *cc, const char *fn);

/* Record a failure found after an op was (partly) enqueued, from any
 * thread: the first one becomes the sticky error, and the comm is
 * aborted with it unless it failed already, so the peers stop waiting
 * for this rank. Returns status. */
weft_status_t weft__cuda_comm_fail(weft__cuda_comm_t *cc, weft_status_t status,
                                   const char *msg);

/* The op calls below are made with cc->issue_lock held. */

/* An op with staging and events for `a` (pieces decided here); may wait
 * for older ops to free staging memory. */
weft_status_t weft__cuda_op_get(weft__cuda_comm_t *cc, const char *fn,
                                const weft__cuda_args_t *a,
                                weft__cuda_op_t **op_p);
/* An op that was never submitted goes back. */
void weft__cuda_op_put(weft__cuda_comm_t *cc, weft__cuda_op_t *op);
/* An op that failed before any wait was enqueued, with its done event
 * recorded: kept in flight (not run) until the stream is past it. */
void weft__cuda_op_retire(weft__cuda_comm_t *cc, weft__cuda_op_t *op);
/* Hand a fully enqueued op to the proxy. */
void weft__cuda_op_submit(weft__cuda_comm_t *cc, weft__cuda_op_t *op);

/* The proxy thread (proxy.c); arg is the weft__cuda_comm_t. */
void *weft__cuda_proxy_main(void *arg);

/* Take the state of `comm` out of the table, drain and free it; returns
 * its sticky error. */
weft_status_t weft__cuda_comm_fini(weft_comm_t *comm);

#endif /* WEFT_CUDA_PROXY_H */
