/*
 * DDP buckets reduced partition by partition (no comm hook): each bucket
 * is a persistent partitioned allreduce (weft/partitioned.h), made with
 * the layout. A partition is marked ready once every gradient that
 * overlaps it is in, so a bucket's reduction starts with its first
 * gradients instead of its last, and the last bucket, which fills only at
 * the end of the backward, leaves just its last partitions exposed.
 *
 * Order: every rank starts the buckets in bucket order (a bucket starts
 * when the first of its partitions is ready, after every bucket before
 * it), so the collectives match whatever order the gradients come in.
 * The allreduce averages (WEFT_AVG: the node-local algorithms divide
 * each piece as they reduce it).
 */
#include <stdlib.h>
#include <string.h>

#include "ml/ddp_int.h"
#include "ml/ml_util.h"

/* About this many bytes per partition: small enough that little waits
 * behind the last gradient, large enough that a partition's fixed cost
 * (where each is its own collective: a schedule, two hand-offs between
 * the ranks) stays small next to its data. Measured (2 ranks, 16 MiB in
 * 5 buckets, every gradient ready at once) when each partition was its
 * own collective: 256 KiB partitions cost 20-50% more than one plain
 * allreduce per bucket, 1 MiB partitions about nothing more. Two ranks on
 * one node now run a bucket as one call, where 256 KiB, 512 KiB and 1 MiB
 * measured the same. */
#define DDP_PART_BYTES ((size_t)1024 * 1024)

/* The partition holding element e of a range of `count` split in P. */
static size_t
ddp_part_of(size_t count, size_t parts, size_t e)
{
    size_t n = count / parts, rem = count % parts;

    return e < rem * (n + 1) ? e / (n + 1) : rem + (e - rem * (n + 1)) / n;
}

void
weft__ddp_part_free(ddp_bucket_t *k)
{
    if (k->preq != NULL) {
        weft_request_free(k->preq);
        k->preq = NULL;
    }
    free(k->part_need);
    free(k->part_left);
    k->part_need = k->part_left = NULL;
    k->nparts = 0;
}

weft_status_t
weft__ddp_part_init(weft_ddp_t *ddp, ddp_bucket_t *k)
{
    size_t es = weft_dtype_size(k->pub.dtype), parts;

    if (k->pub.count == 0) {
        return WEFT_OK; /* nothing to reduce: no request */
    }
    parts = k->pub.count * es / DDP_PART_BYTES;
    parts = parts < 1 ? 1 : parts > k->pub.count ? k->pub.count : parts;
    k->part_need = calloc(parts, sizeof(size_t));
    k->part_left = calloc(parts, sizeof(size_t));
    if (k->part_need == NULL || k->part_left == NULL) {
        weft__ddp_part_free(k);
        return weft_log_error(WEFT_ERR_NO_MEMORY, WEFT_LOG_WARN, WEFT_SUB_ML,
                              "weft_ddp: out of memory for the partitions "
                              "of bucket %zu",
                              k->pub.index);
    }
    k->nparts = parts;
    for (size_t j = 0; j < k->pub.nparams; j++) {
        size_t n = ddp->params[k->params[j]].count;

        if (n == 0) {
            continue;
        }
        for (size_t p = ddp_part_of(k->pub.count, parts, k->offsets[j]);
             p <= ddp_part_of(k->pub.count, parts, k->offsets[j] + n - 1);
             p++) {
            k->part_need[p]++;
        }
    }
    return weft_allreduce_init(
        k->pub.buffer, k->out != NULL ? k->out : k->pub.buffer, k->pub.count,
        k->pub.dtype, WEFT_AVG, parts, ddp->comm, &k->preq);
}

void
weft__ddp_part_begin(ddp_bucket_t *k)
{
    if (k->nparts > 0) {
        memcpy(k->part_left, k->part_need, k->nparts * sizeof(size_t));
    }
    k->parts_marked = 0;
}

/* Start every bucket up to b that has not started, in order. */
static weft_status_t
ddp_part_start_upto(weft_ddp_t *ddp, size_t b)
{
    for (; ddp->next_launch <= b; ddp->next_launch++) {
        ddp_bucket_t *k = &ddp->buckets[ddp->next_launch];

        if (k->preq == NULL) {
            continue;
        }
        if (ddp->first_launch_s == 0) {
            ddp->first_launch_s = weft__ddp_now();
        }
        WEFT_ML_CHECK(weft__ddp_start(ddp, k));
    }
    return WEFT_OK;
}

weft_status_t
weft__ddp_part_arrive(weft_ddp_t *ddp, ddp_bucket_t *k, size_t j)
{
    size_t n = ddp->params[k->params[j]].count, lo, hi;

    if (n == 0 || k->preq == NULL) {
        return WEFT_OK;
    }
    lo = ddp_part_of(k->pub.count, k->nparts, k->offsets[j]);
    hi = ddp_part_of(k->pub.count, k->nparts, k->offsets[j] + n - 1);
    for (size_t p = lo; p <= hi; p++) {
        if (--k->part_left[p] > 0) {
            continue;
        }
        WEFT_ML_CHECK(ddp_part_start_upto(ddp, k->pub.index));
        WEFT_ML_CHECK(weft_pready(k->preq, p));
        k->parts_marked++;
    }
    return WEFT_OK;
}
