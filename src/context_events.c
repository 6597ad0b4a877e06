/*
 * Job events a context applies: a peer lost (from a transport, the
 * heartbeat or the store), an abort of one communicator or of the whole
 * job (over the links or from the store), and the aborts that overtake
 * this rank's own part in making a communicator (kept until it exists).
 */
#include "build_config.h"
#include "context.h"

#include <stdlib.h>
#include <string.h>

#include "comm.h"
#include "log.h"

void
weft__ctx_peer_failed(weft_context_t *ctx, int peer, weft_status_t status,
                      const char *reason)
{
    if (peer < 0 || peer >= ctx->size || ctx->peers[peer].failed != WEFT_OK) {
        return;
    }
    ctx->peers[peer].failed = status;
    if (!ctx->destroying) {
        weft__log_error(WEFT_SUB_CORE, "rank %d lost (%s): %s", peer,
                        weft_status_string(status), reason);
    }
    for (weft_comm_t *c = ctx->comms; c != NULL; c = c->next) {
        int r = weft__comm_rank_of(c, peer);

        if (r >= 0) {
            weft__comm_fail(c, status, r, "rank %d lost: %s", r, reason);
        }
    }
}

void
weft__ctx_apply_events(weft_context_t *ctx)
{
    while (ctx->events != NULL) {
        weft__ctx_event_t *ev = ctx->events;

        ctx->events = ev->next;
        if (ctx->events == NULL) {
            ctx->events_tail = &ctx->events;
        }
        weft__ctx_peer_failed(ctx, ev->peer, ev->status, ev->reason);
        free(ev);
    }
}

static void
ctx_fail_all(weft_context_t *ctx, weft_status_t status, int origin,
             const char *reason)
{
    for (weft_comm_t *c = ctx->comms; c != NULL; c = c->next) {
        weft__comm_fail(c, status,
                        origin >= 0 ? weft__comm_rank_of(c, origin) : -1, "%s",
                        reason);
    }
}

/* Ids are shared by the disjoint groups of one split: the event is for the
 * group its origin belongs to. */
static void
ctx_apply_comm_event(weft_comm_t *c, const weft__store_event_t *ev)
{
    int origin = weft__comm_rank_of(c, ev->origin);

    if (c->id != ev->comm_id || origin < 0) {
        return;
    }
    if (c->error == WEFT_OK && ev->origin != c->ctx->rank) {
        weft__log_error(WEFT_SUB_CORE, "comm %u: %s", c->id, ev->reason);
    }
    weft__comm_fail(c, ev->status, origin, "%s", ev->reason);
}

#define CTX_EARLY_MAX 64 /* aborts kept for comms still being made */

static void
ctx_keep_early(weft_context_t *ctx, const weft__store_event_t *ev)
{
    if (ctx->early == NULL) {
        ctx->early = calloc(CTX_EARLY_MAX, sizeof(*ctx->early));
        if (ctx->early == NULL) {
            return;
        }
    }
    if (ctx->nearly == CTX_EARLY_MAX) {
        weft__log_warn(WEFT_SUB_CORE,
                       "more than %d aborts of comms not made here yet; "
                       "forgetting the oldest (comm %u)",
                       CTX_EARLY_MAX, ctx->early[0].comm_id);
        memmove(ctx->early, ctx->early + 1,
                (CTX_EARLY_MAX - 1) * sizeof(*ctx->early));
        ctx->nearly--;
    }
    ctx->early[ctx->nearly++] = *ev;
}

void
weft__ctx_apply_abort(weft_context_t *ctx, const weft__store_event_t *ev)
{
    if (ev->comm_id == WEFT_STORE_ALL_COMMS) {
        if (ev->failed_rank >= 0) {
            weft__ctx_peer_failed(ctx, ev->failed_rank, ev->status, ev->reason);
        } else {
            weft__log_error(WEFT_SUB_CORE, "job aborted: %s", ev->reason);
            ctx_fail_all(ctx, ev->status, ev->origin, ev->reason);
        }
        return;
    }
    for (weft_comm_t *c = ctx->comms; c != NULL; c = c->next) {
        ctx_apply_comm_event(c, ev);
    }
    /* the abort can overtake this rank's own part in making the comm: keep
     * it until the comm exists or its id can no longer be made here */
    if (ev->comm_id >= ctx->next_comm_id) {
        ctx_keep_early(ctx, ev);
    }
}

void
weft__ctx_comm_made(weft_context_t *ctx, weft_comm_t *comm)
{
    int kept = 0;

    for (int i = 0; i < ctx->nearly; i++) {
        ctx_apply_comm_event(comm, &ctx->early[i]);
        if (ctx->early[i].comm_id >= ctx->next_comm_id) {
            ctx->early[kept++] = ctx->early[i];
        }
    }
    ctx->nearly = kept;
}

void
weft__ctx_poll_store(weft_context_t *ctx)
{
    weft__store_event_t ev;
    weft_status_t st;

    if (ctx->store == NULL || ctx->store_lost) {
        return;
    }
    for (;;) {
        st = ctx->store->ops->poll_event(ctx->store, &ev);
        if (st == WEFT_INPROGRESS) {
            return;
        }
        if (st != WEFT_OK) {
            char reason[640];

            ctx->store_lost = 1;
            if (!ctx->destroying) {
                /* why the store is lost: gone, or out of reach */
                snprintf(reason, sizeof(reason),
                         "the bootstrap store (the launcher, or rank 0) is "
                         "gone or out of reach (%s)",
                         weft_last_error());
                weft__log_error(WEFT_SUB_CORE, "%s; failing every communicator",
                                reason);
                ctx_fail_all(ctx, WEFT_ERR_PEER_LOST, -1, reason);
            }
            return;
        }
        weft__ctx_apply_abort(ctx, &ev);
    }
}
