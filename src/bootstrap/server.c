/*
 * The bootstrap store server: creation, the event loop and its optional
 * thread, aborts queued by other threads, drain and stats. Connections
 * are handled in server_conn.c, what the ranks ask for in server_store.c.
 */
#include "build_config.h"
#include "bootstrap/server.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "bootstrap/server_int.h"
#include "clock.h"
#include "errmsg.h"
#include "log.h"
#include "util.h"

#define SRV_EPOLL_BATCH         64
#define SRV_LISTEN_PAUSE_S      0.1 /* out of fds: stop accepting a while */
#define SRV_DEFAULT_HANDSHAKE_S 5.0
#define SRV_DEFAULT_MAX_PENDING 64

/* epoll data of the fds that are not connections */
static char srv_listen_tag, srv_wake_tag, srv_timer_tag;

static void
srv_listen_resume(weft__boot_server_t *srv)
{
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &srv_listen_tag};

    if (epoll_ctl(srv->epoll_fd, EPOLL_CTL_ADD, srv->listen_fd, &ev) == 0) {
        srv->listen_paused = 0;
    } else {
        srv->listen_resume = weft__now() + SRV_LISTEN_PAUSE_S;
    }
}

/* Doom handshakes past their deadline; the next deadline, or 0. */
static double
srv_expire(weft__boot_server_t *srv)
{
    double now = weft__now(), next = 0;

    for (weft__boot_conn_t *c = srv->conns; c != NULL; c = c->next) {
        if (c->state != WEFT_BOOT_CONN_PENDING || c->doomed) {
            continue;
        }
        if (now >= c->hs.deadline) {
            weft__boot_server_doom(srv, c, 1, "no handshake within %g s",
                                   srv->params.handshake_timeout);
        } else if (next == 0 || c->hs.deadline < next) {
            next = c->hs.deadline;
        }
    }
    /* ranks that beat and fell silent (stopped, frozen, cut off) */
    for (int r = 0; r < srv->params.nranks && srv->params.heartbeat_timeout > 0;
         r++) {
        weft__boot_rank_t *rk = &srv->ranks[r];
        double at = rk->seen + srv->params.heartbeat_timeout;

        if (!rk->beating || rk->lost || rk->finished || rk->conn == NULL ||
            rk->conn->doomed) {
            continue;
        }
        if (now >= at) {
            weft__boot_server_rank_silent(srv, r, now - rk->seen);
        } else if (next == 0 || at < next) {
            next = at;
        }
    }
    return next;
}

/* ---- aborts queued by other threads ---- */

static void
srv_abort_apply(weft__boot_server_t *srv, const weft__store_event_t *ev)
{
    int failed = ev->failed_rank;

    /* info: whoever raised it (weftrun, a rank) has already said it */
    weft__log_info(WEFT_SUB_BOOT, "bootstrap store: broadcasting an abort: %s",
                   ev->reason);
    if (failed >= 0 && failed < srv->params.nranks &&
        !srv->ranks[failed].lost) {
        weft__boot_rank_t *rk = &srv->ranks[failed];
        weft__boot_tally_t before = weft__boot_server_tally(rk);

        rk->lost = 1; /* no second event when its link drops */
        weft__boot_server_tally_apply(srv, &before, rk);
    }
    weft__boot_server_publish(srv, ev);
}

static int
srv_abort_drain(weft__boot_server_t *srv)
{
    weft__store_event_t ev;
    int n = 0;

    for (;;) {
        pthread_mutex_lock(&srv->lock);
        if (n >= srv->abort_n) {
            srv->abort_n = 0;
            pthread_mutex_unlock(&srv->lock);
            return n;
        }
        ev = srv->abort_q[n];
        pthread_mutex_unlock(&srv->lock);
        srv_abort_apply(srv, &ev);
        weft__boot_server_reap(srv);
        n++;
    }
}

/* ---- the loop ---- */

/* Make the epoll fd readable at the next deadline (for callers that wait
 * on weft__boot_server_fd()); at <= 0 disarms. */
static void
srv_timer_arm(weft__boot_server_t *srv, double at)
{
    struct itimerspec its;

    if (at == srv->timer_at) {
        return;
    }
    memset(&its, 0, sizeof(its));
    if (at > 0) {
        its.it_value.tv_sec = (time_t)at;
        its.it_value.tv_nsec = (long)((at - (double)(time_t)at) * 1e9);
        if (its.it_value.tv_sec == 0 && its.it_value.tv_nsec == 0) {
            its.it_value.tv_nsec = 1;
        }
    }
    if (timerfd_settime(srv->timer_fd, TFD_TIMER_ABSTIME, &its, NULL) == 0) {
        srv->timer_at = at;
    }
}

int
weft__boot_server_progress(weft__boot_server_t *srv, int timeout_ms)
{
    struct epoll_event evs[SRV_EPOLL_BATCH];
    double next = srv_expire(srv);
    int accept_ready = 0, handled = 0, n;
    uint64_t count;
    ssize_t ignored;

    weft__boot_server_reap(srv);
    if (next > 0 && timeout_ms > 0) {
        timeout_ms = weft__ms_until(next, timeout_ms);
    }
    if (srv->listen_paused && timeout_ms > 0) {
        timeout_ms = weft__ms_until(srv->listen_resume, timeout_ms);
    }
    n = epoll_wait(srv->epoll_fd, evs, SRV_EPOLL_BATCH, timeout_ms);
    if (n < 0 && errno != EINTR) {
        return weft__error(WEFT_ERR_SYSTEM, WEFT_SUB_BOOT,
                           "bootstrap store: epoll_wait failed: %m");
    }
    for (int i = 0; i < n; i++) {
        void *p = evs[i].data.ptr;

        if (p == &srv_listen_tag) {
            accept_ready = 1; /* after the others: ranks first */
        } else if (p == &srv_wake_tag) {
            ignored = read(srv->wake_fd, &count, sizeof(count));
            (void)ignored;
        } else if (p == &srv_timer_tag) {
            ignored = read(srv->timer_fd, &count, sizeof(count));
            (void)ignored;
            srv->timer_at = 0; /* expired: armed again below */
        } else if (((weft__boot_conn_t *)p)->state != WEFT_BOOT_CONN_DEAD) {
            weft__boot_server_conn_event(srv, p, evs[i].events);
            weft__boot_server_reap(srv);
            handled++;
        }
    }
    handled += srv_abort_drain(srv);
    if (accept_ready) {
        handled += weft__boot_server_accept(srv);
    }
    if (srv->listen_paused && weft__now() >= srv->listen_resume) {
        srv_listen_resume(srv);
    }
    next = srv_expire(srv);
    weft__boot_server_reap(srv);
    weft__boot_server_graveyard_free(srv);
    if (srv->listen_paused && (next == 0 || srv->listen_resume < next)) {
        next = srv->listen_resume;
    }
    srv_timer_arm(srv, next);
    return handled;
}

/* ---- public ---- */

static weft_status_t
srv_params_check(const weft__boot_server_params_t *p)
{
    if (p == NULL || p->bind == NULL || p->key == NULL || p->nranks < 1) {
        return weft__error(WEFT_ERR_INVALID_ARG, WEFT_SUB_BOOT,
                           "bootstrap store: bind address, key and a job "
                           "size >= 1 are required");
    }
    return WEFT_OK;
}

weft_status_t
weft__boot_server_create(const weft__boot_server_params_t *p,
                         weft__boot_server_t **srv_p)
{
    struct epoll_event ev;
    struct sockaddr_storage ss;
    pthread_condattr_t ca;
    socklen_t len;
    weft__boot_server_t *srv;
    weft_status_t st;

    WEFT_CHECK(srv_params_check(p));
    srv = calloc(1, sizeof(*srv));
    if (srv == NULL) {
        return weft__error(WEFT_ERR_NO_MEMORY, WEFT_SUB_BOOT,
                           "out of memory for the bootstrap store");
    }
    srv->params = *p;
    srv->params.bind = NULL; /* not kept */
    memcpy(srv->key, p->key, WEFT_AUTH_KEY_LEN);
    srv->params.key = srv->key;
    if (!(srv->params.handshake_timeout > 0)) {
        srv->params.handshake_timeout = SRV_DEFAULT_HANDSHAKE_S;
    }
    if (srv->params.max_pending < 1) {
        srv->params.max_pending = SRV_DEFAULT_MAX_PENDING;
    }
    srv->listen_fd = -1;
    srv->epoll_fd = -1;
    srv->wake_fd = -1;
    srv->timer_fd = -1;
    pthread_mutex_init(&srv->lock, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&srv->cond, &ca);
    pthread_condattr_destroy(&ca);
    srv->rl_start = weft__now();

    srv->ranks = calloc((size_t)p->nranks, sizeof(*srv->ranks));
    if (srv->ranks == NULL) {
        st = weft__error(WEFT_ERR_NO_MEMORY, WEFT_SUB_BOOT,
                         "out of memory for %d ranks", p->nranks);
        goto err_free;
    }
    WEFT_CHECK_GOTO(weft__boot_server_store_init(srv), st, err_free);
    WEFT_CHECK_GOTO(weft__sock_parse(p->bind, &ss, &len), st, err_free);
    WEFT_CHECK_GOTO(weft__sock_listen(&ss, &len,
                                      p->nranks > 128 ? p->nranks : 128,
                                      &srv->listen_fd),
                    st, err_free);
    weft__sock_format((struct sockaddr *)&ss, srv->address,
                      sizeof(srv->address));
    srv->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    srv->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    srv->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (srv->epoll_fd < 0 || srv->wake_fd < 0 || srv->timer_fd < 0) {
        st = weft__error(WEFT_ERR_SYSTEM, WEFT_SUB_BOOT,
                         "bootstrap store: epoll/eventfd/timerfd failed: %m");
        goto err_free;
    }
    ev.events = EPOLLIN;
    ev.data.ptr = &srv_listen_tag;
    if (epoll_ctl(srv->epoll_fd, EPOLL_CTL_ADD, srv->listen_fd, &ev) != 0) {
        st = weft__error(WEFT_ERR_SYSTEM, WEFT_SUB_BOOT,
                         "bootstrap store: epoll_ctl failed: %m");
        goto err_free;
    }
    ev.data.ptr = &srv_wake_tag;
    if (epoll_ctl(srv->epoll_fd, EPOLL_CTL_ADD, srv->wake_fd, &ev) != 0) {
        st = weft__error(WEFT_ERR_SYSTEM, WEFT_SUB_BOOT,
                         "bootstrap store: epoll_ctl failed: %m");
        goto err_free;
    }
    ev.data.ptr = &srv_timer_tag;
    if (epoll_ctl(srv->epoll_fd, EPOLL_CTL_ADD, srv->timer_fd, &ev) != 0) {
        st = weft__error(WEFT_ERR_SYSTEM, WEFT_SUB_BOOT,
                         "bootstrap store: epoll_ctl failed: %m");
        goto err_free;
    }
    weft__log_debug(WEFT_SUB_BOOT,
                    "bootstrap store listening at %s for %d "
                    "ranks",
                    srv->address, p->nranks);
    *srv_p = srv;
    return WEFT_OK;

err_free:
    weft__boot_server_destroy(srv);
    return st;
}

const char *
weft__boot_server_address(const weft__boot_server_t *srv)
{
    return srv->address;
}

int
weft__boot_server_fd(const weft__boot_server_t *srv)
{
    return srv->epoll_fd;
}

static void
srv_wake(weft__boot_server_t *srv)
{
    uint64_t one = 1;
    ssize_t ignored = write(srv->wake_fd, &one, sizeof(one));

    (void)ignored;
}

weft_status_t
weft__boot_server_abort(weft__boot_server_t *srv, const weft__store_event_t *ev)
{
    weft__store_event_t copy = *ev;

    copy.reason[sizeof(copy.reason) - 1] = '\0';
    if (copy.kind != WEFT_STORE_EVENT_ABORT || copy.status >= 0 ||
        copy.status <= WEFT_ERR_LAST || copy.origin < -1 ||
        copy.failed_rank < -1) {
        return weft__error(WEFT_ERR_INVALID_ARG, WEFT_SUB_BOOT,
                           "bootstrap store: not a valid abort event");
    }
    pthread_mutex_lock(&srv->lock);
    if (!srv->thread_running) {
        pthread_mutex_unlock(&srv->lock);
        srv_abort_apply(srv, &copy);
        weft__boot_server_reap(srv);
        return WEFT_OK;
    }
    if (srv->abort_n == srv->abort_cap) {
        int cap = srv->abort_cap > 0 ? 2 * srv->abort_cap : 8;
        weft__store_event_t *q =
            realloc(srv->abort_q, (size_t)cap * sizeof(*q));

        if (q == NULL) {
            pthread_mutex_unlock(&srv->lock);
            return weft__error(WEFT_ERR_NO_MEMORY, WEFT_SUB_BOOT,
                               "out of memory queueing an abort");
        }
        srv->abort_q = q;
        srv->abort_cap = cap;
    }
    srv->abort_q[srv->abort_n++] = copy;
    pthread_mutex_unlock(&srv->lock);
    srv_wake(srv);
    return WEFT_OK;
}

static void *
srv_thread_main(void *arg)
{
    weft__boot_server_t *srv = arg;

    for (;;) {
        int stop, rc;

        pthread_mutex_lock(&srv->lock);
        stop = srv->stop;
        pthread_mutex_unlock(&srv->lock);
        if (stop) {
            return NULL;
        }
        rc = weft__boot_server_progress(srv, 500);
        if (rc < 0) {
            weft__log_error(WEFT_SUB_BOOT,
                            "bootstrap store thread stops: "
                            "%s",
                            weft_last_error());
            return NULL;
        }
    }
}

weft_status_t
weft__boot_server_start_thread(weft__boot_server_t *srv)
{
    int rc;

    pthread_mutex_lock(&srv->lock);
    if (srv->thread_running) {
        pthread_mutex_unlock(&srv->lock);
        return WEFT_OK;
    }
    srv->thread_running = 1;
    srv->stop = 0;
    rc = pthread_create(&srv->thread, NULL, srv_thread_main, srv);
    if (rc != 0) {
        srv->thread_running = 0;
        pthread_mutex_unlock(&srv->lock);
        errno = rc;
        return weft__error(WEFT_ERR_SYSTEM, WEFT_SUB_BOOT,
                           "bootstrap store: pthread_create failed: %m");
    }
    pthread_mutex_unlock(&srv->lock);
    return WEFT_OK;
}

weft_status_t
weft__boot_server_drain(weft__boot_server_t *srv, double deadline)
{
    for (;;) {
        int unsettled, running;

        pthread_mutex_lock(&srv->lock);
        unsettled = srv->unsettled;
        running = srv->thread_running;
        if (unsettled > 0 && running && weft__now() < deadline) {
            double until =
                deadline < weft__now() + 0.1 ? deadline : weft__now() + 0.1;
            struct timespec ts;

            ts.tv_sec = (time_t)until;
            ts.tv_nsec = (long)((until - (double)ts.tv_sec) * 1e9);
            pthread_cond_timedwait(&srv->cond, &srv->lock, &ts);
            unsettled = srv->unsettled;
        }
        pthread_mutex_unlock(&srv->lock);
        if (unsettled == 0) {
            return WEFT_OK;
        }
        if (weft__now() >= deadline) {
            return weft__error(WEFT_ERR_TIMED_OUT, WEFT_SUB_BOOT,
                               "bootstrap store: %d rank(s) neither said "
                               "goodbye nor were lost by the drain deadline",
                               unsettled);
        }
        if (!running) {
            int rc =
                weft__boot_server_progress(srv, weft__ms_until(deadline, 100));

            if (rc < 0) {
                return (weft_status_t)rc;
            }
        }
    }
}

void
weft__boot_server_stats(weft__boot_server_t *srv,
                        weft__boot_server_stats_t *stats)
{
    pthread_mutex_lock(&srv->lock);
    *stats = srv->stats;
    pthread_mutex_unlock(&srv->lock);
}

void
weft__boot_server_destroy(weft__boot_server_t *srv)
{
    int running;

    if (srv == NULL) {
        return;
    }
    pthread_mutex_lock(&srv->lock);
    running = srv->thread_running;
    srv->stop = 1;
    pthread_mutex_unlock(&srv->lock);
    if (running) {
        srv_wake(srv);
        pthread_join(srv->thread, NULL);
        srv->thread_running = 0;
    }
    /* aborts queued just before: send them (best effort, no waiting) */
    for (int i = 0; i < srv->abort_n; i++) {
        srv_abort_apply(srv, &srv->abort_q[i]);
    }
    srv->abort_n = 0;
    weft__boot_server_reject_flush(srv, weft__now());
    while (srv->conns != NULL) {
        weft__boot_server_conn_close(srv, srv->conns);
    }
    weft__boot_server_graveyard_free(srv);
    weft__boot_server_store_fini(srv);
    free(srv->ranks);
    free(srv->events);
    free(srv->abort_q);
    if (srv->listen_fd >= 0) {
        close(srv->listen_fd);
    }
    if (srv->epoll_fd >= 0) {
        close(srv->epoll_fd);
    }
    if (srv->wake_fd >= 0) {
        close(srv->wake_fd);
    }
    if (srv->timer_fd >= 0) {
        close(srv->timer_fd);
    }
    weft__memzero(srv->key, sizeof(srv->key));
    pthread_cond_destroy(&srv->cond);
    pthread_mutex_destroy(&srv->lock);
    free(srv);
}
