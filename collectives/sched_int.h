/*
 * The schedule engine's private structures, shared by sched.c (building
 * and running) and sched_desc.c (the call descriptors that catch ranks
 * that disagree). Nothing else includes this.
 */
#ifndef WEFT_SCHED_INT_H
#define WEFT_SCHED_INT_H

#include <stddef.h>
#include <stdint.h>

#include "collectives/coll_desc.h"
#include "collectives/sched.h"
#include "comm.h"

/* With two ranks, first messages up to this size carry the call's
 * descriptor in front of their data (one message, not two: a 24-byte
 * message of its own cost 60% on an 8-byte allreduce over tcp, and 28% at
 * 32 KiB); larger ones get a message of its own. Where the transport
 * sends and receives a head apart from the body (isend_head, irecv_head:
 * tcp) nothing is copied; elsewhere both go through scratch (the copies
 * cost less than a second message up to here). */
#define SCHED_DESC_PACK_MAX 65536

/* A message's tag: the call's sequence number on the comm, then its
 * number among the messages to or from that peer in the call. */
#define SCHED_SUBTAG_BITS 12
#define SCHED_SUBTAG_MASK ((1u << SCHED_SUBTAG_BITS) - 1)
#define SCHED_SEQ_MASK    ((1u << (32 - SCHED_SUBTAG_BITS)) - 1)

enum { STEP_WAITING, STEP_POSTED, STEP_DONE };

typedef struct sched_step {
    uint8_t kind;  /* weft__step_kind_t */
    uint8_t state; /* STEP_* */
    uint8_t ndeps;
    uint8_t dt_to, dt_from; /* CONVERT */
    int peer;               /* SEND/RECV: comm rank; WAIT_PART: partition */
    uint32_t subtag;        /* SEND/RECV */
    int after;              /* steps [0, after) must be done first (fence) */
    int before;             /* the same, from dependencies that overflowed */
    int deps[WEFT_STEP_DEPS];
    void *dst; /* POLL: the state */
    const void *src, *src2;
    size_t n;                           /* bytes (SEND/RECV/COPY) or elements */
    const weft__sched_poll_ops_t *poll; /* POLL */
    uint8_t *pack; /* SEND/RECV: the first message to/from a peer carries
                      the call's descriptor in front (mismatch check) */
    uint8_t split; /* RECV with pack: the transport put the descriptor in
                      pack and the data straight into dst (irecv_head) */
} sched_step_t;

/* The transport op of one posted send or recv. */
typedef struct sched_op {
    weft_tl_op_t op;
    weft__sched_t *s;
    int step;
    int tl;
    weft_tl_ep_t *ep;
} sched_op_t;

/* The descriptor sent to, or received from, one peer (mismatch check). */
typedef struct sched_desc {
    weft_tl_op_t op;
    weft__sched_t *s;
    int peer; /* comm rank */
    int send;
    int posted;
    int tl;
    weft_tl_ep_t *ep;
    uint8_t wire[WEFT_COLL_DESC_WIRE];
} sched_desc_t;

struct weft__sched {
    weft_comm_t *comm;
    weft_request_t *req;
    const char *algo;
    uint64_t bytes_sent, bytes_received; /* by the transport steps */
    double first_byte_s; /* the first transport step done (0: none yet) */
    char what[48];
    weft_dtype_t dtype;
    weft_op_t op;
    weft_dtype_t user_dtype; /* as called (dtype/op may become fp32/sum) */
    weft_op_t user_op;
    sched_step_t *steps;
    int nsteps, cap;
    int fence; /* `after` of the steps added from now on */
    int first_undone;
    int ndone;
    int nposted;  /* ops in the transports */
    int npolling; /* POLL steps started and not done */
    int news;     /* a step finished since the last advance */
    int moved;    /* a POLL step did work without finishing */
    int nomem;
    int failed_step; /* the first step that failed, or -1 */
    weft_status_t fail_status;
    char fail_why[160];
    uint32_t seq;
    uint32_t *nsend, *nrecv; /* per peer: messages built so far */
    sched_op_t **ops;        /* per step, posted comm steps only */
    uint8_t *parts;          /* partitions marked ready */
    size_t nparts;
    /* a partition of a partitioned collective: until the producer marks it
     * ready, only receives landing outside [gate_lo, gate_hi) may run */
    int gated;
    const char *gate_lo, *gate_hi;
    void **scratch;
    size_t *scratch_size;
    int nscratch;
    /* mismatch check: what this rank called, one exchange per peer */
    int has_desc;
    weft__coll_desc_t desc;
    uint32_t desc_seq; /* the full sequence number on the comm */
    sched_desc_t *descs;
    int ndescs;
    int desc_sends;            /* descriptor sends still posted */
    int desc_recvs;            /* descriptors not yet received */
    weft_status_t desc_status; /* a mismatch or a failed exchange */
    char desc_why[320];
    weft__sched_t *next, *prev; /* the context's running schedules */
};

/* ---- call descriptors (sched_desc.c) ---- */

/* Post the descriptor exchange of a started schedule (small first
 * messages of a two-rank call carry it in front instead). */
weft_status_t weft__sched_desc_post(weft__sched_t *s);
/* Withdraw the descriptor ops still posted: receives only (finishing),
 * or all (failing). */
void weft__sched_desc_withdraw(weft__sched_t *s, int sends_too);
/* The descriptor a peer sent (wire, the first `bytes` received; exact:
 * nothing may follow it) against this call: a mismatch or a malformed
 * descriptor is recorded in desc_status / desc_why. Returns 1 when equal. */
int weft__sched_desc_check(weft__sched_t *s, int peer, const uint8_t *wire,
                           size_t bytes, int exact);

/* Append the n-th (from 0) peer of a list to buf at *off: "1, 3, 6", and
 * after SCHED_LIST_MAX of them ", ..." once. buf may be NULL (counting). */
#define SCHED_LIST_MAX 16
void weft__sched_list_peer(char *buf, size_t len, size_t *off, int n,
                           int peer);

#endif /* WEFT_SCHED_INT_H */
