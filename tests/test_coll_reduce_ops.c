/*
 * The reduction kernels and 16-bit conversions against references written
 * here independently: per-element and branchy, integers modulo 2^64,
 * float32 through double, 16-bit rounding through frexp/ldexp.
 */
#include "build_config.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collectives/reduce_ops.h"

#define WT_F32_QNAN      0x7fc00000u
#define WT_F64_QNAN      0x7ff8000000000000ull
#define WT_ARRAY_LEN(_a) (sizeof(_a) / sizeof((_a)[0]))

static const weft_dtype_t wt_dtypes[] = {WEFT_INT8,    WEFT_UINT8,  WEFT_INT32,
                                         WEFT_UINT32,  WEFT_INT64,  WEFT_UINT64,
                                         WEFT_FLOAT32, WEFT_FLOAT64};

/* ---- helpers -------------------------------------------------------- */

static uint64_t
wt_rand(uint64_t *s) /* splitmix64 */
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static int
wt_is_float(weft_dtype_t dt)
{
    return dt == WEFT_FLOAT32 || dt == WEFT_FLOAT64;
}

static int
wt_is_signed(weft_dtype_t dt)
{
    return dt == WEFT_INT8 || dt == WEFT_INT32 || dt == WEFT_INT64;
}

static float
wt_f32(uint32_t u)
{
    float f;

    memcpy(&f, &u, 4);
    return f;
}

static uint32_t
wt_u32(float f)
{
    uint32_t u;

    memcpy(&u, &f, 4);
    return u;
}

/* The element's bits, zero-extended (integer sizes are 1, 4 and 8). */
static uint64_t
wt_load_bits(const void *p, size_t es)
{
    uint8_t u8;
    uint32_t u32;
    uint64_t u64;

    if (es == 1) {
        memcpy(&u8, p, 1);
        return u8;
    }
    if (es == 4) {
        memcpy(&u32, p, 4);
        return u32;
    }
    memcpy(&u64, p, 8);
    return u64;
}

/* The low 8 * es bits of u: the value reduced modulo 2^bits. */
static void
wt_store_bits(void *p, size_t es, uint64_t u)
{
    uint8_t u8 = (uint8_t)u;
    uint32_t u32 = (uint32_t)u;

    memcpy(p, es == 1 ? (void *)&u8 : es == 4 ? (void *)&u32 : (void *)&u, es);
}

/* Special values, as bit patterns; an element draws one of these 1 in 4. */
static const uint32_t wt_f32_special[] = {
    0x00000000, 0x80000000, 0x7f800000, 0xff800000, 0x7fc00000, 0xffc00000,
    0x7fc00001, 0x7f800001, 0xff812345, 0x00000001, 0x80000001, 0x007fffff,
    0x7f7fffff, 0xff7fffff, 0x3f800000, 0xbf800000, 0x00800000, 0x80800000};
static const uint64_t wt_f64_special[] = {
    0x0000000000000000ull, 0x8000000000000000ull, 0x7ff0000000000000ull,
    0xfff0000000000000ull, 0x7ff8000000000000ull, 0xfff8000000000000ull,
    0x7ff8000000000abcull, 0x7ff0000000000001ull, 0xfff0000000001234ull,
    0x0000000000000001ull, 0x8000000000000001ull, 0x7fefffffffffffffull,
    0xffefffffffffffffull, 0x3ff0000000000000ull, 0xbff0000000000000ull,
    0x0010000000000000ull};
/* integers take the low bits: 0, 1, 2, -1, -2, min and max of each width */
static const uint64_t wt_int_special[] = {
    0x0000000000000000ull, 0x0000000000000001ull, 0x0000000000000002ull,
    0xffffffffffffffffull, 0xfffffffffffffffeull, 0x0055555555555555ull,
    0xaaaaaaaaaaaaaaaaull, 0x0000000000000080ull, 0x000000000000007full,
    0x0000000080000000ull, 0x000000007fffffffull, 0x8000000000000000ull,
    0x7fffffffffffffffull};

static size_t
wt_nspecial(weft_dtype_t dt)
{
    return dt == WEFT_FLOAT32   ? WT_ARRAY_LEN(wt_f32_special)
           : dt == WEFT_FLOAT64 ? WT_ARRAY_LEN(wt_f64_special)
                                : WT_ARRAY_LEN(wt_int_special);
}

/* Special value j of dt at p (integers: the low bits of the pattern). */
static void
wt_special(weft_dtype_t dt, size_t j, void *p)
{
    j %= wt_nspecial(dt);
    if (dt == WEFT_FLOAT32) {
        memcpy(p, &wt_f32_special[j], 4);
    } else if (dt == WEFT_FLOAT64) {
        memcpy(p, &wt_f64_special[j], 8);
    } else {
        wt_store_bits(p, weft_dtype_size(dt), wt_int_special[j]);
    }
}

/* One random element of dt at p: a special value 1 in 4; otherwise
 * floats are moderate values (so sums and products mean something),
 * integers random bits. */
static void
wt_rand_elem(weft_dtype_t dt, void *p, uint64_t *s)
{
    uint64_t r = wt_rand(s), e = (r >> 8) % 40;

    if (r % 4 == 0) {
        wt_special(dt, (size_t)(r >> 8), p);
    } else if (dt == WEFT_FLOAT32) {
        uint32_t u = ((uint32_t)(r >> 32) & 0x807fffffu) |
                     (uint32_t)(127 - 20 + e) << 23;
        memcpy(p, &u, 4);
    } else if (dt == WEFT_FLOAT64) {
        uint64_t u = (wt_rand(s) & 0x800fffffffffffffull) |
                     (uint64_t)(1023 - 20 + e) << 52;
        memcpy(p, &u, 8);
    } else {
        wt_store_bits(p, weft_dtype_size(dt), wt_rand(s));
    }
}

/* ---- the reference ---------------------------------------------------- */

/* The element's bits, sign-extended to 64 bits for the signed types. */
static uint64_t
wt_load_int(weft_dtype_t dt, const void *p)
{
    size_t es = weft_dtype_size(dt);
    uint64_t u = wt_load_bits(p, es);

    if (wt_is_signed(dt) && es < 8 && (u >> (8 * es - 1)) != 0) {
        u |= ~0ull << (8 * es);
    }
    return u;
}

/* Sum and product modulo 2^64, whose low bits are the results modulo
 * 2^bits; min and max compare the values (signed or not). */
static void
wt_ref_int(weft_dtype_t dt, weft_op_t op, void *out, const void *pa,
           const void *pb)
{
    uint64_t a = wt_load_int(dt, pa), b = wt_load_int(dt, pb), r;
    int lt = wt_is_signed(dt) ? (int64_t)a < (int64_t)b : a < b;

    if (op == WEFT_SUM) {
        r = a + b;
    } else if (op == WEFT_PROD) {
        r = a * b;
    } else if (op == WEFT_MIN) {
        r = lt ? a : b;
    } else {
        r = lt ? b : a;
    }
    wt_store_bits(out, weft_dtype_size(dt), r);
}

/* min/max with NaN and the -0 < +0 rule spelled out; sum/prod in double
 * then rounded once to float (exact for + and * of two floats). */
static double
wt_ref_fp(weft_op_t op, double a, double b, int is_f32)
{
    double r;

    if (op == WEFT_MIN || op == WEFT_MAX) {
        if (isnan(a) || isnan(b)) {
            return NAN;
        }
        if (a == 0 && b == 0) {
            int neg = op == WEFT_MIN ? (signbit(a) || signbit(b))
                                     : (signbit(a) && signbit(b));
            return neg ? -0.0 : 0.0;
        }
        return op == WEFT_MIN ? (a < b ? a : b) : (a > b ? a : b);
    }
    r = op == WEFT_PROD ? a * b : a + b;
    return is_f32 ? (double)(float)r : r;
}

static void
wt_ref(weft_dtype_t dt, weft_op_t op, void *out, const void *pa, const void *pb)
{
    if (dt == WEFT_FLOAT32) {
        float a, b, r;

        memcpy(&a, pa, 4);
        memcpy(&b, pb, 4);
        r = (float)wt_ref_fp(op, a, b, 1);
        if (isnan(r)) {
            r = wt_f32(WT_F32_QNAN);
        }
        memcpy(out, &r, 4);
    } else if (dt == WEFT_FLOAT64) {
        double a, b, r;
        uint64_t q = WT_F64_QNAN;

        memcpy(&a, pa, 8);
        memcpy(&b, pb, 8);
        r = wt_ref_fp(op, a, b, 0);
        memcpy(out, isnan(r) ? (const void *)&q : (const void *)&r, 8);
    } else {
        wt_ref_int(dt, op, out, pa, pb);
    }
}

/* ---- kernels against the reference ------------------------------------ */

#define WT_GUARD 0xa5
#define WT_PAD   32

/* bytes bytes at byte offset off, guard bytes before and after. */
static uint8_t *
wt_buf(size_t bytes, size_t off)
{
    uint8_t *b = malloc(bytes + 2 * WT_PAD);

    cr_assert_not_null(b);
    memset(b, WT_GUARD, bytes + 2 * WT_PAD);
    return b + WT_PAD + off;
}

static void
wt_buf_check_free(uint8_t *p, size_t bytes, size_t off, const char *what)
{
    uint8_t *b = p - WT_PAD - off;

    for (size_t i = 0; i < WT_PAD + off; i++) {
        cr_assert_eq(b[i], WT_GUARD, "%s: wrote before the buffer", what);
    }
    for (size_t i = WT_PAD + off + bytes; i < bytes + 2 * WT_PAD; i++) {
        cr_assert_eq(b[i], WT_GUARD, "%s: wrote past the buffer", what);
    }
    free(b);
}

/* variant 0: reduce(x, y); 1: reduce3(z, x, y); 2: reduce3(x, x, y);
 * 3: reduce3(y, x, y). Offsets are bytes, so elements are misaligned. */
static void
wt_check_variant(weft_dtype_t dt, weft_op_t op, size_t n, int variant,
                 const size_t off[3], uint64_t *seed)
{
    size_t es = weft_dtype_size(dt), bytes = n * es;
    uint8_t *x = wt_buf(bytes, off[0]), *y = wt_buf(bytes, off[1]);
    uint8_t *z = wt_buf(bytes, off[2]), *want = malloc(bytes + 1);
    uint8_t *x0 = malloc(bytes + 1), *y0 = malloc(bytes + 1), *got;
    char what[96];

    for (size_t i = 0; i < n; i++) {
        wt_rand_elem(dt, x + i * es, seed);
        wt_rand_elem(dt, y + i * es, seed);
        wt_ref(dt, op, want + i * es, x + i * es, y + i * es);
    }
    memcpy(x0, x, bytes);
    memcpy(y0, y, bytes);
    snprintf(what, sizeof(what), "%s %s n=%zu variant %d offsets %zu/%zu/%zu",
             weft_dtype_name(dt), weft_op_name(op), n, variant, off[0], off[1],
             off[2]);
    switch (variant) {
    case 0:
        weft__reduce(dt, op, x, y, n);
        got = x;
        break;
    case 1:
        weft__reduce3(dt, op, z, x, y, n);
        got = z;
        break;
    case 2:
        weft__reduce3(dt, op, x, x, y, n);
        got = x;
        break;
    default:
        weft__reduce3(dt, op, y, x, y, n);
        got = y;
        break;
    }
    for (size_t i = 0; i < bytes; i++) {
        cr_assert_eq(got[i], want[i], "%s: element %zu differs", what, i / es);
    }
    cr_assert(got == x || memcmp(x, x0, bytes) == 0, "%s: a changed", what);
    cr_assert(got == y || memcmp(y, y0, bytes) == 0, "%s: b changed", what);
    wt_buf_check_free(x, bytes, off[0], what);
    wt_buf_check_free(y, bytes, off[1], what);
    wt_buf_check_free(z, bytes, off[2], what);
    free(want);
    free(x0);
    free(y0);
}

/* Every test of the kernels runs them for each instruction set this CPU
 * takes: the runtime choice (AVX2 where there is one), then the baseline
 * forced. */
static int
wt_isa_next(int *pass)
{
    if (*pass == 1 && !weft__reduce_ops_uses_avx2()) {
        *pass = 3; /* one set only: already run */
    }
    weft__reduce_ops_force_portable(*pass == 1);
    return (*pass)++ < 2;
}

static void wt_match_reference(void);
static void wt_commutative_specials(void);

Test(coll_reduce_ops, every_dtype_and_op_matches_reference, .timeout = 60)
{
    for (int pass = 0; wt_isa_next(&pass);) {
        wt_match_reference();
    }
}

static void
wt_match_reference(void)
{
    static const size_t counts[] = {0, 1, 7, 1000, 1003};
    static const size_t offs[][3] = {{0, 0, 0}, {1, 3, 5}, {6, 2, 7}};
    uint64_t seed = 42;

    for (size_t d = 0; d < WT_ARRAY_LEN(wt_dtypes); d++) {
        for (int op = 0; op < WEFT_OP_COUNT; op++) {
            if (!weft__reduce_valid(wt_dtypes[d], (weft_op_t)op)) {
                continue;
            }
            for (size_t c = 0; c < 5; c++) {
                for (int v = 0; v < 4; v++) {
                    wt_check_variant(wt_dtypes[d], (weft_op_t)op, counts[c], v,
                                     offs[(c + (size_t)v) % 3], &seed);
                }
            }
        }
    }
}

/* All pairs of special values (NaNs with payloads and signs, signed
 * zeros, infinities, extremes) in both orders: bitwise equal results. */
Test(coll_reduce_ops, every_op_is_bitwise_commutative, .timeout = 30)
{
    for (int pass = 0; wt_isa_next(&pass);) {
        wt_commutative_specials();
    }
}

static void
wt_commutative_specials(void)
{
    static uint8_t a[18 * 18 * 8], b[sizeof(a)], ab[sizeof(a)], ba[sizeof(a)];
    static uint8_t want[sizeof(a)];

    for (size_t d = 0; d < WT_ARRAY_LEN(wt_dtypes); d++) {
        weft_dtype_t dt = wt_dtypes[d];
        size_t es = weft_dtype_size(dt);
        size_t ns = wt_nspecial(dt), n = ns * ns;

        for (size_t i = 0; i < n; i++) {
            wt_special(dt, i / ns, a + i * es);
            wt_special(dt, i % ns, b + i * es);
        }
        for (int op = 0; op < WEFT_OP_COUNT; op++) {
            if (!weft__reduce_valid(dt, (weft_op_t)op)) {
                continue;
            }
            memcpy(ab, a, n * es);
            weft__reduce(dt, (weft_op_t)op, ab, b, n);
            weft__reduce3(dt, (weft_op_t)op, ba, b, a, n);
            for (size_t i = 0; i < n; i++) {
                wt_ref(dt, (weft_op_t)op, want + i * es, a + i * es,
                       b + i * es);
            }
            cr_assert_eq(memcmp(ab, ba, n * es), 0, "%s %s: order shows",
                         weft_dtype_name(dt), weft_op_name((weft_op_t)op));
            cr_assert_eq(memcmp(ab, want, n * es), 0, "%s %s: not reference",
                         weft_dtype_name(dt), weft_op_name((weft_op_t)op));
        }
    }
}

Test(coll_reduce_ops, integers_wrap_in_twos_complement, .timeout = 10)
{
    int8_t i8[] = {127, -128, -128, 100}, j8[] = {1, -1, -1, 3};
    uint8_t u8[] = {255, 16}, v8[] = {1, 16};
    int32_t i32[] = {INT32_MIN, INT32_MAX}, j32[] = {-1, 2};
    int64_t i64[] = {INT64_MIN, INT64_MAX}, j64[] = {-1, 1};
    uint64_t u64[] = {UINT64_MAX, 1ull << 32}, v64[] = {UINT64_MAX, 1ull << 32};

    weft__reduce(WEFT_INT8, WEFT_SUM, i8, j8, 2);
    cr_assert(i8[0] == -128 && i8[1] == 127, "int8 127+1, -128-1");
    weft__reduce(WEFT_INT8, WEFT_PROD, i8 + 2, j8 + 2, 2);
    cr_assert(i8[2] == -128 && i8[3] == 44, "int8 -128*-1, 100*3");
    weft__reduce(WEFT_UINT8, WEFT_SUM, u8, v8, 1);
    weft__reduce(WEFT_UINT8, WEFT_PROD, u8 + 1, v8 + 1, 1);
    cr_assert(u8[0] == 0 && u8[1] == 0, "uint8 255+1, 16*16");
    weft__reduce(WEFT_INT32, WEFT_PROD, i32, j32, 2);
    cr_assert(i32[0] == INT32_MIN && i32[1] == -2, "int32 min*-1, max*2");
    weft__reduce(WEFT_INT64, WEFT_PROD, i64, j64, 1);
    weft__reduce(WEFT_INT64, WEFT_SUM, i64 + 1, j64 + 1, 1);
    cr_assert(i64[0] == INT64_MIN && i64[1] == INT64_MIN,
              "int64 min*-1, max+1");
    weft__reduce(WEFT_UINT64, WEFT_PROD, u64, v64, 2);
    cr_assert(u64[0] == 1 && u64[1] == 0, "uint64 max*max, 2^32*2^32");
}

Test(coll_reduce_ops, float_min_max_signed_zeros_and_nan, .timeout = 10)
{
    const float pz = 0.0f, nz = -0.0f, nan1 = wt_f32(0xffc12345u);
    float a[] = {pz, nz, nan1, 1.0f}, b[] = {nz, pz, 1.0f, nan1}, r[4];
    double c[] = {INFINITY, 0.0}, e[] = {-INFINITY, INFINITY};
    uint64_t bits[2];

    weft__reduce3(WEFT_FLOAT32, WEFT_MIN, r, a, b, 4);
    cr_assert(wt_u32(r[0]) == 0x80000000u && wt_u32(r[1]) == 0x80000000u,
              "min(+0,-0) is -0 in both orders");
    cr_assert(wt_u32(r[2]) == WT_F32_QNAN && wt_u32(r[3]) == WT_F32_QNAN,
              "min with a NaN is the default NaN");
    weft__reduce3(WEFT_FLOAT32, WEFT_MAX, r, a, b, 4);
    cr_assert(wt_u32(r[0]) == 0 && wt_u32(r[1]) == 0,
              "max(+0,-0) is +0 in both orders");
    cr_assert(wt_u32(r[2]) == WT_F32_QNAN && wt_u32(r[3]) == WT_F32_QNAN);
    weft__reduce3(WEFT_FLOAT32, WEFT_SUM, r, a, b, 4);
    cr_assert(wt_u32(r[0]) == 0 && wt_u32(r[2]) == WT_F32_QNAN);
    weft__reduce(WEFT_FLOAT64, WEFT_SUM, c, e, 1);
    weft__reduce(WEFT_FLOAT64, WEFT_PROD, c + 1, e + 1, 1);
    memcpy(bits, c, sizeof(bits));
    cr_assert(bits[0] == WT_F64_QNAN && bits[1] == WT_F64_QNAN,
              "inf-inf and 0*inf give the default NaN");
}

/* AVG sums; weft__reduce_avg divides (checked against x / n, on data
 * where x * (1/n) would differ). */
Test(coll_reduce_ops, avg_sums_then_divides, .timeout = 10)
{
    enum { N = 1003 };
    static float f[N], g[N], s[N];
    static double d[N], h[N];
    uint64_t seed = 7;
    int diff = 0;

    for (size_t i = 0; i < N; i++) {
        f[i] = (float)(wt_rand(&seed) % 100000) / 7.0f;
        g[i] = (float)(wt_rand(&seed) % 100000) / 3.0f;
        d[i] = (double)(wt_rand(&seed) % 1000000) / 11.0;
    }
    memcpy(s, f, sizeof(s));
    weft__reduce(WEFT_FLOAT32, WEFT_AVG, s, g, N);
    weft__reduce_avg(WEFT_FLOAT32, s, N, 3);
    memcpy(h, d, sizeof(h));
    weft__reduce_avg(WEFT_FLOAT64, h, N, 7);
    for (size_t i = 0; i < N; i++) {
        float sum = f[i] + g[i];

        cr_assert_eq(wt_u32(s[i]), wt_u32(sum / 3.0f), "f32 element %zu", i);
        cr_assert(h[i] == d[i] / 7.0, "f64 element %zu", i);
        diff += sum / 3.0f != sum * (1.0f / 3.0f);
    }
    cr_assert_gt(diff, 0, "the data never tells division from 1/n");
    weft__reduce_avg(WEFT_FLOAT32, s, 0, 3); /* count 0 touches nothing */
}

Test(coll_reduce_ops, valid_combinations_and_reduce_dtype, .timeout = 10)
{
    for (int d = 0; d < WEFT_DTYPE_COUNT; d++) {
        weft_dtype_t dt = (weft_dtype_t)d;
        int fp = dt == WEFT_FLOAT16 || dt == WEFT_BFLOAT16 || wt_is_float(dt);

        for (int op = 0; op < WEFT_OP_COUNT; op++) {
            cr_assert_eq(weft__reduce_valid(dt, (weft_op_t)op),
                         op == WEFT_AVG ? fp : 1, "%s %s", weft_dtype_name(dt),
                         weft_op_name((weft_op_t)op));
        }
        cr_assert_eq(weft__reduce_valid(dt, WEFT_OP_COUNT), 0);
        cr_assert_eq(weft__reduce_valid(dt, (weft_op_t)-1), 0);
        cr_assert_eq(weft__reduce_dtype(dt),
                     fp && !wt_is_float(dt) ? WEFT_FLOAT32 : dt);
    }
    cr_assert_eq(weft__reduce_valid(WEFT_DTYPE_COUNT, WEFT_SUM), 0);
    cr_assert_eq(weft__reduce_valid((weft_dtype_t)-1, WEFT_SUM), 0);
}

/* ---- 16-bit conversions ---------------------------------------------- */

/* A float narrowed to a binary format with mbits fraction and ebits
 * exponent bits, by the book: scale |f| onto the integer grid of the
 * target's spacing at that magnitude, round half to even, rebuild. NaNs:
 * sign, quiet bit, the upper payload bits. */
static uint16_t
wt_ref_narrow(float f, int mbits, int ebits)
{
    int bias = (1 << (ebits - 1)) - 1, emax = (1 << ebits) - 1, e, E;
    uint32_t sign = signbit(f) ? 1u << (mbits + ebits) : 0, x = wt_u32(f);
    double a = fabs((double)f), q, n;

    if (isnan(f)) {
        return (uint16_t)(sign | (uint32_t)emax << mbits | 1u << (mbits - 1) |
                          (x & 0x7fffffu) >> (23 - mbits));
    }
    if (isinf(f)) {
        return (uint16_t)(sign | (uint32_t)emax << mbits);
    }
    E = 1 - bias; /* the subnormal scale, also for zero */
    if (a != 0 && (frexp(a, &e), e - 1 > E)) {
        E = e - 1;
    }
    q = ldexp(a, mbits - E);
    n = floor(q);
    if (q - n > 0.5 || (q - n == 0.5 && fmod(n, 2.0) == 1.0)) {
        n += 1;
    }
    if (n >= ldexp(1, mbits + 1)) { /* rounded up into the next binade */
        n /= 2;
        E += 1;
    }
    if (E + bias >= emax) {
        return (uint16_t)(sign | (uint32_t)emax << mbits);
    }
    if (n < ldexp(1, mbits)) {
        return (uint16_t)(sign | (uint32_t)n);
    }
    return (uint16_t)(sign | (uint32_t)(E + bias) << mbits |
                      ((uint32_t)n - (1u << mbits)));
}

static uint32_t
wt_ref_f16_to_f32(uint16_t h)
{
    uint32_t s = (uint32_t)(h >> 15) << 31, e = (h >> 10) & 0x1f;
    uint32_t m = h & 0x3ff;
    double v = e == 0 ? ldexp(m, -24) : ldexp(m + 1024, (int)e - 25);

    if (e == 31) {
        return s | (m != 0 ? 0x7fc00000u | m << 13 : 0x7f800000u);
    }
    return wt_u32((float)(s ? -v : v));
}

typedef void (*wt_narrow_fn_t)(uint16_t *, const float *, size_t);
typedef void (*wt_widen_fn_t)(float *, const uint16_t *, size_t);

/* Chunks of odd sizes at odd element offsets: vector bodies and tails. */
static const size_t wt_chunks[] = {1, 7, 1003, 8, 13, 4096, 3};

static void
wt_narrow(wt_narrow_fn_t fn, uint16_t *dst, const float *src, size_t n)
{
    for (size_t i = 0, k = 0; i < n; k++) {
        size_t c = wt_chunks[k % 7] < n - i ? wt_chunks[k % 7] : n - i;

        fn(dst + i, src + i, c);
        i += c;
    }
}

static void
wt_widen(wt_widen_fn_t fn, float *dst, const uint16_t *src, size_t n)
{
    for (size_t i = 0, k = 0; i < n; k++) {
        size_t c = wt_chunks[k % 7] < n - i ? wt_chunks[k % 7] : n - i;

        fn(dst + i, src + i, c);
        i += c;
    }
}

/* fp32 inputs near the rounding boundaries of a 16-bit format that keeps
 * the upper `keep` bits: every upper pattern (all exponents, both signs)
 * with low bits at 0, 1, just below, at and above the tie, and all ones.
 * For fp16 also the exact midpoints between neighbouring fp16 values
 * (where subnormal ties lie) and +-1, 2 fp32 ulps around them. */
static float *
wt_boundary_set(int keep, int f16_mids, size_t *n_p)
{
    uint32_t low = 32 - (uint32_t)keep, half = 1u << (low - 1);
    const uint32_t lows[] = {0, 1, half - 1, half, half + 1, (1u << low) - 1};
    size_t n = ((size_t)6 << keep) + (f16_mids ? 0x7c00 * 10 : 0), k = 0;
    float *v = malloc(n * sizeof(*v));

    cr_assert_not_null(v);
    for (uint32_t up = 0; up < (1u << keep); up++) {
        for (int j = 0; j < 6; j++) {
            v[k++] = wt_f32(up << low | lows[j]);
        }
    }
    for (uint32_t h = 0; f16_mids && h < 0x7c00; h++) {
        double lo = wt_f32(wt_ref_f16_to_f32((uint16_t)h));
        double hi = h == 0x7bff ? 65536.0
                                : wt_f32(wt_ref_f16_to_f32((uint16_t)(h + 1)));
        float mid = (float)((lo + hi) / 2);
        float around[5] = {nextafterf(nextafterf(mid, 0), 0),
                           nextafterf(mid, 0), mid, nextafterf(mid, INFINITY),
                           nextafterf(nextafterf(mid, INFINITY), INFINITY)};

        for (int j = 0; j < 5; j++) {
            v[k++] = around[j];
            v[k++] = -around[j];
        }
    }
    *n_p = k;
    return v;
}

/* n random fp32 patterns; with f16_range, exponents near fp16's range. */
static float *
wt_random_set(uint64_t seed, size_t n, int f16_range)
{
    float *v = malloc(n * sizeof(*v));

    cr_assert_not_null(v);
    for (size_t i = 0; i < n; i++) {
        uint32_t u = (uint32_t)wt_rand(&seed);

        if (f16_range) {
            u = (u & 0x807fffffu) | (100u + (u >> 8) % 45) << 23;
        }
        v[i] = wt_f32(u);
    }
    return v;
}

/* Narrow n floats with the portable path and compare with the reference. */
static void
wt_check_narrow(const float *v, size_t n, int bf16, const char *set)
{
    uint16_t *got = malloc(n * sizeof(*got));

    cr_assert_not_null(got);
    weft__reduce_ops_force_portable(1);
    wt_narrow(bf16 ? weft__f32_to_bf16 : weft__f32_to_f16, got, v, n);
    for (size_t i = 0; i < n; i++) {
        uint16_t want =
            bf16 ? wt_ref_narrow(v[i], 7, 8) : wt_ref_narrow(v[i], 10, 5);

        cr_assert_eq(got[i], want, "%s %s: %08x gave %04x, want %04x",
                     bf16 ? "bf16" : "fp16", set, wt_u32(v[i]), got[i], want);
    }
    free(got);
}

Test(coll_reduce_ops, f16_to_f32_exhaustive_and_round_trip, .timeout = 30)
{
    static uint16_t h[65536], back[65536];
    static float f[65536];

    for (uint32_t i = 0; i < 65536; i++) {
        h[i] = (uint16_t)i;
    }
    weft__reduce_ops_force_portable(1);
    wt_widen(weft__f16_to_f32, f, h, 65536);
    wt_narrow(weft__f32_to_f16, back, f, 65536);
    for (uint32_t i = 0; i < 65536; i++) {
        int nan = (i & 0x7c00) == 0x7c00 && (i & 0x3ff) != 0;

        cr_assert_eq(wt_u32(f[i]), wt_ref_f16_to_f32(h[i]), "fp16 %04x", i);
        cr_assert_eq(back[i], nan ? h[i] | 0x200 : h[i], "fp16 %04x back", i);
    }
}

Test(coll_reduce_ops, f32_to_f16_near_rounding_boundaries, .timeout = 30)
{
    size_t n;
    float *v = wt_boundary_set(19, 1, &n);

    wt_check_narrow(v, n, 0, "boundaries");
    free(v);
}

Test(coll_reduce_ops, f32_to_f16_random_patterns, .timeout = 30)
{
    float *v = wt_random_set(1, 2000000, 0), *w = wt_random_set(2, 1000000, 1);

    wt_check_narrow(v, 2000000, 0, "random");
    wt_check_narrow(w, 1000000, 0, "random fp16 range");
    free(v);
    free(w);
}

Test(coll_reduce_ops, f16c_path_matches_portable_bit_for_bit, .timeout = 30)
{
    static uint16_t h[65536];
    static float fp[65536], fh[65536];
    float *sets[2];
    size_t ns[2] = {0, 2000000};

    weft__reduce_ops_force_portable(0);
    if (!weft__reduce_ops_uses_f16c()) {
        cr_skip_test("this CPU has no F16C: only the portable path runs");
    }
    sets[0] = wt_boundary_set(19, 1, &ns[0]);
    sets[1] = wt_random_set(3, ns[1], 0);
    for (uint32_t i = 0; i < 65536; i++) {
        h[i] = (uint16_t)i;
    }
    wt_widen(weft__f16_to_f32, fh, h, 65536);
    weft__reduce_ops_force_portable(1);
    wt_widen(weft__f16_to_f32, fp, h, 65536);
    cr_assert_eq(memcmp(fp, fh, sizeof(fp)), 0, "fp16 -> fp32 differs");
    for (int s = 0; s < 2; s++) {
        uint16_t *p = malloc(ns[s] * 2), *x = malloc(ns[s] * 2);

        weft__reduce_ops_force_portable(1);
        wt_narrow(weft__f32_to_f16, p, sets[s], ns[s]);
        weft__reduce_ops_force_portable(0);
        wt_narrow(weft__f32_to_f16, x, sets[s], ns[s]);
        for (size_t i = 0; i < ns[s]; i++) {
            cr_assert_eq(x[i], p[i], "%08x: f16c %04x, portable %04x",
                         wt_u32(sets[s][i]), x[i], p[i]);
        }
        free(p);
        free(x);
        free(sets[s]);
    }
}

Test(coll_reduce_ops, bf16_exhaustive_round_trip, .timeout = 30)
{
    static uint16_t h[65536], back[65536];
    static float f[65536];

    for (uint32_t i = 0; i < 65536; i++) {
        h[i] = (uint16_t)i;
    }
    wt_widen(weft__bf16_to_f32, f, h, 65536);
    wt_narrow(weft__f32_to_bf16, back, f, 65536);
    for (uint32_t i = 0; i < 65536; i++) {
        int nan = (i & 0x7f80) == 0x7f80 && (i & 0x7f) != 0;

        cr_assert_eq(wt_u32(f[i]), i << 16, "bf16 %04x", i);
        cr_assert_eq(back[i], nan ? h[i] | 0x40 : h[i], "bf16 %04x back", i);
    }
}

Test(coll_reduce_ops, f32_to_bf16_boundaries_and_random, .timeout = 30)
{
    size_t n;
    float *v = wt_boundary_set(16, 0, &n), *w = wt_random_set(4, 2000000, 0);

    wt_check_narrow(v, n, 1, "boundaries");
    wt_check_narrow(w, 2000000, 1, "random");
    free(v);
    free(w);
}

Test(coll_reduce_ops, convert_dispatches_by_dtype_pair, .timeout = 10)
{
    uint16_t h[3] = {0x3c00, 0xc000, 0x7bff}, b[3] = {0x3f80, 0xc000, 0x7f7f};
    uint16_t h2[3], b2[3];
    float f[3], g[3];

    weft__convert(f, WEFT_FLOAT32, h, WEFT_FLOAT16, 3);
    cr_assert(f[0] == 1.0f && f[1] == -2.0f && f[2] == 65504.0f);
    weft__convert(h2, WEFT_FLOAT16, f, WEFT_FLOAT32, 3);
    cr_assert_eq(memcmp(h, h2, sizeof(h)), 0);
    weft__convert(g, WEFT_FLOAT32, b, WEFT_BFLOAT16, 3);
    cr_assert(g[0] == 1.0f && g[1] == -2.0f && wt_u32(g[2]) == 0x7f7f0000u);
    weft__convert(b2, WEFT_BFLOAT16, g, WEFT_FLOAT32, 3);
    cr_assert_eq(memcmp(b, b2, sizeof(b)), 0);
    weft__convert(g, WEFT_FLOAT32, f, WEFT_FLOAT32, 3);
    cr_assert_eq(memcmp(f, g, sizeof(f)), 0);
    weft__convert(g, WEFT_FLOAT32, h, WEFT_FLOAT16, 0);
    cr_assert_eq(memcmp(f, g, sizeof(f)), 0, "count 0 wrote");
}
