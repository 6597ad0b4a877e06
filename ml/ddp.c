/*
 * DDP (weft/ml_ddp.h): registration, and a step as a state machine driven
 * by "gradient i is ready". Without a hook a bucket's partitions are
 * marked as their gradients come in (ml/ddp_part.c); with one, a bucket
 * launches once all its gradients are in and every bucket before it has
 * launched. Either way every rank starts the same reductions in the same
 * order whatever order its gradients come in.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ml/ddp_int.h"
#include "ml/ml_util.h"

double
weft__ddp_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int
ddp_floating(weft_dtype_t dt)
{
    return dt == WEFT_FLOAT16 || dt == WEFT_BFLOAT16 || dt == WEFT_FLOAT32 ||
           dt == WEFT_FLOAT64;
}

static weft_status_t
ddp_check_params(const weft_ddp_param_t *params, size_t n)
{
    WEFT_ML_ARG(n == 0 || params != NULL,
                "weft_ddp_create: params is NULL with %zu parameters", n);
    for (size_t i = 0; i < n; i++) {
        const weft_ddp_param_t *p = &params[i];

        WEFT_ML_ARG(ddp_floating(p->dtype),
                    "weft_ddp_create: params[%zu].dtype (%d) is not a "
                    "floating type (gradients are averaged)",
                    i, (int)p->dtype);
        WEFT_ML_ARG(p->grad != NULL || p->count == 0,
                    "weft_ddp_create: params[%zu].grad is NULL with %zu "
                    "elements",
                    i, p->count);
    }
    /* registered twice, or overlapping: one gradient would be averaged
     * twice */
    for (size_t i = 0; i < n; i++) {
        const char *a = params[i].grad;
        size_t la = params[i].count * weft_dtype_size(params[i].dtype);

        for (size_t j = 0; j < i && la > 0; j++) {
            const char *b = params[j].grad;
            size_t lb = params[j].count * weft_dtype_size(params[j].dtype);

            WEFT_ML_ARG(lb == 0 || a + la <= b || b + lb <= a,
                        "weft_ddp_create: params[%zu] and params[%zu] share "
                        "gradient memory (registered twice?)",
                        j, i);
        }
    }
    return WEFT_OK;
}

static weft_status_t
ddp_settings(weft_ddp_t *ddp, const weft_ddp_params_t *p)
{
    uint64_t m = p != NULL ? p->field_mask : 0;

    WEFT_ML_CHECK(
        weft_context_config_size(ddp->ctx, "DDP_BUCKET_SIZE", &ddp->cap));
    WEFT_ML_CHECK(weft_context_config_size(ddp->ctx, "DDP_FIRST_BUCKET_SIZE",
                                           &ddp->first_cap));
    ddp->rebuild = 1;
    if (m & WEFT_DDP_PARAM_BUCKET_CAP) {
        WEFT_ML_ARG(p->bucket_cap_bytes > 0,
                    "weft_ddp_create: bucket_cap_bytes is 0");
        ddp->cap = p->bucket_cap_bytes;
    }
    if (m & WEFT_DDP_PARAM_FIRST_BUCKET_CAP) {
        WEFT_ML_ARG(p->first_bucket_cap_bytes > 0,
                    "weft_ddp_create: first_bucket_cap_bytes is 0");
        ddp->first_cap = p->first_bucket_cap_bytes;
    }
    if (m & WEFT_DDP_PARAM_FIND_UNUSED) {
        WEFT_ML_ARG(p->find_unused == 0 || p->find_unused == 1,
                    "weft_ddp_create: find_unused is %d (0 or 1)",
                    p->find_unused);
        ddp->find_unused = p->find_unused;
    }
    if (m & WEFT_DDP_PARAM_REBUILD) {
        WEFT_ML_ARG(p->rebuild == 0 || p->rebuild == 1,
                    "weft_ddp_create: rebuild is %d (0 or 1)", p->rebuild);
        ddp->rebuild = p->rebuild;
    }
    if (m & WEFT_DDP_PARAM_HOOK) {
        WEFT_ML_ARG(p->hook == NULL || p->hook->launch != NULL,
                    "weft_ddp_create: the hook has no launch function");
        ddp->hook = p->hook;
    }
    return WEFT_OK;
}

static void
ddp_free(weft_ddp_t *ddp)
{
    weft__ddp_layout_free(ddp);
    free(ddp->params);
    free(ddp->bytes);
    free(ddp->bucket_of);
    free(ddp->slot_of);
    free(ddp->state);
    free(ddp->arrival);
    free(ddp->used);
    free(ddp);
}

weft_status_t
weft_ddp_create(weft_comm_t *comm, const weft_ddp_param_t *params,
                size_t nparams, const weft_ddp_params_t *p, weft_ddp_t **ddp_p)
{
    weft_ddp_t *ddp;
    size_t *order;
    size_t n1 = nparams ? nparams : 1;
    weft_status_t st;

    WEFT_ML_ARG(ddp_p != NULL, "weft_ddp_create: ddp_p is NULL");
    WEFT_ML_ARG(weft_comm_context(comm) != NULL,
                "weft_ddp_create: comm is not a live communicator");
    WEFT_ML_CHECK(ddp_check_params(params, nparams));
    ddp = calloc(1, sizeof(*ddp));
    order = malloc(n1 * sizeof(*order));
    if (ddp == NULL || order == NULL ||
        (ddp->params = malloc(n1 * sizeof(*ddp->params))) == NULL ||
        (ddp->bytes = malloc(n1 * sizeof(size_t))) == NULL ||
        (ddp->bucket_of = malloc(n1 * sizeof(size_t))) == NULL ||
        (ddp->slot_of = malloc(n1 * sizeof(size_t))) == NULL ||
        (ddp->state = calloc(n1, 1)) == NULL ||
        (ddp->arrival = malloc(n1 * sizeof(size_t))) == NULL ||
        (ddp->used = malloc(n1 * sizeof(int32_t))) == NULL) {
        free(order);
        if (ddp != NULL) {
            ddp_free(ddp);
        }
        return weft_log_error(WEFT_ERR_NO_MEMORY, WEFT_LOG_WARN, WEFT_SUB_ML,
                              "weft_ddp_create: out of memory for %zu "
                              "parameters",
                              nparams);
    }
    ddp->comm = comm;
    ddp->ctx = weft_comm_context(comm);
    ddp->nparams = nparams;
    memcpy(ddp->params, params, nparams * sizeof(*params));
    st = ddp_settings(ddp, p);
    for (size_t i = 0; i < nparams; i++) {
        ddp->bytes[i] = params[i].count * weft_dtype_size(params[i].dtype);
        order[i] = nparams - 1 - i; /* the last parameters' come first */
    }
    if (st == WEFT_OK) {
        st = weft__ddp_layout(ddp, order);
    }
    free(order);
    if (st != WEFT_OK) {
        ddp_free(ddp);
        return st;
    }
    *ddp_p = ddp;
    return WEFT_OK;
}

/* Wait for every launched bucket (a step abandoned half way, or
 * finish). The first failure is returned. */
static weft_status_t
ddp_wait_all(weft_ddp_t *ddp)
{
    weft_status_t first = WEFT_OK;

    for (size_t b = 0; b < ddp->nbuckets; b++) {
        ddp_bucket_t *k = &ddp->buckets[b];
        weft_status_t st;

        if (k->req == NULL) {
            continue;
        }
        if (k->req == k->preq && k->parts_marked < k->nparts) {
            /* a step abandoned half way (destroy): the partitions never
             * marked would keep the wait to its deadline; freeing the
             * request withdraws it */
            k->req = NULL;
            continue;
        }
        st = weft_wait(k->req);
        k->req = NULL;
        if (st == WEFT_OK && ddp->hook != NULL && ddp->hook->complete != NULL) {
            st = ddp->hook->complete(ddp->hook->state, &k->pub);
        }
        if (st != WEFT_OK && first == WEFT_OK) {
            first = st;
        }
    }
    return first;
}

void
weft_ddp_destroy(weft_ddp_t *ddp)
{
    if (ddp == NULL) {
        return;
    }
    ddp_wait_all(ddp);
    ddp_free(ddp);
}

weft_status_t
weft_ddp_begin(weft_ddp_t *ddp, int sync)
{
    WEFT_ML_ARG(ddp != NULL, "weft_ddp_begin: ddp is NULL");
    WEFT_ML_ARG(!ddp->in_step,
                "weft_ddp_begin: the step before was not finished "
                "(weft_ddp_finish)");
    WEFT_ML_ARG(sync == 0 || sync == 1, "weft_ddp_begin: sync is %d (0 or 1)",
                sync);
    if (sync && ddp->want_rebuild) {
        ddp->want_rebuild = 0;
        WEFT_ML_CHECK(weft__ddp_rebuild(ddp));
    }
    memset(ddp->state, DDP_PENDING, ddp->nparams);
    for (size_t i = 0; i < ddp->nparams; i++) {
        ddp->used[i] = 0;
    }
    for (size_t b = 0; b < ddp->nbuckets; b++) {
        ddp->buckets[b].pending = ddp->buckets[b].pub.nparams;
        ddp->buckets[b].completed_s = 0;
        weft__ddp_part_begin(&ddp->buckets[b]);
    }
    ddp->narrived = 0;
    ddp->next_launch = 0;
    ddp->step_status = WEFT_OK;
    ddp->first_ready_s = ddp->last_ready_s = ddp->first_launch_s = 0;
    ddp->sync = sync;
    ddp->in_step = 1;
    return WEFT_OK;
}

static weft_status_t
ddp_check_report(const weft_ddp_t *ddp, size_t param, const char *fn)
{
    WEFT_ML_ARG(ddp != NULL, "%s: ddp is NULL", fn);
    WEFT_ML_ARG(ddp->in_step, "%s: no step begun (weft_ddp_begin)", fn);
    WEFT_ML_ARG(param < ddp->nparams,
                "%s: parameter %zu is out of range [0, %zu)", fn, param,
                ddp->nparams);
    WEFT_ML_ARG(ddp->state[param] == DDP_PENDING,
                "%s: parameter %zu was reported already in this step", fn,
                param);
    return WEFT_OK;
}

/* Launch every bucket that is full, in order, up to the first that is
 * not. */
static weft_status_t
ddp_launch_ready(weft_ddp_t *ddp)
{
    while (ddp->next_launch < ddp->nbuckets &&
           ddp->buckets[ddp->next_launch].pending == 0) {
        if (ddp->first_launch_s == 0) {
            ddp->first_launch_s = weft__ddp_now();
        }
        WEFT_ML_CHECK(weft__ddp_launch(ddp, &ddp->buckets[ddp->next_launch]));
        ddp->next_launch++;
    }
    return WEFT_OK;
}

/* Parameter i is in (its gradient, or zeros when unused here). */
static weft_status_t
ddp_arrive(weft_ddp_t *ddp, size_t i, int used)
{
    ddp_bucket_t *k = &ddp->buckets[ddp->bucket_of[i]];
    double now = weft__ddp_now();
    size_t j = ddp->slot_of[i];

    ddp->state[i] = used ? DDP_READY : DDP_UNUSED;
    ddp->used[i] = used;
    if (!ddp->sync) {
        return WEFT_OK; /* no_sync: the caller's gradients accumulate */
    }
    ddp->arrival[ddp->narrived++] = i; /* kept for the rebuild */
    if (ddp->first_ready_s == 0) {
        ddp->first_ready_s = now;
    }
    ddp->last_ready_s = now;
    if (k->own != NULL) {
        if (used) {
            memcpy((char *)k->own +
                       k->offsets[j] * weft_dtype_size(k->pub.dtype),
                   ddp->params[i].grad, ddp->bytes[i]);
        } else {
            memset((char *)k->own +
                       k->offsets[j] * weft_dtype_size(k->pub.dtype),
                   0, ddp->bytes[i]);
        }
    }
    k->pending--;
    if (ddp->hook == NULL) {
        WEFT_ML_CHECK(weft__ddp_part_arrive(ddp, k, j));
    } else if (k->pending == 0) {
        WEFT_ML_CHECK(ddp_launch_ready(ddp));
    }
    weft_progress(ddp->ctx); /* the reductions in flight move on */
    return WEFT_OK;
}

weft_status_t
weft_ddp_grad_ready(weft_ddp_t *ddp, size_t param)
{
    WEFT_ML_CHECK(ddp_check_report(ddp, param, "weft_ddp_grad_ready"));
    return ddp_arrive(ddp, param, 1);
}

weft_status_t
weft_ddp_mark_unused(weft_ddp_t *ddp, size_t param)
{
    WEFT_ML_CHECK(ddp_check_report(ddp, param, "weft_ddp_mark_unused"));
    WEFT_ML_ARG(ddp->find_unused,
                "weft_ddp_mark_unused: parameter %zu: the DDP was made "
                "without find_unused",
                param);
    return ddp_arrive(ddp, param, 0);
}

void
weft__ddp_copy_out(weft_ddp_t *ddp, ddp_bucket_t *k, const void *res)
{
    size_t es = weft_dtype_size(k->pub.dtype);

    if (res == ddp->params[k->params[0]].grad) {
        return; /* reduced in place (a hook on the gradients themselves) */
    }
    for (size_t j = 0; j < k->pub.nparams; j++) {
        size_t i = k->params[j];

        if (ddp->find_unused && !ddp->used[i]) {
            continue;
        }
        memcpy(ddp->params[i].grad, (const char *)res + k->offsets[j] * es,
               ddp->bytes[i]);
    }
}

/* What the completions did not copy yet: every bucket after a hook, every
 * bucket with unused parameters (known only now). */
static void
ddp_copy_rest(weft_ddp_t *ddp)
{
    for (size_t b = 0; b < ddp->nbuckets; b++) {
        ddp_bucket_t *k = &ddp->buckets[b];

        if (!k->copied) {
            weft__ddp_copy_out(ddp, k, k->out != NULL ? k->out : k->pub.buffer);
        }
    }
}

static void
ddp_record_stats(weft_ddp_t *ddp, double end_s)
{
    weft_ddp_stats_t *s = &ddp->stats;
    double last_done = 0;

    for (size_t b = 0; b < ddp->nbuckets; b++) {
        if (ddp->buckets[b].completed_s > last_done) {
            last_done = ddp->buckets[b].completed_s;
        }
    }
    if (last_done == 0) {
        last_done = end_s; /* no bucket: nothing was communicated */
    }
    s->steps++;
    s->nbuckets = ddp->nbuckets;
    s->backward_compute_s = ddp->last_ready_s - ddp->first_ready_s;
    s->comm_s = ddp->nbuckets > 0 ? last_done - ddp->first_launch_s : 0;
    s->overlap_s = ddp->last_ready_s - ddp->first_launch_s;
    if (s->overlap_s > s->comm_s) {
        s->overlap_s = s->comm_s;
    }
    if (s->overlap_s < 0 || ddp->nbuckets == 0) {
        s->overlap_s = 0;
    }
    s->exposed_s = end_s - ddp->last_ready_s;
    s->first_launch_s = ddp->first_launch_s;
    s->last_ready_s = ddp->last_ready_s;
}

weft_status_t
weft_ddp_finish(weft_ddp_t *ddp)
{
    weft_status_t st;

    WEFT_ML_ARG(ddp != NULL, "weft_ddp_finish: ddp is NULL");
    WEFT_ML_ARG(ddp->in_step, "weft_ddp_finish: no step begun "
                              "(weft_ddp_begin)");
    for (size_t i = 0; i < ddp->nparams; i++) {
        WEFT_ML_ARG(ddp->state[i] != DDP_PENDING,
                    "weft_ddp_finish: parameter %zu was neither reported "
                    "ready (weft_ddp_grad_ready) nor marked unused "
                    "(weft_ddp_mark_unused)",
                    i);
    }
    ddp->in_step = 0;
    if (!ddp->sync) {
        return WEFT_OK;
    }
    st = ddp_wait_all(ddp);
    if (st == WEFT_OK && ddp->step_status != WEFT_OK) {
        /* a bucket never started: its gradients are not averaged */
        return weft_log_error(ddp->step_status, WEFT_LOG_WARN, WEFT_SUB_ML,
                              "weft_ddp_finish: a bucket's reduction did not "
                              "start in this step (%s), so the gradients "
                              "are not averaged",
                              weft_status_string(ddp->step_status));
    }
    if (st == WEFT_OK && ddp->find_unused) {
        /* used anywhere: averaged (with zeros from where it was not) */
        st = weft_allreduce(ddp->used, ddp->used, ddp->nparams, WEFT_INT32,
                            WEFT_MAX, ddp->comm);
    }
    if (st != WEFT_OK) {
        return st;
    }
    ddp_copy_rest(ddp);
    ddp_record_stats(ddp, weft__ddp_now());
    if (!ddp->synced_once) {
        ddp->synced_once = 1;
        ddp->want_rebuild = ddp->rebuild;
    }
    return WEFT_OK;
}

weft_status_t
weft_ddp_stats(const weft_ddp_t *ddp, weft_ddp_stats_t *stats_p)
{
    WEFT_ML_ARG(ddp != NULL && stats_p != NULL,
                "weft_ddp_stats: ddp or stats_p is NULL");
    *stats_p = ddp->stats;
    stats_p->nbuckets = ddp->nbuckets;
    return WEFT_OK;
}

weft_status_t
weft_ddp_bucket_info(const weft_ddp_t *ddp, size_t b,
                     weft_ddp_bucket_t *bucket_p)
{
    WEFT_ML_ARG(ddp != NULL && bucket_p != NULL,
                "weft_ddp_bucket_info: ddp or bucket_p is NULL");
    WEFT_ML_ARG(b < ddp->nbuckets,
                "weft_ddp_bucket_info: bucket %zu is out of range [0, %zu)", b,
                ddp->nbuckets);
    *bucket_p = ddp->buckets[b].pub;
    return WEFT_OK;
}
