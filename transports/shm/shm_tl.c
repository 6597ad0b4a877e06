/*
 * shm: the ops table, instance set-up and teardown, peers (attached at
 * routing time, so that a peer that cannot be mapped falls to the next
 * transport), progress, waiting and liveness. See shm.h for the design.
 */
#include "build_config.h"
#include "transports/shm/shm.h"

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>
#if defined(__linux__) && __has_include(<linux/membarrier.h>)
#include <linux/membarrier.h>
#define SHM_HAVE_MEMBARRIER 1
#endif

#include "clock.h"
#include "errmsg.h"
#include "log.h"
#include "topo.h"
#include "util.h"

#define SHM_EAGER_DEFAULT 8192u
#define SHM_RING_DEFAULT (128u * 1024)
#define SHM_RING_MIN_CELLS 256u
#define SHM_RING_MAX_CELLS (1u << 20)
#define SHM_FRAG_MAX (64u * 1024)
/* Liveness (peers' exits, wake-ups: an epoll_wait) is checked at most
 * every SHM_LIVENESS_PERIOD seconds, the clock read every
 * SHM_LIVENESS_EVERY progress calls: a system call on the spin path every
 * few microseconds cost a ping-pong a tenth of its time. */
#define SHM_LIVENESS_EVERY  64
#define SHM_LIVENESS_PERIOD 1e-3
#define SHM_STALE_AGE 600.0    /* seconds before a dead run's file goes */
#define SHM_BYE_WAIT 0.05      /* seconds to find room for a BYE */

static const char *
shm_cfg(const weft_tl_init_args_t *args, const char *name)
{
    const char *v = args->config_get ? args->config_get(args->host, name)
                                     : NULL;

    return v != NULL ? v : "";
}

static size_t
shm_cfg_size(const weft_tl_init_args_t *args, const char *name, size_t def)
{
    const char *text = shm_cfg(args, name);
    char *end;
    unsigned long long v;

    if (*text == '\0') {
        return def;
    }
    errno = 0;
    v = strtoull(text, &end, 10);
    return errno != 0 || *end != '\0' ? def : (size_t)v;
}

/* WEFT_SHM_COLL_BUF=0: where the node has more ranks than cores (each
 * rank sees the same), larger buffers, which allreduce fills (the other
 * collectives keep to 128 KiB: WEFT_SHMC_FIT_AUTO). There an allreduce
 * whose data does not fit is read from the peers' memory with system
 * calls and page pinning on the cores the ranks share, or piped through
 * the buffers in more hand-offs, each a round of the ranks taking turns
 * on the cores. Measured at 4 and 8 ranks on 2 cores against 128 KiB
 * buffers (both piping): 128 KiB 31 against 45 us and 61 against 77,
 * 512 KiB 92 against 159 and 227 against 281, and in slower runs 8 ranks
 * 711 against 980 at 512 KiB; 4 MiB buffers were no faster. Pages are
 * taken only as calls use them. */
static uint32_t
shm_coll_buf_auto(const weft_tl_init_args_t *args)
{
    return weft__topo_oversubscribed(args->nlocal) ? 1u << 20 : 128u << 10;
}

static void
shm_peer_failed_ignore(void *host, int peer, weft_status_t status,
                       const char *reason)
{
}

/* ---- peers ---------------------------------------------------------------- */

weft_tl_ep_t *
weft__shm_peer_find(weft_tl_t *tl, int rank)
{
    for (int i = 0; i < tl->nlocal; i++) {
        if (tl->local_ranks[i] == rank) {
            return tl->peers[i];
        }
    }
    return NULL;
}

static void
shm_peer_report(weft_tl_ep_t *peer)
{
    weft_tl_t *tl = peer->tl;

    if (!peer->reported) {
        peer->reported = 1;
        tl->peer_failed(tl->host, peer->rank, peer->failed, peer->why);
    }
}

void
weft__shm_peer_fail(weft_tl_ep_t *peer, weft_status_t status, const char *fmt,
                    ...)
{
    va_list ap;

    if (peer->failed != WEFT_OK) {
        return; /* the first cause wins */
    }
    peer->failed = status;
    va_start(ap, fmt);
    vsnprintf(peer->why, sizeof(peer->why), fmt, ap);
    va_end(ap);
    if (peer->tl->closing) {
        return; /* fini frees everything and completes nothing */
    }
    weft__log_debug(WEFT_SUB_TL, "shm: rank %d: %s", peer->rank, peer->why);
    weft__shm_rx_fail_all(peer, status, 1);
    weft__shm_tx_fail_all(peer, status);
    shm_peer_report(peer);
}

/* It said goodbye (or exited after saying it): what can no longer
 * complete fails; whole messages it sent can still be received. */
static void
shm_peer_finished(weft_tl_ep_t *peer)
{
    weft__log_debug(WEFT_SUB_TL, "shm: rank %d has finished", peer->rank);
    weft__shm_rx_fail_all(peer, WEFT_ERR_PEER_LOST, 0);
    weft__shm_tx_fail_all(peer, WEFT_ERR_PEER_LOST);
}

/* Peers that exited or said goodbye since the last sweep. */
static void
shm_peer_sweep(weft_tl_t *tl)
{
    tl->peer_news = 0;
    for (int i = 0; i < tl->nlocal; i++) {
        weft_tl_ep_t *peer = tl->peers[i];

        if (peer == NULL || !peer->attached || peer->failed != WEFT_OK ||
            (!peer->gone && !peer->bye) || peer->reported) {
            continue;
        }
        while (weft__shm_rx_pending(peer) && peer->failed == WEFT_OK) {
            weft__shm_rx_poll(peer); /* all it sent before leaving */
        }
        if (peer->failed != WEFT_OK) {
            continue;
        }
        if (peer->bye) {
            shm_peer_finished(peer);
            peer->reported = 1; /* an orderly exit is not a failure */
        } else {
            weft__shm_peer_fail(peer, WEFT_ERR_PEER_LOST,
                                "rank %d (pid %d) exited without saying "
                                "goodbye",
                                peer->rank, (int)peer->pid);
        }
    }
}

/* Wake-ups and peers' exits (the epoll set), or kill(pid, 0) where there
 * is no pidfd. */
static void
shm_check_events(weft_tl_t *tl)
{
    struct epoll_event evs[16];
    int n = epoll_wait(tl->epfd, evs, 16, 0);

    for (int i = 0; i < n; i++) {
        weft_tl_ep_t *peer = evs[i].data.ptr;

        if (peer == NULL) {
            char buf[64];

            while (recv(tl->wake_fd, buf, sizeof(buf), MSG_DONTWAIT) >= 0) {
            }
            continue;
        }
        epoll_ctl(tl->epfd, EPOLL_CTL_DEL, peer->pidfd, NULL);
        peer->gone = 1;
        tl->peer_news = 1;
    }
    for (int i = 0; i < tl->nlocal; i++) {
        weft_tl_ep_t *peer = tl->peers[i];

        if (peer != NULL && peer->attached && peer->pidfd < 0 &&
            !peer->gone && kill(peer->pid, 0) != 0 && errno == ESRCH) {
            peer->gone = 1;
            tl->peer_news = 1;
        }
    }
}

#ifdef SHM_HAVE_MEMBARRIER
static int
shm_membarrier(int cmd)
{
    return (int)syscall(SYS_membarrier, cmd, 0, 0);
}
#else
#define MEMBARRIER_CMD_GLOBAL_EXPEDITED 0
static int
shm_membarrier(int cmd)
{
    (void)cmd;
    errno = ENOSYS;
    return -1;
}
#endif

/* WEFT_SHM_WAKE: does this rank run membarrier(2) before it sleeps, so
 * that senders to it need no fence (weft__shm_wake)? It registers for
 * the command too, so that its peers' membarriers reach it. Said where
 * it was asked for and cannot be had. */
static void
shm_wake_mode(weft_tl_t *tl, const weft_tl_init_args_t *args)
{
    const char *mode = shm_cfg(args, "SHM_WAKE");
    int asked = strcmp(mode, "membarrier") == 0;
    const char *why = "refused by the kernel";
    int q = -1;

    if (strcmp(mode, "fence") == 0 ||
        (!asked && weft__topo_oversubscribed(tl->nlocal))) {
        return; /* a fence in every send */
    }
#ifdef SHM_HAVE_MEMBARRIER
    q = shm_membarrier(MEMBARRIER_CMD_QUERY);
    if (q >= 0 && !(q & MEMBARRIER_CMD_GLOBAL_EXPEDITED)) {
        why = "not offered by the kernel";
    } else if (q >= 0 &&
               shm_membarrier(MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED) == 0) {
        tl->sleep_barrier = 1;
        return;
    }
#else
    why = "not known to this build";
#endif
    weft__log(asked ? WEFT_LOG_WARN : WEFT_LOG_INFO, WEFT_SUB_TL,
              "shm: membarrier(2)'s global expedited command is %s: every "
              "send takes a fence (WEFT_SHM_WAKE=%s)",
              why, mode);
}

void
weft__shm_wake_sleeper(weft_tl_ep_t *peer)
{
    static const char one = 1;

    if (atomic_exchange(&peer->hdr->sleeping, 0)) {
        sendto(peer->tl->wake_fd, &one, 1, MSG_DONTWAIT,
               (struct sockaddr *)&peer->wake_addr, peer->wake_len);
    }
}

/* ---- set-up and teardown ------------------------------------------------ */

static weft_status_t
shm_wake_open(weft_tl_t *tl)
{
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    char hex[25];
    socklen_t len;

    tl->epfd = epoll_create1(EPOLL_CLOEXEC);
    tl->wake_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (tl->epfd < 0 || tl->wake_fd < 0) {
        return weft__error(WEFT_ERR_SYSTEM, WEFT_SUB_TL,
                           "shm: cannot create its wake-up socket: %m");
    }
    weft__hex_encode(tl->hdr->token, 12, hex);
    snprintf(a.sun_path + 1, sizeof(a.sun_path) - 1, "weft-shm-%s", hex);
    len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 +
                      strlen(a.sun_path + 1));
    if (bind(tl->wake_fd, (struct sockaddr *)&a, len) != 0 ||
        epoll_ctl(tl->epfd, EPOLL_CTL_ADD, tl->wake_fd, &ev) != 0) {
        return weft__error(WEFT_ERR_SYSTEM, WEFT_SUB_TL,
                           "shm: cannot bind its wake-up socket: %m");
    }
    return WEFT_OK;
}

static void shm_fini(weft_tl_t *tl);

static weft_status_t
shm_config(weft_tl_t *tl, const weft_tl_init_args_t *args)
{
    size_t ring = shm_cfg_size(args, "SHM_RING_SIZE", SHM_RING_DEFAULT);
    uint32_t cells = SHM_RING_MIN_CELLS;

    while (cells < SHM_RING_MAX_CELLS && (size_t)cells * 2 * SHM_CELL <= ring) {
        cells *= 2;
    }
    tl->ring_cells = cells;
    tl->eager_limit = shm_cfg_size(args, "SHM_EAGER_LIMIT", SHM_EAGER_DEFAULT);
    if (tl->eager_limit > (size_t)cells * SHM_CELL / 4 - SHM_CELL_HDR) {
        tl->eager_limit = (size_t)cells * SHM_CELL / 4 - SHM_CELL_HDR;
    }
    tl->frag = (size_t)cells * SHM_CELL / 4 - SHM_DATA_OFF;
    if (tl->frag > SHM_FRAG_MAX) {
        tl->frag = SHM_FRAG_MAX;
    }
    tl->coll_slots = (uint32_t)shm_cfg_size(args, "SHM_COLL_SLOTS", 16);
    if (tl->coll_slots > SHM_COLL_SLOTS_MAX) {
        tl->coll_slots = SHM_COLL_SLOTS_MAX;
    }
    tl->coll_buf = (uint32_t)shm_cfg_size(args, "SHM_COLL_BUF", 0);
    if (tl->coll_buf == 0) {
        tl->coll_buf = shm_coll_buf_auto(args);
    }
    tl->coll_buf = (tl->coll_buf + SHM_CELL - 1) & ~(uint32_t)(SHM_CELL - 1);
    tl->cma_mode = strcmp(shm_cfg(args, "SHM_CMA"), "off") != 0;
    tl->mode = strcmp(shm_cfg(args, "SHM_SEGMENT"), "file") == 0
                   ? SHM_MODE_FILE
                   : SHM_MODE_MEMFD;
    weft__strlcpy(tl->dir, shm_cfg(args, "SHM_DIR"), sizeof(tl->dir));
    if (tl->dir[0] == '\0') {
        weft__strlcpy(tl->dir, "/dev/shm", sizeof(tl->dir));
    }
    return WEFT_OK;
}

static weft_status_t
shm_init(const weft_tl_init_args_t *args, weft_tl_t **tl_p)
{
    weft_tl_t *tl;
    weft_status_t st;

    if (args->size < offsetof(weft_tl_init_args_t, local_index) +
                         sizeof(int) ||
        args->local_ranks == NULL || args->nlocal < 1) {
        return weft__error(WEFT_ERR_UNSUPPORTED, WEFT_SUB_TL,
                           "shm: the core did not say which ranks share "
                           "this node");
    }
    tl = calloc(1, sizeof(*tl));
    if (tl == NULL) {
        return WEFT_ERR_NO_MEMORY;
    }
    tl->seg_fd = tl->epfd = tl->wake_fd = -1;
    tl->rank = args->rank;
    tl->nranks = args->nranks;
    tl->nlocal = args->nlocal;
    tl->lidx = args->local_index;
    tl->host = args->host;
    tl->peer_failed = args->peer_failed ? args->peer_failed
                                        : shm_peer_failed_ignore;
    tl->teardown_timeout = args->teardown_timeout_s;
    memcpy(tl->key, args->auth_key,
           args->auth_key_len < sizeof(tl->key) ? args->auth_key_len
                                                : sizeof(tl->key));
    tl->local_ranks = calloc((size_t)tl->nlocal, sizeof(int));
    tl->peers = calloc((size_t)tl->nlocal, sizeof(*tl->peers));
    if (tl->local_ranks == NULL || tl->peers == NULL) {
        st = WEFT_ERR_NO_MEMORY;
        goto fail;
    }
    memcpy(tl->local_ranks, args->local_ranks,
           (size_t)tl->nlocal * sizeof(int));
    WEFT_CHECK_GOTO(shm_config(tl, args), st, fail);
    if (tl->nlocal == 1) {
        *tl_p = tl; /* nobody to reach: reachable() says no */
        return WEFT_OK;
    }
    if (tl->mode == SHM_MODE_FILE && tl->lidx == 0) {
        weft__shm_clean_stale(tl->dir, SHM_STALE_AGE);
    }
    shm_wake_mode(tl, args);
    WEFT_CHECK_GOTO(weft__shm_seg_create(tl), st, fail);
    WEFT_CHECK_GOTO(shm_wake_open(tl), st, fail);
    if (tl->cma_mode) {
        /* under Yama ptrace_scope 1 only a tracer we name may read us;
         * peers of the same user may (elsewhere this changes nothing) */
        prctl(PR_SET_PTRACER, PR_SET_PTRACER_ANY, 0, 0, 0);
    }
    for (int i = 0; i < tl->nlocal; i++) {
        weft_tl_ep_t *peer;

        if (i == tl->lidx) {
            continue;
        }
        peer = calloc(1, sizeof(*peer));
        if (peer == NULL) {
            st = WEFT_ERR_NO_MEMORY;
            goto fail;
        }
        peer->tl = tl;
        peer->rank = tl->local_ranks[i];
        peer->lidx = i;
        peer->pidfd = -1;
        weft__match_queue_init(&peer->mq);
        tl->peers[i] = peer;
    }
    *tl_p = tl;
    return WEFT_OK;

fail:
    shm_fini(tl);
    return st;
}

static void
shm_peer_free(weft_tl_ep_t *peer)
{
    weft__match_entry_t *e;

    while ((e = weft__match_pop_unexp(&peer->mq)) != NULL) {
        free(weft__container_of(e, shm_msg_t, entry));
    }
    weft__shm_tx_free_ctrl(peer);
    weft__shm_seg_detach(peer);
    free(peer);
}

/* Say goodbye to every peer still there, giving a full ring a moment. */
static void
shm_say_bye(weft_tl_t *tl)
{
    double give_up = -1;

    for (int i = 0; i < tl->nlocal; i++) {
        weft_tl_ep_t *peer = tl->peers[i];

        if (peer == NULL || !peer->attached || peer->gone ||
            peer->failed != WEFT_OK) {
            continue;
        }
        while (!weft__shm_tx_bye(peer)) {
            double now = weft__now();

            if (give_up < 0) {
                give_up = now + SHM_BYE_WAIT;
            }
            if (now >= give_up || kill(peer->pid, 0) != 0) {
                break;
            }
            sched_yield();
        }
    }
}

static void
shm_fini(weft_tl_t *tl)
{
    tl->closing = 1;
    if (tl->peers != NULL && tl->hdr != NULL) {
        /* a peer still starting may not have mapped us yet */
        weft__shm_seg_wait_mapped(tl, weft__now() + tl->teardown_timeout);
        shm_say_bye(tl);
    }
    if (tl->peers != NULL) {
        for (int i = 0; i < tl->nlocal; i++) {
            if (tl->peers[i] != NULL) {
                shm_peer_free(tl->peers[i]);
            }
        }
    }
    weft__shm_seg_destroy(tl);
    if (tl->wake_fd >= 0) {
        close(tl->wake_fd);
    }
    if (tl->epfd >= 0) {
        close(tl->epfd);
    }
    weft__memzero(tl->key, sizeof(tl->key));
    free(tl->peers);
    free(tl->local_ranks);
    free(tl);
}

static weft_status_t
shm_address(weft_tl_t *tl, void *buf, size_t *len_p)
{
    shm_addr_t a;

    if (tl->seg == NULL) {
        *len_p = 0;
        return WEFT_OK;
    }
    if (*len_p < sizeof(a)) {
        return WEFT_ERR_INVALID_ARG;
    }
    weft__shm_addr_pack(tl, &a);
    memcpy(buf, &a, sizeof(a));
    *len_p = sizeof(a);
    return WEFT_OK;
}

static int
shm_reachable(weft_tl_t *tl, const weft_tl_peer_t *info)
{
    weft_tl_ep_t *peer;
    shm_addr_t a;
    char why[192];

    if (!info->same_node || tl->seg == NULL) {
        return 0;
    }
    peer = weft__shm_peer_find(tl, info->rank);
    if (peer == NULL || peer->refused) {
        return 0;
    }
    if (peer->attached) {
        return 1;
    }
    if (weft__shm_addr_unpack(info->addr, info->addr_len, &a, why,
                              sizeof(why)) != 0 ||
        weft__shm_seg_attach(tl, peer, &a, why, sizeof(why)) != 0) {
        weft__log_info(WEFT_SUB_TL,
                       "shm: rank %d shares this node but is not reachable "
                       "through shared memory: %s",
                       info->rank, why);
        peer->refused = 1;
        return 0;
    }
    weft__log_debug(WEFT_SUB_TL, "shm: rank %d attached (%s copy for large "
                                 "messages)",
                    info->rank, peer->cma ? "single" : "double");
    return 1;
}

static weft_status_t
shm_ep_create(weft_tl_t *tl, const weft_tl_peer_t *info, weft_tl_ep_t **ep_p)
{
    if (!shm_reachable(tl, info)) {
        return weft__error(WEFT_ERR_UNSUPPORTED, WEFT_SUB_TL,
                           "shm: rank %d cannot be reached through shared "
                           "memory",
                           info->rank);
    }
    *ep_p = weft__shm_peer_find(tl, info->rank);
    return WEFT_OK;
}

static void
shm_ep_destroy(weft_tl_ep_t *ep)
{
    /* peers live as long as the instance: fini frees them */
}

static weft_status_t
shm_isend(weft_tl_ep_t *ep, const void *buf, size_t len, uint64_t tag,
          weft_tl_op_t *op)
{
    if (ep->failed != WEFT_OK) {
        return ep->failed;
    }
    if (ep->bye || ep->gone) {
        return WEFT_ERR_PEER_LOST;
    }
    return weft__shm_tx_send(ep, buf, len, tag, op);
}

static weft_status_t
shm_inject(weft_tl_ep_t *ep, const void *buf, size_t len, uint64_t tag)
{
    if (ep->failed != WEFT_OK || ep->bye || ep->gone) {
        return WEFT_INPROGRESS; /* isend says why */
    }
    return weft__shm_tx_inject(ep, buf, len, tag);
}

static weft_status_t
shm_irecv(weft_tl_ep_t *ep, void *buf, size_t len, uint64_t tag,
          weft_tl_op_t *op)
{
    return weft__shm_rx_post(ep, buf, len, tag, op);
}

static unsigned
shm_progress(weft_tl_t *tl)
{
    unsigned n = 0;

    if (tl->seg == NULL) {
        return 0;
    }
    tl->in_progress = 1;
    if (++tl->calls % SHM_LIVENESS_EVERY == 0) {
        double now = weft__now();

        if (now >= tl->liveness_next) {
            tl->liveness_next = now + SHM_LIVENESS_PERIOD;
            shm_check_events(tl);
        }
    }
    for (int i = 0; i < tl->nlocal; i++) {
        weft_tl_ep_t *peer = tl->peers[i];

        if (peer == NULL || !peer->attached || peer->failed != WEFT_OK) {
            continue;
        }
        n += weft__shm_rx_poll(peer);
        if (peer->rx_active != NULL) {
            n += weft__shm_rx_advance(peer);
        }
        if (peer->txq_head != NULL) {
            weft__shm_tx_flush(peer);
        }
    }
    if (tl->peer_news) {
        shm_peer_sweep(tl);
    }
    tl->in_progress = 0;
    return n;
}

static int
shm_wait_fd(weft_tl_t *tl)
{
    return tl->epfd;
}

static int
shm_wait_arm(weft_tl_t *tl, int arm)
{
    if (tl->seg == NULL) {
        return 0;
    }
    if (!arm) {
        if (tl->armed) {
            atomic_store_explicit(&tl->hdr->sleeping, 0,
                                  memory_order_relaxed);
            tl->armed = 0;
            shm_check_events(tl); /* wake-ups, peers' exits */
        }
        return 0;
    }
    atomic_store_explicit(&tl->hdr->sleeping, 1, memory_order_relaxed);
    tl->armed = 1;
    /* pairs with weft__shm_wake: either the waker sees the flag, or the
     * progress call that follows sees its message */
    if (!tl->sleep_barrier) {
        atomic_thread_fence(memory_order_seq_cst);
    } else if (shm_membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED) != 0) {
        return 1; /* the senders skip their fence: this rank cannot sleep */
    }
    for (int i = 0; i < tl->nlocal; i++) {
        weft_tl_ep_t *peer = tl->peers[i];

        if (peer == NULL || !peer->attached || peer->failed != WEFT_OK) {
            continue;
        }
        /* a full ring (txq) needs no poll: its consumer wakes us */
        if (weft__shm_rx_pending(peer) || peer->rx_active != NULL) {
            return 1;
        }
    }
    return tl->peer_news;
}

static void
shm_cancel(weft_tl_ep_t *ep, weft_tl_op_t *op)
{
    shm_op_t *o = weft__shm_op(op);

    switch (o->state) {
    case SHM_OP_SEND_QUEUED:
    case SHM_OP_SEND_RTS:
    case SHM_OP_SEND_DATA:
        weft__shm_tx_cancel(ep, op);
        break;
    case SHM_OP_RECV_POSTED:
    case SHM_OP_RECV_CMA:
    case SHM_OP_RECV_DATA:
        weft__shm_rx_cancel(ep, op);
        break;
    default:
        break;
    }
}

const weft_tl_ops_t weft__tl_shm = {
    .abi_version = WEFT_TL_ABI_VERSION,
    .size = sizeof(weft_tl_ops_t),
    .name = "shm",
    .caps = WEFT_TL_CAP_HOST_MEM,
    .init = shm_init,
    .fini = shm_fini,
    .address = shm_address,
    .reachable = shm_reachable,
    .ep_create = shm_ep_create,
    .ep_destroy = shm_ep_destroy,
    .isend = shm_isend,
    .inject = shm_inject,
    .irecv = shm_irecv,
    .progress = shm_progress,
    .wait_fd = shm_wait_fd,
    .cancel = shm_cancel,
    .wait_arm = shm_wait_arm,
};
