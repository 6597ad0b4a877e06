/*
 * weft-ddp-bench: how much of DDP's gradient communication a backward
 * pass hides. A synthetic model of L equal layers; its backward spends a
 * set time per layer (an idle wait standing for work on an accelerator)
 * and reports each layer's gradient (weft_ddp_grad_ready) from the last
 * layer to the first. For each compute/communication ratio it times, as
 * the slowest rank sees them (medians of -n runs, interleaved):
 *   comm     the communication alone: the gradients written, then one
 *            nonblocking averaging allreduce per bucket, in place on the
 *            bucket's buffer, all waited for (with --scattered, where
 *            the buckets are DDP's copies: a DDP step whose gradients
 *            are all ready at once);
 *   compute  the backward alone, without DDP;
 *   ddp      the backward with DDP: its buckets reduce while the earlier
 *            layers compute.
 * hidden = (compute + comm - ddp) / comm. Progress during the compute
 * comes from the caller (--progress caller: the backward calls
 * weft_progress between 50 us naps) or weft's progress thread.
 * The ratio sets the compute from a first measurement of comm.
 *
 *   weftrun -n 2 weft-ddp-bench [-l LAYERS] [-s LAYER_BYTES]
 *       [-b BUCKET_BYTES] [-r RATIOS] [-n ITERS] [--progress caller|thread]
 *       [--scattered] [--gradients host|device]
 *
 * By default the gradients lie in one block in bucket order (as with
 * torch's gradient_as_bucket_view), so buckets need no copy in;
 * --scattered gives each layer its own buffer.
 *
 * --gradients host (default): the backward writes each layer's gradient
 * on the host as the layer finishes, CPU work that competes with the
 * reductions for the cores. device: they are written before the backward
 * (untimed, as for comm), as an accelerator produces them without the
 * host's cores; the backward is idle waits only. The cpu columns give
 * each form's CPU time (user + system, the process's, every thread),
 * the busiest rank's: where the cores are the bottleneck, a step cannot
 * take less than the node's CPU time over its core count.
 *
 * Public API only, checked: every step's averaged gradients are compared
 * with the exact mean.
 */
#include "build_config.h"

#include <getopt.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <weft.h>
#include <weft/ml.h>

#define DB_RATIOS_MAX 16

typedef struct db {
    int layers, iters, nratios, thread, me, n;
    int scattered; /* --scattered: each layer's gradient on its own */
    int device;    /* --gradients device: written before the backward */
    double cpu_s;  /* the last step's CPU time (the busiest rank's) */
    size_t count;  /* floats per layer */
    size_t bucket;
    double ratios[DB_RATIOS_MAX];
    double nap_s; /* the backward's compute per layer */
    float **grad;
    weft_context_t *ctx;
    weft_comm_t *w;
    weft_ddp_t *ddp;
    int step;
    size_t bad;
} db_t;

enum { DB_COMM, DB_COMPUTE, DB_DDP, DB_NFORMS };

static double
db_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int
db_size(const char *s, size_t *out)
{
    char *end;
    double v = strtod(s, &end);

    if (end == s || v <= 0) {
        return -1;
    }
    if (*end == 'K' || *end == 'k') {
        v *= 1024;
        end++;
    } else if (*end == 'M' || *end == 'm') {
        v *= 1024.0 * 1024;
        end++;
    }
    *out = (size_t)v;
    return *end == '\0' ? 0 : -1;
}

static int
db_parse(int argc, char **argv, db_t *d)
{
    static const struct option longs[] = {
        {"progress", required_argument, NULL, 'P'},
        {"scattered", no_argument, NULL, 'S'},
        {"gradients", required_argument, NULL, 'G'},
        {NULL, 0, NULL, 0}};
    size_t layer_bytes = 1u << 20;
    int ch;

    d->layers = 16;
    d->iters = 5;
    d->bucket = 4u << 20;
    d->nratios = 3;
    d->ratios[0] = 0.5;
    d->ratios[1] = 1;
    d->ratios[2] = 2;
    while ((ch = getopt_long(argc, argv, "l:s:b:r:n:", longs, NULL)) != -1) {
        char *save = NULL, buf[128];

        switch (ch) {
        case 'l':
            d->layers = atoi(optarg);
            break;
        case 's':
            if (db_size(optarg, &layer_bytes) != 0) {
                return -1;
            }
            break;
        case 'b':
            if (db_size(optarg, &d->bucket) != 0) {
                return -1;
            }
            break;
        case 'n':
            d->iters = atoi(optarg);
            break;
        case 'r':
            snprintf(buf, sizeof(buf), "%s", optarg);
            d->nratios = 0;
            for (char *t = strtok_r(buf, ",", &save);
                 t != NULL && d->nratios < DB_RATIOS_MAX;
                 t = strtok_r(NULL, ",", &save)) {
                d->ratios[d->nratios++] = atof(t);
            }
            break;
        case 'S':
            d->scattered = 1;
            break;
        case 'G':
            d->device = strcmp(optarg, "device") == 0;
            if (!d->device && strcmp(optarg, "host") != 0) {
                return -1;
            }
            break;
        case 'P':
            d->thread = strcmp(optarg, "thread") == 0;
            if (!d->thread && strcmp(optarg, "caller") != 0) {
                return -1;
            }
            break;
        default:
            return -1;
        }
    }
    d->count = layer_bytes / sizeof(float);
    return d->layers > 0 && d->iters > 0 && d->count > 0 && d->nratios > 0 ? 0
                                                                           : -1;
}

/* Rank r's gradient of layer l at element e in step s (small integers:
 * the mean over a power-of-two rank count is exact). */
static float
db_val(int r, int l, size_t e, int s)
{
    return (float)((r + 1) * (int)(e & 63) + l + s % 3);
}

static void
db_write(db_t *d, int l)
{
    for (size_t e = 0; e < d->count; e++) {
        d->grad[l][e] = db_val(d->me, l, e, d->step);
    }
}

/* One layer of the backward: its compute (writing the gradient is part
 * of it, unless the gradients were written before: the comm form), then
 * the gradient reported. The compute stands for an accelerator's: layer
 * l is done at a fixed time from the start of the backward (t0), as a
 * device's queue runs whatever the host thread does meanwhile (its
 * progress calls, its reductions); the host reports the gradient once it
 * sees it. */
static void
db_layer(db_t *d, int l, int with_ddp, int write, double t0)
{
    double until = t0 + (double)(d->layers - l) * d->nap_s;

    /* in 50 us slices where the caller drives progress (the compute
     * form too, so that both sleep alike), in one piece where it does not
     * (the thread), as a wait on an accelerator is */
    while (db_now() < until) {
        double left = until - db_now();
        struct timespec ts = {0, 50000};

        if (d->thread || left < 50e-6) {
            ts.tv_sec = (time_t)left;
            ts.tv_nsec = (long)((left - (double)ts.tv_sec) * 1e9);
        }
        nanosleep(&ts, NULL);
        if (with_ddp && !d->thread) {
            weft_progress(d->ctx);
        }
    }
    if (write) {
        db_write(d, l);
    }
    if (with_ddp && weft_ddp_grad_ready(d->ddp, (size_t)l) != WEFT_OK) {
        fprintf(stderr, "weft-ddp-bench: %s\n", weft_last_error());
        exit(1);
    }
}

static void
db_verify(db_t *d)
{
    float k = (float)(d->n * (d->n + 1) / 2) / (float)d->n;

    for (int l = 0; l < d->layers; l++) {
        for (size_t e = 0; e < d->count; e++) {
            float want = k * (float)(e & 63) + (float)(l + d->step % 3);

            if (d->grad[l][e] != want && d->bad++ == 0) {
                fprintf(stderr,
                        "weft-ddp-bench: rank %d step %d layer %d element "
                        "%zu is %g, want %g\n",
                        d->me, d->step, l, e, (double)d->grad[l][e],
                        (double)want);
            }
        }
    }
}

/* The buckets as plain allreduces (the gradients lie in one block: the
 * buckets are the gradients themselves). */
static void
db_plain(db_t *d)
{
    weft_request_t *reqs[256];
    weft_ddp_stats_t st;
    weft_ddp_bucket_t b;

    weft_ddp_stats(d->ddp, &st);
    for (size_t k = 0; k < st.nbuckets && k < 256; k++) {
        if (weft_ddp_bucket_info(d->ddp, k, &b) != WEFT_OK ||
            weft_iallreduce(b.buffer, b.buffer, b.count, b.dtype, WEFT_AVG,
                            d->w, &reqs[k]) != WEFT_OK) {
            fprintf(stderr, "weft-ddp-bench: %s\n", weft_last_error());
            exit(1);
        }
    }
    if (weft_waitall(st.nbuckets < 256 ? st.nbuckets : 256, reqs) != WEFT_OK) {
        fprintf(stderr, "weft-ddp-bench: %s\n", weft_last_error());
        exit(1);
    }
}

/* This process's CPU time so far (every thread). */
static double
db_cpu(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
}

static double
db_once(db_t *d, int form)
{
    double nap = d->nap_s, t0, t, c0, tc[2];
    int plain = form == DB_COMM && !d->scattered;
    int prewrite = form == DB_COMM || d->device;

    d->step++;
    if (form == DB_COMM) {
        d->nap_s = 0;
    }
    for (int l = 0; prewrite && l < d->layers; l++) {
        db_write(d, l); /* untimed */
    }
    weft_barrier(d->w);
    c0 = db_cpu();
    t0 = db_now();
    if (plain) {
        db_plain(d);
    } else {
        if (form != DB_COMPUTE && weft_ddp_begin(d->ddp, 1) != WEFT_OK) {
            fprintf(stderr, "weft-ddp-bench: %s\n", weft_last_error());
            exit(1);
        }
        for (int l = d->layers - 1; l >= 0; l--) {
            db_layer(d, l, form != DB_COMPUTE, !prewrite, t0);
        }
        if (form != DB_COMPUTE && weft_ddp_finish(d->ddp) != WEFT_OK) {
            fprintf(stderr, "weft-ddp-bench: %s\n", weft_last_error());
            exit(1);
        }
    }
    t = db_now() - t0;
    tc[0] = t;
    tc[1] = db_cpu() - c0;
    d->nap_s = nap;
    /* every rank's step is over (the allreduce waits for them all) before
     * any checks its gradients: a rank that finished first and read 16
     * MiB meanwhile would take the cores from those still reducing, and
     * their time would count it */
    weft_allreduce(tc, tc, 2, WEFT_FLOAT64, WEFT_MAX, d->w);
    if (form != DB_COMPUTE && (d->n & (d->n - 1)) == 0) {
        db_verify(d);
    }
    d->cpu_s = tc[1];
    return tc[0];
}

static int
db_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

/* Medians of each form's time (med) and CPU time (cpu). */
static void
db_measure(db_t *d, int nforms, const int *forms, double *med, double *cpu)
{
    double t[DB_NFORMS][64], c[DB_NFORMS][64];
    int n = d->iters < 64 ? d->iters : 64;

    for (int i = -1; i < n; i++) {
        for (int f = 0; f < nforms; f++) {
            double x = db_once(d, forms[f]);

            if (i >= 0) {
                t[f][i] = x;
                c[f][i] = d->cpu_s;
            }
        }
    }
    for (int f = 0; f < nforms; f++) {
        qsort(t[f], (size_t)n, sizeof(double), db_cmp);
        qsort(c[f], (size_t)n, sizeof(double), db_cmp);
        med[f] = t[f][n / 2];
        cpu[f] = c[f][n / 2];
    }
}

int
main(int argc, char **argv)
{
    db_t d = {0};
    weft_ddp_param_t *p;
    float *block;
    weft_ddp_params_t dp = {.field_mask = WEFT_DDP_PARAM_BUCKET_CAP |
                                          WEFT_DDP_PARAM_REBUILD};
    double comm, comm_cpu;
    const int first[1] = {DB_COMM}, forms[3] = {DB_COMM, DB_COMPUTE, DB_DDP};

    if (db_parse(argc, argv, &d) != 0) {
        fprintf(stderr, "usage: weft-ddp-bench [-l LAYERS] [-s LAYER_BYTES] "
                        "[-b BUCKET_BYTES] [-r RATIOS] [-n ITERS] "
                        "[--progress caller|thread] [--scattered] "
                        "[--gradients host|device]\n");
        return 2;
    }
    setenv("WEFT_PROGRESS_THREAD", d.thread ? "1" : "0", 1);
    /* naps as asked for, not 50 us later (the default timer slack) */
    prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
    if (weft_context_create(NULL, &d.ctx) != WEFT_OK ||
        weft_comm_world(d.ctx, &d.w) != WEFT_OK) {
        fprintf(stderr, "weft-ddp-bench: %s\n", weft_last_error());
        return 1;
    }
    d.me = weft_comm_rank(d.w);
    d.n = weft_comm_size(d.w);
    d.grad = calloc((size_t)d.layers, sizeof(float *));
    p = calloc((size_t)d.layers, sizeof(*p));
    block =
        d.scattered ? NULL : calloc((size_t)d.layers * d.count, sizeof(float));
    for (int l = 0; l < d.layers; l++) {
        /* one block, the last layer first (the order of the buckets: the
         * DDP works on the gradients in place), or each on its own (it
         * copies them in and out) */
        d.grad[l] = block != NULL ? block + (size_t)(d.layers - 1 - l) * d.count
                                  : calloc(d.count, sizeof(float));
        p[l] = (weft_ddp_param_t){d.grad[l], d.count, WEFT_FLOAT32};
    }
    dp.bucket_cap_bytes = d.bucket;
    dp.rebuild = 0;
    if (weft_ddp_create(d.w, p, (size_t)d.layers, &dp, &d.ddp) != WEFT_OK) {
        fprintf(stderr, "weft-ddp-bench: %s\n", weft_last_error());
        return 1;
    }
    db_measure(&d, 1, first, &comm, &comm_cpu);
    if (d.me == 0) {
        weft_ddp_stats_t st;

        weft_ddp_stats(d.ddp, &st);
        printf("# weft-ddp-bench: %d layers of %zu bytes (float32), %zu "
               "buckets (cap %zu B, first 1 MiB), %d ranks, progress by "
               "%s, gradients %s, written %s\n",
               d.layers, d.count * sizeof(float), st.nbuckets, d.bucket, d.n,
               d.thread ? "the progress thread" : "the caller",
               d.scattered ? "scattered (copied in and out)"
                           : "in one block (the buckets work in place)",
               d.device ? "before the backward (--gradients device)"
                        : "by the host as each layer finishes");
        printf("# medians of %d runs, the slowest rank's; comm: %s; hidden "
               "= (compute + comm - ddp) / comm\n",
               d.iters,
               d.scattered ? "a DDP step with every gradient ready at once"
                           : "a plain allreduce per bucket");
        printf("# cpu: CPU time of the form, the busiest rank's (all its "
               "threads)\n");
        printf("%8s %12s %12s %12s %9s %12s %12s %12s\n", "ratio", "compute_us",
               "comm_us", "ddp_us", "hidden_%", "compute_cpu", "comm_cpu",
               "ddp_cpu");
    }
    for (int r = 0; r < d.nratios; r++) {
        double med[3], cpu[3];

        d.nap_s = d.ratios[r] * comm / d.layers;
        db_measure(&d, 3, forms, med, cpu);
        if (d.me == 0) {
            printf("%8.2f %12.1f %12.1f %12.1f %9.1f %12.1f %12.1f %12.1f\n",
                   d.ratios[r], med[1] * 1e6, med[0] * 1e6, med[2] * 1e6,
                   100 * (med[1] + med[0] - med[2]) / med[0], cpu[1] * 1e6,
                   cpu[0] * 1e6, cpu[2] * 1e6);
        }
    }
    if (d.me == 0) {
        printf("# check: %s\n", d.bad == 0 ? "every gradient exact"
                                           : "WRONG gradients (see above)");
    }
    weft_ddp_destroy(d.ddp);
    weft_context_destroy(d.ctx);
    return d.bad == 0 ? 0 : 1;
}
