/*
 * The progress engine: polls every transport, applies deferred events
 * (peers lost, store events), and implements the wait policy: spin for
 * WEFT_SPIN, then sched_yield WEFT_YIELD_COUNT times, then block on the
 * transports' wait fds (one epoll set) until the condition holds or the
 * deadline passes. The context lock is held by the caller and released
 * around sched_yield and the blocking wait.
 */
#ifndef WEFT_PROGRESS_H
#define WEFT_PROGRESS_H

#include <pthread.h>
#include <weft/status.h>

typedef struct weft_context weft_context_t;

typedef struct weft__progress {
    int epfd;     /* transports' wait fds + store event fd + wakefd */
    int wakefd;   /* eventfd: wakes a blocked waiter */
    unsigned calls; /* store polled every few calls */
    double store_next;  /* ... and no sooner than this (monotonic s) */
    int oversubscribed; /* more ranks on this node than cores: no spinning */
    /* the progress thread (progress_thread.c) */
    pthread_t thread;
    int thread_on;
    int thread_stop;     /* lock held to change it */
    int thread_sleeping; /* it sleeps: new work must wake it */
    pthread_cond_t rounds; /* it finished a round (CLOCK_MONOTONIC) */
    int nwaiting;          /* callers waiting for that */
    /* what those callers wait for: the thread looks at it before it
     * sleeps, since a condition such as a peer's flag in a shared area
     * is no transport event and would not wake it */
    struct weft__progress_waiter *waiters;
} weft__progress_t;

typedef struct weft__progress_waiter {
    int (*done)(void *);
    void *arg;
    struct weft__progress_waiter *next;
} weft__progress_waiter_t;

weft_status_t weft__progress_init(weft_context_t *ctx);
void weft__progress_fini(weft_context_t *ctx);
/* Add an fd to the blocking set (EPOLLIN). */
weft_status_t weft__progress_add_fd(weft_context_t *ctx, int fd);

/* One round: every transport, then deferred events. Lock held. */
int weft__progress(weft_context_t *ctx);

/* Wait until done(arg) returns nonzero or the deadline passes
 * (WEFT_ERR_TIMED_OUT). Lock held on entry and exit. */
weft_status_t weft__progress_wait(weft_context_t *ctx, int (*done)(void *),
                                  void *arg, double deadline);
/* The same with the deadline `timeout` seconds from the first look at the
 * clock when timeout > 0 (deadline is then ignored): a wait that ends at
 * once reads no clock. */
weft_status_t weft__progress_wait_for(weft_context_t *ctx, int (*done)(void *),
                                      void *arg, double deadline,
                                      double timeout);

/* The progress thread's sleep: arm the transports, take one more look
 * and sleep until something happens, new work pokes it awake or the
 * deadline (at most PROGRESS_BLOCK_MAX_MS). Lock held. */
void weft__progress_sleep(weft_context_t *ctx, double deadline);
/* The progress thread finished a round: wake the callers waiting on it
 * (with a progress thread they sleep on a condition, not on the fds). */
void weft__progress_round_done(weft_context_t *ctx);
/* New work was posted (lock held): wake the progress thread if it sleeps. */
void weft__progress_poke(weft_context_t *ctx);
/* The progress thread (WEFT_PROGRESS_THREAD): start it (lock not held;
 * the context is ready), stop and join it (lock not held). */
weft_status_t weft__progress_thread_start(weft_context_t *ctx);
void weft__progress_thread_stop(weft_context_t *ctx);

/* Poll the bootstrap store for events (aborts, lost ranks) when the last
 * poll is older than its period: at the start of a collective, so that a
 * rank that was away from weft learns of an error before it starts. */
void weft__progress_store_due(weft_context_t *ctx);
/* Wake a thread blocked in weft__progress_wait or the progress thread
 * (any thread, no lock). */
void weft__progress_wake(weft_context_t *ctx);

#endif /* WEFT_PROGRESS_H */
