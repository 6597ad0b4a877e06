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

#endif /* WEFT_P2P_INTERNAL_H */
