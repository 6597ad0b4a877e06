/*
 * Schedules: what an algorithm builds and the engine runs.
 *
 * A schedule is a list of steps in build order: send, recv, reduce, copy,
 * convert, scale (the AVG division) and wait-for-partition. A step starts
 * once (a) every step before the last fence is done and (b) each of its
 * own dependencies (any other steps, at most WEFT_STEP_DEPS) is done. Fences
 * make rounds; dependencies let pipelined algorithms overlap chunks.
 *
 * Messages: the k-th send to a peer in build order matches that peer's k-th
 * recv from this rank in build order (the sub-tag), and the collective's
 * sequence number on the comm keeps concurrent collectives apart, so the
 * order in which steps happen to become ready never mismatches messages.
 * Sub-tags wrap after 4096 messages to one peer in one call; messages with
 * equal tags still match in posting order (the transports' FIFO rule), so
 * only more than 4096 in flight to one peer at once could mix them.
 *
 * The engine posts sends and recvs to the transports, runs local steps as
 * soon as they are ready, is advanced from the progress engine, and
 * completes the request when the last step is done (or the first failure
 * fails the comm).
 */
#ifndef WEFT_SCHED_H
#define WEFT_SCHED_H

#include <stddef.h>
#include <stdint.h>
#include <weft/types.h>
#include "coll.h"

#define WEFT_STEP_DEPS 4 /* dependencies per step */

typedef struct weft__sched weft__sched_t;

typedef enum weft__step_kind {
    WEFT_STEP_SEND,
    WEFT_STEP_RECV,
    WEFT_STEP_REDUCE,   /* dst = dst (op) src, count elements */
    WEFT_STEP_REDUCE3,  /* dst = src (op) src2 */
    WEFT_STEP_COPY,     /* bytes */
    WEFT_STEP_CONVERT,  /* dst(dtype_to) = src(dtype_from), count */
    WEFT_STEP_SCALE,    /* dst /= rank count (AVG), count */
    WEFT_STEP_WAIT_PART, /* until partition `peer` is marked ready */
    WEFT_STEP_POLL       /* a state machine run on every progress call
                            until it says done (node-local collectives) */
} weft__step_kind_t;

/* A POLL step's state machine. poll returns 1 when done, 0 to be called
 * again on the next progress call (waiting for a peer),
 * WEFT_SCHED_POLL_MOVED when it did a bounded piece of work and has more
 * it can do at once (the progress call counts it as movement, and a
 * waiter does not go to sleep), or an error status (the collective and
 * the comm fail, with the reason poll wrote into why). describe says what
 * it waits for (timeouts). */
#define WEFT_SCHED_POLL_MOVED 2
typedef struct weft__sched_poll_ops {
    int (*poll)(void *state, char *why, size_t why_len);
    void (*describe)(const void *state, char *buf, size_t len);
    /* Optional: the step is withdrawn before it said done (the
     * collective failed or was aborted): let go of what it holds. */
    void (*cancel)(void *state);
} weft__sched_poll_ops_t;

/* ---- building (lock held; nothing runs yet) ---- */

/* A schedule for comm reducing `dtype` with `op` (ignored by collectives
 * that do not reduce). */
weft_status_t weft__sched_create(weft_comm_t *comm, weft_dtype_t dtype,
                                 weft_op_t op, const char *algo,
                                 weft__sched_t **s_p);
void weft__sched_free(weft__sched_t *s);

/* Each returns the step's index (>= 0), or -1 when out of memory (the
 * schedule remembers it; weft__sched_start then fails). */
int weft__sched_send(weft__sched_t *s, const void *buf, size_t bytes,
                     int peer);
int weft__sched_recv(weft__sched_t *s, void *buf, size_t bytes, int peer);
int weft__sched_reduce(weft__sched_t *s, void *dst, const void *src,
                       size_t count);
int weft__sched_reduce3(weft__sched_t *s, void *dst, const void *a,
                        const void *b, size_t count);
int weft__sched_copy(weft__sched_t *s, void *dst, const void *src,
                     size_t bytes);
int weft__sched_convert(weft__sched_t *s, void *dst, weft_dtype_t to,
                        const void *src, weft_dtype_t from, size_t count);
int weft__sched_scale(weft__sched_t *s, void *buf, size_t count);
int weft__sched_wait_part(weft__sched_t *s, size_t partition);
/* state: memory that lives as long as the schedule (weft__sched_scratch). */
int weft__sched_poll(weft__sched_t *s, const weft__sched_poll_ops_t *ops,
                     void *state);

/* step waits for `on` as well (both indices; -1 is ignored, so results of
 * the calls above can be passed straight in). */
void weft__sched_dep(weft__sched_t *s, int step, int on);
/* Every later step waits for every step added so far (a round). */
void weft__sched_fence(weft__sched_t *s);

/* Scratch memory freed with the schedule; NULL when out of memory (the
 * schedule then fails to start). */
void *weft__sched_scratch(weft__sched_t *s, size_t bytes);

/* The dtype and op reduce steps use (a wrapper may switch to fp32). */
void weft__sched_set_reduction(weft__sched_t *s, weft_dtype_t dtype,
                               weft_op_t op);
/* Exchange a descriptor of the call (a) with every peer before its first
 * message and fail with WEFT_ERR_MISMATCH, naming both calls, where they
 * differ (unless WEFT_CHECK_MISMATCH=0). Set after the dtype/op widening
 * of weft__sched_set_reduction or before, either way: it describes the
 * call as the user made it. */
void weft__sched_set_desc(weft__sched_t *s, const weft__coll_args_t *a);
weft_comm_t *weft__sched_comm(const weft__sched_t *s);
/* For weft_request_stats: bytes its transport steps moved, when the
 * first finished (0: none yet) and the algorithm's name. */
void weft__sched_stats(const weft__sched_t *s, uint64_t *sent_p,
                       uint64_t *received_p, double *first_byte_p,
                       const char **algo_p);
/* The dtype and op the caller passed (mismatch checks). */
void weft__sched_user_reduction(const weft__sched_t *s, weft_dtype_t *dtype_p,
                                weft_op_t *op_p);
int weft__sched_nsteps(const weft__sched_t *s);
/* The kind and peer of a step (tests of schedule building). */
weft__step_kind_t weft__sched_step_kind(const weft__sched_t *s, int step);
int weft__sched_step_peer(const weft__sched_t *s, int step);
size_t weft__sched_step_size(const weft__sched_t *s, int step);

/* ---- running ---- */

/* Take a sequence number on the comm, wrap the schedule in a request and
 * start it. On failure the schedule is freed. Lock held. */
weft_status_t weft__sched_start(weft__sched_t *s, const char *what,
                                weft_request_t **req_p);
/* Run every schedule with news (ops completed, partitions ready). Called
 * by the progress engine. Returns how many moved on (a step finished, or
 * the whole schedule): another round may find more to do (a node-local
 * collective that finished lets the next one take its turn). Lock held. */
int weft__sched_progress(weft_context_t *ctx);
/* Withdraw every pending op and complete the request with status. */
void weft__sched_cancel(weft__sched_t *s, weft_status_t status);
/* The peers whose call descriptor has not come (they have not arrived
 * at this collective, as far as this rank can tell): their number, and
 * "1, 5" in buf. */
int weft__sched_not_arrived(const weft__sched_t *s, char *buf, size_t len);
/* A line saying what the schedule is waiting for (timeouts). */
void weft__sched_describe(const weft__sched_t *s, char *buf, size_t len);
/* Partition p may be sent (weft_pready). */
void weft__sched_part_ready(weft__sched_t *s, size_t partition);
/* Hold the schedule (before it starts) until weft__sched_open: every step
 * but the receives that land outside [lo, lo + bytes) (the input the
 * producer is still writing) waits. A partitioned collective's partition
 * starts gated and opens at weft_pready. Lock held. */
void weft__sched_gate(weft__sched_t *s, const void *lo, size_t bytes);
void weft__sched_open(weft__sched_t *s);

#endif /* WEFT_SCHED_H */
