/* One collective call, laid out and checked byte by byte (coll_case.h). */
#include "build_config.h"
#include "coll_case.h"

#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "collectives/select.h"
#include "harness.h"

#define CASE_GUARD 64 /* bytes of poison around every payload */
#define CASE_SHOW 5   /* wrong elements described per case */

int
wt_coll_reduces(weft__coll_t coll)
{
    return coll == WEFT_COLL_ALLREDUCE || coll == WEFT_COLL_REDUCE ||
           coll == WEFT_COLL_REDUCE_SCATTER ||
           coll == WEFT_COLL_REDUCE_SCATTER_V;
}

int
wt_coll_rooted(weft__coll_t coll)
{
    return coll == WEFT_COLL_REDUCE || coll == WEFT_COLL_BROADCAST ||
           coll == WEFT_COLL_GATHER || coll == WEFT_COLL_SCATTER;
}

int
wt_coll_has_inplace(weft__coll_t coll)
{
    return coll != WEFT_COLL_BROADCAST && coll != WEFT_COLL_BARRIER;
}

void
wt_case_desc(const wt_case_t *c, int size, char *buf, size_t len)
{
    const weft__algo_t *const *algos = weft__algos(c->coll);

    snprintf(buf, len,
             "%s/%s %s %s count %zu ranks %d inplace %d root %d nb %d "
             "seq 0x%llx",
             weft__coll_name(c->coll),
             c->algo >= 0 ? algos[c->algo]->name : "auto",
             wt_ref_dtype_name(c->dt), wt_ref_op_name(c->op), c->count, size,
             c->inplace, c->root, c->nb, (unsigned long long)c->seq);
}

/* ---- buffers ---- */

static int
case_alloc(wt_case_run_t *x, wt_buf_t *b, size_t elems)
{
    /* the payload's alignment varies (always a whole element) */
    b->pre = CASE_GUARD + (size_t)(x->c.seq % 4) * x->es;
    b->total = b->pre + elems * x->es + CASE_GUARD;
    b->mem = malloc(b->total);
    WT_CHECK(b->mem != NULL, "out of memory (%zu bytes)", b->total);
    if (b->mem == NULL) {
        return -1;
    }
    wt_poison(b->mem, b->total, x->c.seq ^ (b == &x->s ? 0x5a : 0));
    return 0;
}

static char *
case_at(wt_case_run_t *x, wt_buf_t *b, size_t elem)
{
    return b->mem + b->pre + elem * x->es;
}

/* Rank src's input elements idx.. into buffer b at elem. */
static void
case_put(wt_case_run_t *x, wt_buf_t *b, size_t elem, int src, uint64_t idx,
         size_t n)
{
    wt_ref_fill(x->c.dt, x->kind, x->c.seq, src, idx, n, case_at(x, b, elem));
}

/* The result must hold rank src's elements idx.. at elem. */
static void
case_want(wt_case_run_t *x, size_t elem, int src, uint64_t idx, size_t n)
{
    wt_ref_fill(x->c.dt, x->kind, x->c.seq, src, idx, n,
                x->r_exp + x->r.pre + elem * x->es);
    x->res[x->nres].off = elem;
    x->res[x->nres].len = n;
    x->res[x->nres].src = src;
    x->nres++;
}

/* The result must hold the reduction of elements idx.. at elem. */
static void
case_want_reduced(wt_case_run_t *x, size_t elem, uint64_t idx, size_t n)
{
    wt_ref_reduce(x->c.dt, x->c.op, x->c.seq, x->size, idx, n,
                  x->r_exp + x->r.pre + elem * x->es);
    x->res[x->nres].off = elem;
    x->res[x->nres].len = n;
    x->res[x->nres].src = -1;
    x->nres++;
}

/* ---- layouts ---- */

static size_t
case_vcount(size_t c, int k)
{
    return c == 0 || k % 4 == 2 ? 0 : c + (size_t)(k % 3);
}

static size_t
case_a2a_count(size_t c, int src, int dst, int sym)
{
    if (c == 0) {
        return 0;
    }
    if (sym) {
        return (src + dst) % 5 == 3 ? 0 : c + (size_t)((src + dst) % 4);
    }
    return (src + 2 * dst) % 5 == 3 ? 0 : c + (size_t)((3 * src + dst) % 4);
}

/* Displacements of n blocks in rotated (reversed) order with gaps; the
 * extent including the trailing gap. */
static size_t
case_displs(const size_t *cnt, int n, int rot, int rev, size_t gap,
            size_t *displs)
{
    size_t off = gap;

    for (int j = 0; j < n; j++) {
        int k = rev ? (n - 1 - j + rot) % n : (j + rot) % n;

        displs[k] = off;
        off += cnt[k] + gap;
    }
    return off;
}

/* A copy of b's allocation (NULL for none). */
static char *
case_copy(const wt_buf_t *b)
{
    char *p;

    if (b->mem == NULL) {
        return NULL;
    }
    p = malloc(b->total);
    WT_CHECK(p != NULL, "out of memory (%zu bytes)", b->total);
    if (p != NULL) {
        memcpy(p, b->mem, b->total);
    }
    return p;
}

/* The separate send buffer with rank r's elements 0..n-1. */
static int
case_send(wt_case_run_t *x, size_t n, int src, uint64_t idx)
{
    if (case_alloc(x, &x->s, n) != 0) {
        return -1;
    }
    case_put(x, &x->s, 0, src, idx, n);
    x->sp = case_at(x, &x->s, 0);
    return 0;
}

static int
case_recv(wt_case_run_t *x, size_t n)
{
    if (case_alloc(x, &x->r, n) != 0) {
        return -1;
    }
    x->rp = case_at(x, &x->r, 0);
    return 0;
}

/* Copies of the buffers as they are before the call: the send buffer must
 * stay so, and the receive buffer so except where results go. */
static int
case_snapshot(wt_case_run_t *x)
{
    x->s_copy = case_copy(&x->s);
    x->r_exp = case_copy(&x->r);
    return (x->s.mem != NULL && x->s_copy == NULL) ||
                   (x->r.mem != NULL && x->r_exp == NULL)
               ? -1
               : 0;
}

#define TRY(_e)                                                                \
    do {                                                                       \
        if ((_e) != 0) {                                                       \
            return -1;                                                         \
        }                                                                      \
    } while (0)

static int
case_reduce_layout(wt_case_run_t *x)
{
    const wt_case_t *c = &x->c;
    int r = x->rank, n = x->size;
    size_t cnt = c->count, nc = cnt * (size_t)n, total = 0;

    switch (c->coll) {
    case WEFT_COLL_ALLREDUCE:
    case WEFT_COLL_REDUCE:
        x->count_arg = cnt;
        if (c->coll == WEFT_COLL_REDUCE && r != c->root) {
            TRY(case_send(x, cnt, r, 0));
            if (!((c->seq >> 1) & 1)) {
                TRY(case_recv(x, cnt)); /* must stay untouched */
            }
            return case_snapshot(x);
        }
        TRY(case_recv(x, cnt));
        if (c->inplace) {
            case_put(x, &x->r, 0, r, 0, cnt);
            x->sp = x->rp;
        } else {
            TRY(case_send(x, cnt, r, 0));
        }
        TRY(case_snapshot(x));
        case_want_reduced(x, 0, 0, cnt);
        return 0;
    case WEFT_COLL_REDUCE_SCATTER:
        x->count_arg = cnt;
        if (c->inplace) {
            TRY(case_recv(x, nc));
            case_put(x, &x->r, 0, r, 0, nc);
            x->sp = x->rp;
            x->dc_off = cnt; /* the rest of the input: any state */
            x->dc_len = nc - cnt;
        } else {
            TRY(case_send(x, nc, r, 0));
            TRY(case_recv(x, cnt));
        }
        TRY(case_snapshot(x));
        case_want_reduced(x, 0, (uint64_t)r * cnt, cnt);
        return 0;
    default: /* WEFT_COLL_REDUCE_SCATTER_V */
        for (int k = 0; k < n; k++) {
            x->rc[k] = case_vcount(cnt, k);
            x->sd[k] = total; /* where block k starts in the input */
            total += x->rc[k];
        }
        x->count_arg = 0;
        if (c->inplace) {
            TRY(case_recv(x, total));
            case_put(x, &x->r, 0, r, 0, total);
            x->sp = x->rp;
            x->dc_off = x->rc[r];
            x->dc_len = total - x->rc[r];
        } else {
            TRY(case_send(x, total, r, 0));
            TRY(case_recv(x, x->rc[r]));
        }
        TRY(case_snapshot(x));
        case_want_reduced(x, 0, x->sd[r], x->rc[r]);
        return 0;
    }
}

static int
case_gather_layout(wt_case_run_t *x)
{
    const wt_case_t *c = &x->c;
    int r = x->rank, n = x->size;
    size_t cnt = c->count, nc = cnt * (size_t)n, ext;

    x->count_arg = cnt;
    switch (c->coll) {
    case WEFT_COLL_BROADCAST:
        TRY(case_recv(x, cnt));
        if (r == c->root) {
            case_put(x, &x->r, 0, r, 0, cnt);
        }
        x->sp = x->rp;
        TRY(case_snapshot(x));
        if (r != c->root) {
            case_want(x, 0, c->root, 0, cnt);
        }
        return 0;
    case WEFT_COLL_ALLGATHER:
    case WEFT_COLL_GATHER:
        if (c->coll == WEFT_COLL_GATHER && r != c->root) {
            TRY(case_send(x, cnt, r, 0));
            if (!((c->seq >> 1) & 1)) {
                TRY(case_recv(x, nc)); /* must stay untouched */
            }
            return case_snapshot(x);
        }
        TRY(case_recv(x, nc));
        if (c->inplace) {
            case_put(x, &x->r, (size_t)r * cnt, r, 0, cnt);
            x->sp = x->rp;
        } else {
            TRY(case_send(x, cnt, r, 0));
        }
        TRY(case_snapshot(x));
        for (int k = 0; k < n; k++) {
            case_want(x, (size_t)k * cnt, k, 0, cnt);
        }
        return 0;
    case WEFT_COLL_ALLGATHERV:
        for (int k = 0; k < n; k++) {
            x->rc[k] = case_vcount(cnt, k);
        }
        ext = case_displs(x->rc, n, r % n, r & 1, 1 + (size_t)(r % 3),
                          x->rd);
        x->count_arg = x->rc[r];
        TRY(case_recv(x, ext));
        if (c->inplace) {
            case_put(x, &x->r, x->rd[r], r, 0, x->rc[r]);
            x->sp = x->rp;
        } else {
            TRY(case_send(x, x->rc[r], r, 0));
        }
        TRY(case_snapshot(x));
        for (int k = 0; k < n; k++) {
            case_want(x, x->rd[k], k, 0, x->rc[k]);
        }
        return 0;
    default: /* WEFT_COLL_SCATTER */
        if (r == c->root && c->inplace) {
            TRY(case_recv(x, nc)); /* the root's block stays where it is */
            case_put(x, &x->r, 0, r, 0, nc);
            x->sp = x->rp;
            return case_snapshot(x);
        }
        if (r == c->root) {
            TRY(case_send(x, nc, r, 0));
        } else if (!((c->seq >> 1) & 1)) {
            TRY(case_alloc(x, &x->s, nc)); /* unused: must stay untouched */
            x->sp = case_at(x, &x->s, 0);
        }
        TRY(case_recv(x, cnt));
        TRY(case_snapshot(x));
        case_want(x, 0, c->root, (uint64_t)r * cnt, cnt);
        return 0;
    }
}

static int
case_alltoall_layout(wt_case_run_t *x)
{
    const wt_case_t *c = &x->c;
    int r = x->rank, n = x->size;
    size_t cnt = c->count, nc = cnt * (size_t)n, sext, rext;
    wt_buf_t *sb;

    if (c->coll == WEFT_COLL_ALLTOALL) {
        x->count_arg = cnt;
        TRY(case_recv(x, nc));
        if (c->inplace) {
            case_put(x, &x->r, 0, r, 0, nc);
            x->sp = x->rp;
        } else {
            TRY(case_send(x, nc, r, 0));
        }
        TRY(case_snapshot(x));
        for (int k = 0; k < n; k++) {
            case_want(x, (size_t)k * cnt, k, (uint64_t)r * cnt, cnt);
        }
        return 0;
    }
    for (int k = 0; k < n; k++) {
        x->sc[k] = case_a2a_count(cnt, r, k, c->inplace);
        x->rc[k] = case_a2a_count(cnt, k, r, c->inplace);
    }
    sext = case_displs(x->sc, n, (r + 1) % n, r & 1, 1 + (size_t)(r % 2),
                       x->sd);
    if (c->inplace) {
        memcpy(x->rd, x->sd, sizeof(x->rd));
        rext = sext;
    } else {
        rext = case_displs(x->rc, n, (2 * r) % n, !(r & 1),
                           2 - (size_t)(r % 2), x->rd);
    }
    TRY(case_recv(x, rext));
    if (!c->inplace) {
        TRY(case_alloc(x, &x->s, sext));
    }
    sb = c->inplace ? &x->r : &x->s;
    for (int k = 0; k < n; k++) { /* block for k: element i is (k, i) */
        case_put(x, sb, x->sd[k], r, (uint64_t)k << 40, x->sc[k]);
    }
    x->sp = case_at(x, sb, 0);
    TRY(case_snapshot(x));
    for (int k = 0; k < n; k++) {
        case_want(x, x->rd[k], k, (uint64_t)r << 40, x->rc[k]);
    }
    return 0;
}

int
wt_case_setup(wt_case_run_t *x, const wt_case_t *c, const weft_comm_t *comm)
{
    memset(x, 0, sizeof(*x));
    x->c = *c;
    x->rank = weft_comm_rank(comm);
    x->size = weft_comm_size(comm);
    x->es = wt_ref_esize(c->dt);
    x->kind = wt_ref_kind(c->op);
    WT_CHECK(x->size <= WT_CASE_MAX_RANKS, "too many ranks");
    switch (c->coll) {
    case WEFT_COLL_ALLREDUCE:
    case WEFT_COLL_REDUCE:
    case WEFT_COLL_REDUCE_SCATTER:
    case WEFT_COLL_REDUCE_SCATTER_V:
        return case_reduce_layout(x);
    case WEFT_COLL_BROADCAST:
    case WEFT_COLL_ALLGATHER:
    case WEFT_COLL_ALLGATHERV:
    case WEFT_COLL_GATHER:
    case WEFT_COLL_SCATTER:
        return case_gather_layout(x);
    case WEFT_COLL_ALLTOALL:
    case WEFT_COLL_ALLTOALLV:
        return case_alltoall_layout(x);
    default:
        return 0; /* barrier: no buffers */
    }
}

/* The arguments as weft's own checks normalize them (coll_api.c,
 * coll_args.c), for asking an algorithm whether it can run the call. */
const char *
wt_case_supported(const wt_case_run_t *x, const weft_comm_t *comm)
{
    const wt_case_t *c = &x->c;
    weft__coll_args_t a;
    int rooted = wt_coll_rooted(c->coll);

    if (c->algo < 0) {
        return NULL;
    }
    memset(&a, 0, sizeof(a));
    a.coll = c->coll;
    a.sendbuf = x->sp;
    a.recvbuf = x->rp;
    a.count = x->count_arg;
    a.dtype = c->dt;
    a.op = wt_coll_reduces(c->coll) ? (weft_op_t)c->op : (weft_op_t)0;
    a.root = rooted ? c->root : 0;
    a.esize = x->es;
    switch (c->coll) {
    case WEFT_COLL_ALLGATHERV:
        a.rcounts = x->rc;
        a.rdispls = x->rd;
        break;
    case WEFT_COLL_REDUCE_SCATTER_V:
        a.rcounts = x->rc;
        break;
    case WEFT_COLL_ALLTOALLV:
        a.scounts = x->sc;
        a.sdispls = x->sd;
        a.rcounts = x->rc;
        a.rdispls = x->rd;
        break;
    default:
        break;
    }
    a.inplace = a.sendbuf == a.recvbuf && a.sendbuf != NULL &&
                (!rooted || a.root == x->rank);
    if (c->coll == WEFT_COLL_BROADCAST) {
        a.inplace = 1;
    }
    if (c->coll == WEFT_COLL_BARRIER) {
        a.inplace = 0;
        a.esize = 0;
    }
    return weft__algos(c->coll)[c->algo]->supported(&a, comm);
}

int
wt_case_available(const wt_case_t *c, const weft_comm_t *comm)
{
    const weft__algo_t *const *algos = weft__algos(c->coll);
    wt_case_run_t x;
    int found = 0;

    if (wt_case_setup(&x, c, comm) == 0) {
        for (int ai = 0; algos[ai] != NULL && !found; ai++) {
            x.c.algo = ai;
            found = wt_case_supported(&x, comm) == NULL;
        }
    }
    wt_case_free(&x);
    return found;
}

weft_status_t
wt_case_start(wt_case_run_t *x, weft_comm_t *comm)
{
    const wt_case_t *c = &x->c;
    weft_request_t **rq = c->nb ? &x->req : NULL;
    weft_dtype_t dt = c->dt;
    weft_op_t op = c->op < 0 ? WEFT_SUM : (weft_op_t)c->op;
    const void *s = x->sp;
    void *r = x->rp;
    size_t n = x->count_arg;

    x->req = NULL;
    switch (c->coll) {
    case WEFT_COLL_ALLREDUCE:
        return rq ? weft_iallreduce(s, r, n, dt, op, comm, rq)
                  : weft_allreduce(s, r, n, dt, op, comm);
    case WEFT_COLL_REDUCE:
        return rq ? weft_ireduce(s, r, n, dt, op, c->root, comm, rq)
                  : weft_reduce(s, r, n, dt, op, c->root, comm);
    case WEFT_COLL_BROADCAST:
        return rq ? weft_ibroadcast(r, n, dt, c->root, comm, rq)
                  : weft_broadcast(r, n, dt, c->root, comm);
    case WEFT_COLL_ALLGATHER:
        return rq ? weft_iallgather(s, r, n, dt, comm, rq)
                  : weft_allgather(s, r, n, dt, comm);
    case WEFT_COLL_ALLGATHERV:
        return rq ? weft_iallgatherv(s, n, r, x->rc, x->rd, dt, comm, rq)
                  : weft_allgatherv(s, n, r, x->rc, x->rd, dt, comm);
    case WEFT_COLL_REDUCE_SCATTER:
        return rq ? weft_ireduce_scatter(s, r, n, dt, op, comm, rq)
                  : weft_reduce_scatter(s, r, n, dt, op, comm);
    case WEFT_COLL_REDUCE_SCATTER_V:
        return rq ? weft_ireduce_scatter_v(s, r, x->rc, dt, op, comm, rq)
                  : weft_reduce_scatter_v(s, r, x->rc, dt, op, comm);
    case WEFT_COLL_ALLTOALL:
        return rq ? weft_ialltoall(s, r, n, dt, comm, rq)
                  : weft_alltoall(s, r, n, dt, comm);
    case WEFT_COLL_ALLTOALLV:
        return rq ? weft_ialltoallv(s, x->sc, x->sd, r, x->rc, x->rd, dt,
                                    comm, rq)
                  : weft_alltoallv(s, x->sc, x->sd, r, x->rc, x->rd, dt,
                                   comm);
    case WEFT_COLL_GATHER:
        return rq ? weft_igather(s, r, n, dt, c->root, comm, rq)
                  : weft_gather(s, r, n, dt, c->root, comm);
    case WEFT_COLL_SCATTER:
        return rq ? weft_iscatter(s, r, n, dt, c->root, comm, rq)
                  : weft_scatter(s, r, n, dt, c->root, comm);
    default:
        return rq ? weft_ibarrier(comm, rq) : weft_barrier(comm);
    }
}

weft_status_t
wt_case_finish(wt_case_run_t *x)
{
    weft_request_t *req = x->req;
    weft_status_t st;
    int done = 0;

    x->req = NULL;
    if (req == NULL) {
        return WEFT_OK;
    }
    if (x->c.nb == 1) {
        return weft_wait(req);
    }
    /* weft_test applies no deadline: poll a while, then wait */
    for (int i = 0; i < 1000; i++) {
        st = weft_test(req, &done);
        if (done || st != WEFT_OK) {
            return st;
        }
        sched_yield();
    }
    return weft_wait(req);
}

/* ---- checking ---- */

static void
case_where(const wt_case_run_t *x, size_t j, char *buf, size_t len)
{
    for (int i = 0; i < x->nres; i++) {
        if (j >= x->res[i].off && j - x->res[i].off < x->res[i].len) {
            if (x->res[i].src < 0) {
                snprintf(buf, len, "result element %zu", j - x->res[i].off);
            } else {
                snprintf(buf, len, "block from rank %d, element %zu",
                         x->res[i].src, j - x->res[i].off);
            }
            return;
        }
    }
    snprintf(buf, len, "outside the result: must stay untouched");
}

/* Compare got and want (allocations of b's shape); report as `name`. */
static size_t
case_compare(wt_case_run_t *x, const wt_buf_t *b, const char *got,
             const char *want, const char *name, int is_recv, char *first,
             size_t flen)
{
    size_t payload = b->total - b->pre - CASE_GUARD, bad = 0;
    char desc[256], where[96], g[64], w[64];

    if (memcmp(got, want, b->total) == 0) {
        return 0;
    }
    wt_case_desc(&x->c, x->size, desc, sizeof(desc));
    for (size_t o = 0; o < b->total; o++) { /* the guards, byte by byte */
        if ((o < b->pre || o >= b->pre + payload) && got[o] != want[o]) {
            if (bad++ < CASE_SHOW) {
                fprintf(stderr,
                        "[rank %d] %s: %s: byte %zd from the payload (a "
                        "guard) was written: 0x%02x, was 0x%02x\n",
                        x->rank, desc, name,
                        o < b->pre ? -(ssize_t)(b->pre - o)
                                   : (ssize_t)(o - b->pre),
                        (uint8_t)got[o], (uint8_t)want[o]);
            }
            if (bad == 1 && first != NULL) {
                snprintf(first, flen, "rank %d: %s: %s guard written", x->rank,
                         desc, name);
            }
        }
    }
    for (size_t j = 0; j < payload / x->es; j++) {
        size_t o = b->pre + j * x->es;

        if (memcmp(got + o, want + o, x->es) == 0) {
            continue;
        }
        if (bad < CASE_SHOW || (bad == 0 && first != NULL)) {
            wt_ref_format(x->c.dt, got + o, g, sizeof(g));
            wt_ref_format(x->c.dt, want + o, w, sizeof(w));
            if (is_recv) {
                case_where(x, j, where, sizeof(where));
            } else {
                snprintf(where, sizeof(where), "a send buffer is never "
                                               "written");
            }
            if (bad < CASE_SHOW) {
                fprintf(stderr, "[rank %d] %s: %s[%zu] (%s) got %s want %s\n",
                        x->rank, desc, name, j, where, g, w);
            }
            if (bad == 0 && first != NULL) {
                snprintf(first, flen, "rank %d: %s: %s[%zu] (%s) got %s want %s",
                         x->rank, desc, name, j, where, g, w);
            }
        }
        bad++;
    }
    if (bad > CASE_SHOW) {
        fprintf(stderr, "[rank %d] %s: %s: %zu wrong elements in all\n",
                x->rank, desc, name, bad);
    }
    return bad;
}

size_t
wt_case_verify(wt_case_run_t *x, char *first, size_t len)
{
    size_t bad = 0;

    if (x->r_exp != NULL) {
        if (x->dc_len > 0) {
            size_t o = x->r.pre + x->dc_off * x->es;

            memcpy(x->r_exp + o, x->r.mem + o, x->dc_len * x->es);
        }
        bad += case_compare(x, &x->r, x->r.mem, x->r_exp,
                            x->sp == x->rp ? "buf" : "recvbuf", 1, first,
                            len);
    }
    if (x->s_copy != NULL) {
        bad += case_compare(x, &x->s, x->s.mem, x->s_copy, "sendbuf", 0,
                            bad == 0 ? first : NULL, len);
    }
    return bad;
}

void
wt_case_free(wt_case_run_t *x)
{
    if (x->req != NULL) {
        weft_request_free(x->req);
    }
    free(x->s.mem);
    free(x->r.mem);
    free(x->s_copy);
    free(x->r_exp);
    memset(x, 0, sizeof(*x));
}
