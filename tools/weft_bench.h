/*
 * weft-bench: shared between its files (public API only):
 *   weft_bench.c        the size loop, -a, the table / JSON output
 *   weft_bench_args.c   the command line
 *   weft_bench_coll.c   the collectives: sizes (nccl-tests), buffers, one
 *                       timed size, barrier and statistics
 *   weft_bench_check.c  buffers, input values, poisoning, --check
 *   weft_bench_elem.c   one element of any dtype; fp16/bf16 conversion
 *   weft_bench_pp.c     the pingpong mode
 * weft-tune (tools/weft_tune.c) reuses weft_bench_coll.c and
 * weft_bench_check.c to time every algorithm.
 */
#ifndef WEFT_BENCH_H
#define WEFT_BENCH_H

#include <stddef.h>
#include <stdio.h>
#include <weft.h>

#define BENCH_EXIT_USAGE 2
#define BENCH_MAX_ITERS  100000
#define BENCH_MAX_ALGOS  16

typedef enum bench_coll {
    BENCH_ALLREDUCE,
    BENCH_REDUCE,
    BENCH_BROADCAST,
    BENCH_ALLGATHER,
    BENCH_REDUCE_SCATTER,
    BENCH_ALLTOALL,
    BENCH_GATHER,
    BENCH_SCATTER,
    BENCH_BARRIER,
    BENCH_COLL_COUNT
} bench_coll_t;

typedef struct bench_opts {
    bench_coll_t coll;
    size_t min, max; /* bytes, as size_bytes counts them */
    double factor;
    long iters;  /* 0: by size, as mpi_coll_bench */
    long warmup; /* < 0: iters / 10, at least 2 */
    weft_dtype_t dtype;
    weft_op_t op;
    int root;
    int check, json, inplace;
    int huge;         /* --huge: buffers in transparent huge pages */
    const char *algo; /* NULL: auto; "all": every algorithm */
    int window;       /* pingpong only */
} bench_opts_t;

typedef struct bench_env {
    weft_comm_t *comm; /* the measured collective runs here */
    weft_comm_t *aux;  /* barriers and statistics, never forced */
    int rank, size;
} bench_env_t;

typedef struct bench_result {
    size_t size, count;
    long iters, warmup;
    double time_us;        /* per-call mean, averaged over ranks */
    double max_time_us;    /* per-call mean of the slowest rank */
    double p50_us, p99_us; /* per iteration, slowest rank each iteration */
    long errors;           /* wrong elements over all ranks; -1 unchecked */
    const char *algo;      /* weft_comm_last_algorithm, "-" if unknown */
    weft_status_t status;  /* WEFT_ERR_UNSUPPORTED: skipped (why in note) */
    char note[256];
} bench_result_t;

/* ---- weft_bench_args.c ---- */
extern const char *const bench_ops[WEFT_OP_COUNT]; /* "sum", ... */
/* 0: run; 1: --help printed; BENCH_EXIT_USAGE: message printed. */
int bench_parse(int argc, char **argv, bench_opts_t *o, int *pingpong_p);
/* "weft-bench: " fmt (one %s: arg) " (weft-bench --help)" to stderr;
 * returns BENCH_EXIT_USAGE. */
int bench_bad(const char *fmt, const char *arg);

/* ---- weft_bench_elem.c ---- */
int bench_dtype_is_float(weft_dtype_t t);
int bench_dtype_is_signed(weft_dtype_t t);
/* Store v as element i; integers wrap (from int64), floats round. */
void bench_elem_store(weft_dtype_t t, void *buf, size_t i, double v);
double bench_elem_load(weft_dtype_t t, const void *buf, size_t i);

/* ---- weft_bench_coll.c ---- */
extern const char *bench_prog; /* for messages: "weft-bench" */
/* As mpi_coll_bench: an integer, K/M/G (powers of 1024), optional iB/B. */
int bench_parse_size(const char *s, size_t *out_p);
const char *bench_coll_name(bench_coll_t coll); /* weft's name */
int bench_coll_by_name(const char *name);       /* -1 when unknown */
int bench_coll_reduces(bench_coll_t coll);
int bench_coll_rooted(bench_coll_t coll);
/* The count of the call for a requested size (0: skip this size). */
size_t bench_coll_count(const bench_opts_t *o, size_t bytes, int n);
/* size_bytes for a count (nccl-tests). */
size_t bench_coll_size(const bench_opts_t *o, size_t count, int n);
double bench_busbw_factor(bench_coll_t coll, int n);
long bench_default_iters(size_t size);
/* The sizes of a run: *bytes_p starts at o->min; returns 0 when done. */
int bench_next_size(const bench_opts_t *o, size_t *bytes_p);
/* Barrier on env->aux from point-to-point messages (dissemination). */
void bench_barrier(const bench_env_t *env);
/* Time one size with env->comm's current algorithm choice. Exits the
 * process on an error other than WEFT_ERR_UNSUPPORTED. */
void bench_run_size(const bench_opts_t *o, const bench_env_t *env, size_t count,
                    bench_result_t *res);
/* Exit(1) with the status and weft_last_error(). */
void bench_die(const bench_env_t *env, const char *what, weft_status_t st)
    __attribute__((noreturn));
double bench_now(void);

/* ---- weft_bench_check.c ---- */
typedef struct bench_bufs {
    void *send, *recv;   /* what the call is given (NULL where unused) */
    void *sbuf, *rbuf;   /* the allocations */
    size_t nsend, nrecv; /* elements of sbuf, rbuf */
    size_t count;
} bench_bufs_t;

/* Allocate and fill the inputs for this rank (and point send/recv at
 * them, in place when o->inplace); exit(1) when out of memory. */
void bench_bufs_create(const bench_opts_t *o, const bench_env_t *env,
                       size_t count, bench_bufs_t *b);
void bench_bufs_destroy(bench_bufs_t *b);
/* Fill the inputs again (in-place runs overwrote them) and poison every
 * output element. */
void bench_bufs_fill(const bench_opts_t *o, const bench_env_t *env,
                     bench_bufs_t *b);
void bench_bufs_poison(const bench_opts_t *o, const bench_env_t *env,
                       bench_bufs_t *b);
/* Wrong output elements of this rank; the first few go to stderr. */
long bench_check(const bench_opts_t *o, const bench_env_t *env,
                 const bench_bufs_t *b);

/* ---- weft_bench_pp.c ---- */
int bench_pingpong(const bench_opts_t *o, const bench_env_t *env);

#endif /* WEFT_BENCH_H */
