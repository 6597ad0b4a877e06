/*
 * The schedule engine on its own: hand-built schedules on 1 to 4 ranks
 * (step ordering, fences, dependencies, message matching by build order,
 * partitions, failures named), without any algorithm.
 */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <weft.h>

#include "collectives/algos/algos.h"
#include "collectives/sched.h"
#include "context.h"
#include "harness.h"

static weft__sched_t *
sched_new(weft_comm_t *w, weft_dtype_t dt, weft_op_t op)
{
    weft__sched_t *s = NULL;

    pthread_mutex_lock(&w->ctx->lock);
    WT_CHECK(weft__sched_create(w, dt, op, "test", &s) == WEFT_OK,
             "create");
    return s; /* the lock stays held until sched_run */
}

static weft_status_t
sched_run(weft__sched_t *s)
{
    weft_comm_t *w = weft__sched_comm(s);
    weft_request_t *req = NULL;
    weft_status_t st = weft__sched_start(s, "test", &req);

    pthread_mutex_unlock(&w->ctx->lock);
    return st != WEFT_OK ? st : weft_wait(req);
}

/* ---- local steps follow fences and dependencies ------------------------ */

static void
local_body(weft_context_t *ctx, weft_comm_t *w, void *arg)
{
    int32_t a[4] = {1, 2, 3, 4}, b[4] = {10, 20, 30, 40}, c[4] = {0};
    int32_t d[4] = {0};
    weft__sched_t *s = sched_new(w, WEFT_INT32, WEFT_SUM);
    int x, y;

    x = weft__sched_copy(s, c, a, sizeof(a));         /* c = a */
    y = weft__sched_reduce(s, c, b, 4);               /* c += b */
    weft__sched_dep(s, y, x);
    weft__sched_fence(s);
    weft__sched_reduce3(s, d, c, a, 4);               /* d = c + a */
    WT_OK(sched_run(s));
    for (int i = 0; i < 4; i++) {
        WT_CHECK(c[i] == a[i] + b[i], "c[%d] = %d", i, c[i]);
        WT_CHECK(d[i] == 2 * a[i] + b[i], "d[%d] = %d", i, d[i]);
    }
}

Test(coll_sched, local_steps_in_order)
{
    cr_assert_eq(wt_run_ranks(1, local_body, NULL), 0);
}

/* ---- the k-th send matches the k-th receive whatever the posting order - */

static void
order_body(weft_context_t *ctx, weft_comm_t *w, void *arg)
{
    int rank = weft_comm_rank(w);
    int peer = rank ^ 1;
    uint32_t out[3] = {100u + rank, 200u + rank, 300u + rank};
    uint32_t in[3] = {0}, gate = 0, one = 1;
    weft__sched_t *s = sched_new(w, WEFT_UINT32, WEFT_SUM);
    int r0, r1, r2, late;

    if (rank % 2 == 0) {
        for (int i = 0; i < 3; i++) {
            weft__sched_send(s, &out[i], 4, peer);
        }
        weft__sched_recv(s, in, 4, peer);
    } else {
        /* the first receive is posted last: it waits for a local step
         * that waits for the third one */
        r0 = weft__sched_recv(s, &in[0], 4, peer);
        r1 = weft__sched_recv(s, &in[1], 4, peer);
        r2 = weft__sched_recv(s, &in[2], 4, peer);
        late = weft__sched_copy(s, &gate, &one, 4);
        weft__sched_dep(s, late, r2);
        weft__sched_dep(s, r0, late);
        weft__sched_dep(s, r1, late);
        weft__sched_send(s, &out[0], 4, peer);
    }
    WT_OK(sched_run(s));
    if (rank % 2 == 1) {
        for (int i = 0; i < 3; i++) {
            WT_CHECK(in[i] == (i + 1) * 100u + (uint32_t)peer,
                     "message %d: %u", i, in[i]);
        }
    } else {
        WT_CHECK(in[0] == 100u + (uint32_t)peer, "reply %u", in[0]);
    }
}

Test(coll_sched, messages_match_in_build_order)
{
    cr_assert_eq(wt_run_ranks(2, order_body, NULL), 0);
    cr_assert_eq(wt_run_ranks(4, order_body, NULL), 0);
}

/* ---- a wait-for-partition step holds its dependents ---------------------- */

static void
part_body(weft_context_t *ctx, weft_comm_t *w, void *arg)
{
    int32_t src = 7, dst = 0;
    weft__sched_t *s = sched_new(w, WEFT_INT32, WEFT_SUM);
    weft_request_t *req = NULL;
    int p, c, done = 0;

    p = weft__sched_wait_part(s, 3);
    c = weft__sched_copy(s, &dst, &src, 4);
    weft__sched_dep(s, c, p);
    WT_OK(weft__sched_start(s, "test", &req));
    pthread_mutex_unlock(&w->ctx->lock);
    for (int i = 0; i < 3; i++) {
        WT_OK(weft_progress(ctx));
    }
    WT_CHECK(dst == 0, "the copy ran before its partition was ready");
    pthread_mutex_lock(&w->ctx->lock);
    weft__sched_part_ready(s, 3);
    pthread_mutex_unlock(&w->ctx->lock);
    WT_OK(weft_test(req, &done));
    if (!done) {
        WT_OK(weft_wait(req));
    }
    WT_CHECK(dst == 7, "copy after the partition: %d", dst);
}

Test(coll_sched, partition_gates_its_dependents)
{
    cr_assert_eq(wt_run_ranks(1, part_body, NULL), 0);
}

/* ---- a message of the wrong size fails the comm and says so -------------- */

static void
size_body(weft_context_t *ctx, weft_comm_t *w, void *arg)
{
    int rank = weft_comm_rank(w);
    char buf[64] = {0};
    weft__sched_t *s = sched_new(w, WEFT_INT8, WEFT_SUM);
    weft_status_t st;

    if (rank == 0) {
        weft__sched_send(s, buf, 32, 1);
    } else {
        weft__sched_recv(s, buf, 16, 0);
    }
    st = sched_run(s);
    if (rank == 1) {
        WT_CHECK(st == WEFT_ERR_TRUNCATED, "status %s",
                 weft_status_string(st));
        WT_CHECK(strstr(weft_last_error(), "receive rank 0") != NULL &&
                     strstr(weft_last_error(), "different counts") != NULL,
                 "message: %s", weft_last_error());
        WT_CHECK(weft_comm_error(w, NULL, NULL) == WEFT_ERR_TRUNCATED,
                 "the comm keeps the error");
    }
}

Test(coll_sched, wrong_size_fails_the_comm)
{
    cr_assert_eq(wt_run_ranks(2, size_body, NULL), 0);
}

/* ---- a peer that never takes part: the deadline names the step ----------- */

static void
stall_body(weft_context_t *ctx, weft_comm_t *w, void *arg)
{
    int rank = weft_comm_rank(w);
    char buf[8];
    weft__sched_t *s;
    weft_status_t st;

    if (rank == 1) {
        usleep(1500 * 1000); /* never joins; outlives rank 0's deadline */
        return;
    }
    s = sched_new(w, WEFT_INT8, WEFT_SUM);
    weft__sched_recv(s, buf, sizeof(buf), 1);
    st = sched_run(s);
    WT_CHECK(st == WEFT_ERR_TIMED_OUT, "status %s", weft_status_string(st));
    WT_CHECK(strstr(weft_last_error(), "waits for rank 1 to send") !=
                 NULL,
             "message: %s", weft_last_error());
}

Test(coll_sched, deadline_names_the_waiting_step, .timeout = 30)
{
    wt_job_t job = {.nranks = 2, .timeout_s = 20,
                    .env = {"WEFT_TIMEOUT=500ms", NULL}};

    cr_assert_eq(wt_run(&job, stall_body, NULL), 0);
}

/* ---- a built schedule: the ring sends 2(n-1)/n of the buffer, to the right */

static size_t
ring_block(size_t count, int n, int b)
{
    size_t off, len;

    weft__block(count, n, b % n, &off, &len);
    return len;
}

static void
ring_shape_body(weft_context_t *ctx, weft_comm_t *w, void *arg)
{
    int n = weft_comm_size(w), rank = weft_comm_rank(w);
    int right = (rank + 1) % n;
    size_t count = 1000003, sent = 0, received = 0, expect;
    float *buf = calloc(count, sizeof(float));
    weft__coll_args_t a = {.coll = WEFT_COLL_ALLREDUCE, .sendbuf = buf,
                           .recvbuf = buf, .count = count,
                           .dtype = WEFT_FLOAT32, .op = WEFT_SUM,
                           .inplace = 1, .esize = sizeof(float)};
    weft__sched_t *s = sched_new(w, WEFT_FLOAT32, WEFT_SUM);

    WT_OK(weft__algo_allreduce_ring.build(s, &a));
    for (int i = 0; i < weft__sched_nsteps(s); i++) {
        weft__step_kind_t k = weft__sched_step_kind(s, i);

        if (k == WEFT_STEP_SEND) {
            WT_CHECK(weft__sched_step_peer(s, i) == right, "send to %d",
                     weft__sched_step_peer(s, i));
            sent += weft__sched_step_size(s, i);
        } else if (k == WEFT_STEP_RECV) {
            received += weft__sched_step_size(s, i);
        }
    }
    /* the reduce-scatter sends every block but r+1, the allgather every
     * block but r+2; what comes in is every block but r, then but r+1 */
    expect = 2 * count - ring_block(count, n, rank + 1) -
             ring_block(count, n, rank + 2);
    WT_CHECK(sent == expect * sizeof(float), "sent %zu, expected %zu", sent,
             expect * sizeof(float));
    expect = 2 * count - ring_block(count, n, rank) -
             ring_block(count, n, rank + 1);
    WT_CHECK(received == expect * sizeof(float),
             "received %zu, expected %zu", received, expect * sizeof(float));
    weft__sched_free(s);
    pthread_mutex_unlock(&w->ctx->lock);
    free(buf);
}

Test(coll_sched, ring_allreduce_moves_2_n_minus_1_over_n)
{
    cr_assert_eq(wt_run_ranks(3, ring_shape_body, NULL), 0);
    cr_assert_eq(wt_run_ranks(4, ring_shape_body, NULL), 0);
}
