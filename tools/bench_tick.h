/*
 * bench_tick.h - the per-round clock of the ping-pong harnesses
 * (tools/weft_bench_pp.c and bench/mpi_pingpong.c, which includes this
 * file so that weft and the MPI peers are timed alike).
 *
 * A ping-pong reads the clock once a round, between one round's receive
 * and the next round's send: on the round trip's path. clock_gettime
 * costs 22 ns where the kernel keeps time by the TSC, and about 80 where
 * it keeps it by kvm-clock (both seen on this machine), a quarter of a
 * small message's one-way time; ucx_perftest and fi_pingpong read the
 * TSC. So the harnesses read the TSC where it runs at one rate through
 * frequency and idle states (the CPU says it is invariant), calibrated
 * against CLOCK_MONOTONIC at start, and fall back to CLOCK_MONOTONIC
 * elsewhere. Header only: the MPI harness is built by itself with mpicc.
 */
#ifndef WEFT_BENCH_TICK_H
#define WEFT_BENCH_TICK_H

#include <stdint.h>
#include <time.h>
#if defined(__x86_64__)
#include <cpuid.h>
#include <x86intrin.h>
#endif

/* How long the TSC is counted against CLOCK_MONOTONIC at start. */
#define BENCH_TICK_CALIBRATE_S 0.02

typedef struct bench_tick {
    int tsc;            /* 1: ticks are TSC counts; 0: nanoseconds */
    double us_per_tick; /* microseconds in one tick */
} bench_tick_t;

static inline double
bench_tick_mono_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static inline uint64_t
bench_tick_read(const bench_tick_t *t)
{
    struct timespec ts;

#if defined(__x86_64__)
    if (t->tsc) {
        return __rdtsc();
    }
#endif
    (void)t;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline double
bench_tick_us(const bench_tick_t *t, uint64_t ticks)
{
    return (double)ticks * t->us_per_tick;
}

/* The CPU says its TSC is invariant: CPUID 0x80000007, EDX bit 8 (what
 * /proc/cpuinfo shows as constant_tsc and nonstop_tsc; src/stamp.c asks
 * the same). */
static inline int
bench_tick_tsc_invariant(void)
{
#if defined(__x86_64__)
    unsigned a, b, c, d;

    return __get_cpuid(0x80000007u, &a, &b, &c, &d) && (d >> 8 & 1u);
#else
    return 0;
#endif
}

static inline void
bench_tick_init(bench_tick_t *t)
{
    t->tsc = 0;
    t->us_per_tick = 1e-3;
#if defined(__x86_64__)
    if (bench_tick_tsc_invariant()) {
        double s0 = bench_tick_mono_s(), s1;
        uint64_t c0 = __rdtsc(), c1;

        do {
            s1 = bench_tick_mono_s();
            c1 = __rdtsc();
        } while (s1 - s0 < BENCH_TICK_CALIBRATE_S);
        if (c1 > c0) {
            t->tsc = 1;
            t->us_per_tick = (s1 - s0) * 1e6 / (double)(c1 - c0);
        }
    }
#endif
}

#endif /* WEFT_BENCH_TICK_H */
