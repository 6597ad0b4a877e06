/* Every algorithm descriptor (one file each, in this folder). */
#ifndef WEFT_ALGOS_H
#define WEFT_ALGOS_H

#include "collectives/algo.h"

extern const weft__algo_t weft__algo_allreduce_recursive_doubling;
extern const weft__algo_t weft__algo_allreduce_rabenseifner;
extern const weft__algo_t weft__algo_allreduce_ring;
extern const weft__algo_t weft__algo_reduce_binomial;
extern const weft__algo_t weft__algo_reduce_rs_gather;
extern const weft__algo_t weft__algo_broadcast_binomial;
extern const weft__algo_t weft__algo_broadcast_scatter_allgather;
extern const weft__algo_t weft__algo_broadcast_chain;
extern const weft__algo_t weft__algo_allgather_recursive_doubling;
extern const weft__algo_t weft__algo_allgather_bruck;
extern const weft__algo_t weft__algo_allgather_ring;
extern const weft__algo_t weft__algo_allgatherv_recursive_doubling;
extern const weft__algo_t weft__algo_allgatherv_ring;
extern const weft__algo_t weft__algo_reduce_scatter_recursive_halving;
extern const weft__algo_t weft__algo_reduce_scatter_ring;
extern const weft__algo_t weft__algo_reduce_scatter_v_ring;
extern const weft__algo_t weft__algo_alltoall_bruck;
extern const weft__algo_t weft__algo_alltoall_pairwise;
extern const weft__algo_t weft__algo_alltoallv_pairwise;
extern const weft__algo_t weft__algo_gather_binomial;
extern const weft__algo_t weft__algo_scatter_binomial;
extern const weft__algo_t weft__algo_barrier_dissemination;
/* node-local: shared memory (collectives/shm_area.h) */
extern const weft__algo_t weft__algo_allreduce_shm;
extern const weft__algo_t weft__algo_broadcast_shm;
extern const weft__algo_t weft__algo_allgather_shm;
extern const weft__algo_t weft__algo_reduce_scatter_shm;
extern const weft__algo_t weft__algo_alltoall_shm;
extern const weft__algo_t weft__algo_alltoallv_shm;
extern const weft__algo_t weft__algo_barrier_shm;
/* node-aware: node comms and leaders (collectives/algos/hier_common.h) */
extern const weft__algo_t weft__algo_allreduce_hier;
extern const weft__algo_t weft__algo_broadcast_hier;
extern const weft__algo_t weft__algo_allgather_hier;
extern const weft__algo_t weft__algo_alltoall_hier;

#endif /* WEFT_ALGOS_H */
