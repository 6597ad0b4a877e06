/*
 * Node-local collectives: the shared area of a communicator whose ranks
 * all share one node and reach each other through shm.
 *
 * Each member lends the comm one slot of its shm segment (a control page
 * and two data buffers). The members agree at comm creation: every rank
 * offers a slot, the offers travel with the creation exchange, and the
 * comm has an area only when every member offered one (so every rank
 * decides the same and selects the same algorithms). A slot serves one
 * comm for the life of the context; a comm that finds no free slot uses
 * the point-to-point algorithms.
 *
 * Protocol (the *_shm.c files of collectives/algos): every node-local
 * collective on a comm gets the next number d (the same on every rank:
 * calls are made in the same order) and they run one at a time, in that
 * order, on each rank. A rank announces it has reached collective d in
 * its head line of parity d & 1 (weft__shm_head_t): what it called, the
 * addresses of its buffers when peers are to read them, or the data
 * itself when it is small; larger data that fits travels through the
 * buffer of parity d & 1. A rank starts d only once every
 * member has reached d - 1: so all finished reading that buffer in
 * d - 2, and no rank is ever more than one call ahead of another (but in
 * a run of queued broadcasts, below, which touch neither heads nor
 * buffers). Calls
 * whose peers read the caller's own memory (process_vm_readv) end with
 * `done` = d and wait for every member's, so no buffer is given back
 * while a peer still reads it.
 * Every store of a flag is followed by a wake-up of members that sleep.
 */
#ifndef WEFT_SHM_AREA_H
#define WEFT_SHM_AREA_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <weft/status.h>

typedef struct weft_comm weft_comm_t;
typedef struct weft_tl weft_tl_t;
typedef struct weft_tl_ep weft_tl_ep_t;

/* Bytes of data a call's announcement can carry itself. */
#define WEFT_SHM_INLINE 40

/* A member's announcement of one call: a cache line per call parity
 * (d & 1), its stamp (the call's number) stored last with release order,
 * so a peer that sees the stamp sees the rest in the same line transfer:
 * what was called and either the addresses of the member's buffers or,
 * for small calls, the data itself. */
typedef struct weft__shm_head {
    uint64_t desc[2]; /* what it called (mismatch check) */
    union {
        struct {
            uint64_t sbuf, rbuf, aux; /* its buffers in the call (CMA) */
        } at;
        uint8_t data[WEFT_SHM_INLINE];
    } u;
    _Atomic uint64_t stamp; /* reached call #stamp */
} weft__shm_head_t;

/* Queued broadcasts: the root of a small broadcast writes it into the
 * slot of its queue numbered d % WEFT_SHM_QDEPTH and goes on without
 * waiting for anyone (so a root may run up to WEFT_SHM_QDEPTH calls ahead
 * of the slowest reader), once every member has finished the call that
 * used that slot before (their `fin`). The slot's head carries the call's
 * number, what was called and up to WEFT_SHM_INLINE bytes; larger data
 * (up to WEFT_SHM_QBYTES) follows it. Queued calls write no head line:
 * a member that has finished call d (fin >= d) has reached it. The depth
 * matters where ranks outnumber cores: readers then take several calls
 * per time slice (8-byte broadcast, 4 ranks on 2 cores: 1.0-1.35 us at a
 * depth of 8, 0.47 at 64, 0.27-0.47 at 128). Slots of 4 KiB rather than
 * 1 KiB queue 2 and 4 KiB broadcasts too (2 KiB, 8 ranks on 2 cores:
 * 0.9-1.9 us against 8.2-10.2 through the buffers); 64 of them cost each
 * comm slot 272 KiB of control pages (WEFT_SHM_SLOT_CTL), where 1 KiB
 * cost 128. */
#define WEFT_SHM_QDEPTH 64
#define WEFT_SHM_QBYTES 4096

typedef struct weft__shm_qslot {
    weft__shm_head_t head;
    uint8_t data[WEFT_SHM_QBYTES];
} weft__shm_qslot_t;

/* Calls whose form is agreed at once (shm_form.h), one word each: a
 * member reaching call d has every member at d - 1 or later (the turn
 * rule), so the word of d - WEFT_SHM_FORM_SLOTS has been read by all. */
#define WEFT_SHM_FORM_SLOTS 4

/* A member's control pages (its slot's first bytes). */
typedef struct weft__shm_ctl {
    _Alignas(64) weft__shm_head_t head[2]; /* [d & 1] */
    _Alignas(64) _Atomic uint64_t prog; /* (seq << 24) | pieces done */
    _Alignas(64) _Atomic uint64_t done; /* finished reading peers in #done */
    _Alignas(64) _Atomic uint64_t fin;  /* finished every call up to #fin */
    _Alignas(64) _Atomic uint64_t cons; /* (seq << 24) | pieces taken */
    /* member 0's only: the form call d took, (d << 2) | form, in
     * form[d % WEFT_SHM_FORM_SLOTS] (collectives/algos/shm_form.h) */
    _Alignas(64) _Atomic uint64_t form[WEFT_SHM_FORM_SLOTS];
    _Alignas(64) weft__shm_qslot_t q[WEFT_SHM_QDEPTH];
} weft__shm_ctl_t;

#define WEFT_SHM_PROG(_d, _n) ((uint64_t)(_d) << 24 | (uint64_t)(_n))
#define WEFT_SHM_PROG_MAX ((1u << 24) - 1) /* pieces per call */

/* What calls other than allreduce put through buffers that WEFT_SHM_COLL_BUF
 * left to weft: the default size where the node has no more ranks than
 * cores. The larger buffers given to more ranks than cores halve an
 * allreduce's time there, but the others' measured 0.6 of their time
 * with 128 KiB buffers in some runs and 2.5 times it in others (4 and 8
 * ranks on 2 cores, 512 KiB; reading the peers' memory varied less). */
#define WEFT_SHMC_FIT_AUTO (128u << 10)
/* And what a broadcast may fill there where it takes whichever of the
 * buffers and reading measured faster (its readers copy one block, not
 * one from every rank). Interleaved against WEFT_SHMC_FIT_AUTO, 4 and 8
 * ranks on 2 cores, where a line crosses cores in 0.05 us: 4 ranks 256
 * KiB 44.2-47.2 -> 34.6-35.9 us, 512 KiB 80.9-83.2 -> 49.7-50.8; 8 ranks
 * 256 KiB 71-77 -> 49-58, 512 KiB 127-136 -> 87-92; 1 MiB level. Where
 * it takes 0.25 us, 4 ranks gained less (512 KiB 103-119 -> 99-107) and 8
 * lost (256 KiB 120-138 -> 142-150, 512 KiB 224-242 -> 260-297). Alltoall
 * gained as much at 4 ranks and lost twice as much at 8; allgather lost
 * at 4. */
#define WEFT_SHMC_FIT_BCAST_AUTO (512u << 10)

/* What one rank saw of the two forms (through the shared buffers, or
 * reading the peers' memory) a call of one kind and size class may take
 * (shm_form.h): seconds per byte, smoothed, and how many calls each. */
enum {
    WEFT_SHM_FORM_ALLREDUCE,
    WEFT_SHM_FORM_ALLGATHER,
    WEFT_SHM_FORM_ALLTOALL,
    WEFT_SHM_FORM_BROADCAST,
    WEFT_SHM_FORM_KINDS
};
#define WEFT_SHM_FORM_BUCKETS 15 /* 8 KiB and less, 16 KiB, ... 128 MiB+ */
typedef struct weft__shm_form_stat {
    double spb[2];
    uint32_t n[2];
} weft__shm_form_stat_t;

/* A call that took a measured form: its pieces (each a node-local call)
 * are numbered [first, end); its kind and bytes, the form the first of
 * them agreed on, and when (weft__now). */
typedef struct weft__shm_form_call {
    uint64_t first, end;
    int kind, form;
    size_t bytes;
    double t0;
} weft__shm_form_call_t;

typedef struct weft__shm_area {
    weft_tl_t *tl;
    int slot;        /* ours */
    int cma;         /* every member may read every other's memory */
    size_t buf;      /* bytes of each data buffer */
    size_t fit;      /* of which calls other than allreduce fill at most
                      * (weft__shmc_fits) */
    size_t fit_bcast; /* and measured broadcasts (broadcast_shm.c) */
    size_t cache;    /* bytes of cache assumed (WEFT_SHM_COLL_CACHE) */
    int size, rank;  /* the comm's */
    weft__shm_ctl_t **ctl; /* [size] */
    uint8_t **data;        /* [size] the buffer pair */
    pid_t *pid;            /* [size] */
    int *job;              /* [size] job ranks */
    weft_tl_ep_t **ep;     /* [size] to wake; NULL at this rank */
    uint64_t next_d;       /* number of the next collective built */
    uint64_t run_d;        /* the collective allowed to run */
    uint64_t fin_min;      /* every member's fin was at least this */
    uint64_t all_seen;     /* every member had reached this call when this rank
                            * last looked (a member's reach only grows) */
    /* calls that may take either of two forms measure them (shm_form.h,
     * WEFT_SHM_COLL_LARGE): at 3 ranks and more, those past the buffers
     * (measure); at two (measure_pair) and more, allgather and alltoall
     * that fit the buffers (weft__shmc_fit_measured) */
    int measure, measure_pair;
    weft__shm_form_stat_t form[WEFT_SHM_FORM_KINDS][WEFT_SHM_FORM_BUCKETS];
    weft__shm_form_call_t call; /* the latest such call */
    void *tmp;                  /* its scratch, made on first use */
    size_t tmp_bytes;
} weft__shm_area_t;

/* ---- set-up (comm creation, lock held) ---- */

/* What this rank offers a comm being made of `ranks` (job ranks, n of
 * them): a slot, or -1 when the comm cannot be node-local here. */
typedef struct weft__shm_offer {
    int32_t slot;
    int32_t cma; /* 1: we may read every other member's memory */
} weft__shm_offer_t;

void weft__shm_area_offer(weft_comm_t *parent, const int *ranks, int n,
                          weft__shm_offer_t *offer);
/* Every member's offer (by comm rank) is known: make comm's area when
 * all offered a slot, else give ours back. */
weft_status_t weft__shm_area_agree(weft_comm_t *comm,
                                   const weft__shm_offer_t *mine,
                                   const weft__shm_offer_t *all);
/* The offers of a comm being made were exchanged, but this rank is not
 * in it (or it failed): give the slot back. */
void weft__shm_area_withdraw(weft_comm_t *parent,
                             const weft__shm_offer_t *mine);
void weft__shm_area_free(weft_comm_t *comm);

/* ---- running ---- */

/* Pipelined calls (data larger than a buffer) take both of a member's
 * buffers as one ring of slots: the member writes piece k into slot
 * k % depth and counts it in `prog`; its readers count the pieces they
 * have taken (from every member they read) in `cons`; slot k % depth is
 * written again only once every reader's cons has passed k. Such a call
 * starts writing only once every member has reached it (so all have
 * finished the previous call, whose buffer it may overwrite) and ends
 * only once every reader is done, so the buffer parity rule holds for the
 * calls around it. */
static inline uint8_t *
weft__shm_area_ring(const weft__shm_area_t *ar, int r)
{
    return ar->data[r];
}

/* Data buffer of member r for collective d. */
static inline uint8_t *
weft__shm_area_buf(const weft__shm_area_t *ar, int r, uint64_t d)
{
    return ar->data[r] + (d & 1) * ar->buf;
}

/* Member r's announcement of collective d. */
static inline const weft__shm_head_t *
weft__shm_area_head(const weft__shm_area_t *ar, int r, uint64_t d)
{
    return &ar->ctl[r]->head[d & 1];
}

/* Announce collective d (with buffer addresses for readers, or n <=
 * WEFT_SHM_INLINE bytes of data) / progress / done, and wake sleeping
 * members. */
void weft__shm_area_arrive(weft__shm_area_t *ar, uint64_t d,
                           const uint64_t desc[2], const void *sbuf,
                           const void *rbuf, const void *aux);
void weft__shm_area_arrive_data(weft__shm_area_t *ar, uint64_t d,
                                const uint64_t desc[2], const void *data,
                                size_t n);
void weft__shm_area_progress(weft__shm_area_t *ar, uint64_t prog);
/* Wake the members that sleep (after a flag they may wait for). */
void weft__shm_area_wake(const weft__shm_area_t *ar);
void weft__shm_area_consumed(weft__shm_area_t *ar, uint64_t cons);
void weft__shm_area_done(weft__shm_area_t *ar, uint64_t d);
/* Member r has reached collective d (when no member is more than one
 * call ahead of the caller, who is at d or d + 1): its head says so, or
 * it has finished d (a queued call writes no head). */
static inline int
weft__shm_area_reached(const weft__shm_area_t *ar, int r, uint64_t d)
{
    return atomic_load_explicit(&weft__shm_area_head(ar, r, d)->stamp,
                                memory_order_acquire) >= d ||
           atomic_load_explicit(&ar->ctl[r]->fin, memory_order_acquire) >= d;
}
/* Member r's head line holds its announcement of call d itself. */
static inline int
weft__shm_area_head_is(const weft__shm_area_t *ar, int r, uint64_t d)
{
    return atomic_load_explicit(&weft__shm_area_head(ar, r, d)->stamp,
                                memory_order_acquire) == d;
}
/* This rank has finished call d (every call, in order). */
void weft__shm_area_finish(weft__shm_area_t *ar, uint64_t d);

/* ---- queued broadcasts ---- */

/* Member r's queue slot of call d. */
static inline const weft__shm_qslot_t *
weft__shm_area_qslot(const weft__shm_area_t *ar, int r, uint64_t d)
{
    return &ar->ctl[r]->q[d % WEFT_SHM_QDEPTH];
}
/* 1 when this rank's queue slot for call d is free (every member has
 * finished the call that used it last), else 0 with a member still in
 * that call in *missing_p. */
int weft__shm_area_qslot_free(weft__shm_area_t *ar, uint64_t d, int *missing_p);
/* Write call d's data (n <= WEFT_SHM_QBYTES) into this rank's queue slot
 * (the caller then wakes the readers). */
void weft__shm_area_qput(weft__shm_area_t *ar, uint64_t d,
                         const uint64_t desc[2], const void *data, size_t n);
/* Member r's queue slot holds call d (acquire: its data may be read). */
static inline int
weft__shm_area_qready(const weft__shm_area_t *ar, int r, uint64_t d)
{
    return atomic_load_explicit(&weft__shm_area_qslot(ar, r, d)->head.stamp,
                                memory_order_acquire) == d;
}
/* For a root that goes on without waiting, once its call d (desc) is
 * announced: the first other member that announced call d as another
 * call (its descriptor in *theirs_p where not NULL), or -1. Fences first:
 * of two ranks that each take themselves for the root, at least one sees
 * the other's (each writes, fences, then reads). */
int weft__shm_area_other_call(const weft__shm_area_t *ar, uint64_t d,
                              const uint64_t desc[2],
                              const uint64_t **theirs_p);
/* Every member has reached d / finished d: 1, or 0 with the first
 * missing comm rank in *missing_p. */
int weft__shm_area_all_arrived(const weft__shm_area_t *ar, uint64_t d,
                               int *missing_p);
int weft__shm_area_all_done(const weft__shm_area_t *ar, uint64_t d,
                            int *missing_p);
/* Read n bytes at `addr` in member r's memory into dst: WEFT_OK, or an
 * error with the reason in why. */
weft_status_t weft__shm_area_read(const weft__shm_area_t *ar, int r,
                                  void *dst, uint64_t addr, size_t n,
                                  char *why, size_t why_len);
/* Write n bytes from src at `addr` in member r's memory (the same
 * permission as reading it). */
weft_status_t weft__shm_area_write(const weft__shm_area_t *ar, int r,
                                   const void *src, uint64_t addr, size_t n,
                                   char *why, size_t why_len);

#endif /* WEFT_SHM_AREA_H */
