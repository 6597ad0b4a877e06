/*
 * shm sends: the producer side of the ring in the peer's segment, the
 * send queue (items wait there, in order, while the ring is full), and
 * the sender's half of the protocol (EAGER, RTS then FIN or CTS + DATA).
 */
#include "build_config.h"
#include "transports/shm/shm.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "util.h"

enum { TX_FULL = 0, TX_DONE = 1, TX_AGAIN = 2 };

/* ---- the ring, producer side -------------------------------------------- */

/* The header cell of n free cells at the tail (a SKIP fills the end of the
 * ring first when they would wrap), or NULL when the ring is full. */
static shm_cell_t *
tx_reserve(weft_tl_ep_t *peer, uint32_t n)
{
    shm_ring_t *r = &peer->tx;
    uint32_t idx = (uint32_t)(peer->tx_tail & (r->ncells - 1));
    uint32_t skip = idx + n > r->ncells ? r->ncells - idx : 0;
    uint64_t need = peer->tx_tail + skip + n;

    if (need - peer->tx_head_seen > r->ncells) {
        peer->tx_head_seen =
            atomic_load_explicit(&r->ctl->head, memory_order_acquire);
        if (need - peer->tx_head_seen > r->ncells) {
            return NULL;
        }
    }
    if (skip > 0) {
        shm_cell_t *c = &r->cells[idx];

        c->type = SHM_T_SKIP;
        c->ncells = (uint16_t)skip;
        c->len = 0;
        atomic_store_explicit(&c->stamp, peer->tx_tail + 1,
                              memory_order_release);
        peer->tx_tail += skip;
    }
    return &r->cells[peer->tx_tail & (r->ncells - 1)];
}

static void
tx_commit(weft_tl_ep_t *peer, shm_cell_t *c, uint8_t type, uint32_t n)
{
    c->type = type;
    c->ncells = (uint16_t)n;
    atomic_store_explicit(&c->stamp, peer->tx_tail + 1, memory_order_release);
    peer->tx_tail += n;
}

static uint32_t
tx_cells(size_t bytes)
{
    return (uint32_t)((bytes + SHM_CELL - 1) / SHM_CELL);
}

/* ---- the send queue ------------------------------------------------------ */

static void
txq_push(weft_tl_ep_t *peer, shm_txi_t *txi)
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

static shm_txi_t *
txq_pop(weft_tl_ep_t *peer)
{
    shm_txi_t *txi = peer->txq_head;

    peer->txq_head = txi->next;
    if (peer->txq_head == NULL) {
        peer->txq_tail = NULL;
    }
    txi->next = NULL;
    txi->queued = 0;
    return txi;
}

static void
txq_remove(weft_tl_ep_t *peer, shm_txi_t *txi)
{
    shm_txi_t **pp = &peer->txq_head, *prev = NULL;

    while (*pp != NULL && *pp != txi) {
        prev = *pp;
        pp = &(*pp)->next;
    }
    if (*pp == NULL) {
        return;
    }
    *pp = txi->next;
    if (peer->txq_tail == txi) {
        peer->txq_tail = prev;
    }
    txi->next = NULL;
    txi->queued = 0;
}

static shm_op_t *
tx_op_of(shm_txi_t *txi)
{
    return weft__container_of(txi, shm_op_t, txi);
}

/* ---- writing one item ------------------------------------------------ */

static int
tx_write_eager(weft_tl_ep_t *peer, uint64_t tag, const void *buf, size_t len)
{
    int aligned = len > SHM_EAGER_ALIGN_MIN;
    uint32_t n = aligned ? 1 + tx_cells(len) : tx_cells(SHM_CELL_HDR + len);
    shm_cell_t *c = tx_reserve(peer, n);

    if (c == NULL) {
        return TX_FULL;
    }
    c->tag = tag;
    c->len = (uint32_t)len;
    c->flags = aligned ? SHM_F_ALIGNED : 0;
    if (len > 0) {
        memcpy(aligned ? (uint8_t *)(c + 1) : c->body, buf, len);
    }
    tx_commit(peer, c, SHM_T_EAGER, n);
    return TX_DONE;
}

static int
tx_write_rts(weft_tl_ep_t *peer, shm_op_t *o)
{
    shm_cell_t *c = tx_reserve(peer, 1);
    shm_rts_body_t b = {.size = o->len,
                        .addr = (uint64_t)(uintptr_t)o->buf,
                        .cookie = o->id};

    if (c == NULL) {
        return TX_FULL;
    }
    c->tag = o->entry.tag;
    c->len = 0;
    memcpy(c->body, &b, sizeof(b));
    tx_commit(peer, c, SHM_T_RTS, 1);
    o->state = SHM_OP_SEND_RTS;
    o->next = peer->rts_wait;
    peer->rts_wait = o;
    return TX_DONE;
}

static int
tx_write_data(weft_tl_ep_t *peer, shm_op_t *o)
{
    size_t frag = o->want - o->done;
    shm_data_body_t b = {.rcookie = o->cookie, .offset = o->done};
    shm_cell_t *c;
    uint32_t n;

    if (frag > peer->tl->frag) {
        frag = peer->tl->frag;
    }
    n = tx_cells(SHM_DATA_OFF + frag);
    c = tx_reserve(peer, n);
    if (c == NULL) {
        return TX_FULL;
    }
    c->tag = 0;
    c->len = (uint32_t)frag;
    memcpy(c->body, &b, sizeof(b));
    memcpy((uint8_t *)c + SHM_DATA_OFF, o->buf + o->done, frag);
    tx_commit(peer, c, SHM_T_DATA, n);
    o->done += frag;
    return o->done == o->want ? TX_DONE : TX_AGAIN;
}

static int
tx_write_ctrl(weft_tl_ep_t *peer, uint8_t type, const void *body, size_t len)
{
    shm_cell_t *c = tx_reserve(peer, 1);

    if (c == NULL) {
        return TX_FULL;
    }
    c->tag = 0;
    c->len = 0;
    memcpy(c->body, body, len);
    tx_commit(peer, c, type, 1);
    return TX_DONE;
}

static int
tx_write(weft_tl_ep_t *peer, shm_txi_t *txi)
{
    switch (txi->type) {
    case SHM_TXI_EAGER: {
        shm_op_t *o = tx_op_of(txi);

        return tx_write_eager(peer, o->entry.tag, o->buf, o->len);
    }
    case SHM_TXI_RTS:
        return tx_write_rts(peer, tx_op_of(txi));
    case SHM_TXI_DATA:
        return tx_write_data(peer, tx_op_of(txi));
    default: {
        shm_ctrl_t *ctl = weft__container_of(txi, shm_ctrl_t, txi);

        return tx_write_ctrl(peer, ctl->type, ctl->body, sizeof(ctl->body));
    }
    }
}

/* An item left the queue for good. */
static void
tx_item_done(weft_tl_ep_t *peer, shm_txi_t *txi)
{
    if (txi->type == SHM_TXI_CTRL) {
        free(weft__container_of(txi, shm_ctrl_t, txi));
        return;
    }
    if (txi->type == SHM_TXI_EAGER || txi->type == SHM_TXI_DATA) {
        shm_op_t *o = tx_op_of(txi);

        o->state = SHM_OP_IDLE;
        weft__shm_op_owner(o)->complete(weft__shm_op_owner(o), WEFT_OK,
                                        o->len);
    }
    /* RTS: the op now waits for its FIN or CTS */
}

void
weft__shm_tx_flush(weft_tl_ep_t *peer)
{
    int wrote = 0;

    while (peer->txq_head != NULL && peer->failed == WEFT_OK) {
        shm_txi_t *txi = peer->txq_head;
        int r = tx_write(peer, txi);

        if (r == TX_FULL) {
            break;
        }
        wrote = 1;
        txq_pop(peer);
        if (r == TX_AGAIN) {
            txq_push(peer, txi); /* round robin between streams */
        } else {
            tx_item_done(peer, txi);
        }
    }
    if (wrote) {
        weft__shm_wake(peer);
    }
}

weft_status_t
weft__shm_tx_send(weft_tl_ep_t *peer, const void *buf, size_t len,
                  uint64_t tag, weft_tl_op_t *op)
{
    shm_op_t *o = weft__shm_op(op);

    memset(o, 0, sizeof(*o));
    o->peer = peer;
    o->buf = (uint8_t *)buf;
    o->len = len;
    o->entry.tag = tag;
    o->id = ++peer->next_id;
    o->state = SHM_OP_SEND_QUEUED;
    o->txi.type = len <= peer->tl->eager_limit ? SHM_TXI_EAGER : SHM_TXI_RTS;
    if (peer->txq_head == NULL) {
        int r = tx_write(peer, &o->txi);

        if (r == TX_DONE) {
            weft__shm_wake(peer);
            if (o->txi.type == SHM_TXI_EAGER) {
                o->state = SHM_OP_IDLE;
                op->complete(op, WEFT_OK, len);
            }
            return WEFT_OK;
        }
    }
    txq_push(peer, &o->txi);
    return WEFT_OK;
}

weft_status_t
weft__shm_tx_inject(weft_tl_ep_t *peer, const void *buf, size_t len,
                    uint64_t tag)
{
    if (len > peer->tl->eager_limit || peer->txq_head != NULL ||
        tx_write_eager(peer, tag, buf, len) != TX_DONE) {
        return WEFT_INPROGRESS;
    }
    weft__shm_wake(peer);
    return WEFT_OK;
}

weft_status_t
weft__shm_tx_ctrl(weft_tl_ep_t *peer, uint8_t type, const void *body,
                  size_t body_len)
{
    shm_ctrl_t *ctl;

    if (peer->txq_head == NULL &&
        tx_write_ctrl(peer, type, body, body_len) == TX_DONE) {
        weft__shm_wake(peer);
        return WEFT_OK;
    }
    ctl = calloc(1, sizeof(*ctl));
    if (ctl == NULL) {
        return WEFT_ERR_NO_MEMORY;
    }
    ctl->txi.type = SHM_TXI_CTRL;
    ctl->type = type;
    memcpy(ctl->body, body, body_len);
    txq_push(peer, &ctl->txi);
    return WEFT_OK;
}

/* ---- answers to our RTS -------------------------------------------------- */

static shm_op_t *
tx_rts_take(weft_tl_ep_t *peer, uint64_t cookie)
{
    for (shm_op_t **pp = &peer->rts_wait; *pp != NULL; pp = &(*pp)->next) {
        shm_op_t *o = *pp;

        if (o->id == cookie) {
            *pp = o->next;
            o->next = NULL;
            return o;
        }
    }
    return NULL;
}

void
weft__shm_tx_fin(weft_tl_ep_t *peer, uint64_t cookie)
{
    shm_op_t *o = tx_rts_take(peer, cookie);

    if (o == NULL) {
        return; /* we cancelled it: the receiver had already read it */
    }
    o->state = SHM_OP_IDLE;
    weft__shm_op_owner(o)->complete(weft__shm_op_owner(o), WEFT_OK, o->len);
}

void
weft__shm_tx_cts(weft_tl_ep_t *peer, uint64_t cookie, uint64_t rcookie,
                 uint64_t accepted)
{
    shm_op_t *o = tx_rts_take(peer, cookie);

    if (o == NULL) {
        return; /* cancelled */
    }
    if (accepted > o->len) {
        o->next = peer->rts_wait; /* failed with the others */
        peer->rts_wait = o;
        weft__shm_peer_fail(peer, WEFT_ERR_PROTOCOL,
                            "rank %d asked for %llu bytes of a %llu-byte "
                            "message",
                            peer->rank, (unsigned long long)accepted,
                            (unsigned long long)o->len);
        return;
    }
    o->cookie = rcookie;
    o->want = accepted;
    o->done = 0;
    if (accepted == 0) {
        o->state = SHM_OP_IDLE;
        weft__shm_op_owner(o)->complete(weft__shm_op_owner(o), WEFT_OK,
                                        o->len);
        return;
    }
    o->state = SHM_OP_SEND_DATA;
    o->txi.type = SHM_TXI_DATA;
    txq_push(peer, &o->txi);
    weft__shm_tx_flush(peer);
}

/* ---- withdrawing and failing --------------------------------------------- */

void
weft__shm_tx_cancel(weft_tl_ep_t *peer, weft_tl_op_t *op)
{
    shm_op_t *o = weft__shm_op(op);
    int told = o->state == SHM_OP_SEND_RTS || o->state == SHM_OP_SEND_DATA;

    if (o->txi.queued) {
        txq_remove(peer, &o->txi);
    }
    if (o->state == SHM_OP_SEND_RTS) {
        tx_rts_take(peer, o->id);
    }
    if (told && peer->failed == WEFT_OK && !peer->gone) {
        /* the receiver may hold our RTS: tell it the buffer is gone */
        shm_fin_body_t b = {.cookie = o->id};

        weft__shm_tx_ctrl(peer, SHM_T_CANCEL, &b, sizeof(b));
    }
    o->state = SHM_OP_IDLE;
}

void
weft__shm_tx_fail_all(weft_tl_ep_t *peer, weft_status_t status)
{
    while (peer->txq_head != NULL) {
        shm_txi_t *txi = txq_pop(peer);

        if (txi->type == SHM_TXI_CTRL) {
            free(weft__container_of(txi, shm_ctrl_t, txi));
        } else {
            shm_op_t *o = tx_op_of(txi);

            o->state = SHM_OP_IDLE;
            weft__shm_op_owner(o)->complete(weft__shm_op_owner(o), status,
                                            0);
        }
    }
    while (peer->rts_wait != NULL) {
        shm_op_t *o = peer->rts_wait;

        peer->rts_wait = o->next;
        o->next = NULL;
        o->state = SHM_OP_IDLE;
        weft__shm_op_owner(o)->complete(weft__shm_op_owner(o), status, 0);
    }
}

void
weft__shm_tx_free_ctrl(weft_tl_ep_t *peer)
{
    while (peer->txq_head != NULL) {
        shm_txi_t *txi = txq_pop(peer);

        if (txi->type == SHM_TXI_CTRL) {
            free(weft__container_of(txi, shm_ctrl_t, txi));
        }
    }
    peer->rts_wait = NULL;
}

/* fini: BYE, if there is room for it within the deadline. */
int
weft__shm_tx_bye(weft_tl_ep_t *peer)
{
    shm_fin_body_t b = {0};

    if (tx_write_ctrl(peer, SHM_T_BYE, &b, sizeof(b)) != TX_DONE) {
        return 0;
    }
    weft__shm_wake(peer);
    return 1;
}
