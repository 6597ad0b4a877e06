/*
 * Node-local calls that may take either of two forms, chosen by
 * measuring them (allreduce past 64 KiB where the node has more ranks
 * than cores: through the shared buffers, or reading the peers' memory).
 * Which one is faster there changes with the machine's state: on the
 * same 2-core VM, 4 ranks, 2 MiB took 1.8 ms through the buffers and
 * 0.7-1.2 ms reading, where an earlier session measured 0.49 against
 * 0.76. So each rank times its calls of each form per size class, and
 * every call takes the form the first member to reach it proposed from
 * its own figures (the faster so far, once each has been tried twice; the
 * other on one call in 32, to notice a change). The proposal travels
 * through a word of member 0's control page per call (collectives/
 * shm_area.h): the first to reach the call sets it, the others read it,
 * so all take the same form whatever each measured.
 */
#ifndef WEFT_SHM_FORM_H
#define WEFT_SHM_FORM_H

#include "collectives/algos/shm_common.h"

/* Calls whose form is agreed at once, one word each: a member reaching
 * call d has every member at d - 1 or later (the turn rule), so the word
 * of d - WEFT_SHM_FORM_SLOTS is read by all. */
#define WEFT_SHM_FORM_SLOTS 4

/* The form, 0 or 1, that call c takes (once its turn has come), the same
 * on every member; bytes: the whole call's, for its size class. Starts the
 * clock weft__shmc_form_done reads. -1 when the call's word holds a later
 * call (members disagree on the calls made; the reason in c->why). */
int weft__shmc_form_pick(weft__shmc_t *c, size_t bytes);
/* The call c began (of `bytes`, as picked) took `form` and is over here:
 * its time per byte since the pick counts for that form. */
void weft__shmc_form_done(weft__shmc_t *c, size_t bytes, int form);
/* n bytes of scratch for the running call (one at a time per comm: the
 * area keeps it), or NULL when out of memory. */
void *weft__shmc_form_scratch(weft__shm_area_t *ar, size_t n);

/* Log what this rank measured (info), as the area goes. */
void weft__shmc_form_report(const weft__shm_area_t *ar, unsigned comm_id);

#endif /* WEFT_SHM_FORM_H */
