/*
 * Node-local calls whose form is measured (WEFT_SHM_COLL_LARGE=measure;
 * collectives/algos/shm_form.h). An allreduce goes through the shared buffers
 * (piece by piece where it is larger) or reads the peers' memory (the
 * whole call at once, which then counts its other pieces as done), as the
 * first member to reach it proposed. Checked here, at 3 and 4 ranks, with
 * buffers small enough that the calls go in pieces:
 *   - both forms were taken (every rank tried each at least twice);
 *   - every result is bit for bit the sum in rank order, ((x0 + x1) + x2)
 *     + x3, computed here in fp32 from values whose sums round: so either
 *     form gives the same bits as the other, call after call;
 *   - fp64 averages too (divided after the sum, in either form);
 *   - blocking, in place, and two in flight (scheduled, whose later pieces
 *     find themselves done when the first read the whole call), mixed with
 *     calls below the measured size, so the numbering of node-local calls
 *     stays the same on every rank whatever form each call took;
 *   - allgather, alltoall and broadcast past the buffers, piped or read,
 *     blocking and not: every element, and both forms taken by each;
 *     allgather and alltoall whose input fits the buffers (results past
 *     8 KiB), through the buffers or read, at two ranks and more.
 */
#include "build_config.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <weft.h>

#include "collectives/shm_area.h"
#include "comm.h"
#include "harness.h"

#define SF_CALLS 12

/* Rank r's element i: fractions of differing magnitudes, so that sums in
 * different orders round differently. */
static float
sf_value(int r, size_t i)
{
    uint32_t h = (uint32_t)i * 2654435761u + (uint32_t)r * 40503u;

    return (float)(h % 100003u) / 7.0f * (float)(1 + (h >> 28));
}

/* The first element of v that is not the rank-order sum over size ranks,
 * bit for bit, or n. */
static size_t
sf_verify(const float *v, size_t n, int size)
{
    for (size_t i = 0; i < n; i++) {
        float s = sf_value(0, i);

        for (int r = 1; r < size; r++) {
            s += sf_value(r, i);
        }
        if (memcmp(&s, &v[i], sizeof(s)) != 0) {
            return i;
        }
    }
    return n;
}

static void
sf_body(weft_context_t *ctx, weft_comm_t *w, void *arg)
{
    /* 400 KiB and 96 KiB (measured, in pieces of the 64 KiB buffers), and
     * 8 KiB (not measured) between them */
    static const size_t counts[] = {100003, 24576, 2048};
    int rank = weft_comm_rank(w), size = weft_comm_size(w);
    size_t most = counts[0];
    float *a = malloc(most * sizeof(float)), *b = malloc(most * sizeof(float));
    float *c = malloc(most * sizeof(float));
    const weft__shm_area_t *ar = w->shm;
    weft_request_t *reqs[2];
    uint32_t tried[2] = {0, 0};

    (void)ctx;
    (void)arg;
    WT_CHECK(a != NULL && b != NULL && c != NULL, "out of memory");
    WT_CHECK(ar != NULL && ar->measure, "the world comm does not measure");
    WT_OK(weft_comm_set_algorithm(w, "allreduce", "shm"));
    for (size_t i = 0; i < most; i++) {
        a[i] = sf_value(rank, i);
    }
    for (int k = 0; k < SF_CALLS && wt_failures == 0; k++) {
        for (size_t m = 0; m < sizeof(counts) / sizeof(counts[0]); m++) {
            size_t n = counts[m], at;
            const char *how = k % 3 == 0   ? "blocking"
                              : k % 3 == 1 ? "in place"
                                           : "nonblocking";

            memset(b, 0xee, n * sizeof(float));
            memcpy(c, a, n * sizeof(float));
            if (k % 3 == 0) {
                WT_OK(weft_allreduce(a, b, n, WEFT_FLOAT32, WEFT_SUM, w));
            } else if (k % 3 == 1) {
                WT_OK(weft_allreduce(c, c, n, WEFT_FLOAT32, WEFT_SUM, w));
            } else {
                WT_OK(weft_iallreduce(a, b, n, WEFT_FLOAT32, WEFT_SUM, w,
                                      &reqs[0]));
                WT_OK(weft_iallreduce(c, c, n, WEFT_FLOAT32, WEFT_SUM, w,
                                      &reqs[1]));
                WT_OK(weft_waitall(2, reqs));
            }
            if (k % 3 != 1) {
                at = sf_verify(b, n, size);
                WT_CHECK(at == n, "call %d, %s, %zu floats: element %zu is %a",
                         k, how, n, at, at < n ? b[at] : 0.0f);
            }
            if (k % 3 != 0) {
                at = sf_verify(c, n, size);
                WT_CHECK(at == n, "call %d, %s, %zu floats: element %zu is %a",
                         k, k % 3 == 1 ? how : "nonblocking, in place", n, at,
                         at < n ? c[at] : 0.0f);
            }
        }
    }
    {
        /* fp64 averages, 800 KiB (their own size class: both forms in the
         * first four calls) */
        double *x = malloc(most * sizeof(double)),
               *y = malloc(most * sizeof(double));

        WT_CHECK(x != NULL && y != NULL, "out of memory");
        for (size_t i = 0; i < most; i++) {
            x[i] = (double)sf_value(rank, i) / 3.0;
        }
        for (int k = 0; k < 6 && wt_failures == 0; k++) {
            WT_OK(weft_allreduce(x, y, most, WEFT_FLOAT64, WEFT_AVG, w));
            for (size_t i = 0; i < most; i++) {
                double s = (double)sf_value(0, i) / 3.0;

                for (int r = 1; r < size; r++) {
                    s += (double)sf_value(r, i) / 3.0;
                }
                s /= size;
                if (memcmp(&s, &y[i], sizeof(s)) != 0) {
                    WT_CHECK(0, "fp64 avg, call %d: element %zu is %a, not %a",
                             k, i, y[i], s);
                    break;
                }
            }
        }
        free(x);
        free(y);
    }
    for (int i = 0; i < WEFT_SHM_FORM_BUCKETS; i++) {
        tried[0] += ar->form[WEFT_SHM_FORM_ALLREDUCE][i].n[0];
        tried[1] += ar->form[WEFT_SHM_FORM_ALLREDUCE][i].n[1];
    }
    WT_CHECK(tried[0] >= 2 && tried[1] >= 2,
             "rank %d took the buffers %u times and read %u times", rank,
             tried[0], tried[1]);
    WT_OK(weft_barrier(w));
    free(a);
    free(b);
    free(c);
}

/* ---- allgather, alltoall, broadcast: piped or read ---- */

/* uint32 per block: 80 KiB, past 64 KiB buffers; 4 KiB, in the window
 * that fits them (results past 8 KiB whose input fits the buffers), on
 * every other pair of calls at 3 and 4 ranks, and 12 KiB on every call
 * at two */
#define SM_COUNT      20011
#define SM_COUNT_FIT  1001
#define SM_COUNT_PAIR 3001
#define SM_CALLS      8

/* The block of call k at `size` ranks. */
static size_t
sm_count(int size, int k)
{
    if (size == 2) {
        return SM_COUNT_PAIR;
    }
    return k % 4 < 2 ? SM_COUNT : SM_COUNT_FIT;
}

static uint32_t
sm_val(int from, int to, size_t i, int k)
{
    return (uint32_t)from * 1000003u + (uint32_t)to * 7919u + (uint32_t)i +
           (uint32_t)k * 104729u;
}

/* Blocking on even calls, nonblocking on odd ones; every element checked;
 * each kind took both forms, and every call was measured (those that fit
 * the buffers too; broadcasts at 3 and 4 ranks: two ranks keep a fixed
 * rule for them). */
static void
sm_body(weft_context_t *ctx, weft_comm_t *w, void *arg)
{
    int rank = weft_comm_rank(w), size = weft_comm_size(w);
    size_t most = (size == 2 ? SM_COUNT_PAIR : SM_COUNT) * (size_t)size;
    uint32_t *in = malloc(most * sizeof(uint32_t));
    uint32_t *out = malloc(most * sizeof(uint32_t));
    const weft__shm_area_t *ar = w->shm;
    weft_request_t *req;

    (void)ctx;
    (void)arg;
    WT_CHECK(in != NULL && out != NULL, "out of memory");
    WT_OK(weft_comm_set_algorithm(w, "allgather", "shm"));
    WT_OK(weft_comm_set_algorithm(w, "alltoall", "shm"));
    WT_OK(weft_comm_set_algorithm(w, "broadcast", "shm"));
    for (int k = 0; k < SM_CALLS && wt_failures == 0; k++) {
        size_t bad = SIZE_MAX, n = sm_count(size, k), all = n * (size_t)size;
        int root = k % size;

        /* allgather: block i of rank r is sm_val(r, 0, i, k) */
        for (size_t i = 0; i < n; i++) {
            in[i] = sm_val(rank, 0, i, k);
        }
        memset(out, 0xee, all * sizeof(uint32_t));
        if (k % 2 == 0) {
            WT_OK(weft_allgather(in, out, n, WEFT_UINT32, w));
        } else {
            WT_OK(weft_iallgather(in, out, n, WEFT_UINT32, w, &req));
            WT_OK(weft_wait(req));
        }
        for (size_t j = 0; j < all && bad == SIZE_MAX; j++) {
            bad = out[j] == sm_val((int)(j / n), 0, j % n, k) ? bad : j;
        }
        WT_CHECK(bad == SIZE_MAX, "allgather %d: element %zu is %u", k, bad,
                 bad < all ? out[bad] : 0);

        /* alltoall: block `to` of rank `from` is sm_val(from, to, i, k) */
        for (size_t j = 0; j < all; j++) {
            in[j] = sm_val(rank, (int)(j / n), j % n, k);
        }
        memset(out, 0xee, all * sizeof(uint32_t));
        if (k % 2 == 0) {
            WT_OK(weft_alltoall(in, out, n, WEFT_UINT32, w));
        } else {
            WT_OK(weft_ialltoall(in, out, n, WEFT_UINT32, w, &req));
            WT_OK(weft_wait(req));
        }
        for (size_t j = 0; j < all && bad == SIZE_MAX; j++) {
            bad = out[j] == sm_val((int)(j / n), rank, j % n, k) ? bad : j;
        }
        WT_CHECK(bad == SIZE_MAX, "alltoall %d: element %zu is %u", k, bad,
                 bad < all ? out[bad] : 0);

        /* broadcast of every block at once from root */
        for (size_t j = 0; j < all; j++) {
            out[j] = rank == root ? sm_val(root, 1, j, k) : 0xeeeeeeeeu;
        }
        if (k % 2 == 0) {
            WT_OK(weft_broadcast(out, all, WEFT_UINT32, root, w));
        } else {
            WT_OK(weft_ibroadcast(out, all, WEFT_UINT32, root, w, &req));
            WT_OK(weft_wait(req));
        }
        for (size_t j = 0; j < all && bad == SIZE_MAX; j++) {
            bad = out[j] == sm_val(root, 1, j, k) ? bad : j;
        }
        WT_CHECK(bad == SIZE_MAX, "broadcast %d from %d: element %zu is %u", k,
                 root, bad, bad < all ? out[bad] : 0);
    }
    for (int kind = WEFT_SHM_FORM_ALLGATHER;
         kind <= (size == 2 ? WEFT_SHM_FORM_ALLTOALL : WEFT_SHM_FORM_BROADCAST);
         kind++) {
        uint32_t tried[2] = {0, 0};

        for (int i = 0; i < WEFT_SHM_FORM_BUCKETS; i++) {
            tried[0] += ar->form[kind][i].n[0];
            tried[1] += ar->form[kind][i].n[1];
        }
        WT_CHECK(
            tried[0] >= 2 && tried[1] >= 2,
            "rank %d, kind %d: through the buffers %u times, read %u times",
            rank, kind, tried[0], tried[1]);
        WT_CHECK(tried[0] + tried[1] == SM_CALLS,
                 "rank %d, kind %d: %u of %d calls measured", rank, kind,
                 tried[0] + tried[1], SM_CALLS);
    }
    WT_OK(weft_barrier(w));
    free(in);
    free(out);
}

/* fn in a job of each rank count from `from` to 4, with 64 KiB buffers
 * and the forms measured. */
static void
sf_jobs(wt_rank_fn_t fn, int from, const char *what)
{
    for (int n = from; n <= 4; n++) {
        wt_job_t job = {.nranks = n,
                        .timeout_s = 120,
                        .env = {"WEFT_TIMEOUT=30s", "WEFT_SHM_COLL_BUF=64KiB",
                                "WEFT_SHM_COLL_LARGE=measure"}};

        cr_expect_eq(wt_run(&job, fn, NULL), 0, "%s, %d ranks", what, n);
    }
}

Test(coll_shm_form, measured_moves_arrive_whole, .timeout = 180)
{
    sf_jobs(sm_body, 2, "allgather, alltoall, broadcast");
}

Test(coll_shm_form, measured_allreduces_agree_bit_for_bit, .timeout = 180)
{
    sf_jobs(sf_body, 3, "allreduce");
}
