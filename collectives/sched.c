/*
 * The schedule engine, running: the steps a schedule was built with
 * (sched_build.c) run nonblockingly from the progress engine (see sched.h
 * for the rules).
 */
#include "build_config.h"
#include "collectives/sched.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "stamp.h"
#include "collectives/coll_desc.h"
#include "collectives/reduce_ops.h"
#include "collectives/sched_int.h"
#include "collectives/scratch.h"
#include "context.h"
#include "errmsg.h"
#include "log.h"
#include "request.h"
#include "util.h"

#define SCHED_CAUSE_WAIT 0.25 /* s: a peer's withdrawal waits for its cause */

/* ---- running ---- */

static void sched_advance(weft__sched_t *s);

static const char *
sched_step_name(const sched_step_t *st)
{
    static const char *const names[] = {
        "send", "receive", "reduce", "reduce", "copy", "convert", "scale",
        "wait for partition", "node-local step"};

    return names[st->kind];
}

static void
sched_unlink(weft__sched_t *s)
{
    weft_context_t *ctx = s->comm->ctx;

    if (s->prev != NULL) {
        s->prev->next = s->next;
    } else if (ctx->scheds == s) {
        ctx->scheds = s->next;
    }
    if (s->next != NULL) {
        s->next->prev = s->prev;
    }
    s->next = s->prev = NULL;
}

static void
sched_withdraw(weft__sched_t *s)
{
    weft_context_t *ctx = s->comm->ctx;

    weft__sched_desc_withdraw(s, 1);
    /* a POLL step that never started may hold a place in a queue (a
     * node-aware plan's turn): let it go */
    for (int i = s->first_undone; i < s->nsteps; i++) {
        sched_step_t *st = &s->steps[i];

        if (st->kind == WEFT_STEP_POLL && st->state == STEP_WAITING &&
            st->poll->cancel != NULL) {
            st->poll->cancel(st->dst);
            st->state = STEP_DONE;
        }
    }
    for (int i = 0; i < s->nsteps && s->npolling > 0; i++) {
        if (s->steps[i].kind == WEFT_STEP_POLL &&
            s->steps[i].state == STEP_POSTED) {
            if (s->steps[i].poll->cancel != NULL) {
                s->steps[i].poll->cancel(s->steps[i].dst);
            }
            s->steps[i].state = STEP_DONE;
            s->npolling--;
            ctx->sched_polling--;
        }
    }
    for (int i = 0; i < s->nsteps && s->nposted > 0; i++) {
        sched_op_t *o = s->ops[i];

        if (s->steps[i].state == STEP_POSTED && o != NULL) {
            ctx->tls[o->tl].ops->cancel(o->ep, &o->op);
            ctx->tls[o->tl].inflight--;
            s->steps[i].state = STEP_DONE;
            s->nposted--;
        }
    }
}

/* A peer withdrew an op of this call (WEFT_ERR_ABORTED from the
 * transport): it did so because its comm failed, and the cause (a rank
 * lost, an abort, a mismatch) comes through the bootstrap store, usually
 * at once. Wait briefly for it, so that every rank reports the cause and
 * not the withdrawal. */
static void
sched_await_cause(weft__sched_t *s)
{
    weft_context_t *ctx = s->comm->ctx;
    double until = weft__now() + SCHED_CAUSE_WAIT;

    while (s->comm->error == WEFT_OK && !ctx->store_lost &&
           ctx->store != NULL && weft__now() < until) {
        weft__ctx_poll_store(ctx);
        if (s->comm->error == WEFT_OK) {
            usleep(500);
        }
    }
}

/* The first failure: fail the comm (the other ranks of a collective
 * cannot finish without this one), which completes the request. */
static void
sched_fail(weft__sched_t *s, int step, weft_status_t status,
           const char *why)
{
    const sched_step_t *st = &s->steps[step];

    if (status == WEFT_ERR_ABORTED && s->comm->error == WEFT_OK) {
        sched_await_cause(s);
        if (s->req == NULL || s->req->done) {
            return; /* the cause failed the comm and completed the call */
        }
    }
    weft__comm_fail_here(s->comm, status, "%s (%s): %s rank %d: %s", s->what,
                         s->algo, sched_step_name(st), st->peer, why);
    if (s->req != NULL && !s->req->done) {
        weft__sched_cancel(s, status); /* the comm had already failed */
    }
}

/* A disagreement found by the descriptor exchange: fail the comm (and
 * every rank, by the flood) naming both calls. */
static void
sched_fail_desc(weft__sched_t *s)
{
    weft__comm_fail_here(s->comm, s->desc_status, "%s (%s): %s", s->what,
                         s->algo, s->desc_why);
    if (s->req != NULL && !s->req->done) {
        weft__sched_cancel(s, s->desc_status);
    }
}

/* Inside a transport's progress: only record; sched_advance acts on it. */
static void
sched_op_complete(weft_tl_op_t *op, weft_status_t status, size_t bytes)
{
    sched_op_t *o = weft__container_of(op, sched_op_t, op);
    weft__sched_t *s = o->s;
    sched_step_t *st = &s->steps[o->step];
    int arrived, longer;

    s->comm->ctx->tls[o->tl].inflight--;
    if (st->state != STEP_POSTED) {
        return;
    }
    st->state = STEP_DONE;
    s->nposted--;
    s->ndone++;
    s->news = 1;
    s->comm->ctx->sched_news = 1;
    if (status == WEFT_OK) {
        if (st->kind == WEFT_STEP_SEND) {
            s->bytes_sent += st->n;
        } else {
            s->bytes_received += st->n; /* a descriptor in front aside */
        }
        if (s->first_byte_s == 0) {
            s->first_byte_s = weft__now(); /* for weft_request_stats */
        }
    }
    /* the step is done only once its descriptor is checked: no reduction
     * reads its data before (desc_recvs counts descriptors of their own).
     * A receive split by the transport has room for exactly the message
     * expected: a larger one is truncated, but its descriptor says why */
    arrived = status == WEFT_OK || (st->split && status == WEFT_ERR_TRUNCATED);
    longer = status == WEFT_ERR_TRUNCATED;
    if (st->pack != NULL && st->kind == WEFT_STEP_RECV) {
        if (arrived && s->desc_status == WEFT_OK &&
            weft__sched_desc_check(s, st->peer, st->pack, bytes, 0)) {
            bytes -= WEFT_COLL_DESC_WIRE;
            if (!st->split && bytes == st->n && st->n > 0) {
                memcpy(st->dst, st->pack + WEFT_COLL_DESC_WIRE, st->n);
            }
        } else if (arrived) {
            return; /* desc_status says why; sched_advance fails the call */
        }
    }
    if (status == WEFT_OK && st->kind == WEFT_STEP_RECV && bytes != st->n) {
        status = WEFT_ERR_TRUNCATED;
        longer = bytes > st->n;
    }
    if (status == WEFT_OK || s->failed_step >= 0) {
        return;
    }
    s->failed_step = o->step;
    s->fail_status = status;
    if (status == WEFT_ERR_TRUNCATED) {
        snprintf(s->fail_why, sizeof(s->fail_why),
                 "got %s bytes than the %zu expected (did the ranks pass "
                 "different counts, dtypes or roots?)",
                 longer ? "more" : "fewer", st->n);
    } else {
        snprintf(s->fail_why, sizeof(s->fail_why), "%s",
                 weft_status_string(status));
    }
}

/* The first message to a peer: the descriptor (in pack), then the data;
 * as two parts of one message where the transport takes them apart, else
 * copied behind the descriptor. */
static weft_status_t
sched_send_packed(const weft_tl_ops_t *ops, sched_op_t *o,
                  const sched_step_t *st, uint64_t tag)
{
    if (WEFT_TL_HAS_OP(ops, isend_head)) {
        weft_status_t rc = ops->isend_head(o->ep, st->pack, WEFT_COLL_DESC_WIRE,
                                           st->src, st->n, tag, &o->op);

        if (rc != WEFT_INPROGRESS) {
            return rc;
        }
    }
    if (st->n > 0) {
        memcpy(st->pack + WEFT_COLL_DESC_WIRE, st->src, st->n);
    }
    return ops->isend(o->ep, st->pack, WEFT_COLL_DESC_WIRE + st->n, tag,
                      &o->op);
}

/* The first message from a peer: its descriptor into pack and the data
 * straight into dst where the transport splits it (room for exactly the
 * data), else all of it into pack (room for up to SCHED_DESC_PACK_MAX,
 * copied out once the descriptor is checked). */
static weft_status_t
sched_recv_packed(const weft_tl_ops_t *ops, sched_op_t *o, sched_step_t *st,
                  uint64_t tag)
{
    if (WEFT_TL_HAS_OP(ops, irecv_head)) {
        weft_status_t rc;

        st->split = 1; /* before: it may complete inside */
        rc = ops->irecv_head(o->ep, st->pack, WEFT_COLL_DESC_WIRE, st->dst,
                             st->n, tag, &o->op);
        if (rc != WEFT_INPROGRESS) {
            return rc;
        }
        st->split = 0;
    }
    return ops->irecv(o->ep, st->pack,
                      WEFT_COLL_DESC_WIRE + SCHED_DESC_PACK_MAX, tag, &o->op);
}

static weft_status_t
sched_post(weft__sched_t *s, int i)
{
    weft_context_t *ctx = s->comm->ctx;
    sched_step_t *st = &s->steps[i];
    sched_op_t *o = s->ops[i];
    uint64_t tag;
    weft_status_t st_;

    if (o == NULL) {
        o = s->ops[i] = calloc(1, sizeof(*o));
        if (o == NULL) {
            return weft__error(WEFT_ERR_NO_MEMORY, WEFT_SUB_COLL,
                               "out of memory posting a message");
        }
    }
    o->s = s;
    o->step = i;
    o->op.complete = sched_op_complete;
    st_ = weft__ctx_ep(ctx, weft__comm_job_rank(s->comm, st->peer), &o->tl,
                       &o->ep);
    if (st_ != WEFT_OK) {
        return st_;
    }
    tag = weft__comm_tag(s->comm, WEFT_TAG_KIND_COLL,
                         s->seq << SCHED_SUBTAG_BITS | st->subtag);
    st->state = STEP_POSTED;
    s->nposted++;
    ctx->tls[o->tl].inflight++; /* before: it may complete inside */
    if (st->kind == WEFT_STEP_SEND && st->pack != NULL) {
        weft__coll_desc_encode(&s->desc, s->desc_seq, st->pack);
        st_ = sched_send_packed(ctx->tls[o->tl].ops, o, st, tag);
    } else if (st->kind == WEFT_STEP_SEND) {
        st_ = ctx->tls[o->tl].ops->isend(o->ep, st->src, st->n, tag, &o->op);
    } else if (st->pack != NULL) {
        st_ = sched_recv_packed(ctx->tls[o->tl].ops, o, st, tag);
    } else {
        st_ = ctx->tls[o->tl].ops->irecv(o->ep, st->dst, st->n, tag, &o->op);
    }
    if (st_ < 0) {
        ctx->tls[o->tl].inflight--;
    }
    if (st_ < 0 && st->state == STEP_POSTED) {
        st->state = STEP_WAITING;
        s->nposted--;
    }
    return st_ < 0 ? st_ : WEFT_OK;
}

static void
sched_run_local(weft__sched_t *s, sched_step_t *st)
{
    switch ((weft__step_kind_t)st->kind) {
    case WEFT_STEP_REDUCE:
        weft__reduce(s->dtype, s->op, st->dst, st->src, st->n);
        break;
    case WEFT_STEP_REDUCE3:
        weft__reduce3(s->dtype, s->op, st->dst, st->src, st->src2, st->n);
        break;
    case WEFT_STEP_COPY:
        if (st->n > 0 && st->dst != st->src) {
            memmove(st->dst, st->src, st->n);
        }
        break;
    case WEFT_STEP_CONVERT:
        weft__convert(st->dst, (weft_dtype_t)st->dt_to, st->src,
                      (weft_dtype_t)st->dt_from, st->n);
        break;
    case WEFT_STEP_SCALE:
        weft__reduce_avg(s->dtype, st->dst, st->n, s->comm->size);
        break;
    default:
        break;
    }
}

/* Run a POLL step once: done, still going (posted), or failed (-1, the
 * schedule has failed). */
static int
sched_run_poll(weft__sched_t *s, int i)
{
    sched_step_t *st = &s->steps[i];
    weft_context_t *ctx = s->comm->ctx;
    char why[256] = "";
    int rc = st->poll->poll(st->dst, why, sizeof(why));

    if (rc == WEFT_SCHED_POLL_MOVED) {
        s->moved = 1;
        rc = 0;
    }
    if (rc == 0) {
        if (st->state == STEP_WAITING) {
            st->state = STEP_POSTED;
            s->npolling++;
            ctx->sched_polling++;
        }
        return 0;
    }
    if (st->state == STEP_POSTED) {
        s->npolling--;
        ctx->sched_polling--;
    }
    st->state = STEP_DONE;
    s->ndone++;
    if (rc < 0) {
        sched_fail(s, i, (weft_status_t)rc, why);
        return -1;
    }
    return 1;
}

static int
sched_ready(const weft__sched_t *s, const sched_step_t *st)
{
    /* nothing is reduced before every peer's call was checked */
    if (s->desc_recvs > 0 &&
        (st->kind == WEFT_STEP_REDUCE || st->kind == WEFT_STEP_REDUCE3)) {
        return 0;
    }
    for (int d = 0; d < st->ndeps; d++) {
        if (s->steps[st->deps[d]].state != STEP_DONE) {
            return 0;
        }
    }
    if (st->before > s->first_undone) {
        return 0;
    }
    if (st->kind == WEFT_STEP_WAIT_PART) {
        return s->parts[st->peer] != 0;
    }
    if (s->gated) {
        const char *lo = st->dst;

        /* a receive may land early where the producer is not writing */
        return st->kind == WEFT_STEP_RECV && st->n > 0 &&
               (lo + st->n <= s->gate_lo || lo >= s->gate_hi);
    }
    return 1;
}

static void
sched_finish(weft__sched_t *s)
{
    weft__sched_desc_withdraw(s, 0); /* a peer that does not check (mixed config) */
    sched_unlink(s);
    weft__req_complete(s->req, WEFT_OK, 0);
}

/* Start every ready step, in order; local steps run at once, which may
 * make later steps ready in the same pass. */
static void
sched_advance(weft__sched_t *s)
{
    int again = 1;

    if (s->desc_status != WEFT_OK) {
        sched_fail_desc(s);
        return;
    }
    if (s->failed_step >= 0) {
        sched_fail(s, s->failed_step, s->fail_status, s->fail_why);
        return;
    }
    while (again && !s->req->done) {
        again = 0;
        s->news = 0;
        for (int i = s->first_undone; i < s->nsteps && !s->req->done; i++) {
            sched_step_t *st = &s->steps[i];
            weft_status_t rc;

            if (st->after > s->first_undone) {
                break; /* fences only grow: nothing later can start */
            }
            if (st->kind == WEFT_STEP_POLL &&
                (st->state == STEP_POSTED ||
                 (st->state == STEP_WAITING && sched_ready(s, st)))) {
                if (sched_run_poll(s, i) < 0) {
                    return;
                }
                again = again || st->state == STEP_DONE;
                continue;
            }
            if (st->state != STEP_WAITING || !sched_ready(s, st)) {
                continue;
            }
            if (st->kind == WEFT_STEP_SEND || st->kind == WEFT_STEP_RECV) {
                rc = sched_post(s, i);
                if (rc != WEFT_OK) {
                    sched_fail(s, i, rc, weft_last_error());
                    return;
                }
                continue;
            }
            sched_run_local(s, st);
            st->state = STEP_DONE;
            s->ndone++;
            again = 1; /* a step before this one may wait for it */
        }
        while (s->first_undone < s->nsteps &&
               s->steps[s->first_undone].state == STEP_DONE) {
            s->first_undone++;
            again = 1;
        }
        again = again || s->news;
        if (s->desc_status != WEFT_OK) {
            sched_fail_desc(s);
            return;
        }
        if (s->failed_step >= 0) {
            sched_fail(s, s->failed_step, s->fail_status, s->fail_why);
            return;
        }
    }
    if (!s->req->done && s->ndone == s->nsteps && s->desc_sends == 0) {
        sched_finish(s);
    }
}

weft_status_t
weft__sched_start(weft__sched_t *s, const char *what, weft_request_t **req_p)
{
    weft_comm_t *comm = s->comm;
    weft_context_t *ctx = comm->ctx;
    weft_request_t *req;
    weft_status_t st;

    weft__strlcpy(s->what, what, sizeof(s->what));
    s->desc_seq = comm->coll_seq;
    s->seq = comm->coll_seq++ & SCHED_SEQ_MASK;
    /* every call of the engine on the comm, agreed or not, goes into the
     * digest its next call's descriptor carries */
    s->desc.hist = comm->coll_hist;
    s->desc.prev[0] = comm->coll_prev[0];
    s->desc.prev[1] = comm->coll_prev[1];
    comm->coll_hist = weft__coll_desc_chain(comm->coll_hist, &s->desc);
    comm->coll_prev[0] = s->desc.w[0];
    comm->coll_prev[1] = s->desc.w[1];
    if (s->nomem) {
        weft__sched_free(s);
        return weft__error(WEFT_ERR_NO_MEMORY, WEFT_SUB_COLL,
                           "%s: out of memory building the schedule", what);
    }
    s->ops = calloc((size_t)s->nsteps + 1, sizeof(*s->ops));
    st = s->ops == NULL ? WEFT_ERR_NO_MEMORY
                        : weft__req_create(comm, WEFT_REQ_COLL, &req);
    if (st != WEFT_OK) {
        weft__sched_free(s);
        return weft__error(st, WEFT_SUB_COLL, "%s: out of memory", what);
    }
    req->posted = weft__stamp();
    req->sched = s;
    s->req = req;
    s->next = ctx->scheds;
    if (ctx->scheds != NULL) {
        ctx->scheds->prev = s;
    }
    ctx->scheds = s;
    weft__log_debug(WEFT_SUB_COLL, "comm %u: %s #%u (%s), %d steps",
                    comm->id, what, s->seq, s->algo, s->nsteps);
    if (s->has_desc) {
        st = weft__sched_desc_post(s);
        if (st != WEFT_OK) {
            weft__comm_fail_here(comm, st, "%s (%s): %s", what, s->algo,
                                 weft_last_error());
            weft__sched_cancel(s, st);
            *req_p = req;
            return WEFT_OK; /* the request carries the error */
        }
    }
    sched_advance(s);
    *req_p = req;
    return WEFT_OK;
}

int
weft__sched_progress(weft_context_t *ctx)
{
    weft__sched_t *next;
    int n = 0;

    ctx->sched_news = 0;
    for (weft__sched_t *s = ctx->scheds; s != NULL; s = next) {
        next = s->next; /* s may finish and leave the list */
        if (s->news || s->npolling > 0) {
            int before = s->ndone;
            int stepped;

            s->moved = 0;
            sched_advance(s); /* s may be gone: only its counts are read */
            stepped = s->ndone != before || s->req == NULL || s->req->done;
            n += stepped || s->moved;
            ctx->sched_pieces += !stepped && s->moved;
        }
    }
    return n;
}

void
weft__sched_cancel(weft__sched_t *s, weft_status_t status)
{
    sched_withdraw(s);
    sched_unlink(s);
    if (s->req != NULL && !s->req->done) {
        weft__req_complete(s->req, status, 0);
    }
}

/* Append to buf the distinct peers of posted steps of one kind (and of
 * descriptor receives still expected): "1, 3, 6" (at most 16, then "..."). */
static void
sched_describe_peers(const weft__sched_t *s, int kind, char *buf, size_t len)
{
    size_t off = 0;
    int n = 0;

    buf[0] = '\0';
    for (int p = 0; p < s->comm->size && n <= SCHED_LIST_MAX; p++) {
        int waits = 0;

        for (int i = s->first_undone; i < s->nsteps && !waits; i++) {
            waits = s->steps[i].kind == kind &&
                    s->steps[i].state == STEP_POSTED && s->steps[i].peer == p;
        }
        for (int i = 0; i < s->ndescs && !waits; i++) {
            waits = s->descs[i].posted && s->descs[i].peer == p &&
                    s->descs[i].send == (kind == WEFT_STEP_SEND);
        }
        if (waits) {
            weft__sched_list_peer(buf, len, &off, n++, p);
        }
    }
}

void
weft__sched_describe(const weft__sched_t *s, char *buf, size_t len)
{
    char recvs[96], sends[96];

    if (weft__sched_not_arrived(s, recvs, sizeof(recvs)) > 0) {
        snprintf(buf, len,
                 "%s #%u (%s): rank%s %s had not arrived (no call "
                 "descriptor from %s; %d of %d steps done)",
                 s->what, s->desc_seq, s->algo, strchr(recvs, ',') ? "s" : "",
                 recvs, strchr(recvs, ',') ? "them" : "it", s->ndone,
                 s->nsteps);
        return;
    }

    if (s->gated) {
        snprintf(buf, len,
                 "%s #%u (%s) waits for weft_pready of this partition (%d of "
                 "%d steps done)",
                 s->what, s->desc_seq, s->algo, s->ndone, s->nsteps);
        return;
    }
    for (int i = s->first_undone; i < s->nsteps; i++) {
        const sched_step_t *st = &s->steps[i];

        if (st->kind == WEFT_STEP_POLL && st->state == STEP_POSTED) {
            char what[192];

            st->poll->describe(st->dst, what, sizeof(what));
            snprintf(buf, len, "%s #%u (%s) waits for %s (step %d of %d)",
                     s->what, s->desc_seq, s->algo, what, i + 1, s->nsteps);
            return;
        }
        if (st->kind == WEFT_STEP_WAIT_PART && st->state == STEP_WAITING) {
            snprintf(buf, len,
                     "%s #%u (%s) waits for weft_pready of partition %d "
                     "(step %d of %d)",
                     s->what, s->desc_seq, s->algo, st->peer, i + 1, s->nsteps);
            return;
        }
    }
    sched_describe_peers(s, WEFT_STEP_RECV, recvs, sizeof(recvs));
    sched_describe_peers(s, WEFT_STEP_SEND, sends, sizeof(sends));
    if (recvs[0] != '\0' || sends[0] != '\0') {
        snprintf(buf, len,
                 "%s #%u (%s) waits for rank%s %s%s%s%s%s (%d of %d steps "
                 "done)",
                 s->what, s->desc_seq, s->algo,
                 strchr(recvs[0] ? recvs : sends, ',') ? "s" : "",
                 recvs[0] ? recvs : "", recvs[0] ? " to send" : "",
                 recvs[0] && sends[0] ? " and " : "", sends,
                 sends[0] ? " to receive" : "", s->ndone, s->nsteps);
        return;
    }
    snprintf(buf, len, "%s #%u (%s): %d of %d steps done", s->what, s->desc_seq,
             s->algo, s->ndone, s->nsteps);
}

void
weft__sched_gate(weft__sched_t *s, const void *lo, size_t bytes)
{
    s->gated = 1;
    s->gate_lo = lo;
    s->gate_hi = (const char *)lo + bytes;
}

void
weft__sched_open(weft__sched_t *s)
{
    if (s->gated) {
        s->gated = 0;
        s->news = 1;
        s->comm->ctx->sched_news = 1;
    }
}

void
weft__sched_part_ready(weft__sched_t *s, size_t partition)
{
    if (partition < s->nparts && !s->parts[partition]) {
        s->parts[partition] = 1;
        s->news = 1;
        s->comm->ctx->sched_news = 1;
    }
}
