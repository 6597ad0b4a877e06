/*
 * Collective descriptors: what one rank called (collective, count, dtype,
 * op, root), packed in two words, so that ranks can compare their calls
 * and name both sides when they disagree (WEFT_ERR_MISMATCH).
 *
 *   w[0]  count (0 for the v-collectives, whose counts differ by rank)
 *   w[1]  bits 0..7 collective, 8..15 dtype, 16..23 op (0 where the
 *         collective does not reduce), 32..63 root (-1 where it has none)
 *
 * The schedule engine sends it as the first message to each peer of a
 * collective (coll_desc wire form below); the node-local collectives put
 * it in their shared head line.
 */
#ifndef WEFT_COLL_DESC_H
#define WEFT_COLL_DESC_H

#include <stddef.h>
#include <stdint.h>

#include "collectives/coll.h"

#define WEFT_COLL_DESC_MAGIC 0x43534457u /* "WDSC" */
#define WEFT_COLL_DESC_WIRE  48 /* magic, seq, w[0], w[1], hist, prev[] */

typedef struct weft__coll_desc {
    uint64_t w[2];
    /* the schedule engine's digest of every call before this one on the
     * comm (weft__coll_desc_chain): ranks whose earlier calls differed
     * where no data could show it (a broadcast's root, say) differ here */
    uint64_t hist;
    uint64_t prev[2]; /* w[] of the call before (the message names it) */
} weft__coll_desc_t;

/* The descriptor of a call as the caller made it (dtype and op as passed,
 * before any fp32 widening). */
void weft__coll_desc_make(weft__coll_desc_t *d, const weft__coll_args_t *a,
                          weft_dtype_t dtype, weft_op_t op);

int weft__coll_desc_equal(const weft__coll_desc_t *a,
                          const weft__coll_desc_t *b);

/* The digest of the calls up to and including d, from `hist`, the
 * digest of those before it. */
uint64_t weft__coll_desc_chain(uint64_t hist, const weft__coll_desc_t *d);

/* The root of the call, or -1 for a collective without one. */
int weft__coll_desc_root(const weft__coll_desc_t *d);

/* "allreduce of 10 float32 (sum)", "broadcast of 3 int8 from root 1" */
void weft__coll_desc_text(const weft__coll_desc_t *d, char *buf, size_t len);

/* Wire form, little-endian: magic, the caller's sequence number on the
 * comm, w[0], w[1], hist, prev[0], prev[1]. decode returns -1 on a bad
 * magic. */
void weft__coll_desc_encode(const weft__coll_desc_t *d, uint32_t seq,
                            uint8_t out[WEFT_COLL_DESC_WIRE]);
int weft__coll_desc_decode(const uint8_t in[WEFT_COLL_DESC_WIRE],
                           weft__coll_desc_t *d, uint32_t *seq_p);

#endif /* WEFT_COLL_DESC_H */
