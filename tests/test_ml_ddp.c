/*
 * DDP over 1-4 ranks: averaged gradients equal the mean of every rank's
 * (exact for integer values with a power-of-two rank count), whatever
 * order each rank's gradients come in; buckets rebuilt after the first
 * step; the first bucket launched before the last gradient is ready, and
 * a single bucket's reduction started with its first partitions;
 * no_sync accumulation; unused parameters; the compression hooks; bad
 * input.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <weft.h>
#include <weft/ml.h>

#include "harness.h"

#define NP 7 /* parameters */

static const size_t dd_count[NP] = {40, 3, 100, 17, 64, 1, 250};
static const weft_dtype_t dd_dtype[NP] = {
    WEFT_FLOAT32, WEFT_FLOAT64, WEFT_FLOAT32, WEFT_FLOAT32,
    WEFT_FLOAT64, WEFT_FLOAT32, WEFT_FLOAT32};

/* Rank r's gradient of parameter i at element e in step s. */
static double
dd_grad(int r, size_t i, size_t e, int s)
{
    return (double)((r + 1) * (int)(e % 13) + (int)i * 3 + s);
}

static void
dd_put(void *g, weft_dtype_t dt, size_t e, double v)
{
    if (dt == WEFT_FLOAT32) {
        ((float *)g)[e] = (float)v;
    } else {
        ((double *)g)[e] = v;
    }
}

static double
dd_get(const void *g, weft_dtype_t dt, size_t e)
{
    return dt == WEFT_FLOAT32 ? ((const float *)g)[e] : ((const double *)g)[e];
}

typedef struct dd_cfg {
    int contiguous; /* all gradients in one buffer, back to back */
    int steps;
} dd_cfg_t;

/* Gradients in one block (in place where a bucket's lie in order) or each
 * on its own. */
static void
dd_alloc(void **g, int contiguous, void **block)
{
    size_t total = 0;

    for (int i = 0; i < NP; i++) {
        total += dd_count[i] * weft_dtype_size(dd_dtype[i]);
    }
    *block = contiguous ? malloc(total) : NULL;
    for (int i = 0, off = 0; i < NP; i++) {
        size_t b = dd_count[i] * weft_dtype_size(dd_dtype[i]);

        g[i] = contiguous ? (char *)*block + off : malloc(b);
        off += (int)b;
    }
}

static void
dd_free(void **g, void *block)
{
    for (int i = 0; i < NP && block == NULL; i++) {
        free(g[i]);
    }
    free(block);
}

static void
dd_shuffle(size_t *order, int n, unsigned seed)
{
    for (int i = 0; i < n; i++) {
        order[i] = (size_t)i;
    }
    for (int i = n - 1; i > 0; i--) {
        int j = (int)(rand_r(&seed) % (unsigned)(i + 1));
        size_t t = order[i];

        order[i] = order[j];
        order[j] = t;
    }
}

static void
avg_body(weft_context_t *ctx, weft_comm_t *w, void *arg)
{
    const dd_cfg_t *c = arg;
    int me = weft_comm_rank(w), n = weft_comm_size(w);
    void *g[NP], *block;
    weft_ddp_param_t p[NP];
    weft_ddp_params_t dp = {.field_mask = WEFT_DDP_PARAM_BUCKET_CAP |
                                          WEFT_DDP_PARAM_FIRST_BUCKET_CAP,
                            .bucket_cap_bytes = 512,
                            .first_bucket_cap_bytes = 64};
    weft_ddp_t *ddp = NULL;
    weft_ddp_stats_t st;

    (void)ctx;
    dd_alloc(g, c->contiguous, &block);
    for (int i = 0; i < NP; i++) {
        p[i] = (weft_ddp_param_t){g[i], dd_count[i], dd_dtype[i]};
    }
    WT_OK(weft_ddp_create(w, p, NP, &dp, &ddp));
    for (int s = 0; s < c->steps && ddp != NULL; s++) {
        size_t order[NP];

        /* each rank its own order: launches must still agree */
        dd_shuffle(order, NP, (unsigned)(me * 31 + s * 7 + 1));
        WT_OK(weft_ddp_begin(ddp, 1));
        for (int k = 0; k < NP; k++) {
            size_t i = order[k];

            for (size_t e = 0; e < dd_count[i]; e++) {
                dd_put(g[i], dd_dtype[i], e, dd_grad(me, i, e, s));
            }
            WT_OK(weft_ddp_grad_ready(ddp, i));
        }
        WT_OK(weft_ddp_finish(ddp));
        for (int i = 0; i < NP; i++) {
            for (size_t e = 0; e < dd_count[i]; e++) {
                double want = 0, got = dd_get(g[i], dd_dtype[i], e);

                for (int r = 0; r < n; r++) {
                    want += dd_grad(r, (size_t)i, e, s);
                }
                want /= n;
                /* exact with a power-of-two rank count */
                if ((n & (n - 1)) == 0
                        ? got != want
                        : fabs(got - want) > 1e-5 * fabs(want) + 1e-6) {
                    WT_CHECK(0, "step %d param %d elem %zu: %g, want %g", s, i,
                             e, got, want);
                    break;
                }
            }
        }
    }
    WT_OK(weft_ddp_stats(ddp, &st));
    WT_CHECK(st.steps == (uint64_t)c->steps, "steps %llu",
             (unsigned long long)st.steps);
    WT_CHECK(st.nbuckets >= 3, "only %zu buckets", st.nbuckets);
    weft_ddp_destroy(ddp);
    dd_free(g, block);
}

Test(ml_ddp, averages_exactly_in_any_order, .timeout = 240)
{
    dd_cfg_t apart = {0, 3}, together = {1, 3};

    for (int n = 1; n <= 4; n++) {
        cr_expect_eq(wt_run_ranks(n, avg_body, &apart), 0, "%d ranks", n);
        cr_expect_eq(wt_run_ranks(n, avg_body, &together), 0,
                     "%d ranks, in place", n);
    }
}

/* ---- the layout: reverse registration order, then the arrival order -- */

static void
layout_body(weft_context_t *ctx, weft_comm_t *w, void *arg)
{
    static float a[64], b[64], c[64], d[64];
    weft_ddp_param_t p[4] = {{a, 64, WEFT_FLOAT32},
                             {b, 64, WEFT_FLOAT32},
                             {c, 64, WEFT_FLOAT32},
                             {d, 64, WEFT_FLOAT32}};
    weft_ddp_params_t dp = {.field_mask = WEFT_DDP_PARAM_BUCKET_CAP |
                                          WEFT_DDP_PARAM_FIRST_BUCKET_CAP,
                            .bucket_cap_bytes = 512,
                            .first_bucket_cap_bytes = 256};
    /* rank 0 reports 1, 0, 3, 2; the others 3, 2, 1, 0 */
    const size_t order0[4] = {1, 0, 3, 2}, order1[4] = {3, 2, 1, 0};
    const size_t *order = weft_comm_rank(w) == 0 ? order0 : order1;
    weft_ddp_t *ddp = NULL;
    weft_ddp_bucket_t bk;

    (void)ctx;
    (void)arg;
    WT_OK(weft_ddp_create(w, p, 4, &dp, &ddp));
    /* first: the last registered first, 256 B then 512 B */
    WT_OK(weft_ddp_bucket_info(ddp, 0, &bk));
    WT_CHECK(bk.nparams == 1 && bk.params[0] == 3,
             "bucket 0: %zu params, "
             "first %zu",
             bk.nparams, bk.params[0]);
    WT_OK(weft_ddp_bucket_info(ddp, 1, &bk));
    WT_CHECK(bk.nparams == 2 && bk.params[0] == 2 && bk.params[1] == 1,
             "bucket 1");
    for (int s = 0; s < 2; s++) {
        WT_OK(weft_ddp_begin(ddp, 1));
        for (int k = 0; k < 4; k++) {
            WT_OK(weft_ddp_grad_ready(ddp, order[k]));
        }
        WT_OK(weft_ddp_finish(ddp));
    }
    /* rebuilt on rank 0's arrival order, on every rank */
    WT_OK(weft_ddp_bucket_info(ddp, 0, &bk));
    WT_CHECK(bk.nparams == 1 && bk.params[0] == 1,
             "rebuilt bucket 0: %zu "
             "params, first %zu",
             bk.nparams, bk.params[0]);
    WT_OK(weft_ddp_bucket_info(ddp, 1, &bk));
    WT_CHECK(bk.nparams == 2 && bk.params[0] == 0 && bk.params[1] == 3,
             "rebuilt bucket 1: first %zu", bk.params[0]);
    weft_ddp_destroy(ddp);
}

Test(ml_ddp, rebuilds_on_rank_0s_arrival_order, .timeout = 60)
{
    cr_expect_eq(wt_run_ranks(3, layout_body, NULL), 0);
}

/* ---- overlap: the first bucket starts before the last gradient ------- */

/* arg: NULL, buckets of two parameters (the first of one); else one
 * bucket of all eight, whose reduction starts with its first partitions
 * (a bucket is a partitioned allreduce), long before it is full. */
static void
overlap_body(weft_context_t *ctx, weft_comm_t *w, void *arg)
{
    enum { N = 8, C = 65536 };
    static float g[N][C];
    weft_ddp_param_t p[N];
    size_t one = N * C * sizeof(float);
    weft_ddp_params_t dp = {
        .field_mask =
            WEFT_DDP_PARAM_BUCKET_CAP | WEFT_DDP_PARAM_FIRST_BUCKET_CAP,
        .bucket_cap_bytes = arg != NULL ? one : 2 * C * sizeof(float),
        .first_bucket_cap_bytes = arg != NULL ? one : C * sizeof(float)};
    weft_ddp_t *ddp = NULL;
    weft_ddp_stats_t st;

    (void)ctx;
    for (int i = 0; i < N; i++) {
        p[i] = (weft_ddp_param_t){g[i], C, WEFT_FLOAT32};
    }
    WT_OK(weft_ddp_create(w, p, N, &dp, &ddp));
    WT_OK(weft_ddp_begin(ddp, 1));
    for (int i = N - 1; i >= 0; i--) { /* a backward: last layer first */
        for (int e = 0; e < C; e++) {
            g[i][e] = (float)(i + e % 7);
        }
        usleep(5000); /* the layer's compute */
        WT_OK(weft_ddp_grad_ready(ddp, (size_t)i));
    }
    WT_OK(weft_ddp_finish(ddp));
    WT_OK(weft_ddp_stats(ddp, &st));
    WT_CHECK(st.nbuckets == (arg != NULL ? 1u : 5u), "%zu buckets",
             st.nbuckets);
    WT_CHECK(st.first_launch_s > 0 && st.first_launch_s < st.last_ready_s,
             "first launch %.6f, last gradient %.6f", st.first_launch_s,
             st.last_ready_s);
    WT_CHECK(st.overlap_s > 0 && st.backward_compute_s > 0.02,
             "overlap %.6f s, compute %.6f s", st.overlap_s,
             st.backward_compute_s);
    for (int i = 0; i < N; i++) {
        WT_CHECK(g[i][5] == (float)(i + 5), "param %d: %g", i, (double)g[i][5]);
    }
    weft_ddp_destroy(ddp);
}

Test(ml_ddp, first_bucket_starts_before_the_last_gradient, .timeout = 60)
{
    static int one_bucket = 1;

    cr_expect_eq(wt_run_ranks(2, overlap_body, NULL), 0);
    cr_expect_eq(wt_run_ranks(4, overlap_body, NULL), 0);
    cr_expect_eq(wt_run_ranks(2, overlap_body, &one_bucket), 0, "one bucket");
    cr_expect_eq(wt_run_ranks(4, overlap_body, &one_bucket), 0, "one bucket");
}

/* ---- no_sync: two local steps, then one that averages the sums ------- */

static void
nosync_body(weft_context_t *ctx, weft_comm_t *w, void *arg)
{
    static float g[3][100];
    int me = weft_comm_rank(w), n = weft_comm_size(w);
    weft_ddp_param_t p[3];
    weft_ddp_t *ddp = NULL;

    (void)ctx;
    (void)arg;
    memset(g, 0, sizeof(g));
    for (int i = 0; i < 3; i++) {
        p[i] = (weft_ddp_param_t){g[i], 100, WEFT_FLOAT32};
    }
    WT_OK(weft_ddp_create(w, p, 3, NULL, &ddp));
    for (int s = 0; s < 3; s++) {
        WT_OK(weft_ddp_begin(ddp, s == 2));
        for (int i = 2; i >= 0; i--) {
            for (int e = 0; e < 100; e++) {
                g[i][e] += (float)dd_grad(me, (size_t)i, (size_t)e, s);
            }
            WT_OK(weft_ddp_grad_ready(ddp, (size_t)i));
        }
        WT_OK(weft_ddp_finish(ddp));
    }
    for (int i = 0; i < 3; i++) {
        for (int e = 0; e < 100; e++) {
            double want = 0;

            for (int r = 0; r < n; r++) {
                for (int s = 0; s < 3; s++) {
                    want += dd_grad(r, (size_t)i, (size_t)e, s);
                }
            }
            want /= n;
            if (g[i][e] != (float)want) {
                WT_CHECK(0, "param %d elem %d: %g, want %g", i, e,
                         (double)g[i][e], want);
                break;
            }
        }
    }
    weft_ddp_destroy(ddp);
}

Test(ml_ddp, no_sync_steps_accumulate, .timeout = 60)
{
    cr_expect_eq(wt_run_ranks(2, nosync_body, NULL), 0);
    cr_expect_eq(wt_run_ranks(4, nosync_body, NULL), 0);
}

/* ---- unused parameters ------------------------------------------------- */

static void
unused_body(weft_context_t *ctx, weft_comm_t *w, void *arg)
{
    static float g[4][10];
    int me = weft_comm_rank(w), n = weft_comm_size(w);
    weft_ddp_param_t p[4];
    weft_ddp_params_t dp = {.field_mask = WEFT_DDP_PARAM_FIND_UNUSED,
                            .find_unused = 1};
    weft_ddp_t *ddp = NULL;

    (void)ctx;
    (void)arg;
    for (int i = 0; i < 4; i++) {
        p[i] = (weft_ddp_param_t){g[i], 10, WEFT_FLOAT32};
        for (int e = 0; e < 10; e++) {
            g[i][e] = -7.0f; /* stale: what an unused one keeps */
        }
    }
    WT_OK(weft_ddp_create(w, p, 4, &dp, &ddp));
    WT_OK(weft_ddp_begin(ddp, 1));
    for (int i = 3; i >= 0; i--) {
        /* 2: unused everywhere; 3: used only on rank 0 */
        if (i == 2 || (i == 3 && me != 0)) {
            WT_OK(weft_ddp_mark_unused(ddp, (size_t)i));
            continue;
        }
        for (int e = 0; e < 10; e++) {
            g[i][e] = (float)(4 * (me + 1));
        }
        WT_OK(weft_ddp_grad_ready(ddp, (size_t)i));
    }
    WT_OK(weft_ddp_finish(ddp));
    WT_CHECK(g[2][0] == -7.0f, "unused everywhere: %g", (double)g[2][0]);
    WT_CHECK(g[3][0] == 4.0f / (float)n, "used on rank 0 only: %g, want %g",
             (double)g[3][0], 4.0 / n);
    WT_CHECK(g[0][9] == (float)(2 * (n + 1)), "used everywhere: %g",
             (double)g[0][9]);
    weft_ddp_destroy(ddp);
}

Test(ml_ddp, unused_parameters, .timeout = 60)
{
    cr_expect_eq(wt_run_ranks(2, unused_body, NULL), 0);
    cr_expect_eq(wt_run_ranks(4, unused_body, NULL), 0);
}

/* ---- compression hooks ------------------------------------------------- */

static void
hook_body(weft_context_t *ctx, weft_comm_t *w, void *arg)
{
    enum { C = 4000 };
    static float g[2][C];
    int me = weft_comm_rank(w), n = weft_comm_size(w);
    int bf16 = *(const int *)arg;
    weft_ddp_param_t p[2] = {{g[0], C, WEFT_FLOAT32}, {g[1], C, WEFT_FLOAT32}};
    weft_ddp_params_t dp = {.field_mask = WEFT_DDP_PARAM_HOOK |
                                          WEFT_DDP_PARAM_FIRST_BUCKET_CAP,
                            .first_bucket_cap_bytes = 64,
                            .hook = bf16 ? &weft_ddp_hook_bf16_compress
                                         : &weft_ddp_hook_fp16_compress};
    double tol = bf16 ? 1.0 / 128 : 1.0 / 1024;
    weft_ddp_t *ddp = NULL;

    (void)ctx;
    WT_OK(weft_ddp_create(w, p, 2, &dp, &ddp));
    WT_OK(weft_ddp_begin(ddp, 1));
    for (int i = 1; i >= 0; i--) {
        for (int e = 0; e < C; e++) {
            g[i][e] = (float)(sin(e * 0.37 + me + i) * (1 + e % 50));
        }
        WT_OK(weft_ddp_grad_ready(ddp, (size_t)i));
    }
    WT_OK(weft_ddp_finish(ddp));
    for (int i = 0; i < 2; i++) {
        for (int e = 0; e < C; e++) {
            double want = 0, mag = 0;

            for (int r = 0; r < n; r++) {
                double v = (float)(sin(e * 0.37 + r + i) * (1 + e % 50));

                want += v;
                mag += fabs(v);
            }
            want /= n;
            /* each rank's share is rounded (half an ulp of its own size),
             * then the sum; tol is twice the unit roundoff */
            if (fabs(g[i][e] - want) > tol * (mag / n + fabs(want)) + 1e-6) {
                WT_CHECK(0, "param %d elem %d: %g, want %g", i, e,
                         (double)g[i][e], want);
                break;
            }
        }
    }
    weft_ddp_destroy(ddp);
}

Test(ml_ddp, compression_hooks, .timeout = 60)
{
    int fp16 = 0, bf16 = 1;

    cr_expect_eq(wt_run_ranks(2, hook_body, &fp16), 0, "fp16");
    cr_expect_eq(wt_run_ranks(4, hook_body, &bf16), 0, "bf16");
}

/* ---- a hook that fails on one rank ------------------------------------ */

/* rank 1, or the only one */
#define HOOK_FAIL_RANK(_comm) (weft_comm_size(_comm) > 1 ? 1 : 0)

/* The averaging allreduce, except bucket 1 on HOOK_FAIL_RANK. */
static weft_status_t
failing_launch(void *state, weft_comm_t *comm, weft_ddp_bucket_t *b,
               weft_request_t **req_p)
{
    (void)state;
    if (b->index == 1 && weft_comm_rank(comm) == HOOK_FAIL_RANK(comm)) {
        return WEFT_ERR_NO_MEMORY;
    }
    return weft_iallreduce(b->buffer, b->buffer, b->count, b->dtype, WEFT_AVG,
                           comm, req_p);
}

static const weft_ddp_hook_t failing_hook = {.launch = failing_launch};

static void
hook_fail_body(weft_context_t *ctx, weft_comm_t *w, void *arg)
{
    enum { C = 1000 };
    static float g[2][C];
    int me = weft_comm_rank(w);
    weft_ddp_param_t p[2] = {{g[0], C, WEFT_FLOAT32}, {g[1], C, WEFT_FLOAT32}};
    weft_ddp_params_t dp = {.field_mask = WEFT_DDP_PARAM_HOOK |
                                          WEFT_DDP_PARAM_FIRST_BUCKET_CAP,
                            .first_bucket_cap_bytes = 64,
                            .hook = &failing_hook};
    weft_ddp_t *ddp = NULL;
    weft_comm_t *after;
    weft_status_t st = WEFT_OK;
    double t0;

    (void)ctx;
    (void)arg;
    /* met on after the step, so the failing rank stays alive (one that
     * exits is seen at once: the others must not need that) */
    WT_OK(weft_comm_dup(w, &after));
    WT_OK(weft_comm_set_timeout(w, 60));
    WT_OK(weft_ddp_create(w, p, 2, &dp, &ddp));
    WT_OK(weft_ddp_begin(ddp, 1));
    t0 = wt_now();
    /* bucket 0 holds parameter 1, bucket 1 parameter 0 */
    st = weft_ddp_grad_ready(ddp, 1);
    WT_CHECK(st == WEFT_OK ||
                 (st == WEFT_ERR_ABORTED && me != HOOK_FAIL_RANK(w)),
             "rank %d: grad_ready(1) returned %s", me, weft_status_string(st));
    st = weft_ddp_grad_ready(ddp, 0);
    if (me == HOOK_FAIL_RANK(w)) {
        WT_CHECK(st == WEFT_ERR_NO_MEMORY, "grad_ready returned %s",
                 weft_status_string(st));
        WT_CHECK(strstr(weft_last_error(), "bucket 1") != NULL,
                 "the error \"%s\" does not name the bucket",
                 weft_last_error());
        /* a step with a bucket never started is no success */
        st = weft_ddp_finish(ddp);
        WT_CHECK(st == WEFT_ERR_NO_MEMORY || st == WEFT_ERR_ABORTED,
                 "finish after a failed launch returned %s",
                 weft_status_string(st));
    } else {
        /* the abort may be here before this rank's own launches */
        WT_CHECK(st == WEFT_OK || st == WEFT_ERR_ABORTED,
                 "rank %d: grad_ready returned %s", me, weft_status_string(st));
        st = weft_ddp_finish(ddp);
        WT_CHECK(st == WEFT_ERR_ABORTED, "rank %d: finish returned %s (%s)", me,
                 weft_status_string(st), weft_last_error());
        WT_CHECK(wt_now() - t0 < 20,
                 "rank %d: finish returned after %.1f s (deadline 60 s)", me,
                 wt_now() - t0);
    }
    weft_ddp_destroy(ddp);
    WT_OK(weft_barrier(after));
    WT_OK(weft_comm_destroy(after));
}

Test(ml_ddp, hook_failing_on_one_rank_stops_every_rank, .timeout = 90)
{
    /* one rank: bucket 0 is done at once, and finish must still fail */
    cr_expect_eq(wt_run_ranks(1, hook_fail_body, NULL), 0);
    cr_expect_eq(wt_run_ranks(4, hook_fail_body, NULL), 0);
}

/* ---- bad input --------------------------------------------------------- */

static void
bad_body(weft_context_t *ctx, weft_comm_t *w, void *arg)
{
    static float a[8], b[8];
    static int32_t k[8];
    weft_ddp_param_t twice[2] = {{a, 8, WEFT_FLOAT32},
                                 {a + 4, 4, WEFT_FLOAT32}};
    weft_ddp_param_t ints[1] = {{k, 8, WEFT_INT32}};
    weft_ddp_param_t ok[2] = {{a, 8, WEFT_FLOAT32}, {b, 8, WEFT_FLOAT32}};
    weft_ddp_t *ddp = NULL;

    (void)ctx;
    (void)arg;
    WT_CHECK(weft_ddp_create(w, twice, 2, NULL, &ddp) == WEFT_ERR_INVALID_ARG &&
                 strstr(weft_last_error(), "share") != NULL,
             "registered twice: %s", weft_last_error());
    WT_CHECK(weft_ddp_create(w, ints, 1, NULL, &ddp) == WEFT_ERR_INVALID_ARG &&
                 strstr(weft_last_error(), "params[0].dtype") != NULL,
             "int gradients: %s", weft_last_error());
    WT_OK(weft_ddp_create(w, ok, 2, NULL, &ddp));
    WT_CHECK(weft_ddp_grad_ready(ddp, 0) == WEFT_ERR_INVALID_ARG,
             "ready before begin");
    WT_OK(weft_ddp_begin(ddp, 1));
    WT_CHECK(weft_ddp_begin(ddp, 1) == WEFT_ERR_INVALID_ARG, "begin twice");
    WT_CHECK(weft_ddp_grad_ready(ddp, 2) == WEFT_ERR_INVALID_ARG &&
                 strstr(weft_last_error(), "parameter 2") != NULL,
             "out of range: %s", weft_last_error());
    WT_CHECK(weft_ddp_mark_unused(ddp, 1) == WEFT_ERR_INVALID_ARG &&
                 strstr(weft_last_error(), "find_unused") != NULL,
             "unused without find_unused: %s", weft_last_error());
    WT_OK(weft_ddp_grad_ready(ddp, 1));
    WT_CHECK(weft_ddp_grad_ready(ddp, 1) == WEFT_ERR_INVALID_ARG &&
                 strstr(weft_last_error(), "already") != NULL,
             "twice: %s", weft_last_error());
    WT_CHECK(weft_ddp_finish(ddp) == WEFT_ERR_INVALID_ARG &&
                 strstr(weft_last_error(), "parameter 0") != NULL,
             "finish with one missing: %s", weft_last_error());
    WT_OK(weft_ddp_grad_ready(ddp, 0));
    WT_OK(weft_ddp_finish(ddp));
    weft_ddp_destroy(ddp);
}

Test(ml_ddp, bad_input_is_named, .timeout = 60)
{
    cr_expect_eq(wt_run_ranks(2, bad_body, NULL), 0);
}
