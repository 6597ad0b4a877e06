/*
 * ring_attention: causal ring attention, forward and backward, over the
 * ranks of a weftrun job (weftrun -n 4 examples/ring_attention), with the
 * sequence in the zigzag layout and K/V going both ways round the ring.
 * Every rank then runs the same attention on the whole sequence alone
 * with the reference kernel and checks its own rows of out, lse, dq, dk
 * and dv against it. Exit status 0 when every value matches (1e-4).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <weft.h>
#include <weft/ml.h>

#define ROWS     16 /* sequence rows per rank */
#define HEADS    4
#define KV_HEADS 2 /* grouped-query attention: 2 query heads per kv head */
#define DIM      16

/* A value in [-1, 1) for (tensor, position, column). */
static float
input(int t, long pos, long col)
{
    unsigned long x = (unsigned long)(t * 1000003L + pos * 7919L + col);

    x = (x ^ (x >> 13)) * 0x5bd1e995ul;
    x ^= x >> 15;
    return (float)(x % 20001ul) / 10000.0f - 1.0f;
}

static float
worst(const float *got, const float *want, size_t n)
{
    float w = 0.0f;

    for (size_t i = 0; i < n; i++) {
        float e = fabsf(got[i] - want[i]);

        w = isnan(e) || e > w ? (isnan(e) ? INFINITY : e) : w;
    }
    return w;
}

int
main(void)
{
    weft_context_t *ctx;
    weft_comm_t *world;
    weft_status_t st = weft_context_create(NULL, &ctx);

    if (st != WEFT_OK) {
        fprintf(stderr, "ring_attention: %s\n", weft_last_error());
        return 1;
    }
    weft_comm_world(ctx, &world);
    int rank = weft_comm_rank(world), P = weft_comm_size(world);
    long N = (long)P * ROWS;
    size_t qw = HEADS * DIM, kw = KV_HEADS * DIM;
    weft_ring_attn_params_t p = {
        .layout = WEFT_RING_ZIGZAG,
        .mode = WEFT_RING_TWO_WAY,
        .causal = 1,
        .rows = ROWS,
        .heads = HEADS,
        .kv_heads = KV_HEADS,
        .head_dim = DIM,
        .dtype = WEFT_FLOAT32,
    };
    /* the whole sequence (every rank can build it) and the rank's rows */
    float *gq = malloc(N * qw * 4), *gk = malloc(N * kw * 4);
    float *gv = malloc(N * kw * 4), *gdo = malloc(N * qw * 4);
    float *q = malloc(ROWS * qw * 4), *k = malloc(ROWS * kw * 4);
    float *v = malloc(ROWS * kw * 4), *dout = malloc(ROWS * qw * 4);
    int64_t pos[ROWS], *gpos = malloc(N * sizeof(int64_t));

    for (long i = 0; i < N; i++) {
        gpos[i] = i;
        for (size_t c = 0; c < qw; c++) {
            gq[i * qw + c] = input(0, i, c);
            gdo[i * qw + c] = input(3, i, c);
        }
        for (size_t c = 0; c < kw; c++) {
            gk[i * kw + c] = input(1, i, c);
            gv[i * kw + c] = input(2, i, c);
        }
    }
    for (size_t i = 0; i < ROWS; i++) {
        weft_ring_attn_position(p.layout, P, ROWS, rank, i, &pos[i]);
        memcpy(q + i * qw, gq + pos[i] * qw, qw * 4);
        memcpy(dout + i * qw, gdo + pos[i] * qw, qw * 4);
        memcpy(k + i * kw, gk + pos[i] * kw, kw * 4);
        memcpy(v + i * kw, gv + pos[i] * kw, kw * 4);
    }

    /* the ring: forward, then backward from its out and lse */
    float out[ROWS * HEADS * DIM], lse[ROWS * HEADS];
    float dq[ROWS * HEADS * DIM], dk[ROWS * KV_HEADS * DIM],
        dv[ROWS * KV_HEADS * DIM];

    st = weft_ring_attn_fwd(world, &p, q, k, v, out, lse);
    if (st == WEFT_OK) {
        st = weft_ring_attn_bwd(world, &p, q, k, v, dout, out, lse, dq, dk, dv);
    }
    if (st != WEFT_OK) {
        fprintf(stderr, "ring_attention: rank %d: %s\n", rank,
                weft_last_error());
        return 1;
    }

    /* the reference: the whole sequence as one block on this rank */
    float *ro = malloc(N * qw * 4), *rl = malloc(N * HEADS * 4);
    float *rdq = calloc(N * qw, 4), *rdk = calloc(N * kw, 4);
    float *rdv = calloc(N * kw, 4), *delta = malloc(N * HEADS * 4);
    weft_ring_block_t all = {
        .causal = 1,
        .q = gq,
        .k = gk,
        .v = gv,
        .q_pos = gpos,
        .k_pos = gpos,
        .q_rows = N,
        .kv_rows = N,
        .heads = HEADS,
        .kv_heads = KV_HEADS,
        .head_dim = DIM,
        .dtype = WEFT_FLOAT32,
        .scale = 1.0f / sqrtf(DIM),
    };

    weft_ring_attn_block_ref(NULL, &all, ro, rl);
    for (long r = 0; r < N * HEADS; r++) {
        delta[r] = 0.0f;
        for (int e = 0; e < DIM; e++) {
            delta[r] += gdo[r * DIM + e] * ro[r * DIM + e];
        }
    }
    weft_ring_attn_block_bwd_ref(NULL, &all, gdo, rl, delta, rdq, rdk, rdv);

    /* this rank's rows of the reference */
    float wo[ROWS * HEADS * DIM], wl[ROWS * HEADS], wdq[ROWS * HEADS * DIM];
    float wdk[ROWS * KV_HEADS * DIM], wdv[ROWS * KV_HEADS * DIM];

    for (size_t i = 0; i < ROWS; i++) {
        memcpy(wo + i * qw, ro + pos[i] * qw, qw * 4);
        memcpy(wl + i * HEADS, rl + pos[i] * HEADS, HEADS * 4);
        memcpy(wdq + i * qw, rdq + pos[i] * qw, qw * 4);
        memcpy(wdk + i * kw, rdk + pos[i] * kw, kw * 4);
        memcpy(wdv + i * kw, rdv + pos[i] * kw, kw * 4);
    }
    float e[5] = {worst(out, wo, ROWS * qw), worst(lse, wl, ROWS * HEADS),
                  worst(dq, wdq, ROWS * qw), worst(dk, wdk, ROWS * kw),
                  worst(dv, wdv, ROWS * kw)};
    int ok = 1;

    for (int i = 0; i < 5; i++) {
        ok = ok && e[i] <= 1e-4f;
    }
    printf("ring_attention: rank %d of %d: max |error| out %.2g lse %.2g "
           "dq %.2g dk %.2g dv %.2g: %s\n",
           rank, P, e[0], e[1], e[2], e[3], e[4], ok ? "OK" : "MISMATCH");
    weft_context_destroy(ctx);
    free(gq), free(gk), free(gv), free(gdo), free(q), free(k), free(v);
    free(dout), free(gpos), free(ro), free(rl), free(rdq), free(rdk);
    free(rdv), free(delta);
    return ok ? 0 : 1;
}
