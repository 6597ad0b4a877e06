/*
 * The fold, recursive halving and the ring reduce-scatter that several
 * reducing algorithms build on (see reduce_common.h).
 */
#include "build_config.h"
#include "collectives/algos/reduce_common.h"

#include "comm.h"

/* ---- the non-power-of-two fold ---- */

void
weft__fold_init(weft__fold_t *f, int n, int rank)
{
    f->p2 = weft__pow2_floor(n);
    f->rem = n - f->p2;
    f->partner = -1;
    f->newrank = rank - f->rem;
    if (rank < 2 * f->rem) {
        f->partner = rank ^ 1;
        f->newrank = rank % 2 ? -1 : rank / 2;
    }
}

int
weft__fold_rank(const weft__fold_t *f, int nr)
{
    return nr < f->rem ? 2 * nr : nr + f->rem;
}

void
weft__fold_in(weft__sched_t *s, const weft__fold_t *f, const void *input,
              void *acc, size_t count, size_t esize)
{
    size_t bytes = count * esize;
    char *tmp;
    int rv;

    if (f->partner < 0 || count == 0) {
        return;
    }
    if (f->newrank < 0) {
        weft__sched_send(s, input, bytes, f->partner);
        return;
    }
    tmp = weft__sched_scratch(s, bytes);
    if (tmp == NULL) {
        return; /* weft__sched_start reports it */
    }
    rv = weft__sched_recv(s, tmp, bytes, f->partner);
    weft__sched_dep(s, weft__sched_reduce3(s, acc, input, tmp, count), rv);
}

/* ---- recursive halving ---- */

/* Element off of the data a round reads: the caller's layout before the
 * first reduction, the partial sums after it. */
static const char *
halving_src(const weft__halving_t *h, int first, size_t off)
{
    return first ? h->src + off * h->esize
                 : h->acc + (off - h->acc_off) * h->esize;
}

void
weft__halving_first(const weft__halving_t *h, size_t *lo_p, size_t *hi_p)
{
    int half = h->f->p2 / 2, lo = h->f->newrank & half ? half : 0;

    *lo_p = h->bounds[lo];
    *hi_p = h->bounds[half > 0 ? lo + half : 1];
}

/*
 * Round by round the window of parts [lo, lo + 2 * mask) halves: the rank
 * keeps the half its own part is in and sends the other to the survivor
 * mask away, which keeps that one. Sends read what the previous round
 * reduced; a receive reuses tmp once the previous reduction has read it.
 * The kept and the sent halves never overlap, so no reduction has to wait
 * for a send.
 */
void
weft__halving_build(weft__sched_t *s, const weft__halving_t *h)
{
    int nr = h->f->newrank, lo = 0, red = -1, first = 1;
    size_t es = h->esize, klo, khi;
    char *tmp;

    weft__halving_first(h, &klo, &khi);
    tmp = khi > klo ? weft__sched_scratch(s, (khi - klo) * es) : NULL;
    for (int mask = h->f->p2 / 2; mask > 0; mask /= 2) {
        int peer = weft__fold_rank(h->f, nr ^ mask);
        int keep = nr & mask ? lo + mask : lo;
        int send = nr & mask ? lo : lo + mask;
        size_t ko = h->bounds[keep], kn = h->bounds[keep + mask] - ko;
        size_t so = h->bounds[send], sn = h->bounds[send + mask] - so;

        if (sn > 0) {
            int sv =
                weft__sched_send(s, halving_src(h, first, so), sn * es, peer);

            weft__sched_dep(s, sv, red);
        }
        if (kn > 0 && tmp != NULL) {
            int rv = weft__sched_recv(s, tmp, kn * es, peer);

            weft__sched_dep(s, rv, red);
            red = weft__sched_reduce3(s, h->acc + (ko - h->acc_off) * es,
                                      halving_src(h, first, ko), tmp, kn);
            weft__sched_dep(s, red, rv);
        }
        first = 0;
        lo = keep;
    }
}

/* ---- the ring reduce-scatter ---- */

/* Elements of chunk c of block b (0 past its end). */
static size_t
ring_piece(const weft__rs_ring_t *g, int b, size_t c, size_t ce)
{
    size_t start = c * ce;

    if (start >= g->len[b]) {
        return 0;
    }
    return g->len[b] - start < ce ? g->len[b] - start : ce;
}

/*
 * Step k: send block r - k - 1 (the input at k = 0, else what step k - 1
 * reduced) to the right, receive block r - k - 2 from the left into
 * buf[k % 2] and reduce it there with the input; at the last step
 * (k = n - 2) the received block is the rank's own and its reduction is the
 * final one. A chunk of a buffer is received into again only once the last
 * send of it is done: with empty blocks that send may be from any earlier
 * step, not just the one before.
 */
static void
ring_steps(weft__sched_t *s, const weft__rs_ring_t *g, char *buf[2], size_t ce,
           size_t nch, int *ids)
{
    weft_comm_t *comm = weft__sched_comm(s);
    int n = comm->size, r = comm->rank, *red = ids, *snd[2];
    int left = (r + n - 1) % n, right = (r + 1) % n;
    size_t es = g->esize;
    char *direct = g->out != NULL && !g->staged ? g->out : NULL;

    snd[0] = ids + nch; /* the last send of each chunk of buf[0] */
    snd[1] = ids + 2 * nch;
    for (int k = 0; k < n - 1; k++) {
        int sb = (r - k - 1 + n) % n, rb = (r - k - 2 + 2 * n) % n;

        for (size_t c = 0; c < nch; c++) {
            size_t slen = ring_piece(g, sb, c, ce);
            size_t rlen = ring_piece(g, rb, c, ce), at = c * ce * es;
            int sv = -1, rv, rd = -1;

            if (slen > 0) {
                sv = weft__sched_send(s,
                                      k == 0 ? g->input +
                                                   (g->off[sb] + c * ce) * es
                                             : buf[(k - 1) % 2] + at,
                                      slen * es, right);
                weft__sched_dep(s, sv, red[c]);
                if (k > 0) {
                    snd[(k - 1) % 2][c] = sv;
                }
            }
            if (rlen > 0) {
                char *t = buf[k % 2] + at;

                rv = weft__sched_recv(s, t, rlen * es, left);
                weft__sched_dep(s, rv, snd[k % 2][c]);
                rd = weft__sched_reduce3(
                    s, k == n - 2 && direct != NULL ? direct + at : t, t,
                    g->input + (g->off[rb] + c * ce) * es, rlen);
                weft__sched_dep(s, rd, rv);
            }
            red[c] = rd;
        }
    }
}

void *
weft__rs_ring_build(weft__sched_t *s, const weft__rs_ring_t *g)
{
    weft_comm_t *comm = weft__sched_comm(s);
    int n = comm->size;
    size_t es = g->esize, maxlen = 0, ce, nch;
    char *buf[2];
    int *ids;

    for (int b = 0; b < n; b++) {
        maxlen = g->len[b] > maxlen ? g->len[b] : maxlen;
    }
    if (maxlen == 0) {
        return g->out; /* nothing to reduce; callers skip this case */
    }
    ce = g->chunk / es > 0 ? g->chunk / es : 1;
    ce = ce < maxlen ? ce : maxlen;
    nch = (maxlen + ce - 1) / ce;
    buf[0] = weft__sched_scratch(s, (n > 2 ? 2 : 1) * nch * ce * es);
    ids = weft__sched_scratch(s, 3 * nch * sizeof(int));
    if (buf[0] == NULL || ids == NULL) {
        return NULL;
    }
    buf[1] = n > 2 ? buf[0] + nch * ce * es : buf[0];
    for (size_t i = 0; i < 3 * nch; i++) {
        ids[i] = -1;
    }
    ring_steps(s, g, buf, ce, nch, ids);
    if (g->out != NULL && !g->staged) {
        return g->out;
    }
    if (g->out != NULL) {
        /* every read of the input is done before out is written */
        weft__sched_fence(s);
        weft__sched_copy(s, g->out, buf[n % 2], g->len[comm->rank] * es);
        return g->out;
    }
    return buf[n % 2]; /* buf[(n - 2) % 2] */
}
