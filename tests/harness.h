/*
 * Multi-rank test harness (wt_*): forks N ranks that join a job over a
 * loopback bootstrap store, runs a function on each, and reports which
 * ranks failed. Criterion assertions must not run inside a rank (it is a
 * forked child); ranks use WT_CHECK, and the test asserts on the result
 * of wt_run().
 */
#ifndef WT_HARNESS_H
#define WT_HARNESS_H

#include <stddef.h>
#include <stdint.h>
#include <weft.h>

typedef void (*wt_rank_fn_t)(weft_context_t *ctx, weft_comm_t *world,
                             void *arg);

typedef struct wt_job {
    int nranks;
    const char *tl;       /* WEFT_TL of the ranks; NULL: the default */
    int rank0_serves;     /* 1: explicit params, rank 0 serves the store;
                             0: the harness serves it (as weftrun does) */
    double timeout_s;     /* the whole job; 0: 60 s */
    const char *env[8];   /* extra NAME=value for every rank, NULL-ended */
    int nodes;            /* > 1: ranks split into this many "nodes" in
                             contiguous blocks (WEFT_NODE_ID wt-node-<i>) */
    void (*setup)(int rank); /* run in each rank before weft starts */
    double heartbeat_timeout; /* the harness's store: ranks that beat and
                                 then fall silent this long are lost
                                 (0: never) */
} wt_job_t;

/* Run fn on job->nranks forked ranks. Returns the number of ranks that
 * failed (a WT_CHECK, a nonzero exit, a signal, or the timeout); each
 * failure is described on stderr. */
int wt_run(const wt_job_t *job, wt_rank_fn_t fn, void *arg);

/* wt_run with defaults: n ranks, the default transports. */
int wt_run_ranks(int n, wt_rank_fn_t fn, void *arg);

/* 1 when transport module `name` (ofi, ucx) loads here, from
 * WEFT_TL_MODULE_PATH (make check points it at the build tree); else 0
 * with the reason in why (for a skip message). */
int wt_module_loadable(const char *name, char *why, size_t why_len);

/* In a rank: failures so far; the rank exits nonzero when > 0. */
extern int wt_failures;
extern int wt_rank;

void wt_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define WT_CHECK(_cond, ...)                                                   \
    do {                                                                       \
        if (!(_cond)) {                                                        \
            wt_fail(__FILE__, __LINE__, __VA_ARGS__);                          \
        }                                                                      \
    } while (0)

#define WT_OK(_expr)                                                           \
    do {                                                                       \
        weft_status_t _st = (_expr);                                           \
        WT_CHECK(_st == WEFT_OK, "%s returned %s (%s)", #_expr,               \
                 weft_status_string(_st), weft_last_error());                  \
    } while (0)

/* Seconds on the monotonic clock. */
double wt_now(void);

/* A byte pattern that depends on position, sender and a sequence number,
 * so misplaced, stale or foreign bytes are caught. */
void wt_fill(void *buf, size_t n, int src, int seq);
/* Index of the first byte that differs from the pattern, or n. */
size_t wt_verify(const void *buf, size_t n, int src, int seq);

/* A free loopback port (bound then released: a tiny race remains). */
int wt_free_port(void);

/* A fresh random job key (64 hex digits). */
void wt_job_key(char hex[65]);

#endif /* WT_HARNESS_H */
