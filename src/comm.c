/*
 * Communicators: world, split, dup, destroy, abort, and the sticky error
 * (fail-stop per communicator).
 */
#include "build_config.h"
#include "comm.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collectives/shm_area.h"
#include "context.h"
#include "errmsg.h"
#include "log.h"
#include "p2p/p2p.h"
#include "progress.h"
#include "util.h"

/* Destroyed comms kept (marked dead) so a later use is reported instead
 * of reading freed memory. */
#define COMM_GRAVEYARD_MAX 64

int
weft__comm_rank_of(const weft_comm_t *comm, int job_rank)
{
    if (comm->ranks == NULL) {
        return job_rank < comm->size ? job_rank : -1;
    }
    for (int i = 0; i < comm->size; i++) {
        if (comm->ranks[i] == job_rank) {
            return i;
        }
    }
    return -1;
}

weft_status_t
weft__comm_check_fail(const weft_comm_t *comm, const char *fn)
{
    if (comm == NULL) {
        return weft__error(WEFT_ERR_INVALID_ARG, WEFT_SUB_CORE,
                           "%s: comm is NULL", fn);
    }
    if (comm->magic == WEFT_COMM_DEAD) {
        return weft__error(WEFT_ERR_INVALID_ARG, WEFT_SUB_CORE,
                           "%s: comm was destroyed", fn);
    }
    if (comm->magic != WEFT_COMM_MAGIC) {
        return weft__error(WEFT_ERR_INVALID_ARG, WEFT_SUB_CORE,
                           "%s: comm is not a communicator", fn);
    }
    return WEFT_OK; /* not reached: weft__comm_check lets good ones by */
}

weft_status_t
weft__comm_error_return(const weft_comm_t *comm, const char *fn)
{
    weft__error_set("%s: %s", fn, comm->error_msg);
    return comm->error;
}

static weft_comm_t *
comm_alloc(weft_context_t *ctx, uint32_t id, int rank, int size, int *ranks)
{
    weft_comm_t *comm = calloc(1, sizeof(*comm));

    if (comm == NULL) {
        return NULL;
    }
    comm->magic = WEFT_COMM_MAGIC;
    comm->id = id;
    comm->ctx = ctx;
    comm->rank = rank;
    comm->size = size;
    comm->ranks = ranks;
    comm->error_origin = -1;
    /* append to the context's list */
    comm->next = NULL;
    if (ctx->comms == NULL) {
        ctx->comms = comm;
    } else {
        weft_comm_t *last = ctx->comms;

        while (last->next != NULL) {
            last = last->next;
        }
        last->next = comm;
        comm->prev = last;
    }
    return comm;
}

static weft_status_t comm_exchange(weft_comm_t *parent, const void *mine,
                                   size_t size, void *all);
static weft_status_t comm_split_locked(weft_comm_t *parent, int color,
                                       int key, weft_comm_t **newcomm_p);

/* A comm over several nodes, some with several of its ranks: make its
 * node comm and (on the lowest rank of each node) its leaders comm. The
 * node identities are the same table on every rank, so every rank sees
 * the same nodes in the same order (that of their lowest ranks). */
static weft_status_t
comm_hier_build(weft_comm_t *comm)
{
    weft_context_t *ctx = comm->ctx;
    int *node_of = malloc((size_t)comm->size * sizeof(int));
    int *lowest = malloc((size_t)comm->size * sizeof(int));
    int nnodes = 0;
    weft_status_t st = WEFT_OK;

    if (node_of == NULL || lowest == NULL) {
        free(node_of);
        free(lowest);
        return weft__error(WEFT_ERR_NO_MEMORY, WEFT_SUB_CORE,
                           "out of memory for comm %u's nodes", comm->id);
    }
    for (int r = 0; r < comm->size; r++) {
        const char *id = ctx->peers[weft__comm_job_rank(comm, r)].topo.node_id;
        int k = 0;

        while (k < nnodes &&
               strcmp(ctx->peers[weft__comm_job_rank(comm, lowest[k])]
                          .topo.node_id,
                      id) != 0) {
            k++;
        }
        if (k == nnodes) {
            lowest[nnodes++] = r;
        }
        node_of[r] = k;
    }
    if (nnodes > 1 && nnodes < comm->size) {
        comm->nnodes = nnodes;
        comm->node_index = node_of[comm->rank];
        st = comm_split_locked(comm, node_of[comm->rank], comm->rank,
                               &comm->node);
        if (st == WEFT_OK) {
            st = comm_split_locked(
                comm, lowest[node_of[comm->rank]] == comm->rank ? 0 : -1,
                comm->rank, &comm->leaders);
        }
        if (st == WEFT_OK) {
            comm->node->internal = 1;
            if (comm->leaders != NULL) {
                comm->leaders->internal = 1;
            }
            comm->hier = 1;
            weft__log_debug(WEFT_SUB_COLL,
                            "comm %u: %d nodes; node comm %u%s", comm->id,
                            nnodes, comm->node->id,
                            comm->leaders != NULL ? ", a leader" : "");
        }
    }
    free(node_of);
    free(lowest);
    return st;
}

weft_status_t
weft__comm_create_world(weft_context_t *ctx, weft_comm_t **comm_p)
{
    weft_status_t st;

    weft_comm_t *comm = comm_alloc(ctx, 0, ctx->rank, ctx->size, NULL);

    if (comm == NULL) {
        return weft__error(WEFT_ERR_NO_MEMORY, WEFT_SUB_CORE,
                           "out of memory for the world communicator");
    }
    comm->is_world = 1;
    ctx->next_comm_id = 1;
    *comm_p = comm;
    if (ctx->size >= 2 && ctx->local_size < ctx->size) {
        return comm_hier_build(comm);
    }
    if (ctx->size >= 2 && ctx->local_size == ctx->size) {
        /* one node: the world gets a shared area if every rank can */
        weft__shm_offer_t mine, *all = calloc((size_t)ctx->size, sizeof(*all));

        if (all == NULL) {
            return weft__error(WEFT_ERR_NO_MEMORY, WEFT_SUB_CORE,
                               "out of memory for %d offers", ctx->size);
        }
        weft__shm_area_offer(comm, ctx->local_ranks, ctx->local_size, &mine);
        st = comm_exchange(comm, &mine, sizeof(mine), all);
        if (st == WEFT_OK) {
            st = weft__shm_area_agree(comm, &mine, all);
        } else {
            weft__shm_area_withdraw(comm, &mine);
        }
        free(all);
        return st;
    }
    return WEFT_OK;
}

static void
comm_fail_v(weft_comm_t *comm, weft_status_t status, int origin,
            const char *fmt, va_list ap)
{
    comm->error = status;
    comm->error_origin = origin;
    vsnprintf(comm->error_msg, sizeof(comm->error_msg), fmt, ap);
    weft__log_debug(WEFT_SUB_CORE, "comm %u failed (%s): %s", comm->id,
                    weft_status_string(status), comm->error_msg);
    while (comm->pending != NULL) {
        weft__req_cancel(comm->pending, status);
    }
    /* the node-aware algorithms' sub-comms go with it */
    if (comm->node != NULL) {
        weft__comm_fail(comm->node, status, -1, "%s", comm->error_msg);
    }
    if (comm->leaders != NULL) {
        weft__comm_fail(comm->leaders, status, -1, "%s", comm->error_msg);
    }
}

/* WEFT_ABORT_ON_ERROR: after the error is recorded and told. */
static void
comm_abort_process(const weft_comm_t *comm)
{
    if (comm->ctx->cfg.abort_on_error && !comm->ctx->destroying) {
        weft__log_error(WEFT_SUB_CORE,
                        "comm %u failed (%s): %s; aborting the process "
                        "(WEFT_ABORT_ON_ERROR=1)",
                        comm->id, weft_status_string(comm->error),
                        comm->error_msg);
        abort();
    }
}

void
weft__comm_fail(weft_comm_t *comm, weft_status_t status, int origin,
                const char *fmt, ...)
{
    va_list ap;

    if (comm->error != WEFT_OK) {
        return; /* the first error stays */
    }
    va_start(ap, fmt);
    comm_fail_v(comm, status, origin, fmt, ap);
    va_end(ap);
    /* heard from elsewhere: passed on once over this rank's links, so
     * members with no link to the origin hear it too */
    weft__ctrl_flood(comm, comm->error_msg);
    comm_abort_process(comm);
}

/* Tell every member through the bootstrap store (they apply it as they
 * apply an abort: origin rank, status and reason). */
static void
comm_flood_store(weft_comm_t *comm, const char *reason)
{
    weft_context_t *ctx = comm->ctx;
    weft__store_event_t ev;

    if (ctx->store == NULL || ctx->store_lost || ctx->destroying ||
        comm->size == 1 || !(ctx->cfg.flood & WEFT_FLOOD_STORE)) {
        return;
    }
    memset(&ev, 0, sizeof(ev));
    ev.kind = WEFT_STORE_EVENT_ABORT;
    ev.origin = ctx->rank;
    ev.failed_rank = -1;
    ev.comm_id = comm->id;
    ev.status = comm->error;
    weft__strlcpy(ev.reason, reason, sizeof(ev.reason));
    if (ctx->store->ops->abort(ctx->store, &ev) != WEFT_OK) {
        weft__log_warn(WEFT_SUB_CORE,
                       "comm %u: could not tell the other ranks about its "
                       "error through the bootstrap store",
                       comm->id);
    }
}

/* The error found here: recorded, told over the links and through the
 * store (name_us: the reason they get is prefixed with this rank, for
 * messages that do not say it), then WEFT_ABORT_ON_ERROR. */
static void
comm_fail_here_v(weft_comm_t *comm, weft_status_t status, int name_us,
                 const char *fmt, va_list ap)
{
    char reason[WEFT_STORE_REASON_MAX];
    int n = 0;

    if (comm->error != WEFT_OK) {
        return;
    }
    comm_fail_v(comm, status, comm->rank, fmt, ap);
    if (name_us) {
        n = snprintf(reason, sizeof(reason), "rank %d of comm %u: ", comm->rank,
                     comm->id);
    }
    weft__strlcpy(reason + n, comm->error_msg, sizeof(reason) - (size_t)n);
    weft__ctrl_flood(comm, reason);
    comm_flood_store(comm, reason);
    comm_abort_process(comm);
}

void
weft__comm_fail_here(weft_comm_t *comm, weft_status_t status, const char *fmt,
                     ...)
{
    va_list ap;

    va_start(ap, fmt);
    comm_fail_here_v(comm, status, 1, fmt, ap);
    va_end(ap);
}

/* weft_comm_abort's message names its rank already. */
static void
comm_abort_here(weft_comm_t *comm, weft_status_t status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
comm_abort_here(weft_comm_t *comm, weft_status_t status, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    comm_fail_here_v(comm, status, 0, fmt, ap);
    va_end(ap);
}

static void
comm_unlink(weft_comm_t *comm)
{
    weft_context_t *ctx = comm->ctx;

    if (comm->prev != NULL) {
        comm->prev->next = comm->next;
    } else {
        ctx->comms = comm->next;
    }
    if (comm->next != NULL) {
        comm->next->prev = comm->prev;
    }
    comm->next = comm->prev = NULL;
}

void
weft__comm_free(weft_comm_t *comm)
{
    weft_context_t *ctx = comm->ctx;

    while (comm->pending != NULL) {
        weft__req_cancel(comm->pending, WEFT_ERR_ABORTED);
    }
    if (comm->node != NULL) {
        weft__comm_free(comm->node);
        comm->node = NULL;
    }
    if (comm->leaders != NULL) {
        weft__comm_free(comm->leaders);
        comm->leaders = NULL;
    }
    comm_unlink(comm);
    weft__shm_area_free(comm);
    free(comm->ranks);
    comm->ranks = NULL;
    comm->magic = WEFT_COMM_DEAD;
    if (ctx->destroying) {
        free(comm);
        return;
    }
    /* keep the husk a while: a use after destroy is then reported */
    comm->next = ctx->graveyard;
    ctx->graveyard = comm;
    if (++ctx->ngraveyard > COMM_GRAVEYARD_MAX) {
        weft_comm_t *c = ctx->graveyard;

        while (c->next->next != NULL) {
            c = c->next;
        }
        free(c->next);
        c->next = NULL;
        ctx->ngraveyard--;
    }
}

/* ---- split and dup --------------------------------------------------- */

typedef struct comm_split_entry {
    int32_t color;
    int32_t key;
    uint32_t next_id;
    weft__shm_offer_t shm; /* a slot for the new comm's shared area */
} comm_split_entry_t;

/* Everyone's fixed-size entry at everyone, through parent rank 0. */
static weft_status_t
comm_exchange(weft_comm_t *parent, const void *mine, size_t size, void *all)
{
    uint32_t seq = parent->mgmt_seq++;
    uint32_t tag_up = seq * 2, tag_down = seq * 2 + 1;
    size_t table = (size_t)parent->size * size;
    weft_request_t *req;
    weft_status_t st;

    if (parent->rank != 0) {
        WEFT_CHECK(weft__p2p_start(parent, WEFT_REQ_SEND, (void *)mine, size,
                                   0, WEFT_TAG_KIND_MGMT, tag_up, &req));
        st = weft__req_wait(req);
        weft__req_release(req);
        WEFT_CHECK(st);
        WEFT_CHECK(weft__p2p_start(parent, WEFT_REQ_RECV, all, table, 0,
                                   WEFT_TAG_KIND_MGMT, tag_down, &req));
        st = weft__req_wait(req);
        weft__req_release(req);
        return st;
    }
    memcpy(all, mine, size);
    for (int r = 1; r < parent->size; r++) {
        WEFT_CHECK(weft__p2p_start(parent, WEFT_REQ_RECV,
                                   (char *)all + (size_t)r * size, size, r,
                                   WEFT_TAG_KIND_MGMT, tag_up, &req));
        st = weft__req_wait(req);
        weft__req_release(req);
        WEFT_CHECK(st);
    }
    for (int r = 1; r < parent->size; r++) {
        WEFT_CHECK(weft__p2p_start(parent, WEFT_REQ_SEND, all, table, r,
                                   WEFT_TAG_KIND_MGMT, tag_down, &req));
        st = weft__req_wait(req);
        weft__req_release(req);
        WEFT_CHECK(st);
    }
    return WEFT_OK;
}

typedef struct comm_member {
    int32_t key;
    int parent_rank;
} comm_member_t;

static int
comm_member_cmp(const void *a, const void *b)
{
    const comm_member_t *x = a, *y = b;

    if (x->key != y->key) {
        return x->key < y->key ? -1 : 1;
    }
    return x->parent_rank - y->parent_rank;
}

static weft_status_t
comm_split_locked(weft_comm_t *parent, int color, int key,
                  weft_comm_t **newcomm_p)
{
    weft_context_t *ctx = parent->ctx;
    comm_split_entry_t mine = {color, key, ctx->next_comm_id, {-1, 0}};
    comm_split_entry_t *all;
    weft__shm_offer_t *offers = NULL;
    comm_member_t *members = NULL;
    int *ranks = NULL;
    int n = 0, my_rank = -1;
    uint32_t id = 0;
    weft_status_t st;

    if (parent->error != WEFT_OK) {
        return weft__comm_error_return(parent, "weft_comm_split");
    }
    all = calloc((size_t)parent->size, sizeof(*all));
    if (all == NULL) {
        return weft__error(WEFT_ERR_NO_MEMORY, WEFT_SUB_CORE,
                           "weft_comm_split: out of memory for %d ranks",
                           parent->size);
    }
    if (color >= 0) {
        weft__shm_area_offer(parent, NULL, 0, &mine.shm);
    }
    st = comm_exchange(parent, &mine, sizeof(mine), all);
    if (st != WEFT_OK) {
        goto out;
    }
    for (int r = 0; r < parent->size; r++) {
        id = all[r].next_id > id ? all[r].next_id : id;
    }
    if (id > WEFT_COMM_ID_MAX) {
        st = weft__error(WEFT_ERR_NO_MEMORY, WEFT_SUB_CORE,
                         "weft_comm_split: out of communicator ids");
        goto out;
    }
    ctx->next_comm_id = id + 1;
    if (color < 0) {
        *newcomm_p = NULL;
        goto out;
    }
    members = calloc((size_t)parent->size, sizeof(*members));
    if (members == NULL) {
        st = WEFT_ERR_NO_MEMORY;
        goto out;
    }
    for (int r = 0; r < parent->size; r++) {
        if (all[r].color == color) {
            members[n].key = all[r].key;
            members[n].parent_rank = r;
            n++;
        }
    }
    qsort(members, (size_t)n, sizeof(*members), comm_member_cmp);
    ranks = malloc((size_t)n * sizeof(*ranks));
    offers = malloc((size_t)n * sizeof(*offers));
    if (ranks == NULL || offers == NULL) {
        free(ranks);
        ranks = NULL;
        st = WEFT_ERR_NO_MEMORY;
        goto out;
    }
    for (int i = 0; i < n; i++) {
        offers[i] = all[members[i].parent_rank].shm;
        ranks[i] = weft__comm_job_rank(parent, members[i].parent_rank);
        if (members[i].parent_rank == parent->rank) {
            my_rank = i;
        }
    }
    *newcomm_p = comm_alloc(ctx, id, my_rank, n, ranks);
    if (*newcomm_p == NULL) {
        free(ranks);
        st = WEFT_ERR_NO_MEMORY;
        goto out;
    }
    (*newcomm_p)->timeout = parent->timeout;
    weft__log_debug(WEFT_SUB_CORE,
                    "comm %u: rank %d of %d (split of comm %u, color %d)", id,
                    my_rank, n, parent->id, color);
    mine.shm.slot = -1; /* the area owns it now, or has given it back */
    st = weft__shm_area_agree(*newcomm_p, &all[parent->rank].shm, offers);
    if (st == WEFT_OK) {
        st = comm_hier_build(*newcomm_p);
    }
    if (st != WEFT_OK) {
        weft__comm_free(*newcomm_p);
        *newcomm_p = NULL;
        goto out;
    }
    weft__ctx_comm_made(ctx, *newcomm_p);
out:
    if (mine.shm.slot >= 0) {
        weft__shm_area_withdraw(parent, &mine.shm);
    }
    free(offers);
    if (st == WEFT_ERR_NO_MEMORY) {
        weft__error_set("weft_comm_split: out of memory");
    }
    free(members);
    free(all);
    return st;
}

weft_status_t
weft_comm_world(weft_context_t *ctx, weft_comm_t **comm_p)
{
    WEFT_CHECK(weft__ctx_check(ctx, "weft_comm_world"));
    WEFT_ARG_CHECK(comm_p != NULL, "weft_comm_world: comm_p is NULL");
    *comm_p = ctx->world;
    return WEFT_OK;
}

weft_status_t
weft_comm_split(weft_comm_t *comm, int color, int key, weft_comm_t **newcomm_p)
{
    weft_status_t st;

    WEFT_CHECK(weft__comm_check(comm, "weft_comm_split"));
    WEFT_ARG_CHECK(newcomm_p != NULL, "weft_comm_split: newcomm_p is NULL");
    weft__ctx_lock(comm->ctx);
    st = comm_split_locked(comm, color < 0 ? -1 : color, key, newcomm_p);
    weft__ctx_unlock(comm->ctx);
    return st;
}

weft_status_t
weft_comm_dup(weft_comm_t *comm, weft_comm_t **newcomm_p)
{
    weft_status_t st;

    WEFT_CHECK(weft__comm_check(comm, "weft_comm_dup"));
    WEFT_ARG_CHECK(newcomm_p != NULL, "weft_comm_dup: newcomm_p is NULL");
    weft__ctx_lock(comm->ctx);
    st = comm_split_locked(comm, 0, comm->rank, newcomm_p);
    weft__ctx_unlock(comm->ctx);
    return st;
}

weft_status_t
weft_comm_destroy(weft_comm_t *comm)
{
    weft_context_t *ctx;
    int pending = 0;

    WEFT_CHECK(weft__comm_check(comm, "weft_comm_destroy"));
    WEFT_ARG_CHECK(!comm->is_world,
                   "weft_comm_destroy: the world communicator belongs to "
                   "the context (weft_context_destroy frees it)");
    ctx = comm->ctx;
    weft__ctx_lock(ctx);
    pending = comm->nblocking; /* another thread's weft_send/weft_recv */
    for (weft_request_t *r = comm->pending; r != NULL; r = r->next) {
        pending++;
    }
    if (pending == 0 && comm->npersistent > 0) {
        weft__ctx_unlock(ctx);
        return weft__error(WEFT_ERR_INVALID_ARG, WEFT_SUB_CORE,
                           "weft_comm_destroy: %d partitioned requests on "
                           "comm %u are not freed (weft_request_free them "
                           "first)",
                           comm->npersistent, comm->id);
    }
    if (pending > 0) {
        weft__ctx_unlock(ctx);
        return weft__error(WEFT_ERR_INVALID_ARG, WEFT_SUB_CORE,
                           "weft_comm_destroy: %d requests on comm %u are "
                           "still pending (wait for or free them first)",
                           pending, comm->id);
    }
    weft__comm_free(comm);
    weft__ctx_unlock(ctx);
    return WEFT_OK;
}

weft_status_t
weft_comm_abort(weft_comm_t *comm, weft_status_t reason)
{
    weft_context_t *ctx;

    WEFT_CHECK(weft__comm_check(comm, "weft_comm_abort"));
    WEFT_ARG_CHECK(reason < 0 && reason > WEFT_ERR_LAST,
                   "weft_comm_abort: reason %d is not an error status",
                   (int)reason);
    ctx = comm->ctx;
    weft__ctx_lock(ctx);
    comm_abort_here(comm, reason,
                    "aborted by rank %d of comm %u (weft_comm_abort: %s)",
                    comm->rank, comm->id, weft_status_string(reason));
    weft__ctx_unlock(ctx);
    weft__progress_wake(ctx);
    return WEFT_OK;
}

double
weft__comm_timeout(const weft_comm_t *comm)
{
    return comm->timeout > 0 ? comm->timeout : comm->ctx->cfg.timeout;
}

const char *
weft__comm_timeout_source(const weft_comm_t *comm)
{
    return comm->timeout > 0 ? "weft_comm_set_timeout" : "WEFT_TIMEOUT";
}

static void
comm_set_timeout(weft_comm_t *comm, double timeout_s)
{
    comm->timeout = timeout_s;
    if (comm->node != NULL) {
        comm_set_timeout(comm->node, timeout_s);
    }
    if (comm->leaders != NULL) {
        comm_set_timeout(comm->leaders, timeout_s);
    }
}

weft_status_t
weft_comm_set_timeout(weft_comm_t *comm, double timeout_s)
{
    WEFT_CHECK(weft__comm_check(comm, "weft_comm_set_timeout"));
    WEFT_ARG_CHECK(isfinite(timeout_s) && timeout_s >= 0 &&
                       timeout_s <= WEFT_COMM_TIMEOUT_MAX,
                   "weft_comm_set_timeout: %g s is not a deadline (0 for "
                   "the context's WEFT_TIMEOUT, else up to %g s)",
                   timeout_s, WEFT_COMM_TIMEOUT_MAX);
    WEFT_ARG_CHECK(timeout_s == 0 || timeout_s >= 1e-3,
                   "weft_comm_set_timeout: %g s is below the 1 ms the "
                   "clock can keep",
                   timeout_s);
    weft__ctx_lock(comm->ctx);
    comm_set_timeout(comm, timeout_s);
    weft__ctx_unlock(comm->ctx);
    return WEFT_OK;
}

int
weft_comm_rank(const weft_comm_t *comm)
{
    return comm != NULL && comm->magic == WEFT_COMM_MAGIC ? comm->rank : -1;
}

int
weft_comm_size(const weft_comm_t *comm)
{
    return comm != NULL && comm->magic == WEFT_COMM_MAGIC ? comm->size : -1;
}

weft_context_t *
weft_comm_context(const weft_comm_t *comm)
{
    return comm != NULL && comm->magic == WEFT_COMM_MAGIC ? comm->ctx : NULL;
}

weft_status_t
weft_comm_error(const weft_comm_t *comm, int *origin_rank_p,
                const char **message_p)
{
    weft_status_t st = weft__comm_check(comm, "weft_comm_error");

    if (st != WEFT_OK) {
        if (origin_rank_p != NULL) {
            *origin_rank_p = -1;
        }
        if (message_p != NULL) {
            *message_p = "";
        }
        return st;
    }
    weft__ctx_lock(comm->ctx);
    if (origin_rank_p != NULL) {
        *origin_rank_p = comm->error == WEFT_OK ? -1 : comm->error_origin;
    }
    if (message_p != NULL) {
        *message_p = comm->error == WEFT_OK ? "" : comm->error_msg;
    }
    st = comm->error;
    weft__ctx_unlock(comm->ctx);
    return st;
}
