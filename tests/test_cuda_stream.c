/*
 * Stream-ordered CUDA collectives (weft/cuda.h) at 2 and 4 ranks, which
 * share the GPUs there are (rank % device count): every collective over
 * dtypes and sizes (0, 1, 1000, 1 MiB + odd, 16 MiB) against a host
 * reference, element by element; several collectives queued back to back
 * before one synchronize; work queued behind a collective sees its
 * result; bad arguments; a comm aborted by a peer releases the stream.
 * Without a CUDA device every test skips.
 */
#include "build_config.h"

#include <criterion/criterion.h>
#include <cuda_runtime_api.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <weft.h>
#include <weft/cuda.h>

#include "coll_ref.h"   /* wt_f32_to_f16, wt_f32_to_bf16 */
#include "cuda/proxy.h" /* weft__cuda_force_wait_kernel */
#include "harness.h"

/* ---- a GPU or a skip --------------------------------------------------- */

/* Asked in a child: CUDA must not start in this process before the
 * harness forks the ranks. */
static int
cs_gpu_count(void)
{
    int status = 0;
    pid_t pid = fork();

    if (pid == 0) {
        int n = 0;

        if (cudaGetDeviceCount(&n) != cudaSuccess) {
            n = 0;
        }
        _exit(n > 100 ? 100 : n);
    }
    if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status)) {
        return 0;
    }
    return WEXITSTATUS(status);
}

#define CS_REQUIRE_GPU()                                                       \
    do {                                                                       \
        if (cs_gpu_count() <= 0) {                                             \
            cr_skip_test("no CUDA device here (cudaGetDeviceCount found "      \
                         "none): stream collectives need one");                \
        }                                                                      \
    } while (0)

static const int cs_ranks[] = {2, 4};

static void
cs_run(wt_rank_fn_t fn, void *arg, const char *what)
{
    for (int i = 0; i < 2; i++) {
        wt_job_t job = {
            .nranks = cs_ranks[i],
            .timeout_s = 200,
            .env = {"WEFT_TIMEOUT=20s", "WEFT_LOG_LEVEL=error", NULL}};

        cr_expect_eq(wt_run(&job, fn, arg), 0, "%s, %d ranks", what,
                     cs_ranks[i]);
    }
}

#define CS_CUDA(_expr)                                                         \
    do {                                                                       \
        cudaError_t _e = (_expr);                                              \
        WT_CHECK(_e == cudaSuccess, "%s: %s", #_expr, cudaGetErrorString(_e)); \
    } while (0)

/* In a rank: the rank's device and a stream on it. */
static cudaStream_t
cs_setup(weft_comm_t *w)
{
    cudaStream_t s = NULL;
    int ndev = 0;

    CS_CUDA(cudaGetDeviceCount(&ndev));
    if (ndev > 0) {
        CS_CUDA(cudaSetDevice(weft_comm_rank(w) % ndev));
    }
    CS_CUDA(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
    return s;
}

static double
cs_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---- values and the reference ------------------------------------------ */

/* Small integers: exact in every type, and so are their sums, maxima and
 * (for 2 and 4 ranks) averages. */
static double
cs_val(int rank, size_t i, int seq)
{
    return (double)((unsigned)(rank * 7 + (int)(i % 9973) * 3 + seq * 5) % 17) -
           8.0;
}

static void
cs_put(weft_dtype_t dt, void *buf, size_t i, double v)
{
    switch (dt) {
    case WEFT_INT32:
        ((int32_t *)buf)[i] = (int32_t)v;
        break;
    case WEFT_UINT32:
        ((uint32_t *)buf)[i] = (uint32_t)(int64_t)v;
        break;
    case WEFT_FLOAT32:
        ((float *)buf)[i] = (float)v;
        break;
    case WEFT_FLOAT16:
        ((uint16_t *)buf)[i] = wt_f32_to_f16((float)v);
        break;
    case WEFT_BFLOAT16:
        ((uint16_t *)buf)[i] = wt_f32_to_bf16((float)v);
        break;
    default:
        break;
    }
}

static double
cs_reduce(weft_op_t op, int n, size_t i, int seq, size_t blockoff)
{
    double acc = cs_val(0, blockoff + i, seq);

    for (int r = 1; r < n; r++) {
        double v = cs_val(r, blockoff + i, seq);

        switch (op) {
        case WEFT_SUM:
        case WEFT_AVG:
            acc += v;
            break;
        case WEFT_PROD:
            acc *= v;
            break;
        case WEFT_MIN:
            acc = v < acc ? v : acc;
            break;
        case WEFT_MAX:
            acc = v > acc ? v : acc;
            break;
        default:
            break;
        }
    }
    return op == WEFT_AVG ? acc / n : acc;
}

/* ---- one collective, checked ------------------------------------------- */

typedef enum {
    CS_ALLREDUCE,
    CS_REDUCE,
    CS_BROADCAST,
    CS_ALLGATHER,
    CS_REDUCE_SCATTER,
    CS_ALLTOALL
} cs_coll_t;

static const char *const cs_coll_names[] = {"allreduce",      "reduce",
                                            "broadcast",      "allgather",
                                            "reduce_scatter", "alltoall"};

typedef struct cs_case {
    cs_coll_t coll;
    weft_dtype_t dtype;
    weft_op_t op;
    size_t count;
    int inplace;
    int seq;
} cs_case_t;

static weft_status_t
cs_issue(const cs_case_t *c, const void *s, void *r, int root, weft_comm_t *w,
         cudaStream_t st)
{
    switch (c->coll) {
    case CS_ALLREDUCE:
        return weft_allreduce_stream(s, r, c->count, c->dtype, c->op, w, st);
    case CS_REDUCE:
        return weft_reduce_stream(s, r, c->count, c->dtype, c->op, root, w, st);
    case CS_BROADCAST:
        return weft_broadcast_stream(r, c->count, c->dtype, root, w, st);
    case CS_ALLGATHER:
        return weft_allgather_stream(s, r, c->count, c->dtype, w, st);
    case CS_REDUCE_SCATTER:
        return weft_reduce_scatter_stream(s, r, c->count, c->dtype, c->op, w,
                                          st);
    case CS_ALLTOALL:
        return weft_alltoall_stream(s, r, c->count, c->dtype, w, st);
    }
    return WEFT_ERR_INTERNAL;
}

/* Element counts of the input and output buffers at this rank. */
static void
cs_extents(const cs_case_t *c, int me, int n, int root, size_t *sc_p,
           size_t *rc_p)
{
    size_t k = c->count, nn = (size_t)n;

    switch (c->coll) {
    case CS_ALLREDUCE:
    case CS_BROADCAST:
        *sc_p = *rc_p = k;
        break;
    case CS_REDUCE:
        *sc_p = k;
        *rc_p = me == root ? k : 0;
        break;
    case CS_ALLGATHER:
        *sc_p = k;
        *rc_p = k * nn;
        break;
    case CS_REDUCE_SCATTER:
        *sc_p = k * nn;
        *rc_p = c->inplace ? k * nn : k;
        break;
    case CS_ALLTOALL:
        *sc_p = *rc_p = k * nn;
        break;
    }
}

/* The input of rank `r` (element i of its send buffer). */
static double
cs_input(const cs_case_t *c, int r, size_t i)
{
    return cs_val(r, i, c->seq);
}

/* Expected output element i at rank me; *skip_p: not checked. */
static double
cs_expect(const cs_case_t *c, int me, int n, int root, size_t i)
{
    size_t k = c->count;

    switch (c->coll) {
    case CS_ALLREDUCE:
    case CS_REDUCE:
        return cs_reduce(c->op, n, i, c->seq, 0);
    case CS_BROADCAST:
        return cs_input(c, root, i);
    case CS_ALLGATHER:
        return cs_input(c, (int)(i / k), i % k);
    case CS_REDUCE_SCATTER:
        return cs_reduce(c->op, n, i, c->seq, (size_t)me * k);
    case CS_ALLTOALL:
        return cs_input(c, (int)(i / k), (size_t)me * k + i % k);
    }
    return 0;
}

/* Run one case on stream `st`; returns the number of failed checks. */
static int
cs_case_run(const cs_case_t *c, weft_comm_t *w, cudaStream_t st)
{
    int me = weft_comm_rank(w), n = weft_comm_size(w), root = n - 1;
    size_t esize = weft_dtype_size(c->dtype), sc = 0, rc = 0, check;
    void *hs = NULL, *hr = NULL, *he = NULL, *ds = NULL, *dr = NULL;
    int before = wt_failures;
    weft_status_t status;

    cs_extents(c, me, n, root, &sc, &rc);
    hs = calloc(sc + 1, esize);
    hr = calloc(rc + sc + 1, esize);
    he = calloc(rc + sc + 1, esize);
    for (size_t i = 0; i < sc; i++) {
        cs_put(c->dtype, hs, i, cs_input(c, me, i));
    }
    if (sc > 0) {
        CS_CUDA(cudaMalloc(&ds, sc * esize));
        CS_CUDA(cudaMemcpy(ds, hs, sc * esize, cudaMemcpyHostToDevice));
    }
    if (rc > 0) {
        CS_CUDA(cudaMalloc(&dr, rc * esize));
        CS_CUDA(cudaMemset(dr, 0xee, rc * esize)); /* unwritten shows */
    }
    if (c->coll == CS_BROADCAST) {
        if (me == root && sc > 0) {
            CS_CUDA(cudaMemcpy(dr, hs, sc * esize, cudaMemcpyHostToDevice));
        }
    } else if (c->inplace && c->coll == CS_ALLGATHER && sc > 0) {
        CS_CUDA(cudaMemcpy((char *)dr + (size_t)me * sc * esize, hs, sc * esize,
                           cudaMemcpyHostToDevice));
    } else if (c->inplace && rc > 0) {
        CS_CUDA(cudaMemcpy(dr, hs, sc * esize, cudaMemcpyHostToDevice));
    }

    /* the copies above ran on the legacy stream: cudaMemset and a copy
     * from pageable memory may still be in flight when they return */
    CS_CUDA(cudaDeviceSynchronize());

    /* in place: the input is in recvbuf (reduce: at the root only) */
    status = cs_issue(c, c->inplace && rc > 0 ? dr : ds, dr, root, w, st);
    WT_CHECK(status == WEFT_OK, "%s %s %s count %zu%s: %s (%s)",
             cs_coll_names[c->coll], weft_dtype_name(c->dtype),
             weft_op_name(c->op), c->count, c->inplace ? " in place" : "",
             weft_status_string(status), weft_last_error());
    CS_CUDA(cudaStreamSynchronize(st));

    check = c->coll == CS_REDUCE_SCATTER ? c->count : rc;
    if (c->coll == CS_REDUCE && me != root) {
        check = 0;
    }
    if (check > 0) {
        CS_CUDA(cudaMemcpy(hr, dr, check * esize, cudaMemcpyDeviceToHost));
    }
    for (size_t i = 0; i < check; i++) {
        cs_put(c->dtype, he, i, cs_expect(c, me, n, root, i));
        if (memcmp((char *)hr + i * esize, (char *)he + i * esize, esize) !=
            0) {
            uint32_t got = 0, want = 0;

            memcpy(&got, (char *)hr + i * esize, esize);
            memcpy(&want, (char *)he + i * esize, esize);
            WT_CHECK(0,
                     "%s %s %s count %zu%s, %d ranks: element %zu is 0x%x, "
                     "expected 0x%x",
                     cs_coll_names[c->coll], weft_dtype_name(c->dtype),
                     weft_op_name(c->op), c->count,
                     c->inplace ? " in place" : "", n, i, got, want);
            break;
        }
    }
    cudaFree(ds);
    cudaFree(dr);
    free(hs);
    free(hr);
    free(he);
    return wt_failures - before;
}

/* ---- every collective over dtypes and sizes ---------------------------- */

typedef struct cs_dtop {
    weft_dtype_t dtype;
    weft_op_t op;
} cs_dtop_t;

static const cs_dtop_t cs_reduce_types[] = {
    {WEFT_INT32, WEFT_SUM},   {WEFT_INT32, WEFT_MAX},
    {WEFT_FLOAT32, WEFT_SUM}, {WEFT_FLOAT32, WEFT_AVG},
    {WEFT_FLOAT16, WEFT_SUM}, {WEFT_BFLOAT16, WEFT_SUM},
    {WEFT_BFLOAT16, WEFT_MIN}};
static const cs_dtop_t cs_move_types[] = {{WEFT_INT32, WEFT_SUM},
                                          {WEFT_FLOAT16, WEFT_SUM}};

static size_t
cs_count(int k, size_t esize)
{
    static const size_t bytes[] = {0, 1, 1000, (1u << 20) + 7, 16u << 20};

    if (k <= 2) {
        return bytes[k]; /* elements */
    }
    return bytes[k] / esize + 1; /* an odd count: a last short piece */
}

static void
coll_body(weft_context_t *ctx, weft_comm_t *w, void *arg)
{
    cs_coll_t coll = *(const cs_coll_t *)arg;
    int reduces =
        coll == CS_ALLREDUCE || coll == CS_REDUCE || coll == CS_REDUCE_SCATTER;
    const cs_dtop_t *types = reduces ? cs_reduce_types : cs_move_types;
    size_t ntypes = reduces ? sizeof(cs_reduce_types) / sizeof(types[0])
                            : sizeof(cs_move_types) / sizeof(types[0]);
    cudaStream_t st = cs_setup(w);
    int seq = 0;

    (void)ctx;
    for (size_t t = 0; t < ntypes && wt_failures == 0; t++) {
        for (int k = 0; k < 5 && wt_failures == 0; k++) {
            cs_case_t c = {.coll = coll,
                           .dtype = types[t].dtype,
                           .op = types[t].op,
                           .count =
                               cs_count(k, weft_dtype_size(types[t].dtype)),
                           .seq = ++seq};

            cs_case_run(&c, w, st);
            /* the in-place form (broadcast is always in place) */
            if (coll != CS_BROADCAST && (k == 2 || k == 3) && t == 0) {
                c.inplace = 1;
                c.seq = ++seq;
                cs_case_run(&c, w, st);
            }
        }
    }
    WT_OK(weft_cuda_comm_fini(w));
    CS_CUDA(cudaStreamDestroy(st));
}

static void
cs_coll_test(cs_coll_t coll)
{
    static cs_coll_t arg;

    arg = coll;
    cs_run(coll_body, &arg, cs_coll_names[coll]);
}

Test(cuda_stream, allreduce_matches_host_reference, .timeout = 300)
{
    CS_REQUIRE_GPU();
    cs_coll_test(CS_ALLREDUCE);
}

Test(cuda_stream, reduce_matches_host_reference, .timeout = 300)
{
    CS_REQUIRE_GPU();
    cs_coll_test(CS_REDUCE);
}

Test(cuda_stream, broadcast_matches_host_reference, .timeout = 300)
{
    CS_REQUIRE_GPU();
    cs_coll_test(CS_BROADCAST);
}

Test(cuda_stream, allgather_matches_host_reference, .timeout = 300)
{
    CS_REQUIRE_GPU();
    cs_coll_test(CS_ALLGATHER);
}

Test(cuda_stream, reduce_scatter_matches_host_reference, .timeout = 300)
{
    CS_REQUIRE_GPU();
    cs_coll_test(CS_REDUCE_SCATTER);
}

Test(cuda_stream, alltoall_matches_host_reference, .timeout = 300)
{
    CS_REQUIRE_GPU();
    cs_coll_test(CS_ALLTOALL);
}

/* ---- back to back on one stream, one synchronize ----------------------- */

#define CS_CHAIN 32

static void
chain_body(weft_context_t *ctx, weft_comm_t *w, void *arg)
{
    int me = weft_comm_rank(w), n = weft_comm_size(w);
    size_t k = (1u << 18) + 3; /* 1 MiB + 12 bytes of uint32 */
    cudaStream_t st = cs_setup(w);
    uint32_t *h = malloc(k * n * 4), *want = malloc(k * n * 4);
    uint32_t *x = NULL, *y = NULL, *z = NULL;

    (void)ctx;
    if (arg != NULL) {
        weft__cuda_force_wait_kernel = 1; /* the fallback's path */
    }
    CS_CUDA(cudaMalloc((void **)&x, k * 4));
    CS_CUDA(cudaMalloc((void **)&y, k * n * 4));
    CS_CUDA(cudaMalloc((void **)&z, k * n * 4));
    for (size_t i = 0; i < k; i++) {
        h[i] = (uint32_t)(me + 1) * 2654435761u + (uint32_t)i;
    }
    CS_CUDA(cudaMemcpy(x, h, k * 4, cudaMemcpyHostToDevice));
    CS_CUDA(cudaDeviceSynchronize()); /* st does not wait for that copy */

    /* x <- sum(x) CS_CHAIN times in place: each needs the one before */
    for (int j = 0; j < CS_CHAIN; j++) {
        WT_OK(weft_allreduce_stream(x, x, k, WEFT_UINT32, WEFT_SUM, w, st));
    }
    /* then gather x, exchange blocks, and broadcast rank 0's block 0 */
    WT_OK(weft_allgather_stream(x, y, k, WEFT_UINT32, w, st));
    WT_OK(weft_alltoall_stream(y, z, k, WEFT_UINT32, w, st));
    WT_OK(weft_broadcast_stream(z, k, WEFT_UINT32, 0, w, st));
    CS_CUDA(cudaStreamSynchronize(st));

    for (size_t i = 0; i < k; i++) {
        uint32_t v = 0;

        for (int r = 0; r < n; r++) {
            v += (uint32_t)(r + 1) * 2654435761u + (uint32_t)i;
        }
        for (int j = 1; j < CS_CHAIN; j++) {
            v *= (uint32_t)n; /* every rank holds the same sum */
        }
        want[i] = v;
    }
    CS_CUDA(cudaMemcpy(h, x, k * 4, cudaMemcpyDeviceToHost));
    for (size_t i = 0; i < k; i++) {
        if (h[i] != want[i]) {
            WT_CHECK(0, "chain of %d allreduces: x[%zu] = %u, expected %u",
                     CS_CHAIN, i, h[i], want[i]);
            break;
        }
    }
    /* z: every block is x, and block 0 was broadcast over it */
    CS_CUDA(cudaMemcpy(h, z, k * n * 4, cudaMemcpyDeviceToHost));
    for (size_t i = 0; i < k * n; i++) {
        if (h[i] != want[i % k]) {
            WT_CHECK(0,
                     "allgather/alltoall/broadcast after the chain: "
                     "z[%zu] = %u, expected %u",
                     i, h[i], want[i % k]);
            break;
        }
    }

    /* fini with nothing pending, then a fresh start on the same comm */
    WT_OK(weft_cuda_comm_fini(w));
    WT_OK(weft_allreduce_stream(x, y, k, WEFT_UINT32, WEFT_MAX, w, st));
    WT_OK(weft_cuda_comm_fini(w)); /* waits for it */
    CS_CUDA(cudaMemcpy(h, y, k * 4, cudaMemcpyDeviceToHost));
    WT_CHECK(memcmp(h, want, k * 4) == 0, "max after a new start differs");

    cudaFree(x);
    cudaFree(y);
    cudaFree(z);
    free(h);
    free(want);
    CS_CUDA(cudaStreamDestroy(st));
}

Test(cuda_stream, back_to_back_on_one_stream_then_one_sync, .timeout = 300)
{
    CS_REQUIRE_GPU();
    cs_run(chain_body, NULL, "back to back");
}

/* the same where the stream waits with the polling kernel (the fallback
 * for drivers without cuStreamWaitValue32) */
Test(cuda_stream, back_to_back_with_the_wait_kernel, .timeout = 300)
{
    static int force = 1;

    CS_REQUIRE_GPU();
    cs_run(chain_body, &force, "back to back, wait kernel");
}

/* ---- the call returns at once; work queued behind sees the result ------ */

static void CUDART_CB
cs_host_sleep(void *arg)
{
    (void)arg;
    usleep(300 * 1000); /* the stream is busy this long */
}

static void
behind_body(weft_context_t *ctx, weft_comm_t *w, void *arg)
{
    int n = weft_comm_size(w);
    size_t k = (4u << 20) + 5; /* floats: 16 MiB + 20 bytes, 5 pieces */
    cudaStream_t st = cs_setup(w);
    float *src = NULL, *dst = NULL, *copy = NULL, *h = malloc(k * 4);
    double t0, took;

    (void)ctx;
    (void)arg;
    CS_CUDA(cudaMalloc((void **)&src, k * 4));
    CS_CUDA(cudaMalloc((void **)&dst, k * 4));
    CS_CUDA(cudaMalloc((void **)&copy, k * 4));
    for (size_t i = 0; i < k; i++) {
        h[i] = (float)(i % 1000);
    }
    CS_CUDA(cudaMemcpy(src, h, k * 4, cudaMemcpyHostToDevice));
    CS_CUDA(cudaDeviceSynchronize());
    /* once untimed: the comm's proxy starts, staging is allocated */
    WT_OK(weft_allreduce_stream(src, dst, k, WEFT_FLOAT32, WEFT_SUM, w, st));
    CS_CUDA(cudaStreamSynchronize(st));
    WT_OK(weft_barrier(w));

    /* the stream is held up; the call must not wait for it */
    CS_CUDA(cudaLaunchHostFunc(st, cs_host_sleep, NULL));
    t0 = cs_now();
    WT_OK(weft_allreduce_stream(src, dst, k, WEFT_FLOAT32, WEFT_SUM, w, st));
    took = cs_now() - t0;
    WT_CHECK(took < 0.2,
             "allreduce_stream took %.3f s to return while its "
             "stream was busy",
             took);
    /* behind it on the stream: the input is overwritten (the collective
     * read it already) and the result is copied */
    CS_CUDA(cudaMemsetAsync(src, 0, k * 4, st));
    CS_CUDA(cudaMemcpyAsync(copy, dst, k * 4, cudaMemcpyDeviceToDevice, st));
    CS_CUDA(cudaStreamSynchronize(st));
    CS_CUDA(cudaMemcpy(h, copy, k * 4, cudaMemcpyDeviceToHost));
    for (size_t i = 0; i < k; i++) {
        if (h[i] != (float)(i % 1000) * (float)n) {
            WT_CHECK(0, "copy queued behind: [%zu] = %g, expected %g", i,
                     (double)h[i], (double)(i % 1000) * n);
            break;
        }
    }
    WT_OK(weft_cuda_comm_fini(w));
    cudaFree(src);
    cudaFree(dst);
    cudaFree(copy);
    free(h);
    CS_CUDA(cudaStreamDestroy(st));
}

Test(cuda_stream, returns_at_once_and_work_behind_sees_result, .timeout = 300)
{
    CS_REQUIRE_GPU();
    cs_run(behind_body, NULL, "work queued behind");
}

/* ---- bad arguments ------------------------------------------------------ */

static void
cs_expect_bad(weft_status_t st, const char *needle, const char *what)
{
    WT_CHECK(st == WEFT_ERR_INVALID_ARG, "%s: %s, not invalid argument", what,
             weft_status_string(st));
    WT_CHECK(strstr(weft_last_error(), needle) != NULL,
             "%s: message \"%s\" does not name %s", what, weft_last_error(),
             needle);
}

static void
bad_body(weft_context_t *ctx, weft_comm_t *w, void *arg)
{
    int n = weft_comm_size(w);
    cudaStream_t st = cs_setup(w);
    int32_t *d = NULL, *pinned = NULL, host[64] = {0}, out[64];

    (void)ctx;
    (void)arg;
    CS_CUDA(cudaMalloc((void **)&d, 64 * 4));
    CS_CUDA(cudaMallocHost((void **)&pinned, 64 * 4));

    cs_expect_bad(
        weft_allreduce_stream(host, d, 64, WEFT_INT32, WEFT_SUM, w, st),
        "sendbuf", "host sendbuf");
    cs_expect_bad(
        weft_allreduce_stream(d, pinned, 64, WEFT_INT32, WEFT_SUM, w, st),
        "recvbuf (", "pinned recvbuf");
    WT_CHECK(strstr(weft_last_error(), "pinned") != NULL, "%s",
             weft_last_error());
    cs_expect_bad(weft_broadcast_stream(host, 8, WEFT_INT32, 0, w, st), "buf",
                  "host buf");
    cs_expect_bad(
        weft_allreduce_stream(NULL, d, 5, WEFT_INT32, WEFT_SUM, w, st),
        "sendbuf is NULL with 5 elements", "NULL sendbuf");
    cs_expect_bad(weft_allgather_stream(d, NULL, 2, WEFT_INT32, w, st),
                  "recvbuf is NULL", "NULL recvbuf");
    cs_expect_bad(
        weft_allreduce_stream(d, d + 32, 64, WEFT_INT32, WEFT_SUM, w, st),
        "overlap", "overlapping buffers");
    cs_expect_bad(
        weft_allreduce_stream(d, d, 1u << 20, WEFT_INT32, WEFT_SUM, w, st),
        "allocation", "past the allocation");
    cs_expect_bad(weft_alltoall_stream(d, d, 1u << 18, WEFT_INT32, w, st),
                  "allocation", "alltoall past the allocation");
    cs_expect_bad(weft_allreduce_stream(d, d, 4, WEFT_INT32, WEFT_AVG, w, st),
                  "avg", "avg on int32");
    cs_expect_bad(
        weft_allreduce_stream(d, d, 4, (weft_dtype_t)99, WEFT_SUM, w, st),
        "dtype 99", "bad dtype");
    cs_expect_bad(weft_reduce_stream(d, d, 4, WEFT_INT32, WEFT_SUM, n, w, st),
                  "root", "root out of range");
    cs_expect_bad(
        weft_allreduce_stream(d, d, 4, WEFT_INT32, WEFT_SUM, NULL, st),
        "comm is NULL", "NULL comm");
    cs_expect_bad(weft_cuda_comm_fini(NULL), "comm is NULL", "fini(NULL)");

    /* none of that consumed a collective: a good one still matches */
    for (int i = 0; i < 64; i++) {
        host[i] = i;
    }
    CS_CUDA(cudaMemcpy(d, host, sizeof(host), cudaMemcpyHostToDevice));
    CS_CUDA(cudaDeviceSynchronize());
    WT_OK(weft_allreduce_stream(d, d, 64, WEFT_INT32, WEFT_SUM, w, st));
    CS_CUDA(cudaStreamSynchronize(st));
    CS_CUDA(cudaMemcpy(out, d, sizeof(out), cudaMemcpyDeviceToHost));
    for (int i = 0; i < 64; i++) {
        WT_CHECK(out[i] == i * n, "after the bad calls: [%d] = %d", i, out[i]);
    }
    WT_OK(weft_cuda_comm_fini(w));
    cudaFree(d);
    cudaFreeHost(pinned);
    CS_CUDA(cudaStreamDestroy(st));
}

Test(cuda_stream, bad_arguments_name_the_argument, .timeout = 120)
{
    CS_REQUIRE_GPU();
    cs_run(bad_body, NULL, "bad arguments");
}

/* ---- a peer aborts: the stream is released, the error reported --------- */

static void
abort_body(weft_context_t *ctx, weft_comm_t *w, void *arg)
{
    int me = weft_comm_rank(w);
    size_t k = 1u << 20;
    cudaStream_t st = cs_setup(w);
    weft_comm_t *d = NULL;
    float *buf = NULL;
    weft_status_t s;
    double t0, took;

    (void)ctx;
    (void)arg;
    CS_CUDA(cudaMalloc((void **)&buf, k * 4));
    CS_CUDA(cudaMemset(buf, 0, k * 4));
    CS_CUDA(cudaDeviceSynchronize());
    WT_OK(weft_comm_dup(w, &d));
    /* one good collective first: the proxy is running */
    WT_OK(weft_allreduce_stream(buf, buf, k, WEFT_FLOAT32, WEFT_SUM, d, st));
    CS_CUDA(cudaStreamSynchronize(st));
    if (me == 0) {
        WT_OK(weft_barrier(w)); /* the others have queued theirs */
        usleep(100 * 1000);
        WT_OK(weft_comm_abort(d, WEFT_ERR_ABORTED));
    } else {
        WT_OK(
            weft_allreduce_stream(buf, buf, k, WEFT_FLOAT32, WEFT_SUM, d, st));
        WT_OK(
            weft_allreduce_stream(buf, buf, k, WEFT_FLOAT32, WEFT_SUM, d, st));
        WT_OK(weft_barrier(w));
        t0 = cs_now();
        CS_CUDA(cudaStreamSynchronize(st)); /* must come back */
        took = cs_now() - t0;
        WT_CHECK(took < 15, "the stream came back after %.1f s", took);
    }
    s = weft_allreduce_stream(buf, buf, k, WEFT_FLOAT32, WEFT_SUM, d, st);
    WT_CHECK(s == WEFT_ERR_ABORTED, "the call after the abort: %s (%s)",
             weft_status_string(s), weft_last_error());
    WT_CHECK(weft_comm_error(d, NULL, NULL) == WEFT_ERR_ABORTED,
             "weft_comm_error is not aborted");
    s = weft_cuda_comm_fini(d);
    WT_CHECK(s == (me == 0 ? WEFT_OK : WEFT_ERR_ABORTED),
             "weft_cuda_comm_fini: %s", weft_status_string(s));
    WT_OK(weft_comm_destroy(d));

    /* the world comm is unharmed */
    WT_OK(weft_allreduce_stream(buf, buf, 16, WEFT_FLOAT32, WEFT_SUM, w, st));
    CS_CUDA(cudaStreamSynchronize(st));
    WT_OK(weft_cuda_comm_fini(w));
    WT_OK(weft_barrier(w));
    cudaFree(buf);
    CS_CUDA(cudaStreamDestroy(st));
}

Test(cuda_stream, peer_abort_releases_the_stream_and_reports, .timeout = 120)
{
    CS_REQUIRE_GPU();
    cs_run(abort_body, NULL, "peer abort");
}
