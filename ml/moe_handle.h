/*
 * The MoE handle: what a dispatch remembers of the routing, for the chunk
 * views and for combine. Internal to ml/moe_*.c.
 *
 * Send rows are ordered (chunk, destination rank, token); received rows
 * (chunk, source rank, source token). Per chunk c and rank r:
 * scount/sbase[c * nranks + r] are the rows sent to r and the first of
 * them, rcount/rbase the same for rows received from r.
 */
#ifndef WEFT_ML_MOE_HANDLE_H
#define WEFT_ML_MOE_HANDLE_H

#include <weft.h>
#include <weft/ml_moe.h>

#define MOE_NONE ((size_t)-1)
#define MOE_MAX_TOPK 64 /* slots per token: the most dispatch accepts */

struct weft_moe_handle {
    weft_comm_t *comm;
    int rank, nranks;
    size_t nexperts, nlocal, topk, hidden, esize, nchunks;
    weft_dtype_t dtype;
    size_t ntok, capacity, dropped;

    /* send side */
    size_t nsent;
    size_t *scount, *sbase; /* [nchunks][nranks] rows */
    size_t *tok_rows;       /* [ntok][topk]: send rows of each token in
                               the order its slots first name the rank,
                               MOE_NONE after the last */

    /* receive side */
    size_t nrecv;
    size_t *rcount, *rbase;        /* [nchunks][nranks] rows */
    int32_t *src_rank, *src_token; /* [nrecv] */
    int32_t *local_expert;         /* [nrecv][topk], -1: none here */
    float *weight;                 /* [nrecv][topk] */
    size_t npairs;
    size_t *pair_row;          /* [npairs] */
    int32_t *pair_expert;      /* [npairs] */
    size_t *row_pair;          /* [nrecv][topk], MOE_NONE: none */
    size_t *expert_pair_begin; /* [nchunks][nlocal + 1] */

    /* element counts and displacements of the data all-to-alls, per
     * chunk [nchunks][nranks]: live while a request uses them */
    size_t *s_el, *s_disp, *r_el, *r_disp;

    /* combine */
    void *partial;          /* [nrecv][hidden]: weighted, to the sources */
    void *back;             /* [nsent][hidden]: the dispatch's packed rows,
                               then the partials that come back */
    size_t partial_bytes, back_bytes; /* their sizes, for the cache */
    void *acc;              /* [hidden] fp32 (fp64 for FLOAT64) */
    weft_request_t **creq;  /* [nchunks] */
    unsigned char *cposted; /* [nchunks] */
    size_t arrived;         /* dispatch chunks complete: combine may use
                               their part of back */
};

/* moe_layout.c: WEFT_ERR_INVALID_ARG naming the first bad index. */
weft_status_t weft__moe_check_idx(const char *fn, const int64_t *topk_idx,
                                  size_t ntok, size_t topk, size_t nexperts);

/* moe_capacity.c: which (token, slot) assignments are kept (kept[ntok *
 * topk]); returns the number dropped. capacity MOE_NONE: dropless. */
size_t weft__moe_select(const int64_t *topk_idx, size_t ntok, size_t topk,
                        size_t nexperts, size_t capacity, unsigned char *kept);

/* moe_chunks.c: the pair lists of the received rows (after the metadata
 * has arrived). */
weft_status_t weft__moe_build_pairs(weft_moe_handle_t *h);

/* moe_buffers.c: a buffer of at least `bytes` (its size in *got_p),
 * reused when one was given back on this thread; and giving one back. */
void *weft__moe_buf_get(size_t bytes, size_t *got_p);
void weft__moe_buf_put(void *p, size_t bytes);

/* moe_convert.c: rows of a floating dtype to and from the accumulator
 * (fp32; fp64 for FLOAT64). */
int weft__moe_float_dtype(weft_dtype_t dtype);
void weft__moe_acc_zero(const weft_moe_handle_t *h, void *acc);
void weft__moe_acc_add(const weft_moe_handle_t *h, void *acc, float w,
                       const void *row);
void weft__moe_acc_store(const weft_moe_handle_t *h, const void *acc,
                         void *row);
/* dst = sum over j < n of w[j] * src[j] (w NULL: all 1), accumulated in
 * order from zero in fp32 (fp64 for FLOAT64), rounded once. */
void weft__moe_weighted_sum(const weft_moe_handle_t *h, void *dst, size_t n,
                            const void *const *src, const float *w);

#endif /* WEFT_ML_MOE_HANDLE_H */
