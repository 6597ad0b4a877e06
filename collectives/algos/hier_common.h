/*
 * What the node-aware (hierarchical) algorithms share: a collective made
 * of collectives (phases) on the comm's node comm and leaders comm
 * (src/comm.h), run by a POLL step; a phase with no comm here (a rank
 * that is not a leader) is skipped. Phases are started in the order they
 * were added, each once the phases before it in its segment have
 * finished: with one segment (the default), one after the other; with
 * several (weft__hier_segment), a segment's node phases overlap another
 * one's network phase (a pipeline). Every rank starts the phases on a
 * comm in the same order.
 */
#ifndef WEFT_HIER_COMMON_H
#define WEFT_HIER_COMMON_H

#include "collectives/algos/algos.h"

#define WEFT_HIER_PHASES 4 /* room in a plan unless it asks for more */

typedef struct weft__hier {
    int nphases, max;
    int next; /* the next phase to start */
    int seg;  /* the segment of the phases added next */
    /* per phase, max of each: */
    weft_comm_t **comm; /* NULL: not a member: skip */
    weft__coll_args_t *a;
    int *segof;           /* its segment */
    weft_request_t **req; /* started, not reaped */
    unsigned char *done;  /* finished (or skipped) */
    const char *what;    /* the collective (describe) */
    weft_comm_t *parent; /* the comm the plan runs for */
    uint32_t ticket;     /* its turn among the parent's plans */
    int ticketed;        /* it has one */
    int running;         /* its turn has come and not yet gone */
    weft_comm_t *one_at_a_time; /* phases on it wait for the one before
                                   on it (weft__hier_one_large) */
} weft__hier_t;

/* A new plan in the schedule with room for WEFT_HIER_PHASES phases / for
 * max_phases (NULL when out of memory). */
weft__hier_t *weft__hier_plan(weft__sched_t *s);
weft__hier_t *weft__hier_plan_n(weft__sched_t *s, int max_phases);
/* Append a phase: collective `coll` on sub (NULL: skipped here); at most
 * the plan's room. */
weft__coll_args_t *weft__hier_phase(weft__hier_t *h, weft_comm_t *sub,
                                    weft__coll_t coll, weft_dtype_t dtype);
/* The phases appended from now on belong to segment seg (default 0). */
void weft__hier_segment(weft__hier_t *h, int seg);
/* The leaders comm when this rank is a leader whose link to the other
 * leaders asks for large messages one at a time (WEFT_TL_HINT_ONE_LARGE),
 * else NULL: a plan sets it as one_at_a_time. The order of the phases
 * stays the same on every rank; only when a leader starts them moves. */
weft_comm_t *weft__hier_one_large(const weft_comm_t *comm);
/* Add the POLL step that runs the plan. */
void weft__hier_start(weft__sched_t *s, weft__hier_t *h);

/* Where comm rank r lives: its node's index and its rank in the node
 * comm. */
void weft__hier_locate(const weft_comm_t *comm, int r, int *node_p,
                       int *local_p);
/* NULL when the comm has node and leaders comms, else why not. */
const char *weft__hier_supported(const weft_comm_t *comm);
/* Modelled seconds of the inter-node part: rounds and bytes over the
 * network model, plus the node parts in shared memory. */
double weft__hier_cost(const weft__cost_t *m, double rounds, double bytes,
                       double node_bytes, double reduced);

#endif /* WEFT_HIER_COMMON_H */
