/*
 * Scratch memory of schedules, kept between calls: a large buffer freed to
 * the system comes back as fresh pages whose first touch faults, which cost
 * more than a tenth of a 64 MiB allreduce. Lock held for every call.
 */
#ifndef WEFT_SCRATCH_H
#define WEFT_SCRATCH_H

#include <stddef.h>

#define WEFT_SCRATCH_SLOTS                                                     \
    64 /* a partitioned collective keeps one per partition in flight */
#define WEFT_SCRATCH_MIN (64u << 10)     /* smaller ones go back to malloc */
#define WEFT_SCRATCH_KEEP (512ull << 20) /* most bytes kept at once */

typedef struct weft__scratch_cache {
    void *p[WEFT_SCRATCH_SLOTS];
    size_t size[WEFT_SCRATCH_SLOTS];
    size_t total;
} weft__scratch_cache_t;

/* At least bytes (its real size in *size_p), or NULL. */
void *weft__scratch_get(weft__scratch_cache_t *c, size_t bytes,
                        size_t *size_p);
/* Back to the cache (or freed when it does not fit or is small). */
void weft__scratch_put(weft__scratch_cache_t *c, void *p, size_t size);
/* Free everything kept. */
void weft__scratch_fini(weft__scratch_cache_t *c);

#endif /* WEFT_SCRATCH_H */
