/*
 * ofi transport: the ops table, opening the provider (fi_getinfo, fabric,
 * domain, AV, CQ, endpoint), the address blob, teardown.
 */
#include "ofi.h"

#include <errno.h>
#include <rdma/fi_cm.h>
#include <rdma/fi_errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

double
weft__ofi_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static const char *
ofi_config(const weft_tl_init_args_t *args, const char *name, char *buf,
           size_t size)
{
    const char *v =
        args->config_get != NULL ? args->config_get(args->host, name) : NULL;

    snprintf(buf, size, "%s", v != NULL ? v : "");
    return buf;
}

/* What we ask of a provider: reliable datagrams with tags and untagged
 * messages, receives from a chosen peer, send order kept. */
/* Providers whose posts of several buffers were measured faster than
 * one copied buffer, for the collectives' first messages (a descriptor
 * head in front of up to 64 KiB): shm, 2-rank allreduce 64 KiB 26.5 ->
 * 16.2 us. tcp;ofi_rxm was slower (16 KiB 100 -> 125 us: its send of
 * two buffers), so it, and any provider not measured, takes the copy. */
static const char *const ofi_split_providers[] = {"shm"};

/* Providers whose large messages to one peer go best one at a time
 * (WEFT_TL_HINT_ONE_LARGE): rxm over tcp, where a rendezvous handshake
 * shares the connection with the data before it. Node-aware allreduce
 * between 2 namespaced hosts over a 1 Gbit/s tbf link, 16 MiB: 161-168
 * ms with the leaders' segments two at a time, 150-156 one at a time. */
static const char *const ofi_one_large_providers[] = {"tcp;ofi_rxm"};

static int
ofi_split_ok(const struct fi_info *info, int mr_local)
{
    /* a receive adds the sink after head and body */
    if (mr_local || info->tx_attr->iov_limit < 2 ||
        info->rx_attr->iov_limit < 3) {
        return 0;
    }
    for (size_t i = 0;
         i < sizeof(ofi_split_providers) / sizeof(ofi_split_providers[0]);
         i++) {
        if (strcmp(info->fabric_attr->prov_name, ofi_split_providers[i]) == 0) {
            return 1;
        }
    }
    return 0;
}

static struct fi_info *
ofi_hints(const char *prov)
{
    struct fi_info *h = fi_allocinfo();

    if (h == NULL) {
        return NULL;
    }
    h->caps = FI_TAGGED | FI_MSG | FI_DIRECTED_RECV;
    h->mode = FI_CONTEXT | FI_CONTEXT2;
    h->ep_attr->type = FI_EP_RDM;
    h->tx_attr->msg_order = FI_ORDER_SAS;
    h->rx_attr->msg_order = FI_ORDER_SAS;
    h->domain_attr->mr_mode = FI_MR_LOCAL | FI_MR_ALLOCATED | FI_MR_PROV_KEY |
                              FI_MR_VIRT_ADDR | FI_MR_ENDPOINT;
    h->domain_attr->threading = FI_THREAD_DOMAIN;
    if (prov[0] != '\0') {
        h->fabric_attr->prov_name = strdup(prov);
    }
    return h;
}

/* The providers that offer RDM with tags at all, for the error message. */
static void
ofi_list_providers(char *out, size_t size)
{
    struct fi_info *h = ofi_hints(""), *list = NULL;
    size_t off = 0;

    out[0] = '\0';
    if (h == NULL || fi_getinfo(OFI_FI_VERSION, NULL, NULL, 0, h, &list) != 0) {
        snprintf(out, size, "none");
        fi_freeinfo(h);
        return;
    }
    for (struct fi_info *i = list; i != NULL && off + 1 < size; i = i->next) {
        const char *name = i->fabric_attr->prov_name;

        if (strstr(out, name) != NULL) {
            continue;
        }
        off += (size_t)snprintf(out + off, size - off, "%s%s",
                                off > 0 ? ", " : "", name);
    }
    fi_freeinfo(list);
    fi_freeinfo(h);
}

static weft_status_t
ofi_getinfo(weft_tl_t *tl, const char *prov)
{
    struct fi_info *h = ofi_hints(prov);
    int rc;

    if (h == NULL) {
        OFI_LOG(tl, WEFT_LOG_ERROR, "ofi: out of memory for fi_getinfo hints");
        return WEFT_ERR_NO_MEMORY;
    }
    rc = fi_getinfo(OFI_FI_VERSION, NULL, NULL, 0, h, &tl->info);
    fi_freeinfo(h);
    if (rc != 0) {
        char have[256];

        ofi_list_providers(have, sizeof(have));
        OFI_LOG(tl, WEFT_LOG_WARN,
                "ofi: no libfabric provider %s%s%soffers reliable tagged "
                "messages (fi_getinfo: %s); providers with FI_EP_RDM and "
                "FI_TAGGED here: %s (set WEFT_OFI_PROVIDER or FI_PROVIDER)",
                prov[0] ? "named '" : "", prov, prov[0] ? "' " : "",
                fi_strerror(-rc), have);
        return WEFT_ERR_UNSUPPORTED;
    }
    return WEFT_OK;
}

static weft_status_t
ofi_fail(weft_tl_t *tl, const char *what, int rc)
{
    OFI_LOG(tl, WEFT_LOG_WARN, "ofi: %s failed on provider %s: %s", what,
            tl->prov, fi_strerror(rc < 0 ? -rc : rc));
    return WEFT_ERR_SYSTEM;
}

/* The CQ's wait object as a file descriptor, when the provider has one;
 * the host blocks on an epoll set holding it and the peers' pidfds. */
static void
ofi_wait_open(weft_tl_t *tl)
{
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    int fd = -1;

    tl->cq_fd = -1;
    tl->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (tl->epfd < 0) {
        return;
    }
    if (fi_control(&tl->cq->fid, FI_GETWAIT, &fd) == 0 && fd >= 0 &&
        epoll_ctl(tl->epfd, EPOLL_CTL_ADD, fd, &ev) == 0) {
        tl->cq_fd = fd;
        tl->wait_is_fd = 1;
    }
}

static weft_status_t
ofi_open(weft_tl_t *tl)
{
    struct fi_info *info = tl->info;
    struct fi_av_attr av_attr = {.type = FI_AV_MAP};
    struct fi_cq_attr cq_attr = {.format = FI_CQ_FORMAT_TAGGED,
                                 .wait_obj = FI_WAIT_FD};
    int rc;

    snprintf(tl->prov, sizeof(tl->prov), "%s", info->fabric_attr->prov_name);
    tl->node_local =
        strcmp(tl->prov, "shm") == 0 || strcmp(tl->prov, "sm2") == 0;
    tl->inject_size = info->tx_attr->inject_size;
    tl->max_msg = info->ep_attr->max_msg_size;
    tl->mr_local = (info->domain_attr->mr_mode & FI_MR_LOCAL) != 0 ||
                   (info->mode & FI_LOCAL_MR) != 0;
    tl->mr_endpoint = (info->domain_attr->mr_mode & FI_MR_ENDPOINT) != 0;
    tl->split = ofi_split_ok(info, tl->mr_local);
    for (size_t i = 0; i < sizeof(ofi_one_large_providers) /
                               sizeof(ofi_one_large_providers[0]);
         i++) {
        if (strcmp(tl->prov, ofi_one_large_providers[i]) == 0) {
            tl->one_large = 1;
        }
    }
    tl->mr_prov_key = (info->domain_attr->mr_mode & FI_MR_PROV_KEY) != 0;
    if ((rc = fi_fabric(info->fabric_attr, &tl->fabric, NULL)) != 0) {
        return ofi_fail(tl, "fi_fabric", rc);
    }
    if ((rc = fi_domain(tl->fabric, info, &tl->domain, NULL)) != 0) {
        return ofi_fail(tl, "fi_domain", rc);
    }
    if ((rc = fi_av_open(tl->domain, &av_attr, &tl->av, NULL)) != 0) {
        return ofi_fail(tl, "fi_av_open", rc);
    }
    rc = fi_cq_open(tl->domain, &cq_attr, &tl->cq, NULL);
    if (rc == -FI_ENOSYS || rc == -FI_EINVAL || rc == -FI_EOPNOTSUPP) {
        cq_attr.wait_obj = FI_WAIT_NONE; /* the host polls */
        rc = fi_cq_open(tl->domain, &cq_attr, &tl->cq, NULL);
    }
    if (rc != 0) {
        return ofi_fail(tl, "fi_cq_open", rc);
    }
    if ((rc = fi_endpoint(tl->domain, info, &tl->ep, NULL)) != 0) {
        return ofi_fail(tl, "fi_endpoint", rc);
    }
    if ((rc = fi_ep_bind(tl->ep, &tl->av->fid, 0)) != 0) {
        return ofi_fail(tl, "fi_ep_bind (AV)", rc);
    }
    if ((rc = fi_ep_bind(tl->ep, &tl->cq->fid, FI_TRANSMIT | FI_RECV)) != 0) {
        return ofi_fail(tl, "fi_ep_bind (CQ)", rc);
    }
    if ((rc = fi_enable(tl->ep)) != 0) {
        return ofi_fail(tl, "fi_enable", rc);
    }
    tl->name_len = sizeof(tl->name);
    if ((rc = fi_getname(&tl->ep->fid, tl->name, &tl->name_len)) != 0) {
        return ofi_fail(tl, "fi_getname", rc);
    }
    if (!tl->mr_local && info->rx_attr->iov_limit >= 2) {
        tl->sink = mmap(NULL, OFI_SINK_LEN, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (tl->sink == MAP_FAILED) {
            tl->sink = NULL; /* the provider's truncation then */
        }
    }
    if (cq_attr.wait_obj == FI_WAIT_FD) {
        ofi_wait_open(tl);
    } else {
        tl->cq_fd = -1;
        tl->epfd = epoll_create1(EPOLL_CLOEXEC);
    }
    return WEFT_OK;
}

static void ofi_fini(weft_tl_t *tl);

static weft_status_t
ofi_init(const weft_tl_init_args_t *args, weft_tl_t **tl_p)
{
    weft_tl_t *tl = calloc(1, sizeof(*tl));
    char prov[64], mr[16];
    weft_status_t st;

    if (tl == NULL) {
        return WEFT_ERR_NO_MEMORY;
    }
    tl->host = args->host;
    tl->config_get = args->config_get;
    tl->log = args->log;
    tl->peer_failed = args->peer_failed;
    tl->rank = args->rank;
    tl->nranks = args->nranks;
    tl->teardown_timeout = args->teardown_timeout_s;
    tl->cq_fd = -1;
    tl->epfd = -1;
    tl->peers = calloc((size_t)args->nranks, sizeof(*tl->peers));
    if (tl->peers == NULL) {
        free(tl);
        return WEFT_ERR_NO_MEMORY;
    }
    ofi_config(args, "OFI_PROVIDER", prov, sizeof(prov));
    tl->mr_always =
        strcmp(ofi_config(args, "OFI_MR", mr, sizeof(mr)), "always") == 0;
    st = ofi_getinfo(tl, prov);
    if (st == WEFT_OK) {
        st = ofi_open(tl);
    }
    if (st == WEFT_OK) {
        st = weft__ofi_ctrl_start(tl);
    }
    if (st != WEFT_OK) {
        ofi_fini(tl);
        return st;
    }
    OFI_LOG(tl, WEFT_LOG_INFO,
            "ofi: provider %s (fabric %s, domain %s), inject %zu bytes, "
            "%s, %s",
            tl->prov, tl->info->fabric_attr->name, tl->info->domain_attr->name,
            tl->inject_size,
            tl->mr_local ? "registers buffers (FI_MR_LOCAL)"
                         : "no registration needed",
            tl->cq_fd >= 0 ? "waits on the CQ's fd" : "polled");
    *tl_p = tl;
    return WEFT_OK;
}

static void
ofi_close(struct fid *fid)
{
    if (fid != NULL) {
        fi_close(fid);
    }
}

static void
ofi_fini(weft_tl_t *tl)
{
    if (tl == NULL) {
        return;
    }
    tl->closing = 1; /* from here on no op completes */
    if (tl->ep != NULL) {
        weft__ofi_say_bye(tl);
    }
    /* the endpoint first: libfabric forgets every context it held */
    ofi_close(tl->ep != NULL ? &tl->ep->fid : NULL);
    tl->ep = NULL;
    for (int r = 0; r < tl->nranks; r++) {
        if (tl->peers[r] != NULL) {
            weft__ofi_ep_destroy(tl->peers[r]);
        }
    }
    while (tl->queue != NULL) {
        weft__ofi_queue_del(tl, tl->queue);
    }
    while (tl->orphans != NULL) {
        weft__ofi_req_t *r = tl->orphans;

        weft__ofi_req_unlink(tl, r);
        weft__ofi_req_put(tl, r);
    }
    free(tl->bye_reqs);
    free(tl->hello_reqs);
    while (tl->done != NULL) {
        weft__ofi_done_t *d = tl->done;

        tl->done = d->next;
        free(d);
    }
    weft__ofi_mr_flush(tl);
    while (tl->free_reqs != NULL) {
        weft__ofi_req_t *r = tl->free_reqs;

        tl->free_reqs = r->next;
        free(r);
    }
    ofi_close(tl->cq != NULL ? &tl->cq->fid : NULL);
    ofi_close(tl->av != NULL ? &tl->av->fid : NULL);
    ofi_close(tl->domain != NULL ? &tl->domain->fid : NULL);
    ofi_close(tl->fabric != NULL ? &tl->fabric->fid : NULL);
    if (tl->info != NULL) {
        fi_freeinfo(tl->info);
    }
    if (tl->epfd >= 0) {
        close(tl->epfd);
    }
    if (tl->sink != NULL) {
        munmap(tl->sink, OFI_SINK_LEN);
    }
    free(tl->peers);
    free(tl);
}

weft_status_t
weft__ofi_address(weft_tl_t *tl, void *buf, size_t *len_p)
{
    ofi_addr_hdr_t h = {.magic = OFI_ADDR_MAGIC,
                        .pid = (int32_t)getpid(),
                        .name_len = (uint32_t)tl->name_len};
    size_t need = sizeof(h) + tl->name_len;

    if (*len_p < need || need > WEFT_TL_ADDR_MAX) {
        OFI_LOG(tl, WEFT_LOG_ERROR,
                "ofi: the address of provider %s takes %zu bytes, more than "
                "the %zu there is room for",
                tl->prov, need, *len_p);
        return WEFT_ERR_UNSUPPORTED;
    }
    snprintf(h.prov, sizeof(h.prov), "%s", tl->prov);
    memcpy(buf, &h, sizeof(h));
    memcpy((uint8_t *)buf + sizeof(h), tl->name, tl->name_len);
    *len_p = need;
    return WEFT_OK;
}

static int
ofi_reachable(weft_tl_t *tl, const weft_tl_peer_t *peer)
{
    ofi_addr_hdr_t h;
    const uint8_t *name;

    if (peer->rank == tl->rank ||
        !weft__ofi_addr_parse(peer->addr, peer->addr_len, &h, &name)) {
        return 0;
    }
    if (strncmp(h.prov, tl->prov, sizeof(h.prov)) != 0) {
        return 0; /* another provider: its address means nothing here */
    }
    return !tl->node_local || peer->same_node;
}

static void
ofi_ep_destroy_op(weft_tl_ep_t *ep)
{
    weft_tl_t *tl = ep->tl;

    tl->peers[ep->rank] = NULL;
    weft__ofi_ep_destroy(ep);
}

static int
ofi_wait_fd(weft_tl_t *tl)
{
    return tl->wait_is_fd ? tl->epfd : -1;
}

/* Before the host blocks: work at hand, or the CQ armed (fi_trywait). */
static int
ofi_wait_arm(weft_tl_t *tl, int arm)
{
    struct fid *fids[1] = {&tl->cq->fid};

    if (!arm) {
        return 0;
    }
    if (!tl->wait_is_fd) {
        return 1; /* nothing to block on: the host keeps polling */
    }
    if (tl->done != NULL || tl->peer_news || tl->ready_news || tl->hello_todo ||
        weft__ofi_queue_ready(tl)) {
        return 1;
    }
    return fi_trywait(tl->fabric, fids, 1) != 0;
}

static uint64_t
ofi_instance_hints(weft_tl_t *tl)
{
    return tl->one_large ? WEFT_TL_HINT_ONE_LARGE : 0;
}

WEFT_TL_PLUGIN_EXPORT const weft_tl_ops_t weft_tl_plugin_v1 = {
    .abi_version = WEFT_TL_ABI_VERSION,
    .size = sizeof(weft_tl_ops_t),
    .name = "ofi",
    .caps = WEFT_TL_CAP_HOST_MEM,
    .init = ofi_init,
    .fini = ofi_fini,
    .address = weft__ofi_address,
    .reachable = ofi_reachable,
    .ep_create = weft__ofi_ep_create,
    .ep_destroy = ofi_ep_destroy_op,
    .isend = weft__ofi_isend,
    .irecv = weft__ofi_irecv,
    .isend_head = weft__ofi_isend_head,
    .irecv_head = weft__ofi_irecv_head,
    .progress = weft__ofi_progress,
    .wait_fd = ofi_wait_fd,
    .cancel = weft__ofi_cancel,
    .wait_arm = ofi_wait_arm,
    .hints = ofi_instance_hints,
};
