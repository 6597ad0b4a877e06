/*
 * Requests: one nonblocking operation each. A request is finished by
 * weft_wait(), by weft_test() reporting it done, or by weft_waitall(); the
 * handle is freed then and must not be used again. The exception is a
 * persistent (partitioned) request (weft/partitioned.h): finishing it
 * ends one start and leaves it inactive for the next weft_start; waiting
 * on an inactive one returns its last status at once; only
 * weft_request_free releases it.
 */
#ifndef WEFT_REQUEST_H
#define WEFT_REQUEST_H

#include <stddef.h>
#include <stdint.h>
#include <weft/version.h>
#include <weft/status.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct weft_request weft_request_t;

/* Block until the request completes (or its communicator's deadline,
 * WEFT_TIMEOUT, passes), free it and return its status. */
WEFT_API weft_status_t weft_wait(weft_request_t *req);

/* Wait for all n requests; every one is freed, even when some fail.
 * Returns WEFT_OK or the first error in array order. NULL entries are
 * skipped. */
WEFT_API weft_status_t weft_waitall(size_t n, weft_request_t **reqs);

/* Progress once and report whether the request is done. When *done_p is
 * 1 the request has been freed and the return value is its status; when
 * 0 it returns WEFT_OK and the request is still pending. */
WEFT_API weft_status_t weft_test(weft_request_t *req, int *done_p);

/* Release a request without waiting for it: a pending operation is
 * cancelled (a receive never writes its buffer afterwards; a send may or
 * may not have been delivered). Accepts NULL. */
WEFT_API void weft_request_free(weft_request_t *req);

/*
 * Completion callbacks: fn(arg, status) is called exactly once, with the
 * status weft_wait would return (an error and WEFT_ERR_ABORTED included),
 * once the request has completed. It is called from whichever thread
 * drives the context's progress then: weft_progress, a wait or test on any
 * of its requests, a blocking call on any of its communicators; at the
 * latest before weft_wait, weft_test (reporting it done), weft_waitall or
 * weft_request_free returns for the request. Registered on a request that
 * has completed already, it is called at the next of those points.
 *
 * Rules for fn: weft's lock is not held, so it may call weft's
 * nonblocking functions (weft_isend, weft_irecv, the weft_i* collectives,
 * weft_test, weft_request_on_complete, weft_comm_abort); it must not
 * block in weft (no weft_wait, weft_waitall, blocking send, receive or
 * collective) and must not finish its own request while another thread
 * waits on it. The request stays the caller's to finish as usual. One
 * callback per request: a second registration is WEFT_ERR_INVALID_ARG. A
 * callback still due when the context is destroyed is called then (the
 * status of a request that was pending is WEFT_ERR_ABORTED) and must not
 * call weft on that context.
 */
typedef void (*weft_complete_fn_t)(void *arg, weft_status_t status);
WEFT_API weft_status_t weft_request_on_complete(weft_request_t *req,
                                                weft_complete_fn_t fn,
                                                void *arg);

/*
 * What a request did and when, for overlap accounting: posted, first byte
 * moved and completed (monotonic seconds; 0 where not yet), the bytes it
 * sent and received through the transports (a node-local shared-memory
 * collective moves none that way), and the algorithm ("send", "receive",
 * or the collective's). Valid on a live request: pending, or complete and
 * not yet finished. The completion and first-byte times are kept only for
 * a request with a completion callback (read them there; registered on a
 * request complete already, the completion reads as the registration); a
 * point-to-point request's first byte is its completion (transports report
 * messages whole), and so is that of a collective that moved nothing
 * through a transport.
 */
typedef struct weft_request_stats {
    double posted_s, first_byte_s, completed_s;
    uint64_t bytes_sent, bytes_received;
    const char *algorithm; /* static string */
} weft_request_stats_t;
WEFT_API weft_status_t weft_request_stats(const weft_request_t *req,
                                          weft_request_stats_t *stats_p);

#ifdef __cplusplus
}
#endif

#endif /* WEFT_REQUEST_H */
