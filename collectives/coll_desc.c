/*
 * Collective descriptors (see coll_desc.h).
 */
#include "build_config.h"
#include "collectives/coll_desc.h"

#include <stdio.h>

#include "util.h"

/* Sets of collectives as bits by weft__coll_t: one test per call. */
#define DESC_BIT(_c) (1u << (_c))
#define DESC_REDUCES                                                           \
    (DESC_BIT(WEFT_COLL_ALLREDUCE) | DESC_BIT(WEFT_COLL_REDUCE) |              \
     DESC_BIT(WEFT_COLL_REDUCE_SCATTER) |                                      \
     DESC_BIT(WEFT_COLL_REDUCE_SCATTER_V))
#define DESC_ROOTED                                                            \
    (DESC_BIT(WEFT_COLL_BROADCAST) | DESC_BIT(WEFT_COLL_REDUCE) |              \
     DESC_BIT(WEFT_COLL_GATHER) | DESC_BIT(WEFT_COLL_SCATTER))
#define DESC_VARIES                                                            \
    (DESC_BIT(WEFT_COLL_ALLGATHERV) | DESC_BIT(WEFT_COLL_REDUCE_SCATTER_V) |   \
     DESC_BIT(WEFT_COLL_ALLTOALLV))

static int
desc_reduces(weft__coll_t coll)
{
    return (DESC_REDUCES >> coll) & 1u;
}

static int
desc_rooted(weft__coll_t coll)
{
    return (DESC_ROOTED >> coll) & 1u;
}

static int
desc_varies(weft__coll_t coll)
{
    return (DESC_VARIES >> coll) & 1u;
}

void
weft__coll_desc_make(weft__coll_desc_t *d, const weft__coll_args_t *a,
                     weft_dtype_t dtype, weft_op_t op)
{
    int varies = desc_varies(a->coll);
    int root = desc_rooted(a->coll) ? a->root : -1;

    d->w[0] = varies ? 0 : (uint64_t)a->count;
    d->w[1] = (uint64_t)(a->coll & 0xff) | (uint64_t)(dtype & 0xff) << 8 |
              (uint64_t)(desc_reduces(a->coll) ? op & 0xff : 0) << 16 |
              (uint64_t)(uint32_t)root << 32;
    d->hist = 0;
    d->prev[0] = d->prev[1] = 0;
}

uint64_t
weft__coll_desc_chain(uint64_t hist, const weft__coll_desc_t *d)
{
    /* splitmix64's finalizer over the running digest and the call */
    uint64_t z = hist + 0x9e3779b97f4a7c15ull + d->w[0] +
                 (d->w[1] << 21 | d->w[1] >> 43);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

int
weft__coll_desc_root(const weft__coll_desc_t *d)
{
    return (int)(uint32_t)(d->w[1] >> 32);
}

int
weft__coll_desc_equal(const weft__coll_desc_t *a, const weft__coll_desc_t *b)
{
    return a->w[0] == b->w[0] && a->w[1] == b->w[1];
}

void
weft__coll_desc_text(const weft__coll_desc_t *d, char *buf, size_t len)
{
    weft__coll_t coll = (weft__coll_t)(d->w[1] & 0xff);
    const char *name = weft__coll_name(coll);
    const char *dt = weft_dtype_name((weft_dtype_t)(d->w[1] >> 8 & 0xff));
    const char *op = weft_op_name((weft_op_t)(d->w[1] >> 16 & 0xff));
    int root = (int)(uint32_t)(d->w[1] >> 32);
    char count[32] = "";
    char tail[40] = "";

    if (coll != WEFT_COLL_ALLGATHERV && coll != WEFT_COLL_REDUCE_SCATTER_V &&
        coll != WEFT_COLL_ALLTOALLV) {
        snprintf(count, sizeof(count), " %llu", (unsigned long long)d->w[0]);
    }
    if (desc_reduces(coll) && desc_rooted(coll)) {
        snprintf(tail, sizeof(tail), " (%s) to root %d", op ? op : "?", root);
    } else if (desc_reduces(coll)) {
        snprintf(tail, sizeof(tail), " (%s)", op ? op : "?");
    } else if (desc_rooted(coll)) {
        snprintf(tail, sizeof(tail), " from root %d", root);
    }
    snprintf(buf, len, "%s of%s %s%s", name ? name : "?", count, dt ? dt : "?",
             tail);
}

void
weft__coll_desc_encode(const weft__coll_desc_t *d, uint32_t seq,
                       uint8_t out[WEFT_COLL_DESC_WIRE])
{
    weft__put_le(out, WEFT_COLL_DESC_MAGIC, 4);
    weft__put_le(out + 4, seq, 4);
    weft__put_le(out + 8, d->w[0], 8);
    weft__put_le(out + 16, d->w[1], 8);
    weft__put_le(out + 24, d->hist, 8);
    weft__put_le(out + 32, d->prev[0], 8);
    weft__put_le(out + 40, d->prev[1], 8);
}

int
weft__coll_desc_decode(const uint8_t in[WEFT_COLL_DESC_WIRE],
                       weft__coll_desc_t *d, uint32_t *seq_p)
{
    if (weft__get_le(in, 4) != WEFT_COLL_DESC_MAGIC) {
        return -1;
    }
    *seq_p = (uint32_t)weft__get_le(in + 4, 4);
    d->w[0] = weft__get_le(in + 8, 8);
    d->w[1] = weft__get_le(in + 16, 8);
    d->hist = weft__get_le(in + 24, 8);
    d->prev[0] = weft__get_le(in + 32, 8);
    d->prev[1] = weft__get_le(in + 40, 8);
    return 0;
}
