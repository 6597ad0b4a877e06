/*
 * The heartbeat thread (see heartbeat.h).
 */
#include "build_config.h"
#include "heartbeat.h"

#include <errno.h>
#include <string.h>
#include <time.h>

#include "context.h"
#include "log.h"

static void *
heartbeat_main(void *arg)
{
    weft_context_t *ctx = arg;
    weft__heartbeat_t *hb = &ctx->heartbeat;
    double period = ctx->cfg.heartbeat;

    pthread_mutex_lock(&hb->mu);
    while (!hb->stop) {
        struct timespec at;

        clock_gettime(CLOCK_MONOTONIC, &at);
        at.tv_sec += (time_t)period;
        at.tv_nsec += (long)((period - (double)(time_t)period) * 1e9);
        if (at.tv_nsec >= 1000000000L) {
            at.tv_sec++;
            at.tv_nsec -= 1000000000L;
        }
        while (!hb->stop &&
               pthread_cond_timedwait(&hb->cv, &hb->mu, &at) != ETIMEDOUT) {
        }
        if (!hb->stop) {
            pthread_mutex_unlock(&hb->mu);
            (void)ctx->store->ops->heartbeat(ctx->store);
            pthread_mutex_lock(&hb->mu);
        }
    }
    pthread_mutex_unlock(&hb->mu);
    return NULL;
}

void
weft__heartbeat_start(weft_context_t *ctx)
{
    weft__heartbeat_t *hb = &ctx->heartbeat;
    pthread_condattr_t ca;
    int rc;

    if (!(ctx->cfg.heartbeat > 0) || ctx->store == NULL ||
        ctx->store->ops->heartbeat == NULL || hb->running) {
        return;
    }
    /* the store answers each beat (tcp): silent for as long as it lets
     * us be, plus one period, it is out of reach */
    ctx->store->silence_s =
        ctx->cfg.heartbeat_timeout > 0
            ? ctx->cfg.heartbeat_timeout + ctx->cfg.heartbeat
            : 0;
    /* the first beat from here: the store has it before anything this
     * rank sends later, so a rank stopped before its thread ever ran is
     * still one the store watches */
    (void)ctx->store->ops->heartbeat(ctx->store);
    pthread_mutex_init(&hb->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&hb->cv, &ca);
    pthread_condattr_destroy(&ca);
    hb->stop = 0;
    rc = pthread_create(&hb->thread, NULL, heartbeat_main, ctx);
    if (rc != 0) {
        weft__log_warn(WEFT_SUB_CORE,
                       "could not start the heartbeat thread (%s): a stopped "
                       "rank will only be noticed by WEFT_TIMEOUT",
                       strerror(rc));
        pthread_cond_destroy(&hb->cv);
        pthread_mutex_destroy(&hb->mu);
        return;
    }
    hb->running = 1;
}

void
weft__heartbeat_stop(weft_context_t *ctx)
{
    weft__heartbeat_t *hb = &ctx->heartbeat;

    if (!hb->running) {
        return;
    }
    ctx->store->silence_s = 0; /* no more beats, so no more answers */
    pthread_mutex_lock(&hb->mu);
    hb->stop = 1;
    pthread_cond_signal(&hb->cv);
    pthread_mutex_unlock(&hb->mu);
    pthread_join(hb->thread, NULL);
    pthread_cond_destroy(&hb->cv);
    pthread_mutex_destroy(&hb->mu);
    hb->running = 0;
}
