/*
 * Ring attention backward: K/V rotate as in the forward; each block's fp32
 * dK/dV accumulator travels with it, one rank behind, around a second ring
 * and goes home to the block's owner after the last rank has added to it.
 * dQ accumulates locally. Every rank uses the forward's out and lse, and
 * delta = rowsum(dout * out).
 */
#include "ml/ring_internal.h"

#include <stdlib.h>
#include <string.h>

#include "ml/ml_half.h"
#include "ml/ml_util.h"

/* The dK/dV chain of one stream: accumulators (dK then dV, fp32) in a
 * double buffer, the receive from the previous rank of the round in
 * flight, the sends of the last two rounds. */
typedef struct bwd_chain {
    float *acc[2];
    weft_request_t *recv, *send[2];
    int first_round; /* the round that starts the chain (no receive) */
} bwd_chain_t;

typedef struct bwd_state {
    const weft_ring_attn_params_t *p;
    const ring_setup_t *s;
    weft_comm_t *comm;
    const char *q, *dout;
    const float *lse;
    float *delta, *dq;
    float *tmp;    /* this rank's dK|dV of the block at hand */
    float *fin[2]; /* the two shares of this rank's own dK|dV */
    weft_request_t *fin_req[2];
    int64_t *q_pos, *k_pos;
    size_t kv_elems; /* of dK (= of dV) */
    bwd_chain_t ch[2];
    ring_kv_t *kv; /* polled between chunks */
} bwd_state_t;

static weft_status_t
bwd_block(bwd_state_t *b, const char *kv, size_t k_bytes, int src, int step)
{
    const weft_ring_attn_params_t *p = b->p;
    const ring_setup_t *s = b->s;
    ring_range_t r;
    size_t chunk;
    double t0 = weft__ring_now();

    memset(b->tmp, 0, 2 * b->kv_elems * sizeof(float));
    if (!weft__ring_block_plan(s, p, b->q_pos, b->k_pos, src, &r, &chunk)) {
        return WEFT_OK;
    }
    /* in chunks of Q rows, the transfers in flight polled in between */
    for (size_t c0 = r.q0; c0 < r.q1; c0 += chunk) {
        size_t c1 = c0 + chunk < r.q1 ? c0 + chunk : r.q1;
        weft_ring_block_t blk = weft__ring_chunk(
            s, p, b->q, b->q_pos, b->k_pos, kv, k_bytes, &r, c0, c1, step, src);
        weft_status_t st =
            s->bwd_fn(s->user, &blk, b->dout + c0 * s->q_row * s->esize,
                      b->lse + c0 * p->heads, b->delta + c0 * p->heads,
                      b->dq + c0 * s->q_row, b->tmp + r.k0 * s->kv_row,
                      b->tmp + b->kv_elems + r.k0 * s->kv_row);

        if (st != WEFT_OK) {
            return weft__ring_kernel_failed(s, st, "backward", step, src);
        }
        weft__ring_kv_poll(b->kv);
    }
    if (s->stats != NULL) {
        s->stats->blocks++;
        s->stats->compute_s += weft__ring_now() - t0;
    }
    return WEFT_OK;
}

/* Before round t's compute: receive the chain's accumulator of round t. */
static weft_status_t
bwd_chain_post(bwd_state_t *b, const ring_stream_t *st, bwd_chain_t *c, int t)
{
    if (t <= c->first_round || t > st->nrounds) {
        return WEFT_OK;
    }
    /* the buffer was last sent two rounds ago */
    if (c->send[t & 1] != NULL) {
        weft_request_t *req = c->send[t & 1];

        c->send[t & 1] = NULL;
        WEFT_ML_CHECK(weft_wait(req));
    }
    return weft_irecv(c->acc[t & 1], 2 * b->kv_elems * sizeof(float),
                      weft__ring_peer(b->s, -st->dir), st->tag + 2, b->comm,
                      &c->recv);
}

/* After round t's compute: add this rank's share and pass it on, or home
 * after the stream's last round. */
static weft_status_t
bwd_chain_pass(bwd_state_t *b, const ring_stream_t *st, bwd_chain_t *c, int t,
               int src)
{
    float *acc = c->acc[t & 1];
    size_t n = 2 * b->kv_elems;

    if (t > c->first_round) {
        weft_request_t *req = c->recv;

        c->recv = NULL;
        WEFT_ML_CHECK(weft_wait(req));
        for (size_t i = 0; i < n; i++) {
            acc[i] += b->tmp[i];
        }
    } else {
        memcpy(acc, b->tmp, n * sizeof(float));
    }
    if (t < st->nrounds) {
        return weft_isend(acc, n * sizeof(float),
                          weft__ring_peer(b->s, st->dir), st->tag + 2, b->comm,
                          &c->send[t & 1]);
    }
    return weft_isend(acc, n * sizeof(float), src, st->tag + 4, b->comm,
                      &c->send[t & 1]);
}

static weft_status_t
bwd_rounds(bwd_state_t *b, ring_kv_t *kv)
{
    const ring_setup_t *s = b->s;
    int last = 0;

    b->kv = kv;
    for (int i = 0; i < kv->nst; i++) {
        ring_stream_t *st = &kv->st[i];

        last = st->nrounds > last ? st->nrounds : last;
        /* this rank's own block comes home from the last rank of each
         * stream: rank + nrounds (clockwise), rank - nrounds */
        WEFT_ML_CHECK(weft_irecv(b->fin[i], 2 * b->kv_elems * sizeof(float),
                                 weft__ring_peer(s, st->dir * st->nrounds),
                                 st->tag + 4, b->comm, &b->fin_req[i]));
    }
    for (int t = 0; t <= last; t++) {
        WEFT_ML_CHECK(weft__ring_kv_post(kv, s, b->comm, t));
        if (s->serial) {
            WEFT_ML_CHECK(weft__ring_kv_wait(kv, s));
        }
        for (int i = 0; i < kv->nst; i++) {
            WEFT_ML_CHECK(bwd_chain_post(b, &kv->st[i], &b->ch[i], t));
        }
        if (t == 0) {
            /* the own block starts the first stream's chain */
            WEFT_ML_CHECK(bwd_block(b, kv->local, kv->k_bytes, s->rank, 0));
            if (kv->nst > 0) {
                WEFT_ML_CHECK(
                    bwd_chain_pass(b, &kv->st[0], &b->ch[0], 0, s->rank));
            }
        }
        for (int i = 0; t > 0 && i < kv->nst; i++) {
            ring_stream_t *st = &kv->st[i];
            int src = weft__ring_kv_src(kv, s, i, t);

            if (t > st->nrounds) {
                continue;
            }
            WEFT_ML_CHECK(bwd_block(b, weft__ring_kv_block(kv, i, t),
                                    kv->k_bytes, src, t));
            WEFT_ML_CHECK(bwd_chain_pass(b, st, &b->ch[i], t, src));
        }
        WEFT_ML_CHECK(weft__ring_kv_wait(kv, s));
    }
    return WEFT_OK;
}

static void
bwd_chain_free(bwd_state_t *b)
{
    for (int i = 0; i < 2; i++) {
        weft_request_free(b->ch[i].recv);
        weft_request_free(b->ch[i].send[0]);
        weft_request_free(b->ch[i].send[1]);
        weft_request_free(b->fin_req[i]);
        b->ch[i] = (bwd_chain_t){0};
        b->fin_req[i] = NULL;
    }
}

/* delta = rowsum(dout * out) per (row, head). */
static void
bwd_delta(bwd_state_t *b, const float *out, float *row)
{
    const weft_ring_attn_params_t *p = b->p;
    size_t d = p->head_dim;

    for (size_t r = 0; r < p->rows * p->heads; r++) {
        float sum = 0.0f;

        weft__ml_load_f32(b->dout, p->dtype, r * d, d, row);
        for (size_t e = 0; e < d; e++) {
            sum += row[e] * out[r * d + e];
        }
        b->delta[r] = sum;
    }
}

static weft_status_t
bwd_finish(bwd_state_t *b, const ring_kv_t *kv, float *dk, float *dv)
{
    weft_status_t st = WEFT_OK;
    size_t n = b->kv_elems;

    for (int i = 0; i < 2; i++) {
        weft_status_t w = weft_waitall(2, b->ch[i].send);

        b->ch[i].send[0] = b->ch[i].send[1] = NULL;
        st = st == WEFT_OK ? w : st;
    }
    if (kv->nst == 0) {
        /* one rank: the own block's share never left (tmp holds it) */
        memcpy(dk, b->tmp, n * sizeof(float));
        memcpy(dv, b->tmp + n, n * sizeof(float));
        return st;
    }
    WEFT_ML_CHECK(st);
    st = weft_waitall(2, b->fin_req);
    b->fin_req[0] = b->fin_req[1] = NULL;
    WEFT_ML_CHECK(st);
    for (size_t i = 0; i < n; i++) {
        dk[i] = b->fin[0][i] + (kv->nst > 1 ? b->fin[1][i] : 0.0f);
        dv[i] = b->fin[0][n + i] + (kv->nst > 1 ? b->fin[1][n + i] : 0.0f);
    }
    return WEFT_OK;
}

weft_status_t
weft_ring_attn_bwd(weft_comm_t *comm, const weft_ring_attn_params_t *p,
                   const void *q, const void *k, const void *v,
                   const void *dout, const float *out, const float *lse,
                   float *dq, float *dk, float *dv)
{
    static const char fn[] = "weft_ring_attn_bwd";
    ring_setup_t s;
    ring_kv_t kv;
    bwd_state_t b = {.p = p,
                     .s = &s,
                     .comm = comm,
                     .q = q,
                     .dout = dout,
                     .lse = lse,
                     .dq = dq};
    weft_status_t st;
    double t0 = weft__ring_now();

    st = weft__ring_setup(comm, p, fn, &s);
    if (st == WEFT_OK) {
        st = weft__ring_check_bwd(fn, q, k, v, dout, out, lse, dq, dk, dv);
    }
    WEFT_ML_CHECK(weft__ring_agree(comm, p, fn, st));
    size_t rh = p->rows * p->heads, n = p->rows * s.kv_row;
    /* delta, tmp, 2 x 2 chain accumulators, 2 home shares: floats */
    size_t floats = rh + p->head_dim + 2 * n * 7;
    void *mem = malloc(2 * p->rows * sizeof(int64_t) + floats * sizeof(float));
    if (mem == NULL) {
        return weft_log_error(WEFT_ERR_NO_MEMORY, WEFT_LOG_WARN, WEFT_SUB_ML,
                              "%s: no memory for %zu floats", fn, floats);
    }
    b.kv_elems = n;
    b.q_pos = mem;
    b.k_pos = b.q_pos + p->rows;
    b.delta = (float *)(b.k_pos + p->rows);
    float *row = b.delta + rh, *next = row + p->head_dim;
    b.tmp = next;
    next += 2 * n;
    for (int i = 0; i < 2; i++) {
        b.ch[i].acc[0] = next;
        b.ch[i].acc[1] = next + 2 * n;
        b.ch[i].first_round = i == 0 ? 0 : 1;
        b.fin[i] = next + 4 * n;
        next += 6 * n;
    }
    weft__ring_positions(p->layout, s.size, p->rows, s.rank, b.q_pos);
    bwd_delta(&b, out, row);
    memset(dq, 0, rh * p->head_dim * sizeof(float));
    st = weft__ring_kv_init(&kv, &s, p, k, v);
    if (st == WEFT_OK) {
        st = bwd_rounds(&b, &kv);
        if (st == WEFT_OK) {
            st = bwd_finish(&b, &kv, dk, dv);
        }
        bwd_chain_free(&b);
        weft__ring_kv_free(&kv);
    }
    free(mem);
    weft__ring_stats_end(s.stats, t0);
    return st;
}
