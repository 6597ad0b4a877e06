/*
 * Bootstrap store server connections: the rejection log, handshakes of
 * unauthenticated connections (at most max_pending; the oldest is dropped
 * for a newcomer), frame I/O of checked-in ranks, goodbyes and losses.
 *
 * Connections are closed only by weft__boot_server_reap(), between
 * events: code that finds a connection broken marks it doomed instead, so
 * nothing is freed under a caller that iterates. Closed connections wait
 * in the graveyard until the end of progress (the epoll batch may still
 * name them).
 */
#include "build_config.h"
#include "bootstrap/server_int.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/uio.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "util.h"

#define SRV_REJECT_LOG_PER_S 5 /* warn lines per second, then a count */
#define SRV_TX_MAX           ((size_t)256 << 20) /* unread bytes queued per rank */
#define SRV_ACCEPT_BATCH     64
#define SRV_READ_BATCH       64  /* frames per connection per wakeup */
#define SRV_LISTEN_PAUSE_S   0.1 /* out of fds: stop accepting a while */

/* ---- rate-limited rejection log ---- */

void
weft__boot_server_reject_flush(weft__boot_server_t *srv, double now)
{
    if (srv->rl_suppressed > 0) {
        weft__log_warn(WEFT_SUB_BOOT,
                       "bootstrap store: %lu more bad connections closed in "
                       "the last %.0f s (not shown)",
                       srv->rl_suppressed, now - srv->rl_start);
    }
    srv->rl_start = now;
    srv->rl_count = 0;
    srv->rl_suppressed = 0;
}

static void srv_reject(weft__boot_server_t *srv, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
srv_reject(weft__boot_server_t *srv, const char *fmt, ...)
{
    double now = weft__now();
    char line[320];
    va_list ap;

    pthread_mutex_lock(&srv->lock);
    srv->stats.rejected++;
    pthread_mutex_unlock(&srv->lock);
    if (now - srv->rl_start >= 1.0) {
        weft__boot_server_reject_flush(srv, now);
    }
    if (srv->rl_count >= SRV_REJECT_LOG_PER_S) {
        srv->rl_suppressed++;
        return;
    }
    srv->rl_count++;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    weft__log_warn(WEFT_SUB_BOOT, "bootstrap store: %s", line);
}

/* ---- stats (read by other threads) ---- */

weft__boot_tally_t
weft__boot_server_tally(const weft__boot_rank_t *rk)
{
    weft__boot_tally_t t;

    t.checked_in = rk->checked_in;
    t.connected = rk->conn != NULL && rk->conn->state == WEFT_BOOT_CONN_READY;
    t.finished = rk->finished && !rk->lost;
    t.lost = rk->lost;
    t.unsettled = rk->checked_in && !rk->finished && !rk->lost;
    return t;
}

void
weft__boot_server_tally_apply(weft__boot_server_t *srv,
                              const weft__boot_tally_t *before,
                              const weft__boot_rank_t *rk)
{
    weft__boot_tally_t after = weft__boot_server_tally(rk);

    pthread_mutex_lock(&srv->lock);
    srv->stats.checked_in += after.checked_in - before->checked_in;
    srv->stats.connected += after.connected - before->connected;
    srv->stats.finished += after.finished - before->finished;
    srv->stats.lost += after.lost - before->lost;
    srv->unsettled += after.unsettled - before->unsettled;
    pthread_cond_broadcast(&srv->cond);
    pthread_mutex_unlock(&srv->lock);
}

/* ---- connections ---- */

static void
srv_conn_watch(weft__boot_server_t *srv, weft__boot_conn_t *conn,
               uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.ptr = conn};

    if (conn->events == events || conn->state == WEFT_BOOT_CONN_DEAD) {
        return;
    }
    if (epoll_ctl(srv->epoll_fd, EPOLL_CTL_MOD, conn->fd, &ev) != 0) {
        weft__boot_server_doom(srv, conn, 0, "epoll_ctl failed: %s",
                               strerror(errno));
        return;
    }
    conn->events = events;
}

void
weft__boot_server_doom(weft__boot_server_t *srv, weft__boot_conn_t *conn,
                       int violation, const char *fmt, ...)
{
    va_list ap;

    if (conn->doomed || conn->state == WEFT_BOOT_CONN_DEAD) {
        return;
    }
    conn->doomed = 1;
    conn->violation = violation;
    srv->ndoomed++;
    va_start(ap, fmt);
    vsnprintf(conn->why, sizeof(conn->why), fmt, ap);
    va_end(ap);
}

void
weft__boot_blob_unref(weft__boot_blob_t *blob)
{
    if (blob != NULL && --blob->refs == 0) {
        free(blob->data);
        free(blob);
    }
}

static void
srv_conn_free_io(weft__boot_conn_t *conn)
{
    while (conn->txq != NULL) {
        weft__boot_tx_t *tx = conn->txq;

        conn->txq = tx->next;
        weft__boot_blob_unref(tx->blob);
        free(tx);
    }
    conn->txq_tail = NULL;
    conn->tx_bytes = 0;
    weft__store_rx_free(&conn->rx);
    weft__memzero(&conn->hs, sizeof(conn->hs));
}

/* Unlink, close the fd and move to the graveyard. */
void
weft__boot_server_conn_close(weft__boot_server_t *srv, weft__boot_conn_t *conn)
{
    if (conn->state == WEFT_BOOT_CONN_PENDING) {
        srv->npending--;
    }
    epoll_ctl(srv->epoll_fd, EPOLL_CTL_DEL, conn->fd, NULL);
    close(conn->fd);
    conn->fd = -1;
    srv_conn_free_io(conn);
    if (conn->prev != NULL) {
        conn->prev->next = conn->next;
    } else {
        srv->conns = conn->next;
    }
    if (conn->next != NULL) {
        conn->next->prev = conn->prev;
    } else {
        srv->conns_tail = conn->prev;
    }
    conn->state = WEFT_BOOT_CONN_DEAD;
    conn->next = srv->graveyard;
    conn->prev = NULL;
    srv->graveyard = conn;
}

static void
srv_rank_lost_why(weft__boot_server_t *srv, int rank, const char *reason,
                  const char *detail)
{
    weft__store_event_t ev;
    weft__boot_rank_t *rk = &srv->ranks[rank];
    weft__boot_tally_t before = weft__boot_server_tally(rk);

    if (rk->lost) {
        return;
    }
    rk->lost = 1;
    weft__boot_server_tally_apply(srv, &before, rk);
    memset(&ev, 0, sizeof(ev));
    ev.kind = WEFT_STORE_EVENT_ABORT;
    ev.status = WEFT_ERR_PEER_LOST;
    ev.failed_rank = rank;
    ev.origin = -1;
    ev.comm_id = WEFT_STORE_ALL_COMMS;
    weft__strlcpy(ev.reason, reason, sizeof(ev.reason));
    /* info: every rank that shares a comm with it logs the loss, and
     * weftrun names the exit status */
    weft__log_info(WEFT_SUB_BOOT, "%s (%s)", ev.reason, detail);
    weft__boot_server_publish(srv, &ev);
    if (srv->params.on_lost != NULL) {
        srv->params.on_lost(srv->params.on_lost_arg, rank, ev.reason);
    }
}

static void
srv_rank_lost(weft__boot_server_t *srv, int rank, const char *detail)
{
    char reason[96];

    snprintf(reason, sizeof(reason),
             "rank %d left the bootstrap store without saying goodbye", rank);
    srv_rank_lost_why(srv, rank, reason, detail);
}

void
weft__boot_server_rank_silent(weft__boot_server_t *srv, int rank,
                              double silent_s)
{
    weft__boot_rank_t *rk = &srv->ranks[rank];
    char reason[WEFT_STORE_REASON_MAX];

    snprintf(reason, sizeof(reason),
             "rank %d sent no heartbeat for %.1f s (WEFT_HEARTBEAT_TIMEOUT "
             "%g s): the process is stopped, frozen or cut off",
             rank, silent_s, srv->params.heartbeat_timeout);
    srv_rank_lost_why(srv, rank, reason, "heartbeats stopped");
    if (rk->conn != NULL && !rk->conn->doomed) {
        weft__boot_server_doom(srv, rk->conn, 0, "no heartbeat for %.1f s",
                               silent_s);
    }
}

void
weft__boot_server_resumed(weft__boot_server_t *srv)
{
    double now = weft__now();
    weft__store_msg_t beat;

    memset(&beat, 0, sizeof(beat));
    beat.type = WEFT_STORE_MSG_BEAT;
    for (int r = 0; r < srv->params.nranks; r++) {
        weft__boot_rank_t *rk = &srv->ranks[r];

        rk->seen = now;
        if (rk->conn != NULL && !rk->conn->doomed &&
            rk->conn->state == WEFT_BOOT_CONN_READY) {
            (void)weft__boot_server_send(srv, rk->conn, &beat);
        }
    }
}

/* Close a doomed connection and say what it meant. */
static void
srv_conn_end(weft__boot_server_t *srv, weft__boot_conn_t *conn)
{
    weft__boot_tally_t before;
    int rank = conn->rank;

    if (conn->state == WEFT_BOOT_CONN_PENDING) {
        srv_reject(srv, "closed connection from %s: %s", conn->addr, conn->why);
        if (rank >= 0 && srv->ranks[rank].conn == conn) {
            srv->ranks[rank].conn = NULL;
        }
        weft__boot_server_conn_close(srv, conn);
        return;
    }
    if (conn->violation) {
        srv_reject(srv, "closed the connection of rank %d (%s): %s", rank,
                   conn->addr, conn->why);
    }
    weft__boot_server_forget(srv, conn);
    before = weft__boot_server_tally(&srv->ranks[rank]);
    srv->ranks[rank].conn = NULL;
    if (conn->bye) {
        srv->ranks[rank].finished = 1;
        weft__log_debug(WEFT_SUB_BOOT, "rank %d said goodbye", rank);
    }
    weft__boot_server_conn_close(srv, conn);
    weft__boot_server_tally_apply(srv, &before, &srv->ranks[rank]);
    if (!conn->bye) {
        srv_rank_lost(srv, rank, conn->why);
    }
}

void
weft__boot_server_reap(weft__boot_server_t *srv)
{
    while (srv->ndoomed > 0) {
        weft__boot_conn_t *next;

        for (weft__boot_conn_t *c = srv->conns; c != NULL; c = next) {
            next = c->next;
            if (c->doomed) {
                srv->ndoomed--;
                srv_conn_end(srv, c);
            }
        }
    }
}

void
weft__boot_server_graveyard_free(weft__boot_server_t *srv)
{
    while (srv->graveyard != NULL) {
        weft__boot_conn_t *c = srv->graveyard;

        srv->graveyard = c->next;
        free(c);
    }
}

/* ---- sending ---- */

static void
srv_conn_flush(weft__boot_server_t *srv, weft__boot_conn_t *conn)
{
    while (conn->txq != NULL) {
        weft__boot_tx_t *tx = conn->txq;
        size_t blob_len = tx->blob != NULL ? tx->blob->len : 0;
        struct iovec iov[2];
        struct msghdr mh;
        int n = 0;
        ssize_t w;

        if (tx->off < tx->hlen) {
            iov[n].iov_base = tx->head + tx->off;
            iov[n++].iov_len = tx->hlen - tx->off;
        }
        if (blob_len > 0) {
            size_t boff = tx->off > tx->hlen ? tx->off - tx->hlen : 0;

            iov[n].iov_base = tx->blob->data + boff;
            iov[n++].iov_len = blob_len - boff;
        }
        memset(&mh, 0, sizeof(mh));
        mh.msg_iov = iov;
        mh.msg_iovlen = (size_t)n;
        w = sendmsg(conn->fd, &mh, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            srv_conn_watch(srv, conn, EPOLLIN | EPOLLOUT);
            return;
        }
        if (w < 0) {
            weft__boot_server_doom(srv, conn, 0, "send failed: %s",
                                   strerror(errno));
            return;
        }
        tx->off += (size_t)w;
        conn->tx_bytes -= (size_t)w;
        if (tx->off == tx->hlen + blob_len) {
            conn->txq = tx->next;
            if (conn->txq == NULL) {
                conn->txq_tail = NULL;
            }
            weft__boot_blob_unref(tx->blob);
            free(tx);
        }
    }
    srv_conn_watch(srv, conn, EPOLLIN);
}

static weft_status_t
srv_conn_queue(weft__boot_server_t *srv, weft__boot_conn_t *conn,
               weft__boot_tx_t *tx)
{
    size_t len = tx->hlen + (tx->blob != NULL ? tx->blob->len : 0);

    if (conn->tx_bytes + len > SRV_TX_MAX) {
        weft__boot_blob_unref(tx->blob);
        free(tx);
        weft__boot_server_doom(srv, conn, 1,
                               "more than %zu MiB of replies left unread",
                               SRV_TX_MAX >> 20);
        return WEFT_ERR_PEER_LOST;
    }
    tx->next = NULL;
    tx->off = 0;
    if (conn->txq_tail != NULL) {
        conn->txq_tail->next = tx;
    } else {
        conn->txq = tx;
    }
    conn->txq_tail = tx;
    conn->tx_bytes += len;
    srv_conn_flush(srv, conn);
    return WEFT_OK;
}

static weft_status_t
srv_send(weft__boot_server_t *srv, weft__boot_conn_t *conn,
         const weft__store_msg_t *m, weft__boot_blob_t *blob)
{
    weft__store_msg_t pm = *m;
    weft__boot_tx_t *tx;
    size_t size, len;

    if (conn->state != WEFT_BOOT_CONN_READY || conn->doomed) {
        return WEFT_ERR_PEER_LOST;
    }
    if (blob != NULL) {
        pm.data = blob->data;
        pm.len = blob->len;
    }
    size = weft__store_msg_size(&pm);
    if (size == 0) {
        weft__log_error(WEFT_SUB_BOOT,
                        "bootstrap store: cannot encode a %s "
                        "frame (a bug)",
                        weft__store_msg_type_name(m->type));
        return WEFT_ERR_INTERNAL;
    }
    tx = malloc(sizeof(*tx) + size);
    if (tx == NULL) {
        weft__boot_server_doom(srv, conn, 0,
                               "out of memory for a %zu-byte "
                               "reply",
                               size);
        return WEFT_ERR_NO_MEMORY;
    }
    if (blob != NULL) {
        weft__store_msg_encode_prefix(&pm, tx->head, size, &len);
        blob->refs++;
    } else {
        weft__store_msg_encode(&pm, tx->head, size, &len);
    }
    tx->hlen = len;
    tx->blob = blob;
    return srv_conn_queue(srv, conn, tx);
}

weft_status_t
weft__boot_server_send(weft__boot_server_t *srv, weft__boot_conn_t *conn,
                       const weft__store_msg_t *m)
{
    return srv_send(srv, conn, m, NULL);
}

weft_status_t
weft__boot_server_send_blob(weft__boot_server_t *srv, weft__boot_conn_t *conn,
                            uint8_t type, uint32_t id, weft__boot_blob_t *blob)
{
    weft__store_msg_t m;

    memset(&m, 0, sizeof(m));
    m.type = type;
    m.id = id;
    return srv_send(srv, conn, &m, blob);
}

/* ---- receiving (checked-in ranks) ---- */

static void
srv_conn_read(weft__boot_server_t *srv, weft__boot_conn_t *conn)
{
    weft__store_msg_t m;
    char why[160];
    weft_status_t st;

    for (int frames = 0; frames < SRV_READ_BATCH && !conn->doomed;
         frames++) {
        st = weft__store_rx_read(&conn->rx, conn->fd, 0, SIZE_MAX, &m, why,
                                 sizeof(why));
        if (st == WEFT_INPROGRESS) {
            return;
        }
        if (st == WEFT_ERR_PEER_LOST) {
            /* cut off in the middle of a frame counts as a violation */
            weft__boot_server_doom(srv, conn, conn->rx.hdr_off > 0, "%s%s",
                                   why,
                                   conn->rx.hdr_off > 0
                                       ? " in the middle of a frame"
                                       : "");
            return;
        }
        if (st != WEFT_OK) {
            weft__boot_server_doom(srv, conn, st == WEFT_ERR_PROTOCOL, "%s",
                                   why);
            return;
        }
        if (conn->rank >= 0 && srv->ranks[conn->rank].conn == conn) {
            srv->ranks[conn->rank].seen = weft__now();
        }
        if (m.type == WEFT_STORE_MSG_HEARTBEAT) {
            if (conn->rank >= 0 && srv->ranks[conn->rank].conn == conn) {
                srv->ranks[conn->rank].beating = 1;
            }
            if (m.id != 0) { /* it watches us too: answer */
                weft__store_msg_t beat;

                memset(&beat, 0, sizeof(beat));
                beat.type = WEFT_STORE_MSG_BEAT;
                beat.id = m.id;
                (void)weft__boot_server_send(srv, conn, &beat);
            }
        } else if (m.type == WEFT_STORE_MSG_BYE) {
            conn->bye = 1;
            weft__boot_server_doom(srv, conn, 0, "said goodbye");
        } else {
            weft__boot_server_handle(srv, conn, &m);
        }
    }
}

/* ---- handshakes ---- */

static uint32_t
srv_verdict(weft__boot_server_t *srv, weft__boot_conn_t *conn)
{
    const weft__auth_hello_t *h = &conn->hs.peer_hello;
    int nranks = srv->params.nranks;

    if (h->nranks != (uint32_t)nranks) {
        return WEFT_AUTH_REJECT_SIZE;
    }
    if (h->rank >= (uint32_t)nranks) {
        return WEFT_AUTH_REJECT_RANK;
    }
    if (srv->ranks[h->rank].conn != NULL || srv->ranks[h->rank].lost) {
        return WEFT_AUTH_REJECT_DUPLICATE;
    }
    srv->ranks[h->rank].conn = conn; /* reserved while the verdict goes */
    conn->rank = (int)h->rank;
    return WEFT_AUTH_ACCEPT;
}

static void
srv_conn_promote(weft__boot_server_t *srv, weft__boot_conn_t *conn)
{
    weft__boot_rank_t *rk = &srv->ranks[conn->rank];
    weft__boot_tally_t before = weft__boot_server_tally(rk);

    conn->state = WEFT_BOOT_CONN_READY;
    srv->npending--;
    rk->checked_in = 1;
    rk->finished = 0;
    weft__boot_server_tally_apply(srv, &before, rk);
    weft__log_debug(WEFT_SUB_BOOT, "rank %d checked in from %s", conn->rank,
                    conn->addr);
    srv_conn_watch(srv, conn, EPOLLIN);
    weft__boot_server_replay(srv, conn);
}

static void
srv_conn_handshake(weft__boot_server_t *srv, weft__boot_conn_t *conn)
{
    for (;;) {
        weft_status_t st = weft__auth_hs_progress(&conn->hs, conn->fd);
        short want;

        if (st == WEFT_INPROGRESS) {
            want = weft__auth_hs_events(&conn->hs);
            srv_conn_watch(srv, conn, (want & POLLOUT) ? EPOLLOUT : EPOLLIN);
            return;
        }
        if (st != WEFT_OK) {
            weft__boot_server_doom(srv, conn, 1, "%s", conn->hs.why);
            return;
        }
        if (!conn->verdict_set) {
            conn->verdict_set = 1;
            weft__auth_hs_set_verdict(&conn->hs, srv_verdict(srv, conn));
            continue;
        }
        srv_conn_promote(srv, conn);
        return;
    }
}

static void
srv_drop_oldest_pending(weft__boot_server_t *srv, const char *why)
{
    for (weft__boot_conn_t *c = srv->conns; c != NULL; c = c->next) {
        if (c->state != WEFT_BOOT_CONN_PENDING) {
            continue;
        }
        if (c->doomed) {
            srv->ndoomed--; /* closed now, with its own reason */
        } else {
            c->violation = 1;
            weft__strlcpy(c->why, why, sizeof(c->why));
        }
        c->doomed = 0;
        srv_conn_end(srv, c);
        return;
    }
}

static void
srv_listen_pause(weft__boot_server_t *srv)
{
    epoll_ctl(srv->epoll_fd, EPOLL_CTL_DEL, srv->listen_fd, NULL);
    srv->listen_paused = 1;
    srv->listen_resume = weft__now() + SRV_LISTEN_PAUSE_S;
}

static int
srv_accept_one(weft__boot_server_t *srv)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    struct epoll_event ev;
    weft__boot_conn_t *conn;
    char why[96];
    int fd;

    fd = accept4(srv->listen_fd, (struct sockaddr *)&ss, &len,
                 SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
        if (errno == EINTR || errno == ECONNABORTED) {
            return 1;
        }
        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
            errno == ENOMEM) {
            if (srv->npending > 0) {
                srv_drop_oldest_pending(srv, "out of file descriptors");
                return 1;
            }
            weft__log_warn(WEFT_SUB_BOOT, "bootstrap store: accept failed: "
                                          "%m; pausing the listener");
            srv_listen_pause(srv);
        } else if (errno != EAGAIN && errno != EWOULDBLOCK) {
            weft__log_warn(WEFT_SUB_BOOT, "bootstrap store: accept failed: "
                                          "%m");
        }
        return 0;
    }
    if (srv->npending >= srv->params.max_pending) {
        snprintf(why, sizeof(why),
                 "dropped: more than %d unauthenticated connections",
                 srv->params.max_pending);
        srv_drop_oldest_pending(srv, why);
    }
    conn = calloc(1, sizeof(*conn));
    if (conn == NULL) {
        close(fd);
        srv_reject(srv, "out of memory for a new connection");
        return 0;
    }
    conn->fd = fd;
    conn->rank = -1;
    conn->state = WEFT_BOOT_CONN_PENDING;
    conn->events = EPOLLIN;
    weft__sock_format((struct sockaddr *)&ss, conn->addr, sizeof(conn->addr));
    weft__auth_hs_server(&conn->hs, srv->key, WEFT_AUTH_PURPOSE_STORE,
                         WEFT_AUTH_RANK_NONE, (uint32_t)srv->params.nranks,
                         weft__now() + srv->params.handshake_timeout);
    ev.events = EPOLLIN;
    ev.data.ptr = conn;
    if (epoll_ctl(srv->epoll_fd, EPOLL_CTL_ADD, fd, &ev) != 0) {
        close(fd);
        free(conn);
        srv_reject(srv, "epoll_ctl failed for a new connection: %m");
        return 0;
    }
    conn->prev = srv->conns_tail;
    if (srv->conns_tail != NULL) {
        srv->conns_tail->next = conn;
    } else {
        srv->conns = conn;
    }
    srv->conns_tail = conn;
    srv->npending++;
    return 1;
}

int
weft__boot_server_accept(weft__boot_server_t *srv)
{
    int n = 0;

    while (n < SRV_ACCEPT_BATCH && !srv->listen_paused && srv_accept_one(srv)) {
        n++;
    }
    return n;
}

void
weft__boot_server_conn_event(weft__boot_server_t *srv, weft__boot_conn_t *conn,
                             uint32_t events)
{
    if (conn->state == WEFT_BOOT_CONN_PENDING) {
        srv_conn_handshake(srv, conn);
        return;
    }
    if (events & EPOLLOUT) {
        srv_conn_flush(srv, conn);
    }
    if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
        srv_conn_read(srv, conn);
    }
}
