/*
 * Ring attention forward: each round posts the K/V transfer of the next
 * round, computes the blocks at hand (only the part the causal mask leaves
 * work in) and merges them into the rank's (out, lse).
 */
#include "ml/ring_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ml/ml_util.h"

typedef struct fwd_state {
    const weft_ring_attn_params_t *p;
    const ring_setup_t *s;
    const char *q;
    float *out, *lse;
    int64_t *q_pos, *k_pos;
    float *bout, *blse; /* one block's result */
    ring_kv_t *kv;      /* polled between chunks */
} fwd_state_t;

static weft_status_t
fwd_block(fwd_state_t *f, const char *kv, size_t k_bytes, int src, int step)
{
    const weft_ring_attn_params_t *p = f->p;
    const ring_setup_t *s = f->s;
    ring_range_t r;
    size_t chunk;
    double t0 = weft__ring_now();

    if (!weft__ring_block_plan(s, p, f->q_pos, f->k_pos, src, &r, &chunk)) {
        return WEFT_OK;
    }
    /* in chunks of Q rows, the transfers in flight polled in between */
    for (size_t c0 = r.q0; c0 < r.q1; c0 += chunk) {
        size_t c1 = c0 + chunk < r.q1 ? c0 + chunk : r.q1;
        weft_ring_block_t blk = weft__ring_chunk(
            s, p, f->q, f->q_pos, f->k_pos, kv, k_bytes, &r, c0, c1, step, src);
        weft_status_t st = s->fwd_fn(s->user, &blk, f->bout, f->blse);

        if (st != WEFT_OK) {
            return weft__ring_kernel_failed(s, st, "forward", step, src);
        }
        weft_ring_attn_merge(f->out + c0 * s->q_row, f->lse + c0 * p->heads,
                             f->bout, f->blse, blk.q_rows, p->heads,
                             p->head_dim);
        weft__ring_kv_poll(f->kv);
    }
    if (s->stats != NULL) {
        s->stats->blocks++;
        s->stats->compute_s += weft__ring_now() - t0;
    }
    return WEFT_OK;
}

static weft_status_t
fwd_rounds(fwd_state_t *f, ring_kv_t *kv, weft_comm_t *comm)
{
    const ring_setup_t *s = f->s;
    int last = 0;

    f->kv = kv;
    for (int i = 0; i < kv->nst; i++) {
        last = kv->st[i].nrounds > last ? kv->st[i].nrounds : last;
    }
    for (int t = 0; t <= last; t++) {
        /* the next round's K/V move while this round's are computed */
        WEFT_ML_CHECK(weft__ring_kv_post(kv, s, comm, t));
        if (s->serial) {
            WEFT_ML_CHECK(weft__ring_kv_wait(kv, s));
        }
        if (t == 0) {
            WEFT_ML_CHECK(fwd_block(f, kv->local, kv->k_bytes, s->rank, 0));
        }
        for (int i = 0; t > 0 && i < kv->nst; i++) {
            if (t <= kv->st[i].nrounds) {
                WEFT_ML_CHECK(fwd_block(f, weft__ring_kv_block(kv, i, t),
                                        kv->k_bytes,
                                        weft__ring_kv_src(kv, s, i, t), t));
            }
        }
        WEFT_ML_CHECK(weft__ring_kv_wait(kv, s));
    }
    return WEFT_OK;
}

weft_status_t
weft_ring_attn_fwd(weft_comm_t *comm, const weft_ring_attn_params_t *p,
                   const void *q, const void *k, const void *v, float *out,
                   float *lse)
{
    static const char fn[] = "weft_ring_attn_fwd";
    ring_setup_t s;
    ring_kv_t kv;
    fwd_state_t f = {.p = p, .s = &s, .q = q, .out = out, .lse = lse};
    weft_status_t st;
    double t0 = weft__ring_now();

    st = weft__ring_setup(comm, p, fn, &s);
    if (st == WEFT_OK) {
        st = weft__ring_check_fwd(fn, q, k, v, out, lse);
    }
    WEFT_ML_CHECK(weft__ring_agree(comm, p, fn, st));
    size_t rh = p->rows * p->heads;
    void *mem = malloc(2 * p->rows * sizeof(int64_t) +
                       (rh * p->head_dim + rh) * sizeof(float));
    if (mem == NULL) {
        return weft_log_error(WEFT_ERR_NO_MEMORY, WEFT_LOG_WARN, WEFT_SUB_ML,
                              "%s: no memory for a block result", fn);
    }
    f.q_pos = mem;
    f.k_pos = f.q_pos + p->rows;
    f.bout = (float *)(f.k_pos + p->rows);
    f.blse = f.bout + rh * p->head_dim;
    weft__ring_positions(p->layout, s.size, p->rows, s.rank, f.q_pos);
    memset(out, 0, rh * p->head_dim * sizeof(float));
    for (size_t i = 0; i < rh; i++) {
        lse[i] = -INFINITY;
    }
    st = weft__ring_kv_init(&kv, &s, p, k, v);
    if (st == WEFT_OK) {
        st = fwd_rounds(&f, &kv, comm);
        weft__ring_kv_free(&kv);
    }
    free(mem);
    weft__ring_stats_end(s.stats, t0);
    return st;
}
