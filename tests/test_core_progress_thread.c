/*
 * The progress thread (WEFT_PROGRESS_THREAD=1) with 2, 4 and 8 ranks over
 * shm and tcp:
 *  - racing: the caller posts point-to-point and collective work and drives
 *    progress itself (weft_progress, weft_test, weft_wait) while the thread
 *    does the same; every result exact, every callback once (this program
 *    also runs under ThreadSanitizer: ./configure --enable-tsan);
 *  - it sleeps: a rank with nothing to do, or waiting on a message that
 *    does not come, uses almost no CPU while the caller computes;
 *  - it completes a nonblocking collective the caller never touches;
 *  - the context parameter is checked.
 * Built with -DWT_PLAIN_MAIN (tests/tsan_progress_thread, in a build made
 * with ./configure --enable-tsan) it runs the same jobs from a plain main:
 * Criterion cannot start under ThreadSanitizer ("Could not initialize
 * inheritable arena").
 */
#include "build_config.h"

#ifndef WT_PLAIN_MAIN
#include <criterion/criterion.h>
#endif
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>
#include <weft.h>

#include "harness.h"

static const int th_ranks[] = {2, 4, 8};
static int th_failed; /* jobs that failed */

static void
th_run(wt_rank_fn_t fn, const char *tl)
{
    for (int i = 0; i < 3; i++) {
        wt_job_t job = {.nranks = th_ranks[i],
                        .tl = tl,
                        .timeout_s = 240,
                        .env = {"WEFT_TIMEOUT=60s", "WEFT_LOG_LEVEL=error",
                                "WEFT_PROGRESS_THREAD=1", NULL}};
        int bad = wt_run(&job, fn, NULL);

        if (bad != 0) {
            fprintf(stderr, "%d ranks, %s: %d ranks failed\n", th_ranks[i],
                    tl ? tl : "default", bad);
            th_failed++;
        }
    }
}

static double
th_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* CPU seconds of the whole process (every thread). */
static double
th_cpu(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
}

/* ---- racing the thread ----------------------------------------------------
 */

static void
count_cb(void *arg, weft_status_t status)
{
    int *calls = arg;

    __atomic_add_fetch(calls, status == WEFT_OK ? 1 : 1000, __ATOMIC_SEQ_CST);
}

static void
race_body(weft_context_t *ctx, weft_comm_t *w, void *arg)
{
    enum { N = 4096, ROUNDS = 60 };
    int me = weft_comm_rank(w), n = weft_comm_size(w);
    int right = (me + 1) % n, left = (me + n - 1) % n;
    static int32_t a[N], sum[N], out[N], in[N], pa[N], psum[N];
    weft_request_t *part;

    (void)arg;
    WT_OK(weft_allreduce_init(pa, psum, N, WEFT_INT32, WEFT_SUM, 8, w, &part));
    for (int round = 0; round < ROUNDS && wt_failures == 0; round++) {
        weft_request_t *req[3];
        int calls[3] = {0, 0, 0};
        size_t count = round % 3 == 0 ? N : (size_t)(1 + round * 37 % 500);
        int done = 0;

        for (size_t i = 0; i < count; i++) {
            a[i] = me + (int32_t)i + round;
            out[i] = me * 7 + (int32_t)i - round;
        }
        WT_OK(weft_iallreduce(a, sum, count, WEFT_INT32, WEFT_SUM, w, &req[0]));
        WT_OK(weft_irecv(in, count * sizeof(int32_t), left, round, w, &req[1]));
        WT_OK(
            weft_isend(out, count * sizeof(int32_t), right, round, w, &req[2]));
        for (int k = 0; k < 3; k++) {
            WT_OK(weft_request_on_complete(req[k], count_cb, &calls[k]));
        }
        /* drive progress ourselves while the thread does too */
        switch (round % 3) {
        case 0:
            while (!done) {
                weft_progress(ctx);
                done = __atomic_load_n(&calls[0], __ATOMIC_SEQ_CST) &&
                       __atomic_load_n(&calls[1], __ATOMIC_SEQ_CST) &&
                       __atomic_load_n(&calls[2], __ATOMIC_SEQ_CST);
            }
            WT_OK(weft_waitall(3, req));
            break;
        case 1:
            for (int k = 0; k < 3; k++) {
                int d = 0;

                while (!d) {
                    WT_OK(weft_test(req[k], &d));
                }
            }
            break;
        default:
            WT_OK(weft_wait(req[2]));
            WT_OK(weft_wait(req[1]));
            WT_OK(weft_wait(req[0]));
            break;
        }
        for (int k = 0; k < 3; k++) {
            WT_CHECK(calls[k] == 1, "round %d: callback %d fired %d", round, k,
                     calls[k]);
        }
        /* a partitioned allreduce: marked by the caller, run by both */
        WT_OK(weft_start(part));
        for (size_t p = 0; p < 8; p++) {
            size_t first, len;

            WT_OK(weft_partition_extent(part, 7 - p, &first, &len));
            for (size_t i = first; i < first + len; i++) {
                pa[i] = me * 3 + (int32_t)i + round;
            }
            WT_OK(weft_pready(part, 7 - p));
        }
        WT_OK(weft_wait(part));
        for (size_t i = 0; i < N; i++) {
            int32_t want =
                (int32_t)(3 * n * (n - 1) / 2) + n * ((int32_t)i + round);

            if (psum[i] != want) {
                WT_CHECK(0, "round %d partitioned element %zu: %d, want %d",
                         round, i, psum[i], want);
                break;
            }
        }
        for (size_t i = 0; i < count; i++) {
            int32_t want =
                (int32_t)(n * (n - 1) / 2) + n * ((int32_t)i + round);

            if (sum[i] != want || in[i] != left * 7 + (int32_t)i - round) {
                WT_CHECK(0,
                         "round %d element %zu: sum %d (want %d), "
                         "received %d",
                         round, i, sum[i], want, in[i]);
                break;
            }
        }
    }
    weft_request_free(part);
}

static void
th_races(void)
{
    th_run(race_body, NULL);
    th_run(race_body, "self,tcp");
}

/* ---- it sleeps --------------------------------------------------------------
 */

static void
sleep_body(weft_context_t *ctx, weft_comm_t *w, void *arg)
{
    int me = weft_comm_rank(w), n = weft_comm_size(w);
    weft_request_t *never;
    double t0, c0, cpu;
    int x;

    (void)ctx;
    (void)arg;
    WT_OK(weft_barrier(w));
    /* nothing to do */
    t0 = th_now();
    c0 = th_cpu();
    usleep(300000);
    cpu = th_cpu() - c0;
    WT_CHECK(cpu < 0.1 * (th_now() - t0), "idle: %.0f ms of CPU in %.0f ms",
             cpu * 1e3, (th_now() - t0) * 1e3);
    /* a receive that nobody answers yet */
    WT_OK(weft_irecv(&x, sizeof(x), (me + n - 1) % n, 77, w, &never));
    t0 = th_now();
    c0 = th_cpu();
    usleep(300000);
    cpu = th_cpu() - c0;
    WT_CHECK(cpu < 0.1 * (th_now() - t0),
             "waiting on a message: %.0f ms of CPU in %.0f ms", cpu * 1e3,
             (th_now() - t0) * 1e3);
    x = me;
    WT_OK(weft_send(&x, sizeof(x), (me + 1) % n, 77, w));
    WT_OK(weft_wait(never));
}

static void
th_sleeps(void)
{
    th_run(sleep_body, NULL);
    th_run(sleep_body, "self,tcp");
}

/* ---- a collective nobody drives but the thread -----------------------------
 */

static int alone_calls;

static void
alone_body(weft_context_t *ctx, weft_comm_t *w, void *arg)
{
    enum { N = 1 << 18 };
    int n = weft_comm_size(w);
    static float a[N], b[N];
    weft_request_t *req;
    double until;

    (void)ctx;
    (void)arg;
    for (int i = 0; i < N; i++) {
        a[i] = (float)(i % 100);
    }
    alone_calls = 0;
    WT_OK(weft_iallreduce(a, b, N, WEFT_FLOAT32, WEFT_SUM, w, &req));
    WT_OK(weft_request_on_complete(req, count_cb, &alone_calls));
    until = th_now() + 20;
    while (__atomic_load_n(&alone_calls, __ATOMIC_SEQ_CST) == 0 &&
           th_now() < until) {
        usleep(1000); /* "computing": no weft call */
    }
    WT_CHECK(alone_calls == 1, "the thread did not complete it (%d)",
             alone_calls);
    WT_OK(weft_wait(req));
    for (int i = 0; i < N; i++) {
        if (b[i] != (float)(n * (i % 100))) {
            WT_CHECK(0, "element %d is %g", i, (double)b[i]);
            break;
        }
    }
}

static void
th_alone(void)
{
    th_run(alone_body, NULL);
    th_run(alone_body, "self,tcp");
}

/* ---- blocking node-local collectives with the thread on -------------
 * The caller of a blocking call sleeps on the thread's rounds; the thread
 * must not sleep through a peer's flag in the shared area (no transport
 * event wakes it): it once did, for its whole 100 ms nap, in most calls.
 */

#define BL_CALLS 31
/* the time is checked except under ThreadSanitizer (the plain main),
 * where every call is many times slower */
static int bl_timed = 1;

#define BL_COUNT (1024 * 1024) /* 4 MiB: read from the peer's memory */

static int
bl_cmp(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;

    return (a > b) - (a < b);
}

static void
blocking_body(weft_context_t *ctx, weft_comm_t *w, void *arg)
{
    static float a[BL_COUNT], b[BL_COUNT];
    static double t[BL_CALLS];
    int n = weft_comm_size(w), me = weft_comm_rank(w);

    (void)ctx;
    (void)arg;
    for (int k = 0; k < BL_CALLS && wt_failures == 0; k++) {
        for (int i = 0; i < BL_COUNT; i++) {
            a[i] = (float)((me + 1) * (i % 7 + k % 3));
        }
        WT_OK(weft_barrier(w));
        t[k] = th_now();
        WT_OK(weft_allreduce(a, b, BL_COUNT, WEFT_FLOAT32, WEFT_SUM, w));
        t[k] = th_now() - t[k];
        for (int i = 0; i < BL_COUNT; i++) {
            if (b[i] != (float)(n * (n + 1) / 2 * (i % 7 + k % 3))) {
                WT_CHECK(0, "call %d: element %d is %g", k, i, (double)b[i]);
                break;
            }
        }
    }
    /* a lost wake-up costs the thread's whole nap (100 ms); the median,
     * not the slowest, so that other tests' load on the cores cannot fail
     * this one (a call takes about 1 ms alone) */
    qsort(t, BL_CALLS, sizeof(t[0]), bl_cmp);
    WT_CHECK(!bl_timed || t[BL_CALLS / 2] < 0.05,
             "median of %d calls took %.1f ms", BL_CALLS,
             t[BL_CALLS / 2] * 1e3);
}

static void
th_blocking(void)
{
    wt_job_t job = {
        .nranks = 2,
        .timeout_s = 120,
        .env = {"WEFT_LOG_LEVEL=error", "WEFT_PROGRESS_THREAD=1", NULL}};

    if (wt_run(&job, blocking_body, NULL) != 0) {
        th_failed++;
    }
}

#ifdef WT_PLAIN_MAIN
int
main(void)
{
    (void)th_sleeps; /* CPU use under TSan says little */
    bl_timed = 0;
    th_races();
    th_alone();
    th_blocking();
    printf("tsan_progress_thread: %d jobs failed\n", th_failed);
    return th_failed == 0 ? 0 : 1;
}
#else
Test(core_progress_thread, races_the_caller, .timeout = 300)
{
    th_races();
    cr_expect_eq(th_failed, 0);
}

Test(core_progress_thread, sleeps_when_idle, .timeout = 120)
{
    th_sleeps();
    cr_expect_eq(th_failed, 0);
}

Test(core_progress_thread, completes_what_the_caller_leaves, .timeout = 120)
{
    th_alone();
    cr_expect_eq(th_failed, 0);
}

Test(core_progress_thread, blocking_node_local_calls_never_nap, .timeout = 120)
{
    th_blocking();
    cr_expect_eq(th_failed, 0);
}

Test(core_progress_thread, bad_parameter)
{
    weft_context_params_t p = {.field_mask = WEFT_CONTEXT_PARAM_PROGRESS_THREAD,
                               .progress_thread = 2};
    weft_context_t *ctx = NULL;

    cr_expect_eq(weft_context_create(&p, &ctx), WEFT_ERR_INVALID_ARG);
    cr_expect(strstr(weft_last_error(), "progress_thread") != NULL, "%s",
              weft_last_error());
    cr_expect_null(ctx);
}
#endif /* WT_PLAIN_MAIN */
