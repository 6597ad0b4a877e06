/*
 * tcp: the ops table, instance set-up and teardown, addresses and
 * endpoints. See tcp.h for how the files divide the work.
 */
#include "build_config.h"
#include "transports/tcp/tcp.h"

#include <errno.h>
#include <linux/sockios.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.h"
#include "errmsg.h"
#include "log.h"
#include "util.h"

#define TCP_EAGER_MAX (16u * 1024 * 1024) /* the wire's length is 32 bits */
#define TCP_CHUNK_MIN 4096u
#define TCP_CHUNK_MAX (64u * 1024 * 1024)
#define TCP_DRAIN_MAX (1024 * 1024) /* bytes dropped per link and round */

static void
tcp_peer_failed_ignore(void *host, int peer, weft_status_t status,
                       const char *reason)
{
}

static size_t
tcp_cfg_size(const weft_tl_init_args_t *args, const char *name, size_t def)
{
    const char *text =
        args->config_get ? args->config_get(args->host, name) : NULL;
    unsigned long long v;
    char *end;

    if (text == NULL || *text == '\0') {
        return def;
    }
    errno = 0;
    v = strtoull(text, &end, 10);
    if (errno != 0 || *end != '\0') {
        weft__log_warn(WEFT_SUB_TL,
                       "tcp: WEFT_%s '%s' is not a number; "
                       "using %zu",
                       name, text, def);
        return def;
    }
    return (size_t)v;
}

static size_t
tcp_clamp(size_t v, size_t lo, size_t hi)
{
    return v < lo ? lo : (v > hi ? hi : v);
}

static weft_status_t
tcp_init(const weft_tl_init_args_t *args, weft_tl_t **tl_p)
{
    weft_tl_t *tl;
    const char *text;
    char *ifnames;
    weft_status_t st;

    if (args->nranks < 1 || args->rank < 0 || args->rank >= args->nranks ||
        args->auth_key == NULL || args->auth_key_len == 0) {
        return weft__error(WEFT_ERR_INVALID_ARG, WEFT_SUB_TL,
                           "tcp: bad init arguments (rank %d of %d, key of "
                           "%zu bytes)",
                           args->rank, args->nranks, args->auth_key_len);
    }
    tl = calloc(1, sizeof(*tl));
    if (tl == NULL) {
        return WEFT_ERR_NO_MEMORY;
    }
    tl->rank = args->rank;
    tl->nranks = args->nranks;
    if (args->auth_key_len == WEFT_AUTH_KEY_LEN) {
        memcpy(tl->key, args->auth_key, WEFT_AUTH_KEY_LEN);
    } else {
        weft__auth_derive(args->auth_key, args->auth_key_len,
                          WEFT_AUTH_LABEL_TCP, tl->key);
    }
    tl->handshake_timeout =
        args->handshake_timeout_s > 0 ? args->handshake_timeout_s : 5.0;
    tl->teardown_timeout = args->teardown_timeout_s;
    tl->host = args->host;
    tl->peer_failed =
        args->peer_failed ? args->peer_failed : tcp_peer_failed_ignore;
    tl->eager_limit = tcp_clamp(tcp_cfg_size(args, "TCP_EAGER_LIMIT", 262144),
                                0, TCP_EAGER_MAX);
    tl->chunk = tcp_clamp(tcp_cfg_size(args, "TCP_CHUNK", 1u << 20),
                          TCP_CHUNK_MIN, TCP_CHUNK_MAX);
    tl->sockbuf = tcp_cfg_size(args, "TCP_SOCKBUF", 0);
    tl->max_pending =
        (int)tcp_clamp(tcp_cfg_size(args, "TCP_MAX_PENDING", 64), 1, 65536);
    tl->epfd = -1;
    tl->peers = calloc((size_t)tl->nranks, sizeof(*tl->peers));
    text = args->config_get ? args->config_get(args->host, "TCP_IFNAME") : NULL;
    ifnames = strdup(text ? text : ""); /* the host's buffer is reused */
    if (tl->peers == NULL || ifnames == NULL) {
        st = WEFT_ERR_NO_MEMORY;
        goto err_free;
    }
    tl->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (tl->epfd < 0) {
        st = weft__error(WEFT_ERR_SYSTEM, WEFT_SUB_TL,
                         "tcp: epoll_create1 failed: %m");
        goto err_free;
    }
    st = weft__tcp_iface_open(tl, ifnames);
    if (st != WEFT_OK) {
        goto err_close_epoll;
    }
    free(ifnames);
    weft__log_debug(WEFT_SUB_TL,
                    "tcp: eager limit %zu, chunk %zu, socket buffers %zu, "
                    "%d pending connections",
                    tl->eager_limit, tl->chunk, tl->sockbuf, tl->max_pending);
    *tl_p = tl;
    return WEFT_OK;

err_close_epoll:
    close(tl->epfd);
err_free:
    free(ifnames);
    free(tl->peers);
    weft__memzero(tl->key, sizeof(tl->key));
    free(tl);
    return st;
}

/* Read and drop what the peer sent (fini delivers nothing): it may be
 * blocked writing to us while we flush our BYE to it, and a close with
 * unread bytes sends a reset instead of a FIN. 1 when the stream has
 * ended (EOF or an error): the peer is gone or finishing too. */
static int
tcp_fini_drain(weft__tcp_conn_t *conn)
{
    size_t total = 0;

    while (total < TCP_DRAIN_MAX) {
        ssize_t n = recv(conn->fd, conn->stage, conn->stage_cap, MSG_DONTWAIT);

        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK &&
                       errno != EINTR)) {
            return 1;
        }
        if (n < 0) {
            break;
        }
        total += (size_t)n;
    }
    return 0;
}

/* One round of the goodbye on a peer's open link: read and drop what
 * comes, write what is queued (a partly written frame, then the BYE),
 * shut our sending side (a FIN after the BYE), and wait until the kernel
 * has sent every byte (SIOCOUTQNSD 0). A close with nothing unread then
 * ends with a FIN; a reset (bytes arriving after our close) comes behind
 * the BYE, which the peer reads first: an orderly exit either way. 1
 * while there is more to do. */
static int
tcp_fini_step(weft_tl_ep_t *peer)
{
    weft__tcp_conn_t *conn = peer->conn;
    int unsent = 0;

    if (conn == NULL || conn->state != TCP_CONN_OPEN ||
        peer->failed != WEFT_OK || conn->send_err != 0 ||
        tcp_fini_drain(conn)) {
        return 0;
    }
    if (peer->txq_head != NULL) {
        weft__tcp_tx_flush(peer);
        if (peer->failed != WEFT_OK || conn->send_err != 0) {
            return 0;
        }
        if (peer->txq_head != NULL) {
            weft__tcp_conn_set_events(conn, EPOLLIN | EPOLLOUT);
            return 1;
        }
    }
    if (!conn->shut) {
        shutdown(conn->fd, SHUT_WR);
        conn->shut = 1;
        weft__tcp_conn_set_events(conn, EPOLLIN);
    }
    if (ioctl(conn->fd, SIOCOUTQNSD, &unsent) != 0) {
        return 0;
    }
    return unsent > 0;
}

/* The goodbyes, until done or the teardown deadline. */
static void
tcp_fini_flush(weft_tl_t *tl)
{
    double deadline = weft__now() + tl->teardown_timeout;

    for (;;) {
        struct epoll_event ev[TCP_EVENTS];
        int busy = 0, n;

        for (int r = 0; r < tl->nranks; r++) {
            if (tl->peers[r] != NULL) {
                busy += tcp_fini_step(tl->peers[r]);
            }
        }
        if (busy == 0 || weft__now() >= deadline) {
            break;
        }
        /* writable or readable links wake us; a segment leaving (the
         * window opening) does not, hence the short wait */
        n = epoll_wait(tl->epfd, ev, TCP_EVENTS, weft__ms_until(deadline, 1));
        if (n < 0 && errno != EINTR) {
            break;
        }
    }
}

static void
tcp_fini(weft_tl_t *tl)
{
    if (tl == NULL) {
        return;
    }
    tl->closing = 1;
    weft__tcp_iface_close(tl);
    while (tl->pend_head != NULL) {
        weft__tcp_conn_close(tl->pend_head);
    }
    while (tl->hs_head != NULL) { /* unfinished links: no frame was sent */
        weft__tcp_conn_close(tl->hs_head);
    }
    for (int r = 0; r < tl->nranks; r++) {
        weft_tl_ep_t *peer = tl->peers[r];

        if (peer != NULL && peer->conn != NULL && peer->failed == WEFT_OK) {
            weft__tcp_tx_bye(peer);
        }
    }
    tcp_fini_flush(tl);
    for (int r = 0; r < tl->nranks; r++) {
        weft_tl_ep_t *peer = tl->peers[r];

        if (peer != NULL && peer->conn != NULL) {
            tcp_fini_drain(peer->conn);
            weft__tcp_conn_close(peer->conn);
        }
    }
    weft__tcp_conn_free_dead(tl);
    for (int r = 0; r < tl->nranks; r++) {
        if (tl->peers[r] != NULL) {
            weft__tcp_peer_free(tl->peers[r]);
        }
    }
    free(tl->peers);
    weft__tcp_msg_cache_free(tl);
    close(tl->epfd);
    weft__memzero(tl->key, sizeof(tl->key));
    free(tl);
}

static weft_status_t
tcp_address(weft_tl_t *tl, void *buf, size_t *len_p)
{
    return weft__tcp_addr_pack(tl, buf, len_p);
}

static int
tcp_reachable(weft_tl_t *tl, const weft_tl_peer_t *peer)
{
    weft__tcp_addr_t addr;
    char why[128];

    if (peer->rank == tl->rank ||
        weft__tcp_addr_unpack(peer->addr, peer->addr_len, &addr, why,
                              sizeof(why)) != WEFT_OK) {
        return 0;
    }
    return weft__tcp_addr_choose(tl, &addr, peer->same_node) >= 0;
}

static weft_status_t
tcp_ep_create(weft_tl_t *tl, const weft_tl_peer_t *info, weft_tl_ep_t **ep_p)
{
    weft__tcp_addr_t addr;
    weft_tl_ep_t *peer;
    char why[128];

    if (info->rank < 0 || info->rank >= tl->nranks || info->rank == tl->rank) {
        return weft__error(WEFT_ERR_INVALID_ARG, WEFT_SUB_TL,
                           "tcp: no endpoint for rank %d (this is rank %d "
                           "of %d)",
                           info->rank, tl->rank, tl->nranks);
    }
    if (weft__tcp_addr_unpack(info->addr, info->addr_len, &addr, why,
                              sizeof(why)) != WEFT_OK) {
        return weft__error(WEFT_ERR_INVALID_ARG, WEFT_SUB_TL,
                           "tcp: address of rank %d: %s", info->rank, why);
    }
    if (weft__tcp_addr_choose(tl, &addr, info->same_node) < 0) {
        return weft__error(WEFT_ERR_UNSUPPORTED, WEFT_SUB_TL,
                           "tcp: rank %d published no address this rank can "
                           "use",
                           info->rank);
    }
    peer = weft__tcp_peer_get(tl, info->rank);
    if (peer == NULL) {
        return WEFT_ERR_NO_MEMORY;
    }
    if (!peer->has_addr) {
        peer->addr = addr;
        peer->same_node = info->same_node;
        peer->has_addr = 1;
        peer->eager_limit = addr.eager_limit < tl->eager_limit
                                ? addr.eager_limit
                                : tl->eager_limit;
        peer->chunk = addr.max_data < tl->chunk ? addr.max_data : tl->chunk;
    }
    *ep_p = peer;
    return WEFT_OK;
}

static void
tcp_ep_destroy(weft_tl_ep_t *ep)
{
    /* the peer's state (links, unexpected messages) belongs to the
     * instance and goes in fini; the handle needs nothing */
}

static weft_status_t
tcp_isend(weft_tl_ep_t *ep, const void *buf, size_t len, uint64_t tag,
          weft_tl_op_t *op)
{
    return weft__tcp_tx_send(ep, NULL, 0, buf, len, tag, op);
}

static weft_status_t
tcp_irecv(weft_tl_ep_t *ep, void *buf, size_t len, uint64_t tag,
          weft_tl_op_t *op)
{
    return weft__tcp_rx_post(ep, NULL, 0, buf, len, tag, op);
}

/* The parts of a message as one frame (iovecs), no copy together. */
static weft_status_t
tcp_isend_head(weft_tl_ep_t *ep, const void *head, size_t hlen, const void *buf,
               size_t len, uint64_t tag, weft_tl_op_t *op)
{
    return weft__tcp_tx_send(ep, head, hlen, buf, len, tag, op);
}

static weft_status_t
tcp_irecv_head(weft_tl_ep_t *ep, void *head, size_t hlen, void *buf, size_t len,
               uint64_t tag, weft_tl_op_t *op)
{
    if (hlen > WEFT_TL_HEAD_MAX) {
        return WEFT_INPROGRESS;
    }
    return weft__tcp_rx_post(ep, head, hlen, buf, len, tag, op);
}

static unsigned
tcp_progress(weft_tl_t *tl)
{
    struct epoll_event ev[TCP_EVENTS];
    unsigned done = 0;
    int n;

    tl->in_progress = 1;
    if (tl->deferred != NULL) {
        done++;
        weft__tcp_conn_timers(tl);
    }
    n = epoll_wait(tl->epfd, ev, TCP_EVENTS, 0);
    for (int i = 0; i < n; i++) {
        int kind = *(int *)ev[i].data.ptr;

        if (kind == TCP_FD_LISTENER) {
            weft__tcp_listener_event(tl, ev[i].data.ptr);
        } else {
            weft__tcp_conn_event(ev[i].data.ptr, ev[i].events);
        }
    }
    if (tl->hs_head != NULL || tl->pend_head != NULL || tl->deferred != NULL) {
        weft__tcp_conn_timers(tl);
    }
    if (tl->dead != NULL) {
        weft__tcp_conn_free_dead(tl);
    }
    tl->in_progress = 0;
    return done + (n > 0 ? (unsigned)n : 0);
}

static int
tcp_wait_fd(weft_tl_t *tl)
{
    return tl->epfd;
}

static void
tcp_cancel(weft_tl_ep_t *ep, weft_tl_op_t *op)
{
    switch (weft__tcp_op(op)->state) {
    case TCP_OP_SEND_QUEUED:
    case TCP_OP_SEND_WAIT_CTS:
    case TCP_OP_SEND_DATA:
        weft__tcp_tx_cancel(ep, op);
        break;
    case TCP_OP_RECV_POSTED:
    case TCP_OP_RECV_EAGER:
    case TCP_OP_RECV_RNDV:
        weft__tcp_rx_cancel(ep, op);
        break;
    default:
        break;
    }
}

const weft_tl_ops_t weft__tl_tcp = {
    .abi_version = WEFT_TL_ABI_VERSION,
    .size = sizeof(weft_tl_ops_t),
    .name = "tcp",
    .caps = WEFT_TL_CAP_HOST_MEM,
    .init = tcp_init,
    .fini = tcp_fini,
    .address = tcp_address,
    .reachable = tcp_reachable,
    .ep_create = tcp_ep_create,
    .ep_destroy = tcp_ep_destroy,
    .isend = tcp_isend,
    .irecv = tcp_irecv,
    .progress = tcp_progress,
    .wait_fd = tcp_wait_fd,
    .cancel = tcp_cancel,
    .isend_head = tcp_isend_head,
    .irecv_head = tcp_irecv_head,
};
