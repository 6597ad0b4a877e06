/* The context: configuration, transports, peers, progress, bootstrap. */
#ifndef WEFT_CONTEXT_INTERNAL_H
#define WEFT_CONTEXT_INTERNAL_H

#include <pthread.h>
#include <stdint.h>
#include <weft/comm.h>
#include <weft/context.h>
#include <weft/request.h>
#include <weft/transport.h>

#include "bootstrap/server.h"
#include "bootstrap/store.h"
#include "heartbeat.h"
#include "collectives/scratch.h"
#include "config.h"
#include "ctrl.h"
#include "progress.h"
#include "topo.h"

#define WEFT_CTX_MAGIC 0x43747857u
#define WEFT_CTX_MAX_TLS 8

typedef struct weft__ctx_tl {
    const weft_tl_ops_t *ops;
    weft_tl_t *tl;
    int inflight; /* ops posted and not yet complete or withdrawn: while
                     0, progress polls it only every few rounds */
    int routed;   /* peers reached through it: with none, it is polled
                     more rarely still (only strays knock on it) */
    uint64_t hints; /* WEFT_TL_HINT_* (ops->hints) */
} weft__ctx_tl_t;

typedef struct weft__peer {
    int tl;                 /* index in ctx->tls chosen for this peer */
    weft_tl_ep_t *ep;       /* created on first use */
    weft_status_t failed;   /* WEFT_OK, or why the peer is gone */
    weft__topo_rec_t topo;
} weft__peer_t;

/* A peer failure reported by a transport, applied after its progress. */
typedef struct weft__ctx_event {
    int peer;
    weft_status_t status;
    char reason[256];
    struct weft__ctx_event *next;
} weft__ctx_event_t;

struct weft_context {
    uint32_t magic;
    pthread_mutex_t lock; /* taken only while locking */
    int locking;          /* 0 under WEFT_THREADS=serialized */
    weft_config_t cfg;
    int rank;
    int size;
    int local_rank;
    int local_size;
    int *local_ranks;               /* [local_size] job ranks on this node */
    weft__topo_rec_t topo;          /* this rank */
    weft__peer_t *peers;            /* [size] */
    void *records;                  /* [size] start-up records (context.c) */
    weft__ctx_tl_t tls[WEFT_CTX_MAX_TLS];
    int ntls;
    int self_tl;                    /* index of self in tls */
    weft__store_t *store;
    int store_lost;
    weft__boot_server_t *server;    /* rank 0 serving the store, or NULL */
    weft__heartbeat_t heartbeat;    /* tells the store we are alive */
    weft__progress_t progress;
    weft_comm_t *world;
    weft_comm_t *comms;             /* every live comm, world first */
    weft_comm_t *graveyard;         /* recently destroyed comms, kept so
                                       use after destroy is caught */
    int ngraveyard;
    uint32_t next_comm_id;          /* lowest id this rank never used */
    weft_request_t *req_free;       /* freelist */
    struct weft__sched *scheds;     /* collectives running */
    weft__scratch_cache_t scratch;  /* schedules' buffers, kept */
    int sched_news;                 /* one of them has something to do */
    int sched_polling;              /* POLL steps running: advance always */
    int sched_pieces; /* of the last round's movement, schedules that only
                       * did a bounded piece of work (WEFT_SCHED_POLL_MOVED) */
    weft__ctrl_t ctrl;              /* control messages on the links */
    struct weft__req_cb *cb_head;   /* completion callbacks to fire */
    struct weft__req_cb **cb_tail;
    pthread_cond_t cb_cond;         /* a callback another thread runs ended */
    int cb_waiters;                 /* threads waiting for that */
    weft__ctx_event_t *events;      /* deferred peer failures, in order */
    weft__ctx_event_t **events_tail;
    weft__store_event_t *early;     /* aborts of comms not made here yet */
    int nearly;
    int destroying;
    char cfg_buf[256];              /* config_get answers */
};

/* The context's lock around a call. Under WEFT_THREADS=serialized the
 * caller orders its calls and no thread of weft's calls in (no progress
 * thread, no CUDA proxy), so there is nothing to lock: an uncontended
 * lock and unlock are two atomic operations on every call's path. */
static inline void
weft__ctx_lock(weft_context_t *ctx)
{
    if (ctx->locking) {
        pthread_mutex_lock(&ctx->lock);
    }
}

static inline void
weft__ctx_unlock(weft_context_t *ctx)
{
    if (ctx->locking) {
        pthread_mutex_unlock(&ctx->lock);
    }
}

/* The endpoint to a job rank, created on first use. Lock held. */
weft_status_t weft__ctx_ep_slow(weft_context_t *ctx, int job_rank, int *tl_p,
                                weft_tl_ep_t **ep_p);
/* Every message looks its endpoint up: the usual case inline. */
static inline weft_status_t
weft__ctx_ep(weft_context_t *ctx, int job_rank, int *tl_p, weft_tl_ep_t **ep_p)
{
    const weft__peer_t *p = &ctx->peers[job_rank];

    if (p->failed != WEFT_OK || p->ep == NULL) {
        return weft__ctx_ep_slow(ctx, job_rank, tl_p, ep_p);
    }
    *tl_p = p->tl;
    *ep_p = p->ep;
    return WEFT_OK;
}

/* Apply a peer failure or store event to every affected comm. */
void weft__ctx_peer_failed(weft_context_t *ctx, int peer,
                           weft_status_t status, const char *reason);
void weft__ctx_apply_events(weft_context_t *ctx);
void weft__ctx_poll_store(weft_context_t *ctx);
/* Apply an abort event (from the store or a link): fails the comm it
 * names where its origin is a member, or keeps it for a comm not made
 * here yet. Lock held. */
void weft__ctx_apply_abort(weft_context_t *ctx, const weft__store_event_t *ev);

/* A comm was just made (lock held): apply the aborts that reached this rank
 * before it, and forget those of ids this rank can no longer make. */
void weft__ctx_comm_made(weft_context_t *ctx, weft_comm_t *comm);

/* Check the caller's weft_context_params_t and lay its fields over cfg;
 * *explicit_p = 1 when it names a rendezvous (an explicit launch)
 * (context_params.c). */
weft_status_t weft__ctx_params_apply(const weft_context_params_t *params,
                                     weft_config_t *cfg, int *explicit_p);

/* WEFT_THREADS against what calls in beside the caller (context_params.c). */
weft_status_t weft__ctx_threads_check(const weft_config_t *cfg);

/* Public-handle check. */
weft_status_t weft__ctx_check(const weft_context_t *ctx, const char *fn);

#endif /* WEFT_CONTEXT_INTERNAL_H */
