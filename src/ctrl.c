/* Control messages over the data links (see ctrl.h). */
#include "build_config.h"
#include "ctrl.h"

#include <stdlib.h>
#include <string.h>

#include "bootstrap/store.h"
#include "comm.h"
#include "context.h"
#include "ctrl_msg.h"
#include "errmsg.h"
#include "log.h"
#include "util.h"

struct weft__ctrl_slot {
    weft_tl_op_t op;
    weft_context_t *ctx;
    int peer; /* job rank */
    int tl;
    int posted; /* a receive: pending in the transport */
    weft_status_t status;
    size_t bytes;
    weft__ctrl_slot_t *next, *prev; /* tx list, or the arrived queue */
    uint8_t wire[WEFT_CTRL_WIRE_MAX];
};

static uint64_t
ctrl_tag(void)
{
    /* the communicator field of a standing receive (weft/transport.h) */
    return WEFT_TL_TAG_STANDING | (uint64_t)WEFT_TAG_KIND_CTRL << 32;
}

weft_status_t
weft__ctrl_init(weft_context_t *ctx)
{
    weft__ctrl_t *c = &ctx->ctrl;

    memset(c, 0, sizeof(*c));
    c->arrived_tail = &c->arrived;
    c->rx = calloc((size_t)ctx->size, sizeof(*c->rx));
    if (c->rx == NULL) {
        return weft__error(WEFT_ERR_NO_MEMORY, WEFT_SUB_CORE,
                           "out of memory for %d control receives", ctx->size);
    }
    return WEFT_OK;
}

/* ---- receiving ------------------------------------------------------- */

/* From inside the transport: queue it (applied after its progress). */
static void
ctrl_rx_complete(weft_tl_op_t *op, weft_status_t status, size_t bytes)
{
    weft__ctrl_slot_t *s = weft__container_of(op, weft__ctrl_slot_t, op);
    weft__ctrl_t *c = &s->ctx->ctrl;

    s->posted = 0;
    s->status = status;
    s->bytes = bytes;
    s->next = NULL;
    *c->arrived_tail = s;
    c->arrived_tail = &s->next;
}

static void
ctrl_rx_post(weft__ctrl_slot_t *s)
{
    weft_context_t *ctx = s->ctx;
    weft__peer_t *p = &ctx->peers[s->peer];
    weft_status_t st;

    if (p->failed != WEFT_OK || p->ep == NULL || ctx->destroying) {
        return;
    }
    s->op.complete = ctrl_rx_complete;
    s->posted = 1;
    st = ctx->tls[s->tl].ops->irecv(p->ep, s->wire, sizeof(s->wire), ctrl_tag(),
                                    &s->op);
    if (st < 0) {
        s->posted = 0;
        /* the link is gone already (the peer's failure is on its way) */
        weft__log_debug(WEFT_SUB_CORE, "no control receive from rank %d (%s)",
                        s->peer, weft_status_string(st));
    }
}

void
weft__ctrl_ep_made(weft_context_t *ctx, int job_rank)
{
    weft__ctrl_slot_t *s;

    if (job_rank == ctx->rank || ctx->ctrl.rx == NULL ||
        ctx->ctrl.rx[job_rank] != NULL ||
        !(ctx->cfg.flood & WEFT_FLOOD_LINKS)) {
        return;
    }
    s = calloc(1, sizeof(*s));
    if (s == NULL) {
        weft__log_warn(WEFT_SUB_CORE,
                       "out of memory for the control receive from rank %d",
                       job_rank);
        return;
    }
    s->ctx = ctx;
    s->peer = job_rank;
    s->tl = ctx->peers[job_rank].tl;
    ctx->ctrl.rx[job_rank] = s;
    ctrl_rx_post(s);
}

static void
ctrl_rx_apply(weft_context_t *ctx, weft__ctrl_slot_t *s)
{
    weft__store_event_t ev;
    weft__ctrl_msg_t m;
    const char *bad;

    if (s->status != WEFT_OK && s->status != WEFT_ERR_TRUNCATED) {
        return; /* withdrawn or the peer is gone: not posted again */
    }
    bad = weft__ctrl_msg_parse(s->wire, s->bytes,
                               s->status == WEFT_ERR_TRUNCATED, ctx->size, &m);
    if (bad != NULL) {
        char why[160];

        snprintf(why, sizeof(why),
                 "sent a malformed control message (%s, %zu bytes)", bad,
                 s->bytes);
        weft__ctx_peer_failed(ctx, s->peer, WEFT_ERR_PROTOCOL, why);
        return;
    }
    ctx->ctrl.received++;
    memset(&ev, 0, sizeof(ev));
    ev.kind = WEFT_STORE_EVENT_ABORT;
    ev.origin = m.origin;
    ev.failed_rank = -1;
    ev.comm_id = m.comm_id;
    ev.status = (weft_status_t)m.status;
    weft__strlcpy(ev.reason, m.reason, sizeof(ev.reason));
    weft__log_debug(WEFT_SUB_CORE,
                    "comm %u: error of rank %d heard from rank %d over "
                    "the link",
                    ev.comm_id, ev.origin, s->peer);
    weft__ctx_apply_abort(ctx, &ev);
    ctrl_rx_post(s);
}

void
weft__ctrl_apply(weft_context_t *ctx)
{
    weft__ctrl_t *c = &ctx->ctrl;

    while (c->arrived != NULL) {
        weft__ctrl_slot_t *s = c->arrived;

        c->arrived = s->next;
        if (c->arrived == NULL) {
            c->arrived_tail = &c->arrived;
        }
        s->next = NULL;
        ctrl_rx_apply(ctx, s);
    }
}

/* ---- sending --------------------------------------------------------- */

static void
ctrl_tx_unlink(weft__ctrl_slot_t *s)
{
    weft__ctrl_t *c = &s->ctx->ctrl;

    if (s->prev != NULL) {
        s->prev->next = s->next;
    } else {
        c->tx = s->next;
    }
    if (s->next != NULL) {
        s->next->prev = s->prev;
    }
}

static void
ctrl_tx_complete(weft_tl_op_t *op, weft_status_t status, size_t bytes)
{
    weft__ctrl_slot_t *s = weft__container_of(op, weft__ctrl_slot_t, op);

    (void)status;
    (void)bytes;
    s->ctx->tls[s->tl].inflight--;
    ctrl_tx_unlink(s);
    free(s);
}

static void
ctrl_send(weft_context_t *ctx, int job_rank, const weft__ctrl_msg_t *msg)
{
    weft__peer_t *p = &ctx->peers[job_rank];
    weft__ctrl_slot_t *s;
    weft_status_t st;
    size_t len;

    if (p->ep == NULL || p->failed != WEFT_OK) {
        return; /* no open link: the store (or a neighbour) tells it */
    }
    s = calloc(1, sizeof(*s));
    if (s == NULL) {
        return;
    }
    s->ctx = ctx;
    s->peer = job_rank;
    s->tl = p->tl;
    len = weft__ctrl_msg_encode(msg, s->wire);
    s->op.complete = ctrl_tx_complete;
    s->next = ctx->ctrl.tx;
    if (s->next != NULL) {
        s->next->prev = s;
    }
    ctx->ctrl.tx = s;
    ctx->tls[s->tl].inflight++; /* before: it may complete inside */
    st = ctx->tls[s->tl].ops->isend(
        p->ep, s->wire, len, ctrl_tag(), &s->op);
    if (st < 0) {
        ctx->tls[s->tl].inflight--;
        ctrl_tx_unlink(s);
        free(s);
        return;
    }
    ctx->ctrl.sent++;
}

void
weft__ctrl_flood(weft_comm_t *comm, const char *reason)
{
    weft_context_t *ctx = comm->ctx;
    weft__ctrl_msg_t msg;
    size_t len = strlen(reason);

    if (!(ctx->cfg.flood & WEFT_FLOOD_LINKS) || ctx->destroying ||
        comm->size == 1 || comm->error_origin < 0 || ctx->ctrl.rx == NULL) {
        return;
    }
    memset(&msg, 0, sizeof(msg));
    msg.magic = WEFT_CTRL_MAGIC;
    msg.version = WEFT_CTRL_VERSION;
    msg.kind = WEFT_CTRL_KIND_COMM_ERROR;
    msg.reason_len =
        (unsigned)(len < WEFT_CTRL_REASON_MAX ? len : WEFT_CTRL_REASON_MAX);
    msg.comm_id = comm->id;
    msg.origin = weft__comm_job_rank(comm, comm->error_origin);
    msg.status = comm->error;
    memcpy(msg.reason, reason, msg.reason_len);
    for (int r = 0; r < comm->size; r++) {
        if (r != comm->rank && r != comm->error_origin) {
            ctrl_send(ctx, weft__comm_job_rank(comm, r), &msg);
        }
    }
}

/* ---- teardown -------------------------------------------------------- */

void
weft__ctrl_withdraw(weft_context_t *ctx)
{
    weft__ctrl_t *c = &ctx->ctrl;

    for (int r = 0; c->rx != NULL && r < ctx->size; r++) {
        weft__ctrl_slot_t *s = c->rx[r];

        if (s != NULL && s->posted) {
            ctx->tls[s->tl].ops->cancel(ctx->peers[r].ep, &s->op);
            s->posted = 0;
        }
    }
}

void
weft__ctrl_fini(weft_context_t *ctx)
{
    weft__ctrl_t *c = &ctx->ctrl;

    /* the transports are closed: nothing touches the slots any more */
    while (c->tx != NULL) {
        weft__ctrl_slot_t *s = c->tx;

        c->tx = s->next;
        free(s);
    }
    for (int r = 0; c->rx != NULL && r < ctx->size; r++) {
        free(c->rx[r]);
    }
    free(c->rx);
    memset(c, 0, sizeof(*c));
    c->arrived_tail = &c->arrived;
}
