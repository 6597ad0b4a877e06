/* Requests: allocation from a per-context freelist, completion, waiting. */
#include "build_config.h"
#include "request.h"

#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "collectives/coll_part.h"
#include "collectives/sched.h"
#include "comm.h"
#include "context.h"
#include "errmsg.h"
#include "log.h"
#include "p2p/p2p.h"
#include "progress.h"
#include "req_callback.h"
#include "util.h"

weft_status_t
weft__req_create(weft_comm_t *comm, weft__req_kind_t kind,
                 weft_request_t **req_p)
{
    weft_context_t *ctx = comm->ctx;
    weft_request_t *req = ctx->req_free;

    if (req != NULL) {
        ctx->req_free = req->next;
    } else {
        req = malloc(sizeof(*req));
        if (req == NULL) {
            return weft__error(WEFT_ERR_NO_MEMORY, WEFT_SUB_CORE,
                               "out of memory for a request");
        }
    }
    memset(req, 0, sizeof(*req));
    req->magic = WEFT_REQ_MAGIC;
    req->kind = (uint8_t)kind;
    req->ctx = ctx;
    req->comm = comm;
    req->tl = -1;
    req->op.complete = weft__req_tl_complete;
    /* posted: stamped (weft__stamp) by the calls that hand the request
     * out; blocking calls skip it */
    /* link first: a transport may complete the op inside isend/irecv */
    req->next = comm->pending;
    if (comm->pending != NULL) {
        comm->pending->prev = req;
    }
    comm->pending = req;
    weft__progress_poke(ctx); /* a sleeping progress thread takes it on */
    *req_p = req;
    return WEFT_OK;
}

static void
req_unlink(weft_request_t *req)
{
    weft_comm_t *comm = req->comm;

    if (req->prev != NULL) {
        req->prev->next = req->next;
    } else if (comm->pending == req) {
        comm->pending = req->next;
    }
    if (req->next != NULL) {
        req->next->prev = req->prev;
    }
    req->next = req->prev = NULL;
}

void
weft__req_persist(weft_request_t *req)
{
    req_unlink(req);
    req->done = 1;
}

void
weft__req_complete(weft_request_t *req, weft_status_t status, size_t bytes)
{
    if (req->done) {
        return;
    }
    req->done = 1;
    req->in_tl = 0;
    req->status = status;
    req->bytes = bytes;
    req_unlink(req);
    if (req->cb_set) {
        /* its callback is where weft_request_stats can see the end (a
         * clock read is a tenth of a small message: only then) */
        req->completed_s = weft__now();
        weft__req_cb_queue(req, status);
    }
    if (req->parent != NULL) {
        weft__part_sub_done(req->parent, req);
    }
}

void
weft__req_tl_complete(weft_tl_op_t *op, weft_status_t status, size_t bytes)
{
    weft_request_t *req = weft__container_of(op, weft_request_t, op);

    req->ctx->tls[req->tl].inflight--;
    weft__req_complete(req, status, bytes);
}

void
weft__req_cancel(weft_request_t *req, weft_status_t status)
{
    if (req->done) {
        return;
    }
    if (req->kind == WEFT_REQ_COLL) {
        weft__sched_cancel(req->sched, status); /* completes req */
        return;
    }
    if (req->kind == WEFT_REQ_PART) {
        weft__part_cancel(req, status); /* completes req */
        return;
    }
    if (req->in_tl) {
        const weft_tl_ops_t *ops = req->ctx->tls[req->tl].ops;

        ops->cancel(req->ep, &req->op);
        req->ctx->tls[req->tl].inflight--;
        req->in_tl = 0;
    }
    weft__req_complete(req, status, 0);
}

void
weft__req_release(weft_request_t *req)
{
    weft_context_t *ctx = req->ctx;

    if (!req->done) {
        weft__req_cancel(req, WEFT_ERR_ABORTED);
    }
    if (req->cb_running != NULL) {
        weft__req_cb_settle(req);
    }
    if (req->kind == WEFT_REQ_COLL) {
        weft__sched_free(req->sched);
        req->sched = NULL;
    }
    if (req->kind == WEFT_REQ_PART) {
        weft__part_free(req);
    }
    req->magic = WEFT_REQ_DEAD;
    req->comm = NULL;
    req->next = ctx->req_free;
    ctx->req_free = req;
}

void
weft__req_pool_fini(weft_context_t *ctx)
{
    while (ctx->req_free != NULL) {
        weft_request_t *req = ctx->req_free;

        ctx->req_free = req->next;
        free(req);
    }
}

weft_status_t
weft__req_check(const weft_request_t *req, const char *fn)
{
    if (req == NULL) {
        return weft__error(WEFT_ERR_INVALID_ARG, WEFT_SUB_CORE,
                           "%s: request is NULL", fn);
    }
    if (req->magic != WEFT_REQ_MAGIC) {
        return weft__error(WEFT_ERR_INVALID_ARG, WEFT_SUB_CORE,
                           "%s: not a live request (already completed and "
                           "freed?)",
                           fn);
    }
    return WEFT_OK;
}

/* Seconds a collective that timed out waiting only on ranks that have
 * arrived waits longer for the report naming the one that has not. */
#define REQ_TIMEOUT_GRACE 1.0

static int
req_is_done(void *arg)
{
    return ((weft_request_t *)arg)->done;
}

/* The message for a request that failed: its comm's error when the comm
 * has one; otherwise (a point-to-point operation that failed alone, as a
 * receive from a peer that finished without sending it does) one naming
 * the operation, so weft_last_error never shows an older, unrelated
 * message. A truncated receive is reported by the caller, which knows the
 * function's name. */
void
weft__req_error_text(const weft_request_t *req)
{
    if (req->status >= 0 ||
        (req->status == WEFT_ERR_TRUNCATED && req->kind < WEFT_REQ_COLL)) {
        return;
    }
    if (req->kind == WEFT_REQ_SEND || req->kind == WEFT_REQ_RECV) {
        weft__p2p_error_text(req->comm, req->kind == WEFT_REQ_SEND, req->peer,
                             req->tag, req->status);
    } else if (req->comm->error != WEFT_OK) {
        weft__error_set("%s", req->comm->error_msg);
    } else {
        weft__error_set("comm %u: request failed: %s", req->comm->id,
                        weft_status_string(req->status));
    }
}

/* Wait until the deadline, or (timeout > 0) timeout seconds from the
 * wait's first look at the clock. */
static weft_status_t
req_wait_until(weft_request_t *req, double deadline, double timeout)
{
    weft_status_t st;

    st = weft__progress_wait_for(req->ctx, req_is_done, req, deadline, timeout);
    if (st == WEFT_ERR_TIMED_OUT && req->kind == WEFT_REQ_COLL &&
        req->sched != NULL &&
        weft__sched_not_arrived(req->sched, NULL, 0) == 0) {
        /* every peer this rank waits on has arrived, so one of them waits
         * on a rank that has not: give that rank's neighbour, which names
         * it, a moment to tell everyone first */
        double quarter = weft__comm_timeout(req->comm) / 4;
        double grace =
            quarter < REQ_TIMEOUT_GRACE ? quarter : REQ_TIMEOUT_GRACE;

        st = weft__progress_wait(req->ctx, req_is_done, req,
                                 weft__now() + grace);
    }
    if (st == WEFT_ERR_TIMED_OUT &&
        (req->kind == WEFT_REQ_COLL || req->kind == WEFT_REQ_PART)) {
        char what[200];

        if (req->kind == WEFT_REQ_PART) {
            weft__part_describe(req, what, sizeof(what));
        } else {
            weft__sched_describe(req->sched, what, sizeof(what));
        }
        weft__comm_fail_here(req->comm, WEFT_ERR_TIMED_OUT,
                             "%s, and did not complete within %g s "
                             "(%s)",
                             what, weft__comm_timeout(req->comm),
                             weft__comm_timeout_source(req->comm));
        weft__req_cancel(req, WEFT_ERR_TIMED_OUT);
    } else if (st == WEFT_ERR_TIMED_OUT) {
        weft__p2p_timed_out(req->comm, req->kind == WEFT_REQ_SEND, req->peer,
                            req->tag);
        weft__req_cancel(req, WEFT_ERR_TIMED_OUT);
    }
    weft__req_error_text(req);
    return req->status;
}

weft_status_t
weft__req_wait(weft_request_t *req)
{
    return req_wait_until(req, 0, weft__comm_timeout(req->comm));
}

/* weft_wait / weft_test / weft_waitall are done with a completed request:
 * released, or a persistent one left inactive for its next start. */
static void
req_finish(weft_request_t *req)
{
    if (req->kind == WEFT_REQ_PART) {
        if (req->cb_running != NULL) {
            weft__req_cb_settle(req); /* another thread runs its callback */
        }
        weft__part_finish(req);
    } else {
        weft__req_release(req);
    }
}

static void
req_record_error(const weft_request_t *req, const char *fn)
{
    weft__req_error_text(req);
    if (req->status == WEFT_ERR_TRUNCATED && req->kind < WEFT_REQ_COLL) {
        weft__error_at(WEFT_ERR_TRUNCATED, WEFT_LOG_DEBUG, WEFT_SUB_CORE,
                       "%s: message from rank %d (tag %d) was larger than "
                       "the %zu-byte buffer",
                       fn, req->peer, req->tag, req->bytes);
    }
}

weft_status_t
weft_wait(weft_request_t *req)
{
    weft_context_t *ctx;
    weft_status_t st;

    WEFT_CHECK(weft__req_check(req, "weft_wait"));
    ctx = req->ctx;
    weft__ctx_lock(ctx);
    st = weft__req_wait(req);
    req_record_error(req, "weft_wait");
    weft__req_cb_fire(ctx); /* its callback at the latest, req still live */
    req_finish(req);
    weft__ctx_unlock(ctx);
    return st;
}

weft_status_t
weft_waitall(size_t n, weft_request_t **reqs)
{
    weft_status_t first = WEFT_OK;
    weft_context_t *locked = NULL;
    double start = weft__now();

    if (n > 0 && reqs == NULL) {
        return weft__error(WEFT_ERR_INVALID_ARG, WEFT_SUB_CORE,
                           "weft_waitall: reqs is NULL with n = %zu", n);
    }
    for (size_t i = 0; i < n; i++) {
        if (reqs[i] != NULL) {
            WEFT_CHECK(weft__req_check(reqs[i], "weft_waitall"));
        }
    }
    /* the lock of a context is kept from one of its requests to the next
     * (taken once for the usual array of one context's requests) */
    for (size_t i = 0; i < n; i++) {
        weft_request_t *req = reqs[i];
        weft_status_t st;

        if (req == NULL) {
            continue;
        }
        if (weft__req_check(req, "weft_waitall") != WEFT_OK) {
            first = first == WEFT_OK ? WEFT_ERR_INVALID_ARG : first;
            reqs[i] = NULL;
            continue; /* listed twice: freed by the first wait */
        }
        if (req->ctx != locked) {
            if (locked != NULL) {
                weft__ctx_unlock(locked);
            }
            locked = req->ctx;
            weft__ctx_lock(locked);
        }
        if (req->done && req->status >= 0) {
            st = req->status; /* the usual case of a window: nothing to do */
        } else {
            /* one deadline per comm, counted from the call */
            st = req_wait_until(req, start + weft__comm_timeout(req->comm), 0);
            req_record_error(req, "weft_waitall");
        }
        if (locked->cb_head != NULL) {
            weft__req_cb_fire(locked);
        }
        req_finish(req);
        reqs[i] = NULL;
        if (st < 0 && first == WEFT_OK) {
            first = st;
        }
    }
    if (locked != NULL) {
        weft__ctx_unlock(locked);
    }
    return first;
}

weft_status_t
weft_test(weft_request_t *req, int *done_p)
{
    weft_context_t *ctx;
    weft_status_t st = WEFT_OK;

    WEFT_CHECK(weft__req_check(req, "weft_test"));
    WEFT_ARG_CHECK(done_p != NULL, "weft_test: done_p is NULL");
    ctx = req->ctx;
    weft__ctx_lock(ctx);
    if (!req->done) {
        weft__progress(ctx);
    }
    if (req->done) {
        st = req->status;
        req_record_error(req, "weft_test");
        weft__req_cb_fire(ctx);
        req_finish(req);
        *done_p = 1;
    } else {
        *done_p = 0;
        weft__req_cb_fire(ctx);
    }
    weft__ctx_unlock(ctx);
    return st;
}

void
weft_request_free(weft_request_t *req)
{
    weft_context_t *ctx;

    if (req == NULL || weft__req_check(req, "weft_request_free") != WEFT_OK) {
        return;
    }
    ctx = req->ctx;
    weft__ctx_lock(ctx);
    if (!req->done) {
        weft__req_cancel(req, WEFT_ERR_ABORTED); /* completes it */
    }
    weft__req_cb_fire(ctx);
    weft__req_release(req);
    weft__ctx_unlock(ctx);
}
