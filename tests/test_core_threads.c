/*
 * WEFT_THREADS: which threads call into a context.
 *  - serialized (no lock taken) runs point-to-point, nonblocking requests
 *    with callbacks that post the next step, collectives and comm
 *    creation, checked element by element, at 2 and 4 ranks over shm and
 *    tcp, with calls made from two threads in turn (ordered by joins);
 *  - weft_context_threads reports the mode, multiple by default;
 *  - serialized with a progress thread, and a bad params->threads, are
 *    refused with a message naming them.
 */
#include "build_config.h"

#include <criterion/criterion.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <weft.h>

#include "harness.h"

enum { TH_N = 3000 };

/* ---- serialized jobs ----------------------------------------------------- */

typedef struct th_step {
    weft_comm_t *comm;
    int32_t out[TH_N], in[TH_N], sum[TH_N];
    weft_status_t st;
} th_step_t;

/* A ring exchange and an allreduce, checked: run on a thread of its own
 * while the rank's main thread waits in pthread_join. */
static void *
th_ring_step(void *arg)
{
    th_step_t *s = arg;
    int me = weft_comm_rank(s->comm), n = weft_comm_size(s->comm);
    int right = (me + 1) % n, left = (me + n - 1) % n;

    for (int i = 0; i < TH_N; i++) {
        s->out[i] = me * 1000 + i;
    }
    s->st = weft_sendrecv(s->out, sizeof(s->out), right, 7, s->in,
                          sizeof(s->in), left, 7, s->comm);
    if (s->st == WEFT_OK) {
        s->st =
            weft_allreduce(s->out, s->sum, TH_N, WEFT_INT32, WEFT_SUM, s->comm);
    }
    return NULL;
}

/* A callback that posts the next receive from inside weft's call. */
typedef struct th_chain {
    weft_comm_t *comm;
    int peer;
    int32_t buf[64];
    int32_t buf2[64]; /* the next receive's */
    weft_request_t *next;
    int fired;
} th_chain_t;

static void
th_chain_cb(void *arg, weft_status_t status)
{
    th_chain_t *c = arg;

    c->fired++;
    if (status == WEFT_OK) {
        (void)weft_irecv(c->buf2, sizeof(c->buf2), c->peer, 2, c->comm,
                         &c->next);
    }
}

static void
serialized_body(weft_context_t *ctx, weft_comm_t *w, void *arg)
{
    int me = weft_comm_rank(w), n = weft_comm_size(w);
    weft_thread_mode_t mode = WEFT_THREAD_MULTIPLE;
    static th_step_t s;
    static th_chain_t chain;
    int32_t first[64], again[64];
    weft_request_t *req;
    weft_comm_t *half = NULL;
    pthread_t t;
    int64_t total;

    (void)arg;
    WT_OK(weft_context_threads(ctx, &mode));
    WT_CHECK(mode == WEFT_THREAD_SERIALIZED, "mode %d", (int)mode);

    /* blocking point to point, rank 0 with each other rank */
    for (int peer = 1; peer < n && me == 0; peer++) {
        int32_t msg[TH_N];

        for (int i = 0; i < TH_N; i++) {
            msg[i] = peer * 31 + i;
        }
        WT_OK(weft_send(msg, sizeof(msg), peer, 1, w));
        WT_OK(weft_recv(msg, sizeof(msg), peer, 1, w, NULL));
        for (int i = 0; i < TH_N; i++) {
            WT_CHECK(msg[i] == -(peer * 31 + i), "from %d [%d] = %d", peer, i,
                     msg[i]);
        }
    }
    if (me != 0) {
        int32_t msg[TH_N];
        size_t got = 0;

        WT_OK(weft_recv(msg, sizeof(msg), 0, 1, w, &got));
        WT_CHECK(got == sizeof(msg), "got %zu", got);
        for (int i = 0; i < TH_N; i++) {
            WT_CHECK(msg[i] == me * 31 + i, "[%d] = %d", i, msg[i]);
            msg[i] = -msg[i];
        }
        WT_OK(weft_send(msg, sizeof(msg), 0, 1, w));
    }

    /* another thread makes the next calls; the join orders them */
    s.comm = w;
    WT_CHECK(pthread_create(&t, NULL, th_ring_step, &s) == 0, "thread");
    pthread_join(t, NULL);
    WT_OK(s.st);
    for (int i = 0; i < TH_N; i++) {
        int left = (me + n - 1) % n;

        total = (int64_t)1000 * n * (n - 1) / 2 + (int64_t)n * i;
        WT_CHECK(s.in[i] == left * 1000 + i, "ring [%d] = %d", i, s.in[i]);
        WT_CHECK(s.sum[i] == total, "sum [%d] = %d, not %lld", i, s.sum[i],
                 (long long)total);
    }

    /* a completion callback posts the next receive from inside weft */
    chain.comm = w;
    chain.peer = (me + n - 1) % n;
    for (int i = 0; i < 64; i++) {
        first[i] = me + i;
        again[i] = me * 2 + i;
    }
    WT_OK(weft_irecv(chain.buf, sizeof(chain.buf), chain.peer, 1, w, &req));
    WT_OK(weft_request_on_complete(req, th_chain_cb, &chain));
    WT_OK(weft_send(first, sizeof(first), (me + 1) % n, 1, w));
    WT_OK(weft_wait(req));
    WT_CHECK(chain.fired == 1 && chain.next != NULL, "fired %d", chain.fired);
    for (int i = 0; i < 64 && chain.next != NULL; i++) {
        WT_CHECK(chain.buf[i] == chain.peer + i, "first [%d] = %d", i,
                 chain.buf[i]);
    }
    WT_OK(weft_send(again, sizeof(again), (me + 1) % n, 2, w));
    if (chain.next != NULL) {
        WT_OK(weft_wait(chain.next));
        for (int i = 0; i < 64; i++) {
            WT_CHECK(chain.buf2[i] == chain.peer * 2 + i, "again [%d] = %d", i,
                     chain.buf2[i]);
        }
    }

    /* a split comm's collective */
    WT_OK(weft_comm_split(w, me % 2, me, &half));
    total = me;
    WT_OK(weft_allreduce(&total, &total, 1, WEFT_INT64, WEFT_SUM, half));
    {
        int64_t want = 0;

        for (int r = me % 2; r < n; r += 2) {
            want += r;
        }
        WT_CHECK(total == want, "split sum %lld, not %lld", (long long)total,
                 (long long)want);
    }
    WT_OK(weft_comm_destroy(half));
    WT_OK(weft_barrier(w));
}

static void
th_serialized(int nranks, const char *tl)
{
    wt_job_t job = {.nranks = nranks,
                    .tl = tl,
                    .timeout_s = 120,
                    .env = {"WEFT_THREADS=serialized", "WEFT_TIMEOUT=60s",
                            "WEFT_LOG_LEVEL=error", NULL}};

    cr_expect_eq(wt_run(&job, serialized_body, NULL), 0, "%d ranks over %s",
                 nranks, tl ? tl : "the default");
}

Test(core_threads, serialized_over_shm, .timeout = 240)
{
    th_serialized(2, NULL);
    th_serialized(4, NULL);
}

Test(core_threads, serialized_over_tcp, .timeout = 240)
{
    th_serialized(2, "self,tcp");
    th_serialized(4, "self,tcp");
}

/* ---- the mode, and what is refused --------------------------------------- */

Test(core_threads, multiple_by_default)
{
    weft_context_t *ctx = NULL;
    weft_thread_mode_t mode = WEFT_THREAD_SERIALIZED;

    cr_assert_eq(weft_context_create(NULL, &ctx), WEFT_OK, "%s",
                 weft_last_error());
    cr_expect_eq(weft_context_threads(ctx, &mode), WEFT_OK);
    cr_expect_eq(mode, WEFT_THREAD_MULTIPLE);
    cr_expect_eq(weft_context_threads(ctx, NULL), WEFT_ERR_INVALID_ARG);
    cr_expect_eq(weft_context_threads(NULL, &mode), WEFT_ERR_INVALID_ARG);
    weft_context_destroy(ctx);
}

Test(core_threads, params_choose_serialized)
{
    weft_context_params_t p = {.field_mask = WEFT_CONTEXT_PARAM_THREADS,
                               .threads = WEFT_THREAD_SERIALIZED};
    weft_context_t *ctx = NULL;
    weft_thread_mode_t mode = WEFT_THREAD_MULTIPLE;
    int32_t x = 5, y = 0;

    cr_assert_eq(weft_context_create(&p, &ctx), WEFT_OK, "%s",
                 weft_last_error());
    cr_expect_eq(weft_context_threads(ctx, &mode), WEFT_OK);
    cr_expect_eq(mode, WEFT_THREAD_SERIALIZED);
    {
        weft_comm_t *w = NULL;

        cr_assert_eq(weft_comm_world(ctx, &w), WEFT_OK);
        cr_expect_eq(weft_allreduce(&x, &y, 1, WEFT_INT32, WEFT_SUM, w),
                     WEFT_OK);
        cr_expect_eq(y, 5);
    }
    weft_context_destroy(ctx);
}

Test(core_threads, bad_parameter)
{
    weft_context_params_t p = {.field_mask = WEFT_CONTEXT_PARAM_THREADS,
                               .threads = 2};
    weft_context_t *ctx = NULL;

    cr_expect_eq(weft_context_create(&p, &ctx), WEFT_ERR_INVALID_ARG);
    cr_expect(strstr(weft_last_error(), "params->threads 2") != NULL, "%s",
              weft_last_error());
    cr_expect_null(ctx);
}

Test(core_threads, serialized_refuses_a_progress_thread)
{
    weft_context_params_t p = {.field_mask = WEFT_CONTEXT_PARAM_PROGRESS_THREAD,
                               .progress_thread = 1};
    weft_context_t *ctx = NULL;

    setenv("WEFT_THREADS", "serialized", 1);
    cr_expect_eq(weft_context_create(&p, &ctx), WEFT_ERR_INVALID_ARG);
    cr_expect(strstr(weft_last_error(), "progress thread") != NULL &&
                  strstr(weft_last_error(), "serialized") != NULL,
              "%s", weft_last_error());
    cr_expect_null(ctx);
    /* the other way round: the params win over the environment */
    p.field_mask |= WEFT_CONTEXT_PARAM_THREADS;
    p.threads = WEFT_THREAD_MULTIPLE;
    cr_expect_eq(weft_context_create(&p, &ctx), WEFT_OK, "%s",
                 weft_last_error());
    weft_context_destroy(ctx);
    unsetenv("WEFT_THREADS");
}

Test(core_threads, a_bad_value_names_the_variable)
{
    weft_context_t *ctx = NULL;

    setenv("WEFT_THREADS", "funneled", 1);
    cr_expect_eq(weft_context_create(NULL, &ctx), WEFT_ERR_INVALID_ARG);
    cr_expect(strstr(weft_last_error(), "WEFT_THREADS") != NULL, "%s",
              weft_last_error());
    cr_expect_null(ctx);
    unsetenv("WEFT_THREADS");
}
