/*
 * Node-local calls that may take either of two forms, chosen by measuring
 * them: through the shared buffers (piped, or in pieces), or reading the
 * peers' memory (process_vm_readv). Where the node has more ranks than
 * cores, which one is faster changes with the machine's state: on the
 * same 2-core VM, an allreduce of 2 MiB at 4 ranks took 1.8 ms through
 * the buffers and 0.7-1.2 ms reading, where an earlier session measured
 * 0.49 against 0.76. So each rank times its calls of each form per kind
 * and size class, and every call takes the form the first member to reach
 * it proposed from its own figures (the faster so far, once each has been
 * tried twice; the other on one call in 64 or fewer, to notice a change).
 * The proposal travels through a word of member 0's control page per call
 * (collectives/shm_area.h): the first to reach the call sets it, the
 * others read it, so all take the same form whatever each measured. A
 * nonblocking call's time includes any wait for the caller to drive
 * progress between its pieces.
 */
#ifndef WEFT_SHM_FORM_H
#define WEFT_SHM_FORM_H

#include "collectives/algos/shm_common.h"

/* The two forms. */
#define WEFT_SHM_FORM_BUFFERS 0
#define WEFT_SHM_FORM_READS   1

/* The form call c takes (once its turn has come), the same on every
 * member: a call of `kind` (WEFT_SHM_FORM_*) and `bytes` (its size class)
 * whose first piece is c, numbered with the next pieces-1 calls. Agreed
 * at the first look of its first piece (*first_p = 1; the clock of
 * weft__shmc_form_done starts), kept for every later look of any of its
 * pieces (*first_p = 0). -1 when the call's word holds a later call
 * (members disagree on the calls made; the reason in c->why). */
int weft__shmc_form(weft__shmc_t *c, int kind, size_t bytes, uint64_t pieces,
                    int *first_p);
/* The call whose form weft__shmc_form agreed is over here, having run in
 * `form`: its time per byte counts for that form. */
void weft__shmc_form_done(weft__shmc_t *c, int form);
/* One look of a call (whose turn has come) which `buffers` moves through
 * the shared buffers and `read` by reading the peers' memory: in the form
 * measured faster where `measured` (kind and bytes as for
 * weft__shmc_form), else as c->pipe says. The poll's result
 * (weft__shmc_result). */
int weft__shmc_form_run(weft__shmc_t *c, int measured, int kind, size_t bytes,
                        int (*buffers)(weft__shmc_t *c),
                        int (*read)(weft__shmc_t *c, char *why, size_t why_len),
                        char *why, size_t why_len);
/* n bytes of scratch for the running call (one at a time per comm: the
 * area keeps it), or NULL when out of memory. */
void *weft__shmc_form_scratch(weft__shm_area_t *ar, size_t n);
/* Log what this rank measured (info), as the area goes. */
void weft__shmc_form_report(const weft__shm_area_t *ar, unsigned comm_id);

#endif /* WEFT_SHM_FORM_H */
