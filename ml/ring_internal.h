/*
 * What the ring attention files share: the checked setup of a call and the
 * causal range of a block pair. Not installed.
 */
#ifndef WEFT_ML_RING_INTERNAL_H
#define WEFT_ML_RING_INTERNAL_H

#include <weft.h>
#include <weft/ml_ring.h>

#define RING_TAG_BASE 0x57520000 /* "WR" */

typedef struct ring_setup {
    weft_comm_t *comm;
    const char *fn; /* the public call, for errors */
    int rank, size;
    size_t esize;  /* bytes of one element of dtype */
    size_t q_row;  /* elements of one q row: heads * head_dim */
    size_t kv_row; /* elements of one k or v row: kv_heads * head_dim */
    float scale;
    weft_ring_block_fn_t fwd_fn;
    weft_ring_block_bwd_fn_t bwd_fn;
    void *user;
    int serial;
    weft_ring_attn_stats_t *stats; /* NULL: none asked for */
} ring_setup_t;

/* Check comm and params for `fn` (named in errors); fill *s. */
weft_status_t weft__ring_setup(weft_comm_t *comm,
                               const weft_ring_attn_params_t *p, const char *fn,
                               ring_setup_t *s);
/* A block kernel returned st (not WEFT_OK) in the middle of the exchange:
 * the comm is aborted, so every other rank's pending and next transfer
 * fails at once with WEFT_ERR_ABORTED (they would otherwise wait for this
 * rank's blocks until the deadline). Returns st (WEFT_ERR_ABORTED when st
 * is no error status), with an error naming the kernel, the step and the
 * rank whose K/V block it was (step < 0: Ulysses, no ring). */
weft_status_t weft__ring_kernel_failed(const ring_setup_t *s, weft_status_t st,
                                       const char *which, int step, int src);
/* The buffers of a forward, of a backward: none NULL. */
weft_status_t weft__ring_check_fwd(const char *fn, const void *q, const void *k,
                                   const void *v, const float *out,
                                   const float *lse);
weft_status_t weft__ring_check_bwd(const char *fn, const void *q, const void *k,
                                   const void *v, const void *dout,
                                   const float *out, const float *lse,
                                   const float *dq, const float *dk,
                                   const float *dv);
/* Before anything moves, every rank tells the others whether it accepted
 * its call (local: its own checks) and its shape (one small allgather):
 * a rank that refused, or passed another shape, makes every rank return
 * at once naming it, where the others would wait on its K/V blocks until
 * the deadline. Returns local when that failed (its own error stays). */
weft_status_t weft__ring_agree(weft_comm_t *comm,
                               const weft_ring_attn_params_t *p, const char *fn,
                               weft_status_t local);

/* Positions of the rows of `rank` (rows of them) in pos. */
void weft__ring_positions(weft_ring_layout_t layout, int nranks, size_t rows,
                          int rank, int64_t *pos);

/* The part of a block pair with work in it: q rows [q0, q1) against k/v
 * rows [k0, k1), *causal_p 0 when every pair in it is visible. Both
 * position lists ascending. Returns 0 when the mask hides everything. */
typedef struct ring_range {
    size_t q0, q1, k0, k1;
    int causal;
} ring_range_t;
int weft__ring_block_range(const int64_t *q_pos, const int64_t *k_pos,
                           size_t rows, int causal, ring_range_t *r);

/*
 * K/V rotation: one stream per ring direction (one-way: clockwise only;
 * two-way: both). A stream's round t holds the block of rank
 * rank - t (clockwise) or rank + t (counter-clockwise); round 0 is the
 * rank's own block. Blocks are K then V, packed.
 */
typedef struct ring_stream {
    int nrounds; /* rounds after round 0 */
    int dir;     /* +1: from rank-1 to rank+1; -1: the other way */
    int tag;
    void *buf[2];           /* round t (t >= 1) lives in buf[t & 1] */
    weft_request_t *req[2]; /* receive, send of the round in flight */
    double posted_s, done_s[2];
    weft_status_t status; /* first failure seen by a poll */
} ring_stream_t;

typedef struct ring_kv {
    ring_stream_t st[2];
    int nst;
    void *local;    /* round 0: the rank's own K and V */
    size_t bytes;   /* of one packed block */
    size_t k_bytes; /* of its K part */
    void *mem;
} ring_kv_t;

/* Streams for p->mode, and the packed local block. */
weft_status_t weft__ring_kv_init(ring_kv_t *kv, const ring_setup_t *s,
                                 const weft_ring_attn_params_t *p,
                                 const void *k, const void *v);
/* Packed block of stream i at round t, and its owner. */
const char *weft__ring_kv_block(const ring_kv_t *kv, int i, int t);
int weft__ring_kv_src(const ring_kv_t *kv, const ring_setup_t *s, int i, int t);
/* Post the transfers that bring round t+1 (sending round t's block). */
weft_status_t weft__ring_kv_post(ring_kv_t *kv, const ring_setup_t *s,
                                 weft_comm_t *comm, int t);
/* Wait for what kv_post posted; time blocked goes to stats->wait_s. */
weft_status_t weft__ring_kv_wait(ring_kv_t *kv, const ring_setup_t *s);
/* Drive the transfers in flight once (between chunks of a block, so that
 * they move while the block is computed even without a progress
 * thread); a finished request is released and its status kept. */
void weft__ring_kv_poll(ring_kv_t *kv);
/* The block of rank src against this rank's Q (positions q_pos): its
 * positions into k_pos, the range with work in *r and the Q rows per
 * kernel call in *chunk_p (about 2^18 multiply-adds of scores per call,
 * 1 to 16 rows: the transfers are polled between calls). 0 when the mask
 * hides everything (counted in the stats as skipped). */
int weft__ring_block_plan(const ring_setup_t *s,
                          const weft_ring_attn_params_t *p,
                          const int64_t *q_pos, int64_t *k_pos, int src,
                          ring_range_t *r, size_t *chunk_p);
/* The kernel's view of Q rows [c0, c1) against the K/V block kv (its V
 * k_bytes after K) in the range r, step and source rank as given (q and
 * the positions are the caller's whole arrays). */
weft_ring_block_t weft__ring_chunk(const ring_setup_t *s,
                                   const weft_ring_attn_params_t *p,
                                   const char *q, const int64_t *q_pos,
                                   const int64_t *k_pos, const char *kv,
                                   size_t k_bytes, const ring_range_t *r,
                                   size_t c0, size_t c1, int step, int src);
/* Cancel anything pending and free. */
void weft__ring_kv_free(ring_kv_t *kv);

/* Peer `hops` steps along the ring from s->rank (negative: backwards). */
int weft__ring_peer(const ring_setup_t *s, int hops);

/* Close the stats of a call that started at t0. */
void weft__ring_stats_end(weft_ring_attn_stats_t *stats, double t0);

/* Monotonic seconds. */
double weft__ring_now(void);

#endif /* WEFT_ML_RING_INTERNAL_H */
