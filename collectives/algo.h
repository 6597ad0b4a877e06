/*
 * An algorithm: a small descriptor (name, supported, cost, build), one per
 * file under collectives/algos/. collectives/select.c is the only place that
 * lists them all.
 */
#ifndef WEFT_ALGO_H
#define WEFT_ALGO_H

#include <stddef.h>
#include "collectives/coll.h"
#include "collectives/sched.h"

/* The cost model of one call: seconds = rounds * alpha + bytes * beta +
 * reduced bytes * gamma, from the slowest link class the comm spans. */
typedef struct weft__cost {
    double alpha; /* per message, seconds */
    double beta;  /* per byte moved, seconds (flat algorithms: a node's
                     ranks share its link, so the link's times ranks per
                     node) */
    double link_beta; /* per byte over one link, alone on it */
    double gamma; /* per byte reduced, seconds */
    int size;     /* ranks in the comm */
    int nodes;    /* one node (1) or several (2) */
    int hier_nodes; /* nodes of a node-aware comm (its nnodes), else nodes */
    int pow2;     /* size is a power of two */
    size_t chunk; /* pipelining piece, bytes (WEFT_COLL_CHUNK) */
} weft__cost_t;

typedef struct weft__algo {
    const char *name;
    weft__coll_t coll;
    /* NULL when the algorithm can run this call, else why not (a static
     * string finishing "cannot run this: ..."). */
    const char *(*supported)(const weft__coll_args_t *a,
                             const weft_comm_t *comm);
    /* Modelled seconds for this call. */
    double (*cost)(const weft__coll_args_t *a, const weft__cost_t *m);
    /* Add the steps of this rank to s. Returns WEFT_OK or an error (the
     * schedule's own out-of-memory is reported when it starts). */
    weft_status_t (*build)(weft__sched_t *s, const weft__coll_args_t *a);
    /* Optional: run a blocking call at once, without building a schedule
     * (lock held). WEFT_OK or an error when it ran the call;
     * WEFT_INPROGRESS when it leaves this one to the schedule. */
    weft_status_t (*run)(const weft__coll_args_t *a, weft_comm_t *comm);
    /* It takes WEFT_AVG on float32/float64 itself: each element divided
     * where it is reduced, before anyone copies it (else the schedule
     * sums, then divides the result: another pass over it, written after
     * the algorithm). */
    int avg;
} weft__algo_t;

/* ---- helpers shared by the algorithms (collectives/algo_util.c) ---- */

/* Largest power of two <= n (n >= 1). */
int weft__pow2_floor(int n);
/* ceil(log2(n)), n >= 1. */
int weft__log2_ceil(int n);
/* Split count elements into n blocks as evenly as possible: block i starts
 * at *off_p and has *len_p elements (the first count % n blocks get one
 * more). */
void weft__block(size_t count, int n, int i, size_t *off_p, size_t *len_p);
/* Byte pointer helpers. */
static inline char *
weft__at(void *p, size_t elems, size_t esize)
{
    return (char *)p + elems * esize;
}
static inline const char *
weft__cat(const void *p, size_t elems, size_t esize)
{
    return (const char *)p + elems * esize;
}

/* The every-algorithm cost terms. */
double weft__cost_rounds(const weft__cost_t *m, double rounds, double bytes,
                         double reduced);

#endif /* WEFT_ALGO_H */
