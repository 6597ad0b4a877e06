/*
 * A tiny data-parallel training loop in plain C with weft's DDP: a
 * two-layer perceptron (tanh hidden layer) fitted to a fixed synthetic
 * regression by full-batch gradient descent. The batch is split evenly
 * over the ranks; each rank's gradient is the mean over its share, so the
 * DDP average is the full-batch gradient and the run converges the same
 * on 1, 2 or 4 ranks (up to the order of floating-point sums).
 *
 *   weftrun -n 4 examples/ddp_mlp [steps]
 *
 * Rank 0 prints the loss every 50 steps and, last, "final loss L
 * checksum C" (C: the sum of every weight), which tests compare across
 * rank counts.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <weft.h>
#include <weft/ml.h>

#define IN    8
#define HID   16
#define BATCH 64 /* global samples: divisible by 1, 2 and 4 ranks */
#define LR    0.3f

typedef struct mlp {
    float w1[HID][IN], b1[HID], w2[HID], b2[1];
} mlp_t;

/* Sample s of the fixed data set and its target. */
static void
sample(int s, float x[IN], float *y)
{
    double t = 0;

    for (int j = 0; j < IN; j++) {
        x[j] = (float)sin(0.7 * s + 1.3 * j);
        t += (j % 3 - 1) * 0.5 * x[j];
    }
    *y = (float)tanh(t) + 0.25f * x[0] * x[1];
}

/* The same starting weights on every rank (no broadcast needed). */
static void
init(mlp_t *m)
{
    for (int h = 0; h < HID; h++) {
        for (int j = 0; j < IN; j++) {
            m->w1[h][j] = (float)(0.3 * sin(h * 2.1 + j * 0.9));
        }
        m->b1[h] = 0;
        m->w2[h] = (float)(0.3 * cos(h * 1.7));
    }
    m->b2[0] = 0;
}

/* Loss summed over samples [first, first + n); with g != NULL, the
 * gradient of the loss summed there, divided by n, reported to the DDP
 * layer by layer from the output back (as a backward pass would). */
static double
step(const mlp_t *m, int first, int n, mlp_t *g, weft_ddp_t *ddp)
{
    double loss = 0;

    if (g != NULL) {
        memset(g, 0, sizeof(*g));
    }
    for (int s = first; s < first + n; s++) {
        float x[IN], y, a[HID], out = m->b2[0], d;

        sample(s, x, &y);
        for (int h = 0; h < HID; h++) {
            float z = m->b1[h];

            for (int j = 0; j < IN; j++) {
                z += m->w1[h][j] * x[j];
            }
            a[h] = tanhf(z);
            out += m->w2[h] * a[h];
        }
        d = out - y;
        loss += 0.5 * d * d;
        if (g == NULL) {
            continue;
        }
        g->b2[0] += d / (float)n;
        for (int h = 0; h < HID; h++) {
            float dz = d * m->w2[h] * (1 - a[h] * a[h]) / (float)n;

            g->w2[h] += d * a[h] / (float)n;
            g->b1[h] += dz;
            for (int j = 0; j < IN; j++) {
                g->w1[h][j] += dz * x[j];
            }
        }
    }
    if (ddp != NULL) { /* parameters 3, 2 (output layer), then 1, 0 */
        for (int i = 3; i >= 0; i--) {
            weft_status_t st = weft_ddp_grad_ready(ddp, (size_t)i);

            if (st != WEFT_OK) {
                fprintf(stderr, "ddp_mlp: %s\n", weft_last_error());
                exit(1);
            }
        }
    }
    return loss;
}

static void
sgd(mlp_t *m, const mlp_t *g)
{
    float *w = (float *)m;
    const float *d = (const float *)g;

    for (size_t i = 0; i < sizeof(*m) / sizeof(float); i++) {
        w[i] -= LR * d[i];
    }
}

static double
checksum(const mlp_t *m)
{
    const float *w = (const float *)m;
    double c = 0;

    for (size_t i = 0; i < sizeof(*m) / sizeof(float); i++) {
        c += w[i];
    }
    return c;
}

static int
fail(const char *what)
{
    fprintf(stderr, "ddp_mlp: %s: %s\n", what, weft_last_error());
    return 1;
}

int
main(int argc, char **argv)
{
    int steps = argc > 1 ? atoi(argv[1]) : 400;
    weft_context_t *ctx;
    weft_comm_t *w;
    mlp_t m, g;
    weft_ddp_t *ddp;
    /* small buckets, so a model this size still has several */
    weft_ddp_params_t dp = {.field_mask = WEFT_DDP_PARAM_BUCKET_CAP |
                                          WEFT_DDP_PARAM_FIRST_BUCKET_CAP,
                            .bucket_cap_bytes = 256,
                            .first_bucket_cap_bytes = 64};
    weft_ddp_param_t params[4] = {
        {g.w1, HID * IN, WEFT_FLOAT32},
        {g.b1, HID, WEFT_FLOAT32},
        {g.w2, HID, WEFT_FLOAT32},
        {g.b2, 1, WEFT_FLOAT32},
    };
    int me, n, share;
    double loss = 0;

    if (weft_context_create(NULL, &ctx) != WEFT_OK ||
        weft_comm_world(ctx, &w) != WEFT_OK) {
        return fail("start");
    }
    me = weft_comm_rank(w);
    n = weft_comm_size(w);
    if (BATCH % n != 0) {
        fprintf(stderr, "ddp_mlp: %d ranks do not divide the batch of %d\n", n,
                BATCH);
        return 1;
    }
    share = BATCH / n;
    init(&m);
    if (weft_ddp_create(w, params, 4, &dp, &ddp) != WEFT_OK) {
        return fail("weft_ddp_create");
    }
    for (int t = 0; t <= steps; t++) {
        if (weft_ddp_begin(ddp, 1) != WEFT_OK) {
            return fail("weft_ddp_begin");
        }
        loss = step(&m, me * share, share, &g, ddp);
        if (weft_ddp_finish(ddp) != WEFT_OK ||
            weft_allreduce(&loss, &loss, 1, WEFT_FLOAT64, WEFT_SUM, w) !=
                WEFT_OK) {
            return fail("weft_ddp_finish");
        }
        loss /= BATCH;
        if (me == 0 && t % 50 == 0) {
            printf("step %4d loss %.7f\n", t, loss);
        }
        if (t < steps) {
            sgd(&m, &g); /* every rank the same: g is the batch's mean */
        }
    }
    if (me == 0) {
        printf("final loss %.7f checksum %.6f\n", loss, checksum(&m));
    }
    weft_ddp_destroy(ddp);
    weft_context_destroy(ctx);
    return 0;
}
