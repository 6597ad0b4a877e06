/*
 * Completion callbacks of requests (weft_request_on_complete). A request
 * that completes queues its callback on the context; the queue is fired
 * without the context's lock at the progress points (weft_progress, the
 * waits of weft__progress_wait, and weft_wait / weft_test / weft_waitall /
 * weft_request_free before they return), so a callback may call weft's
 * nonblocking functions, and fires exactly once.
 */
#ifndef WEFT_REQ_CALLBACK_H
#define WEFT_REQ_CALLBACK_H

#include <weft/request.h>

typedef struct weft_context weft_context_t;

typedef struct weft__req_cb {
    weft_complete_fn_t fn;
    void *arg;
    weft_status_t status;
    weft_request_t *req; /* NULL once the callback itself finished it */
    struct weft__req_cb *next;
} weft__req_cb_t;

/* The request completed with status: queue its callback, if it has one.
 * Lock held (also from inside a transport's progress). */
void weft__req_cb_queue(weft_request_t *req, weft_status_t status);

/* Call every queued callback, the lock released around each. Lock held
 * on entry and on return. */
void weft__req_cb_fire(weft_context_t *ctx);

/* The request is about to be released while its callback runs (another
 * thread fired it: the progress thread, or a caller's progress): wait
 * until the callback has returned, so that weft_wait and the others
 * return after it, as promised. Called by the callback's own thread (it
 * finishes its own request), it only forgets the request. Lock held. */
void weft__req_cb_settle(weft_request_t *req);

#endif /* WEFT_REQ_CALLBACK_H */
