/*
 * An MoE layer forward with weft's MoE module (run it under weftrun, e.g.
 * tools/weftrun -n 4 examples/moe_layer): every rank has its own tokens,
 * a softmax top-2 gate picks two of 8 experts per token, weft_moe_dispatch
 * sends each token to the ranks of its experts in 2 chunks, each rank runs
 * its 8 / P experts (small synthetic ones: out = a_e * x + b_e) on a chunk
 * as soon as it arrives and posts that chunk's combine at once, and
 * weft_moe_combine brings back the gate-weighted sum. Each rank checks its
 * outputs against the same layer computed locally, bitwise.
 *
 * Exit status 0 when every rank matched.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <weft.h>
#include <weft/ml.h>

enum { NTOK = 256, HIDDEN = 64, NEXPERTS = 8, TOPK = 2, CHUNKS = 2 };

/* expert e: out = a_e * x + b_e */
static float
expert_a(int e)
{
    return 0.5f + 0.25f * (float)e;
}

static float
expert_b(int e)
{
    return 0.125f * (float)(e - 3);
}

/* the gate: softmax of x . W_g, the top two, renormalised */
static void
gate(const float *x, int64_t *idx, float *w)
{
    float logit[NEXPERTS], p[NEXPERTS], max = -INFINITY, sum = 0.0f;

    for (int e = 0; e < NEXPERTS; e++) {
        logit[e] = 0.0f;
        for (int h = 0; h < HIDDEN; h++) {
            logit[e] += x[h] * sinf((float)(h * NEXPERTS + e));
        }
        max = logit[e] > max ? logit[e] : max;
    }
    for (int e = 0; e < NEXPERTS; e++) {
        p[e] = expf(logit[e] - max);
        sum += p[e];
    }
    idx[0] = 0;
    for (int e = 1; e < NEXPERTS; e++) {
        idx[0] = p[e] > p[idx[0]] ? e : idx[0];
    }
    idx[1] = idx[0] == 0 ? 1 : 0;
    for (int e = 0; e < NEXPERTS; e++) {
        if (e != idx[0] && p[e] > p[idx[1]]) {
            idx[1] = e;
        }
    }
    w[0] = p[idx[0]] / sum;
    w[1] = p[idx[1]] / sum;
    sum = w[0] + w[1];
    w[0] /= sum;
    w[1] /= sum;
}

typedef struct layer {
    int rank;
    size_t nlocal;
    const float *recv_x;
    float *expert_y;
} layer_t;

/* the caller's expert compute for one received chunk */
static weft_status_t
run_experts(void *arg, weft_moe_handle_t *h, const weft_moe_chunk_t *ch)
{
    layer_t *l = arg;

    for (size_t e = 0; e < l->nlocal; e++) {
        int ge = l->rank * (int)l->nlocal + (int)e;

        for (size_t p = ch->expert_pair_begin[e];
             p < ch->expert_pair_begin[e + 1]; p++) {
            const float *x = &l->recv_x[ch->pair_row[p] * HIDDEN];

            for (int i = 0; i < HIDDEN; i++) {
                l->expert_y[p * HIDDEN + i] =
                    expert_a(ge) * x[i] + expert_b(ge);
            }
        }
    }
    /* this chunk's outputs go back while the next chunk is computed */
    return weft_moe_combine_chunk(h, ch->index, l->expert_y, WEFT_FLOAT32);
}

int
main(void)
{
    weft_context_t *ctx;
    weft_comm_t *world;
    weft_moe_params_t p = {.field_mask = WEFT_MOE_PARAM_CHUNKS,
                           .nexperts = NEXPERTS,
                           .topk = TOPK,
                           .hidden = HIDDEN,
                           .dtype = WEFT_FLOAT32,
                           .chunks = CHUNKS};
    weft_moe_handle_t *h = NULL;
    weft_moe_info_t info;
    static float x[NTOK * HIDDEN], y[NTOK * HIDDEN], w[NTOK * TOPK];
    static int64_t idx[NTOK * TOPK];
    size_t need = 0, bad = 0;
    layer_t l;
    weft_status_t st;
    float *recv_x;
    int rank;

    st = weft_context_create(NULL, &ctx);
    if (st != WEFT_OK) {
        fprintf(stderr, "moe_layer: %s\n", weft_last_error());
        return 1;
    }
    weft_comm_world(ctx, &world);
    rank = weft_comm_rank(world);
    if (NEXPERTS % weft_comm_size(world) != 0) {
        fprintf(stderr,
                "moe_layer: %d experts need a rank count that "
                "divides them\n",
                NEXPERTS);
        weft_context_destroy(ctx);
        return 2;
    }
    for (int t = 0; t < NTOK; t++) {
        for (int i = 0; i < HIDDEN; i++) {
            x[t * HIDDEN + i] = cosf((float)(rank * 7919 + t * 31 + i));
        }
        gate(&x[t * HIDDEN], &idx[t * TOPK], &w[t * TOPK]);
    }
    /* at most one row per token from every rank */
    recv_x =
        malloc((size_t)NTOK * weft_comm_size(world) * HIDDEN * sizeof(float));
    l.rank = rank;
    l.nlocal = NEXPERTS / (size_t)weft_comm_size(world);
    l.recv_x = recv_x;
    l.expert_y = malloc((size_t)NTOK * weft_comm_size(world) * TOPK * HIDDEN *
                        sizeof(float));
    st = weft_moe_dispatch(world, &p, x, NTOK, idx, w, recv_x,
                           (size_t)NTOK * weft_comm_size(world), run_experts,
                           &l, &need, &h);
    if (st == WEFT_OK) {
        st = weft_moe_combine(h, l.expert_y, WEFT_FLOAT32, y);
    }
    if (st != WEFT_OK) {
        fprintf(stderr, "moe_layer: rank %d: %s\n", rank, weft_last_error());
        weft_context_destroy(ctx);
        return 1;
    }
    weft_moe_handle_info(h, &info);
    /* the same layer computed here: top-2, slot order, fp32 */
    for (int t = 0; t < NTOK; t++) {
        for (int i = 0; i < HIDDEN; i++) {
            float acc = 0.0f;

            for (int j = 0; j < TOPK; j++) {
                int e = (int)idx[t * TOPK + j];

                acc += w[t * TOPK + j] *
                       (expert_a(e) * x[t * HIDDEN + i] + expert_b(e));
            }
            bad += memcmp(&acc, &y[t * HIDDEN + i], sizeof(acc)) != 0;
        }
    }
    printf("moe_layer: rank %d: %d tokens sent as %zu rows, %zu rows "
           "received (%zu expert pairs), %zu outputs differ from the local "
           "reference: %s\n",
           rank, NTOK, info.nsent, info.nrecv, info.npairs, bad,
           bad ? "FAIL" : "ok");
    weft_moe_handle_destroy(h);
    free(recv_x);
    free(l.expert_y);
    weft_context_destroy(ctx);
    return bad ? 1 : 0;
}
