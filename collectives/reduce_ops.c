/*
 * Reduction kernels: one two-operand and one three-operand loop per
 * (dtype, op), found through reduce_table[dtype][op], never a switch in the
 * inner loop. The loops are plain element-wise code with restrict pointers
 * and branch-free element ops so gcc -O3 vectorizes them (see
 * reduce_ops.h for the bitwise-commutativity rules the element ops keep).
 * The fp16/bf16 conversions follow the kernels.
 */
#include "build_config.h"
#include "collectives/reduce_ops.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#include <immintrin.h>
#define REDUCE_HAVE_X86 1
#endif

/*
 * Alignment-1 views of the element types: a buffer at any byte offset
 * (e.g. inside a packed staging area) is read with unaligned loads
 * instead of faulting in a vector loop that assumed element alignment.
 * On x86 unaligned vector loads cost the same as aligned ones.
 */
typedef int8_t i8_ua __attribute__((aligned(1)));
typedef uint8_t u8_ua __attribute__((aligned(1)));
typedef int32_t i32_ua __attribute__((aligned(1)));
typedef uint32_t u32_ua __attribute__((aligned(1)));
typedef int64_t i64_ua __attribute__((aligned(1)));
typedef uint64_t u64_ua __attribute__((aligned(1)));
typedef uint16_t u16_ua __attribute__((aligned(1)));
typedef float f32_ua __attribute__((aligned(1)));
typedef double f64_ua __attribute__((aligned(1)));

/*
 * Integer element ops. SUM and PROD are computed in the unsigned type,
 * where wrap-around is defined (signed overflow is undefined behaviour);
 * "1u *" makes types narrower than int multiply as unsigned int, not as
 * int. The conversion back to a signed type is modular in gcc and clang.
 */
#define REDUCE_INT_OPS(_tag, _T, _U)                                           \
    static inline _T _tag##_sum(_T a, _T b)                                    \
    {                                                                          \
        return (_T)(_U)((_U)a + (_U)b);                                        \
    }                                                                          \
    static inline _T _tag##_prod(_T a, _T b)                                   \
    {                                                                          \
        return (_T)(_U)(1u * (_U)a * (_U)b);                                   \
    }                                                                          \
    static inline _T _tag##_min(_T a, _T b)                                    \
    {                                                                          \
        return a < b ? a : b;                                                  \
    }                                                                          \
    static inline _T _tag##_max(_T a, _T b)                                    \
    {                                                                          \
        return a > b ? a : b;                                                  \
    }

REDUCE_INT_OPS(i8, int8_t, uint8_t)
REDUCE_INT_OPS(u8, uint8_t, uint8_t)
REDUCE_INT_OPS(i32, int32_t, uint32_t)
REDUCE_INT_OPS(u32, uint32_t, uint32_t)
REDUCE_INT_OPS(i64, int64_t, uint64_t)
REDUCE_INT_OPS(u64, uint64_t, uint64_t)

/*
 * Floating element ops. Every NaN result becomes the default quiet NaN:
 * x86 returns the first operand's payload, which would make the result
 * depend on operand order. Written as selects (no branches) so the
 * vectorizer turns them into compare + blend. MIN/MAX break the tie
 * between -0 and +0 on the sign (copysign vectorizes, signbit does not
 * for double); x != x is the NaN test.
 */
#define REDUCE_FLOAT_OPS(_tag, _T, _nan, _copysign)                            \
    static inline _T _tag##_sum(_T a, _T b)                                    \
    {                                                                          \
        _T r = a + b;                                                          \
        return r != r ? _nan : r;                                              \
    }                                                                          \
    static inline _T _tag##_prod(_T a, _T b)                                   \
    {                                                                          \
        _T r = a * b;                                                          \
        return r != r ? _nan : r;                                              \
    }                                                                          \
    static inline _T _tag##_min(_T a, _T b)                                    \
    {                                                                          \
        _T r = (a < b || (a == b && _copysign(1, a) < 0)) ? a : b;             \
        return (a != a || b != b) ? _nan : r;                                  \
    }                                                                          \
    static inline _T _tag##_max(_T a, _T b)                                    \
    {                                                                          \
        _T r = (a > b || (a == b && _copysign(1, a) > 0)) ? a : b;             \
        return (a != a || b != b) ? _nan : r;                                  \
    }

REDUCE_FLOAT_OPS(f32, float, __builtin_nanf(""), __builtin_copysignf)
REDUCE_FLOAT_OPS(f64, double, __builtin_nan(""), __builtin_copysign)

/*
 * The loops: <pfx>red2_<tag>_<op>(inout, in, n) and red3 (out, a, b, n).
 * restrict holds because weft__reduce3 sends out == a or out == b to the
 * two-operand loop (every op is commutative, so the order is free). Each
 * is compiled twice: for the baseline ISA and, on x86, for AVX2 (twice
 * the vector width; taken where the CPU has it). Element by element, the
 * results are the same bits either way.
 */
#define REDUCE_KERNELS(_pfx, _attr, _tag, _op)                                 \
    _attr static void _pfx##red2_##_tag##_##_op(                               \
        void *restrict inout_, const void *restrict in_, size_t n)             \
    {                                                                          \
        _tag##_ua *restrict x = inout_;                                        \
        const _tag##_ua *restrict y = in_;                                     \
        for (size_t i = 0; i < n; i++) {                                       \
            x[i] = _tag##_##_op(x[i], y[i]);                                   \
        }                                                                      \
    }                                                                          \
    _attr static void _pfx##red3_##_tag##_##_op(                               \
        void *restrict out_, const void *restrict a_, const void *restrict b_, \
        size_t n)                                                              \
    {                                                                          \
        _tag##_ua *restrict o = out_;                                          \
        const _tag##_ua *restrict a = a_;                                      \
        const _tag##_ua *restrict b = b_;                                      \
        for (size_t i = 0; i < n; i++) {                                       \
            o[i] = _tag##_##_op(a[i], b[i]);                                   \
        }                                                                      \
    }
#define REDUCE_KERNELS_ALL(_pfx, _attr, _tag)                                  \
    REDUCE_KERNELS(_pfx, _attr, _tag, sum)                                     \
    REDUCE_KERNELS(_pfx, _attr, _tag, prod)                                    \
    REDUCE_KERNELS(_pfx, _attr, _tag, min)                                     \
    REDUCE_KERNELS(_pfx, _attr, _tag, max)
#define REDUCE_KERNELS_ISA(_pfx, _attr)                                        \
    REDUCE_KERNELS_ALL(_pfx, _attr, i8)                                        \
    REDUCE_KERNELS_ALL(_pfx, _attr, u8)                                        \
    REDUCE_KERNELS_ALL(_pfx, _attr, i32)                                       \
    REDUCE_KERNELS_ALL(_pfx, _attr, u32)                                       \
    REDUCE_KERNELS_ALL(_pfx, _attr, i64)                                       \
    REDUCE_KERNELS_ALL(_pfx, _attr, u64)                                       \
    REDUCE_KERNELS_ALL(_pfx, _attr, f32)                                       \
    REDUCE_KERNELS_ALL(_pfx, _attr, f64)

REDUCE_KERNELS_ISA(, )
#ifdef REDUCE_HAVE_X86
REDUCE_KERNELS_ISA(avx2_, __attribute__((target("avx2"))))
#endif

typedef void (*reduce2_fn_t)(void *restrict inout, const void *restrict in,
                             size_t n);
typedef void (*reduce3_fn_t)(void *restrict out, const void *restrict a,
                             const void *restrict b, size_t n);

typedef struct reduce_kernel {
    reduce2_fn_t two;
    reduce3_fn_t three;
} reduce_kernel_t;

/* Empty entries are the invalid combinations: AVG on integers, and the
 * 16-bit floats, which are reduced as FLOAT32. AVG sums; the caller
 * divides once at the end (weft__reduce_avg). Designated entries, so the
 * table does not depend on the order of the enums. One table per ISA. */
/* clang-format off */
#define REDUCE_ENTRY(_pfx, _tag, _op) \
    {.two = _pfx##red2_##_tag##_##_op, .three = _pfx##red3_##_tag##_##_op}
#define REDUCE_ROW(_pfx, _tag) \
    [WEFT_SUM] = REDUCE_ENTRY(_pfx, _tag, sum), \
    [WEFT_PROD] = REDUCE_ENTRY(_pfx, _tag, prod), \
    [WEFT_MIN] = REDUCE_ENTRY(_pfx, _tag, min), \
    [WEFT_MAX] = REDUCE_ENTRY(_pfx, _tag, max)
#define REDUCE_TABLE(_pfx) { \
    [WEFT_INT8]    = {REDUCE_ROW(_pfx, i8)}, \
    [WEFT_UINT8]   = {REDUCE_ROW(_pfx, u8)}, \
    [WEFT_INT32]   = {REDUCE_ROW(_pfx, i32)}, \
    [WEFT_UINT32]  = {REDUCE_ROW(_pfx, u32)}, \
    [WEFT_INT64]   = {REDUCE_ROW(_pfx, i64)}, \
    [WEFT_UINT64]  = {REDUCE_ROW(_pfx, u64)}, \
    [WEFT_FLOAT32] = {REDUCE_ROW(_pfx, f32), \
                      [WEFT_AVG] = REDUCE_ENTRY(_pfx, f32, sum)}, \
    [WEFT_FLOAT64] = {REDUCE_ROW(_pfx, f64), \
                      [WEFT_AVG] = REDUCE_ENTRY(_pfx, f64, sum)}, \
}

static const reduce_kernel_t
    reduce_table[WEFT_DTYPE_COUNT][WEFT_OP_COUNT] = REDUCE_TABLE();
#ifdef REDUCE_HAVE_X86
static const reduce_kernel_t
    reduce_table_avx2[WEFT_DTYPE_COUNT][WEFT_OP_COUNT] = REDUCE_TABLE(avx2_);
#endif
/* clang-format on */

enum { ISA_UNKNOWN, ISA_BASE, ISA_AVX2 };

/* The CPU's answer, asked once (relaxed: every thread computes the same);
 * the tests may force the baseline (weft__reduce_ops_force_portable). */
static atomic_int reduce_isa = ISA_UNKNOWN;
static atomic_int reduce_force_base = 0;

static const reduce_kernel_t (*reduce_table_for_cpu(void))[WEFT_OP_COUNT]
{
#ifdef REDUCE_HAVE_X86
    int isa = atomic_load_explicit(&reduce_isa, memory_order_relaxed);

    if (isa == ISA_UNKNOWN) {
        __builtin_cpu_init();
        isa = __builtin_cpu_supports("avx2") ? ISA_AVX2 : ISA_BASE;
        atomic_store_explicit(&reduce_isa, isa, memory_order_relaxed);
    }
    if (isa == ISA_AVX2 &&
        !atomic_load_explicit(&reduce_force_base, memory_order_relaxed)) {
        return reduce_table_avx2;
    }
#endif
    return reduce_table;
}

/* The kernel for (dtype, op); NULL outside the enums or when invalid. */
static const reduce_kernel_t *
reduce_kernel(weft_dtype_t dtype, weft_op_t op)
{
    const reduce_kernel_t *k;

    if ((unsigned)dtype >= WEFT_DTYPE_COUNT || (unsigned)op >= WEFT_OP_COUNT) {
        return NULL;
    }
    k = &reduce_table_for_cpu()[dtype][op];
    return k->two != NULL ? k : NULL;
}

/* A call with an invalid (dtype, op) is a caller bug: the public entry
 * points check weft__reduce_valid first. Stop loudly in debug builds;
 * leave the buffer alone otherwise. */
static void
reduce_bad_call(void)
{
#ifdef WEFT_DEBUG
    abort();
#endif
}

weft_dtype_t
weft__reduce_dtype(weft_dtype_t dtype)
{
    if (dtype == WEFT_FLOAT16 || dtype == WEFT_BFLOAT16) {
        return WEFT_FLOAT32;
    }
    return dtype;
}

int
weft__reduce_valid(weft_dtype_t dtype, weft_op_t op)
{
    /* the portable table: every ISA's defines the same pairs (checked on
     * every collective call, so without the ISA dispatch) */
    if ((unsigned)dtype >= WEFT_DTYPE_COUNT || (unsigned)op >= WEFT_OP_COUNT) {
        return 0;
    }
    return reduce_table[weft__reduce_dtype(dtype)][op].two != NULL;
}

void
weft__reduce(weft_dtype_t dtype, weft_op_t op, void *inout, const void *in,
             size_t count)
{
    const reduce_kernel_t *k = reduce_kernel(dtype, op);

    if (k == NULL) {
        reduce_bad_call();
        return;
    }
    k->two(inout, in, count);
}

void
weft__reduce3(weft_dtype_t dtype, weft_op_t op, void *out, const void *a,
              const void *b, size_t count)
{
    const reduce_kernel_t *k = reduce_kernel(dtype, op);

    if (k == NULL) {
        reduce_bad_call();
    } else if (out == a) {
        k->two(out, b, count);
    } else if (out == b) {
        k->two(out, a, count);
    } else {
        k->three(out, a, b, count);
    }
}

static void
reduce_avg_f32(void *buf, size_t count, int n)
{
    f32_ua *restrict x = buf;
    float d = (float)n;

    for (size_t i = 0; i < count; i++) {
        x[i] = x[i] / d;
    }
}

static void
reduce_avg_f64(void *buf, size_t count, int n)
{
    f64_ua *restrict x = buf;
    double d = (double)n;

    for (size_t i = 0; i < count; i++) {
        x[i] = x[i] / d;
    }
}

void
weft__reduce_avg(weft_dtype_t dtype, void *buf, size_t count, int n)
{
    if (dtype == WEFT_FLOAT32) {
        reduce_avg_f32(buf, count, n);
    } else if (dtype == WEFT_FLOAT64) {
        reduce_avg_f64(buf, count, n);
    } else {
        reduce_bad_call();
    }
}

/* ---- 16-bit float conversions ------------------------------------------ */

static inline float
bits_to_f32(uint32_t u)
{
    float f;

    memcpy(&f, &u, sizeof(f));
    return f;
}

static inline uint32_t
f32_to_bits(float f)
{
    uint32_t u;

    memcpy(&u, &f, sizeof(u));
    return u;
}

/* cond ? a : b through a mask. With ?: gcc sinks the float operation
 * that feeds only one arm into a branch (it may trap, so it must not run
 * unconditionally), and a loop with a branch does not vectorize. */
static inline uint32_t
select_u32(int cond, uint32_t a, uint32_t b)
{
    uint32_t m = 0u - (uint32_t)(cond != 0);

    return (a & m) | (b & ~m);
}

/* One fp16 to fp32, exactly. Subnormals go through an int-to-float
 * conversion and a multiply by 2^-24 (both exact) instead of a
 * per-element count of leading zeros. NaNs get the quiet bit, as F16C's
 * vcvtph2ps does. */
static inline float
f16_one_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t em = h & 0x7fffu;
    uint32_t bits = (em << 13) + 0x38000000u; /* exponent bias 15 -> 127 */
    uint32_t sub = f32_to_bits((float)(int32_t)em * 0x1p-24f);

    bits = select_u32(em >= 0x7c00u, bits + 0x38000000u, bits); /* inf/NaN */
    bits = select_u32(em > 0x7c00u, bits | 0x00400000u, bits);
    bits = select_u32(em < 0x0400u, sub, bits);
    return bits_to_f32(sign | bits);
}

/*
 * One fp32 to fp16, round to nearest-even. Normal results: rebias and
 * round on bit 13 (adding 0xfff plus the kept lsb makes ties go to even;
 * a carry into the exponent is the right answer). Subnormal results:
 * adding 0.5f puts the value where the fp32 ulp is 2^-24, the fp16
 * subnormal step, so the FPU does the rounding (default rounding mode;
 * FTZ/DAZ do no harm, fp32 subnormals round to zero in fp16 anyway).
 * |x| >= 65520 (halfway from 65504 to 65536) overflows to infinity.
 * NaNs keep sign and upper payload and get the quiet bit, as vcvtps2ph.
 */
static inline uint16_t
f32_one_to_f16(float f)
{
    uint32_t x = f32_to_bits(f);
    uint32_t sign = (x >> 16) & 0x8000u;
    uint32_t a = x & 0x7fffffffu;
    uint32_t nrm = (a - 0x38000000u + 0xfffu + ((a >> 13) & 1u)) >> 13;
    uint32_t sub = f32_to_bits(bits_to_f32(a) + 0.5f) - 0x3f000000u;
    uint32_t h = select_u32(a < 0x38800000u, sub, nrm);

    h = select_u32(a >= 0x477ff000u, 0x7c00u, h);
    h = select_u32(a > 0x7f800000u, 0x7e00u | ((a >> 13) & 0x3ffu), h);
    return (uint16_t)(sign | h);
}

static void
f16_to_f32_portable(float *dst, const uint16_t *src, size_t n)
{
    f32_ua *restrict d = dst;
    const u16_ua *restrict s = src;

    for (size_t i = 0; i < n; i++) {
        d[i] = f16_one_to_f32(s[i]);
    }
}

static void
f32_to_f16_portable(uint16_t *dst, const float *src, size_t n)
{
    u16_ua *restrict d = dst;
    const f32_ua *restrict s = src;

    for (size_t i = 0; i < n; i++) {
        d[i] = f32_one_to_f16(s[i]);
    }
}

#ifdef REDUCE_HAVE_X86
/* Only these two functions are compiled for AVX+F16C; the rest of the
 * file stays baseline, and they run only where the CPU says it has both. */
__attribute__((target("avx,f16c"))) static void
f16_to_f32_f16c(float *dst, const uint16_t *src, size_t n)
{
    size_t i = 0;

    for (; i + 8 <= n; i += 8) {
        __m128i h = _mm_loadu_si128((const __m128i *)(const void *)(src + i));
        _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(h));
    }
    f16_to_f32_portable(dst + i, src + i, n - i);
}

__attribute__((target("avx,f16c"))) static void
f32_to_f16_f16c(uint16_t *dst, const float *src, size_t n)
{
    size_t i = 0;

    for (; i + 8 <= n; i += 8) {
        __m128i h = _mm256_cvtps_ph(_mm256_loadu_ps(src + i),
                                    _MM_FROUND_TO_NEAREST_INT);
        _mm_storeu_si128((__m128i *)(void *)(dst + i), h);
    }
    f32_to_f16_portable(dst + i, src + i, n - i);
}

/* "avx" through the builtin, which also checks that the OS saves the YMM
 * registers; F16C from CPUID leaf 1 because clang before 16 rejects
 * __builtin_cpu_supports("f16c"). */
static int
f16_cpu_has_f16c(void)
{
    unsigned eax, ebx, ecx, edx;

    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx") ||
        !__get_cpuid(1, &eax, &ebx, &ecx, &edx)) {
        return 0;
    }
    return (ecx & bit_F16C) != 0;
}
#endif

enum { F16_PATH_UNKNOWN, F16_PATH_PORTABLE, F16_PATH_F16C };

/* The CPU's answer, asked once; relaxed atomics because every thread
 * computes the same value. */
static atomic_int f16_path = F16_PATH_UNKNOWN;
static atomic_int f16_force_portable = 0;

static int
f16_cpu_path(void)
{
    int path = atomic_load_explicit(&f16_path, memory_order_relaxed);

    if (path == F16_PATH_UNKNOWN) {
        path = F16_PATH_PORTABLE;
#ifdef REDUCE_HAVE_X86
        if (f16_cpu_has_f16c()) {
            path = F16_PATH_F16C;
        }
#endif
        atomic_store_explicit(&f16_path, path, memory_order_relaxed);
    }
    return path;
}

void
weft__reduce_ops_force_portable(int on)
{
    atomic_store_explicit(&f16_force_portable, on != 0, memory_order_relaxed);
    atomic_store_explicit(&reduce_force_base, on != 0, memory_order_relaxed);
}

int
weft__reduce_ops_uses_avx2(void)
{
#ifdef REDUCE_HAVE_X86
    return reduce_table_for_cpu() == reduce_table_avx2;
#else
    return 0;
#endif
}

int
weft__reduce_ops_uses_f16c(void)
{
    return f16_cpu_path() == F16_PATH_F16C &&
           !atomic_load_explicit(&f16_force_portable, memory_order_relaxed);
}

void
weft__f16_to_f32(float *dst, const uint16_t *src, size_t n)
{
#ifdef REDUCE_HAVE_X86
    if (weft__reduce_ops_uses_f16c()) {
        f16_to_f32_f16c(dst, src, n);
        return;
    }
#endif
    f16_to_f32_portable(dst, src, n);
}

void
weft__f32_to_f16(uint16_t *dst, const float *src, size_t n)
{
#ifdef REDUCE_HAVE_X86
    if (weft__reduce_ops_uses_f16c()) {
        f32_to_f16_f16c(dst, src, n);
        return;
    }
#endif
    f32_to_f16_portable(dst, src, n);
}

/* bf16 is the upper half of an fp32, so widening is a shift (exact, NaN
 * payload kept as is). */
void
weft__bf16_to_f32(float *dst, const uint16_t *src, size_t n)
{
    f32_ua *restrict d = dst;
    const u16_ua *restrict s = src;

    for (size_t i = 0; i < n; i++) {
        d[i] = bits_to_f32((uint32_t)s[i] << 16);
    }
}

/* Narrowing rounds the low half away to nearest-even (0x7fff plus the
 * kept lsb; the carry may reach the exponent and, past the largest
 * bf16, infinity, both as IEEE says). A NaN is kept apart so rounding
 * cannot carry it into infinity or a zero payload: sign and upper payload
 * stay, the quiet bit is set. */
static inline uint16_t
f32_one_to_bf16(float f)
{
    uint32_t x = f32_to_bits(f);
    uint32_t r = (x + 0x7fffu + ((x >> 16) & 1u)) >> 16;
    uint32_t nan = (x >> 16) | 0x0040u;

    return (uint16_t)((x & 0x7fffffffu) > 0x7f800000u ? nan : r);
}

void
weft__f32_to_bf16(uint16_t *dst, const float *src, size_t n)
{
    u16_ua *restrict d = dst;
    const f32_ua *restrict s = src;

    for (size_t i = 0; i < n; i++) {
        d[i] = f32_one_to_bf16(s[i]);
    }
}

void
weft__convert(void *dst, weft_dtype_t to, const void *src, weft_dtype_t from,
              size_t count)
{
    if (to == from) {
        if (dst != src && count > 0) {
            memmove(dst, src, count * weft_dtype_size(to));
        }
    } else if (to == WEFT_FLOAT32 && from == WEFT_FLOAT16) {
        weft__f16_to_f32(dst, src, count);
    } else if (to == WEFT_FLOAT16 && from == WEFT_FLOAT32) {
        weft__f32_to_f16(dst, src, count);
    } else if (to == WEFT_FLOAT32 && from == WEFT_BFLOAT16) {
        weft__bf16_to_f32(dst, src, count);
    } else if (to == WEFT_BFLOAT16 && from == WEFT_FLOAT32) {
        weft__f32_to_bf16(dst, src, count);
    } else {
        reduce_bad_call();
    }
}
