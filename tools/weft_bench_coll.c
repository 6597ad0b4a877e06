/*
 * weft-bench: the collectives. Sizes, counts and bandwidths follow
 * nccl-tests exactly as ../shared/peers/mpi_coll_bench.c does, so that
 * compare.sh rows line up:
 *
 *   coll            size_bytes (per-rank buffer)   busbw factor
 *   allreduce       count * esize                  2(n-1)/n
 *   reduce_scatter  recvcount * esize * n (input)  (n-1)/n
 *   allgather       sendcount * esize * n (output) (n-1)/n
 *   alltoall        count * esize * n (per peer)   (n-1)/n
 *   gather, scatter count * esize * n (root's)     (n-1)/n
 *   broadcast,      count * esize                  1
 *   reduce
 *   barrier         0                              0
 *
 * One size: fill the inputs, warm up, poison the outputs (--check),
 * barrier, ITERS calls timed back to back (one clock read per call), then
 * check and reduce the statistics over the ranks on a second
 * communicator, so that a forced algorithm and weft_comm_last_algorithm
 * see only the measured calls.
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "weft_bench.h"

const char *bench_prog = "weft-bench";

static const char *const coll_names[BENCH_COLL_COUNT] = {
    [BENCH_ALLREDUCE] = "allreduce",
    [BENCH_REDUCE] = "reduce",
    [BENCH_BROADCAST] = "broadcast",
    [BENCH_ALLGATHER] = "allgather",
    [BENCH_REDUCE_SCATTER] = "reduce_scatter",
    [BENCH_ALLTOALL] = "alltoall",
    [BENCH_GATHER] = "gather",
    [BENCH_SCATTER] = "scatter",
    [BENCH_BARRIER] = "barrier",
};

const char *
bench_coll_name(bench_coll_t coll)
{
    return (unsigned)coll < BENCH_COLL_COUNT ? coll_names[coll] : "invalid";
}

int
bench_coll_by_name(const char *name)
{
    if (strcmp(name, "bcast") == 0) { /* mpi_coll_bench's name */
        return BENCH_BROADCAST;
    }
    for (int c = 0; c < BENCH_COLL_COUNT; c++) {
        if (strcmp(name, coll_names[c]) == 0) {
            return c;
        }
    }
    return -1;
}

int
bench_coll_reduces(bench_coll_t coll)
{
    return coll == BENCH_ALLREDUCE || coll == BENCH_REDUCE ||
           coll == BENCH_REDUCE_SCATTER;
}

int
bench_coll_rooted(bench_coll_t coll)
{
    return coll == BENCH_REDUCE || coll == BENCH_BROADCAST ||
           coll == BENCH_GATHER || coll == BENCH_SCATTER;
}

/* Collectives whose size counts a block of every rank. */
static int
coll_per_rank_blocks(bench_coll_t coll)
{
    return coll == BENCH_REDUCE_SCATTER || coll == BENCH_ALLGATHER ||
           coll == BENCH_ALLTOALL || coll == BENCH_GATHER ||
           coll == BENCH_SCATTER;
}

size_t
bench_coll_count(const bench_opts_t *o, size_t bytes, int n)
{
    size_t elems = bytes / weft_dtype_size(o->dtype);

    if (o->coll == BENCH_BARRIER) {
        return 0;
    }
    return coll_per_rank_blocks(o->coll) ? elems / (size_t)n : elems;
}

size_t
bench_coll_size(const bench_opts_t *o, size_t count, int n)
{
    size_t bytes = count * weft_dtype_size(o->dtype);

    return coll_per_rank_blocks(o->coll) ? bytes * (size_t)n : bytes;
}

double
bench_busbw_factor(bench_coll_t coll, int n)
{
    double d = (double)n;

    switch (coll) {
    case BENCH_ALLREDUCE:
        return 2.0 * (d - 1.0) / d;
    case BENCH_BARRIER:
        return 0.0;
    case BENCH_REDUCE:
    case BENCH_BROADCAST:
        return 1.0;
    default:
        return (d - 1.0) / d;
    }
}

long
bench_default_iters(size_t size)
{
    if (size < (64u << 10)) {
        return 1000;
    }
    return size <= (16u << 20) ? 100 : 20;
}

int
bench_next_size(const bench_opts_t *o, size_t *bytes_p)
{
    size_t next;

    if ((double)*bytes_p > (double)o->max / o->factor) {
        return 0;
    }
    next = (size_t)((double)*bytes_p * o->factor);
    *bytes_p = next > *bytes_p ? next : *bytes_p + 1;
    return *bytes_p <= o->max;
}

/* As mpi_coll_bench: an integer, K/M/G (powers of 1024), optional iB/B. */
int
bench_parse_size(const char *s, size_t *out_p)
{
    unsigned long long v, mult = 1;
    char *end;

    errno = 0;
    if (s[0] == '-' || s[0] == '\0') {
        return -1;
    }
    v = strtoull(s, &end, 10);
    if (errno != 0 || end == s) {
        return -1;
    }
    switch (*end) {
    case 'k':
    case 'K':
        mult = 1ull << 10;
        end++;
        break;
    case 'm':
    case 'M':
        mult = 1ull << 20;
        end++;
        break;
    case 'g':
    case 'G':
        mult = 1ull << 30;
        end++;
        break;
    }
    end += *end == 'i' && mult > 1;
    end += *end == 'B' || *end == 'b';
    if (*end != '\0' || v > SIZE_MAX / mult) {
        return -1;
    }
    *out_p = (size_t)(v * mult);
    return 0;
}

double
bench_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void
bench_die(const bench_env_t *env, const char *what, weft_status_t st)
{
    fprintf(stderr, "%s: rank %d: %s: %s (%s)\n", bench_prog,
            env != NULL ? env->rank : -1, what, weft_status_string(st),
            weft_last_error());
    exit(1);
}

void
bench_barrier(const bench_env_t *env)
{
    char out = 0, in = 0;
    int n = env->size, me = env->rank;
    weft_status_t st;

    for (int k = 1, round = 0; k < n; k <<= 1, round++) {
        st = weft_sendrecv(&out, 1, (me + k) % n, 0x7000 + round, &in, 1,
                           (me - k + n) % n, 0x7000 + round, env->aux);
        if (st != WEFT_OK) {
            bench_die(env, "barrier", st);
        }
    }
}

static weft_status_t
coll_call(const bench_opts_t *o, const bench_env_t *env, const bench_bufs_t *b)
{
    size_t c = b->count;
    weft_dtype_t t = o->dtype;
    weft_comm_t *comm = env->comm;

    switch (o->coll) {
    case BENCH_ALLREDUCE:
        return weft_allreduce(b->send, b->recv, c, t, o->op, comm);
    case BENCH_REDUCE:
        return weft_reduce(b->send, b->recv, c, t, o->op, o->root, comm);
    case BENCH_BROADCAST:
        return weft_broadcast(b->recv, c, t, o->root, comm);
    case BENCH_ALLGATHER:
        return weft_allgather(b->send, b->recv, c, t, comm);
    case BENCH_REDUCE_SCATTER:
        return weft_reduce_scatter(b->send, b->recv, c, t, o->op, comm);
    case BENCH_ALLTOALL:
        return weft_alltoall(b->send, b->recv, c, t, comm);
    case BENCH_GATHER:
        return weft_gather(b->send, b->recv, c, t, o->root, comm);
    case BENCH_SCATTER:
        return weft_scatter(b->send, b->recv, c, t, o->root, comm);
    default:
        return weft_barrier(comm);
    }
}

static int
coll_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

/* The nearest-rank percentile q of n sorted samples. */
static long
coll_rank_index(long n, double q)
{
    long k = (long)ceil(q * (double)n);

    return k < 1 ? 0 : k - 1;
}

/* Every rank learns the worst status (the most negative). */
static weft_status_t
coll_agree(const bench_env_t *env, weft_status_t mine)
{
    int32_t in = (int32_t)mine, out = 0;
    weft_status_t st;

    st = weft_allreduce(&in, &out, 1, WEFT_INT32, WEFT_MIN, env->aux);
    if (st != WEFT_OK) {
        bench_die(env, "statistics (allreduce)", st);
    }
    return (weft_status_t)out;
}

/* time_us, max_time_us, errors and p50/p99 over the ranks. */
static void
coll_stats(const bench_env_t *env, double mean_us, long errors, double *samples,
           long iters, bench_result_t *res)
{
    double sum_in[2] = {mean_us, errors > 0 ? (double)errors : 0.0};
    double sum_out[2];
    weft_status_t st;

    samples[iters] = mean_us; /* slot for the max of the means */
    st = weft_allreduce(sum_in, sum_out, 2, WEFT_FLOAT64, WEFT_SUM, env->aux);
    if (st == WEFT_OK) {
        st =
            weft_allreduce(samples, samples, /* in place */
                           (size_t)iters + 1, WEFT_FLOAT64, WEFT_MAX, env->aux);
    }
    if (st != WEFT_OK) {
        bench_die(env, "statistics (allreduce)", st);
    }
    res->time_us = sum_out[0] / env->size;
    res->errors = errors >= 0 ? (long)sum_out[1] : -1;
    res->max_time_us = samples[iters];
    qsort(samples, (size_t)iters, sizeof(*samples), coll_cmp_double);
    res->p50_us = samples[coll_rank_index(iters, 0.50)];
    res->p99_us = samples[coll_rank_index(iters, 0.99)];
}

void
bench_run_size(const bench_opts_t *o, const bench_env_t *env, size_t count,
               bench_result_t *res)
{
    const char *name = bench_coll_name(o->coll), *used;
    long iters, warmup, errors = -1, i;
    weft_status_t st = WEFT_OK;
    double t0, t, prev, *samples;
    bench_bufs_t b;

    memset(res, 0, sizeof(*res));
    res->count = count;
    res->size = bench_coll_size(o, count, env->size);
    iters = o->iters > 0 ? o->iters : bench_default_iters(res->size);
    warmup = o->warmup >= 0 ? o->warmup : iters / 10;
    if (o->warmup < 0 && warmup < 2) {
        warmup = 2;
    }
    res->iters = iters;
    res->warmup = warmup;
    res->errors = -1;
    res->algo = "-";
    samples = malloc(sizeof(*samples) * ((size_t)iters + 1));
    if (samples == NULL) {
        bench_die(env, "out of memory for the samples", WEFT_ERR_NO_MEMORY);
    }
    bench_bufs_create(o, env, count, &b);
    for (i = 0; i < warmup && st == WEFT_OK; i++) {
        st = coll_call(o, env, &b);
    }
    if (o->check) {
        bench_bufs_poison(o, env, &b);
    }
    bench_barrier(env);
    /* time_us as the peers' benchmark times it (../shared/peers/
     * mpi_coll_bench.c): the loop alone, no clock read inside, since one
     * costs 22 ns here, a tenth of a small call */
    t0 = bench_now();
    for (i = 0; i < iters && st == WEFT_OK; i++) {
        st = coll_call(o, env, &b);
    }
    t = bench_now();
    /* then the percentiles, from a second loop timing each call */
    prev = bench_now();
    for (i = 0; i < iters && st == WEFT_OK; i++) {
        double end;

        st = coll_call(o, env, &b);
        end = bench_now();
        samples[i] = (end - prev) * 1e6;
        prev = end;
    }
    if (st != WEFT_OK) {
        /* before the statistics calls overwrite weft_last_error() */
        snprintf(res->note, sizeof(res->note), "%s", weft_last_error());
    }
    res->status = coll_agree(env, st);
    if (res->status == WEFT_ERR_UNSUPPORTED) {
        if (st == WEFT_OK) {
            snprintf(res->note, sizeof(res->note),
                     "unsupported on another rank");
        }
        goto out;
    }
    if (st != WEFT_OK) {
        fprintf(stderr, "%s: rank %d: %s of %zu bytes: %s (%s)\n", bench_prog,
                env->rank, name, res->size, weft_status_string(st), res->note);
        exit(1);
    }
    if (res->status != WEFT_OK) {
        bench_die(env, "another rank failed", res->status);
    }
    used = weft_comm_last_algorithm(env->comm, name);
    res->algo = used != NULL ? used : "-";
    if (o->check) {
        if (o->inplace) {
            /* the timed loop reduced its own results again and again:
             * check one more call on fresh inputs */
            bench_bufs_fill(o, env, &b);
            bench_bufs_poison(o, env, &b);
            st = coll_call(o, env, &b);
            if (st != WEFT_OK) {
                bench_die(env, name, st);
            }
        }
        errors = bench_check(o, env, &b);
    }
    coll_stats(env, (t - t0) * 1e6 / (double)iters, errors, samples, iters,
               res);
out:
    bench_bufs_destroy(&b);
    free(samples);
}
