/*
 * Node-aware (hier) collectives in flight together on one comm: a plan
 * starts its later phases as the earlier ones finish, so two plans could
 * start them in different orders on different ranks (the first such pair
 * failed with a mismatch before plans took turns). Mixed nonblocking
 * allreduce, broadcast, allgather and alltoall, all forced to hier, waited
 * in reverse order, at 4 ranks on 2 nodes, 8 on 2 and 8 on 4; every
 * element checked. Also a partitioned allreduce forced to hier: its
 * partitions, started in partition order, take their turns in that order
 * whatever order the producers mark them in. And allreduces large enough
 * that hier pipelines them in segments (uneven ones, in place and not),
 * two in flight with a small one between them.
 */
#include "build_config.h"

#include <criterion/criterion.h>
#include <stdint.h>
#include <stdlib.h>
#include <weft.h>

#include "harness.h"

#define HC_K   8
#define HC_MAX 20000

static void
hc_force(weft_comm_t *w)
{
    WT_OK(weft_comm_set_algorithm(w, "allreduce", "hier"));
    WT_OK(weft_comm_set_algorithm(w, "broadcast", "hier"));
    WT_OK(weft_comm_set_algorithm(w, "allgather", "hier"));
    WT_OK(weft_comm_set_algorithm(w, "alltoall", "hier"));
}

static int32_t
hc_val(int r, size_t i, int k, int round)
{
    return (int32_t)(r * 100 + (int)(i % 1000) + k * 7 + round);
}

static void
hc_body(weft_context_t *ctx, weft_comm_t *w, void *arg)
{
    int me = weft_comm_rank(w), n = weft_comm_size(w);
    static const size_t cnt[HC_K] = {1, 9000, 3, 2500, 17, 2048, 640, 5};
    int32_t *in = malloc(HC_K * HC_MAX * 8 * sizeof(int32_t));
    int32_t *out = malloc(HC_K * HC_MAX * 8 * sizeof(int32_t));

    (void)ctx;
    (void)arg;
    hc_force(w);
    for (int round = 0; round < 20 && wt_failures == 0; round++) {
        weft_request_t *rq[HC_K];

        for (int k = 0; k < HC_K; k++) {
            int32_t *a = in + (size_t)k * HC_MAX * 8;
            int32_t *b = out + (size_t)k * HC_MAX * 8;
            size_t c = cnt[k];

            for (size_t i = 0; i < c * (size_t)n; i++) {
                a[i] = hc_val(me, i, k, round);
            }
            switch ((k + round) % 4) {
            case 0:
                WT_OK(
                    weft_iallreduce(a, b, c, WEFT_INT32, WEFT_SUM, w, &rq[k]));
                break;
            case 1:
                WT_OK(weft_ibroadcast(a, c, WEFT_INT32, round % n, w, &rq[k]));
                break;
            case 2:
                WT_OK(weft_iallgather(a, b, c, WEFT_INT32, w, &rq[k]));
                break;
            default:
                WT_OK(weft_ialltoall(a, b, c, WEFT_INT32, w, &rq[k]));
                break;
            }
        }
        for (int k = HC_K - 1; k >= 0; k--) {
            WT_OK(weft_wait(rq[k]));
        }
        for (int k = 0; k < HC_K && wt_failures == 0; k++) {
            const int32_t *a = in + (size_t)k * HC_MAX * 8;
            const int32_t *b = out + (size_t)k * HC_MAX * 8;
            size_t c = cnt[k];
            int kind = (k + round) % 4;
            size_t m = kind == 0 || kind == 1 ? c : c * (size_t)n;

            for (size_t i = 0; i < m; i++) {
                int32_t want, got = kind == 1 ? a[i] : b[i];

                if (kind == 0) {
                    want = 0;
                    for (int r = 0; r < n; r++) {
                        want += hc_val(r, i, k, round);
                    }
                } else if (kind == 1) {
                    want = hc_val(round % n, i, k, round);
                } else if (kind == 2) {
                    want = hc_val((int)(i / c), i % c, k, round);
                } else {
                    want =
                        hc_val((int)(i / c), (size_t)me * c + i % c, k, round);
                }
                if (got != want) {
                    WT_CHECK(0,
                             "round %d call %d (kind %d) element %zu: %d, "
                             "want %d",
                             round, k, kind, i, got, want);
                    break;
                }
            }
        }
    }
    free(in);
    free(out);
}

static void
hc_part_body(weft_context_t *ctx, weft_comm_t *w, void *arg)
{
    enum { N = 30000, P = 6 };
    int me = weft_comm_rank(w), n = weft_comm_size(w);
    static int32_t a[N], b[N];
    weft_request_t *req;
    unsigned seed = 7u + (unsigned)me;

    (void)ctx;
    (void)arg;
    WT_OK(weft_comm_set_algorithm(w, "allreduce", "hier"));
    WT_OK(weft_allreduce_init(a, b, N, WEFT_INT32, WEFT_SUM, P, w, &req));
    for (int it = 0; it < 3 && wt_failures == 0; it++) {
        size_t order[P];

        for (size_t i = 0; i < P; i++) {
            order[i] = i;
        }
        for (size_t i = P; i > 1; i--) {
            size_t j = (size_t)rand_r(&seed) % i, t = order[i - 1];

            order[i - 1] = order[j];
            order[j] = t;
        }
        WT_OK(weft_start(req));
        for (size_t k = 0; k < P; k++) {
            size_t first, len;

            WT_OK(weft_partition_extent(req, order[k], &first, &len));
            for (size_t i = first; i < first + len; i++) {
                a[i] = hc_val(me, i, 0, it);
            }
            WT_OK(weft_pready(req, order[k]));
        }
        WT_OK(weft_wait(req));
        for (size_t i = 0; i < N; i++) {
            int32_t want = 0;

            for (int r = 0; r < n; r++) {
                want += hc_val(r, i, 0, it);
            }
            if (b[i] != want) {
                WT_CHECK(0, "start %d element %zu: %d, want %d", it, i, b[i],
                         want);
                break;
            }
        }
    }
    weft_request_free(req);
}

/* Allreduces that hier cuts into segments (4, 32 and 5 of them, the last
 * ones shorter), two at a time with a small call between them, out of
 * place and in place. */
static void
hc_seg_body(weft_context_t *ctx, weft_comm_t *w, void *arg)
{
    enum { SMALL = 100 };
    static const size_t cnt[] = {262147, 2097157, 327689};
    size_t max = cnt[1];
    int me = weft_comm_rank(w), n = weft_comm_size(w);
    int32_t *in[2], *out[2], small[SMALL], small_out[SMALL];

    (void)ctx;
    (void)arg;
    WT_OK(weft_comm_set_algorithm(w, "allreduce", "hier"));
    for (int j = 0; j < 2; j++) {
        in[j] = malloc(max * sizeof(int32_t));
        out[j] = malloc(max * sizeof(int32_t));
        cr_assert(in[j] != NULL && out[j] != NULL);
    }
    for (int round = 0; round < 4 && wt_failures == 0; round++) {
        int inplace = round >= 2;
        weft_request_t *rq[3];

        for (int j = 0; j < 2; j++) {
            size_t c = cnt[(round + j) % 3];

            for (size_t i = 0; i < c; i++) {
                in[j][i] = hc_val(me, i, j, round);
                out[j][i] = inplace ? in[j][i] : -1;
            }
        }
        for (int i = 0; i < SMALL; i++) {
            small[i] = hc_val(me, (size_t)i, 2, round);
        }
        WT_OK(weft_iallreduce(inplace ? out[0] : in[0], out[0], cnt[round % 3],
                              WEFT_INT32, WEFT_SUM, w, &rq[0]));
        WT_OK(weft_iallreduce(small, small_out, SMALL, WEFT_INT32, WEFT_SUM, w,
                              &rq[1]));
        WT_OK(weft_iallreduce(inplace ? out[1] : in[1], out[1],
                              cnt[(round + 1) % 3], WEFT_INT32, WEFT_SUM, w,
                              &rq[2]));
        for (int k = 2; k >= 0; k--) {
            WT_OK(weft_wait(rq[k]));
        }
        for (int j = 0; j < 3 && wt_failures == 0; j++) {
            size_t c = j == 1 ? SMALL : cnt[(round + j / 2) % 3];
            const int32_t *got = j == 1 ? small_out : out[j / 2];

            for (size_t i = 0; i < c; i++) {
                int32_t want = 0;

                for (int r = 0; r < n; r++) {
                    want += hc_val(r, i, j == 1 ? 2 : j / 2, round);
                }
                if (got[i] != want) {
                    WT_CHECK(0,
                             "round %d call %d element %zu of %zu: %d, "
                             "want %d",
                             round, j, i, c, got[i], want);
                    break;
                }
            }
        }
    }
    for (int j = 0; j < 2; j++) {
        free(in[j]);
        free(out[j]);
    }
}

static void
hc_jobs(wt_rank_fn_t fn)
{
    static const int shapes[][2] = {{4, 2}, {8, 2}, {8, 4}};

    for (int i = 0; i < 3; i++) {
        wt_job_t job = {
            .nranks = shapes[i][0],
            .nodes = shapes[i][1],
            .timeout_s = 240,
            .env = {"WEFT_TIMEOUT=60s", "WEFT_LOG_LEVEL=error", NULL}};

        cr_expect_eq(wt_run(&job, fn, NULL), 0, "%d ranks on %d nodes",
                     shapes[i][0], shapes[i][1]);
    }
}

Test(coll_hier_concurrent, mixed_calls_in_flight, .timeout = 600)
{
    hc_jobs(hc_body);
}

Test(coll_hier_concurrent, partitioned_over_nodes, .timeout = 600)
{
    hc_jobs(hc_part_body);
}

Test(coll_hier_concurrent, segmented_allreduce, .timeout = 600)
{
    hc_jobs(hc_seg_body);
}
