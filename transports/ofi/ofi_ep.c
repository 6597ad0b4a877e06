/*
 * ofi transport: peers. The peer's address goes into the AV and our hello
 * goes to it (see ofi.h): the link is made when the core asks for it or
 * when the peer's hello comes, whichever is first; a peer on this node is
 * watched through a pidfd. A peer that is lost fails what is
 * pending to it and is reported once; one that said goodbye fails only
 * what can no longer complete, and is reported only when something other
 * than a standing receive was still pending.
 */
#include "ofi.h"

#include <errno.h>
#include <rdma/fi_errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <unistd.h>

int
weft__ofi_addr_parse(const void *addr, size_t len, ofi_addr_hdr_t *hdr,
                     const uint8_t **name_p)
{
    if (addr == NULL || len < sizeof(*hdr)) {
        return 0;
    }
    memcpy(hdr, addr, sizeof(*hdr));
    if (hdr->magic != OFI_ADDR_MAGIC || hdr->name_len == 0 ||
        hdr->name_len > OFI_NAME_MAX || sizeof(*hdr) + hdr->name_len != len ||
        memchr(hdr->prov, '\0', sizeof(hdr->prov)) == NULL) {
        return 0;
    }
    *name_p = (const uint8_t *)addr + sizeof(*hdr);
    return 1;
}

static void
ofi_ep_watch(weft_tl_ep_t *ep, pid_t pid)
{
    weft_tl_t *tl = ep->tl;
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = ep};

    ep->pid = pid;
#ifdef SYS_pidfd_open
    ep->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
#endif
    if (ep->pidfd >= 0 && (tl->epfd < 0 || epoll_ctl(tl->epfd, EPOLL_CTL_ADD,
                                                     ep->pidfd, &ev) != 0)) {
        close(ep->pidfd);
        ep->pidfd = -1; /* kill(pid, 0) then */
    }
}

/* A new link to rank: its name into the AV, then our hello to it. */
static weft_status_t
ofi_ep_open(weft_tl_t *tl, int rank, const ofi_addr_hdr_t *h,
            const uint8_t *name, int same_node, weft_tl_ep_t **ep_p)
{
    weft_tl_ep_t *ep = calloc(1, sizeof(*ep));
    int rc;

    if (ep == NULL) {
        return WEFT_ERR_NO_MEMORY;
    }
    ep->tl = tl;
    ep->rank = rank;
    ep->pidfd = -1;
    rc = fi_av_insert(tl->av, name, 1, &ep->addr, 0, NULL);
    if (rc != 1) {
        OFI_LOG(tl, WEFT_LOG_ERROR,
                "ofi: fi_av_insert of rank %d's address failed on provider "
                "%s: %s",
                rank, tl->prov, fi_strerror(rc < 0 ? -rc : FI_EINVAL));
        free(ep);
        return WEFT_ERR_SYSTEM;
    }
    memcpy(ep->name, name, h->name_len);
    ep->name_len = h->name_len;
    if (same_node && h->pid > 0) {
        ofi_ep_watch(ep, (pid_t)h->pid);
    }
    tl->peers[rank] = ep;
    weft__ofi_hello_send(ep);
    *ep_p = ep;
    return WEFT_OK;
}

static int
ofi_ep_same_name(const weft_tl_ep_t *ep, const ofi_addr_hdr_t *h,
                 const uint8_t *name)
{
    return ep->name_len == h->name_len &&
           memcmp(ep->name, name, h->name_len) == 0;
}

weft_status_t
weft__ofi_ep_create(weft_tl_t *tl, const weft_tl_peer_t *peer,
                    weft_tl_ep_t **ep_p)
{
    ofi_addr_hdr_t h;
    const uint8_t *name;
    weft_tl_ep_t *ep;

    if (peer->rank < 0 || peer->rank >= tl->nranks || peer->rank == tl->rank ||
        !weft__ofi_addr_parse(peer->addr, peer->addr_len, &h, &name)) {
        OFI_LOG(tl, WEFT_LOG_ERROR,
                "ofi: no endpoint for rank %d: its address is not an ofi "
                "address of a peer",
                peer->rank);
        return WEFT_ERR_INVALID_ARG;
    }
    ep = tl->peers[peer->rank];
    if (ep == NULL) {
        return ofi_ep_open(tl, peer->rank, &h, name, peer->same_node, ep_p);
    }
    /* made already, perhaps from its hello */
    if (!ofi_ep_same_name(ep, &h, name)) {
        OFI_LOG(tl, WEFT_LOG_ERROR,
                "ofi: no endpoint for rank %d: its address is not the one "
                "its hello carried",
                peer->rank);
        return WEFT_ERR_INVALID_ARG;
    }
    if (peer->same_node && h.pid > 0 && ep->pid == 0) {
        ofi_ep_watch(ep, (pid_t)h.pid);
    }
    *ep_p = ep;
    return WEFT_OK;
}

/* Rank's hello: it has us in its AV, so what we send it now is known to
 * come from us. Without a link to it yet, we make one from the address
 * the hello carries (it sends nothing tagged before our hello answers). */
void
weft__ofi_ep_hello(weft_tl_t *tl, int rank, const void *addr, size_t len)
{
    weft_tl_ep_t *ep = tl->peers[rank];
    ofi_addr_hdr_t h;
    const uint8_t *name;

    if (!weft__ofi_addr_parse(addr, len, &h, &name) ||
        strncmp(h.prov, tl->prov, sizeof(h.prov)) != 0 ||
        (ep != NULL && !ofi_ep_same_name(ep, &h, name))) {
        OFI_LOG(tl, WEFT_LOG_WARN,
                "ofi: dropped a hello from rank %d: it carries no address "
                "of that rank on provider %s",
                rank, tl->prov);
        return;
    }
    if (ep == NULL &&
        ofi_ep_open(tl, rank, &h, name, tl->node_local, &ep) != WEFT_OK) {
        return; /* logged; its sends never match here, its receives wait */
    }
    if (!ep->ready) {
        ep->ready = 1;
        tl->ready_news = 1;
        OFI_LOG(tl, WEFT_LOG_DEBUG, "ofi: rank %d has said hello", rank);
    }
}

/* Everything still pending to ep ends with status (see
 * weft__ofi_withdraw for gentle); returns how many ops other than
 * standing receives were pending. */
static unsigned
ofi_ep_fail_pending(weft_tl_ep_t *ep, weft_status_t status, int gentle)
{
    weft__ofi_req_t *req = ep->pending;
    unsigned failed = 0;

    while (req != NULL) {
        weft__ofi_req_t *next = req->next;
        int standing =
            req->kind == OFI_REQ_RECV && WEFT_TL_TAG_IS_STANDING(req->tag);

        if (weft__ofi_withdraw(req, status, gentle) && !standing) {
            failed++;
        }
        req = next;
    }
    return failed;
}

void
weft__ofi_ep_destroy(weft_tl_ep_t *ep)
{
    weft_tl_t *tl = ep->tl;

    if (ep->pending != NULL) {
        int closing = tl->closing;

        tl->closing = 1; /* withdrawn ops are not completed */
        ofi_ep_fail_pending(ep, WEFT_ERR_PEER_LOST, 0);
        tl->closing = closing;
    }
    if (ep->pidfd >= 0) {
        close(ep->pidfd);
    }
    if (tl->av != NULL && !tl->closing) {
        fi_av_remove(tl->av, &ep->addr, 1, 0);
    }
    free(ep);
}

void
weft__ofi_ep_fail(weft_tl_ep_t *ep, weft_status_t status, const char *fmt, ...)
{
    weft_tl_t *tl = ep->tl;
    va_list ap;

    if (ep->failed != WEFT_OK) {
        return; /* the first cause wins */
    }
    ep->failed = status;
    va_start(ap, fmt);
    vsnprintf(ep->why, sizeof(ep->why), fmt, ap);
    va_end(ap);
    if (tl->closing) {
        return;
    }
    OFI_LOG(tl, WEFT_LOG_WARN, "ofi: rank %d: %s", ep->rank, ep->why);
    ofi_ep_fail_pending(ep, status, 0);
    if (!ep->reported) {
        ep->reported = 1;
        tl->peer_failed(tl->host, ep->rank, status, ep->why);
    }
}

/* It said goodbye: it sends nothing more and receives nothing more. What
 * it sent before is in the provider (send order): receives that match it
 * still complete (they are cancelled, and a cancel that comes too late
 * means they matched). */
static void
ofi_ep_finished(weft_tl_ep_t *ep)
{
    weft_tl_t *tl = ep->tl;
    unsigned failed;

    failed = ofi_ep_fail_pending(ep, WEFT_ERR_PEER_LOST, 1);
    ep->reported = 1;
    if (failed > 0) {
        snprintf(ep->why, sizeof(ep->why),
                 "rank %d finished with operations still pending", ep->rank);
        OFI_LOG(tl, WEFT_LOG_WARN, "ofi: %s", ep->why);
        tl->peer_failed(tl->host, ep->rank, WEFT_ERR_PEER_LOST, ep->why);
    } else {
        OFI_LOG(tl, WEFT_LOG_DEBUG, "ofi: rank %d has finished", ep->rank);
    }
}

/* Peers that exited or said goodbye since the last sweep; the number of
 * peers whose end was settled. A peer whose process is gone but whose
 * goodbye has not come yet is read on for OFI_EXIT_DRAIN_S: the goodbye
 * comes after everything it sent, and over a connection that can be many
 * messages that the provider holds back until receives are posted (a
 * slow rank, oversubscribed, was still posting them). Past that it is
 * lost. Until then each progress, which reads the CQ first, sweeps
 * again. */
unsigned
weft__ofi_ep_sweep(weft_tl_t *tl)
{
    unsigned settled = 0;
    double now = weft__ofi_now();

    tl->peer_news = 0;
    for (int r = 0; r < tl->nranks; r++) {
        weft_tl_ep_t *ep = tl->peers[r];

        if (ep == NULL || ep->failed != WEFT_OK || ep->reported ||
            (!ep->bye && !ep->exited)) {
            continue;
        }
        if (ep->bye) {
            ofi_ep_finished(ep);
            settled++;
        } else if (now < ep->exited_at + OFI_EXIT_DRAIN_S) {
            tl->peer_news = 1; /* look again */
        } else {
            weft__ofi_ep_fail(ep, WEFT_ERR_PEER_LOST,
                              "rank %d (pid %d) exited without saying "
                              "goodbye (none came within %.1f s)",
                              ep->rank, (int)ep->pid, OFI_EXIT_DRAIN_S);
            settled++;
        }
    }
    return settled;
}

/* Peers' exits: the pidfds in the epoll set (which also holds the CQ's
 * fd), or kill(pid, 0) where there is no pidfd. At most every
 * OFI_LIVENESS_S unless forced. */
void
weft__ofi_liveness(weft_tl_t *tl, int force)
{
    struct epoll_event evs[16];
    double now = weft__ofi_now();
    int n;

    if (!force && now < tl->next_liveness) {
        return;
    }
    tl->next_liveness = now + OFI_LIVENESS_S;
    n = tl->epfd >= 0 ? epoll_wait(tl->epfd, evs, 16, 0) : 0;
    for (int i = 0; i < n; i++) {
        weft_tl_ep_t *ep = evs[i].data.ptr;

        if (ep == NULL) {
            continue; /* the CQ: read by progress anyway */
        }
        epoll_ctl(tl->epfd, EPOLL_CTL_DEL, ep->pidfd, NULL);
        ep->exited = 1;
        ep->exited_at = now;
        tl->peer_news = 1;
    }
    for (int r = 0; r < tl->nranks; r++) {
        weft_tl_ep_t *ep = tl->peers[r];

        if (ep != NULL && ep->pid > 0 && ep->pidfd < 0 && !ep->exited &&
            kill(ep->pid, 0) != 0 && errno == ESRCH) {
            ep->exited = 1;
            ep->exited_at = now;
            tl->peer_news = 1;
        }
    }
}
