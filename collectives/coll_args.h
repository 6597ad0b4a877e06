/* Checking a collective's arguments (collectives/coll_args.c). */
#ifndef WEFT_COLL_ARGS_H
#define WEFT_COLL_ARGS_H

#include "collectives/coll.h"

/* Validate a, naming fn in every message; fills a->esize and a->inplace. */
weft_status_t weft__coll_args_check(const char *fn, weft__coll_args_t *a,
                                    const weft_comm_t *comm);

#endif /* WEFT_COLL_ARGS_H */
