/*
 * Sequence-parallel attention (weft/ml_ring.h) against a float64
 * full-attention reference: every rank's out, lse, dq, dk and dv, element
 * by element, for 1, 2, 3, 4 and 8 ranks, causal and full, every layout
 * and ring mode, grouped-query attention, fp32/fp16/bf16 inputs, and
 * Ulysses; plus the kernel hook and the errors on bad input (also on one
 * rank only: every rank returns at once, naming it). The merge, the
 * conversions and the layouts alone: test_ml_ring_parts.c.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <weft.h>
#include <weft/ml.h>

#include "harness.h"
#include "half_ref.h"
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

/* Tensor t at (pos, head, e) as the dtype stores it (written to *raw when
 * not NULL), and its exact value. */
static int ref_unrounded; /* 1: the reference reads the fp32 values */

static double
elem(const prob_t *p, int t, size_t pos, size_t h, size_t e, void *raw)
{
    float f = val(t, pos, h, e);

    if (ref_unrounded && raw == NULL) {
        return f;
    }

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
    /* against float64: 1e-5 absolute + 1e-5 relative for everything
     * (all cases pass at 1e-6: fp32 accumulation over these short rows).
     * 16-bit inputs: the reference reads the same rounded values, so the
     * same bound holds; the rounding itself is checked on its own. */
    double fa = 1e-5, ga = 1e-5, rt = 1e-5;
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
    if (st == WEFT_OK && p->dtype != WEFT_FLOAT32) {
        /* end to end: 16-bit inputs against the unrounded fp32 problem,
         * atol 2e-2 + rtol 1.6e-2 */
        ref_unrounded = 1;
        ref_compute(p, &ref);
        ref_unrounded = 0;
        compare(p, rank, "out (vs fp32 inputs)", out, ref.out, p->heads * p->d,
                2e-2, 1.6e-2);
        compare(p, rank, "lse (vs fp32 inputs)", lse, ref.lse, p->heads, 2e-2,
                1.6e-2);
        compare(p, rank, "dq (vs fp32 inputs)", dq, ref.dq, p->heads * p->d,
                2e-2, 1.6e-2);
        compare(p, rank, "dk (vs fp32 inputs)", dk, ref.dk, p->kvh * p->d, 2e-2,
                1.6e-2);
        compare(p, rank, "dv (vs fp32 inputs)", dv, ref.dv, p->kvh * p->d, 2e-2,
                1.6e-2);
        ref_free(&ref);
    }
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

/* ---- a caller's kernel, and causal balance per layout ---- */

static void
hook_body(weft_context_t *ctx, weft_comm_t *w, void *arg)
{
    int P = weft_comm_size(w), rank = weft_comm_rank(w);
    size_t work[8] = {0};

    (void)ctx;
    (void)arg;
    for (int lay = 0; lay < WEFT_RING_LAYOUT_COUNT; lay++) {
        counter_t c = {0, 0};
        prob_t p = {P, lay, WEFT_RING_ONE_WAY, 1, WEFT_FLOAT32, 8, 4, 2, 8, 0};

        run_case(w, &p, &c);
        /* one forward and one backward call per block that has work */
        WT_CHECK(c.calls >= 2 && c.calls % 2 == 0,
                 "%s: the caller's kernel ran %d times", case_name, c.calls);
        WT_OK(weft_allgather(&c.work, work, 1, WEFT_UINT64, w));
        for (int r = 1; lay == WEFT_RING_ZIGZAG && r < P; r++) {
            WT_CHECK(work[r] == work[0],
                     "zigzag: rank %d got work %zu, rank 0 %zu", r, work[r],
                     work[0]);
        }
        /* contiguous: rank r computes r + 1 blocks of rows x rows */
        WT_CHECK(lay != WEFT_RING_CONTIGUOUS ||
                     work[rank] == (size_t)(rank + 1) * 64,
                 "contiguous: rank %d got work %zu, want %d", rank, work[rank],
                 (rank + 1) * 64);
    }
}

Test(ml_ring, caller_kernel_and_causal_balance, .timeout = 60)
{
    cr_assert_eq(wt_run_ranks(4, hook_body, NULL), 0);
}

/* ---- transfers posted before the block is computed ---- */

/* The serial baseline (transfer, then compute) and the overlapped ring
 * give bitwise the same results, and the stats count every round and
 * block. */
static void
stats_body(weft_context_t *ctx, weft_comm_t *w, void *arg)
{
    int P = weft_comm_size(w);
    size_t R = 8, n = R * 4 * 8;
    float *q = calloc(n, 4), *out[2] = {malloc(n * 4), malloc(n * 4)};
    float *lse[2] = {malloc(R * 16), malloc(R * 16)};

    (void)ctx;
    (void)arg;
    for (size_t i = 0; i < n; i++) {
        q[i] = val(9, i, weft_comm_rank(w), 0);
    }
    for (int mode = 0; mode < WEFT_RING_MODE_COUNT; mode++) {
        for (int serial = 0; serial < 2; serial++) {
            weft_ring_attn_stats_t s;
            weft_ring_attn_params_t p = {
                .field_mask =
                    WEFT_RING_PARAM_FIELD_STATS | WEFT_RING_PARAM_FIELD_SERIAL,
                .layout = WEFT_RING_CONTIGUOUS,
                .mode = mode,
                .rows = R,
                .heads = 4,
                .kv_heads = 4,
                .head_dim = 8,
                .dtype = WEFT_FLOAT32,
                .stats = &s,
                .serial = serial,
            };
            int rounds = mode == WEFT_RING_TWO_WAY ? P / 2 : P - 1;

            WT_OK(weft_ring_attn_fwd(w, &p, q, q, q, out[serial], lse[serial]));
            WT_CHECK(s.rounds == rounds && s.blocks == P && s.skipped == 0,
                     "mode %d serial %d: %d rounds, %d blocks, %d skipped; "
                     "want %d, %d, 0",
                     mode, serial, s.rounds, s.blocks, s.skipped, rounds, P);
            WT_CHECK(s.wall_s > 0 && s.compute_s > 0 &&
                         s.compute_s <= s.wall_s && s.wait_s <= s.wall_s &&
                         (s.transfer_s > 0) == (rounds > 0) && s.hidden >= 0 &&
                         s.hidden <= 1,
                     "stats out of order: wall %g compute %g wait %g "
                     "transfer %g hidden %g",
                     s.wall_s, s.compute_s, s.wait_s, s.transfer_s, s.hidden);
        }
        WT_CHECK(memcmp(out[0], out[1], n * 4) == 0 &&
                     memcmp(lse[0], lse[1], R * 16) == 0,
                 "mode %d: serial and overlapped results differ", mode);
    }
    free(q);
    free(out[0]);
    free(out[1]);
    free(lse[0]);
    free(lse[1]);
}

Test(ml_ring, stats_and_serial_baseline, .timeout = 60)
{
    cr_assert_eq(wt_run_ranks(3, stats_body, NULL), 0);
    cr_assert_eq(wt_run_ranks(4, stats_body, NULL), 0);
}

/* ---- bad input ---- */

static void
expect_invalid(weft_status_t st, const char *what, const char *needle)
{
    WT_CHECK(st == WEFT_ERR_INVALID_ARG, "%s: %s, want INVALID_ARG", what,
             weft_status_string(st));
    WT_CHECK(strstr(weft_last_error(), needle) != NULL,
             "%s: error \"%s\" does not name %s", what, weft_last_error(),
             needle);
}

static void
bad_body(weft_context_t *ctx, weft_comm_t *w, void *arg)
{
    float buf[4 * 4 * 8 * 2] = {0}, o[4 * 4 * 8], l[16];
    float dq[4 * 4 * 8], dk[4 * 4 * 8], dv[4 * 4 * 8];
    weft_ring_attn_params_t good =
                                {
                                    .layout = WEFT_RING_ZIGZAG,
                                    .rows = 4,
                                    .heads = 4,
                                    .kv_heads = 2,
                                    .head_dim = 8,
                                    .dtype = WEFT_FLOAT32,
                                    .causal = 1,
                                },
                            p;

    (void)ctx;
    (void)arg;
    p = good;
    p.kv_heads = 3;
    expect_invalid(weft_ring_attn_fwd(w, &p, buf, buf, buf, o, l),
                   "heads % kv_heads", "kv_heads");
    p = good;
    p.dtype = WEFT_INT32;
    expect_invalid(weft_ring_attn_fwd(w, &p, buf, buf, buf, o, l), "dtype",
                   "dtype");
    p = good;
    p.layout = 9;
    expect_invalid(weft_ring_attn_fwd(w, &p, buf, buf, buf, o, l), "layout",
                   "layout");
    p = good;
    p.mode = 5;
    expect_invalid(weft_ring_attn_fwd(w, &p, buf, buf, buf, o, l), "mode",
                   "mode");
    p = good;
    p.rows = 3;
    expect_invalid(weft_ring_attn_fwd(w, &p, buf, buf, buf, o, l),
                   "zigzag odd rows", "rows");
    p = good;
    p.head_dim = 0;
    expect_invalid(weft_ring_attn_fwd(w, &p, buf, buf, buf, o, l), "head_dim 0",
                   "head_dim");
    expect_invalid(weft_ring_attn_fwd(w, &good, buf, NULL, buf, o, l), "k NULL",
                   "k is NULL");
    expect_invalid(weft_ring_attn_fwd(w, &good, buf, buf, buf, o, NULL),
                   "lse NULL", "lse is NULL");
    expect_invalid(weft_ring_attn_fwd(w, NULL, buf, buf, buf, o, l),
                   "params NULL", "params");
    expect_invalid(
        weft_ring_attn_bwd(w, &good, buf, buf, buf, NULL, o, l, dq, dk, dv),
        "dout NULL", "dout is NULL");
    expect_invalid(
        weft_ring_attn_bwd(w, &good, buf, buf, buf, buf, o, l, dq, NULL, dv),
        "dk NULL", "dk is NULL");
    /* Ulysses: 2 ranks need heads and kv_heads even */
    p = good;
    p.heads = 3;
    p.kv_heads = 1;
    expect_invalid(weft_ulysses_attn_fwd(w, &p, buf, buf, buf, o, l),
                   "ulysses heads", "heads 3 is not a multiple of the rank");
    p = good;
    p.kv_heads = 1;
    expect_invalid(weft_ulysses_attn_fwd(w, &p, buf, buf, buf, o, l),
                   "ulysses kv_heads", "kv_heads 1 is not a multiple");
    expect_invalid(
        weft_ulysses_attn_bwd(w, &good, buf, buf, buf, buf, o, l, NULL, dk, dv),
        "ulysses dq NULL", "dq is NULL");
    p = good;
    p.field_mask = WEFT_RING_PARAM_FIELD_STATS;
    expect_invalid(weft_ring_attn_fwd(w, &p, buf, buf, buf, o, l), "stats NULL",
                   "stats");
    /* on one rank only (rank 1): every rank returns at once, naming it
     * (the others used to wait on its K/V blocks until the deadline) */
    int me = weft_comm_rank(w);

    expect_invalid(
        weft_ring_attn_fwd(w, &good, buf, me == 1 ? NULL : buf, buf, o, l),
        "k NULL on rank 1", me == 1 ? "k is NULL" : "rank 1 refused its call");
    p = good;
    p.rows = me == 1 ? 2 : 4;
    expect_invalid(weft_ring_attn_fwd(w, &p, buf, buf, buf, o, l),
                   "rows differ", "params->rows");
    expect_invalid(weft_ulysses_attn_bwd(w, &good, buf, buf, buf, buf, o, l, dq,
                                         dk, me == 1 ? NULL : dv),
                   "ulysses dv NULL on rank 1",
                   me == 1 ? "dv is NULL" : "rank 1 refused its call");
    /* the communicator still works after all that */
    WT_OK(weft_ring_attn_fwd(w, &good, buf, buf, buf, o, l));
}

Test(ml_ring, bad_input_names_the_argument, .timeout = 60)
{
    /* the deadline is 300 s: one rank's refusal must not wait for it */
    cr_assert_eq(wt_run_ranks(2, bad_body, NULL), 0);
}

/* ---- blocks larger than one kernel call (Q rows in chunks) ---- */

static void
chunk_body(weft_context_t *ctx, weft_comm_t *w, void *arg)
{
    (void)ctx;
    (void)arg;
    for (int lay = 0; lay < WEFT_RING_LAYOUT_COUNT; lay++) {
        for (int mode = 0; mode < WEFT_RING_MODE_COUNT; mode++) {
            for (int causal = 0; causal < 2; causal++) {
                /* 38 rows: two full chunks of 16 and a partial one */
                prob_t p = {weft_comm_size(w),
                            lay,
                            mode,
                            causal,
                            WEFT_FLOAT32,
                            38,
                            2,
                            1,
                            8,
                            0};

                run_case(w, &p, NULL);
            }
        }
    }
}

Test(ml_ring, rows_in_several_kernel_calls, .timeout = 120)
{
    cr_assert_eq(wt_run_ranks(3, chunk_body, NULL), 0);
}
