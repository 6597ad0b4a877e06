/*
 * Faults in collectives, with forked ranks (tests/harness.c), over tcp (the
 * schedule engine) and over shared memory (the node-local collectives),
 * with 2, 4 and 8 ranks: ranks that disagree, a rank killed at a random
 * point of each collective, a rank stopped (SIGSTOP) and one that stalls
 * briefly, a rank that skips a collective, and weft_comm_abort from
 * another thread while a collective is blocked. Every surviving rank must
 * return the right error within its deadline, and the job must leave
 * nothing in /dev/shm. Each case logs what every rank got and how long
 * detection took (the fault table of the closing note).
 */
#include "build_config.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#define FC_MAX 8
#define FC_COUNT                                                               \
    (256 * 1024) /* floats: 1 MiB, a transfer long enough to                   \
                    be cut in the middle */

typedef struct fc_shared {
    int mode;
    int coll;
    int victim;
    int answered;
    volatile double fault_at; /* CLOCK_MONOTONIC when the fault happened */
    int pid[FC_MAX];
    int status[FC_MAX];
    double took[FC_MAX]; /* fault (or call) to error, seconds */
    char msg[FC_MAX][512];
} fc_shared_t;

static double
fc_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static fc_shared_t *
fc_shared_new(void)
{
    fc_shared_t *sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
                           MAP_SHARED | MAP_ANONYMOUS, -1, 0);

    cr_assert(sh != MAP_FAILED, "mmap failed");
    memset(sh, 0, sizeof(*sh));
    for (int i = 0; i < FC_MAX; i++) {
        sh->status[i] = 1; /* "never answered" */
    }
    return sh;
}

/* Record this rank's answer, then stay until every rank that answers has
 * (so that none learns of the fault from another's exit). */
static void
fc_answer(fc_shared_t *sh, int rank, weft_status_t st, double since,
          int answering)
{
    sh->status[rank] = st;
    sh->took[rank] = fc_now() - since;
    snprintf(sh->msg[rank], sizeof(sh->msg[rank]), "%s",
             st != WEFT_OK ? weft_last_error() : "");
    __atomic_add_fetch(&sh->answered, 1, __ATOMIC_SEQ_CST);
    for (int i = 0; i < 3000 && __atomic_load_n(&sh->answered,
                                                __ATOMIC_SEQ_CST) < answering;
         i++) {
        usleep(10 * 1000);
    }
}

/* Entries of /dev/shm (names joined), to compare before and after. */
static void
fc_shm_list(char *buf, size_t len)
{
    DIR *d = opendir("/dev/shm");
    struct dirent *e;
    size_t off = 0;

    buf[0] = '\0';
    if (d == NULL) {
        return;
    }
    while ((e = readdir(d)) != NULL && off + 1 < len) {
        if (strncmp(e->d_name, "weft", 4) == 0) {
            off += (size_t)snprintf(buf + off, len - off, "%s ", e->d_name);
        }
    }
    closedir(d);
}

static const char *
fc_status(int st)
{
    return st == 1 ? "no answer" : weft_status_string((weft_status_t)st);
}

/* ---- collectives by number -------------------------------------------- */

enum {
    FC_ALLREDUCE,
    FC_BCAST,
    FC_ALLGATHER,
    FC_ALLTOALL,
    FC_RSCATTER,
    FC_BARRIER,
    FC_NCOLLS
};
static const char *const fc_coll_names[] = {"allreduce",      "broadcast",
                                            "allgather",      "alltoall",
                                            "reduce_scatter", "barrier"};

static float *fc_sbuf, *fc_rbuf;

static weft_status_t
fc_start(int coll, weft_comm_t *w, weft_request_t **req)
{
    size_t per = FC_COUNT / (size_t)weft_comm_size(w);

    switch (coll) {
    case FC_ALLREDUCE:
        return weft_iallreduce(fc_sbuf, fc_rbuf, FC_COUNT, WEFT_FLOAT32,
                               WEFT_SUM, w, req);
    case FC_BCAST:
        return weft_ibroadcast(fc_rbuf, FC_COUNT, WEFT_FLOAT32, 0, w, req);
    case FC_ALLGATHER:
        return weft_iallgather(fc_sbuf, fc_rbuf, per, WEFT_FLOAT32, w, req);
    case FC_ALLTOALL:
        return weft_ialltoall(fc_sbuf, fc_rbuf, per, WEFT_FLOAT32, w, req);
    case FC_RSCATTER:
        return weft_ireduce_scatter(fc_sbuf, fc_rbuf, per, WEFT_FLOAT32,
                                    WEFT_SUM, w, req);
    default:
        return weft_ibarrier(w, req);
    }
}

static void
fc_buffers(void)
{
    if (fc_sbuf == NULL) {
        fc_sbuf = calloc(FC_COUNT, sizeof(float));
        fc_rbuf = calloc(FC_COUNT, sizeof(float));
    }
}

/* ---- the job runner --------------------------------------------------- */

typedef struct fc_case {
    const char *name;
    const char *tl; /* WEFT_TL */
    int nranks;
    int victim_fails; /* the victim dies by a signal: wt_run counts it */
    double hb_timeout;
    const char *env[6];
} fc_case_t;

static int
fc_run(const fc_case_t *c, wt_rank_fn_t fn, fc_shared_t *sh)
{
    char tl[64], before[4096], after[4096];
    wt_job_t job = {.nranks = c->nranks,
                    .timeout_s = 60,
                    .heartbeat_timeout = c->hb_timeout};
    int n = 0, failed;

    snprintf(tl, sizeof(tl), "WEFT_TL=%s", c->tl);
    job.env[n++] = tl;
    for (int i = 0; c->env[i] != NULL && n < 7; i++) {
        job.env[n++] = c->env[i];
    }
    fc_shm_list(before, sizeof(before));
    failed = wt_run(&job, fn, sh);
    fc_shm_list(after, sizeof(after));
    cr_expect_str_eq(after, before, "%s: /dev/shm before \"%s\", after \"%s\"",
                     c->name, before, after);
    for (int r = 0; r < c->nranks; r++) {
        cr_log_info("%s, %s, %d ranks: rank %d: %s after %.3f s: %s", c->name,
                    c->tl, c->nranks, r, fc_status(sh->status[r]), sh->took[r],
                    sh->msg[r]);
    }
    cr_expect_eq(failed, c->victim_fails,
                 "%s, %s, %d ranks: %d ranks failed "
                 "(want %d)",
                 c->name, c->tl, c->nranks, failed, c->victim_fails);
    return failed;
}

static const char *const fc_tls[] = {"self,tcp", "self,shm,tcp"};
static const int fc_ranks[] = {2, 4, 8};

/* ---- ranks that disagree ---------------------------------------------- */

enum { MM_COUNT, MM_DTYPE, MM_OP, MM_COLL, MM_NMODES };
static const char *const mm_names[] = {"count 10 vs 20", "fp64 vs fp32",
                                       "max vs sum", "broadcast vs allreduce"};
/* what the odd rank called, and the others, as the message names them */
static const char *const mm_odd[] = {
    "allreduce of 10 float32 (sum)", "allreduce of 20 float64 (sum)",
    "allreduce of 20 float32 (max)", "broadcast of 20 float32 from root 0"};
static const char *const mm_rest[] = {
    "allreduce of 20 float32 (sum)", "allreduce of 20 float32 (sum)",
    "allreduce of 20 float32 (sum)", "allreduce of 20 float32 (sum)"};

static void
mismatch_body(weft_context_t *ctx, weft_comm_t *w, void *arg)
{
    fc_shared_t *sh = arg;
    int rank = weft_comm_rank(w), odd = rank == sh->victim;
    static double s[64], r[64];
    size_t count = 20;
    weft_dtype_t dt = WEFT_FLOAT32;
    weft_op_t op = WEFT_SUM;
    weft_status_t st;
    double t0;

    (void)ctx;
    WT_OK(weft_barrier(w)); /* every link and node-local slot made */
    if (odd) {
        count = sh->mode == MM_COUNT ? 10 : 20;
        dt = sh->mode == MM_DTYPE ? WEFT_FLOAT64 : WEFT_FLOAT32;
        op = sh->mode == MM_OP ? WEFT_MAX : WEFT_SUM;
    }
    t0 = fc_now();
    if (odd && sh->mode == MM_COLL) {
        st = weft_broadcast(r, count, dt, 0, w);
    } else {
        st = weft_allreduce(s, r, count, dt, op, w);
    }
    fc_answer(sh, rank, st, t0, weft_comm_size(w));
}

Test(fault_coll, every_kind_of_disagreement_is_a_mismatch_on_every_rank,
     .timeout = 600)
{
    for (int t = 0; t < 2; t++) {
        for (int i = 0; i < 3; i++) {
            for (int mode = 0; mode < MM_NMODES; mode++) {
                fc_shared_t *sh = fc_shared_new();
                fc_case_t c = {.name = mm_names[mode],
                               .tl = fc_tls[t],
                               .nranks = fc_ranks[i],
                               .env = {"WEFT_TIMEOUT=20s", NULL}};

                sh->mode = mode;
                sh->victim = 1;
                fc_run(&c, mismatch_body, sh);
                for (int r = 0; r < c.nranks; r++) {
                    cr_expect(sh->status[r] == WEFT_ERR_MISMATCH &&
                                  strstr(sh->msg[r], mm_odd[mode]) != NULL &&
                                  strstr(sh->msg[r], mm_rest[mode]) != NULL,
                              "%s, %s, %d ranks: rank %d got %s (\"%s\"), "
                              "want WEFT_ERR_MISMATCH naming \"%s\" and "
                              "\"%s\"",
                              mm_names[mode], c.tl, c.nranks, r,
                              fc_status(sh->status[r]), sh->msg[r],
                              mm_odd[mode], mm_rest[mode]);
                    cr_expect(sh->took[r] < 5.0,
                              "%s, %s, %d ranks: rank %d took %.2f s",
                              mm_names[mode], c.tl, c.nranks, r, sh->took[r]);
                }
                munmap(sh, sizeof(*sh));
            }
        }
    }
}

/* ---- a rank killed at a random point of each collective ---------------- */

static void
kill_body(weft_context_t *ctx, weft_comm_t *w, void *arg)
{
    fc_shared_t *sh = arg;
    int rank = weft_comm_rank(w);
    weft_request_t *req;
    weft_status_t st = WEFT_OK;
    unsigned seed = (unsigned)getpid() ^ (unsigned)time(NULL);
    int die_at = 1 + (int)(rand_r(&seed) % 4);

    fc_buffers();
    for (int it = 0; it < 1000 && st == WEFT_OK; it++) {
        st = fc_start(sh->coll, w, &req);
        if (st != WEFT_OK) {
            break;
        }
        if (rank == sh->victim && it == die_at) {
            /* somewhere in the middle: a random number of progress calls */
            int spins = (int)(rand_r(&seed) % 200);

            for (int k = 0; k < spins; k++) {
                weft_progress(ctx);
            }
            sh->fault_at = fc_now();
            __atomic_thread_fence(__ATOMIC_SEQ_CST);
            raise(SIGKILL);
        }
        st = weft_wait(req);
    }
    fc_answer(sh, rank, st, sh->fault_at, weft_comm_size(w) - 1);
}

Test(fault_coll, a_killed_rank_is_peer_lost_on_every_other_rank, .timeout = 900)
{
    for (int coll = 0; coll < FC_NCOLLS; coll++) {
        for (int t = 0; t < 2; t++) {
            for (int i = 0; i < 3; i++) {
                fc_shared_t *sh = fc_shared_new();
                char name[64];
                fc_case_t c = {.name = name,
                               .tl = fc_tls[t],
                               .nranks = fc_ranks[i],
                               .victim_fails = 1,
                               .env = {"WEFT_TIMEOUT=30s", NULL}};

                snprintf(name, sizeof(name), "kill -9 in %s",
                         fc_coll_names[coll]);
                sh->coll = coll;
                sh->victim = fc_ranks[i] - 1;
                fc_run(&c, kill_body, sh);
                for (int r = 0; r < c.nranks - 1; r++) {
                    cr_expect(sh->status[r] == WEFT_ERR_PEER_LOST &&
                                  sh->took[r] < 5.0,
                              "%s, %s, %d ranks: rank %d got %s after %.2f s "
                              "(\"%s\"), want WEFT_ERR_PEER_LOST within 5 s",
                              name, c.tl, c.nranks, r, fc_status(sh->status[r]),
                              sh->took[r], sh->msg[r]);
                }
                munmap(sh, sizeof(*sh));
            }
        }
    }
}

/* ---- a rank stopped (SIGSTOP): lost by its heartbeats ----------------- */

enum { STOP_FOREVER, STOP_BRIEFLY };

static void
stop_body(weft_context_t *ctx, weft_comm_t *w, void *arg)
{
    fc_shared_t *sh = arg;
    int rank = weft_comm_rank(w), size = weft_comm_size(w);
    weft_status_t st = WEFT_OK;

    (void)ctx;
    fc_buffers();
    sh->pid[rank] = getpid();
    WT_OK(weft_barrier(w));
    for (int it = 0; it < 20 && st == WEFT_OK; it++) {
        if (rank == sh->victim && it == 3) {
            sh->fault_at = fc_now();
            __atomic_thread_fence(__ATOMIC_SEQ_CST);
            raise(SIGSTOP); /* a peer continues or kills us */
        }
        if (rank == 0 && sh->mode == STOP_BRIEFLY && it == 3) {
            usleep(100 * 1000);
            while (sh->fault_at == 0) {
                usleep(1000);
            }
            usleep(500 * 1000); /* well under the heartbeat timeout */
            kill(sh->pid[sh->victim], SIGCONT);
        }
        st = weft_allreduce(fc_sbuf, fc_rbuf, 4096, WEFT_FLOAT32, WEFT_SUM, w);
    }
    if (sh->mode == STOP_BRIEFLY) {
        fc_answer(sh, rank, st, sh->fault_at, size);
        return;
    }
    fc_answer(sh, rank, st, sh->fault_at, size - 1);
    if (rank == 0) {
        kill(sh->pid[sh->victim], SIGKILL);
    }
}

Test(fault_coll, a_stopped_rank_is_lost_by_its_heartbeats, .timeout = 600)
{
    for (int t = 0; t < 2; t++) {
        for (int i = 0; i < 3; i++) {
            for (int mode = 0; mode < 2; mode++) {
                fc_shared_t *sh = fc_shared_new();
                fc_case_t c = {
                    .name = mode == STOP_FOREVER ? "SIGSTOP"
                                                 : "SIGSTOP 0.5 s, SIGCONT",
                    .tl = fc_tls[t],
                    .nranks = fc_ranks[i],
                    .victim_fails = mode == STOP_FOREVER,
                    .hb_timeout = 2.0,
                    .env = {"WEFT_TIMEOUT=30s", "WEFT_HEARTBEAT=200ms", NULL}};

                sh->mode = mode;
                sh->victim = fc_ranks[i] - 1;
                fc_run(&c, stop_body, sh);
                for (int r = 0; r < c.nranks; r++) {
                    if (mode == STOP_BRIEFLY) {
                        cr_expect(sh->status[r] == WEFT_OK,
                                  "%s, %s, %d ranks: rank %d got %s (\"%s\")"
                                  ", want success",
                                  c.name, c.tl, c.nranks, r,
                                  fc_status(sh->status[r]), sh->msg[r]);
                    } else if (r != sh->victim) {
                        cr_expect(sh->status[r] == WEFT_ERR_PEER_LOST &&
                                      strstr(sh->msg[r], "heartbeat") &&
                                      sh->took[r] < 6.0,
                                  "%s, %s, %d ranks: rank %d got %s after "
                                  "%.2f s (\"%s\"), want WEFT_ERR_PEER_LOST "
                                  "by heartbeat within 6 s",
                                  c.name, c.tl, c.nranks, r,
                                  fc_status(sh->status[r]), sh->took[r],
                                  sh->msg[r]);
                    }
                }
                munmap(sh, sizeof(*sh));
            }
        }
    }
}

/* ---- a rank that skips a collective ----------------------------------- */

static void
skip_body(weft_context_t *ctx, weft_comm_t *w, void *arg)
{
    fc_shared_t *sh = arg;
    int rank = weft_comm_rank(w);
    weft_status_t st = WEFT_OK;
    static float s[256], r[256];
    double t0 = fc_now();

    (void)ctx;
    for (int it = 0; it < 3 && st == WEFT_OK; it++) {
        if (rank == sh->victim && it == 1) {
            continue;
        }
        t0 = fc_now();
        st = weft_allreduce(s, r, 256, WEFT_FLOAT32, WEFT_SUM, w);
    }
    fc_answer(sh, rank, st, t0, weft_comm_size(w));
}

Test(fault_coll, a_skipped_collective_times_out_naming_the_rank, .timeout = 300)
{
    for (int t = 0; t < 2; t++) {
        for (int i = 0; i < 3; i++) {
            fc_shared_t *sh = fc_shared_new();
            fc_case_t c = {.name = "rank 1 skips an allreduce",
                           .tl = fc_tls[t],
                           .nranks = fc_ranks[i],
                           .env = {"WEFT_TIMEOUT=1500ms", NULL}};

            sh->victim = 1;
            fc_run(&c, skip_body, sh);
            for (int r = 0; r < c.nranks; r++) {
                if (r == sh->victim) {
                    continue; /* done, or told by the others' timeout */
                }
                cr_expect(sh->status[r] == WEFT_ERR_TIMED_OUT &&
                              strstr(sh->msg[r], "rank 1") != NULL &&
                              sh->took[r] < 4.0,
                          "%s, %s, %d ranks: rank %d got %s after %.2f s "
                          "(\"%s\"), want WEFT_ERR_TIMED_OUT naming rank 1",
                          c.name, c.tl, c.nranks, r, fc_status(sh->status[r]),
                          sh->took[r], sh->msg[r]);
            }
            munmap(sh, sizeof(*sh));
        }
    }
}

/* ---- weft_comm_abort from another thread ------------------------------ */

typedef struct fc_aborter {
    weft_comm_t *w;
    fc_shared_t *sh;
} fc_aborter_t;

static void *
fc_abort_thread(void *arg)
{
    fc_aborter_t *a = arg;

    usleep(200 * 1000);
    a->sh->fault_at = fc_now();
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    weft_comm_abort(a->w, WEFT_ERR_ABORTED);
    return NULL;
}

static void
abort_body(weft_context_t *ctx, weft_comm_t *w, void *arg)
{
    fc_shared_t *sh = arg;
    int rank = weft_comm_rank(w), origin = -2;
    weft_status_t st;
    pthread_t th;
    fc_aborter_t a = {w, sh};
    static float s[4096], r[4096];

    (void)ctx;
    WT_OK(weft_barrier(w));
    if (rank == 0) {
        WT_CHECK(pthread_create(&th, NULL, fc_abort_thread, &a) == 0,
                 "pthread_create");
    }
    if (rank == 1) {
        usleep(2000 * 1000); /* joins late: the others are blocked */
    }
    st = weft_allreduce(s, r, 4096, WEFT_FLOAT32, WEFT_SUM, w);
    if (rank == 0) {
        pthread_join(th, NULL);
    }
    weft_comm_error(w, &origin, NULL);
    WT_CHECK(origin == 0, "origin %d, want 0", origin);
    fc_answer(sh, rank, st, sh->fault_at, weft_comm_size(w));
}

Test(fault_coll, abort_from_another_thread_stops_a_blocked_collective,
     .timeout = 300)
{
    for (int t = 0; t < 2; t++) {
        for (int i = 0; i < 3; i++) {
            fc_shared_t *sh = fc_shared_new();
            fc_case_t c = {.name = "weft_comm_abort from a thread",
                           .tl = fc_tls[t],
                           .nranks = fc_ranks[i],
                           .env = {"WEFT_TIMEOUT=20s", NULL}};

            fc_run(&c, abort_body, sh);
            for (int r = 0; r < c.nranks; r++) {
                /* rank 1 joins 2 s late: it is told at its call */
                double limit = r == 1 ? 3.0 : 1.0;

                cr_expect(sh->status[r] == WEFT_ERR_ABORTED &&
                              sh->took[r] < limit,
                          "%s, %s, %d ranks: rank %d got %s after %.2f s "
                          "(\"%s\"), want WEFT_ERR_ABORTED within %.0f s",
                          c.name, c.tl, c.nranks, r, fc_status(sh->status[r]),
                          sh->took[r], sh->msg[r], limit);
            }
            munmap(sh, sizeof(*sh));
        }
    }
}
