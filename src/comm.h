/*
 * Communicators: ranks, the id that keeps their messages apart, the
 * pending requests, and the sticky error (fail-stop per communicator).
 *
 * Wire tag of every message (64 bits, matched exactly by transports):
 *   bits 63..40  communicator id (agreed by every member at creation;
 *                never reused within a context)
 *   bits 39..32  kind of traffic (WEFT_TAG_KIND_*)
 *   bits 31..0   user tag (p2p) or internal sequence (management)
 */
#ifndef WEFT_COMM_INTERNAL_H
#define WEFT_COMM_INTERNAL_H

#include <stdint.h>
#include <weft/comm.h>
#include "config.h"
#include "request.h"

#define WEFT_COMM_MAGIC 0x436f4d6du
#define WEFT_COMM_DEAD 0x44656164u
#define WEFT_COMM_ID_MAX 0xfffffeu
/* control messages (src/ctrl.c): the transports' standing receives */
#define WEFT_COMM_ID_CTRL 0xffffffu
#define WEFT_COMM_MSG_MAX 320

enum {
    WEFT_TAG_KIND_P2P = 0,  /* weft_send / weft_recv */
    WEFT_TAG_KIND_COLL = 1, /* collectives (sequence-numbered) */
    WEFT_TAG_KIND_MGMT = 2, /* split, dup */
    WEFT_TAG_KIND_DESC = 3, /* a collective's descriptor (mismatch check) */
    WEFT_TAG_KIND_CTRL = 4  /* control messages (src/ctrl.c) */
};

/* The cost model's last pick for a collective on a comm (select.c). */
typedef struct weft__coll_pick {
    const void *algo; /* NULL: none kept */
    size_t count;
    int dtype, op, root, inplace;
} weft__coll_pick_t;

/* The last call of a collective on a comm as its check passed it
 * (collectives/coll_args.c): a call with the same arguments passes
 * again. esize 0: none kept. */
typedef struct weft__coll_seen {
    const void *sendbuf, *recvbuf;
    size_t count, esize;
    int dtype, op, root, inplace;
} weft__coll_seen_t;

struct weft_comm {
    uint32_t magic;
    uint32_t id;
    weft_context_t *ctx;
    int rank;
    int size;
    int *ranks; /* comm rank -> job rank; NULL: identity (world) */
    int is_world;
    uint32_t mgmt_seq;           /* split/dup calls on this comm */
    uint32_t coll_seq;           /* collectives started on this comm */
    /* the schedule engine's calls so far: their digest, and what the
     * last one called (mismatch messages name it) */
    uint64_t coll_hist, coll_prev[2];
    const void *coll_force[WEFT_CONFIG_COLLS];  /* weft_comm_set_algorithm, by weft__coll_t */
    const void *coll_last[WEFT_CONFIG_COLLS];   /* the algorithm last used (logged on change) */
    weft__coll_pick_t coll_pick[WEFT_CONFIG_COLLS]; /* by weft__coll_t */
    weft__coll_seen_t coll_seen[WEFT_CONFIG_COLLS]; /* by weft__coll_t */
    weft_request_t *pending;     /* requests not yet complete */
    int npersistent;             /* partitioned requests not yet freed */
    int nblocking; /* blocking sends and receives waiting (no request) */
    /* node-aware collectives run one at a time, in call order (their
     * later phases start as earlier ones finish, and must start in the
     * same order on every rank): tickets given at build, the one whose
     * turn it is, and cancelled tickets ahead of it (bit k: hier_run + k) */
    uint32_t hier_next, hier_run;
    uint64_t hier_skip;
    struct weft__shm_area *shm;  /* node-local collectives' area, or NULL */
    /* Several nodes, some with several ranks: the ranks of this comm on
     * this node (node) and the lowest rank of every node (leaders, NULL
     * on other ranks), made with the comm, for the node-aware
     * algorithms. node_index: this node's position among the comm's
     * nodes (in the order of their lowest ranks); nnodes of them. */
    struct weft_comm *node, *leaders;
    int node_index, nnodes;
    int hier;      /* node-aware algorithms may run (node made) */
    int internal;  /* a node or leaders comm: freed with its parent */
    double timeout;              /* weft_comm_set_timeout; 0: WEFT_TIMEOUT */
    weft_status_t error;         /* sticky; WEFT_OK when healthy */
    int error_origin;            /* comm rank, -1 unknown */
    char error_msg[WEFT_COMM_MSG_MAX];
    struct weft_comm *next, *prev; /* the context's list */
};

static inline uint64_t
weft__comm_tag(const weft_comm_t *comm, unsigned kind, uint32_t tag)
{
    return (uint64_t)comm->id << 40 | (uint64_t)(kind & 0xff) << 32 | tag;
}

static inline int
weft__comm_job_rank(const weft_comm_t *comm, int rank)
{
    return comm->ranks ? comm->ranks[rank] : rank;
}

/* Comm rank of a job rank, or -1 when it is not a member. */
int weft__comm_rank_of(const weft_comm_t *comm, int job_rank);

#define WEFT_COMM_TIMEOUT_MAX (7 * 86400.0) /* as WEFT_TIMEOUT's bound */

/* The deadline of a blocking operation on comm, seconds, and where it
 * was set (for messages: "WEFT_TIMEOUT" or "weft_comm_set_timeout"). */
double weft__comm_timeout(const weft_comm_t *comm);
const char *weft__comm_timeout_source(const weft_comm_t *comm);

/* Validate a public handle (NULL, destroyed, context going away): the
 * good case inline, as every call makes it; the rest says what is wrong
 * (comm.c). */
weft_status_t weft__comm_check_fail(const weft_comm_t *comm, const char *fn);
static inline weft_status_t
weft__comm_check(const weft_comm_t *comm, const char *fn)
{
    if (__builtin_expect(comm != NULL && comm->magic == WEFT_COMM_MAGIC, 1)) {
        return WEFT_OK;
    }
    return weft__comm_check_fail(comm, fn);
}

/* The world communicator of a context being created. Lock held. */
weft_status_t weft__comm_create_world(weft_context_t *ctx,
                                      weft_comm_t **comm_p);
/* Free a comm: cancels pending requests. Lock held. */
void weft__comm_free(weft_comm_t *comm);

/* Make status the sticky error (first error wins), with the comm rank
 * where it started and a message; completes every pending request with
 * it. Lock held. */
void weft__comm_fail(weft_comm_t *comm, weft_status_t status, int origin,
                     const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* weft__comm_fail for an error found here (a timeout, a mismatch, a
 * broken message): origin is this rank, and when it is the comm's first
 * error it floods to every other member through the bootstrap store, so
 * ranks that have no link to this one, or are waiting on another, stop
 * too. Lock held. */
void weft__comm_fail_here(weft_comm_t *comm, weft_status_t status,
                          const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Return the sticky error and record its message as this thread's last
 * error. */
weft_status_t weft__comm_error_return(const weft_comm_t *comm,
                                      const char *fn);

#endif /* WEFT_COMM_INTERNAL_H */
