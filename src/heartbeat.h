/*
 * The heartbeat: a thread per context that tells the bootstrap store this
 * rank is alive every WEFT_HEARTBEAT seconds, so that the store can report
 * a rank that stops (SIGSTOP, a frozen machine, a cut link) as lost to the
 * others after WEFT_HEARTBEAT_TIMEOUT of silence. A thread of its own, not
 * the progress engine: a rank computing for minutes between calls into
 * weft, or waiting for slow ranks at start-up, keeps beating, and the
 * spin path never pays for it (the thread sleeps on a condition variable
 * and writes 12 bytes to the store's socket once a beat, under the
 * store's write lock only, never the context's).
 */
#ifndef WEFT_HEARTBEAT_H
#define WEFT_HEARTBEAT_H

#include <pthread.h>

typedef struct weft_context weft_context_t;

typedef struct weft__heartbeat {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int running;
    int stop;
} weft__heartbeat_t;

/* Start beating when WEFT_HEARTBEAT > 0 and the store has heartbeats: as
 * soon as the store is connected. A thread that cannot start is a
 * warning, not an error. */
void weft__heartbeat_start(weft_context_t *ctx);
/* Stop and join. Lock NOT held (the thread takes it). */
void weft__heartbeat_stop(weft_context_t *ctx);

#endif /* WEFT_HEARTBEAT_H */
