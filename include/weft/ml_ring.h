/*
 * Sequence-parallel attention: the sequence is split over the ranks of a
 * communicator; each rank holds its rows of Q, K and V.
 *
 * Ring attention (weft_ring_attn_fwd/bwd): K/V blocks rotate around the
 * ring; the transfer of the next block is posted (weft_isend/weft_irecv
 * into a double buffer) before the current block is computed. Each block's
 * (out, lse) is merged into the rank's result in fp32 with the stable
 * sigmoid/logsigmoid form; a row that sees no key of a block merges as a
 * no-op. The backward rotates K/V again and carries the fp32 dK/dV of each
 * block with it around a second ring back to its owner; dQ stays local.
 *
 * Ulysses (weft_ulysses_attn_fwd/bwd): all-to-all from sequence-sharded
 * to head-sharded, attention over the whole sequence for heads/P heads,
 * and all-to-all back.
 *
 * Shapes, for one sequence (batch 1: a batch is several calls) on a rank:
 *   q, out, dout, dq:  [rows][heads][head_dim]
 *   k, v, dk, dv:      [rows][kv_heads][head_dim]
 *   lse:               [rows][heads]   (natural log, of the scaled scores)
 * q, k, v and dout have params->dtype (FLOAT32, FLOAT16 or BFLOAT16); out,
 * lse, dq, dk and dv are always fp32. Every rank has the same rows.
 * Grouped-query attention: kv_heads divides heads; head h reads kv head
 * h / (heads / kv_heads).
 *
 * Layouts decide which global sequence positions a rank's rows are (so,
 * with a causal mask, which blocks and which parts of them are masked):
 *   CONTIGUOUS: rank r holds positions r*rows .. r*rows+rows-1;
 *   ZIGZAG:     the sequence in 2P chunks of rows/2; rank r holds chunks r
 *               and 2P-1-r (rows must be even): equal causal work per rank;
 *   STRIPED:    rank r holds positions r, r+P, r+2P, ...
 * weft_ring_attn_position() gives the position of a row.
 *
 * Ring modes:
 *   ONE_WAY: K/V go to rank r+1 and come from r-1: P-1 transfer rounds.
 *   TWO_WAY: every K/V block goes both ways, so each round a rank gets a
 *            block from r-1 and one from r+1 and both directions of every
 *            link carry data: ceil((P-1)/2) rounds, each with two blocks of
 *            compute. In the backward, each block's dK/dV follows its K/V
 *            in both directions and the last holder of each direction
 *            sends its share straight to the owner (one message that is not
 *            to a neighbour, per direction).
 *
 * Messages use tags 0x57520000..0x575200ff on the communicator; the calls
 * are collective (every rank calls with matching params) and blocking.
 * Kernels are called from the calling thread, on Q rows in chunks (1 to
 * 16 rows), with the transfers in flight polled between calls, so K/V
 * move during the compute without a progress thread. Before anything
 * moves, the ranks tell each other (one small allgather) whether each
 * accepted its arguments and with which shape: a bad argument only one
 * rank has, or a shape that differs, fails every rank at once, naming
 * it. An error later on one rank (a kernel's) leaves the others waiting
 * until the communicator's timeout: abort the communicator on error.
 */
#ifndef WEFT_ML_RING_H
#define WEFT_ML_RING_H

#include <stddef.h>
#include <stdint.h>
#include <weft/comm.h>
#include <weft/status.h>
#include <weft/types.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum weft_ring_layout {
    WEFT_RING_CONTIGUOUS,
    WEFT_RING_ZIGZAG,
    WEFT_RING_STRIPED,
    WEFT_RING_LAYOUT_COUNT /* not a layout */
} weft_ring_layout_t;

typedef enum weft_ring_mode {
    WEFT_RING_ONE_WAY,
    WEFT_RING_TWO_WAY,
    WEFT_RING_MODE_COUNT /* not a mode */
} weft_ring_mode_t;

/*
 * One unit of work handed to a block kernel: rows of Q against rows of a
 * K/V block (both possibly a sub-range: the rows the mask leaves any work
 * in). Pointers are borrowed for the call.
 */
typedef struct weft_ring_block {
    int step;             /* transfer round (0: the rank's own block) */
    int src_rank;         /* owner of the K/V block */
    int causal;           /* 1: key j is hidden from row i unless
                             k_pos[j] <= q_pos[i]; 0: all keys visible */
    const void *q;        /* [q_rows][heads][head_dim] of dtype */
    const void *k, *v;    /* [kv_rows][kv_heads][head_dim] of dtype */
    const int64_t *q_pos; /* global positions of the q rows */
    const int64_t *k_pos; /* global positions of the k/v rows */
    size_t q_rows, kv_rows, heads, kv_heads, head_dim;
    weft_dtype_t dtype;
    float scale; /* scores are scale * q.k */
} weft_ring_block_t;

/* Forward block kernel: writes (does not accumulate) out
 * [q_rows][heads][head_dim] and lse [q_rows][heads]; a row with no
 * visible key gets out 0 and lse -INFINITY. A kernel that returns an
 * error ends the call on its rank with that error and aborts the comm
 * (weft_comm_abort), so the ranks still waiting for this rank's blocks
 * return WEFT_ERR_ABORTED at once; the same holds for the backward
 * kernel and for Ulysses. */
typedef weft_status_t (*weft_ring_block_fn_t)(void *user,
                                              const weft_ring_block_t *blk,
                                              float *out, float *lse);

/* Backward block kernel: with p = exp(scale*q.k - lse) (lse the final one
 * of the forward) and delta = rowsum(dout * out), accumulates (+=) into
 * dq [q_rows][heads][head_dim] and dk, dv [kv_rows][kv_heads][head_dim].
 * dout has the block's dtype, lse and delta are [q_rows][heads]. */
typedef weft_status_t (*weft_ring_block_bwd_fn_t)(
    void *user, const weft_ring_block_t *blk, const void *dout,
    const float *lse, const float *delta, float *dq, float *dk, float *dv);

/* The reference CPU kernels (fp32/fp16/bf16 in, fp32 accumulation). They
 * are the default when params name no kernel; user is unused. */
WEFT_API weft_status_t weft_ring_attn_block_ref(void *user,
                                                const weft_ring_block_t *blk,
                                                float *out, float *lse);
WEFT_API weft_status_t weft_ring_attn_block_bwd_ref(
    void *user, const weft_ring_block_t *blk, const void *dout,
    const float *lse, const float *delta, float *dq, float *dk, float *dv);

/* Merge a block's (block_out, block_lse) into (out, lse), rows x heads
 * rows of head_dim, in the stable form
 *   out = out - sigmoid(block_lse - lse) * (out - block_out)
 *   lse = lse - logsigmoid(lse - block_lse)
 * A row whose block_lse is -INFINITY is left as it is; a row whose lse is
 * -INFINITY takes the block's. No NaN from -INFINITY on either side. */
WEFT_API void weft_ring_attn_merge(float *out, float *lse,
                                   const float *block_out,
                                   const float *block_lse, size_t rows,
                                   size_t heads, size_t head_dim);

/* Global sequence position of row i of rank `rank` (of nranks, rows
 * each) in `layout`; WEFT_ERR_INVALID_ARG for a bad argument. */
WEFT_API weft_status_t weft_ring_attn_position(weft_ring_layout_t layout,
                                               int nranks, size_t rows,
                                               int rank, size_t i,
                                               int64_t *pos_p);

/* Overlap accounting of one call (times in seconds, monotonic clock). */
typedef struct weft_ring_attn_stats {
    int rounds;        /* transfer rounds */
    int blocks;        /* kernel calls */
    int skipped;       /* blocks the causal mask hid entirely */
    double wall_s;     /* the whole call */
    double compute_s;  /* in kernels and merges */
    double wait_s;     /* blocked waiting for transfers: the part of the
                          communication not hidden behind compute */
    double transfer_s; /* sum over rounds of post -> completion of the
                          round's transfers (completion as seen by weft's
                          progress: polled between the kernel calls of a
                          block, and at the wait) */
    double hidden;     /* 1 - wait_s / transfer_s, clamped to [0, 1]: the
                          fraction of the transfer time hidden behind the
                          compute (0 without transfers) */
} weft_ring_attn_stats_t;

#define WEFT_RING_PARAM_FIELD_SCALE  (1u << 0) /* scale */
#define WEFT_RING_PARAM_FIELD_KERNEL (1u << 1) /* block_fn/bwd_fn/user */
#define WEFT_RING_PARAM_FIELD_STATS  (1u << 2) /* stats */
#define WEFT_RING_PARAM_FIELD_SERIAL (1u << 3) /* serial */

typedef struct weft_ring_attn_params {
    uint64_t field_mask; /* WEFT_RING_PARAM_FIELD_* of the optional fields
                            below that are set */
    /* required */
    weft_ring_layout_t layout;
    weft_ring_mode_t mode; /* ring only; Ulysses ignores it */
    int causal;
    size_t rows; /* sequence rows on each rank */
    size_t heads, kv_heads, head_dim;
    weft_dtype_t dtype; /* of q, k, v, dout */
    /* optional */
    float scale;                     /* default 1/sqrt(head_dim) */
    weft_ring_block_fn_t block_fn;   /* NULL: the reference kernel */
    weft_ring_block_bwd_fn_t bwd_fn; /* NULL: the reference kernel */
    void *user;                      /* passed to the kernels */
    weft_ring_attn_stats_t *stats;   /* filled on return */
    int serial; /* 1: wait for each transfer before computing (the
                   non-overlapped baseline, for benchmarks) */
} weft_ring_attn_params_t;

/* Ring attention forward: out and lse of the rank's rows. */
WEFT_API weft_status_t weft_ring_attn_fwd(weft_comm_t *comm,
                                          const weft_ring_attn_params_t *p,
                                          const void *q, const void *k,
                                          const void *v, float *out,
                                          float *lse);

/* Ring attention backward from the forward's out and lse: dq, dk and dv
 * of the rank's rows (overwritten). */
WEFT_API weft_status_t weft_ring_attn_bwd(weft_comm_t *comm,
                                          const weft_ring_attn_params_t *p,
                                          const void *q, const void *k,
                                          const void *v, const void *dout,
                                          const float *out, const float *lse,
                                          float *dq, float *dk, float *dv);

/* Ulysses: the same results as the ring with all-to-alls; heads and
 * kv_heads must both be multiples of the rank count. */
WEFT_API weft_status_t weft_ulysses_attn_fwd(weft_comm_t *comm,
                                             const weft_ring_attn_params_t *p,
                                             const void *q, const void *k,
                                             const void *v, float *out,
                                             float *lse);
WEFT_API weft_status_t weft_ulysses_attn_bwd(weft_comm_t *comm,
                                             const weft_ring_attn_params_t *p,
                                             const void *q, const void *k,
                                             const void *v, const void *dout,
                                             const float *out, const float *lse,
                                             float *dq, float *dk, float *dv);

#ifdef __cplusplus
}
#endif

#endif /* WEFT_ML_RING_H */
