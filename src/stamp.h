/*
 * Cheap time stamps for times that are taken often and read rarely (when
 * a request was posted): a TSC read where the kernel keeps time by the
 * TSC or the CPU says it is invariant (about 10 ns here, against 22 for
 * clock_gettime on the TSC and 80 on kvm-clock, which also orders the
 * instructions around it: taking it in weft_isend/weft_irecv cost a
 * quarter of the two-rank message rate at 64-256 bytes), else
 * CLOCK_MONOTONIC in nanoseconds. weft__stamp_seconds turns a stamp into
 * weft__now()'s seconds.
 */
#ifndef WEFT_STAMP_H
#define WEFT_STAMP_H

#include <stdint.h>
#include <time.h>
#if defined(__x86_64__)
#include <x86intrin.h>
#endif

extern int weft__stamp_tsc; /* set by weft__stamp_init */

/* Once per process, before the first stamp (context creation). */
void weft__stamp_init(void);
/* The seconds of weft__now() at the stamp; 0 for 0 (none taken). */
double weft__stamp_seconds(uint64_t stamp);

static inline uint64_t
weft__stamp(void)
{
    struct timespec ts;

#if defined(__x86_64__)
    if (weft__stamp_tsc) {
        return __rdtsc();
    }
#endif
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

#endif /* WEFT_STAMP_H */
