/*
 * Communicators: ordered groups of ranks. Messages on one communicator
 * never match receives on another.
 *
 * Failure model: fail-stop per communicator. The first fatal error on a
 * communicator (a peer lost, a timeout, an abort here or on a peer)
 * becomes sticky: every pending and later operation on it returns that
 * error, and weft_comm_error() tells where it came from. Recovery is to
 * destroy the communicator and create a new one from a healthy parent.
 */
#ifndef WEFT_COMM_H
#define WEFT_COMM_H

#include <weft/version.h>
#include <weft/status.h>
#include <weft/context.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct weft_comm weft_comm_t;

/* The communicator of every rank in the job. It belongs to the context
 * (weft_comm_destroy refuses it); every call returns the same handle. */
WEFT_API weft_status_t weft_comm_world(weft_context_t *ctx,
                                       weft_comm_t **comm_p);

/*
 * Collective over `comm`: ranks that pass the same color form a new
 * communicator, ordered by key, ties broken by their rank in `comm`.
 * color < 0 means "not in any new communicator": *newcomm_p is set to
 * NULL and the call still succeeds. Every rank of `comm` must call it.
 */
WEFT_API weft_status_t weft_comm_split(weft_comm_t *comm, int color, int key,
                                       weft_comm_t **newcomm_p);

/* Collective: a new communicator with the same ranks in the same order. */
WEFT_API weft_status_t weft_comm_dup(weft_comm_t *comm,
                                     weft_comm_t **newcomm_p);

/* Free a communicator made by split or dup. Every member should call it;
 * it does not wait for the others. Fails with WEFT_ERR_INVALID_ARG while
 * requests on it are pending, and for the world communicator. */
WEFT_API weft_status_t weft_comm_destroy(weft_comm_t *comm);

/*
 * Make `reason` (a negative status; WEFT_ERR_ABORTED when unsure) the
 * sticky error of the communicator here and tell the other ranks of the
 * communicator through the bootstrap store. Pending requests complete
 * with it. Returns WEFT_OK once the error is recorded.
 */
WEFT_API weft_status_t weft_comm_abort(weft_comm_t *comm,
                                       weft_status_t reason);

/*
 * The deadline of every blocking operation on this communicator, in
 * seconds, in place of the context's (WEFT_TIMEOUT or
 * weft_context_params_t.timeout_s); 0 restores the context's. Passing it
 * is fatal to the communicator, as with WEFT_TIMEOUT. Local (each rank
 * sets its own); communicators split or duplicated from this one later
 * start with the same deadline.
 */
WEFT_API weft_status_t weft_comm_set_timeout(weft_comm_t *comm,
                                             double timeout_s);

/* Rank of this process in the communicator and its size (-1 for NULL). */
WEFT_API int weft_comm_rank(const weft_comm_t *comm);
WEFT_API int weft_comm_size(const weft_comm_t *comm);
/* The context the communicator belongs to (NULL for NULL or a destroyed
 * communicator). */
WEFT_API weft_context_t *weft_comm_context(const weft_comm_t *comm);

/*
 * The sticky error of the communicator: returns it (WEFT_OK when there is
 * none) and always writes both outputs when they are not NULL: the rank
 * (in this communicator, -1 if unknown or outside it) where the error
 * started and a message that explains it ("" when there is none). The
 * message stays valid until the communicator is destroyed.
 */
WEFT_API weft_status_t weft_comm_error(const weft_comm_t *comm,
                                       int *origin_rank_p,
                                       const char **message_p);

#ifdef __cplusplus
}
#endif

#endif /* WEFT_COMM_H */
