/* Completion callbacks of requests (see req_callback.h). */
#include "build_config.h"
#include "req_callback.h"

#include <stdlib.h>

#include "clock.h"
#include "context.h"
#include "errmsg.h"
#include "request.h"

static void
req_cb_append(weft_context_t *ctx, weft__req_cb_t *cb)
{
    cb->next = NULL;
    *ctx->cb_tail = cb;
    ctx->cb_tail = &cb->next;
}

void
weft__req_cb_queue(weft_request_t *req, weft_status_t status)
{
    weft__req_cb_t *cb = req->cb;

    if (cb == NULL) {
        return;
    }
    req->cb = NULL;
    cb->status = status;
    cb->req = req;
    req_cb_append(req->ctx, cb);
}

void
weft__req_cb_fire(weft_context_t *ctx)
{
    while (ctx->cb_head != NULL) {
        weft__req_cb_t *cb = ctx->cb_head;

        ctx->cb_head = cb->next;
        if (ctx->cb_head == NULL) {
            ctx->cb_tail = &ctx->cb_head;
        }
        if (cb->req != NULL) {
            cb->req->cb_running = cb;
            cb->req->cb_thread = pthread_self();
        }
        weft__ctx_unlock(ctx);
        cb->fn(cb->arg, cb->status);
        weft__ctx_lock(ctx);
        if (cb->req != NULL) {
            cb->req->cb_running = NULL;
            if (ctx->cb_waiters > 0) {
                pthread_cond_broadcast(&ctx->cb_cond);
            }
        }
        free(cb);
    }
}

void
weft__req_cb_settle(weft_request_t *req)
{
    weft_context_t *ctx = req->ctx;

    /* (under WEFT_THREADS=serialized no other thread is inside) */
    while (ctx->locking && req->cb_running != NULL &&
           !pthread_equal(req->cb_thread, pthread_self())) {
        ctx->cb_waiters++;
        pthread_cond_wait(&ctx->cb_cond, &ctx->lock);
        ctx->cb_waiters--;
    }
    if (req->cb_running != NULL) {
        req->cb_running->req = NULL; /* its own callback finished it */
        req->cb_running = NULL;
    }
}

weft_status_t
weft_request_on_complete(weft_request_t *req, weft_complete_fn_t fn, void *arg)
{
    weft_context_t *ctx;
    weft__req_cb_t *cb;
    weft_status_t st = WEFT_OK;

    WEFT_CHECK(weft__req_check(req, "weft_request_on_complete"));
    WEFT_ARG_CHECK(fn != NULL, "weft_request_on_complete: fn is NULL");
    ctx = req->ctx;
    cb = calloc(1, sizeof(*cb));
    if (cb == NULL) {
        return weft__error(WEFT_ERR_NO_MEMORY, WEFT_SUB_CORE,
                           "weft_request_on_complete: out of memory");
    }
    cb->fn = fn;
    cb->arg = arg;
    weft__ctx_lock(ctx);
    if (req->cb != NULL || req->cb_set) {
        st = weft__error(WEFT_ERR_INVALID_ARG, WEFT_SUB_CORE,
                         "weft_request_on_complete: the request has a "
                         "completion callback already (one per request)");
        free(cb);
    } else if (req->done) {
        /* complete already: it fires at the next progress point (for
         * weft_request_stats, the completion is known from now on) */
        req->cb_set = 1;
        req->completed_s = weft__now();
        cb->status = req->status;
        cb->req = req;
        req_cb_append(ctx, cb);
    } else {
        req->cb_set = 1;
        req->cb = cb;
    }
    weft__ctx_unlock(ctx);
    return st;
}
