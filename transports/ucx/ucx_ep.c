/*
 * ucx: endpoints, created from the worker address a peer published, with
 * UCP_ERR_HANDLING_MODE_PEER; the goodbye a finishing rank sends each
 * peer; and what happens when a peer is lost (every pending op to and
 * from it fails with WEFT_ERR_PEER_LOST, the host hears of it once).
 */
#include "build_config.h"
#include "transports/ucx/ucx.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <ucs/config/global_opts.h>
#include <unistd.h>

/* The peer needs looking at in the next progress (failures, reports). */
void
weft__ucx_ep_attention(weft_tl_ep_t *ep)
{
    if (!ep->fail_pending) {
        ep->fail_pending = 1;
        ep->tl->failures++;
    }
}

static void
ucx_bye_complete(weft_tl_op_t *op, weft_status_t status, size_t bytes)
{
    /* never called: the goodbye is handled by weft__ucx_ep_bye */
    (void)op;
    (void)status;
    (void)bytes;
}

/* Called by UCX (inside ucp_worker_progress): the link is broken. Acted
 * on at the end of progress. */
static void
ucx_ep_err_cb(void *arg, ucp_ep_h uep, ucs_status_t status)
{
    weft_tl_ep_t *ep = arg;

    (void)uep;
    if (ep->ucs_err != UCS_OK || ep->state != UCX_EP_OPEN) {
        return; /* the first cause wins */
    }
    ep->ucs_err = status;
    snprintf(ep->why, sizeof(ep->why), "the UCX link to rank %d failed: %s",
             ep->rank, ucs_status_string(status));
    weft__ucx_ep_attention(ep);
}

/* Watch a peer process on this node: its pidfd becomes readable when it
 * ends, and wakes a waiting core through the instance's epoll fd. */
static void
ucx_ep_watch(weft_tl_ep_t *ep, int pid)
{
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = ep};
    int fd = (int)syscall(SYS_pidfd_open, pid, 0);

    if (fd < 0) {
        weft__ucx_log(ep->tl,
                      ep->err_mode_none ? WEFT_LOG_WARN : WEFT_LOG_DEBUG,
                      "ucx: cannot watch rank %d (pid %d): pidfd_open: %s",
                      ep->rank, pid, strerror(errno));
        return;
    }
    if (epoll_ctl(ep->tl->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
        weft__ucx_log(ep->tl, WEFT_LOG_WARN,
                      "ucx: cannot watch rank %d (pid %d): epoll_ctl: %s",
                      ep->rank, pid, strerror(errno));
        close(fd);
        return;
    }
    ep->pidfd = fd;
}

static void
ucx_ep_unwatch(weft_tl_ep_t *ep)
{
    if (ep->pidfd >= 0) {
        epoll_ctl(ep->tl->epfd, EPOLL_CTL_DEL, ep->pidfd, NULL);
        close(ep->pidfd);
        ep->pidfd = -1;
    }
}

#define UCX_DRAIN_ROUNDS 4096 /* a bound: live peers may keep sending */

/* A process that has ended wrote all it ever will: take in what UCX holds
 * of it (its last completions, the acknowledgements of our rendezvous
 * sends) before its pending ops are counted lost. */
static void
ucx_drain(weft_tl_t *tl)
{
    for (int k = 0; k < UCX_DRAIN_ROUNDS; k++) {
        if (ucp_worker_progress(tl->worker) == 0) {
            return;
        }
    }
}

void
weft__ucx_ep_check_pids(weft_tl_t *tl)
{
    struct epoll_event evs[16];
    int n;

    tl->check_pids = 0;
    n = epoll_wait(tl->epfd, evs, 16, 0);
    for (int i = 0; i < n; i++) {
        if (evs[i].data.ptr != NULL) {
            ucx_drain(tl); /* once, before any is counted */
            break;
        }
    }
    for (int i = 0; i < n; i++) {
        weft_tl_ep_t *ep = evs[i].data.ptr;

        if (ep == NULL) {
            continue; /* the worker's fd */
        }
        ucx_ep_unwatch(ep);
        if (ep->ucs_err != UCS_OK || ep->state != UCX_EP_OPEN) {
            continue;
        }
        ep->ucs_err = UCS_ERR_CONNECTION_RESET;
        snprintf(ep->why, sizeof(ep->why), "the process of rank %d has ended",
                 ep->rank);
        weft__ucx_ep_attention(ep);
    }
}

/* The first endpoint to a peer on this node, asking for peer-failure
 * handling, which UCX 1.13's shared-memory transports lack: UCX would
 * print an ERROR ("no active messages transport ... no peer failure
 * handler") that is no error here, as weft falls back at once and says
 * so itself. At UCX's usual levels (warn, its default, or error) the
 * level is raised to fatal for this one call; a user who asked UCX for
 * more (UCX_LOG_LEVEL=info, debug, ...) sees what it says. */
static ucs_status_t
ucx_ep_create_probe(weft_tl_t *tl, const ucp_ep_params_t *prm, ucp_ep_h *uep_p)
{
    char level[32];
    int quiet =
        ucs_global_opts_get_value("LOG_LEVEL", level, sizeof(level)) ==
            UCS_OK &&
        (strcasecmp(level, "warn") == 0 || strcasecmp(level, "error") == 0) &&
        ucs_global_opts_set_value("LOG_LEVEL", "fatal") == UCS_OK;
    ucs_status_t s = ucp_ep_create(tl->worker, prm, uep_p);

    if (quiet) {
        (void)ucs_global_opts_set_value("LOG_LEVEL", level);
    }
    return s;
}

weft_status_t
weft__ucx_ep_create(weft_tl_t *tl, const weft_tl_peer_t *peer,
                    weft_tl_ep_t **ep_p)
{
    const ucx_addr_hdr_t *hdr = peer->addr;
    ucp_ep_params_t prm = {0};
    weft_tl_ep_t *ep;
    ucs_status_t s;
    weft_status_t st;

    if (peer->rank < 0 || peer->rank >= tl->nranks || peer->rank == tl->rank) {
        weft__ucx_log(tl, WEFT_LOG_ERROR,
                      "ucx: no endpoint for rank %d (this is rank %d of %d)",
                      peer->rank, tl->rank, tl->nranks);
        return WEFT_ERR_INVALID_ARG;
    }
    if (peer->addr_len < sizeof(*hdr) || hdr->magic != UCX_ADDR_MAGIC ||
        hdr->rank != (uint32_t)peer->rank ||
        hdr->worker_len != peer->addr_len - sizeof(*hdr)) {
        weft__ucx_log(tl, WEFT_LOG_ERROR,
                      "ucx: the address rank %d published (%zu bytes) is "
                      "not a ucx worker address",
                      peer->rank, peer->addr_len);
        return WEFT_ERR_INVALID_ARG;
    }
    if (tl->eps[peer->rank] != NULL) {
        *ep_p = tl->eps[peer->rank];
        return WEFT_OK;
    }
    ep = calloc(1, sizeof(*ep));
    if (ep == NULL) {
        return WEFT_ERR_NO_MEMORY;
    }
    ep->tl = tl;
    ep->rank = peer->rank;
    ep->bye_op.complete = ucx_bye_complete;
    snprintf(ep->why, sizeof(ep->why), "open");
    ep->pidfd = -1;
    prm.field_mask = UCP_EP_PARAM_FIELD_REMOTE_ADDRESS |
                     UCP_EP_PARAM_FIELD_ERR_HANDLING_MODE |
                     UCP_EP_PARAM_FIELD_ERR_HANDLER;
    prm.address = (const ucp_address_t *)(const void *)(hdr + 1);
    prm.err_mode = UCP_ERR_HANDLING_MODE_PEER;
    prm.err_handler.cb = ucx_ep_err_cb;
    prm.err_handler.arg = ep;
    s = tl->local_mode_none && peer->same_node
            ? UCS_ERR_UNREACHABLE /* as for the first one */
        : peer->same_node ? ucx_ep_create_probe(tl, &prm, &ep->uep)
                          : ucp_ep_create(tl->worker, &prm, &ep->uep);
    if (s == UCS_ERR_UNREACHABLE && peer->same_node) {
        tl->local_mode_none = 1;
        /* UCX 1.13's shared-memory transports have no peer-failure
         * handling: on this node, weft watches the peer process itself */
        weft__ucx_log(tl, WEFT_LOG_DEBUG,
                      "ucx: rank %d: no transport with peer-failure "
                      "handling; using UCP_ERR_HANDLING_MODE_NONE and "
                      "watching its process (pid %u)",
                      peer->rank, hdr->pid);
        prm.err_mode = UCP_ERR_HANDLING_MODE_NONE;
        prm.field_mask &= ~(uint64_t)UCP_EP_PARAM_FIELD_ERR_HANDLER;
        ep->err_mode_none = 1;
        s = ucp_ep_create(tl->worker, &prm, &ep->uep);
    }
    if (s != UCS_OK) {
        weft__ucx_log(tl, WEFT_LOG_ERROR,
                      "ucx: ucp_ep_create for rank %d failed: %s", peer->rank,
                      ucs_status_string(s));
        free(ep);
        return weft__ucx_status(s) == WEFT_ERR_PEER_LOST ? WEFT_ERR_PEER_LOST
                                                         : WEFT_ERR_TRANSPORT;
    }
    tl->eps[peer->rank] = ep;
    if (peer->same_node) {
        ucx_ep_watch(ep, (int)hdr->pid);
    }
    /* the peer's goodbye, whenever it comes */
    st = weft__ucx_recv_raw(ep, weft__ucx_bye_tag(tl, ep->rank), &ep->bye_op);
    if (st != WEFT_OK) {
        weft__ucx_log(tl, WEFT_LOG_ERROR,
                      "ucx: cannot post the goodbye receive for rank %d "
                      "(status %d)",
                      ep->rank, (int)st);
        return st; /* the ep stays for fini */
    }
    *ep_p = ep;
    return WEFT_OK;
}

/* Close the UCX endpoint at once (the link is lost). */
static void
ucx_ep_close_force(weft_tl_ep_t *ep)
{
    ucp_request_param_t prm = {0};
    ucs_status_ptr_t p;

    if (ep->uep == NULL) {
        return;
    }
    prm.op_attr_mask = UCP_OP_ATTR_FIELD_FLAGS;
    prm.flags = UCP_EP_CLOSE_FLAG_FORCE;
    p = ucp_ep_close_nbx(ep->uep, &prm);
    if (UCS_PTR_IS_PTR(p)) {
        ucp_request_free(p); /* released when UCX is done with it */
    }
    ep->uep = NULL;
}

void
weft__ucx_ep_free(weft_tl_ep_t *ep)
{
    weft_tl_t *tl = ep->tl;

    while (ep->ops.head != NULL) {
        weft__ucx_detach(tl, ep->ops.head); /* abandoned: fini */
    }
    ucx_ep_close_force(ep);
    ucx_ep_unwatch(ep);
    free(ep);
}

void
weft__ucx_ep_bye(weft_tl_ep_t *ep, weft_status_t status)
{
    weft_tl_t *tl = ep->tl;

    if (status != WEFT_OK) {
        return;
    }
    ep->bye = 1;
    if (tl->closing) {
        return; /* what fini waits for (ucx_fini_await_byes) */
    }
    weft__ucx_log(tl, WEFT_LOG_DEBUG, "ucx: rank %d finished", ep->rank);
    /* it sends nothing more: receives UCX has not matched never will be
     * (those it has matched finish); the cancelled ones complete with
     * WEFT_ERR_PEER_LOST and are counted in ep->unmatched */
    for (weft_tl_op_t *op = ep->ops.head; op != NULL;) {
        ucx_op_t *o = weft__ucx_op(op);
        weft_tl_op_t *next = o->next;

        if (o->kind == UCX_OP_RECV && o->req != NULL) {
            ucp_request_cancel(tl->worker, o->req);
        }
        op = next;
    }
    weft__ucx_ep_attention(ep); /* report, if need be, from progress */
}

/* Fail everything pending on a lost peer; tell the host once. */
static void
ucx_ep_fail(weft_tl_ep_t *ep)
{
    weft_tl_t *tl = ep->tl;
    int lost = 0;

    ep->state = UCX_EP_FAILED;
    while (ep->ops.head != NULL) {
        weft_tl_op_t *op = ep->ops.head;
        ucx_op_t *o = weft__ucx_op(op);

        weft__ucx_detach(tl, op);
        if (op == &ep->bye_op) {
            continue;
        }
        lost += !WEFT_TL_TAG_IS_STANDING(o->tag) || o->kind == UCX_OP_SEND;
        o->status = WEFT_ERR_PEER_LOST;
        o->bytes = 0;
        o->where = UCX_IN_DONE;
        weft__ucx_list_push(&tl->done, op);
    }
    ucx_ep_close_force(ep);
    if (ep->reported) {
        return;
    }
    if (ep->bye && lost == 0 && ep->unmatched == 0) {
        weft__ucx_log(tl, WEFT_LOG_DEBUG,
                      "ucx: rank %d closed its link after its goodbye",
                      ep->rank);
        return;
    }
    ep->reported = 1;
    if (ep->bye) {
        snprintf(ep->why, sizeof(ep->why),
                 "rank %d finished with operations still pending", ep->rank);
    }
    weft__ucx_log(tl, WEFT_LOG_WARN, "ucx: rank %d lost: %s", ep->rank,
                  ep->why);
    tl->peer_failed(tl->host, ep->rank, WEFT_ERR_PEER_LOST, ep->why);
}

void
weft__ucx_ep_run_failures(weft_tl_t *tl)
{
    tl->failures = 0;
    for (int r = 0; r < tl->nranks; r++) {
        weft_tl_ep_t *ep = tl->eps[r];

        if (ep == NULL || !ep->fail_pending) {
            continue;
        }
        ep->fail_pending = 0;
        if (ep->state == UCX_EP_OPEN && ep->ucs_err != UCS_OK) {
            ucx_ep_fail(ep);
        } else if (ep->bye && ep->unmatched > 0 && !ep->reported) {
            ep->reported = 1;
            snprintf(ep->why, sizeof(ep->why),
                     "rank %d finished with operations still pending",
                     ep->rank);
            weft__ucx_log(tl, WEFT_LOG_WARN, "ucx: %s", ep->why);
            tl->peer_failed(tl->host, ep->rank, WEFT_ERR_PEER_LOST, ep->why);
        }
    }
}

void
weft__ucx_ep_lose(weft_tl_ep_t *ep, const char *fmt, ...)
{
    va_list ap;

    if (ep->state != UCX_EP_OPEN || ep->ucs_err != UCS_OK) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(ep->why, sizeof(ep->why), fmt, ap);
    va_end(ap);
    weft__ucx_log(ep->tl, WEFT_LOG_WARN, "ucx: %s", ep->why);
    ep->ucs_err = UCS_ERR_CANCELED;
    weft__ucx_ep_attention(ep);
    ucx_ep_close_force(ep); /* UCX fails the sends on it */
}
