/*
 * Shared parts of the node-aware algorithms (see hier_common.h).
 */
#include "build_config.h"
#include "collectives/algos/hier_common.h"

#include <stdio.h>
#include <string.h>

#include "collectives/coll.h"
#include "comm.h"
#include "context.h"
#include "request.h"

/* The node parts, in shared memory: per hand-off and per byte. */
#define HIER_NODE_ALPHA 1e-6
#define HIER_NODE_BETA (1.0 / 8e9)

weft__hier_t *
weft__hier_plan_n(weft__sched_t *s, int max_phases)
{
    size_t n = (size_t)max_phases;
    weft__hier_t *h = weft__sched_scratch(s, sizeof(*h));
    weft__coll_args_t *a = weft__sched_scratch(s, n * sizeof(*a));
    weft_comm_t **comm = weft__sched_scratch(s, n * sizeof(*comm));
    weft_request_t **req = weft__sched_scratch(s, n * sizeof(*req));
    int *segof = weft__sched_scratch(s, n * sizeof(*segof));
    unsigned char *done = weft__sched_scratch(s, n);

    if (h == NULL || a == NULL || comm == NULL || req == NULL ||
        segof == NULL || done == NULL) {
        return NULL; /* weft__sched_start reports it */
    }
    memset(h, 0, sizeof(*h));
    memset(comm, 0, n * sizeof(*comm));
    memset(req, 0, n * sizeof(*req));
    memset(done, 0, n);
    h->max = max_phases;
    h->a = a;
    h->comm = comm;
    h->req = req;
    h->segof = segof;
    h->done = done;
    h->parent = weft__sched_comm(s);
    return h;
}

weft__hier_t *
weft__hier_plan(weft__sched_t *s)
{
    return weft__hier_plan_n(s, WEFT_HIER_PHASES);
}

weft__coll_args_t *
weft__hier_phase(weft__hier_t *h, weft_comm_t *sub, weft__coll_t coll,
                 weft_dtype_t dtype)
{
    weft__coll_args_t *a = &h->a[h->nphases];

    memset(a, 0, sizeof(*a));
    a->coll = coll;
    a->dtype = dtype;
    a->esize = weft_dtype_size(dtype);
    h->segof[h->nphases] = h->seg;
    h->comm[h->nphases++] = sub;
    return a;
}

void
weft__hier_segment(weft__hier_t *h, int seg)
{
    h->seg = seg;
}

/* The plan whose turn it is on comm is done (or withdrawn): the next
 * that is not withdrawn gets it. */
static void
hier_next_turn(weft_comm_t *comm)
{
    do {
        comm->hier_run++;
        comm->hier_skip >>= 1;
    } while (comm->hier_skip & 1);
}

static void
hier_leave(weft__hier_t *h)
{
    weft_comm_t *comm = h->parent;

    if (!h->ticketed) {
        return;
    }
    h->ticketed = 0;
    if (h->ticket == comm->hier_run) {
        h->running = 0;
        hier_next_turn(comm);
    } else if (h->ticket - comm->hier_run < 64) {
        comm->hier_skip |= 1ull << (h->ticket - comm->hier_run);
    }
    /* (a plan withdrawn 64 or more turns ahead keeps its place: the comm
     * has failed, or its caller freed a collective still pending, which
     * leaves the other ranks waiting anyway) */
}

static int hier_run_phases(weft__hier_t *h, char *why, size_t why_len);

static int
hier_poll(void *state, char *why, size_t why_len)
{
    weft__hier_t *h = state;
    int rc;

    if (!h->running) {
        if (h->ticketed && h->ticket != h->parent->hier_run) {
            return 0; /* an earlier plan on the comm still runs */
        }
        h->running = 1;
    }
    rc = hier_run_phases(h, why, why_len);
    if (rc != 0) {
        hier_leave(h);
    }
    return rc;
}

/* Every phase before i in its segment has finished here (and every one
 * before it on its comm, where that is one_at_a_time). */
static int
hier_ready(const weft__hier_t *h, int i)
{
    int serial = h->comm[i] != NULL && h->comm[i] == h->one_at_a_time;

    for (int j = 0; j < i; j++) {
        if ((h->segof[j] == h->segof[i] ||
             (serial && h->comm[j] == h->comm[i])) &&
            !h->done[j]) {
            return 0;
        }
    }
    return 1;
}

weft_comm_t *
weft__hier_one_large(const weft_comm_t *comm)
{
    weft_comm_t *l = comm->leaders;
    const weft_context_t *ctx = comm->ctx;

    if (l == NULL) {
        return NULL; /* not a leader */
    }
    for (int r = 0; r < l->size; r++) {
        const weft__peer_t *p = &ctx->peers[weft__comm_job_rank(l, r)];

        if (r != l->rank && p->tl >= 0 &&
            (ctx->tls[p->tl].hints & WEFT_TL_HINT_ONE_LARGE)) {
            return l;
        }
    }
    return NULL;
}

/* Drop the phases started and not yet finished (a failure, a cancel). */
static void
hier_drop(weft__hier_t *h)
{
    for (int i = 0; i < h->next; i++) {
        if (h->req[i] != NULL) {
            weft__req_cancel(h->req[i], WEFT_ERR_ABORTED);
            weft__req_release(h->req[i]);
            h->req[i] = NULL;
        }
    }
}

/* Reap the finished phases and start those whose turn has come, until
 * neither changes anything: 1 when all are done, 0 when some still run,
 * or the failure of a phase (the others dropped). */
static int
hier_run_phases(weft__hier_t *h, char *why, size_t why_len)
{
    int moved = 1, ndone = 0;

    while (moved) {
        moved = 0;
        ndone = 0;
        for (int i = 0; i < h->next; i++) {
            weft_status_t st;

            if (h->req[i] != NULL && h->req[i]->done) {
                st = h->req[i]->status;
                weft__req_release(h->req[i]);
                h->req[i] = NULL;
                if (st != WEFT_OK) {
                    snprintf(why, why_len, "%s on comm %u: %s",
                             weft__coll_name(h->a[i].coll), h->comm[i]->id,
                             h->comm[i]->error_msg);
                    hier_drop(h);
                    return st;
                }
                h->done[i] = 1;
                moved = 1;
            }
            ndone += h->done[i];
        }
        while (h->next < h->nphases && hier_ready(h, h->next)) {
            int i = h->next++;
            weft__coll_args_t *a = &h->a[i];
            weft_status_t st;

            moved = 1;
            if (h->comm[i] == NULL) {
                h->done[i] = 1;
                continue;
            }
            a->inplace = a->sendbuf == a->recvbuf && a->sendbuf != NULL;
            st = weft__coll_start_locked(a, h->comm[i], &h->req[i]);
            if (st != WEFT_OK) {
                h->req[i] = NULL;
                snprintf(why, why_len, "%s on comm %u: %s",
                         weft__coll_name(a->coll), h->comm[i]->id,
                         weft_last_error());
                hier_drop(h);
                return st;
            }
        }
    }
    return ndone == h->nphases;
}

static void
hier_describe(const void *state, char *buf, size_t len)
{
    const weft__hier_t *h = state;
    int first;

    if (!h->running && h->ticketed && h->ticket != h->parent->hier_run) {
        snprintf(buf, len,
                 "its turn (node-aware collectives on a comm run one at a "
                 "time: %u of them before it have not finished)",
                 h->ticket - h->parent->hier_run);
        return;
    }
    for (first = 0; first < h->next && h->req[first] == NULL; first++) {
    }
    if (first < h->next && h->req[first]->sched != NULL) {
        const weft_comm_t *sub = h->comm[first];
        char what[160], legend[96] = "";
        size_t off = 0;

        weft__sched_describe(h->req[first]->sched, what, sizeof(what));
        /* the phase names ranks of its node or leaders comm: say which
         * ranks of the comm the user made they are */
        for (int i = 0; sub != NULL && i < sub->size && off < sizeof(legend);
             i++) {
            off += (size_t)snprintf(
                legend + off, sizeof(legend) - off, "%s%d", i ? "," : "",
                weft__comm_rank_of(h->parent, weft__comm_job_rank(sub, i)));
        }
        snprintf(buf, len, "phase %d of %d: %s [its ranks 0.. are ranks %s]",
                 first + 1, h->nphases, what, legend);
        return;
    }
    snprintf(buf, len, "phase %d of %d", first + 1, h->nphases);
}

static void
hier_cancel(void *state)
{
    weft__hier_t *h = state;

    hier_leave(h);
    hier_drop(h);
}

static const weft__sched_poll_ops_t hier_ops = {
    .poll = hier_poll,
    .describe = hier_describe,
    .cancel = hier_cancel,
};

void
weft__hier_start(weft__sched_t *s, weft__hier_t *h)
{
    if (weft__sched_poll(s, &hier_ops, h) >= 0) {
        h->ticket = h->parent->hier_next++; /* in call order */
        h->ticketed = 1;
    }
}

static const char *
hier_node_id(const weft_comm_t *comm, int r)
{
    return comm->ctx->peers[weft__comm_job_rank(comm, r)].topo.node_id;
}

/* The lowest comm rank on the node of r. */
static int
hier_first(const weft_comm_t *comm, int r)
{
    int f = 0;

    while (strcmp(hier_node_id(comm, f), hier_node_id(comm, r)) != 0) {
        f++;
    }
    return f;
}

void
weft__hier_locate(const weft_comm_t *comm, int r, int *node_p, int *local_p)
{
    int f = hier_first(comm, r), node = 0, local = 0;

    /* nodes are numbered in the order of their lowest ranks */
    for (int q = 0; q < f; q++) {
        node += hier_first(comm, q) == q;
    }
    for (int q = f; q < r; q++) {
        local += strcmp(hier_node_id(comm, q), hier_node_id(comm, r)) == 0;
    }
    *node_p = node;
    *local_p = local;
}

const char *
weft__hier_supported(const weft_comm_t *comm)
{
    if (!comm->hier) {
        return "cannot run this: the comm is not spread over several nodes "
               "with several ranks on one of them";
    }
    return NULL;
}

double
weft__hier_cost(const weft__cost_t *m, double rounds, double bytes,
                double node_bytes, double reduced)
{
    weft__cost_t leaders = *m;

    leaders.beta = m->link_beta; /* one rank per node on the link */
    return 3 * HIER_NODE_ALPHA + node_bytes * HIER_NODE_BETA +
           weft__cost_rounds(&leaders, rounds, bytes, reduced);
}
