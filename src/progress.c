/*
 * The progress engine and the wait policy (spin -> yield -> block). With
 * more ranks than cores (8 ranks on 2 cores) a busy-polling waiter steals
 * the core its peer needs, so the spin is short and the long wait sleeps
 * in epoll on the transports' fds.
 */
#include "build_config.h"
#include "progress.h"

#include <errno.h>
#include <sched.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "collectives/sched.h"
#include "context.h"
#include "errmsg.h"
#include "log.h"
#include "req_callback.h"

/* The store is polled for events (a system call) at most every
 * PROGRESS_STORE_PERIOD seconds (or the coarse clock's tick, when
 * longer), the clock looked at every this many progress calls (and on
 * every blocking round): a poll every 64 calls put a system call every
 * couple of microseconds on the spin path. */
#define PROGRESS_STORE_EVERY 64
#define PROGRESS_STORE_PERIOD 1e-3
/* A transport with no op in flight is polled every this many calls (its
 * unexpected messages and connections wait that long; its fds still wake
 * a blocked waiter). Polling tcp costs a syscall, shm a few loads. */
#define PROGRESS_IDLE_EVERY 16
/* A transport that reaches no peer of the job (tcp on one node) is polled
 * every this many calls: only outsiders knock on it, and its fds still
 * wake a blocked waiter. Polling it costs a system call on the spin path
 * (measured: 8-byte ping-pong over shm 1.6 us with tcp polled every 16th
 * call, 1.35 us without). */
#define PROGRESS_UNUSED_EVERY 1024
/* A blocked waiter wakes at least this often (ms) to look at the clock
 * and the store. */
#define PROGRESS_BLOCK_MAX_MS 100
/* A spinning waiter with one transport in flight polls it alone this many
 * times less one between whole rounds (progress_lone). */
#define PROGRESS_LONE_ROUNDS 8

weft_status_t
weft__progress_init(weft_context_t *ctx)
{
    weft__progress_t *p = &ctx->progress;

    p->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (p->epfd < 0) {
        return weft__error(WEFT_ERR_SYSTEM, WEFT_SUB_CORE,
                           "epoll_create1 failed: %m");
    }
    p->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (p->wakefd < 0) {
        weft__error(WEFT_ERR_SYSTEM, WEFT_SUB_CORE, "eventfd failed: %m");
        close(p->epfd);
        p->epfd = -1;
        return WEFT_ERR_SYSTEM;
    }
    return weft__progress_add_fd(ctx, p->wakefd);
}

void
weft__progress_fini(weft_context_t *ctx)
{
    weft__progress_t *p = &ctx->progress;

    if (p->wakefd >= 0) {
        close(p->wakefd);
        p->wakefd = -1;
    }
    if (p->epfd >= 0) {
        close(p->epfd);
        p->epfd = -1;
    }
}

weft_status_t
weft__progress_add_fd(weft_context_t *ctx, int fd)
{
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};

    if (epoll_ctl(ctx->progress.epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
        return weft__error(WEFT_ERR_SYSTEM, WEFT_SUB_CORE,
                           "epoll_ctl add fd %d failed: %m", fd);
    }
    return WEFT_OK;
}

int
weft__progress(weft_context_t *ctx)
{
    int n = 0;
    unsigned calls = ++ctx->progress.calls;
    int idle_round = calls % PROGRESS_IDLE_EVERY == 0;
    int unused_round = calls % PROGRESS_UNUSED_EVERY == 0;

    ctx->sched_pieces = 0;

    for (int i = 0; i < ctx->ntls; i++) {
        weft__ctx_tl_t *t = &ctx->tls[i];

        if (t->inflight > 0 || (t->routed > 0 ? idle_round : unused_round)) {
            n += (int)t->ops->progress(t->tl);
        }
    }
    if (ctx->sched_news || ctx->sched_polling > 0) {
        n += weft__sched_progress(ctx);
    }
    if (ctx->events != NULL) {
        weft__ctx_apply_events(ctx);
    }
    if (ctx->ctrl.arrived != NULL) {
        weft__ctrl_apply(ctx);
    }
    if (calls % PROGRESS_STORE_EVERY == 0) {
        weft__progress_store_due(ctx);
    }
    return n;
}

void
weft__progress_store_due(weft_context_t *ctx)
{
    double now = weft__now_coarse(); /* called on every collective */

    if (now >= ctx->progress.store_next) {
        ctx->progress.store_next = now + PROGRESS_STORE_PERIOD;
        weft__ctx_poll_store(ctx);
    }
}

void
weft__progress_wake(weft_context_t *ctx)
{
    uint64_t one = 1;
    ssize_t ignored = write(ctx->progress.wakefd, &one, sizeof(one));

    (void)ignored;
}

/* Tell the transports a thread is about to block (arm = 1: 1 when one
 * of them has work now) or has woken (arm = 0). One thread sleeps on the
 * fds at a time: with a progress thread, callers wait on its rounds. */
static int
progress_arm(weft_context_t *ctx, int arm)
{
    int busy = 0;

    for (int i = 0; i < ctx->ntls; i++) {
        const weft_tl_ops_t *ops = ctx->tls[i].ops;

        if (WEFT_TL_HAS_OP(ops, wait_arm)) {
            busy |= ops->wait_arm(ctx->tls[i].tl, arm);
        }
    }
    return busy;
}

static void
progress_block(weft_context_t *ctx, double deadline)
{
    struct epoll_event evs[8];
    int ms = weft__ms_until(deadline, PROGRESS_BLOCK_MAX_MS);
    int n;

    weft__ctx_unlock(ctx);
    n = epoll_wait(ctx->progress.epfd, evs, 8, ms);
    weft__ctx_lock(ctx);
    for (int i = 0; i < n; i++) {
        if (evs[i].data.fd == ctx->progress.wakefd) {
            uint64_t v;
            ssize_t ignored = read(ctx->progress.wakefd, &v, sizeof(v));

            (void)ignored;
        }
    }
    weft__ctx_poll_store(ctx);
}

/* With a progress thread: it owns the blocking wait on the fds (two
 * sleepers on one epoll set would each get only some of the wake-ups), so
 * the caller sleeps until the thread has done a round, for at most
 * PROGRESS_BLOCK_MAX_MS at a time. Its condition is listed for the thread
 * to look at before it sleeps (a peer's flag in a shared area is no
 * transport event and would not wake it), once for the whole wait: a
 * caller that poked the thread at every turn would keep both awake. */
static weft_status_t
progress_wait_thread(weft_context_t *ctx, int (*done)(void *), void *arg,
                     double deadline)
{
    weft__progress_t *p = &ctx->progress;
    weft__progress_waiter_t me = {done, arg, p->waiters};
    weft_status_t st = WEFT_OK;

    p->waiters = &me;
    weft__progress_poke(ctx); /* it may sleep having looked before */
    for (;;) {
        double until = weft__now() + PROGRESS_BLOCK_MAX_MS * 1e-3;
        struct timespec ts;

        if (until >= deadline) {
            until = deadline;
        }
        ts.tv_sec = (time_t)until; /* weft__now is CLOCK_MONOTONIC */
        ts.tv_nsec = (long)((until - (double)ts.tv_sec) * 1e9);
        p->nwaiting++;
        pthread_cond_timedwait(&p->rounds, &ctx->lock, &ts);
        p->nwaiting--;
        weft__progress(ctx);
        if (ctx->cb_head != NULL) {
            weft__req_cb_fire(ctx);
        }
        if (done(arg)) {
            break;
        }
        if (weft__now() >= deadline) {
            st = WEFT_ERR_TIMED_OUT;
            break;
        }
    }
    for (weft__progress_waiter_t **w = &p->waiters; *w != NULL;
         w = &(*w)->next) {
        if (*w == &me) {
            *w = me.next;
            break;
        }
    }
    return st;
}

/* A caller waiting on the thread's rounds has what it waits for. */
static int
progress_waiter_ready(const weft__progress_t *p)
{
    for (const weft__progress_waiter_t *w = p->waiters; w != NULL;
         w = w->next) {
        if (w->done(w->arg)) {
            return 1;
        }
    }
    return 0;
}

void
weft__progress_round_done(weft_context_t *ctx)
{
    if (ctx->progress.nwaiting > 0) {
        pthread_cond_broadcast(&ctx->progress.rounds);
    }
}

void
weft__progress_sleep(weft_context_t *ctx, double deadline)
{
    weft__progress_t *p = &ctx->progress;
    /* armed, then one more look: whatever a peer published before it
     * could see us asleep is seen now; later news wakes us */
    int busy = progress_arm(ctx, 1);
    int n = weft__progress(ctx);

    if (!busy && n == 0 && !ctx->sched_news && ctx->cb_head == NULL &&
        !p->thread_stop && !progress_waiter_ready(p)) {
        p->thread_sleeping = 1;
        progress_block(ctx, deadline);
        p->thread_sleeping = 0;
    }
    progress_arm(ctx, 0);
}

void
weft__progress_poke(weft_context_t *ctx)
{
    if (ctx->progress.thread_sleeping) {
        weft__progress_wake(ctx);
    }
}

weft_status_t
weft__progress_wait(weft_context_t *ctx, int (*done)(void *), void *arg,
                    double deadline)
{
    return weft__progress_wait_for(ctx, done, arg, deadline, 0.0);
}

/* Nothing but the transports' ops needs a round: no schedule to move,
 * no event or control message to apply, no callback to fire. */
static inline int
progress_lone_ok(const weft_context_t *ctx)
{
    return !ctx->sched_news && ctx->sched_polling == 0 && ctx->events == NULL &&
           ctx->ctrl.arrived == NULL && ctx->cb_head == NULL;
}

/* The one transport with ops in flight where nothing else needs a round
 * (progress_lone_ok), else NULL: a waiter polls it alone between whole
 * rounds. A whole round adds about 60 instructions of the core's to the
 * transport's poll, and a message that lands waits half a spin period on
 * average before it is seen (ucx over shared memory: 205 rather than 255
 * instructions a period, 8-byte latency 0.200 -> 0.195 us). */
static weft__ctx_tl_t *
progress_lone(weft_context_t *ctx)
{
    weft__ctx_tl_t *lone = NULL;

    /* ranks that share cores poll 8 rounds before they yield: as ever */
    if (!progress_lone_ok(ctx) || ctx->progress.thread_on ||
        ctx->progress.oversubscribed) {
        return NULL;
    }
    for (int i = 0; i < ctx->ntls; i++) {
        if (ctx->tls[i].inflight > 0) {
            if (lone != NULL) {
                return NULL;
            }
            lone = &ctx->tls[i];
        }
    }
    return lone;
}

weft_status_t
weft__progress_wait_for(weft_context_t *ctx, int (*done)(void *), void *arg,
                        double deadline, double timeout)
{
    double spin_end = 0;

    if (done(arg)) {
        return WEFT_OK;
    }
    /* the clock is read every 8 rounds (each with up to 7 polls of a lone
     * transport before it), the first time after 8 (a small message
     * mostly lands before): in a VM a read costs as much as a round of
     * polling */
    for (unsigned i = 1;; i++) {
        weft__ctx_tl_t *lone = progress_lone(ctx);

        if (lone != NULL) {
            /* rounds of the one transport with work in flight, and a
             * whole round every 8th time or at once when the core has
             * news (a peer's failure is applied, with its reason, before
             * the wait looks at what it failed) */
            for (unsigned k = 1; k < PROGRESS_LONE_ROUNDS; k++) {
                lone->ops->progress(lone->tl);
                if (!progress_lone_ok(ctx)) {
                    break;
                }
                if (done(arg)) {
                    return WEFT_OK;
                }
            }
        }
        weft__progress(ctx);
        if (ctx->cb_head != NULL) {
            weft__req_cb_fire(ctx);
        }
        if (done(arg)) {
            return WEFT_OK;
        }
        if (i % 8 == 0) {
            double now = weft__now();

            if (i == 8) {
                spin_end =
                    now + (ctx->progress.oversubscribed ? 0.0 : ctx->cfg.spin);
                if (timeout > 0) {
                    deadline = now + timeout;
                }
            } else if (now >= spin_end) {
                break;
            }
        }
    }

    if (ctx->progress.thread_on) {
        /* rather than yielding the core round by round, which takes it
         * from the thread doing the work as often as from a peer, sleep
         * on the thread's rounds */
        return progress_wait_thread(ctx, done, arg, deadline);
    }
    for (int i = 0; i < ctx->cfg.yield_count; i++) {
        weft__ctx_unlock(ctx);
        sched_yield();
        weft__ctx_lock(ctx);
        weft__progress(ctx);
        if (ctx->cb_head != NULL) {
            weft__req_cb_fire(ctx);
        }
        if (done(arg)) {
            return WEFT_OK;
        }
    }

    for (;;) {
        int busy;

        if (weft__now() >= deadline) {
            return WEFT_ERR_TIMED_OUT;
        }
        /* armed, then one more look: whatever a peer published before
         * it could see us asleep is seen now; later news wakes us */
        busy = progress_arm(ctx, 1);
        /* a look that moved something (a piece of a local reduction)
         * may have more to do at once: no sleep */
        busy = weft__progress(ctx) > 0 || busy;
        if (!busy && !done(arg)) {
            progress_block(ctx, deadline);
        }
        progress_arm(ctx, 0);
        weft__progress(ctx);
        if (ctx->cb_head != NULL) {
            weft__req_cb_fire(ctx);
        }
        if (done(arg)) {
            return WEFT_OK;
        }
    }
}
