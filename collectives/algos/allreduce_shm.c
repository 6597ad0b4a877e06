/*
 * Allreduce, node-local (shared memory; protocol in collectives/shm_area.h).
 *
 * Small data: every rank copies its input into its shared buffer and
 * announces it; once all have, every rank reduces all of them, in rank
 * order, into its result: one hand-off, the same bits everywhere.
 *
 * Data that fits the shared buffers otherwise: every rank copies its input
 * into its buffer; once all have, each reduces its own slice of every
 * buffer into the end of its buffer and publishes it; each then copies
 * the slices out as they are published. Each rank reads the vector about
 * twice instead of once per rank.
 *
 * Larger data: each rank owns one block of the vector. It reduces its
 * block piece by piece (WEFT_COLL_CHUNK), reading the peers' inputs
 * straight from their memory (process_vm_readv, one copy) into a piece of
 * scratch that stays in cache, into its own result buffer. Then:
 *
 * - two ranks: it writes each finished piece, still in cache, straight
 *   into the peer's result buffer (process_vm_writev), and each waits
 *   for the other's `done`. Each rank reads the vector once and writes it
 *   once, and nobody waits for a piece. (Measured against each rank
 *   reducing the whole vector itself, which reads it twice: 16 MiB 3.6
 *   against 4.6 ms, 2 MiB 220 against 265 us; in place, where the halves
 *   were gathered by reading, 256 KiB 27-41 against 66-72 us.) In place,
 *   the piece written into the peer's buffer is one the owner has just
 *   read, and that only it reads.
 * - more ranks, and a partition followed by more of the same call (which
 *   finishes without waiting for its peers): it publishes each finished
 *   piece; then it copies the other blocks, piece by piece as their
 *   owners publish them, from the owners' result buffers, or, where a
 *   block fits a shared buffer, from the owner's shared buffer, where
 *   the owner put a copy (ar_slices_buffered). (Writing to every peer
 *   instead measured no better at 4 ranks on 2 cores and 23% slower at
 *   8 ranks, 4 MiB.) In place, a rank overwrites the peers' block of its
 *   buffer only after the owner has published that piece, i.e. has read
 *   it.
 *
 * Or, where the node has more ranks than cores (or the kernel refuses
 * reads, or WEFT_SHM_COLL_LARGE=pipe), larger data goes as a series of
 * calls that fit the buffers (ar_pipe_count). Where the node has more
 * ranks than cores and the kernel allows reads, calls from 64 KiB take
 * the form measured faster (ar_measured, shm_form.h): through the
 * buffers, or reading as above.
 */
#include "build_config.h"
#include "collectives/algos/shm_common.h"

#include <stdio.h>
#include <string.h>

#include "collectives/algos/shm_form.h"
#include "collectives/reduce_ops.h"
#include "comm.h"
#include "context.h"
#include "copy.h"

enum { AR_ENTER, AR_REDUCE, AR_BLOCK, AR_GATHER, AR_DONE };

static const void *
ar_input(const weft__coll_args_t *a)
{
    return a->inplace ? a->recvbuf : a->sendbuf;
}

/* Every rank reduces everything while the extra reads cost less than a
 * second hand-off: (size - 1) * bytes up to this. */
#define AR_TINY_EXTRA 16384

static int
ar_tiny(const weft__coll_args_t *a, int size)
{
    return size == 2 ||
           a->count * a->esize * (size_t)(size - 1) <= AR_TINY_EXTRA;
}

/* Two ranks (ar_scatters) on a call larger than the cache (WEFT_SHM_COLL_
 * CACHE, over the node's ranks: input and result on each): each piece is
 * reduced into scratch, still in cache, written from there into the
 * peer's result, and streamed into this rank's result (weft__copy_stream)
 * instead of being reduced into it: its lines are not read before they
 * are written. */
static int
ar_streams(const weft__coll_args_t *a, const weft__shm_area_t *ar)
{
    return ar->size == 2 && !a->part_follows &&
           weft__shmc_streams(ar, 2 * a->count * a->esize);
}

/* Two ranks: each owner writes its block into the peer's result (see the
 * top of the file), so the peer's result is whole only once the owner is
 * done. Not for a partition followed by more of the same call: that one
 * finishes without waiting for the peer (weft__coll_args_t.part_follows),
 * so it gathers what it needs itself. */
static int
ar_scatters(const weft__shmc_t *c)
{
    return c->ar->size == 2 && !c->a.part_follows;
}

/* More ranks, when a rank's block fits its shared buffer: each owner also
 * copies its finished pieces into its buffer, and the others copy them
 * from there instead of reading the owner's result with the kernel. That
 * is a system call less per piece and peer (and no page pinning in the
 * owner), and no wait at the end: once a rank has every block, every
 * peer has published all of its own, so has read this rank's input
 * for the last time. (Against reading: 8 ranks on 2 cores, 128 KiB
 * buffers, 128 KiB 252 -> 176 us, 256 KiB 345 -> 250, 512 KiB 600 -> 470;
 * 4 ranks 77 -> 55, 125 -> 88, 213 -> 155.) */
static int
ar_slices_buffered(const weft__shmc_t *c)
{
    size_t off, len;

    weft__block(c->a.count, c->ar->size, 0, &off, &len); /* the largest */
    return !ar_scatters(c) && len * c->a.esize <= c->ar->buf;
}

/* Where piece k of rank r's block lies in r's shared buffer. */
static uint8_t *
ar_slot(const weft__shmc_t *c, int r, size_t k)
{
    return weft__shm_area_buf(c->ar, r, c->d) + k * c->chunk * c->a.esize;
}

/* Shared-buffer bytes a call needs: the input, plus (unless tiny) room for
 * the slice a rank reduces, cache-line aligned; SIZE_MAX where two ranks
 * read each other instead (weft__shmc_pair_buffered). ar: the comm's. */
static size_t
ar_buffered(const weft__coll_args_t *a, const weft__shm_area_t *ar, int size)
{
    size_t bytes = a->count * a->esize, off, len, need = bytes;

    if (!ar_tiny(a, size)) {
        weft__block(a->count, size, 0, &off, &len); /* the largest slice */
        need = ((bytes + 63) & ~(size_t)63) + len * a->esize;
    }
    return weft__shmc_pair_buffered(ar, need, bytes);
}

static int
ar_small(weft__shmc_t *c)
{
    int rc;
    weft__shm_area_t *ar = c->ar;
    const weft__coll_args_t *a = &c->a;
    size_t bytes = a->count * a->esize;
    size_t res = (bytes + 63) & ~(size_t)63; /* our slice's result */

    if (c->phase == AR_ENTER) {
        if (ar_tiny(a, ar->size)) {
            weft__shmc_publish(c, ar_input(a), bytes);
        } else {
            memcpy(weft__shm_area_buf(ar, ar->rank, c->d), ar_input(a), bytes);
            weft__shm_area_arrive(ar, c->d, c->desc, NULL, NULL, NULL);
        }
        c->phase = AR_REDUCE;
    }
    if (c->phase == AR_REDUCE) {
        size_t off, len;

        if ((rc = weft__shmc_arrived(c, c->d)) <= 0) {
            return rc;
        }
        if (ar_tiny(a, ar->size)) {
            weft__shmc_reduce_bufs(c, a->recvbuf, 0, a->count);
            weft__shmc_avg(c, a->recvbuf, a->count);
            weft__shmc_finish(c);
            return 1;
        }
        weft__block(a->count, ar->size, ar->rank, &off, &len);
        weft__shmc_reduce_bufs(c, weft__shm_area_buf(ar, ar->rank, c->d) + res,
                               off * a->esize, len);
        weft__shmc_avg(c, weft__shm_area_buf(ar, ar->rank, c->d) + res, len);
        weft__shm_area_progress(ar, WEFT_SHM_PROG(c->d, 1));
        c->phase = AR_GATHER;
        c->peer = 0;
    }
    /* every slice, ours too, from where its owner put it */
    for (; c->peer < ar->size; c->peer++) {
        int r = (ar->rank + c->peer) % ar->size;
        size_t off, len;

        if (!weft__shmc_piece_ready(c, r, 1)) {
            return 0;
        }
        weft__block(a->count, ar->size, r, &off, &len);
        /* the footprint of the whole call, input and result (of all the
         * pieces of a piped one: desc holds the count called) */
        weft__shmc_copy(c, (char *)a->recvbuf + off * a->esize,
                        weft__shm_area_buf(ar, r, c->d) + res, len * a->esize,
                        2 * (size_t)c->desc[0] * a->esize);
    }
    weft__shmc_finish(c);
    return 1;
}

/* Scratch bytes of a piece: the chunk in whole elements and one more,
 * to a cache line. A second one, at AR_TMP(c), holds a streaming call's
 * sum (two ranks), or the ranks before this one (more ranks). */
#define AR_TMP_BYTES(_chunk, _esize) (((_chunk) + (_esize) + 63) & ~(size_t)63)
#define AR_TMP(_c)                   AR_TMP_BYTES((_c)->chunk *(_c)->a.esize, (_c)->a.esize)

/* Elements [*off_p, +*len_p) of piece k of rank r's block. */
static void
ar_piece(const weft__shmc_t *c, int r, size_t k, size_t *off_p, size_t *len_p)
{
    size_t boff, blen;

    weft__block(c->a.count, c->ar->size, r, &boff, &blen);
    *off_p = boff + k * c->chunk;
    *len_p = blen - k * c->chunk < c->chunk ? blen - k * c->chunk : c->chunk;
}

static size_t
ar_pieces(const weft__shmc_t *c, int r)
{
    size_t boff, blen;

    weft__block(c->a.count, c->ar->size, r, &boff, &blen);
    return (blen + c->chunk - 1) / c->chunk;
}

/* Pieces a pair reduces per poll: a progress call does a bounded amount
 * of work (a caller that drives progress between pieces of its own
 * computation gets the reduction spread over its calls, not in one lump
 * that overruns them); blocking waits and the progress thread poll again
 * at once. */
#define AR_POLL_PIECES 1

/* Bytes [off * esize, + bytes) of member r's input, read into dst. */
static weft_status_t
ar_read_input(weft__shmc_t *c, int r, void *dst, size_t off, size_t bytes,
              char *why, size_t why_len)
{
    return weft__shm_area_read(c->ar, r, dst,
                               weft__shm_area_head(c->ar, r, c->d)->u.at.sbuf +
                                   off * c->a.esize,
                               bytes, why, why_len);
}

/* Reduce this rank's block, piece by piece. */
static int
ar_reduce_block(weft__shmc_t *c, char *why, size_t why_len)
{
    weft__shm_area_t *ar = c->ar;
    const weft__coll_args_t *a = &c->a;
    size_t n = ar_pieces(c, ar->rank);
    size_t stop = c->piece + AR_POLL_PIECES;

    for (; c->piece < n; c->piece++) {
        size_t off, len, bytes;
        char *dst, *acc;
        const char *mine;
        int first = 1;

        if (c->piece == stop && c->bounded) {
            return WEFT_SCHED_POLL_MOVED;
        }

        ar_piece(c, ar->rank, c->piece, &off, &len);
        bytes = len * a->esize;
        dst = (char *)a->recvbuf + off * a->esize;
        acc = ar_streams(a, ar) ? (char *)c->tmp + AR_TMP(c) : dst;
        mine = (const char *)ar_input(a) + off * a->esize;
        /* in rank order, as through the buffers (weft__shmc_reduce_bufs),
         * so that either form of a call gives the same bits: the ranks
         * before this one gather in the second scratch (acc may be this
         * rank's input, in place); with two ranks, x1 op x0 is x0 op x1 */
        if (ar->size > 2 && ar->rank > 0) {
            char *before = (char *)c->tmp + AR_TMP(c);
            weft_status_t st;

            for (int r = 0; r < ar->rank; r++) {
                if ((st = ar_read_input(c, r, r == 0 ? before : c->tmp, off,
                                        bytes, why, why_len)) != WEFT_OK) {
                    return st;
                }
                if (r > 0) {
                    weft__reduce(a->dtype, a->op, before, c->tmp, len);
                }
            }
            weft__reduce3(a->dtype, a->op, acc, before, mine, len);
            first = 0;
        }
        for (int r = ar->size > 2 ? ar->rank + 1 : 0; r < ar->size; r++) {
            weft_status_t st;

            if (r == ar->rank) {
                continue;
            }
            if ((st = ar_read_input(c, r, c->tmp, off, bytes, why, why_len)) !=
                WEFT_OK) {
                return st;
            }
            if (first) {
                weft__reduce3(a->dtype, a->op, acc, mine, c->tmp, len);
                first = 0;
            } else {
                weft__reduce(a->dtype, a->op, acc, c->tmp, len);
            }
        }
        weft__shmc_avg(c, acc, len);
        if (acc != dst) {
            weft__copy_stream(dst, acc, bytes);
        }
        if (!ar_scatters(c)) {
            if (ar_slices_buffered(c)) {
                memcpy(ar_slot(c, ar->rank, c->piece), dst, bytes);
            }
            weft__shm_area_progress(ar, WEFT_SHM_PROG(c->d, c->piece + 1));
            continue;
        }
        for (int r = 0; r < ar->size; r++) {
            weft_status_t st;

            if (r == ar->rank) {
                continue;
            }
            st = weft__shm_area_write(
                ar, r, acc,
                weft__shm_area_head(ar, r, c->d)->u.at.rbuf + off * a->esize,
                bytes, why, why_len);
            if (st != WEFT_OK) {
                return st;
            }
        }
    }
    return 1;
}

/* Copy the other blocks as their owners publish them. */
static int
ar_gather(weft__shmc_t *c, char *why, size_t why_len)
{
    weft__shm_area_t *ar = c->ar;
    const weft__coll_args_t *a = &c->a;
    int budget = AR_POLL_PIECES;

    for (; c->peer < ar->size - 1; c->peer++, c->piece = 0) {
        int r = (ar->rank + 1 + c->peer) % ar->size;
        size_t n = ar_pieces(c, r);

        for (; c->piece < n; c->piece++) {
            size_t off, len;
            weft_status_t st;

            if (budget-- == 0 && c->bounded) {
                return WEFT_SCHED_POLL_MOVED;
            }
            if (!weft__shmc_piece_ready(c, r, c->piece + 1)) {
                return 0;
            }
            ar_piece(c, r, c->piece, &off, &len);
            if (ar_slices_buffered(c)) {
                memcpy((char *)a->recvbuf + off * a->esize,
                       ar_slot(c, r, c->piece), len * a->esize);
                continue;
            }
            st = weft__shm_area_read(
                ar, r, (char *)a->recvbuf + off * a->esize,
                weft__shm_area_head(ar, r, c->d)->u.at.rbuf + off * a->esize,
                len * a->esize, why, why_len);
            if (st != WEFT_OK) {
                return st;
            }
        }
    }
    return 1;
}

static int
ar_large(weft__shmc_t *c, char *why, size_t why_len)
{
    int rc;

    switch (c->phase) {
    case AR_ENTER:
        weft__shm_area_arrive(c->ar, c->d, c->desc, ar_input(&c->a), c->a.recvbuf,
                              NULL);
        c->phase = AR_REDUCE;
        /* fall through */
    case AR_REDUCE:
        if ((rc = weft__shmc_arrived(c, c->d)) <= 0) {
            return rc;
        }
        c->phase = AR_BLOCK;
        c->piece = 0;
        /* fall through */
    case AR_BLOCK:
        rc = ar_reduce_block(c, why, why_len);
        if (rc != 1) {
            return rc;
        }
        c->phase = AR_GATHER;
        c->piece = 0;
        c->peer = 0;
        /* fall through */
    case AR_GATHER:
        /* written by the peer already when it scatters */
        rc = ar_scatters(c) ? 1 : ar_gather(c, why, why_len);
        if (rc != 1) {
            return rc;
        }
        weft__shm_area_done(c->ar, c->d);
        c->phase = AR_DONE;
        /* fall through */
    default:
        /* done counts are monotonic: the wait of a later partition of the
         * same call covers this one; nobody reads this rank's memory any
         * more once it has every block from the buffers */
        if (!c->a.part_follows && !ar_slices_buffered(c) &&
            !weft__shmc_all_done(c)) {
            return 0;
        }
        weft__shmc_finish(c);
        return 1;
    }
}

/* Calls of at least this many bytes measure their form where the area
 * says so (ar->measure, shm_form.h). */
#define AR_MEASURE_MIN 65536

/* A measured call takes one of two forms, agreed at its first piece's
 * turn: through the buffers, piece by piece as before (ar_small each, the
 * pieces of ar_pipe_count); or reading, the whole call at once (ar_large),
 * as the first piece, which then counts the others as done (ar_skip). For
 * call c, whose turn has come: 1 when it is measured (ar->call says how),
 * 0 when the size decides, or a failure. */
static int
ar_measured(weft__shmc_t *c, char *why, size_t why_len)
{
    weft__coll_args_t *a = &c->a;
    size_t called = (size_t)c->desc[0] * a->esize;
    int form, first;

    if (!c->ar->measure || a->part_follows || called < AR_MEASURE_MIN) {
        return 0;
    }
    /* the first piece is a whole one (ar_pipe_count) */
    form =
        weft__shmc_form(c, WEFT_SHM_FORM_ALLREDUCE, called,
                        ((size_t)c->desc[0] + a->count - 1) / a->count, &first);
    if (form < 0) {
        return WEFT_ERR_MISMATCH;
    }
    if (first && form == WEFT_SHM_FORM_READS) {
        a->count = (size_t)c->desc[0]; /* its buffers start the call's */
        c->tmp = weft__shmc_form_scratch(
            c->ar, 2 * AR_TMP_BYTES(c->chunk * a->esize, a->esize));
        if (c->tmp == NULL) {
            snprintf(why, why_len,
                     "out of memory for the scratch of an allreduce of %zu "
                     "bytes",
                     called);
            return WEFT_ERR_NO_MEMORY;
        }
    }
    return 1;
}

/* The measured call that c began was read whole: its other pieces' numbers
 * are finished here too, and a blocking call (which numbers its pieces as
 * it runs them, ar_pipe_run) does not run them. */
static void
ar_skip(weft__shmc_t *c)
{
    weft__shm_area_t *ar = c->ar;

    if (ar->call.end > c->d + 1) {
        ar->run_d = ar->call.end;
        if (ar->next_d < ar->call.end) {
            ar->next_d = ar->call.end;
        }
        weft__shm_area_finish(ar, ar->call.end - 1);
    }
}

static int
ar_measured_poll(weft__shmc_t *c, char *why, size_t why_len)
{
    int reads = c->ar->call.form == WEFT_SHM_FORM_READS;
    int rc = reads ? ar_large(c, why, why_len) : ar_small(c);

    if (rc == 1 && (reads || c->d + 1 == c->ar->call.end)) {
        if (reads) {
            ar_skip(c);
        }
        weft__shmc_form_done(c, reads ? WEFT_SHM_FORM_READS
                                      : WEFT_SHM_FORM_BUFFERS);
    }
    return weft__shmc_result(c, rc, why, why_len);
}

static int
allreduce_shm_poll(void *state, char *why, size_t why_len)
{
    weft__shmc_t *c = state;
    int rc;

    if (c->d < c->ar->run_d) {
        return 1; /* a piece of a measured call that was read whole */
    }
    if (!weft__shmc_turn(c)) {
        return 0;
    }
    if ((rc = ar_measured(c, why, why_len)) != 0) {
        return rc < 0 ? weft__shmc_result(c, rc, why, why_len)
                      : ar_measured_poll(c, why, why_len);
    }
    if (ar_buffered(&c->a, c->ar, c->ar->size) <= c->ar->buf) {
        return weft__shmc_result(c, ar_small(c), why, why_len);
    }
    /* a disagreement found on the way keeps its reason */
    return weft__shmc_result(c, ar_large(c, why, why_len), why, why_len);
}

static const weft__sched_poll_ops_t allreduce_shm_ops = {
    .poll = allreduce_shm_poll,
    .describe = weft__shmc_describe,
};

/* ---- larger than the buffers, piped ----
 *
 * A call that does not fit the shared buffers runs as a series of
 * node-local calls that do (ar_small), one after another, instead of
 * reading the peers' memory (ar_large): where the kernel refuses the
 * reads, when told (WEFT_SHM_COLL_LARGE=pipe; two ranks with reads allowed
 * read all the same, see ar_scatters), and by default at 3 ranks and more
 * where the node has more ranks than cores, where the call reads instead
 * only if measuring says so (ar_measured). There the reads' system calls
 * and page pinning take the cores the ranks share, and cost more than the
 * extra copy into the buffers, or less, as the machine's state changes.
 * (Against reading the blocks, 128 KiB
 * buffers, 8 ranks on 2 cores: 128 KiB 170 -> 77 us, 256 KiB 235 -> 140,
 * 1 MiB 755 -> 570, 8 MiB 10.4 -> 7.2 ms. At 4 ranks it ranged from 20%
 * faster to 2x slower as the machine's load changed; with the 1 MiB
 * buffers such nodes get (WEFT_SHM_COLL_BUF) it measured 31 against
 * 77 us at 128 KiB, 92 against 205 at 512 KiB, 491 against 762 at
 * 2 MiB.) */

/* Elements per piece of a piped call (the pieces as even as may be), or 0
 * where the call is not piped; buffered: its ar_buffered. */
static size_t
ar_pipe_count(const weft__coll_args_t *a, const weft_comm_t *comm,
              size_t buffered)
{
    const weft__shm_area_t *ar = comm->shm;
    int mode = comm->ctx->cfg.shm.coll_large;
    weft__coll_args_t p;
    size_t pieces;

    if (buffered <= ar->buf ||
        (ar->cma && (mode == WEFT_SHM_LARGE_READ || comm->size == 2 ||
                     (mode == WEFT_SHM_LARGE_AUTO &&
                      !comm->ctx->progress.oversubscribed)))) {
        return 0;
    }
    /* the most that fits: the input and its largest slice, each rounded
     * up to a cache line (ar_buffered), from just below */
    p = *a;
    p.count = (ar->buf - 128) / a->esize;
    if (comm->size > 2) {
        p.count = p.count / (size_t)(comm->size + 1) * (size_t)comm->size;
    }
    while (p.count > 1 && ar_buffered(&p, ar, comm->size) > ar->buf) {
        p.count--;
    }
    pieces = (a->count + p.count - 1) / p.count;
    return (a->count + pieces - 1) / pieces;
}

/* Elements [off, off + n) of the call a, at most: a piece of it. */
static weft__coll_args_t
ar_pipe_piece(const weft__coll_args_t *a, size_t off, size_t n)
{
    weft__coll_args_t p = *a;
    size_t skip = off * a->esize;

    p.count = a->count - off < n ? a->count - off : n;
    p.sendbuf = a->sendbuf != NULL ? (const char *)a->sendbuf + skip : NULL;
    p.recvbuf = a->recvbuf != NULL ? (char *)a->recvbuf + skip : NULL;
    return p;
}

static void
ar_pipe_build(weft__sched_t *s, const weft__coll_args_t *a, size_t n)
{
    for (size_t off = 0; off < a->count; off += n) {
        weft__coll_args_t p = ar_pipe_piece(a, off, n);

        weft__shmc_build_as(s, &p, a, sizeof(weft__shmc_t), &allreduce_shm_ops,
                            0);
        weft__sched_fence(s);
    }
}

/* Every piece inline; WEFT_INPROGRESS only when the first cannot run so
 * (the others then can: the first leaves no call queued). */
static weft_status_t
ar_pipe_run(const weft__coll_args_t *a, weft_comm_t *comm, size_t n)
{
    for (size_t off = 0; off < a->count; off += n) {
        weft__coll_args_t p = ar_pipe_piece(a, off, n);
        uint64_t d = comm->shm->next_d;
        weft_status_t st = weft__shmc_run_as(
            &p, a, comm, &allreduce_shm_ops, sizeof(weft__shmc_t),
            ar_buffered(&p, comm->shm, comm->size));

        if (st != WEFT_OK || comm->shm->next_d > d + 1) {
            return st; /* or the first piece took the whole call (ar_skip) */
        }
    }
    return WEFT_OK;
}

static weft_status_t
allreduce_shm_build(weft__sched_t *s, const weft__coll_args_t *a)
{
    weft_comm_t *comm = weft__sched_comm(s);
    size_t buffered = ar_buffered(a, comm->shm, comm->size);
    size_t tmp = weft__shmc_buffered(comm, buffered)
                     ? 0
                     : (ar_streams(a, comm->shm) || comm->size > 2 ? 2 : 1) *
                           AR_TMP_BYTES(comm->ctx->cfg.coll.chunk, a->esize);
    size_t n;

    if (a->count == 0) {
        return WEFT_OK;
    }
    if ((n = ar_pipe_count(a, comm, buffered)) > 0) {
        ar_pipe_build(s, a, n);
        return WEFT_OK;
    }
    weft__shmc_build(s, a, sizeof(weft__shmc_t), &allreduce_shm_ops, tmp);
    return WEFT_OK;
}

static const char *
allreduce_shm_supported(const weft__coll_args_t *a, const weft_comm_t *comm)
{
    /* where the kernel refuses reads, piped */
    return weft__shmc_supported(comm, ar_buffered(a, comm->shm, comm->size),
                                WEFT_SHMC_READS | WEFT_SHMC_PIPES);
}

static double
allreduce_shm_cost(const weft__coll_args_t *a, const weft__cost_t *m)
{
    double n = (double)(a->count * a->esize);

    return weft__shmc_cost(m, 2, 2 * n, n);
}

static weft_status_t
allreduce_shm_run(const weft__coll_args_t *a, weft_comm_t *comm)
{
    size_t buffered, n;

    if (a->count == 0) {
        return WEFT_OK; /* nothing moves, as the schedule would do */
    }
    buffered = ar_buffered(a, comm->shm, comm->size);
    if ((n = ar_pipe_count(a, comm, buffered)) > 0) {
        return ar_pipe_run(a, comm, n);
    }
    return weft__shmc_run(a, comm, &allreduce_shm_ops, sizeof(weft__shmc_t),
                          buffered);
}

const weft__algo_t weft__algo_allreduce_shm = {
    .name = "shm",
    .coll = WEFT_COLL_ALLREDUCE,
    .supported = allreduce_shm_supported,
    .cost = allreduce_shm_cost,
    .build = allreduce_shm_build,
    .run = allreduce_shm_run,
    .avg = 1,
};
