/* Data movement shared by several algorithms (see move_common.h). */
#include "build_config.h"
#include "collectives/algos/move_common.h"

#include "errmsg.h"

int
weft__blocks_alloc(weft__sched_t *s, weft__blocks_t *b, void *buf, int me,
                   int shift)
{
    int n = weft__sched_comm(s)->size;

    b->buf = buf;
    b->n = n;
    b->me = me;
    b->shift = shift;
    b->off = weft__sched_scratch(s, 2 * (size_t)n * sizeof(size_t));
    b->len = b->off != NULL ? b->off + n : NULL;
    return b->off != NULL;
}

int
weft__move_span(int v, int n)
{
    int m = 1;

    if (v > 0) {
        return v & -v;
    }
    while (m < n) {
        m <<= 1;
    }
    return m;
}

int
weft__move_wrap(int root, int lo, int hi, int n, int *first_p)
{
    *first_p = (lo + root) % n;
    return *first_p + (hi - lo) > n ? n - *first_p : hi - lo;
}

static int
move_rank(const weft__blocks_t *b, int v)
{
    return ((v % b->n + b->n) % b->n + b->shift) % b->n;
}

void
weft__move_ring(weft__sched_t *s, const weft__blocks_t *b, int ready)
{
    int n = b->n, prev = ready; /* the step the next send waits for */
    int left = move_rank(b, b->me - 1), right = move_rank(b, b->me + 1);

    for (int k = 0; k < n - 1; k++) {
        int sb = (b->me - k + n) % n, rb = (b->me - k - 1 + n) % n;

        /* block sb is the one received in the step before (or our own) */
        if (b->len[sb] > 0) {
            int sv =
                weft__sched_send(s, b->buf + b->off[sb], b->len[sb], right);
            weft__sched_dep(s, sv, prev);
        }
        prev = -1;
        if (b->len[rb] > 0) {
            prev = weft__sched_recv(s, b->buf + b->off[rb], b->len[rb], left);
        }
    }
}

/* First block of the folded virtual rank w (see weft__move_rdouble). */
static int
rd_first(int w, int rem)
{
    return w < rem ? 2 * w : w + rem;
}

/* Send (or receive) blocks [lo, hi) as one message, unless empty. */
static void
rd_move(weft__sched_t *s, const weft__blocks_t *b, int lo, int hi, int peer,
        int send)
{
    size_t off, len;

    if (hi <= lo) {
        return;
    }
    off = b->off[lo];
    len = b->off[hi - 1] + b->len[hi - 1] - off;
    if (len == 0) {
        return;
    }
    if (send) {
        weft__sched_send(s, b->buf + off, len, move_rank(b, peer));
    } else {
        weft__sched_recv(s, b->buf + off, len, move_rank(b, peer));
    }
}

/*
 * With p the largest power of two <= n and rem = n - p, blocks 2i and 2i+1
 * (i < rem) pair up: the odd one hands its block to the even one, which
 * stands for both as virtual rank i; blocks from 2 rem on are virtual
 * ranks rem.. p-1. A group of consecutive virtual ranks then owns a
 * consecutive run of blocks, so every round is one message each way.
 */
void
weft__move_rdouble(weft__sched_t *s, const weft__blocks_t *b)
{
    int n = b->n, p = weft__pow2_floor(n), rem = n - p, v = b->me, w;

    weft__sched_fence(s);
    if (v < 2 * rem && v % 2 == 1) {
        rd_move(s, b, v, v + 1, v - 1, 1);
        rd_move(s, b, 0, v, v - 1, 0);
        rd_move(s, b, v + 1, n, v - 1, 0);
        return;
    }
    if (v < 2 * rem) {
        rd_move(s, b, v + 1, v + 2, v + 1, 0);
        weft__sched_fence(s);
    }
    w = v < 2 * rem ? v / 2 : v - rem;
    for (int mask = 1; mask < p; mask <<= 1) {
        int g = w & ~(mask - 1), pg = (w ^ mask) & ~(mask - 1);
        int peer = rd_first(w ^ mask, rem);

        /* what we send now is what the rounds before gathered */
        rd_move(s, b, rd_first(g, rem), rd_first(g + mask, rem), peer, 1);
        rd_move(s, b, rd_first(pg, rem), rd_first(pg + mask, rem), peer, 0);
        weft__sched_fence(s);
    }
    if (v < 2 * rem) {
        rd_move(s, b, 0, v + 1, v + 1, 1);
        rd_move(s, b, v + 2, n, v + 1, 1);
    }
}

/* Partner of rank r in round k, for k in [1, n) (pow2, or not in place:
 * send to the first, receive from the second) or [0, n) (in place, not a
 * power of two: a round's partners pair up, one round is with itself). */
static void
pairwise_peers(int n, int r, int k, int inplace, int *to_p, int *from_p)
{
    if ((n & (n - 1)) == 0) {
        *to_p = *from_p = r ^ k;
    } else if (!inplace) {
        *to_p = (r + k) % n;
        *from_p = (r - k + n) % n;
    } else {
        *to_p = *from_p = (k - r + n) % n;
    }
}

static size_t
pairwise_max(const size_t *counts, int n, int skip)
{
    size_t max = 0;

    for (int i = 0; i < n; i++) {
        max = i != skip && counts[i] > max ? counts[i] : max;
    }
    return max;
}

/* One round: in place the block to send is where the received one goes,
 * so the receive lands in tmp and is copied once both are done. */
static void
pairwise_round(weft__sched_t *s, const weft__coll_args_t *a, char *tmp, int to,
               int from)
{
    const char *sbuf = a->inplace ? a->recvbuf : a->sendbuf;
    size_t es = a->esize, slen = a->scounts[to] * es;
    size_t rlen = a->rcounts[from] * es;
    char *dst = weft__at(a->recvbuf, a->rdispls[from], es);

    if (slen > 0) {
        weft__sched_send(s, sbuf + a->sdispls[to] * es, slen, to);
    }
    if (rlen > 0) {
        weft__sched_recv(s, a->inplace ? tmp : dst, rlen, from);
    }
    weft__sched_fence(s);
    if (a->inplace && rlen > 0) {
        weft__sched_copy(s, dst, tmp, rlen);
        weft__sched_fence(s);
    }
}

weft_status_t
weft__move_pairwise(weft__sched_t *s, const weft__coll_args_t *a)
{
    weft_comm_t *comm = weft__sched_comm(s);
    int n = comm->size, r = comm->rank, pow2 = (n & (n - 1)) == 0;
    char *tmp = NULL;

    if (a->scounts[r] != a->rcounts[r]) {
        return weft__error(WEFT_ERR_INVALID_ARG, WEFT_SUB_COLL,
                           "%s: rank %d sends itself %zu elements but "
                           "expects %zu",
                           weft__coll_name(a->coll), r, a->scounts[r],
                           a->rcounts[r]);
    }
    if (!a->inplace && a->rcounts[r] > 0) {
        weft__sched_copy(s, weft__at(a->recvbuf, a->rdispls[r], a->esize),
                         weft__cat(a->sendbuf, a->sdispls[r], a->esize),
                         a->rcounts[r] * a->esize);
    }
    if (a->inplace && n > 1) {
        tmp = weft__sched_scratch(s, pairwise_max(a->rcounts, n, r) * a->esize);
        if (tmp == NULL) {
            return WEFT_OK; /* weft__sched_start reports it */
        }
    }
    /* a round at a time: large messages, one partner's worth in flight */
    for (int k = a->inplace && !pow2 ? 0 : 1; k < n; k++) {
        int to, from;

        pairwise_peers(n, r, k, a->inplace, &to, &from);
        if (to != r) {
            pairwise_round(s, a, tmp, to, from);
        }
    }
    return WEFT_OK;
}

double
weft__move_cost_far(const weft__cost_t *m, double rounds, double bytes,
                    double copied)
{
    /* with two ranks the partner is the neighbour */
    return weft__cost_rounds(m, rounds, (m->size > 2 ? 1.25 : 1) * bytes,
                             copied);
}
