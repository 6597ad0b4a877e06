/*
 * ofi transport: libfabric RDM endpoints with tagged messages. Private
 * structures shared by its files. Built as a loadable module
 * (weft_tl_ofi.so): it calls nothing of the core, only the services in
 * weft_tl_init_args_t.
 *
 * Matching is libfabric's: a receive is posted for (peer address, tag)
 * (FI_DIRECTED_RECV, ignore mask 0) and the endpoint keeps send order
 * (FI_ORDER_SAS). Control messages (hello, goodbye) use the untagged queue
 * (FI_MSG), so the 64-bit tag space stays the core's.
 *
 * A tagged message must not reach a peer before the peer has put us in
 * its AV: libfabric 1.17's shm provider queues such a message with an
 * unknown source, and then any receive with its tag takes it, whichever
 * peer that receive names (a receive from rank 1 gets rank 3's data, and
 * the receive from rank 3 waits forever). So a link starts with a hello
 * each way, sent once the sender has the other in its AV and carrying
 * the sender's address (the other inserts it if it has no link yet); the
 * tagged sends to a peer wait in tl->queue until its hello has come.
 *
 *   ofi_tl.c   ops table, init/fini, provider choice, address/reachable
 *   ofi_ep.c   peers: AV insertion, liveness (pidfd), lost and finished
 *   ofi_ops.c  isend/irecv/cancel, the queue of posts that met EAGAIN
 *   ofi_cq.c   progress: CQ reading, completions, error entries
 *   ofi_ctrl.c control messages on the untagged queue: hello, goodbye
 *   ofi_mr.c   memory registration and its cache
 */
#ifndef WEFT_OFI_H
#define WEFT_OFI_H

#include <rdma/fabric.h>
#include <rdma/fi_domain.h>
#include <rdma/fi_endpoint.h>
#include <rdma/fi_tagged.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <weft/transport.h>

#define OFI_FI_VERSION   FI_VERSION(1, 17)
#define OFI_ADDR_MAGIC   0x49464f57u /* "WOFI" */
#define OFI_PROV_LEN     32
#define OFI_NAME_MAX     (WEFT_TL_ADDR_MAX - 48)
#define OFI_CTRL_BUFS    16          /* untagged receive buffers */
#define OFI_CTRL_MAGIC   0x4c544357u /* "WCTL" */
#define OFI_CQ_BATCH     32
#define OFI_MR_CACHE_MAX 64           /* registrations kept */
#define OFI_LIVENESS_S   0.01         /* pidfds checked at most this often */
#define OFI_EXIT_DRAIN_S 1.0 /* a peer gone without a goodbye: read on */
#define OFI_SINK_LEN     (1ull << 30) /* bytes past a receive buffer */

/* ---- the address blob ----------------------------------------------- */

/* Fixed little-endian header, then the fi_getname bytes. */
typedef struct ofi_addr_hdr {
    uint32_t magic;
    int32_t pid; /* for liveness of ranks on the same node */
    uint32_t name_len;
    uint32_t reserved;
    char prov[OFI_PROV_LEN]; /* provider name, NUL-padded */
} ofi_addr_hdr_t;

/* ---- control messages ------------------------------------------------ */

typedef enum ofi_ctrl_type {
    OFI_CTRL_HELLO = 1, /* the sender has us in its AV; its address follows */
    OFI_CTRL_BYE = 2    /* the sender finishes */
} ofi_ctrl_type_t;

typedef struct ofi_ctrl_hdr {
    uint32_t magic; /* OFI_CTRL_MAGIC */
    uint32_t type;  /* ofi_ctrl_type_t */
    uint32_t rank;  /* the sender's */
    uint32_t len;   /* bytes that follow (a hello's address blob) */
} ofi_ctrl_hdr_t;

#define OFI_CTRL_LEN       (sizeof(ofi_ctrl_hdr_t) + WEFT_TL_ADDR_MAX)
#define OFI_CTRL_HELLO_BUF OFI_CTRL_BUFS       /* our hello in ctrl_buf */
#define OFI_CTRL_BYE_BUF   (OFI_CTRL_BUFS + 1) /* our goodbye */

/* ---- requests --------------------------------------------------------- */

typedef enum ofi_req_kind {
    OFI_REQ_SEND,
    OFI_REQ_RECV,
    OFI_REQ_CTRL_RECV, /* a control buffer, reposted after each message */
    OFI_REQ_CTRL_SEND, /* a goodbye */
    OFI_REQ_CTRL_HELLO /* our hello to one peer */
} ofi_req_kind_t;

typedef enum ofi_req_state {
    OFI_REQ_QUEUED, /* met -FI_EAGAIN: waits in tl->queue */
    OFI_REQ_POSTED, /* handed to libfabric: its context is in flight */
    OFI_REQ_ORPHAN, /* its op is finished; libfabric still holds it */
    OFI_REQ_FREE    /* in tl->free_reqs */
} ofi_req_state_t;

typedef struct weft__ofi_mr weft__ofi_mr_t;

/* One operation handed to libfabric. The fi_context2 comes first: it is
 * the context libfabric gives back (FI_CONTEXT/FI_CONTEXT2 modes). */
typedef struct weft__ofi_req {
    struct fi_context2 ctx;
    ofi_req_kind_t kind;
    ofi_req_state_t state;
    weft_tl_ep_t *ep;
    weft_tl_op_t *op; /* NULL once withdrawn or finished early */
    void *buf;        /* the body, after the head when hlen > 0 */
    size_t len;       /* the whole message (or room): head and body */
    void *head;       /* isend_head / irecv_head: the first hlen bytes */
    size_t hlen;      /* 0: one buffer */
    uint64_t tag;
    weft__ofi_mr_t *mr;                /* the body's; NULL: none */
    weft_status_t cancel_status;       /* what an FI_ECANCELED means for it */
    int cancelled;                     /* fi_cancel was called */
    struct weft__ofi_req *prev, *next; /* ep->pending, or tl->orphans */
    struct weft__ofi_req *qnext;       /* tl->queue while QUEUED */
} weft__ofi_req_t;

/* A completion found outside progress() (while cancelling), delivered by
 * the next progress() call. */
typedef struct weft__ofi_done {
    weft_tl_op_t *op;
    weft_status_t status;
    size_t bytes;
    struct weft__ofi_done *next;
} weft__ofi_done_t;

/* ---- peers and the instance ------------------------------------------ */

struct weft_tl_ep {
    weft_tl_t *tl;
    int rank;
    fi_addr_t addr;
    pid_t pid;    /* same node: its process; else 0 */
    int pidfd;    /* readable when it exits; -1: none */
    int exited;   /* its process is gone */
    double exited_at; /* when that was seen */
    int bye;      /* it said goodbye */
    int hello;    /* our hello to it is on its way */
    int ready;    /* its hello came: it has us in its AV, sends may go */
    int reported; /* the host heard of its end (or never needs to) */
    weft_status_t failed;
    char why[160];
    weft__ofi_req_t *pending; /* posted and queued ops, oldest first */
    weft__ofi_req_t *pending_tail;
    uint8_t name[OFI_NAME_MAX]; /* what went into the AV */
    size_t name_len;
};

/* Registration cache entry. */
struct weft__ofi_mr {
    struct fid_mr *mr;
    void *desc;
    uintptr_t start, end;
    unsigned refs;
    uint64_t last_use;
};

struct weft_tl {
    /* host services */
    void *host;
    const char *(*config_get)(void *host, const char *name);
    void (*log)(void *host, weft_log_level_t level, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
    void (*peer_failed)(void *host, int peer, weft_status_t status,
                        const char *reason);
    int rank, nranks;
    double teardown_timeout;
    int closing;

    /* libfabric objects */
    struct fi_info *info;
    struct fid_fabric *fabric;
    struct fid_domain *domain;
    struct fid_av *av;
    struct fid_cq *cq;
    struct fid_ep *ep;
    char prov[OFI_PROV_LEN];
    int node_local; /* the provider reaches this node only (shm) */
    size_t inject_size;
    size_t max_msg;
    /* isend_head / irecv_head post the head and the body as two buffers
     * (ofi_split_providers, and buffers need no descriptors) */
    int split;
    int one_large;   /* WEFT_TL_HINT_ONE_LARGE (ofi_one_large_providers) */
    int mr_local;    /* the provider needs descriptors (FI_MR_LOCAL) */
    int mr_endpoint; /* FI_MR_ENDPOINT: bind each region to the ep */
    int mr_always;   /* WEFT_OFI_MR=always */
    int mr_prov_key; /* FI_MR_PROV_KEY: the provider picks keys */
    uint64_t mr_next_key;
    /* Receives end in a sink (reserved, untouched address space) so that a
     * longer message never meets the provider's truncation, which some
     * (tcp;ofi_rxm) get wrong: the bytes that fit are the receiver's, the
     * rest go to the sink, and the receive completes TRUNCATED. */
    void *sink;
    uint8_t name[OFI_NAME_MAX];
    size_t name_len;

    /* blocking waits */
    int cq_fd; /* the CQ's wait fd (FI_WAIT_FD), else -1 */
    int epfd;  /* cq_fd and peers' pidfds: the host's wait fd */
    int wait_is_fd;

    weft_tl_ep_t **peers;                /* by job rank */
    weft__ofi_req_t *queue, *queue_tail; /* posts that met -FI_EAGAIN */
    weft__ofi_req_t *orphans;            /* posted reqs whose peer is gone */
    weft__ofi_req_t *free_reqs;
    weft__ofi_req_t *cancelling; /* cancel() waits for this one; other
                                    completions meanwhile are deferred */
    weft__ofi_done_t *done, *done_tail;
    int peer_news; /* a peer exited or said goodbye: sweep */
    double next_liveness;
    unsigned norphans;

    /* control messages */
    weft__ofi_req_t ctrl[OFI_CTRL_BUFS];
    /* the receive buffers, then our hello and our goodbye */
    uint64_t ctrl_buf[OFI_CTRL_BUFS + 2][OFI_CTRL_LEN / 8];
    size_t hello_len;
    weft__ofi_mr_t *ctrl_mr;
    weft__ofi_req_t *hello_reqs; /* our hello to each peer, by rank */
    int hello_todo;              /* a hello met -FI_EAGAIN: retry it */
    int ready_news;              /* a peer's hello came: retry the queue */
    weft__ofi_req_t *bye_reqs;   /* one per peer, while fini runs */
    unsigned bye_pending;

    /* registration cache */
    weft__ofi_mr_t mrs[OFI_MR_CACHE_MAX];
    unsigned nmrs;
    uint64_t mr_clock;
};

/* ---- between the files ------------------------------------------------ */

#define OFI_LOG(_tl, _lvl, ...) (_tl)->log((_tl)->host, (_lvl), __VA_ARGS__)

double weft__ofi_now(void);

/* ofi_ep.c */
weft_status_t weft__ofi_ep_create(weft_tl_t *tl, const weft_tl_peer_t *peer,
                                  weft_tl_ep_t **ep_p);
void weft__ofi_ep_destroy(weft_tl_ep_t *ep);
void weft__ofi_ep_fail(weft_tl_ep_t *ep, weft_status_t status, const char *fmt,
                       ...) __attribute__((format(printf, 3, 4)));
unsigned weft__ofi_ep_sweep(weft_tl_t *tl);
void weft__ofi_liveness(weft_tl_t *tl, int force);
int weft__ofi_addr_parse(const void *addr, size_t len, ofi_addr_hdr_t *hdr,
                         const uint8_t **name_p);
void weft__ofi_ep_hello(weft_tl_t *tl, int rank, const void *addr, size_t len);

/* ofi_ops.c */
weft__ofi_req_t *weft__ofi_req_get(weft_tl_t *tl);
void weft__ofi_req_put(weft_tl_t *tl, weft__ofi_req_t *req);
void weft__ofi_req_unlink(weft_tl_t *tl, weft__ofi_req_t *req);
int weft__ofi_post(weft__ofi_req_t *req);
unsigned weft__ofi_queue_retry(weft_tl_t *tl);
int weft__ofi_queue_ready(weft_tl_t *tl);
void weft__ofi_queue_del(weft_tl_t *tl, weft__ofi_req_t *req);
weft_status_t weft__ofi_isend(weft_tl_ep_t *ep, const void *buf, size_t len,
                              uint64_t tag, weft_tl_op_t *op);
weft_status_t weft__ofi_irecv(weft_tl_ep_t *ep, void *buf, size_t len,
                              uint64_t tag, weft_tl_op_t *op);
/* weft_tl_ops_t.isend_head / irecv_head: the head and the body as two
 * buffers of one post (fi_tsendv / fi_trecvv) where tl->split; else
 * WEFT_INPROGRESS (the core copies them into one buffer). */
weft_status_t weft__ofi_isend_head(weft_tl_ep_t *ep, const void *head,
                                   size_t hlen, const void *buf, size_t len,
                                   uint64_t tag, weft_tl_op_t *op);
weft_status_t weft__ofi_irecv_head(weft_tl_ep_t *ep, void *head, size_t hlen,
                                   void *buf, size_t len, uint64_t tag,
                                   weft_tl_op_t *op);
void weft__ofi_cancel(weft_tl_ep_t *ep, weft_tl_op_t *op);
unsigned weft__ofi_withdraw(weft__ofi_req_t *req, weft_status_t status,
                            int gentle);
void weft__ofi_orphan(weft__ofi_req_t *req);

/* ofi_cq.c */
unsigned weft__ofi_cq_poll(weft_tl_t *tl);
unsigned weft__ofi_progress(weft_tl_t *tl);
void weft__ofi_finish(weft__ofi_req_t *req, weft_status_t status, size_t bytes);
void weft__ofi_defer(weft_tl_t *tl, weft_tl_op_t *op, weft_status_t status,
                     size_t bytes);
unsigned weft__ofi_deliver(weft_tl_t *tl);
weft_status_t weft__ofi_status(int fi_err);

/* ofi_ctrl.c */
weft_status_t weft__ofi_ctrl_start(weft_tl_t *tl);
void weft__ofi_ctrl_post(weft_tl_t *tl, weft__ofi_req_t *req);
void weft__ofi_ctrl_recv(weft_tl_t *tl, weft__ofi_req_t *req, size_t len);
void weft__ofi_hello_send(weft_tl_ep_t *ep);
void weft__ofi_hello_retry(weft_tl_t *tl);
void weft__ofi_say_bye(weft_tl_t *tl);

/* ofi_tl.c */
weft_status_t weft__ofi_address(weft_tl_t *tl, void *buf, size_t *len_p);

/* ofi_mr.c */
weft_status_t weft__ofi_mr_get(weft_tl_t *tl, const void *buf, size_t len,
                               weft__ofi_mr_t **mr_p);
void weft__ofi_mr_put(weft_tl_t *tl, weft__ofi_mr_t *mr);
void weft__ofi_mr_flush(weft_tl_t *tl);

#endif /* WEFT_OFI_H */
