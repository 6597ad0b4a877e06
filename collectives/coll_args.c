/*
 * Checking a collective's arguments before anything is sent: every bad
 * input is WEFT_ERR_INVALID_ARG with a message naming the argument.
 */
#include "build_config.h"
#include "collectives/coll_args.h"

#include <stdint.h>

#include "collectives/reduce_ops.h"
#include "comm.h"
#include "errmsg.h"

static int
overlaps(const void *a, size_t alen, const void *b, size_t blen)
{
    uintptr_t x = (uintptr_t)a, y = (uintptr_t)b;

    if (a == NULL || b == NULL || alen == 0 || blen == 0) {
        return 0;
    }
    return x < y + blen && y < x + alen;
}

/* n * esize without overflow, into *bytes_p. */
static int
mul_ok(size_t n, size_t esize, size_t *bytes_p)
{
    if (esize != 0 && n > SIZE_MAX / esize) {
        return 0;
    }
    *bytes_p = n * esize;
    return 1;
}

/* The extent of v-blocks: max(displs[r] + counts[r]) in elements, or
 * sum(counts) when displs is NULL; 0 on overflow (with *bad_p set). */
static size_t
v_extent(const size_t *counts, const size_t *displs, int n, int *bad_p)
{
    size_t ext = 0;

    for (int r = 0; r < n; r++) {
        size_t base = displs != NULL ? displs[r] : ext;

        if (counts[r] > SIZE_MAX - base) {
            *bad_p = 1;
            return 0;
        }
        ext = base + counts[r] > ext ? base + counts[r] : ext;
    }
    return ext;
}

static weft_status_t
check_buf(const char *fn, const char *name, const void *buf, size_t count,
          size_t esize, size_t *bytes_p)
{
    WEFT_ARG_CHECK(mul_ok(count, esize, bytes_p),
                   "%s: %s: %zu elements of %zu bytes overflow size_t", fn,
                   name, count, esize);
    WEFT_ARG_CHECK(buf != NULL || count == 0,
                   "%s: %s is NULL with %zu elements", fn, name, count);
    return WEFT_OK;
}

static weft_status_t
check_v(const char *fn, const char *cname, const size_t *counts,
        const char *dname, const size_t *displs, int n, size_t *ext_p)
{
    int bad = 0;

    WEFT_ARG_CHECK(counts != NULL, "%s: %s is NULL", fn, cname);
    *ext_p = v_extent(counts, displs, n, &bad);
    WEFT_ARG_CHECK(!bad, "%s: %s%s%s overflow size_t", fn, cname,
                   displs ? " plus " : "", displs ? dname : "");
    return WEFT_OK;
}

/* The sizes each collective reads and writes at this rank, checked. */
static weft_status_t
check_extents(const char *fn, const weft__coll_args_t *a, int size, int rank,
              size_t *sbytes_p, size_t *rbytes_p)
{
    size_t n = (size_t)size, ext = 0, scount = 0, rcount = 0;
    int root = a->root == rank;

    switch (a->coll) {
    case WEFT_COLL_ALLREDUCE:
    case WEFT_COLL_BROADCAST:
        scount = rcount = a->count;
        break;
    case WEFT_COLL_REDUCE:
        scount = a->count;
        rcount = root ? a->count : 0;
        break;
    case WEFT_COLL_ALLGATHER:
    case WEFT_COLL_ALLTOALL:
        WEFT_ARG_CHECK(a->count <= SIZE_MAX / n,
                       "%s: count %zu times %d ranks overflows size_t", fn,
                       a->count, size);
        scount = a->coll == WEFT_COLL_ALLTOALL ? a->count * n : a->count;
        rcount = a->count * n;
        break;
    case WEFT_COLL_GATHER:
        WEFT_ARG_CHECK(a->count <= SIZE_MAX / n,
                       "%s: sendcount %zu times %d ranks overflows size_t",
                       fn, a->count, size);
        scount = a->count;
        rcount = root ? a->count * n : 0;
        break;
    case WEFT_COLL_SCATTER:
        WEFT_ARG_CHECK(a->count <= SIZE_MAX / n,
                       "%s: recvcount %zu times %d ranks overflows size_t",
                       fn, a->count, size);
        scount = root ? a->count * n : 0;
        rcount = a->count;
        break;
    case WEFT_COLL_REDUCE_SCATTER:
        WEFT_ARG_CHECK(a->count <= SIZE_MAX / n,
                       "%s: recvcount %zu times %d ranks overflows size_t",
                       fn, a->count, size);
        scount = a->count * n;
        rcount = a->count;
        break;
    case WEFT_COLL_ALLGATHERV:
        WEFT_CHECK(check_v(fn, "recvcounts", a->rcounts, "displs", a->rdispls,
                           size, &ext));
        WEFT_ARG_CHECK(a->rdispls != NULL, "%s: displs is NULL", fn);
        WEFT_ARG_CHECK(a->count == a->rcounts[rank],
                       "%s: sendcount %zu differs from recvcounts[%d] = %zu",
                       fn, a->count, rank, a->rcounts[rank]);
        scount = a->count;
        rcount = ext;
        break;
    case WEFT_COLL_REDUCE_SCATTER_V:
        WEFT_CHECK(check_v(fn, "recvcounts", a->rcounts, "", NULL, size,
                           &ext));
        scount = ext;
        rcount = a->rcounts[rank];
        break;
    case WEFT_COLL_ALLTOALLV:
        WEFT_CHECK(check_v(fn, "sendcounts", a->scounts, "sdispls", a->sdispls,
                           size, &scount));
        WEFT_ARG_CHECK(a->sdispls != NULL, "%s: sdispls is NULL", fn);
        WEFT_CHECK(check_v(fn, "recvcounts", a->rcounts, "rdispls", a->rdispls,
                           size, &rcount));
        WEFT_ARG_CHECK(a->rdispls != NULL, "%s: rdispls is NULL", fn);
        break;
    default:
        break;
    }
    if (!a->inplace) {
        WEFT_CHECK(check_buf(fn, a->coll == WEFT_COLL_BROADCAST ? "buf"
                                                                : "sendbuf",
                             a->sendbuf, scount, a->esize, sbytes_p));
    } else {
        *sbytes_p = 0;
    }
    WEFT_CHECK(check_buf(fn, a->coll == WEFT_COLL_BROADCAST ? "buf"
                                                            : "recvbuf",
                         a->recvbuf, rcount, a->esize, rbytes_p));
    return WEFT_OK;
}

static weft_status_t
check_inplace_v(const char *fn, const weft__coll_args_t *a, int size)
{
    for (int r = 0; r < size; r++) {
        WEFT_ARG_CHECK(a->scounts[r] == a->rcounts[r] &&
                           a->sdispls[r] == a->rdispls[r],
                       "%s: in place needs sendcounts == recvcounts and "
                       "sdispls == rdispls (they differ at rank %d)",
                       fn, r);
    }
    return WEFT_OK;
}

weft_status_t
weft__coll_args_check(const char *fn, weft__coll_args_t *a,
                      const weft_comm_t *comm)
{
    size_t sbytes = 0, rbytes = 0;
    int rooted = a->coll == WEFT_COLL_REDUCE ||
                 a->coll == WEFT_COLL_BROADCAST ||
                 a->coll == WEFT_COLL_GATHER || a->coll == WEFT_COLL_SCATTER;

    if (a->coll == WEFT_COLL_BARRIER) {
        return WEFT_OK;
    }
    WEFT_ARG_CHECK((unsigned)a->dtype < WEFT_DTYPE_COUNT,
                   "%s: dtype %d is not a weft_dtype_t", fn, (int)a->dtype);
    a->esize = weft_dtype_size(a->dtype);
    if (a->coll == WEFT_COLL_ALLREDUCE || a->coll == WEFT_COLL_REDUCE ||
        a->coll == WEFT_COLL_REDUCE_SCATTER ||
        a->coll == WEFT_COLL_REDUCE_SCATTER_V) {
        WEFT_ARG_CHECK((unsigned)a->op < WEFT_OP_COUNT,
                       "%s: op %d is not a weft_op_t", fn, (int)a->op);
        WEFT_ARG_CHECK(weft__reduce_valid(a->dtype, a->op),
                       "%s: op %s is not defined on %s (avg is for floating "
                       "types)",
                       fn, weft_op_name(a->op), weft_dtype_name(a->dtype));
    }
    if (rooted) {
        WEFT_ARG_CHECK(a->root >= 0 && a->root < comm->size,
                       "%s: root %d out of range [0, %d)", fn, a->root,
                       comm->size);
    }
    /* in place only where the collective has that form, and for rooted
     * ones only at the root (elsewhere the unused buffer may be anything) */
    a->inplace = a->sendbuf == a->recvbuf && a->sendbuf != NULL &&
                 (!rooted || a->root == comm->rank);
    if (a->coll == WEFT_COLL_BROADCAST) {
        a->inplace = 1;
    }
    if (a->inplace && a->coll == WEFT_COLL_ALLTOALLV) {
        WEFT_CHECK(check_inplace_v(fn, a, comm->size));
    } else if (a->coll == WEFT_COLL_ALLTOALLV && a->scounts != NULL &&
               a->rcounts != NULL) {
        WEFT_ARG_CHECK(a->scounts[comm->rank] == a->rcounts[comm->rank],
                       "%s: sendcounts[%d] = %zu but recvcounts[%d] = %zu "
                       "(the block a rank sends itself must fit exactly)",
                       fn, comm->rank, a->scounts[comm->rank], comm->rank,
                       a->rcounts[comm->rank]);
    }
    WEFT_CHECK(check_extents(fn, a, comm->size, comm->rank, &sbytes,
                             &rbytes));
    WEFT_ARG_CHECK(a->inplace || !overlaps(a->sendbuf, sbytes, a->recvbuf,
                                           rbytes),
                   "%s: sendbuf and recvbuf overlap (pass the same pointer "
                   "for the in-place form)",
                   fn);
    return WEFT_OK;
}

static int
coll_seen_keeps(const weft__coll_args_t *a)
{
    return a->coll != WEFT_COLL_BARRIER && a->scounts == NULL &&
           a->rcounts == NULL;
}

weft_status_t
weft__coll_args_check_seen(const char *fn, weft__coll_args_t *a,
                           weft_comm_t *comm)
{
    weft__coll_seen_t *s = &comm->coll_seen[a->coll];

    if (s->esize != 0 && a->sendbuf == s->sendbuf && a->recvbuf == s->recvbuf &&
        a->count == s->count && (int)a->dtype == s->dtype &&
        (int)a->op == s->op && a->root == s->root && coll_seen_keeps(a)) {
        a->esize = s->esize;
        a->inplace = s->inplace;
        return WEFT_OK;
    }
    WEFT_CHECK(weft__coll_args_check(fn, a, comm));
    if (coll_seen_keeps(a)) {
        s->sendbuf = a->sendbuf;
        s->recvbuf = a->recvbuf;
        s->count = a->count;
        s->esize = a->esize;
        s->dtype = (int)a->dtype;
        s->op = (int)a->op;
        s->root = a->root;
        s->inplace = a->inplace;
    }
    return WEFT_OK;
}
