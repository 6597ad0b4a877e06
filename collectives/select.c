/*
 * Selection: the one list of every algorithm, and the one function that
 * picks one per call (forced, tuning file, or the cost model).
 */
#include "build_config.h"
#include "collectives/select.h"

#include <math.h>
#include <string.h>

#include "collectives/algos/algos.h"
#include "context.h"
#include "errmsg.h"
#include "log.h"

/* clang-format off */
static const weft__algo_t *const algos_allreduce[] = {
    &weft__algo_allreduce_recursive_doubling, &weft__algo_allreduce_rabenseifner,
    &weft__algo_allreduce_ring, &weft__algo_allreduce_shm,
    &weft__algo_allreduce_hier, NULL};
static const weft__algo_t *const algos_reduce[] = {
    &weft__algo_reduce_binomial, &weft__algo_reduce_rs_gather, NULL};
static const weft__algo_t *const algos_broadcast[] = {
    &weft__algo_broadcast_binomial, &weft__algo_broadcast_scatter_allgather,
    &weft__algo_broadcast_chain, &weft__algo_broadcast_shm,
    &weft__algo_broadcast_hier, NULL};
static const weft__algo_t *const algos_allgather[] = {
    &weft__algo_allgather_recursive_doubling, &weft__algo_allgather_bruck,
    &weft__algo_allgather_ring, &weft__algo_allgather_shm,
    &weft__algo_allgather_hier, NULL};
static const weft__algo_t *const algos_allgatherv[] = {
    &weft__algo_allgatherv_recursive_doubling, &weft__algo_allgatherv_ring,
    NULL};
static const weft__algo_t *const algos_reduce_scatter[] = {
    &weft__algo_reduce_scatter_recursive_halving,
    &weft__algo_reduce_scatter_ring, &weft__algo_reduce_scatter_shm, NULL};
static const weft__algo_t *const algos_reduce_scatter_v[] = {
    &weft__algo_reduce_scatter_v_ring, NULL};
static const weft__algo_t *const algos_alltoall[] = {
    &weft__algo_alltoall_bruck, &weft__algo_alltoall_pairwise,
    &weft__algo_alltoall_shm, &weft__algo_alltoall_hier, NULL};
static const weft__algo_t *const algos_alltoallv[] = {
    &weft__algo_alltoallv_pairwise, &weft__algo_alltoallv_shm, NULL};
static const weft__algo_t *const algos_gather[] = {
    &weft__algo_gather_binomial, NULL};
static const weft__algo_t *const algos_scatter[] = {
    &weft__algo_scatter_binomial, NULL};
static const weft__algo_t *const algos_barrier[] = {
    &weft__algo_barrier_dissemination, &weft__algo_barrier_shm, NULL};

static const weft__algo_t *const *const algos[WEFT_COLL_COUNT] = {
    [WEFT_COLL_ALLREDUCE] = algos_allreduce,
    [WEFT_COLL_REDUCE] = algos_reduce,
    [WEFT_COLL_BROADCAST] = algos_broadcast,
    [WEFT_COLL_ALLGATHER] = algos_allgather,
    [WEFT_COLL_ALLGATHERV] = algos_allgatherv,
    [WEFT_COLL_REDUCE_SCATTER] = algos_reduce_scatter,
    [WEFT_COLL_REDUCE_SCATTER_V] = algos_reduce_scatter_v,
    [WEFT_COLL_ALLTOALL] = algos_alltoall,
    [WEFT_COLL_ALLTOALLV] = algos_alltoallv,
    [WEFT_COLL_GATHER] = algos_gather,
    [WEFT_COLL_SCATTER] = algos_scatter,
    [WEFT_COLL_BARRIER] = algos_barrier,
};

/* Link classes of the cost model, until the transports measure their own:
 * alpha (s per message), beta (s per byte), for ranks on one node and for
 * ranks on several; gamma (s per byte reduced). */
#define COST_NODE_ALPHA 12e-6
#define COST_NODE_BETA (1.0 / 2.5e9)
#define COST_NET_ALPHA 30e-6
#define COST_NET_BETA (1.0 / 1.2e9)
#define COST_GAMMA (1.0 / 6e9)
/* clang-format on */

const weft__algo_t *const *
weft__algos(weft__coll_t coll)
{
    return (unsigned)coll < WEFT_COLL_COUNT ? algos[coll] : NULL;
}

const weft__algo_t *
weft__algo_find(weft__coll_t coll, const char *name)
{
    const weft__algo_t *const *list = weft__algos(coll);

    for (int i = 0; list != NULL && list[i] != NULL && name != NULL; i++) {
        if (strcmp(list[i]->name, name) == 0) {
            return list[i];
        }
    }
    return NULL;
}

static int
select_nodes(const weft_comm_t *comm)
{
    const weft_context_t *ctx = comm->ctx;
    const char *first = ctx->peers[weft__comm_job_rank(comm, 0)].topo.node_id;

    /* one node or several is what the model tells apart today */
    for (int r = 1; r < comm->size; r++) {
        const char *id = ctx->peers[weft__comm_job_rank(comm, r)].topo.node_id;

        if (strcmp(id, first) != 0) {
            return 2;
        }
    }
    return 1;
}

static void
select_model(const weft_comm_t *comm, weft__cost_t *m)
{
    memset(m, 0, sizeof(*m));
    m->size = comm->size;
    m->nodes = select_nodes(comm);
    m->pow2 = (comm->size & (comm->size - 1)) == 0;
    m->alpha = m->nodes > 1 ? COST_NET_ALPHA : COST_NODE_ALPHA;
    m->link_beta = m->nodes > 1 ? COST_NET_BETA : COST_NODE_BETA;
    m->beta = m->link_beta;
    if (comm->nnodes > 1) {
        /* every rank of a node crosses the node's one link at once */
        m->beta *= (double)(comm->size + comm->nnodes - 1) / comm->nnodes;
    }
    m->gamma = COST_GAMMA;
    m->chunk = comm->ctx->cfg.coll.chunk;
    m->hier_nodes = comm->nnodes > 0 ? comm->nnodes : m->nodes;
}

static void
select_names(const weft__algo_t *const *list, char *buf, size_t len)
{
    size_t used = 0;

    buf[0] = '\0';
    for (int i = 0; list[i] != NULL && used < len; i++) {
        int n = snprintf(buf + used, len - used, "%s%s", i ? ", " : "",
                         list[i]->name);

        used += n > 0 ? (size_t)n : 0;
    }
}

static void
select_log(const weft__coll_args_t *a, weft_comm_t *comm,
           const weft__algo_t *algo, const char *how)
{
    if (comm->coll_last[a->coll] == algo) {
        return;
    }
    comm->coll_last[a->coll] = algo;
    if (how == NULL) {
        return; /* forced: the user knows */
    }
    weft__log_info(WEFT_SUB_COLL, "comm %u: %s of %zu bytes on %d ranks: %s "
                   "(%s)",
                   comm->id, weft__coll_name(a->coll),
                   weft__coll_bytes(a, comm->size), comm->size, algo->name,
                   how);
}

static weft_status_t
select_forced(const weft__coll_args_t *a, weft_comm_t *comm,
              const char *name, const char *source,
              const weft__algo_t **algo_p)
{
    const char *cname = weft__coll_name(a->coll);
    const weft__algo_t *algo = weft__algo_find(a->coll, name);
    const char *why;
    char known[256];

    if (algo == NULL) {
        select_names(weft__algos(a->coll), known, sizeof(known));
        return weft__error(WEFT_ERR_INVALID_ARG, WEFT_SUB_COLL,
                           "%s: %s asks for '%s', which is not one of the "
                           "%s algorithms (there are: %s)",
                           cname, source, name, cname, known);
    }
    why = algo->supported(a, comm);
    if (why != NULL) {
        return weft__error(WEFT_ERR_UNSUPPORTED, WEFT_SUB_COLL,
                           "%s: the %s algorithm (forced by %s) cannot run "
                           "this call: %s",
                           cname, algo->name, source, why);
    }
    *algo_p = algo;
    select_log(a, comm, algo, NULL);
    return WEFT_OK;
}

/* The last pick of the model for a collective, kept per comm: a loop of
 * the same call (the common case) skips the model. Calls with count
 * arrays (v-variants) are not kept: their arrays may change. */
static int
select_cacheable(const weft__coll_args_t *a)
{
    return a->scounts == NULL && a->rcounts == NULL;
}

static int
select_cached(const weft__coll_args_t *a, weft_comm_t *comm,
              const weft__algo_t **algo_p)
{
    const weft__coll_pick_t *k = &comm->coll_pick[a->coll];

    if (k->algo == NULL || !select_cacheable(a) || k->count != a->count ||
        k->dtype != (int)a->dtype || k->op != (int)a->op ||
        k->root != a->root || k->inplace != a->inplace) {
        return 0;
    }
    *algo_p = k->algo;
    return 1;
}

static void
select_keep(const weft__coll_args_t *a, weft_comm_t *comm,
            const weft__algo_t *algo)
{
    weft__coll_pick_t *k = &comm->coll_pick[a->coll];

    if (select_cacheable(a)) {
        k->algo = algo;
        k->count = a->count;
        k->dtype = (int)a->dtype;
        k->op = (int)a->op;
        k->root = a->root;
        k->inplace = a->inplace;
    }
}

weft_status_t
weft__select(const weft__coll_args_t *a, weft_comm_t *comm,
             const weft__algo_t **algo_p)
{
    const weft__algo_t *const *list = algos[a->coll];
    const weft__algo_t *best = NULL;
    const char *forced = comm->ctx->cfg.coll.algo[a->coll];
    const char *tuned;
    double best_cost = INFINITY;
    weft__cost_t m;

    /* a pick is kept only while nothing forces one (set_algorithm drops
     * it; WEFT_<COLL>_ALGO forces from the start): a loop of the same
     * call looks no further */
    if (select_cached(a, comm, algo_p)) {
        return WEFT_OK;
    }
    if (comm->coll_force[a->coll] != NULL) {
        *algo_p = comm->coll_force[a->coll];
        return select_forced(a, comm, (*algo_p)->name,
                             "weft_comm_set_algorithm", algo_p);
    }
    if (forced != NULL && forced[0] != '\0') {
        char source[64];

        snprintf(source, sizeof(source), "WEFT_%s_ALGO",
                 weft__coll_name(a->coll));
        for (char *p = source; *p; p++) {
            *p = (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
        }
        return select_forced(a, comm, forced, source, algo_p);
    }
    select_model(comm, &m);
    tuned = weft__tuning_lookup(comm->ctx, a->coll,
                                weft__coll_bytes(a, comm->size), comm->size,
                                m.nodes);
    if (tuned != NULL) {
        const weft__algo_t *algo = weft__algo_find(a->coll, tuned);

        if (algo != NULL && algo->supported(a, comm) == NULL) {
            select_log(a, comm, algo, "tuning file");
            select_keep(a, comm, algo);
            *algo_p = algo;
            return WEFT_OK;
        }
    }
    for (int i = 0; list[i] != NULL; i++) {
        double c;

        if (list[i]->supported(a, comm) != NULL) {
            continue;
        }
        c = list[i]->cost(a, &m);
        if (c < best_cost) {
            best_cost = c;
            best = list[i];
        }
    }
    if (best == NULL) {
        return weft__error(WEFT_ERR_UNSUPPORTED, WEFT_SUB_COLL,
                           "%s: no algorithm can run this call",
                           weft__coll_name(a->coll));
    }
    select_log(a, comm, best, "cost model");
    select_keep(a, comm, best);
    *algo_p = best;
    return WEFT_OK;
}

weft_status_t
weft_comm_set_algorithm(weft_comm_t *comm, const char *coll,
                        const char *algo)
{
    const weft__algo_t *found = NULL;
    int c;

    WEFT_CHECK(weft__comm_check(comm, "weft_comm_set_algorithm"));
    c = weft__coll_by_name(coll);
    WEFT_ARG_CHECK(c >= 0,
                   "weft_comm_set_algorithm: '%s' is not a collective",
                   coll ? coll : "(null)");
    if (algo != NULL && strcmp(algo, "auto") != 0) {
        char known[256];

        found = weft__algo_find((weft__coll_t)c, algo);
        select_names(algos[c], known, sizeof(known));
        WEFT_ARG_CHECK(found != NULL,
                       "weft_comm_set_algorithm: '%s' is not one of the %s "
                       "algorithms (there are: %s)",
                       algo, coll, known);
    }
    weft__ctx_lock(comm->ctx);
    comm->coll_force[c] = found;
    comm->coll_pick[c].algo = NULL; /* the model's pick yields to it */
    weft__ctx_unlock(comm->ctx);
    return WEFT_OK;
}

const char *
weft_comm_last_algorithm(const weft_comm_t *comm, const char *coll)
{
    int c = weft__coll_by_name(coll);
    const weft__algo_t *algo;

    if (weft__comm_check(comm, "weft_comm_last_algorithm") != WEFT_OK ||
        c < 0) {
        return NULL;
    }
    algo = comm->coll_last[c];
    return algo != NULL ? algo->name : NULL;
}

const char *
weft_coll_algorithm_name(const char *coll, int index)
{
    int c = weft__coll_by_name(coll);
    const weft__algo_t *const *list;

    if (c < 0 || index < 0) {
        return NULL;
    }
    list = algos[c];
    for (int i = 0; list[i] != NULL; i++) {
        if (i == index) {
            return list[i]->name;
        }
    }
    return NULL;
}
