/*
 * tcp: the state kept per peer, and what happens when a peer goes away:
 * lost (every pending op to and from it fails, the host hears of it
 * once) or finished in good order (BYE, then EOF or a reset: what can
 * still be delivered stays, what cannot fails).
 */
#include "build_config.h"
#include "transports/tcp/tcp.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "errmsg.h"
#include "log.h"
#include "util.h"

/* ---- state ---------------------------------------------------------- */

weft_tl_ep_t *
weft__tcp_peer_get(weft_tl_t *tl, int rank)
{
    weft_tl_ep_t *peer;

    if (rank < 0 || rank >= tl->nranks) {
        return NULL;
    }
    if (tl->peers[rank] != NULL) {
        return tl->peers[rank];
    }
    peer = calloc(1, sizeof(*peer));
    if (peer == NULL) {
        return NULL;
    }
    peer->tl = tl;
    peer->rank = rank;
    peer->eager_limit = tl->eager_limit;
    peer->chunk = tl->chunk;
    peer->bye.type = TCP_TXI_BYE;
    weft__match_queue_init(&peer->mq);
    tl->peers[rank] = peer;
    return peer;
}

void
weft__tcp_peer_free(weft_tl_ep_t *peer)
{
    weft__match_entry_t *e;

    /* pending ops are abandoned (fini); records are ours to free */
    while ((e = weft__match_pop_unexp(&peer->mq)) != NULL) {
        weft__tcp_msg_t *msg = weft__container_of(e, weft__tcp_msg_t, entry);

        msg->in_unexp = 0;
        weft__tcp_msg_release(msg);
    }
    while (peer->active != NULL) {
        weft__tcp_msg_t *msg = peer->active;

        peer->active = msg->next;
        msg->in_active = 0;
        msg->txi.queued = 0;
        msg->in_rx = 0;
        weft__tcp_msg_release(msg);
    }
    free(peer);
}

/* ---- failure ------------------------------------------------------ */

/* Fail everything to and from the peer now (inside progress). */
static void
tcp_peer_fail_now(weft_tl_ep_t *peer)
{
    weft_tl_t *tl = peer->tl;
    weft_status_t status = peer->failed;
    weft__match_entry_t *e;

    weft__error(status, WEFT_SUB_TL, "tcp: rank %d lost: %s", peer->rank,
                peer->why);
    if (!peer->reported) {
        peer->reported = 1;
        tl->peer_failed(tl->host, peer->rank, status, peer->why);
    }
    if (peer->conn != NULL && peer->conn->rx_op != NULL) {
        weft_tl_op_t *op = peer->conn->rx_op;

        peer->conn->rx_op = NULL;
        weft__tcp_op(op)->state = TCP_OP_IDLE;
        op->complete(op, status, 0);
    }
    if (peer->conn != NULL) {
        weft__tcp_conn_close(peer->conn);
    }
    weft__tcp_tx_fail_all(peer, status);
    while ((e = weft__match_pop_posted(&peer->mq)) != NULL) {
        tcp_op_t *o = weft__container_of(e, tcp_op_t, entry);
        weft_tl_op_t *op = weft__tcp_op_owner(o);

        o->state = TCP_OP_IDLE;
        op->complete(op, status, 0);
    }
    while (peer->active != NULL) {
        weft__tcp_msg_t *msg = peer->active;

        peer->active = msg->next;
        msg->in_active = 0;
        weft__tcp_msg_fail(msg, status);
        weft__tcp_msg_release(msg);
    }
    while ((e = weft__match_pop_unexp(&peer->mq)) != NULL) {
        weft__tcp_msg_t *msg = weft__container_of(e, weft__tcp_msg_t, entry);

        msg->in_unexp = 0;
        weft__tcp_msg_release(msg);
    }
}

void
weft__tcp_peer_fail(weft_tl_ep_t *peer, weft_status_t status, const char *fmt,
                    ...)
{
    weft_tl_t *tl = peer->tl;
    va_list ap;

    if (peer->failed != WEFT_OK) {
        return; /* the first cause wins */
    }
    peer->failed = status;
    va_start(ap, fmt);
    vsnprintf(peer->why, sizeof(peer->why), fmt, ap);
    va_end(ap);
    if (tl->closing) {
        weft__log_debug(WEFT_SUB_TL, "tcp: rank %d at close: %s", peer->rank,
                        peer->why);
        return; /* fini closes everything and completes nothing */
    }
    if (tl->in_progress) {
        tcp_peer_fail_now(peer);
        return;
    }
    /* inside isend/irecv/cancel: ops complete and the host hears of it
     * from the next progress call */
    peer->fail_deferred = 1;
    peer->next_deferred = tl->deferred;
    tl->deferred = peer;
}

void
weft__tcp_peer_closed(weft_tl_ep_t *peer)
{
    weft_tl_t *tl = peer->tl;
    weft__match_entry_t *e;
    weft__match_queue_t keep;
    unsigned failed;

    peer->closed = 1;
    if (peer->conn != NULL) {
        weft__tcp_conn_close(peer->conn);
    }
    /* it reads nothing more: what we still had to send is lost */
    failed = peer->txq_head != NULL || peer->wait_cts != NULL;
    weft__tcp_tx_fail_all(peer, WEFT_ERR_PEER_LOST);
    /* and sends nothing more: receives not matched yet cannot be */
    while ((e = weft__match_pop_posted(&peer->mq)) != NULL) {
        tcp_op_t *o = weft__container_of(e, tcp_op_t, entry);

        o->state = TCP_OP_IDLE;
        failed += !WEFT_TL_TAG_IS_STANDING(e->tag);
        weft__tcp_op_owner(o)->complete(weft__tcp_op_owner(o),
                                        WEFT_ERR_PEER_LOST, 0);
    }
    while (peer->active != NULL) {
        weft__tcp_msg_t *msg = peer->active;

        peer->active = msg->next;
        msg->in_active = 0;
        failed += msg->op != NULL;
        weft__tcp_msg_fail(msg, WEFT_ERR_PEER_LOST);
        weft__tcp_msg_release(msg);
    }
    /* whole EAGER messages stay deliverable; an RTS cannot finish.
     * (pop takes each bucket from its head: same-tag order stays) */
    weft__match_queue_init(&keep);
    while ((e = weft__match_pop_unexp(&peer->mq)) != NULL) {
        weft__tcp_msg_t *msg = weft__container_of(e, weft__tcp_msg_t, entry);

        if (msg->type == WEFT_WIRE_EAGER) {
            weft__match_add_unexp(&keep, e);
        } else {
            msg->in_unexp = 0;
            weft__tcp_msg_release(msg);
        }
    }
    while ((e = weft__match_pop_unexp(&keep)) != NULL) {
        weft__match_add_unexp(&peer->mq, e);
    }
    weft__log_debug(WEFT_SUB_TL, "tcp: rank %d finished", peer->rank);
    if (failed > 0 && !peer->reported) {
        peer->reported = 1;
        snprintf(peer->why, sizeof(peer->why),
                 "rank %d finished with operations still pending", peer->rank);
        weft__log_warn(WEFT_SUB_TL, "tcp: %s", peer->why);
        tl->peer_failed(tl->host, peer->rank, WEFT_ERR_PEER_LOST, peer->why);
    }
}

void
weft__tcp_peer_run_deferred(weft_tl_t *tl)
{
    while (tl->deferred != NULL) {
        weft_tl_ep_t *peer = tl->deferred;

        tl->deferred = peer->next_deferred;
        peer->fail_deferred = 0;
        tcp_peer_fail_now(peer);
    }
}
