/*
 * Control messages over the data links: the first error of a
 * communicator reaches the other members over the links this rank has
 * open to them, next to the bootstrap store (src/comm.c floods both).
 *
 * Every endpoint gets a standing receive for control messages when it is
 * made (a link is open on both sides once a message went either way);
 * a rank that learns a comm's first error, from anywhere, passes it on
 * once to each member it has a link to, so ranks with no link to the
 * origin hear it through the ones that have. Messages are a fixed header
 * and the reason text, checked field by field before use; a malformed
 * one is a protocol violation by that peer.
 */
#ifndef WEFT_CTRL_H
#define WEFT_CTRL_H

#include <stdint.h>
#include <weft/status.h>

typedef struct weft_context weft_context_t;
typedef struct weft_comm weft_comm_t;
typedef struct weft__ctrl_slot weft__ctrl_slot_t;

typedef struct weft__ctrl {
    weft__ctrl_slot_t **rx;     /* [ctx size] standing receives, or NULL */
    weft__ctrl_slot_t *tx;      /* sends not yet complete */
    weft__ctrl_slot_t *arrived; /* receives complete, to apply */
    weft__ctrl_slot_t **arrived_tail;
    uint64_t sent, received; /* for the tests' and the log's eyes */
} weft__ctrl_t;

weft_status_t weft__ctrl_init(weft_context_t *ctx);

/* The endpoint to job_rank was just made: post its standing receive.
 * Lock held. */
void weft__ctrl_ep_made(weft_context_t *ctx, int job_rank);

/* Tell every member of comm with an open link (but the error's origin)
 * about comm's sticky error, with reason as its text. Lock held; never
 * from inside a transport's progress. */
void weft__ctrl_flood(weft_comm_t *comm, const char *reason);

/* Apply the control messages that arrived (after transport progress).
 * Lock held. */
void weft__ctrl_apply(weft_context_t *ctx);

/* Teardown: withdraw the standing receives before the transports close;
 * free everything once they have. Lock held. */
void weft__ctrl_withdraw(weft_context_t *ctx);
void weft__ctrl_fini(weft_context_t *ctx);

#endif /* WEFT_CTRL_H */
