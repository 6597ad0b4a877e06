/*
 * The optional progress thread (WEFT_PROGRESS_THREAD=1 or the context
 * parameter): it advances a context's nonblocking work while the caller
 * computes and calls nothing of weft.
 *
 * It is one more caller of the progress engine: it runs a round under the
 * context lock like weft_progress does, and when a round finds nothing to
 * handle it sleeps in the same armed wait as a blocked weft_wait (the
 * transports' wait fds, the store's and the context's wake fd). So a thread
 * with nothing to do costs no CPU, and on 2 cores it takes a core from the
 * computation only while messages need handling. Between rounds it lets go
 * of the lock and yields, so the caller's own weft calls are never starved.
 *
 * Who wakes it: a peer's message (its fd), new work posted by the caller
 * (weft__progress_poke from request creation and weft_pready), and
 * weft__progress_thread_stop. It alone sleeps on the fds: a caller that
 * waits long enough to block sleeps instead on a condition the thread
 * signals after each round (two threads asleep on one epoll set each get
 * only some of the wake-ups, and one may sleep through its own).
 */
#include "build_config.h"
#include "progress.h"

#include <pthread.h>
#include <sched.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "context.h"
#include "errmsg.h"
#include "log.h"
#include "req_callback.h"

/* The longest sleep between looks at the stop flag and the store. */
#define PROGRESS_THREAD_SLEEP 0.1
/* After a round that moved something, keep looking (yielding the core
 * between rounds) this long before sleeping: the answer to what was just
 * sent often comes within it, and a sleep and a wake-up cost tens of
 * microseconds each. Bounded, so a thread whose peers are busy elsewhere
 * takes at most this much CPU per event. */
#define PROGRESS_THREAD_LINGER 50e-6

static void *
progress_thread_main(void *arg)
{
    weft_context_t *ctx = arg;
    weft__progress_t *p = &ctx->progress;

    double busy_until = 0; /* keep looking until then after news */

    weft__ctx_lock(ctx);
    while (!p->thread_stop) {
        int n = weft__progress(ctx);

        if (ctx->cb_head != NULL) {
            weft__req_cb_fire(ctx);
        }
        weft__progress_round_done(ctx); /* a caller may wait on it */
        if (n > 0 || ctx->sched_news) {
            busy_until = weft__now() + PROGRESS_THREAD_LINGER;
        } else if (weft__now() >= busy_until) {
            weft__progress_sleep(ctx, weft__now() + PROGRESS_THREAD_SLEEP);
        }
        weft__ctx_unlock(ctx);
        sched_yield();
        weft__ctx_lock(ctx);
    }
    weft__ctx_unlock(ctx);
    return NULL;
}

weft_status_t
weft__progress_thread_start(weft_context_t *ctx)
{
    weft__progress_t *p = &ctx->progress;
    pthread_condattr_t ca;
    int rc;

    p->thread_stop = 0;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&p->rounds, &ca);
    pthread_condattr_destroy(&ca);
    rc = pthread_create(&p->thread, NULL, progress_thread_main, ctx);
    if (rc != 0) {
        pthread_cond_destroy(&p->rounds);
        return weft__error(WEFT_ERR_SYSTEM, WEFT_SUB_CORE,
                           "cannot start the progress thread "
                           "(WEFT_PROGRESS_THREAD): %s",
                           strerror(rc));
    }
    p->thread_on = 1;
    weft__log_info(WEFT_SUB_CORE, "progress thread started");
    return WEFT_OK;
}

void
weft__progress_thread_stop(weft_context_t *ctx)
{
    weft__progress_t *p = &ctx->progress;

    if (!p->thread_on) {
        return;
    }
    weft__ctx_lock(ctx);
    p->thread_stop = 1;
    weft__ctx_unlock(ctx);
    weft__progress_wake(ctx);
    pthread_join(p->thread, NULL);
    p->thread_on = 0;
    pthread_cond_destroy(&p->rounds);
}
