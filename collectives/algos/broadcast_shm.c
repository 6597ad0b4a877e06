/*
 * Broadcast, node-local (shared memory; protocol in collectives/shm_area.h).
 * Small data (WEFT_SHM_QBYTES): the root queues it and goes on without
 * waiting for anyone, up to WEFT_SHM_QDEPTH calls ahead of the slowest
 * reader; the others copy it out of the root's queue slot. Data that fits
 * the shared buffers: the root copies it into its buffer and goes on once
 * every member has reached the previous call; the others copy it out
 * once it is announced. Larger: piped through the root's buffers (where
 * the kernel refuses reads of other processes, or WEFT_SHM_COLL_LARGE
 * says so), or copied by the kernel, the readers and the root sharing
 * the work (bc_large), or, where the node has more ranks than cores,
 * whichever of the two measured faster (shm_form.h), as are calls past
 * 8 KiB up to WEFT_SHMC_FIT_BCAST_AUTO there (bc_measured). Two ranks
 * take bc_large from BC_READ_MIN already: one copy instead of two in a
 * row.
 */
#include "build_config.h"
#include "collectives/algos/shm_common.h"

#include <string.h>

#include "collectives/algos/shm_form.h"
#include "collectives/coll_desc.h"
#include "comm.h"
#include "context.h"

enum { BC_ENTER, BC_COPY, BC_PIPE, BC_DONE };

/* Two ranks: from this size the kernel's one copy (each rank copying
 * half) beats the root's copy into its buffer followed by the reader's
 * copy out of it. Measured (2 ranks, 2 cores, interleaved, µs): 16 KiB
 * 1.9 through the buffer against 2.8 read, 32 KiB 3.9 against 3.5, 64 KiB
 * 7.6 against 4.5, 128 KiB 14.8 against 6.9. At 4 and 8 ranks on 2 cores
 * reading is 2-3x slower (each reader's system calls and page pinning
 * take turns on the cores), so they keep the buffers. */
#define BC_READ_MIN ((size_t)32 * 1024)

/* What a queued call could do at once (bc_queued_try). */
enum { BCQ_WAIT, BCQ_DONE, BCQ_OTHER };

/* Call d of a queued broadcast (desc), as far as it goes at once: the
 * root puts its data into its slot once that is free, and finds no other
 * member that announced call d as another call; a reader copies the
 * root's slot once it holds call d as this rank made it. BCQ_DONE;
 * BCQ_WAIT for member *who_p; BCQ_OTHER where member *who_p made another
 * call (its descriptor in *theirs_p). A root's slot holds the data from
 * its first try: a later one writes the same again. */
static int
bc_queued_try(weft__shm_area_t *ar, uint64_t d, int root,
              const uint64_t desc[2], void *buf, size_t bytes, int *who_p,
              const uint64_t **theirs_p)
{
    const weft__shm_qslot_t *q;

    if (ar->rank == root) {
        if (!weft__shm_area_qslot_free(ar, d, who_p)) {
            return BCQ_WAIT;
        }
        weft__shm_area_qput(ar, d, desc, buf, bytes);
        *who_p = weft__shm_area_other_call(ar, d, desc, theirs_p);
        return *who_p < 0 ? BCQ_DONE : BCQ_OTHER;
    }
    *who_p = root;
    if (!weft__shm_area_qready(ar, root, d)) {
        return BCQ_WAIT;
    }
    q = weft__shm_area_qslot(ar, root, d);
    if (q->head.desc[0] != desc[0] || q->head.desc[1] != desc[1]) {
        *theirs_p = q->head.desc;
        return BCQ_OTHER;
    }
    memcpy(buf, weft__shmc_inline(bytes) ? q->head.u.data : q->data, bytes);
    return BCQ_DONE;
}

static int
bc_queued(weft__shmc_t *c)
{
    weft__shm_area_t *ar = c->ar;
    size_t bytes = c->a.count * c->a.esize;
    int root = c->a.root, who = -1;
    const uint64_t *theirs = NULL;
    uint64_t fin = 0;

    /* a reader looks at the slot alone first: the root's fin, which it
     * writes every call, is a line more to fetch; then at the root's fin
     * and the slot again (a root that has finished this call has written
     * its slot or head before) */
    for (int look = 0; look < 2; look++) {
        switch (bc_queued_try(ar, c->d, root, c->desc, c->a.recvbuf, bytes,
                              &who, &theirs)) {
        case BCQ_DONE:
            weft__shmc_finish(c);
            weft__shm_area_wake(ar); /* its fin may free a root's slot */
            return 1;
        case BCQ_OTHER:
            return weft__shmc_compare(c, who, theirs);
        default:
            break;
        }
        if (ar->rank == root) {
            c->missing = who;
            c->wait = "rank %d to finish the call that used this rank's "
                      "broadcast queue slot before";
            return 0;
        }
        if (look == 0) {
            fin =
                atomic_load_explicit(&ar->ctl[root]->fin, memory_order_acquire);
        }
    }
    /* the root made another call: announced in its head, or finished
     * without either (a broadcast from another root) */
    if (weft__shm_area_head_is(ar, root, c->d)) {
        return weft__shmc_compare(c, root,
                                  weft__shm_area_head(ar, root, c->d)->desc);
    }
    if (fin >= c->d) {
        return weft__shmc_compare(c, root, NULL);
    }
    c->missing = root;
    c->wait = "rank %d (the root) to broadcast";
    return 0;
}

/* A queued broadcast that completes at once (bc_queued_try), without
 * weft__shmc_run's state and wait. Where ranks share cores a loop of
 * small broadcasts mostly finds that, and the state was a fifth of a
 * call's instructions. 1 when done; 0 leaves the call to weft__shmc_run
 * whole, which tries again and reports what it finds. */
static int
bc_queued_now(const weft__coll_args_t *a, weft_comm_t *comm)
{
    weft__shm_area_t *ar = comm->shm;
    size_t bytes = a->count * a->esize;
    const uint64_t *theirs = NULL;
    weft__coll_desc_t desc;
    uint64_t d;
    int who;

    if (ar == NULL || ar->run_d != ar->next_d || bytes > WEFT_SHM_QBYTES) {
        return 0;
    }
    d = ar->next_d;
    weft__coll_desc_make(&desc, a, a->dtype, a->op);
    if (bc_queued_try(ar, d, a->root, desc.w, a->recvbuf, bytes, &who,
                      &theirs) != BCQ_DONE) {
        return 0;
    }
    ar->next_d = ar->run_d = d + 1;
    weft__shm_area_finish(ar, d);
    weft__shm_area_wake(ar); /* a fin may free a root's slot */
    return 1;
}

static int
bc_small(weft__shmc_t *c)
{
    int rc;
    weft__shm_area_t *ar = c->ar;
    size_t bytes = c->a.count * c->a.esize;
    int root = c->a.root;

    if (ar->rank == root) {
        weft__shmc_publish(c, c->a.recvbuf, bytes);
        if ((rc = weft__shmc_sole_root(c)) != 1) {
            return rc;
        }
        weft__shmc_finish(c);
        return 1;
    }
    if (c->phase == BC_ENTER) {
        weft__shm_area_arrive(ar, c->d, c->desc, NULL, NULL, NULL);
        c->inl = weft__shmc_inline(bytes);
        c->phase = BC_COPY;
    }
    if ((rc = weft__shmc_arrived_one(c, root)) <= 0) {
        return rc;
    }
    memcpy(c->a.recvbuf, weft__shmc_data(c, root), bytes);
    weft__shmc_finish(c);
    return 1;
}

/* Larger than a buffer, piped: the root copies piece k into slot k %
 * depth of its ring once every reader has taken piece k - depth; the
 * readers copy the pieces out as they come. */
static int
bc_piped(weft__shmc_t *c)
{
    weft__shm_area_t *ar = c->ar;
    size_t bytes = c->a.count * c->a.esize, slot = weft__shmc_ring_slot(c, 64);
    size_t n = (bytes + slot - 1) / slot, depth = 2 * ar->buf / slot;
    uint8_t *buf = c->a.recvbuf, *ring = weft__shm_area_ring(ar, c->a.root);
    int rc, root = ar->rank == c->a.root;

    if (c->phase == BC_ENTER) {
        weft__shm_area_arrive(ar, c->d, c->desc, NULL, NULL, NULL);
        c->phase = BC_COPY;
    }
    if (c->phase == BC_COPY) {
        /* the root's ring overwrites both its buffers: every member must
         * have finished the call before (reached this one) */
        rc = root ? weft__shmc_arrived(c, c->d)
                  : weft__shmc_arrived_one(c, c->a.root);
        if (rc <= 0) {
            return rc;
        }
        c->phase = BC_PIPE;
    }
    for (; c->piece < n; c->piece++) {
        size_t off = c->piece * slot;
        size_t len = bytes - off < slot ? bytes - off : slot;
        uint8_t *at = ring + (c->piece % depth) * slot;

        if (root) {
            if (c->piece >= depth &&
                !weft__shmc_taken(c, c->piece + 1 - depth)) {
                return 0;
            }
            memcpy(at, buf + off, len);
            weft__shm_area_progress(ar, WEFT_SHM_PROG(c->d, c->piece + 1));
        } else {
            if (!weft__shmc_piece_ready(c, c->a.root, c->piece + 1)) {
                return 0;
            }
            memcpy(buf + off, at, len);
            weft__shm_area_consumed(ar, WEFT_SHM_PROG(c->d, c->piece + 1));
        }
    }
    if (root && !weft__shmc_taken(c, n)) {
        return 0;
    }
    weft__shmc_finish(c);
    return 1;
}

/* Where the root's share begins (see bc_large): the last 1/size of the
 * data, cache-line aligned. */
static size_t
bc_split(const weft__shmc_t *c)
{
    size_t bytes = c->a.count * c->a.esize;
    size_t lo = bytes - bytes / (size_t)c->ar->size;

    lo = (lo + 63) & ~(size_t)63;
    return lo < bytes ? lo : bytes;
}

/* Copy [from, to) between this rank's buffer and member r's (whose
 * address is in its head), piece by piece: read or write. */
static weft_status_t
bc_copy(weft__shmc_t *c, int r, size_t from, size_t to, int write, char *why,
        size_t why_len)
{
    size_t piece = c->chunk * c->a.esize;
    uint64_t theirs = weft__shm_area_head(c->ar, r, c->d)->u.at.rbuf;
    char *mine = c->a.recvbuf;

    for (size_t off = from; off < to; off += piece) {
        size_t n = to - off < piece ? to - off : piece;
        weft_status_t st =
            write ? weft__shm_area_write(c->ar, r, mine + off, theirs + off, n,
                                         why, why_len)
                  : weft__shm_area_read(c->ar, r, mine + off, theirs + off, n,
                                        why, why_len);

        if (st != WEFT_OK) {
            return st;
        }
    }
    return WEFT_OK;
}

/* Larger than a buffer, copied by the kernel (process_vm_readv/writev):
 * every reader reads the data up to bc_split from the root's buffer while
 * the root writes the rest into every reader's buffer, so the root's core
 * copies too (each rank copies (size - 1) / size of the data; with two
 * ranks each copies half, at the same time). A reader is done once the
 * root is; the root once every reader is (its buffer is the caller's
 * again). */
static int
bc_large(weft__shmc_t *c, char *why, size_t why_len)
{
    weft__shm_area_t *ar = c->ar;
    size_t bytes = c->a.count * c->a.esize, split = bc_split(c);
    int rc, root = c->a.root;
    weft_status_t st;

    if (c->phase == BC_ENTER) {
        weft__shm_area_arrive(ar, c->d, c->desc, c->a.recvbuf, c->a.recvbuf,
                              NULL);
        c->phase = BC_COPY;
    }
    if (c->phase == BC_COPY) {
        rc = ar->rank == root ? weft__shmc_arrived(c, c->d)
                              : weft__shmc_arrived_one(c, root);
        if (rc <= 0) {
            return weft__shmc_result(c, rc, why, why_len);
        }
        for (int i = 1; ar->rank == root && i < ar->size; i++) {
            st = bc_copy(c, (root + i) % ar->size, split, bytes, 1, why,
                         why_len);
            if (st != WEFT_OK) {
                return st;
            }
        }
        if (ar->rank != root &&
            (st = bc_copy(c, root, 0, split, 0, why, why_len)) != WEFT_OK) {
            return st;
        }
        weft__shm_area_done(ar, c->d);
        c->phase = BC_DONE;
    }
    if (ar->rank == root) {
        if (!weft__shmc_all_done(c)) {
            return 0;
        }
    } else if (atomic_load_explicit(&ar->ctl[root]->done,
                                    memory_order_acquire) < c->d) {
        c->missing = root;
        c->wait = "rank %d (the root) to write its share";
        return 0;
    }
    weft__shmc_finish(c);
    return 1;
}

/* Ranks sharing cores, past 8 KiB within ar->fit_bcast: whichever of
 * the buffers and reading measured faster (4 ranks, 64 KiB, interleaved:
 * 11.0-11.4 us through the buffers against 12.3-12.6 read where a line
 * crosses cores in 0.05 us, 35.6-36.9 against 31.5-32.0 where it takes
 * 0.25). Two ranks keep BC_READ_MIN. */
static int
bc_measured(const weft__shm_area_t *ar, size_t bytes)
{
    return ar != NULL && ar->size > 2 && ar->measure &&
           bytes > WEFT_SHMC_FIT_MEASURE_MIN && bytes <= ar->fit_bcast;
}

/* Shared-buffer bytes a call needs, or SIZE_MAX past the buffers. */
static size_t
bc_buffered(const weft__coll_args_t *a, const weft__shm_area_t *ar)
{
    size_t bytes = a->count * a->esize;

    return bc_measured(ar, bytes) ? bytes : weft__shmc_fits(ar, bytes);
}

static int
broadcast_shm_poll(void *state, char *why, size_t why_len)
{
    weft__shmc_t *c = state;

    if (c->a.count * c->a.esize <= WEFT_SHM_QBYTES) {
        /* in call order here; nobody else is waited for */
        if (c->ar->run_d != c->d) {
            return 0;
        }
        return weft__shmc_result(c, bc_queued(c), why, why_len);
    }
    if (!weft__shmc_turn(c)) {
        return 0;
    }
    if (bc_measured(c->ar, c->a.count * c->a.esize)) {
        return weft__shmc_form_run(c, 1, WEFT_SHM_FORM_BROADCAST,
                                   c->a.count * c->a.esize, bc_small, bc_large,
                                   why, why_len);
    }
    if (weft__shmc_fits(c->ar, c->a.count * c->a.esize) <= c->ar->buf &&
        (c->ar->size > 2 || c->pipe || c->a.count * c->a.esize < BC_READ_MIN)) {
        return weft__shmc_result(c, bc_small(c), why, why_len);
    }
    return weft__shmc_form_run(c, c->ar->measure, WEFT_SHM_FORM_BROADCAST,
                               c->a.count * c->a.esize, bc_piped, bc_large, why,
                               why_len);
}

static const weft__sched_poll_ops_t broadcast_shm_ops = {
    .poll = broadcast_shm_poll,
    .describe = weft__shmc_describe,
};

static weft_status_t
broadcast_shm_build(weft__sched_t *s, const weft__coll_args_t *a)
{
    if (a->count > 0) {
        weft__shmc_build(s, a, sizeof(weft__shmc_t), &broadcast_shm_ops, 0);
    }
    return WEFT_OK;
}

static const char *
broadcast_shm_supported(const weft__coll_args_t *a, const weft_comm_t *comm)
{
    return weft__shmc_supported(comm, bc_buffered(a, comm->shm),
                                WEFT_SHMC_READS | WEFT_SHMC_PIPES);
}

static double
broadcast_shm_cost(const weft__coll_args_t *a, const weft__cost_t *m)
{
    return weft__shmc_cost(m, 1, (double)(a->count * a->esize), 0);
}

static weft_status_t
broadcast_shm_run(const weft__coll_args_t *a, weft_comm_t *comm)
{
    if (a->count == 0) {
        return WEFT_OK; /* nothing moves, as the schedule would do */
    }
    if (bc_queued_now(a, comm)) {
        return WEFT_OK;
    }
    return weft__shmc_run(a, comm, &broadcast_shm_ops, sizeof(weft__shmc_t),
                          bc_buffered(a, comm->shm));
}

const weft__algo_t weft__algo_broadcast_shm = {
    .name = "shm",
    .coll = WEFT_COLL_BROADCAST,
    .supported = broadcast_shm_supported,
    .cost = broadcast_shm_cost,
    .build = broadcast_shm_build,
    .run = broadcast_shm_run,
};
