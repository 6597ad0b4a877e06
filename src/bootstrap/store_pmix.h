/*
 * The pmix backend's parts shared by its two files: the store (put, get,
 * fence, allgather: store_pmix.c) and its events (abort notifications:
 * store_pmix_event.c).
 */
#ifndef WEFT_STORE_PMIX_H
#define WEFT_STORE_PMIX_H

#include <pmix.h>
#include <pthread.h>

#include "bootstrap/store.h"
#include "bootstrap/store_kv.h"

#define WEFT_STORE_PMIX_EVENTS_MAX 64

typedef struct weft__store_pmix {
    weft__store_t base;
    struct weft__store_pmix *next_live; /* every live pmix store */
    pmix_proc_t me;
    unsigned session; /* this process's stores, counted from 1 */
    weft__store_kv_t *kv; /* what this rank put (a second, different
                           * value is refused) */
    /* events: filled by PMIx's thread, emptied by poll_event */
    pthread_mutex_t ev_lock;
    weft__store_event_t events[WEFT_STORE_PMIX_EVENTS_MAX];
    int ev_head, ev_n;
    int ev_pipe[2]; /* [0] readable while events may wait */
    size_t hdlr_ref;
    int hdlr_registered;
} weft__store_pmix_t;

/* Register the abort event handler (and make ev_pipe). */
weft_status_t weft__store_pmix_event_init(weft__store_pmix_t *s);
/* Deregister it and close ev_pipe. */
void weft__store_pmix_event_fini(weft__store_pmix_t *s);
/* Queue ev here and notify every other rank of the namespace. */
weft_status_t weft__store_pmix_abort(weft__store_t *store,
                                     const weft__store_event_t *ev);
int weft__store_pmix_event_fd(weft__store_t *store);
weft_status_t weft__store_pmix_poll_event(weft__store_t *store,
                                          weft__store_event_t *ev);
/* The first queued event, left queued (for blocking calls that give up
 * when the job aborts): 1 and *ev filled, or 0. */
int weft__store_pmix_peek_event(weft__store_pmix_t *s, weft__store_event_t *ev);

#endif /* WEFT_STORE_PMIX_H */
