/*
 * tcp: connections. Accepting (with a cap on unauthenticated ones),
 * connecting (refused connects retried until the handshake deadline),
 * the mutual handshake on both sides, simultaneous connects, epoll
 * interest and deadlines.
 *
 * One connection per pair of ranks, used both ways, set up lazily: the
 * first frame for a rank with no connection starts one (frames queue on
 * the peer meanwhile), and an authenticated connection from a rank we
 * have none with is bound to it at once. When both ranks connect at the
 * same moment, the connection initiated by the LOWER rank wins. Every
 * decision is the acceptor's, taken at its verdict (the client has proved
 * the key; the result is not sent yet) from what peer->conn holds:
 *
 *   peer->conn at our verdict      from a lower rank     from a higher rank
 *   none                           ACCEPT, bind it       ACCEPT, bind it
 *   ours, pending (backoff,        ACCEPT, bind it;      SIMULTANEOUS
 *     connecting, handshake, wait)   ours is dropped
 *   ours, open                     DUPLICATE (1)         SIMULTANEOUS
 *   accepted (handshake or open)   DUPLICATE             DUPLICATE
 *   the peer failed or finished    DUPLICATE             DUPLICATE
 *
 * (1) never between weft ranks: ours is open only if the lower rank bound
 * it while it had no connection of its own, and then it sends on ours.
 *
 * Interleavings, for ranks L < H (each side runs connect and accept):
 *  a. H's connection reaches L's verdict while L's own is pending or
 *     open: rejected, SIMULTANEOUS. H does not fail: its connection goes
 *     to WAIT (socket closed, frames kept on the peer, same deadline)
 *     until L's arrives, which H accepts by b. If the deadline passes
 *     first, H fails the peer (L's connection never came).
 *  b. L's connection reaches H's verdict while H's own is pending: H
 *     accepts L's and drops its own. In backoff or wait, it is closed
 *     at once (nothing of it reached L). Connecting or in the handshake,
 *     it becomes an orphan (conn->peer is H's peer state, peer->conn is
 *     L's connection): it runs to the end of its handshake and is closed
 *     whatever the result. L, having its own connection to H, answers it
 *     SIMULTANEOUS by a, so it is never bound there, and neither side
 *     logs more than a debug line.
 *  c. Both verdicts happen, in either order (a then b, or b then a): the
 *     result is the same, L's connection, bound on both sides.
 *  d. Only one side connects, or one side's verdict binds the other's
 *     connection before it needs one itself: that connection is used
 *     both ways and the other side never connects.
 *  e. L's own connection fails after L answered H SIMULTANEOUS: if it
 *     can be retried (a refused connect, a handshake that lost its
 *     socket) it stays pending and H keeps waiting; if not, L fails H
 *     and H's wait ends at its deadline, a loss as if L had died.
 * Frames queue on the peer, not on a connection, and are written only on
 * the open link; a dropped connection carried nothing but handshake
 * bytes, so the kept one writes them all, in order, when it opens.
 *
 * Failures while setting up:
 *  - our own connection: a refused connect, or a handshake that loses its
 *    socket (a flooded listener drops unauthenticated connections) or is
 *    answered DUPLICATE (our previous attempt is still bound there), is
 *    retried with backoff until the deadline; SIMULTANEOUS from a lower
 *    rank is a, from a higher one a broken rule; any other failure, or
 *    the deadline, fails the peer;
 *  - an accepted connection after our ACCEPT (the result could not be
 *    sent, or the deadline passed): it is unbound, and its client, which
 *    saw EOF in its handshake, retries. If frames wait for that peer we
 *    connect too; the rules above settle who wins.
 */
#include "build_config.h"
#include "transports/tcp/tcp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.h"
#include "errmsg.h"
#include "log.h"
#include "sock.h"
#include "util.h"

#define TCP_BACKOFF_MIN   0.001
#define TCP_BACKOFF_MAX   0.1
#define TCP_REJECT_WINDOW 10.0 /* seconds */
#define TCP_REJECT_LOGS   5    /* reject lines per window */
#define TCP_ACCEPTS       64   /* accept() calls per listener event */

enum { TCP_LIST_NONE = 0, TCP_LIST_HS, TCP_LIST_PEND, TCP_LIST_DEAD };

/* ---- lists ---------------------------------------------------------- */

static weft__tcp_conn_t **
tcp_conn_list_head(weft_tl_t *tl, int list)
{
    switch (list) {
    case TCP_LIST_HS:
        return &tl->hs_head;
    case TCP_LIST_PEND:
        return &tl->pend_head;
    default:
        return &tl->dead;
    }
}

static void
tcp_conn_unlink(weft__tcp_conn_t *conn)
{
    weft_tl_t *tl = conn->tl;

    if (conn->on_pending == TCP_LIST_NONE) {
        return;
    }
    if (conn->prev != NULL) {
        conn->prev->next = conn->next;
    } else {
        *tcp_conn_list_head(tl, conn->on_pending) = conn->next;
    }
    if (conn->next != NULL) {
        conn->next->prev = conn->prev;
    } else if (conn->on_pending == TCP_LIST_PEND) {
        tl->pend_tail = conn->prev;
    }
    if (conn->on_pending == TCP_LIST_PEND) {
        tl->n_pend--;
    }
    conn->next = conn->prev = NULL;
    conn->on_pending = TCP_LIST_NONE;
}

static void
tcp_conn_link(weft__tcp_conn_t *conn, int list)
{
    weft_tl_t *tl = conn->tl;

    tcp_conn_unlink(conn);
    conn->on_pending = list;
    if (list == TCP_LIST_PEND) { /* FIFO: the oldest is dropped first */
        conn->prev = tl->pend_tail;
        if (tl->pend_tail != NULL) {
            tl->pend_tail->next = conn;
        } else {
            tl->pend_head = conn;
        }
        tl->pend_tail = conn;
        tl->n_pend++;
        return;
    }
    conn->next = *tcp_conn_list_head(tl, list);
    if (conn->next != NULL) {
        conn->next->prev = conn;
    }
    *tcp_conn_list_head(tl, list) = conn;
}

/* ---- basics ------------------------------------------------------------ */

static weft__tcp_conn_t *
tcp_conn_new(weft_tl_t *tl, int fd, int own)
{
    weft__tcp_conn_t *conn = calloc(1, sizeof(*conn));

    if (conn == NULL) {
        return NULL;
    }
    conn->kind = TCP_FD_CONN;
    conn->fd = fd;
    conn->own = own;
    conn->tl = tl;
    return conn;
}

void
weft__tcp_conn_set_events(weft__tcp_conn_t *conn, uint32_t events)
{
    struct epoll_event ev;
    int op;

    if (conn->fd < 0 || events == conn->events) {
        return;
    }
    op = conn->events == 0 ? EPOLL_CTL_ADD
                           : (events == 0 ? EPOLL_CTL_DEL : EPOLL_CTL_MOD);
    ev.events = events;
    ev.data.ptr = conn;
    if (epoll_ctl(conn->tl->epfd, op, conn->fd, &ev) != 0) {
        weft__log_warn(WEFT_SUB_TL, "tcp: epoll_ctl on the link %s failed: %m",
                       conn->name);
        return;
    }
    conn->events = events;
}

static void
tcp_conn_hs_events(weft__tcp_conn_t *conn)
{
    short ev = weft__auth_hs_events(&conn->hs);

    weft__tcp_conn_set_events(conn, (ev & POLLOUT) ? EPOLLOUT : EPOLLIN);
}

void
weft__tcp_conn_close(weft__tcp_conn_t *conn)
{
    weft_tl_ep_t *peer = conn->peer;

    if (conn->state == TCP_CONN_CLOSED) {
        return;
    }
    weft__tcp_conn_set_events(conn, 0); /* explicit: a fork may share fds */
    if (conn->fd >= 0) {
        close(conn->fd);
    }
    conn->fd = -1;
    conn->events = 0;
    conn->state = TCP_CONN_CLOSED;
    if (conn->rx_msg != NULL) {
        weft__tcp_msg_t *msg = conn->rx_msg;

        conn->rx_msg = NULL;
        msg->in_rx = 0;
        weft__tcp_msg_release(msg);
    }
    conn->rx_op = NULL;
    if (peer != NULL && peer->conn == conn) {
        peer->conn = NULL;
    }
    weft__memzero(&conn->hs, sizeof(conn->hs));
    tcp_conn_link(conn, TCP_LIST_DEAD);
}

void
weft__tcp_conn_free_dead(weft_tl_t *tl)
{
    while (tl->dead != NULL) {
        weft__tcp_conn_t *conn = tl->dead;

        tcp_conn_unlink(conn);
        free(conn->stage);
        free(conn);
    }
}

static void
tcp_conn_sockopts(weft_tl_t *tl, int fd)
{
    int size = tl->sockbuf > (size_t)INT32_MAX ? INT32_MAX : (int)tl->sockbuf;

    weft__sock_set_nodelay(fd);
    if (size > 0) {
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
    }
}

/* Rejected or dropped connections: a few lines per window, then a
 * count, so a flood cannot fill the log. */
static void tcp_conn_log_reject(weft_tl_t *tl, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
tcp_conn_log_reject(weft_tl_t *tl, const char *fmt, ...)
{
    double now = weft__now();
    char line[256];
    va_list ap;

    if (now >= tl->rej_window + TCP_REJECT_WINDOW) {
        if (tl->rej_suppressed > 0) {
            weft__log_warn(WEFT_SUB_TL,
                           "tcp: %u more connections rejected in the last "
                           "%.0f s",
                           tl->rej_suppressed, TCP_REJECT_WINDOW);
        }
        tl->rej_window = now;
        tl->rej_logged = 0;
        tl->rej_suppressed = 0;
    }
    if (tl->rej_logged >= TCP_REJECT_LOGS) {
        tl->rej_suppressed++;
        return;
    }
    tl->rej_logged++;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    weft__log_warn(WEFT_SUB_TL, "tcp: %s", line);
}

/* ---- accepting ---------------------------------------------------------- */

void
weft__tcp_listener_event(weft_tl_t *tl, weft__tcp_listener_t *lis)
{
    for (int i = 0; i < TCP_ACCEPTS; i++) {
        struct sockaddr_storage ss;
        socklen_t len = sizeof(ss);
        weft__tcp_conn_t *conn;
        int fd = accept4(lis->fd, (struct sockaddr *)&ss, &len,
                         SOCK_NONBLOCK | SOCK_CLOEXEC);

        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED) {
                continue;
            }
            if (errno != EAGAIN && errno != EWOULDBLOCK) {
                tcp_conn_log_reject(tl, "accept on %s:%u failed: %m",
                                    lis->addr.ifname, lis->addr.port);
            }
            return;
        }
        if (tl->n_pend >= tl->max_pending) {
            weft__tcp_conn_t *old = tl->pend_head;

            tcp_conn_log_reject(tl,
                                "dropped the connection from %s: %d "
                                "unauthenticated connections pending",
                                old->name, tl->n_pend);
            weft__tcp_conn_close(old);
        }
        conn = tcp_conn_new(tl, fd, 0);
        if (conn == NULL) {
            close(fd);
            return;
        }
        weft__sock_format((struct sockaddr *)&ss, conn->name,
                          sizeof(conn->name));
        weft__sock_set_nodelay(fd);
        conn->state = TCP_CONN_HANDSHAKE;
        conn->deadline = weft__now() + tl->handshake_timeout;
        weft__auth_hs_server(&conn->hs, tl->key, WEFT_AUTH_PURPOSE_TCP,
                             (uint32_t)tl->rank, (uint32_t)tl->nranks,
                             conn->deadline);
        tcp_conn_link(conn, TCP_LIST_PEND);
        tcp_conn_hs_events(conn);
    }
}

/* Our own pending connection loses to the lower rank's (interleaving b):
 * one that may have reached the peer finishes its handshake as an
 * orphan, the others close now. */
static void
tcp_conn_drop(weft__tcp_conn_t *own)
{
    weft_tl_ep_t *peer = own->peer;

    peer->conn = NULL;
    own->tl->stats.sim_drops++;
    weft__log_debug(WEFT_SUB_TL,
                    "tcp: rank %d connected at the same time as us; its "
                    "connection is kept, ours (%s) dropped",
                    peer->rank, own->name);
    if (own->state != TCP_CONN_CONNECTING && own->state != TCP_CONN_HANDSHAKE) {
        weft__tcp_conn_close(own);
    }
}

/* The server side proved the client's key: may it be that rank (see the
 * table at the top)? */
static uint32_t
tcp_conn_verdict(weft__tcp_conn_t *conn)
{
    weft_tl_t *tl = conn->tl;
    const weft__auth_hello_t *h = &conn->hs.peer_hello;
    weft__tcp_conn_t *cur;
    weft_tl_ep_t *peer;

    if (h->nranks != (uint32_t)tl->nranks) {
        return WEFT_AUTH_REJECT_SIZE;
    }
    if (h->rank >= (uint32_t)tl->nranks || h->rank == (uint32_t)tl->rank) {
        return WEFT_AUTH_REJECT_RANK;
    }
    peer = weft__tcp_peer_get(tl, (int)h->rank);
    if (peer == NULL) {
        return WEFT_AUTH_REJECT_RANK; /* out of memory: let it retry */
    }
    cur = peer->conn;
    if (peer->failed != WEFT_OK || peer->closed || (cur != NULL && !cur->own)) {
        return WEFT_AUTH_REJECT_DUPLICATE;
    }
    if (cur != NULL && peer->rank > tl->rank) {
        return WEFT_AUTH_REJECT_SIMULTANEOUS; /* ours wins */
    }
    if (cur != NULL && cur->state == TCP_CONN_OPEN) {
        return WEFT_AUTH_REJECT_DUPLICATE;
    }
    if (cur != NULL) {
        tcp_conn_drop(cur); /* its wins */
    }
    peer->conn = conn; /* bound now, so a twin cannot pass too */
    conn->peer = peer;
    tl->stats.accepts++;
    return WEFT_AUTH_ACCEPT;
}

static void
tcp_conn_open(weft__tcp_conn_t *conn)
{
    weft_tl_ep_t *peer = conn->peer;

    tcp_conn_unlink(conn);
    weft__memzero(&conn->hs, sizeof(conn->hs));
    conn->stage = malloc(TCP_STAGE_SIZE);
    if (conn->stage == NULL) {
        weft__tcp_peer_fail(peer, WEFT_ERR_NO_MEMORY,
                            "no memory for the receive buffer");
        return;
    }
    conn->stage_cap = TCP_STAGE_SIZE;
    conn->state = TCP_CONN_OPEN;
    weft__tcp_conn_set_events(conn, EPOLLIN);
    weft__log_debug(WEFT_SUB_TL, "tcp: link with rank %d open (%s, %s)",
                    peer->rank, conn->name, conn->own ? "ours" : "its");
    weft__tcp_tx_flush(peer); /* what queued meanwhile; sets EPOLLOUT */
}

/* An accepted connection we had bound did not open: unbind it (its
 * client retries). Frames waiting for that peer start our own. */
static void
tcp_conn_unbind(weft__tcp_conn_t *conn)
{
    weft_tl_ep_t *peer = conn->peer;
    weft_status_t st;

    weft__tcp_conn_close(conn);
    if (peer == NULL || peer->conn != NULL || peer->failed != WEFT_OK ||
        peer->closed || peer->txq_head == NULL) {
        return;
    }
    st = weft__tcp_conn_start(peer);
    if (st != WEFT_OK) {
        weft__tcp_peer_fail(peer, st, "cannot connect: %s", weft_last_error());
    }
}

static void tcp_conn_retry(weft__tcp_conn_t *conn, int err, const char *what);

/* Our connection was rejected as simultaneous by a lower rank: its own
 * connection comes (interleaving a). */
static void
tcp_conn_wait(weft__tcp_conn_t *conn)
{
    weft__tcp_conn_set_events(conn, 0);
    close(conn->fd);
    conn->fd = -1;
    conn->events = 0;
    conn->state = TCP_CONN_WAIT;
    weft__memzero(&conn->hs, sizeof(conn->hs));
    conn->tl->stats.sim_waits++;
    weft__log_debug(WEFT_SUB_TL,
                    "tcp: rank %d connected at the same time as us and "
                    "keeps its connection; waiting for it",
                    conn->peer->rank);
}

/* The end of the handshake of a connection we opened. */
static void
tcp_conn_own_done(weft__tcp_conn_t *conn, weft_status_t st)
{
    weft_tl_ep_t *peer = conn->peer;
    uint32_t verdict = conn->hs.verdict;

    if (peer->conn != conn) { /* an orphan: the peer's connection won */
        weft__log_debug(WEFT_SUB_TL,
                        "tcp: dropped connection to rank %d closed (%s)",
                        peer->rank, st == WEFT_OK ? "accepted" : conn->hs.why);
        weft__tcp_conn_close(conn);
    } else if (st == WEFT_OK && conn->hs.peer_rank != (uint32_t)peer->rank) {
        weft__tcp_peer_fail(peer, WEFT_ERR_AUTH,
                            "%s answered as rank %u, not rank %d", conn->name,
                            conn->hs.peer_rank, peer->rank);
    } else if (st == WEFT_OK) {
        tcp_conn_open(conn);
    } else if (st == WEFT_ERR_PEER_LOST ||
               (st == WEFT_ERR_AUTH && verdict == WEFT_AUTH_REJECT_DUPLICATE)) {
        /* dropped by a flooded listener, or our previous attempt is
         * still bound there: try again until the deadline */
        tcp_conn_retry(conn, 0, conn->hs.why);
    } else if (st == WEFT_ERR_AUTH &&
               verdict == WEFT_AUTH_REJECT_SIMULTANEOUS &&
               peer->rank < conn->tl->rank) {
        tcp_conn_wait(conn);
    } else {
        weft__tcp_peer_fail(
            peer,
            st == WEFT_ERR_AUTH || st == WEFT_ERR_PROTOCOL ? st
                                                           : WEFT_ERR_PEER_LOST,
            "handshake with %s failed: %s", conn->name, conn->hs.why);
    }
}

/* The end of the handshake of a connection we accepted. */
static void
tcp_conn_accepted_done(weft__tcp_conn_t *conn, weft_status_t st)
{
    weft_tl_ep_t *peer = conn->peer;

    if (st == WEFT_OK) {
        tcp_conn_open(conn);
        return;
    }
    if (conn->hs.verdict == WEFT_AUTH_REJECT_SIMULTANEOUS) {
        weft__log_debug(WEFT_SUB_TL,
                        "tcp: rank %u connected at the same time as us; "
                        "ours is kept, %s closed",
                        conn->hs.peer_hello.rank, conn->name);
    } else {
        tcp_conn_log_reject(conn->tl, "rejected the connection from %s: %s",
                            conn->name, conn->hs.why);
    }
    if (peer != NULL && peer->conn == conn) {
        tcp_conn_unbind(conn);
        return;
    }
    weft__tcp_conn_close(conn);
}

static void
tcp_conn_handshake(weft__tcp_conn_t *conn)
{
    weft_status_t st = weft__auth_hs_progress(&conn->hs, conn->fd);

    if (!conn->own && st == WEFT_OK && conn->on_pending == TCP_LIST_PEND) {
        uint32_t verdict = tcp_conn_verdict(conn);

        tcp_conn_link(conn, TCP_LIST_HS); /* authenticated: not droppable */
        weft__auth_hs_set_verdict(&conn->hs, verdict);
        st = weft__auth_hs_progress(&conn->hs, conn->fd);
    }
    if (st == WEFT_INPROGRESS) {
        tcp_conn_hs_events(conn);
    } else if (conn->own) {
        tcp_conn_own_done(conn, st);
    } else {
        tcp_conn_accepted_done(conn, st);
    }
}

/* ---- connecting ----------------------------------------------------- */

static void
tcp_conn_start_hs(weft__tcp_conn_t *conn)
{
    weft_tl_t *tl = conn->tl;

    conn->state = TCP_CONN_HANDSHAKE;
    weft__auth_hs_client(&conn->hs, tl->key, WEFT_AUTH_PURPOSE_TCP,
                         (uint32_t)tl->rank, (uint32_t)tl->nranks,
                         conn->deadline);
    tcp_conn_handshake(conn);
}

static void
tcp_conn_connect(weft__tcp_conn_t *conn)
{
    weft_tl_ep_t *peer = conn->peer;
    int idx = weft__tcp_addr_choose(conn->tl, &peer->addr, peer->same_node);
    const weft__tcp_addr_entry_t *e = &peer->addr.e[idx < 0 ? 0 : idx];
    struct sockaddr_in sin = {.sin_family = AF_INET};
    int fd;

    sin.sin_addr.s_addr = e->ip;
    sin.sin_port = htons(e->port);
    conn->attempts++;
    fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        weft__tcp_peer_fail(peer, WEFT_ERR_SYSTEM,
                            "socket for a link to %s failed: %s", conn->name,
                            strerror(errno));
        return;
    }
    tcp_conn_sockopts(conn->tl, fd);
    conn->fd = fd;
    conn->events = 0;
    if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0) {
        tcp_conn_start_hs(conn);
    } else if (errno == EINPROGRESS || errno == EINTR) {
        conn->state = TCP_CONN_CONNECTING;
        weft__tcp_conn_set_events(conn, EPOLLOUT);
    } else {
        tcp_conn_retry(conn, errno, "connect");
    }
}

/* A connect or an unfinished handshake failed: try again after a pause,
 * until the deadline (the peer may still be starting, or its listener
 * may have dropped us while it was flooded). An orphan just closes. */
static void
tcp_conn_retry(weft__tcp_conn_t *conn, int err, const char *what)
{
    double now = weft__now();

    if (conn->peer->conn != conn) {
        weft__tcp_conn_close(conn);
        return;
    }
    weft__tcp_conn_set_events(conn, 0);
    if (conn->fd >= 0) {
        close(conn->fd);
    }
    conn->fd = -1;
    conn->events = 0;
    if (now + conn->backoff >= conn->deadline) {
        weft__tcp_peer_fail(conn->peer, WEFT_ERR_PEER_LOST,
                            "cannot connect to %s after %u attempts in "
                            "%.1f s: %s%s%s",
                            conn->name, conn->attempts,
                            conn->tl->handshake_timeout, what, err ? ": " : "",
                            err ? strerror(err) : "");
        return;
    }
    weft__log_debug(WEFT_SUB_TL, "tcp: connect to %s: %s%s%s; retrying",
                    conn->name, what, err ? ": " : "",
                    err ? strerror(err) : "");
    conn->state = TCP_CONN_BACKOFF;
    conn->retry_at = now + conn->backoff;
    conn->backoff *= 2;
    if (conn->backoff > TCP_BACKOFF_MAX) {
        conn->backoff = TCP_BACKOFF_MAX;
    }
}

static void
tcp_conn_connected(weft__tcp_conn_t *conn)
{
    int err = 0;
    socklen_t len = sizeof(err);

    if (getsockopt(conn->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) {
        err = errno;
    }
    if (err != 0) {
        tcp_conn_retry(conn, err, "connect");
        return;
    }
    tcp_conn_start_hs(conn);
}

weft_status_t
weft__tcp_conn_start(weft_tl_ep_t *peer)
{
    weft_tl_t *tl = peer->tl;
    weft__tcp_conn_t *conn;
    int idx;

    if (peer->conn != NULL) {
        return WEFT_OK;
    }
    idx = peer->has_addr
              ? weft__tcp_addr_choose(tl, &peer->addr, peer->same_node)
              : -1;
    if (idx < 0) {
        return weft__error(WEFT_ERR_UNSUPPORTED, WEFT_SUB_TL,
                           "tcp: no usable address for rank %d", peer->rank);
    }
    conn = tcp_conn_new(tl, -1, 1);
    if (conn == NULL) {
        return WEFT_ERR_NO_MEMORY;
    }
    {
        const weft__tcp_addr_entry_t *e = &peer->addr.e[idx];
        struct in_addr in = {.s_addr = e->ip};
        char ip[INET_ADDRSTRLEN];

        inet_ntop(AF_INET, &in, ip, sizeof(ip));
        snprintf(conn->name, sizeof(conn->name), "%s:%u", ip, e->port);
        weft__log_info(WEFT_SUB_TL, "tcp: rank %d via %s (%s)", peer->rank,
                       conn->name, e->ifname);
    }
    conn->peer = peer;
    conn->deadline = weft__now() + tl->handshake_timeout;
    conn->backoff = TCP_BACKOFF_MIN;
    peer->conn = conn;
    tl->stats.connects++;
    tcp_conn_link(conn, TCP_LIST_HS);
    tcp_conn_connect(conn);
    return WEFT_OK;
}

/* ---- events and timers ---------------------------------------------- */

void
weft__tcp_conn_event(weft__tcp_conn_t *conn, uint32_t events)
{
    switch (conn->state) {
    case TCP_CONN_CONNECTING:
        tcp_conn_connected(conn);
        break;
    case TCP_CONN_HANDSHAKE:
        tcp_conn_handshake(conn);
        break;
    case TCP_CONN_OPEN:
        if (events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
            weft__tcp_rx_read(conn);
        }
        if (conn->state == TCP_CONN_OPEN && (events & EPOLLOUT)) {
            weft__tcp_tx_flush(conn->peer);
        }
        break;
    default:
        break;
    }
}

/* A connection on the handshaking list reached its deadline. */
static void
tcp_conn_expired(weft__tcp_conn_t *conn)
{
    weft_tl_t *tl = conn->tl;
    weft_tl_ep_t *peer = conn->peer;

    if (!conn->own) {
        tcp_conn_log_reject(tl, "handshake with %s timed out", conn->name);
        if (peer != NULL && peer->conn == conn) {
            tcp_conn_unbind(conn);
        } else {
            weft__tcp_conn_close(conn);
        }
        return;
    }
    if (peer->conn == conn && conn->state == TCP_CONN_WAIT) {
        weft__tcp_peer_fail(peer, WEFT_ERR_PEER_LOST,
                            "rank %d kept its own connection (we connected "
                            "at the same time) but it did not come within "
                            "%.1f s",
                            peer->rank, tl->handshake_timeout);
    } else if (peer->conn == conn) {
        weft__tcp_peer_fail(
            peer, WEFT_ERR_PEER_LOST, "no link to %s within %.1f s (%s)",
            conn->name, tl->handshake_timeout,
            conn->state == TCP_CONN_CONNECTING ? "connect() did not finish"
                                               : "handshake did not finish");
    }
    weft__tcp_conn_close(conn);
}

/* Deferred failures, connect retries and handshake deadlines. */
void
weft__tcp_conn_timers(weft_tl_t *tl)
{
    double now = weft__now();
    weft__tcp_conn_t *conn;

    weft__tcp_peer_run_deferred(tl);
restart:
    for (conn = tl->hs_head; conn != NULL; conn = conn->next) {
        if (conn->own && conn->state == TCP_CONN_BACKOFF &&
            now >= conn->retry_at) {
            tcp_conn_connect(conn);
            goto restart; /* the list may have changed */
        }
        if (conn->state != TCP_CONN_BACKOFF && now >= conn->deadline) {
            tcp_conn_expired(conn);
            goto restart;
        }
    }
    while (tl->pend_head != NULL && now >= tl->pend_head->deadline) {
        conn = tl->pend_head;
        tcp_conn_log_reject(tl,
                            "dropped the connection from %s: no handshake "
                            "within %.1f s",
                            conn->name, tl->handshake_timeout);
        weft__tcp_conn_close(conn);
    }
}
