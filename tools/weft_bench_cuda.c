/*
 * weft-bench-cuda: time weft_allreduce_stream (float32 sum, in place, on
 * device memory) over message sizes, next to the host weft_allreduce on
 * pinned memory of the same size. Start it with weftrun:
 *
 *     weftrun -n 2 weft-bench-cuda [-b MIN] [-e MAX] [-i ITERS]
 *
 * Rank r uses CUDA device r % (device count). Per size: warm-up calls,
 * then ITERS calls back to back on one stream and one synchronize; the
 * time per call is the slowest rank's. algbw = bytes / time; busbw =
 * algbw * 2 (n - 1) / n, as nccl-tests report it.
 */
#include "build_config.h"

#include <cuda_runtime_api.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <weft.h>
#include <weft/cuda.h>

static double
bench_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static size_t
bench_size(const char *s)
{
    char *end;
    double v = strtod(s, &end);

    switch (*end) {
    case 'k':
    case 'K':
        v *= 1024;
        break;
    case 'm':
    case 'M':
        v *= 1024 * 1024;
        break;
    case 'g':
    case 'G':
        v *= 1024.0 * 1024 * 1024;
        break;
    default:
        break;
    }
    return (size_t)v;
}

static int
bench_cuda(cudaError_t err, const char *what)
{
    if (err != cudaSuccess) {
        fprintf(stderr, "weft-bench-cuda: %s: %s\n", what,
                cudaGetErrorString(err));
        return 1;
    }
    return 0;
}

static int
bench_weft(weft_status_t st, const char *what)
{
    if (st != WEFT_OK) {
        fprintf(stderr, "weft-bench-cuda: %s: %s (%s)\n", what,
                weft_status_string(st), weft_last_error());
        return 1;
    }
    return 0;
}

/* The slowest rank's seconds per call. */
static double
bench_max(double t, weft_comm_t *w)
{
    double m = t;

    weft_allreduce(&t, &m, 1, WEFT_FLOAT64, WEFT_MAX, w);
    return m;
}

int
main(int argc, char **argv)
{
    size_t min = 8, max = 64u << 20, iters_arg = 0;
    weft_context_t *ctx;
    weft_comm_t *w;
    cudaStream_t st;
    float *dbuf, *hbuf;
    int opt, me, n, ndev = 0, bad = 0;

    while ((opt = getopt(argc, argv, "b:e:i:h")) != -1) {
        switch (opt) {
        case 'b':
            min = bench_size(optarg);
            break;
        case 'e':
            max = bench_size(optarg);
            break;
        case 'i':
            iters_arg = (size_t)atol(optarg);
            break;
        default:
            fprintf(stderr,
                    "usage: weftrun -n N %s [-b MIN] [-e MAX] "
                    "[-i ITERS]\n",
                    argv[0]);
            return opt == 'h' ? 0 : 2;
        }
    }
    if (min < 4) {
        min = 4;
    }
    if (bench_weft(weft_context_create(NULL, &ctx), "weft_context_create") ||
        bench_weft(weft_comm_world(ctx, &w), "weft_comm_world")) {
        return 1;
    }
    me = weft_comm_rank(w);
    n = weft_comm_size(w);
    if (bench_cuda(cudaGetDeviceCount(&ndev), "cudaGetDeviceCount") ||
        ndev < 1 || bench_cuda(cudaSetDevice(me % ndev), "cudaSetDevice") ||
        bench_cuda(cudaStreamCreateWithFlags(&st, cudaStreamNonBlocking),
                   "cudaStreamCreate") ||
        bench_cuda(cudaMalloc((void **)&dbuf, max), "cudaMalloc") ||
        bench_cuda(cudaMallocHost((void **)&hbuf, max), "cudaMallocHost")) {
        weft_context_destroy(ctx);
        return 1;
    }
    cudaMemset(dbuf, 0, max);
    cudaDeviceSynchronize();
    memset(hbuf, 0, max);
    if (me == 0) {
        char name[256] = "";
        struct cudaDeviceProp prop;

        if (cudaGetDeviceProperties(&prop, 0) == cudaSuccess) {
            snprintf(name, sizeof(name), "%s", prop.name);
        }
        printf("# weft-bench-cuda: allreduce_stream float32 sum in place, "
               "%d ranks, %d device(s) (%s)\n",
               n, ndev, name);
        printf("# %12s %12s %8s %12s %10s %10s %12s %10s\n", "bytes", "count",
               "iters", "stream_us", "algbw_GB/s", "busbw_GB/s", "host_us",
               "host_GB/s");
    }
    for (size_t bytes = min; bytes <= max && !bad; bytes *= 2) {
        size_t count = bytes / 4;
        size_t iters = iters_arg;
        double t0, ts, th, alg;

        if (iters == 0) {
            iters = (size_t)(256u << 20) / bytes;
            iters = iters < 5 ? 5 : iters > 200 ? 200 : iters;
        }
        /* warm-up, as many calls as timed: the proxy, connections, and
         * the pinned staging of every call in flight (then pooled) */
        for (size_t i = 0; i < iters && !bad; i++) {
            bad |=
                bench_weft(weft_allreduce_stream(dbuf, dbuf, count,
                                                 WEFT_FLOAT32, WEFT_SUM, w, st),
                           "weft_allreduce_stream");
        }
        bad |= bench_cuda(cudaStreamSynchronize(st), "cudaStreamSynchronize");
        weft_barrier(w);
        t0 = bench_now();
        for (size_t i = 0; i < iters && !bad; i++) {
            bad |=
                bench_weft(weft_allreduce_stream(dbuf, dbuf, count,
                                                 WEFT_FLOAT32, WEFT_SUM, w, st),
                           "weft_allreduce_stream");
        }
        bad |= bench_cuda(cudaStreamSynchronize(st), "cudaStreamSynchronize");
        ts = bench_max((bench_now() - t0) / (double)iters, w);

        /* the host collective alone, same size */
        weft_allreduce(hbuf, hbuf, count, WEFT_FLOAT32, WEFT_SUM, w);
        weft_barrier(w);
        t0 = bench_now();
        for (size_t i = 0; i < iters && !bad; i++) {
            bad |= bench_weft(
                weft_allreduce(hbuf, hbuf, count, WEFT_FLOAT32, WEFT_SUM, w),
                "weft_allreduce");
        }
        th = bench_max((bench_now() - t0) / (double)iters, w);
        alg = (double)bytes / ts / 1e9;
        if (me == 0) {
            printf("  %12zu %12zu %8zu %12.1f %10.3f %10.3f %12.1f %10.3f\n",
                   bytes, count, iters, ts * 1e6, alg, alg * 2.0 * (n - 1) / n,
                   th * 1e6, (double)bytes / th / 1e9);
            fflush(stdout);
        }
    }
    bad |= bench_weft(weft_cuda_comm_fini(w), "weft_cuda_comm_fini");
    cudaFree(dbuf);
    cudaFreeHost(hbuf);
    cudaStreamDestroy(st);
    weft_context_destroy(ctx);
    return bad;
}
