/*
 * ofi transport: progress. Reads the completion queue, turns error
 * entries (fi_cq_readerr) into weft statuses with the provider's own
 * words, retries posts that met -FI_EAGAIN, watches peers.
 */
#include "ofi.h"

#include <rdma/fi_errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

weft_status_t
weft__ofi_status(int fi_err)
{
    switch (fi_err) {
    case FI_ETRUNC:
        return WEFT_ERR_TRUNCATED;
    case FI_ENOMEM:
        return WEFT_ERR_NO_MEMORY;
    case FI_ECONNRESET:
    case FI_ECONNREFUSED:
    case FI_ECONNABORTED:
    case FI_ENOTCONN:
    case FI_EHOSTUNREACH:
    case FI_ENETUNREACH:
    case FI_ENETDOWN:
    case FI_ETIMEDOUT:
    case FI_EADDRNOTAVAIL:
    case FI_ESHUTDOWN:
        return WEFT_ERR_PEER_LOST;
    case FI_EINVAL:
    case FI_EMSGSIZE:
        return WEFT_ERR_INVALID_ARG;
    case FI_ENOSYS:
    case FI_EOPNOTSUPP:
        return WEFT_ERR_UNSUPPORTED;
    default:
        return WEFT_ERR_TRANSPORT;
    }
}

/* ---- completions -------------------------------------------------------- */

void
weft__ofi_defer(weft_tl_t *tl, weft_tl_op_t *op, weft_status_t status,
                size_t bytes)
{
    weft__ofi_done_t *d = malloc(sizeof(*d));

    if (d == NULL) {
        /* no memory to keep it: complete it now rather than never */
        op->complete(op, status, bytes);
        return;
    }
    d->op = op;
    d->status = status;
    d->bytes = bytes;
    d->next = NULL;
    if (tl->done_tail != NULL) {
        tl->done_tail->next = d;
    } else {
        tl->done = d;
    }
    tl->done_tail = d;
}

unsigned
weft__ofi_deliver(weft_tl_t *tl)
{
    unsigned n = 0;

    while (tl->done != NULL) {
        weft__ofi_done_t *d = tl->done;

        tl->done = d->next;
        if (tl->done == NULL) {
            tl->done_tail = NULL;
        }
        d->op->complete(d->op, d->status, d->bytes);
        free(d);
        n++;
    }
    return n;
}

/* libfabric is done with req. */
void
weft__ofi_finish(weft__ofi_req_t *req, weft_status_t status, size_t bytes)
{
    weft_tl_t *tl = req->ep != NULL ? req->ep->tl : NULL;
    weft_tl_op_t *op = req->op;

    if (tl == NULL) { /* an orphan: its peer and op are gone */
        return;
    }
    weft__ofi_req_unlink(tl, req);
    if (tl->cancelling == req) {
        tl->cancelling = NULL; /* withdrawn: its op hears nothing */
        op = NULL;
    }
    weft__ofi_req_put(tl, req);
    if (op == NULL || tl->closing) {
        return;
    }
    op->priv.ptr[0] = NULL;
    if (tl->cancelling != NULL) {
        weft__ofi_defer(tl, op, status, bytes); /* inside cancel() */
    } else {
        op->complete(op, status, bytes);
    }
}

static void
ofi_orphan_done(weft_tl_t *tl, weft__ofi_req_t *req)
{
    weft__ofi_req_unlink(tl, req);
    weft__ofi_req_put(tl, req);
}

/* ---- the completion queue ----------------------------------------------- */

static void
ofi_cq_entry(weft_tl_t *tl, const struct fi_cq_tagged_entry *e)
{
    weft__ofi_req_t *req = e->op_context;

    if (req == NULL) {
        return;
    }
    switch (req->kind) {
    case OFI_REQ_CTRL_RECV:
        weft__ofi_ctrl_recv(tl, req, e->len);
        return;
    case OFI_REQ_CTRL_SEND:
        req->state = OFI_REQ_ORPHAN;
        tl->bye_pending--;
        return;
    case OFI_REQ_CTRL_HELLO:
        req->state = OFI_REQ_ORPHAN;
        return;
    default:
        break;
    }
    if (req->state == OFI_REQ_ORPHAN) {
        ofi_orphan_done(tl, req);
        return;
    }
    if (req->kind == OFI_REQ_RECV && e->len > req->len) {
        /* the rest went to the sink: give its pages back when many */
        if (e->len - req->len > (1u << 20)) {
            madvise(tl->sink, OFI_SINK_LEN, MADV_DONTNEED);
        }
        weft__ofi_finish(req, WEFT_ERR_TRUNCATED, req->len);
        return;
    }
    weft__ofi_finish(req, WEFT_OK,
                     req->kind == OFI_REQ_RECV ? e->len : req->len);
}

static void
ofi_cq_error(weft_tl_t *tl)
{
    struct fi_cq_err_entry err;
    weft__ofi_req_t *req;
    weft_status_t st;
    const char *text;
    char buf[256];

    memset(&err, 0, sizeof(err));
    if (fi_cq_readerr(tl->cq, &err, 0) != 1) {
        return;
    }
    req = err.op_context;
    if (req == NULL) {
        return;
    }
    if (req->kind == OFI_REQ_CTRL_RECV) {
        if (err.err != FI_ECANCELED && !tl->closing) {
            weft__ofi_ctrl_post(tl, req);
        }
        return;
    }
    if (req->kind == OFI_REQ_CTRL_SEND) {
        req->state = OFI_REQ_ORPHAN;
        tl->bye_pending--;
        return;
    }
    if (req->kind == OFI_REQ_CTRL_HELLO) {
        weft_tl_ep_t *ep = tl->peers[req - tl->hello_reqs];

        req->state = OFI_REQ_ORPHAN;
        if (ep != NULL && err.err != FI_ECANCELED) {
            /* it never learns that it may send to us */
            text = fi_cq_strerror(tl->cq, err.prov_errno, err.err_data, buf,
                                  sizeof(buf));
            weft__ofi_ep_fail(ep, weft__ofi_status(err.err),
                              "our hello to it failed on provider %s: %s (%s)",
                              tl->prov, fi_strerror(err.err),
                              text != NULL ? text : "");
        }
        return;
    }
    if (req->state == OFI_REQ_ORPHAN) {
        ofi_orphan_done(tl, req);
        return;
    }
    if (err.err == FI_ETRUNC) {
        /* the receiver has the first len bytes; the sender is fine */
        weft__ofi_finish(req, WEFT_ERR_TRUNCATED, req->len);
        return;
    }
    if (err.err == FI_ECANCELED) {
        weft__ofi_finish(req, req->cancel_status, 0);
        return;
    }
    text =
        fi_cq_strerror(tl->cq, err.prov_errno, err.err_data, buf, sizeof(buf));
    st = weft__ofi_status(err.err);
    if (st == WEFT_ERR_PEER_LOST && req->ep != NULL) {
        weft_tl_ep_t *ep = req->ep;

        weft__ofi_finish(req, st, 0);
        weft__ofi_ep_fail(ep, st, "provider %s: %s (%s)", tl->prov,
                          fi_strerror(err.err), text != NULL ? text : "");
        return;
    }
    OFI_LOG(tl, WEFT_LOG_ERROR,
            "ofi: a %s of %zu bytes with rank %d failed on provider %s: %s "
            "(%s)",
            req->kind == OFI_REQ_SEND ? "send" : "receive", req->len,
            req->ep != NULL ? req->ep->rank : -1, tl->prov,
            fi_strerror(err.err), text != NULL ? text : "");
    weft__ofi_finish(req, st, 0);
}

unsigned
weft__ofi_cq_poll(weft_tl_t *tl)
{
    struct fi_cq_tagged_entry e[OFI_CQ_BATCH];
    unsigned n = 0;

    for (;;) {
        ssize_t rc = fi_cq_read(tl->cq, e, OFI_CQ_BATCH);

        if (rc > 0) {
            for (ssize_t i = 0; i < rc; i++) {
                ofi_cq_entry(tl, &e[i]);
            }
            n += (unsigned)rc;
            if (rc < OFI_CQ_BATCH) {
                break;
            }
        } else if (rc == -FI_EAVAIL) {
            ofi_cq_error(tl);
            n++;
        } else {
            if (rc != -FI_EAGAIN) {
                OFI_LOG(tl, WEFT_LOG_ERROR,
                        "ofi: fi_cq_read failed on provider %s: %s", tl->prov,
                        fi_strerror((int)-rc));
            }
            break;
        }
    }
    return n;
}

unsigned
weft__ofi_progress(weft_tl_t *tl)
{
    unsigned n = 0;

    if (tl->done != NULL) {
        n += weft__ofi_deliver(tl);
    }
    if (tl->hello_todo) {
        weft__ofi_hello_retry(tl);
    }
    if (tl->queue != NULL) {
        n += weft__ofi_queue_retry(tl);
    }
    n += weft__ofi_cq_poll(tl);
    if (tl->ready_news) { /* sends that waited for a hello may go */
        tl->ready_news = 0;
        n += weft__ofi_queue_retry(tl);
    }
    weft__ofi_liveness(tl, 0);
    if (tl->peer_news) {
        n += weft__ofi_ep_sweep(tl);
    }
    if (tl->done != NULL) {
        n += weft__ofi_deliver(tl);
    }
    return n;
}
