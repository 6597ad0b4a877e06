/*
 * shm receives: the consumer side of each peer's ring in our segment
 * (every cell checked before use: the peer writes it), matching, and the
 * receiver's half of the protocol: EAGER copies, RTS read with CMA then
 * FIN, or CTS then DATA when CMA is refused.
 */
#include "build_config.h"
#include "transports/shm/shm.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "log.h"
#include "util.h"

#define RX_BUDGET 64 /* messages handled per peer and progress call */

static void
rx_complete(shm_op_t *o, weft_status_t st, size_t bytes)
{
    weft_tl_op_t *op = weft__shm_op_owner(o);

    o->state = SHM_OP_IDLE;
    op->complete(op, st, bytes);
}

static void
rx_deliver(shm_op_t *o, const void *data, size_t len)
{
    size_t n = len < o->len ? len : o->len;

    if (n > 0) {
        memcpy(o->buf, data, n);
    }
    rx_complete(o, len > o->len ? WEFT_ERR_TRUNCATED : WEFT_OK, n);
}

static void
rx_active_remove(weft_tl_ep_t *peer, shm_op_t *o)
{
    for (shm_op_t **pp = &peer->rx_active; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == o) {
            *pp = o->next;
            o->next = NULL;
            return;
        }
    }
}

static shm_op_t *
rx_active_find(weft_tl_ep_t *peer, uint64_t id, int by_cookie)
{
    for (shm_op_t *o = peer->rx_active; o != NULL; o = o->next) {
        if ((by_cookie ? o->cookie : o->id) == id) {
            return o;
        }
    }
    return NULL;
}

/* ---- large receives ------------------------------------------------------ */

static void
rx_finish_large(weft_tl_ep_t *peer, shm_op_t *o)
{
    shm_fin_body_t b = {.cookie = o->cookie};

    rx_active_remove(peer, o);
    if (o->state == SHM_OP_RECV_CMA) {
        weft__shm_tx_ctrl(peer, SHM_T_FIN, &b, sizeof(b));
    }
    rx_complete(o, o->truncated ? WEFT_ERR_TRUNCATED : WEFT_OK, o->want);
}

/* Ask for the bytes through the ring (no CMA from this peer). */
static void
rx_ask_data(weft_tl_ep_t *peer, shm_op_t *o)
{
    shm_cts_body_t b = {.cookie = o->cookie, .rcookie = o->id,
                        .accepted = o->want};

    o->state = SHM_OP_RECV_DATA;
    o->done = 0;
    weft__shm_tx_ctrl(peer, SHM_T_CTS, &b, sizeof(b));
}

/* One CMA read of the receive; 1 when it did something. */
static int
rx_cma_step(weft_tl_ep_t *peer, shm_op_t *o)
{
    size_t n = o->want - o->done;
    struct iovec l, r;
    ssize_t got;

    if (n == 0) {
        rx_finish_large(peer, o);
        return 1;
    }
    if (n > SHM_CMA_CHUNK) {
        n = SHM_CMA_CHUNK;
    }
    l.iov_base = o->buf + o->done;
    l.iov_len = n;
    r.iov_base = (void *)(uintptr_t)(o->raddr + o->done);
    r.iov_len = n;
    got = process_vm_readv(peer->pid, &l, 1, &r, 1, 0);
    if (got > 0) {
        o->done += (uint64_t)got;
        if (o->done == o->want) {
            rx_finish_large(peer, o);
        }
        return 1;
    }
    if (got < 0 && (errno == EPERM || errno == ENOSYS || errno == EACCES)) {
        weft__log_info(WEFT_SUB_TL,
                       "shm: single-copy reads from rank %d were refused "
                       "(%m); switching to the double copy",
                       peer->rank);
        peer->cma = 0;
        rx_ask_data(peer, o);
        return 1;
    }
    if (got < 0 && errno == ESRCH) {
        return 0; /* it has exited: the liveness check fails this */
    }
    {
        /* EFAULT: the sender's buffer is not readable (freed?) */
        shm_fin_body_t b = {.cookie = o->cookie};
        int err = got < 0 ? errno : EIO;

        rx_active_remove(peer, o);
        weft__shm_tx_ctrl(peer, SHM_T_FIN, &b, sizeof(b));
        errno = err;
        weft__log_warn(WEFT_SUB_TL,
                       "shm: cannot read rank %d's send buffer: %m",
                       peer->rank);
        rx_complete(o, WEFT_ERR_TRANSPORT, (size_t)o->done);
    }
    return 1;
}

static void
rx_start_large(weft_tl_ep_t *peer, shm_op_t *o, uint64_t size, uint64_t addr,
               uint64_t cookie)
{
    o->raddr = addr;
    o->cookie = cookie;
    o->truncated = size > o->len;
    o->want = size < o->len ? size : o->len;
    o->done = 0;
    o->id = ++peer->next_id;
    o->next = peer->rx_active;
    peer->rx_active = o;
    if (peer->cma || o->want == 0) {
        o->state = SHM_OP_RECV_CMA;
        rx_cma_step(peer, o);
    } else {
        rx_ask_data(peer, o);
    }
}

unsigned
weft__shm_rx_advance(weft_tl_ep_t *peer)
{
    unsigned n = 0;
    shm_op_t *o = peer->rx_active;

    while (o != NULL) {
        shm_op_t *next = o->next; /* o may finish */

        if (o->state == SHM_OP_RECV_CMA) {
            n += (unsigned)rx_cma_step(peer, o);
        }
        o = next;
    }
    return n;
}

/* ---- what arrives -------------------------------------------------------- */

static void
rx_eager(weft_tl_ep_t *peer, uint64_t tag, const uint8_t *data, size_t len)
{
    weft__match_entry_t *e = weft__match_arrive(&peer->mq, tag);
    shm_msg_t *m;

    if (e != NULL) {
        rx_deliver(weft__container_of(e, shm_op_t, entry), data, len);
        return;
    }
    m = malloc(sizeof(*m) + len);
    if (m == NULL) {
        weft__shm_peer_fail(peer, WEFT_ERR_NO_MEMORY,
                            "out of memory for a %zu-byte message from rank "
                            "%d",
                            len, peer->rank);
        return;
    }
    m->entry.tag = tag;
    m->type = SHM_T_EAGER;
    m->size = len;
    memcpy(m->data, data, len);
    weft__match_add_unexp(&peer->mq, &m->entry);
}

static void
rx_rts(weft_tl_ep_t *peer, uint64_t tag, const shm_rts_body_t *b)
{
    weft__match_entry_t *e = weft__match_arrive(&peer->mq, tag);
    shm_msg_t *m;

    if (e != NULL) {
        rx_start_large(peer, weft__container_of(e, shm_op_t, entry), b->size,
                       b->addr, b->cookie);
        return;
    }
    m = malloc(sizeof(*m));
    if (m == NULL) {
        weft__shm_peer_fail(peer, WEFT_ERR_NO_MEMORY,
                            "out of memory for a message from rank %d",
                            peer->rank);
        return;
    }
    m->entry.tag = tag;
    m->type = SHM_T_RTS;
    m->size = b->size;
    m->addr = b->addr;
    m->cookie = b->cookie;
    m->next_rts = peer->unexp_rts;
    peer->unexp_rts = m;
    weft__match_add_unexp(&peer->mq, &m->entry);
}

static void
rx_unexp_rts_remove(weft_tl_ep_t *peer, shm_msg_t *m)
{
    for (shm_msg_t **pp = &peer->unexp_rts; *pp != NULL;
         pp = &(*pp)->next_rts) {
        if (*pp == m) {
            *pp = m->next_rts;
            return;
        }
    }
}

static void
rx_data(weft_tl_ep_t *peer, const shm_data_body_t *b, const uint8_t *data,
        size_t len)
{
    shm_op_t *o = rx_active_find(peer, b->rcookie, 0);

    if (o == NULL || o->state != SHM_OP_RECV_DATA) {
        if (b->rcookie > peer->next_id) {
            weft__shm_peer_fail(peer, WEFT_ERR_PROTOCOL,
                                "rank %d sent data for a receive that was "
                                "never asked for",
                                peer->rank);
        }
        return; /* for a receive cancelled here */
    }
    if (b->offset != o->done || len > o->want - o->done) {
        weft__shm_peer_fail(peer, WEFT_ERR_PROTOCOL,
                            "rank %d sent %zu bytes at offset %llu of a "
                            "receive at %llu of %llu",
                            peer->rank, len, (unsigned long long)b->offset,
                            (unsigned long long)o->done,
                            (unsigned long long)o->want);
        return;
    }
    memcpy(o->buf + o->done, data, len);
    o->done += len;
    if (o->done == o->want) {
        rx_finish_large(peer, o);
    }
}

/* The sender withdrew an RTS (its send was cancelled). */
static void
rx_withdrawn(weft_tl_ep_t *peer, uint64_t cookie)
{
    shm_op_t *o;

    for (shm_msg_t *m = peer->unexp_rts; m != NULL; m = m->next_rts) {
        if (m->cookie == cookie) {
            rx_unexp_rts_remove(peer, m);
            weft__match_remove_unexp(&peer->mq, &m->entry);
            free(m);
            return;
        }
    }
    o = rx_active_find(peer, cookie, 1);
    if (o != NULL) {
        rx_active_remove(peer, o);
        rx_complete(o, WEFT_ERR_ABORTED, 0);
    }
}

/* Check and handle one message; its cells are consumed afterwards. */
static void
rx_handle(weft_tl_ep_t *peer, shm_cell_t *c, uint32_t ncells, uint8_t type)
{
    uint64_t tag = c->tag;
    uint32_t len = c->len;
    size_t room = (size_t)ncells * SHM_CELL;

    switch (type) {
    case SHM_T_SKIP:
        return;
    case SHM_T_EAGER:
        if (c->flags & SHM_F_ALIGNED) {
            if (SHM_CELL + (size_t)len > room) {
                break;
            }
            rx_eager(peer, tag, (const uint8_t *)(c + 1), len);
            return;
        }
        if (SHM_CELL_HDR + (size_t)len > room) {
            break;
        }
        rx_eager(peer, tag, c->body, len);
        return;
    case SHM_T_DATA: {
        shm_data_body_t b;

        if (SHM_DATA_OFF + (size_t)len > room) {
            break;
        }
        memcpy(&b, c->body, sizeof(b));
        rx_data(peer, &b, (const uint8_t *)c + SHM_DATA_OFF, len);
        return;
    }
    case SHM_T_RTS: {
        shm_rts_body_t b;

        memcpy(&b, c->body, sizeof(b));
        rx_rts(peer, tag, &b);
        return;
    }
    case SHM_T_FIN: {
        shm_fin_body_t b;

        memcpy(&b, c->body, sizeof(b));
        weft__shm_tx_fin(peer, b.cookie);
        return;
    }
    case SHM_T_CTS: {
        shm_cts_body_t b;

        memcpy(&b, c->body, sizeof(b));
        weft__shm_tx_cts(peer, b.cookie, b.rcookie, b.accepted);
        return;
    }
    case SHM_T_CANCEL: {
        shm_fin_body_t b;

        memcpy(&b, c->body, sizeof(b));
        rx_withdrawn(peer, b.cookie);
        return;
    }
    case SHM_T_BYE:
        peer->bye = 1;
        peer->tl->peer_news = 1;
        return;
    default:
        break;
    }
    weft__shm_peer_fail(peer, WEFT_ERR_PROTOCOL,
                        "rank %d wrote a malformed message (type %u, %u "
                        "bytes in %u cells) into its ring",
                        peer->rank, type, len, ncells);
}

int
weft__shm_rx_pending(const weft_tl_ep_t *peer)
{
    const shm_cell_t *c =
        &peer->rx.cells[peer->rx_head & (peer->rx.ncells - 1)];

    return atomic_load_explicit(&c->stamp, memory_order_acquire) ==
           peer->rx_head + 1;
}

unsigned
weft__shm_rx_poll(weft_tl_ep_t *peer)
{
    shm_ring_t *r = &peer->rx;
    unsigned n = 0;

    while (n < RX_BUDGET && peer->failed == WEFT_OK) {
        uint32_t idx = (uint32_t)(peer->rx_head & (r->ncells - 1));
        shm_cell_t *c = &r->cells[idx];
        uint32_t ncells;
        uint8_t type;

        if (atomic_load_explicit(&c->stamp, memory_order_acquire) !=
            peer->rx_head + 1) {
            break;
        }
        ncells = c->ncells; /* read once: the peer could change it */
        type = c->type;
        if (ncells == 0 || idx + ncells > r->ncells) {
            weft__shm_peer_fail(peer, WEFT_ERR_PROTOCOL,
                                "rank %d wrote a message of %u cells at "
                                "cell %u of a %u-cell ring",
                                peer->rank, ncells, idx, r->ncells);
            break;
        }
        rx_handle(peer, c, ncells, type);
        peer->rx_head += ncells;
        n++;
    }
    if (peer->rx_head != peer->rx_head_pub) {
        atomic_store_explicit(&r->ctl->head, peer->rx_head,
                              memory_order_release);
        peer->rx_head_pub = peer->rx_head;
        weft__shm_wake(peer); /* it may be blocked on a full ring */
    }
    return n;
}

/* ---- posting and withdrawing receives ------------------------------------ */

weft_status_t
weft__shm_rx_post(weft_tl_ep_t *peer, void *buf, size_t len, uint64_t tag,
                  weft_tl_op_t *op)
{
    shm_op_t *o = weft__shm_op(op);
    weft__match_entry_t *e;
    shm_msg_t *m;

    memset(o, 0, sizeof(*o));
    o->peer = peer;
    o->buf = buf;
    o->len = len;
    e = weft__match_post(&peer->mq, tag);
    if (e == NULL && (peer->bye || peer->gone) && peer->failed == WEFT_OK) {
        /* it has left, but what it sent before may still be in the ring:
         * its exit is noticed before the sweep drains it, and another
         * thread (the progress thread) may post between the two */
        while (weft__shm_rx_pending(peer) && peer->failed == WEFT_OK) {
            weft__shm_rx_poll(peer);
        }
        e = weft__match_post(&peer->mq, tag);
    }
    if (e == NULL) {
        if (peer->failed != WEFT_OK) {
            return peer->failed;
        }
        if (peer->bye || peer->gone) {
            return WEFT_ERR_PEER_LOST;
        }
        o->entry.tag = tag;
        o->state = SHM_OP_RECV_POSTED;
        weft__match_add_posted(&peer->mq, &o->entry);
        return WEFT_OK;
    }
    m = weft__container_of(e, shm_msg_t, entry);
    if (m->type == SHM_T_EAGER) {
        rx_deliver(o, m->data, m->size);
    } else {
        rx_unexp_rts_remove(peer, m);
        rx_start_large(peer, o, m->size, m->addr, m->cookie);
    }
    free(m);
    return WEFT_OK;
}

void
weft__shm_rx_cancel(weft_tl_ep_t *peer, weft_tl_op_t *op)
{
    shm_op_t *o = weft__shm_op(op);

    if (o->state == SHM_OP_RECV_POSTED) {
        weft__match_remove_posted(&peer->mq, &o->entry);
    } else if (o->state == SHM_OP_RECV_CMA || o->state == SHM_OP_RECV_DATA) {
        rx_active_remove(peer, o);
        if (o->state == SHM_OP_RECV_CMA && peer->failed == WEFT_OK) {
            /* the sender waits for a FIN; its DATA, if any, is dropped */
            shm_fin_body_t b = {.cookie = o->cookie};

            weft__shm_tx_ctrl(peer, SHM_T_FIN, &b, sizeof(b));
        }
    }
    o->state = SHM_OP_IDLE;
}

void
weft__shm_rx_fail_all(weft_tl_ep_t *peer, weft_status_t status, int all)
{
    weft__match_entry_t *e;
    weft__match_queue_t keep;

    while ((e = weft__match_pop_posted(&peer->mq)) != NULL) {
        rx_complete(weft__container_of(e, shm_op_t, entry), status, 0);
    }
    while (peer->rx_active != NULL) {
        shm_op_t *o = peer->rx_active;

        peer->rx_active = o->next;
        o->next = NULL;
        rx_complete(o, status, 0);
    }
    /* a message whose bytes are here can still be received; an RTS whose
     * sender is gone cannot */
    weft__match_queue_init(&keep);
    while ((e = weft__match_pop_unexp(&peer->mq)) != NULL) {
        shm_msg_t *m = weft__container_of(e, shm_msg_t, entry);

        if (!all && m->type == SHM_T_EAGER) {
            weft__match_add_unexp(&keep, &m->entry);
        } else {
            free(m);
        }
    }
    peer->unexp_rts = NULL;
    while ((e = weft__match_pop_unexp(&keep)) != NULL) {
        weft__match_add_unexp(&peer->mq, e);
    }
}
