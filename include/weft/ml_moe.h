/*
 * Mixture-of-experts dispatch and combine (expert parallelism): each rank
 * holds nexperts / nranks experts (expert e lives on rank e / E_local);
 * each token picks topk experts (the caller's gate); dispatch sends every
 * token's row once to each rank that holds one of its experts, however
 * many of its experts live there; the caller runs its experts on the
 * received rows; combine sends the gate-weighted expert outputs back and
 * sums them in token order.
 *
 * Two modes:
 *   dropless (DeepEP): every (token, slot) is delivered;
 *   capacity (GShard, DeepSpeed, Tutel): each rank lets at most C of its
 *     own (token, slot) assignments into each expert, first slots first
 *     (all tokens' first choices in token order, then all second choices,
 *     ...); the rest are dropped (they add nothing to the output: the
 *     residual connection carries them). C follows DeepSpeed's or Tutel's
 *     formula (weft_moe_capacity) from the rank's own token count, or is
 *     given. Only the kept rows travel (no padding on the wire).
 *
 * Chunks: with chunks = C > 1 each rank's tokens are split into C
 * contiguous ranges, exchanged by C nonblocking all-to-alls posted at
 * once; the caller's function runs on chunk c as soon as it has arrived,
 * while later chunks are still moving, and may post chunk c's combine at
 * once (weft_moe_combine_chunk). On a CPU the transfers advance during
 * the caller's compute only with weft's progress thread
 * (WEFT_PROGRESS_THREAD=1) or when the compute calls weft_progress.
 *
 * Received rows are ordered by chunk, then source rank, then the source's
 * token order. The expert side works on "pairs": one per (received row,
 * slot whose expert lives here); in each chunk pairs are grouped by local
 * expert, rows in order within an expert (weft_moe_chunk_t), so an expert
 * reads its rows with one gather and writes its outputs contiguously.
 *
 * Combine, fixed order: on the expert rank, in fp32 (fp64 for FLOAT64),
 * partial = sum over the row's local slots in slot order of
 * weight * output; the partial is rounded to the dtype and sent back; the
 * source adds the partials of a token in the order its slots first name
 * their ranks, in fp32, and rounds once. For topk <= 2 this is exactly
 * sum_j weight_j * output_j in slot order.
 *
 * Memory: the module keeps up to 4 of its row buffers per thread after a
 * handle is destroyed, for the next dispatch (a fresh buffer of tens of
 * MiB costs a page fault per page); they live until the process ends.
 *
 * Collective rules: every rank of comm calls dispatch, combine (and
 * combine_chunk for the same chunks) in the same order with the same
 * nexperts, topk, hidden, dtype and chunks (checked: a rank that differs
 * gets WEFT_ERR_INVALID_ARG naming the field on every rank). A rank that
 * refuses its own dispatch (bad data, a NULL buffer, no memory) still
 * takes part in the count exchange, saying so: it returns its own error,
 * every other rank WEFT_ERR_INVALID_ARG naming it, at once. Only a NULL
 * comm, and errors of combine, stay local as in MPI: the other ranks wait
 * until the communicator's deadline. So a rank that will not call combine
 * after a dispatch the others completed (its expert compute failed, say)
 * should call weft_comm_abort(comm, WEFT_ERR_ABORTED): the others' combine
 * then returns WEFT_ERR_ABORTED at once (the ring attention kernels and
 * the DDP hooks do this themselves).
 */
#ifndef WEFT_ML_MOE_H
#define WEFT_ML_MOE_H

#include <stddef.h>
#include <stdint.h>
#include <weft/comm.h>
#include <weft/status.h>
#include <weft/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Routing counts, a pure function. topk_idx is [ntok][topk] global expert
 * numbers, -1 meaning "no expert" for that slot. Writes each output that
 * is not NULL:
 *   tokens_per_expert[nexperts]: (token, slot) assignments per expert;
 *   tokens_per_rank[nranks]: tokens with at least one expert on the rank
 *     (a token counts once per rank);
 *   token_in_rank[ntok][nranks]: 1 when the token goes to the rank.
 * WEFT_ERR_INVALID_ARG for topk_idx NULL with ntok > 0, topk, nexperts
 * or nranks 0, nexperts not a multiple of nranks, and an index outside
 * [0, nexperts) other than -1 (named with its position).
 */
typedef struct weft_moe_layout {
    size_t *tokens_per_rank;
    size_t *tokens_per_expert;
    uint8_t *token_in_rank;
} weft_moe_layout_t;

WEFT_API weft_status_t weft_moe_layout(const int64_t *topk_idx, size_t ntok,
                                       size_t topk, size_t nexperts, int nranks,
                                       weft_moe_layout_t *layout);

typedef enum weft_moe_mode {
    WEFT_MOE_DROPLESS = 0,
    WEFT_MOE_CAPACITY = 1
} weft_moe_mode_t;

typedef enum weft_moe_capacity_rule {
    /* DeepSpeed sharded_moe: C = max(ceil(ntok / nexperts * topk * cf),
     * min_capacity) */
    WEFT_MOE_CAPACITY_DEEPSPEED = 0,
    /* Tutel: C = topk * floor(cf * ceil(ntok / nexperts)), rounded up to a
     * multiple of alignment */
    WEFT_MOE_CAPACITY_TUTEL = 1
} weft_moe_capacity_rule_t;

/* Bits of weft_moe_params_t.field_mask: optional fields that are set
 * (nexperts, topk, hidden and dtype are always read). */
enum {
    WEFT_MOE_PARAM_MODE = 1u << 0,            /* default dropless */
    WEFT_MOE_PARAM_CAPACITY_RULE = 1u << 1,   /* default DeepSpeed */
    WEFT_MOE_PARAM_CAPACITY_FACTOR = 1u << 2, /* default 1.0 */
    WEFT_MOE_PARAM_MIN_CAPACITY = 1u << 3,    /* default 4 (DeepSpeed) */
    WEFT_MOE_PARAM_ALIGNMENT = 1u << 4,       /* default 1 (Tutel) */
    WEFT_MOE_PARAM_CAPACITY = 1u << 5,        /* default: the formula */
    WEFT_MOE_PARAM_CHUNKS = 1u << 6           /* default 1 */
};

typedef struct weft_moe_params {
    uint64_t field_mask; /* WEFT_MOE_PARAM_* bits of the set fields */
    size_t nexperts;     /* global experts, a multiple of the ranks */
    size_t topk;         /* slots per token, 1 to 64 */
    size_t hidden;       /* elements per token row, >= 1 */
    weft_dtype_t dtype;  /* of the rows */
    weft_moe_mode_t mode;
    weft_moe_capacity_rule_t capacity_rule;
    double capacity_factor; /* > 0 in capacity mode */
    size_t min_capacity;    /* DeepSpeed's lower bound */
    size_t alignment;       /* Tutel's rounding of C, >= 1 */
    size_t capacity;        /* > 0: use this C instead of the formula */
    size_t chunks;          /* pipeline chunks, >= 1 */
} weft_moe_params_t;        /* new fields are only ever appended */

/* C of capacity mode for a rank with ntok tokens (the formula of
 * params->capacity_rule, or params->capacity when set). A pure function;
 * WEFT_ERR_INVALID_ARG for a capacity_factor <= 0 or alignment 0. */
WEFT_API weft_status_t weft_moe_capacity(const weft_moe_params_t *params,
                                         size_t ntok, size_t *capacity_p);

typedef struct weft_moe_handle weft_moe_handle_t;

/* One chunk of received rows, as handed to the caller's expert code.
 * Pair p (pair_begin <= p < pair_end) is row pair_row[p] of recv_x for
 * local expert pair_expert[p]; the pairs of local expert e are
 * [expert_pair_begin[e], expert_pair_begin[e + 1]). The pointers stay
 * valid until the handle is destroyed. */
typedef struct weft_moe_chunk {
    size_t index;                    /* chunk number */
    size_t row_begin, row_end;       /* its rows of recv_x */
    size_t pair_begin, pair_end;     /* its pairs */
    const size_t *expert_pair_begin; /* [nlocal_experts + 1] */
    const size_t *pair_row;          /* indexed by pair, whole handle */
    const int32_t *pair_expert;      /* local expert of each pair */
} weft_moe_chunk_t;

/* The caller's expert compute for one chunk; called on the thread that
 * called dispatch, chunks in order. A status other than WEFT_OK stops
 * the calls; dispatch still completes the exchange, then returns it. */
typedef weft_status_t (*weft_moe_chunk_fn_t)(void *arg,
                                             weft_moe_handle_t *handle,
                                             const weft_moe_chunk_t *chunk);

/*
 * Dispatch (collective over comm). x is [ntok][hidden] of dtype (NULL
 * only with ntok 0), topk_idx [ntok][topk] global experts or -1,
 * topk_w [ntok][topk] gate weights (NULL: all 1). Received rows go to
 * recv_x, room for recv_cap rows. fn (may be NULL) runs on each chunk as
 * it arrives. *handle_p remembers the routing for combine.
 *
 * *needed_p (when not NULL) gets the number of rows this rank receives,
 * on success and on WEFT_ERR_TRUNCATED. When any rank's recv_cap is
 * below its need, every rank returns WEFT_ERR_TRUNCATED before any row
 * moves, the message naming the rank and both counts; call again with a
 * larger buffer.
 */
WEFT_API weft_status_t weft_moe_dispatch(
    weft_comm_t *comm, const weft_moe_params_t *params, const void *x,
    size_t ntok, const int64_t *topk_idx, const float *topk_w, void *recv_x,
    size_t recv_cap, weft_moe_chunk_fn_t fn, void *arg, size_t *needed_p,
    weft_moe_handle_t **handle_p);

/* What a dispatch did on this rank. */
typedef struct weft_moe_info {
    size_t ntok;           /* tokens this rank dispatched */
    size_t nsent;          /* rows sent (one per token and rank) */
    size_t nrecv;          /* rows received */
    size_t npairs;         /* (received row, local slot) pairs */
    size_t nchunks;        /* chunks */
    size_t nlocal_experts; /* nexperts / nranks */
    size_t capacity;       /* C (capacity mode), 0 when dropless */
    size_t dropped;        /* (token, slot) assignments dropped here */
} weft_moe_info_t;

WEFT_API weft_status_t weft_moe_handle_info(const weft_moe_handle_t *handle,
                                            weft_moe_info_t *info_p);

/* Chunk c of the received rows (as passed to the chunk function). */
WEFT_API weft_status_t weft_moe_handle_chunk(const weft_moe_handle_t *handle,
                                             size_t c,
                                             weft_moe_chunk_t *chunk_p);

/* Per received row: its source rank and the token's index there, and
 * [nrecv][topk] local expert (-1: not here or dropped) and gate weight.
 * Arrays owned by the handle; any output may be NULL. */
WEFT_API weft_status_t weft_moe_handle_rows(const weft_moe_handle_t *handle,
                                            const int32_t **src_rank_p,
                                            const int32_t **src_token_p,
                                            const int32_t **local_expert_p,
                                            const float **weight_p);

/*
 * Post the combine exchange of chunk c (nonblocking; may be called from
 * the chunk function of chunk c or a later one, once chunk c's outputs
 * are written; WEFT_ERR_INVALID_ARG for a chunk that has not arrived). expert_y
 * is [npairs][hidden] of dtype, in pair order; only chunk c's pairs are read
 * now. dtype must be the dispatch's, a floating type.
 */
WEFT_API weft_status_t weft_moe_combine_chunk(weft_moe_handle_t *handle,
                                              size_t c, const void *expert_y,
                                              weft_dtype_t dtype);

/*
 * Combine (collective): posts the chunks not posted yet, waits for all,
 * and writes y [ntok][hidden] of dtype: for each token the weighted sum
 * of its experts' outputs (0 for a token with none, or all dropped). The
 * handle may combine again (a second expert pass) or be destroyed.
 */
WEFT_API weft_status_t weft_moe_combine(weft_moe_handle_t *handle,
                                        const void *expert_y,
                                        weft_dtype_t dtype, void *y);

/* Free a handle (NULL is fine). A combine still in flight is cancelled. */
WEFT_API void weft_moe_handle_destroy(weft_moe_handle_t *handle);

#ifdef __cplusplus
}
#endif

#endif /* WEFT_ML_MOE_H */
