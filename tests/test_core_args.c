/*
 * Bad input: every public call validates its arguments and answers
 * WEFT_ERR_INVALID_ARG with a message naming the argument; never a crash.
 * These run in a job of one rank (no launcher).
 */
#include "build_config.h"

#include <criterion/criterion.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <weft.h>

static weft_context_t *ctx;
static weft_comm_t *world;

static void
setup(void)
{
    cr_assert_eq(weft_context_create(NULL, &ctx), WEFT_OK, "%s",
                 weft_last_error());
    cr_assert_eq(weft_comm_world(ctx, &world), WEFT_OK);
}

static void
teardown(void)
{
    weft_context_destroy(ctx);
}

#define EXPECT_BAD(_call, _needle)                                             \
    do {                                                                       \
        weft_status_t _st = (_call);                                           \
        cr_assert_eq(_st, WEFT_ERR_INVALID_ARG, "%s returned %s", #_call,     \
                     weft_status_string(_st));                                 \
        cr_assert_not_null(strstr(weft_last_error(), _needle),                 \
                           "%s: message '%s' does not mention '%s'", #_call,  \
                           weft_last_error(), _needle);                        \
    } while (0)

TestSuite(core_args, .init = setup, .fini = teardown, .timeout = 20);

Test(core_args, singleton_job_without_launcher)
{
    cr_assert_eq(weft_comm_rank(world), 0);
    cr_assert_eq(weft_comm_size(world), 1);
    cr_assert_eq(weft_context_rank(ctx), 0);
    cr_assert_eq(weft_context_size(ctx), 1);
}

Test(core_args, p2p_arguments)
{
    char buf[8] = {0};
    weft_request_t *req = NULL;

    EXPECT_BAD(weft_send(buf, 8, 0, 0, NULL), "comm is NULL");
    EXPECT_BAD(weft_send(buf, 8, 1, 0, world), "peer 1 out of range");
    EXPECT_BAD(weft_send(buf, 8, -1, 0, world), "peer -1");
    EXPECT_BAD(weft_send(buf, 8, 0, -3, world), "tag -3");
    EXPECT_BAD(weft_send(NULL, 8, 0, 0, world), "buffer is NULL");
    EXPECT_BAD(weft_recv(NULL, 1, 0, 0, world, NULL), "buffer is NULL");
    EXPECT_BAD(weft_send(buf, SIZE_MAX, 0, 0, world), "bytes");
    EXPECT_BAD(weft_isend(buf, 8, 0, 0, world, NULL), "req_p");
    EXPECT_BAD(weft_irecv(buf, 8, 0, 0, world, NULL), "req_p");
    EXPECT_BAD(weft_sendrecv(buf, 8, 0, 0, buf, 8, 5, 0, world), "peer 5");
    EXPECT_BAD(weft_comm_split(world, 0, 0, NULL), "newcomm_p");
    EXPECT_BAD(weft_comm_dup(NULL, NULL), "comm is NULL");
    EXPECT_BAD(weft_comm_world(NULL, NULL), "context is NULL");
    EXPECT_BAD(weft_comm_abort(world, WEFT_OK), "not an error status");
    EXPECT_BAD(weft_comm_abort(world, (weft_status_t)5), "not an error");
    EXPECT_BAD(weft_comm_destroy(world), "world");
    EXPECT_BAD(weft_wait(NULL), "request is NULL");
    EXPECT_BAD(weft_test(NULL, NULL), "request is NULL");
    EXPECT_BAD(weft_waitall(3, NULL), "reqs is NULL");
    cr_assert_eq(weft_waitall(0, NULL), WEFT_OK);
    /* a zero-byte message may have a NULL buffer */
    cr_assert_eq(weft_isend(NULL, 0, 0, 0, world, &req), WEFT_OK);
    cr_assert_eq(weft_recv(NULL, 0, 0, 0, world, NULL), WEFT_OK);
    cr_assert_eq(weft_wait(req), WEFT_OK);
    /* the request was freed by wait: using it again is caught */
    EXPECT_BAD(weft_wait(req), "not a live request");
    EXPECT_BAD(weft_test(req, &(int){0}), "not a live request");
    weft_request_free(NULL);
    cr_assert_eq(weft_comm_rank(NULL), -1);
    cr_assert_eq(weft_comm_size(NULL), -1);
    cr_assert_eq(weft_progress(NULL), 0);
}

Test(core_args, comm_error_outputs_are_always_written)
{
    int origin = 5;
    const char *msg = NULL;

    cr_assert_eq(weft_comm_error(world, &origin, &msg), WEFT_OK);
    cr_assert_eq(origin, -1);
    cr_assert_str_eq(msg, "");
    origin = 5;
    msg = NULL;
    cr_assert_eq(weft_comm_error(NULL, &origin, &msg), WEFT_ERR_INVALID_ARG);
    cr_assert_eq(origin, -1);
    cr_assert_str_eq(msg, "");
}

Test(core_args, abort_is_sticky_and_cancels_pending)
{
    weft_comm_t *d = NULL;
    weft_request_t *req = NULL;
    int v = 0, origin = -2;
    const char *msg = NULL;

    cr_assert_eq(weft_comm_dup(world, &d), WEFT_OK);
    cr_assert_eq(weft_irecv(&v, sizeof(v), 0, 1, d, &req), WEFT_OK);
    EXPECT_BAD(weft_comm_destroy(d), "pending");
    cr_assert_eq(weft_comm_abort(d, WEFT_ERR_ABORTED), WEFT_OK);
    cr_assert_eq(weft_wait(req), WEFT_ERR_ABORTED);
    cr_assert_eq(weft_send(&v, sizeof(v), 0, 0, d), WEFT_ERR_ABORTED);
    cr_assert_eq(weft_comm_error(d, &origin, &msg), WEFT_ERR_ABORTED);
    cr_assert_eq(origin, 0);
    cr_assert_not_null(strstr(msg, "aborted by rank 0"), "%s", msg);
    cr_assert_eq(weft_comm_destroy(d), WEFT_OK);
    /* world is untouched */
    cr_assert_eq(weft_comm_error(world, NULL, NULL), WEFT_OK);
}

/* A blocking receive has no request: another thread's weft_comm_destroy
 * must still see it pending, and an abort must still reach it. */
typedef struct blocked {
    weft_comm_t *comm;
    int sendrecv; /* weft_sendrecv rather than weft_recv */
    int v;
    volatile int entering;
    weft_status_t st;
    char msg[256];
} blocked_t;

static void *
blocked_main(void *arg)
{
    blocked_t *b = arg;

    b->entering = 1;
    if (b->sendrecv) { /* its send to this rank completes; not its receive */
        b->st = weft_sendrecv(&b->sendrecv, sizeof(int), 0, 8, &b->v,
                              sizeof(b->v), 0, 7, b->comm);
    } else {
        b->st = weft_recv(&b->v, sizeof(b->v), 0, 7, b->comm, NULL);
    }
    snprintf(b->msg, sizeof(b->msg), "%s", weft_last_error());
    return NULL;
}

static void
blocked_start(blocked_t *b, pthread_t *t)
{
    cr_assert_eq(weft_comm_dup(world, &b->comm), WEFT_OK);
    cr_assert_eq(pthread_create(t, NULL, blocked_main, b), 0);
    while (!b->entering) {
        usleep(1000);
    }
    usleep(100 * 1000); /* inside weft_recv's wait by now */
}

Test(core_args, blocking_receive_keeps_its_comm)
{
    blocked_t b = {0};
    pthread_t t;
    int v = 42;

    blocked_start(&b, &t);
    EXPECT_BAD(weft_comm_destroy(b.comm), "1 requests on comm");
    cr_assert_eq(weft_send(&v, sizeof(v), 0, 7, b.comm), WEFT_OK);
    cr_assert_eq(pthread_join(t, NULL), 0);
    cr_assert_eq(b.st, WEFT_OK, "%s: %s", weft_status_string(b.st), b.msg);
    cr_assert_eq(b.v, 42);
    cr_assert_eq(weft_comm_destroy(b.comm), WEFT_OK);
}

static void
abort_blocked(int sendrecv)
{
    blocked_t b = {.sendrecv = sendrecv};
    pthread_t t;
    int v = 42;

    struct timespec t0, t1;

    blocked_start(&b, &t);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    cr_assert_eq(weft_comm_abort(b.comm, WEFT_ERR_ABORTED), WEFT_OK);
    cr_assert_eq(pthread_join(t, NULL), 0);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    /* at once, not at the comm's deadline */
    cr_assert_lt(t1.tv_sec - t0.tv_sec, 2);
    cr_assert_eq(b.st, WEFT_ERR_ABORTED, "%s", weft_status_string(b.st));
    cr_assert_not_null(strstr(b.msg, "aborted by rank 0"), "%s", b.msg);
    /* world still works: the lock was let go, the op withdrawn */
    cr_assert_eq(weft_send(&v, sizeof(v), 0, 7, world), WEFT_OK);
    v = 0;
    cr_assert_eq(weft_recv(&v, sizeof(v), 0, 7, world, NULL), WEFT_OK);
    cr_assert_eq(v, 42);
    cr_assert_eq(weft_comm_destroy(b.comm), WEFT_OK);
}

Test(core_args, abort_reaches_a_blocking_receive)
{
    abort_blocked(0);
    abort_blocked(1);
}

Test(core_args, request_free_cancels_a_pending_receive)
{
    char buf[16];
    weft_request_t *req = NULL;

    memset(buf, 0x5a, sizeof(buf));
    cr_assert_eq(weft_irecv(buf, sizeof(buf), 0, 3, world, &req), WEFT_OK);
    weft_request_free(req);
    /* the cancelled receive must not take this message */
    cr_assert_eq(weft_send("hello", 6, 0, 3, world), WEFT_OK);
    for (size_t i = 0; i < sizeof(buf); i++) {
        cr_assert_eq(buf[i], 0x5a);
    }
    cr_assert_eq(weft_recv(buf, sizeof(buf), 0, 3, world, NULL), WEFT_OK);
    cr_assert_str_eq(buf, "hello");
}

Test(core_args, context_params_are_checked)
{
    weft_context_t *c = NULL;
    weft_context_params_t p = {0};

    EXPECT_BAD(weft_context_create(NULL, NULL), "ctx_p");
    p.field_mask = 1u << 20;
    EXPECT_BAD(weft_context_create(&p, &c), "field_mask");
    p.field_mask = WEFT_CONTEXT_PARAM_SIZE;
    p.size = 0;
    EXPECT_BAD(weft_context_create(&p, &c), "params->size");
    p.field_mask = WEFT_CONTEXT_PARAM_SIZE | WEFT_CONTEXT_PARAM_RANK;
    p.size = 2;
    p.rank = 2;
    EXPECT_BAD(weft_context_create(&p, &c), "rank 2 out of range");
    p.rank = 0;
    EXPECT_BAD(weft_context_create(&p, &c), "WEFT_RENDEZVOUS");
    p.field_mask |= WEFT_CONTEXT_PARAM_RENDEZVOUS;
    p.rendezvous = "";
    EXPECT_BAD(weft_context_create(&p, &c), "rendezvous is empty");
    p.rendezvous = "127.0.0.1:1";
    EXPECT_BAD(weft_context_create(&p, &c), "job key");
    p.field_mask |= WEFT_CONTEXT_PARAM_JOB_KEY;
    p.job_key = "xyz";
    cr_assert_eq(weft_context_create(&p, &c), WEFT_ERR_INVALID_ARG);
    p.field_mask = WEFT_CONTEXT_PARAM_TIMEOUT;
    p.timeout_s = -1;
    EXPECT_BAD(weft_context_create(&p, &c), "timeout_s");
    cr_assert_null(c);
}
