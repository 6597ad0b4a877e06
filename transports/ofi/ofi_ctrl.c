/*
 * ofi transport: control messages on the untagged queue (FI_MSG), so the
 * 64-bit tag space stays the core's: the hello that starts a link (see
 * ofi.h) and the goodbye. Receives for them are posted for any source
 * (FI_ADDR_UNSPEC), so they match whether or not the sender is in our AV
 * yet: the header names the sender's rank. Reposted after each.
 */
#include "ofi.h"

#include <rdma/fi_errno.h>
#include <stdlib.h>
#include <string.h>

static void *
ofi_ctrl_desc(weft_tl_t *tl)
{
    return tl->ctrl_mr != NULL ? tl->ctrl_mr->desc : NULL;
}

void
weft__ofi_ctrl_post(weft_tl_t *tl, weft__ofi_req_t *req)
{
    void *desc = ofi_ctrl_desc(tl);
    ssize_t rc;
    int tries = 0;

    /* a receive buffer of the provider's may be short for a moment */
    while ((rc = fi_recv(tl->ep, req->buf, req->len, desc, FI_ADDR_UNSPEC,
                         &req->ctx)) == -FI_EAGAIN &&
           ++tries < 1000) {
        fi_cq_read(tl->cq, NULL, 0);
    }
    req->state = rc == 0 ? OFI_REQ_POSTED : OFI_REQ_ORPHAN;
}

/* Our hello, the same for every peer: the header and our address. */
static weft_status_t
ofi_hello_make(weft_tl_t *tl)
{
    ofi_ctrl_hdr_t h = {.magic = OFI_CTRL_MAGIC,
                        .type = OFI_CTRL_HELLO,
                        .rank = (uint32_t)tl->rank};
    uint8_t *buf = (uint8_t *)tl->ctrl_buf[OFI_CTRL_HELLO_BUF];
    size_t len = WEFT_TL_ADDR_MAX;
    weft_status_t st = weft__ofi_address(tl, buf + sizeof(h), &len);

    if (st != WEFT_OK) {
        return st;
    }
    h.len = (uint32_t)len;
    memcpy(buf, &h, sizeof(h));
    tl->hello_len = sizeof(h) + len;
    tl->hello_reqs = calloc((size_t)tl->nranks, sizeof(*tl->hello_reqs));
    return tl->hello_reqs != NULL ? WEFT_OK : WEFT_ERR_NO_MEMORY;
}

weft_status_t
weft__ofi_ctrl_start(weft_tl_t *tl)
{
    weft_status_t st = ofi_hello_make(tl);

    if (st != WEFT_OK) {
        return st;
    }
    if (tl->mr_local) {
        st = weft__ofi_mr_get(tl, tl->ctrl_buf, sizeof(tl->ctrl_buf),
                              &tl->ctrl_mr);
        if (st != WEFT_OK) {
            return st;
        }
    }
    for (int i = 0; i < OFI_CTRL_BUFS; i++) {
        weft__ofi_req_t *req = &tl->ctrl[i];

        req->kind = OFI_REQ_CTRL_RECV;
        req->buf = tl->ctrl_buf[i];
        req->len = sizeof(tl->ctrl_buf[i]);
        req->mr = NULL; /* tl->ctrl_mr covers every buffer */
        weft__ofi_ctrl_post(tl, req);
        if (req->state != OFI_REQ_POSTED) {
            OFI_LOG(tl, WEFT_LOG_WARN,
                    "ofi: provider %s refused a receive on its untagged "
                    "queue",
                    tl->prov);
            return WEFT_ERR_TRANSPORT;
        }
    }
    return WEFT_OK;
}

void
weft__ofi_ctrl_recv(weft_tl_t *tl, weft__ofi_req_t *req, size_t len)
{
    ofi_ctrl_hdr_t h;

    memcpy(&h, req->buf, sizeof(h));
    if (len < sizeof(h) || h.magic != OFI_CTRL_MAGIC ||
        h.len != len - sizeof(h) || h.rank >= (uint32_t)tl->nranks ||
        (int)h.rank == tl->rank ||
        (h.type != OFI_CTRL_HELLO && h.type != OFI_CTRL_BYE)) {
        OFI_LOG(tl, WEFT_LOG_WARN,
                "ofi: dropped a malformed control message of %zu bytes", len);
    } else if (h.type == OFI_CTRL_HELLO && !tl->closing) {
        weft__ofi_ep_hello(tl, (int)h.rank,
                           (const uint8_t *)req->buf + sizeof(h), h.len);
    } else if (h.type == OFI_CTRL_BYE && tl->peers[h.rank] != NULL) {
        tl->peers[h.rank]->bye = 1;
        tl->peer_news = 1;
    }
    if (!tl->closing) {
        weft__ofi_ctrl_post(tl, req);
    }
}

/* Our hello to ep's peer, which is in our AV now. Until its own hello
 * comes, what we send it waits in tl->queue. */
void
weft__ofi_hello_send(weft_tl_ep_t *ep)
{
    weft_tl_t *tl = ep->tl;
    weft__ofi_req_t *req = &tl->hello_reqs[ep->rank];
    ssize_t rc;

    if (ep->hello || ep->failed != WEFT_OK || tl->closing) {
        return;
    }
    if (req->state == OFI_REQ_POSTED) {
        tl->hello_todo = 1; /* one to an earlier link is still going */
        return;
    }
    req->kind = OFI_REQ_CTRL_HELLO;
    rc = fi_send(tl->ep, tl->ctrl_buf[OFI_CTRL_HELLO_BUF], tl->hello_len,
                 ofi_ctrl_desc(tl), ep->addr, &req->ctx);
    if (rc == -FI_EAGAIN) {
        tl->hello_todo = 1;
        return;
    }
    if (rc != 0) {
        weft__ofi_ep_fail(ep, weft__ofi_status((int)-rc),
                          "our hello could not be sent on provider %s: %s",
                          tl->prov, fi_strerror((int)-rc));
        return;
    }
    req->state = OFI_REQ_POSTED;
    ep->hello = 1;
}

/* Hellos that met -FI_EAGAIN. */
void
weft__ofi_hello_retry(weft_tl_t *tl)
{
    tl->hello_todo = 0;
    for (int r = 0; r < tl->nranks; r++) {
        if (tl->peers[r] != NULL && !tl->peers[r]->hello) {
            weft__ofi_hello_send(tl->peers[r]);
        }
    }
}

/* Tell every peer we finish, and wait (at most the teardown deadline)
 * until the provider has sent each goodbye. */
void
weft__ofi_say_bye(weft_tl_t *tl)
{
    ofi_ctrl_hdr_t msg = {.magic = OFI_CTRL_MAGIC,
                          .type = OFI_CTRL_BYE,
                          .rank = (uint32_t)tl->rank};
    weft__ofi_req_t *bye;
    double deadline = weft__ofi_now() + tl->teardown_timeout;
    unsigned sent = 0;

    bye = calloc((size_t)tl->nranks, sizeof(*bye));
    if (bye == NULL) {
        return;
    }
    memcpy(tl->ctrl_buf[OFI_CTRL_BYE_BUF], &msg, sizeof(msg));
    for (int r = 0; r < tl->nranks; r++) {
        weft_tl_ep_t *ep = tl->peers[r];
        ssize_t rc;

        if (ep == NULL || ep->failed != WEFT_OK || ep->exited || ep->bye) {
            continue; /* gone, or finished before us */
        }
        bye[r].kind = OFI_REQ_CTRL_SEND;
        bye[r].state = OFI_REQ_POSTED;
        do {
            rc = fi_send(tl->ep, tl->ctrl_buf[OFI_CTRL_BYE_BUF], sizeof(msg),
                         ofi_ctrl_desc(tl), ep->addr, &bye[r].ctx);
            if (rc == -FI_EAGAIN) {
                weft__ofi_cq_poll(tl);
            }
        } while (rc == -FI_EAGAIN && weft__ofi_now() < deadline);
        if (rc == 0) {
            sent++;
        } else {
            bye[r].state = OFI_REQ_ORPHAN;
        }
    }
    tl->bye_pending = sent;
    while (tl->bye_pending > 0 && weft__ofi_now() < deadline) {
        weft__ofi_cq_poll(tl);
    }
    tl->bye_reqs = bye; /* freed after the endpoint is closed */
}
