/* Pinned staging buffers in power-of-two size classes (64 KiB and up). */
#include "build_config.h"
#include "cuda/staging.h"

#include <cuda_runtime_api.h>
#include <stdlib.h>
#include <weft/log.h>

#include "cuda/driver.h"

#define STAGE_MIN_SHIFT 16 /* 64 KiB: the smallest buffer */

static int
stage_class(size_t bytes)
{
    int cls = 0;

    while (cls < WEFT__CUDA_STAGE_CLASSES - 1 &&
           ((size_t)1 << (cls + STAGE_MIN_SHIFT)) < bytes) {
        cls++;
    }
    return cls;
}

weft_status_t
weft__cuda_pool_get(weft__cuda_pool_t *pool, size_t bytes, const char *fn,
                    weft__cuda_stage_t **stage_p)
{
    int cls = stage_class(bytes);
    weft__cuda_stage_t *s = pool->free[cls];
    cudaError_t err;

    if (s != NULL) {
        pool->free[cls] = s->next;
        pool->in_use += s->size;
        *stage_p = s;
        return WEFT_OK;
    }
    s = calloc(1, sizeof(*s));
    if (s == NULL) {
        return weft_log_error(WEFT_ERR_NO_MEMORY, WEFT_LOG_WARN, WEFT_SUB_COLL,
                              "%s: out of memory", fn);
    }
    s->cls = cls;
    s->size = (size_t)1 << (cls + STAGE_MIN_SHIFT);
    err = cudaHostAlloc(&s->ptr, s->size, cudaHostAllocPortable);
    if (err != cudaSuccess) {
        free(s);
        return weft__cuda_error(fn, "cudaHostAlloc of the staging buffer", err);
    }
    pool->total += s->size;
    pool->in_use += s->size;
    *stage_p = s;
    return WEFT_OK;
}

void
weft__cuda_pool_put(weft__cuda_pool_t *pool, weft__cuda_stage_t *stage)
{
    if (stage == NULL) {
        return;
    }
    pool->in_use -= stage->size;
    stage->next = pool->free[stage->cls];
    pool->free[stage->cls] = stage;
}

void
weft__cuda_pool_fini(weft__cuda_pool_t *pool)
{
    for (int cls = 0; cls < WEFT__CUDA_STAGE_CLASSES; cls++) {
        while (pool->free[cls] != NULL) {
            weft__cuda_stage_t *s = pool->free[cls];

            pool->free[cls] = s->next;
            (void)cudaFreeHost(s->ptr);
            pool->total -= s->size;
            free(s);
        }
    }
}
