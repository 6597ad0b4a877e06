/*
 * The shared area of a node-local communicator: the agreement at
 * creation, the flags, and reads of the peers' memory (see shm_area.h).
 */
#include "build_config.h"
#include "collectives/shm_area.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "collectives/algos/shm_form.h"
#include "comm.h"
#include "context.h"
#include "copy.h"
#include "errmsg.h"
#include "log.h"
#include "tl_registry.h"
#include "transports/shm/shm_coll.h"
#include "util.h"

static_assert(sizeof(weft__shm_ctl_t) <= WEFT_SHM_SLOT_CTL,
              "the control fields fit the slot's control page");

/* The shm instance of the context and its index, or NULL. */
static weft_tl_t *
area_tl(weft_context_t *ctx, int *idx_p)
{
    for (int i = 0; i < ctx->ntls; i++) {
        if (ctx->tls[i].ops == &weft__tl_shm) {
            *idx_p = i;
            return ctx->tls[i].tl;
        }
    }
    return NULL;
}

void
weft__shm_area_offer(weft_comm_t *parent, const int *ranks, int n,
                     weft__shm_offer_t *offer)
{
    weft_context_t *ctx = parent->ctx;
    int idx = -1;
    weft_tl_t *tl = area_tl(ctx, &idx);

    offer->slot = -1;
    offer->cma = 1;
    if (tl == NULL || ctx->local_size < 2) {
        return;
    }
    /* ranks: the members when known (the world); else the offer is
     * tentative and checked once the members are (split, dup) */
    for (int i = 0; ranks != NULL && i < n; i++) {
        if (ranks[i] != ctx->rank && ctx->peers[ranks[i]].tl != idx) {
            return;
        }
    }
    offer->slot = weft__shm_slot_take(tl);
    for (int i = 0; i < ctx->local_size; i++) {
        int j = ctx->local_ranks[i];

        if (j != ctx->rank && ctx->peers[j].tl == idx &&
            !weft__shm_can_read(tl, j)) {
            offer->cma = 0;
        }
    }
}

void
weft__shm_area_withdraw(weft_comm_t *parent, const weft__shm_offer_t *mine)
{
    int idx;

    weft__shm_slot_put(area_tl(parent->ctx, &idx), mine->slot, 0);
}

static void
area_free(weft__shm_area_t *ar)
{
    free(ar->tmp);
    free(ar->ctl);
    free(ar->data);
    free(ar->pid);
    free(ar->job);
    free(ar->ep);
    free(ar);
}

weft_status_t
weft__shm_area_agree(weft_comm_t *comm, const weft__shm_offer_t *mine,
                     const weft__shm_offer_t *all)
{
    weft_context_t *ctx = comm->ctx;
    const char *node = ctx->topo.node_id;
    weft__shm_area_t *ar;
    int idx = -1, cma = 1;
    weft_tl_t *tl = area_tl(ctx, &idx);

    if (tl == NULL || comm->size < 2) {
        weft__shm_slot_put(tl, mine->slot, 0);
        return WEFT_OK;
    }
    for (int r = 0; r < comm->size; r++) {
        int j = weft__comm_job_rank(comm, r);

        /* node identities are the same table on every rank, offers too:
         * every member decides the same */
        if (all[r].slot < 0 ||
            strcmp(ctx->peers[j].topo.node_id, node) != 0) {
            weft__shm_slot_put(tl, mine->slot, 0);
            return WEFT_OK;
        }
        cma = cma && all[r].cma;
    }
    ar = calloc(1, sizeof(*ar));
    if (ar == NULL ||
        (ar->ctl = calloc((size_t)comm->size, sizeof(*ar->ctl))) == NULL ||
        (ar->data = calloc((size_t)comm->size, sizeof(*ar->data))) == NULL ||
        (ar->pid = calloc((size_t)comm->size, sizeof(*ar->pid))) == NULL ||
        (ar->job = calloc((size_t)comm->size, sizeof(*ar->job))) == NULL ||
        (ar->ep = calloc((size_t)comm->size, sizeof(*ar->ep))) == NULL) {
        if (ar != NULL) {
            area_free(ar);
        }
        weft__shm_slot_put(tl, mine->slot, 0);
        return weft__error(WEFT_ERR_NO_MEMORY, WEFT_SUB_COLL,
                           "out of memory for comm %u's shared area",
                           comm->id);
    }
    ar->tl = tl;
    ar->slot = mine->slot;
    ar->cma = cma;
    ar->buf = weft__shm_slot_buf(tl);
    /* buffers enlarged by default (WEFT_SHM_COLL_BUF=0 where the node
     * has more ranks than cores) are for allreduce (weft__shmc_fits) */
    ar->fit = comm->ctx->cfg.shm.coll_buf == 0 && ar->buf > WEFT_SHMC_FIT_AUTO
                  ? WEFT_SHMC_FIT_AUTO
                  : ar->buf;
    ar->fit_bcast =
        comm->ctx->cfg.shm.coll_buf == 0 && ar->buf > WEFT_SHMC_FIT_BCAST_AUTO
            ? WEFT_SHMC_FIT_BCAST_AUTO
            : ar->buf;
    ar->cache = comm->ctx->cfg.shm.coll_cache != 0
                    ? comm->ctx->cfg.shm.coll_cache
                    : weft__copy_cache_bytes();
    ar->size = comm->size;
    ar->rank = comm->rank;
    ar->measure = cma && comm->size > 2 &&
                  (comm->ctx->cfg.shm.coll_large == WEFT_SHM_LARGE_MEASURE ||
                   (comm->ctx->cfg.shm.coll_large == WEFT_SHM_LARGE_AUTO &&
                    comm->ctx->progress.oversubscribed));
    ar->measure_pair =
        cma && comm->size == 2 &&
        (comm->ctx->cfg.shm.coll_large == WEFT_SHM_LARGE_MEASURE ||
         comm->ctx->cfg.shm.coll_large == WEFT_SHM_LARGE_AUTO);
    ar->next_d = ar->run_d = 1;
    ar->fin_min = ar->all_seen = 0;
    for (int r = 0; r < comm->size; r++) {
        int j = weft__comm_job_rank(comm, r);
        uint8_t *base = weft__shm_slot_addr(tl, j, all[r].slot);

        if (base == NULL) {
            area_free(ar);
            weft__shm_slot_put(tl, mine->slot, 1);
            return weft__error(WEFT_ERR_PEER_LOST, WEFT_SUB_COLL,
                               "comm %u: the shared slot of rank %d cannot "
                               "be reached (has it exited?)",
                               comm->id, r);
        }
        ar->ctl[r] = (weft__shm_ctl_t *)base;
        ar->data[r] = base + WEFT_SHM_SLOT_CTL;
        ar->job[r] = j;
        ar->ep[r] = j == ctx->rank ? NULL : weft__shm_coll_ep(tl, j);
        ar->pid[r] = j == ctx->rank ? getpid() : weft__shm_pid(tl, j);
    }
    comm->shm = ar;
    weft__log_debug(WEFT_SUB_COLL,
                    "comm %u: node-local collectives in shm slot %d (%s)",
                    comm->id, ar->slot,
                    cma ? "single-copy reads of peers' buffers"
                        : "buffered only: reads of peers' memory refused");
    return WEFT_OK;
}

void
weft__shm_area_free(weft_comm_t *comm)
{
    weft__shm_area_t *ar = comm->shm;

    if (ar == NULL) {
        return;
    }
    weft__shmc_form_report(ar, comm->id);
    /* a member late in the last call may still read it: never reused */
    weft__shm_slot_put(ar->tl, ar->slot, 1);
    area_free(ar);
    comm->shm = NULL;
}

/* ---- flags ------------------------------------------------------------- */

void
weft__shm_area_wake(const weft__shm_area_t *ar)
{
    /* pairs with the fence of a rank going to sleep (shm wait_arm) */
    weft__shm_wake_eps(ar->ep, ar->size);
}

void
weft__shm_area_arrive(weft__shm_area_t *ar, uint64_t d,
                      const uint64_t desc[2], const void *sbuf,
                      const void *rbuf, const void *aux)
{
    weft__shm_head_t *h = &ar->ctl[ar->rank]->head[d & 1];

    h->desc[0] = desc[0];
    h->desc[1] = desc[1];
    h->u.at.sbuf = (uint64_t)(uintptr_t)sbuf;
    h->u.at.rbuf = (uint64_t)(uintptr_t)rbuf;
    h->u.at.aux = (uint64_t)(uintptr_t)aux;
    atomic_store_explicit(&h->stamp, d, memory_order_release);
    weft__shm_area_wake(ar);
}

void
weft__shm_area_arrive_data(weft__shm_area_t *ar, uint64_t d,
                           const uint64_t desc[2], const void *data, size_t n)
{
    weft__shm_head_t *h = &ar->ctl[ar->rank]->head[d & 1];

    assert(n <= WEFT_SHM_INLINE);
    h->desc[0] = desc[0];
    h->desc[1] = desc[1];
    memcpy(h->u.data, data, n);
    atomic_store_explicit(&h->stamp, d, memory_order_release);
    weft__shm_area_wake(ar);
}

void
weft__shm_area_progress(weft__shm_area_t *ar, uint64_t prog)
{
    atomic_store_explicit(&ar->ctl[ar->rank]->prog, prog,
                          memory_order_release);
    weft__shm_area_wake(ar);
}

void
weft__shm_area_consumed(weft__shm_area_t *ar, uint64_t cons)
{
    atomic_store_explicit(&ar->ctl[ar->rank]->cons, cons, memory_order_release);
    weft__shm_area_wake(ar);
}

void
weft__shm_area_done(weft__shm_area_t *ar, uint64_t d)
{
    atomic_store_explicit(&ar->ctl[ar->rank]->done, d, memory_order_release);
    weft__shm_area_wake(ar);
}

void
weft__shm_area_finish(weft__shm_area_t *ar, uint64_t d)
{
    /* no wake-up: only a queued broadcast's root waits for this, and a
     * member finishing a queued broadcast wakes it */
    atomic_store_explicit(&ar->ctl[ar->rank]->fin, d, memory_order_release);
}

int
weft__shm_area_qslot_free(weft__shm_area_t *ar, uint64_t d, int *missing_p)
{
    uint64_t want = d > WEFT_SHM_QDEPTH ? d - WEFT_SHM_QDEPTH : 0;
    uint64_t low = UINT64_MAX;

    if (ar->fin_min >= want) {
        return 1;
    }
    for (int r = 0; r < ar->size; r++) {
        uint64_t f =
            atomic_load_explicit(&ar->ctl[r]->fin, memory_order_acquire);

        if (r == ar->rank) {
            continue;
        }
        if (f < want) {
            *missing_p = r;
            return 0;
        }
        low = f < low ? f : low;
    }
    ar->fin_min = low;
    return 1;
}

void
weft__shm_area_qput(weft__shm_area_t *ar, uint64_t d, const uint64_t desc[2],
                    const void *data, size_t n)
{
    weft__shm_qslot_t *q = &ar->ctl[ar->rank]->q[d % WEFT_SHM_QDEPTH];

    assert(n <= WEFT_SHM_QBYTES);
    q->head.desc[0] = desc[0];
    q->head.desc[1] = desc[1];
    memcpy(n <= WEFT_SHM_INLINE ? q->head.u.data : q->data, data, n);
    atomic_store_explicit(&q->head.stamp, d, memory_order_release);
}

int
weft__shm_area_other_call(const weft__shm_area_t *ar, uint64_t d,
                          const uint64_t desc[2], const uint64_t **theirs_p)
{
    atomic_thread_fence(memory_order_seq_cst);
    for (int r = 0; r < ar->size; r++) {
        const uint64_t *pd = NULL;

        if (r == ar->rank) {
            continue;
        }
        if (weft__shm_area_head_is(ar, r, d)) {
            pd = weft__shm_area_head(ar, r, d)->desc;
        } else if (weft__shm_area_qready(ar, r, d)) {
            pd = weft__shm_area_qslot(ar, r, d)->head.desc;
        }
        if (pd != NULL && (pd[0] != desc[0] || pd[1] != desc[1])) {
            if (theirs_p != NULL) {
                *theirs_p = pd;
            }
            return r;
        }
    }
    return -1;
}

int
weft__shm_area_all_arrived(const weft__shm_area_t *ar, uint64_t d,
                           int *missing_p)
{
    for (int r = 0; r < ar->size; r++) {
        if (!weft__shm_area_reached(ar, r, d)) {
            *missing_p = r;
            return 0;
        }
    }
    return 1;
}

int
weft__shm_area_all_done(const weft__shm_area_t *ar, uint64_t d,
                        int *missing_p)
{
    for (int r = 0; r < ar->size; r++) {
        if (atomic_load_explicit(&ar->ctl[r]->done, memory_order_acquire) <
            d) {
            *missing_p = r;
            return 0;
        }
    }
    return 1;
}

/* Copy n bytes between `local` and `addr` in member r's memory, either
 * way (CMA: one kernel copy, no mapping). */
static weft_status_t
shm_area_cma(const weft__shm_area_t *ar, int r, void *local, uint64_t addr,
             size_t n, int write, char *why, size_t why_len)
{
    size_t got = 0;

    while (got < n) {
        struct iovec l = {.iov_base = (char *)local + got, .iov_len = n - got};
        struct iovec rem = {.iov_base = (void *)(uintptr_t)(addr + got),
                            .iov_len = n - got};
        ssize_t k = write ? process_vm_writev(ar->pid[r], &l, 1, &rem, 1, 0)
                          : process_vm_readv(ar->pid[r], &l, 1, &rem, 1, 0);

        if (k > 0) {
            got += (size_t)k;
            continue;
        }
        if (k < 0 && errno == EINTR) {
            continue;
        }
        weft__why(why, why_len, "cannot %s %zu bytes of rank %d's buffer: %s",
                  write ? "write" : "read", n - got, r,
                  k < 0 ? strerror(errno) : "nothing moved");
        return k < 0 && errno == ESRCH ? WEFT_ERR_PEER_LOST
                                       : WEFT_ERR_TRANSPORT;
    }
    return WEFT_OK;
}

weft_status_t
weft__shm_area_read(const weft__shm_area_t *ar, int r, void *dst, uint64_t addr,
                    size_t n, char *why, size_t why_len)
{
    return shm_area_cma(ar, r, dst, addr, n, 0, why, why_len);
}

weft_status_t
weft__shm_area_write(const weft__shm_area_t *ar, int r, const void *src,
                     uint64_t addr, size_t n, char *why, size_t why_len)
{
    return shm_area_cma(ar, r, (void *)src, addr, n, 1, why, why_len);
}
