/*
 * What the node-local (shm) algorithms share: their state's common part,
 * the turn rule (one node-local call at a time per comm, in call order),
 * waits on the members' flags, and support checks. The protocol is in
 * collectives/shm_area.h.
 */
#ifndef WEFT_SHM_COMMON_H
#define WEFT_SHM_COMMON_H

#include "collectives/algos/algos.h"
#include "collectives/shm_area.h"

/* The first member of every node-local algorithm's state. */
typedef struct weft__shmc {
    weft__shm_area_t *ar;
    weft__coll_args_t a;
    uint64_t d;      /* this call's number on the comm */
    int phase;       /* the algorithm's own */
    int inl;         /* the data travels in the announcements */
    int pipe;        /* through the buffers, not read (CMA): piped where
                      * larger than them; a measured call's agreed form
                      * (shm_form.h) */
    int peer;        /* loop cursors */
    size_t piece;
    size_t chunk;    /* elements per piece (large calls) */
    void *tmp;       /* a piece of scratch (large calls) */
    uint64_t desc[2]; /* what this rank called (mismatch check) */
    char why[320];    /* a mismatch found by the waits below */
    int missing;     /* comm rank waited for (describe) */
    int bounded;     /* a schedule's step: a poll does a bounded piece of
                      * work (WEFT_SCHED_POLL_MOVED); 0 when a blocking
                      * call runs it inline, all at once */
    const char *wait; /* what it waits for (describe) */
} weft__shmc_t;

/* For a root that goes on without waiting for the others, once its
 * call is announced (queue slot or head): every other member that has
 * announced this call made the same one. 1, or WEFT_ERR_MISMATCH with
 * both calls in c->why. Of two ranks that each take themselves for the
 * root, at least one finds the other. */
int weft__shmc_sole_root(weft__shmc_t *c);

/* State of `size` bytes (starting with a weft__shmc_t, filled in) and the
 * POLL step that runs ops->poll on it; tmp_bytes of scratch when > 0.
 * NULL when out of memory (the schedule reports it). */
void *weft__shmc_build(weft__sched_t *s, const weft__coll_args_t *a,
                       size_t size, const weft__sched_poll_ops_t *ops,
                       size_t tmp_bytes);
/* Run a blocking call whose data goes through the shared buffers at
 * once, its state on the stack (lock held): when no other node-local
 * call is queued on the comm and the dtype and op need no conversion.
 * WEFT_INPROGRESS when it leaves the call to the schedule. */
weft_status_t weft__shmc_run(const weft__coll_args_t *a, weft_comm_t *comm,
                             const weft__sched_poll_ops_t *ops,
                             size_t state_size, size_t buffered);
/* The same for a node-local call that moves a piece (a) of what the user
 * called (called): the mismatch checks compare the whole calls. */
void *weft__shmc_build_as(weft__sched_t *s, const weft__coll_args_t *a,
                          const weft__coll_args_t *called, size_t size,
                          const weft__sched_poll_ops_t *ops, size_t tmp_bytes);
weft_status_t weft__shmc_run_as(const weft__coll_args_t *a,
                                const weft__coll_args_t *called,
                                weft_comm_t *comm,
                                const weft__sched_poll_ops_t *ops,
                                size_t state_size, size_t buffered);

/* The poll result rc, with the reason of a failure found by the waits
 * copied into why. */
int weft__shmc_result(const weft__shmc_t *c, int rc, char *why,
                      size_t why_len);
/* 1 when the earlier node-local calls on the comm have finished here
 * and every member has reached the previous one: a call may then write
 * its buffer of parity d & 1 (every reader of it in d - 2 is done). */
int weft__shmc_turn(weft__shmc_t *c);
/* This call is over: the next one may run. */
void weft__shmc_finish(weft__shmc_t *c);
/* Every member has reached collective d / finished this one (1), or
 * not yet (0, recorded for describe). Once every member (or r) has
 * reached this call, what each called is compared with this rank's call:
 * WEFT_ERR_MISMATCH (reason in c->why) when they differ. */
int weft__shmc_arrived(weft__shmc_t *c, uint64_t d);
int weft__shmc_all_done(weft__shmc_t *c);
/* Member r has reached this call / published piece n of it. */
int weft__shmc_arrived_one(weft__shmc_t *c, int r);
/* What member r called (pd, NULL: unknown) against this call: 1 when the
 * same, else WEFT_ERR_MISMATCH with the reason in c->why. */
int weft__shmc_compare(weft__shmc_t *c, int r, const uint64_t *pd);
int weft__shmc_piece_ready(weft__shmc_t *c, int r, size_t n);

/* Pipelined calls (collectives/shm_area.h): slots of a member's ring. */
#define WEFT_SHMC_RING_DEPTH 4
/* Every other member has taken n pieces of this call (its cons). */
int weft__shmc_taken(weft__shmc_t *c, size_t n);
/* Bytes of a ring slot: a multiple of unit, WEFT_SHMC_RING_DEPTH of them
 * in the ring (at least one unit: callers check it fits twice). */
size_t weft__shmc_ring_slot(const weft__shmc_t *c, size_t unit);

/* A piped exchange of blocks of blk bytes (allgather, alltoall): once
 * every member has reached the call, in round k this rank fills slot k %
 * depth of its ring (put: bytes [off, off + len) of its block(s)) and then
 * takes piece k from every other member's ring in turn (take). `own`, when
 * not NULL, is this rank's own block, copied to its place in recvbuf at
 * the start. Phases 0-2 of c are its own. */
typedef struct weft__shmc_exchange weft__shmc_exchange_t;
struct weft__shmc_exchange {
    size_t blk, piece, slot; /* slot: bytes of a ring slot (>= piece) */
    size_t footprint;        /* bytes the call touches on each member */
    const void *own;
    void (*put)(weft__shmc_t *c, const weft__shmc_exchange_t *x, uint8_t *slot,
                size_t off, size_t len);
    void (*take)(weft__shmc_t *c, const weft__shmc_exchange_t *x, int r,
                 const uint8_t *slot, size_t off, size_t len);
};
int weft__shmc_exchange(weft__shmc_t *c, const weft__shmc_exchange_t *x);
void weft__shmc_describe(const void *state, char *buf, size_t len);

/* A call's data of `bytes` per member travels in the announcements. */
static inline int
weft__shmc_inline(size_t bytes)
{
    return bytes <= WEFT_SHM_INLINE;
}
/* Announce this call with its data (bytes of src): in the announcement
 * when small enough, else through this rank's shared buffer. Sets inl. */
void weft__shmc_publish(weft__shmc_t *c, const void *src, size_t bytes);
/* Member r's data of this call (once it has arrived). */
const uint8_t *weft__shmc_data(const weft__shmc_t *c, int r);

/* WEFT_AVG (float32/float64, allreduce): divide count reduced elements
 * at dst by the rank count, before anyone copies them; else nothing. */
void weft__shmc_avg(const weft__shmc_t *c, void *dst, size_t count);
/* Reduce `count` elements at byte offset off of every member's data of
 * this call, in rank order, into dst (the same bits on every rank). */
void weft__shmc_reduce_bufs(weft__shmc_t *c, void *dst, size_t off,
                            size_t count);

/* 1 when a call that touches `footprint` bytes on each member of the
 * area's comm touches more, over the node's members, than the cache
 * holds (ar->cache, WEFT_SHM_COLL_CACHE): its results go around the
 * cache. */
int weft__shmc_streams(const weft__shm_area_t *ar, size_t footprint);
/* Copy n bytes of this call into place: around the cache
 * (weft__copy_stream) where weft__shmc_streams says so, else memcpy. (Two
 * ranks, alltoall, interleaved: 16 MiB 1956-2109 -> 1814-1930 us, 64 MiB
 * 9963-12786 -> 8460-9736; at 4 MiB, within the cache, the same.) */
void weft__shmc_copy(const weft__shmc_t *c, void *dst, const void *src,
                     size_t n, size_t footprint);

/* What a node-local algorithm does with data larger than the buffers. */
#define WEFT_SHMC_READS 1 /* reads the peers' memory (CMA) */
#define WEFT_SHMC_PIPES 2 /* pipes it through the buffers */
/* NULL when a node-local algorithm can run a call moving `buffered`
 * bytes per rank through the shared buffers (or, when they do not fit,
 * as `large` says), else why not. */
const char *weft__shmc_supported(const weft_comm_t *comm, size_t buffered,
                                 int large);
/* Two ranks that may read each other's memory move a call whose result
 * is larger than this with the kernel (one copy of the peer's data,
 * which its owner has not just written) rather than through the shared
 * buffers (its lines handed dirty from the other core). Measured with two
 * ranks at 64 KiB: allreduce 9.5-11.9 against 11.9-16.5 us, allgather and
 * alltoall 5.8-6.3 against 7.4-7.9; at 32 KiB the buffers were as fast or
 * faster. */
#define WEFT_SHMC_PAIR_BUFFERED_MAX 32768
/* Where the area measures (ar->measure_pair at two ranks, ar->measure at
 * more), an allgather or alltoall whose result is larger than this and
 * whose input fits the buffers (ar->fit) takes whichever form measured
 * faster instead (shm_form.h). The rule above was measured while
 * cross-core transfers were fast; while they are slow, reading wins from
 * 16 KiB (two ranks, allgather, 64 KiB: 6 against 20 us through the
 * buffers). Where ranks share cores the same flip shows (4 ranks,
 * alltoall of 32 KiB: 9 us through the buffers in a fast stretch, 24 in
 * a slow one, against Open MPI's 22 in both, whose single copies read
 * lines their owners had not just written; at 64 and 128 KiB, where 16
 * KiB blocks used to be read, the buffers took 16-18 against 22-24 us
 * and 24-26 against 32-34 in a fast stretch). */
#define WEFT_SHMC_FIT_MEASURE_MIN 8192
/* 1 when such a call (result: bytes of a rank's result; buffered: what
 * the buffers would hold) is measured. */
int weft__shmc_fit_measured(const weft__shm_area_t *ar, size_t buffered,
                            size_t result);
/* `buffered` (as above), or SIZE_MAX where the rule above sends the call
 * past the buffers: ar is the comm's area (NULL: none), result the bytes
 * of a rank's result. */
size_t weft__shmc_pair_buffered(const weft__shm_area_t *ar, size_t buffered,
                                size_t result);
/* `buffered` (as above) for a call other than allreduce, or SIZE_MAX
 * where it is more than such calls put through the buffers (ar->fit; ar:
 * the comm's area, NULL: none). */
size_t weft__shmc_fits(const weft__shm_area_t *ar, size_t buffered);
/* 1 when the call goes through the shared buffers. */
int weft__shmc_buffered(const weft_comm_t *comm, size_t buffered);
/* Modelled seconds: rounds of flag hand-offs, bytes copied, reduced. */
double weft__shmc_cost(const weft__cost_t *m, double rounds, double bytes,
                       double reduced);

#endif /* WEFT_SHM_COMMON_H */
