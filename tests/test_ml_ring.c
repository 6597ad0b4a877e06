/*
 * Sequence-parallel attention (weft/ml_ring.h) against a float64
 * full-attention reference: every rank's out, lse, dq, dk and dv, element
 * by element, for 1, 2, 3, 4 and 8 ranks, causal and full, every layout
 * and ring mode, grouped-query attention, fp32/fp16/bf16 inputs, and
 * Ulysses; plus the merge, the conversions, the layouts, the kernel hook
 * and the errors on bad input.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <weft.h>
#include <weft/ml.h>

#include "harness.h"
#include "ml/ml_half.h"

/* ---- the problem and its float64 reference ---- */

typedef struct prob {
    int P;
    weft_ring_layout_t layout;
    weft_ring_mode_t mode;
    int causal;
    weft_dtype_t dtype;
    size_t rows, heads, kvh, d;
    int ulysses;
} prob_t;

/* Inputs in [-1, 1) from a hash of (tensor, position, head, element). */
static float
val(int t, size_t pos, size_t h, size_t e)
{
    uint64_t x = ((uint64_t)t << 48) ^ ((uint64_t)pos << 24) ^ (h << 12) ^ e;

    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    x ^= x >> 33;
    return (float)((double)(x >> 40) / (double)(1ull << 23) - 1.0);
}

/* The test's own decoders (not the library's): the reference sees exactly
 * the values the library reads. */
static double
dec_f16(uint16_t h)
{
    int e = (h >> 10) & 31, m = h & 1023;
    double v = e == 0 ? ldexp(m, -24) : ldexp(1024 + m, e - 25);

    return (h & 0x8000) ? -v : v;
}

static double
dec_bf16(uint16_t h)
{
    uint32_t x = (uint32_t)h << 16;
    float f;

    memcpy(&f, &x, 4);
    return f;
}

/* Tensor t at (pos, head, e) as the dtype stores it (written to *raw when
 * not NULL), and its exact value. */
static double
elem(const prob_t *p, int t, size_t pos, size_t h, size_t e, void *raw)
{
    float f = val(t, pos, h, e);

    switch (p->dtype) {
    case WEFT_FLOAT16: {
        uint16_t b = weft__ml_f32_to_f16(f);

        if (raw) {
            memcpy(raw, &b, 2);
        }
        return dec_f16(b);
    }
    case WEFT_BFLOAT16: {
        uint16_t b = weft__ml_f32_to_bf16(f);

        if (raw) {
            memcpy(raw, &b, 2);
        }
        return dec_bf16(b);
    }
    default:
        if (raw) {
            memcpy(raw, &f, 4);
        }
        return f;
    }
}

enum { TQ, TK, TV, TDO };

typedef struct ref {
    size_t n;
    double *out, *lse, *dq, *dk, *dv; /* by global position */
} ref_t;

static void
ref_compute(const prob_t *p, ref_t *r)
{
    size_t n = (size_t)p->P * p->rows, H = p->heads, G = p->heads / p->kvh;
    size_t d = p->d;
    double scale = 1.0 / sqrt((double)d);
    double *q = malloc(n * H * d * sizeof(double));
    double *k = malloc(n * p->kvh * d * sizeof(double));
    double *v = malloc(n * p->kvh * d * sizeof(double));
    double *dO = malloc(n * H * d * sizeof(double));
    double *s = malloc(n * sizeof(double)), *dp = malloc(n * sizeof(double));

    r->n = n;
    r->out = calloc(n * H * d, sizeof(double));
    r->lse = calloc(n * H, sizeof(double));
    r->dq = calloc(n * H * d, sizeof(double));
    r->dk = calloc(n * p->kvh * d, sizeof(double));
    r->dv = calloc(n * p->kvh * d, sizeof(double));
    for (size_t i = 0; i < n; i++) {
        for (size_t e = 0; e < d; e++) {
            for (size_t h = 0; h < H; h++) {
                q[(i * H + h) * d + e] = elem(p, TQ, i, h, e, NULL);
                dO[(i * H + h) * d + e] = elem(p, TDO, i, h, e, NULL);
            }
            for (size_t h = 0; h < p->kvh; h++) {
                k[(i * p->kvh + h) * d + e] = elem(p, TK, i, h, e, NULL);
                v[(i * p->kvh + h) * d + e] = elem(p, TV, i, h, e, NULL);
            }
        }
    }
    for (size_t i = 0; i < n; i++) {
        for (size_t h = 0; h < H; h++) {
            size_t kh = h / G, nj = p->causal ? i + 1 : n;
            const double *qi = q + (i * H + h) * d, *doi = dO + (i * H + h) * d;
            double m = -INFINITY, sum = 0.0, D = 0.0;
            double *o = r->out + (i * H + h) * d;

            for (size_t j = 0; j < nj; j++) {
                s[j] = 0.0;
                for (size_t e = 0; e < d; e++) {
                    s[j] += qi[e] * k[(j * p->kvh + kh) * d + e];
                }
                s[j] *= scale;
                m = fmax(m, s[j]);
            }
            for (size_t j = 0; j < nj; j++) {
                sum += exp(s[j] - m);
            }
            double lse = m + log(sum);

            r->lse[i * H + h] = lse;
            for (size_t j = 0; j < nj; j++) {
                double pj = exp(s[j] - lse);

                dp[j] = 0.0;
                for (size_t e = 0; e < d; e++) {
                    o[e] += pj * v[(j * p->kvh + kh) * d + e];
                    dp[j] += doi[e] * v[(j * p->kvh + kh) * d + e];
                }
                D += pj * dp[j];
            }
            for (size_t j = 0; j < nj; j++) {
                double pj = exp(s[j] - lse), ds = pj * (dp[j] - D) * scale;

                for (size_t e = 0; e < d; e++) {
                    size_t kj = (j * p->kvh + kh) * d + e;

                    r->dv[kj] += pj * doi[e];
                    r->dq[(i * H + h) * d + e] += ds * k[kj];
                    r->dk[kj] += ds * qi[e];
                }
            }
        }
    }
    free(q);
    free(k);
    free(v);
    free(dO);
    free(s);
    free(dp);
}

static void
ref_free(ref_t *r)
{
    free(r->out);
    free(r->lse);
    free(r->dq);
    free(r->dk);
    free(r->dv);
}

/* ---- one case on one rank ---- */

static char case_name[160];

static void
name_case(const prob_t *p)
{
    static const char *lay[] = {"contiguous", "zigzag", "striped"};

    snprintf(case_name, sizeof(case_name),
             "%s P=%d %s %s %s %s heads=%zu kv_heads=%zu rows=%zu d=%zu",
             p->ulysses ? "ulysses" : "ring", p->P, lay[p->layout],
             p->mode == WEFT_RING_TWO_WAY ? "two-way" : "one-way",
             p->causal ? "causal" : "full", weft_dtype_name(p->dtype), p->heads,
             p->kvh, p->rows, p->d);
}

/* Compare n values of rank-local rows (width w per row) with the
 * reference rows at the layout's positions. */
static double
compare(const prob_t *p, int rank, const char *what, const float *got,
        const double *want, size_t w, double atol, double rtol)
{
    double worst = 0.0;
    int reported = 0;

    for (size_t i = 0; i < p->rows; i++) {
        int64_t pos;

        weft_ring_attn_position(p->layout, p->P, p->rows, rank, i, &pos);
        for (size_t x = 0; x < w; x++) {
            double g = got[i * w + x], ref = want[(size_t)pos * w + x];
            double err = fabs(g - ref);

            worst = fmax(worst, err);
            if (!(err <= atol + rtol * fabs(ref)) && reported++ < 3) {
                WT_CHECK(0,
                         "%s: rank %d %s row %zu (pos %lld) [%zu]: %.9g, "
                         "want %.9g (err %.3g)",
                         case_name, rank, what, i, (long long)pos, x, g, ref,
                         err);
            }
        }
    }
    return worst;
}

static void
local_input(const prob_t *p, int rank, int t, size_t nh, char *buf)
{
    size_t es = weft_dtype_size(p->dtype);

    for (size_t i = 0; i < p->rows; i++) {
        int64_t pos;

        weft_ring_attn_position(p->layout, p->P, p->rows, rank, i, &pos);
        for (size_t h = 0; h < nh; h++) {
            for (size_t e = 0; e < p->d; e++) {
                elem(p, t, (size_t)pos, h, e,
                     buf + ((i * nh + h) * p->d + e) * es);
            }
        }
    }
}

/* A block kernel that counts its calls and the work (q rows x kv rows)
 * it was given, then runs the reference. */
typedef struct counter {
    int calls;
    size_t work;
} counter_t;

static weft_status_t
count_fwd(void *user, const weft_ring_block_t *b, float *out, float *lse)
{
    counter_t *c = user;

    c->calls++;
    c->work += b->q_rows * b->kv_rows;
    return weft_ring_attn_block_ref(NULL, b, out, lse);
}

static weft_status_t
count_bwd(void *user, const weft_ring_block_t *b, const void *dout,
          const float *lse, const float *delta, float *dq, float *dk, float *dv)
{
    counter_t *c = user;

    c->calls++;
    return weft_ring_attn_block_bwd_ref(NULL, b, dout, lse, delta, dq, dk, dv);
}

static void
run_case(weft_comm_t *w, const prob_t *p, counter_t *cnt)
{
    int rank = weft_comm_rank(w);
    size_t es = weft_dtype_size(p->dtype), R = p->rows;
    size_t nq = R * p->heads * p->d, nkv = R * p->kvh * p->d;
    int half = p->dtype != WEFT_FLOAT32;
    /* fp32 math against float64: out, lse 1e-5; gradients 1e-4 (they sum
     * more terms); 16-bit inputs are exact in the reference, but dout in
     * 16 bits and fp32 accumulation leave the same small errors */
    double fa = 1e-5, ga = 1e-4, rt = half ? 1e-4 : 1e-5;
    char *q = malloc(nq * es), *k = malloc(nkv * es), *v = malloc(nkv * es);
    char *dout = malloc(nq * es);
    float *out = malloc(nq * 4), *lse = malloc(R * p->heads * 4);
    float *dq = malloc(nq * 4), *dk = malloc(nkv * 4), *dv = malloc(nkv * 4);
    weft_ring_attn_params_t prm = {
        .layout = p->layout,
        .mode = p->mode,
        .causal = p->causal,
        .rows = R,
        .heads = p->heads,
        .kv_heads = p->kvh,
        .head_dim = p->d,
        .dtype = p->dtype,
    };
    ref_t ref;

    name_case(p);
    if (cnt != NULL) {
        prm.field_mask = WEFT_RING_PARAM_FIELD_KERNEL;
        prm.block_fn = count_fwd;
        prm.bwd_fn = count_bwd;
        prm.user = cnt;
    }
    ref_compute(p, &ref);
    local_input(p, rank, TQ, p->heads, q);
    local_input(p, rank, TK, p->kvh, k);
    local_input(p, rank, TV, p->kvh, v);
    local_input(p, rank, TDO, p->heads, dout);
    weft_status_t st = p->ulysses
                           ? weft_ulysses_attn_fwd(w, &prm, q, k, v, out, lse)
                           : weft_ring_attn_fwd(w, &prm, q, k, v, out, lse);
    WT_CHECK(st == WEFT_OK, "%s: fwd: %s (%s)", case_name,
             weft_status_string(st), weft_last_error());
    if (st == WEFT_OK) {
        compare(p, rank, "out", out, ref.out, p->heads * p->d, fa, rt);
        compare(p, rank, "lse", lse, ref.lse, p->heads, fa, rt);
        st = p->ulysses ? weft_ulysses_attn_bwd(w, &prm, q, k, v, dout, out,
                                                lse, dq, dk, dv)
                        : weft_ring_attn_bwd(w, &prm, q, k, v, dout, out, lse,
                                             dq, dk, dv);
        WT_CHECK(st == WEFT_OK, "%s: bwd: %s (%s)", case_name,
                 weft_status_string(st), weft_last_error());
    }
    if (st == WEFT_OK) {
        compare(p, rank, "dq", dq, ref.dq, p->heads * p->d, ga, rt);
        compare(p, rank, "dk", dk, ref.dk, p->kvh * p->d, ga, rt);
        compare(p, rank, "dv", dv, ref.dv, p->kvh * p->d, ga, rt);
    }
    ref_free(&ref);
    free(q);
    free(k);
    free(v);
    free(dout);
    free(out);
    free(lse);
    free(dq);
    free(dk);
    free(dv);
}

/* Every ring case for one rank count: layouts x modes x causal x
 * (MHA fp32, GQA fp32, GQA bf16, MHA fp16), and Ulysses. */
static void
ring_all_body(weft_context_t *ctx, weft_comm_t *w, void *arg)
{
    int P = weft_comm_size(w);
    static const struct {
        size_t heads, kvh;
        weft_dtype_t dt;
    } shapes[] = {{4, 4, WEFT_FLOAT32},
                  {4, 2, WEFT_FLOAT32},
                  {4, 1, WEFT_BFLOAT16},
                  {4, 4, WEFT_FLOAT16}};

    (void)ctx;
    (void)arg;
    for (int lay = 0; lay < WEFT_RING_LAYOUT_COUNT; lay++) {
        for (int mode = 0; mode < WEFT_RING_MODE_COUNT; mode++) {
            for (int causal = 0; causal < 2; causal++) {
                for (size_t s = 0; s < sizeof(shapes) / sizeof(shapes[0]);
                     s++) {
                    prob_t p = {P,
                                lay,
                                mode,
                                causal,
                                shapes[s].dt,
                                8,
                                shapes[s].heads,
                                shapes[s].kvh,
                                8,
                                0};

                    run_case(w, &p, NULL);
                }
            }
        }
    }
    /* Ulysses: heads 2P over kv heads P (GQA), and P over P */
    for (int lay = 0; lay < WEFT_RING_LAYOUT_COUNT; lay++) {
        for (int causal = 0; causal < 2; causal++) {
            prob_t g = {P, lay,           0,         causal, WEFT_FLOAT32,
                        8, 2 * (size_t)P, (size_t)P, 8,      1};
            prob_t m = {P, lay,       0,         causal, WEFT_BFLOAT16,
                        8, (size_t)P, (size_t)P, 8,      1};

            run_case(w, &g, NULL);
            run_case(w, &m, NULL);
        }
    }
}

Test(ml_ring, matches_float64_reference_1_rank, .timeout = 120)
{
    cr_assert_eq(wt_run_ranks(1, ring_all_body, NULL), 0);
}

Test(ml_ring, matches_float64_reference_2_ranks, .timeout = 120)
{
    cr_assert_eq(wt_run_ranks(2, ring_all_body, NULL), 0);
}

Test(ml_ring, matches_float64_reference_3_ranks, .timeout = 120)
{
    cr_assert_eq(wt_run_ranks(3, ring_all_body, NULL), 0);
}

Test(ml_ring, matches_float64_reference_4_ranks, .timeout = 120)
{
    cr_assert_eq(wt_run_ranks(4, ring_all_body, NULL), 0);
}

Test(ml_ring, matches_float64_reference_8_ranks, .timeout = 120)
{
    cr_assert_eq(wt_run_ranks(8, ring_all_body, NULL), 0);
}
