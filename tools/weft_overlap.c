/*
 * weft-overlap: how much of an allreduce a producer hides behind its own
 * computation with a partitioned allreduce (weft_allreduce_init).
 *
 * A synthetic producer writes the send buffer partition by partition,
 * spending a set compute time on each: a memory-bound loop over the
 * partition (--compute mem), or an idle wait that stands for work on an
 * accelerator (--compute sleep). For each compute/communication ratio it
 * times, as the slowest rank sees them (medians of -n runs):
 *   comm      the blocking allreduce alone, on values just written (as
 *             in the other forms; the values are written untimed);
 *   compute   the producer alone;
 *   serial    produce everything, then the blocking allreduce;
 *   overlap   weft_start, produce and weft_pready each partition, weft_wait.
 * The ratio sets the compute from a first measurement of comm; each row's
 * comm is measured again among that row's runs, so that drift in the
 * machine's load hits all four alike. hidden = (serial - overlap) / comm:
 * the share of the communication time that the overlapped form took off
 * the serial one. Progress during the
 * computation comes from the caller (--progress caller: the producer calls
 * weft_progress between 16 KiB pieces of its loop, or between 50 us
 * naps of its idle wait) or from weft's progress thread (--progress
 * thread: the producer never calls weft). Writing a partition's final
 * values is part of the compute in both modes (it is real work: a
 * producer writes its output), so with ratio 0 the compute is that
 * alone.
 *
 * Public API only. Run under weftrun: weftrun -n 2 weft-overlap.
 */
#include "build_config.h"

#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <weft.h>

#define OV_PIECE      4096 /* floats between the caller's progress calls */
#define OV_RATIOS_MAX 16

typedef struct ov_opts {
    size_t bytes;
    size_t parts;
    double ratios[OV_RATIOS_MAX];
    int nratios;
    int iters, warmup;
    int check;
    int sleep_compute; /* --compute sleep */
    int thread;        /* --progress thread */
} ov_opts_t;

typedef struct ov {
    const ov_opts_t *o;
    weft_context_t *ctx;
    weft_comm_t *w;
    weft_request_t *req;
    float *send, *recv;
    size_t count;
    int me, n;
    double pass_s;  /* one memory-bound pass over a partition */
    long reps;      /* passes per partition (mem) */
    double sleep_s; /* idle time per partition (sleep) */
    int iter;       /* the data of this run */
    int driving;    /* an overlapped run: the caller drives progress */
    size_t bad;     /* --check: wrong elements seen */
} ov_t;

static double
ov_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void
ov_usage(FILE *f)
{
    fprintf(f, "usage: weft-overlap [-s BYTES] [-p PARTITIONS] [-r RATIOS] "
               "[-n ITERS] [-w WARMUP]\n"
               "                    [--compute mem|sleep] [--progress "
               "caller|thread] [--check]\n"
               "  -s  allreduce size in bytes of float32 (K/M/G suffixes; "
               "default 16M)\n"
               "  -p  partitions (default 16)\n"
               "  -r  compute/communication ratios, comma list (default "
               "0,0.5,1,2)\n"
               "  -n  timed runs per figure, median reported (default 5)\n"
               "  -w  untimed runs first (default 1)\n"
               "  --compute   mem: a memory-bound loop; sleep: an idle wait "
               "(work elsewhere)\n"
               "  --progress  caller: the producer calls weft_progress; "
               "thread: weft's thread\n"
               "  --check     verify every element of every overlapped "
               "result\n");
}

static int
ov_size(const char *s, size_t *out)
{
    char *end;
    double v = strtod(s, &end);
    double mul = 1;

    if (end == s || v < 0) {
        return -1;
    }
    switch (*end) {
    case 'K':
    case 'k':
        mul = 1024;
        end++;
        break;
    case 'M':
    case 'm':
        mul = 1024.0 * 1024;
        end++;
        break;
    case 'G':
    case 'g':
        mul = 1024.0 * 1024 * 1024;
        end++;
        break;
    default:
        break;
    }
    if (*end != '\0') {
        return -1;
    }
    *out = (size_t)(v * mul);
    return 0;
}

static int
ov_ratios(const char *s, ov_opts_t *o)
{
    char buf[256], *save = NULL;

    snprintf(buf, sizeof(buf), "%s", s);
    o->nratios = 0;
    for (char *t = strtok_r(buf, ",", &save); t != NULL;
         t = strtok_r(NULL, ",", &save)) {
        char *end;
        double r = strtod(t, &end);

        if (end == t || *end != '\0' || r < 0 || r > 1000 ||
            o->nratios == OV_RATIOS_MAX) {
            return -1;
        }
        o->ratios[o->nratios++] = r;
    }
    return o->nratios > 0 ? 0 : -1;
}

static int
ov_parse(int argc, char **argv, ov_opts_t *o)
{
    static const struct option longs[] = {
        {"compute", required_argument, NULL, 'C'},
        {"progress", required_argument, NULL, 'P'},
        {"check", no_argument, NULL, 'c'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    int ch;

    *o = (ov_opts_t){.bytes = 16u << 20, .parts = 16, .iters = 5, .warmup = 1};
    ov_ratios("0,0.5,1,2", o);
    while ((ch = getopt_long(argc, argv, "s:p:r:n:w:h", longs, NULL)) != -1) {
        switch (ch) {
        case 's':
            if (ov_size(optarg, &o->bytes) != 0 || o->bytes < 4) {
                fprintf(stderr, "weft-overlap: -s %s: not a size\n", optarg);
                return -1;
            }
            break;
        case 'p':
            o->parts = strtoul(optarg, NULL, 10);
            if (o->parts < 1 || o->parts > 65536) {
                fprintf(stderr, "weft-overlap: -p %s: 1 to 65536\n", optarg);
                return -1;
            }
            break;
        case 'r':
            if (ov_ratios(optarg, o) != 0) {
                fprintf(stderr,
                        "weft-overlap: -r %s: a comma list of ratios in "
                        "[0, 1000]\n",
                        optarg);
                return -1;
            }
            break;
        case 'n':
        case 'w': {
            int v = atoi(optarg);

            if (v < (ch == 'n' ? 1 : 0) || v > 100000) {
                fprintf(stderr, "weft-overlap: -%c %s: out of range\n", ch,
                        optarg);
                return -1;
            }
            *(ch == 'n' ? &o->iters : &o->warmup) = v;
            break;
        }
        case 'C':
            if (strcmp(optarg, "mem") != 0 && strcmp(optarg, "sleep") != 0) {
                fprintf(stderr, "weft-overlap: --compute %s: mem or sleep\n",
                        optarg);
                return -1;
            }
            o->sleep_compute = strcmp(optarg, "sleep") == 0;
            break;
        case 'P':
            if (strcmp(optarg, "caller") != 0 &&
                strcmp(optarg, "thread") != 0) {
                fprintf(stderr,
                        "weft-overlap: --progress %s: caller or thread\n",
                        optarg);
                return -1;
            }
            o->thread = strcmp(optarg, "thread") == 0;
            break;
        case 'c':
            o->check = 1;
            break;
        case 'h':
            ov_usage(stdout);
            exit(0);
        default:
            ov_usage(stderr);
            return -1;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "weft-overlap: unexpected argument '%s'\n",
                argv[optind]);
        return -1;
    }
    return 0;
}

/* ---- the producer ------------------------------------------------------ */

/* The value rank r produces at element e in run it (small integers: any
 * summation order is exact; a mask, not a division, so writing them runs
 * at memory speed as a real producer's output does). */
static float
ov_val(int r, size_t e, int it)
{
    return (float)((r + 1) * (int)((e & 255) + (size_t)(it % 5)));
}

/* In caller mode, progress between pieces of the producer's work. */
static void
ov_progress(ov_t *v)
{
    if (v->driving && !v->o->thread) {
        weft_progress(v->ctx);
    }
}

/* One memory-bound pass over [x, x + len): read, scale, write. */
static void
ov_pass(ov_t *v, float *x, size_t len)
{
    for (size_t off = 0; off < len; off += OV_PIECE) {
        size_t end = off + OV_PIECE < len ? off + OV_PIECE : len;

        for (size_t i = off; i < end; i++) {
            x[i] = x[i] * 0.5f + 1.0f;
        }
        ov_progress(v);
    }
}

static void
ov_idle(ov_t *v, double s)
{
    double until = ov_now() + s;

    /* in 50 us slices where the caller drives progress; in one piece
     * where it does not (the thread), as a wait on an accelerator is */
    while (ov_now() < until) {
        double left = until - ov_now();
        struct timespec ts = {0, 50000};

        if (!v->driving || v->o->thread) {
            ts.tv_sec = (time_t)left;
            ts.tv_nsec = (long)((left - (double)ts.tv_sec) * 1e9);
        }
        nanosleep(&ts, NULL);
        ov_progress(v);
    }
}

/* Write the final values of [first, first + len). */
static void
ov_write(ov_t *v, size_t first, size_t len)
{
    for (size_t off = first; off < first + len; off += OV_PIECE) {
        size_t end =
            off + OV_PIECE < first + len ? off + OV_PIECE : first + len;

        for (size_t e = off; e < end; e++) {
            v->send[e] = ov_val(v->me, e, v->iter);
        }
        ov_progress(v);
    }
}

/* Produce partition p: the compute, then its final values. */
static void
ov_produce(ov_t *v, size_t p)
{
    size_t first = 0, len = 0;

    weft_partition_extent(v->req, p, &first, &len);
    if (v->o->sleep_compute) {
        ov_idle(v, v->sleep_s);
    } else {
        for (long r = 0; r < v->reps; r++) {
            ov_pass(v, v->send + first, len);
        }
    }
    ov_write(v, first, len);
}

/* ---- the measurements --------------------------------------------------- */

enum { OV_COMM, OV_COMPUTE, OV_SERIAL, OV_OVERLAP, OV_NFORMS };

static const char *const ov_form_names[OV_NFORMS] = {"comm", "compute",
                                                     "serial", "overlap"};

/* Verify the overlapped result of run v->iter. */
static void
ov_verify(ov_t *v)
{
    float k = (float)(v->n * (v->n + 1) / 2);

    for (size_t e = 0; e < v->count; e++) {
        float want = k * (float)((e & 255) + (size_t)(v->iter % 5));

        if (v->recv[e] != want) {
            if (v->bad == 0) {
                fprintf(stderr,
                        "weft-overlap: rank %d run %d: element %zu is %g, "
                        "want %g\n",
                        v->me, v->iter, e, (double)v->recv[e], (double)want);
            }
            v->bad++;
        }
    }
}

/* One run of one form; returns its time on the slowest rank. */
static double
ov_once(ov_t *v, int form)
{
    double t0, t;
    weft_status_t st = WEFT_OK;

    if (form == OV_COMM) {
        /* untimed: the allreduce reads values just written, as it does in
         * the serial and overlapped forms (measured here: 16 MiB over
         * two ranks takes over half as long again on fresh values as on
         * values the peer has read before) */
        ov_write(v, 0, v->count);
    }
    weft_barrier(v->w);
    t0 = ov_now();
    switch (form) {
    case OV_COMM:
        st = weft_allreduce(v->send, v->recv, v->count, WEFT_FLOAT32, WEFT_SUM,
                            v->w);
        break;
    case OV_COMPUTE:
        for (size_t p = 0; p < v->o->parts; p++) {
            ov_produce(v, p);
        }
        break;
    case OV_SERIAL:
        for (size_t p = 0; p < v->o->parts; p++) {
            ov_produce(v, p);
        }
        st = weft_allreduce(v->send, v->recv, v->count, WEFT_FLOAT32, WEFT_SUM,
                            v->w);
        break;
    default:
        st = weft_start(v->req);
        v->driving = 1;
        for (size_t p = 0; p < v->o->parts && st == WEFT_OK; p++) {
            ov_produce(v, p);
            st = weft_pready(v->req, p);
        }
        v->driving = 0;
        if (st == WEFT_OK) {
            st = weft_wait(v->req);
        }
        break;
    }
    t = ov_now() - t0;
    if (st != WEFT_OK) {
        fprintf(stderr, "weft-overlap: rank %d: %s: %s: %s\n", v->me,
                ov_form_names[form], weft_status_string(st), weft_last_error());
        exit(1);
    }
    if (form == OV_OVERLAP && v->o->check) {
        ov_verify(v);
    }
    weft_allreduce(&t, &t, 1, WEFT_FLOAT64, WEFT_MAX, v->w);
    return t;
}

static int
ov_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

/* The median of -n runs of each form, after -w untimed ones, the forms
 * interleaved so that drift in the machine's load hits them alike. */
static void
ov_measure(ov_t *v, int nforms, const int *forms, double *med)
{
    int n = v->o->iters;
    double *t = calloc((size_t)(nforms * n), sizeof(double));

    for (int i = -v->o->warmup; i < n; i++) {
        for (int f = 0; f < nforms; f++) {
            double x;

            v->iter++;
            x = ov_once(v, forms[f]);
            if (i >= 0) {
                t[f * n + i] = x;
            }
        }
    }
    for (int f = 0; f < nforms; f++) {
        qsort(t + f * n, (size_t)n, sizeof(double), ov_cmp);
        med[f] = t[f * n + n / 2];
    }
    free(t);
}

/* Seconds of one memory-bound pass over a partition (the slowest rank's,
 * so every rank computes alike). */
static void
ov_calibrate(ov_t *v)
{
    size_t len = v->count / v->o->parts;
    double best = INFINITY;

    for (int i = 0; i < 20; i++) {
        double t0 = ov_now();

        ov_pass(v, v->send, len > 0 ? len : 1);
        best = fmin(best, ov_now() - t0);
    }
    weft_allreduce(&best, &v->pass_s, 1, WEFT_FLOAT64, WEFT_MAX, v->w);
}

int
main(int argc, char **argv)
{
    ov_opts_t o;
    ov_t v = {0};
    weft_status_t st;
    double comm;

    if (ov_parse(argc, argv, &o) != 0) {
        return 2;
    }
    /* the progress thread is a context setting: chosen before it exists */
    setenv("WEFT_PROGRESS_THREAD", o.thread ? "1" : "0", 1);
    v.o = &o;
    st = weft_context_create(NULL, &v.ctx);
    if (st == WEFT_OK) {
        st = weft_comm_world(v.ctx, &v.w);
    }
    if (st != WEFT_OK) {
        fprintf(stderr, "weft-overlap: %s: %s\n", weft_status_string(st),
                weft_last_error());
        return 1;
    }
    v.me = weft_comm_rank(v.w);
    v.n = weft_comm_size(v.w);
    v.count = o.bytes / sizeof(float);
    v.send = calloc(v.count, sizeof(float));
    v.recv = calloc(v.count, sizeof(float));
    if (v.send == NULL || v.recv == NULL) {
        fprintf(stderr, "weft-overlap: out of memory for %zu bytes\n", o.bytes);
        return 1;
    }
    st = weft_allreduce_init(v.send, v.recv, v.count, WEFT_FLOAT32, WEFT_SUM,
                             o.parts, v.w, &v.req);
    if (st != WEFT_OK) {
        fprintf(stderr, "weft-overlap: %s: %s\n", weft_status_string(st),
                weft_last_error());
        return 1;
    }
    ov_calibrate(&v);
    {
        const int forms[1] = {OV_COMM};

        ov_measure(&v, 1, forms, &comm);
    }
    if (v.me == 0) {
        printf("# weft-overlap: allreduce of %zu bytes (float32) in %zu "
               "partitions, %d ranks\n",
               v.count * sizeof(float), o.parts, v.n);
        printf("# compute %s, progress by %s; medians of %d runs, the "
               "slowest rank's times\n",
               o.sleep_compute ? "sleep (idle wait)"
                               : "mem (memory-bound "
                                 "loop)",
               o.thread ? "the progress thread" : "the caller", o.iters);
        printf("# comm alone (blocking allreduce, sets the ratios): %.1f us; "
               "one pass over "
               "a partition: %.1f us\n",
               comm * 1e6, v.pass_s * 1e6);
        printf("# hidden = (serial - overlap) / comm\n");
        printf("%8s %12s %12s %12s %12s %9s %8s\n", "ratio", "compute_us",
               "comm_us", "serial_us", "overlap_us", "hidden_%", "speedup");
    }
    for (int r = 0; r < o.nratios; r++) {
        const int forms[4] = {OV_COMPUTE, OV_SERIAL, OV_OVERLAP, OV_COMM};
        double per = o.ratios[r] * comm / (double)o.parts;
        double med[4];

        v.reps = o.sleep_compute || v.pass_s <= 0
                     ? 0
                     : (long)floor(per / v.pass_s + 0.5);
        v.sleep_s = o.sleep_compute ? per : 0;
        ov_measure(&v, 4, forms, med);
        if (v.me == 0) {
            double hidden = (med[1] - med[2]) / med[3];

            printf("%8.2f %12.1f %12.1f %12.1f %12.1f %9.1f %8.2f\n",
                   o.ratios[r], med[0] * 1e6, med[3] * 1e6, med[1] * 1e6,
                   med[2] * 1e6, 100 * hidden, med[1] / med[2]);
        }
    }
    {
        unsigned long long bad = v.bad, all = 0;

        weft_allreduce(&bad, &all, 1, WEFT_UINT64, WEFT_SUM, v.w);
        if (o.check && v.me == 0) {
            printf("# check: %llu wrong elements\n", all);
        }
        weft_request_free(v.req);
        weft_context_destroy(v.ctx);
        free(v.send);
        free(v.recv);
        return all > 0 ? 1 : 0;
    }
}
