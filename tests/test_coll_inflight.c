/*
 * Collectives in flight together, every output element checked against
 * the reference (coll_ref.c, coll_case.c):
 *   - one of each collective started nonblocking on one comm, finished
 *     by waitall, by waits in reverse order, or by tests in an order that
 *     differs between ranks (1, 2, 3, 4 and 8 ranks);
 *   - the same collective on two dup'ed comms, started in an order that
 *     differs between even and odd ranks, with weft's choice of algorithm
 *     and every pair of forced ones (2, 3, 4 and 8 ranks).
 */
#include "build_config.h"

#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <weft.h>

#include "coll_mx.h"
#include "collectives/select.h"
#include "harness.h"

/* ---- several collectives in flight on one comm ---- */

static const mx_spec_t mx_flight[] = {
    {WEFT_COLL_ALLREDUCE, WEFT_FLOAT32, WEFT_SUM, 100003, 0, 0},
    {WEFT_COLL_BROADCAST, WEFT_INT32, -1, 1000, 1, 0},
    {WEFT_COLL_ALLGATHER, WEFT_UINT8, -1, 777, 0, 1},
    {WEFT_COLL_ALLREDUCE, WEFT_FLOAT16, WEFT_AVG, 7, 0, 1},
    {WEFT_COLL_REDUCE_SCATTER, WEFT_BFLOAT16, WEFT_SUM, 50, 0, 0},
    {WEFT_COLL_ALLTOALL, WEFT_FLOAT64, -1, 33, 0, 0},
    {WEFT_COLL_GATHER, WEFT_INT64, -1, 5, 0, 0},
    {WEFT_COLL_REDUCE, WEFT_INT8, WEFT_SUM, 1000, 1, 0},
    {WEFT_COLL_ALLGATHERV, WEFT_UINT32, -1, 300, 0, 0},
    {WEFT_COLL_SCATTER, WEFT_FLOAT32, -1, 64, 1, 0},
    {WEFT_COLL_ALLTOALLV, WEFT_INT32, -1, 20, 0, 0},
    {WEFT_COLL_REDUCE_SCATTER_V, WEFT_FLOAT64, WEFT_MAX, 9, 0, 1},
    {WEFT_COLL_BARRIER, WEFT_UINT8, -1, 0, 0, 0},
};
#define MX_NFLIGHT (sizeof(mx_flight) / sizeof(mx_flight[0]))

static void
mx_flight_body(weft_context_t *ctx, weft_comm_t *w, void *arg)
{
    mx_shared_t *sh = arg;
    int rank = weft_comm_rank(w), size = weft_comm_size(w);
    wt_case_run_t x[MX_NFLIGHT];
    weft_request_t *reqs[MX_NFLIGHT];
    int use[MX_NFLIGHT], nuse = 0;

    (void)ctx;
    for (size_t i = 0; i < MX_NFLIGHT; i++) {
        wt_case_t c = mx_spec_case(&mx_flight[i], size, 0, 0);

        use[i] = wt_case_available(&c, w);
        nuse += use[i];
    }
    if (rank == 0) {
        sh->available = nuse;
    }
    for (int round = 0; round < 3; round++) {
        size_t started = 0;
        weft_status_t st;

        memset(reqs, 0, sizeof(reqs));
        for (size_t i = 0; i < MX_NFLIGHT; i++) {
            wt_case_t c =
                mx_spec_case(&mx_flight[i], size, -1, mx_mix(round + 1, i) | 1);

            memset(&x[i], 0, sizeof(x[i]));
            if (!use[i] || wt_case_setup(&x[i], &c, w) != 0) {
                continue;
            }
            st = wt_case_start(&x[i], w);
            if (st != WEFT_OK) {
                mx_fail_case(sh, &x[i], "start", st);
                break;
            }
            reqs[i] = x[i].req;
            x[i].req = NULL;
            started++;
        }
        /* three ways to finish: waitall; wait in reverse order; test in
         * an order that differs between ranks */
        if (round == 0) {
            st = weft_waitall(MX_NFLIGHT, reqs);
            if (st != WEFT_OK) {
                mx_fail_case(sh, &x[0], "weft_waitall", st);
            }
        } else if (round == 1) {
            for (size_t i = MX_NFLIGHT; i-- > 0;) {
                if (reqs[i] != NULL && (st = weft_wait(reqs[i])) != WEFT_OK) {
                    mx_fail_case(sh, &x[i], "weft_wait", st);
                }
            }
        } else {
            size_t left = started;

            while (left > 0) {
                for (size_t k = 0; k < MX_NFLIGHT; k++) {
                    size_t i = (k + (size_t)rank * 5) % MX_NFLIGHT;
                    int done = 0;

                    if (reqs[i] == NULL) {
                        continue;
                    }
                    st = weft_test(reqs[i], &done);
                    if (done) {
                        reqs[i] = NULL;
                        left--;
                        if (st != WEFT_OK) {
                            mx_fail_case(sh, &x[i], "weft_test", st);
                        }
                    } else if (st != WEFT_OK) {
                        mx_fail_case(sh, &x[i], "weft_test", st);
                        return;
                    }
                }
                sched_yield();
            }
        }
        for (size_t i = 0; i < MX_NFLIGHT; i++) {
            if (use[i] && x[i].c.coll != WEFT_COLL_BARRIER) {
                mx_verify_case(sh, &x[i]);
            }
            wt_case_free(&x[i]);
        }
        if (sh->fails > 0) {
            return;
        }
    }
}

static void
mx_run_extra(wt_rank_fn_t fn, const char *what, const int *ranks, int nr)
{
    int skipped = 0;

    for (int i = 0; i < nr; i++) {
        mx_shared_t *sh = mx_shared_new(WEFT_COLL_ALLREDUCE);
        wt_job_t job = {.nranks = ranks[i],
                        .timeout_s = MX_JOB_TIMEOUT,
                        .env = {"WEFT_TIMEOUT=30s"}};
        int failed = wt_run(&job, fn, sh);

        cr_expect(failed == 0 && sh->fails == 0,
                  "%s, %d ranks: %d rank(s) failed, %d wrong case(s); "
                  "first: %s",
                  what, ranks[i], failed, sh->fails,
                  sh->first[0] ? sh->first : "(see the log)");
        cr_log_info("%s, %d ranks: %d collectives available", what, ranks[i],
                    sh->available);
        skipped += sh->available < 2;
        munmap(sh, sizeof(*sh));
    }
    if (skipped == nr) {
        cr_skip_test("%s: fewer than two collectives have a written "
                     "algorithm yet",
                     what);
    }
}

Test(coll_inflight, nonblocking_in_flight_together, .timeout = 600)
{
    static const int ranks[] = {1, 2, 3, 4, 8};

    mx_run_extra(mx_flight_body, "in flight together", ranks, 5);
}

/* ---- the same collective on two dup'ed comms, interleaved ---- */

static const mx_spec_t mx_dup_specs[] = {
    {WEFT_COLL_ALLREDUCE, WEFT_FLOAT32, WEFT_SUM, 10007, 0, 0},
    {WEFT_COLL_ALLGATHER, WEFT_INT32, -1, 500, 0, 0},
    {WEFT_COLL_BROADCAST, WEFT_FLOAT64, -1, 3000, 1, 0},
    {WEFT_COLL_REDUCE_SCATTER, WEFT_BFLOAT16, WEFT_SUM, 301, 0, 1},
};

/* A1, A2 on d[0] and B1, B2 on d[1]: started in an order that differs
 * between even and odd ranks (each comm's own order is the same on every
 * rank), finished in yet another. */
static void
mx_dup_pair(mx_shared_t *sh, weft_comm_t *d[2], const mx_spec_t *sp, int algo0,
            int algo1, uint64_t seq)
{
    int rank = weft_comm_rank(d[0]), size = weft_comm_size(d[0]);
    static const int even[4] = {0, 2, 1, 3}, odd[4] = {2, 0, 3, 1};
    const int *order = rank % 2 ? odd : even;
    wt_case_run_t x[4];
    weft_status_t st;
    int ok = 1;

    memset(x, 0, sizeof(x));
    for (int k = 0; k < 4; k++) { /* 0, 1: d[0]; 2, 3: d[1] */
        wt_case_t c =
            mx_spec_case(sp, size, k < 2 ? algo0 : algo1, mx_mix(seq, k) | 1);

        if (wt_case_setup(&x[k], &c, d[k / 2]) != 0) {
            ok = 0;
        }
    }
    for (int j = 0; j < 4 && ok; j++) {
        int k = order[j];

        st = wt_case_start(&x[k], d[k / 2]);
        if (st != WEFT_OK) {
            mx_fail_case(sh, &x[k], "start", st);
            ok = 0;
        }
    }
    for (int j = 3; j >= 0 && ok; j--) {
        int k = rank % 2 ? j : order[j];

        st = wt_case_finish(&x[k]);
        if (st != WEFT_OK) {
            mx_fail_case(sh, &x[k], "finish", st);
            ok = 0;
        }
    }
    for (int k = 0; k < 4; k++) {
        if (ok) {
            mx_verify_case(sh, &x[k]);
        }
        wt_case_free(&x[k]);
    }
}

static void
mx_dup_body(weft_context_t *ctx, weft_comm_t *w, void *arg)
{
    mx_shared_t *sh = arg;
    int rank = weft_comm_rank(w), size = weft_comm_size(w), nuse = 0;
    weft_comm_t *d[2] = {NULL, NULL};

    (void)ctx;
    WT_OK(weft_comm_dup(w, &d[0]));
    WT_OK(weft_comm_dup(w, &d[1]));
    if (d[0] == NULL || d[1] == NULL) {
        return;
    }
    for (size_t s = 0; s < sizeof(mx_dup_specs) / sizeof(mx_dup_specs[0]);
         s++) {
        const mx_spec_t *sp = &mx_dup_specs[s];
        const weft__algo_t *const *algos = weft__algos(sp->coll);
        const char *cname = weft__coll_name(sp->coll);
        int ok[MX_MAX_ALGOS] = {0}, any;
        wt_case_t c = mx_spec_case(sp, size, 0, 0);

        if (!wt_case_available(&c, w)) {
            continue;
        }
        nuse++;
        /* weft's choice on both, then every pair of forced algorithms */
        mx_dup_pair(sh, d, sp, -1, -1, mx_mix(s, 99));
        for (int i = 0; algos[i] != NULL; i++) {
            wt_case_run_t x;

            c.algo = i;
            any = wt_case_setup(&x, &c, w) == 0;
            ok[i] = any && wt_case_supported(&x, w) == NULL;
            wt_case_free(&x);
        }
        for (int i = 0; algos[i] != NULL && sh->fails == 0; i++) {
            for (int j = 0; algos[j] != NULL && sh->fails == 0; j++) {
                if (!ok[i] || !ok[j]) {
                    continue;
                }
                WT_OK(weft_comm_set_algorithm(d[0], cname, algos[i]->name));
                WT_OK(weft_comm_set_algorithm(d[1], cname, algos[j]->name));
                mx_dup_pair(sh, d, sp, i, j, mx_mix(s, 10 * i + j));
            }
        }
        WT_OK(weft_comm_set_algorithm(d[0], cname, NULL));
        WT_OK(weft_comm_set_algorithm(d[1], cname, NULL));
    }
    if (rank == 0) {
        sh->available = nuse + 1; /* one collective is enough here */
    }
    WT_OK(weft_comm_destroy(d[0]));
    WT_OK(weft_comm_destroy(d[1]));
}

Test(coll_inflight, same_collective_on_two_dup_comms, .timeout = 600)
{
    static const int ranks[] = {2, 3, 4, 8};

    mx_run_extra(mx_dup_body, "two dup'ed comms", ranks, 4);
}
