/*
 * weft-bench: microbenchmarks on the public API only.
 *
 *   weft-bench pingpong [-b MIN] [-e MAX] [-f FACTOR] [-n ITERS] [-w WARMUP]
 *                       [-W WINDOW] [--check]
 *
 * Output follows ../shared/peers (mpi_coll_bench): '#' lines are comments,
 * then one line per size:
 *   size_bytes count time_us algbw_GBs busbw_GBs max_time_us errors
 *   p50_us p99_us bw_GBs
 * For pingpong, ranks pair up (0-1, 2-3, ...); time_us is the mean one-way
 * latency (half a round trip) over pairs, max_time_us the slowest pair,
 * p50/p99 the percentiles of rank 0's pair, and bw_GBs the streaming
 * bandwidth of a window of WINDOW nonblocking sends.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <weft.h>

typedef struct bench_opts {
    size_t min, max;
    double factor;
    long iters, warmup;
    int window;
    int check;
} bench_opts_t;

typedef struct bench_result {
    double lat_us;  /* mean half round trip */
    double p50_us, p99_us;
    double bw_gbs;
    double errors;
} bench_result_t;

static weft_comm_t *world;
static int me, nranks;

static double
bench_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void
bench_die(const char *what, weft_status_t st)
{
    fprintf(stderr, "weft-bench: rank %d: %s: %s (%s)\n", me, what,
            weft_status_string(st), weft_last_error());
    exit(1);
}

#define BENCH_OK(_expr, _what)                                                 \
    do {                                                                       \
        weft_status_t _st = (_expr);                                           \
        if (_st != WEFT_OK) {                                                  \
            bench_die(_what, _st);                                             \
        }                                                                      \
    } while (0)

/* A barrier from point-to-point messages (gather to 0, release). */
static void
bench_barrier(void)
{
    char c = 0;

    if (me == 0) {
        for (int r = 1; r < nranks; r++) {
            BENCH_OK(weft_recv(&c, 1, r, 900, world, NULL), "barrier");
        }
        for (int r = 1; r < nranks; r++) {
            BENCH_OK(weft_send(&c, 1, r, 901, world), "barrier");
        }
    } else {
        BENCH_OK(weft_send(&c, 1, 0, 900, world), "barrier");
        BENCH_OK(weft_recv(&c, 1, 0, 901, world, NULL), "barrier");
    }
}

static long
bench_default_iters(size_t size)
{
    if (size < 65536) {
        return 1000;
    }
    return size <= (16u << 20) ? 100 : 20;
}

static void
bench_fill(uint8_t *buf, size_t n, int src)
{
    for (size_t i = 0; i < n; i++) {
        buf[i] = (uint8_t)(i * 7 + (size_t)src * 13 + 1);
    }
}

static double
bench_verify(const uint8_t *buf, size_t n, int src)
{
    double bad = 0;

    for (size_t i = 0; i < n; i++) {
        bad += buf[i] != (uint8_t)(i * 7 + (size_t)src * 13 + 1);
    }
    return bad;
}

static int
bench_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

/* One size between this rank and its partner. */
static void
bench_pingpong_size(const bench_opts_t *o, size_t size, uint8_t *sbuf,
                    uint8_t *rbuf, double *samples, bench_result_t *res)
{
    int partner = me ^ 1, lead = (me % 2) == 0;
    long iters = o->iters > 0 ? o->iters : bench_default_iters(size);
    long warmup = o->warmup >= 0 ? o->warmup : (iters / 10 < 2 ? 2 : iters / 10);
    long bw_iters = iters / 10 < 2 ? 2 : iters / 10;
    weft_request_t *reqs[1024];
    double t0, total = 0;
    char ack = 0;

    memset(res, 0, sizeof(*res));
    if (partner >= nranks) {
        return;
    }
    if (o->check) {
        bench_fill(sbuf, size, me);
    }
    memset(rbuf, 0, size);
    for (long i = -warmup; i < iters; i++) {
        t0 = bench_now();
        if (lead) {
            BENCH_OK(weft_send(sbuf, size, partner, 1, world), "send");
            BENCH_OK(weft_recv(rbuf, size, partner, 1, world, NULL), "recv");
        } else {
            BENCH_OK(weft_recv(rbuf, size, partner, 1, world, NULL), "recv");
            BENCH_OK(weft_send(sbuf, size, partner, 1, world), "send");
        }
        if (i >= 0) {
            samples[i] = (bench_now() - t0) * 1e6 / 2;
            total += samples[i];
        }
    }
    if (o->check) {
        res->errors = bench_verify(rbuf, size, partner);
    }
    qsort(samples, (size_t)iters, sizeof(*samples), bench_cmp_double);
    res->lat_us = total / (double)iters;
    res->p50_us = samples[iters / 2];
    res->p99_us = samples[(long)((double)(iters - 1) * 0.99)];

    /* streaming bandwidth: a window of sends, then one ack */
    for (long i = -1; i < bw_iters; i++) {
        if (i == 0) {
            t0 = bench_now();
        }
        for (int k = 0; k < o->window; k++) {
            if (lead) {
                BENCH_OK(weft_isend(sbuf, size, partner, 2, world, &reqs[k]),
                         "isend");
            } else {
                BENCH_OK(weft_irecv(rbuf, size, partner, 2, world, &reqs[k]),
                         "irecv");
            }
        }
        BENCH_OK(weft_waitall((size_t)o->window, reqs), "waitall");
        if (lead) {
            BENCH_OK(weft_recv(&ack, 1, partner, 3, world, NULL), "ack");
        } else {
            BENCH_OK(weft_send(&ack, 1, partner, 3, world), "ack");
        }
    }
    res->bw_gbs = (double)size * o->window * (double)bw_iters /
                  (bench_now() - t0) / 1e9;
    if (o->check && !lead) {
        res->errors += bench_verify(rbuf, size, partner);
    }
}

static void
bench_pingpong(const bench_opts_t *o)
{
    uint8_t *sbuf = malloc(o->max ? o->max : 1);
    uint8_t *rbuf = malloc(o->max ? o->max : 1);
    double *samples = malloc(sizeof(double) * 100000);
    long failed = 0;

    if (sbuf == NULL || rbuf == NULL || samples == NULL) {
        fprintf(stderr, "weft-bench: out of memory for %zu-byte buffers\n",
                o->max);
        exit(1);
    }
    memset(sbuf, 0, o->max ? o->max : 1);
    if (me == 0) {
        printf("# weft-bench pingpong: %d ranks, %d pair(s), window %d\n",
               nranks, nranks / 2, o->window);
        printf("# size_bytes count time_us algbw_GBs busbw_GBs max_time_us "
               "errors p50_us p99_us bw_GBs\n");
    }
    for (size_t size = o->min;;) {
        bench_result_t res, peer;
        double sum, max, errors;
        int pairs = 0;

        bench_barrier();
        bench_pingpong_size(o, size, sbuf, rbuf, samples, &res);
        /* the leads of the other pairs report to rank 0 */
        if (me == 0) {
            sum = max = res.lat_us;
            errors = res.errors;
            pairs = nranks >= 2;
            for (int r = 1; r < nranks; r++) {
                if ((r % 2 == 0 && r + 1 < nranks) || r % 2 == 1) {
                    BENCH_OK(weft_recv(&peer, sizeof(peer), r, 4, world, NULL),
                             "result");
                    errors += peer.errors;
                    if (r % 2 == 0) {
                        sum += peer.lat_us;
                        max = peer.lat_us > max ? peer.lat_us : max;
                        pairs++;
                    }
                }
            }
            if (pairs > 0) {
                printf("%10zu %10zu %10.2f %9.3f %9.3f %10.2f %6.0f %8.2f "
                       "%8.2f %8.3f\n",
                       size, size, sum / pairs,
                       size / (sum / pairs) / 1e3, size / (sum / pairs) / 1e3,
                       max, errors, res.p50_us, res.p99_us, res.bw_gbs);
                fflush(stdout);
            }
            failed += errors > 0;
        } else if ((me % 2 == 0 && me + 1 < nranks) || me % 2 == 1) {
            BENCH_OK(weft_send(&res, sizeof(res), 0, 4, world), "result");
        }
        if (size >= o->max) {
            break;
        }
        size = size == 0 ? 1 : (size_t)ceil((double)size * o->factor);
        if (size > o->max) {
            size = o->max;
        }
    }
    bench_barrier();
    free(sbuf);
    free(rbuf);
    free(samples);
    if (me == 0 && failed) {
        fprintf(stderr, "weft-bench: wrong bytes received (--check)\n");
        exit(1);
    }
}

static int
bench_parse_size(const char *text, size_t *out)
{
    char *end;
    double v;

    errno = 0;
    v = strtod(text, &end);
    if (end == text || errno != 0 || v < 0) {
        return -1;
    }
    switch (*end) {
    case 'k':
    case 'K':
        v *= 1024;
        end++;
        break;
    case 'm':
    case 'M':
        v *= 1024.0 * 1024;
        end++;
        break;
    case 'g':
    case 'G':
        v *= 1024.0 * 1024 * 1024;
        end++;
        break;
    }
    if (*end != '\0') {
        return -1;
    }
    *out = (size_t)v;
    return 0;
}

static void
bench_usage(FILE *out)
{
    fprintf(out,
            "usage: weft-bench pingpong [-b MIN] [-e MAX] [-f FACTOR] "
            "[-n ITERS] [-w WARMUP] [-W WINDOW] [--check]\n"
            "  run under weftrun, e.g. weftrun -n 2 weft-bench pingpong\n"
            "  sizes take K, M, G; defaults -b 8 -e 64M -f 4 -W 64\n"
            "  --check  verify every received byte after the timed loop\n");
}

int
main(int argc, char **argv)
{
    static const struct option lopts[] = {{"check", no_argument, NULL, 'c'},
                                          {"help", no_argument, NULL, 'h'},
                                          {NULL, 0, NULL, 0}};
    bench_opts_t o = {.min = 8, .max = 64u << 20, .factor = 4, .iters = 0,
                      .warmup = -1, .window = 64};
    weft_context_t *ctx;
    const char *mode;
    int c;

    if (argc < 2 || argv[1][0] == '-') {
        bench_usage(argc >= 2 && strcmp(argv[1], "-h") != 0 &&
                            strcmp(argv[1], "--help") != 0
                        ? stderr
                        : stdout);
        return argc < 2 ? 2 : 0;
    }
    mode = argv[1];
    optind = 2;
    while ((c = getopt_long(argc, argv, "b:e:f:n:w:W:h", lopts, NULL)) != -1) {
        switch (c) {
        case 'b':
        case 'e':
            if (bench_parse_size(optarg, c == 'b' ? &o.min : &o.max) != 0) {
                fprintf(stderr, "weft-bench: bad size '%s' for -%c\n", optarg,
                        c);
                return 2;
            }
            break;
        case 'f':
            o.factor = atof(optarg);
            break;
        case 'n':
            o.iters = atol(optarg);
            break;
        case 'w':
            o.warmup = atol(optarg);
            break;
        case 'W':
            o.window = atoi(optarg);
            break;
        case 'c':
            o.check = 1;
            break;
        case 'h':
            bench_usage(stdout);
            return 0;
        default:
            bench_usage(stderr);
            return 2;
        }
    }
    if (strcmp(mode, "pingpong") != 0) {
        fprintf(stderr, "weft-bench: unknown mode '%s' (this release has: "
                        "pingpong)\n",
                mode);
        return 2;
    }
    if (o.factor <= 1 || o.min > o.max || o.window < 1 || o.window > 1024 ||
        o.iters < 0 || o.iters > 100000) {
        fprintf(stderr, "weft-bench: need -f > 1, -b <= -e, 1 <= -W <= 1024 "
                        "and -n <= 100000\n");
        return 2;
    }
    BENCH_OK(weft_context_create(NULL, &ctx), "weft_context_create");
    BENCH_OK(weft_comm_world(ctx, &world), "weft_comm_world");
    me = weft_comm_rank(world);
    nranks = weft_comm_size(world);
    if (nranks < 2) {
        fprintf(stderr, "weft-bench: pingpong needs at least 2 ranks "
                        "(weftrun -n 2 weft-bench pingpong)\n");
        weft_context_destroy(ctx);
        return 2;
    }
    bench_pingpong(&o);
    weft_context_destroy(ctx);
    return 0;
}
