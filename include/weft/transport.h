/*
 * The transport ABI: one versioned table of function pointers per
 * transport (self, tcp, shm, ofi, ucx, cuda). Built-in transports are
 * listed explicitly in src/tl_registry.c; loadable ones are
 * $pkglibdir/weft_tl_<name>.so exporting
 *
 *     WEFT_TL_PLUGIN_EXPORT const weft_tl_ops_t weft_tl_plugin_v1;
 *
 * Contract:
 *  - reliable delivery; messages from one rank to another with the same
 *    64-bit tag match receives in the order they were sent; the tag is
 *    opaque to the transport and matched exactly (the core packs the
 *    communicator id, the kind of traffic and the user tag into it);
 *  - isend/irecv never block; they either fail at once (a negative
 *    status, and op->complete is never called) or return WEFT_OK and
 *    later call op->complete exactly once, from inside progress() or
 *    from inside the isend/irecv call itself;
 *  - a receive whose buffer is smaller than the message gets the first
 *    `len` bytes and completes with WEFT_ERR_TRUNCATED; the sender
 *    completes with WEFT_OK;
 *  - op->complete must not call back into the transport; it records the
 *    completion and returns;
 *  - a lost peer fails every pending op to that peer with
 *    WEFT_ERR_PEER_LOST (or a more precise error) and is reported once
 *    through weft_tl_init_args_t.peer_failed.
 * Designated initializers only; an op the transport does not have is
 * NULL (see WEFT_TL_HAS_OP).
 */
#ifndef WEFT_TRANSPORT_H
#define WEFT_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>
#include <weft/version.h>
#include <weft/status.h>
#include <weft/log.h>

#ifdef __cplusplus
extern "C" {
#endif

#define WEFT_TL_ABI_VERSION 1

/* The one symbol a transport module exports: its weft_tl_ops_t, declared
 *     WEFT_TL_PLUGIN_EXPORT const weft_tl_ops_t weft_tl_plugin_v1 = {...};
 * (visible even where the module is built with hidden visibility). */
#define WEFT_TL_PLUGIN_SYMBOL "weft_tl_plugin_v1"
#define WEFT_TL_PLUGIN_EXPORT __attribute__((visibility("default")))

/* Largest address blob a transport may publish. */
#define WEFT_TL_ADDR_MAX 512

/* Bytes of per-operation scratch space that belong to the transport. */
#define WEFT_TL_OP_PRIV_SIZE 128

/* Receives the core keeps posted for the life of a link (its control
 * messages) have tags with every bit of WEFT_TL_TAG_STANDING set (the top
 * 24 bits: a communicator id no communicator gets). A peer that says
 * goodbye while one is posted has left nothing undone: the transport
 * completes it with WEFT_ERR_PEER_LOST as any other, but reports no peer
 * failure for it alone. */
#define WEFT_TL_TAG_STANDING 0xffffff0000000000ull
#define WEFT_TL_TAG_IS_STANDING(_tag)                                          \
    (((_tag) & WEFT_TL_TAG_STANDING) == WEFT_TL_TAG_STANDING)

/* Capabilities (weft_tl_ops_t.caps). */
#define WEFT_TL_CAP_HOST_MEM (1u << 0)
#define WEFT_TL_CAP_CUDA_MEM (1u << 1)
#define WEFT_TL_CAP_RMA (1u << 2)

/* What an instance tells the core about how it is best used (hints()). */
/* Large messages to one peer go best one after another: a second one in
 * flight meets its rendezvous handshake queued behind the first one's
 * data (libfabric's rxm over tcp, measured on a rate-limited link). */
#define WEFT_TL_HINT_ONE_LARGE (1u << 0)

typedef struct weft_tl weft_tl_t;       /* a transport instance */
typedef struct weft_tl_ep weft_tl_ep_t; /* a transport's link to one peer */
typedef struct weft_tl_op weft_tl_op_t; /* one send or receive */

/* Called once per op: status WEFT_OK, WEFT_ERR_TRUNCATED or an error;
 * bytes = bytes sent, or bytes written into the receive buffer. */
typedef void (*weft_tl_complete_fn_t)(weft_tl_op_t *op, weft_status_t status,
                                      size_t bytes);

struct weft_tl_op {
    weft_tl_complete_fn_t complete; /* set by the caller */
    union {
        uint64_t u64[WEFT_TL_OP_PRIV_SIZE / 8];
        void *ptr[WEFT_TL_OP_PRIV_SIZE / sizeof(void *)];
    } priv; /* the transport's while the op is pending */
};

/* What the core knows about a peer when choosing and connecting. */
typedef struct weft_tl_peer {
    int rank;             /* the peer's rank in the job */
    int same_node;        /* 1 when the peer runs on this node */
    const char *node_id;  /* the peer's node identity */
    const void *addr;     /* what the peer's transport published */
    size_t addr_len;
} weft_tl_peer_t;

/* Host services and job facts handed to init(). */
typedef struct weft_tl_init_args {
    uint32_t size;       /* sizeof(weft_tl_init_args_t) of the core */
    int rank;            /* this process's rank in the job */
    int nranks;          /* ranks in the job */
    const char *node_id; /* this node's identity */
    /* Key for authenticating this transport's connections: derived from
     * the job key for this transport alone (never the job key itself). */
    const uint8_t *auth_key;
    size_t auth_key_len;
    double handshake_timeout_s; /* connection set-up deadline */
    double teardown_timeout_s;  /* fini() waits at most this long */
    void *host;                 /* first argument of the callbacks */
    /* The value of a WEFT_* variable (name without "WEFT_") as text,
     * with its default applied; NULL for a name weft does not know. */
    const char *(*config_get)(void *host, const char *name);
    /* Log a line in weft's log (level, WEFT_SUB_TL). */
    void (*log)(void *host, weft_log_level_t level, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
    /* A peer is gone (EOF without goodbye, reset, failed handshake...);
     * called once per peer, from progress(). */
    void (*peer_failed)(void *host, int peer, weft_status_t status,
                        const char *reason);
    /* The ranks on this node (node identities are exchanged before any
     * transport opens), in job-rank order, this rank among them. */
    const int *local_ranks;
    int nlocal;      /* entries in local_ranks (>= 1) */
    int local_index; /* this rank's position in local_ranks */
} weft_tl_init_args_t;

typedef struct weft_tl_ops {
    uint32_t abi_version; /* WEFT_TL_ABI_VERSION the transport was built with */
    uint32_t size;        /* sizeof(weft_tl_ops_t) at its build time */
    const char *name;     /* "tcp": the WEFT_TL entry and WEFT_TCP_* prefix */
    uint64_t caps;        /* WEFT_TL_CAP_* */

    /* required */
    weft_status_t (*init)(const weft_tl_init_args_t *args, weft_tl_t **tl_p);
    void (*fini)(weft_tl_t *tl);
    /* Write the address peers need into buf; *len_p: capacity in, size
     * out (at most WEFT_TL_ADDR_MAX). */
    weft_status_t (*address)(weft_tl_t *tl, void *buf, size_t *len_p);
    /* 1 when this transport can reach the peer, else 0. */
    int (*reachable)(weft_tl_t *tl, const weft_tl_peer_t *peer);
    weft_status_t (*ep_create)(weft_tl_t *tl, const weft_tl_peer_t *peer,
                               weft_tl_ep_t **ep_p);
    /* Release one endpoint early. fini() frees every endpoint the
     * instance created, whether or not this was called; the core calls
     * fini() alone at teardown. */
    void (*ep_destroy)(weft_tl_ep_t *ep);
    weft_status_t (*isend)(weft_tl_ep_t *ep, const void *buf, size_t len,
                           uint64_t tag, weft_tl_op_t *op);
    weft_status_t (*irecv)(weft_tl_ep_t *ep, void *buf, size_t len,
                           uint64_t tag, weft_tl_op_t *op);
    /* Make progress without blocking; returns the events handled. */
    unsigned (*progress)(weft_tl_t *tl);

    /* optional: NULL means "not supported" (but see cancel) */
    /* A file descriptor that becomes readable when progress() has work;
     * the core blocks on it (epoll) instead of spinning. */
    int (*wait_fd)(weft_tl_t *tl);
    /* Withdraw a pending op: afterwards the transport never touches the
     * op or its buffer again and never calls op->complete. A send already
     * partly on the wire may cost the link to that peer. Required by this
     * core (timeouts and aborts withdraw pending ops); a transport without
     * it is refused at start-up. */
    void (*cancel)(weft_tl_ep_t *ep, weft_tl_op_t *op);
    /* arm = 1: the core is about to block on wait_fd (after one more
     * progress call). Return 1 when progress() has work right now (the
     * core then does not block); else arrange for wait_fd to become
     * readable as soon as new work arrives and return 0. arm = 0: the
     * core is awake again (stop arranging it); the result is ignored.
     * A transport whose wait_fd always tells (sockets) leaves it NULL. */
    int (*wait_arm)(weft_tl_t *tl, int arm);
    /* Send now, without an op, a message that can leave at once (a short
     * eager one): WEFT_OK when it is on its way and buf may be reused (as
     * an isend completed inside the call); WEFT_INPROGRESS when it cannot
     * (nothing was sent: the core posts an isend instead, which also
     * reports any error). Never ahead of this endpoint's earlier sends.
     * The core uses it for blocking sends, where no request is wanted. */
    weft_status_t (*inject)(weft_tl_ep_t *ep, const void *buf, size_t len,
                            uint64_t tag);
    /* One message made of a short head (hlen <= WEFT_TL_HEAD_MAX bytes)
     * and a body, without copying them together: isend_head sends the
     * hlen bytes at head followed by the len bytes at buf; irecv_head
     * receives a message's first hlen bytes into head and the rest (up to
     * len) into buf, and reports the bytes of both. On the wire it is an
     * ordinary message: either side may use the plain isend/irecv with
     * the parts back to back in one buffer. WEFT_INPROGRESS: the
     * transport does not take this one that way (nothing was posted; the
     * core copies the parts into one buffer and uses isend/irecv). */
    weft_status_t (*isend_head)(weft_tl_ep_t *ep, const void *head, size_t hlen,
                                const void *buf, size_t len, uint64_t tag,
                                weft_tl_op_t *op);
    weft_status_t (*irecv_head)(weft_tl_ep_t *ep, void *head, size_t hlen,
                                void *buf, size_t len, uint64_t tag,
                                weft_tl_op_t *op);
    /* WEFT_TL_HINT_* of this instance (its provider, its settings); read
     * once after init. */
    uint64_t (*hints)(weft_tl_t *tl);
} weft_tl_ops_t;

/* The largest head of isend_head / irecv_head. */
#define WEFT_TL_HEAD_MAX 64

#define WEFT_TL_HAS_OP(_ops, _op)                                              \
    (((_ops)->size > offsetof(weft_tl_ops_t, _op)) && ((_ops)->_op != NULL))

#ifdef __cplusplus
}
#endif

#endif /* WEFT_TRANSPORT_H */
