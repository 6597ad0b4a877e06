/* Helpers of the bootstrap store suites (see boot_helpers.h). */
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


uint8_t bs_key[WEFT_AUTH_KEY_LEN];
uint8_t bs_bad_key[WEFT_AUTH_KEY_LEN];

void
bs_keys(void)
{
    static const uint8_t job[32] = "a job key for the store tests!!";

    weft__auth_derive(job, sizeof(job), WEFT_AUTH_LABEL_STORE, bs_key);
    weft__auth_derive(job, sizeof(job), WEFT_AUTH_LABEL_TCP, bs_bad_key);
}


void
bs_on_lost(void *arg, int rank, const char *reason)
{
    bs_lost_log_t *log = arg;

    pthread_mutex_lock(&log->lock);
    log->n++;
    log->rank = rank;
    snprintf(log->reason, sizeof(log->reason), "%s", reason);
    pthread_mutex_unlock(&log->lock);
}

weft__boot_server_t *
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

weft__store_t *
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


void *
bs_rank_main(void *arg)
{
    bs_rank_t *r = arg;

    r->st = WEFT_OK;
    r->fn(r);
    return NULL;
}

/* A rank records its first failure (no Criterion asserts in threads). */
void
bs_fail(bs_rank_t *r, weft_status_t st, const char *what)
{
    if (r->st == WEFT_OK) {
        r->st = st != WEFT_OK ? st : WEFT_ERR_INTERNAL;
        snprintf(r->err, sizeof(r->err), "rank %d: %s: %s (%s)", r->rank, what,
                 weft_status_string(st), weft_last_error());
    }
}

void
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

void
bs_assert_ranks_ok(const bs_rank_t *ranks, int n)
{
    for (int i = 0; i < n; i++) {
        cr_assert_eq(ranks[i].st, WEFT_OK, "%s", ranks[i].err);
    }
}

weft__store_t *
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
weft_status_t
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

int
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

ssize_t
bs_send(int fd, const void *buf, size_t len)
{
    return send(fd, buf, len, MSG_NOSIGNAL);
}

int
bs_event_is_loss_of(const weft__store_event_t *ev, int rank)
{
    char want[64];

    snprintf(want, sizeof(want), "rank %d left the bootstrap store", rank);
    return ev->kind == WEFT_STORE_EVENT_ABORT &&
           ev->status == WEFT_ERR_PEER_LOST && ev->failed_rank == rank &&
           ev->origin == -1 && ev->comm_id == WEFT_STORE_ALL_COMMS &&
           strstr(ev->reason, want) != NULL;
}

/* Every rank: a fence, then an allgather checked byte by byte. */
void
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
