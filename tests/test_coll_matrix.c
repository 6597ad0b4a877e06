/*
 * The collective matrix: every collective x every algorithm (forced with
 * weft_comm_set_algorithm) x dtype x op x count {0, 1, 7, 1000, 1M+3} x
 * ranks {1, 2, 3, 4, 5, 8} x in place x root {0, size-1}, every byte of
 * every output checked against a reference computed here (coll_ref.c,
 * coll_case.c): results exact, gaps, guards, unused buffers and send
 * buffers untouched.
 *
 * One Criterion test per collective; it runs one job per rank count, and
 * each job runs every algorithm of the collective over its cases.
 *
 * Default run (make check) samples the product. For each (collective,
 * algorithm, ranks):
 *   - WT_COLL_CASES (32) cases drawn from (dtype, op, count in {0, 1, 7,
 *     1000}, in place, root, blocking/nonblocking) by a PRNG seeded with
 *     (WT_COLL_SEED, collective, algorithm, ranks); the dtype goes round
 *     all ten, so every job sees every dtype;
 *   - fixed cases: count 0 and count 1M+3 of fp32 (sum where it reduces)
 *     at 3 ranks (not in place, root size-1) and 4 ranks (in place,
 *     root 0); at 5 and 8 ranks four counts smaller than the rank count
 *     (empty blocks); for reductions int8 sum (count 1000) and uint8 sum
 *     (count 7), which wrap.
 * Jobs of 2, 5 and 8 ranks run with WEFT_COLL_CHUNK=1KiB and
 * WEFT_SHM_COLL_BUF=1KiB so that small counts are pipelined in several
 * chunks and take the node-local direct-read and piped paths too (the
 * 5-rank job pipes every call that has a piped form); one more job of
 * 4 ranks and one of 5 run over two "nodes" (WEFT_NODE_ID: shm inside,
 * tcp between; 2 + 2 and 3 + 2 ranks), where the node-aware algorithms
 * run.
 * WT_COLL_FULL=1 (make check-long) runs the whole product instead;
 * WT_COLL_SEED=n draws another sample; WT_COLL_RANKS=3,8 keeps those rank
 * counts only.
 *
 * Algorithms whose supported() says "not written yet" (placeholders) are
 * skipped with a note; a call that an algorithm's supported() refuses must
 * fail with WEFT_ERR_UNSUPPORTED naming it (no silent fallback).
 *
 * test_coll_inflight.c: several nonblocking collectives in flight at once
 * on one comm, and the same collective on two dup'ed comms, interleaved.
 */
#include "build_config.h"

#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <weft.h>

#include "coll_mx.h"
#include "collectives/select.h"
#include "harness.h"

/* A note in the test's log. (cr_log_warn would make Criterion 2.4.1 exit
 * with status 1 even when every test passes.) */
#define mx_note(...)                                                           \
    do {                                                                       \
        fprintf(stderr, "note: " __VA_ARGS__);                                 \
        fputc('\n', stderr);                                                   \
    } while (0)

#define MX_BIG              ((size_t)(1u << 20) + 3)
#define MX_MAX_CASES        1200
#define MX_JOB_TIMEOUT_FULL 7200.0    /* per job, WT_COLL_FULL */
#define MX_TEST_TIMEOUT (6 * 3600.0)  /* the jobs' deadlines catch hangs */

static const int mx_ranks[] = {1, 2, 3, 4, 5, 8};
static const size_t mx_counts[] = {0, 1, 7, 1000, MX_BIG};
static const size_t mx_small[] = {0, 1, 7, 7, 1000, 1000};

/* ---- the cases of one (collective, algorithm, ranks) ---- */

static int
mx_ops(weft__coll_t coll, weft_dtype_t dt, int *ops)
{
    int n = 0;

    if (!wt_coll_reduces(coll)) {
        ops[0] = -1;
        return 1;
    }
    ops[n++] = WEFT_SUM;
    ops[n++] = WEFT_PROD;
    ops[n++] = WEFT_MIN;
    ops[n++] = WEFT_MAX;
    if (wt_ref_is_float(dt)) {
        ops[n++] = WEFT_AVG;
    }
    return n;
}

static size_t
mx_add(wt_case_t *out, size_t n, weft__coll_t coll, int algo,
       weft_dtype_t dt, int op, size_t count, int inplace, int root,
       uint64_t seq)
{
    if (n >= MX_MAX_CASES) {
        return n;
    }
    out[n] = (wt_case_t){.coll = coll, .algo = algo, .dt = dt, .op = op,
                         .count = count, .inplace = inplace, .root = root,
                         .nb = (int)(seq % 3), .seq = seq};
    return n + 1;
}

static size_t
mx_cases(const mx_shared_t *sh, int algo, int size, wt_case_t *out)
{
    weft__coll_t coll = sh->coll;
    uint64_t rng = mx_mix(mx_mix(mx_mix(sh->seed, coll), algo), size);
    int rooted = wt_coll_rooted(coll), inp = wt_coll_has_inplace(coll);
    int red = wt_coll_reduces(coll), ops[5], nops;
    size_t n = 0;

    if (sh->full) {
        for (int dt = 0; dt < WEFT_DTYPE_COUNT; dt++) {
            nops = mx_ops(coll, (weft_dtype_t)dt, ops);
            for (int o = 0; o < nops; o++) {
                for (int c = 0; c < 5; c++) {
                    for (int ip = 0; ip <= inp; ip++) {
                        for (int rt = 0; rt <= (rooted && size > 1); rt++) {
                            n = mx_add(out, n, coll, algo, (weft_dtype_t)dt,
                                       ops[o], mx_counts[c], ip,
                                       rt ? size - 1 : 0, mx_next(&rng));
                        }
                    }
                }
            }
        }
        return n;
    }
    uint64_t dt0 = mx_next(&rng) % WEFT_DTYPE_COUNT;

    for (int j = 0; j < sh->ncases; j++) {
        weft_dtype_t dt = (weft_dtype_t)((dt0 + (uint64_t)j) % WEFT_DTYPE_COUNT);
        uint64_t v = mx_next(&rng);

        nops = mx_ops(coll, dt, ops);
        n = mx_add(out, n, coll, algo, dt, ops[v % (uint64_t)nops],
                   mx_small[(v >> 8) % 6], inp && ((v >> 16) & 1),
                   rooted && ((v >> 17) & 1) ? size - 1 : 0, mx_next(&rng));
    }
    if (size == 3 || size == 4) {
        int ip = inp && size == 4, root = size == 3 ? size - 1 : 0;

        n = mx_add(out, n, coll, algo, WEFT_FLOAT32, red ? WEFT_SUM : -1, 0,
                   ip, root, mx_next(&rng));
        n = mx_add(out, n, coll, algo, WEFT_FLOAT32, red ? WEFT_SUM : -1,
                   MX_BIG, ip, root, mx_next(&rng));
    }
    if (size >= 5) { /* fewer elements than ranks: some blocks empty */
        const size_t few[4] = {(size_t)size - 1, (size_t)size - 3, 2, 3};

        for (int j = 0; j < 4; j++) {
            n = mx_add(out, n, coll, algo, j % 2 ? WEFT_INT32 : WEFT_FLOAT64,
                       red ? WEFT_SUM : -1, few[j], inp && (j & 1),
                       rooted && j >= 2 ? size - 1 : 0, mx_next(&rng));
        }
    }
    if (red) {
        n = mx_add(out, n, coll, algo, WEFT_INT8, WEFT_SUM, 1000, 0, 0,
                   mx_next(&rng));
        n = mx_add(out, n, coll, algo, WEFT_UINT8, WEFT_SUM, 7, inp,
                   rooted ? size - 1 : 0, mx_next(&rng));
    }
    return n;
}

/* ---- one case in a rank ---- */

enum { MX_OK, MX_WRONG, MX_REFUSED, MX_PLACEHOLDER, MX_FATAL };

static int
mx_one(mx_shared_t *sh, weft_comm_t *w, const wt_case_t *c)
{
    const weft__algo_t *algo = c->algo >= 0 ? weft__algos(c->coll)[c->algo]
                                            : NULL;
    const char *cname = weft__coll_name(c->coll);
    wt_case_run_t x;
    char desc[256], msg[1024], first[768] = "";
    const char *why, *last;
    weft_status_t st;
    size_t bad;

    if (wt_case_setup(&x, c, w) != 0) {
        wt_case_free(&x);
        return MX_FATAL;
    }
    wt_case_desc(c, x.size, desc, sizeof(desc));
    why = wt_case_supported(&x, w);
    if (why != NULL && strstr(why, "not written yet") != NULL) {
        wt_case_free(&x);
        return MX_PLACEHOLDER;
    }
    st = wt_case_start(&x, w);
    if (st == WEFT_OK) {
        st = wt_case_finish(&x);
    }
    if (why != NULL) {
        wt_case_free(&x);
        if (st == WEFT_ERR_UNSUPPORTED &&
            strstr(weft_last_error(), algo->name) != NULL) {
            return MX_REFUSED;
        }
        snprintf(msg, sizeof(msg),
                 "rank %d: %s: supported() refuses it (%s) but the call "
                 "returned %s (%s), not WEFT_ERR_UNSUPPORTED naming %s",
                 x.rank, desc, why, weft_status_string(st),
                 weft_last_error(), algo->name);
        WT_CHECK(0, "%s", msg);
        mx_record(sh, msg);
        return st == WEFT_OK ? MX_WRONG : MX_FATAL;
    }
    if (st != WEFT_OK) {
        snprintf(msg, sizeof(msg), "rank %d: %s: returned %s (%s)", x.rank,
                 desc, weft_status_string(st), weft_last_error());
        WT_CHECK(0, "%s", msg);
        mx_record(sh, msg);
        wt_case_free(&x);
        return MX_FATAL;
    }
    last = weft_comm_last_algorithm(w, cname);
    if (algo != NULL && (last == NULL || strcmp(last, algo->name) != 0)) {
        snprintf(msg, sizeof(msg),
                 "rank %d: %s: weft_comm_last_algorithm says %s", x.rank,
                 desc, last ? last : "(null)");
        WT_CHECK(0, "%s", msg);
        mx_record(sh, msg);
    }
    bad = wt_case_verify(&x, first, sizeof(first));
    wt_case_free(&x);
    if (bad > 0) {
        snprintf(msg, sizeof(msg), "%s (%zu wrong elements)", first, bad);
        WT_CHECK(0, "%s", msg);
        mx_record(sh, msg);
        return MX_WRONG;
    }
    return MX_OK;
}

static void
mx_body(weft_context_t *ctx, weft_comm_t *w, void *arg)
{
    mx_shared_t *sh = arg;
    const weft__algo_t *const *algos = weft__algos(sh->coll);
    const char *cname = weft__coll_name(sh->coll);
    int rank = weft_comm_rank(w), size = weft_comm_size(w);
    wt_case_t *cases = malloc(MX_MAX_CASES * sizeof(*cases));

    (void)ctx;
    WT_CHECK(cases != NULL, "out of memory");
    for (int ai = 0; cases != NULL && algos[ai] != NULL; ai++) {
        size_t n = mx_cases(sh, ai, size, cases);

        WT_OK(weft_comm_set_algorithm(w, cname, algos[ai]->name));
        for (size_t i = 0; i < n; i++) {
            int res = mx_one(sh, w, &cases[i]);

            if (res == MX_PLACEHOLDER) {
                if (rank == 0) {
                    sh->placeholder[ai] = 1;
                }
                break;
            }
            if (res == MX_FATAL) {
                goto out; /* the comm may be failed: stop here */
            }
            if (rank == 0) {
                sh->run[ai] += res != MX_REFUSED;
                sh->refused[ai] += res == MX_REFUSED;
            }
        }
    }
out:
    WT_OK(weft_comm_set_algorithm(w, cname, NULL));
    free(cases);
}

/* Barrier: a shared counter every rank bumps before each barrier; after
 * barrier t every rank has bumped it t + 1 times and none t + 3 times.
 * One rank is late each round. */
static void
mx_barrier_body(weft_context_t *ctx, weft_comm_t *w, void *arg)
{
    mx_shared_t *sh = arg;
    const weft__algo_t *const *algos = weft__algos(WEFT_COLL_BARRIER);
    int rank = weft_comm_rank(w), n = weft_comm_size(w);
    long t = 0;
    char msg[512];

    (void)ctx;
    for (int ai = 0; algos[ai] != NULL; ai++) {
        wt_case_t c = {.coll = WEFT_COLL_BARRIER, .algo = ai,
                       .dt = WEFT_UINT8, .op = -1};
        wt_case_run_t x;
        const char *why;

        wt_case_setup(&x, &c, w);
        why = wt_case_supported(&x, w);
        if (why != NULL) {
            if (rank == 0) {
                sh->placeholder[ai] = strstr(why, "not written yet") != NULL;
                sh->refused[ai] += !sh->placeholder[ai];
            }
            continue;
        }
        WT_OK(weft_comm_set_algorithm(w, "barrier", algos[ai]->name));
        for (int j = 0; j < 12; j++, t++) {
            weft_status_t st;
            long v;

            x.c.nb = j % 3;
            if (rank == j % n) {
                usleep(3000);
            }
            __atomic_add_fetch(&sh->barrier_count, 1, __ATOMIC_SEQ_CST);
            st = wt_case_start(&x, w);
            st = st == WEFT_OK ? wt_case_finish(&x) : st;
            v = __atomic_load_n(&sh->barrier_count, __ATOMIC_SEQ_CST);
            if (st != WEFT_OK || v < n * (t + 1) || v > n * (t + 2) - 1) {
                snprintf(msg, sizeof(msg),
                         "rank %d: barrier/%s ranks %d round %d nb %d: %s "
                         "(%s); counter %ld after the barrier, want %ld..%ld",
                         rank, algos[ai]->name, n, j, j % 3,
                         weft_status_string(st),
                         st ? weft_last_error() : "", v, n * (t + 1),
                         n * (t + 2) - 1);
                WT_CHECK(0, "%s", msg);
                mx_record(sh, msg);
                return;
            }
        }
        if (rank == 0) {
            sh->run[ai] += 12;
        }
    }
    WT_OK(weft_comm_set_algorithm(w, "barrier", NULL));
}

/* ---- the Criterion side ---- */

/* WT_COLL_RANKS=3,8 runs those rank counts only (for chasing a failure). */
static int
mx_ranks_wanted(int n)
{
    const char *v = getenv("WT_COLL_RANKS");
    char buf[128], *save = NULL;

    if (v == NULL || *v == '\0') {
        return 1;
    }
    snprintf(buf, sizeof(buf), "%s", v);
    for (char *t = strtok_r(buf, ",", &save); t != NULL;
         t = strtok_r(NULL, ",", &save)) {
        if (atoi(t) == n) {
            return 1;
        }
    }
    return 0;
}

static void
mx_summary(const mx_shared_t *sh, int size)
{
    const weft__algo_t *const *algos = weft__algos(sh->coll);
    char line[1024] = "";
    size_t used = 0;

    for (int ai = 0; algos[ai] != NULL && used < sizeof(line); ai++) {
        int k;

        if (sh->placeholder[ai]) {
            k = snprintf(line + used, sizeof(line) - used,
                         "%s%s: placeholder (not written yet), skipped",
                         ai ? "; " : "", algos[ai]->name);
        } else {
            k = snprintf(line + used, sizeof(line) - used,
                         "%s%s: %d cases, %d refused by supported()",
                         ai ? "; " : "", algos[ai]->name, sh->run[ai],
                         sh->refused[ai]);
        }
        used += k > 0 ? (size_t)k : 0;
    }
    if (strstr(line, "placeholder") != NULL) {
        mx_note("%s, %d ranks: %s", weft__coll_name(sh->coll),
                    size, line);
    } else {
        cr_log_info("%s, %d ranks: %s", weft__coll_name(sh->coll), size,
                    line);
    }
}

/* The transports of the jobs (NULL: the default) and two more settings
 * (the ucx runs: UCX_TLS and UCX_NET_DEVICES). */
static const char *mx_tl;
static const char *mx_env_extra[2];

/* One job of n ranks over `nodes` "nodes" (1: one, all in shm). */
static int
mx_run_job(weft__coll_t coll, int n, int nodes)
{
    mx_shared_t *sh = mx_shared_new(coll);
    /* small pieces, and node-local calls past their shared buffers, so
     * small counts take the pipelined and direct-read paths too */
    int chunked = n == 2 || n == 5 || n == 8;
    wt_job_t job = {
        .nranks = n,
        .nodes = nodes,
        .timeout_s = sh->full ? MX_JOB_TIMEOUT_FULL : MX_JOB_TIMEOUT,
        .env = {sh->full ? "WEFT_TIMEOUT=600s" : "WEFT_TIMEOUT=30s",
                chunked ? "WEFT_COLL_CHUNK=1KiB" : NULL,
                chunked ? "WEFT_SHM_COLL_BUF=1KiB" : NULL,
                /* the piped forms of the collectives that read by default;
                 * the read ones where more ranks than cores would measure
                 * (test_coll_shm_form.c) */
                n == 5   ? "WEFT_SHM_COLL_LARGE=pipe"
                : n == 3 ? "WEFT_SHM_COLL_LARGE=read"
                         : NULL},
    };
    int failed, used = 0;

    for (int i = 0; i < 4; i++) { /* the env list ends at its first NULL */
        if (job.env[i] != NULL) {
            job.env[used++] = job.env[i];
        }
    }
    for (int i = 0; i < 2; i++) {
        job.env[used + i] = mx_env_extra[i];
    }
    for (int i = used + 2; i < 8; i++) {
        job.env[i] = NULL;
    }
    job.tl = mx_tl;
    failed =
        wt_run(&job, coll == WEFT_COLL_BARRIER ? mx_barrier_body : mx_body, sh);
    int bad;

    mx_summary(sh, n);
    cr_expect(failed == 0 && sh->fails == 0,
              "%s, %d ranks on %d node(s) (seed %llu%s): %d rank(s) failed, "
              "%d wrong or failed case(s); first: %s",
              weft__coll_name(coll), n, nodes, (unsigned long long)sh->seed,
              sh->full ? ", full" : "", failed, sh->fails,
              sh->first[0] ? sh->first : "(see the log)");
    bad = failed != 0 || sh->fails != 0;
    munmap(sh, sizeof(*sh));
    return bad;
}

static void
mx_run_coll(weft__coll_t coll)
{
    int bad_jobs = 0;

    for (size_t i = 0; i < sizeof(mx_ranks) / sizeof(mx_ranks[0]); i++) {
        if (mx_ranks_wanted(mx_ranks[i])) {
            bad_jobs += mx_run_job(coll, mx_ranks[i], 1);
        }
    }
    /* shm inside each "node", tcp between them; 5 ranks: 3 + 2 */
    if (mx_ranks_wanted(4)) {
        bad_jobs += mx_run_job(coll, 4, 2);
    }
    if (mx_ranks_wanted(5)) {
        bad_jobs += mx_run_job(coll, 5, 2);
    }
    if (bad_jobs) {
        mx_note("%s: %d jobs failed", weft__coll_name(coll), bad_jobs);
    }
}

#define MX_COLL_TEST(_name, _coll)                                             \
    Test(coll_matrix, _name, .timeout = MX_TEST_TIMEOUT)                       \
    {                                                                          \
        mx_run_coll(_coll);                                                    \
    }

MX_COLL_TEST(allreduce, WEFT_COLL_ALLREDUCE)
MX_COLL_TEST(reduce, WEFT_COLL_REDUCE)
MX_COLL_TEST(broadcast, WEFT_COLL_BROADCAST)
MX_COLL_TEST(allgather, WEFT_COLL_ALLGATHER)
MX_COLL_TEST(allgatherv, WEFT_COLL_ALLGATHERV)
MX_COLL_TEST(reduce_scatter, WEFT_COLL_REDUCE_SCATTER)
MX_COLL_TEST(reduce_scatter_v, WEFT_COLL_REDUCE_SCATTER_V)
MX_COLL_TEST(alltoall, WEFT_COLL_ALLTOALL)
MX_COLL_TEST(alltoallv, WEFT_COLL_ALLTOALLV)
MX_COLL_TEST(gather, WEFT_COLL_GATHER)
MX_COLL_TEST(scatter, WEFT_COLL_SCATTER)
MX_COLL_TEST(barrier, WEFT_COLL_BARRIER)

/* ---- every collective over the ucx module ---- */

/* WEFT_TL=self,ucx: 8 ranks over UCX's tcp, 3 over its shared memory;
 * WT_COLL_CASES cases each (the sample the other jobs draw). */
Test(coll_matrix, every_collective_over_ucx, .timeout = 1200)
{
    static const struct {
        const char *tls;
        int n;
    } runs[] = {{"UCX_TLS=tcp", 8}, {"UCX_TLS=sm", 3}};
    int bad_jobs = 0;
    char why[512];

    if (!wt_module_loadable("ucx", why, sizeof(why))) {
        cr_skip_test("transport ucx is not built here: %s", why);
    }
    mx_tl = "self,ucx";
    mx_env_extra[1] = "UCX_NET_DEVICES=lo";
    for (int k = 0; k < 2; k++) {
        mx_env_extra[0] = runs[k].tls;
        for (int c = 0; c < WEFT_COLL_COUNT; c++) {
            if (mx_ranks_wanted(runs[k].n)) {
                bad_jobs += mx_run_job((weft__coll_t)c, runs[k].n, 1);
            }
        }
    }
    cr_assert_eq(bad_jobs, 0, "over ucx: %d jobs failed", bad_jobs);
}
