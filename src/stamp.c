/*
 * Cheap time stamps (see stamp.h): the TSC where the kernel keeps time by
 * it, else CLOCK_MONOTONIC in nanoseconds.
 */
#include "build_config.h"
#include "stamp.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#if defined(__x86_64__)
#include <cpuid.h>
#endif

#include "clock.h"

int weft__stamp_tsc;

/* The first pair of readings, for weft__stamp_seconds. */
static uint64_t stamp_t0;
static double stamp_s0;
static pthread_once_t stamp_once = PTHREAD_ONCE_INIT;

/* The kernel's clocksource is the TSC: it runs at one rate on every CPU,
 * through idle states, and CLOCK_MONOTONIC is a linear function of it. */
static int
stamp_kernel_uses_tsc(void)
{
#if defined(__x86_64__)
    char name[32] = "";
    FILE *f = fopen("/sys/devices/system/clocksource/clocksource0/"
                    "current_clocksource",
                    "r");

    if (f == NULL) {
        return 0;
    }
    if (fgets(name, sizeof(name), f) == NULL) {
        name[0] = '\0';
    }
    fclose(f);
    return strcmp(name, "tsc\n") == 0 || strcmp(name, "tsc") == 0;
#else
    return 0;
#endif
}

/* The CPU says its TSC is invariant (CPUID 0x80000007, EDX bit 8: one
 * rate through frequency and idle states), where the kernel keeps time by
 * another clock: kvm-clock in a VM, whose clock_gettime costs about 80 ns
 * here against 22 on the TSC, and a stamp is taken in every weft_isend
 * and weft_irecv (the two-rank 8-byte message rate halved). A stamp only
 * dates a request for weft_request_stats, and weft__stamp_seconds maps it
 * between two readings of both clocks, so a rate it does not know is no
 * matter. */
static int
stamp_tsc_invariant(void)
{
#if defined(__x86_64__)
    unsigned a, b, c, d;

    return __get_cpuid(0x80000007u, &a, &b, &c, &d) && (d >> 8 & 1u);
#else
    return 0;
#endif
}

/* A stamp and the monotonic time at (about) the same moment: the clock
 * read between two stamps, the pair with the shortest gap of three. */
static void
stamp_pair(uint64_t *t_p, double *s_p)
{
    uint64_t best = UINT64_MAX;

    for (int i = 0; i < 3; i++) {
        uint64_t a = weft__stamp();
        double s = weft__now();
        uint64_t b = weft__stamp();

        if (b - a < best) {
            best = b - a;
            *t_p = a + (b - a) / 2;
            *s_p = s;
        }
    }
}

static void
stamp_init_once(void)
{
    weft__stamp_tsc = stamp_kernel_uses_tsc() || stamp_tsc_invariant();
    stamp_pair(&stamp_t0, &stamp_s0);
}

void
weft__stamp_init(void)
{
    pthread_once(&stamp_once, stamp_init_once);
}

double
weft__stamp_seconds(uint64_t stamp)
{
    uint64_t t1;
    double s1;

    if (stamp == 0) {
        return 0;
    }
    if (!weft__stamp_tsc) {
        return (double)stamp * 1e-9;
    }
    /* between the first pair and one read now: a stamp lies in between
     * (it was taken after the init), so the error is about that of the
     * pairs themselves, tens of nanoseconds, however short the span */
    stamp_pair(&t1, &s1);
    if (t1 <= stamp_t0 || s1 <= stamp_s0) {
        return stamp_s0;
    }
    return stamp_s0 + (s1 - stamp_s0) * ((double)(int64_t)(stamp - stamp_t0) /
                                         (double)(t1 - stamp_t0));
}
