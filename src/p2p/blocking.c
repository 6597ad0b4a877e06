/*
 * Blocking point-to-point without a request: weft_recv, and weft_send
 * where the transport cannot inject, post a transport op that lives on
 * the caller's stack and wait for it. A request would add its pool slot,
 * the comm's pending list and its release to the path between a
 * message's arrival and the caller's next call (a ping-pong's round
 * trip); here completion sets a flag. A comm that fails meanwhile cancels
 * its pending requests, which this op is not among, so the waiter looks
 * at the comm's error too and withdraws the op itself.
 */
#include "build_config.h"

#include <weft/p2p.h>

#include "context.h"
#include "errmsg.h"
#include "p2p/p2p.h"
#include "progress.h"
#include "util.h"

typedef struct p2p_blocking {
    weft_tl_op_t op;
    weft_context_t *ctx;
    weft_tl_ep_t *ep;
    int tl;
    int send;
    int peer;
    uint32_t tag;
    int done;
    weft_status_t status;
    size_t bytes;
} p2p_blocking_t;

/* The ops one call waits for (weft_sendrecv: two). */
typedef struct p2p_waiting {
    weft_comm_t *comm;
    p2p_blocking_t *b;
    int n;
} p2p_waiting_t;

static void
p2p_blocking_complete(weft_tl_op_t *op, weft_status_t status, size_t bytes)
{
    p2p_blocking_t *b = weft__container_of(op, p2p_blocking_t, op);

    b->ctx->tls[b->tl].inflight--;
    b->status = status;
    b->bytes = bytes;
    b->done = 1;
}

static int
p2p_blocking_over(void *arg)
{
    const p2p_waiting_t *w = arg;

    if (w->comm->error != WEFT_OK) {
        return 1;
    }
    for (int i = 0; i < w->n; i++) {
        if (!w->b[i].done) {
            return 0;
        }
    }
    return 1;
}

/* Post one op into b (not cleared first: the transport owns op->priv,
 * and the rest is set here). Lock held. */
static weft_status_t
p2p_blocking_post(weft_comm_t *comm, p2p_blocking_t *b, int send, void *buf,
                  size_t bytes, int peer, uint32_t tag)
{
    weft_context_t *ctx = comm->ctx;
    uint64_t wtag = weft__comm_tag(comm, WEFT_TAG_KIND_P2P, tag);
    const weft_tl_ops_t *ops;
    weft_status_t st;

    b->send = send;
    b->peer = peer;
    b->tag = tag;
    b->done = 0;
    b->status = WEFT_OK;
    b->bytes = 0;

    if (comm->error != WEFT_OK) {
        return weft__comm_error_return(comm, b->send ? "send" : "receive");
    }
    WEFT_CHECK(
        weft__ctx_ep(ctx, weft__comm_job_rank(comm, b->peer), &b->tl, &b->ep));
    ops = ctx->tls[b->tl].ops;
    b->ctx = ctx;
    b->op.complete = p2p_blocking_complete;
    ctx->tls[b->tl].inflight++; /* before: it may complete inside */
    st = b->send ? ops->isend(b->ep, buf, bytes, wtag, &b->op)
                 : ops->irecv(b->ep, buf, bytes, wtag, &b->op);
    if (st < 0) {
        ctx->tls[b->tl].inflight--;
        weft__p2p_error_text(comm, b->send, b->peer, (int)b->tag, st);
    }
    return st;
}

/* Withdraw an op that has not completed, with status. Lock held. */
static void
p2p_blocking_withdraw(p2p_blocking_t *b, weft_status_t status)
{
    if (!b->done) {
        b->ctx->tls[b->tl].ops->cancel(b->ep, &b->op);
        b->ctx->tls[b->tl].inflight--;
        b->done = 1;
        b->status = status;
    }
}

/* Wait for every op, under the comm's deadline; those left are withdrawn
 * (the comm failed meanwhile, or the deadline passed, which fails it
 * naming the first of them). Lock held. */
static void
p2p_blocking_wait(p2p_waiting_t *w)
{
    weft_comm_t *comm = w->comm;
    weft_status_t st;

    if (p2p_blocking_over(w)) {
        st = WEFT_OK;
    } else {
        comm->nblocking++; /* weft_comm_destroy counts it as pending */
        st = weft__progress_wait_for(comm->ctx, p2p_blocking_over, w, 0,
                                     weft__comm_timeout(comm));
        comm->nblocking--;
    }
    for (int i = 0; i < w->n; i++) {
        p2p_blocking_t *b = &w->b[i];

        if (b->done && b->status >= 0) {
            continue; /* nothing to withdraw or to name */
        }
        if (!b->done && st == WEFT_ERR_TIMED_OUT && comm->error == WEFT_OK) {
            weft__p2p_timed_out(comm, b->send, b->peer, (int)b->tag);
        }
        p2p_blocking_withdraw(b, comm->error != WEFT_OK ? comm->error : st);
        weft__p2p_error_text(comm, b->send, b->peer, (int)b->tag, b->status);
    }
}

void
weft__p2p_error_text(const weft_comm_t *comm, int send, int peer, int tag,
                     weft_status_t status)
{
    int lost = status == WEFT_ERR_PEER_LOST;

    if (status >= 0 || status == WEFT_ERR_TRUNCATED) {
        return; /* a truncation is reported by the caller, who knows the
                 * function's name */
    }
    if (comm->error != WEFT_OK) {
        weft__error_set("%s", comm->error_msg);
        return;
    }
    weft__error_set("comm %u: %s rank %d (tag %d) failed: %s", comm->id,
                    send ? "send to" : "receive from", peer, tag,
                    !lost  ? weft_status_string(status)
                    : send ? "it has finished"
                           : "it finished without sending a matching message");
}

void
weft__p2p_timed_out(weft_comm_t *comm, int send, int peer, int tag)
{
    weft__comm_fail_here(comm, WEFT_ERR_TIMED_OUT,
                         "%s rank %d (tag %d) did not complete within %g s "
                         "(%s)",
                         send ? "send to" : "receive from", peer, tag,
                         weft__comm_timeout(comm),
                         weft__comm_timeout_source(comm));
}

weft_status_t
weft__p2p_blocking(weft_comm_t *comm, weft__req_kind_t kind, void *buf,
                   size_t bytes, int peer, uint32_t tag, size_t *got_p)
{
    p2p_blocking_t b;
    p2p_waiting_t w = {comm, &b, 1};

    WEFT_CHECK(p2p_blocking_post(comm, &b, kind == WEFT_REQ_SEND, buf, bytes,
                                 peer, tag));
    p2p_blocking_wait(&w);
    *got_p = b.bytes;
    return b.status;
}

weft_status_t
weft__p2p_sendrecv(weft_comm_t *comm, const void *sbuf, size_t sbytes, int dst,
                   uint32_t stag, void *rbuf, size_t rbytes, int src,
                   uint32_t rtag)
{
    p2p_blocking_t b[2];
    p2p_waiting_t w = {comm, b, 2};
    weft_status_t st;

    WEFT_CHECK(p2p_blocking_post(comm, &b[0], 0, rbuf, rbytes, src, rtag));
    st = p2p_blocking_post(comm, &b[1], 1, (void *)sbuf, sbytes, dst, stag);
    if (st < 0) {
        p2p_blocking_withdraw(&b[0], WEFT_ERR_ABORTED);
        return st;
    }
    p2p_blocking_wait(&w);
    if (b[0].status < 0) {
        /* the receive's failure is the one reported (and its text) */
        weft__p2p_error_text(comm, 0, src, (int)rtag, b[0].status);
        return b[0].status;
    }
    return b[1].status;
}
