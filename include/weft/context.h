/*
 * Contexts: the process-wide handle that owns the configuration snapshot,
 * the transports, the progress engine, the bootstrap link and the
 * topology. One context per process and job is the usual case; several
 * are allowed (each is a separate job membership).
 */
#ifndef WEFT_CONTEXT_H
#define WEFT_CONTEXT_H

#include <stddef.h>
#include <stdint.h>
#include <weft/version.h>
#include <weft/status.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct weft_context weft_context_t;

/* Bits of weft_context_params_t.field_mask: which fields are set. */
enum {
    WEFT_CONTEXT_PARAM_RANK = 1u << 0,
    WEFT_CONTEXT_PARAM_SIZE = 1u << 1,
    WEFT_CONTEXT_PARAM_RENDEZVOUS = 1u << 2,
    WEFT_CONTEXT_PARAM_JOB_KEY = 1u << 3,
    WEFT_CONTEXT_PARAM_TIMEOUT = 1u << 4,
    WEFT_CONTEXT_PARAM_PROGRESS_THREAD = 1u << 5,
    WEFT_CONTEXT_PARAM_THREADS = 1u << 6
};

/* Which threads call into a context (weft_context_params_t.threads, or
 * WEFT_THREADS). */
typedef enum {
    WEFT_THREAD_MULTIPLE = 0,  /* any, at the same time: each call locks */
    WEFT_THREAD_SERIALIZED = 1 /* one call at a time, from any thread, in an
                                  order the caller's own synchronization
                                  fixes: no lock is taken */
} weft_thread_mode_t;

/*
 * Explicit start-up, for frameworks that launch their own processes (as
 * with ncclCommInitRank). Fields whose bit is not in field_mask come from
 * the environment (WEFT_RANK, WEFT_SIZE, WEFT_RENDEZVOUS, WEFT_JOB_KEY or
 * WEFT_JOB_KEY_FILE, WEFT_TIMEOUT). When rank, size and rendezvous are all
 * given here, rank 0 serves the bootstrap store at `rendezvous` and the
 * other ranks connect to it; every rank must pass the same job key.
 * New fields are only ever appended.
 */
typedef struct weft_context_params {
    uint64_t field_mask;    /* WEFT_CONTEXT_PARAM_* bits of the set fields */
    int rank;               /* this process's rank in [0, size) */
    int size;               /* number of ranks in the job, >= 1 */
    const char *rendezvous; /* "host:port" of the bootstrap store */
    const char *job_key;    /* shared secret: >= 32 hex digits (16 bytes) */
    double timeout_s;       /* default deadline of every blocking call */
    int progress_thread;    /* 1: a thread of weft's advances nonblocking
                               work while the caller computes (as
                               WEFT_PROGRESS_THREAD=1); 0: only the
                               caller's own calls do */
    int threads;            /* a weft_thread_mode_t (as WEFT_THREADS) */
} weft_context_params_t;

/*
 * Join the job. params == NULL reads everything from the environment that
 * weftrun sets (a process started without any of it is a job of size 1).
 * Blocks until every rank has joined or WEFT_INIT_TIMEOUT passes. Errors:
 * WEFT_ERR_INVALID_ARG (a bad parameter or WEFT_* variable, named in
 * weft_last_error()), WEFT_ERR_AUTH (wrong job key), WEFT_ERR_TIMED_OUT,
 * WEFT_ERR_PEER_LOST, WEFT_ERR_SYSTEM.
 */
WEFT_API weft_status_t weft_context_create(const weft_context_params_t *params,
                                           weft_context_t **ctx_p);

/* Leave the job and free everything, including communicators the caller
 * did not destroy; pending requests are cancelled. Accepts NULL. Waits
 * for peers at most WEFT_TEARDOWN_TIMEOUT. */
WEFT_API void weft_context_destroy(weft_context_t *ctx);

/* Advance every pending operation once without blocking; returns the
 * number of events handled (0 when there was nothing to do, or ctx is
 * NULL). Blocking calls and weft_wait() progress by themselves; call this
 * from a compute loop that polls nonblocking requests. */
WEFT_API int weft_progress(weft_context_t *ctx);

/* This process's rank in the job and the job size (-1 for NULL). */
WEFT_API int weft_context_rank(const weft_context_t *ctx);
WEFT_API int weft_context_size(const weft_context_t *ctx);

/* Which threads may call into ctx (weft_thread_mode_t): libraries that
 * call in from threads of their own (the CUDA streams' proxy) need
 * WEFT_THREAD_MULTIPLE. WEFT_ERR_INVALID_ARG when ctx or mode_p is NULL. */
WEFT_API weft_status_t weft_context_threads(const weft_context_t *ctx,
                                            weft_thread_mode_t *mode_p);

/* For libraries layered on weft (the ML modules): the value in bytes of
 * the size variable WEFT_<name> (name without the prefix, e.g.
 * "DDP_BUCKET_SIZE") as this context read it at creation.
 * WEFT_ERR_INVALID_ARG when ctx or value_p is NULL, or name is no size
 * variable. */
WEFT_API weft_status_t weft_context_config_size(const weft_context_t *ctx,
                                                const char *name,
                                                size_t *value_p);

#ifdef __cplusplus
}
#endif

#endif /* WEFT_CONTEXT_H */
