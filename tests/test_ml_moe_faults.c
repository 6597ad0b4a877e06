/*
 * MoE when one rank gives up between dispatch and combine (its expert
 * compute failed): it aborts the comm, as weft/ml_moe.h advises, and the
 * other ranks' combine returns WEFT_ERR_ABORTED at once, well inside the
 * comm's deadline.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <weft.h>
#include <weft/ml.h>

#include "harness.h"

#define GIVE_UP_RANK 1
#define NTOK         16
#define HIDDEN       8
#define DEADLINE_S   60.0
#define PROMPT_S     20.0

static void
give_up_body(weft_context_t *ctx, weft_comm_t *w, void *arg)
{
    int me = weft_comm_rank(w), n = weft_comm_size(w);
    weft_moe_params_t p = {.nexperts = (size_t)n * 2,
                           .topk = 1,
                           .hidden = HIDDEN,
                           .dtype = WEFT_FLOAT32,
                           .mode = WEFT_MOE_DROPLESS};
    /* every token to an expert of the next rank: each rank receives */
    float x[NTOK * HIDDEN], y[NTOK * HIDDEN];
    float *recv = calloc((size_t)NTOK * (size_t)n * HIDDEN, sizeof(float));
    int64_t idx[NTOK];
    weft_moe_handle_t *hd = NULL;
    weft_comm_t *after;
    weft_moe_info_t info;
    weft_status_t st;
    double t0;

    (void)ctx;
    (void)arg;
    WT_CHECK(recv != NULL, "out of memory");
    for (int t = 0; t < NTOK; t++) {
        idx[t] = (int64_t)(((me + 1) % n) * 2 + t % 2);
        for (int e = 0; e < HIDDEN; e++) {
            x[t * HIDDEN + e] = (float)(me * 100 + t);
        }
    }
    /* met at the end, so the rank that gives up stays alive (one that
     * exits is seen at once: the others must not need that) */
    WT_OK(weft_comm_dup(w, &after));
    WT_OK(weft_comm_set_timeout(w, DEADLINE_S));
    WT_OK(weft_moe_dispatch(w, &p, x, NTOK, idx, NULL, recv,
                            (size_t)NTOK * (size_t)n, NULL, NULL, NULL, &hd));
    WT_OK(weft_moe_handle_info(hd, &info));
    t0 = wt_now();
    if (me == GIVE_UP_RANK) {
        WT_OK(weft_comm_abort(w, WEFT_ERR_ABORTED)); /* no combine here */
    } else {
        /* identity experts: the received rows, in pair order */
        st = weft_moe_combine(hd, recv, WEFT_FLOAT32, y);
        WT_CHECK(st == WEFT_ERR_ABORTED, "rank %d: combine returned %s (%s)",
                 me, weft_status_string(st), weft_last_error());
        WT_CHECK(wt_now() - t0 < PROMPT_S,
                 "rank %d: combine returned after %.1f s (deadline %.0f s)", me,
                 wt_now() - t0, DEADLINE_S);
    }
    weft_moe_handle_destroy(hd);
    WT_OK(weft_barrier(after));
    WT_OK(weft_comm_destroy(after));
    free(recv);
}

Test(ml_moe_faults, a_rank_that_aborts_instead_of_combining_stops_the_others,
     .timeout = 90)
{
    cr_assert_eq(wt_run_ranks(2, give_up_body, NULL), 0);
    cr_assert_eq(wt_run_ranks(4, give_up_body, NULL), 0);
}
