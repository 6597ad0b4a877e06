/* The bootstrap store against hostile clients: a wrong key, junk bytes,
 * truncated and oversized frames, floods of idle connections while a job
 * starts, duplicate and out-of-range ranks, an authenticated rank that
 * sends junk. The legitimate job must still complete every time. */
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
