/* Requests: one nonblocking operation; embedded transport op. */
#ifndef WEFT_REQUEST_INTERNAL_H
#define WEFT_REQUEST_INTERNAL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <weft/request.h>
#include <weft/transport.h>

typedef struct weft_context weft_context_t;
typedef struct weft_comm weft_comm_t;

#define WEFT_REQ_MAGIC 0x52714577u /* live */
#define WEFT_REQ_DEAD 0x44654164u  /* freed: use after free is caught */

typedef enum weft__req_kind {
    WEFT_REQ_SEND = 1,
    WEFT_REQ_RECV = 2,
    WEFT_REQ_COLL = 3, /* runs a schedule (collectives/sched.c) */
    WEFT_REQ_PART = 4  /* a partitioned collective (collectives/coll_part.c):
                          persistent, done while inactive */
} weft__req_kind_t;

struct weft_request {
    uint32_t magic;
    uint8_t kind;   /* weft__req_kind_t */
    uint8_t done;   /* completed (status and bytes are final) */
    uint8_t in_tl;  /* the op is pending in a transport */
    weft_context_t *ctx;
    weft_comm_t *comm;
    struct weft_request *next, *prev; /* comm's pending list; freelist */
    weft_status_t status;
    size_t bytes;  /* bytes sent, or received into the buffer */
    int peer;      /* comm rank of the peer */
    int tag;       /* user tag */
    int tl;        /* transport index in the context */
    weft_tl_ep_t *ep;
    uint64_t posted;           /* weft__stamp() */
    double completed_s;        /* kept only when it has a callback (stats) */
    struct weft__sched *sched; /* WEFT_REQ_COLL */
    struct weft__part *part;   /* WEFT_REQ_PART */
    struct weft_request *parent; /* the WEFT_REQ_PART a partition is of */
    struct weft__req_cb *cb;   /* weft_request_on_complete, until it fires */
    uint8_t cb_set;            /* one was registered */
    struct weft__req_cb *cb_running; /* its callback runs now ... */
    pthread_t cb_thread;             /* ... in this thread */
    weft_tl_op_t op;
};

/* Allocate a request on comm (linked into its pending list). Lock held. */
weft_status_t weft__req_create(weft_comm_t *comm, weft__req_kind_t kind,
                               weft_request_t **req_p);
/* A persistent request: not on the comm's pending list, inactive (done)
 * until started. Lock held. */
void weft__req_persist(weft_request_t *req);
/* Mark done with status (unlinks it from the comm). Lock held. */
void weft__req_complete(weft_request_t *req, weft_status_t status,
                        size_t bytes);
/* Withdraw from the transport (if pending there) and complete with
 * status. Lock held. */
void weft__req_cancel(weft_request_t *req, weft_status_t status);
/* Return to the context's freelist. Lock held. */
void weft__req_release(weft_request_t *req);
/* Set this thread's weft_last_error for a failed request: its comm's
 * error, or one naming the operation. Lock held. */
void weft__req_error_text(const weft_request_t *req);
/* Wait under the comm's deadline; does not release. Lock held. */
weft_status_t weft__req_wait(weft_request_t *req);
/* Validate a public handle: WEFT_ERR_INVALID_ARG naming fn. */
weft_status_t weft__req_check(const weft_request_t *req, const char *fn);
/* The transport completion callback every request op uses. */
void weft__req_tl_complete(weft_tl_op_t *op, weft_status_t status,
                           size_t bytes);
/* Free the freelist (context destroy). */
void weft__req_pool_fini(weft_context_t *ctx);

#endif /* WEFT_REQUEST_INTERNAL_H */
