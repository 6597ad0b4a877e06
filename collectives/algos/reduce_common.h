/*
 * Pieces the reducing algorithms share: the non-power-of-two fold,
 * recursive halving over the survivors of the fold, and a pipelined ring
 * reduce-scatter over arbitrary blocks.
 */
#ifndef WEFT_REDUCE_COMMON_H
#define WEFT_REDUCE_COMMON_H

#include <stddef.h>
#include "collectives/algo.h"

/*
 * The fold: with p2 the largest power of two <= n and rem = n - p2, the
 * first 2 * rem ranks pair up and each odd one hands its data to the even
 * one below it. The p2 survivors (the even ranks of the pairs, then every
 * rank from 2 * rem on) are numbered 0 .. p2 - 1 in rank order.
 */
typedef struct weft__fold {
    int p2, rem;
    int newrank; /* among the survivors; -1 for a folded (odd) rank */
    int partner; /* the other rank of this rank's pair, -1 if unpaired */
} weft__fold_t;

void weft__fold_init(weft__fold_t *f, int n, int rank);
/* The rank of survivor nr; also the first of the ranks it stands for
 * (nr stands for ranks [weft__fold_rank(nr), weft__fold_rank(nr + 1))). */
int weft__fold_rank(const weft__fold_t *f, int nr);
/* A folded rank sends input (count elements) to its partner, which reduces
 * it into acc: acc = input (op) partner's input. A no-op for an unpaired
 * rank. The caller fences before using acc. */
void weft__fold_in(weft__sched_t *s, const weft__fold_t *f, const void *input,
                   void *acc, size_t count, size_t esize);

/*
 * Recursive halving among the survivors. Survivor i owns elements
 * [bounds[i], bounds[i + 1]) (bounds has p2 + 1 entries). Before the first
 * round the data is at src (the full layout: element e at src + e * esize);
 * partial sums go to acc, which holds element e at acc + (e - acc_off) *
 * esize and must cover what this rank keeps in the first round. At the end
 * acc holds the full reduction of the rank's own part.
 */
typedef struct weft__halving {
    const weft__fold_t *f;
    const size_t *bounds;
    const char *src;
    char *acc;
    size_t acc_off;
    size_t esize;
} weft__halving_t;

/* Elements [*lo_p, *hi_p) the survivor keeps in the first round. */
void weft__halving_first(const weft__halving_t *h, size_t *lo_p, size_t *hi_p);
/* Build the rounds (ordered by dependencies; fence before reading acc). */
void weft__halving_build(weft__sched_t *s, const weft__halving_t *h);

/*
 * Ring reduce-scatter over n > 1 ranks, blocks at off[b] with len[b]
 * elements of input, cut into chunks of `chunk` bytes that each move as
 * soon as their data is ready. The rank's reduced block goes to out; with
 * out NULL it stays in scratch; with staged set (out overlaps the input
 * somewhere other than the rank's own block) it is built in scratch and
 * copied to out after a fence. Returns where the block is (NULL when out of
 * memory, which weft__sched_start reports).
 */
typedef struct weft__rs_ring {
    const char *input;
    const size_t *off, *len;
    void *out;
    int staged;
    size_t esize, chunk;
} weft__rs_ring_t;

void *weft__rs_ring_build(weft__sched_t *s, const weft__rs_ring_t *g);

#endif /* WEFT_REDUCE_COMMON_H */
