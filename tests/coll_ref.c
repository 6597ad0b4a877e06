/* Reference inputs and results for the collective tests (see coll_ref.h). */
#include "build_config.h"
#include "coll_ref.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static const struct {
    const char *name;
    size_t size;
    int fp;
} ref_types[] = {
    [WEFT_INT8] = {"int8", 1, 0},       [WEFT_UINT8] = {"uint8", 1, 0},
    [WEFT_INT32] = {"int32", 4, 0},     [WEFT_UINT32] = {"uint32", 4, 0},
    [WEFT_INT64] = {"int64", 8, 0},     [WEFT_UINT64] = {"uint64", 8, 0},
    [WEFT_FLOAT16] = {"float16", 2, 1}, [WEFT_BFLOAT16] = {"bfloat16", 2, 1},
    [WEFT_FLOAT32] = {"float32", 4, 1}, [WEFT_FLOAT64] = {"float64", 8, 1},
};

static const char *const ref_ops[] = {"sum", "prod", "min", "max", "avg"};

wt_val_kind_t
wt_ref_kind(int op)
{
    switch (op) {
    case WEFT_SUM:
    case WEFT_AVG:
        return WT_VAL_SUM;
    case WEFT_PROD:
        return WT_VAL_PROD;
    case WEFT_MIN:
    case WEFT_MAX:
        return WT_VAL_MINMAX;
    default:
        return WT_VAL_COPY;
    }
}

size_t
wt_ref_esize(weft_dtype_t dt)
{
    return (unsigned)dt < WEFT_DTYPE_COUNT ? ref_types[dt].size : 0;
}

const char *
wt_ref_dtype_name(weft_dtype_t dt)
{
    return (unsigned)dt < WEFT_DTYPE_COUNT ? ref_types[dt].name : "invalid";
}

const char *
wt_ref_op_name(int op)
{
    return op < 0 ? "copy" : op < 5 ? ref_ops[op] : "invalid";
}

int
wt_ref_is_float(weft_dtype_t dt)
{
    return (unsigned)dt < WEFT_DTYPE_COUNT && ref_types[dt].fp;
}

/* ---- 16-bit floats, round to nearest even ---- */

uint16_t
wt_f32_to_f16(float f)
{
    uint32_t x, sign, man, h, rem, half;
    int exp, e, shift;

    memcpy(&x, &f, 4);
    sign = (x >> 16) & 0x8000u;
    exp = (int)((x >> 23) & 0xffu);
    man = x & 0x7fffffu;
    if (exp == 0xff) {
        return (uint16_t)(sign | 0x7c00u | (man ? 0x200u : 0));
    }
    e = exp - 127 + 15;
    if (e >= 31) {
        return (uint16_t)(sign | 0x7c00u);
    }
    if (e <= 0) { /* subnormal (or zero) in fp16 */
        if (e < -10) {
            return (uint16_t)sign;
        }
        man |= 0x800000u;
        shift = 14 - e;
        h = man >> shift;
        rem = man & ((1u << shift) - 1);
        half = 1u << (shift - 1);
        if (rem > half || (rem == half && (h & 1u))) {
            h++;
        }
        return (uint16_t)(sign | h);
    }
    h = ((uint32_t)e << 10) | (man >> 13);
    rem = man & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) {
        h++; /* a carry into the exponent is right, up to infinity */
    }
    return (uint16_t)(sign | h);
}

float
wt_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu, man = h & 0x3ffu, x;
    float f;

    if (exp == 0x1f) {
        x = sign | 0x7f800000u | (man << 13);
    } else if (exp != 0) {
        x = sign | ((exp + 112) << 23) | (man << 13);
    } else {
        f = ldexpf((float)man, -24);
        return sign ? -f : f;
    }
    memcpy(&f, &x, 4);
    return f;
}

uint16_t
wt_f32_to_bf16(float f)
{
    uint32_t x;

    memcpy(&x, &f, 4);
    if ((x & 0x7f800000u) == 0x7f800000u && (x & 0x7fffffu) != 0) {
        return (uint16_t)((x >> 16) | 0x40u); /* NaN stays NaN */
    }
    x += 0x7fffu + ((x >> 16) & 1u);
    return (uint16_t)(x >> 16);
}

float
wt_bf16_to_f32(uint16_t h)
{
    uint32_t x = (uint32_t)h << 16;
    float f;

    memcpy(&f, &x, 4);
    return f;
}

/* ---- inputs ---- */

static inline uint64_t
ref_hash(uint64_t seq, int rank, uint64_t idx)
{
    uint64_t z = seq * 0x9e3779b97f4a7c15ull ^
                 (uint64_t)(unsigned)rank * 0xc2b2ae3d27d4eb4full ^
                 (idx + 0x165667b19e3779f9ull) * 0xbf58476d1ce4e5b9ull;

    z ^= z >> 31;
    z *= 0x94d049bb133111ebull;
    z ^= z >> 29;
    z *= 0xbf58476d1ce4e5b9ull;
    return z ^ (z >> 32);
}

/* The bits of a double value in dt (exact by construction). */
static uint64_t
ref_encode(weft_dtype_t dt, double v)
{
    uint64_t u = 0;
    float f = (float)v;
    uint32_t x;

    switch (dt) {
    case WEFT_FLOAT16:
        return wt_f32_to_f16(f);
    case WEFT_BFLOAT16:
        return wt_f32_to_bf16(f);
    case WEFT_FLOAT32:
        memcpy(&x, &f, 4);
        return x;
    default:
        memcpy(&u, &v, 8);
        return u;
    }
}

static double
ref_decode(weft_dtype_t dt, uint64_t bits)
{
    uint32_t x = (uint32_t)bits;
    float f;
    double d;

    switch (dt) {
    case WEFT_FLOAT16:
        return wt_f16_to_f32((uint16_t)bits);
    case WEFT_BFLOAT16:
        return wt_bf16_to_f32((uint16_t)bits);
    case WEFT_FLOAT32:
        memcpy(&f, &x, 4);
        return f;
    default:
        memcpy(&d, &bits, 8);
        return d;
    }
}

/* A finite float of random bits, never -0. */
static uint64_t
ref_finite(weft_dtype_t dt, uint64_t h)
{
    uint64_t b;

    switch (dt) {
    case WEFT_FLOAT16:
        b = h & 0xffffu;
        if ((b & 0x7c00u) == 0x7c00u) {
            b &= ~(uint64_t)0x4000u;
        }
        return b == 0x8000u ? 0 : b;
    case WEFT_BFLOAT16:
        b = h & 0xffffu;
        if ((b & 0x7f80u) == 0x7f80u) {
            b &= ~(uint64_t)0x4000u;
        }
        return b == 0x8000u ? 0 : b;
    case WEFT_FLOAT32:
        b = h & 0xffffffffu;
        if ((b & 0x7f800000u) == 0x7f800000u) {
            b &= ~(uint64_t)0x40000000u;
        }
        return b == 0x80000000u ? 0 : b;
    default:
        b = h;
        if ((b & 0x7ff0000000000000ull) == 0x7ff0000000000000ull) {
            b &= ~0x4000000000000000ull;
        }
        return b == 0x8000000000000000ull ? 0 : b;
    }
}

static const double ref_prod_vals[32] = {
    1, 1, 1, 2, -1, 3, 0.5, 1, -2, 1, 1, -1, 1, -0.5, 2, 1,
    1, -1, 1, 1, 3, 1, 0.5, -1, 1, 2, 1, 1, -1, 1, 1, 1};
static const int64_t ref_prod_ints[8] = {1, 2, 3, -1, -2, 1, 5, -3};

/* The bits of one input element (the low esize bytes count). */
static uint64_t
ref_bits(weft_dtype_t dt, wt_val_kind_t kind, uint64_t h)
{
    int fp = ref_types[dt].fp;

    switch (kind) {
    case WT_VAL_SUM:
        if (fp) {
            int bmax = dt == WEFT_FLOAT16 ? 10 : 16;
            int a = (int)(h % 15) - 7, b = -2 + (int)((h >> 8) % (unsigned)(bmax + 3));

            return ref_encode(dt, ldexp(a, b));
        }
        return h;
    case WT_VAL_PROD:
        if (fp) {
            return ref_encode(dt, (h & 63) == 0 ? 0.0 : ref_prod_vals[(h >> 6) & 31]);
        }
        return (h & 1) ? (uint64_t)ref_prod_ints[(h >> 1) & 7] : h >> 8;
    case WT_VAL_MINMAX:
        return fp ? ref_finite(dt, h) : h;
    default:
        return h;
    }
}

static inline void
ref_store(void *out, size_t esize, uint64_t bits)
{
    uint8_t b1 = (uint8_t)bits;
    uint16_t b2 = (uint16_t)bits;
    uint32_t b4 = (uint32_t)bits;

    switch (esize) {
    case 1:
        memcpy(out, &b1, 1);
        break;
    case 2:
        memcpy(out, &b2, 2);
        break;
    case 4:
        memcpy(out, &b4, 4);
        break;
    default:
        memcpy(out, &bits, 8);
        break;
    }
}

void
wt_ref_fill(weft_dtype_t dt, wt_val_kind_t kind, uint64_t seq, int rank,
            uint64_t idx, size_t n, void *out)
{
    size_t es = ref_types[dt].size;
    char *p = out;

    for (size_t i = 0; i < n; i++) {
        ref_store(p + i * es, es, ref_bits(dt, kind, ref_hash(seq, rank, idx + i)));
    }
}

void
wt_ref_value(weft_dtype_t dt, wt_val_kind_t kind, uint64_t seq, int rank,
             uint64_t idx, void *out)
{
    wt_ref_fill(dt, kind, seq, rank, idx, 1, out);
}

/* Sign-extended (signed types) or zero-extended value of integer bits. */
static int64_t
ref_sext(weft_dtype_t dt, uint64_t b)
{
    switch (dt) {
    case WEFT_INT8:
        return (int8_t)(uint8_t)b;
    case WEFT_INT32:
        return (int32_t)(uint32_t)b;
    default:
        return (int64_t)b;
    }
}

static int
ref_int_less(weft_dtype_t dt, uint64_t a, uint64_t b)
{
    switch (dt) {
    case WEFT_INT8:
    case WEFT_INT32:
    case WEFT_INT64:
        return ref_sext(dt, a) < ref_sext(dt, b);
    case WEFT_UINT8:
        return (uint8_t)a < (uint8_t)b;
    case WEFT_UINT32:
        return (uint32_t)a < (uint32_t)b;
    default:
        return a < b;
    }
}

static uint64_t
ref_reduce_int(weft_dtype_t dt, int op, uint64_t seq, int nranks,
               uint64_t idx)
{
    wt_val_kind_t kind = wt_ref_kind(op);
    uint64_t acc = ref_bits(dt, kind, ref_hash(seq, 0, idx));

    for (int k = 1; k < nranks; k++) {
        uint64_t v = ref_bits(dt, kind, ref_hash(seq, k, idx));

        switch (op) {
        case WEFT_SUM:
            acc += v; /* modulo 2^64, hence modulo 2^bits */
            break;
        case WEFT_PROD:
            acc *= v;
            break;
        case WEFT_MIN:
            acc = ref_int_less(dt, v, acc) ? v : acc;
            break;
        default:
            acc = ref_int_less(dt, acc, v) ? v : acc;
            break;
        }
    }
    return acc;
}

static uint64_t
ref_reduce_fp(weft_dtype_t dt, int op, uint64_t seq, int nranks,
              uint64_t idx)
{
    wt_val_kind_t kind = wt_ref_kind(op);
    uint64_t win = ref_bits(dt, kind, ref_hash(seq, 0, idx));
    double acc = ref_decode(dt, win);
    float sum32;

    for (int k = 1; k < nranks; k++) {
        uint64_t b = ref_bits(dt, kind, ref_hash(seq, k, idx));
        double v = ref_decode(dt, b);

        switch (op) {
        case WEFT_SUM:
        case WEFT_AVG:
            acc += v; /* exact: see coll_ref.h */
            break;
        case WEFT_PROD:
            acc *= v;
            break;
        case WEFT_MIN:
            if (v < acc) {
                acc = v;
                win = b;
            }
            break;
        default:
            if (v > acc) {
                acc = v;
                win = b;
            }
            break;
        }
    }
    if (op == WEFT_MIN || op == WEFT_MAX) {
        return win;
    }
    if (dt == WEFT_FLOAT64) {
        return ref_encode(dt, op == WEFT_AVG ? acc / (double)nranks : acc);
    }
    /* the exact result is an fp32 value; AVG divides in fp32, and fp16/bf16
     * are rounded once from that */
    sum32 = (float)acc;
    if (op == WEFT_AVG) {
        volatile float q = sum32 / (float)nranks;

        sum32 = q;
    }
    return ref_encode(dt, sum32);
}

void
wt_ref_reduce(weft_dtype_t dt, int op, uint64_t seq, int nranks,
              uint64_t idx, size_t n, void *out)
{
    size_t es = ref_types[dt].size;
    char *p = out;

    for (size_t i = 0; i < n; i++) {
        uint64_t b = ref_types[dt].fp
                         ? ref_reduce_fp(dt, op, seq, nranks, idx + i)
                         : ref_reduce_int(dt, op, seq, nranks, idx + i);

        ref_store(p + i * es, es, b);
    }
}

void
wt_ref_format(weft_dtype_t dt, const void *elem, char *buf, size_t len)
{
    size_t es = wt_ref_esize(dt);
    uint64_t b = 0;
    uint8_t b1;
    uint16_t b2;
    uint32_t b4;

    switch (es) {
    case 1:
        memcpy(&b1, elem, 1);
        b = b1;
        break;
    case 2:
        memcpy(&b2, elem, 2);
        b = b2;
        break;
    case 4:
        memcpy(&b4, elem, 4);
        b = b4;
        break;
    default:
        memcpy(&b, elem, 8);
        break;
    }
    if (wt_ref_is_float(dt)) {
        snprintf(buf, len, "0x%0*llx (%.9g)", (int)(2 * es),
                 (unsigned long long)b, ref_decode(dt, b));
    } else if (dt == WEFT_INT8 || dt == WEFT_INT32 || dt == WEFT_INT64) {
        snprintf(buf, len, "0x%0*llx (%lld)", (int)(2 * es),
                 (unsigned long long)b, (long long)ref_sext(dt, b));
    } else {
        snprintf(buf, len, "0x%0*llx (%llu)", (int)(2 * es),
                 (unsigned long long)b, (unsigned long long)b);
    }
}

void
wt_poison(void *buf, size_t n, uint64_t seq)
{
    uint8_t *p = buf;

    for (size_t i = 0; i < n; i++) {
        p[i] = wt_poison_byte(i, seq);
    }
}
