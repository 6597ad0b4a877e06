/* DDP bucket assignment against the reference's own golden vectors
 * (torch's ComputeBucketAssignmentTest, re-run on torch 1.13). */
#include <criterion/criterion.h>
#include <string.h>
#include <weft.h>
#include <weft/ml.h>

static void
expect_buckets(const size_t *bytes, const weft_dtype_t *dt, size_t n,
               const size_t *limits, size_t nlimits, const size_t *want,
               size_t want_n)
{
    size_t got[16], nb = 0;

    cr_assert_eq(
        weft_ddp_assign_buckets(bytes, dt, n, limits, nlimits, got, &nb),
        WEFT_OK, "%s", weft_last_error());
    cr_expect_eq(nb, want_n, "buckets: %zu, want %zu", nb, want_n);
    for (size_t i = 0; i < n; i++) {
        cr_expect_eq(got[i], want[i], "parameter %zu in bucket %zu, want %zu",
                     i, got[i], want[i]);
    }
}

Test(ml_ddp_buckets, four_equal_parameters_two_limits)
{
    /* 4 x f32[10], limits [40, 80]: [[0], [1, 2], [3]] */
    const size_t bytes[] = {40, 40, 40, 40}, limits[] = {40, 80};
    const weft_dtype_t dt[] = {WEFT_FLOAT32, WEFT_FLOAT32, WEFT_FLOAT32,
                               WEFT_FLOAT32};
    const size_t want[] = {0, 1, 1, 2};

    expect_buckets(bytes, dt, 4, limits, 2, want, 3);
}

Test(ml_ddp_buckets, one_accumulator_per_dtype)
{
    /* (f32[50], f64[25]) x 3, limits [400]: [[0, 2], [1, 3], [4], [5]] */
    const size_t bytes[] = {200, 200, 200, 200, 200, 200}, limits[] = {400};
    const weft_dtype_t dt[] = {WEFT_FLOAT32, WEFT_FLOAT64, WEFT_FLOAT32,
                               WEFT_FLOAT64, WEFT_FLOAT32, WEFT_FLOAT64};
    const size_t want[] = {0, 1, 0, 1, 2, 3};

    expect_buckets(bytes, dt, 6, limits, 1, want, 4);
}

Test(ml_ddp_buckets, limits_advance_per_dtype)
{
    /* (f32[50], f64[25]) x 3, limits [200, 400]:
     * [[0], [1], [2, 4], [3, 5]] */
    const size_t bytes[] = {200, 200, 200, 200, 200, 200},
                 limits[] = {200, 400};
    const weft_dtype_t dt[] = {WEFT_FLOAT32, WEFT_FLOAT64, WEFT_FLOAT32,
                               WEFT_FLOAT64, WEFT_FLOAT32, WEFT_FLOAT64};
    const size_t want[] = {0, 1, 2, 3, 2, 3};

    expect_buckets(bytes, dt, 6, limits, 2, want, 4);
}

Test(ml_ddp_buckets, everything_under_the_limit_is_one_bucket)
{
    /* f32[100], [200], [100], [50], limit 7169: [[0, 1, 2, 3]] */
    const size_t bytes[] = {400, 800, 400, 200}, limits[] = {7169};
    const weft_dtype_t dt[] = {WEFT_FLOAT32, WEFT_FLOAT32, WEFT_FLOAT32,
                               WEFT_FLOAT32};
    const size_t want[] = {0, 0, 0, 0};

    expect_buckets(bytes, dt, 4, limits, 1, want, 1);
}

Test(ml_ddp_buckets, a_parameter_is_never_split)
{
    /* a parameter larger than the cap gets a bucket of its own */
    const size_t bytes[] = {10, 1000, 10, 10}, limits[] = {100};
    const weft_dtype_t dt[] = {WEFT_FLOAT32, WEFT_FLOAT32, WEFT_FLOAT32,
                               WEFT_FLOAT32};
    const size_t want[] = {0, 0, 1, 1};

    expect_buckets(bytes, dt, 4, limits, 1, want, 2);
}

Test(ml_ddp_buckets, bad_arguments_name_what_is_wrong)
{
    const size_t bytes[] = {4}, zero[] = {0}, limits[] = {8};
    const weft_dtype_t dt[] = {WEFT_FLOAT32}, bad[] = {(weft_dtype_t)99};
    size_t b[1], nb;

    cr_expect_eq(weft_ddp_assign_buckets(bytes, dt, 1, zero, 1, b, &nb),
                 WEFT_ERR_INVALID_ARG);
    cr_expect(strstr(weft_last_error(), "limits[0]") != NULL, "%s",
              weft_last_error());
    cr_expect_eq(weft_ddp_assign_buckets(bytes, bad, 1, limits, 1, b, &nb),
                 WEFT_ERR_INVALID_ARG);
    cr_expect(strstr(weft_last_error(), "dtype[0]") != NULL, "%s",
              weft_last_error());
    cr_expect_eq(weft_ddp_assign_buckets(NULL, dt, 1, limits, 1, b, &nb),
                 WEFT_ERR_INVALID_ARG);
    cr_expect_eq(weft_ddp_assign_buckets(bytes, dt, 1, NULL, 0, b, &nb),
                 WEFT_ERR_INVALID_ARG);
    cr_expect_eq(weft_ddp_assign_buckets(NULL, NULL, 0, limits, 1, NULL, &nb),
                 WEFT_OK);
    cr_expect_eq(nb, 0);
}
