/* The bootstrap store: the server with rank clients as threads (put/get,
 * fence, allgather), and hostile or failing peers: wrong key, junk bytes,
 * floods, duplicate ranks, lost ranks, aborts, timeouts, drain. Every
 * server listens on 127.0.0.1 port 0. The frame codecs are tested in
 * test_boot_msg.c. */
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


#define BS_MAX_RANKS 8

static uint8_t bs_key[WEFT_AUTH_KEY_LEN];
static uint8_t bs_bad_key[WEFT_AUTH_KEY_LEN];

static void
bs_keys(void)
{
    static const uint8_t job[32] = "a job key for the store tests!!";

    weft__auth_derive(job, sizeof(job), WEFT_AUTH_LABEL_STORE, bs_key);
    weft__auth_derive(job, sizeof(job), WEFT_AUTH_LABEL_TCP, bs_bad_key);
}

typedef struct bs_lost_log {
    pthread_mutex_t lock;
    int n;
    int rank;
    char reason[WEFT_STORE_REASON_MAX];
} bs_lost_log_t;

static void
bs_on_lost(void *arg, int rank, const char *reason)
{
    bs_lost_log_t *log = arg;

    pthread_mutex_lock(&log->lock);
    log->n++;
    log->rank = rank;
    snprintf(log->reason, sizeof(log->reason), "%s", reason);
    pthread_mutex_unlock(&log->lock);
}

static weft__boot_server_t *
bs_server(int nranks, int max_pending, double hs_timeout, int thread,
          bs_lost_log_t *lost)
{
    weft__boot_server_params_t p = {
        .bind = "127.0.0.1:0",
        .key = bs_key,
        .nranks = nranks,
        .handshake_timeout = hs_timeout,
        .max_pending = max_pending,
        .on_lost = lost != NULL ? bs_on_lost : NULL,
        .on_lost_arg = lost,
    };
    weft__boot_server_t *srv = NULL;

    bs_keys();
    cr_assert_eq(weft__boot_server_create(&p, &srv), WEFT_OK, "%s",
                 weft_last_error());
    if (thread) {
        cr_assert_eq(weft__boot_server_start_thread(srv), WEFT_OK);
    }
    return srv;
}

static weft__store_t *
bs_join(weft__boot_server_t *srv, int rank, int nranks)
{
    weft__store_t *s = NULL;
    weft_status_t st;

    st = weft__store_tcp_create(weft__boot_server_address(srv), bs_key, rank,
                                nranks, weft__now() + 10, &s);
    cr_assert_eq(st, WEFT_OK, "rank %d of %d: %s", rank, nranks,
                 weft_last_error());
    return s;
}

/* ---- ranks as threads ---- */

typedef struct bs_rank {
    pthread_t thread;
    int rank, nranks;
    weft__boot_server_t *srv;
    void *arg;
    weft_status_t st;
    char err[512];
    void (*fn)(struct bs_rank *r);
} bs_rank_t;

static void *
bs_rank_main(void *arg)
{
    bs_rank_t *r = arg;

    r->st = WEFT_OK;
    r->fn(r);
    return NULL;
}

/* A rank records its first failure (no Criterion asserts in threads). */
static void
bs_fail(bs_rank_t *r, weft_status_t st, const char *what)
{
    if (r->st == WEFT_OK) {
        r->st = st != WEFT_OK ? st : WEFT_ERR_INTERNAL;
        snprintf(r->err, sizeof(r->err), "rank %d: %s: %s (%s)", r->rank, what,
                 weft_status_string(st), weft_last_error());
    }
}

static void
bs_run(bs_rank_t *ranks, int n, weft__boot_server_t *srv,
       void (*fn)(bs_rank_t *), void *arg)
{
    for (int i = 0; i < n; i++) {
        ranks[i].rank = i;
        ranks[i].nranks = n;
        ranks[i].srv = srv;
        ranks[i].arg = arg;
        ranks[i].fn = fn;
        ranks[i].err[0] = '\0';
        cr_assert_eq(
            pthread_create(&ranks[i].thread, NULL, bs_rank_main, &ranks[i]), 0);
    }
    for (int i = 0; i < n; i++) {
        pthread_join(ranks[i].thread, NULL);
    }
}

static void
bs_assert_ranks_ok(const bs_rank_t *ranks, int n)
{
    for (int i = 0; i < n; i++) {
        cr_assert_eq(ranks[i].st, WEFT_OK, "%s", ranks[i].err);
    }
}

static weft__store_t *
bs_rank_join(bs_rank_t *r)
{
    weft__store_t *s = NULL;
    weft_status_t st;

    st = weft__store_tcp_create(weft__boot_server_address(r->srv), bs_key,
                                r->rank, r->nranks, weft__now() + 10, &s);
    if (st != WEFT_OK) {
        bs_fail(r, st, "join");
        return NULL;
    }
    return s;
}

/* Wait for an event (up to 5 s). */
static weft_status_t
bs_wait_event(weft__store_t *s, weft__store_event_t *ev)
{
    double deadline = weft__now() + 5;

    for (;;) {
        weft_status_t st = s->ops->poll_event(s, ev);
        struct pollfd pfd = {.fd = s->ops->event_fd(s), .events = POLLIN};

        if (st != WEFT_INPROGRESS || weft__now() >= deadline) {
            return st;
        }
        poll(&pfd, 1, 100);
    }
}

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

static void
bs_coll_rank(bs_rank_t *r)
{
    weft__store_t *s = bs_rank_join(r);
    uint64_t mine[3], all[3 * BS_MAX_RANKS];
    weft_status_t st;

    if (s == NULL) {
        return;
    }
    for (int round = 0; round < 3 && r->st == WEFT_OK; round++) {
        st = s->ops->fence(s, "init", weft__now() + 5);
        if (st != WEFT_OK) {
            bs_fail(r, st, "fence");
        }
        for (int i = 0; i < 3; i++) {
            mine[i] =
                (uint64_t)r->rank * 1000 + (uint64_t)round * 10 + (uint64_t)i;
        }
        memset(all, 0xee, sizeof(all));
        st = s->ops->allgather(s, "table", mine, sizeof(mine), all,
                               weft__now() + 5);
        if (st != WEFT_OK) {
            bs_fail(r, st, "allgather");
        }
        for (int q = 0; q < r->nranks && r->st == WEFT_OK; q++) {
            for (int i = 0; i < 3; i++) {
                if (all[3 * q + i] !=
                    (uint64_t)q * 1000 + (uint64_t)round * 10 + (uint64_t)i) {
                    bs_fail(r, WEFT_OK, "allgather data");
                }
            }
        }
    }
    st = s->ops->allgather(s, "empty", NULL, 0, NULL, weft__now() + 5);
    if (st != WEFT_OK) {
        bs_fail(r, st, "allgather of 0 bytes");
    }
    s->ops->destroy(s);
}

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

/* ---- hostile connections ---- */

static void
bs_wrong_key_rank(bs_rank_t *r)
{
    weft__store_t *s = NULL;
    weft_status_t st;

    st = weft__store_tcp_create(weft__boot_server_address(r->srv), bs_bad_key,
                                2, 4, weft__now() + 5, &s);
    if (st != WEFT_ERR_AUTH) {
        bs_fail(r, st, "the impostor was not refused");
        if (s != NULL) {
            s->ops->destroy(s);
        }
    }
}

static void
bs_slow_coll_rank(bs_rank_t *r)
{
    if (r->rank == 2) {
        usleep(200 * 1000); /* the impostor claims rank 2 first */
    }
    bs_coll_rank(r);
}

Test(boot_store, wrong_key_rejected_and_the_job_completes, .timeout = 20)
{
    weft__boot_server_t *srv = bs_server(4, 16, 2, 1, NULL);
    weft__boot_server_stats_t stats;
    bs_rank_t ranks[4], impostor[1];

    impostor[0].rank = 2;
    impostor[0].nranks = 4;
    impostor[0].srv = srv;
    impostor[0].fn = bs_wrong_key_rank;
    impostor[0].err[0] = '\0';
    cr_assert_eq(
        pthread_create(&impostor[0].thread, NULL, bs_rank_main, &impostor[0]),
        0);
    bs_run(ranks, 4, srv, bs_slow_coll_rank, NULL);
    pthread_join(impostor[0].thread, NULL);
    cr_assert_eq(impostor[0].st, WEFT_OK, "%s", impostor[0].err);
    bs_assert_ranks_ok(ranks, 4);
    cr_assert_eq(weft__boot_server_drain(srv, weft__now() + 5), WEFT_OK);
    weft__boot_server_stats(srv, &stats);
    cr_assert_geq(stats.rejected, 1);
    cr_assert_eq(stats.finished, 4);
    cr_assert_eq(stats.lost, 0);
    weft__boot_server_destroy(srv);
}

static int
bs_raw_connect(weft__boot_server_t *srv)
{
    struct sockaddr_storage ss;
    socklen_t len;
    int fd = -1;

    cr_assert_eq(weft__sock_parse(weft__boot_server_address(srv), &ss, &len),
                 WEFT_OK);
    cr_assert_eq(
        weft__sock_connect((struct sockaddr *)&ss, len, weft__now() + 5, &fd),
        WEFT_OK);
    return fd;
}

static ssize_t
bs_send(int fd, const void *buf, size_t len)
{
    return send(fd, buf, len, MSG_NOSIGNAL);
}

#define BS_FLOOD      40
#define BS_FLOOD_LIVE 60

typedef struct bs_flood {
    weft__boot_server_t *srv;
    int fds[BS_FLOOD_LIVE];
    int n;
} bs_flood_t;

/* Idle connections opened one after another while the job starts, so
 * that legit handshakes are pushed out and must retry. */
static void *
bs_flood_thread(void *arg)
{
    bs_flood_t *f = arg;
    struct sockaddr_storage ss;
    socklen_t len;

    if (weft__sock_parse(weft__boot_server_address(f->srv), &ss, &len) !=
        WEFT_OK) {
        return NULL;
    }
    for (f->n = 0; f->n < BS_FLOOD_LIVE; f->n++) {
        if (weft__sock_connect((struct sockaddr *)&ss, len, weft__now() + 5,
                               &f->fds[f->n]) != WEFT_OK) {
            break;
        }
        usleep(500);
    }
    return NULL;
}

Test(boot_store, junk_and_floods_while_a_job_starts, .timeout = 30)
{
    weft__boot_server_t *srv = bs_server(4, 8, 0.5, 1, NULL);
    weft__boot_server_stats_t stats;
    bs_rank_t ranks[4];
    uint8_t junk[200];
    int idle[BS_FLOOD];
    bs_flood_t flood;
    pthread_t flooder;
    int fd, hostile = 0;

    cr_assert_eq(weft__auth_random(junk, sizeof(junk)), WEFT_OK);
    /* random bytes */
    fd = bs_raw_connect(srv);
    bs_send(fd, junk, sizeof(junk));
    close(fd);
    hostile++;
    /* a truncated hello, then FIN */
    fd = bs_raw_connect(srv);
    bs_send(fd, "WFA1\1\1\1", 7);
    close(fd);
    hostile++;
    /* a store frame header with an oversized length, before any hello */
    {
        uint8_t hdr[32] = {0xff, 0xff, 0xff, 0xff, WEFT_STORE_MSG_PUT};

        fd = bs_raw_connect(srv);
        bs_send(fd, hdr, sizeof(hdr));
        hostile++;
        idle[0] = fd;
    }
    /* a flood of idle connections, several times max_pending */
    for (int i = 1; i < BS_FLOOD; i++) {
        idle[i] = bs_raw_connect(srv);
        hostile++;
    }
    /* the real job, while the junk is still open and more comes */
    flood.srv = srv;
    cr_assert_eq(pthread_create(&flooder, NULL, bs_flood_thread, &flood), 0);
    bs_run(ranks, 4, srv, bs_coll_rank, NULL);
    pthread_join(flooder, NULL);
    cr_assert_eq(flood.n, BS_FLOOD_LIVE);
    hostile += flood.n;
    bs_assert_ranks_ok(ranks, 4);
    cr_assert_eq(weft__boot_server_drain(srv, weft__now() + 5), WEFT_OK);
    /* let the last idle ones reach their handshake deadline */
    for (int i = 0; i < 30; i++) {
        weft__boot_server_stats(srv, &stats);
        if (stats.rejected >= (unsigned long)hostile) {
            break;
        }
        usleep(100 * 1000);
    }
    weft__boot_server_stats(srv, &stats);
    cr_assert_geq(stats.rejected, (unsigned long)hostile, "rejected %lu of %d",
                  stats.rejected, hostile);
    cr_assert_eq(stats.finished, 4);
    cr_assert_eq(stats.lost, 0);
    for (int i = 0; i < BS_FLOOD; i++) {
        char c;
        ssize_t n = recv(idle[i], &c, 1, MSG_DONTWAIT);

        /* the server closed every one of them (a reset when it had not
         * read what was sent) */
        cr_assert(n == 0 || (n < 0 && errno == ECONNRESET), "idle %d: %zd %s",
                  i, n, strerror(errno));
        close(idle[i]);
    }
    for (int i = 0; i < flood.n; i++) {
        close(flood.fds[i]);
    }
    weft__boot_server_destroy(srv);
}

static void
bs_join_only_rank(bs_rank_t *r)
{
    weft__store_t *s = bs_rank_join(r);

    if (s != NULL) {
        s->ops->destroy(s);
    }
}

Test(boot_store, a_rank_pushed_out_by_a_flood_retries, .timeout = 20)
{
    /* no thread, one pending slot: the rank's first handshake is dropped
     * for the idle connection that comes after it, and it tries again */
    weft__boot_server_t *srv = bs_server(1, 1, 2, 0, NULL);
    weft__boot_server_stats_t stats;
    bs_rank_t ranks[1];
    int idle;

    ranks[0].rank = 0;
    ranks[0].nranks = 1;
    ranks[0].srv = srv;
    ranks[0].fn = bs_join_only_rank;
    ranks[0].err[0] = '\0';
    cr_assert_eq(
        pthread_create(&ranks[0].thread, NULL, bs_rank_main, &ranks[0]), 0);
    usleep(100 * 1000); /* its hello waits in the backlog */
    idle = bs_raw_connect(srv);
    cr_assert_eq(weft__boot_server_drain(srv, weft__now() + 0.05),
                 WEFT_OK); /* nobody checked in yet: nothing to wait for */
    for (int i = 0; i < 500; i++) {
        weft__boot_server_progress(srv, 10);
        weft__boot_server_stats(srv, &stats);
        if (stats.finished == 1) {
            break;
        }
    }
    pthread_join(ranks[0].thread, NULL);
    bs_assert_ranks_ok(ranks, 1);
    weft__boot_server_stats(srv, &stats);
    cr_assert_eq(stats.finished, 1);
    cr_assert_eq(stats.rejected, 2, "the first try and the idle one");
    close(idle);
    weft__boot_server_destroy(srv);
}

Test(boot_store, server_fd_wakes_at_a_handshake_deadline, .timeout = 10)
{
    /* a caller that only polls weft__boot_server_fd() still reaps idle
     * connections at their deadline */
    weft__boot_server_t *srv = bs_server(1, 16, 0.2, 0, NULL);
    weft__boot_server_stats_t stats;
    struct pollfd pfd = {.fd = weft__boot_server_fd(srv), .events = POLLIN};
    double t0 = weft__now();
    int idle = bs_raw_connect(srv);

    cr_assert_eq(poll(&pfd, 1, 2000), 1);
    weft__boot_server_progress(srv, 0); /* accepts it */
    weft__boot_server_stats(srv, &stats);
    cr_assert_eq(stats.rejected, 0);
    pfd.revents = 0;
    cr_assert_eq(poll(&pfd, 1, 2000), 1, "no wake-up at the deadline");
    cr_assert_geq(weft__now() - t0, 0.15);
    weft__boot_server_progress(srv, 0);
    weft__boot_server_stats(srv, &stats);
    cr_assert_eq(stats.rejected, 1);
    close(idle);
    weft__boot_server_destroy(srv);
}

Test(boot_store, duplicate_out_of_range_and_wrong_size_rejected, .timeout = 20)
{
    weft__boot_server_t *srv = bs_server(2, 16, 2, 1, NULL);
    weft__boot_server_stats_t stats;
    weft__store_t *s0 = bs_join(srv, 0, 2), *dup = NULL;
    weft__auth_hs_t hs;
    int fd;

    cr_assert_eq(weft__store_tcp_create(weft__boot_server_address(srv), bs_key,
                                        0, 2, weft__now() + 5, &dup),
                 WEFT_ERR_AUTH);
    cr_assert_not_null(strstr(weft_last_error(), "already connected"), "%s",
                       weft_last_error());
    cr_assert_eq(weft__store_tcp_create(weft__boot_server_address(srv), bs_key,
                                        1, 3, weft__now() + 5, &dup),
                 WEFT_ERR_AUTH);
    cr_assert_not_null(strstr(weft_last_error(), "size"), "%s",
                       weft_last_error());
    /* out of range: only a hand-made hello can claim it */
    fd = bs_raw_connect(srv);
    weft__auth_hs_client(&hs, bs_key, WEFT_AUTH_PURPOSE_STORE, 7, 2,
                         weft__now() + 5);
    cr_assert_eq(weft__auth_client_run(&hs, fd), WEFT_ERR_AUTH);
    cr_assert_eq(hs.verdict, WEFT_AUTH_REJECT_RANK);
    close(fd);
    /* and a tcp-link handshake is the wrong kind here */
    fd = bs_raw_connect(srv);
    weft__auth_hs_client(&hs, bs_key, WEFT_AUTH_PURPOSE_TCP, 1, 2,
                         weft__now() + 5);
    cr_assert_eq(weft__auth_client_run(&hs, fd), WEFT_ERR_AUTH);
    cr_assert_eq(hs.verdict, WEFT_AUTH_REJECT_PURPOSE);
    close(fd);

    /* the legit rank 0 is untouched and rank 1 still gets in */
    {
        weft__store_t *s1 = bs_join(srv, 1, 2);
        char buf[8];
        size_t len;

        cr_assert_eq(s0->ops->put(s0, "k", "v", 2), WEFT_OK);
        cr_assert_eq(
            s1->ops->get(s1, "k", buf, sizeof(buf), &len, weft__now() + 5),
            WEFT_OK);
        s1->ops->destroy(s1);
    }
    s0->ops->destroy(s0);
    cr_assert_eq(weft__boot_server_drain(srv, weft__now() + 5), WEFT_OK);
    weft__boot_server_stats(srv, &stats);
    cr_assert_eq(stats.rejected, 4);
    cr_assert_eq(stats.lost, 0);
    weft__boot_server_destroy(srv);
}

/* ---- losses, aborts, timeouts ---- */

static int
bs_event_is_loss_of(const weft__store_event_t *ev, int rank)
{
    char want[64];

    snprintf(want, sizeof(want), "rank %d left the bootstrap store", rank);
    return ev->kind == WEFT_STORE_EVENT_ABORT &&
           ev->status == WEFT_ERR_PEER_LOST && ev->failed_rank == rank &&
           ev->origin == -1 && ev->comm_id == WEFT_STORE_ALL_COMMS &&
           strstr(ev->reason, want) != NULL;
}

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

Test(boot_store, authenticated_rank_sending_junk_is_cut_off, .timeout = 20)
{
    weft__boot_server_t *srv = bs_server(2, 16, 2, 1, NULL);
    weft__boot_server_stats_t stats;
    weft__store_t *s0 = bs_join(srv, 0, 2);
    weft__store_event_t ev;
    uint8_t hdr[WEFT_STORE_MSG_HDR_LEN] = {0xff, 0xff, 0xff, 0xff,
                                           WEFT_STORE_MSG_PUT};
    weft__auth_hs_t hs;
    char c;
    int fd = bs_raw_connect(srv);

    weft__auth_hs_client(&hs, bs_key, WEFT_AUTH_PURPOSE_STORE, 1, 2,
                         weft__now() + 5);
    cr_assert_eq(weft__auth_client_run(&hs, fd), WEFT_OK, "%s", hs.why);
    cr_assert_eq(bs_send(fd, hdr, sizeof(hdr)), (ssize_t)sizeof(hdr));
    /* the server closes that link (after any events it had queued) */
    for (int i = 0; i < 50; i++) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        ssize_t n;

        poll(&pfd, 1, 100);
        n = recv(fd, &hdr, sizeof(hdr), MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno != EAGAIN)) {
            break;
        }
    }
    cr_assert_eq(recv(fd, &c, 1, MSG_DONTWAIT), 0);
    close(fd);
    cr_assert_eq(bs_wait_event(s0, &ev), WEFT_OK);
    cr_assert(bs_event_is_loss_of(&ev, 1), "%s", ev.reason);
    weft__boot_server_stats(srv, &stats);
    cr_assert_eq(stats.rejected, 1);
    cr_assert_eq(stats.lost, 1);
    s0->ops->destroy(s0);
    weft__boot_server_destroy(srv);
}

/* ---- drain ---- */

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
