/*
 * ofi transport: isend, irecv, cancel. A post that meets -FI_EAGAIN
 * waits in tl->queue and is retried from progress, in order: while the
 * queue is not empty every new post joins it, so sends with one tag stay
 * in order and receives match in the order they were posted. A send to a
 * peer whose hello has not come yet (see ofi.h) waits there too; the
 * retries pass over it until the hello comes.
 */
#include "ofi.h"

#include <rdma/fi_errno.h>
#include <sys/uio.h>
#include <stdlib.h>
#include <string.h>

weft__ofi_req_t *
weft__ofi_req_get(weft_tl_t *tl)
{
    weft__ofi_req_t *req = tl->free_reqs;

    if (req != NULL) {
        tl->free_reqs = req->next;
    } else {
        req = malloc(sizeof(*req));
        if (req == NULL) {
            return NULL;
        }
    }
    memset(req, 0, sizeof(*req));
    return req;
}

void
weft__ofi_req_put(weft_tl_t *tl, weft__ofi_req_t *req)
{
    if (req->state == OFI_REQ_FREE) {
        OFI_LOG(tl, WEFT_LOG_ERROR, "ofi: a request was released twice");
        return;
    }
    req->state = OFI_REQ_FREE;
    req->op = NULL;
    if (req->mr != NULL) {
        weft__ofi_mr_put(tl, req->mr);
        req->mr = NULL;
    }
    req->next = tl->free_reqs;
    tl->free_reqs = req;
}

/* ---- the lists: ep->pending (or tl->orphans) and tl->queue ------------ */

static void
ofi_pending_add(weft_tl_ep_t *ep, weft__ofi_req_t *req)
{
    req->ep = ep;
    req->next = NULL;
    req->prev = ep->pending_tail;
    if (ep->pending_tail != NULL) {
        ep->pending_tail->next = req;
    } else {
        ep->pending = req;
    }
    ep->pending_tail = req;
}

void
weft__ofi_req_unlink(weft_tl_t *tl, weft__ofi_req_t *req)
{
    weft_tl_ep_t *ep = req->ep;
    weft__ofi_req_t **head = ep != NULL ? &ep->pending : &tl->orphans;

    if (req->kind == OFI_REQ_CTRL_RECV || req->kind == OFI_REQ_CTRL_SEND ||
        req->kind == OFI_REQ_CTRL_HELLO) {
        return; /* on no list */
    }
    if (req->prev != NULL) {
        req->prev->next = req->next;
    } else if (*head == req) {
        *head = req->next;
    }
    if (req->next != NULL) {
        req->next->prev = req->prev;
    } else if (ep != NULL && ep->pending_tail == req) {
        ep->pending_tail = req->prev;
    }
    if (ep == NULL && tl->norphans > 0) {
        tl->norphans--;
    }
    req->prev = req->next = NULL;
}

static void
ofi_queue_add(weft_tl_t *tl, weft__ofi_req_t *req)
{
    req->state = OFI_REQ_QUEUED;
    req->qnext = NULL;
    if (tl->queue_tail != NULL) {
        tl->queue_tail->qnext = req;
    } else {
        tl->queue = req;
    }
    tl->queue_tail = req;
}

static void
ofi_queue_remove(weft_tl_t *tl, weft__ofi_req_t *req)
{
    weft__ofi_req_t **pp = &tl->queue, *prev = NULL;

    while (*pp != NULL && *pp != req) {
        prev = *pp;
        pp = &(*pp)->qnext;
    }
    if (*pp == NULL) {
        return;
    }
    *pp = req->qnext;
    if (tl->queue_tail == req) {
        tl->queue_tail = prev;
    }
    req->qnext = NULL;
}

/* A queued req leaves for good (fini, or its peer is gone). */
void
weft__ofi_queue_del(weft_tl_t *tl, weft__ofi_req_t *req)
{
    ofi_queue_remove(tl, req);
    weft__ofi_req_unlink(tl, req);
    weft__ofi_req_put(tl, req);
}

/* ---- posting ---------------------------------------------------------- */

/* Hand req to libfabric: 0 posted (or, for an inject, done), 1 try again
 * later (-FI_EAGAIN), else a negative fi_errno. */
int
weft__ofi_post(weft__ofi_req_t *req)
{
    weft_tl_t *tl = req->ep->tl;
    void *desc = req->mr != NULL ? req->mr->desc : NULL;
    ssize_t rc;

    if (req->kind == OFI_REQ_SEND && req->hlen == 0) {
        rc = fi_tsend(tl->ep, req->buf, req->len, desc, req->ep->addr, req->tag,
                      &req->ctx);
    } else if (req->kind == OFI_REQ_RECV && req->hlen == 0 &&
               tl->sink == NULL) {
        rc = fi_trecv(tl->ep, req->buf, req->len, desc, req->ep->addr, req->tag,
                      0, &req->ctx);
    } else {
        /* [head,] body [, the sink past a receive's room] */
        struct iovec iov[3];
        void *descs[3] = {NULL, NULL, NULL};
        size_t n = 0;

        if (req->hlen > 0) {
            iov[n++] = (struct iovec){req->head, req->hlen};
        }
        if (req->len > req->hlen || n == 0) {
            descs[n] = desc;
            iov[n++] = (struct iovec){req->buf, req->len - req->hlen};
        }
        if (req->kind == OFI_REQ_SEND) {
            rc = fi_tsendv(tl->ep, iov, descs, n, req->ep->addr, req->tag,
                           &req->ctx);
        } else {
            if (tl->sink != NULL) {
                iov[n++] = (struct iovec){tl->sink, OFI_SINK_LEN};
            }
            rc = fi_trecvv(tl->ep, iov, descs, n, req->ep->addr, req->tag, 0,
                           &req->ctx);
        }
    }
    if (rc == -FI_EAGAIN) {
        return 1;
    }
    if (rc == 0) {
        req->state = OFI_REQ_POSTED;
    }
    return (int)rc;
}

/* After a peer's goodbye, a receive is posted and cancelled at once: a
 * message it sent before leaving matches (the cancel comes too late),
 * otherwise the cancel ends it with PEER_LOST. */
static void
ofi_after_post(weft__ofi_req_t *req)
{
    weft_tl_ep_t *ep = req->ep;

    if (req->kind == OFI_REQ_RECV && ep->bye) {
        weft__ofi_withdraw(req, WEFT_ERR_PEER_LOST, 1);
    }
}

/* A send to a peer that has not said hello: it must not go yet. */
static int
ofi_held(const weft__ofi_req_t *req)
{
    return req->kind == OFI_REQ_SEND && !req->ep->ready;
}

/* Something in the queue could be posted now. */
int
weft__ofi_queue_ready(weft_tl_t *tl)
{
    for (weft__ofi_req_t *req = tl->queue; req != NULL; req = req->qnext) {
        if (!ofi_held(req)) {
            return 1;
        }
    }
    return 0;
}

unsigned
weft__ofi_queue_retry(weft_tl_t *tl)
{
    weft__ofi_req_t **pp = &tl->queue, *prev = NULL;
    unsigned n = 0;

    while (*pp != NULL) {
        weft__ofi_req_t *req = *pp;
        int rc;

        if (ofi_held(req)) {
            /* what follows to the same peer is held too: order is kept */
            prev = req;
            pp = &req->qnext;
            continue;
        }
        rc = weft__ofi_post(req);
        if (rc == 1) {
            break;
        }
        *pp = req->qnext;
        if (tl->queue_tail == req) {
            tl->queue_tail = prev;
        }
        req->qnext = NULL;
        n++;
        if (rc < 0) {
            weft_tl_op_t *op = req->op;

            OFI_LOG(tl, WEFT_LOG_ERROR,
                    "ofi: posting a %s of %zu bytes to rank %d failed on "
                    "provider %s: %s",
                    req->kind == OFI_REQ_SEND ? "send" : "receive", req->len,
                    req->ep->rank, tl->prov, fi_strerror(-rc));
            weft__ofi_req_unlink(tl, req);
            weft__ofi_req_put(tl, req);
            if (op != NULL) {
                op->complete(op, weft__ofi_status(-rc), 0);
            }
            continue;
        }
        ofi_after_post(req);
    }
    return n;
}

/* Post (or queue) a send or receive of hlen bytes at head (none when 0)
 * and len at buf. */
static weft_status_t
ofi_start(weft_tl_ep_t *ep, ofi_req_kind_t kind, void *head, size_t hlen,
          void *buf, size_t len, uint64_t tag, weft_tl_op_t *op)
{
    weft_tl_t *tl = ep->tl;
    weft__ofi_req_t *req;
    int rc;

    if (hlen + len > tl->max_msg) {
        OFI_LOG(tl, WEFT_LOG_ERROR,
                "ofi: a message of %zu bytes is larger than provider %s "
                "allows (%zu)",
                hlen + len, tl->prov, tl->max_msg);
        return WEFT_ERR_UNSUPPORTED;
    }
    req = weft__ofi_req_get(tl);
    if (req == NULL) {
        return WEFT_ERR_NO_MEMORY;
    }
    req->kind = kind;
    req->op = op;
    req->head = head;
    req->hlen = hlen;
    req->buf = buf;
    req->len = hlen + len;
    req->tag = tag;
    req->cancel_status = WEFT_ERR_PEER_LOST;
    if (len > tl->inject_size && (tl->mr_local || tl->mr_always)) {
        weft_status_t st = weft__ofi_mr_get(tl, buf, len, &req->mr);

        if (st != WEFT_OK) {
            weft__ofi_req_put(tl, req);
            return st;
        }
    }
    op->priv.ptr[0] = req;
    ofi_pending_add(ep, req);
    if (tl->queue != NULL || ofi_held(req)) {
        ofi_queue_add(tl, req);
        return WEFT_OK;
    }
    rc = weft__ofi_post(req);
    if (rc == 1) {
        ofi_queue_add(tl, req);
        return WEFT_OK;
    }
    if (rc < 0) {
        OFI_LOG(tl, WEFT_LOG_ERROR,
                "ofi: posting a %s of %zu bytes to rank %d failed on "
                "provider %s: %s",
                kind == OFI_REQ_SEND ? "send" : "receive", req->len, ep->rank,
                tl->prov, fi_strerror(-rc));
        weft__ofi_req_unlink(tl, req);
        weft__ofi_req_put(tl, req);
        return weft__ofi_status(-rc);
    }
    ofi_after_post(req);
    return WEFT_OK;
}

weft_status_t
weft__ofi_isend(weft_tl_ep_t *ep, const void *buf, size_t len, uint64_t tag,
                weft_tl_op_t *op)
{
    weft_tl_t *tl = ep->tl;

    if (ep->failed != WEFT_OK || ep->bye) {
        return WEFT_ERR_PEER_LOST;
    }
    /* small and nothing queued before it: sent at once, no completion */
    if (len <= tl->inject_size && tl->queue == NULL && ep->ready) {
        ssize_t rc = fi_tinject(tl->ep, buf, len, ep->addr, tag);

        if (rc == 0) {
            op->priv.ptr[0] = NULL;
            op->complete(op, WEFT_OK, len);
            return WEFT_OK;
        }
        if (rc != -FI_EAGAIN) {
            OFI_LOG(tl, WEFT_LOG_ERROR,
                    "ofi: fi_tinject of %zu bytes to rank %d failed on "
                    "provider %s: %s",
                    len, ep->rank, tl->prov, fi_strerror((int)-rc));
            return weft__ofi_status((int)-rc);
        }
    }
    return ofi_start(ep, OFI_REQ_SEND, NULL, 0, (void *)buf, len, tag, op);
}

weft_status_t
weft__ofi_irecv(weft_tl_ep_t *ep, void *buf, size_t len, uint64_t tag,
                weft_tl_op_t *op)
{
    if (ep->failed != WEFT_OK) {
        return WEFT_ERR_PEER_LOST;
    }
    return ofi_start(ep, OFI_REQ_RECV, NULL, 0, buf, len, tag, op);
}

weft_status_t
weft__ofi_isend_head(weft_tl_ep_t *ep, const void *head, size_t hlen,
                     const void *buf, size_t len, uint64_t tag,
                     weft_tl_op_t *op)
{
    weft_tl_t *tl = ep->tl;

    if (!tl->split || hlen == 0 || hlen + len > tl->max_msg) {
        return WEFT_INPROGRESS;
    }
    if (ep->failed != WEFT_OK || ep->bye) {
        return WEFT_ERR_PEER_LOST;
    }
    return ofi_start(ep, OFI_REQ_SEND, (void *)head, hlen, (void *)buf, len,
                     tag, op);
}

weft_status_t
weft__ofi_irecv_head(weft_tl_ep_t *ep, void *head, size_t hlen, void *buf,
                     size_t len, uint64_t tag, weft_tl_op_t *op)
{
    weft_tl_t *tl = ep->tl;

    if (!tl->split || hlen == 0 || hlen + len > tl->max_msg) {
        return WEFT_INPROGRESS;
    }
    if (ep->failed != WEFT_OK) {
        return WEFT_ERR_PEER_LOST;
    }
    return ofi_start(ep, OFI_REQ_RECV, head, hlen, buf, len, tag, op);
}

/* ---- withdrawing -------------------------------------------------------- */

/* A posted req whose op is finished: libfabric still holds its context,
 * so it stays (off its peer) until its completion comes or fini. */
void
weft__ofi_orphan(weft__ofi_req_t *req)
{
    weft_tl_t *tl = req->ep->tl;

    weft__ofi_req_unlink(tl, req);
    req->op = NULL;
    req->state = OFI_REQ_ORPHAN;
    req->ep = NULL;
    req->next = tl->orphans;
    if (tl->orphans != NULL) {
        tl->orphans->prev = req;
    }
    tl->orphans = req;
    tl->norphans++;
}

/* End req with status because its peer is gone. gentle: a posted receive
 * is cancelled and its op completes from the CQ (the data, if it had
 * matched, else status); otherwise the op completes now (deferred) and
 * the req is orphaned. Returns 1 when an op was ended (or will be). */
unsigned
weft__ofi_withdraw(weft__ofi_req_t *req, weft_status_t status, int gentle)
{
    weft_tl_ep_t *ep = req->ep;
    weft_tl_t *tl = ep->tl;
    weft_tl_op_t *op = req->op;

    if (req->state == OFI_REQ_QUEUED) {
        weft__ofi_queue_del(tl, req);
        if (op != NULL && !tl->closing) {
            weft__ofi_defer(tl, op, status, 0);
        }
        return op != NULL;
    }
    if (!req->cancelled && tl->ep != NULL) {
        req->cancelled = 1;
        req->cancel_status = status;
        fi_cancel(&tl->ep->fid, &req->ctx);
    }
    if (gentle && req->kind == OFI_REQ_RECV) {
        return op != NULL;
    }
    if (op != NULL && !tl->closing) {
        weft__ofi_defer(tl, op, status, 0);
    }
    weft__ofi_orphan(req);
    return op != NULL;
}

/* The core withdraws op: libfabric is asked to cancel it and the CQ read
 * until it lets go of it (completions found meanwhile are delivered by
 * the next progress); a send already on the wire may not let go in time,
 * then its request is orphaned and the op forgotten. */
void
weft__ofi_cancel(weft_tl_ep_t *ep, weft_tl_op_t *op)
{
    weft_tl_t *tl = ep->tl;
    weft__ofi_req_t *req = op->priv.ptr[0];
    double deadline;

    if (req == NULL || req->op != op || req->state == OFI_REQ_FREE) {
        return; /* finished already */
    }
    req->op = NULL;
    if (req->state == OFI_REQ_QUEUED) {
        weft__ofi_queue_del(tl, req);
        return;
    }
    if (!req->cancelled) {
        req->cancelled = 1;
        fi_cancel(&tl->ep->fid, &req->ctx);
    }
    deadline = weft__ofi_now() + 0.2;
    tl->cancelling = req;
    while (tl->cancelling == req && weft__ofi_now() < deadline) {
        weft__ofi_cq_poll(tl);
    }
    if (tl->cancelling == req) {
        tl->cancelling = NULL;
        OFI_LOG(tl, WEFT_LOG_DEBUG,
                "ofi: a %s of %zu bytes to rank %d could not be cancelled "
                "in time; its request is left to the provider",
                req->kind == OFI_REQ_SEND ? "send" : "receive", req->len,
                ep->rank);
        weft__ofi_orphan(req);
    }
}
