/*
 * The two-rank node-local partitioned allreduce (one node-local call for
 * every partition of a start; collectives/algos/allreduce_shm_part.c).
 * Lock held for all of it.
 */
#ifndef WEFT_COLL_PART_SHM_H
#define WEFT_COLL_PART_SHM_H

#include <stddef.h>
#include <stdint.h>
#include <weft/status.h>

#include "collectives/coll.h"

typedef struct weft__sched weft__sched_t;
typedef struct weft__part_shm weft__part_shm_t;

/* 1 when a partitioned call (its partitions' algorithm `algo`) runs as
 * one node-local call on comm, the same on every rank. */
int weft__part_shm_fits(const weft__coll_args_t *whole, size_t nparts,
                        const weft_comm_t *comm, const char *algo);
/* The schedule of one start, and its state: ready[i] is this rank's mark
 * of partition i (read, never written; valid while the start lasts). */
weft_status_t weft__part_shm_prepare(weft_comm_t *comm,
                                     const weft__coll_args_t *whole,
                                     size_t nparts, const uint8_t *ready,
                                     weft__sched_t **s_p,
                                     weft__part_shm_t **pp_p);
/* Partitions first..last were marked ready here: tell the peer. */
void weft__part_shm_ready(weft__part_shm_t *pp, size_t first, size_t last);
/* Partition i's result is in place. */
int weft__part_shm_arrived(const weft__part_shm_t *pp, size_t i);

#endif /* WEFT_COLL_PART_SHM_H */
