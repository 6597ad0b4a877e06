/*
 * Row buffers of the MoE module, kept for the next dispatch: a layer
 * dispatches rows of the same size every step, and a fresh buffer of tens
 * of MiB costs a page fault per page on first touch (measured: 220 ms of
 * a 310 ms dispatch of 4096 x 1024 fp32 rows on 4 ranks) where a reused
 * one costs nothing. Per thread, so no lock: at most MOE_NCACHED buffers
 * are kept, the smallest given back to the system first.
 */
#include <stdlib.h>

#include "ml/moe_handle.h"

#define MOE_NCACHED 4

typedef struct moe_cached {
    void *p;
    size_t bytes;
} moe_cached_t;

static _Thread_local moe_cached_t moe_cache[MOE_NCACHED];

void *
weft__moe_buf_get(size_t bytes, size_t *got_p)
{
    int best = -1;

    for (int i = 0; i < MOE_NCACHED; i++) {
        if (moe_cache[i].p != NULL && moe_cache[i].bytes >= bytes &&
            (best < 0 || moe_cache[i].bytes < moe_cache[best].bytes)) {
            best = i;
        }
    }
    if (best >= 0) {
        void *p = moe_cache[best].p;

        *got_p = moe_cache[best].bytes;
        moe_cache[best].p = NULL;
        return p;
    }
    *got_p = bytes + 1;
    return malloc(bytes + 1);
}

void
weft__moe_buf_put(void *p, size_t bytes)
{
    int slot = 0;

    if (p == NULL) {
        return;
    }
    for (int i = 0; i < MOE_NCACHED; i++) {
        if (moe_cache[i].p == NULL) {
            slot = i;
            break;
        }
        if (moe_cache[i].bytes < moe_cache[slot].bytes) {
            slot = i;
        }
    }
    if (moe_cache[slot].p != NULL) {
        if (moe_cache[slot].bytes >= bytes) {
            free(p); /* every kept buffer is larger: keep those */
            return;
        }
        free(moe_cache[slot].p);
    }
    moe_cache[slot].p = p;
    moe_cache[slot].bytes = bytes;
}
