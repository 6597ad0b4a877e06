/* The scratch cache (see scratch.h). */
#include "build_config.h"
#include "collectives/scratch.h"

#include <stdlib.h>

void *
weft__scratch_get(weft__scratch_cache_t *c, size_t bytes, size_t *size_p)
{
    int best = -1;

    if (bytes >= WEFT_SCRATCH_MIN) {
        /* the smallest kept buffer that is large enough */
        for (int i = 0; i < WEFT_SCRATCH_SLOTS; i++) {
            if (c->p[i] != NULL && c->size[i] >= bytes &&
                (best < 0 || c->size[i] < c->size[best])) {
                best = i;
            }
        }
    }
    if (best >= 0) {
        void *p = c->p[best];

        *size_p = c->size[best];
        c->total -= c->size[best];
        c->p[best] = NULL;
        return p;
    }
    *size_p = bytes > 0 ? bytes : 1;
    return malloc(*size_p);
}

static void
scratch_drop(weft__scratch_cache_t *c, int i)
{
    c->total -= c->size[i];
    free(c->p[i]);
    c->p[i] = NULL;
}

void
weft__scratch_put(weft__scratch_cache_t *c, void *p, size_t size)
{
    int slot = -1;

    if (p == NULL) {
        return;
    }
    if (size < WEFT_SCRATCH_MIN || size > WEFT_SCRATCH_KEEP) {
        free(p);
        return;
    }
    /* a free slot, else the smallest kept buffer if this one is larger */
    for (int i = 0; i < WEFT_SCRATCH_SLOTS; i++) {
        if (c->p[i] == NULL) {
            slot = i;
            break;
        }
        if (c->size[i] < size && (slot < 0 || c->size[i] < c->size[slot])) {
            slot = i;
        }
    }
    if (slot < 0) {
        free(p);
        return;
    }
    if (c->p[slot] != NULL) {
        scratch_drop(c, slot);
    }
    while (c->total + size > WEFT_SCRATCH_KEEP) {
        int big = -1; /* over the byte limit: drop the largest kept */

        for (int i = 0; i < WEFT_SCRATCH_SLOTS; i++) {
            if (c->p[i] != NULL && (big < 0 || c->size[i] > c->size[big])) {
                big = i;
            }
        }
        scratch_drop(c, big); /* total > 0, so there is one */
    }
    c->p[slot] = p;
    c->size[slot] = size;
    c->total += size;
}

void
weft__scratch_fini(weft__scratch_cache_t *c)
{
    for (int i = 0; i < WEFT_SCRATCH_SLOTS; i++) {
        free(c->p[i]);
        c->p[i] = NULL;
    }
    c->total = 0;
}
