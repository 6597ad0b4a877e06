/*
 * How a communicator's first error reaches the other ranks: over the
 * links (each rank passes it on once, so ranks with no link to the origin
 * hear it from a neighbour), through the bootstrap store, or both
 * (WEFT_FLOOD); a malformed control message is a protocol violation by
 * its sender; and the per-communicator deadline (weft_comm_set_timeout).
 */
#include "build_config.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "comm.h"
#include "context.h"
#include "fault_common.h"
#include "harness.h"

/* ---- an abort travels along a chain of links -------------------------- */

/* Links only between neighbours r-1, r, r+1 (no barrier: it would open
 * more). Rank 0 aborts; the others wait on a message that never comes. */
static void
chain_body(weft_context_t *ctx, weft_comm_t *w, void *arg)
{
    fc_shared_t *sh = arg;
    int rank = weft_comm_rank(w), size = weft_comm_size(w), origin = -2;
    int token = rank, got = -1;
    weft_status_t st = WEFT_OK;

    (void)ctx;
    if (rank + 1 < size) {
        WT_OK(weft_sendrecv(&token, sizeof(token), rank + 1, 1, &got,
                            sizeof(got), rank + 1, 1, w));
        WT_CHECK(got == rank + 1, "token %d from rank %d", got, rank + 1);
    }
    if (rank > 0) {
        WT_OK(weft_sendrecv(&token, sizeof(token), rank - 1, 1, &got,
                            sizeof(got), rank - 1, 1, w));
        WT_CHECK(got == rank - 1, "token %d from rank %d", got, rank - 1);
    }
    if (rank == 0) {
        usleep(300 * 1000); /* the others are blocked by now */
        sh->fault_at = fc_now();
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
        WT_OK(weft_comm_abort(w, WEFT_ERR_ABORTED));
        st = weft_comm_error(w, NULL, NULL);
    } else {
        st = weft_recv(&got, sizeof(got), rank - 1, 99, w, NULL);
    }
    weft_comm_error(w, &origin, NULL);
    WT_CHECK(origin == 0, "origin %d, want 0", origin);
    fc_answer(sh, rank, st, sh->fault_at, size);
}

Test(fault_flood, an_abort_reaches_every_rank_over_links_alone_or_the_store,
     .timeout = 300)
{
    static const char *const floods[] = {"WEFT_FLOOD=links", "WEFT_FLOOD=store",
                                         "WEFT_FLOOD=all"};

    for (int f = 0; f < 3; f++) {
        for (int t = 0; t < 2; t++) {
            fc_shared_t *sh = fc_shared_new();
            fc_case_t c = {.name = floods[f],
                           .tl = fc_tls[t],
                           .nranks = 8,
                           .env = {"WEFT_TIMEOUT=20s", floods[f], NULL}};

            fc_run(&c, chain_body, sh);
            for (int r = 0; r < c.nranks; r++) {
                cr_expect(sh->status[r] == WEFT_ERR_ABORTED &&
                              sh->took[r] < 2.0 &&
                              (r == 0 ||
                               strstr(sh->msg[r], "aborted by rank 0") != NULL),
                          "%s, %s: rank %d got %s after %.2f s (\"%s\"), "
                          "want WEFT_ERR_ABORTED from rank 0 within 2 s",
                          c.name, c.tl, r, fc_status(sh->status[r]),
                          sh->took[r], sh->msg[r]);
            }
            munmap(sh, sizeof(*sh));
        }
    }
}

/* ---- a malformed control message -------------------------------------- */

static int garbage_sent;

static void
garbage_complete(weft_tl_op_t *op, weft_status_t status, size_t bytes)
{
    (void)op;
    (void)bytes;
    garbage_sent = status == WEFT_OK ? 1 : -1;
}

/* Rank 1 sends rank 0 bytes under the control tag that are no control
 * message, straight through its transport as a broken peer would; rank 0
 * must fail the comm with WEFT_ERR_PROTOCOL naming rank 1, and every
 * other rank but rank 1 hear it (rank 1 tells no one: from rank 0 or, with
 * no link to rank 0, from a neighbour of its). */
static void
garbage_body(weft_context_t *ctx, weft_comm_t *w, void *arg)
{
    fc_shared_t *sh = arg;
    int rank = weft_comm_rank(w), origin = -2;
    static char junk[64];
    static weft_tl_op_t op;
    weft_status_t st = WEFT_OK;
    double t0;

    t0 = fc_now();
    /* links both ways; a rank still finishing it when rank 1, done, has
     * sent its junk gets the error here (the comm is failed) */
    st = weft_barrier(w);
    if (st != WEFT_OK && rank != 1) {
        fc_answer(sh, rank, st, t0, weft_comm_size(w));
        return;
    }
    WT_OK(st);
    t0 = fc_now();
    if (rank == 1) {
        uint64_t tag = (uint64_t)WEFT_COMM_ID_CTRL << 40 |
                       (uint64_t)WEFT_TAG_KIND_CTRL << 32;
        weft__peer_t *p = &ctx->peers[0];

        memset(junk, 0x5a, sizeof(junk));
        op.complete = garbage_complete;
        pthread_mutex_lock(&ctx->lock);
        WT_CHECK(p->ep != NULL, "no endpoint to rank 0 after a barrier");
        WT_OK(ctx->tls[p->tl].ops->isend(p->ep, junk, sizeof(junk), tag, &op));
        pthread_mutex_unlock(&ctx->lock);
        for (int i = 0; i < 100000 && garbage_sent == 0; i++) {
            weft_progress(ctx);
        }
        WT_CHECK(garbage_sent == 1, "the junk was not sent (%d)", garbage_sent);
    } else {
        st = weft_recv(junk, sizeof(junk), rank == 0 ? 1 : 0, 7, w, NULL);
        weft_comm_error(w, &origin, NULL);
        WT_CHECK(origin == 1, "origin %d, want 1", origin);
    }
    fc_answer(sh, rank, st, t0, weft_comm_size(w));
}

Test(fault_flood, a_malformed_control_message_is_a_protocol_error,
     .timeout = 120)
{
    for (int t = 0; t < 2; t++) {
        for (int i = 0; i < 3; i++) {
            fc_shared_t *sh = fc_shared_new();
            fc_case_t c = {.name = "malformed control message",
                           .tl = fc_tls[t],
                           .nranks = fc_ranks[i],
                           .env = {"WEFT_TIMEOUT=20s",
                                   "WEFT_LOG_LEVEL=error", NULL}};

            fc_run(&c, garbage_body, sh);
            for (int r = 0; r < c.nranks; r += 1 + (r == 0)) {
                cr_expect(sh->status[r] == WEFT_ERR_PROTOCOL &&
                              sh->took[r] < 2.0 &&
                              strstr(sh->msg[r],
                                     "malformed control message (bad "
                                     "magic, 64 bytes)") != NULL,
                          "%s, %d ranks: rank %d got %s after %.2f s "
                          "(\"%s\"), want WEFT_ERR_PROTOCOL naming the bad "
                          "magic within 2 s",
                          c.tl, c.nranks, r, fc_status(sh->status[r]),
                          sh->took[r], sh->msg[r]);
            }
            munmap(sh, sizeof(*sh));
        }
    }
}

/* ---- weft_comm_set_timeout -------------------------------------------- */

/* Rank 1 never sends: the others' receives end at the comm's own
 * deadline, not the context's 20 s; a dup keeps it, 0 restores it. */
static void
deadline_body(weft_context_t *ctx, weft_comm_t *w, void *arg)
{
    fc_shared_t *sh = arg;
    int rank = weft_comm_rank(w), x = 0;
    weft_comm_t *d = NULL;
    weft_status_t st = WEFT_OK;
    double t0;

    (void)ctx;
    WT_CHECK(weft_comm_set_timeout(w, -1) == WEFT_ERR_INVALID_ARG,
             "a negative deadline was taken");
    WT_CHECK(weft_comm_set_timeout(w, INFINITY) == WEFT_ERR_INVALID_ARG,
             "an infinite deadline was taken");
    WT_CHECK(weft_comm_set_timeout(w, 1e-6) == WEFT_ERR_INVALID_ARG,
             "a 1 us deadline was taken");
    WT_CHECK(weft_comm_set_timeout(NULL, 1) == WEFT_ERR_INVALID_ARG,
             "a NULL comm was taken");
    WT_OK(weft_comm_set_timeout(w, 0.5));
    WT_OK(weft_comm_dup(w, &d));
    WT_OK(weft_comm_set_timeout(w, 0)); /* world back to 20 s */
    t0 = fc_now();
    if (rank != 1) {
        st = weft_recv(&x, sizeof(x), 1, 5, d, NULL);
    }
    fc_answer(sh, rank, st, t0, weft_comm_size(w));
    if (rank != 1) {
        WT_CHECK(strstr(weft_last_error(), "weft_comm_set_timeout") != NULL ||
                     strstr(sh->msg[rank], "weft_comm_set_timeout") != NULL,
                 "the timeout does not name weft_comm_set_timeout: %s",
                 sh->msg[rank]);
    }
    WT_OK(weft_barrier(w)); /* the world still works, on its own deadline */
    WT_OK(weft_comm_destroy(d));
}

Test(fault_flood, a_comm_deadline_overrides_the_context_one, .timeout = 120)
{
    fc_shared_t *sh = fc_shared_new();
    fc_case_t c = {.name = "weft_comm_set_timeout 0.5 s",
                   .tl = "self,shm,tcp",
                   .nranks = 3,
                   .env = {"WEFT_TIMEOUT=20s", "WEFT_LOG_LEVEL=error", NULL}};

    fc_run(&c, deadline_body, sh);
    for (int r = 0; r < c.nranks; r++) {
        if (r == 1) {
            cr_expect_eq(sh->status[r], WEFT_OK, "rank 1 got %s",
                         fc_status(sh->status[r]));
            continue;
        }
        cr_expect(sh->status[r] == WEFT_ERR_TIMED_OUT && sh->took[r] > 0.45 &&
                      sh->took[r] < 3.0,
                  "rank %d got %s after %.2f s (\"%s\"), want "
                  "WEFT_ERR_TIMED_OUT after about 0.5 s",
                  r, fc_status(sh->status[r]), sh->took[r], sh->msg[r]);
    }
    munmap(sh, sizeof(*sh));
}
