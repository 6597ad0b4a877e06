/*
 * One collective call as the tests run it (wt_case_*): buffers laid out
 * with guards, gaps and poison, inputs from coll_ref.h, the call (blocking
 * or nonblocking), and a check of every byte the call could have touched:
 * results against the reference, everything else (gaps, guards, unused
 * buffers, send buffers) unchanged.
 *
 * Layouts, for rank r of n and count c:
 *   allgatherv, reduce_scatter_v: rank k's block has c + k % 3 elements
 *     (none when k % 4 == 2 or c == 0);
 *   allgatherv: blocks in rank order on even ranks, reversed on odd ones,
 *     rotated by r, with gaps of 1 + r % 3 elements before, between and
 *     after them (each rank describes its own buffer);
 *   alltoallv: r sends k c + (3r + k) % 4 elements (none when
 *     (r + 2k) % 5 == 3), in place a symmetric (r + k) rule; send and
 *     receive blocks in different rotated orders with gaps.
 * Rooted collectives: non-roots pass NULL for the unused buffer in half of
 * the cases and a poisoned one (that must stay untouched) in the others.
 */
#ifndef WT_COLL_CASE_H
#define WT_COLL_CASE_H

#include <stddef.h>
#include <stdint.h>
#include <weft.h>

#include "coll_ref.h"
#include "collectives/coll.h"

#define WT_CASE_MAX_RANKS 64

typedef struct wt_case {
    weft__coll_t coll;
    int algo;          /* index in weft__algos(coll); -1: weft chooses */
    weft_dtype_t dt;
    int op;            /* weft_op_t; -1 for collectives that do not reduce */
    size_t count;
    int inplace;
    int root;
    int nb;            /* 0 blocking, 1 weft_i* + weft_wait, 2 + weft_test */
    uint64_t seq;      /* the inputs' seed */
} wt_case_t;

typedef struct wt_buf {
    char *mem;         /* guard, payload, guard; NULL: not allocated */
    size_t pre;        /* bytes before the payload */
    size_t total;
} wt_buf_t;

typedef struct wt_case_run {
    wt_case_t c;
    int rank, size;
    size_t es;
    wt_val_kind_t kind;
    wt_buf_t s, r;     /* separate send buffer; receive (or in-place) */
    char *sp, *rp;     /* the pointers passed to weft */
    char *s_copy;      /* s.mem before the call */
    char *r_exp;       /* r.mem as it must be after the call */
    size_t count_arg;  /* the count argument of the call */
    size_t sc[WT_CASE_MAX_RANKS], sd[WT_CASE_MAX_RANKS];
    size_t rc[WT_CASE_MAX_RANKS], rd[WT_CASE_MAX_RANKS];
    struct {
        size_t off, len; /* elements of the receive payload */
        int src;         /* the rank whose data it is; -1: a reduction */
    } res[WT_CASE_MAX_RANKS + 1];
    int nres;
    size_t dc_off, dc_len; /* elements weft may leave in any state */
    weft_request_t *req;
} wt_case_run_t;

int wt_coll_reduces(weft__coll_t coll);
int wt_coll_rooted(weft__coll_t coll);
int wt_coll_has_inplace(weft__coll_t coll);

/* "allreduce/ring float32 sum count 7 ranks 3 inplace 1 root 0 nb 1
 * seq 0x..." */
void wt_case_desc(const wt_case_t *c, int size, char *buf, size_t len);

/* Lay out and fill the buffers of c at this rank. 0, or -1 out of memory
 * (reported with WT_CHECK). */
int wt_case_setup(wt_case_run_t *x, const wt_case_t *c,
                  const weft_comm_t *comm);
/* What the forced algorithm's supported() says about this call (NULL: it
 * can run it, or c->algo < 0). */
const char *wt_case_supported(const wt_case_run_t *x,
                              const weft_comm_t *comm);
/* Whether some algorithm of c's collective can run c's call, so that
 * weft can choose one (placeholders cannot run anything). */
int wt_case_available(const wt_case_t *c, const weft_comm_t *comm);
/* Start the call; a blocking call also completes here. */
weft_status_t wt_case_start(wt_case_run_t *x, weft_comm_t *comm);
/* Complete a nonblocking call (weft_wait or weft_test); WEFT_OK for a
 * blocking one. */
weft_status_t wt_case_finish(wt_case_run_t *x);
/* Check every byte; returns the number of wrong elements, describing the
 * first few on stderr and the first one in first[len]. */
size_t wt_case_verify(wt_case_run_t *x, char *first, size_t len);
void wt_case_free(wt_case_run_t *x);

#endif /* WT_COLL_CASE_H */
