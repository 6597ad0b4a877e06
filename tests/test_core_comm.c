/*
 * Communicators over real ranks: split, dup, isolation of their messages,
 * destroy, abort propagation, lost peers, timeouts, and both ways of
 * serving the bootstrap store.
 */
#include "build_config.h"

#include <criterion/criterion.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <weft.h>

#include "harness.h"

static void
split_body(weft_context_t *ctx, weft_comm_t *w, void *arg)
{
    int rank = weft_comm_rank(w), size = weft_comm_size(w);
    weft_comm_t *half = NULL, *none = (weft_comm_t *)1;
    int color = rank % 2;
    int half_size = (size + 1 - color) / 2;
    uint32_t got, mine;

    /* key = -rank reverses the order inside each half */
    WT_OK(weft_comm_split(w, color, -rank, &half));
    WT_CHECK(half != NULL, "no comm");
    if (half == NULL) {
        return;
    }
    WT_CHECK(weft_comm_size(half) == half_size, "size %d, expected %d",
             weft_comm_size(half), half_size);
    WT_CHECK(weft_comm_rank(half) == (half_size - 1 - rank / 2),
             "rank %d in half, expected %d", weft_comm_rank(half),
             half_size - 1 - rank / 2);
    /* the same tag on world and on the half never mix */
    mine = (uint32_t)rank;
    {
        int hr = weft_comm_rank(half), hs = weft_comm_size(half);
        uint32_t wgot = 0;

        WT_OK(weft_sendrecv(&mine, 4, (hr + 1) % hs, 5, &got, 4,
                            (hr + hs - 1) % hs, 5, half));
        WT_OK(weft_sendrecv(&mine, 4, (rank + 1) % size, 5, &wgot, 4,
                            (rank + size - 1) % size, 5, w));
        WT_CHECK(wgot == (uint32_t)((rank + size - 1) % size),
                 "world message came from %u", wgot);
        /* half ranks run through the color's world ranks downwards */
        int prev = (hr + hs - 1) % hs;
        uint32_t expect = (uint32_t)(color + 2 * (hs - 1 - prev));

        WT_CHECK(got == expect, "half message came from rank %u, not %u", got,
                 expect);
    }
    /* color < 0: no communicator, and the call still succeeds */
    WT_OK(weft_comm_split(w, rank == 0 ? -1 : 1, 0, &none));
    if (rank == 0) {
        WT_CHECK(none == NULL, "color -1 gave a communicator");
    } else {
        WT_CHECK(none != NULL && weft_comm_size(none) == size - 1,
                 "color 1 comm of size %d", weft_comm_size(none));
        WT_OK(weft_comm_destroy(none));
    }
    WT_OK(weft_comm_destroy(half));
    /* use after destroy is reported, not a crash */
    WT_CHECK(weft_send(&mine, 4, 0, 0, half) == WEFT_ERR_INVALID_ARG,
             "send on a destroyed comm");
    WT_CHECK(strstr(weft_last_error(), "destroyed") != NULL, "%s",
             weft_last_error());
}

static void
dup_body(weft_context_t *ctx, weft_comm_t *w, void *arg)
{
    int rank = weft_comm_rank(w), size = weft_comm_size(w);
    weft_comm_t *d[3];
    uint32_t in[3] = {0}, out[3];
    weft_request_t *r[6];

    for (int i = 0; i < 3; i++) {
        WT_OK(weft_comm_dup(w, &d[i]));
        WT_CHECK(weft_comm_rank(d[i]) == rank && weft_comm_size(d[i]) == size,
                 "dup %d: %d of %d", i, weft_comm_rank(d[i]),
                 weft_comm_size(d[i]));
    }
    /* same peer, same tag, three comms: each message lands on its comm */
    for (int i = 2; i >= 0; i--) {
        WT_OK(weft_irecv(&in[i], 4, (rank + size - 1) % size, 0, d[i], &r[i]));
    }
    for (int i = 0; i < 3; i++) {
        out[i] = (uint32_t)(1000 * i + rank);
        WT_OK(weft_isend(&out[i], 4, (rank + 1) % size, 0, d[i], &r[3 + i]));
    }
    WT_OK(weft_waitall(6, r));
    for (int i = 0; i < 3; i++) {
        WT_CHECK(in[i] == (uint32_t)(1000 * i + (rank + size - 1) % size),
                 "dup %d got %u", i, in[i]);
        WT_OK(weft_comm_destroy(d[i]));
    }
    WT_CHECK(weft_comm_destroy(w) == WEFT_ERR_INVALID_ARG,
             "world comm destroyed");
}

Test(core_comm, split_by_color_keeps_key_order, .timeout = 60)
{
    for (int n = 1; n <= 8; n *= 2) {
        cr_assert_eq(wt_run_ranks(n, split_body, NULL), 0, "%d ranks", n);
    }
    cr_assert_eq(wt_run_ranks(3, split_body, NULL), 0, "3 ranks");
}

Test(core_comm, dup_keeps_messages_apart, .timeout = 60)
{
    static const int counts[] = {2, 3, 4, 8};

    for (int i = 0; i < 4; i++) {
        cr_assert_eq(wt_run_ranks(counts[i], dup_body, NULL), 0, "%d ranks",
                     counts[i]);
    }
}

/* rank 0 serves the store itself (explicit params, no launcher) */
Test(core_comm, explicit_params_rank0_serves, .timeout = 60)
{
    wt_job_t job = {.nranks = 4, .rank0_serves = 1};

    cr_assert_eq(wt_run(&job, dup_body, NULL), 0);
}

/* ---- abort: a rank aborts a comm; the others, blocked on it, learn it ---- */

static void
abort_body(weft_context_t *ctx, weft_comm_t *w, void *arg)
{
    int rank = weft_comm_rank(w);
    weft_comm_t *d = NULL;
    uint32_t v = 0;
    int origin = -2;
    const char *msg = NULL;
    weft_status_t st;

    WT_OK(weft_comm_dup(w, &d));
    if (d == NULL) {
        return;
    }
    if (rank == 1) {
        usleep(*(const int *)arg * 1000);
        WT_OK(weft_comm_abort(d, WEFT_ERR_ABORTED));
    } else {
        /* nobody ever sends this: only the abort can end the wait */
        st = weft_recv(&v, 4, 1, 0, d, NULL);
        WT_CHECK(st == WEFT_ERR_ABORTED, "blocked receive returned %s",
                 weft_status_string(st));
    }
    st = weft_comm_error(d, &origin, &msg);
    WT_CHECK(st == WEFT_ERR_ABORTED, "sticky error %s",
             weft_status_string(st));
    WT_CHECK(origin == 1, "origin %d", origin);
    WT_CHECK(msg != NULL && strstr(msg, "rank 1") != NULL, "message '%s'",
             msg ? msg : "(null)");
    /* sticky: later calls fail at once */
    WT_CHECK(weft_send(&v, 4, 0, 0, d) == WEFT_ERR_ABORTED, "later send");
    WT_OK(weft_comm_destroy(d));
    /* the parent is untouched; every rank hears from every other, so none
     * leaves (which its partners would see as a loss) before all of them
     * have seen the abort */
    for (int k = 1; k < weft_comm_size(w); k++) {
        int n = weft_comm_size(w);

        WT_OK(weft_sendrecv(&rank, 4, (rank + k) % n, 1, &v, 4,
                            (rank + n - k) % n, 1, w));
        WT_CHECK(v == (uint32_t)((rank + n - k) % n), "k %d: got %u from %d", k, v, (rank + n - k) % n);
    }
}

Test(core_comm, abort_reaches_ranks_blocked_on_the_comm, .timeout = 60)
{
    int delay_ms = 200;

    cr_assert_eq(wt_run_ranks(4, abort_body, &delay_ms), 0);
}

/* The abort leaves rank 1 as soon as its dup is done, so it often reaches
 * the other ranks before their own dup has finished: they must keep it. */
Test(core_comm, abort_overtaking_the_comm_creation, .timeout = 60)
{
    int delay_ms = 0;

    for (int i = 0; i < 5; i++) {
        cr_assert_eq(wt_run_ranks(8, abort_body, &delay_ms), 0);
    }
}

/* ---- a peer dies: its partners get PEER_LOST, not a hang ---------------- */

static void
lost_body(weft_context_t *ctx, weft_comm_t *w, void *arg)
{
    int rank = weft_comm_rank(w);
    int talk_first = *(int *)arg;
    uint32_t v = 7;
    weft_status_t st;
    int origin = -2;

    if (talk_first) { /* links exist before the death */
        uint32_t in;

        WT_OK(weft_sendrecv(&v, 4, (rank + 1) % 3, 0, &in, 4, (rank + 2) % 3,
                            0, w));
    }
    if (rank == 1) {
        usleep(100 * 1000);
        raise(SIGKILL);
    }
    st = weft_recv(&v, 4, 1, 9, w, NULL);
    WT_CHECK(st == WEFT_ERR_PEER_LOST, "receive from a dead rank: %s (%s)",
             weft_status_string(st), weft_last_error());
    st = weft_comm_error(w, &origin, NULL);
    WT_CHECK(st == WEFT_ERR_PEER_LOST && origin == 1, "comm error %s from %d",
             weft_status_string(st), origin);
    /* stay a moment, so every survivor learns of rank 1 before any other
     * rank's exit can look like a second loss */
    usleep(300 * 1000);
    _exit(wt_failures ? 1 : 0); /* the harness expects rank 1's death */
}

static int
lost_run(int talk_first)
{
    wt_job_t job = {.nranks = 3, .timeout_s = 30};

    /* rank 1 is killed on purpose: expect exactly that one failure */
    return wt_run(&job, lost_body, &talk_first);
}

Test(core_comm, killed_peer_is_reported_lost, .timeout = 60)
{
    cr_assert_eq(lost_run(1), 1, "only the killed rank may fail");
    cr_assert_eq(lost_run(0), 1, "only the killed rank may fail");
}

/* ---- timeouts are reported and fatal to the comm ------------------------ */

static void
timeout_body(weft_context_t *ctx, weft_comm_t *w, void *arg)
{
    int rank = weft_comm_rank(w);
    weft_comm_t *d = NULL;
    uint32_t v = 0;
    weft_status_t st;

    WT_OK(weft_comm_dup(w, &d));
    if (rank == 0) {
        st = weft_recv(&v, 4, 1, 0, d, NULL); /* never sent */
        WT_CHECK(st == WEFT_ERR_TIMED_OUT, "got %s", weft_status_string(st));
        WT_CHECK(strstr(weft_last_error(), "receive from rank 1") != NULL,
                 "message '%s'", weft_last_error());
        WT_CHECK(weft_comm_error(d, NULL, NULL) == WEFT_ERR_TIMED_OUT,
                 "not sticky");
        WT_OK(weft_send(&v, 4, 1, 1, w)); /* world still works */
    } else {
        /* weft_test applies no deadline: outwait rank 0's timeout */
        weft_request_t *r = NULL;
        int done = 0;

        WT_OK(weft_irecv(&v, 4, 0, 1, w, &r));
        for (int i = 0; i < 10000 && !done && r != NULL; i++) {
            WT_OK(weft_test(r, &done));
            usleep(1000);
        }
        WT_CHECK(done, "rank 0 never sent");
    }
    WT_OK(weft_comm_destroy(d));
}

Test(core_comm, timeout_names_the_operation, .timeout = 60)
{
    wt_job_t job = {.nranks = 2, .env = {"WEFT_TIMEOUT=1s"}};

    cr_assert_eq(wt_run(&job, timeout_body, NULL), 0);
}

/* ---- a receive from a rank that finished without sending ------------- */

static void
finished_body(weft_context_t *ctx, weft_comm_t *w, void *arg)
{
    int rank = weft_comm_rank(w);
    uint32_t v = 5;
    const char *msg;
    weft_status_t st;

    (void)ctx;
    (void)arg;
    WT_OK(weft_barrier(w));
    if (rank == 1) {
        return; /* an orderly finish: the harness destroys the context */
    }
    usleep(300 * 1000);
    /* an older, unrelated message must not be what the failure shows */
    WT_CHECK(weft_send(NULL, 4, 0, 0, w) == WEFT_ERR_INVALID_ARG, "NULL send");
    st = weft_recv(&v, 4, 1, 3, w, NULL);
    msg = weft_last_error();
    WT_CHECK(st == WEFT_ERR_PEER_LOST, "receive from a finished rank: %s",
             weft_status_string(st));
    /* shm: an orderly finish fails only the receive; tcp: a peer that
     * finishes while a receive from it is pending has failed the comm */
    WT_CHECK(strstr(msg, "receive from rank 1 (tag 3)") != NULL ||
                 strstr(msg, "rank 1 lost") != NULL,
             "message '%s'", msg);
}

Test(core_comm, receive_from_a_finished_rank_names_it)
{
    cr_assert_eq(wt_run_ranks(2, finished_body, NULL), 0);
}
