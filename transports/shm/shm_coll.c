/*
 * shm slots for the node-local collectives (see shm_coll.h). Slot i of a
 * segment starts at coll_off + i * coll_stride: a control page, then two
 * data buffers of coll_buf bytes.
 */
#include "build_config.h"
#include "transports/shm/shm_coll.h"

#include "transports/shm/shm.h"

static_assert(WEFT_SHM_SLOT_CTL == SHM_COLL_CTL, "one slot layout");

static weft_tl_ep_t *
shm_coll_peer(weft_tl_t *tl, int job_rank)
{
    weft_tl_ep_t *p = weft__shm_coll_ep(tl, job_rank);

    return p != NULL && p->attached && p->failed == WEFT_OK ? p : NULL;
}

int
weft__shm_slot_take(weft_tl_t *tl)
{
    if (tl == NULL || tl->seg == NULL) {
        return -1;
    }
    for (uint32_t i = 0; i < tl->coll_slots; i++) {
        uint64_t bit = (uint64_t)1 << i;

        if (!(tl->slots_used & bit) && !(tl->slots_retired & bit)) {
            tl->slots_used |= bit;
            return (int)i;
        }
    }
    return -1;
}

void
weft__shm_slot_put(weft_tl_t *tl, int slot, int used)
{
    uint64_t bit;

    if (tl == NULL || slot < 0 || (uint32_t)slot >= tl->coll_slots) {
        return;
    }
    bit = (uint64_t)1 << slot;
    tl->slots_used &= ~bit;
    if (used) {
        tl->slots_retired |= bit;
    }
}

void *
weft__shm_slot_addr(weft_tl_t *tl, int job_rank, int slot)
{
    shm_seg_hdr_t *h;
    char *base;

    if (tl == NULL || tl->seg == NULL || slot < 0) {
        return NULL;
    }
    if (job_rank == tl->rank) {
        h = tl->hdr;
        base = tl->seg;
    } else {
        weft_tl_ep_t *p = shm_coll_peer(tl, job_rank);

        if (p == NULL) {
            return NULL;
        }
        h = p->hdr;
        base = p->seg;
    }
    if ((uint32_t)slot >= h->coll_slots || h->coll_buf < tl->coll_buf) {
        return NULL;
    }
    return base + h->coll_off + (size_t)slot * h->coll_stride;
}

size_t
weft__shm_slot_buf(const weft_tl_t *tl)
{
    return tl != NULL ? tl->coll_buf : 0;
}

int
weft__shm_can_read(weft_tl_t *tl, int job_rank)
{
    weft_tl_ep_t *p = shm_coll_peer(tl, job_rank);

    return p != NULL && p->cma;
}

pid_t
weft__shm_pid(weft_tl_t *tl, int job_rank)
{
    weft_tl_ep_t *p = shm_coll_peer(tl, job_rank);

    return p != NULL ? p->pid : -1;
}

weft_tl_ep_t *
weft__shm_coll_ep(weft_tl_t *tl, int job_rank)
{
    return tl != NULL ? weft__shm_peer_find(tl, job_rank) : NULL;
}

void
weft__shm_wake_eps(weft_tl_ep_t *const *eps, int n)
{
    int fence = 0;

    /* one fence for them all where any needs one (weft__shm_wake) */
    for (int i = 0; i < n; i++) {
        fence |= eps[i] != NULL && eps[i]->fence;
    }
    if (fence) {
        atomic_thread_fence(memory_order_seq_cst);
    } else {
        atomic_signal_fence(memory_order_seq_cst);
    }
    for (int i = 0; i < n; i++) {
        weft_tl_ep_t *p = eps[i];

        if (p != NULL && p->attached && p->failed == WEFT_OK) {
            weft__shm_wake_fenced(p);
        }
    }
}
