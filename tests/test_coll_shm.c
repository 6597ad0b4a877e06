/*
 * The node-local (shared memory) collectives' own protocol, beyond what
 * the matrix checks one call at a time:
 *   - queued broadcasts: a root runs ahead of slow readers, through the
 *     queue's wrap-around, with roots, sizes (inline, queued, and past the
 *     queue into the shared buffers) and blocking/nonblocking calls mixed,
 *     interleaved with other collectives; every byte checked on every rank;
 *   - two-rank broadcasts from 32 KiB to the shared buffers' size, which
 *     the kernel copies (and, told to pipe, the buffers): both roots,
 *     blocking and two in flight, every byte checked;
 *   - allreduces larger than the shared buffers piped through them as a
 *     series of node-local calls (told to, and where the kernel refuses
 *     reads, at two ranks too): counts around the pieces' size, in place
 *     and not, sum, avg and max, blocking and two in flight, every element
 *     checked; and ranks that disagree on the count get a mismatch naming
 *     both whole counts, not the pieces' (piped, or with the form measured:
 *     test_coll_shm_form.c has the rest of that);
 *   - an alltoallv whose sender and receiver disagree on a count: a
 *     mismatch naming both;
 *   - calls that disagree with a queued broadcast (a root that broadcast
 *     where the others reduce, a rank that broadcasts where the root
 *     reduces): every rank gets an error within WEFT_TIMEOUT, no hang.
 */
#include "build_config.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <weft.h>

#include "harness.h"

#define QS_CALLS 600
#define QS_BATCH 12 /* nonblocking broadcasts in flight at once */

/* Bytes of call i: inline (<= 40), queued (<= 1 KiB), then larger. */
static size_t
qs_bytes(int i)
{
    static const size_t sizes[] = {1, 40, 41, 200, 1024, 1025, 3000, 8};

    return sizes[(size_t)i % (sizeof(sizes) / sizeof(sizes[0]))];
}

static void
qs_check(const uint8_t *buf, size_t n, int root, int seq, const char *how)
{
    size_t at = wt_verify(buf, n, root, seq);

    WT_CHECK(at == n,
             "%s broadcast #%d of %zu bytes from rank %d: byte %zu "
             "is wrong",
             how, seq, n, root, at);
}

static void
qs_body(weft_context_t *ctx, weft_comm_t *w, void *arg)
{
    int rank = weft_comm_rank(w), size = weft_comm_size(w);
    static uint8_t buf[QS_BATCH][4096];
    weft_request_t *reqs[QS_BATCH];

    (void)ctx;
    (void)arg;
    for (int i = 0; i < QS_CALLS && wt_failures == 0; i++) {
        int root = (i / 7) % size;
        size_t n = qs_bytes(i);

        /* the last rank falls behind now and then: the roots fill their
         * queues and wait for it */
        if (rank == size - 1 && i % 37 == 0) {
            usleep(300);
        }
        if (rank == root) {
            wt_fill(buf[0], n, root, i);
        } else {
            memset(buf[0], 0xee, n);
        }
        WT_OK(weft_broadcast(buf[0], n, WEFT_UINT8, root, w));
        qs_check(buf[0], n, root, i, "blocking");
        if (i % 50 == 49) { /* a call of another kind in between */
            int32_t one = i, sum = 0;

            WT_OK(weft_allreduce(&one, &sum, 1, WEFT_INT32, WEFT_SUM, w));
            WT_CHECK(sum == i * size,
                     "allreduce after broadcast #%d: %d, "
                     "want %d",
                     i, sum, i * size);
        }
        if (i % 100 == 99) { /* a batch in flight at once */
            for (int k = 0; k < QS_BATCH; k++) {
                int r = (i + k) % size, seq = i * QS_BATCH + k;

                if (rank == r) {
                    wt_fill(buf[k], qs_bytes(k), r, seq);
                } else {
                    memset(buf[k], 0xee, qs_bytes(k));
                }
                WT_OK(weft_ibroadcast(buf[k], qs_bytes(k), WEFT_UINT8, r, w,
                                      &reqs[k]));
            }
            WT_OK(weft_waitall(QS_BATCH, reqs));
            for (int k = 0; k < QS_BATCH; k++) {
                qs_check(buf[k], qs_bytes(k), (i + k) % size, i * QS_BATCH + k,
                         "nonblocking");
            }
        }
    }
    WT_OK(weft_barrier(w));
}

Test(coll_shm, queued_broadcasts_run_ahead_and_arrive_whole, .timeout = 300)
{
    static const int ranks[] = {2, 3, 5, 8};

    for (size_t i = 0; i < sizeof(ranks) / sizeof(ranks[0]); i++) {
        /* small shared buffers: the larger calls take the other paths */
        wt_job_t job = {.nranks = ranks[i],
                        .timeout_s = 120,
                        .env = {"WEFT_TIMEOUT=30s", "WEFT_SHM_COLL_BUF=2KiB"}};

        cr_expect_eq(wt_run(&job, qs_body, NULL), 0,
                     "queued broadcasts, %d ranks", ranks[i]);
    }
}

/* ---- two-rank broadcasts read by the kernel below the buffers' size ---- */

#define MB_ROUNDS 20

static void
mb_body(weft_context_t *ctx, weft_comm_t *w, void *arg)
{
    /* around the read threshold (32 KiB), up to the buffers (128 KiB)
     * and past them */
    static const size_t sizes[] = {32767, 32768, 65539, 131072, 131073};
    int rank = weft_comm_rank(w);
    uint8_t *buf[2];
    weft_request_t *reqs[2];

    (void)ctx;
    (void)arg;
    buf[0] = malloc(131073);
    buf[1] = malloc(131073);
    WT_CHECK(buf[0] != NULL && buf[1] != NULL, "out of memory");
    for (int i = 0; i < MB_ROUNDS * 5 && wt_failures == 0; i++) {
        size_t n = sizes[i % 5];
        int root = (i / 5) % 2, seq = 2 * i;

        /* blocking from root, then two in flight: from root and from the
         * other rank */
        for (int k = 0; k < 2; k++) {
            int from = k == 0 ? root : 1 - root;

            if (rank == from) {
                wt_fill(buf[k], n, from, seq + k);
            } else {
                memset(buf[k], 0xee, n);
            }
        }
        WT_OK(weft_broadcast(buf[0], n, WEFT_UINT8, root, w));
        qs_check(buf[0], n, root, seq, "blocking");
        if (rank != root) {
            memset(buf[0], 0xee, n);
        }
        WT_OK(weft_ibroadcast(buf[0], n, WEFT_UINT8, root, w, &reqs[0]));
        WT_OK(weft_ibroadcast(buf[1], n, WEFT_UINT8, 1 - root, w, &reqs[1]));
        WT_OK(weft_waitall(2, reqs));
        qs_check(buf[0], n, root, seq, "nonblocking");
        qs_check(buf[1], n, 1 - root, seq + 1, "nonblocking");
    }
    WT_OK(weft_barrier(w));
    free(buf[0]);
    free(buf[1]);
}

Test(coll_shm, two_rank_broadcasts_read_below_the_buffer_size, .timeout = 120)
{
    static const char *const large[] = {"WEFT_SHM_COLL_LARGE=auto",
                                        "WEFT_SHM_COLL_LARGE=pipe"};

    for (size_t i = 0; i < 2; i++) {
        wt_job_t job = {
            .nranks = 2,
            .timeout_s = 60,
            .env = {"WEFT_TIMEOUT=30s", "WEFT_SHM_COLL_BUF=128KiB", large[i]}};

        cr_expect_eq(wt_run(&job, mb_body, NULL), 0,
                     "2-rank broadcasts of 32-128 KiB (%s)", large[i]);
    }
}

/* ---- allreduces piped through the buffers ---- */

/* Rank r's element i of call seq, and their sum over size ranks: whole
 * numbers below 2^24, so every sum and order is exact in fp32. */
static float
pa_value(int r, size_t i, int seq)
{
    return (float)((i * 7 + (size_t)r * 13 + (size_t)seq) % 1000);
}

static float
pa_sum(int size, size_t i, int seq)
{
    float s = 0;

    for (int r = 0; r < size; r++) {
        s += pa_value(r, i, seq);
    }
    return s;
}

static void
pa_fill(float *buf, size_t n, int rank, int seq, float scale)
{
    for (size_t i = 0; i < n; i++) {
        buf[i] = pa_value(rank, i, seq) * scale;
    }
}

/* The first wrong element of a sum (times scale), or n. */
static size_t
pa_verify(const float *buf, size_t n, int size, int seq, float scale)
{
    for (size_t i = 0; i < n; i++) {
        if (buf[i] != pa_sum(size, i, seq) * scale) {
            return i;
        }
    }
    return n;
}

static void
pa_body(weft_context_t *ctx, weft_comm_t *w, void *arg)
{
    /* with 2 KiB buffers a piece is a few hundred elements */
    static const size_t counts[] = {1, 359, 360, 361, 1000, 4097, 100003};
    int rank = weft_comm_rank(w), size = weft_comm_size(w);
    size_t most = 100003;
    float *a = malloc(most * sizeof(float)), *b = malloc(most * sizeof(float));
    float *c = malloc(most * sizeof(float));
    weft_request_t *reqs[2];

    (void)ctx;
    (void)arg;
    WT_CHECK(a != NULL && b != NULL && c != NULL, "out of memory");
    /* the node-local algorithm or a failure, never another algorithm */
    WT_OK(weft_comm_set_algorithm(w, "allreduce", "shm"));
    for (size_t k = 0; k < sizeof(counts) / sizeof(counts[0]); k++) {
        size_t n = counts[k], at;
        int seq = (int)k * 4;

        pa_fill(a, n, rank, seq, 1);
        WT_OK(weft_allreduce(a, b, n, WEFT_FLOAT32, WEFT_SUM, w));
        at = pa_verify(b, n, size, seq, 1);
        WT_CHECK(at == n, "sum of %zu: element %zu is %g", n, at, b[at]);

        pa_fill(a, n, rank, seq + 1, (float)size);
        WT_OK(weft_allreduce(a, a, n, WEFT_FLOAT32, WEFT_AVG, w));
        at = pa_verify(a, n, size, seq + 1, 1);
        WT_CHECK(at == n, "in-place avg of %zu: element %zu is %g", n, at,
                 a[at]);

        /* two in flight (scheduled), the second in place */
        pa_fill(a, n, rank, seq + 2, 1);
        pa_fill(c, n, rank, seq + 3, 2);
        WT_OK(weft_iallreduce(a, b, n, WEFT_FLOAT32, WEFT_SUM, w, &reqs[0]));
        WT_OK(weft_iallreduce(c, c, n, WEFT_FLOAT32, WEFT_SUM, w, &reqs[1]));
        WT_OK(weft_waitall(2, reqs));
        at = pa_verify(b, n, size, seq + 2, 1);
        WT_CHECK(at == n, "nonblocking sum of %zu: element %zu is %g", n, at,
                 b[at]);
        at = pa_verify(c, n, size, seq + 3, 2);
        WT_CHECK(at == n, "nonblocking in-place sum of %zu: element %zu is %g",
                 n, at, c[at]);
    }
    {
        /* max of int32: rank r holds r - i, the largest is size-1 - i */
        int32_t *x = (int32_t *)a, *y = (int32_t *)b;

        for (size_t i = 0; i < most; i++) {
            x[i] = rank - (int32_t)i;
        }
        WT_OK(weft_allreduce(x, y, most, WEFT_INT32, WEFT_MAX, w));
        for (size_t i = 0; i < most; i++) {
            WT_CHECK(y[i] == size - 1 - (int32_t)i, "max: element %zu is %d", i,
                     y[i]);
            if (y[i] != size - 1 - (int32_t)i) {
                break;
            }
        }
    }
    WT_OK(weft_barrier(w));
    free(a);
    free(b);
    free(c);
}

/* A job per row, each with the row's buffers (2 KiB where it names none),
 * `extra` (or NULL) and the row's setting, running fn. */
typedef struct shm_job {
    int ranks;
    const char *how;
    const char *buf; /* WEFT_SHM_COLL_BUF=... */
} shm_job_t;

static void
shm_jobs_run(const shm_job_t *jobs, size_t n, const char *extra,
             wt_rank_fn_t fn, const char *what)
{
    for (size_t i = 0; i < n; i++) {
        wt_job_t job = {.nranks = jobs[i].ranks,
                        .timeout_s = 120,
                        .env = {"WEFT_TIMEOUT=30s",
                                jobs[i].buf != NULL ? jobs[i].buf
                                                    : "WEFT_SHM_COLL_BUF=2KiB",
                                jobs[i].how, extra}};

        cr_expect_eq(wt_run(&job, fn, NULL), 0, "%s, %d ranks (%s%s%s)", what,
                     jobs[i].ranks, jobs[i].how, jobs[i].buf ? ", " : "",
                     jobs[i].buf ? jobs[i].buf : "");
    }
}

Test(coll_shm, allreduces_past_the_buffers_go_in_pieces, .timeout = 180)
{
    static const shm_job_t jobs[] = {{3, "WEFT_SHM_COLL_LARGE=pipe", NULL},
                                     {4, "WEFT_SHM_COLL_LARGE=pipe", NULL},
                                     {5, "WEFT_SHM_CMA=off", NULL},
                                     {2, "WEFT_SHM_CMA=off", NULL}};

    shm_jobs_run(jobs, sizeof(jobs) / sizeof(jobs[0]), NULL, pa_body,
                 "piped allreduces");
}

/* ---- results larger than the cache go around it ---- */

static uint32_t
nc_val(int from, int to, size_t i)
{
    return (uint32_t)from * 100003u + (uint32_t)to * 7919u + (uint32_t)i;
}

/* Every element of an alltoall, an allgather and an allreduce (and each
 * in place) whose result is written with streaming stores
 * (WEFT_SHM_COLL_CACHE=4KiB). */
static void
nc_body(weft_context_t *ctx, weft_comm_t *w, void *arg)
{
    static const size_t counts[] = {1, 15, 16, 17, 1000, 4097, 30001};
    int rank = weft_comm_rank(w), size = weft_comm_size(w);
    size_t most = 30001 * (size_t)size;
    uint32_t *in = malloc(most * 4), *out = malloc(most * 4);

    (void)ctx;
    (void)arg;
    WT_CHECK(in != NULL && out != NULL, "out of memory");
    WT_OK(weft_comm_set_algorithm(w, "alltoall", "shm"));
    WT_OK(weft_comm_set_algorithm(w, "allgather", "shm"));
    WT_OK(weft_comm_set_algorithm(w, "allreduce", "shm"));
    for (size_t k = 0; k < sizeof(counts) / sizeof(counts[0]); k++) {
        size_t n = counts[k], bad;

        for (int inplace = 0; inplace < 2; inplace++) {
            uint32_t *src = inplace ? out : in;

            for (int to = 0; to < size; to++) {
                for (size_t i = 0; i < n; i++) {
                    src[(size_t)to * n + i] = nc_val(rank, to, i);
                }
            }
            memset(inplace ? in : out, 0xee, most * 4);
            WT_OK(weft_alltoall(src, out, n, WEFT_UINT32, w));
            bad = SIZE_MAX;
            for (size_t j = 0; j < n * (size_t)size && bad == SIZE_MAX; j++) {
                if (out[j] != nc_val((int)(j / n), rank, j % n)) {
                    bad = j;
                }
            }
            WT_CHECK(bad == SIZE_MAX,
                     "alltoall of %zu%s: element %zu is %u, not %u", n,
                     inplace ? " in place" : "", bad, out[bad],
                     nc_val((int)(bad / n), rank, bad % n));

            memset(out, 0xee, most * 4);
            for (size_t i = 0; i < n; i++) {
                (inplace ? out + (size_t)rank * n : in)[i] = nc_val(rank, 0, i);
            }
            WT_OK(weft_allgather(inplace ? out : in, out, n, WEFT_UINT32, w));
            bad = SIZE_MAX;
            for (size_t j = 0; j < n * (size_t)size && bad == SIZE_MAX; j++) {
                if (out[j] != nc_val((int)(j / n), 0, j % n)) {
                    bad = j;
                }
            }
            WT_CHECK(bad == SIZE_MAX,
                     "allgather of %zu%s: element %zu is %u, not %u", n,
                     inplace ? " in place" : "", bad, out[bad],
                     nc_val((int)(bad / n), 0, bad % n));

            /* allreduce of the whole buffer: two ranks stream theirs */
            for (size_t i = 0; i < n * (size_t)size; i++) {
                src[i] = nc_val(rank, 1, i);
            }
            WT_OK(weft_allreduce(src, out, n * (size_t)size, WEFT_UINT32,
                                 WEFT_SUM, w));
            bad = SIZE_MAX;
            for (size_t j = 0; j < n * (size_t)size && bad == SIZE_MAX; j++) {
                uint32_t want = 0;

                for (int r = 0; r < size; r++) {
                    want += nc_val(r, 1, j);
                }
                if (out[j] != want) {
                    bad = j;
                }
            }
            WT_CHECK(bad == SIZE_MAX, "allreduce of %zu%s: element %zu is %u",
                     n * (size_t)size, inplace ? " in place" : "", bad,
                     out[bad]);
        }
    }
    WT_OK(weft_barrier(w));
    free(in);
    free(out);
}

Test(coll_shm, results_larger_than_the_cache_go_around_it, .timeout = 180)
{
    /* with 64 KiB buffers a piped allreduce's pieces are past the tiny
     * form: slices are reduced, then copied out (streamed) */
    static const shm_job_t jobs[] = {
        {2, "WEFT_SHM_COLL_LARGE=auto", NULL},
        {3, "WEFT_SHM_COLL_LARGE=auto", NULL},
        {3, "WEFT_SHM_COLL_LARGE=pipe", NULL},
        {3, "WEFT_SHM_COLL_LARGE=pipe", "WEFT_SHM_COLL_BUF=64KiB"}};

    shm_jobs_run(jobs, sizeof(jobs) / sizeof(jobs[0]),
                 "WEFT_SHM_COLL_CACHE=4KiB", nc_body, "streamed results");
}

/* ---- disagreements with a queued broadcast ---- */

typedef struct qm_shared {
    int mode;
    int status[8];
    char msg[8][512];
    int answered;
} qm_shared_t;

enum { QM_ROOT_BROADCASTS, QM_READER_BROADCASTS };

/* Record this rank's answer and stay until every rank has its own, so
 * that none learns of the disagreement from another's exit (WEFT_TIMEOUT
 * bounds the wait). */
static void
qm_answer(qm_shared_t *sh, int rank, int size, weft_status_t st)
{
    sh->status[rank] = st;
    snprintf(sh->msg[rank], sizeof(sh->msg[rank]), "%s",
             st != WEFT_OK ? weft_last_error() : "");
    __atomic_add_fetch(&sh->answered, 1, __ATOMIC_SEQ_CST);
    for (int i = 0;
         i < 2000 && __atomic_load_n(&sh->answered, __ATOMIC_SEQ_CST) < size;
         i++) {
        usleep(10 * 1000);
    }
    _exit(wt_failures ? 1 : 0);
}

static void
qm_body(weft_context_t *ctx, weft_comm_t *w, void *arg)
{
    qm_shared_t *sh = arg;
    int rank = weft_comm_rank(w), size = weft_comm_size(w);
    float v[8] = {1, 2, 3, 4, 5, 6, 7, 8}, r[8];
    /* who broadcasts (root 0) where the others reduce */
    int bcasts = sh->mode == QM_ROOT_BROADCASTS ? rank == 0 : rank == 1;
    weft_status_t st;

    (void)ctx;
    /* every rank past weft_context_create first: under load a rank still
     * in it learned of the failure there (its world comm's) and answered
     * nothing */
    WT_OK(weft_barrier(w));
    st = bcasts ? weft_broadcast(v, 8, WEFT_FLOAT32, 0, w)
                : weft_allreduce(v, r, 8, WEFT_FLOAT32, WEFT_SUM, w);
    if (st == WEFT_OK) { /* a root that queued its data learns it next */
        st = weft_barrier(w);
    }
    qm_answer(sh, rank, size, st);
}

Test(coll_shm, disagreeing_with_a_queued_broadcast_fails_every_rank,
     .timeout = 120)
{
    static const char *const names[] = {"root broadcasts, others reduce",
                                        "rank 1 broadcasts, others reduce"};
    static const int ranks[] = {2, 3, 4};

    for (int mode = 0; mode < 2; mode++) {
        for (size_t i = 0; i < sizeof(ranks) / sizeof(ranks[0]); i++) {
            qm_shared_t *sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
                                   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
            wt_job_t job = {.nranks = ranks[i],
                            .timeout_s = 30,
                            .env = {"WEFT_TIMEOUT=3s"}};
            int failed, said;

            cr_assert(sh != MAP_FAILED);
            sh->mode = mode;
            for (int k = 0; k < 8; k++) {
                sh->status[k] = 1; /* never answered */
            }
            failed = wt_run(&job, qm_body, sh);
            cr_expect_eq(failed, 0, "%s, %d ranks: %d ranks failed or hung",
                         names[mode], ranks[i], failed);
            for (int k = 0; k < ranks[i]; k++) {
                cr_log_info(
                    "%s, %d ranks: rank %d: %s: %s", names[mode], ranks[i], k,
                    sh->status[k] == 1 ? "no answer"
                                       : weft_status_string(sh->status[k]),
                    sh->msg[k]);
                cr_expect(sh->status[k] < 0 && sh->msg[k][0] != '\0',
                          "%s, %d ranks: rank %d got %s (\"%s\"), want an "
                          "error",
                          names[mode], ranks[i], k,
                          sh->status[k] == 1
                              ? "no answer"
                              : weft_status_string(sh->status[k]),
                          sh->msg[k]);
            }
            /* a rank that saw the disagreement names it */
            said = 0;
            for (int k = 0; k < ranks[i]; k++) {
                said += strstr(sh->msg[k], "mismatch") != NULL;
            }
            cr_expect(said > 0, "%s, %d ranks: no rank said mismatch",
                      names[mode], ranks[i]);
            munmap(sh, sizeof(*sh));
        }
    }
}

/* ---- alltoallv: a sender's count that its receiver does not expect ---- */

static void
av_body(weft_context_t *ctx, weft_comm_t *w, void *arg)
{
    qm_shared_t *sh = arg;
    int rank = weft_comm_rank(w), size = weft_comm_size(w);
    size_t sc[8], sd[8], rc[8], rd[8];
    int32_t sbuf[64], rbuf[64];
    weft_status_t st;

    (void)ctx;
    WT_OK(weft_comm_set_algorithm(w, "alltoallv", "shm"));
    for (int r = 0; r < size; r++) {
        sc[r] = rc[r] = 2;
        sd[r] = rd[r] = (size_t)r * 4;
    }
    if (rank == 0) {
        sc[1] = 3; /* rank 1 expects 2 */
    }
    for (int i = 0; i < 64; i++) {
        sbuf[i] = rank * 100 + i;
    }
    st = weft_alltoallv(sbuf, sc, sd, rbuf, rc, rd, WEFT_INT32, w);
    qm_answer(sh, rank, size, st);
}

/* ---- a piped allreduce whose ranks disagree on the count ---- */

static void
pm_body(weft_context_t *ctx, weft_comm_t *w, void *arg)
{
    qm_shared_t *sh = arg;
    int rank = weft_comm_rank(w), size = weft_comm_size(w);
    /* past 64 KiB: measured too (WEFT_SHM_COLL_LARGE=measure) */
    size_t n = rank == 2 ? 50000 : 40000;
    float *a = calloc(50000, sizeof(float)), *b = calloc(50000, sizeof(float));
    weft_status_t st;

    (void)ctx;
    WT_CHECK(a != NULL && b != NULL, "out of memory");
    WT_OK(weft_comm_set_algorithm(w, "allreduce", "shm"));
    st = weft_allreduce(a, b, n, WEFT_FLOAT32, WEFT_SUM, w);
    free(a);
    free(b);
    qm_answer(sh, rank, size, st);
}

Test(coll_shm, piped_allreduce_count_disagreement_names_whole_counts,
     .timeout = 60)
{
    static const char *const large[] = {"WEFT_SHM_COLL_LARGE=pipe",
                                        "WEFT_SHM_COLL_LARGE=measure"};
    qm_shared_t *sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
                           MAP_SHARED | MAP_ANONYMOUS, -1, 0);

    cr_assert(sh != MAP_FAILED);
    for (int i = 0; i < 2; i++) {
        wt_job_t job = {
            .nranks = 3,
            .timeout_s = 30,
            .env = {"WEFT_TIMEOUT=3s", "WEFT_SHM_COLL_BUF=2KiB", large[i]}};
        int named = 0;

        memset(sh, 0, sizeof(*sh));
        cr_expect_eq(wt_run(&job, pm_body, sh), 0,
                     "piped allreduce mismatch (%s): a rank failed or hung",
                     large[i]);
        for (int k = 0; k < 3; k++) {
            cr_log_info("%s, rank %d: %s: %s", large[i], k,
                        weft_status_string(sh->status[k]), sh->msg[k]);
            cr_expect(sh->status[k] < 0, "%s: rank %d got %s, want an error",
                      large[i], k, weft_status_string(sh->status[k]));
            named += sh->status[k] == WEFT_ERR_MISMATCH &&
                     strstr(sh->msg[k], "40000") != NULL &&
                     strstr(sh->msg[k], "50000") != NULL;
        }
        cr_expect(named > 0, "%s: no rank's mismatch names both whole counts",
                  large[i]);
    }
    munmap(sh, sizeof(*sh));
}

Test(coll_shm, alltoallv_count_disagreement_is_a_mismatch, .timeout = 60)
{
    qm_shared_t *sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
                           MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    wt_job_t job = {.nranks = 3, .timeout_s = 30, .env = {"WEFT_TIMEOUT=3s"}};

    cr_assert(sh != MAP_FAILED);
    cr_expect_eq(wt_run(&job, av_body, sh), 0,
                 "alltoallv mismatch: a rank "
                 "failed or hung");
    cr_expect_eq(sh->status[1], WEFT_ERR_MISMATCH, "rank 1 got %s (%s)",
                 weft_status_string(sh->status[1]), sh->msg[1]);
    cr_expect(strstr(sh->msg[1], "rank 0 sends 3 elements") != NULL,
              "rank 1's message does not name the counts: %s", sh->msg[1]);
    for (int k = 0; k < 3; k++) {
        cr_expect(sh->status[k] < 0, "rank %d got %s, want an error", k,
                  weft_status_string(sh->status[k]));
    }
    munmap(sh, sizeof(*sh));
}
