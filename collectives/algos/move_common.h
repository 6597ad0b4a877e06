/*
 * Data movement that several algorithms share: per-rank blocks of one
 * buffer, the binomial tree over virtual ranks, the ring and the recursive
 * doubling allgathers over such blocks, and the pairwise exchange.
 */
#ifndef WEFT_MOVE_COMMON_H
#define WEFT_MOVE_COMMON_H

#include "collectives/algo.h"

/* One block per rank in a buffer, numbered in an order of their own:
 * block v belongs to comm rank (v + shift) % n and is len[v] bytes at
 * buf + off[v]. This rank holds block me. */
typedef struct weft__blocks {
    char *buf;
    size_t *off, *len;
    int n, me, shift;
} weft__blocks_t;

/* off/len arrays for the comm's size from s's scratch (left for the
 * caller to fill); 0 when out of memory (weft__sched_start reports it). */
int weft__blocks_alloc(weft__sched_t *s, weft__blocks_t *b, void *buf, int me,
                       int shift);

/* Binomial tree over virtual ranks 0..n-1, rooted at 0: v's subtree is
 * [v, v + span) clipped to n, its parent v - span, its children v + m for
 * m = span/2, span/4, ..., 1 (those below n). Virtual 0's span is the
 * power of two >= n. */
int weft__move_span(int v, int n);
/* The comm ranks of virtual ranks [lo, hi) of that tree rooted at `root`
 * start at *first_p; returns how many come before the wrap from rank
 * n - 1 to rank 0 (hi - lo when they do not wrap). */
int weft__move_wrap(int root, int lo, int hi, int n, int *first_p);

/* Ring allgather: every block ends up everywhere; this rank's own block
 * is sent once step `ready` is done (-1: at once). Empty blocks are not
 * sent. Blocks may be anywhere in buf, with gaps that are not touched. */
void weft__move_ring(weft__sched_t *s, const weft__blocks_t *b, int ready);

/* Recursive doubling allgather, for blocks that lie back to back in block
 * order (off[v + 1] == off[v] + len[v]); any n (the ranks beyond the
 * largest power of two fold onto a partner for two extra rounds). Starts
 * after every step built before it. */
void weft__move_rdouble(weft__sched_t *s, const weft__blocks_t *b);

/* Pairwise alltoall(v) over a's scounts/sdispls/rcounts/rdispls: n - 1
 * rounds, one partner each. Fails when this rank's own send and receive
 * counts differ. */
weft_status_t weft__move_pairwise(weft__sched_t *s, const weft__coll_args_t *a);

/* weft__cost_rounds for algorithms whose partners are 2^k ranks apart:
 * their pairs cross the links of the other pairs (ring neighbours do
 * not), which the model charges as a quarter more time per byte. `copied`
 * bytes of local packing are charged like reduced ones. */
double weft__move_cost_far(const weft__cost_t *m, double rounds, double bytes,
                           double copied);

#endif /* WEFT_MOVE_COMMON_H */
