/*
 * What the fault tests share: the page every forked rank writes its answer
 * to, and the runner that starts a job, checks /dev/shm before and after,
 * and logs what each rank got (the fault table of the closing note).
 */
#ifndef WT_FAULT_COMMON_H
#define WT_FAULT_COMMON_H

#include <weft.h>

#include "harness.h"

#define FC_MAX 8

/* In shared memory: every rank writes its own entries. */
typedef struct fc_shared {
    int mode;
    int coll;
    int victim;
    int answered;
    volatile double fault_at; /* CLOCK_MONOTONIC when the fault happened */
    int pid[FC_MAX];
    int status[FC_MAX];
    double took[FC_MAX]; /* fault (or call) to error, seconds */
    char msg[FC_MAX][512];
} fc_shared_t;

typedef struct fc_case {
    const char *name;
    const char *tl; /* WEFT_TL */
    int nranks;
    int victim_fails; /* the victim dies by a signal: wt_run counts it */
    double hb_timeout;
    const char *env[6];
} fc_case_t;

/* The transports and rank counts every case runs with. */
extern const char *const fc_tls[2];
extern const int fc_ranks[3];

double fc_now(void);
/* A fresh shared page (status "no answer" everywhere); munmap it after. */
fc_shared_t *fc_shared_new(void);
/* Record this rank's answer, then stay until every rank that answers has
 * (so that none learns of the fault from another's exit). */
void fc_answer(fc_shared_t *sh, int rank, weft_status_t st, double since,
               int answering);
const char *fc_status(int st);
/* Run the job; returns the number of ranks that failed (wt_run). */
int fc_run(const fc_case_t *c, wt_rank_fn_t fn, fc_shared_t *sh);

#endif /* WT_FAULT_COMMON_H */
