/*
 * What the collective matrix (test_coll_matrix.c) and the tests of
 * collectives in flight together (test_coll_inflight.c) share: the state
 * a Criterion worker shares with the ranks it forks, the case generator's
 * PRNG, failure records, and cases given by a spec.
 */
#ifndef WT_COLL_MX_H
#define WT_COLL_MX_H

#include <stddef.h>
#include <stdint.h>
#include <weft.h>

#include "coll_case.h"

#define MX_MAX_ALGOS   8
#define MX_JOB_TIMEOUT 180.0 /* per job, default run */

/* Shared by the Criterion worker and the ranks it forks (MAP_SHARED). */
typedef struct mx_shared {
    weft__coll_t coll;
    int full;
    int ncases; /* sampled cases per (algorithm, ranks) */
    uint64_t seed;
    int fails; /* wrong or failed cases, every rank (atomic) */
    int first_taken;
    char first[1024]; /* the first of them */
    int run[MX_MAX_ALGOS], refused[MX_MAX_ALGOS], placeholder[MX_MAX_ALGOS];
    long barrier_count;
    int available; /* in-flight and dup tests: collectives run */
} mx_shared_t;

/* A well-mixed 64-bit function of (a, b); the next value of a PRNG. */
uint64_t mx_mix(uint64_t a, uint64_t b);
uint64_t mx_next(uint64_t *state);
/* A wrong or failed case: counted, and kept when it is the first. */
void mx_record(mx_shared_t *sh, const char *msg);
/* An integer from the environment, or dflt. */
int mx_env_int(const char *name, int dflt);
/* The shared state of a test of coll (MAP_SHARED), from WT_COLL_FULL,
 * WT_COLL_CASES and WT_COLL_SEED. */
mx_shared_t *mx_shared_new(weft__coll_t coll);

/* A case given by hand. */
typedef struct mx_spec {
    weft__coll_t coll;
    weft_dtype_t dt;
    int op;
    size_t count;
    int root_last; /* root size-1 (else 0) */
    int inplace;
} mx_spec_t;

wt_case_t mx_spec_case(const mx_spec_t *sp, int size, int algo, uint64_t seq);
/* A case that failed to start or finish (what), with its status. */
void mx_fail_case(mx_shared_t *sh, const wt_case_run_t *x, const char *what,
                  weft_status_t st);
/* Every output element of a finished case checked; the first wrong one
 * recorded. */
void mx_verify_case(mx_shared_t *sh, wt_case_run_t *x);

#endif /* WT_COLL_MX_H */
