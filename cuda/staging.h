/*
 * Pinned host staging buffers, pooled: cudaHostAlloc costs milliseconds,
 * so buffers are kept in power-of-two size classes and reused until the
 * comm's CUDA state is finalized.
 */
#ifndef WEFT_CUDA_STAGING_H
#define WEFT_CUDA_STAGING_H

#include <stddef.h>
#include <weft/status.h>

#define WEFT__CUDA_STAGE_CLASSES 48

typedef struct weft__cuda_stage {
    struct weft__cuda_stage *next; /* in its free list */
    void *ptr;                     /* pinned, cudaHostAlloc */
    size_t size;
    int cls;
} weft__cuda_stage_t;

typedef struct weft__cuda_pool {
    weft__cuda_stage_t *free[WEFT__CUDA_STAGE_CLASSES];
    size_t total; /* bytes allocated, in use or free */
    size_t in_use;
} weft__cuda_pool_t;

/* A buffer of at least `bytes` (bytes > 0). */
weft_status_t weft__cuda_pool_get(weft__cuda_pool_t *pool, size_t bytes,
                                  const char *fn, weft__cuda_stage_t **stage_p);
/* Back to the pool (NULL is fine). */
void weft__cuda_pool_put(weft__cuda_pool_t *pool, weft__cuda_stage_t *stage);
/* Free every buffer; all must be back. */
void weft__cuda_pool_fini(weft__cuda_pool_t *pool);

#endif /* WEFT_CUDA_STAGING_H */
