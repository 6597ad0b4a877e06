/*
 * DDP bucket assignment (weft_ddp_assign_buckets): a pure function, so
 * that every rank computes the same buckets from the same parameters.
 */
#include <weft/ml_ddp.h>

#include "ml/ml_util.h"

#define DDP_NDTYPES 32 /* above every weft_dtype_t */

typedef struct ddp_acc {
    size_t bucket; /* open bucket of this dtype, or SIZE_MAX */
    size_t bytes;  /* in it so far */
    size_t limit;  /* index into limits of its cap */
} ddp_acc_t;

weft_status_t
weft_ddp_assign_buckets(const size_t *bytes, const weft_dtype_t *dtype,
                        size_t n, const size_t *limits, size_t nlimits,
                        size_t *bucket_of_param, size_t *nbuckets_p)
{
    ddp_acc_t acc[DDP_NDTYPES];
    size_t nb = 0;

    WEFT_ML_ARG(nbuckets_p != NULL, "weft_ddp_assign_buckets: nbuckets_p is "
                                    "NULL");
    WEFT_ML_ARG(n == 0 ||
                    (bytes != NULL && dtype != NULL && bucket_of_param != NULL),
                "weft_ddp_assign_buckets: bytes, dtype or bucket_of_param is "
                "NULL with %zu parameters",
                n);
    WEFT_ML_ARG(limits != NULL && nlimits > 0,
                "weft_ddp_assign_buckets: no limits (limits NULL or nlimits "
                "0)");
    for (size_t k = 0; k < nlimits; k++) {
        WEFT_ML_ARG(limits[k] > 0, "weft_ddp_assign_buckets: limits[%zu] is 0",
                    k);
    }
    for (size_t i = 0; i < n; i++) {
        WEFT_ML_ARG((unsigned)dtype[i] < DDP_NDTYPES &&
                        weft_dtype_size(dtype[i]) > 0,
                    "weft_ddp_assign_buckets: dtype[%zu] (%d) is not a "
                    "weft_dtype_t",
                    i, (int)dtype[i]);
    }
    for (int t = 0; t < DDP_NDTYPES; t++) {
        acc[t] = (ddp_acc_t){SIZE_MAX, 0, 0};
    }
    for (size_t i = 0; i < n; i++) {
        ddp_acc_t *a = &acc[dtype[i]];

        if (a->bucket == SIZE_MAX) {
            a->bucket = nb++; /* numbered by first parameter, as walked */
            a->bytes = 0;
        }
        bucket_of_param[i] = a->bucket;
        a->bytes += bytes[i];
        if (a->bytes >= limits[a->limit]) {
            a->bucket = SIZE_MAX; /* closed: the next cap applies */
            if (a->limit + 1 < nlimits) {
                a->limit++;
            }
        }
    }
    *nbuckets_p = nb;
    return WEFT_OK;
}
