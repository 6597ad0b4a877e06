/*
 * mpi_pingpong: the MPI twin of `weft-bench pingpong`, for peer runs in
 * the same session (bench/pingpong_compare.sh). Same method and columns:
 *   size_bytes count time_us algbw_GBs busbw_GBs max_time_us errors
 *   p50_us p99_us bw_GBs
 * time_us = mean half round trip of ranks 0 and 1; bw_GBs = a window of
 * nonblocking sends, then one ack.
 */
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../tools/bench_tick.h" /* the per-round clock, as weft-bench */

static int
cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

static long
default_iters(size_t size)
{
    if (size < 65536) {
        return 1000;
    }
    return size <= (16u << 20) ? 100 : 20;
}

int
main(int argc, char **argv)
{
    size_t min = 8, max = 64u << 20;
    double factor = 4;
    int window = 64, me, n;
    uint8_t *sbuf, *rbuf;
    double *samples = malloc(sizeof(double) * 100000);
    MPI_Request reqs[1024];
    bench_tick_t tick;

    MPI_Init(&argc, &argv);
    bench_tick_init(&tick);
    MPI_Comm_rank(MPI_COMM_WORLD, &me);
    MPI_Comm_size(MPI_COMM_WORLD, &n);
    for (int i = 1; i + 1 < argc; i += 2) {
        double v = atof(argv[i + 1]);
        char u = argv[i + 1][strlen(argv[i + 1]) - 1];

        v *= u == 'K' || u == 'k' ? 1024 : u == 'M' || u == 'm' ? 1048576 : 1;
        if (strcmp(argv[i], "-b") == 0) {
            min = (size_t)v;
        } else if (strcmp(argv[i], "-e") == 0) {
            max = (size_t)v;
        } else if (strcmp(argv[i], "-f") == 0) {
            factor = v;
        } else if (strcmp(argv[i], "-W") == 0) {
            window = (int)v;
        }
    }
    sbuf = calloc(1, max + 1);
    rbuf = calloc(1, max + 1);
    if (me == 0) {
        printf("# mpi_pingpong: %d ranks, ranks 0-1, window %d\n", n, window);
        printf("# size_bytes count time_us algbw_GBs busbw_GBs max_time_us "
               "errors p50_us p99_us bw_GBs\n");
    }
    for (size_t size = min;;) {
        long iters = default_iters(size), warm = iters / 10 < 2 ? 2 : iters / 10;
        long bw_iters = warm;
        /* 5000 rounds of warm-up below 64 KiB (osu_latency skips 1000):
         * a start-up transient of a few milliseconds otherwise doubles the
         * first size's mean */
        if (size < 65536 && warm < 5000) {
            warm = 5000;
        }
        double t0 = 0, total = 0, bw;
        char ack = 0;

        MPI_Barrier(MPI_COMM_WORLD);
        if (me < 2) {
            int p = 1 - me;

            /* one clock read a round, its end and the next one's start:
             * a read between the receive and the next send is on the
             * round trip's path, so it is the TSC where it can be
             * (tools/bench_tick.h; tools/weft_bench_pp.c does the same) */
            uint64_t t = bench_tick_read(&tick);

            for (long i = -warm; i < iters; i++) {
                if (me == 0) {
                    MPI_Send(sbuf, (int)size, MPI_BYTE, p, 1, MPI_COMM_WORLD);
                    MPI_Recv(rbuf, (int)size, MPI_BYTE, p, 1, MPI_COMM_WORLD,
                             MPI_STATUS_IGNORE);
                } else {
                    MPI_Recv(rbuf, (int)size, MPI_BYTE, p, 1, MPI_COMM_WORLD,
                             MPI_STATUS_IGNORE);
                    MPI_Send(sbuf, (int)size, MPI_BYTE, p, 1, MPI_COMM_WORLD);
                }
                uint64_t end = bench_tick_read(&tick);

                if (i >= 0) {
                    samples[i] = bench_tick_us(&tick, end - t) / 2;
                    total += samples[i];
                }
                t = end;
            }
            for (long i = -1; i < bw_iters; i++) {
                if (i == 0) {
                    t0 = MPI_Wtime();
                }
                for (int k = 0; k < window; k++) {
                    if (me == 0) {
                        MPI_Isend(sbuf, (int)size, MPI_BYTE, p, 2,
                                  MPI_COMM_WORLD, &reqs[k]);
                    } else {
                        MPI_Irecv(rbuf, (int)size, MPI_BYTE, p, 2,
                                  MPI_COMM_WORLD, &reqs[k]);
                    }
                }
                /* gcc 12 takes MPICH's MPI_STATUSES_IGNORE for an array
                 * of size 0 (-Wstringop-overflow); the peer keeps it, as
                 * a status array would add work to its figure */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wstringop-overflow"
#endif
                MPI_Waitall(window, reqs, MPI_STATUSES_IGNORE);
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
                if (me == 0) {
                    MPI_Recv(&ack, 1, MPI_CHAR, p, 3, MPI_COMM_WORLD,
                             MPI_STATUS_IGNORE);
                } else {
                    MPI_Send(&ack, 1, MPI_CHAR, p, 3, MPI_COMM_WORLD);
                }
            }
            bw = (double)size * window * bw_iters / (MPI_Wtime() - t0) / 1e9;
            if (me == 0) {
                double lat = total / iters;

                qsort(samples, (size_t)iters, sizeof(double), cmp_double);
                printf("%10zu %10zu %10.2f %9.3f %9.3f %10.2f %6d %8.2f %8.2f "
                       "%8.3f\n",
                       size, size, lat, size / lat / 1e3, size / lat / 1e3,
                       lat, 0, samples[iters / 2],
                       samples[(long)((iters - 1) * 0.99)], bw);
                fflush(stdout);
            }
        }
        if (size >= max) {
            break;
        }
        size = size == 0 ? 1 : (size_t)(size * factor);
        size = size > max ? max : size;
    }
    MPI_Finalize();
    free(sbuf);
    free(rbuf);
    free(samples);
    return 0;
}
