/*
 * ofi transport: control messages on the untagged queue (FI_MSG), so the
 * 64-bit tag space stays the core's: the goodbye. Receives for them are
 * posted for any source (FI_ADDR_UNSPEC) and reposted after each.
 */
#include "ofi.h"

#include <rdma/fi_errno.h>
#include <stdlib.h>
#include <string.h>

void
weft__ofi_ctrl_post(weft_tl_t *tl, weft__ofi_req_t *req)
{
    void *desc = tl->ctrl_mr != NULL ? tl->ctrl_mr->desc : NULL;
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

weft_status_t
weft__ofi_ctrl_start(weft_tl_t *tl)
{
    if (tl->mr_local) {
        weft_status_t st = weft__ofi_mr_get(tl, tl->ctrl_buf,
                                            sizeof(tl->ctrl_buf), &tl->ctrl_mr);

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
    const uint32_t *m = req->buf;

    if (len == 4 * sizeof(uint32_t) && m[0] == OFI_CTRL_MAGIC &&
        m[1] < (uint32_t)tl->nranks && tl->peers[m[1]] != NULL) {
        tl->peers[m[1]]->bye = 1;
        tl->peer_news = 1;
    } else {
        OFI_LOG(tl, WEFT_LOG_WARN,
                "ofi: dropped a malformed control message of %zu bytes", len);
    }
    if (!tl->closing) {
        weft__ofi_ctrl_post(tl, req);
    }
}

/* Tell every peer we finish, and wait (at most the teardown deadline)
 * until the provider has sent each goodbye. */
void
weft__ofi_say_bye(weft_tl_t *tl)
{
    uint32_t msg[4] = {OFI_CTRL_MAGIC, (uint32_t)tl->rank, 0, 0};
    weft__ofi_req_t *bye;
    double deadline = weft__ofi_now() + tl->teardown_timeout;
    unsigned sent = 0;

    bye = calloc((size_t)tl->nranks, sizeof(*bye));
    if (bye == NULL) {
        return;
    }
    memcpy(tl->ctrl_buf[OFI_CTRL_BUFS], msg, sizeof(msg));
    for (int r = 0; r < tl->nranks; r++) {
        weft_tl_ep_t *ep = tl->peers[r];
        ssize_t rc;

        if (ep == NULL || ep->failed != WEFT_OK || ep->exited || ep->bye) {
            continue; /* gone, or finished before us */
        }
        bye[r].kind = OFI_REQ_CTRL_SEND;
        bye[r].state = OFI_REQ_POSTED;
        do {
            rc = fi_send(tl->ep, tl->ctrl_buf[OFI_CTRL_BUFS], sizeof(msg),
                         tl->ctrl_mr != NULL ? tl->ctrl_mr->desc : NULL,
                         ep->addr, &bye[r].ctx);
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
