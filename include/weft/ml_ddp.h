/*
 * Data-parallel gradient synchronisation (DDP): gradient buffers grouped
 * into buckets, each bucket's allreduce launched the moment its last
 * gradient is ready, in the same bucket order on every rank, so that the
 * communication of the gradients produced first overlaps the computation
 * of the rest of the backward pass.
 *
 * Buckets are filled in reverse registration order (the last parameters'
 * gradients come first in a backward pass); the first bucket holds about
 * first_bucket_cap_bytes, the others bucket_cap_bytes; a parameter is
 * never split (a bucket closes once it reaches its cap, so it may pass it).
 */
#ifndef WEFT_ML_DDP_H
#define WEFT_ML_DDP_H

#include <stddef.h>
#include <stdint.h>
#include <weft/comm.h>
#include <weft/request.h>
#include <weft/status.h>
#include <weft/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Bucket assignment, a pure function (the same on every rank given the
 * same input). bytes[i] and dtype[i] describe parameter i, in the order
 * the caller wants them bucketed (DDP passes them in reverse registration
 * order). Parameters are taken in that order, one accumulator per dtype;
 * a parameter joins its dtype's open bucket, which closes once it holds
 * at least the current limit; limits[0] applies to the first bucket of
 * each dtype, limits[1] to the second and so on, the last repeating.
 * Buckets are numbered by their first parameter. bucket_of_param[i] gets
 * parameter i's bucket, *nbuckets_p the count. WEFT_ERR_INVALID_ARG for
 * NULL arrays with n > 0, nlimits == 0 or a zero limit.
 */
WEFT_API weft_status_t weft_ddp_assign_buckets(const size_t *bytes,
                                               const weft_dtype_t *dtype,
                                               size_t n, const size_t *limits,
                                               size_t nlimits,
                                               size_t *bucket_of_param,
                                               size_t *nbuckets_p);

#ifdef __cplusplus
}
#endif

#endif /* WEFT_ML_DDP_H */
