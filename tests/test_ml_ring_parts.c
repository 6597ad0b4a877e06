/*
 * The parts of sequence-parallel attention (weft/ml_ring.h) that need no
 * job: merging two blocks' partial results (stable, with fully masked
 * rows a no-op), the reference kernel on fully masked rows, the fp16 and
 * bf16 conversions (round to nearest even), and the layouts' positions
 * (each covers the sequence once; bad arguments refused). The job-level
 * checks against a float64 reference are in test_ml_ring.c.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <weft.h>
#include <weft/ml.h>

#include "half_ref.h"
#include "ml/ml_half.h"

/* ---- the merge ---- */

Test(ml_ring, merge_is_stable_and_masked_rows_are_a_no_op)
{
    /* rows: (a) both finite, (b) block masked, (c) running masked,
     * (d) both masked, (e) lse 1e30 apart (a naive exp overflows) */
    float out[5 * 2] = {1, 2, 3, 4, 0, 0, 0, 0, 5, 6};
    float lse[5] = {0.5f, 1.0f, -INFINITY, -INFINITY, 1e30f};
    float bo[5 * 2] = {3, 6, 7, 8, 9, 10, 11, 12, 13, 14};
    float bl[5] = {-0.25f, -INFINITY, 2.0f, -INFINITY, -1e30f};
    double w = 1.0 / (1.0 + exp(-(-0.25 - 0.5)));

    weft_ring_attn_merge(out, lse, bo, bl, 5, 1, 2);
    cr_expect_float_eq(out[0], 1 + w * 2, 1e-6, "%g", out[0]);
    cr_expect_float_eq(out[1], 2 + w * 4, 1e-6, "%g", out[1]);
    cr_expect_float_eq(lse[0], log(exp(0.5) + exp(-0.25)), 1e-6, "%g", lse[0]);
    cr_expect(out[2] == 3 && out[3] == 4 && lse[1] == 1.0f, "masked block");
    cr_expect(out[4] == 9 && out[5] == 10 && lse[2] == 2.0f, "masked run");
    cr_expect(out[6] == 0 && out[7] == 0 && lse[3] == -INFINITY,
              "both masked: %g %g %g", out[6], out[7], lse[3]);
    cr_expect(out[8] == 5 && out[9] == 6 && lse[4] == 1e30f,
              "far apart: %g %g %g", out[8], out[9], lse[4]);
    for (int i = 0; i < 10; i++) {
        cr_expect(!isnan(out[i]), "NaN at %d", i);
    }
}

Test(ml_ring, kernel_fully_masked_rows)
{
    /* causal, q at positions 0 and 5, keys at 3 and 4: row 0 sees none */
    float q[2 * 2] = {1, 0, 0, 1}, k[2 * 2] = {1, 1, 1, -1};
    float v[2 * 2] = {1, 2, 3, 4}, out[4], lse[2];
    int64_t qp[2] = {0, 5}, kp[2] = {3, 4};
    weft_ring_block_t b = {
        .causal = 1,
        .q = q,
        .k = k,
        .v = v,
        .q_pos = qp,
        .k_pos = kp,
        .q_rows = 2,
        .kv_rows = 2,
        .heads = 1,
        .kv_heads = 1,
        .head_dim = 2,
        .dtype = WEFT_FLOAT32,
        .scale = 1.0f,
    };
    double e1 = exp(1.0), e2 = exp(-1.0);

    cr_assert_eq(weft_ring_attn_block_ref(NULL, &b, out, lse), WEFT_OK);
    cr_expect(lse[0] == -INFINITY && out[0] == 0 && out[1] == 0,
              "masked row: lse %g out %g %g", lse[0], out[0], out[1]);
    cr_expect_float_eq(lse[1], log(e1 + e2), 1e-6);
    cr_expect_float_eq(out[2], (e1 * 1 + e2 * 3) / (e1 + e2), 1e-6);
    cr_expect_float_eq(out[3], (e1 * 2 + e2 * 4) / (e1 + e2), 1e-6);
}

/* ---- fp16 / bf16 conversions ---- */

Test(ml_ring, half_conversions_round_to_nearest_even)
{
    static const struct {
        float f;
        uint16_t h, b;
    } c[] = {
        {1.0f, 0x3c00, 0x3f80},
        {-2.0f, 0xc000, 0xc000},
        {65504.0f, 0x7bff, 0x4780},        /* bf16: 0x477fe000 rounds up */
        {65520.0f, 0x7c00, 0x4780},        /* f16 overflows at the tie */
        {0x1p-24f, 0x0001, 0x3380},        /* smallest f16 subnormal */
        {0x1p-25f, 0x0000, 0x3300},        /* tie between 0 and 2^-24: 0 */
        {0x1.8p-24f, 0x0002, 0x33c0},      /* tie 1.5 ulp: to even 2 */
        {1.0f + 0x1p-11f, 0x3c00, 0x3f80}, /* tie: to even (down) */
        {1.0f + 0x3p-11f, 0x3c02, 0x3f80}, /* tie: to even (up) */
        {1.0f + 0x1p-8f, 0x3c04, 0x3f80},  /* bf16 tie: down to even */
        {1.0f + 0x3p-8f, 0x3c0c, 0x3f82},  /* bf16 tie: up to even */
        {INFINITY, 0x7c00, 0x7f80},
        {-0.0f, 0x8000, 0x8000},
    };

    for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
        cr_expect_eq(weft__ml_f32_to_f16(c[i].f), c[i].h,
                     "f16(%a) = %#x, want %#x", (double)c[i].f,
                     weft__ml_f32_to_f16(c[i].f), c[i].h);
        cr_expect_eq(weft__ml_f32_to_bf16(c[i].f), c[i].b,
                     "bf16(%a) = %#x, want %#x", (double)c[i].f,
                     weft__ml_f32_to_bf16(c[i].f), c[i].b);
    }
    cr_expect(isnan(weft__ml_f16_to_f32(weft__ml_f32_to_f16(NAN))));
    cr_expect(isnan(weft__ml_bf16_to_f32(weft__ml_f32_to_bf16(NAN))));
    /* every f16 value survives f16 -> f32 -> f16 and decodes exactly */
    for (uint32_t h = 0; h < 0x10000; h++) {
        float f = weft__ml_f16_to_f32((uint16_t)h);

        if ((h & 0x7c00) == 0x7c00 && (h & 0x3ff)) {
            continue; /* NaN */
        }
        cr_assert_eq(weft__ml_f32_to_f16(f), h, "f16 %#x round trip", h);
        cr_assert((h & 0x7c00) == 0x7c00 || (double)f == dec_f16((uint16_t)h),
                  "f16 %#x decode", h);
    }
}

/* ---- layouts ---- */

Test(ml_ring, layouts_cover_the_sequence_once)
{
    int64_t pos;

    for (int lay = 0; lay < WEFT_RING_LAYOUT_COUNT; lay++) {
        for (int P = 1; P <= 8; P++) {
            char seen[8 * 6] = {0};

            for (int r = 0; r < P; r++) {
                int64_t last = -1;

                for (size_t i = 0; i < 6; i++) {
                    cr_assert_eq(weft_ring_attn_position(lay, P, 6, r, i, &pos),
                                 WEFT_OK);
                    cr_assert(pos >= 0 && pos < 6 * P && !seen[pos]++ &&
                                  pos > last,
                              "layout %d P %d rank %d row %zu: pos %lld", lay,
                              P, r, i, (long long)pos);
                    last = pos;
                }
            }
        }
    }
    /* zigzag, P = 2, rows 4: rank 0 holds chunks 0 and 3 of 2 rows */
    cr_expect(weft_ring_attn_position(WEFT_RING_ZIGZAG, 2, 4, 0, 2, &pos) ==
                      WEFT_OK &&
                  pos == 6,
              "zigzag rank 0 row 2: %lld", (long long)pos);
    /* striped, P = 3: rank 1 row 2 is position 7 */
    cr_expect(weft_ring_attn_position(WEFT_RING_STRIPED, 3, 4, 1, 2, &pos) ==
                      WEFT_OK &&
                  pos == 7,
              "striped: %lld", (long long)pos);
    cr_expect_eq(weft_ring_attn_position(WEFT_RING_ZIGZAG, 2, 5, 0, 0, &pos),
                 WEFT_ERR_INVALID_ARG);
    cr_expect_eq(weft_ring_attn_position(7, 2, 4, 0, 0, &pos),
                 WEFT_ERR_INVALID_ARG);
}
