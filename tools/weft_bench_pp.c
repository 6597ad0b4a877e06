/*
 * weft-bench pingpong: ranks pair up (0-1, 2-3, ...); time_us is the mean
 * one-way latency (half a round trip) over pairs, max_time_us the slowest
 * pair, p50/p99 the percentiles of rank 0's pair, and bw_GBs the streaming
 * bandwidth of a window of WINDOW nonblocking sends. The twin of
 * bench/mpi_pingpong.c (its sizes: -f may be fractional, the last size is
 * always MAX).
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bench_tick.h"
#include "weft_bench.h"

typedef struct pp_result {
    double lat_us; /* mean half round trip */
    double p50_us, p99_us;
    double bw_gbs;
    double errors;
} pp_result_t;

#define PP_OK(_env, _expr, _what)                                              \
    do {                                                                       \
        weft_status_t _st = (_expr);                                           \
        if (_st != WEFT_OK) {                                                  \
            bench_die((_env), (_what), _st);                                   \
        }                                                                      \
    } while (0)

static void
pp_fill(uint8_t *buf, size_t n, int src)
{
    for (size_t i = 0; i < n; i++) {
        buf[i] = (uint8_t)(i * 7 + (size_t)src * 13 + 1);
    }
}

static double
pp_verify(const uint8_t *buf, size_t n, int src)
{
    double bad = 0;

    for (size_t i = 0; i < n; i++) {
        bad += buf[i] != (uint8_t)(i * 7 + (size_t)src * 13 + 1);
    }
    return bad;
}

static int
pp_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

/* One size between this rank and its partner. */
static void
pp_size(const bench_opts_t *o, const bench_env_t *env, size_t size,
        const bench_tick_t *tick, uint8_t *sbuf, uint8_t *rbuf, double *samples,
        pp_result_t *res)
{
    int me = env->rank, partner = me ^ 1, lead = (me % 2) == 0;
    long iters = o->iters > 0 ? o->iters : bench_default_iters(size);
    /* as bench/mpi_pingpong.c: at least 5000 rounds of warm-up below
     * 64 KiB (osu_latency skips 1000), else a start-up transient of a few
     * milliseconds doubles the first size's mean */
    long warmup = o->warmup >= 0 ? o->warmup
                                 : (size < 65536 && iters / 10 < 5000
                                        ? 5000
                                        : (iters / 10 < 2 ? 2 : iters / 10));
    long bw_iters = iters / 10 < 2 ? 2 : iters / 10;
    weft_comm_t *comm = env->comm;
    weft_request_t *reqs[1024];
    double t0 = 0, total = 0;
    uint64_t r0;
    char ack = 0;

    memset(res, 0, sizeof(*res));
    if (partner >= env->size) {
        return;
    }
    if (o->check) {
        pp_fill(sbuf, size, me);
    }
    memset(rbuf, 0, size);
    /* one clock read a round, its end and the next one's start: a read
     * between the receive and the next send is on the round trip's path,
     * so it is the TSC where it can be (bench_tick.h; bench/mpi_pingpong.c
     * does the same) */
    r0 = bench_tick_read(tick);
    for (long i = -warmup; i < iters; i++) {
        uint64_t end;

        if (lead) {
            PP_OK(env, weft_send(sbuf, size, partner, 1, comm), "send");
            PP_OK(env, weft_recv(rbuf, size, partner, 1, comm, NULL), "recv");
        } else {
            PP_OK(env, weft_recv(rbuf, size, partner, 1, comm, NULL), "recv");
            PP_OK(env, weft_send(sbuf, size, partner, 1, comm), "send");
        }
        end = bench_tick_read(tick);
        if (i >= 0) {
            samples[i] = bench_tick_us(tick, end - r0) / 2;
            total += samples[i];
        }
        r0 = end;
    }
    if (o->check) {
        res->errors = pp_verify(rbuf, size, partner);
    }
    qsort(samples, (size_t)iters, sizeof(*samples), pp_cmp_double);
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
                PP_OK(env, weft_isend(sbuf, size, partner, 2, comm, &reqs[k]),
                      "isend");
            } else {
                PP_OK(env, weft_irecv(rbuf, size, partner, 2, comm, &reqs[k]),
                      "irecv");
            }
        }
        PP_OK(env, weft_waitall((size_t)o->window, reqs), "waitall");
        if (lead) {
            PP_OK(env, weft_recv(&ack, 1, partner, 3, comm, NULL), "ack");
        } else {
            PP_OK(env, weft_send(&ack, 1, partner, 3, comm), "ack");
        }
    }
    res->bw_gbs =
        (double)size * o->window * (double)bw_iters / (bench_now() - t0) / 1e9;
    if (o->check && !lead) {
        res->errors += pp_verify(rbuf, size, partner);
    }
}

/* Ranks that report a result to rank 0: both of every full pair. */
static int
pp_reports(int r, int n)
{
    return (r % 2 == 0 && r + 1 < n) || r % 2 == 1;
}

int
bench_pingpong(const bench_opts_t *o, const bench_env_t *env)
{
    size_t len = o->max ? o->max : 1;
    uint8_t *sbuf = malloc(len), *rbuf = malloc(len);
    double *samples = malloc(sizeof(double) * BENCH_MAX_ITERS);
    int me = env->rank, n = env->size;
    long failed = 0;
    bench_tick_t tick;

    if (sbuf == NULL || rbuf == NULL || samples == NULL) {
        fprintf(stderr, "weft-bench: out of memory for %zu-byte buffers\n",
                o->max);
        exit(1);
    }
    memset(sbuf, 0, len);
    bench_tick_init(&tick);
    if (me == 0) {
        printf("# weft-bench pingpong: %d ranks, %d pair(s), window %d\n", n,
               n / 2, o->window);
        printf("# size_bytes count time_us algbw_GBs busbw_GBs max_time_us "
               "errors p50_us p99_us bw_GBs\n");
    }
    for (size_t size = o->min;;) {
        pp_result_t res, peer;
        double sum, max, errors;
        int pairs = 0;

        bench_barrier(env);
        pp_size(o, env, size, &tick, sbuf, rbuf, samples, &res);
        /* the leads of the other pairs report to rank 0 */
        if (me == 0) {
            sum = max = res.lat_us;
            errors = res.errors;
            pairs = n >= 2;
            for (int r = 1; r < n; r++) {
                if (!pp_reports(r, n)) {
                    continue;
                }
                PP_OK(env,
                      weft_recv(&peer, sizeof(peer), r, 4, env->comm, NULL),
                      "result");
                errors += peer.errors;
                if (r % 2 == 0) {
                    sum += peer.lat_us;
                    max = peer.lat_us > max ? peer.lat_us : max;
                    pairs++;
                }
            }
            if (pairs > 0) {
                printf("%10zu %10zu %10.3f %9.3f %9.3f %10.3f %6.0f %8.3f "
                       "%8.3f %8.3f\n",
                       size, size, sum / pairs, size / (sum / pairs) / 1e3,
                       size / (sum / pairs) / 1e3, max, errors, res.p50_us,
                       res.p99_us, res.bw_gbs);
                fflush(stdout);
            }
            failed += errors > 0;
        } else if (pp_reports(me, n)) {
            PP_OK(env, weft_send(&res, sizeof(res), 0, 4, env->comm), "result");
        }
        if (size >= o->max) {
            break;
        }
        size = size == 0 ? 1 : (size_t)ceil((double)size * o->factor);
        if (size > o->max) {
            size = o->max;
        }
    }
    bench_barrier(env);
    free(sbuf);
    free(rbuf);
    free(samples);
    if (me == 0 && failed) {
        fprintf(stderr, "weft-bench: wrong bytes received (--check)\n");
        return 1;
    }
    return 0;
}
