/*
 * weft-bench: buffers, input values and the --check verifier.
 *
 * Inputs are small integers, so that every reduction is exact in any
 * order for every dtype: a reduction input of rank r, element i is
 * (5i + 3r) mod k, shifted by -k/2 for signed types, with k chosen so that
 * n ranks' sums stay exactly representable (256 for bf16, 2048 for fp16;
 * fp16/bf16 are reduced in fp32 anyway). PROD uses 1 and 2 (and -1 for
 * signed types), at most eight 2s per element. Integers wrap, and the
 * expected values wrap the same way. Data-movement collectives get
 * (31r + 7i + 1) mod k, k the largest range the dtype holds exactly.
 * Outputs are poisoned with NaN (floats) or 0xA5 bytes (integers).
 * An output element is right when it is bitwise equal to the expected
 * value converted to the dtype.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "weft_bench.h"

#define CHECK_MAX_PRINTED 10 /* wrong elements printed per rank and size */

/* ---- values ------------------------------------------------------------ */

/* Largest integer magnitude the dtype holds exactly (capped). */
static double
check_exact_limit(weft_dtype_t t)
{
    switch (t) {
    case WEFT_INT8:
        return 127;
    case WEFT_UINT8:
        return 251;
    case WEFT_FLOAT16:
        return 2048;
    case WEFT_BFLOAT16:
        return 256;
    default:
        return 1 << 20;
    }
}

/* Input element i of rank r. */
static double
check_value(const bench_opts_t *o, int n, int r, size_t i)
{
    uint64_t k;

    if (!bench_coll_reduces(o->coll)) {
        k = (uint64_t)check_exact_limit(o->dtype);
        return (double)(((uint64_t)r * 31u + i * 7u + 1u) % k);
    }
    if (o->op == WEFT_PROD) {
        if (r < 8 && (i + (size_t)r) % 3 == 0) {
            return 2;
        }
        return bench_dtype_is_signed(o->dtype) && (i + 2 * (size_t)r) % 5 == 0
                   ? -1
                   : 1;
    }
    k = (uint64_t)(check_exact_limit(o->dtype) / n);
    k = k > 64 ? 64 : k < 2 ? 2 : k;
    return (double)((i * 5u + (uint64_t)r * 3u) % k) -
           (bench_dtype_is_signed(o->dtype) ? (double)(k / 2) : 0.0);
}

/* The reduction over the ranks of input element i. */
static double
check_reduced(const bench_opts_t *o, int n, size_t i)
{
    double acc = check_value(o, n, 0, i);

    for (int r = 1; r < n; r++) {
        double v = check_value(o, n, r, i);

        switch (o->op) {
        case WEFT_PROD:
            acc *= v;
            break;
        case WEFT_MIN:
            acc = v < acc ? v : acc;
            break;
        case WEFT_MAX:
            acc = v > acc ? v : acc;
            break;
        default:
            acc += v;
            break;
        }
    }
    return o->op == WEFT_AVG ? acc / n : acc;
}

/* Expected output element i of this rank's recv buffer. */
static double
check_expected(const bench_opts_t *o, const bench_env_t *env,
               const bench_bufs_t *b, size_t i)
{
    size_t c = b->count, p = c ? i / c : 0, j = c ? i % c : 0;
    int n = env->size, me = env->rank;

    switch (o->coll) {
    case BENCH_ALLREDUCE:
    case BENCH_REDUCE:
        return check_reduced(o, n, i);
    case BENCH_REDUCE_SCATTER:
        return check_reduced(o, n, (size_t)me * c + i);
    case BENCH_BROADCAST:
        return check_value(o, n, o->root, i);
    case BENCH_ALLGATHER:
    case BENCH_GATHER:
        return check_value(o, n, (int)p, j);
    case BENCH_ALLTOALL:
        return check_value(o, n, (int)p, (size_t)me * c + j);
    default: /* scatter */
        return check_value(o, n, o->root, (size_t)me * c + i);
    }
}

/* ---- buffers ----------------------------------------------------------- */

#define BENCH_HUGE_PAGE ((size_t)2 << 20)

/* huge: aligned to a huge page and advised into them (the kernel's copies
 * between processes then pin a page per 2 MiB instead of per 4 KiB). */
static void *
check_alloc(const bench_env_t *env, size_t elems, size_t esize, int huge)
{
    void *p = NULL;
    size_t align = huge ? BENCH_HUGE_PAGE : 4096, bytes, whole;

    if (elems == 0) {
        return NULL;
    }
    bytes = elems * esize;
    whole = (bytes + align - 1) / align * align; /* whole pages */
    if (elems > SIZE_MAX / esize || whole < bytes ||
        posix_memalign(&p, align, whole) != 0) {
        fprintf(stderr, "%s: rank %d: cannot allocate %zu bytes\n", bench_prog,
                env->rank, bytes);
        exit(1);
    }
    if (huge && madvise(p, whole, MADV_HUGEPAGE) != 0) {
        fprintf(stderr, "%s: rank %d: madvise(MADV_HUGEPAGE): %s\n", bench_prog,
                env->rank, strerror(errno));
        exit(1);
    }
    return p;
}

void
bench_bufs_create(const bench_opts_t *o, const bench_env_t *env, size_t count,
                  bench_bufs_t *b)
{
    size_t n = (size_t)env->size, esize = weft_dtype_size(o->dtype);
    int root = env->rank == o->root, ip = o->inplace;

    memset(b, 0, sizeof(*b));
    b->count = count;
    switch (o->coll) {
    case BENCH_ALLREDUCE:
        b->nsend = ip ? 0 : count;
        b->nrecv = count;
        break;
    case BENCH_REDUCE:
        b->nsend = ip && root ? 0 : count;
        b->nrecv = root ? count : 0;
        break;
    case BENCH_BROADCAST:
        b->nrecv = count;
        break;
    case BENCH_ALLGATHER:
        b->nsend = ip ? 0 : count;
        b->nrecv = count * n;
        break;
    case BENCH_REDUCE_SCATTER:
        b->nsend = ip ? 0 : count * n;
        b->nrecv = ip ? count * n : count;
        break;
    case BENCH_ALLTOALL:
        b->nsend = ip ? 0 : count * n;
        b->nrecv = count * n;
        break;
    case BENCH_GATHER:
        b->nsend = ip && root ? 0 : count;
        b->nrecv = root ? count * n : 0;
        break;
    case BENCH_SCATTER:
        b->nsend = root && !ip ? count * n : 0;
        b->nrecv = root && ip ? count * n : count;
        break;
    default:
        break;
    }
    b->sbuf = check_alloc(env, b->nsend, esize, o->huge);
    b->rbuf = check_alloc(env, b->nrecv, esize, o->huge);
    b->recv = b->rbuf;
    b->send = b->nsend > 0 ? b->sbuf : b->rbuf; /* in place: same buffer */
    if (o->coll == BENCH_REDUCE && ip && !root) {
        b->send = b->sbuf;
    }
    bench_bufs_fill(o, env, b);
}

void
bench_bufs_destroy(bench_bufs_t *b)
{
    free(b->sbuf);
    free(b->rbuf);
    memset(b, 0, sizeof(*b));
}

/* Where this rank's input lives and how long it is, in place or not:
 * element i of the input is at *buf_p + off + i. */
static size_t
check_input(const bench_opts_t *o, const bench_env_t *env,
            const bench_bufs_t *b, void **buf_p, size_t *off_p)
{
    int me = env->rank;
    size_t c = b->count, n = (size_t)env->size;

    *off_p = 0;
    *buf_p = b->sbuf;
    switch (o->coll) {
    case BENCH_BROADCAST:
        *buf_p = b->rbuf;
        return me == o->root ? c : 0;
    case BENCH_ALLGATHER:
    case BENCH_GATHER:
        if (b->nsend == 0) { /* in place: my block of the output */
            *buf_p = b->rbuf;
            *off_p = (size_t)me * c;
        }
        return c;
    case BENCH_SCATTER:
        if (me != o->root) {
            return 0;
        }
        *buf_p = b->nsend > 0 ? b->sbuf : b->rbuf;
        return c * n;
    case BENCH_BARRIER:
        return 0;
    default:
        if (b->nsend == 0) {
            *buf_p = b->rbuf;
        }
        return b->nsend > 0 ? b->nsend : b->nrecv;
    }
}

void
bench_bufs_fill(const bench_opts_t *o, const bench_env_t *env, bench_bufs_t *b)
{
    void *buf;
    size_t off, len = check_input(o, env, b, &buf, &off);

    for (size_t i = 0; i < len; i++) {
        bench_elem_store(o->dtype, buf, off + i,
                         check_value(o, env->size, env->rank, i));
    }
}

void
bench_bufs_poison(const bench_opts_t *o, const bench_env_t *env,
                  bench_bufs_t *b)
{
    size_t esize = weft_dtype_size(o->dtype), off, len;
    int byte = bench_dtype_is_float(o->dtype) ? 0xff : 0xa5; /* floats: NaN */
    void *in;

    if (b->rbuf == NULL) {
        return;
    }
    len = check_input(o, env, b, &in, &off);
    if (in != b->rbuf || len == 0) {
        memset(b->rbuf, byte, b->nrecv * esize);
    } else if (len < b->nrecv) { /* in place: poison around the input */
        memset(b->rbuf, byte, off * esize);
        memset((char *)b->rbuf + (off + len) * esize, byte,
               (b->nrecv - off - len) * esize);
    }
}

long
bench_check(const bench_opts_t *o, const bench_env_t *env,
            const bench_bufs_t *b)
{
    size_t esize = weft_dtype_size(o->dtype), first = 0, len = b->nrecv;
    const char *name = bench_coll_name(o->coll);
    uint64_t want; /* one element, any dtype */
    long wrong = 0;

    if (o->coll == BENCH_BARRIER || b->rbuf == NULL) {
        return 0;
    }
    if (o->coll == BENCH_REDUCE_SCATTER) {
        len = b->count; /* in place: the result is the start */
    } else if (o->coll == BENCH_SCATTER && b->nrecv > b->count) {
        first = (size_t)env->rank * b->count; /* root in place */
        len = first + b->count;
    }
    for (size_t i = first; i < len; i++) {
        double e = check_expected(o, env, b, i - first);
        const unsigned char *got = (const unsigned char *)b->rbuf + i * esize;

        bench_elem_store(o->dtype, &want, 0, e);
        if (memcmp(got, &want, esize) == 0) {
            continue;
        }
        if (wrong < CHECK_MAX_PRINTED) {
            fprintf(stderr,
                    "# ERROR %s %s size %zu rank %d elem %zu: got %.9g want "
                    "%.9g\n",
                    name, weft_dtype_name(o->dtype),
                    bench_coll_size(o, b->count, env->size), env->rank, i,
                    bench_elem_load(o->dtype, got, 0),
                    bench_elem_load(o->dtype, &want, 0));
        }
        wrong++;
    }
    if (wrong > CHECK_MAX_PRINTED) {
        fprintf(stderr,
                "# ERROR %s size %zu rank %d: %ld wrong elements (first %d "
                "printed)\n",
                name, bench_coll_size(o, b->count, env->size), env->rank, wrong,
                CHECK_MAX_PRINTED);
    }
    return wrong;
}
