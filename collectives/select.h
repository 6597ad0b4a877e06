/* Choosing the algorithm of a call (collectives/select.c). */
#ifndef WEFT_SELECT_H
#define WEFT_SELECT_H

#include "collectives/algo.h"

/* The algorithm for this call: forced (weft_comm_set_algorithm, then
 * WEFT_<COLL>_ALGO), else the tuning file, else the cheapest supported one
 * by the cost model. Lock held. */
weft_status_t weft__select(const weft__coll_args_t *a, weft_comm_t *comm,
                           const weft__algo_t **algo_p);

/* Every algorithm of coll, NULL-terminated (weft-info, weft-tune, tests). */
const weft__algo_t *const *weft__algos(weft__coll_t coll);
/* By name within coll; NULL when unknown. */
const weft__algo_t *weft__algo_find(weft__coll_t coll, const char *name);

/* The tuning file's choice for a call (collectives/tuning.c): the
 * algorithm name, or NULL when no rule matches or there is no file. */
const char *weft__tuning_lookup(weft_context_t *ctx, weft__coll_t coll,
                                size_t bytes, int ranks, int nodes);

#endif /* WEFT_SELECT_H */
