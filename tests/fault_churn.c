/*
 * Churn: the same ranks make a communicator, run collectives on it, break
 * it (nothing, weft_comm_abort, a disagreement, a rank that stays away
 * past the comm's deadline), check every rank got the same error, destroy
 * it, and go on with a fresh one from the healthy parent, cycle after
 * cycle. Open file descriptors, threads, resident memory and /dev/shm
 * must come back to where they were after the first cycles. make check
 * runs 40 cycles; make check-long 500 (WT_SOAK_CYCLES).
 */
#include "build_config.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fault_common.h"
#include "harness.h"

#define CH_COUNT 4096 /* elements of the collectives */
#define CH_WARMUP 8   /* cycles before the baseline is taken */
#define CH_RSS_SLACK_KB (8 * 1024)

enum { CH_NONE, CH_ABORT, CH_MISMATCH, CH_AWAY, CH_NFAULTS };
static const char *const ch_names[] = {"none", "abort", "mismatch", "away"};
static const weft_status_t ch_want[] = {WEFT_OK, WEFT_ERR_ABORTED,
                                        WEFT_ERR_MISMATCH,
                                        WEFT_ERR_TIMED_OUT};

typedef struct ch_usage {
    int fds, threads, shm;
    long rss_kb;
} ch_usage_t;

static int
ch_count_dir(const char *path, const char *prefix)
{
    DIR *d = opendir(path);
    struct dirent *e;
    int n = 0;

    if (d == NULL) {
        return -1;
    }
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] != '.' &&
            strncmp(e->d_name, prefix, strlen(prefix)) == 0) {
            n++;
        }
    }
    closedir(d);
    return n;
}

static long
ch_rss_kb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;

    if (f == NULL) {
        return -1;
    }
    while (fgets(line, sizeof(line), f) != NULL) {
        if (sscanf(line, "VmRSS: %ld kB", &kb) == 1) {
            break;
        }
    }
    fclose(f);
    return kb;
}

static ch_usage_t
ch_usage(void)
{
    ch_usage_t u = {ch_count_dir("/proc/self/fd", ""),
                    ch_count_dir("/proc/self/task", ""),
                    ch_count_dir("/dev/shm", "weft"), ch_rss_kb()};

    return u;
}

static int ch_in[CH_COUNT], ch_out[CH_COUNT], ch_all[CH_COUNT * FC_MAX];

/* Ten collectives with their results checked; WEFT_OK or the first error. */
static weft_status_t
ch_work(weft_comm_t *c, int cycle)
{
    int me = weft_comm_rank(c), n = weft_comm_size(c);
    weft_status_t st = WEFT_OK;

    for (int k = 0; k < 10 && st == WEFT_OK; k++) {
        for (int i = 0; i < CH_COUNT; i++) {
            ch_in[i] = me * 1000 + cycle + k + i % 7;
        }
        switch (k % 3) {
        case 0:
            st = weft_allreduce(ch_in, ch_out, CH_COUNT, WEFT_INT32,
                                WEFT_SUM, c);
            for (int i = 0; st == WEFT_OK && i < CH_COUNT; i++) {
                WT_CHECK(ch_out[i] == 1000 * n * (n - 1) / 2 +
                                          n * (cycle + k + i % 7),
                         "cycle %d allreduce %d: element %d is %d", cycle,
                         k, i, ch_out[i]);
            }
            break;
        case 1:
            st = weft_allgather(ch_in, ch_all, CH_COUNT / FC_MAX, WEFT_INT32,
                                c);
            for (int r = 0; st == WEFT_OK && r < n; r++) {
                int got = ch_all[r * (CH_COUNT / FC_MAX)];

                WT_CHECK(got == r * 1000 + cycle + k,
                         "cycle %d allgather %d: rank %d's block starts "
                         "with %d",
                         cycle, k, r, got);
            }
            break;
        default:
            st = weft_broadcast(ch_in, CH_COUNT, WEFT_INT32, k % n, c);
            WT_CHECK(st != WEFT_OK ||
                         ch_in[5] == (k % n) * 1000 + cycle + k + 5,
                     "cycle %d broadcast %d: element 5 is %d", cycle, k,
                     ch_in[5]);
            break;
        }
    }
    return st;
}

/* Break comm c the way the cycle says; the status this rank got. */
static weft_status_t
ch_fault(weft_comm_t *c, int fault, int odd)
{
    int me = weft_comm_rank(c);
    weft_status_t st;

    switch (fault) {
    case CH_ABORT:
        if (me == odd) {
            usleep(20 * 1000); /* the others are blocked by now */
            WT_OK(weft_comm_abort(c, WEFT_ERR_ABORTED));
            return weft_comm_error(c, NULL, NULL);
        }
        return weft_allreduce(ch_in, ch_out, CH_COUNT, WEFT_INT32, WEFT_SUM,
                              c);
    case CH_MISMATCH:
        return weft_allreduce(ch_in, ch_out, me == odd ? 10 : 20,
                              WEFT_INT32, WEFT_SUM, c);
    case CH_AWAY:
        if (me == odd) {
            /* well past the comm's 0.3 s deadline, then the next call */
            usleep(1000 * 1000);
            st = weft_barrier(c);
            return st;
        }
        return weft_allreduce(ch_in, ch_out, CH_COUNT, WEFT_INT32, WEFT_SUM,
                              c);
    default:
        return weft_barrier(c);
    }
}

static void
churn_body(weft_context_t *ctx, weft_comm_t *w, void *arg)
{
    int *cycles = arg, me = weft_comm_rank(w), n = weft_comm_size(w);
    ch_usage_t base = {0}, now;

    (void)ctx;
    for (int cycle = 0; cycle < *cycles; cycle++) {
        int fault = cycle % CH_NFAULTS, odd = (cycle / CH_NFAULTS) % n;
        int origin = -2;
        weft_comm_t *c = NULL;
        weft_status_t st;

        WT_OK(weft_comm_dup(w, &c));
        WT_OK(weft_comm_set_timeout(c, 10.0));
        /* a fault found by faster ranks may overtake this rank's last
         * collective of the work (fail-stop: every pending call fails) */
        st = ch_work(c, cycle);
        if (st == WEFT_OK && fault == CH_AWAY) {
            WT_OK(weft_comm_set_timeout(c, 0.3));
        }
        if (st == WEFT_OK) {
            st = ch_fault(c, fault, odd);
        }
        WT_CHECK(st == ch_want[fault],
                 "cycle %d (%s by rank %d): got %s (%s), want %s", cycle,
                 ch_names[fault], odd, weft_status_string(st),
                 weft_last_error(), weft_status_string(ch_want[fault]));
        if (fault == CH_ABORT || fault == CH_AWAY) {
            weft_comm_error(c, &origin, NULL);
            /* the away rank's neighbours time out first and name it (a
             * mismatch starts wherever the two calls first meet) */
            WT_CHECK(fault == CH_AWAY ? origin != odd : origin == odd,
                     "cycle %d (%s by rank %d): origin %d", cycle,
                     ch_names[fault], odd, origin);
        }
        WT_OK(weft_comm_destroy(c));
        WT_OK(weft_barrier(w)); /* the parent stays healthy */
        if (cycle + 1 == CH_WARMUP) {
            base = ch_usage();
        } else if (cycle + 1 > CH_WARMUP &&
                   ((cycle + 1) % 10 == 0 || cycle + 1 == *cycles)) {
            now = ch_usage();
            WT_CHECK(now.fds == base.fds && now.threads == base.threads &&
                         now.shm == base.shm &&
                         now.rss_kb <= base.rss_kb + CH_RSS_SLACK_KB,
                     "rank %d after %d cycles: %d fds, %d threads, %d "
                     "/dev/shm entries, %ld kB resident; after %d: %d, %d, "
                     "%d, %ld kB",
                     me, cycle + 1, now.fds, now.threads, now.shm,
                     now.rss_kb, CH_WARMUP, base.fds, base.threads, base.shm,
                     base.rss_kb);
        }
    }
}

static void
ch_run(const char *tl, int cycles)
{
    wt_job_t job = {.nranks = 4, .tl = tl, .timeout_s = 60.0 + cycles,
                    .env = {"WEFT_LOG_LEVEL=error", NULL}};

    cr_expect_eq(wt_run(&job, churn_body, &cycles), 0,
                 "%s: %d cycles of make, use, break, destroy", tl, cycles);
}

static int
ch_cycles(void)
{
    const char *v = getenv("WT_SOAK_CYCLES");

    return v != NULL && atoi(v) > CH_WARMUP ? atoi(v) : 40;
}

Test(fault_churn, comms_made_broken_and_destroyed_leak_nothing,
     .timeout = 3600)
{
    ch_run("self,shm,tcp", ch_cycles());
    ch_run("self,tcp", ch_cycles());
}
