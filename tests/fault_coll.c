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

#include "fault_common.h"
#include "harness.h"

#define FC_COUNT                                                               \
    (256 * 1024) /* floats: 1 MiB, a transfer long enough to                   \
                    be cut in the middle */

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

/* ---- ranks that disagree ---------------------------------------------- */

enum { MM_COUNT, MM_DTYPE, MM_OP, MM_COLL, MM_ROOT, MM_NMODES };
static const char *const mm_names[] = {"count 10 vs 20", "fp64 vs fp32",
                                       "max vs sum", "broadcast vs allreduce",
                                       "root 1 vs root 0"};
/* what the odd rank called, and the others, as the message names them */
static const char *const mm_odd[] = {
    "allreduce of 10 float32 (sum)", "allreduce of 20 float64 (sum)",
    "allreduce of 20 float32 (max)", "broadcast of 20 float32 from root 0",
    "broadcast of 20 float32 from root 1"};
static const char *const mm_rest[] = {
    "allreduce of 20 float32 (sum)", "allreduce of 20 float32 (sum)",
    "allreduce of 20 float32 (sum)", "allreduce of 20 float32 (sum)",
    "broadcast of 20 float32 from root 0"};

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
    t0 = fc_now();
    /* every link and node-local slot made; a rank still finishing it when
     * a faster one already found the mismatch gets the error here (the
     * comm is failed, and its pending calls with it) */
    st = weft_barrier(w);
    if (st != WEFT_OK) {
        fc_answer(sh, rank, st, t0, weft_comm_size(w));
        return;
    }
    if (odd) {
        count = sh->mode == MM_COUNT ? 10 : 20;
        dt = sh->mode == MM_DTYPE ? WEFT_FLOAT64 : WEFT_FLOAT32;
        op = sh->mode == MM_OP ? WEFT_MAX : WEFT_SUM;
    }
    t0 = fc_now();
    if (sh->mode == MM_ROOT) {
        /* the odd rank takes itself for the root: with no check it would
         * send, receive nothing and return its own data */
        st = weft_broadcast(r, count, dt, odd ? sh->victim : 0, w);
    } else if (odd && sh->mode == MM_COLL) {
        st = weft_broadcast(r, count, dt, 0, w);
    } else {
        st = weft_allreduce(s, r, count, dt, op, w);
    }
    if (sh->mode == MM_ROOT && st == WEFT_OK) {
        /* a root does not wait for anyone, so the odd rank, taking itself
         * for the root, may return from the broadcast (with its own data);
         * so may a rank whose part went right. The comm's error must reach
         * every rank all the same, at the latest in its next call */
        st = weft_barrier(w);
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
