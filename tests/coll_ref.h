/*
 * Reference values for the collective tests (wt_ref_*): every rank's input
 * is a deterministic function of (case, rank, index), so any rank can
 * compute any other rank's input, and the expected result of a reduction,
 * without weft. Nothing here calls weft: the fp16/bf16 conversions and the
 * reductions are written independently of collectives/reduce_ops.c.
 *
 * Inputs are chosen so that every reduction is exact in any order:
 *   SUM/AVG on floats: a * 2^b with |a| <= 7 and -2 <= b <= 10 (fp16) or 16
 *     (others): every partial sum of up to 8 ranks fits fp32's 24 bits, so
 *     the fp32 accumulation weft promises for fp16/bf16 is exact, and the
 *     result is the exact sum rounded once (nearest even) to the type;
 *   PROD on floats: values from {0, +-0.5, +-1, +-2, 3}: products of up to 8
 *     ranks are exact in fp32;
 *   integers (SUM, PROD): any bits; they wrap modulo 2^bits, which is exact
 *     in any order (int8/uint8 sums overflow almost always);
 *   MIN/MAX: any finite value (any bits for integers), never -0.0;
 *   COPY (collectives that do not reduce): any bits, NaN patterns included.
 * AVG is the sum divided by the rank count in the type: fp64 in double,
 * the others in fp32, then rounded once for fp16/bf16.
 */
#ifndef WT_COLL_REF_H
#define WT_COLL_REF_H

#include <stddef.h>
#include <stdint.h>
#include <weft.h>

typedef enum wt_val_kind {
    WT_VAL_COPY,
    WT_VAL_SUM, /* also AVG */
    WT_VAL_PROD,
    WT_VAL_MINMAX
} wt_val_kind_t;

/* The values a collective with this op reads (op < 0: no reduction). */
wt_val_kind_t wt_ref_kind(int op);

/* Bytes per element and a name, without asking weft. */
size_t wt_ref_esize(weft_dtype_t dt);
const char *wt_ref_dtype_name(weft_dtype_t dt);
const char *wt_ref_op_name(int op); /* "copy" for op < 0 */
int wt_ref_is_float(weft_dtype_t dt);

/* Element idx + i (i < n) of rank's input in case seq, into out. */
void wt_ref_fill(weft_dtype_t dt, wt_val_kind_t kind, uint64_t seq, int rank,
                 uint64_t idx, size_t n, void *out);
/* One element: wt_ref_fill with n = 1. */
void wt_ref_value(weft_dtype_t dt, wt_val_kind_t kind, uint64_t seq,
                  int rank, uint64_t idx, void *out);
/* Elements idx + i (i < n) of the reduction over ranks 0..nranks-1. */
void wt_ref_reduce(weft_dtype_t dt, int op, uint64_t seq, int nranks,
                   uint64_t idx, size_t n, void *out);

/* Round-to-nearest-even conversions. */
uint16_t wt_f32_to_f16(float f);
float wt_f16_to_f32(uint16_t h);
uint16_t wt_f32_to_bf16(float f);
float wt_bf16_to_f32(uint16_t h);

/* "0x3c00 (1)": an element's bits and value. */
void wt_ref_format(weft_dtype_t dt, const void *elem, char *buf, size_t len);

/* A poison byte for offset off of a buffer (so that a stray write of
 * anything plausible shows). */
static inline uint8_t
wt_poison_byte(size_t off, uint64_t seq)
{
    return (uint8_t)(0xA5u ^ (off * 29u) ^ (off >> 8) ^ (seq * 7u));
}
void wt_poison(void *buf, size_t n, uint64_t seq);

#endif /* WT_COLL_REF_H */
