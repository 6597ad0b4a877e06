/*
 * Collectives given bad input, and collectives that go wrong on the wire:
 *   - every bad argument is WEFT_ERR_INVALID_ARG with weft_last_error()
 *     naming it (dtype, op, avg on integers, NULL buffers and counts, root,
 *     overlapping buffers, alltoallv in place with different layouts,
 *     counts that overflow size_t, req_p, a destroyed or NULL comm), while
 *     NULL is fine with count 0 and for the buffers a rank does not use;
 *   - a forced algorithm that cannot run a call is WEFT_ERR_UNSUPPORTED
 *     naming it; an unknown one (weft_comm_set_algorithm or
 *     WEFT_<COLL>_ALGO) is WEFT_ERR_INVALID_ARG naming it;
 * (Ranks that disagree, and a rank killed mid-call: test_coll_faults.c.)
 */
#include "build_config.h"

#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <weft.h>

#include "coll_case.h"
#include "coll_errors.h"
#include "collectives/select.h"
#include "harness.h"

static void
er_check(weft_status_t st, weft_status_t want, const char *word,
         const char *call, int line)
{
    const char *msg = weft_last_error();

    WT_CHECK(st == want && (word == NULL || strstr(msg, word) != NULL),
             "line %d: %s returned %s (\"%s\"); want %s naming '%s'", line,
             call, weft_status_string(st), msg, weft_status_string(want),
             word ? word : "");
}

/* The call fails locally, before anything is sent. */
#define ER_ARG(_call, _word)                                                   \
    er_check((_call), WEFT_ERR_INVALID_ARG, (_word), #_call, __LINE__)
#define ER_OK(_call) er_check((_call), WEFT_OK, NULL, #_call, __LINE__)

/* ---- bad arguments (checked at every rank, nothing is sent) ---- */

static void
args_types(weft_comm_t *w)
{
    float s[64] = {0}, r[64 * 8];
    weft_request_t *q = NULL;
    size_t cnt[8] = {1, 1, 1, 1, 1, 1, 1, 1};
    size_t dsp[8] = {0, 1, 2, 3, 4, 5, 6, 7};
    const weft_dtype_t bad_dt = (weft_dtype_t)99, neg_dt = (weft_dtype_t)-1;
    const weft_op_t bad_op = (weft_op_t)42;

    ER_ARG(weft_allreduce(s, r, 4, bad_dt, WEFT_SUM, w), "dtype");
    ER_ARG(weft_allreduce(s, r, 4, neg_dt, WEFT_SUM, w), "dtype");
    ER_ARG(weft_iallreduce(s, r, 4, bad_dt, WEFT_SUM, w, &q), "dtype");
    ER_ARG(weft_reduce(s, r, 4, bad_dt, WEFT_SUM, 0, w), "dtype");
    ER_ARG(weft_broadcast(s, 4, bad_dt, 0, w), "dtype");
    ER_ARG(weft_allgather(s, r, 4, bad_dt, w), "dtype");
    ER_ARG(weft_allgatherv(s, 1, r, cnt, dsp, bad_dt, w), "dtype");
    ER_ARG(weft_reduce_scatter(s, r, 4, bad_dt, WEFT_SUM, w), "dtype");
    ER_ARG(weft_reduce_scatter_v(s, r, cnt, bad_dt, WEFT_SUM, w), "dtype");
    ER_ARG(weft_alltoall(s, r, 4, bad_dt, w), "dtype");
    ER_ARG(weft_alltoallv(s, cnt, dsp, r, cnt, dsp, bad_dt, w), "dtype");
    ER_ARG(weft_gather(s, r, 4, bad_dt, 0, w), "dtype");
    ER_ARG(weft_scatter(s, r, 4, bad_dt, 0, w), "dtype");

    ER_ARG(weft_allreduce(s, r, 4, WEFT_FLOAT32, bad_op, w), "op");
    ER_ARG(weft_allreduce(s, r, 4, WEFT_FLOAT32, (weft_op_t)-1, w), "op");
    ER_ARG(weft_reduce(s, r, 4, WEFT_INT32, bad_op, 0, w), "op");
    ER_ARG(weft_reduce_scatter(s, r, 4, WEFT_FLOAT32, bad_op, w), "op");
    ER_ARG(weft_reduce_scatter_v(s, r, cnt, WEFT_FLOAT32, bad_op, w), "op");
    ER_ARG(weft_ireduce_scatter(s, r, 4, WEFT_FLOAT64, bad_op, w, &q), "op");

    for (int dt = WEFT_INT8; dt <= WEFT_UINT64; dt++) {
        ER_ARG(weft_allreduce(s, r, 4, (weft_dtype_t)dt, WEFT_AVG, w), "avg");
        ER_ARG(weft_reduce(s, r, 4, (weft_dtype_t)dt, WEFT_AVG, 0, w), "avg");
        ER_ARG(weft_reduce_scatter(s, r, 4, (weft_dtype_t)dt, WEFT_AVG, w),
               "avg");
        ER_ARG(weft_reduce_scatter_v(s, r, cnt, (weft_dtype_t)dt, WEFT_AVG,
                                     w),
               "avg");
    }
    WT_CHECK(q == NULL, "a failed call wrote *req_p");
}

static void
args_buffers(weft_comm_t *w)
{
    int rank = weft_comm_rank(w), size = weft_comm_size(w);
    float s[64] = {0}, r[64 * 8] = {0};
    size_t cnt[8], dsp[8], z[8] = {0};
    const weft_dtype_t f = WEFT_FLOAT32;

    for (int k = 0; k < 8; k++) {
        cnt[k] = 2;
        dsp[k] = 2 * (size_t)k;
    }
    ER_ARG(weft_allreduce(NULL, r, 4, f, WEFT_SUM, w), "sendbuf");
    ER_ARG(weft_allreduce(s, NULL, 4, f, WEFT_SUM, w), "recvbuf");
    ER_ARG(weft_reduce(NULL, r, 4, f, WEFT_SUM, rank, w), "sendbuf");
    ER_ARG(weft_reduce(s, NULL, 4, f, WEFT_SUM, rank, w), "recvbuf");
    ER_ARG(weft_broadcast(NULL, 4, f, rank, w), "buf");
    ER_ARG(weft_broadcast(NULL, 4, f, (rank + 1) % size, w), "buf");
    ER_ARG(weft_allgather(NULL, r, 4, f, w), "sendbuf");
    ER_ARG(weft_allgather(s, NULL, 4, f, w), "recvbuf");
    ER_ARG(weft_allgatherv(NULL, 2, r, cnt, dsp, f, w), "sendbuf");
    ER_ARG(weft_allgatherv(s, 2, NULL, cnt, dsp, f, w), "recvbuf");
    ER_ARG(weft_reduce_scatter(NULL, r, 4, f, WEFT_SUM, w), "sendbuf");
    ER_ARG(weft_reduce_scatter(s, NULL, 4, f, WEFT_SUM, w), "recvbuf");
    ER_ARG(weft_reduce_scatter_v(NULL, r, cnt, f, WEFT_SUM, w), "sendbuf");
    ER_ARG(weft_reduce_scatter_v(s, NULL, cnt, f, WEFT_SUM, w), "recvbuf");
    ER_ARG(weft_alltoall(NULL, r, 4, f, w), "sendbuf");
    ER_ARG(weft_alltoall(s, NULL, 4, f, w), "recvbuf");
    ER_ARG(weft_alltoallv(NULL, cnt, dsp, r, cnt, dsp, f, w), "sendbuf");
    ER_ARG(weft_alltoallv(s, cnt, dsp, NULL, cnt, dsp, f, w), "recvbuf");
    ER_ARG(weft_gather(NULL, r, 4, f, rank, w), "sendbuf");
    ER_ARG(weft_gather(s, NULL, 4, f, rank, w), "recvbuf");
    ER_ARG(weft_scatter(NULL, r, 4, f, rank, w), "sendbuf");
    ER_ARG(weft_scatter(s, NULL, 4, f, rank, w), "recvbuf");
    ER_ARG(weft_scatter(s, NULL, 4, f, (rank + 1) % size, w), "recvbuf");
    ER_ARG(weft_gather(NULL, r, 4, f, (rank + 1) % size, w), "sendbuf");
    ER_ARG(weft_reduce(NULL, r, 4, f, WEFT_SUM, (rank + 1) % size, w),
           "sendbuf");

    /* NULL counts and displacements */
    ER_ARG(weft_allgatherv(s, 2, r, NULL, dsp, f, w), "recvcounts");
    ER_ARG(weft_allgatherv(s, 2, r, cnt, NULL, f, w), "displs");
    ER_ARG(weft_reduce_scatter_v(s, r, NULL, f, WEFT_SUM, w), "recvcounts");
    ER_ARG(weft_alltoallv(s, NULL, dsp, r, cnt, dsp, f, w), "sendcounts");
    ER_ARG(weft_alltoallv(s, cnt, NULL, r, cnt, dsp, f, w), "sdispls");
    ER_ARG(weft_alltoallv(s, cnt, dsp, r, NULL, dsp, f, w), "recvcounts");
    ER_ARG(weft_alltoallv(s, cnt, dsp, r, cnt, NULL, f, w), "rdispls");
    ER_ARG(weft_alltoallv(s, z, NULL, r, z, dsp, f, w), "sdispls");

    /* send and receive buffers that overlap without being the same */
    ER_ARG(weft_allreduce(r, r + 1, 8, f, WEFT_SUM, w), "overlap");
    ER_ARG(weft_allreduce(r + 3, r, 8, f, WEFT_SUM, w), "overlap");
    ER_ARG(weft_reduce(r, r + 2, 8, f, WEFT_MAX, rank, w), "overlap");
    ER_ARG(weft_allgather(r + 1, r, 2, f, w), "overlap");
    ER_ARG(weft_allgatherv(r + 1, 2, r, cnt, dsp, f, w), "overlap");
    ER_ARG(weft_reduce_scatter(r, r + 1, 2, f, WEFT_SUM, w), "overlap");
    ER_ARG(weft_reduce_scatter_v(r + 1, r, cnt, f, WEFT_SUM, w), "overlap");
    ER_ARG(weft_alltoall(r, r + 1, 2, f, w), "overlap");
    ER_ARG(weft_alltoallv(r, cnt, dsp, r + 1, cnt, dsp, f, w), "overlap");
    ER_ARG(weft_gather(r + 1, r, 2, f, rank, w), "overlap");
    ER_ARG(weft_scatter(r, r + 1, 2, f, rank, w), "overlap");
}

static void
args_layouts(weft_comm_t *w)
{
    int rank = weft_comm_rank(w), size = weft_comm_size(w);
    float s[64] = {0}, r[64] = {0};
    size_t cnt[8], dsp[8], cnt2[8], dsp2[8], big[8], one[8];
    const weft_dtype_t f = WEFT_FLOAT32;

    for (int k = 0; k < 8; k++) {
        cnt[k] = 2;
        dsp[k] = 2 * (size_t)k;
        cnt2[k] = k == 0 ? 1 : 2; /* differs at rank 0 */
        dsp2[k] = 2 * (size_t)k + 1; /* differs everywhere */
        big[k] = SIZE_MAX / 2 + 1;
        one[k] = 1;
    }
    /* alltoallv in place needs sendcounts == recvcounts, sdispls ==
     * rdispls */
    ER_ARG(weft_alltoallv(r, cnt, dsp, r, cnt2, dsp, f, w), "sendcounts");
    ER_ARG(weft_alltoallv(r, cnt2, dsp, r, cnt, dsp, f, w), "recvcounts");
    ER_ARG(weft_alltoallv(r, cnt, dsp, r, cnt, dsp2, f, w), "sdispls");

    /* counts whose sum (or extent) overflows size_t (one rank's count
     * alone cannot, except times the element size) */
    ER_ARG(weft_reduce_scatter_v(s, r, big, f, WEFT_SUM, w), "overflow");
    if (size > 1) {
        ER_ARG(weft_reduce_scatter_v(s, r, big, WEFT_UINT8, WEFT_SUM, w),
               "overflow");
    }
    if (size > 1) {
        size_t c[8], d[8];

        for (int k = 0; k < 8; k++) {
            c[k] = k == 1 ? SIZE_MAX - 1 : 1;
            d[k] = (size_t)k * 4;
            one[k] = k == rank ? c[k] : 1; /* the block to itself matches */
        }
        /* block 1 at displacement 4 ends past SIZE_MAX */
        ER_ARG(weft_allgatherv(s, c[rank], r, c, d, WEFT_UINT8, w),
               "overflow");
        ER_ARG(weft_alltoallv(s, c, d, r, one, dsp, WEFT_UINT8, w),
               "overflow");
        ER_ARG(weft_alltoallv(s, one, dsp, r, c, d, WEFT_UINT8, w),
               "overflow");
    }
    /* elements times element size, or times ranks, past SIZE_MAX */
    ER_ARG(weft_allreduce(s, r, SIZE_MAX / 2, f, WEFT_SUM, w), "overflow");
    ER_ARG(weft_broadcast(r, SIZE_MAX / 4, WEFT_INT64, 0, w), "overflow");
    if (size > 1) {
        ER_ARG(weft_allgather(s, r, SIZE_MAX / 2, WEFT_UINT8, w), "overflow");
        ER_ARG(weft_alltoall(s, r, SIZE_MAX / 2, WEFT_UINT8, w), "overflow");
        ER_ARG(weft_reduce_scatter(s, r, SIZE_MAX / 2, WEFT_UINT8, WEFT_SUM,
                                   w),
               "overflow");
        ER_ARG(weft_gather(s, r, SIZE_MAX / 2, WEFT_UINT8, rank, w),
               "overflow");
        ER_ARG(weft_scatter(s, r, SIZE_MAX / 2, WEFT_UINT8, rank, w),
               "overflow");
    }
    /* allgatherv: sendcount must be this rank's recvcount */
    ER_ARG(weft_allgatherv(s, 3, r, cnt, dsp, f, w), "sendcount");
}

static void
args_roots(weft_comm_t *w)
{
    int size = weft_comm_size(w);
    float s[64] = {0}, r[64 * 8];
    weft_request_t *q = NULL;
    const int bad[] = {-1, size, size + 7, INT32_MIN};

    for (int i = 0; i < 4; i++) {
        int root = bad[i];

        ER_ARG(weft_reduce(s, r, 4, WEFT_FLOAT32, WEFT_SUM, root, w), "root");
        ER_ARG(weft_ireduce(s, r, 4, WEFT_FLOAT32, WEFT_SUM, root, w, &q),
               "root");
        ER_ARG(weft_broadcast(r, 4, WEFT_FLOAT32, root, w), "root");
        ER_ARG(weft_ibroadcast(r, 4, WEFT_FLOAT32, root, w, &q), "root");
        ER_ARG(weft_gather(s, r, 4, WEFT_FLOAT32, root, w), "root");
        ER_ARG(weft_igather(s, r, 4, WEFT_FLOAT32, root, w, &q), "root");
        ER_ARG(weft_scatter(r, s, 4, WEFT_FLOAT32, root, w), "root");
        ER_ARG(weft_iscatter(r, s, 4, WEFT_FLOAT32, root, w, &q), "root");
        /* with count 0 as well: the root is still checked */
        ER_ARG(weft_broadcast(NULL, 0, WEFT_FLOAT32, root, w), "root");
    }
    WT_CHECK(q == NULL, "a failed call wrote *req_p");
}

static void
args_requests(weft_comm_t *w)
{
    float s[64] = {0}, r[64 * 8];
    size_t cnt[8] = {1, 1, 1, 1, 1, 1, 1, 1};
    size_t dsp[8] = {0, 1, 2, 3, 4, 5, 6, 7};
    const weft_dtype_t f = WEFT_FLOAT32;

    ER_ARG(weft_iallreduce(s, r, 4, f, WEFT_SUM, w, NULL), "req_p");
    ER_ARG(weft_ireduce(s, r, 4, f, WEFT_SUM, 0, w, NULL), "req_p");
    ER_ARG(weft_ibroadcast(r, 4, f, 0, w, NULL), "req_p");
    ER_ARG(weft_iallgather(s, r, 1, f, w, NULL), "req_p");
    ER_ARG(weft_iallgatherv(s, 1, r, cnt, dsp, f, w, NULL), "req_p");
    ER_ARG(weft_ireduce_scatter(s, r, 1, f, WEFT_SUM, w, NULL), "req_p");
    ER_ARG(weft_ireduce_scatter_v(s, r, cnt, f, WEFT_SUM, w, NULL), "req_p");
    ER_ARG(weft_ialltoall(s, r, 1, f, w, NULL), "req_p");
    ER_ARG(weft_ialltoallv(s, cnt, dsp, r, cnt, dsp, f, w, NULL), "req_p");
    ER_ARG(weft_igather(s, r, 1, f, 0, w, NULL), "req_p");
    ER_ARG(weft_iscatter(r, s, 1, f, 0, w, NULL), "req_p");
    ER_ARG(weft_ibarrier(w, NULL), "req_p");
}

/* Every collective on a comm, expecting the same error naming `word`. */
static void
args_every_call(weft_comm_t *c, const char *word)
{
    float s[64] = {0}, r[64 * 8];
    size_t cnt[8] = {1, 1, 1, 1, 1, 1, 1, 1};
    size_t dsp[8] = {0, 1, 2, 3, 4, 5, 6, 7};
    weft_request_t *q = NULL;
    const weft_dtype_t f = WEFT_FLOAT32;

    ER_ARG(weft_allreduce(s, r, 4, f, WEFT_SUM, c), word);
    ER_ARG(weft_iallreduce(s, r, 4, f, WEFT_SUM, c, &q), word);
    ER_ARG(weft_reduce(s, r, 4, f, WEFT_SUM, 0, c), word);
    ER_ARG(weft_broadcast(r, 4, f, 0, c), word);
    ER_ARG(weft_allgather(s, r, 1, f, c), word);
    ER_ARG(weft_allgatherv(s, 1, r, cnt, dsp, f, c), word);
    ER_ARG(weft_reduce_scatter(s, r, 1, f, WEFT_SUM, c), word);
    ER_ARG(weft_reduce_scatter_v(s, r, cnt, f, WEFT_SUM, c), word);
    ER_ARG(weft_alltoall(s, r, 1, f, c), word);
    ER_ARG(weft_alltoallv(s, cnt, dsp, r, cnt, dsp, f, c), word);
    ER_ARG(weft_gather(s, r, 1, f, 0, c), word);
    ER_ARG(weft_scatter(r, s, 1, f, 0, c), word);
    ER_ARG(weft_barrier(c), word);
    ER_ARG(weft_ibarrier(c, &q), word);
    ER_ARG(weft_comm_set_algorithm(c, "allreduce", NULL), word);
    WT_CHECK(q == NULL, "a failed call wrote *req_p");
}

static void
args_comms(weft_comm_t *w)
{
    weft_comm_t *d = NULL;

    args_every_call(NULL, "comm");
    WT_OK(weft_comm_dup(w, &d));
    if (d == NULL) {
        return;
    }
    WT_OK(weft_comm_destroy(d));
    args_every_call(d, "destroyed");
    /* unknown names for weft_comm_set_algorithm */
    ER_ARG(weft_comm_set_algorithm(w, "allreduce", "no_such_algo"),
           "no_such_algo");
    ER_ARG(weft_comm_set_algorithm(w, "allreduse", "ring"), "allreduse");
    ER_ARG(weft_comm_set_algorithm(w, NULL, "ring"), "collective");
    WT_OK(weft_comm_set_algorithm(w, "allreduce", "auto"));
    WT_OK(weft_comm_set_algorithm(w, "allreduce", NULL));
}

/* A call that passed leaves its arguments with the comm, so the same
 * call again passes without the check: one argument changed from a call
 * that passed is checked all the same (and the good call still runs). */
static void
args_after_good_calls(weft_comm_t *w)
{
    int size = weft_comm_size(w);
    float s[64] = {0}, r[64 * 8] = {0};
    const weft_dtype_t f = WEFT_FLOAT32;

    /* each bad call differs from the good one before it in one argument */
    for (int k = 0; k < 2; k++) {
        ER_OK(weft_allreduce(s, r, 4, f, WEFT_AVG, w));
        ER_ARG(weft_allreduce(s, r, 4, WEFT_INT32, WEFT_AVG, w), "avg");
        ER_OK(weft_allreduce(s, r, 4, WEFT_INT32, WEFT_SUM, w));
        ER_ARG(weft_allreduce(s, r, 4, WEFT_INT32, WEFT_AVG, w), "avg");
        ER_ARG(weft_allreduce(NULL, r, 4, WEFT_INT32, WEFT_SUM, w), "sendbuf");
        ER_ARG(weft_allreduce(s, s + 1, 4, WEFT_INT32, WEFT_SUM, w), "overlap");
        ER_OK(weft_broadcast(r, 4, f, 0, w));
        ER_ARG(weft_broadcast(r, 4, f, size, w), "root");
        ER_OK(weft_alltoall(s, r, 2, f, w));
        ER_ARG(weft_alltoall(s, r, SIZE_MAX / 2, f, w), "overflow");
    }
}

static void
args_body(weft_context_t *ctx, weft_comm_t *w, void *arg)
{
    (void)ctx;
    (void)arg;
    args_types(w);
    args_buffers(w);
    args_layouts(w);
    args_roots(w);
    args_requests(w);
    args_comms(w);
    args_after_good_calls(w);
    /* nothing bad was started by any of it: the comm still works */
    WT_CHECK(weft_comm_error(w, NULL, NULL) == WEFT_OK, "comm failed");
}

Test(coll_errors, bad_arguments_name_the_argument, .timeout = 60)
{
    wt_job_t job = {.nranks = ER_NRANKS, .timeout_s = 40,
                    .env = {"WEFT_TIMEOUT=5s"}};

    cr_assert_eq(wt_run(&job, args_body, NULL), 0,
                 "%d ranks: see the log for the calls", ER_NRANKS);
}

Test(coll_errors, bad_arguments_one_rank, .timeout = 60)
{
    wt_job_t job = {.nranks = 1, .timeout_s = 40,
                    .env = {"WEFT_TIMEOUT=5s"}};

    cr_assert_eq(wt_run(&job, args_body, NULL), 0,
                 "1 rank: see the log for the calls");
}

/* ---- NULL where nothing is read or written (real calls) ---- */

static int
null_avail(weft__coll_t coll, size_t count, int root, weft_comm_t *w)
{
    wt_case_t c = {.coll = coll, .algo = -1, .dt = WEFT_FLOAT32,
                   .op = wt_coll_reduces(coll) ? WEFT_SUM : -1,
                   .count = count, .root = root, .seq = 2};

    return wt_case_available(&c, w);
}

static void
null_body(weft_context_t *ctx, weft_comm_t *w, void *arg)
{
    er_shared_t *sh = arg;
    int rank = weft_comm_rank(w), size = weft_comm_size(w), skipped = 0;
    int root = size - 1;
    size_t z[8] = {0};
    float s[16], r[16 * 8];
    const weft_dtype_t f = WEFT_FLOAT32;

    (void)ctx;
    for (int i = 0; i < 16; i++) {
        s[i] = (float)(rank + i);
    }
#define NULL_CALL(_coll, _count, _call)                                        \
    do {                                                                       \
        if (null_avail((_coll), (_count), root, w)) {                          \
            ER_OK(_call);                                                      \
        } else {                                                               \
            skipped++;                                                         \
        }                                                                      \
    } while (0)
    NULL_CALL(WEFT_COLL_ALLREDUCE, 0,
              weft_allreduce(NULL, NULL, 0, f, WEFT_SUM, w));
    NULL_CALL(WEFT_COLL_REDUCE, 0,
              weft_reduce(NULL, NULL, 0, f, WEFT_SUM, root, w));
    NULL_CALL(WEFT_COLL_BROADCAST, 0, weft_broadcast(NULL, 0, f, root, w));
    NULL_CALL(WEFT_COLL_ALLGATHER, 0, weft_allgather(NULL, NULL, 0, f, w));
    NULL_CALL(WEFT_COLL_ALLGATHERV, 0,
              weft_allgatherv(NULL, 0, NULL, z, z, f, w));
    NULL_CALL(WEFT_COLL_REDUCE_SCATTER, 0,
              weft_reduce_scatter(NULL, NULL, 0, f, WEFT_SUM, w));
    NULL_CALL(WEFT_COLL_REDUCE_SCATTER_V, 0,
              weft_reduce_scatter_v(NULL, NULL, z, f, WEFT_SUM, w));
    NULL_CALL(WEFT_COLL_ALLTOALL, 0, weft_alltoall(NULL, NULL, 0, f, w));
    NULL_CALL(WEFT_COLL_ALLTOALLV, 0,
              weft_alltoallv(NULL, z, z, NULL, z, z, f, w));
    NULL_CALL(WEFT_COLL_GATHER, 0, weft_gather(NULL, NULL, 0, f, root, w));
    NULL_CALL(WEFT_COLL_SCATTER, 0,
              weft_scatter(NULL, NULL, 0, f, root, w));
    /* the buffers only the root uses may be NULL elsewhere */
    NULL_CALL(WEFT_COLL_REDUCE, 16,
              weft_reduce(s, rank == root ? r : NULL, 16, f, WEFT_MAX, root,
                          w));
    if (rank == root && null_avail(WEFT_COLL_REDUCE, 16, root, w)) {
        for (int i = 0; i < 16; i++) {
            WT_CHECK(r[i] == (float)(size - 1 + i), "reduce max [%d]: %g", i,
                     r[i]);
        }
    }
    NULL_CALL(WEFT_COLL_GATHER, 16,
              weft_gather(s, rank == root ? r : NULL, 16, f, root, w));
    NULL_CALL(WEFT_COLL_SCATTER, 16,
              weft_scatter(rank == root ? r : NULL, s, 16, f, root, w));
#undef NULL_CALL
    if (rank == 0 && skipped > 0) {
        snprintf(sh->note, sizeof(sh->note),
                 "%d of 14 calls skipped: no written algorithm yet", skipped);
    }
}

Test(coll_errors, null_buffers_fine_where_unused, .timeout = 120)
{
    static const int ranks[] = {1, 2, 3};

    for (int i = 0; i < 3; i++) {
        er_shared_t *sh = er_shared_new();
        wt_job_t job = {.nranks = ranks[i], .timeout_s = 60,
                        .env = {"WEFT_TIMEOUT=10s"}};

        cr_expect_eq(wt_run(&job, null_body, sh), 0, "%d ranks", ranks[i]);
        if (sh->note[0]) {
            er_note("%d ranks: %s", ranks[i], sh->note);
        }
        munmap(sh, sizeof(*sh));
    }
}

/* ---- forced algorithms that cannot run a call ---- */

/* Find a call that a written algorithm refuses at this rank and force
 * it: the call fails here, before anything is sent, naming the
 * algorithm. Only refusals at this rank are called, so no rank waits on
 * another. */
static void
refuse_body(weft_context_t *ctx, weft_comm_t *w, void *arg)
{
    er_shared_t *sh = arg;
    static const size_t counts[] = {0, 1, 7, 1000};
    static const weft_dtype_t dts[] = {WEFT_FLOAT32, WEFT_INT8, WEFT_FLOAT16,
                                       WEFT_FLOAT64};
    int size = weft_comm_size(w), found = 0;
    char desc[256];

    (void)ctx;
    for (int coll = 0; coll < WEFT_COLL_COUNT && found < 4; coll++) {
        const weft__algo_t *const *algos = weft__algos((weft__coll_t)coll);
        const char *cname = weft__coll_name((weft__coll_t)coll);

        for (int ai = 0; algos[ai] != NULL && found < 4; ai++) {
            for (int k = 0; k < 4 * 4 * 2 * 2; k++) {
                wt_case_t c = {
                    .coll = (weft__coll_t)coll, .algo = ai,
                    .dt = dts[k % 4], .count = counts[(k / 4) % 4],
                    .inplace = (k / 16) % 2 && wt_coll_has_inplace(coll),
                    .root = (k / 32) % 2 ? size - 1 : 0,
                    .op = wt_coll_reduces(coll) ? WEFT_SUM : -1,
                    .nb = k % 2, .seq = (uint64_t)k + 1};
                wt_case_run_t x;
                const char *why;
                weft_status_t st;

                if (wt_case_setup(&x, &c, w) != 0) {
                    wt_case_free(&x);
                    return;
                }
                why = wt_case_supported(&x, w);
                if (why == NULL || strstr(why, "not written yet") != NULL) {
                    wt_case_free(&x);
                    continue;
                }
                WT_OK(weft_comm_set_algorithm(w, cname, algos[ai]->name));
                wt_case_desc(&c, size, desc, sizeof(desc));
                st = wt_case_start(&x, w);
                WT_CHECK(st == WEFT_ERR_UNSUPPORTED &&
                             strstr(weft_last_error(), algos[ai]->name) &&
                             strstr(weft_last_error(), cname),
                         "%s (refused: %s) returned %s (\"%s\"); want "
                         "WEFT_ERR_UNSUPPORTED naming %s",
                         desc, why, weft_status_string(st), weft_last_error(),
                         algos[ai]->name);
                WT_CHECK(x.req == NULL, "%s: a request came back", desc);
                if (st == WEFT_OK) {
                    wt_case_finish(&x);
                }
                WT_OK(weft_comm_set_algorithm(w, cname, NULL));
                if (weft_comm_rank(w) == 0 && !found) {
                    snprintf(sh->note, sizeof(sh->note), "%s: %s", desc, why);
                }
                wt_case_free(&x);
                found++;
                break; /* one case per algorithm is enough */
            }
        }
    }
    if (weft_comm_rank(w) == 0 && found) {
        sh->flags |= ER_FOUND_REFUSAL;
    }
    WT_CHECK(weft_comm_error(w, NULL, NULL) == WEFT_OK,
             "a refused call failed the comm");
}

Test(coll_errors, forced_algorithm_that_cannot_run_is_unsupported,
     .timeout = 120)
{
    static const int ranks[] = {3, 5, 6};
    int found = 0;

    for (int i = 0; i < 3; i++) {
        er_shared_t *sh = er_shared_new();
        wt_job_t job = {.nranks = ranks[i], .timeout_s = 60,
                        .env = {"WEFT_TIMEOUT=5s"}};

        cr_expect_eq(wt_run(&job, refuse_body, sh), 0, "%d ranks",
                     ranks[i]);
        if (sh->flags & ER_FOUND_REFUSAL) {
            cr_log_info("%d ranks: e.g. %s", ranks[i], sh->note);
            found++;
        }
        munmap(sh, sizeof(*sh));
    }
    if (!found) {
        er_note("no written algorithm refuses any call tried (3, "
                    "5, 6 ranks); only unknown names are tested");
    }
}

/* WEFT_<COLL>_ALGO naming an unknown algorithm: INVALID_ARG naming it and
 * the variable; a known one is used. */
static void
unknown_env_body(weft_context_t *ctx, weft_comm_t *w, void *arg)
{
    float s[4] = {1, 2, 3, 4}, r[4 * 8];

    (void)ctx;
    (void)arg;
    ER_ARG(weft_allreduce(s, r, 4, WEFT_FLOAT32, WEFT_SUM, w),
           "no_such_algo");
    ER_ARG(weft_allreduce(s, r, 4, WEFT_FLOAT32, WEFT_SUM, w),
           "WEFT_ALLREDUCE_ALGO");
    ER_ARG(weft_allgather(s, r, 4, WEFT_FLOAT32, w), "bogus");
    /* weft_comm_set_algorithm overrides the variable */
    WT_OK(weft_comm_set_algorithm(w, "allreduce", "ring"));
    WT_OK(weft_allreduce(s, r, 4, WEFT_FLOAT32, WEFT_SUM, w));
    WT_CHECK(r[3] == 4.0f * (float)weft_comm_size(w), "sum %g", r[3]);
}

Test(coll_errors, unknown_algorithm_in_the_environment, .timeout = 60)
{
    wt_job_t job = {.nranks = 2, .timeout_s = 40,
                    .env = {"WEFT_TIMEOUT=5s",
                            "WEFT_ALLREDUCE_ALGO=no_such_algo",
                            "WEFT_ALLGATHER_ALGO=bogus"}};

    cr_assert_eq(wt_run(&job, unknown_env_body, NULL), 0);
}
