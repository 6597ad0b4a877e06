/*
 * Sequence-parallel attention when a block kernel fails on one rank in
 * the middle of the exchange: that rank returns the kernel's status with
 * an error naming the kernel, and the ranks that still needed its blocks
 * return WEFT_ERR_ABORTED at once, well inside the comm's deadline, where
 * they used to wait for the deadline.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <weft.h>
#include <weft/ml.h>

#include "harness.h"

#define FAULT_RANK 1
#define ROWS       4
#define HEADS      4
#define HEAD_DIM   8
#define DEADLINE_S 60.0 /* the comm's; the others must return long before */
#define PROMPT_S   20.0

typedef struct fault_case {
    int ulysses;
    int backward; /* the backward kernel fails (the forward first runs) */
} fault_case_t;

/* The reference kernels, except that call number user[0] (counted in
 * user[1]; 0: none) fails. */
static weft_status_t
failing_fwd(void *user, const weft_ring_block_t *blk, float *out, float *lse)
{
    int *calls = user;

    if (++calls[1] == calls[0]) {
        return WEFT_ERR_NO_MEMORY;
    }
    return weft_ring_attn_block_ref(NULL, blk, out, lse);
}

static weft_status_t
failing_bwd(void *user, const weft_ring_block_t *blk, const void *dout,
            const float *lse, const float *delta, float *dq, float *dk,
            float *dv)
{
    int *calls = user;

    if (++calls[1] == calls[0]) {
        return WEFT_ERR_NO_MEMORY;
    }
    return weft_ring_attn_block_bwd_ref(NULL, blk, dout, lse, delta, dq, dk,
                                        dv);
}

static void
fault_body(weft_context_t *ctx, weft_comm_t *w, void *arg)
{
    const fault_case_t *c = arg;
    enum { N = ROWS * HEADS * HEAD_DIM };
    float q[N], k[N], v[N], dout[N], o[N], l[ROWS * HEADS];
    float dq[N], dk[N], dv[N];
    int me = weft_comm_rank(w);
    /* the ring's second block (the first came from the rank itself);
     * Ulysses has one */
    int fail_at = me != FAULT_RANK ? 0 : c->ulysses ? 1 : 2;
    int calls[2] = {c->backward ? 0 : fail_at, 0};
    weft_ring_attn_params_t p = {
        .field_mask = WEFT_RING_PARAM_FIELD_KERNEL,
        .layout = WEFT_RING_CONTIGUOUS,
        .rows = ROWS,
        .heads = HEADS,
        .kv_heads = HEADS,
        .head_dim = HEAD_DIM,
        .dtype = WEFT_FLOAT32,
        .block_fn = failing_fwd,
        .bwd_fn = failing_bwd,
        .user = calls,
    };
    weft_comm_t *after;
    weft_status_t st;
    double t0;

    (void)ctx;
    /* met on after the call, so the failing rank stays alive (a rank
     * that exits is seen at once: the others must not need that) */
    WT_OK(weft_comm_dup(w, &after));
    for (int i = 0; i < N; i++) {
        q[i] = (float)((i * 7 + me) % 13) / 13.0f;
        k[i] = (float)((i * 5 + me) % 11) / 11.0f;
        v[i] = (float)((i * 3 + me) % 17) / 17.0f;
        dout[i] = (float)((i + me) % 5) / 5.0f;
    }
    WT_OK(weft_comm_set_timeout(w, DEADLINE_S));
    t0 = wt_now();
    if (c->backward) {
        WT_OK(c->ulysses ? weft_ulysses_attn_fwd(w, &p, q, k, v, o, l)
                         : weft_ring_attn_fwd(w, &p, q, k, v, o, l));
        calls[0] = fail_at;
        calls[1] = 0;
        st = c->ulysses
                 ? weft_ulysses_attn_bwd(w, &p, q, k, v, dout, o, l, dq, dk, dv)
                 : weft_ring_attn_bwd(w, &p, q, k, v, dout, o, l, dq, dk, dv);
    } else {
        st = c->ulysses ? weft_ulysses_attn_fwd(w, &p, q, k, v, o, l)
                        : weft_ring_attn_fwd(w, &p, q, k, v, o, l);
    }
    double took = wt_now() - t0;

    if (me == FAULT_RANK) {
        WT_CHECK(st == WEFT_ERR_NO_MEMORY,
                 "the failing rank returned %s, not its kernel's status",
                 weft_status_string(st));
        WT_CHECK(strstr(weft_last_error(), "block kernel returned") != NULL,
                 "the error \"%s\" does not name the kernel",
                 weft_last_error());
    } else if (me == FAULT_RANK + 1 || c->ulysses) {
        /* it needs the failing rank's blocks (Ulysses: every rank does;
         * the ring: the next rank, which it forwards the rest to) */
        WT_CHECK(st == WEFT_ERR_ABORTED, "rank %d returned %s (%s)", me,
                 weft_status_string(st), weft_last_error());
    } else {
        /* a rank that had every block it needed may finish */
        WT_CHECK(st == WEFT_ERR_ABORTED || st == WEFT_OK,
                 "rank %d returned %s (%s)", me, weft_status_string(st),
                 weft_last_error());
    }
    WT_CHECK(took < PROMPT_S, "rank %d returned after %.1f s (deadline %.0f)",
             me, took, DEADLINE_S);
    WT_OK(weft_barrier(after));
    WT_OK(weft_comm_destroy(after));
}

static void
run_fault(int ulysses, int backward)
{
    fault_case_t c = {ulysses, backward};

    cr_assert_eq(wt_run_ranks(4, fault_body, &c), 0,
                 "%s %s: a failing kernel on rank %d",
                 ulysses ? "Ulysses" : "ring",
                 backward ? "backward" : "forward", FAULT_RANK);
}

Test(ml_ring_faults, ring_forward_kernel_fails_on_one_rank, .timeout = 90)
{
    run_fault(0, 0);
}

Test(ml_ring_faults, ring_backward_kernel_fails_on_one_rank, .timeout = 90)
{
    run_fault(0, 1);
}

Test(ml_ring_faults, ulysses_forward_kernel_fails_on_one_rank, .timeout = 90)
{
    run_fault(1, 0);
}

Test(ml_ring_faults, ulysses_backward_kernel_fails_on_one_rank, .timeout = 90)
{
    run_fault(1, 1);
}
