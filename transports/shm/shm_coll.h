/*
 * What the shm transport offers the node-local collectives
 * (collectives/shm_area.c): slots in every rank's segment, each a
 * control page and two data buffers, bound to one communicator; the
 * peers' pids and whether their memory may be read (CMA); wake-ups.
 * Not part of the transport ABI: shm is built in and this is its
 * private service to the collectives beside it.
 */
#ifndef WEFT_SHM_COLL_H
#define WEFT_SHM_COLL_H

#include <stddef.h>
#include <sys/types.h>
#include <weft/transport.h>

#define WEFT_SHM_SLOT_CTL 278528 /* bytes of a slot's control pages */

/* A free slot of this rank's segment, or -1 (none left, or no segment). */
int weft__shm_slot_take(weft_tl_t *tl);
/* Give a slot back: `used` (its comm ran collectives in it) retires it
 * for good, since a peer late in the comm's last call may still read it. */
void weft__shm_slot_put(weft_tl_t *tl, int slot, int used);
/* The slot of a local rank (this one or an attached peer); NULL when the
 * rank is not reachable through shm or the slot is out of its range. */
void *weft__shm_slot_addr(weft_tl_t *tl, int job_rank, int slot);
/* Bytes of each of a slot's two data buffers (the same on every rank of
 * the job: WEFT_SHM_COLL_BUF; a peer with less is refused at attach). */
size_t weft__shm_slot_buf(const weft_tl_t *tl);
/* 1 when this rank may read the peer's memory with process_vm_readv. */
int weft__shm_can_read(weft_tl_t *tl, int job_rank);
pid_t weft__shm_pid(weft_tl_t *tl, int job_rank);
/* A local rank's endpoint for weft__shm_wake_eps (it lives as long as
 * the transport); NULL for this rank and ranks not reached through shm. */
weft_tl_ep_t *weft__shm_coll_ep(weft_tl_t *tl, int job_rank);
/* Wake those of the n endpoints that are blocked waiting (after publishing
 * a flag); NULL entries, detached and failed peers are skipped. One fence
 * for all of them. */
void weft__shm_wake_eps(weft_tl_ep_t *const *eps, int n);

#endif /* WEFT_SHM_COLL_H */
