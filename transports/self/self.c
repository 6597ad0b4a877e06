/*
 * self: messages from a rank to itself. A send that finds its receive
 * posted is one copy; otherwise small messages are copied at once
 * (the send completes) and large ones wait, uncopied, for the receive.
 */
#include "build_config.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include <weft/transport.h>

#include "errmsg.h"
#include "p2p/match.h"
#include "util.h"

typedef struct self_msg {
    weft__match_entry_t entry; /* in the unexpected lists */
    const void *data;          /* owned copy, or the sender's buffer */
    size_t len;
    int owned;
    weft_tl_op_t *send_op; /* completes at match when not copied */
} self_msg_t;

/* What a pending op keeps in op->priv. */
typedef struct self_op {
    weft__match_entry_t entry; /* posted receives */
    void *buf;
    size_t len;
    self_msg_t *msg; /* a send waiting for its receive */
} self_op_t;

static_assert(sizeof(self_op_t) <= WEFT_TL_OP_PRIV_SIZE,
              "self_op_t must fit in weft_tl_op_t.priv");

struct weft_tl_ep {
    weft_tl_t *tl;
};

struct weft_tl {
    weft__match_queue_t queue;
    size_t eager_limit;
    weft_tl_ep_t ep; /* the one endpoint: to this very rank */
};

static self_op_t *
self_op(weft_tl_op_t *op)
{
    return (self_op_t *)op->priv.u64;
}

static weft_tl_op_t *
self_op_owner(self_op_t *r)
{
    return (weft_tl_op_t *)((char *)r - offsetof(weft_tl_op_t, priv));
}

static weft_status_t
self_init(const weft_tl_init_args_t *args, weft_tl_t **tl_p)
{
    weft_tl_t *tl = calloc(1, sizeof(*tl));
    const char *limit = args->config_get(args->host, "SELF_EAGER_LIMIT");

    if (tl == NULL) {
        return WEFT_ERR_NO_MEMORY;
    }
    weft__match_queue_init(&tl->queue);
    tl->eager_limit = limit ? strtoull(limit, NULL, 10) : 65536;
    *tl_p = tl;
    return WEFT_OK;
}

static void
self_fini(weft_tl_t *tl)
{
    weft__match_entry_t *e;

    while ((e = weft__match_pop_unexp(&tl->queue)) != NULL) {
        self_msg_t *msg = weft__container_of(e, self_msg_t, entry);

        if (msg->owned) {
            free((void *)msg->data);
        }
        free(msg);
    }
    free(tl);
}

static weft_status_t
self_address(weft_tl_t *tl, void *buf, size_t *len_p)
{
    *len_p = 0;
    return WEFT_OK;
}

static int
self_reachable(weft_tl_t *tl, const weft_tl_peer_t *peer)
{
    return 0; /* only ever chosen for the own rank, by the core */
}

static weft_status_t
self_ep_create(weft_tl_t *tl, const weft_tl_peer_t *peer, weft_tl_ep_t **ep_p)
{
    tl->ep.tl = tl;
    *ep_p = &tl->ep;
    return WEFT_OK;
}

static void
self_ep_destroy(weft_tl_ep_t *ep)
{
    /* owned by the instance: fini frees it */
}

/* Copy a message into a posted receive and complete the receive. */
static void
self_deliver(weft_tl_op_t *rop, const void *data, size_t len)
{
    self_op_t *r = self_op(rop);
    size_t n = len < r->len ? len : r->len;

    if (n > 0) {
        memcpy(r->buf, data, n);
    }
    rop->complete(rop, len > r->len ? WEFT_ERR_TRUNCATED : WEFT_OK, n);
}

static weft_status_t
self_isend(weft_tl_ep_t *ep, const void *buf, size_t len, uint64_t tag,
           weft_tl_op_t *op)
{
    weft_tl_t *tl = ep->tl;
    weft__match_entry_t *e = weft__match_arrive(&tl->queue, tag);
    self_msg_t *msg;

    if (e != NULL) {
        self_op_t *r = weft__container_of(e, self_op_t, entry);

        self_deliver(self_op_owner(r), buf, len);
        op->complete(op, WEFT_OK, len);
        return WEFT_OK;
    }
    msg = calloc(1, sizeof(*msg));
    if (msg == NULL) {
        return WEFT_ERR_NO_MEMORY;
    }
    msg->entry.tag = tag;
    msg->len = len;
    if (len <= tl->eager_limit) {
        void *copy = malloc(len ? len : 1);

        if (copy == NULL) {
            free(msg);
            return WEFT_ERR_NO_MEMORY;
        }
        if (len > 0) {
            memcpy(copy, buf, len); /* buf may be NULL when len is 0 */
        }
        msg->data = copy;
        msg->owned = 1;
    } else {
        msg->data = buf;
        msg->send_op = op;
        self_op(op)->msg = msg;
    }
    weft__match_add_unexp(&tl->queue, &msg->entry);
    if (msg->owned) {
        op->complete(op, WEFT_OK, len);
    }
    return WEFT_OK;
}

static weft_status_t
self_irecv(weft_tl_ep_t *ep, void *buf, size_t len, uint64_t tag,
           weft_tl_op_t *op)
{
    weft_tl_t *tl = ep->tl;
    self_op_t *r = self_op(op);
    weft__match_entry_t *e;

    r->buf = buf;
    r->len = len;
    r->msg = NULL;
    e = weft__match_post(&tl->queue, tag);
    if (e == NULL) {
        r->entry.tag = tag;
        weft__match_add_posted(&tl->queue, &r->entry);
        return WEFT_OK;
    }
    self_msg_t *msg = weft__container_of(e, self_msg_t, entry);
    weft_tl_op_t *send_op = msg->send_op;
    size_t msg_len = msg->len;

    self_deliver(op, msg->data, msg->len);
    if (msg->owned) {
        free((void *)msg->data);
    }
    free(msg);
    if (send_op != NULL) {
        send_op->complete(send_op, WEFT_OK, msg_len);
    }
    return WEFT_OK;
}

static unsigned
self_progress(weft_tl_t *tl)
{
    return 0; /* everything completes inside isend/irecv */
}

static void
self_cancel(weft_tl_ep_t *ep, weft_tl_op_t *op)
{
    self_op_t *r = self_op(op);

    if (r->msg != NULL) { /* a large send still waiting for its receive */
        weft__match_remove_unexp(&ep->tl->queue, &r->msg->entry);
        free(r->msg);
        r->msg = NULL;
    } else {
        weft__match_remove_posted(&ep->tl->queue, &r->entry);
    }
}

const weft_tl_ops_t weft__tl_self = {
    .abi_version = WEFT_TL_ABI_VERSION,
    .size = sizeof(weft_tl_ops_t),
    .name = "self",
    .caps = WEFT_TL_CAP_HOST_MEM,
    .init = self_init,
    .fini = self_fini,
    .address = self_address,
    .reachable = self_reachable,
    .ep_create = self_ep_create,
    .ep_destroy = self_ep_destroy,
    .isend = self_isend,
    .irecv = self_irecv,
    .progress = self_progress,
    .cancel = self_cancel,
};
