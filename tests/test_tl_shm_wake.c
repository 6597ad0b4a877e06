/*
 * Waking a sleeping rank over shm (WEFT_SHM_WAKE): which pairing each
 * setting gives (a fence in every send, or membarrier(2) run by the rank
 * about to sleep), and that a rank that sleeps before every message is
 * woken by each one, under both pairings and with more ranks than cores.
 * A wake-up lost in the race between a sender's message and the flag the
 * sleeper sets would leave the sleeper waiting for its next periodic look
 * (100 ms, PROGRESS_BLOCK_MAX_MS): each hop is timed.
 */
#include "build_config.h"

#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <weft.h>
#if __has_include(<linux/membarrier.h>)
#include <linux/membarrier.h>
#define WT_HAVE_MEMBARRIER 1
#endif

#include "context.h"
#include "harness.h"
#include "transports/shm/shm.h"

/* The kernel offers membarrier's global expedited command (what the
 * transport asks for). */
static int
kernel_has_membarrier(void)
{
#if defined(SYS_membarrier) && defined(WT_HAVE_MEMBARRIER)
    long q = syscall(SYS_membarrier, MEMBARRIER_CMD_QUERY, 0, 0);

    return q >= 0 && (q & MEMBARRIER_CMD_GLOBAL_EXPEDITED) != 0;
#else
    return 0;
#endif
}

static weft_tl_t *
shm_instance(weft_context_t *ctx)
{
    for (int i = 0; i < ctx->ntls; i++) {
        if (ctx->tls[i].ops == &weft__tl_shm) {
            return ctx->tls[i].tl;
        }
    }
    return NULL;
}

/* ---- the pairing each setting gives ------------------------------------ */

typedef struct wake_case {
    char setting[16]; /* WEFT_SHM_WAKE */
    int nranks;
    int over; /* 1: more ranks than cores (nranks is then cores + 1) */
} wake_case_t;

static wake_case_t wake_cases[] = {
    {"fence", 2, 0}, {"membarrier", 2, 0}, {"auto", 2, 0},
    {"auto", 0, 1},  {"membarrier", 0, 1},
};

/* Expected: 1 where every send takes a fence. */
static int
expect_fence(const wake_case_t *c)
{
    if (strcmp(c->setting, "fence") == 0 || !kernel_has_membarrier()) {
        return 1;
    }
    return strcmp(c->setting, "auto") == 0 && c->over;
}

static void
mode_body(weft_context_t *ctx, weft_comm_t *w, void *arg)
{
    const wake_case_t *c = arg;
    int me = weft_comm_rank(w), n = weft_comm_size(w), token = me;
    int want = expect_fence(c);
    weft_tl_t *tl = shm_instance(ctx);

    /* every pair has talked (a peer's segment is mapped at first contact) */
    for (int k = 1; k < n; k++) {
        int got = -1;

        WT_OK(weft_sendrecv(&token, sizeof(token), (me + k) % n, 7, &got,
                            sizeof(got), (me + n - k) % n, 7, w));
        WT_CHECK(got == (me + n - k) % n, "step %d: token %d", k, got);
    }
    WT_CHECK(tl != NULL, "no shm instance");
    if (tl == NULL) {
        return;
    }
    WT_CHECK(tl->sleep_barrier == !want,
             "WEFT_SHM_WAKE=%s, %d ranks: sleep_barrier %d", c->setting, n,
             tl->sleep_barrier);
    for (int k = 0; k < tl->nlocal; k++) {
        weft_tl_ep_t *p = tl->peers[k];

        if (p != NULL) {
            WT_CHECK(p->attached, "local rank %d is not attached", k);
            WT_CHECK(p->fence == want,
                     "WEFT_SHM_WAKE=%s, %d ranks: rank %d's fence %d, "
                     "expected %d",
                     c->setting, n, tl->local_ranks[k], p->fence, want);
        }
    }
}

static int
case_ranks(const wake_case_t *c)
{
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

    return c->over ? (int)(ncpu > 0 ? ncpu : 1) + 1 : c->nranks;
}

ParameterizedTestParameters(tl_shm_wake, the_setting_chooses_the_pairing)
{
    return cr_make_param_array(wake_case_t, wake_cases,
                               sizeof(wake_cases) / sizeof(wake_cases[0]));
}

ParameterizedTest(wake_case_t *c, tl_shm_wake, the_setting_chooses_the_pairing,
                  .timeout = 120)
{
    char setting[48];
    wt_job_t job = {.nranks = case_ranks(c), .tl = "shm", .timeout_s = 100};

    snprintf(setting, sizeof(setting), "WEFT_SHM_WAKE=%s", c->setting);
    job.env[0] = setting;
    cr_assert_eq(wt_run(&job, mode_body, c), 0, "%s with %d ranks", c->setting,
                 job.nranks);
}

/* ---- every message wakes a sleeping rank ------------------------------- */

/* A token goes round the ring WAKE_ROUNDS times; each rank waits for it
 * with no spin and no yields (it arms and sleeps at once), and holds it a
 * moment of varying length before passing it on, so that the next rank is
 * sometimes asleep, sometimes arming, sometimes still polling. A rank's
 * wait is a trip round the ring; a lost wake-up makes it about 0.1 s, and
 * lost wake-ups that came of a broken pairing would be many: a few slow
 * waits are let by (a busy machine may hold a woken rank back). */
#define WAKE_ROUNDS   300
#define WAKE_SLOW_S   0.08
#define WAKE_SLOW_MAX (WAKE_ROUNDS / 20)

static void
ring_body(weft_context_t *ctx, weft_comm_t *w, void *arg)
{
    int me = weft_comm_rank(w), n = weft_comm_size(w);
    int prev = (me + n - 1) % n, next = (me + 1) % n;
    double worst = 0;
    int slow = 0;

    (void)ctx;
    (void)arg;
    for (int r = 0; r < WAKE_ROUNDS && wt_failures == 0; r++) {
        int token = r;

        for (int step = 0; step < 2; step++) {
            if ((step == 0) == (me == 0)) { /* rank 0 sends first */
                usleep((useconds_t)((r * 37 + me * 11) % 200)); /* <200 us */
                WT_OK(weft_send(&token, sizeof(token), next, r, w));
            } else {
                double t0 = wt_now(), dt;

                token = -1;
                WT_OK(weft_recv(&token, sizeof(token), prev, r, w, NULL));
                dt = wt_now() - t0;
                worst = dt > worst ? dt : worst;
                slow += dt >= WAKE_SLOW_S;
                WT_CHECK(token == r, "round %d: token %d", r, token);
            }
        }
    }
    WT_CHECK(slow <= WAKE_SLOW_MAX,
             "%d of %d waits took %g s or more (lost wake-ups); the longest "
             "%.3f s",
             slow, WAKE_ROUNDS, WAKE_SLOW_S, worst);
}

typedef struct ring_case {
    char setting[16];
    int nranks;
} ring_case_t;

static ring_case_t ring_cases[] = {
    {"membarrier", 2},
    {"fence", 2},
    {"membarrier", 8},
    {"fence", 8},
};

ParameterizedTestParameters(tl_shm_wake, every_message_wakes_a_sleeper)
{
    return cr_make_param_array(ring_case_t, ring_cases,
                               sizeof(ring_cases) / sizeof(ring_cases[0]));
}

ParameterizedTest(ring_case_t *c, tl_shm_wake, every_message_wakes_a_sleeper,
                  .timeout = 180)
{
    char setting[48];
    wt_job_t job = {.nranks = c->nranks,
                    .tl = "shm",
                    .timeout_s = 150,
                    .env = {"WEFT_SPIN=0", "WEFT_YIELD_COUNT=0"}};

    snprintf(setting, sizeof(setting), "WEFT_SHM_WAKE=%s", c->setting);
    job.env[2] = setting;
    cr_assert_eq(wt_run(&job, ring_body, NULL), 0, "%s with %d ranks",
                 c->setting, c->nranks);
}
