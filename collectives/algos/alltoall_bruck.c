/*
 * Alltoall, Bruck: rotate the blocks so that slot i holds the one for rank
 * r + i; in round k (d = 2^k) send every slot with bit k set to r + d and
 * take the same slots from r - d; slot i then holds the block from rank
 * r - i, and a last pass puts it in place. ceil(log2 n) rounds of about
 * n/2 blocks each, packed through scratch: the choice for small blocks.
 */
#include "build_config.h"
#include "collectives/algos/algos.h"
#include "collectives/algos/move_common.h"

typedef struct a2a_bruck {
    weft__sched_t *s;
    int n, r;
    size_t bytes;              /* per block */
    char *tmp, *pack, *unpack; /* n, n/2 and n/2 blocks */
} a2a_bruck_t;

/* Copy the slots with bit d set to or from a packed buffer: they come in
 * runs of d, [d, 2d), [3d, 4d), ... */
static void
a2a_bruck_pack(const a2a_bruck_t *g, int d, char *packed, int out)
{
    size_t at = 0;

    for (int i = d; i < g->n; i += 2 * d) {
        size_t run = (size_t)(i + d < g->n ? d : g->n - i) * g->bytes;
        char *slot = g->tmp + (size_t)i * g->bytes;

        weft__sched_copy(g->s, out ? packed + at : slot,
                         out ? slot : packed + at, run);
        at += run;
    }
}

static void
a2a_bruck_round(const a2a_bruck_t *g, int d)
{
    int nslots = 0;
    const char *src = g->pack;

    for (int i = d; i < g->n; i += 2 * d) {
        nslots += i + d < g->n ? d : g->n - i;
    }
    if (2 * d >= g->n) {
        src = g->tmp + (size_t)d * g->bytes; /* one run: send it as is */
    } else {
        a2a_bruck_pack(g, d, g->pack, 1);
        weft__sched_fence(g->s);
    }
    weft__sched_send(g->s, src, (size_t)nslots * g->bytes, (g->r + d) % g->n);
    weft__sched_recv(g->s, g->unpack, (size_t)nslots * g->bytes,
                     (g->r - d + g->n) % g->n);
    weft__sched_fence(g->s);
    a2a_bruck_pack(g, d, g->unpack, 0);
    weft__sched_fence(g->s);
}

static weft_status_t
a2a_bruck_build(weft__sched_t *s, const weft__coll_args_t *a)
{
    weft_comm_t *comm = weft__sched_comm(s);
    a2a_bruck_t g = {
        .s = s, .n = comm->size, .r = comm->rank, .bytes = a->count * a->esize};
    const char *in = a->inplace ? a->recvbuf : a->sendbuf;
    size_t head = (size_t)(g.n - g.r) * g.bytes, half = (size_t)(g.n / 2);

    if (g.n == 1 || g.bytes == 0) {
        if (!a->inplace && g.bytes > 0) {
            weft__sched_copy(s, a->recvbuf, a->sendbuf, g.bytes);
        }
        return WEFT_OK;
    }
    g.tmp = weft__sched_scratch(s, (size_t)g.n * g.bytes);
    g.pack = weft__sched_scratch(s, 2 * half * g.bytes);
    if (g.tmp == NULL || g.pack == NULL) {
        return WEFT_OK; /* weft__sched_start reports it */
    }
    g.unpack = g.pack + half * g.bytes;
    weft__sched_copy(s, g.tmp, in + (size_t)g.r * g.bytes, head);
    weft__sched_copy(s, g.tmp + head, in, (size_t)g.r * g.bytes);
    weft__sched_fence(s);
    for (int d = 1; d < g.n; d *= 2) {
        a2a_bruck_round(&g, d);
    }
    /* in place, our own block (slot 0) is already where it belongs */
    for (int i = a->inplace ? 1 : 0; i < g.n; i++) {
        weft__sched_copy(
            s, weft__at(a->recvbuf, (size_t)((g.r - i + g.n) % g.n), g.bytes),
            g.tmp + (size_t)i * g.bytes, g.bytes);
    }
    return WEFT_OK;
}

static const char *
a2a_bruck_supported(const weft__coll_args_t *a, const weft_comm_t *comm)
{
    return NULL; /* any rank count, any count */
}

static double
a2a_bruck_cost(const weft__coll_args_t *a, const weft__cost_t *m)
{
    double n = m->size, bytes = (double)(a->count * a->esize);
    double rounds = weft__log2_ceil(m->size);

    /* half the blocks per round, each packed and unpacked, plus the two
     * rotations */
    return weft__move_cost_far(m, rounds, rounds * n / 2 * bytes,
                               (rounds + 2) * n * bytes);
}

const weft__algo_t weft__algo_alltoall_bruck = {
    .name = "bruck",
    .coll = WEFT_COLL_ALLTOALL,
    .supported = a2a_bruck_supported,
    .cost = a2a_bruck_cost,
    .build = a2a_bruck_build,
};
