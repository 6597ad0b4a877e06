/*
 * tcp: the send side. One queue per peer of frames to write on its link
 * (whichever rank opened it): EAGER, RTS, CTS (for our rendezvous
 * receives), DATA and BYE. Frames queue while the link is being set up.
 * Frames are gathered into one sendmsg(); a large transfer goes one DATA
 * frame at a time and then to the back of the queue (round-robin), so
 * small messages are never stuck behind it. A partly written frame stays
 * at the head with its offset.
 */
#include "build_config.h"
#include "transports/tcp/tcp.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "errmsg.h"
#include "log.h"
#include "util.h"

/* ---- the queue ---------------------------------------------------- */

static void
tcp_txq_append(weft_tl_ep_t *peer, tcp_txi_t *txi)
{
    txi->next = NULL;
    txi->queued = 1;
    if (peer->txq_tail != NULL) {
        peer->txq_tail->next = txi;
    } else {
        peer->txq_head = txi;
    }
    peer->txq_tail = txi;
}

static tcp_txi_t *
tcp_txq_pop(weft_tl_ep_t *peer)
{
    tcp_txi_t *txi = peer->txq_head;

    if (txi != NULL) {
        peer->txq_head = txi->next;
        if (peer->txq_head == NULL) {
            peer->txq_tail = NULL;
        }
        txi->next = NULL;
        txi->queued = 0;
        if (peer->tx_cur == txi) {
            peer->tx_cur = NULL;
        }
    }
    return txi;
}

void
weft__tcp_txq_remove(weft_tl_ep_t *peer, tcp_txi_t *txi)
{
    tcp_txi_t *prev = NULL;

    for (tcp_txi_t *t = peer->txq_head; t != NULL; prev = t, t = t->next) {
        if (t != txi) {
            continue;
        }
        if (prev != NULL) {
            prev->next = t->next;
        } else {
            peer->txq_head = t->next;
        }
        if (peer->txq_tail == t) {
            peer->txq_tail = prev;
        }
        t->next = NULL;
        t->queued = 0;
        return;
    }
}

static tcp_op_t *
tcp_txi_op(tcp_txi_t *txi)
{
    return weft__container_of(txi, tcp_op_t, txi);
}

static weft__tcp_msg_t *
tcp_txi_msg(tcp_txi_t *txi)
{
    return weft__container_of(txi, weft__tcp_msg_t, txi);
}

static size_t
tcp_data_len(const weft_tl_ep_t *peer, const tcp_op_t *o)
{
    uint64_t left = o->accepted - o->sent;

    return left < peer->chunk ? (size_t)left : peer->chunk;
}

/* Encode the next frame of txi; its payload in parts. */
static void
tcp_tx_encode(weft_tl_ep_t *peer, tcp_txi_t *txi,
              uint8_t hdr[WEFT_WIRE_HDR_LEN], weft__tcp_parts_t *parts)
{
    weft__wire_hdr_t h;
    tcp_op_t *o;

    memset(&h, 0, sizeof(h));
    memset(parts, 0, sizeof(*parts));
    h.src = (uint32_t)peer->tl->rank;
    switch (txi->type) {
    case TCP_TXI_EAGER:
        o = tcp_txi_op(txi);
        h.type = WEFT_WIRE_EAGER;
        h.tag = o->entry.tag;
        h.len = (uint32_t)weft__tcp_op_bytes(o);
        h.size = weft__tcp_op_bytes(o);
        parts->p[0] = o->head;
        parts->n[0] = o->hlen;
        parts->p[1] = o->buf;
        parts->n[1] = o->len;
        break;
    case TCP_TXI_RTS:
        o = tcp_txi_op(txi);
        h.type = WEFT_WIRE_RTS;
        h.tag = o->entry.tag;
        h.msg_id = o->msg_id;
        h.size = o->len;
        break;
    case TCP_TXI_DATA:
        o = tcp_txi_op(txi);
        h.type = WEFT_WIRE_DATA;
        h.msg_id = o->msg_id;
        h.size = o->sent;
        h.len = (uint32_t)tcp_data_len(peer, o);
        parts->p[1] = o->buf + o->sent;
        parts->n[1] = h.len;
        break;
    case TCP_TXI_CTS:
        h.type = WEFT_WIRE_CTS;
        h.msg_id = tcp_txi_msg(txi)->msg_id;
        h.size = tcp_txi_msg(txi)->accepted;
        break;
    default:
        h.type = WEFT_WIRE_BYE;
        break;
    }
    weft__wire_encode(&h, hdr);
}

/* Append what is left of a piece after skipping *skip bytes of it. */
static size_t
tcp_iov_add(struct iovec *iov, size_t niov, const uint8_t *p, size_t n,
            size_t *skip)
{
    if (*skip >= n) {
        *skip -= n;
        return niov;
    }
    iov[niov].iov_base = (void *)(p + *skip);
    iov[niov].iov_len = n - *skip;
    *skip = 0;
    return niov + 1;
}

/* The head frame is completely in the kernel. */
static void
tcp_tx_frame_done(weft_tl_ep_t *peer)
{
    tcp_txi_t *txi = tcp_txq_pop(peer);
    weft_tl_op_t *op;
    tcp_op_t *o;

    if (peer->tl->closing && txi->type != TCP_TXI_CTS) {
        return; /* fini: finish the frame, complete nothing */
    }
    switch (txi->type) {
    case TCP_TXI_EAGER:
        o = tcp_txi_op(txi);
        o->state = TCP_OP_IDLE;
        op = weft__tcp_op_owner(o);
        op->complete(op, WEFT_OK, weft__tcp_op_bytes(o));
        break;
    case TCP_TXI_RTS:
        o = tcp_txi_op(txi);
        o->state = TCP_OP_SEND_WAIT_CTS;
        o->next = peer->wait_cts;
        peer->wait_cts = o;
        break;
    case TCP_TXI_DATA:
        o = tcp_txi_op(txi);
        o->sent += tcp_data_len(peer, o);
        if (o->sent < o->accepted) {
            tcp_txq_append(peer, txi); /* round-robin */
            break;
        }
        o->state = TCP_OP_IDLE;
        op = weft__tcp_op_owner(o);
        op->complete(op, WEFT_OK, o->len);
        break;
    case TCP_TXI_CTS:
        weft__tcp_rx_cts_written(tcp_txi_msg(txi));
        break;
    default:
        break;
    }
}

static void
tcp_tx_interest(weft_tl_ep_t *peer)
{
    weft__tcp_conn_t *conn = peer->conn;

    if (conn != NULL && conn->state == TCP_CONN_OPEN && !peer->tl->closing &&
        conn->send_err == 0) {
        weft__tcp_conn_set_events(
            conn, EPOLLIN | (peer->txq_head != NULL ? EPOLLOUT : 0));
    }
}

void
weft__tcp_tx_flush(weft_tl_ep_t *peer)
{
    uint8_t hdrs[TCP_IOV_BATCH][WEFT_WIRE_HDR_LEN];
    struct iovec iov[3 * TCP_IOV_BATCH];
    size_t flen[TCP_IOV_BATCH];
    weft__tcp_parts_t parts[TCP_IOV_BATCH];

    while (peer->txq_head != NULL && peer->conn != NULL &&
           peer->conn->state == TCP_CONN_OPEN && peer->conn->send_err == 0 &&
           peer->failed == WEFT_OK) {
        struct msghdr mh;
        tcp_txi_t *txi = peer->txq_head;
        size_t k = 0, niov = 0, n;
        ssize_t rc;

        /* gather: the partly written head first, then whole frames */
        for (; txi != NULL && k < TCP_IOV_BATCH; txi = txi->next, k++) {
            size_t skip = 0, plen;
            const uint8_t *h = hdrs[k];

            if (txi == peer->tx_cur) {
                h = peer->tx_cur_hdr;
                parts[k] = peer->tx_cur_parts;
                skip = peer->tx_cur_off;
            } else {
                tcp_tx_encode(peer, txi, hdrs[k], &parts[k]);
            }
            plen = parts[k].n[0] + parts[k].n[1];
            flen[k] = WEFT_WIRE_HDR_LEN + plen - skip;
            niov = tcp_iov_add(iov, niov, h, WEFT_WIRE_HDR_LEN, &skip);
            niov = tcp_iov_add(iov, niov, parts[k].p[0], parts[k].n[0], &skip);
            niov = tcp_iov_add(iov, niov, parts[k].p[1], parts[k].n[1], &skip);
        }
        memset(&mh, 0, sizeof(mh));
        mh.msg_iov = iov;
        mh.msg_iovlen = niov;
        rc = sendmsg(peer->conn->fd, &mh, MSG_NOSIGNAL);
        if (rc < 0) {
            if (errno == EINTR) {
                continue;
            }
            if (errno == EPIPE || errno == ECONNRESET) {
                /* the peer closed: if its BYE is in our receive queue
                 * this is its orderly exit. Stop writing and let the
                 * reader (the socket is readable now) decide. */
                peer->conn->send_err = errno;
                weft__tcp_conn_set_events(peer->conn, EPOLLIN);
                return;
            }
            if (errno != EAGAIN && errno != EWOULDBLOCK) {
                weft__tcp_peer_fail(peer, WEFT_ERR_PEER_LOST,
                                    "send on the link %s: %s", peer->conn->name,
                                    strerror(errno));
                return;
            }
            break;
        }
        /* account: whole frames are done, the first short one stays */
        n = (size_t)rc;
        for (size_t i = 0; i < k; i++) {
            if (n >= flen[i]) {
                n -= flen[i];
                tcp_tx_frame_done(peer);
                continue;
            }
            if (peer->tx_cur != peer->txq_head) {
                peer->tx_cur = peer->txq_head;
                memcpy(peer->tx_cur_hdr, hdrs[i], WEFT_WIRE_HDR_LEN);
                peer->tx_cur_parts = parts[i];
                peer->tx_cur_off = 0;
            }
            peer->tx_cur_off += n;
            break;
        }
        if (peer->tx_cur != NULL) {
            break; /* the socket is full */
        }
    }
    tcp_tx_interest(peer);
}

weft_status_t
weft__tcp_tx_push(weft_tl_ep_t *peer, tcp_txi_t *txi)
{
    int idle;

    if (peer->failed != WEFT_OK) {
        return peer->failed;
    }
    if (peer->closed) {
        return WEFT_ERR_PEER_LOST;
    }
    WEFT_CHECK(weft__tcp_conn_start(peer));
    idle = peer->txq_head == NULL;
    tcp_txq_append(peer, txi);
    if (idle) {
        weft__tcp_tx_flush(peer);
    }
    return WEFT_OK;
}

/* ---- sends ------------------------------------------------------------ */

weft_status_t
weft__tcp_tx_send(weft_tl_ep_t *peer, const void *head, size_t hlen,
                  const void *buf, size_t len, uint64_t tag, weft_tl_op_t *op)
{
    tcp_op_t *o = weft__tcp_op(op);

    if (hlen > 0 && (hlen > WEFT_TL_HEAD_MAX || len > peer->eager_limit ||
                     hlen + len > peer->eager_limit)) {
        return WEFT_INPROGRESS; /* one frame only: the core packs it */
    }
    memset(o, 0, sizeof(*o));
    o->peer = peer;
    o->head = (uint8_t *)head;
    o->hlen = (uint32_t)hlen;
    o->buf = (uint8_t *)buf;
    o->len = len;
    o->entry.tag = tag;
    if (peer->failed != WEFT_OK) {
        return weft__error_at(peer->failed, WEFT_LOG_DEBUG, WEFT_SUB_TL,
                              "tcp: rank %d is lost: %s", peer->rank,
                              peer->why);
    }
    if (peer->closed) {
        return weft__error_at(WEFT_ERR_PEER_LOST, WEFT_LOG_DEBUG, WEFT_SUB_TL,
                              "tcp: rank %d has finished", peer->rank);
    }
    if (len <= peer->eager_limit) {
        o->txi.type = TCP_TXI_EAGER;
    } else {
        o->txi.type = TCP_TXI_RTS;
        o->msg_id = ++peer->tl->next_msg_id;
    }
    o->state = TCP_OP_SEND_QUEUED;
    return weft__tcp_tx_push(peer, &o->txi);
}

weft_status_t
weft__tcp_tx_cts(weft_tl_ep_t *peer, uint64_t msg_id, uint64_t size)
{
    tcp_op_t **pp = &peer->wait_cts;
    tcp_op_t *o;

    while (*pp != NULL && (*pp)->msg_id != msg_id) {
        pp = &(*pp)->next;
    }
    o = *pp;
    if (o == NULL || size > o->len) {
        return WEFT_ERR_PROTOCOL;
    }
    *pp = o->next;
    o->next = NULL;
    o->accepted = size;
    if (size == 0) { /* the receiver takes nothing: done */
        o->state = TCP_OP_IDLE;
        weft__tcp_op_owner(o)->complete(weft__tcp_op_owner(o), WEFT_OK, o->len);
        return WEFT_OK;
    }
    o->state = TCP_OP_SEND_DATA;
    o->txi.type = TCP_TXI_DATA;
    o->sent = 0;
    {
        int idle = peer->txq_head == NULL;

        tcp_txq_append(peer, &o->txi);
        if (idle) {
            weft__tcp_tx_flush(peer);
        }
    }
    return WEFT_OK;
}

void
weft__tcp_tx_cancel(weft_tl_ep_t *peer, weft_tl_op_t *op)
{
    tcp_op_t *o = weft__tcp_op(op);
    int cut = 0;

    switch (o->state) {
    case TCP_OP_SEND_QUEUED:
        if (peer->tx_cur == &o->txi) {
            cut = 1;
            tcp_txq_pop(peer);
        } else {
            weft__tcp_txq_remove(peer, &o->txi);
        }
        break;
    case TCP_OP_SEND_WAIT_CTS: {
        tcp_op_t **pp = &peer->wait_cts;

        while (*pp != NULL && *pp != o) {
            pp = &(*pp)->next;
        }
        if (*pp == o) {
            *pp = o->next;
        }
        cut = 1; /* the receiver will clear it to send: no way back */
        break;
    }
    case TCP_OP_SEND_DATA:
        if (peer->tx_cur == &o->txi) {
            tcp_txq_pop(peer);
        } else {
            weft__tcp_txq_remove(peer, &o->txi);
        }
        cut = 1;
        break;
    default:
        break;
    }
    o->state = TCP_OP_IDLE;
    if (cut) {
        /* the stream cannot continue without this op's bytes */
        if (peer->conn != NULL) {
            weft__tcp_conn_close(peer->conn);
        }
        weft__tcp_peer_fail(peer, WEFT_ERR_ABORTED,
                            "a send to rank %d was cancelled after it "
                            "started; its link was closed",
                            peer->rank);
    }
}

void
weft__tcp_tx_fail_all(weft_tl_ep_t *peer, weft_status_t status)
{
    tcp_txi_t *txi;

    while ((txi = tcp_txq_pop(peer)) != NULL) {
        if (txi->type == TCP_TXI_CTS) {
            weft__tcp_msg_release(tcp_txi_msg(txi));
        } else if (txi->type != TCP_TXI_BYE) {
            tcp_op_t *o = tcp_txi_op(txi);

            o->state = TCP_OP_IDLE;
            weft__tcp_op_owner(o)->complete(weft__tcp_op_owner(o), status, 0);
        }
    }
    while (peer->wait_cts != NULL) {
        tcp_op_t *o = peer->wait_cts;

        peer->wait_cts = o->next;
        o->next = NULL;
        o->state = TCP_OP_IDLE;
        weft__tcp_op_owner(o)->complete(weft__tcp_op_owner(o), status, 0);
    }
}

void
weft__tcp_tx_bye(weft_tl_ep_t *peer)
{
    tcp_txi_t *keep = peer->tx_cur;
    tcp_txi_t *txi;

    /* ops that have not started are abandoned (fini completes nothing);
     * a partly written frame must finish or the BYE would be garbage */
    if (keep != NULL) {
        peer->txq_head = keep->next;
        if (peer->txq_head == NULL) {
            peer->txq_tail = NULL;
        }
    }
    while ((txi = peer->txq_head) != NULL) {
        peer->txq_head = txi->next;
        txi->next = NULL;
        txi->queued = 0;
        if (txi->type == TCP_TXI_CTS) {
            weft__tcp_msg_release(tcp_txi_msg(txi));
        }
    }
    peer->txq_head = peer->txq_tail = NULL;
    if (keep != NULL) {
        keep->next = NULL;
        peer->txq_head = peer->txq_tail = keep;
    }
    tcp_txq_append(peer, &peer->bye);
}
