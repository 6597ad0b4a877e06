/*
 * weft_context_params_t: the fields a framework that launches its own
 * ranks sets, checked and laid over the configuration.
 */
#include "build_config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "context.h"
#include "errmsg.h"

weft_status_t
weft__ctx_params_apply(const weft_context_params_t *params, weft_config_t *cfg,
                       int *explicit_p)
{
    const uint64_t known =
        WEFT_CONTEXT_PARAM_RANK | WEFT_CONTEXT_PARAM_SIZE |
        WEFT_CONTEXT_PARAM_RENDEZVOUS | WEFT_CONTEXT_PARAM_JOB_KEY |
        WEFT_CONTEXT_PARAM_TIMEOUT | WEFT_CONTEXT_PARAM_PROGRESS_THREAD |
        WEFT_CONTEXT_PARAM_THREADS;
    uint64_t m;

    *explicit_p = 0;
    if (params == NULL) {
        return WEFT_OK;
    }
    m = params->field_mask;
    WEFT_ARG_CHECK((m & ~known) == 0,
                   "weft_context_create: unknown bits 0x%llx in "
                   "params->field_mask",
                   (unsigned long long)(m & ~known));
    if (m & WEFT_CONTEXT_PARAM_SIZE) {
        WEFT_ARG_CHECK(params->size >= 1,
                       "weft_context_create: params->size %d < 1",
                       params->size);
        cfg->size = params->size;
    }
    if (m & WEFT_CONTEXT_PARAM_RANK) {
        WEFT_ARG_CHECK(params->rank >= 0,
                       "weft_context_create: params->rank %d < 0",
                       params->rank);
        cfg->rank = params->rank;
    }
    if (m & WEFT_CONTEXT_PARAM_RENDEZVOUS) {
        char *copy;

        WEFT_ARG_CHECK(params->rendezvous != NULL &&
                           params->rendezvous[0] != '\0',
                       "weft_context_create: params->rendezvous is empty");
        copy = strdup(params->rendezvous);
        WEFT_ARG_CHECK(copy != NULL, "weft_context_create: out of memory");
        free(cfg->rendezvous);
        cfg->rendezvous = copy;
        *explicit_p = 1;
    }
    if (m & WEFT_CONTEXT_PARAM_JOB_KEY) {
        char *copy;

        WEFT_ARG_CHECK(params->job_key != NULL,
                       "weft_context_create: params->job_key is NULL");
        copy = strdup(params->job_key);
        WEFT_ARG_CHECK(copy != NULL, "weft_context_create: out of memory");
        free(cfg->job_key);
        cfg->job_key = copy;
    }
    if (m & WEFT_CONTEXT_PARAM_TIMEOUT) {
        WEFT_ARG_CHECK(params->timeout_s > 0 && isfinite(params->timeout_s),
                       "weft_context_create: params->timeout_s %g is not a "
                       "positive number of seconds",
                       params->timeout_s);
        cfg->timeout = params->timeout_s;
    }
    if (m & WEFT_CONTEXT_PARAM_PROGRESS_THREAD) {
        WEFT_ARG_CHECK(params->progress_thread == 0 ||
                           params->progress_thread == 1,
                       "weft_context_create: params->progress_thread %d is "
                       "not 0 or 1",
                       params->progress_thread);
        cfg->progress_thread = params->progress_thread;
    }
    if (m & WEFT_CONTEXT_PARAM_THREADS) {
        WEFT_ARG_CHECK(params->threads == WEFT_THREAD_MULTIPLE ||
                           params->threads == WEFT_THREAD_SERIALIZED,
                       "weft_context_create: params->threads %d is not "
                       "WEFT_THREAD_MULTIPLE (0) or WEFT_THREAD_SERIALIZED (1)",
                       params->threads);
        cfg->threads = params->threads;
    }
    return WEFT_OK;
}

weft_status_t
weft__ctx_threads_check(const weft_config_t *cfg)
{
    WEFT_ARG_CHECK(cfg->threads != WEFT_THREAD_SERIALIZED ||
                       !cfg->progress_thread,
                   "weft_context_create: a progress thread calls into the "
                   "context beside the caller, which needs WEFT_THREADS="
                   "multiple (the threads param WEFT_THREAD_MULTIPLE); it is "
                   "serialized");
    return WEFT_OK;
}

weft_status_t
weft_context_config_size(const weft_context_t *ctx, const char *name,
                         size_t *value_p)
{
    const weft_param_t *p;

    WEFT_CHECK(weft__ctx_check(ctx, "weft_context_config_size"));
    WEFT_ARG_CHECK(name != NULL && value_p != NULL,
                   "weft_context_config_size: name or value_p is NULL");
    p = weft__config_find(name);
    WEFT_ARG_CHECK(p != NULL && p->type == WEFT_PARAM_SIZE,
                   "weft_context_config_size: WEFT_%s is no size variable",
                   name);
    *value_p = *(const size_t *)((const char *)&ctx->cfg + p->offset);
    return WEFT_OK;
}

weft_status_t
weft_context_threads(const weft_context_t *ctx, weft_thread_mode_t *mode_p)
{
    WEFT_CHECK(weft__ctx_check(ctx, "weft_context_threads"));
    WEFT_ARG_CHECK(mode_p != NULL, "weft_context_threads: mode_p is NULL");
    *mode_p = (weft_thread_mode_t)ctx->cfg.threads;
    return WEFT_OK;
}
