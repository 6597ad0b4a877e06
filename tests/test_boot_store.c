/* The bootstrap store with rank clients as threads: put/get, fence,
 * allgather, lost ranks, aborts, timeouts, drain, the env backend. Hostile
 * clients are in test_boot_hostile.c, the frame codecs in test_boot_msg.c.
 * Every server listens on 127.0.0.1 port 0. */
#include "build_config.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bootstrap/auth.h"
#include "bootstrap/server.h"
#include "bootstrap/store.h"
#include "bootstrap/store_msg.h" /* WEFT_STORE_MSG_* for junk frames */
#include "clock.h"
#include "sock.h"
#include "boot_helpers.h"

/* ---- put / get ---- */

static void
bs_put_get_rank(bs_rank_t *r)
{
    weft__store_t *s = bs_rank_join(r);
    char buf[64];
    size_t len = 0;
    weft_status_t st;

    if (s == NULL) {
        return;
    }
    if (r->rank == 0) {
        usleep(100 * 1000); /* rank 1's get is parked by now */
        st = s->ops->put(s, "greeting", "hello", 6);
        if (st != WEFT_OK) {
            bs_fail(r, st, "put");
        }
        st = s->ops->put(s, "greeting", "hello", 6);
        if (st != WEFT_OK) {
            bs_fail(r, st, "put of the same value again");
        }
        st = s->ops->put(s, "greeting", "HELLO", 6);
        if (st != WEFT_ERR_INVALID_ARG) {
            bs_fail(r, st, "put of another value was not refused");
        }
    } else {
        st =
            s->ops->get(s, "greeting", buf, sizeof(buf), &len, weft__now() + 5);
        if (st != WEFT_OK || len != 6 || strcmp(buf, "hello") != 0) {
            bs_fail(r, st, "get of a later put");
        }
        st = s->ops->get(s, "greeting", buf, 3, &len, weft__now() + 5);
        if (st != WEFT_ERR_TRUNCATED) {
            bs_fail(r, st, "get into a small buffer");
        }
        st = s->ops->get(s, "never", buf, sizeof(buf), &len, weft__now() + 0.1);
        if (st != WEFT_ERR_TIMED_OUT ||
            strstr(weft_last_error(), "never") == NULL) {
            bs_fail(r, st, "get of a key nobody puts");
        }
    }
    s->ops->fence(s, "done", weft__now() + 5);
    s->ops->destroy(s);
}

Test(boot_store, put_get_waits_for_a_later_put, .timeout = 20)
{
    weft__boot_server_t *srv = bs_server(2, 16, 2, 1, NULL);
    bs_rank_t ranks[2];

    bs_run(ranks, 2, srv, bs_put_get_rank, NULL);
    bs_assert_ranks_ok(ranks, 2);
    cr_assert_eq(weft__boot_server_drain(srv, weft__now() + 5), WEFT_OK);
    weft__boot_server_destroy(srv);
}

/* ---- fence and allgather ---- */


Test(boot_store, fence_and_allgather_4_and_8_ranks, .timeout = 20)
{
    static const int sizes[] = {4, 8};

    for (size_t k = 0; k < 2; k++) {
        int n = sizes[k];
        weft__boot_server_t *srv = bs_server(n, 16, 2, 1, NULL);
        weft__boot_server_stats_t stats;
        bs_rank_t ranks[BS_MAX_RANKS];

        bs_run(ranks, n, srv, bs_coll_rank, NULL);
        bs_assert_ranks_ok(ranks, n);
        cr_assert_eq(weft__boot_server_drain(srv, weft__now() + 5), WEFT_OK,
                     "%d ranks: %s", n, weft_last_error());
        weft__boot_server_stats(srv, &stats);
        cr_assert_eq(stats.checked_in, n);
        cr_assert_eq(stats.finished, n);
        cr_assert_eq(stats.lost, 0);
        cr_assert_eq(stats.connected, 0);
        cr_assert_eq(stats.rejected, 0);
        weft__boot_server_destroy(srv);
    }
}

Test(boot_store, allgather_size_checks, .timeout = 20)
{
    weft__boot_server_t *srv = bs_server(1, 16, 2, 1, NULL);
    weft__store_t *s = bs_join(srv, 0, 1);
    static uint8_t big[WEFT_STORE_VALUE_MAX + 1];

    cr_assert_eq(
        s->ops->allgather(s, "big", big, sizeof(big), big, weft__now() + 1),
        WEFT_ERR_INVALID_ARG);
    cr_assert_eq(s->ops->allgather(s, "", big, 1, big, weft__now() + 1),
                 WEFT_ERR_INVALID_ARG);
    cr_assert_eq(s->ops->allgather(s, "ok", big, WEFT_STORE_VALUE_MAX, big,
                                   weft__now() + 5),
                 WEFT_OK, "%s", weft_last_error());
    s->ops->destroy(s);
    weft__boot_server_destroy(srv);
}

static void
bs_mismatch_rank(bs_rank_t *r)
{
    weft__store_t *s = bs_rank_join(r);
    uint8_t mine[8] = {0}, all[3 * 8];
    size_t len = r->rank == 2 ? 8 : 4;
    weft_status_t st;

    if (s == NULL) {
        return;
    }
    st = s->ops->allgather(s, "sizes", mine, len, all, weft__now() + 5);
    if (st != WEFT_ERR_MISMATCH ||
        strstr(weft_last_error(), "contributes") == NULL) {
        bs_fail(r, st, "allgather of different sizes did not mismatch");
    }
    /* the store still works */
    st = s->ops->fence(s, "after", weft__now() + 5);
    if (st != WEFT_OK) {
        bs_fail(r, st, "fence after the mismatch");
    }
    s->ops->destroy(s);
}

Test(boot_store, allgather_of_different_sizes_fails_everywhere, .timeout = 20)
{
    weft__boot_server_t *srv = bs_server(3, 16, 2, 1, NULL);
    bs_rank_t ranks[3];

    bs_run(ranks, 3, srv, bs_mismatch_rank, NULL);
    bs_assert_ranks_ok(ranks, 3);
    cr_assert_eq(weft__boot_server_drain(srv, weft__now() + 5), WEFT_OK);
    weft__boot_server_destroy(srv);
}

/* ---- losses, aborts, timeouts ---- */

static void
bs_lost_rank(bs_rank_t *r)
{
    weft__store_t *s = bs_rank_join(r);
    weft__store_event_t ev;
    weft_status_t st;

    if (s == NULL) {
        return;
    }
    if (r->rank == 2) {
        usleep(200 * 1000); /* the others are in the fence */
        /* vanish without a goodbye: the server sees EOF */
        shutdown(s->ops->event_fd(s), SHUT_RDWR);
        s->ops->destroy(s);
        return;
    }
    st = s->ops->fence(s, "never", weft__now() + 10);
    if (st != WEFT_ERR_PEER_LOST ||
        strstr(weft_last_error(), "rank 2 left") == NULL) {
        bs_fail(r, st, "the fence did not fail with the loss of rank 2");
    }
    st = s->ops->poll_event(s, &ev);
    if (st != WEFT_OK || !bs_event_is_loss_of(&ev, 2)) {
        bs_fail(r, st, "the loss event was not queued");
    }
    /* a later blocking call fails at once: the job is gone */
    st = s->ops->fence(s, "later", weft__now() + 10);
    if (st != WEFT_ERR_PEER_LOST ||
        strstr(weft_last_error(), "rank 2 left") == NULL) {
        bs_fail(r, st, "a fence after the loss did not fail at once");
    }
    s->ops->destroy(s);
}

Test(boot_store, rank_without_goodbye_is_lost_and_fails_the_fence,
     .timeout = 20)
{
    bs_lost_log_t lost = {.lock = PTHREAD_MUTEX_INITIALIZER};
    weft__boot_server_t *srv = bs_server(4, 16, 2, 1, &lost);
    weft__boot_server_stats_t stats;
    weft__store_event_t ev;
    weft__store_t *late;
    bs_rank_t ranks[3];

    /* ranks 0..2 of a 4-rank job; rank 2 vanishes */
    for (int i = 0; i < 3; i++) {
        ranks[i].nranks = 4;
    }
    for (int i = 0; i < 3; i++) {
        ranks[i].rank = i;
        ranks[i].srv = srv;
        ranks[i].fn = bs_lost_rank;
        ranks[i].err[0] = '\0';
        cr_assert_eq(
            pthread_create(&ranks[i].thread, NULL, bs_rank_main, &ranks[i]), 0);
    }
    for (int i = 0; i < 3; i++) {
        pthread_join(ranks[i].thread, NULL);
    }
    bs_assert_ranks_ok(ranks, 3);
    pthread_mutex_lock(&lost.lock);
    cr_assert_eq(lost.n, 1);
    cr_assert_eq(lost.rank, 2);
    pthread_mutex_unlock(&lost.lock);

    /* rank 3 comes late and is told */
    late = bs_join(srv, 3, 4);
    cr_assert_eq(bs_wait_event(late, &ev), WEFT_OK);
    cr_assert(bs_event_is_loss_of(&ev, 2), "%s", ev.reason);
    /* rank 2 may not come back */
    {
        weft__store_t *again = NULL;

        cr_assert_eq(weft__store_tcp_create(weft__boot_server_address(srv),
                                            bs_key, 2, 4, weft__now() + 5,
                                            &again),
                     WEFT_ERR_AUTH);
    }
    late->ops->destroy(late);
    cr_assert_eq(weft__boot_server_drain(srv, weft__now() + 5), WEFT_OK);
    weft__boot_server_stats(srv, &stats);
    cr_assert_eq(stats.lost, 1);
    cr_assert_eq(stats.finished, 3);
    weft__boot_server_destroy(srv);
}

Test(boot_store, server_and_rank_aborts_reach_every_rank, .timeout = 20)
{
    weft__boot_server_t *srv = bs_server(3, 16, 2, 1, NULL);
    weft__store_t *s[3];
    weft__store_event_t ev, got;

    for (int i = 0; i < 3; i++) {
        s[i] = bs_join(srv, i, 3);
    }
    memset(&ev, 0, sizeof(ev));
    ev.kind = WEFT_STORE_EVENT_ABORT;
    ev.origin = -1;
    ev.failed_rank = 1;
    ev.comm_id = WEFT_STORE_ALL_COMMS;
    ev.status = WEFT_ERR_PEER_LOST;
    strcpy(ev.reason, "rank 1 (pid 123) was killed by signal 9");
    cr_assert_eq(weft__boot_server_abort(srv, &ev), WEFT_OK);
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(bs_wait_event(s[i], &got), WEFT_OK, "rank %d", i);
        cr_assert_str_eq(got.reason, ev.reason);
        cr_assert_eq(got.failed_rank, 1);
        cr_assert_eq(got.origin, -1);
        cr_assert_eq(got.status, WEFT_ERR_PEER_LOST);
    }
    /* a rank aborts one communicator: everyone hears, the sender too */
    ev.origin = 2;
    ev.failed_rank = -1;
    ev.comm_id = 7;
    ev.status = WEFT_ERR_ABORTED;
    strcpy(ev.reason, "comm 7 aborted by rank 2: app error");
    cr_assert_eq(s[2]->ops->abort(s[2], &ev), WEFT_OK);
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(bs_wait_event(s[i], &got), WEFT_OK, "rank %d", i);
        cr_assert_str_eq(got.reason, ev.reason);
        cr_assert_eq(got.comm_id, 7);
        cr_assert_eq(got.origin, 2);
        cr_assert_eq(got.status, WEFT_ERR_ABORTED);
        cr_assert_eq(s[i]->ops->poll_event(s[i], &got), WEFT_INPROGRESS);
    }
    /* an invalid event is refused */
    ev.status = WEFT_OK;
    cr_assert_eq(weft__boot_server_abort(srv, &ev), WEFT_ERR_INVALID_ARG);
    for (int i = 0; i < 3; i++) {
        s[i]->ops->destroy(s[i]);
    }
    cr_assert_eq(weft__boot_server_drain(srv, weft__now() + 5), WEFT_OK);
    weft__boot_server_destroy(srv);
}

static void
bs_timeout_rank(bs_rank_t *r)
{
    weft__store_t *s = bs_rank_join(r);
    char *seen = r->arg;
    weft_status_t st;
    uint32_t x = 1, all[4];

    if (s == NULL) {
        return;
    }
    if (r->rank == 2) {
        usleep(1300 * 1000); /* connected, but never arrives */
        s->ops->destroy(s);
        return;
    }
    if (r->rank != 3) {
        st = s->ops->fence(s, "init", weft__now() + 0.3);
        if (st != WEFT_ERR_TIMED_OUT) {
            bs_fail(r, st, "fence did not time out");
        } else if (r->rank == 0) {
            snprintf(seen, 256, "%s", weft_last_error());
        }
    }
    /* rank 3 waits longer: by then only rank 2 is missing */
    st = s->ops->allgather(s, "table", &x, sizeof(x), all,
                           weft__now() + (r->rank == 3 ? 1.0 : 0.3));
    if (st != WEFT_ERR_TIMED_OUT ||
        strstr(weft_last_error(), "rank 2 has not arrived") == NULL) {
        bs_fail(r, st, "allgather did not time out naming rank 2");
    }
    s->ops->destroy(s);
}

Test(boot_store, fence_timeout_names_the_missing_ranks, .timeout = 20)
{
    weft__boot_server_t *srv = bs_server(4, 16, 2, 1, NULL);
    char seen[256] = "";
    bs_rank_t ranks[4];

    bs_run(ranks, 4, srv, bs_timeout_rank, seen);
    bs_assert_ranks_ok(ranks, 4);
    cr_assert_not_null(strstr(seen, "bootstrap fence 'init' timed out after "
                                    "0.3 s: ranks 2, 3 have not arrived"),
                       "%s", seen);
    cr_assert_eq(weft__boot_server_drain(srv, weft__now() + 5), WEFT_OK);
    weft__boot_server_destroy(srv);
}

typedef struct bs_drain_arg {
    weft__boot_server_t *srv;
    weft_status_t st;
} bs_drain_arg_t;

static void
bs_drain_rank(bs_rank_t *r)
{
    weft__store_t *s = bs_rank_join(r);

    if (s != NULL) {
        if (s->ops->fence(s, "bye", weft__now() + 5) != WEFT_OK) {
            bs_fail(r, WEFT_ERR_INTERNAL, "fence");
        }
        s->ops->destroy(s);
    }
}

static void *
bs_drain_thread(void *arg)
{
    bs_drain_arg_t *a = arg;

    a->st = weft__boot_server_drain(a->srv, weft__now() + 5);
    return NULL;
}

Test(boot_store, drain_waits_for_goodbyes_without_a_thread, .timeout = 20)
{
    /* no server thread: drain drives progress itself */
    weft__boot_server_t *srv = bs_server(3, 16, 2, 0, NULL);
    weft__boot_server_stats_t stats;
    bs_rank_t ranks[3];

    for (int i = 0; i < 3; i++) {
        ranks[i].rank = i;
        ranks[i].nranks = 3;
        ranks[i].srv = srv;
        ranks[i].fn = bs_drain_rank;
        ranks[i].err[0] = '\0';
        cr_assert_eq(
            pthread_create(&ranks[i].thread, NULL, bs_rank_main, &ranks[i]), 0);
    }
    /* wait for the check-ins (drain alone would be satisfied at 0) */
    for (int i = 0; i < 500; i++) {
        weft__boot_server_progress(srv, 10);
        weft__boot_server_stats(srv, &stats);
        if (stats.checked_in == 3) {
            break;
        }
    }
    cr_assert_eq(weft__boot_server_drain(srv, weft__now() + 5), WEFT_OK, "%s",
                 weft_last_error());
    for (int i = 0; i < 3; i++) {
        pthread_join(ranks[i].thread, NULL);
    }
    bs_assert_ranks_ok(ranks, 3);
    weft__boot_server_stats(srv, &stats);
    cr_assert_eq(stats.finished, 3);
    weft__boot_server_destroy(srv);
}

Test(boot_store, drain_times_out_on_a_rank_that_stays, .timeout = 20)
{
    weft__boot_server_t *srv = bs_server(2, 16, 2, 1, NULL);
    weft__store_t *s0 = bs_join(srv, 0, 2);
    weft__store_t *s1 = bs_join(srv, 1, 2);
    bs_drain_arg_t a = {.srv = srv};
    pthread_t t;

    s0->ops->destroy(s0);
    cr_assert_eq(weft__boot_server_drain(srv, weft__now() + 0.2),
                 WEFT_ERR_TIMED_OUT);
    cr_assert_not_null(strstr(weft_last_error(), "1 rank"), "%s",
                       weft_last_error());
    /* a drain from another thread returns as soon as rank 1 leaves */
    cr_assert_eq(pthread_create(&t, NULL, bs_drain_thread, &a), 0);
    usleep(100 * 1000);
    s1->ops->destroy(s1);
    pthread_join(t, NULL);
    cr_assert_eq(a.st, WEFT_OK);
    weft__boot_server_destroy(srv);
}

Test(boot_store, client_reports_a_server_that_goes_away, .timeout = 20)
{
    weft__boot_server_t *srv = bs_server(2, 16, 2, 1, NULL);
    weft__store_t *s0 = bs_join(srv, 0, 2);
    char addr[WEFT_SOCK_ADDRSTRLEN];
    weft__store_event_t ev;
    weft_status_t st;

    snprintf(addr, sizeof(addr), "%s", weft__boot_server_address(srv));
    weft__boot_server_destroy(srv);
    st = s0->ops->fence(s0, "f", weft__now() + 5);
    cr_assert_eq(st, WEFT_ERR_PEER_LOST, "%s", weft_last_error());
    cr_assert_not_null(strstr(weft_last_error(), addr), "%s",
                       weft_last_error());
    cr_assert_eq(s0->ops->poll_event(s0, &ev), WEFT_ERR_PEER_LOST);
    s0->ops->destroy(s0);
}

Test(boot_store, connect_gives_up_at_the_deadline, .timeout = 20)
{
    weft__boot_server_t *srv;
    weft__store_t *s = NULL;
    char addr[WEFT_SOCK_ADDRSTRLEN];

    /* a port that was just free: refused until the deadline */
    srv = bs_server(1, 16, 2, 0, NULL);
    snprintf(addr, sizeof(addr), "%s", weft__boot_server_address(srv));
    weft__boot_server_destroy(srv);
    cr_assert_eq(
        weft__store_tcp_create(addr, bs_key, 0, 1, weft__now() + 0.3, &s),
        WEFT_ERR_TIMED_OUT);
    cr_assert_not_null(strstr(weft_last_error(), addr), "%s",
                       weft_last_error());
    cr_assert_eq(
        weft__store_tcp_create("no-port", bs_key, 0, 1, weft__now() + 0.3, &s),
        WEFT_ERR_INVALID_ARG);
}

/* ---- the env backend ---- */

Test(boot_store, env_backend_is_a_job_of_one, .timeout = 10)
{
    weft__store_t *s = NULL;
    weft__store_event_t ev, got;
    char buf[16];
    size_t len = 0;
    uint32_t mine = 42, all = 0;

    cr_assert_eq(weft__store_env_create(&s), WEFT_OK);
    cr_assert_eq(s->nranks, 1);
    cr_assert_eq(s->ops->put(s, "k", "abc", 4), WEFT_OK);
    cr_assert_eq(s->ops->put(s, "k", "abd", 4), WEFT_ERR_INVALID_ARG);
    cr_assert_eq(s->ops->get(s, "k", buf, sizeof(buf), &len, 0), WEFT_OK);
    cr_assert_eq(len, 4);
    cr_assert_str_eq(buf, "abc");
    cr_assert_eq(s->ops->get(s, "k", buf, 2, &len, 0), WEFT_ERR_TRUNCATED);
    cr_assert_eq(s->ops->get(s, "nope", buf, sizeof(buf), &len, 0),
                 WEFT_ERR_TIMED_OUT);
    cr_assert_eq(s->ops->fence(s, "f", 0), WEFT_OK);
    cr_assert_eq(s->ops->allgather(s, "g", &mine, sizeof(mine), &all, 0),
                 WEFT_OK);
    cr_assert_eq(all, 42);
    cr_assert_eq(s->ops->event_fd(s), -1);
    cr_assert_eq(s->ops->poll_event(s, &got), WEFT_INPROGRESS);
    memset(&ev, 0, sizeof(ev));
    ev.kind = WEFT_STORE_EVENT_ABORT;
    ev.origin = 0;
    ev.failed_rank = -1;
    ev.status = WEFT_ERR_ABORTED;
    strcpy(ev.reason, "bye");
    cr_assert_eq(s->ops->abort(s, &ev), WEFT_OK);
    cr_assert_eq(s->ops->poll_event(s, &got), WEFT_OK);
    cr_assert_str_eq(got.reason, "bye");
    cr_assert_eq(s->ops->poll_event(s, &got), WEFT_INPROGRESS);
    s->ops->destroy(s);
}
