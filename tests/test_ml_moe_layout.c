/*
 * MoE's pure functions (weft/ml_moe.h): the layout against a brute-force
 * count, and its refusals; the capacity formulas of both conventions,
 * their defaults and a bad factor. No ranks: test_ml_moe.c runs dispatch
 * and combine.
 */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <weft.h>
#include <weft/ml.h>

/* Expert slots from a hash of (shape, slot): duplicates and -1 too. */
static uint64_t
layout_hash(uint64_t shape, uint64_t slot)
{
    uint64_t x = shape * 0x9e3779b97f4a7c15ull ^
                 (slot + 0x632be59bd9b4e019ull) * 0xbf58476d1ce4e5b9ull;

    x ^= x >> 31;
    x *= 0xd6e8feb86869ab5ull;
    x ^= x >> 29;
    return x;
}

Test(ml_moe, layout_equals_brute_force)
{
    static const size_t shapes[][4] = {/* ntok, topk, nexperts, nranks */
                                       {0, 2, 8, 4},   {1, 1, 1, 1},
                                       {37, 2, 8, 4},  {100, 3, 12, 3},
                                       {64, 4, 16, 8}, {50, 2, 8, 1}};

    for (size_t s = 0; s < sizeof(shapes) / sizeof(shapes[0]); s++) {
        size_t n = shapes[s][0], k = shapes[s][1], E = shapes[s][2];
        int P = (int)shapes[s][3];
        size_t L = E / (size_t)P;
        int64_t *idx = malloc((n * k + 1) * sizeof(int64_t));
        size_t per_rank[8], per_expert[16];
        uint8_t *in = malloc(n * (size_t)P + 1);
        weft_moe_layout_t lay = {per_rank, per_expert, in};

        for (size_t i = 0; i < n * k; i++) { /* duplicates and -1 too */
            uint64_t hsh = layout_hash(s, i);

            idx[i] = hsh % 5 == 0 ? -1 : (int64_t)(hsh % E);
        }
        cr_assert_eq(weft_moe_layout(idx, n, k, E, P, &lay), WEFT_OK, "%s",
                     weft_last_error());
        for (size_t e = 0; e < E; e++) {
            size_t cnt = 0;

            for (size_t i = 0; i < n * k; i++) {
                cnt += idx[i] == (int64_t)e;
            }
            cr_expect_eq(per_expert[e], cnt,
                         "shape %zu expert %zu: %zu, "
                         "want %zu",
                         s, e, per_expert[e], cnt);
        }
        for (int r = 0; r < P; r++) {
            size_t cnt = 0;

            for (size_t t = 0; t < n; t++) {
                int hit = 0;

                for (size_t j = 0; j < k; j++) {
                    hit |= idx[t * k + j] >= 0 &&
                           (size_t)idx[t * k + j] / L == (size_t)r;
                }
                cnt += hit;
                cr_expect_eq(in[t * (size_t)P + (size_t)r], hit,
                             "shape %zu token %zu rank %d", s, t, r);
            }
            cr_expect_eq(per_rank[r], cnt, "shape %zu rank %d: %zu, want %zu",
                         s, r, per_rank[r], cnt);
        }
        free(idx);
        free(in);
    }
}

Test(ml_moe, layout_rejects_bad_input)
{
    int64_t idx[4] = {0, 3, -1, 8};
    size_t pr[4], pe[8];
    weft_moe_layout_t lay = {pr, pe, NULL};

    cr_expect_eq(weft_moe_layout(idx, 2, 2, 8, 4, &lay), WEFT_ERR_INVALID_ARG);
    cr_expect(strstr(weft_last_error(), "topk_idx[1][1] = 8") != NULL, "%s",
              weft_last_error());
    idx[3] = -2;
    cr_expect_eq(weft_moe_layout(idx, 2, 2, 8, 4, &lay), WEFT_ERR_INVALID_ARG);
    cr_expect(strstr(weft_last_error(), "= -2") != NULL, "%s",
              weft_last_error());
    idx[3] = 7;
    cr_expect_eq(weft_moe_layout(idx, 2, 2, 6, 4, &lay), WEFT_ERR_INVALID_ARG);
    cr_expect(strstr(weft_last_error(), "nexperts 6") != NULL, "%s",
              weft_last_error());
    cr_expect_eq(weft_moe_layout(NULL, 2, 2, 8, 4, &lay), WEFT_ERR_INVALID_ARG);
    cr_expect(strstr(weft_last_error(), "topk_idx is NULL") != NULL, "%s",
              weft_last_error());
    cr_expect_eq(weft_moe_layout(idx, 2, 2, 8, 4, NULL), WEFT_ERR_INVALID_ARG);
    cr_expect_eq(weft_moe_layout(idx, 2, 2, 8, 4, &lay), WEFT_OK, "%s",
                 weft_last_error());
}

Test(ml_moe, capacity_formulas_of_both_conventions)
{
    /* rule (0 DeepSpeed, 1 Tutel), ntok, E, k, cf x 100, min, align, C */
    static const long rows[][8] = {
        {0, 100, 8, 2, 100, 4, 1, 25},   /* ceil(12.5 * 2) */
        {0, 10, 8, 1, 100, 4, 1, 4},     /* ceil(1.25) = 2 -> min 4 */
        {0, 10, 8, 1, 100, 1, 1, 2},     /* the same, min 1 */
        {0, 64, 8, 2, 125, 4, 1, 20},    /* ceil(8 * 2.5) */
        {0, 1000, 16, 1, 110, 8, 1, 69}, /* ceil(62.5 * 1.1) = 68.75 -> 69 */
        {0, 0, 8, 2, 100, 4, 1, 4},      /* no tokens: the minimum */
        {1, 100, 8, 2, 100, 0, 1, 26},   /* 2 * int(1.0 * 13) */
        {1, 100, 8, 2, 125, 0, 1, 32},   /* 2 * int(16.25) */
        {1, 100, 8, 1, 100, 0, 8, 16},   /* 13 aligned to 8 */
        {1, 10, 8, 1, 50, 0, 1, 1},      /* int(0.5 * 2) */
        {1, 7, 8, 2, 40, 0, 1, 0},       /* 2 * int(0.4 * 1) = 0 */
        {1, 0, 8, 2, 100, 0, 4, 0}};

    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        weft_moe_params_t p = {
            .field_mask =
                WEFT_MOE_PARAM_CAPACITY_RULE | WEFT_MOE_PARAM_CAPACITY_FACTOR |
                WEFT_MOE_PARAM_MIN_CAPACITY | WEFT_MOE_PARAM_ALIGNMENT,
            .nexperts = (size_t)rows[i][2],
            .topk = (size_t)rows[i][3],
            .capacity_rule = rows[i][0] ? WEFT_MOE_CAPACITY_TUTEL
                                        : WEFT_MOE_CAPACITY_DEEPSPEED,
            .capacity_factor = (double)rows[i][4] / 100.0,
            .min_capacity = (size_t)rows[i][5],
            .alignment = (size_t)rows[i][6]};
        size_t cap = 12345;

        cr_assert_eq(weft_moe_capacity(&p, (size_t)rows[i][1], &cap), WEFT_OK,
                     "row %zu: %s", i, weft_last_error());
        cr_expect_eq(cap, (size_t)rows[i][7], "row %zu: C %zu, want %ld", i,
                     cap, rows[i][7]);
    }
}

Test(ml_moe, capacity_defaults_and_bad_factor)
{
    weft_moe_params_t p = {.nexperts = 8, .topk = 2};
    size_t cap = 0;

    /* defaults: DeepSpeed, cf 1.0, min_capacity 4 */
    cr_assert_eq(weft_moe_capacity(&p, 100, &cap), WEFT_OK);
    cr_expect_eq(cap, 25);
    cr_assert_eq(weft_moe_capacity(&p, 3, &cap), WEFT_OK);
    cr_expect_eq(cap, 4);
    p.field_mask = WEFT_MOE_PARAM_CAPACITY;
    p.capacity = 7;
    cr_assert_eq(weft_moe_capacity(&p, 100, &cap), WEFT_OK);
    cr_expect_eq(cap, 7);
    p.field_mask = WEFT_MOE_PARAM_CAPACITY_FACTOR;
    p.capacity_factor = 0;
    cr_expect_eq(weft_moe_capacity(&p, 100, &cap), WEFT_ERR_INVALID_ARG);
    cr_expect(strstr(weft_last_error(), "capacity_factor") != NULL, "%s",
              weft_last_error());
}
