/*
 * tcp: connections. Accepting (with a cap on unauthenticated ones),
 * connecting (refused connects retried until the handshake deadline),
 * the mutual handshake on both sides, epoll interest, and what happens
 * when a peer goes away.
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
tcp_conn_new(weft_tl_t *tl, int fd, int tx)
{
    weft__tcp_conn_t *conn = calloc(1, sizeof(*conn));

    if (conn == NULL) {
        return NULL;
    }
    conn->kind = TCP_FD_CONN;
    conn->fd = fd;
    conn->tx = tx;
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
    if (peer != NULL && peer->tx == conn) {
        peer->tx = NULL;
    }
    if (peer != NULL && peer->rx == conn) {
        peer->rx = NULL;
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
        if (conn->stage != conn->tx_stage) {
            free(conn->stage);
        }
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

/* The server side proved the client's key: may it be that rank? */
static uint32_t
tcp_conn_verdict(weft__tcp_conn_t *conn)
{
    weft_tl_t *tl = conn->tl;
    const weft__auth_hello_t *h = &conn->hs.peer_hello;
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
    if (peer->rx != NULL || peer->failed != WEFT_OK || peer->rx_closed) {
        return WEFT_AUTH_REJECT_DUPLICATE;
    }
    peer->rx = conn; /* reserved now, so a twin cannot pass too */
    conn->peer = peer;
    return WEFT_AUTH_ACCEPT;
}

static void
tcp_conn_open(weft__tcp_conn_t *conn)
{
    weft_tl_ep_t *peer = conn->peer;

    tcp_conn_unlink(conn);
    weft__memzero(&conn->hs, sizeof(conn->hs));
    if (conn->tx) {
        conn->stage = conn->tx_stage;
        conn->stage_cap = sizeof(conn->tx_stage);
    } else {
        conn->stage = malloc(TCP_STAGE_SIZE);
        if (conn->stage == NULL) {
            weft__tcp_peer_fail(peer, WEFT_ERR_NO_MEMORY,
                                "no memory for the receive buffer");
            return;
        }
        conn->stage_cap = TCP_STAGE_SIZE;
    }
    conn->state = TCP_CONN_OPEN;
    weft__tcp_conn_set_events(conn, EPOLLIN);
    weft__log_debug(WEFT_SUB_TL, "tcp: %s link with rank %d open (%s)",
                    conn->tx ? "send" : "receive", peer->rank, conn->name);
    if (conn->tx) {
        weft__tcp_tx_flush(peer);
    }
}

static void tcp_conn_retry(weft__tcp_conn_t *conn, int err, const char *what);

static void
tcp_conn_handshake(weft__tcp_conn_t *conn)
{
    weft_tl_t *tl = conn->tl;
    weft_status_t st = weft__auth_hs_progress(&conn->hs, conn->fd);

    if (!conn->tx && st == WEFT_OK && conn->on_pending == TCP_LIST_PEND) {
        uint32_t verdict = tcp_conn_verdict(conn);

        tcp_conn_link(conn, TCP_LIST_HS); /* authenticated: not droppable */
        weft__auth_hs_set_verdict(&conn->hs, verdict);
        st = weft__auth_hs_progress(&conn->hs, conn->fd);
    }
    if (st == WEFT_INPROGRESS) {
        tcp_conn_hs_events(conn);
        return;
    }
    if (conn->tx) {
        weft_tl_ep_t *peer = conn->peer;

        if (st == WEFT_OK && conn->hs.peer_rank != (uint32_t)peer->rank) {
            weft__tcp_peer_fail(peer, WEFT_ERR_AUTH,
                                "%s answered as rank %u, not rank %d",
                                conn->name, conn->hs.peer_rank, peer->rank);
        } else if (st == WEFT_OK) {
            tcp_conn_open(conn);
        } else if (st == WEFT_ERR_PEER_LOST ||
                   (st == WEFT_ERR_AUTH &&
                    conn->hs.verdict == WEFT_AUTH_REJECT_DUPLICATE)) {
            /* dropped by a flooded listener, or our previous attempt is
             * still bound there: try again until the deadline */
            tcp_conn_retry(conn, 0, conn->hs.why);
        } else {
            weft__tcp_peer_fail(peer,
                                st == WEFT_ERR_AUTH || st == WEFT_ERR_PROTOCOL
                                    ? st
                                    : WEFT_ERR_PEER_LOST,
                                "handshake with %s failed: %s", conn->name,
                                conn->hs.why);
        }
        return;
    }
    if (st == WEFT_OK) {
        tcp_conn_open(conn);
        return;
    }
    if (conn->peer != NULL && conn->peer->rx == conn) {
        conn->peer->rx = NULL; /* the accepted link never opened */
    }
    tcp_conn_log_reject(tl, "rejected the connection from %s: %s", conn->name,
                        conn->hs.why);
    weft__tcp_conn_close(conn);
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
 * may have dropped us while it was flooded). */
static void
tcp_conn_retry(weft__tcp_conn_t *conn, int err, const char *what)
{
    double now = weft__now();

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
weft__tcp_conn_tx_open(weft_tl_ep_t *peer)
{
    weft_tl_t *tl = peer->tl;
    weft__tcp_conn_t *conn;
    int idx;

    if (peer->tx != NULL) {
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
    peer->tx = conn;
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
        if (conn->state == TCP_CONN_OPEN && conn->tx && (events & EPOLLOUT)) {
            weft__tcp_tx_flush(conn->peer);
        }
        break;
    default:
        break;
    }
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
        if (conn->tx && conn->state == TCP_CONN_BACKOFF &&
            now >= conn->retry_at) {
            tcp_conn_connect(conn);
            goto restart; /* the list may have changed */
        }
        if (conn->state != TCP_CONN_BACKOFF && now >= conn->deadline) {
            if (conn->tx) {
                weft__tcp_peer_fail(conn->peer, WEFT_ERR_PEER_LOST,
                                    "no link to %s within %.1f s (%s)",
                                    conn->name, tl->handshake_timeout,
                                    conn->state == TCP_CONN_CONNECTING
                                        ? "connect() did not finish"
                                        : "handshake did not finish");
                weft__tcp_conn_close(conn);
            } else {
                if (conn->peer != NULL && conn->peer->rx == conn) {
                    conn->peer->rx = NULL;
                }
                tcp_conn_log_reject(tl, "handshake with %s timed out",
                                    conn->name);
                weft__tcp_conn_close(conn);
            }
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
