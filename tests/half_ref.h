/*
 * The tests' own fp16 and bf16 decoders (not the library's), exact in
 * double: references built with them see exactly the values the library
 * reads (test_ml_ring.c), and the conversions are checked against them
 * (test_ml_ring_parts.c).
 */
#ifndef WT_HALF_REF_H
#define WT_HALF_REF_H

#include <math.h>
#include <stdint.h>
#include <string.h>

static inline double
dec_f16(uint16_t h)
{
    int e = (h >> 10) & 31, m = h & 1023;
    double v = e == 0 ? ldexp(m, -24) : ldexp(1024 + m, e - 25);

    return (h & 0x8000) ? -v : v;
}

static inline double
dec_bf16(uint16_t h)
{
    uint32_t x = (uint32_t)h << 16;
    float f;

    memcpy(&f, &x, 4);
    return f;
}

#endif /* WT_HALF_REF_H */
