/*
 * Requests: one nonblocking operation each. A request is finished by
 * weft_wait(), by weft_test() reporting it done, or by weft_waitall(); the
 * handle is freed then and must not be used again.
 */
#ifndef WEFT_REQUEST_H
#define WEFT_REQUEST_H

#include <stddef.h>
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

#ifdef __cplusplus
}
#endif

#endif /* WEFT_REQUEST_H */
