/*
 * Contexts: join the job (bootstrap store, topology, transports, address
 * exchange), route peers to transports, leave. The job events a context
 * applies are in context_events.c.
 */
#include "build_config.h"
#include "context.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bootstrap/auth.h"
#include "clock.h"
#include "collectives/tuning.h"
#include "comm.h"
#include "errmsg.h"
#include "log.h"
#include "req_callback.h"
#include "request.h"
#include "stamp.h"
#include "tl_registry.h"
#include "util.h"

#define CTX_REC_TLS 4 /* transports published per rank */

/* What every rank publishes once the transports are open (fixed size: one
 * allgather; the topology went in the allgather before, so that
 * transports know at init which ranks share their node). */
typedef struct ctx_record {
    uint32_t ntl;
    struct {
        char name[16];
        uint32_t len;
        uint8_t addr[WEFT_TL_ADDR_MAX];
    } tl[CTX_REC_TLS];
} ctx_record_t;

/* ---- host services handed to transports ----------------------------- */

static const char *
ctx_tl_config_get(void *host, const char *name)
{
    weft_context_t *ctx = host;

    return weft__config_get_text(&ctx->cfg, name, ctx->cfg_buf,
                                 sizeof(ctx->cfg_buf));
}

static void
ctx_tl_log(void *host, weft_log_level_t level, const char *fmt, ...)
{
    va_list ap;

    if ((int)level > weft__log_level || !(weft__log_subsys & WEFT_SUB_TL)) {
        return;
    }
    va_start(ap, fmt);
    weft__log_vemit(level, WEFT_SUB_TL, NULL, 0, fmt, ap);
    va_end(ap);
}

/* Called from inside a transport's progress: queue it, apply later. */
static void
ctx_tl_peer_failed(void *host, int peer, weft_status_t status,
                   const char *reason)
{
    weft_context_t *ctx = host;
    weft__ctx_event_t *ev = calloc(1, sizeof(*ev));

    if (ev == NULL) {
        return; /* the failed ops already carry the status */
    }
    ev->peer = peer;
    ev->status = status;
    weft__strlcpy(ev->reason, reason ? reason : "", sizeof(ev->reason));
    /* in order: the first failure is the one every comm keeps */
    *ctx->events_tail = ev;
    ctx->events_tail = &ev->next;
}

/* ---- peers ------------------------------------------------------------- */

static const ctx_record_t *
ctx_record(const weft_context_t *ctx, int rank)
{
    return &((const ctx_record_t *)ctx->records)[rank];
}

static int
ctx_record_find_tl(const ctx_record_t *rec, const char *name)
{
    for (uint32_t i = 0; i < rec->ntl && i < CTX_REC_TLS; i++) {
        if (strncmp(rec->tl[i].name, name, sizeof(rec->tl[i].name)) == 0) {
            return (int)i;
        }
    }
    return -1;
}

static void
ctx_peer_info(const weft_context_t *ctx, int rank, const char *tl_name,
              weft_tl_peer_t *info)
{
    const ctx_record_t *rec = ctx_record(ctx, rank);
    int i = ctx_record_find_tl(rec, tl_name);
    const char *node_id = ctx->peers[rank].topo.node_id;

    info->rank = rank;
    info->node_id = node_id;
    info->same_node = strcmp(node_id, ctx->topo.node_id) == 0;
    info->addr = i >= 0 ? rec->tl[i].addr : NULL;
    info->addr_len = i >= 0 ? rec->tl[i].len : 0;
}

/* Pick the first transport (in WEFT_TL order) that reaches each peer. */
static weft_status_t
ctx_route_peers(weft_context_t *ctx)
{
    for (int r = 0; r < ctx->size; r++) {
        weft__peer_t *p = &ctx->peers[r];

        p->tl = -1;
        if (r == ctx->rank) {
            p->tl = ctx->self_tl;
            continue;
        }
        for (int i = 0; i < ctx->ntls && p->tl < 0; i++) {
            weft_tl_peer_t info;

            if (i == ctx->self_tl) {
                continue;
            }
            ctx_peer_info(ctx, r, ctx->tls[i].ops->name, &info);
            if (info.addr != NULL &&
                ctx->tls[i].ops->reachable(ctx->tls[i].tl, &info)) {
                p->tl = i;
                ctx->tls[i].routed++;
            }
        }
        if (p->tl < 0) {
            char list[256];
            const weft_param_t *param = weft__config_find("TL");

            weft__param_format(param, &ctx->cfg.tl, 0, list, sizeof(list));
            return weft__error(WEFT_ERR_UNSUPPORTED, WEFT_SUB_CORE,
                               "no transport reaches rank %d on node %s "
                               "(WEFT_TL=%s)",
                               r, p->topo.node_id, list);
        }
        weft__log_debug(WEFT_SUB_CORE, "rank %d via %s", r,
                        ctx->tls[p->tl].ops->name);
    }
    return WEFT_OK;
}

weft_status_t
weft__ctx_ep_slow(weft_context_t *ctx, int job_rank, int *tl_p,
                  weft_tl_ep_t **ep_p)
{
    weft__peer_t *p = &ctx->peers[job_rank];

    if (p->failed != WEFT_OK) {
        return weft__error_at(p->failed, WEFT_LOG_DEBUG, WEFT_SUB_CORE,
                              "rank %d is lost (%s)", job_rank,
                              weft_status_string(p->failed));
    }
    if (p->ep == NULL) {
        weft__ctx_tl_t *t = &ctx->tls[p->tl];
        weft_tl_peer_t info;

        ctx_peer_info(ctx, job_rank, t->ops->name, &info);
        WEFT_CHECK(t->ops->ep_create(t->tl, &info, &p->ep));
        weft__ctrl_ep_made(ctx, job_rank);
    }
    *tl_p = p->tl;
    *ep_p = p->ep;
    return WEFT_OK;
}

/* ---- start-up ---------------------------------------------------------- */

static weft_status_t
ctx_job_key(const weft_config_t *cfg, uint8_t *key, size_t *len_p)
{
    if (cfg->job_key != NULL && cfg->job_key[0] != '\0') {
        return weft__auth_key_parse(cfg->job_key, key, len_p);
    }
    if (cfg->job_key_file != NULL && cfg->job_key_file[0] != '\0') {
        return weft__auth_key_read_file(cfg->job_key_file, key, len_p);
    }
    return weft__error(WEFT_ERR_INVALID_ARG, WEFT_SUB_BOOT,
                       "no job key: set WEFT_JOB_KEY or WEFT_JOB_KEY_FILE "
                       "(weftrun does), or pass params->job_key");
}

/* Started by a PMIx launcher (srun --mpi=pmix, prterun) and not by
 * weftrun: the resource manager's PMIx server is the store, says who this
 * rank is, and carries the job key rank 0 drew. */
static weft_status_t
ctx_pmix_open(weft_context_t *ctx, uint8_t *job_key, size_t *key_len_p,
              double deadline)
{
#ifdef WEFT_HAVE_PMIX
    weft__store_pmix_job_t job;
    weft_status_t st = weft__store_pmix_create(deadline, &job, &ctx->store);

    if (st == WEFT_ERR_UNSUPPORTED) { /* PMIx variables, but no server */
        weft__log_warn(WEFT_SUB_BOOT, "%s; running as a job of one rank",
                       weft_last_error());
        return WEFT_OK;
    }
    WEFT_CHECK(st);
    ctx->rank = job.rank;
    ctx->size = job.nranks;
    memcpy(job_key, job.key, job.key_len);
    *key_len_p = job.key_len;
    weft__memzero(job.key, sizeof(job.key));
    return WEFT_OK;
#else
    weft__log_warn(WEFT_SUB_BOOT,
                   "started by a PMIx launcher, but this weft was built "
                   "without PMIx (configure --with-pmix): running as a job "
                   "of one rank");
    return WEFT_OK;
#endif
}

/* Connect to (and, for rank 0 without a launcher, serve) the store. */
static weft_status_t
ctx_store_open(weft_context_t *ctx, int serve, const uint8_t *job_key,
               size_t key_len, double deadline)
{
    uint8_t store_key[WEFT_AUTH_KEY_LEN];
    weft_status_t st;

    if (ctx->store != NULL) { /* opened through PMIx */
        return WEFT_OK;
    }
    if (ctx->size == 1 && (ctx->cfg.rendezvous == NULL ||
                           ctx->cfg.rendezvous[0] == '\0')) {
        return weft__store_env_create(&ctx->store);
    }
    weft__auth_derive(job_key, key_len, WEFT_AUTH_LABEL_STORE, store_key);
    if (serve && ctx->rank == 0) {
        weft__boot_server_params_t sp = {
            .bind = ctx->cfg.rendezvous,
            .key = store_key,
            .nranks = ctx->size,
            .handshake_timeout = ctx->cfg.handshake_timeout,
            .max_pending = ctx->cfg.boot.max_pending,
            .heartbeat_timeout = ctx->cfg.heartbeat_timeout,
        };

        st = weft__boot_server_create(&sp, &ctx->server);
        if (st == WEFT_OK) {
            st = weft__boot_server_start_thread(ctx->server);
        }
        if (st != WEFT_OK) {
            weft__memzero(store_key, sizeof(store_key));
            return st;
        }
        weft__log_info(WEFT_SUB_BOOT, "rank 0 serves the bootstrap store at %s",
                       weft__boot_server_address(ctx->server));
    }
    st = weft__store_tcp_create(ctx->cfg.rendezvous, store_key, ctx->rank,
                                ctx->size, deadline, &ctx->store);
    weft__memzero(store_key, sizeof(store_key));
    if (st == WEFT_OK) {
        weft__heartbeat_start(ctx); /* through the rest of start-up too */
    }
    return st;
}

static weft_status_t
ctx_tl_open(weft_context_t *ctx, const weft_tl_ops_t *ops,
            const uint8_t *job_key, size_t key_len)
{
    char label[64];
    uint8_t tl_key[WEFT_AUTH_KEY_LEN];
    weft_tl_init_args_t args;
    weft__ctx_tl_t *t;
    weft_status_t st;

    if (ctx->ntls == WEFT_CTX_MAX_TLS || ctx->ntls == CTX_REC_TLS) {
        return weft__error(WEFT_ERR_INVALID_ARG, WEFT_SUB_TL,
                           "WEFT_TL names more than %d transports",
                           CTX_REC_TLS);
    }
    WEFT_CHECK(weft__tl_registry_check(ops));
    snprintf(label, sizeof(label), "weft/v1/tl/%s", ops->name);
    if (key_len > 0) {
        weft__auth_derive(job_key, key_len, label, tl_key);
    } else {
        memset(tl_key, 0, sizeof(tl_key)); /* a job of one: no links */
    }
    memset(&args, 0, sizeof(args));
    args.size = sizeof(args);
    args.rank = ctx->rank;
    args.nranks = ctx->size;
    args.node_id = ctx->topo.node_id;
    args.local_ranks = ctx->local_ranks;
    args.nlocal = ctx->local_size;
    args.local_index = ctx->local_rank;
    args.auth_key = tl_key;
    args.auth_key_len = sizeof(tl_key);
    args.handshake_timeout_s = ctx->cfg.handshake_timeout;
    args.teardown_timeout_s = ctx->cfg.teardown_timeout;
    args.host = ctx;
    args.config_get = ctx_tl_config_get;
    args.log = ctx_tl_log;
    args.peer_failed = ctx_tl_peer_failed;
    t = &ctx->tls[ctx->ntls];
    st = ops->init(&args, &t->tl);
    weft__memzero(tl_key, sizeof(tl_key));
    if (st != WEFT_OK) {
        return st;
    }
    t->ops = ops;
    t->hints = WEFT_TL_HAS_OP(ops, hints) ? ops->hints(t->tl) : 0;
    ctx->ntls++;
    if (WEFT_TL_HAS_OP(ops, wait_fd)) {
        int fd = ops->wait_fd(t->tl);

        if (fd >= 0) {
            WEFT_CHECK(weft__progress_add_fd(ctx, fd));
        }
    }
    weft__log_debug(WEFT_SUB_TL, "transport %s ready", ops->name);
    return WEFT_OK;
}

/* Open self plus every transport named in WEFT_TL; a transport that fails
 * to open is skipped (the next one in the list may reach the peers). */
static weft_status_t
ctx_tls_open(weft_context_t *ctx, const uint8_t *job_key, size_t key_len)
{
    WEFT_CHECK(ctx_tl_open(ctx, &weft__tl_self, job_key, key_len));
    ctx->self_tl = 0;
    for (size_t i = 0; i < ctx->cfg.tl.n; i++) {
        const char *name = ctx->cfg.tl.items[i];
        const weft_tl_ops_t *ops = weft__tl_registry_find(name);
        weft_status_t st = WEFT_OK;

        if (strcmp(name, "self") == 0) {
            continue;
        }
        if (ops == NULL && !weft__tl_registry_is_module(name)) {
            return weft__error(WEFT_ERR_INVALID_ARG, WEFT_SUB_TL,
                               "WEFT_TL: unknown transport '%s' (%s)", name,
                               weft__tl_registry_names());
        }
        if (ctx->size == 1) {
            continue; /* a job of one needs only self */
        }
        if (ops == NULL) {
            st = weft__tl_registry_load(name, ctx->cfg.tl_module_path, &ops);
        }
        if (st == WEFT_OK) {
            st = ctx_tl_open(ctx, ops, job_key, key_len);
        }
        if (st == WEFT_ERR_INVALID_ARG) {
            return st;
        }
        if (st != WEFT_OK) {
            weft__log_warn(WEFT_SUB_TL,
                           "transport %s is not available (%s: %s); trying "
                           "the next one in WEFT_TL",
                           name, weft_status_string(st), weft_last_error());
        }
    }
    return WEFT_OK;
}

/* More ranks on this node than cores: a waiting rank that spins takes the
 * core from the rank it waits for, so waiters yield at once instead. */
static void
ctx_oversubscription(weft_context_t *ctx)
{
    ctx->progress.oversubscribed = weft__topo_oversubscribed(ctx->local_size);
    if (ctx->progress.oversubscribed && ctx->local_rank == 0) {
        weft__log_info(WEFT_SUB_CORE,
                       "%d ranks share the %ld cores of this node: waiting "
                       "ranks yield instead of spinning",
                       ctx->local_size, sysconf(_SC_NPROCESSORS_ONLN));
    }
}

/* Every rank's topology record: who shares this node (local ranks in job
 * rank order) before the transports open. */
static weft_status_t
ctx_exchange_topo(weft_context_t *ctx, double deadline)
{
    weft__topo_rec_t *recs = calloc((size_t)ctx->size, sizeof(*recs));
    weft_status_t st;

    ctx->local_ranks = calloc((size_t)ctx->size, sizeof(int));
    if (recs == NULL || ctx->local_ranks == NULL) {
        free(recs);
        return weft__error(WEFT_ERR_NO_MEMORY, WEFT_SUB_BOOT,
                           "out of memory for %d topology records",
                           ctx->size);
    }
    st = ctx->store->ops->allgather(ctx->store, "weft/topo", &ctx->topo,
                                    sizeof(ctx->topo), recs, deadline);
    if (st != WEFT_OK) {
        free(recs);
        return st;
    }
    ctx->local_rank = 0;
    ctx->local_size = 0;
    for (int r = 0; r < ctx->size; r++) {
        /* never trust a peer's record: terminate its strings */
        recs[r].node_id[WEFT_NODE_ID_MAX - 1] = '\0';
        ctx->peers[r].topo = recs[r];
        if (strcmp(recs[r].node_id, ctx->topo.node_id) == 0) {
            if (r == ctx->rank) {
                ctx->local_rank = ctx->local_size;
            }
            ctx->local_ranks[ctx->local_size++] = r;
        }
    }
    free(recs);
    ctx_oversubscription(ctx);
    return WEFT_OK;
}

/* Every rank's transport addresses. */
static weft_status_t
ctx_exchange(weft_context_t *ctx, double deadline)
{
    ctx_record_t mine;
    weft_status_t st;

    memset(&mine, 0, sizeof(mine));
    for (int i = 0; i < ctx->ntls; i++) {
        size_t len = WEFT_TL_ADDR_MAX;

        if (i == ctx->self_tl) {
            continue;
        }
        WEFT_CHECK(ctx->tls[i].ops->address(ctx->tls[i].tl,
                                            mine.tl[mine.ntl].addr, &len));
        weft__strlcpy(mine.tl[mine.ntl].name, ctx->tls[i].ops->name,
                      sizeof(mine.tl[mine.ntl].name));
        mine.tl[mine.ntl].len = (uint32_t)len;
        mine.ntl++;
    }
    ctx->records = calloc((size_t)ctx->size, sizeof(ctx_record_t));
    if (ctx->records == NULL) {
        return weft__error(WEFT_ERR_NO_MEMORY, WEFT_SUB_BOOT,
                           "out of memory for %d start-up records",
                           ctx->size);
    }
    st = ctx->store->ops->allgather(ctx->store, "weft/init", &mine,
                                    sizeof(mine), ctx->records, deadline);
    if (st != WEFT_OK) {
        return st;
    }
    /* never trust a peer's record: terminate its strings */
    for (int r = 0; r < ctx->size; r++) {
        ctx_record_t *rec = &((ctx_record_t *)ctx->records)[r];

        rec->ntl = rec->ntl > CTX_REC_TLS ? CTX_REC_TLS : rec->ntl;
        for (uint32_t i = 0; i < rec->ntl; i++) {
            rec->tl[i].name[sizeof(rec->tl[i].name) - 1] = '\0';
            if (rec->tl[i].len > WEFT_TL_ADDR_MAX) {
                rec->tl[i].len = 0;
            }
        }
    }
    return WEFT_OK;
}

static weft_status_t
ctx_job_shape(weft_context_t *ctx, int explicit_launch, int *serve_p)
{
    weft_config_t *cfg = &ctx->cfg;
    int launched = cfg->size > 0 || cfg->rank >= 0 ||
                   (cfg->rendezvous != NULL && cfg->rendezvous[0] != '\0');

    if (!launched) { /* started by hand: a job of one */
        ctx->rank = 0;
        ctx->size = 1;
        *serve_p = 0;
        return WEFT_OK;
    }
    if (cfg->size <= 0) {
        return weft__error(WEFT_ERR_INVALID_ARG, WEFT_SUB_BOOT,
                           "WEFT_RANK or WEFT_RENDEZVOUS is set but WEFT_SIZE "
                           "is not (start ranks with weftrun, or set all "
                           "three)");
    }
    if (cfg->rank < 0 || cfg->rank >= cfg->size) {
        return weft__error(WEFT_ERR_INVALID_ARG, WEFT_SUB_BOOT,
                           "rank %d out of range for a job of %d ranks "
                           "(WEFT_RANK / params->rank)",
                           cfg->rank, cfg->size);
    }
    if (cfg->size > 1 &&
        (cfg->rendezvous == NULL || cfg->rendezvous[0] == '\0')) {
        return weft__error(WEFT_ERR_INVALID_ARG, WEFT_SUB_BOOT,
                           "a job of %d ranks needs WEFT_RENDEZVOUS (or "
                           "params->rendezvous): the host:port of the "
                           "bootstrap store",
                           cfg->size);
    }
    ctx->rank = cfg->rank;
    ctx->size = cfg->size;
    /* explicit parameters mean "rank 0 serves" unless the environment
     * says who does */
    if (explicit_launch &&
        weft__config_source(weft__config_environ(),
                            weft__config_find("RENDEZVOUS_SERVER")) == NULL) {
        *serve_p = 1;
    } else {
        *serve_p = cfg->rendezvous_server == WEFT_RENDEZVOUS_SERVER_RANK0;
    }
    return WEFT_OK;
}

static weft_status_t
ctx_start(weft_context_t *ctx, const weft_context_params_t *params)
{
    uint8_t job_key[WEFT_AUTH_KEY_MAX];
    size_t key_len = 0;
    double deadline;
    int explicit_launch = 0, serve = 0;
    weft_status_t st;

    WEFT_CHECK(weft__config_load(&ctx->cfg));
    WEFT_CHECK(weft__ctx_params_apply(params, &ctx->cfg, &explicit_launch));
    WEFT_CHECK(weft__ctx_threads_check(&ctx->cfg));
    weft__log_configure(ctx->cfg.log_level, ctx->cfg.log_subsys);
    WEFT_CHECK(ctx_job_shape(ctx, explicit_launch, &serve));
    deadline = weft__now() + ctx->cfg.init_timeout;
    if (ctx->cfg.rendezvous != NULL && ctx->cfg.rendezvous[0] != '\0') {
        WEFT_CHECK(ctx_job_key(&ctx->cfg, job_key, &key_len));
    } else if (ctx->cfg.rank < 0 && ctx->cfg.size <= 0 &&
               weft__config_pmix_launched()) {
        WEFT_CHECK_GOTO(ctx_pmix_open(ctx, job_key, &key_len, deadline), st,
                        out);
    }
    weft__log_set_rank(ctx->rank);
    ctx->peers = calloc((size_t)ctx->size, sizeof(*ctx->peers));
    if (ctx->peers == NULL) {
        st = weft__error(WEFT_ERR_NO_MEMORY, WEFT_SUB_CORE,
                         "out of memory for %d peers", ctx->size);
        goto out;
    }
    WEFT_CHECK_GOTO(weft__ctrl_init(ctx), st, out);
    WEFT_CHECK_GOTO(weft__progress_init(ctx), st, out);
    WEFT_CHECK_GOTO(weft__topo_local(&ctx->cfg, &ctx->topo), st, out);
    WEFT_CHECK_GOTO(ctx_store_open(ctx, serve, job_key, key_len, deadline),
                    st, out);
    if (ctx->store->ops->event_fd(ctx->store) >= 0) {
        WEFT_CHECK_GOTO(
            weft__progress_add_fd(ctx, ctx->store->ops->event_fd(ctx->store)),
            st, out);
    }
    WEFT_CHECK_GOTO(ctx_exchange_topo(ctx, deadline), st, out);
    WEFT_CHECK_GOTO(ctx_tls_open(ctx, job_key, key_len), st, out);
    WEFT_CHECK_GOTO(ctx_exchange(ctx, deadline), st, out);
    WEFT_CHECK_GOTO(ctx_route_peers(ctx), st, out);
    WEFT_CHECK_GOTO(weft__comm_create_world(ctx, &ctx->world), st, out);
    weft__log_info(WEFT_SUB_CORE,
                   "rank %d of %d (local %d of %d) on %s joined the job",
                   ctx->rank, ctx->size, ctx->local_rank, ctx->local_size,
                   ctx->topo.node_id);
out:
    weft__memzero(job_key, sizeof(job_key));
    return st;
}

static void ctx_free(weft_context_t *ctx);

/* weft_progress: rounds after the first while they keep moving things. */
#define CTX_PROGRESS_MORE 4

weft_status_t
weft_context_create(const weft_context_params_t *params,
                    weft_context_t **ctx_p)
{
    weft_context_t *ctx;
    weft_status_t st;

    WEFT_ARG_CHECK(ctx_p != NULL, "weft_context_create: ctx_p is NULL");
    weft__stamp_init(); /* before any request is stamped */
    ctx = calloc(1, sizeof(*ctx));
    if (ctx == NULL) {
        return weft__error(WEFT_ERR_NO_MEMORY, WEFT_SUB_CORE,
                           "out of memory for a context");
    }
    ctx->magic = WEFT_CTX_MAGIC;
    ctx->progress.epfd = -1;
    ctx->progress.wakefd = -1;
    ctx->self_tl = -1;
    ctx->events_tail = &ctx->events;
    ctx->cb_tail = &ctx->cb_head;
    pthread_mutex_init(&ctx->lock, NULL);
    pthread_cond_init(&ctx->cb_cond, NULL);
    ctx->locking = 1; /* until the configuration says otherwise */
    weft__ctx_lock(ctx);
    st = ctx_start(ctx, params);
    weft__ctx_unlock(ctx);
    if (st != WEFT_OK) {
        char msg[512];

        /* keep the reason: teardown may overwrite the thread's message */
        weft__strlcpy(msg, weft_last_error(), sizeof(msg));
        ctx_free(ctx);
        weft__error_set("%s", msg);
        return st;
    }
    ctx->locking = ctx->cfg.threads != WEFT_THREAD_SERIALIZED;
    if (ctx->cfg.progress_thread) {
        st = weft__progress_thread_start(ctx);
        if (st != WEFT_OK) {
            char msg[512];

            weft__strlcpy(msg, weft_last_error(), sizeof(msg));
            ctx_free(ctx);
            weft__error_set("%s", msg);
            return st;
        }
    }
    *ctx_p = ctx;
    return WEFT_OK;
}

/* ---- teardown ---------------------------------------------------------- */

static void
ctx_free(weft_context_t *ctx)
{
    weft__progress_thread_stop(ctx); /* first: it runs everything below */
    weft__heartbeat_stop(ctx); /* before the store goes */
    weft__ctx_lock(ctx);
    ctx->destroying = 1;
    while (ctx->comms != NULL) {
        weft__comm_free(ctx->comms);
    }
    /* requests still pending completed, aborted: their callbacks fire
     * (a callback must not call weft on this context any more) */
    weft__req_cb_fire(ctx);
    while (ctx->graveyard != NULL) {
        weft_comm_t *c = ctx->graveyard;

        ctx->graveyard = c->next;
        free(c);
    }
    weft__ctrl_withdraw(ctx);
    for (int i = ctx->ntls - 1; i >= 0; i--) {
        ctx->tls[i].ops->fini(ctx->tls[i].tl); /* frees its endpoints */
    }
    ctx->ntls = 0;
    weft__ctrl_fini(ctx);
    weft__ctx_apply_events(ctx);
    if (ctx->store != NULL) {
        ctx->store->ops->destroy(ctx->store);
        ctx->store = NULL;
    }
    if (ctx->server != NULL) {
        weft__boot_server_drain(ctx->server,
                                weft__now() + ctx->cfg.teardown_timeout);
        weft__boot_server_destroy(ctx->server);
        ctx->server = NULL;
    }
    weft__progress_fini(ctx);
    weft__req_pool_fini(ctx);
    weft__tuning_forget(ctx);
    weft__scratch_fini(&ctx->scratch);
    free(ctx->peers);
    free(ctx->records);
    free(ctx->local_ranks);
    free(ctx->early);
    weft__config_free(&ctx->cfg);
    ctx->magic = 0;
    weft__ctx_unlock(ctx);
    pthread_cond_destroy(&ctx->cb_cond);
    pthread_mutex_destroy(&ctx->lock);
    free(ctx);
}

void
weft_context_destroy(weft_context_t *ctx)
{
    if (ctx == NULL || ctx->magic != WEFT_CTX_MAGIC) {
        return;
    }
    ctx_free(ctx);
}

weft_status_t
weft__ctx_check(const weft_context_t *ctx, const char *fn)
{
    if (ctx == NULL) {
        return weft__error(WEFT_ERR_INVALID_ARG, WEFT_SUB_CORE,
                           "%s: context is NULL", fn);
    }
    if (ctx->magic != WEFT_CTX_MAGIC) {
        return weft__error(WEFT_ERR_INVALID_ARG, WEFT_SUB_CORE,
                           "%s: not a live context (destroyed?)", fn);
    }
    return WEFT_OK;
}

int
weft_progress(weft_context_t *ctx)
{
    int n;

    if (ctx == NULL || ctx->magic != WEFT_CTX_MAGIC) {
        return 0;
    }
    weft__ctx_lock(ctx);
    n = weft__progress(ctx); /* polls the store every few calls itself */
    /* a round that moved something may have made more ready (a finished
     * node-local collective lets the next take its turn): a caller that
     * drives progress between pieces of its own work gets it done in this
     * call, not one call later (a few more rounds at most) */
    for (int i = 0, m = n - ctx->sched_pieces; i < CTX_PROGRESS_MORE && m > 0;
         i++) {
        /* not for a piece of local work: one per call, so that a caller
         * who drives progress between pieces of its own gets the work
         * spread over its calls, each call short */
        m = weft__progress(ctx);
        n += m;
        m -= ctx->sched_pieces;
    }
    weft__req_cb_fire(ctx);
    weft__ctx_unlock(ctx);
    return n;
}

int
weft_context_rank(const weft_context_t *ctx)
{
    return ctx != NULL && ctx->magic == WEFT_CTX_MAGIC ? ctx->rank : -1;
}

int
weft_context_size(const weft_context_t *ctx)
{
    return ctx != NULL && ctx->magic == WEFT_CTX_MAGIC ? ctx->size : -1;
}
