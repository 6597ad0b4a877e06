/*
 * tcp: the receive side. A frame parser per connection over a staging
 * buffer (one recv() picks up several small frames; large payloads are
 * read straight into their destination), tag matching, unexpected
 * messages, and the receiver's half of the rendezvous.
 */
#include "build_config.h"
#include "transports/tcp/tcp.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "errmsg.h"
#include "log.h"
#include "util.h"

/* Payload bytes still due to a buffer at which reading goes straight
 * there instead of through the staging buffer. */
#define TCP_DIRECT_MIN (16 * 1024)
/* Bytes read from one connection per event, so others get a turn; a
 * short read ends the turn too (after the staged frames are handled). */
#define TCP_READ_BUDGET (16u * 1024 * 1024)

static size_t
tcp_min(size_t a, size_t b)
{
    return a < b ? a : b;
}

/* Copy n bytes of a message into a receive: its head, then its body. */
static void
tcp_op_fill(const tcp_op_t *o, const uint8_t *src, size_t n)
{
    size_t h = tcp_min(n, o->hlen);

    if (h > 0) {
        memcpy(o->head, src, h);
    }
    if (n > h) {
        memcpy(o->buf, src + h, n - h);
    }
}

/* Point the parser at n bytes of a receive from message offset off on. */
static void
tcp_rx_aim(weft__tcp_conn_t *conn, const tcp_op_t *o, size_t off, size_t n)
{
    conn->dst2 = NULL;
    conn->dst2_left = 0;
    if (off < o->hlen) {
        size_t h = tcp_min(n, o->hlen - off);

        conn->dst = o->head + off;
        conn->dst_left = h;
        if (n > h) {
            conn->dst2 = o->buf;
            conn->dst2_left = n - h;
        }
        return;
    }
    conn->dst = o->buf + (off - o->hlen);
    conn->dst_left = n;
}

/* Nothing more goes to the receive's buffers (done, or dropped). */
static void
tcp_rx_unaim(weft__tcp_conn_t *conn)
{
    conn->dst = conn->dst2 = NULL;
    conn->dst_left = conn->dst2_left = 0;
}

/* n bytes went to dst: on to the body when the head is full. */
static void
tcp_rx_advance(weft__tcp_conn_t *conn, size_t n)
{
    conn->dst += n;
    conn->dst_left -= n;
    if (conn->dst_left == 0 && conn->dst2 != NULL) {
        conn->dst = conn->dst2;
        conn->dst_left = conn->dst2_left;
        conn->dst2 = NULL;
        conn->dst2_left = 0;
    }
}

/* ---- records ------------------------------------------------------- */

/* Records for payloads above this size come from a small cache of
 * eager-limit-sized blocks: malloc + free of 64 KiB at the heap top
 * trims and regrows it, and every message then pays page faults. */
#define TCP_MSG_CACHE_MIN 4096

static weft__tcp_msg_t *
tcp_msg_alloc(weft_tl_t *tl, size_t len)
{
    weft__tcp_msg_t *msg;

    if (len <= TCP_MSG_CACHE_MIN) {
        msg = malloc(sizeof(*msg) + len);
        if (msg != NULL) {
            memset(msg, 0, sizeof(*msg));
        }
        return msg;
    }
    msg = tl->msg_cache;
    if (msg != NULL) {
        tl->msg_cache = msg->next;
        tl->n_msg_cache--;
    } else {
        msg = malloc(sizeof(*msg) + tl->eager_limit);
        if (msg == NULL) {
            return NULL;
        }
    }
    memset(msg, 0, sizeof(*msg));
    msg->cached = 1;
    return msg;
}

void
weft__tcp_msg_release(weft__tcp_msg_t *msg)
{
    weft_tl_t *tl = msg->peer->tl;

    if (msg->in_unexp || msg->in_active || msg->txi.queued || msg->in_rx) {
        return; /* still referenced */
    }
    if (msg->cached && !tl->closing &&
        (size_t)(tl->n_msg_cache + 1) * tl->eager_limit <=
            TCP_MSG_CACHE_BYTES) {
        msg->next = tl->msg_cache;
        tl->msg_cache = msg;
        tl->n_msg_cache++;
        return;
    }
    free(msg);
}

void
weft__tcp_msg_cache_free(weft_tl_t *tl)
{
    while (tl->msg_cache != NULL) {
        weft__tcp_msg_t *msg = tl->msg_cache;

        tl->msg_cache = msg->next;
        free(msg);
    }
    tl->n_msg_cache = 0;
}

void
weft__tcp_msg_fail(weft__tcp_msg_t *msg, weft_status_t status)
{
    weft_tl_op_t *op = msg->op;

    if (op != NULL) {
        msg->op = NULL;
        weft__tcp_op(op)->state = TCP_OP_IDLE;
        weft__tcp_op(op)->msg = NULL;
        op->complete(op, status, 0);
    }
}

static void
tcp_msg_unlink_active(weft__tcp_msg_t *msg)
{
    weft__tcp_msg_t **pp = &msg->peer->active;

    while (*pp != NULL && *pp != msg) {
        pp = &(*pp)->next;
    }
    if (*pp == msg) {
        *pp = msg->next;
    }
    msg->next = NULL;
    msg->in_active = 0;
}

static weft__tcp_msg_t *
tcp_msg_find_active(weft_tl_ep_t *peer, uint64_t msg_id)
{
    for (weft__tcp_msg_t *m = peer->active; m != NULL; m = m->next) {
        if (m->msg_id == msg_id) {
            return m;
        }
    }
    return NULL;
}

/* The rendezvous receive of msg is done: complete it and drop the
 * record. */
static void
tcp_rndv_finish(weft__tcp_msg_t *msg)
{
    weft_tl_op_t *op = msg->op;

    tcp_msg_unlink_active(msg);
    if (op != NULL) {
        msg->op = NULL;
        weft__tcp_op(op)->state = TCP_OP_IDLE;
        weft__tcp_op(op)->msg = NULL;
        op->complete(op,
                     msg->size > msg->accepted ? WEFT_ERR_TRUNCATED : WEFT_OK,
                     msg->accepted);
    }
    weft__tcp_msg_release(msg);
}

/* A receive matched an RTS: queue the CTS for what fits. */
static void
tcp_rndv_start(weft__tcp_msg_t *msg, weft_tl_op_t *op)
{
    weft_tl_ep_t *peer = msg->peer;
    tcp_op_t *o = weft__tcp_op(op);
    weft_status_t st;

    msg->accepted = tcp_min(msg->size, weft__tcp_op_bytes(o));
    msg->next = peer->active;
    peer->active = msg;
    msg->in_active = 1;
    msg->txi.type = TCP_TXI_CTS;
    if (msg->accepted == 0) {
        /* nothing to move: both sides complete on the CTS */
        o->state = TCP_OP_IDLE;
        op->complete(op, WEFT_ERR_TRUNCATED, 0);
    } else {
        msg->op = op;
        o->msg = msg;
        o->state = TCP_OP_RECV_RNDV;
    }
    st = weft__tcp_tx_push(peer, &msg->txi);
    if (st != WEFT_OK) {
        weft__tcp_peer_fail(peer, st, "cannot open a link to answer an rts");
    }
}

void
weft__tcp_rx_cts_written(weft__tcp_msg_t *msg)
{
    msg->cts_written = 1;
    if (msg->accepted == 0) {
        tcp_msg_unlink_active(msg);
        weft__tcp_msg_release(msg);
    }
}

/* ---- posting and cancelling receives ---------------------------------- */

weft_status_t
weft__tcp_rx_post(weft_tl_ep_t *peer, void *head, size_t hlen, void *buf,
                  size_t len, uint64_t tag, weft_tl_op_t *op)
{
    tcp_op_t *o = weft__tcp_op(op);
    weft__match_entry_t *e;

    memset(o, 0, sizeof(*o));
    o->peer = peer;
    o->head = head;
    o->hlen = (uint32_t)hlen;
    o->buf = buf;
    o->len = len;
    if (peer->failed != WEFT_OK) {
        return weft__error_at(peer->failed, WEFT_LOG_DEBUG, WEFT_SUB_TL,
                              "tcp: rank %d is lost: %s", peer->rank,
                              peer->why);
    }
    e = weft__match_post(&peer->mq, tag);
    if (e != NULL) {
        weft__tcp_msg_t *msg = weft__container_of(e, weft__tcp_msg_t, entry);

        msg->in_unexp = 0;
        if (msg->type == WEFT_WIRE_EAGER) {
            size_t size = msg->size, room = weft__tcp_op_bytes(o);
            size_t n = tcp_min(room, size);

            tcp_op_fill(o, msg->data, n);
            weft__tcp_msg_release(msg);
            op->complete(op, size > room ? WEFT_ERR_TRUNCATED : WEFT_OK, n);
            return WEFT_OK;
        }
        tcp_rndv_start(msg, op);
        return WEFT_OK;
    }
    if (peer->closed) {
        return weft__error_at(WEFT_ERR_PEER_LOST, WEFT_LOG_DEBUG, WEFT_SUB_TL,
                              "tcp: rank %d has finished: nothing more will "
                              "come from it",
                              peer->rank);
    }
    o->entry.tag = tag;
    o->state = TCP_OP_RECV_POSTED;
    weft__match_add_posted(&peer->mq, &o->entry);
    return WEFT_OK;
}

void
weft__tcp_rx_cancel(weft_tl_ep_t *peer, weft_tl_op_t *op)
{
    tcp_op_t *o = weft__tcp_op(op);
    weft__tcp_conn_t *conn = peer->conn;
    weft__tcp_msg_t *msg = o->msg;

    switch (o->state) {
    case TCP_OP_RECV_POSTED:
        weft__match_remove_posted(&peer->mq, &o->entry);
        break;
    case TCP_OP_RECV_EAGER:
        /* the rest of its payload is read and dropped */
        if (conn != NULL && conn->rx_op == op) {
            conn->rx_op = NULL;
            tcp_rx_unaim(conn);
        }
        break;
    case TCP_OP_RECV_RNDV:
        msg->op = NULL;
        o->msg = NULL;
        if (msg->txi.queued && peer->tx_cur != &msg->txi) {
            msg->accepted = 0; /* CTS for nothing: the sender is done */
        } else if (conn != NULL && conn->rx_msg == msg) {
            tcp_rx_unaim(conn); /* the rest of the data is dropped */
        }
        break;
    default:
        break;
    }
    o->state = TCP_OP_IDLE;
}

/* ---- frames --------------------------------------------------------- */

static void
tcp_rx_payload_done(weft__tcp_conn_t *conn)
{
    weft_tl_ep_t *peer = conn->peer;
    weft__tcp_msg_t *msg = conn->rx_msg;
    weft_tl_op_t *op = conn->rx_op;

    conn->in_payload = 0;
    tcp_rx_unaim(conn);
    if (op != NULL) { /* EAGER into a posted receive */
        tcp_op_t *o = weft__tcp_op(op);
        size_t room = weft__tcp_op_bytes(o);
        size_t n = tcp_min(room, conn->hdr.len);

        conn->rx_op = NULL;
        o->state = TCP_OP_IDLE;
        op->complete(op, conn->hdr.len > room ? WEFT_ERR_TRUNCATED : WEFT_OK,
                     n);
        return;
    }
    if (msg == NULL) {
        return; /* a cancelled receive's payload, dropped */
    }
    conn->rx_msg = NULL;
    msg->in_rx = 0;
    if (msg->type == WEFT_WIRE_EAGER) {
        /* a receive may have been posted while the payload came in */
        weft__match_entry_t *e = weft__match_arrive(&peer->mq, msg->entry.tag);

        if (e != NULL) {
            tcp_op_t *o = weft__container_of(e, tcp_op_t, entry);
            size_t room = weft__tcp_op_bytes(o);
            size_t n = tcp_min(room, msg->size);

            tcp_op_fill(o, msg->data, n);
            o->state = TCP_OP_IDLE;
            weft__tcp_op_owner(o)->complete(
                weft__tcp_op_owner(o),
                msg->size > room ? WEFT_ERR_TRUNCATED : WEFT_OK, n);
            weft__tcp_msg_release(msg);
            return;
        }
        msg->in_unexp = 1;
        weft__match_add_unexp(&peer->mq, &msg->entry);
        return;
    }
    msg->received += conn->hdr.len;
    if (msg->received == msg->accepted) {
        tcp_rndv_finish(msg);
    }
}

static void
tcp_rx_eager(weft__tcp_conn_t *conn, const weft__wire_hdr_t *h)
{
    weft_tl_ep_t *peer = conn->peer;
    weft__match_entry_t *e = weft__match_arrive(&peer->mq, h->tag);

    conn->left = h->len;
    if (e != NULL) {
        tcp_op_t *o = weft__container_of(e, tcp_op_t, entry);

        o->state = TCP_OP_RECV_EAGER;
        conn->rx_op = weft__tcp_op_owner(o);
        tcp_rx_aim(conn, o, 0, tcp_min(weft__tcp_op_bytes(o), h->len));
    } else {
        weft__tcp_msg_t *msg = tcp_msg_alloc(conn->tl, h->len);

        if (msg == NULL) {
            weft__tcp_peer_fail(
                peer, WEFT_ERR_NO_MEMORY,
                "no memory for an unexpected message of %" PRIu32 " bytes",
                h->len);
            return;
        }
        msg->peer = peer;
        msg->type = WEFT_WIRE_EAGER;
        msg->entry.tag = h->tag;
        msg->size = h->len;
        msg->in_rx = 1;
        conn->rx_msg = msg;
        tcp_rx_unaim(conn);
        conn->dst = msg->data;
        conn->dst_left = h->len;
    }
    conn->in_payload = 1;
    if (conn->left == 0) {
        tcp_rx_payload_done(conn);
    }
}

static void
tcp_rx_rts(weft__tcp_conn_t *conn, const weft__wire_hdr_t *h)
{
    weft_tl_ep_t *peer = conn->peer;
    weft__match_entry_t *e;
    weft__tcp_msg_t *msg;

    if (h->msg_id <= peer->last_rts_id) {
        weft__tcp_peer_fail(peer, WEFT_ERR_PROTOCOL,
                            "rts with message id %" PRIu64 " after id %" PRIu64,
                            h->msg_id, peer->last_rts_id);
        return;
    }
    peer->last_rts_id = h->msg_id;
    msg = calloc(1, sizeof(*msg));
    if (msg == NULL) {
        weft__tcp_peer_fail(peer, WEFT_ERR_NO_MEMORY,
                            "no memory for a rendezvous record");
        return;
    }
    msg->peer = peer;
    msg->type = WEFT_WIRE_RTS;
    msg->entry.tag = h->tag;
    msg->msg_id = h->msg_id;
    msg->size = h->size;
    e = weft__match_arrive(&peer->mq, h->tag);
    if (e != NULL) {
        tcp_rndv_start(
            msg, weft__tcp_op_owner(weft__container_of(e, tcp_op_t, entry)));
        return;
    }
    msg->in_unexp = 1;
    weft__match_add_unexp(&peer->mq, &msg->entry);
}

static void
tcp_rx_data(weft__tcp_conn_t *conn, const weft__wire_hdr_t *h)
{
    weft_tl_ep_t *peer = conn->peer;
    weft__tcp_msg_t *msg = tcp_msg_find_active(peer, h->msg_id);

    if (msg == NULL || !msg->cts_written) {
        weft__tcp_peer_fail(peer, WEFT_ERR_PROTOCOL,
                            "data for message id %" PRIu64
                            " that was not cleared to send",
                            h->msg_id);
        return;
    }
    if (h->size != msg->received || h->len > msg->accepted - msg->received) {
        weft__tcp_peer_fail(
            peer, WEFT_ERR_PROTOCOL,
            "data of message id %" PRIu64 " at offset %" PRIu64 " (+%" PRIu32
            "), expected offset %" PRIu64 " of %" PRIu64,
            h->msg_id, h->size, h->len, msg->received, msg->accepted);
        return;
    }
    conn->rx_msg = msg;
    msg->in_rx = 1;
    conn->left = h->len;
    conn->in_payload = 1;
    if (msg->op != NULL) {
        tcp_rx_aim(conn, weft__tcp_op(msg->op), msg->received, h->len);
    } else {
        tcp_rx_unaim(conn);
    }
}

/* Decode and act on the header at the staging offset. */
static void
tcp_rx_frame(weft__tcp_conn_t *conn)
{
    weft_tl_ep_t *peer = conn->peer;
    weft_tl_t *tl = conn->tl;
    weft__wire_limits_t lim;
    char why[160];

    lim.src = (uint32_t)peer->rank;
    lim.max_eager = (uint32_t)tl->eager_limit;
    lim.max_data = (uint32_t)tl->chunk;
    if (weft__wire_decode(conn->stage + conn->stage_off, &lim, &conn->hdr, why,
                          sizeof(why)) != WEFT_OK) {
        weft__tcp_peer_fail(peer, WEFT_ERR_PROTOCOL,
                            "bad frame on the link %s: %s", conn->name, why);
        return;
    }
    conn->stage_off += WEFT_WIRE_HDR_LEN;
    if (conn->bye) {
        weft__tcp_peer_fail(peer, WEFT_ERR_PROTOCOL,
                            "%s frame on the link %s after its bye",
                            weft__wire_type_name(conn->hdr.type), conn->name);
        return;
    }
    switch (conn->hdr.type) {
    case WEFT_WIRE_EAGER:
        tcp_rx_eager(conn, &conn->hdr);
        break;
    case WEFT_WIRE_RTS:
        tcp_rx_rts(conn, &conn->hdr);
        break;
    case WEFT_WIRE_CTS:
        if (weft__tcp_tx_cts(peer, conn->hdr.msg_id, conn->hdr.size) !=
            WEFT_OK) {
            weft__tcp_peer_fail(peer, WEFT_ERR_PROTOCOL,
                                "cts for message id %" PRIu64 " (%" PRIu64
                                " bytes) that is not waiting",
                                conn->hdr.msg_id, conn->hdr.size);
        }
        break;
    case WEFT_WIRE_DATA:
        tcp_rx_data(conn, &conn->hdr);
        break;
    case WEFT_WIRE_BYE:
        conn->bye = 1;
        break;
    }
}

/* Hand n staged payload bytes to the frame's destination. */
static void
tcp_rx_consume(weft__tcp_conn_t *conn, const uint8_t *p, size_t n)
{
    size_t done = 0;

    while (done < n && conn->dst_left > 0) {
        size_t to_dst = tcp_min(n - done, conn->dst_left);

        memcpy(conn->dst, p + done, to_dst);
        done += to_dst;
        tcp_rx_advance(conn, to_dst);
    }
    conn->left -= n;
    if (conn->left == 0) {
        tcp_rx_payload_done(conn);
    }
}

/* recv() returned n <= 0: nothing for now (1), EINTR (0), or the end of
 * the stream (1): after the peer's BYE, EOF or a reset is its orderly
 * exit (a reset: it closed with our frames unread, which Linux turns into
 * a reset; what it sent before stays readable); before it, a loss. */
static int
tcp_rx_closed(weft__tcp_conn_t *conn, ssize_t n)
{
    weft_tl_ep_t *peer = conn->peer;
    int err = n < 0 ? errno : 0;

    if (err == EINTR) {
        return 0;
    }
    if (err == EAGAIN || err == EWOULDBLOCK) {
        if (conn->send_err != 0) { /* a send failed, and nothing to read */
            weft__tcp_peer_fail(peer, WEFT_ERR_PEER_LOST,
                                "send on the link %s: %s", conn->name,
                                strerror(conn->send_err));
        }
        return 1;
    }
    if (conn->bye && !conn->in_payload && conn->stage_off == conn->stage_len) {
        weft__tcp_peer_closed(peer); /* an orderly goodbye */
        return 1;
    }
    if (n == 0) {
        weft__tcp_peer_fail(
            peer, WEFT_ERR_PEER_LOST,
            "the link %s closed without a goodbye%s%s%s", conn->name,
            conn->in_payload || conn->stage_len > conn->stage_off
                ? " (in the middle of a frame)"
                : "",
            conn->send_err ? "; send: " : "",
            conn->send_err ? strerror(conn->send_err) : "");
    } else {
        weft__tcp_peer_fail(peer, WEFT_ERR_PEER_LOST, "recv on the link %s: %s",
                            conn->name, strerror(err));
    }
    return 1;
}

void
weft__tcp_rx_read(weft__tcp_conn_t *conn)
{
    size_t budget = TCP_READ_BUDGET;

    while (conn->state == TCP_CONN_OPEN && conn->peer->failed == WEFT_OK) {
        size_t avail = conn->stage_len - conn->stage_off;
        ssize_t n;

        if (conn->in_payload) {
            if (avail > 0) {
                size_t take = tcp_min(avail, conn->left);

                conn->stage_off += take;
                tcp_rx_consume(conn, conn->stage + conn->stage_off - take,
                               take);
                continue;
            }
            conn->stage_off = conn->stage_len = 0;
            if (budget == 0) {
                return; /* level-triggered: epoll reports it again */
            }
            if (conn->dst != NULL && conn->dst_left >= TCP_DIRECT_MIN) {
                n = recv(conn->fd, conn->dst, conn->dst_left, 0);
                if (n <= 0) {
                    if (tcp_rx_closed(conn, n)) {
                        return;
                    }
                    continue;
                }
                /* a short read drained the socket: saving the recv()
                 * that would say EAGAIN (epoll reports what comes next) */
                budget = (size_t)n < conn->dst_left
                             ? 0
                             : budget - tcp_min(budget, (size_t)n);
                tcp_rx_advance(conn, (size_t)n);
                conn->left -= (size_t)n;
                if (conn->left == 0) {
                    tcp_rx_payload_done(conn);
                }
                continue;
            }
        } else {
            if (avail >= WEFT_WIRE_HDR_LEN) {
                tcp_rx_frame(conn);
                continue;
            }
            if (conn->stage_off > 0) {
                memmove(conn->stage, conn->stage + conn->stage_off, avail);
                conn->stage_off = 0;
                conn->stage_len = avail;
            }
            if (budget == 0) {
                return; /* only a partial header is left in the stage */
            }
        }
        n = recv(conn->fd, conn->stage + conn->stage_len,
                 conn->stage_cap - conn->stage_len, 0);
        if (n <= 0) {
            if (tcp_rx_closed(conn, n)) {
                return;
            }
            continue;
        }
        budget = (size_t)n < conn->stage_cap - conn->stage_len
                     ? 0 /* drained: frames in the stage first, then out */
                     : budget - tcp_min(budget, (size_t)n);
        conn->stage_len += (size_t)n;
    }
}
