/*
 * weft: a message-passing runtime and collectives library.
 *
 * This umbrella header pulls in the public API. Every call returns a
 * weft_status_t (WEFT_OK = 0; negative = error); outputs are the last
 * arguments, carry a _p suffix and are written only on success.
 *
 *     weft_context_t *ctx;
 *     weft_comm_t *world;
 *     weft_context_create(NULL, &ctx);        // from the environment (weftrun)
 *     weft_comm_world(ctx, &world);
 *     int me = weft_comm_rank(world), n = weft_comm_size(world);
 *     weft_sendrecv(out, len, (me + 1) % n, 0, in, len, (me + n - 1) % n, 0,
 *                   world);
 *     weft_context_destroy(ctx);
 */
#ifndef WEFT_H
#define WEFT_H

#include <weft/version.h>
#include <weft/status.h>
#include <weft/types.h>
#include <weft/log.h>
#include <weft/context.h>
#include <weft/comm.h>
#include <weft/request.h>
#include <weft/p2p.h>
#include <weft/coll.h>
#include <weft/partitioned.h>

#endif /* WEFT_H */
