/* Checking a collective's arguments (collectives/coll_args.c). */
#ifndef WEFT_COLL_ARGS_H
#define WEFT_COLL_ARGS_H

#include "collectives/coll.h"

/* Validate a, naming fn in every message; fills a->esize and a->inplace. */
weft_status_t weft__coll_args_check(const char *fn, weft__coll_args_t *a,
                                    const weft_comm_t *comm);

/* The same for a call on comm from the public API (lock held): a call
 * with the arguments of the comm's last call of that collective that
 * passed (buffers, count, dtype, op, root; v-variants never) passes
 * without the check, its esize and inplace as then. */
weft_status_t weft__coll_args_check_seen(const char *fn, weft__coll_args_t *a,
                                         weft_comm_t *comm);

#endif /* WEFT_COLL_ARGS_H */
