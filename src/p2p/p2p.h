/* Point-to-point inside the core: start a send or receive on a comm. */
#ifndef WEFT_P2P_INTERNAL_H
#define WEFT_P2P_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include "comm.h"
#include "request.h"

/* Start a send (buf is read) or a receive (buf is written) with `peer`
 * (a comm rank) under the tag (kind, tag). Lock held. Fails at once with
 * the comm's sticky error, or the peer's failure. */
weft_status_t weft__p2p_start(weft_comm_t *comm, weft__req_kind_t kind,
                              void *buf, size_t bytes, int peer,
                              unsigned tag_kind, uint32_t tag,
                              weft_request_t **req_p);

/* A blocking send or receive (weft_send, weft_recv) without a request:
 * posts a transport op on the stack and waits under the comm's deadline.
 * *got_p: the bytes sent or received. Lock held. */
weft_status_t weft__p2p_blocking(weft_comm_t *comm, weft__req_kind_t kind,
                                 void *buf, size_t bytes, int peer,
                                 uint32_t tag, size_t *got_p);

/* weft_sendrecv without requests: the receive posted first, both waited
 * for; the receive's failure is the one returned. Lock held. */
weft_status_t weft__p2p_sendrecv(weft_comm_t *comm, const void *sbuf,
                                 size_t sbytes, int dst, uint32_t stag,
                                 void *rbuf, size_t rbytes, int src,
                                 uint32_t rtag);

/* weft_last_error for a send (send = 1) or receive with peer that failed
 * with status: the comm's error when it has one, else one naming the
 * operation; nothing for success or a truncation. */
void weft__p2p_error_text(const weft_comm_t *comm, int send, int peer, int tag,
                          weft_status_t status);

/* A send or receive that did not complete within the comm's timeout:
 * fails the comm (flooded to its members) naming it. Lock held. */
void weft__p2p_timed_out(weft_comm_t *comm, int send, int peer, int tag);

#endif /* WEFT_P2P_INTERNAL_H */
