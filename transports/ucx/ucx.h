/*
 * ucx: a transport over UCX's UCP tag API, built as the loadable module
 * weft_tl_ucx.so (libweft never links UCX).
 *
 *   ucx_tl.c   the ops table, context and worker, address, progress, the
 *              worker's wakeup fd, teardown
 *   ucx_ep.c   endpoints from the peer's worker address, the goodbye
 *              message, peers lost (UCP_ERR_HANDLING_MODE_PEER)
 *   ucx_ops.c  isend, irecv, cancel, UCX's completion callbacks, the tag
 *              layout and the status mapping
 *
 * UCX matches a receive against every sender of the worker, while weft
 * matches per (peer, tag): the UCX tag carries the sender's rank next to
 * the weft tag (ucx_ops.c, ucx_tag). Completions UCX reports from
 * inside ucp_worker_progress are queued and handed to the core at the end
 * of progress(), so op->complete never runs from inside UCX or from
 * cancel(). The module calls no weft__* function of the core: it logs
 * through args.log and reports lost peers through args.peer_failed.
 */
#ifndef WEFT_TL_UCX_H
#define WEFT_TL_UCX_H

#include <stdarg.h>
#include <stddef.h>
#include <time.h>
#include <stdint.h>
#include <ucp/api/ucp.h>
#include <weft/transport.h>

/* What the module publishes: a small header, then the worker address. */
#define UCX_ADDR_MAGIC 0x58435557u /* "WUCX" */
typedef struct ucx_addr_hdr {
    uint32_t magic;
    uint32_t rank;
    uint32_t pid;        /* watched by peers on this node */
    uint32_t worker_len; /* bytes of worker address that follow */
} ucx_addr_hdr_t;

/* A list of ops (each op's links live in its priv area). */
typedef struct ucx_list {
    weft_tl_op_t *head, *tail;
} ucx_list_t;

/* The space UCX reserves for us in each of its requests
 * (ucp_params.request_size). Zero while the request serves an op (set so
 * by request_init, and again before each request is freed); a callback
 * finds its op through user_data. */
typedef struct ucx_req {
    uint8_t orphan;   /* its op was withdrawn: the callback frees it */
    uint8_t waited;   /* cancel() waits for it: the callback marks it */
    uint8_t finished; /* the callback ran while cancel() waited */
} ucx_req_t;

void weft__ucx_req_init(void *request);

enum { UCX_OP_SEND = 1, UCX_OP_RECV = 2 };
enum { UCX_IN_NONE = 0, UCX_IN_PENDING = 1, UCX_IN_DONE = 2 };

/* The transport's part of a weft_tl_op_t (its priv area). */
typedef struct ucx_op {
    weft_tl_op_t *prev, *next; /* in the ep's pending list or tl->done */
    weft_tl_ep_t *ep;
    ucx_req_t *req; /* UCX's request while UCX holds the op */
    uint64_t tag;   /* the weft tag */
    void *buf;      /* through the copying or gathering datatype */
    size_t len;     /* the buffer's length (after the head) */
    void *head;     /* isend_head / irecv_head: the first hlen bytes */
    size_t hlen;    /* 0: no head */
    size_t bytes;   /* once done: bytes sent or received */
    weft_status_t status;
    uint8_t kind;  /* UCX_OP_* */
    uint8_t where; /* UCX_IN_* */
    uint8_t copying; /* received through tl->dt_copy */
} ucx_op_t;

_Static_assert(sizeof(ucx_op_t) <= WEFT_TL_OP_PRIV_SIZE,
               "ucx_op_t must fit in weft_tl_op_t.priv");

enum {
    UCX_EP_OPEN = 0,
    UCX_EP_FAILED = 1, /* lost: every op fails, the host was told */
    UCX_EP_CLOSED = 2  /* closed by fini or by a withdrawn send */
};

struct weft_tl_ep {
    weft_tl_t *tl;
    int rank;
    int state;            /* UCX_EP_* */
    int bye;              /* the peer said goodbye */
    int reported;         /* the host heard of this peer's failure */
    int fail_pending;     /* look at it in the next progress (failed, bye) */
    ucs_status_t ucs_err; /* what the error callback said */
    int unmatched;        /* receives withdrawn by the goodbye, not standing */
    ucp_ep_h uep;
    int err_mode_none;   /* shared memory: UCX offers no failure handling */
    int pidfd;           /* the peer process (same node), or -1 */
    ucx_list_t ops;      /* pending sends and receives of this peer */
    weft_tl_op_t bye_op; /* the standing receive of the peer's goodbye */
    char why[160];
};

struct weft_tl {
    int rank;
    int nranks;
    int rank_bits; /* bits of the UCX tag that carry the sender's rank */
    double teardown_timeout;
    void *host;
    void (*log)(void *host, weft_log_level_t level, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
    void (*peer_failed)(void *host, int peer, weft_status_t status,
                        const char *reason);
    ucp_context_h ctx;
    ucp_worker_h worker;
    ucp_datatype_t dt_copy;   /* small receives: copy what fits */
    ucp_datatype_t dt_gather; /* isend_head: head and body, one message */
    int efd;        /* the worker's wakeup fd */
    int epfd;       /* wait_fd: efd and the pidfds of peers on this node */
    double pid_check_next; /* when progress next looks at the pidfds */
    unsigned pid_polls;    /* progress calls (the clock is read 1 in 64) */
    int check_pids; /* look at the pidfds in the next progress */
    ucp_address_t *waddr;
    size_t waddr_len;
    int local_mode_none; /* peers on this node: no transport with peer
                            failure handling (UCX logged it once) */
    int net_only;       /* the address was trimmed to network devices */
    weft_tl_ep_t **eps; /* by rank */
    ucx_list_t done;    /* completed, not yet handed to the core */
    int failures;       /* eps with fail_pending set */
    int closing;
};

/* ---- ucx_ops.c ---- */
static inline ucx_op_t *
weft__ucx_op(weft_tl_op_t *op)
{
    return (ucx_op_t *)(void *)op->priv.u64;
}

weft_status_t weft__ucx_status(ucs_status_t s);
/* The generic datatypes small receives go through (tl->dt_copy) and
 * head sends (tl->dt_gather). */
weft_status_t weft__ucx_dt_create(weft_tl_t *tl);
/* The tag of the goodbye message `src` sends. */
uint64_t weft__ucx_bye_tag(const weft_tl_t *tl, int src);
void weft__ucx_list_push(ucx_list_t *l, weft_tl_op_t *op);
void weft__ucx_list_remove(ucx_list_t *l, weft_tl_op_t *op);
weft_status_t weft__ucx_isend(weft_tl_ep_t *ep, const void *buf, size_t len,
                              uint64_t tag, weft_tl_op_t *op);
/* Monotonic seconds, for the module's bounded waits. */
static inline double
weft__ucx_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* A send UCX finishes inside the call (UCP_OP_ATTR_FLAG_FORCE_IMM_CMPL),
 * or WEFT_INPROGRESS with nothing sent (weft_tl_ops_t.inject). */
weft_status_t weft__ucx_inject(weft_tl_ep_t *ep, const void *buf, size_t len,
                               uint64_t tag);
weft_status_t weft__ucx_irecv(weft_tl_ep_t *ep, void *buf, size_t len,
                              uint64_t tag, weft_tl_op_t *op);
/* weft_tl_ops_t.isend_head / irecv_head: head and body gathered into, and
 * scattered out of, UCX's own buffers by the generic datatypes (one copy
 * each way, where the core would add one), to peers over UCX's shared
 * memory; elsewhere WEFT_INPROGRESS. */
weft_status_t weft__ucx_isend_head(weft_tl_ep_t *ep, const void *head,
                                   size_t hlen, const void *buf, size_t len,
                                   uint64_t tag, weft_tl_op_t *op);
weft_status_t weft__ucx_irecv_head(weft_tl_ep_t *ep, void *head, size_t hlen,
                                   void *buf, size_t len, uint64_t tag,
                                   weft_tl_op_t *op);
/* Post a receive with a UCX tag of our own (the goodbye). */
weft_status_t weft__ucx_recv_raw(weft_tl_ep_t *ep, uint64_t utag,
                                 weft_tl_op_t *op);
void weft__ucx_cancel(weft_tl_ep_t *ep, weft_tl_op_t *op);
/* Take op away from UCX without completing it (teardown, lost peers). */
void weft__ucx_detach(weft_tl_t *tl, weft_tl_op_t *op);
/* Hand queued completions to the core; the number handed. */
unsigned weft__ucx_deliver(weft_tl_t *tl);

/* ---- ucx_ep.c ---- */
weft_status_t weft__ucx_ep_create(weft_tl_t *tl, const weft_tl_peer_t *peer,
                                  weft_tl_ep_t **ep_p);
void weft__ucx_ep_free(weft_tl_ep_t *ep);
/* The goodbye arrived (status WEFT_OK) or failed. */
void weft__ucx_ep_bye(weft_tl_ep_t *ep, weft_status_t status);
/* Have the next progress look at the peer (failed, or said goodbye). */
void weft__ucx_ep_attention(weft_tl_ep_t *ep);
/* Fail the peers the error callback reported (inside progress). */
void weft__ucx_ep_run_failures(weft_tl_t *tl);
/* Peers on this node whose process has ended (their pidfd is readable). */
void weft__ucx_ep_check_pids(weft_tl_t *tl);
/* Close the link now, failing what is pending on it (a withdrawn send or
 * receive UCX would not let go of). */
void weft__ucx_ep_lose(weft_tl_ep_t *ep, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* ---- ucx_tl.c ---- */
void weft__ucx_log(weft_tl_t *tl, weft_log_level_t level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif /* WEFT_TL_UCX_H */
